"""Work split over two threads, and per-thread scratch buffers.

numpy releases the GIL inside its loops, so two threads running ufuncs on different row
bands of one array really run at once. The engine splits large outputs into row chunks
(:func:`for_rows`) and, inside a chunk, into bands small enough to stay in a core's L2 cache
(:data:`BAND_ELEMS`). The sizes below are read at call time, so tests can shrink them to
force the threaded, banded paths on tiny inputs.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: output elements above which the work is split over two threads
THREAD_MIN = 400_000
#: a band covers about this many output elements (256 KiB of float32: a band's input,
#: accumulator and scratch stay in a core's L2 cache)
BAND_ELEMS = 64 * 1024

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
_LOCAL = threading.local()


def scratch(slot: int, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 scratch array of ``shape`` owned by the calling thread, reused across calls
    (a fresh band-sized buffer per chunk would cost page faults every time)."""
    size = math.prod(shape)
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    buf = bufs.get(slot)
    if buf is None or buf.size < size:
        buf = bufs[slot] = np.empty(size, np.float32)
    return buf[:size].reshape(shape)


def threads() -> int:
    """Threads the engine uses: 2, or 1 on a single-CPU machine (or affinity mask)."""
    try:
        return max(1, min(2, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(2, os.cpu_count() or 1))


def _executor() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="convdemo-ops")
        return _POOL


def for_rows(rows: int, run, chunks: int = 16) -> None:
    """Call ``run(r0, r1)`` over consecutive chunks of ``[0, rows)`` on two threads (numpy
    releases the GIL), or once over everything on a single-CPU machine.

    Both threads take the next chunk from a shared counter, so when the machine is busy and
    one thread starts late, the other simply does more of the work. For large arrays only:
    handing work to a thread costs some tens of microseconds.
    """
    if rows < 2 or threads() < 2:
        run(0, rows)
        return
    n = min(chunks, rows)
    bounds = [rows * i // n for i in range(n + 1)]
    counter = itertools.count()  # next() on it is atomic under the GIL

    def worker() -> None:
        for i in iter(counter.__next__, None):
            if i >= n:
                return
            run(bounds[i], bounds[i + 1])

    fut = _executor().submit(worker)
    worker()
    fut.result()


def maybe_for_rows(rows: int, elements: int, run) -> None:
    """:func:`for_rows` when the output has at least :data:`THREAD_MIN` elements, else one
    call ``run(0, rows)`` on this thread."""
    if elements >= THREAD_MIN:
        for_rows(rows, run)
    else:
        run(0, rows)


def band_rows(total_rows: int, row_elems: int) -> int:
    """Rows per band: about :data:`BAND_ELEMS` elements, at least 1, at most ``total_rows``."""
    return max(1, min(total_rows, BAND_ELEMS // max(1, row_elems)))
