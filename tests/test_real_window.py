"""The real ``convdemo`` process, in a real X11 window under Xvfb (xcb platform).

These start separate processes: the app exactly as a user starts it, and an X server.
On a user's machine without Xvfb they skip naming what is missing; in CI
(``CONVDEMO_REQUIRE_ALL=1``) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import require

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]

GRAB_SCRIPT = """
import sys
from PyQt6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv)
QGuiApplication.primaryScreen().grabWindow(0).save(sys.argv[1], "PNG")
"""


def _convdemo_cmd() -> list[str]:
    """The `convdemo` script installed beside this Python (the checkout under test), never
    an older one found elsewhere on PATH."""
    script = Path(sys.executable).with_name("convdemo")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "convdemo"]


@pytest.fixture
def xvfb(tmp_path):
    """A fresh Xvfb server; yields the environment to run X clients against it."""
    require(shutil.which("Xvfb") is not None, "Xvfb (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = pipe.readline().strip()
    assert display, "Xvfb did not report a display number"
    env = dict(os.environ)
    env.update(
        DISPLAY=f":{display}",
        QT_QPA_PLATFORM="xcb",
        XDG_CONFIG_HOME=str(tmp_path / "config"),  # fresh QSettings, as on a first launch
        HOME=str(tmp_path),
    )
    try:
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


def _content_box(path: Path) -> tuple[int, int, np.ndarray]:
    """Width and height of the non-black area of a screen grab (Xvfb's root is black)."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    lit = pixels.max(axis=2) > 0
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    if rows.size == 0:
        return 0, 0, pixels
    box = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1, box


def _colours(pixels: np.ndarray) -> int:
    return np.unique(pixels.reshape(-1, 3), axis=0).shape[0]


def test_real_window_is_shown_on_x11(xvfb, tmp_path):
    """Start `convdemo` as a user does, grab the X screen, find a real, non-blank window."""
    log = tmp_path / "convdemo.log"  # a file, not a pipe nobody reads while we poll
    with open(log, "w") as sink:
        app = subprocess.Popen(_convdemo_cmd(), env=xvfb, stdout=sink, stderr=sink)
    grab = tmp_path / "screen.png"
    try:
        deadline = time.monotonic() + 60
        width = height = 0
        while time.monotonic() < deadline:
            assert app.poll() is None, f"convdemo exited early: {log.read_text()[-2000:]}"
            subprocess.run(
                [sys.executable, "-c", GRAB_SCRIPT, str(grab)], env=xvfb, check=True, timeout=30
            )
            width, height, box = _content_box(grab)
            # wait for the window, then for its content (the photo and the panels) to be painted
            if width >= 1000 and height >= 600 and _colours(box) > 1000:
                break
            time.sleep(1.0)
        assert width >= 1000 and height >= 600, f"no window of at least 1000x600: {width}x{height}"
        colours = _colours(box)
        assert colours > 1000, f"the window looks blank ({colours} distinct colours)"
    finally:
        app.terminate()
        try:
            app.wait(timeout=10)
        except subprocess.TimeoutExpired:
            app.kill()
    shutil.copy(grab, Path(os.environ.get("CONVDEMO_ARTIFACTS", tmp_path)) / "xvfb-screen.png")


def test_screenshot_flag_on_xcb(xvfb, tmp_path):
    """`convdemo --preset edge --screenshot` on the real xcb platform gives a 1280x800 picture."""
    out = tmp_path / "shot.png"
    run = subprocess.run(
        [*_convdemo_cmd(), "--preset", "edge", "--screenshot", str(out)],
        env=xvfb,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[:2] == (800, 1280)
    assert _colours(image) > 1000
