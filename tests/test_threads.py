"""The neural estimators' ``n_threads``: torch's thread count while they run, restored after."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback
from test_common import ESTIMATORS, IDS, nan_data

from skimpute import NotMIWAEImputer
from skimpute._base import NeuralNetMixin

torch.set_num_threads(1)

NEURAL = [e for e in ESTIMATORS if isinstance(e, NeuralNetMixin)]
NEURAL_IDS = [i for e, i in zip(ESTIMATORS, IDS) if isinstance(e, NeuralNetMixin)]


@pytest.fixture
def two_torch_threads():
    """torch's global thread count set to 2 for the test, then back to what it was."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


class ThreadSpy(Callback):
    """Records torch's thread count at the start of each training batch."""

    def initialize(self):
        self.seen_ = []
        return self

    def on_batch_begin(self, net, **kwargs):
        self.seen_.append(torch.get_num_threads())


class StopAtFirstBatch(Callback):
    def on_batch_begin(self, net, **kwargs):
        raise RuntimeError("stopped by the test")


def test_every_neural_estimator_defaults_to_one_thread():
    assert NEURAL, "no neural estimator in tests.test_common.ESTIMATORS"
    for estimator in NEURAL:
        assert type(estimator)().get_params()["n_threads"] == 1, type(estimator).__name__


@pytest.mark.parametrize("estimator", NEURAL, ids=NEURAL_IDS)
@pytest.mark.parametrize("n_threads, inside", [(1, 1), (None, 2)])
def test_fit_runs_with_n_threads_and_restores_torch_setting(
    estimator, n_threads, inside, two_torch_threads
):
    spy = ThreadSpy()
    X = nan_data()
    fitted = clone(estimator).set_params(n_threads=n_threads, callbacks=[("spy", spy)]).fit(X)
    assert torch.get_num_threads() == two_torch_threads
    seen = _spy_of(fitted).seen_
    assert seen and set(seen) == {inside}
    fitted.transform(X)
    assert torch.get_num_threads() == two_torch_threads


def _spy_of(fitted):
    """The fitted net's copy of the ThreadSpy (the estimator deep-copies its callbacks)."""
    (spy,) = [cb for name, cb in fitted.net_.callbacks_ if name == "spy"]
    return spy


def test_transform_score_sample_run_with_n_threads(two_torch_threads):
    X = nan_data()
    imputer = NotMIWAEImputer(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X)
    seen = []
    impute_chunk = imputer._impute_chunk

    def spying_chunk(*args):
        seen.append(torch.get_num_threads())
        return impute_chunk(*args)

    imputer._impute_chunk = spying_chunk
    imputer.transform(X)
    assert seen == [1] and torch.get_num_threads() == two_torch_threads
    imputer.score(X)
    imputer.sample(X, n_imputations=2)
    assert torch.get_num_threads() == two_torch_threads


def test_torch_setting_restored_when_fit_fails(two_torch_threads):
    imputer = NotMIWAEImputer(max_epochs=1, callbacks=[StopAtFirstBatch()], random_state=0)
    with pytest.raises(RuntimeError, match="stopped by the test"):
        imputer.fit(nan_data())
    assert torch.get_num_threads() == two_torch_threads


def test_one_thread_gives_the_same_result_whatever_torch_setting():
    """With n_threads=1 the result does not depend on torch's global setting, although at
    this size two threads change the last bits of the weights and imputations."""
    X = nan_data(n=64, d=6, seed=3)
    params = dict(hidden_layer_sizes=(32,), max_epochs=3, n_imputation_samples=200)
    results = {}
    for global_threads in (1, 2):
        for n_threads in (1, None):
            torch.set_num_threads(global_threads)
            try:
                imputer = NotMIWAEImputer(**params, n_threads=n_threads, random_state=0).fit(X)
                weights = [p.detach().clone() for p in imputer.net_.module_.parameters()]
                results[global_threads, n_threads] = (weights, imputer.transform(X))
            finally:
                torch.set_num_threads(1)
    for key in [(2, 1), (1, None)]:
        for a, b in zip(results[1, 1][0], results[key][0]):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        np.testing.assert_array_equal(results[1, 1][1], results[key][1])
    # two threads: the same up to rounding (the last bits of float32 sums)
    np.testing.assert_allclose(results[2, None][1], results[1, 1][1], rtol=0, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2"])
def test_bad_n_threads_rejected(bad):
    with pytest.raises(ValueError, match="'n_threads' parameter"):
        NotMIWAEImputer(max_epochs=1, n_threads=bad).fit(nan_data())


def test_threads_benchmark_measures_in_a_fresh_process_and_writes_its_tables():
    from benchmarks.threads import run_config, to_markdown

    config = dict(model="GNR", n_threads=1, train_rows=64, epochs=2, transform_rows=10)
    record = run_config(config, malloc_trim="65536")
    assert record["torch_threads"] == 1 and record["malloc_trim_threshold"] == "65536"
    assert record["s_per_epoch"] > 0 and record["transform_s"] > 0 and record["load"] == "idle"
    records = []
    for section, n, load, value, seconds in [
        ("threads", 1, "idle", None, 1.0),
        ("threads", 2, "idle", None, 3.0),
        ("malloc", 1, "idle", None, 1.0),
        ("malloc", 1, "idle", "65536", 1.5),
    ]:
        records.append(
            {
                **record,
                "section": section,
                "n_threads": n,
                "load": load,
                "malloc_trim_threshold": value,
                "s_per_epoch": seconds,
                "run": 0,
            }
        )
    payload = {"machine": "test", "runs": [{"started": "now", "load_at_start": 1.0}]}
    text = to_markdown({**payload, "records": records})
    assert "| 2 | idle | 1 | 3.00 (3.00-3.00) | 3.00 |" in text
    assert "| GNR | 65536 | 1 | 1.50 (1.50-1.50) | 1.50 |" in text
    assert "1 gave the one-thread weights and 1 the one-thread imputations" in text
