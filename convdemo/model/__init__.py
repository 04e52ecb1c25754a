"""The CNN: a small Keras-style sequential model in plain numpy.

Any input shape (H, W, C) (float32 in 0..1, NHWC), any number of classes, and a sequence of
layers described by a JSON-able spec (:mod:`convdemo.model.spec`) that a saved model keeps in
its metadata. The layer types (:mod:`convdemo.model.layers`): Conv2D (filters, kernel size,
strides, padding valid/same/explicit, dilation), MaxPooling2D and AveragePooling2D (size,
strides, padding), GlobalAveragePooling2D, Flatten, Dense, Dropout and Activation (relu,
sigmoid, tanh, softmax, linear); each has a forward and a backward pass.

Two named architectures, the lecture's, on 28x28 grey images (:func:`lecture_spec` makes
their variants: without dropout, with the second convolution, other inputs and classes):

``seed`` (the lecture's model)::

    conv2d (Conv2D 32 3x3 relu) -> max_pooling2d (2) -> dropout (0.4) -> flatten
    -> dense (128 relu) -> dropout_1 (0.4) -> dense_1 (10 softmax)

``deep`` (the lecture's "99%" challenge)::

    conv2d (32 3x3 relu) -> max_pooling2d -> conv2d_1 (64 3x3 relu) -> max_pooling2d_1
    -> dropout (0.4) -> flatten -> dense (128 relu) -> dropout_1 (0.4) -> dense_1 (10 softmax)

Layer names are the ones Keras gives automatically, so a student can match them to the
lecture. A convolution is a cross-correlation plus bias, exactly what
:func:`convdemo.ops.conv2d` computes with ``channels="sum"`` for each output filter
(``tests/test_model.py`` checks the two agree).

The modules: ``layers`` (the layers and their maths), ``spec`` (specs, their checks and the
lecture's architectures), ``sequential`` (:class:`Model`, :func:`build`), ``files`` (save and
a hardened :func:`load`), ``reference`` (slow loop versions of the layers, for the tests).
This package never prints and never imports Qt.

For the explainers: ``model.forward(x, cache=True)`` then ``model.backward_from(layer_name,
grad)`` gives dL/d(input) for a gradient at any layer's output (see
:meth:`Model.backward_from`). For the trainer: ``model.forward(x, training=True, rng=rng)``,
then ``layers[-1].backward_logits(p - t)`` and ``layer.backward(grad)`` down the layers fill
every ``layer.grads``.
"""

from convdemo.model.files import (
    FORMAT_VERSION,
    META_FIELDS,
    META_KEY,
    SHIPPED,
    describe_meta,
    load,
    resolve,
)
from convdemo.model.layers import (
    ACTIVATIONS,
    LAYER_TYPES,
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Layer,
    MaxPooling2D,
    im2col,
    softmax,
)
from convdemo.model.sequential import Model, build
from convdemo.model.spec import ARCHS, INPUT_SHAPE, lecture_spec, parse_spec, spec_for

__all__ = [
    "ACTIVATIONS", "ARCHS", "Activation", "AveragePooling2D", "Conv2D", "Dense", "Dropout",
    "FORMAT_VERSION", "Flatten", "GlobalAveragePooling2D", "INPUT_SHAPE", "LAYER_TYPES", "Layer",
    "META_FIELDS", "META_KEY", "MaxPooling2D", "Model", "SHIPPED", "build", "describe_meta",
    "im2col", "lecture_spec", "load", "parse_spec", "resolve", "softmax", "spec_for",
]
