"""The kernel editor on its own: cells, parsing, presets, size, sum, normalize, bias, flip."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QPushButton, QTabWidget

from convdemo import kernels
from convdemo.formatting import format_number
from convdemo.gui.kernel_editor import KernelEditor
from convdemo.lab import ImageSource, Lab, LabState
from convdemo.pipeline import Settings


@pytest.fixture
def editor(qtbot):
    widget = KernelEditor()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def cell(editor, r, c, channel=""):
    found = editor.findChild(QLineEdit, f"kernelCell_{channel}{r}_{c}")
    assert found is not None
    return found


def test_object_names_and_default(editor):
    assert editor.objectName() == "kernelEditor"
    for r in range(3):
        for c in range(3):
            assert cell(editor, r, c).text() == ("1" if (r, c) == (1, 1) else "0")
    np.testing.assert_array_equal(editor.kernel(), kernels.PRESETS["identity"].array())


@pytest.mark.parametrize("text, value", [("1/9", 1 / 9), ("-0.1", -0.1), ("2*0.5", 1.0),
                                         ("(1+2)/4", 0.75), (" 3 ", 3.0)])
def test_cells_take_numbers_fractions_and_arithmetic(editor, qtbot, text, value):
    with qtbot.waitSignal(editor.changed, timeout=1000):
        cell(editor, 0, 2).setText(text)
    assert editor.kernel()[0, 2] == pytest.approx(value)
    assert not cell(editor, 0, 2).property("invalid")


@pytest.mark.parametrize("text", ["abc", "1/0", "__import__('os')", "2**1000", "1+", ""])
def test_invalid_text_is_red_with_a_reason_and_the_old_value_stays(editor, qtbot, text):
    cell(editor, 0, 0).setText("0.5")
    target = cell(editor, 0, 0)
    with qtbot.assertNotEmitted(editor.changed):
        target.setText(text)
    assert target.property("invalid") is True
    assert "background" in target.styleSheet()
    assert target.toolTip() and "stays in force" in target.toolTip()
    assert editor.kernel()[0, 0] == 0.5
    assert editor.invalid_cells() == [target]
    target.setText("1")
    assert not target.property("invalid") and editor.invalid_cells() == []


def test_every_preset_in_the_combo_with_its_description(editor):
    combo = editor.findChild(QComboBox, "presetCombo")
    names = [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)]
    assert names == list(kernels.PRESETS)
    for i in range(combo.count()):
        name = combo.itemData(i)
        if name:
            assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole) == \
                kernels.PRESETS[name].description
            combo.setCurrentIndex(i)
            combo.activated.emit(i)
            np.testing.assert_allclose(editor.kernel(), kernels.PRESETS[name].array())
            assert editor.kernel_size() == kernels.PRESETS[name].array().shape[0]


def test_one_click_buttons(editor, qtbot):
    for name in ("blur", "identity", "brighten", "edge"):
        button = editor.findChild(QPushButton, f"presetButton_{name}")
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        np.testing.assert_allclose(editor.kernel(), kernels.PRESETS[name].array())


def test_size_selector_grows_and_shrinks_about_the_centre(editor):
    editor.set_preset("edge")
    edge = kernels.PRESETS["edge"].array()
    size = editor.findChild(QComboBox, "sizeCombo")
    size.setCurrentIndex(3)  # 7x7
    k = editor.kernel()
    assert k.shape == (7, 7)
    np.testing.assert_allclose(k[2:5, 2:5], edge)
    assert np.count_nonzero(k) == np.count_nonzero(edge)
    assert editor.findChild(QLineEdit, "kernelCell_6_6") is not None
    size.setCurrentIndex(0)  # 1x1
    assert editor.kernel().shape == (1, 1)
    assert editor.findChild(QLineEdit, "kernelCell_1_1") is None


def test_sum_readout_and_normalize(editor):
    editor.set_kernel(np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], float))
    label = editor.findChild(QLabel, "kernelSum")
    assert label.text() == "sum = 16"
    editor.findChild(QPushButton, "normalizeButton").click()
    assert editor.kernel().sum() == pytest.approx(1.0)
    assert editor.kernel()[1, 1] == pytest.approx(0.25)
    assert label.text() == "sum = 1"
    assert cell(editor, 0, 0).text() == "1/16"


def test_normalize_refuses_a_zero_sum(editor):
    editor.set_preset("edge")
    before = editor.kernel()
    assert not editor.normalize()
    np.testing.assert_array_equal(editor.kernel(), before)
    assert "sum is 0" in editor.sourceLabel.text()


def test_bias_and_flip(editor, qtbot):
    bias = editor.findChild(QLineEdit, "biasEdit")
    with qtbot.waitSignal(editor.changed, timeout=1000):
        bias.setText("-1/8")
    assert editor.bias() == -0.125
    bias.setText("oops")
    assert bias.property("invalid") and editor.bias() == -0.125
    flip = editor.findChild(QCheckBox, "flipCheck")
    assert flip.text() == "flip (true convolution)"
    with qtbot.waitSignal(editor.changed, timeout=1000):
        flip.setChecked(True)
    assert editor.flip()


def test_per_channel_mode_gives_three_grids(editor):
    editor.set_preset("blur")
    check = editor.findChild(QCheckBox, "perChannelCheck")
    check.setChecked(True)
    assert editor.kernel().shape == (3, 3, 3)
    np.testing.assert_allclose(editor.kernel()[:, :, 2], kernels.PRESETS["blur"].array())
    cell(editor, 1, 1, "G_").setText("-1")
    k = editor.kernel()
    blur = float(kernels.PRESETS["blur"].array()[1, 1])
    assert k[1, 1, 1] == -1 and k[1, 1, 0] == blur
    assert "R" in editor.sumLabel.text() and "G" in editor.sumLabel.text()
    # all three grids at once, side by side, no tabs
    grids = [cell(editor, 0, 0, f"{ch}_") for ch in "RGB"]
    assert all(g.isVisible() for g in grids)
    xs = [g.mapTo(editor, g.rect().topLeft()).x() for g in grids]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert editor.findChild(QTabWidget) is None
    # a grey image: no neuron (its R plane stays), and the box is off and disabled
    editor.lab.set_image(np.zeros((8, 8), np.float32), ImageSource("generated", "", "grey"))
    assert not check.isChecked() and not check.isEnabled()
    assert editor.kernel().shape == (3, 3)


def test_a_preset_keeps_the_neuron_and_undo_brings_the_planes_back(editor):
    editor.perChannelCheck.setChecked(True)
    cell(editor, 1, 1, "B_").setText("7")
    editor.findChild(QPushButton, "presetButton_edge").click()
    assert editor.perChannelCheck.isChecked() and editor.kernel().shape == (3, 3, 3)
    assert cell(editor, 1, 1, "B_").text() == "1"
    editor.lab.undo()
    assert cell(editor, 1, 1, "B_").text() == "7" and editor.kernel()[1, 1, 2] == 7


def test_load_filter_takes_exact_values(editor):
    kernel = np.array([[0.1234567, -0.2, 0.3], [0.0, 1.5, -0.75], [0.25, 0.0, -1.0]])
    editor.flipCheck.setChecked(True)
    editor.load_filter(kernel, 0.0625, source="digits filter 3")
    np.testing.assert_array_equal(editor.kernel(), kernel)
    assert editor.bias() == 0.0625 and not editor.flip()
    assert cell(editor, 0, 0).text() == "0.1235"  # shown short, kept exact
    with pytest.raises(ValueError, match="3x3"):
        editor.load_filter(np.zeros((5, 5)), 0.0)


def test_the_editor_is_a_view_of_its_lab(editor, qtbot):
    editor.set_preset("sobel-x")
    editor.biasEdit.setText("0.5")
    editor.flipCheck.setChecked(True)
    other = KernelEditor(Lab(editor.lab.state))  # as after a restart from a saved lab
    qtbot.addWidget(other)
    np.testing.assert_array_equal(other.kernel(), editor.kernel())
    assert other.bias() == 0.5 and other.flip() and other.biasEdit.text() == "0.5"
    assert other.flipCheck.isChecked() and cell(other, 0, 0).text() == "-1"
    editor.lab.undo()  # flip off again: the widget follows the lab
    assert not editor.flipCheck.isChecked()
    editor.lab.undo()
    assert editor.biasEdit.text() == "0"


@pytest.mark.parametrize("value, text", [
    (0.0, "0"), (2.0, "2"), (1 / 9, "1/9"), (-0.125, "-1/8"), (0.1234567, "0.1235"),
    (float(np.float32(0.1)), "0.1"), (float(np.float32(1 / 9)), "1/9"), (-0.25, "-0.25"),
    (1 / 16, "1/16"), (123456.0, "123456"), (1e-6, "1e-06")])
def test_format_number(value, text):
    assert format_number(value) == text


def test_preset_combo_names_the_kernel_in_force_or_custom(editor, qtbot):
    combo = editor.findChild(QComboBox, "presetCombo")
    assert combo.currentData() == "identity"
    learned = np.array([[0.21, -0.4, 0.13], [0.05, 0.3, -0.2], [0.1, 0.0, -0.33]])
    other = KernelEditor(Lab(LabState(settings=Settings(bias=-0.01).replace(kernel=learned))))
    qtbot.addWidget(other)
    assert other.presetCombo.currentData() is None and other.presetCombo.currentText() == "custom"
    other.lab.set_settings("kernel", kernel=kernels.PRESETS["sobel-y"].array())
    assert other.presetCombo.currentData() == "sobel-y"
    editor.load_filter(learned, 0.0)
    assert combo.currentText() == "custom"
    editor.set_preset("box-blur")
    assert combo.currentData() == "box-blur"
    cell(editor, 0, 0).setText("0.5")  # edited: no longer box-blur
    assert combo.currentText() == "custom"
    cell(editor, 0, 0).setText("1/9")  # typed back exactly (in float32): box-blur again
    assert combo.currentData() == "box-blur"
    editor.sizeCombo.setCurrentIndex(2)  # 5x5, zero-padded: no preset is that
    assert combo.currentText() == "custom"


@pytest.mark.parametrize("value, text", [
    (float(np.float32(13 / 175)), "0.07429"), (3 / 128, "3/128"), (1 / 256, "1/256"),
    (float(np.float32(1 / 7)), "1/7"), (5 / 17, "0.2941"), (float(np.float32(-0.0625)), "-1/16"),
    (float(np.float32(0.1) + np.float32(1e-8)), "0.1000"), (0.1 + 1e-7, "0.1000")])
def test_fractions_only_when_simple_and_exact_in_float32(value, text):
    assert format_number(value) == text


def test_shown_text_parses_back_exactly_or_the_tooltip_gives_the_value(editor):
    """The decision: the exact value is in force; the text is a view. A short decimal or a
    fraction is shown only if it parses back to the float32 in force; otherwise 4 significant
    digits, and the tooltip gives the exact value."""
    rng = np.random.default_rng(5)
    values = [v for p in kernels.PRESETS.values() for v in p.array().ravel()]
    values += list(rng.normal(0, 0.3, 200).astype(np.float32)) + [13 / 175, 1 / 9, 2 / 3]
    for v in values:
        text = format_number(float(v))
        if "/" in text or len(text.lstrip("-")) <= 5 and "e" not in text and \
                np.float32(float(text)) == np.float32(v):
            assert np.float32(kernels.parse_number(text)) == np.float32(v), (v, text)
        if "/" in text:
            den = int(text.split("/")[1])
            assert den <= 16 or den & (den - 1) == 0, (v, text)
    learned = np.float32([[13 / 175, -0.2, 0.3], [0.0, 1.5, -0.75], [0.25, 0.0, -1.0]])
    editor.load_filter(learned, float(np.float32(-0.003491)))
    c = cell(editor, 0, 0)
    assert c.text() == "0.07429"
    assert editor.kernel()[0, 0] == float(learned[0, 0])  # exact, not the 4 digits shown
    assert repr(float(learned[0, 0])) in c.toolTip()
    assert "rounded" not in cell(editor, 0, 1).toolTip()  # -0.2 is shown exactly
    assert editor.bias() == float(np.float32(-0.003491))
    assert editor.biasEdit.text() == "-0.003491"


def test_the_sum_is_shown_as_float32_tells_it_not_as_a_rounded_view(editor):
    learned = np.float32([[0.2, -0.1, 0.05], [0.3, -0.7, 0.1], [0.0, 0.25, -0.15]])
    editor.load_filter(learned, 0.0)
    assert editor.sumLabel.text() == "sum = -0.05"  # not "-0.05000" (float64 noise)
