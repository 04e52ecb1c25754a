"""``convdemo scan``: scan mode as an animated GIF, with the same options as ``apply``.

The GIF is :func:`convdemo.scan_export.write_gif`: the window's scan mode (the same layout,
drawn with Pillow) on the image's pixelated copy, with the user's kernel, stride, padding,
bias, ReLU and pooling, as the conv_arithmetic animations show convolution. Errors are
raised as ``ValueError`` with one sentence; the front door prints it and exits 1.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from convdemo import fileio, imaging, pipeline, scan_export
from convdemo.cli_ops import _note, _positive_int, add_settings_options, settings_from_args
from convdemo.readout import readout, too_small_message
from convdemo.scan import scan_copy


def register(subparsers) -> None:
    """Add the ``scan`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "scan",
        help="write scan mode's animation of a convolution as a GIF",
        description="Write scan mode as an animated GIF: the kernel's window moving over a "
        "pixelated copy of the image (at most 32 cells a side, 24 in colour), each output "
        "cell's multiply-and-sum, the output map filling in, then the pooling (with "
        "--pool). The options are apply's. Long scans show every k-th step (the frames say "
        "so).",
        epilog="examples:\n"
        "  convdemo scan digit.png scan.gif\n"
        "  convdemo scan digit.png pool.gif --kernel sobel-x --relu --pool max\n"
        "  convdemo scan cat.jpg rgb.gif --channels sum --padding same --size 1920x1080\n"
        "\nsee `convdemo presets` for the kernel names",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IMAGE", help="image file (any format Pillow reads)")
    p.add_argument("output", metavar="OUT.gif", help="the animation to write")
    add_settings_options(p)
    p.add_argument(
        "--size",
        type=_size,
        default=(1280, 720),
        metavar="WxH",
        help=f"frame size in pixels, each side 160 to {scan_export.MAX_GIF_SIDE} "
        "(default: 1280x720)",
    )
    p.add_argument(
        "--frames",
        type=_positive_int,
        default=scan_export.MAX_FRAMES,
        metavar="N",
        help="at most N frames (at least 2); a longer scan shows every k-th step "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--frame-ms",
        type=_positive_int,
        default=200,
        metavar="MS",
        help="how long each frame shows, 20 to 60000 (default: %(default)s; the first, "
        "the stage change and the last frame stay 3 s)",
    )
    p.set_defaults(func=run_scan, state=None)  # settings_from_args: no lab file here


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 1280x720, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def run_scan(args: argparse.Namespace) -> int:
    """Handler of ``convdemo scan``; returns the exit code (errors are raised)."""
    settings = settings_from_args(args)
    out = Path(args.output)
    if out.suffix.lower() != ".gif":
        raise ValueError(f"cannot write {out}: scan writes a GIF; give a name ending in .gif")
    if out.parent != Path("") and not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise ValueError(f"cannot write {out}: it is a folder; give a file name ending in .gif")
    if out.exists() and fileio.same_file(args.input, out):
        raise ValueError(f"cannot write {out}: it is the input image; give another name")
    scan_export.check_gif_options(args.size, args.frames, args.frame_ms)
    loaded = imaging.load_image(args.input)
    for note in loaded.notes:
        _note(args.input, note)
    copy = scan_copy(loaded.array, settings)
    if copy.shape[:2] != loaded.array.shape[:2]:
        h, w = copy.shape[:2]
        _note(args.input, f"scanned on a {w}x{h} pixelated copy (scan mode's size)")
    conv, pooled = pipeline.output_shapes(copy.shape, settings)
    if 0 in conv[:2] or (pooled is not None and 0 in pooled[:2]):
        raise ValueError(too_small_message(copy.shape, settings).replace(
            "Nothing left: ", "nothing to scan: "))
    info = scan_export.write_gif(loaded.array, settings, out, size=args.size,
                                 max_frames=args.frames, frame_ms=args.frame_ms)
    print(readout(copy.shape, settings))
    shown = "every step" if info.every == 1 else f"every {info.every} steps"
    print(f"wrote {out}: {info.frames} frames ({shown} of {info.steps}), "
          f"{info.width}x{info.height}, {info.bytes / 1e6:.2f} MB")
    return 0
