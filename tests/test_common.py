"""Checks every imputer must pass: scikit-learn's, the extra ones it does not run, bad input.

Each estimator appears once in ``ESTIMATORS`` at a tiny budget; a new imputer joins the list.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_global_output_transform_pandas,
    check_inplace_ensure_writeable,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from skimpute import (
    GNRImputer,
    GPSIImputer,
    MissForestImputer,
    NAOMISequenceImputer,
    NotMIWAEImputer,
)
from skimpute._sequence import BaseSequenceImputer
from skimpute.baselines import (
    AutoregressiveGRUImputer,
    KNNSequenceImputer,
    LinearInterpolationImputer,
)

torch.set_num_threads(1)

#: the tiny budget of the neural imputers
TINY_NN = dict(
    hidden_layer_sizes=(8,),
    max_epochs=2,
    batch_size=16,
    n_importance_samples=2,
    n_imputation_samples=8,
    random_state=0,
)

ESTIMATORS = [
    MissForestImputer(n_estimators=5, max_iter=3, n_jobs=1, random_state=0),
    NotMIWAEImputer(**TINY_NN),
    GNRImputer(**TINY_NN),
    GPSIImputer(
        hidden_layer_sizes=(8,),
        n_steps=2,
        max_epochs=2,
        batch_size=16,
        n_imputation_samples=2,
        random_state=0,
    ),
]
#: the tabular neural imputers at a one-epoch budget (the partial_fit and transform_in_chunks tests)
TINY_ONE_EPOCH = dict(hidden_layer_sizes=(8,), max_epochs=1, batch_size=16, random_state=0)
TABULAR_NN_ONE_EPOCH = [
    NotMIWAEImputer(n_importance_samples=2, n_imputation_samples=8, **TINY_ONE_EPOCH),
    GNRImputer(n_importance_samples=2, n_imputation_samples=8, **TINY_ONE_EPOCH),
    GPSIImputer(n_steps=2, n_imputation_samples=2, **TINY_ONE_EPOCH),
]
# The sequence imputers, on flattened input with n_timesteps=None: each column is a step of a
# one-dimensional sequence, so every number of columns is valid.
TINY_SEQ = dict(rnn_size=8, hidden_layer_sizes=(8,), max_epochs=1, batch_size=16, random_state=0)
ESTIMATORS += [
    NAOMISequenceImputer(**TINY_SEQ),
    AutoregressiveGRUImputer(**TINY_SEQ),
    LinearInterpolationImputer(),
    KNNSequenceImputer(n_neighbors=3),
]
IDS = [type(e).__name__ for e in ESTIMATORS]
# A time step that no training sequence observes is still imputed from its neighbours.
TABULAR = [e for e in ESTIMATORS if not isinstance(e, BaseSequenceImputer)]

EXTRA_CHECKS = [
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_global_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    check_dataframe_column_names_consistency,
    check_inplace_ensure_writeable,
]


def nan_data(n=60, d=4, seed=0, frac=0.25, dtype=np.float64):
    """Correlated columns with MCAR holes; every column keeps observed values."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3.0
    X[rng.random((n, d)) < frac] = np.nan
    return X.astype(dtype)


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# scikit-learn's set_output checks transform with and without feature names after fitting with
# the other kind, which warns (SimpleImputer warns the same).
@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names")
@pytest.mark.parametrize("check", EXTRA_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_extra_sklearn_checks(estimator, check):
    check(type(estimator).__name__, clone(estimator))


# ------------------------------------------------------------------ behaviour on data with NaN


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_observed_entries_kept_input_unmodified_no_nan(estimator, dtype):
    X = nan_data(dtype=dtype)
    X_before = X.copy()
    X_hat = clone(estimator).fit(X).transform(X)
    assert X_hat.dtype == dtype
    assert not np.isnan(X_hat).any()
    observed = ~np.isnan(X)
    assert np.array_equal(X_hat[observed], X[observed])  # bit for bit
    assert np.array_equal(X, X_before, equal_nan=True)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_same_random_state_same_result_and_pickle(estimator):
    X = nan_data()
    first = clone(estimator).fit(X)
    second = clone(estimator).fit(X)
    assert np.array_equal(first.transform(X), second.transform(X))
    loaded = pickle.loads(pickle.dumps(first))
    assert np.array_equal(loaded.transform(X), first.transform(X))


@pytest.mark.parametrize("estimator", TABULAR, ids=[type(e).__name__ for e in TABULAR])
def test_all_nan_column_is_named(estimator):
    X = nan_data()
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match="column.*2"):
        clone(estimator).fit(X)
    frame = pd.DataFrame(X, columns=["a", "b", "income", "d"])
    with pytest.raises(ValueError, match="'income'"):
        clone(estimator).fit(frame)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_nan_only_at_transform_is_imputed(estimator):
    X_train = nan_data(seed=1, frac=0.0)
    X_test = nan_data(seed=2, frac=0.3)
    X_hat = clone(estimator).fit(X_train).transform(X_test)
    assert not np.isnan(X_hat).any()


# --------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_infinity_rejected(estimator):
    X = nan_data()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clone(estimator).fit(X)
    fitted = clone(estimator).fit(nan_data())
    with pytest.raises(ValueError, match="infinity"):
        fitted.transform(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_text_rejected(estimator):
    frame = pd.DataFrame(nan_data(), columns=list("abcd"))
    frame["d"] = "text"
    with pytest.raises(ValueError, match="could not convert string to float"):
        clone(estimator).fit(frame)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_sparse_rejected(estimator):
    X = sp.csr_matrix(np.nan_to_num(nan_data()))
    with pytest.raises(TypeError, match="[Ss]parse"):
        clone(estimator).fit(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_complex_rejected(estimator):
    X = nan_data().astype(complex)
    with pytest.raises(ValueError, match="[Cc]omplex"):
        clone(estimator).fit(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_wrong_number_of_features_at_transform(estimator):
    fitted = clone(estimator).fit(nan_data())
    with pytest.raises(ValueError, match="3 features, but .* is expecting 4 features"):
        fitted.transform(nan_data(d=3))
