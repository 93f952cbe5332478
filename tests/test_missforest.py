"""Tests of MissForestImputer: scikit-learn's checks and its behaviour on data with NaN."""

import doctest
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from skimpute import MissForestImputer
from skimpute.baselines import _missforest


def _small(**params):
    """A cheap imputer for the tests."""
    defaults = dict(n_estimators=5, max_iter=3, n_jobs=1, random_state=0)
    defaults.update(params)
    return MissForestImputer(**defaults)


def _correlated_data(n_samples=80, n_features=4, missing_rate=0.2, seed=0):
    """Correlated Gaussian columns, and a copy with MCAR holes (no column emptied)."""
    rng = np.random.RandomState(seed)
    latent = rng.normal(size=(n_samples, 1))
    X = latent + 0.3 * rng.normal(size=(n_samples, n_features))
    X_missing = X.copy()
    X_missing[rng.uniform(size=X.shape) < missing_rate] = np.nan
    return X, X_missing


# --------------------------------------------------------------------------------------------
# scikit-learn's common checks and the extra checks they do not run themselves


# scikit-learn's common checks and the extra checks run for every estimator in
# tests/test_common.py.


def test_parameter_constraints_match_params():
    assert set(MissForestImputer._parameter_constraints) == set(MissForestImputer().get_params())


def test_docstring_example():
    result = doctest.testmod(_missforest, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------------------------
# behaviour on data with NaN


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_observed_entries_unchanged_no_nan_left_dtype_kept(dtype):
    _, X_missing = _correlated_data()
    X_missing = X_missing.astype(dtype)
    X_before = X_missing.copy()
    X_out = _small().fit(X_missing).transform(X_missing)

    assert X_out.dtype == dtype
    assert not np.isnan(X_out).any()
    observed = ~np.isnan(X_missing)
    # bit for bit, in the input dtype
    assert np.array_equal(X_out[observed].view(np.uint8), X_missing[observed].view(np.uint8))
    # the input is left as it was (NaN in the same places)
    np.testing.assert_array_equal(X_missing, X_before)


def test_input_not_modified_and_read_only_input_accepted():
    _, X_missing = _correlated_data()
    X_ro = X_missing.copy()
    X_ro.setflags(write=False)
    X_out = _small().fit_transform(X_ro)
    assert not X_ro.flags.writeable
    np.testing.assert_array_equal(X_ro, X_missing)
    assert not np.isnan(X_out).any()

    df = pd.DataFrame(X_missing, columns=list("abcd"))
    df_before = df.copy()
    _small().fit(df).transform(df)
    pd.testing.assert_frame_equal(df, df_before)


def test_imputes_better_than_mean_on_correlated_data():
    X, X_missing = _correlated_data(n_samples=150, seed=1)
    missing = np.isnan(X_missing)
    X_mf = _small(n_estimators=20).fit_transform(X_missing)
    X_mean = SimpleImputer().fit_transform(X_missing)
    rmse_mf = np.sqrt(np.mean((X_mf[missing] - X[missing]) ** 2))
    rmse_mean = np.sqrt(np.mean((X_mean[missing] - X[missing]) ** 2))
    assert rmse_mf < 0.8 * rmse_mean


def test_same_random_state_same_output():
    _, X_missing = _correlated_data()
    a = _small(random_state=3).fit_transform(X_missing)
    b = _small(random_state=3).fit_transform(X_missing)
    c = _small(random_state=4).fit_transform(X_missing)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_transform_is_deterministic_and_pickle_round_trip_identical():
    _, X_missing = _correlated_data()
    _, X_new = _correlated_data(seed=5)
    imputer = _small().fit(X_missing)
    expected = imputer.transform(X_new)
    np.testing.assert_array_equal(imputer.transform(X_new), expected)
    restored = pickle.loads(pickle.dumps(imputer))
    np.testing.assert_array_equal(restored.transform(X_new), expected)


def test_transform_does_not_refit(monkeypatch):
    _, X_missing = _correlated_data()
    _, X_new = _correlated_data(seed=7)
    imputer = _small().fit(X_missing)
    n_fits = []
    original_fit = RandomForestRegressor.fit

    def counting_fit(self, *args, **kwargs):
        n_fits.append(1)
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(RandomForestRegressor, "fit", counting_fit)
    X_out = imputer.transform(X_new)
    assert not n_fits
    assert not np.isnan(X_out).any()
    # sanity: the counter does see fits
    clone(imputer).fit(X_missing)
    assert n_fits


def test_transform_depends_on_fit_data_and_is_row_wise():
    _, A1 = _correlated_data(seed=1)
    _, A2 = _correlated_data(seed=2)
    A2 = -2.0 * A2 + 3.0
    _, B = _correlated_data(seed=3)
    out1 = _small().fit(A1).transform(B)
    out2 = _small().fit(A2).transform(B)
    missing = np.isnan(B)
    # the imputations of B come from the fitted forests, so they change with the fit data
    assert np.all(out1[missing] != out2[missing])
    # no refit on B: every row is imputed on its own, whatever else is in the batch
    imputer = _small().fit(A1)
    np.testing.assert_allclose(imputer.transform(B[:10]), out1[:10], rtol=0, atol=1e-12)
    np.testing.assert_allclose(imputer.transform(B[10:11]), out1[10:11], rtol=0, atol=1e-12)


def _reference_missforest(
    X, *, n_estimators, max_iter, max_features, min_samples_leaf, random_state
):
    """Plain MissForest with no stopping: every iterate and every Delta, seeded as the class."""
    rng = np.random.RandomState(random_state)
    mask = ~np.isnan(X)
    missing = ~mask
    n_features = X.shape[1]
    order = np.argsort(missing.sum(axis=0), kind="stable")
    X_imp = np.where(mask, X, np.nanmean(X, axis=0))
    iterates, deltas = [X_imp.copy()], []
    for _ in range(max_iter):
        for j in order:
            others = [k for k in range(n_features) if k != j]
            forest = RandomForestRegressor(
                n_estimators=n_estimators,
                max_features=max_features,
                min_samples_leaf=min_samples_leaf,
                random_state=rng.randint(np.iinfo(np.int32).max),
            )
            forest.fit(X_imp[mask[:, j]][:, others], X_imp[mask[:, j], j])
            if missing[:, j].any():
                X_imp[missing[:, j], j] = forest.predict(X_imp[missing[:, j]][:, others])
        new, old = X_imp[missing], iterates[-1][missing]
        deltas.append(np.sum((new - old) ** 2) / np.sum(new**2))
        iterates.append(X_imp.copy())
    return iterates, np.array(deltas)


def test_stopping_rule_returns_iterate_before_delta_grows():
    _, X_missing = _correlated_data(n_samples=60, n_features=4, missing_rate=0.25, seed=0)
    params = dict(
        n_estimators=3, max_iter=8, max_features="sqrt", min_samples_leaf=1, random_state=0
    )
    imputer = MissForestImputer(n_jobs=1, **params).fit(X_missing)
    iterates, deltas = _reference_missforest(X_missing, **params)

    assert 1 <= imputer.n_iter_ <= params["max_iter"]
    assert imputer.deltas_.shape == (imputer.n_iter_,)
    np.testing.assert_allclose(imputer.deltas_, deltas[: imputer.n_iter_], rtol=1e-10)
    # the rule fired here: Delta grew at the last iteration run, and only there
    assert imputer.n_iter_ < params["max_iter"]
    first_growth = int(np.flatnonzero(np.diff(deltas) >= 0)[0]) + 1  # 0-based iteration
    assert imputer.n_iter_ == first_growth + 1
    assert np.all(np.diff(imputer.deltas_[:-1]) < 0)
    assert imputer.deltas_[-1] >= imputer.deltas_[-2]
    # the returned imputation is the iterate before the growth, and not the one after it
    kept = len(imputer.imputation_sequence_)
    assert kept == imputer.n_iter_ - 1
    X_out = imputer.transform(X_missing)
    np.testing.assert_allclose(X_out, iterates[kept], rtol=0, atol=1e-12)
    assert not np.allclose(X_out, iterates[kept + 1])


def test_max_iter_bounds_iterations():
    _, X_missing = _correlated_data()
    imputer = _small(max_iter=1).fit(X_missing)
    assert imputer.n_iter_ == 1
    assert len(imputer.imputation_sequence_) == 1
    assert imputer.deltas_.shape == (1,)


@pytest.mark.parametrize("as_frame", [False, True])
def test_all_nan_column_error_names_the_column(as_frame):
    _, X_missing = _correlated_data()
    X_missing[:, 2] = np.nan
    X_fit = pd.DataFrame(X_missing, columns=["a", "b", "c_col", "d"]) if as_frame else X_missing
    expected = "'c_col'" if as_frame else "column\\(s\\) 2 "
    with pytest.raises(ValueError, match=expected):
        _small().fit(X_fit)


def test_all_nan_column_at_transform_is_imputed():
    _, X_missing = _correlated_data()
    imputer = _small().fit(X_missing)
    X_new = X_missing[:10].copy()
    X_new[:, 1] = np.nan
    X_out = imputer.transform(X_new)
    assert not np.isnan(X_out).any()


def test_column_complete_at_fit_missing_at_transform():
    X, X_missing = _correlated_data(n_samples=150, seed=2)
    X_missing[:, 0] = X[:, 0]  # column 0 has no missing value at fit
    X_new = X.copy()
    rows = np.arange(0, 150, 3)
    X_new[rows, 0] = np.nan  # only column 0 misses at transform

    imputer = _small(n_estimators=20).fit(X_missing)
    assert imputer.visit_order_[0] == 0  # the complete column comes first
    # one forest for the complete column, fitted once and replayed at every iteration
    assert len(imputer.imputation_sequence_) >= 2
    first_pairs = [sweep[0] for sweep in imputer.imputation_sequence_]
    assert all(j == 0 for j, _ in first_pairs)
    assert all(forest is first_pairs[0][1] for _, forest in first_pairs)
    X_out = imputer.transform(X_new)
    assert not np.isnan(X_out).any()
    # imputed by its forest from the other columns: better than its training mean
    error_forest = np.sqrt(np.mean((X_out[rows, 0] - X[rows, 0]) ** 2))
    error_mean = np.sqrt(np.mean((imputer.statistics_[0] - X[rows, 0]) ** 2))
    assert error_forest < 0.7 * error_mean

    skipping = _small(skip_complete=True).fit(X_missing)
    assert 0 not in skipping.visit_order_
    X_skip = skipping.transform(X_new)
    assert not np.isnan(X_skip).any()
    np.testing.assert_array_equal(X_skip[rows, 0], skipping.statistics_[0])


def test_no_missing_value_at_fit():
    X, _ = _correlated_data()
    imputer = _small().fit(X)
    assert imputer.n_iter_ == 1
    np.testing.assert_array_equal(imputer.deltas_, [0.0])
    np.testing.assert_array_equal(imputer.transform(X), X)
    X_new = X[:5].copy()
    X_new[0, 1] = np.nan
    assert not np.isnan(imputer.transform(X_new)).any()
    assert [j for j, _ in imputer.imputation_sequence_[0]] == [0, 1, 2, 3]
    assert _small(skip_complete=True).fit(X).imputation_sequence_ == [[]]


def test_single_feature_falls_back_to_mean():
    X = np.array([[1.0], [np.nan], [3.0], [5.0], [np.nan]])
    imputer = _small().fit(X)
    np.testing.assert_allclose(imputer.statistics_, [3.0])
    X_out = imputer.transform(X)
    np.testing.assert_array_equal(X_out[:, 0], [1.0, 3.0, 3.0, 5.0, 3.0])
    np.testing.assert_array_equal(imputer.transform([[np.nan]]), [[3.0]])


def test_single_row():
    X = np.array([[1.0, 2.0, 3.0]])
    imputer = _small().fit(X)
    X_out = imputer.transform(np.array([[np.nan, 2.0, np.nan]]))
    assert not np.isnan(X_out).any()
    assert X_out[0, 1] == 2.0


def test_integer_caps_and_float_options():
    _, X_missing = _correlated_data(n_samples=40)
    for params in (
        dict(max_features=50, max_samples=1000),
        dict(max_features=None, max_samples=0.5, max_depth=3, min_samples_leaf=0.1),
        dict(max_features="log2", min_samples_leaf=1),
    ):
        X_out = _small(**params).fit_transform(X_missing)
        assert not np.isnan(X_out).any()


def test_dataframe_output_keeps_names_and_index():
    _, X_missing = _correlated_data()
    df = pd.DataFrame(X_missing, columns=list("abcd"), index=np.arange(100, 180))
    out = _small().set_output(transform="pandas").fit(df).transform(df)
    assert list(out.columns) == list("abcd")
    assert list(out.index) == list(df.index)
    assert not out.isna().any().any()
    np.testing.assert_array_equal(_small().fit(df).feature_names_in_, list("abcd"))


def test_verbose_prints_deltas(capsys):
    _, X_missing = _correlated_data()
    _small(verbose=1).fit(X_missing)
    assert "[MissForestImputer] Iteration 1/3, Delta =" in capsys.readouterr().out


def _breast_cancer_mnar():
    """The benchmark protocol: standardise, then hide every positive entry of columns 0-14."""
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    X_missing = X.copy()
    first = X_missing[:, :15]
    first[first > 0] = np.nan
    return X, X_missing


def test_breast_cancer_mnar_better_than_mean():
    X, X_missing = _breast_cancer_mnar()
    missing = np.isnan(X_missing)
    X_mean = SimpleImputer().fit_transform(X_missing)
    # a small budget: few trees, few iterations, no forests for the complete columns
    imputer = MissForestImputer(
        n_estimators=10, max_iter=3, skip_complete=True, n_jobs=1, random_state=0
    )
    X_mf = imputer.fit_transform(X_missing)
    rmse_mean = np.sqrt(np.mean((X_mean[missing] - X[missing]) ** 2))
    rmse_mf = np.sqrt(np.mean((X_mf[missing] - X[missing]) ** 2))
    assert rmse_mean == pytest.approx(1.82, abs=0.01)
    assert rmse_mf < 1.6
