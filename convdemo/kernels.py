"""Kernel presets (data), and parsing of kernels typed by a person.

The GUI, the command line and the tests all read :data:`PRESETS`; nothing else defines a
kernel. Values are given in the orientation they are applied in by
:func:`convdemo.ops.conv2d` with ``flip=False`` (cross-correlation, as in Keras/PyTorch):
row 0 is the top row of the window.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass

import numpy as np

from convdemo.limits import F32_MAX, MAX_KERNEL_SIDE

__all__ = [
    "LECTURE_PRESETS",
    "PRESETS",
    "Preset",
    "matching_preset",
    "parse_kernel",
    "parse_number",
]


@dataclass(frozen=True)
class Preset:
    """One named kernel.

    Attributes
    ----------
    name : str
        The key in :data:`PRESETS` (lower case, words joined by ``-``).
    values : tuple of tuple of float
        The weights, row by row, shape ``(kh, kw)``.
    description : str
        One line for tooltips and ``convdemo presets``.
    """

    name: str
    values: tuple[tuple[float, ...], ...]
    description: str

    def array(self) -> np.ndarray:
        """The weights as a new float32 array of shape ``(kh, kw)``."""
        return np.array(self.values, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.values), len(self.values[0]))


def _rows(*rows, scale: float = 1.0) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) * scale for v in row) for row in rows)


_G5 = (1, 4, 6, 4, 1)

_ALL = [
    Preset(
        "identity",
        _rows((0, 0, 0), (0, 1, 0), (0, 0, 0)),
        "Identity: the centre weight 1 copies each pixel unchanged.",
    ),
    Preset(
        "blur",
        _rows((0.1, 0.1, 0.1), (0.1, 0.1, 0.1), (0.1, 0.1, 0.1)),
        "Blur (the lecture's): all nine weights 0.1; they sum to 0.9, so it also darkens slightly.",
    ),
    Preset(
        "brighten",
        _rows((0, 0, 0), (0, 2, 0), (0, 0, 0)),
        "Brighten: the centre weight 2 doubles every pixel (clipped at white when shown).",
    ),
    Preset(
        "edge",
        _rows((0, -1, 0), (0, 1, 0), (0, 0, 0)),
        "Edge (the lecture's): pixel minus the one above it, so horizontal edges light up "
        "and results can be negative.",
    ),
    Preset(
        "exercise",
        _rows((-0.1, -0.1, -0.1), (-0.1, 1, -0.1), (-0.1, -0.1, -0.1)),
        "The lecture's exercise: centre 1, the eight around it -0.1; what does it do?",
    ),
    Preset(
        "box-blur",
        _rows((1, 1, 1), (1, 1, 1), (1, 1, 1), scale=1 / 9),
        "Box blur: the mean of the 3x3 neighbourhood (weights 1/9, summing to 1).",
    ),
    Preset(
        "gaussian-3x3",
        _rows((1, 2, 1), (2, 4, 2), (1, 2, 1), scale=1 / 16),
        "Gaussian blur 3x3: 1 2 1 / 2 4 2 / 1 2 1 divided by 16; smoother than the box.",
    ),
    Preset(
        "gaussian-5x5",
        tuple(tuple(a * b / 256 for b in _G5) for a in map(float, _G5)),
        "Gaussian blur 5x5: the outer product of 1 4 6 4 1 with itself, divided by 256.",
    ),
    Preset(
        "sharpen",
        _rows((0, -1, 0), (-1, 5, -1), (0, -1, 0)),
        "Sharpen: the pixel plus its difference from its four neighbours.",
    ),
    Preset(
        "sobel-x",
        _rows((-1, 0, 1), (-2, 0, 2), (-1, 0, 1)),
        "Sobel x: positive where brightness increases to the right (vertical edges).",
    ),
    Preset(
        "sobel-y",
        _rows((-1, -2, -1), (0, 0, 0), (1, 2, 1)),
        "Sobel y: positive where brightness increases downwards (horizontal edges).",
    ),
    Preset(
        "outline",
        _rows((-1, -1, -1), (-1, 8, -1), (-1, -1, -1)),
        "Outline: 8 in the centre, -1 all round; flat areas go to 0, outlines stand out.",
    ),
    Preset(
        "emboss",
        _rows((-2, -1, 0), (-1, 1, 1), (0, 1, 2)),
        "Emboss: a diagonal difference plus the pixel, like light from the top left.",
    ),
]

#: every preset by name, in display order
PRESETS: dict[str, Preset] = {p.name: p for p in _ALL}

#: the lecture's four, in the order of the GUI's Ctrl+1..4 shortcuts
LECTURE_PRESETS = ("blur", "identity", "brighten", "edge")

# --------------------------------------------------------------------------- parsing

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_NUMBER_TEXT = 100


def parse_number(text: str) -> float:
    """Read one kernel weight typed by a person.

    Accepts numbers (``"2"``, ``"-0.1"``, ``"1e-3"``), and arithmetic with ``+ - * /`` and
    parentheses (``"1/9"``, ``"2*0.5"``, ``"-(1/16)"``). Parsed with :mod:`ast`; nothing is
    evaluated as Python code.

    Returns
    -------
    float
        A finite number.

    Raises
    ------
    ValueError
        With a sentence that says why the text is not a number.
    """
    if not isinstance(text, str):
        raise ValueError(f"a weight must be given as text, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ValueError("a weight is empty; type a number such as 0.1 or 1/9")
    if len(stripped) > _MAX_NUMBER_TEXT:
        raise ValueError(f"{stripped[:20]!r}... is too long for a weight")
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError:
        raise ValueError(
            f"{stripped!r} is not a number; use digits, a decimal point, + - * / and "
            "parentheses, e.g. 1/9"
        ) from None
    try:
        value = _evaluate(tree.body, stripped)
    except ZeroDivisionError:
        raise ValueError(f"{stripped!r} divides by zero") from None
    except OverflowError:
        raise ValueError(f"{stripped!r} is too large") from None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{stripped!r} is not a finite number")
    if abs(value) > F32_MAX:
        raise ValueError(f"{stripped!r} is too large for a weight (at most about 3.4e38)")
    return value


def _evaluate(node: ast.AST, text: str) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _evaluate(node.left, text), _evaluate(node.right, text)
        return float(_BINOPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand, text))
    raise ValueError(
        f"{text!r} is not a number; use digits, a decimal point, + - * / and parentheses, e.g. 1/9"
    )


def _preset_key(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def parse_kernel(text: str) -> np.ndarray:
    """A kernel from a preset name or from rows of numbers.

    Parameters
    ----------
    text : str
        A preset name from :data:`PRESETS` (case and ``_``/``-`` ignored), or rows separated
        by ``;`` (or new lines) with cells separated by spaces or commas, e.g.
        ``"0 -1 0; -1 5 -1; 0 -1 0"`` or ``"1/9 1/9 1/9; 1/9 1/9 1/9; 1/9 1/9 1/9"``.
        Each cell is read by :func:`parse_number`.

    Returns
    -------
    numpy.ndarray, float32, shape (kh, kw)
        1 to 15 rows and columns.

    Raises
    ------
    ValueError
        With a sentence saying what is wrong (unknown name, ragged rows, a bad cell).
    """
    if not isinstance(text, str):
        raise ValueError(f"kernel must be given as text, not {type(text).__name__}")
    key = _preset_key(text)
    if key in PRESETS:
        return PRESETS[key].array()
    rows_text = [r for r in re.split(r"[;\n]", text) if r.strip()]
    if not rows_text:
        raise ValueError(
            "kernel is empty; give a preset name or rows like '0 -1 0; -1 5 -1; 0 -1 0'"
        )
    if len(rows_text) == 1 and re.fullmatch(r"\s*[A-Za-z][\w-]*\s*", rows_text[0]):
        raise ValueError(
            f"unknown kernel preset {text.strip()!r}; choose one of: {', '.join(PRESETS)}, "
            "or give numbers like '0 -1 0; -1 5 -1; 0 -1 0'"
        )
    rows = []
    for n, row in enumerate(rows_text, start=1):
        cells = [c for c in re.split(r"[\s,]+", row.strip()) if c]
        try:
            rows.append([parse_number(c) for c in cells])
        except ValueError as exc:
            raise ValueError(f"kernel row {n}: {exc}") from None
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise ValueError(
            "kernel rows must all have the same number of cells, but they have "
            + ", ".join(str(len(r)) for r in rows)
        )
    kh, kw = len(rows), widths.pop()
    if not (1 <= kh <= MAX_KERNEL_SIDE and 1 <= kw <= MAX_KERNEL_SIDE):
        raise ValueError(f"kernel must be 1 to {MAX_KERNEL_SIDE} cells on each side, not "
                         f"{kh}x{kw}")
    return np.array(rows, dtype=np.float32)


def matching_preset(kernel) -> str | None:
    """The preset whose values equal ``kernel`` exactly (as the float32 the engine uses), or
    None. A (k, k, 3) per-channel kernel is one neuron, never a preset."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        return None
    k32 = kernel.astype(np.float32)
    for name, preset in PRESETS.items():
        values = preset.array()
        if values.shape == k32.shape and np.array_equal(values, k32):
            return name
    return None
