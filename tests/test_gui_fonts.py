"""The tables of numbers use a font Qt itself confirms is fixed pitch."""

from PyQt6.QtGui import QFontInfo

from convdemo.gui.fonts import monospace_font


def test_monospace_font_is_fixed_pitch(qapp):
    font = monospace_font(13.0)
    assert QFontInfo(font).fixedPitch(), QFontInfo(font).family()
    assert font.pointSizeF() == 13.0
