"""The pixel inspector: the multiply-and-sum behind one output pixel, written out.

:func:`inspect` is plain numpy (no Qt): given the array the convolution reads, the settings
and a convolution-output position, it returns the input numbers under the window (padded
exactly as the engine pads them), the kernel as applied (flipped for true convolution), the
products and the sums. :class:`InspectorPanel` shows that as small tables, per channel in
RGB and then the total, which equals the output value in the view.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from convdemo.gui.geometry import receptive_field, window_values
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
    """The arithmetic of convolution output ``(row, col)`` on ``x`` ((H, W) or (H, W, C))."""
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


def _num(v: float, digits: int = 3) -> str:
    if v == 0:
        return "0"
    return f"{v:.{digits}f}" if abs(v) < 100 else f"{v:.1f}"


def _table(a: np.ndarray, padded: np.ndarray | None = None, digits: int = 2) -> str:
    rows = []
    for r in range(a.shape[0]):
        cells = []
        for c in range(a.shape[1]):
            style = ""
            if padded is not None and padded[r, c]:
                style += "background:#dcdcdc;font-style:italic;"
            if a[r, c] < 0:
                style += "color:#1f4fb4;"
            cells.append(f"<td align='right' style='{style}'>{_num(float(a[r, c]), digits)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<table cellspacing='0' cellpadding='1' style='border:1px solid #999;'>"
            + "".join(rows) + "</table>")


def shown_as(value: float, display: str) -> str:
    """The output value, and how the view shows it: "value 1.2588 (shown clipped to 1)"."""
    text = f"value {_num(value, 4)}"
    if display == "clip" and value > 1:
        text += " (shown clipped to 1)"
    elif display == "clip" and value < 0:
        text += " (shown clipped to 0)"
    return text


def describe_html(ins: Inspection, output_value: str = "", in_view: float | None = None,
                  display: str = "") -> str:
    """The inspection as HTML: the kernel, then per channel input and products, the sums.

    Table cells show 2 decimals; the sums show 4, so they can be checked against the view.
    """
    C = ins.values.shape[2]
    names = ("R", "G", "B") if C == 3 else (("grey",) if C == 1 else
                                             tuple(f"ch {i}" for i in range(C)))
    colours = {"R": "#b00000", "G": "#007000", "B": "#0030c0"}
    same_kernel = all(np.array_equal(ins.kernel[:, :, 0], ins.kernel[:, :, i]) for i in range(C))
    head = f"<b>output pixel<br>row {ins.row}, col {ins.col}</b>"
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
        for i, name in enumerate(names):
            line = f"{name}: Σ {_num(float(ins.channel_sums[i]), 4)}{bias}"
            if ins.relu:
                line += " → ReLU"
            parts.append(f"{line} = <b>{_num(ins.outputs[i], 4)}</b><br>")
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
    parts.append("<table cellspacing='3'>")
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
            f"<td valign='middle'>Σ&nbsp;<b>{_num(float(ins.channel_sums[i]), 4)}</b></td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


class InspectorPanel(QWidget):
    """objectName ``inspectorPanel``; shows :func:`describe_html` for the hovered pixel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspectorPanel")
        self.inspection: Inspection | None = None
        self.output_value: float | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel(self)
        self.label.setObjectName("inspectorText")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.label.font()
        font.setPointSizeF(font.pointSizeF() * 0.9)
        self.label.setFont(font)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.label)
        layout.addWidget(scroll)
        self.clear()

    def clear(self) -> None:
        self.inspection = None
        self.output_value = None
        self.label.setText(
            "<b>Pixel inspector</b><br>Hover over the output image: the window it reads is "
            "outlined on the input, and here you see its numbers, the kernel, the products and "
            "their sum, which is the output value."
        )

    def show_inspection(self, ins: Inspection, output_value: float | None, note: str = "",
                        display: str = "") -> None:
        self.inspection = ins
        self.output_value = output_value
        self.label.setText(describe_html(ins, note, output_value, display))
