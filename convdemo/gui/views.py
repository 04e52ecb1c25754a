"""The two image views (input and output), pyqtgraph ViewBoxes that share zoom and pan."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QPen
from PyQt6.QtWidgets import QGraphicsRectItem, QLabel, QStackedWidget, QVBoxLayout, QWidget

from convdemo.colormaps import diverging_lut


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
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
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
        self.message.setStyleSheet("QLabel { background: #2b2b2b; color: #f0f0f0; "
                                   "font-size: 14pt; }")
        self.stack.addWidget(self.message)
        layout.addWidget(self.stack, 1)
        self._diverging = pg.ColorMap(np.linspace(0, 1, 256), diverging_lut(256))

    def show_image(self, rgb: np.ndarray, rect: tuple | None = None) -> None:
        self.image.setImage(rgb, autoLevels=False)
        if rect is not None:
            self.image.setRect(QRectF(*rect))
        self.stack.setCurrentIndex(0)

    def show_message(self, text: str, error: bool = False) -> None:
        colour = "#ff9c9c" if error else "#f0f0f0"
        self.message.setStyleSheet(f"QLabel {{ background: #2b2b2b; color: {colour}; "
                                   "font-size: 14pt; }")
        self.message.setText(text)
        self.stack.setCurrentIndex(1)

    def showing_message(self) -> bool:
        return self.stack.currentIndex() == 1

    def set_scale(self, vmin: float, vmax: float, diverging: bool) -> None:
        if not np.isfinite(vmin) or not np.isfinite(vmax) or vmin == vmax:
            vmin, vmax = (vmin - 0.5, vmin + 0.5) if np.isfinite(vmin) else (0.0, 1.0)
        self.colour_bar.setColorMap(self._diverging if diverging else self._grey)
        self.colour_bar.setLevels((float(vmin), float(vmax)))


def outline(colour: str, width: float = 2.0) -> QGraphicsRectItem:
    """A hidden rectangle with a cosmetic pen, for receptive fields and hovered pixels."""
    item = QGraphicsRectItem()
    pen = QPen(QColor(colour))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    item.setPen(pen)
    item.setZValue(10)
    item.hide()
    return item
