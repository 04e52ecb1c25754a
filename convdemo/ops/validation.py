"""Argument checks shared by every routine of the engine.

Each checker takes what the caller passed and returns it in one canonical form, or raises a
``ValueError`` that names the argument, says what is allowed and shows what was given.
Images become float32 once, here (integer arrays scaled to 0..1 by their dtype's maximum).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

import numpy as np

from convdemo import budget
from convdemo.limits import F32_MAX, MAX_KERNEL_SIDE

#: padding names (an int or a pair of ints is also allowed; see :func:`convdemo.ops.pad_amounts`)
PADDINGS = ("valid", "same", "full")
#: what padded cells hold (see :func:`convdemo.ops.border_index`)
BORDERS = ("zeros", "reflect", "replicate", "wrap")
#: how the channels of an (H, W, C) image are combined by :func:`convdemo.ops.conv2d`
CHANNEL_MODES = ("sum", "separate")
#: pooling modes of :func:`convdemo.ops.pool2d`
POOL_MODES = ("max", "avg")


def fail(name: str, allowed: str, got) -> ValueError:
    """The one error sentence: ``"<name> must be <allowed>, not <got>"``."""
    return ValueError(f"{name} must be {allowed}, not {got!r}")


def as_image(image, name: str = "image") -> np.ndarray:
    """``image`` as a float32 array (a view when it already is one), shape checked."""
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have 2 dimensions (H, W) or 3 (H, W, C), not {arr.ndim} "
            f"(shape {arr.shape})"
        )
    if arr.ndim == 3 and arr.shape[2] == 0:
        raise ValueError(f"{name} must have at least 1 channel, not shape {arr.shape}")
    if name == "image" and 0 in arr.shape[:2]:
        raise ValueError(f"{name} must have at least 1 row and 1 column, not shape {arr.shape}")
    return as_float32(arr, name)


def as_float32(arr: np.ndarray, name: str) -> np.ndarray:
    """Bools and floats as float32, integers scaled to 0..1 by their dtype's maximum."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32, copy=False)
    raise ValueError(f"{name} must hold real numbers (integer or float), not {arr.dtype}")


def finite_weights(k: np.ndarray, name: str = "kernel") -> None:
    """Refuse NaN, infinity and values beyond float32 (they would become infinity)."""
    if not np.all(np.isfinite(k)) or np.abs(k).max(initial=0.0) > F32_MAX:
        raise ValueError(
            f"{name} must hold finite float32 numbers only (|w| <= 3.4e38), not NaN or infinity"
        )


def as_kernel(kernel, channels_in: int | None) -> np.ndarray:
    """The kernel as float32 ``(kh, kw)`` or ``(kh, kw, C)``, checked."""
    try:
        k = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"kernel must be a 2-D or 3-D array of numbers ({exc})") from None
    if k.ndim not in (2, 3):
        raise ValueError(
            f"kernel must have 2 dimensions (kh, kw) or 3 (kh, kw, C), not {k.ndim} "
            f"(shape {k.shape})"
        )
    kh, kw = k.shape[:2]
    if not (1 <= kh <= MAX_KERNEL_SIDE and 1 <= kw <= MAX_KERNEL_SIDE):
        raise ValueError(
            f"kernel sides must be 1 to {MAX_KERNEL_SIDE}, not {kh}x{kw} (shape {k.shape})"
        )
    finite_weights(k)
    if k.ndim == 3:
        kc = k.shape[2]
        cin = 1 if channels_in is None else channels_in
        if kc != cin:
            raise ValueError(
                f"kernel has {kc} channel slices but the image has {cin} channel"
                f"{'s' if cin != 1 else ''}; give a (kh, kw) kernel or one of shape "
                f"({kh}, {kw}, {cin})"
            )
    return k.astype(np.float32)


def is_int(value) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def pair(value, name: str) -> tuple[int, int]:
    """An int >= 1, or a pair of them, as ``(y, x)``."""
    if is_int(value):
        result = (int(value), int(value))
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(is_int(v) for v in value)
    ):
        result = (int(value[0]), int(value[1]))
    else:
        raise fail(name, "an int >= 1 or a pair (y, x) of them", value)
    if min(result) < 1:
        raise fail(name, "an int >= 1 or a pair (y, x) of them", value)
    return result


def paddings(padding) -> tuple:
    """``padding`` split per axis: a name, or an int >= 0, for y and for x."""
    allowed = "'valid', 'same', 'full', an int >= 0 or a pair (py, px) of them"
    if isinstance(padding, str):
        if padding not in PADDINGS:
            raise fail("padding", allowed, padding)
        return (padding, padding)
    if is_int(padding):
        if padding < 0:
            raise fail("padding", allowed, padding)
        return (int(padding), int(padding))
    if (
        isinstance(padding, Sequence)
        and len(padding) == 2
        and all(is_int(p) and p >= 0 for p in padding)
    ):
        return (int(padding[0]), int(padding[1]))
    raise fail("padding", allowed, padding)


def choice(value, name: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of the ``allowed`` names."""
    if not isinstance(value, str) or value not in allowed:
        raise fail(name, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


def flag(value, name: str) -> bool:
    """``True`` or ``False`` (numpy bools too), nothing else."""
    if not isinstance(value, (bool, np.bool_)):
        raise fail(name, "True or False", value)
    return bool(value)


def scalar_bias(bias) -> float:
    """One finite float32-sized number."""
    try:
        b = float(bias)
    except (TypeError, ValueError):
        raise fail("bias", "a finite number", bias) from None
    if not math.isfinite(b) or abs(b) > F32_MAX:
        raise fail("bias", "a finite float32 number (|bias| <= 3.4e38)", bias)
    return b


#: requests below this are not checked against the memory budget: no machine convdemo runs
#: on has a budget (half the available memory) that small, and reading it (/proc/meminfo:
#: 50 us on a quiet machine, 350 us measured under load) would cost more than a small
#: convolution, or 6% of a 1920x1080 one
UNCHECKED_BYTES = 16 << 20


def check_memory(nbytes: int, what: str) -> None:
    """:func:`convdemo.budget.check` for requests of :data:`UNCHECKED_BYTES` or more."""
    if nbytes >= UNCHECKED_BYTES:
        budget.check(nbytes, what)
