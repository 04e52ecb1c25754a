"""The kernel editor: a view of the lab's kernel, bias and flip, and the way to edit them.

Cells accept numbers, simple fractions and arithmetic ("1/9", "-0.1", "2*0.5"), parsed by
:func:`convdemo.kernels.parse_number` (an ``ast`` walk, never ``eval``). Valid text goes into
the lab key by key (typing in one cell is one undo step). Invalid text turns the cell red
with a tooltip saying why, and the value the cell held *before this edit began* is in force
(not a partial text that happened to parse on the way: typing "1/0" must not leave 1 in
force). An edit begins when the cell gets focus or a key; it ends on ``editingFinished``.

The editor never holds the kernel itself: it draws ``lab.settings`` and calls the lab's
methods (:meth:`convdemo.lab.Lab.set_cell`, ``apply_preset``, ``resize_kernel``,
``normalize``, ``set_per_channel``). With per-channel kernels (one CNN neuron) the R, G and
B grids are shown side by side, all three at once.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QEvent, QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from convdemo import kernels
from convdemo.formatting import format_number, shown_exactly, sum_text
from convdemo.gui import fonts
from convdemo.kernels import matching_preset
from convdemo.lab import Change, Lab

SIZES = (1, 3, 5, 7)
CHANNEL_NAMES = ("R", "G", "B")
PLANE_COLOURS = ("#c62828", "#2e7d32", "#1565c0")
INVALID_STYLE = "QLineEdit { background: #ffb3b3; color: #000; border: 1px solid #c00; }"
#: cell widths (before the interface scale) by kernel side
CELL_WIDTH = {1: 64, 3: 58, 5: 46, 7: 40}
#: ... in per-channel mode, where three grids stand side by side
PLANE_CELL_WIDTH = {1: 52, 3: 46, 5: 38, 7: 34}


def text_width(edit: QLineEdit, text: str | None = None) -> int:
    """The width ``edit`` needs to show ``text`` (default: its text) uncut, measured with
    QFontMetrics plus the line edit's frame, text margins and inner margins."""
    fm = edit.fontMetrics()
    frame = edit.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, None, edit)
    m = edit.textMargins()
    text = edit.text() if text is None else text
    return fm.horizontalAdvance(text) + 2 * frame + m.left() + m.right() + 2 * 2 + 2


def mark(cell: QLineEdit, error: str | None, value: float | None = None) -> None:
    """Red with ``error`` as tooltip, or valid; a rounded view names the exact value."""
    cell.setProperty("invalid", error is not None)
    cell.setStyleSheet(INVALID_STYLE if error else "")
    tip = error or "a number, fraction or sum, e.g. 1/9, -0.1, 2*0.5"
    if error is None and value is not None and not shown_exactly(cell.text(), value):
        tip = f"shown rounded; the value in force is {value!r}\n{tip}"
    cell.setToolTip(tip)


class KernelGrid(QWidget):
    """A kh x kw grid of cells for one kernel plane, a view of the lab's kernel.

    ``edited(row, col, value)`` asks for a new weight (the editor passes it to the lab).
    """

    edited = pyqtSignal(int, int, float)
    widthChanged = pyqtSignal()

    def __init__(self, prefix: str, parent: QWidget | None = None, *,
                 compact: bool = False) -> None:
        super().__init__(parent)
        self._prefix = prefix
        self._widths = PLANE_CELL_WIDTH if compact else CELL_WIDTH
        self._layout = QGridLayout(self)
        self._layout.setSpacing(3)
        self._layout.setContentsMargins(2, 2, 2, 2)
        self.cells: list[list[QLineEdit]] = []
        self.values = np.zeros((0, 0), dtype=np.float64)
        #: the value each cell held before the edit in progress began (what invalid text keeps)
        self.committed = np.zeros((0, 0), dtype=np.float64)
        self._editing: set[tuple[int, int]] = set()
        self._base_width = 60
        self._scale = 1.0

    def set_scale(self, scale: float) -> None:
        """Cells as wide as the interface scale asks (their fonts follow by themselves); the
        cells stay the same widgets, so the one being typed in keeps the focus."""
        self._scale = scale
        if self.cells:
            k = max(self.values.shape)
            self._base_width = round(self._widths.get(k, 32) * scale)
            for row in self.cells:
                for cell in row:
                    cell.setFixedWidth(self._base_width)
                    if k >= 5:
                        cell.setFixedHeight(cell.fontMetrics().height() + 6)
            self.fit_widths()

    def show_values(self, values: np.ndarray, *, force: bool = False) -> None:
        """Draw ``values``. A cell whose value did not change keeps its text (the user's own
        spelling, or a red text while the value from before the edit stays in force)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != self.values.shape:
            self._rebuild(*values.shape)
            force = True
        old = self.values
        self.values = values.copy()
        for r in range(values.shape[0]):
            for c in range(values.shape[1]):
                v = float(values[r, c])
                if not force and v == old[r, c]:
                    continue
                self._editing.discard((r, c))
                cell = self.cells[r][c]
                cell.blockSignals(True)
                cell.setText(format_number(v))
                cell.blockSignals(False)
                mark(cell, None, v)
                self.committed[r, c] = v
        self.fit_widths()

    def fit_widths(self) -> None:
        """Every cell as wide as the longest text in the grid needs (and at least the
        size's base width), so "-0.0625" in a 7x7 grid is not cut."""
        if not self.cells:
            return
        need = max(text_width(cell) for row in self.cells for cell in row)
        width = max(self._base_width, need)
        if width != self.cells[0][0].width():
            for row in self.cells:
                for cell in row:
                    cell.setFixedWidth(width)
            self.widthChanged.emit()

    def _rebuild(self, kh: int, kw: int) -> None:
        for row in self.cells:
            for cell in row:
                self._layout.removeWidget(cell)
                cell.setParent(None)  # gone from findChild at once, not at the next loop
                cell.deleteLater()
        self.cells = []
        self._editing.clear()
        k = max(kh, kw)
        self.values = np.zeros((kh, kw))
        self.committed = np.zeros((kh, kw))
        self._base_width = round(self._widths.get(k, 32) * self._scale)
        self._layout.setSpacing(3 if k <= 3 else 2)
        for r in range(kh):
            row = []
            for c in range(kw):
                cell = QLineEdit(self)
                cell.setObjectName(f"kernelCell_{self._prefix}{r}_{c}")
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                cell.setFixedWidth(self._base_width)
                if k >= 5:  # 49 cells must fit under the views: smaller text, tighter boxes
                    fonts.relative(cell, 0.85)
                    cell.setTextMargins(0, 0, 0, 0)
                    cell.setFixedHeight(cell.fontMetrics().height() + 6)
                cell.setAcceptDrops(False)  # a dropped photo goes to the window, not in here
                cell.setAccessibleName(f"kernel row {r + 1} column {c + 1}")
                cell.textChanged.connect(lambda text, r=r, c=c: self._typed(r, c, text))
                cell.editingFinished.connect(lambda r=r, c=c: self._finish(r, c))
                cell.setProperty("cellIndex", (r, c))
                cell.installEventFilter(self)
                self._layout.addWidget(cell, r, c)
                row.append(cell)
            self.cells.append(row)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() in (QEvent.Type.FocusIn, QEvent.Type.KeyPress):
            index = obj.property("cellIndex")
            if index is not None:
                self._begin(*index)
        return super().eventFilter(obj, event)

    def _begin(self, r: int, c: int) -> None:
        """An edit of cell (r, c) begins: remember the value it holds now."""
        if (r, c) not in self._editing and r < self.values.shape[0] and c < self.values.shape[1]:
            self._editing.add((r, c))
            self.committed[r, c] = self.values[r, c]

    def _finish(self, r: int, c: int) -> None:
        if r < self.values.shape[0] and c < self.values.shape[1]:
            self._editing.discard((r, c))
            self.committed[r, c] = self.values[r, c]
            cell = self.cells[r][c]
            if not cell.property("invalid"):
                mark(cell, None, float(self.values[r, c]))
            self.fit_widths()

    def _typed(self, r: int, c: int, text: str) -> None:
        cell = self.cells[r][c]
        try:
            value = kernels.parse_number(text)
        except ValueError as exc:
            kept = float(self.committed[r, c])
            mark(cell, f"{exc}. The value from before this edit, {format_number(kept)}, "
                       "stays in force.")
            if self.values[r, c] != kept:
                self.values[r, c] = kept
                self.edited.emit(r, c, kept)
            return
        mark(cell, None)
        if (r, c) not in self._editing:  # set by the program (or a paste): in force at once
            self.committed[r, c] = value
        if value != self.values[r, c]:
            self.values[r, c] = value
            self.edited.emit(r, c, value)

    def invalid_cells(self) -> list[QLineEdit]:
        return [cell for row in self.cells for cell in row if cell.property("invalid")]


class KernelEditor(QWidget):
    """objectName ``kernelEditor``: a view of ``lab``'s kernel, bias and flip.

    Signals
    -------
    changed
        The kernel, bias or flip in the lab changed (whoever changed it).
    sizeChanged(int)
        The kernel's side changed.
    widthChanged
        The editor got wider or narrower (bigger kernel, wider numbers): the window makes
        room.
    """

    changed = pyqtSignal()
    sizeChanged = pyqtSignal(int)
    widthChanged = pyqtSignal()

    def __init__(self, lab: Lab | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kernelEditor")
        self.lab = lab if lab is not None else Lab()
        self._scale = 1.0
        self._shown_size: tuple[int, ...] = ()
        self._drawing = False  # drawing the lab: widget signals are not user actions
        self._create_widgets()
        self._create_layout()
        self.lab.events.connect(self._on_change)
        self._show_all(force=True)

    # ----------------------------------------------------------------- construction
    def _create_widgets(self) -> None:
        self.title = QLabel("<b>Kernel</b>", self)
        self.sizeCombo = QComboBox(self)
        self.sizeCombo.setObjectName("sizeCombo")
        for k in SIZES:
            self.sizeCombo.addItem(f"{k}×{k}", k)
        self.sizeCombo.setToolTip("kernel size: the grid grows or shrinks around its centre")
        self.sizeCombo.currentIndexChanged.connect(self._size_chosen)
        self.presetCombo = QComboBox(self)
        self.presetCombo.setObjectName("presetCombo")
        self.presetCombo.addItem("custom", None)  # shown when the kernel matches no preset
        self.presetCombo.setItemData(0, "the kernel in the cells matches no preset",
                                     Qt.ItemDataRole.ToolTipRole)
        for i, (name, preset) in enumerate(kernels.PRESETS.items(), start=1):
            self.presetCombo.addItem(name, name)
            self.presetCombo.setItemData(i, preset.description, Qt.ItemDataRole.ToolTipRole)
        self.presetCombo.activated.connect(self._preset_chosen)
        self.presetCombo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.presetCombo.setMinimumContentsLength(8)
        self.presetCombo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.presetButtons: dict[str, QPushButton] = {}
        for i, name in enumerate(kernels.LECTURE_PRESETS, start=1):
            button = QPushButton(name, self)
            button.setObjectName(f"presetButton_{name}")
            button.setToolTip(f"{kernels.PRESETS[name].description} (Ctrl+{i})")
            button.clicked.connect(lambda _=False, n=name: self.set_preset(n))
            button.setMinimumWidth(10)
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            self.presetButtons[name] = button
        self.grids = [KernelGrid("")] + [KernelGrid(f"{ch}_", compact=True)
                                         for ch in CHANNEL_NAMES]
        self.planeLabels = []
        for i, grid in enumerate(self.grids):
            plane = None if i == 0 else i - 1
            grid.edited.connect(lambda r, c, v, p=plane: self._cell_edited(p, r, c, v))
            grid.widthChanged.connect(self.widthChanged)
            if i:
                label = QLabel(f"<b>{CHANNEL_NAMES[i - 1]}</b>", self)
                label.setStyleSheet(f"color: {PLANE_COLOURS[i - 1]};")
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self.planeLabels.append(label)
        self.sumLabel = QLabel(self)
        self.sumLabel.setObjectName("kernelSum")
        self.sumLabel.setToolTip("the sum of the kernel: 1 keeps brightness, 0 keeps only changes")
        self.normalizeButton = QPushButton("Normalize", self)
        self.normalizeButton.setObjectName("normalizeButton")
        self.normalizeButton.setToolTip("divide every cell by the sum, so the sum becomes 1")
        self.normalizeButton.clicked.connect(self.normalize)
        self.flipCheck = QCheckBox("flip (true convolution)", self)
        self.flipCheck.setObjectName("flipCheck")
        self.flipCheck.setToolTip(
            "unticked: cross-correlation, as CNN libraries compute it; ticked: the kernel is "
            "rotated 180° first, which is convolution in the mathematical sense")
        self.flipCheck.toggled.connect(
            lambda on: self.lab.set_settings("flip on" if on else "flip off", flip=on))
        self.biasEdit = QLineEdit("0", self)
        self.biasEdit.setObjectName("biasEdit")
        self.biasEdit.setFixedWidth(64)
        self.biasEdit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.biasEdit.setToolTip("added to every output value")
        self.biasEdit.textChanged.connect(self._bias_typed)
        self.biasEdit.editingFinished.connect(self._fit_bias)
        self.perChannelCheck = QCheckBox("per-channel kernels (R, G, B)", self)
        self.perChannelCheck.setObjectName("perChannelCheck")
        self.perChannelCheck.setToolTip(
            "one grid for each colour plane, summed into one output: what one neuron of a "
            "CNN's first layer computes (RGB image; switches channels to sum)")
        self.perChannelCheck.toggled.connect(self._per_channel_toggled)
        self.sourceLabel = QLabel(self)
        self.sourceLabel.setObjectName("kernelSource")
        self.sourceLabel.setWordWrap(True)
        self.sourceLabel.setStyleSheet("color: #555;")
        self.sourceLabel.hide()

    def _create_layout(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 2, 4, 2)
        outer.setSpacing(3)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.sizeCombo)
        top.addWidget(self.presetCombo, 1)
        outer.addLayout(top)
        buttons = QGridLayout()
        buttons.setSpacing(3)
        for i, button in enumerate(self.presetButtons.values()):
            buttons.addWidget(button, 0, i)
        outer.addLayout(buttons)
        outer.addWidget(self.grids[0], 0, Qt.AlignmentFlag.AlignHCenter)
        self.planes = QWidget(self)
        self.planes.setObjectName("kernelPlanes")
        row = QGridLayout(self.planes)
        row.setContentsMargins(0, 0, 0, 0)
        row.setHorizontalSpacing(6)
        row.setVerticalSpacing(0)
        for i, grid in enumerate(self.grids[1:]):
            row.addWidget(self.planeLabels[i], 0, i)
            row.addWidget(grid, 1, i, Qt.AlignmentFlag.AlignHCenter)
        outer.addWidget(self.planes, 0, Qt.AlignmentFlag.AlignHCenter)
        self.planes.hide()
        sums = QHBoxLayout()
        sums.addWidget(self.sumLabel, 1)
        sums.addWidget(self.normalizeButton)
        outer.addLayout(sums)
        opts = QHBoxLayout()
        opts.addWidget(self.flipCheck)
        opts.addStretch(1)
        opts.addWidget(QLabel("bias", self))
        opts.addWidget(self.biasEdit)
        outer.addLayout(opts)
        outer.addWidget(self.perChannelCheck)
        outer.addWidget(self.sourceLabel)
        outer.addStretch(1)

    # ----------------------------------------------------------------------- reading
    def kernel(self) -> np.ndarray:
        """The kernel in force (the lab's): (kh, kw) or (kh, kw, 3); float64."""
        return np.array(self.lab.settings.kernel, dtype=np.float64)

    def bias(self) -> float:
        return self.lab.settings.bias

    def flip(self) -> bool:
        return self.lab.settings.flip

    def per_channel(self) -> bool:
        return self.lab.state.per_channel

    def kernel_size(self) -> int:
        return int(np.shape(self.lab.settings.kernel)[0])

    def cell(self, r: int, c: int, channel: str | None = None) -> QLineEdit:
        grid = self.grids[0] if channel is None else self.grids[1 + CHANNEL_NAMES.index(channel)]
        return grid.cells[r][c]

    def invalid_cells(self) -> list[QLineEdit]:
        return [cell for grid in self.grids for cell in grid.invalid_cells()]

    # ------------------------------------------------------------------- user actions
    def set_preset(self, name: str) -> None:
        self.lab.apply_preset(name)

    def set_kernel(self, values) -> None:
        """Put ``values`` ((k, k) or (k, k, 3)) into the lab as one change."""
        self.lab.set_settings("kernel", kernel=np.asarray(values, dtype=np.float64))

    def load_filter(self, kernel, bias: float, source: str = "a learned filter") -> None:
        """A learned 3x3 filter and its bias (cross-correlation, as Keras computes it)."""
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.shape != (3, 3):
            raise ValueError(f"a learned filter must be 3x3, not {kernel.shape}")
        self.lab.use_filter(kernel, bias, source)

    def normalize(self) -> bool:
        try:
            self.lab.normalize()
        except ValueError:
            self.sourceLabel.setText("The sum is 0, so Normalize cannot divide by it.")
            self.sourceLabel.setVisible(True)
            return False
        return True

    def set_scale(self, scale: float) -> None:
        """The interface scale (presentation mode): cells grow with the fonts."""
        self._scale = scale
        for grid in self.grids:
            grid.set_scale(scale)
        self.widthChanged.emit()

    def _cell_edited(self, plane: int | None, r: int, c: int, value: float) -> None:
        self.lab.set_cell(r, c, value, plane=plane)

    def _size_chosen(self, index: int) -> None:
        if self._drawing:
            return
        k = self.sizeCombo.itemData(index)
        if isinstance(k, int) and k != self.kernel_size():
            self.lab.resize_kernel(k)

    def _preset_chosen(self, index: int) -> None:
        name = self.presetCombo.itemData(index)
        if name:
            self.set_preset(name)

    def _per_channel_toggled(self, on: bool) -> None:
        try:
            self.lab.set_per_channel(on)
        except ValueError as exc:
            self.sourceLabel.setText(f"{str(exc)[0].upper()}{str(exc)[1:]}.")
            self.sourceLabel.setVisible(True)
            self._show_all()

    def _bias_typed(self, text: str) -> None:
        try:
            value = kernels.parse_number(text) if text.strip() else 0.0
        except ValueError as exc:
            mark(self.biasEdit, f"{exc}. The bias stays {format_number(self.bias())}.")
            return
        mark(self.biasEdit, None)
        self.biasEdit.setToolTip("added to every output value")
        if value != self.bias():
            self.lab.set_settings("bias", bias=value, merge="bias")

    def _fit_bias(self) -> None:
        """The bias field as wide as its text needs ("-0.003491" keeps its minus sign)."""
        width = max(round(64 * self._scale), text_width(self.biasEdit))
        if width != self.biasEdit.width():
            self.biasEdit.setFixedWidth(width)
            self.widthChanged.emit()

    # ------------------------------------------------------------------------ drawing
    def _on_change(self, change: Change) -> None:
        touched = change.settings_fields & {"kernel", "bias", "flip", "channels"}
        if touched or change.fields & {"image", "kernel_source"}:
            self._show_all(force=change.kind != "edit")
            self.changed.emit()

    def _show_all(self, *, force: bool = False) -> None:
        self._drawing = True
        try:
            self._draw(force)
        finally:
            self._drawing = False

    def _draw(self, force: bool) -> None:
        state = self.lab.state
        k = np.asarray(state.settings.kernel, dtype=np.float64)
        per_channel = k.ndim == 3
        if per_channel:
            for i, grid in enumerate(self.grids[1:]):
                grid.show_values(k[:, :, i], force=force)
        else:
            self.grids[0].show_values(k, force=force)
        if self.planes.isHidden() == per_channel:  # the layout changes: the window makes room
            self.grids[0].setVisible(not per_channel)
            self.planes.setVisible(per_channel)
            self.widthChanged.emit()
        self._check(self.perChannelCheck, per_channel)
        self.perChannelCheck.setEnabled(state.image is None or state.image.ndim == 3)
        self._check(self.flipCheck, state.settings.flip)
        if force or not self.biasEdit.hasFocus() or \
                _parses_to(self.biasEdit.text()) != state.settings.bias:
            self.biasEdit.blockSignals(True)
            self.biasEdit.setText(format_number(state.settings.bias))
            self.biasEdit.blockSignals(False)
            mark(self.biasEdit, None)
            tip = "added to every output value"
            if not shown_exactly(self.biasEdit.text(), state.settings.bias):
                tip += f" (shown rounded; the value in force is {state.settings.bias!r})"
            self.biasEdit.setToolTip(tip)
            self._fit_bias()
        shape = k.shape[:2]
        if shape != self._shown_size:
            self._shown_size = shape
            self._show_size(shape)
            self.sizeChanged.emit(int(shape[0]))
        total = k.sum()
        if per_channel:
            parts = ", ".join(f"{ch} {sum_text(float(k[..., i].sum()))}"
                              for i, ch in enumerate(CHANNEL_NAMES))
            self.sumLabel.setText(f"sum = {sum_text(float(total))}  ({parts})")
        else:
            self.sumLabel.setText(f"sum = {sum_text(float(total))}")
        self.sourceLabel.setText(state.kernel_source)
        self.sourceLabel.setVisible(bool(state.kernel_source))
        name = matching_preset(k)
        index = self.presetCombo.findData(name) if name else 0
        self.presetCombo.setCurrentIndex(max(index, 0))

    def _show_size(self, shape: tuple[int, int]) -> None:
        kh, kw = shape
        text = f"{kh}×{kw}"
        index = self.sizeCombo.findText(text)
        if index < 0:  # a size the combo does not offer (from a state file)
            self.sizeCombo.addItem(text, None)
            index = self.sizeCombo.count() - 1
        self.sizeCombo.setCurrentIndex(index)

    @staticmethod
    def _check(box: QCheckBox, on: bool) -> None:
        if box.isChecked() != on:
            box.blockSignals(True)
            box.setChecked(on)
            box.blockSignals(False)


def _parses_to(text: str) -> float | None:
    try:
        return kernels.parse_number(text) if text.strip() else 0.0
    except ValueError:
        return None
