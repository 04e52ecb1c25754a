"""Stress: 200 rapid kernel-cell edits on a 12 MP photo never pile up computations.

The worker counts what it does (``ComputeWorker.counters``); the latest-wins queue must keep
at most 2 computations running or waiting at any moment, and the output in the end must be
the final kernel's.
"""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtWidgets import QApplication, QLineEdit

from convdemo import ops
from convdemo.gui.worker import ComputeWorker, Request
from convdemo.pipeline import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def window(blank_window):
    return blank_window


def test_200_rapid_edits_on_12_mp(window):
    rng = np.random.default_rng(3)
    photo = rng.random((3000, 4000, 3), dtype=np.float32)  # 12 MP
    window.controls.set_fields({"channels": "sum"})  # one neuron: the cheapest full result
    window.set_image(photo, "12mp.png")
    assert window.wait_until_idle(60000)
    assert window._preview_factor > 1  # a photo this big gets a preview first
    counters = window.worker.counters
    started_before = counters.started
    cells = [window.findChild(QLineEdit, f"kernelCell_{r}_{c}") for r in range(3) for c in range(3)]
    app = QApplication.instance()
    for i in range(200):
        cells[i % 9].setText(f"{(i % 7) - 3}/{i % 5 + 1}")
        if i % 4 == 0:
            app.processEvents()  # results arrive while the edits go on, as in real use
        assert counters.in_flight <= 2
    assert window.wait_until_idle(120000)
    assert counters.max_in_flight <= 2, counters
    assert counters.errors == 0
    assert counters.submitted >= 200
    started = counters.started - started_before
    assert started < 200 and counters.superseded > 0, counters  # latest wins did its job
    final = window.kernel_editor.kernel()
    want = ops.conv2d(photo, final.astype(np.float32))
    got = window.full_outcome.result.raw
    assert window.full_outcome.request.generation == window._generation
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_worker_latest_wins_directly(qtbot, monkeypatch):
    """Submitting while busy replaces the waiting request; only the newest is computed.

    The computation is held until all 20 requests are in, so the bound does not depend on
    how the two threads happen to be scheduled: at most the first (if the worker took it
    before the second arrived) and the last are ever computed."""
    import threading

    from convdemo import pipeline

    release = threading.Event()
    real_run = pipeline.run

    def held_run(image, settings):
        assert release.wait(30), "the test never released the worker"
        return real_run(image, settings)

    monkeypatch.setattr(pipeline, "run", held_run)
    worker = ComputeWorker()
    image = np.random.default_rng(0).random((300, 300), dtype=np.float32)
    done = []
    worker.finished.connect(lambda outcome: done.append(outcome.request.generation))
    try:
        for gen in range(1, 21):
            worker.submit(Request(gen, image, Settings().replace(bias=gen / 100)))
        release.set()
        qtbot.waitUntil(lambda: not worker.busy() and 20 in done, timeout=30000)
        qtbot.waitUntil(lambda: worker.counters.in_flight == 0, timeout=5000)
        c = worker.counters
        assert c.max_in_flight <= 2 and c.in_flight == 0
        assert c.submitted == 20 and c.started == len(done) and c.started <= 2
        assert c.superseded == 20 - c.started
        assert done[-1] == 20 and done == sorted(done)
    finally:
        worker.shutdown(10)
