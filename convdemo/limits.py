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
