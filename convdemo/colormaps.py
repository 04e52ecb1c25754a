"""Colour maps, one home for each: blue-white-red for signed values (results, weights) and
viridis for activations. uint8 lookup tables of at most 256 entries (pyqtgraph's advice), no
Qt: the window, scan mode, GIF export and the CNN views all read these.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["BLUE", "RED", "diverging_lut", "tint", "to_viridis", "viridis_lut"]

#: the ends of the blue-white-red map (ColorBrewer RdBu)
BLUE = (33, 102, 172)
RED = (178, 24, 43)
_WHITE = (255, 255, 255)

#: viridis sampled at 17 evenly spaced points (matplotlib's, as pyqtgraph ships it);
#: :func:`viridis_lut` interpolates them linearly (within 1 level of the full table)
_VIRIDIS = np.array([
    (68, 1, 84), (72, 24, 106), (71, 45, 123), (66, 64, 134), (59, 82, 139), (51, 99, 141),
    (44, 114, 142), (38, 130, 142), (33, 145, 140), (31, 159, 136), (39, 173, 129),
    (61, 188, 116), (92, 200, 99), (129, 211, 77), (170, 220, 50), (213, 226, 26),
    (253, 231, 37)], dtype=np.float64)


def diverging_lut(n: int = 256) -> np.ndarray:
    """A blue-white-red colour map: entry 0 is -max (blue), the middle 0 (white), the last
    +max (red). With an even ``n`` the two central entries are both white.

    Returns
    -------
    numpy.ndarray, uint8, shape (n, 3)
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, not {n!r}")
    blue = np.array(BLUE, np.float64)
    white = np.array(_WHITE, np.float64)
    red = np.array(RED, np.float64)
    t = np.linspace(-1.0, 1.0, n)[:, None]
    if n % 2 == 0:  # no middle entry: make the two central ones both pure white
        h = 1.0 / (n - 1)
        t = np.sign(t) * np.maximum(np.abs(t) - h, 0.0) / (1.0 - h)
    neg = white + (blue - white) * (-t)
    pos = white + (red - white) * t
    lut = np.where(t < 0, neg, pos)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


def tint(value: float, scale: float, strength: float = 0.6) -> tuple[int, int, int]:
    """A pale blue-white-red background for one signed number (a weight in a table):
    ``value / scale`` clipped to -1..1, blended from white towards the map's end by
    ``strength`` (so black text stays readable)."""
    t = 0.0 if scale <= 0 else max(-1.0, min(1.0, value / scale)) * strength
    end = RED if t >= 0 else BLUE
    return tuple(round(w + (e - w) * abs(t)) for w, e in zip(_WHITE, end, strict=True))


@lru_cache(maxsize=1)
def viridis_lut() -> np.ndarray:
    """The 256-entry uint8 (256, 3) viridis lookup table (perceptual, dark = 0)."""
    x = np.linspace(0.0, 1.0, len(_VIRIDIS))
    t = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(t, x, _VIRIDIS[:, i]) for i in range(3)], axis=1)
    out = np.clip(np.rint(lut), 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


def to_viridis(values: np.ndarray, vmax: float) -> np.ndarray:
    """Map float values in 0..vmax to uint8 RGB (..., 3) on the shared viridis scale."""
    scale = 255.0 / vmax if vmax > 0 else 0.0
    idx = np.clip(np.asarray(values, np.float32) * scale, 0, 255).astype(np.uint8)
    return viridis_lut()[idx]
