"""Lessons: the shipped lecture, exact round trips, and one sentence for every bad file."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from convdemo import lesson, pipeline, resources, statefile
from convdemo.lab import ImageSource, LabState, View
from convdemo.lesson import Lesson, LessonError, Step
from convdemo.pipeline import Settings

RNG = np.random.default_rng(9)


def test_the_lecture_is_shipped_and_every_step_opens():
    assert "lecture" in resources.lesson_names()
    by_name = lesson.load("lecture")
    by_path = lesson.load(resources.lesson_path("lecture"))
    assert lesson.lesson_to_dict(by_name) == lesson.lesson_to_dict(by_path)
    assert len(by_name) == 10
    states = []
    for i, step in enumerate(by_name.steps):
        assert step.title.strip() and len(step.caption.split(". ")) >= 2, i
        state, notes = by_name.lab_state(i)
        assert notes == [] and state.image is not None, (i, notes)
        assert state.source.kind == "sample"
        states.append(state)
    # the path, step by step
    photo = states[0].source.path
    assert photo == "chelsea.png" and states[1].source.path == photo
    assert np.allclose(states[1].settings.kernel_array(),
                       np.where(np.eye(3, dtype=bool)[::-1] & np.eye(3, dtype=bool), 1, -0.1))
    assert states[1].view.tab == "scan"
    assert states[2].per_channel and states[2].settings.channels == "sum"
    assert states[2].view.live == "neuron"
    digit = [s for s in states if s.source.path == "digit-3-28x28.png"]
    assert len(digit) >= 3 and all(s.image.shape == (28, 28) for s in digit)
    shapes = [pipeline.output_shapes(s.image.shape, s.settings) for s in states[3:6]]
    assert shapes[0] == ((13, 13), None)  # stride 2
    assert shapes[1] == ((28, 28), None)  # same padding keeps 28x28 ...
    assert pipeline.output_shapes((28, 28), states[4].settings.replace(padding="valid"))[0] \
        == (26, 26)  # ... where valid gives 26x26
    assert shapes[2] == ((26, 26), (13, 13)) and states[5].settings.pool == "max"
    assert states[6].settings.relu
    assert states[7].drawing is not None and states[7].view.cnn_input == "draw"
    assert states[7].model == "digits" and states[7].layer == "conv2d"
    assert states[8].kernel_source and states[8].settings.channels == "gray"
    assert states[9].model == "fashion"


def _state(kind="pasted") -> LabState:
    image = (RNG.integers(0, 256, (7, 9, 3)) / 255.0).astype(np.float32)
    return LabState(image=image, source=ImageSource(kind, "", "pasted picture"),
                    settings=Settings(stride=2, padding="same", relu=True, pool="avg",
                                      bias=-0.125).replace(kernel=RNG.normal(size=(3, 3))),
                    view=View(tab="scan", scan_speed=4.0), model="fashion")


def test_round_trip_is_exact(tmp_path):
    a, b = _state(), _state()
    first = Lesson("My lesson", (Step.from_state(a, "One", "The first step."),))
    two = first.with_step(Step.from_state(b, "Two", "The second. It has a caption."))
    assert len(two) == 2 and len(first) == 1
    path = lesson.save(tmp_path / "mine.json", two)
    back = lesson.load(path)
    assert lesson.lesson_to_dict(back) == lesson.lesson_to_dict(two)
    assert back.base_dir == tmp_path
    for i, want in enumerate((a, b)):
        got, notes = back.lab_state(i)
        assert notes == []
        assert got.settings == want.settings and got.view == want.view
        assert got.model == want.model
        np.testing.assert_array_equal(got.image, want.image)
    # saved again, the file is the same bytes
    again = lesson.save(tmp_path / "again.json", back)
    assert again.read_bytes() == path.read_bytes()
    text = path.read_text(encoding="utf-8")
    assert json.loads(text)["format"] == "convdemo-lesson"
    with pytest.raises(IndexError, match="steps 1 to 2"):
        back.lab_state(2)


def _valid() -> dict:
    step = Step.from_state(_state(), "A step", "Caption.")
    return json.loads(json.dumps(lesson.lesson_to_dict(Lesson("T", (step, step)))))


def _bad(**changes):
    d = _valid()
    for path, value in changes.items():
        target = d
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return d


BAD_DICTS = [
    (_bad(format="convdemo-lab"), "is not a convdemo lesson"),
    (_bad(version=2), "newer convdemo"),
    (_bad(version="1"), "no valid version"),
    (_bad(title=""), "its title is empty"),
    (_bad(steps=[]), "non-empty list"),
    (_bad(extra=1), "unknown entry 'extra'"),
    (_bad(**{"steps.1": "no"}), "step 2: must be an object"),
    (_bad(**{"steps.1.state": KeyError}), "step 2: has no lab state"),
    (_bad(**{"steps.0.caption": 5}), "step 1: its caption must be text"),
    (_bad(**{"steps.0.caption": "x" * 5000}), "at most 4000"),
    (_bad(**{"steps.1.state.settings.stride": 0}), "step 2: stride must be a whole number"),
    (_bad(**{"steps.0.state.format": "x"}), "step 1: is not a convdemo lab state"),
    (_bad(**{"steps.1.state.image": {"source": {"kind": "sample", "path": "nope.png"}}}),
     "step 2: the sample photo 'nope.png' is not shipped"),
    (_bad(**{"steps.0.state.image.png": "!!!"}), "step 1: the embedded image is damaged"),
]


@pytest.mark.parametrize("d, words", BAD_DICTS)
def test_bad_lessons_are_one_sentence(tmp_path, d, words):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(LessonError) as info:
        lesson.load(path)
    text = str(info.value)
    assert words in text and "\n" not in text and text.startswith(str(path))


def test_bad_files_are_one_sentence(tmp_path):
    cases = {
        "missing": (tmp_path / "missing.json", "no lesson"),
        "folder": (tmp_path, "it is a folder"),
    }
    (tmp_path / "notjson.json").write_text("{not json", encoding="utf-8")
    cases["notjson"] = (tmp_path / "notjson.json", "not valid JSON")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    cases["binary"] = (tmp_path / "binary.json", "not UTF-8")
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    cases["list"] = (tmp_path / "list.json", "is not a convdemo lesson")
    for name, (path, words) in cases.items():
        with pytest.raises(LessonError) as info:
            lesson.load(path)
        assert words in str(info.value) and "\n" not in str(info.value), name
    with pytest.raises(LessonError, match="shipped one \\(lecture"):
        lesson.load("no-such-lesson")


def test_the_state_part_is_passed_to_statefile_untouched():
    d = _valid()
    before = copy.deepcopy(d)
    got = lesson.lesson_from_dict(d)
    assert got.steps[0].state == before["steps"][0]["state"]
    assert d == before  # nothing changed in place
    assert statefile.state_from_dict(got.steps[1].state)[0].settings.stride == 2


def test_step_titles_are_checked():
    with pytest.raises(ValueError, match="title is empty"):
        Step.from_state(_state(), " ")
    with pytest.raises(ValueError, match="caption must be text"):
        Step.from_state(_state(), "ok", None)
