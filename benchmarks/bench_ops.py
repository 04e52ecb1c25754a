"""Benchmark of the convolution engine against OpenCV and scipy (a script, not a test).

    python benchmarks/bench_ops.py [--runs N]

Prints the median of N (default 9, at least 5) timed runs after one warm-up for each case,
and ratios against references measured in the same run. The contenders of one case run in
turn inside each repetition (round robin), so a burst of load from another process on a
shared machine hits all of them alike and the ratios stay meaningful even when absolute
times are noisy. Every contender's output is checked against ours before timing.

Goals (issue 3), for a 4000x3000 RGB float32 image, a 3x3 kernel, channels="sum", valid,
stride 1:

* at most 2.0x the time of OpenCV's fastest pipeline (cv2.transform channel sum, then
  cv2.filter2D);
* at least 4x faster than scipy.ndimage.correlate per channel plus the sum;
* 1920x1080, same case: median at most 10 ms;
* 2x2 max pooling of a 4000x3000 float32 map: at most 15 ms;
* peak extra memory (tracemalloc) at most 3x the input array's size.

OpenCV (opencv-python-headless, the ``bench`` extra) is needed only here.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from convdemo import ops  # noqa: E402

#: a generic 3x3 kernel: no zeros, no +-1, so no tap can be skipped or simplified
KERNEL = np.array(
    [[0.11, -0.23, 0.31], [-0.47, 1.53, -0.29], [0.17, -0.37, 0.13]], dtype=np.float32
)


#: untimed pause before each timed call: OpenCV's worker threads busy-wait for a while
#: after a parallel job, and would otherwise steal the CPU from whoever runs next
PAUSE = 0.03


def timed_round_robin(contenders: dict, runs: int) -> dict[str, float]:
    """Median milliseconds of each contender; one warm-up each, then ``runs`` rounds."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            time.sleep(PAUSE)
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def check(ours: np.ndarray, theirs: np.ndarray, what: str) -> float:
    diff = float(np.max(np.abs(ours.astype(np.float64) - theirs)))
    scale = float(np.abs(KERNEL).sum()) * 3.0
    if diff > 1e-5 * scale:
        raise SystemExit(f"{what} disagrees with ops.conv2d: max |diff| {diff:g}")
    return diff


def bench_conv(img: np.ndarray, runs: int, with_scipy: bool) -> dict[str, float]:
    import cv2
    import scipy.ndimage

    ones = np.ones((1, 3), np.float32)

    def opencv():
        summed = cv2.transform(img, ones)  # (H, W) channel sum
        full = cv2.filter2D(summed, -1, KERNEL, borderType=cv2.BORDER_REFLECT_101)
        return full[1:-1, 1:-1]  # the valid part (a view)

    def scipy_ref():
        acc = scipy.ndimage.correlate(img[:, :, 0], KERNEL, mode="constant")
        for c in range(1, img.shape[2]):
            acc += scipy.ndimage.correlate(img[:, :, c], KERNEL, mode="constant")
        return acc[1:-1, 1:-1]

    def ours():
        return ops.conv2d(img, KERNEL)

    mine = ours()
    diffs = {"opencv": check(mine, opencv(), "OpenCV")}
    contenders = {"convdemo": ours, "opencv": opencv}
    if with_scipy:
        diffs["scipy"] = check(mine, scipy_ref(), "scipy")
        contenders["scipy"] = scipy_ref
    result = timed_round_robin(contenders, runs)
    result.update({f"diff_{k}": v for k, v in diffs.items()})
    return result


def bench_dilated(img: np.ndarray, runs: int) -> dict[str, float]:
    """Dilation 2 against OpenCV's filter2D with the dilated kernel written out (5x5, zeros
    between the taps), each channel filtered on its own, reflect border, same size."""
    import cv2

    wide = np.zeros((5, 5), np.float32)
    wide[::2, ::2] = KERNEL

    def opencv():
        return cv2.filter2D(img, -1, wide, borderType=cv2.BORDER_REFLECT_101)

    def ours():
        return ops.conv2d(img, KERNEL, dilation=2, padding="same", border="reflect",
                          channels="separate")

    diff = float(np.max(np.abs(ours().astype(np.float64) - opencv())))
    if diff > 1e-5 * float(np.abs(KERNEL).sum()):
        raise SystemExit(f"dilated conv2d disagrees with OpenCV: max |diff| {diff:g}")
    result = timed_round_robin({"convdemo": ours, "opencv": opencv}, runs)
    result["diff"] = diff
    return result


def peak_memory(img: np.ndarray) -> float:
    """Peak bytes allocated during one conv2d call, as a multiple of the input's size."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = ops.conv2d(img, KERNEL)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del out
    return (peak - base) / img.nbytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per case (>= 5)")
    args = parser.parse_args(argv)
    runs = max(5, args.runs)
    try:
        import cv2
    except ImportError:
        print("bench_ops needs OpenCV: pip install opencv-python-headless", file=sys.stderr)
        return 1

    rng = np.random.default_rng(0)
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, OpenCV {cv2.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"median of {runs} runs after a warm-up"
    )
    blas = os.environ.get("OPENBLAS_CORETYPE")
    print(
        f"channel sum of RGB (a rule on the channel count): {ops.bands.channel_sum(3).__name__}"
        + (f"; OPENBLAS_CORETYPE={blas}" if blas else "")
    )
    ok = True

    big = rng.random((3000, 4000, 3), dtype=np.float32)
    r = bench_conv(big, runs, with_scipy=True)
    vs_cv, vs_sp = r["convdemo"] / r["opencv"], r["scipy"] / r["convdemo"]
    print("\n4000x3000 RGB float32, 3x3 kernel, channels='sum', valid, stride 1")
    print(f"  convdemo conv2d            {r['convdemo']:8.1f} ms")
    print(
        f"  OpenCV transform+filter2D  {r['opencv']:8.1f} ms   (max |diff| {r['diff_opencv']:.1e})"
    )
    print(f"  scipy.ndimage x3 + sum     {r['scipy']:8.1f} ms   (max |diff| {r['diff_scipy']:.1e})")
    print(f"  convdemo / OpenCV          {vs_cv:8.2f} x    goal <= 2.0  {_mark(vs_cv <= 2.0)}")
    print(f"  scipy / convdemo           {vs_sp:8.2f} x    goal >= 4.0  {_mark(vs_sp >= 4.0)}")
    ok &= vs_cv <= 2.0 and vs_sp >= 4.0

    hd = rng.random((1080, 1920, 3), dtype=np.float32)
    r = bench_conv(hd, max(runs, 15), with_scipy=False)
    print("\n1920x1080 RGB float32, same case")
    print(
        f"  convdemo conv2d            {r['convdemo']:8.1f} ms   goal <= 10 ms "
        f"{_mark(r['convdemo'] <= 10)}"
    )
    print(
        f"  OpenCV transform+filter2D  {r['opencv']:8.1f} ms   "
        f"(ratio {r['convdemo'] / r['opencv']:.2f} x)"
    )
    ok &= r["convdemo"] <= 10

    fmap = rng.standard_normal((3000, 4000), dtype=np.float32)

    pool_ref = fmap.reshape(1500, 2, 2000, 2).max(axis=(1, 3))
    if not np.array_equal(ops.pool2d(fmap, 2), pool_ref):
        raise SystemExit("pool2d disagrees with the reshape-max reference")
    r = timed_round_robin(
        {
            "convdemo": lambda: ops.pool2d(fmap, 2),
            "reshape": lambda: fmap.reshape(1500, 2, 2000, 2).max(axis=(1, 3)),
        },
        runs,
    )
    print("\n2x2 max pool, 4000x3000 float32 map")
    print(
        f"  convdemo pool2d            {r['convdemo']:8.1f} ms   goal <= 15 ms "
        f"{_mark(r['convdemo'] <= 15)}"
    )
    print(f"  numpy reshape().max()      {r['reshape']:8.1f} ms")
    ok &= r["convdemo"] <= 15

    mem = peak_memory(big)
    print("\npeak extra memory, 12 MP case (tracemalloc)")
    print(
        f"  {mem:.2f} x the input's {big.nbytes / 2**20:.0f} MiB   goal <= 3.0  {_mark(mem <= 3)}"
    )
    ok &= mem <= 3

    print("\nother cases on the 4000x3000 RGB image (information only)")
    cases = {
        "same, reflect border": {"padding": "same", "border": "reflect"},
        "stride 2, same": {"stride": 2, "padding": "same"},
        "per-channel (3,3,3) kernel": {"kernel": np.stack([KERNEL] * 3, axis=2)},
        "channels='separate'": {"channels": "separate"},
        "5x5 kernel": {"kernel": np.resize(KERNEL, (5, 5))},
    }
    for name, kw in cases.items():
        kw = dict(kw)
        kernel = kw.pop("kernel", KERNEL)
        t = timed_round_robin({"x": lambda k=kernel, kw=kw: ops.conv2d(big, k, **kw)}, 5)["x"]
        print(f"  {name:28s} {t:8.1f} ms")

    r = bench_dilated(big, runs)
    print("\ndilation 2, 3x3 kernel, channels='separate', same, reflect, 4000x3000 RGB "
          "(information)")
    print("  against OpenCV's filter2D with the dilated kernel written out (zeros between taps)")
    print(f"  convdemo conv2d            {r['convdemo']:8.1f} ms")
    print(f"  OpenCV filter2D (5x5 kernel) {r['opencv']:6.1f} ms   "
          f"(max |diff| {r['diff']:.1e})")
    print(f"  convdemo / OpenCV          {r['convdemo'] / r['opencv']:8.2f} x")

    print("\nall goals met" if ok else "\nSOME GOALS NOT MET")
    return 0 if ok else 1


def _mark(good: bool) -> str:
    return "ok" if good else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
