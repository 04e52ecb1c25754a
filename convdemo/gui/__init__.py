"""The Qt side of convdemo: the main window and its panels.

Everything here imports the core (``convdemo.ops``, ``kernels``, ``imaging``, ``pipeline``,
``model``); the core never imports this package. ``MainWindow`` is loaded lazily so that
importing one panel module (say ``convdemo.gui.cnn_panel``) does not build the whole window.
"""

from __future__ import annotations

__all__ = ["MainWindow"]


def __getattr__(name: str):
    if name == "MainWindow":
        from convdemo.gui.main_window import MainWindow

        return MainWindow
    raise AttributeError(f"module 'convdemo.gui' has no attribute {name!r}")
