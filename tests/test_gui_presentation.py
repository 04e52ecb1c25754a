"""Presentation mode: full screen, the interface scale, the presenter layout, zoom."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtWidgets import QApplication, QLabel, QLineEdit

from conftest import image_wait
from convdemo.gui import fonts


@pytest.fixture
def window(make_window):
    w = make_window()
    image_wait(w, np.random.default_rng(0).random((40, 60, 3), dtype=np.float32))
    return w


def point_size(widget) -> float:
    return widget.font().pointSizeF()


def test_ctrl_plus_and_minus_scale_the_whole_interface(window, qtbot):
    window.findChild(QLineEdit, "kernelCell_1_1").setFocus()  # typing a weight, say
    readout = window.findChild(QLabel, "shapeReadout")
    cell = window.findChild(QLineEdit, "kernelCell_0_0")
    title = window.input_pane.title
    before = (point_size(readout), point_size(title), QApplication.font().pointSizeF(),
              cell.width())
    for _ in range(2):  # 100% -> 110% -> 125%
        qtbot.keyClick(window, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    scale = window.presentation.scale()
    assert scale == pytest.approx(1.25)
    QApplication.processEvents()
    cell = window.findChild(QLineEdit, "kernelCell_0_0")
    after = (point_size(readout), point_size(title), QApplication.font().pointSizeF(),
             cell.width())
    for a, b in zip(before[:3], after[:3], strict=True):
        assert b == pytest.approx(a * 1.25, rel=0.02)
    assert after[3] > before[3], "kernel cells grow with the text"
    assert "125%" in window.statusBar().currentMessage()
    assert QApplication.focusWidget() is window.findChild(QLineEdit, "kernelCell_1_1")
    qtbot.keyClick(window, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert window.presentation.scale() == pytest.approx(1.1)
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.presentation.scale() == 1.0
    assert point_size(readout) == pytest.approx(before[0], rel=0.02)


def test_the_scale_has_limits_and_is_remembered(make_window, window):
    for _ in range(20):
        window.presentation.larger()
    assert window.presentation.scale() == fonts.SCALE_MAX
    window.presentation.set_scale(1.5)
    window.close()
    fonts.set_interface_scale(1.0)
    again = make_window()
    assert again.presentation.scale() == 1.5
    for _ in range(20):
        again.presentation.smaller()
    assert again.presentation.scale() == fonts.SCALE_MIN


def test_a_bad_remembered_scale_is_dropped_with_a_note(make_window, settings_file):
    s = QSettings(str(settings_file), QSettings.Format.IniFormat)
    s.setValue("interfaceScale", "enormous")
    s.sync()
    window = make_window()
    assert window.presentation.scale() == 1.0
    assert "interface scale" in window.statusBar().currentMessage()


def test_f5_presenter_layout_hides_the_controls_and_brings_them_back(window, qtbot):
    views_before = window.tabs.height()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.presentation.presenting
    assert not window.bottom_row.isVisible() and not window.cnn_dock.isVisible()
    QApplication.processEvents()
    assert window.tabs.height() > views_before + 100, "the views take the room"
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.bottom_row.isVisible() and window.cnn_dock.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presentation.presenting and window.bottom_row.isVisible()


def test_f11_toggles_full_screen(window, qtbot):
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.isFullScreen() and window.presentation.full_screen_act.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert not window.isFullScreen()


def test_zoom_buttons_and_keys_show_the_zoom(window, qtbot):
    bar = window.presentation.zoom_bar
    assert bar.isVisible() and bar.parentWidget() is window.input_pane.graphics
    vb = window.input_pane.view
    window.fit_view()
    width = np.diff(vb.viewRange()[0])[0]
    label = window.findChild(QLabel, "zoomLabel")
    before = label.text()
    qtbot.mouseClick(bar.buttons["zoomIn"], Qt.MouseButton.LeftButton)
    assert np.diff(vb.viewRange()[0])[0] == pytest.approx(width / 1.25, rel=0.01)
    assert label.text() != before and label.text().endswith("%")
    percent = vb.width() * window.devicePixelRatioF() / np.diff(vb.viewRange()[0])[0] * 100
    assert label.text() == f"{percent:.0f}%"
    window.activateWindow()
    window.input_pane.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Minus)
    assert np.diff(vb.viewRange()[0])[0] == pytest.approx(width, rel=0.01)
    qtbot.mouseClick(bar.buttons["zoomOne"], Qt.MouseButton.LeftButton)
    assert label.text() == "100%"
