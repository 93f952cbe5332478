"""Datasets for the imputation benchmarks: UCI tables, MNIST test images, billiards trajectories.

The loaders read a local copy from the data home (:func:`get_data_home`: a ``data_home``
argument, else the ``SKIMPUTE_DATA`` environment variable, else ``~/skimpute_data``), verify
it by checksum, and download the original from its source when no copy is there. The billiards
trajectories of the NAOMI paper are simulated (:func:`make_billiards`).
"""

from skimpute.datasets._base import get_data_home
from skimpute.datasets._billiards import make_billiards
from skimpute.datasets._mnist import load_mnist_test_images
from skimpute.datasets._uci import UCI_DATASETS, load_uci

__all__ = [
    "UCI_DATASETS",
    "get_data_home",
    "load_mnist_test_images",
    "load_uci",
    "make_billiards",
]
