"""The background computation: one worker thread, frozen requests, latest wins.

Modelled on napari's layer slicer. The GUI thread calls :meth:`ComputeWorker.submit` with a
frozen :class:`Request` (the image array, which is never modified in place, and a frozen
:class:`convdemo.pipeline.Settings`). One worker thread runs :func:`convdemo.pipeline.run`.
If a request is already waiting when a newer one arrives, the older one is dropped: at most
one computation runs and one waits, so 100 quick edits never queue 100 convolutions.
Results (and errors) come back to the GUI thread through Qt signals.

For a photo much larger than the view the request also carries a preview (the photo shrunk
by an integer factor, made once per photo). The worker computes the preview first and emits
it, then, unless a newer request has arrived meanwhile, the full-resolution result.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal

from convdemo import pipeline


@dataclass(frozen=True)
class Request:
    """Everything one computation needs. Arrays in it must never be modified afterwards."""

    generation: int
    image: np.ndarray = field(repr=False)
    settings: pipeline.Settings
    preview: np.ndarray | None = field(default=None, repr=False)
    preview_factor: int = 1


@dataclass(frozen=True)
class Outcome:
    """One result sent back: ``stage`` is "preview" or "full"."""

    request: Request
    stage: str
    result: pipeline.Result
    seconds: float

    @property
    def factor(self) -> int:
        return self.request.preview_factor if self.stage == "preview" else 1


@dataclass
class Counters:
    """Instrumentation the tests and the benchmark read (guarded by the worker's lock)."""

    submitted: int = 0
    superseded: int = 0  # pending requests replaced by a newer one before they started
    started: int = 0
    previews: int = 0
    fulls: int = 0
    skipped_full: int = 0  # full-resolution stages skipped because a newer request came
    errors: int = 0
    in_flight: int = 0  # running + waiting, right now
    max_in_flight: int = 0  # the most ever running + waiting at once


class ComputeWorker(QObject):
    """A single background thread with a one-slot, latest-wins queue."""

    finished = pyqtSignal(object)  # Outcome
    failed = pyqtSignal(object, str)  # Request, one-sentence message

    def __init__(self, parent: QObject | None = None, *, full_delay: float = 0.0) -> None:
        super().__init__(parent)
        self.counters = Counters()
        self._full_delay = full_delay  # seconds to wait for a newer edit before full-res
        self._cond = threading.Condition()
        self._pending: Request | None = None
        self._running = False
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="convdemo-worker", daemon=True)
        self._thread.start()

    # ---- GUI thread -------------------------------------------------------------------
    def submit(self, request: Request) -> None:
        """Queue ``request``; an older request still waiting is dropped."""
        with self._cond:
            c = self.counters
            c.submitted += 1
            if self._pending is not None:
                c.superseded += 1
            else:
                c.in_flight += 1
            self._pending = request
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
            self._cond.notify()

    def busy(self) -> bool:
        """True while a request runs or waits."""
        with self._cond:
            return self._running or self._pending is not None

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread (the running computation finishes first)."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        self._thread.join(timeout)

    # ---- worker thread ----------------------------------------------------------------
    def _emit(self, signal, *args) -> None:
        """Send a result to the GUI thread, unless the window is going away."""
        with self._cond:
            if self._stop:
                return
        try:
            signal.emit(*args)
        except RuntimeError:  # the QObject was deleted meanwhile
            pass

    def _newer_waiting(self) -> bool:
        with self._cond:
            return self._pending is not None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                request, self._pending = self._pending, None
                self._running = True
                self.counters.started += 1
            try:
                self._process(request)
            finally:
                with self._cond:
                    self._running = False
                    self.counters.in_flight -= 1

    def _process(self, request: Request) -> None:
        try:
            if request.preview is not None:
                t0 = time.perf_counter()
                result = pipeline.run(request.preview, request.settings)
                with self._cond:
                    self.counters.previews += 1
                self._emit(self.finished,
                           Outcome(request, "preview", result, time.perf_counter() - t0))
                deadline = time.monotonic() + self._full_delay
                while time.monotonic() < deadline and not self._newer_waiting():
                    time.sleep(0.005)
                if self._newer_waiting():
                    with self._cond:
                        self.counters.skipped_full += 1
                    return
            t0 = time.perf_counter()
            result = pipeline.run(request.image, request.settings)
            with self._cond:
                self.counters.fulls += 1
            self._emit(self.finished, Outcome(request, "full", result, time.perf_counter() - t0))
        except (ValueError, MemoryError) as exc:
            with self._cond:
                self.counters.errors += 1
            self._emit(self.failed, request, _sentence(exc))
        except Exception as exc:  # a bug: still shown, with its type, never swallowed
            with self._cond:
                self.counters.errors += 1
            traceback.print_exc()
            self._emit(self.failed, request, f"internal error: {type(exc).__name__}: {exc}")


def _sentence(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "not enough memory for this computation; try a smaller image or a larger stride"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def preview_factor(shape: tuple, target_pixels: int) -> int:
    """Integer shrink factor so that ``shape`` has about ``target_pixels`` (1 = no preview)."""
    pixels = shape[0] * shape[1]
    if pixels <= 2 * target_pixels:
        return 1
    return int(np.ceil(np.sqrt(pixels / target_pixels)))


def make_preview(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` shrunk by ``factor`` with a box filter (mean of each factor x factor block).

    Summed as ``factor`` strided slices per axis: a few times faster than a reshape-mean.
    """
    if factor <= 1:
        return image
    h = image.shape[0] // factor * factor
    w = image.shape[1] // factor * factor
    rows = np.zeros((h // factor, w) + image.shape[2:], dtype=np.float32)
    for i in range(factor):
        rows += image[i:h:factor, :w]
    out = np.zeros((h // factor, w // factor) + image.shape[2:], dtype=np.float32)
    for j in range(factor):
        out += rows[:, j:w:factor]
    out *= np.float32(1.0 / (factor * factor))
    return out
