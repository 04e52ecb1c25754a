"""2-D convolution of an image with a small kernel: :func:`conv2d` and its argument checks.

:func:`prepare` checks every argument and works out the padding and output size; it is the
shared front half of :func:`conv2d` and :func:`convdemo.ops.reference.conv2d_reference`.
The arithmetic itself runs in :mod:`convdemo.ops.bands`.
"""

from __future__ import annotations

import numpy as np

from convdemo import budget
from convdemo.ops.bands import (
    correlate_plane,
    flat_correlate,
    rows_copied,
    rows_of,
    rows_summed,
    sum_channels,
    taps,
)
from convdemo.ops.borders import pad
from convdemo.ops.layer import conv2d_layer
from convdemo.ops.shapes import conv_sizes
from convdemo.ops.validation import (
    BORDERS,
    CHANNEL_MODES,
    as_image,
    as_kernel,
    check_memory,
    choice,
    flag,
    paddings,
    pair,
    scalar_bias,
)


def prepare(image, kernel, stride, padding, border, channels, flip, bias, dilation):
    """Check every argument of :func:`conv2d`; the shared front half of fast and reference.

    Returns ``x, k, strides, pads, border, channels, bias, (ho, wo), dilations`` with the
    kernel flipped already when ``flip``.
    """
    x = as_image(image)
    cin = x.shape[2] if x.ndim == 3 else None
    k = as_kernel(kernel, cin)
    strides = pair(stride, "stride")
    dilations = pair(dilation, "dilation")
    pads_per_axis = paddings(padding)
    border = choice(border, "border", BORDERS)
    channels = choice(channels, "channels", CHANNEL_MODES)
    flip = flag(flip, "flip")
    b = scalar_bias(bias)
    if k.ndim == 3 and x.ndim == 2:  # a (kh, kw, 1) kernel on a 2-D image
        k = k[:, :, 0]
    if flip:
        k = k[::-1, ::-1]
    pads, out_hw = conv_sizes(x.shape[:2], k.shape[:2], strides, pads_per_axis, dilations)
    return x, k, strides, pads, border, channels, b, out_hw, dilations


def layer_form(kernel, border, channels, flip) -> bool:
    """Whether ``kernel`` is a bank of filters ``(kh, kw, C_in, C_out)``; if so, the image
    form's own arguments must be left at their defaults."""
    if np.ndim(kernel) != 4:
        return False
    given = {"border": (border, "zeros"), "channels": (channels, "sum"), "flip": (flip, False)}
    for name, (value, default) in given.items():
        if isinstance(value, str) != isinstance(default, str) or value != default:
            raise ValueError(
                f"{name}={value!r} applies to one kernel on an image; a (kh, kw, C_in, C_out) "
                f"layer kernel pads with zeros, sums the channels and does not flip "
                f"(leave {name} at {default!r})"
            )
    return True


def check_conv_memory(x: np.ndarray, k: np.ndarray, pads, out_shape: tuple,
                      separate: bool) -> None:
    """Refuse (:func:`convdemo.budget.check`) a padded copy plus result beyond the budget.

    The padded copy is one plane, or every channel when each gets its own padded plane
    (channels separate, or a per-channel kernel); nothing when there is no padding.
    """
    h, w = x.shape[:2]
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    planes = 1 if x.ndim == 2 or (not separate and k.ndim == 2) else x.shape[2]
    padded = budget.array_bytes((hp, wp, planes)) if any(pads[0] + pads[1]) else 0
    result = budget.array_bytes(out_shape)
    if padded:
        what = (f"the convolution's padded input ({wp}x{hp}"
                f"{f'x{planes}' if planes > 1 else ''} float32) and its result "
                f"({'x'.join(str(d) for d in (out_shape[1], out_shape[0], *out_shape[2:]))})")
    else:
        what = (f"the convolution's result "
                f"({'x'.join(str(d) for d in (out_shape[1], out_shape[0], *out_shape[2:]))} "
                "float32)")
    check_memory(padded + result, what)


def conv2d(
    image,
    kernel,
    *,
    stride=1,
    padding="valid",
    border="zeros",
    channels="sum",
    flip=False,
    bias=0.0,
    dilation=1,
) -> np.ndarray:
    """2-D convolution (cross-correlation by default) of an image with a small kernel.

    Parameters
    ----------
    image : array_like, shape (H, W) or (H, W, C)
        Float arrays are used as they are (in float32); integer arrays are scaled to 0..1
        by their dtype's maximum (uint8 / 255, uint16 / 65535).
    kernel : array_like, shape (kh, kw), (kh, kw, C) or (kh, kw, C_in, C_out)
        ``(kh, kw)``: the same weights for every channel. ``(kh, kw, C)``: one slice per
        input channel, as in a CNN neuron. Sides 1 to 15, odd or even; finite values.
        ``(kh, kw, C_in, C_out)``: a layer of ``C_out`` filters on a batch ``image`` of shape
        ``(N, H, W, C_in)``, giving ``(N, H', W', C_out)`` (Keras' layout); ``bias`` is then
        one number per filter, ``(C_out,)``, and ``border``, ``channels`` and ``flip`` stay
        at their defaults. See :func:`convdemo.ops.layer.conv2d_layer`.
    stride : int or (int, int), default 1
        ``s`` or ``(sy, sx)``, each >= 1.
    padding : {"valid", "same", "full"}, int or (int, int), default "valid"
        See :func:`pad_amounts`. ``"same"`` is TensorFlow's rule (the smaller half of the
        padding at the top/left); an int ``p`` pads ``p`` cells on every side (PyTorch).
    border : {"zeros", "reflect", "replicate", "wrap"}, default "zeros"
        What the padded cells hold: 0; a mirror without repeating the edge pixel
        (``numpy.pad(mode="reflect")``, OpenCV's ``BORDER_REFLECT_101``); the edge pixel
        repeated (``"edge"``); or the image wrapped around (``"wrap"``). A 1-pixel-wide
        image reflects to itself.
    channels : {"sum", "separate"}, default "sum"
        ``"sum"``: each channel is correlated with its kernel slice and the results are
        added, giving ``(H', W')`` (one CNN neuron). ``"separate"``: each channel is filtered
        on its own, giving ``(H', W', C)`` (a photo filter). A 2-D image gives ``(H', W')``
        either way.
    flip : bool, default False
        ``False``: cross-correlation, what Keras and PyTorch call convolution.
        ``True``: true convolution (kernel rotated 180 degrees), equal to
        ``scipy.signal.convolve2d``.
    bias : float, default 0.0
        Added to every output value (for a layer kernel: a float or one per filter).
    dilation : int or (int, int), default 1
        ``d`` or ``(dy, dx)``, each >= 1: the kernel's taps are ``d`` cells apart (an
        "atrous" convolution), so a ``k``-tap kernel spans the effective size
        ``ke = (k - 1) d + 1``. Output sizes and the padding rules use ``ke``, as in
        PyTorch (``dilation=``) and TensorFlow (``dilations=``).

    Returns
    -------
    numpy.ndarray, float32, shape (H', W') or (H', W', C)
        ``H' = floor((H + before + after - khe) / sy) + 1`` with ``khe = (kh - 1) dy + 1``
        and ``before, after = pad_amounts(H, kh, sy, padding, dilation=dy)``; likewise ``W'``.
        When the kernel does not fit (``H + before + after < khe``) that size is 0 and the
        array is empty; this is not an error.

    Raises
    ------
    ValueError
        For a wrong number of dimensions, a kernel whose channel count differs from the
        image's, a stride or dilation of 0 or less, NaN or infinity in the kernel, or an
        unknown padding, border or channels name; the message names the argument and what is
        allowed.
    convdemo.budget.MemoryBudgetError
        (a ValueError) when the padded input and the result would need more memory than
        :func:`convdemo.budget.limit_bytes` allows, before anything is allocated.

    Notes
    -----
    The result equals :func:`conv2d_reference` (float64 loops) to float32 rounding: the
    tests allow a relative 1e-5 plus an absolute 2e-6 x sum|kernel| x max|image| x channels.
    A single weight 1 (the identity kernel) copies the input exactly.

    How it is fast (stride 1): with a shared kernel and ``channels="sum"`` the channels are
    summed first (exact algebra, a third of the work). The output is made in row bands of
    about 256 KiB so the data stays in cache, on two threads for large images (numpy releases
    the GIL). Inside a band, laid out at the padded width, every kernel tap is one contiguous
    slice of the flattened input, so each numpy call runs over one long contiguous run;
    equal weights are summed before one multiplication, and weights +-1 need none. Larger
    strides use strided views of the padded input (the same bands, simpler arithmetic).

    Examples
    --------
    >>> import numpy as np
    >>> conv2d(np.arange(16.0).reshape(4, 4), [[0, 0, 0], [0, 1, 0], [0, 0, 0]]).tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """
    if layer_form(kernel, border, channels, flip):
        return conv2d_layer(image, kernel, stride=stride, padding=padding, dilation=dilation,
                            bias=bias)
    x, k, strides, pads, border, channels, b, (ho, wo), dil = prepare(
        image, kernel, stride, padding, border, channels, flip, bias, dilation
    )
    separate = channels == "separate" and x.ndim == 3
    c = x.shape[2] if x.ndim == 3 else 1
    out_shape = (ho, wo, c) if separate else (ho, wo)
    if ho == 0 or wo == 0:
        return np.zeros(out_shape, np.float32)
    check_conv_memory(x, k, pads, out_shape, separate)
    out = np.empty(out_shape, np.float32)
    if strides == (1, 1):
        _conv_stride1(x, k, pads, border, separate, b, out, dil)
    else:
        _conv_strided(x, k, strides, pads, border, separate, b, out, dil)
    return out


def _plane_source(plane: np.ndarray, pads, border: str):
    """Band source of a 2-D plane after padding (a copy only when padding is needed)."""
    return rows_of(np.ascontiguousarray(pad(plane, pads, border)))


def _channel_source(x: np.ndarray, ch: int, pads, border: str):
    """Band source of channel ``ch`` of ``(H, W, C)``: its padded plane, or without padding
    its rows copied band by band (no whole-plane copy)."""
    if any(pads[0] + pads[1]):
        return _plane_source(x[:, :, ch], pads, border)
    return rows_copied(x, ch)


def _conv_stride1(x, k, pads, border, separate, bias, out, dilation) -> None:
    """Stride 1: the banded flat-slice engine, with the cheapest band source for each case."""
    padded = any(pads[0] + pads[1])
    h, w = x.shape[:2]
    wp = w + pads[1][0] + pads[1][1]
    kh, kw = k.shape[:2]
    ho, wo = out.shape[:2]
    cpp = 1
    if x.ndim == 2:
        outputs = [(out, [(_plane_source(x, pads, border), taps(k))])]
    elif separate and k.ndim == 2:
        # one kernel for every channel, each filtered on its own: work on the interleaved
        # pixels directly (no channel is copied out, the result is written in place)
        cpp = x.shape[2]
        xs = np.ascontiguousarray(pad(x, pads, border))
        src = rows_of(xs.reshape(xs.shape[0], -1))
        outputs = [(out.reshape(ho, wo * cpp), [(src, taps(k))])]
    elif separate:
        outputs = [(out[:, :, ch], [(_channel_source(x, ch, pads, border), taps(k[:, :, ch]))])
                   for ch in range(x.shape[2])]
    elif k.ndim == 2:
        # one kernel for every channel, summed: add the channels first (exact algebra, a
        # third of the work); without padding this happens band by band, in cache
        if x.shape[2] == 1:
            src = _plane_source(x[:, :, 0], pads, border)
        elif padded:
            src = _plane_source(sum_channels(x), pads, border)
        else:
            src = rows_summed(x)
        outputs = [(out, [(src, taps(k))])]
    else:
        terms = [(_channel_source(x, ch, pads, border), taps(k[:, :, ch]))
                 for ch in range(x.shape[2])]
        outputs = [(out, terms)]
    flat_correlate(outputs, wp, (kh, kw), (ho, wo), bias, cpp, dilation)


def _conv_strided(x, k, strides, pads, border, separate, bias, out, dilation) -> None:
    """Stride > 1: strided views of the padded input, one band at a time (simpler path)."""
    ho, wo = out.shape[:2]
    c = x.shape[2] if x.ndim == 3 else 1
    if x.ndim == 2 or (separate and k.ndim == 2):
        correlate_plane(pad(x, pads, border), k, strides, out, dilation)
    elif separate:
        o = np.empty((ho, wo), np.float32)
        for ch in range(c):
            correlate_plane(pad(x[:, :, ch], pads, border), k[:, :, ch], strides, o, dilation)
            out[:, :, ch] = o
    elif k.ndim == 2:
        correlate_plane(pad(sum_channels(x), pads, border), k, strides, out, dilation)
    else:
        acc = np.empty((ho, wo), np.float32)
        for ch in range(c):
            dest = out if ch == 0 else acc
            correlate_plane(pad(x[:, :, ch], pads, border), k[:, :, ch], strides, dest, dilation)
            if ch:
                np.add(out, acc, out=out)
    if bias != 0.0:
        np.add(out, np.float32(bias), out=out)
