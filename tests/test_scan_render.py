"""Scan mode's layout (primitives, no Qt) and its Pillow renderer: what is drawn is read back
from the scene itself (the cells images and the outlines), never from the layout's notes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from convdemo import kernels
from convdemo.pipeline import Settings
from convdemo.scan import ScanModel
from convdemo.scan_export import render
from convdemo.scan_render import (
    CELL_TEXT_MIN,
    WINDOW,
    Cells,
    Hatch,
    Rect,
    Text,
    layout,
    text_width,
)

RNG = np.random.default_rng(5)


def covered(scene, cells_tag: str, rect_tag: str) -> set[tuple[int, int]]:
    """The cells of the map drawn as ``cells_tag`` that the rectangles ``rect_tag`` cover,
    computed from the drawn pixels' geometry."""
    (img,) = scene.find(Cells, cells_tag)
    rows, cols = img.rgb.shape[:2]
    cw, ch = img.w / cols, img.h / rows
    out = set()
    for r in scene.find(Rect, rect_tag):
        c0, c1 = round((r.x - img.x) / cw), round((r.x + r.w - img.x) / cw)
        r0, r1 = round((r.y - img.y) / ch), round((r.y + r.h - img.y) / ch)
        assert abs(r.x - img.x - c0 * cw) < 1e-6 and abs(r.y + r.h - img.y - r1 * ch) < 1e-6
        out |= {(i, j) for i in range(r0, r1) for j in range(c0, c1)}
    return out


def boxes_overlap(a, b) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw - 0.5 and bx < ax + aw - 0.5 and ay < by + bh - 0.5 and \
        by < ay + ah - 0.5


def one_white_pixel() -> np.ndarray:
    image = np.zeros((8, 8), np.float32)
    image[1, 1] = 1.0
    return image


CASES = [
    (one_white_pixel(), Settings(stride=1)),
    (one_white_pixel(), Settings(stride=2)),
    (RNG.random((11, 9), dtype=np.float32), Settings(padding="same", border="reflect",
                                                     stride=2)),
    (RNG.random((10, 12, 3), dtype=np.float32), Settings(padding="full", channels="sum",
                                                         bias=0.2, relu=True)),
    (RNG.random((10, 12, 3), dtype=np.float32), Settings(padding=2, channels="separate",
                                                         stride=3, flip=True)),
    (RNG.random((9, 9), dtype=np.float32), Settings(stride=1).replace(
        kernel=RNG.normal(size=(5, 5)))),
]


@pytest.mark.parametrize("image, settings", CASES)
def test_drawn_window_covers_exactly_the_written_sum(image, settings):
    """After every step, on every plane, the outlined cells are the inspection's window (in
    padded coordinates), and the outlined output cell is the one written."""
    m = ScanModel(image, settings)
    names = m.channel_names()
    assert not layout(m, 1280, 720).find(Rect, prefix="window")  # nothing read yet
    while m.step():
        scene = layout(m, 1280, 720)
        ins = m.last
        want = {(int(r) + m.pad_top, int(c) + m.pad_left) for r in ins.rows for c in ins.cols}
        for name in names:
            assert covered(scene, f"input:{name}", f"window:{name}") == want
        outs = [f"output:{n}" for n in names] if ins.separate else ["output"]
        for tag in outs:
            assert covered(scene, tag, f"current:{tag}") == {(ins.row, ins.col)}
        assert f"output ({ins.row}, {ins.col})" in " ".join(
            t.text for t in scene.find(Text, "arithmetic"))


@pytest.mark.parametrize("channels", ["gray", "separate"])
def test_pool_stage_window_and_winner(channels):
    image = RNG.random((12, 10, 3), dtype=np.float32)
    s = Settings(channels=channels, pool="max", relu=True).replace(
        kernel=kernels.PRESETS["sobel-x"].array())
    m = ScanModel(image, s)
    m.run_to(m.n_conv)
    assert layout(m, 1280, 720).find(Cells, prefix="input")  # still the first stage
    suffixes = [":R", ":G", ":B"] if channels == "separate" else [""]
    while m.step():
        scene = layout(m, 1280, 720)
        p = m.last_pool
        assert not scene.find(Cells, prefix="input")
        want = {(int(r), int(c)) for r in p.rows for c in p.cols}
        for i, sfx in enumerate(suffixes):
            assert covered(scene, f"conv{sfx}", f"window:conv{sfx}") == want
            assert covered(scene, f"pooled{sfx}", f"current:pooled{sfx}") == {(p.prow, p.pcol)}
            (grid,) = scene.find(Cells, f"pool-window{sfx}")
            winner = tuple(int(v) for v in np.argwhere(np.all(grid.rgb == WINDOW, axis=2))[0])
            assert winner == p.winners[i]
            assert p.values[winner + (i,)] == p.pooled[i]
    conv, pooled = m.reference()
    np.testing.assert_allclose(m.pooled, pooled, atol=1e-5)


def _texts_fit_and_do_not_overlap(scene):
    labels = [t for t in scene.find(Text) if not t.tag.startswith("value:") or
              t.tag.startswith("value:sum") or t.tag.startswith("value:total")]
    for t in scene.find(Text):
        assert 0 <= t.x and t.x + t.w <= scene.width + 0.5, t
        assert 0 <= t.y and t.y + t.h <= scene.height + 0.5, t
        assert text_width(t.text, t.size, t.bold) <= t.w + 1, t
    for a, b in itertools.combinations([t for t in labels if t.tag != "operator"], 2):
        assert not boxes_overlap((a.x, a.y, a.w, a.h), (b.x, b.y, b.w, b.h)), (a, b)
    # a window's outline (and its dark edge) never covers a label
    outlines = scene.find(Rect, prefix="window") + scene.find(Rect, prefix="current")
    for r in outlines:
        for t in labels:
            if t.tag.startswith(("header", "title", "progress", "note", "arithmetic", "label")):
                assert not boxes_overlap((r.x, r.y, r.w, r.h), (t.x, t.y, t.w, t.h)), (r, t)


SIZES = [(1920, 1080), (1366, 768), (920, 400), (640, 360), (3840, 2160)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("stage", ["conv", "pool"])
def test_parts_fit_the_canvas_and_never_overlap(size, stage):
    image = RNG.random((28, 28), dtype=np.float32)
    m = ScanModel(image, Settings(pool="max", relu=True, bias=0.1))
    m.run_to(50 if stage == "conv" else m.n_conv + 20)
    scene = layout(m, *size)
    assert (scene.width, scene.height) == size
    blocks = list(scene.blocks.items())
    assert {"title", "headers", "arithmetic"} <= set(scene.blocks)
    for name, (x, y, w, h) in blocks:
        assert 0 <= x and 0 <= y and x + w <= size[0] + 0.5 and y + h <= size[1] + 0.5, name
    for (na, a), (nb, b) in itertools.combinations(blocks, 2):
        assert not boxes_overlap(a, b), (na, nb)
    _texts_fit_and_do_not_overlap(scene)


@pytest.mark.parametrize("stride", [1, 2])
def test_a_window_on_the_first_row_stays_clear_of_the_headers(stride):
    m = ScanModel(one_white_pixel(), Settings(stride=stride))
    for pos in (1, 2, 3):
        m.run_to(pos)
        for size in SIZES:
            _texts_fit_and_do_not_overlap(layout(m, *size))


def test_rgb_layouts_fit_and_never_overlap():
    image = RNG.random((30, 40, 3), dtype=np.float32)
    for s in (Settings(channels="sum", bias=0.5, relu=True),
              Settings(channels="separate", padding="same", relu=True, bias=-0.1),
              Settings(channels="sum").replace(kernel=RNG.normal(size=(3, 3, 3))),
              Settings(channels="separate", pool="avg")):
        m = ScanModel(image, s)
        for pos in (0, 1, m.n_conv, m.n_cells):
            m.run_to(pos)
            for size in ((1920, 1080), (1366, 768)):
                scene = layout(m, *size)
                blocks = list(scene.blocks.items())
                for (na, a), (nb, b) in itertools.combinations(blocks, 2):
                    assert not boxes_overlap(a, b), (s, pos, na, nb)
                _texts_fit_and_do_not_overlap(scene)
        m.reset()


def test_the_lecture_28x28_is_readable_at_1920x1080():
    """Issue 9: the 28x28 case (valid 26x26, then max pool 13x13) from the back of a room:
    big cells, labels of 28 px and more, sums and kernel numbers large."""
    image = RNG.random((28, 28), dtype=np.float32)
    m = ScanModel(image, Settings(pool="max", relu=True).replace(
        kernel=kernels.PRESETS["sobel-x"].array()))
    m.run_to(100)
    scene = layout(m, 1920, 1080)
    assert scene.grids["input:grey"].cell >= 20 and scene.grids["output"].cell >= 20
    assert scene.grids["input:grey"].rows == 28 and scene.grids["output"].cols == 26
    sizes = {t.tag: t.size for t in scene.find(Text)}
    assert sizes["title"] >= 34 and sizes["progress"] >= 26
    assert min(t.size for t in scene.find(Text, prefix="header:")) >= 26
    assert sizes["value:sum:grey"] >= 30 and sizes["value:relu:grey"] >= 30
    assert min(t.size for t in scene.find(Text, "value:kernel:grey")) >= 20
    assert min(t.size for t in scene.find(Text, "arithmetic")) >= 20
    assert min(r.width for r in scene.find(Rect, "window:grey")) >= 4
    m.run_to(m.n_conv + 1)
    scene = layout(m, 1920, 1080)
    assert scene.grids["conv"].cell >= 30 and scene.grids["pooled"].cols == 13
    assert min(t.size for t in scene.find(Text, "value:pool-window")) >= 20


def test_small_inputs_show_every_cells_value():
    m = ScanModel(one_white_pixel(), Settings())
    m.run_to(5)
    for size in ((1920, 1080), (1366, 768), (920, 400)):
        scene = layout(m, *size)
        assert scene.grids["input:grey"].cell >= CELL_TEXT_MIN
        values = scene.find(Text, "value:input:grey")
        assert len(values) == 64 and min(t.size for t in values) >= 10
        assert sorted(t.text for t in values).count("1") == 1
        out = scene.find(Text, "value:output")
        assert [t.text for t in out] == ["1", "0", "0", "0", "0"]  # computed cells only


def test_padding_is_hatched_and_the_scene_grows_with_the_canvas():
    m = ScanModel(RNG.random((6, 7), dtype=np.float32), Settings(padding=2))
    small, big = layout(m, 640, 360), layout(m, 1920, 1080)
    assert big.grids["input:grey"].cell > 2 * small.grids["input:grey"].cell
    hatches = big.find(Hatch, "padding:grey")
    g = big.grids["input:grey"]
    assert len(hatches) == 4
    area = sum(h.w * h.h for h in hatches)
    assert area == pytest.approx(g.cell ** 2 * (10 * 11 - 6 * 7))
    for h in hatches:
        segs = h.segments()
        assert segs
        for x0, y0, x1, y1 in segs:
            for x, y in ((x0, y0), (x1, y1)):
                assert h.x - 1e-6 <= x <= h.x + h.w + 1e-6 and h.y - 1e-6 <= y <= h.y + h.h + 1e-6


def test_pillow_render_draws_the_window_where_the_scene_says():
    m = ScanModel(one_white_pixel(), Settings(stride=2))
    m.run_to(2)
    scene = layout(m, 960, 540)
    img = np.asarray(render(scene))
    assert img.shape == (540, 960, 3)
    (win,) = scene.find(Rect, "window:grey")
    x0, y0 = round(win.x), round(win.y)
    assert tuple(img[y0 + 1, x0 + 1]) == WINDOW
    assert tuple(img[y0 + round(win.h) - 1, x0 + round(win.w) - 1]) == WINDOW
    g = scene.grids["input:grey"]
    cx, cy = g.x + 1.5 * g.cell, g.y + 1.2 * g.cell  # inside the white pixel, off its text
    assert tuple(img[round(cy), round(cx)]) == (255, 255, 255)


@pytest.mark.parametrize("scale", [0.75, 1.5, 2.5])
def test_text_scale_grows_the_fonts_and_everything_still_fits(scale):
    m = ScanModel(RNG.random((28, 28), dtype=np.float32), Settings(pool="max", relu=True))
    m.run_to(40)
    base, scaled = layout(m, 1366, 768), layout(m, 1366, 768, text_scale=scale)
    size = {t.tag: t.size for t in base.find(Text)}
    grown = {t.tag: t.size for t in scaled.find(Text)}
    assert grown["title"] == pytest.approx(size["title"] * min(scale, 1.25), abs=1)
    assert (grown["value:sum:grey"] > size["value:sum:grey"]) == (scale > 1)
    # the maps keep their room: at most a quarter smaller than at 100%
    assert scaled.grids["input:grey"].cell >= 0.75 * base.grids["input:grey"].cell
    for (na, a), (nb, b) in itertools.combinations(list(scaled.blocks.items()), 2):
        assert not boxes_overlap(a, b), (na, nb)
    _texts_fit_and_do_not_overlap(scaled)
    with pytest.raises(ValueError, match="text_scale must be 0.5 to 3"):
        layout(m, 1366, 768, text_scale=4)


def test_bad_sizes_are_one_sentence():
    m = ScanModel(one_white_pixel(), Settings())
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="width must be a whole number"):
            layout(m, bad, 100)
    scene = layout(m, 1, 1)  # degenerate but drawable
    assert scene.width == 1


def test_a_15x15_kernel_leaves_the_maps_room_and_shortens_the_sum():
    m = ScanModel(RNG.random((8, 8), dtype=np.float32),
                  Settings(padding="full").replace(kernel=RNG.normal(size=(15, 15))))
    m.run_to(30)
    scene = layout(m, 1366, 768)
    kernel, grid = scene.grids["kernel:grey"], scene.grids["input:grey"]
    assert grid.cell >= 10 and kernel.cols * kernel.cell <= 1366 / 3
    (line, _) = scene.find(Text, "arithmetic")
    assert " + … = " in line.text and line.text.endswith(f"{m.last.channel_sums[0]:.3f}")
    assert line.size >= 14
    _texts_fit_and_do_not_overlap(scene)


@pytest.mark.parametrize("dilation, padding, stride", [(2, "valid", 1), (2, "same", 2),
                                                        (3, "full", 1)])
def test_a_dilated_window_outlines_its_taps_and_leaves_the_holes(dilation, padding, stride):
    """Issue 12: scan mode draws the holes. Each tap is outlined; the cells between them are
    inside the window's span but not outlined, and the sum is over the taps alone."""
    image = RNG.random((12, 13), dtype=np.float32)
    s = Settings(dilation=dilation, padding=padding, stride=stride).replace(
        kernel=RNG.normal(size=(3, 3)))
    m = ScanModel(image, s)
    while m.step():
        scene = layout(m, 1280, 720)
        ins = m.last
        taps = {(int(r) + m.pad_top, int(c) + m.pad_left) for r in ins.rows for c in ins.cols}
        assert covered(scene, "input:grey", "window:grey") == taps
        span = covered(scene, "input:grey", "span:window:grey")
        assert len(span) == (2 * dilation + 1) ** 2 and taps <= span
        assert len(span - taps) == (2 * dilation + 1) ** 2 - 9  # the holes
        assert np.diff(ins.rows).tolist() == [dilation, dilation]
    np.testing.assert_allclose(m.output, m.reference()[0], atol=1e-5)
    assert f"dilated {dilation}" in layout(m, 1280, 720).find(Text, "title")[0].text
