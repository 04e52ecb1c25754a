"""Scan mode's model: the lecture's ConvDemo, one multiply-and-sum at a time (no Qt).

:class:`ScanModel` works on a pixelated copy of the image (at most :data:`MAX_SIDE` cells on
its longer side): it pads it as the engine would, moves the window by the stride, and fills
the output one cell per :meth:`ScanModel.step`, computing each cell itself from the products
it shows (:func:`convdemo.inspection.inspect`), then ReLU if it is on. With pooling on, a
second stage pools that map one cell per step (:func:`convdemo.inspection.inspect_pool`).
When it is finished its maps equal ``ops.conv2d`` (and ``ops.pool2d``) on that copy
(``tests/test_scan.py`` checks this). :mod:`convdemo.scan_render` lays it out as drawing
primitives; ``convdemo.gui.scan`` and :mod:`convdemo.scan_export` draw them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convdemo import imaging, ops
from convdemo.geometry import axis_pads, border_index
from convdemo.inspection import inspect, inspect_pool
from convdemo.pipeline import Settings

MAX_SIDE = 32  # a grey copy's longer side, in cells
MAX_SIDE_RGB = 24  # an RGB copy's: three planes must fit side by side


def pixelate(image: np.ndarray, max_side: int) -> np.ndarray:
    """A box-filtered copy whose longer side is at most ``max_side`` (float32, same range)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return imaging.downsample(np.asarray(image, np.float32), shape=(nh, nw))


def scan_copy(image: np.ndarray, settings: Settings) -> np.ndarray:
    """The pixelated copy a scan works on: the image (grey for channels="gray"), box-filtered
    to at most MAX_SIDE_RGB (colour) or MAX_SIDE (grey) on its longer side."""
    x = image
    if settings.channels == "gray" and x.ndim == 3:
        x = imaging.to_gray(x)
    return pixelate(x, MAX_SIDE_RGB if x.ndim == 3 else MAX_SIDE)


@dataclass(frozen=True)
class Window:
    """The cells the last step read, in the coordinates of the plane they are drawn on.

    ``stage`` is ``"conv"`` (the kernel window on the padded input: row 0 is the first padded
    row) or ``"pool"`` (the pool window on the convolution's output). ``rows`` and ``cols``
    are the rows and columns read (the window covers their product: ``len(rows) x
    len(cols)`` cells; with dilation ``d`` they are ``d`` apart and the cells between them,
    the holes, are not read); ``out`` is the (row, col) of the cell written.
    """

    stage: str
    rows: np.ndarray
    cols: np.ndarray
    out: tuple[int, int]

    def cells(self) -> set[tuple[int, int]]:
        """Every (row, col) the window covers."""
        return {(int(r), int(c)) for r in self.rows for c in self.cols}


class ScanModel:
    """The state of one scan: the copy, the padding, the maps filled so far.

    A scan has one or two stages. The convolution stage fills :attr:`output` (the
    convolution's map ``conv_shape``, after ReLU when it is on: what the pooling reads), one
    cell per :meth:`step`, in rows. With pooling on, the pooling stage then fills
    :attr:`pooled` (``pool_shape``) from that map, one cell per step. :attr:`position` counts
    the steps done (0 .. :attr:`n_cells`); :attr:`last` is the inspection of the last
    convolution cell computed, :attr:`last_pool` that of the last pooled cell, and
    :meth:`window` the cells the last step read.
    """

    def __init__(self, image: np.ndarray, settings: Settings, copy=None) -> None:
        """``copy``: the pixelated copy, if the caller already made it (see scan_copy)."""
        if settings.pool not in ("none", "max", "avg"):
            raise ValueError(f"pool must be none, max or avg, not {settings.pool!r}")
        self.copy = scan_copy(image, settings) if copy is None else copy
        self.settings = settings
        (self.pad_top, self.pad_bottom), (self.pad_left, self.pad_right) = axis_pads(
            settings, self.copy.shape[0], self.copy.shape[1])
        conv_channels = "separate" if settings.channels == "separate" else "sum"
        self.conv_shape = ops.output_shape(self.copy.shape, settings.kernel_array().shape,
                                           stride=settings.stride, padding=settings.padding,
                                           channels=conv_channels, dilation=settings.dilation)
        self.shape = self.conv_shape  # the convolution's map (the older name)
        self.pool_shape: tuple | None = None
        if settings.pool != "none":
            self.pool_shape = ops.pool_output_shape(self.conv_shape, settings.pool_size,
                                                    stride=self.pool_stride)
        self._reference: tuple | None = None
        self.reset()

    @property
    def pool_stride(self) -> int:
        """The pooling window's step (the pool size unless set)."""
        return self.settings.pool_stride or self.settings.pool_size

    def reset(self) -> None:
        """Back to the start: nothing computed."""
        self.output = np.full(self.conv_shape, np.nan, dtype=np.float32)
        self.pooled = None if self.pool_shape is None else np.full(
            self.pool_shape, np.nan, dtype=np.float32)
        self.position = 0  # steps done
        self.last = None  # the Inspection of the last computed convolution cell
        self.last_pool = None  # the PoolInspection of the last computed pooled cell

    @property
    def n_conv(self) -> int:
        """Cells of the convolution's map (the steps of the first stage)."""
        return int(self.conv_shape[0] * self.conv_shape[1])

    @property
    def n_pool(self) -> int:
        """Cells of the pooled map (the steps of the second stage; 0 without pooling)."""
        return 0 if self.pool_shape is None else int(self.pool_shape[0] * self.pool_shape[1])

    @property
    def n_cells(self) -> int:
        """Steps in the whole scan: the convolution's cells, then the pooled cells."""
        return self.n_conv + self.n_pool

    @property
    def finished(self) -> bool:
        return self.position >= self.n_cells

    @property
    def stage(self) -> str:
        """``"conv"`` until a pooled cell has been computed, then ``"pool"``."""
        return "pool" if self.position > self.n_conv else "conv"

    def current(self) -> tuple[int, int] | None:
        """(row, col) of the cell the next step computes (in the convolution's map, then in
        the pooled map), or None when finished."""
        if self.finished:
            return None
        if self.position < self.n_conv:
            return divmod(self.position, self.conv_shape[1])
        return divmod(self.position - self.n_conv, self.pool_shape[1])

    def step(self) -> bool:
        """Compute one cell; False if there was nothing left."""
        where = self.current()
        if where is None:
            return False
        if self.position < self.n_conv:
            ins = inspect(self.copy, self.settings, *where)
            if ins.separate:
                self.output[where[0], where[1], :] = ins.outputs
            else:
                self.output[where] = ins.outputs[0]
            self.last = ins
        else:
            pool = inspect_pool(self.copy, self.settings, *where)
            if self.pooled.ndim == 3:
                self.pooled[where[0], where[1], :] = pool.pooled
            else:
                self.pooled[where] = pool.pooled[0]
            self.last_pool = pool
        self.position += 1
        return True

    def run_to(self, position: int) -> None:
        """Step until ``position`` steps are done (or the scan is finished)."""
        while self.position < position and self.step():
            pass

    def run_to_end(self) -> None:
        self.run_to(self.n_cells)

    def reference(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The engine's own maps on the copy, computed once: ``ops.conv2d`` (then
        ``ops.relu`` if on), and ``ops.pool2d`` of that (None without pooling). A finished
        scan equals them; a drawing takes its colour scale from them."""
        if self._reference is None:
            s = self.settings
            conv = ops.conv2d(self.copy, s.kernel_array(), stride=s.stride, padding=s.padding,
                              border=s.border, flip=s.flip, bias=s.bias, dilation=s.dilation,
                              channels="separate" if s.channels == "separate" else "sum")
            if s.relu:
                conv = ops.relu(conv)
            pooled = None
            if self.pool_shape is not None:
                pooled = ops.pool2d(conv, s.pool_size, stride=self.pool_stride, mode=s.pool) \
                    if conv.size else np.zeros(self.pool_shape, np.float32)
            self._reference = (conv, pooled)
        return self._reference

    def window(self) -> Window | None:
        """The cells the last step read (what a drawing must outline), or None before the
        first step."""
        if self.stage == "pool":
            p = self.last_pool
            return Window("pool", p.rows.copy(), p.cols.copy(), (p.prow, p.pcol))
        ins = self.last
        if ins is None:
            return None
        return Window("conv", ins.rows + self.pad_top, ins.cols + self.pad_left,
                      (ins.row, ins.col))

    def padded_plane(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """The padded copy of one plane as the engine sees it, and a mask of padded cells."""
        plane = self.copy if self.copy.ndim == 2 else self.copy[:, :, channel]
        h, w = plane.shape
        rows = np.arange(-self.pad_top, h + self.pad_bottom)
        cols = np.arange(-self.pad_left, w + self.pad_right)
        ri = border_index(rows, h, self.settings.border)
        ci = border_index(cols, w, self.settings.border)
        values = plane[np.clip(ri, 0, None)][:, np.clip(ci, 0, None)]
        values = np.where((ri[:, None] < 0) | (ci[None, :] < 0), 0.0, values)
        mask = ((rows < 0) | (rows >= h))[:, None] | ((cols < 0) | (cols >= w))[None, :]
        return values, mask

    def channel_names(self) -> tuple[str, ...]:
        """Names of the copy's planes: ("R", "G", "B") or ("grey",)."""
        return ("R", "G", "B") if self.copy.ndim == 3 else ("grey",)

    def arithmetic(self) -> str:
        """The last step written out (plain text, one line per channel, then the result)."""
        if self.stage == "pool":
            return self._pool_arithmetic()
        ins = self.last
        if ins is None:
            return "Press Play or Step: the window starts at the top left."
        C = ins.values.shape[2]
        names = ("R", "G", "B") if C == 3 else ("grey",)
        lines = []
        for i in range(C):
            terms = " + ".join(
                f"{ins.values[r, c, i]:.2f}×{_short(ins.kernel[r, c, i])}"
                for r in range(ins.values.shape[0]) for c in range(ins.values.shape[1]))
            lines.append(f"{names[i]}: {terms} = {ins.channel_sums[i]:.3f}")
        bias = f" + bias {ins.bias:g}" if ins.bias else ""
        relu = " → ReLU" if ins.relu else ""
        if ins.separate:
            outs = ", ".join(f"{n} {v:.3f}" for n, v in zip(names, ins.outputs, strict=True))
            lines.append(f"output ({ins.row}, {ins.col}){bias}{relu}: {outs}")
        else:
            total = " + ".join(f"{s:.3f}" for s in ins.channel_sums)
            lhs = f"{total}{bias} = " if (C > 1 or bias) else ""
            if ins.relu:
                lhs += f"{ins.total:.3f} → ReLU = "
            lines.append(f"output ({ins.row}, {ins.col}) = {lhs}{ins.outputs[0]:.3f}")
        return "\n".join(lines)

    def _pool_arithmetic(self) -> str:
        p = self.last_pool
        C = p.values.shape[2]
        names = ("R", "G", "B") if C == 3 else ("",)
        lines = []
        for i in range(C):
            values = [f"{v:.3f}" for v in p.values[:, :, i].ravel()]
            head = f"{names[i]}: " if names[i] else ""
            if p.mode == "max":
                lines.append(f"{head}max({', '.join(values)}) = {p.pooled[i]:.3f}")
            else:
                lines.append(f"{head}({' + '.join(values)}) / {len(values)} = {p.pooled[i]:.3f}")
        lines.append(f"pooled ({p.prow}, {p.pcol}): {p.mode} of conv rows "
                     f"{p.rows[0]}–{p.rows[-1]}, cols {p.cols[0]}–{p.cols[-1]}")
        return "\n".join(lines)


def _short(v: float) -> str:
    text = f"{v:.3g}"
    return f"({text})" if v < 0 else text
