"""Kernel presets (the data module) and parsing of typed kernels."""

from __future__ import annotations

import numpy as np
import pytest

from convdemo.kernels import LECTURE_PRESETS, PRESETS, Preset, parse_kernel, parse_number

EXPECTED_NAMES = [
    "identity",
    "blur",
    "brighten",
    "edge",
    "exercise",
    "box-blur",
    "gaussian-3x3",
    "gaussian-5x5",
    "sharpen",
    "sobel-x",
    "sobel-y",
    "outline",
    "emboss",
]


def test_names_and_order():
    assert list(PRESETS) == EXPECTED_NAMES
    assert LECTURE_PRESETS == ("blur", "identity", "brighten", "edge")
    for name, preset in PRESETS.items():
        assert isinstance(preset, Preset) and preset.name == name
        assert preset.description and "\n" not in preset.description
        arr = preset.array()
        assert arr.dtype == np.float32 and arr.shape == preset.shape
        assert np.all(np.isfinite(arr))


def test_lecture_four_exactly():
    centre = np.zeros((3, 3))
    centre[1, 1] = 1
    np.testing.assert_array_equal(PRESETS["identity"].array(), centre)
    np.testing.assert_array_equal(PRESETS["blur"].array(), np.full((3, 3), 0.1, np.float32))
    assert "0.9" in PRESETS["blur"].description and "darken" in PRESETS["blur"].description
    np.testing.assert_array_equal(PRESETS["brighten"].array(), 2 * centre)
    edge = centre.copy()
    edge[0, 1] = -1  # the cell directly above the centre
    np.testing.assert_array_equal(PRESETS["edge"].array(), edge)


def test_other_presets_values():
    ex = np.full((3, 3), -0.1, np.float32)
    ex[1, 1] = 1
    np.testing.assert_array_equal(PRESETS["exercise"].array(), ex)
    np.testing.assert_allclose(PRESETS["box-blur"].array(), np.full((3, 3), 1 / 9), rtol=1e-7)
    g3 = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    np.testing.assert_array_equal(PRESETS["gaussian-3x3"].array(), g3.astype(np.float32))
    g5 = PRESETS["gaussian-5x5"].array()
    assert g5.shape == (5, 5) and g5.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(g5[2], np.array([6, 24, 36, 24, 6]) / 256)
    np.testing.assert_array_equal(PRESETS["sharpen"].array(), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(PRESETS["sobel-x"].array(), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(PRESETS["sobel-y"].array(), PRESETS["sobel-x"].array().T)
    outline = -np.ones((3, 3))
    outline[1, 1] = 8
    np.testing.assert_array_equal(PRESETS["outline"].array(), outline)
    assert PRESETS["emboss"].array().sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2", 2.0),
        ("-0.1", -0.1),
        ("1/9", 1 / 9),
        ("2*0.5", 1.0),
        (" -(1/16) ", -1 / 16),
        ("1e-3", 0.001),
        ("+3", 3.0),
        ("(1+2)*3", 9.0),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("abc", "not a number"),
        ("1/0", "divides by zero"),
        ("__import__('os').system('true')", "not a number"),
        ("2**8", "not a number"),
        ("1e999", "finite"),
        ("True", "not a number"),
        ("1j", "not a number"),
        ("1 +", "not a number"),
        ("9" * 200, "too long"),
    ],
)
def test_parse_number_rejects(text, why):
    with pytest.raises(ValueError, match=why):
        parse_number(text)


def test_parse_kernel_numbers_and_presets():
    np.testing.assert_array_equal(
        parse_kernel("0 -1 0; -1 5 -1; 0 -1 0"), PRESETS["sharpen"].array()
    )
    k = parse_kernel("1/9, 1/9, 1/9; 1/9 1/9 1/9;1/9 1/9 1/9;")
    assert k.dtype == np.float32 and k.shape == (3, 3)
    np.testing.assert_allclose(k, 1 / 9, rtol=1e-7)
    np.testing.assert_array_equal(parse_kernel("1 2\n3 4"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(parse_kernel("Sobel_X"), PRESETS["sobel-x"].array())
    assert parse_kernel("7").shape == (1, 1)
    assert parse_kernel("; ".join(["1 " * 15] * 15)).shape == (15, 15)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("nonsense", "unknown kernel preset 'nonsense'; choose one of: identity"),
        ("1 2; 3", "same number of cells"),
        ("1 x 2", "row 1"),
        ("", "empty"),
        ("; ".join(["1 " * 16] * 3), "1 to 15"),
    ],
)
def test_parse_kernel_rejects(text, why):
    with pytest.raises(ValueError, match=why):
        parse_kernel(text)


def test_numbers_beyond_float32_are_refused_in_one_sentence():
    with pytest.raises(ValueError, match="too large for a weight"):
        parse_number("1e39")
    with pytest.raises(ValueError, match="too large for a weight"):
        parse_kernel("1 2 3; 4 1e39 6; 7 8 9")
