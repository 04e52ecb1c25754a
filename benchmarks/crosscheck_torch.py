"""Cross-check of convdemo.ops against PyTorch (a script, not a test: torch is never a
dependency, and no test imports it).

    python benchmarks/crosscheck_torch.py [--cases N] [--seed S]

Random cases, PyTorch in float64 as the truth, convdemo in float32:

* the layer form ``ops.conv2d(x (N,H,W,Cin), K (kh,kw,Cin,Cout), stride, padding, dilation,
  bias)`` against ``torch.nn.functional.conv2d`` (NCHW, weight (Cout,Cin,kh,kw));
* ``ops.conv2d_grads`` against autograd: ``(y * g).sum().backward()`` gives dL/dx, dL/dK and
  dL/dbias for ``dL/dy = g``;
* the image form ``ops.conv2d(image (H,W,C), kernel (kh,kw) or (kh,kw,C), border, channels,
  dilation, stride)`` against ``F.pad`` (reflect, replicate, circular = convdemo's reflect,
  replicate, wrap) and ``F.conv2d`` (``groups=C`` for channels="separate").

Padding: an int or a pair is PyTorch's own ``padding=``; ``"valid"`` is ``padding=0``;
``"same"`` with stride 1 is PyTorch's ``padding="same"``; ``"same"`` with a larger stride
(TensorFlow's rule, which PyTorch does not offer) and ``"full"`` are given to PyTorch as the
explicit amounts of the rule (``F.pad``), so there the cross-check covers the convolution and
the amounts come from :func:`convdemo.ops.pad_amounts` (checked against the formulas in
tests/test_ops_hypothesis.py).

Prints the number of cases and, for each quantity, the largest absolute difference and the
largest difference relative to the sum of |terms| behind that element (what float32 rounding
of a sum is proportional to; PyTorch computes it from |x|, |K|, |bias| and |g|); exits 1 if
that is above 1e-5 anywhere.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convdemo import ops  # noqa: E402

LIMIT = 1e-5
TORCH_MODE = {"reflect": "reflect", "replicate": "replicate", "wrap": "circular"}


def torch_padding(n_hw, k_hw, strides, dilations, padding):
    """``(padding for F.conv2d, explicit (left, right, top, bottom) for F.pad or None)``."""
    pads = padding if isinstance(padding, tuple) else (padding, padding)
    if all(isinstance(p, int) for p in pads):
        return pads, None
    if padding == "valid":
        return 0, None
    if padding == "same" and strides == (1, 1):
        return "same", None
    (t, b), (lft, r) = (ops.pad_amounts(n, k, s, p, dilation=d) for n, k, s, p, d in
                        zip(n_hw, k_hw, strides, pads, dilations, strict=True))
    return 0, (lft, r, t, b)


def tensor(torch, a, requires_grad=False):
    """A contiguous float64 torch tensor of ``a`` (the truth is computed in float64)."""
    return torch.tensor(np.ascontiguousarray(a, np.float64), requires_grad=requires_grad)


def diffs(ours, theirs, magnitude) -> tuple[float, float]:
    """``(max |ours - theirs|, max |ours - theirs| / magnitude)``, where ``magnitude`` is the
    sum of |terms| behind each element (the scale of float32 rounding in a sum, which stays
    meaningful when the terms cancel)."""
    theirs = np.asarray(theirs, np.float64)
    error = np.abs(ours.astype(np.float64) - theirs)
    relative = error / np.maximum(np.asarray(magnitude, np.float64), 1e-30)
    return float(error.max(initial=0.0)), float(relative.max(initial=0.0))


def torch_layer(torch, F, x, k, b, g, conv_pad, explicit, stride, dilation):
    """PyTorch's y, dx, dK and dbias (NHWC / HWIO), float64."""
    tx = tensor(torch, x.transpose(0, 3, 1, 2), requires_grad=True)
    tk = tensor(torch, k.transpose(3, 2, 0, 1), requires_grad=True)
    tb = tensor(torch, b, requires_grad=True)
    inp = tx if explicit is None else F.pad(tx, explicit)
    ty = F.conv2d(inp, tk, tb, stride=stride, padding=conv_pad, dilation=dilation)
    (ty * tensor(torch, g.transpose(0, 3, 1, 2))).sum().backward()
    return (ty.detach().numpy().transpose(0, 2, 3, 1), tx.grad.numpy().transpose(0, 2, 3, 1),
            tk.grad.numpy().transpose(2, 3, 1, 0), tb.grad.numpy())


def as_pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def draw_geometry(rng):
    stride = int(rng.integers(1, 4)) if rng.random() < 0.6 else tuple(rng.integers(1, 4, 2))
    dilation = int(rng.integers(1, 4)) if rng.random() < 0.6 else tuple(rng.integers(1, 4, 2))
    kind = rng.integers(0, 5)
    padding = ["valid", "same", "full"][kind] if kind < 3 else (
        int(rng.integers(0, 4)) if kind == 3 else tuple(int(p) for p in rng.integers(0, 4, 2)))
    stride = tuple(int(s) for s in stride) if isinstance(stride, tuple) else stride
    dilation = tuple(int(d) for d in dilation) if isinstance(dilation, tuple) else dilation
    return stride, padding, dilation


def layer_case(rng, torch, F):
    n, cin, cout = (int(v) for v in (rng.integers(1, 4), rng.integers(1, 5), rng.integers(1, 5)))
    h, w = (int(v) for v in rng.integers(1, 14, 2))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    stride, padding, dilation = draw_geometry(rng)
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    k = rng.standard_normal((kh, kw, cin, cout)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    y = ops.conv2d(x, k, stride=stride, padding=padding, dilation=dilation, bias=b)
    if 0 in y.shape:
        return None
    g = rng.standard_normal(y.shape).astype(np.float32)
    dx, dk, db = ops.conv2d_grads(x, k, g, stride=stride, padding=padding, dilation=dilation)

    conv_pad, explicit = torch_padding((h, w), (kh, kw), as_pair(stride), as_pair(dilation),
                                       padding)
    geometry = (conv_pad, explicit, stride, dilation)
    truth = torch_layer(torch, F, x, k, b, g, *geometry)
    # the same sums over |terms|: y of |x|, |K|, |b|; the gradients of that with |g|
    scale = torch_layer(torch, F, np.abs(x), np.abs(k), np.abs(b), np.abs(g), *geometry)
    return {name: diffs(ours, want, mag) for name, ours, want, mag in
            zip(("y", "dx", "dkernel", "dbias"), (y, dx, dk, db), truth, scale, strict=True)}


def image_case(rng, torch, F):
    c = int(rng.choice([1, 3]))
    h, w = (int(v) for v in rng.integers(1, 16, 2))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    stride, padding, dilation = draw_geometry(rng)
    border = str(rng.choice(ops.BORDERS))
    channels = str(rng.choice(ops.CHANNEL_MODES))
    per_channel = channels == "sum" and rng.random() < 0.5
    image = rng.random((h, w, c), dtype=np.float32)
    kernel = rng.standard_normal((kh, kw, c) if per_channel else (kh, kw)).astype(np.float32)
    bias = float(rng.standard_normal())
    try:
        ours = ops.conv2d(image, kernel, stride=stride, padding=padding, border=border,
                          channels=channels, dilation=dilation, bias=bias)
    except ValueError:
        return None
    if 0 in ours.shape:
        return None
    conv_pad, explicit = torch_padding((h, w), (kh, kw), as_pair(stride), as_pair(dilation),
                                       padding)
    if explicit is None:  # pad by F.pad in every case (the borders need it)
        (t, b), (lft, r) = (ops.pad_amounts(n, k, s, p, dilation=d) for n, k, s, p, d in
                            zip((h, w), (kh, kw), as_pair(stride), as_pair(padding),
                                as_pair(dilation), strict=True))
        explicit = (lft, r, t, b)
    lft, r, t, b = explicit
    tx = tensor(torch, image.transpose(2, 0, 1)[None])
    if border == "zeros":
        tx = F.pad(tx, explicit)
    else:
        # PyTorch's reflect and circular need the padding to be smaller than the input;
        # pad in steps (each one a valid F.pad) as numpy does
        while any(explicit):
            step = tuple(min(p, tx.shape[3 if i < 2 else 2] - (border == "reflect"))
                         for i, p in enumerate(explicit))
            if not any(step):  # a 1-pixel side reflects to itself: replicate it
                step = tuple(min(p, 1) for p in explicit)
                tx = F.pad(tx, step, mode="replicate")
            else:
                tx = F.pad(tx, step, mode=TORCH_MODE[border])
            explicit = tuple(p - q for p, q in zip(explicit, step, strict=True))
    k3 = kernel if kernel.ndim == 3 else np.repeat(kernel[:, :, None], c, axis=2)
    if channels == "separate":
        weight = tensor(torch, k3.transpose(2, 0, 1)[:, None])
        groups = c
    else:
        weight = tensor(torch, k3.transpose(2, 0, 1)[None])
        groups = 1
    results = []
    for inp, wt, b in ((tx, weight, bias), (tx.abs(), weight.abs(), abs(bias))):
        ty = F.conv2d(inp, wt, None, stride=stride, padding=0, dilation=dilation, groups=groups)
        out = ty[0].numpy().transpose(1, 2, 0) + b
        results.append(out[:, :, 0] if ours.ndim == 2 else out)
    return {"image y": diffs(ours, *results)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("crosscheck_torch needs PyTorch (a reference only): pip install torch",
              file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore", message="Using padding='same'")  # a speed note only
    rng = np.random.default_rng(args.seed)
    worst: dict[str, tuple[float, float]] = {}
    counts = {"layer": 0, "image": 0}
    for i in range(args.cases):
        kind = "layer" if i % 2 == 0 else "image"
        result = (layer_case if kind == "layer" else image_case)(rng, torch, F)
        if result is None:
            continue
        counts[kind] += 1
        for name, (absolute, relative) in result.items():
            old_abs, old_rel = worst.get(name, (0.0, 0.0))
            worst[name] = (max(old_abs, absolute), max(old_rel, relative))
    print(f"torch {torch.__version__}, numpy {np.__version__}; seed {args.seed}")
    print(f"cases compared: {counts['layer']} layer form (forward and autograd gradients), "
          f"{counts['image']} image form (cases where nothing fits are skipped)")
    print(f"  {'':8s} {'max |ours - torch|':>20s} {'/ sum of |terms|':>20s}")
    for name, (absolute, relative) in worst.items():
        print(f"  {name:8s} {absolute:20.2e} {relative:20.2e}")
    bad = [name for name, (_, relative) in worst.items() if relative > LIMIT]
    print("all within 1e-5" if not bad else f"ABOVE 1e-5: {', '.join(bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
