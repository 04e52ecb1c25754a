"""The convolution engine against values computed by hand, and its argument checks.

Random comparisons of the fast paths with the loop references live in
test_ops_hypothesis.py. Tolerance for float32 against the float64 reference: relative 1e-5
plus absolute 1e-6 times the sum of |kernel| times max |image| (the size of the largest
partial sum), see ``close``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from convdemo import ops
from convdemo.kernels import PRESETS

X5 = np.arange(25, dtype=np.float32).reshape(5, 5)  # x[r, c] = 5r + c
X6 = np.arange(36, dtype=np.float32).reshape(6, 6)  # x[r, c] = 6r + c
ONES3 = np.ones((3, 3), np.float32)
RNG = np.random.default_rng(1234)


def close(fast, ref, kernel=1.0, image=1.0):
    scale = float(np.abs(kernel).sum()) * float(np.max(np.abs(image), initial=1.0))
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-6 * max(scale, 1.0))


# --------------------------------------------------------------------------- padding rules


@pytest.mark.parametrize(
    ("n", "k", "s", "padding", "expected"),
    [
        (6, 3, 2, "same", (0, 1)),  # the TF examples
        (5, 3, 2, "same", (1, 1)),
        (5, 3, 1, "same", (1, 1)),
        (5, 4, 1, "same", (1, 2)),  # even kernel: smaller half before
        (5, 1, 3, "same", (0, 0)),
        (2, 5, 1, "same", (2, 2)),
        (7, 3, 1, "valid", (0, 0)),
        (7, 4, 1, "full", (3, 3)),
        (7, 3, 2, 2, (2, 2)),
    ],
)
def test_pad_amounts(n, k, s, padding, expected):
    assert ops.pad_amounts(n, k, s, padding) == expected


def test_tf_same_n5_stride2_hand_computed():
    # pads 1 before and 1 after; windows rows/cols {0,1}, {1,2,3}, {3,4}
    expected = [[12, 27, 24], [63, 108, 81], [72, 117, 84]]
    out = ops.conv2d(X5, ONES3, stride=2, padding="same")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_tf_same_n6_stride2_hand_computed():
    # pads 0 before and 1 after; windows rows/cols {0,1,2}, {2,3,4}, {4,5}
    expected = [[63, 81, 63], [171, 189, 135], [168, 180, 126]]
    np.testing.assert_array_equal(ops.conv2d(X6, ONES3, stride=2, padding="same"), expected)
    # PyTorch's symmetric padding=1 gives a different answer: the rule matters
    assert not np.array_equal(ops.conv2d(X6, ONES3, stride=2, padding=1), expected)


def test_output_sizes():
    assert ops.output_shape((1080, 1920, 3), (3, 3)) == (1078, 1918)
    assert ops.output_shape((1080, 1920, 3), (3, 3), channels="separate") == (1078, 1918, 3)
    assert ops.output_shape((1080, 1920, 3), (3, 3), stride=2, padding="same") == (540, 960)
    assert ops.output_shape((10, 10), (3, 5), padding="full") == (12, 14)
    assert ops.output_shape((10, 11), (3, 3), stride=(3, 2), padding=(1, 2)) == (4, 7)
    assert ops.output_shape((2, 9), (3, 3)) == (0, 7)


def test_valid_where_nothing_fits_is_empty():
    out = ops.conv2d(np.ones((2, 9, 3), np.float32), ONES3)
    assert out.shape == (0, 7) and out.dtype == np.float32
    out = ops.conv2d(np.ones((2, 2, 3)), ONES3, channels="separate")
    assert out.shape == (0, 0, 3)


# --------------------------------------------------------------------------- presets by hand

PI3 = np.array([[3, 1, 4], [1, 5, 9], [2, 6, 5]], np.float32)
PRESET_ON_PI3 = {
    "identity": 5.0,
    "blur": 3.6,  # 0.1 * 36
    "brighten": 10.0,
    "edge": 4.0,  # 5 - 1 (the cell above)
    "exercise": 1.9,  # 5 - 0.1 * 31
    "box-blur": 4.0,  # 36 / 9
    "gaussian-3x3": 4.25,  # (14 + 2 * 17 + 4 * 5) / 16
    "sharpen": 8.0,  # 25 - 17
    "sobel-x": 20.0,  # (4 - 3) + 2 * (9 - 1) + (5 - 2)
    "sobel-y": 10.0,  # (2 + 12 + 5) - (3 + 2 + 4)
    "outline": 9.0,  # 40 - 31
    "emboss": 22.0,  # (-6 - 1) + (-1 + 5 + 9) + (6 + 10)
}


@pytest.mark.parametrize("name", list(PRESET_ON_PI3))
def test_preset_hand_computed(name):
    out = ops.conv2d(PI3, PRESETS[name].array())
    assert out.shape == (1, 1)
    assert out[0, 0] == pytest.approx(PRESET_ON_PI3[name], rel=1e-6)


def test_every_preset_has_a_hand_computed_check():
    assert set(PRESET_ON_PI3) | {"gaussian-5x5"} == set(PRESETS)


def test_gaussian_5x5_impulse_response():
    impulse = np.zeros((5, 5), np.float32)
    impulse[2, 2] = 1
    out = ops.conv2d(impulse, PRESETS["gaussian-5x5"].array(), padding="same")
    assert out[2, 2] == pytest.approx(36 / 256)
    assert out[0, 0] == pytest.approx(1 / 256)
    assert out[1, 2] == pytest.approx(24 / 256)
    assert out[0, 3] == pytest.approx(4 / 256)
    assert out.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("border", ops.BORDERS)
def test_identity_returns_input_exactly(border):
    img = RNG.random((7, 9, 3), dtype=np.float32)
    k = PRESETS["identity"].array()
    np.testing.assert_array_equal(
        ops.conv2d(img, k, padding="same", border=border, channels="separate"), img
    )
    np.testing.assert_array_equal(ops.conv2d(img[:, :, 1], k, padding="same"), img[:, :, 1])
    np.testing.assert_array_equal(ops.conv2d(img, k, channels="separate"), img[1:-1, 1:-1])


def test_correlation_versus_convolution_on_an_impulse():
    impulse = np.zeros((5, 5), np.float32)
    impulse[2, 2] = 1
    edge = PRESETS["edge"].array()  # -1 above the centre
    corr = ops.conv2d(impulse, edge, padding="same")
    conv = ops.conv2d(impulse, edge, padding="same", flip=True)
    # correlation with an impulse draws the kernel rotated 180 degrees: -1 *below* the centre
    assert corr[2, 2] == 1 and corr[3, 2] == -1 and np.count_nonzero(corr) == 2
    # true convolution draws the kernel itself
    assert conv[2, 2] == 1 and conv[1, 2] == -1 and np.count_nonzero(conv) == 2


def test_flip_equals_scipy_convolve2d():
    img = RNG.standard_normal((9, 11))
    k = RNG.standard_normal((4, 3))
    for mode, padding in (("full", "full"), ("valid", "valid")):
        ref = scipy.signal.convolve2d(img, k, mode=mode)
        close(ops.conv2d(img, k, padding=padding, flip=True), ref, k, img)


def test_channels_sum_is_one_neuron_and_separate_is_a_photo_filter():
    img = RNG.random((6, 7, 3), dtype=np.float32)
    k = RNG.standard_normal((3, 3, 3)).astype(np.float32)
    total = ops.conv2d(img, k, bias=0.5)
    parts = [ops.conv2d(img[:, :, c], k[:, :, c]) for c in range(3)]
    close(total, sum(parts) + 0.5, k, img)
    sep = ops.conv2d(img, k, channels="separate")
    assert sep.shape == (4, 5, 3)
    for c in range(3):
        close(sep[:, :, c], parts[c], k, img)


def test_integer_images_are_scaled():
    img8 = np.array([[0, 255], [51, 102]], np.uint8)
    np.testing.assert_allclose(ops.conv2d(img8, [[1]]), [[0, 1], [0.2, 0.4]], rtol=1e-6)
    img16 = np.array([[65535]], np.uint16)
    assert ops.conv2d(img16, [[2]])[0, 0] == pytest.approx(2.0)


def test_relu():
    out = ops.relu(np.array([[-1.5, 0.0, 2.0]]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0, 2]])


# --------------------------------------------------------------------------- pooling by hand


def test_pool_valid_hand_computed():
    np.testing.assert_array_equal(ops.pool2d(X5, 2), [[6, 8], [16, 18]])
    np.testing.assert_array_equal(ops.pool2d(X5, 2, mode="avg"), [[3, 5], [13, 15]])
    # size 3 stride 1 on 5x5 -> 3x3 maxima at the bottom-right of each window
    np.testing.assert_array_equal(ops.pool2d(X5, 3, stride=1), X5[2:, 2:])


def test_pool_same_hand_computed():
    # n=5, size 2, stride 2: out 3, padding (0, 1); windows {0,1}, {2,3}, {4}
    np.testing.assert_array_equal(
        ops.pool2d(X5, 2, padding="same"), [[6, 8, 9], [16, 18, 19], [21, 23, 24]]
    )
    # average over the real cells only (Keras)
    np.testing.assert_array_equal(
        ops.pool2d(X5, 2, mode="avg", padding="same"),
        [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]],
    )
    # count_include_pad=True divides by the full window (4)
    np.testing.assert_array_equal(
        ops.pool2d(X5, 2, mode="avg", padding="same", count_include_pad=True),
        [[3, 5, 3.25], [13, 15, 8.25], [10.25, 11.25, 6]],
    )


def test_pool_same_negative_values_ignore_padding():
    x = -1.0 - X5  # all negative: a padded 0 would win if max took padded cells
    out = ops.pool2d(x, 2, padding="same")
    assert out[2, 2] == -25.0 and out[0, 2] == -5.0


def test_pool_pytorch_ceil_mode_and_count_include_pad():
    # n=5, k=2, s=2, p=0, ceil_mode: out = ceil(3 / 2) + 1 = 3; the last window holds 1 cell,
    # and cells beyond the (empty) padding never count, even with count_include_pad
    for cip in (False, True):
        np.testing.assert_array_equal(
            ops.pool2d(X5, 2, mode="avg", ceil_mode=True, count_include_pad=cip),
            [[3, 5, 6.5], [13, 15, 16.5], [20.5, 22.5, 24]],
        )
    np.testing.assert_array_equal(ops.pool2d(X5, 2, ceil_mode=True)[2], [21, 23, 24])
    # k=3, s=2, p=1 on 5x5: windows rows/cols {-1,0,1}, {1,2,3}, {3,4,5}
    with_pad = ops.pool2d(X5, 3, stride=2, padding=1, mode="avg", count_include_pad=True)
    real_only = ops.pool2d(X5, 3, stride=2, padding=1, mode="avg", count_include_pad=False)
    assert with_pad[0, 0] == pytest.approx((0 + 1 + 5 + 6) / 9)
    assert real_only[0, 0] == pytest.approx((0 + 1 + 5 + 6) / 4)
    assert with_pad[1, 1] == real_only[1, 1] == pytest.approx(12.0)
    assert ops.pool2d(X5, 3, stride=2, padding=1)[2, 2] == 24
    # ceil_mode drops a window that would start in the padding: n=4, k=2, s=2, p=1
    x4 = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert ops.pool_output_shape((4, 4), 2, padding=1, ceil_mode=True) == (3, 3)
    assert ops.pool2d(x4, 2, padding=1, ceil_mode=True).shape == (3, 3)


def test_pool_channels_and_shapes():
    x = RNG.random((7, 5, 3), dtype=np.float32)
    out = ops.pool2d(x, 2)
    assert out.shape == (3, 2, 3) == ops.pool_output_shape(x.shape, 2)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], ops.pool2d(x[:, :, c], 2))
    assert ops.pool2d(np.ones((1, 5)), 2).shape == (0, 2)


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"image": np.zeros(5)}, ["image", "2 dimensions", "3"]),
        ({"image": np.zeros((2, 2, 2, 2))}, ["image", "dimensions"]),
        ({"kernel": np.zeros(3)}, ["kernel", "dimensions"]),
        ({"kernel": np.zeros((3, 3, 2))}, ["kernel", "channel", "(3, 3, 3)"]),
        ({"kernel": np.zeros((16, 3))}, ["kernel", "1 to 15"]),
        ({"kernel": [[0, np.nan, 0]]}, ["kernel", "NaN", "infinity"]),
        ({"kernel": [[0, np.inf]]}, ["kernel", "infinity"]),
        ({"stride": 0}, ["stride", ">= 1"]),
        ({"stride": -2}, ["stride", ">= 1"]),
        ({"stride": (1, 0)}, ["stride", ">= 1"]),
        ({"stride": 1.5}, ["stride", "int"]),
        ({"padding": "middle"}, ["padding", "'valid'", "'same'", "'full'", "int"]),
        ({"padding": -1}, ["padding", "int >= 0"]),
        ({"border": "mirror"}, ["border", "'zeros'", "'reflect'", "'replicate'", "'wrap'"]),
        ({"channels": "gray"}, ["channels", "'sum'", "'separate'"]),
        ({"bias": float("nan")}, ["bias", "finite"]),
        ({"flip": "yes"}, ["flip", "True or False"]),
    ],
)
def test_conv2d_bad_arguments(kwargs, words):
    args = {"image": np.zeros((4, 4, 3), np.float32), "kernel": ONES3, **kwargs}
    image, kernel = args.pop("image"), args.pop("kernel")
    for fn in (ops.conv2d, ops.conv2d_reference):
        with pytest.raises(ValueError) as info:
            fn(image, kernel, **args)
        for word in words:
            assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"size": 0}, ["size", ">= 1"]),
        ({"stride": 0}, ["stride", ">= 1"]),
        ({"mode": "mean"}, ["mode", "'max'", "'avg'"]),
        ({"padding": "full"}, ["padding", "'valid'", "'same'"]),
        ({"padding": 2}, ["padding", "half"]),
        ({"padding": "same", "ceil_mode": True}, ["ceil_mode", "same"]),
        ({"x": np.zeros(4)}, ["x", "dimensions"]),
    ],
)
def test_pool2d_bad_arguments(kwargs, words):
    args = {"x": np.zeros((4, 4), np.float32), **kwargs}
    x = args.pop("x")
    for fn in (ops.pool2d, ops.pool2d_reference):
        with pytest.raises(ValueError) as info:
            fn(x, **args)
        for word in words:
            assert word in str(info.value), (word, str(info.value))


def test_output_shape_bad_arguments():
    with pytest.raises(ValueError, match="channels"):
        ops.output_shape((4, 4, 3), (3, 3), channels="all")
    with pytest.raises(ValueError, match="kernel has 2 channel"):
        ops.output_shape((4, 4, 3), (3, 3, 2))
    with pytest.raises(ValueError, match="padding"):
        ops.pad_amounts(5, 3, 1, "bogus")
    with pytest.raises(ValueError, match="one axis's padding"):
        ops.pad_amounts(5, 3, 1, (2, 0))  # a pair is two axes: split it first


def test_docstring_examples():
    import doctest
    import pkgutil

    for info in pkgutil.iter_modules(ops.__path__, "convdemo.ops."):
        module = __import__(info.name, fromlist=["_"])
        assert doctest.testmod(module).failed == 0, info.name


def test_non_contiguous_and_other_dtype_inputs():
    img = RNG.random((20, 30, 3))  # float64
    k = RNG.standard_normal((3, 3))
    for view in (img[::2, ::-1], img.astype(np.float32)[::2, ::-1]):  # strided, reversed
        for kwargs in ({}, {"padding": "same", "border": "wrap"}, {"channels": "separate"}):
            expected = ops.conv2d(np.ascontiguousarray(view, dtype=np.float32), k, **kwargs)
            np.testing.assert_allclose(
                ops.conv2d(view, k, **kwargs), expected, rtol=1e-6, atol=1e-6
            )
        kk = RNG.standard_normal((2, 3, 3))
        expected = ops.conv2d(np.ascontiguousarray(view, dtype=np.float32), kk)
        np.testing.assert_allclose(ops.conv2d(view, kk), expected, rtol=1e-6, atol=1e-6)
    fortran = np.asfortranarray(img[:, :, 0])
    np.testing.assert_array_equal(
        ops.conv2d(fortran, k), ops.conv2d(np.ascontiguousarray(fortran), k)
    )
    np.testing.assert_array_equal(ops.pool2d(view, 2), ops.pool2d(np.ascontiguousarray(view), 2))


@pytest.mark.parametrize("channels", [2, 3])
def test_channel_sum_methods_agree_bit_for_bit(channels):
    """The rule picks BLAS ``x @ ones`` for 2 and 3 channels because it gives exactly the
    left-to-right float32 sums of the strided adds; check that on values of mixed scale."""
    bands = ops.bands
    assert bands.channel_sum(channels) is bands.matmul_channels
    x = RNG.standard_normal((37, 211, channels)).astype(np.float32)
    x *= np.float32(1e3) ** np.arange(channels, dtype=np.float32)  # rounding order shows
    by_add, by_matmul = (np.empty(x.shape[:2], np.float32) for _ in range(2))
    bands.add_channels(x, by_add)
    bands.matmul_channels(x, by_matmul)
    np.testing.assert_array_equal(by_add, by_matmul)


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
def test_channel_sum_paths(channels):
    """Every channel count (each path of the rule) against the reference, with and without
    padding and stride."""
    img = RNG.standard_normal((40, 50, channels)).astype(np.float32)
    k = RNG.standard_normal((3, 3))
    for kwargs in ({}, {"padding": "same", "border": "reflect"}, {"stride": 2}):
        close(ops.conv2d(img, k, **kwargs), ops.conv2d_reference(img, k, **kwargs), k,
              img * channels)


def test_weights_and_bias_beyond_float32_are_refused():
    """1e39 is finite in float64 but infinity in float32: refuse it, never return inf."""
    img = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="kernel must hold finite float32"):
        ops.conv2d(img, [[1e39]])
    with pytest.raises(ValueError, match="bias must be a finite float32"):
        ops.conv2d(img, [[1.0]], bias=1e39)
    assert np.isfinite(ops.conv2d(img, [[3e38]])).all()


@pytest.mark.parametrize("border", ops.BORDERS)
def test_border_index_agrees_with_numpy_pad(border):
    """The references and the inspector index what the fast engine pads: one rule, two forms."""
    for n in range(1, 6):
        pad = 3 * n + 2  # several periods of reflect and wrap
        values = np.arange(1, n + 1)
        padded = np.pad(values, pad, mode=ops.borders.NP_PAD_MODE[border])
        index = ops.border_index(np.arange(-pad, n + pad), n, border)
        got = np.where(index >= 0, values[np.clip(index, 0, None)], 0)
        np.testing.assert_array_equal(got, padded, err_msg=f"n={n}")
    with pytest.raises(ValueError, match="border must be one of"):
        ops.border_index([0], 3, "mirror")


# --------------------------------------------------------------------------- dilation


def test_dilation_hand_computed():
    # taps 2 apart on x[r, c] = 5r + c: rows and cols {0, 2, 4} -> 3 * 5 * 6 + 3 * 6 = 108
    np.testing.assert_array_equal(ops.conv2d(X5, ONES3, dilation=2), [[108]])
    same = ops.conv2d(X5, ONES3, dilation=2, padding="same")
    assert same.shape == (5, 5)
    assert same[2, 2] == 108
    assert same[0, 0] == 0 + 2 + 10 + 12  # taps at rows/cols -2, 0, 2: four inside
    # PyTorch's padding=2 with dilation 2 keeps the size here, as "same" does
    np.testing.assert_array_equal(ops.conv2d(X5, ONES3, dilation=2, padding=2), same)
    # (dy, dx) = (1, 2): rows {0, 1, 2}, cols {0, 2, 4} for the first output
    out = ops.conv2d(X5, ONES3, dilation=(1, 2))
    assert out.shape == (3, 1)
    assert out[0, 0] == sum(5 * r + c for r in (0, 1, 2) for c in (0, 2, 4))


@pytest.mark.parametrize(
    ("n", "k", "s", "d", "padding", "pads", "out"),
    [
        (7, 3, 1, 2, "valid", (0, 0), 3),  # ke = 5
        (7, 3, 1, 2, "same", (2, 2), 7),
        (7, 3, 2, 2, "same", (2, 2), 4),  # ceil(7 / 2) = 4, total (4 - 1) * 2 + 5 - 7 = 4
        (8, 3, 2, 3, "same", (2, 3), 4),  # ke = 7, total (4 - 1) * 2 + 7 - 8 = 5
        (7, 3, 1, 2, "full", (4, 4), 11),
        (7, 3, 1, 3, 1, (1, 1), 3),  # PyTorch: floor((7 + 2 - 3 * 2 - 1) / 1) + 1 = 3
        (4, 3, 1, 3, "valid", (0, 0), 0),  # ke = 7 > 4: nothing fits
    ],
)
def test_dilated_pad_amounts_and_sizes(n, k, s, d, padding, pads, out):
    ke = (k - 1) * d + 1
    assert ops.pad_amounts(n, k, s, padding, dilation=d) == pads
    assert ops.output_shape((n, 1), (k, 1), stride=(s, 1), padding=padding,
                            dilation=(d, 1))[0] == out
    assert out == max(0, (n + sum(pads) - ke) // s + 1)


@pytest.mark.parametrize("bad", [0, -1, (1, 0), (2,), 1.5, True, "2"])
def test_bad_dilation_is_refused(bad):
    for fn in (ops.conv2d, ops.conv2d_reference):
        with pytest.raises(ValueError, match="dilation must be an int >= 1"):
            fn(X5, ONES3, dilation=bad)
    with pytest.raises(ValueError, match="dilation must be an int >= 1"):
        ops.output_shape((5, 5), (3, 3), dilation=bad)


# --------------------------------------------------------------------------- memory


def test_huge_padding_is_refused_before_allocating(monkeypatch):
    """Issue 14: --padding 20000 --border wrap --stride 8 on a 400x300 photo asked for a
    20 GB padded copy. It is refused with one sentence that names the size."""
    from convdemo import budget

    monkeypatch.setenv(budget.ENV, "2G")
    img = np.zeros((300, 400, 3), np.float32)
    for channels in ("separate", "sum"):
        with pytest.raises(budget.MemoryBudgetError) as info:
            ops.conv2d(img, ONES3, padding=20000, border="wrap", stride=8, channels=channels)
        text = str(info.value)
        assert "padded input (40400x40300" in text and "GB" in text and "\n" not in text
    # full padding of a dilated kernel (ke = 20001): a 40010x40010 copy and result
    with pytest.raises(budget.MemoryBudgetError, match="padded input .* and its result"):
        ops.conv2d(np.zeros((10, 10), np.float32), ONES3, padding="full", dilation=10000)
    # within the budget nothing changes
    assert ops.conv2d(img, ONES3, padding=5, stride=8).shape == (39, 51)
