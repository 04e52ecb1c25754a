"""Where the shipped files live: sample photos and trained weights.

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
    """Return the folder holding ``samples/`` and ``models/``."""
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
