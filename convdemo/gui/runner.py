"""The one background runner: a worker thread, latest wins, results by signal.

Modelled on napari's layer slicer. The GUI thread hands a job (a function of one
:class:`Context`) to :meth:`LatestWins.submit` and returns at once. One worker thread runs
jobs one at a time. If a job is already waiting when a newer one arrives, the older one is
dropped: at most one job runs and one waits, so 100 quick edits never queue 100
convolutions. A running job may look at :meth:`Context.newer_waiting` between stages and stop
early (the main view skips its full-resolution stage when a newer edit waits).

Results come back to the GUI thread through :attr:`LatestWins.result` (whatever the job
passed to :meth:`Context.emit`); errors through :attr:`LatestWins.failed` as one sentence;
:attr:`LatestWins.idle` fires once nothing runs or waits. The worker waits on a condition
variable (no polling). Emitting happens under a gate that shutdown (or the QObject's
destruction) closes first, so no signal is ever sent to a QObject being deleted.

The main view and the CNN panel each own one runner, so a photo's preprocessing for the CNN
never waits behind a convolution.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from PyQt6.QtCore import QObject, pyqtSignal


@dataclass
class Counters:
    """Instrumentation the tests and benchmarks read (a snapshot; see :meth:`counters`)."""

    submitted: int = 0
    superseded: int = 0  # waiting jobs replaced by a newer one before they started
    started: int = 0
    finished: int = 0
    errors: int = 0
    in_flight: int = 0  # running + waiting, right now
    max_in_flight: int = 0  # the most ever running + waiting at once


class Context:
    """What a job sees: :meth:`emit` a result, ask whether a newer job waits."""

    def __init__(self, runner: LatestWins, tag) -> None:
        self._runner = runner
        self.tag = tag

    def emit(self, value) -> None:
        """Send ``value`` to the GUI thread (:attr:`LatestWins.result`)."""
        self._runner._emit(self._runner.result, value)

    def newer_waiting(self) -> bool:
        """True when a newer job is waiting: the rest of this one is stale."""
        return self._runner._newer_waiting()


class _Gate:
    """Whether the worker may still emit. A plain object, so it outlives the QObject."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = True

    def close(self, *_args) -> None:
        with self.lock:  # waits for an emit in progress
            self.open = False


class LatestWins(QObject):
    """A one-thread executor where a newer job replaces an older waiting one.

    Signals
    -------
    result(object)
        A value a job emitted.
    failed(object tag, str sentence)
        A job raised: ValueError and MemoryError are the user's problem (their first line);
        anything else is a bug, reported as "internal error: ..." with the traceback printed.
    idle()
        Nothing runs or waits any more.
    """

    result = pyqtSignal(object)
    failed = pyqtSignal(object, str)
    idle = pyqtSignal()

    def __init__(self, name: str = "convdemo-worker", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._counters = Counters()
        self._cond = threading.Condition()
        self._pending: tuple[Callable[[Context], None], object] | None = None
        self._running = False
        self._stop = False
        self._gate = _Gate()
        self.destroyed.connect(self._gate.close)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ---- GUI thread -------------------------------------------------------------------
    def submit(self, job: Callable[[Context], None], tag=None) -> None:
        """Queue ``job(context)``; an older job still waiting is dropped."""
        with self._cond:
            if self._stop:
                return
            c = self._counters
            c.submitted += 1
            if self._pending is not None:
                c.superseded += 1
            else:
                c.in_flight += 1
            self._pending = (job, tag)
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
            self._cond.notify()

    def busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cond:
            return self._running or self._pending is not None

    def counters(self) -> Counters:
        with self._cond:
            return Counters(**vars(self._counters))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread (a running job finishes first, but its results are not sent)."""
        self._gate.close()
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        self._thread.join(timeout)

    # ---- worker thread ----------------------------------------------------------------
    def _emit(self, signal, *args) -> None:
        with self._gate.lock:
            if not self._gate.open:
                return
            try:
                signal.emit(*args)
            except RuntimeError:  # the wrapper outlived its QObject
                pass

    def _newer_waiting(self) -> bool:
        with self._cond:
            return self._pending is not None or self._stop

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                (job, tag), self._pending = self._pending, None
                self._running = True
                self._counters.started += 1
            try:
                job(Context(self, tag))
            except (ValueError, MemoryError) as exc:
                self._count_error()
                self._emit(self.failed, tag, sentence(exc))
            except Exception as exc:  # a bug: still shown, with its type, never swallowed
                self._count_error()
                traceback.print_exc()
                self._emit(self.failed, tag, f"internal error: {type(exc).__name__}: {exc}")
            with self._cond:
                self._running = False
                self._counters.in_flight -= 1
                self._counters.finished += 1
                now_idle = self._pending is None
            if now_idle:
                self._emit(self.idle)

    def _count_error(self) -> None:
        with self._cond:
            self._counters.errors += 1


def sentence(exc: BaseException) -> str:
    """A user's problem as one sentence."""
    if isinstance(exc, MemoryError):
        return "not enough memory for this computation; try a smaller image or a larger stride"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
