"""Activation maximisation: the ascent's gradient, determinism, and the generated input against
the test set."""

from __future__ import annotations

import numpy as np
import pytest

from convdemo import datasets, network
from convdemo import maximize as mx
from convdemo import model as cnn
from convdemo.attribution import Tape


@pytest.fixture(scope="module")
def deep64():
    m = cnn.build("deep", seed=7)
    rng = np.random.default_rng(7)
    for _, layer, p in m.named_params():
        layer.params[p] = layer.params[p].astype(np.float64)
        if p == "bias":
            layer.params[p] = rng.normal(0, 0.1, layer.params[p].shape)
    return m


def test_the_tape_gives_the_gradient_of_a_maps_mean(deep64):
    """d mean(Z[:, :, j]) / dx of conv2d_1 before its ReLU, against central differences."""
    x = np.random.default_rng(0).random((1, 28, 28, 1))
    j = 5
    tape = Tape(deep64, upto="conv2d_1", pre_activation=True)
    z = tape.forward(x)
    assert z.min() < 0  # really before the ReLU
    seed = np.zeros_like(z)
    seed[0, :, :, j] = 1 / (z.shape[1] * z.shape[2])
    g = tape.backward(seed)[0]

    def f(img):
        return Tape(deep64, upto="conv2d_1", pre_activation=True).forward(img)[0, :, :, j].mean()

    eps = 1e-6
    for r, c in [(0, 0), (5, 9), (13, 14), (27, 27), (20, 3)]:
        up, down = x.copy(), x.copy()
        up[0, r, c, 0] += eps
        down[0, r, c, 0] -= eps
        assert g[r, c, 0] == pytest.approx((f(up) - f(down)) / (2 * eps), rel=1e-5, abs=1e-10)
    # and the map's values are what the model computes (after ReLU when not pre)
    np.testing.assert_allclose(np.maximum(z, 0), deep64.activations(x)["conv2d_1"],
                               rtol=1e-6, atol=1e-7)  # activations() computes in float32


def test_ascent_is_deterministic_and_climbs(deep64):
    a = mx.maximize(deep64, "conv2d_1", 3, steps=40, seed=1)
    b = mx.maximize(deep64, "conv2d_1", 3, steps=40, seed=1)
    c = mx.maximize(deep64, "conv2d_1", 3, steps=40, seed=2)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (28, 28, 1) and a.image.dtype == np.float32
    assert 0 <= a.image.min() and a.image.max() <= 1
    assert a.steps == 40 and a.history.shape == (40,) and not a.stopped
    # the reported value is the model's own: the map's mean after ReLU on the image, the
    # best of the steps, and well above the start's
    def mean_of(img):
        return deep64.activations(img[None].astype(np.float64))["conv2d_1"][0, :, :, 3].mean()

    assert a.activation == pytest.approx(mean_of(a.image), rel=1e-6)
    assert a.activation == pytest.approx(a.history.max(), rel=1e-6)
    assert a.origin == f"step {int(np.argmax(a.history)) + 1}"
    start = np.random.default_rng(1).uniform(0, 1, (28, 28, 1))
    assert a.activation > 2 * max(mean_of(start), 1e-3)
    # objective "pre" with an L2 penalty: J = mean Z - (l2 / 2) mean(x^2)
    pre = mx.maximize(deep64, "conv2d_1", 3, steps=40, objective="pre", l2=1.0)
    x = pre.image.astype(np.float64)
    z = Tape(deep64, upto="conv2d_1", pre_activation=True).forward(x[None])[0, :, :, 3]
    assert pre.pre_activation == pytest.approx(z.mean(), rel=1e-6)
    assert pre.history.max() == pytest.approx(z.mean() - 0.5 * np.mean(x * x), rel=1e-5)
    assert pre.history.max() > pre.history[0]


def test_progress_stop_and_refusals(deep64):
    seen = []
    r = mx.maximize(deep64, "conv2d", 0, steps=10, progress=seen.append,
                    should_stop=lambda: len(seen) >= 4)
    assert r.stopped and r.steps == 4 and seen == [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match="needs a convolution layer"):
        mx.maximize(deep64, "dense", 0)
    with pytest.raises(ValueError, match="maps 0..63"):
        mx.maximize(deep64, "conv2d_1", 64)
    with pytest.raises(ValueError, match="lr must be"):
        mx.maximize(deep64, "conv2d", 0, lr=-1)
    with pytest.raises(ValueError, match="objective must be"):
        mx.maximize(deep64, "conv2d", 0, objective="max")
    with pytest.raises(ValueError, match="start must be shaped"):
        mx.maximize(deep64, "conv2d", 0, start=np.zeros((10, 10)))


def test_a_plain_image_wins_when_the_map_wants_one(deep64):
    """A first-layer map whose kernel is all positive is most excited by a white image: the
    ascent keeps it (steps only make it worse)."""
    wc = network.WorkingCopy(deep64)
    wc.set_kernel("conv2d", 0, np.full((3, 3), 0.1), bias=0.0)
    r = mx.maximize(wc.model, "conv2d", 0, steps=5)
    assert r.origin == "plain 1" and r.activation == pytest.approx(0.9)
    assert np.all(r.image == 1)


def test_excitation_ratio():
    r = mx.Maximized("conv2d", 0, np.zeros((28, 28, 1), np.float32), 3.0, 2.0,
                     np.zeros(1, np.float32), 1, False, {})
    assert mx.excitation_ratio(r, 1.5) == 2.0
    assert mx.excitation_ratio(r, 0.0) == float("inf")


@pytest.mark.slow
def test_generated_input_beats_every_test_digit(mnist_dir):
    """The generated input excites its map more than any of the 10,000 MNIST test digits,
    by the map's mean after ReLU, for the first maps of both shipped digit models."""
    (_, _), (x, _) = datasets.load("mnist", mnist_dir)
    for name, layer, maps in (("digits", "conv2d", (0, 1, 2)), ("digits-deep", "conv2d_1",
                                                                 (0, 1))):
        m = cnn.load(name)
        best = np.max([m.activations(x[i:i + 1000])[layer].mean(axis=(1, 2)).max(axis=0)
                       for i in range(0, len(x), 1000)], axis=0)
        for j in maps:
            r = mx.maximize(m, layer, j)
            assert mx.excitation_ratio(r, best[j]) > 1.5, (name, layer, j, r.activation,
                                                           best[j])
