"""Scan mode's panel: draws a :class:`convdemo.scan.ScanModel` (R, G and B planes side by
side, padded cells hatched, the output grid under them) with Play, Pause, Step, Reset and a
speed slider.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QLine, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from convdemo import ops
from convdemo.colormaps import diverging_lut
from convdemo.gui.fonts import monospace_font
from convdemo.pipeline import Settings
from convdemo.scan import ScanModel, scan_copy

PLANE_TINT = {0: (255, 70, 70), 1: (60, 200, 60), 2: (80, 120, 255)}


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ScanCanvas(QWidget):
    """Draws a :class:`ScanModel`: input planes on top, output grid(s) below.

    Each grid is one small image drawn scaled up without smoothing (one pixel per cell),
    plus one batch of grid lines, so a frame costs about a millisecond, not one call per cell.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scanCanvas")
        self.model: ScanModel | None = None
        self.scale = 1.0  # output colour scale, symmetric
        self._planes: list[QImage] = []
        self._lut = diverging_lut()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(300, 200)

    def set_model(self, model: ScanModel | None) -> None:
        self.model = model
        self._planes = []
        if model is not None:
            # the colour scale of the output grid: the engine's output range on the same copy
            s = model.settings
            ref = ops.conv2d(model.copy, s.kernel_array(), stride=s.stride, padding=s.padding,
                             border=s.border, flip=s.flip, bias=s.bias,
                             channels="separate" if s.channels == "separate" else "sum")
            self.scale = float(np.abs(ref).max()) if ref.size else 1.0
            self.scale = self.scale or 1.0
            planes = 1 if model.copy.ndim == 2 else model.copy.shape[2]
            for p in range(planes):
                values, _mask = model.padded_plane(p)
                tint = np.array(PLANE_TINT.get(p) if planes == 3 else (255, 255, 255),
                                dtype=np.float32)
                rgb = np.clip(values, 0, 1)[:, :, None] * tint
                self._planes.append(_qimage((rgb + 0.5).astype(np.uint8)))
        self.update()

    def output_rgb(self, grid: int) -> np.ndarray:
        """The output grid as colours: diverging for computed cells, light grey for pending."""
        m = self.model
        out = m.output if m.output.ndim == 2 else m.output[:, :, grid]
        pending = np.isnan(out)
        idx = np.clip(np.rint((np.nan_to_num(out) / self.scale + 1) / 2 * 255), 0, 255)
        rgb = self._lut[idx.astype(np.intp)]
        rgb[pending] = 221
        return rgb

    def _grid_lines(self, painter: QPainter, x0: float, y0: float, rows: int, cols: int,
                    cell: float) -> None:
        if cell < 5:
            return
        # whole-pixel, opaque, 1-px lines: the rasterizer's fast path (a translucent pen costs
        # ten times more)
        x1, y1 = round(x0 + cols * cell), round(y0 + rows * cell)
        lines = [QLine(round(x0), round(y0 + r * cell), x1, round(y0 + r * cell))
                 for r in range(rows + 1)]
        lines += [QLine(round(x0 + c * cell), round(y0), round(x0 + c * cell), y1)
                  for c in range(cols + 1)]
        painter.setPen(QPen(QColor(120, 120, 120), 1))
        painter.drawLines(lines)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#fafafa"))
        m = self.model
        if m is None or not self._planes:
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        planes = len(self._planes)
        ph = m.copy.shape[0] + m.pad_top + m.pad_bottom
        pw = m.copy.shape[1] + m.pad_left + m.pad_right
        oh, ow = m.shape[0], m.shape[1]
        out_grids = planes if len(m.shape) == 3 else 1
        gap = 1.0  # in cells
        label = 18
        cols_needed = max(planes * pw + (planes - 1) * gap, out_grids * ow + (out_grids - 1) * gap)
        rows_needed = ph + oh + gap
        cell = min((self.width() - 8) / cols_needed, (self.height() - 2 * label - 8) / rows_needed)
        cell = max(cell, 2.0)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, min(10.0, cell * 0.8)))
        painter.setFont(font)
        total_w = planes * pw * cell + (planes - 1) * gap * cell
        x_start = (self.width() - total_w) / 2
        where = m.current()
        shown = where if where is not None else (
            (m.last.row, m.last.col) if m.last is not None else None)
        k_h, k_w = m.settings.kernel_array().shape[:2]
        names = ("R", "G", "B") if planes == 3 else ("grey",)
        hatch = QBrush(QColor(255, 255, 255, 150), Qt.BrushStyle.BDiagPattern)
        y0 = label + 4
        for p in range(planes):
            x0 = x_start + p * (pw + gap) * cell
            painter.setPen(QColor("#333"))
            padded = m.pad_top or m.pad_left or m.pad_bottom or m.pad_right
            painter.drawText(QRectF(x0, 2, pw * cell, label), Qt.AlignmentFlag.AlignCenter,
                             f"{names[p]} input" + (" (padded)" if padded else ""))
            painter.drawImage(QRectF(x0, y0, pw * cell, ph * cell), self._planes[p])
            # the padded frame, hatched: top, bottom, left and right bands
            inner = QRectF(x0 + m.pad_left * cell, y0 + m.pad_top * cell,
                           m.copy.shape[1] * cell, m.copy.shape[0] * cell)
            for band in (QRectF(x0, y0, pw * cell, m.pad_top * cell),
                         QRectF(x0, inner.bottom(), pw * cell, m.pad_bottom * cell),
                         QRectF(x0, inner.top(), m.pad_left * cell, inner.height()),
                         QRectF(inner.right(), inner.top(), m.pad_right * cell,
                                inner.height())):
                if band.width() > 0 and band.height() > 0:
                    painter.fillRect(band, hatch)
            self._grid_lines(painter, x0, y0, ph, pw, cell)
            painter.setPen(QPen(QColor("#999"), 1, Qt.PenStyle.DashLine))
            painter.drawRect(inner)
            if shown is not None:
                r0 = shown[0] * m.settings.stride
                c0 = shown[1] * m.settings.stride
                painter.setPen(QPen(QColor("#ffd400"), max(2.0, cell / 4)))
                painter.drawRect(QRectF(x0 + c0 * cell, y0 + r0 * cell, k_w * cell, k_h * cell))
        # output grid(s)
        y_out = label + 4 + (ph + gap) * cell + label
        total_out = out_grids * ow * cell + (out_grids - 1) * gap * cell
        xo_start = (self.width() - total_out) / 2
        for g in range(out_grids):
            x0 = xo_start + g * (ow + gap) * cell
            painter.setPen(QColor("#333"))
            title = "output" if out_grids == 1 else f"{names[g]} output"
            painter.drawText(QRectF(x0 - 60, y_out - label, ow * cell + 120, label),
                             Qt.AlignmentFlag.AlignCenter,
                             f"{title} (blue < 0 < red, ±{self.scale:.2g})")
            painter.drawImage(QRectF(x0, y_out, ow * cell, oh * cell),
                              _qimage(self.output_rgb(g)))
            self._grid_lines(painter, x0, y_out, oh, ow, cell)
            if m.last is not None:
                painter.setPen(QPen(QColor("#ffd400"), max(2.0, cell / 4)))
                painter.drawRect(QRectF(x0 + m.last.col * cell, y_out + m.last.row * cell,
                                        cell, cell))
        painter.end()


class ScanPanel(QWidget):
    """objectName ``scanPanel``: the canvas, the arithmetic and the transport buttons."""

    stepped = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scanPanel")
        self.model: ScanModel | None = None
        self._source: Settings | None = None
        self._image: np.ndarray | None = None
        self._copies: dict[bool, np.ndarray] = {}  # the pixelated copy, colour and grey
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.playButton = QPushButton("Play", self)
        self.playButton.setObjectName("scanPlay")
        self.playButton.setToolTip("play or pause (Space)")
        self.playButton.clicked.connect(self.toggle)
        self.stepButton = QPushButton("Step", self)
        self.stepButton.setObjectName("scanStep")
        self.stepButton.clicked.connect(self.step)
        self.resetButton = QPushButton("Reset", self)
        self.resetButton.setObjectName("scanReset")
        self.resetButton.clicked.connect(self.reset)
        self.finishButton = QPushButton("To the end", self)
        self.finishButton.setObjectName("scanFinish")
        self.finishButton.clicked.connect(self.finish)
        for b in (self.playButton, self.stepButton, self.resetButton, self.finishButton):
            bar.addWidget(b)
        bar.addSpacing(12)
        bar.addWidget(QLabel("speed"))
        self.speedSlider = QSlider(Qt.Orientation.Horizontal, self)
        self.speedSlider.setObjectName("scanSpeed")
        self.speedSlider.setRange(1, 100)  # steps per second, on a square scale below
        self.speedSlider.setValue(30)
        self.speedSlider.setToolTip("steps per second")
        self.speedSlider.valueChanged.connect(self._speed_changed)
        bar.addWidget(self.speedSlider, 1)
        self.progress = QLabel(self)
        self.progress.setObjectName("scanProgress")
        bar.addWidget(self.progress)
        layout.addLayout(bar)
        self.canvas = ScanCanvas(self)
        layout.addWidget(self.canvas, 1)
        self.text = QLabel(self)
        self.text.setObjectName("scanArithmetic")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setFont(monospace_font())
        self.text.setMinimumHeight(60)
        layout.addWidget(self.text)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._speed_changed(self.speedSlider.value())

    def steps_per_second(self) -> float:
        v = self.speedSlider.value()
        return max(1.0, v * v / 25.0)  # 1 .. 400 steps per second

    def set_source(self, image: np.ndarray | None, settings: Settings) -> None:
        """A new image or new settings: start a new scan (paused at the beginning)."""
        key = settings.replace(relu=False, pool="none", display="clip")
        if image is self._image and key == self._source:
            return
        if image is not self._image:  # hold the array itself: an id() can be reused
            self._image, self._copies = image, {}
        self._source = key
        self.pause()
        try:
            if image is None:
                self.model = None
            else:  # a kernel or stride edit reuses the copy: pixelating 12 MP takes ~0.2 s
                grey = settings.channels == "gray"
                if grey not in self._copies:
                    self._copies[grey] = scan_copy(image, settings)
                self.model = ScanModel(image, settings, copy=self._copies[grey])
        except ValueError as exc:
            self.model = None
            self.text.setText(f"Scan mode cannot run these settings: {exc}")
        self.canvas.set_model(self.model)
        self._update_text()

    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle(self) -> None:
        if self.playing():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.model is None:
            return
        if self.model.finished:
            self.reset()
        self.timer.start()
        self.playButton.setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.playButton.setText("Play")

    def step(self) -> None:
        if self.model is not None and self.model.step():
            self.canvas.update()
            self._update_text()
            self.stepped.emit()

    def reset(self) -> None:
        self.pause()
        if self.model is not None:
            self.model = self._fresh()
            self.canvas.set_model(self.model)
        self._update_text()

    def finish(self) -> None:
        self.pause()
        if self.model is not None:
            self.model.run_to_end()
            self.canvas.update()
            self._update_text()

    def _fresh(self) -> ScanModel:
        m = self.model
        fresh = ScanModel.__new__(ScanModel)
        fresh.__dict__.update(m.__dict__)
        fresh.output = np.full(m.shape, np.nan, dtype=np.float32)
        fresh.position = 0
        fresh.last = None
        return fresh

    def _speed_changed(self, _value: int) -> None:
        self.timer.setInterval(max(16, int(1000 / self.steps_per_second())))

    def _tick(self) -> None:
        if self.model is None:
            self.pause()
            return
        # at high speeds several steps per tick, so the timer never floods the event loop
        steps = max(1, round(self.steps_per_second() * self.timer.interval() / 1000))
        for _ in range(steps):
            if not self.model.step():
                break
        self.canvas.update()
        self._update_text()
        self.stepped.emit()
        if self.model.finished:
            self.pause()

    def _update_text(self) -> None:
        m = self.model
        if m is None:
            self.progress.setText("")
            return
        h, w = m.copy.shape[:2]
        self.progress.setText(f"{m.position}/{m.n_cells} cells · copy {w}×{h}")
        self.text.setText(m.arithmetic())
