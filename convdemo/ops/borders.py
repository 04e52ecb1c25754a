"""What padded cells hold: the four borders, as index arithmetic and as ``numpy.pad``.

The fast engine pads with :func:`pad` (``numpy.pad``); the loop references, the inspector
and scan mode find each padded cell's source with :func:`border_index`. The tests check the
two agree for every border.
"""

from __future__ import annotations

import numpy as np

from convdemo.ops.validation import BORDERS

#: numpy.pad mode for each border name
NP_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "wrap": "wrap"}


def border_index(index, n: int, border: str) -> np.ndarray:
    """Source index of each (possibly out-of-range) index on an axis of length ``n``.

    Parameters
    ----------
    index : array_like of int, any shape
        Indices along the axis; ``-1`` is the cell before the first, ``n`` the one after
        the last.
    n : int
        Length of the axis (>= 1).
    border : {"zeros", "reflect", "replicate", "wrap"}
        ``"zeros"``: outside cells have no source (``-1``). ``"reflect"``: mirrored about
        the edge cell without repeating it (numpy's ``reflect``, OpenCV's
        ``BORDER_REFLECT_101``: ``-1 -> 1``), period ``2 (n - 1)``; a length-1 axis reflects
        to itself. ``"replicate"``: the edge cell repeated. ``"wrap"``: ``index mod n``.

    Returns
    -------
    numpy.ndarray of int, same shape as ``index``
        Indices in ``0 .. n - 1``, or ``-1`` for a cell that holds zero.

    Examples
    --------
    >>> border_index([-2, -1, 0, 3, 4], 4, "reflect").tolist()
    [2, 1, 0, 3, 2]
    >>> border_index([-1, 4], 4, "zeros").tolist(), border_index([-1, 4], 4, "wrap").tolist()
    ([-1, -1], [3, 0])
    """
    index = np.asarray(index)
    if border == "zeros":
        return np.where((index >= 0) & (index < n), index, -1)
    if border == "replicate":
        return np.clip(index, 0, n - 1)
    if border == "wrap":
        return np.mod(index, n)
    if border == "reflect":
        if n == 1:
            return np.zeros_like(index)
        period = 2 * (n - 1)
        m = np.mod(index, period)
        return np.where(m < n, m, period - m)
    raise ValueError(f"border must be one of {', '.join(BORDERS)}, not {border!r}")


def pad(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], border: str) -> np.ndarray:
    """Pad the first two axes of ``x`` by ``((top, bottom), (left, right))`` cells.

    Returns ``x`` itself when there is nothing to pad. numpy reflects a length-1 axis to
    itself, as :func:`border_index` does.
    """
    if not any(pads[0] + pads[1]):
        return x
    width = [pads[0], pads[1]] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, width, mode=NP_PAD_MODE[border])
