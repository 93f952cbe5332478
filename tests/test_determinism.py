"""Determinism: what ``random_state`` guarantees, for every estimator of ``test_common``.

- fit, transform, score and sample leave the global random states (numpy's, torch's and
  Python's ``random``) exactly as they found them;
- the seed is really used: a different ``random_state`` gives a different imputation;
- a :class:`numpy.random.RandomState` passed as ``random_state`` goes through
  :func:`sklearn.base.clone` as a copy, so two clones give the same result;
- fits running at the same time in separate processes do not interfere: their results equal
  those of the same fits run one after the other in this process, bit for bit.

That the same ``random_state`` gives the same result twice is tested in ``test_common``.
"""

import pickle
import random

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed
from sklearn.base import clone
from test_common import ESTIMATORS, IDS, TINY_SEQ, nan_data

from skimpute import NAOMISequenceImputer, NotMIWAEImputer

torch.set_num_threads(1)

#: variants that reach code the tiny estimators of test_common do not: NAOMI's stochastic
#: decoders (sample) and its adversarial stage (a discriminator initialised from its own seed)
VARIANTS = [
    NAOMISequenceImputer(
        **TINY_SEQ, stochastic=True, adversarial=True, adversarial_epochs=1, discriminator_size=8
    ),
]
VARIANT_IDS = ["NAOMISequenceImputer-stochastic-adversarial"]

#: the estimators with a random_state
SEEDED = [e for e in ESTIMATORS if "random_state" in e.get_params()]
SEEDED_IDS = [type(e).__name__ for e in SEEDED]


def global_states():
    """The states of numpy's, torch's and Python's global random generators."""
    return np.random.get_state(), torch.random.get_rng_state(), random.getstate()


def assert_same_states(before, after, when):
    (np_before, torch_before, py_before), (np_after, torch_after, py_after) = before, after
    assert np_before[0] == np_after[0] and np.array_equal(np_before[1], np_after[1]), (
        f"{when} changed numpy's global random state"
    )
    assert np_before[2:] == np_after[2:], f"{when} changed numpy's global random state"
    assert torch.equal(torch_before, torch_after), f"{when} changed torch's global random state"
    assert py_before == py_after, f"{when} changed the state of Python's random module"


def training_data(estimator):
    """The adversarial stage needs complete training sequences; the others get holes."""
    return nan_data(seed=3, frac=0.0) if getattr(estimator, "adversarial", False) else nan_data()


def calls(estimator):
    """The public methods that may draw random numbers, as (name, callable) pairs."""
    X_train, X = training_data(estimator), nan_data(seed=4)
    fitted = {}

    def fit():
        fitted["est"] = clone(estimator).fit(X_train)

    yield "fit", fit
    yield "fit_transform", lambda: clone(estimator).fit_transform(X_train)
    yield "transform", lambda: fitted["est"].transform(X)
    yield "unpickled transform", lambda: pickle.loads(pickle.dumps(fitted["est"])).transform(X)
    if hasattr(fitted["est"], "score"):
        yield "score", lambda: fitted["est"].score(X)
    if hasattr(fitted["est"], "sample"):
        yield "sample", lambda: fitted["est"].sample(X, 2)


@pytest.mark.parametrize("estimator", ESTIMATORS + VARIANTS, ids=IDS + VARIANT_IDS)
def test_global_random_states_untouched(estimator):
    np.random.seed(12345)
    torch.manual_seed(54321)
    random.seed(999)
    before = global_states()
    names = []
    for name, call in calls(estimator):
        call()
        assert_same_states(before, global_states(), f"{type(estimator).__name__}.{name}")
        names.append(name)
    assert names[:4] == ["fit", "fit_transform", "transform", "unpickled transform"]


@pytest.mark.parametrize("estimator", SEEDED, ids=SEEDED_IDS)
def test_random_state_none_leaves_torch_and_python_states(estimator):
    # None draws the seeds from numpy's global generator, as scikit-learn does; torch's and
    # Python's generators are still left alone
    torch.manual_seed(54321)
    random.seed(999)
    torch_before, python_before = torch.random.get_rng_state(), random.getstate()
    fitted = clone(estimator).set_params(random_state=None).fit(nan_data())
    fitted.transform(nan_data(seed=4))
    assert torch.equal(torch.random.get_rng_state(), torch_before)
    assert random.getstate() == python_before


@pytest.mark.parametrize("estimator", SEEDED, ids=SEEDED_IDS)
def test_different_random_state_different_imputation(estimator):
    X = nan_data()
    missing = np.isnan(X)
    first = clone(estimator).set_params(random_state=0).fit(X).transform(X)
    second = clone(estimator).set_params(random_state=1).fit(X).transform(X)
    np.testing.assert_array_equal(first[~missing], second[~missing])
    assert not np.array_equal(first[missing], second[missing]), (
        f"{type(estimator).__name__} gave the same imputation with random_state 0 and 1"
    )


@pytest.mark.parametrize("estimator", SEEDED, ids=SEEDED_IDS)
def test_random_state_instance_cloned(estimator):
    X = nan_data()
    rng = np.random.RandomState(0)
    state = rng.get_state()
    template = clone(estimator).set_params(random_state=rng)
    first = clone(template).fit(X).transform(X)
    second = clone(template).fit(X).transform(X)
    np.testing.assert_array_equal(first, second)
    # clone copies the generator: the one the user passed is not consumed
    assert np.array_equal(rng.get_state()[1], state[1]) and rng.get_state()[2:] == state[2:]
    assert not np.isnan(first).any()


def _fit_transform(estimator, X, n_threads):
    """Fit a clone of `estimator` on `X` and impute `X`, with `n_threads` torch threads."""
    torch.set_num_threads(n_threads)
    return clone(estimator).fit(X).transform(X)


def test_parallel_processes_do_not_interfere():
    X_table = nan_data()
    X_seq = nan_data(seed=5, d=6)
    base = {type(e): e for e in ESTIMATORS}
    jobs = [
        (clone(base[cls]).set_params(random_state=seed), X)
        for cls, X in ((NotMIWAEImputer, X_table), (NAOMISequenceImputer, X_seq))
        for seed in (0, 1)
    ]
    n_threads = torch.get_num_threads()
    parallel = Parallel(n_jobs=2, backend="loky")(
        delayed(_fit_transform)(estimator, X, n_threads) for estimator, X in jobs
    )
    sequential = [_fit_transform(estimator, X, n_threads) for estimator, X in jobs]
    for (estimator, _), got, expected in zip(jobs, parallel, sequential):
        assert got.tobytes() == expected.tobytes(), (
            f"{type(estimator).__name__}(random_state={estimator.random_state}) fitted in a "
            "worker process differs from the same fit in this process"
        )
    # the two seeds do differ, so equal results are not a coincidence
    assert not np.array_equal(sequential[0], sequential[1])
    assert not np.array_equal(sequential[2], sequential[3])
