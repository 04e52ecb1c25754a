"""Where output pixels sit on the input, and which input numbers a window reads.

Pure numpy (no Qt), shared by the output view, the pixel inspector and scan mode.

Coordinates: input pixel ``(row r, col c)`` covers the square ``[c, c+1) x [r, r+1)`` in the
views' scene. Every output image is drawn *in input coordinates*: output pixel ``p`` of a
convolution with kernel size ``k``, dilation ``d``, stride ``s`` and ``pb`` cells of padding
before reads input cells ``p*s - pb + a*d`` for taps ``a = 0 .. k - 1`` (``d`` apart, spanning
the effective kernel ``ke = (k - 1) d + 1``), so it is drawn as a ``s``-wide square centred on
that span. That is what lets the input and output views share one zoom and pan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convdemo import ops
from convdemo.ops import border_index
from convdemo.pipeline import Settings


def axis_pads(
    settings: Settings, n_rows: int, n_cols: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` padding the convolution adds, via ``ops.pad_amounts``
    (from the effective kernel when ``settings.dilation`` > 1)."""
    kh, kw = settings.kernel_array().shape[:2]
    padding = settings.padding
    if isinstance(padding, tuple):
        py, px = padding
    else:
        py = px = padding
    d = settings.dilation
    return (
        tuple(ops.pad_amounts(n_rows, kh, settings.stride, py, dilation=d)),
        tuple(ops.pad_amounts(n_cols, kw, settings.stride, px, dilation=d)),
    )


def effective_kernel(settings: Settings) -> tuple[int, int]:
    """``(kh_eff, kw_eff)``: the cells a window spans, ``(k - 1) * dilation + 1`` a side."""
    kh, kw = settings.kernel_array().shape[:2]
    d = settings.dilation
    return ((kh - 1) * d + 1, (kw - 1) * d + 1)


def window_values(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, border: str) -> np.ndarray:
    """The values at ``rows x cols`` (unpadded indices, may be outside) as the engine pads them.

    ``x`` is (H, W) or (H, W, C); returns (len(rows), len(cols)[, C]) float32.
    """
    ri = border_index(rows, x.shape[0], border)
    ci = border_index(cols, x.shape[1], border)
    out = x[np.clip(ri, 0, None)][:, np.clip(ci, 0, None)].astype(np.float32)
    zero = (ri[:, None] < 0) | (ci[None, :] < 0)
    out[zero] = 0.0
    return out


@dataclass(frozen=True)
class Placement:
    """Where an output image sits in input coordinates: a rectangle and a pixel pitch."""

    x0: float
    y0: float
    pitch_x: float
    pitch_y: float

    def rect(self, shape: tuple) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` of an output array of ``shape`` (H, W, ...)."""
        return (self.x0, self.y0, shape[1] * self.pitch_x, shape[0] * self.pitch_y)

    def index(self, x: float, y: float) -> tuple[int, int]:
        """Output (row, col) under the input-coordinate point ``(x, y)`` (may be outside)."""
        return (
            int(np.floor((y - self.y0) / self.pitch_y)),
            int(np.floor((x - self.x0) / self.pitch_x)),
        )

    def scaled(self, factor: float) -> Placement:
        """The same placement for an image ``factor`` times smaller (a preview)."""
        return Placement(self.x0 * factor, self.y0 * factor, self.pitch_x * factor,
                         self.pitch_y * factor)


def conv_placement(settings: Settings, image_shape: tuple) -> Placement:
    """Placement of the convolution's output grid (before pooling)."""
    (pt, _), (pl, _) = axis_pads(settings, image_shape[0], image_shape[1])
    kh, kw = effective_kernel(settings)
    s = settings.stride
    return Placement(-pl + kw / 2 - s / 2, -pt + kh / 2 - s / 2, float(s), float(s))


def output_placement(settings: Settings, image_shape: tuple) -> Placement:
    """Placement of the final output (after pooling, if any)."""
    conv = conv_placement(settings, image_shape)
    if settings.pool == "none":
        return conv
    size = settings.pool_size
    step = settings.pool_stride or size
    s = settings.stride
    centre_x = conv.x0 + s / 2 + s * (size - 1) / 2
    centre_y = conv.y0 + s / 2 + s * (size - 1) / 2
    pitch = float(s * step)
    return Placement(centre_x - pitch / 2, centre_y - pitch / 2, pitch, pitch)


def receptive_field(settings: Settings, image_shape: tuple, row: int, col: int):
    """Input rows and cols (unpadded indices, may be outside) read by conv output (row, col):
    ``row * stride - top + a * dilation`` for each kernel row ``a`` (the taps, ``dilation``
    apart; the cells between them are not read), likewise the cols."""
    (pt, _), (pl, _) = axis_pads(settings, image_shape[0], image_shape[1])
    kh, kw = settings.kernel_array().shape[:2]
    s, d = settings.stride, settings.dilation
    rows = np.arange(kh) * d + row * s - pt
    cols = np.arange(kw) * d + col * s - pl
    return rows, cols
