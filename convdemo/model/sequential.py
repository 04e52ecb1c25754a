"""The sequential model: layers in order, inference, gradients for the explainers, weights."""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from convdemo import budget
from convdemo import labels as _labels
from convdemo.model.layers import Conv2D, Layer, _activate, _Windowed
from convdemo.model.spec import arch_of, check_input_shape, full_spec, parse_spec, spec_for

__all__ = ["Model", "build"]

#: a forward on more than this many bytes of activations checks the memory budget first
_CHECK_ABOVE = 64 << 20


class Model:
    """A sequential CNN on (N, H, W, C) images, float32 in 0..1; one score per class out.

    Attributes
    ----------
    layers : list of layers in order, each with a Keras-style ``name``
    input_shape : (H, W, C)
    shapes : each layer's output shape, without the batch axis
    classes : the number of classes (the last layer's output size)
    arch : "seed", "deep" (the lecture's architectures, for this input and class count)
        or "custom"
    meta : dict of metadata (dataset, labels, test_accuracy, epochs, seed, date, command, ...)

    A model holds the caches of its last forward pass: use one model per thread
    (:meth:`copy` gives an independent one).
    """

    def __init__(self, layers: list[Layer], input_shape=(28, 28, 1), meta: dict | None = None):
        self.input_shape, self.layers = check_input_shape(input_shape), layers
        self.meta = dict(meta or {})
        shape = self.input_shape
        self.in_shapes: list[tuple[int, ...]] = []
        self.shapes: list[tuple[int, ...]] = []
        for layer in layers:
            self.in_shapes.append(shape)
            shape = layer.output_shape(shape)
            self.shapes.append(shape)
        if len(shape) != 1:
            raise ValueError(f"the last layer ({layers[-1].name}) must give a flat output, "
                             f"not {shape}")
        names = self.layer_names
        if len(set(names)) != len(names):
            raise ValueError("each layer of a model needs its own name")
        self.classes = shape[0]
        self.arch = arch_of(self.spec, self.input_shape, self.classes)
        # the first layer's input gradient is not needed in training (it is the image)
        layers[0].needs_input_grad = False
        self._cached = None  # batch size of the last forward that kept its caches
        #: every layer's output of the last ``forward(x, cache=True)``, by name
        self.outputs: dict[str, np.ndarray] = {}

    # ---- info
    @property
    def spec(self) -> list[dict]:
        """The full JSON-able spec (see :mod:`convdemo.model.spec`): Input, then each layer."""
        return full_spec(self.input_shape, self.layers)

    @property
    def labels(self) -> tuple[str, ...]:
        """The class names: the metadata's when there is one per class, else the dataset's
        (10 classes), else "0", "1", ..."""
        names = self.meta.get("labels")
        if isinstance(names, (list, tuple)) and len(names) == self.classes:
            return tuple(str(n) for n in names)
        if self.classes == 10:
            return _labels.BY_DATASET.get(self.meta.get("dataset", "mnist"), _labels.DIGITS)
        return tuple(str(i) for i in range(self.classes))

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def _index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise ValueError(f"no layer {name!r} in this model; it has: {', '.join(self.layer_names)}")

    def layer(self, name: str) -> Layer:
        return self.layers[self._index(name)]

    def count_params(self) -> int:
        return sum(math.prod(s) for s in self.param_shapes().values())

    def summary(self) -> str:
        """A Keras-style summary table: layer (type), output shape, parameter count."""
        width = 70
        rule, double = "_" * width, "=" * width
        lines = ['Model: "sequential"', rule]
        lines.append(f"{' Layer (type)':<34}{'Output Shape':<24}Param #")
        lines.append(double)
        counts = [sum(math.prod(s) for s in layer.param_shapes(shape).values())
                  for layer, shape in zip(self.layers, self.in_shapes, strict=True)]
        for i, (layer, shape) in enumerate(zip(self.layers, self.shapes, strict=True)):
            shown = "(None, " + ", ".join(str(s) for s in shape) + ")"
            name = f"{layer.name} ({layer.kind})"
            lines.append(f" {name:<33}{shown:<24}{counts[i]:,}")
            lines.append(double if i == len(self.layers) - 1 else "")
        total = sum(counts)
        h, w, c = self.input_shape
        lines += [
            f"Total params: {total:,}",
            f"Trainable params: {total:,}",
            "Non-trainable params: 0",
            rule,
            f"Architecture: {self.arch}; input {h}x{w}x{c}; {self.classes} classes",
        ]
        return "\n".join(lines)

    def conv_filters(self, layer: str = "conv2d") -> tuple[np.ndarray, np.ndarray]:
        """A convolution layer's (kernel (kh, kw, Cin, Cout), bias (Cout,)) as float32 copies.

        For a stride-1, unpadded, undilated layer, filter ``j`` applied by
        ``convdemo.ops.conv2d(image, kernel[:, :, :, j], channels="sum", bias=bias[j])``
        gives exactly this layer's channel ``j`` before its activation.
        """
        found = self.layer(layer)
        if not isinstance(found, Conv2D):
            raise ValueError(f"layer {layer!r} is a {found.kind}, not a convolution")
        return found.params["kernel"].copy(), found.params["bias"].copy()

    # ---- weights
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """``"layer.param"`` -> shape, for every parameter, in a fixed order."""
        return {
            f"{layer.name}.{p}": shape
            for layer, in_shape in zip(self.layers, self.in_shapes, strict=True)
            for p, shape in layer.param_shapes(in_shape).items()
        }

    def named_params(self) -> Iterator[tuple[str, Layer, str]]:
        """(``"layer.param"``, layer, param name) for every parameter, in a fixed order."""
        for layer in self.layers:
            for key in layer.params:
                yield f"{layer.name}.{key}", layer, key

    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of all parameters, keyed ``"layer.param"``."""
        return {key: layer.params[p].copy() for key, layer, p in self.named_params()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Replace all parameters (values are copied as float32).

        Every ``"layer.param"`` must be there, with this model's shape, floating point and
        finite once in float32; nothing else may be. Nothing changes unless all are right.

        Raises
        ------
        ValueError
            naming the first array that is wrong and how.
        """
        shapes = self.param_shapes()
        extra = sorted(set(weights) - set(shapes))
        if extra:
            raise ValueError(f"this {self.arch} model has no parameter {extra[0]}")
        new = {}
        for key, want in shapes.items():
            if key not in weights:
                raise ValueError(f"the array {key} is missing")
            value = np.asarray(weights[key])
            problem = check_array(key, value.shape, value.dtype, want)
            if problem:
                raise ValueError(problem)
            with np.errstate(over="ignore"):  # too large for float32: inf, refused below
                value = np.array(value, dtype=np.float32, order="C")
            if not np.isfinite(value).all():
                raise ValueError(f"{key} is not all finite numbers in float32 (NaN or infinity)")
            new[key] = value
        for layer, in_shape in zip(self.layers, self.in_shapes, strict=True):
            layer.params = {p: new[f"{layer.name}.{p}"] for p in layer.param_shapes(in_shape)}

    def copy(self) -> Model:
        """An independent model with the same spec, weights (copied) and metadata."""
        twin = _assemble(self.spec, self.input_shape, _copy.deepcopy(self.meta))
        twin.set_weights(self.get_weights())
        return twin

    # ---- inference
    def as_batch(self, x) -> np.ndarray:
        """Images (N, H, W, C), or (N, H, W) for one channel, uint8 0..255 or float 0..1,
        as a float32 (N, H, W, C) array; ValueError naming the shape expected."""
        x = np.asarray(x)
        h, w, c = self.input_shape
        if x.ndim == 3 and c == 1:
            x = x[..., np.newaxis]
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            grey = f"(N, {h}, {w}) or " if c == 1 else ""
            raise ValueError(
                f"the model takes images shaped {grey}(N, {h}, {w}, {c}), got {x.shape}"
            )
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(x, dtype=np.float32)

    def _bytes(self, n: int, itemsize: int) -> int:
        """A generous estimate of a forward's memory for ``n`` images: every output twice
        (the value and a cache or gradient), each padded input, each im2col matrix."""
        per = 0
        for layer, shape, out in zip(self.layers, self.in_shapes, self.shapes, strict=True):
            per += 2 * math.prod(out)
            if isinstance(layer, _Windowed):  # Conv2D and pooling
                ((t, b), (left, r)), _ = layer._geometry(shape[0], shape[1])
                per += (shape[0] + t + b) * (shape[1] + left + r) * shape[2]
            if isinstance(layer, Conv2D):
                kh, kw = layer.kernel_size
                per += math.prod(out[:2]) * kh * kw * shape[2]
        return n * per * itemsize

    def forward(self, x: np.ndarray, training: bool = False, rng=None, *,
                cache: bool = False) -> np.ndarray:
        """Run every layer on a batch ``x`` (N, H, W, C) (float32; float64 works too, for
        gradient checks); returns the last layer's output (N, classes), the probabilities.

        ``training=True`` turns dropout on (``rng`` draws its masks) and keeps what the
        trainer's backward needs. ``cache=True`` keeps it without dropout (inference
        semantics), for :meth:`backward_from`, and keeps every layer's output in
        ``model.outputs`` (name -> array, as :meth:`activations` gives them). A forward
        without either, :meth:`predict`, :meth:`logits` and :meth:`activations` leave the
        caches alone (they may run while another thread trains this model).
        """
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            h, w, c = self.input_shape
            raise ValueError(f"forward takes a batch shaped (N, {h}, {w}, {c}), got {x.shape}")
        need = self._bytes(x.shape[0], x.itemsize)
        if need > _CHECK_ABOVE:
            budget.check(need, f"a forward pass on {x.shape[0]:,} images")
        keep = training or cache
        outputs = {}
        for layer in self.layers:
            x = layer.forward(x, training, rng, cache=keep)
            if cache and not training:
                outputs[layer.name] = x
        if keep:
            self._cached, self.outputs = x.shape[0], outputs
        return x

    def backward_from(self, layer_name: str | None, grad: np.ndarray, *,
                      pre_activation: bool = False, until: str | None = None) -> np.ndarray:
        """The gradient with respect to the model's input, given one at a layer's output.

        Call :meth:`forward` with ``cache=True`` first; any number of ``backward_from``
        calls may follow (the caches stay until the next caching forward).

        Parameters
        ----------
        layer_name : str or None
            The layer whose output ``grad`` belongs to; None means the last layer (the
            probabilities).
        grad : ndarray (N, *that layer's output shape)
            dL/d(that output), e.g. a one-hot row to get d(probability of class k)/dx.
        pre_activation : bool
            ``grad`` is with respect to the layer's output *before* its activation: for the
            last Dense (softmax) that is the logits, so ``backward_from(None, onehot(k),
            pre_activation=True)`` gives d(logit k)/dx (saliency); for a Conv2D the map
            before its ReLU.
        until : str, optional
            Stop at this earlier layer and return dL/d(its output) instead (Grad-CAM takes
            the gradient of a logit at the last conv layer: ``until="conv2d_1"``).

        Returns
        -------
        ndarray (N, H, W, C), or (N, *until's output shape)

        Every layer passed fills its ``layer.grads`` on the way (dL/d(parameters)).
        """
        end = len(self.layers) - 1 if layer_name is None else self._index(layer_name)
        stop = -1 if until is None else self._index(until)
        if stop >= end:
            raise ValueError(f"until={until!r} must name a layer before {self.layers[end].name!r}")
        if self._cached is None:
            raise ValueError("backward_from needs a forward(x, cache=True) first")
        grad = np.asarray(grad)
        want = (self._cached, *self.shapes[end])
        if grad.shape != want:
            raise ValueError(f"the gradient at {self.layers[end].name} must have shape {want}, "
                             f"not {grad.shape}")
        first = self.layers[0]
        saved, first.needs_input_grad = first.needs_input_grad, True
        try:
            for i in range(end, stop, -1):
                layer = self.layers[i]
                if i == end and pre_activation:
                    grad = layer.backward_pre_activation(grad)
                else:
                    grad = layer.backward(grad)
        finally:
            first.needs_input_grad = saved
        return grad

    def clear_cache(self) -> None:
        """Drop the caches of the last forward (they can be large)."""
        for layer in self.layers:
            layer._cache = None
        self._cached = None
        self.outputs = {}

    def _batched(self, x, batch_size: int, run) -> np.ndarray:
        x = self.as_batch(x)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, not {batch_size!r}")
        batch_size = min(batch_size, max(1, x.shape[0]))
        budget.check(self._bytes(batch_size, 4), f"a batch of {batch_size:,} images")
        out = np.empty((x.shape[0], self.classes), np.float32)
        for start in range(0, x.shape[0], batch_size):
            out[start : start + batch_size] = run(x[start : start + batch_size])
        return out

    def predict(self, x, batch_size: int = 500) -> np.ndarray:
        """Class probabilities (N, classes) float32 for images (N, H, W[, C]), float32 in
        0..1 or uint8. Works in batches of ``batch_size``, so the memory does not grow with N."""
        return self._batched(x, batch_size, self.forward)

    def logits(self, x, batch_size: int = 500) -> np.ndarray:
        """The last layer's output before its activation (N, classes): the logits of a model
        ending in softmax. ``softmax(logits(x)) == predict(x)``."""
        *body, last = self.layers

        def run(xb):
            for layer in body:
                xb = layer.forward(xb)
            return last.forward_linear(xb)

        return self._batched(x, batch_size, run)

    def activations(self, x, *, pre_activation: bool = False) -> dict[str, np.ndarray]:
        """Every layer's output by Keras name, e.g. ``"conv2d"`` -> (N, 26, 26, 32).

        Conv2D, Dense and Activation outputs are after their activation (ReLU, softmax), as
        in Keras, so the last layer holds the probabilities; with ``pre_activation=True``
        they are before it (the last layer then holds the logits). Dropout is the identity.
        """
        x = self.as_batch(x)
        out = {}
        for layer in self.layers:
            act = getattr(layer, "activation", "linear")
            if pre_activation and act != "linear":
                z = layer.forward_linear(x)
                out[layer.name] = z
                x = _activate(act, z.copy())
            else:
                x = layer.forward(x)
                out[layer.name] = x
        return out

    # ---- files
    def save(self, path, *, dtype=np.float32) -> Path:
        """Write the weights (``dtype``: float16, float32 or float64) and one JSON metadata
        entry to ``path`` (an ``.npz``), atomically: a failed write leaves any old file."""
        from convdemo.model.files import save

        return save(self, path, dtype=dtype)


def check_array(key: str, shape, dtype, want) -> str | None:
    """What is wrong with an array ``key`` of ``shape`` and ``dtype`` that should have shape
    ``want`` and be floating point, or None. One home for the checks of
    :meth:`Model.set_weights` and of a model file's array headers."""
    if not np.issubdtype(np.dtype(dtype), np.floating):
        return f"{key} holds {np.dtype(dtype)} values, not floating point"
    if tuple(shape) != tuple(want):
        return f"{key} has shape {tuple(shape)}, expected {tuple(want)}"
    return None


def _assemble(spec, input_shape=None, meta=None, classes=None) -> Model:
    """A model from a spec, without parameters; the budget is checked for them first."""
    shape, layers = parse_spec(spec, input_shape, classes)
    model = Model(layers, shape, meta)
    budget.check(model.count_params() * 4, f"the model's {model.count_params():,} parameters")
    return model


def build(spec_or_arch="seed", seed: int = 0, *, input_shape=None, classes=None) -> Model:
    """A fresh model with Keras' default initialisation (Glorot uniform, zero biases).

    Parameters
    ----------
    spec_or_arch : "seed", "deep" or a spec list (see :mod:`convdemo.model.spec`)
    seed : seeds the initial weights
    input_shape : (H, W, C); for a name, default (28, 28, 1); for a spec, its Input entry
        (or (28, 28, 1) without one)
    classes : for a name, the classes of the last Dense (default 10); for a spec, a check
        of its output size
    """
    if isinstance(spec_or_arch, str):
        spec = spec_for(spec_or_arch, input_shape or (28, 28, 1),
                        10 if classes is None else classes)
        input_shape = None
    else:
        spec = spec_or_arch
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a whole number, not {seed!r}")
    model = _assemble(spec, input_shape, classes=classes)
    model.meta = {"arch": model.arch, "seed": int(seed)}
    rng = np.random.default_rng(seed)
    for layer, shape in zip(model.layers, model.in_shapes, strict=True):
        layer.init(shape, rng)
    return model
