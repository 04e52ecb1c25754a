"""The main window, driven through its widgets' objectNames (pytest-qt, offscreen).

Every expected output is computed independently with ``convdemo.ops`` from the same
settings, never hard-coded. QSettings go to a temporary folder, so no test sees another's
(or the user's) state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PyQt6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication, QImage
from PyQt6.QtWidgets import QComboBox, QLineEdit, QSpinBox

from conftest import image_wait, open_wait, wait_for, wait_until_idle
from convdemo import imaging, kernels, ops
from convdemo.gui import MainWindow
from convdemo.gui import main_window as mw


@pytest.fixture
def photo(tmp_path):
    """A small RGB photo with structure (a gradient plus noise), saved as PNG."""
    rng = np.random.default_rng(1)
    h, w = 36, 48
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx / w, yy / h, (xx + yy) / (w + h)], axis=-1) * 200
    rgb = (rgb + rng.integers(0, 55, size=(h, w, 3))).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture
def window(make_window, photo):
    w = make_window()
    assert open_wait(w, photo)
    assert wait_until_idle(w, 10000)
    return w


def find(window, cls, name):
    widget = window.findChild(cls, name)
    assert widget is not None, f"no {cls.__name__} named {name}"
    return widget


def expected(window, **overrides) -> np.ndarray:
    """The output the engine gives for the window's image and the given settings."""
    s = window.lab.settings.replace(**overrides) if overrides else window.lab.settings
    x = window.lab.image
    if s.channels == "gray" and x.ndim == 3:
        x = imaging.to_gray(x)
    out = ops.conv2d(x, s.kernel_array(), stride=s.stride, padding=s.padding, border=s.border,
                     channels="sum" if s.channels == "gray" else s.channels, flip=s.flip,
                     bias=s.bias)
    if s.relu:
        out = ops.relu(out)
    if s.pool != "none" and out.size:  # as pipeline.run: nothing to pool when nothing fits
        out = ops.pool2d(out, s.pool_size, stride=s.pool_stride, mode=s.pool)
    return out


def shown(window) -> np.ndarray:
    assert wait_until_idle(window, 10000)
    assert window.full_outcome is not None, window.last_error
    return window.full_outcome.result.raw


def test_title_names_the_file(window, photo):
    assert window.windowTitle() == f"ConvDemo — {photo.name}"
    assert window.lab.image.shape == (36, 48, 3)


@pytest.mark.parametrize("preset", ["edge", "blur", "sobel-x", "gaussian-5x5"])
def test_preset_output_equals_ops(window, preset):
    combo = find(window, QComboBox, "presetCombo")
    combo.setCurrentIndex(combo.findData(preset))
    combo.activated.emit(combo.currentIndex())
    find(window, QSpinBox, "strideSpin").setValue(2)
    find(window, QComboBox, "paddingCombo").setCurrentText("same")
    find(window, QComboBox, "borderCombo").setCurrentText("reflect")
    raw = shown(window)
    kernel = kernels.PRESETS[preset].array()
    want = ops.conv2d(window.lab.image, kernel, stride=2, padding="same", border="reflect",
                      channels="separate")  # the window's default: a photo filter
    np.testing.assert_allclose(raw, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(window.kernel_editor.kernel(), kernel.astype(np.float64))


def test_lecture_shortcuts_ctrl_1_to_4(window, qtbot):
    for i, name in enumerate(kernels.LECTURE_PRESETS, start=1):
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{i}"), Qt.KeyboardModifier.ControlModifier)
        np.testing.assert_allclose(window.kernel_editor.kernel(), kernels.PRESETS[name].array())
        np.testing.assert_allclose(shown(window), expected(window), rtol=1e-5, atol=1e-6)


def test_output_sizes_valid_same_stride_pool(window):
    h, w = window.lab.image.shape[:2]
    padding = find(window, QComboBox, "paddingCombo")
    padding.setCurrentText("valid")
    assert shown(window).shape[:2] == (h - 2, w - 2)
    padding.setCurrentText("same")
    assert shown(window).shape[:2] == (h, w)
    find(window, QSpinBox, "strideSpin").setValue(2)
    assert shown(window).shape[:2] == (h // 2, w // 2)
    find(window, QComboBox, "poolCombo").setCurrentText("max")
    raw = shown(window)
    assert raw.shape[:2] == (h // 4, w // 4)
    np.testing.assert_allclose(raw, expected(window), rtol=1e-5, atol=1e-6)
    assert "max pool 2" in window.readout.text()
    assert f"{w // 4}×{h // 4}" in window.readout.text()


def test_readout_tooltip_has_the_formula_with_numbers(window):
    find(window, QSpinBox, "strideSpin").setValue(2)
    find(window, QComboBox, "paddingCombo").setCurrentText("same")
    shown(window)
    tip = find(window, type(window.readout), "shapeReadout").toolTip()
    assert "⌊(48 + 0 + 1 − 3) / 2⌋ + 1 = 24" in tip


def test_every_control_reaches_the_output(window):
    find(window, QComboBox, "presetCombo")
    window.apply_preset("sharpen")
    find(window, QComboBox, "paddingCombo").setCurrentText("custom N")
    find(window, QSpinBox, "paddingSpin").setValue(2)
    find(window, QComboBox, "borderCombo").setCurrentText("wrap")
    find(window, QComboBox, "activationCombo").setCurrentText("ReLU")
    find(window, QComboBox, "poolCombo").setCurrentText("avg")
    find(window, QSpinBox, "poolSizeSpin").setValue(3)
    find(window, QSpinBox, "poolStrideSpin").setValue(2)
    window.kernel_editor.flipCheck.setChecked(True)
    find(window, QLineEdit, "biasEdit").setText("-1/4")
    s = window.lab.settings
    assert (s.padding, s.border, s.relu, s.pool, s.pool_size, s.pool_stride, s.flip, s.bias) == (
        2, "wrap", True, "avg", 3, 2, True, -0.25)
    np.testing.assert_allclose(shown(window), expected(window), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels", ["separate", "gray"])
def test_channel_modes(window, channels):
    window.apply_preset("sobel-y")
    find(window, QComboBox, "channelsCombo").setCurrentText(channels)
    raw = shown(window)
    assert raw.ndim == (3 if channels == "separate" else 2)
    np.testing.assert_allclose(raw, expected(window), rtol=1e-5, atol=1e-6)


def test_per_channel_kernels_are_one_neuron(window):
    editor = window.kernel_editor
    editor.perChannelCheck.setChecked(True)
    editor.cell(1, 1, "R").setText("1")
    editor.cell(0, 0, "G").setText("-1/2")
    editor.cell(2, 2, "B").setText("2*0.5")
    kernel = editor.kernel()
    assert kernel.shape == (3, 3, 3)
    assert kernel[0, 0, 1] == -0.5 and kernel[2, 2, 2] == 1.0
    raw = shown(window)
    want = ops.conv2d(window.lab.image, kernel.astype(np.float32))
    np.testing.assert_allclose(raw, want, rtol=1e-5, atol=1e-6)
    # per-channel kernels need channels = sum: choosing gray turns the mode off
    find(window, QComboBox, "channelsCombo").setCurrentText("gray")
    assert not editor.perChannelCheck.isChecked()
    assert window.lab.settings.kernel_array().ndim == 2


def test_invalid_cell_turns_red_and_output_stays(window):
    window.apply_preset("blur")
    before = shown(window).copy()
    cell = find(window, QLineEdit, "kernelCell_1_1")
    submitted = window.runner.counters().submitted
    cell.setText("1/0")
    assert cell.property("invalid") is True
    assert "ff" in cell.styleSheet().lower()  # the red background
    assert "zero" in cell.toolTip().lower() and "stays in force" in cell.toolTip()
    cell.setText("two")
    assert cell.property("invalid") is True
    np.testing.assert_array_equal(shown(window), before)
    assert window.runner.counters().submitted == submitted  # nothing was even recomputed
    cell.setText("2/9")
    assert not cell.property("invalid")
    assert not np.allclose(shown(window), before)
    np.testing.assert_allclose(shown(window), expected(window), rtol=1e-5, atol=1e-6)


def test_kernel_size_selector_changes_the_output(window):
    find(window, QComboBox, "sizeCombo").setCurrentIndex(2)  # 5x5
    assert window.kernel_editor.kernel().shape == (5, 5)
    assert window.findChild(QLineEdit, "kernelCell_4_4") is not None
    h, w = window.lab.image.shape[:2]
    assert shown(window).shape[:2] == (h - 4, w - 4)


def _drop(target, mime):
    """What a real drag does: enter, move, drop (Qt delivers a drop only after an enter)."""
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)
    QGuiApplication.sendEvent(target, QDragEnterEvent(QPoint(20, 20), *args))
    QGuiApplication.sendEvent(target, QDragMoveEvent(QPoint(30, 30), *args))
    QGuiApplication.sendEvent(target, QDropEvent(QPointF(30, 30), *args))


def test_dropped_file_loads(window, qtbot, tmp_path):
    dropped = tmp_path / "dropped.jpg"
    Image.fromarray(np.full((20, 30, 3), 90, np.uint8)).save(dropped)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    # dropped on the output view: the drop reaches the window from anywhere
    with qtbot.waitSignal(window.imageLoaded, timeout=5000):
        _drop(window.output_pane.graphics.viewport(), mime)
    assert window.lab.image.shape == (20, 30, 3)
    assert window.windowTitle() == "ConvDemo — dropped.jpg"
    assert shown(window).shape[:2] == (18, 28)


def test_a_file_dropped_on_a_kernel_cell_opens_it(window, qtbot, tmp_path):
    dropped = tmp_path / "onto-cell.png"
    Image.fromarray(np.full((15, 25), 200, np.uint8)).save(dropped)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    mime.setText(str(dropped))  # file managers add the path as text too
    cell = find(window, QLineEdit, "kernelCell_0_0")
    before = cell.text()
    with qtbot.waitSignal(window.imageLoaded, timeout=5000):
        _drop(cell, mime)
    assert window.lab.image.shape == (15, 25)
    assert cell.text() == before and not cell.property("invalid")


def test_broken_drop_keeps_the_image(window, qtbot, tmp_path):
    before = window.lab.image
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bad))])
    _drop(window, mime)
    qtbot.waitUntil(lambda: "cannot open" in window.statusBar().currentMessage().lower(),
                    timeout=5000)
    assert "cannot open" in window.statusBar().currentMessage().lower()
    assert window.lab.image is before
    assert window.windowTitle() == "ConvDemo — photo.png"


def test_pasted_image_loads(window):
    pixels = np.zeros((10, 14, 3), np.uint8)
    pixels[:, 7:] = (255, 0, 0)
    qimage = QImage(pixels.tobytes(), 14, 10, 42, QImage.Format.Format_RGB888).copy()
    QGuiApplication.clipboard().setImage(qimage)
    assert window.paste_image()
    wait_until_idle(window)
    assert window.lab.image.shape == (10, 14, 3)
    np.testing.assert_allclose(window.lab.image[0, 10], (1, 0, 0))
    np.testing.assert_allclose(window.lab.image[0, 0], (0, 0, 0))
    assert window.windowTitle() == "ConvDemo — pasted image"
    assert shown(window).shape[:2] == (8, 12)


def test_paste_without_image_says_so(window):
    QGuiApplication.clipboard().setText("hello")
    before = window.lab.image
    assert not window.paste_image()
    assert "no image" in window.statusBar().currentMessage()
    assert window.lab.image is before


def test_too_small_says_so_in_words(make_window, tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((2, 2), 128, np.uint8)).save(tiny)
    window = make_window()
    open_wait(window, tiny)
    assert wait_until_idle(window, 10000)
    assert window.output_pane.showing_message()
    text = window.output_pane.message.text()
    assert "does not fit" in text and "3×3" in text
    find(window, QComboBox, "paddingCombo").setCurrentText("same")
    assert wait_until_idle(window, 10000)
    assert not window.output_pane.showing_message()


def test_worker_errors_are_shown(window, monkeypatch):
    def sideways(image, settings):
        raise ValueError("channels must be one of sum, separate, gray, not 'sideways'")

    monkeypatch.setattr(mw.pipeline, "run", sideways)
    window.lab.set_settings("stride", stride=2)
    assert wait_until_idle(window, 10000)
    assert window.output_pane.showing_message()
    assert "sideways" in window.output_pane.message.text()
    assert window.runner.counters().errors == 1


def test_big_photo_gives_a_preview_then_full(make_window, tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr(mw, "PREVIEW_PIXELS", 2000)
    window = make_window()
    monkeypatch.setattr(window, "_preview_target", lambda: 2000)
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)).save(big)
    stages = []
    window.outputShown.connect(lambda gen, stage: stages.append(stage))
    open_wait(window, big)
    assert wait_until_idle(window, 10000)
    assert stages[:2] == ["preview", "full"]
    np.testing.assert_allclose(shown(window), expected(window), rtol=1e-5, atol=1e-6)
    # the preview is only worth it while full results are slow on this machine
    monkeypatch.setattr(mw, "PREVIEW_BUDGET_S", 1e9)  # as if full results were instant
    stages.clear()
    window.kernel_editor.cell(0, 0).setText("0.5")
    assert wait_until_idle(window, 10000)
    assert stages == ["full"]
    monkeypatch.setattr(mw, "PREVIEW_BUDGET_S", 0.0)  # as if they took forever
    stages.clear()
    window.kernel_editor.cell(0, 0).setText("0.25")
    assert wait_until_idle(window, 10000)
    assert stages[0] == "preview"


def test_huge_photo_is_downsampled_and_says_so(make_window, photo, monkeypatch):
    monkeypatch.setattr(mw.limits, "MAX_PIXELS", 500)
    window = make_window()
    open_wait(window, photo)
    assert window.lab.image.shape[0] * window.lab.image.shape[1] <= 500
    assert "downsampled" in window.statusBar().currentMessage()


def test_save_png_npy_and_copy(window, tmp_path):
    window.apply_preset("edge")
    raw = shown(window)
    assert window.save_output(tmp_path / "out.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), raw)
    assert window.save_output(tmp_path / "out.png")
    png = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    np.testing.assert_array_equal(png, imaging.to_display(raw, window.lab.settings.display)
                                  .rgb)
    assert window.copy_output()
    clip = QGuiApplication.clipboard().image()
    assert (clip.width(), clip.height()) == (raw.shape[1], raw.shape[0])


def test_settings_are_restored(make_window, photo, monkeypatch):
    first = make_window()
    open_wait(first, photo)
    first.apply_preset("sobel-x")
    find(first, QSpinBox, "strideSpin").setValue(3)
    find(first, QComboBox, "borderCombo").setCurrentText("replicate")
    first.kernel_editor.biasEdit.setText("0.25")
    first.set_input_channel("B")
    first.resize(1000, 700)
    wait_until_idle(first, 10000)
    saved = bytes(first.saveGeometry())
    first.close()
    restored = []
    real_restore = MainWindow.restoreGeometry
    monkeypatch.setattr(MainWindow, "restoreGeometry",
                        lambda self, g: restored.append(bytes(g)) or real_restore(self, g))
    second = MainWindow(first.qsettings)
    second.close()
    # (the offscreen screen is 800x600, so Qt clamps the size itself; check what it was given)
    assert restored == [saved]
    assert second.channel_acts["B"].isChecked()
    assert second.last_image() == (photo.resolve(), False)
    np.testing.assert_allclose(second.kernel_editor.kernel(), kernels.PRESETS["sobel-x"].array())
    assert second.kernel_editor.bias() == 0.25
    assert find(second, QSpinBox, "strideSpin").value() == 3
    assert find(second, QComboBox, "borderCombo").currentText() == "replicate"
    assert str(photo.resolve()) in second.recent_files()


def test_use_filter_loads_a_learned_filter_on_grey(window):
    kernel = np.arange(9, dtype=np.float32).reshape(3, 3) / 10 - 0.4
    window.use_filter(kernel, -0.125)
    for r in range(3):
        for c in range(3):
            assert window.kernel_editor.cell(r, c).text() != ""
    np.testing.assert_allclose(window.kernel_editor.kernel(), kernel, rtol=1e-6)
    assert window.kernel_editor.bias() == -0.125
    assert find(window, QComboBox, "channelsCombo").currentText() == "gray"
    np.testing.assert_allclose(shown(window), expected(window), rtol=1e-5, atol=1e-6)


def test_view_menu_input_channel_and_fit(window):
    window.set_input_channel("G")
    assert "G channel" in window.input_pane.title.text()
    shown_pixels = window.input_pane.image.image
    assert shown_pixels.ndim == 2
    np.testing.assert_array_equal(
        shown_pixels, (np.clip(window.lab.image[:, :, 1], 0, 1) * 255 + 0.5).astype(np.uint8))
    window.fit_view()
    (x0, x1), _ = window.input_pane.view.viewRange()
    assert x0 <= 0 and x1 >= window.lab.image.shape[1]
    # the output view follows (linked zoom and pan)
    np.testing.assert_allclose(window.output_pane.view.viewRange(),
                               window.input_pane.view.viewRange(), atol=0.05)
    window.input_pane.view.setRange(xRange=(10, 20), yRange=(5, 15), padding=0)
    np.testing.assert_allclose(window.output_pane.view.viewRange(),
                               window.input_pane.view.viewRange(), atol=0.05)


def test_model_choice_is_restored(make_window):
    first = make_window()
    if first.cnn_panel is None:
        pytest.fail("the CNN panel did not start")
    first.cnn_panel.set_model("fashion")
    first.close()
    second = make_window()
    assert second.cnn_panel.current_model_name() == "fashion"


@pytest.mark.parametrize("scale", ["1", "2"])
def test_screenshot_flag_renders_1280x800(tmp_path, scale):
    """`python -m convdemo --preset edge --screenshot` in a fresh process (offscreen), also
    on a high-DPI screen (QT_SCALE_FACTOR=2): the picture is still 1280x800."""
    import os
    import subprocess
    import sys

    out = tmp_path / "shot.png"
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "QT_SCALE_FACTOR": scale,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-m", "convdemo", "--preset", "edge", "--screenshot",
                          str(out)], capture_output=True, text=True, timeout=120, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "propagateSizeHints" not in run.stderr  # the offscreen plugin's noise is silenced
    pixels = np.asarray(Image.open(out).convert("RGB"))
    assert pixels.shape == (800, 1280, 3)
    assert np.unique(pixels.reshape(-1, 3), axis=0).shape[0] > 1000
    assert not (tmp_path / "convdemo").exists()  # a screenshot leaves the user's settings alone


def test_loading_does_not_freeze_the_window(window, photo, monkeypatch):
    """While a (slow) photo decodes on a helper thread, the event loop keeps running."""
    import threading

    from PyQt6.QtCore import QTimer

    real = imaging.load_image
    five_ticks = threading.Event()

    def slow(*args, **kwargs):
        # the decode finishes only once the GUI's event loop has run a timer five times;
        # if open_image blocked the loop, this waits out its 20 s and the test fails
        five_ticks.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(imaging, "load_image", slow)
    ticks = []

    def tick():
        ticks.append(1)
        if len(ticks) >= 5:
            five_ticks.set()

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()
    assert open_wait(window, photo)
    timer.stop()
    assert five_ticks.is_set(), f"the event loop ran only {len(ticks)} times while decoding"


def test_preview_is_the_block_mean_and_u8_rounds():
    from convdemo.gui.main_window import preview_factor
    from convdemo.imaging import downsample, to_u8

    x = np.random.default_rng(2).random((23, 31, 3), dtype=np.float32)
    small = downsample(x, factor=4)
    assert small.shape == (5, 7, 3)
    np.testing.assert_allclose(small[1, 2], x[4:8, 8:12].mean(axis=(0, 1)), rtol=1e-5)
    assert preview_factor((1080, 1920), 300_000) == 3
    assert preview_factor((300, 400), 300_000) == 1
    y = np.array([-0.5, 0, 0.5 / 255, 0.2, 1, 1.5], np.float32)
    np.testing.assert_array_equal(to_u8(y), (np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_menus_have_every_entry(window):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert list(menus) == ["File", "Edit", "View", "Kernel", "Help"]

    def texts(menu):
        return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]

    assert texts(menus["File"])[:6] == ["Open image…", "Open sample", "Recent files",
                                        "Paste image", "Open lab…", "Save lab…"]
    assert {"Open the lecture", "Open lesson…", "Add this as a step…", "Save lesson…",
            "Save output…", "Export scan as GIF…"} <= set(texts(menus["File"]))
    assert texts(menus["File"])[-1] == "Quit"
    assert [t.split()[0] for t in texts(menus["Edit"])] == ["Undo", "Redo", "Reset"]
    # the lecture's four first, in the order of their shortcuts, then the others
    lecture = list(kernels.LECTURE_PRESETS)
    assert texts(menus["Kernel"]) == lecture + [n for n in kernels.PRESETS if n not in lecture]
    kernel_acts = [a for a in menus["Kernel"].actions() if not a.isSeparator()]
    assert [a.shortcut().toString() for a in kernel_acts[:4]] == [
        "Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4"]
    view = texts(menus["View"])
    assert view[:4] == ["Fit", "1:1", "Zoom in", "Zoom out"]
    assert {"Full screen", "Presenter layout", "Larger text and cells", "Input channel"} <= \
        set(view)
    channel_menu = next(a.menu() for a in menus["View"].actions() if a.menu())
    assert texts(channel_menu) == ["All channels", "R channel", "G channel", "B channel", "Grey"]
    assert texts(menus["Help"]) == ["Model summary", "About"]


def test_open_sample_and_recent_files(window, photo):
    from convdemo import resources

    samples = window.sample_menu.actions()
    assert [a.text() for a in samples] == [p.name for p in resources.sample_paths()]
    samples[1].trigger()
    wait_until_idle(window)
    assert window.windowTitle() == f"ConvDemo — {resources.sample_paths()[1].name}"
    window.fill_recent_menu()
    recent = [a.text() for a in window.recent_menu.actions()]
    assert recent[:1] == [photo.name]  # files the user opened; samples are in their menu
    window.recent_menu.actions()[0].trigger()
    wait_until_idle(window)
    assert window.windowTitle() == f"ConvDemo — {photo.name}"


def test_ctrl_v_pastes_and_f_fits(window, qtbot):
    qimage = QImage(16, 12, QImage.Format.Format_RGB888)
    qimage.fill(Qt.GlobalColor.blue)
    QGuiApplication.clipboard().setImage(qimage)
    window.activateWindow()
    window.output_pane.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    wait_until_idle(window)
    assert window.lab.image.shape == (12, 16, 3)
    np.testing.assert_allclose(window.lab.image[5, 5], (0, 0, 1))
    window.input_pane.view.setRange(xRange=(3, 4), yRange=(3, 4), padding=0)
    qtbot.keyClick(window, Qt.Key.Key_F)
    (x0, x1), (y0, y1) = window.input_pane.view.viewRange()
    assert x0 <= 0 and x1 >= 16 and y0 <= 0 and y1 >= 12


def test_help_model_summary_opens_the_panels_dialog(window, qtbot):
    from PyQt6.QtWidgets import QDialog

    def shown_dialogs():
        return [d for d in window.cnn_panel.findChildren(QDialog) if d.isVisible()]

    assert shown_dialogs() == []
    window.summary_act.trigger()
    qtbot.waitUntil(lambda: len(shown_dialogs()) == 1, timeout=5000)
    shown_dialogs()[0].close()


def test_a_bug_in_a_slot_is_reported_not_fatal(window, monkeypatch, capsys):
    import sys

    from convdemo.gui.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(window)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert "Internal error: RuntimeError: boom" in window.statusBar().currentMessage()
    assert "Traceback" in capsys.readouterr().err


def test_no_apply_button_and_display_follows_presets_until_chosen(window):
    from PyQt6.QtWidgets import QPushButton

    assert not [b for b in window.findChildren(QPushButton) if "apply" in b.text().lower()]
    display = find(window, QComboBox, "displayCombo")
    window.apply_preset("edge")  # zero-sum: half the values are negative
    assert display.currentText() == "diverging"
    assert shown(window).min() < 0
    window.apply_preset("blur")
    assert display.currentText() == "clip"
    display.setCurrentText("normalize")
    display.activated.emit(display.currentIndex())  # as a user's pick
    window.apply_preset("edge")
    assert display.currentText() == "normalize"
    shown(window)
    assert window.full_outcome.settings.display == "normalize"


def test_one_to_one_and_input_pixel_readout(window):
    window.actual_size()
    vb = window.input_pane.view
    (x0, x1), _ = vb.viewRange()
    assert x1 - x0 == pytest.approx(vb.width() * window.devicePixelRatioF(), rel=0.02)
    scene = vb.mapViewToScene(QPointF(5.5, 3.5))
    window.input_pane.graphics.scene().sigMouseMoved.emit(scene)
    r, g, b = window.lab.image[3, 5]
    assert window.pixel_label.text() == f"input (3, 5): R {r:.3f} G {g:.3f} B {b:.3f}"


def test_random_control_combinations_agree_with_the_engine(make_window):
    """40 seeded random settings through the widgets: output, inspector and scan all agree
    with ops, or the view says in words why there is nothing to show."""
    import random

    rng = random.Random(5)
    window = make_window(restore=False)
    c = window.controls
    editor = window.kernel_editor
    for it in range(40):
        if it % 10 == 0:
            shape = rng.choice([(5, 7), (9, 11, 3), (3, 3, 3), (30, 24, 3), (1, 12)])
            image = np.random.default_rng(it).random(shape, dtype=np.float32)
            image_wait(window, image, f"random {it}")
        c.strideSpin.setValue(rng.randint(1, 8))
        c.paddingCombo.setCurrentIndex(rng.randint(0, 3))
        c.paddingSpin.setValue(rng.randint(0, 5))
        c.borderCombo.setCurrentIndex(rng.randint(0, 3))
        c.channelsCombo.setCurrentIndex(rng.randint(0, 2))
        c.activationCombo.setCurrentIndex(rng.randint(0, 1))
        c.poolCombo.setCurrentIndex(rng.randint(0, 2))
        c.poolSizeSpin.setValue(rng.randint(1, 4))
        c.poolStrideSpin.setValue(rng.randint(0, 3))
        c.displayCombo.setCurrentIndex(rng.randint(0, 3))
        if rng.random() < 0.3:
            editor.sizeCombo.setCurrentIndex(rng.randint(0, 3))
        if rng.random() < 0.3:
            window.apply_preset(rng.choice(list(kernels.PRESETS)))
        if rng.random() < 0.3 and editor.perChannelCheck.isEnabled():
            editor.perChannelCheck.setChecked(not editor.perChannelCheck.isChecked())
        editor.flipCheck.setChecked(rng.random() < 0.5)
        assert wait_until_idle(window, 10000)
        want = expected(window)
        if want.size == 0:
            assert window.output_pane.showing_message(), window.lab.settings
            continue
        got = window.full_outcome.result.raw
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=str(window.lab.settings))
        s = window.lab.settings
        if s.pool == "none" and got.ndim == 2:
            r, col = rng.randrange(got.shape[0]), rng.randrange(got.shape[1])
            assert window.inspect_output(r, col)
            assert window.inspector.inspection.outputs[0] == pytest.approx(float(got[r, col]),
                                                                            abs=1e-4)
        if it % 4 == 0:
            window.tabs.setCurrentWidget(window.scan_panel)
            model = window.scan_panel.model
            model.run_to_end()
            ms = model.settings
            ref = ops.conv2d(model.copy, ms.kernel_array(), stride=ms.stride,
                             padding=ms.padding, border=ms.border, flip=ms.flip, bias=ms.bias,
                             channels="separate" if ms.channels == "separate" else "sum")
            if ms.relu:  # the scan's map is after ReLU (what its pooling stage reads)
                ref = ops.relu(ref)
            np.testing.assert_allclose(model.output, ref, atol=1e-4)
            window.tabs.setCurrentIndex(0)


# ---------------------------------------------------------------- new-user trial fixes
def test_default_channels_separate_so_identity_shows_the_photo(make_window, photo):
    """With channels=sum a colour photo's R+G+B is clipped to near white; separate is a
    photo filter: identity gives the photo back, blur blurs it, brighten brightens it."""
    window = make_window(restore=False)
    assert open_wait(window, photo)
    combo = find(window, QComboBox, "channelsCombo")
    assert combo.currentText() == "separate"
    assert "separate" in combo.toolTip() and "photo filter" in combo.toolTip()
    window.apply_preset("identity")
    raw = shown(window)
    np.testing.assert_allclose(raw, window.lab.image[1:-1, 1:-1], atol=1e-6)  # the photo itself
    identity = kernels.PRESETS["identity"].array()
    np.testing.assert_allclose(raw, ops.conv2d(window.lab.image, identity, channels="separate"),
                               atol=1e-6)
    assert "mean" not in window.output_pane.title.text()
    window.apply_preset("brighten")
    assert shown(window).mean() > raw.mean()
    # sum is one click away; per-channel kernels switch to it as they need
    window.kernel_editor.perChannelCheck.setChecked(True)
    assert combo.currentText() == "sum"
    assert window.lab.settings.kernel_array().ndim == 3
    np.testing.assert_allclose(shown(window), expected(window), rtol=1e-5, atol=1e-6)
    combo.setCurrentText("separate")
    assert not window.kernel_editor.perChannelCheck.isChecked()
    # separate + diverging shows the mean of the channels: the title says so
    window.apply_preset("edge")
    find(window, QComboBox, "displayCombo").setCurrentText("diverging")
    shown(window)
    assert "mean of R, G, B" in window.output_pane.title.text()


def test_a_saved_sum_is_restored(make_window, photo):
    window = make_window()
    find(window, QComboBox, "channelsCombo").setCurrentText("sum")
    window.close()
    again = make_window()
    assert find(again, QComboBox, "channelsCombo").currentText() == "sum"


@pytest.mark.parametrize("keys", ["1/0", "2**999"])
def test_invalid_text_typed_key_by_key_keeps_the_value_from_before_the_edit(window, qtbot, keys):
    """Typed live, "1" (or "2") parses on the way; the invalid end result must bring back the
    value the cell held before the edit (0.1), not that partial number."""
    window.apply_preset("blur")
    blur = kernels.PRESETS["blur"].array()
    cell = find(window, QLineEdit, "kernelCell_1_1")
    assert float(np.float32(window.kernel_editor.kernel()[1, 1])) == np.float32(0.1)
    cell.setFocus()
    cell.selectAll()
    qtbot.keyClicks(cell, keys)
    assert cell.text() == keys and cell.property("invalid") is True
    np.testing.assert_array_equal(window.kernel_editor.kernel(), blur.astype(np.float64))
    assert "0.1," in cell.toolTip() and "stays in force" in cell.toolTip()
    want = ops.conv2d(window.lab.image, blur, channels=window.lab.settings.channels)
    np.testing.assert_allclose(shown(window), want, rtol=1e-5, atol=1e-6)
    # a valid edit, committed with Enter, is the value the next bad edit falls back to
    cell.selectAll()
    qtbot.keyClicks(cell, "1/2")
    qtbot.keyClick(cell, Qt.Key.Key_Return)
    cell.selectAll()
    qtbot.keyClicks(cell, keys)
    assert window.kernel_editor.kernel()[1, 1] == 0.5
    np.testing.assert_allclose(shown(window), expected(window), rtol=1e-5, atol=1e-6)


def test_after_a_restart_the_preset_combo_names_the_restored_kernel(make_window, photo):
    window = make_window()
    window.apply_preset("blur")
    window.use_filter(np.array([[0.2, -0.1, 0.05], [0.3, -0.7, 0.1], [0.0, 0.25, -0.15]]), -0.01)
    window.close()
    again = make_window()
    combo = find(again, QComboBox, "presetCombo")
    assert combo.currentText() == "custom"
    again.apply_preset("edge")
    again.close()
    third = make_window()
    assert find(third, QComboBox, "presetCombo").currentData() == "edge"


def test_numbers_are_not_cut_off_in_the_cells_or_the_bias(window, qtbot):
    from convdemo.gui.kernel_editor import text_width

    editor = window.kernel_editor
    window.use_filter(np.float32([[0.2, -0.1, 0.05], [0.3, -0.7, 0.1], [0.0, 0.25, -0.15]]),
                      float(np.float32(-0.003491)))
    assert editor.biasEdit.text() == "-0.003491"
    assert editor.biasEdit.width() >= text_width(editor.biasEdit)
    rng = np.random.default_rng(2)
    kernel = rng.normal(0, 0.05, (7, 7)).astype(np.float32)
    kernel[0, 0] = -0.003491
    editor.set_kernel(kernel)
    editor.cell(3, 3).setText("-0.0625")
    QGuiApplication.processEvents()  # the window makes room on the next turn of the loop
    QGuiApplication.processEvents()
    texts = [editor.cell(r, c).text() for r in range(7) for c in range(7)]
    assert "-0.003491" in texts and "-0.0625" in texts
    for r in range(7):
        for c in range(7):
            cell = editor.cell(r, c)
            assert cell.width() >= text_width(cell), (cell.text(), cell.width())
    assert editor.width() >= editor.sizeHint().width()  # the editor is not squeezed either
    bar = window.editor_scroll.horizontalScrollBar()
    wait_for(lambda: bar.maximum() == 0, 2000, "the editor in sight at 1280x800 (no scrolling)")


def test_view_menu_toggles_the_cnn_dock(window):
    act = window.cnn_dock.toggleViewAction()
    view_menu = next(a.menu() for a in window.menuBar().actions() if "View" in a.text())
    assert act in view_menu.actions()
    assert act.isEnabled() and act.isChecked()
    act.trigger()
    assert not window.cnn_dock.isVisible() and not act.isChecked()
    act.trigger()
    assert window.cnn_dock.isVisible()


def test_make_app_sets_no_display_name_and_silences_only_propagate_size_hints(tmp_path):
    """A display name would be appended by Qt to the title: "ConvDemo — x.png — ConvDemo".
    The message filter drops the offscreen plugin's propagateSizeHints line, nothing else."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    code = (
        "from convdemo.gui.app import make_app\n"
        "from PyQt6.QtCore import qWarning\n"
        "app = make_app()\n"
        "print(repr(app.applicationDisplayName()), repr(app.applicationName()))\n"
        "qWarning(b'This plugin does not support propagateSizeHints()')\n"
        "qWarning(b'another warning stays')\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "'convdemo' 'convdemo'"  # the default: no display name set
    assert "propagateSizeHints" not in run.stderr
    assert "another warning stays" in run.stderr


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b"", b"jpeg"])
def test_a_bad_file_on_the_command_line_is_said_in_the_status_bar(make_window, tmp_path,
                                                                  capsys, content):
    from convdemo import resources
    from convdemo.gui.app import open_first_image

    if content == b"jpeg":  # a truncated JPEG
        good = tmp_path / "good.jpg"
        Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(good)
        content = good.read_bytes()[:200]
    bad = tmp_path / ("x.png" if content else "empty.png")
    bad.write_bytes(content)
    window = make_window(restore=False)
    open_first_image(window, str(bad))
    sample = resources.default_sample()
    wait_for(lambda: window.lab.image is not None, 20000, "the sample photo")
    wait_until_idle(window)
    assert window.lab.state.source.name == sample.name  # the sample photo is shown
    message = window.statusBar().currentMessage()
    assert message.startswith("Cannot open") and bad.name in message, message
    assert f"Showing the sample photo {sample.name} instead." in message
    assert "Opened" not in message
    assert window.last_error and window.last_error in capsys.readouterr().err
    assert window.windowTitle() == f"ConvDemo — {sample.name}"


def test_the_inspector_says_when_clip_display_clips(window):
    from convdemo.inspection import shown_as

    assert shown_as(1.2588, "clip") == "value 1.2588 (shown clipped to 1)"
    assert shown_as(-0.5, "clip") == "value -0.5000 (shown clipped to 0)"
    assert shown_as(1.2588, "diverging") == "value 1.2588"
    window.apply_preset("identity")
    find(window, QComboBox, "channelsCombo").setCurrentText("sum")  # R+G+B: above 1
    find(window, QComboBox, "displayCombo").setCurrentText("clip")
    raw = shown(window)
    r, c = np.unravel_index(np.argmax(raw), raw.shape)
    assert raw[r, c] > 1
    assert window.inspect_output(int(r), int(c))
    text = window.inspector.label.text()
    assert "shown clipped to 1" in text and "in the view" not in text


def test_restored_geometry_is_fitted_to_the_screen(make_window, photo, qtbot):
    from PyQt6.QtCore import QRect

    first = make_window()
    first.move(300, 200)
    first.close()  # saves a 1280x800 geometry
    window = MainWindow(QSettings(str(first.qsettings.fileName()), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    screen = window.screen().availableGeometry()  # offscreen: 800x800
    assert window.frameGeometry().width() <= max(screen.width(),
                                                  window.minimumSizeHint().width())
    assert window.frameGeometry().height() <= screen.height()
    small = QRect(0, 0, 1024, 768 - 40)  # a 1024x768 screen with a task bar
    window.resize(1280, 800)
    window.move(200, 100)
    window.fit_to_screen(small)
    assert small.contains(window.frameGeometry()), window.frameGeometry()
    window.close()


@pytest.mark.parametrize("size", [(1366, 768 - 40), (1024, 768 - 40)])
def test_small_screens_keep_everything_essential_usable(window, size):
    """At 1366x768 (and 1024x768) the views, the kernel cells, every control and the
    inspector keep their minimum sizes: panels scroll, nothing essential is cut off."""
    from PyQt6.QtCore import QRect

    window.resize(1280, 800)
    window.fit_to_screen(QRect(0, 0, *size))
    QGuiApplication.processEvents()
    assert window.width() <= size[0] and window.height() <= size[1]
    c = window.controls
    assert c.height() >= c.minimumSizeHint().height() and c.width() >= c.minimumSizeHint().width()
    for w in (c.strideSpin, c.paddingCombo, c.channelsCombo, c.poolCombo, c.displayCombo):
        assert w.isVisible() and w.height() >= w.minimumSizeHint().height()
    cell = window.kernel_editor.cell(2, 2)
    assert cell.visibleRegion().boundingRect().size() == cell.size()  # all of it in sight
    assert window.output_pane.graphics.height() > 150 and window.output_pane.graphics.width() > 150
    assert window.inspector.isVisible() and \
        window.inspector.width() >= window.inspector.minimumWidth() >= 160
