"""Where the shipped files live: sample photos, trained weights and lessons.

In an installed wheel the top-level ``assets/`` folder sits inside the package as
``convdemo/assets`` (hatchling ``force-include``). In a checkout or an editable install it
is the ``assets/`` folder beside the package. Both are found here, and only here.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_SAMPLE = "chelsea.png"


def assets_dir() -> Path:
    """Return the folder holding ``samples/``, ``models/`` and ``lessons/``."""
    packaged = Path(str(resources.files("convdemo") / "assets"))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "assets"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"convdemo's assets folder is missing (looked in {packaged} and {checkout}); "
        "reinstall convdemo"
    )


def sample_paths() -> list[Path]:
    """All sample photos, the default one first."""
    folder = assets_dir() / "samples"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES)
    paths.sort(key=lambda p: p.name != DEFAULT_SAMPLE)
    return paths


def default_sample() -> Path:
    """The photo shown at first launch."""
    return assets_dir() / "samples" / DEFAULT_SAMPLE


def model_path(name: str) -> Path:
    """Path of a shipped model's ``.npz`` (it may not exist)."""
    return assets_dir() / "models" / f"{name}.npz"


#: the ending of a lesson file
LESSON_SUFFIX = ".json"


def lesson_names() -> list[str]:
    """The shipped lessons' names (``lecture``, ...), sorted."""
    folder = assets_dir() / "lessons"
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.iterdir() if p.suffix == LESSON_SUFFIX)


def lesson_path(name_or_path) -> Path:
    """A lesson file: a shipped lesson by name (``"lecture"``), or the path of a file.

    Raises
    ------
    FileNotFoundError
        Neither a shipped lesson nor a file; the message names the shipped ones.
    """
    text = str(name_or_path)
    shipped = lesson_names()
    if text in shipped:
        return assets_dir() / "lessons" / f"{text}{LESSON_SUFFIX}"
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():
        raise FileNotFoundError(f"cannot open {path}: it is a folder; give a lesson file")
    names = ", ".join(shipped) or "none"
    raise FileNotFoundError(f"no lesson {text!r}: give the path of a lesson file, or the name "
                            f"of a shipped one ({names})")

