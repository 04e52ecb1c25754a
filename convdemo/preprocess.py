"""Turn any picture into what the CNN sees: a 28x28 MNIST-style image.

MNIST digits were made like this (LeCun et al.): white ink on black, the digit's bounding box
scaled so its longer side is 20 pixels (keeping the aspect ratio, anti-aliased), then pasted
into a 28x28 frame so that its centre of mass sits at the centre. :func:`preprocess` does the
same, one documented step at a time, so the app can show the student each result:

1. **grey**: RGB -> luma ``0.299 R + 0.587 G + 0.114 B`` (ITU-R 601, as ``convdemo.imaging``);
2. **invert if the background is light**: the background level is the median of the image's
   border pixels; when it is above 0.5 the image becomes ``1 - image`` (dark ink on paper ->
   white ink on black). The background level is then subtracted, so it becomes 0;
3. **crop to the content's bounding box**: content is every pixel brighter than
   ``CONTENT_THRESHOLD`` of the brightest one. Nothing bright enough -> a blank result;
4. **scale the longer side to 20 px**, keeping the aspect ratio (area averaging when shrinking,
   bilinear when enlarging), then stretch the values so the brightest pixel is 1;
5. **paste into 28x28, centred by centre of mass**: the 20 px box goes in the middle, then is
   shifted by whole pixels so its centre of mass lands on the frame's centre (13.5, 13.5),
   as far as the frame allows.

All arrays are float32 in 0..1. :func:`preprocess_framed` also returns the
:class:`Framing`: where the 28x28 frame lies on the original picture, so that a map computed
on the 28x28 input (a saliency map, Grad-CAM) can be drawn on the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from convdemo import imaging

SIZE = 28
BOX = 20
#: a pixel is content when brighter than this fraction of the brightest (after step 2)
CONTENT_THRESHOLD = 0.2
#: below this brightness (after step 2) there is nothing to see
BLANK_LEVEL = 0.05


def to_gray(image: np.ndarray) -> np.ndarray:
    """Step 1: (H, W) or (H, W, 3) float 0..1 -> (H, W) float32 (ITU-R 601 luma), the same
    conversion the engine's channels="gray" uses (:func:`convdemo.imaging.to_gray`)."""
    try:
        return imaging.to_gray(image)
    except ValueError:
        raise ValueError(
            f"preprocess takes an image shaped (H, W) or (H, W, 3), got {np.shape(image)}"
        ) from None


def ink_on_black(gray: np.ndarray) -> np.ndarray:
    """Step 2: invert a light-background image, then subtract the background level."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        gray = 1.0 - gray
        background = 1.0 - background
    return np.clip(gray - background, 0.0, 1.0).astype(np.float32)


def content_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """Step 3's box: ``(top, left, bottom, right)``, the content's rows ``top..bottom-1`` and
    columns ``left..right-1``, or None when there is nothing to see."""
    peak = float(ink.max()) if ink.size else 0.0
    if peak < BLANK_LEVEL:
        return None
    rows, cols = np.nonzero(ink > CONTENT_THRESHOLD * peak)
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def crop_to_content(ink: np.ndarray) -> np.ndarray | None:
    """Step 3: the bounding box of the content, or None when there is nothing to see."""
    box = content_box(ink)
    if box is None:
        return None
    top, left, bottom, right = box
    return ink[top:bottom, left:right]


def scale_to_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Step 4: longer side -> ``box`` pixels, aspect kept; values stretched to a peak of 1."""
    h, w = crop.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32), mode="F")
    out = np.asarray(small.resize((new_w, new_h), resample), dtype=np.float32)
    out = np.clip(out, 0.0, None)
    peak = out.max()
    return out / peak if peak > 0 else out


def paste_offset(digit: np.ndarray, size: int = SIZE) -> tuple[int, int]:
    """Step 5's place: ``(top, left)`` of the digit in the frame (see :func:`paste_centred`)."""
    h, w = digit.shape
    top, left = (size - h) // 2, (size - w) // 2
    total = float(digit.sum())
    if total > 0:
        cy = float((digit.sum(axis=1) * np.arange(h)).sum() / total) + top
        cx = float((digit.sum(axis=0) * np.arange(w)).sum() / total) + left
        centre = (size - 1) / 2
        top = int(np.clip(top + round(centre - cy), 0, size - h))
        left = int(np.clip(left + round(centre - cx), 0, size - w))
    return top, left


def paste_centred(digit: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Step 5: paste into a ``size`` x ``size`` frame, centre of mass on the centre."""
    h, w = digit.shape
    frame = np.zeros((size, size), np.float32)
    top, left = paste_offset(digit, size)
    frame[top : top + h, left : left + w] = digit
    return frame


@dataclass(frozen=True)
class Framing:
    """Where the 28x28 frame lies on the original picture.

    Steps 3-5 crop the content box ``box = (top, left, bottom, right)`` of the picture, scale
    it to ``scaled = (h, w)`` pixels and paste it at ``offset = (top, left)`` in the frame.
    In continuous coordinates (pixel ``r`` covers ``[r, r + 1)``, as Pillow resamples)::

        frame_y = offset_top + (photo_y - box_top) * h / (bottom - top)
        photo_y = box_top + (frame_y - offset_top) * (bottom - top) / h

    and likewise for x with ``left``, ``right`` and ``w``.
    """

    photo_shape: tuple[int, int]
    box: tuple[int, int, int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    size: int = SIZE

    @property
    def scale(self) -> tuple[float, float]:
        """Frame pixels per photo pixel, ``(rows, cols)``."""
        top, left, bottom, right = self.box
        return self.scaled[0] / (bottom - top), self.scaled[1] / (right - left)

    def to_frame(self, y, x):
        """Photo coordinates -> frame coordinates (continuous, arrays or floats)."""
        sy, sx = self.scale
        return (self.offset[0] + (np.asarray(y, float) - self.box[0]) * sy,
                self.offset[1] + (np.asarray(x, float) - self.box[1]) * sx)

    def to_photo(self, y, x):
        """Frame coordinates -> photo coordinates (continuous, arrays or floats)."""
        sy, sx = self.scale
        return (self.box[0] + (np.asarray(y, float) - self.offset[0]) / sy,
                self.box[1] + (np.asarray(x, float) - self.offset[1]) / sx)


def preprocess(image: np.ndarray) -> np.ndarray:
    """Any picture (H, W) or (H, W, 3) float32 0..1 -> (28, 28) float32 0..1, MNIST style.

    White content on black, longer side 20 px, centred by centre of mass. A blank picture
    (nothing brighter than its background) gives all zeros; see :func:`is_blank`.
    """
    return preprocess_framed(image)[0]


def preprocess_framed(image: np.ndarray) -> tuple[np.ndarray, Framing | None]:
    """:func:`preprocess`, and the :class:`Framing` of the result on ``image`` (None when
    the picture is blank)."""
    ink = ink_on_black(to_gray(image))
    box = content_box(ink)
    if box is None:
        return np.zeros((SIZE, SIZE), np.float32), None
    top, left, bottom, right = box
    digit = scale_to_box(ink[top:bottom, left:right])
    framing = Framing(tuple(ink.shape[:2]), box, tuple(digit.shape), paste_offset(digit))
    return np.clip(paste_centred(digit), 0.0, 1.0), framing


def is_blank(x28: np.ndarray) -> bool:
    """True when a preprocessed image has nothing to see (the app says so instead of guessing)."""
    return not np.any(np.asarray(x28) > BLANK_LEVEL)
