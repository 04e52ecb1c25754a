"""The pixel inspector and scan mode: their arithmetic must be the engine's arithmetic."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtWidgets import QComboBox, QPushButton, QSlider, QSpinBox

from conftest import open_wait, wait_until_idle
from convdemo import ops
from convdemo.geometry import conv_placement, output_placement, receptive_field
from convdemo.inspection import describe_html, inspect
from convdemo.pipeline import Settings
from convdemo.scan import MAX_SIDE, MAX_SIDE_RGB, ScanModel, pixelate

RNG = np.random.default_rng(7)


def engine(x, s: Settings) -> np.ndarray:
    channels = "separate" if s.channels == "separate" else "sum"
    return ops.conv2d(x, s.kernel_array(), stride=s.stride, padding=s.padding, border=s.border,
                      channels=channels, flip=s.flip, bias=s.bias)


CASES = list(itertools.product(
    ["zeros", "reflect", "replicate", "wrap"],
    ["valid", "same", "full", 2],
    [1, 2, 3],
))


@pytest.mark.parametrize("border, padding, stride", CASES)
def test_inspect_equals_the_engine_at_every_pixel(border, padding, stride):
    """Every output pixel, borders included: the inspector's sum is the engine's value."""
    x = RNG.random((7, 9, 3), dtype=np.float32)
    k = 3 if stride != 3 else 5
    kernel = RNG.normal(size=(k, k)).astype(np.float32)
    s = Settings().replace(kernel=kernel, stride=stride, padding=padding, border=border,
                           bias=0.3, flip=stride == 2, channels="sum")
    want = engine(x, s)
    assert want.size
    for r in range(want.shape[0]):
        for c in range(want.shape[1]):
            ins = inspect(x, s, r, c)
            assert ins.outputs[0] == pytest.approx(float(want[r, c]), abs=1e-5)
            assert ins.total == pytest.approx(float(ins.products.sum()) + 0.3)


def test_inspect_separate_per_channel_kernel_grey_and_relu():
    x = RNG.random((6, 8, 3), dtype=np.float32)
    s = Settings().replace(kernel=RNG.normal(size=(3, 3)), channels="separate", padding="same")
    want = engine(x, s)
    ins = inspect(x, s, 0, 7)
    assert ins.separate and ins.padded.any()
    np.testing.assert_allclose(ins.outputs, want[0, 7], atol=1e-5)
    per_channel = Settings().replace(kernel=RNG.normal(size=(3, 3, 3)), padding="full",
                                     channels="sum")
    want = engine(x, per_channel)
    ins = inspect(x, per_channel, 2, 3)
    assert ins.outputs[0] == pytest.approx(float(want[2, 3]), abs=1e-5)
    assert not np.array_equal(ins.kernel[:, :, 0], ins.kernel[:, :, 1])
    grey = RNG.random((5, 5), dtype=np.float32)
    relu = Settings().replace(kernel=-np.ones((3, 3)), relu=True)
    ins = inspect(grey, relu, 1, 1)
    assert ins.total < 0 and ins.outputs == (0.0,)
    assert "ReLU" in describe_html(ins)


def test_placement_puts_output_pixels_over_their_window():
    s = Settings().replace(kernel=np.ones((3, 3)), stride=2, padding="same")
    shape = (10, 12)
    place = conv_placement(s, shape)
    for r, c in [(0, 0), (2, 3), (4, 5)]:
        rows, cols = receptive_field(s, shape, r, c)
        centre = (cols[0] + len(cols) / 2, rows[0] + len(rows) / 2)
        assert place.index(*centre) == (r, c)
    pooled = output_placement(s.replace(pool="max"), shape)
    assert pooled.pitch_x == 4 and pooled.index(pooled.x0 + 1, pooled.y0 + 1) == (0, 0)


@pytest.mark.parametrize("channels, border, padding, stride", [
    ("sum", "zeros", "valid", 1),
    ("sum", "reflect", "same", 2),
    ("separate", "wrap", "full", 1),
    ("gray", "replicate", 1, 3),
])
def test_full_scan_equals_conv2d_on_the_copy(channels, border, padding, stride):
    image = RNG.random((90, 120, 3), dtype=np.float32)
    s = Settings().replace(kernel=RNG.normal(size=(3, 3)), channels=channels, border=border,
                           padding=padding, stride=stride, bias=-0.2, flip=True)
    model = ScanModel(image, s)
    assert max(model.copy.shape[:2]) == (MAX_SIDE if channels == "gray" else MAX_SIDE_RGB)
    steps = 0
    while model.step():
        steps += 1
    assert steps == model.n_cells and model.finished
    np.testing.assert_allclose(model.output, engine(model.copy, s), atol=1e-5)
    assert "output" in model.arithmetic() and "×" in model.arithmetic()


def test_pixelate_keeps_small_images_and_box_filters_big_ones():
    small = RNG.random((10, 12), dtype=np.float32)
    np.testing.assert_array_equal(pixelate(small, 32), small)
    flat = np.full((100, 64, 3), 0.25, np.float32)
    out = pixelate(flat, 32)
    assert out.shape == (32, 20, 3)
    np.testing.assert_allclose(out, 0.25, atol=1e-6)


# ---------------------------------------------------------------- in the window
@pytest.fixture
def window(blank_window, tmp_path):
    """The window with a small random RGB photo opened and computed."""
    w = blank_window
    photo = tmp_path / "photo.png"
    pixels = RNG.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)
    assert open_wait(w, photo)
    assert wait_until_idle(w, 10000)
    return w


@pytest.mark.parametrize("pool", ["none", "max"])
def test_inspector_sum_equals_the_output_pixel(window, pool):
    window.apply_preset("sobel-x")
    window.findChild(QComboBox, "channelsCombo").setCurrentText("sum")  # one value per pixel
    window.findChild(QComboBox, "paddingCombo").setCurrentText("same")
    window.findChild(QComboBox, "borderCombo").setCurrentText("reflect")
    window.findChild(QSpinBox, "strideSpin").setValue(2)
    window.kernel_editor.biasEdit.setText("0.1")
    assert wait_until_idle(window, 10000)
    raw = window.full_outcome.result.raw
    for r, c in [(0, 0), (5, 7), (raw.shape[0] - 1, raw.shape[1] - 1)]:
        assert window.inspect_output(r, c)
        ins = window.inspector.inspection
        assert (ins.row, ins.col) == (r, c)
        assert ins.outputs[0] == pytest.approx(float(raw[r, c]), abs=1e-5)
        assert window.inspector.output_value == pytest.approx(float(raw[r, c]))
        assert f"{ins.outputs[0]:.4f}" in window.inspector.label.text()
    if pool == "max":
        window.findChild(QComboBox, "poolCombo").setCurrentText("max")
        assert wait_until_idle(window, 10000)
        assert window.inspect_output(2, 3)
        assert "max pooling" in window.inspector.label.text()


def test_hovering_the_output_draws_the_receptive_field(window, qtbot):
    window.apply_preset("blur")
    assert wait_until_idle(window, 10000)
    settings = window.full_outcome.settings
    place = conv_placement(settings, window.lab.image.shape)
    r, c = 10, 20
    view = window.output_pane.view
    scene = view.mapViewToScene(QPointF(place.x0 + (c + 0.5) * place.pitch_x,
                                        place.y0 + (r + 0.5) * place.pitch_y))
    window.output_pane.graphics.scene().sigMouseMoved.emit(scene)
    assert window.field_item.isVisible()
    rect = window.field_item.rect()
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (c, r, 3, 3)
    ins = window.inspector.inspection
    assert (ins.row, ins.col) == (r, c)
    want = np.ravel(window.full_outcome.result.raw[r, c])  # R, G, B: channels = separate
    assert ins.outputs == pytest.approx(tuple(float(v) for v in want), abs=1e-5)
    # outside the view (on the way to the inspector panel) the outline stays ...
    window.output_pane.graphics.scene().sigMouseMoved.emit(QPointF(-500, -500))
    assert window.field_item.isVisible()
    # ... over the view but off the image it goes
    view.setRange(xRange=(-100, 150), yRange=(-100, 150), padding=0)
    window.output_pane.graphics.scene().sigMouseMoved.emit(view.mapViewToScene(QPointF(-50, -50)))
    assert not window.field_item.isVisible()


def test_scan_mode_in_the_window(window, qtbot):
    window.apply_preset("edge")
    window.findChild(QComboBox, "paddingCombo").setCurrentText("same")
    assert wait_until_idle(window, 10000)
    window.tabs.setCurrentWidget(window.scan_panel)
    panel = window.scan_panel
    model = panel.model
    assert model is not None and model.position == 0
    panel.findChild(QPushButton, "scanStep").click()
    assert panel.model.position == 1
    assert "output (0, 0)" in panel.text.text()
    # Space plays and pauses
    panel.findChild(QSlider, "scanSpeed").setValue(100)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert panel.playing()
    qtbot.waitUntil(lambda: panel.model.finished, timeout=20000)
    assert not panel.playing()
    s = panel.model.settings
    np.testing.assert_allclose(panel.model.output, engine(panel.model.copy, s), atol=1e-5)
    panel.findChild(QPushButton, "scanReset").click()
    assert panel.model.position == 0 and np.isnan(panel.model.output).all()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert panel.playing()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not panel.playing()
    # a change of settings starts a new scan with them
    window.findChild(QSpinBox, "strideSpin").setValue(2)
    assert panel.model.settings.stride == 2 and panel.model.position == 0
    panel.findChild(QPushButton, "scanFinish").click()
    np.testing.assert_allclose(panel.model.output, engine(panel.model.copy, panel.model.settings),
                               atol=1e-5)


@pytest.mark.parametrize("pool, channels, pool_stride", [
    ("max", "sum", 0), ("avg", "sum", 0), ("max", "separate", 0), ("avg", "gray", 1),
    ("max", "sum", 3)])
def test_pooled_pixel_shows_its_pool_window_and_the_winning_sum(window, pool, channels,
                                                                 pool_stride):
    """With pooling the inspector shows the pool window's conv values (as the engine computes
    them), the pooled value, and the full multiply-and-sum of the winner (max) or of the
    hovered conv pixel (avg); the numbers add up to the output pixel."""
    window.apply_preset("sobel-x")
    window.findChild(QComboBox, "channelsCombo").setCurrentText(channels)
    window.findChild(QComboBox, "paddingCombo").setCurrentText("same")
    window.findChild(QComboBox, "activationCombo").setCurrentText("ReLU")
    window.findChild(QComboBox, "poolCombo").setCurrentText(pool)
    window.findChild(QSpinBox, "poolSizeSpin").setValue(2 if pool_stride != 3 else 3)
    window.findChild(QSpinBox, "poolStrideSpin").setValue(pool_stride)
    window.kernel_editor.biasEdit.setText("-0.05")
    assert wait_until_idle(window, 10000)
    s = window.full_outcome.settings
    x = window.full_outcome.result.conv_input
    conv = ops.relu(engine(x, s))
    pooled = ops.pool2d(conv, s.pool_size, stride=s.pool_stride, mode=pool)
    np.testing.assert_allclose(window.full_outcome.result.raw, pooled, rtol=1e-5, atol=1e-6)
    if conv.ndim == 2:
        conv, pooled = conv[:, :, None], pooled[:, :, None]
    for pr, pc in [(0, 0), (3, 5), (pooled.shape[0] - 1, pooled.shape[1] - 1)]:
        assert window.inspect_pooled(pr, pc)
        p = window.inspector.pool_inspection
        assert p is not None and (p.prow, p.pcol) == (pr, pc)
        window_values = conv[p.rows[0]:p.rows[-1] + 1, p.cols[0]:p.cols[-1] + 1]
        np.testing.assert_allclose(p.values, window_values, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(p.pooled, pooled[pr, pc], rtol=1e-5, atol=1e-5)
        d = p.detail
        assert (d.row, d.col) == (p.rows[p.detail_at[0]], p.cols[p.detail_at[1]])
        # the written-out multiply-and-sum: products add up to the conv value shown
        np.testing.assert_allclose(d.products.sum(axis=(0, 1)), d.channel_sums, atol=1e-9)
        assert d.outputs[0] == pytest.approx(float(window_values[p.detail_at][0]), abs=1e-5)
        if pool == "max":  # the winner's sum is the output value
            assert d.outputs[0] == pytest.approx(float(pooled[pr, pc, 0]), abs=1e-5)
        text = window.inspector.label.text()
        def shown(v: float) -> str:  # as the panel writes numbers: 4 decimals, 0 as "0"
            return "0" if v == 0 else f"{v:.4f}"

        assert f"{pool} pooling" in text and f"<b>{shown(float(p.pooled[0]))}</b>" in text
        for v in p.values[:, :, 0].ravel():
            assert f">{shown(float(v))}<" in text
        assert ("winner" if pool == "max" else "hovered") in text
        # the whole pool window's receptive field is outlined on the input
        rows0, cols0 = receptive_field(s, x.shape, p.rows[0], p.cols[0])
        rows1, cols1 = receptive_field(s, x.shape, p.rows[-1], p.cols[-1])
        rect = window.field_item.rect()
        assert (rect.x(), rect.y(), rect.right(), rect.bottom()) == (
            cols0[0], rows0[0], cols1[-1] + 1, rows1[-1] + 1)
        assert window.detail_item.isVisible()


@pytest.mark.parametrize("channels", ["sum", "separate"])
def test_rgb_inspection_fits_without_scrolling_at_1280x800(window, channels):
    """All of R, G and B (and the total) in sight in the 1280x800 window: no scroll bar."""
    from PyQt6.QtWidgets import QApplication, QScrollArea

    window.apply_preset("sobel-x")
    window.findChild(QComboBox, "channelsCombo").setCurrentText(channels)
    assert wait_until_idle(window, 10000)
    assert window.inspect_output(5, 7)
    for _ in range(3):
        QApplication.processEvents()
    scroll = window.inspector.findChild(QScrollArea)
    assert scroll.verticalScrollBar().maximum() == 0, (
        window.inspector.label.sizeHint(), scroll.viewport().size())


def test_scan_panel_reuses_its_copy_for_edits_and_follows_a_new_image(qtbot, monkeypatch):
    from convdemo import scan
    from convdemo.gui.scan import ScanPanel

    calls = []
    real = scan.pixelate
    monkeypatch.setattr(scan, "pixelate", lambda *a: calls.append(1) or real(*a))
    panel = ScanPanel()
    qtbot.addWidget(panel)
    first = RNG.random((60, 80, 3), dtype=np.float32)
    s = Settings(channels="separate")
    panel.set_source(first, s)
    for bias in (0.1, 0.2, 0.3):  # kernel/bias edits: same copy, new scans
        panel.set_source(first, s.replace(bias=bias))
    assert len(calls) == 1
    np.testing.assert_array_equal(panel.model.copy, scan.pixelate(first, scan.MAX_SIDE_RGB))
    second = 1.0 - first  # a new photo is pixelated anew, whatever its id()
    panel.set_source(second, s.replace(bias=0.3))
    np.testing.assert_array_equal(panel.model.copy, real(second, scan.MAX_SIDE_RGB))
