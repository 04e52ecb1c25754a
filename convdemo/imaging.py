"""Images in and out: load a file into float32 0..1, map a signed result to something showable.

The one dtype policy: inside convdemo an image is a C-contiguous float32 array in 0..1,
``(H, W)`` for grey or ``(H, W, 3)`` for RGB. It is converted once, here, at the edges.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from convdemo.ops import for_rows

__all__ = [
    "DISPLAY_MODES",
    "Display",
    "LoadedImage",
    "diverging_extent",
    "DIVERGING_PERCENTILE",
    "downsample",
    "image_from_pil",
    "load_image",
    "save_output",
    "to_display",
    "to_gray",
    "to_u8",
]

DISPLAY_MODES = ("clip", "normalize", "abs", "diverging")

#: ITU-R BT.601 luma weights (what Pillow's ``convert("L")`` uses)
LUMA = (0.299, 0.587, 0.114)

#: a white background for transparent pixels
_BACKGROUND = 1.0


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for the engine.

    Attributes
    ----------
    array : numpy.ndarray
        float32, C-contiguous, ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB), values in 0..1.
    notes : tuple of str
        What was changed on the way in, e.g. ``"applied EXIF orientation"``,
        ``"composited transparency onto white"``; empty when nothing was.
    """

    array: np.ndarray
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Display:
    """A result mapped for the screen.

    Attributes
    ----------
    rgb : numpy.ndarray
        uint8, C-contiguous, ``(H, W, 3)``.
    vmin, vmax : float
        The raw values shown as the two ends of the scale (for a colour bar / legend).
    mode : str
        One of :data:`DISPLAY_MODES`.
    signed : bool
        Whether the raw result had negative values (the GUI suggests ``diverging`` then).
    """

    rgb: np.ndarray
    vmin: float
    vmax: float
    mode: str
    signed: bool


# --------------------------------------------------------------------------- loading


def load_image(path, *, max_pixels: int | None = None) -> LoadedImage:
    """Read any image Pillow reads into float32 0..1.

    Parameters
    ----------
    path : str or os.PathLike
    max_pixels : int, optional
        Downsample (area average) so that ``H * W <= max_pixels``; noted in ``notes``.

    Returns
    -------
    LoadedImage
        ``array`` float32 ``(H, W)`` or ``(H, W, 3)`` in 0..1, and ``notes`` saying what was
        changed: EXIF orientation applied, first frame of an animation taken, 16-bit or float
        data scaled, palette / CMYK / other modes converted, transparency composited onto
        white, downsampling.

    Raises
    ------
    ValueError
        ``"cannot open <path>: <problem>"`` for a missing, empty, broken or non-image file, or
        one over Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``).
    """
    name = os.fspath(path)
    p = Path(name)

    def fail(problem: str) -> ValueError:
        return ValueError(f"cannot open {name}: {problem}")

    if not p.exists():
        raise fail("no such file")
    if p.is_dir():
        raise fail("it is a folder, not an image file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise fail(str(exc.strerror or exc).lower()) from None
    if size == 0:
        raise fail("the file is empty")
    try:
        with warnings.catch_warnings():
            # Pillow only *warns* between 1x and 2x its limit; we refuse from 1x.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                return image_from_pil(im, max_pixels=max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise fail(
            f"it has more pixels than Pillow's decompression-bomb limit of "
            f"{Image.MAX_IMAGE_PIXELS:,} (a safety limit against malicious files)"
        ) from None
    except UnidentifiedImageError:
        raise fail("it is not an image file Pillow can read (unknown format or damaged)") from None
    except PermissionError:
        raise fail("permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError) as exc:
        # Pillow reports truncated or corrupt data with OSError/SyntaxError and friends
        detail = str(exc).strip().rstrip(".") or type(exc).__name__
        raise fail(f"the image data is damaged or truncated ({detail})") from None


def image_from_pil(pil_image: Image.Image, *, max_pixels: int | None = None) -> LoadedImage:
    """Convert a Pillow image (e.g. pasted from the clipboard) with the rules of
    :func:`load_image`.

    Parameters
    ----------
    pil_image : PIL.Image.Image
        Any mode; an animation is read at its first frame.
    max_pixels : int, optional
        As for :func:`load_image`.

    Returns
    -------
    LoadedImage
        float32 ``(H, W)`` or ``(H, W, 3)`` in 0..1, C-contiguous, and notes on what changed.

    Raises
    ------
    ValueError
        If the image has no pixels.
    """
    notes: list[str] = []
    im = pil_image
    frames = getattr(im, "n_frames", 1) or 1
    if frames > 1:
        im.seek(0)
        notes.append(f"used the first frame of {frames}")
    if im.mode in ("RGB", "RGBA") and _deep_colour(im):
        notes.append("16-bit colour read as 8-bit (Pillow keeps 8 bits per colour channel)")
    im.load()
    orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
    if orientation not in (None, 1):
        im = ImageOps.exif_transpose(im)
        notes.append(f"applied EXIF orientation {orientation} (rotated/flipped upright)")

    arr, alpha = _pil_to_float(im, notes)
    if alpha is not None:
        if float(alpha.min()) >= 1.0:
            notes.append("dropped an alpha channel (the image was fully opaque)")
        else:
            # composite onto white: out = a * x + (1 - a) * background
            a = alpha if arr.ndim == 2 else alpha[:, :, None]
            arr = arr * a + (1.0 - a) * np.float32(_BACKGROUND)
            notes.append("composited transparent pixels onto white")
    h, w = arr.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"the image has no pixels ({w}x{h})")
    if max_pixels is not None and h * w > max_pixels:
        arr, (nh, nw) = _downsample(arr, max_pixels)
        notes.append(
            f"downsampled from {w}x{h} ({h * w / 1e6:.1f} MP) to {nw}x{nh} to stay under "
            f"{max_pixels / 1e6:.1f} MP"
        )
    arr = np.ascontiguousarray(np.clip(arr, 0.0, 1.0, out=arr), dtype=np.float32)
    return LoadedImage(arr, tuple(notes))


def _deep_colour(im: Image.Image) -> bool:
    """Whether a not-yet-loaded RGB(A) image is stored with 16 bits per channel."""
    for tile in getattr(im, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        raw = args if isinstance(args, str) else (args[0] if args else None)
        if isinstance(raw, str) and ";16" in raw:
            return True
    return False


def _pil_to_float(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """``(array float32 0..1 (H, W) or (H, W, 3), alpha (H, W) or None)``."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0, None
    if mode == "L":
        return np.asarray(im, dtype=np.float32) / 255.0, None
    if mode == "RGB":
        return np.asarray(im, dtype=np.float32) / 255.0, None
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im).astype(np.float32)
        if mode == "I" and a.size and (a.min() < 0 or a.max() > 65535):
            lo, hi = float(a.min()), float(a.max())
            notes.append(f"32-bit integer image: stretched {lo:g}..{hi:g} to 0..1")
            return (a - lo) / (hi - lo if hi > lo else 1.0), None
        notes.append("16-bit greyscale: scaled 0..65535 to 0..1")
        return a / 65535.0, None
    if mode == "F":
        a = np.asarray(im, dtype=np.float32)
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        a = np.nan_to_num(a, nan=0.0, posinf=hi, neginf=lo)
        if lo < 0.0 or hi > 1.0:
            notes.append(f"floating-point image: stretched {lo:g}..{hi:g} to 0..1")
            return (a - lo) / (hi - lo if hi > lo else 1.0), None
        return a, None
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"), dtype=np.float32) / 255.0
        return la[:, :, 0], la[:, :, 1]
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[:, :, :3], rgba[:, :, 3]
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        notes.append("converted a palette image to RGB")
        if has_alpha:
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
            return rgba[:, :, :3], rgba[:, :, 3]
        return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0, None
    if mode == "CMYK":
        notes.append("converted CMYK to RGB")
    else:
        notes.append(f"converted {mode} to RGB")
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0, None


def downsample(image: np.ndarray, *, factor: int | None = None,
               shape: tuple[int, int] | None = None) -> np.ndarray:
    """A smaller copy of ``image`` by a box filter: each new pixel is the mean of the source
    pixels it covers. The one downsampling routine (previews, thumbnails, the scan's
    pixelated copy, photos over the pixel limit).

    Parameters
    ----------
    image : numpy.ndarray, float32, (H, W) or (H, W, C)
    factor : int, optional
        Shrink by this whole factor (``H // factor`` rows; a last partial block is dropped),
        summed as ``factor`` strided slices per axis: fast, for previews and thumbnails.
    shape : (int, int), optional
        The ``(rows, cols)`` wanted instead (Pillow's BOX resampling, which weights partial
        pixels).

    Returns
    -------
    numpy.ndarray, float32, C-contiguous
        ``image`` itself when nothing shrinks.
    """
    if (factor is None) == (shape is None):
        raise ValueError("give downsample either factor or shape")
    if factor is not None:
        if factor <= 1:
            return image
        h = image.shape[0] // factor * factor
        w = image.shape[1] // factor * factor
        if h == 0 or w == 0:
            raise ValueError(f"cannot shrink a {image.shape[1]}x{image.shape[0]} image by "
                             f"{factor}")
        rows = np.zeros((h // factor, w) + image.shape[2:], dtype=np.float32)
        for i in range(factor):
            rows += image[i:h:factor, :w]
        out = np.zeros((h // factor, w // factor) + image.shape[2:], dtype=np.float32)
        for j in range(factor):
            out += rows[:, j:w:factor]
        out *= np.float32(1.0 / (factor * factor))
        return out
    nh, nw = max(1, int(shape[0])), max(1, int(shape[1]))
    if (nh, nw) == image.shape[:2]:
        return np.ascontiguousarray(image, dtype=np.float32)
    planes = image[:, :, None] if image.ndim == 2 else image
    out = np.stack(
        [np.asarray(Image.fromarray(np.ascontiguousarray(planes[:, :, i], dtype=np.float32),
                                    mode="F").resize((nw, nh), Image.Resampling.BOX))
         for i in range(planes.shape[2])],
        axis=-1,
    )
    return np.ascontiguousarray(out[:, :, 0] if image.ndim == 2 else out, dtype=np.float32)


def _downsample(arr: np.ndarray, max_pixels: int) -> tuple[np.ndarray, tuple[int, int]]:
    h, w = arr.shape[:2]
    scale = (max_pixels / (h * w)) ** 0.5
    nh, nw = max(1, int(h * scale)), max(1, int(w * scale))
    return downsample(arr, shape=(nh, nw)), (nh, nw)


def to_u8(x: np.ndarray) -> np.ndarray:
    """float 0..1 -> uint8 0..255 (rounded), in row bands through one small float32 buffer.

    Written out because ``(np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)`` makes three
    full-size temporaries (a 40 MP photo would need 1.4 GB more for a moment); on a 12 MP
    photo this is ten times faster.
    """
    x = np.asarray(x)
    out = np.empty(x.shape, np.uint8)
    if x.size == 0:
        return out
    rows = max(1, (1 << 18) // max(1, x[0].size))
    buf = np.empty((min(rows, x.shape[0]),) + x.shape[1:], np.float32)
    for r0 in range(0, x.shape[0], rows):
        r1 = min(r0 + rows, x.shape[0])
        y = buf[: r1 - r0]
        np.multiply(x[r0:r1], np.float32(255), out=y, dtype=np.float32)
        np.clip(y, 0, 255, out=y)
        y += np.float32(0.5)
        np.copyto(out[r0:r1], y, casting="unsafe")
    return out


def to_gray(image) -> np.ndarray:
    """Luma of an RGB image (ITU-R 601: ``0.299 R + 0.587 G + 0.114 B``).

    Parameters
    ----------
    image : array_like, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        A 4th (alpha) channel is ignored.

    Returns
    -------
    numpy.ndarray, float32, shape (H, W), C-contiguous
    """
    a = np.asarray(image)
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    if a.ndim == 2:
        return np.ascontiguousarray(a)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), not shape {a.shape}"
        )
    if a.shape[2] == 1:
        return np.ascontiguousarray(a[:, :, 0])
    # a matrix-vector product per row reads the interleaved channels fastest
    return np.ascontiguousarray(np.matmul(a[:, :, :3], np.array(LUMA, np.float32)))


# --------------------------------------------------------------------------- display


#: the share of values inside the diverging scale; the strongest 0.5% saturate
DIVERGING_PERCENTILE = 99.5
#: the percentile is taken on at most about this many evenly spaced values
_EXTENT_SAMPLES = 1 << 18


def diverging_extent(a: np.ndarray) -> float:
    """The half-width ``m`` of the diverging scale: the ``DIVERGING_PERCENTILE``-th
    percentile of ``|a|`` (rank rounded up, so a handful of values gives ``max|a|``), or
    ``max|a|`` where that percentile is 0 (a mostly-zero result). Big arrays are sampled
    evenly (every k-th value) so this stays cheap at 12 MP.

    Returns
    -------
    float, >= 0
    """
    flat = np.asarray(a, dtype=np.float32).reshape(-1)
    if flat.size == 0:
        return 0.0
    step = max(1, flat.size // _EXTENT_SAMPLES)
    sample = np.abs(flat[::step])
    m = float(np.percentile(sample, DIVERGING_PERCENTILE, method="higher"))
    if m <= 0.0:
        m = float(np.abs(flat).max())
    return m


#: the ends of the diverging map (ColorBrewer RdBu), the middle being white
_BLUE = (33.0, 102.0, 172.0)
_RED = (178.0, 24.0, 43.0)
#: a band of about this many values is mapped at a time, so it stays in cache
_BAND_ELEMS = 64 * 1024


class _Scratch:
    """Per-thread band buffers (allocating big temporaries per band would cost page faults)."""

    def __init__(self, shape: tuple[int, ...]):
        self.f = [np.empty(shape, np.float32) for _ in range(4)]
        self.u8 = np.empty(shape, np.uint8)

    def take(self, x: np.ndarray, i: int = 0) -> np.ndarray:
        return self.f[i][: x.shape[0]]


def _map_affine(x, scale: float, offset: float, absolute: bool, rgb, scratch: _Scratch) -> None:
    """``rgb = clip(x * scale + offset, 0, 255)`` truncated to uint8 (``offset`` carries
    the +0.5 that makes truncation round); grey ``(n, W)`` is written to all three channels."""
    t = scratch.take(x)
    if absolute:
        np.abs(x, out=t)
        t *= np.float32(scale)
    else:
        np.multiply(x, np.float32(scale), out=t)
    t += np.float32(offset)
    np.clip(t, 0.0, 255.0, out=t)
    if t.ndim == 3:
        np.copyto(rgb, t, casting="unsafe")
        return
    u8 = scratch.u8[: x.shape[0]]
    np.copyto(u8, t, casting="unsafe")
    for c in range(3):
        rgb[:, :, c] = u8


def _map_diverging(x, inv_m: float, rgb, scratch: _Scratch) -> None:
    """Blue-white-red: ``255 + (blue - 255) * max(-t, 0) + (red - 255) * max(t, 0)`` per
    channel, with ``t = x / m`` in -1..1 (the formula :func:`diverging_lut` samples)."""
    pos, neg, v, tmp = (scratch.take(x, i) for i in range(4))
    u8 = scratch.u8[: x.shape[0]]
    np.multiply(x, np.float32(inv_m), out=neg)
    np.clip(neg, -1.0, 1.0, out=neg)
    np.maximum(neg, np.float32(0.0), out=pos)
    np.minimum(neg, np.float32(0.0), out=neg)
    for c in range(3):
        # with t in -1..1 this stays inside 0.5..255.5: no clipping needed before the cast
        np.multiply(pos, np.float32(_RED[c] - 255.0), out=v)
        np.multiply(neg, np.float32(255.0 - _BLUE[c]), out=tmp)
        v += tmp
        v += np.float32(255.5)
        np.copyto(u8, v, casting="unsafe")  # truncating cast: the +0.5 above rounds
        rgb[:, :, c] = u8


def to_display(raw, mode: str = "clip", *, scale_from: Display | None = None) -> Display:
    """Map a float result to an RGB picture.

    Parameters
    ----------
    raw : array_like, shape (H, W) or (H, W, C)
        A convolution result, any sign. ``(H, W, 3)`` (``channels="separate"`` on RGB) is
        shown as colour; another ``C`` as the grey mean of its channels.
    mode : {"clip", "normalize", "abs", "diverging"}
        ``clip``: values clipped to 0..1 (the lecture demo's way). ``normalize``: min to 0,
        max to 1 (a constant result shows black). ``abs``: ``|raw|`` clipped to 0..1.
        ``diverging``: blue (negative) - white (0) - red (positive) on the symmetric scale
        ``+-m`` with ``m`` from :func:`diverging_extent` (the 99.5th percentile of ``|raw|``,
        so a few strong edges do not wash everything else out; stronger values saturate);
        a several-channel result shows the mean of its channels.
    scale_from : Display, optional
        Use that display's scale (its ``vmin``/``vmax``) instead of this result's own, so two
        results shown side by side (a convolution and its pooled map, partial sums and their
        total) share one linked scale.

    Returns
    -------
    Display
        ``rgb`` uint8 ``(H, W, 3)``; ``vmin``/``vmax`` the raw values at the two ends of the
        scale; ``signed`` whether any raw value was negative.
    """
    if mode not in DISPLAY_MODES:
        raise ValueError(f"display must be one of {', '.join(DISPLAY_MODES)}, not {mode!r}")
    a = np.asarray(raw, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3):
        raise ValueError(f"raw must be (H, W) or (H, W, C), not shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"raw is empty (shape {a.shape}); there is nothing to show")
    if a.ndim == 3 and (a.shape[2] != 3 or mode == "diverging"):
        a = a.mean(axis=2, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(a.min()), float(a.max())
    signed = lo < 0.0
    if mode == "diverging":
        m = diverging_extent(a) if scale_from is None else float(scale_from.vmax)
        vmin, vmax = -m, m

        def band_map(x, out, scratch):
            _map_diverging(x, 1.0 / m if m > 0 else 0.0, out, scratch)

    else:
        if mode == "normalize":
            if scale_from is not None:
                lo, hi = float(scale_from.vmin), float(scale_from.vmax)
            span = hi - lo
            scale = 255.0 / span if span > 0 else 0.0
            offset = 0.5 - lo * scale if span > 0 else 0.0
            vmin, vmax = lo, hi
        else:  # clip, abs: 0..1
            scale, offset, vmin, vmax = 255.0, 0.5, 0.0, 1.0

        def band_map(x, out, scratch):
            _map_affine(x, scale, offset, mode == "abs", out, scratch)

    h, w = a.shape[:2]
    rgb = np.empty((h, w, 3), np.uint8)
    band = max(1, _BAND_ELEMS // (w * (a.shape[2] if a.ndim == 3 else 1)))

    def run(r0: int, r1: int) -> None:
        scratch = _Scratch((min(band, r1 - r0),) + a.shape[1:])
        for b0 in range(r0, r1, band):
            b1 = min(b0 + band, r1)
            band_map(a[b0:b1], rgb[b0:b1], scratch)

    if a.size >= 400_000:
        for_rows(h, run)
    else:
        run(0, h)
    return Display(rgb, float(vmin), float(vmax), mode, signed)


def save_output(path, raw, mode: str = "clip") -> None:
    """Write a result: ``.npy`` -> the raw float32 array; otherwise a picture of
    ``to_display(raw, mode).rgb`` in the format the suffix names (``.png``, ``.jpg``,
    ``.tif``, ``.bmp`` ...; PNG when there is no suffix).

    Raises
    ------
    ValueError
        An empty result as a picture, a suffix that names no format Pillow can write
        (``.txt``), or an unknown ``mode``.
    OSError
        The file cannot be written.
    """
    p = Path(path)
    a = np.asarray(raw, dtype=np.float32)
    if p.suffix.lower() == ".npy":
        np.save(p, a)
        return
    if a.size == 0:
        raise ValueError(
            f"cannot write {p}: the result is empty (shape {a.shape}), so there is no picture; "
            "save it as .npy or use padding 'same'"
        )
    ext = p.suffix.lower()
    fmt = Image.registered_extensions().get(ext) if ext else "PNG"
    if fmt not in Image.SAVE:
        raise ValueError(
            f"cannot write {p}: {ext!r} is not a picture format convdemo can write; "
            "end the name in .png (or .jpg, .tif, .bmp), or .npy for the raw values"
        )
    disp = to_display(a, mode)
    Image.fromarray(disp.rgb).save(p, format=fmt)
