"""The obvious, slow versions of the engine's routines, for tests and for reading.

Each loops over every output cell in float64 and shares only the argument checks with its
fast twin; the tests compare the two on random shapes, strides and paddings.
"""

from __future__ import annotations

import numpy as np

from convdemo.ops.borders import border_index
from convdemo.ops.conv import layer_form, prepare
from convdemo.ops.layer import Plan, bias_vector
from convdemo.ops.shapes import pool_plan
from convdemo.ops.validation import POOL_MODES, as_image, choice


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
    dilation=1,
) -> np.ndarray:
    """The obvious, slow version of :func:`convdemo.ops.conv2d` (same arguments, same result).

    Loops over every output cell, every kernel tap and every channel in float64, finding
    each padded cell's source pixel by index arithmetic (no ``numpy.pad``). Only for tests
    and for reading. A layer kernel ``(kh, kw, C_in, C_out)`` goes to
    :func:`conv2d_layer_reference`.
    """
    if layer_form(kernel, border, channels, flip):
        return conv2d_layer_reference(image, kernel, stride=stride, padding=padding,
                                      dilation=dilation, bias=bias)
    x, k, (sy, sx), pads, border, channels, b, (ho, wo), (dy, dx) = prepare(
        image, kernel, stride, padding, border, channels, flip, bias, dilation
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
    # source row of tap a for output row i: i*sy + a*dy - top (-1: a zero cell); likewise cols
    src_rows = border_index(np.arange(ho)[:, None] * sy + np.arange(kh) * dy - top, h, border)
    src_cols = border_index(np.arange(wo)[:, None] * sx + np.arange(kw) * dx - left, w, border)
    res = np.zeros((ho, wo, c), np.float64)
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                yy = src_rows[i, a]
                for bb in range(kw):
                    xx = src_cols[j, bb]
                    if yy < 0 or xx < 0:
                        continue
                    for ch in range(c):
                        res[i, j, ch] += kk[a, bb, ch] * x[yy, xx, ch]
    if channels == "sum" or np.ndim(image) == 2:
        res = res.sum(axis=2)
    return (res + b).astype(np.float32)


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
    """The obvious, slow version of :func:`convdemo.ops.pool2d`: a loop over windows in float64."""
    a = as_image(x, "x").astype(np.float64)
    mode = choice(mode, "mode", POOL_MODES)
    plan = pool_plan(a.shape[:2], size, stride, padding, ceil_mode)
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


def conv2d_layer_reference(x, kernel, *, stride=1, padding="valid", dilation=1, bias=None):
    """The layer form by definition: filter ``f`` on image ``n`` is
    :func:`conv2d_reference` of ``x[n]`` with ``kernel[:, :, :, f]`` (channels summed, zero
    padding), plus ``bias[f]``."""
    plan = Plan(x, kernel, stride, padding, dilation)
    b = bias_vector(bias, plan.cout)
    out = np.zeros(plan.out_shape, np.float32)
    for n in range(plan.n):
        for f in range(plan.cout):
            out[n, :, :, f] = conv2d_reference(
                plan.x[n], plan.kernel[:, :, :, f], stride=stride, padding=padding,
                dilation=dilation, bias=0.0 if b is None else float(b[f]),
            )
    return out


def conv2d_grads_reference(x, kernel, grad_out, *, stride=1, padding="valid", dilation=1):
    """The gradients of the layer form by their definitions, in float64 loops.

    For every output cell ``(n, i, j)`` and tap ``(a, b)`` reading input cell
    ``(r, q) = (i sy + a dy - top, j sx + b dx - left)`` (skipped when it is padding):
    ``dx[n, r, q, :] += K[a, b] @ g[n, i, j]`` and ``dK[a, b] += outer(x[n, r, q], g[n, i, j])``;
    ``dbias = sum of g``. Returns float32 ``(dx, dkernel, dbias)``.
    """
    plan = Plan(x, kernel, stride, padding, dilation)
    g = np.asarray(grad_out, np.float64)
    if g.shape != plan.out_shape:
        raise ValueError(f"grad_out must have shape {plan.out_shape}, not {g.shape}")
    xs, ks = plan.x.astype(np.float64), plan.kernel.astype(np.float64)
    (sy, sx), (dy, dx_), ((top, _), (left, _)) = plan.strides, plan.dilations, plan.pads
    dx = np.zeros(xs.shape)
    dk = np.zeros(ks.shape)
    for n in range(plan.n):
        for i in range(plan.ho):
            for j in range(plan.wo):
                for a in range(plan.kh):
                    r = i * sy + a * dy - top
                    for b in range(plan.kw):
                        q = j * sx + b * dx_ - left
                        if not (0 <= r < plan.h and 0 <= q < plan.w):
                            continue
                        dx[n, r, q] += ks[a, b] @ g[n, i, j]
                        dk[a, b] += np.outer(xs[n, r, q], g[n, i, j])
    db = g.sum(axis=(0, 1, 2))
    return dx.astype(np.float32), dk.astype(np.float32), db.astype(np.float32)
