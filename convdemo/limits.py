"""Numeric limits shared by the engine, the kernel parser, the window and the command line.

One home for each: the engine (``ops``), the parser (``kernels``) and the window all read
these names instead of writing their own copies.
"""

from __future__ import annotations

import numpy as np

#: the largest float32: a weight, bias or pixel beyond it would become infinity
F32_MAX = float(np.finfo(np.float32).max)

#: the longest side of a kernel, in cells (the editor offers 1, 3, 5 and 7)
MAX_KERNEL_SIDE = 15

#: photos above this many pixels are downsampled on load, with a note
MAX_PIXELS = 40_000_000

#: the ranges a lab (the window, state files, lessons) accepts for each whole-number setting,
#: inclusive; the window's controls offer exactly these
RANGES = {
    "stride": (1, 16),
    "padding": (0, 256),
    "dilation": (1, 8),
    "output_padding": (0, 15),
    "pool_size": (1, 16),
    "pool_stride": (1, 16),
}
