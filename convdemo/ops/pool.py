"""Max and average pooling: :func:`pool2d`."""

from __future__ import annotations

import numpy as np

from convdemo.ops import parallel
from convdemo.ops.parallel import scratch
from convdemo.ops.shapes import pool_plan
from convdemo.ops.validation import POOL_MODES, as_image, choice, flag


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
    a = as_image(x, "x")
    mode = choice(mode, "mode", POOL_MODES)
    count_include_pad = flag(count_include_pad, "count_include_pad")
    plan = pool_plan(a.shape[:2], size, stride, padding, ceil_mode)
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
        cy = pool_counts(h, ky, sy, ty, ay, ho, count_include_pad)
        cx = pool_counts(w, kx, sx, tx, ax, wo, count_include_pad)
        if cy.min() == cy.max() and cx.min() == cx.max():
            scale = np.float32(1.0 / (cy[0] * cx[0]))
        else:
            scale = np.multiply.outer(cy, cx).astype(np.float32)
            if out.ndim == 3:
                scale = scale[:, :, None]
    trail = a.shape[2:]
    band = parallel.band_rows(ho, need_x * int(np.prod(trail, dtype=np.int64)))

    def run(r0: int, r1: int) -> None:
        # separable: first the window's rows (whole contiguous rows, fast), then its columns
        vbuf = scratch(0, (band, need_x) + trail)
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

    parallel.maybe_for_rows(ho, out.size, run)
    return out


def pool_counts(n, k, s, before, after, out, include_pad) -> np.ndarray:
    """Cells each window counts along one axis: the real cells, or (``include_pad``, PyTorch)
    the cells inside the padded input ``[-before, n + after)``."""
    starts = np.arange(out) * s - before
    ends = starts + k
    if include_pad:
        lo, hi = np.maximum(starts, -before), np.minimum(ends, n + after)
    else:
        lo, hi = np.maximum(starts, 0), np.minimum(ends, n)
    return (hi - lo).astype(np.float64)
