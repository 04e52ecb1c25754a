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
    meta = {"format_version": cnn.FORMAT_VERSION, "arch": "seed"}
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
