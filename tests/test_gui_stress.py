"""Stress: 200 rapid kernel-cell edits on a 12 MP photo never pile up computations.

Latest wins must keep at most 2 jobs alive (one running, one waiting) at any moment. That is
checked from outside the runner: every job handed to it is tracked with a weak reference, so
a runner that queued jobs would keep more than two alive and fail. The output in the end
must be the final kernel's.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pytest
from PyQt6.QtWidgets import QApplication, QLineEdit

from conftest import image_wait, set_fields, wait_for, wait_until_idle
from convdemo import ops
from convdemo.gui.runner import LatestWins

pytestmark = pytest.mark.slow


@pytest.fixture
def window(blank_window):
    return blank_window


def spy_on(runner: LatestWins) -> dict:
    """Track every job submitted to ``runner``: the most ever alive at once."""
    seen = {"live": weakref.WeakSet(), "peak": 0, "submitted": 0}
    real_submit = runner.submit

    def submit(job, tag=None):
        seen["live"].add(job)
        seen["submitted"] += 1
        real_submit(job, tag)
        del job
        seen["peak"] = max(seen["peak"], len(seen["live"]))

    runner.submit = submit
    return seen


def test_200_rapid_edits_on_12_mp(window):
    rng = np.random.default_rng(3)
    photo = rng.random((3000, 4000, 3), dtype=np.float32)  # 12 MP
    set_fields(window, {"channels": "sum"})  # one neuron: the cheapest full result
    stages = []
    window.outputShown.connect(lambda gen, stage: stages.append(stage))
    image_wait(window, photo, "12mp.png", timeout_ms=60000)
    assert stages[0] == "preview"  # a photo this big gets a preview first
    seen = spy_on(window.runner)
    started_before = window.runner.counters().started
    cells = [window.findChild(QLineEdit, f"kernelCell_{r}_{c}") for r in range(3) for c in range(3)]
    app = QApplication.instance()
    for i in range(200):
        cells[i % 9].setText(f"{(i % 7) - 3}/{i % 5 + 1}")
        if i % 4 == 0:
            app.processEvents()  # results arrive while the edits go on, as in real use
        assert len(seen["live"]) <= 2, "more than one job running and one waiting"
    assert wait_until_idle(window, 120000)
    counters = window.runner.counters()
    assert seen["peak"] <= 2 and counters.errors == 0
    assert seen["submitted"] >= 150  # (an edit that parses to the value in force sends none)
    started = counters.started - started_before
    assert started < seen["submitted"] and counters.superseded > 0, counters
    final = window.kernel_editor.kernel()
    want = ops.conv2d(photo, final.astype(np.float32))
    got = window.output_raw()
    assert got is not None, "the last edit's full result is shown"
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_runner_latest_wins_directly(qtbot):
    """Submitting while busy replaces the waiting job; only the newest runs.

    The first job is held until all 20 are in, so the bound does not depend on how the
    two threads happen to be scheduled: at most the first (if the worker took it before the
    second arrived) and the last ever run."""
    release = threading.Event()
    runner = LatestWins("test-runner")
    seen = spy_on(runner)
    ran, results = [], []
    runner.result.connect(results.append)

    def make(n):
        def job(ctx):
            assert release.wait(30), "the test never released the worker"
            ran.append(n)
            ctx.emit(n)
        return job

    try:
        for n in range(1, 21):
            runner.submit(make(n), tag=n)
            assert len(seen["live"]) <= 2
        release.set()
        qtbot.waitUntil(lambda: not runner.busy() and 20 in results, timeout=30000)
        c = runner.counters()
        assert c.in_flight == 0 and c.submitted == 20
        assert ran[-1] == 20 and len(ran) <= 2 and c.started == len(ran)
        assert c.superseded == 20 - c.started and results == ran
    finally:
        runner.shutdown(10)


def test_runner_errors_and_idle(qtbot):
    runner = LatestWins("test-runner")
    failures, idles = [], []
    runner.failed.connect(lambda tag, msg: failures.append((tag, msg)))
    runner.idle.connect(lambda: idles.append(1))

    def bad(ctx):
        raise ValueError("the kernel does not fit\nsecond line")

    try:
        runner.submit(bad, tag=7)
        wait_for(lambda: failures and idles, 10000, "the failure")
        assert failures == [(7, "the kernel does not fit")]
        assert runner.counters().errors == 1
    finally:
        runner.shutdown(10)


def test_no_signal_after_shutdown(qtbot):
    """The teardown gate: a job finishing after shutdown sends nothing."""
    release = threading.Event()
    runner = LatestWins("test-runner")
    got = []
    runner.result.connect(got.append)
    runner.submit(lambda ctx: (release.wait(10), ctx.emit("late")))
    wait_for(lambda: runner.counters().started == 1, 5000, "the job to start")
    runner.shutdown(0)  # closes the gate; the held job is still running
    release.set()
    wait_for(lambda: runner.counters().finished == 1, 5000, "the job to end")
    QApplication.processEvents()
    assert got == []
