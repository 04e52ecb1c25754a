"""The network view's core: every layer's values, each element's arithmetic against loop
references, receptive fields, and the working copy ("change it and see")."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from convdemo import datasets, network
from convdemo import model as cnn
from convdemo.resources import model_path


@pytest.fixture(scope="module")
def models():
    """Freshly initialised seed and deep models with non-zero biases (fast, no files)."""
    out = {}
    rng = np.random.default_rng(1)
    for arch in ("seed", "deep"):
        m = cnn.build(arch, seed=4)
        for layer in m.layers:
            if "bias" in layer.params:
                layer.params["bias"] = rng.normal(0, 0.1, layer.params["bias"].shape).astype(
                    np.float32)
        out[arch] = m
    return out


def image(seed=0):
    return np.random.default_rng(seed).random((28, 28)).astype(np.float32)


@pytest.mark.parametrize("arch", ["seed", "deep"])
def test_trace_stages_are_the_models_values(models, arch):
    m = models[arch]
    x = image()
    t = network.trace(m, x)
    acts = m.activations(x[None])
    # every layer's output is a stage under the layer's name, equal to what the model gives
    for name, value in acts.items():
        np.testing.assert_array_equal(t.stage(name).values, value[0])
    keys = [s.key for s in t.stages]
    assert keys[0] == "input" and keys[-2:] == ["dense_1:pre", "dense_1"]
    assert [s.role for s in t.stages][-2:] == ["logits", "softmax"]
    # before ReLU: relu(pre) is the layer's output, and some values really are negative
    for name in ("conv2d", "dense"):
        pre = t.stage(f"{name}:pre").values
        assert pre.min() < 0
        np.testing.assert_array_equal(np.maximum(pre, 0), t.stage(name).values)
    # shapes and parameter counts as summary() has them
    for info, shape in zip(t.layers, m.shapes, strict=True):
        assert info.output_shape == shape
        assert info.params == m.layer(info.name).count_params()
    assert sum(i.params for i in t.layers) == m.count_params()
    np.testing.assert_allclose(t.probabilities, m.predict(x[None])[0], rtol=1e-6)
    assert t.prediction == int(np.argmax(m.predict(x[None])[0]))
    # values are read-only snapshots
    with pytest.raises(ValueError):
        t.stage("conv2d").values[0, 0, 0] = 1


def conv_loop(x, kernel, bias, row, col):
    """The obvious loops: sum over a, b, c of x[row + a, col + b, c] * K[a, b, c] + bias."""
    total = 0.0
    for a in range(kernel.shape[0]):
        for b in range(kernel.shape[1]):
            for c in range(kernel.shape[2]):
                total += float(x[row + a, col + b, c]) * float(kernel[a, b, c])
    return total + float(bias)


@pytest.mark.parametrize("arch, layer", [("seed", "conv2d"), ("deep", "conv2d"),
                                         ("deep", "conv2d_1")])
def test_conv_pixel_against_loops(models, arch, layer):
    m = models[arch]
    t = network.trace(m, image(1))
    kernel, bias = m.conv_filters(layer)
    src = t.stage_before(layer)
    rng = np.random.default_rng(2)
    h, w, maps = t.stage(layer).shape
    for _ in range(8):
        r, c, j = int(rng.integers(h)), int(rng.integers(w)), int(rng.integers(maps))
        pre = t.explain(f"{layer}:pre", (r, c, j))
        post = t.explain(layer, (r, c, j))
        want = conv_loop(src.values, kernel[..., j], bias[j], r, c)
        assert pre.pre == pytest.approx(want, abs=1e-9)
        assert pre.value == pre.pre and not pre.after_activation
        assert post.value == max(want, 0.0) or post.value == pytest.approx(max(want, 0.0))
        assert pre.model_value == pytest.approx(want, abs=1e-5)
        assert post.model_value == pytest.approx(max(want, 0.0), abs=1e-5)
        assert pre.source == src.key
        np.testing.assert_array_equal(pre.window, src.values[r:r + 3, c:c + 3, :])
        np.testing.assert_array_equal(pre.weights, kernel[..., j])
        np.testing.assert_allclose(pre.products, pre.window * pre.weights)
        assert pre.sum + pre.bias == pytest.approx(pre.pre)
        assert list(pre.rows) == [r, r + 1, r + 2] and list(pre.cols) == [c, c + 1, c + 2]
        text = network.describe(post)
        assert f"{layer} map {j}, pixel ({r}, {c})" in text and "bias" in text


def test_pool_pixel_finds_the_winner(models):
    m = models["deep"]
    t = network.trace(m, image(3))
    for layer, src in (("max_pooling2d", "conv2d"), ("max_pooling2d_1", "conv2d_1")):
        before = t.stage(src).values
        h, w, maps = t.stage(layer).shape
        for r, c, j in ((0, 0, 0), (h - 1, w - 1, maps - 1), (h // 2, 1, 3)):
            e = t.explain(layer, (r, c, j))
            window = before[2 * r:2 * r + 2, 2 * c:2 * c + 2, j]
            np.testing.assert_array_equal(e.window, window)
            assert e.value == window.max() == e.model_value
            i, k = e.winner
            assert e.window[i, k] == e.value
            assert e.source == src and e.mode == "max"
            assert "max of" in network.describe(e)


def test_dense_unit_sums_and_top_contributions(models):
    m = models["seed"]
    t = network.trace(m, image(4))
    for key, unit in (("dense:pre", 7), ("dense", 7), ("dense_1:pre", 3)):
        e = t.explain(key, unit)
        layer = m.layer(e.layer)
        x = t.stage_before(key).values.astype(np.float64)
        want = float(x @ layer.params["kernel"][:, unit].astype(np.float64)
                     + layer.params["bias"][unit])
        assert e.pre == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert e.model_value == pytest.approx(e.value, abs=1e-4)
        mags = np.abs(e.contributions[e.top])
        assert np.all(np.diff(mags) <= 0)
        assert mags[-1] >= np.sort(np.abs(e.contributions))[-len(e.top)]
        assert e.contributions[e.top].sum() + e.rest + e.bias == pytest.approx(e.pre)
        # top_sources point back to where each input came from before flattening
        src = t.stage(e.sources_stage).values
        for i, where in zip(e.top, e.top_sources, strict=True):
            assert src[where] == e.inputs[i]
    assert t.explain("dense:pre", 7).sources_stage == "max_pooling2d"
    assert t.explain("dense_1:pre", 3).top_sources[0] == (int(t.explain("dense_1:pre", 3)
                                                              .top[0]),)
    assert "sum" in network.describe(t.explain("dense", 7))


def test_softmax_and_flatten_elements(models):
    m = models["deep"]
    t = network.trace(m, image(5))
    logits = t.stage("dense_1:pre").values.astype(np.float64)
    k = t.prediction
    e = t.explain("dense_1", k)
    np.testing.assert_allclose(e.exps, np.exp(logits - logits.max()))
    np.testing.assert_allclose(e.exp_raw, np.exp(logits))
    assert e.total == pytest.approx(np.exp(logits - logits.max()).sum())
    assert e.value == pytest.approx(e.exps[k] / e.total) == pytest.approx(e.model_value,
                                                                          abs=1e-6)
    assert "softmax, class" in network.describe(e)
    flat = t.stage("flatten").values
    for i in (0, 77, flat.size - 1):
        f = t.explain("flatten", i)
        assert f.value == flat[i] == t.stage(f.source).values[f.source_index]
    d = t.explain("dropout", (1, 2, 3))
    assert d.value == t.stage("max_pooling2d_1").values[1, 2, 3]
    inp = t.explain("input", (4, 5))
    assert inp.value == t.input[4, 5, 0]


def test_bad_requests_are_one_sentence(models):
    m = models["seed"]
    t = network.trace(m, image())
    with pytest.raises(ValueError, match="no stage 'nope'"):
        t.explain("nope", 0)
    with pytest.raises(ValueError, match="outside stage 'conv2d'"):
        t.explain("conv2d", (26, 0, 0))
    with pytest.raises(ValueError, match=r"shaped \(28, 28\)"):
        network.trace(m, np.zeros((32, 32)))
    with pytest.raises(ValueError, match="not finite"):
        network.trace(m, np.full((28, 28), np.nan))
    with pytest.raises(ValueError, match="not spatial"):
        network.receptive_field(m, "dense", 0, 0)


def test_receptive_fields(models):
    geo = network.geometry(models["deep"])
    # by hand: a 3x3 conv; a 2x2/2 pool doubles the step; the next 3x3 conv covers 3 pooled
    # pixels = 6 conv rows = 8 input rows; the last pool 2 of those, 4 apart: 10 rows
    assert (geo["conv2d"].size, geo["conv2d"].jump) == ((3, 3), (1, 1))
    assert (geo["max_pooling2d"].size, geo["max_pooling2d"].jump) == ((4, 4), (2, 2))
    assert (geo["conv2d_1"].size, geo["conv2d_1"].jump) == ((8, 8), (2, 2))
    assert (geo["max_pooling2d_1"].size, geo["max_pooling2d_1"].jump) == ((10, 10), (4, 4))
    assert geo["flatten"] is None
    rows, cols = network.receptive_field(models["deep"], "conv2d_1", 3, 5)
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (6, 13, 10, 17)
    # no input pixel outside the field changes that value (the model's own forward)
    m = models["deep"]
    x = image(6)
    base = m.activations(x[None])["conv2d_1"][0, 3, 5]
    outside = np.ones((28, 28), bool)
    outside[6:14, 10:18] = False
    y = x.copy()
    y[outside] = np.random.default_rng(0).random(outside.sum())
    np.testing.assert_array_equal(m.activations(y[None])["conv2d_1"][0, 3, 5], base)
    y = x.copy()
    y[6:14, 10:18] = 1 - y[6:14, 10:18]
    assert not np.array_equal(m.activations(y[None])["conv2d_1"][0, 3, 5], base)


# --------------------------------------------------------------------------- working copy


def test_working_copy_edits_ablates_and_restores(models):
    m = models["deep"]
    before = m.get_weights()
    wc = network.WorkingCopy(m)
    x = image(7)
    k = np.arange(9, dtype=np.float32).reshape(3, 3) / 10
    wc.set_kernel("conv2d", 5, k, bias=0.25)
    kernel, bias = wc.kernel("conv2d", 5)
    np.testing.assert_array_equal(kernel[:, :, 0], k)
    assert bias == 0.25 and wc.modified and wc.edited == {("conv2d", 5)}
    # the map now computes the new kernel; the other maps are untouched
    t = network.trace(wc.model, x)
    assert t.explain("conv2d:pre", (4, 4, 5)).pre == pytest.approx(
        conv_loop(x[:, :, None], k[:, :, None], 0.25, 4, 4))
    old = network.trace(m, x)
    np.testing.assert_array_equal(t.stage("conv2d").values[..., :5],
                                  old.stage("conv2d").values[..., :5])
    # one slice of a deeper filter
    wc.set_kernel("conv2d_1", 2, -k, in_channel=7)
    kernel, _ = wc.kernel("conv2d_1", 2)
    np.testing.assert_array_equal(kernel[:, :, 7], -k)
    np.testing.assert_array_equal(kernel[:, :, 6], m.conv_filters("conv2d_1")[0][:, :, 6, 2])
    # ablation: the map is 0 everywhere
    wc.ablate("conv2d_1", 9)
    assert not network.trace(wc.model, x).stage("conv2d_1:pre").values[..., 9].any()
    assert wc.ablated == {("conv2d_1", 9)}
    wc.ablate("conv2d_1", 9, on=True)
    assert not wc.ablated
    # restore one map, then everything: the trained weights, exactly
    wc.restore("conv2d", 5)
    assert wc.edited == {("conv2d_1", 2)}
    wc.restore()
    assert not wc.modified
    for key, value in wc.model.get_weights().items():
        np.testing.assert_array_equal(value, before[key])
    # the loaded model never changed
    for key, value in m.get_weights().items():
        np.testing.assert_array_equal(value, before[key])


def test_working_copy_refuses_what_does_not_fit(models):
    wc = network.WorkingCopy(models["deep"])
    with pytest.raises(ValueError, match="in_channel"):
        wc.set_kernel("conv2d_1", 0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="needs a 3x3x1 kernel"):
        wc.set_kernel("conv2d", 0, np.zeros((5, 5)))
    with pytest.raises(ValueError, match="only convolution maps"):
        wc.ablate("dense", 0)
    with pytest.raises(ValueError, match="maps 0..31"):
        wc.ablate("conv2d", 32)
    with pytest.raises(ValueError, match="not finite"):
        wc.set_kernel("conv2d", 0, np.full((3, 3), np.inf))
    assert not wc.modified


def test_a_trace_keeps_the_numbers_it_was_made_with(models):
    wc = network.WorkingCopy(models["seed"])
    t = network.trace(wc.model, image(8))
    e1 = t.explain("conv2d:pre", (3, 3, 1))
    wc.ablate("conv2d", 1)
    e2 = t.explain("conv2d:pre", (3, 3, 1))
    assert e1.pre == e2.pre != 0


def test_ablating_a_map_changes_a_real_digits_prediction(mnist_dir):
    """A shipped model and real test digits: switching one conv2d map off changes the
    prediction of a digit the model was over 99% sure of; restore brings it back."""
    path = model_path("digits")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    m = cnn.load("digits")
    (_, _), (x, y) = datasets.load("mnist", mnist_dir)
    x, y = x[:300], y[:300]
    base = m.predict(x)
    sure = (base.argmax(1) == y) & (base.max(1) > 0.99)
    wc = network.WorkingCopy(m)
    best = (0, None, None)
    for j in range(32):
        wc.ablate("conv2d", j)
        pred = wc.model.predict(x).argmax(1)
        wc.restore()
        flipped = np.nonzero(sure & (pred != y))[0]
        if flipped.size > best[0]:
            best = (flipped.size, j, int(flipped[0]))
    count, j, i = best
    assert count > 0, "no single-map ablation changed a confident prediction of 300 digits"
    wc.ablate("conv2d", j)
    t = network.trace(wc.model, x[i])
    assert t.prediction != y[i]
    assert not t.stage("conv2d").values[..., j].any()
    wc.restore()
    assert network.trace(wc.model, x[i]).prediction == y[i]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_sending_a_preset_kernel_changes_a_real_digits_prediction(mnist_dir):
    """'Send to network': the outline preset (scaled up) put into one conv2d map."""
    from convdemo import kernels

    m = cnn.load("digits-deep")
    (_, _), (x, y) = datasets.load("mnist", mnist_dir)
    x, y = x[:200], y[:200]
    base = m.predict(x).argmax(1)
    wc = network.WorkingCopy(m)
    preset = kernels.PRESETS["outline"].array()
    assert preset.shape == (3, 3)
    changed = 0
    for j in range(32):
        wc.set_kernel("conv2d", j, preset * 4)
        pred = wc.model.predict(x).argmax(1)
        changed = int(((base == y) & (pred != y)).sum())
        wc.restore()
        if changed:
            break
    assert changed > 0


# --------------------------------------------------------------------------- other layer kinds


class GlobalAverage(cnn.Layer):
    """A minimal GlobalAveragePooling2D in the layers' protocol (main has none yet)."""

    kind = "GlobalAveragePooling2D"

    def output_shape(self, in_shape):
        return (in_shape[-1],)

    def forward(self, x, training=False, rng=None):
        self._shape = x.shape
        return x.mean(axis=(1, 2))

    def backward(self, grad):
        n, h, w, c = self._shape
        return np.broadcast_to(grad[:, None, None, :] / (h * w), self._shape).copy()


class Softmax(cnn.Layer):
    """A minimal Activation("softmax")."""

    kind = "Activation"
    activation = "softmax"

    def forward(self, x, training=False, rng=None):
        self._y = cnn.softmax(np.array(x, copy=True))
        return self._y

    def backward(self, grad):
        p = self._y
        return p * (grad - (grad * p).sum(axis=1, keepdims=True))


def gap_model():
    """conv (8 maps) -> global average -> dense (10, linear) -> softmax, float64 weights:
    from a spec where the model takes one, else from the minimal layers above."""
    spec = [{"type": "Conv2D", "name": "conv2d", "filters": 8},
            {"type": "GlobalAveragePooling2D", "name": "gap"},
            {"type": "Dense", "name": "dense", "units": 10},
            {"type": "Activation", "name": "softmax", "activation": "softmax"}]
    rng = np.random.default_rng(3)
    try:
        m = cnn.build(spec, seed=3)
    except (ValueError, TypeError):  # a model module without specs
        layers = [cnn.Conv2D("conv2d", 8), GlobalAverage("gap"), cnn.Dense("dense", 10),
                  Softmax("softmax")]
        shape = (28, 28, 1)
        for layer in layers:
            layer.init(shape, rng)
            shape = layer.output_shape(shape)
        m = cnn.Model("custom", layers)
    for _, layer, key in m.named_params():
        layer.params[key] = rng.normal(0, 0.5, layer.params[key].shape)
    return m


def test_a_model_with_global_pooling_and_a_softmax_layer():
    from convdemo import attribution

    m = gap_model()
    x = image(9).astype(np.float64)
    t = network.trace(m, x)
    assert [(s.key, s.role) for s in t.stages] == [
        ("input", "input"), ("conv2d:pre", "conv"), ("conv2d", "activation"), ("gap", "pool"),
        ("dense", "logits"), ("softmax", "softmax")]
    e = t.explain("gap", 5)
    assert e.mode == "avg" and e.window.shape == (26, 26)
    assert e.value == pytest.approx(t.stage("conv2d").values[..., 5].mean(), rel=1e-6)
    s = t.explain("softmax", 2)
    np.testing.assert_allclose(s.logits, t.stage("dense").values, rtol=1e-6)
    assert s.value == pytest.approx(t.probabilities[2], rel=1e-5)
    # the logit's input gradient through the global average, against central differences
    g, _, _ = attribution.input_gradient(m, x, 2)

    def logit(img):
        h = img[None, :, :, None]
        for layer in m.layers[:-1]:
            h = layer.forward(h)
        return h[0, 2]

    eps = 1e-6
    for r, c in [(0, 0), (9, 17), (27, 13), (14, 14)]:
        up, down = x.copy(), x.copy()
        up[r, c] += eps
        down[r, c] -= eps
        assert g[r, c, 0] == pytest.approx((logit(up) - logit(down)) / (2 * eps), rel=1e-5,
                                           abs=1e-10)
    cam = attribution.grad_cam(m, x, 2)
    assert cam.layer == "conv2d" and cam.map.shape == (28, 28)
