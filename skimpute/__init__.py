"""skimpute: scikit-learn imputers built on deep generative models.

The imputers are scikit-learn transformers: they take an array or DataFrame with NaN for the
missing entries and return it completed, with the observed entries unchanged. The sub-modules
hold what surrounds them:

- :mod:`skimpute.ampute`: seeded mask generators (MCAR, MAR, MNAR self-masking, censoring,
  image occlusion, sequence steps);
- :mod:`skimpute.metrics`: errors on the missing entries, mask accuracy and the scorers used
  with :class:`~sklearn.model_selection.GridSearchCV`;
- :mod:`skimpute.datasets`: loaders for the UCI benchmark data and MNIST test images, and the
  billiards simulator;
- :mod:`skimpute.baselines`: baselines such as :class:`MissForestImputer` and the sequence
  baselines of NAOMI (linear interpolation, KNN, an autoregressive GRU);
- :mod:`skimpute.nn`: the torch building blocks the neural imputers share;
- :mod:`skimpute.persist`: :func:`save_weights` and :func:`load_weights`, the neural imputers'
  weights in the safetensors format, without pickle;
- :mod:`skimpute.distributed`: the settings of dask workers that train the imputers (one torch
  thread, no ``MALLOC_TRIM_THRESHOLD_``) for a search on a cluster; it needs the
  ``distributed`` extra and is not imported by ``import skimpute``.
"""

from skimpute import ampute, datasets, metrics, nn
from skimpute._chunked import transform_in_chunks
from skimpute.baselines import MissForestImputer
from skimpute.gnr import GNRImputer
from skimpute.gpsi import GPSIImputer
from skimpute.naomi import NAOMISequenceImputer
from skimpute.notmiwae import NotMIWAEImputer
from skimpute.persist import load_weights, save_weights

__version__ = "0.1.0.dev0"

__all__ = [
    "GNRImputer",
    "GPSIImputer",
    "MissForestImputer",
    "NAOMISequenceImputer",
    "NotMIWAEImputer",
    "__version__",
    "ampute",
    "datasets",
    "load_weights",
    "metrics",
    "nn",
    "save_weights",
    "transform_in_chunks",
]
