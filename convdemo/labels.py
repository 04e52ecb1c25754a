"""Class names of the two datasets the CNN is trained on: one data module, read by all.

The index of a name is the label stored in the dataset's IDX file.
"""

from __future__ import annotations

#: MNIST: handwritten digits, label i is the digit i
DIGITS: tuple[str, ...] = tuple(str(i) for i in range(10))

#: Fashion-MNIST (Zalando SE), in label order 0..9
FASHION: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: dataset name (as in ``convdemo.datasets.load``) -> class names
BY_DATASET: dict[str, tuple[str, ...]] = {"mnist": DIGITS, "fashion": FASHION}
