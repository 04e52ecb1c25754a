"""numpy <-> QImage: the one place arrays become Qt images and back."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PyQt6.QtGui import QImage


def to_qimage(pixels: np.ndarray) -> QImage:
    """A uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB array as a QImage that owns its pixels."""
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    if a.ndim == 2:
        fmt, channels = QImage.Format.Format_Grayscale8, 1
    elif a.ndim == 3 and a.shape[2] == 3:
        fmt, channels = QImage.Format.Format_RGB888, 3
    elif a.ndim == 3 and a.shape[2] == 4:
        fmt, channels = QImage.Format.Format_RGBA8888, 4
    else:
        raise ValueError(f"an image must be (H, W), (H, W, 3) or (H, W, 4), not {a.shape}")
    h, w = a.shape[:2]
    return QImage(a.data, w, h, channels * w, fmt).copy()


def to_pil(qimage: QImage) -> Image.Image:
    """A QImage (any format) as an RGBA PIL image (imaging drops a fully opaque alpha)."""
    rgba = qimage.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = rgba.width(), rgba.height()
    ptr = rgba.constBits()
    ptr.setsize(rgba.sizeInBytes())
    arr = np.frombuffer(ptr, dtype=np.uint8).reshape(h, rgba.bytesPerLine())[:, : w * 4]
    return Image.fromarray(arr.reshape(h, w, 4).copy(), "RGBA")
