"""One fixed-width font for every table of numbers in the window.

``QFontDatabase.systemFont(FixedFont)`` asks fontconfig for "monospace", and on some machines
that resolves to a family Qt itself does not treat as fixed pitch (seen on Debian 12 once
ImageMagick's dependencies brought Noto Sans Mono). Columns of kernel numbers then stop
lining up, so the family is chosen here from fonts Qt confirms are fixed pitch.
"""

from __future__ import annotations

from PyQt6.QtGui import QFont, QFontDatabase, QFontInfo

#: tried after the system's own fixed font, in this order
FALLBACK_FAMILIES = ("DejaVu Sans Mono", "Liberation Mono", "Noto Mono", "Courier New", "Courier")


def monospace_font(point_size: float | None = None) -> QFont:
    """A fixed-pitch QFont (the system's if Qt agrees it is fixed, else the first fallback
    installed), at ``point_size`` if given."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if not QFontInfo(font).fixedPitch():
        installed = set(QFontDatabase.families())
        for family in FALLBACK_FAMILIES:
            if family in installed and QFontDatabase.isFixedPitch(family):
                font = QFont(family)
                break
    font.setStyleHint(QFont.StyleHint.TypeWriter)
    if point_size is not None:
        font.setPointSizeF(point_size)
    return font


# ---------------------------------------------------------------------------- scaling
#: the interface scale's limits and steps (View ▸ Larger / Smaller, Ctrl+= / Ctrl+-)
SCALE_MIN, SCALE_MAX = 0.75, 2.5
SCALE_STEPS = (0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5)
_FACTOR = "convdemoFontFactor"
_BOLD = "convdemoFontBold"
_MONO = "convdemoFontMono"
_state = {"base": None, "scale": 1.0}


def base_point_size() -> float:
    """The application font's size at scale 1 (captured the first time it is asked)."""
    from PyQt6.QtWidgets import QApplication

    if _state["base"] is None:
        _state["base"] = QApplication.font().pointSizeF()
    return _state["base"]


def interface_scale() -> float:
    return _state["scale"]


def set_interface_scale(scale: float) -> float:
    """Scale every font of the application (clamped to SCALE_MIN..SCALE_MAX); widgets whose
    font was set with :func:`relative` follow. Returns the scale in force."""
    from PyQt6.QtWidgets import QApplication

    base = base_point_size()
    scale = min(SCALE_MAX, max(SCALE_MIN, float(scale)))
    _state["scale"] = scale
    font = QApplication.font()
    font.setPointSizeF(base * scale)
    QApplication.setFont(font)  # every widget without a font of its own follows
    for widget in QApplication.allWidgets():
        if widget.property(_FACTOR) is not None:
            _apply(widget)
    return scale


def relative(widget, factor: float = 1.0, *, bold: bool | None = None, mono: bool = False):
    """Give ``widget`` a font ``factor`` times the interface's size (bold, or fixed pitch),
    and keep it so when the interface scale changes. Returns the font."""
    widget.setProperty(_FACTOR, float(factor))
    if bold is not None:
        widget.setProperty(_BOLD, bool(bold))
    widget.setProperty(_MONO, bool(mono))
    return _apply(widget)


def _apply(widget):
    size = base_point_size() * _state["scale"] * float(widget.property(_FACTOR))
    font = monospace_font(size) if widget.property(_MONO) else widget.font()
    font.setPointSizeF(size)
    bold = widget.property(_BOLD)
    if bold is not None:
        font.setBold(bool(bold))
    widget.setFont(font)
    return font
