"""`convdemo summary | train | evaluate | predict` through the real front door."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from convdemo import cli
from convdemo import model as cnn
from tests.conftest import REPO
from tests.test_preprocess import drawn_digit


def test_summary(capsys):
    assert cli.main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 693,962" in out and "dense_1 (Dense)" in out
    assert cli.main(["summary", "--arch", "deep"]) == 0
    assert "conv2d_1 (Conv2D)" in capsys.readouterr().out
    assert cli.main(["summary", "--model", "no-such-model"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convdemo: error: unknown model 'no-such-model'")


def test_summary_of_a_shipped_model_says_how_it_was_made(capsys):
    assert cli.main(["summary", "--model", "digits"]) == 0
    out = capsys.readouterr().out
    meta = cnn.load("digits").meta
    assert "Total params: 693,962" in out
    assert f"Test accuracy: {meta['test_accuracy']:.2%}" in out
    assert f"Made by: {meta['command']}" in out and "convdemo train" in meta["command"]
    assert f"Epochs: {meta['epochs']}" in out and "Date: " in out


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A model trained briefly by `convdemo train` on the first 1000 MNIST images."""
    from tests.conftest import MNIST_DIR, require

    require((MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), f"MNIST in {MNIST_DIR}")
    out = tmp_path_factory.mktemp("cli") / "small.npz"
    argv = ["train", "--dataset", "mnist", "--data", str(MNIST_DIR), "--epochs", "2",
            "--limit", "1000", "--lr-decay", "0.9", "--out", str(out)]
    assert cli.main(argv) == 0
    return out


def test_train_saves_best_with_metadata(small_model, capsys):
    m = cnn.load(small_model)
    meta = m.meta
    assert meta["arch"] == "seed" and meta["dataset"] == "mnist"
    assert "convdemo train --dataset mnist --arch seed --data " in meta["command"]
    assert "--limit 1000" in meta["command"] and meta["command"].endswith(str(small_model))
    assert meta["epochs"] == 2 and meta["best_epoch"] in (1, 2) and meta["seed"] == 0
    assert meta["train_images"] == 1000 and not meta["interrupted"]
    assert m.labels == tuple("0123456789")
    assert 0.5 < meta["test_accuracy"] < 1


def test_evaluate_prints_accuracy_and_per_class_table(small_model, mnist_dir, capsys):
    capsys.readouterr()
    assert cli.main(["evaluate", "--model", str(small_model), "--data", str(mnist_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    from convdemo import datasets

    _, (x, y) = datasets.load("mnist", mnist_dir)
    pred = cnn.load(small_model).predict(x).argmax(axis=1)
    right = int((pred == y).sum())
    assert out[0] == f"test accuracy: {right / len(y):.4f} ({right}/10000)"
    rows = out[2:]
    assert len(rows) == 10
    c3 = y == 3
    assert rows[3].split()[:2] == ["3", "3"]
    assert rows[3].split()[2] == f"{int((pred[c3] == 3).sum())}/{int(c3.sum())}"
    # the saved test accuracy is reproduced
    assert cnn.load(small_model).meta["test_accuracy"] == pytest.approx(right / len(y), abs=1e-6)


def test_predict_prints_top_three(small_model, tmp_path, capsys):
    path = tmp_path / "seven.png"
    Image.fromarray((drawn_digit("7") * 255).astype(np.uint8)).save(path)
    capsys.readouterr()
    assert cli.main(["predict", str(path), "--model", str(small_model)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and [ln.split()[0] for ln in lines[1:]] == ["1.", "2.", "3."]
    probs = [float(ln.split()[-1].rstrip("%")) for ln in lines[1:]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 100.01
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), "white").save(blank)
    assert cli.main(["predict", str(blank), "--model", str(small_model)]) == 1
    assert "blank" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "none.png")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_user_mistakes_are_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CONVDEMO_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    cases = [
        (["train", "--dataset", "mnist", "--out", "x.txt"], ".npz"),
        (["train", "--dataset", "mnist", "--epochs", "0", "--out", "x.npz"], "--epochs"),
        (["train", "--dataset", "mnist", "--data", str(tmp_path), "--out",
          str(tmp_path / "m.npz")], "no mnist data found"),
        (["evaluate", "--model", str(tmp_path / "gone.npz")], "no such file"),
    ]
    for argv, needle in cases:
        assert cli.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("convdemo: error: ") and needle in err, err
        assert err.count("\n") == 1


def test_ctrl_c_stops_cleanly_and_saves(mnist_dir, tmp_path):
    out = tmp_path / "interrupted.npz"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "convdemo", "train", "--dataset", "mnist", "--data",
         str(mnist_dir), "--epochs", "50", "--limit", "20000", "--out", str(out)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # wait for the first progress line (a tenth of an epoch), then press Ctrl-C
        line = proc.stderr.readline()
        assert line.startswith("epoch 1/50 ["), line
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - start < 60
    assert proc.returncode == 130, stderr
    assert "interrupted; saved the best weights so far" in stdout
    m = cnn.load(out)
    assert m.meta["interrupted"] is True and m.meta["epochs"] == 0
    assert 0 <= m.meta["test_accuracy"] <= 1
