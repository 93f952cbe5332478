"""Tests of skimpute.metrics: errors on missing entries, mask accuracy and the scorers."""

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.model_selection import GridSearchCV, KFold

from skimpute import metrics
from skimpute.ampute import mcar
from skimpute.metrics import (
    CompleteDataScorer,
    HiddenEntriesScorer,
    mae_missing,
    mask_accuracy,
    rmse_missing,
)

HYPOTHESIS = settings(max_examples=25, deadline=None)


class ConstantImputer(TransformerMixin, BaseEstimator):
    """Fills every NaN with ``value`` (a picklable estimator with a known output)."""

    def __init__(self, value=0.0):
        self.value = value

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.where(np.isnan(np.asarray(X, dtype=float)), self.value, X)


class RecordingImputer(ConstantImputer):
    """Remembers the inputs given to transform."""

    def transform(self, X):
        self.seen_ = getattr(self, "seen_", []) + [X.copy()]
        return super().transform(X)


def _correlated(n=90, seed=0):
    rng = np.random.RandomState(seed)
    z = rng.normal(size=(n, 1))
    return z @ np.ones((1, 4)) + 0.3 * rng.normal(size=(n, 4))


# --------------------------------------------------------------------------- metrics


def test_rmse_mae_hand_computed():
    X_true = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    X_imputed = np.array([[1.0, 0.0, 3.0], [7.0, 5.0, 5.0]])
    mask = np.array([[True, False, True], [False, True, False]])
    # errors at the missing entries: -2, 3, -1
    assert rmse_missing(X_true, X_imputed, mask) == pytest.approx(np.sqrt(14 / 3))
    assert mae_missing(X_true, X_imputed, mask) == pytest.approx(2.0)
    # 0/1 masks, lists and DataFrames are accepted
    assert rmse_missing(X_true.tolist(), pd.DataFrame(X_imputed), mask.astype(int)) == (
        pytest.approx(np.sqrt(14 / 3))
    )
    assert isinstance(rmse_missing(X_true, X_imputed, mask), float)


def test_rmse_ignores_observed_entries_even_nan():
    X_true = np.array([[np.nan, 2.0], [4.0, 5.0]])
    X_imputed = np.array([[np.nan, 4.0], [4.0, 5.0]])
    mask = np.array([[True, False], [True, True]])
    assert rmse_missing(X_true, X_imputed, mask) == 2.0
    assert mae_missing(X_true, X_imputed, mask) == 2.0


@pytest.mark.parametrize("func", [rmse_missing, mae_missing])
def test_metric_errors(func):
    X = np.zeros((2, 2))
    mask = np.array([[True, False], [True, True]])
    with pytest.raises(ValueError, match="same shape"):
        func(X, np.zeros((2, 3)), mask)
    with pytest.raises(ValueError, match="same shape"):
        func(X, X, mask[:1])
    with pytest.raises(ValueError, match="no missing entry"):
        func(X, X, np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="mask is required"):
        func(X, X, None)
    with pytest.raises(ValueError, match="boolean"):
        func(X, X, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="incomplete"):
        func(X, np.array([[0.0, np.nan], [0.0, 0.0]]), mask)
    with pytest.raises(ValueError, match="X_true contains NaN"):
        func(np.array([[0.0, np.nan], [0.0, 0.0]]), X, mask)


def test_mask_accuracy_hand_computed():
    true = np.array([[True, False, True], [True, True, False]])
    pred = np.array([[True, True, True], [False, True, False]])
    assert mask_accuracy(true, pred) == pytest.approx(4 / 6)
    assert mask_accuracy(true, pred, columns=[1, 2]) == pytest.approx(3 / 4)
    assert mask_accuracy(true, pred, columns=[-1]) == 1.0
    # the columns with a missing entry: 1 and 2
    assert mask_accuracy(true, pred, columns="missing") == pytest.approx(3 / 4)
    proba = np.array([[0.9, 0.6, 0.51], [0.5, 1.0, 0.0]])  # > 0.5 is observed
    assert mask_accuracy(true, proba) == pytest.approx(4 / 6)
    assert mask_accuracy(true, proba, threshold=0.55) == pytest.approx(3 / 6)
    assert mask_accuracy(true.astype(int), pd.DataFrame(pred)) == pytest.approx(4 / 6)
    # 3-d masks: columns index the last axis
    seq_true = np.stack([true, true])
    seq_pred = np.stack([pred, true])
    assert mask_accuracy(seq_true, seq_pred, columns=[0]) == pytest.approx(3 / 4)


def test_mask_accuracy_errors():
    true = np.array([[True, False], [True, True]])
    with pytest.raises(ValueError, match="same shape"):
        mask_accuracy(true, true[:, :1])
    with pytest.raises(ValueError, match="probabilities"):
        mask_accuracy(true, np.array([[0.5, 1.5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="probabilities"):
        mask_accuracy(true, np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="out of range"):
        mask_accuracy(true, true, columns=[2])
    with pytest.raises(ValueError, match="columns"):
        mask_accuracy(true, true, columns="all")
    with pytest.raises(ValueError, match="no missing entry"):
        mask_accuracy(np.ones((2, 2), dtype=bool), true, columns="missing")
    with pytest.raises(ValueError, match="boolean"):
        mask_accuracy(np.full((2, 2), 0.3), true)


def test_public_names():
    assert metrics.__all__ == sorted(metrics.__all__)
    for name in metrics.__all__:
        assert getattr(metrics, name).__doc__


# --------------------------------------------------------------------------- CompleteDataScorer


def test_complete_data_scorer_value():
    X_complete = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    X = np.array([[np.nan, 2.0], [3.0, np.nan], [5.0, 6.0]])
    est = ConstantImputer(value=0.0).fit(X)
    # errors at the missing entries: 1 and 4
    assert CompleteDataScorer()(est, X, X_complete) == pytest.approx(-np.sqrt(17 / 2))
    assert CompleteDataScorer(metric="mae")(est, X, X_complete) == pytest.approx(-2.5)
    # DataFrames for X and y, and a pandas-output imputer
    X_df = pd.DataFrame(X, columns=["a", "b"])
    y_df = pd.DataFrame(X_complete, columns=["a", "b"])
    imputer = SimpleImputer(strategy="constant", fill_value=0.0).set_output(transform="pandas")
    imputer.fit(X_df)
    assert CompleteDataScorer()(imputer, X_df, y_df) == pytest.approx(-np.sqrt(17 / 2))


def test_complete_data_scorer_errors():
    X = np.array([[np.nan, 2.0], [3.0, 4.0]])
    est = ConstantImputer().fit(X)
    with pytest.raises(ValueError, match="complete data as y"):
        CompleteDataScorer()(est, X)
    with pytest.raises(ValueError, match="shape"):
        CompleteDataScorer()(est, X, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="without NaN"):
        CompleteDataScorer()(est, X, X)
    with pytest.raises(ValueError, match="no missing entry"):
        CompleteDataScorer()(est, np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="metric"):
        CompleteDataScorer(metric="mse")


# --------------------------------------------------------------------------- HiddenEntriesScorer


def test_hidden_entries_scorer_value_and_cells():
    X_complete = _correlated(n=40)
    X, _ = mcar(X_complete, 0.2, random_state=0)
    X_before = X.copy()
    scorer = HiddenEntriesScorer(fraction=0.25, random_state=3)
    hidden = scorer.hidden_mask(X)
    observed = ~np.isnan(X)
    assert hidden.dtype == np.bool_ and hidden.shape == X.shape
    assert not (hidden & ~observed).any()  # only observed entries are hidden
    assert hidden.sum() == round(0.25 * observed.sum())
    assert (observed & ~hidden).any(axis=0).all()  # each column keeps an observed value

    est = RecordingImputer(value=0.5).fit(X)
    score = scorer(est, X)
    expected = -np.sqrt(np.mean((0.5 - X[hidden]) ** 2))
    assert score == pytest.approx(expected)
    mae = HiddenEntriesScorer(fraction=0.25, metric="mae", random_state=3)(est, X)
    assert mae == pytest.approx(-np.mean(np.abs(0.5 - X[hidden])))
    # transform saw X with the hidden entries (and only those) added to the NaN
    np.testing.assert_array_equal(np.isnan(est.seen_[0]), ~observed | hidden)
    # X is not modified, and the same cells are hidden on every call
    np.testing.assert_array_equal(X, X_before)
    assert scorer(est, X) == score
    np.testing.assert_array_equal(np.isnan(est.seen_[1]), np.isnan(est.seen_[0]))
    np.testing.assert_array_equal(scorer.hidden_mask(X), hidden)
    # another seed hides other cells
    assert not np.array_equal(HiddenEntriesScorer(0.25, random_state=4).hidden_mask(X), hidden)


def test_hidden_entries_scorer_never_empties_a_column():
    X = np.full((6, 3), np.nan)
    X[0, 0] = 1.0  # column 0: one observed value, never hidden
    X[:2, 1] = [1.0, 2.0]
    X[:, 2] = np.arange(6.0)
    for seed in range(20):
        hidden = HiddenEntriesScorer(fraction=0.9, random_state=seed).hidden_mask(X)
        assert not hidden[:, 0].any()
        assert hidden[:, 1].sum() <= 1
        assert (~np.isnan(X) & ~hidden).any(axis=0).all()
    with pytest.raises(ValueError, match="No observed entry can be hidden"):
        HiddenEntriesScorer().hidden_mask(np.array([[1.0, np.nan], [np.nan, 2.0]]))


def test_hidden_entries_scorer_dataframe():
    X_complete = _correlated(n=30)
    X_np, _ = mcar(X_complete, 0.1, random_state=0)
    X = pd.DataFrame(X_np, columns=list("wxyz"), index=np.arange(50, 80))
    X_before = X.copy()

    class FrameCheckingImputer(ConstantImputer):
        def transform(self, X):
            assert isinstance(X, pd.DataFrame)
            assert list(X.columns) == list("wxyz")
            np.testing.assert_array_equal(X.index, np.arange(50, 80))
            return super().transform(X)

    scorer = HiddenEntriesScorer(fraction=0.2)
    score = scorer(FrameCheckingImputer(), X)
    assert score == HiddenEntriesScorer(fraction=0.2)(ConstantImputer(), X_np)
    pd.testing.assert_frame_equal(X, X_before)


def test_hidden_entries_scorer_errors():
    for fraction in (0, 1, -0.1, 1.5, "0.1", True):
        with pytest.raises(ValueError, match="fraction"):
            HiddenEntriesScorer(fraction=fraction)
    with pytest.raises(ValueError, match="metric"):
        HiddenEntriesScorer(metric="r2")
    with pytest.raises(ValueError, match="dimensions"):
        HiddenEntriesScorer().hidden_mask(np.arange(3.0))


# --------------------------------------------------------------------------- pickling, search


@pytest.mark.parametrize(
    "scorer",
    [CompleteDataScorer(), CompleteDataScorer("mae"), HiddenEntriesScorer(0.3, "mae", 7)],
)
def test_scorer_pickle_and_repr(scorer):
    clone = pickle.loads(pickle.dumps(scorer))
    assert type(clone) is type(scorer)
    assert repr(clone) == repr(scorer)
    assert vars(clone) == vars(scorer)
    X_complete = _correlated(n=20)
    X, _ = mcar(X_complete, 0.2, random_state=1)
    est = ConstantImputer(0.1)
    assert clone(est, X, X_complete) == scorer(est, X, X_complete)


def test_reprs():
    assert repr(CompleteDataScorer()) == "CompleteDataScorer(metric='rmse')"
    assert repr(HiddenEntriesScorer()) == (
        "HiddenEntriesScorer(fraction=0.1, metric='rmse', random_state=0)"
    )


def test_grid_search_complete_data_scorer():
    X_complete = _correlated(n=90)
    X, _ = mcar(X_complete, 0.2, random_state=0)
    grid = {"value": [-5.0, 0.0, 5.0]}
    search = GridSearchCV(
        ConstantImputer(), grid, scoring=CompleteDataScorer(), cv=KFold(3), n_jobs=2
    ).fit(X, X_complete)
    assert search.best_params_ == {"value": 0.0}  # the data are centred near 0
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    # the scores are the RMSE on each held-out fold's missing entries
    expected = []
    for value in grid["value"]:
        fold = []
        for _, test in KFold(3).split(X):
            missing = np.isnan(X[test])
            fold.append(-np.sqrt(np.mean((value - X_complete[test][missing]) ** 2)))
        expected.append(np.mean(fold))
    np.testing.assert_allclose(scores, expected)
    # a real imputer on correlated columns: KNN beats the mean
    search = GridSearchCV(
        KNNImputer(), {"n_neighbors": [1, 10]}, scoring=CompleteDataScorer(), cv=3, n_jobs=2
    ).fit(X, X_complete)
    assert search.best_params_ == {"n_neighbors": 10}
    mean_score = CompleteDataScorer()(SimpleImputer().fit(X), X, X_complete)
    assert search.best_score_ > mean_score


def test_grid_search_hidden_entries_scorer():
    X_complete = _correlated(n=90)
    X, _ = mcar(X_complete, 0.2, random_state=0)
    X_before = X.copy()
    scorer = HiddenEntriesScorer(fraction=0.2, random_state=0)
    search = GridSearchCV(
        ConstantImputer(), {"value": [-5.0, 0.0, 5.0]}, scoring=scorer, cv=3, n_jobs=2
    ).fit(X)
    assert search.best_params_ == {"value": 0.0}
    np.testing.assert_array_equal(X, X_before)
    search = GridSearchCV(
        KNNImputer(), {"n_neighbors": [1, 10]}, scoring=scorer, cv=3, n_jobs=2
    ).fit(pd.DataFrame(X, columns=list("abcd")))
    assert search.best_params_ == {"n_neighbors": 10}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


# --------------------------------------------------------------------------- properties

masks = hnp.arrays(np.bool_, st.tuples(st.integers(1, 8), st.integers(1, 5)))


@HYPOTHESIS
@given(mask=masks, seed=st.integers(0, 10_000))
def test_property_rmse_zero_and_observed_invariance(mask, seed):
    if mask.all():
        mask = mask.copy()
        mask.flat[0] = False
    rng = np.random.RandomState(seed)
    X_true = rng.normal(size=mask.shape)
    assert rmse_missing(X_true, X_true.copy(), mask) == 0.0
    assert mae_missing(X_true, X_true.copy(), mask) == 0.0
    X_imputed = X_true + rng.normal(size=mask.shape)
    rmse = rmse_missing(X_true, X_imputed, mask)
    mae = mae_missing(X_true, X_imputed, mask)
    assert 0 <= mae <= rmse + 1e-12
    # anything at the observed entries, in either array, leaves the error unchanged
    other = np.where(mask, rng.normal(size=mask.shape) * 100, X_imputed)
    other_true = np.where(mask, np.nan, X_true)
    assert rmse_missing(other_true, other, mask) == rmse
    assert mae_missing(other_true, other, mask) == mae


@HYPOTHESIS
@given(data=st.data(), shape=st.tuples(st.integers(1, 8), st.integers(1, 5)))
def test_property_mask_accuracy(data, shape):
    true = data.draw(hnp.arrays(np.bool_, shape))
    pred = data.draw(hnp.arrays(np.bool_, shape))
    proba = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 1)))
    acc = mask_accuracy(true, pred)
    assert 0.0 <= acc <= 1.0
    assert mask_accuracy(true, true) == 1.0
    assert mask_accuracy(true, ~true) == 0.0
    assert acc + mask_accuracy(true, ~pred) == pytest.approx(1.0)
    assert mask_accuracy(true, proba) == mask_accuracy(true, proba > 0.5)
    assert mask_accuracy(true, true.astype(float)) == 1.0


@HYPOTHESIS
@given(
    shape=st.tuples(st.integers(2, 12), st.integers(1, 5)),
    rate=st.floats(0, 0.6),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 1000),
)
def test_property_hidden_entries(shape, rate, fraction, seed):
    X, _ = mcar(np.random.RandomState(seed).normal(size=shape), rate, random_state=seed)
    observed = ~np.isnan(X)
    scorer = HiddenEntriesScorer(fraction=fraction, random_state=seed)
    n_hidable = int(observed.sum() - observed.any(axis=0).sum())
    if n_hidable == 0:
        with pytest.raises(ValueError):
            scorer.hidden_mask(X)
        return
    hidden = scorer.hidden_mask(X)
    assert not (hidden & ~observed).any()
    assert (observed & ~hidden).any(axis=0).sum() == observed.any(axis=0).sum()
    assert hidden.sum() == min(max(1, round(fraction * observed.sum())), n_hidable)
    np.testing.assert_array_equal(scorer.hidden_mask(X), hidden)
