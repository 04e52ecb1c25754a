"""MNIST-style preprocessing of any picture."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from convdemo import preprocess as pp


def drawn_digit(digit: str = "7", size: int = 300, rgb: bool = True) -> np.ndarray:
    """A dark digit drawn with thick lines on a white canvas, float32 0..1."""
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 300
    if digit == "7":
        d.line([(90 * s, 70 * s), (210 * s, 70 * s), (130 * s, 240 * s)], fill=(20, 20, 30),
               width=int(22 * s), joint="curve")
    elif digit == "1":
        d.line([(130 * s, 90 * s), (160 * s, 60 * s), (160 * s, 240 * s)], fill="black",
               width=int(22 * s), joint="curve")
    else:
        raise ValueError(digit)
    arr = np.asarray(img, dtype=np.float32) / 255
    return arr if rgb else arr.mean(axis=2)


def test_dark_digit_on_white_becomes_mnist_like():
    x = pp.preprocess(drawn_digit("7"))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.99
    # white on black: the border is black, the ink is bright
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    assert border.max() == 0
    assert (x > 0.5).sum() > 30
    # longer side 20 px (bounding box of visible ink), inside a 4 px margin
    rows, cols = np.nonzero(x > 0.05)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (19, 20, 21)
    # centred by centre of mass (within one pixel)
    ys, xs = np.indices(x.shape)
    cy, cx = (ys * x).sum() / x.sum(), (xs * x).sum() / x.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1
    assert not pp.is_blank(x)


def test_grey_and_already_dark_inputs_agree():
    white_bg = drawn_digit("1", rgb=False)
    a = pp.preprocess(white_bg)
    b = pp.preprocess(1 - white_bg)  # white ink on black: no inversion needed
    np.testing.assert_allclose(a, b, atol=1e-5)
    # a tall thin "1" keeps its aspect ratio: 20 px high, much narrower
    rows, cols = np.nonzero(a > 0.05)
    assert np.ptp(rows) + 1 >= 19 and np.ptp(cols) + 1 < 14


def test_blank_images_give_zeros():
    for img in (np.ones((300, 300, 3), np.float32), np.zeros((50, 40), np.float32),
                np.full((10, 10), 0.5, np.float32)):
        x = pp.preprocess(img)
        assert x.shape == (28, 28) and not x.any()
        assert pp.is_blank(x)


def test_tiny_and_odd_inputs():
    img = np.zeros((3, 2), np.float32)
    img[1, 1] = 1
    x = pp.preprocess(img)
    assert x.shape == (28, 28) and x.max() == 1
    try:
        pp.preprocess(np.zeros((2, 2, 2, 2), np.float32))
    except ValueError as exc:
        assert "(H, W)" in str(exc)
    else:
        raise AssertionError("4-D input accepted")


def test_framing_maps_photo_points_onto_the_frame():
    """Two blobs on a photo land where the framing says, within half a pixel, and the two
    transforms are inverses."""
    photo = np.zeros((240, 320), np.float32)
    photo[60:90, 100:130] = 1.0  # a square, top left
    photo[150:200, 180:230] = 1.0  # a larger one, bottom right
    x, framing = pp.preprocess_framed(photo)
    np.testing.assert_array_equal(x, pp.preprocess(photo))
    assert framing.photo_shape == (240, 320) and framing.box == (60, 100, 200, 230)
    for (r0, r1, c0, c1) in ((60, 90, 100, 130), (150, 200, 180, 230)):
        fy, fx = framing.to_frame(np.array([r0, r1]), np.array([c0, c1]))
        a, b = int(np.floor(fy[0])) + 1, int(np.ceil(fy[1])) - 1
        c, d = int(np.floor(fx[0])) + 1, int(np.ceil(fx[1])) - 1
        assert x[a:b, c:d].min() > 0.99  # inside the mapped square: full ink
        ys, xs = np.indices(x.shape)
        blob = (ys >= fy[0] - 1) & (ys < fy[1] + 1) & (xs >= fx[0] - 1) & (xs < fx[1] + 1)
        w = x * blob
        cy, cx = (ys * w).sum() / w.sum() + 0.5, (xs * w).sum() / w.sum() + 0.5
        assert abs(cy - fy.mean()) < 0.5 and abs(cx - fx.mean()) < 0.5
    y, xx = framing.to_photo(*framing.to_frame(123.4, 56.7))
    assert y == pytest.approx(123.4) and xx == pytest.approx(56.7)
    assert pp.preprocess_framed(np.zeros((40, 40), np.float32))[1] is None
