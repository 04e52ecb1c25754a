"""The shipped weights meet their goals on the full real test sets, and read drawn digits."""

from __future__ import annotations

import pytest

from convdemo import datasets, resources
from convdemo import model as cnn
from convdemo.labels import DIGITS, FASHION
from convdemo.preprocess import preprocess
from tests.test_preprocess import drawn_digit

GOALS = {  # name: (architecture, dataset, test accuracy goal)
    "digits": ("seed", "mnist", 0.990),
    "digits-deep": ("deep", "mnist", 0.993),
    "fashion": ("seed", "fashion", 0.915),
    "fashion-deep": ("deep", "fashion", 0.925),
}


def test_all_shipped_models_are_there():
    assert set(GOALS) == set(cnn.SHIPPED)
    for name in cnn.SHIPPED:
        path = resources.model_path(name)
        assert path.is_file(), f"{path} is missing"
        assert path.stat().st_size < 4_000_000, f"{path} is larger than a few MB"


@pytest.mark.parametrize("name", list(GOALS))
def test_shipped_model_meets_its_goal(name, request):
    arch, dataset, goal = GOALS[name]
    data_dir = request.getfixturevalue("mnist_dir" if dataset == "mnist" else "fashion_dir")
    m = cnn.load(name)
    meta = m.meta
    assert m.arch == arch and meta["dataset"] == dataset and meta["dtype"] == "float32"
    assert m.labels == (DIGITS if dataset == "mnist" else FASHION)
    command = meta["command"].split("convdemo train ")[1]
    assert command.startswith(f"--dataset {dataset} --arch {arch}")
    assert f"--out assets/models/{name}.npz" in meta["command"]
    assert not meta["interrupted"] and meta["epochs"] >= meta["best_epoch"] >= 1
    _, (x_test, y_test) = datasets.load(dataset, data_dir)
    assert len(y_test) == 10_000
    accuracy = float((m.predict(x_test).argmax(axis=1) == y_test).mean())
    assert accuracy >= goal, f"{name}: {accuracy:.4f} < {goal}"
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize("name", ["digits", "digits-deep"])
@pytest.mark.parametrize("digit", ["7", "1"])
def test_drawn_digit_is_read_correctly(name, digit):
    """A dark digit drawn on a white 300x300 canvas, through preprocess, then the model."""
    x = preprocess(drawn_digit(digit))
    probs = cnn.load(name).predict(x[None])[0]
    assert DIGITS[int(probs.argmax())] == digit, probs.round(3)
