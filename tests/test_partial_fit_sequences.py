"""partial_fit of the neural sequence imputers: one epoch per call, NAOMI's schedule over calls."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skimpute import NAOMISequenceImputer
from skimpute.ampute import sequence_steps
from skimpute.baselines import AutoregressiveGRUImputer
from skimpute.datasets import make_billiards

torch.set_num_threads(1)

TINY = dict(rnn_size=8, hidden_layer_sizes=(8,), max_epochs=1, batch_size=16, random_state=0)
ESTIMATORS = [NAOMISequenceImputer(**TINY), AutoregressiveGRUImputer(**TINY)]
IDS = [type(e).__name__ for e in ESTIMATORS]


@pytest.fixture(scope="module")
def billiards():
    X_train, X_test = make_billiards(n_train=32, n_test=6, n_timesteps=16, random_state=0)
    X_missing, _ = sequence_steps(X_test, (8, 12), random_state=0)
    return X_train, X_missing


def weights(estimator):
    return torch.cat([p.detach().flatten() for p in estimator.net_.module_.parameters()])


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_first_call_trains_as_fit_with_one_epoch(estimator, billiards):
    X_train, X_missing = billiards
    fitted = clone(estimator).fit(X_train)
    partial = clone(estimator).partial_fit(X_train)
    assert partial.n_epochs_ == 1 == len(partial.net_.history)
    assert (partial.n_timesteps_, partial.n_dims_) == (16, 2)
    np.testing.assert_array_equal(partial.mean_, fitted.mean_)
    assert torch.equal(weights(partial), weights(fitted))
    np.testing.assert_array_equal(partial.transform(X_missing), fitted.transform(X_missing))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_calls_are_deterministic_and_a_pickle_continues_identically(estimator, billiards):
    X_train, X_missing = billiards
    X_before = X_train.copy()
    torch.manual_seed(7)
    state = torch.get_rng_state()
    runs = []
    for random_state in (0, 0, 1):
        imp = clone(estimator).set_params(random_state=random_state)
        for block in np.array_split(X_train, 2):
            imp.partial_fit(block)
        runs.append(imp)
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(X_train, X_before)
    assert runs[0].n_epochs_ == 2
    assert torch.equal(weights(runs[0]), weights(runs[1]))
    assert not torch.equal(weights(runs[0]), weights(runs[2]))
    copy = pickle.loads(pickle.dumps(runs[0]))
    runs[0].partial_fit(X_train)
    copy.partial_fit(X_train)
    assert torch.equal(weights(runs[0]), weights(copy))
    np.testing.assert_array_equal(runs[0].transform(X_missing), copy.transform(X_missing))


def test_naomi_schedule_is_counted_over_the_calls(billiards, monkeypatch):
    X_train, X_missing = billiards
    # the generator is updated whenever the discriminator is not fooled
    monkeypatch.setattr("skimpute.naomi._net._WARM_BELOW", 1.0)
    params = dict(TINY, max_epochs=2, teacher_forcing=0.5)
    plain = NAOMISequenceImputer(**params)
    for _ in range(3):
        plain.partial_fit(X_train)
    # the pretraining schedule of fit, and its last stage after it
    assert plain.net_.history[:, "stage"] == ["teacher_forcing", "free_running", "free_running"]
    adversarial = NAOMISequenceImputer(
        **params, adversarial=True, adversarial_epochs=2, adversarial_lr=1e-3
    )
    for _ in range(4):
        adversarial.partial_fit(X_train)
    net = adversarial.net_
    assert net.history[:, "stage"] == ["teacher_forcing", "free_running"] + ["adversarial"] * 2
    # the stage starts once: the generator's optimiser is reset at its first epoch only, so
    # Adam has counted the generator steps of both adversarial epochs
    assert net.adversarial_started_ and net.discriminator_ready_
    assert net.optimizer_.param_groups[0]["lr"] == 1e-3
    g_steps = [sum(net.history[e, "batches", :, "g_step"]) for e in (2, 3)]
    assert min(g_steps) > 0
    (adam_steps,) = {int(state["step"]) for state in net.optimizer_.state.values()}
    assert adam_steps == sum(g_steps)
    assert not np.isnan(adversarial.transform(X_missing)).any()


def test_later_blocks_are_checked(billiards):
    X_train, _ = billiards
    imp = NAOMISequenceImputer(**TINY).partial_fit(X_train)
    with pytest.raises(ValueError, match="16"):
        imp.partial_fit(X_train[:, :12])
    adversarial = NAOMISequenceImputer(**TINY, adversarial=True).partial_fit(X_train)
    incomplete = X_train.copy()
    incomplete[0, 3] = np.nan
    with pytest.raises(ValueError, match="adversarial=True needs complete training sequences"):
        adversarial.partial_fit(incomplete)
    assert adversarial.n_epochs_ == 1


def test_a_failed_call_leaves_the_estimator_as_it_was(billiards):
    from tests.test_partial_fit import _FailInEpoch

    X_train, _ = billiards
    imp = NAOMISequenceImputer(**TINY, callbacks=[_FailInEpoch(2, RuntimeError("boom"))])
    imp.partial_fit(X_train)
    before, mean = weights(imp), imp.mean_
    with pytest.raises(RuntimeError, match="boom"):
        imp.partial_fit(X_train)
    assert imp.n_epochs_ == 1 == len(imp.net_.history)
    assert torch.equal(weights(imp), before) and imp.mean_ is mean
