"""The trainer: it learns, it is reproducible, it reports and it can be stopped."""

from __future__ import annotations

import numpy as np
import pytest

from convdemo import datasets, train
from convdemo import model as cnn


def _toy(n=256, seed=0):
    """Bright blobs whose quadrant is the class (0..3): learnable in a few batches."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.random((n, 28, 28), dtype=np.float32) * 0.2
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, 3 + 12 * r : 13 + 12 * r, 3 + 12 * q : 13 + 12 * q] += 0.8
    return np.clip(x, 0, 1), y


def test_same_seed_same_weights_and_no_printing(capsys):
    x, y = _toy(200)
    runs = []
    for _ in range(2):
        m = cnn.build("seed", seed=1)
        train.fit(m, x, y, epochs=2, batch_size=64, seed=7)
        runs.append(m.get_weights())
    other = cnn.build("seed", seed=1)
    train.fit(other, x, y, epochs=2, batch_size=64, seed=8)
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not np.array_equal(runs[0]["dense.kernel"], other.get_weights()["dense.kernel"])
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_progress_history_and_lr_decay():
    x, y = _toy(300)
    seen, ends = [], []
    m = cnn.build("seed")
    hist = train.fit(m, x, y, epochs=3, batch_size=128, lr=2e-3, lr_decay=0.5,
                     validation=_toy(100, seed=1), on_progress=seen.append,
                     on_epoch_end=lambda e, logs: ends.append((e, logs)))
    assert len(seen) == 3 * 3  # ceil(300 / 128) batches per epoch
    assert [(p.epoch, p.batch) for p in seen[:4]] == [(1, 1), (1, 2), (1, 3), (2, 1)]
    last = seen[-1]
    assert last.epochs == 3 and last.batches == 3
    assert all(p.eta >= 0 and 0 <= p.accuracy <= 1 and p.loss > 0 for p in seen)
    assert seen[0].eta > seen[-2].eta
    assert hist.lr == pytest.approx([2e-3, 1e-3, 5e-4])
    assert [e for e, _ in ends] == [1, 2, 3] and "val_accuracy" in ends[0][1]
    assert hist.epochs_done == 3 and not hist.stopped
    assert hist.loss[-1] < hist.loss[0]
    assert hist.val_accuracy[-1] > 0.9  # four quadrants are easy


def test_should_stop_is_polled_between_batches():
    x, y = _toy(640)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    m = cnn.build("seed")
    before = m.get_weights()
    progress = []
    hist = train.fit(m, x, y, epochs=5, batch_size=64, should_stop=stop,
                     on_progress=progress.append)
    assert hist.stopped and hist.epochs_done == 0
    assert len(progress) == 3  # three batches ran, the fourth poll said stop
    # without validation, nothing is left after the last batch
    tail = []
    train.fit(cnn.build("seed"), x[:100], y[:100], epochs=1, batch_size=50, on_progress=tail.append)
    assert tail[-1].eta == 0 and tail[0].eta > 0
    assert not np.array_equal(before["dense.kernel"], m.get_weights()["dense.kernel"])


def test_dropout_only_while_training():
    x, y = _toy(64)
    m = cnn.build("seed")
    np.testing.assert_array_equal(m.predict(x), m.predict(x))
    xb = x[..., None]
    a = train.train_step(m, xb, y, np.random.default_rng(0))[0]
    b = train.train_step(m, xb, y, np.random.default_rng(1))[0]
    assert a != b  # different dropout masks


def test_adam_step_by_hand():
    m = cnn.build("seed")
    layer = m.layer("dense_1")
    w0 = layer.params["bias"].copy()
    opt = train.Adam(m, lr=0.01)
    g = np.linspace(-1, 1, 10).astype(np.float32)
    for _, lay, p in m.named_params():
        lay.grads[p] = np.zeros_like(lay.params[p])
    layer.grads["bias"] = g
    opt.step()
    opt.step()
    # by hand, two steps with the same gradient
    m1 = 0.1 * g
    v1 = 0.001 * g**2
    w1 = w0 - 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9) * m1 / (np.sqrt(v1) + 1e-7)
    m2 = 0.9 * m1 + 0.1 * g
    v2 = 0.999 * v1 + 0.001 * g**2
    w2 = w1 - 0.01 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2) * m2 / (np.sqrt(v2) + 1e-7)
    np.testing.assert_allclose(layer.params["bias"], w2, rtol=1e-5, atol=1e-7)


def test_random_shift():
    x = np.zeros((50, 28, 28, 1), np.float32)
    x[:, 10:18, 10:18] = 1
    out = train.random_shift(x, 2, np.random.default_rng(0))
    assert out.shape == x.shape
    np.testing.assert_array_equal(out.sum(axis=(1, 2, 3)), 64)  # moved, never cut
    rows = [np.nonzero(o[:, :, 0].any(axis=1))[0][0] for o in out]
    assert set(rows) <= set(range(8, 13)) and len(set(rows)) > 2


def test_bad_arguments():
    x, y = _toy(10)
    m = cnn.build("seed")
    with pytest.raises(ValueError, match="labels"):
        train.fit(m, x, y[:5], epochs=1)
    with pytest.raises(ValueError, match="shaped"):
        train.fit(m, x[:, :20], y, epochs=1)


def test_learns_real_mnist(mnist_dir):
    (xtr, ytr), (xte, yte) = datasets.load("mnist", mnist_dir)
    m = cnn.build("seed", seed=0)
    hist = train.fit(m, xtr[:6000], ytr[:6000], epochs=2, seed=0,
                     validation=(xte[:1000], yte[:1000]))
    assert hist.val_accuracy[-1] > 0.9, hist.val_accuracy


def test_random_flip():
    x = np.random.default_rng(0).random((40, 28, 28, 1), dtype=np.float32)
    out = train.random_flip(x, np.random.default_rng(1))
    same = [np.array_equal(o, i) for o, i in zip(out, x, strict=True)]
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x, strict=True)]
    assert all(s != m for s, m in zip(same, mirrored, strict=True))
    assert 10 < sum(mirrored) < 30
    m = cnn.build("seed")
    xs, ys = _toy(64)
    hist = train.fit(m, xs, ys, epochs=1, flip=True, shift=1, seed=3)
    assert hist.epochs_done == 1


def test_weight_average():
    x, y = _toy(64)
    w0 = cnn.build("seed", seed=2).get_weights()
    raw = cnn.build("seed", seed=2)
    train.fit(raw, x, y, epochs=1, batch_size=64, seed=4)
    avg = cnn.build("seed", seed=2)
    ends = []
    train.fit(avg, x, y, epochs=1, batch_size=64, seed=4, ema=0.5, validation=(x, y),
              on_epoch_end=lambda e, logs: ends.append(avg.get_weights()))
    d = 2 / 11  # one step: decay min(0.5, (1 + 1) / (10 + 1))
    w1, got = raw.get_weights(), avg.get_weights()
    for key in w0:
        np.testing.assert_allclose(got[key], d * w0[key] + (1 - d) * w1[key], atol=1e-6)
        np.testing.assert_array_equal(ends[0][key], got[key])
    # over several epochs the raw weights keep training between the averaged evaluations
    m = cnn.build("seed", seed=2)
    hist = train.fit(m, x, y, epochs=3, batch_size=32, seed=4, ema=0.9, validation=(x, y))
    assert hist.val_accuracy[-1] > 0.5
    with pytest.raises(ValueError, match="ema"):
        train.fit(m, x, y, epochs=1, ema=1.0)
