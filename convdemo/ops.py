"""The convolution engine: 2-D convolution, pooling and ReLU on numpy arrays.

Everything here is a pure function of arrays; nothing imports Qt. Each fast routine has an
obvious loop-based twin (:func:`conv2d_reference`, :func:`pool2d_reference`) that the tests
compare it with.

Conventions
-----------
* Images are ``(H, W)`` or ``(H, W, C)``, row-major. Float arrays are used as they are
  (computed in float32); integer arrays are scaled to 0..1 by their dtype's maximum.
* Results are always float32.
* Output size along one axis of length ``n`` with kernel (or window) size ``k`` and stride
  ``s``, after ``before + after`` padded cells, is ``floor((n + before + after - k) / s) + 1``,
  or 0 when the kernel does not fit at all (``n + before + after < k``). Then the result is an
  **empty array** with 0 rows or 0 columns, never an error: the GUI shows "nothing fits" and
  the shape readout stays correct while the user drags a slider.

Padding rules (per axis, see :func:`pad_amounts`):

``"valid"``
    no padding: ``out = floor((n - k) / s) + 1``.
``"same"``
    TensorFlow/Keras: ``out = ceil(n / s)``, total padding ``max((out - 1) * s + k - n, 0)``,
    the smaller half before (top/left), the larger half after (bottom/right).
``"full"``
    ``k - 1`` on each side (``scipy.signal.convolve2d``'s default):
    ``out = floor((n + k - 2) / s) + 1``.
``int`` or ``(py, px)``
    that many cells on both sides, as PyTorch's ``padding=``.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

import numpy as np

__all__ = [
    "BORDERS",
    "CHANNEL_MODES",
    "PADDINGS",
    "POOL_MODES",
    "conv2d",
    "conv2d_reference",
    "output_shape",
    "pad_amounts",
    "pool2d",
    "pool2d_reference",
    "pool_output_shape",
    "relu",
]

PADDINGS = ("valid", "same", "full")
BORDERS = ("zeros", "reflect", "replicate", "wrap")
CHANNEL_MODES = ("sum", "separate")
POOL_MODES = ("max", "avg")
MAX_KERNEL_SIDE = 15

#: numpy.pad mode for each border name
_NP_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}

# --------------------------------------------------------------------------- validation


def _fail(name: str, allowed: str, got) -> ValueError:
    return ValueError(f"{name} must be {allowed}, not {got!r}")


def _as_image(image, name: str = "image") -> np.ndarray:
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
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32, copy=False)
    raise ValueError(f"{name} must hold real numbers (integer or float), not {arr.dtype}")


def _as_kernel(kernel, channels_in: int | None) -> np.ndarray:
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
    if not np.all(np.isfinite(k)) or np.abs(k).max(initial=0.0) > _F32_MAX:
        raise ValueError(
            "kernel must hold finite float32 numbers only (|w| <= 3.4e38), not NaN or infinity"
        )
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


def _pair(value, name: str) -> tuple[int, int]:
    """An int >= 1, or a pair of them, as ``(y, x)``."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise _fail(name, "an int >= 1 or a pair (y, x) of them", value)
    if min(pair) < 1:
        raise _fail(name, "an int >= 1 or a pair (y, x) of them", value)
    return pair


def _paddings(padding) -> tuple:
    """``padding`` split per axis: a name, or an int >= 0, for y and for x."""
    allowed = "'valid', 'same', 'full', an int >= 0 or a pair (py, px) of them"
    if isinstance(padding, str):
        if padding not in PADDINGS:
            raise _fail("padding", allowed, padding)
        return (padding, padding)
    if isinstance(padding, Integral) and not isinstance(padding, bool):
        if padding < 0:
            raise _fail("padding", allowed, padding)
        return (int(padding), int(padding))
    if (
        isinstance(padding, Sequence)
        and len(padding) == 2
        and all(isinstance(p, Integral) and not isinstance(p, bool) and p >= 0 for p in padding)
    ):
        return (int(padding[0]), int(padding[1]))
    raise _fail("padding", allowed, padding)


def _choice(value, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise _fail(name, "one of " + ", ".join(repr(a) for a in allowed), value)
    return value


#: the largest float32: a weight or bias beyond it would turn into infinity in the result
_F32_MAX = float(np.finfo(np.float32).max)


def _bias(bias) -> float:
    try:
        b = float(bias)
    except (TypeError, ValueError):
        raise _fail("bias", "a finite number", bias) from None
    if not math.isfinite(b) or abs(b) > _F32_MAX:
        raise _fail("bias", "a finite float32 number (|bias| <= 3.4e38)", bias)
    return b


# --------------------------------------------------------------------------- shapes


def pad_amounts(n: int, k: int, s: int, padding) -> tuple[int, int]:
    """Padded cells ``(before, after)`` along one axis.

    Parameters
    ----------
    n : int
        Input length along the axis (>= 0).
    k : int
        Kernel or window size along the axis (>= 1).
    s : int
        Stride along the axis (>= 1).
    padding : {"valid", "same", "full"} or int
        ``"valid"``: ``(0, 0)``. ``"same"`` (TensorFlow): ``out = ceil(n / s)``,
        ``total = max((out - 1) * s + k - n, 0)``, ``before = total // 2``,
        ``after = total - before``. ``"full"``: ``(k - 1, k - 1)``. An int ``p``: ``(p, p)``.

    Returns
    -------
    (before, after) : tuple of int

    Examples
    --------
    >>> pad_amounts(6, 3, 2, "same"), pad_amounts(5, 3, 2, "same")
    ((0, 1), (1, 1))
    """
    n, k, s = int(n), int(k), int(s)
    if n < 0 or k < 1 or s < 1:
        raise ValueError(f"pad_amounts needs n >= 0, k >= 1 and s >= 1, not n={n}, k={k}, s={s}")
    (p, _) = _paddings(padding)
    if p == "valid":
        return (0, 0)
    if p == "full":
        return (k - 1, k - 1)
    if p == "same":
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        return (total // 2, total - total // 2)
    return (p, p)


def _out_len(n: int, k: int, s: int, before: int, after: int) -> int:
    span = n + before + after - k
    return span // s + 1 if span >= 0 else 0


def output_shape(in_shape, kernel_shape, *, stride=1, padding="valid", channels="sum") -> tuple:
    """The shape :func:`conv2d` would return, without computing anything.

    Parameters
    ----------
    in_shape : tuple
        ``(H, W)`` or ``(H, W, C)``.
    kernel_shape : tuple
        ``(kh, kw)`` or ``(kh, kw, C)``.
    stride, padding, channels
        As for :func:`conv2d`.

    Returns
    -------
    tuple
        ``(H', W')`` for ``channels="sum"`` or a 2-D image, ``(H', W', C)`` for
        ``channels="separate"``, where ``H' = floor((H + before + after - kh) / sy) + 1``
        (0 when the kernel does not fit), with ``before, after = pad_amounts(H, kh, sy, padding)``;
        likewise ``W'``.

    Examples
    --------
    >>> output_shape((1080, 1920, 3), (3, 3), stride=2, padding="same")
    (540, 960)
    """
    in_shape = tuple(int(d) for d in in_shape)
    if len(in_shape) not in (2, 3) or min(in_shape) < 0:
        raise ValueError(f"image shape must be (H, W) or (H, W, C) with sizes >= 0, not {in_shape}")
    kernel_shape = tuple(int(d) for d in kernel_shape)
    cin = in_shape[2] if len(in_shape) == 3 else None
    _as_kernel(np.zeros(kernel_shape, np.float32), cin)
    sy, sx = _pair(stride, "stride")
    py, px = _paddings(padding)
    channels = _choice(channels, "channels", CHANNEL_MODES)
    (h, w), (kh, kw) = in_shape[:2], kernel_shape[:2]
    ho = _out_len(h, kh, sy, *pad_amounts(h, kh, sy, py))
    wo = _out_len(w, kw, sx, *pad_amounts(w, kw, sx, px))
    if channels == "separate" and len(in_shape) == 3:
        return (ho, wo, in_shape[2])
    return (ho, wo)


def pool_output_shape(in_shape, size=2, *, stride=None, padding="valid", ceil_mode=False) -> tuple:
    """The shape :func:`pool2d` would return, without computing anything.

    Parameters
    ----------
    in_shape : tuple
        ``(H, W)`` or ``(H, W, C)``.
    size, stride, padding, ceil_mode
        As for :func:`pool2d`.

    Returns
    -------
    tuple
        ``(H', W')`` or ``(H', W', C)``. Per axis of length ``n`` with window ``k`` and
        stride ``s``: ``floor((n - k) / s) + 1`` for ``"valid"``; ``ceil(n / s)`` for
        ``"same"``; ``floor((n + 2p - k) / s) + 1`` for an int ``p``, or with ``ceil_mode``
        ``ceil((n + 2p - k) / s) + 1`` less one if that last window would start in the
        bottom/right padding. 0 when the window does not fit.

    Examples
    --------
    >>> pool_output_shape((5, 5), 2), pool_output_shape((5, 5), 2, padding="same")
    ((2, 2), (3, 3))
    >>> pool_output_shape((5, 5, 8), 2, ceil_mode=True)
    (3, 3, 8)
    """
    in_shape = tuple(int(d) for d in in_shape)
    if len(in_shape) not in (2, 3) or min(in_shape) < 0:
        raise ValueError(f"input shape must be (H, W) or (H, W, C) with sizes >= 0, not {in_shape}")
    plan = _pool_plan(in_shape[:2], size, stride, padding, ceil_mode)
    return (plan[0][4], plan[1][4]) + in_shape[2:]


# --------------------------------------------------------------------------- conv2d


def _pad(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], border: str) -> np.ndarray:
    """Pad the first two axes of ``x`` (numpy.pad semantics of ``border``)."""
    if not any(pads[0] + pads[1]):
        return x
    width = [pads[0], pads[1]] + [(0, 0)] * (x.ndim - 2)
    mode = _NP_PAD_MODE[border]  # numpy reflects a length-1 axis to itself
    return np.pad(x, width, mode=mode)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
#: output elements above which the work is split over two threads
_THREAD_MIN = 400_000
#: a band covers about this many output elements (256 KiB of float32: a band's input,
#: accumulator and scratch stay in a core's L2 cache)
_BAND_ELEMS = 64 * 1024


_LOCAL = threading.local()


def _scratch(slot: int, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 scratch array of ``shape`` owned by the calling thread, reused across calls
    (a fresh band-sized buffer per chunk would cost page faults every time)."""
    size = math.prod(shape)
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    buf = bufs.get(slot)
    if buf is None or buf.size < size:
        buf = bufs[slot] = np.empty(size, np.float32)
    return buf[:size].reshape(shape)


def _threads() -> int:
    try:
        return max(1, min(2, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(2, os.cpu_count() or 1))


def _executor() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="convdemo-ops")
        return _POOL


def for_rows(rows: int, run, chunks: int = 16) -> None:
    """Call ``run(r0, r1)`` over consecutive chunks of ``[0, rows)`` on two threads (numpy
    releases the GIL), or once over everything on a single-CPU machine.

    Both threads take the next chunk from a shared counter, so when the machine is busy and
    one thread starts late, the other simply does more of the work. For large arrays only:
    handing work to a thread costs some tens of microseconds.
    """
    if rows < 2 or _threads() < 2:
        run(0, rows)
        return
    n = min(chunks, rows)
    bounds = [rows * i // n for i in range(n + 1)]
    counter = itertools.count()  # next() on it is atomic under the GIL

    def worker() -> None:
        for i in iter(counter.__next__, None):
            if i >= n:
                return
            run(bounds[i], bounds[i + 1])

    fut = _executor().submit(worker)
    worker()
    fut.result()


def _correlate_plane(
    xp: np.ndarray, k: np.ndarray, sy: int, sx: int, ho: int, wo: int, out: np.ndarray
) -> None:
    """``out[i, j] (+)= sum_ab k[a, b] * xp[i*sy + a, j*sx + b]`` on a padded plane, in bands.

    ``xp`` is ``(Hp, Wp)`` or ``(Hp, Wp, C)`` with ``out`` of matching trailing shape. Each row
    band of ``out`` is finished (all taps) before the next, so its inputs stay in cache; no
    temporary larger than one band is made.
    """
    kh, kw = k.shape
    taps = [(a, b, k[a, b]) for a in range(kh) for b in range(kw) if k[a, b] != 0]
    if not taps:
        out.fill(0)
        return
    row_elems = max(1, out[0].size)
    band = max(1, min(ho, _BAND_ELEMS // row_elems))

    def run(r0: int, r1: int) -> None:
        tmp = _scratch(0, (band,) + out.shape[1:])
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            o = out[b0:b1]
            t = tmp[: b1 - b0]
            for n, (a, b, w) in enumerate(taps):
                src = xp[a + b0 * sy : a + (b1 - 1) * sy + 1 : sy, b : b + (wo - 1) * sx + 1 : sx]
                if n == 0:
                    if w == 1:
                        o[...] = src
                    else:
                        np.multiply(src, w, out=o)
                elif w == 1:
                    np.add(o, src, out=o)
                else:
                    np.multiply(src, w, out=t)
                    np.add(o, t, out=o)

    if out.size >= _THREAD_MIN:
        for_rows(ho, run)
    else:
        run(0, ho)


def _add_channels(x: np.ndarray, out: np.ndarray) -> None:
    """``out = x[..., 0] + x[..., 1] + ...`` (float32, left to right) by strided adds."""
    np.add(x[..., 0], x[..., 1], out=out)
    for ch in range(2, x.shape[-1]):
        np.add(out, x[..., ch], out=out)


def _matmul_channels(x: np.ndarray, out: np.ndarray) -> None:
    """The same sum as one BLAS matrix-vector product per row (``x @ ones``)."""
    np.matmul(x, np.ones(x.shape[-1], np.float32), out=out)


_CHANNEL_SUM = None
_CHANNEL_SUM_LOCK = threading.Lock()


def _channel_sum():
    """The faster of :func:`_add_channels` and :func:`_matmul_channels` on this machine.

    ``x @ ones`` reads interleaved RGB about twice as fast as strided adds with OpenBLAS's
    own kernels for the CPU, but several times slower when ``OPENBLAS_CORETYPE`` forces an
    old core type. So both are timed once, on a band-sized sample; the BLAS one is chosen
    only if it is faster *and* gives bit-for-bit the same sums, so results never depend on
    the choice.
    """
    global _CHANNEL_SUM
    with _CHANNEL_SUM_LOCK:
        if _CHANNEL_SUM is None:
            import time

            sample = np.linspace(-3.0, 7.0, 32 * 2048 * 3, dtype=np.float32).reshape(32, 2048, 3)
            sample *= np.float32(1.37) ** np.arange(3, dtype=np.float32)
            best = {}
            results = {}
            for fn in (_add_channels, _matmul_channels):
                out = np.empty(sample.shape[:2], np.float32)
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    fn(sample, out)
                    times.append(time.perf_counter() - t0)
                best[fn], results[fn] = min(times), out
            same = np.array_equal(results[_add_channels], results[_matmul_channels])
            faster = best[_matmul_channels] < best[_add_channels]
            _CHANNEL_SUM = _matmul_channels if same and faster else _add_channels
        return _CHANNEL_SUM


def _sum_channels(x: np.ndarray) -> np.ndarray:
    """``x[..., 0] + x[..., 1] + ...`` in float32, in bands on two threads for big images."""
    h, w, c = x.shape
    out = np.empty((h, w), np.float32)
    if c == 1:
        out[...] = x[..., 0]
        return out
    band = max(1, min(h, _BAND_ELEMS // max(1, w)))
    add = _channel_sum() if c == 3 else _add_channels

    def run(r0: int, r1: int) -> None:
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            add(x[b0:b1], out[b0:b1])

    if out.size >= _THREAD_MIN:
        for_rows(h, run)
    else:
        run(0, h)
    return out


def _taps(k: np.ndarray) -> list[tuple[np.float32 | None, list[tuple[int, int, int]]]]:
    """The non-zero weights of a 2-D kernel, grouped by magnitude.

    Returns ``[(scale, [(row, col, sign), ...]), ...]``: each group's cells are added (or
    subtracted, by ``sign``) first and multiplied by ``scale`` once, so a blur of nine equal
    weights costs 8 additions and 1 multiplication instead of 9 of each. ``scale`` is None for
    weights +-1, which need no multiplication at all. Only the rounding order differs from
    weight-by-weight products (float32 rounding; a single weight 1 is an exact copy).
    """
    groups: dict[float, list[tuple[int, int, int]]] = {}
    kh, kw = k.shape
    for a in range(kh):
        for b in range(kw):
            w = float(k[a, b])
            if w != 0:
                groups.setdefault(abs(w), []).append((a, b, 1 if w > 0 else -1))
    out = []
    for mag, cells in groups.items():
        cells.sort(key=lambda cell: -cell[2])  # positive cells first
        out.append((None if mag == 1 else np.float32(mag), cells))
    return out


def _accumulate(src, groups, rs: int, cs: int, m: int, acc, tmp, first: bool) -> bool:
    """``acc (+)= weight * src[a * rs + b * cs :][:m]`` over the cells of ``groups`` (row
    stride ``rs``, pixel stride ``cs`` in the flat band); returns whether ``acc`` is still
    unwritten."""
    for scale, cells in groups:
        slices = [(src[a * rs + b * cs : a * rs + b * cs + m], sign) for a, b, sign in cells]
        if scale is None:  # weights +-1: straight into acc
            for s, sign in slices:
                if first:
                    np.copyto(acc, s) if sign > 0 else np.negative(s, out=acc)
                    first = False
                elif sign > 0:
                    np.add(acc, s, out=acc)
                else:
                    np.subtract(acc, s, out=acc)
            continue
        target = acc if first else tmp
        (s0, sign0), rest = slices[0], slices[1:]
        if not rest:
            np.multiply(s0, scale * sign0, out=target)
        else:
            # sign0 < 0 only if every sign is (positives sort first): sum all, negate scale
            flip = sign0 < 0
            for i, (s, sign) in enumerate(rest):
                a = s0 if i == 0 else target
                if flip or sign > 0:
                    np.add(a, s, out=target)
                else:
                    np.subtract(a, s, out=target)
            np.multiply(target, -scale if flip else scale, out=target)
        if first:
            first = False
        else:
            np.add(acc, tmp, out=acc)
    return first


def _rows_of(plane: np.ndarray):
    """Band source for a C-contiguous 2-D plane: its rows ``[y0, y1)``, no copy."""

    def rows(y0: int, y1: int, buf: np.ndarray) -> np.ndarray:
        return plane[y0:y1]

    return rows


def _rows_copied(x: np.ndarray, channel: int):
    """Band source for one channel of ``(H, W, C)``: rows copied into the band buffer."""

    def rows(y0: int, y1: int, buf: np.ndarray) -> np.ndarray:
        np.copyto(buf, x[y0:y1, :, channel])
        return buf

    return rows


def _rows_summed(x: np.ndarray):
    """Band source for the channel sum of ``(H, W, C)``, made band by band in cache."""
    add = _channel_sum() if x.shape[2] == 3 else _add_channels

    def rows(y0: int, y1: int, buf: np.ndarray) -> np.ndarray:
        add(x[y0:y1], buf)
        return buf

    return rows


def _flat_correlate(
    outputs, wp: int, kh: int, kw: int, ho: int, wo: int, bias: float, cpp: int = 1
) -> None:
    """Stride-1 correlation, band by band, with every tap a contiguous 1-D slice.

    ``outputs`` is a list of ``(dest, terms)``: ``dest`` is a ``(ho, wo * cpp)`` float32 array
    (or view) to fill with the sum over ``terms`` of ``(rows, taps)``, where
    ``rows(y0, y1, buf)`` returns rows ``[y0, y1)`` of a padded plane of ``wp`` pixels of
    ``cpp`` interleaved values each, as a C-contiguous ``(y1 - y0, wp * cpp)`` array, and
    ``taps`` come from :func:`_taps`. With ``cpp > 1`` every channel is filtered on its own
    (the same weights), straight from interleaved RGB.

    The trick: in a band of ``n`` output rows laid out with the padded width, output
    ``(r * wp + c) * cpp + ch`` reads input ``((r + a) * wp + c + b) * cpp + ch``, so tap
    ``(a, b)`` is one contiguous slice of the flattened band, offset by ``(a * wp + b) * cpp``.
    The ``kw - 1`` columns past ``wo`` in each row are computed and thrown away (0.1% extra
    for a 3x3 kernel on a photo); in exchange every ufunc call runs over one long contiguous
    run that stays in cache.
    """
    rs = wp * cpp  # values per padded row
    band = max(1, min(ho, _BAND_ELEMS // rs))

    def run(r0: int, r1: int) -> None:
        src_buf = _scratch(0, ((band + kh - 1) * rs,))
        acc = _scratch(1, (band * rs,))
        tmp = _scratch(2, (band * rs,))
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            n = b1 - b0
            m = n * rs - (kw - 1) * cpp  # up to the last valid output of the band's last row
            acc_m, tmp_m = acc[:m], tmp[:m]
            buf = src_buf[: (n + kh - 1) * rs].reshape(n + kh - 1, rs)
            for dest, terms in outputs:
                first = True
                for rows, taps in terms:
                    src = rows(b0, b1 + kh - 1, buf).reshape(-1)
                    first = _accumulate(src, taps, rs, cpp, m, acc_m, tmp_m, first)
                if first:
                    acc_m.fill(0)
                result = acc[: n * rs].reshape(n, rs)[:, : wo * cpp]
                if bias != 0.0:
                    np.add(result, np.float32(bias), out=dest[b0:b1])
                else:
                    dest[b0:b1] = result

    if ho * wo * cpp * len(outputs) >= _THREAD_MIN:
        for_rows(ho, run)
    else:
        run(0, ho)


def _prepare(image, kernel, stride, padding, border, channels, flip, bias):
    """Check every argument of :func:`conv2d`; the shared front half of fast and reference."""
    x = _as_image(image)
    cin = x.shape[2] if x.ndim == 3 else None
    k = _as_kernel(kernel, cin)
    sy, sx = _pair(stride, "stride")
    py, px = _paddings(padding)
    border = _choice(border, "border", BORDERS)
    channels = _choice(channels, "channels", CHANNEL_MODES)
    if not isinstance(flip, (bool, np.bool_)):
        raise _fail("flip", "True or False", flip)
    b = _bias(bias)
    if k.ndim == 3 and x.ndim == 2:  # a (kh, kw, 1) kernel on a 2-D image
        k = k[:, :, 0]
    if flip:
        k = k[::-1, ::-1]
    kh, kw = k.shape[:2]
    h, w = x.shape[:2]
    pads = (pad_amounts(h, kh, sy, py), pad_amounts(w, kw, sx, px))
    ho = _out_len(h, kh, sy, *pads[0])
    wo = _out_len(w, kw, sx, *pads[1])
    return x, k, (sy, sx), pads, border, channels, b, (ho, wo)


def conv2d(
    image,
    kernel,
    *,
    stride=1,
    padding="valid",
    border="zeros",
    channels="sum",
    flip=False,
    bias=0.0,
) -> np.ndarray:
    """2-D convolution (cross-correlation by default) of an image with a small kernel.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        Float arrays are used as they are (in float32); integer arrays are scaled to 0..1
        by their dtype's maximum (uint8 / 255, uint16 / 65535).
    kernel : array_like, shape (kh, kw) or (kh, kw, C)
        ``(kh, kw)``: the same weights for every channel. ``(kh, kw, C)``: one slice per
        input channel, as in a CNN layer. Sides 1 to 15, odd or even; finite values.
    stride : int or (int, int), default 1
        ``s`` or ``(sy, sx)``, each >= 1.
    padding : {"valid", "same", "full"}, int or (int, int), default "valid"
        See :func:`pad_amounts`. ``"same"`` is TensorFlow's rule (the smaller half of the
        padding at the top/left); an int ``p`` pads ``p`` cells on every side (PyTorch).
    border : {"zeros", "reflect", "replicate", "wrap"}, default "zeros"
        What the padded cells hold: 0; a mirror without repeating the edge pixel
        (``numpy.pad(mode="reflect")``, OpenCV's ``BORDER_REFLECT_101``); the edge pixel
        repeated (``"edge"``); or the image wrapped around (``"wrap"``). A 1-pixel-wide
        image reflects to itself.
    channels : {"sum", "separate"}, default "sum"
        ``"sum"``: each channel is correlated with its kernel slice and the results are
        added, giving ``(H', W')`` (one CNN neuron). ``"separate"``: each channel is filtered
        on its own, giving ``(H', W', C)`` (a photo filter). A 2-D image gives ``(H', W')``
        either way.
    flip : bool, default False
        ``False``: cross-correlation, what Keras and PyTorch call convolution.
        ``True``: true convolution (kernel rotated 180 degrees), equal to
        ``scipy.signal.convolve2d``.
    bias : float, default 0.0
        Added to every output value.

    Returns
    -------
    numpy.ndarray, float32, shape (H', W') or (H', W', C)
        ``H' = floor((H + before + after - kh) / sy) + 1`` with
        ``before, after = pad_amounts(H, kh, sy, padding)``; likewise ``W'``. When the kernel
        does not fit (``H + before + after < kh``) that size is 0 and the array is empty;
        this is not an error.

    Raises
    ------
    ValueError
        For a wrong number of dimensions, a kernel whose channel count differs from the
        image's, a stride of 0 or less, NaN or infinity in the kernel, or an unknown padding,
        border or channels name; the message names the argument and what is allowed.

    Notes
    -----
    The result equals :func:`conv2d_reference` (float64 loops) to float32 rounding: the
    tests allow a relative 1e-5 plus an absolute 2e-6 x sum|kernel| x max|image| x channels.
    A single weight 1 (the identity kernel) copies the input exactly.

    How it is fast (stride 1): with a shared kernel and ``channels="sum"`` the channels are
    summed first (exact algebra, a third of the work). The output is made in row bands of
    about 256 KiB so the data stays in cache, on two threads for large images (numpy releases
    the GIL). Inside a band, laid out at the padded width, every kernel tap is one contiguous
    slice of the flattened input, so each numpy call runs over one long contiguous run;
    equal weights are summed before one multiplication, and weights +-1 need none. Larger
    strides use strided views of the padded input (the same bands, simpler arithmetic).

    Examples
    --------
    >>> import numpy as np
    >>> conv2d(np.arange(16.0).reshape(4, 4), [[0, 0, 0], [0, 1, 0], [0, 0, 0]]).tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """
    x, k, (sy, sx), pads, border, channels, b, (ho, wo) = _prepare(
        image, kernel, stride, padding, border, channels, flip, bias
    )
    separate = channels == "separate" and x.ndim == 3
    c = x.shape[2] if x.ndim == 3 else 1
    out_shape = (ho, wo, c) if separate else (ho, wo)
    if ho == 0 or wo == 0:
        return np.zeros(out_shape, np.float32)
    out = np.empty(out_shape, np.float32)
    if (sy, sx) == (1, 1):
        _conv_stride1(x, k, pads, border, separate, b, out)
    else:
        _conv_strided(x, k, (sy, sx), pads, border, separate, b, out)
    return out


def _plane_source(plane: np.ndarray, pads, border: str):
    """Band source of a 2-D plane after padding (a copy only when padding is needed)."""
    return _rows_of(np.ascontiguousarray(_pad(plane, pads, border)))


def _conv_stride1(x, k, pads, border, separate, bias, out) -> None:
    """Stride 1: the banded flat-slice engine, with the cheapest band source for each case."""
    padded = any(pads[0] + pads[1])
    h, w = x.shape[:2]
    wp = w + pads[1][0] + pads[1][1]
    kh, kw = k.shape[:2]
    ho, wo = out.shape[:2]
    cpp = 1
    if x.ndim == 2:
        outputs = [(out, [(_plane_source(x, pads, border), _taps(k))])]
    elif separate and k.ndim == 2:
        # one kernel for every channel, each filtered on its own: work on the interleaved
        # pixels directly (no channel is copied out, the result is written in place)
        cpp = x.shape[2]
        xs = np.ascontiguousarray(_pad(x, pads, border))
        src = _rows_of(xs.reshape(xs.shape[0], -1))
        outputs = [(out.reshape(ho, wo * cpp), [(src, _taps(k))])]
    elif separate:
        outputs = []
        for ch in range(x.shape[2]):
            if padded:
                src = _plane_source(x[:, :, ch], pads, border)
            else:
                src = _rows_copied(x, ch)
            outputs.append((out[:, :, ch], [(src, _taps(k[:, :, ch]))]))
    elif k.ndim == 2:
        # one kernel for every channel, summed: add the channels first (exact algebra, a
        # third of the work); without padding this happens band by band, in cache
        if x.shape[2] == 1:
            src = _plane_source(x[:, :, 0], pads, border)
        elif padded:
            src = _plane_source(_sum_channels(x), pads, border)
        else:
            src = _rows_summed(x)
        outputs = [(out, [(src, _taps(k))])]
    else:
        terms = []
        for ch in range(x.shape[2]):
            if padded:
                src = _plane_source(x[:, :, ch], pads, border)
            else:
                src = _rows_copied(x, ch)
            terms.append((src, _taps(k[:, :, ch])))
        outputs = [(out, terms)]
    _flat_correlate(outputs, wp, kh, kw, ho, wo, bias, cpp)


def _conv_strided(x, k, strides, pads, border, separate, bias, out) -> None:
    """Stride > 1: strided views of the padded input, one band at a time (simpler path)."""
    sy, sx = strides
    ho, wo = out.shape[:2]
    c = x.shape[2] if x.ndim == 3 else 1
    if x.ndim == 2 or (separate and k.ndim == 2):
        _correlate_plane(_pad(x, pads, border), k, sy, sx, ho, wo, out)
    elif separate:
        for ch in range(c):
            o = np.empty((ho, wo), np.float32)
            _correlate_plane(_pad(x[:, :, ch], pads, border), k[:, :, ch], sy, sx, ho, wo, o)
            out[:, :, ch] = o
    elif k.ndim == 2:
        _correlate_plane(_pad(_sum_channels(x), pads, border), k, sy, sx, ho, wo, out)
    else:
        acc = np.empty((ho, wo), np.float32)
        for ch in range(c):
            dest = out if ch == 0 else acc
            _correlate_plane(_pad(x[:, :, ch], pads, border), k[:, :, ch], sy, sx, ho, wo, dest)
            if ch:
                np.add(out, acc, out=out)
    if bias != 0.0:
        np.add(out, np.float32(bias), out=out)


def _border_index(i: int, n: int, border: str) -> int | None:
    """Source index for (possibly out-of-range) index ``i`` on an axis of length ``n``."""
    if 0 <= i < n:
        return i
    if border == "zeros":
        return None
    if border == "replicate":
        return min(max(i, 0), n - 1)
    if border == "wrap":
        return i % n
    # reflect without repeating the edge: period 2(n - 1)
    if n == 1:
        return 0
    period = 2 * (n - 1)
    j = i % period
    return j if j < n else period - j


def conv2d_reference(
    image,
    kernel,
    *,
    stride=1,
    padding="valid",
    border="zeros",
    channels="sum",
    flip=False,
    bias=0.0,
) -> np.ndarray:
    """The obvious, slow version of :func:`conv2d` (same arguments, same result).

    Loops over every output cell, every kernel tap and every channel in float64, finding
    each padded cell's source pixel by index arithmetic (no ``numpy.pad``). Only for tests
    and for reading.
    """
    x, k, (sy, sx), pads, border, channels, b, (ho, wo) = _prepare(
        image, kernel, stride, padding, border, channels, flip, bias
    )
    x = x.astype(np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    h, w, c = x.shape
    kk = k.astype(np.float64)
    if kk.ndim == 2:
        kk = np.repeat(kk[:, :, None], c, axis=2)
    kh, kw = kk.shape[:2]
    top, left = pads[0][0], pads[1][0]
    res = np.zeros((ho, wo, c), np.float64)
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                yy = _border_index(i * sy + a - top, h, border)
                for bb in range(kw):
                    xx = _border_index(j * sx + bb - left, w, border)
                    if yy is None or xx is None:
                        continue
                    for ch in range(c):
                        res[i, j, ch] += kk[a, bb, ch] * x[yy, xx, ch]
    if channels == "sum" or np.ndim(image) == 2:
        res = res.sum(axis=2)
    return (res + b).astype(np.float32)


# --------------------------------------------------------------------------- pooling


def _pool_plan(hw, size, stride, padding, ceil_mode):
    """Per axis ``(k, s, before, after, out)`` for pooling, with every argument checked."""
    ky, kx = _pair(size, "size")
    sy, sx = (ky, kx) if stride is None else _pair(stride, "stride")
    allowed = "'valid', 'same', an int >= 0 or a pair (py, px) of them"
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise _fail("padding", allowed, padding)
        pads = (padding, padding)
    else:
        try:
            pads = _paddings(padding)
        except ValueError:
            raise _fail("padding", allowed, padding) from None
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise _fail("ceil_mode", "True or False", ceil_mode)
    if ceil_mode and pads[0] == "same":
        raise ValueError(
            "ceil_mode must be False with padding='same' (which already rounds up); "
            "use it with padding='valid' or an int"
        )
    plan = []
    for n, k, s, p in zip(hw, (ky, kx), (sy, sx), pads, strict=True):
        if p == "same":
            before, after = pad_amounts(n, k, s, "same")
            out = _out_len(n, k, s, before, after) if n > 0 else 0
        else:
            before = after = 0 if p == "valid" else p
            if before > k // 2:
                raise ValueError(
                    f"padding must be at most half the pool size ({k // 2} for size {k}), "
                    f"not {before}, so every window holds a real cell (PyTorch's rule)"
                )
            span = n + 2 * before - k
            if span < 0 or n == 0:
                out = 0
            elif ceil_mode:
                out = -(-span // s) + 1
                if (out - 1) * s >= n + before:  # last window would start in the padding
                    out -= 1
            else:
                out = span // s + 1
        plan.append((k, s, before, after, out))
    return plan


def pool2d(
    x,
    size=2,
    *,
    stride=None,
    mode="max",
    padding="valid",
    ceil_mode=False,
    count_include_pad=False,
) -> np.ndarray:
    """Max or average pooling over ``size x size`` windows (Keras ``MaxPooling2D`` /
    ``AveragePooling2D``).

    Parameters
    ----------
    x : array_like, shape (H, W) or (H, W, C)
        Each channel is pooled on its own. Integer arrays are scaled as in :func:`conv2d`.
    size : int or (int, int), default 2
        Window ``k`` or ``(ky, kx)``, each >= 1.
    stride : int or (int, int), optional
        Defaults to ``size``.
    mode : {"max", "avg"}, default "max"
    padding : {"valid", "same"}, int or (int, int), default "valid"
        ``"valid"``: ``out = floor((n - k) / s) + 1`` (0 when the window does not fit: an empty
        result, not an error). ``"same"``: TensorFlow's rule, ``out = ceil(n / s)`` with the
        smaller half of the padding at the top/left. An int ``p`` (PyTorch, at most ``k // 2``):
        ``p`` cells on both sides, ``out = floor((n + 2p - k) / s) + 1``.
        Max pooling never takes a padded cell.
    ceil_mode : bool, default False
        PyTorch's option: round the output size up instead of down,
        ``out = ceil((n + 2p - k) / s) + 1``, except that a last window starting in the
        bottom/right padding is dropped. Not allowed with ``"same"``.
    count_include_pad : bool, default False
        PyTorch's option for average pooling: divide by the window area inside the padded
        input (padding cells counted) instead of the number of real cells. Cells beyond the
        padding (from ``ceil_mode``) are never counted. The default, ``False``, is Keras'
        rule for ``"same"``.

    Returns
    -------
    numpy.ndarray, float32, shape (H', W') or (H', W', C)
        See :func:`pool_output_shape`.

    Notes
    -----
    Computed separably in row bands: the maximum (or sum) over the window's rows (whole
    contiguous rows at a time), then over its columns (strided sub-grids ``v[:, b::sx]``),
    which is much faster than ``reshape(...).max(axis=(1, 3))``.
    Equal to :func:`pool2d_reference` to float32 rounding (exactly, for max).
    """
    a = _as_image(x, "x")
    mode = _choice(mode, "mode", POOL_MODES)
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise _fail("count_include_pad", "True or False", count_include_pad)
    plan = _pool_plan(a.shape[:2], size, stride, padding, ceil_mode)
    (ky, sy, ty, ay, ho), (kx, sx, tx, ax, wo) = plan
    out_shape = (ho, wo) + a.shape[2:]
    if ho == 0 or wo == 0:
        return np.zeros(out_shape, np.float32)
    h, w = a.shape[:2]
    # extents so that every window lies inside [0, need): pad after (or crop) to that
    need_y, need_x = (ho - 1) * sy + ky, (wo - 1) * sx + kx
    by, bx = need_y - ty - h, need_x - tx - w
    fill = -np.inf if mode == "max" else 0.0
    if ty or tx or by > 0 or bx > 0:
        width = [(ty, max(by, 0)), (tx, max(bx, 0))] + [(0, 0)] * (a.ndim - 2)
        a = np.pad(a, width, mode="constant", constant_values=fill)
    out = np.empty(out_shape, np.float32)
    op = np.maximum if mode == "max" else np.add
    scale = None  # average pooling: what to multiply (constant) or divide (per cell) by
    if mode == "avg":
        cy = _pool_counts(h, ky, sy, ty, ay, ho, count_include_pad)
        cx = _pool_counts(w, kx, sx, tx, ax, wo, count_include_pad)
        if cy.min() == cy.max() and cx.min() == cx.max():
            scale = np.float32(1.0 / (cy[0] * cx[0]))
        else:
            scale = np.multiply.outer(cy, cx).astype(np.float32)
            if out.ndim == 3:
                scale = scale[:, :, None]
    trail = a.shape[2:]
    band = max(1, min(ho, _BAND_ELEMS // (need_x * int(np.prod(trail, dtype=np.int64)))))

    def run(r0: int, r1: int) -> None:
        # separable: first the window's rows (whole contiguous rows, fast), then its columns
        vbuf = _scratch(0, (band, need_x) + trail)
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            rows = [a[dy + b0 * sy : dy + (b1 - 1) * sy + 1 : sy, :need_x] for dy in range(ky)]
            if ky == 1:
                v = rows[0]
            else:
                v = vbuf[: b1 - b0]
                op(rows[0], rows[1], out=v)
                for dy in range(2, ky):
                    op(v, rows[dy], out=v)
            o = out[b0:b1]
            if kx == 1:
                o[...] = v[:, : (wo - 1) * sx + 1 : sx]
            else:
                op(v[:, 0 : (wo - 1) * sx + 1 : sx], v[:, 1 : (wo - 1) * sx + 2 : sx], out=o)
                for dx in range(2, kx):
                    op(o, v[:, dx : dx + (wo - 1) * sx + 1 : sx], out=o)
            if isinstance(scale, np.ndarray):
                np.divide(o, scale[b0:b1], out=o)
            elif scale is not None:
                np.multiply(o, scale, out=o)

    if out.size >= _THREAD_MIN:
        for_rows(ho, run)
    else:
        run(0, ho)
    return out


def _pool_counts(n, k, s, before, after, out, include_pad) -> np.ndarray:
    """Cells each window counts along one axis: the real cells, or (``include_pad``, PyTorch)
    the cells inside the padded input ``[-before, n + after)``."""
    starts = np.arange(out) * s - before
    ends = starts + k
    if include_pad:
        lo, hi = np.maximum(starts, -before), np.minimum(ends, n + after)
    else:
        lo, hi = np.maximum(starts, 0), np.minimum(ends, n)
    return (hi - lo).astype(np.float64)


def pool2d_reference(
    x,
    size=2,
    *,
    stride=None,
    mode="max",
    padding="valid",
    ceil_mode=False,
    count_include_pad=False,
) -> np.ndarray:
    """The obvious, slow version of :func:`pool2d`: a loop over windows in float64."""
    a = _as_image(x, "x").astype(np.float64)
    mode = _choice(mode, "mode", POOL_MODES)
    plan = _pool_plan(a.shape[:2], size, stride, padding, ceil_mode)
    (ky, sy, ty, ay, ho), (kx, sx, tx, ax, wo) = plan
    squeeze = a.ndim == 2
    if squeeze:
        a = a[:, :, None]
    h, w, c = a.shape
    res = np.zeros((ho, wo, c), np.float64)
    for i in range(ho):
        for j in range(wo):
            y0, x0 = i * sy - ty, j * sx - tx
            y1, x1 = y0 + ky, x0 + kx
            window = a[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)].reshape(-1, c)
            if mode == "max":
                res[i, j] = window.max(axis=0)
            else:
                if count_include_pad:
                    ny = min(y1, h + ay) - max(y0, -ty)
                    nx = min(x1, w + ax) - max(x0, -tx)
                    count = ny * nx
                else:
                    count = window.shape[0]
                res[i, j] = window.sum(axis=0) / count
    if squeeze:
        res = res[:, :, 0]
    return res.astype(np.float32)


# --------------------------------------------------------------------------- relu


def relu(x) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)`` elementwise.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    numpy.ndarray, float32, same shape as ``x``
        A new array; NaN stays NaN.
    """
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    return np.maximum(a, np.float32(0), dtype=np.float32)
