"""Output sizes and padding amounts, without computing anything.

Output size along one axis of length ``n`` with kernel (or window) size ``k``, dilation ``d``
and stride ``s``, after ``before + after`` padded cells, is
``floor((n + before + after - ke) / s) + 1`` with the effective kernel ``ke = (k - 1) d + 1``
(the span of a kernel whose taps are ``d`` cells apart), or 0 when it does not fit at all
(``n + before + after < ke``). This is PyTorch's formula
``floor((n + 2p - d (k - 1) - 1) / s) + 1`` and TensorFlow's.
"""

from __future__ import annotations

import numpy as np

from convdemo.ops.validation import (
    CHANNEL_MODES,
    as_kernel,
    choice,
    fail,
    flag,
    is_int,
    paddings,
    pair,
)


def effective_size(k: int, d: int) -> int:
    """The span of a kernel of ``k`` taps ``d`` cells apart: ``(k - 1) d + 1``."""
    return (int(k) - 1) * int(d) + 1


def pad_amounts(n: int, k: int, s: int, padding, *, dilation: int = 1) -> tuple[int, int]:
    """Padded cells ``(before, after)`` along one axis.

    Parameters
    ----------
    n : int
        Input length along the axis (>= 0).
    k : int
        Kernel or window size along the axis (>= 1).
    s : int
        Stride along the axis (>= 1).
    padding : {"valid", "same", "full"} or int
        With the effective kernel ``ke = (k - 1) * dilation + 1``: ``"valid"``: ``(0, 0)``.
        ``"same"`` (TensorFlow): ``out = ceil(n / s)``,
        ``total = max((out - 1) * s + ke - n, 0)``, ``before = total // 2``,
        ``after = total - before``. ``"full"``: ``(ke - 1, ke - 1)``. An int ``p``: ``(p, p)``
        (PyTorch).
    dilation : int, default 1
        Spacing ``d`` between kernel taps (>= 1).

    Returns
    -------
    (before, after) : tuple of int

    Examples
    --------
    >>> pad_amounts(6, 3, 2, "same"), pad_amounts(5, 3, 2, "same")
    ((0, 1), (1, 1))
    >>> pad_amounts(7, 3, 1, "same", dilation=2), pad_amounts(7, 3, 1, "full", dilation=2)
    ((2, 2), (4, 4))
    """
    n, k, s, d = int(n), int(k), int(s), int(dilation)
    if n < 0 or k < 1 or s < 1 or d < 1:
        raise ValueError(
            f"pad_amounts needs n >= 0, k >= 1, s >= 1 and dilation >= 1, not n={n}, k={k}, "
            f"s={s}, dilation={d}"
        )
    if not isinstance(padding, str) and not is_int(padding):
        raise fail("padding", "one axis's padding: 'valid', 'same', 'full' or an int >= 0",
                   padding)
    (p, _) = paddings(padding)
    ke = effective_size(k, d)
    if p == "valid":
        return (0, 0)
    if p == "full":
        return (ke - 1, ke - 1)
    if p == "same":
        out = -(-n // s)
        total = max((out - 1) * s + ke - n, 0)
        return (total // 2, total - total // 2)
    return (p, p)


def out_len(n: int, k: int, s: int, before: int, after: int) -> int:
    """``floor((n + before + after - k) / s) + 1``, or 0 when the kernel does not fit."""
    span = n + before + after - k
    return span // s + 1 if span >= 0 else 0


def output_shape(
    in_shape, kernel_shape, *, stride=1, padding="valid", channels="sum", dilation=1
) -> tuple:
    """The shape :func:`conv2d` would return, without computing anything.

    Parameters
    ----------
    in_shape : tuple
        ``(H, W)`` or ``(H, W, C)``; for the layer form ``(N, H, W, C_in)``.
    kernel_shape : tuple
        ``(kh, kw)`` or ``(kh, kw, C)``; for the layer form ``(kh, kw, C_in, C_out)``.
    stride, padding, channels, dilation
        As for :func:`conv2d` (``channels`` does not apply to the layer form).

    Returns
    -------
    tuple
        ``(H', W')`` for ``channels="sum"`` or a 2-D image, ``(H', W', C)`` for
        ``channels="separate"``, ``(N, H', W', C_out)`` for the layer form, where
        ``H' = floor((H + before + after - khe) / sy) + 1`` (0 when the kernel does not fit)
        with the effective kernel ``khe = (kh - 1) dy + 1`` and
        ``before, after = pad_amounts(H, kh, sy, padding, dilation=dy)``; likewise ``W'``.

    Examples
    --------
    >>> output_shape((1080, 1920, 3), (3, 3), stride=2, padding="same")
    (540, 960)
    >>> output_shape((300, 400), (3, 3), dilation=2)
    (296, 396)
    >>> output_shape((300, 400), (3, 3), padding=2, dilation=2)
    (300, 400)
    >>> output_shape((64, 28, 28, 1), (3, 3, 1, 32), stride=2, padding="same")
    (64, 14, 14, 32)
    """
    in_shape = tuple(int(d) for d in in_shape)
    kernel_shape = tuple(int(d) for d in kernel_shape)
    strides = pair(stride, "stride")
    dilations = pair(dilation, "dilation")
    pads = paddings(padding)
    if len(kernel_shape) == 4:
        return _layer_output_shape(in_shape, kernel_shape, strides, pads, dilations)
    if len(in_shape) not in (2, 3) or min(in_shape) < 0:
        raise ValueError(f"image shape must be (H, W) or (H, W, C) with sizes >= 0, not {in_shape}")
    cin = in_shape[2] if len(in_shape) == 3 else None
    as_kernel(np.zeros(kernel_shape, np.float32), cin)
    channels = choice(channels, "channels", CHANNEL_MODES)
    ho, wo = conv_sizes(in_shape[:2], kernel_shape[:2], strides, pads, dilations)[1]
    if channels == "separate" and len(in_shape) == 3:
        return (ho, wo, in_shape[2])
    return (ho, wo)


def _layer_output_shape(in_shape, kernel_shape, strides, pads, dilations) -> tuple:
    if len(in_shape) != 4 or min(in_shape) < 0 or min(kernel_shape) < 1:
        raise ValueError(
            f"a (kh, kw, C_in, C_out) kernel needs an input shape (N, H, W, C_in); not "
            f"{in_shape} with kernel {kernel_shape}"
        )
    if kernel_shape[2] != in_shape[3]:
        raise ValueError(
            f"kernel has C_in = {kernel_shape[2]} but the input has {in_shape[3]} channels"
        )
    ho, wo = conv_sizes(in_shape[1:3], kernel_shape[:2], strides, pads, dilations)[1]
    return (in_shape[0], ho, wo, kernel_shape[3])


def conv_sizes(hw, khw, strides, pads, dilations):
    """``(((top, bottom), (left, right)), (H', W'))`` of a convolution, arguments checked.

    ``pads`` is the per-axis padding of :func:`convdemo.ops.validation.paddings`.
    """
    amounts, outs = [], []
    for n, k, s, p, d in zip(hw, khw, strides, pads, dilations, strict=True):
        before, after = pad_amounts(n, k, s, p, dilation=d)
        amounts.append((before, after))
        outs.append(out_len(n, effective_size(k, d), s, before, after))
    return tuple(amounts), tuple(outs)


def pool_plan(hw, size, stride, padding, ceil_mode):
    """Per axis ``(k, s, before, after, out)`` for pooling, with every argument checked."""
    ky, kx = pair(size, "size")
    sy, sx = (ky, kx) if stride is None else pair(stride, "stride")
    allowed = "'valid', 'same', an int >= 0 or a pair (py, px) of them"
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise fail("padding", allowed, padding)
        pads = (padding, padding)
    else:
        try:
            pads = paddings(padding)
        except ValueError:
            raise fail("padding", allowed, padding) from None
    ceil_mode = flag(ceil_mode, "ceil_mode")
    if ceil_mode and pads[0] == "same":
        raise ValueError(
            "ceil_mode must be False with padding='same' (which already rounds up); "
            "use it with padding='valid' or an int"
        )
    plan = []
    for n, k, s, p in zip(hw, (ky, kx), (sy, sx), pads, strict=True):
        if p == "same":
            before, after = pad_amounts(n, k, s, "same")
            out = out_len(n, k, s, before, after) if n > 0 else 0
        else:
            before = after = 0 if p == "valid" else p
            if before > k // 2:
                raise ValueError(
                    f"padding must be at most half the pool size ({k // 2} for size {k}), "
                    f"not {before}, so every window holds a real cell (PyTorch's rule)"
                )
            span = n + 2 * before - k
            if span < 0 or n == 0:
                out = 0
            elif ceil_mode:
                out = -(-span // s) + 1
                if (out - 1) * s >= n + before:  # last window would start in the padding
                    out -= 1
            else:
                out = span // s + 1
        plan.append((k, s, before, after, out))
    return plan


def pool_output_shape(in_shape, size=2, *, stride=None, padding="valid", ceil_mode=False) -> tuple:
    """The shape :func:`pool2d` would return, without computing anything.

    Parameters
    ----------
    in_shape : tuple
        ``(H, W)`` or ``(H, W, C)``.
    size, stride, padding, ceil_mode
        As for :func:`pool2d`.

    Returns
    -------
    tuple
        ``(H', W')`` or ``(H', W', C)``. Per axis of length ``n`` with window ``k`` and
        stride ``s``: ``floor((n - k) / s) + 1`` for ``"valid"``; ``ceil(n / s)`` for
        ``"same"``; ``floor((n + 2p - k) / s) + 1`` for an int ``p``, or with ``ceil_mode``
        ``ceil((n + 2p - k) / s) + 1`` less one if that last window would start in the
        bottom/right padding. 0 when the window does not fit.

    Examples
    --------
    >>> pool_output_shape((5, 5), 2), pool_output_shape((5, 5), 2, padding="same")
    ((2, 2), (3, 3))
    >>> pool_output_shape((5, 5, 8), 2, ceil_mode=True)
    (3, 3, 8)
    """
    in_shape = tuple(int(d) for d in in_shape)
    if len(in_shape) not in (2, 3) or min(in_shape) < 0:
        raise ValueError(f"input shape must be (H, W) or (H, W, C) with sizes >= 0, not {in_shape}")
    plan = pool_plan(in_shape[:2], size, stride, padding, ceil_mode)
    return (plan[0][4], plan[1][4]) + in_shape[2:]
