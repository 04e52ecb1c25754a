"""Start the window: ``run_app`` is what ``convdemo`` (cli.py) calls once it found a display.

With ``screenshot`` the window is rendered at 1280x800 once the output and the CNN panel
show their first results, saved as PNG, and the process exits (0 on success). Screenshots
neither read nor write the user's QSettings, so they always look the same.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

SCREENSHOT_SIZE = (1280, 800)


def make_app(argv: list[str] | None = None):
    """The QApplication (created once), high-DPI friendly, pyqtgraph row-major."""
    from PyQt6.QtCore import Qt
    from PyQt6.QtGui import QGuiApplication
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else [sys.argv[0]])
        app.setApplicationName("convdemo")
        app.setOrganizationName("convdemo")
        # no setApplicationDisplayName: Qt appends it to every window title that does not end
        # with it ("ConvDemo — chelsea.png — ConvDemo"); the title names the app already
        install_message_filter()
    configure_pyqtgraph()
    return app


#: Qt messages that are noise, not news: the offscreen plugin (used for --screenshot) says
#: this on every window shown. Only these exact messages are dropped; every other one is kept.
SILENCED_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def install_message_filter() -> None:
    """Drop :data:`SILENCED_MESSAGES`; pass every other Qt message on as before."""
    from PyQt6.QtCore import qInstallMessageHandler

    previous = None

    def handler(kind, context, message) -> None:
        if message in SILENCED_MESSAGES:
            return
        if previous is not None:
            previous(kind, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)


def configure_pyqtgraph() -> None:
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


def run_app(image=None, preset=None, model=None, screenshot=None, *, fresh=False,
            state=None, lesson=None) -> int:
    """Open the window (or render it to ``screenshot``); returns the process exit code.

    ``fresh``: start from the defaults, ignoring the remembered lab. ``state``: a saved lab
    (``.convdemo``) to open.
    """
    from PyQt6.QtCore import QSettings, QTimer

    from convdemo.gui.main_window import MainWindow

    app = make_app()
    if screenshot:
        scratch = tempfile.TemporaryDirectory(prefix="convdemo-shot-")
        settings = QSettings(str(Path(scratch.name) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings, restore=False)
    else:
        window = MainWindow(fresh=fresh)
    install_excepthook(window)
    if model and window.cnn_panel is not None:
        window.cnn_panel.set_model(model)
    if preset:
        window.apply_preset(preset)
    if screenshot:
        window.resize(*SCREENSHOT_SIZE)
    window.show()
    opened_state = False
    if state:
        opened_state = window.open_lab(state)
        if not opened_state:
            print(f"convdemo: {window.last_error}", file=sys.stderr)
    if lesson:
        opened_state = window.lesson_panel.open_lesson(lesson) or opened_state
    if not (opened_state and window.lab.image is not None):
        open_first_image(window, image, from_settings=not screenshot)
    window.lab.clear_history()  # the start is not a change to undo

    if not screenshot:
        return int(app.exec())

    result = {"code": 1, "done": False}

    def shoot(ready: bool) -> None:
        if result["done"]:
            return
        result["done"] = True
        try:  # whatever happens, the app quits: a screenshot run must never hang
            app.processEvents()
            result["code"] = save_screenshot(window, screenshot)
            if not ready:
                print("convdemo: the window was not idle after 60 s; saved what it showed",
                      file=sys.stderr)
                result["code"] = 1
        finally:
            window.close()
            app.quit()

    def when_settled() -> None:
        if window.lab.image is not None and window.is_idle():
            # one more turn of the event loop, so the last result is painted
            QTimer.singleShot(50, lambda: shoot(True))

    window.settled.connect(when_settled)
    QTimer.singleShot(0, when_settled)
    QTimer.singleShot(60000, lambda: shoot(False))
    app.exec()
    return result["code"]


def open_first_image(window, image=None, *, from_settings: bool = True) -> None:
    """Open ``image`` (or the last image from the saved lab), else the sample photo.

    Loading happens off the GUI thread. A file that exists but is not a readable image
    (``convdemo /etc/passwd``, an empty x.png, a truncated JPEG) gets its one-sentence error in
    the status bar, as File ▸ Open gives it, and on stderr; the sample photo is shown instead.
    """
    from convdemo import resources

    sample = resources.default_sample()
    if image:
        path, is_sample = Path(image), False
    else:
        remembered = window.last_image() if from_settings else None
        path, is_sample = remembered if remembered is not None else (None, False)
    if path is None:
        window.open_image(sample, sample=True)
        return

    def failed(message: str) -> None:
        window.loadFailed.disconnect(failed)
        window.imageLoaded.disconnect(loaded)
        print(f"convdemo: {message}; showing a sample photo instead", file=sys.stderr)

        def say(_name: str) -> None:  # after the sample's own "Opened ..." line
            window.imageLoaded.disconnect(say)
            window.last_error = message
            window.statusBar().showMessage(
                f"{message[0].upper()}{message[1:]}. Showing the sample photo {sample.name} "
                "instead.", 30000)

        window.imageLoaded.connect(say)
        window.open_image(sample, sample=True)

    def loaded(_name: str) -> None:
        window.imageLoaded.disconnect(loaded)
        window.loadFailed.disconnect(failed)

    window.loadFailed.connect(failed)
    window.imageLoaded.connect(loaded)
    window.open_image(path, sample=is_sample)


def install_excepthook(window) -> None:
    """A bug in a slot must not take the lecture down.

    PyQt aborts the process on an exception escaping a slot unless ``sys.excepthook`` was
    replaced. This hook prints the traceback (for the bug report) and tells the user in the
    status bar; the window keeps running.
    """
    import traceback

    def hook(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb)
        try:
            window.statusBar().showMessage(
                f"Internal error: {kind.__name__}: {value} (details on the terminal; please "
                "report it). The window keeps working.", 30000)
        except RuntimeError:  # the window is already gone
            pass

    sys.excepthook = hook


def save_screenshot(window, path) -> int:
    """Grab ``window`` and save it as a 1280x800 PNG; 0 on success."""
    from PyQt6.QtCore import Qt

    pixmap = window.grab()
    w, h = SCREENSHOT_SIZE
    if (pixmap.width(), pixmap.height()) != (w, h):  # a high-DPI screen: keep the size asked
        pixmap = pixmap.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"convdemo: error: cannot write the screenshot to {path}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    if not pixmap.save(str(path), "PNG"):
        print(f"convdemo: error: cannot write the screenshot to {path}", file=sys.stderr)
        return 1
    return 0
