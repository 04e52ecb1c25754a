"""The layers of the sequential CNN, each with a forward and a backward pass.

Arrays are NHWC (``(N, H, W, C)``) or, after :class:`Flatten`, ``(N, K)``. The layers keep
the dtype they are given: float32 in the app and the trainer, float64 in the gradient checks.

Every layer has

* ``forward(x, training=False, rng=None, *, cache=None)``: the output. With ``training``
  (dropout active) or ``cache=True`` (dropout off) it keeps what ``backward`` needs.
  A cache made by a training forward is dropped by the backward that uses it; one made
  with ``cache=True`` stays until the next caching forward, so several gradients can be
  taken. A forward without a cache (inference) neither reads nor changes the cache.
* ``backward(grad)``: given dL/d(output) of the last cached forward, fills
  ``layer.grads`` (dL/d(parameter), same shapes as ``layer.params``) and returns
  dL/d(input), or ``None`` when ``needs_input_grad`` is False (the first layer in training).
* ``backward_pre_activation(grad)``: the same from dL/d(the output before the layer's
  activation); for a ``Dense(..., "softmax")`` that is dL/d(logits), which for
  cross-entropy is simply ``p - t`` (``backward_logits`` is its older name).
* ``config()``: the layer as a JSON-able dict (see :mod:`convdemo.model.spec`).

Padding (Conv2D and pooling) is ``"valid"`` (none), ``"same"`` (TensorFlow's rule: the
output has ``ceil(n / stride)`` rows; the ``total = max((out - 1) * stride + k_eff - n, 0)``
padded rows are split ``total // 2`` before and the rest after), an int ``p`` (``p`` on all
four sides, PyTorch's ``padding=p``), a pair ``[ph, pw]``, or ``[[top, bottom], [left,
right]]``. With ``k_eff = dilation * (k - 1) + 1`` the output size along an axis is
``(n + before + after - k_eff) // stride + 1``.
"""

from __future__ import annotations

import math
import re
import reprlib

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convdemo.ops.shapes import out_len, pad_amounts

__all__ = [
    "ACTIVATIONS", "Activation", "AveragePooling2D", "Conv2D", "Dense", "Dropout", "Flatten",
    "GlobalAveragePooling2D", "LAYER_TYPES", "Layer", "MaxPooling2D", "im2col", "softmax",
]

#: the activations every layer with an ``activation`` accepts
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
#: upper bounds for a layer's numbers (a spec read from a file is checked against them)
MAX_UNITS = 1 << 20
MAX_WINDOW = 255
MAX_STEP = 255
MAX_PAD = 4096
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/\-]{0,99}")

#: a short, safe repr for messages about values read from files (bounded length and depth)
show = reprlib.Repr()
show.maxstring = show.maxother = 40


# --------------------------------------------------------------------------- checks


def _fail(layer: str, text: str):
    raise ValueError(f"layer {layer}: {text}")


def _int(value, what: str, layer: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        _fail(layer, f"{what} must be a whole number from {lo} to {hi}, not {show.repr(value)}")
    if not lo <= value <= hi:
        _fail(layer, f"{what} must be from {lo} to {hi}, not {value}")
    return int(value)


def _pair(value, what: str, layer: str, lo: int, hi: int) -> tuple[int, int]:
    """An int or two ints (rows, columns) -> a tuple of two ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            _fail(layer, f"{what} must be one number or two (rows, columns), "
                  f"not {show.repr(value)}")
        return (_int(value[0], what, layer, lo, hi), _int(value[1], what, layer, lo, hi))
    v = _int(value, what, layer, lo, hi)
    return (v, v)


def _padding(value, layer: str):
    """``"valid"``, ``"same"`` or ((top, bottom), (left, right))."""
    allowed = ('"valid", "same", a number of pixels, [rows, columns] or '
               "[[top, bottom], [left, right]]")
    if isinstance(value, str):
        if value.lower() not in ("valid", "same"):
            _fail(layer, f"padding must be {allowed}, not {show.repr(value)}")
        return value.lower()
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (list, tuple)) for v in value
    ):
        return tuple(_pair(v, "padding", layer, 0, MAX_PAD) for v in value)
    if isinstance(value, (list, tuple)) or isinstance(value, (int, np.integer)):
        ph, pw = _pair(value, "padding", layer, 0, MAX_PAD)
        return ((ph, ph), (pw, pw))
    _fail(layer, f"padding must be {allowed}, not {show.repr(value)}")


def _padding_config(padding):
    """The shortest JSON form of a checked padding."""
    if isinstance(padding, str):
        return padding
    (t, b), (left, r) = padding
    if t == b == left == r:
        return t
    if t == b and left == r:
        return [t, left]
    return [[t, b], [left, r]]


def _activation(value, layer: str) -> str:
    if not isinstance(value, str) or value not in ACTIVATIONS:
        _fail(layer, f"activation must be one of {', '.join(ACTIVATIONS)}, not {show.repr(value)}")
    return value


def check_name(name) -> str:
    """A layer name: 1 to 100 of letters, digits and ``_ . : / -``, not starting with a sign."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"a layer name must be 1 to 100 letters, digits, '_', '.', ':', '/' or '-' "
            f"(starting with a letter, digit or '_'), not {show.repr(name)}"
        )
    return name


# --------------------------------------------------------------------------- maths


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, numerically stable: ``exp(z - max) / sum(exp(z - max))``."""
    z = z - z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    """``name``'s activation of ``z``; may overwrite ``z`` (callers pass a fresh array)."""
    if name == "relu":
        return np.maximum(z, 0, out=z)
    if name == "softmax":
        return softmax(z)
    if name == "sigmoid":  # 1 / (1 + e^-z), without overflow for large |z|
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)
    if name == "tanh":
        return np.tanh(z, out=z)
    return z


def _activation_grad(name: str, y: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """dL/dz from dL/dy for ``y = act(z)``, using only ``y``:
    relu ``g * (y > 0)``, sigmoid ``g * y * (1 - y)``, tanh ``g * (1 - y^2)``,
    softmax (last axis) ``y * (g - sum(g * y))``."""
    if name == "relu":
        return grad * (y > 0)
    if name == "softmax":
        return y * (grad - (grad * y).sum(axis=-1, keepdims=True))
    if name == "sigmoid":
        return grad * y * (1 - y)
    if name == "tanh":
        return grad * (1 - y * y)
    return grad


def _geometry(padding, h: int, w: int, window, strides, dilation=(1, 1)):
    """((top, bottom), (left, right)) and (H', W') for an (h, w) input, a checked padding,
    a window (kh, kw), strides and dilation; "valid" and "same" as
    :func:`convdemo.ops.pad_amounts` has them (the one home of that rule)."""
    hw = (h, w)
    if isinstance(padding, str):
        pads = tuple(pad_amounts(n, k, s, padding, dilation=d)
                     for n, k, s, d in zip(hw, window, strides, dilation, strict=True))
    else:
        pads = padding
    outs = tuple(out_len(n, d * (k - 1) + 1, s, before, after)
                 for n, k, s, d, (before, after) in zip(hw, window, strides, dilation, pads,
                                                         strict=True))
    return pads, outs


def im2col(x: np.ndarray, kh: int, kw: int, strides=(1, 1), dilation=(1, 1)) -> np.ndarray:
    """Patches of ``x`` (N, H, W, C) as rows: (N, H', W', kh*kw*C), order (kh, kw, C).

    With ``k_eff = d * (k - 1) + 1``: ``H' = (H - k_eff_h) // s_h + 1`` (likewise W'), and
    row ``(n, i, j)`` holds ``x[n, i*s_h + a*d_h, j*s_w + b*d_w, c]`` for every tap
    ``(a, b, c)``. A strided window view (no copy) and one copy with channels innermost;
    multiplied by the kernel reshaped to (kh*kw*C, Cout) it gives a cross-correlation.
    """
    n, h, w, c = x.shape
    (sh, sw), (dh, dw) = strides, dilation
    win = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    if sh != 1 or sw != 1:
        win = win[:, ::sh, ::sw]
    if dh != 1 or dw != 1:
        win = win[..., ::dh, ::dw]
    win = win.transpose(0, 1, 2, 4, 5, 3)  # (N, H', W', kh, kw, C), still no copy
    return win.reshape(n, win.shape[1], win.shape[2], kh * kw * c)


def _tap(a: int, b: int, ho: int, wo: int, strides, dilation=(1, 1)):
    """The (rows, columns) slices of the padded input that tap (a, b) reads, for every output."""
    (sh, sw), (dh, dw) = strides, dilation
    return (slice(a * dh, a * dh + sh * (ho - 1) + 1, sh),
            slice(b * dw, b * dw + sw * (wo - 1) + 1, sw))


def _glorot_uniform(rng: np.random.Generator, shape, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


# --------------------------------------------------------------------------- the base


class Layer:
    """Base class: a named layer with parameters, a forward and a backward pass.

    Subclasses set ``kind`` (the spec's ``"type"`` and the summary's type) and ``fields``
    (the constructor's keyword arguments that :meth:`config` writes).
    """

    kind = "Layer"
    fields: tuple[str, ...] = ()

    def __init__(self, name: str) -> None:
        self.name = check_name(name)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        #: set by the model: does backward need to return the input gradient?
        self.needs_input_grad = True
        self._cache = None
        self._persist = False

    def config(self) -> dict:
        """This layer as a JSON-able dict: ``{"type": kind, "name": name, **fields}``."""
        out = {"type": self.kind, "name": self.name}
        for key in self.fields:
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (without batch) for an input of shape ``in_shape`` (without batch);
        ValueError if the layer cannot take such an input."""
        return tuple(in_shape)

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The shapes of the parameters for an input of shape ``in_shape``."""
        return {}

    def init(self, in_shape: tuple[int, ...], rng: np.random.Generator) -> None:
        """Create the parameters (Keras defaults: Glorot uniform kernels, zero biases)."""

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    # ---- passes
    def forward(self, x: np.ndarray, training: bool = False, rng=None, *, cache=None):
        raise NotImplementedError

    def forward_linear(self, x: np.ndarray) -> np.ndarray:
        """The output before the layer's activation (the layer's output if it has none)."""
        return self.forward(x)

    def backward(self, grad: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def backward_pre_activation(self, grad: np.ndarray) -> np.ndarray | None:
        """Backward from dL/d(output before the activation); the same as :meth:`backward`
        for a layer without one."""
        return self.backward(grad)

    def backward_logits(self, grad: np.ndarray) -> np.ndarray | None:
        """The trainer's name for :meth:`backward_pre_activation`."""
        return self.backward_pre_activation(grad)

    # ---- the cache
    def _keep(self, training: bool, cache) -> bool:
        """Whether this forward keeps a cache. A forward that does not leaves the cache of
        an earlier one alone, so inference never disturbs a backward in progress."""
        keep = training if cache is None else bool(cache)
        if keep:
            self._persist = not training
        return keep

    def _peek(self):
        """The cache of the last forward, kept."""
        if self._cache is None:
            raise RuntimeError(
                f"layer {self.name}: backward needs a forward with training=True or cache=True "
                "first (once per training forward)"
            )
        return self._cache

    def _take(self):
        """The cache of the last forward, dropped now unless it was made with cache=True."""
        found = self._peek()
        if not self._persist:
            self._cache = None
        return found


# --------------------------------------------------------------------------- convolution


class _Windowed(Layer):
    """Shared by the layers that slide a window: padding in the config, the output shape."""

    def config(self) -> dict:
        out = super().config()
        out["padding"] = _padding_config(self.padding)
        return out

    def _geometry(self, h: int, w: int):
        """((top, bottom), (left, right)) and (H', W') for an (h, w) input."""
        raise NotImplementedError

    def _window(self) -> str:
        """The window, in words, for a message."""
        raise NotImplementedError

    def _channels(self, in_shape) -> int:
        return in_shape[2]

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            _fail(self.name, f"a {self.kind} needs an (H, W, C) input, not {tuple(in_shape)}")
        _, (ho, wo) = self._geometry(in_shape[0], in_shape[1])
        if ho < 1 or wo < 1:
            _fail(self.name, f"its {self._window()} does not fit in its "
                  f"{in_shape[0]}x{in_shape[1]} input with this padding")
        return (ho, wo, self._channels(in_shape))


class Conv2D(_Windowed):
    """``Conv2D(filters, kernel_size, activation, strides, padding, dilation_rate)``.

    Input (N, H, W, Cin) -> output (N, H', W', filters), with H', W' as in the module's
    padding rule. Output pixel (after padding ``x`` with zeros)::

        y[n, i, j, f] = act(b[f] + sum_{a, c, k} x[n, i*s_h + a*d_h, j*s_w + c*d_w, k]
                                                * K[a, c, k, f])

    a cross-correlation (no kernel flip), like Keras, PyTorch and ``convdemo.ops.conv2d``.
    Kernel (kh, kw, Cin, filters), bias (filters,). im2col (one copy) and one matrix product;
    the backward input gradient is the transposed convolution, one kernel tap at a time.
    """

    kind = "Conv2D"
    fields = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation")

    def __init__(self, name: str, filters: int, kernel_size=3, activation: str = "relu", *,
                 strides=1, padding="valid", dilation_rate=1):
        super().__init__(name)
        self.filters = _int(filters, "filters", name, 1, MAX_UNITS)
        self.kernel_size = _pair(kernel_size, "kernel_size", name, 1, MAX_WINDOW)
        self.activation = _activation(activation, name)
        self.strides = _pair(strides, "strides", name, 1, MAX_STEP)
        self.padding = _padding(padding, name)
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", name, 1, MAX_STEP)

    def _geometry(self, h: int, w: int):
        return _geometry(self.padding, h, w, self.kernel_size, self.strides, self.dilation_rate)

    def _window(self) -> str:
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation_rate
        return f"{kh}x{kw} window (dilation {dh}x{dw})"

    def _channels(self, in_shape) -> int:
        return self.filters

    def param_shapes(self, in_shape):
        kh, kw = self.kernel_size
        return {"kernel": (kh, kw, in_shape[2], self.filters), "bias": (self.filters,)}

    def init(self, in_shape, rng):
        (kh, kw), cin = self.kernel_size, in_shape[2]
        shapes = self.param_shapes(in_shape)
        self.params = {
            "kernel": _glorot_uniform(rng, shapes["kernel"], kh * kw * cin, kh * kw * self.filters),
            "bias": np.zeros(self.filters, np.float32),
        }

    def _pad(self, x):
        pads, _ = self._geometry(x.shape[1], x.shape[2])
        if any(pads[0]) or any(pads[1]):
            x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
        return x, pads

    def forward_linear(self, x):
        return self._forward(x, False, None)

    def forward(self, x, training=False, rng=None, *, cache=None):
        return self._forward(x, True, self._keep(training, cache))

    def _forward(self, x, activate, keep):
        n = x.shape[0]
        kh, kw = self.kernel_size
        xp, pads = self._pad(x)
        cols = im2col(xp, kh, kw, self.strides, self.dilation_rate)
        ho, wo = cols.shape[1], cols.shape[2]
        cols2 = cols.reshape(n * ho * wo, -1)
        kernel = self.params["kernel"]
        y = cols2 @ kernel.reshape(-1, self.filters)
        y += self.params["bias"]
        if activate:
            y = _activate(self.activation, y)
        y = y.reshape(n, ho, wo, self.filters)
        if keep:
            self._cache = (cols2, x.shape, pads, y)
        return y

    def backward(self, grad):
        y = self._peek()[-1]
        return self.backward_pre_activation(_activation_grad(self.activation, y, grad))

    def backward_pre_activation(self, grad):
        cols2, (n, h, w, cin), ((t, b), (left, r)), _ = self._take()
        kh, kw = self.kernel_size
        g2 = grad.reshape(-1, self.filters)
        kernel = self.params["kernel"]
        self.grads = {
            "kernel": (cols2.T @ g2).reshape(kernel.shape[:2] + (cin, self.filters)),
            "bias": g2.sum(axis=0),
        }
        if not self.needs_input_grad:
            return None
        # the transposed convolution, one kernel tap at a time:
        # dx[n, i*s + a*d, j*s + c*d, :] += grad[n, i, j, :] @ K[a, c].T
        ho, wo = grad.shape[1], grad.shape[2]
        dx = np.zeros((n, h + t + b, w + left + r, cin), g2.dtype)
        for a in range(kh):
            for c in range(kw):
                rows, columns = _tap(a, c, ho, wo, self.strides, self.dilation_rate)
                dx[:, rows, columns, :] += (g2 @ kernel[a, c].T).reshape(n, ho, wo, cin)
        if t or b or left or r:
            dx = np.ascontiguousarray(dx[:, t : t + h, left : left + w, :])
        return dx


# --------------------------------------------------------------------------- pooling


class _Pool2D(_Windowed):
    """Shared by max and average pooling: windows, strides (default: the window), padding."""

    fields = ("pool_size", "strides", "padding")

    def __init__(self, name: str, pool_size=2, strides=None, padding="valid"):
        super().__init__(name)
        self.pool_size = _pair(pool_size, "pool_size", name, 1, MAX_WINDOW)
        self.strides = self.pool_size if strides is None else _pair(
            strides, "strides", name, 1, MAX_STEP)
        self.padding = _padding(padding, name)
        if not isinstance(self.padding, str):
            (t, b), (left, r) = self.padding
            ph, pw = self.pool_size
            if max(t, b) >= ph or max(left, r) >= pw:
                _fail(name, f"padding {_padding_config(self.padding)} must be smaller than the "
                      f"{ph}x{pw} window, so that every window holds an input pixel")

    def _geometry(self, h: int, w: int):
        return _geometry(self.padding, h, w, self.pool_size, self.strides)

    def _window(self) -> str:
        return f"{self.pool_size[0]}x{self.pool_size[1]} window"

    def _windows(self, x, fill):
        """The padded input and its (N, H', W', C, ph, pw) window view (no copy)."""
        pads, (ho, wo) = self._geometry(x.shape[1], x.shape[2])
        if any(pads[0]) or any(pads[1]):
            x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=fill)
        win = sliding_window_view(x, self.pool_size, axis=(1, 2))
        sh, sw = self.strides
        return pads, win[:, : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw]

    def _scatter(self, x_shape, pads, per_tap):
        """dx from ``per_tap(a, b)``, the gradient each window sends to its tap (a, b)."""
        n, h, w, c = x_shape
        (t, b_), (left, r) = pads
        dx = None
        for a in range(self.pool_size[0]):
            for b in range(self.pool_size[1]):
                g = per_tap(a, b)
                if dx is None:
                    dx = np.zeros((n, h + t + b_, w + left + r, c), g.dtype)
                rows, columns = _tap(a, b, g.shape[1], g.shape[2], self.strides)
                dx[:, rows, columns, :] += g
        if t or b_ or left or r:
            dx = np.ascontiguousarray(dx[:, t : t + h, left : left + w, :])
        return dx


class MaxPooling2D(_Pool2D):
    """``MaxPooling2D(pool_size=2, strides=None, padding="valid")``: the largest value of each
    window; padding never wins (it is -inf). "valid" drops an incomplete last row/column.

    Backward sends each gradient to the first maximum of its window (row-major order), as
    TensorFlow does. The lecture's 2x2, stride 2, unpadded case has its own fast path.
    """

    kind = "MaxPooling2D"

    def _fast(self) -> bool:
        return self.pool_size == (2, 2) and self.strides == (2, 2) and self.padding == "valid"

    def forward(self, x, training=False, rng=None, *, cache=None):
        keep = self._keep(training, cache)
        if self._fast():
            return self._forward_2x2(x, keep)
        pads, win = self._windows(x, -np.inf)
        y = win.max(axis=(-2, -1))
        if keep:
            n, ho, wo, c = y.shape
            first = win.reshape(n, ho, wo, c, -1).argmax(axis=-1)  # row-major first maximum
            self._cache = (x.shape, pads, first)
        return y

    def _forward_2x2(self, x, keep):
        h2, w2 = (x.shape[1] // 2) * 2, (x.shape[2] // 2) * 2
        a, b = x[:, 0:h2:2, 0:w2:2], x[:, 0:h2:2, 1:w2:2]
        c, d = x[:, 1:h2:2, 0:w2:2], x[:, 1:h2:2, 1:w2:2]
        y = np.maximum(np.maximum(a, b), np.maximum(c, d))
        if keep:
            # masks of the first maximum in each window
            ma = a == y
            mb = (b == y) & ~ma
            taken = ma | mb
            mc = (c == y) & ~taken
            taken |= mc
            md = ~taken
            self._cache = (x.shape, (ma, mb, mc, md))
        return y

    def backward(self, grad):
        found = self._take()
        if len(found) == 2:
            (x_shape, (ma, mb, mc, md)) = found
            h2, w2 = grad.shape[1] * 2, grad.shape[2] * 2
            dx = np.zeros(x_shape, grad.dtype)
            np.multiply(grad, ma, out=dx[:, 0:h2:2, 0:w2:2])
            np.multiply(grad, mb, out=dx[:, 0:h2:2, 1:w2:2])
            np.multiply(grad, mc, out=dx[:, 1:h2:2, 0:w2:2])
            np.multiply(grad, md, out=dx[:, 1:h2:2, 1:w2:2])
            return dx
        x_shape, pads, first = found
        pw = self.pool_size[1]
        return self._scatter(x_shape, pads, lambda a, b: grad * (first == a * pw + b))


class AveragePooling2D(_Pool2D):
    """``AveragePooling2D(pool_size=2, strides=None, padding="valid", count_include_pad=False)``:
    the mean of each window. With padding, the mean is over the window's input pixels only
    (Keras, and ONNX's default), or over the whole window with ``count_include_pad=True``
    (PyTorch's default for an explicit padding)."""

    kind = "AveragePooling2D"
    fields = (*_Pool2D.fields, "count_include_pad")

    def __init__(self, name: str, pool_size=2, strides=None, padding="valid",
                 count_include_pad: bool = False):
        super().__init__(name, pool_size, strides, padding)
        if not isinstance(count_include_pad, bool):
            _fail(name, "count_include_pad must be true or false, "
                  f"not {show.repr(count_include_pad)}")
        self.count_include_pad = count_include_pad

    def _counts(self, h, w, pads, dtype):
        """How many values each window averages, (H', W', 1)."""
        ph, pw = self.pool_size
        if self.count_include_pad or not (any(pads[0]) or any(pads[1])):
            return dtype.type(ph * pw)
        ones = np.pad(np.ones((1, h, w, 1), dtype), ((0, 0), pads[0], pads[1], (0, 0)))
        win = sliding_window_view(ones, self.pool_size, axis=(1, 2))
        _, (ho, wo) = self._geometry(h, w)
        sh, sw = self.strides
        return win[0, : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw].sum(axis=(-2, -1))

    def forward(self, x, training=False, rng=None, *, cache=None):
        keep = self._keep(training, cache)
        pads, win = self._windows(x, 0)
        counts = self._counts(x.shape[1], x.shape[2], pads, x.dtype)
        y = win.sum(axis=(-2, -1))
        y /= counts
        if keep:
            self._cache = (x.shape, pads, counts)
        return y

    def backward(self, grad):
        x_shape, pads, counts = self._take()
        share = grad / counts
        return self._scatter(x_shape, pads, lambda a, b: share)


class GlobalAveragePooling2D(Layer):
    """``GlobalAveragePooling2D()``: (N, H, W, C) -> (N, C), the mean of each channel."""

    kind = "GlobalAveragePooling2D"

    def output_shape(self, in_shape):
        if len(in_shape) != 3:
            _fail(self.name, f"a GlobalAveragePooling2D needs an (H, W, C) input, not "
                  f"{tuple(in_shape)}")
        return (in_shape[2],)

    def forward(self, x, training=False, rng=None, *, cache=None):
        if self._keep(training, cache):
            self._cache = x.shape
        return x.mean(axis=(1, 2))

    def backward(self, grad):
        n, h, w, c = self._take()
        share = grad / grad.dtype.type(h * w)
        return np.ascontiguousarray(np.broadcast_to(share[:, None, None, :], (n, h, w, c)))


# --------------------------------------------------------------------------- the rest


class Dropout(Layer):
    """``Dropout(rate)``: in training, zero each value with probability ``rate`` and scale the
    rest by ``1 / (1 - rate)`` (inverted dropout, as Keras); the identity otherwise."""

    kind = "Dropout"
    fields = ("rate",)

    def __init__(self, name: str, rate: float):
        super().__init__(name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            _fail(name, f"the dropout rate must be a number from 0 up to (not including) 1, "
                  f"not {show.repr(rate)}")
        self.rate = float(rate)

    def forward(self, x, training=False, rng=None, *, cache=None):
        keep = self._keep(training, cache)
        if not training or self.rate <= 0:
            if keep:
                self._cache = (None,)
            return x
        scale = 1.0 - self.rate
        mask = rng.random(x.shape, dtype=np.float32) < scale
        mask = mask.astype(x.dtype)
        mask *= x.dtype.type(1.0 / scale)
        if keep:
            self._cache = (mask,)
        return x * mask

    def backward(self, grad):
        (mask,) = self._take()
        return grad if mask is None else grad * mask


class Flatten(Layer):
    """``Flatten()``: (N, H, W, C) -> (N, H*W*C), in row-major (H, W, C) order like Keras."""

    kind = "Flatten"

    def output_shape(self, in_shape):
        return (math.prod(in_shape),)

    def forward(self, x, training=False, rng=None, *, cache=None):
        if self._keep(training, cache):
            self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self._take())


class Dense(Layer):
    """``Dense(units, activation="linear")``: ``y = act(x @ W + b)`` on (N, K) inputs.

    Kernel (K, units), bias (units,). For "softmax", :meth:`backward` takes
    dL/d(probabilities); the trainer instead calls :meth:`backward_logits` with
    dL/d(logits), which for cross-entropy is simply ``p - t``.
    """

    kind = "Dense"
    fields = ("units", "activation")

    def __init__(self, name: str, units: int, activation: str = "linear"):
        super().__init__(name)
        self.units = _int(units, "units", name, 1, MAX_UNITS)
        self.activation = _activation(activation, name)

    def output_shape(self, in_shape):
        if len(in_shape) != 1:
            _fail(self.name, f"a Dense layer needs a flat input (put a Flatten or a "
                  f"GlobalAveragePooling2D before it), not {tuple(in_shape)}")
        return (self.units,)

    def param_shapes(self, in_shape):
        return {"kernel": (in_shape[0], self.units), "bias": (self.units,)}

    def init(self, in_shape, rng):
        fan_in = in_shape[0]
        self.params = {
            "kernel": _glorot_uniform(rng, (fan_in, self.units), fan_in, self.units),
            "bias": np.zeros(self.units, np.float32),
        }

    def forward_linear(self, x):
        y = x @ self.params["kernel"]
        y += self.params["bias"]
        return y

    def forward(self, x, training=False, rng=None, *, cache=None):
        y = _activate(self.activation, self.forward_linear(x))
        if self._keep(training, cache):
            self._cache = (x, y)
        return y

    def backward(self, grad):
        y = self._peek()[-1]
        return self.backward_pre_activation(_activation_grad(self.activation, y, grad))

    def backward_pre_activation(self, grad):
        x, _ = self._take()
        self.grads = {"kernel": x.T @ grad, "bias": grad.sum(axis=0)}
        return grad @ self.params["kernel"].T if self.needs_input_grad else None


class Activation(Layer):
    """``Activation(activation)``: relu, sigmoid, tanh, softmax (over the last axis) or linear,
    element by element; no parameters."""

    kind = "Activation"
    fields = ("activation",)

    def __init__(self, name: str, activation: str):
        super().__init__(name)
        self.activation = _activation(activation, name)

    def forward_linear(self, x):
        return x

    def forward(self, x, training=False, rng=None, *, cache=None):
        y = _activate(self.activation, x.copy())
        if self._keep(training, cache):
            self._cache = y
        return y

    def backward(self, grad):
        return _activation_grad(self.activation, self._take(), grad)

    def backward_pre_activation(self, grad):
        self._take()
        return grad


#: the spec's "type" -> the class
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dense,
                Dropout, Activation)
}
