"""The window handles any image `apply` handles: strips of a million pixels, a 1x1 image, and
a large photo after them (pyqtgraph must never be left broken by an odd image)."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtWidgets import QApplication

from conftest import image_wait, wait_until_idle
from convdemo import pipeline


@pytest.fixture
def window(blank_window):
    return blank_window


@pytest.mark.slow
def test_strips_tiny_images_then_a_big_photo(window):
    window.lab.set_settings("same", padding="same")
    rng = np.random.default_rng(0)
    for shape in [(1, 1_000_000), (2, 800_000, 3), (800_000, 1), (1, 1), (3000, 4000, 3)]:
        image = rng.random(shape, dtype=np.float32)
        image_wait(window, image, f"{shape}", timeout_ms=60000)
        window.repaint()
        QApplication.processEvents()  # a paint that raised would fail the test (pytest-qt)
        assert not window.output_pane.showing_message(), window.output_pane.message.text()
        want = pipeline.run(window.lab.image, window.lab.settings).raw
        np.testing.assert_array_equal(window.output_raw(), want)
        assert window.input_pane.image.image.shape[1] <= 32767


def test_a_strip_with_valid_padding_says_why_nothing_is_left(window):
    image_wait(window, np.zeros((1, 5000), np.float32), "strip")
    assert wait_until_idle(window)
    assert window.output_pane.showing_message()
    assert "does not fit" in window.output_pane.message.text()
