"""GPSIImputer: the model's behaviour with fixed seeds and small budgets."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from skimpute import GPSIImputer
from skimpute.ampute import mcar, square_occlusion
from skimpute.gpsi._module import GPSIModule, TrainMask
from skimpute.nn import RowNoise, row_seeds

torch.set_num_threads(1)

TINY = dict(hidden_layer_sizes=(16,), n_steps=2, max_epochs=2, batch_size=32, random_state=0)


def digits(n_train=800, seed=0):
    """scikit-learn's 8x8 digits as grey levels in [0, 1]: a training set and a test set."""
    X = load_digits().data / 16.0
    order = np.random.default_rng(seed).permutation(len(X))
    return X[order[:n_train]], X[order[1500:]]


def shown_half(shape, random_state):
    """A train_mask callable: each entry shown with probability 1/2 (module level: pickles)."""
    return random_state.uniform(size=shape) < 0.5


def test_more_refinement_steps_lower_the_nll_for_add():
    # Figure 2(c) of the paper: additive updates extract value from more steps. With these
    # seeds the bound on the NLL of the missing grey levels is 13.7 nats per image with one
    # step and 12.9 with four.
    X_train, X_test = digits()
    X_missing, _ = mcar(X_test, 0.5, random_state=0)
    params = dict(
        observation="bernoulli",
        hidden_layer_sizes=(64, 64),
        latent_dim=8,
        max_epochs=20,
        batch_size=32,
        random_state=0,
    )
    nll = {
        T: GPSIImputer(n_steps=T, **params).fit(X_train).imputation_nll(X_missing, X_test).mean()
        for T in (1, 4)
    }
    assert nll[4] < nll[1] - 0.5, nll


def test_rollouts_differ_and_agree_on_observed_pixels():
    X_train, X_test = digits(n_train=300)
    X_missing, mask = square_occlusion(X_test[:20], 4, random_state=0)
    imputer = GPSIImputer(observation="bernoulli", train_mask="block", block_size=4, **TINY)
    draws = imputer.fit(X_train).sample(X_missing, 3)
    assert draws.shape == (3, 20, 64)
    for draw in draws:
        assert np.array_equal(draw[mask], X_missing[mask])  # bit for bit
        assert ((draw >= 0) & (draw <= 1)).all()
    assert not np.allclose(draws[0][~mask], draws[1][~mask])
    assert np.array_equal(imputer.sample(X_missing, 3), draws)  # seeded
    # transform averages L roll-outs; it is deterministic too
    assert np.array_equal(imputer.transform(X_missing), imputer.transform(X_missing))


def test_primary_policy_never_sees_the_hidden_values_and_the_guide_does():
    torch.manual_seed(0)
    module = GPSIModule(6, 3, (8,), policy="lstm", n_steps=3).eval()
    with torch.no_grad():  # the step heads start at zero: give them weights
        for param in module.parameters():
            param.normal_(0.0, 0.3)
    X = torch.randn(4, 6)
    known = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]).repeat(4, 1)
    other = X.clone()
    other[:, 3:] += 5.0  # only the hidden values change

    def run(data, guided):
        noise = RowNoise(row_seeds(0, 0, 4))
        return module.rollout(data, torch.ones_like(data), known, 2, noise, guided)[0]

    with torch.no_grad():
        assert torch.equal(run(X, guided=False), run(other, guided=False))
        assert not torch.allclose(run(X, guided=True), run(other, guided=True))


@pytest.mark.parametrize("policy", ["direct", "lstm"])
@pytest.mark.parametrize("update", ["add", "jump"])
def test_policies_and_updates_fit_and_impute(policy, update):
    X_train, X_test = digits(n_train=200)
    X_missing, mask = mcar(X_test[:30], 0.6, random_state=0)
    imputer = GPSIImputer(observation="bernoulli", policy=policy, update=update, **TINY)
    X_hat = imputer.fit(X_train).transform(X_missing)
    assert np.array_equal(X_hat[mask], X_missing[mask])
    assert ((X_hat >= 0) & (X_hat <= 1)).all()
    assert np.isfinite(imputer.score(X_test[:30]))
    nll = imputer.imputation_nll(X_missing, X_test[:30], kind="iw_bound")
    assert nll.shape == (30,) and (nll > 0).all()


def test_train_mask_kinds():
    obs = torch.ones(50, 36)
    uniform = lambda k: torch.rand(50, k)  # noqa: E731
    torch.manual_seed(0)
    known = TrainMask("block", size=3, image_shape=(6, 6)).known(obs, uniform)
    hidden = (1 - known).reshape(50, 6, 6)
    assert (hidden.sum(dim=(1, 2)) == 9).all()
    assert (hidden.sum(dim=2).amax(dim=1) == 3).all()  # a 3 x 3 square
    rate = 1 - TrainMask("mcar", rate=0.3).known(obs, uniform).mean()
    assert 0.25 < float(rate) < 0.35
    known = TrainMask(shown_half).known(obs, uniform, per_row=True)
    assert set(known.unique().tolist()) == {0.0, 1.0}
    # with incomplete data only observed entries are shown, and the missing ones stay unknown
    obs[:, :10] = 0.0
    known = TrainMask("mcar", rate=0.3).known(obs, uniform)
    assert not known[:, :10].any()
    with pytest.raises(ValueError, match="shape"):
        TrainMask(lambda shape, rs: np.ones(3, bool)).known(obs, uniform)


def test_incomplete_training_data_and_callable_train_mask_pickle():
    X_train, X_test = digits(n_train=200)
    X_train_missing, _ = mcar(X_train, 0.3, random_state=1)
    imputer = GPSIImputer(observation="bernoulli", train_mask=shown_half, **TINY)
    imputer.fit(X_train_missing)
    X_missing, _ = mcar(X_test[:10], 0.5, random_state=0)
    loaded = pickle.loads(pickle.dumps(imputer))
    assert np.array_equal(loaded.transform(X_missing), imputer.transform(X_missing))
    assert loaded.score(X_test[:10]) == imputer.score(X_test[:10])


def test_score_and_nll_are_in_the_units_of_x():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5)) @ rng.normal(size=(5, 5))
    X_missing, mask = mcar(X, 0.3, random_state=0)
    first = GPSIImputer(**TINY).fit(X)
    scaled = GPSIImputer(**TINY).fit(10.0 * X)
    n_targets = (~mask).sum(axis=1)
    np.testing.assert_allclose(
        scaled.imputation_nll(10 * X_missing, 10 * X),
        first.imputation_nll(X_missing, X) + n_targets * np.log(10.0),
        rtol=1e-4,
        atol=1e-3,
    )
    assert scaled.score(10 * X) < first.score(X)
    # a row with nothing to impute has NLL 0
    assert (first.imputation_nll(X_missing, X)[n_targets == 0] == 0).all()


def test_grid_search_without_a_scorer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4)) @ rng.normal(size=(4, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    search = GridSearchCV(GPSIImputer(**TINY), {"n_steps": [1, 2]}, cv=2).fit(X)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize(
    "params, X, match",
    [
        (dict(observation="bernoulli"), 2 * np.eye(9), r"\[0, 1\].*divide"),
        (dict(observation="bernoulli", scale=True), np.eye(9), "must not be standardised"),
        (dict(train_mask="block"), np.eye(10), "image_shape"),
        (dict(train_mask="block", image_shape=(2, 4)), np.eye(9), "H \\* W"),
        (dict(train_mask="block", block_size=4), np.eye(9), "does not fit"),
        (dict(hidden_layer_sizes=()), np.eye(9), "hidden_layer_sizes"),
    ],
)
def test_bad_parameters_and_input(params, X, match):
    with pytest.raises(ValueError, match=match):
        GPSIImputer(**{**TINY, **params}).fit(X)


def test_bad_nll_arguments():
    X = np.random.default_rng(0).random((40, 4))
    imputer = GPSIImputer(**TINY).fit(X)
    with pytest.raises(ValueError, match="kind"):
        imputer.imputation_nll(X, X, kind="nope")
    with pytest.raises(ValueError, match="equal X"):
        imputer.imputation_nll(X, X + 1)
    with pytest.raises(ValueError, match="positive integer"):
        imputer.sample(X, 0)


def test_diverging_training_stops_with_a_clear_error():
    X = np.random.default_rng(0).normal(size=(100, 5))
    with pytest.raises(FloatingPointError, match="training loss became"):
        GPSIImputer(**{**TINY, "max_epochs": 5, "lr": 1e8}).fit(X)


class RecordKLWeight(Callback):
    """Record the module's KL weight at every training batch (after the warm-up has set it)."""

    def initialize(self):
        self.weights = []
        return self

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.weights.append(net.module_.kl_weight)


def kl_weights(imputer):
    return dict(imputer.net_.callbacks_)["record"].weights


def test_kl_warmup_ramps_the_kl_weights_to_one_and_partial_fit_continues_it():
    X = np.random.default_rng(0).normal(size=(64, 4))  # 2 batches of 32 per epoch
    params = {**TINY, "max_epochs": 4, "callbacks": [("record", RecordKLWeight())]}
    weights = kl_weights(GPSIImputer(kl_warmup=0.5, **params).fit(X))  # ramp: 2 epochs
    np.testing.assert_allclose(weights, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0])
    no_ramp = GPSIImputer(kl_warmup=0.0, **params).fit(X)
    assert kl_weights(no_ramp) == [1.0] * 8  # eq. 17 from the first step
    assert "kl_warmup" not in dict(no_ramp.net_.callbacks_)
    # partial_fit (one epoch a call, ramp length from max_epochs) continues the ramp over calls
    imputer = GPSIImputer(kl_warmup=0.5, **params)
    for _ in range(4):
        imputer.partial_fit(X)
    assert kl_weights(imputer) == weights
