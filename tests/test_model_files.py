"""Model files: round trips of any spec, version-1 files, atomic saving, and bad files refused
from their headers with one sentence naming the file (issue 14)."""

from __future__ import annotations

import errno
import functools
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from convdemo import cli
from convdemo import model as cnn
from convdemo.fileio import WriteError
from tests.test_model import ALL_TYPES_SPEC


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _header_only(shape, descr="<f4") -> bytes:
    """A ``.npy`` header claiming ``shape``, with no data after it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@functools.lru_cache(maxsize=1)
def _seed_weights() -> tuple[tuple[str, bytes], ...]:
    return tuple((f"{k}.npy", _npy(v)) for k, v in cnn.build("seed", seed=3).get_weights().items())


def _seed_members(meta=None, **changes) -> dict[str, bytes]:
    """The members of a good version-1 seed file, with some replaced (None: removed)."""
    meta = {"format_version": 1, "arch": "seed", "dtype": "float32"} if meta is None else meta
    members = dict(_seed_weights())
    members["__meta__.npy"] = _npy(np.array(meta if isinstance(meta, str) else json.dumps(meta)))
    for name, data in changes.items():
        if data is None:
            members.pop(f"{name}.npy")
        else:
            members[f"{name}.npy"] = data
    return members


def test_any_spec_round_trips(tmp_path):
    m = cnn.build(ALL_TYPES_SPEC, seed=4)
    m.meta.update(labels=list("abcde"), dataset="shapes")
    back = cnn.load(m.save(tmp_path / "all.npz"))
    assert back.spec == m.spec and back.arch == "custom" and back.labels == tuple("abcde")
    assert back.meta["format_version"] == 2 and back.meta["spec"] == m.spec
    x = np.random.default_rng(0).random((3, 16, 15, 3), dtype=np.float32)
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    colour = cnn.build(cnn.lecture_spec((32, 32, 3), 4, dropout=False), seed=1)
    again = cnn.load(colour.save(tmp_path / "colour.npz", dtype=np.float16))
    assert again.input_shape == (32, 32, 3) and again.classes == 4 and again.arch == "custom"
    assert again.labels == ("0", "1", "2", "3")


def test_version_1_files_still_load(tmp_path):
    path = _write_zip(tmp_path / "v1.npz", _seed_members())
    m = cnn.load(path)
    assert m.arch == "seed" and m.meta["format_version"] == 1
    want = cnn.build("seed", seed=3)
    x = np.random.default_rng(1).random((2, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(m.predict(x), want.predict(x))


def full_disk(fh, **arrays):
    """np.savez_compressed on a full disk: half a file, then ENOSPC."""
    fh.write(b"PK\x03\x04 half a model")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_save_leaves_the_old_model_intact(tmp_path, monkeypatch):
    path = cnn.build("seed", seed=1).save(tmp_path / "good.npz")
    before = path.read_bytes()

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    with pytest.raises(WriteError, match=r"cannot write .*good.npz: the disk is full"):
        cnn.build("deep", seed=2).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["good.npz"]  # no partial file beside it
    monkeypatch.undo()
    assert cnn.load(path).arch == "seed"


def test_save_refuses_metadata_it_could_not_load(tmp_path):
    m = cnn.build("seed")
    m.meta["labels"] = 5
    with pytest.raises(ValueError, match=r"cannot save the model to .*m.npz: its metadata's "
                                         r"'labels' must be a list"):
        m.save(tmp_path / "m.npz")
    m.meta["labels"] = ["a", "b"]
    with pytest.raises(ValueError, match="2 labels for 10 classes"):
        m.save(tmp_path / "m.npz")
    m.meta.update(labels=list("abcdefghij"), test_accuracy=np.float32(0.5), epochs=np.int64(3))
    back = cnn.load(m.save(tmp_path / "m.npz"))
    assert back.meta["test_accuracy"] == 0.5 and back.meta["epochs"] == 3
    assert not list(tmp_path.glob(".*part"))


def _bad_files(tmp_path):
    """(file, what the one sentence must say) for files that are not good models."""
    good = cnn.build("seed").save(tmp_path / "good.npz")
    npy = tmp_path / "renamed.npz"
    npy.write_bytes(_npy(np.zeros((3, 3), np.float32)))
    tib = (4_194_304, 4_718_592)  # float32: 72 TiB
    deep = "[" * 100_000 + "]" * 100_000
    cases = {
        "renamed.npz": "it is not a model file saved by convdemo",
        "labels.npz": ("'labels' must be a list",
                       _seed_members({"format_version": 1, "arch": "seed", "labels": 5})),
        "deep.npz": ("nested too deeply", _seed_members(deep)),
        "list.npz": ("not a JSON object but list", _seed_members("[1, 2]")),
        "notjson.npz": ("its metadata is not JSON", _seed_members("{'format_version': 1")),
        "epochs.npz": ("'epochs' must be a whole number, not 'ten'",
                       _seed_members({"format_version": 1, "arch": "seed", "epochs": "ten"})),
        "nan.npz": ("'test_accuracy' must be a number, not nan",
                    _seed_members('{"format_version": 1, "arch": "seed", '
                                  '"test_accuracy": NaN}')),
        "version.npz": ("format version 3, this convdemo reads versions 1 to 2",
                        _seed_members({"format_version": 3})),
        "noversion.npz": ("no 'format_version'", _seed_members({"arch": "seed"})),
        "arch.npz": ("unknown architecture 'resnet'",
                     _seed_members({"format_version": 1, "arch": "resnet"})),
        "spec.npz": ("has type 'Conv3D'",
                     _seed_members({"format_version": 2, "spec": [{"type": "Conv3D"}]})),
        "specdict.npz": ("'spec' must be a list of layers",
                         _seed_members({"format_version": 2, "spec": {"a": 1}})),
        "specdeep.npz": ("padding must be",
                         _seed_members({"format_version": 2, "spec": [
                             {"type": "Conv2D", "filters": 1, "padding": json.loads(
                                 "[" * 500 + "]" * 500)}, {"type": "Flatten"}]})),
        "metaarray.npz": ("__meta__ entry is not the metadata text",
                          _seed_members(__meta__=_npy(np.zeros(4)))),
        "metatib.npz": ("__meta__ entry is not the metadata text",
                        _seed_members(__meta__=_header_only((19_791_209_299_968,), "<U1"))),
        "metadtype.npz": ("the array __meta__ has no valid .npy header",
                          _seed_members(__meta__=_header_only((), "<U19791209299968"))),
        "tib.npz": (r"dense.kernel has shape \(4194304, 4718592\), expected \(5408, 128\)",
                    _seed_members(**{"dense.kernel": _header_only(tib)})),
        "extra.npz": ("holds an array huge that its seed architecture does not have",
                      _seed_members(huge=_header_only((1_610_612_736,)))),
        "int.npz": ("dense.bias holds int32 values, not floating point",
                    _seed_members(**{"dense.bias": _npy(np.zeros(128, np.int32))})),
        "object.npz": ("dense.bias holds object values",
                       _seed_members(**{"dense.bias": _header_only((128,), "|O")})),
        "short.npz": ("the array dense.kernel is not the size its header says",
                      _seed_members(**{"dense.kernel": _npy(np.zeros((5408, 128),
                                                                     np.float32))[:-100]})),
        "missing.npz": ("the array dense.bias is missing", _seed_members(**{"dense.bias": None})),
        "nan_weights.npz": ("dense.bias is not all finite",
                            _seed_members(**{"dense.bias": _npy(np.full(128, np.nan,
                                                                        np.float32))})),
        "readme.npz": ("it holds 'readme.txt', which is not one of a model's arrays",
                       {**_seed_members(), "readme.txt": b"hello"}),
        "nometa.npz": ("it has no __meta__ metadata entry", _seed_members(__meta__=None)),
        "badheader.npz": ("the array dense.bias has no valid .npy header",
                          _seed_members(**{"dense.bias": b"\x93NUMPY\x01\x00garbage"})),
    }
    out = []
    for name, value in cases.items():
        if isinstance(value, tuple):
            _write_zip(tmp_path / name, value[1])
            value = value[0]
        out.append((tmp_path / name, value))
    assert cnn.load(good).arch == "seed"
    return out


def test_bad_model_files_are_refused_with_one_sentence(tmp_path, monkeypatch, capsys):
    reads = []
    real = np.lib.format.read_array
    monkeypatch.setattr(np.lib.format, "read_array",
                        lambda fh, **kw: reads.append(1) or real(fh, **kw))
    for path, needle in _bad_files(tmp_path):
        reads.clear()
        with pytest.raises(ValueError, match=f"cannot load model {path}: .*{needle}"):
            cnn.load(path)
        if path.name in ("tib.npz", "extra.npz", "object.npz", "short.npz", "int.npz"):
            assert len(reads) == 1, path.name  # the metadata only: refused from the headers
        # the command line says it in one line, never "internal error"
        assert cli.main(["summary", "--model", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "internal error" not in err, err
        assert str(path) in err


def test_an_extra_array_of_zeros_is_refused_without_reading_it(tmp_path):
    """The issue's case, scaled down: a real compressed array of zeros beside the weights."""
    members = _seed_members()
    path = tmp_path / "padded.npz"
    _write_zip(path, members)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.npy", "w", force_zip64=True) as fh:
            fh.write(_header_only((16 << 20,)))
            chunk = bytes(1 << 20)
            for _ in range(64):  # 64 MB of zeros, about 64 KB compressed
                fh.write(chunk)
    assert path.stat().st_size < 10_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="holds an array zeros that its seed architecture"):
            cnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak


def test_loading_checks_the_memory_budget(tmp_path, monkeypatch):
    path = cnn.build("seed").save(tmp_path / "m.npz")
    monkeypatch.setenv("CONVDEMO_MAX_MEMORY", "1M")
    with pytest.raises(ValueError, match=r"cannot load model .*m.npz: .*would need 2\.6 MB"):
        cnn.load(path)


@pytest.mark.slow  # loads MNIST and trains a little
def test_a_failed_train_out_keeps_the_good_model_it_would_replace(tmp_path, monkeypatch, capsys):
    """`convdemo train --out good.npz` on a full disk: one sentence, and good.npz intact."""
    from tests.conftest import MNIST_DIR, require

    require((MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), f"MNIST in {MNIST_DIR}")
    good = cnn.build("seed", seed=1).save(tmp_path / "good.npz")
    before = good.read_bytes()

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    argv = ["train", "--dataset", "mnist", "--data", str(MNIST_DIR), "--epochs", "1",
            "--limit", "256", "--out", str(good)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert f"cannot write {good}: the disk is full" in err and "internal error" not in err
    assert good.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["good.npz"]
