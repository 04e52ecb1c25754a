"""Activation maximisation: the input that excites one conv map most.

Gradient ascent on the input ``x`` (H, W, C) with the model's own backward pass
(:class:`convdemo.attribution.Tape`), on the objective

    J(x) = mean_ij A[i, j, map]  -  (l2 / 2) * mean(x ** 2)

where ``A = act(Z)`` is the layer's output (``Z`` its sums + bias before the activation ``act``:
ReLU for the shipped models; sigmoid and tanh work too): the mean the top patches' index
ranks by, so the two compare (:func:`excitation_ratio`). ``objective="pre"`` uses ``mean Z``
instead, as Lucid's ``*_pre_relu`` objectives. The gradient of ``mean relu(Z)`` is
``[Z > 0] / (h w)``; while no position of the map is positive at all it would be 0, so until
one is, the step follows ``mean Z`` to wake the map up (sigmoid and tanh: ``act'(Z) / (h w)``).
Each step, with simple regularisation as in Yosinski et al. (2015) and Olah et al. (2017):

1. **jitter**: shift ``x`` by a random ``(dy, dx)`` in ``-jitter..jitter`` (``np.roll``),
   take the gradient there and shift it back, so that the image cannot rely on single
   pixels;
2. **normalised step**: ``x += lr_t * g / mean|g|`` with ``g = dJ/dx`` (the step is about
   ``lr_t`` per pixel whatever the gradient's scale). ``lr_t`` falls geometrically from
   ``lr`` (0.2 of the range: large steps escape many of the local optima that
   ``mean relu(Z)``, a convex function of a first layer's input, is full of) to ``lr_end``
   (0.05: deeper maps need the smaller steps to settle);
3. **blur**: every ``blur_every`` steps a Gaussian blur of ``blur_sigma`` pixels;
4. **clipping** to the input range (0..1 for the shipped models).

After each step ``J`` is evaluated on the image itself (not jittered). The result is the best
image seen: the start, each step's, or one of three plain images (the range's low, middle and
high value), which some maps prefer (a map that wants wide uniform regions can be dead on a
noise start, and large steps can overshoot).

Everything random comes from ``numpy.random.default_rng(seed)``: the same model, map and
settings give the same image. The arithmetic is float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from convdemo import budget
from convdemo.attribution import Tape
from convdemo.network import activate, conv_layers, input_shape

__all__ = ["Maximized", "excitation_ratio", "map_means", "maximize"]


@dataclass(frozen=True)
class Maximized:
    """The result of :func:`maximize`.

    Attributes
    ----------
    layer, map : str, int
    image : ndarray (H, W, C) float32
        The generated input, in the input range: the best image seen (see above).
    activation : float
        Mean of the map over its positions, after the layer's activation, on ``image``.
    pre_activation : float
        The same before the activation (the objective's first term).
    history : ndarray (steps,) float32
        The objective ``J`` after each step.
    steps : int
        Steps done (fewer than asked when stopped).
    stopped : bool
        ``should_stop`` ended the ascent early; ``image`` is the image so far.
    settings : dict
        The parameters used (for captions and reproducing).
    origin : str
        Which image won: ``"step N"`` (1-based), ``"start"`` or ``"plain V"`` (a uniform
        image of value V: say so beside it, it is not a pattern).
    """

    layer: str
    map: int
    image: np.ndarray = field(repr=False)
    activation: float
    pre_activation: float
    history: np.ndarray = field(repr=False)
    steps: int
    stopped: bool
    settings: dict
    origin: str = "step"


def _check(model, layer, map) -> int:
    names = conv_layers(model)
    if layer not in names:
        raise ValueError(f"activation maximisation needs a convolution layer; {layer!r} is not "
                         f"one of {', '.join(names) or 'none'}")
    n = model.layer(layer).params["kernel"].shape[-1]
    if not isinstance(map, (int, np.integer)) or not 0 <= map < n:
        raise ValueError(f"{layer} has maps 0..{n - 1}, not {map!r}")
    return n


def map_means(model, layer: str, images, batch: int = 250) -> np.ndarray:
    """Mean of every map of ``layer`` (after its activation) for each image: (N, C) float64.

    ``images`` (N, H, W[, C]), float in 0..1 or uint8 (divided by 255); run ``batch`` at a
    time (the memory is checked first).
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != input_shape(model):
        raise ValueError(f"images must be shaped (N, H, W[, C]) as the model's input "
                         f"{input_shape(model)}, got {np.shape(images)}")
    tape = Tape(model, upto=layer)
    shapes = dict(zip(model.layer_names, model.shapes, strict=True))
    per_image = sum(int(np.prod(s)) for s in list(shapes.values())[
        : model.layer_names.index(layer) + 1]) * 8 * 3
    budget.check(per_image * min(batch, len(x)), f"the maps of {min(batch, len(x))} images")
    out = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        chunk = chunk / 255.0 if chunk.dtype == np.uint8 else chunk
        out.append(tape.forward(chunk).mean(axis=(1, 2)))
    return np.concatenate(out) if out else np.zeros((0, 0))


OBJECTIVES = ("activation", "pre")


def maximize(model, layer: str, map: int, *, objective: str = "activation",
             steps: int = 256, lr: float = 0.2, lr_end: float = 0.05,
             jitter: int = 1, blur_every: int = 4, blur_sigma: float = 0.5, l2: float = 0.0,
             value_range: tuple[float, float] = (0.0, 1.0), seed: int = 0,
             start: np.ndarray | None = None,
             progress: Callable[[float], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Maximized:
    """Gradient ascent on the input for the mean of map ``map`` of conv layer ``layer``.

    Parameters
    ----------
    model : Model
    layer : str
        A ``Conv2D`` layer's name.
    map : int
        The map (output channel), ``0 .. filters - 1``.
    objective : {"activation", "pre"}
        Maximise the map's mean after its activation (as the index ranks) or before it.
    steps : int
        Ascent steps (>= 1).
    lr, lr_end : float
        Step size, the mean change of a pixel per step (> 0), at the first and the last step;
        geometric in between: ``lr * (lr_end / lr) ** (t / (steps - 1))``.
    jitter : int
        Largest random shift per step, in pixels (0: none).
    blur_every : int
        Blur every this many steps (0: never).
    blur_sigma : float
        The blur's standard deviation in pixels (>= 0).
    l2 : float
        Weight of the L2 penalty ``(l2 / 2) mean(x ** 2)`` (>= 0; 0: none), which pulls
        pixels the map does not need back to 0 (MNIST's black).
    value_range : (low, high)
        The input's range; every step clips to it.
    seed : int
        Seeds the start image and the jitter.
    start : ndarray (H, W[, C]), optional
        The start image; default uniform noise over the whole range (a grey start leaves
        many maps stuck near black: every position negative, or a local optimum).
    progress : callable(float), optional
        Called with the fraction done after each step.
    should_stop : callable() -> bool, optional
        Polled before each step; True returns the image so far (``stopped``).

    Returns
    -------
    Maximized
    """
    _check(model, layer, map)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    act = getattr(model.layer(layer), "activation", "linear") or "linear"
    if act not in ("linear", "relu", "sigmoid", "tanh"):
        raise ValueError(f"{layer} applies {act} across its maps; maximisation works on maps "
                         "with relu, sigmoid, tanh or no activation")
    for name, value, ok in (("steps", steps, isinstance(steps, (int, np.integer)) and steps >= 1),
                            ("lr", lr, np.isfinite(lr) and lr > 0),
                            ("lr_end", lr_end, np.isfinite(lr_end) and lr_end > 0),
                            ("jitter", jitter, isinstance(jitter, (int, np.integer))
                             and jitter >= 0),
                            ("blur_every", blur_every, isinstance(blur_every, (int, np.integer))
                             and blur_every >= 0),
                            ("blur_sigma", blur_sigma, np.isfinite(blur_sigma)
                             and blur_sigma >= 0),
                            ("l2", l2, np.isfinite(l2) and l2 >= 0)):
        if not ok:
            raise ValueError(f"{name} must be a number in its range (see the docstring), "
                             f"not {value!r}")
    low, high = (float(v) for v in value_range)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"value_range must be two finite numbers, low < high, not "
                         f"{value_range!r}")
    shape = input_shape(model)
    rng = np.random.default_rng(seed)
    if start is None:
        x = low + (high - low) * rng.uniform(0.0, 1.0, shape)
    else:
        x = np.asarray(start, np.float64)
        if x.ndim == 2 and shape[2] == 1:
            x = x[:, :, None]
        if x.shape != shape:
            raise ValueError(f"start must be shaped {shape[:2]} or {shape}, got {x.shape}")
        x = np.clip(x, low, high)
    tape = Tape(model, upto=layer, pre_activation=True)

    def objective_of(z: np.ndarray) -> tuple[float, np.ndarray]:
        """The map's mean (after ReLU for "activation") and its gradient seed dJ/dZ."""
        zm = z[0, :, :, map]
        seed_grad = np.zeros_like(z)
        if objective == "pre" or act == "linear":
            seed_grad[0, :, :, map] = 1.0 / zm.size
            return float(zm.mean()), seed_grad
        a = activate(zm, act)
        if act == "relu":
            slope = zm > 0
            slope = slope if slope.any() else 1.0  # a dead map: climb mean Z until it wakes
        elif act == "sigmoid":
            slope = a * (1 - a)
        else:  # tanh
            slope = 1 - a * a
        seed_grad[0, :, :, map] = slope / zm.size
        return float(a.mean()), seed_grad

    def score(image: np.ndarray) -> float:
        value = objective_of(tape.forward(image[None]))[0]
        return value - 0.5 * l2 * float(np.mean(image * image))

    # the start and three plain images (a map that wants a uniformly bright or dark region
    # can be dead on noise, and gradient steps from a plain image rarely stay plain)
    best, best_x, origin = -np.inf, x, "start"
    plain = [(f"plain {v:g}", np.full(shape, v)) for v in (low, (low + high) / 2, high)]
    for name, candidate in [("start", x), *plain]:
        value = score(candidate)
        if value > best:
            best, best_x, origin = value, candidate, name
    history = []
    stopped = False
    for step in range(steps):
        if should_stop is not None and should_stop():
            stopped = True
            break
        dy, dx = (rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0))
        _, seed_grad = objective_of(tape.forward(np.roll(x, (dy, dx), axis=(0, 1))[None]))
        g = np.roll(tape.backward(seed_grad)[0], (-dy, -dx), axis=(0, 1))
        if l2:
            g -= l2 * x / x.size
        scale = float(np.abs(g).mean())
        rate = lr * (lr_end / lr) ** (step / max(1, steps - 1))
        if scale > 0:
            x = x + rate * g / scale
        if blur_every and (step + 1) % blur_every == 0 and blur_sigma > 0:
            x = ndimage.gaussian_filter(x, sigma=(blur_sigma, blur_sigma, 0), mode="nearest")
        x = np.clip(x, low, high)
        value = score(x)
        history.append(value)
        if value > best:
            best, best_x, origin = value, x, f"step {step + 1}"
        if progress is not None:
            progress((step + 1) / steps)
    x = best_x
    pre = tape.forward(x[None])[0, :, :, map]
    post = activate(pre, act)
    settings = dict(objective=objective, steps=steps, lr=lr, lr_end=lr_end, jitter=jitter,
                    blur_every=blur_every, blur_sigma=blur_sigma, l2=l2,
                    value_range=(low, high), seed=seed)
    return Maximized(layer, int(map), x.astype(np.float32), float(post.mean()),
                     float(pre.mean()), np.array(history, np.float32), len(history), stopped,
                     settings, origin)


def excitation_ratio(result: Maximized, dataset_max: float) -> float:
    """``result.activation / dataset_max``: how many times more the generated input excites
    its map than the most exciting test image does (``dataset_max`` from
    :meth:`convdemo.patches.PatchIndex.mean_max`, or :func:`map_means` over a test set).
    ``inf`` when no test image excites the map at all."""
    if dataset_max <= 0:
        return float("inf") if result.activation > 0 else float("nan")
    return result.activation / float(dataset_max)
