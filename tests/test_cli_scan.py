"""``convdemo scan IMAGE OUT.gif`` through the real front door (cli.main)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convdemo import cli
from tests.test_cli_ops import assert_one_line_error, run

RNG = np.random.default_rng(4)


@pytest.fixture
def digit(tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray((RNG.random((12, 10)) * 255).astype(np.uint8), "L").save(path)
    return path


def test_scan_writes_the_gif_with_the_apply_options(capsys, tmp_path, digit):
    out_path = tmp_path / "scan.gif"
    code, out, err = run(capsys, "scan", digit, out_path, "--kernel", "sobel-x", "--relu",
                         "--pool", "max", "--padding", "same", "--size", "320x180",
                         "--frames", "12", "--frame-ms", "150")
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert lines[0] == "10×12 → conv 3×3, stride 1, same → 10×12 → max pool 2 → 5×6"
    assert lines[1].startswith(f"wrote {out_path}: ")
    frames = int(lines[1].split(": ")[1].split()[0])
    assert 2 <= frames <= 12 and "steps of 150), 320x180" in lines[1]
    with Image.open(out_path) as im:
        assert im.format == "GIF" and im.size == (320, 180) and im.n_frames == frames
        im.seek(1)
        assert im.info["duration"] == 150


def test_scan_of_a_photo_notes_the_pixelated_copy(capsys, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray((RNG.random((60, 90, 3)) * 255).astype(np.uint8)).save(photo)
    code, out, err = run(capsys, "scan", photo, tmp_path / "p.gif", "--channels", "sum",
                         "--size", "320x180", "--frames", "3")
    assert code == 0
    assert "scanned on a 24x16 pixelated copy" in err
    assert out.startswith("24×16×3 → conv 3×3")


@pytest.mark.parametrize("argv, words", [
    (["{d}", "{t}/x.png"], ["ending in .gif"]),
    (["{d}", "{t}/nofolder/x.gif"], ["folder", "does not exist"]),
    (["{t}/missing.png", "{t}/x.gif"], ["cannot open", "missing.png"]),
    (["{d}", "{t}/x.gif", "--kernel", "1 2; 3"], ["kernel"]),
    (["{d}", "{t}/x.gif", "--size", "100x100"], ["width must be 160"]),
    (["{d}", "{t}/x.gif", "--frames", "1"], ["2 or more"]),
    # a 1x13 kernel does not fit a 12x10 image (valid)
    (["{d}", "{t}/x.gif", "--kernel", "1 1 1 1 1 1 1 1 1 1 1 1 1"],
     ["nothing to scan", "does not fit"]),
])
def test_scan_errors_are_one_sentence(capsys, tmp_path, digit, argv, words):
    argv = [a.format(d=digit, t=tmp_path) for a in argv]
    # a later --size wins over this default
    code, out, err = run(capsys, "scan", *argv[:2], "--size", "320x180", *argv[2:])
    assert code == 1 and out == ""
    assert_one_line_error(err, *words)
    assert not (tmp_path / "x.gif").exists()


def test_scan_never_overwrites_its_input(capsys, tmp_path):
    path = tmp_path / "in.gif"
    Image.fromarray((RNG.random((8, 8)) * 255).astype(np.uint8), "L").save(path)
    before = path.read_bytes()
    code, out, err = run(capsys, "scan", path, path, "--size", "320x180")
    assert code == 1
    assert_one_line_error(err, "it is the input image")
    assert path.read_bytes() == before


def test_scan_usage_errors_and_help(capsys, digit, tmp_path):
    code, out, err = run(capsys, "scan", digit, tmp_path / "x.gif", "--size", "big")
    assert code == 2 and "WIDTHxHEIGHT" in err
    assert cli.main(["scan", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--kernel", "--stride", "--padding", "--relu", "--pool", "--size",
                   "--frames"):
        assert option in text
    assert cli.main(["--help"]) == 0
    assert "scan      write scan mode's animation" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["apply", "scan"])
def test_help_shows_the_labs_defaults_never_none(capsys, command):
    assert cli.main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "default: None" not in text
    assert "(default: separate, so --kernel identity" in text and "(default: clip;" in text


def test_scan_with_dilation(capsys, tmp_path, digit):
    code, out, err = run(capsys, "scan", digit, tmp_path / "d.gif", "--dilation", "2",
                         "--padding", "same", "--size", "320x180", "--frames", "4")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "10×12 → conv 3×3, dilation 2, stride 1, same → 10×12"
