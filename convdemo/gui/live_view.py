"""The Live tab: the input beside what the lab computes, in one of three layouts.

* **Output** (the default): the input and the output, side by side.
* **One neuron (R + G + B)**: for a colour image with one kernel per channel summed (channels
  = sum), the input, then each channel's own multiply-and-sum (R ∗ kernel R, G ∗ kernel G,
  B ∗ kernel B) and their sum plus the bias, which is the output: one CNN neuron taken apart,
  as CNN Explainer draws it.
* **Pooling**: the input, the convolution's map, and the pooled map beside it, on one linked
  scale; hovering a pooled pixel outlines its window on the convolution's map.

Every pane shows its image in the input's coordinates (see :mod:`convdemo.geometry`), so
they all share one zoom and pan. The layout is the lab's (``view.live``); this widget draws
the panes it asks for and the window fills them from its results.
"""

from __future__ import annotations

from PyQt6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from convdemo import imaging
from convdemo.geometry import conv_placement
from convdemo.gui.views import ImagePane, outline
from convdemo.lab import LIVE_VIEWS

MODE_TEXT = {
    "output": ("Output", "the input and the result, side by side"),
    "neuron": ("One neuron (R + G + B)", "each colour's own multiply-and-sum, and their sum "
               "plus the bias: what one neuron of a CNN's first layer computes"),
    "pool": ("Pooling", "the convolution's map beside the pooled map, on one scale"),
}
CHANNEL_NAMES = ("R", "G", "B")


class LiveView(QWidget):
    """objectName ``liveView``; ``input_pane`` and ``output_pane`` are always there, the
    others appear with their layout."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.setObjectName("liveView")
        self.window = window
        self.mode = "output"
        self.input_pane = ImagePane("Input", "inputView", self)
        self.output_pane = ImagePane("Output", "outputView", self)
        self.partial_panes = [ImagePane(f"{ch} ∗ kernel {ch}", f"partialView{ch}", self)
                              for ch in CHANNEL_NAMES]
        self.conv_pane = ImagePane("Convolution, before pooling", "convView", self)
        for pane in [self.output_pane, *self.partial_panes, self.conv_pane]:
            pane.view.setXLink(self.input_pane.view)
            pane.view.setYLink(self.input_pane.view)
        # the pool window of the hovered pooled pixel, on the convolution's map
        self.window_item = outline("#ffd400", 3.0)
        self.conv_pane.view.addItem(self.window_item)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Show:", self))
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QPushButton] = {}
        for mode in LIVE_VIEWS:
            text, tip = MODE_TEXT[mode]
            button = QPushButton(text, self)
            button.setObjectName(f"liveMode_{mode}")
            button.setCheckable(True)
            button.setToolTip(tip)
            self.mode_group.addButton(button)
            self.mode_buttons[mode] = button
            bar.addWidget(button)
            button.clicked.connect(lambda _=False, m=mode: window.lab.set_view(live=m))
        self.note = QLabel(self)
        self.note.setObjectName("liveNote")
        self.note.setWordWrap(True)
        bar.addWidget(self.note, 1)

        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addLayout(self.grid, 1)
        self.set_mode("output", force=True)

    # ------------------------------------------------------------------------ layout
    def panes(self) -> list[ImagePane]:
        """The panes shown in the current layout."""
        if self.mode == "neuron":
            return [self.input_pane, *self.partial_panes, self.output_pane]
        if self.mode == "pool":
            return [self.input_pane, self.conv_pane, self.output_pane]
        return [self.input_pane, self.output_pane]

    def set_mode(self, mode: str, *, force: bool = False) -> None:
        if mode == self.mode and not force:
            return
        self.mode = mode
        self.mode_buttons[mode].setChecked(True)
        for pane in [self.input_pane, self.output_pane, *self.partial_panes, self.conv_pane]:
            self.grid.removeWidget(pane)
            pane.hide()
        for col in range(4):
            self.grid.setColumnStretch(col, 0)
        for row in range(2):
            self.grid.setRowStretch(row, 0)
        if mode == "neuron":
            # the input on the left, the three partial maps and their sum in a 2x2 block
            self.grid.addWidget(self.input_pane, 0, 0, 2, 1)
            for i, pane in enumerate(self.partial_panes):
                self.grid.addWidget(pane, i // 2, 1 + i % 2)
            self.grid.addWidget(self.output_pane, 1, 2)
            for col in range(3):
                self.grid.setColumnStretch(col, 1)
            for row in range(2):
                self.grid.setRowStretch(row, 1)
        else:
            panes = self.panes()
            for col, pane in enumerate(panes):
                self.grid.addWidget(pane, 0, col)
                self.grid.setColumnStretch(col, 1)
        for pane in self.panes():
            pane.show()
        self.window_item.hide()

    # ------------------------------------------------------------------------ results
    def describe(self, settings, image) -> str:
        """What the layout can show for these settings, in one line (or "")."""
        if self.mode == "neuron":
            if image is None or image.ndim != 3 or settings.channels == "gray":
                return "One neuron needs a colour image and channels sum or separate."
            if settings.channels == "separate":
                return ("channels separate: each colour is its own output here; choose "
                        "channels sum (or per-channel kernels) to add them into one neuron")
            return "output = R part + G part + B part + bias" + \
                (" → ReLU" if settings.relu else "")
        if self.mode == "pool" and settings.pool == "none":
            return "Pooling is off: choose max or avg pooling to see it beside the convolution."
        return ""

    def show_extras(self, outcome, placement_for) -> None:
        """Fill the layout's extra panes from ``outcome`` (the window's result)."""
        settings = outcome.settings
        self.note.setText(self.describe(settings, outcome.image))
        result = outcome.result
        if self.mode == "neuron":
            parts = outcome.extras.get("partials")
            for i, pane in enumerate(self.partial_panes):
                if parts is None or result.empty or i >= parts.shape[2]:
                    pane.show_message("No partial map: see the line above.")
                    continue
                d = imaging.to_display(parts[:, :, i], settings.display,
                                       scale_from=result.display)
                pane.show_image(d.rgb, placement_for(conv_placement, parts.shape))
                pane.set_scale(d.vmin, d.vmax, d.mode == "diverging")
            total = "Σ + bias" + (" → ReLU" if settings.relu else "")
            self.output_pane.title.setText(f"{total} = output")
        elif self.mode == "pool":
            conv = result.conv
            if settings.pool == "none" or conv is None or conv.size == 0:
                self.conv_pane.show_message("Pooling is off.")
            else:
                d = outcome.extras["conv_display"]
                self.conv_pane.show_image(d.rgb, placement_for(conv_placement, conv.shape))
                self.conv_pane.set_scale(d.vmin, d.vmax, d.mode == "diverging")
                h, w = conv.shape[:2]
                self.conv_pane.title.setText(f"Convolution {w}×{h}, before pooling")

    def show_pool_window(self, placement, rows, cols) -> None:
        """Outline conv-map cells rows x cols (the pool window) on the convolution's map."""
        if self.mode != "pool":
            self.window_item.hide()
            return
        self.window_item.setRect(placement.x0 + cols[0] * placement.pitch_x,
                                 placement.y0 + rows[0] * placement.pitch_y,
                                 len(cols) * placement.pitch_x, len(rows) * placement.pitch_y)
        self.window_item.show()


def live_extras(image, settings, result, mode: str) -> dict:
    """What a layout needs beyond the result, computed in the background job."""
    from convdemo import pipeline

    extras: dict = {}
    if result.empty:
        return extras
    if mode == "neuron":
        extras["partials"] = pipeline.partials(image, settings)
    elif mode == "pool" and settings.pool != "none" and result.conv is not None and \
            result.conv.size:
        conv_display = imaging.to_display(result.conv, settings.display)
        extras["conv_display"] = conv_display
        # the pooled map on the convolution's scale: one linked scale
        extras["display"] = imaging.to_display(result.raw, settings.display,
                                               scale_from=conv_display)
    return extras

