"""Shared behaviour of the neural imputers (BaseNNImputer), exercised through NotMIWAEImputer.

The scikit-learn common checks hardly ever put NaN in the data, so most tests here use data with
missing values. Budgets are tiny: these tests check behaviour, not accuracy.
"""

import math
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from sklearn.base import clone
from skorch.callbacks import EarlyStopping

from skimpute._base import BaseNNImputer, BatchIterator
from skimpute.nn import (
    GlobalNoise,
    NegIWBound,
    RowNoise,
    importance_resample,
    iw_bound,
    mixture_median,
    observation_rsample,
    row_seeds,
    snis_mean,
)
from skimpute.notmiwae import NotMIWAEImputer

torch.set_num_threads(1)


def tiny(**params):
    base = dict(
        hidden_layer_sizes=(8,),
        max_epochs=2,
        batch_size=16,
        n_importance_samples=2,
        n_imputation_samples=8,
        random_state=0,
    )
    base.update(params)
    return NotMIWAEImputer(**base)


def nan_data(n=60, d=4, seed=0, frac=0.25, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3.0
    X[rng.random((n, d)) < frac] = np.nan
    return X.astype(dtype)


# --------------------------------------------------------------------------- scikit-learn checks


# scikit-learn's common checks and the extra checks run for every estimator in
# tests/test_common.py.


def test_is_base_nn_imputer_composition():
    imp = tiny().fit(nan_data())
    assert isinstance(imp, BaseNNImputer)
    assert not hasattr(NotMIWAEImputer, "module_")
    assert hasattr(imp.net_, "module_") and len(imp.net_.history) == 2
    assert imp.n_epochs_ == 2
    assert "train_loss" in imp.net_.history[-1]
    assert isinstance(imp.net_.criterion_, NegIWBound)


# --------------------------------------------------------------------------- behaviour on NaN data


def test_observed_entries_bit_for_bit_and_input_unmodified():
    X = nan_data()
    X_before = X.copy()
    mask = ~np.isnan(X)
    out = tiny().fit(X).transform(X)
    np.testing.assert_array_equal(X, X_before)  # NaN compare equal in assert_array_equal
    assert out.dtype == X.dtype
    assert not np.isnan(out).any()
    assert np.array_equal(out[mask], X[mask])  # exact, not approximate
    assert out is not X


def test_float32_preserved():
    X = nan_data(dtype=np.float32)
    mask = ~np.isnan(X)
    imp = tiny().fit(X)
    out = imp.transform(X)
    assert out.dtype == np.float32 and np.array_equal(out[mask], X[mask])
    draws = imp.sample(X, 2)
    assert draws.dtype == np.float32
    assert all(np.array_equal(d[mask], X[mask]) for d in draws)


def test_deterministic_fit_and_transform():
    X = nan_data()
    a = tiny(random_state=3).fit(X)
    b = tiny(random_state=3).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.transform(X), a.transform(X))
    assert a.score(X) == b.score(X) == a.score(X)
    np.testing.assert_array_equal(a.sample(X, 3), b.sample(X, 3))
    c = tiny(random_state=4).fit(X)
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_pickle_round_trip_identical():
    X = nan_data()
    imp = tiny().fit(X)
    clone_ = pickle.loads(pickle.dumps(imp))
    np.testing.assert_array_equal(imp.transform(X), clone_.transform(X))
    assert imp.score(X) == clone_.score(X)
    np.testing.assert_array_equal(imp.sample(X, 2), clone_.sample(X, 2))


def test_all_nan_column_raises_naming_it():
    X = nan_data()
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match="column.*2"):
        tiny().fit(X)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="'c'"):
        tiny().fit(df)


def test_chunked_transform_equals_unchunked():
    X = nan_data(n=50)
    imp = tiny().fit(X)
    full = imp.transform(X)
    full_score = imp.score(X)
    full_sample = imp.sample(X, 2)
    imp._transform_memory_bytes = 1  # one row per chunk
    np.testing.assert_allclose(imp.transform(X), full, rtol=1e-5, atol=1e-6)
    assert imp.score(X) == pytest.approx(full_score, rel=1e-5)
    np.testing.assert_allclose(imp.sample(X, 2), full_sample, rtol=1e-5, atol=1e-6)
    # and a row's imputation does not depend on the rows after it
    np.testing.assert_allclose(imp.transform(X[:20]), full[:20], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("random_state", [0, np.random.RandomState(1)])
def test_global_rng_state_untouched(random_state):
    # (with random_state=None the fit seed comes from numpy's global generator, as in scikit-learn;
    # torch's global state is untouched in every case, see the next test)
    X = nan_data()
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()
    imp = tiny(random_state=random_state).fit(X)
    imp.transform(X)
    imp.score(X)
    imp.sample(X, 2)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np_after = np.random.get_state()
    assert (
        np_after[0] == np_state[0]
        and np.array_equal(np_after[1], np_state[1])
        and np_after[2:] == np_state[2:]
    )


def test_random_state_none_leaves_torch_state_and_is_deterministic_after_fit():
    X = nan_data()
    torch.manual_seed(5)
    torch_state = torch.get_rng_state()
    imp = tiny(random_state=None).fit(X)
    np.testing.assert_array_equal(imp.transform(X), imp.transform(X))
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_nan_loss_stops_with_message(monkeypatch):
    def nan_forward(self, log_w, y=None):
        return log_w.mean() * float("nan")

    monkeypatch.setattr(NegIWBound, "forward", nan_forward)
    with pytest.raises(
        FloatingPointError, match=r"NotMIWAEImputer.*nan at epoch 1 \(batch 1\).*learning rate"
    ):
        tiny().fit(nan_data())


def test_huge_learning_rate_reports_epoch():
    with pytest.raises(FloatingPointError, match=r"at epoch \d+ .*lr=1e\+30"):
        tiny(lr=1e30, max_epochs=20).fit(nan_data())


def test_sample_shape_and_observed_entries():
    X = nan_data()
    mask = ~np.isnan(X)
    imp = tiny().fit(X)
    draws = imp.sample(X, n_imputations=4)
    assert draws.shape == (4,) + X.shape
    assert not np.isnan(draws).any()
    for d in draws:
        assert np.array_equal(d[mask], X[mask])
    # the draws differ from each other on the missing entries
    assert np.std(draws[:, ~mask], axis=0).mean() > 0
    with pytest.raises(ValueError, match="n_imputations"):
        imp.sample(X, 0)


def test_score_finite_and_higher_for_better_model():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 1))
    X = z @ np.array([[1.0, 0.9, -0.8, 0.7]]) + 0.1 * rng.normal(size=(300, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    params = dict(
        hidden_layer_sizes=(16,), n_importance_samples=5, n_imputation_samples=50, batch_size=32
    )
    short = tiny(max_epochs=1, lr=1e-4, **params).fit(X)
    long = tiny(max_epochs=40, lr=5e-3, **params).fit(X)
    s_short, s_long = short.score(X), long.score(X)
    assert math.isfinite(s_short) and math.isfinite(s_long)
    assert s_long > s_short + 1.0


def test_score_includes_scaling_jacobian():
    X = nan_data()
    a = tiny().fit(X)
    b = tiny().fit(X * 10.0)
    # the same network on data ten times larger: the density is lower by log(10) per observed entry
    n_obs = (~np.isnan(X)).sum(axis=1).mean()
    assert b.score(X * 10.0) == pytest.approx(
        a.score(X) - n_obs * math.log(10.0), rel=1e-4, abs=1e-4
    )


def test_constant_column_and_scale_false():
    X = nan_data()
    X[:, 1] = np.where(np.isnan(X[:, 1]), np.nan, 5.0)
    with np.errstate(all="raise"):
        imp = tiny().fit(X)
        out = imp.transform(X)
    assert imp.scale_[1] == 1.0 and imp.mean_[1] == 5.0
    assert np.isfinite(out).all()
    out2 = tiny(scale=False).fit(X).transform(X)
    assert np.isfinite(out2).all()


def test_pandas_output_with_nan():
    X = nan_data()
    df = pd.DataFrame(X, columns=list("abcd"), index=np.arange(100, 160))
    out = tiny().set_output(transform="pandas").fit(df).transform(df)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list("abcd")
    assert list(out.index) == list(df.index)
    assert not out.isna().any().any()
    assert list(tiny().fit(df).get_feature_names_out()) == list("abcd")


def test_rows_all_missing_and_new_data():
    X = nan_data()
    imp = tiny().fit(X)
    X_new = nan_data(n=5, seed=1)
    X_new[0] = np.nan
    out = imp.transform(X_new)
    assert np.isfinite(out).all()


def test_callbacks_deep_copied_and_net_params():
    es = EarlyStopping(monitor="train_loss", patience=100)
    imp = tiny(callbacks=[es], net_params={"optimizer__weight_decay": 0.5}).fit(nan_data())
    assert not hasattr(es, "best_epoch_")  # the estimator's own object is untouched
    assert any(isinstance(cb, EarlyStopping) for _, cb in imp.net_.callbacks_)
    assert imp.net_.optimizer_.param_groups[0]["weight_decay"] == 0.5
    # clone keeps the parameters
    assert clone(imp).get_params()["net_params"] == {"optimizer__weight_decay": 0.5}


def test_verbose_prints_epoch_log(capsys):
    tiny(verbose=0).fit(nan_data())
    assert "train_loss" not in capsys.readouterr().out
    tiny(verbose=1).fit(nan_data())
    assert "train_loss" in capsys.readouterr().out


def test_invalid_hidden_layer_sizes():
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        tiny(hidden_layer_sizes=()).fit(nan_data())
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        tiny(hidden_layer_sizes=(8, 0)).fit(nan_data())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_transform_and_pickle_to_cpu():
    X = nan_data()
    imp = tiny(device="cuda").fit(X)
    out = imp.transform(X)
    assert np.isfinite(out).all()
    assert next(imp.net_.module_.parameters()).is_cuda
    np.testing.assert_allclose(
        pickle.loads(pickle.dumps(imp)).transform(X), out, rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------------- skimpute.nn blocks


def test_batch_iterator_covers_rows_once():
    class DS:
        X = {"X": np.arange(10.0)[:, None], "mask": np.ones((10, 1))}

        def __len__(self):
            return 10

    it = BatchIterator(DS(), batch_size=4, shuffle=True)
    assert len(it) == 3
    seen = torch.cat([b["X"][:, 0] for b, y in it])
    assert sorted(seen.tolist()) == list(range(10))
    assert len(BatchIterator(DS(), batch_size=4, drop_last=True)) == 2


def test_iw_bound_and_criterion():
    log_w = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    expected = torch.tensor([math.log(2.0), 1.0])
    torch.testing.assert_close(iw_bound(log_w), expected)
    torch.testing.assert_close(NegIWBound()(log_w), -expected.mean())


def test_snis_mean_and_resampling():
    log_w = torch.log(torch.tensor([[0.25], [0.75]]))  # (S=2, B=1)
    values = torch.tensor([[[0.0]], [[4.0]]])  # (S, B, D=1)
    torch.testing.assert_close(snis_mean(log_w, values), torch.tensor([[3.0]]))
    draws = importance_resample(log_w, values, 4000, RowNoise([0]))
    assert draws.shape == (4000, 1, 1)
    assert abs((draws == 4.0).float().mean().item() - 0.75) < 0.03


def test_mixture_median_matches_numerical():
    from torch.distributions import Normal

    loc = torch.tensor([[[0.0]], [[3.0]]])
    scale = torch.tensor([[[1.0]], [[0.5]]])
    w = torch.tensor([0.3, 0.7])
    dist = Normal(loc, scale)
    med = mixture_median(
        torch.log(w)[:, None],
        dist.cdf,
        torch.full((1, 1), -10.0),
        torch.full((1, 1), 10.0),
        n_iter=60,
    )
    cdf = 0.3 * stats.norm.cdf(med.item(), 0, 1) + 0.7 * stats.norm.cdf(med.item(), 3, 0.5)
    assert cdf == pytest.approx(0.5, abs=1e-6)


def test_row_noise_is_per_row():
    seeds = row_seeds(7, 0, 5)
    assert seeds == row_seeds(7, 0, 5)
    assert row_seeds(7, 2, 5) == seeds[2:]
    full = RowNoise(seeds).randn((3, 5, 2))
    part = RowNoise(seeds[2:]).randn((3, 3, 2))
    torch.testing.assert_close(full[:, 2:], part)


def test_student_t_rsample_distribution():
    from torch.distributions import StudentT

    dist = StudentT(
        torch.full((20000, 1, 1), 5.0), torch.zeros(20000, 1, 1), torch.ones(20000, 1, 1)
    )
    torch.manual_seed(0)
    x = observation_rsample(dist, GlobalNoise()).flatten().numpy()
    assert stats.kstest(x, stats.t(df=5).cdf).pvalue > 1e-3
