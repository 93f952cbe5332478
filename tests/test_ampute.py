"""Tests of skimpute.ampute: the seeded mask generators."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from skimpute import ampute
from skimpute.ampute import (
    censoring,
    mar,
    mcar,
    mnar_logistic,
    mnar_self_masking,
    sequence_steps,
    square_occlusion,
)
from skimpute.metrics import rmse_missing

HYPOTHESIS = settings(max_examples=25, deadline=None)


@pytest.fixture
def X():
    return np.random.RandomState(0).normal(size=(400, 6))


def _check_output(X_in, X_missing, mask):
    """The contract shared by every generator."""
    X_in = np.asarray(X_in)
    assert isinstance(mask, np.ndarray)
    assert mask.dtype == np.bool_
    assert mask.shape == X_in.shape
    X_missing = np.asarray(X_missing)
    assert X_missing.shape == X_in.shape
    assert np.issubdtype(X_missing.dtype, np.floating)
    np.testing.assert_array_equal(np.isnan(X_missing), ~mask)
    np.testing.assert_array_equal(X_missing[mask], X_in[mask])


# one call per generator, on data of the right kind, for the shared checks
GENERATORS = {
    "mcar": (lambda X, rs: mcar(X, 0.3, random_state=rs), (50, 5)),
    "mcar_images": (lambda X, rs: mcar(X, 0.3, random_state=rs), (4, 6, 6)),
    "mar": (lambda X, rs: mar(X, 0.3, random_state=rs), (50, 5)),
    "mnar_self_masking": (lambda X, rs: mnar_self_masking(X, p=0.5, random_state=rs), (50, 5)),
    "mnar_logistic": (lambda X, rs: mnar_logistic(X, 0.3, random_state=rs), (50, 5)),
    "censoring": (lambda X, rs: censoring(X, 0.7), (50, 5)),
    "square_occlusion": (lambda X, rs: square_occlusion(X, 3, random_state=rs), (4, 7, 8)),
    "square_occlusion_flat": (
        lambda X, rs: square_occlusion(X, 3, image_shape=(7, 8), random_state=rs),
        (4, 56),
    ),
    "sequence_steps": (lambda X, rs: sequence_steps(X, (2, 5), random_state=rs), (6, 8, 2)),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_common_contract(name):
    func, shape = GENERATORS[name]
    X = np.random.RandomState(1).normal(size=shape)
    X_before = X.copy()
    X_missing, mask = func(X, 0)
    _check_output(X, X_missing, mask)
    assert (~mask).any() and mask.any()
    np.testing.assert_array_equal(X, X_before)  # input unmodified
    assert X_missing is not X and not np.shares_memory(X_missing, X)
    # same seed, same mask; another seed, another mask (except deterministic censoring)
    _, mask_again = func(X, 0)
    np.testing.assert_array_equal(mask, mask_again)
    _, mask_rs = func(X, np.random.RandomState(0))
    np.testing.assert_array_equal(mask, mask_rs)
    if name != "censoring":
        _, mask_other = func(X, 1)
        assert not np.array_equal(mask, mask_other)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_integer_input_gives_float(name):
    func, shape = GENERATORS[name]
    X = np.random.RandomState(2).randint(0, 100, size=shape)
    X_missing, mask = func(X, 0)
    assert X_missing.dtype == np.float64
    _check_output(X, X_missing, mask)


def test_float32_kept():
    X = np.random.RandomState(0).normal(size=(20, 3)).astype(np.float32)
    X_missing, _ = mcar(X, 0.5, random_state=0)
    assert X_missing.dtype == np.float32


@pytest.mark.parametrize(
    "func",
    [
        lambda X: mcar(X, 0.3, random_state=0),
        lambda X: mar(X, 0.3, random_state=0),
        lambda X: mnar_self_masking(X),
        lambda X: mnar_logistic(X, 0.3, random_state=0),
        lambda X: censoring(X, 0.5),
    ],
)
def test_dataframe_in_dataframe_out(func):
    X = pd.DataFrame(
        np.random.RandomState(0).normal(size=(30, 4)),
        columns=["a", "b", "c", "d"],
        index=np.arange(100, 130),
    )
    X_before = X.copy()
    X_missing, mask = func(X)
    assert isinstance(X_missing, pd.DataFrame)
    assert list(X_missing.columns) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(X_missing.index, X.index)
    _check_output(X.to_numpy(), X_missing.to_numpy(), mask)
    pd.testing.assert_frame_equal(X, X_before)


# --------------------------------------------------------------------------- mcar


def test_mcar_rate():
    X = np.zeros((200, 50))
    for rate in (0.0, 0.2, 0.7, 1.0):
        _, mask = mcar(X, rate, random_state=0)
        assert abs((~mask).mean() - rate) < 0.02


# --------------------------------------------------------------------------- mar


def test_mar_observed_columns_and_rate(X):
    X_missing, mask = mar(X, 0.4, observed_columns=[1, 4], random_state=0)
    assert mask[:, [1, 4]].all()
    masked = [0, 2, 3, 5]
    assert abs((~mask[:, masked]).mean() - 0.4) < 0.04
    # each masked column hits the rate in expectation (the intercept is per column)
    assert np.all(np.abs((~mask[:, masked]).mean(axis=0) - 0.4) < 0.08)


def test_mar_default_observed_columns_is_random_half(X):
    _, mask = mar(X, 0.5, random_state=0)
    fully_observed = mask.all(axis=0)
    assert fully_observed.sum() >= 3  # the half, plus possibly a masked column left intact
    kept = [np.flatnonzero(mar(X, 0.5, random_state=s)[1].all(axis=0)).tolist() for s in range(6)]
    assert len({tuple(k) for k in kept}) > 1  # the half is random
    _, mask = mar(X[:, :2], 0.5, random_state=0)
    assert mask.all(axis=0).sum() == 1  # with two features: one observed, one masked


def test_mar_depends_on_observed_values():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(3000, 2))
    _, mask = mar(X, 0.3, observed_columns=[0], random_state=0)
    # missingness in column 1 is a (monotone) function of column 0, independent of column 1
    corr_obs = np.corrcoef(X[:, 0], ~mask[:, 1])[0, 1]
    corr_self = np.corrcoef(X[:, 1], ~mask[:, 1])[0, 1]
    assert abs(corr_obs) > 0.2
    assert abs(corr_self) < 0.06


def test_mar_rate_extremes(X):
    _, mask = mar(X, 0.0, observed_columns=[0], random_state=0)
    assert mask.all()
    _, mask = mar(X, 1.0, observed_columns=[0], random_state=0)
    assert mask[:, 0].all() and not mask[:, 1:].any()


def test_mar_constant_observed_column_falls_back_to_mcar():
    X = np.random.RandomState(0).normal(size=(2000, 2))
    X[:, 0] = 3.0
    _, mask = mar(X, 0.25, observed_columns=[0], random_state=0)
    assert abs((~mask[:, 1]).mean() - 0.25) < 0.03


# --------------------------------------------------------------------------- self-masking


@pytest.mark.parametrize("p", [0.2, 0.8, 1.0])
def test_mnar_self_masking_above_mean_only(X, p):
    X_missing, mask = mnar_self_masking(X, p=p, random_state=0)
    cols = range(X.shape[1] // 2)  # default: the first half
    assert mask[:, 3:].all()
    above = X > X.mean(axis=0)
    assert not (~mask & ~above).any()  # never missing at or below the mean
    rate = (~mask[:, cols]).sum() / above[:, cols].sum()
    if p == 1.0:
        np.testing.assert_array_equal(~mask[:, cols], above[:, cols])
    else:
        assert abs(rate - p) < 0.08


def test_mnar_self_masking_columns_and_threshold():
    X = np.arange(20.0).reshape(10, 2)  # columns 0,2,...,18 and 1,3,...,19
    _, mask = mnar_self_masking(X, columns=[1])
    np.testing.assert_array_equal(~mask[:, 1], X[:, 1] > 10.0)
    assert mask[:, 0].all()
    _, mask = mnar_self_masking(X, columns=[0, 1], threshold=[15.0, 3.0])
    np.testing.assert_array_equal(~mask[:, 0], X[:, 0] > 15.0)
    np.testing.assert_array_equal(~mask[:, 1], X[:, 1] > 3.0)
    skewed = np.array([[0.0], [0.0], [0.0], [1.0], [10.0]])
    _, mask = mnar_self_masking(skewed, columns=[0], threshold="median")
    np.testing.assert_array_equal(mask[:, 0], [True, True, True, False, False])
    _, mask = mnar_self_masking(skewed, columns=[0])  # mean 2.2
    np.testing.assert_array_equal(mask[:, 0], [True, True, True, True, False])
    _, mask = mnar_self_masking(X, columns=[-1], p=0.0)
    assert mask.all()


def test_breast_cancer_mean_imputation_rmse():
    """not-MIWAE Table 1, breast, mean imputation: 1.82 (paper_results/README: 1.820)."""
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    X_missing, mask = mnar_self_masking(X, columns=range(15), p=1.0)
    assert (~mask[:, 15:]).sum() == 0
    means = np.nanmean(X_missing, axis=0)
    X_imputed = np.where(mask, X_missing, means)
    rmse = rmse_missing(X, X_imputed, mask)
    assert rmse == pytest.approx(1.820, abs=5e-4)
    assert round(rmse, 2) == 1.82


# --------------------------------------------------------------------------- mnar_logistic


def test_mnar_logistic_rate_and_direction():
    X = np.random.RandomState(0).normal(size=(3000, 4)) * [1.0, 10.0, 0.1, 3.0]
    _, mask = mnar_logistic(X, 0.3, columns=[0, 1, 2], random_state=0)
    assert mask[:, 3].all()
    rates = (~mask[:, :3]).mean(axis=0)
    np.testing.assert_allclose(rates, 0.3, atol=0.03)
    for j in range(3):  # positive weights: larger values go missing more often
        assert X[~mask[:, j], j].mean() > X[mask[:, j], j].mean()


def test_mnar_logistic_default_all_columns_and_extremes(X):
    _, mask = mnar_logistic(X, 0.5, random_state=0)
    assert (~mask).any(axis=0).all()
    assert mnar_logistic(X, 0.0, random_state=0)[1].all()
    assert not mnar_logistic(X, 1.0, random_state=0)[1].any()


# --------------------------------------------------------------------------- censoring


def test_censoring_upper_and_lower(X):
    _, mask = censoring(X, 0.8, columns=[0, 2])
    q = np.quantile(X[:, [0, 2]], 0.8, axis=0)
    np.testing.assert_array_equal(~mask[:, [0, 2]], X[:, [0, 2]] > q)
    assert mask[:, [1, 3, 4, 5]].all()
    assert abs((~mask[:, 0]).mean() - 0.2) < 0.01
    _, mask = censoring(X, 0.1, side="lower")
    np.testing.assert_array_equal(~mask, X < np.quantile(X, 0.1, axis=0))
    assert censoring(X, 1.0)[1].all()
    assert censoring(X, 0.0, side="lower")[1].all()


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("shape, kwargs", [((30, 9, 7), {}), ((30, 63), {"image_shape": (9, 7)})])
def test_square_occlusion_one_square_per_image(shape, kwargs):
    X = np.random.RandomState(0).uniform(size=shape)
    size = 4
    X_missing, mask = square_occlusion(X, size, random_state=0, **kwargs)
    assert mask.shape == shape
    images = mask.reshape(30, 9, 7)
    for image_mask in images:
        rows, cols = np.nonzero(~image_mask)
        assert rows.size == size * size
        assert rows.max() - rows.min() == size - 1 and cols.max() - cols.min() == size - 1
    # positions cover the whole range, not only the corner
    tops = np.array([np.nonzero(~m)[0].min() for m in images])
    lefts = np.array([np.nonzero(~m)[1].min() for m in images])
    assert tops.min() == 0 and tops.max() == 9 - size
    assert lefts.min() == 0 and lefts.max() == 7 - size


def test_square_occlusion_inferred_square_and_full_size():
    X = np.zeros((3, 16))
    _, mask = square_occlusion(X, 2, random_state=0)
    assert ((~mask).sum(axis=1) == 4).all()
    _, mask = square_occlusion(np.zeros((2, 3, 3)), 3, random_state=0)
    assert not mask.any()


# --------------------------------------------------------------------------- sequences


def test_sequence_steps():
    X = np.random.RandomState(0).normal(size=(40, 12, 3))
    X_missing, mask = sequence_steps(X, (3, 9), random_state=0)
    assert mask[:, 0, :].all()  # the first step is kept
    # whole steps: all D values together
    assert (mask == mask[:, :, :1]).all()
    counts = (~mask[:, :, 0]).sum(axis=1)
    assert counts.min() >= 3 and counts.max() <= 9
    assert len(set(counts.tolist())) > 3  # drawn per sequence
    _, mask = sequence_steps(X, 11, random_state=0)
    assert mask[:, 0].all() and not mask[:, 1:].any()
    _, mask = sequence_steps(X, 4, random_state=0)
    assert ((~mask[:, :, 0]).sum(axis=1) == 4).all()
    # the last step can go missing, and positions differ across sequences
    assert (~mask[:, -1, 0]).any()
    assert len({tuple(m) for m in mask[:, :, 0].tolist()}) > 1


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X: mcar(np.where(X > 1, np.nan, X), 0.1), "already contains NaN"),
        (lambda X: mcar(np.where(X > 1, np.inf, X), 0.1), "infinity"),
        (lambda X: mcar(X, 1.5), "rate"),
        (lambda X: mcar(X, -0.1), "rate"),
        (lambda X: mcar(X, np.nan), "rate"),
        (lambda X: mcar(X[:, 0], 0.1), "dimensions"),
        (lambda X: mcar(X[:0], 0.1), "empty"),
        (lambda X: mcar(np.array([["a", "b"]]), 0.1), "numeric"),
        (lambda X: mar(X, 0.3, observed_columns=[9]), "out of range"),
        (lambda X: mar(X, 0.3, observed_columns=range(6)), "at least one column"),
        (lambda X: mar(X[:, :1], 0.3), "at least two features"),
        (lambda X: mar(X[None], 0.3), "2-d"),
        (lambda X: mnar_self_masking(X, columns=[0, 6]), "out of range"),
        (lambda X: mnar_self_masking(X, columns=[0.5]), "integer"),
        (lambda X: mnar_self_masking(X[:, :1]), "empty"),
        (lambda X: mnar_self_masking(X, p=2.0), "p must"),
        (lambda X: mnar_self_masking(X, threshold="mode"), "threshold"),
        (lambda X: mnar_self_masking(X, columns=[0, 1], threshold=[1.0]), "threshold"),
        (lambda X: mnar_logistic(X, 1.1), "rate"),
        (lambda X: mnar_logistic(X, 0.3, columns=[-7]), "out of range"),
        (lambda X: censoring(X, 0.5, side="both"), "side"),
        (lambda X: censoring(X, 1.2), "quantile"),
        (lambda X: square_occlusion(X, 2), "perfect"),
        (lambda X: square_occlusion(X[:, :4], 3), "size"),
        (lambda X: square_occlusion(X[:, :4], 0), "size"),
        (lambda X: square_occlusion(X, 2, image_shape=(4, 4)), "does not match"),
        (lambda X: square_occlusion(X.reshape(400, 2, 3), 2, image_shape=(3, 2)), "match"),
        (lambda X: square_occlusion(X.reshape(2, 2, 100, 6), 2), "images"),
        (lambda X: sequence_steps(X, 1), "3-d"),
        (lambda X: sequence_steps(X.reshape(100, 4, 6), 4), "T - 1"),
        (lambda X: sequence_steps(X.reshape(100, 4, 6), (2, 1)), "low <= high"),
        (lambda X: sequence_steps(X.reshape(100, 4, 6), (1, 2, 3)), "pair"),
        (lambda X: sequence_steps(X.reshape(100, 4, 6), 1.5), "pair"),
    ],
)
def test_errors(X, call, match):
    with pytest.raises(ValueError, match=match):
        call(X)


def test_public_names():
    assert ampute.__all__ == sorted(ampute.__all__)
    for name in ampute.__all__:
        assert getattr(ampute, name).__doc__


# --------------------------------------------------------------------------- properties

shapes = st.tuples(st.integers(2, 30), st.integers(2, 6))
seeds = st.integers(0, 2**31 - 1)


def _data(shape, seed):
    return np.random.RandomState(seed % 1000).normal(size=shape)


@HYPOTHESIS
@given(shape=shapes, seed=seeds, rate=st.floats(0, 1))
def test_property_mcar(shape, seed, rate):
    X = _data(shape, seed)
    X_before = X.copy()
    X_missing, mask = mcar(X, rate, random_state=seed)
    _check_output(X, X_missing, mask)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(mask, mcar(X * 3 + 1, rate, random_state=seed)[1])
    if rate == 0:
        assert mask.all()
    if rate == 1:
        assert not mask.any()


@HYPOTHESIS
@given(n=st.integers(300, 600), d=st.integers(2, 5), seed=seeds, rate=st.floats(0.05, 0.95))
def test_property_logistic_rates(n, d, seed, rate):
    X = _data((n, d), seed)
    _, mask = mar(X, rate, observed_columns=[0], random_state=seed)
    assert mask[:, 0].all()
    # 5 standard errors of a binomial proportion, plus a margin
    tol = 5 * np.sqrt(rate * (1 - rate) / (n * (d - 1))) + 0.01
    assert abs((~mask[:, 1:]).mean() - rate) < tol
    _, mask = mar(X, rate, random_state=seed)
    assert mask.all(axis=0).sum() >= max(1, d // 2)
    _, mask = mnar_logistic(X, rate, random_state=seed)
    tol = 5 * np.sqrt(rate * (1 - rate) / (n * d)) + 0.01
    assert abs((~mask).mean() - rate) < tol


@HYPOTHESIS
@given(shape=shapes, seed=seeds, p=st.sampled_from([0.0, 0.2, 0.8, 1.0]))
def test_property_self_masking_scale_invariant(shape, seed, p):
    X = _data(shape, seed)
    X_missing, mask = mnar_self_masking(X, p=p, random_state=seed)
    _check_output(X, X_missing, mask)
    half = shape[1] // 2
    assert mask[:, half:].all()
    assert not (~mask & (X <= X.mean(axis=0))).any()
    # a positive affine change of a column does not change the mask
    _, mask_affine = mnar_self_masking(2.5 * X - 7, p=p, random_state=seed)
    np.testing.assert_array_equal(mask, mask_affine)


@HYPOTHESIS
@given(
    n=st.integers(1, 6),
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    data=st.data(),
    seed=seeds,
)
def test_property_square_occlusion(n, H, W, data, seed):
    size = data.draw(st.integers(1, min(H, W)))
    X = np.ones((n, H, W))
    X_missing, mask = square_occlusion(X, size, random_state=seed)
    _check_output(X, X_missing, mask)
    assert ((~mask).sum(axis=(1, 2)) == size * size).all()
    flat_missing, flat_mask = square_occlusion(
        X.reshape(n, H * W), size, image_shape=(H, W), random_state=seed
    )
    np.testing.assert_array_equal(flat_mask.reshape(n, H, W), mask)


@HYPOTHESIS
@given(
    n=st.integers(1, 8),
    T=st.integers(1, 12),
    D=st.integers(1, 3),
    data=st.data(),
    seed=seeds,
)
def test_property_sequence_steps(n, T, D, data, seed):
    low = data.draw(st.integers(0, T - 1))
    high = data.draw(st.integers(low, T - 1))
    X = np.random.RandomState(seed % 1000).normal(size=(n, T, D))
    X_missing, mask = sequence_steps(X, (low, high), random_state=seed)
    _check_output(X, X_missing, mask)
    assert mask[:, 0].all()
    counts = (~mask[:, :, 0]).sum(axis=1)
    assert ((counts >= low) & (counts <= high)).all()
    assert (mask == mask[:, :, :1]).all()


@HYPOTHESIS
@given(shape=shapes, seed=seeds, q=st.floats(0, 1), side=st.sampled_from(["upper", "lower"]))
def test_property_censoring(shape, seed, q, side):
    X = _data(shape, seed)
    X_missing, mask = censoring(X, q, side=side)
    _check_output(X, X_missing, mask)
    # the observed part of each column is on one side of the missing part
    for j in range(shape[1]):
        if mask[:, j].any() and (~mask[:, j]).any():
            if side == "upper":
                assert X[mask[:, j], j].max() < X[~mask[:, j], j].min()
            else:
                assert X[mask[:, j], j].min() > X[~mask[:, j], j].max()
