"""The layer form: a batch through a bank of filters, and the gradients a model needs.

:func:`conv2d_layer` is what ``ops.conv2d`` does with a 4-D kernel: a batch ``(N, H, W, Cin)``
and a kernel ``(kh, kw, Cin, Cout)`` give ``(N, H', W', Cout)`` (Keras' NHWC layout), with
stride, zero padding (``"valid"``, ``"same"``, ``"full"``, an int or a pair) and dilation,
plus a bias per filter:

``y[n, i, j, f] = bias[f] + sum_{a, b, c} xp[n, i sy + a dy, j sx + b dx, c] K[a, b, c, f]``

where ``xp`` is the input with ``pad_amounts`` zeros around it (cross-correlation, as Keras
and PyTorch compute it). :func:`conv2d_grads` gives ``dL/dx``, ``dL/dK`` and ``dL/dbias``
from ``dL/dy``.

How: im2col + GEMM. The windows are a strided view ``(N, H', W', kh, kw, Cin)`` of the
(padded) input, copied into a patch matrix ``(N H' W', kh kw Cin)`` (channels innermost,
the order of ``K.reshape(kh kw Cin, Cout)``) and multiplied by the kernel matrix. The rule
for the GEMM's size is a rule on sizes, never a timing:

* patch matrix up to :data:`WHOLE_BYTES`: one GEMM over the whole batch. This is exactly
  what ``convdemo.model.Conv2D`` computes (bit for bit: OpenBLAS's rounding depends on the
  GEMM's shape, so chunking a small batch would change the last bits);
* larger (big images): chunks of about :data:`CHUNK_BYTES` of patches (whole images, or
  whole output rows of one image) copied into one reused buffer, so no giant patch matrix
  is ever made. Same values to float32 rounding.

The gradients (``g = dL/dy`` reshaped to ``(N H' W', Cout)``):

* ``dbias = g.sum(axis=0)``;
* ``dK = patches.T @ g`` (the same whole-or-chunks rule);
* ``dx`` is the transposed convolution of ``g``: for each tap ``(a, b)`` in order,
  ``g @ K[a, b].T`` is added into the padded input's gradient at rows ``i sy + a dy`` and
  columns ``j sx + b dx``, then the padding is cut off.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from convdemo import budget
from convdemo.limits import MAX_KERNEL_SIDE
from convdemo.ops.shapes import conv_sizes
from convdemo.ops.validation import (
    as_float32,
    check_memory,
    finite_weights,
    flag,
    paddings,
    pair,
)

#: patch matrices up to this size are multiplied in one GEMM (the model's batches: at most
#: about 70 MB, the deep model's second layer on a predict batch of 500)
WHOLE_BYTES = 128 << 20
#: above it, patches are made and multiplied this many bytes at a time
CHUNK_BYTES = 16 << 20


class Plan:
    """A checked layer convolution: the input, the kernel and every size derived from them."""

    def __init__(self, x, kernel, stride, padding, dilation):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(
                f"x must have 4 dimensions (N, H, W, C_in) for a (kh, kw, C_in, C_out) kernel, "
                f"not {x.ndim} (shape {x.shape})"
            )
        if 0 in x.shape[1:]:
            raise ValueError(f"x must have at least 1 row, column and channel, not {x.shape}")
        self.x = as_float32(x, "x")
        try:
            k = np.asarray(kernel, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"kernel must be an array of numbers ({exc})") from None
        if k.ndim != 4:
            raise ValueError(f"kernel must have 4 dimensions (kh, kw, C_in, C_out), not {k.shape}")
        kh, kw, cin, cout = k.shape
        if not (1 <= kh <= MAX_KERNEL_SIDE and 1 <= kw <= MAX_KERNEL_SIDE) or cout < 1:
            raise ValueError(
                f"kernel sides must be 1 to {MAX_KERNEL_SIDE} with at least 1 filter, not "
                f"shape {k.shape}"
            )
        if cin != x.shape[3]:
            raise ValueError(
                f"kernel has C_in = {cin} but x has {x.shape[3]} channel"
                f"{'s' if x.shape[3] != 1 else ''}; give a kernel of shape "
                f"({kh}, {kw}, {x.shape[3]}, {cout})"
            )
        finite_weights(k)
        self.kernel = k.astype(np.float32)
        self.strides = pair(stride, "stride")
        self.dilations = pair(dilation, "dilation")
        n, h, w, _ = x.shape
        self.pads, (self.ho, self.wo) = conv_sizes(
            (h, w), (kh, kw), self.strides, paddings(padding), self.dilations
        )
        self.n, self.h, self.w, self.cin, self.cout, self.kh, self.kw = n, h, w, cin, cout, kh, kw

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.ho, self.wo, self.cout)

    @property
    def padded_hw(self) -> tuple[int, int]:
        return (self.h + sum(self.pads[0]), self.w + sum(self.pads[1]))

    @property
    def patch_cols(self) -> int:
        return self.kh * self.kw * self.cin

    def kernel_matrix(self) -> np.ndarray:
        """``(kh kw Cin, Cout)``, rows in the patches' order."""
        return self.kernel.reshape(self.patch_cols, self.cout)

    def padded(self) -> np.ndarray:
        """The input with its zero padding (the input itself when there is none)."""
        (t, b), (lft, r) = self.pads
        if not (t or b or lft or r):
            return self.x
        return np.pad(self.x, ((0, 0), (t, b), (lft, r), (0, 0)))

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """Read-only view ``(N, H', W', kh, kw, Cin)`` of the windows of the padded input."""
        (sy, sx), (dy, dx) = self.strides, self.dilations
        s0, s1, s2, s3 = xp.strides
        shape = (self.n, self.ho, self.wo, self.kh, self.kw, self.cin)
        return as_strided(xp, shape, (s0, s1 * sy, s2 * sx, s1 * dy, s2 * dx, s3),
                          writeable=False)

    def patch_blocks(self, xp: np.ndarray):
        """The patch matrix in blocks, by the rule in the module's docstring.

        Yields ``(m0, m1, patches)``: rows ``[m0, m1)`` of the whole patch matrix
        ``(N H' W', kh kw Cin)`` (whole images, or whole output rows of one image), as a
        C-contiguous float32 array. One block is a fresh copy of the window view (what
        ``model.im2col`` makes); several share one reused buffer.
        """
        win = self.windows(xp)
        k, per_image = self.patch_cols, self.ho * self.wo
        per_row_bytes = self.wo * k * 4
        if per_image * self.n * k * 4 <= WHOLE_BYTES:
            yield 0, self.n * per_image, win.reshape(-1, k)
            return
        if per_image * k * 4 <= CHUNK_BYTES:
            step = CHUNK_BYTES // (per_image * k * 4)
            blocks = [(n0, min(self.n, n0 + step), 0, self.ho) for n0 in range(0, self.n, step)]
        else:
            rows = max(1, CHUNK_BYTES // per_row_bytes)
            blocks = [(i, i + 1, r0, min(self.ho, r0 + rows))
                      for i in range(self.n) for r0 in range(0, self.ho, rows)]
        buf = np.empty(max((n1 - n0) * (r1 - r0) * self.wo * k for n0, n1, r0, r1 in blocks),
                       np.float32)
        for n0, n1, r0, r1 in blocks:
            m0 = n0 * per_image + r0 * self.wo
            block = win[n0:n1, r0:r1]
            patches = buf[: block.size].reshape(block.shape)
            np.copyto(patches, block)
            yield m0, m0 + block.size // k, patches.reshape(-1, k)

    def check_budget(self, what: str, grads: bool = False) -> None:
        """:func:`convdemo.budget.check` for the padded copy, the patches and the results."""
        hp, wp = self.padded_hw
        padded = budget.array_bytes((self.n, hp, wp, self.cin)) if (hp, wp) != (self.h, self.w) \
            else 0
        m = self.n * self.ho * self.wo
        patches = m * self.patch_cols * 4
        if patches > WHOLE_BYTES:
            patches = CHUNK_BYTES + self.patch_cols * 4
        if grads:  # dx padded, one tap's product, dK
            results = padded or budget.array_bytes(self.x.shape)
            results += budget.array_bytes((m, self.cin)) + self.kernel.nbytes
        else:
            results = budget.array_bytes(self.out_shape)
        check_memory(padded + patches + results,
                     f"{what} ({self.n}x{self.h}x{self.w}x{self.cin} input, "
                     f"{self.n}x{self.ho}x{self.wo}x{self.cout} output, float32)")


def bias_vector(bias, cout: int) -> np.ndarray | None:
    """``None`` for no bias, else a float32 ``(Cout,)`` vector (a number is broadcast)."""
    if bias is None or (np.ndim(bias) == 0 and not isinstance(bias, str) and _is_zero(bias)):
        return None
    try:
        b = np.asarray(bias, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"bias must be a number or an array of shape ({cout},), not {bias!r}") \
            from None
    if b.ndim == 0:
        b = np.full(cout, float(b))
    if b.shape != (cout,):
        raise ValueError(f"bias must have shape ({cout},), one per filter, not {b.shape}")
    finite_weights(b, "bias")
    return b.astype(np.float32)


def _is_zero(value) -> bool:
    try:
        return float(value) == 0.0
    except (TypeError, ValueError):
        return False


def conv2d_layer(x, kernel, *, stride=1, padding="valid", dilation=1, bias=None) -> np.ndarray:
    """A batch through a bank of filters: ``(N, H, W, Cin) -> (N, H', W', Cout)``.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C_in)
        The batch (float32; other floats are converted, integers scaled to 0..1).
    kernel : array_like, shape (kh, kw, C_in, C_out)
        Keras' layout: ``kernel[:, :, :, f]`` is filter ``f``. Sides 1 to 15, finite values.
    stride, dilation : int or (int, int)
        As for :func:`convdemo.ops.conv2d`, each >= 1.
    padding : {"valid", "same", "full"}, int or (int, int), default "valid"
        Zeros, with the amounts of :func:`convdemo.ops.pad_amounts` (``"same"`` is
        TensorFlow's rule, an int PyTorch's).
    bias : None, float or array_like of shape (C_out,)
        Added to filter ``f``'s output.

    Returns
    -------
    numpy.ndarray, float32, shape (N, H', W', C_out)
        ``H'``, ``W'`` as :func:`convdemo.ops.output_shape` gives them (0 when the
        effective kernel does not fit: an empty array).

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    >>> k = np.ones((2, 2, 1, 2), np.float32)
    >>> conv2d_layer(x, k, stride=2, bias=[0, 100])[0, :, :, 1].tolist()
    [[110.0, 118.0], [142.0, 150.0]]
    """
    plan = Plan(x, kernel, stride, padding, dilation)
    b = bias_vector(bias, plan.cout)
    out = np.empty(plan.out_shape, np.float32)
    if out.size == 0:
        return out
    plan.check_budget("the layer convolution")
    km = plan.kernel_matrix()
    flat = out.reshape(-1, plan.cout)
    for m0, m1, patches in plan.patch_blocks(plan.padded()):
        np.matmul(patches, km, out=flat[m0:m1])
    if b is not None:
        flat += b
    return out


def conv2d_grads(x, kernel, grad_out, *, stride=1, padding="valid", dilation=1,
                 input_grad=True):
    """Gradients of :func:`conv2d_layer` (bias included): ``(dx, dkernel, dbias)``.

    Parameters
    ----------
    x, kernel, stride, padding, dilation
        As given to :func:`conv2d_layer`.
    grad_out : array_like, shape (N, H', W', C_out)
        ``dL/dy`` for the layer's output ``y`` (after any activation's own backward).
    input_grad : bool, default True
        ``False`` skips ``dx`` (a first layer needs none) and returns ``None`` for it.

    Returns
    -------
    dx : numpy.ndarray, float32, shape (N, H, W, C_in), or None
        ``dL/dx``: the transposed convolution of ``grad_out`` (stride ``s`` and dilation
        ``d`` of the forward pass; padded cells' gradients dropped). Input cells no window
        reads get 0.
    dkernel : numpy.ndarray, float32, shape (kh, kw, C_in, C_out)
        ``dL/dK[a, b, c, f] = sum_{n, i, j} xp[n, i sy + a dy, j sx + b dx, c] g[n, i, j, f]``.
    dbias : numpy.ndarray, float32, shape (C_out,)
        ``sum_{n, i, j} g[n, i, j, f]``.

    Examples
    --------
    >>> x = np.ones((1, 3, 3, 1), np.float32)
    >>> dx, dk, db = conv2d_grads(x, np.ones((2, 2, 1, 1)), np.ones((1, 2, 2, 1)))
    >>> dx[0, :, :, 0].tolist(), dk[:, :, 0, 0].tolist(), db.tolist()
    ([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], [[4.0, 4.0], [4.0, 4.0]], [4.0])
    """
    plan = Plan(x, kernel, stride, padding, dilation)
    input_grad = flag(input_grad, "input_grad")
    g = np.asarray(grad_out)
    if g.shape != plan.out_shape:
        raise ValueError(
            f"grad_out must have the layer's output shape {plan.out_shape}, not {g.shape}"
        )
    plan.check_budget("the layer convolution's gradients", grads=True)
    g2 = np.ascontiguousarray(as_float32(g, "grad_out")).reshape(-1, plan.cout)
    dbias = g2.sum(axis=0)
    if g2.shape[0] == 0:
        dk = np.zeros(plan.kernel.shape, np.float32)
        dx = np.zeros(plan.x.shape, np.float32) if input_grad else None
        return dx, dk, dbias.astype(np.float32)
    xp = plan.padded()
    dk = None
    for m0, m1, patches in plan.patch_blocks(xp):
        part = patches.T @ g2[m0:m1]
        dk = part if dk is None else np.add(dk, part, out=dk)
    dk = dk.reshape(plan.kernel.shape)
    dx = _input_grad(plan, g2, xp.shape) if input_grad else None
    return dx, dk, dbias


def _input_grad(plan: Plan, g2: np.ndarray, padded_shape) -> np.ndarray:
    """The transposed convolution of ``g2``: each tap's ``g @ K[a, b].T`` added, in tap
    order, where that tap read the padded input; then the padding cut off."""
    (sy, sx), (dy, dx) = plan.strides, plan.dilations
    ho, wo = plan.ho, plan.wo
    grad = np.zeros(padded_shape, np.float32)
    for a in range(plan.kh):
        for b in range(plan.kw):
            tap = (g2 @ plan.kernel[a, b].T).reshape(plan.n, ho, wo, plan.cin)
            y0, x0 = a * dy, b * dx
            grad[:, y0 : y0 + (ho - 1) * sy + 1 : sy, x0 : x0 + (wo - 1) * sx + 1 : sx] += tap
    (t, _), (lft, _) = plan.pads
    if grad.shape[1:3] == (plan.h, plan.w):
        return grad
    return np.ascontiguousarray(grad[:, t : t + plan.h, lft : lft + plan.w])
