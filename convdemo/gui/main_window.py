"""The main window: a set of views around one :class:`convdemo.lab.Lab`.

The lab holds everything the window shows (the image, the settings, the model, the inspected
pixel, the view). Every widget draws what the lab says and changes the lab, never another
widget; :meth:`MainWindow._on_lab_change` passes each change to the views that care. The
window computes nothing itself: a change of image or settings becomes a job for the one
background runner (:class:`convdemo.gui.runner.LatestWins`), and results come back by signal.

The constructor reads as a table of contents, as in Qt's application example.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QByteArray, QRect, QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QActionGroup, QGuiApplication, QImage, QKeySequence, QShortcut
from PyQt6.QtWidgets import (
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

from convdemo import imaging, kernels, limits, pipeline, resources, statefile
from convdemo.geometry import conv_placement, output_placement, receptive_field
from convdemo.gui import fonts
from convdemo.gui.controls import Controls
from convdemo.gui.inspector import InspectorPanel
from convdemo.gui.kernel_editor import KernelEditor
from convdemo.gui.lesson_panel import LessonPanel
from convdemo.gui.live_view import LiveView, live_extras
from convdemo.gui.presentation import Presentation
from convdemo.gui.qimage import to_pil, to_qimage
from convdemo.gui.runner import Context, LatestWins
from convdemo.gui.scan import ScanPanel
from convdemo.gui.views import outline
from convdemo.inspection import inspect, inspect_pool
from convdemo.lab import INPUT_CHANNELS, Change, ImageSource, Lab, LabState
from convdemo.readout import formula_tooltip, readout, too_small_message

APP_TITLE = "ConvDemo"
#: a preview is made for photos with more than twice this many pixels (or the view's pixels)
PREVIEW_PIXELS = 300_000
#: ... and shown first only when the full result is expected to miss one frame (16 ms),
#: leaving room for the display conversion and the repaint
PREVIEW_BUDGET_S = 0.012
MAX_RECENT = 8
#: (width, height) of a window frame and title bar, until the window manager says
FRAME_GUESS = (8, 40)
IMAGE_FILTER = (
    "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm);;All files (*)"
)
LAB_FILTER = f"convdemo lab (*{statefile.SUFFIX});;All files (*)"
#: QSettings keys: the lab (a state-file dict without the image data), and the window's own
SETTINGS_KEY_LAB = "lab"


@dataclass(frozen=True)
class Prepared:
    """An image ready for the window: the read-only array, its preview and its 8-bit copy."""

    array: np.ndarray = field(repr=False)
    u8: np.ndarray = field(repr=False)
    preview: np.ndarray | None = field(repr=False)
    factor: int
    source: ImageSource
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One result of the main view's job: ``stage`` is "preview" or "full"."""

    generation: int
    image: np.ndarray = field(repr=False)
    settings: pipeline.Settings
    stage: str
    result: pipeline.Result
    seconds: float
    factor: int = 1
    computed_shape: tuple = ()
    #: what the Live layout needs beyond the result (partial maps, the conv map's display)
    extras: dict = field(default_factory=dict, repr=False)
    live: str = "output"


def preview_factor(shape: tuple, target_pixels: int) -> int:
    """Integer shrink factor so that ``shape`` has about ``target_pixels`` (1 = no preview)."""
    pixels = shape[0] * shape[1]
    if pixels <= 2 * target_pixels:
        return 1
    return int(np.ceil(np.sqrt(pixels / target_pixels)))


def prepare(array: np.ndarray, source: ImageSource, notes=(), target: int = PREVIEW_PIXELS) \
        -> Prepared:
    """The work done once per image, off the GUI thread: a read-only contiguous copy, the
    preview for live edits, and the 8-bit copy the input view shows."""
    x = np.ascontiguousarray(array, dtype=np.float32)
    if x.flags.writeable:
        x = x.view()
        x.flags.writeable = False  # jobs share it with the worker thread
    factor = min(preview_factor(x.shape, target), max(1, min(x.shape[:2])))
    preview = imaging.downsample(x, factor=factor) if factor > 1 else None
    if preview is not None:
        preview.flags.writeable = False
    return Prepared(x, imaging.to_u8(x), preview, factor, source, tuple(notes))


class MainWindow(QMainWindow):
    """The convdemo window.

    Parameters
    ----------
    settings : QSettings, optional
        Where the window's state is remembered (tests pass an isolated one).
    restore : bool
        Read the remembered state (and write it at exit).
    fresh : bool
        Start from the defaults, ignoring (and keeping) the remembered lab (``--fresh``).
    """

    #: a result is in the output view: (generation, stage "preview" | "full" | "error")
    outputShown = pyqtSignal(int, str)
    #: an image is in the lab (its name)
    imageLoaded = pyqtSignal(str)
    #: an image could not be opened (one sentence)
    loadFailed = pyqtSignal(str)
    #: Save or Copy finished: (what, ok)
    exported = pyqtSignal(str, bool)
    #: nothing is computing or loading any more, everything shown (also the CNN panel)
    settled = pyqtSignal()

    def __init__(self, settings: QSettings | None = None, *, restore: bool = True,
                 fresh: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qsettings = settings if settings is not None else QSettings("convdemo", "convdemo")
        self._restore_enabled = restore
        self._fresh = fresh
        self.lab = Lab()
        self.runner = LatestWins("convdemo-compute", self)
        self.loader = LatestWins("convdemo-load", self)
        self.exporter = LatestWins("convdemo-export", self)
        self._prepared: list[Prepared] = []  # the last few images' previews and 8-bit copies
        self._seconds_per_mpix: float | None = None  # measured cost of full results
        self._generation = 0
        self._done_generation = 0  # the latest generation fully shown (or failed)
        self._shown_key = (0, 0)  # (generation, 0 preview / 1 full) in the output view
        self._submitted: tuple | None = None  # (image, settings) last sent to the runner
        self._pending_export: tuple[str, str] | None = None
        self.full_outcome: Outcome | None = None  # the last full-resolution result shown
        self.shown_outcome: Outcome | None = None
        self.last_error = ""
        self.restore_notes: list[str] = []
        self._restored_source: ImageSource | None = None
        self._loading = 0
        self._hover_conv: tuple[int, int] | None = None
        self._closed = False
        self._shown_once = False

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.create_central()
        self.create_dock()
        self.create_actions()
        self.create_menus()
        self.create_status_bar()
        self.connect_signals()
        self.resize(1280, 800)  # the size the lecture hall projector gets, unless restored
        if restore and not fresh:
            self.read_settings()
        self.fit_to_screen()  # a saved 1280x800 must not run off a 1024x768 screen
        self._show_state(self.lab.state)

    # ================================================================ construction
    def create_central(self) -> None:
        self.live_view = LiveView(self)
        self.input_pane = self.live_view.input_pane
        self.output_pane = self.live_view.output_pane
        self.field_item = outline("#ffd400", 3.0)  # receptive field, on the input
        self.input_pane.view.addItem(self.field_item)
        # with pooling: the receptive field of the conv pixel that decides (inside field_item)
        self.detail_item = outline("#00e5ff", 3.0)
        self.input_pane.view.addItem(self.detail_item)
        self.pixel_item = outline("#ffd400", 3.0)  # hovered output pixel
        self.output_pane.view.addItem(self.pixel_item)

        self.scan_panel = ScanPanel(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("modeTabs")
        self.tabs.addTab(self.live_view, "Live")
        self.tabs.addTab(self.scan_panel, "Scan mode")

        self.readout = QLabel(self)
        self.readout.setObjectName("shapeReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fonts.relative(self.readout, 1.3, bold=True)

        self.kernel_editor = KernelEditor(self.lab, self)
        self.controls = Controls(self.lab, self)
        self.inspector = InspectorPanel(self)
        self.inspector.setMinimumWidth(160)  # its tables scroll; the window must fit 1024 px

        self.bottom_row = bottom = QWidget(self)
        bottom.setObjectName("controlsRow")
        row = QHBoxLayout(bottom)
        row.setContentsMargins(0, 0, 0, 0)
        self.editor_scroll = editor_scroll = _FittingScrollArea(self)
        editor_scroll.setWidget(self.kernel_editor)
        editor_scroll.setWidgetResizable(True)
        editor_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        editor_scroll.setMinimumWidth(self.kernel_editor.sizeHint().width() + 16)
        editor_scroll.setMaximumWidth(max(260, self.kernel_editor.sizeHint().width() + 16))
        editor_scroll.setMinimumHeight(self.kernel_editor.sizeHint().height())
        row.addWidget(editor_scroll, 0)
        self.controls.setMaximumWidth(max(230, self.controls.minimumSizeHint().width()))
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
        self.lesson_panel = LessonPanel(self)
        top_layout.addWidget(self.lesson_panel)
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

            self.cnn_panel = CNNPanel(self.lab, self.cnn_dock)
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
                if isinstance(shortcut, (list, tuple)):
                    act.setShortcuts([QKeySequence(s) for s in shortcut])
                else:
                    act.setShortcut(QKeySequence(shortcut))
            if name:
                act.setObjectName(name)
            if tip:
                act.setStatusTip(tip)
            act.triggered.connect(slot)
            self.addAction(act)  # shortcuts work while the menus are closed
            return act

        self.open_act = action("&Open image…", self.open_dialog, QKeySequence.StandardKey.Open,
                               "openAction", "open a photo")
        self.paste_act = action("&Paste image", self.paste_image, QKeySequence.StandardKey.Paste,
                                "pasteAction", "paste an image (or a file path) from the clipboard")
        self.open_lab_act = action("Open &lab…", self.open_lab_dialog, "Ctrl+Shift+O",
                                   "openLabAction", "open a saved lab (.convdemo)")
        self.save_lab_act = action("Save l&ab…", self.save_lab_dialog, "Ctrl+Shift+S",
                                   "saveLabAction",
                                   "save the whole lab (image, kernel, settings, model, view)")
        self.save_act = action("&Save output…", self.save_dialog, QKeySequence.StandardKey.Save,
                               "saveAction", "save the output as PNG (as shown) or .npy (raw)")
        self.copy_act = action("&Copy output", self.copy_output, "Ctrl+Shift+C", "copyAction",
                               "copy the output image to the clipboard")
        self.export_view_act = action("Export &view as PNG (2x)…", self.export_view_dialog,
                                      "Ctrl+Shift+E", "exportViewAction",
                                      "a picture of what the main area shows, at twice the "
                                      "screen's resolution, for slides")
        self.quit_act = action("&Quit", self.close, QKeySequence.StandardKey.Quit, "quitAction")
        self.undo_act = action("&Undo", self.undo, [QKeySequence.StandardKey.Undo],
                               "undoAction", "take back the last change")
        self.redo_act = action("&Redo", self.redo, [QKeySequence("Ctrl+Shift+Z"),
                                                     QKeySequence("Ctrl+Y")],
                               "redoAction", "do again what Undo took back")
        self.reset_act = action("Reset to &defaults", self.reset_to_defaults, None,
                                "resetAction",
                                "kernel, settings, model and view back to the defaults (the "
                                "image stays)")
        self.fit_act = action("&Fit", self.fit_view, "F", "fitAction", "show the whole image")
        self.one_act = action("&1:1", self.actual_size, None, "oneToOneAction",
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
            act.triggered.connect(lambda _=False, n=name: self.set_input_channel(n))
            self.channel_group.addAction(act)
            self.channel_acts[name] = act
        self.space_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        self.space_shortcut.activated.connect(self._space)
        self.presentation = Presentation(self)
        self.export_gif_act = action("Export scan as &GIF…", self.export_gif_dialog, None,
                                     "exportGifAction",
                                     "scan mode's animation with these settings, as a GIF")

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
            act.triggered.connect(lambda _=False, p=path: self.open_image(p, sample=True))
        self.recent_menu = file_menu.addMenu("&Recent files")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        file_menu.addAction(self.paste_act)
        file_menu.addSeparator()
        file_menu.addAction(self.open_lab_act)
        file_menu.addAction(self.save_lab_act)
        file_menu.addSeparator()
        self.lesson_panel.add_to_menu(file_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.save_act)
        file_menu.addAction(self.copy_act)
        file_menu.addAction(self.export_view_act)
        file_menu.addAction(self.export_gif_act)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_act)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_act)
        edit_menu.addAction(self.redo_act)
        edit_menu.addSeparator()
        edit_menu.addAction(self.reset_act)

        view_menu = bar.addMenu("&View")
        self.view_menu = view_menu
        view_menu.addAction(self.fit_act)
        view_menu.addAction(self.one_act)
        self.presentation.add_to_menu(view_menu)
        view_menu.addSeparator()
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
        self.lab.events.connect(self._on_lab_change)
        self.runner.result.connect(self._on_outcome)
        self.runner.failed.connect(self._on_failed)
        self.runner.idle.connect(self._check_settled)
        self.loader.result.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self.exporter.result.connect(self._on_export_progress)
        self.exporter.failed.connect(lambda _tag, message: self.report_failure(message))
        self.scan_panel.speedChanged.connect(
            lambda speed: self.lab.set_view(scan_speed=float(speed)))
        # new cells are shown (and measured) on the next event-loop turn: measure after that
        self.kernel_editor.sizeChanged.connect(
            lambda _k: QTimer.singleShot(0, self._editor_resized))
        self.kernel_editor.widthChanged.connect(
            lambda: QTimer.singleShot(0, self._editor_resized))
        for pane in (self.output_pane, *self.live_view.partial_panes, self.live_view.conv_pane):
            pane.graphics.scene().sigMouseMoved.connect(
                lambda pos, p=pane: self._hovered(pos, p))
        self.input_pane.graphics.scene().sigMouseMoved.connect(self._input_hovered)
        self.tabs.currentChanged.connect(self._tab_chosen)
        if self.cnn_panel is not None:
            self.cnn_panel.idle.connect(self._check_settled)
        # Image drops land on the window wherever they are aimed: a child that accepts drops
        # (a QLineEdit takes a dropped file's path as text) would keep them from it. Qt passes
        # a drag up to the nearest ancestor that accepts drops: the window.
        for child in self.findChildren(QWidget):
            if child.acceptDrops():
                child.setAcceptDrops(False)

    # ================================================================ the lab -> views
    def _on_lab_change(self, change: Change) -> None:
        if change.message:
            self.statusBar().showMessage(change.message, 15000)
        elif change.kind in ("undo", "redo"):
            self.statusBar().showMessage(
                f"{'Undid' if change.kind == 'undo' else 'Redid'}: {change.description}.", 6000)
        self._show_state(change.new, change)

    def _show_state(self, state: LabState, change: Change | None = None) -> None:
        """Draw ``state`` in the window's own views (the editor, controls and CNN panel
        listen to the lab themselves)."""
        fields = change.fields if change is not None else frozenset({"image", "settings",
                                                                      "view", "pixel"})
        if "image" in fields:
            self._image_changed(state)
        if "view" in fields:
            view = state.view
            tab = 1 if view.tab == "scan" else 0
            if self.tabs.currentIndex() != tab:
                self.tabs.blockSignals(True)
                self.tabs.setCurrentIndex(tab)
                self.tabs.blockSignals(False)
            if tab != 1 and self.scan_panel.playing():
                self.scan_panel.pause()
            if tab == 1 and state.image is not None:
                self.scan_panel.set_source(state.image, state.settings)
            if abs(self.scan_panel.steps_per_second() - view.scan_speed) > 1e-9:
                self.scan_panel.set_steps_per_second(view.scan_speed)
            self.channel_acts[view.input_channel].setChecked(True)
            if change is None or change.old.view.input_channel != view.input_channel:
                self._show_input()
            self.live_view.set_mode(view.live)
        if fields & {"image", "settings", "view"}:
            self.schedule()
        if "pixel" in fields or "image" in fields:
            self._draw_inspection()
        self.undo_act.setEnabled(self.lab.can_undo())
        self.redo_act.setEnabled(self.lab.can_redo())
        self.undo_act.setText(f"&Undo {self.lab.undo_description()}".rstrip())
        self.redo_act.setText(f"&Redo {self.lab.redo_description()}".rstrip())

    def _image_changed(self, state: LabState) -> None:
        self.full_outcome = None
        self.shown_outcome = None
        self._submitted = None
        if state.image is None:
            self.setWindowTitle(APP_TITLE)
            return
        name = state.source.name or "image"
        self.setWindowTitle(f"{APP_TITLE} — {name}")
        self._show_input()
        self.fit_view()
        self.inspector.clear()
        self._hide_hover()
        self.imageLoaded.emit(name)

    # ================================================================ images in
    def open_dialog(self) -> None:
        source = self.lab.state.source
        start = str(Path(source.path).parent) if source.kind == "file" else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", start, IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path, *, sample: bool = False) -> None:
        """Load a photo off the GUI thread; it goes into the lab when ready
        (:attr:`imageLoaded`), or :attr:`loadFailed` says why and the current image stays."""
        path = Path(path)
        source = ImageSource("sample" if sample else "file",
                             path.name if sample else str(path.resolve()), path.name)
        target = self._preview_target()

        def job(ctx: Context) -> None:
            loaded = imaging.load_image(path, max_pixels=limits.MAX_PIXELS)
            ctx.emit(prepare(loaded.array, source, loaded.notes, target))

        self._start_loading(job, f"Opening {path.name}…", path)

    def set_image(self, array: np.ndarray, name: str, notes=(), kind: str = "generated") -> None:
        """Put a float32 (H, W) or (H, W, 3) image in 0..1 into the lab (prepared off the GUI
        thread, like a file)."""
        source = ImageSource(kind, "", name)
        target = self._preview_target()
        self._start_loading(lambda ctx: ctx.emit(prepare(array, source, notes, target)),
                            f"Preparing {name}…", None)

    def _start_loading(self, job, message: str, path: Path | None) -> None:
        self._loading += 1
        self._loading_path = path
        QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        self.statusBar().showMessage(message)
        self.loader.submit(job, tag=path)

    def _loaded_one(self) -> None:
        if self._loading:
            self._loading -= 1
            QGuiApplication.restoreOverrideCursor()

    def _on_loaded(self, prepared: Prepared) -> None:
        self._loaded_one()
        self._prepared = [p for p in self._prepared[-2:] if p.array is not prepared.array]
        self._prepared.append(prepared)
        h, w = prepared.array.shape[:2]
        kind = "×3" if prepared.array.ndim == 3 else ", grey"
        message = f"Opened {prepared.source.name} ({w}×{h}{kind})"
        if prepared.notes:
            message += ": " + "; ".join(prepared.notes)
        if prepared.source.kind == "file":
            self._add_recent(prepared.source.path)
        self.last_error = ""
        self.lab.set_image(prepared.array, prepared.source, message=message + ".")

    def _on_load_failed(self, path, message: str) -> None:
        self._loaded_one()
        self._load_failed(message)
        self._check_settled()

    def report_failure(self, message: str) -> None:
        """One sentence for the status bar (a file that could not be used)."""
        self._load_failed(message)

    def _load_failed(self, message: str) -> None:
        self.last_error = message
        kept = " The current image stays." if self.lab.image is not None else ""
        self.statusBar().showMessage(f"{message[0].upper()}{message[1:]}.{kept}"
                                     .replace("..", "."), 20000)
        self.loadFailed.emit(message)

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
                if files[0].lower().endswith(statefile.SUFFIX):
                    return self.open_lab(files[0])
                self.open_image(files[0])
                return True
        if mime.hasImage():
            qimage = mime.imageData()
            if isinstance(qimage, QImage) and not qimage.isNull():
                pil = to_pil(qimage)
                kind = "pasted" if where == "the clipboard" else "dropped"
                source = ImageSource(kind, "", f"{kind} image")
                target = self._preview_target()

                def job(ctx: Context) -> None:
                    loaded = imaging.image_from_pil(pil, max_pixels=limits.MAX_PIXELS)
                    ctx.emit(prepare(loaded.array, source, loaded.notes, target))

                self._start_loading(job, "Reading the image…", None)
                return True
        if mime.hasText():
            text = mime.text().strip()
            if text.startswith("file://"):
                text = text[7:]
            if text and "\n" not in text and len(text) < 4096 and Path(text).is_file():
                self.open_image(text)
                return True
        self._load_failed(f"{where} holds no image (copy an image or an image file, then try "
                          "again)")
        return False

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

    # ================================================================ lab files
    def open_lab_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a lab", str(Path.home()), LAB_FILTER)
        if path:
            self.open_lab(path)

    def open_lab(self, path) -> bool:
        """Replace the lab with a saved one (one undo step); one sentence when it cannot."""
        try:
            state, notes = statefile.load(path)
        except ValueError as exc:
            self._load_failed(str(exc))
            return False
        self.apply_state(state, f"open lab {Path(path).name}", notes)
        return True

    def apply_state(self, state: LabState, description: str, notes=()) -> None:
        """Put a whole state (a lab file, a lesson step) into the lab."""
        if state.image is None:  # keep the image we have
            state = state.replace(image=self.lab.image, source=self.lab.state.source)
        self.lab.load(state, description)
        if notes:
            self.statusBar().showMessage("Opened the lab; " + "; ".join(notes) + ".", 20000)

    def save_lab_dialog(self) -> None:
        source = self.lab.state.source
        stem = Path(source.name).stem or "lab"
        start = str((Path(source.path).parent if source.kind == "file" else Path.home())
                    / f"{stem}{statefile.SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self, "Save the lab", start, LAB_FILTER)
        if path:
            if not path.lower().endswith(statefile.SUFFIX):
                path += statefile.SUFFIX
            self.save_lab(path)

    def save_lab(self, path) -> bool:
        try:
            statefile.save(path, self.lab.state)
        except (OSError, ValueError) as exc:
            self.statusBar().showMessage(f"Could not save the lab: {exc}", 20000)
            return False
        self.statusBar().showMessage(f"Saved the lab to {path}", 10000)
        return True

    # ================================================================ compute
    def schedule(self) -> None:
        """Send the lab's image and settings to the runner (latest wins)."""
        state = self.lab.state
        if state.image is None:
            return
        settings = state.settings
        self.readout.setText(readout(state.image.shape, settings))
        self.readout.setToolTip(formula_tooltip(state.image.shape, settings))
        live = state.view.live
        key = (state.image, settings, live)
        if self._submitted is not None and self._submitted[0] is key[0] and \
                self._submitted[1:] == key[1:]:
            if self.scan_panel.isVisible():
                self.scan_panel.set_source(state.image, settings)
            return
        self._submitted = key
        self._generation += 1
        # the last result stays on screen (its picture), but its numbers go now: a 40 MP
        # result is 480 MB, and the new one is on its way
        self.full_outcome = None
        gen, image = self._generation, state.image
        prepared = self._prepared_for(image)
        preview = prepared.preview if self._preview_worth_it(prepared) else None
        factor = prepared.factor

        def job(ctx: Context) -> None:
            if preview is not None:
                t0 = time.perf_counter()
                result = pipeline.run(preview, settings)
                ctx.emit(Outcome(gen, image, settings, "preview", result,
                                 time.perf_counter() - t0, factor, preview.shape))
                if ctx.newer_waiting():
                    return
            t0 = time.perf_counter()
            result = pipeline.run(image, settings)
            extras = live_extras(image, settings, result, live) if live != "output" else {}
            if "display" in extras:  # the pooled map on the convolution's scale
                result = dataclasses.replace(result, display=extras["display"])
            ctx.emit(Outcome(gen, image, settings, "full", result, time.perf_counter() - t0,
                             1, image.shape, extras, live))

        self.runner.submit(job, tag=gen)
        if self.tabs.currentWidget() is self.scan_panel:
            self.scan_panel.set_source(image, settings)

    def _prepared_for(self, image: np.ndarray) -> Prepared:
        for p in self._prepared:
            if p.array is image:
                return p
        p = prepare(image, self.lab.state.source, (), self._preview_target())
        p = Prepared(image, p.u8, p.preview, p.factor, p.source)
        self._prepared = self._prepared[-2:] + [p]
        return p

    def _on_outcome(self, outcome: Outcome) -> None:
        key = (outcome.generation, 1 if outcome.stage == "full" else 0)
        if outcome.image is not self.lab.image or key <= self._shown_key:
            return  # stale: a newer result is already shown
        self._shown_key = key
        result = outcome.result
        settings = outcome.settings
        if result.empty:
            self.output_pane.show_message(too_small_message(outcome.image.shape, settings))
        else:
            if outcome.factor > 1:
                placement = output_placement(settings, outcome.computed_shape).scaled(
                    outcome.factor)
            else:
                placement = output_placement(settings, outcome.image.shape)
            self.output_pane.show_image(result.display.rgb, placement.rect(result.raw.shape))
            d = result.display
            self.output_pane.set_scale(d.vmin, d.vmax, d.mode == "diverging")
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
        if outcome.stage == "full" and outcome.live != "output":
            self.live_view.show_extras(
                outcome, lambda fn, shape: fn(settings, outcome.image.shape).rect(shape))
        else:
            self.live_view.note.setText(self.live_view.describe(settings, outcome.image))
        self.shown_outcome = outcome
        self.timing_label.setText(f"{outcome.stage} {outcome.seconds * 1000:.0f} ms")
        if outcome.stage == "full":
            mpix = outcome.image.shape[0] * outcome.image.shape[1] / 1e6
            rate = outcome.seconds / max(mpix, 1e-3)
            old = self._seconds_per_mpix
            self._seconds_per_mpix = rate if old is None else 0.5 * (old + rate)
            self.full_outcome = outcome
            self._done_generation = max(self._done_generation, outcome.generation)
            self._draw_inspection()
            self._run_pending_export()
        self.outputShown.emit(outcome.generation, outcome.stage)
        self._check_settled()

    def _on_failed(self, gen, message: str) -> None:
        self._done_generation = max(self._done_generation, gen or 0)
        if gen is not None and gen < self._generation:
            self._check_settled()
            return
        self._shown_key = (gen or 0, 1)
        self.last_error = message
        self.output_pane.show_message(f"Cannot compute this: {message}", error=True)
        self.statusBar().showMessage(f"Cannot compute: {message}", 20000)
        if self._pending_export is not None:
            what, _ = self._pending_export
            self._pending_export = None
            self.exported.emit(what, False)
        self.outputShown.emit(gen or 0, "error")
        self._check_settled()

    def is_idle(self) -> bool:
        """Nothing loading or computing, the latest result shown (and the CNN panel's).
        A closed window is idle: nothing more will come."""
        if self._closed:
            return True
        if self._loading or self.loader.busy():
            return False
        if self.lab.image is not None and self._done_generation < self._generation:
            return False
        if self.runner.busy():
            return False
        return self.cnn_panel is None or self.cnn_panel.is_idle()

    def _check_settled(self) -> None:
        if self.is_idle():
            self.settled.emit()

    def _preview_worth_it(self, prepared: Prepared) -> bool:
        """Use the preview when the full result is expected to miss one frame.

        The cost is measured on this machine (seconds per megapixel of the last full
        results); until something was measured, a photo with a preview uses it.
        """
        if prepared.preview is None:
            return False
        if self._seconds_per_mpix is None:
            return True
        mpix = prepared.array.shape[0] * prepared.array.shape[1] / 1e6
        return mpix * self._seconds_per_mpix > PREVIEW_BUDGET_S

    def _preview_target(self) -> int:
        pane = self.output_pane.graphics
        dpr = max(1.0, self.devicePixelRatioF())
        visible = pane.width() * pane.height() * dpr * dpr
        return int(max(PREVIEW_PIXELS, visible))

    # ================================================================ lab actions
    def apply_preset(self, name: str) -> None:
        change = self.lab.apply_preset(name)
        if change is None or not change.message:
            self.statusBar().showMessage(
                f"Kernel: {name} — {kernels.PRESETS[name].description}", 8000)

    def use_filter(self, kernel, bias: float, source: str = "learned filter, run on grey") \
            -> None:
        """A learned 3x3 filter and its bias, run on the grey image (see Lab.use_filter)."""
        try:
            self.lab.use_filter(kernel, bias, source)
        except ValueError as exc:
            self.statusBar().showMessage(f"Cannot use that filter: {exc}", 15000)

    def undo(self) -> None:
        if self.lab.undo() is None:
            self.statusBar().showMessage("Nothing to undo.", 4000)

    def redo(self) -> None:
        if self.lab.redo() is None:
            self.statusBar().showMessage("Nothing to redo.", 4000)

    def reset_to_defaults(self) -> None:
        self.lab.reset()

    def _editor_resized(self) -> None:
        """A 5x5 or 7x7 grid is wider: give the editor that room (the inspector gives it)."""
        self.kernel_editor.adjustSize()
        need = self.kernel_editor.sizeHint().width() + 16
        # as wide as the editor wants when there is room; on a small screen it scrolls
        self.editor_scroll.setMinimumWidth(min(need, 420))
        self.editor_scroll.setMaximumWidth(max(260, need))
        self.editor_scroll.setMinimumHeight(min(self.kernel_editor.sizeHint().height(), 420))

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
        image = self.lab.image
        if image is not None:
            h, w = image.shape[:2]
            self.input_pane.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def zoom_in(self) -> None:
        """Magnify the views (1.25 times) about their centre."""
        self._zoom(1.25)

    def zoom_out(self) -> None:
        self._zoom(1 / 1.25)

    def _zoom(self, factor: float) -> None:
        self.input_pane.view.scaleBy((1 / factor, 1 / factor))

    def show_status(self, text: str, ms: int = 10000) -> None:
        self.statusBar().showMessage(text, ms)

    def remembers(self) -> bool:
        """Whether this window writes its state to QSettings (not for screenshots, --fresh
        keeps the lab but still remembers the window's own things)."""
        return self._restore_enabled

    def apply_scale(self, scale: float) -> None:
        """The window's own fixed sizes at interface scale ``scale``."""
        self.scan_panel.canvas.set_text_scale(scale)
        for pane in (self.input_pane, self.output_pane):
            pane.set_interface_scale(scale)
        self.controls.setMaximumWidth(max(round(230 * scale),
                                          self.controls.minimumSizeHint().width()))
        self.inspector.setMinimumWidth(round(160 * min(scale, 1.5)))
        QTimer.singleShot(0, self._editor_resized)

    def actual_size(self) -> None:
        if self.lab.image is None:
            return
        vb = self.input_pane.view
        (x0, x1), (y0, y1) = vb.viewRange()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        dpr = self.devicePixelRatioF()
        w, h = vb.width() * dpr, vb.height() * dpr
        vb.setRange(xRange=(cx - w / 2, cx + w / 2), yRange=(cy - h / 2, cy + h / 2), padding=0)

    def set_input_channel(self, name: str) -> None:
        self.lab.set_view(input_channel=name)

    def _show_input(self) -> None:
        image = self.lab.image
        if image is None:
            return
        x = image
        name = self.lab.view.input_channel
        label = "Input"
        if x.ndim == 3 and name in ("R", "G", "B"):
            x = x[:, :, "RGB".index(name)]
            label += f" ({name} channel)"
        elif x.ndim == 3 and name == "grey":
            x = imaging.to_gray(x)
            label += " (grey)"
        h, w = image.shape[:2]
        self.input_pane.title.setText(f"{label} {w}×{h}")
        u8 = self._prepared_for(image).u8 if x is image else imaging.to_u8(x)
        self.input_pane.show_image(u8)

    def _tab_chosen(self, index: int) -> None:
        self.lab.set_view(tab="scan" if self.tabs.widget(index) is self.scan_panel else "live")
        if self.tabs.widget(index) is self.scan_panel and self.lab.image is not None:
            self.scan_panel.set_source(self.lab.image, self.lab.settings)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Right/Left move through a lesson's steps when nothing else wanted the keys (a
        kernel cell or the map grid takes its arrows first)."""
        if self.lesson_panel.active() and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            if event.key() == Qt.Key.Key_Right:
                self.lesson_panel.next()
                return
            if event.key() == Qt.Key.Key_Left:
                self.lesson_panel.previous()
                return
        super().keyPressEvent(event)

    def _space(self) -> None:
        if self.tabs.currentWidget() is self.scan_panel:
            self.scan_panel.toggle()

    # ================================================================ inspector
    def _hovered(self, scene_pos, pane=None) -> None:
        vb = (pane or self.output_pane).view
        if not vb.sceneBoundingRect().contains(scene_pos):
            return
        p = vb.mapSceneToView(scene_pos)
        self._inspect_point(p.x(), p.y())

    def _input_hovered(self, scene_pos) -> None:
        """The input value under the mouse, in the status bar."""
        image = self.lab.image
        if image is None:
            return
        p = self.input_pane.view.mapSceneToView(scene_pos)
        row, col = int(np.floor(p.y())), int(np.floor(p.x()))
        h, w = image.shape[:2]
        if not (0 <= row < h and 0 <= col < w):
            self.pixel_label.setText("")
            return
        v = image[row, col]
        text = (" ".join(f"{c} {x:.3f}" for c, x in zip("RGB", v, strict=True))
                if image.ndim == 3 else f"{float(v):.3f}")
        self.pixel_label.setText(f"input ({row}, {col}): {text}")

    def _inspect_point(self, x: float, y: float) -> None:
        """The output pixel under input-coordinate point (x, y) becomes the inspected one."""
        outcome = self.full_outcome
        if outcome is None or outcome.result.empty:
            return
        settings, shape = outcome.settings, outcome.image.shape
        self._hover_conv = conv_placement(settings, shape).index(x, y)
        self.lab.inspect(output_placement(settings, shape).index(x, y))
        self._draw_inspection()

    def inspect_output(self, row: int, col: int) -> bool:
        """Inspect convolution-output pixel (row, col) (pooling off), as hovering it does."""
        self._hover_conv = (row, col)
        self.lab.inspect((row, col))
        return self._draw_inspection()

    def inspect_pooled(self, row: int, col: int) -> bool:
        """Inspect pooled output pixel (row, col) (pooling on), as hovering its centre does."""
        self._hover_conv = None
        self.lab.inspect((row, col))
        return self._draw_inspection()

    def _draw_inspection(self) -> bool:
        """Outline and write out the arithmetic of the lab's inspected output pixel."""
        outcome = self.full_outcome
        pixel = self.lab.state.pixel
        if outcome is None or outcome.result.empty or pixel is None or \
                outcome.image is not self.lab.image:
            self._hide_hover()
            return False
        settings, image_shape = outcome.settings, outcome.image.shape
        conv_in = outcome.result.conv_input
        raw = outcome.result.raw
        row, col = pixel
        if not (0 <= row < raw.shape[0] and 0 <= col < raw.shape[1]):
            self._hide_hover()
            return False
        if settings.pool != "none":
            out_place = output_placement(settings, image_shape)
            pool = inspect_pool(conv_in, settings, row, col, hovered=self._hover_conv)
            # the whole pool window's receptive field, and the deciding conv pixel's inside it
            self._show_field(self.field_item, settings, image_shape,
                             ((pool.rows[0], pool.cols[0]), (pool.rows[-1], pool.cols[-1])))
            d = pool.detail
            self._show_field(self.detail_item, settings, image_shape,
                             ((d.row, d.col), (d.row, d.col)))
            self.pixel_item.setRect(out_place.x0 + col * out_place.pitch_x,
                                    out_place.y0 + row * out_place.pitch_y,
                                    out_place.pitch_x, out_place.pitch_y)
            self.pixel_item.show()
            self.inspector.show_pool(pool, settings.display)
            self.live_view.show_pool_window(conv_placement(settings, image_shape), pool.rows,
                                            pool.cols)
            return True
        self.detail_item.hide()
        placement = conv_placement(settings, image_shape)
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

    def _show_field(self, item, settings, image_shape, rows_cols) -> None:
        """Outline on the input the input cells read by conv pixels rows x cols."""
        (r0, c0), (r1, c1) = rows_cols
        rows0, cols0 = receptive_field(settings, image_shape, r0, c0)
        rows1, cols1 = receptive_field(settings, image_shape, r1, c1)
        item.setRect(float(cols0[0]), float(rows0[0]), float(cols1[-1] - cols0[0] + 1),
                     float(rows1[-1] - rows0[0] + 1))
        item.show()

    def _hide_hover(self) -> None:
        self.field_item.hide()
        self.detail_item.hide()
        self.pixel_item.hide()
        self.live_view.window_item.hide()

    # ================================================================ export
    def _full_ready(self) -> bool:
        out = self.full_outcome
        return out is not None and out.generation == self._generation and \
            out.image is self.lab.image

    def output_raw(self) -> np.ndarray | None:
        """The full-resolution result of the lab's current settings, if it is shown."""
        if not self._full_ready() or self.full_outcome.result.empty:
            return None
        return self.full_outcome.result.raw

    def save_dialog(self) -> None:
        if self.lab.image is None:
            self.statusBar().showMessage("There is no output to save yet.", 8000)
            return
        source = self.lab.state.source
        stem = Path(source.name).stem or "output"
        start = str((Path(source.path).parent if source.kind == "file" else Path.home())
                    / f"{stem}-output.png")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save the output", start,
            "PNG image, as displayed (*.png);;NumPy array, raw float32 (*.npy)")
        if path:
            if chosen.startswith("NumPy") and not path.lower().endswith(".npy"):
                path += ".npy"
            self.save_output(path)

    def save_output(self, path) -> bool | None:
        """Save the output (PNG as shown, ``.npy`` raw). Now if the full result is shown,
        else as soon as it is (None is returned then); :attr:`exported` tells either way."""
        return self._export(("save", str(path)))

    def copy_output(self) -> bool | None:
        """Copy the output picture to the clipboard (now, or when the result is ready)."""
        return self._export(("copy", ""))

    def _export(self, request: tuple[str, str]) -> bool | None:
        if self.lab.image is None:
            self.statusBar().showMessage(f"There is no output to {request[0]} yet.", 8000)
            self.exported.emit(request[0], False)
            return False
        if self._full_ready():
            return self._do_export(request)
        self._pending_export = request
        self.statusBar().showMessage(
            f"{'Saving' if request[0] == 'save' else 'Copying'} as soon as the full result is "
            "ready…")
        return None

    def _run_pending_export(self) -> None:
        if self._pending_export is not None and self._full_ready():
            request, self._pending_export = self._pending_export, None
            self._do_export(request)

    def _do_export(self, request: tuple[str, str]) -> bool:
        what, path = request
        result = self.full_outcome.result
        mode = self.full_outcome.settings.display
        ok = False
        if what == "copy":
            if result.empty:
                self.statusBar().showMessage("There is no output picture to copy.", 8000)
            else:
                QGuiApplication.clipboard().setImage(to_qimage(result.display.rgb))
                self.statusBar().showMessage("Copied the output image to the clipboard.", 8000)
                ok = True
        else:
            try:
                imaging.save_output(path, result.raw, mode)
            except (OSError, ValueError) as exc:
                self.statusBar().showMessage(f"Could not save {Path(path).name}: {exc}", 20000)
            else:
                kind = "raw float32 values" if path.lower().endswith(".npy") else \
                    f"{mode} display"
                self.statusBar().showMessage(f"Saved the output ({kind}) to {path}", 10000)
                ok = True
        self.exported.emit(what, ok)
        return ok

    def export_view_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the view", str(Path.home() /
                                              "convdemo-view.png"), "PNG image (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self.export_view(path)

    def export_view(self, path, scale: float = 2.0) -> bool:
        """Save what the main area shows (the Live views or scan mode) as a PNG at ``scale``
        times the screen's resolution (written atomically)."""
        from PyQt6.QtCore import QBuffer, QIODevice
        from PyQt6.QtGui import QColor, QPixmap

        from convdemo import fileio

        widget = self.tabs.currentWidget()
        pixmap = QPixmap(round(widget.width() * scale), round(widget.height() * scale))
        pixmap.setDevicePixelRatio(scale)
        pixmap.fill(QColor("white"))
        widget.render(pixmap)
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not pixmap.save(buffer, "PNG"):
            self.show_status("Could not make the picture of the view.", 15000)
            return False
        data = bytes(buffer.data())
        try:
            fileio.atomic_write(path, lambda fh: fh.write(data))
        except OSError as exc:
            self.show_status(str(exc), 20000)
            return False
        self.show_status(f"Saved the view ({pixmap.width()}×{pixmap.height()}) to {path}")
        return True

    def export_gif_dialog(self) -> None:
        if self.lab.image is None:
            self.show_status("Open an image first.")
            return
        source = self.lab.state.source
        stem = Path(source.name).stem or "scan"
        path, _ = QFileDialog.getSaveFileName(self, "Export scan as GIF",
                                              str(Path.home() / f"{stem}-scan.gif"),
                                              "GIF animation (*.gif)")
        if path:
            if not path.lower().endswith(".gif"):
                path += ".gif"
            self.export_gif(path)

    def export_gif(self, path) -> None:
        """Write scan mode's animation with the lab's image and settings, off the GUI thread
        (the status bar counts the frames; :attr:`exported` says "gif" when done)."""
        from convdemo import scan_export

        image, settings = self.lab.image, self.lab.settings

        def job(ctx: Context) -> None:
            def progress(done: int, total: int) -> bool:
                ctx.emit(("progress", done, total))
                return not ctx.newer_waiting()

            info = scan_export.write_gif(image, settings, path, progress=progress)
            ctx.emit(("done", info))

        self.show_status("Writing the scan as a GIF…")
        self.exporter.submit(job, tag=str(path))

    def _on_export_progress(self, message) -> None:
        if message[0] == "progress":
            _, done, total = message
            self.show_status(f"Writing the scan as a GIF: frame {done} of {total}…")
            return
        info = message[1]
        if info is None:
            self.show_status("The GIF was not written.")
            self.exported.emit("gif", False)
            return
        note = f", every {info.every}th step shown" if info.every > 1 else ""
        self.show_status(f"Wrote {info.path} ({info.frames} frames{note}, "
                         f"{info.bytes / 1e6:.2f} MB).", 20000)
        self.exported.emit("gif", True)

    # ================================================================ settings
    def read_settings(self) -> None:
        """Restore the window and the lab. Every value is checked: a bad one is dropped
        (the default stays) and the status bar says so; nothing here can stop the start."""
        s = self.qsettings
        notes: list[str] = []
        geometry = s.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            if not self.restoreGeometry(geometry):
                notes.append("the window's size and place")
        state = s.value("windowState")
        if isinstance(state, QByteArray) and not state.isEmpty():
            if not self.restoreState(state):
                notes.append("the docks' layout")
        problem = self.presentation.restore_scale(s)
        if problem:
            notes.append(problem)
        raw = s.value(SETTINGS_KEY_LAB)
        if raw is not None:
            try:
                d = json.loads(str(raw), parse_constant=_no_constant)
                restored, problems = statefile.state_from_dict(
                    d, lenient=True, where="the saved lab", load_image=False)
                notes.extend(problems)
                source = d.get("image", {}).get("source") if isinstance(d, dict) and \
                    isinstance(d.get("image"), dict) else None
                if isinstance(source, dict) and source.get("kind") in ("file", "sample") and \
                        isinstance(source.get("path"), str) and len(source["path"]) < 4096:
                    self._restored_source = ImageSource(source["kind"], source["path"],
                                                        Path(source["path"]).name)
                self.lab.load(restored.replace(image=None), "restore")
                self.lab.clear_history()
            except (ValueError, TypeError, RecursionError, AttributeError) as exc:
                notes.append(f"the saved lab ({str(exc).splitlines()[0] if str(exc) else exc})")
        self.restore_notes = notes
        if notes:
            self.statusBar().showMessage(
                "Some remembered settings could not be restored and are back to their "
                f"defaults: {'; '.join(notes)}. (convdemo --fresh starts from the defaults.)",
                30000)

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
        if extra_h == 0 and not self.isVisible():
            # no frame yet (not shown): leave room for a title bar and borders; showEvent
            # fits again once the window manager has said how big they are
            extra_w, extra_h = FRAME_GUESS
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

    def last_image(self) -> tuple[Path, bool] | None:
        """The remembered image, (path, is_sample), if it still exists."""
        src = self._restored_source
        if src is None:
            return None
        if src.kind == "sample":
            path = resources.assets_dir() / "samples" / Path(src.path).name
            return (path, True) if path.is_file() else None
        path = Path(src.path)
        return (path, False) if path.is_file() else None

    def write_settings(self) -> None:
        s = self.qsettings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        if not self._fresh:
            d = statefile.state_to_dict(self.lab.state, embed_image=False)
            image = d.get("image")
            if image is not None and image["source"]["kind"] not in ("file", "sample"):
                d.pop("image")  # a pasted image is not kept between runs
            elif image is not None:
                image.pop("png", None)
                image.pop("npy", None)
            s.setValue(SETTINGS_KEY_LAB, json.dumps(d))
        s.sync()

    def recent_files(self) -> list[str]:
        value = self.qsettings.value("recent") or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return []
        return [str(v) for v in value if isinstance(v, str) and len(v) < 4096][:MAX_RECENT]

    def _add_recent(self, path: str) -> None:
        if not self._restore_enabled:
            return
        recent = [path] + [p for p in self.recent_files() if p != path]
        self.qsettings.setValue("recent", recent[:MAX_RECENT])

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        if not files:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for f in files:
            act = self.recent_menu.addAction(Path(f).name)
            act.setToolTip(f)
            act.triggered.connect(lambda _=False, p=f: self.open_image(p))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            # the frame (title bar) is known only now: fit again, title bar included
            QTimer.singleShot(0, self._fit_with_frame)
            QTimer.singleShot(300, self._fit_with_frame)

    def _fit_with_frame(self) -> None:
        # only a real window manager's frame (offscreen windows, for tests and screenshots,
        # are sized by the caller and may be larger than the virtual screen)
        if QGuiApplication.platformName() != "offscreen" and \
                self.frameGeometry().height() > self.geometry().height():
            self.fit_to_screen()

    def closeEvent(self, event) -> None:  # noqa: N802
        if self._restore_enabled:
            self.write_settings()
        self._closed = True
        self.scan_panel.pause()
        self.runner.shutdown(2.0)
        self.loader.shutdown(2.0)
        self.exporter.shutdown(2.0)
        if self.cnn_panel is not None:
            self.cnn_panel.shutdown()
        super().closeEvent(event)


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


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")
