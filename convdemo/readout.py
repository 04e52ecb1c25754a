"""The words around the shapes: the readout under the views, its formula tooltip, and what
the output view says when nothing is left. Pure Python, shared by the window and the CLI.
"""

from __future__ import annotations

from convdemo.geometry import axis_pads, effective_kernel
from convdemo.pipeline import Settings, output_shapes


def _wxh(shape: tuple) -> str:
    dims = [shape[1], shape[0], *shape[2:]]
    return "×".join(str(d) for d in dims)


def readout(image_shape: tuple, settings: Settings) -> str:
    """The shape readout, e.g. ``1920×1080×3 → conv 3×3, stride 2, same → 960×540``, or
    ``conv 3×3, dilation 2, stride 1, same`` with dilation.

    Sizes are written width×height(×channels), as photo sizes usually are.
    """
    try:
        conv, pooled = output_shapes(image_shape, settings)
    except ValueError as exc:
        return f"{_wxh(tuple(image_shape))} → {exc}"
    kh, kw = settings.kernel_array().shape[:2]
    pad = settings.padding if isinstance(settings.padding, str) else f"pad {settings.padding}"
    parts = [_wxh(tuple(image_shape))]
    if settings.channels == "gray" and len(image_shape) == 3:
        parts.append(f"grey → {image_shape[1]}×{image_shape[0]}")
    dilation = f", dilation {settings.dilation}" if settings.dilation != 1 else ""
    parts.append(f"conv {kw}×{kh}{dilation}, stride {settings.stride}, {pad}")
    parts.append(_wxh(conv))
    if pooled is not None:
        step = settings.pool_stride or settings.pool_size
        parts.append(
            f"{settings.pool} pool {settings.pool_size}"
            + (f", stride {step}" if step != settings.pool_size else "")
        )
        parts.append(_wxh(pooled))
    return " → ".join(parts)


def too_small_message(image_shape: tuple, settings: Settings) -> str:
    """The words the output view shows when the settings leave nothing."""
    kh, kw = settings.kernel_array().shape[:2]
    h, w = image_shape[:2]
    try:
        conv, pooled = output_shapes(image_shape, settings)
    except ValueError as exc:
        return f"Nothing to show: {exc}"
    if conv[0] == 0 or conv[1] == 0:
        kernel = f"{kw}×{kh} kernel"
        smaller = "a smaller kernel"
        if settings.dilation != 1:
            khe, kwe = effective_kernel(settings)
            kernel += f" with dilation {settings.dilation} ({kwe}×{khe} cells wide)"
            smaller = "a smaller kernel or dilation"
        return (f"Nothing left: the {kernel} does not fit in the {w}×{h} image with "
                f"{settings.padding} padding. Choose same or full padding, {smaller}, or "
                "a larger image.")
    return (f"Nothing left: the {conv[1]}×{conv[0]} convolution output is smaller than the "
            f"{settings.pool_size}×{settings.pool_size} pooling window. Turn pooling off or "
            "make it smaller.")


def formula_tooltip(image_shape: tuple, settings: Settings) -> str:
    """The output-size formula with the current numbers filled in.

    With dilation ``d`` > 1 the kernel size in it is the effective kernel
    ``k_eff = (k − 1)·d + 1``, written out first.
    """
    kh, kw = settings.kernel_array().shape[:2]
    s, d = settings.stride, settings.dilation
    try:
        (pt, pb), (pl, pr) = axis_pads(settings, image_shape[0], image_shape[1])
        conv, pooled = output_shapes(image_shape, settings)
    except ValueError as exc:
        return str(exc)
    khe, kwe = effective_kernel(settings)
    if d == 1:
        lines = ["output = ⌊(n + pad_before + pad_after − k) / stride⌋ + 1"]
    else:
        lines = ["output = ⌊(n + pad_before + pad_after − k_eff) / stride⌋ + 1",
                 f"k_eff = (k − 1)·dilation + 1: width ({kw} − 1)·{d} + 1 = {kwe}, "
                 f"height ({kh} − 1)·{d} + 1 = {khe}"]
    for axis, n, k, a, b, out in (("width", image_shape[1], kwe, pl, pr, conv[1]),
                                  ("height", image_shape[0], khe, pt, pb, conv[0])):
        lines.append(f"{axis}: ⌊({n} + {a} + {b} − {k}) / {s}⌋ + 1 = {out}")
    if pooled is not None:
        size = settings.pool_size
        step = settings.pool_stride or size
        lines.append(f"pooling: output = ⌊(n − {size}) / {step}⌋ + 1")
        lines.append(f"width: ⌊({conv[1]} − {size}) / {step}⌋ + 1 = {pooled[1]}")
        lines.append(f"height: ⌊({conv[0]} − {size}) / {step}⌋ + 1 = {pooled[0]}")
    return "\n".join(lines)
