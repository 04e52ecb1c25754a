"""convdemo: a desktop lab that teaches convolutional neural networks.

The package is split in two. The core (every module directly in ``convdemo/``) is pure
numpy/scipy/Pillow and never imports Qt; ``convdemo.gui`` is the Qt window on top of it.
"""

__version__ = "0.1.0"
