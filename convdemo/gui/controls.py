"""The convolution controls: stride, padding, border, channels, activation, pooling, display.

Every widget keeps its objectName (the tests drive them by name). :meth:`Controls.fields`
returns the keyword arguments for :meth:`convdemo.pipeline.Settings.replace`.
"""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from convdemo.imaging import DISPLAY_MODES
from convdemo.pipeline import Settings

PADDINGS = ("valid", "same", "full", "custom N")
BORDERS = ("zeros", "reflect", "replicate", "wrap")
CHANNELS = ("sum", "separate", "gray")
ACTIVATIONS = ("none", "ReLU")
POOLS = ("none", "max", "avg")

TIPS = {
    "stride": "how far the window moves each step; stride 2 halves the output size",
    "padding": "valid: only where the kernel fits; same: the output keeps the input size "
    "(for stride 1); full: every overlap; custom: N cells on each side",
    "border": "what the padded cells hold: zeros, a mirror of the image (reflect), "
    "the edge pixel repeated (replicate), or the opposite side (wrap)",
    "channels": "separate: R, G and B each filtered on their own, like a photo filter "
    "(the default); sum: one kernel over R, G and B, added into one grey output (one CNN "
    "neuron; a colour photo gets up to 3 times brighter); gray: convert to grey first",
    "activation": "ReLU sets negative outputs to 0",
    "pool": "max or average pooling after the convolution (and the activation)",
    "display": "clip: 0..1 as black..white; normalize: min..max; abs: |x| scaled; "
    "diverging: blue for negative, white for 0, red for positive",
}


def _combo(parent: QWidget, name: str, items, tip: str) -> QComboBox:
    combo = QComboBox(parent)
    combo.setObjectName(name)
    combo.addItems(list(items))
    combo.setToolTip(tip)
    return combo


class Controls(QWidget):
    """Emits ``changed`` after any control changes."""

    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("controls")
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.setVerticalSpacing(4)

        self.strideSpin = QSpinBox(self)
        self.strideSpin.setObjectName("strideSpin")
        self.strideSpin.setRange(1, 8)
        self.strideSpin.setToolTip(TIPS["stride"])
        form.addRow("stride", self.strideSpin)

        self.paddingCombo = _combo(self, "paddingCombo", PADDINGS, TIPS["padding"])
        self.paddingSpin = QSpinBox(self)
        self.paddingSpin.setObjectName("paddingSpin")
        self.paddingSpin.setRange(0, 64)
        self.paddingSpin.setValue(1)
        self.paddingSpin.setPrefix("N = ")
        self.paddingSpin.setToolTip("cells of padding on each side (custom)")
        self.paddingSpin.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.paddingCombo, 1)
        row.addWidget(self.paddingSpin)
        form.addRow("padding", row)

        self.borderCombo = _combo(self, "borderCombo", BORDERS, TIPS["border"])
        form.addRow("border", self.borderCombo)
        self.channelsCombo = _combo(self, "channelsCombo", CHANNELS, TIPS["channels"])
        self.channelsCombo.setCurrentText(Settings.channels)
        form.addRow("channels", self.channelsCombo)
        self.activationCombo = _combo(self, "activationCombo", ACTIVATIONS, TIPS["activation"])
        form.addRow("activation", self.activationCombo)

        self.poolCombo = _combo(self, "poolCombo", POOLS, TIPS["pool"])
        self.poolSizeSpin = QSpinBox(self)
        self.poolSizeSpin.setObjectName("poolSizeSpin")
        self.poolSizeSpin.setRange(1, 8)
        self.poolSizeSpin.setValue(2)
        self.poolSizeSpin.setPrefix("size ")
        self.poolSizeSpin.setToolTip("pool window size")
        self.poolStrideSpin = QSpinBox(self)
        self.poolStrideSpin.setObjectName("poolStrideSpin")
        self.poolStrideSpin.setRange(0, 8)
        self.poolStrideSpin.setSpecialValueText("stride auto")
        self.poolStrideSpin.setPrefix("stride ")
        self.poolStrideSpin.setToolTip("pool stride (the default is the pool size)")
        form.addRow("pooling", self.poolCombo)
        row = QHBoxLayout()
        row.addWidget(self.poolSizeSpin)
        row.addWidget(self.poolStrideSpin)
        form.addRow("", row)

        self.displayCombo = _combo(self, "displayCombo", DISPLAY_MODES, TIPS["display"])
        form.addRow("display", self.displayCombo)

        self.note = QLabel(self)
        self.note.setObjectName("controlsNote")
        self.note.setWordWrap(True)
        form.addRow(self.note)

        for spin in (self.strideSpin, self.paddingSpin, self.poolSizeSpin, self.poolStrideSpin):
            spin.valueChanged.connect(self._changed)
        for combo in (self.paddingCombo, self.borderCombo, self.channelsCombo,
                      self.activationCombo, self.poolCombo, self.displayCombo):
            combo.currentIndexChanged.connect(self._changed)
        self._sync_enabled()

    def fields(self) -> dict:
        """Keyword arguments for ``Settings.replace`` (everything except kernel and bias)."""
        padding = self.paddingCombo.currentText()
        pool_stride = self.poolStrideSpin.value()
        return {
            "stride": self.strideSpin.value(),
            "padding": self.paddingSpin.value() if padding == "custom N" else padding,
            "border": self.borderCombo.currentText(),
            "channels": self.channelsCombo.currentText(),
            "relu": self.activationCombo.currentText() == "ReLU",
            "pool": self.poolCombo.currentText(),
            "pool_size": self.poolSizeSpin.value(),
            "pool_stride": pool_stride or None,
            "display": self.displayCombo.currentText(),
        }

    def set_fields(self, fields: dict, *, emit: bool = True) -> None:
        """Set the widgets from a ``fields()``-style dict (unknown or bad values are ignored).

        One ``changed`` signal at the end (none with ``emit=False``).
        """
        self.blockSignals(True)
        try:
            if "stride" in fields:
                self.strideSpin.setValue(int(fields["stride"]))
            if "padding" in fields:
                padding = fields["padding"]
                if isinstance(padding, int) or str(padding).isdigit():
                    self.paddingCombo.setCurrentText("custom N")
                    self.paddingSpin.setValue(int(padding))
                else:
                    self._set(self.paddingCombo, padding)
            self._set(self.borderCombo, fields.get("border"))
            self._set(self.channelsCombo, fields.get("channels"))
            if "relu" in fields:
                self.activationCombo.setCurrentIndex(1 if _truthy(fields["relu"]) else 0)
            self._set(self.poolCombo, fields.get("pool"))
            if "pool_size" in fields:
                self.poolSizeSpin.setValue(int(fields["pool_size"]))
            if "pool_stride" in fields:
                self.poolStrideSpin.setValue(int(fields["pool_stride"] or 0))
            self._set(self.displayCombo, fields.get("display"))
        except (TypeError, ValueError):
            pass
        finally:
            self.blockSignals(False)
        if emit:
            self._changed()
        else:
            self._sync_enabled()

    @staticmethod
    def _set(combo: QComboBox, text) -> None:
        if text is not None and combo.findText(str(text)) >= 0:
            combo.setCurrentText(str(text))

    def _sync_enabled(self) -> None:
        self.paddingSpin.setEnabled(self.paddingCombo.currentText() == "custom N")
        pooling = self.poolCombo.currentText() != "none"
        self.poolSizeSpin.setEnabled(pooling)
        self.poolStrideSpin.setEnabled(pooling)

    def _changed(self) -> None:
        self._sync_enabled()
        if not self.signalsBlocked():
            self.changed.emit()


def _truthy(value) -> bool:
    return value in (True, 1, "true", "True", "1")
