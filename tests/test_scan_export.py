"""Scan mode as a GIF: the frames are the scenes the window draws, capped with a note,
written atomically and small."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convdemo import imaging, kernels, resources
from convdemo.pipeline import Settings
from convdemo.scan import ScanModel
from convdemo.scan_export import cap_note, frame_positions, render, write_gif
from convdemo.scan_render import Text, layout

RNG = np.random.default_rng(2)


def one_white_pixel() -> np.ndarray:
    image = np.zeros((8, 8), np.float32)
    image[1, 1] = 1.0
    return image


def decoded(path) -> list[np.ndarray]:
    frames = []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")).astype(np.int16))
    return frames


def durations(path) -> list[int]:
    out = []
    with Image.open(path) as im:
        for i in range(im.n_frames):
            im.seek(i)
            out.append(im.info["duration"])
    return out


@pytest.mark.parametrize("n, cap, n_conv", [(36, 120, 36), (845, 120, 676), (845, 20, 676),
                                            (5, 2, 5), (1, 2, None), (1000, 3, 999)])
def test_frame_positions(n, cap, n_conv):
    positions, k = frame_positions(n, cap, n_conv)
    assert len(positions) <= cap and positions[0] == 0 and positions[-1] == n
    assert n_conv is None or n_conv in positions
    assert positions == sorted(set(positions))
    if n + 1 <= cap:
        assert k == 1 and positions == list(range(n + 1))
    with pytest.raises(ValueError, match="2 or more"):
        frame_positions(n, 1)


def test_cap_note_ordinals():
    assert cap_note(1, 36) == ""
    assert [cap_note(k, 99).split()[1] for k in (2, 3, 4, 11, 12, 21, 22, 113)] == \
        ["2nd", "3rd", "4th", "11th", "12th", "21st", "22nd", "113th"]


def test_every_step_of_a_small_scan_is_a_frame(tmp_path):
    path = tmp_path / "scan.gif"
    s = Settings(stride=1)
    info = write_gif(one_white_pixel(), s, path, size=(320, 180))
    assert (info.frames, info.every, info.steps) == (37, 1, 36)
    frames = decoded(path)
    assert len(frames) == 37 and frames[0].shape == (180, 320, 3)
    assert info.bytes == path.stat().st_size
    d = durations(path)
    assert d[0] == d[-1] == 3000 and set(d[1:-1]) == {200}
    # each decoded frame is the window's scene at that step (up to the 255-colour palette)
    m = ScanModel(one_white_pixel(), s)
    for pos in (0, 1, 7, 36):
        m.run_to(pos)
        scene = layout(m, 320, 180)
        assert {"header:input", "header:output"} <= {t.tag for t in scene.find(Text)}
        want = np.asarray(render(scene)).astype(np.int16)
        err = np.abs(frames[pos] - want).max(axis=2)
        assert (err > 48).mean() < 0.001, pos
        if pos:
            assert np.abs(frames[pos] - frames[pos - 1]).max() > 0  # every frame moves on


def test_long_scans_show_every_kth_step_and_say_so(tmp_path):
    digit = imaging.load_image(resources.assets_dir() / "samples" / "digit-3-28x28.png").array
    s = Settings(pool="max", relu=True).replace(kernel=kernels.PRESETS["sobel-x"].array())
    path = tmp_path / "pool.gif"
    info = write_gif(digit, s, path, size=(480, 270), max_frames=20)
    assert info.steps == 26 * 26 + 13 * 13 and info.frames <= 20 and info.every > 1
    frames = decoded(path)
    assert len(frames) == info.frames
    note = cap_note(info.every, info.steps)
    assert note.startswith(f"every {info.every}") and "845 steps in all" in note
    m = ScanModel(digit, s)
    positions, k = frame_positions(m.n_cells, 20, m.n_conv)
    assert k == info.every and m.n_conv in positions
    m.run_to(positions[3])
    with_note = np.asarray(render(layout(m, 480, 270, note=note))).astype(np.int16)
    without = np.asarray(render(layout(m, 480, 270))).astype(np.int16)
    assert (np.abs(frames[3] - with_note).max(axis=2) > 48).mean() < 0.001
    assert (np.abs(frames[3] - without).max(axis=2) > 48).mean() > 0.01
    assert any(t.text == note for t in layout(m, 480, 270, note=note).find(Text, "note"))
    last = frames[-1]
    m.run_to_end()
    final = layout(m, 480, 270, note=note)
    assert {"header:conv", "header:pooled"} <= {t.tag for t in final.find(Text)}
    assert (np.abs(last - np.asarray(render(final)).astype(np.int16)).max(axis=2) > 48).mean() \
        < 0.001


@pytest.mark.slow
def test_the_lecture_28x28_gif_is_under_2_mb(tmp_path):
    """Issue 9: a 28x28 valid scan at the default 1280x720 stays under 2 MB."""
    digit = imaging.load_image(resources.assets_dir() / "samples" / "digit-3-28x28.png").array
    info = write_gif(digit, Settings(), tmp_path / "valid.gif")
    assert (info.width, info.height) == (1280, 720)
    assert info.steps == 676 and info.frames <= 120
    assert info.bytes < 2_000_000, info.bytes


def test_cancel_writes_nothing_and_bad_options_are_one_sentence(tmp_path):
    path = tmp_path / "x.gif"
    seen = []
    assert write_gif(one_white_pixel(), Settings(), path, size=(320, 180),
                     progress=lambda done, total: seen.append((done, total)) or done < 3) is None
    assert seen[-1] == (3, 37) and not path.exists() and not list(tmp_path.iterdir())
    for kwargs, words in (({"size": (100, 100)}, "width must be 160"),
                          ({"size": (320, 5000)}, "height must be 160"),
                          ({"size": "big"}, "size must be"),
                          ({"max_frames": 1}, "2 or more"),
                          ({"frame_ms": 5}, "20 to 60000")):
        with pytest.raises(ValueError, match=words):
            write_gif(one_white_pixel(), Settings(), path, **kwargs)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="cannot write"):
        write_gif(one_white_pixel(), Settings(), blocker / "x.gif", size=(320, 180))
