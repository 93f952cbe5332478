"""The sequence baselines: linear interpolation, KNN, the autoregressive GRU."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.impute import KNNImputer

from skimpute.baselines import (
    AutoregressiveGRUImputer,
    KNNSequenceImputer,
    LinearInterpolationImputer,
)
from skimpute.datasets import make_billiards

torch.set_num_threads(1)


def test_linear_interpolation_by_hand():
    nan = np.nan
    X = np.array(
        [
            [[nan, 1.0], [0.0, nan], [nan, nan], [4.0, 3.0], [nan, nan]],
            [[nan, nan], [nan, nan], [nan, nan], [nan, 5.0], [nan, nan]],
        ]
    )
    expected = np.array(
        [
            [[0.0, 1.0], [0.0, 5 / 3], [2.0, 7 / 3], [4.0, 3.0], [4.0, 3.0]],
            [[2.0, 5.0], [2.0, 5.0], [2.0, 5.0], [2.0, 5.0], [2.0, 5.0]],  # x never seen: mean
        ]
    )
    imputer = LinearInterpolationImputer().fit(X)
    np.testing.assert_allclose(imputer.mean_, [2.0, 3.0])
    np.testing.assert_allclose(imputer.transform(X), expected)
    flat = LinearInterpolationImputer(n_timesteps=5).fit_transform(X.reshape(2, 10))
    np.testing.assert_allclose(flat, expected.reshape(2, 10))


def test_linear_interpolation_recovers_straight_lines():
    t = np.linspace(0, 1, 30)
    X = np.stack([np.stack([a * t + b, -t], -1) for a, b in [(1, 0), (2, -1)]])
    X_missing = X.copy()
    X_missing[:, 1:-1] = np.nan
    np.testing.assert_allclose(LinearInterpolationImputer().fit_transform(X_missing), X)


def test_knn_averages_the_nearest_training_sequences():
    X_train = np.array([[0.0, 1.0, 2.0], [0.0, -1.0, -2.0], [0.0, 1.2, 2.0], [5.0, 5.0, 5.0]])
    X = np.array([[0.0, np.nan, 2.1], [np.nan, np.nan, 5.0]])
    imputer = KNNSequenceImputer(n_neighbors=2).fit(X_train)
    out = imputer.transform(X)
    np.testing.assert_allclose(out[0], [0.0, 1.1, 2.1])
    np.testing.assert_allclose(out, KNNImputer(n_neighbors=2).fit(X_train).transform(X))


def test_knn_fills_a_step_no_training_sequence_has():
    X_train = np.array([[0.0, np.nan, 2.0], [1.0, np.nan, 3.0]])
    out = KNNSequenceImputer(n_neighbors=1).fit(X_train).transform(np.array([[0.0, np.nan, 4.0]]))
    np.testing.assert_allclose(out, [[0.0, 2.0, 4.0]])


def test_knn_on_3d_sequences():
    X_train, X_test = make_billiards(n_train=30, n_test=3, n_timesteps=12, random_state=0)
    X = X_test.copy()
    X[:, 3:9] = np.nan
    out = KNNSequenceImputer(n_neighbors=4).fit(X_train).transform(X)
    assert out.shape == X.shape and not np.isnan(out).any()
    assert np.array_equal(out[:, :3], X_test[:, :3])


@pytest.fixture(scope="module")
def autoregressive():
    X_train, X_test = make_billiards(n_train=64, n_test=6, n_timesteps=16, random_state=0)
    imputer = AutoregressiveGRUImputer(
        rnn_size=16, hidden_layer_sizes=(16,), max_epochs=3, batch_size=16, random_state=0
    ).fit(X_train)
    return imputer, X_test


def test_autoregressive_gru_uses_only_the_past(autoregressive):
    imputer, X_test = autoregressive
    X = X_test.copy()
    X[:, 4:12] = np.nan
    out = imputer.transform(X)
    assert not np.isnan(out).any() and np.array_equal(out[:, :4], X_test[:, :4])
    # changing the known future leaves the imputed gap before it unchanged
    later = X.copy()
    later[:, 12:] += 0.5
    np.testing.assert_allclose(imputer.transform(later)[:, 4:12], out[:, 4:12], atol=1e-6)
    # changing the known past changes it
    earlier = X.copy()
    earlier[:, 2:4] += 0.5
    assert not np.allclose(imputer.transform(earlier)[:, 4:12], out[:, 4:12])


def test_autoregressive_gru_is_deterministic_and_pickles(autoregressive):
    imputer, X_test = autoregressive
    X = X_test.copy()
    X[:, 1:] = np.nan  # forward inference
    out = imputer.transform(X)
    assert np.array_equal(pickle.loads(pickle.dumps(imputer)).transform(X), out)
    history = imputer.net_.history[:, "train_loss"]
    assert history[-1] < history[0]


@pytest.mark.parametrize(
    "imputer", [LinearInterpolationImputer(n_timesteps=4), KNNSequenceImputer(n_timesteps=4)]
)
def test_n_timesteps_must_divide_the_columns(imputer):
    with pytest.raises(ValueError, match="n_timesteps=4 does not divide the 10 columns"):
        imputer.fit(np.zeros((3, 10)))
