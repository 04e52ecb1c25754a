"""MNIST and Fashion-MNIST: an IDX reader and where to find the files.

:func:`load` returns ``((x_train, y_train), (x_test, y_test))`` as uint8 arrays shaped
(N, 28, 28) and (N,), like ``keras.datasets.mnist.load_data()``. It never downloads anything:
it looks, in order, in

1. ``data_dir`` (the ``--data`` option),
2. ``$CONVDEMO_DATA/<name>``,
3. Keras' cache ``~/.keras/datasets/`` (``mnist.npz``; ``fashion-mnist/`` with the IDX files),
4. for fashion, ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``),

and if nothing is there, raises one ``FileNotFoundError`` listing every place it looked and
how to get the data.

An IDX file (gzipped or raw) is a big-endian header, magic ``0x0000_08_0D`` (``08`` = uint8,
``D`` = number of dimensions), then ``D`` uint32 sizes, then the bytes.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path

import numpy as np

NAMES = ("mnist", "fashion")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
#: the four files, without the optional ".gz"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_HOW_TO_GET = {
    "mnist": "put the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) in a folder and "
    "pass it with --data DIR or set CONVDEMO_DATA to its parent (with the files in "
    "$CONVDEMO_DATA/mnist)",
    "fashion": "install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put "
    "the four Fashion-MNIST IDX files in a folder and pass it with --data DIR",
}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (raw or gzipped) of unsigned bytes into an array of its shape.

    Raises ValueError naming the file when the magic number, the sizes or the length is wrong.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"cannot read {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise ValueError(f"{path}: IDX data type 0x{data[2]:02x} is not unsigned bytes (0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    size = int(np.prod(shape))
    if len(data) - header != size:
        raise ValueError(
            f"{path}: header says {shape} = {size} bytes of data, the file has {len(data) - header}"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def _find_file(folder: Path, stem: str) -> Path | None:
    # also accept the dotted names some mirrors use (train-images.idx3-ubyte)
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_idx(folder: Path) -> bool:
    return all(_find_file(folder, stem) for stem in FILES.values())


def read_idx_folder(folder) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Read the four standard IDX files from ``folder`` and check that they fit together."""
    folder = Path(folder)
    arrays = {}
    for key, stem in FILES.items():
        path = _find_file(folder, stem)
        if path is None:
            raise FileNotFoundError(f"{folder} has no {stem}[.gz]")
        arrays[key] = read_idx(path)
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{folder}: {split} images are shaped {x.shape}, not (N, 28, 28)")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"{folder}: {x.shape[0]} {split} images but labels shaped {y.shape}"
            )
        if y.size and y.max() > 9:
            raise ValueError(f"{folder}: {split} labels go up to {y.max()}, not 0..9")
    return (
        (arrays["train_images"], arrays["train_labels"]),
        (arrays["test_images"], arrays["test_labels"]),
    )


def _read_keras_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as d:
            out = ((d["x_train"], d["y_train"]), (d["x_test"], d["y_test"]))
    except KeyError:
        raise ValueError(
            f"{path}: not Keras' mnist.npz (it needs x_train, y_train, x_test, y_test)"
        ) from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__})") from None
    for (x, y), split in zip(out, ("train", "test"), strict=True):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{path}: images are {x.dtype} {x.shape}, not uint8 (N, 28, 28)")
        if y.shape != (len(x),) or (y.size and not 0 <= y.min() <= y.max() <= 9):
            raise ValueError(f"{path}: {split} labels are not {len(x)} classes in 0..9")
    return out


def candidates(name: str, data_dir=None) -> list[Path]:
    """The places :func:`load` looks for ``name``, in order."""
    places: list[Path] = []
    if data_dir is not None:
        places.append(Path(data_dir).expanduser())
    env = os.environ.get("CONVDEMO_DATA")
    if env:
        places.append(Path(env).expanduser() / name)
    keras = Path.home() / ".keras" / "datasets"
    places.append(keras / "mnist.npz" if name == "mnist" else keras / "fashion-mnist")
    if name == "fashion":
        places.append(DEBIAN_FASHION)
    return places


def find(name: str, data_dir=None) -> Path:
    """The first place that holds ``name``; FileNotFoundError listing all places otherwise."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(NAMES)}")
    places = candidates(name, data_dir)
    for place in places:
        if place.suffix == ".npz" and place.is_file():
            return place
        if place.is_dir() and _has_idx(place):
            return place
    looked = "; ".join(str(p) for p in places)
    raise FileNotFoundError(
        f"no {name} data found (looked in: {looked}); {_HOW_TO_GET[name]}"
    )


def load(name: str, data_dir=None):
    """``((x_train, y_train), (x_test, y_test))``, uint8, images (N, 28, 28), labels (N,)."""
    place = find(name, data_dir)
    if place.suffix == ".npz":
        return _read_keras_npz(place)
    return read_idx_folder(place)
