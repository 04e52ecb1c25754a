"""Every backward pass, and the whole model's, against float64 central differences."""

from __future__ import annotations

import numpy as np
import pytest

from convdemo import model as cnn
from convdemo import train

EPS = 1e-6


def _numeric(f, arr, index, eps=EPS):
    old = arr[index]
    arr[index] = old + eps
    up = f()
    arr[index] = old - eps
    down = f()
    arr[index] = old
    return (up - down) / (2 * eps)


def _check_layer(layer, in_shape, seed=0):
    rng = np.random.default_rng(seed)
    layer.init(in_shape[1:], rng)
    for key in layer.params:
        layer.params[key] = rng.normal(0, 0.5, layer.params[key].shape)  # float64, biases too
    x = rng.normal(0, 1, in_shape)
    out_shape = (in_shape[0], *layer.output_shape(in_shape[1:]))
    upstream = rng.normal(0, 1, out_shape)

    def loss():
        # a fresh generator with the same seed: dropout draws the same mask every time
        y = layer.forward(x, training=True, rng=np.random.default_rng(42))
        return float((y * upstream).sum())

    layer.needs_input_grad = True
    loss()
    dx = layer.backward(upstream.copy())
    assert dx.shape == x.shape and dx.dtype == np.float64
    want = np.array([_numeric(loss, x, i) for i in np.ndindex(x.shape)]).reshape(x.shape)
    np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-7)
    for key, value in layer.params.items():
        got = layer.grads[key]
        assert got.shape == value.shape
        num = np.array([_numeric(loss, value, i) for i in np.ndindex(value.shape)])
        np.testing.assert_allclose(got, num.reshape(value.shape), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "layer, in_shape",
    [
        (cnn.Conv2D("c", 4), (2, 6, 5, 3)),
        (cnn.Conv2D("c1", 2), (1, 4, 4, 1)),
        (cnn.Conv2D("lin", 3, activation="linear"), (2, 5, 5, 2)),
        (cnn.MaxPooling2D("p"), (2, 6, 4, 3)),
        (cnn.MaxPooling2D("odd"), (2, 5, 7, 2)),
        (cnn.Dropout("d", 0.4), (3, 4, 4, 2)),
        (cnn.Flatten("f"), (2, 3, 3, 2)),
        (cnn.Dense("relu", 5, "relu"), (4, 7)),
        (cnn.Dense("lin", 3), (2, 6)),
        (cnn.Dense("soft", 4, "softmax"), (3, 5)),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_layer_backward(layer, in_shape):
    _check_layer(layer, in_shape)


def test_maxpool_ties_send_gradient_to_first_maximum():
    pool = cnn.MaxPooling2D("p")
    x = np.zeros((1, 2, 2, 1))
    pool.forward(x, training=True)
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx[0, :, :, 0].tolist() == [[1, 0], [0, 0]]


def test_dropout_is_off_outside_training():
    d = cnn.Dropout("d", 0.4)
    x = np.ones((1000, 10), np.float32)
    np.testing.assert_array_equal(d.forward(x, training=False), x)
    y = d.forward(x, training=True, rng=np.random.default_rng(0))
    assert abs((y == 0).mean() - 0.4) < 0.02
    np.testing.assert_allclose(y[y > 0], 1 / 0.6, rtol=1e-6)


@pytest.mark.parametrize("arch", ["seed", "deep"])
def test_whole_model_cross_entropy_gradient(arch):
    m = cnn.build(arch, seed=3)
    rng = np.random.default_rng(5)
    for _, layer, p in m.named_params():
        layer.params[p] = layer.params[p].astype(np.float64)
        if p == "bias":
            layer.params[p] = rng.normal(0, 0.1, layer.params[p].shape)
    x = rng.random((3, 28, 28, 1))
    y = np.array([1, 7, 3])

    def loss():
        return train.train_step(m, x, y, np.random.default_rng(9))[0]

    loss()
    for _, layer, p in m.named_params():
        value = layer.params[p]
        got = layer.grads[p]
        # a fixed sample of entries per parameter, plus the largest-gradient entries
        flat = np.abs(got).ravel()
        picks = set(rng.choice(value.size, size=min(12, value.size), replace=False).tolist())
        picks |= set(np.argsort(flat)[-6:].tolist())
        for k in sorted(picks):
            index = np.unravel_index(k, value.shape)
            num = _numeric(loss, value, index)
            assert got[index] == pytest.approx(num, rel=1e-4, abs=1e-8), (layer.name, p, index)
