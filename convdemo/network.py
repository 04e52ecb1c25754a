"""The whole network for one input, layer by layer, and the arithmetic of any element.

What the network view draws and explains, with no Qt: :func:`trace` runs a model on one image
and keeps every layer's values, split where a layer hides a step (a ``Conv2D`` with ReLU gives
two stages, the conv maps and the maps after ReLU; the last ``Dense`` gives the logits and the
softmax). :func:`explain` (or :meth:`Trace.explain`) returns the arithmetic behind one element
with the real numbers, and :func:`describe` writes it as plain text:

============  ==========================  ==================================================
stage role    element                     arithmetic (:func:`explain` returns)
============  ==========================  ==================================================
input         pixel ``(r, c, ch)``        :class:`InputElement`: the value
conv          pixel ``(r, c, map)``       :class:`ConvPixel`: window, weights, products, sum,
                                          bias (one home: :func:`convdemo.inspection.inspect`)
activation    pixel or unit               :class:`ActivationElement` (``relu(z)``), or the
                                          :class:`ConvPixel` / :class:`DenseUnit` that made it
pool          pixel ``(r, c, map)``       :class:`PoolPixel`: window, winner or mean
dropout       any                         :class:`IdentityElement` (dropout is off at inference)
flatten       ``(i,)``                    :class:`FlattenElement`: where ``i`` came from
dense         unit ``(u,)``               :class:`DenseUnit`: top contributions, full sum
logits        unit ``(k,)``               :class:`DenseUnit` (before softmax)
softmax       class ``(k,)``              :class:`SoftmaxElement`: exp and normalisation
============  ==========================  ==================================================

Receptive fields (:func:`geometry`, :func:`receptive_field`) say which input pixels a map
pixel of any spatial layer reads; Grad-CAM (:mod:`convdemo.attribution`) and the top patches
(:mod:`convdemo.patches`) use them.

:class:`WorkingCopy` is "change it and see": a private copy of a model in which a conv map's
kernel and bias can be replaced or the map switched off, and restored; the loaded model (and
so the file it came from) is never changed.

Layers are read by their ``kind`` (``"Conv2D"``, ``"MaxPooling2D"``, ``"AveragePooling2D"``,
``"GlobalAveragePooling2D"``, ``"Dropout"``, ``"Flatten"``, ``"Dense"``, ``"Activation"``)
and their hyper-parameters, so any model that :func:`convdemo.model.load` loads works.
Values are float32 as the model computes them; the arithmetic is redone in float64, so its
total matches the model's value to float32 rounding (``model_value`` holds the latter).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from convdemo import ops
from convdemo.formatting import format_number
from convdemo.inspection import Inspection, inspect
from convdemo.pipeline import Settings, freeze_kernel

__all__ = [
    "ActivationElement", "ConvPixel", "DenseUnit", "FlattenElement", "Geometry",
    "IdentityElement", "InputElement", "LayerInfo", "PoolPixel", "SoftmaxElement", "Stage",
    "Trace", "WorkingCopy", "activate", "conv_layers", "describe", "explain", "geometry",
    "input_shape", "layer_info", "receptive_field", "trace",
]

#: activations a layer may carry or an ``Activation`` layer may apply
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
#: kinds that pool a window per channel
POOL_KINDS = ("MaxPooling2D", "AveragePooling2D")


# --------------------------------------------------------------------------- layer facts


def input_shape(model) -> tuple[int, ...]:
    """The model's input shape without the batch, ``(H, W, C)`` (28x28x1 for the shipped)."""
    shape = getattr(model, "input_shape", None)
    if shape is None:
        from convdemo.model import INPUT_SHAPE

        shape = INPUT_SHAPE
    return tuple(int(s) for s in shape)


def _pair(value, default) -> tuple[int, int]:
    if value is None:
        value = default
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _window(layer, in_shape: tuple[int, ...]):
    """``(k, s, pad_before, d)``, each a (rows, cols) pair, of a conv or pool layer.

    ``k`` the kernel or pool size, ``s`` the stride, ``pad_before`` the cells of padding before
    the first row/column, ``d`` the dilation. None for a layer that is not a window.
    """
    kind = layer.kind
    if kind == "Conv2D":
        k = _pair(getattr(layer, "kernel_size", None) or getattr(layer, "size", None), 3)
        s = _pair(getattr(layer, "strides", None) or getattr(layer, "stride", None), 1)
        d = _pair(getattr(layer, "dilation_rate", None) or getattr(layer, "dilation", None), 1)
    elif kind in POOL_KINDS:
        k = _pair(getattr(layer, "pool_size", None) or getattr(layer, "size", None), 2)
        s = _pair(getattr(layer, "strides", None) or getattr(layer, "stride", None), k)
        d = (1, 1)
    else:
        return None
    padding = getattr(layer, "padding", "valid")
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(
            isinstance(p, (tuple, list)) for p in padding):
        before = (int(padding[0][0]), int(padding[1][0]))  # ((top, bottom), (left, right))
    else:
        pads = padding if isinstance(padding, (tuple, list)) else (padding, padding)
        before = tuple(
            ops.pad_amounts(in_shape[a], d[a] * (k[a] - 1) + 1, s[a], pads[a])[0]
            for a in (0, 1)
        )
    return k, s, before, d


@dataclass(frozen=True)
class LayerInfo:
    """One layer as ``Model.summary()`` lists it.

    ``output_shape`` is without the batch (``(26, 26, 32)``, ``(128,)``); ``params`` its
    parameter count; ``activation`` the function the layer applies last (``"relu"``,
    ``"softmax"``, ``"linear"``; None for a layer without one, e.g. pooling).
    """

    index: int
    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    activation: str | None


def layer_info(model) -> list[LayerInfo]:
    """:class:`LayerInfo` for every layer of ``model``, in order."""
    shape = input_shape(model)
    out = []
    for i, layer in enumerate(model.layers):
        shapes = getattr(model, "shapes", None)
        new = tuple(shapes[i]) if shapes is not None else tuple(layer.output_shape(shape))
        out.append(LayerInfo(i, layer.name, layer.kind, shape, new, int(layer.count_params()),
                             getattr(layer, "activation", None)))
        shape = new
    return out


def conv_layers(model) -> list[str]:
    """Names of the model's ``Conv2D`` layers, first to last."""
    return [layer.name for layer in model.layers if layer.kind == "Conv2D"]


@dataclass(frozen=True)
class Geometry:
    """Where a spatial layer's pixels look in the input, per axis ``(rows, cols)``.

    Output pixel ``(i, j)`` of the layer reads input rows ``start[0] + i * jump[0]`` to
    ``start[0] + i * jump[0] + size[0] - 1`` (and likewise columns). ``start`` may be negative
    and the last rows past the input when the layers pad. Built layer by layer from the input
    (``jump = 1, start = 0, size = 1``)::

        k_eff = d (k - 1) + 1
        size  <- size + (k_eff - 1) * jump
        start <- start - pad_before * jump
        jump  <- jump * s

    The centre of pixel ``i`` (in continuous input coordinates, pixel ``r`` covering
    ``[r, r + 1)``) is ``start + i * jump + size / 2``.
    """

    jump: tuple[int, int]
    start: tuple[int, int]
    size: tuple[int, int]

    def window(self, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
        """The input rows and columns (may be outside the input) read by pixel (row, col)."""
        r0 = self.start[0] + row * self.jump[0]
        c0 = self.start[1] + col * self.jump[1]
        return np.arange(r0, r0 + self.size[0]), np.arange(c0, c0 + self.size[1])

    def centres(self, n: int, axis: int) -> np.ndarray:
        """Centres (continuous input coordinates) of the first ``n`` pixels along ``axis``."""
        return self.start[axis] + np.arange(n) * self.jump[axis] + self.size[axis] / 2


def geometry(model) -> dict[str, Geometry | None]:
    """The :class:`Geometry` of every layer's output, by layer name (None once flattened)."""
    geo: Geometry | None = Geometry((1, 1), (0, 0), (1, 1))
    shape = input_shape(model)
    out: dict[str, Geometry | None] = {}
    for layer in model.layers:
        if geo is not None:
            win = _window(layer, shape)
            if win is not None:
                k, s, before, d = win
                geo = Geometry(
                    tuple(geo.jump[a] * s[a] for a in (0, 1)),
                    tuple(geo.start[a] - before[a] * geo.jump[a] for a in (0, 1)),
                    tuple(geo.size[a] + d[a] * (k[a] - 1) * geo.jump[a] for a in (0, 1)),
                )
            elif layer.kind not in ("Dropout", "Activation"):
                geo = None  # flatten, dense, global pooling: every input pixel
        out[layer.name] = geo
        shape = tuple(layer.output_shape(shape))
    return out


def receptive_field(model, layer: str, row: int, col: int) -> tuple[np.ndarray, np.ndarray]:
    """Input rows and columns (may be outside the input when layers pad) that pixel
    ``(row, col)`` of ``layer``'s output reads; see :class:`Geometry`."""
    geo = geometry(model).get(layer, "missing")
    if geo == "missing":
        raise ValueError(f"no layer {layer!r} in this model; it has: "
                         f"{', '.join(ly.name for ly in model.layers)}")
    if geo is None:
        raise ValueError(f"layer {layer!r} is not spatial: each of its values reads the whole "
                         "input; choose a convolution or pooling layer")
    return geo.window(row, col)


def activate(z: np.ndarray, name: str) -> np.ndarray:
    """``name`` applied to ``z`` (float64 in, float64 out): linear ``z``, relu ``max(z, 0)``,
    sigmoid ``1 / (1 + exp(-z))``, tanh, softmax over the last axis."""
    z = np.asarray(z, dtype=np.float64)
    if name in (None, "linear"):
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic, without overflow
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")


# --------------------------------------------------------------------------- the trace


@dataclass(frozen=True)
class Stage:
    """One column of the network view: a set of values for the current input.

    Attributes
    ----------
    key : str
        Unique: ``"input"``, the layer's name for its output, ``"<name>:pre"`` for the values
        before the layer's activation (conv maps before ReLU, dense units before ReLU, logits).
    layer : LayerInfo or None
        The layer that computes these values (None for the input). Its ``output_shape`` and
        ``params`` are what ``summary()`` shows; a "pre" stage shares its layer's.
    role : str
        ``"input"``, ``"conv"`` (a convolution's sums + bias), ``"activation"`` (after ReLU,
        sigmoid, tanh), ``"pool"``, ``"dropout"`` (the identity at inference), ``"flatten"``,
        ``"dense"`` (``x @ W + b``), ``"logits"`` (the last layer's sums, before softmax),
        ``"softmax"`` (probabilities) or ``"other"``.
    label : str
        A caption, e.g. ``"conv2d: 32 maps before ReLU"``.
    values : ndarray, float32, read-only
        ``(H, W, C)`` for spatial stages, ``(n,)`` for vectors.
    """

    key: str
    layer: LayerInfo | None
    role: str
    label: str
    values: np.ndarray = field(repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def spatial(self) -> bool:
        return self.values.ndim == 3


@dataclass(frozen=True)
class Trace:
    """A model's values for one input, every layer (see :func:`trace`).

    Attributes
    ----------
    input : ndarray (H, W, C) float32
    layers : tuple of LayerInfo
    stages : tuple of Stage
        Left to right, as the network view draws them.
    probabilities : ndarray (K,) float32
    labels : tuple of str
    """

    input: np.ndarray = field(repr=False)
    layers: tuple[LayerInfo, ...]
    stages: tuple[Stage, ...] = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    labels: tuple[str, ...]
    #: the layer objects and their parameters as they were when traced
    _layers: tuple = field(repr=False, default=())
    _params: tuple = field(repr=False, default=())

    @property
    def prediction(self) -> int:
        """Index of the most probable class."""
        return int(np.argmax(self.probabilities))

    def stage(self, key: int | str) -> Stage:
        """A stage by position or key; ValueError naming the keys when unknown."""
        if isinstance(key, (int, np.integer)):
            if not 0 <= key < len(self.stages):
                raise ValueError(f"stage {key} does not exist; there are {len(self.stages)}")
            return self.stages[int(key)]
        for st in self.stages:
            if st.key == key:
                return st
        raise ValueError(f"no stage {key!r}; stages: {', '.join(s.key for s in self.stages)}")

    def stage_before(self, key: int | str) -> Stage:
        """The values the stage ``key`` is computed from (its layer's input)."""
        st = self.stage(key)
        if st.layer is None:
            raise ValueError("the input has nothing before it")
        i = self.stages.index(st)
        before = self.stages[i - 1]
        while before.layer is not None and before.layer.index == st.layer.index:
            i -= 1
            before = self.stages[i - 1]
        return before

    def explain(self, stage: int | str, index) -> object:
        """The arithmetic of one element; see :func:`explain`."""
        return explain(self, stage, index)


def _checked_image(model, image) -> np.ndarray:
    want = input_shape(model)
    x = np.asarray(image)
    if x.ndim == 2 and want[2] == 1:
        x = x[:, :, None]
    if x.shape != want:
        raise ValueError(
            f"this model takes one image shaped {want[:2]} (grey) or {want}, got {x.shape}"
        )
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("the image has values that are not finite numbers (NaN or infinity)")
    return x


def _pre_activation(layer, x: np.ndarray) -> np.ndarray:
    """The layer's output with its activation left out, by the layer's own forward."""
    twin = copy.copy(layer)  # shares the parameters; nothing of the model is changed
    if hasattr(twin, "forward_linear"):
        return twin.forward_linear(x)
    twin.activation = "linear"
    return twin.forward(x)


def _role(layer, final: bool) -> str:
    kind = layer.kind
    if kind == "Conv2D":
        return "conv"
    if kind in POOL_KINDS or kind == "GlobalAveragePooling2D":
        return "pool"
    if kind == "Dropout":
        return "dropout"
    if kind == "Flatten":
        return "flatten"
    if kind == "Dense":
        return "logits" if final else "dense"
    if kind == "Activation":
        return "softmax" if getattr(layer, "activation", None) == "softmax" else "activation"
    return "other"


def _caption(info: LayerInfo, role: str, pre: bool) -> str:
    act = info.activation
    shape = info.output_shape
    if role == "conv":
        maps = f"{shape[-1]} maps"
        if act in (None, "linear"):
            return f"{info.name}: {maps}"
        return f"{info.name}: {maps} before {act}" if pre else f"{info.name}: after {act}"
    if role in ("dense", "logits"):
        what = "logits" if role == "logits" else f"{shape[-1]} units"
        if act in (None, "linear"):
            return f"{info.name}: {what}"
        if act == "softmax" and not pre:
            return f"{info.name}: softmax"
        return f"{info.name}: {what} before {act}" if pre else f"{info.name}: after {act}"
    return {"pool": f"{info.name}: pooled", "dropout": f"{info.name}: dropout (off)",
            "flatten": f"{info.name}: {shape[0]} values"}.get(role, f"{info.name}")


def trace(model, image) -> Trace:
    """Run ``model`` on one image and keep every layer's values.

    Parameters
    ----------
    model : convdemo.model.Model
        Any loaded model (its ``layers`` are read by ``kind``; nothing in it is changed).
    image : ndarray
        ``(H, W)`` or ``(H, W, C)``, the model's input shape (28x28 grey for the shipped
        models), float in 0..1 or uint8 (divided by 255).

    Returns
    -------
    Trace
        ``stages`` are, left to right: the input; per layer its output, preceded by its
        values before the activation when it has one (``Conv2D``/``Dense`` with relu, sigmoid,
        tanh or softmax). The last layer's pre-activation values are the ``"logits"`` and its
        softmax output the ``"softmax"`` stage. For the shipped ``seed`` model: input
        (28, 28, 1), conv2d:pre (26, 26, 32), conv2d (26, 26, 32), max_pooling2d
        (13, 13, 32), dropout, flatten (5408,), dense:pre (128,), dense (128,), dropout_1,
        dense_1:pre (10,) logits, dense_1 (10,) softmax.
    """
    x = _checked_image(model, image)
    infos = layer_info(model)
    stages = [Stage("input", None, "input", f"input {_shape_text(x.shape)}", _frozen(x))]
    h = x[None]
    n = len(model.layers)
    last = model.layers[-1]
    # the layer whose output is the logits: the last, or the one before a final softmax
    logits_at = n - 2 if last.kind == "Activation" and \
        getattr(last, "activation", None) == "softmax" else n - 1
    for info, layer in zip(infos, model.layers, strict=True):
        final = info.index == logits_at
        role = _role(layer, final)
        if info.activation not in (None, "linear") and layer.kind in ("Conv2D", "Dense"):
            pre = _pre_activation(layer, h)
            pre_role = "logits" if final and info.activation == "softmax" else role
            if role == "logits" and info.activation != "softmax":
                pre_role = "dense"
            stages.append(Stage(f"{info.name}:pre", info, pre_role,
                                _caption(info, role, True), _frozen(pre[0])))
            role = "softmax" if info.activation == "softmax" else "activation"
        h = copy.copy(layer).forward(h)
        stages.append(Stage(info.name, info, role, _caption(info, role, False), _frozen(h[0])))
    probs = np.asarray(h[0], np.float32)
    if stages[-1].role != "softmax":  # a model whose last layer gives logits
        probs = activate(probs, "softmax").astype(np.float32)
    labels = tuple(getattr(model, "labels", ())) or tuple(str(i) for i in range(probs.size))
    return Trace(_frozen(x), tuple(infos), tuple(stages), _frozen(probs), labels,
                 tuple(model.layers), tuple(dict(layer.params) for layer in model.layers))


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float32, copy=True)
    a.setflags(write=False)
    return a


def _shape_text(shape) -> str:
    return "x".join(str(s) for s in shape)


# --------------------------------------------------------------------------- elements


@dataclass(frozen=True)
class InputElement:
    """An input pixel: ``value`` at ``(row, col, channel)``."""

    stage: str
    index: tuple[int, ...]
    value: float


@dataclass(frozen=True)
class IdentityElement:
    """A value passed on unchanged (dropout at inference): ``value`` = the input's."""

    stage: str
    index: tuple[int, ...]
    value: float
    source: str


@dataclass(frozen=True)
class ConvPixel:
    """The arithmetic of conv output ``(row, col)`` of map ``map`` in layer ``layer``.

    ``inspection`` (:class:`convdemo.inspection.Inspection`, the inspector's one home for this
    arithmetic) holds, all float64: ``values`` (kh, kw, Cin) the layer's input under the
    window (zero where it pads), ``kernel`` (kh, kw, Cin) the weights ``K[:, :, :, map]``,
    ``products`` = values * kernel, ``channel_sums`` (Cin,) and ``bias``. Then::

        pre   = sum(products) + bias
        value = activation(pre)         (relu: max(pre, 0); linear: pre)

    ``rows``/``cols`` are the rows and cols of ``source`` (the stage the layer reads) under
    the kernel's taps: ``row * s - pad + a * d`` for ``a`` in ``0..kh-1`` (stride ``s``,
    dilation ``d``; may be outside it when the layer pads). ``model_value`` is the value the
    model's float32 forward gave for this stage (before or after the activation, as
    ``after_activation``).
    """

    stage: str
    layer: str
    source: str
    map: int
    row: int
    col: int
    rows: np.ndarray
    cols: np.ndarray
    inspection: Inspection = field(repr=False)
    pre: float
    activation: str
    value: float
    after_activation: bool
    model_value: float

    @property
    def window(self) -> np.ndarray:
        """(kh, kw, Cin) float64: the inputs under the kernel."""
        return self.inspection.values

    @property
    def weights(self) -> np.ndarray:
        """(kh, kw, Cin) float64: the kernel of this map."""
        return self.inspection.kernel

    @property
    def products(self) -> np.ndarray:
        """(kh, kw, Cin) float64: window * weights."""
        return self.inspection.products

    @property
    def bias(self) -> float:
        return self.inspection.bias

    @property
    def sum(self) -> float:
        """Sum of the products, without the bias."""
        return float(self.inspection.channel_sums.sum())


@dataclass(frozen=True)
class ActivationElement:
    """``value = activation(pre)`` for one element of an ``Activation`` layer."""

    stage: str
    index: tuple[int, ...]
    pre: float
    activation: str
    value: float
    model_value: float


@dataclass(frozen=True)
class PoolPixel:
    """The pooling behind output ``(row, col)`` of channel ``channel`` (``(0, 0)`` for a
    global average, whose window is the whole map).

    ``rows``/``cols``: the rows and columns of ``source`` (the layer's input) in the window
    (only those inside it: padding cells are left out, as Keras' pooling ignores them); ``window``
    (len(rows), len(cols)) float64 the values there; ``mode`` ``"max"`` (``value`` = the
    largest, ``winner`` its (i, j) in the window, the first in row-major order on ties) or
    ``"avg"`` (``value`` = the mean, ``winner`` None).
    """

    stage: str
    layer: str
    source: str
    row: int
    col: int
    channel: int
    mode: str
    rows: np.ndarray
    cols: np.ndarray
    window: np.ndarray = field(repr=False)
    value: float
    winner: tuple[int, int] | None
    model_value: float


@dataclass(frozen=True)
class FlattenElement:
    """Element ``i`` of a flattened vector came from ``source_index`` of ``source``
    (row-major ``(H, W, C)`` order: ``i = (r * W + c) * C + ch``)."""

    stage: str
    index: int
    source: str
    source_index: tuple[int, ...]
    value: float


@dataclass(frozen=True)
class DenseUnit:
    """The arithmetic of unit ``unit`` of a ``Dense`` layer.

    ``inputs`` (n,) the layer's input (the stage ``source``), ``weights`` (n,) the column
    ``W[:, unit]``, ``contributions`` (n,) float64 = inputs * weights, then::

        pre   = sum(contributions) + bias
        value = activation(pre)

    (for the last layer with softmax, ``value`` is ``pre``: the logit; the softmax is the
    :class:`SoftmaxElement`). ``top`` (k,) the indices of the largest ``|contribution|``,
    largest first; ``top_sources`` where each came from before flattening: an index
    ``(r, c, ch)`` into the stage ``sources_stage`` (``(i,)`` when the input is a vector);
    ``rest`` the sum of all the other contributions, so
    ``contributions[top].sum() + rest + bias == pre``.
    """

    stage: str
    layer: str
    source: str
    unit: int
    inputs: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    contributions: np.ndarray = field(repr=False)
    bias: float
    pre: float
    activation: str
    value: float
    top: np.ndarray
    top_sources: tuple[tuple[int, ...], ...]
    sources_stage: str
    rest: float
    model_value: float

    @property
    def sum(self) -> float:
        """Sum of all contributions, without the bias."""
        return float(self.contributions.sum())


@dataclass(frozen=True)
class SoftmaxElement:
    """Softmax of the logits ``z`` (K,), explained for class ``index``::

        m = max(z);  e_k = exp(z_k - m);  p_k = e_k / sum_j e_j

    (subtracting ``m`` changes nothing mathematically, ``exp(z_k) / sum exp(z_j)``, but
    keeps ``exp`` from overflowing). ``exp_raw`` is ``exp(z)`` itself where it fits a float64,
    else ``inf``.
    """

    stage: str
    index: int
    labels: tuple[str, ...]
    logits: np.ndarray
    max_logit: float
    exps: np.ndarray
    exp_raw: np.ndarray
    total: float
    probabilities: np.ndarray
    value: float
    model_value: float


def _index(stage: Stage, index) -> tuple[int, ...]:
    idx = (index,) if isinstance(index, (int, np.integer)) else tuple(int(i) for i in index)
    shape = stage.values.shape
    if len(idx) == 2 and len(shape) == 3 and shape[2] == 1:
        idx = (*idx, 0)
    if len(idx) != len(shape) or not all(0 <= i < n for i, n in zip(idx, shape, strict=True)):
        raise ValueError(f"index {index} is outside stage {stage.key!r}, shaped {shape}; "
                         "give (row, col, map) for maps and (i,) for vectors")
    return idx


def explain(trace: Trace, stage: int | str, index) -> object:
    """The arithmetic of one element of one stage, with the real numbers.

    Parameters
    ----------
    trace : Trace
    stage : int or str
        Position in ``trace.stages`` or its ``key``.
    index : int or tuple of int
        ``(row, col, map)`` for a spatial stage (``(row, col)`` when it has one channel),
        ``i`` or ``(i,)`` for a vector.

    Returns
    -------
    InputElement, ConvPixel, ActivationElement, PoolPixel, IdentityElement, FlattenElement,
    DenseUnit or SoftmaxElement
        See the module's table. Clicking a pixel after a conv layer's ReLU gives that
        pixel's :class:`ConvPixel` (``after_activation`` True); a unit after a dense ReLU its
        :class:`DenseUnit`.
    """
    st = trace.stage(stage)
    idx = _index(st, index)
    model_value = float(st.values[idx])
    if st.role == "input":
        return InputElement(st.key, idx, model_value)
    info = st.layer
    layer = trace._layers[info.index]
    params = trace._params[info.index]
    before = trace.stage_before(st.key)
    x = before.values
    after = not st.key.endswith(":pre")
    if info.kind == "Conv2D":
        return _conv_pixel(st, info, layer, params, before, idx, after, model_value)
    if info.kind == "Dense":
        if st.role == "softmax":
            logits = trace.stage(f"{info.name}:pre").values
            return _softmax(st, logits, idx[0], trace.labels, model_value)
        return _dense_unit(st, info, params, before, trace, idx[0], after, model_value)
    if info.kind in POOL_KINDS or info.kind == "GlobalAveragePooling2D":
        return _pool_pixel(st, info, layer, before, idx, model_value)
    if info.kind == "Dropout":
        return IdentityElement(st.key, idx, float(x[idx]), before.key)
    if info.kind == "Flatten":
        src = tuple(int(i) for i in np.unravel_index(idx[0], x.shape))
        return FlattenElement(st.key, idx[0], before.key, src, float(x[src]))
    if info.kind == "Activation":
        if st.role == "softmax":
            return _softmax(st, x, idx[0], trace.labels, model_value)
        pre = float(x[idx])
        return ActivationElement(st.key, idx, pre, info.activation,
                                 float(activate(pre, info.activation)), model_value)
    raise ValueError(f"cannot explain a {info.kind} layer ({info.name}) yet")


def _conv_pixel(st, info, layer, params, before, idx, after, model_value) -> ConvPixel:
    x = before.values
    row, col, j = idx
    k, s, pads, d = _window(layer, x.shape)
    kernel = np.asarray(params["kernel"])[:, :, :, j]
    bias = float(np.asarray(params["bias"])[j]) if "bias" in params else 0.0
    pad = (pads[0], pads[1])
    if s[0] != s[1] or pad[0] != pad[1] or d[0] != d[1]:
        raise ValueError(f"{info.name} has different row and column strides, paddings or "
                         "dilations; its pixel arithmetic is not shown yet")
    settings = Settings(kernel=freeze_kernel(kernel), stride=s[0], padding=pad[0],
                        border="zeros", channels="sum", bias=bias, dilation=d[0],
                        relu=info.activation == "relu")
    ins = inspect(x, settings, row, col)
    pre = ins.total
    act = info.activation or "linear"
    value = float(activate(pre, act)) if after else pre
    return ConvPixel(st.key, info.name, before.key, j, row, col, ins.rows, ins.cols, ins, pre, act,
                     value, after, model_value)


def _pool_pixel(st, info, layer, before, idx, model_value) -> PoolPixel:
    x = before.values
    if info.kind == "GlobalAveragePooling2D":
        row, col, ch = 0, 0, idx[0]
        rows, cols = np.arange(x.shape[0]), np.arange(x.shape[1])
        mode = "avg"
    else:
        row, col, ch = idx
        k, s, pads, _ = _window(layer, x.shape)
        rows = np.arange(k[0]) + row * s[0] - pads[0]
        cols = np.arange(k[1]) + col * s[1] - pads[1]
        rows = rows[(rows >= 0) & (rows < x.shape[0])]
        cols = cols[(cols >= 0) & (cols < x.shape[1])]
        mode = "max" if info.kind == "MaxPooling2D" else "avg"
    window = x[np.ix_(rows, cols)][:, :, ch].astype(np.float64)
    if mode == "max":
        flat = int(np.argmax(window))
        winner = divmod(flat, window.shape[1])
        value = float(window.max())
    elif getattr(layer, "count_include_pad", False):  # padding cells count as zeros
        k, _, _, _ = _window(layer, x.shape)
        winner, value = None, float(window.sum() / (k[0] * k[1]))
    else:
        winner, value = None, float(window.mean())
    return PoolPixel(st.key, info.name, before.key, row, col, ch, mode, rows, cols, window, value,
                     winner, model_value)


def _dense_unit(st, info, params, before, trace, unit, after, model_value,
                top: int = 10) -> DenseUnit:
    x = before.values.astype(np.float64).ravel()
    w = np.asarray(params["kernel"], np.float64)[:, unit]
    bias = float(np.asarray(params["bias"])[unit]) if "bias" in params else 0.0
    contrib = x * w
    pre = float(contrib.sum() + bias)
    act = info.activation or "linear"
    value = pre
    if after and act != "softmax":
        value = float(activate(pre, act))
    order = np.argsort(-np.abs(contrib), kind="stable")[:top]
    # where each input came from, before any flattening
    source = before
    while source.role in ("flatten", "dropout") and source.layer is not None:
        source = trace.stage_before(source.key)
    shape = source.values.shape
    if len(shape) > 1 and int(np.prod(shape)) == x.size:
        sources = tuple(tuple(int(v) for v in np.unravel_index(i, shape)) for i in order)
    else:
        sources = tuple((int(i),) for i in order)
    rest = float(contrib.sum() - contrib[order].sum())
    return DenseUnit(st.key, info.name, before.key, unit, x, w, contrib, bias, pre, act, value,
                     order, sources, source.key, rest, model_value)


def _softmax(st, logits, k, labels, model_value) -> SoftmaxElement:
    z = np.asarray(logits, np.float64)
    m = float(z.max())
    e = np.exp(z - m)
    with np.errstate(over="ignore"):
        raw = np.exp(z)
    total = float(e.sum())
    p = e / total
    names = tuple(labels) if len(labels) == z.size else tuple(str(i) for i in range(z.size))
    return SoftmaxElement(st.key, int(k), names, z, m, e, raw, total, p, float(p[k]),
                          model_value)


# --------------------------------------------------------------------------- text


def _n(v: float) -> str:
    return format_number(float(np.float32(v)), mark_rounded=False)


def describe(element, top: int = 5) -> str:
    """The element's arithmetic as plain text (a few lines, the real numbers), e.g.::

        conv2d map 4, pixel (10, 12): sum of 9 products 1.234 + bias -0.1 = 1.134
        -> relu = 1.134
    """
    e = element
    if isinstance(e, InputElement):
        return f"input pixel {e.index}: {_n(e.value)}"
    if isinstance(e, IdentityElement):
        return f"{e.stage} {e.index}: {_n(e.value)}, passed on unchanged (dropout is off " \
               "at inference)"
    if isinstance(e, ConvPixel):
        ins = e.inspection
        kh, kw, cin = ins.values.shape
        terms = f"sum of {kh}x{kw}x{cin} = {kh * kw * cin} products"
        text = (f"{e.layer} map {e.map}, pixel ({e.row}, {e.col}): reads {e.source} rows "
                f"{e.rows[0]}..{e.rows[-1]}, cols {e.cols[0]}..{e.cols[-1]}\n"
                f"{terms} {_n(e.sum)} + bias {_n(e.bias)} = {_n(e.pre)}")
        if e.after_activation and e.activation != "linear":
            text += f"\n{e.activation}({_n(e.pre)}) = {_n(e.value)}"
        return text
    if isinstance(e, ActivationElement):
        return f"{e.stage} {e.index}: {e.activation}({_n(e.pre)}) = {_n(e.value)}"
    if isinstance(e, PoolPixel):
        cells = ", ".join(_n(v) for v in e.window.ravel())
        where = f"{e.source} rows {e.rows[0]}..{e.rows[-1]}, cols {e.cols[0]}..{e.cols[-1]}"
        if e.mode == "max":
            r, c = e.winner
            return (f"{e.layer} map {e.channel}, pixel ({e.row}, {e.col}): max of [{cells}] "
                    f"({where}) = {_n(e.value)}, the winner at row {e.rows[r]}, "
                    f"col {e.cols[c]}")
        return (f"{e.layer} map {e.channel}, pixel ({e.row}, {e.col}): mean of "
                f"{e.window.size} values ({where}) = {_n(e.value)}")
    if isinstance(e, FlattenElement):
        return f"{e.stage}[{e.index}] = {e.source}{list(e.source_index)} = {_n(e.value)}"
    if isinstance(e, DenseUnit):
        lines = [f"{e.layer} unit {e.unit}: {e.inputs.size} inputs x weights, the largest:"]
        for i, src in zip(e.top[:top], e.top_sources[:top], strict=False):
            lines.append(f"  {e.sources_stage}{list(src)}: {_n(e.inputs[i])} x "
                         f"{_n(e.weights[i])} = {_n(e.contributions[i])}")
        shown = e.contributions[e.top[:top]].sum()
        lines.append(f"  the other {e.inputs.size - min(top, e.top.size)}: "
                     f"{_n(e.sum - shown)}")
        lines.append(f"sum {_n(e.sum)} + bias {_n(e.bias)} = {_n(e.pre)}")
        if e.activation not in ("linear", "softmax") and e.value != e.pre:
            lines.append(f"{e.activation}({_n(e.pre)}) = {_n(e.value)}")
        elif e.activation not in ("linear", "softmax"):
            lines.append(f"{e.activation}: {_n(e.value)}")
        return "\n".join(lines)
    if isinstance(e, SoftmaxElement):
        k = e.index
        return (f"softmax, class {e.labels[k]}: exp({_n(e.logits[k])} - {_n(e.max_logit)}) = "
                f"{_n(e.exps[k])}; the sum of all {e.exps.size} exps is {_n(e.total)}\n"
                f"p = {_n(e.exps[k])} / {_n(e.total)} = {_n(e.value)}")
    raise ValueError(f"cannot describe {type(e).__name__}")


# --------------------------------------------------------------------------- working copy


class WorkingCopy:
    """A private copy of a model to change and see: replace a conv map's kernel and bias
    ("send to network"), switch maps off (ablate), restore.

    The loaded model, and the file it came from, are never changed: the copy owns its own
    parameter arrays, and every change puts in new arrays (never writes into old ones), so a
    :class:`Trace` made before a change keeps the numbers it was made with.

    Parameters
    ----------
    model : convdemo.model.Model

    Attributes
    ----------
    model : Model
        The working copy: predict, trace and explain with it.
    """

    def __init__(self, model) -> None:
        self.model = model.copy() if hasattr(model, "copy") else copy.deepcopy(model)
        self._original = {
            layer.name: {k: np.array(v, copy=True) for k, v in layer.params.items()}
            for layer in self.model.layers
        }
        for weights in self._original.values():
            for v in weights.values():
                v.setflags(write=False)
        self._kernels: dict[tuple[str, int], tuple[np.ndarray, float]] = {}
        self._ablated: set[tuple[str, int]] = set()

    # ---- queries
    @property
    def modified(self) -> bool:
        """Whether any map differs from the trained weights."""
        return bool(self._kernels or self._ablated)

    @property
    def ablated(self) -> frozenset[tuple[str, int]]:
        """The ``(layer, map)`` pairs switched off."""
        return frozenset(self._ablated)

    @property
    def edited(self) -> frozenset[tuple[str, int]]:
        """The ``(layer, map)`` pairs with a replaced kernel."""
        return frozenset(self._kernels)

    def original(self, layer: str, map: int) -> tuple[np.ndarray, float]:
        """The trained ``(kernel (kh, kw, Cin) float32, bias)`` of a map (read-only)."""
        self._conv(layer, map)
        w = self._original[layer]
        return w["kernel"][:, :, :, map], float(w["bias"][map]) if "bias" in w else 0.0

    def kernel(self, layer: str, map: int) -> tuple[np.ndarray, float]:
        """The map's ``(kernel (kh, kw, Cin) float32 copy, bias)`` in the working copy now."""
        conv = self._conv(layer, map)
        bias = float(conv.params["bias"][map]) if "bias" in conv.params else 0.0
        return conv.params["kernel"][:, :, :, map].copy(), bias

    # ---- changes
    def set_kernel(self, layer: str, map: int, kernel, bias: float | None = None, *,
                   in_channel: int | None = None) -> None:
        """Replace map ``map`` of conv layer ``layer`` ("send to network").

        Parameters
        ----------
        kernel : array_like
            ``(kh, kw)`` or ``(kh, kw, Cin)``, the layer's kernel size. A 2-D kernel replaces
            the whole filter when the layer reads one channel; for a layer reading ``Cin > 1``
            maps give ``in_channel`` to replace only that slice ``K[:, :, in_channel, map]``.
        bias : float, optional
            The new bias; None keeps the current one.

        A map that was switched off stays off until :meth:`restore` or :meth:`ablate`
        (``on=True``).
        """
        conv = self._conv(layer, map)
        kh, kw, cin, _ = conv.params["kernel"].shape
        k = np.asarray(kernel, dtype=np.float64)
        if not np.all(np.isfinite(k)) or (k.size and np.abs(k).max() > np.finfo(np.float32).max):
            raise ValueError("the kernel has values that are not finite float32 numbers")
        # edits build on the last edit of this map, else on the trained filter
        current, cur_bias = self._kernels.get((layer, map)) or self.original(layer, map)
        new = np.array(current, dtype=np.float32, copy=True)
        if in_channel is not None:
            if not 0 <= in_channel < cin:
                raise ValueError(f"in_channel {in_channel} is outside 0..{cin - 1} "
                                 f"({layer} reads {cin} maps)")
            if k.shape != (kh, kw):
                raise ValueError(f"a slice of {layer}'s kernel is {kh}x{kw}, got {k.shape}")
            new[:, :, in_channel] = k
        elif k.shape == (kh, kw) and cin == 1:
            new[:, :, 0] = k
        elif k.shape == (kh, kw, cin):
            new[:] = k
        else:
            hint = f"; or give in_channel= to replace one of its {cin} slices" if cin > 1 \
                else ""
            raise ValueError(f"{layer} needs a {kh}x{kw}x{cin} kernel, got shape {k.shape}"
                             f"{hint}")
        if bias is not None:
            if not math.isfinite(float(bias)):
                raise ValueError("the bias must be a finite number")
            cur_bias = float(bias)
        self._kernels[(layer, map)] = (new, float(cur_bias))
        self._apply(layer)

    def ablate(self, layer: str, map: int, on: bool = False) -> None:
        """Switch map ``map`` of conv layer ``layer`` off (its kernel and bias read as zero,
        so the map is 0 everywhere, after ReLU too), or back on with ``on=True``."""
        self._conv(layer, map)
        if on:
            self._ablated.discard((layer, map))
        else:
            self._ablated.add((layer, map))
        self._apply(layer)

    def restore(self, layer: str | None = None, map: int | None = None) -> None:
        """Return to the trained weights: everything, one layer, or one map."""
        if layer is not None:
            self._conv(layer, map if map is not None else 0)
        for store in (self._kernels, self._ablated):
            for key in list(store):
                if (layer is None or key[0] == layer) and (map is None or key[1] == map):
                    if isinstance(store, dict):
                        del store[key]
                    else:
                        store.discard(key)
        for name in [layer] if layer is not None else list(self._original):
            self._apply(name)

    # ---- inside
    def _conv(self, layer: str, map: int):
        found = None
        for ly in self.model.layers:
            if ly.name == layer:
                found = ly
        if found is None:
            raise ValueError(f"no layer {layer!r} in this model; its conv layers are: "
                             f"{', '.join(conv_layers(self.model))}")
        if found.kind != "Conv2D":
            raise ValueError(f"{layer} is a {found.kind}; only convolution maps can be "
                             f"changed ({', '.join(conv_layers(self.model))})")
        n = found.params["kernel"].shape[3]
        if not 0 <= int(map) < n:
            raise ValueError(f"{layer} has maps 0..{n - 1}, not {map}")
        return found

    def _apply(self, name: str) -> None:
        layer = next(ly for ly in self.model.layers if ly.name == name)
        original = self._original[name]
        if layer.kind != "Conv2D":
            layer.params = {k: v.copy() for k, v in original.items()}
            return
        kernel = original["kernel"].copy()
        bias = original["bias"].copy() if "bias" in original else None
        for (lname, j), (k, b) in self._kernels.items():
            if lname == name:
                kernel[:, :, :, j] = k
                if bias is not None:
                    bias[j] = b
        for lname, j in self._ablated:
            if lname == name:
                kernel[:, :, :, j] = 0
                if bias is not None:
                    bias[j] = 0
        params = dict(layer.params)
        params["kernel"] = kernel
        if bias is not None:
            params["bias"] = bias
        layer.params = params  # new arrays, swapped in at once
