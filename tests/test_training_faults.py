"""Training faults of the neural imputers: non-finite loss or weights, divergence, interrupts,
failing callbacks, and a fit that fails leaving the estimator as it was."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, EarlyStopping
from test_common import ESTIMATORS, nan_data

from skimpute._base import NeuralNetMixin

torch.set_num_threads(1)

NEURAL = [e for e in ESTIMATORS if isinstance(e, NeuralNetMixin)]
NEURAL_IDS = [type(e).__name__ for e in NEURAL]
# 60 rows in batches of 16: 4 batches per epoch
X = nan_data()


class PoisonWeights(Callback):
    """Set every weight of the module to nan at the start or the end of a batch."""

    def __init__(self, when="batch_begin"):
        self.when = when

    def _poison(self, net):
        with torch.no_grad():
            for p in net.module_.parameters():
                p.fill_(float("nan"))

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and self.when == "batch_begin":
            self._poison(net)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.when == "batch_end":
            self._poison(net)


class InterruptAt(Callback):
    """Raise KeyboardInterrupt at the end of batch `batch` of epoch `epoch` (from 1)."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, net, training=False, **kwargs):
        if training and (len(net.history), len(net.history[-1]["batches"])) == (
            self.epoch,
            self.batch,
        ):
            raise KeyboardInterrupt


class StopAfterEpoch(Callback):
    """Stop the training at the end of epoch `epoch` (from 1), as Ctrl+C there would."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


BOOM = RuntimeError("boom from a callback")


class RaiseAtEpochEnd(Callback):
    """Raise the module-level ``BOOM`` at the end of epoch `epoch`."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise BOOM


def weights(estimator):
    return {k: v.clone() for k, v in estimator.net_.module_.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ------------------------------------------------------------------------- non-finite values


@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
def test_nan_loss_raises_floating_point_error_and_leaves_unfitted(estimator):
    est = clone(estimator).set_params(callbacks=[PoisonWeights("batch_begin")])
    name = type(estimator).__name__
    with pytest.raises(
        FloatingPointError,
        match=rf"{name}: the training loss became nan at epoch 1 \(batch 1\).*smaller learning",
    ):
        est.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
def test_nan_weights_after_the_last_step_are_caught(estimator):
    # one batch per epoch and one epoch: no later loss sees the poisoned weights
    est = clone(estimator).set_params(
        callbacks=[PoisonWeights("batch_end")], batch_size=len(X), max_epochs=1
    )
    name = type(estimator).__name__
    with pytest.raises(
        FloatingPointError,
        match=rf"{name}: the network weights became nan at the end of epoch 1 \(batch 1\)",
    ):
        est.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
def test_diverging_run_raises_or_gives_finite_imputations(estimator):
    est = clone(estimator).set_params(lr=1e6, max_epochs=3)
    try:
        est.fit(X)
    except FloatingPointError as err:
        assert "smaller learning rate (lr=1000000.0)" in str(err)
        with pytest.raises(NotFittedError):
            check_is_fitted(est)
        return
    assert np.isfinite(est.transform(X)).all()
    for p in est.net_.module_.parameters():
        assert torch.isfinite(p).all()


# -------------------------------------------------------------------------------- interrupts


@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
def test_interrupt_mid_epoch_keeps_last_completed_epoch(estimator):
    name = type(estimator).__name__
    est = clone(estimator).set_params(max_epochs=3, callbacks=[InterruptAt(epoch=2, batch=2)])
    with pytest.warns(
        UserWarning,
        match=rf"{name}: training was interrupted during epoch 2; the estimator keeps the "
        r"weights of epoch 1",
    ):
        est.fit(X)
    assert est.n_epochs_ == 1
    assert len(est.net_.history) == 1
    assert est.net_._last_epoch_state is None  # the copy is not kept (nor pickled)
    # the weights are those of the same run stopped cleanly at the end of its first epoch, bit
    # for bit (max_epochs=3 in both: schedules such as GPSI's KL warm-up depend on it)
    one_epoch = clone(estimator).set_params(max_epochs=3, callbacks=[StopAfterEpoch(1)]).fit(X)
    assert one_epoch.n_epochs_ == 1
    assert_same_weights(weights(est), weights(one_epoch))
    X_hat = est.transform(X)
    assert not np.isnan(X_hat).any()
    assert np.array_equal(X_hat, one_epoch.transform(X))


@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
def test_interrupt_in_first_epoch_raises_and_leaves_estimator_as_it_was(estimator):
    est = clone(estimator).set_params(callbacks=[InterruptAt(epoch=1, batch=2)])
    with pytest.raises(KeyboardInterrupt, match="before any epoch completed"):
        est.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    # a fitted estimator keeps its previous fit
    fitted = clone(estimator).fit(X)
    before, X_hat = dict(vars(fitted)), fitted.transform(X)
    fitted.set_params(callbacks=[InterruptAt(epoch=1, batch=1)])
    with pytest.raises(KeyboardInterrupt):
        fitted.fit(nan_data(seed=3, d=5))
    assert fitted.net_ is before["net_"] and fitted.mean_ is before["mean_"]
    assert fitted.n_features_in_ == 4
    assert np.array_equal(fitted.transform(X), X_hat)


@pytest.mark.parametrize("name", ["NotMIWAEImputer", "AutoregressiveGRUImputer"])
def test_early_stopping_still_stops_at_an_epoch_end_without_warning(name):
    (estimator,) = [e for e in NEURAL if type(e).__name__ == name]
    # an improvement of 1e9 is never reached: epoch 1 improves on inf, epoch 2 misses and stops
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=1e9, threshold_mode="abs")
    est = clone(estimator).set_params(max_epochs=5, callbacks=[stop])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    assert not [w for w in caught if "interrupted" in str(w.message)]
    assert est.n_epochs_ == 2 and len(est.net_.history) == 2
    two_epochs = clone(estimator).set_params(max_epochs=2).fit(X)
    assert_same_weights(weights(est), weights(two_epochs))


# ----------------------------------------------------------------------- a callback that raises


@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
def test_raising_callback_propagates_and_never_half_builds(estimator):
    est = clone(estimator).set_params(max_epochs=2, callbacks=[RaiseAtEpochEnd(epoch=2)])
    with pytest.raises(RuntimeError) as info:
        est.fit(X)
    assert info.value is BOOM  # the callback's own exception, unchanged
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert not [k for k in vars(est) if k.endswith("_") or k.startswith("_transform")]

    # a fitted estimator refitted on other data that fails is left exactly as it was
    fitted = clone(estimator).fit(X)
    before = dict(vars(fitted))
    X_hat = fitted.transform(X)
    fitted.set_params(callbacks=[RaiseAtEpochEnd(epoch=1)])
    before["callbacks"] = fitted.callbacks
    with pytest.raises(RuntimeError, match="boom from a callback"):
        fitted.fit(nan_data(seed=3, d=5) * 100)
    assert vars(fitted).keys() == before.keys()
    assert all(vars(fitted)[k] is v for k, v in before.items())
    assert np.array_equal(fitted.transform(X), X_hat)
