"""The lab: presets set the lecture's state, undo/redo/reset, events, history limits.

Everything here runs without Qt: the lab is the core the window's widgets are views of.
"""

import numpy as np
import pytest

from convdemo import kernels, pipeline
from convdemo.lab import ImageSource, Lab, LabState, View

RNG = np.random.default_rng(7)
PHOTO = RNG.random((12, 16, 3), dtype=np.float32)


def lab_with_photo() -> Lab:
    lab = Lab()
    lab.set_image(PHOTO.copy(), ImageSource("file", "/tmp/photo.png", "photo.png"))
    lab.clear_history()
    return lab


def lecture_result(lab: Lab, name: str, **extra) -> np.ndarray:
    """What the lecture's preset gives on the lab's image, computed from scratch."""
    s = pipeline.Settings(**extra).replace(kernel=kernels.PRESETS[name].array())
    return pipeline.run(lab.image, s).raw


def test_defaults_live_in_one_place():
    state = LabState()
    assert state.settings == pipeline.Settings()
    assert state.settings.channels == "separate"
    assert state.model == "digits" and state.view == View()


def test_a_preset_after_use_filter_gives_the_lecture_result():
    """The bug from the issue: a learned filter's bias and grey mode stayed on."""
    lab = lab_with_photo()
    lab.use_filter(RNG.normal(size=(3, 3)), 0.08248, "learned digits filter, run on grey")
    assert lab.settings.channels == "gray" and lab.settings.bias == pytest.approx(0.08248)
    lab.apply_preset("identity")
    assert lab.settings.bias == 0.0 and not lab.settings.flip
    assert lab.settings.channels == "separate", "the grey mode only the filter set went back"
    raw = pipeline.run(lab.image, lab.settings).raw
    np.testing.assert_array_equal(raw, lecture_result(lab, "identity"))
    np.testing.assert_array_equal(raw, PHOTO[1:-1, 1:-1])
    lab.apply_preset("edge")
    np.testing.assert_array_equal(pipeline.run(lab.image, lab.settings).raw,
                                  lecture_result(lab, "edge", display="diverging"))
    assert lab.state.kernel_source == "" and lab.state.channels_before_filter is None


def test_a_grey_mode_the_user_chose_stays():
    lab = lab_with_photo()
    lab.set_settings("channels gray", channels="gray")
    lab.use_filter(np.eye(3), 0.5, "a filter")
    lab.apply_preset("blur")
    assert lab.settings.channels == "gray" and lab.settings.bias == 0


def test_a_preset_resets_flip_and_bias_but_not_the_controls():
    lab = lab_with_photo()
    lab.set_settings("controls", stride=2, padding="same", flip=True, bias=0.3, pool="max")
    lab.apply_preset("blur")
    s = lab.settings
    assert (s.flip, s.bias) == (False, 0.0)
    assert (s.stride, s.padding, s.pool) == (2, "same", "max")


def test_per_channel_presets_keep_the_neuron_and_say_what_they_replaced():
    lab = lab_with_photo()
    lab.set_per_channel(True)
    assert lab.settings.channels == "sum" and lab.state.per_channel
    lab.set_cell(1, 1, 5.0, plane=1)
    change = lab.apply_preset("edge")
    assert lab.state.per_channel, "a preset must not silently untick per-channel kernels"
    k = np.asarray(lab.settings.kernel)
    for plane in range(3):
        np.testing.assert_array_equal(k[:, :, plane], kernels.PRESETS["edge"].array())
    assert "R, G and B" in change.message and "Ctrl+Z" in change.message
    lab.undo()
    assert np.asarray(lab.settings.kernel)[1, 1, 1] == 5.0


def test_per_channel_off_keeps_the_r_plane_and_says_so():
    lab = lab_with_photo()
    lab.set_per_channel(True)
    lab.set_cell(0, 0, 2.0, plane=2)
    change = lab.set_per_channel(False)
    assert np.ndim(lab.settings.kernel) == 2 and "G and B" in change.message
    lab.undo()
    assert np.asarray(lab.settings.kernel)[0, 0, 2] == 2.0


def test_per_channel_needs_colour():
    lab = Lab()
    lab.set_image(np.zeros((5, 5), np.float32), ImageSource("generated", "", "grey"))
    with pytest.raises(ValueError, match="colour"):
        lab.set_per_channel(True)


def test_choosing_separate_drops_the_extra_planes():
    lab = lab_with_photo()
    lab.set_per_channel(True)
    change = lab.set_settings("channels", channels="separate")
    assert np.ndim(lab.settings.kernel) == 2 and "Ctrl+Z" in change.message


def test_undo_and_redo_over_every_kind_of_change():
    lab = lab_with_photo()
    first = lab.state
    lab.set_cell(0, 0, 1.0)
    lab.apply_preset("blur")
    lab.set_settings("stride 2", stride=2)
    lab.use_filter(np.ones((3, 3)), 0.1, "a filter")
    other = RNG.random((8, 8), dtype=np.float32)
    lab.set_image(other, ImageSource("pasted", "", "pasted image"))
    lab.change("model fashion", model="fashion")
    states = []
    while lab.can_undo():
        states.append(lab.state)
        lab.undo()
    assert lab.state.settings == first.settings and lab.image is first.image
    assert len(states) == 6
    for expected in reversed(states):
        lab.redo()
        assert lab.state.settings == expected.settings
        assert lab.state.model == expected.model and lab.image is expected.image
    assert not lab.can_redo()


def test_typing_in_one_cell_is_one_undo_step():
    lab = lab_with_photo()
    for value in (1.0, 1.5, 2.0):
        lab.set_cell(0, 1, value)
    lab.set_cell(2, 2, 3.0)
    assert lab.undo_description() == "kernel cell (2, 2)"
    lab.undo()
    assert np.asarray(lab.settings.kernel)[0, 1] == 2.0
    lab.undo()
    assert np.asarray(lab.settings.kernel)[0, 1] == 0.0


def test_a_new_change_clears_redo():
    lab = lab_with_photo()
    lab.apply_preset("blur")
    lab.undo()
    assert lab.can_redo()
    lab.apply_preset("edge")
    assert not lab.can_redo()


def test_navigation_is_not_history():
    lab = lab_with_photo()
    lab.apply_preset("blur")
    lab.set_view(tab="scan")
    lab.inspect((2, 3))
    assert lab.undo_description() == "preset blur"
    lab.undo()
    assert lab.view.tab == "scan", "undo must not jump back to another tab"
    assert lab.state.pixel == (2, 3)


def test_reset_keeps_the_image_and_can_be_undone():
    lab = lab_with_photo()
    lab.set_settings("rehearsal", pool="avg", stride=3)
    lab.set_cell(1, 1, 7.0)
    lab.change("model", model="fashion")
    change = lab.reset()
    assert lab.settings == pipeline.Settings() and lab.state.model == "digits"
    assert lab.image is not None and lab.state.source.name == "photo.png"
    assert change.kind == "reset" and "Ctrl+Z" in change.message
    lab.undo()
    assert lab.settings.pool == "avg" and lab.state.model == "fashion"


def test_events_name_what_changed():
    lab = lab_with_photo()
    seen = []
    lab.events.connect(seen.append)
    lab.set_settings("stride", stride=2)
    assert seen[-1].fields == {"settings"} and seen[-1].settings_fields == {"stride"}
    assert lab.set_settings("stride", stride=2) is None, "no change, no event"
    assert len(seen) == 1
    lab.undo()
    assert seen[-1].kind == "undo" and seen[-1].settings_fields == {"stride"}


def test_the_image_is_read_only_and_shared():
    lab = Lab()
    image = RNG.random((4, 4, 3), dtype=np.float32)
    lab.set_image(image, ImageSource("generated"))
    with pytest.raises(ValueError):
        lab.image[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="float32"):
        lab.set_image(np.zeros((4, 4), np.uint8), ImageSource("generated"))


def test_history_drops_old_images_beyond_its_budget():
    lab = Lab(history_image_bytes=3 * 100 * 100 * 4)
    for i in range(10):
        lab.set_image(np.full((100, 100), i / 10, np.float32), ImageSource("generated"))
    assert lab.history_bytes() <= 3 * 100 * 100 * 4
    assert 1 <= lab.history_length() <= 4
    lab.undo()
    assert lab.image[0, 0] == pytest.approx(0.8)


def test_settings_the_engine_cannot_run_are_refused():
    lab = lab_with_photo()
    with pytest.raises(ValueError, match="channels"):
        lab.set_settings("bad", channels="bogus")
    grey = Lab()
    grey.set_image(np.zeros((5, 5), np.float32), ImageSource("generated"))
    with pytest.raises(ValueError, match="planes"):
        grey.set_settings("bad", kernel=np.ones((3, 3, 3)), channels="sum")


def test_a_grey_image_takes_the_r_plane_of_a_neuron():
    lab = lab_with_photo()
    lab.set_per_channel(True)
    lab.set_image(np.zeros((6, 6), np.float32), ImageSource("generated"))
    assert np.ndim(lab.settings.kernel) == 2


def test_resize_and_normalize():
    lab = lab_with_photo()
    lab.apply_preset("gaussian-3x3")
    lab.resize_kernel(5)
    k = np.asarray(lab.settings.kernel)
    assert k.shape == (5, 5) and k[0].sum() == 0 and k[2, 2] == pytest.approx(0.25)
    lab.set_cell(0, 0, 1.0)
    lab.normalize()
    assert np.asarray(lab.settings.kernel).sum() == pytest.approx(1.0)
    lab.apply_preset("edge")
    with pytest.raises(ValueError, match="sum is 0"):
        lab.normalize()


def test_video_frames_are_not_history():
    lab = lab_with_photo()
    lab.apply_preset("edge")
    for i in range(50):
        lab.set_frame(np.full((6, 8, 3), i / 50, np.float32), ImageSource("video", "/v.mp4",
                                                                          "v.mp4"))
    assert lab.image[0, 0, 0] == pytest.approx(49 / 50)
    assert lab.history_length() == 1 and lab.undo_description() == "preset edge"
    frame = lab.image
    lab.undo()  # the preset goes; the playing video's frame stays
    assert lab.image is frame and lab.settings.display == "clip"
    with pytest.raises(ValueError, match="frame"):
        lab.set_frame(np.zeros((4, 4, 4), np.float32), ImageSource("video"))
