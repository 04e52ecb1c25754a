"""Widgets that show a CNN layer's feature maps: the clickable grid, one enlarged map, a scale.

All maps of a layer share one colour scale (viridis, from 0 to the layer's largest
activation), so a bright tile means "more active than a dark tile" across the whole grid,
not just within one map. The arrays come in as float32 (H, W, C), C maps of H x W, exactly
as ``Model.activations(x)[layer][0]`` gives them; they are turned into uint8 RGB once, here,
and painted nearest-neighbour so every activation is a visible square.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPoint, QRect, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PyQt6.QtWidgets import QSizePolicy, QToolTip, QWidget

from convdemo.colormaps import to_viridis, viridis_lut
from convdemo.gui.qimage import to_qimage

#: colour of the frame around the most active maps (orange: stands out against viridis)
HIGHLIGHT = QColor(255, 140, 0)
#: colour of the frame around the map being inspected
SELECTED = QColor(230, 30, 60)
#: columns of the grid: 8 for the 32 maps of conv2d (4 rows) and the 64 of conv2d_1 (8 rows).
#: (10 columns left 29 px tiles in a 340 px dock: too narrow for a "0.129" label.)
COLUMNS = 8
#: gap between tiles, in pixels
GAP = 3


def columns_for(n: int) -> int:
    return COLUMNS


def mean_text(value: float, decimals: int = 3) -> str:
    """A map's mean for its label: ``decimals`` below 1 (3 by default, so near ties differ),
    one fewer from 1 up (the same width)."""
    d = decimals if abs(value) < 1 else max(1, decimals - 1)
    return f"{value:.{d}f}"


def top_maps(means: np.ndarray) -> list[int]:
    """Indices of the most active maps: the top eighth (at least 3), strongest first.

    Maps with a mean of exactly 0 (dead for this input) are never "most active".
    """
    k = max(3, len(means) // 8)
    order = [int(i) for i in np.argsort(-means, kind="stable")[:k]]
    return [i for i in order if means[i] > 0]


class PixelView(QWidget):
    """One small image shown large, nearest-neighbour, aspect kept; or a message instead."""

    def __init__(self, parent: QWidget | None = None, *, side: int = 140,
                 square: bool = False) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._message = ""
        self._side = side
        self._frame: QColor | None = None
        self._square = square
        if square:  # as wide as the layout gives, and as tall as wide
            policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
            policy.setHeightForWidth(True)
            self.setSizePolicy(policy)
        else:
            self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMinimumSize(side // 2, side // 2)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return self._square

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        return width

    def set_rgb(self, rgb: np.ndarray | None, frame: QColor | None = None) -> None:
        """Show uint8 (H, W, 3) or (H, W); None shows nothing."""
        self._image = None if rgb is None else to_qimage(rgb)
        self._message = ""
        self._frame = frame
        self.update()

    def set_message(self, text: str) -> None:
        """Show ``text`` (word-wrapped) instead of an image."""
        self._image = None
        self._message = text
        self.update()

    def message(self) -> str:
        return self._message

    def sizeHint(self) -> QSize:
        return QSize(self._side, self._side)

    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF(self.rect())
        w, h = self._image.width(), self._image.height()
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            rect = self.image_rect()
            painter.drawImage(rect, self._image)
            if self._frame is not None:
                painter.setPen(QPen(self._frame, 2))
                painter.drawRect(rect.adjusted(1, 1, -1, -1))
        else:
            painter.fillRect(self.rect(), QColor(24, 24, 24))
            if self._message:
                painter.setPen(QColor(220, 220, 220))
                painter.drawText(
                    QRectF(self.rect()).adjusted(6, 6, -6, -6),
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    self._message,
                )
        painter.end()


class ColourBar(QWidget):
    """A thin horizontal viridis bar labelled with its range: the grid's shared scale."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vmax = 0.0
        self._bar = to_qimage(viridis_lut()[None, :, :])
        self.setToolTip("One colour scale for every map of this layer: 0 (dark) to the "
                        "largest activation (yellow).")

    def set_range(self, vmax: float) -> None:
        self._vmax = float(vmax)
        self.update()

    def sizeHint(self) -> QSize:
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance("0 ") * 2 + 90 + fm.horizontalAdvance("00.00"),
                     fm.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        fm = self.fontMetrics()
        left = fm.horizontalAdvance("0") + 4
        right_text = f"{self._vmax:.2f}"
        right = fm.horizontalAdvance(right_text) + 4
        bar = QRectF(left, 2, max(10, self.width() - left - right), self.height() - 4)
        painter.drawImage(bar, self._bar)
        painter.setPen(self.palette().windowText().color())
        painter.drawText(QRect(0, 0, left, self.height()), Qt.AlignmentFlag.AlignVCenter, "0")
        painter.drawText(
            QRect(int(bar.right()) + 4, 0, right, self.height()),
            Qt.AlignmentFlag.AlignVCenter,
            right_text,
        )
        painter.end()


class FeatureMapGrid(QWidget):
    """The maps of one layer in a grid (:func:`columns_for`), each labelled with its mean.

    Click a tile to inspect it (:attr:`mapClicked` gives the map's channel index, whatever
    the sort order). The most active maps have an orange frame, the selected one a red one.
    """

    mapClicked = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("featureMapGrid")
        self._maps: np.ndarray | None = None  # float32 (H, W, C)
        self._images: list[QImage] = []
        self._means = np.zeros(0, np.float32)
        self._maxes = np.zeros(0, np.float32)
        self._vmax = 0.0
        self._order: list[int] = []
        self._top: list[int] = []
        self._sorted = False
        self._selected: int | None = None
        self._message = "No feature maps yet."
        sp = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        sp.setHeightForWidth(True)
        self.setSizePolicy(sp)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # arrow keys move the selection
        self.setMinimumWidth(COLUMNS * 28)

    def _label_font(self) -> QFont:
        """The tiles' labels: a little smaller than the panel's text (it follows the
        interface scale)."""
        font = QFont(self.font())
        font.setPointSizeF(max(6.5, self.font().pointSizeF() * 0.85))
        return font

    # ----------------------------------------------------------------- public API
    def set_maps(self, maps: np.ndarray, vmax: float | None = None) -> None:
        """Show float32 (H, W, C) ``maps`` on one scale from 0 to ``vmax`` (default: max)."""
        maps = np.asarray(maps, np.float32)
        if maps.ndim != 3:
            raise ValueError(f"maps must be (H, W, C), got shape {maps.shape}")
        self._maps = maps
        self._vmax = float(maps.max()) if vmax is None else float(vmax)
        self._means = maps.mean(axis=(0, 1))
        self._maxes = maps.max(axis=(0, 1))
        rgb = to_viridis(np.moveaxis(maps, 2, 0), self._vmax)  # (C, H, W, 3)
        self._images = [to_qimage(rgb[c]) for c in range(maps.shape[2])]
        self._top = top_maps(self._means)
        if self._selected is not None and self._selected >= maps.shape[2]:
            self._selected = None
        self._message = ""
        self._reorder()
        self._fit_height()
        self.updateGeometry()

    def set_message(self, text: str) -> None:
        """Show ``text`` instead of maps (e.g. "nothing to see")."""
        self._maps = None
        self._images = []
        self._order = []
        self._top = []
        self._message = text
        self._fit_height()
        self.updateGeometry()
        self.update()

    def message(self) -> str:
        return self._message

    def set_scale(self, scale: float) -> None:
        """Tiles at least 28 px (times the interface scale) wide."""
        self.setMinimumWidth(round(COLUMNS * 28 * scale))
        self.updateGeometry()

    def set_sorted(self, on: bool) -> None:
        """Order the tiles by mean activation, strongest first (else by channel index)."""
        self._sorted = bool(on)
        self._reorder()

    def set_selected(self, index: int | None) -> None:
        self._selected = index
        self.update()

    def selected(self) -> int | None:
        return self._selected

    def count(self) -> int:
        """How many maps are shown."""
        return len(self._images)

    def order(self) -> list[int]:
        """Channel index of each tile, in reading order."""
        return list(self._order)

    def most_active(self) -> list[int]:
        """Channel indices of the highlighted (most active) maps, strongest first."""
        return list(self._top)

    def means(self) -> np.ndarray:
        return self._means.copy()

    def vmax(self) -> float:
        return self._vmax

    def tile_rect(self, index: int) -> QRect:
        """On-screen rectangle of the tile showing channel ``index`` (image part)."""
        pos = self._order.index(index)
        return self._tile_geometry(pos)[0]

    # ------------------------------------------------------------------ geometry
    def label_decimals(self) -> int | None:
        """Decimals of the mean labels at the current width: 3, else 2 when 3 would not fit
        under a tile, else None (no room: labels hidden; hover or click a map for its mean)."""
        if not self._images:
            return None
        room = round(self._cell_side()) - 2
        fm = QFontMetrics(self._bold_font())  # the widest of the two label fonts
        for d in (3, 2):
            if max(fm.horizontalAdvance(mean_text(float(v), d)) for v in self._means) <= room:
                return d
        return None

    def labels(self) -> list[tuple[int, QRect, str]]:
        """(channel, label rect, text) of every tile as painted, in reading order."""
        d = self.label_decimals()
        if d is None:
            return []
        return [(ch, self._tile_geometry(pos)[1], mean_text(float(self._means[ch]), d))
                for pos, ch in enumerate(self._order)]

    def label_width(self, text: str, channel: int) -> int:
        """Painted width of ``text`` in the font of ``channel``'s label (bold if most active)."""
        font = self._bold_font() if channel in self._top else self._label_font()
        return QFontMetrics(font).horizontalAdvance(text)

    def _bold_font(self) -> QFont:
        bold = QFont(self._label_font())
        bold.setBold(True)
        return bold

    def _label_height(self) -> int:
        return QFontMetrics(self._label_font()).height()

    def _cell_side(self, width: int | None = None) -> float:
        width = self.width() if width is None else width
        cols = self._columns()
        return max(12.0, (width - GAP * (cols - 1)) / cols)

    def _tile_geometry(self, pos: int) -> tuple[QRect, QRect]:
        """(image rect, label rect) of the tile at reading position ``pos``."""
        side = self._cell_side()
        gap = GAP
        row, col = divmod(pos, self._columns())
        x = col * (side + gap)
        y = row * (side + self._label_height() + gap)
        img = QRect(round(x), round(y), round(side), round(side))
        label = QRect(round(x), round(y + side), round(side), self._label_height())
        return img, label

    def _columns(self) -> int:
        return columns_for(len(self._images))

    def _fit_height(self) -> None:
        """Ask the layout for exactly the height the tiles need at this width.

        (A scroll area does not honour heightForWidth alone; without a minimum height the
        panel's other widgets would be squeezed under the grid.)
        """
        need = self.heightForWidth(max(self.width(), self.minimumWidth()))
        if need != self.minimumHeight():
            self.setMinimumHeight(need)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        n = max(1, len(self._images))
        rows = (n + self._columns() - 1) // self._columns()
        if not self._images:
            return max(60, round(self._cell_side(width) * 2))
        return round(rows * (self._cell_side(width) + self._label_height() + 3))

    def sizeHint(self) -> QSize:
        w = 360
        return QSize(w, self.heightForWidth(w))

    def minimumSizeHint(self) -> QSize:
        return QSize(COLUMNS * 28, 60)

    def _pos_at(self, point: QPoint) -> int | None:
        for pos in range(len(self._order)):
            img, label = self._tile_geometry(pos)
            if img.united(label).contains(point):
                return pos
        return None

    # --------------------------------------------------------------------- paint
    def _reorder(self) -> None:
        n = len(self._images)
        if self._sorted:
            self._order = [int(i) for i in np.argsort(-self._means, kind="stable")]
        else:
            self._order = list(range(n))
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if not self._images:
            painter.setPen(self.palette().windowText().color())
            painter.drawText(
                QRectF(self.rect()).adjusted(8, 8, -8, -8),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._message,
            )
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        bold = self._bold_font()
        text_colour = self.palette().windowText().color()
        decimals = self.label_decimals()
        for pos, ch in enumerate(self._order):
            img_rect, label_rect = self._tile_geometry(pos)
            painter.drawImage(img_rect, self._images[ch])
            frame = SELECTED if ch == self._selected else HIGHLIGHT if ch in self._top else None
            if frame is not None:
                painter.setPen(QPen(frame, 2.5 if ch == self._selected else 2))
                painter.drawRect(QRectF(img_rect).adjusted(1, 1, -1, -1))
            if decimals is None:
                continue
            painter.setFont(bold if ch in self._top else self._label_font())
            painter.setPen(HIGHLIGHT.darker(115) if ch in self._top else text_colour)
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignCenter,
                             mean_text(float(self._means[ch]), decimals))
        painter.end()

    # -------------------------------------------------------------------- events
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pos = self._pos_at(event.position().toPoint())
        if pos is not None:
            ch = self._order[pos]
            self.set_selected(ch)
            self.mapClicked.emit(ch)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Arrow keys / Home / End move the selection through the tiles as shown."""
        if not self._order:
            return super().keyPressEvent(event)
        cols = self._columns()
        pos = self._order.index(self._selected) if self._selected in self._order else -1
        step = {
            Qt.Key.Key_Right: 1, Qt.Key.Key_Left: -1, Qt.Key.Key_Down: cols, Qt.Key.Key_Up: -cols,
        }.get(Qt.Key(event.key()))
        if step is not None:
            new = 0 if pos < 0 else min(max(pos + step, 0), len(self._order) - 1)
        elif event.key() == Qt.Key.Key_Home:
            new = 0
        elif event.key() == Qt.Key.Key_End:
            new = len(self._order) - 1
        else:
            return super().keyPressEvent(event)
        ch = self._order[new]
        self.set_selected(ch)
        self.mapClicked.emit(ch)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self._pos_at(event.position().toPoint())
        if pos is None:
            QToolTip.hideText()
            return
        ch = self._order[pos]
        rank = int(np.sum(self._means > self._means[ch])) + 1
        QToolTip.showText(
            event.globalPosition().toPoint(),
            f"map {ch}: mean {self._means[ch]:.3f}, max {self._maxes[ch]:.3f} "
            f"(rank {rank} of {len(self._order)}). Click to inspect.",
            self,
        )
