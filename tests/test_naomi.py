"""NAOMISequenceImputer: imputation order, batching with per-sequence masks, training stages."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from skimpute import NAOMISequenceImputer
from skimpute.ampute import sequence_steps
from skimpute.datasets import make_billiards
from skimpute.naomi import NAOMIModule, imputation_order, max_resolutions
from skimpute.nn import draw_known_steps

torch.set_num_threads(1)

TINY = dict(rnn_size=8, hidden_layer_sizes=(8,), max_epochs=2, batch_size=16, random_state=0)


@pytest.fixture(scope="module")
def billiards():
    """Short billiards sequences, a test set with 10 to 15 of 20 steps missing."""
    X_train, X_test = make_billiards(n_train=48, n_test=12, n_timesteps=20, random_state=0)
    X_missing, mask = sequence_steps(X_test, (10, 15), random_state=0)
    return X_train, X_test, X_missing, mask


@pytest.fixture(scope="module")
def fitted(billiards):
    return NAOMISequenceImputer(**TINY).fit(billiards[0])


@pytest.fixture(scope="module")
def fitted_stochastic(billiards):
    return NAOMISequenceImputer(stochastic=True, **TINY).fit(billiards[0])


def order_of(module, known):
    """The imputed steps of one sequence in the order the batched module imputed them."""
    X = torch.zeros(1, len(known), module.n_dims)
    known = torch.tensor([known])
    with torch.no_grad():
        _, order = module.impute(X, known, known[..., None].expand_as(X), record_order=True)
    o = order[0]
    return [int(t) for t in torch.argsort(torch.where(o >= 0, o, 10**9))[: int((o >= 0).sum())]]


# ------------------------------------------------------------------ Algorithm 1


@pytest.mark.parametrize(
    "known, n_resolutions, expected",
    [
        ("x...x", None, [2, 1, 3]),  # the paper's figure 3: x3 first, then x2, then x4
        ("x.......x", None, [4, 2, 1, 3, 6, 5, 7]),
        ("x.......x", 2, [2, 1, 4, 3, 6, 5, 7]),  # steps capped at 2^(R-1) = 2
        ("x.......x", 1, [1, 2, 3, 4, 5, 6, 7]),  # SingleRes: left to right
        ("x......x", None, [2, 1, 4, 3, 5, 6]),  # a gap of 7: the largest s with 2s <= 7
        ("...x", None, [1, 0, 2]),  # leading gap: from the virtual step -1
        ("x....", None, [2, 1, 3, 4]),  # trailing gap: to the virtual step T
        ("x.x.xx.", None, [1, 3, 6]),
    ],
)
def test_imputation_order_matches_algorithm_1(known, n_resolutions, expected):
    mask = [c == "x" for c in known]
    assert imputation_order(mask, n_resolutions) == expected
    module = NAOMIModule(
        1, len(mask), rnn_size=4, hidden_layer_sizes=(4,), n_resolutions=n_resolutions
    )
    assert order_of(module, mask) == expected


@pytest.mark.parametrize(
    "known, n_resolutions, expected",
    [
        ("x.......x", None, [2, 1, 0, 0, 1, 0, 0]),  # s = 4, 2, 1, 1, 2, 1, 1
        ("x.......x", 2, [1, 0, 1, 0, 1, 0, 0]),  # capped at s = 2: steps 2, 1, 4, 3, 6, 5, 7
        ("x.......x", 1, [0] * 7),
        ("x....", None, [1, 0, 0, 0]),  # trailing gap of 4 (to T = 5): s = 2, then 1
    ],
)
def test_imputation_order_levels(known, n_resolutions, expected):
    mask = [c == "x" for c in known]
    order, levels = imputation_order(mask, n_resolutions, return_levels=True)
    assert order == imputation_order(mask, n_resolutions)
    assert levels == expected


def test_level_predictions_give_the_teacher_forced_loss():
    torch.manual_seed(0)
    module = NAOMIModule(2, 17, rnn_size=4, hidden_layer_sizes=(4,)).eval()
    X = torch.randn(3, 17, 2)
    mask = torch.ones_like(X)
    known = torch.ones(3, 17, dtype=torch.bool)
    with torch.no_grad():
        predictions = module.level_predictions(X, known, known)
        loss = sum(
            ((mean - X[:, 2**r - 1 : 2**r - 1 + mean.shape[1]]) ** 2).sum((1, 2))
            for r, (mean, _) in enumerate(predictions)
        )
        assert [p[0].shape[1] for p in predictions] == [17 - 2 ** (r + 1) + 2 for r in range(4)]
        torch.testing.assert_close(module(X, mask), loss / 17)


def test_batched_order_follows_each_sequence_mask():
    torch.manual_seed(0)
    T = 33
    module = NAOMIModule(2, T, rnn_size=4, hidden_layer_sizes=(4,), n_resolutions=4)
    known = torch.rand(24, T) < torch.linspace(0.02, 0.6, 24)[:, None]
    X = torch.randn(24, T, 2)
    with torch.no_grad():
        _, order = module.impute(X, known, known[..., None].expand_as(X), record_order=True)
    for i in range(24):
        o = order[i]
        got = [int(t) for t in torch.argsort(torch.where(o >= 0, o, 10**9))[: int((o >= 0).sum())]]
        assert got == imputation_order(known[i].tolist(), 4)


@pytest.mark.parametrize("stochastic", [False, True])
def test_incremental_states_equal_rerunning_both_grus(stochastic):
    """The incremental refresh of F and B gives what re-running both GRUs after each step does."""
    torch.manual_seed(1)
    T, B = 29, 16
    module = NAOMIModule(2, T, rnn_size=6, hidden_layer_sizes=(6,), stochastic=stochastic).eval()
    X = torch.randn(B, T, 2)
    known = torch.rand(B, T) < torch.linspace(0.0, 0.5, B)[:, None]
    observed = known[..., None].expand(B, T, 2) | (torch.rand(B, T, 2) < 0.15)
    eps = torch.randn(B, T, 2)
    with torch.no_grad():
        fast = module.impute(X, known, observed, eps)
        naive = module.impute_naive(X, known, observed, eps)
    torch.testing.assert_close(fast, naive, atol=1e-5, rtol=1e-5)
    assert torch.equal(fast[observed], X[observed])


def test_max_resolutions():
    assert [max_resolutions(T) for T in (1, 2, 3, 6, 7, 200)] == [1, 1, 2, 2, 3, 7]
    assert NAOMIModule(2, 200, n_resolutions=20).n_resolutions == 7


def test_draw_known_steps_keeps_first_observed_and_draws_per_sequence():
    gen = torch.Generator().manual_seed(0)
    observed = torch.ones(200, 50, dtype=torch.bool)
    observed[:100, :3] = False  # first observed step is 3 for half the sequences
    known = draw_known_steps(observed, 0.8, 1.0, generator=gen)
    assert not (known & ~observed).any()
    assert known[:100, 3].all() and known[100:, 0].all()
    n_obs = observed.sum(1)
    hidden = (observed & ~known).sum(1)
    assert (hidden >= torch.floor(0.8 * n_obs)).all() and (hidden <= n_obs - 1).all()
    assert len({tuple(row.tolist()) for row in known}) > 150  # masks differ between sequences
    forward = draw_known_steps(observed, 1.0, 1.0, generator=gen)
    assert (forward.sum(1) == 1).all()


# ------------------------------------------------------------------ the estimator


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_observed_values_unchanged_in_both_shapes(fitted, billiards, dtype):
    _, _, X_missing, mask = billiards
    X = X_missing.astype(dtype)
    # a partially observed step: its observed coordinate is kept
    X[0, 5, 0] = 0.25
    X_before = X.copy()
    X_hat = fitted.transform(X)
    assert X_hat.shape == X.shape and X_hat.dtype == dtype
    assert not np.isnan(X_hat).any()
    seen = ~np.isnan(X)
    assert np.array_equal(X_hat[seen], X[seen])
    assert np.array_equal(X, X_before, equal_nan=True)
    flat = fitted.transform(X.reshape(len(X), -1))
    assert flat.shape == (len(X), 40)
    np.testing.assert_array_equal(flat.reshape(X.shape), X_hat)


def test_batch_of_different_masks_equals_one_sequence_at_a_time(fitted, billiards):
    _, _, X_missing, _ = billiards
    X = X_missing.copy()
    X[1, 0] = np.nan  # a leading gap
    X[2, -5:] = np.nan  # a trailing gap
    batch = fitted.transform(X)
    for i in range(len(X)):
        np.testing.assert_allclose(fitted.transform(X[i : i + 1])[0], batch[i], atol=1e-6)


def test_same_seed_same_result_and_pickle(billiards, fitted):
    X_train, _, X_missing, _ = billiards
    again = NAOMISequenceImputer(**TINY).fit(X_train)
    assert np.array_equal(again.transform(X_missing), fitted.transform(X_missing))
    loaded = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(loaded.transform(X_missing), fitted.transform(X_missing))
    other = NAOMISequenceImputer(**{**TINY, "random_state": 1}).fit(X_train)
    assert not np.array_equal(other.transform(X_missing), fitted.transform(X_missing))


def test_flattened_input_in_a_pipeline(billiards):
    X_train, X_test, X_missing, _ = billiards
    T = X_train.shape[1]
    flat_train, flat_missing = X_train.reshape(len(X_train), -1).copy(), X_missing.reshape(12, -1)
    flat_train[:, 6:12] = np.nan  # incomplete training data: observed steps hidden in training
    y = X_train[:, -1, 0]
    pipe = make_pipeline(NAOMISequenceImputer(n_timesteps=T, **TINY), Ridge()).fit(flat_train, y)
    assert pipe.predict(flat_missing).shape == (12,)
    imputer = pipe[0]
    assert (imputer.n_timesteps_, imputer.n_dims_, imputer.n_features_in_) == (T, 2, 2 * T)
    frame = pd.DataFrame(flat_missing, columns=[f"s{t}_{d}" for t in range(T) for d in "xy"])
    out = NAOMISequenceImputer(n_timesteps=T, **TINY).set_output(transform="pandas")
    out = out.fit(frame).transform(frame)
    assert list(out.columns) == list(frame.columns) and not out.isna().any().any()


def test_stochastic_transform_is_the_mean_and_sample_draws(fitted_stochastic, billiards):
    _, _, X_missing, mask = billiards
    imputer = fitted_stochastic
    draws = imputer.sample(X_missing, n_imputations=3)
    assert draws.shape == (3,) + X_missing.shape
    assert np.array_equal(draws[:, mask], np.broadcast_to(X_missing[mask], (3, mask.sum())))
    assert not np.allclose(draws[0], draws[1])  # different draws
    assert np.array_equal(imputer.sample(X_missing, n_imputations=3), draws)  # deterministic
    loaded = pickle.loads(pickle.dumps(imputer))
    assert np.array_equal(loaded.sample(X_missing, n_imputations=3), draws)
    # the mean imputation lies within the spread of the draws more often than not
    mean = imputer.transform(X_missing)
    assert np.abs(mean - draws.mean(0))[~mask].mean() < np.abs(draws[0] - draws[1])[~mask].mean()
    flat = imputer.sample(X_missing.reshape(12, -1), n_imputations=2)
    assert flat.shape == (2, 12, 40)


def test_sample_needs_the_stochastic_model(fitted):
    assert not hasattr(fitted, "sample")
    with pytest.raises(AttributeError, match="no attribute .sample."):
        fitted.sample(np.zeros((1, 20, 2)))


def test_single_resolution_is_singleres(billiards):
    X_train, _, X_missing, mask = billiards
    imputer = NAOMISequenceImputer(n_resolutions=1, **TINY).fit(X_train)
    assert len(imputer.net_.module_.decoders) == 1
    assert not np.isnan(imputer.transform(X_missing)).any()
    assert len(NAOMISequenceImputer(**TINY).fit(X_train).net_.module_.decoders) == 4


def test_free_running_epochs_and_adversarial_stage(billiards, monkeypatch):
    X_train, _, X_missing, _ = billiards
    params = dict(TINY, teacher_forcing=0.5)
    plain = NAOMISequenceImputer(**params).fit(X_train)
    assert plain.net_.history[:, "stage"] == ["teacher_forcing", "free_running"]
    adversarial = dict(params, adversarial=True, adversarial_epochs=2, adversarial_lr=1e-3)
    # a generator never updated: the pretraining and the imputations are those without the stage
    monkeypatch.setattr("skimpute.naomi._net._UPDATE_BELOW", 0.0)
    frozen = NAOMISequenceImputer(**adversarial).fit(X_train)
    assert np.array_equal(frozen.transform(X_missing), plain.transform(X_missing))
    # a generator updated whenever the discriminator is not fooled
    monkeypatch.setattr("skimpute.naomi._net._UPDATE_BELOW", 0.8)
    monkeypatch.setattr("skimpute.naomi._net._WARM_BELOW", 1.0)
    imputer = NAOMISequenceImputer(**adversarial).fit(X_train)
    net = imputer.net_
    assert imputer.n_epochs_ == 4
    assert net.history[:, "stage"] == [
        "teacher_forcing",
        "free_running",
        "adversarial",
        "adversarial",
    ]
    assert np.isfinite(net.history[:, "train_loss"]).all()
    assert all(0 <= p <= 1 for p in net.history[-1, "batches", :, "model_prob"])
    assert sum(net.history[-1, "batches", :, "g_step"]) > 0  # the generator was updated
    assert set(net._optimizers) == {"optimizer", "optimizer_discriminator"}
    assert net.optimizer_.param_groups[0]["lr"] == 1e-3
    assert net.optimizer_discriminator_.param_groups[0]["lr"] == 1e-3
    X_hat = imputer.transform(X_missing)
    assert not np.isnan(X_hat).any() and not np.array_equal(X_hat, plain.transform(X_missing))
    loaded = pickle.loads(pickle.dumps(imputer))
    assert np.array_equal(loaded.transform(X_missing), X_hat)


def test_training_learns_the_billiards(billiards):
    """A short training imputes the billiards better than the mean position."""
    X_train, X_test, X_missing, mask = billiards
    X_train2, _ = make_billiards(n_train=256, n_test=0, n_timesteps=20, random_state=1)
    imputer = NAOMISequenceImputer(
        rnn_size=16, hidden_layer_sizes=(16,), max_epochs=12, lr=3e-3, random_state=0
    ).fit(X_train2)
    errors = (imputer.transform(X_missing) - X_test)[~mask]
    assert np.mean(errors**2) < 0.5 * np.mean(X_test[~mask] ** 2)
    loss = imputer.net_.history[:, "train_loss"]
    assert loss[-1] < 0.7 * loss[0]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "X, params, match",
    [
        (np.zeros(10), {}, "Expected 2D array"),
        (np.zeros((2, 3, 4, 5)), {}, "got a 4-d array"),
        (np.zeros((4, 10)), {"n_timesteps": 3}, "n_timesteps=3 does not divide the 10 columns"),
        (np.zeros((4, 10, 2)), {"n_timesteps": 5}, "n_timesteps=5 but X has 10 steps"),
        (np.full((4, 10), np.nan), {}, "no observed value"),
        (np.zeros((4, 10)), {"train_mask": (0.9, 0.1)}, "train_mask must be"),
        (np.zeros((4, 10)), {"train_mask": "sometimes"}, "train_mask"),
        (np.zeros((4, 10)), {"n_resolutions": 0}, "n_resolutions"),
        (np.where(np.eye(4, 10) > 0, np.nan, 1.0), {"adversarial": True}, "complete training"),
        (np.zeros((4, 1)), {"adversarial": True}, "at least 2 steps"),
    ],
)
def test_bad_input_is_rejected(X, params, match):
    with pytest.raises(ValueError, match=match):
        NAOMISequenceImputer(**{**TINY, **params}).fit(X)


def test_transform_checks_the_fitted_shape(fitted):
    with pytest.raises(ValueError, match="sequences of 10 steps of 2 values, but"):
        fitted.transform(np.zeros((1, 10, 2)))
    with pytest.raises(ValueError, match="X has 30 features, but NAOMISequenceImputer is expect"):
        fitted.transform(np.zeros((1, 30)))
    with pytest.raises(ValueError, match="n_imputations must be a positive integer"):
        NAOMISequenceImputer(stochastic=True, **TINY).fit(np.zeros((3, 5))).sample(
            np.zeros((1, 5)), n_imputations=0
        )
