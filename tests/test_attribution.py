"""Saliency, Grad-CAM and occlusion against float64 central differences and loop references;
maps onto the photo through the preprocessing's framing."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from convdemo import attribution as at
from convdemo import model as cnn
from convdemo import preprocess as pp

EPS = 1e-6


def float64_model(arch: str, seed: int = 3):
    """A fresh model with float64 weights and non-zero biases, so that central differences in
    float64 are exact to ~1e-9."""
    m = cnn.build(arch, seed=seed)
    rng = np.random.default_rng(seed)
    for _, layer, p in m.named_params():
        layer.params[p] = layer.params[p].astype(np.float64)
        if p == "bias":
            layer.params[p] = rng.normal(0, 0.1, layer.params[p].shape)
    return m


@pytest.fixture(scope="module")
def seed_model():
    return float64_model("seed")


@pytest.fixture(scope="module")
def deep_model():
    return float64_model("deep")


def rest_of_network(m, start: int, h: np.ndarray) -> np.ndarray:
    """Logits (N, K): run layers ``start..`` on ``h`` with inference forwards, the last
    layer's ``x @ W + b`` written out here (no softmax)."""
    for layer in m.layers[start:-1]:
        h = copy.copy(layer).forward(h)
    last = m.layers[-1]
    return h @ last.params["kernel"] + last.params["bias"]


def score(z: np.ndarray, target: int, kind: str) -> np.ndarray:
    if kind == "logit":
        return z[:, target]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[:, target]


def central_differences(f, x: np.ndarray, indices, chunk: int = 200) -> np.ndarray:
    """d f / d x[i] for each index, by (f(x + eps e_i) - f(x - eps e_i)) / 2 eps, batched."""
    out = []
    for start in range(0, len(indices), chunk):
        part = indices[start:start + chunk]
        batch = np.repeat(x[None], 2 * len(part), axis=0)
        for k, i in enumerate(part):
            batch[(2 * k, *i)] += EPS
            batch[(2 * k + 1, *i)] -= EPS
        y = f(batch)
        out.append((y[0::2] - y[1::2]) / (2 * EPS))
    return np.concatenate(out)


@pytest.mark.parametrize("arch", ["seed", "deep"])
@pytest.mark.parametrize("kind", ["logit", "probability"])
def test_saliency_is_the_input_gradient(request, arch, kind):
    m = request.getfixturevalue(f"{arch}_model")
    x = np.random.default_rng(1).random((28, 28, 1))
    target = 4
    s = at.saliency(m, x, target, score=kind)
    g = s.coarse.astype(np.float64)
    g64, p, t = at.input_gradient(m, x, target, score=kind)
    assert t == target and g64.dtype == np.float64
    f = lambda b: score(rest_of_network(m, 0, b), target, kind)  # noqa: E731
    # 150 random pixels and the 30 with the largest gradient, one at a time ...
    rng = np.random.default_rng(2)
    picks = set(rng.choice(784, 150, replace=False).tolist())
    picks |= set(np.argsort(np.abs(g64).ravel())[-30:].tolist())
    indices = [np.unravel_index(k, x.shape) for k in sorted(picks)]
    num = central_differences(f, x, indices)
    want = np.array([g64[i] for i in indices])
    scale = np.abs(num).max()
    assert scale > 0
    np.testing.assert_allclose(want, num, rtol=1e-5, atol=1e-7 * scale)
    np.testing.assert_allclose([g[i] for i in indices], num, rtol=1e-4, atol=1e-6 * scale)
    # ... and every pixel at once, along 8 random directions v: (f(x + eps v) - f(x - eps v))
    # / 2 eps = g . v
    for v in rng.normal(size=(8, 28, 28, 1)):
        d = (f((x + EPS * v)[None]) - f((x - EPS * v)[None]))[0] / (2 * EPS)
        assert float((g64 * v).sum()) == pytest.approx(d, rel=1e-5, abs=1e-7 * scale)
    np.testing.assert_array_equal(s.map, np.abs(g64[:, :, 0]).astype(np.float32))
    z = rest_of_network(m, 0, x[None])
    assert s.probability == pytest.approx(float(score(z, target, "probability")[0]))


def away_from_pool_ties(A: np.ndarray) -> np.ndarray:
    """Entries of A (H, W, C) whose 2x2 max-pool window has no tie near them: a maximum that
    is unique by more than 1e-4, or a value more than 1e-4 below its window's maximum (the
    zeros after ReLU tie, and there a difference quotient is one-sided)."""
    h2, w2 = A.shape[0] // 2 * 2, A.shape[1] // 2 * 2
    ok = np.zeros(A.shape, bool)
    ok[h2:], ok[:, w2:] = True, True  # dropped by the pool: no effect either way
    win = A[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2, -1)
    top = win.max(axis=(1, 3), keepdims=True)
    second = np.sort(win.transpose(0, 2, 4, 1, 3).reshape(h2 // 2, w2 // 2, -1, 4),
                     axis=3)[..., 2]
    second = second[:, None, :, None, :]
    is_max = win == top
    clear = np.where(is_max, top - second > 1e-4, top - win > 1e-4)
    ok[:h2, :w2] = clear.reshape(h2, w2, -1)
    return ok


@pytest.mark.parametrize("arch, layer", [("seed", "conv2d"), ("deep", "conv2d_1")])
def test_grad_cam_against_differences_and_loops(request, arch, layer):
    m = request.getfixturevalue(f"{arch}_model")
    x = np.random.default_rng(2).random((28, 28))
    cam = at.grad_cam(m, x, 6)
    assert cam.layer == layer == at.last_conv(m)
    start = m.layer_names.index(layer)
    A = m.activations(x[None].astype(np.float64))[layer][0]
    # dy/dA by central differences on A, for a sample of entries and the largest ones
    dA, _, _ = at.input_gradient(m, x, 6, layer=layer)
    rng = np.random.default_rng(3)
    smooth = np.flatnonzero(away_from_pool_ties(A))
    picks = {tuple(int(v) for v in np.unravel_index(k, A.shape))
             for k in rng.choice(smooth, 150, replace=False)}
    order = np.argsort(np.abs(dA).ravel())
    picks |= {tuple(int(v) for v in np.unravel_index(k, A.shape))
              for k in order[np.isin(order, smooth)][-30:]}
    picks = sorted(picks)
    num = central_differences(lambda b: rest_of_network(m, start + 1, b)[:, 6], A, picks)
    got = np.array([dA[i] for i in picks])
    np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-9)
    # alpha and the map, by loops
    h, w, k = A.shape
    alpha = [sum(dA[i, j, c] for i in range(h) for j in range(w)) / (h * w) for c in range(k)]
    np.testing.assert_allclose(cam.weights, alpha, rtol=1e-5, atol=1e-12)
    want = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            want[i, j] = max(0.0, sum(alpha[c] * A[i, j, c] for c in range(k)))
    np.testing.assert_allclose(cam.coarse, want, rtol=1e-5, atol=1e-9)
    assert cam.map.shape == (28, 28) and cam.map.min() >= 0


def test_grad_cam_map_sits_on_the_receptive_field_centres(seed_model):
    cam = at.grad_cam(seed_model, np.random.default_rng(4).random((28, 28)), 1)
    # conv2d pixel (i, j) reads input rows i..i+2: its centre is input pixel (i+1, j+1)
    np.testing.assert_allclose(cam.map[1:27, 1:27], cam.coarse, rtol=1e-6)
    np.testing.assert_allclose(cam.map[0, 1:27], cam.coarse[0], rtol=1e-6)  # edges held
    np.testing.assert_allclose(cam.map[27, 27], cam.coarse[25, 25], rtol=1e-6)


def test_grad_cam_on_an_earlier_layer_and_refusals(deep_model):
    x = np.random.default_rng(5).random((28, 28))
    cam = at.grad_cam(deep_model, x, layer="conv2d")
    assert cam.coarse.shape == (26, 26) and cam.weights.shape == (32,)
    with pytest.raises(ValueError, match="needs a convolution layer"):
        at.grad_cam(deep_model, x, layer="dense")
    with pytest.raises(ValueError, match="class index 0..9"):
        at.saliency(deep_model, x, 10)
    with pytest.raises(ValueError, match="score must be one of logit, probability"):
        at.saliency(deep_model, x, score="softmax")


def test_predicted_class_is_the_default_target(seed_model):
    x = np.random.default_rng(6).random((28, 28))
    pred = int(np.argmax(rest_of_network(seed_model, 0, x[None, :, :, None])[0]))
    for method in (at.saliency, at.grad_cam, at.occlusion):
        assert method(seed_model, x).target == pred
    other = (pred + 1) % 10
    assert at.saliency(seed_model, x, other).target == other


def test_occlusion_against_a_loop(seed_model):
    x = np.random.default_rng(7).random((28, 28)).astype(np.float32)
    patch, stride, fill = 6, 5, 0.5
    occ = at.occlusion(seed_model, x, 2, patch=patch, stride=stride, fill=fill, batch=7)
    corners = [0, 5, 10, 15, 20, 22]  # and 22, so that the last column is covered
    assert occ.coarse.shape == (len(corners), len(corners))

    def prob(img):
        return float(score(rest_of_network(seed_model, 0, img[None, :, :, None]), 2,
                           "probability")[0])

    base = prob(x)
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    for a_i, a in enumerate(corners):
        for b_i, b in enumerate(corners):
            y = x.copy()
            y[a:a + patch, b:b + patch] = fill
            drop = base - prob(y)
            assert occ.coarse[a_i, b_i] == pytest.approx(drop, abs=1e-6)
            total[a:a + patch, b:b + patch] += drop
            count[a:a + patch, b:b + patch] += 1
    np.testing.assert_allclose(occ.map, total / count, atol=1e-6)
    assert occ.signed and occ.score == "probability"
    assert occ.probability == pytest.approx(base, abs=1e-6)
    # covering with what is already there changes nothing
    flat = at.occlusion(seed_model, np.full((28, 28), 0.5, np.float32), 0, fill=0.5)
    assert np.abs(flat.map).max() < 1e-12
    with pytest.raises(ValueError, match="patch must be a whole number from 1 to 28"):
        at.occlusion(seed_model, x, patch=29)
    with pytest.raises(ValueError, match="stride must be"):
        at.occlusion(seed_model, x, stride=0)


def test_the_model_is_left_alone(seed_model):
    before = {k: v.copy() for k, v in seed_model.get_weights().items()}
    x = np.random.default_rng(8).random((28, 28))
    p = seed_model.predict(x[None].astype(np.float32))
    at.saliency(seed_model, x)
    at.grad_cam(seed_model, x)
    for k, v in seed_model.get_weights().items():
        np.testing.assert_array_equal(v, before[k])
    assert seed_model.layers[0].needs_input_grad is False
    np.testing.assert_array_equal(seed_model.predict(x[None].astype(np.float32)), p)


def test_normalized():
    a = at.Attribution("occlusion", 0, "0", 0.5, "probability",
                       np.array([[-2.0, 1.0], [0.0, 0.5]], np.float32))
    np.testing.assert_allclose(a.normalized(), [[-1, 0.5], [0, 0.25]])
    z = at.Attribution("saliency", 0, "0", 0.5, "logit", np.zeros((2, 2), np.float32))
    assert not z.normalized().any()


def test_to_photo_follows_the_framing():
    photo = np.ones((300, 200, 3), np.float32)  # white paper
    photo[80:230, 60:90] = 0.1  # a dark upright bar ("1")
    photo[80:100, 60:140] = 0.1  # and a top stroke
    x, framing = pp.preprocess_framed(photo)
    # a constant map is that constant on the frame's footprint and 0 elsewhere
    const = at.to_photo(np.full((28, 28), 0.7), framing)
    assert const.shape == (300, 200)
    (y0, y1), (x0, x1) = framing.to_photo(np.array([0, 28]), np.array([0, 28]))
    ys, xs = np.indices(const.shape) + 0.5
    inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
    assert np.allclose(const[inside], 0.7) and not const[~inside].any()
    # a linear ramp comes back exactly (bilinear), away from the frame's edge
    ramp = np.repeat(np.arange(28.0)[:, None], 28, axis=1)
    got = at.to_photo(ramp, framing)
    fy, _ = framing.to_frame(ys, xs)
    core = inside & (fy > 1) & (fy < 27)
    np.testing.assert_allclose(got[core], fy[core] - 0.5, atol=1e-4)
    # the preprocessed ink, drawn back, lies on the photo's ink
    back = at.to_photo(x, framing)
    ink = photo[:, :, 0] < 0.5
    assert back[ink].mean() > 0.8 and back[~ink].mean() < 0.05
    with pytest.raises(ValueError, match="28x28"):
        at.to_photo(np.zeros((26, 26)), framing)
