"""The imputers a suite can run, each built from a seed and the number of rows.

Every entry maps a method name to a function ``(seed, n_samples) -> estimator``. The mean and
MICE are scikit-learn's own imputers, as the papers use them; MICE is ``IterativeImputer`` with
``BayesianRidge``.

The neural imputers keep their defaults except the number of epochs, which follows a budget of
gradient steps (:data:`NEURAL_STEPS`), as the papers train for a fixed number of iterations
rather than epochs: on breast cancer (569 rows) the budget gives the default 300 epochs, on white
wine (4898 rows) 35.
"""

import math
from functools import partial

from sklearn.ensemble import RandomForestRegressor
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import BayesianRidge

from skimpute import GNRImputer, GPSIImputer, MissForestImputer, NotMIWAEImputer

#: Gradient steps of a neural imputer in the benchmarks (the papers: 100 000 of batch 16).
NEURAL_STEPS = 5400


def neural_epochs(n_samples, batch_size, steps=NEURAL_STEPS, max_epochs=300):
    """Epochs that give about `steps` gradient steps on `n_samples` rows, at most `max_epochs`."""
    batches = math.ceil(n_samples / batch_size)
    return max(1, min(max_epochs, round(steps / batches)))


def _mean(seed, n_samples):
    return SimpleImputer(strategy="mean")


def _mice(seed, n_samples):
    return IterativeImputer(estimator=BayesianRidge(), random_state=seed)


def _missforest(seed, n_samples):
    return MissForestImputer(random_state=seed)


def _iterative_rf(seed, n_samples):
    # The common stand-in for MissForest: scikit-learn's IterativeImputer with a 100-tree
    # forest and its default stopping rule; the slow reference MissForestImputer must match.
    return IterativeImputer(
        estimator=RandomForestRegressor(n_estimators=100, random_state=seed),
        random_state=seed,
    )


def _neural(estimator_class, seed, n_samples, **params):
    estimator = estimator_class(random_state=seed, **params)
    estimator.set_params(max_epochs=neural_epochs(n_samples, estimator.batch_size))
    return estimator


def _not_miwae(missing_model, decoder="mlp"):
    return partial(_neural, NotMIWAEImputer, missing_model=missing_model, decoder=decoder)


METHODS = {
    "mean": _mean,
    "MICE": _mice,
    "MissForest": _missforest,
    "IterativeImputer-RF100": _iterative_rf,
    # not-MIWAE Table 1's rows: three missing models, two decoders, and MIWAE / PPCA (no model)
    "not-MIWAE_selfmasking_known": _not_miwae("selfmasking_known"),
    # The same on the data as the paper prepares it: the benchmark data are already standardised
    # with the complete data's statistics, and scale=False adds no second standardisation.
    "not-MIWAE_selfmasking_known-unscaled": partial(
        _neural, NotMIWAEImputer, missing_model="selfmasking_known", scale=False
    ),
    "not-MIWAE_selfmasking": _not_miwae("selfmasking"),
    "not-MIWAE_linear": _not_miwae("linear"),
    "MIWAE": _not_miwae(None),
    "not-MIWAE-PPCA_selfmasking_known": _not_miwae("selfmasking_known", "linear"),
    "not-MIWAE-PPCA_selfmasking": _not_miwae("selfmasking", "linear"),
    "not-MIWAE-PPCA_linear": _not_miwae("linear", "linear"),
    "PPCA": _not_miwae(None, "linear"),
    # GNR with the paper's alpha = 1, and the two other values of its Figure 6
    "GNR": partial(_neural, GNRImputer),
    # the same on the data as the papers prepare them (see not-MIWAE's `-unscaled`)
    "GNR-unscaled": partial(_neural, GNRImputer, scale=False),
    # with the permutation-invariant set encoder, the paper's stated choice ("we choose the
    # latter", section 4) outside its synthetic experiment
    "GNR-set": partial(_neural, GNRImputer, encoder="set"),
    "GNR_alpha0.01": partial(_neural, GNRImputer, alpha=0.01),
    "GNR_alpha100": partial(_neural, GNRImputer, alpha=100.0),
    # GPSI's direct model with its defaults (Gaussian observations, scale="auto"; trained on
    # the incomplete data by hiding half of the observed entries of each batch)
    "GPSI-add": partial(_neural, GPSIImputer, update="add"),
    "GPSI-jump": partial(_neural, GPSIImputer, update="jump"),
}
