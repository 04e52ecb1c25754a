"""The kernel editor: a grid of number cells, presets, size, sum, normalize, flip, bias.

Cells accept numbers, simple fractions and arithmetic ("1/9", "-0.1", "2*0.5"), parsed by
:func:`convdemo.kernels.parse_number` (an ``ast`` walk, never ``eval``). Valid text is applied
live, key by key. Invalid text turns the cell red with a tooltip saying why, and the value the
cell held *before this edit began* is in force (not a partial text that happened to parse on
the way: typing "1/0" must not leave 1 in force). An edit begins when the cell gets focus or a
key; it is committed on ``editingFinished``; text set by the program is committed at once.

In per-channel mode (RGB image, channels "sum") the R, G and B input planes each get their
own grid, and :meth:`KernelEditor.kernel` returns a ``(k, k, 3)`` kernel: one real CNN neuron.
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from convdemo import kernels
from convdemo.formatting import format_number, shown_exactly, sum_text
from convdemo.kernels import matching_preset

SIZES = (1, 3, 5, 7)
CHANNEL_NAMES = ("R", "G", "B")
INVALID_STYLE = "QLineEdit { background: #ffb3b3; color: #000; border: 1px solid #c00; }"


def text_width(edit: QLineEdit, text: str | None = None) -> int:
    """The width ``edit`` needs to show ``text`` (default: its text) uncut, measured with
    QFontMetrics plus the line edit's frame, text margins and inner margins."""
    fm = edit.fontMetrics()
    frame = edit.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, None, edit)
    m = edit.textMargins()
    text = edit.text() if text is None else text
    return fm.horizontalAdvance(text) + 2 * frame + m.left() + m.right() + 2 * 2 + 2


class KernelGrid(QWidget):
    """A k x k grid of cells for one kernel plane. Emits ``changed`` on each valid edit."""

    changed = pyqtSignal()
    #: the cells got wider or narrower to fit their text
    widthChanged = pyqtSignal()

    def __init__(self, prefix: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._prefix = prefix
        self._base_width = 60
        self._layout = QGridLayout(self)
        self._layout.setSpacing(3)
        self._layout.setContentsMargins(2, 2, 2, 2)
        self.cells: list[list[QLineEdit]] = []
        self.values = np.zeros((0, 0), dtype=np.float64)
        #: the value each cell held before the edit in progress began (what invalid text keeps)
        self.committed = np.zeros((0, 0), dtype=np.float64)
        self._editing: set[tuple[int, int]] = set()
        self.set_values(np.zeros((3, 3)))

    def set_values(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        k = values.shape[0]
        if k != self.values.shape[0]:
            self._rebuild(k)
        self.values = values.copy()
        self.committed = values.copy()
        self._editing.clear()
        for r in range(k):
            for c in range(k):
                cell = self.cells[r][c]
                cell.blockSignals(True)
                cell.setText(format_number(float(values[r, c])))
                cell.blockSignals(False)
                self._mark(cell, None, float(values[r, c]))
        self.fit_widths()
        self.changed.emit()

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

    def _rebuild(self, k: int) -> None:
        for row in self.cells:
            for cell in row:
                self._layout.removeWidget(cell)
                cell.setParent(None)  # gone from findChild at once, not at the next loop
                cell.deleteLater()
        self.cells = []
        width = self._base_width = {1: 64, 3: 60, 5: 46, 7: 40}.get(k, 40)
        self._layout.setSpacing(3 if k <= 3 else 2)
        for r in range(k):
            row = []
            for c in range(k):
                cell = QLineEdit(self)
                cell.setObjectName(f"kernelCell_{self._prefix}{r}_{c}")
                cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
                cell.setFixedWidth(width)
                if k >= 5:  # 49 cells must fit under the views: smaller text, tighter boxes
                    font = cell.font()
                    font.setPointSizeF(font.pointSizeF() * 0.85)
                    cell.setFont(font)
                    cell.setTextMargins(0, 0, 0, 0)
                    cell.setStyleSheet("")
                    cell.setFixedHeight(cell.fontMetrics().height() + 6)
                cell.setAcceptDrops(False)  # a dropped photo goes to the window, not in here
                cell.setAccessibleName(f"kernel row {r + 1} column {c + 1}")
                cell.textChanged.connect(lambda text, r=r, c=c: self._edited(r, c, text))
                cell.editingFinished.connect(lambda r=r, c=c: self._commit(r, c))
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

    def _commit(self, r: int, c: int) -> None:
        """editingFinished: the value in force becomes the cell's committed value."""
        if r < self.values.shape[0] and c < self.values.shape[1]:
            self._editing.discard((r, c))
            self.committed[r, c] = self.values[r, c]
            self.fit_widths()

    def _edited(self, r: int, c: int, text: str) -> None:
        cell = self.cells[r][c]
        try:
            value = kernels.parse_number(text)
            if not np.isfinite(value):
                raise ValueError(f"{text!r} is not a finite number")
        except ValueError as exc:
            # back to the value from before this edit, not a partial text parsed on the way
            kept = float(self.committed[r, c])
            self._mark(cell, f"{exc}. The value from before this edit, "
                             f"{format_number(kept)}, stays in force.")
            if self.values[r, c] != kept:
                self.values[r, c] = kept
                self.changed.emit()
            return
        self._mark(cell, None)
        if (r, c) not in self._editing:  # set by the program (or a paste): committed at once
            self.committed[r, c] = value
            self.fit_widths()
        if value != self.values[r, c]:
            self.values[r, c] = value
            self.changed.emit()

    @staticmethod
    def _mark(cell: QLineEdit, error: str | None, value: float | None = None) -> None:
        """Red with ``error`` as tooltip, or valid; a rounded view names the exact value."""
        cell.setProperty("invalid", error is not None)
        cell.setStyleSheet(INVALID_STYLE if error else "")
        tip = error or "a number, fraction or sum, e.g. 1/9, -0.1, 2*0.5"
        if error is None and value is not None and not shown_exactly(cell.text(), value):
            tip = f"shown rounded; the value in force is {value!r}\n{tip}"
        cell.setToolTip(tip)

    def invalid_cells(self) -> list[QLineEdit]:
        return [cell for row in self.cells for cell in row if cell.property("invalid")]


class KernelEditor(QWidget):
    """objectName ``kernelEditor``. Emits ``changed`` whenever kernel, bias or flip change."""

    changed = pyqtSignal()
    presetApplied = pyqtSignal(str)
    #: per-channel mode switched on (True) or off, emitted before the kernel's ``changed``
    perChannelChanged = pyqtSignal(bool)
    sizeChanged = pyqtSignal(int)
    #: the editor's width changed (bigger kernel, wider numbers): the window makes room
    widthChanged = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kernelEditor")
        self._per_channel_allowed = True
        self._bias = 0.0
        self._loading = False
        self._source = ""  # e.g. "learned digits filter, run on grey"
        self._last_size = 3

        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 2, 4, 2)
        outer.setSpacing(3)

        top = QHBoxLayout()
        top.addWidget(QLabel("Kernel"))
        self.sizeCombo = QComboBox(self)
        self.sizeCombo.setObjectName("sizeCombo")
        for k in SIZES:
            self.sizeCombo.addItem(f"{k}×{k}", k)
        self.sizeCombo.setToolTip("kernel size: the grid grows or shrinks around its centre")
        self.sizeCombo.currentIndexChanged.connect(self._size_chosen)
        top.addWidget(self.sizeCombo)
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
        top.addWidget(self.presetCombo, 1)
        outer.addLayout(top)

        buttons = QGridLayout()
        buttons.setSpacing(3)
        self.presetButtons: dict[str, QPushButton] = {}
        for i, name in enumerate(kernels.LECTURE_PRESETS, start=1):
            button = QPushButton(name, self)
            button.setObjectName(f"presetButton_{name}")
            button.setToolTip(f"{kernels.PRESETS[name].description} (Ctrl+{i})")
            button.clicked.connect(lambda _=False, n=name: self.set_preset(n))
            button.setStyleSheet("QPushButton { padding: 3px 4px; }")
            button.setMinimumWidth(10)
            buttons.addWidget(button, 0, i - 1)
            self.presetButtons[name] = button
        outer.addLayout(buttons)

        self.grids = [KernelGrid("")] + [KernelGrid(f"{ch}_") for ch in CHANNEL_NAMES]
        for grid in self.grids:
            grid.changed.connect(self._grid_changed)
            grid.widthChanged.connect(self.widthChanged)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("kernelTabs")
        self.tabs.setDocumentMode(True)
        for ch, grid in zip(CHANNEL_NAMES, self.grids[1:], strict=True):
            self.tabs.addTab(grid, f"{ch} plane")
        outer.addWidget(self.grids[0], 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addWidget(self.tabs, 0)
        self.tabs.hide()

        sums = QHBoxLayout()
        self.sumLabel = QLabel(self)
        self.sumLabel.setObjectName("kernelSum")
        self.sumLabel.setToolTip("the sum of the kernel: 1 keeps brightness, 0 keeps only changes")
        sums.addWidget(self.sumLabel, 1)
        self.normalizeButton = QPushButton("Normalize", self)
        self.normalizeButton.setObjectName("normalizeButton")
        self.normalizeButton.setToolTip("divide every cell by the sum, so the sum becomes 1")
        self.normalizeButton.clicked.connect(self.normalize)
        sums.addWidget(self.normalizeButton)
        outer.addLayout(sums)

        opts = QHBoxLayout()
        self.flipCheck = QCheckBox("flip (true convolution)", self)
        self.flipCheck.setObjectName("flipCheck")
        self.flipCheck.setToolTip(
            "unticked: cross-correlation, as CNN libraries compute it; ticked: the kernel is "
            "rotated 180° first, which is convolution in the mathematical sense"
        )
        self.flipCheck.toggled.connect(self._option_changed)
        opts.addWidget(self.flipCheck)
        opts.addStretch(1)
        opts.addWidget(QLabel("bias"))
        self.biasEdit = QLineEdit("0", self)
        self.biasEdit.setObjectName("biasEdit")
        self.biasEdit.setFixedWidth(64)
        self.biasEdit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.biasEdit.setToolTip("added to every output value")
        self.biasEdit.textChanged.connect(self._bias_edited)
        self.biasEdit.editingFinished.connect(self._fit_bias)
        opts.addWidget(self.biasEdit)
        outer.addLayout(opts)

        self.perChannelCheck = QCheckBox("per-channel kernels (R, G, B)", self)
        self.perChannelCheck.setObjectName("perChannelCheck")
        self.perChannelCheck.setToolTip(
            "one grid for each colour plane, summed into one output: what one neuron of a "
            "CNN's first layer computes (RGB image; switches channels to sum)"
        )
        self.perChannelCheck.toggled.connect(self._per_channel_toggled)
        outer.addWidget(self.perChannelCheck)
        self.sourceLabel = QLabel(self)
        self.sourceLabel.setObjectName("kernelSource")
        self.sourceLabel.setWordWrap(True)
        self.sourceLabel.setStyleSheet("color: #555;")
        self.sourceLabel.hide()
        outer.addWidget(self.sourceLabel)
        outer.addStretch(1)

        self.set_preset("identity")

    # ---- reading --------------------------------------------------------------------------
    def per_channel(self) -> bool:
        return self.perChannelCheck.isChecked()

    def kernel(self) -> np.ndarray:
        """The kernel in force: (k, k), or (k, k, 3) in per-channel mode; float64."""
        if self.per_channel():
            return np.stack([g.values for g in self.grids[1:]], axis=-1)
        return self.grids[0].values.copy()

    def bias(self) -> float:
        return self._bias

    def flip(self) -> bool:
        return self.flipCheck.isChecked()

    def kernel_size(self) -> int:
        return self.grids[0].values.shape[0]

    def cell(self, r: int, c: int, channel: str | None = None) -> QLineEdit:
        grid = self.grids[0] if channel is None else self.grids[1 + CHANNEL_NAMES.index(channel)]
        return grid.cells[r][c]

    def invalid_cells(self) -> list[QLineEdit]:
        return [cell for grid in self.grids for cell in grid.invalid_cells()]

    # ---- writing --------------------------------------------------------------------------
    def set_kernel(self, values, *, bias: float | None = None, source: str = "") -> None:
        """Load a (k, k) kernel (k in 1, 3, 5, 7) into the grid(s), as one change."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim not in (2, 3) or values.shape[0] != values.shape[1]:
            raise ValueError(f"kernel must be square (k, k) or (k, k, 3), not {values.shape}")
        if values.shape[0] not in SIZES:
            raise ValueError(f"kernel size must be one of {SIZES}, not {values.shape[0]}")
        self._loading = True
        try:
            if values.ndim == 3:
                self.perChannelCheck.setChecked(True)
                for i, grid in enumerate(self.grids[1:]):
                    grid.set_values(values[:, :, i])
                self.grids[0].set_values(values[:, :, 0])
            else:
                self.grids[0].set_values(values)
                for grid in self.grids[1:]:
                    grid.set_values(values)
            self.sizeCombo.blockSignals(True)
            self.sizeCombo.setCurrentIndex(SIZES.index(values.shape[0]))
            self.sizeCombo.blockSignals(False)
            if bias is not None:
                self._set_bias(bias)
            self._source = source
        finally:
            self._loading = False
        self._emit()

    def set_preset(self, name: str) -> None:
        preset = kernels.PRESETS[name]
        self.perChannelCheck.setChecked(False)
        self._loading = True  # the display may follow the preset: one change, not two
        try:
            self.presetApplied.emit(name)
        finally:
            self._loading = False
        self.set_kernel(preset.array(), source="")
        self.sourceLabel.setToolTip(preset.description)

    def load_filter(self, kernel, bias: float, source: str = "a learned filter") -> None:
        """Load a learned 3x3 filter and its bias (cross-correlation, as Keras computes it)."""
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.shape != (3, 3):
            raise ValueError(f"a learned filter must be 3x3, not {kernel.shape}")
        self._loading = True
        self.perChannelCheck.setChecked(False)
        self.flipCheck.setChecked(False)
        self._loading = False
        self.set_kernel(kernel, bias=float(bias), source=source)

    def normalize(self) -> bool:
        grids = self.grids[1:] if self.per_channel() else self.grids[:1]
        total = float(sum(g.values.sum() for g in grids))
        if abs(total) < 1e-12:
            self.sourceLabel.setText("The sum is 0, so Normalize cannot divide by it.")
            self.sourceLabel.setVisible(True)
            return False
        self.set_kernel(self.kernel() / total, source=self._source)
        return True

    def set_per_channel_allowed(self, allowed: bool) -> None:
        """Per-channel kernels need an RGB image (the window switches channels to sum)."""
        self._per_channel_allowed = allowed
        self.perChannelCheck.setEnabled(allowed)
        if not allowed and self.perChannelCheck.isChecked():
            self.perChannelCheck.setChecked(False)

    def resize_kernel(self, k: int) -> None:
        """Grow (zero-padding) or shrink (cropping) every grid about its centre."""
        def fit(values: np.ndarray) -> np.ndarray:
            old = values.shape[0]
            if k >= old:
                p = (k - old) // 2
                return np.pad(values, p)
            c = (old - k) // 2
            return values[c : c + k, c : c + k]

        if self.per_channel():
            self.set_kernel(np.stack([fit(g.values) for g in self.grids[1:]], -1),
                            source=self._source)
        else:
            self.set_kernel(fit(self.grids[0].values), source=self._source)

    def state(self) -> dict:
        """What QSettings stores."""
        return {
            "kernel": self.kernel().tolist(),
            "bias": self._bias,
            "flip": self.flip(),
        }

    def restore(self, state: dict) -> None:
        try:
            values = np.asarray(state.get("kernel"), dtype=np.float64)
            self.set_kernel(values, bias=float(state.get("bias", 0.0)))
            self.flipCheck.setChecked(bool(state.get("flip", False)))
        except (TypeError, ValueError):
            pass  # a damaged setting: keep the default kernel

    # ---- internals --------------------------------------------------------------------------
    def _fit_bias(self) -> None:
        """The bias field as wide as its text needs ("-0.003491" keeps its minus sign)."""
        width = max(64, text_width(self.biasEdit))
        if width != self.biasEdit.width():
            self.biasEdit.setFixedWidth(width)
            self.widthChanged.emit()

    def _set_bias(self, value: float) -> None:
        self._bias = float(value)
        self.biasEdit.blockSignals(True)
        self.biasEdit.setText(format_number(self._bias))
        self.biasEdit.blockSignals(False)
        self._fit_bias()
        KernelGrid._mark(self.biasEdit, None)
        tip = "added to every output value"
        if not shown_exactly(self.biasEdit.text(), self._bias):
            tip += f" (shown rounded; the value in force is {self._bias!r})"
        self.biasEdit.setToolTip(tip)

    def _bias_edited(self, text: str) -> None:
        try:
            value = kernels.parse_number(text) if text.strip() else 0.0
            if not np.isfinite(value):
                raise ValueError(f"{text!r} is not a finite number")
        except ValueError as exc:
            KernelGrid._mark(self.biasEdit, f"{exc}. The bias stays {format_number(self._bias)}.")
            return
        KernelGrid._mark(self.biasEdit, None)
        self.biasEdit.setToolTip("added to every output value")
        if value != self._bias:
            self._bias = value
            self._emit()

    def _size_chosen(self, index: int) -> None:
        self.resize_kernel(SIZES[index])

    def _preset_chosen(self, index: int) -> None:
        name = self.presetCombo.itemData(index)
        if name:
            self.set_preset(name)

    def _per_channel_toggled(self, on: bool) -> None:
        was_loading, self._loading = self._loading, True
        try:
            if on:
                for grid in self.grids[1:]:
                    grid.set_values(self.grids[0].values)
            else:
                self.grids[0].set_values(self.grids[1].values)
        finally:
            self._loading = was_loading
        self.grids[0].setVisible(not on)
        self.tabs.setVisible(on)
        self.perChannelChanged.emit(on)
        if not self._loading:
            self._emit()

    def _option_changed(self) -> None:
        if not self._loading:
            self._emit()

    def _grid_changed(self) -> None:
        if not self._loading:
            self._source = ""
            self._emit()

    def _emit(self) -> None:
        if self._loading:
            return
        kernel = self.kernel()
        if kernel.shape[0] != self._last_size:
            self._last_size = kernel.shape[0]
            self.sizeChanged.emit(self._last_size)
        total = kernel.sum()
        if self.per_channel():
            parts = ", ".join(f"{ch} {sum_text(float(kernel[..., i].sum()))}"
                              for i, ch in enumerate(CHANNEL_NAMES))
            self.sumLabel.setText(f"sum = {sum_text(float(total))}  ({parts})")
        else:
            self.sumLabel.setText(f"sum = {sum_text(float(total))}")
        self.sourceLabel.setText(self._source)
        self.sourceLabel.setVisible(bool(self._source))
        self._sync_preset_combo()
        self.changed.emit()

    def _sync_preset_combo(self) -> None:
        """The combo names the preset equal to the kernel in force, else "custom"."""
        name = matching_preset(self.kernel())
        index = self.presetCombo.findData(name) if name else 0
        self.presetCombo.blockSignals(True)
        self.presetCombo.setCurrentIndex(max(index, 0))
        self.presetCombo.blockSignals(False)
