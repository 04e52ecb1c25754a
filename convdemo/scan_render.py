"""Scan mode laid out as data: drawing primitives for one moment of a scan (no Qt).

:func:`layout` turns a :class:`convdemo.scan.ScanModel` and a canvas size into a
:class:`Scene`: a list of primitives (:class:`Rect`, :class:`Cells`, :class:`Lines`,
:class:`Hatch`, :class:`Text`) in pixels, drawn in order. The window's canvas
(``convdemo.gui.scan``) and the Pillow renderer (:mod:`convdemo.scan_export`, GIF export)
draw the same scene, and tests read what is drawn from it without looking at pixels.

The stage, left to right (the lecture's ConvDemo, sized for a room)::

    title                                                        step k of n
         input          kernel        Σ        + bias    ReLU       output
    R  [padded plane] × [grid]   =  [0.452] ─┐
    G  [padded plane] × [grid]   =  [0.301] ─┼→ [1.09]  → [1.09] → [map filling in]
    B  [padded plane] × [grid]   =  [0.337] ─┘
    the multiply-and-sum written out, one line per channel

One row per input plane (R, G, B, or one grey plane), padding hatched; the kernel as a grid
of its numbers beside each plane (one per channel for per-channel kernels); each channel's
sum of products; their sum plus the bias (channels = sum; with channels = separate each row
keeps its own bias and output map); ReLU when it is on; the output map, computed cells in
the diverging colours (blue < 0 < red), pending ones grey. With pooling on, the second
stage shows the convolution's map, the pool window's numbers with the winner (max) or the
mean (avg), and the pooled map filling in. The window outlined is always the one whose sum
is written (:meth:`ScanModel.window`). Cells at least :data:`CELL_TEXT_MIN` px wide show
their values when the numbers fit them at :data:`MIN_CELL_FONT` px or more.

Sizes follow the canvas: the maps get whatever width the fixed columns leave, in whole
pixels per cell; fonts are about 1/28 of the canvas height (38 px at 1920x1080), so a 28x28
scan is readable from the back of a room.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ImageFont

from convdemo.colormaps import diverging_lut
from convdemo.formatting import format_number
from convdemo.scan import ScanModel

__all__ = [
    "CELL_TEXT_MIN",
    "Cells",
    "Grid",
    "Hatch",
    "Lines",
    "Rect",
    "Scene",
    "Text",
    "font",
    "layout",
    "text_width",
]

Colour = tuple[int, int, int]

#: cells at least this many pixels wide show their values
CELL_TEXT_MIN = 22
#: the smallest font a label is shrunk to before it is shortened (px)
MIN_FONT = 10
#: cell values are written only when they fit at this size or more (px)
MIN_CELL_FONT = 10
#: how much the interface scale may grow the scan's fonts (they already follow the canvas)
MAX_TEXT_GROWTH = 1.25
#: the dark edge around a window outline, at most (px); the yellow band is at most twice it
_MAX_EDGE = 5

BACKGROUND: Colour = (250, 250, 250)
INK: Colour = (33, 33, 33)
MUTED: Colour = (100, 100, 100)
GRID: Colour = (120, 120, 120)
PENDING: Colour = (221, 221, 221)
WINDOW: Colour = (255, 212, 0)
WINDOW_EDGE: Colour = (40, 40, 40)
HATCH: Colour = (150, 150, 150)
BOX_FILL: Colour = (255, 255, 255)
BOX_EDGE: Colour = (90, 90, 90)
IMAGE_EDGE: Colour = (255, 140, 0)
CHANNEL_INK: dict[str, Colour] = {"R": (176, 0, 0), "G": (0, 112, 0), "B": (0, 48, 192),
                                  "grey": INK}
PLANE_TINT: dict[int, Colour] = {0: (255, 70, 70), 1: (60, 200, 60), 2: (80, 120, 255)}


# ---------------------------------------------------------------------------- primitives


@dataclass(frozen=True)
class Rect:
    """A rectangle: ``fill`` inside, and an ``outline`` band ``width`` px wide drawn *inside*
    the rectangle's edge (so the rectangle is exactly what it covers)."""

    x: float
    y: float
    w: float
    h: float
    fill: Colour | None = None
    outline: Colour | None = None
    width: int = 1
    tag: str = ""


@dataclass(frozen=True, eq=False)
class Cells:
    """An image of cells, ``rgb`` (rows, cols, 3) uint8, scaled to ``w x h`` px by nearest
    neighbour (each cell a flat square)."""

    x: float
    y: float
    w: float
    h: float
    rgb: np.ndarray = field(repr=False)
    tag: str = ""


@dataclass(frozen=True)
class Lines:
    """Straight segments ``(x0, y0, x1, y1)``, all in one colour and width."""

    segments: tuple[tuple[float, float, float, float], ...]
    colour: Colour = GRID
    width: int = 1
    tag: str = ""


@dataclass(frozen=True)
class Hatch:
    """Diagonal hatching ("/" lines ``spacing`` px apart) clipped to a rectangle: padding."""

    x: float
    y: float
    w: float
    h: float
    colour: Colour = HATCH
    spacing: float = 6.0
    tag: str = ""

    def segments(self) -> tuple[tuple[float, float, float, float], ...]:
        """The hatch lines as segments, clipped to the rectangle (both renderers draw these)."""
        x0, y0, x1, y1 = self.x, self.y, self.x + self.w, self.y + self.h
        out = []
        t = x0 + y0 + self.spacing / 2
        while t < x1 + y1:  # the line x + y = t
            ax = max(x0, t - y1)
            bx = min(x1, t - y0)
            if bx > ax:
                out.append((ax, t - ax, bx, t - bx))
            t += self.spacing
        return tuple(out)


@dataclass(frozen=True)
class Text:
    """One line of text in the box ``(x, y, w, h)``: ``align`` left, center or right,
    vertically centred; ``size`` is the font's pixel size."""

    x: float
    y: float
    w: float
    h: float
    text: str
    size: int
    colour: Colour = INK
    align: str = "center"
    bold: bool = False
    tag: str = ""


@dataclass(frozen=True)
class Grid:
    """Where a map of cells is drawn: its top-left corner, the cell size in px, its size."""

    x: float
    y: float
    cell: float
    rows: int
    cols: int

    def rect(self, row: int, col: int, rows: int = 1, cols: int = 1) -> tuple[float, ...]:
        """``(x, y, w, h)`` of a block of cells starting at (row, col)."""
        return (self.x + col * self.cell, self.y + row * self.cell, cols * self.cell,
                rows * self.cell)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.rect(0, 0, self.rows, self.cols)


@dataclass(frozen=True, eq=False)
class Scene:
    """What to draw on a ``width x height`` canvas: ``items`` in order over ``background``.

    ``font_family`` names the typeface the texts were measured with (draw them in it when
    the platform has it). ``grids`` maps the tag of every map of cells ("input:R",
    "kernel:grey", "output", "conv", "pool-window", "pooled", ...) to where it is, for hit
    tests; ``blocks`` maps each part of the stage to the rectangle it occupies (parts never
    overlap).
    """

    width: int
    height: int
    items: tuple
    background: Colour = BACKGROUND
    font_family: str = ""
    grids: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)

    def find(self, kind: type, tag: str | None = None, prefix: str | None = None) -> list:
        """The items of one type, with a tag or a tag prefix."""
        return [i for i in self.items if isinstance(i, kind)
                and (tag is None or i.tag == tag)
                and (prefix is None or i.tag.startswith(prefix))]


# ---------------------------------------------------------------------------- fonts

#: TrueType fonts with the symbols the scan writes (× Σ → −), tried in order
FONT_FILES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
     "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
     "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
    ("C:/Windows/Fonts/segoeui.ttf", "C:/Windows/Fonts/segoeuib.ttf"),
    ("C:/Windows/Fonts/arial.ttf", "C:/Windows/Fonts/arialbd.ttf"),
    ("/System/Library/Fonts/Supplemental/Arial.ttf",
     "/System/Library/Fonts/Supplemental/Arial Bold.ttf"),
    ("/Library/Fonts/Arial.ttf", "/Library/Fonts/Arial Bold.ttf"),
)
#: symbols, and what to write instead with a font that lacks them
_ASCII = {"×": "x", "Σ": "sum", "→": "->", "−": "-", "–": "-", "…": "...", "°": " deg"}


@functools.lru_cache(maxsize=1)
def _font_files() -> tuple[str | None, str | None]:
    for regular, bold in FONT_FILES:
        if Path(regular).is_file():
            return regular, bold if Path(bold).is_file() else regular
    return None, None


@functools.lru_cache(maxsize=256)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The scan's typeface at ``size`` px (a system sans with × Σ →, else Pillow's own)."""
    regular, heavy = _font_files()
    path = heavy if bold else regular
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=1)
def _missing_symbols() -> frozenset[str]:
    f = font(40)
    tofu = f.getmask("\uffff").tobytes() if hasattr(f.getmask("\uffff"), "tobytes") else None
    missing = set()
    for ch in _ASCII:
        mask = f.getmask(ch)
        if mask.getbbox() is None or (tofu is not None and bytes(mask) == tofu):
            missing.add(ch)
    return frozenset(missing)


def glyphs(text: str) -> str:
    """``text`` with the symbols the font lacks written in ASCII."""
    for ch in _missing_symbols():
        text = text.replace(ch, _ASCII[ch])
    return text


def font_family() -> str:
    f = font(20)
    return str(getattr(f, "font", None) and f.font.family or "")


def text_width(text: str, size: int, bold: bool = False) -> float:
    """Width in px of one line of ``text`` at ``size`` px."""
    return float(font(max(1, int(size)), bold).getlength(glyphs(text)))


def fit_size(text: str, width: float, size: int, bold: bool = False,
             minimum: int = MIN_FONT) -> int:
    """The largest font size up to ``size`` at which ``text`` fits ``width`` px (at least
    ``minimum``)."""
    if not text:
        return size
    w = text_width(text, 100, bold)
    best = int(size if w <= 0 else min(size, math.floor(width * 100 / w)))
    while best > minimum and text_width(text, best, bold) > width:
        best -= 1
    return max(minimum, best)


# ---------------------------------------------------------------------------- colours


@functools.lru_cache(maxsize=1)
def _lut() -> np.ndarray:
    return diverging_lut()


def map_rgb(values: np.ndarray, scale: float) -> np.ndarray:
    """A map's colours: blue < 0 < red on ``±scale``; not yet computed (NaN) light grey."""
    v = np.asarray(values, dtype=np.float64)
    pending = np.isnan(v)
    idx = np.clip(np.rint((np.nan_to_num(v) / scale + 1) / 2 * 255), 0, 255).astype(np.intp)
    rgb = _lut()[idx]
    rgb[pending] = PENDING
    return np.ascontiguousarray(rgb)


def _light(rgb: np.ndarray) -> np.ndarray:
    """Halfway to white: a fill light enough to read dark numbers on."""
    return ((rgb.astype(np.uint16) + 255) // 2).astype(np.uint8)


def _plane_rgb(values: np.ndarray, channel: int, planes: int) -> np.ndarray:
    tint = np.array(PLANE_TINT[channel] if planes == 3 else (255, 255, 255), np.float64)
    rgb = np.clip(values, 0, 1)[:, :, None] * tint
    return np.ascontiguousarray((rgb + 0.5).astype(np.uint8))


def _ink_on(rgb) -> Colour:
    r, g, b = (int(v) for v in rgb)
    return INK if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def _cell_text(v: float, short: bool = False) -> str:
    if not np.isfinite(v):
        return ""
    if float(v).is_integer() and abs(v) < 1000:
        return str(int(v))
    text = f"{v:.2f}"
    if short:
        text = text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text
    return text


def _sum_text(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


# ---------------------------------------------------------------------------- building


@dataclass
class _Sizes:
    """Font sizes and spacing for one canvas."""

    base: int
    title: int
    head: int
    box: int
    op: int
    kernel: int
    band: int
    margin: int
    gap: int

    @classmethod
    def for_canvas(cls, width: int, height: int, text_scale: float = 1.0) -> _Sizes:
        # the fonts follow the canvas; the interface scale moves them by at most +25%, so the
        # maps keep their room (at 250% the boxes would leave them 3-px cells)
        f = max(11, round(min(width / 50, height / 28) * min(text_scale, MAX_TEXT_GROWTH)))
        return cls(base=f, title=f, head=max(MIN_FONT, round(0.75 * f)),
                   box=max(MIN_FONT, round(0.85 * f)), op=f,
                   kernel=max(MIN_FONT, round(0.6 * f)), band=max(MIN_FONT, round(0.7 * f)),
                   margin=max(6, round(0.5 * f)), gap=max(4, round(0.4 * f)))


class _Builder:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.items: list = []
        self.grids: dict[str, Grid] = {}
        self.blocks: dict[str, tuple[float, float, float, float]] = {}

    def add(self, item) -> None:
        self.items.append(item)

    def text(self, x, y, w, h, text, size, colour=INK, align="center", bold=False, tag="",
             fit=True) -> Text:
        text = glyphs(text)
        if fit:
            size = fit_size(text, w, size, bold)
        t = Text(x, y, w, h, text, int(size), colour, align, bold, tag)
        self.add(t)
        return t

    def block(self, name: str, x, y, w, h) -> None:
        self.blocks[name] = (x, y, w, h)

    def cells_map(self, tag: str, x: float, y: float, cell: int, rgb: np.ndarray,
                  values: np.ndarray | None = None, show_values: bool = False) -> Grid:
        """A map of cells with its grid lines and, when they fit, each cell's value."""
        rows, cols = rgb.shape[:2]
        g = Grid(x, y, cell, rows, cols)
        self.grids[tag] = g
        self.add(Cells(x, y, cols * cell, rows * cell, rgb, tag))
        if cell >= 5:
            x1, y1 = x + cols * cell, y + rows * cell
            segs = [(x, y + r * cell, x1, y + r * cell) for r in range(rows + 1)]
            segs += [(x + c * cell, y, x + c * cell, y1) for c in range(cols + 1)]
            self.add(Lines(tuple(segs), GRID, 1, f"grid:{tag}"))
        if show_values and values is not None:
            self.cell_values(g, values, rgb, tag)
        return g

    def cell_values(self, g: Grid, values: np.ndarray, rgb: np.ndarray, tag: str,
                    formatter=None, max_size: int | None = None) -> None:
        """Each cell's value written in it, at one size that fits every cell (none if that
        size would be under :data:`MIN_CELL_FONT`)."""
        fmt = formatter or _cell_text
        texts = [[fmt(float(v)) for v in row] for row in values]
        size = _cell_font(texts, g.cell, max_size)
        if size is None and formatter is None:
            texts = [[_cell_text(float(v), short=True) for v in row] for row in values]
            size = _cell_font(texts, g.cell, max_size)
        if size is None:
            return
        for r, row in enumerate(texts):
            for c, t in enumerate(row):
                if t:
                    x, y, w, h = g.rect(r, c)
                    self.add(Text(x, y, w, h, glyphs(t), size, _ink_on(rgb[r, c]), "center",
                                  False, f"value:{tag}"))

    def scene(self) -> Scene:
        return Scene(self.width, self.height, tuple(self.items), BACKGROUND, font_family(),
                     dict(self.grids), dict(self.blocks))


def _cell_font(texts, cell: float, max_size: int | None = None) -> int | None:
    """A font size at which every text fits its cell, or None if that would be too small."""
    top = 0.4 * cell if max_size is None else min(max_size, 0.6 * cell)
    widest = max((text_width(t, 100) for t in {t for row in texts for t in row} if t),
                 default=0.0)
    size = int(top if widest <= 0 else min(top, 0.86 * cell * 100 / widest))
    return size if size >= MIN_CELL_FONT else None


# ---------------------------------------------------------------------------- the layout


def layout(model: ScanModel, width: int, height: int, *, note: str = "",
           arithmetic: bool = True, text_scale: float = 1.0) -> Scene:
    """The scene for ``model``'s present state on a ``width x height`` px canvas.

    Parameters
    ----------
    model : ScanModel
        The scan, at any position; its :meth:`ScanModel.window` is what gets outlined.
    width, height : int
        The canvas in px (at least 1). Everything fits inside it.
    note : str
        A line under the title (e.g. "every 4th step shown").
    arithmetic : bool
        Write the last step's multiply-and-sum (:meth:`ScanModel.arithmetic`) along the
        bottom.
    text_scale : float
        The interface scale (0.5 to 3; the window's Ctrl+= / Ctrl+-). The fonts already
        follow the canvas (about 1/28 of its height); this scales them down freely and up by
        at most :data:`MAX_TEXT_GROWTH`, so the maps keep most of the width.

    Returns
    -------
    Scene
    """
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a whole number of pixels >= 1, not {v!r}")
    if isinstance(text_scale, bool) or not isinstance(text_scale, (int, float)) or \
            not 0.5 <= text_scale <= 3:
        raise ValueError(f"text_scale must be 0.5 to 3, not {text_scale!r}")
    width, height = int(width), int(height)
    sz = _Sizes.for_canvas(width, height, float(text_scale))
    b = _Builder(width, height)
    m = model
    x0, x1 = sz.margin, width - sz.margin
    y = sz.margin
    title, progress = _titles(m)
    prog_w = text_width(progress, sz.head) + sz.gap
    b.text(x0, y, x1 - x0 - prog_w, round(1.3 * sz.title), title, sz.title, bold=True,
           align="left", tag="title")
    b.text(x1 - prog_w, y, prog_w, round(1.3 * sz.title), progress, sz.head, MUTED,
           align="right", tag="progress")
    b.block("title", x0, y, x1 - x0, round(1.3 * sz.title))
    y += round(1.3 * sz.title)
    if note:
        b.text(x0, y, x1 - x0, round(1.3 * sz.head), note, sz.head, MUTED, align="left",
               tag="note")
        b.block("note", x0, y, x1 - x0, round(1.3 * sz.head))
        y += round(1.3 * sz.head)
    y += sz.gap
    bottom = height - sz.margin
    if arithmetic:
        lines = m.arithmetic().splitlines()
        line_h = round(1.35 * sz.band)
        band_h = line_h * len(lines)
        bottom -= band_h
        # shrunk to fit, down to 3/4 of its size; longer lines (big kernels) are shortened
        floor = max(MIN_FONT, round(0.75 * sz.band))
        size = min(fit_size(t, x1 - x0, sz.band, minimum=floor) for t in lines)
        for i, t in enumerate(lines):
            if text_width(t, size) > x1 - x0:
                t = _elide(t, x1 - x0, size)
            b.text(x0, bottom + i * line_h, x1 - x0, line_h, t, size, align="left",
                   tag="arithmetic", fit=False)
        b.block("arithmetic", x0, bottom, x1 - x0, band_h)
        bottom -= sz.gap
    area = (x0, y, x1, bottom)
    if m.n_conv == 0:
        b.text(x0, y, x1 - x0, bottom - y, "Nothing to scan: the kernel does not fit in the "
               "image. Choose same or full padding, or a smaller kernel.", sz.head,
               tag="message")
    elif m.stage == "pool":
        _pool_stage(b, m, sz, area)
    else:
        _conv_stage(b, m, sz, area)
    return b.scene()


def _titles(m: ScanModel) -> tuple[str, str]:
    s = m.settings
    h, w = m.copy.shape[:2]
    oh, ow = m.conv_shape[:2]
    if m.stage == "pool":
        ph, pw = m.pool_shape[:2]
        size, step = s.pool_size, m.pool_stride
        kind = "Max" if s.pool == "max" else "Average"
        title = (f"2. {kind} pooling {size}×{size}, stride {step}: "
                 f"{ow}×{oh} → {pw}×{ph}")
        return title, f"cell {m.position - m.n_conv} of {m.n_pool}"
    kh, kw = s.kernel_array().shape[:2]
    padding = s.padding if isinstance(s.padding, str) else f"padding {s.padding}"
    head = "1. Convolution" if m.pool_shape is not None else "Convolution"
    dilation = f" dilated {s.dilation}" if s.dilation != 1 else ""
    title = (f"{head} {w}×{h} → {ow}×{oh} ({kw}×{kh} kernel{dilation}, {padding}, "
             f"stride {s.stride})")
    return title, f"cell {min(m.position, m.n_conv)} of {m.n_conv}"


def _elide(text: str, width: float, size: int) -> str:
    """``text`` shortened in the middle with … until it fits ``width``."""
    head, tail = text, ""
    if " = " in text:
        cut = text.rindex(" = ")
        head, tail = text[:cut], text[cut:]
    while head and text_width(head + " + …" + tail, size) > width:
        head = head.rsplit(" + ", 1)[0] if " + " in head else head[:-1]  # whole terms
    return head + " + …" + tail


@dataclass
class _Column:
    """One column of the stage: its header, and its width in px (fixed) or in cells."""

    name: str
    header: str
    fixed: float = 0.0
    cells: int = 0  # map width in cells (width = cells * c)
    kernel_cells: int = 0  # kernel-grid width in cells (width = kernel_cells * kc)


def _solve_cells(avail_w: float, avail_h: float, columns: list[_Column], rows_cells: float,
                 kc_min: float, gaps: float) -> tuple[int, int]:
    """The map cell size c and the kernel cell size kc (>= kc_min when there is room) that
    fill ``avail_w`` and fit ``avail_h`` (``rows_cells`` cells of maps stacked)."""
    fixed = sum(c.fixed for c in columns) + gaps
    m_cells = sum(c.cells for c in columns)
    k_cells = sum(c.kernel_cells for c in columns)
    room = max(1.0, avail_w - fixed)
    if k_cells:  # a big kernel's numbers may not take more than a third of the room
        kc_min = min(kc_min, room / 3 / k_cells)
    c_h = avail_h / rows_cells
    c = (room - k_cells * kc_min) / m_cells if m_cells else c_h
    if c >= kc_min:
        c = room / (m_cells + k_cells)
    c = max(1, math.floor(min(c, c_h)))
    kc = max(c, math.floor(min(kc_min, (room - m_cells * c) / max(1, k_cells))))
    return c, max(1, kc)


def _conv_stage(b: _Builder, m: ScanModel, sz: _Sizes, area) -> None:
    x0, y0, x1, y1 = area
    s = m.settings
    planes = 1 if m.copy.ndim == 2 else m.copy.shape[2]
    names = m.channel_names()
    separate = s.channels == "separate" and planes > 1
    merged = planes > 1 and not separate
    ph = m.copy.shape[0] + m.pad_top + m.pad_bottom
    pw = m.copy.shape[1] + m.pad_left + m.pad_right
    oh, ow = m.conv_shape[:2]
    ins = m.last
    kernel = np.asarray(s.kernel_array(), np.float64)
    if s.flip:
        kernel = kernel[::-1, ::-1]
    if kernel.ndim == 2:
        kernel = np.repeat(kernel[:, :, None], planes, axis=2)
    kh, kw = kernel.shape[:2]
    conv_ref, _ = m.reference()
    scale = float(np.abs(conv_ref).max()) if conv_ref.size else 1.0
    scale = scale or 1.0
    bound = float(np.abs(kernel).sum(axis=(0, 1)).max()) * float(np.abs(m.copy).max() or 1)
    bound = max(bound + abs(s.bias), scale)
    template = _sum_text(-bound)
    box_w = text_width(template, sz.box) + 2 * sz.gap
    box_h = round(1.6 * sz.box)
    op_w = text_width("→", sz.op) + sz.gap / 2
    k_texts = [format_number(float(v)) for v in kernel.ravel()]
    widest_k = max(k_texts, key=lambda t: text_width(t, sz.kernel))
    kc_min = max(text_width(widest_k, sz.kernel) + 0.5 * sz.kernel, 2.2 * sz.kernel)

    def box_col(name, header):
        return _Column(name, header, fixed=box_w)

    cols = []
    if planes > 1:
        cols.append(_Column("label", "", fixed=text_width("G", sz.box, True) + sz.gap))
    cols.append(_Column("input", "input", cells=pw))
    cols.append(_Column("times", "", fixed=op_w))
    k_head = "kernel" + (" (flipped)" if s.flip else "")
    if s.dilation != 1:  # the taps are d cells apart on the input: (k - 1)·d + 1 wide
        k_head += f", dilation {s.dilation}"
    cols.append(_Column("kernel", k_head, kernel_cells=kw))
    cols.append(_Column("equals", "", fixed=op_w))
    cols.append(box_col("sums", "Σ products"))
    bias_text = f"+ bias {format_number(s.bias)}"
    if merged:
        cols.append(_Column("to-total", "", fixed=op_w))
        cols.append(box_col("total", "Σ " + bias_text if s.bias else "R+G+B"))
    elif s.bias:
        cols.append(_Column("to-bias", "", fixed=op_w))
        cols.append(box_col("bias", bias_text))
    if s.relu:
        cols.append(_Column("to-relu", "", fixed=op_w))
        cols.append(box_col("relu", "ReLU"))
    cols.append(_Column("to-output", "", fixed=op_w))
    cols.append(_Column("output", "output", cells=ow))
    gaps = sz.gap * (len(cols) - 1)
    head_h = round(1.4 * sz.head) + _MAX_EDGE + 1  # room for a window's edge on row 0
    row_gap = sz.gap if planes > 1 else 0
    avail_h = y1 - y0 - head_h - row_gap * (planes - 1)
    c, kc = _solve_cells(x1 - x0, avail_h, cols, planes * ph, kc_min, gaps)
    row_h = max(ph * c, box_h)
    if kh * kc > row_h:  # a tall kernel on a short image: smaller kernel cells
        kc = max(1, math.floor(row_h / kh))
        c = max(c, 1)
    widths = {col.name: col.fixed + col.cells * c + col.kernel_cells * kc for col in cols}
    total_w = sum(widths.values()) + gaps
    total_h = head_h + planes * row_h + row_gap * (planes - 1)
    x = x0 + max(0.0, (x1 - x0 - total_w) / 2)
    top = y0 + max(0.0, (y1 - y0 - total_h) / 2)
    rows_y = top + head_h
    lefts = _place_columns(b, cols, widths, x, top, head_h, sz)

    def row_top(i):
        return rows_y + i * (row_h + row_gap)

    def centred(i, h, span=False):
        if span:
            return rows_y + (planes * row_h + row_gap * (planes - 1) - h) / 2
        return row_top(i) + (row_h - h) / 2

    win = m.window()
    show_values = c >= CELL_TEXT_MIN
    sums = [None] * planes if ins is None else [float(v) for v in ins.channel_sums]
    for i in range(planes):
        name = names[i]
        if planes > 1:
            b.text(lefts["label"], row_top(i), widths["label"], row_h, name, sz.box,
                   CHANNEL_INK[name], bold=True, tag=f"label:{name}")
        # the padded input plane
        values, mask = m.padded_plane(i)
        rgb = _plane_rgb(values, i, planes)
        px, py = lefts["input"], centred(i, ph * c)
        g = b.cells_map(f"input:{name}", px, py, c, rgb, values, show_values)
        b.block(f"input:{name}", px, py, pw * c, ph * c)
        _padding(b, m, g, name)
        if win is not None:
            _outline_window(b, g, win.rows, win.cols, f"window:{name}")
        # the kernel
        kx, ky = lefts["kernel"], centred(i, kh * kc)
        k_rgb = _light(map_rgb(kernel[:, :, i], float(np.abs(kernel).max()) or 1.0))
        kg = b.cells_map(f"kernel:{name}", kx, ky, kc, k_rgb)
        b.cell_values(kg, kernel[:, :, i], k_rgb, f"kernel:{name}", formatter=format_number,
                      max_size=max(sz.kernel, round(0.4 * kc)))
        b.block(f"kernel:{name}", kx, ky, kw * kc, kh * kc)
        _op(b, lefts["times"], row_top(i), widths["times"], row_h, "×", sz)
        _op(b, lefts["equals"], row_top(i), widths["equals"], row_h, "=", sz)
        # this channel's sum of products
        _box(b, lefts["sums"], centred(i, box_h), widths["sums"], box_h, _sum_text(sums[i]),
             sz, f"sum:{name}", CHANNEL_INK[name] if planes > 1 else INK)
        if not merged:
            value = None if ins is None else sums[i] + s.bias
            after = [("bias", value)] if s.bias else []
            if s.relu:
                after.append(("relu", None if ins is None else ins.outputs[i]))
            previous = "sums"
            for col, v in after:
                _op(b, lefts[f"to-{col}"], row_top(i), widths[f"to-{col}"], row_h, "→", sz)
                _box(b, lefts[col], centred(i, box_h), widths[col], box_h, _sum_text(v), sz,
                     f"{col}:{name}")
                previous = col
            del previous
    if merged:
        # the channels' sums meet in one total
        tx, ty = lefts["total"], centred(0, box_h, span=True)
        segs = []
        for i in range(planes):
            sy = centred(i, box_h) + box_h / 2
            segs.append((lefts["sums"] + widths["sums"], sy, tx, ty + box_h / 2))
        b.add(Lines(tuple(segs), MUTED, max(1, round(sz.base / 14)), "merge"))
        b.block("to-total", lefts["to-total"], rows_y, widths["to-total"],
                planes * row_h + row_gap * (planes - 1))
        _box(b, tx, ty, widths["total"], box_h, _sum_text(None if ins is None else ins.total),
             sz, "total")
        if s.relu:
            span_h = planes * row_h + row_gap * (planes - 1)
            _op(b, lefts["to-relu"], rows_y, widths["to-relu"], span_h, "→", sz)
            _box(b, lefts["relu"], ty, widths["relu"], box_h,
                 _sum_text(None if ins is None else ins.outputs[0]), sz, "relu")
    # the output map(s)
    out_maps = planes if separate else 1
    for i in range(out_maps):
        values = m.output[:, :, i] if separate else m.output
        rgb = map_rgb(values, scale)
        tag = f"output:{names[i]}" if separate else "output"
        ox, oy = lefts["output"], centred(i, oh * c, span=not separate)
        span_h = row_h if separate else planes * row_h + row_gap * (planes - 1)
        _op(b, lefts["to-output"], oy + oh * c / 2 - span_h / 2, widths["to-output"], span_h,
            "→", sz)
        g = b.cells_map(tag, ox, oy, c, rgb, values, show_values)
        b.block(tag, ox, oy, ow * c, oh * c)
        if win is not None:
            _outline_window(b, g, [win.out[0]], [win.out[1]], f"current:{tag}")


def _pool_stage(b: _Builder, m: ScanModel, sz: _Sizes, area) -> None:
    x0, y0, x1, y1 = area
    s = m.settings
    p = m.last_pool
    separate = m.output.ndim == 3
    maps = m.output.shape[2] if separate else 1
    names = ("R", "G", "B") if maps == 3 else ("",)
    oh, ow = m.conv_shape[:2]
    qh, qw = m.pool_shape[:2]
    size = s.pool_size
    conv_ref, _ = m.reference()
    scale = float(np.abs(conv_ref).max()) if conv_ref.size else 1.0
    scale = scale or 1.0
    template = _sum_text(-scale)
    box_w = text_width(template, sz.box) + 2 * sz.gap
    box_h = round(1.6 * sz.box)
    op_w = text_width("→", sz.op) + sz.gap / 2
    kc_min = max(text_width(_cell_text(-scale), sz.kernel) + 0.5 * sz.kernel, 2.2 * sz.kernel)
    what = "max" if s.pool == "max" else "mean"
    cols = []
    if maps > 1:
        cols.append(_Column("label", "", fixed=text_width("G", sz.box, True) + sz.gap))
    cols += [_Column("conv", "conv output" + (" (ReLU)" if s.relu else ""), cells=ow),
             _Column("to-window", "", fixed=op_w),
             _Column("window", "pool window", kernel_cells=size),
             _Column("to-result", "", fixed=op_w),
             _Column("result", what, fixed=box_w),
             _Column("to-pooled", "", fixed=op_w),
             _Column("pooled", "pooled output", cells=qw)]
    gaps = sz.gap * (len(cols) - 1)
    head_h = round(1.4 * sz.head) + _MAX_EDGE + 1  # room for a window's edge on row 0
    row_gap = sz.gap if maps > 1 else 0
    avail_h = y1 - y0 - head_h - row_gap * (maps - 1)
    c, kc = _solve_cells(x1 - x0, avail_h, cols, maps * oh, kc_min, gaps)
    row_h = max(oh * c, box_h)
    if size * kc > row_h:
        kc = max(1, math.floor(row_h / size))
    widths = {col.name: col.fixed + col.cells * c + col.kernel_cells * kc for col in cols}
    total_w = sum(widths.values()) + gaps
    total_h = head_h + maps * row_h + row_gap * (maps - 1)
    x = x0 + max(0.0, (x1 - x0 - total_w) / 2)
    top = y0 + max(0.0, (y1 - y0 - total_h) / 2)
    rows_y = top + head_h
    lefts = _place_columns(b, cols, widths, x, top, head_h, sz)
    win = m.window()
    show_values = c >= CELL_TEXT_MIN
    for i in range(maps):
        rt = rows_y + i * (row_h + row_gap)
        suffix = f":{names[i]}" if maps > 1 else ""
        if maps > 1:
            b.text(lefts["label"], rt, widths["label"], row_h, names[i], sz.box,
                   CHANNEL_INK[names[i]], bold=True, tag=f"label:{names[i]}")
        conv = m.output[:, :, i] if separate else m.output
        rgb = map_rgb(conv, scale)
        cy = rt + (row_h - oh * c) / 2
        g = b.cells_map(f"conv{suffix}", lefts["conv"], cy, c, rgb, conv, show_values)
        b.block(f"conv{suffix}", lefts["conv"], cy, ow * c, oh * c)
        _outline_window(b, g, win.rows, win.cols, f"window:conv{suffix}")
        # the pool window's numbers, the winner marked
        vals = p.values[:, :, i]
        w_rgb = _light(map_rgb(vals, scale))
        if s.pool == "max":
            w_rgb[p.winners[i]] = WINDOW
        wy = rt + (row_h - size * kc) / 2
        wg = b.cells_map(f"pool-window{suffix}", lefts["window"], wy, kc, w_rgb)
        b.cell_values(wg, vals, w_rgb, f"pool-window{suffix}", formatter=_cell_text,
                      max_size=max(sz.kernel, round(0.4 * kc)))
        b.block(f"pool-window{suffix}", lefts["window"], wy, size * kc, size * kc)
        _op(b, lefts["to-window"], rt, widths["to-window"], row_h, "→", sz)
        _op(b, lefts["to-result"], rt, widths["to-result"], row_h, "=", sz)
        _box(b, lefts["result"], rt + (row_h - box_h) / 2, widths["result"], box_h,
             _sum_text(float(p.pooled[i])), sz, f"result{suffix}")
        _op(b, lefts["to-pooled"], rt, widths["to-pooled"], row_h, "→", sz)
        pooled = m.pooled[:, :, i] if separate else m.pooled
        q_rgb = map_rgb(pooled, scale)
        qy = rt + (row_h - qh * c) / 2
        qg = b.cells_map(f"pooled{suffix}", lefts["pooled"], qy, c, q_rgb, pooled, show_values)
        b.block(f"pooled{suffix}", lefts["pooled"], qy, qw * c, qh * c)
        _outline_window(b, qg, [win.out[0]], [win.out[1]], f"current:pooled{suffix}")


def _place_columns(b: _Builder, cols: list[_Column], widths: dict, x: float, top: float,
                   head_h: float, sz: _Sizes) -> dict[str, float]:
    """The columns' left edges from ``x``, and their headers written above them: a header
    may use the room of the operator columns beside it (they have none)."""
    lefts = {}
    for col in cols:
        lefts[col.name] = x
        x += widths[col.name] + sz.gap
    for i, col in enumerate(cols):
        if not col.header:
            continue
        left = lefts[col.name]
        right = left + widths[col.name]
        if i > 0 and not cols[i - 1].header:
            left = lefts[cols[i - 1].name] + widths[cols[i - 1].name] / 2
        if i + 1 < len(cols) and not cols[i + 1].header:
            right = lefts[cols[i + 1].name] + widths[cols[i + 1].name] / 2
        b.text(left, top, right - left, head_h - _MAX_EDGE - 1, col.header, sz.head, MUTED,
               tag=f"header:{col.name}")
    first, last = cols[0].name, cols[-1].name
    b.block("headers", lefts[first], top, lefts[last] + widths[last] - lefts[first],
            head_h - _MAX_EDGE - 1)
    return lefts


def _op(b: _Builder, x, y, w, h, symbol: str, sz: _Sizes) -> None:
    b.text(x, y, w, h, symbol, sz.op, MUTED, tag="operator", fit=False)


def _box(b: _Builder, x, y, w, h, text: str, sz: _Sizes, tag: str, ink: Colour = INK) -> None:
    b.add(Rect(x, y, w, h, BOX_FILL, BOX_EDGE, max(1, round(sz.base / 16)), f"box:{tag}"))
    b.text(x, y, w, h, text, sz.box, ink, bold=True, tag=f"value:{tag}")
    b.block(tag, x, y, w, h)


def _padding(b: _Builder, m: ScanModel, g: Grid, name: str) -> None:
    """Hatch the padded frame of a plane and outline the image inside it."""
    h, w = m.copy.shape[:2]
    spacing = max(4.0, g.cell / 3)
    bands = [(0, 0, m.pad_top, g.cols), (m.pad_top + h, 0, m.pad_bottom, g.cols),
             (m.pad_top, 0, h, m.pad_left), (m.pad_top, m.pad_left + w, h, m.pad_right)]
    for r, c, rows, cols in bands:
        if rows > 0 and cols > 0:
            b.add(Hatch(*g.rect(r, c, rows, cols), HATCH, spacing, f"padding:{name}"))
    if m.pad_top or m.pad_bottom or m.pad_left or m.pad_right:
        b.add(Rect(*g.rect(m.pad_top, m.pad_left, h, w), None, IMAGE_EDGE,
                   max(1, round(g.cell / 12)), f"image:{name}"))


def _outline_window(b: _Builder, g: Grid, rows, cols, tag: str) -> None:
    """Outline the cells rows x cols of grid ``g``: one rectangle when they are contiguous,
    else one per cell (a dilated kernel's holes stay visible)."""
    rows = [int(r) for r in rows]
    cols = [int(c) for c in cols]
    thick = min(2 * _MAX_EDGE, max(2, round(g.cell / 5)))
    edge = max(1, round(thick / 2))  # at most _MAX_EDGE
    if rows == list(range(rows[0], rows[-1] + 1)) and cols == list(range(cols[0], cols[-1] + 1)):
        blocks = [(rows[0], cols[0], len(rows), len(cols))]
    else:  # dilated: the span in a thin line, each tap outlined, the holes left bare
        blocks = [(r, c, 1, 1) for r in rows for c in cols]
        b.add(Rect(*g.rect(rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1),
                   None, WINDOW, max(1, round(thick / 3)), f"span:{tag}"))
    for r, c, nr, nc in blocks:
        x, y, w, h = g.rect(r, c, nr, nc)
        b.add(Rect(x - edge, y - edge, w + 2 * edge, h + 2 * edge, None, WINDOW_EDGE, edge,
                   f"{tag}:edge"))
        b.add(Rect(x, y, w, h, None, WINDOW, thick, tag))
