"""Scan mode's model (no Qt): the window it reports is the one whose sum it writes, and a
finished scan is the engine's result, pooling included."""

from __future__ import annotations

import numpy as np
import pytest

from convdemo import ops
from convdemo.pipeline import Settings
from convdemo.scan import ScanModel

RNG = np.random.default_rng(11)


def engine(x, s: Settings) -> np.ndarray:
    channels = "separate" if s.channels == "separate" else "sum"
    out = ops.conv2d(x, s.kernel_array(), stride=s.stride, padding=s.padding, border=s.border,
                     channels=channels, flip=s.flip, bias=s.bias)
    return ops.relu(out) if s.relu else out


def one_white_pixel() -> np.ndarray:
    image = np.zeros((8, 8), np.float32)
    image[1, 1] = 1.0
    return image


@pytest.mark.parametrize("stride", [1, 2])
def test_window_is_the_written_sum(stride):
    """Issue 9's case: after k steps the window covers exactly the cells of the written sum,
    and the white pixel (1, 1) is in it exactly when the written output is 1."""
    m = ScanModel(one_white_pixel(), Settings(stride=stride))
    assert m.window() is None
    for k in range(1, m.n_cells + 1):
        m.step()
        w, ins = m.window(), m.last
        assert w.stage == "conv" and w.out == (ins.row, ins.col) == divmod(k - 1, m.shape[1])
        want = {(int(r), int(c)) for r in ins.rows for c in ins.cols}
        assert w.cells() == want
        # the sum over the reported cells is the written output: identity reads the centre
        image = one_white_pixel()
        got = sum(image[r, c] * Settings().kernel_array()[i, j]
                  for i, r in enumerate(w.rows) for j, c in enumerate(w.cols))
        assert got == ins.outputs[0] == (1.0 if (w.rows[1], w.cols[1]) == (1, 1) else 0.0)
        assert f"output ({ins.row}, {ins.col}) = {ins.outputs[0]:.3f}" in m.arithmetic()


def test_window_is_in_padded_coordinates():
    m = ScanModel(one_white_pixel(), Settings(padding="same", border="reflect"))
    assert (m.pad_top, m.pad_left) == (1, 1)
    m.step()
    assert m.window().cells() == {(r, c) for r in range(3) for c in range(3)}
    values, mask = m.padded_plane(0)
    assert mask[0].all() and not mask[1, 1]
    assert values[2, 2] == 1.0 and values[0, 0] == 1.0  # reflect mirrors (1, 1) to (-1, -1)


@pytest.mark.parametrize("channels, pool, relu, pool_stride", [
    ("gray", "max", True, None), ("sum", "avg", False, None), ("separate", "max", True, 1),
    ("sum", "none", True, None)])
def test_finished_scan_is_the_engine_with_relu_and_pooling(channels, pool, relu, pool_stride):
    image = RNG.random((20, 17, 3), dtype=np.float32)
    s = Settings(channels=channels, pool=pool, relu=relu, pool_stride=pool_stride,
                 padding="same", bias=-0.1).replace(kernel=RNG.normal(size=(3, 3)))
    m = ScanModel(image, s)
    conv = engine(m.copy, s)
    assert m.conv_shape == conv.shape
    steps = 0
    while m.step():
        steps += 1
        if steps == m.n_conv:  # the first stage's end: the whole map, nothing pooled yet
            np.testing.assert_allclose(m.output, conv, atol=1e-5)
            assert m.stage == "conv"
    assert steps == m.n_cells and m.finished and not m.step()
    np.testing.assert_allclose(m.output, conv, atol=1e-5)
    if pool == "none":
        assert m.pooled is None and m.n_pool == 0
        return
    want = ops.pool2d(conv, s.pool_size, stride=pool_stride, mode=pool)
    assert m.n_pool == want.shape[0] * want.shape[1] and m.stage == "pool"
    np.testing.assert_allclose(m.pooled, want, atol=1e-5)


def test_pool_stage_window_and_arithmetic():
    """The lecture's 28x28 -> valid 26x26 -> max pool 13x13: each pooled step reads its 2x2
    window of the conv map, and the written max is that window's max."""
    image = RNG.random((28, 28), dtype=np.float32)
    s = Settings(pool="max").replace(kernel=RNG.normal(size=(3, 3)))
    m = ScanModel(image, s)
    assert (m.conv_shape, m.pool_shape, m.n_cells) == ((26, 26), (13, 13), 26 * 26 + 13 * 13)
    m.run_to(m.n_conv)
    assert m.stage == "conv" and m.window().stage == "conv"
    m.run_to(m.n_conv + 13 + 2)  # pooled (1, 1)
    w = m.window()
    assert w.stage == "pool" and w.out == (1, 1)
    assert w.cells() == {(2, 2), (2, 3), (3, 2), (3, 3)}
    block = m.output[2:4, 2:4]
    assert m.pooled[1, 1] == block.max()
    text = m.arithmetic()
    assert f"= {block.max():.3f}" in text and "pooled (1, 1): max of conv rows 2–3" in text
    m.reset()
    assert m.position == 0 and np.isnan(m.output).all() and np.isnan(m.pooled).all()
    assert m.window() is None and m.stage == "conv"


def test_arithmetic_writes_the_bias_and_relu():
    image = np.full((4, 4), 0.5, np.float32)
    m = ScanModel(image, Settings(bias=0.25, relu=True).replace(kernel=-np.ones((3, 3))))
    m.step()
    assert m.arithmetic().splitlines()[-1] == \
        "output (0, 0) = -4.500 + bias 0.25 = -4.250 → ReLU = 0.000"


def test_avg_pool_arithmetic_and_empty_pool():
    m = ScanModel(RNG.random((6, 6), dtype=np.float32), Settings(pool="avg"))
    m.run_to_end()
    assert "/ 4 = " in m.arithmetic()
    tiny = ScanModel(RNG.random((3, 3), dtype=np.float32), Settings(pool="max", pool_size=2))
    assert tiny.conv_shape == (1, 1) and tiny.n_pool == 0  # the window does not fit
    tiny.run_to_end()
    assert tiny.finished and tiny.stage == "conv"


@pytest.mark.parametrize("padding", ["valid", "same", 1])
def test_dilated_scan_is_the_engine(padding):
    image = RNG.random((14, 11, 3), dtype=np.float32)
    s = Settings(dilation=2, padding=padding, channels="separate", relu=True, pool="max") \
        .replace(kernel=RNG.normal(size=(3, 3)))
    m = ScanModel(image, s)
    want = ops.relu(ops.conv2d(m.copy, s.kernel_array(), padding=padding, dilation=2,
                               channels="separate"))
    assert m.conv_shape == want.shape
    m.run_to(m.n_conv)
    np.testing.assert_allclose(m.output, want, atol=1e-5)
    m.run_to_end()
    np.testing.assert_allclose(m.pooled, ops.pool2d(want, 2), atol=1e-5)
