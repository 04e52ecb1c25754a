"""Slow, obvious loop versions of the layers with windows, to test the fast ones against.

Each takes a configured layer (for its settings and parameters) and an input (N, H, W, C)
and computes the output pixel by pixel in float64, with the padding written out again from
its definition. Never used by the app.
"""

from __future__ import annotations

import numpy as np

from convdemo.model.layers import AveragePooling2D, Conv2D, MaxPooling2D


def _same(n: int, k_eff: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k_eff - n, 0)
    return total // 2, total - total // 2


def _pads(padding, h, w, keff_h, keff_w, sh, sw):
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return _same(h, keff_h, sh), _same(w, keff_w, sw)
    return padding


def conv2d(layer: Conv2D, x: np.ndarray, *, activate: bool = True) -> np.ndarray:
    """``y[n, i, j, f] = act(b[f] + sum_{a, c, k} xp[n, i*sh + a*dh, j*sw + c*dw, k]
    * K[a, c, k, f])`` with ``xp`` the zero-padded input."""
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    kernel = np.asarray(layer.params["kernel"], np.float64)
    bias = np.asarray(layer.params["bias"], np.float64)
    n, h, w, cin = x.shape
    (t, b), (left, r) = _pads(layer.padding, h, w, dh * (kh - 1) + 1, dw * (kw - 1) + 1, sh, sw)
    xp = np.zeros((n, h + t + b, w + left + r, cin))
    xp[:, t : t + h, left : left + w] = x
    ho = (h + t + b - dh * (kh - 1) - 1) // sh + 1
    wo = (w + left + r - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, ho, wo, layer.filters))
    for m in range(n):
        for i in range(ho):
            for j in range(wo):
                for f in range(layer.filters):
                    total = bias[f]
                    for a in range(kh):
                        for c in range(kw):
                            row, col = i * sh + a * dh, j * sw + c * dw
                            for k in range(cin):
                                total += xp[m, row, col, k] * kernel[a, c, k, f]
                    out[m, i, j, f] = total
    if activate and layer.activation == "relu":
        out = np.maximum(out, 0)
    elif activate and layer.activation != "linear":
        raise NotImplementedError("the reference knows relu and linear")
    return out


def pool2d(layer: MaxPooling2D | AveragePooling2D, x: np.ndarray) -> np.ndarray:
    """The max, or the mean over the window's input pixels (or over the whole window with
    ``count_include_pad``), of each window."""
    (ph, pw), (sh, sw) = layer.pool_size, layer.strides
    n, h, w, c = x.shape
    (t, b), (left, r) = _pads(layer.padding, h, w, ph, pw, sh, sw)
    ho = (h + t + b - ph) // sh + 1
    wo = (w + left + r - pw) // sw + 1
    out = np.zeros((n, ho, wo, c))
    for m in range(n):
        for i in range(ho):
            for j in range(wo):
                for k in range(c):
                    values = []
                    for a in range(ph):
                        for e in range(pw):
                            row, col = i * sh + a - t, j * sw + e - left
                            if 0 <= row < h and 0 <= col < w:
                                values.append(x[m, row, col, k])
                    if isinstance(layer, MaxPooling2D):
                        out[m, i, j, k] = max(values)
                    elif layer.count_include_pad:
                        out[m, i, j, k] = sum(values) / (ph * pw)
                    else:
                        out[m, i, j, k] = sum(values) / len(values)
    return out
