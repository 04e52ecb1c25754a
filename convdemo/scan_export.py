"""Scan mode without a window: draw a :class:`convdemo.scan_render.Scene` with Pillow, and
write a whole scan as an animated GIF (``convdemo scan``, File ▸ Export scan as GIF…).

The renderer draws exactly the primitives :func:`convdemo.scan_render.layout` returns, in
order, as the window's canvas does with QPainter. No Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from convdemo import budget, fileio
from convdemo.pipeline import Settings
from convdemo.scan import ScanModel
from convdemo.scan_render import Cells, Hatch, Lines, Rect, Scene, Text, font, layout

__all__ = ["GifInfo", "cap_note", "check_gif_options", "frame_positions", "render", "write_gif"]

#: the largest GIF canvas side, in px
MAX_GIF_SIDE = 3840
#: frames at most in a GIF unless the caller asks otherwise
MAX_FRAMES = 120
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


def frame_positions(n_cells: int, max_frames: int, n_conv: int | None = None) -> \
        tuple[list[int], int]:
    """Which scan positions become frames, and the step between them.

    Position 0 (nothing computed yet) is the first frame; then every ``k``-th step, ``k``
    the smallest step (from ``ceil(n_cells / (max_frames - 1))``, 1 when every step fits)
    that keeps the frames within ``max_frames`` once the end of the convolution stage
    (``n_conv``) and the last step, always frames, are added.
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
        raise ValueError(f"the number of frames must be 2 or more, not {max_frames!r}")
    k = max(1, math.ceil(n_cells / (max_frames - 1)))
    while True:
        positions = set(range(0, n_cells + 1, k)) | {n_cells}
        if n_conv is not None:
            positions.add(n_conv)
        if len(positions) <= max_frames or k >= n_cells:
            return sorted(positions), k
        k += 1


@dataclass(frozen=True)
class GifInfo:
    """What :func:`write_gif` wrote."""

    path: Path
    frames: int
    every: int
    steps: int
    width: int
    height: int
    bytes: int


def check_gif_options(size, max_frames: int, frame_ms: int, hold_ms: int = 3000) -> None:
    """Raise a ValueError of one sentence unless :func:`write_gif` can use these."""
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size must be (width, height) in px, not {size!r}")
    for name, v in zip(("width", "height"), size, strict=True):
        if isinstance(v, bool) or not isinstance(v, int) or not 160 <= v <= MAX_GIF_SIDE:
            raise ValueError(f"the GIF's {name} must be 160 to {MAX_GIF_SIDE} px, not {v!r}")
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
        raise ValueError(f"the number of frames must be 2 or more, not {max_frames!r}")
    for name, v in (("a frame's time", frame_ms), ("the hold time", hold_ms)):
        if isinstance(v, bool) or not isinstance(v, int) or not 20 <= v <= 60_000:
            raise ValueError(f"{name} must be 20 to 60000 ms, not {v!r}")


#: the palette index left for "unchanged since the last frame" (transparent)
_CLEAR = 255


def _palette(a: Image.Image, b: Image.Image) -> Image.Image:
    """One palette of 255 colours for the whole animation, from its first and last frames
    (between them they hold every colour the scan draws); index 255 stays free for
    :data:`_CLEAR`."""
    both = Image.new("RGB", (a.width, a.height * 2))
    both.paste(a, (0, 0))
    both.paste(b, (0, a.height))
    return both.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def _delta(img: Image.Image, palette: Image.Image, previous: np.ndarray | None) -> \
        tuple[Image.Image, np.ndarray]:
    """A frame in the shared palette holding only what changed since ``previous`` (palette
    indices): unchanged pixels are transparent (:data:`_CLEAR`; the GIF keeps the previous
    frame under them, disposal 1), which LZW packs into almost nothing."""
    indexed = img.quantize(palette=palette, dither=Image.Dither.NONE)  # indices 0..254
    idx = np.asarray(indexed)
    out = idx if previous is None else np.where(idx == previous, np.uint8(_CLEAR), idx)
    frame = Image.fromarray(out.astype(np.uint8), "P")
    # entry 255 is never a pixel's colour; magenta, so that no reader mistakes it for black
    frame.putpalette(indexed.getpalette()[: 3 * _CLEAR] + [255, 0, 255])
    return frame, idx


def write_gif(image: np.ndarray, settings: Settings, path, *, size: tuple[int, int] = (1280, 720),
              max_frames: int = MAX_FRAMES, frame_ms: int = 200, hold_ms: int = 3000,
              progress=None) -> GifInfo | None:
    """Write the scan of ``image`` with ``settings`` as an animated GIF.

    Each frame is :func:`convdemo.scan_render.layout` drawn by :func:`render`: the first
    shows the empty output, then every k-th step, the end of the convolution stage and the
    last step (held ``hold_ms``). Frames share one palette, and each frame after the first
    stores only the pixels that changed, so a 28x28 scan at 1280x720 is well under 2 MB.

    Parameters
    ----------
    image : numpy.ndarray
        float32 (H, W) or (H, W, 3) in 0..1; scanned on its pixelated copy
        (:func:`convdemo.scan.scan_copy`), as the window's scan mode does.
    settings : pipeline.Settings
        The user's settings (kernel, stride, padding, bias, ReLU, pooling, ...).
    path : str or Path
        The ``.gif`` to write (atomically, with :func:`convdemo.fileio.atomic_write`).
    size : (int, int)
        Frame width and height in px, each 160 to :data:`MAX_GIF_SIDE`.
    max_frames : int
        At most this many frames (at least 2). A longer scan shows every k-th step,
        ``k = ceil(steps / (max_frames - 1))``, and each frame says so.
    frame_ms, hold_ms : int
        How long each frame shows, and the first, the stage change and the last frame
        (20 ms to 60 s).
    progress : callable, optional
        ``progress(done, total)`` after each frame is drawn; returning False cancels (then
        nothing is written and None is returned).

    Returns
    -------
    GifInfo or None
    """
    check_gif_options(size, max_frames, frame_ms, hold_ms)
    width, height = size
    model = ScanModel(image, settings)
    positions, k = frame_positions(model.n_cells, max_frames, model.n_conv)
    # the indexed frames are all held until they are written, and Pillow copies them once
    budget.check(2 * len(positions) * width * height + 12 * width * height,
                 f"the GIF's {len(positions)} frames of {width}x{height}")
    note = cap_note(k, model.n_cells)

    def picture() -> Image.Image:
        return render(layout(model, width, height, note=note))

    first = picture()
    model.run_to_end()
    palette = _palette(first, picture())
    model.reset()
    frames, durations, previous = [], [], None
    for n, pos in enumerate(positions):
        model.run_to(pos)
        frame, previous = _delta(first if pos == 0 else picture(), palette, previous)
        frames.append(frame)
        durations.append(hold_ms if pos in (0, model.n_conv, model.n_cells) else frame_ms)
        if progress is not None and progress(n + 1, len(positions)) is False:
            return None

    def write(fh) -> None:
        frames[0].save(fh, format="GIF", save_all=True, append_images=frames[1:],
                       duration=durations, loop=0, optimize=False, disposal=1,
                       transparency=_CLEAR)

    out = fileio.atomic_write(path, write)
    return GifInfo(Path(out), len(frames), k, model.n_cells, width, height,
                   Path(out).stat().st_size)


def cap_note(every: int, steps: int) -> str:
    """The line a capped GIF's frames carry ("every 8th step shown (845 steps in all)"), or
    "" when every step is a frame."""
    return f"every {_ordinal(every)} step shown ({steps} steps in all)" if every > 1 else ""


def _ordinal(k: int) -> str:
    if 10 <= k % 100 <= 20:
        return f"{k}th"
    return f"{k}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"
