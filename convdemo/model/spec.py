"""A model as data: the JSON-able spec list, its checks, and the lecture's architectures.

A spec is a list of dicts, the first optionally the input, then one per layer, in order::

    [{"type": "Input", "shape": [28, 28, 1]},
     {"type": "Conv2D", "name": "conv2d", "filters": 32, "kernel_size": [3, 3],
      "strides": [1, 1], "padding": "valid", "dilation_rate": [1, 1], "activation": "relu"},
     {"type": "MaxPooling2D", "name": "max_pooling2d", "pool_size": [2, 2], "strides": [2, 2],
      "padding": "valid"},
     {"type": "Flatten", "name": "flatten"},
     {"type": "Dense", "name": "dense_1", "units": 10, "activation": "softmax"}]

Each layer dict has ``"type"`` (a key of :data:`convdemo.model.layers.LAYER_TYPES`), an
optional ``"name"`` (missing names are given as Keras gives them: ``conv2d``, ``conv2d_1``,
``max_pooling2d``, ...) and that layer's fields, with the constructor's defaults for the ones
left out. ``Model.spec`` gives the full form (every field written), which is what a saved
model's metadata holds. The model's output must be flat: one score per class.
"""

from __future__ import annotations

import inspect
import re

import numpy as np

from convdemo.model.layers import LAYER_TYPES, Layer, check_name, show

__all__ = ["ARCHS", "INPUT_SHAPE", "arch_of", "check_input_shape", "full_spec", "lecture_spec",
           "parse_spec", "spec_for"]

#: the named architectures: the lecture's model and its "99%" variant
ARCHS = ("seed", "deep")
#: the lecture's input: 28x28 grey
INPUT_SHAPE = (28, 28, 1)
#: the lecture's dropout rate
DROPOUT = 0.4
MAX_LAYERS = 1000
MAX_SIDE = 1 << 16
MAX_CHANNELS = 1 << 12
MAX_CLASSES = 1 << 16


def _snake(kind: str) -> str:
    """Keras' automatic name stem: ``MaxPooling2D`` -> ``max_pooling2d``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", kind).lower().replace("2_d", "2d")


def lecture_spec(input_shape=INPUT_SHAPE, classes: int = 10, dropout: bool = True,
                 second_conv: bool = False) -> list[dict]:
    """The lecture's model and its variants, as a full spec.

    ``conv2d`` (Conv2D 32 3x3 relu) -> ``max_pooling2d`` (2) [-> ``conv2d_1`` (Conv2D 64 3x3
    relu) -> ``max_pooling2d_1`` (2)] [-> ``dropout`` (0.4)] -> ``flatten`` -> ``dense``
    (128 relu) [-> ``dropout_1`` (0.4)] -> ``dense_1`` (``classes`` softmax).

    ``lecture_spec()`` is the ``seed`` architecture and ``lecture_spec(second_conv=True)`` the
    ``deep`` one. ``input_shape`` is (H, W, C), e.g. (32, 32, 3) for colour pictures.
    """
    for flag, what in ((dropout, "dropout"), (second_conv, "second_conv")):
        if not isinstance(flag, bool):
            raise ValueError(f"{what} must be True or False, not {show.repr(flag)}")
    shape = check_input_shape(input_shape)
    layers: list[dict] = [
        {"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
        {"type": "MaxPooling2D", "pool_size": 2},
    ]
    if second_conv:
        layers += [
            {"type": "Conv2D", "filters": 64, "kernel_size": 3, "activation": "relu"},
            {"type": "MaxPooling2D", "pool_size": 2},
        ]
    if dropout:
        layers.append({"type": "Dropout", "rate": DROPOUT})
    layers += [{"type": "Flatten"}, {"type": "Dense", "units": 128, "activation": "relu"}]
    if dropout:
        layers.append({"type": "Dropout", "rate": DROPOUT})
    layers.append({"type": "Dense", "units": _classes(classes), "activation": "softmax"})
    spec = [{"type": "Input", "shape": list(shape)}, *layers]
    found, parsed = parse_spec(spec)
    return full_spec(found, parsed)


def spec_for(arch: str, input_shape=INPUT_SHAPE, classes: int = 10) -> list[dict]:
    """The spec of a named architecture (``seed`` or ``deep``)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHS)}")
    return lecture_spec(input_shape, classes, dropout=True, second_conv=arch == "deep")


def full_spec(input_shape, layers: list[Layer]) -> list[dict]:
    """The spec of checked layers, every field written."""
    return [{"type": "Input", "shape": list(input_shape)}, *(lay.config() for lay in layers)]


def arch_of(spec: list[dict], input_shape, classes: int) -> str:
    """``"seed"`` or ``"deep"`` when the full spec is that architecture (for its own input
    shape and class count), else ``"custom"``."""
    for arch in ARCHS:
        try:
            if spec == spec_for(arch, input_shape, classes):
                return arch
        except ValueError:  # the architecture does not fit this input
            continue
    return "custom"


def check_input_shape(value) -> tuple[int, int, int]:
    if (
        not isinstance(value, (list, tuple)) or len(value) != 3
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value)
        or not (1 <= value[0] <= MAX_SIDE and 1 <= value[1] <= MAX_SIDE)
        or not 1 <= value[2] <= MAX_CHANNELS
    ):
        raise ValueError(
            f"the input shape must be (height, width, channels), whole numbers with "
            f"1 <= height, width <= {MAX_SIDE} and 1 <= channels <= {MAX_CHANNELS}, "
            f"not {show.repr(value)}"
        )
    return (int(value[0]), int(value[1]), int(value[2]))


def _classes(value) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not 1 <= value <= MAX_CLASSES):
        raise ValueError(
            f"classes must be a whole number from 1 to {MAX_CLASSES}, not {show.repr(value)}"
        )
    return int(value)


def _layer(entry, index: int, name: str) -> Layer:
    """One checked layer from its dict (``name`` already chosen)."""
    kind = entry.get("type")
    cls = LAYER_TYPES[kind]
    kwargs = {k: v for k, v in entry.items() if k not in ("type", "name")}
    unknown = sorted(set(kwargs) - set(cls.fields))
    if unknown:
        raise ValueError(
            f"layer {index} ({kind} {name}) has no field {show.repr(unknown[0])}; a {kind} takes: "
            f"{', '.join(cls.fields) or 'no fields'}"
        )
    params = inspect.signature(cls.__init__).parameters
    needed = [p for p in list(params)[2:] if params[p].default is inspect.Parameter.empty]
    missing = [p for p in needed if p not in kwargs]
    if missing:
        raise ValueError(f"layer {index} ({kind} {name}) needs {missing[0]!r}")
    return cls(name, **kwargs)


def parse_spec(spec, input_shape=None, classes=None) -> tuple[tuple[int, int, int], list[Layer]]:
    """Check a spec and make its layers (without parameters).

    Parameters
    ----------
    spec : list of dict
        As in the module's docstring.
    input_shape : (H, W, C), optional
        Needed when the spec has no ``Input`` entry (then the default is (28, 28, 1)); must
        agree with it when it has one.
    classes : int, optional
        If given, the model's output must have this many values.

    Returns
    -------
    (input_shape, layers)

    Raises
    ------
    ValueError
        One sentence naming the entry that is wrong and what is allowed.
    """
    if not isinstance(spec, (list, tuple)) or not spec:
        raise ValueError(
            f"a model spec must be a non-empty list of layers, not {type(spec).__name__}"
        )
    if len(spec) > MAX_LAYERS + 1:
        raise ValueError(f"a model spec may have at most {MAX_LAYERS} layers, not {len(spec)}")
    for i, entry in enumerate(spec):
        if not isinstance(entry, dict):
            raise ValueError(f"layer {i} of the spec must be a dict, not {type(entry).__name__}")
        kind = entry.get("type")
        allowed = LAYER_TYPES if i else ("Input", *LAYER_TYPES)
        if not isinstance(kind, str) or kind not in allowed:
            raise ValueError(
                f"layer {i} of the spec has type {show.repr(kind)}; "
                f"the types are {', '.join(allowed)}"
            )
    entries = list(spec)
    shape = input_shape
    has_input = entries[0]["type"] == "Input"
    if has_input:
        first = entries.pop(0)
        if set(first) != {"type", "shape"}:
            raise ValueError(
                'the spec\'s Input entry must be {"type": "Input", "shape": [H, W, C]}'
            )
        shape = check_input_shape(first["shape"])
        if input_shape is not None and tuple(input_shape) != shape:
            raise ValueError(
                f"input_shape {tuple(input_shape)} disagrees with the spec's Input {shape}"
            )
    shape = check_input_shape(INPUT_SHAPE if shape is None else shape)
    if not entries:
        raise ValueError("a model spec needs at least one layer after its Input")

    used = {e["name"] for e in entries if "name" in e and isinstance(e["name"], str)}
    counts: dict[str, int] = {}
    layers: list[Layer] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=int(has_input)):
        name = entry.get("name")
        if name is None:
            stem = _snake(entry["type"])
            while True:
                k = counts.get(stem, 0)
                counts[stem] = k + 1
                name = stem if k == 0 else f"{stem}_{k}"
                if name not in used:
                    break
        layer = _layer(entry, i, check_name(name))
        if layer.name in seen:
            raise ValueError(f"two layers are named {layer.name!r}; each name must be unique")
        seen.add(layer.name)
        layers.append(layer)

    out = shape
    for layer in layers:
        out = layer.output_shape(out)
    if len(out) != 1:
        raise ValueError(
            f"the last layer ({layers[-1].name}) must give one score per class (a flat output), "
            f"not {out}; end with Flatten or GlobalAveragePooling2D and Dense"
        )
    if classes is not None and _classes(classes) != out[0]:
        raise ValueError(f"the spec gives {out[0]} classes, not the {classes} asked for")
    return shape, layers
