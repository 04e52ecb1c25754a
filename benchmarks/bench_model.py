"""How long one 28x28 image takes through every layer (Model.activations), the side panel's
cost per update. The goal for both architectures: at most 2 ms.

    python benchmarks/bench_model.py [--runs N]

Prints, for ``seed`` and ``deep``, the median over N timed calls (after a warm-up) of
``activations`` on one image and of ``predict`` on a batch of 10,000, and the ratio of the
one-image time to the 2 ms goal. A script, not a test: timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from convdemo import model as cnn

GOAL_S = 0.002


def median_time(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    one = rng.random((1, 28, 28), dtype=np.float32)
    many = rng.random((10_000, 28, 28), dtype=np.float32)
    for arch in ("seed", "deep"):
        m = cnn.build(arch)
        t_one = median_time(lambda m=m: m.activations(one), args.runs)
        t_many = median_time(lambda m=m: m.predict(many), max(3, args.runs // 50))
        print(
            f"{arch:5s} activations, 1 image: median {t_one * 1e3:.3f} ms over {args.runs} runs "
            f"({t_one / GOAL_S:.2f}x the 2 ms goal) | predict 10,000: {t_many:.2f} s "
            f"({10_000 / t_many:,.0f} img/s)"
        )


if __name__ == "__main__":
    main()
