"""The pipeline: the one path from settings to result that the GUI and the CLI share."""

from __future__ import annotations

import numpy as np
import pytest

from convdemo import imaging, ops, pipeline
from convdemo.kernels import PRESETS
from convdemo.pipeline import Settings
from convdemo.readout import readout

RNG = np.random.default_rng(3)
IMG = RNG.random((12, 17, 3), dtype=np.float32)


def test_default_is_identity_valid():
    res = pipeline.run(IMG, Settings(channels="separate"))
    np.testing.assert_array_equal(res.raw, IMG[1:-1, 1:-1])
    assert res.display.rgb.shape == (10, 15, 3)


def test_run_matches_ops_step_by_step():
    k = PRESETS["sobel-x"].array()
    s = Settings().replace(
        kernel=k,
        stride=2,
        padding="same",
        border="reflect",
        bias=0.1,
        relu=True,
        pool="max",
        pool_size=2,
        display="diverging",
    )
    res = pipeline.run(IMG, s)
    expected = ops.conv2d(IMG, k, stride=2, padding="same", border="reflect", bias=0.1,
                          channels="separate")
    expected = ops.pool2d(ops.relu(expected), 2)
    np.testing.assert_array_equal(res.raw, expected)
    assert res.display.mode == "diverging"
    assert res.raw.shape == pipeline.output_shapes(IMG.shape, s)[1]


def test_gray_channels_use_luma():
    s = Settings(channels="gray")
    res = pipeline.run(IMG, s)
    np.testing.assert_array_equal(res.conv_input, imaging.to_gray(IMG))
    assert res.raw.shape == (10, 15)


def test_nothing_fits_is_empty_not_an_error():
    s = Settings().replace(kernel=np.ones((5, 5)), channels="sum")
    res = pipeline.run(IMG[:3, :3], s)
    assert res.empty and res.display is None and res.raw.shape == (0, 0)


def test_readout():
    s = Settings(stride=2, padding="same", pool="max", pool_size=2, channels="sum")
    assert readout((1080, 1920, 3), s) == (
        "1920×1080×3 → conv 3×3, stride 2, same → 960×540 → max pool 2 → 480×270"
    )


def test_one_default_for_the_channel_mode():
    """The window, `apply` and the lab all start from Settings(): channels separate."""
    assert Settings().channels == "separate"


def test_settings_are_frozen_and_hashable():
    s = Settings().replace(kernel=np.eye(3, dtype=np.float32))
    assert hash(s) == hash(Settings().replace(kernel=np.eye(3)))
    with pytest.raises(AttributeError):
        s.stride = 3  # type: ignore[misc]


@pytest.mark.parametrize("field", ["channels", "pool", "display"])
def test_bad_settings(field):
    with pytest.raises(ValueError, match=field):
        pipeline.run(IMG, Settings().replace(**{field: "bogus"}))


def test_readout_names_a_pool_stride_that_differs_from_the_size():
    s = pipeline.Settings(pool="max", pool_size=2, pool_stride=3)
    assert "max pool 2, stride 3 →" in readout((30, 40), s)
    assert "max pool 2 →" in readout((30, 40), s.replace(pool_stride=None))


def test_dilation_goes_through_run_and_output_shapes():
    k = RNG.normal(size=(3, 3)).astype(np.float32)
    s = Settings(dilation=2, stride=2, padding="same", border="wrap").replace(kernel=k)
    res = pipeline.run(IMG, s)
    want = ops.conv2d(IMG, k, stride=2, padding="same", border="wrap", channels="separate",
                      dilation=2)
    np.testing.assert_array_equal(res.raw, want)
    assert pipeline.output_shapes(IMG.shape, s) == ((6, 9, 3), None)
    valid = s.replace(padding="valid", stride=1)
    assert pipeline.output_shapes(IMG.shape, valid)[0] == (12 - 4, 17 - 4, 3)  # ke = 5
    assert pipeline.run(IMG, valid).raw.shape == (8, 13, 3)


def test_transposed_is_refused_clearly_for_now():
    s = Settings(transposed=True)
    for call in (lambda: pipeline.run(IMG, s), lambda: pipeline.output_shapes(IMG.shape, s)):
        with pytest.raises(ValueError, match="transposed convolution is not available yet"):
            call()


def test_readout_and_formula_with_dilation():
    from convdemo.readout import formula_tooltip, too_small_message

    s = Settings(padding="same", dilation=2).replace(kernel=np.ones((3, 3)))
    assert readout((300, 400, 3), s) == (
        "400×300×3 → conv 3×3, dilation 2, stride 1, same → 400×300×3")
    tip = formula_tooltip((300, 400, 3), s)
    assert "k_eff = (k − 1)·dilation + 1: width (3 − 1)·2 + 1 = 5" in tip
    assert "width: ⌊(400 + 2 + 2 − 5) / 1⌋ + 1 = 400" in tip
    valid = s.replace(padding="valid", kernel=np.ones((3, 5)), dilation=3, stride=2)
    tip = formula_tooltip((300, 400), valid)
    assert "width: ⌊(400 + 0 + 0 − 13) / 2⌋ + 1 = 194" in tip
    assert "height: ⌊(300 + 0 + 0 − 7) / 2⌋ + 1 = 147" in tip
    assert readout((300, 400), valid).endswith("→ 194×147")
    words = too_small_message((6, 6), valid)
    assert "with dilation 3 (13×7 cells wide) does not fit in the 6×6 image" in words
    # without dilation the texts are as before
    assert "dilation" not in readout((300, 400), s.replace(dilation=1))
    assert "k_eff" not in formula_tooltip((300, 400), s.replace(dilation=1))
