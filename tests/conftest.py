"""Shared test fixtures and the "skip here, fail in CI" rule.

A test that needs something a user's machine may lack (MNIST, Fashion-MNIST, Xvfb) calls
:func:`require`. On a user's machine it skips with a reason naming what is missing; with
``CONVDEMO_REQUIRE_ALL=1`` (set by ``.ci/run``) the same absence is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: the MNIST IDX files, beside the checkout (../shared/data/mnist), or $CONVDEMO_MNIST
MNIST_DIR = Path(os.environ.get("CONVDEMO_MNIST", REPO.parent / "shared" / "data" / "mnist"))
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# GUI tests run offscreen unless a test asks for a real X server itself.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def require(condition: bool, what: str) -> None:
    """Skip (or, in CI, fail) unless ``condition``; ``what`` names the missing thing."""
    if condition:
        return
    if os.environ.get("CONVDEMO_REQUIRE_ALL") == "1":
        pytest.fail(f"{what} is missing, and CONVDEMO_REQUIRE_ALL=1 says nothing may be")
    pytest.skip(f"{what} is missing")


@pytest.fixture
def mnist_dir() -> Path:
    require((MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), f"MNIST in {MNIST_DIR}")
    return MNIST_DIR


@pytest.fixture
def fashion_dir() -> Path:
    require(
        (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
        f"Fashion-MNIST in {FASHION_DIR} (apt-get install dataset-fashion-mnist)",
    )
    return FASHION_DIR


@pytest.fixture
def blank_window(qtbot, tmp_path):
    """A MainWindow at 1280x800, shown, with its own QSettings file under ``tmp_path`` (no
    user state read or written). Its worker is shut down afterwards."""
    from PyQt6.QtCore import QSettings

    from convdemo.gui import MainWindow
    from convdemo.gui.app import configure_pyqtgraph

    configure_pyqtgraph()
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    yield window
    window.worker.shutdown(10)
