"""Scan mode's canvas: the window it draws is the window whose sum the text writes.

These tests look at the painted pixels, so they hold whatever the layout: the input plane is
the only pure-black area of an image that is black but for one white pixel, and the window is
the largest outline in the window colour.
"""

from __future__ import annotations

import numpy as np
import pytest

from convdemo.pipeline import Settings

WINDOW_RGB = (255, 212, 0)


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (y0, x0, y1, x1) of the 8-connected components of ``mask``."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    return [(s[0].start, s[1].start, s[0].stop, s[1].stop)
            for s in ndimage.find_objects(labels)[:n]]


def drawn_window(pixels: np.ndarray, size: int) -> tuple[range, range]:
    """The input rows and cols the painted window covers, read from an RGB picture of the
    canvas: the plane is the bounding box of the pure-black pixels (``size`` cells a side),
    the window the largest box of window-coloured pixels."""
    black = np.all(pixels == 0, axis=2)
    ys, xs = np.nonzero(black)
    y0, x0, y1, x1 = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
    cell = (x1 - x0) / size
    assert (y1 - y0) / size == pytest.approx(cell, rel=0.05)
    boxes = _components(np.all(pixels == WINDOW_RGB, axis=2))
    wy0, wx0, wy1, wx1 = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    # the outline's pen straddles the window's edge: its centre line is what matters
    rows = round((wy1 - wy0) / cell)
    cols = round((wx1 - wx0) / cell)
    r0 = round(((wy0 + wy1) / 2 - y0) / cell - rows / 2)
    c0 = round(((wx0 + wx1) / 2 - x0) / cell - cols / 2)
    return range(r0, r0 + rows), range(c0, c0 + cols)


@pytest.mark.parametrize("stride", [1, 2])
def test_the_painted_window_is_the_one_whose_sum_is_written(qtbot, stride):
    """Issue 9: 8x8 black image, one white pixel at (1, 1), identity, valid. After k steps the
    drawn window covers exactly the input cells of the written sum (it used to be drawn one
    step ahead: ``paintEvent`` drew ``m.current()`` while the text showed ``m.last``)."""
    from convdemo.gui.scan import ScanPanel

    image = np.zeros((8, 8), np.float32)
    image[1, 1] = 1.0
    panel = ScanPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    panel.set_source(image, Settings(stride=stride))
    out_w = panel.model.shape[1]
    for k in (1, 2, out_w + 1):
        while panel.model.position < k:
            panel.step()
        last = panel.model.last
        assert (last.row, last.col) == divmod(k - 1, out_w)
        assert f"output ({last.row}, {last.col})" in panel.text.text()
        pixels = panel.canvas.grab().toImage()
        rows, cols = drawn_window(_rgb(pixels), 8)
        assert (list(rows), list(cols)) == (last.rows.tolist(), last.cols.tolist()), k
        if last.row == 0 and last.col == 0:  # the white pixel is in the sum: output 1
            assert last.outputs[0] == 1.0


def _rgb(image) -> np.ndarray:
    from PyQt6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    return data.reshape(h, image.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def test_qt_and_pillow_draw_the_same_scene(qtbot):
    """The canvas is a thin QPainter renderer of the same primitives the GIF export draws:
    outside the texts (whose antialiasing differs) and the slanted lines (rasterised a pixel
    apart), the two pictures agree pixel for pixel."""
    from PyQt6.QtGui import QImage, QPainter

    from convdemo.gui.scan import paint_scene
    from convdemo.scan import ScanModel
    from convdemo.scan_export import render
    from convdemo.scan_render import Hatch, Lines, Text, layout

    image = np.random.default_rng(3).random((12, 14, 3), dtype=np.float32)
    m = ScanModel(image, Settings(channels="sum", padding="same", relu=True, bias=0.1))
    m.run_to(40)
    scene = layout(m, 1000, 560)
    qimg = QImage(scene.width, scene.height, QImage.Format.Format_RGB888)
    painter = QPainter(qimg)
    paint_scene(painter, scene)
    painter.end()
    qt, pil = _rgb(qimg), np.asarray(render(scene))
    skip = np.zeros(qt.shape[:2], bool)
    boxes = [(t.x, t.y, t.w, t.h) for t in scene.find(Text) + scene.find(Hatch)]
    for line in scene.find(Lines, "merge"):
        xs = [v for seg in line.segments for v in seg[0::2]]
        ys = [v for seg in line.segments for v in seg[1::2]]
        boxes.append((min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
    for x, y, w, h in boxes:
        skip[max(0, int(y) - 2):int(y + h) + 2, max(0, int(x) - 2):int(x + w) + 2] = True
    same = np.all(qt == pil, axis=2)
    assert (~skip).mean() > 0.5 and same[~skip].mean() > 0.999, same[~skip].mean()


def test_speed_is_in_steps_per_second(qtbot):
    """Issue 9: labelled in steps per second, 2 by default, 0.5 to 60; the window can set it
    and hear of changes (to keep it in the lab's state)."""
    from PyQt6.QtWidgets import QLabel, QSlider

    from convdemo.gui.scan import ScanPanel

    panel = ScanPanel()
    qtbot.addWidget(panel)
    assert panel.steps_per_second() == 2.0
    label = panel.findChild(QLabel, "scanSpeedLabel")
    assert label.text() == "2 steps/s"
    slider = panel.findChild(QSlider, "scanSpeed")
    slider.setValue(slider.minimum())
    assert panel.steps_per_second() == 0.5 and label.text() == "0.5 steps/s"
    assert panel.timer.interval() == 2000
    heard = []
    panel.speedChanged.connect(heard.append)
    slider.setValue(slider.maximum())
    assert panel.steps_per_second() == 60.0 and heard == [60.0]
    panel.set_steps_per_second(9.0)  # the nearest offered speed
    assert panel.steps_per_second() in (8.0, 10.0) and heard[-1] == panel.steps_per_second()
    for bad in (0.1, 61, "fast"):
        with pytest.raises(ValueError, match="steps per second"):
            panel.set_steps_per_second(bad)
