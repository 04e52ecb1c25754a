"""Numbers as people read them: one formatter for kernel cells, sums, the inspector and the
command line.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from convdemo import kernels


def format_number(value: float, *, mark_rounded: bool = True) -> str:
    """Short text for a cell: "0.1", "-0.5"; simple fractions as fractions ("1/9", "1/16",
    "3/128"); anything else with 4 significant digits.

    A short decimal or a fraction is shown only when it is *exactly* the value in float32
    (the precision the engine computes in), and a fraction only when it is simple: a
    denominator up to 16, or a power of two up to 256 (the 5x5 gaussian). A learned weight
    such as 13/175 is shown as "0.07429". The text is a view: the cell keeps the exact value
    in force (see :func:`shown_exactly`), and its tooltip gives that value when they differ.
    """
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 1e9:
        return str(int(value))
    v32 = np.float32(value)
    for digits in (1, 2):
        text = f"{value:.{digits}g}"
        if "e" not in text and np.float32(float(text)) == v32:
            return text
    frac = Fraction(value).limit_denominator(256)
    d = frac.denominator
    if (d <= 16 or d & (d - 1) == 0) and abs(frac.numerator) < 1000 and \
            np.float32(frac.numerator / d) == v32:
        return f"{frac.numerator}/{d}"
    text = f"{value:.4g}"
    if mark_rounded and np.float32(float(text)) != v32:
        text = f"{value:#.4g}"  # trailing zeros kept ("0.1000"): visibly rounded
    return text


def sum_text(total: float) -> str:
    """The kernel's sum, rounded to what float32 can tell apart (-0.05, not -0.05000)."""
    if abs(total) < 1e-6:
        return "0"
    return format_number(float(np.float32(total)), mark_rounded=False)


def shown_exactly(text: str, value: float) -> bool:
    """Whether ``text`` parses back to ``value`` in float32 (else it is a rounded view)."""
    try:
        return np.float32(kernels.parse_number(text)) == np.float32(value)
    except ValueError:
        return False
