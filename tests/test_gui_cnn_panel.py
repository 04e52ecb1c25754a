"""The CNN side panel, driven like a user: mouse strokes, clicks on maps, the model selector."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtWidgets import QApplication, QScrollArea
from scipy.signal import correlate2d

from conftest import wait_for, wait_until_idle
from convdemo import labels, resources
from convdemo import model as cnn
from convdemo.gui import cnn_panel as panel_module
from convdemo.gui.cnn_panel import CNNPanel
from convdemo.lab import Lab, LabState

# ------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="session")
def seed_npz(tmp_path_factory):
    """A seed model with random (untrained) weights and biases, saved like a real one."""
    path = tmp_path_factory.mktemp("models") / "seed-random.npz"
    model = cnn.build("seed", seed=1)
    weights = model.get_weights()
    weights["conv2d.bias"] = np.random.default_rng(1).uniform(-0.1, 0.1, 32)  # not all 0
    model.set_weights(weights)
    model.save(path)
    return path


@pytest.fixture(scope="session")
def deep_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "deep-random.npz"
    cnn.build("deep", seed=2).save(path)
    return path


@pytest.fixture
def make_panel(qtbot):
    def make(model) -> CNNPanel:
        panel = CNNPanel(Lab(LabState(model=str(model))))
        qtbot.addWidget(panel)
        panel.resize(390, 800)
        panel.show()
        qtbot.waitExposed(panel)
        assert wait_until_idle(panel, 5000)
        return panel

    return make


def draw(qtbot, canvas, strokes, steps=12):
    """Draw ``strokes`` (lists of (x, y) in 0..1 of the canvas) with real mouse events."""
    w, h = canvas.width(), canvas.height()
    side = min(w, h)
    x0, y0 = (w - side) / 2, (h - side) / 2

    def at(p):
        return QPoint(round(x0 + p[0] * side), round(y0 + p[1] * side))

    for stroke in strokes:
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(stroke[0]))
        for a, b in zip(stroke, stroke[1:], strict=False):
            for t in np.linspace(0, 1, steps)[1:]:
                qtbot.mouseMove(canvas, at((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(stroke[-1]))


def ellipse(cx, cy, rx, ry, n=24):
    return [(cx + rx * np.sin(t), cy - ry * np.cos(t)) for t in np.linspace(0, 2 * np.pi, n)]


def arc(cx, cy, rx, ry, t0, t1, n=12):
    """Points on an ellipse from turn t0 to t1, clockwise from 12 o'clock."""
    t = 2 * np.pi * np.linspace(t0, t1, n)
    return [(cx + rx * np.sin(a), cy - ry * np.cos(a)) for a in t]


#: all ten digits as a person draws them with a mouse (canvas fractions), one or two strokes
DIGIT_STROKES = {
    0: [ellipse(0.5, 0.5, 0.22, 0.34)],
    1: [[(0.52, 0.15), (0.50, 0.85)]],
    2: [arc(0.5, 0.35, 0.2, 0.18, -0.2, 0.3) + [(0.28, 0.82), (0.75, 0.82)]],
    3: [arc(0.48, 0.32, 0.2, 0.15, -0.2, 0.5) + arc(0.48, 0.66, 0.22, 0.18, 0.0, 0.7)[1:]],
    4: [[(0.55, 0.15), (0.25, 0.6), (0.75, 0.6)], [(0.6, 0.35), (0.6, 0.88)]],
    5: [[(0.7, 0.18), (0.35, 0.18), (0.32, 0.45)] + arc(0.48, 0.63, 0.22, 0.2, -0.15, 0.72)],
    6: [[(0.62, 0.15), (0.38, 0.5)] + arc(0.5, 0.66, 0.19, 0.19, 0.75, 1.75, 20)],
    7: [[(0.25, 0.18), (0.75, 0.18), (0.42, 0.85)]],
    8: [arc(0.5, 0.32, 0.16, 0.15, 0.5, 1.5, 16), arc(0.5, 0.68, 0.2, 0.18, 0, 1, 18)],
    9: [arc(0.5, 0.34, 0.18, 0.17, 0.25, 1.25, 18) + [(0.66, 0.85)]],
}


def use_draw_tab(panel):
    panel.input_tabs.setCurrentIndex(1)
    assert wait_until_idle(panel, 5000)
    return panel.canvas


# -------------------------------------------------------------------------------- tests


def test_mouse_drawing_updates_what_the_model_sees(make_panel, qtbot, seed_npz):
    panel = make_panel(seed_npz)
    canvas = use_draw_tab(panel)
    assert "Nothing to see" in panel.chart.message()
    # mid-stroke (button still down) the panel already shows what is drawn so far
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(70, 20))
    for y in range(20, 80, 5):
        qtbot.mouseMove(canvas, QPoint(70, y))
    assert wait_until_idle(panel, 5000)
    assert not panel.result().blank and panel.grid.count() == 32
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(70, 80))
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    draw(qtbot, canvas, DIGIT_STROKES[1])
    assert wait_until_idle(panel, 5000)
    drawn = canvas.image()
    assert drawn.max() == 1.0 and drawn[:, :40].max() == 0.0  # a vertical bar in the middle
    x28 = panel.result().x28
    assert x28.shape == (28, 28) and not panel.result().blank
    rows = np.nonzero(x28.max(axis=1) > 0.3)[0]
    assert rows.max() - rows.min() + 1 >= 18  # the longer side scaled to ~20 px
    assert panel.chart.probabilities is not None and panel.grid.count() == 32


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_digit_drawn_with_the_mouse_is_predicted_by_digits(make_panel, qtbot, digit):
    assert resources.model_path("digits").is_file(), "the shipped digits weights are missing"
    panel = make_panel("digits")
    assert panel.status_text() == ""
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[digit])
    assert wait_until_idle(panel, 5000)
    chart = panel.chart
    assert chart.labels == labels.DIGITS
    assert chart.labels[chart.top_index()] == str(digit), dict(
        zip(chart.labels, np.round(chart.probabilities, 3), strict=True)
    )
    assert chart.row_font(chart.top_index()).bold()
    assert not chart.row_font((chart.top_index() + 1) % 10).bold()


def test_clear_button_empties_the_canvas(make_panel, qtbot, seed_npz):
    panel = make_panel(seed_npz)
    canvas = use_draw_tab(panel)
    draw(qtbot, canvas, DIGIT_STROKES[7])
    assert wait_until_idle(panel, 5000) and panel.grid.count() == 32
    qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert wait_until_idle(panel, 5000)
    assert canvas.image().max() == 0.0
    assert "Nothing to see" in panel.chart.message()
    assert panel.chart.probabilities is None and panel.grid.count() == 0
    assert "Nothing to see" in panel.grid.message()


@pytest.mark.parametrize("sort", [False, True])
def test_use_this_filter_emits_the_learned_filter(make_panel, qtbot, seed_npz, sort):
    panel = make_panel(seed_npz)
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[4])
    assert wait_until_idle(panel, 5000)
    grid = panel.grid
    panel.sort_check.setChecked(sort)
    # click the first tile: channel 0 unsorted, the most active map when sorted
    means = panel.result().activations["conv2d"][0].mean(axis=(0, 1))
    expected = int(np.argmax(means)) if sort else 0
    first = grid.order()[0]
    assert first == expected
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.tile_rect(first).center())
    assert grid.selected() == expected
    button = panel.findChild(type(panel.use_button), "useFilterButton")
    assert button.isEnabled() and button.text() == "Use this filter"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settings = panel.lab.settings  # the filter went into the lab, to run on grey
    kernel, bias = settings.kernel_array(), settings.bias
    weights, biases = cnn.load(seed_npz).conv_filters("conv2d")
    assert kernel.shape == (3, 3) and settings.channels == "gray"
    np.testing.assert_array_equal(kernel, weights[:, :, 0, expected])
    assert bias == float(biases[expected]) and bias != 0.0
    assert "learned" in panel.lab.state.kernel_source
    # the numbers shown are that filter's
    shown = [[float(c.text()) for c in row] for row in panel.filter_view.cells]
    np.testing.assert_allclose(shown, weights[:, :, 0, expected], atol=5e-4)


def test_arrow_keys_walk_the_maps_in_display_order(make_panel, qtbot, seed_npz):
    panel = make_panel(seed_npz)
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[7])
    assert wait_until_idle(panel, 5000)
    panel.sort_check.setChecked(True)
    grid = panel.grid
    grid.setFocus()
    with qtbot.waitSignal(grid.mapClicked, timeout=1000) as first:
        qtbot.keyClick(grid, Qt.Key.Key_Home)
    with qtbot.waitSignal(grid.mapClicked, timeout=1000) as below:
        qtbot.keyClick(grid, Qt.Key.Key_Down)
    assert first.args == [grid.order()[0]] and below.args == [grid.order()[8]]
    assert panel.inspected_filter() is not None and grid.selected() == grid.order()[8]


def test_grid_has_32_maps_for_seed_and_64_for_the_deep_second_layer(
    make_panel, qtbot, seed_npz, deep_npz
):
    panel = make_panel(seed_npz)
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[0])
    assert wait_until_idle(panel, 5000)
    assert panel.grid.count() == 32 and not panel.layer_combo.isEnabled()
    assert len(panel.grid.most_active()) >= 1

    panel.set_model(deep_npz)
    assert wait_until_idle(panel, 5000)
    assert panel.layer_combo.isEnabled() and panel.layer_combo.count() == 2
    assert panel.grid.count() == 32
    panel.set_layer("conv2d_1")
    assert panel.grid.count() == 64
    assert panel.grid.heightForWidth(380) > 2 * (panel.grid.heightForWidth(380) // 3)
    # a second-layer map: its filter is 3x3x32, "Use this slice" sends the slice of the
    # input map that contributes most (checked here with scipy, independently), bias 0
    j = 5
    panel.inspect_map(j)
    weights, _ = cnn.load(deep_npz).conv_filters("conv2d_1")
    pooled = panel.result().activations["max_pooling2d"][0]
    contributions = [
        correlate2d(pooled[:, :, c], weights[:, :, c, j], mode="valid").mean()
        for c in range(pooled.shape[2])
    ]
    c = int(np.argmax(contributions))
    assert panel.use_button.text() == "Use this slice"
    assert "not at pixels" in panel.use_button.toolTip()
    # the bias is not sent, and the button and the note under it say so, and why
    map_bias = f"{float(cnn.load(deep_npz).conv_filters('conv2d_1')[1][j]):+.3f}"
    assert "bias is not sent" in panel.use_button.toolTip()
    assert map_bias in panel.use_button.toolTip() and "sum of all 32 slices" in \
        panel.use_button.toolTip()
    assert "with bias 0" in panel.filter_note() and f"input map {c}" in panel.filter_note()
    assert "(not sent)" in panel.filter_view.bias.text()
    qtbot.mouseClick(panel.use_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(panel.lab.settings.kernel_array(), weights[:, :, c, j])
    assert panel.lab.settings.bias == 0.0
    note = panel.filter_note()
    assert note.startswith("Sent the slice") and f"bias 0, not {map_bias}" in note
    assert "sum of all 32 slices" in note


def test_missing_weights_are_reported_and_the_panel_keeps_working(
    make_panel, qtbot, tmp_path, monkeypatch
):
    # a shipped name whose file is absent: the sentence from the issue
    monkeypatch.setattr(resources, "model_path", lambda name: tmp_path / f"{name}.npz")
    panel = make_panel("digits")
    assert panel.status_text() == (
        f"The digits model's weights are missing ({tmp_path / 'digits.npz'}): "
        "the rest of the app works."
    )
    assert panel.status.isVisible()
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[1])
    assert wait_until_idle(panel, 5000)
    assert not panel.result().blank  # preprocessing still shows what the model would see
    assert panel.seen_view.message() == ""
    assert "could not be loaded" in panel.chart.message() and panel.grid.count() == 0
    assert not panel.use_button.isEnabled()

    # a corrupt file
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip file")
    panel.set_model(bad)
    assert wait_until_idle(panel, 5000)
    assert "broken.npz model's weights could not be loaded" in panel.status_text()
    assert "the rest of the app works" in panel.status_text()
    box = panel.show_summary()  # must not block nor raise
    assert "could not be loaded" in box.text()
    box.close()


def test_weights_appearing_later_are_picked_up(make_panel, qtbot, tmp_path, seed_npz):
    later = tmp_path / "later.npz"
    panel = make_panel(later)
    assert "missing" in panel.status_text()
    later.write_bytes(seed_npz.read_bytes())
    panel.set_model(later)
    assert wait_until_idle(panel, 5000)
    assert panel.status_text() == "" and panel.current_model() is not None


def test_switching_model_updates_the_class_names(make_panel, qtbot, tmp_path, seed_npz):
    fashion_like = cnn.build("seed", seed=4)
    fashion_like.meta.update(dataset="fashion", labels=list(labels.FASHION))
    path = fashion_like.save(tmp_path / "fashion-like.npz")
    panel = make_panel(seed_npz)
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[0])
    assert wait_until_idle(panel, 5000)
    assert panel.chart.labels == labels.DIGITS
    panel.set_model(path)
    assert panel.lab.state.model == str(path)
    assert wait_until_idle(panel, 5000)
    assert panel.chart.labels == labels.FASHION
    assert panel.current_model_name() == str(path)
    assert panel.model_combo.currentData() == str(path)


def test_model_selector_offers_the_shipped_models_and_switches(make_panel, qtbot, seed_npz):
    panel = make_panel(seed_npz)
    combo = panel.findChild(type(panel.model_combo), "modelCombo")
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names[: len(cnn.SHIPPED)] == list(cnn.SHIPPED)
    combo.setCurrentIndex(names.index("fashion"))
    assert panel.lab.state.model == "fashion" and panel.current_model_name() == "fashion"
    panel.lab.undo()  # the model choice is a change like any other
    assert combo.currentData() == str(seed_npz)
    panel.lab.redo()
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[0])
    assert wait_until_idle(panel, 5000)
    assert panel.chart.labels == labels.FASHION  # the shipped weights are part of the app
    assert panel.status_text() == ""


def test_shipped_fashion_model_shows_fashion_names(make_panel, qtbot):
    assert resources.model_path("fashion").is_file(), "the shipped fashion weights are missing"
    panel = make_panel("fashion")
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[0])
    assert wait_until_idle(panel, 5000)
    assert panel.chart.labels == labels.FASHION
    assert panel.chart.probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_a_photo_is_preprocessed_off_the_gui_thread_latest_wins(make_panel, qtbot, seed_npz):
    panel = make_panel(seed_npz)
    rng = np.random.default_rng(0)
    photos = []
    for i in range(30):
        photo = np.ones((1500, 2000, 3), np.float32)  # dark bar on white paper, moving
        photo[300:1200, 400 + 20 * i : 560 + 20 * i] = rng.uniform(0, 0.2)
        photos.append(photo)
    runner = panel.runner()
    done_before = runner.counters().finished
    for photo in photos:
        panel.set_image(photo)
    # set_image only hands the work over: none of the 30 preprocessings ran on this thread
    assert runner.counters().finished - done_before < len(photos)
    assert wait_until_idle(panel, 20000)
    c = runner.counters()
    assert c.max_in_flight <= 2 and c.superseded > 0
    assert c.finished - done_before < len(photos)  # stale requests were dropped
    np.testing.assert_array_equal(panel.result().request.image, photos[-1])  # the last one
    assert panel.input_tabs.currentIndex() == 0 and not panel.result().blank


def test_worker_errors_are_shown(make_panel, qtbot, seed_npz, monkeypatch):
    panel = make_panel(seed_npz)

    def broken(image):
        raise RuntimeError("preprocessing exploded")

    monkeypatch.setattr(panel_module.prep, "preprocess", broken)
    panel.set_image(np.zeros((50, 50), np.float32))
    assert wait_until_idle(panel, 5000)
    assert "RuntimeError: preprocessing exploded" in panel.status_text()
    assert panel.status.isVisible() and "Traceback" in panel.status.toolTip()
    monkeypatch.undo()  # the next picture works again and the message goes
    panel.set_image(np.zeros((50, 50), np.float32))
    assert wait_until_idle(panel, 5000)
    assert panel.status_text() == "" and not panel.status.isVisible()


def test_set_image_rejects_what_is_not_an_image(make_panel, seed_npz):
    panel = make_panel(seed_npz)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        panel.set_image(np.zeros((10, 10, 2), np.float32))


def test_model_summary_dialog_is_monospace_and_complete(make_panel, qtbot, seed_npz):
    panel = make_panel(seed_npz)
    dialog = panel.show_summary()
    qtbot.addWidget(dialog)
    text = dialog.text.toPlainText()
    assert text == cnn.load(seed_npz).summary()
    assert "Total params: 693,962" in text
    assert dialog.text.fontInfo().fixedPitch()
    widest = max(dialog.text.fontMetrics().horizontalAdvance(s) for s in text.splitlines())
    assert dialog.text.minimumWidth() >= widest  # no wrapped or clipped table rows


def test_in_the_window_use_this_filter_puts_it_in_the_kernel_cells(qtbot, tmp_path, seed_npz):
    """End to end: the main window wires filterChosen to its kernel editor."""
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QLineEdit, QPushButton

    from convdemo.gui.main_window import MainWindow
    from convdemo.kernels import parse_number

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, restore=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    panel = window.findChild(CNNPanel, "cnnPanel")
    panel.set_model(seed_npz)
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[7])
    assert wait_until_idle(window, 20000)
    grid = panel.grid
    j = grid.most_active()[0]
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.tile_rect(j).center())
    qtbot.mouseClick(window.findChild(QPushButton, "useFilterButton"), Qt.MouseButton.LeftButton)
    assert wait_until_idle(window, 20000)
    weights, biases = cnn.load(seed_npz).conv_filters("conv2d")
    for r in range(3):
        for c in range(3):
            cell = window.findChild(QLineEdit, f"kernelCell_{r}_{c}")
            assert parse_number(cell.text()) == pytest.approx(weights[r, c, 0, j], abs=1e-4)
    np.testing.assert_array_equal(window.kernel_editor.kernel(), weights[:, :, 0, j])
    assert biases[j] != 0 and window.kernel_editor.bias() == pytest.approx(float(biases[j]))


def test_shipped_deep_model_shows_both_layers(make_panel, qtbot):
    assert resources.model_path("digits-deep").is_file(), "shipped digits-deep weights missing"
    panel = make_panel("digits-deep")
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[4])
    assert wait_until_idle(panel, 5000)
    assert panel.chart.labels[panel.chart.top_index()] == "4"
    assert panel.grid.count() == 32
    panel.set_layer("conv2d_1")
    assert panel.grid.count() == 64
    assert panel.grid.vmax() == pytest.approx(panel.result().activations["conv2d_1"].max())


# ------------------------------------------------------------------- fitting a narrow dock


def deep_second_layer(make_panel, qtbot, deep_npz, width, height=760):
    panel = make_panel(deep_npz)
    panel.resize(width, height)
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[4])
    assert wait_until_idle(panel, 5000)
    panel.set_layer("conv2d_1")
    QApplication.processEvents()  # the layout requests the resize posted
    assert panel.grid.count() == 64
    return panel


@pytest.mark.parametrize("width", [320, 340, 420])
def test_64_map_labels_fit_under_their_tiles(make_panel, qtbot, deep_npz, width):
    panel = deep_second_layer(make_panel, qtbot, deep_npz, width)
    grid = panel.grid
    labels_ = grid.labels()
    assert len(labels_) == 64  # every map keeps a visible label, even at 320 px
    assert grid.label_decimals() in (2, 3)
    for ch, rect, text in labels_:
        assert text == f"{grid.means()[ch]:.{grid.label_decimals()}f}"
        assert grid.label_width(text, ch) <= rect.width(), (text, rect.width())
    # labels side by side in a row never touch
    by_row = {}
    for _, rect, _ in labels_:
        by_row.setdefault(rect.top(), []).append(rect)
    for rects in by_row.values():
        rects.sort(key=lambda r: r.left())
        assert all(a.right() < b.left() for a, b in zip(rects, rects[1:], strict=False))


def test_labels_give_way_when_even_two_decimals_do_not_fit(qtbot):
    from convdemo.gui.feature_maps import FeatureMapGrid

    grid = FeatureMapGrid()
    qtbot.addWidget(grid)
    grid.set_maps(np.random.default_rng(0).uniform(0, 1, (11, 11, 64)).astype(np.float32))
    grid.resize(800, 600)
    assert grid.label_decimals() == 3 and len(grid.labels()) == 64
    grid.resize(grid.minimumWidth(), 600)  # 24 px tiles: no room for "0.53"
    assert grid.label_decimals() is None and grid.labels() == []


def visible_in(widget, panel) -> bool:
    """widget is shown, not scrolled away, and lies inside the panel."""
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    top_left = widget.mapTo(panel, QPoint(0, 0))
    return top_left.y() >= 0 and top_left.y() + widget.height() <= panel.height()


def test_clicking_a_map_keeps_the_panel_top_in_view(make_panel, qtbot, deep_npz):
    panel = deep_second_layer(make_panel, qtbot, deep_npz, 340, 650)
    grid = panel.grid
    last = grid.order()[-1]
    scroll = panel.findChild(QScrollArea, "cnnPanelScroll")
    scroll.ensureWidgetVisible(grid, 0, 0)
    QApplication.processEvents()
    for ch in (grid.order()[0], last):
        scroll.verticalScrollBar().setValue(0 if ch == grid.order()[0] else 10**6)
        QApplication.processEvents()
        qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.tile_rect(ch).center())
        assert grid.selected() == ch
        widgets = (panel.model_combo, panel.summary_button, panel.input_tabs, panel.chart,
                   panel.use_button, panel.inspect_title)
        # the panel scrolls after the click (on its next turns of the event loop)
        wait_for(lambda ws=widgets: all(visible_in(w, panel) for w in ws), 2000,
                 "the inspector to scroll into view with the panel's top")


@pytest.mark.parametrize("width", [320, 340, 420])
def test_draw_canvas_is_a_big_square_with_clear_beside_it(make_panel, qtbot, seed_npz, width):
    panel = make_panel(seed_npz)
    panel.resize(width, 800)
    canvas = use_draw_tab(panel)
    QApplication.processEvents()
    assert canvas.width() == canvas.height()
    # as wide as the panel leaves beside the prediction (within the layout's spacing)
    beside = panel.width() - canvas.width() - panel.chart.minimum_width()
    assert canvas.width() >= 190 and (beside < 40 or canvas.width() == 300)
    clear = panel.clear_button
    assert not clear.isEnabled()  # nothing to clear yet
    draw(qtbot, canvas, DIGIT_STROKES[1])
    assert clear.isVisible() and clear.isEnabled()
    canvas_rect = canvas.rect().translated(canvas.mapTo(panel, QPoint(0, 0)))
    clear_rect = clear.rect().translated(clear.mapTo(panel, QPoint(0, 0)))
    assert not canvas_rect.intersects(clear_rect)
    panel.input_tabs.setCurrentIndex(0)
    assert not clear.isVisible()  # nothing to clear on the Photo tab


def test_the_input_page_keeps_its_size_when_the_class_names_get_wider(
    make_panel, qtbot, tmp_path, seed_npz
):
    fashion_like = cnn.build("seed", seed=4)
    fashion_like.meta.update(dataset="fashion", labels=list(labels.FASHION))
    path = fashion_like.save(tmp_path / "fashion-like.npz")
    panel = make_panel(seed_npz)
    panel.resize(340, 760)
    canvas = use_draw_tab(panel)
    draw(qtbot, canvas, DIGIT_STROKES[8])
    assert wait_until_idle(panel, 5000)
    QApplication.processEvents()
    digits_side = canvas.width()
    assert canvas.height() == digits_side
    panel.set_model(path)  # "Ankle boot" and "T-shirt/top" need more room than "0".."9"
    assert wait_until_idle(panel, 5000)
    QApplication.processEvents()
    assert panel.chart.labels == labels.FASHION
    assert canvas.width() == canvas.height() == digits_side  # the drawing keeps its size
    assert panel.chart.width() >= panel.chart.minimum_width()


@pytest.mark.parametrize("width", [320, 360])
def test_the_panel_fits_a_narrow_dock_without_a_horizontal_scroll_bar(
    make_panel, qtbot, tmp_path, deep_npz, width
):
    # the fashion names are the widest class names; a deep model gives the longest inspector
    fashion_deep = cnn.load(deep_npz)
    fashion_deep.meta.update(dataset="fashion", labels=list(labels.FASHION))
    path = fashion_deep.save(tmp_path / "fashion-deep-like.npz")
    panel = deep_second_layer(make_panel, qtbot, path, width, 700)
    assert panel.chart.labels == labels.FASHION
    panel.set_image(np.random.default_rng(3).uniform(0, 1, (90, 120, 3)).astype(np.float32))
    assert wait_until_idle(panel, 5000)
    panel.inspect_map(7)
    QApplication.processEvents()
    assert panel.width() == width
    scroll = panel.findChild(QScrollArea, "cnnPanelScroll")
    assert scroll.horizontalScrollBar().maximum() == 0
    assert scroll.widget().minimumSizeHint().width() <= scroll.viewport().width()
    # whole, and inside what is on screen: the panel (head) or the scroll area's viewport
    for widget, room in ((panel.summary_button, width),
                         (panel.use_button, scroll.viewport().width())):
        assert widget.width() >= widget.sizeHint().width(), widget.text()
        assert widget.mapTo(panel, QPoint(widget.width(), 0)).x() <= room, widget.text()
    assert panel.chart.width() >= panel.chart.minimum_width()
    assert panel.chart.mapTo(panel, QPoint(panel.chart.width(), 0)).x() <= width
    for row in panel.filter_view.cells:
        for cell in row:
            assert cell.width() >= cell.minimumSizeHint().width()


def test_a_photo_gets_a_quiet_hint_that_the_model_only_knows_its_classes(
    make_panel, qtbot, tmp_path, seed_npz
):
    panel = make_panel(seed_npz)
    panel.resize(340, 760)
    photo = np.random.default_rng(5).uniform(0, 1, (120, 160, 3)).astype(np.float32)
    panel.set_image(photo)
    assert wait_until_idle(panel, 5000) and panel.chart.probabilities is not None
    hint = panel.photo_hint_text()
    assert "handwritten digits" in hint and "guess" in hint
    assert panel.photo_hint.isVisible() and not panel.photo_hint.is_elided()
    assert panel.photo_hint.height() <= 2 * panel.photo_hint.fontMetrics().height()  # one line
    # a drawing is what the model knows: no hint
    draw(qtbot, use_draw_tab(panel), DIGIT_STROKES[3])
    assert wait_until_idle(panel, 5000)
    assert panel.photo_hint_text() == "" and not panel.photo_hint.isVisible()
    # back on the photo, with a fashion model: its own classes
    fashion_like = cnn.build("seed", seed=4)
    fashion_like.meta.update(dataset="fashion", labels=list(labels.FASHION))
    panel.set_model(fashion_like.save(tmp_path / "fashion-like.npz"))
    panel.set_image(photo)
    assert wait_until_idle(panel, 5000)
    assert "clothing" in panel.photo_hint_text() and not panel.photo_hint.is_elided()
    # nothing predicted (a blank photo): no hint either
    panel.set_image(np.zeros((50, 50), np.float32))
    assert wait_until_idle(panel, 5000)
    assert panel.photo_hint_text() == ""
