"""Scan mode without a window: draw a :class:`convdemo.scan_render.Scene` with Pillow, and
write a whole scan as an animated GIF (``convdemo scan``, File ▸ Export scan as GIF…).

The renderer draws exactly the primitives :func:`convdemo.scan_render.layout` returns, in
order, as the window's canvas does with QPainter. No Qt here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from convdemo.scan_render import Cells, Hatch, Lines, Rect, Scene, Text, font

__all__ = ["render"]

_ANCHOR = {"left": "lm", "center": "mm", "right": "rm"}


def _box(x, y, w, h) -> tuple[int, int, int, int]:
    """Whole-pixel edges ``(x0, y0, x1, y1)`` (x1, y1 exclusive) of a float rectangle."""
    return round(x), round(y), round(x + w), round(y + h)


def render(scene: Scene) -> Image.Image:
    """The scene as an RGB picture of ``scene.width x scene.height`` px."""
    img = Image.new("RGB", (scene.width, scene.height), scene.background)
    draw = ImageDraw.Draw(img)
    for item in scene.items:
        if isinstance(item, Cells):
            x0, y0, x1, y1 = _box(item.x, item.y, item.w, item.h)
            if x1 > x0 and y1 > y0:
                cells = Image.fromarray(np.ascontiguousarray(item.rgb, dtype=np.uint8), "RGB")
                img.paste(cells.resize((x1 - x0, y1 - y0), Image.Resampling.NEAREST), (x0, y0))
        elif isinstance(item, Rect):
            x0, y0, x1, y1 = _box(item.x, item.y, item.w, item.h)
            if x1 <= x0 or y1 <= y0:
                continue
            if item.fill is not None:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=item.fill)
            if item.outline is not None:
                t = max(1, int(item.width))
                for band in ((x0, y0, x1, min(y1, y0 + t)), (x0, max(y0, y1 - t), x1, y1),
                             (x0, y0, min(x1, x0 + t), y1), (max(x0, x1 - t), y0, x1, y1)):
                    draw.rectangle((band[0], band[1], band[2] - 1, band[3] - 1),
                                   fill=item.outline)
        elif isinstance(item, (Lines, Hatch)):
            segments = item.segments() if isinstance(item, Hatch) else item.segments
            width = 1 if isinstance(item, Hatch) else int(item.width)
            for x0, y0, x1, y1 in segments:
                draw.line((round(x0), round(y0), round(x1), round(y1)), fill=item.colour,
                          width=width)
        elif isinstance(item, Text):
            if not item.text:
                continue
            anchor = _ANCHOR[item.align]
            x = {"left": item.x, "center": item.x + item.w / 2, "right": item.x + item.w}[
                item.align]
            draw.text((x, item.y + item.h / 2), item.text, fill=item.colour,
                      font=font(item.size, item.bold), anchor=anchor)
    return img
