"""Render the documentation screenshots (1280x800) headless.

    python -m convdemo.gui.screenshots docs/screenshots

writes ``inspector.png`` (the pixel inspector on the edge preset, zoomed in) and ``scan.png``
(scan mode part-way through). ``main.png`` comes from the app itself:
``python -m convdemo --preset edge --screenshot docs/screenshots/main.png``.
Nothing is read from or written to the user's QSettings.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def _window():
    from PyQt6.QtCore import QSettings

    from convdemo import resources
    from convdemo.gui.app import SCREENSHOT_SIZE, make_app
    from convdemo.gui.main_window import MainWindow

    app = make_app()
    scratch = tempfile.mkdtemp(prefix="convdemo-shots-")
    window = MainWindow(QSettings(str(Path(scratch) / "s.ini"), QSettings.Format.IniFormat),
                        restore=False)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    window.open_image(resources.default_sample())
    return app, window


def inspector(path: Path) -> int:
    from convdemo.gui.app import save_screenshot

    app, window = _window()
    window.apply_preset("sobel-x")
    window.wait_until_idle(30000)
    row, col = 118, 188  # on the edge of the cat's left eye
    window.input_pane.view.setRange(xRange=(col - 14, col + 18), yRange=(row - 12, row + 14),
                                    padding=0)
    window.inspect_output(row, col)
    app.processEvents()
    code = save_screenshot(window, path)
    window.close()
    return code


def scan(path: Path) -> int:
    from convdemo.gui.app import save_screenshot

    app, window = _window()
    window.apply_preset("edge")
    window.controls.set_fields({"padding": "same"})
    window.wait_until_idle(30000)
    window.tabs.setCurrentWidget(window.scan_panel)
    model = window.scan_panel.model
    for _ in range(int(model.n_cells * 0.42)):
        window.scan_panel.step()
    app.processEvents()
    code = save_screenshot(window, path)
    window.close()
    return code


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "docs/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return max(inspector(folder / "inspector.png"), scan(folder / "scan.png"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
