"""The two image views (input and output), pyqtgraph ViewBoxes that share zoom and pan."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QPen
from PyQt6.QtWidgets import QGraphicsRectItem, QLabel, QStackedWidget, QVBoxLayout, QWidget

from convdemo.colormaps import diverging_lut
from convdemo.gui import fonts


class ImagePane(QWidget):
    """A titled pyqtgraph view with one ImageItem (row-major, uint8, no autolevels)."""

    def __init__(self, title: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.title = QLabel(title, self)
        self.title.setObjectName(f"{name}Title")
        fonts.relative(self.title, 1.1, bold=True)
        layout.addWidget(self.title)
        self.stack = QStackedWidget(self)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setBackground(QColor("#2b2b2b"))
        self.graphics.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.view = self.graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True,
                                             enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        # Both panes carry a colour bar (the input's is its 0..1 grey scale), so their views
        # have the same size and the linked zoom shows exactly the same region in each.
        self._grey = pg.ColorMap([0, 1], [(0, 0, 0), (255, 255, 255)])
        self.colour_bar = pg.ColorBarItem(values=(0, 1), width=14, interactive=False,
                                          rounding=1e-9, colorMap=self._grey,
                                          colorMapMenu=False)
        self.colour_bar.axis.setWidth(44)
        self.graphics.addItem(self.colour_bar, row=0, col=1)
        self.stack.addWidget(self.graphics)
        self.message = QLabel(self)
        self.message.setObjectName(f"{name}Message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setMargin(16)
        self._message_pt = 14
        self._style_message(False)
        self.stack.addWidget(self.message)
        layout.addWidget(self.stack, 1)
        self._diverging = pg.ColorMap(np.linspace(0, 1, 256), diverging_lut(256))

    def set_interface_scale(self, scale: float) -> None:
        """The message's text and the colour bar's numbers at the interface scale."""
        self._message_pt = round(14 * scale)
        self._style_message(self._message_error)
        font = self.colour_bar.axis.style.get("tickFont") or self.font()
        font = type(font)(font)
        font.setPointSizeF(fonts.base_point_size() * scale)
        self.colour_bar.axis.setStyle(tickFont=font)
        self.colour_bar.axis.setWidth(round(44 * scale))

    def _style_message(self, error: bool) -> None:
        self._message_error = error
        colour = "#ff9c9c" if error else "#f0f0f0"
        self.message.setStyleSheet(f"QLabel {{ background: #2b2b2b; color: {colour}; "
                                   f"font-size: {self._message_pt}pt; }}")

    def show_image(self, rgb: np.ndarray, rect: tuple | None = None) -> None:
        """Show uint8 ``rgb`` ((H, W) or (H, W, 3)) in ``rect`` (x, y, w, h: input coordinates;
        default: one unit per pixel)."""
        if rect is None:
            rect = (0.0, 0.0, float(rgb.shape[1]), float(rgb.shape[0]))
        # never hand pyqtgraph a side over 32767 pixels: it would switch its automatic
        # downsampling on for good, which turns uint8 into float and breaks every later paint
        shown = rgb[::_step(rgb.shape[0]), ::_step(rgb.shape[1])]
        self.image.setImage(np.ascontiguousarray(shown), autoLevels=False, autoDownsample=False)
        self.image.setRect(QRectF(*rect))
        self.stack.setCurrentIndex(0)

    def show_message(self, text: str, error: bool = False) -> None:
        self._style_message(error)
        self.message.setText(text)
        self.stack.setCurrentIndex(1)

    def showing_message(self) -> bool:
        return self.stack.currentIndex() == 1

    def set_scale(self, vmin: float, vmax: float, diverging: bool) -> None:
        if not np.isfinite(vmin) or not np.isfinite(vmax) or vmin == vmax:
            vmin, vmax = (vmin - 0.5, vmin + 0.5) if np.isfinite(vmin) else (0.0, 1.0)
        self.colour_bar.setColorMap(self._diverging if diverging else self._grey)
        self.colour_bar.setLevels((float(vmin), float(vmax)))


#: the longest side pyqtgraph (and QPainter) draws an image with, in pixels
MAX_SHOWN_SIDE = 32767


def _step(n: int) -> int:
    """Every how many pixels to show along a side of ``n`` (1 unless it is over the limit)."""
    return max(1, -(-n // MAX_SHOWN_SIDE))


class Outline(QGraphicsRectItem):
    """A rectangle drawn with a cosmetic pen (its width in screen pixels at every zoom) over a
    dark halo, so it stays visible on a white photo and on a dark one alike."""

    def paint(self, painter, option, widget=None) -> None:  # noqa: D102 - Qt's method
        halo = QPen(QColor(0, 0, 0, 190))
        halo.setWidthF(self.pen().widthF() + 3.0)
        halo.setCosmetic(True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(halo)
        painter.drawRect(self.rect())
        painter.setPen(self.pen())
        painter.drawRect(self.rect())


def outline(colour: str, width: float = 3.0) -> Outline:
    """A hidden rectangle at least ``width`` screen pixels thick, for receptive fields and
    hovered pixels."""
    item = Outline()
    pen = QPen(QColor(colour))
    pen.setWidthF(max(3.0, width))
    pen.setCosmetic(True)
    item.setPen(pen)
    item.setZValue(10)
    item.hide()
    return item
