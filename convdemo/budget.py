"""The memory budget: refuse an allocation that the machine cannot hold, before making it.

Every operation whose output or padded input can be large (convolution, pooling, padding,
the augmentation shift, IDX and ``.npz`` headers) calls :func:`check` with the bytes it is
about to ask for. Above the budget it raises :class:`MemoryBudgetError` (a ``ValueError``,
so the command line and the window report it as one sentence) naming the size asked for.

The budget is half the machine's available memory, read when asked, or the environment
variable ``CONVDEMO_MAX_MEMORY`` (bytes, or with a unit: ``512M``, ``8G``, ``1.5GB``).
"""

from __future__ import annotations

import math
import os
import re

__all__ = ["MemoryBudgetError", "available_bytes", "check", "format_bytes", "limit_bytes"]

ENV = "CONVDEMO_MAX_MEMORY"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class MemoryBudgetError(ValueError):
    """An allocation above the memory budget was refused before it was made."""


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KB"``, ``22.8e9`` -> ``"21.2 GB"`` (binary units, one decimal)."""
    n = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1024 or unit == "EB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EB"  # pragma: no cover - the loop always returns


def available_bytes() -> int:
    """Memory the machine can still give (``MemAvailable`` on Linux), or its total."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8 << 30


def parse_size(text: str) -> int:
    """``"512M"`` -> 536870912; plain digits are bytes. ValueError for anything else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(
            f"{ENV} must be a size such as 2000000000, 512M or 8G, not {text!r}"
        )
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{ENV} must be at least 1 byte, not {text!r}")
    return int(value)


def limit_bytes() -> int:
    """The budget now: ``CONVDEMO_MAX_MEMORY`` if set, else half the available memory."""
    text = os.environ.get(ENV, "").strip()
    if text:
        return parse_size(text)
    return max(1, available_bytes() // 2)


def check(nbytes: float, what: str) -> None:
    """Raise :class:`MemoryBudgetError` if ``nbytes`` is above the budget.

    Parameters
    ----------
    nbytes : int or float
        The bytes about to be allocated (a float is fine: sizes computed from user input
        may be astronomically large, and Python ints never overflow).
    what : str
        What needs it, e.g. ``"the padded image (20400x20300x3 float32)"``; it starts the
        message.
    """
    limit = limit_bytes()
    if nbytes > limit:
        raise MemoryBudgetError(
            f"{what} would need {format_bytes(nbytes)}, more than the {format_bytes(limit)} "
            f"convdemo may use here; choose smaller settings or a smaller input "
            f"(or set {ENV} to allow more)"
        )


def array_bytes(shape, itemsize: int = 4) -> int:
    """Bytes of an array of ``shape`` (exact, as a Python int: never overflows)."""
    return math.prod(int(d) for d in shape) * int(itemsize)
