"""Lab state files: exact round trips, images by path or embedded, one sentence for bad files,
and lenient restoring for the window's saved state."""

import json

import numpy as np
import pytest
from PIL import Image

from convdemo import kernels, pipeline, statefile
from convdemo.lab import ImageSource, Lab, LabState, View
from convdemo.statefile import StateFileError

RNG = np.random.default_rng(3)


@pytest.fixture
def photo_file(tmp_path):
    pixels = RNG.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path


def a_lab(image: np.ndarray, source: ImageSource) -> Lab:
    lab = Lab()
    lab.set_image(image, source)
    lab.apply_preset("sharpen")
    lab.set_settings("controls", stride=2, padding="same", border="reflect", relu=True,
                     pool="avg", display="normalize", bias=-0.125)
    lab.change("model", model="fashion", layer="conv2d", feature_map=5)
    lab.set_view(tab="scan", scan_speed=4.5)
    return lab


def same_output(a: LabState, b: LabState) -> None:
    np.testing.assert_array_equal(pipeline.run(a.image, a.settings).raw,
                                  pipeline.run(b.image, b.settings).raw)


def test_round_trip_with_the_image_embedded_is_exact(tmp_path, photo_file):
    from convdemo import imaging

    lab = a_lab(imaging.load_image(photo_file).array, ImageSource("file", str(photo_file),
                                                                    "photo.png"))
    path = statefile.save(tmp_path / "lab.convdemo", lab.state)
    photo_file.unlink()  # the embedded copy is enough
    state, notes = statefile.load(path)
    assert state.settings == lab.settings and state.model == "fashion"
    assert state.feature_map == 5 and state.view.tab == "scan" and state.view.scan_speed == 4.5
    np.testing.assert_array_equal(state.image, lab.image)
    same_output(state, lab.state)
    assert any("missing" in n for n in notes)


def test_round_trip_by_path_reads_the_file(tmp_path, photo_file):
    from convdemo import imaging

    lab = a_lab(imaging.load_image(photo_file).array, ImageSource("file", str(photo_file),
                                                                    "photo.png"))
    path = tmp_path / "lab.convdemo"
    statefile.save(path, lab.state, embed_image=False)
    d = json.loads(path.read_text())
    assert d["image"]["source"]["path"] == "photo.png", "beside the file: a relative path"
    assert "png" not in d["image"]
    state, notes = statefile.load(path)
    same_output(state, lab.state)
    assert notes == []
    photo_file.unlink()
    with pytest.raises(StateFileError, match="photo.png is missing"):
        statefile.load(path)


def test_a_sample_is_referenced_by_name(tmp_path):
    from convdemo import imaging, resources

    sample = resources.default_sample()
    lab = a_lab(imaging.load_image(sample).array, ImageSource("sample", sample.name,
                                                                sample.name))
    path = statefile.save(tmp_path / "s.convdemo", lab.state)
    assert path.stat().st_size < 5000, "a sample is not embedded"
    state, _ = statefile.load(path)
    same_output(state, lab.state)


def test_a_pasted_image_that_is_not_8_bit_is_embedded_exactly(tmp_path):
    image = RNG.random((9, 7), dtype=np.float32)  # not k/255: needs the float copy
    lab = a_lab(image, ImageSource("pasted", "", "pasted image"))
    path = statefile.save(tmp_path / "p.convdemo", lab.state)
    assert "npy" in json.loads(path.read_text())["image"]
    state, _ = statefile.load(path)
    np.testing.assert_array_equal(state.image, image)
    assert state.source.kind == "embedded"


def test_the_drawing_and_the_filter_memory_survive(tmp_path):
    lab = Lab()
    lab.set_image(RNG.random((10, 10, 3), dtype=np.float32), ImageSource("generated"))
    drawing = np.zeros((28, 28), np.float32)
    drawing[5:20, 12:15] = 1.0
    lab.set_drawing(drawing)
    lab.use_filter(np.eye(3), 0.2, "learned digits filter")
    state, _ = statefile.load(statefile.save(tmp_path / "d.convdemo", lab.state))
    np.testing.assert_array_equal(state.drawing, drawing)
    assert state.channels_before_filter == "separate"
    restored = Lab(state)
    restored.apply_preset("identity")
    assert restored.settings.channels == "separate"


@pytest.mark.parametrize("text, words", [
    ('{"format": "convdemo-lab", "version": 9}', "newer convdemo"),
    ('{"format": "something", "version": 1}', "not a convdemo lab state"),
    ('[1, 2]', "not a convdemo lab state"),
    ('{"format": "convdemo-lab"}', "no valid version"),
    ('not json', "not valid JSON"),
    ('{"format": "convdemo-lab", "version": 1, "settings": {"stride": 99999999999}}', "stride"),
    ('{"format": "convdemo-lab", "version": 1, "settings": {"bias": Infinity}}', "Infinity"),
    ('{"format": "convdemo-lab", "version": 1, "settings": {"kernel": [[1, 2], [3]]}}',
     "kernel"),
    ('{"format": "convdemo-lab", "version": 1, "settings": {"kernel": "edge"}}', "kernel"),
    ('{"format": "convdemo-lab", "version": 1, "settings": {"kernel": [[NaN]]}}', "NaN"),
    ('{"format": "convdemo-lab", "version": 1, "view": {"tab": "nowhere"}}', "tab"),
    ('{"format": "convdemo-lab", "version": 1, "image": {"source": {"kind": "file", '
     '"path": "/nonexistent/x.png"}}}', "missing"),
    ('{"format": "convdemo-lab", "version": 1, "image": {"png": "!!!"}}', "damaged"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
])
def test_bad_files_get_one_sentence(tmp_path, text, words):
    path = tmp_path / "bad.convdemo"
    path.write_text(text)
    with pytest.raises(StateFileError) as info:
        statefile.load(path)
    message = str(info.value)
    assert words in message and "\n" not in message and str(path) in message


def test_a_3x3x2_kernel_and_a_missing_file_and_a_folder(tmp_path):
    d = statefile.state_to_dict(LabState())
    d["settings"]["kernel"] = np.ones((3, 3, 2)).tolist()
    with pytest.raises(StateFileError, match="3 planes"):
        statefile.state_from_dict(d)
    with pytest.raises(StateFileError, match="no such file"):
        statefile.load(tmp_path / "nothing.convdemo")
    with pytest.raises(StateFileError, match="folder"):
        statefile.load(tmp_path)


def test_unknown_keys_are_noted_not_fatal():
    d = statefile.state_to_dict(LabState())
    d["future"] = {"x": 1}
    d["settings"]["sparkle"] = True
    state, notes = statefile.state_from_dict(d)
    assert state == LabState()
    assert any("future" in n for n in notes) and any("sparkle" in n for n in notes)


def test_lenient_restoring_drops_each_bad_value_and_keeps_the_rest():
    d = statefile.state_to_dict(LabState(settings=pipeline.Settings(stride=3)))
    d["settings"].update(kernel=[[1, 2], [3]], padding=99999999999, bias=float("nan"),
                         display="bogus")
    d["view"] = {"tab": "scan", "scan_speed": 1e9}
    d["model"] = 5
    state, notes = statefile.state_from_dict(d, lenient=True)
    assert state.settings.stride == 3, "good values stay"
    assert state.settings.kernel == pipeline.Settings().kernel
    assert state.settings.padding == "valid" and state.settings.display == "clip"
    assert state.view == View(tab="scan") and state.model == "digits"
    assert len(notes) >= 5 and all("\n" not in n for n in notes)


def test_settings_dicts_round_trip_every_preset():
    for name, preset in kernels.PRESETS.items():
        s = pipeline.Settings(dilation=2, transposed=False, pool_stride=3).replace(
            kernel=preset.array())
        assert statefile.settings_from_dict(statefile.settings_to_dict(s)) == s, name


def test_the_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "lab.convdemo"
    statefile.save(path, LabState())
    before = path.read_bytes()

    def broken(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", broken)
    with pytest.raises(OSError, match="the disk is full"):
        statefile.save(path, LabState(model="fashion"))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["lab.convdemo"]
