"""Presentation mode: full screen, the interface scale, the presenter layout and zoom.

What a teacher needs in front of a projector:

* F11 (View ▸ Full screen) toggles full screen;
* Ctrl+= / Ctrl+- / Ctrl+0 make every font, the kernel cells, the feature tiles and the
  inspector larger, smaller, or 100% again (75% to 250%); the scale is remembered;
* F5 (View ▸ Presenter layout) hides the controls and lets the views fill the screen; F5 again
  (or Esc) brings them back;
* zoom in, zoom out, fit and 1:1 are in the View menu and on small buttons over the views,
  with the zoom written beside them.

:class:`Presentation` adds these to a :class:`convdemo.gui.main_window.MainWindow`; the window
calls it from its table of contents.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction, QColor, QKeySequence, QPalette
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from convdemo.gui import fonts

#: QSettings key of the remembered interface scale
SCALE_KEY = "interfaceScale"
ZOOM_STEP = 1.25


class ZoomBar(QWidget):
    """Small buttons over a view: zoom out, the zoom in percent, zoom in, fit, 1:1."""

    def __init__(self, window, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("zoomBar")
        # a palette, not a style sheet (which would keep the interface scale's font away)
        palette = self.palette()
        for role, colour in ((QPalette.ColorRole.Window, QColor(40, 40, 40, 210)),
                             (QPalette.ColorRole.WindowText, QColor("#f0f0f0")),
                             (QPalette.ColorRole.ButtonText, QColor("#f0f0f0")),
                             (QPalette.ColorRole.Button, QColor(60, 60, 60))):
            palette.setColor(role, colour)
        self.setPalette(palette)
        self.setAutoFillBackground(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(2)
        self.buttons = {}
        for name, text, tip, slot in (
                ("zoomOut", "−", "zoom out (-)", window.zoom_out),
                ("zoomIn", "+", "zoom in (+)", window.zoom_in),
                ("zoomFit", "Fit", "show the whole image (F)", window.fit_view),
                ("zoomOne", "1:1", "one image pixel per screen pixel", window.actual_size)):
            button = QToolButton(self)
            button.setObjectName(f"{name}Button")
            button.setText(text)
            button.setToolTip(tip)
            button.setAutoRaise(True)
            button.clicked.connect(slot)
            self.buttons[name] = button
        self.label = QLabel("100%", self)
        self.label.setObjectName("zoomLabel")
        self.label.setToolTip("screen pixels per image pixel")
        row.addWidget(self.buttons["zoomOut"])
        row.addWidget(self.label)
        row.addWidget(self.buttons["zoomIn"])
        row.addWidget(self.buttons["zoomFit"])
        row.addWidget(self.buttons["zoomOne"])

    def place(self) -> None:
        """Top-left corner of the parent (the view), clear of the colour bar on the right."""
        self.adjustSize()
        self.move(8, 8)
        self.raise_()


class Presentation(QObject):
    """The presentation actions of one window (see the module docstring)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self._hidden: list[QWidget] = []
        self.presenting = False

        def action(text, slot, shortcuts, name, tip, checkable=False) -> QAction:
            act = QAction(text, window)
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
            act.setObjectName(name)
            act.setStatusTip(tip)
            act.setCheckable(checkable)
            act.triggered.connect(slot)
            window.addAction(act)
            return act

        self.full_screen_act = action("&Full screen", self.toggle_full_screen, ["F11"],
                                      "fullScreenAction", "the window fills the screen",
                                      checkable=True)
        self.presenter_act = action("&Presenter layout", self.toggle_presenter, ["F5"],
                                    "presenterAction",
                                    "hide the controls: the views fill the screen (F5 again "
                                    "brings them back)", checkable=True)
        self.larger_act = action("&Larger text and cells", self.larger,
                                 ["Ctrl+=", "Ctrl++"], "largerAction",
                                 "scale the whole interface up (up to 250%)")
        self.smaller_act = action("&Smaller text and cells", self.smaller, ["Ctrl+-"],
                                  "smallerAction", "scale the whole interface down (to 75%)")
        self.normal_act = action("&Normal size (100%)", lambda: self.set_scale(1.0),
                                 ["Ctrl+0"], "normalSizeAction", "the interface at 100%")
        self.zoom_in_act = action("Zoom &in", window.zoom_in, ["+", "="], "zoomInAction",
                                  "magnify the images")
        self.zoom_out_act = action("Zoom &out", window.zoom_out, ["-"], "zoomOutAction",
                                   "show more of the images")
        self.escape_act = action("Leave presentation", self.leave, ["Esc"], "escapeAction",
                                 "leave the presenter layout and full screen")
        self.zoom_bar = ZoomBar(window, window.input_pane.graphics)
        window.input_pane.view.sigRangeChanged.connect(self.show_zoom)
        window.input_pane.graphics.installEventFilter(self)

    def add_to_menu(self, menu) -> None:
        for act in (self.zoom_in_act, self.zoom_out_act):
            menu.addAction(act)
        menu.addSeparator()
        for act in (self.full_screen_act, self.presenter_act):
            menu.addAction(act)
        menu.addSeparator()
        for act in (self.larger_act, self.smaller_act, self.normal_act):
            menu.addAction(act)

    # ---------------------------------------------------------------- full screen, layout
    def toggle_full_screen(self) -> None:
        w = self.window
        if w.isFullScreen():
            w.showNormal()
        else:
            w.showFullScreen()
        self.full_screen_act.setChecked(w.isFullScreen())

    def toggle_presenter(self) -> None:
        self.set_presenter(not self.presenting)

    def set_presenter(self, on: bool) -> None:
        """Hide (or bring back) everything but the views, the readout and lesson captions."""
        w = self.window
        if on == self.presenting:
            return
        self.presenting = on
        self.presenter_act.setChecked(on)
        if on:
            candidates = [w.bottom_row, w.cnn_dock, w.statusBar()]
            candidates += [d for d in getattr(w, "presenter_hides", ())]
            self._hidden = [x for x in candidates if x is not None and x.isVisible()]
            for x in self._hidden:
                x.hide()
            w.statusBar().hide()
            w.show_status("Presenter layout: F5 or Esc brings the controls back.")
        else:
            for x in self._hidden:
                x.show()
            self._hidden = []
            w.statusBar().show()
        w.fit_view()

    def leave(self) -> None:
        if self.presenting:
            self.set_presenter(False)
        if self.window.isFullScreen():
            self.toggle_full_screen()

    # ---------------------------------------------------------------------- scale
    def scale(self) -> float:
        return fonts.interface_scale()

    def set_scale(self, value: float) -> float:
        """The interface at ``value`` (0.75 to 2.5): fonts, kernel cells, tiles, inspector."""
        value = fonts.set_interface_scale(value)
        w = self.window
        w.kernel_editor.set_scale(value)
        if w.cnn_panel is not None:
            w.cnn_panel.set_scale(value)
        w.apply_scale(value)
        if w.remembers():
            w.qsettings.setValue(SCALE_KEY, value)
        w.show_status(f"Interface at {value:.0%} (Ctrl+= larger, Ctrl+- smaller, Ctrl+0 "
                      "normal).")
        self.zoom_bar.place()
        return value

    def larger(self) -> float:
        now = self.scale()
        return self.set_scale(next((s for s in fonts.SCALE_STEPS if s > now + 1e-6),
                                   fonts.SCALE_MAX))

    def smaller(self) -> float:
        now = self.scale()
        return self.set_scale(next((s for s in reversed(fonts.SCALE_STEPS) if s < now - 1e-6),
                                   fonts.SCALE_MIN))

    def restore_scale(self, qsettings) -> str | None:
        """The remembered scale, checked; a sentence if it was not usable."""
        value = qsettings.value(SCALE_KEY)
        if value is None:
            return None
        try:
            scale = float(value)
        except (TypeError, ValueError):
            return f"the interface scale ({str(value)[:20]!r} is not a number)"
        if not fonts.SCALE_MIN <= scale <= fonts.SCALE_MAX:
            return f"the interface scale ({scale:g} is outside 75% to 250%)"
        if abs(scale - 1.0) > 1e-6:
            self.set_scale(scale)
        return None

    # ----------------------------------------------------------------------- zoom
    def show_zoom(self, *_args) -> None:
        vb = self.window.input_pane.view
        (x0, x1), _ = vb.viewRange()
        if x1 > x0 and vb.width() > 0:
            percent = vb.width() * self.window.devicePixelRatioF() / (x1 - x0) * 100
            self.zoom_bar.label.setText(f"{percent:.0f}%" if percent >= 10 else
                                        f"{percent:.1f}%")
        self.zoom_bar.place()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        from PyQt6.QtCore import QEvent

        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.zoom_bar.place()
        return False
