"""Random cases: the fast engine against the obvious loop references.

Tolerance (float32 fast path vs float64 reference rounded to float32): relative 1e-5 plus
absolute 2e-6 x (sum |kernel| x max |image| x channels + |bias|), i.e. a few float32 ulps of
the largest partial sum. Each case is also run with tiny row bands and forced threading, so
the band/thread split used on big images is checked on small ones.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from convdemo import ops

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ELEMS = st.floats(-4, 4, width=32, allow_subnormal=False)
KELEMS = st.floats(-3, 3, width=32, allow_subnormal=False)
#: weights that repeat, so the engine's grouping of equal magnitudes and its +-1 shortcuts
#: (add/subtract without multiplying) are exercised too
FEW_WEIGHTS = st.sampled_from([0.0, 1.0, -1.0, 2.0, -2.0, 0.1, -0.1, 0.5, 1 / 9])


@contextlib.contextmanager
def tiny_bands():
    """Force 1-row bands and two threads even on tiny arrays."""
    par = ops.parallel
    saved = par.BAND_ELEMS, par.THREAD_MIN
    par.BAND_ELEMS, par.THREAD_MIN = 1, 1
    try:
        yield
    finally:
        par.BAND_ELEMS, par.THREAD_MIN = saved


def assert_matches(fast, ref, kernel, image, bias=0.0):
    k = np.asarray(kernel, np.float64)
    x = np.asarray(image, np.float64)
    c = x.shape[2] if x.ndim == 3 else 1
    scale = np.abs(k).sum() * max(np.abs(x).max(initial=0.0), 1.0) * c + abs(bias)
    assert fast.dtype == np.float32 and fast.shape == ref.shape
    np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=2e-6 * max(scale, 1.0))


strides = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))
dilations = st.one_of(
    st.just(1), st.integers(1, 4), st.tuples(st.integers(1, 3), st.integers(1, 3))
)
paddings = st.one_of(
    st.sampled_from(ops.PADDINGS),
    st.integers(0, 4),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
)


@st.composite
def conv_cases(draw, max_side=9, max_k=6):
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    c = draw(st.sampled_from([None, 1, 2, 3]))
    shape = (h, w) if c is None else (h, w, c)
    image = draw(hnp.arrays(np.float32, shape, elements=ELEMS))
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    per_channel = c is not None and draw(st.booleans())
    kshape = (kh, kw, c) if per_channel else (kh, kw)
    weights = draw(st.sampled_from([KELEMS, FEW_WEIGHTS]))
    kernel = draw(hnp.arrays(np.float32, kshape, elements=weights, fill=st.nothing()))
    kwargs = {
        "stride": draw(strides),
        "padding": draw(paddings),
        "border": draw(st.sampled_from(ops.BORDERS)),
        "channels": draw(st.sampled_from(ops.CHANNEL_MODES)),
        "flip": draw(st.booleans()),
        "bias": draw(st.sampled_from([0.0, 0.5, -1.25])),
        "dilation": draw(dilations),
    }
    return image, kernel, kwargs


def check_conv(image, kernel, kwargs):
    ref = ops.conv2d_reference(image, kernel, **kwargs)
    fast = ops.conv2d(image, kernel, **kwargs)
    assert fast.shape == ops.output_shape(
        image.shape,
        kernel.shape,
        stride=kwargs["stride"],
        padding=kwargs["padding"],
        channels=kwargs["channels"],
        dilation=kwargs["dilation"],
    )
    assert_matches(fast, ref, kernel, image, kwargs["bias"])
    with tiny_bands():
        assert_matches(ops.conv2d(image, kernel, **kwargs), ref, kernel, image, kwargs["bias"])


@SETTINGS
@given(conv_cases())
def test_conv2d_matches_reference(case):
    check_conv(*case)


@SETTINGS
@given(conv_cases(max_side=3, max_k=15))
def test_conv2d_images_smaller_than_the_kernel(case):
    image, kernel, kwargs = case
    assume(kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1])
    check_conv(image, kernel, kwargs)


@SETTINGS
@given(conv_cases(max_side=1, max_k=5))
def test_conv2d_one_pixel_images(case):
    check_conv(*case)


@SETTINGS
@given(conv_cases(max_side=12, max_k=3), st.integers(4, 7))
def test_conv2d_stride_larger_than_kernel(case, big_stride):
    image, kernel, kwargs = case
    kwargs["stride"] = (big_stride, max(1, big_stride - 2))
    check_conv(image, kernel, kwargs)


@SETTINGS
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 8)), elements=ELEMS),
    hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=KELEMS),
)
def test_flip_equals_scipy_convolve2d(image, kernel):
    fast = ops.conv2d(image, kernel, padding="full", flip=True)
    assert_matches(fast, scipy.signal.convolve2d(image, kernel, mode="full"), kernel, image)
    if image.shape[0] >= kernel.shape[0] and image.shape[1] >= kernel.shape[1]:
        ref = scipy.signal.convolve2d(image, kernel, mode="valid")
        assert_matches(ops.conv2d(image, kernel, flip=True), ref, kernel, image)


def written_out(kernel: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The dilated kernel as an ordinary one: ``dy - 1`` rows and ``dx - 1`` columns of zeros
    between the taps."""
    kh, kw = kernel.shape[:2]
    out = np.zeros(((kh - 1) * dy + 1, (kw - 1) * dx + 1) + kernel.shape[2:], kernel.dtype)
    out[::dy, ::dx] = kernel
    return out


@SETTINGS
@given(conv_cases(max_side=10, max_k=4), st.integers(1, 4), st.integers(1, 4))
def test_dilation_equals_the_kernel_written_out_with_zeros(case, dy, dx):
    """The definition of dilation, for every padding rule (their amounts come from the
    effective kernel, which is the written-out kernel's size): the same numbers, and for the
    reference the same sums exactly."""
    image, kernel, kwargs = case
    kwargs["dilation"] = (dy, dx)
    wide = written_out(kernel, dy, dx)
    plain = {**kwargs, "dilation": 1}
    assert_matches(ops.conv2d(image, kernel, **kwargs), ops.conv2d(image, wide, **plain),
                   kernel, image, kwargs["bias"])
    np.testing.assert_array_equal(ops.conv2d_reference(image, kernel, **kwargs),
                                  ops.conv2d_reference(image, wide, **plain))


NP_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}


@SETTINGS
@given(
    hnp.arrays(
        np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(2)), elements=ELEMS
    ),
    st.integers(0, 7),
    st.integers(0, 7),
    st.sampled_from(ops.BORDERS),
    st.data(),
)
def test_borders_equal_numpy_pad(image, py, px, border, data):
    """An impulse kernel at (a, b) reads the padded image shifted by (a, b): so the padded
    cells are exactly numpy.pad's (reflect = 'reflect', replicate = 'edge', wrap = 'wrap')."""
    padded = np.pad(image, [(py, py), (px, px), (0, 0)], mode=NP_MODES[border])
    kh, kw = data.draw(st.integers(1, 2 * py + 1)), data.draw(st.integers(1, 2 * px + 1))
    a, b = data.draw(st.integers(0, kh - 1)), data.draw(st.integers(0, kw - 1))
    kernel = np.zeros((kh, kw), np.float32)
    kernel[a, b] = 1
    ho, wo = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1
    expected = padded[a : a + ho, b : b + wo]
    for fn in (ops.conv2d, ops.conv2d_reference):
        out = fn(image, kernel, padding=(py, px), border=border, channels="separate")
        np.testing.assert_array_equal(out, expected)


@st.composite
def pool_cases(draw):
    h, w = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    shape = (h, w) if draw(st.booleans()) else (h, w, draw(st.integers(1, 3)))
    x = draw(hnp.arrays(np.float32, shape, elements=ELEMS))
    size = draw(st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    ky, kx = (size, size) if isinstance(size, int) else size
    stride = draw(st.one_of(st.none(), strides))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.integers(0, min(ky, kx) // 2),
            st.tuples(st.integers(0, ky // 2), st.integers(0, kx // 2)),
        )
    )
    ceil_mode = padding != "same" and draw(st.booleans())
    kwargs = {
        "stride": stride,
        "mode": draw(st.sampled_from(ops.POOL_MODES)),
        "padding": padding,
        "ceil_mode": ceil_mode,
        "count_include_pad": draw(st.booleans()),
    }
    return x, size, kwargs


@SETTINGS
@given(pool_cases())
def test_pool2d_matches_reference(case):
    x, size, kwargs = case
    ref = ops.pool2d_reference(x, size, **kwargs)
    fast = ops.pool2d(x, size, **kwargs)
    shape_kwargs = {k: kwargs[k] for k in ("stride", "padding", "ceil_mode")}
    assert fast.shape == ref.shape == ops.pool_output_shape(x.shape, size, **shape_kwargs)
    assert np.all(np.isfinite(fast))  # no window is all padding
    if kwargs["mode"] == "max":
        np.testing.assert_array_equal(fast, ref)
    else:
        np.testing.assert_allclose(fast, ref, rtol=1e-5, atol=1e-5)
    with tiny_bands():
        np.testing.assert_allclose(ops.pool2d(x, size, **kwargs), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [5, 6])
def test_same_output_is_ceil_n_over_s(n):
    for k in range(1, 8):
        for s in range(1, 5):
            before, after = ops.pad_amounts(n, k, s, "same")
            assert ops.output_shape((n, n), (k, k), stride=s, padding="same") == (-(-n // s),) * 2
            assert before <= after <= before + 1


# The loop references share pad_amounts / output_shape / pool_output_shape with the fast
# paths, so those are checked here against the formulas, written out independently.
@SETTINGS
@given(n=st.integers(1, 60), k=st.integers(1, 15), s=st.integers(1, 8))
def test_output_sizes_and_padding_follow_the_written_rules(n, k, s):
    # valid: floor((n - k) / s) + 1, or nothing when the kernel does not fit
    valid = (n - k) // s + 1 if n >= k else 0
    assert ops.pad_amounts(n, k, s, "valid") == (0, 0)
    assert ops.output_shape((n, 1), (k, 1), stride=(s, 1), padding="valid")[0] == valid
    # same (TensorFlow): ceil(n / s), total max((out - 1) * s + k - n, 0), smaller half first
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    assert ops.pad_amounts(n, k, s, "same") == (total // 2, total - total // 2)
    assert ops.output_shape((n, 1), (k, 1), stride=(s, 1), padding="same")[0] == out
    # full: k - 1 on both sides
    assert ops.pad_amounts(n, k, s, "full") == (k - 1, k - 1)
    assert ops.output_shape((n, 1), (k, 1), stride=(s, 1), padding="full")[0] == (
        (n + 2 * (k - 1) - k) // s + 1
    )
    # an int: that many cells on both sides (PyTorch)
    p = k // 2
    assert ops.pad_amounts(n, k, s, p) == (p, p)


@SETTINGS
@given(n=st.integers(1, 60), size=st.integers(1, 6), stride=st.integers(1, 6))
def test_pool_sizes_follow_the_written_rules(n, size, stride):
    valid = (n - size) // stride + 1 if n >= size else 0
    assert ops.pool_output_shape((n, 1), (size, 1), stride=(stride, 1))[0] == valid
    same = -(-n // stride)
    assert ops.pool_output_shape((n, 1), (size, 1), stride=(stride, 1), padding="same")[0] == same


# --------------------------------------------------------------------------- the layer form

EPS32 = float(np.finfo(np.float32).eps)


def within_rounding(fast, ref, magnitude, terms):
    """|fast - ref| <= (terms + 2) * eps32 * magnitude, where ``magnitude`` is the same sum
    over |terms| (computed by the reference on absolute values): the float32 error bound of
    a sum of ``terms`` products, whatever order BLAS adds them in."""
    assert fast.dtype == np.float32 and fast.shape == ref.shape
    bound = (terms + 2) * EPS32 * np.asarray(magnitude, np.float64) + 1e-30
    excess = np.abs(fast.astype(np.float64) - ref.astype(np.float64)) - bound
    assert excess.max(initial=-1) <= 0, f"off by {excess.max():g} beyond the bound"


@contextlib.contextmanager
def layer_blocks(chunk):
    """Force the layer form's chunked paths: ``chunk`` bytes of patches at a time (1: one
    output row per block; larger: whole images per block), or leave the rule alone."""
    layer = ops.layer
    saved = layer.WHOLE_BYTES, layer.CHUNK_BYTES
    if chunk is not None:
        layer.WHOLE_BYTES, layer.CHUNK_BYTES = 0, chunk
    try:
        yield
    finally:
        layer.WHOLE_BYTES, layer.CHUNK_BYTES = saved


@st.composite
def layer_cases(draw, max_side=7, max_k=4):
    n = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = draw(hnp.arrays(np.float32, (n, h, w, cin), elements=ELEMS))
    kh, kw = draw(st.integers(1, max_k)), draw(st.integers(1, max_k))
    kernel = draw(hnp.arrays(np.float32, (kh, kw, cin, cout), elements=KELEMS))
    bias = draw(st.one_of(st.none(), hnp.arrays(np.float32, (cout,), elements=KELEMS)))
    kwargs = {"stride": draw(strides), "padding": draw(paddings), "dilation": draw(dilations)}
    chunk = draw(st.sampled_from([None, 1, 64 * 4 * 9]))
    return x, kernel, bias, kwargs, chunk


def check_layer(x, kernel, bias, kwargs, chunk):
    ref = ops.conv2d_reference(x, kernel, bias=bias, **kwargs)
    with layer_blocks(chunk):
        fast = ops.conv2d(x, kernel, bias=bias, **kwargs)
    assert fast.shape == ops.output_shape(x.shape, kernel.shape, **kwargs)
    kh, kw, cin, _ = kernel.shape
    magnitude = ops.conv2d_reference(np.abs(x), np.abs(kernel), **kwargs)
    if bias is not None:
        magnitude = magnitude + np.abs(bias)
    within_rounding(fast, ref, magnitude, kh * kw * cin + 1)

    g = np.linspace(-2, 3, fast.size, dtype=np.float32).reshape(fast.shape)
    g = g[..., ::-1].copy() if fast.size else g
    dx_r, dk_r, db_r = ops.conv2d_grads_reference(x, kernel, g, **kwargs)
    with layer_blocks(chunk):
        dx, dk, db = ops.conv2d_grads(x, kernel, g, **kwargs)
    m = fast.shape[0] * fast.shape[1] * fast.shape[2]
    within_rounding(dx, dx_r, ops.conv2d_grads_reference(x, np.abs(kernel), np.abs(g), **kwargs)[0],
                    kh * kw * kernel.shape[3])
    within_rounding(dk, dk_r, ops.conv2d_grads_reference(np.abs(x), kernel, np.abs(g), **kwargs)[1],
                    m)
    within_rounding(db, db_r, np.abs(g).sum(axis=(0, 1, 2)), m)


@SETTINGS
@given(layer_cases())
def test_layer_form_and_gradients_match_references(case):
    check_layer(*case)


@SETTINGS
@given(layer_cases(max_side=3, max_k=6))
def test_layer_form_kernels_larger_than_the_input(case):
    x, kernel = case[0], case[1]
    assume(kernel.shape[0] > x.shape[1] or kernel.shape[1] > x.shape[2])
    check_layer(*case)
