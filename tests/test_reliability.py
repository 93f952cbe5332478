"""The bad-input matrix: every estimator against every kind of awkward input, at fit and transform.

Each cell either raises an error that names the problem (scikit-learn's message where it has
one) or returns a correct result: no NaN left, the observed entries bit for bit, the input
unmodified, the dtype kept (or the documented one). ``docs/reliability.rst`` is the table of
these cells. The cells that ``tests/test_common.py`` already covers (infinity, text and sparse and
complex input at fit, an all-NaN column at fit for the tabular imputers, a wrong number of
features at transform, float32 and float64 with the observed entries bit for bit) stay there.
"""

import warnings
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from test_common import ESTIMATORS, IDS, nan_data

from skimpute import GNRImputer, GPSIImputer, MissForestImputer, NotMIWAEImputer
from skimpute._sequence import BaseSequenceImputer
from skimpute.baselines import KNNSequenceImputer

torch.set_num_threads(1)

#: 40 rows x 4 columns, 25% missing completely at random
N_ROWS = 40
SEQUENCE = [e for e in ESTIMATORS if isinstance(e, BaseSequenceImputer)]
# Each row's imputation is a Monte Carlo estimate whose noise is seeded by the row's position, so
# two identical rows get different (equally valid) imputations.
ROW_NOISE = (NotMIWAEImputer, GNRImputer, GPSIImputer)
# The imputation of a constant column is its value exactly, except for MissForest, whose forests
# average it over their trees (up to rounding).
RTOL = defaultdict(float, {MissForestImputer: 1e-12})

_FITTED = {}


def data(**kwargs):
    """The data of the matrix: ``nan_data`` with 40 rows (other arguments passed on)."""
    return nan_data(n=N_ROWS, **kwargs)


def fitted(estimator):
    """The estimator fitted once on ``data()`` (cached for the module; never modified)."""
    name = type(estimator).__name__
    if name not in _FITTED:
        _FITTED[name] = clone(estimator).fit(data())
    return _FITTED[name]


def is_sequence(estimator):
    return isinstance(estimator, BaseSequenceImputer)


def assert_imputed(X_hat, X_ref, dtype=None):
    """Check an imputation: an ndarray of X_ref's shape and `dtype`, no NaN, observed kept.

    `X_ref` is the input as a float ndarray with NaN for the missing entries; its observed
    entries must come back bit for bit. `dtype` defaults to that of `X_ref`.
    """
    dtype = X_ref.dtype if dtype is None else np.dtype(dtype)
    assert isinstance(X_hat, np.ndarray)
    assert X_hat.shape == X_ref.shape
    assert X_hat.dtype == dtype
    assert np.isfinite(X_hat).all()
    observed = ~np.isnan(X_ref)
    assert np.array_equal(X_hat[observed], X_ref[observed].astype(dtype))


def fit_transform_checked(estimator, X, X_new=None):
    """Fit a clone on `X`, transform `X_new` (default `X`), check the guarantees on ndarrays."""
    X_new = X if X_new is None else X_new
    X_before, X_new_before = X.copy(), X_new.copy()
    imputer = clone(estimator).fit(X)
    X_hat = imputer.transform(X_new)
    assert_imputed(X_hat, X_new)
    assert np.array_equal(X, X_before, equal_nan=True)
    assert np.array_equal(X_new, X_new_before, equal_nan=True)
    return X_hat


parametrize_estimators = pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)


# ------------------------------------------------------------------ text and object columns


@parametrize_estimators
def test_text_rejected_at_transform(estimator):
    frame = pd.DataFrame(data(), columns=list("abcd"))
    imputer = clone(estimator).fit(frame)
    frame["d"] = "text"
    with pytest.raises(ValueError, match="could not convert string to float: 'text'"):
        imputer.transform(frame)


@pytest.mark.parametrize("container", ["frame", "ndarray"])
@parametrize_estimators
def test_object_columns_holding_numbers_are_converted(estimator, container):
    X = data()
    if container == "frame":
        # an object column of Python floats and None, as pandas builds from mixed records
        obj = pd.DataFrame(X, columns=list("abcd"))
        obj["b"] = pd.Series([None if np.isnan(v) else float(v) for v in X[:, 1]], dtype=object)
        assert obj["b"].dtype == object
        before = obj.copy()
    else:
        obj = X.astype(object)
        before = obj.copy()
    X_hat = clone(estimator).fit(obj).transform(obj)
    # converted to float64 NaN, like scikit-learn: the same result as on the float64 array
    assert np.array_equal(X_hat, fitted(estimator).transform(X))
    assert_imputed(X_hat, X)
    if container == "frame":
        pd.testing.assert_frame_equal(obj, before)
    else:
        assert np.array_equal(obj.astype(float), before.astype(float), equal_nan=True)


@parametrize_estimators
def test_object_column_holding_pd_na_is_rejected(estimator):
    frame = pd.DataFrame(data(), columns=list("abcd"))
    frame["b"] = frame["b"].astype(object).where(frame["b"].notna(), pd.NA)
    with pytest.raises(TypeError, match="NAType"):
        clone(estimator).fit(frame)
    with pytest.raises(TypeError, match="NAType"):
        fitted(estimator).transform(frame.to_numpy())  # an object array holding pd.NA


# ----------------------------------------------------------------- sparse and complex at transform


@parametrize_estimators
def test_sparse_rejected_at_transform(estimator):
    X = sp.csr_matrix(np.nan_to_num(data()))
    with pytest.raises(TypeError, match="Sparse data was passed"):
        fitted(estimator).transform(X)


@parametrize_estimators
def test_complex_rejected_at_transform(estimator):
    with pytest.raises(ValueError, match="Complex data not supported"):
        fitted(estimator).transform(data().astype(complex))


# ------------------------------------------------------------------------------- empty columns


@pytest.mark.parametrize("estimator", SEQUENCE, ids=[type(e).__name__ for e in SEQUENCE])
def test_all_nan_column_at_fit_sequence(estimator):
    # a time step that no training sequence observes is imputed from its neighbours
    X = data()
    X[:, 2] = np.nan
    fit_transform_checked(estimator, X)


@parametrize_estimators
def test_all_nan_column_at_transform(estimator):
    X = data(seed=3)
    X[:, 2] = np.nan
    X_before = X.copy()
    assert_imputed(fitted(estimator).transform(X), X)
    assert np.array_equal(X, X_before, equal_nan=True)


# ---------------------------------------------------------------------------- constant columns


@pytest.mark.parametrize("value", [5.0, 0.0, 2e-12], ids=["5", "0", "2e-12"])
@parametrize_estimators
def test_constant_column(estimator, value):
    X = data()
    X[:, 1] = np.where(np.isnan(X[:, 1]), np.nan, value)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a division by a zero std, say
        X_hat = fit_transform_checked(estimator, X)
    if not is_sequence(estimator):
        # the only value the column has is the only sensible imputation, at any magnitude
        np.testing.assert_allclose(X_hat[:, 1], value, rtol=RTOL[type(estimator)], atol=0)


@parametrize_estimators
def test_constant_data(estimator):
    # every observed value equal: for the sequence imputers, a constant value dimension
    X = np.where(np.isnan(data()), np.nan, 2.5)
    X_hat = fit_transform_checked(estimator, X)
    np.testing.assert_allclose(X_hat, 2.5, rtol=RTOL[type(estimator)], atol=0)


@pytest.mark.parametrize("estimator", ESTIMATORS[1:4], ids=IDS[1:4])
def test_constant_column_in_multiple_imputations(estimator):
    X = data()
    X[:, 1] = np.where(np.isnan(X[:, 1]), np.nan, 2e-12)
    draws = clone(estimator).fit(X).sample(X, n_imputations=3)
    assert np.all(draws[:, :, 1] == 2e-12)
    assert np.isfinite(draws).all()


# ------------------------------------------------------------------------ single and zero rows


@parametrize_estimators
def test_single_row_at_fit(estimator):
    row = data(frac=0.0)[:1]
    X_new = data(seed=2)
    X_hat = fit_transform_checked(estimator, row, X_new)
    if not is_sequence(estimator):
        # one row makes every column constant: each column is imputed with the row's value
        # (MissForest's forests average it over their trees, up to rounding)
        missing = np.isnan(X_new)
        expected = np.broadcast_to(row, X_new.shape)[missing]
        np.testing.assert_allclose(X_hat[missing], expected, rtol=RTOL[type(estimator)], atol=0)


@parametrize_estimators
def test_single_row_with_a_missing_value_at_fit(estimator):
    row = np.array([[1.0, np.nan, 2.0, 3.0]])
    if is_sequence(estimator):
        fit_transform_checked(estimator, row)  # the missing step lies between observed ones
    else:
        with pytest.raises(ValueError, match=r"column\(s\) 1 are entirely NaN"):
            clone(estimator).fit(row)


@parametrize_estimators
def test_single_row_at_transform(estimator):
    row = data(seed=4, frac=0.0)[:1]
    row[0, 1] = np.nan
    assert_imputed(fitted(estimator).transform(row), row)


@parametrize_estimators
def test_zero_rows_rejected(estimator):
    empty = np.empty((0, 4))
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        clone(estimator).fit(empty)
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        fitted(estimator).transform(empty)


# ------------------------------------------------------------------ rows with every value missing


@parametrize_estimators
def test_row_with_every_value_missing_at_fit(estimator):
    X = data()
    X[[3, 17]] = np.nan
    fit_transform_checked(estimator, X)


@parametrize_estimators
def test_row_with_every_value_missing_at_transform(estimator):
    X = data(seed=3)[:5]
    X[0] = np.nan
    assert_imputed(fitted(estimator).transform(X), X)
    alone = np.full((1, 4), np.nan)
    assert_imputed(fitted(estimator).transform(alone), alone)


@parametrize_estimators
def test_no_observed_value_at_all_rejected(estimator):
    with pytest.raises(ValueError, match="no observed value"):
        clone(estimator).fit(np.full((N_ROWS, 4), np.nan))


# ---------------------------------------------------------------------------- no missing value


@parametrize_estimators
def test_no_missing_value(estimator):
    X = data(frac=0.0)
    X_hat = fit_transform_checked(estimator, X)
    assert np.array_equal(X_hat, X)
    assert not np.shares_memory(X_hat, X)
    X32 = X.astype(np.float32)
    X_hat32 = fitted(estimator).transform(X32)
    assert X_hat32.dtype == np.float32 and np.array_equal(X_hat32, X32)


# ------------------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("kind", ["Float64", "Int64", "int64 ndarray"])
@parametrize_estimators
def test_nullable_and_integer_input_give_float64(estimator, kind):
    X = data()
    if kind == "Float64":
        X_in = pd.DataFrame(X, columns=list("abcd")).astype("Float64")
        assert X_in.isna().to_numpy().sum() == np.isnan(X).sum()  # pd.NA where X has NaN
    elif kind == "Int64":
        X = np.round(X * 10)
        X_in = pd.DataFrame(X, columns=list("abcd")).astype("Int64")
    else:
        X = np.round(data(frac=0.0) * 10)
        X_in = X.astype(np.int64)
    before = X_in.copy()
    X_hat = clone(estimator).fit(X_in).transform(X_in)
    # converted to float64 (pd.NA to NaN) like SimpleImputer: the result of the float64 data
    assert_imputed(X_hat, X, dtype=np.float64)
    assert np.array_equal(X_hat, clone(estimator).fit(X).transform(X))
    if kind == "int64 ndarray":
        assert np.array_equal(X_in, before)
    else:
        pd.testing.assert_frame_equal(X_in, before)


@parametrize_estimators
def test_transform_dtype_follows_its_input(estimator):
    X64 = data(seed=5)
    X32 = X64.astype(np.float32)
    assert_imputed(fitted(estimator).transform(X32), X32)  # fitted on float64
    fitted32 = clone(estimator).fit(data().astype(np.float32))
    assert_imputed(fitted32.transform(X64), X64)


@parametrize_estimators
def test_memory_layout_does_not_change_the_result(estimator):
    X = data()
    X_f = np.asfortranarray(X)  # what pandas hands over for a DataFrame
    assert np.array_equal(clone(estimator).fit(X_f).transform(X_f), fitted(estimator).transform(X))


# ---------------------------------------------------------------------------- read-only memmap


@parametrize_estimators
def test_read_only_memmap(estimator, tmp_path):
    X = data()
    path = tmp_path / "X.npy"
    np.save(path, X)
    X_map = np.load(path, mmap_mode="r")
    assert isinstance(X_map, np.memmap) and not X_map.flags.writeable
    X_hat = clone(estimator).fit(X_map).transform(X_map)
    assert_imputed(X_hat, X)
    assert X_hat.flags.writeable and not np.shares_memory(X_hat, X_map)
    assert np.array_equal(np.load(path), X, equal_nan=True)  # the file is untouched
    del X_map


# ------------------------------------------------------------------------------ magnitudes


@pytest.mark.parametrize("magnitude", [1e-15, 1e-12, 1e12, 1e15])
@parametrize_estimators
def test_magnitude(estimator, magnitude):
    X = data() * magnitude
    X_hat = fit_transform_checked(estimator, X)
    low, high = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    spread = high - low
    assert np.all((X_hat >= low - 3 * spread) & (X_hat <= high + 3 * spread))
    X_hat_1 = fitted(estimator).transform(data())  # the same data at magnitude 1
    missing = np.isnan(X)
    if isinstance(estimator, MissForestImputer):
        # scikit-learn's trees are scale-free only up to their absolute tie and purity
        # thresholds, which change which nodes split; at 1e-12 they used not to split at all
        # (every missing entry got its column mean)
        assert all(np.ptp(X_hat[missing[:, j], j]) > 0 for j in range(X.shape[1]))
        assert np.corrcoef(X_hat[missing], X_hat_1[missing])[0, 1] > 0.8
    else:
        # the neural imputers standardise, the sequence baselines interpolate or average: the
        # imputations scale with the data
        np.testing.assert_allclose(
            X_hat / magnitude, X_hat_1, rtol=1e-6, atol=1e-9 * (spread / magnitude).max()
        )


# ------------------------------------------------------------------------------ duplicated rows


@parametrize_estimators
def test_duplicated_rows(estimator):
    X = np.vstack([data()[:10]] * 4)
    X_hat = fit_transform_checked(estimator, X)
    if not isinstance(estimator, ROW_NOISE):
        # a deterministic imputer imputes identical rows identically
        for k in range(1, 4):
            assert np.array_equal(X_hat[10 * k : 10 * (k + 1)], X_hat[:10])


def test_duplicated_rows_knn_distance_weights():
    # zero distances to the duplicates of a row must not divide by zero
    X = np.vstack([data()[:10]] * 4)
    estimator = KNNSequenceImputer(n_neighbors=3, weights="distance")
    with np.errstate(divide="raise", invalid="raise"):
        X_hat = fit_transform_checked(estimator, X)
    assert np.array_equal(X_hat[10:20], X_hat[:10])
