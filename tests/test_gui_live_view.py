"""The Live tab's layouts: one neuron taken apart, and pooling beside the convolution."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QPushButton, QScrollArea

from conftest import image_wait, wait_for, wait_until_idle
from convdemo import imaging, ops, pipeline
from convdemo.geometry import conv_placement

RNG = np.random.default_rng(11)


@pytest.fixture
def window(blank_window):
    image_wait(blank_window, RNG.random((24, 32, 3), dtype=np.float32), "colour")
    return blank_window


def pixels(pane) -> np.ndarray:
    return np.asarray(pane.image.image)


def test_one_neuron_shows_each_channels_sum_and_their_total(window, qtbot):
    window.kernel_editor.perChannelCheck.setChecked(True)
    kernel = RNG.normal(0, 0.5, (3, 3, 3))
    window.lab.set_settings("neuron", kernel=kernel, bias=0.25, display="diverging")
    qtbot.mouseClick(window.findChild(QPushButton, "liveMode_neuron"), Qt.MouseButton.LeftButton)
    assert window.lab.view.live == "neuron"
    assert wait_until_idle(window)
    live = window.live_view
    assert all(p.isVisible() for p in live.partial_panes + [window.output_pane])
    k32 = kernel.astype(np.float32)
    out = window.output_raw()
    total = np.zeros_like(out)
    for i, pane in enumerate(live.partial_panes):
        part = ops.conv2d(window.lab.image[:, :, i], k32[:, :, i])
        total += part
        want = imaging.to_display(part, "diverging",
                                  scale_from=window.full_outcome.result.display).rgb
        np.testing.assert_array_equal(pixels(pane), want)
    np.testing.assert_allclose(total + 0.25, out, atol=1e-5)  # the neuron is their sum
    assert "Σ + bias" in window.output_pane.title.text()
    assert "R part + G part + B part + bias" in live.note.text()


def test_the_three_kernels_are_all_in_sight_at_1280x800(window):
    window.kernel_editor.perChannelCheck.setChecked(True)
    wait_until_idle(window)
    grids = [window.kernel_editor.cell(0, 0, ch) for ch in "RGB"]
    assert all(c.isVisible() and not c.visibleRegion().isEmpty() for c in grids)
    scroll = window.editor_scroll
    wait_for(lambda: scroll.horizontalScrollBar().maximum() == 0 and
             scroll.verticalScrollBar().maximum() == 0, 3000, "the editor to fit, unscrolled")
    assert window.findChild(QScrollArea, "kernelTabs") is None


def test_pooling_side_by_side_on_one_scale(window, qtbot):
    window.apply_preset("sobel-x")
    window.lab.set_settings("pool", pool="max", relu=True, display="normalize")
    window.lab.set_view(live="pool")
    assert wait_until_idle(window)
    live = window.live_view
    assert live.conv_pane.isVisible() and window.output_pane.isVisible()
    s = window.lab.settings
    conv = ops.relu(ops.conv2d(window.lab.image, s.kernel_array(), channels="separate"))
    pooled = ops.pool2d(conv, 2)
    np.testing.assert_array_equal(window.output_raw(), pooled)
    conv_d = imaging.to_display(conv, "normalize")
    np.testing.assert_array_equal(pixels(live.conv_pane), conv_d.rgb)
    # the pooled map on the convolution's scale (not its own min..max)
    np.testing.assert_array_equal(pixels(window.output_pane),
                                  imaging.to_display(pooled, "normalize", scale_from=conv_d).rgb)
    # a pooled pixel's window is outlined on the convolution's map
    assert window.inspect_pooled(3, 5)
    place = conv_placement(s, window.lab.image.shape)
    rect = live.window_item.rect()
    assert live.window_item.isVisible()
    assert (rect.x(), rect.y()) == pytest.approx((place.x0 + 10 * place.pitch_x,
                                                  place.y0 + 6 * place.pitch_y))
    assert (rect.width(), rect.height()) == pytest.approx((2 * place.pitch_x, 2 * place.pitch_y))
    window.lab.set_settings("pool off", pool="none")
    wait_until_idle(window)
    assert "Pooling is off" in live.note.text()


def test_the_layout_is_part_of_the_lab_and_saved(window, tmp_path):
    from convdemo import statefile

    window.lab.set_view(live="neuron")
    path = tmp_path / "n.convdemo"
    window.save_lab(path)
    state, _ = statefile.load(path)
    assert state.view.live == "neuron"
    window.lab.set_view(live="output")
    assert window.live_view.mode == "output" and not window.live_view.conv_pane.isVisible()
    assert pipeline.Settings() is not None


def test_export_view_at_twice_the_resolution(window, tmp_path):
    from PIL import Image

    window.lab.set_view(live="pool")
    wait_until_idle(window)
    path = tmp_path / "slide.png"
    assert window.export_view(path)
    with Image.open(path) as im:
        assert im.size == (2 * window.live_view.width(), 2 * window.live_view.height())
        assert len(set(im.convert("RGB").getdata())) > 50  # the pictures, not a blank page
    (tmp_path / "a-file").write_text("not a folder")
    assert not window.export_view(tmp_path / "a-file" / "x.png")
    assert "cannot write" in window.statusBar().currentMessage()
