"""The CNN: a small Keras-style sequential model in plain numpy.

Two architectures, both on 28x28 grey images (float32 in 0..1, white ink on black):

``seed`` (the lecture's model)::

    conv2d (Conv2D 32 3x3 relu) -> max_pooling2d (2) -> dropout (0.4) -> flatten
    -> dense (128 relu) -> dropout_1 (0.4) -> dense_1 (10 softmax)

``deep`` (the lecture's "99%" challenge)::

    conv2d (32 3x3 relu) -> max_pooling2d -> conv2d_1 (64 3x3 relu) -> max_pooling2d_1
    -> dropout (0.4) -> flatten -> dense (128 relu) -> dropout_1 (0.4) -> dense_1 (10 softmax)

Layer names are the ones Keras gives automatically, so a student can match them to the lecture.
Arrays are NHWC (``(N, H, W, C)``), float32. A convolution is a *valid cross-correlation plus
bias*, exactly what :func:`convdemo.ops.conv2d` computes with ``channels="sum"`` for each
output filter (``tests/test_model.py`` checks the two agree). The fast path here is im2col
(a strided window view, one copy) followed by one matrix product.

Every layer has ``forward(x, training)`` and ``backward(grad)``; ``backward`` returns the
gradient with respect to the layer's input and stores parameter gradients in ``layer.grads``.
The trainer (:mod:`convdemo.train`) drives them; this module never prints.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convdemo import labels as _labels

#: the trained weights shipped in assets/models/
SHIPPED = ("digits", "digits-deep", "fashion", "fashion-deep")
#: the architectures :func:`build` knows
ARCHS = ("seed", "deep")
#: version of the .npz layout written by :meth:`Model.save`
FORMAT_VERSION = 1
INPUT_SHAPE = (28, 28, 1)
META_KEY = "__meta__"
_DROPOUT = 0.4


# --------------------------------------------------------------------------- layers


class Layer:
    """Base class: a named layer with parameters, a forward and a backward pass."""

    kind = "Layer"

    def __init__(self, name: str) -> None:
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: set by the model: does backward need to return the input gradient?
        self.needs_input_grad = True

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (without batch) for an input of shape ``in_shape`` (without batch)."""
        return in_shape

    def init(self, in_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create the parameters (Keras defaults: Glorot uniform kernels, zero biases)."""

    def forward(self, x: np.ndarray, training: bool = False, rng=None) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))


def _glorot_uniform(rng: np.random.Generator, shape, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def im2col(x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Patches of ``x`` (N, H, W, C) as rows: (N, H-kh+1, W-kw+1, kh*kw*C), order (kh, kw, C).

    One copy of a strided window view (channels innermost, so the copy runs over contiguous
    memory); multiplied by the kernel reshaped to (kh*kw*C, Cout) it gives a valid
    cross-correlation.
    """
    n, h, w, c = x.shape
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (N, H', W', C, kh, kw), no copy
    win = win.transpose(0, 1, 2, 4, 5, 3)  # (N, H', W', kh, kw, C), still no copy
    return win.reshape(n, h - kh + 1, w - kw + 1, kh * kw * c)


def _kernel_matrix(kernel: np.ndarray) -> np.ndarray:
    """Kernel (kh, kw, Cin, Cout) as the (kh*kw*Cin, Cout) matrix that matches :func:`im2col`."""
    kh, kw, cin, cout = kernel.shape
    return kernel.reshape(kh * kw * cin, cout)


class Conv2D(Layer):
    """``Conv2D(filters, (kh, kw), activation="relu", padding="valid")``, stride 1.

    Input (N, H, W, Cin) -> output (N, H-kh+1, W-kw+1, filters). Output pixel
    ``y[n, i, j, f] = act(b[f] + sum_{a, b, c} x[n, i+a, j+b, c] * K[a, b, c, f])``:
    cross-correlation (no kernel flip), like Keras and like ``convdemo.ops.conv2d``.
    """

    kind = "Conv2D"

    def __init__(self, name: str, filters: int, size: int = 3, activation: str = "relu"):
        super().__init__(name)
        self.filters = filters
        self.size = size
        self.activation = activation

    def output_shape(self, in_shape):
        h, w, _ = in_shape
        return (h - self.size + 1, w - self.size + 1, self.filters)

    def init(self, in_shape, rng):
        k, cin = self.size, in_shape[2]
        shape = (k, k, cin, self.filters)
        self.params = {
            "kernel": _glorot_uniform(rng, shape, k * k * cin, k * k * self.filters),
            "bias": np.zeros(self.filters, np.float32),
        }

    def forward(self, x, training=False, rng=None):
        n = x.shape[0]
        k = self.size
        cols = im2col(x, k, k)
        ho, wo = cols.shape[1], cols.shape[2]
        cols2 = cols.reshape(n * ho * wo, -1)
        y = cols2 @ _kernel_matrix(self.params["kernel"])
        y += self.params["bias"]
        if self.activation == "relu":
            np.maximum(y, 0, out=y)
        y = y.reshape(n, ho, wo, self.filters)
        if training:
            self._cols, self._x_shape, self._y = cols2, x.shape, y
        return y

    def backward(self, grad):
        n, h, w, cin = self._x_shape
        k = self.size
        if self.activation == "relu":
            grad = grad * (self._y > 0)
        g2 = grad.reshape(-1, self.filters)
        dw = self._cols.T @ g2  # (k*k*Cin, Cout)
        self.grads = {"kernel": dw.reshape(k, k, cin, self.filters), "bias": g2.sum(axis=0)}
        dx = None
        if self.needs_input_grad:
            # the transposed convolution, one kernel tap at a time:
            # dx[n, i+a, j+b, :] += grad[n, i, j, :] @ K[a, b].T
            ho, wo = h - k + 1, w - k + 1
            kernel = self.params["kernel"]
            dx = np.zeros(self._x_shape, g2.dtype)
            for a in range(k):
                for b in range(k):
                    tap = (g2 @ kernel[a, b].T).reshape(n, ho, wo, cin)
                    dx[:, a : a + ho, b : b + wo, :] += tap
        self._cols = self._y = None
        return dx


class MaxPooling2D(Layer):
    """``MaxPooling2D(2)``: 2x2 windows, stride 2, valid (an odd last row/column is dropped).

    Backward sends each gradient to the first maximum of its window (row-major order),
    as TensorFlow does.
    """

    kind = "MaxPooling2D"

    def output_shape(self, in_shape):
        h, w, c = in_shape
        return (h // 2, w // 2, c)

    def forward(self, x, training=False, rng=None):
        h2, w2 = (x.shape[1] // 2) * 2, (x.shape[2] // 2) * 2
        a, b = x[:, 0:h2:2, 0:w2:2], x[:, 0:h2:2, 1:w2:2]
        c, d = x[:, 1:h2:2, 0:w2:2], x[:, 1:h2:2, 1:w2:2]
        y = np.maximum(np.maximum(a, b), np.maximum(c, d))
        if training:
            # masks of the first maximum in each window
            ma = a == y
            mb = (b == y) & ~ma
            taken = ma | mb
            mc = (c == y) & ~taken
            taken |= mc
            md = ~taken
            self._masks, self._x_shape = (ma, mb, mc, md), x.shape
        return y

    def backward(self, grad):
        ma, mb, mc, md = self._masks
        h2, w2 = grad.shape[1] * 2, grad.shape[2] * 2
        dx = np.zeros(self._x_shape, grad.dtype)
        np.multiply(grad, ma, out=dx[:, 0:h2:2, 0:w2:2])
        np.multiply(grad, mb, out=dx[:, 0:h2:2, 1:w2:2])
        np.multiply(grad, mc, out=dx[:, 1:h2:2, 0:w2:2])
        np.multiply(grad, md, out=dx[:, 1:h2:2, 1:w2:2])
        self._masks = None
        return dx


class Dropout(Layer):
    """``Dropout(rate)``: in training, zero each value with probability ``rate`` and scale the
    rest by ``1 / (1 - rate)`` (inverted dropout, as Keras); the identity otherwise."""

    kind = "Dropout"

    def __init__(self, name: str, rate: float):
        super().__init__(name)
        self.rate = rate

    def forward(self, x, training=False, rng=None):
        if not training or self.rate <= 0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        mask = rng.random(x.shape, dtype=np.float32) < keep
        self._mask = mask.astype(x.dtype)
        self._mask *= x.dtype.type(1.0 / keep)
        return x * self._mask

    def backward(self, grad):
        if self._mask is None:
            return grad
        dx = grad * self._mask
        self._mask = None
        return dx


class Flatten(Layer):
    """``Flatten()``: (N, H, W, C) -> (N, H*W*C), in row-major (H, W, C) order like Keras."""

    kind = "Flatten"

    def output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward(self, x, training=False, rng=None):
        self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self._x_shape)


class Dense(Layer):
    """``Dense(units, activation)``: ``y = act(x @ W + b)``, ``act`` "relu", "softmax" or "linear".

    For "softmax" :meth:`backward` takes dL/d(probabilities); the trainer instead calls
    :meth:`backward_logits` with dL/d(logits), which for cross-entropy is simply ``p - y``.
    """

    kind = "Dense"

    def __init__(self, name: str, units: int, activation: str = "linear"):
        super().__init__(name)
        self.units = units
        self.activation = activation

    def output_shape(self, in_shape):
        return (self.units,)

    def init(self, in_shape, rng):
        fan_in = in_shape[0]
        self.params = {
            "kernel": _glorot_uniform(rng, (fan_in, self.units), fan_in, self.units),
            "bias": np.zeros(self.units, np.float32),
        }

    def forward(self, x, training=False, rng=None):
        y = x @ self.params["kernel"]
        y += self.params["bias"]
        if self.activation == "relu":
            np.maximum(y, 0, out=y)
        elif self.activation == "softmax":
            y = softmax(y)
        if training:
            self._x, self._y = x, y
        return y

    def backward(self, grad):
        if self.activation == "softmax":
            p = self._y
            grad = p * (grad - (grad * p).sum(axis=1, keepdims=True))
        return self.backward_logits(grad)

    def backward_logits(self, grad):
        """Backward from the gradient w.r.t. the pre-activation ``x @ W + b``."""
        if self.activation == "relu":
            grad = grad * (self._y > 0)
        self.grads = {"kernel": self._x.T @ grad, "bias": grad.sum(axis=0)}
        dx = grad @ self.params["kernel"].T if self.needs_input_grad else None
        self._x = self._y = None
        return dx


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (N, K), numerically stable."""
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


# --------------------------------------------------------------------------- the model


def _layers_for(arch: str) -> list[Layer]:
    if arch == "seed":
        return [
            Conv2D("conv2d", 32),
            MaxPooling2D("max_pooling2d"),
            Dropout("dropout", _DROPOUT),
            Flatten("flatten"),
            Dense("dense", 128, "relu"),
            Dropout("dropout_1", _DROPOUT),
            Dense("dense_1", 10, "softmax"),
        ]
    if arch == "deep":
        return [
            Conv2D("conv2d", 32),
            MaxPooling2D("max_pooling2d"),
            Conv2D("conv2d_1", 64),
            MaxPooling2D("max_pooling2d_1"),
            Dropout("dropout", _DROPOUT),
            Flatten("flatten"),
            Dense("dense", 128, "relu"),
            Dropout("dropout_1", _DROPOUT),
            Dense("dense_1", 10, "softmax"),
        ]
    raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")


class Model:
    """A sequential CNN on (N, 28, 28, 1) float32 images in 0..1.

    Attributes
    ----------
    arch : "seed" or "deep"
    layers : list of layers in order, each with a Keras-style ``name``
    meta : dict of metadata (dataset, labels, test_accuracy, epochs, seed, date, command, ...)
    """

    def __init__(self, arch: str, layers: list[Layer], meta: dict | None = None):
        self.arch = arch
        self.layers = layers
        self.meta = dict(meta or {})
        shape = INPUT_SHAPE
        self.shapes: list[tuple[int, ...]] = []
        for layer in layers:
            shape = layer.output_shape(shape)
            self.shapes.append(shape)
        # the first layer's input gradient is never needed (it is the image)
        layers[0].needs_input_grad = False

    # ---- info
    @property
    def labels(self) -> tuple[str, ...]:
        """The 10 class names, from the metadata (digits when unknown)."""
        names = self.meta.get("labels")
        if names and len(names) == 10:
            return tuple(str(n) for n in names)
        return _labels.BY_DATASET.get(self.meta.get("dataset", "mnist"), _labels.DIGITS)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer {name!r} in this model; it has: {', '.join(self.layer_names)}")

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self) -> str:
        """A Keras-style summary table: layer (type), output shape, parameter count."""
        width = 70
        rule, double = "_" * width, "=" * width
        lines = [f'Model: "{self.arch}"', rule]
        lines.append(f"{' Layer (type)':<34}{'Output Shape':<24}Param #")
        lines.append(double)
        for i, (layer, shape) in enumerate(zip(self.layers, self.shapes, strict=True)):
            shown = "(None, " + ", ".join(str(s) for s in shape) + ")"
            name = f"{layer.name} ({layer.kind})"
            lines.append(f" {name:<33}{shown:<24}{layer.count_params():,}")
            lines.append(double if i == len(self.layers) - 1 else "")
        total = self.count_params()
        lines += [
            f"Total params: {total:,}",
            f"Trainable params: {total:,}",
            "Non-trainable params: 0",
            rule,
        ]
        return "\n".join(lines)

    def conv_filters(self, layer: str = "conv2d") -> tuple[np.ndarray, np.ndarray]:
        """A convolution layer's (kernel (3, 3, Cin, Cout), bias (Cout,)) as float32 copies.

        Filter ``j`` applied by ``convdemo.ops.conv2d(image, kernel[:, :, :, j],
        channels="sum", bias=bias[j])`` gives exactly this layer's channel ``j`` before ReLU.
        """
        found = self.layer(layer)
        if not isinstance(found, Conv2D):
            raise ValueError(f"layer {layer!r} is a {found.kind}, not a convolution")
        return found.params["kernel"].copy(), found.params["bias"].copy()

    # ---- weights
    def named_params(self) -> Iterator[tuple[str, Layer, str]]:
        """(``"layer.param"``, layer, param name) for every parameter, in a fixed order."""
        for layer in self.layers:
            for key in layer.params:
                yield f"{layer.name}.{key}", layer, key

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of all parameters, keyed ``"layer.param"``."""
        return {key: layer.params[p].copy() for key, layer, p in self.named_params()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Replace all parameters (shapes must match; values are copied as float32)."""
        for key, layer, p in self.named_params():
            if key not in weights:
                raise ValueError(f"weights are missing {key}")
            value = np.asarray(weights[key])
            if value.shape != layer.params[p].shape:
                raise ValueError(
                    f"{key} has shape {value.shape}, expected {layer.params[p].shape}"
                )
            layer.params[p] = np.ascontiguousarray(value, dtype=np.float32)

    # ---- inference
    @staticmethod
    def _check_input(x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[..., np.newaxis]
        if x.ndim != 4 or x.shape[1:] != INPUT_SHAPE:
            raise ValueError(
                f"the model takes images shaped (N, 28, 28) or (N, 28, 28, 1), got {x.shape}"
            )
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(x, dtype=np.float32)

    def forward(self, x: np.ndarray, training: bool = False, rng=None) -> np.ndarray:
        """Run all layers on a checked (N, 28, 28, 1) float32 batch; returns probabilities."""
        for layer in self.layers:
            x = layer.forward(x, training, rng)
        return x

    def predict(self, x, batch_size: int = 500) -> np.ndarray:
        """Class probabilities (N, 10) float32 for images (N, 28, 28[, 1]) float32 in 0..1.

        Works in batches of ``batch_size``, so the memory used does not grow with N.
        """
        x = self._check_input(x)
        out = np.empty((x.shape[0], 10), np.float32)
        for start in range(0, x.shape[0], batch_size):
            out[start : start + batch_size] = self.forward(x[start : start + batch_size])
        return out

    def activations(self, x) -> dict[str, np.ndarray]:
        """Every layer's output by Keras name, e.g. ``"conv2d"`` -> (N, 26, 26, 32).

        Conv2D and Dense outputs are after their activation (ReLU, softmax), as in Keras;
        ``"dense_1"`` holds the probabilities. Dropout layers are the identity here.
        """
        x = self._check_input(x)
        out = {}
        for layer in self.layers:
            x = layer.forward(x)
            out[layer.name] = x
        return out

    # ---- files
    def save(self, path, *, dtype=np.float32) -> Path:
        """Write the weights (``dtype``, float32 or float16) and one JSON metadata entry."""
        path = Path(path)
        meta = dict(self.meta)
        meta.setdefault("labels", list(self.labels))
        meta.setdefault("date", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        meta.update(
            format_version=FORMAT_VERSION, arch=self.arch, dtype=np.dtype(dtype).name
        )
        arrays = {key: arr.astype(dtype) for key, arr in self.get_weights().items()}
        arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:  # a file object keeps numpy from appending ".npz"
            np.savez_compressed(fh, **arrays)
        return path


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


def build(arch: str = "seed", seed: int = 0) -> Model:
    """A fresh model with Keras' default initialisation (Glorot uniform, zero biases)."""
    layers = _layers_for(arch)
    rng = np.random.default_rng(seed)
    shape = INPUT_SHAPE
    for layer in layers:
        layer.init(shape, rng)
        shape = layer.output_shape(shape)
    return Model(arch, layers, {"arch": arch, "seed": seed})


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


def load(name_or_path) -> Model:
    """Load a shipped model (``digits``, ``digits-deep``, ``fashion``, ``fashion-deep``) or an
    ``.npz`` written by :meth:`Model.save`.

    Raises ValueError naming the file and what is wrong (missing, corrupt, wrong shapes).
    """
    path = resolve(name_or_path)
    if not path.is_file():
        raise ValueError(f"cannot load model {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        # numpy's own text here talks of pickles and unsafe loading: not advice to pass on
        raise ValueError(
            f"cannot load model {path}: it is not a model file saved by convdemo "
            "(a .npz of plain arrays); pick a shipped model or a file from `convdemo train`"
        ) from None
    if META_KEY not in arrays:
        raise ValueError(f"cannot load model {path}: it has no {META_KEY} metadata entry")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError as exc:
        raise ValueError(f"cannot load model {path}: its metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"cannot load model {path}: its metadata is not a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"cannot load model {path}: format version {version!r}, this convdemo reads "
            f"version {FORMAT_VERSION}"
        )
    arch = meta.get("arch")
    if arch not in ARCHS:
        raise ValueError(f"cannot load model {path}: unknown architecture {arch!r}")
    model = build(arch)
    for key, layer, p in model.named_params():
        if key not in arrays:
            raise ValueError(f"cannot load model {path}: the array {key} is missing")
        value = arrays[key]
        want = layer.params[p].shape
        if value.shape != want:
            raise ValueError(
                f"cannot load model {path}: {key} has shape {value.shape}, expected {want}"
            )
        if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
            raise ValueError(f"cannot load model {path}: {key} is not finite floating point")
        layer.params[p] = np.ascontiguousarray(value, dtype=np.float32)
    model.meta = meta
    return model
