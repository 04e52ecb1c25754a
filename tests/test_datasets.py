"""IDX reading, the search order, and the real MNIST / Fashion-MNIST files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from convdemo import datasets


def _idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return header + arr.astype(np.uint8).tobytes()


def _write_set(folder, n_train=6, n_test=4, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    for key, stem in datasets.FILES.items():
        raw = _idx_bytes(data[key])
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return data


@pytest.fixture
def no_data_env(monkeypatch, tmp_path):
    monkeypatch.delenv("CONVDEMO_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_reads_gzipped_and_raw_idx(tmp_path, no_data_env, gz):
    want = _write_set(tmp_path / "d", gz=gz)
    (xtr, ytr), (xte, yte) = datasets.load("mnist", tmp_path / "d")
    assert xtr.dtype == np.uint8 and xtr.shape == (6, 28, 28) and yte.shape == (4,)
    np.testing.assert_array_equal(xtr, want["train_images"])
    np.testing.assert_array_equal(ytr, want["train_labels"])
    np.testing.assert_array_equal(xte, want["test_images"])


def test_bad_files_are_named(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"\x08\x03\x00\x00" + b"\0" * 20)
    with pytest.raises(ValueError, match="x-idx3-ubyte.*magic"):
        datasets.read_idx(path)
    path.write_bytes(_idx_bytes(np.zeros((2, 28, 28)))[:-5])
    with pytest.raises(ValueError, match="header says"):
        datasets.read_idx(path)
    folder = tmp_path / "mismatch"
    _write_set(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(np.zeros(3))))
    with pytest.raises(ValueError, match="4 test images but labels"):
        datasets.read_idx_folder(folder)


def test_search_order(no_data_env, monkeypatch):
    root = no_data_env
    _write_set(root / "env" / "mnist", n_train=7, seed=1)
    _write_set(root / "explicit", n_train=5, seed=2)
    monkeypatch.setenv("CONVDEMO_DATA", str(root / "env"))
    assert datasets.load("mnist", root / "explicit")[0][0].shape[0] == 5
    assert datasets.load("mnist")[0][0].shape[0] == 7
    # an explicit folder without the files falls through to the next place
    assert datasets.load("mnist", root / "empty")[0][0].shape[0] == 7
    monkeypatch.delenv("CONVDEMO_DATA")
    keras = root / "home" / ".keras" / "datasets"
    keras.mkdir(parents=True)
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(keras / "mnist.npz", x_train=x, y_train=np.zeros(3, np.uint8), x_test=x[:2],
             y_test=np.zeros(2, np.uint8))
    (xtr, _), (xte, _) = datasets.load("mnist")
    assert xtr.shape == (3, 28, 28) and xte.shape == (2, 28, 28)
    assert datasets.candidates("fashion")[-1] == datasets.DEBIAN_FASHION
    _write_set(keras / "fashion-mnist", n_train=9)
    assert datasets.load("fashion")[0][0].shape[0] == 9


def test_nothing_found_lists_every_place(no_data_env, monkeypatch):
    monkeypatch.setenv("CONVDEMO_DATA", str(no_data_env / "env"))
    with pytest.raises(FileNotFoundError) as info:
        datasets.load("mnist", no_data_env / "given")
    text = str(info.value)
    for place in ("given", "env/mnist", ".keras/datasets/mnist.npz", "--data"):
        assert place in text, place
    assert "\n" not in text
    with pytest.raises(ValueError, match="mnist, fashion"):
        datasets.load("cifar")


def test_real_mnist(mnist_dir):
    (xtr, ytr), (xte, yte) = datasets.load("mnist", mnist_dir)
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.uint8
    counts = np.bincount(ytr, minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(xtr.mean() / 255 - 0.1307) < 1e-3 and abs(xtr.std() / 255 - 0.3081) < 1e-3
    assert yte.shape == (10000,) and yte.max() == 9


def test_real_fashion(fashion_dir, no_data_env):
    (xtr, ytr), (xte, yte) = datasets.load("fashion")  # found in the Debian place by default
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert np.bincount(ytr, minlength=10).tolist() == [6000] * 10
    assert np.bincount(yte, minlength=10).tolist() == [1000] * 10


@pytest.mark.parametrize(
    "content, words",
    [
        (b"not a zip at all", "not a readable .npz"),
        ("wrong-keys", "not Keras' mnist.npz"),
        ("bad-labels", "labels are not 3 classes in 0..9"),
    ],
)
def test_a_broken_keras_npz_is_one_sentence(tmp_path, content, words):
    path = tmp_path / "mnist.npz"
    x = np.zeros((3, 28, 28), np.uint8)
    if content == "wrong-keys":
        np.savez(path, images=x)
    elif content == "bad-labels":
        np.savez(path, x_train=x, y_train=np.full(3, 12, np.uint8), x_test=x,
                 y_test=np.zeros(3, np.uint8))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as info:
        datasets._read_keras_npz(path)
    assert str(path) in str(info.value)

