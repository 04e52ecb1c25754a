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
def settings_file(tmp_path) -> Path:
    """An isolated QSettings file (and Qt's default locations moved under ``tmp_path`` too,
    so no test sees another's, or the user's, state)."""
    from PyQt6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    return tmp_path / "settings.ini"


@pytest.fixture
def make_window(qtbot, settings_file):
    """``make_window(**kwargs)``: a MainWindow at 1280x800, shown, on the isolated QSettings
    file (kwargs go to MainWindow: ``restore``, ``fresh``). Every window made is closed after
    the test, and the interface scale (the application's) is put back to 100%."""
    from PyQt6.QtCore import QSettings

    from convdemo.gui import MainWindow, fonts
    from convdemo.gui.app import configure_pyqtgraph

    configure_pyqtgraph()
    made = []

    def make(**kwargs):
        window = MainWindow(QSettings(str(settings_file), QSettings.Format.IniFormat), **kwargs)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()
    fonts.set_interface_scale(1.0)


@pytest.fixture
def blank_window(make_window):
    """A MainWindow that neither reads nor writes remembered state, with no image yet."""
    return make_window(restore=False)


def wait_for(predicate, timeout_ms: int = 10000, what: str = "the condition") -> None:
    """Run the Qt event loop until ``predicate()`` is true; a time-out fails the test."""
    import time

    from PyQt6.QtTest import QTest

    deadline = time.monotonic() + timeout_ms / 1000
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_ms} ms waiting for {what}")
        QTest.qWait(2)


def wait_until_idle(widget, timeout_ms: int = 10000) -> bool:
    """Let the event loop run until ``widget`` (the window or the CNN panel) has shown every
    pending result. A time-out fails the test; otherwise True (so ``assert`` reads well)."""
    wait_for(widget.is_idle, timeout_ms, f"{type(widget).__name__} to be idle")
    return True


def open_wait(window, path, timeout_ms: int = 20000, **kwargs) -> bool:
    """Open ``path`` in ``window``: True once it is in the lab and shown, False if refused."""
    outcome = {}
    loaded = lambda name: outcome.setdefault("ok", True)  # noqa: E731
    failed = lambda message: outcome.setdefault("ok", False)  # noqa: E731
    window.imageLoaded.connect(loaded)
    window.loadFailed.connect(failed)
    try:
        window.open_image(path, **kwargs)
        wait_for(lambda: "ok" in outcome, timeout_ms, f"{path} to open")
    finally:
        window.imageLoaded.disconnect(loaded)
        window.loadFailed.disconnect(failed)
    wait_until_idle(window, timeout_ms)
    return outcome["ok"]


def image_wait(window, array, name: str = "test image", timeout_ms: int = 20000) -> None:
    """Put ``array`` into ``window`` (prepared off the GUI thread) and wait until shown."""
    before = window.lab.image
    window.set_image(array, name)
    wait_for(lambda: window.lab.image is not before, timeout_ms, f"{name} to be shown")
    wait_until_idle(window, timeout_ms)


def set_fields(window, fields: dict) -> None:
    """Change settings as the controls would (one lab change)."""
    window.lab.set_settings("test", **fields)
