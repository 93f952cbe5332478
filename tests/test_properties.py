"""Property-based tests (hypothesis) of :mod:`skimpute.ampute` and :mod:`skimpute.metrics`.

The data are drawn by hypothesis, not by a random generator: small arrays of bounded finite
floats, with the ties, constant columns, signed zeros and extreme magnitudes a normal sample
never has. Every test runs under :data:`PROPERTY`, which derandomises hypothesis (the examples
depend only on the test) and keeps no example database, so that a CI run is deterministic.

The rate checks use 5 binomial standard errors: where the documented rate is an expectation,
the hypothesis array is tiled to a few thousand rows so that the tolerance is tight.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skimpute.ampute import (
    censoring,
    mar,
    mcar,
    mnar_logistic,
    mnar_self_masking,
    sequence_steps,
    square_occlusion,
)
from skimpute.metrics import (
    l2_missing,
    mae_missing,
    mask_accuracy,
    out_of_bounds_rate,
    path_length,
    reflection_distance,
    rmse_missing,
    sinuosity,
    step_change,
)

#: deterministic hypothesis settings: the same examples on every run, no example database
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

seeds = st.integers(0, 2**32 - 1)
rates = st.floats(0.0, 1.0)

#: finite values of any sign and magnitude up to 1e6, representable in float32 too
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)

#: values whose differences are either 0 or far from the underflow range
#: (|x| is 0 or at least 1e-3), for the exact scaling properties of the metrics
safe = st.one_of(st.just(0.0), st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3))

#: multiples of 1/8 in [-64, 64]: sums and differences of these are exact in float64
grid = st.integers(-512, 512).map(lambda v: v / 8)


@st.composite
def tables(draw, min_rows=1, min_cols=1, max_rows=60, max_cols=6):
    """Complete tables: float64, float32 or int64 arrays of bounded finite values.

    Some columns are made constant, of two values only (ties), or of two neighbouring floats
    (a tiny spread far from 0), since a generator must handle them and hypothesis rarely draws
    them by itself.
    """
    shape = draw(st.tuples(st.integers(min_rows, max_rows), st.integers(min_cols, max_cols)))
    if draw(st.integers(0, 2)) == 0:
        X = draw(hnp.arrays(np.int64, shape, elements=st.integers(-1000, 1000)))
    else:
        dtype = draw(st.sampled_from([np.float64, np.float32]))
        X = draw(hnp.arrays(dtype, shape, elements=finite))
    elements = st.integers(-1000, 1000) if X.dtype == np.int64 else finite
    for j in range(shape[1]):
        kind = draw(st.sampled_from(["any", "constant", "two values", "neighbours"]))
        # which rows get which of two values: a seeded pattern, so that both appear
        pattern = np.random.RandomState(draw(st.integers(0, 1000))).rand(shape[0]) < 0.5
        if kind == "constant":
            X[:, j] = draw(elements)
        elif kind == "two values":
            X[:, j] = np.where(pattern, draw(elements), draw(elements))
        elif kind == "neighbours" and X.dtype != np.int64:
            low = X.dtype.type(draw(elements))
            X[:, j] = np.where(pattern, low, np.nextafter(low, X.dtype.type(np.inf)))
    return X


def tile_rows(X, n_rows=3000):
    """Repeat the rows of `X` until it has at least `n_rows` rows (for the rate checks)."""
    return np.tile(X, (-(-n_rows // X.shape[0]), 1))


def binomial_tolerance(p, n):
    """5 standard errors of a proportion of `n` draws of probability `p`, plus one draw."""
    return 5 * np.sqrt(p * (1 - p) / n) + 1 / n


def check_amputed(X, X_missing, mask):
    """The contract every generator documents, checked bit for bit."""
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.dtype(np.float64)
    assert type(X_missing) is np.ndarray
    assert X_missing.shape == X.shape
    assert X_missing.dtype == dtype
    assert type(mask) is np.ndarray
    assert mask.dtype == np.bool_
    assert mask.shape == X.shape
    np.testing.assert_array_equal(np.isnan(X_missing), ~mask)
    assert X_missing[mask].tobytes() == X[mask].astype(dtype).tobytes()
    assert not np.shares_memory(X_missing, X)


def amputed(func, X, *args, **kwargs):
    """Call an ampute function, check the contract and that `X` is not modified."""
    before = X.copy()
    X_missing, mask = func(X, *args, **kwargs)
    assert X.tobytes() == before.tobytes()
    check_amputed(X, X_missing, mask)
    return X_missing, mask


def columns_of(data, n_features):
    """Draw None or a non-empty list of column indices, negative ones included."""
    index = st.integers(-n_features, n_features - 1)
    return data.draw(st.one_of(st.none(), st.lists(index, min_size=1, max_size=4)))


def chosen(columns, n_features, default):
    """The set of columns a `columns` argument selects, as a boolean vector."""
    selected = np.zeros(n_features, dtype=bool)
    selected[np.asarray(default if columns is None else columns, dtype=int)] = True
    return selected


# ---------------------------------------------------------------------------------- ampute


@PROPERTY
@given(X=tables(), rate=rates, seed=seeds)
def test_mcar_contract(X, rate, seed):
    X_missing, mask = amputed(mcar, X, rate, random_state=seed)
    # the same seed, as an int or a fresh RandomState, gives the same mask
    np.testing.assert_array_equal(mcar(X, rate, random_state=seed)[1], mask)
    np.testing.assert_array_equal(mcar(X, rate, random_state=np.random.RandomState(seed))[1], mask)
    # completely at random: the mask does not depend on the values
    np.testing.assert_array_equal(mcar(np.zeros(X.shape), rate, random_state=seed)[1], mask)
    if rate == 0.0:
        assert mask.all()
    if rate == 1.0:
        assert not mask.any()
    # DataFrame in, DataFrame out, with the same mask
    frame = pd.DataFrame(
        X, index=np.arange(X.shape[0]) * 2, columns=[f"c{j}" for j in range(X.shape[1])]
    )
    frame_missing, frame_mask = mcar(frame, rate, random_state=seed)
    assert isinstance(frame_missing, pd.DataFrame)
    assert frame_missing.index.equals(frame.index) and frame_missing.columns.equals(frame.columns)
    np.testing.assert_array_equal(frame_mask, mask)


@PROPERTY
@given(
    shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6), rate=rates, seed=seeds
)
def test_mcar_any_number_of_dimensions_and_rate(shape, rate, seed):
    _, mask = amputed(mcar, np.ones(shape), rate, random_state=seed)
    n = 4000
    _, mask = mcar(np.ones((n, 1)), rate, random_state=seed)
    assert abs((~mask).mean() - rate) <= binomial_tolerance(rate, n)


@PROPERTY
@given(X=tables(min_cols=2), rate=rates, seed=seeds, data=st.data())
def test_mar_contract_and_missing_at_random(X, rate, seed, data):
    d = X.shape[1]
    observed_columns = data.draw(
        st.one_of(st.none(), st.lists(st.integers(0, d - 1), min_size=1, max_size=d - 1))
    )
    X_missing, mask = amputed(mar, X, rate, observed_columns=observed_columns, random_state=seed)
    np.testing.assert_array_equal(
        mar(X, rate, observed_columns=observed_columns, random_state=seed)[1], mask
    )
    fully_observed = mask.all(axis=0)
    if observed_columns is None:
        assert fully_observed.sum() >= max(1, d // 2)
    else:
        assert fully_observed[observed_columns].all()
        # missing at random: the values of the masked columns do not change the mask
        other = X.copy()
        masked = np.setdiff1d(np.arange(d), observed_columns)
        other[:, masked] = np.arange(X.shape[0] * masked.size).reshape(-1, masked.size) % 7
        np.testing.assert_array_equal(
            mar(other, rate, observed_columns=observed_columns, random_state=seed)[1], mask
        )
    if rate == 0.0:
        assert mask.all()


#: a column of two neighbouring floats far from 0, with a normal column (found by hypothesis:
#: the logits were huge and the intercept cancelled them imprecisely, giving rates far off)
NEIGHBOURS = np.column_stack(
    [
        np.where(np.arange(20) % 3 == 0, 1000.0, np.nextafter(1000.0, np.inf)),
        np.random.RandomState(0).normal(size=20),
    ]
)


@PROPERTY
@given(X=tables(min_cols=2, max_rows=30), rate=st.floats(0.02, 0.98), seed=seeds)
@example(X=NEIGHBOURS, rate=0.7, seed=1)
def test_mar_expected_rate_of_each_masked_column(X, rate, seed):
    X = tile_rows(X)
    _, mask = mar(X, rate, observed_columns=[0], random_state=seed)
    missing_rate = (~mask[:, 1:]).mean(axis=0)
    assert np.all(np.abs(missing_rate - rate) <= binomial_tolerance(rate, X.shape[0]))


@PROPERTY
@given(X=tables(), p=st.sampled_from([0.0, 0.3, 0.8, 1.0]), seed=seeds, data=st.data())
def test_mnar_self_masking_rule(X, p, seed, data):
    d = X.shape[1]
    columns = columns_of(data, d)
    if columns is None and d == 1:
        with pytest.raises(ValueError, match="No column to mask"):
            mnar_self_masking(X, p=p, random_state=seed)
        return
    X_missing, mask = amputed(mnar_self_masking, X, columns=columns, p=p, random_state=seed)
    selected = chosen(columns, d, range(d // 2))
    assert mask[:, ~selected].all()
    _, mask_all = mnar_self_masking(X, columns=columns, p=1.0)
    # p = 1: a threshold rule per column; every observed value is below every missing one,
    # the column minimum and any constant column stay observed
    values = X.astype(np.float64)
    for j in np.flatnonzero(selected):
        observed, missing = values[mask_all[:, j], j], values[~mask_all[:, j], j]
        assert observed.size > 0, f"column {j} entirely masked: {values[:, j]}"
        if missing.size:
            assert observed.max() < missing.min()
        assert mask_all[np.argmin(values[:, j]), j]
        if np.all(values[:, j] == values[0, j]):
            assert mask_all[:, j].all()
    # p < 1 masks a subset of what p = 1 masks; p = 0 masks nothing; 0 and 1 ignore the seed
    assert not (~mask & mask_all).any()
    if p == 0.0:
        assert mask.all()
    if p in (0.0, 1.0):
        np.testing.assert_array_equal(
            mnar_self_masking(X, columns=columns, p=p, random_state=(seed + 1) % 2**32)[1], mask
        )


@PROPERTY
@given(
    value=finite,
    n=st.integers(1, 60),
    dtype=st.sampled_from([np.float64, np.float32]),
    p=st.sampled_from([0.5, 1.0]),
)
def test_mnar_self_masking_keeps_constant_columns(value, n, dtype, p):
    # no value is above the mean of a constant column (found by hypothesis: the rounded mean
    # of 29 copies of 289262.5 in float32 was below it, and the whole column went missing)
    X = np.column_stack([np.full(n, value), np.arange(n)]).astype(dtype)
    _, mask = amputed(mnar_self_masking, X, columns=[0], p=p, random_state=0)
    assert mask.all()


@PROPERTY
@given(X=tables(), threshold=finite)
def test_mnar_self_masking_given_threshold_and_median(X, threshold):
    d = X.shape[1]
    columns = list(range(d))
    _, mask = amputed(mnar_self_masking, X, columns=columns, threshold=threshold)
    # strictly greater than the threshold goes missing, exactly
    np.testing.assert_array_equal(mask, ~(X.astype(np.float64) > np.float64(threshold)))
    _, mask = amputed(mnar_self_masking, X, columns=columns, threshold="median")
    # at most half of each column lies strictly above its median
    assert ((~mask).sum(axis=0) <= X.shape[0] // 2).all()


@PROPERTY
@given(X=tables(max_rows=20), p=st.floats(0.05, 0.95), seed=seeds)
def test_mnar_self_masking_probability_p(X, p, seed):
    X = tile_rows(X)
    columns = list(range(X.shape[1]))
    _, mask = mnar_self_masking(X, columns=columns, p=p, random_state=seed)
    _, above = mnar_self_masking(X, columns=columns, p=1.0)
    above = ~above
    n_above = int(above.sum())
    if n_above:
        masked_rate = (~mask)[above].mean()
        assert abs(masked_rate - p) <= binomial_tolerance(p, n_above)


@PROPERTY
@given(X=tables(), rate=rates, seed=seeds, data=st.data())
def test_mnar_logistic_contract(X, rate, seed, data):
    d = X.shape[1]
    columns = columns_of(data, d)
    X_missing, mask = amputed(mnar_logistic, X, rate, columns=columns, random_state=seed)
    np.testing.assert_array_equal(
        mnar_logistic(X, rate, columns=columns, random_state=seed)[1], mask
    )
    assert mask[:, ~chosen(columns, d, range(d))].all()
    if rate == 0.0:
        assert mask.all()
    if rate == 1.0:
        assert not mask[:, chosen(columns, d, range(d))].any()


@PROPERTY
@given(X=tables(max_rows=30), rate=st.floats(0.02, 0.98), seed=seeds)
@example(X=NEIGHBOURS, rate=0.7, seed=1)
def test_mnar_logistic_expected_rate_of_each_column(X, rate, seed):
    X = tile_rows(X)
    _, mask = mnar_logistic(X, rate, random_state=seed)
    missing_rate = (~mask).mean(axis=0)
    assert np.all(np.abs(missing_rate - rate) <= binomial_tolerance(rate, X.shape[0]))


@PROPERTY
@given(X=tables(), q=rates, side=st.sampled_from(["upper", "lower"]), data=st.data())
def test_censoring_rule(X, q, side, data):
    n, d = X.shape
    columns = columns_of(data, d)
    X_missing, mask = amputed(censoring, X, q, columns=columns, side=side)
    selected = chosen(columns, d, range(d))
    assert mask[:, ~selected].all()
    # the documented rule: strictly beyond numpy's (linear) quantile of the column
    values = X.astype(np.float64)[:, selected]
    quantile = np.quantile(values, q, axis=0)
    beyond = values > quantile if side == "upper" else values < quantile
    np.testing.assert_array_equal(mask[:, selected], ~beyond)
    # about 1 - q (upper) or q (lower) of each column, fewer with ties
    expected = (1 - q) if side == "upper" else q
    assert ((~mask).sum(axis=0) <= expected * n + 1 + 1e-9).all()
    if (side == "upper" and q == 1.0) or (side == "lower" and q == 0.0):
        assert mask.all()
    # deterministic, and monotone in the quantile
    np.testing.assert_array_equal(censoring(X, q, columns=columns, side=side)[1], mask)
    q2 = data.draw(st.floats(q, 1.0) if side == "upper" else st.floats(0.0, q))
    _, mask2 = censoring(X, q2, columns=columns, side=side)
    assert not (~mask2 & mask).any()


@PROPERTY
@given(
    n=st.integers(1, 8),
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    flat=st.booleans(),
    seed=seeds,
    data=st.data(),
)
def test_square_occlusion_one_square(n, H, W, flat, seed, data):
    size = data.draw(st.integers(1, min(H, W)))
    images = data.draw(hnp.arrays(np.float64, (n, H, W), elements=finite))
    if flat:
        _, mask = amputed(
            square_occlusion, images.reshape(n, H * W), size, image_shape=(H, W), random_state=seed
        )
        mask = mask.reshape(n, H, W)
    else:
        _, mask = amputed(square_occlusion, images, size, random_state=seed)
    for i in range(n):
        rows = np.flatnonzero((~mask[i]).any(axis=1))
        cols = np.flatnonzero((~mask[i]).any(axis=0))
        # one contiguous size x size square, inside the image
        assert rows.size == size and cols.size == size
        assert rows[-1] - rows[0] == size - 1 and cols[-1] - cols[0] == size - 1
        assert not mask[i][np.ix_(rows, cols)].any()
        assert (~mask[i]).sum() == size * size
    # the positions do not depend on the pixel values; the same seed gives the same squares
    np.testing.assert_array_equal(
        square_occlusion(np.zeros((n, H, W)), size, random_state=seed)[1], mask
    )


@PROPERTY
@given(H=st.integers(2, 5), W=st.integers(2, 5), seed=seeds, data=st.data())
def test_square_occlusion_uniform_position(H, W, seed, data):
    size = data.draw(st.integers(1, min(H, W)))
    n = 3000
    _, mask = square_occlusion(np.zeros((n, H, W)), size, random_state=seed)
    missing = ~mask
    top = missing.any(axis=2).argmax(axis=1)
    left = missing.any(axis=1).argmax(axis=1)
    positions = (H - size + 1) * (W - size + 1)
    counts = np.bincount(top * (W - size + 1) + left, minlength=positions) / n
    assert counts.size == positions
    assert np.all(np.abs(counts - 1 / positions) <= binomial_tolerance(1 / positions, n))


@PROPERTY
@given(
    n=st.integers(1, 10),
    T=st.integers(1, 15),
    D=st.integers(1, 3),
    single=st.booleans(),
    seed=seeds,
    data=st.data(),
)
def test_sequence_steps_whole_steps(n, T, D, single, seed, data):
    low = data.draw(st.integers(0, T - 1))
    high = low if single else data.draw(st.integers(low, T - 1))
    X = data.draw(hnp.arrays(np.float64, (n, T, D), elements=finite))
    _, mask = amputed(sequence_steps, X, low if single else (low, high), random_state=seed)
    assert mask[:, 0].all()
    assert (mask == mask[:, :, :1]).all()  # whole steps
    counts = (~mask[:, :, 0]).sum(axis=1)
    assert ((counts >= low) & (counts <= high)).all()
    np.testing.assert_array_equal(
        sequence_steps(X, low if single else (low, high), random_state=seed)[1], mask
    )


@PROPERTY
@given(T=st.integers(2, 12), seed=seeds, data=st.data())
def test_sequence_steps_uniform_positions(T, seed, data):
    k = data.draw(st.integers(0, T - 1))
    n = 3000
    _, mask = sequence_steps(np.zeros((n, T, 1)), k, random_state=seed)
    # each of the steps 1, ..., T - 1 is missing with probability k / (T - 1)
    p = k / (T - 1)
    frequency = (~mask[:, 1:, 0]).mean(axis=0)
    assert np.all(np.abs(frequency - p) <= binomial_tolerance(p, n))


# --------------------------------------------------------------------------------- metrics


@st.composite
def imputations(draw):
    """(X_true, X_imputed, mask) of one shape, 2-d or 3-d, with at least one missing entry."""
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6))
    X_true = draw(hnp.arrays(np.float64, shape, elements=safe))
    X_imputed = draw(hnp.arrays(np.float64, shape, elements=safe))
    mask = draw(hnp.arrays(np.bool_, shape))
    mask.flat[draw(st.integers(0, mask.size - 1))] = False
    return X_true, X_imputed, mask


ERRORS = [rmse_missing, mae_missing, l2_missing]


@PROPERTY
@given(case=imputations(), data=st.data())
def test_error_metrics_properties(case, data):
    X_true, X_imputed, mask = case
    copies = [a.copy() for a in case]
    rmse, mae, l2 = (f(X_true, X_imputed, mask) for f in ERRORS)
    for a, b in zip(case, copies):
        np.testing.assert_array_equal(a, b)  # inputs not modified
    assert all(type(v) is float for v in (rmse, mae, l2))
    errors = np.abs(X_imputed - X_true)[~mask]
    assert 0.0 <= mae <= rmse * (1 + 1e-12)
    assert rmse <= errors.max() * (1 + 1e-12)
    assert rmse <= np.sqrt(errors.size) * mae * (1 + 1e-12)
    assert rmse == np.sqrt(l2)
    # a perfect imputation scores 0, whatever the observed entries hold
    for f in ERRORS:
        assert f(X_true, X_true.copy(), mask) == 0.0
    # the observed entries are ignored, in either array (NaN included)
    noise = data.draw(hnp.arrays(np.float64, mask.shape, elements=safe))
    other_imputed = np.where(mask, noise, X_imputed)
    other_true = np.where(mask, np.nan, X_true)
    assert [f(other_true, other_imputed, mask) for f in ERRORS] == [rmse, mae, l2]
    # symmetric in the two arrays
    assert [f(X_imputed, X_true, mask) for f in ERRORS] == [rmse, mae, l2]
    # a common scale factor: exact for a power of 2, up to rounding for any other
    k = data.draw(st.integers(-6, 6))
    c = data.draw(st.sampled_from([1.0, -1.0])) * 2.0**k
    assert rmse_missing(c * X_true, c * X_imputed, mask) == abs(c) * rmse
    assert mae_missing(c * X_true, c * X_imputed, mask) == abs(c) * mae
    assert l2_missing(c * X_true, c * X_imputed, mask) == c**2 * l2
    c = data.draw(st.floats(-100, 100).filter(lambda v: abs(v) > 1e-2))
    assert rmse_missing(c * X_true, c * X_imputed, mask) == pytest.approx(abs(c) * rmse, rel=1e-12)
    # a permutation of the rows (sequences) changes nothing but the rounding
    order = data.draw(st.permutations(range(mask.shape[0])))
    permuted = [f(X_true[order], X_imputed[order], mask[order]) for f in ERRORS]
    assert permuted == pytest.approx([rmse, mae, l2], rel=1e-12, abs=0.0)
    # DataFrames give the same values as arrays (2-d only)
    if mask.ndim == 2:
        frames = [pd.DataFrame(a) for a in case]
        assert [f(*frames) for f in ERRORS] == [rmse, mae, l2]


@PROPERTY
@given(mask=hnp.arrays(np.bool_, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6)))
def test_error_metrics_need_a_missing_entry(mask):
    X = np.zeros(mask.shape)
    for f in ERRORS:
        if mask.all():
            with pytest.raises(ValueError, match="no missing entry"):
                f(X, X, mask)
        else:
            assert f(X, X + 1.0, mask) == 1.0


@PROPERTY
@given(
    shape=hnp.array_shapes(min_dims=2, max_dims=3, max_side=8),
    threshold=st.floats(0.0, 1.0, exclude_max=True),
    data=st.data(),
)
def test_mask_accuracy_properties(shape, threshold, data):
    true = data.draw(hnp.arrays(np.bool_, shape))
    pred = data.draw(hnp.arrays(np.bool_, shape))
    acc = mask_accuracy(true, pred)
    assert type(acc) is float
    assert 0.0 <= acc <= 1.0
    assert acc == np.mean(true == pred)
    assert acc == mask_accuracy(pred, true)  # symmetric
    assert acc + mask_accuracy(true, ~pred) == pytest.approx(1.0, abs=1e-12)
    assert mask_accuracy(true, true) == 1.0 and mask_accuracy(true, ~true) == 0.0
    # probabilities on the right side of the threshold are a perfect prediction
    above = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(threshold, 1.0)))
    below = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, threshold)))
    above = np.where(above > threshold, above, 1.0)
    proba = np.where(true, above, below)
    assert mask_accuracy(true, proba, threshold=threshold) == 1.0
    noisy = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    assert mask_accuracy(true, noisy, threshold=threshold) == mask_accuracy(true, noisy > threshold)
    # a permutation of the rows does not change it
    order = data.draw(st.permutations(range(shape[0])))
    assert mask_accuracy(true[order], pred[order]) == acc
    # columns="missing": the accuracy over the columns (last axis) that have a missing entry
    has_missing = (~true).reshape(-1, shape[-1]).any(axis=0)
    if has_missing.any():
        expected = np.mean((true == pred)[..., has_missing])
        assert mask_accuracy(true, pred, columns="missing") == expected
    else:
        with pytest.raises(ValueError, match="no missing entry"):
            mask_accuracy(true, pred, columns="missing")


# ------------------------------------------------------------------------ trajectory metrics


def trajectories(min_T=1, max_n=6, max_T=25, max_D=4):
    """(n, T, D) arrays of values on a 1/8 grid, so that translations are exact."""
    shape = st.tuples(st.integers(1, max_n), st.integers(min_T, max_T), st.integers(1, max_D))
    return hnp.arrays(np.float64, shape, elements=grid)


TRAJECTORY_METRICS = [path_length, step_change, sinuosity, reflection_distance, out_of_bounds_rate]


def _apply(metric, X, **kwargs):
    before = X.copy()
    value = metric(X, **kwargs)
    np.testing.assert_array_equal(X, before)
    assert type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (len(X),)
    return value


@PROPERTY
@given(X=trajectories(min_T=3), shift=st.integers(-64, 64), data=st.data())
def test_trajectory_metrics_per_sequence_and_translation(X, shift, data):
    order = data.draw(st.permutations(range(len(X))))
    for metric in TRAJECTORY_METRICS:
        value = _apply(metric, X)
        # one value per sequence, computed from that sequence alone
        np.testing.assert_array_equal(metric(X[order]), value[order])
        np.testing.assert_array_equal(metric(X[-1:]), value[-1:])
    # translation invariance (exact on the grid); the walls move with the trajectories
    moved = X + shift
    for metric in (path_length, step_change, sinuosity):
        np.testing.assert_array_equal(metric(moved), metric(X))
    bounds = (-1.0 + shift, 1.0 + shift)
    np.testing.assert_array_equal(reflection_distance(moved, bounds=bounds), reflection_distance(X))
    np.testing.assert_array_equal(out_of_bounds_rate(moved, bounds=bounds), out_of_bounds_rate(X))


@PROPERTY
@given(X=trajectories(), k=st.integers(-3, 3))
def test_path_length_and_sinuosity(X, k):
    length = _apply(path_length, X)
    displacement = np.linalg.norm(X[:, -1] - X[:, 0], axis=-1)
    assert np.all(length >= displacement * (1 - 1e-12))
    # reversing time changes the order of the sum only; a scale 2^k scales it exactly
    np.testing.assert_allclose(path_length(X[:, ::-1]), length, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(path_length(2.0**k * X), 2.0**k * length)
    ratio = _apply(sinuosity, X)
    assert np.all(ratio >= 1 - 1e-12)
    np.testing.assert_array_equal(ratio[length == 0], 1.0)  # a trajectory that does not move
    np.testing.assert_array_equal(sinuosity(2.0**k * X), ratio)
    np.testing.assert_allclose(sinuosity(X[:, ::-1]), ratio, rtol=1e-12)


@PROPERTY
@given(
    start=hnp.arrays(
        np.float64, st.tuples(st.integers(1, 5), st.just(1), st.integers(1, 3)), elements=grid
    ),
    velocity=st.integers(-8, 8).map(lambda v: v / 8),
    T=st.integers(3, 20),
    X=trajectories(min_T=3),
)
def test_step_change(start, velocity, T, X):
    # a constant velocity: every step has the same length
    line = start + velocity * np.arange(T)[None, :, None]
    np.testing.assert_array_equal(_apply(step_change, line), 0.0)
    change = _apply(step_change, X)
    assert np.all(change >= 0)
    np.testing.assert_allclose(step_change(X[:, ::-1]), change, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="at least 3 steps"):
        step_change(X[:, :2])


@PROPERTY
@given(X=trajectories(min_T=2))
def test_reflection_distance(X):
    distance = _apply(reflection_distance, X)
    delta = np.diff(X, axis=1)
    turns = ((delta[:, :-1] * delta[:, 1:]) < 0).any(axis=(1, 2))
    # NaN exactly for the trajectories without a reflection point
    np.testing.assert_array_equal(np.isnan(distance), ~turns)
    # inside the walls, the distance to them is non-negative and at most their separation
    lo, hi = X.min() - 1.0, X.max() + 1.0
    inside = reflection_distance(X, bounds=(lo, hi))
    assert np.all(inside[turns] >= 1.0) and np.all(inside[turns] <= hi - lo)
    # the coordinates of one agent or of several give the same pooled points
    D = X.shape[2]
    for n_agents in (a for a in range(1, D + 1) if D % a == 0):
        np.testing.assert_allclose(
            reflection_distance(X, n_agents=n_agents), distance, rtol=1e-12, equal_nan=True
        )
    # monotone trajectories never turn
    assert np.isnan(reflection_distance(np.sort(X, axis=1))).all()


@PROPERTY
@given(X=trajectories(), low=grid, width=st.integers(1, 64).map(lambda v: v / 8))
def test_out_of_bounds_rate(X, low, width):
    bounds = (low, low + width)
    rate = _apply(out_of_bounds_rate, X, bounds=bounds)
    outside = (X < bounds[0]) | (X > bounds[1])
    np.testing.assert_array_equal(rate, outside.mean(axis=(1, 2)))
    assert np.all((rate >= 0) & (rate <= 1))
    # the order of the steps does not matter
    np.testing.assert_array_equal(out_of_bounds_rate(X[:, ::-1], bounds=bounds), rate)
    np.testing.assert_array_equal(out_of_bounds_rate(X, bounds=(X.min(), X.max() + 1)), 0.0)
    np.testing.assert_array_equal(out_of_bounds_rate(X, bounds=(X.max() + 1, X.max() + 2)), 1.0)


@PROPERTY
@given(X=trajectories(min_T=3, max_D=6), data=st.data())
def test_trajectory_metrics_average_over_agents(X, data):
    D = X.shape[2]
    n_agents = data.draw(st.sampled_from([a for a in range(1, D + 1) if D % a == 0]))
    d = D // n_agents
    agents = [X[:, :, a * d : (a + 1) * d] for a in range(n_agents)]
    for metric in (path_length, step_change, sinuosity):
        expected = np.mean([metric(agent) for agent in agents], axis=0)
        np.testing.assert_allclose(metric(X, n_agents=n_agents), expected, rtol=1e-12)
