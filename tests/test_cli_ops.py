"""``convdemo apply`` and ``convdemo presets`` through the real front door (cli.main)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convdemo import cli, imaging, kernels, pipeline
from convdemo.cli_ops import format_kernel
from convdemo.pipeline import Settings
from convdemo.readout import readout

RNG = np.random.default_rng(11)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray((RNG.random((30, 40, 3)) * 255).astype(np.uint8)).save(path)
    return path


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("convdemo: error: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_apply_png_matches_pipeline(capsys, tmp_path, photo):
    out_path = tmp_path / "edges.png"
    code, out, err = run(
        capsys,
        "apply",
        photo,
        out_path,
        "--kernel",
        "edge",
        "--display",
        "diverging",
        "--padding",
        "same",
        "--border",
        "reflect",
        "--channels",
        "separate",
    )
    assert code == 0 and err == ""
    settings = Settings(
        padding="same", border="reflect", channels="separate", display="diverging"
    ).replace(kernel=kernels.PRESETS["edge"].array())
    expected = pipeline.run(imaging.load_image(photo).array, settings)
    with Image.open(out_path) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), expected.display.rgb)
    shape = imaging.load_image(photo).array.shape
    assert readout(shape, settings) in out and f"wrote {out_path}" in out


def test_apply_npy_is_the_raw_result(capsys, tmp_path, photo):
    out_path = tmp_path / "fmap.npy"
    code, out, err = run(
        capsys,
        "apply",
        photo,
        out_path,
        "--kernel",
        "1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9",
        "--stride",
        "2",
        "--padding",
        "1",
        "--bias",
        "-0.5",
        "--relu",
        "--pool",
        "avg",
        "--pool-size",
        "2",
        "--flip",
    )
    assert code == 0, err
    raw = np.load(out_path)
    settings = Settings(
        stride=2, padding=1, bias=-0.5, relu=True, pool="avg", flip=True, channels="separate"
    )
    settings = settings.replace(kernel=np.full((3, 3), 1 / 9))
    expected = pipeline.run(imaging.load_image(photo).array, settings).raw
    # 30x40 -> 15x20 -> 7x10, three channels (the default is "separate")
    assert raw.dtype == np.float32 and raw.shape == expected.shape == (7, 10, 3)
    np.testing.assert_array_equal(raw, expected)
    assert raw.min() >= 0  # relu


def test_apply_identity_gives_back_the_photo_by_default(capsys, tmp_path, photo):
    out_path = tmp_path / "same.npy"
    code, _, err = run(
        capsys, "apply", photo, out_path, "--kernel", "identity", "--padding", "same"
    )
    assert code == 0, err
    np.testing.assert_array_equal(np.load(out_path), imaging.load_image(photo).array)


def test_apply_unknown_picture_format_is_refused(capsys, tmp_path, photo):
    code, _, err = run(capsys, "apply", photo, tmp_path / "out.txt", "--kernel", "edge")
    assert code == 1 and err.count("\n") == 1
    assert "out.txt" in err and ".png" in err and ".npy" in err
    assert not (tmp_path / "out.txt").exists()


def test_apply_gray(capsys, tmp_path, photo):
    code, _, _ = run(capsys, "apply", photo, tmp_path / "g.npy", "--channels", "gray")
    assert code == 0
    np.testing.assert_allclose(
        np.load(tmp_path / "g.npy"), imaging.to_gray(imaging.load_image(photo).array)[1:-1, 1:-1]
    )


def test_apply_notes_what_it_changed(capsys, tmp_path):
    rgba = (RNG.random((6, 7, 4)) * 255).astype(np.uint8)
    rgba[..., 3] = 100
    Image.fromarray(rgba).save(tmp_path / "t.png")
    code, _, err = run(capsys, "apply", tmp_path / "t.png", tmp_path / "o.png")
    assert code == 0
    assert "note:" in err and "transparent" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ["no such file"]),
        (b"", ["empty"]),
        (b"this is plain text, not a picture", ["not an image"]),
        ("truncated", ["damaged or truncated"]),
    ],
)
def test_apply_bad_input_file(capsys, tmp_path, photo, content, words):
    bad = tmp_path / "bad.png"
    if content == "truncated":
        bad.write_bytes(photo.read_bytes()[:200])
    elif content is not None:
        bad.write_bytes(content)
    code, out, err = run(capsys, "apply", bad, tmp_path / "o.png")
    assert code == 1 and out == ""
    assert_one_line_error(err, f"cannot open {bad}", *words)


def test_apply_decompression_bomb(capsys, tmp_path, photo, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # photo has 1200 pixels
    code, _, err = run(capsys, "apply", photo, tmp_path / "o.png")
    assert code == 1
    assert_one_line_error(err, str(photo), "decompression-bomb limit")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--kernel", "blurry"], ["unknown kernel preset 'blurry'", "box-blur"]),
        (["--kernel", "1 2; 3"], ["same number of cells"]),
        (["--kernel", "1 1/0 1"], ["divides by zero"]),
        (["--kernel", "; ".join(["1 " * 16] * 2)], ["1 to 15"]),
        (["--bias", "nan"], ["bias", "finite"]),
        (["--kernel", "gaussian-5x5", "--stride", "40"], []),  # fits: 1x1 is fine
    ],
)
def test_apply_bad_values_one_sentence(capsys, tmp_path, photo, extra, words):
    code, _, err = run(capsys, "apply", photo, tmp_path / "o.png", *extra)
    if not words:
        assert code == 0, err
        return
    assert code == 1
    assert_one_line_error(err, *words)


def test_apply_empty_result(capsys, tmp_path, photo):
    big = "; ".join(["1 " * 15] * 15)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tiny)
    code, _, err = run(capsys, "apply", tiny, tmp_path / "o.png", "--kernel", big)
    assert code == 1
    assert_one_line_error(err, "empty", "kernel does not fit", "--padding same")
    code, _, err = run(
        capsys, "apply", tiny, tmp_path / "o.png", "--pool", "max", "--pool-size", "9"
    )
    assert code == 1
    assert_one_line_error(err, "empty", "pooling window")
    # as .npy an empty result is a fine answer
    code, _, err = run(capsys, "apply", tiny, tmp_path / "o.npy", "--kernel", big)
    assert code == 0 and np.load(tmp_path / "o.npy").shape == (0, 0)


def test_apply_dilation_matches_pipeline(capsys, tmp_path, photo):
    out_path = tmp_path / "atrous.npy"
    code, out, err = run(capsys, "apply", photo, out_path, "--kernel", "blur", "--dilation", "3",
                         "--padding", "same", "--border", "reflect")
    assert code == 0 and err == ""
    settings = Settings(dilation=3, padding="same", border="reflect").replace(
        kernel=kernels.PRESETS["blur"].array())
    expected = pipeline.run(imaging.load_image(photo).array, settings).raw
    np.testing.assert_array_equal(np.load(out_path), expected)
    assert expected.shape == (30, 40, 3)
    assert "conv 3×3, dilation 3, stride 1, same" in out
    undilated = pipeline.run(imaging.load_image(photo).array, settings.replace(dilation=1)).raw
    assert not np.allclose(expected, undilated)


def test_apply_huge_padding_is_refused_in_one_sentence(capsys, tmp_path, monkeypatch):
    """Issue 14: --padding 20000 --border wrap --stride 8 on a 400x300 photo asked numpy for
    a 20 GB padded copy; now one sentence names the size and what to do."""
    monkeypatch.setenv("CONVDEMO_MAX_MEMORY", "4G")
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(big)
    code, _, err = run(capsys, "apply", big, tmp_path / "o.png", "--padding", "20000",
                       "--border", "wrap", "--stride", "8")
    assert code == 1
    assert_one_line_error(err, "padded input", "GB", "choose smaller settings")
    assert not (tmp_path / "o.png").exists()


def test_apply_unwritable_output(capsys, tmp_path, photo):
    code, _, err = run(capsys, "apply", photo, tmp_path / "missing" / "o.png")
    assert code == 1
    assert_one_line_error(err, "does not exist")
    code, _, err = run(capsys, "apply", photo, tmp_path)
    assert code == 1
    assert_one_line_error(err, "folder")


@pytest.mark.parametrize(
    "extra",
    [
        ["--padding", "middle"],
        ["--stride", "0"],
        ["--border", "mirror"],
        ["--channels", "rgb"],
        ["--pool", "min"],
        ["--display", "rainbow"],
        ["--pool-size", "-1"],
        ["--dilation", "0"],
        ["--dilation", "9"],
        ["--dilation", "two"],
    ],
)
def test_apply_usage_errors_exit_2(capsys, tmp_path, photo, extra):
    code, _, err = run(capsys, "apply", photo, tmp_path / "o.png", *extra)
    assert code == 2 and "Traceback" not in err and extra[0] in err


def test_apply_help(capsys):
    code, out, _ = run(capsys, "apply", "--help")
    assert code == 0
    for option in (
        "--kernel",
        "--stride",
        "--padding",
        "--border",
        "--channels",
        "--flip",
        "--bias",
        "--relu",
        "--pool",
        "--pool-size",
        "--display",
        "--dilation",
    ):
        assert option in out


def test_presets_lists_everything(capsys):
    code, out, err = run(capsys, "presets")
    assert code == 0 and err == ""
    for name, preset in kernels.PRESETS.items():
        assert name in out and preset.description in out
        text = format_kernel(preset.values)
        assert f'"{text}"' in out
        # the printed values read back as the same kernel
        np.testing.assert_allclose(kernels.parse_kernel(text), preset.array(), rtol=1e-7)
    assert "1/9 1/9 1/9" in out and "1/16 1/8 1/16" in out
