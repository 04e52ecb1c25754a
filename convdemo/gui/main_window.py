"""The main window: input and output views, kernel editor, controls, inspector, scan mode,
and the CNN panel in a dock on the right.

The window shows what the core computes and never computes it itself: every edit becomes a
frozen :class:`convdemo.gui.worker.Request` (the image and a :class:`convdemo.pipeline.Settings`)
for the one background worker, and results come back by signal. The constructor reads as a
table of contents, as in Qt's application example.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PyQt6.QtCore import QByteArray, QEventLoop, QRect, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QActionGroup, QGuiApplication, QImage, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from convdemo import imaging, kernels, pipeline, resources
from convdemo.geometry import conv_placement, output_placement, receptive_field
from convdemo.gui.controls import Controls
from convdemo.gui.inspector import InspectorPanel
from convdemo.gui.kernel_editor import KernelEditor
from convdemo.gui.scan import ScanPanel
from convdemo.gui.views import ImagePane, outline, to_u8
from convdemo.gui.worker import ComputeWorker, Outcome, Request, make_preview, preview_factor
from convdemo.inspection import inspect, inspect_pool
from convdemo.readout import formula_tooltip, readout, too_small_message

APP_TITLE = "ConvDemo"
#: photos above this many pixels are downsampled on load (and the status bar says so)
MAX_PIXELS = 40_000_000
#: a preview is made for photos with more than twice this many pixels (or the view's pixels)
PREVIEW_PIXELS = 300_000
#: ... and used first when the full-resolution result is expected to take longer than this
#: (under the 16 ms a live edit may take, leaving room for the display and the repaint)
PREVIEW_BUDGET_S = 0.012
MAX_RECENT = 8
IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm);;All files (*)"
)
INPUT_CHANNELS = ("all", "R", "G", "B", "grey")


class MainWindow(QMainWindow):
    """The convdemo window. ``settings``: a QSettings to use (tests pass an isolated one)."""

    #: emitted on the GUI thread once an outcome is in the output view: (generation, stage)
    outputShown = pyqtSignal(int, str)
    imageLoaded = pyqtSignal(str)

    def __init__(self, settings: QSettings | None = None, *, restore: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qsettings = settings if settings is not None else QSettings("convdemo", "convdemo")
        self._restore_enabled = restore
        self.image: np.ndarray | None = None
        self.image_name = ""
        self.image_path: Path | None = None
        self._preview: np.ndarray | None = None
        self._preview_factor = 1
        self._input_u8: np.ndarray | None = None
        self._seconds_per_mpix: float | None = None  # measured cost of full results
        self._generation = 0
        self._done_generation = 0  # the latest generation fully shown (or failed)
        self._shown_key = (0, 0)  # (generation, 0 preview / 1 full) in the output view
        self._last_settings: pipeline.Settings | None = None
        self.full_outcome: Outcome | None = None  # the last full-resolution result shown
        self.shown_outcome: Outcome | None = None
        self.last_error = ""
        self._input_channel = "all"
        self._hover: tuple[float, float] | None = None
        self._display_auto = True

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.worker = ComputeWorker(self, full_delay=0.12)
        self.worker.finished.connect(self._on_outcome)
        self.worker.failed.connect(self._on_failed)

        self.create_central()
        self.create_dock()
        self.create_actions()
        self.create_menus()
        self.create_status_bar()
        self.connect_signals()
        self.resize(1280, 800)  # the size the lecture hall projector gets, unless restored
        if restore:
            self.read_settings()
        self.fit_to_screen()  # a saved 1280x800 must not run off a 1024x768 screen

    # ================================================================ construction
    def create_central(self) -> None:
        self.input_pane = ImagePane("Input", "inputView", self)
        self.output_pane = ImagePane("Output", "outputView", self)
        self.output_pane.view.setXLink(self.input_pane.view)
        self.output_pane.view.setYLink(self.input_pane.view)
        self.field_item = outline("#ffd400", 2.5)  # receptive field, on the input
        self.input_pane.view.addItem(self.field_item)
        # with pooling: the receptive field of the conv pixel that decides (inside field_item)
        self.detail_item = outline("#00e5ff", 1.5)
        self.input_pane.view.addItem(self.detail_item)
        self.pixel_item = outline("#ffd400", 2.5)  # hovered output pixel
        self.output_pane.view.addItem(self.pixel_item)

        views = QSplitter(Qt.Orientation.Horizontal, self)
        views.setObjectName("viewSplitter")
        views.addWidget(self.input_pane)
        views.addWidget(self.output_pane)
        views.setChildrenCollapsible(False)
        views.setStretchFactor(0, 1)
        views.setStretchFactor(1, 1)

        self.scan_panel = ScanPanel(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("modeTabs")
        self.tabs.addTab(views, "Live")
        self.tabs.addTab(self.scan_panel, "Scan mode")

        self.readout = QLabel(self)
        self.readout.setObjectName("shapeReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.readout.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.readout.setFont(font)

        self.kernel_editor = KernelEditor(self)
        self.controls = Controls(self)
        self.inspector = InspectorPanel(self)
        self.inspector.setMinimumWidth(200)  # its tables scroll; the window must fit 1024 px

        bottom = QWidget(self)
        row = QHBoxLayout(bottom)
        row.setContentsMargins(0, 0, 0, 0)
        self.editor_scroll = editor_scroll = _FittingScrollArea(self)
        editor_scroll.setWidget(self.kernel_editor)
        editor_scroll.setWidgetResizable(True)
        editor_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        editor_scroll.setMinimumWidth(self.kernel_editor.sizeHint().width() + 16)
        editor_scroll.setMaximumWidth(max(260, self.kernel_editor.sizeHint().width() + 16))
        # tall enough for a 3x3 kernel in per-channel mode (R/G/B tabs) without scrolling;
        # 5x5 and 7x7 grids scroll
        self.kernel_editor.tabs.show()
        self.kernel_editor.grids[0].hide()
        editor_scroll.setMinimumHeight(self.kernel_editor.sizeHint().height())
        self.kernel_editor.tabs.hide()
        self.kernel_editor.grids[0].show()
        row.addWidget(editor_scroll, 0)
        self.controls.setMaximumWidth(230)
        row.addWidget(self.controls, 0)
        row.addWidget(self.inspector, 1)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(4)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.setObjectName("mainSplitter")
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.tabs, 1)
        top_layout.addWidget(self.readout)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 0)
        split.setChildrenCollapsible(False)
        self.main_splitter = split
        layout.addWidget(split)
        self.setCentralWidget(central)

    def create_dock(self) -> None:
        self.cnn_dock = QDockWidget("CNN: what a trained network sees", self)
        self.cnn_dock.setObjectName("cnnDock")
        # closable: View ▸ "CNN: …" (the dock's toggle action) is only enabled for a closable dock
        self.cnn_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                  | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                                  | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        try:
            from convdemo.gui.cnn_panel import CNNPanel

            self.cnn_panel = CNNPanel(self.cnn_dock)
        except Exception as exc:  # never crash: say what broke, keep the rest working
            self.cnn_panel = None
            label = QLabel(f"The CNN panel could not start: {type(exc).__name__}: {exc}")
            label.setWordWrap(True)
            label.setObjectName("cnnPanelError")
            self.cnn_dock.setWidget(label)
        else:
            self.cnn_dock.setWidget(self.cnn_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.cnn_dock)
        self.resizeDocks([self.cnn_dock], [340], Qt.Orientation.Horizontal)

    def create_actions(self) -> None:
        def action(text, slot, shortcut=None, name=None, tip=None) -> QAction:
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            if name:
                act.setObjectName(name)
            if tip:
                act.setStatusTip(tip)
            act.triggered.connect(slot)
            self.addAction(act)  # shortcuts work while the menus are closed
            return act

        self.open_act = action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open,
                               "openAction", "open a photo")
        self.paste_act = action("&Paste image", self.paste_image, QKeySequence.StandardKey.Paste,
                                "pasteAction", "paste an image (or a file path) from the clipboard")
        self.save_act = action("&Save output…", self.save_dialog, QKeySequence.StandardKey.Save,
                               "saveAction", "save the output as PNG (as shown) or .npy (raw)")
        self.copy_act = action("&Copy output", self.copy_output, "Ctrl+Shift+C", "copyAction",
                               "copy the output image to the clipboard")
        self.quit_act = action("&Quit", self.close, QKeySequence.StandardKey.Quit, "quitAction")
        self.fit_act = action("&Fit", self.fit_view, "F", "fitAction", "show the whole image")
        self.one_act = action("&1:1", self.actual_size, "Ctrl+0", "oneToOneAction",
                              "one image pixel per screen pixel")
        self.preset_acts: dict[str, QAction] = {}
        for name, preset in kernels.PRESETS.items():
            shortcut = None
            if name in kernels.LECTURE_PRESETS:
                shortcut = f"Ctrl+{kernels.LECTURE_PRESETS.index(name) + 1}"
            act = action(name, lambda _=False, n=name: self.apply_preset(n), shortcut,
                         f"presetAction_{name}", preset.description)
            act.setToolTip(preset.description)
            self.preset_acts[name] = act
        self.summary_act = action("Model &summary", self.show_model_summary, None,
                                  "summaryAction", "the CNN's layers, as Keras prints them")
        self.about_act = action("&About", self.about, None, "aboutAction")
        self.channel_group = QActionGroup(self)
        self.channel_acts: dict[str, QAction] = {}
        for name in INPUT_CHANNELS:
            label = {"all": "All channels", "grey": "Grey"}.get(name, f"{name} channel")
            act = QAction(label, self, checkable=True)
            act.setObjectName(f"inputChannel_{name}")
            act.setChecked(name == "all")
            act.triggered.connect(lambda _=False, n=name: self.set_input_channel(n))
            self.channel_group.addAction(act)
            self.channel_acts[name] = act
        self.space_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        self.space_shortcut.activated.connect(self._space)

    def create_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_act)
        self.sample_menu = file_menu.addMenu("Open &sample")
        try:
            samples = resources.sample_paths()
        except OSError:
            samples = []
        for path in samples:
            act = self.sample_menu.addAction(path.name)
            act.triggered.connect(lambda _=False, p=path: self.open_image(p))
        self.recent_menu = file_menu.addMenu("&Recent files")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addAction(self.paste_act)
        file_menu.addSeparator()
        file_menu.addAction(self.save_act)
        file_menu.addAction(self.copy_act)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_act)

        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.fit_act)
        view_menu.addAction(self.one_act)
        channel_menu = view_menu.addMenu("Input &channel")
        for act in self.channel_acts.values():
            channel_menu.addAction(act)
        view_menu.addSeparator()
        view_menu.addAction(self.cnn_dock.toggleViewAction())

        kernel_menu = bar.addMenu("&Kernel")
        # the lecture's four first, in the order of their shortcuts (Ctrl+1 = blur ...)
        for name in kernels.LECTURE_PRESETS:
            kernel_menu.addAction(self.preset_acts[name])
        kernel_menu.addSeparator()
        for name in kernels.PRESETS:
            if name not in kernels.LECTURE_PRESETS:
                kernel_menu.addAction(self.preset_acts[name])
        kernel_menu.setToolTipsVisible(True)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.summary_act)
        help_menu.addAction(self.about_act)

    def create_status_bar(self) -> None:
        self.pixel_label = QLabel(self)
        self.pixel_label.setObjectName("pixelLabel")
        self.statusBar().addPermanentWidget(self.pixel_label)
        self.timing_label = QLabel(self)
        self.timing_label.setObjectName("timingLabel")
        self.statusBar().addPermanentWidget(self.timing_label)
        self.statusBar().showMessage("Drop a photo anywhere, or press Ctrl+O.")

    def connect_signals(self) -> None:
        self.kernel_editor.changed.connect(self._request_update)
        self.kernel_editor.presetApplied.connect(self._preset_display)
        self.kernel_editor.perChannelChanged.connect(self._per_channel_changed)
        self.controls.channelsCombo.currentTextChanged.connect(self._channels_chosen)
        # new cells are shown (and measured) on the next event-loop turn: measure after that
        self.kernel_editor.sizeChanged.connect(
            lambda _k: QTimer.singleShot(0, self._editor_resized))
        self.kernel_editor.widthChanged.connect(
            lambda: QTimer.singleShot(0, self._editor_resized))
        self.controls.displayCombo.activated.connect(self._display_chosen)
        self.controls.changed.connect(self._request_update)
        self.output_pane.graphics.scene().sigMouseMoved.connect(self._hovered)
        self.input_pane.graphics.scene().sigMouseMoved.connect(self._input_hovered)
        self.tabs.currentChanged.connect(self._tab_changed)
        if self.cnn_panel is not None:
            self.cnn_panel.filterChosen.connect(self.use_filter)
            self.cnn_panel.modelChanged.connect(self._model_changed)
        # Image drops land on the window wherever they are aimed: a child that accepts drops
        # (a QLineEdit takes a dropped file's path as text) would keep them from it. Qt passes
        # a drag up to the nearest ancestor that accepts drops: the window.
        for child in self.findChildren(QWidget):
            if child.acceptDrops():
                child.setAcceptDrops(False)

    # ================================================================ images in
    def open_dialog(self) -> None:
        start = str(self.image_path.parent) if self.image_path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", start, IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path) -> bool:
        """Load a photo; on failure say why in the status bar and keep the current image.

        Decoding, the preview and the display conversion run off the GUI thread (the window
        keeps painting; clicks wait until the photo is in), so a 12 MP photo does not freeze.
        """
        path = Path(path)
        try:
            loaded = self._in_background(
                lambda: imaging.load_image(path, max_pixels=MAX_PIXELS), f"Opening {path.name}…")
        except (ValueError, OSError) as exc:
            self._load_failed(str(exc) if isinstance(exc, ValueError) else
                              f"cannot open {path.name}: {exc.strerror or exc}")
            return False
        except MemoryError:
            self._load_failed(f"cannot open {path.name}: not enough memory for this photo")
            return False
        self.image_path = path.resolve()
        self._add_recent(self.image_path)
        self.set_image(loaded.array, path.name, loaded.notes)
        return True

    def set_image(self, array: np.ndarray, name: str, notes=()) -> None:
        """Show a float32 (H, W) or (H, W, 3) image in 0..1 and recompute everything."""
        target = self._preview_target()

        def prepare():
            x = np.ascontiguousarray(array, dtype=np.float32)
            x.setflags(write=False)  # requests share it with the worker thread
            factor = preview_factor(x.shape, target)
            preview = make_preview(x, factor) if factor > 1 else None
            if preview is not None:
                preview.setflags(write=False)
            return x, factor, preview, to_u8(x)

        array, factor, preview, u8 = self._in_background(prepare, f"Preparing {name}…")
        self.image = array
        self.image_name = name
        self._preview_factor = factor
        self._preview = preview
        self._input_u8 = u8
        self.full_outcome = None
        self.shown_outcome = None
        self._last_settings = None
        self.setWindowTitle(f"{APP_TITLE} — {name}")
        self._show_input()
        self.fit_view()
        self.kernel_editor.set_per_channel_allowed(self._per_channel_ok())
        h, w = array.shape[:2]
        message = f"Opened {name} ({w}×{h}{'×3' if array.ndim == 3 else ', grey'})"
        if notes:
            message += ": " + "; ".join(notes)
        self.statusBar().showMessage(message, 15000)
        self.inspector.clear()
        self._hide_hover()
        self.schedule()
        if self.cnn_panel is not None:
            self.cnn_panel.set_image(array)
        self.imageLoaded.emit(name)

    def _in_background(self, work, message: str):
        """Run ``work()`` on a helper thread while the window keeps painting; return its value.

        User input waits (ExcludeUserInputEvents), so nothing can start a second load
        meanwhile. Exceptions are re-raised here, on the GUI thread.
        """
        box: dict = {}

        def run() -> None:
            try:
                box["value"] = work()
            except BaseException as exc:  # handed to the GUI thread below
                box["error"] = exc

        thread = threading.Thread(target=run, name="convdemo-load", daemon=True)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        self.statusBar().showMessage(message)
        try:
            thread.start()
            thread.join(0.05)  # small photos: done before the loop is needed
            if thread.is_alive():
                loop = QEventLoop()
                timer = QTimer()
                timer.setInterval(5)
                timer.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
                timer.start()
                loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
                timer.stop()
            thread.join()
        finally:
            QApplication.restoreOverrideCursor()
            self.statusBar().clearMessage()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def paste_image(self) -> bool:
        """Ctrl+V: an image, an image file, or a path to one, from the clipboard."""
        return self.load_mime(QGuiApplication.clipboard().mimeData(), "the clipboard")

    def load_mime(self, mime, where: str) -> bool:
        if mime is None:
            self._load_failed(f"{where} is empty")
            return False
        if mime.hasUrls():
            files = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if files:
                return self.open_image(files[0])
        if mime.hasImage():
            qimage = mime.imageData()
            if isinstance(qimage, QImage) and not qimage.isNull():
                try:
                    pil = qimage_to_pil(qimage)
                    loaded = self._in_background(
                        lambda: imaging.image_from_pil(pil, max_pixels=MAX_PIXELS),
                        "Reading the image…")
                except (ValueError, MemoryError) as exc:
                    self._load_failed(str(exc) or "not enough memory for the pasted image")
                    return False
                self.image_path = None
                self.set_image(loaded.array, "pasted image" if where == "the clipboard"
                               else "dropped image", loaded.notes)
                return True
        if mime.hasText():
            text = mime.text().strip()
            if text.startswith("file://"):
                text = text[7:]
            if text and "\n" not in text and len(text) < 4096 and Path(text).is_file():
                return self.open_image(text)
        self._load_failed(f"{where} holds no image (copy an image or an image file, then try "
                          "again)")
        return False

    def _load_failed(self, message: str) -> None:
        self.last_error = message
        kept = " The current image stays." if self.image is not None else ""
        self.statusBar().showMessage(f"{message[0].upper()}{message[1:]}.{kept}"
                                     .replace("..", "."), 20000)

    # drag and drop, anywhere on the window
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        event.acceptProposedAction()
        # load after the drop has finished, so the source app is not kept waiting
        mime = _copy_mime(event.mimeData())
        QTimer.singleShot(0, lambda: self.load_mime(mime, "the drop"))

    # ================================================================ compute
    def current_settings(self) -> pipeline.Settings:
        fields = self.controls.fields()
        return pipeline.Settings().replace(
            kernel=self.kernel_editor.kernel(), bias=self.kernel_editor.bias(),
            flip=self.kernel_editor.flip(), **fields)

    def _request_update(self) -> None:
        self.kernel_editor.set_per_channel_allowed(self._per_channel_ok())
        self.schedule()

    def schedule(self) -> None:
        """Send the current image and settings to the worker (latest wins)."""
        if self.image is None:
            return
        settings = self.current_settings()
        self.readout.setText(readout(self.image.shape, settings))
        self.readout.setToolTip(formula_tooltip(self.image.shape, settings))
        if settings == self._last_settings:
            return
        self._last_settings = settings
        self._generation += 1
        preview = self._preview if self._preview_worth_it() else None
        self.worker.submit(Request(self._generation, self.image, settings, preview,
                                   self._preview_factor if preview is not None else 1))
        if self.tabs.currentWidget() is self.scan_panel:
            self.scan_panel.set_source(self.image, settings)

    def _on_outcome(self, outcome: Outcome) -> None:
        gen = outcome.request.generation
        key = (gen, 1 if outcome.stage == "full" else 0)
        if outcome.request.image is not self.image or key <= self._shown_key:
            return  # stale: a newer result is already shown
        self._shown_key = key
        result = outcome.result
        settings = outcome.request.settings
        if result.empty:
            self.output_pane.show_message(too_small_message(self.image.shape, settings))
        else:
            placement = output_placement(settings, outcome.request.image.shape)
            if outcome.factor > 1:
                placement = output_placement(settings, outcome.request.preview.shape).scaled(
                    outcome.factor)
            self.output_pane.show_image(result.display.rgb, placement.rect(result.raw.shape))
            d = result.display
            self.output_pane.set_scale(d.vmin, d.vmax, d.mode == "diverging")
        stage = "preview" if outcome.stage == "preview" else "full"
        title = "Output"
        if outcome.stage == "preview":
            title += f" (preview at 1/{outcome.factor} size, full resolution coming…)"
        elif not result.empty:
            h, w = result.raw.shape[:2]
            title += f" {w}×{h}"
        if not result.empty and result.raw.ndim == 3 and (
                result.display.mode == "diverging" or result.raw.shape[2] != 3):
            title += " — mean of R, G, B" if result.raw.shape[2] == 3 else \
                " — mean of the channels"
        self.output_pane.title.setText(title)
        self.shown_outcome = outcome
        ms = outcome.seconds * 1000
        self.timing_label.setText(f"{stage} {ms:.0f} ms")
        if outcome.stage == "full":
            mpix = outcome.request.image.shape[0] * outcome.request.image.shape[1] / 1e6
            rate = outcome.seconds / max(mpix, 1e-3)
            old = self._seconds_per_mpix
            self._seconds_per_mpix = rate if old is None else 0.5 * (old + rate)
            self.full_outcome = outcome
            self._done_generation = max(self._done_generation, gen)
            self.last_error = ""
            if self._hover is not None:
                self._inspect_at(*self._hover)
        self.outputShown.emit(gen, outcome.stage)

    def _on_failed(self, request: Request, message: str) -> None:
        gen = request.generation
        self._done_generation = max(self._done_generation, gen)
        if gen < self._generation:
            return
        self._shown_key = (gen, 1)
        self.last_error = message
        self.output_pane.show_message(f"Cannot compute this: {message}", error=True)
        self.statusBar().showMessage(f"Cannot compute: {message}", 20000)
        self.outputShown.emit(gen, "error")

    def is_idle(self) -> bool:
        return (self.image is None or self._done_generation >= self._generation) and \
            not self.worker.busy()

    def wait_until_idle(self, timeout_ms: int = 10000) -> bool:
        """Process events until every pending computation (and the CNN panel's) is shown."""
        deadline = time.monotonic() + timeout_ms / 1000
        app = QApplication.instance()
        while time.monotonic() < deadline:
            app.processEvents()
            if self.is_idle():
                if self.cnn_panel is None:
                    return True
                left = max(1, int((deadline - time.monotonic()) * 1000))
                if self.cnn_panel.wait_until_idle(left):
                    app.processEvents()
                    if self.is_idle():
                        return True
                else:
                    return False
            time.sleep(0.002)
        return False

    # ================================================================ kernels and filters
    def apply_preset(self, name: str) -> None:
        self.kernel_editor.set_preset(name)
        self.statusBar().showMessage(f"Kernel: {name} — {kernels.PRESETS[name].description}",
                                     8000)

    def _editor_resized(self) -> None:
        """A 5x5 or 7x7 grid is wider: give the editor that room (the inspector gives it)."""
        self.kernel_editor.adjustSize()
        need = self.kernel_editor.sizeHint().width() + 16
        # as wide as the editor wants when there is room; on a small screen it scrolls
        self.editor_scroll.setMinimumWidth(min(need, 360))
        self.editor_scroll.setMaximumWidth(max(260, need))

    def _display_chosen(self) -> None:
        self._display_auto = False  # the user picked a display: leave it alone from now on

    def _preset_display(self, name: str) -> None:
        """Until the user picks a display, zero-sum presets (edges) are shown diverging.

        Their outputs are half negative, and "clip" would hide every negative value.
        """
        if not self._display_auto:
            return
        zero_sum = abs(float(kernels.PRESETS[name].array().sum())) < 1e-9
        self.controls.set_fields({"display": "diverging" if zero_sum else "clip"},
                                 emit=False)

    def use_filter(self, kernel, bias: float) -> None:
        """The CNN panel's "Use this filter": a learned 3x3 filter and its bias.

        The models were trained on grey images, so the filter runs on the photo's grey
        version (channels = gray), exactly as the network would see it.
        """
        try:
            model = self.cnn_panel.current_model_name() if self.cnn_panel is not None else "CNN"
            self.kernel_editor.load_filter(np.asarray(kernel, dtype=np.float64), float(bias),
                                           source=f"learned {model} filter, run on grey")
        except ValueError as exc:
            self.statusBar().showMessage(f"Cannot use that filter: {exc}", 15000)
            return
        fields = {"channels": "gray"}
        if self._display_auto:
            fields["display"] = "diverging"  # learned filters give negative values too
        self.controls.set_fields(fields)
        self.statusBar().showMessage(
            "Loaded the learned filter; it runs on the grey image, as the network saw its "
            "training images. Turn on ReLU to see what the network passes on.", 20000)

    def _model_changed(self, name: str) -> None:
        if self._restore_enabled:
            self.qsettings.setValue("model", name)

    def show_model_summary(self) -> None:
        if self.cnn_panel is None:
            self.statusBar().showMessage("The CNN panel is not available.", 8000)
            return
        self.cnn_panel.show_summary()

    def about(self) -> None:
        from convdemo import __version__

        QMessageBox.about(
            self, f"About {APP_TITLE}",
            f"<b>convdemo {__version__}</b><br>A live convolution lab with a small CNN beside "
            "it.<br><br>Edit the kernel, hover the output to see the arithmetic, or watch "
            "the window move in scan mode.")

    # ================================================================ view
    def fit_view(self) -> None:
        if self.image is not None:
            h, w = self.image.shape[:2]
            self.input_pane.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def actual_size(self) -> None:
        if self.image is None:
            return
        vb = self.input_pane.view
        (x0, x1), (y0, y1) = vb.viewRange()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        dpr = self.devicePixelRatioF()
        w, h = vb.width() * dpr, vb.height() * dpr
        vb.setRange(xRange=(cx - w / 2, cx + w / 2), yRange=(cy - h / 2, cy + h / 2), padding=0)

    def set_input_channel(self, name: str) -> None:
        self._input_channel = name
        self.channel_acts[name].setChecked(True)
        self._show_input()

    def _show_input(self) -> None:
        if self.image is None:
            return
        x = self.image
        name = self._input_channel
        label = "Input"
        if x.ndim == 3 and name in ("R", "G", "B"):
            x = x[:, :, "RGB".index(name)]
            label += f" ({name} channel)"
        elif x.ndim == 3 and name == "grey":
            x = imaging.to_gray(x)
            label += " (grey)"
        h, w = self.image.shape[:2]
        self.input_pane.title.setText(f"{label} {w}×{h}")
        self.input_pane.show_image(self._input_u8 if x is self.image else to_u8(x))

    def _tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.scan_panel and self.image is not None:
            self.scan_panel.set_source(self.image, self.current_settings())
        elif self.scan_panel.playing():
            self.scan_panel.pause()

    def _space(self) -> None:
        if self.tabs.currentWidget() is self.scan_panel:
            self.scan_panel.toggle()

    # ================================================================ inspector
    def _hovered(self, scene_pos) -> None:
        vb = self.output_pane.view
        if not vb.sceneBoundingRect().contains(scene_pos):
            return
        p = vb.mapSceneToView(scene_pos)
        self._hover = (p.x(), p.y())
        self._inspect_at(p.x(), p.y())

    def _input_hovered(self, scene_pos) -> None:
        """The input value under the mouse, in the status bar."""
        if self.image is None:
            return
        p = self.input_pane.view.mapSceneToView(scene_pos)
        row, col = int(np.floor(p.y())), int(np.floor(p.x()))
        h, w = self.image.shape[:2]
        if not (0 <= row < h and 0 <= col < w):
            self.pixel_label.setText("")
            return
        v = self.image[row, col]
        text = (" ".join(f"{c} {x:.3f}" for c, x in zip("RGB", v, strict=True))
                if self.image.ndim == 3 else f"{float(v):.3f}")
        self.pixel_label.setText(f"input ({row}, {col}): {text}")

    def inspect_output(self, row: int, col: int) -> bool:
        """Inspect convolution-output pixel (row, col), as hovering it does."""
        return self._inspect_cell(conv_placement, row, col)

    def inspect_pooled(self, row: int, col: int) -> bool:
        """Inspect pooled output pixel (row, col) (pooling on), as hovering its centre does."""
        return self._inspect_cell(output_placement, row, col)

    def _inspect_cell(self, placement_of, row: int, col: int) -> bool:
        """Hover the centre of cell (row, col) of the grid ``placement_of`` lays out."""
        if self.full_outcome is None:
            return False
        placement = placement_of(self.full_outcome.request.settings, self.image.shape)
        x = placement.x0 + (col + 0.5) * placement.pitch_x
        y = placement.y0 + (row + 0.5) * placement.pitch_y
        self._hover = (x, y)
        return self._inspect_at(x, y)

    def _show_field(self, item, settings, image_shape, rows_cols) -> None:
        """Outline on the input the input cells read by conv pixels rows x cols."""
        (r0, c0), (r1, c1) = rows_cols
        rows0, cols0 = receptive_field(settings, image_shape, r0, c0)
        rows1, cols1 = receptive_field(settings, image_shape, r1, c1)
        item.setRect(float(cols0[0]), float(rows0[0]), float(cols1[-1] - cols0[0] + 1),
                     float(rows1[-1] - rows0[0] + 1))
        item.show()

    def _inspect_at(self, x: float, y: float) -> bool:
        outcome = self.full_outcome
        if outcome is None or outcome.result.empty:
            self._hide_hover()
            return False
        settings = outcome.request.settings
        image_shape = outcome.request.image.shape
        conv_in = outcome.result.conv_input
        conv_shape, _ = pipeline.output_shapes(image_shape, settings)
        placement = conv_placement(settings, image_shape)
        row, col = placement.index(x, y)
        raw = outcome.result.raw
        if settings.pool != "none":
            out_place = output_placement(settings, image_shape)
            prow, pcol = out_place.index(x, y)
            if not (0 <= prow < raw.shape[0] and 0 <= pcol < raw.shape[1]):
                self._hide_hover()
                return False
            pool = inspect_pool(conv_in, settings, prow, pcol, hovered=(row, col))
            # the whole pool window's receptive field, and the deciding conv pixel's inside it
            self._show_field(self.field_item, settings, image_shape,
                             ((pool.rows[0], pool.cols[0]), (pool.rows[-1], pool.cols[-1])))
            d = pool.detail
            self._show_field(self.detail_item, settings, image_shape,
                             ((d.row, d.col), (d.row, d.col)))
            self.pixel_item.setRect(out_place.x0 + pcol * out_place.pitch_x,
                                    out_place.y0 + prow * out_place.pitch_y,
                                    out_place.pitch_x, out_place.pitch_y)
            self.pixel_item.show()
            self.inspector.show_pool(pool, settings.display)
            return True
        self.detail_item.hide()
        if not (0 <= row < conv_shape[0] and 0 <= col < conv_shape[1]):
            self._hide_hover()
            return False
        ins = inspect(conv_in, settings, row, col)
        self._show_field(self.field_item, settings, image_shape, ((row, col), (row, col)))
        note = ""
        self.pixel_item.setRect(placement.x0 + col * placement.pitch_x,
                                placement.y0 + row * placement.pitch_y,
                                placement.pitch_x, placement.pitch_y)
        value = float(raw[row, col]) if raw.ndim == 2 else None
        if raw.ndim == 3:  # each channel's value ends its row in the panel
            values = raw[row, col]
            if settings.display == "clip" and (values.min() < 0 or values.max() > 1):
                note = "the view shows them clipped to 0..1"
            elif settings.display == "diverging":
                note = "the view shows the mean of the channels: " + \
                    f"{float(values.mean()):.4f}"
        self.pixel_item.show()
        self.inspector.show_inspection(ins, value, note, settings.display)
        return True

    def _hide_hover(self) -> None:
        self.field_item.hide()
        self.detail_item.hide()
        self.pixel_item.hide()

    # ================================================================ export
    def output_raw(self) -> np.ndarray | None:
        self.wait_until_idle(30000)
        if self.full_outcome is None or self.full_outcome.result.empty:
            return None
        return self.full_outcome.result.raw

    def save_dialog(self) -> None:
        if self.output_raw() is None:
            self.statusBar().showMessage("There is no output to save yet.", 8000)
            return
        stem = Path(self.image_name).stem or "output"
        start = str((self.image_path.parent if self.image_path else Path.home())
                    / f"{stem}-output.png")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save the output", start,
            "PNG image, as displayed (*.png);;NumPy array, raw float32 (*.npy)")
        if path:
            if chosen.startswith("NumPy") and not path.lower().endswith(".npy"):
                path += ".npy"
            self.save_output(path)

    def save_output(self, path) -> bool:
        raw = self.output_raw()
        if raw is None:
            self.statusBar().showMessage("There is no output to save yet.", 8000)
            return False
        mode = self.full_outcome.request.settings.display
        try:
            imaging.save_output(path, raw, mode)
        except (OSError, ValueError) as exc:
            self.statusBar().showMessage(f"Could not save {Path(path).name}: {exc}", 20000)
            return False
        what = "raw float32 values" if str(path).lower().endswith(".npy") else f"{mode} display"
        self.statusBar().showMessage(f"Saved the output ({what}) to {path}", 10000)
        return True

    def copy_output(self) -> bool:
        if self.output_raw() is None:
            self.statusBar().showMessage("There is no output to copy yet.", 8000)
            return False
        rgb = self.full_outcome.result.display.rgb
        QGuiApplication.clipboard().setImage(rgb_to_qimage(rgb))
        self.statusBar().showMessage("Copied the output image to the clipboard.", 8000)
        return True

    # ================================================================ settings
    def read_settings(self) -> None:
        s = self.qsettings
        geometry = s.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = s.value("windowState")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        self.kernel_editor.restore(_json(s.value("kernel")) or {})
        self.controls.set_fields(_json(s.value("controls")) or {})
        self._display_auto = str(s.value("displayAuto", "true")).lower() == "true"
        channel = s.value("inputChannel", "all")
        if channel in INPUT_CHANNELS:
            self._input_channel = channel
            self.channel_acts[channel].setChecked(True)
        model = s.value("model")
        if model and self.cnn_panel is not None:
            try:
                self.cnn_panel.set_model(str(model))
            except Exception as exc:  # a stale setting must not stop the app
                self.statusBar().showMessage(f"Could not restore the model {model}: {exc}")

    def fit_to_screen(self, available: QRect | None = None) -> None:
        """Shrink the window to the screen's available geometry (minus the frame) and move it
        onto it. ``available`` defaults to this window's screen (tests pass one)."""
        if self.isMaximized() or self.isFullScreen():
            return
        if available is None:
            screen = self.screen() or QGuiApplication.primaryScreen()
            if screen is None:
                return
            available = screen.availableGeometry()
        frame, inner = self.frameGeometry(), self.geometry()
        extra_w = frame.width() - inner.width()
        extra_h = frame.height() - inner.height()
        w = max(self.minimumSizeHint().width(),
                min(inner.width(), available.width() - extra_w))
        h = max(self.minimumSizeHint().height(),
                min(inner.height(), available.height() - extra_h))
        if (w, h) != (inner.width(), inner.height()):
            self.resize(w, h)
        x = min(max(frame.x(), available.x()), available.x() + available.width() - w - extra_w)
        y = min(max(frame.y(), available.y()), available.y() + available.height() - h - extra_h)
        if (x, y) != (frame.x(), frame.y()):
            self.move(max(x, available.x()), max(y, available.y()))

    def last_image_path(self) -> Path | None:
        value = self.qsettings.value("lastImage")
        if value and Path(str(value)).is_file():
            return Path(str(value))
        return None

    def write_settings(self) -> None:
        s = self.qsettings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("kernel", json.dumps(self.kernel_editor.state()))
        s.setValue("controls", json.dumps(self.controls.fields()))
        s.setValue("inputChannel", self._input_channel)
        s.setValue("displayAuto", self._display_auto)
        if self.image_path is not None:
            s.setValue("lastImage", str(self.image_path))
        if self.cnn_panel is not None:
            s.setValue("model", self.cnn_panel.current_model_name())
        s.sync()

    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recent") or []
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value]

    def _add_recent(self, path: Path) -> None:
        if not self._restore_enabled:
            return
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.qsettings.setValue("recent", recent[:MAX_RECENT])
        self.qsettings.setValue("lastImage", str(path))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        if not files:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for f in files:
            act = self.recent_menu.addAction(Path(f).name)
            act.setToolTip(f)
            act.triggered.connect(lambda _=False, p=f: self.open_image(p))

    def closeEvent(self, event) -> None:  # noqa: N802
        if self._restore_enabled:
            self.write_settings()
        self.scan_panel.pause()
        self.worker.shutdown(2.0)
        if self.cnn_panel is not None:
            # let the panel's background prediction land before the widgets are deleted
            self.cnn_panel.wait_until_idle(2000)
        super().closeEvent(event)

    # ================================================================ helpers
    def _per_channel_ok(self) -> bool:
        return self.image is None or self.image.ndim == 3

    def _per_channel_changed(self, on: bool) -> None:
        """Per-channel kernels are one neuron: R, G and B summed, so channels = sum."""
        if on and self.controls.channelsCombo.currentText() != "sum":
            self.controls.set_fields({"channels": "sum"}, emit=False)

    def _channels_chosen(self, text: str) -> None:
        if text != "sum" and self.kernel_editor.per_channel():
            self.kernel_editor.perChannelCheck.setChecked(False)

    def _preview_worth_it(self) -> bool:
        """Use the preview when the full result is expected to miss the PREVIEW_BUDGET_S budget.

        The cost is measured on this machine (seconds per megapixel of the last full
        results); until something was measured, every photo with a preview uses it.
        """
        if self._preview is None:
            return False
        if self._seconds_per_mpix is None:
            return True
        mpix = self.image.shape[0] * self.image.shape[1] / 1e6
        return mpix * self._seconds_per_mpix > PREVIEW_BUDGET_S

    def _preview_target(self) -> int:
        pane = self.output_pane.graphics
        dpr = max(1.0, self.devicePixelRatioF())
        visible = pane.width() * pane.height() * dpr * dpr
        return int(max(PREVIEW_PIXELS, visible))


# ==================================================================== module helpers
class _FittingScrollArea(QScrollArea):
    """A scroll area that asks for its whole widget (within its maximum width), so the
    layout gives a 7x7 kernel its room when the window has it and scrolls only when not."""

    def sizeHint(self):  # noqa: N802 - Qt's name
        hint = super().sizeHint()
        widget = self.widget()
        if widget is not None:
            hint.setWidth(min(self.maximumWidth(), widget.sizeHint().width() + 16))
        return hint


def qimage_to_pil(qimage: QImage) -> Image.Image:
    """A QImage (any format) as an RGBA PIL image (alpha is then dropped by imaging)."""
    rgba = qimage.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = rgba.width(), rgba.height()
    ptr = rgba.constBits()
    ptr.setsize(rgba.sizeInBytes())
    arr = np.frombuffer(ptr, dtype=np.uint8).reshape(h, rgba.bytesPerLine())[:, : w * 4]
    return Image.fromarray(arr.reshape(h, w, 4).copy(), "RGBA")


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A (H, W, 3) uint8 array as a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _copy_mime(mime):
    from PyQt6.QtCore import QMimeData

    copy = QMimeData()
    if mime.hasUrls():
        copy.setUrls(mime.urls())
    if mime.hasImage():
        copy.setImageData(mime.imageData())
    if mime.hasText():
        copy.setText(mime.text())
    return copy


def _json(value):
    if not value:
        return None
    try:
        return json.loads(str(value))
    except (TypeError, ValueError):
        return None

