"""The convolution engine: 2-D convolution, pooling and ReLU on numpy arrays.

Everything here is a pure function of arrays; nothing imports Qt. Each fast routine has an
obvious loop-based twin (:func:`conv2d_reference`, :func:`pool2d_reference`) that the tests
compare it with.

The parts, one file each:

========================  ===============================================================
``validation``            argument checks, the allowed names (``PADDINGS``, ``BORDERS``...)
``shapes``                output sizes and padding amounts (``output_shape``, ``pad_amounts``)
``borders``               what padded cells hold (``border_index``, ``numpy.pad`` modes)
``conv``                  ``conv2d``: arguments, padding, choice of engine
``layer``                 the layer form (a batch through ``C_out`` filters, im2col + GEMM)
                          and its gradients (``conv2d_grads``)
``bands``                 the banded correlation engines behind ``conv2d``
``pool``                  ``pool2d``
``activation``            ``relu``
``reference``             the slow loop versions (``conv2d_reference``, ``pool2d_reference``,
                          ``conv2d_layer_reference``, ``conv2d_grads_reference``)
``parallel``              two threads over row chunks (``for_rows``), scratch buffers
========================  ===============================================================

Conventions
-----------
* Images are ``(H, W)`` or ``(H, W, C)``, row-major. Float arrays are used as they are
  (computed in float32); integer arrays are scaled to 0..1 by their dtype's maximum.
* Results are always float32.
* Output size along one axis of length ``n`` with kernel (or window) size ``k``, dilation
  ``d`` and stride ``s``, after ``before + after`` padded cells, is
  ``floor((n + before + after - ke) / s) + 1`` with the effective kernel
  ``ke = (k - 1) d + 1`` (taps ``d`` cells apart; ``ke = k`` without dilation), or 0 when it
  does not fit at all (``n + before + after < ke``). Then the result is an **empty array**
  with 0 rows or 0 columns, never an error: the GUI shows "nothing fits" and the shape
  readout stays correct while the user drags a slider.
* Memory: an allocation whose size comes from the arguments (a padded copy, the result,
  patches) is checked with :func:`convdemo.budget.check` before it is made.

Padding rules (per axis, see :func:`pad_amounts`), with ``ke`` as above:

``"valid"``
    no padding: ``out = floor((n - ke) / s) + 1``.
``"same"``
    TensorFlow/Keras: ``out = ceil(n / s)``, total padding ``max((out - 1) * s + ke - n, 0)``,
    the smaller half before (top/left), the larger half after (bottom/right).
``"full"``
    ``ke - 1`` on each side (``scipy.signal.convolve2d``'s default):
    ``out = floor((n + ke - 2) / s) + 1``.
``int`` or ``(py, px)``
    that many cells on both sides, as PyTorch's ``padding=``:
    ``out = floor((n + 2p - d (k - 1) - 1) / s) + 1``.
"""

from convdemo.ops.activation import relu
from convdemo.ops.borders import border_index
from convdemo.ops.conv import conv2d
from convdemo.ops.layer import conv2d_grads
from convdemo.ops.parallel import for_rows
from convdemo.ops.pool import pool2d
from convdemo.ops.reference import (
    conv2d_grads_reference,
    conv2d_layer_reference,
    conv2d_reference,
    pool2d_reference,
)
from convdemo.ops.shapes import output_shape, pad_amounts, pool_output_shape
from convdemo.ops.validation import BORDERS, CHANNEL_MODES, PADDINGS, POOL_MODES

__all__ = [
    "BORDERS",
    "CHANNEL_MODES",
    "PADDINGS",
    "POOL_MODES",
    "border_index",
    "conv2d",
    "conv2d_grads",
    "conv2d_grads_reference",
    "conv2d_layer_reference",
    "conv2d_reference",
    "for_rows",
    "output_shape",
    "pad_amounts",
    "pool2d",
    "pool2d_reference",
    "pool_output_shape",
    "relu",
]
