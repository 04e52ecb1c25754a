"""Scan mode's panel: a thin QPainter renderer of :func:`convdemo.scan_render.layout`'s
scene (the same primitives the GIF export draws with Pillow), with Play, Pause, Step, Reset,
To the end and a speed control in steps per second.
"""

from __future__ import annotations

import copy

import numpy as np
from PyQt6.QtCore import QLineF, QRect, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from convdemo.gui.fonts import monospace_font
from convdemo.lab import SCAN_SPEEDS, View
from convdemo.pipeline import Settings
from convdemo.scan import ScanModel, scan_copy
from convdemo.scan_render import Cells, Hatch, Lines, Rect, Scene, Text, layout

#: the speeds the slider offers, in steps per second (within lab.SCAN_SPEEDS)
SPEEDS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)
assert SPEEDS[0] == SCAN_SPEEDS[0] and SPEEDS[-1] == SCAN_SPEEDS[1]

_ALIGN = {"left": Qt.AlignmentFlag.AlignLeft, "center": Qt.AlignmentFlag.AlignHCenter,
          "right": Qt.AlignmentFlag.AlignRight}


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _edges(x: float, y: float, w: float, h: float) -> QRect:
    """Whole-pixel rectangle, rounded as the Pillow renderer rounds."""
    x0, y0 = round(x), round(y)
    return QRect(x0, y0, round(x + w) - x0, round(y + h) - y0)


def paint_scene(painter: QPainter, scene: Scene) -> None:
    """Draw ``scene``'s primitives in order (as :func:`convdemo.scan_export.render` does)."""
    painter.fillRect(QRect(0, 0, scene.width, scene.height), QColor(*scene.background))
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    fonts: dict[tuple[int, bool], QFont] = {}
    for item in scene.items:
        if isinstance(item, Cells):
            painter.drawImage(_edges(item.x, item.y, item.w, item.h), _qimage(item.rgb))
        elif isinstance(item, Rect):
            r = _edges(item.x, item.y, item.w, item.h)
            if r.width() <= 0 or r.height() <= 0:
                continue
            if item.fill is not None:
                painter.fillRect(r, QColor(*item.fill))
            if item.outline is not None:  # a band inside the edge, as four filled strips
                t, colour = max(1, int(item.width)), QColor(*item.outline)
                painter.fillRect(QRect(r.x(), r.y(), r.width(), min(t, r.height())), colour)
                painter.fillRect(QRect(r.x(), r.y() + max(0, r.height() - t), r.width(),
                                       min(t, r.height())), colour)
                painter.fillRect(QRect(r.x(), r.y(), min(t, r.width()), r.height()), colour)
                painter.fillRect(QRect(r.x() + max(0, r.width() - t), r.y(), min(t, r.width()),
                                       r.height()), colour)
        elif isinstance(item, (Lines, Hatch)):
            segments = item.segments() if isinstance(item, Hatch) else item.segments
            width = 1 if isinstance(item, Hatch) else int(item.width)
            painter.setPen(QPen(QColor(*item.colour), width))
            painter.drawLines([QLineF(round(a), round(b), round(c), round(d))
                               for a, b, c, d in segments])
        elif isinstance(item, Text) and item.text:
            key = (item.size, item.bold)
            if key not in fonts:
                f = QFont(scene.font_family) if scene.font_family else QFont()
                f.setPixelSize(max(1, item.size))
                f.setBold(item.bold)
                fonts[key] = f
            painter.setFont(fonts[key])
            painter.setPen(QColor(*item.colour))
            painter.drawText(QRectF(item.x, item.y, item.w, item.h),
                             _ALIGN[item.align] | Qt.AlignmentFlag.AlignVCenter, item.text)


class ScanCanvas(QWidget):
    """Draws a :class:`ScanModel` as :func:`convdemo.scan_render.layout` lays it out for the
    widget's size: the same scene the GIF export renders with Pillow."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scanCanvas")
        self.model: ScanModel | None = None
        self.text_scale = 1.0  # the interface scale (see set_text_scale)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(300, 200)

    def set_model(self, model: ScanModel | None) -> None:
        self.model = model
        self.update()

    def set_text_scale(self, scale: float) -> None:
        """Grow or shrink the scene's fonts with the interface scale (0.5 to 3); the fonts
        already follow the canvas's size."""
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or \
                not 0.5 <= scale <= 3:
            raise ValueError(f"the text scale must be 0.5 to 3, not {scale!r}")
        self.text_scale = float(scale)
        self.update()

    def scene(self) -> Scene | None:
        """The scene for the present state and size (None without a model)."""
        if self.model is None:
            return None
        return layout(self.model, max(1, self.width()), max(1, self.height()),
                      text_scale=self.text_scale)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        scene = self.scene()
        if scene is None:
            painter.fillRect(self.rect(), QColor("#fafafa"))
        else:
            paint_scene(painter, scene)
        painter.end()


class ScanPanel(QWidget):
    """objectName ``scanPanel``: the canvas, the arithmetic and the transport buttons.

    The canvas writes the last step's multiply-and-sum along its bottom, large; the same text
    is kept in the ``scanArithmetic`` label (hidden), for tests and for a layout that wants it.
    The speed is in steps per second (:data:`SPEEDS`, default ``View().scan_speed``);
    :meth:`steps_per_second`, :meth:`set_steps_per_second` and :attr:`speedChanged` let the
    window keep it in the lab's state.
    """

    stepped = pyqtSignal()
    #: the speed, in steps per second, after the user (or set_steps_per_second) changed it
    speedChanged = pyqtSignal(float)  # noqa: N815 - Qt's naming

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
        self.speedSlider.setRange(0, len(SPEEDS) - 1)  # an index into SPEEDS
        self.speedSlider.setPageStep(2)
        self.speedSlider.setValue(_nearest_speed(View().scan_speed))
        self.speedSlider.setToolTip(f"steps per second, {SPEEDS[0]:g} to {SPEEDS[-1]:g}")
        self.speedSlider.valueChanged.connect(self._speed_changed)
        bar.addWidget(self.speedSlider, 1)
        self.speedLabel = QLabel(self)
        self.speedLabel.setObjectName("scanSpeedLabel")
        self.speedLabel.setMinimumWidth(self.speedLabel.fontMetrics().horizontalAdvance(
            "00.5 steps/s"))
        bar.addWidget(self.speedLabel)
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
        self.text.setVisible(False)  # the canvas writes it, large enough for a room
        layout.addWidget(self.text)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._speed_changed(self.speedSlider.value())

    def steps_per_second(self) -> float:
        """The speed in steps per second (one of :data:`SPEEDS`)."""
        return SPEEDS[self.speedSlider.value()]

    def set_steps_per_second(self, speed: float) -> None:
        """Set the speed (steps per second, 0.5 to 60; the nearest offered speed is used)."""
        lo, hi = SCAN_SPEEDS
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or \
                not lo <= speed <= hi:
            raise ValueError(f"the scan speed must be {lo:g} to {hi:g} steps per second, "
                             f"not {speed!r}")
        self.speedSlider.setValue(_nearest_speed(speed))

    def set_source(self, image: np.ndarray | None, settings: Settings) -> None:
        """A new image or new settings: start a new scan (paused at the beginning)."""
        key = settings.replace(display="clip")  # the display mode is not scanned
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
        fresh = copy.copy(self.model)
        fresh.reset()
        return fresh

    def _speed_changed(self, _value: int) -> None:
        speed = self.steps_per_second()
        self.speedLabel.setText(f"{speed:g} steps/s")
        self.timer.setInterval(max(16, round(1000 / speed)))
        self.speedChanged.emit(speed)

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


def _nearest_speed(speed: float) -> int:
    """The index of the offered speed nearest ``speed`` (on a log scale)."""
    return int(np.argmin([abs(np.log(v / speed)) for v in SPEEDS]))
