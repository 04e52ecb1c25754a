"""Top patches: for every conv map, the test-set patches that excite it most.

For each ``Conv2D`` layer and each of its maps, :func:`build_index` runs the model over a
test set once and keeps, per map, the ``top`` (9) images whose strongest response is the
largest: for image ``n``, ``v_n = max_ij A[n, i, j, map]`` (``A`` the layer's output, after its
ReLU), at position ``(i, j)``; the patch is the input under that position's receptive field
(:class:`convdemo.network.Geometry`; zero where the field leaves the image). One patch per
image, so nine different test images, as Zeiler & Fergus show them. Ties go to the lower
image index.

It also keeps, per map, ``max_n mean_ij A[n, i, j, map]``: the largest *mean* activation any
test image gives the map, the yardstick for activation maximisation
(:mod:`convdemo.maximize`).

:func:`index_for` builds the index once per model file and caches it:

* beside the model, as ``<stem>.patches.npz``, for a model of the user's;
* in the user cache folder (``$XDG_CACHE_HOME/convdemo``, else ``~/.cache/convdemo``) for the
  shipped models, which live inside the package, and for a model whose folder cannot be
  written;

keyed by the SHA-256 of the model file (a changed file is indexed again). Files are written
with :func:`convdemo.fileio.atomic_write`. Progress is reported as a fraction through a
callback, and ``should_stop`` (polled between batches) cancels with :class:`Cancelled`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convdemo import budget, datasets
from convdemo import labels as _labels
from convdemo.fileio import WriteError, atomic_write
from convdemo.network import conv_layers, geometry, input_shape

__all__ = ["Cancelled", "MapPatches", "PatchIndex", "TOP", "build_index", "cache_dir",
           "cache_path", "dataset_for", "file_hash", "index_for"]

TOP = 9
FORMAT = "convdemo-patches"
VERSION = 1
META_KEY = "__meta__"


class Cancelled(Exception):
    """Building the index was stopped by ``should_stop``; nothing was written."""


@dataclass(frozen=True)
class MapPatches:
    """The top patches of one map, strongest first (``k`` <= 9 of them).

    Attributes
    ----------
    layer, map : str, int
    values : ndarray (k,) float32
        The map's value (after its activation) at the patch's position, descending.
    images : ndarray (k,) int
        Index of each image in the test set.
    labels : ndarray (k,) int
        Each image's true class.
    positions : ndarray (k, 2) int
        ``(row, col)`` of the position in the layer's output.
    boxes : ndarray (k, 4) int
        ``(top, left, bottom, right)``: the receptive field in input pixels (rows
        ``top..bottom-1``); may reach outside the image when layers pad.
    patches : ndarray (k, fh, fw, C) float32 in 0..1
        The input under each box (zero outside the image).
    """

    layer: str
    map: int
    values: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    patches: np.ndarray = field(repr=False)


@dataclass
class PatchIndex:
    """Top patches of every map of every conv layer of one model, over one test set.

    ``arrays[layer]`` holds, for ``C`` maps and ``k`` patches each: ``values`` (C, k),
    ``images`` (C, k), ``positions`` (C, k, 2), ``patches`` (C, k, fh, fw, Cin),
    ``mean_max`` (C,) and ``mean_argmax`` (C,) (the largest mean activation of the map over
    the images, and which image gives it). ``labels`` (N,) are the test set's classes.
    """

    layers: tuple[str, ...]
    arrays: dict[str, dict[str, np.ndarray]]
    geometry: dict[str, tuple]
    labels: np.ndarray
    dataset: str = ""
    model_hash: str = ""
    count: int = 0
    seconds: float = 0.0
    #: where the index was read from or written to (None: not cached)
    path: Path | None = None

    def top(self, layer: str, map: int) -> MapPatches:
        """The top patches of map ``map`` of ``layer``."""
        if layer not in self.arrays:
            raise ValueError(f"no conv layer {layer!r} in the index; it has "
                             f"{', '.join(self.layers)}")
        a = self.arrays[layer]
        n = a["values"].shape[0]
        if not 0 <= int(map) < n:
            raise ValueError(f"{layer} has maps 0..{n - 1}, not {map}")
        keep = np.isfinite(a["values"][map])  # fewer images than TOP leave -inf slots
        pos = a["positions"][map][keep]
        (jy, jx), (sy, sx), (fh, fw) = self.geometry[layer]
        tops, lefts = sy + pos[:, 0] * jy, sx + pos[:, 1] * jx
        boxes = np.stack([tops, lefts, tops + fh, lefts + fw], axis=1)
        images = a["images"][map][keep]
        return MapPatches(layer, int(map), a["values"][map][keep], images,
                          self.labels[images], pos, boxes, a["patches"][map][keep])

    def mean_max(self, layer: str) -> np.ndarray:
        """(C,) float32: for each map of ``layer``, the largest mean activation (over the
        map's positions) that any indexed image gives it."""
        return self.arrays[layer]["mean_max"]

    # ---- files
    def save(self, path) -> Path:
        """Write the index atomically as one ``.npz`` (plain arrays and a JSON entry)."""
        meta = {"format": FORMAT, "version": VERSION, "layers": list(self.layers),
                "geometry": {k: [list(p) for p in v] for k, v in self.geometry.items()},
                "dataset": self.dataset, "model_hash": self.model_hash, "count": self.count,
                "seconds": self.seconds}
        arrays = {f"{layer}/{key}": value for layer, a in self.arrays.items()
                  for key, value in a.items()}
        arrays["labels"] = self.labels
        arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
        out = atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))
        self.path = Path(path)
        return out

    @classmethod
    def load(cls, path) -> PatchIndex:
        """Read an index written by :meth:`save`; ValueError naming the file when it is not
        one (or of another version)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            meta = json.loads(str(arrays.pop(META_KEY)))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            raise ValueError(f"{path} is not a top-patches index written by convdemo; "
                             "delete it and it will be built again") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or \
                meta.get("version") != VERSION:
            raise ValueError(f"{path} is not a top-patches index of version {VERSION}; "
                             "delete it and it will be built again")
        layers = tuple(meta["layers"])
        by_layer: dict[str, dict[str, np.ndarray]] = {name: {} for name in layers}
        for key, value in arrays.items():
            if "/" in key:
                layer, what = key.split("/", 1)
                if layer in by_layer:
                    by_layer[layer][what] = value
        geo = {k: tuple(tuple(int(x) for x in p) for p in v)
               for k, v in meta["geometry"].items()}
        return cls(layers, by_layer, geo, arrays.get("labels", np.zeros(0, np.int64)),
                   meta.get("dataset", ""), meta.get("model_hash", ""),
                   int(meta.get("count", 0)), float(meta.get("seconds", 0.0)), path)


# --------------------------------------------------------------------------- building


def _merge_top(best_v, best_i, best_p, v, i, p, top):
    """Keep the ``top`` largest per row of (C, K) + (C, B); ties to the lower image index."""
    vals = np.concatenate([best_v, v], axis=1)
    imgs = np.concatenate([best_i, i], axis=1)
    poss = np.concatenate([best_p, p], axis=1)
    order = np.lexsort((imgs, -vals), axis=1)[:, :top]
    take = np.take_along_axis
    return (take(vals, order, 1), take(imgs, order, 1),
            take(poss, order[:, :, None], 1))


def build_index(model, images, labels=None, *, top: int = TOP, batch: int = 250,
                progress: Callable[[float], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> PatchIndex:
    """Index the top patches of every conv map of ``model`` over ``images``.

    Parameters
    ----------
    model : Model
        Any model; its conv layers' outputs (after their activation) are ranked.
    images : ndarray (N, H, W) or (N, H, W, C)
        uint8 (divided by 255) or float in 0..1, the model's input shape.
    labels : ndarray (N,), optional
        The images' classes (kept for the captions).
    top : int
        Patches per map (9).
    batch : int
        Images per forward pass; memory is checked with :func:`convdemo.budget.check`.
    progress : callable(float), optional
        Called after every batch with the fraction done (0 < f <= 1).
    should_stop : callable() -> bool, optional
        Polled before every batch; True raises :class:`Cancelled`.

    Returns
    -------
    PatchIndex
        Not yet saved (see :func:`index_for`).
    """
    names = conv_layers(model)
    if not names:
        raise ValueError("this model has no convolution layer, so it has no maps to index")
    want = input_shape(model)
    x_all = np.asarray(images)
    if x_all.ndim == 3 and want[2] == 1:
        x_all = x_all[..., None]
    if x_all.ndim != 4 or x_all.shape[1:] != want or len(x_all) == 0:
        raise ValueError(f"the images must be shaped (N, {want[0]}, {want[1]}) or "
                         f"(N, {', '.join(map(str, want))}) with N >= 1, got {x_all.shape}")
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a whole number >= 1, not {top!r}")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a whole number >= 1, not {batch!r}")
    n = len(x_all)
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
    if labels.shape != (n,):
        raise ValueError(f"labels must be shaped ({n},), got {labels.shape}")
    shapes = dict(zip([ly.name for ly in model.layers], model.shapes, strict=True))
    per_image = sum(int(np.prod(shapes[name])) for name in names) * 4
    per_image += int(np.prod(want)) * 8  # the batch as float32, and im2col's copy
    batch = int(min(batch, n))
    budget.check(per_image * batch * 3, f"indexing {batch} images at a time")
    last = max(i for i, ly in enumerate(model.layers) if ly.name in names)
    layers = model.layers[: last + 1]
    start = time.perf_counter()
    state = {}
    for name in names:
        c = shapes[name][-1]
        state[name] = {
            "v": np.full((c, 0), -np.inf, np.float32), "i": np.zeros((c, 0), np.int64),
            "p": np.zeros((c, 0, 2), np.int64), "mean_max": np.full(c, -np.inf, np.float32),
            "mean_argmax": np.zeros(c, np.int64),
        }
    for b0 in range(0, n, batch):
        if should_stop is not None and should_stop():
            raise Cancelled("building the top-patches index was cancelled")
        chunk = x_all[b0 : b0 + batch]
        h = chunk.astype(np.float32) / np.float32(255) if chunk.dtype == np.uint8 else \
            np.asarray(chunk, np.float32)
        for layer in layers:
            h = copy.copy(layer).forward(h)  # a shallow copy: nothing kept in the model
            if layer.name in state:
                st = state[layer.name]
                bsz, hh, ww, c = h.shape
                flat = h.reshape(bsz, hh * ww, c)
                arg = flat.argmax(axis=1)  # (B, C): first maximum in row-major order
                val = np.take_along_axis(flat, arg[:, None, :], 1)[:, 0, :]
                pos = np.stack(np.divmod(arg, ww), axis=-1)  # (B, C, 2)
                idx = np.broadcast_to(np.arange(b0, b0 + bsz)[:, None], (bsz, c))
                st["v"], st["i"], st["p"] = _merge_top(
                    st["v"], st["i"], st["p"], val.T, idx.T, pos.transpose(1, 0, 2), top)
                means = flat.mean(axis=1, dtype=np.float64)  # (B, C)
                best = means.argmax(axis=0)
                better = means[best, np.arange(c)] > st["mean_max"]
                st["mean_max"] = np.where(better, means[best, np.arange(c)], st["mean_max"])
                st["mean_argmax"] = np.where(better, best + b0, st["mean_argmax"])
        if progress is not None:
            progress(min(1.0, (b0 + len(chunk)) / n))
    geo_all = geometry(model)
    arrays, geo = {}, {}
    for name in names:
        g = geo_all[name]
        geo[name] = (g.jump, g.start, g.size)
        st = state[name]
        arrays[name] = {
            "values": st["v"].astype(np.float32), "images": st["i"], "positions": st["p"],
            "patches": _cut(x_all, st["i"], st["p"], g),
            "mean_max": st["mean_max"].astype(np.float32), "mean_argmax": st["mean_argmax"],
        }
    return PatchIndex(tuple(names), arrays, geo, labels, count=n,
                      seconds=time.perf_counter() - start)


def _cut(x_all, images, positions, g) -> np.ndarray:
    """The receptive-field crops (C, k, fh, fw, Cin) float32, zero outside the image."""
    c, k = images.shape
    fh, fw = g.size
    _, H, W, cin = x_all.shape
    out = np.zeros((c, k, fh, fw, cin), np.float32)
    for m in range(c):
        for t in range(k):
            rows, cols = g.window(int(positions[m, t, 0]), int(positions[m, t, 1]))
            r_in = (rows >= 0) & (rows < H)
            c_in = (cols >= 0) & (cols < W)
            crop = x_all[images[m, t]][np.ix_(rows[r_in], cols[c_in])]
            crop = crop.astype(np.float32) / (255 if x_all.dtype == np.uint8 else 1)
            out[m, t][np.ix_(r_in, c_in)] = crop
    return out


# --------------------------------------------------------------------------- caching


def file_hash(path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/convdemo``, else ``~/.cache/convdemo``."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "convdemo"


def _shipped(path: Path) -> bool:
    from convdemo.resources import assets_dir

    try:
        return path.resolve().is_relative_to(assets_dir().resolve())
    except (OSError, FileNotFoundError):
        return False


def cache_path(model_file, digest: str | None = None) -> Path:
    """Where the index of ``model_file`` is cached: ``<stem>.patches.npz`` beside a user's
    model; ``<cache_dir>/patches-<stem>-<hash 16>.npz`` for a shipped one."""
    path = Path(model_file)
    if _shipped(path):
        digest = digest or file_hash(path)
        return cache_dir() / f"patches-{path.stem}-{digest[:16]}.npz"
    return path.with_name(f"{path.stem}.patches.npz")


def dataset_for(model) -> str:
    """The test set that matches the model's classes: ``"mnist"`` or ``"fashion"``; a
    ValueError in one sentence for a model that fits neither."""
    name = model.meta.get("dataset") if hasattr(model, "meta") else None
    if name not in datasets.NAMES:
        found = [k for k, v in _labels.BY_DATASET.items() if tuple(model.labels) == v]
        name = found[0] if found else None
    if name is None or input_shape(model) != (28, 28, 1):
        raise ValueError("top patches come from the MNIST or Fashion-MNIST test set, and this "
                         "model's classes or input do not match either; index your own images "
                         "with patches.build_index(model, images)")
    return name


def index_for(model, source, *, data_dir=None,
              progress: Callable[[float], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> PatchIndex:
    """The cached top-patches index of the model in file ``source``, built if needed.

    Parameters
    ----------
    model : Model
        Loaded from ``source`` (with the file's trained weights: an edited working copy
        should use :func:`build_index`).
    source : str or Path
        A shipped model's name (``"digits"``) or the model file.
    data_dir : str or Path, optional
        Where the test set is (see :func:`convdemo.datasets.load`).
    progress, should_stop
        As in :func:`build_index`; a cached index reports 1.0 at once.

    Returns
    -------
    PatchIndex
        ``path`` tells where it is cached (None if no folder could be written: the index is
        still returned).
    """
    from convdemo.model import resolve

    path = resolve(source)
    digest = file_hash(path)
    target = cache_path(path, digest)
    candidates = [target]
    if not _shipped(path):
        candidates.append(cache_dir() / f"patches-{path.stem}-{digest[:16]}.npz")
    for place in candidates:
        if place.is_file():
            try:
                index = PatchIndex.load(place)
            except ValueError:
                continue
            if index.model_hash == digest:
                if progress is not None:
                    progress(1.0)
                return index
    name = dataset_for(model)
    (_, _), (x_test, y_test) = datasets.load(name, data_dir)
    index = build_index(model, x_test, y_test, progress=progress, should_stop=should_stop)
    index.dataset, index.model_hash = name, digest
    for place in candidates:
        try:
            index.save(place)
            break
        except WriteError:
            continue
    return index
