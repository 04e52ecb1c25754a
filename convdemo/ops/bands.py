"""Banded correlation: the inner engine of :func:`convdemo.ops.conv2d`.

The output is made in row bands of about 256 KiB (``parallel.BAND_ELEMS`` elements), so a
band's input, accumulator and scratch stay in a core's L2 cache, on two threads for large
outputs (``parallel.THREAD_MIN``). Two engines:

* :func:`flat_correlate` (stride 1): inside a band laid out at the padded width, every
  kernel tap is one contiguous slice of the flattened input;
* :func:`correlate_plane` (any stride): strided views of the padded input, tap by tap.

Band *sources* (:func:`rows_of`, :func:`rows_copied`, :func:`rows_summed`) hand the
stride-1 engine the rows of one input plane, made band by band where that saves a copy.
"""

from __future__ import annotations

import numpy as np

from convdemo.ops import parallel
from convdemo.ops.parallel import scratch


def correlate_plane(
    xp: np.ndarray,
    k: np.ndarray,
    strides: tuple[int, int],
    out: np.ndarray,
    dilation: tuple[int, int] = (1, 1),
) -> None:
    """``out[i, j] = sum_ab k[a, b] * xp[i*sy + a*dy, j*sx + b*dx]`` on a padded plane, in bands.

    ``xp`` is ``(Hp, Wp)`` or ``(Hp, Wp, C)`` with ``out`` ``(ho, wo)`` of matching trailing
    shape; ``strides`` is ``(sy, sx)``, ``dilation`` ``(dy, dx)``. Each row band of ``out`` is
    finished (all taps) before the next, so its inputs stay in cache; no temporary larger than
    one band is made.
    """
    (sy, sx), (dy, dx) = strides, dilation
    ho, wo = out.shape[:2]
    kh, kw = k.shape
    taps = [(a, b, k[a, b]) for a in range(kh) for b in range(kw) if k[a, b] != 0]
    if not taps:
        out.fill(0)
        return
    row_elems = max(1, out[0].size)
    band = parallel.band_rows(ho, row_elems)

    def run(r0: int, r1: int) -> None:
        tmp = scratch(0, (band,) + out.shape[1:])
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            o = out[b0:b1]
            t = tmp[: b1 - b0]
            for n, (a, b, w) in enumerate(taps):
                y0, x0 = a * dy + b0 * sy, b * dx
                src = xp[y0 : y0 + (b1 - b0 - 1) * sy + 1 : sy, x0 : x0 + (wo - 1) * sx + 1 : sx]
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

    parallel.maybe_for_rows(ho, out.size, run)


def add_channels(x: np.ndarray, out: np.ndarray) -> None:
    """``out = x[..., 0] + x[..., 1] + ...`` (float32, left to right) by strided adds."""
    np.add(x[..., 0], x[..., 1], out=out)
    for ch in range(2, x.shape[-1]):
        np.add(out, x[..., ch], out=out)


def matmul_channels(x: np.ndarray, out: np.ndarray) -> None:
    """The same sum as one BLAS matrix-vector product per row (``x @ ones``)."""
    np.matmul(x, np.ones(x.shape[-1], np.float32), out=out)


def channel_sum(channels: int):
    """How :func:`sum_channels` and :func:`rows_summed` add ``channels`` channels: a rule on
    the channel count alone, so the same input takes the same path on every machine.

    * 2 or 3 channels (RGB, grey + alpha): :func:`matmul_channels`, one BLAS matrix-vector
      product ``x @ ones`` per band.
    * 1 or 4 and more: :func:`add_channels`, strided float32 additions left to right.

    Why: measured on band-sized arrays (18 x 4000 pixels, in cache), ``x @ ones`` over
    interleaved RGB took 16-54 us against 53-89 us for the strided adds (OpenBLAS 0.3.31 with
    its own AVX-512 kernels and with ``OPENBLAS_CORETYPE=Haswell``), and it gives the same sums
    bit for bit: two float32 additions in the same order. With 4 or more channels BLAS adds in
    another order (the last bit differs from left-to-right adds), so those keep the adds and a
    fixed summation order. An old core type forced through ``OPENBLAS_CORETYPE`` (Prescott)
    makes the BLAS product about 2x slower than the adds; that is a slower machine, not another
    path. The tests check that both methods give the same sums for 2 and 3 channels.
    """
    return matmul_channels if channels in (2, 3) else add_channels


def sum_channels(x: np.ndarray) -> np.ndarray:
    """``x[..., 0] + x[..., 1] + ...`` in float32, in bands on two threads for big images."""
    h, w, c = x.shape
    out = np.empty((h, w), np.float32)
    if c == 1:
        out[...] = x[..., 0]
        return out
    band = parallel.band_rows(h, w)
    add = channel_sum(c)

    def run(r0: int, r1: int) -> None:
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            add(x[b0:b1], out[b0:b1])

    parallel.maybe_for_rows(h, out.size, run)
    return out


def taps(k: np.ndarray) -> list[tuple[np.float32 | None, list[tuple[int, int, int]]]]:
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


def rows_of(plane: np.ndarray):
    """Band source for a C-contiguous 2-D plane: its rows ``[y0, y1)``, no copy."""

    def rows(y0: int, y1: int, buf: np.ndarray) -> np.ndarray:
        return plane[y0:y1]

    return rows


def rows_copied(x: np.ndarray, channel: int):
    """Band source for one channel of ``(H, W, C)``: rows copied into the band buffer."""

    def rows(y0: int, y1: int, buf: np.ndarray) -> np.ndarray:
        np.copyto(buf, x[y0:y1, :, channel])
        return buf

    return rows


def rows_summed(x: np.ndarray):
    """Band source for the channel sum of ``(H, W, C)``, made band by band in cache."""
    add = channel_sum(x.shape[2])

    def rows(y0: int, y1: int, buf: np.ndarray) -> np.ndarray:
        add(x[y0:y1], buf)
        return buf

    return rows


def flat_correlate(
    outputs,
    wp: int,
    kernel_hw: tuple[int, int],
    out_hw: tuple[int, int],
    bias: float,
    cpp: int = 1,
    dilation: tuple[int, int] = (1, 1),
) -> None:
    """Stride-1 correlation, band by band, with every tap a contiguous 1-D slice.

    ``outputs`` is a list of ``(dest, terms)``: ``dest`` is a ``(ho, wo * cpp)`` float32 array
    (or view) to fill with the sum over ``terms`` of ``(rows, taps)``, where
    ``rows(y0, y1, buf)`` returns rows ``[y0, y1)`` of a padded plane of ``wp`` pixels of
    ``cpp`` interleaved values each, as a C-contiguous ``(y1 - y0, wp * cpp)`` array, and
    ``taps`` come from :func:`taps`. With ``cpp > 1`` every channel is filtered on its own
    (the same weights), straight from interleaved RGB. ``kernel_hw`` is ``(kh, kw)``,
    ``out_hw`` ``(ho, wo)``, ``dilation`` ``(dy, dx)``: tap ``(a, b)`` reads ``a * dy`` rows
    and ``b * dx`` pixels from the output cell's corner.

    The trick: in a band of ``n`` output rows laid out with the padded width, output
    ``(r * wp + c) * cpp + ch`` reads input ``((r + a dy) * wp + c + b dx) * cpp + ch``, so tap
    ``(a, b)`` is one contiguous slice of the flattened band, offset by
    ``(a dy wp + b dx) cpp``. The ``(kw - 1) dx`` columns past ``wo`` in each row are computed
    and thrown away (0.1% extra for a 3x3 kernel on a photo); in exchange every ufunc call
    runs over one long contiguous run that stays in cache.
    """
    (kh, kw), (ho, wo), (dy, dx) = kernel_hw, out_hw, dilation
    reach_y, reach_x = (kh - 1) * dy, (kw - 1) * dx  # effective kernel minus 1
    rs = wp * cpp  # values per padded row
    band = parallel.band_rows(ho, rs)

    def run(r0: int, r1: int) -> None:
        src_buf = scratch(0, ((band + reach_y) * rs,))
        acc = scratch(1, (band * rs,))
        tmp = scratch(2, (band * rs,))
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            n = b1 - b0
            m = n * rs - reach_x * cpp  # up to the last valid output of the band's last row
            acc_m, tmp_m = acc[:m], tmp[:m]
            buf = src_buf[: (n + reach_y) * rs].reshape(n + reach_y, rs)
            for dest, terms in outputs:
                first = True
                for rows, groups in terms:
                    src = rows(b0, b1 + reach_y, buf).reshape(-1)
                    first = _accumulate(src, groups, rs * dy, cpp * dx, m, acc_m, tmp_m, first)
                if first:
                    acc_m.fill(0)
                result = acc[: n * rs].reshape(n, rs)[:, : wo * cpp]
                if bias != 0.0:
                    np.add(result, np.float32(bias), out=dest[b0:b1])
                else:
                    dest[b0:b1] = result

    parallel.maybe_for_rows(ho, ho * wo * cpp * len(outputs), run)
