"""Loading images (every Pillow mode handled, errors as one sentence) and display mappings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from convdemo import colormaps, imaging

RNG = np.random.default_rng(7)


def rgb8(h=4, w=6):
    return (RNG.random((h, w, 3)) * 255).astype(np.uint8)


def test_load_rgb_png(tmp_path):
    data = rgb8()
    Image.fromarray(data).save(tmp_path / "a.png")
    img = imaging.load_image(tmp_path / "a.png")
    assert img.array.dtype == np.float32 and img.array.flags.c_contiguous
    np.testing.assert_allclose(img.array, data / 255.0, atol=1e-7)
    assert img.notes == ()


def test_load_grey_stays_2d(tmp_path):
    Image.fromarray(rgb8()[:, :, 0]).save(tmp_path / "g.png")
    img = imaging.load_image(str(tmp_path / "g.png"))
    assert img.array.shape == (4, 6) and img.notes == ()


def test_alpha_composited_onto_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[0, 0, 3] = 255  # opaque red
    rgba[0, 1, 3] = 0  # fully transparent -> white
    rgba[1, :, 3] = 128  # half -> pink
    Image.fromarray(rgba).save(tmp_path / "a.png")
    img = imaging.load_image(tmp_path / "a.png")
    assert img.array.shape == (2, 2, 3)
    np.testing.assert_allclose(img.array[0, 0], [1, 0, 0])
    np.testing.assert_allclose(img.array[0, 1], [1, 1, 1])
    np.testing.assert_allclose(img.array[1, 0], [1, 127 / 255, 127 / 255], atol=1e-6)
    assert any("transparent" in n for n in img.notes)


def test_opaque_alpha_dropped_with_note(tmp_path):
    rgba = np.full((2, 3, 4), 255, np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    img = imaging.load_image(tmp_path / "a.png")
    assert img.array.shape == (2, 3, 3) and any("alpha" in n for n in img.notes)


def test_16_bit_grey(tmp_path):
    data = np.array([[0, 1000, 65535]], np.uint16)
    Image.fromarray(data).save(tmp_path / "d.png")
    img = imaging.load_image(tmp_path / "d.png")
    np.testing.assert_allclose(img.array, data / 65535.0, rtol=1e-6)
    assert any("16-bit" in n for n in img.notes)


def test_palette_and_cmyk(tmp_path):
    Image.fromarray(rgb8()).convert("P").save(tmp_path / "p.gif")
    img = imaging.load_image(tmp_path / "p.gif")
    assert img.array.shape == (4, 6, 3) and any("palette" in n for n in img.notes)
    Image.fromarray(rgb8()).convert("CMYK").save(tmp_path / "c.tif")
    img = imaging.load_image(tmp_path / "c.tif")
    assert img.array.shape == (4, 6, 3) and any("CMYK" in n for n in img.notes)


def test_exif_orientation_applied(tmp_path):
    data = np.zeros((2, 3), np.uint8)
    data[0, 0] = 255  # top-left marker
    im = Image.fromarray(data)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "o.png", exif=exif)
    img = imaging.load_image(tmp_path / "o.png")
    assert img.array.shape == (3, 2)
    assert img.array[0, 1] == 1.0  # the top-left marker is now top-right
    assert any("EXIF" in n for n in img.notes)


def test_first_frame_of_animation(tmp_path):
    frames = [Image.fromarray(np.full((3, 3), v, np.uint8)) for v in (10, 200, 90)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    img = imaging.load_image(tmp_path / "anim.gif")
    assert any("first frame of 3" in n for n in img.notes)
    assert img.array.mean() == pytest.approx(10 / 255, abs=0.01)


def test_max_pixels_downsamples(tmp_path):
    Image.fromarray(rgb8(40, 60)).save(tmp_path / "big.png")
    img = imaging.load_image(tmp_path / "big.png", max_pixels=600)
    h, w = img.array.shape[:2]
    assert h * w <= 600 and (h, w) == (20, 30)
    assert any("downsampled from 60x40" in n for n in img.notes)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_text("hello, not an image"), "not an image"),
        (lambda p: p.mkdir(), "folder"),
    ],
)
def test_bad_files_one_sentence(tmp_path, make, problem):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(ValueError) as info:
        imaging.load_image(path)
    msg = str(info.value)
    assert msg.startswith(f"cannot open {path}: ") and problem in msg and "\n" not in msg


def test_truncated_file(tmp_path):
    Image.fromarray(rgb8(64, 64)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot open .*t\.png: .*(damaged|truncated)"):
        imaging.load_image(tmp_path / "t.png")


def test_decompression_bomb(tmp_path, monkeypatch):
    Image.fromarray(rgb8(20, 20)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 400 pixels: over 1x, under 2x
    with pytest.raises(ValueError, match="decompression-bomb limit"):
        imaging.load_image(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # over 2x: Pillow's own error
    with pytest.raises(ValueError, match="decompression-bomb limit"):
        imaging.load_image(tmp_path / "bomb.png")


def test_image_from_pil():
    img = imaging.image_from_pil(Image.fromarray(rgb8()).convert("RGBA"))
    assert img.array.shape == (4, 6, 3)


def test_to_gray():
    img = np.zeros((1, 3, 3), np.float32)
    img[0, 0, 0] = img[0, 1, 1] = img[0, 2, 2] = 1
    np.testing.assert_allclose(imaging.to_gray(img), [[0.299, 0.587, 0.114]], rtol=1e-6)
    assert imaging.to_gray(np.ones((2, 2, 3), np.float32)).dtype == np.float32
    np.testing.assert_allclose(imaging.to_gray(np.ones((2, 2, 3))), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="image must be"):
        imaging.to_gray(np.zeros((2, 2, 2)))


RAW = np.array([[-2.0, -0.5, 0.0], [0.25, 1.0, 3.0]], np.float32)


def test_display_clip():
    d = imaging.to_display(RAW, "clip")
    assert d.rgb.dtype == np.uint8 and d.rgb.shape == (2, 3, 3) and d.rgb.flags.c_contiguous
    np.testing.assert_array_equal(d.rgb[..., 0], [[0, 0, 0], [64, 255, 255]])
    assert (d.vmin, d.vmax, d.signed) == (0.0, 1.0, True)


def test_display_normalize_and_abs():
    d = imaging.to_display(RAW, "normalize")
    np.testing.assert_array_equal(d.rgb[..., 1], [[0, 77, 102], [115, 153, 255]])
    assert (d.vmin, d.vmax) == (-2.0, 3.0)
    d = imaging.to_display(RAW, "abs")
    np.testing.assert_array_equal(d.rgb[..., 2], [[255, 128, 0], [64, 255, 255]])
    const = imaging.to_display(np.full((2, 2), 0.7), "normalize")
    assert const.rgb.max() == 0


def test_display_diverging():
    d = imaging.to_display(RAW, "diverging")
    lut = colormaps.diverging_lut()
    assert (d.vmin, d.vmax, d.signed) == (-3.0, 3.0, True)
    np.testing.assert_array_equal(d.rgb[0, 2], [255, 255, 255])  # zero is white
    np.testing.assert_array_equal(d.rgb[1, 2], lut[-1])  # +max is the red end
    assert d.rgb[0, 0, 2] > d.rgb[0, 0, 0]  # negative is blue
    assert d.rgb[1, 1, 0] > d.rgb[1, 1, 2]  # positive is red


def test_diverging_scale_ignores_a_few_outliers():
    rng = np.random.default_rng(0)
    raw = rng.uniform(-0.1, 0.1, (200, 300)).astype(np.float32)
    raw[5, 7], raw[9, 9] = 50.0, -40.0  # two strong edges
    d = imaging.to_display(raw, "diverging")
    expected = np.percentile(np.abs(raw), imaging.DIVERGING_PERCENTILE, method="higher")
    assert d.vmax == pytest.approx(expected) and d.vmin == -d.vmax
    assert 0.09 < d.vmax < 0.1  # the scale is the bulk's, not the outliers'
    lut = colormaps.diverging_lut()
    np.testing.assert_array_equal(d.rgb[5, 7], lut[-1])  # outliers saturate at the ends
    np.testing.assert_array_equal(d.rgb[9, 9], lut[0])


def test_diverging_scale_of_a_mostly_zero_result_is_its_max():
    raw = np.zeros((100, 100), np.float32)
    raw[50, 50] = -0.25
    assert imaging.diverging_extent(raw) == 0.25
    assert imaging.to_display(raw, "diverging").vmin == -0.25


def test_diverging_lut():
    lut = colormaps.diverging_lut(256)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert lut[0, 2] > lut[0, 0] and lut[-1, 0] > lut[-1, 2]
    np.testing.assert_array_equal(colormaps.diverging_lut(3)[1], [255, 255, 255])


def test_display_separate_channels():
    raw = np.zeros((2, 2, 3), np.float32)
    raw[..., 1] = 1.0
    d = imaging.to_display(raw, "clip")
    np.testing.assert_array_equal(d.rgb[0, 0], [0, 255, 0])
    with pytest.raises(ValueError, match="display must be one of"):
        imaging.to_display(raw, "rainbow")


def test_save_output(tmp_path):
    imaging.save_output(tmp_path / "r.npy", RAW, "clip")
    back = np.load(tmp_path / "r.npy")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, RAW)
    imaging.save_output(tmp_path / "r.png", RAW, "diverging")
    with Image.open(tmp_path / "r.png") as im:
        assert im.format == "PNG" and im.size == (3, 2)
        np.testing.assert_array_equal(np.asarray(im), imaging.to_display(RAW, "diverging").rgb)
    with pytest.raises(ValueError, match="empty"):
        imaging.save_output(tmp_path / "e.png", np.zeros((0, 3)), "clip")


@pytest.mark.parametrize("shape", [(700, 650), (300, 500, 3)])
@pytest.mark.parametrize("mode", imaging.DISPLAY_MODES)
def test_display_big_arrays_match_a_plain_mapping(shape, mode):
    """The banded, two-thread mapping equals the formula written out on the whole array."""
    raw = RNG.standard_normal(shape).astype(np.float32) * 2
    d = imaging.to_display(raw, mode)
    x = raw.astype(np.float64)
    if mode == "diverging":
        if x.ndim == 3:
            x = raw.mean(axis=2, dtype=np.float32).astype(np.float64)  # channels averaged
        m = np.percentile(np.abs(x), imaging.DIVERGING_PERCENTILE, method="higher")
        t = np.clip(x / m, -1, 1)
        blue, red = np.array([33, 102, 172]), np.array([178, 24, 43])
        x3 = (
            255
            + (blue - 255) * np.maximum(-t, 0)[..., None]
            + (red - 255) * np.maximum(t, 0)[..., None]
        )
        np.testing.assert_allclose(d.rgb, np.floor(x3 + 0.5), atol=1)
        assert (d.vmin, d.vmax) == pytest.approx((-m, m))
        return
    if mode == "normalize":
        x = (x - x.min()) / (x.max() - x.min())
    elif mode == "abs":
        x = np.abs(x)
    expected = np.floor(np.clip(x, 0, 1) * 255 + 0.5)
    if expected.ndim == 2:
        expected = np.repeat(expected[:, :, None], 3, axis=2)
    np.testing.assert_allclose(d.rgb, expected, atol=1)
    assert np.mean(d.rgb != expected) < 1e-3  # off by one only at rounding ties


def _write_png48(path, data: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    h, w, _ = data.shape
    rows = b"".join(b"\0" + data[r].astype(">u2").tobytes() for r in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)  # 16 bits, colour type 2 (RGB)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_16_bit_colour_noted(tmp_path):
    data = (RNG.random((4, 5, 3)) * 65535).astype(np.uint16)
    _write_png48(tmp_path / "deep.png", data)
    img = imaging.load_image(tmp_path / "deep.png")
    assert img.array.shape == (4, 5, 3)
    np.testing.assert_allclose(img.array, data / 65535.0, atol=1 / 255)
    assert any("16-bit colour" in n for n in img.notes)
