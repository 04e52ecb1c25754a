"""What the explain core costs: the network view's trace, the three attribution maps, one
activation maximisation, and building the top-patches index over a test set.

    python benchmarks/bench_explain.py            # shipped digit models, MNIST if found
    python benchmarks/bench_explain.py --quick    # fewer repeats

Each time is the median over several runs after a warm-up, printed beside a reference
measured in the same run: ``predict`` on one image for the per-image work, ``predict`` on the
same test images for the index (so the ratio says what the index adds to one inference pass).
Uses the shipped models when present, else fresh ones; the index needs MNIST (``--data DIR``
or ``$CONVDEMO_MNIST``), else it runs on 10,000 random images. A script, not a test: on a
shared machine timings are noisy (compare the ratios).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_model import median_time  # noqa: E402  (one timing helper for the benchmarks)

from convdemo import attribution, datasets, maximize, network, patches  # noqa: E402
from convdemo import model as cnn  # noqa: E402


def load(name: str, arch: str):
    try:
        return cnn.load(name)
    except ValueError:
        return cnn.build(arch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default=os.environ.get("CONVDEMO_MNIST"))
    args = parser.parse_args()
    runs = 5 if args.quick else 20
    try:
        (_, _), (x_test, y_test) = datasets.load("mnist", args.data)
        source = "MNIST test set"
    except (FileNotFoundError, ValueError):
        x_test = (np.random.default_rng(0).random((10_000, 28, 28)) * 255).astype(np.uint8)
        y_test, source = None, "10,000 random images"
    img = x_test[0].astype(np.float32) / 255
    print(f"load average {os.getloadavg()[0]:.1f}; reference: predict on one image / on the "
          f"{source}")
    for name, arch in (("digits", "seed"), ("digits-deep", "deep")):
        m = load(name, arch)
        ref = median_time(lambda m=m: m.predict(img[None]), runs * 5)
        rows = [
            ("trace (network view)", median_time(lambda m=m: network.trace(m, img), runs)),
            ("saliency", median_time(lambda m=m: attribution.saliency(m, img), runs)),
            ("grad-cam", median_time(lambda m=m: attribution.grad_cam(m, img), runs)),
            ("occlusion 6x6/2 (144 images)",
             median_time(lambda m=m: attribution.occlusion(m, img), max(3, runs // 4))),
        ]
        print(f"{name} ({arch}): predict 1 image {ref * 1e3:.2f} ms")
        for what, t in rows:
            print(f"  {what:30s} {t * 1e3:8.2f} ms  ({t / ref:6.1f}x predict)")
        layer = network.conv_layers(m)[-1]
        t = median_time(lambda m=m, layer=layer: maximize.maximize(m, layer, 0), 3)
        print(f"  {'maximize ' + layer + ' map 0':30s} {t * 1e3:8.0f} ms  (256 steps)")
        t_pred = median_time(lambda m=m: m.predict(x_test), 3)
        t_index = median_time(lambda m=m: patches.build_index(m, x_test, y_test), 3)
        print(f"  index over {len(x_test):,} images: {t_index:.2f} s; predict over them "
              f"{t_pred:.2f} s ({t_index / t_pred:.2f}x)")


if __name__ == "__main__":
    main()
