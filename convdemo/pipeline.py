"""One frozen request (image + every setting) in, one result out.

The GUI's background worker and ``convdemo apply`` both call :func:`run`, so the window
and the command line can never compute different things. Nothing here imports Qt.

Order of operations (the lecture's): optional grey conversion -> convolution (+ bias)
-> optional ReLU -> optional pooling -> display mapping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from convdemo import imaging, ops

CHANNEL_MODES = ("sum", "separate", "gray")
POOL_MODES = ("none", "max", "avg")


@dataclass(frozen=True)
class Settings:
    """Everything that decides the output, except the image itself.

    ``kernel`` is a nested tuple (so the object is hashable and immutable): shape
    ``(kh, kw)`` for one kernel shared by every channel, or ``(kh, kw, C)`` for one slice
    per input channel (a real CNN neuron; only with ``channels="sum"``).
    """

    kernel: tuple = ((0.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0))
    stride: int = 1
    padding: str | int = "valid"
    border: str = "zeros"
    #: each colour filtered on its own, so identity, blur and brighten show a photo as a
    #: photo filter would ("sum" adds R+G+B: one CNN neuron, almost white on a colour photo)
    channels: str = "separate"
    flip: bool = False
    bias: float = 0.0
    #: spacing between kernel taps (1 = an ordinary convolution)
    dilation: int = 1
    #: a transposed convolution (PyTorch's ``conv_transpose2d``) instead of a convolution
    transposed: bool = False
    #: extra rows/columns at the bottom/right of a transposed convolution's output
    output_padding: int = 0
    relu: bool = False
    pool: str = "none"
    pool_size: int = 2
    pool_stride: int | None = None
    display: str = "clip"

    def kernel_array(self) -> np.ndarray:
        """The kernel as a float32 array, ``(kh, kw)`` or ``(kh, kw, C)``."""
        return np.asarray(self.kernel, dtype=np.float32)

    def replace(self, **changes) -> Settings:
        """A copy with some fields changed (kernels given as arrays are frozen to tuples)."""
        if "kernel" in changes:
            changes["kernel"] = freeze_kernel(changes["kernel"])
        return dataclasses.replace(self, **changes)


def freeze_kernel(kernel) -> tuple:
    """Turn an array-like kernel into the nested tuple of floats :class:`Settings` holds."""

    def freeze(value):
        return tuple(freeze(v) for v in value) if isinstance(value, list) else float(value)

    return freeze(np.asarray(kernel, dtype=np.float64).tolist())


@dataclass(frozen=True)
class Result:
    """What a request produced.

    ``raw`` is the float32 result: ``(H', W')`` for ``sum``/``gray``, ``(H', W', C)`` for
    ``separate``; it may have 0 rows or columns when nothing fits. ``display`` is what to
    show (see :func:`convdemo.imaging.to_display`); ``None`` when ``raw`` is empty.
    ``conv`` is the map before pooling (after ReLU when it is on): ``raw`` itself when
    pooling is off.
    """

    raw: np.ndarray
    display: object | None
    conv_input: np.ndarray = field(repr=False)
    conv: np.ndarray | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        return self.raw.size == 0


def conv_input(image: np.ndarray, settings: Settings) -> np.ndarray:
    """The array the convolution actually reads: the image, or its grey version."""
    if settings.channels == "gray" and image.ndim == 3:
        return imaging.to_gray(image)
    return image


def _conv_channels(settings: Settings) -> str:
    return "sum" if settings.channels == "gray" else settings.channels


def run(image: np.ndarray, settings: Settings) -> Result:
    """Compute the full result of ``settings`` on ``image`` (float32 0..1, (H, W[, C]))."""
    _check(settings)
    x = conv_input(image, settings)
    raw = ops.conv2d(
        x,
        settings.kernel_array(),
        stride=settings.stride,
        padding=settings.padding,
        border=settings.border,
        channels=_conv_channels(settings),
        flip=settings.flip,
        bias=settings.bias,
        dilation=settings.dilation,
    )
    if settings.relu:
        raw = ops.relu(raw)
    conv = raw
    if settings.pool != "none" and raw.size:
        raw = ops.pool2d(raw, settings.pool_size, stride=settings.pool_stride, mode=settings.pool)
    display = None if raw.size == 0 else imaging.to_display(raw, settings.display)
    return Result(raw=raw, display=display, conv_input=x, conv=conv)


def partials(image: np.ndarray, settings: Settings) -> np.ndarray | None:
    """One neuron taken apart: each input channel's multiply-and-sum on its own.

    For an RGB image with ``channels="sum"`` (one neuron), plane ``c`` of the result is the
    convolution of channel ``c`` with its kernel plane (the same kernel for every channel when
    the kernel is 2-D), with no bias and no ReLU: the three maps that, added together with the
    bias, give the neuron's output. None when there is one channel (grey, or
    ``channels="gray"``).

    Returns
    -------
    numpy.ndarray, float32, shape (H', W', C), or None
    """
    x = conv_input(image, settings)
    if x.ndim != 3 or x.shape[2] < 2:
        return None
    return ops.conv2d(
        x,
        settings.kernel_array(),
        stride=settings.stride,
        padding=settings.padding,
        border=settings.border,
        channels="separate",
        flip=settings.flip,
        bias=0.0,
    )


def _check(settings: Settings) -> None:
    if settings.transposed:
        raise ValueError(
            "transposed convolution is not available yet; turn it off (transposed=False)"
        )
    if settings.channels not in CHANNEL_MODES:
        raise ValueError(
            f"channels must be one of {', '.join(CHANNEL_MODES)}, not {settings.channels!r}"
        )
    if settings.pool not in POOL_MODES:
        raise ValueError(f"pool must be one of {', '.join(POOL_MODES)}, not {settings.pool!r}")
    if settings.display not in imaging.DISPLAY_MODES:
        raise ValueError(
            f"display must be one of {', '.join(imaging.DISPLAY_MODES)}, not {settings.display!r}"
        )


def output_shapes(image_shape: tuple, settings: Settings) -> tuple[tuple, tuple | None]:
    """``(conv_shape, pooled_shape_or_None)`` without computing anything."""
    _check(settings)
    in_shape = tuple(image_shape)
    if settings.channels == "gray":
        in_shape = in_shape[:2]
    conv = ops.output_shape(
        in_shape,
        settings.kernel_array().shape,
        stride=settings.stride,
        padding=settings.padding,
        channels=_conv_channels(settings),
        dilation=settings.dilation,
    )
    if settings.pool == "none":
        return conv, None
    pooled = ops.pool_output_shape(conv, settings.pool_size, stride=settings.pool_stride)
    return conv, pooled
