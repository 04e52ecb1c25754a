"""The pixel inspector panel: shows :func:`convdemo.inspection.describe_html` for the hovered
pixel (the arithmetic itself lives in the core, :mod:`convdemo.inspection`)."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from convdemo.gui import fonts
from convdemo.inspection import (
    Inspection,
    PoolInspection,
    describe_html,
    describe_pool_html,
)


class InspectorPanel(QWidget):
    """objectName ``inspectorPanel``; shows :func:`describe_html` for the hovered pixel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspectorPanel")
        self.inspection: Inspection | None = None
        self.pool_inspection: PoolInspection | None = None
        self.output_value: float | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(self)
        self.label.setObjectName("inspectorText")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fonts.relative(self.label, 1.0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.label)
        layout.addWidget(scroll)
        self.clear()

    def clear(self) -> None:
        self.pool_inspection = None
        self.inspection = None
        self.output_value = None
        self.label.setText(
            "<b>Pixel inspector</b><br>Hover over the output image: the window it reads is "
            "outlined on the input, and here you see its numbers, the kernel, the products and "
            "their sum, which is the output value."
        )

    def show_pool(self, pool: PoolInspection, display: str = "") -> None:
        """A pooled output pixel: the pool window, then the deciding conv pixel's sum."""
        self.pool_inspection = pool
        self.inspection = pool.detail
        self.output_value = float(pool.pooled[0]) if pool.pooled.size == 1 else None
        self.label.setText(describe_pool_html(pool, display))

    def show_inspection(self, ins: Inspection, output_value: float | None, note: str = "",
                        display: str = "") -> None:
        self.pool_inspection = None
        self.inspection = ins
        self.output_value = output_value
        self.label.setText(describe_html(ins, note, output_value, display))
