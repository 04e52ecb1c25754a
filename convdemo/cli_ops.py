"""``convdemo apply`` and ``convdemo presets``: the engine from the command line.

``apply`` goes through :func:`convdemo.pipeline.run`, exactly as the window does, so the
two can never compute different things. Errors are raised as ``ValueError`` with one
sentence; the front door (:mod:`convdemo.cli`) prints it and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from convdemo import imaging, kernels, limits, ops, pipeline
from convdemo.cli import PROG
from convdemo.readout import readout

_DEFAULTS = pipeline.Settings()


def register(subparsers) -> None:
    """Add the ``apply`` and ``presets`` subcommands to an argparse subparsers object."""
    p = subparsers.add_parser(
        "apply",
        help="convolve an image file headlessly and save the result",
        description="Convolve an image with a kernel (as the window does) and save the "
        "result: a PNG of the displayed picture, or the raw float32 numbers when OUT ends "
        "in .npy. Order: grey conversion (--channels gray), convolution + bias, ReLU, "
        "pooling, display mapping.",
        epilog="examples:\n"
        "  convdemo apply cat.jpg edges.png --kernel edge --display diverging\n"
        '  convdemo apply cat.jpg blur.png --kernel "1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9"'
        " --channels separate\n"
        "  convdemo apply digit.png fmap.npy --kernel sobel-x --relu --pool max\n"
        "  convdemo apply cat.jpg atrous.png --kernel blur --dilation 3 --padding same\n"
        "\nsee `convdemo presets` for the kernel names",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="convdemo apply [options] [IN] OUT",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="the image file (any format Pillow reads; optional with --state, which "
                   "has its own image) and the result: .png (or another image type) or .npy")
    p.add_argument(
        "--state",
        metavar="FILE",
        help="a lab saved by the window (.convdemo): its image and settings; the options "
        "given here change them",
    )
    add_settings_options(p)
    p.set_defaults(func=run_apply)

    q = subparsers.add_parser(
        "presets",
        help="list the kernel presets",
        description="List every kernel preset: its name (for --kernel), its values (in the "
        "syntax --kernel accepts) and what it does.",
    )
    q.set_defaults(func=run_presets)


def add_settings_options(p: argparse.ArgumentParser) -> None:
    """The options that set :class:`pipeline.Settings` fields (``--kernel``, ``--stride``,
    ..., ``--display``; each None unless given): one definition for ``apply``, ``scan`` and
    any other subcommand that runs the engine; :func:`settings_from_args` reads them back."""
    p.add_argument(
        "--kernel",
        default=None,
        metavar="K",
        help='a preset name, or rows of numbers like "0 -1 0; -1 5 -1; 0 -1 0" (rows split by '
        f"';', fractions like 1/9 allowed; 1 to {limits.MAX_KERNEL_SIDE} cells a side) "
        "(default: identity)",
    )
    p.add_argument(
        "--stride",
        type=_positive_int,
        default=None,
        metavar="N",
        help="step between kernel positions (default: %(d)s)",
    )
    p.add_argument(
        "--dilation",
        type=_dilation,
        default=None,
        metavar="D",
        help=f"spacing between the kernel's taps, 1 (an ordinary convolution) to {MAX_DILATION}: "
        "a 3x3 kernel with dilation 2 reads 3x3 cells spread over 5x5; padding rules use that "
        "span (default: %(d)s)",
    )
    p.add_argument(
        "--padding",
        type=_padding,
        default=None,
        metavar="P",
        help="valid (none), same (TensorFlow's rule: output = ceil(input / stride)), full "
        "(k - 1 a side) or a number of cells on every side (default: %(d)s)",
    )
    p.add_argument(
        "--border",
        choices=ops.BORDERS,
        default=None,
        help="what padded cells hold (default: %(d)s)",
    )
    p.add_argument(
        "--channels",
        choices=pipeline.CHANNEL_MODES,
        default=None,
        help="separate: each channel filtered on its own, like a photo filter; sum: one CNN "
        "neuron, the colour channels' results added into one map; gray: convert to grey "
        "first (default: %(d)s, so --kernel identity gives back the photo)",
    )
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="true convolution (kernel rotated 180 degrees) instead of the "
        "cross-correlation CNNs use",
    )
    p.add_argument(
        "--bias",
        type=float,
        default=None,
        metavar="X",
        help="added to every output value (default: %(d)s)",
    )
    p.add_argument("--relu", action=argparse.BooleanOptionalAction, default=None,
                   help="apply ReLU: negative values become 0")
    p.add_argument(
        "--pool",
        choices=pipeline.POOL_MODES,
        default=None,
        help="pooling after the convolution (default: %(d)s)",
    )
    p.add_argument(
        "--pool-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="pooling window and stride (default: %(d)s)",
    )
    p.add_argument(
        "--display",
        choices=imaging.DISPLAY_MODES,
        default=None,
        help="how signed results become a picture: clip to 0..1, normalize min..max, abs, "
        "or diverging blue-white-red around 0 (default: %(d)s; ignored for .npy)",
    )
    for action in p._actions:  # the defaults are the lab's, shown where the help says "%(d)s"
        if action.help and "%(d)s" in action.help:
            action.help = action.help.replace("%(d)s", str(getattr(_DEFAULTS, action.dest)))


# --------------------------------------------------------------------------- argument types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}")
    return value


#: the largest --dilation: a 15-cell kernel then spans 113 cells, far beyond any lesson
MAX_DILATION = 8


def _dilation(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_DILATION:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_DILATION}, not {text!r}"
        )
    return value


def _padding(text: str) -> str | int:
    if text in ops.PADDINGS:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected valid, same, full or a number of cells >= 0, not {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of cells >= 0, not {text!r}")
    return value


# --------------------------------------------------------------------------- apply


def _note(source: str, text: str) -> None:
    print(f"{PROG}: note: {source}: {text}", file=sys.stderr)


#: the options of ``apply`` that set a Settings field of the same name
SETTING_OPTIONS = ("stride", "dilation", "padding", "border", "channels", "flip", "bias", "relu",
                   "pool", "pool_size", "display")


def settings_from_args(args: argparse.Namespace, base: pipeline.Settings | None = None) \
        -> pipeline.Settings:
    """The Settings the options ask for: ``base`` (default ``Settings()``) with every option
    that was given put in."""
    base = pipeline.Settings() if base is None else base
    given = {name: getattr(args, name) for name in SETTING_OPTIONS
             if getattr(args, name, None) is not None}
    if args.kernel is not None:
        given["kernel"] = kernels.parse_kernel(args.kernel)
    elif args.state is None:
        given["kernel"] = kernels.parse_kernel("identity")
    return base.replace(**given)


def run_apply(args: argparse.Namespace) -> int:
    """Handler of ``convdemo apply``; returns the exit code (errors are raised)."""
    if len(args.paths) > 2:
        raise ValueError("apply takes an image and an output file, not "
                         f"{len(args.paths)} paths")
    state = None
    if args.state is not None:
        from convdemo import statefile

        state, notes = statefile.load(args.state)
        for note in notes:
            _note(args.state, note)
    if len(args.paths) == 1 and (state is None or state.image is None):
        raise ValueError("give the image and the output file (or --state with a lab that "
                         "has an image)")
    out = Path(args.paths[-1])
    if out.parent != Path("") and not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise ValueError(f"cannot write {out}: it is a folder; give a file name ending in .png")
    settings = settings_from_args(args, state.settings if state is not None else None)
    if len(args.paths) == 1:
        loaded = imaging.LoadedImage(state.image)
        args.input = args.state
    else:
        args.input = args.paths[0]
        loaded = imaging.load_image(args.input)
    for note in loaded.notes:
        _note(args.input, note)
    result = pipeline.run(loaded.array, settings)
    is_npy = out.suffix.lower() == ".npy"
    if result.empty and not is_npy:
        conv_shape, _ = pipeline.output_shapes(loaded.array.shape, settings)
        if 0 in conv_shape:
            why = "the kernel does not fit in the image; use --padding same or full, or a "
            why += "smaller kernel, dilation or stride"
        else:
            why = "the pooling window does not fit in the convolution's result; use a "
            why += "smaller --pool-size or --pool none"
        raise ValueError(f"the result is empty ({readout(loaded.array.shape, settings)}): {why}")
    imaging.save_output(out, result.raw, settings.display)
    print(readout(loaded.array.shape, settings))
    if is_npy:
        detail = f"float32 array of shape {result.raw.shape}"
        if result.raw.size:
            detail += f", values {result.raw.min():.4g} .. {result.raw.max():.4g}"
    else:
        d = result.display
        detail = f"{d.rgb.shape[1]}x{d.rgb.shape[0]} picture, display {d.mode}"
        if d.mode in ("normalize", "diverging"):
            detail += f" (scale {d.vmin:.4g} .. {d.vmax:.4g})"
        elif d.signed:
            detail += " (negative values clipped; try --display diverging)"
    print(f"wrote {out}: {detail}")
    return 0


# --------------------------------------------------------------------------- presets


def format_value(value: float) -> str:
    """A weight as ``--kernel`` accepts it: ``2``, ``-0.1``, ``0.5``, or a fraction like
    ``1/9`` or ``1/16`` when the value is one exactly (and tenths or halves are not)."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    frac = Fraction(value).limit_denominator(1024)
    if float(frac) == value and frac.denominator not in (2, 5, 10):
        return f"{frac.numerator}/{frac.denominator}"
    return f"{value:g}" if float(f"{value:g}") == value else repr(value)


def format_kernel(values) -> str:
    """Rows of a kernel in the ``"a b c; d e f"`` syntax of ``--kernel``."""
    return "; ".join(" ".join(format_value(v) for v in row) for row in np.asarray(values).tolist())


def run_presets(args: argparse.Namespace) -> int:
    """Handler of ``convdemo presets``."""
    width = max(len(name) for name in kernels.PRESETS)
    for name, preset in kernels.PRESETS.items():
        kh, kw = preset.shape
        lecture = " (lecture)" if name in kernels.LECTURE_PRESETS else ""
        print(f"{name:<{width}}  {kw}x{kh}{lecture}  {preset.description}")
        print(f'{"":<{width}}  "{format_kernel(preset.values)}"')
    return 0
