"""The convolution controls: a view of the lab's settings (stride, padding, border, dilation,
channels, activation, pooling, display) and the way to change them.

Every widget keeps its objectName (the tests drive them by name). A user's change goes to the
lab (:meth:`convdemo.lab.Lab.set_settings`); the lab's change comes back and is drawn here, so
a preset, an undo or a state file updates the controls exactly as a click does.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from convdemo.imaging import DISPLAY_MODES
from convdemo.lab import Change, Lab
from convdemo.limits import RANGES
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
    "dilation": "spacing between the kernel's taps: 2 spreads a 3x3 kernel over 5x5 pixels "
    "with holes between its weights (a wider view for the same 9 weights)",
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


def _spin(parent: QWidget, name: str, key: str, tip: str, prefix: str = "") -> QSpinBox:
    spin = QSpinBox(parent)
    spin.setObjectName(name)
    spin.setRange(*RANGES[key])
    spin.setToolTip(tip)
    if prefix:
        spin.setPrefix(prefix)
    return spin


class Controls(QWidget):
    """objectName ``controls``: a view of ``lab.settings`` (all but kernel, bias and flip)."""

    def __init__(self, lab: Lab | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("controls")
        self.lab = lab if lab is not None else Lab()
        self._drawing = False
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.setVerticalSpacing(4)

        self.strideSpin = _spin(self, "strideSpin", "stride", TIPS["stride"])
        form.addRow("stride", self.strideSpin)
        self.paddingCombo = _combo(self, "paddingCombo", PADDINGS, TIPS["padding"])
        self.paddingSpin = _spin(self, "paddingSpin", "padding",
                                 "cells of padding on each side (custom)", "N = ")
        self.paddingSpin.setValue(1)
        row = QHBoxLayout()
        row.addWidget(self.paddingCombo, 1)
        row.addWidget(self.paddingSpin)
        form.addRow("padding", row)
        self.borderCombo = _combo(self, "borderCombo", BORDERS, TIPS["border"])
        form.addRow("border", self.borderCombo)
        self.dilationSpin = _spin(self, "dilationSpin", "dilation", TIPS["dilation"])
        form.addRow("dilation", self.dilationSpin)
        self.channelsCombo = _combo(self, "channelsCombo", CHANNELS, TIPS["channels"])
        form.addRow("channels", self.channelsCombo)
        self.activationCombo = _combo(self, "activationCombo", ACTIVATIONS, TIPS["activation"])
        form.addRow("activation", self.activationCombo)
        self.poolCombo = _combo(self, "poolCombo", POOLS, TIPS["pool"])
        self.poolSizeSpin = _spin(self, "poolSizeSpin", "pool_size", "pool window size",
                                  "size ")
        self.poolStrideSpin = QSpinBox(self)
        self.poolStrideSpin.setObjectName("poolStrideSpin")
        self.poolStrideSpin.setRange(0, RANGES["pool_stride"][1])
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

        for spin, key in ((self.strideSpin, "stride"), (self.paddingSpin, "padding"),
                          (self.dilationSpin, "dilation"), (self.poolSizeSpin, "pool_size"),
                          (self.poolStrideSpin, "pool_stride")):
            spin.valueChanged.connect(lambda _v, k=key: self._changed(k))
        for combo, key in ((self.paddingCombo, "padding"), (self.borderCombo, "border"),
                           (self.channelsCombo, "channels"), (self.activationCombo, "relu"),
                           (self.poolCombo, "pool"), (self.displayCombo, "display")):
            combo.currentIndexChanged.connect(lambda _i, k=key: self._changed(k))
        self.lab.events.connect(self._on_change)
        self.show_settings(self.lab.settings)

    # ------------------------------------------------------------------ the lab -> here
    def _on_change(self, change: Change) -> None:
        if change.settings_fields:
            self.show_settings(change.new.settings)

    def show_settings(self, s: Settings) -> None:
        """Draw ``s`` without sending anything back to the lab."""
        self._drawing = True
        try:
            self.strideSpin.setValue(s.stride)
            if isinstance(s.padding, str):
                self.paddingCombo.setCurrentText(s.padding)
            else:
                self.paddingCombo.setCurrentText("custom N")
                self.paddingSpin.setValue(int(s.padding))
            self.borderCombo.setCurrentText(s.border)
            self.dilationSpin.setValue(s.dilation)
            self.channelsCombo.setCurrentText(s.channels)
            self.activationCombo.setCurrentIndex(1 if s.relu else 0)
            self.poolCombo.setCurrentText(s.pool)
            self.poolSizeSpin.setValue(s.pool_size)
            self.poolStrideSpin.setValue(s.pool_stride or 0)
            self.displayCombo.setCurrentText(s.display)
        finally:
            self._drawing = False
        self._sync_enabled()

    # ------------------------------------------------------------------ here -> the lab
    def fields(self) -> dict:
        """What the widgets show, as keyword arguments for ``Settings.replace``."""
        padding = self.paddingCombo.currentText()
        return {
            "stride": self.strideSpin.value(),
            "padding": self.paddingSpin.value() if padding == "custom N" else padding,
            "border": self.borderCombo.currentText(),
            "dilation": self.dilationSpin.value(),
            "channels": self.channelsCombo.currentText(),
            "relu": self.activationCombo.currentText() == "ReLU",
            "pool": self.poolCombo.currentText(),
            "pool_size": self.poolSizeSpin.value(),
            "pool_stride": self.poolStrideSpin.value() or None,
            "display": self.displayCombo.currentText(),
        }

    def _changed(self, key: str) -> None:
        self._sync_enabled()
        if self._drawing:
            return
        value = self.fields()[key]
        if key == "display":
            self.lab.set_view(display_auto=False)  # the user picked: leave it alone from now
        word = {True: "on", False: "off"}.get(value, value) if key == "relu" else value
        self.lab.set_settings(f"{key.replace('_', ' ')} {word}", merge=f"control {key}",
                              **{key: value})

    def _sync_enabled(self) -> None:
        self.paddingSpin.setEnabled(self.paddingCombo.currentText() == "custom N")
        pooling = self.poolCombo.currentText() != "none"
        self.poolSizeSpin.setEnabled(pooling)
        self.poolStrideSpin.setEnabled(pooling)
