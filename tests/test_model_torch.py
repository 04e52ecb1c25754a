"""The layers' forward and backward, and the explainers' gradients, against PyTorch.

PyTorch is never a dependency: these tests skip where it is not installed (the gradient
checks against finite differences in test_gradients.py run everywhere).
"""

from __future__ import annotations

import numpy as np
import pytest

from convdemo import model as cnn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # importing torch alone takes seconds
F = torch.nn.functional


def _same(n, k_eff, s):
    """TensorFlow's "same" padding, written from its definition."""
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def _nchw(x):
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


CONV = [
    dict(kernel_size=3), dict(kernel_size=(2, 3), strides=2), dict(kernel_size=3, padding=1),
    dict(kernel_size=3, padding="same"), dict(kernel_size=3, strides=2, padding="same"),
    dict(kernel_size=3, dilation_rate=2), dict(kernel_size=(3, 2), dilation_rate=(2, 3),
                                               strides=(1, 2), padding=[[1, 2], [0, 1]]),
    dict(kernel_size=2, dilation_rate=2, strides=2, padding="same"),
]


@pytest.mark.parametrize("case", CONV, ids=str)
def test_conv2d_forward_and_backward_equal_torch(case):
    rng = np.random.default_rng(0)
    layer = cnn.Conv2D("c", 4, activation="relu", **case)
    x = rng.normal(0, 1, (2, 9, 8, 3))
    layer.init(x.shape[1:], rng)
    layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
    layer.params["bias"] = rng.normal(0, 0.5, 4)
    layer.needs_input_grad = True
    y = layer.forward(x, cache=True)
    g = rng.normal(0, 1, y.shape)
    dx = layer.backward(g)

    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    if case.get("padding") == "same":
        (t, b), (left, r) = _same(9, dh * (kh - 1) + 1, sh), _same(8, dw * (kw - 1) + 1, sw)
    elif isinstance(case.get("padding"), int):
        t = b = left = r = case["padding"]
    elif isinstance(case.get("padding"), list):
        (t, b), (left, r) = case["padding"]
    else:
        t = b = left = r = 0
    xt = _nchw(x)
    kt = torch.tensor(layer.params["kernel"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
    bt = torch.tensor(layer.params["bias"], requires_grad=True)
    yt = torch.relu(F.conv2d(F.pad(xt, (left, r, t, b)), kt, bt, stride=(sh, sw),
                             dilation=(dh, dw)))
    yt.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y, _nhwc(yt), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, _nhwc(xt.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["kernel"], kt.grad.numpy().transpose(2, 3, 1, 0),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], bt.grad.numpy(), rtol=1e-10, atol=1e-12)


POOL = [dict(pool_size=2), dict(pool_size=3, strides=2), dict(pool_size=3, strides=1, padding=1),
        dict(pool_size=2, strides=1), dict(pool_size=(3, 2), strides=(2, 1), padding=(1, 1))]


@pytest.mark.parametrize("case", POOL, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_include_pad"])
def test_pooling_forward_and_backward_equal_torch(kind, case):
    rng = np.random.default_rng(1)
    if kind == "max":
        layer = cnn.MaxPooling2D("p", **case)
    else:
        layer = cnn.AveragePooling2D("p", count_include_pad=kind == "avg_include_pad", **case)
    x = rng.normal(0, 1, (2, 7, 8, 3))
    y = layer.forward(x, cache=True)
    g = rng.normal(0, 1, y.shape)
    dx = layer.backward(g)
    xt = _nchw(x)
    pad = case.get("padding", 0)
    pad = pad if isinstance(pad, tuple) else (pad, pad)
    args = dict(kernel_size=layer.pool_size, stride=layer.strides, padding=pad)
    if kind == "max":
        yt = F.max_pool2d(xt, **args)
    else:
        yt = F.avg_pool2d(xt, count_include_pad=kind == "avg_include_pad", **args)
    yt.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(y, _nhwc(yt), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, _nhwc(xt.grad), rtol=1e-12, atol=1e-12)


def _torch_twin(m):
    """The deep lecture model in torch, with the same float64 weights (NCHW)."""
    w = {k: torch.tensor(v.astype(np.float64)) for k, v in m.get_weights().items()}

    def run(xt):
        h = F.max_pool2d(torch.relu(F.conv2d(xt, w["conv2d.kernel"].permute(3, 2, 0, 1),
                                             w["conv2d.bias"])), 2)
        maps = torch.relu(F.conv2d(h, w["conv2d_1.kernel"].permute(3, 2, 0, 1),
                                   w["conv2d_1.bias"]))
        maps.retain_grad()
        h = F.max_pool2d(maps, 2).permute(0, 2, 3, 1).reshape(xt.shape[0], -1)  # Keras order
        h = torch.relu(h @ w["dense.kernel"] + w["dense.bias"])
        return h @ w["dense_1.kernel"] + w["dense_1.bias"], maps

    return run


def test_saliency_and_grad_cam_gradients_equal_torch():
    m = cnn.load("digits-deep")
    x = np.random.default_rng(2).random((3, 28, 28, 1))
    for layer in m.layers:
        layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
    probs = m.forward(x, cache=True)
    classes = probs.argmax(axis=1)
    onehot = np.eye(10)[classes]
    saliency = m.backward_from(None, onehot, pre_activation=True)
    at_maps = m.backward_from(None, onehot, pre_activation=True, until="conv2d_1")
    prob_grad = m.backward_from(None, onehot)

    xt = _nchw(x)
    logits, maps = _torch_twin(m)(xt)
    (logits * torch.tensor(onehot)).sum().backward()
    np.testing.assert_allclose(saliency, _nhwc(xt.grad), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(at_maps, _nhwc(maps.grad), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(probs, torch.softmax(logits, 1).detach().numpy(), rtol=1e-9)

    xt = _nchw(x)
    logits, _ = _torch_twin(m)(xt)
    (torch.softmax(logits, 1) * torch.tensor(onehot)).sum().backward()
    np.testing.assert_allclose(prob_grad, _nhwc(xt.grad), rtol=1e-8, atol=1e-14)
