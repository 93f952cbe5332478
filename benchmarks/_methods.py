"""The imputers a suite can run, each built from a seed.

Every entry maps a method name to a function ``seed -> estimator``. The mean and MICE are
scikit-learn's own imputers, as the papers use them; MICE is ``IterativeImputer`` with
``BayesianRidge``.
"""

from sklearn.ensemble import RandomForestRegressor
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import BayesianRidge

from skimpute import MissForestImputer


def _mean(seed):
    return SimpleImputer(strategy="mean")


def _mice(seed):
    return IterativeImputer(estimator=BayesianRidge(), random_state=seed)


def _missforest(seed):
    return MissForestImputer(random_state=seed)


def _iterative_rf(seed):
    # The common stand-in for MissForest: scikit-learn's IterativeImputer with a 100-tree
    # forest and its default stopping rule; the slow reference MissForestImputer must match.
    return IterativeImputer(
        estimator=RandomForestRegressor(n_estimators=100, random_state=seed),
        random_state=seed,
    )


METHODS = {
    "mean": _mean,
    "MICE": _mice,
    "MissForest": _missforest,
    "IterativeImputer-RF100": _iterative_rf,
}
