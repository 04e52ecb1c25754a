"""``convdemo summary | train | evaluate | predict``: the CNN from the command line.

Each handler returns an exit code and raises ValueError / OSError with one sentence for a
user's mistake (the front door in :mod:`convdemo.cli` prints it and exits 1).
"""

from __future__ import annotations

import shlex
import signal
import sys
import time
from pathlib import Path

import numpy as np

from convdemo import labels as _labels
from convdemo import model as cnn


def register(subparsers) -> None:
    """Add the four CNN subcommands to the front door's subparsers."""
    p = subparsers.add_parser(
        "summary", help="print the CNN's Keras-style summary table",
        description="Print a model's Keras-style summary: layers, output shapes, parameters.",
    )
    p.add_argument(
        "--model", metavar="NAME|PATH", default=None,
        help="a shipped model (digits, digits-deep, fashion, fashion-deep) or an .npz; "
        "default: a fresh `seed` model",
    )
    p.add_argument("--arch", choices=cnn.ARCHS, default="seed",
                   help="architecture to show when no --model is given (default: seed)")
    p.set_defaults(func=cmd_summary)

    p = subparsers.add_parser(
        "train", help="train the CNN on MNIST or Fashion-MNIST",
        description="Train the CNN with Adam on MNIST or Fashion-MNIST. Shows a progress line "
        "on stderr and the test accuracy after each epoch; the best epoch's weights (by test "
        "accuracy) are saved to --out. Ctrl-C stops cleanly and saves the best weights so far.",
    )
    p.add_argument("--dataset", choices=("mnist", "fashion"), required=True)
    p.add_argument("--arch", choices=cnn.ARCHS, default="seed", help="default: seed")
    p.add_argument("--data", metavar="DIR", help="folder with the four IDX files")
    p.add_argument("--epochs", type=int, default=10, help="default: 10")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds initialisation, shuffling and dropout (default: 0)")
    p.add_argument("--limit", type=int, metavar="N", help="train on the first N images only")
    p.add_argument("--batch-size", type=int, default=128, help="default: 128")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 0.001)")
    p.add_argument("--lr-decay", type=float, default=1.0,
                   help="multiply the learning rate by this after every epoch (default: 1)")
    p.add_argument("--shift", type=int, default=0,
                   help="augment: move each training image by up to this many pixels "
                   "(default: 0)")
    p.add_argument("--flip", action="store_true",
                   help="augment: mirror half the training images left-right (for fashion)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="evaluate and save a moving average of the weights with this decay, "
                   "e.g. 0.999 (default: 0, off)")
    p.add_argument("--out", metavar="PATH", required=True, help="where to save the .npz")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "evaluate", help="test accuracy of a trained model",
        description="Evaluate a model on the 10,000-image test set of its dataset.",
    )
    p.add_argument("--model", metavar="NAME|PATH", required=True)
    p.add_argument("--dataset", choices=("mnist", "fashion"),
                   help="default: the dataset recorded in the model")
    p.add_argument("--data", metavar="DIR", help="folder with the four IDX files")
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser(
        "predict", help="classify an image with a trained model",
        description="Preprocess an image the MNIST way (grey, ink on black, cropped, 20 px, "
        "centred in 28x28) and print the model's top 3 classes.",
    )
    p.add_argument("image", help="image file (PNG, JPEG, ...)")
    p.add_argument("--model", metavar="NAME|PATH", default="digits", help="default: digits")
    p.set_defaults(func=cmd_predict)


# ---------------------------------------------------------------------------- summary


def cmd_summary(args) -> int:
    m = cnn.load(args.model) if args.model else cnn.build(args.arch)
    print(m.summary())
    if args.model:
        print(cnn.describe_meta(m.meta))
    return 0


# ---------------------------------------------------------------------------- train


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """A one-line progress bar on a stream: redrawn in place on a terminal; elsewhere (a log
    file) one line every tenth of an epoch."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def __call__(self, p) -> None:
        done = p.batch / p.batches
        filled = int(done * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        text = (f"epoch {p.epoch}/{p.epochs} [{bar}] {p.batch}/{p.batches} "
                f"loss {p.loss:.4f} acc {p.accuracy:.4f} {p.images_per_s:,.0f} img/s "
                f"ETA {_fmt_time(p.eta)}")
        if self.tty:
            now = time.monotonic()
            if now - self._last >= 0.1 or p.batch == p.batches:
                self.stream.write("\r" + text + "\x1b[K")
                self.stream.flush()
                self._last = now
                self._shown = True
        elif p.batch == p.batches or p.batch % max(1, p.batches // 10) == 0:
            self.stream.write(text + "\n")
            self.stream.flush()

    def end_line(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False


def _train_command(args) -> str:
    """The command line that reproduces this run (thread settings that matter included)."""
    import os

    env = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
           if k in os.environ]
    parts = [*env, "convdemo", "train", "--dataset", args.dataset, "--arch", args.arch]
    if args.data:
        parts += ["--data", str(args.data)]
    parts += ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    if args.limit:
        parts += ["--limit", str(args.limit)]
    parts += ["--batch-size", str(args.batch_size), "--lr", repr(args.lr),
              "--lr-decay", repr(args.lr_decay), "--shift", str(args.shift)]
    if args.flip:
        parts.append("--flip")
    if args.ema:
        parts += ["--ema", repr(args.ema)]
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def cmd_train(args) -> int:
    from convdemo import datasets, train

    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    if (args.batch_size < 1 or args.lr <= 0 or not 0 < args.lr_decay <= 1 or args.shift < 0
            or not 0 <= args.ema < 1):
        raise ValueError(
            "--batch-size must be >= 1, --lr > 0, --lr-decay in (0, 1], --shift >= 0 "
            "and --ema in [0, 1)"
        )
    out = Path(args.out)
    if out.suffix != ".npz":
        raise ValueError(f"--out must name an .npz file, got {out}")
    if out.parent != Path("") and not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: the folder {out.parent} does not exist")

    (x_train, y_train), (x_test, y_test) = datasets.load(args.dataset, args.data)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    model = cnn.build(args.arch, seed=args.seed)
    command = _train_command(args)
    print(f"training {args.arch} on {len(x_train):,} {args.dataset} images for {args.epochs} "
          f"epochs; testing on {len(x_test):,}", flush=True)

    best = {"accuracy": -1.0, "epoch": 0, "weights": None}
    stop = {"asked": False}
    bar = ProgressLine()
    started = time.perf_counter()

    def on_epoch_end(epoch, logs):
        bar.end_line()
        acc = logs["val_accuracy"]
        correct = int(round(acc * len(y_test)))
        print(f"epoch {epoch}/{args.epochs}: loss {logs['loss']:.4f}, accuracy "
              f"{logs['accuracy']:.4f}, test accuracy {acc:.4f} ({correct}/{len(y_test)}), "
              f"lr {logs['lr']:.2e}, {logs['seconds']:.0f} s", flush=True)
        if acc > best["accuracy"]:
            best.update(accuracy=acc, epoch=epoch, weights=model.get_weights())

    def on_sigint(signum, frame):
        stop["asked"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: now

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        history = train.fit(
            model, x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
            lr=args.lr, seed=args.seed, validation=(x_test, y_test), on_progress=bar,
            should_stop=lambda: stop["asked"], lr_decay=args.lr_decay, shift=args.shift,
            flip=args.flip, ema=args.ema, on_epoch_end=on_epoch_end,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.end_line()
    seconds = time.perf_counter() - started

    if history.stopped:
        # the interrupted epoch's weights may be the best so far: check them too
        _, acc = train.evaluate(model, x_test, y_test)
        if acc > best["accuracy"]:
            best.update(accuracy=acc, epoch=history.epochs_done + 0.5, weights=model.get_weights())
    model.set_weights(best["weights"])
    model.meta.update(
        arch=args.arch, dataset=args.dataset, labels=list(_labels.BY_DATASET[args.dataset]),
        test_accuracy=round(float(best["accuracy"]), 6), epochs=history.epochs_done,
        best_epoch=best["epoch"], seed=args.seed, command=command,
        train_images=len(x_train), batch_size=args.batch_size, lr=args.lr,
        lr_decay=args.lr_decay, shift=args.shift, flip=args.flip, ema=args.ema,
        interrupted=history.stopped,
        train_seconds=round(seconds, 1),
        selection="the epoch with the best test accuracy",
    )
    model.save(out)
    what = "interrupted; saved the best weights so far" if history.stopped else "saved"
    print(f"{what}: {out} (epoch {best['epoch']}, test accuracy {best['accuracy']:.4f}, "
          f"{_fmt_time(seconds)} in all)", flush=True)
    return 130 if history.stopped else 0


# ---------------------------------------------------------------------------- evaluate


def cmd_evaluate(args) -> int:
    from convdemo import datasets

    m = cnn.load(args.model)
    name = args.dataset or m.meta.get("dataset")
    if name not in datasets.NAMES:
        raise ValueError(
            f"the model does not record its dataset; pass --dataset {' or '.join(datasets.NAMES)}"
        )
    _, (x_test, y_test) = datasets.load(name, args.data)
    pred = m.predict(x_test).argmax(axis=1)
    right = pred == y_test
    print(f"test accuracy: {right.mean():.4f} ({int(right.sum())}/{len(y_test)})")
    names = m.labels
    print(f"{'class':<16}{'correct':>14}{'accuracy':>10}")
    for c in range(10):
        mask = y_test == c
        total = int(mask.sum())
        ok = int(right[mask].sum())
        acc = f"{ok / total:.4f}" if total else "-"
        print(f"{c} {names[c]:<14}{f'{ok}/{total}':>14}{acc:>10}")
    return 0


# ---------------------------------------------------------------------------- predict


def _load_picture(path: str) -> np.ndarray:
    from convdemo.imaging import load_image

    return load_image(path).array


def cmd_predict(args) -> int:
    from convdemo.preprocess import is_blank, preprocess

    if not Path(args.image).is_file():
        raise ValueError(f"cannot open {args.image}: no such file")
    m = cnn.load(args.model)
    x28 = preprocess(_load_picture(args.image))
    if is_blank(x28):
        raise ValueError(f"{args.image} looks blank after preprocessing: there is nothing to see")
    probs = m.predict(x28[np.newaxis])[0]
    top = np.argsort(probs)[::-1][:3]
    print(f"{args.image} ({m.meta.get('dataset', '?')} model {args.model}):")
    for rank, c in enumerate(top, 1):
        print(f"  {rank}. {m.labels[c]:<12} {probs[c]:7.2%}")
    return 0
