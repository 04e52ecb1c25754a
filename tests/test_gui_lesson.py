"""Lessons in the window, scan speed in the lab, and the GIF export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel

from conftest import image_wait, wait_until_idle
from convdemo import lesson as lessons
from convdemo import pipeline, resources, statefile

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def window(blank_window):
    return blank_window


def test_the_lecture_steps_forward_and_back(window, qtbot):
    lecture = lessons.load("lecture")
    assert window.lesson_panel.open_lesson("lecture")
    panel = window.lesson_panel
    assert panel.isVisible()
    caption = window.findChild(QLabel, "lessonCaption")
    assert caption.text() == lecture.steps[0].caption and caption.isVisible()
    assert "Step 1 of 10" in window.findChild(QLabel, "lessonStep").text()
    assert window.lab.state.source.name == "chelsea.png"
    wait_until_idle(window)
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert panel.index == 1 and "Step 2 of 10" in panel.step_label.text()
    want, _ = lecture.lab_state(1)
    assert window.lab.settings == want.settings
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)  # a presenter's arrow, when no field has focus
    assert panel.index == 2
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert panel.index == 1
    # the class may change anything inside a step; the next step is its own again
    window.apply_preset("outline")
    panel.next()
    want, _ = lecture.lab_state(2)
    assert window.lab.settings == want.settings
    wait_until_idle(window)
    np.testing.assert_array_equal(window.output_raw(),
                                  pipeline.run(window.lab.image, window.lab.settings).raw)


def test_step_5_valid_against_same_in_scan_mode(window):
    lecture = lessons.load("lecture")
    index = next(i for i, s in enumerate(lecture.steps) if "same" in s.title.lower() or
                 "valid" in s.title.lower())
    window.lesson_panel.open_lesson("lecture")
    window.lesson_panel.go(index)
    wait_until_idle(window)
    assert window.lab.image.shape[:2] == (28, 28)
    state, _ = lecture.lab_state(index)
    assert window.lab.view.tab == state.view.tab
    if state.view.tab == "scan":
        assert window.tabs.currentWidget() is window.scan_panel
        assert window.scan_panel.model is not None


def test_the_caption_stays_in_the_presenter_layout(window, qtbot):
    window.lesson_panel.open_lesson("lecture")
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.lesson_panel.isVisible() and not window.bottom_row.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Escape)


def test_collect_steps_save_and_reopen(window, tmp_path):
    image_wait(window, np.random.default_rng(1).random((20, 30, 3), dtype=np.float32))
    window.apply_preset("edge")
    assert window.lesson_panel.add_step("Edges", "Pixel minus the one above.")
    window.lab.set_settings("stride", stride=2)
    assert window.lesson_panel.add_step("Stride 2")
    path = tmp_path / "mine.json"
    assert window.lesson_panel.save(path)
    reopened = lessons.load(path)
    assert [s.title for s in reopened.steps] == ["Edges", "Stride 2"]
    state, _ = reopened.lab_state(1)
    assert state.settings.stride == 2
    window.lesson_panel.close_lesson()
    assert window.lesson_panel.open_lesson(path)
    assert window.lab.settings.stride == 1 and window.lab.settings.kernel == \
        state.settings.replace(stride=1).kernel


def test_a_broken_lesson_is_one_sentence(window, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "convdemo-lesson", "version": 1, "title": "x", "steps": 3}')
    assert not window.lesson_panel.open_lesson(bad)
    message = window.statusBar().currentMessage()
    assert "bad.json" in message and "\n" not in message
    assert not window.lesson_panel.isVisible()


def test_scan_speed_lives_in_the_lab(window):
    window.scan_panel.set_steps_per_second(10)
    assert window.lab.view.scan_speed == pytest.approx(10)
    window.lab.set_view(scan_speed=0.5)
    assert window.scan_panel.steps_per_second() == pytest.approx(0.5)
    assert statefile.state_to_dict(window.lab.state)["view"]["scan_speed"] == 0.5


def test_export_scan_as_gif(window, qtbot, tmp_path):
    digit = resources.assets_dir() / "samples" / "digit-3-28x28.png"
    image_wait(window, np.asarray(Image.open(digit).convert("L"), np.float32) / 255)
    path = tmp_path / "scan.gif"
    with qtbot.waitSignal(window.exported, timeout=60000) as blocker:
        window.export_gif(path)
    assert blocker.args == ["gif", True]
    with Image.open(path) as gif:
        assert gif.n_frames > 10
    assert "frames" in window.statusBar().currentMessage()


def _env(tmp_path) -> dict:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")]))}


def test_lesson_flag(tmp_path):
    shot = tmp_path / "shot.png"
    run = subprocess.run([sys.executable, "-m", "convdemo", "--lesson", "lecture",
                          "--screenshot", str(shot)], capture_output=True, text=True,
                         timeout=120, env=_env(tmp_path), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    bad = subprocess.run([sys.executable, "-m", "convdemo", "--lesson", "nonesuch"],
                         capture_output=True, text=True, timeout=60, env=_env(tmp_path))
    assert bad.returncode == 1 and "lecture" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

