"""The pixel inspector's arithmetic: the multiply-and-sum behind one output pixel.

:func:`inspect` is plain numpy: given the array the convolution reads, the settings and a
convolution-output position, it returns the input numbers under the window (padded exactly
as the engine pads them), the kernel as applied (flipped for true convolution), the products
and the sums. :func:`inspect_pool` does the same for a pooled pixel. :func:`describe_html`
and :func:`describe_pool_html` write them out as small HTML tables (per channel in RGB, then
the total, which equals the output value in the view); ``convdemo.gui.inspector`` shows them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from convdemo.geometry import receptive_field, window_values
from convdemo.pipeline import Settings

CHANNEL_NAMES = ("R", "G", "B")


@dataclass(frozen=True)
class Inspection:
    """The arithmetic of conv-output pixel (row, col).

    ``values``, ``kernel`` and ``products`` are (k, k, C) float64 (C = 1 for a grey input);
    ``padded`` (k, k) marks cells outside the image. ``channel_sums`` (C,) are the sums of
    the products; ``outputs`` are the output values: one (the total + bias, "sum" and "gray")
    or one per channel (each channel's sum + bias, "separate"), after ReLU if it is on.
    """

    row: int
    col: int
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    padded: np.ndarray
    channel_sums: np.ndarray
    bias: float
    separate: bool
    relu: bool
    outputs: tuple[float, ...]
    flipped: bool = False

    @property
    def total(self) -> float:
        """Sum over every channel plus the bias (before ReLU)."""
        return float(self.channel_sums.sum() + self.bias)


def inspect(x: np.ndarray, settings: Settings, row: int, col: int) -> Inspection:
    """The arithmetic of convolution output ``(row, col)`` on ``x`` ((H, W) or (H, W, C)).

    With ``settings.dilation`` d > 1 the values are the cells under the kernel's taps, ``d``
    apart (:func:`convdemo.geometry.receptive_field`); the cells between them are not read.
    """
    rows, cols = receptive_field(settings, x.shape, row, col)
    values = window_values(x, rows, cols, settings.border).astype(np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    channels = values.shape[2]
    kernel = settings.kernel_array().astype(np.float64)
    if settings.flip:
        kernel = kernel[::-1, ::-1]
    if kernel.ndim == 2:
        kernel = np.repeat(kernel[:, :, None], channels, axis=2)
    products = values * kernel
    sums = products.sum(axis=(0, 1))
    padded = ((rows < 0) | (rows >= x.shape[0]))[:, None] | ((cols < 0) | (cols >= x.shape[1]))
    separate = settings.channels == "separate" and channels > 1
    raw = tuple(float(s + settings.bias) for s in sums) if separate else (
        float(sums.sum() + settings.bias),)
    outputs = tuple(max(v, 0.0) for v in raw) if settings.relu else raw
    return Inspection(row, col, rows, cols, values, kernel, products, padded, sums,
                      float(settings.bias), separate, settings.relu, outputs, settings.flip)


@dataclass(frozen=True)
class PoolInspection:
    """The pooling behind pooled output pixel (prow, pcol).

    ``rows``/``cols``: the convolution-output rows and cols of the pool window; ``values``
    (len(rows), len(cols), C) the conv outputs there (after ReLU, as the pool sees them; C = 1
    unless channels = separate); ``pooled`` (C,) the output values (max or mean per channel);
    ``winners``: per channel, the (i, j) in the window of the maximum (max pooling).
    ``detail`` is the full multiply-and-sum of one conv pixel, at ``detail_at`` (i, j): the
    winner for max (of the first channel when channels are separate), for avg the hovered one.
    """

    prow: int
    pcol: int
    mode: str
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    pooled: np.ndarray
    winners: tuple[tuple[int, int], ...]
    detail: Inspection
    detail_at: tuple[int, int]


def inspect_pool(x: np.ndarray, settings: Settings, prow: int, pcol: int,
                 hovered: tuple[int, int] | None = None) -> PoolInspection:
    """The pool window behind pooled output ``(prow, pcol)`` and the arithmetic of the conv
    pixel that decides it (valid pooling with ``pool_size`` and ``pool_stride``, as
    :func:`convdemo.pipeline.run` pools)."""
    size = settings.pool_size
    step = settings.pool_stride or size
    rows = np.arange(size) + prow * step
    cols = np.arange(size) + pcol * step
    cells = [[inspect(x, settings, int(r), int(c)) for c in cols] for r in rows]
    values = np.array([[cell.outputs for cell in row] for row in cells], dtype=np.float64)
    C = values.shape[2]
    winners = tuple(divmod(int(np.argmax(values[:, :, i])), size) for i in range(C))
    if settings.pool == "max":
        pooled = values.max(axis=(0, 1))
        at = winners[0]
    else:
        pooled = values.mean(axis=(0, 1))
        at = (0, 0)
        if hovered is not None and rows[0] <= hovered[0] <= rows[-1] and \
                cols[0] <= hovered[1] <= cols[-1]:
            at = (int(hovered[0] - rows[0]), int(hovered[1] - cols[0]))
    return PoolInspection(prow, pcol, settings.pool, rows, cols, values, pooled, winners,
                          cells[at[0]][at[1]], at)


def _num(v: float, digits: int = 3) -> str:
    if v == 0:
        return "0"
    return f"{v:.{digits}f}" if abs(v) < 100 else f"{v:.1f}"


def _table(a: np.ndarray, padded: np.ndarray | None = None, digits: int = 2) -> str:
    rows = []
    for r in range(a.shape[0]):
        cells = []
        for c in range(a.shape[1]):
            style = "padding-left:2px;padding-right:2px;"
            if padded is not None and padded[r, c]:
                style += "background:#dcdcdc;font-style:italic;"
            if a[r, c] < 0:
                style += "color:#1f4fb4;"
            cells.append(f"<td align='right' style='{style}'>{_num(float(a[r, c]), digits)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table cellspacing='0' cellpadding='0' style='border:1px solid #999;'>"
            + "".join(rows) + "</table>")


def shown_as(value: float, display: str) -> str:
    """The output value, and how the view shows it: "value 1.2588 (shown clipped to 1)"."""
    text = f"value {_num(value, 4)}"
    if display == "clip" and value > 1:
        text += " (shown clipped to 1)"
    elif display == "clip" and value < 0:
        text += " (shown clipped to 0)"
    return text


def _row_result(ins: Inspection, i: int, bias: str) -> str:
    """The end of channel i's row: its sum, and for separate channels its output value."""
    total = f"Σ&nbsp;<b>{_num(float(ins.channel_sums[i]), 4)}</b>"
    if not ins.separate:
        return total
    if bias or ins.relu:
        total = f"Σ&nbsp;{_num(float(ins.channel_sums[i]), 4)}{bias}"
        if ins.relu:
            total += " → ReLU"
        total += f"<br>= <b>{_num(ins.outputs[i], 4)}</b>"
    return total


def describe_html(ins: Inspection, output_value: str = "", in_view: float | None = None,
                  display: str = "", what: str = "output pixel") -> str:
    """The inspection as HTML: the kernel, then per channel input and products, the sums.

    Table cells show 2 decimals; the sums show 4, so they can be checked against the view.
    """
    C = ins.values.shape[2]
    names = ("R", "G", "B") if C == 3 else (("grey",) if C == 1 else
                                             tuple(f"ch {i}" for i in range(C)))
    colours = {"R": "#b00000", "G": "#007000", "B": "#0030c0"}
    same_kernel = all(np.array_equal(ins.kernel[:, :, 0], ins.kernel[:, :, i]) for i in range(C))
    head = f"<b>{what}<br>row {ins.row}, col {ins.col}</b>"
    if in_view is not None:
        head += f"<br><b>{shown_as(in_view, display)}</b>"
    if ins.padded.any():
        head += "<br><i>grey cells: padding</i>"
    parts = [f"<table cellspacing='3'><tr><td valign='middle'>{head}</td>"]
    if same_kernel:
        what = "&nbsp;&nbsp;kernel k<br>&nbsp;&nbsp;(rotated 180°)" if ins.flipped else \
            "&nbsp;&nbsp;kernel k"
        parts.append(f"<td valign='middle'>{what}</td>"
                     f"<td>{_table(ins.kernel[:, :, 0], digits=3)}</td>")
    parts.append("</tr></table>")
    # the conclusion first (it stays in sight in a short panel), the arithmetic below it
    bias = f" + bias {_num(ins.bias, 4)}" if ins.bias else ""
    if ins.separate:
        pass  # each channel's result closes its own row below: no separate summary lines
    else:
        if C > 1:
            terms = " + ".join(_num(float(s), 4) for s in ins.channel_sums)
            line = f"total = {terms}{bias}"
        else:
            line = f"sum of the products{bias}"
        if ins.relu:
            line += f" = {_num(ins.total, 4)} → ReLU"
        parts.append(f"<span style='font-size:large'>{line} = <b>{_num(ins.outputs[0], 4)}</b>"
                     "</span><br>")
    if output_value:
        parts.append(html.escape(output_value))
    parts.append("<table cellspacing='1'>")
    for i, name in enumerate(names):
        colour = colours.get(name, "#000")
        kernel_cell = ""
        if not same_kernel:
            kernel_cell = (f"<td valign='middle'>×</td><td>{_table(ins.kernel[:, :, i], digits=3)}"
                           "</td>")
        parts.append(
            f"<tr><td valign='middle' style='color:{colour};'><b>{name}</b></td>"
            f"<td>{_table(ins.values[:, :, i], ins.padded)}</td>{kernel_cell}"
            f"<td valign='middle'>{'×k' if same_kernel else ''}=</td>"
            f"<td>{_table(ins.products[:, :, i], ins.padded, digits=3)}</td>"
            f"<td valign='middle'>{_row_result(ins, i, bias)}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def describe_pool_html(pool: PoolInspection, display: str = "") -> str:
    """The pool window's conv values (the winner marked for max, the mean written out for
    avg), then the full arithmetic of the conv pixel that decides the output."""
    C = pool.values.shape[2]
    names = ("R", "G", "B") if C == 3 else ("",) * C
    size = len(pool.rows)
    parts = [f"<b>output pixel row {pool.prow}, col {pool.pcol}</b>: {pool.mode} pooling "
             f"{size}×{size} of conv rows {pool.rows[0]}–{pool.rows[-1]}, "
             f"cols {pool.cols[0]}–{pool.cols[-1]}<br>"]
    parts.append("<table cellspacing='3'><tr>")
    for i in range(C):
        cells = []
        for r in range(size):
            tds = []
            for c in range(size):
                style = ""
                if pool.mode == "max" and (r, c) == pool.winners[i]:
                    style = "background:#ffe680;font-weight:bold;"
                elif pool.mode == "avg" and (r, c) == pool.detail_at:
                    style = "background:#d8f0ff;"
                tds.append(f"<td align='right' style='{style}'>"
                           f"{_num(float(pool.values[r, c, i]), 4)}</td>")
            cells.append("<tr>" + "".join(tds) + "</tr>")
        table = ("<table cellspacing='0' cellpadding='2' style='border:1px solid #999;'>"
                 + "".join(cells) + "</table>")
        label = f"<b>{names[i]}</b>&nbsp;" if names[i] else ""
        if pool.mode == "max":
            result = f"max = <b>{_num(float(pool.pooled[i]), 4)}</b>"
        else:
            terms = " + ".join(_num(float(v), 4) for v in pool.values[:, :, i].ravel())
            result = (f"mean = ({terms}) / {size * size} = "
                      f"<b>{_num(float(pool.pooled[i]), 4)}</b>")
        note = shown_as(float(pool.pooled[i]), display)
        if "clipped" in note:  # say how the view shows it only when it is not the value
            result += f"<br>{note[note.index('(') + 1:-1]}"
        parts.append(f"<td valign='middle'>{label}</td><td>{table}</td>"
                     f"<td valign='middle'>{result}</td>")
    parts.append("</tr></table>")
    r, c = pool.detail_at
    row, col = int(pool.rows[r]), int(pool.cols[c])
    if pool.mode == "max":
        which = "the winner" + (" of R" if C > 1 else "")
    else:
        which = "the hovered one"
    parts.append(f"<i>worked out below: conv pixel ({row}, {col}), {which}</i><br>")
    parts.append(describe_html(pool.detail, what="conv pixel"))
    return "".join(parts)
