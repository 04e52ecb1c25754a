"""Where the network looked: saliency, Grad-CAM and occlusion maps for one image and class.

Every method returns an :class:`Attribution` whose ``map`` is ``(H, W)`` float32 at the
input's resolution (28x28 for the shipped models), ready to overlay on the input;
:func:`to_photo` draws such a map onto the original photo through the preprocessing's
:class:`convdemo.preprocess.Framing`.

The class score ``y`` of class ``c`` is, by ``score``:

* ``"logit"`` (the default, as Simonyan et al. and Selvaraju et al.): ``z_c``, the last
  layer's value for ``c`` before softmax;
* ``"probability"``: ``p_c = softmax(z)_c``, whose gradient is ``p_c (dz_c - sum_k p_k dz_k)``:
  it also rises when the *other* classes fall.

The methods:

* :func:`saliency` (Simonyan, Vedaldi & Zisserman 2014): the input gradient ``g = dy/dx``
  (H, W, C); the map is ``max_ch |g|``.
* :func:`grad_cam` (Selvaraju et al. 2017) on a conv layer ``A`` (the last one by default;
  its output after ReLU, (h, w, K)): ``alpha_k = mean_ij dy/dA_ijk``,
  ``L = relu(sum_k alpha_k A_k)`` (h, w), then resampled to the input by placing each value
  at the centre of its receptive field (:class:`convdemo.network.Geometry`) and
  interpolating bilinearly (edges held).
* :func:`occlusion` (Zeiler & Fergus 2014): a ``patch`` x ``patch`` square of value ``fill``
  (grey, 0.5) slides with ``stride``; ``drop = p_c(x) - p_c(x with the square)``; each pixel's
  value is the mean drop over the squares that cover it. Positive: the class needed that
  region; negative: covering it made the class more likely.

Gradients come from the model's own backward passes (:class:`Tape`), run on a private copy of
the layers with dropout off; ``tests/test_attribution.py`` checks them against float64 central
differences, and they were cross-checked with PyTorch on the shipped weights.

Saliency and Grad-CAM run in float64 (the input is promoted; the weights are the model's
float32 values, exactly). Besides precision this keeps ties exact: MNIST's saturated pixels
make equal 3x3 windows and so equal values in a max-pool window, where the gradient goes to
the first maximum (as in PyTorch and TensorFlow); in float32 a matrix product may round two
equal rows differently and send it elsewhere. For one image the cost is negligible.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from convdemo import budget
from convdemo.network import _checked_image, conv_layers, geometry, input_shape
from convdemo.preprocess import Framing

__all__ = ["Attribution", "SCORES", "Tape", "grad_cam", "input_gradient", "occlusion",
           "saliency", "to_photo"]

SCORES = ("logit", "probability")


# --------------------------------------------------------------------------- gradients


class Tape:
    """A private copy of a model's layers that runs forward keeping what backward needs,
    and then backward to the input: the gradient of any scalar of any layer's output.

    Parameters
    ----------
    model : convdemo.model.Model
        Its layers are copied, with their parameters converted to ``dtype``: the model itself
        is never changed, so another thread may keep using it.
    upto : str, optional
        Stop after this layer (default: the whole model). Its output is what :meth:`forward`
        returns.
    pre_activation : bool
        Leave the activation of the last layer out (its ReLU, or the softmax of the last
        layer), so that :meth:`forward` returns pre-activations. Without ``upto``, a final
        softmax (inside the last ``Dense`` or an ``Activation`` layer) is always left out:
        the tape ends at the logits.
    dtype : numpy dtype
        The copied parameters' dtype (float32 weights are exact in float64); give inputs
        of the same dtype, so that every matrix product runs in BLAS.

    Notes
    -----
    Uses each layer's ``forward(x, cache=True)`` (keep what ``backward`` reads, inference
    semantics), or for layers without that argument ``forward(x, training=True)`` except
    ``Dropout``, run with ``training=False`` (the identity).
    """

    def __init__(self, model, upto: str | None = None, *, pre_activation: bool = False,
                 dtype=np.float64):
        names = [layer.name for layer in model.layers]
        if upto is not None and upto not in names:
            raise ValueError(f"no layer {upto!r} in this model; it has: {', '.join(names)}")
        end = names.index(upto) if upto is not None else len(names) - 1
        # shallow copies with their own parameter arrays: a layer sets its caches, grads and
        # params by assignment, so nothing of the model's layers is touched
        layers = [copy.copy(layer) for layer in model.layers[: end + 1]]
        last = layers[-1]
        if upto is None:
            if last.kind == "Activation" and getattr(last, "activation", None) == "softmax":
                layers.pop()
            elif getattr(last, "activation", None) == "softmax":
                last.activation = "linear"
        elif pre_activation and getattr(last, "activation", None) not in (None, "linear"):
            last.activation = "linear"
        for layer in layers:
            layer.needs_input_grad = True
            layer.params = {k: np.asarray(v, dtype) for k, v in layer.params.items()}
        self.dtype = np.dtype(dtype)
        self.layers = layers
        self._cache_kw = [
            "cache" in inspect.signature(layer.forward).parameters for layer in layers
        ]
        self.names = [layer.name for layer in layers]
        self.input_shape = input_shape(model)
        self.outputs: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Run a batch ``(N, H, W, C)`` through the tape; keep every layer's output in
        :attr:`outputs` (by name) and return the last. Call before each :meth:`backward`."""
        self.outputs = {}
        x = np.asarray(x, self.dtype)
        for layer, keeps in zip(self.layers, self._cache_kw, strict=True):
            if keeps:  # the general layers: keep the cache, dropout off
                x = layer.forward(x, False, None, cache=True)
            else:  # the first layers: training=True keeps it (and turns dropout on)
                x = layer.forward(x, training=layer.kind != "Dropout")
            self.outputs[layer.name] = x
        return x

    def backward(self, grad: np.ndarray, stop: str | None = None) -> np.ndarray:
        """The gradient with respect to the input (N, H, W, C), or with respect to the output
        of layer ``stop``, given ``grad`` = d(scalar)/d(the last layer's output)."""
        if stop is not None and stop not in self.names:
            raise ValueError(f"no layer {stop!r} on this tape: {', '.join(self.names)}")
        for layer in reversed(self.layers):
            if layer.name == stop:
                return grad
            grad = layer.backward(grad)
        return grad


def _score_grad(z: np.ndarray, target: np.ndarray, score: str) -> tuple[np.ndarray, np.ndarray]:
    """``(dy/dz, p)`` for logits z (N, K): one-hot for "logit", ``p_c (e_c - p)`` for
    "probability"."""
    zz = z.astype(np.float64)
    e = np.exp(zz - zz.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(zz)
    onehot[np.arange(len(z)), target] = 1.0
    if score == "logit":
        g = onehot
    else:
        pc = p[np.arange(len(z)), target][:, None]
        g = pc * (onehot - p)
    return g.astype(z.dtype), p


def _check_common(model, image, target, score):
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, not {score!r}")
    x = np.asarray(image)
    if x.dtype != np.float64:
        x = _checked_image(model, image)
    else:
        want = input_shape(model)
        x = x[:, :, None] if x.ndim == 2 and want[2] == 1 else x
        if x.shape != want:
            raise ValueError(f"this model takes one image shaped {want}, got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("the image has values that are not finite numbers")
    x = x.astype(np.float64)  # see the module's notes on float64
    classes = _classes(model)
    if target is not None and not (isinstance(target, (int, np.integer))
                                   and 0 <= target < classes):
        raise ValueError(f"target must be a class index 0..{classes - 1} or None (the "
                         f"predicted class), not {target!r}")
    return x


def _classes(model) -> int:
    info = getattr(model, "shapes", None)
    if info:
        return int(info[-1][0])
    return int(model.layers[-1].output_shape((1,))[0])


def input_gradient(model, image, target: int | None = None, *, score: str = "logit",
                   layer: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The gradient of class ``target``'s score with respect to the input, or to the output
    of ``layer``.

    Parameters
    ----------
    model : Model
    image : ndarray
        ``(H, W)`` or ``(H, W, C)``, float (or uint8, divided by 255) in 0..1; the arithmetic
        is float64.
    target : int, optional
        Class index; None takes the predicted class.
    score : {"logit", "probability"}
    layer : str, optional
        Return ``dy/dA`` for ``A`` the output of this layer (as the model computes it: after
        its ReLU) instead of ``dy/dx``.

    Returns
    -------
    grad : ndarray float64
        ``(H, W, C)``, or the layer's output shape.
    probabilities : ndarray (K,) float64
    target : int
    """
    grad, p, target, _ = _class_gradient(model, image, target, score, layer)
    return grad, p, target


def _class_gradient(model, image, target, score, layer):
    """:func:`input_gradient`, and the tape (its ``outputs`` hold every layer's values)."""
    x = _check_common(model, image, target, score)
    tape = Tape(model)
    z = tape.forward(x[None])
    if target is None:
        target = int(np.argmax(z[0]))
    g, p = _score_grad(z, np.array([target]), score)
    grad = tape.backward(g, stop=layer)
    return grad[0], p[0], int(target), tape


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Attribution:
    """One attribution map.

    Attributes
    ----------
    method : {"saliency", "grad-cam", "occlusion"}
    target : int
        The class explained.
    label : str
        Its name.
    probability : float
        The model's probability for ``target`` on the image.
    score : str
        ``"logit"`` or ``"probability"`` (occlusion always uses the probability).
    map : ndarray (H, W) float32
        At the input's resolution. Saliency and Grad-CAM: >= 0. Occlusion: signed.
    coarse : ndarray or None
        Grad-CAM: the map at the conv layer's resolution (h, w); occlusion: the drop per
        patch position (rows, cols); saliency: the signed gradient (H, W, C).
    weights : ndarray or None
        Grad-CAM: ``alpha`` (K,), the weight of each map of ``layer``.
    layer : str or None
        Grad-CAM's conv layer.
    """

    method: str
    target: int
    label: str
    probability: float
    score: str
    map: np.ndarray = field(repr=False)
    coarse: np.ndarray | None = field(repr=False, default=None)
    weights: np.ndarray | None = field(repr=False, default=None)
    layer: str | None = None

    @property
    def signed(self) -> bool:
        """Whether the map can be negative (occlusion)."""
        return self.method == "occlusion"

    def normalized(self) -> np.ndarray:
        """The map scaled for display: ``map / max|map|``, in 0..1 (or -1..1 when signed);
        all zeros stay zeros."""
        peak = float(np.abs(self.map).max())
        if peak == 0 or not np.isfinite(peak):
            return np.zeros_like(self.map, dtype=np.float32)
        return (self.map / peak).astype(np.float32)


def _label(model, k: int) -> str:
    labels = tuple(getattr(model, "labels", ()))
    return labels[k] if k < len(labels) else str(k)


def saliency(model, image, target: int | None = None, *, score: str = "logit") -> Attribution:
    """Saliency: how much each input pixel moves the class score.

    ``g = dy/dx`` (H, W, C) by the model's backward pass; ``map = max over channels |g|``
    (H, W). ``coarse`` holds the signed ``g``.

    Parameters
    ----------
    model : Model
    image : ndarray (H, W) or (H, W, C)
        The model's input (0..1).
    target : int, optional
        The class; None takes the predicted one.
    score : {"logit", "probability"}
        See the module's docstring.

    Returns
    -------
    Attribution
    """
    g, p, target = input_gradient(model, image, target, score=score)
    heat = np.abs(g).max(axis=2).astype(np.float32)
    return Attribution("saliency", target, _label(model, target), float(p[target]), score,
                       heat, np.asarray(g, np.float32))


def last_conv(model) -> str:
    """Name of the model's last ``Conv2D`` layer (Grad-CAM's default)."""
    names = conv_layers(model)
    if not names:
        raise ValueError("this model has no convolution layer, so Grad-CAM has nothing to "
                         "look at; use saliency or occlusion")
    return names[-1]


def upsample(coarse: np.ndarray, geo, shape: tuple[int, int]) -> np.ndarray:
    """A layer's map (h, w) at the input's resolution ``shape``: value ``(i, j)`` sits at
    the centre of its receptive field (:meth:`convdemo.network.Geometry.centres`), and input
    pixel ``(r, c)`` (centre ``r + 0.5``) takes the bilinear interpolation there; beyond the
    outermost centres the edge value holds."""
    h, w = coarse.shape
    ty = (np.arange(shape[0]) + 0.5 - geo.centres(1, 0)[0]) / geo.jump[0]
    tx = (np.arange(shape[1]) + 0.5 - geo.centres(1, 1)[0]) / geo.jump[1]
    ty = np.clip(ty, 0, h - 1)
    tx = np.clip(tx, 0, w - 1)
    yy, xx = np.meshgrid(ty, tx, indexing="ij")
    return ndimage.map_coordinates(coarse.astype(np.float64), [yy, xx], order=1,
                                   mode="nearest").astype(np.float32)


def grad_cam(model, image, target: int | None = None, *, layer: str | None = None,
             score: str = "logit") -> Attribution:
    """Grad-CAM: which regions of a conv layer's maps the class score depends on.

    With ``A`` (h, w, K) the output of ``layer`` (after its ReLU) and ``y`` the class score::

        alpha_k = (1 / (h w)) sum_ij dy / dA_ijk
        L_ij    = relu(sum_k alpha_k A_ijk)

    ``L`` is returned as ``coarse`` and, resampled to the input by :func:`upsample`, as
    ``map``; ``alpha`` as ``weights``.

    Parameters
    ----------
    layer : str, optional
        A conv layer; default the last one (:func:`last_conv`).
    target, score
        As in :func:`saliency`.
    """
    name = layer or last_conv(model)
    geo = geometry(model).get(name)
    if name not in conv_layers(model) or geo is None:
        raise ValueError(f"Grad-CAM needs a convolution layer; {name!r} is not one of "
                         f"{', '.join(conv_layers(model)) or 'none'}")
    grads, p, target, tape = _class_gradient(model, image, target, score, name)
    acts = tape.outputs[name][0]
    alpha = grads.mean(axis=(0, 1))
    cam = np.maximum((acts * alpha).sum(axis=2), 0)
    heat = upsample(cam, geo, input_shape(model)[:2])
    return Attribution("grad-cam", target, _label(model, target), float(p[target]), score,
                       heat, np.asarray(cam, np.float32), np.asarray(alpha, np.float32), name)


def _positions(n: int, patch: int, stride: int) -> np.ndarray:
    """Top-left corners along one axis: 0, stride, ... and the last that fits, so every
    pixel is covered."""
    pos = list(range(0, n - patch + 1, stride))
    if pos[-1] != n - patch:
        pos.append(n - patch)
    return np.array(pos)


def occlusion(model, image, target: int | None = None, *, patch: int = 6, stride: int = 2,
              fill: float = 0.5, batch: int = 256) -> Attribution:
    """Occlusion sensitivity: the drop in the class probability when a square is covered.

    For every top-left corner ``(a, b)`` (``0, stride, 2 stride, ...`` and the last that
    fits), the image with ``x[a:a+patch, b:b+patch] = fill`` gives ``p'``;
    ``drop[a, b] = p_c(x) - p'_c``. The map's pixel ``(r, c)`` is the mean ``drop`` over the
    squares that cover it.

    Parameters
    ----------
    patch : int
        Side of the square, 1 .. the image's shorter side.
    stride : int
        Step between squares, >= 1.
    fill : float
        The square's value: 0.5 is grey; 0 erases (MNIST's background).
    batch : int
        Occluded images run through the model this many at a time.

    Returns
    -------
    Attribution
        ``map`` (H, W) signed; ``coarse`` the drops (rows, cols) per corner.
    """
    x = _checked_image(model, image)
    h, w, c = x.shape
    if not isinstance(patch, (int, np.integer)) or not 1 <= patch <= min(h, w):
        raise ValueError(f"patch must be a whole number from 1 to {min(h, w)}, not {patch!r}")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride must be a whole number >= 1, not {stride!r}")
    if not np.isfinite(fill):
        raise ValueError(f"fill must be a finite number (0.5 is grey), not {fill!r}")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a whole number >= 1, not {batch!r}")
    _check_common(model, x, target, "probability")
    rows, cols = _positions(h, patch, stride), _positions(w, patch, stride)
    base = _probabilities(model, x[None])[0]
    if target is None:
        target = int(np.argmax(base))
    budget.check(budget.array_bytes((min(batch, rows.size * cols.size), h, w, c)),
                 "the occluded images")
    corners = [(a, b) for a in rows for b in cols]
    drops = np.empty(len(corners), np.float64)
    for start in range(0, len(corners), batch):
        chunk = corners[start : start + batch]
        imgs = np.repeat(x[None], len(chunk), axis=0)
        for i, (a, b) in enumerate(chunk):
            imgs[i, a : a + patch, b : b + patch, :] = fill
        drops[start : start + len(chunk)] = base[target] - _probabilities(model, imgs)[:, target]
    total = np.zeros((h, w))
    count = np.zeros((h, w))
    for (a, b), d in zip(corners, drops, strict=True):
        total[a : a + patch, b : b + patch] += d
        count[a : a + patch, b : b + patch] += 1
    heat = (total / count).astype(np.float32)
    return Attribution("occlusion", target, _label(model, target), float(base[target]),
                       "probability", heat, drops.reshape(rows.size, cols.size).astype(
                           np.float32))


def _probabilities(model, x: np.ndarray) -> np.ndarray:
    """Class probabilities (N, K) float64 of a checked batch: each layer's inference forward
    (on a shallow copy, so nothing is kept in the model's layers); a softmax is applied when
    the last layer gives logits."""
    for layer in model.layers:
        x = copy.copy(layer).forward(x)
    out = np.asarray(x, np.float64)
    last = model.layers[-1]
    if not (getattr(last, "activation", None) == "softmax"):
        e = np.exp(out - out.max(axis=1, keepdims=True))
        out = e / e.sum(axis=1, keepdims=True)
    return out


# --------------------------------------------------------------------------- the photo


def to_photo(heat: np.ndarray, framing: Framing) -> np.ndarray:
    """A map on the preprocessed 28x28 frame, drawn onto the original photo.

    Each photo pixel ``(y, x)`` (centre ``y + 0.5, x + 0.5``) maps to frame coordinates by
    :meth:`convdemo.preprocess.Framing.to_frame` and takes the bilinear interpolation of
    ``heat`` there (frame pixel ``r`` has its value at ``r + 0.5``); photo pixels whose
    frame position falls outside the 28x28 frame get 0.

    Parameters
    ----------
    heat : ndarray (28, 28)
        E.g. :attr:`Attribution.map`.
    framing : Framing
        From :func:`convdemo.preprocess.preprocess_framed` on the same photo.

    Returns
    -------
    ndarray (photo_h, photo_w) float32
    """
    heat = np.asarray(heat, dtype=np.float64)
    size = framing.size
    if heat.shape != (size, size):
        raise ValueError(f"the map must be {size}x{size} (the preprocessed frame), "
                         f"got {heat.shape}")
    ph, pw = framing.photo_shape
    budget.check(budget.array_bytes((ph, pw), 8), "the map at the photo's size")
    out = np.zeros((ph, pw), np.float32)
    # the frame's footprint on the photo; outside it everything is 0
    (y0, y1), (x0, x1) = framing.to_photo(np.array([0.0, size]), np.array([0.0, size]))
    r0, r1 = max(0, int(np.floor(y0))), min(ph, int(np.ceil(y1)))
    c0, c1 = max(0, int(np.floor(x0))), min(pw, int(np.ceil(x1)))
    if r0 >= r1 or c0 >= c1:
        return out
    fy, fx = framing.to_frame(np.arange(r0, r1) + 0.5, np.arange(c0, c1) + 0.5)
    inside_y = (fy >= 0) & (fy < size)
    inside_x = (fx >= 0) & (fx < size)
    yy, xx = np.meshgrid(np.clip(fy - 0.5, 0, size - 1), np.clip(fx - 0.5, 0, size - 1),
                         indexing="ij")
    vals = ndimage.map_coordinates(heat, [yy, xx], order=1, mode="nearest")
    vals *= inside_y[:, None] & inside_x[None, :]
    out[r0:r1, c0:c1] = vals
    return out
