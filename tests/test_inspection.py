"""The inspector's arithmetic and the geometry with dilation: the taps the engine reads.

The pattern of test_gui_inspector_scan.py (every output pixel's hand sum equals the engine's
value), for dilated kernels, with no Qt.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from convdemo import ops
from convdemo.geometry import conv_placement, effective_kernel, receptive_field
from convdemo.inspection import inspect
from convdemo.pipeline import Settings

RNG = np.random.default_rng(8)


def engine(x, s: Settings) -> np.ndarray:
    channels = "separate" if s.channels == "separate" else "sum"
    return ops.conv2d(x, s.kernel_array(), stride=s.stride, padding=s.padding, border=s.border,
                      channels=channels, flip=s.flip, bias=s.bias, dilation=s.dilation)


CASES = list(itertools.product(
    ["zeros", "reflect", "replicate", "wrap"],
    ["valid", "same", "full", 2, (1, 3)],
    [1, 2, 3],
    [2, 3],
))


@pytest.mark.parametrize("border, padding, stride, dilation", CASES)
def test_inspect_equals_the_engine_at_every_pixel_with_dilation(border, padding, stride,
                                                                 dilation):
    x = RNG.random((9, 11, 3), dtype=np.float32)
    kernel = RNG.normal(size=(3, 2) if stride == 3 else (3, 3)).astype(np.float32)
    s = Settings().replace(kernel=kernel, stride=stride, padding=padding, border=border,
                           bias=0.3, flip=stride == 2, dilation=dilation,
                           channels="separate" if stride == 1 else "sum")
    want = engine(x, s)
    assert want.size
    for r in range(want.shape[0]):
        for c in range(want.shape[1]):
            ins = inspect(x, s, r, c)
            np.testing.assert_allclose(ins.outputs, np.atleast_1d(want[r, c]), atol=1e-5)


def test_the_taps_are_dilation_apart_and_padding_is_marked():
    x = np.arange(49, dtype=np.float32).reshape(7, 7)  # x[r, c] = 7r + c
    s = Settings(dilation=3, padding="same").replace(kernel=np.ones((3, 3)))
    ins = inspect(x, s, 3, 3)  # the centre: taps at rows/cols 0, 3, 6
    np.testing.assert_array_equal(ins.rows, [0, 3, 6])
    np.testing.assert_array_equal(ins.values[:, :, 0], [[0, 3, 6], [21, 24, 27], [42, 45, 48]])
    assert not ins.padded.any()
    corner = inspect(x, s, 0, 0)  # taps at -3, 0, 3: the first row and column are padding
    np.testing.assert_array_equal(corner.padded, [[True] * 3, [True, False, False],
                                                  [True, False, False]])
    assert corner.outputs[0] == 0 + 3 + 21 + 24


@pytest.mark.parametrize("dilation, stride, padding", [(2, 1, "same"), (3, 2, "valid"),
                                                       (2, 3, "full"), (4, 2, 1)])
def test_placement_centres_each_output_pixel_on_its_dilated_window(dilation, stride, padding):
    s = Settings(dilation=dilation, stride=stride, padding=padding).replace(
        kernel=np.ones((3, 2)))
    shape = (20, 23)
    assert effective_kernel(s) == (2 * dilation + 1, dilation + 1)
    place = conv_placement(s, shape)
    out = ops.output_shape(shape, (3, 2), stride=stride, padding=padding, dilation=dilation)
    for r, c in [(0, 0), (out[0] - 1, out[1] - 1), (out[0] // 2, 1)]:
        rows, cols = receptive_field(s, shape, r, c)
        assert np.all(np.diff(rows) == dilation) and np.all(np.diff(cols) == dilation)
        centre = ((cols[0] + cols[-1] + 1) / 2, (rows[0] + rows[-1] + 1) / 2)
        assert place.index(*centre) == (r, c)
