"""The numpy CNN: architecture, summary, inference API, save/load, and conv == ops.conv2d."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convdemo import model as cnn
from convdemo.labels import DIGITS, FASHION
from tests.conftest import require

SEED_NAMES = ["conv2d", "max_pooling2d", "dropout", "flatten", "dense", "dropout_1", "dense_1"]


def _conv_loops(image, kernel, bias):
    """Obvious valid cross-correlation + bias: image (H, W, C), kernel (kh, kw, C)."""
    kh, kw, _ = kernel.shape
    h, w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.empty((h, w), np.float64)
    for i in range(h):
        for j in range(w):
            out[i, j] = np.sum(image[i : i + kh, j : j + kw, :] * kernel) + bias
    return out


def test_seed_summary_matches_keras():
    text = cnn.build("seed").summary()
    assert text.splitlines()[0] == 'Model: "sequential"'  # Keras's name, not the arch's
    for needle in [
        "Layer (type)", "Output Shape", "Param #",
        "(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 5408)", "(None, 128)", "(None, 10)",
        "692,352", "1,290", "Total params: 693,962", "Trainable params: 693,962",
        "Non-trainable params: 0",
    ]:
        assert needle in text, needle
    rows = [line for line in text.splitlines() if "(None," in line]
    assert [r.split()[0] for r in rows] == SEED_NAMES
    params = [r.split()[-1] for r in rows]
    assert params == ["320", "0", "0", "0", "692,352", "0", "1,290"]


def test_deep_architecture():
    m = cnn.build("deep")
    assert m.count_params() == 320 + 18_496 + 204_928 + 1_290
    acts = m.activations(np.zeros((2, 28, 28), np.float32))
    assert acts["conv2d_1"].shape == (2, 11, 11, 64)
    assert acts["max_pooling2d_1"].shape == (2, 5, 5, 64)
    assert acts["flatten"].shape == (2, 1600)


def test_build_is_glorot_and_seeded():
    a, b, c = cnn.build("seed", 1), cnn.build("seed", 1), cnn.build("seed", 2)
    wa, wb, wc = a.get_weights(), b.get_weights(), c.get_weights()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert not np.array_equal(wa["dense.kernel"], wc["dense.kernel"])
    limit = np.sqrt(6 / (5408 + 128))
    k = wa["dense.kernel"]
    assert k.dtype == np.float32 and np.abs(k).max() <= limit
    assert np.abs(k).max() > 0.95 * limit  # uniform fills the range
    assert not wa["dense.bias"].any()
    with pytest.raises(ValueError, match="seed, deep"):
        cnn.build("resnet")


def test_activations_and_predict():
    m = cnn.build("seed", 3)
    rng = np.random.default_rng(0)
    x = rng.random((5, 28, 28), dtype=np.float32)
    acts = m.activations(x)
    assert list(acts) == SEED_NAMES
    assert acts["conv2d"].shape == (5, 26, 26, 32)
    assert acts["conv2d"].min() >= 0  # after ReLU
    p = acts["dense_1"]
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(m.predict(x[..., None], batch_size=2), p, rtol=1e-5, atol=1e-7)
    # max pooling by hand
    c = acts["conv2d"]
    np.testing.assert_array_equal(acts["max_pooling2d"], c.reshape(5, 13, 2, 13, 2, 32).max((2, 4)))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        m.predict(np.zeros((28, 28), np.float32))


def test_conv_layer_matches_loops():
    m = cnn.build("deep", 5)
    x = np.random.default_rng(2).random((1, 28, 28, 1), dtype=np.float32)
    m.layer("conv2d").params["bias"][:] = np.linspace(-0.5, 0.5, 32, dtype=np.float32)
    acts = m.activations(x)
    k, b = m.conv_filters("conv2d")
    for j in (0, 7, 31):
        want = np.maximum(_conv_loops(x[0], k[:, :, :, j], b[j]), 0)
        np.testing.assert_allclose(acts["conv2d"][0, :, :, j], want, atol=1e-5)
    k1, b1 = m.conv_filters("conv2d_1")
    assert k1.shape == (3, 3, 32, 64) and b1.shape == (64,)
    for j in (0, 63):
        want = np.maximum(_conv_loops(acts["max_pooling2d"][0], k1[:, :, :, j], b1[j]), 0)
        np.testing.assert_allclose(acts["conv2d_1"][0, :, :, j], want, atol=1e-4)
    with pytest.raises(ValueError, match="not a convolution"):
        m.conv_filters("dense")


def _import_ops():
    try:
        from convdemo import ops
    except ImportError:
        ops = None
    require(ops is not None, "convdemo.ops (the engine's conv2d)")
    return ops


def test_conv_layers_compute_what_ops_conv2d_computes():
    """The app must never show one convolution and run another."""
    ops = _import_ops()
    m = cnn.build("deep", 7)
    rng = np.random.default_rng(3)
    for layer in ("conv2d", "conv2d_1"):
        m.layer(layer).params["bias"][:] = rng.normal(0, 0.3, m.layer(layer).filters)
    image = rng.random((28, 28), dtype=np.float32)
    conv = m.layer("conv2d")
    pre = conv.activation
    conv.activation = "linear"  # compare the raw cross-correlation + bias, before ReLU
    m.layer("conv2d_1").activation = "linear"
    try:
        acts = m.activations(image[None])
    finally:
        conv.activation = pre
        m.layer("conv2d_1").activation = pre
    for layer, inp in (("conv2d", image[..., None]), ("conv2d_1", acts["max_pooling2d"][0])):
        kernel, bias = m.conv_filters(layer)
        for j in range(kernel.shape[3]):
            want = ops.conv2d(inp, kernel[:, :, :, j], channels="sum", bias=float(bias[j]))
            np.testing.assert_allclose(acts[layer][0, :, :, j], want, rtol=1e-5, atol=1e-5)


def test_save_load_roundtrip(tmp_path):
    m = cnn.build("deep", 11)
    m.meta.update(dataset="fashion", labels=list(FASHION), test_accuracy=0.5, command="x")
    path = m.save(tmp_path / "m.npz")
    assert path.name == "m.npz"
    back = cnn.load(path)
    assert back.arch == "deep" and back.labels == FASHION
    assert back.meta["format_version"] == cnn.FORMAT_VERSION
    assert back.meta["test_accuracy"] == 0.5 and "date" in back.meta
    x = np.random.default_rng(4).random((3, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    # float16 storage keeps the predictions close
    half = cnn.load(m.save(tmp_path / "h.npz", dtype=np.float16))
    assert half.meta["dtype"] == "float16"
    np.testing.assert_allclose(half.predict(x), m.predict(x), atol=2e-3)
    assert cnn.build("seed").labels == DIGITS


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        cnn.load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        cnn.load("nope")
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="corrupt.npz: it is not a model file saved by convdemo"):
        cnn.load(bad)
    m = cnn.build("seed")
    arrays = {k: v for k, v in m.get_weights().items()}
    arrays["dense.kernel"] = arrays["dense.kernel"][:100]
    meta = {"format_version": 1, "arch": "seed"}
    arrays[cnn.META_KEY] = np.array(json.dumps(meta))
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(ValueError, match=r"shape.npz.*dense.kernel has shape \(100, 128\)"):
        cnn.load(tmp_path / "shape.npz")
    np.savez(tmp_path / "nometa.npz", **m.get_weights())
    with pytest.raises(ValueError, match="nometa.npz.*metadata"):
        cnn.load(tmp_path / "nometa.npz")


def test_a_non_model_file_never_suggests_unsafe_loading(tmp_path):
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ValueError) as info:
        cnn.load(text)
    assert "not a model file saved by convdemo" in str(info.value)
    assert "pickle" not in str(info.value)


# --------------------------------------------------------------------------- general models

from convdemo.model import reference  # noqa: E402

ALL_TYPES_SPEC = [
    {"type": "Input", "shape": [16, 15, 3]},
    {"type": "Conv2D", "filters": 4, "kernel_size": [3, 2], "strides": [2, 1], "padding": "same",
     "activation": "relu"},
    {"type": "AveragePooling2D", "pool_size": 2, "strides": 1, "padding": [[0, 1], [1, 0]],
     "count_include_pad": True},
    {"type": "Conv2D", "name": "dilated", "filters": 5, "kernel_size": 3, "dilation_rate": 2,
     "padding": 2, "activation": "linear"},
    {"type": "Activation", "activation": "tanh"},
    {"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same"},
    {"type": "Dropout", "rate": 0.25},
    {"type": "Conv2D", "filters": 6, "kernel_size": 1},
    {"type": "GlobalAveragePooling2D"},
    {"type": "Dense", "units": 7, "activation": "sigmoid"},
    {"type": "Dense", "units": 5, "activation": "softmax"},
]


def test_lecture_spec_gives_todays_architectures():
    assert cnn.lecture_spec() == cnn.build("seed").spec == cnn.spec_for("seed")
    assert cnn.lecture_spec(second_conv=True) == cnn.build("deep").spec
    assert [d.get("name") for d in cnn.lecture_spec()][1:] == SEED_NAMES
    assert [d["name"] for d in cnn.lecture_spec(dropout=False)[1:]] == [
        "conv2d", "max_pooling2d", "flatten", "dense", "dense_1"]
    deep = cnn.build(cnn.lecture_spec(second_conv=True), seed=0)
    assert deep.arch == "deep" and deep.layer_names == cnn.build("deep").layer_names
    assert cnn.build(cnn.lecture_spec(dropout=False)).arch == "custom"
    # the same seed gives the same weights whichever way the model is asked for
    a, b = cnn.build("deep", 4).get_weights(), cnn.build(cnn.lecture_spec(second_conv=True),
                                                           4).get_weights()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_lecture_variants_for_colour_and_other_class_counts():
    m = cnn.build("seed", input_shape=(32, 32, 3), classes=5)
    assert m.input_shape == (32, 32, 3) and m.classes == 5 and m.arch == "seed"
    assert m.shapes[0] == (30, 30, 32) and m.layer("flatten").output_shape((15, 15, 32)) == (7200,)
    kernel, _ = m.conv_filters("conv2d")
    assert kernel.shape == (3, 3, 3, 32)  # real per-channel 3x3x3 filters
    assert m.labels == ("0", "1", "2", "3", "4")
    p = m.predict(np.zeros((2, 32, 32, 3), np.uint8))
    assert p.shape == (2, 5)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\), got \(2, 32, 32\)"):
        m.predict(np.zeros((2, 32, 32), np.float32))
    deep = cnn.build(cnn.lecture_spec((32, 32, 3), 3, dropout=False, second_conv=True))
    assert deep.shapes[deep.layer_names.index("flatten")] == (6 * 6 * 64,)
    assert "Architecture: seed; input 32x32x3; 5 classes" in m.summary()


def test_summary_names_the_model_sequential():
    text = cnn.build("deep").summary()
    assert text.splitlines()[0] == 'Model: "sequential"'
    assert text.splitlines()[-1] == "Architecture: deep; input 28x28x1; 10 classes"
    assert "Total params: 225,034" in text


def test_any_spec_builds_and_runs():
    m = cnn.build(ALL_TYPES_SPEC, seed=1)
    assert m.arch == "custom" and m.classes == 5 and m.input_shape == (16, 15, 3)
    assert m.layer_names == [
        "conv2d", "average_pooling2d", "dilated", "activation", "max_pooling2d", "dropout",
        "conv2d_1", "global_average_pooling2d", "dense", "dense_1"]
    x = np.random.default_rng(0).random((3, 16, 15, 3), dtype=np.float32)
    acts = m.activations(x)
    assert [a.shape[1:] for a in acts.values()] == m.shapes
    assert m.shapes[:3] == [(8, 15, 4), (8, 15, 4), (8, 15, 5)]
    np.testing.assert_allclose(acts["dense_1"], m.predict(x), rtol=1e-6)
    # the full spec rebuilds the same model
    again = cnn.build(m.spec, seed=1)
    assert again.spec == m.spec
    np.testing.assert_array_equal(again.predict(x), m.predict(x))
    assert json.loads(json.dumps(m.spec)) == m.spec  # JSON-able


def test_logits_and_pre_activations():
    m = cnn.build(ALL_TYPES_SPEC, seed=2)
    x = np.random.default_rng(1).random((4, 16, 15, 3), dtype=np.float32)
    z = m.logits(x, batch_size=3)
    np.testing.assert_allclose(cnn.softmax(z.astype(np.float64)), m.predict(x), rtol=1e-5,
                               atol=1e-7)
    pre, post = m.activations(x, pre_activation=True), m.activations(x)
    np.testing.assert_allclose(pre["dense_1"], z, rtol=1e-6)
    np.testing.assert_array_equal(np.maximum(pre["conv2d"], 0), post["conv2d"])
    np.testing.assert_allclose(np.tanh(pre["activation"]), post["activation"], rtol=1e-6)
    assert pre["dilated"] is not None and np.array_equal(pre["max_pooling2d"],
                                                         post["max_pooling2d"])


CONV_CASES = [
    dict(kernel_size=3), dict(kernel_size=(2, 3), strides=2), dict(kernel_size=3, padding="same"),
    dict(kernel_size=3, strides=2, padding="same"), dict(kernel_size=(3, 2), strides=(2, 3),
                                                         padding="same"),
    dict(kernel_size=3, dilation_rate=2), dict(kernel_size=2, dilation_rate=(1, 3), padding=1),
    dict(kernel_size=3, padding=[[0, 2], [1, 0]], strides=2), dict(kernel_size=1, strides=3),
    dict(kernel_size=3, dilation_rate=2, padding="same", strides=2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_matches_the_loop_reference(case):
    rng = np.random.default_rng(5)
    layer = cnn.Conv2D("c", 3, activation="linear", **case)
    x = rng.normal(0, 1, (2, 8, 7, 2))
    layer.init(x.shape[1:], rng)
    layer.params["bias"] = rng.normal(0, 1, 3)
    got = layer.forward(x)
    assert got.shape[1:] == layer.output_shape(x.shape[1:])
    np.testing.assert_allclose(got, reference.conv2d(layer, x), rtol=1e-10, atol=1e-12)


POOL_CASES = [
    dict(pool_size=2), dict(pool_size=3), dict(pool_size=2, strides=1),
    dict(pool_size=3, strides=2, padding="same"), dict(pool_size=(2, 3), padding="same"),
    dict(pool_size=3, strides=1, padding=1), dict(pool_size=3, strides=(1, 2),
                                                 padding=[[2, 0], [1, 1]]),
]


@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D", "AveragePooling2D+pad"])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pooling_matches_the_loop_reference(kind, case):
    rng = np.random.default_rng(6)
    if kind == "AveragePooling2D+pad":
        layer = cnn.AveragePooling2D("p", count_include_pad=True, **case)
    else:
        layer = cnn.LAYER_TYPES[kind]("p", **case)
    x = rng.normal(0, 1, (2, 7, 8, 3))
    got = layer.forward(x)
    assert got.shape[1:] == layer.output_shape(x.shape[1:])
    np.testing.assert_allclose(got, reference.pool2d(layer, x), rtol=1e-12, atol=1e-12)


def test_layers_check_their_arguments():
    for make, needle in [
        (lambda: cnn.Conv2D("c", 0), "filters must be from 1"),
        (lambda: cnn.Conv2D("c", 2.5), "filters must be a whole number"),
        (lambda: cnn.Conv2D("c", True), "filters must be a whole number"),
        (lambda: cnn.Conv2D("c", 2, kernel_size=(3, 3, 3)), "one number or two"),
        (lambda: cnn.Conv2D("c", 2, padding="full"), 'padding must be "valid", "same"'),
        (lambda: cnn.Conv2D("c", 2, padding=-1), "padding must be from 0"),
        (lambda: cnn.Conv2D("c", 2, activation="gelu"), "activation must be one of linear"),
        (lambda: cnn.Conv2D("c", 2, strides=0), "strides must be from 1"),
        (lambda: cnn.MaxPooling2D("p", 2, padding=2), "smaller than the 2x2 window"),
        (lambda: cnn.Dropout("d", 1.0), "dropout rate must be a number from 0"),
        (lambda: cnn.Dense("d", 3, "softplus"), "activation must be one of"),
        (lambda: cnn.AveragePooling2D("a", count_include_pad="yes"), "true or false"),
        (lambda: cnn.Dense("bad name", 3), "a layer name must be"),
    ]:
        with pytest.raises(ValueError, match=needle):
            make()


@pytest.mark.parametrize("spec, needle", [
    ([], "non-empty list"),
    ({"layers": []}, "non-empty list of layers, not dict"),
    ([{"type": "Input", "shape": [28, 28, 1]}], "at least one layer"),
    ([{"type": "Conv3D", "filters": 2}], "type 'Conv3D'; the types are Input, Conv2D"),
    ([{"type": "Dense", "units": 3, "bias": 0}], "has no field 'bias'; a Dense takes"),
    ([{"type": "Dropout"}, {"type": "Flatten"}], "needs 'rate'"),
    ([5], "must be a dict"),
    ([{"type": "Input", "shape": [28, 28]}, {"type": "Flatten"}], "input shape must be"),
    ([{"type": "Input", "shape": [4, 4, 1]}, {"type": "Conv2D", "filters": 2, "kernel_size": 5},
      {"type": "Flatten"}], "5x5 window .* does not fit in its 4x4 input"),
    ([{"type": "Conv2D", "filters": 2}], "must give one score per class"),
    ([{"type": "Flatten", "name": "x"}, {"type": "Dense", "units": 2, "name": "x"}],
     "two layers are named 'x'"),
    ([{"type": "Dense", "units": 3}], "Dense layer needs a flat input"),
    ([{"type": "Flatten", "name": [[[]]]}, {"type": "Dense", "units": 2}], "layer name must be"),
])
def test_bad_specs_get_one_sentence(spec, needle):
    with pytest.raises(ValueError, match=needle):
        cnn.build(spec)


def test_build_checks_input_shape_and_classes():
    spec = cnn.lecture_spec()
    with pytest.raises(ValueError, match="disagrees with the spec's Input"):
        cnn.build(spec, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="gives 10 classes, not the 5 asked for"):
        cnn.build(spec, classes=5)
    with pytest.raises(ValueError, match="classes must be a whole number"):
        cnn.build("seed", classes=0)
    layers_only = spec[1:]
    assert cnn.build(layers_only).input_shape == (28, 28, 1)
    assert cnn.build(layers_only[:-1] + [dict(layers_only[-1], units=3)],
                     input_shape=(20, 20, 2)).classes == 3


def test_a_huge_model_is_refused_before_its_weights_are_made(monkeypatch):
    monkeypatch.setenv("CONVDEMO_MAX_MEMORY", "100M")
    spec = [{"type": "Flatten"}, {"type": "Dense", "units": 1 << 20}]
    with pytest.raises(ValueError, match=r"the model's 823,132,160 parameters would need 3\.1 GB"):
        cnn.build(spec)


def test_set_weights_checks_everything_in_one_place():
    m = cnn.build("seed")
    good = m.get_weights()
    for change, needle in [
        (lambda w: w.pop("dense.bias"), "the array dense.bias is missing"),
        (lambda w: w.update(extra=np.zeros(3)), "has no parameter extra"),
        (lambda w: w.update({"dense.bias": np.zeros(12)}), r"dense.bias has shape \(12,\)"),
        (lambda w: w.update({"dense.bias": np.zeros(128, int)}), "holds int64 values"),
        (lambda w: w.update({"dense.bias": np.full(128, np.nan)}), "not all finite"),
        (lambda w: w.update({"dense.bias": np.full(128, 1e300)}), "finite numbers in float32"),
    ]:
        w = {k: v.copy() for k, v in good.items()}
        change(w)
        with pytest.raises(ValueError, match=needle):
            m.set_weights(w)
    # nothing changed on a refusal, and float64 comes in as float32
    assert all(np.array_equal(m.get_weights()[k], good[k]) for k in good)
    m.set_weights({k: v.astype(np.float64) for k, v in good.items()})
    assert m.layer("dense").params["kernel"].dtype == np.float32


def test_copy_is_independent():
    m = cnn.build("seed", 1)
    m.meta["labels"] = list("abcdefghij")
    twin = m.copy()
    twin.layer("conv2d").params["kernel"][:] = 0
    twin.meta["labels"][0] = "z"
    assert m.layer("conv2d").params["kernel"].any() and m.labels[0] == "a"
    x = np.zeros((1, 28, 28), np.float32)
    assert twin.predict(x).shape == (1, 10)


def test_a_batch_too_large_for_the_budget_is_refused_before_it_runs(monkeypatch):
    monkeypatch.setenv("CONVDEMO_MAX_MEMORY", "100M")
    m = cnn.build([{"type": "Input", "shape": [1, 1, 1]},
                   {"type": "Conv2D", "filters": 1, "kernel_size": 1, "strides": 255,
                    "padding": 4096}, {"type": "Flatten"}])
    assert m.shapes == [(33, 33, 1), (1089,)]  # a small output from a 8193x8193 padded input
    with pytest.raises(ValueError, match=r"a batch of 10 images would need 2\.5 GB"):
        m.predict(np.zeros((10, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match=r"a forward pass on 20 images would need"):
        m.forward(np.zeros((20, 1, 1, 1), np.float32))
