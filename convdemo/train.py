"""The trainer: Adam on categorical cross-entropy, minibatches, progress and cancel callbacks.

:func:`fit` never prints and never touches Qt: the CLI and the GUI listen through
``on_progress`` (after every batch) and ``on_epoch_end``, and cancel through ``should_stop``
(polled between batches). Everything random (shuffling, dropout, augmentation) comes from one
``numpy.random.default_rng(seed)``, so the same model, data and seed give the same weights.

The maths, per minibatch of n images with one-hot targets ``t``:

* loss ``L = -1/n * sum(t * log p)`` with ``p`` the softmax output; its gradient with respect
  to the logits is ``(p - t) / n``, which goes backward through the layers;
* Adam (Kingma & Ba, with Keras' defaults beta1 0.9, beta2 0.999, epsilon 1e-7)::

      m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
      w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from convdemo.model import Model


class Progress(NamedTuple):
    """What ``on_progress`` receives after every batch (one argument, a named tuple)."""

    epoch: int  #: 1-based
    batch: int  #: 1-based, within the epoch
    loss: float  #: mean training loss so far in this epoch
    accuracy: float  #: training accuracy so far in this epoch (with dropout active)
    eta: float  #: estimated seconds until the whole fit ends (validation included)
    epochs: int
    batches: int  #: batches per epoch
    images_per_s: float  #: training throughput so far in this epoch
    lr: float  #: learning rate of this epoch


@dataclass
class History:
    """Per-epoch figures; ``stopped`` is True when ``should_stop`` ended the fit early."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped: bool = False

    @property
    def epochs_done(self) -> int:
        return len(self.loss)


class Adam:
    """Adam over a model's parameters, updated in place."""

    def __init__(self, model: Model, lr: float = 1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.slots = [
            (layer, p, np.zeros_like(layer.params[p]), np.zeros_like(layer.params[p]))
            for _, layer, p in model.named_params()
        ]

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step = self.lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for layer, p, m, v in self.slots:
            g = layer.grads[p]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            g2 = np.square(g)
            g2 *= 1 - b2
            v += g2
            denom = np.sqrt(v, out=g2)
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= step
            layer.params[p] -= denom


def _as_images(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
        raise ValueError(
            f"training images must be shaped (N, 28, 28) or (N, 28, 28, 1), got {x.shape}"
        )
    return x


def _to_float(batch: np.ndarray) -> np.ndarray:
    if batch.dtype == np.uint8:
        out = batch.astype(np.float32)
        out *= np.float32(1 / 255)
        return out
    return np.ascontiguousarray(batch, dtype=np.float32)


def _labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2:  # one-hot
        y = y.argmax(axis=1)
    if y.shape != (n,):
        raise ValueError(f"need {n} labels (N,) or one-hot (N, 10), got shape {y.shape}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError("labels must be class numbers 0..9")
    return y


def random_shift(batch: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each image of (N, 28, 28, 1) by its own random whole-pixel offset in
    ``-shift..shift`` (both axes), filling with zeros (black)."""
    n = batch.shape[0]
    padded = np.pad(batch, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
    windows = sliding_window_view(padded, (28, 28), axis=(1, 2))  # (N, s', s', 1, 28, 28)
    dy = rng.integers(0, 2 * shift + 1, n)
    dx = rng.integers(0, 2 * shift + 1, n)
    return np.ascontiguousarray(windows[np.arange(n), dy, dx].transpose(0, 2, 3, 1))


def random_flip(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image of (N, 28, 28, 1) left-right with probability 1/2 (a new array)."""
    out = batch.copy()
    mirror = rng.random(batch.shape[0]) < 0.5
    out[mirror] = batch[mirror, :, ::-1]
    return out


def train_step(model: Model, xb: np.ndarray, yb: np.ndarray, rng) -> tuple[float, int]:
    """Forward (dropout on) and backward for one batch; fills every ``layer.grads``.

    Returns (mean cross-entropy, number correct).
    """
    n = xb.shape[0]
    p = model.forward(xb, training=True, rng=rng)
    rows = np.arange(n)
    loss = float(-np.log(np.maximum(p[rows, yb], 1e-7)).mean())
    correct = int((p.argmax(axis=1) == yb).sum())
    grad = p.copy()
    grad[rows, yb] -= 1
    grad /= n
    layers = model.layers
    grad = layers[-1].backward_logits(grad)
    for layer in reversed(layers[:-1]):
        grad = layer.backward(grad)
        if grad is None:
            break
    return loss, correct


def evaluate(model: Model, x, y, batch_size: int = 500) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on images ``x`` and labels ``y``."""
    x = _as_images(x)
    y = _labels(y, x.shape[0])
    p = model.predict(x, batch_size=batch_size)
    loss = float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-7)).mean())
    return loss, float((p.argmax(axis=1) == y).mean())


def fit(
    model: Model,
    x,
    y,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    validation=None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lr_decay: float = 1.0,
    shift: int = 0,
    flip: bool = False,
    ema: float = 0.0,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Parameters
    ----------
    x : (N, 28, 28) or (N, 28, 28, 1), uint8 0..255 or float32 0..1
    y : (N,) class numbers 0..9, or one-hot (N, 10)
    epochs, batch_size, lr : the usual; each epoch visits every image once, in a new order
    seed : seeds shuffling, dropout and augmentation (the same seed gives the same weights)
    validation : optional (x_val, y_val), evaluated after every epoch (dropout off)
    on_progress : called after every batch with a :class:`Progress`
    should_stop : polled before every batch; returning True ends the fit cleanly
    lr_decay : the learning rate of epoch e (1-based) is ``lr * lr_decay ** (e - 1)``
    shift : if > 0, each training image is moved by a random offset of up to ``shift``
        pixels in each direction (augmentation against small misplacements)
    flip : if True, each training image is mirrored left-right with probability 1/2
        (sensible for clothes, not for digits)
    ema : if in (0, 1), also keep an exponential moving average of the weights, updated
        after every step with decay ``min(ema, (1 + t) / (10 + t))`` at step t (so the
        random start is soon forgotten). Validation, ``on_epoch_end`` and the model after
        ``fit`` returns see the averaged weights; training steps use the raw ones.
    on_epoch_end : called after every complete epoch with ``(epoch, logs)``, logs holding
        loss, accuracy, lr, seconds and, with validation, val_loss and val_accuracy
    """
    x = _as_images(x)
    y = _labels(y, x.shape[0])
    if epochs < 0 or batch_size < 1 or lr <= 0 or shift < 0 or not 0 <= ema < 1:
        raise ValueError(
            "epochs must be >= 0, batch_size >= 1, lr > 0, shift >= 0 and 0 <= ema < 1"
        )
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    opt = Adam(model, lr)
    history = History()
    batches = max(1, math.ceil(n / batch_size))
    val = None
    if validation is not None:
        val = (_as_images(validation[0]), _labels(validation[1], len(validation[0])))
    val_seconds = 0.0  # measured after the first epoch, for the ETA
    average = _WeightAverage(model, ema) if ema else None
    for epoch in range(1, epochs + 1):
        opt.lr = lr * lr_decay ** (epoch - 1)
        order = rng.permutation(n)
        start = time.perf_counter()
        total_loss, total_correct, seen = 0.0, 0, 0
        for b in range(batches):
            if should_stop is not None and should_stop():
                history.stopped = True
                if average is not None:
                    average.swap_in()
                return history
            idx = order[b * batch_size : (b + 1) * batch_size]
            xb = _to_float(x[idx])
            if shift:
                xb = random_shift(xb, shift, rng)
            if flip:
                xb = random_flip(xb, rng)
            loss, correct = train_step(model, xb, y[idx], rng)
            opt.step()
            if average is not None:
                average.update()
            total_loss += loss * len(idx)
            total_correct += correct
            seen += len(idx)
            if on_progress is not None:
                elapsed = time.perf_counter() - start
                per_batch = elapsed / (b + 1)
                left = (batches - b - 1) + (epochs - epoch) * batches
                eta = per_batch * left + val_seconds * (epochs - epoch + (val is not None))
                on_progress(
                    Progress(epoch, b + 1, total_loss / seen, total_correct / seen, eta,
                             epochs, batches, seen / max(elapsed, 1e-9), opt.lr)
                )
        logs = {
            "loss": total_loss / seen,
            "accuracy": total_correct / seen,
            "lr": opt.lr,
            "seconds": time.perf_counter() - start,
        }
        if average is not None:
            average.swap_in()
        if val is not None:
            t = time.perf_counter()
            logs["val_loss"], logs["val_accuracy"] = evaluate(model, *val)
            val_seconds = time.perf_counter() - t
            history.val_loss.append(logs["val_loss"])
            history.val_accuracy.append(logs["val_accuracy"])
        history.loss.append(logs["loss"])
        history.accuracy.append(logs["accuracy"])
        history.lr.append(opt.lr)
        history.seconds.append(logs["seconds"])
        if on_epoch_end is not None:
            on_epoch_end(epoch, logs)
        if average is not None and epoch < epochs:
            average.swap_out()
    return history


class _WeightAverage:
    """An exponential moving average of a model's weights (see ``fit(ema=...)``)."""

    def __init__(self, model: Model, decay: float):
        self.model, self.decay, self.t = model, decay, 0
        self.avg = model.get_weights()
        self.raw: dict[str, np.ndarray] | None = None

    def update(self) -> None:
        self.t += 1
        d = min(self.decay, (1 + self.t) / (10 + self.t))
        for key, layer, p in self.model.named_params():
            a = self.avg[key]
            a *= d
            a += (1 - d) * layer.params[p]

    def swap_in(self) -> None:
        """Put the averaged weights in the model (keeping the raw ones aside)."""
        self.raw = self.model.get_weights()
        self.model.set_weights(self.avg)

    def swap_out(self) -> None:
        """Put the raw training weights back."""
        self.model.set_weights(self.raw)
        self.raw = None
