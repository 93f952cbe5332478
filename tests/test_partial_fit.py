"""partial_fit of the tabular neural imputers: one epoch per block, deterministic, resumable."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from tests.test_common import TABULAR_NN_ONE_EPOCH

torch.set_num_threads(1)

ESTIMATORS = TABULAR_NN_ONE_EPOCH
IDS = [type(e).__name__ for e in ESTIMATORS]


def nan_data(n=200, d=5, seed=0, frac=0.2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)) @ rng.normal(size=(2, d)) + 0.3 * rng.normal(size=(n, d)) + 3.0
    X[rng.random(X.shape) < frac] = np.nan
    return X


def weights(estimator):
    return torch.cat([p.detach().flatten() for p in estimator.net_.module_.parameters()])


def optimizer_state(estimator):
    state = estimator.net_.optimizer_.state_dict()["state"]
    return [t.clone() for s in state.values() for t in s.values() if torch.is_tensor(t)]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_first_call_trains_as_fit_with_one_epoch(estimator):
    X = nan_data()
    fitted = clone(estimator).fit(X)  # max_epochs=1
    partial = clone(estimator).partial_fit(X)
    assert partial.n_epochs_ == 1 == len(partial.net_.history)
    assert partial.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(partial.mean_, fitted.mean_)
    np.testing.assert_array_equal(partial.scale_, fitted.scale_)
    assert torch.equal(weights(partial), weights(fitted))
    np.testing.assert_array_equal(partial.transform(X), fitted.transform(X))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_same_blocks_same_weights_global_rng_untouched(estimator):
    blocks = np.array_split(nan_data(), 4)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    runs = []
    for random_state in (0, 0, 1):
        imp = clone(estimator).set_params(random_state=random_state)
        for _ in range(2):
            for block in blocks:
                imp.partial_fit(block)
        runs.append(weights(imp))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_n_epochs_grows_by_one_per_call_and_transform_keeps_observed():
    X = nan_data().astype(np.float32)
    X_before = X.copy()
    imp = clone(ESTIMATORS[0])
    before = None
    for k, block in enumerate(np.array_split(X, 5), start=1):
        imp.partial_fit(block)
        assert imp.n_epochs_ == k == len(imp.net_.history)
        now = weights(imp)
        assert before is None or not torch.equal(now, before)  # each call trains
        before = now
    np.testing.assert_array_equal(X, X_before)  # input untouched
    Xt = imp.transform(X)
    assert Xt.dtype == np.float32
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(Xt[observed], X[observed])
    assert not np.isnan(Xt).any()


def test_statistics_come_from_the_first_block_and_later_blocks_may_lack_a_column():
    X = nan_data(n=120)
    first, later = X[:60], X[60:].copy()
    imp = clone(ESTIMATORS[0]).partial_fit(first)
    np.testing.assert_allclose(imp.mean_, np.nanmean(first, axis=0))
    np.testing.assert_allclose(imp.scale_, np.nanstd(first, axis=0))
    mean, scale = imp.mean_.copy(), imp.scale_.copy()
    later[:, 2] = np.nan  # no observed value in this block: allowed, the statistics are fixed
    imp.partial_fit(later + 10.0)
    np.testing.assert_array_equal(imp.mean_, mean)
    np.testing.assert_array_equal(imp.scale_, scale)
    assert imp.n_epochs_ == 2
    # in the first call, the column with no observed value is named
    with pytest.raises(ValueError, match=r"column\(s\) 2"):
        clone(ESTIMATORS[0]).partial_fit(later)


def test_later_blocks_need_the_columns_of_the_first():
    X = nan_data(n=80)
    imp = clone(ESTIMATORS[0]).partial_fit(X)
    with pytest.raises(ValueError, match="X has 4 features, but NotMIWAEImputer is expecting 5"):
        imp.partial_fit(X[:, :4])
    df = pd.DataFrame(X, columns=list("abcde"))
    imp = clone(ESTIMATORS[0]).partial_fit(df)
    with pytest.raises(ValueError, match="feature names should match"):
        imp.partial_fit(df.rename(columns={"e": "z"}))
    assert imp.n_epochs_ == 1


def test_fit_starts_over_and_partial_fit_continues_a_fit():
    X = nan_data(n=120)
    est = clone(ESTIMATORS[0]).set_params(max_epochs=2)
    imp = clone(est)
    for block in np.array_split(X, 3):
        imp.partial_fit(block)
    assert imp.n_epochs_ == 3
    imp.fit(X)
    fresh = clone(est).fit(X)
    assert imp.n_epochs_ == 2
    assert torch.equal(weights(imp), weights(fresh))
    imp.partial_fit(X[:40])  # continues the fit's net and optimiser
    assert imp.n_epochs_ == 3
    assert not torch.equal(weights(imp), weights(fresh))
    assert clone(imp).__dict__.keys().isdisjoint({"net_", "mean_", "n_epochs_"})


def test_pickled_estimator_continues_identically():
    blocks = np.array_split(nan_data(), 4)
    imp = clone(ESTIMATORS[0])
    for block in blocks[:2]:
        imp.partial_fit(block)
    copy = pickle.loads(pickle.dumps(imp))
    for block in blocks[2:]:
        imp.partial_fit(block)
        copy.partial_fit(block)
    assert torch.equal(weights(imp), weights(copy))


def test_several_passes_over_blocks_train_as_fit_does():
    X = nan_data(n=400)
    blocks = np.array_split(X, 4)
    est = clone(ESTIMATORS[0]).set_params(max_epochs=5)
    one_block = clone(est).partial_fit(blocks[0]).score(X)
    passes = clone(est)
    for _ in range(5):
        for block in blocks:
            passes.partial_fit(block)
    assert passes.n_epochs_ == 20
    fitted = clone(est).fit(X).score(X)  # 5 epochs over all the rows
    assert passes.score(X) > one_block + 0.5
    assert abs(passes.score(X) - fitted) < 0.3 * abs(fitted - one_block)


class _FailInEpoch(Callback):
    """Raise `error` at the second batch of epoch `epoch`."""

    def __init__(self, epoch, error):
        self.epoch = epoch
        self.error = error

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if len(net.history) == self.epoch and len(net.history[-1]["batches"]) == 2:
            raise self.error


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_call_leaves_the_estimator_as_it_was(error):
    X = nan_data(n=120)
    imp = clone(ESTIMATORS[0]).set_params(callbacks=[_FailInEpoch(2, error)])
    imp.partial_fit(X)
    w, opt, mean = weights(imp), optimizer_state(imp), imp.mean_
    if isinstance(error, KeyboardInterrupt):  # skorch catches it: the call warns and keeps nothing
        with pytest.warns(UserWarning, match="interrupted during epoch 2"):
            imp.partial_fit(X)
    else:
        with pytest.raises(RuntimeError, match="boom"):
            imp.partial_fit(X)
    assert imp.n_epochs_ == 1 == len(imp.net_.history)
    assert torch.equal(weights(imp), w)
    assert all(torch.equal(a, b) for a, b in zip(optimizer_state(imp), opt, strict=True))
    assert imp.mean_ is mean
    # the first call, interrupted or failing, leaves the estimator unfitted
    fresh = clone(ESTIMATORS[0]).set_params(callbacks=[_FailInEpoch(1, error)])
    with pytest.raises(type(error)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.partial_fit(X)
    assert not hasattr(fresh, "net_") and not hasattr(fresh, "mean_")


def test_clone_and_grid_search_unaffected():
    X = nan_data(n=80)
    imp = clone(ESTIMATORS[0]).partial_fit(X)
    assert not hasattr(clone(imp), "net_")
    search = GridSearchCV(clone(ESTIMATORS[0]), {"n_importance_samples": [1, 2]}, cv=2).fit(X)
    assert search.best_estimator_.n_epochs_ == 1
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
