"""The CNN side panel: what a small trained CNN sees in the photo (or a drawing), and thinks.

Layout, top to bottom (fits a dock from 320 px wide with no horizontal scroll bar):

* fixed at the top: the model selector, a "Model summary" button and a status line for
  problems; the input, in two square tabs ("Photo": the main window's image; "Draw": a
  canvas, with Clear beside the tabs), as wide as the dock leaves beside the class
  probabilities and, under them, the 28x28 image the model actually sees; for a photo, one
  quiet line saying the model only knows its ten classes;
* scrolling below it (only this part scrolls, so clicking a map never hides the top): the
  feature maps of a convolution layer (``featureMapGrid``), on one viridis scale; then the
  inspector: the clicked map enlarged, its learned 3x3 filter and bias, and "Use this
  filter", which puts them into the lab (:meth:`convdemo.lab.Lab.use_filter`).

The panel is a view of the lab: the model, layer, inspected map, Photo/Draw choice and the
drawing live there. Work happens off the GUI thread. A frozen :class:`Request` goes to the
project's one background runner (:class:`convdemo.gui.runner.LatestWins`): preprocessing a
12 MP photo takes about 150 ms here (a 1080p one 18 ms, the 280x280 drawing 1 ms; the CNN
forward well under 1 ms), so it must not run on the GUI thread. While one request runs, a
newer one replaces any older waiting one, so at most one runs and one waits. Results,
including errors, come back by a Qt signal.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QRectF, QSize, Qt, QTimer
from PyQt6.QtCore import pyqtSignal as Signal
from PyQt6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPaintEvent
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from convdemo import imaging
from convdemo import model as cnn
from convdemo import preprocess as prep
from convdemo.colormaps import tint as tint_of
from convdemo.colormaps import to_viridis
from convdemo.gui import fonts
from convdemo.gui.draw_canvas import DrawCanvas
from convdemo.gui.feature_maps import ColourBar, FeatureMapGrid, PixelView
from convdemo.gui.runner import LatestWins
from convdemo.gui.summary_dialog import SummaryDialog
from convdemo.lab import Change, ImageSource, Lab
from convdemo.labels import DIGITS, FASHION

#: what each shipped model is, for the selector's tooltips
MODEL_DESCRIPTIONS = {
    "digits": "the lecture's CNN (1 conv layer, 32 filters) trained on MNIST digits",
    "digits-deep": "a deeper CNN (2 conv layers: 32 and 64 filters) trained on MNIST digits",
    "fashion": "the lecture's CNN (1 conv layer, 32 filters) trained on Fashion-MNIST",
    "fashion-deep": "a deeper CNN (2 conv layers) trained on Fashion-MNIST",
}
#: longest side of the photo thumbnail made by the worker, in pixels
THUMB_SIDE = 320
#: the Photo / Draw tab pages are square: as wide as the dock allows beside the prediction,
#: between these sides (at 320 px the dock still has room for the fashion class names)
CANVAS_MIN = 120
CANVAS_MAX = 300
SEEN_SIDE = 84  # the 28x28 input, 3 screen pixels per pixel
INSPECT_SIDE = 96  # the enlarged map
MARGIN = 6  # left and right margin of the panel's parts
NOTHING_TO_SEE = "Nothing to see: the picture is blank. Draw a digit or open a photo."


# ---------------------------------------------------------------------------- the work
@dataclass(frozen=True)
class Request:
    """One computation: an image (never modified after submission) and a model reference."""

    seq: int
    model_ref: str
    image: np.ndarray | None = field(repr=False)
    source: str  # "photo" or "draw"


@dataclass(frozen=True)
class Result:
    """What the worker found. ``error`` is set for unexpected failures (shown in the panel)."""

    request: Request
    x28: np.ndarray | None = None  # float32 (28, 28), what the model sees
    blank: bool = False
    thumb: np.ndarray | None = None  # uint8 (h, w, 3) thumbnail of the photo
    model: object | None = None  # convdemo.model.Model
    model_error: str | None = None
    activations: dict | None = None  # layer name -> (1, ...) float32
    probabilities: np.ndarray | None = None  # float32 (10,)
    seconds_preprocess: float = 0.0
    seconds_forward: float = 0.0
    error: str | None = None


def model_file(ref: str) -> Path:
    """The .npz behind a model reference (a shipped name or a path)."""
    return Path(cnn.resolve(ref))


def model_file_exists(ref: str) -> bool:
    try:
        return model_file(ref).is_file()
    except ValueError:
        return False


def weights_message(ref: str, problem: str | None = None) -> str:
    """The sentence shown when a model cannot be used."""
    name = ref if ref in cnn.SHIPPED else Path(ref).name
    try:
        path = model_file(ref)
    except ValueError as exc:
        return f"{exc}. The rest of the app works."
    if problem is None:
        return f"The {name} model's weights are missing ({path}): the rest of the app works."
    return f"The {name} model's weights could not be loaded ({problem}): the rest of the app works."


class Engine:
    """The worker-side state: loaded models and the last preprocessed photo.

    Only ever used from the worker thread, so it needs no locks.
    """

    def __init__(self) -> None:
        self._models: dict[str, tuple[object, object]] = {}  # ref -> (file stamp, model|error)
        self._last_image: np.ndarray | None = None
        self._last_x28: np.ndarray | None = None
        self._last_thumb: np.ndarray | None = None

    def model(self, ref: str):
        """(model, None) or (None, the sentence saying why not). Reloads a changed file."""
        try:
            path = model_file(ref)
        except ValueError as exc:
            return None, weights_message(ref, str(exc))
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            self._models.pop(ref, None)
            return None, weights_message(ref)
        cached = self._models.get(ref)
        if cached is None or cached[0] != stamp:
            try:
                cached = (stamp, cnn.load(ref))
            except ValueError as exc:
                cached = (stamp, weights_message(ref, str(exc)))
            self._models[ref] = cached
        value = cached[1]
        return (None, value) if isinstance(value, str) else (value, None)

    def run(self, req: Request) -> Result:
        try:
            return self._run(req)
        except Exception:  # shown in the panel, never swallowed
            return Result(req, error=traceback.format_exc(limit=4))

    def _run(self, req: Request) -> Result:
        t0 = time.perf_counter()
        x28 = thumb = None
        if req.image is not None:
            if req.image is self._last_image:
                x28, thumb = self._last_x28, self._last_thumb
            else:
                x28 = prep.preprocess(req.image)
                thumb = make_thumbnail(req.image) if req.source == "photo" else None
                self._last_image, self._last_x28, self._last_thumb = req.image, x28, thumb
        t1 = time.perf_counter()
        blank = x28 is None or prep.is_blank(x28)
        model, problem = self.model(req.model_ref)
        acts = probs = None
        if model is not None and x28 is not None and not blank:
            acts = model.activations(x28[np.newaxis])
            probs = acts[model.layer_names[-1]][0]
        t2 = time.perf_counter()
        return Result(
            req, x28=x28, blank=blank, thumb=thumb, model=model, model_error=problem,
            activations=acts, probabilities=probs,
            seconds_preprocess=t1 - t0, seconds_forward=t2 - t1,
        )


def make_thumbnail(image: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """uint8 (h, w, 3) copy of ``image`` with its longer side at most ``side`` (box filter)."""
    step = max(1, int(np.ceil(max(image.shape[:2]) / side)))
    small = imaging.downsample(np.asarray(image, np.float32), factor=step) \
        if step > 1 and min(image.shape[:2]) >= step else np.asarray(image, np.float32)
    if small.ndim == 2:
        small = np.repeat(small[:, :, None], 3, axis=2)
    return np.ascontiguousarray(imaging.to_u8(small[..., :3]))


# ------------------------------------------------------------------------- the widgets
class ProbabilityChart(QWidget):
    """Ten horizontal bars, each class's name written over its bar and the percentage at the
    end; the top class in bold (``probabilityChart``). The names sit on the bars, so the
    chart is as narrow for "T-shirt/top" as for "7" and the drawing beside it keeps its size
    when the model changes."""

    BAR = QColor(168, 196, 232)
    TOP = QColor(96, 156, 240)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probabilityChart")
        self.labels: tuple[str, ...] = ()
        self.probabilities: np.ndarray | None = None
        self._message = "No prediction yet."
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_probabilities(self, labels, probabilities: np.ndarray) -> None:
        probabilities = np.asarray(probabilities, np.float32)
        if probabilities.shape != (len(labels),):
            raise ValueError(f"{len(labels)} labels but probabilities of shape "
                             f"{probabilities.shape}")
        if tuple(labels) != self.labels:
            self.labels = tuple(labels)
            self.updateGeometry()  # the names' width sets the minimum width
        self.probabilities = probabilities
        self._message = ""
        top = self.top_index()
        self.setToolTip(f"The model's answer: {self.labels[top]} "
                        f"({probabilities[top]:.1%}).")
        self.update()

    def set_message(self, text: str, labels=None) -> None:
        if labels is not None and tuple(labels) != self.labels:
            self.labels = tuple(labels)
            self.updateGeometry()
        self.probabilities = None
        self._message = text
        self.setToolTip("")
        self.update()

    def message(self) -> str:
        return self._message

    def top_index(self) -> int | None:
        return None if self.probabilities is None else int(np.argmax(self.probabilities))

    def row_font(self, i: int) -> QFont:
        """The font of row ``i``: bold for the top class."""
        font = QFont(self.font())
        font.setBold(i == self.top_index())
        return font

    def sizeHint(self) -> QSize:
        # rows a little taller than the text: the panel's top must leave room for the maps
        return QSize(self.minimum_width(), self.fontMetrics().height() * 12)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.minimum_width(), self.fontMetrics().height() * 10)

    def minimum_width(self, labels=None) -> int:
        """The narrowest the chart can be: "100.0%" and a bar with a short name on it (longer
        names are elided, with the whole name in the tooltip). The same for every model."""
        _, pct_w = self._text_widths(labels)
        return int(pct_w + QFontMetricsF(self.font()).horizontalAdvance("Dress") + 12)

    def _text_widths(self, labels=None) -> tuple[float, float]:
        bold = QFont(self.font())
        bold.setBold(True)
        fm = QFontMetricsF(bold)
        labels = labels or self.labels or tuple(str(i) for i in range(10))
        return (max(fm.horizontalAdvance(s) for s in labels) + 6,
                fm.horizontalAdvance("100.0%") + 4)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        text = self.palette().windowText().color()
        if self.probabilities is None:
            painter.setPen(text)
            painter.drawText(QRectF(self.rect()).adjusted(6, 6, -6, -6),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._message)
            painter.end()
            return
        n = len(self.labels)
        _, pct_w = self._text_widths()
        row_h = self.height() / n
        bar_w = max(10.0, self.width() - pct_w)
        track = self.palette().alternateBase().color()
        ink = QColor(20, 20, 20)
        for i, (name, p) in enumerate(zip(self.labels, self.probabilities, strict=True)):
            y = i * row_h
            is_top = i == self.top_index()
            font = self.row_font(i)
            painter.setFont(font)
            bar_h = min(row_h * 0.9, QFontMetricsF(font).height() + 4)
            top = y + (row_h - bar_h) / 2
            painter.fillRect(QRectF(0, top, bar_w, bar_h), track)
            painter.fillRect(QRectF(0, top, bar_w * float(p), bar_h),
                             self.TOP if is_top else self.BAR)
            painter.setPen(ink)
            shown = QFontMetricsF(font).elidedText(name, Qt.TextElideMode.ElideRight,
                                                    bar_w - 6)
            painter.drawText(QRectF(4, y, bar_w - 6, row_h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, shown)
            painter.setPen(text)
            painter.drawText(QRectF(bar_w, y, pct_w, row_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"{p:.1%}")
        painter.end()


class FilterView(QWidget):
    """A 3x3 filter as readable numbers on a blue-white-red tint, and its bias."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self.cells: list[list[QLabel]] = []
        for r in range(3):
            row = []
            for c in range(3):
                cell = QLabel("", self)
                cell.setObjectName(f"filterCell_{r}_{c}")
                # the panel's own size (the system fixed font can be 12 pt: three cells
                # would then not fit beside the enlarged map in a 320 px dock)
                fonts.relative(cell, 1.0, mono=True)
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                cell.setMinimumWidth(cell.fontMetrics().horizontalAdvance("-0.000") + 8)
                cell.setAutoFillBackground(True)
                grid.addWidget(cell, r, c)
                row.append(cell)
            self.cells.append(row)
        self.bias = QLabel("", self)
        self.bias.setObjectName("filterBias")
        fonts.relative(self.bias, 1.0, mono=True)  # placed beside "Use this filter"

    def set_filter(self, kernel: np.ndarray | None, bias: float | None) -> None:
        for row in self.cells:  # as wide as "-0.000" at the font in force (interface scale)
            for cell in row:
                cell.setMinimumWidth(cell.fontMetrics().horizontalAdvance("-0.000") + 8)
        scale = 0.0 if kernel is None else float(np.abs(kernel).max())
        for r in range(3):
            for c in range(3):
                cell = self.cells[r][c]
                if kernel is None:
                    cell.setText("")
                    cell.setStyleSheet("")
                    continue
                v = float(kernel[r, c])
                tint = QColor(*tint_of(v, scale))
                cell.setText(f"{v:+.3f}")
                cell.setStyleSheet(f"background: {tint.name()}; color: black; padding: 2px;")
        self.bias.setText("" if bias is None else f"bias {bias:+.3f}")


class ElidedLabel(QLabel):
    """One line of text that never widens its parent: cut with "…" when there is no room
    (the whole text is then in the tooltip)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def set_full_text(self, text: str, tooltip: str = "") -> None:
        self._full, self._tip = text, tooltip
        self._elide()

    def full_text(self) -> str:
        return self._full

    def is_elided(self) -> bool:
        return self.text() != self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                              self.contentsRect().width())
        self.setText(shown)
        tip = self._tip or (self._full if shown != self._full else "")
        self.setToolTip(tip)


def photo_hint(labels_: tuple[str, ...]) -> tuple[str, str]:
    """(one quiet line, its tooltip) for a prediction on a photo: what the model knows."""
    if tuple(labels_) == DIGITS:
        what, long = "handwritten digits", "handwritten digits (white on black, centred)"
    elif tuple(labels_) == FASHION:
        what, long = "10 kinds of clothing", "ten kinds of clothing (Fashion-MNIST)"
    else:
        what, long = "its 10 classes", "its ten classes"
    line = f"Knows only {what}: other pictures get a guess."
    tip = (f"This model has only ever seen {long}. On any other picture it still has to pick "
           "one of its ten classes, so its answer there is a guess, however sure the "
           "percentage looks.")
    return line, tip


# ---------------------------------------------------------------------------- the panel
class CNNPanel(QWidget):
    """See :mod:`convdemo.gui.cnn_panel`. objectName ``cnnPanel``.

    A view of ``lab``: the model, the layer, the inspected map, the Photo/Draw choice and the
    drawing all live in the lab; "Use this filter" calls :meth:`convdemo.lab.Lab.use_filter`.
    """

    #: nothing waits or runs any more (the latest picture's result is shown)
    idle = Signal()

    def __init__(self, lab: Lab | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cnnPanel")
        self.lab = lab if lab is not None else Lab()
        self._engine = Engine()
        self._runner = LatestWins("convdemo-cnn", self)
        self._runner.result.connect(self._show_result)
        self._runner.failed.connect(self._on_failed)
        self._runner.idle.connect(self.idle)
        self._seq = 0
        self._shown_seq = 0
        self._model = None  # the Model of the last result, if it loaded
        self._result: Result | None = None
        self._chosen: tuple[np.ndarray, float] | None = None
        self._sent_note = ""
        self._error: str | None = None
        self._drawing_live = False  # a stroke in progress: predict from the canvas itself
        self._drawing = False  # drawing the lab: widget signals are not user actions
        self._closed = False
        self._scale = 1.0

        self._create_widgets()
        self._create_layout()
        self._connect()
        self.lab.events.connect(self._on_lab_change)
        self._drawing = True
        self._show_lab(self.lab.state, None)
        self._drawing = False

    # ----------------------------------------------------------------- construction
    def _create_widgets(self) -> None:
        self.model_combo = QComboBox(self)
        self.model_combo.setObjectName("modelCombo")
        for name in cnn.SHIPPED:
            self.model_combo.addItem(name, name)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, MODEL_DESCRIPTIONS.get(name, name),
                Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setToolTip("Which trained CNN looks at the picture.")
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(8)
        self.summary_button = QPushButton("Model summary", self)
        self.summary_button.setObjectName("modelSummaryButton")
        self.summary_button.setToolTip("The layers and parameter counts, Keras style.")

        self.status = QLabel("", self)
        self.status.setObjectName("cnnStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setStyleSheet(
            "QLabel { background: #fff3cd; color: #5a4300; border: 1px solid #e0c36a;"
            " border-radius: 3px; padding: 4px; }")
        self.status.hide()

        self.photo_view = PixelView(self, side=150)
        self.photo_view.setObjectName("photoThumbnail")
        self.photo_view.set_message("No photo yet: open one (Ctrl+O) or use the Draw tab.")
        self.canvas = DrawCanvas(self)
        self.input_tabs = QTabWidget(self)
        self.input_tabs.setObjectName("cnnInputTabs")
        self.input_tabs.setDocumentMode(True)
        self.input_tabs.addTab(self.photo_view, "Photo")
        self.input_tabs.addTab(self.canvas, "Draw")
        self.input_tabs.tabBar().setUsesScrollButtons(False)
        # Clear sits in the tab row, beside the tabs: never over the canvas, where people draw
        self.clear_button = QToolButton(self.input_tabs)
        self.clear_button.setObjectName("clearDrawingButton")
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Erase the drawing.")
        self.input_tabs.setCornerWidget(self.clear_button, Qt.Corner.TopRightCorner)
        self.clear_button.hide()  # on the Draw tab only

        self.seen_view = PixelView(self, side=120)
        self.seen_view.setObjectName("modelInputView")
        self.seen_view.setToolTip(
            "The 28×28 picture the model gets: grey, white on black, the content scaled to "
            "20 px and centred by its centre of mass (how MNIST was made).")
        self.seen_caption = QLabel("Model sees:", self)
        self.seen_caption.setToolTip(self.seen_view.toolTip())

        self.chart = ProbabilityChart(self)
        self.timing = QLabel("", self)
        self.timing.setObjectName("cnnTiming")
        fonts.relative(self.timing, 0.9)
        self.timing.setStyleSheet("color: palette(mid);")
        self.timing.setWordWrap(True)
        self.timing.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.photo_hint = ElidedLabel(self)
        self.photo_hint.setObjectName("photoHint")
        fonts.relative(self.photo_hint, 0.85)
        quiet = self.photo_hint.palette()
        ink = quiet.color(quiet.ColorRole.WindowText)
        ink.setAlphaF(0.7)
        quiet.setColor(quiet.ColorRole.WindowText, ink)
        self.photo_hint.setPalette(quiet)
        self.photo_hint.hide()  # for photos only

        self.layer_combo = QComboBox(self)
        self.layer_combo.setObjectName("layerCombo")
        self.layer_combo.setToolTip("Which convolution layer's maps to show.")
        self.layer_combo.setPlaceholderText("no model loaded")
        self.layer_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(10)
        self.layer_combo.setEnabled(False)
        self.sort_check = QCheckBox("Sort by activation", self)
        self.sort_check.setObjectName("sortMapsCheck")
        self.sort_check.setToolTip("Order the maps by mean activation, most active first.")
        self.colour_bar = ColourBar(self)
        self.colour_bar.hide()  # until there are maps to give it a range
        self.grid = FeatureMapGrid(self)

        self.inspected_view = PixelView(self, side=INSPECT_SIDE, square=True)
        self.inspected_view.setObjectName("inspectedMap")
        self.inspect_input = PixelView(self, side=SEEN_SIDE)
        self.inspect_input.setObjectName("inspectInput")
        self.inspect_input.setToolTip("The 28×28 input the filter slides over.")
        self.inspected_view.set_message("Click a map")
        self.inspect_title = QLabel("Click a map to see the 3×3 filter it learned.", self)
        self.inspect_title.setObjectName("inspectTitle")
        self.inspect_title.setWordWrap(True)
        # two lines reserved (a first-layer map's title; a slice's takes three): the inspector
        # does not jump as the title changes from "Click a map" to a map's
        self.inspect_title.setMinimumHeight(2 * self.inspect_title.fontMetrics().lineSpacing())
        self.inspect_title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.filter_view = FilterView(self)
        self.use_button = QPushButton("Use this filter", self)
        self.use_button.setObjectName("useFilterButton")
        self.use_button.setEnabled(False)
        self.use_button.setToolTip("Load this learned filter and its bias into the kernel "
                                   "editor, to see what it does to your photo.")
        self.use_note = QLabel("", self)
        self.use_note.setObjectName("useFilterNote")
        self.use_note.setWordWrap(True)
        fonts.relative(self.use_note, 0.9)
        self.use_note.hide()

    def _create_layout(self) -> None:
        """The top (model, input, prediction) stays put; only the maps and inspector scroll.

        So clicking a map can bring the inspector into view without the model selector and
        the Photo/Draw tabs scrolling away. Every part fits a 320 px dock: no horizontal
        scroll bar (tested).
        """
        head = QWidget(self)
        head.setObjectName("cnnPanelHead")
        v = QVBoxLayout(head)
        v.setContentsMargins(MARGIN, 4, MARGIN, 2)
        v.setSpacing(4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Model:", head))
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.summary_button)
        v.addLayout(top)
        v.addWidget(self.status)

        # the input (tabs, square, as big as the width allows) | prediction, what the model sees
        middle = QHBoxLayout()
        middle.setSpacing(MARGIN)
        self.input_tabs.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        middle.addWidget(self.input_tabs, 1, Qt.AlignmentFlag.AlignTop)
        right = QVBoxLayout()
        right.setSpacing(2)
        right.addWidget(QLabel("<b>Prediction</b>", head))
        right.addWidget(self.chart, 1)
        right.addWidget(self.seen_caption)
        self.seen_view.setFixedSize(SEEN_SIDE, SEEN_SIDE)
        right.addWidget(self.seen_view)
        middle.addLayout(right, 0)
        v.addLayout(middle)
        v.addWidget(self.photo_hint)
        self._middle, self._right = middle, right

        content = QWidget(self)
        content.setObjectName("cnnPanelContent")
        v = QVBoxLayout(content)
        v.setContentsMargins(MARGIN, 2, MARGIN, 4)
        v.setSpacing(5)
        maps_head = QHBoxLayout()
        maps_head.addWidget(QLabel("<b>Feature maps</b>", content))
        maps_head.addWidget(self.layer_combo, 1)
        v.addLayout(maps_head)
        maps_opts = QHBoxLayout()
        maps_opts.addWidget(self.sort_check)
        maps_opts.addStretch(1)
        self.colour_bar.setMinimumWidth(80)
        self.colour_bar.setMaximumWidth(130)
        maps_opts.addWidget(self.colour_bar, 1)
        v.addLayout(maps_opts)
        v.addWidget(self.grid)

        # the inspector: title; the 28x28 input ∗ the filter (and its bias); the button and
        # its note; the map, large, as wide as the dock
        inspect = QGridLayout()
        inspect.setHorizontalSpacing(6)
        inspect.setVerticalSpacing(3)
        inspect.addWidget(self.inspect_title, 0, 0, 1, 3)
        self.inspect_input.setFixedSize(SEEN_SIDE, SEEN_SIDE)
        inspect.addWidget(self.inspect_input, 1, 0, 2, 1, Qt.AlignmentFlag.AlignTop)
        self.inspect_star = star = QLabel("∗", self)
        fonts.relative(star, 1.6, bold=True)
        inspect.addWidget(star, 1, 1, 2, 1, Qt.AlignmentFlag.AlignCenter)
        inspect.addWidget(self.filter_view, 1, 2, Qt.AlignmentFlag.AlignLeft)
        inspect.addWidget(self.filter_view.bias, 2, 2, Qt.AlignmentFlag.AlignTop)
        inspect.addWidget(self.use_button, 3, 0, 1, 3, Qt.AlignmentFlag.AlignLeft)
        inspect.addWidget(self.use_note, 4, 0, 1, 3)
        inspect.addWidget(self.inspected_view, 5, 0, 1, 3)
        inspect.setColumnStretch(2, 1)
        v.addLayout(inspect)
        v.addStretch(1)
        v.addWidget(self.timing)  # out of the way: the top must stay short

        scroll = QScrollArea(self)
        scroll.setObjectName("cnnPanelScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        # always on: the grid's height follows its width, so a scroll bar that came and went
        # would change the width, then the height, then the scroll bar... (it recursed until
        # Qt crashed at one dock width)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        scroll.setWidget(content)
        self._scroll = scroll
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(head)
        outer.addWidget(_rule(self))
        outer.addWidget(scroll, 1)
        self._fit_input()

    def _fit_input(self) -> None:
        """Make the Photo/Draw pages square and as big as the width leaves beside the chart.

        Only the maximum width and the height are set from the panel's width, never the
        minimum width, so the dock can still be made narrower (down to CANVAS_MIN).
        """
        # room for the widest class names any shipped model has, so the canvas keeps its
        # size when the model changes (digits <-> fashion)
        right = max(self.chart.minimum_width(), self._right.minimumSize().width())
        room = self.width() - 2 * MARGIN - self._middle.spacing() - right
        bar = self.input_tabs.tabBar().sizeHint().height()
        # and leave at least half a short dock (1024x768 screens) to the maps
        tall = self.height() // 2 - bar - 40
        lo, hi = round(CANVAS_MIN * self._scale), round(CANVAS_MAX * self._scale)
        side = max(lo, min(hi, room, tall))
        self.input_tabs.setMinimumSize(lo, side + bar)
        self.input_tabs.setMaximumSize(side, side + bar)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_input()

    def _connect(self) -> None:
        self.model_combo.currentIndexChanged.connect(self._on_model_combo)
        self.summary_button.clicked.connect(self.show_summary)
        self.clear_button.clicked.connect(lambda: self.lab.set_drawing(None, "clear the drawing"))
        self.input_tabs.currentChanged.connect(self._on_tab)
        self.canvas.changed.connect(self._update_clear_button)
        self.canvas.changed.connect(self._on_drawing)
        self.canvas.strokeFinished.connect(self._stroke_finished)
        self.layer_combo.currentIndexChanged.connect(self._on_layer)
        self.sort_check.toggled.connect(self.grid.set_sorted)
        self.grid.mapClicked.connect(self._on_map_clicked)
        self.use_button.clicked.connect(self._use_filter)

    # --------------------------------------------------------------------- public API
    def set_image(self, image: np.ndarray) -> None:
        """Show what the model makes of ``image`` (float32 0..1, (H, W) or (H, W, 3)): it
        becomes the lab's image (a convenience for using the panel on its own)."""
        image = np.asarray(image)
        if image.size == 0:
            raise ValueError("set_image got an empty image")
        self.lab.set_image(np.ascontiguousarray(image, dtype=np.float32),
                           ImageSource("generated", "", "picture"))

    def set_model(self, name_or_path: str | os.PathLike) -> None:
        """Use a shipped model (``digits``, ``digits-deep``, ``fashion``, ``fashion-deep``) or
        a model file. A model that cannot be loaded is reported in the panel, not raised."""
        ref = str(name_or_path)
        if ref != self.lab.state.model:
            self.lab.change(f"model {Path(ref).name}", model=ref, feature_map=None)
        else:
            self._submit()  # the same file again: look at it again (it may have changed)

    def current_model_name(self) -> str:
        """The model reference in use (a shipped name or a path)."""
        return self.lab.state.model

    def current_model(self):
        """The loaded Model, or None while loading or when its weights are missing."""
        return self._model

    def is_idle(self) -> bool:
        """True when the latest picture's result (or its error) is shown."""
        return self._closed or (self._shown_seq >= self._seq and not self._runner.busy())

    def result(self) -> Result | None:
        """The last result shown: the 28x28 input, activations, probabilities, timings."""
        return self._result

    def set_scale(self, scale: float) -> None:
        """Fixed sizes at the interface scale: the 28x28 views, the canvas limits, tiles."""
        self._scale = scale
        side = round(SEEN_SIDE * scale)
        self.seen_view.setFixedSize(side, side)
        self.inspect_input.setFixedSize(side, side)
        self.grid.set_scale(scale)
        self._fit_input()

    def shutdown(self) -> None:
        """Stop the background work (the window is closing)."""
        self._closed = True
        self._runner.shutdown(2.0)

    def show_summary(self) -> SummaryDialog | QMessageBox:
        """Open the Keras-style summary of the current model (a message if it is missing)."""
        model = self._model
        ref = self.lab.state.model
        if model is None or self._result is None or self._result.request.model_ref != ref:
            try:
                model = cnn.load(ref)
            except ValueError as exc:
                missing = not model_file_exists(ref)
                box = QMessageBox(QMessageBox.Icon.Information, "Model summary",
                                  weights_message(ref, None if missing else str(exc)),
                                  QMessageBox.StandardButton.Ok, self)
                box.setObjectName("summaryMissingBox")
                box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                box.open()  # not exec(): never block, and tests can close it
                self._summary_dialog = box
                return box
        title = ref if ref in cnn.SHIPPED else Path(ref).name
        dialog = SummaryDialog(title, model.summary(), getattr(model, "meta", {}), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self._summary_dialog = dialog
        return dialog

    def layer(self) -> str:
        """The convolution layer whose maps are shown: the lab's, or the model's first
        convolution when the model has no such layer."""
        wanted = self.lab.state.layer
        if self.layer_combo.count() == 0 or self.layer_combo.findData(wanted) >= 0:
            return wanted
        return self.layer_combo.itemData(0)

    def set_layer(self, name: str) -> None:
        i = self.layer_combo.findData(name)
        if i < 0:
            have = [self.layer_combo.itemData(k) for k in range(self.layer_combo.count())]
            raise ValueError(f"no layer {name!r} to show; this model has {have}")
        self.lab.change(f"layer {name}", layer=name, feature_map=None)

    def status_text(self) -> str:
        """The problem the panel is showing ("" when all is well)."""
        return self.status.text() if not self.status.isHidden() else ""

    def runner(self) -> LatestWins:
        return self._runner

    # --------------------------------------------------------------------- the lab -> here
    def _on_lab_change(self, change: Change) -> None:
        self._drawing = True
        try:
            self._show_lab(change.new, change)
        finally:
            self._drawing = False

    def _show_lab(self, state, change: Change | None) -> None:
        fields = change.fields if change is not None else None
        if fields is None or "model" in fields:
            self._set_combo(state.model)
        if fields is None or "view" in fields:
            tab = 1 if state.view.cnn_input == "draw" else 0
            if self.input_tabs.currentIndex() != tab:
                self.input_tabs.blockSignals(True)
                self.input_tabs.setCurrentIndex(tab)
                self.input_tabs.blockSignals(False)
            self._update_clear_button()
        if fields is None or "drawing" in fields:
            self.canvas.set_image(state.drawing)
            self._update_clear_button()
        if fields is None or "layer" in fields:
            i = self.layer_combo.findData(state.layer)
            if i >= 0 and i != self.layer_combo.currentIndex():
                self.layer_combo.setCurrentIndex(i)
            self.grid.set_selected(None)
            self._show_maps()
        if fields is None or "feature_map" in fields:
            self.grid.set_selected(state.feature_map)
            self._refresh_inspector()
        if fields is None or fields & {"model", "view", "drawing", "image"}:
            if fields is not None and fields == {"view"} and \
                    change.old.view.cnn_input == state.view.cnn_input:
                return  # another view setting: nothing for the CNN
            self._submit()

    # --------------------------------------------------------------------- requests
    def _current_image(self) -> tuple[np.ndarray | None, str]:
        state = self.lab.state
        if state.view.cnn_input == "draw":
            if self._drawing_live or state.drawing is None:
                return (None if self.canvas.is_empty() else self.canvas.image()), "draw"
            return state.drawing, "draw"
        return state.image, "photo"

    def _submit(self) -> None:
        image, source = self._current_image()
        self._seq += 1
        request = Request(self._seq, self.lab.state.model, image, source)
        engine = self._engine
        self._runner.submit(lambda ctx: ctx.emit(engine.run(request)), tag=self._seq)

    def _set_combo(self, ref: str) -> None:
        i = self.model_combo.findData(ref)
        if i < 0:
            self.model_combo.addItem(Path(ref).name, ref)
            i = self.model_combo.count() - 1
            self.model_combo.setItemData(i, ref, Qt.ItemDataRole.ToolTipRole)
        if i != self.model_combo.currentIndex():
            self.model_combo.setCurrentIndex(i)

    def _on_model_combo(self, index: int) -> None:
        if not self._drawing and index >= 0:
            self.set_model(self.model_combo.itemData(index))

    def _on_tab(self, index: int) -> None:
        self.lab.set_view(cnn_input="draw" if index == 1 else "photo")

    def _update_clear_button(self) -> None:
        self.clear_button.setVisible(self.input_tabs.currentIndex() == 1)
        self.clear_button.setEnabled(not self.canvas.is_empty())

    def _on_drawing(self) -> None:
        """A stroke segment: predict from the canvas at once (the lab gets the drawing when
        the stroke ends: one undo step per stroke)."""
        if self.input_tabs.currentIndex() == 1:
            self._drawing_live = True
            self._submit()

    def _stroke_finished(self) -> None:
        self._drawing_live = False
        drawing = None if self.canvas.is_empty() else self.canvas.image()
        self.lab.set_drawing(drawing, "draw a stroke")

    # ------------------------------------------------------------------------ results
    def _on_failed(self, seq, message: str) -> None:
        self._shown_seq = max(self._shown_seq, seq or 0)
        self._set_status(f"The CNN panel could not process this picture: {message}")

    def _show_result(self, result: Result) -> None:
        if result.request.seq < self._shown_seq:
            return
        self._shown_seq = result.request.seq
        self._result = result
        if result.error is not None:
            self._set_status("The CNN panel could not process this picture:\n"
                             + result.error.strip().splitlines()[-1])
            self.status.setToolTip(result.error)  # the whole traceback, for a bug report
            self._error = result.error
            self.chart.set_message("No prediction: see the message above.")
            self._show_photo_hint(False)
            self.grid.set_message("No feature maps: see the message above.")
            return
        self._error = None
        if result.model is not None:
            if result.model is not self._model:
                self._model = result.model
                self._fill_layers(result.model)
        else:
            self._model = None
        self._set_status(result.model_error or "")
        self._show_input(result)
        self._show_outputs(result)
        self._fit_input()  # the class names' width may have changed (digits <-> fashion)

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setToolTip("")
        self.status.setVisible(bool(text))

    def _show_input(self, result: Result) -> None:
        if result.request.source == "photo":
            if result.thumb is not None:
                self.photo_view.set_rgb(result.thumb)
        if result.x28 is None:
            self.seen_view.set_message("No picture")
        elif result.blank:
            self.seen_view.set_message("Nothing to see")
        else:
            self.seen_view.set_rgb(np.clip(result.x28 * 255 + 0.5, 0, 255).astype(np.uint8))

    def _show_outputs(self, result: Result) -> None:
        labels = self._model.labels if self._model is not None else ()
        self._show_photo_hint(False)  # until there is a prediction on a photo
        if result.model is None:
            self.chart.set_message("No prediction: the model could not be loaded.")
            self.grid.set_message("No feature maps: the model could not be loaded.")
            self.layer_combo.clear()
            self.layer_combo.setEnabled(False)
            self.colour_bar.hide()
            self.timing.setText("")
            self._refresh_inspector()
            return
        if result.x28 is None:
            nothing = ("Nothing to see yet: open a photo, or draw a digit on the Draw tab."
                       if result.request.source == "photo" else NOTHING_TO_SEE)
        elif result.blank:
            nothing = NOTHING_TO_SEE
        else:
            nothing = ""
        if nothing:
            self.chart.set_message(nothing, labels)
            self.grid.set_message(nothing)
            self.colour_bar.hide()
            self.timing.setText("")
            self._refresh_inspector()
            return
        self.chart.set_probabilities(labels, result.probabilities)
        self._show_photo_hint(result.request.source == "photo", labels)
        self.timing.setText(f"preprocess {result.seconds_preprocess * 1e3:.1f} ms · "
                            f"CNN {result.seconds_forward * 1e3:.1f} ms")
        self._show_maps()

    def _show_photo_hint(self, on: bool, labels=()) -> None:
        """A quiet line under the prediction for photos: the model knows only its classes."""
        if on:
            self.photo_hint.set_full_text(*photo_hint(labels))
        self.photo_hint.setVisible(on)

    def photo_hint_text(self) -> str:
        """The hint under the prediction ("" when hidden): what the model knows."""
        return self.photo_hint.full_text() if not self.photo_hint.isHidden() else ""

    def _fill_layers(self, model) -> None:
        keep = self.layer()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for name in model.layer_names:
            try:
                w, _ = model.conv_filters(name)
            except ValueError:
                continue
            shape = dict(zip(model.layer_names, model.shapes, strict=True))[name]
            self.layer_combo.addItem(f"{name}: {w.shape[3]} maps, {shape[0]}×{shape[1]}", name)
        i = self.layer_combo.findData(keep)
        self.layer_combo.setCurrentIndex(max(i, 0))
        self.layer_combo.setEnabled(self.layer_combo.count() > 1)
        self.layer_combo.setToolTip(
            "Which convolution layer's maps to show." if self.layer_combo.count() > 1 else
            "This model has one convolution layer; the deep models have two.")
        self.layer_combo.blockSignals(False)

    def _on_layer(self, index: int) -> None:
        name = self.layer_combo.itemData(index)
        if not self._drawing and name and name != self.lab.state.layer:
            self.lab.change(f"layer {name}", layer=name, feature_map=None)

    def _layer_maps(self) -> np.ndarray | None:
        acts = self._result.activations if self._result is not None else None
        if not acts or self.layer() not in acts:
            return None
        return acts[self.layer()][0]

    def _show_maps(self) -> None:
        maps = self._layer_maps()
        if maps is None:
            self._refresh_inspector()
            return
        self.grid.set_maps(maps)
        self.colour_bar.set_range(self.grid.vmax())
        self.colour_bar.show()
        self.grid.setToolTip(
            f"{maps.shape[2]} maps of {maps.shape[0]}×{maps.shape[1]}, each labelled with its "
            f"mean activation. Orange frame: the {len(self.grid.most_active())} most active. "
            "Click a map to see the filter that made it.")
        self._refresh_inspector()

    # ---------------------------------------------------------------------- inspector
    def inspect_map(self, index: int) -> None:
        """Enlarge map ``index`` of the current layer and show its learned filter."""
        self.lab.change(f"inspect map {index}", feature_map=int(index))

    def _on_map_clicked(self, index: int) -> None:
        self.inspect_map(index)
        # bring the inspector into view (the 64-map grid can push it below the fold); again
        # once the wrapped texts have their new heights (Qt needs a second layout pass)
        QTimer.singleShot(0, self._reveal_inspector)
        QTimer.singleShot(80, self._reveal_inspector)

    def _reveal_inspector(self) -> None:
        if not self.isVisible():
            return
        """Scroll the maps area (only it: the model selector, input and prediction stay put)
        just enough to show the inspector down to its button and note, title first."""
        bottom = self.use_note if not self.use_note.isHidden() else self.use_button
        self._scroll.ensureWidgetVisible(bottom, 0, 8)
        self._scroll.ensureWidgetVisible(self.inspect_title, 0, 4)

    def inspected_filter(self) -> tuple[np.ndarray, float] | None:
        """The (kernel (3, 3) float32, bias) that "Use this filter" would emit, if any."""
        return self._chosen

    def _input_slice(self, weights: np.ndarray, j: int) -> int:
        """For a filter over several input maps: the input map contributing most to map j.

        Contribution of input map c = mean over output positions of its 3x3 partial sum,
        sum_{dy,dx} w[dy, dx, c, j] * mean(P[dy:dy+h, dx:dx+w, c]) with P the layer's input.
        Without an input (blank picture), the slice with the largest weights.
        """
        prev = self._previous_layer()
        acts = self._result.activations if self._result is not None else None
        if not acts or prev not in acts:
            return int(np.argmax(np.abs(weights[:, :, :, j]).sum(axis=(0, 1))))
        p = acts[prev][0]
        h, w = p.shape[0] - 2, p.shape[1] - 2
        means = np.stack([p[dy:dy + h, dx:dx + w].mean(axis=(0, 1))
                          for dy in range(3) for dx in range(3)]).reshape(3, 3, -1)
        score = (weights[:, :, :, j] * means).sum(axis=(0, 1))
        return int(np.argmax(score))

    def _previous_layer(self) -> str:
        names = self._model.layer_names
        return names[names.index(self.layer()) - 1]

    def _refresh_inspector(self) -> None:
        j = self.lab.state.feature_map
        model = self._model
        if j is None or model is None:
            self._chosen = None
            self.inspected_view.set_message("Click a map")
            self.inspect_input.set_message("")
            self._show_filter_row(False)
            self.inspect_title.setText("Click a map to see the 3×3 filter it learned.")
            self.filter_view.set_filter(None, None)
            self.use_button.setEnabled(False)
            self._set_note("")
            return
        weights, biases = model.conv_filters(self.layer())
        maps = self._layer_maps()
        if maps is not None and j < maps.shape[2]:
            rgb = to_viridis(maps[:, :, j], self.grid.vmax())
            self.inspected_view.set_rgb(rgb)
            mean, peak = float(maps[:, :, j].mean()), float(maps[:, :, j].max())
            stats = f" · mean {mean:.2f}, max {peak:.2f}"
        else:
            self.inspected_view.set_message("No map for a blank picture")
            stats = ""
        cin = weights.shape[2]
        result = self._result
        self._show_filter_row(True)
        if cin == 1:
            if result is not None and result.x28 is not None and not result.blank:
                self.inspect_input.set_rgb(imaging.to_u8(result.x28))
            else:
                self.inspect_input.set_message("")
            self._show_filter_row(False)
            kernel = np.ascontiguousarray(weights[:, :, 0, j], dtype=np.float32)
            bias = float(biases[j])
            self.inspect_title.setText(f"<b>{self.layer()} map {j}</b>{stats}, "
                                       "made by this learned filter:")
            self.inspect_title.setToolTip("")
            self.filter_view.set_filter(kernel, bias)
            self.use_button.setText("Use this filter")
            self.use_button.setToolTip(
                "Load this learned filter and its bias into the kernel editor, to see what "
                "it does to your photo (tip: grey channels match what the CNN sees).")
            self._set_note("")
            self._sent_note = (f"Sent map {j}'s filter and its bias {bias:+.3f} to the "
                               "kernel editor.")
        else:
            c = self._input_slice(weights, j)
            acts = result.activations if result is not None else None
            prev = self._previous_layer()
            if acts and prev in acts:
                plane = acts[prev][0][:, :, c]
                self.inspect_input.set_rgb(to_viridis(plane, float(plane.max()) or 1.0))
            else:
                self.inspect_input.set_message("")
            self._show_filter_row(False)
            kernel = np.ascontiguousarray(weights[:, :, c, j], dtype=np.float32)
            bias = 0.0
            self.inspect_title.setText(
                f"<b>{self.layer()} map {j}</b>{stats}. A 3×3×{cin} filter; shown: its "
                f"slice for input map {c}, the one contributing most here:")
            self.inspect_title.setToolTip(
                f"This filter has one 3×3 slice for each of the {cin} maps of "
                f"{self._previous_layer()}; the map is the sum of all {cin} slices' outputs, "
                "plus the bias, through ReLU.")
            self.filter_view.set_filter(kernel, None)
            map_bias = float(biases[j])
            self.filter_view.bias.setText(f"bias {map_bias:+.3f} (not sent)")
            self.filter_view.bias.setToolTip("The map's bias, added once to the sum of all "
                                             f"{cin} slices: it belongs to no single slice.")
            self.use_button.setText("Use this slice")
            why = (f"the map's bias ({map_bias:+.3f}) is added once to the sum of all {cin} "
                   "slices, so it belongs to no single slice")
            self.use_button.setToolTip(
                f"This filter looks at {cin} maps of the previous layer, not at pixels, so no "
                f"single 3×3 kernel can reproduce it on a photo. This loads only its slice for "
                f"input map {c}, and the bias is not sent (the editor gets bias 0): {why}.")
            belongs = f"belongs to the sum of all {cin} slices"
            self._set_note(f"Sends the slice for input map {c} with bias 0: the map's bias "
                           f"({map_bias:+.3f}) {belongs}.")
            self._sent_note = (f"Sent the slice for input map {c} with bias 0, not "
                               f"{map_bias:+.3f}: that bias {belongs}.")
        self._chosen = (kernel, bias)
        self.use_button.setEnabled(True)

    def _show_filter_row(self, on: bool) -> None:
        """The 28x28 input ∗ filter row and the large map appear once a map is clicked."""
        for w in (self.inspect_input, self.inspect_star, self.filter_view,
                  self.filter_view.bias, self.inspected_view):
            w.setVisible(on)

    def _use_filter(self) -> None:
        if self._chosen is None:
            return
        kernel, bias = self._chosen
        model = self.lab.state.model
        name = model if model in cnn.SHIPPED else Path(model).name
        self.lab.use_filter(kernel.copy(), float(bias), f"learned {name} filter, run on grey")
        self._set_note(self._sent_note)
        text = self.use_button.text()
        self.use_button.setText("✓ Sent")  # short: the button must not widen the panel
        QTimer.singleShot(1200, lambda: self._restore_button(text))

    def _set_note(self, text: str) -> None:
        self.use_note.setText(text)
        self.use_note.setVisible(bool(text))

    def filter_note(self) -> str:
        """What "Use this filter/slice" sends or sent, as a sentence ("" when nothing to say);
        for a slice it says that the bias is not sent, and why."""
        return self.use_note.text() if not self.use_note.isHidden() else ""

    def _restore_button(self, text: str) -> None:
        try:
            if self.use_button.text().startswith("✓"):
                self.use_button.setText(text)
        except RuntimeError:  # the panel is gone
            pass

    # ---------------------------------------------------------------------- teardown
    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def _rule(parent: QWidget) -> QFrame:
    line = QFrame(parent)
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line
