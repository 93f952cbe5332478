"""Seeded mask generators ("amputation") for benchmarking imputers.

Every function takes a complete array (no missing value) and returns a pair
``(X_missing, mask)``:

- ``X_missing`` is a floating-point copy of the input with ``NaN`` at the missing entries
  (a :class:`pandas.DataFrame` with the same index and columns when a DataFrame was given to
  one of the tabular generators);
- ``mask`` is an ndarray of bool with the shape of ``X_missing``, ``True`` where the entry is
  observed. This is the papers' convention (``m = 1`` in GNR, ``s = 1`` in not-MIWAE, the
  "known" pixels of GPSI, the "has value" flag of NAOMI).

The input is never modified. The random generators take a keyword-only ``random_state``
(None, an int or a :class:`numpy.random.RandomState`), so that a fixed seed gives the same mask.

The mechanisms are those of the papers the imputers of skimpute come from:

- :func:`mcar`: missing completely at random (GNR, GPSI's "MCAR-d");
- :func:`mar`: missing at random through a logistic model of fully observed columns
  (Muzellec et al., 2020);
- :func:`mnar_self_masking`: values above the column mean go missing (not-MIWAE; GNR with a
  probability p);
- :func:`mnar_logistic`: logistic self-masking (Muzellec et al., 2020);
- :func:`censoring`: deterministic quantile censoring;
- :func:`square_occlusion`: one missing square per image (GPSI's "MAR-d");
- :func:`sequence_steps`: whole missing time steps, the first one kept (NAOMI).
"""

import numbers

import numpy as np
from scipy.special import expit, logit
from sklearn.utils import check_random_state

__all__ = [
    "censoring",
    "mar",
    "mcar",
    "mnar_logistic",
    "mnar_self_masking",
    "sequence_steps",
    "square_occlusion",
]


# ---------------------------------------------------------------------------------------------
# validation helpers


def _is_dataframe(X):
    return hasattr(X, "iloc") and hasattr(X, "columns") and hasattr(X, "index")


def _check_complete(X, *, ndim=None, min_ndim=None, name="X"):
    """Return a floating-point copy of the complete array ``X``, or raise a ValueError."""
    if hasattr(X, "to_numpy"):
        try:
            values = X.to_numpy(dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must contain numeric values only: {exc}") from exc
    else:
        try:
            values = np.asarray(X)
        except (TypeError, ValueError) as exc:  # ragged nested sequences
            raise ValueError(f"{name} must be a rectangular numeric array: {exc}") from exc
        if values.dtype == object or not (
            np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_
        ):
            try:
                values = values.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} must contain numeric values only: {exc}") from exc
        if np.issubdtype(values.dtype, np.complexfloating):
            raise ValueError(f"{name} must be real; got complex dtype {values.dtype}.")
        if np.issubdtype(values.dtype, np.floating):
            values = values.copy()
        else:
            values = values.astype(np.float64)
    if ndim is not None and values.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array; got an array of shape {values.shape}.")
    if min_ndim is not None and values.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions; got shape {values.shape}."
        )
    if values.size == 0:
        raise ValueError(f"{name} is empty (shape {values.shape}).")
    if np.isnan(values).any():
        raise ValueError(
            f"{name} already contains NaN; the ampute functions need complete data "
            "(remove or impute the missing entries first)."
        )
    if np.isinf(values).any():
        raise ValueError(f"{name} contains infinity.")
    return values


def _check_probability(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise ValueError(f"{name} must be a real number in [0, 1]; got {value!r}.")
    return float(value)


def _check_columns(columns, n_features, *, default, name="columns"):
    """Return sorted unique non-negative column indices (an int ndarray)."""
    if columns is None:
        columns = default
    if isinstance(columns, (numbers.Integral, np.integer)) and not isinstance(columns, bool):
        columns = [columns]
    cols = np.asarray(list(columns) if not isinstance(columns, np.ndarray) else columns)
    if cols.dtype == np.bool_:
        if cols.shape != (n_features,):
            raise ValueError(
                f"A boolean {name} must have one entry per feature ({n_features}); "
                f"got shape {cols.shape}."
            )
        cols = np.flatnonzero(cols)
    if cols.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of column indices; got {columns!r}.")
    if cols.size and not np.issubdtype(cols.dtype, np.integer):
        raise ValueError(f"{name} must contain integer column indices; got {columns!r}.")
    cols = cols.astype(np.intp)
    bad = (cols < -n_features) | (cols >= n_features)
    if bad.any():
        raise ValueError(
            f"{name} has indices out of range for {n_features} features: {cols[bad].tolist()}."
        )
    cols = np.unique(np.where(cols < 0, cols + n_features, cols))
    if cols.size == 0:
        raise ValueError(
            f"No column to mask: {name} is empty (with n_features={n_features}, the default "
            "may select none; pass the columns explicitly)."
        )
    return cols


def _finish(X, values, mask):
    """Put NaN where mask is False and wrap like the input (DataFrame in, DataFrame out)."""
    values[~mask] = np.nan
    if _is_dataframe(X):
        values = X.__class__(values, index=X.index, columns=X.columns)
    return values, mask


def _solve_intercepts(logits, rate, *, n_iter=100):
    """Intercepts b (one per column) with mean_i sigmoid(logits[i, j] + b_j) == rate.

    Vectorised bisection; ``rate`` must be strictly between 0 and 1. The bracket follows from
    sigmoid(min + b) <= mean <= sigmoid(max + b).
    """
    target = logit(rate)
    lo = target - logits.max(axis=0)
    hi = target - logits.min(axis=0)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        too_high = expit(logits + mid).mean(axis=0) > rate
        hi = np.where(too_high, mid, hi)
        lo = np.where(too_high, lo, mid)
    return 0.5 * (lo + hi)


def _logistic_missing(logits, rate, rng):
    """Boolean "missing" matrix with P(missing) = sigmoid(logits + b), b solved for ``rate``."""
    u = rng.uniform(size=logits.shape)
    if rate == 0.0:
        return np.zeros(logits.shape, dtype=bool)
    if rate == 1.0:
        return np.ones(logits.shape, dtype=bool)
    intercepts = _solve_intercepts(logits, rate)
    return u < expit(logits + intercepts)


# ---------------------------------------------------------------------------------------------
# tabular mechanisms


def mcar(X, rate, *, random_state=None):
    """Remove entries completely at random (MCAR).

    Each entry goes missing independently with probability ``rate``, whatever its value. This
    is the MCAR setting of the GNR paper (Chen et al., 2023, "random masking in all of the
    features") and GPSI's "MCAR-d" for images (Bachman & Precup, 2015: each pixel dropped with
    probability d).

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Complete data (no NaN): a table ``(n_samples, n_features)``, images
        ``(n_samples, H, W)``, sequences ``(n_samples, T, D)``... A DataFrame gives a DataFrame.
    rate : float
        Probability that an entry is missing, in [0, 1].
    random_state : int, RandomState instance or None, default=None
        Seed of the draws; an int gives the same mask on every call.

    Returns
    -------
    X_missing : ndarray of the input's shape, floating dtype
        A copy of ``X`` with ``NaN`` at the missing entries.
    mask : ndarray of bool of the input's shape
        ``True`` where the entry is observed (the papers' ``m = 1``).

    See Also
    --------
    mar : Missingness driven by fully observed columns.
    mnar_self_masking : Missingness driven by the value itself.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.ampute import mcar
    >>> X = np.arange(12.0).reshape(4, 3)
    >>> X_missing, mask = mcar(X, 0.5, random_state=0)
    >>> mask
    array([[ True,  True,  True],
           [ True, False,  True],
           [False,  True,  True],
           [False,  True,  True]])
    >>> bool(np.array_equal(np.isnan(X_missing), ~mask))
    True
    """
    values = _check_complete(X, min_ndim=2)
    rate = _check_probability(rate, "rate")
    rng = check_random_state(random_state)
    mask = rng.uniform(size=values.shape) >= rate
    return _finish(X, values, mask)


def mar(X, rate, *, observed_columns=None, random_state=None):
    """Remove entries at random (MAR) through a logistic model of fully observed columns.

    The standard "MAR logistic" protocol (Muzellec, Josse, Boyer & Cuturi, 2020, "Missing data
    imputation using optimal transport"): the ``observed_columns`` stay fully observed; every
    other column j goes missing in row i with probability

    .. math:: P(m_{ij} = 0 \\mid x_i) = \\sigma(x_{i,\\mathrm{obs}}^\\top w_j + b_j),

    where :math:`w_j` has standard normal entries rescaled so that
    :math:`x_{\\mathrm{obs}}^\\top w_j` has unit standard deviation over the rows, and the
    intercept :math:`b_j` is solved by bisection so that the expected missing rate of column j
    (the mean of the probabilities over the rows of ``X``) equals ``rate``. Missingness then
    depends only on observed values: missing at random.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Complete data (no NaN), at least two features. A DataFrame gives a DataFrame.
    rate : float
        Expected fraction of missing entries in the masked columns, in [0, 1]. The fraction over
        all of ``X`` is ``rate * n_masked / n_features``.
    observed_columns : sequence of int, default=None
        Columns that stay fully observed and drive the missingness. None draws a random half
        (``max(1, n_features // 2)`` columns). At least one column must remain to be masked.
    random_state : int, RandomState instance or None, default=None
        Seed of the observed columns, the weights and the Bernoulli draws.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features), floating dtype
        A copy of ``X`` with ``NaN`` at the missing entries.
    mask : ndarray of bool of shape (n_samples, n_features)
        ``True`` where the entry is observed.

    See Also
    --------
    mcar : Missingness independent of the data.
    mnar_logistic : Logistic missingness driven by the value itself.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.ampute import mar
    >>> X = np.random.RandomState(0).normal(size=(1000, 4))
    >>> X_missing, mask = mar(X, 0.3, observed_columns=[0, 1], random_state=0)
    >>> bool(mask[:, :2].all())
    True
    >>> round(float((~mask[:, 2:]).mean()), 1)
    0.3
    """
    values = _check_complete(X, ndim=2)
    rate = _check_probability(rate, "rate")
    rng = check_random_state(random_state)
    n_samples, n_features = values.shape
    if n_features < 2:
        raise ValueError(
            "mar needs at least two features: fully observed ones and ones to mask; "
            f"got n_features={n_features}."
        )
    if observed_columns is None:
        n_obs = max(1, n_features // 2)
        obs = np.sort(rng.choice(n_features, size=n_obs, replace=False))
    else:
        obs = _check_columns(observed_columns, n_features, default=None, name="observed_columns")
    na = np.setdiff1d(np.arange(n_features), obs)
    if na.size == 0:
        raise ValueError(
            "observed_columns covers every column; at least one column must remain to be masked."
        )
    coeffs = rng.standard_normal(size=(obs.size, na.size))
    # centred first (the intercept absorbs the shift): columns far from 0 with a tiny spread
    # would otherwise give huge logits that the intercept cancels imprecisely
    driving = values[:, obs]
    logits = (driving - driving.mean(axis=0)) @ coeffs
    std = logits.std(axis=0)
    logits = logits / np.where(std > 0, std, 1.0)
    mask = np.ones(values.shape, dtype=bool)
    mask[:, na] = ~_logistic_missing(logits, rate, rng)
    return _finish(X, values, mask)


def mnar_self_masking(X, *, columns=None, p=1.0, threshold="mean", random_state=None):
    """Remove values above their column mean: MNAR self-masking.

    In each chosen column j, an entry :math:`x_{ij}` strictly greater than the column's
    threshold (by default the mean of the complete column) goes missing with probability ``p``;
    the other columns stay fully observed. With ``p = 1`` this is the protocol of the not-MIWAE
    paper (Ipsen, Mattei & Frellsen, 2021, section 4.2: "self-masking in half of the features:
    when the feature value is higher than the feature mean it is set to missing"); the GNR
    paper (Chen et al., 2023) uses ``p`` in {0.2, 0.8, 1.0} (its "20%, 80%, 100%" columns),
    giving about ``p / 4`` missing entries overall. The missing process depends on the missing
    value itself, :math:`p(s_{ij} = 0 \\mid x_{ij}) = p \\, 1[x_{ij} > \\mu_j]`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Complete data (no NaN). A DataFrame gives a DataFrame.
    columns : sequence of int, default=None
        The self-masked columns. None means the first half, ``range(n_features // 2)``, as in
        the not-MIWAE and GNR papers.
    p : float, default=1.0
        Probability that an entry above the threshold goes missing, in [0, 1].
    threshold : {"mean", "median"}, float or array-like of shape (n_columns,), default="mean"
        Threshold above which entries may go missing: the mean or median of each complete
        column, one value for every chosen column, or one value per chosen column.
    random_state : int, RandomState instance or None, default=None
        Seed of the Bernoulli draws; unused when ``p`` is 0 or 1 (the mask is deterministic).

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features), floating dtype
        A copy of ``X`` with ``NaN`` at the missing entries.
    mask : ndarray of bool of shape (n_samples, n_features)
        ``True`` where the entry is observed (not-MIWAE's ``s = 1``, GNR's ``m = 1``).

    See Also
    --------
    mnar_logistic : Smooth (logistic) self-masking with a target rate.
    censoring : Deterministic removal above or below a quantile.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.ampute import mnar_self_masking
    >>> X = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 30.0], [5.0, 40.0]])
    >>> X_missing, mask = mnar_self_masking(X)  # the first column; its mean is 3
    >>> X_missing
    array([[ 1., 10.],
           [ 2., 20.],
           [nan, 30.],
           [nan, 40.]])
    >>> mask[:, 0]
    array([ True,  True, False, False])
    """
    values = _check_complete(X, ndim=2)
    p = _check_probability(p, "p")
    rng = check_random_state(random_state)
    n_samples, n_features = values.shape
    cols = _check_columns(columns, n_features, default=range(n_features // 2))
    sub = values[:, cols]
    if isinstance(threshold, str):
        if threshold == "mean":
            # accumulated in float64 and clipped to the column's range: a rounded mean can
            # fall below the minimum (a constant column would then lose every value)
            thr = np.clip(sub.mean(axis=0, dtype=np.float64), sub.min(axis=0), sub.max(axis=0))
        elif threshold == "median":
            thr = np.median(sub, axis=0)
        else:
            raise ValueError(
                f'threshold must be "mean", "median", a number or an array; got {threshold!r}.'
            )
    else:
        try:
            thr = np.asarray(threshold, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f'threshold must be "mean", "median", a number or an array; got {threshold!r}.'
            ) from exc
        if thr.ndim > 1 or (thr.ndim == 1 and thr.shape[0] != cols.size):
            raise ValueError(
                f"threshold must be a number or have one value per chosen column ({cols.size}); "
                f"got shape {thr.shape}."
            )
        if np.isnan(thr).any():
            raise ValueError("threshold contains NaN.")
    above = sub > thr
    if p < 1.0:
        above &= rng.uniform(size=sub.shape) < p
    mask = np.ones(values.shape, dtype=bool)
    mask[:, cols] = ~above
    return _finish(X, values, mask)


def mnar_logistic(X, rate, *, columns=None, random_state=None):
    """Remove entries by logistic self-masking (MNAR).

    The "MNAR self-masked logistic" protocol (Muzellec et al., 2020): in each chosen column j,
    entry :math:`x_{ij}` goes missing with probability

    .. math:: P(m_{ij} = 0 \\mid x_{ij}) = \\sigma(w_j x_{ij} + b_j),

    with a random positive weight :math:`w_j = |g_j| / \\mathrm{sd}_j`, :math:`g_j \\sim
    N(0, 1)` (so that large values are more likely to be missing, the direction not-MIWAE's
    "self-masking known" model assumes), and the intercept :math:`b_j` solved by bisection so
    that the expected missing rate of column j (the mean of the probabilities over the rows)
    equals ``rate``. A smooth version of :func:`mnar_self_masking`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Complete data (no NaN). A DataFrame gives a DataFrame.
    rate : float
        Expected fraction of missing entries in each chosen column, in [0, 1].
    columns : sequence of int, default=None
        The self-masked columns. None means every column, as in Muzellec et al.
    random_state : int, RandomState instance or None, default=None
        Seed of the weights and the Bernoulli draws.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features), floating dtype
        A copy of ``X`` with ``NaN`` at the missing entries.
    mask : ndarray of bool of shape (n_samples, n_features)
        ``True`` where the entry is observed.

    See Also
    --------
    mnar_self_masking : Hard threshold at the column mean.
    mar : Logistic missingness driven by other, fully observed columns.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.ampute import mnar_logistic
    >>> X = np.random.RandomState(0).normal(size=(2000, 3))
    >>> X_missing, mask = mnar_logistic(X, 0.4, random_state=0)
    >>> (~mask).mean(axis=0).round(1)
    array([0.4, 0.4, 0.4])
    >>> bool(X[~mask].mean() > X[mask].mean())  # high values go missing more often
    True
    """
    values = _check_complete(X, ndim=2)
    rate = _check_probability(rate, "rate")
    rng = check_random_state(random_state)
    n_samples, n_features = values.shape
    cols = _check_columns(columns, n_features, default=range(n_features))
    sub = values[:, cols]
    std = sub.std(axis=0)
    weights = np.abs(rng.standard_normal(size=cols.size)) / np.where(std > 0, std, 1.0)
    mask = np.ones(values.shape, dtype=bool)
    # centred, as in mar: the intercept absorbs the shift, and the logits stay well scaled
    mask[:, cols] = ~_logistic_missing((sub - sub.mean(axis=0)) * weights, rate, rng)
    return _finish(X, values, mask)


def censoring(X, quantile, *, columns=None, side="upper"):
    """Remove the entries beyond a quantile of their column: deterministic censoring (MNAR).

    In each chosen column, the entries strictly above the column's ``quantile`` quantile
    (``side="upper"``, a sensor that saturates, a survey's top-coding) or strictly below it
    (``side="lower"``, a detection limit) are missing. The quantile is that of the complete
    column (:func:`numpy.quantile`, linear interpolation). About ``1 - quantile`` (upper) or
    ``quantile`` (lower) of each chosen column goes missing, fewer with ties. No randomness.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Complete data (no NaN). A DataFrame gives a DataFrame.
    quantile : float
        The censoring quantile, in [0, 1].
    columns : sequence of int, default=None
        The censored columns. None means every column.
    side : {"upper", "lower"}, default="upper"
        Whether the values above (upper) or below (lower) the quantile are missing.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features), floating dtype
        A copy of ``X`` with ``NaN`` at the missing entries.
    mask : ndarray of bool of shape (n_samples, n_features)
        ``True`` where the entry is observed.

    See Also
    --------
    mnar_self_masking : Removal above the column mean, optionally with a probability.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.ampute import censoring
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> X_missing, mask = censoring(X, 0.6, columns=[1])
    >>> X_missing
    array([[ 0.,  1.],
           [ 2.,  3.],
           [ 4.,  5.],
           [ 6., nan],
           [ 8., nan]])
    """
    values = _check_complete(X, ndim=2)
    quantile = _check_probability(quantile, "quantile")
    if side not in ("upper", "lower"):
        raise ValueError(f'side must be "upper" or "lower"; got {side!r}.')
    n_features = values.shape[1]
    cols = _check_columns(columns, n_features, default=range(n_features))
    sub = values[:, cols]
    q = np.quantile(sub, quantile, axis=0)
    beyond = sub > q if side == "upper" else sub < q
    mask = np.ones(values.shape, dtype=bool)
    mask[:, cols] = ~beyond
    return _finish(X, values, mask)


# ---------------------------------------------------------------------------------------------
# images and sequences


def square_occlusion(X, size, *, image_shape=None, random_state=None):
    """Remove one square of pixels per image: GPSI's "MAR-d" occlusion.

    Each image loses one ``size x size`` square "located uniformly at random within the
    borders of the source image" (Bachman & Precup, 2015, section 4, where MAR-d is the
    occlusion of a d x d square: MNIST uses d = 14 or 16, TFD and SVHN d = 15). The top-left
    corner is drawn uniformly from the positions where the whole square fits in the image,
    independently for each image. (The authors' code additionally keeps the square one pixel off
    the image border; this function does not.)

    Parameters
    ----------
    X : array-like of shape (n_samples, H, W) or (n_samples, H * W)
        Complete images (no NaN), or flattened images with ``image_shape``.
    size : int
        Side of the square, in pixels: ``1 <= size <= min(H, W)``.
    image_shape : tuple of (int, int), default=None
        ``(H, W)`` of flattened images. None with 2-d input means square images
        (``H = W = sqrt(n_features)``, which must be an integer). With 3-d input it is
        optional and, if given, must equal ``X.shape[1:]``.
    random_state : int, RandomState instance or None, default=None
        Seed of the square positions.

    Returns
    -------
    X_missing : ndarray of the input's shape, floating dtype
        A copy of ``X`` with ``NaN`` in the square of each image.
    mask : ndarray of bool of the input's shape
        ``True`` where the pixel is observed (GPSI's known pixels).

    See Also
    --------
    mcar : Pixels dropped independently (GPSI's "MCAR-d").

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.ampute import square_occlusion
    >>> images = np.zeros((2, 5, 5))
    >>> X_missing, mask = square_occlusion(images, 2, random_state=0)
    >>> (~mask).sum(axis=(1, 2))
    array([4, 4])
    >>> mask[0].astype(int)
    array([[1, 0, 0, 1, 1],
           [1, 0, 0, 1, 1],
           [1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1]])
    """
    values = _check_complete(X)
    if values.ndim == 3:
        n_samples, H, W = values.shape
        if image_shape is not None and tuple(image_shape) != (H, W):
            raise ValueError(
                f"image_shape={tuple(image_shape)} does not match the images' shape {(H, W)}."
            )
    elif values.ndim == 2:
        n_samples, n_features = values.shape
        if image_shape is None:
            side = int(round(np.sqrt(n_features)))
            if side * side != n_features:
                raise ValueError(
                    f"Cannot infer the image shape of {n_features} pixels (not a perfect "
                    "square); pass image_shape=(H, W)."
                )
            H = W = side
        else:
            try:
                H, W = (int(v) for v in image_shape)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"image_shape must be a pair of ints (H, W); got {image_shape!r}."
                ) from exc
            if H < 1 or W < 1 or H * W != n_features:
                raise ValueError(
                    f"image_shape={tuple(image_shape)} does not match {n_features} pixels per row."
                )
    else:
        raise ValueError(
            "X must be images of shape (n_samples, H, W) or flattened images of shape "
            f"(n_samples, H * W); got shape {values.shape}."
        )
    if (
        isinstance(size, bool)
        or not isinstance(size, (numbers.Integral, np.integer))
        or not 1 <= size <= min(H, W)
    ):
        raise ValueError(f"size must be an int in [1, min(H, W)] = [1, {min(H, W)}]; got {size!r}.")
    rng = check_random_state(random_state)
    top = rng.randint(0, H - size + 1, size=n_samples)
    left = rng.randint(0, W - size + 1, size=n_samples)
    rows = np.arange(H)
    cols = np.arange(W)
    in_rows = (rows >= top[:, None]) & (rows < top[:, None] + size)  # (n, H)
    in_cols = (cols >= left[:, None]) & (cols < left[:, None] + size)  # (n, W)
    mask = ~(in_rows[:, :, None] & in_cols[:, None, :])
    mask = mask.reshape(values.shape)
    values[~mask] = np.nan
    return values, mask


def sequence_steps(X, n_missing, *, random_state=None):
    """Remove whole time steps of sequences, always keeping the first (NAOMI's protocol).

    For each sequence, a number ``k`` of time steps is drawn (uniformly from the integers in
    ``[low, high]`` when ``n_missing`` is a pair) and ``k`` distinct steps among ``1, ..., T - 1``
    are chosen uniformly at random; all ``D`` values of those steps are missing. Step 0 is always
    observed and the last step may be missing, as in NAOMI (Liu et al., 2019), where the number
    of missing steps is drawn from ``[floor(0.8 T), T - 1]`` (basketball, T = 50: 40 to 49
    missing; billiards, T = 200: 160 to 199). Unlike NAOMI's code, which shares one mask across a
    minibatch, each sequence gets its own.

    Parameters
    ----------
    X : array-like of shape (n_samples, T, D)
        Complete sequences (no NaN).
    n_missing : int or tuple of (int, int)
        Number of missing steps per sequence, or a ``(low, high)`` range (both included) to draw
        it from per sequence; ``0 <= low <= high <= T - 1``.
    random_state : int, RandomState instance or None, default=None
        Seed of the numbers and positions of the missing steps.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, T, D), floating dtype
        A copy of ``X`` with ``NaN`` at the missing steps.
    mask : ndarray of bool of shape (n_samples, T, D)
        ``True`` where the value is observed (NAOMI's "has value" flag, repeated over ``D``).

    See Also
    --------
    mcar : Entries (not whole steps) missing independently.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.ampute import sequence_steps
    >>> X = np.zeros((3, 10, 2))
    >>> X_missing, mask = sequence_steps(X, (6, 8), random_state=0)
    >>> mask.shape
    (3, 10, 2)
    >>> bool(mask[:, 0].all())
    True
    >>> (~mask[:, :, 0]).sum(axis=1)
    array([6, 7, 6])
    """
    values = _check_complete(X, ndim=3)
    n_samples, T, _ = values.shape
    if isinstance(n_missing, (numbers.Integral, np.integer)) and not isinstance(n_missing, bool):
        low = high = int(n_missing)
    else:
        try:
            low, high = n_missing
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"n_missing must be an int or a (low, high) pair of ints; got {n_missing!r}."
            ) from exc
        if not all(
            isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)
            for v in (low, high)
        ):
            raise ValueError(
                f"n_missing must be an int or a (low, high) pair of ints; got {n_missing!r}."
            )
        low, high = int(low), int(high)
    if not 0 <= low <= high <= T - 1:
        raise ValueError(
            f"n_missing must satisfy 0 <= low <= high <= T - 1 = {T - 1} (the first step is "
            f"always kept); got {n_missing!r}."
        )
    rng = check_random_state(random_state)
    k = rng.randint(low, high + 1, size=n_samples)
    keys = rng.uniform(size=(n_samples, T - 1))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    step_observed = np.ones((n_samples, T), dtype=bool)
    step_observed[:, 1:] = ranks >= k[:, None]
    mask = np.broadcast_to(step_observed[:, :, None], values.shape).copy()
    values[~mask] = np.nan
    return values, mask
