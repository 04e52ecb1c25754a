"""The window as views of its lab: presets, undo/redo, reset, lab files, restoring, --fresh.

Expected outputs are computed independently with ``convdemo.pipeline`` from the lab's
settings; QSettings go to a temporary file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtWidgets import QComboBox, QLineEdit, QSpinBox

from conftest import open_wait, wait_until_idle
from convdemo import kernels, pipeline

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def window(make_window, photo):
    w = make_window()
    assert open_wait(w, photo)
    return w


def shown(window) -> np.ndarray:
    assert wait_until_idle(window)
    raw = window.output_raw()
    assert raw is not None, window.last_error
    return raw


def lecture(window, name: str) -> np.ndarray:
    """The lecture's result of preset ``name`` on the window's image, from scratch."""
    s = pipeline.Settings().replace(kernel=kernels.PRESETS[name].array())
    return pipeline.run(window.lab.image, s).raw


def test_presets_after_use_this_filter_give_the_lecture_result(window):
    """The issue's trial: "Use this filter" (bias 0.08248, grey), then identity and edge."""
    window.use_filter(np.float32([[0.1, -0.2, 0.3], [0.0, 0.5, -0.1], [0.2, 0.1, -0.4]]),
                      0.08248, "learned digits filter, run on grey")
    assert window.controls.channelsCombo.currentText() == "gray"
    assert window.kernel_editor.biasEdit.text() == "0.08248"
    window.findChild(type(window.kernel_editor.presetButtons["identity"]),
                     "presetButton_identity").click()
    np.testing.assert_array_equal(shown(window), lecture(window, "identity"))
    assert window.controls.channelsCombo.currentText() == "separate"
    assert window.kernel_editor.biasEdit.text() == "0"
    window.apply_preset("edge")
    np.testing.assert_array_equal(shown(window), lecture(window, "edge"))
    combo = window.findChild(QComboBox, "presetCombo")
    assert combo.currentData() == "edge"


def test_ctrl_z_and_ctrl_shift_z_walk_every_kind_of_change(window, qtbot, photo):
    before = shown(window).copy()
    window.apply_preset("blur")
    window.findChild(QSpinBox, "strideSpin").setValue(2)
    window.findChild(QLineEdit, "kernelCell_0_0").setText("1")
    after = shown(window).copy()
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(shown(window), before)
    assert window.findChild(QSpinBox, "strideSpin").value() == 1
    assert window.findChild(QLineEdit, "kernelCell_1_1").text() == "1"  # identity again
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key.Key_Z,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(shown(window), after)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # redo, too
    np.testing.assert_array_equal(shown(window), after)
    assert window.undo_act.text().replace("&", "").startswith("Undo kernel cell")


def test_undo_brings_back_the_previous_image(window, tmp_path):
    first = window.lab.image
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(other)
    assert open_wait(window, other)
    assert window.lab.image.shape == (12, 12)
    window.undo()
    assert window.lab.image is first
    np.testing.assert_array_equal(shown(window), lecture(window, "identity"))
    assert window.windowTitle().endswith("photo.png")


def test_reset_to_defaults_keeps_the_image(window):
    image = window.lab.image
    window.lab.set_settings("rehearsal", pool="avg", stride=3, relu=True)
    window.apply_preset("outline")
    window.cnn_panel.set_model("fashion")
    window.reset_act.trigger()
    assert window.lab.settings == pipeline.Settings()
    assert window.cnn_panel.model_combo.currentData() == "digits"
    assert window.findChild(QComboBox, "poolCombo").currentText() == "none"
    assert window.lab.image is image
    assert "defaults" in window.statusBar().currentMessage()
    window.undo()
    assert window.lab.settings.pool == "avg"


def test_a_saved_lab_reopens_with_the_exact_output(make_window, window, tmp_path):
    window.apply_preset("sobel-x")
    window.lab.set_settings("controls", stride=2, padding="same", border="reflect",
                            relu=True, pool="max", bias=-0.0625)
    want = shown(window).copy()
    path = tmp_path / "lesson.convdemo"
    assert window.save_lab(path)
    assert json.loads(path.read_text())["format"] == "convdemo-lab"
    other = make_window(restore=False)
    assert other.open_lab(path)
    np.testing.assert_array_equal(shown(other), want)
    assert other.findChild(QSpinBox, "strideSpin").value() == 2
    assert other.lab.can_undo(), "opening a lab is one undo step"


def test_a_broken_lab_file_is_one_sentence(window, tmp_path):
    bad = tmp_path / "bad.convdemo"
    bad.write_text('{"format": "convdemo-lab", "version": 99}')
    image = window.lab.image
    assert not window.open_lab(bad)
    message = window.statusBar().currentMessage()
    assert "newer convdemo" in message and "\n" not in message
    assert window.lab.image is image


def test_apply_with_the_state_gives_the_windows_output(window, tmp_path):
    window.apply_preset("emboss")
    window.lab.set_settings("controls", padding="full", display="diverging", pool="avg")
    want = shown(window).copy()
    path = tmp_path / "lab.convdemo"
    window.save_lab(path)
    out = tmp_path / "out.npy"
    run = subprocess.run([sys.executable, "-m", "convdemo", "apply", "--state", str(path),
                          str(out)], capture_output=True, text=True, cwd=tmp_path,
                         env=_env(tmp_path))
    assert run.returncode == 0, run.stderr
    np.testing.assert_array_equal(np.load(out), want)


@pytest.mark.parametrize("garbage", [
    "not json at all",
    '{"format": "convdemo-lab", "version": 1, "settings": {"kernel": [[1, 2], [3]]}}',
    '{"format": "convdemo-lab", "version": 1, "settings": {"kernel": [[[1, 2]]]}}',
    '{"format": "convdemo-lab", "version": 1, "settings": {"stride": 99999999999, '
    '"bias": Infinity, "padding": -3, "pool_size": "big"}}',
    '{"format": "convdemo-lab", "version": 1, "settings": {"kernel": [[NaN, 1], [1, 1]]}}',
    '{"format": "convdemo-lab", "version": 1, "view": [], "model": 5, "inspect": "x"}',
    "[" * 50000 + "]" * 50000,
    '{"format": "convdemo-lab", "version": 7}',
])
def test_a_damaged_saved_state_never_stops_the_window(make_window, settings_file, garbage):
    s = QSettings(str(settings_file), QSettings.Format.IniFormat)
    s.setValue("lab", garbage)
    s.setValue("recent", {"not": "a list"})
    s.sync()
    window = make_window()
    assert window.lab.settings.kernel_array().shape == (3, 3)
    message = window.statusBar().currentMessage()
    assert "could not be restored" in message and "--fresh" in message
    assert window.recent_files() == []


def test_fresh_ignores_the_saved_lab_and_keeps_it(make_window, window, settings_file):
    window.apply_preset("outline")
    window.lab.set_settings("controls", pool="avg")
    window.close()
    saved = QSettings(str(settings_file), QSettings.Format.IniFormat).value("lab")
    fresh = make_window(fresh=True)
    assert fresh.lab.settings == pipeline.Settings()
    fresh.apply_preset("blur")
    fresh.close()
    assert QSettings(str(settings_file), QSettings.Format.IniFormat).value("lab") == saved
    again = make_window()
    assert again.lab.settings.pool == "avg"


def test_a_preset_in_per_channel_mode_says_what_it_replaced(window):
    window.kernel_editor.perChannelCheck.setChecked(True)
    window.apply_preset("sharpen")
    assert window.kernel_editor.perChannelCheck.isChecked()
    assert "R, G and B" in window.statusBar().currentMessage()


def _env(tmp_path) -> dict:
    import os

    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")]))}


def test_state_flag_opens_the_lab_in_the_window(window, tmp_path):
    window.apply_preset("edge")
    window.lab.set_settings("stride", stride=3)
    path = tmp_path / "lab.convdemo"
    window.save_lab(path)
    shot = tmp_path / "shot.png"
    run = subprocess.run([sys.executable, "-m", "convdemo", "--state", str(path),
                          "--screenshot", str(shot)], capture_output=True, text=True,
                         timeout=120, env=_env(tmp_path), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert Image.open(shot).size == (1280, 800)
    bad = subprocess.run([sys.executable, "-m", "convdemo", "--state", str(tmp_path / "no")],
                         capture_output=True, text=True, timeout=60, env=_env(tmp_path))
    assert bad.returncode == 1 and "no such file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
