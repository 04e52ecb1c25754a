"""Scan mode's model: the lecture's ConvDemo, one multiply-and-sum at a time (no Qt).

:class:`ScanModel` works on a pixelated copy of the image (at most :data:`MAX_SIDE` cells on
its longer side): it pads it as the engine would, moves the window by the stride, and fills
the output one cell per :meth:`ScanModel.step`, computing each cell itself from the products
it shows. When it is finished its output equals ``ops.conv2d`` on that copy
(``tests/test_gui_inspector_scan.py`` checks this). ``convdemo.gui.scan`` draws it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from convdemo import imaging, ops
from convdemo.geometry import axis_pads, border_index
from convdemo.inspection import inspect
from convdemo.pipeline import Settings

MAX_SIDE = 32  # a grey copy's longer side, in cells
MAX_SIDE_RGB = 24  # an RGB copy's: three planes must fit side by side


def pixelate(image: np.ndarray, max_side: int) -> np.ndarray:
    """A box-filtered copy whose longer side is at most ``max_side`` (float32, same range)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return np.ascontiguousarray(image, dtype=np.float32)
    planes = image[:, :, None] if image.ndim == 2 else image
    out = np.stack(
        [np.asarray(Image.fromarray(np.ascontiguousarray(planes[:, :, i], dtype=np.float32),
                                    mode="F").resize((nw, nh), Image.Resampling.BOX))
         for i in range(planes.shape[2])],
        axis=-1,
    )
    return np.ascontiguousarray(out[:, :, 0] if image.ndim == 2 else out, dtype=np.float32)


def scan_copy(image: np.ndarray, settings: Settings) -> np.ndarray:
    """The pixelated copy a scan works on: the image (grey for channels="gray"), box-filtered
    to at most MAX_SIDE_RGB (colour) or MAX_SIDE (grey) on its longer side."""
    x = image
    if settings.channels == "gray" and x.ndim == 3:
        x = imaging.to_gray(x)
    return pixelate(x, MAX_SIDE_RGB if x.ndim == 3 else MAX_SIDE)


class ScanModel:
    """The state of one scan: the copy, the padding, the output filled so far."""

    def __init__(self, image: np.ndarray, settings: Settings, copy=None) -> None:
        """``copy``: the pixelated copy, if the caller already made it (see scan_copy)."""
        settings = settings.replace(relu=False, pool="none")
        self.copy = scan_copy(image, settings) if copy is None else copy
        self.settings = settings
        (self.pad_top, self.pad_bottom), (self.pad_left, self.pad_right) = axis_pads(
            settings, self.copy.shape[0], self.copy.shape[1])
        conv_channels = "separate" if settings.channels == "separate" else "sum"
        self.shape = ops.output_shape(self.copy.shape, settings.kernel_array().shape,
                                      stride=settings.stride, padding=settings.padding,
                                      channels=conv_channels)
        self.output = np.full(self.shape, np.nan, dtype=np.float32)
        self.position = 0  # cells done
        self.last = None  # the Inspection of the last computed cell

    @property
    def n_cells(self) -> int:
        return int(self.shape[0] * self.shape[1])

    @property
    def finished(self) -> bool:
        return self.position >= self.n_cells

    def current(self) -> tuple[int, int] | None:
        """(row, col) of the cell the next step computes, or None when finished."""
        if self.finished:
            return None
        return divmod(self.position, self.shape[1])

    def step(self) -> bool:
        """Compute one output cell; False if there was nothing left."""
        where = self.current()
        if where is None:
            return False
        ins = inspect(self.copy, self.settings, *where)
        if ins.separate:
            self.output[where[0], where[1], :] = ins.outputs
        else:
            self.output[where] = ins.outputs[0]
        self.last = ins
        self.position += 1
        return True

    def run_to_end(self) -> None:
        while self.step():
            pass

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

    def arithmetic(self) -> str:
        """The last multiply-and-sum, written out (plain text, one line per channel)."""
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
        if ins.separate:
            outs = ", ".join(f"{n} {v:.3f}" for n, v in zip(names, ins.outputs, strict=True))
            lines.append(f"output ({ins.row}, {ins.col}){bias}: {outs}")
        else:
            total = " + ".join(f"{s:.3f}" for s in ins.channel_sums) if C > 1 else ""
            lhs = f"{total}{bias} = " if (total or bias) else ""
            lines.append(f"output ({ins.row}, {ins.col}) = {lhs}{ins.outputs[0]:.3f}")
        return "\n".join(lines)


def _short(v: float) -> str:
    text = f"{v:.3g}"
    return f"({text})" if v < 0 else text
