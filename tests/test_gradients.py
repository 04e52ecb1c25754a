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


LAYERS = [
    (cnn.Conv2D("c", 4), (2, 6, 5, 3)),
    (cnn.Conv2D("c1", 2), (1, 4, 4, 1)),
    (cnn.Conv2D("lin", 3, activation="linear"), (2, 5, 5, 2)),
    (cnn.Conv2D("stride2_same", 3, activation="linear", strides=2, padding="same"), (2, 7, 6, 2)),
    (cnn.Conv2D("pad1", 2, kernel_size=(2, 3), padding=1), (1, 5, 4, 2)),
    (cnn.Conv2D("dilated", 2, activation="linear", dilation_rate=2), (2, 7, 6, 2)),
    (cnn.Conv2D("dilated_same_s2", 3, activation="linear", dilation_rate=(2, 1), strides=(1, 2),
                padding="same"), (1, 6, 7, 2)),
    (cnn.Conv2D("asym_pad", 2, activation="linear", padding=[[0, 2], [1, 0]], strides=3),
     (1, 7, 5, 1)),
    (cnn.Conv2D("conv_tanh", 2, activation="tanh"), (1, 4, 4, 2)),
    (cnn.Conv2D("conv_sigmoid", 2, activation="sigmoid"), (1, 4, 4, 2)),
    (cnn.Conv2D("conv_softmax", 3, activation="softmax", kernel_size=1), (1, 3, 3, 2)),
    (cnn.MaxPooling2D("p"), (2, 6, 4, 3)),
    (cnn.MaxPooling2D("odd"), (2, 5, 7, 2)),
    (cnn.MaxPooling2D("max3_s2_same", 3, 2, "same"), (2, 6, 7, 2)),
    (cnn.MaxPooling2D("max2_s1", 2, 1), (1, 4, 5, 2)),
    (cnn.MaxPooling2D("max3_pad1", 3, 2, 1), (1, 5, 6, 2)),
    (cnn.MaxPooling2D("max2_same_odd", 2, padding="same"), (1, 5, 5, 1)),
    (cnn.AveragePooling2D("avg"), (2, 6, 5, 3)),
    (cnn.AveragePooling2D("avg3_s2_same", 3, 2, "same"), (2, 6, 7, 2)),
    (cnn.AveragePooling2D("avg3_pad1_incl", 3, 1, 1, count_include_pad=True), (1, 4, 5, 2)),
    (cnn.AveragePooling2D("avg3_pad1_excl", 3, 1, 1), (1, 4, 5, 2)),
    (cnn.GlobalAveragePooling2D("gap"), (2, 3, 4, 3)),
    (cnn.Dropout("d", 0.4), (3, 4, 4, 2)),
    (cnn.Flatten("f"), (2, 3, 3, 2)),
    (cnn.Dense("relu", 5, "relu"), (4, 7)),
    (cnn.Dense("lin", 3), (2, 6)),
    (cnn.Dense("soft", 4, "softmax"), (3, 5)),
    (cnn.Dense("dense_tanh", 3, "tanh"), (2, 4)),
    (cnn.Dense("dense_sigmoid", 3, "sigmoid"), (2, 4)),
    *[(cnn.Activation(f"act_{a}", a), (2, 3, 2, 4)) for a in cnn.ACTIVATIONS],
]


@pytest.mark.parametrize("layer, in_shape", LAYERS, ids=lambda v: getattr(v, "name", str(v)))
def test_layer_backward(layer, in_shape):
    _check_layer(layer, in_shape)


@pytest.mark.parametrize(
    "layer, in_shape",
    [(lay, shape) for lay, shape in LAYERS if getattr(lay, "activation", "linear") != "linear"],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_backward_before_the_activation(layer, in_shape):
    """backward_pre_activation(g) == d(sum(forward_linear(x) * g))/dx, and the parameters'."""
    rng = np.random.default_rng(1)
    layer.init(in_shape[1:], rng)
    for key in layer.params:
        layer.params[key] = rng.normal(0, 0.5, layer.params[key].shape)
    x = rng.normal(0, 1, in_shape)
    upstream = rng.normal(0, 1, (in_shape[0], *layer.output_shape(in_shape[1:])))

    def loss():
        return float((layer.forward_linear(x) * upstream).sum())

    layer.needs_input_grad = True
    layer.forward(x, cache=True)
    dx = layer.backward_pre_activation(upstream.copy())
    want = np.array([_numeric(loss, x, i) for i in np.ndindex(x.shape)]).reshape(x.shape)
    np.testing.assert_allclose(dx, want, rtol=1e-5, atol=1e-7)
    for key, value in layer.params.items():
        num = np.array([_numeric(loss, value, i) for i in np.ndindex(value.shape)])
        np.testing.assert_allclose(layer.grads[key], num.reshape(value.shape), rtol=1e-5,
                                   atol=1e-7)


def test_a_cache_kept_with_cache_true_serves_several_backwards():
    layer = cnn.Conv2D("c", 2)
    rng = np.random.default_rng(0)
    layer.init((5, 5, 1), rng)
    x = rng.random((1, 5, 5, 1))
    layer.forward(x, cache=True)
    g = rng.normal(0, 1, (1, 3, 3, 2))
    np.testing.assert_array_equal(layer.backward(g), layer.backward(g))
    layer.forward(x, training=True)
    layer.backward(g)
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(g)  # a training cache serves one backward


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


#: a small model with every layer type and the general options, for the model-level checks
SMALL_SPEC = [
    {"type": "Input", "shape": [9, 8, 2]},
    {"type": "Conv2D", "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
     "activation": "relu"},
    {"type": "AveragePooling2D", "pool_size": 2, "strides": 1, "padding": "same"},
    {"type": "Conv2D", "filters": 4, "kernel_size": 2, "dilation_rate": 2, "padding": 1,
     "activation": "tanh"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Dropout", "rate": 0.3},
    {"type": "GlobalAveragePooling2D"},
    {"type": "Dense", "units": 5, "activation": "sigmoid"},
    {"type": "Activation", "activation": "relu"},
    {"type": "Dense", "units": 3, "activation": "softmax"},
]


def _float64_model(spec, seed=0):
    m = cnn.build(spec, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for _, layer, p in m.named_params():
        layer.params[p] = rng.normal(0, 0.6, layer.params[p].shape)
    return m


def _input_gradient_numeric(f, x):
    return np.array([_numeric(f, x, i) for i in np.ndindex(x.shape)]).reshape(x.shape)


def test_backward_from_the_output_is_the_input_gradient():
    m = _float64_model(SMALL_SPEC)
    rng = np.random.default_rng(2)
    x = rng.random((2, 9, 8, 2))
    g = rng.normal(0, 1, (2, 3))
    m.forward(x, cache=True)
    got = m.backward_from(None, g)
    assert got.shape == x.shape
    want = _input_gradient_numeric(lambda: float((m.forward(x) * g).sum()), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def test_backward_from_the_logits():
    """pre_activation at the last layer: the gradient of a logit, e.g. for saliency."""
    m = _float64_model(SMALL_SPEC, seed=3)
    rng = np.random.default_rng(4)
    x = rng.random((2, 9, 8, 2))
    onehot = np.zeros((2, 3))
    onehot[0, 2] = onehot[1, 0] = 1
    m.forward(x, cache=True)
    got = m.backward_from(None, onehot, pre_activation=True)
    last = m.layers[-1]

    def logit():
        h = x
        for layer in m.layers[:-1]:
            h = layer.forward(h)
        return float((last.forward_linear(h) * onehot).sum())

    np.testing.assert_allclose(got, _input_gradient_numeric(logit, x), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name, pre", [("conv2d", False), ("conv2d_1", True),
                                       ("global_average_pooling2d", False), ("dense", True)])
def test_backward_from_an_inner_layer(name, pre):
    m = _float64_model(SMALL_SPEC, seed=5)
    rng = np.random.default_rng(6)
    x = rng.random((1, 9, 8, 2))
    k = m.layer_names.index(name)
    g = rng.normal(0, 1, (1, *m.shapes[k]))
    m.forward(x, cache=True)
    got = m.backward_from(name, g, pre_activation=pre)

    def f():
        h = x
        for layer in m.layers[:k]:
            h = layer.forward(h)
        layer = m.layers[k]
        return float(((layer.forward_linear(h) if pre else layer.forward(h)) * g).sum())

    np.testing.assert_allclose(got, _input_gradient_numeric(f, x), rtol=1e-5, atol=1e-8)


def test_backward_until_a_layer_gives_the_gradient_at_its_output():
    """Grad-CAM's gradient: d(logit)/d(a conv layer's maps)."""
    m = _float64_model(SMALL_SPEC, seed=7)
    rng = np.random.default_rng(8)
    x = rng.random((1, 9, 8, 2))
    onehot = np.array([[0.0, 1.0, 0.0]])
    m.forward(x, cache=True)
    k = m.layer_names.index("conv2d_1")
    got = m.backward_from(None, onehot, pre_activation=True, until="conv2d_1")
    assert got.shape == (1, *m.shapes[k])
    maps = m.outputs["conv2d_1"].copy()

    def logit():
        h = maps
        for layer in m.layers[k + 1 : -1]:
            h = layer.forward(h)
        return float((m.layers[-1].forward_linear(h) * onehot).sum())

    np.testing.assert_allclose(got, _input_gradient_numeric(logit, maps), rtol=1e-5, atol=1e-8)
    # and continuing from there reaches the same input gradient
    m.forward(x, cache=True)
    np.testing.assert_allclose(m.backward_from("conv2d_1", got),
                               m.backward_from(None, onehot, pre_activation=True), rtol=1e-12)


def test_backward_from_checks_its_arguments():
    m = cnn.build("seed")
    with pytest.raises(ValueError, match=r"forward\(x, cache=True\) first"):
        m.backward_from(None, np.zeros((1, 10)))
    m.forward(np.zeros((2, 28, 28, 1), np.float32), cache=True)
    assert list(m.outputs) == m.layer_names
    before = m.backward_from(None, np.ones((2, 10), np.float32))
    m.predict(np.ones((3, 28, 28), np.float32))  # inference leaves the caches alone
    m.activations(np.ones((1, 28, 28), np.float32))
    np.testing.assert_array_equal(m.backward_from(None, np.ones((2, 10), np.float32)), before)
    with pytest.raises(ValueError, match=r"shape \(2, 10\)"):
        m.backward_from(None, np.zeros((1, 10)))
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        m.backward_from("conv9", np.zeros((2, 10)))
    with pytest.raises(ValueError, match="must name a layer before"):
        m.backward_from("conv2d", np.zeros((2, 26, 26, 32)), until="dense")
    # the first layer's input gradient is back off for training afterwards
    assert m.backward_from(None, np.ones((2, 10), np.float32)).shape == (2, 28, 28, 1)
    assert m.layers[0].needs_input_grad is False


def test_colour_lecture_variant_cross_entropy_gradient():
    """The lecture's model on colour input (12x12x3 here, for speed), no dropout, 4 classes."""
    m = cnn.build(cnn.lecture_spec((12, 12, 3), classes=4, dropout=False), seed=2)
    rng = np.random.default_rng(3)
    for _, layer, p_name in m.named_params():  # Glorot kernels in float64, random biases
        value = layer.params[p_name].astype(np.float64)
        layer.params[p_name] = rng.normal(0, 0.1, value.shape) if p_name == "bias" else value
    x = rng.random((2, 12, 12, 3))
    y = np.array([3, 1])
    p = m.forward(x, cache=True)
    grad = p.copy()
    grad[np.arange(2), y] -= 1
    grad /= 2
    m.backward_from(None, grad, pre_activation=True)

    def loss():
        q = m.forward(x)
        return float(-np.log(q[np.arange(2), y]).mean())

    for _, layer, p_name in m.named_params():
        value, got = layer.params[p_name], layer.grads[p_name]
        picks = rng.choice(value.size, size=min(10, value.size), replace=False)
        for k in picks:
            index = np.unravel_index(k, value.shape)
            assert got[index] == pytest.approx(_numeric(loss, value, index), rel=1e-5, abs=1e-9)


def test_inference_between_a_training_forward_and_its_backward_changes_nothing():
    """The window may show predictions while a worker thread trains the same model."""
    rng = np.random.default_rng(0)
    x, other = rng.random((4, 28, 28, 1), np.float32), rng.random((2, 28, 28), np.float32)
    grads = []
    for interleave in (False, True):
        m = cnn.build("deep", seed=1)
        p = m.forward(x, training=True, rng=np.random.default_rng(5))
        if interleave:
            m.predict(other)
            m.activations(other)
        g = m.layers[-1].backward_logits(p - np.eye(10, dtype=np.float32)[[1, 2, 3, 4]])
        for layer in reversed(m.layers[:-1]):
            g = layer.backward(g)
        grads.append({k: layer.grads[p_].copy() for k, layer, p_ in m.named_params()})
    for key in grads[0]:
        np.testing.assert_array_equal(grads[0][key], grads[1][key])
