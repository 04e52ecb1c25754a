"""The layer form of ops.conv2d (a batch through a bank of filters) and conv2d_grads.

Random comparisons with the loop references are in test_ops_hypothesis.py; here: the model's
own Conv2D reproduced bit for bit (so the model can switch to ops without a changed number),
values by hand, the adjoint identities, the argument checks and the memory budget.
"""

from __future__ import annotations

import numpy as np
import pytest

from convdemo import budget, model, ops

RNG = np.random.default_rng(12)


def _conv_layers(m):
    return [(i, layer) for i, layer in enumerate(m.layers) if layer.kind == "Conv2D"]


@pytest.mark.parametrize("arch", ["seed", "deep"])
@pytest.mark.parametrize("batch", [1, 7, 128])
def test_model_conv2d_reproduced_bit_for_bit(arch, batch):
    """Forward and backward of every Conv2D of the shipped architectures, random weights
    and a random non-zero bias: ops gives exactly the same float32 numbers."""
    m = model.build(arch, seed=batch)
    for index, layer in _conv_layers(m):
        in_shape = model.INPUT_SHAPE if index == 0 else m.shapes[index - 1]
        x = RNG.random((batch, *in_shape), dtype=np.float32)
        layer.params["bias"] = RNG.standard_normal(layer.params["bias"].shape).astype(np.float32)
        kernel, bias = layer.params["kernel"], layer.params["bias"]
        geometry = {name: getattr(layer, name) for name in ("stride", "padding", "dilation")
                    if hasattr(layer, name)}
        y = layer.forward(x, training=True)
        mine = ops.conv2d(x, kernel, bias=bias, **geometry)
        if getattr(layer, "activation", "relu") == "relu":
            mine = ops.relu(mine)
        np.testing.assert_array_equal(y, mine)

        grad = RNG.standard_normal(y.shape).astype(np.float32)
        layer.needs_input_grad = index > 0
        dx = layer.backward(grad)
        g = grad * (y > 0) if getattr(layer, "activation", "relu") == "relu" else grad
        mdx, mdk, mdb = ops.conv2d_grads(x, kernel, g, input_grad=index > 0, **geometry)
        np.testing.assert_array_equal(mdk, layer.grads["kernel"])
        np.testing.assert_array_equal(mdb, layer.grads["bias"])
        if index == 0:
            assert dx is None and mdx is None
        else:
            np.testing.assert_array_equal(mdx, dx)


def test_layer_form_by_hand():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # x[r, c] = 4r + c
    k = np.zeros((3, 3, 1, 2), np.float32)
    k[1, 1, 0, 0] = 1  # filter 0: identity
    k[:, :, 0, 1] = 1  # filter 1: box sum
    out = ops.conv2d(x, k, padding="same", bias=[0.5, 0])
    assert out.shape == (1, 4, 4, 2)
    np.testing.assert_array_equal(out[0, :, :, 0], x[0, :, :, 0] + 0.5)
    assert out[0, 0, 0, 1] == 0 + 1 + 4 + 5
    assert out[0, 1, 1, 1] == sum(range(0, 3)) + sum(range(4, 7)) + sum(range(8, 11))
    # dilation 2, valid: taps at rows/cols {0, 2} of a 2x2 kernel -> one output per corner
    out = ops.conv2d(x, np.ones((2, 2, 1, 1)), dilation=2)
    np.testing.assert_array_equal(out[0, :, :, 0], [[0 + 2 + 8 + 10, 1 + 3 + 9 + 11],
                                                     [4 + 6 + 12 + 14, 5 + 7 + 13 + 15]])


def test_input_gradient_is_the_transposed_convolution_by_hand():
    """Stride 2: each output cell's gradient spreads over its own window; the gaps get 0."""
    x = np.zeros((1, 5, 5, 1), np.float32)
    g = np.array([[1.0, 10.0], [100.0, 1000.0]], np.float32).reshape(1, 2, 2, 1)
    dx, dk, db = ops.conv2d_grads(x, np.ones((2, 2, 1, 1)), g, stride=(2, 3))
    want = np.zeros((5, 5))
    want[0:2, 0:2], want[0:2, 3:5], want[2:4, 0:2], want[2:4, 3:5] = 1, 10, 100, 1000
    np.testing.assert_array_equal(dx[0, :, :, 0], want)
    assert db.tolist() == [1111.0] and not dk.any()


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": "same"},
                                    {"padding": (2, 1), "dilation": (2, 3)},
                                    {"padding": "full", "stride": (1, 2), "dilation": 2}])
def test_adjoint_identities(kwargs):
    """y = conv(x, K) is linear in x and in K, so <y, g> = <x, dx> = <K, dK> for any g:
    the gradients are the true adjoints (checked in float64 sums of the float32 results)."""
    x = RNG.standard_normal((3, 9, 8, 2)).astype(np.float32)
    k = RNG.standard_normal((3, 2, 2, 4)).astype(np.float32)
    y = ops.conv2d(x, k, **kwargs)
    g = RNG.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv2d_grads(x, k, g, **kwargs)
    inner = float(np.sum(y.astype(np.float64) * g))
    assert np.isclose(np.sum(x.astype(np.float64) * dx), inner, rtol=1e-5)
    assert np.isclose(np.sum(k.astype(np.float64) * dk), inner, rtol=1e-5)
    np.testing.assert_allclose(db, g.sum(axis=(0, 1, 2)), rtol=1e-5)


def test_empty_outputs():
    x = np.ones((2, 3, 3, 1), np.float32)
    k = np.ones((5, 5, 1, 4), np.float32)
    assert ops.conv2d(x, k).shape == (2, 0, 0, 4)
    dx, dk, db = ops.conv2d_grads(x, k, np.zeros((2, 0, 0, 4), np.float32))
    assert dx.shape == x.shape and not dx.any() and dk.shape == k.shape and db.shape == (4,)
    assert ops.conv2d(np.ones((0, 4, 4, 1)), np.ones((3, 3, 1, 2))).shape == (0, 2, 2, 2)


@pytest.mark.parametrize(
    ("x", "kernel", "kwargs", "words"),
    [
        (np.ones((4, 4, 1)), np.ones((3, 3, 1, 2)), {}, ["4 dimensions", "(N, H, W, C_in)"]),
        (np.ones((1, 4, 4, 3)), np.ones((3, 3, 2, 2)), {}, ["C_in = 2", "3 channels"]),
        (np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), {"bias": [1, 2, 3]}, ["bias", "(2,)"]),
        (np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), {"border": "wrap"}, ["border", "zeros"]),
        (np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), {"channels": "separate"}, ["channels"]),
        (np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), {"flip": True}, ["flip"]),
        (np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), {"dilation": 0}, ["dilation", ">= 1"]),
        (np.ones((1, 4, 4, 1)), np.full((3, 3, 1, 2), np.nan), {}, ["finite"]),
        (np.ones((1, 4, 4, 1)), np.ones((16, 3, 1, 2)), {}, ["1 to 15"]),
    ],
)
def test_layer_form_bad_arguments(x, kernel, kwargs, words):
    for fn in (ops.conv2d, ops.conv2d_reference):
        with pytest.raises(ValueError) as info:
            fn(x, kernel, **kwargs)
        for word in words:
            assert word in str(info.value), (word, str(info.value))


def test_gradient_shape_is_checked():
    with pytest.raises(ValueError, match=r"grad_out must have the layer's output shape"):
        ops.conv2d_grads(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), np.ones((1, 2, 2, 3)))
    with pytest.raises(ValueError, match="input_grad must be True or False"):
        ops.conv2d_grads(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), np.ones((1, 2, 2, 2)),
                         input_grad="no")


def test_layer_form_memory_is_checked(monkeypatch):
    monkeypatch.setenv(budget.ENV, "64M")
    x = np.zeros((2, 30, 40, 3), np.float32)
    k = np.ones((3, 3, 3, 8), np.float32)
    with pytest.raises(budget.MemoryBudgetError, match="layer convolution .* would need"):
        ops.conv2d(x, k, padding=2000)
    with pytest.raises(budget.MemoryBudgetError, match="gradients"):
        ops.conv2d_grads(x, k, np.broadcast_to(np.float32(0), (2, 4028, 4038, 8)),
                         padding=2000)
    assert ops.conv2d(x, k, padding=2).shape == (2, 32, 42, 8)
