"""The ``convdemo`` command: the app by default, subcommands for headless work.

``convdemo [IMAGE] [--preset NAME] [--model NAME] [--screenshot PNG]`` opens the window.
``convdemo apply|presets|summary|train|evaluate|predict|scan ...`` work without a display.

Subcommands live in small modules (``cli_ops``, ``cli_model``, ``cli_scan``) that each expose
``register(subparsers)``; this module owns the front door and the error policy:

* exit 0 on success, 1 on failure, 2 on a usage error (argparse's own convention);
* an error is one sentence on stderr, ``convdemo: error: ...``, never a traceback;
* ``--debug`` anywhere on the line shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from convdemo import __version__

PROG = "convdemo"

#: subcommand name -> module that registers it (imported only when needed)
SUBCOMMAND_MODULES = {
    "apply": "convdemo.cli_ops",
    "presets": "convdemo.cli_ops",
    "summary": "convdemo.cli_model",
    "train": "convdemo.cli_model",
    "evaluate": "convdemo.cli_model",
    "predict": "convdemo.cli_model",
    "scan": "convdemo.cli_scan",
}


class CLIError(Exception):
    """A failure to report as one sentence, exit code 1."""


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Open the convdemo window: edit a convolution kernel and watch it work on a "
        "photo, beside a small trained CNN.",
        epilog="subcommands (each has --help):\n"
        "  apply     convolve an image file headlessly and save the result\n"
        "  presets   list the kernel presets\n"
        "  summary   print the CNN's Keras-style summary table\n"
        "  train     train the CNN on MNIST or Fashion-MNIST\n"
        "  evaluate  test accuracy of a trained model\n"
        "  predict   classify an image with a trained model\n"
        "  scan      write scan mode's animation of a convolution as a GIF\n"
        "\nAdd --debug to any command to see a traceback instead of a one-line error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("image", nargs="?", help="photo to open (default: a sample photo)")
    parser.add_argument("--preset", metavar="NAME", help="kernel preset to start with")
    parser.add_argument(
        "--model", metavar="NAME", help="CNN for the side panel: digits, digits-deep, fashion, "
        "fashion-deep, or a path to an .npz"
    )
    parser.add_argument(
        "--screenshot", metavar="PNG", help="render the window at 1280x800 once the first "
        "results are shown, save it to PNG and exit (works headless)"
    )
    parser.add_argument(
        "--state", metavar="FILE", help="open a lab saved with File ▸ Save lab (.convdemo)"
    )
    parser.add_argument(
        "--lesson", metavar="NAME|PATH", help="step through a lesson: `lecture` (shipped) or "
        "a lesson file (PageDown/PageUp move on)"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="start from the defaults this time, ignoring the "
        "remembered kernel, settings and model (they are kept for the next start)"
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _subcommand_parser(name: str) -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog=PROG)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    importlib.import_module(SUBCOMMAND_MODULES[name]).register(subparsers)
    return parser


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _run_gui(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.image is not None and not Path(args.image).is_file():
        raise CLIError(f"cannot open {args.image}: no such file")
    if args.state is not None:
        from convdemo import statefile

        statefile.read_json(args.state)  # a missing or broken file: one sentence, before Qt
    if args.lesson is not None:
        from convdemo import lesson

        lesson.load(args.lesson)  # a missing or broken lesson: one sentence, before Qt
    if args.preset is not None:
        from convdemo.kernels import PRESETS

        if args.preset not in PRESETS:
            raise CLIError(
                f"unknown preset {args.preset!r}; choose one of: {', '.join(PRESETS)} "
                "(see `convdemo presets`)"
            )
    if args.model is not None:
        from convdemo.model import SHIPPED

        if args.model not in SHIPPED and not Path(args.model).is_file():
            raise CLIError(
                f"unknown model {args.model!r}: choose one of {', '.join(SHIPPED)}, "
                "or give the path of an .npz saved by `convdemo train`"
            )
    if not _has_display():
        if args.screenshot:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        else:
            raise CLIError(
                "no display found (DISPLAY and WAYLAND_DISPLAY are unset): run convdemo from a "
                "desktop session, or use --screenshot PNG to render the window headless"
            )
    from convdemo.gui.app import run_app

    return run_app(
        image=args.image, preset=args.preset, model=args.model, screenshot=args.screenshot,
        fresh=args.fresh, state=args.state, lesson=args.lesson,
    )


def _dispatch(argv: list[str]) -> int:
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in SUBCOMMAND_MODULES:
        args = _subcommand_parser(first).parse_args(argv)
        return int(args.func(args) or 0)
    return _run_gui(_gui_parser().parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    try:
        return _dispatch(argv)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for usage errors
        return exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:  # `convdemo ... | head`: the reader left; nothing to report
        _silence_stdout()
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError) as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_sentence(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, but say how to see more
        if debug:
            traceback.print_exc()
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} "
            "(run again with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


def _silence_stdout() -> None:
    """Point stdout at devnull so Python's exit-time flush of a closed pipe stays quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"cannot open {exc.filename}: {exc.strerror.lower()}"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
