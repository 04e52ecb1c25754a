"""Elementwise activations."""

from __future__ import annotations

import numpy as np


def relu(x) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)`` elementwise.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    numpy.ndarray, float32, same shape as ``x``
        A new array; NaN stays NaN.
    """
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    return np.maximum(a, np.float32(0), dtype=np.float32)
