"""Training throughput of the numpy CNN, in images per second (the goal for `seed`: >= 2,500).

    python benchmarks/bench_train.py [--arch seed|deep] [--batches N] [--runs R] [--no-torch]

Each timed run is N full training steps (forward with dropout, cross-entropy, backward, Adam)
on batches of 128 real MNIST images when ../shared/data/mnist (or $CONVDEMO_MNIST) is there,
random images otherwise; the figure is the median over R runs after one warm-up run.

When PyTorch happens to be importable (it is never a dependency of convdemo), the same model
is trained the same way with torch on the same batches in the same process, as a reference
ratio. The numbers depend on the machine and on what else runs on it: the script prints the
thread settings it saw.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convdemo import model as cnn  # noqa: E402
from convdemo import train  # noqa: E402

BATCH = 128


def _batches(n_batches: int, seed: int = 0):
    mnist = Path(
        os.environ.get("CONVDEMO_MNIST", Path(__file__).resolve().parents[2] / "shared/data/mnist")
    )
    rng = np.random.default_rng(seed)
    try:
        from convdemo import datasets

        (x, y), _ = datasets.load("mnist", mnist)
        source = f"MNIST from {mnist}"
    except (OSError, ValueError):
        x = (rng.random((n_batches * BATCH, 28, 28)) * 255).astype(np.uint8)
        y = rng.integers(0, 10, n_batches * BATCH).astype(np.uint8)
        source = "random images (MNIST not found)"
    idx = rng.permutation(len(x))[: n_batches * BATCH].reshape(n_batches, BATCH)
    return [(x[i], y[i]) for i in idx], source


def bench_numpy(arch: str, batches, runs: int) -> list[float]:
    m = cnn.build(arch, seed=0)
    opt = train.Adam(m)
    rng = np.random.default_rng(0)
    prepared = [(train._to_float(xb[..., None]), yb.astype(np.int64)) for xb, yb in batches]
    rates = []
    for run in range(runs + 1):  # run 0 is the warm-up
        start = time.perf_counter()
        for xb, yb in prepared:
            train.train_step(m, xb, yb, rng)
            opt.step()
        if run:
            rates.append(len(prepared) * BATCH / (time.perf_counter() - start))
    return rates


def bench_torch(arch: str, batches, runs: int) -> list[float] | None:
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2)]
    flat = 13 * 13 * 32
    if arch == "deep":
        layers += [nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2)]
        flat = 5 * 5 * 64
    layers += [nn.Dropout(0.4), nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(0.4),
               nn.Linear(128, 10)]
    net = nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    prepared = [
        (torch.from_numpy(xb[:, None].astype(np.float32) / 255),
         torch.from_numpy(yb.astype(np.int64)))
        for xb, yb in batches
    ]
    net.train()
    rates = []
    for run in range(runs + 1):
        start = time.perf_counter()
        for xb, yb in prepared:
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()
        if run:
            rates.append(len(prepared) * BATCH / (time.perf_counter() - start))
    return rates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=cnn.ARCHS, default="seed")
    parser.add_argument("--batches", type=int, default=40, help="training steps per timed run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (after one warm-up)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    args = parser.parse_args(argv)

    batches, source = _batches(args.batches)
    env = {k: os.environ[k] for k in sorted(os.environ) if "OPENBLAS" in k or "OMP_" in k}
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, env {env or '{}'}")
    print(f"arch {args.arch}, batch {BATCH}, {args.batches} steps x {args.runs} runs, {source}")

    rates = bench_numpy(args.arch, batches, args.runs)
    med = statistics.median(rates)
    print(f"convdemo numpy: {med:,.0f} images/s (median; runs: "
          f"{', '.join(f'{r:,.0f}' for r in rates)})")
    if not args.no_torch:
        ref = bench_torch(args.arch, batches, args.runs)
        if ref is None:
            print("torch: not importable, no reference")
        else:
            import torch

            tmed = statistics.median(ref)
            print(f"torch {torch.__version__} ({torch.get_num_threads()} threads): {tmed:,.0f} "
                  f"images/s (median); numpy/torch = {med / tmed:.2f}")
    goal = 2500
    if args.arch == "seed":
        print(f"goal >= {goal:,} images/s: {'met' if med >= goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
