"""The Keras-style model summary in a dialog: a monospace table, with where the model came from."""

from __future__ import annotations

from collections.abc import Mapping

from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from convdemo.gui.fonts import monospace_font
from convdemo.model import describe_meta


class SummaryDialog(QDialog):
    """Shows ``summary`` (Model.summary()) in a fixed-width font, readable and copyable."""

    def __init__(
        self,
        title: str,
        summary: str,
        meta: Mapping[str, object] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("summaryDialog")
        self.setWindowTitle(f"Model summary — {title}")
        layout = QVBoxLayout(self)

        self.text = QPlainTextEdit(summary, self)
        self.text.setObjectName("summaryText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = monospace_font()
        font.setPointSizeF(max(font.pointSizeF(), self.font().pointSizeF()))
        self.text.setFont(font)
        layout.addWidget(self.text)

        about = describe_meta(meta or {})
        self.meta_label = QLabel(about, self)
        self.meta_label.setObjectName("summaryMeta")
        self.meta_label.setWordWrap(True)
        self.meta_label.setVisible(bool(about))
        layout.addWidget(self.meta_label)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(summary))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        # Wide enough for the whole table without wrapping, tall enough for every line.
        fm = self.text.fontMetrics()
        lines = summary.splitlines() or [""]
        width = max(fm.horizontalAdvance(line) for line in lines) + 48
        height = fm.lineSpacing() * (len(lines) + 2) + 24
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None:
            width = min(width, int(screen.width() * 0.9))
            height = min(height, int(screen.height() * 0.6))
        self.text.setMinimumSize(width, height)
