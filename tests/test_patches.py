"""Top patches: the index against a brute-force ranking, its cache, progress and cancel."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from convdemo import budget, fileio, patches
from convdemo import model as cnn
from convdemo.resources import model_path


@pytest.fixture(scope="module")
def deep():
    m = cnn.build("deep", seed=2)
    rng = np.random.default_rng(0)
    for layer in m.layers:
        if "bias" in layer.params:
            layer.params["bias"] = rng.normal(0, 0.05, layer.params["bias"].shape).astype(
                np.float32)
    return m


def digits_like(n: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, 28, 28): random blobs on black, so maps respond differently per image."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        for _ in range(3):
            r, c = rng.integers(2, 22, size=2)
            x[i, r:r + rng.integers(2, 7), c:c + rng.integers(2, 7)] = rng.integers(80, 256)
    return x


def brute_force(m, x, layer, top, batch):
    """Per map: images sorted by (-max activation, index), with the first argmax position.

    The activations are computed in the index's batches: a matrix product may round an
    image's values differently (by an ulp) in another batch, which could reorder near-ties.
    """
    acts = np.concatenate([m.activations(x[i:i + batch])[layer]
                           for i in range(0, len(x), batch)])  # (N, H, W, C)
    n, h, w, c = acts.shape
    out = []
    for j in range(c):
        a = acts[..., j].reshape(n, -1)
        best = a.max(axis=1)
        order = sorted(range(n), key=lambda i: (-best[i], i))[:top]
        pos = [divmod(int(np.argmax(a[i])), w) for i in order]
        out.append((order, best[order], pos, acts[..., j].mean(axis=(1, 2), dtype=float).max()))
    return out


def test_index_matches_a_brute_force_ranking(deep):
    x = digits_like(40)
    y = np.arange(40) % 10
    seen = []
    index = patches.build_index(deep, x, y, batch=7, progress=seen.append)
    assert index.layers == ("conv2d", "conv2d_1") and index.count == 40
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 6
    xf = x.astype(np.float32) / 255
    for layer, side, step in (("conv2d", 3, 1), ("conv2d_1", 8, 2)):
        want = brute_force(deep, xf, layer, 9, batch=7)
        for j in (0, 5, len(want) - 1):
            mp = index.top(layer, j)
            order, values, pos, mean_max = want[j]
            assert mp.images.tolist() == order
            np.testing.assert_array_equal(mp.values, values)
            assert [tuple(p) for p in mp.positions] == pos
            assert mp.labels.tolist() == [int(y[i]) for i in order]
            assert index.mean_max(layer)[j] == pytest.approx(mean_max, rel=1e-5)
            for k, (i, (r, c)) in enumerate(zip(order, pos, strict=True)):
                top, left = r * step, c * step
                assert tuple(mp.boxes[k]) == (top, left, top + side, left + side)
                np.testing.assert_array_equal(mp.patches[k, :, :, 0],
                                              xf[i, top:top + side, left:left + side])


def test_fewer_images_than_patches_and_bad_input(deep):
    index = patches.build_index(deep, digits_like(4))
    assert index.top("conv2d", 3).images.size == 4
    with pytest.raises(ValueError, match=r"shaped \(N, 28, 28\)"):
        patches.build_index(deep, np.zeros((3, 32, 32)))
    with pytest.raises(ValueError, match="maps 0..63"):
        index.top("conv2d_1", 64)
    with pytest.raises(ValueError, match="no conv layer 'dense'"):
        index.top("dense", 0)


def test_cancel_and_memory_check(deep, monkeypatch):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(patches.Cancelled):
        patches.build_index(deep, digits_like(30), batch=5, should_stop=stop)
    assert len(calls) == 3  # two batches ran, the third was never started
    monkeypatch.setenv(budget.ENV, "100K")
    with pytest.raises(budget.MemoryBudgetError, match="indexing"):
        patches.build_index(deep, digits_like(30), batch=30)


def write_idx(folder, x, y):
    """The four MNIST IDX files, gzipped, for a tiny data set."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "t10k"):
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">IIII", 0x0803, len(x), 28, 28) + x.tobytes())
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">II", 0x0801, len(y)) + y.astype(np.uint8).tobytes())


def test_index_is_cached_beside_a_users_model(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = tmp_path / "data"
    x, y = digits_like(25, seed=3), np.arange(25) % 10
    write_idx(data, x, y)
    m = cnn.build("seed", seed=5)
    m.meta["dataset"] = "mnist"
    path = m.save(tmp_path / "models" / "mine.npz")
    seen = []
    first = patches.index_for(m, path, data_dir=data, progress=seen.append)
    assert first.path == tmp_path / "models" / "mine.patches.npz" and first.path.is_file()
    assert first.dataset == "mnist" and first.model_hash == patches.file_hash(path)
    assert seen[-1] == 1.0 and first.count == 25
    # the second time it is read, not built
    monkeypatch.setattr(patches, "build_index", lambda *a, **k: pytest.fail("rebuilt"))
    seen.clear()
    again = patches.index_for(m, path, data_dir=data, progress=seen.append)
    assert seen == [1.0]
    for key in ("values", "images", "positions", "patches", "mean_max"):
        np.testing.assert_array_equal(again.arrays["conv2d"][key], first.arrays["conv2d"][key])
    np.testing.assert_array_equal(again.labels, y)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # a changed model file is indexed again
    m2 = cnn.build("seed", seed=6)
    m2.meta["dataset"] = "mnist"
    m2.save(path)
    third = patches.index_for(m2, path, data_dir=data)
    assert third.model_hash == patches.file_hash(path) != first.model_hash
    # a folder that cannot be written: the user cache folder instead
    real = fileio.atomic_write

    def refuse_beside(target, write):
        if target.parent == path.parent:
            raise fileio.WriteError(f"cannot write {target}: permission denied")
        return real(target, write)

    monkeypatch.setattr(patches, "atomic_write", refuse_beside)
    (tmp_path / "models" / "mine.patches.npz").unlink()
    fourth = patches.index_for(m2, path, data_dir=data)
    assert fourth.path.parent == tmp_path / "cache" / "convdemo"
    assert patches.index_for(m2, path, data_dir=data).path == fourth.path


def test_shipped_models_cache_in_the_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    where = patches.cache_path(model_path("digits"))
    assert where.parent == tmp_path / "convdemo"
    assert where.name.startswith("patches-digits-") and where.suffix == ".npz"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert patches.cache_dir().parts[-2:] == (".cache", "convdemo")


def test_dataset_for_and_broken_files(tmp_path):
    assert patches.dataset_for(cnn.load("digits")) == "mnist"
    assert patches.dataset_for(cnn.load("fashion")) == "fashion"
    odd = cnn.build("seed")
    odd.meta = {"labels": [f"class {i}" for i in range(10)]}
    with pytest.raises(ValueError, match="build_index"):
        patches.dataset_for(odd)
    bad = tmp_path / "x.patches.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="delete it"):
        patches.PatchIndex.load(bad)


@pytest.mark.slow
def test_real_index_top_values_are_real(mnist_dir, tmp_path, monkeypatch):
    """The shipped digits model over the 10,000 MNIST test digits: each stored value is the
    model's own activation there, and no other image beats a map's ninth patch."""
    from convdemo import datasets

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    m = cnn.load("digits")
    index = patches.index_for(m, "digits", data_dir=mnist_dir)
    (_, _), (x, _) = datasets.load("mnist", mnist_dir)
    sample = np.random.default_rng(0).choice(len(x), 500, replace=False)
    acts = m.activations(x[sample])["conv2d"]
    for j in (0, 7, 24):
        mp = index.top("conv2d", j)
        assert len(set(mp.images.tolist())) == 9
        for i, (r, c), v in zip(mp.images, mp.positions, mp.values, strict=True):
            assert m.activations(x[i:i + 1])["conv2d"][0, r, c, j] == pytest.approx(v, rel=1e-6)
        others = ~np.isin(sample, mp.images)
        assert acts[others, :, :, j].max() <= mp.values[-1]
