"""Model files: a ``.npz`` of float arrays plus one JSON metadata entry, written atomically
and read with every array header checked before any array is read.

Layout (format version 2): one array per parameter, named ``"<layer>.<param>"`` (e.g.
``conv2d.kernel``, ``dense_1.bias``), and ``__meta__``, a 0-d unicode array holding a JSON
object with at least ``format_version`` (2), ``spec`` (the full spec list, see
:mod:`convdemo.model.spec`), ``arch``, ``dtype`` and ``labels``. Version 1 files (the first
shipped models) have no ``spec``: their ``arch`` (``seed`` or ``deep``) names it, on 28x28x1
input with 10 classes.

Loading refuses, with one sentence naming the file, anything that is not such a file: not
a zip, a member that is not an ``.npy``, malformed or mistyped metadata, an array the
architecture does not have or lacks, a header whose shape or dtype is not the
architecture's, a size above the memory budget. All of it is decided from the zip
directory, the metadata and the ``.npy`` headers before a weight is read.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from convdemo import budget
from convdemo.fileio import atomic_write, why
from convdemo.model.layers import show
from convdemo.model.sequential import Model, _assemble, check_array
from convdemo.model.spec import ARCHS, spec_for

__all__ = ["FORMAT_VERSION", "META_FIELDS", "META_KEY", "SHIPPED", "describe_meta", "load",
           "resolve", "save"]

#: the trained weights shipped in assets/models/
SHIPPED = ("digits", "digits-deep", "fashion", "fashion-deep")
#: version of the .npz layout written by :func:`save`; :func:`load` reads 1 and 2
FORMAT_VERSION = 2
META_KEY = "__meta__"
#: the largest metadata entry read (JSON text, in characters)
MAX_META_CHARS = 1 << 20
_DTYPES = ("float16", "float32", "float64")
#: what can go wrong while reading a file that is not what it says
_BAD_FILE = (OSError, EOFError, ValueError, TypeError, KeyError, RuntimeError,
             NotImplementedError, OverflowError, zipfile.BadZipFile, zlib.error, struct.error,
             SyntaxError)





def _text(v):
    return isinstance(v, str)


def _whole(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _flag(v):
    return isinstance(v, bool)


def _names(v):
    return isinstance(v, list) and all(isinstance(s, str) and len(s) <= 1000 for s in v)


#: the metadata keys convdemo reads, with what each must be (None is allowed for the
#: optional ones); other keys are kept as they are
_META_TYPES = {
    "format_version": ("a whole number", _whole),
    "spec": ("a list of layers", lambda v: isinstance(v, list)),
    "arch": ("text", _text),
    "dtype": (f"one of {', '.join(_DTYPES)}", lambda v: v in _DTYPES),
    "labels": ("a list of class names (text of at most 1000 characters)", _names),
    "dataset": ("text", _text),
    "date": ("text", _text),
    "command": ("text", _text),
    "selection": ("text", _text),
    "test_accuracy": ("a number", _number),
    "epochs": ("a whole number", _whole),
    "best_epoch": ("a number", _number),
    "seed": ("a whole number", _whole),
    "interrupted": ("true or false", _flag),
    "train_images": ("a whole number", _whole),
    "batch_size": ("a whole number", _whole),
    "lr": ("a number", _number),
    "lr_decay": ("a number", _number),
    "shift": ("a whole number", _whole),
    "flip": ("true or false", _flag),
    "ema": ("a number", _number),
    "train_seconds": ("a number", _number),
}
_REQUIRED = ("format_version",)


def check_meta(meta) -> None:
    """ValueError (without the file's name) if ``meta`` is not a metadata object convdemo
    can use: a dict whose known keys have the right types."""
    if not isinstance(meta, dict):
        raise ValueError(f"its metadata is not a JSON object but {type(meta).__name__}")
    for key in _REQUIRED:
        if key not in meta:
            raise ValueError(f"its metadata has no {key!r}")
    for key, (what, ok) in _META_TYPES.items():
        value = meta.get(key)
        if key in meta and not (ok(value) or (value is None and key not in _REQUIRED)):
            raise ValueError(f"its metadata's {key!r} must be {what}, not {show.repr(value)}")


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


# --------------------------------------------------------------------------- saving


def save(model: Model, path, *, dtype=np.float32) -> Path:
    """Write ``model`` to ``path`` (weights as ``dtype``: float16, float32 or float64).

    Atomic (:func:`convdemo.fileio.atomic_write`): a failed write (full disk, Ctrl-C) leaves
    an existing file as it was. The metadata written is checked as :func:`load` checks it,
    so a file that saves also loads.
    """
    dtype = np.dtype(dtype)
    if dtype.name not in _DTYPES:
        raise ValueError(f"a model is saved as {', '.join(_DTYPES)}, not {dtype.name}")
    meta = dict(model.meta)
    meta.setdefault("labels", list(model.labels))
    meta.setdefault("date", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    meta.update(format_version=FORMAT_VERSION, arch=model.arch, dtype=dtype.name,
                spec=model.spec)
    try:
        text = json.dumps(meta, sort_keys=True, default=_jsonable, allow_nan=False)
        meta = json.loads(text)
        check_meta(meta)
        _check_labels(meta, model.classes)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"cannot save the model to {path}: {exc}") from None
    arrays = {key: arr.astype(dtype) for key, arr in model.get_weights().items()}
    arrays[META_KEY] = np.array(text)
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


def _check_labels(meta: dict, classes: int) -> None:
    labels = meta.get("labels")
    if labels is not None and len(labels) != classes:
        raise ValueError(f"its metadata has {len(labels)} labels for {classes} classes")


# --------------------------------------------------------------------------- loading


def resolve(name_or_path) -> Path:
    """The file for a shipped model name, or the given path."""
    text = str(name_or_path)
    if text in SHIPPED:
        from convdemo.resources import model_path

        return model_path(text)
    path = Path(text)
    if path.suffix != ".npz" and not path.exists():
        raise ValueError(
            f"unknown model {text!r}: give one of {', '.join(SHIPPED)} or a path to an .npz file"
        )
    return path


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str):
    """(shape, fortran_order, dtype) of a member's ``.npy`` header, and the header's length;
    reads nothing past the header."""
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"version {version}")
        except ValueError as exc:
            raise ValueError(f"the array {key} has no valid .npy header ({exc})") from None
        return shape, fortran, dtype, fh.tell()


def _members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    found: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in found:
            raise ValueError(f"it holds {show.repr(name)}, which is not one of a model's arrays")
        found[name[:-4]] = info
    return found


def _read_meta(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict:
    shape, _, dtype, _ = _header(zf, info, META_KEY)
    if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * MAX_META_CHARS:
        raise ValueError(
            f"its {META_KEY} entry is not the metadata text (a {dtype} array of shape {shape})"
        )
    with zf.open(info) as fh:
        text = str(np.lib.format.read_array(fh, allow_pickle=False))
    try:
        meta = json.loads(text)
    except RecursionError:
        raise ValueError("its metadata is nested too deeply to be convdemo's") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"its metadata is not JSON ({exc})") from None
    check_meta(meta)
    return meta


def _spec_of(meta: dict) -> list:
    version = meta["format_version"]
    if version == 1:
        arch = meta.get("arch")
        if arch not in ARCHS:
            raise ValueError(f"unknown architecture {show.repr(arch)}")
        return spec_for(arch)
    if version == FORMAT_VERSION:
        if "spec" not in meta:
            raise ValueError("its metadata has no 'spec'")
        return meta["spec"]
    raise ValueError(
        f"format version {version}, this convdemo reads versions 1 to {FORMAT_VERSION}"
    )


def _read_model(zf: zipfile.ZipFile) -> Model:
    members = _members(zf)
    if META_KEY not in members:
        raise ValueError(f"it has no {META_KEY} metadata entry")
    meta = _read_meta(zf, members.pop(META_KEY))
    model = _assemble(_spec_of(meta), meta=meta)
    _check_labels(meta, model.classes)
    shapes = model.param_shapes()
    extra = sorted(set(members) - set(shapes))
    if extra:
        raise ValueError(f"it holds an array {extra[0]} that its {model.arch} architecture "
                         "does not have")
    total = 0
    for key, want in shapes.items():
        if key not in members:
            raise ValueError(f"the array {key} is missing")
        info = members[key]
        shape, _, dtype, offset = _header(zf, info, key)
        problem = check_array(key, shape, dtype, want)
        if problem:
            raise ValueError(problem)
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != offset + nbytes:
            raise ValueError(f"the array {key} is not the size its header says")
        total += nbytes + math.prod(shape) * 4
    budget.check(total, "loading the model's arrays")
    arrays = {}
    for key in shapes:
        with zf.open(members[key]) as fh:
            arrays[key] = np.lib.format.read_array(fh, allow_pickle=False)
    model.set_weights(arrays)
    return model


def load(name_or_path) -> Model:
    """Load a shipped model (``digits``, ``digits-deep``, ``fashion``, ``fashion-deep``) or an
    ``.npz`` written by :meth:`Model.save` (format version 1 or 2).

    Raises
    ------
    ValueError
        One sentence naming the file and what is wrong (missing, not a model, malformed
        metadata, arrays that do not match the architecture, too large for the memory budget).
    """
    path = resolve(name_or_path)
    if not path.is_file():
        raise ValueError(f"cannot load model {path}: no such file")
    try:
        zf = zipfile.ZipFile(path)
    except OSError as exc:
        raise ValueError(f"cannot load model {path}: {why(exc)}") from None
    except _BAD_FILE:
        # numpy's own text here talks of pickles and unsafe loading: not advice to pass on
        raise ValueError(
            f"cannot load model {path}: it is not a model file saved by convdemo "
            "(a .npz of plain arrays); pick a shipped model or a file from `convdemo train`"
        ) from None
    try:
        with zf:
            return _read_model(zf)
    except budget.MemoryBudgetError as exc:
        raise ValueError(f"cannot load model {path}: {exc}") from None
    except RecursionError:
        raise ValueError(f"cannot load model {path}: it is nested too deeply to be a model") \
            from None
    except ValueError as exc:  # ours, the spec's and set_weights': sentences already
        raise ValueError(f"cannot load model {path}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"cannot load model {path}: {why(exc)}") from None
    except _BAD_FILE as exc:
        raise ValueError(
            f"cannot load model {path}: it is damaged ({type(exc).__name__}: {exc})"
        ) from None


#: metadata keys worth showing beside a summary, with their captions, in this order
META_FIELDS = (
    ("dataset", "Trained on"),
    ("test_accuracy", "Test accuracy"),
    ("epochs", "Epochs"),
    ("best_epoch", "Weights from epoch"),
    ("selection", "Chosen as"),
    ("seed", "Seed"),
    ("date", "Date"),
    ("command", "Made by"),
)


def describe_meta(meta) -> str:
    """One line per known metadata field, e.g. ``Test accuracy: 99.12%`` (used by
    ``convdemo summary`` and the window's summary dialog)."""
    lines = []
    for key, caption in META_FIELDS:
        value = meta.get(key)
        if value in (None, ""):
            continue
        if key == "test_accuracy" and isinstance(value, float) and value <= 1.0:
            value = f"{value:.2%}"
        lines.append(f"{caption}: {value}")
    return "\n".join(lines)
