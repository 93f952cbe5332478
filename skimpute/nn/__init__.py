"""Torch building blocks shared by the neural imputers.

The variational imputers (not-MIWAE, MIWAE, GNR) assemble their torch modules from these pieces: an
encoder for ``q(z | x_o)``, an observation model ``p(x | z)``, a missing-data model ``p(s | x)``,
the importance-weighted bound with ``K`` samples that training maximises, and the
self-normalised importance sampling with ``L`` samples that imputes at transform.

- encoders: :func:`make_mlp`, :class:`GaussianEncoder`, :class:`SetEmbedding`;
- observation models ``p(x | z)``: :class:`MLPDecoder`, :class:`LinearDecoder`;
- missing-data models ``p(s | x)``: :func:`make_missing_model` and its classes, and GNR's mask
  decoder ``p(m | z, u)``, :class:`MaskDecoder`;
- the importance-weighted bound: :func:`iw_bound`, :class:`NegIWBound`;
- sampling: seeded noise sources, self-normalised importance sampling, resampling, mixture medians;
- sequences (NAOMI and its baselines): :class:`StackedGRU`, :func:`draw_known_steps`,
  :class:`MeanLoss`.

Tensor shapes follow ``(S, B, D)``: ``S`` importance samples (``K`` in training, ``L`` at
transform), ``B`` rows, ``D`` features. Masks are 1 where an entry is observed (the papers'
``s = 1`` or ``m = 1``).
"""

from skimpute.nn._bounds import NegIWBound, iw_bound
from skimpute.nn._layers import ACTIVATIONS, GaussianEncoder, SetEmbedding, make_mlp
from skimpute.nn._missing import (
    MISSING_MODELS,
    LinearMissing,
    MaskDecoder,
    MCARMissing,
    MissingModel,
    NonlinearMissing,
    SelfMasking,
    make_missing_model,
)
from skimpute.nn._observation import (
    LIKELIHOODS,
    LinearDecoder,
    MLPDecoder,
    observation_cdf,
    observation_median,
    observation_rsample,
)
from skimpute.nn._sampling import (
    GlobalNoise,
    RowNoise,
    importance_resample,
    mixture_median,
    row_seeds,
    snis_mean,
    snis_median,
    snis_weights,
)
from skimpute.nn._sequence import MeanLoss, StackedGRU, draw_known_steps

__all__ = [
    "ACTIVATIONS",
    "LIKELIHOODS",
    "MISSING_MODELS",
    "GaussianEncoder",
    "GlobalNoise",
    "LinearDecoder",
    "LinearMissing",
    "MCARMissing",
    "MLPDecoder",
    "MaskDecoder",
    "MeanLoss",
    "MissingModel",
    "NegIWBound",
    "NonlinearMissing",
    "RowNoise",
    "SelfMasking",
    "SetEmbedding",
    "StackedGRU",
    "draw_known_steps",
    "importance_resample",
    "iw_bound",
    "make_missing_model",
    "make_mlp",
    "mixture_median",
    "observation_cdf",
    "observation_median",
    "observation_rsample",
    "row_seeds",
    "snis_mean",
    "snis_median",
    "snis_weights",
]
