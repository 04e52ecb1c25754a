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
