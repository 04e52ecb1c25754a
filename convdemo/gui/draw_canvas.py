"""A square canvas to draw a digit with the mouse: a thick white stroke on black.

The drawing lives in a fixed-size greyscale :class:`QImage` (``RESOLUTION`` pixels square),
whatever the widget's size on screen, so the same gesture gives the same array on a laptop
and on a high-DPI projector. :meth:`DrawCanvas.image` returns it as float32 (H, W) in 0..1,
the dtype policy of the rest of convdemo.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from convdemo.gui.qimage import to_qimage

#: side of the backing image in pixels (MNIST digits were drawn large, then shrunk to 20 px)
RESOLUTION = 280
#: stroke width in backing-image pixels: about 1/12 of the canvas, which after the MNIST
#: preprocessing (longest side scaled to 20 px) gives the 2-3 px strokes MNIST digits have
PEN_WIDTH = 24


class DrawCanvas(QWidget):
    """Draw with the left mouse button; :attr:`changed` fires after every stroke segment."""

    #: the drawing changed (a segment was drawn, or the canvas was cleared)
    changed = pyqtSignal()
    #: a stroke ended (mouse released)
    strokeFinished = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drawCanvas")
        self._image = QImage(RESOLUTION, RESOLUTION, QImage.Format.Format_Grayscale8)
        self._image.fill(0)
        self._last: QPointF | None = None
        self._empty = True
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMinimumSize(96, 96)
        self.setToolTip("Draw a digit with the mouse (white on black), like MNIST.")
        # no buttons over the drawing: the panel puts Clear beside the canvas

    # ----------------------------------------------------------------- public API
    def image(self) -> np.ndarray:
        """The drawing as float32 (RESOLUTION, RESOLUTION), 0 = black .. 1 = white."""
        ptr = self._image.constBits()
        ptr.setsize(self._image.sizeInBytes())
        rows = np.frombuffer(ptr, np.uint8).reshape(RESOLUTION, self._image.bytesPerLine())
        return rows[:, :RESOLUTION].astype(np.float32) / np.float32(255.0)

    def is_empty(self) -> bool:
        """True until something is drawn (and again after :meth:`clear`)."""
        return self._empty

    def set_image(self, drawing: np.ndarray | None) -> None:
        """Show ``drawing`` (float32 (H, W) in 0..1, resampled to the canvas), or a blank
        canvas for None. Emits nothing: this is the lab's drawing coming back."""
        if drawing is None:
            if not self._empty:
                self._image.fill(0)
                self._empty = True
                self._last = None
                self.update()
            return
        a = np.asarray(drawing, np.float32)
        if a.shape == (RESOLUTION, RESOLUTION) and np.array_equal(a, self.image()):
            return  # what we show already (the stroke that just ended)
        if a.shape != (RESOLUTION, RESOLUTION):
            a = np.asarray(Image.fromarray(a, mode="F").resize((RESOLUTION, RESOLUTION),
                                                               Image.Resampling.BILINEAR))
        u8 = np.ascontiguousarray(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8))
        self._image = to_qimage(u8)
        self._empty = not u8.any()
        self._last = None
        self.update()

    def clear(self) -> None:
        self._image.fill(0)
        self._empty = True
        self._last = None
        self.update()
        self.changed.emit()

    def draw_polyline(self, points: list[tuple[float, float]]) -> None:
        """Draw one stroke through ``points`` given in backing-image pixels (for scripts)."""
        if not points:
            return
        self._last = QPointF(*points[0])
        self._segment_to(QPointF(*points[0]))
        for x, y in points[1:]:
            self._segment_to(QPointF(x, y))
        self._last = None
        self.changed.emit()
        self.strokeFinished.emit()

    # ------------------------------------------------------------------ geometry
    def sizeHint(self) -> QSize:
        return QSize(150, 150)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    def _square(self) -> QRectF:
        """The on-screen square the backing image is shown in (centred, letterboxed)."""
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_image(self, pos: QPointF) -> QPointF:
        sq = self._square()
        scale = RESOLUTION / sq.width()
        return QPointF((pos.x() - sq.left()) * scale, (pos.y() - sq.top()) * scale)

    # ------------------------------------------------------------------- drawing
    def _segment_to(self, point: QPointF) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(255, 255, 255), PEN_WIDTH)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        start = self._last if self._last is not None else point
        if start == point:
            painter.drawPoint(point)
        else:
            painter.drawLine(start, point)
        painter.end()
        self._last = point
        self._empty = False
        self.update()

    # -------------------------------------------------------------------- events
    # We track the stroke ourselves (press -> move -> release) instead of trusting
    # event.buttons(), so synthetic events from tests and tablets behave the same.
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self._last = None
        self._segment_to(self._to_image(event.position()))
        self.changed.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is None:
            return super().mouseMoveEvent(event)
        self._segment_to(self._to_image(event.position()))
        self.changed.emit()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._last is None:
            return super().mouseReleaseEvent(event)
        self._segment_to(self._to_image(event.position()))
        self._last = None
        self.changed.emit()
        self.strokeFinished.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        sq = self._square()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(sq, self._image)
        painter.setPen(QPen(self.palette().mid().color(), 1))
        painter.drawRect(sq.adjusted(0, 0, -1, -1))
        if self._empty:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(sq, Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        painter.end()
