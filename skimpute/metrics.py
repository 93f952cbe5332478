"""Imputation metrics and scorers for :class:`~sklearn.model_selection.GridSearchCV`.

The masks follow :mod:`skimpute.ampute` and the papers: ``True`` (``m = 1``) means observed,
``False`` means missing. Imputation errors are computed on the missing entries only, as in
the not-MIWAE, GNR and MIWAE evaluations.

- :func:`rmse_missing`, :func:`mae_missing`, :func:`l2_missing`: errors of an imputation on the
  missing entries;
- :func:`sinuosity`, :func:`step_change`, :func:`reflection_distance`, :func:`path_length`,
  :func:`out_of_bounds_rate`: statistics of trajectories (the NAOMI paper's), one value per
  sequence;
- :func:`mask_accuracy`: accuracy of a reconstructed mask (GNR's Table 3, not-MIWAE's
  Table A1);
- :class:`CompleteDataScorer`, :class:`HiddenEntriesScorer`: ``scoring=`` callables for
  :class:`~sklearn.model_selection.GridSearchCV`, greater is better (they return minus the
  error).
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state

from skimpute._trajectory import (
    out_of_bounds_rate,
    path_length,
    reflection_distance,
    sinuosity,
    step_change,
)

__all__ = [
    "CompleteDataScorer",
    "HiddenEntriesScorer",
    "l2_missing",
    "mae_missing",
    "mask_accuracy",
    "out_of_bounds_rate",
    "path_length",
    "reflection_distance",
    "rmse_missing",
    "sinuosity",
    "step_change",
]

_METRICS = ("rmse", "mae")


def _as_float_array(X, name):
    if hasattr(X, "to_numpy"):
        try:
            return X.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must contain numeric values only: {exc}") from exc
    try:
        return np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from exc


def _as_bool_mask(mask, name):
    values = mask.to_numpy() if hasattr(mask, "to_numpy") else np.asarray(mask)
    if values.dtype == np.bool_:
        return values
    if not np.issubdtype(values.dtype, np.number) or not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"{name} must be boolean (or 0/1), True where the entry is observed; "
            f"got dtype {values.dtype}."
        )
    return values.astype(bool)


def _missing_errors(X_true, X_imputed, mask):
    """Differences X_imputed - X_true at the entries where mask is False, with validation."""
    if mask is None:
        raise ValueError(
            "mask is required: a boolean array, True where the entry is observed (as returned "
            "by the skimpute.ampute functions); the error is computed where it is False."
        )
    X_true = _as_float_array(X_true, "X_true")
    X_imputed = _as_float_array(X_imputed, "X_imputed")
    mask = _as_bool_mask(mask, "mask")
    if not X_true.shape == X_imputed.shape == mask.shape:
        raise ValueError(
            "X_true, X_imputed and mask must have the same shape; got "
            f"{X_true.shape}, {X_imputed.shape} and {mask.shape}."
        )
    missing = ~mask
    if not missing.any():
        raise ValueError("mask has no missing entry (no False value): there is nothing to score.")
    true = X_true[missing]
    imputed = X_imputed[missing]
    if np.isnan(true).any():
        raise ValueError("X_true contains NaN at missing entries; it must be the complete data.")
    if np.isnan(imputed).any():
        raise ValueError(
            f"X_imputed contains NaN at {int(np.isnan(imputed).sum())} missing entries: the "
            "imputation is incomplete."
        )
    return imputed - true


def rmse_missing(X_true, X_imputed, mask):
    """Root mean squared error of an imputation on the missing entries.

    .. math:: \\mathrm{RMSE} = \\sqrt{\\frac{1}{|\\{m = 0\\}|}
              \\sum_{m_{ij} = 0} (\\hat x_{ij} - x_{ij})^2}

    the measure of the not-MIWAE (Ipsen et al., 2021) and GNR (Chen et al., 2023) tables,
    computed on whatever scale the data are given (the papers standardise first). The values at
    the observed entries (mask True) are ignored, whatever they are.

    Parameters
    ----------
    X_true : array-like of shape (n_samples, ...)
        The complete data (no NaN at the missing entries).
    X_imputed : array-like of the same shape
        The imputed data (no NaN at the missing entries).
    mask : array-like of bool of the same shape
        ``True`` where the entry was observed, as returned by :mod:`skimpute.ampute`; the error is
        computed where it is ``False``. Required.

    Returns
    -------
    rmse : float
        The root mean squared error over the missing entries.

    Raises
    ------
    ValueError
        If the shapes differ, the mask has no missing entry, is not boolean (or 0/1), or either
        array has NaN at a missing entry.

    See Also
    --------
    mae_missing : The mean absolute error on the missing entries.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import rmse_missing
    >>> X_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> X_imputed = np.array([[1.0, 0.0], [0.0, 4.0]])
    >>> mask = np.array([[True, False], [False, True]])
    >>> float(rmse_missing(X_true, X_imputed, mask))  # sqrt((2 ** 2 + 3 ** 2) / 2)
    2.5495097567963922
    """
    errors = _missing_errors(X_true, X_imputed, mask)
    return float(np.sqrt(np.mean(errors**2)))


def mae_missing(X_true, X_imputed, mask):
    """Mean absolute error of an imputation on the missing entries.

    .. math:: \\mathrm{MAE} = \\frac{1}{|\\{m = 0\\}|} \\sum_{m_{ij} = 0} |\\hat x_{ij} - x_{ij}|

    The values at the observed entries (mask True) are ignored, whatever they are.

    Parameters
    ----------
    X_true : array-like of shape (n_samples, ...)
        The complete data (no NaN at the missing entries).
    X_imputed : array-like of the same shape
        The imputed data (no NaN at the missing entries).
    mask : array-like of bool of the same shape
        ``True`` where the entry was observed, as returned by :mod:`skimpute.ampute`; the error is
        computed where it is ``False``. Required.

    Returns
    -------
    mae : float
        The mean absolute error over the missing entries.

    Raises
    ------
    ValueError
        If the shapes differ, the mask has no missing entry, is not boolean (or 0/1), or either
        array has NaN at a missing entry.

    See Also
    --------
    rmse_missing : The root mean squared error on the missing entries.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import mae_missing
    >>> X_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> X_imputed = np.array([[1.0, 0.0], [0.0, 4.0]])
    >>> mask = np.array([[True, False], [False, True]])
    >>> float(mae_missing(X_true, X_imputed, mask))  # (2 + 3) / 2
    2.5
    """
    errors = _missing_errors(X_true, X_imputed, mask)
    return float(np.mean(np.abs(errors)))


def l2_missing(X_true, X_imputed, mask):
    """Mean squared error of an imputation on the missing values (the paper's "L2 loss").

    .. math:: \\mathrm{L2} = \\frac{1}{|\\{m = 0\\}|} \\sum_{m_{itd} = 0}
              (\\hat x_{itd} - x_{itd})^2

    The NAOMI paper's first billiards metric, the squared error between the imputed missing
    values and the truth. The authors' code reports the same squared error averaged over all
    ``T * D`` values (the observed ones contributing 0), which is this value times the missing
    fraction.

    Parameters
    ----------
    X_true : array-like of shape (n_sequences, ...)
        The complete data.
    X_imputed : array-like of the same shape
        The imputed data.
    mask : array-like of bool of the same shape
        ``True`` where the value was observed; the error is computed where it is ``False``.

    Returns
    -------
    l2 : float
        The mean squared error over the missing values.

    Raises
    ------
    ValueError
        As :func:`rmse_missing`.

    See Also
    --------
    rmse_missing : Its square root.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import l2_missing
    >>> X_true = np.zeros((1, 3, 2))
    >>> X_imputed = np.array([[[0.0, 0.0], [1.0, 1.0], [0.0, 2.0]]])
    >>> mask = np.array([[[True, True], [False, False], [False, False]]])
    >>> float(l2_missing(X_true, X_imputed, mask))  # (1 + 1 + 0 + 4) / 4
    1.5
    """
    errors = _missing_errors(X_true, X_imputed, mask)
    return float(np.mean(errors**2))


def mask_accuracy(mask_true, mask_pred, *, columns=None, threshold=0.5):
    """Fraction of entries where a reconstructed mask equals the true mask.

    The measure of GNR's Table 3 (Chen et al., 2023: "we only measure features that contain
    missing values", ``columns="missing"`` here) and of not-MIWAE's Table A1 (the learnt missing
    model predicting the mask). Probabilities (for instance the output of an imputer's
    ``predict_mask_proba``, the probability that the entry is observed) are turned into a mask
    by ``mask_pred > threshold``.

    Parameters
    ----------
    mask_true : array-like of bool of shape (n_samples, ...)
        The true mask, ``True`` (or 1) where the entry is observed.
    mask_pred : array-like of shape (n_samples, ...)
        The predicted mask: booleans, or probabilities of being observed in [0, 1].
    columns : sequence of int or "missing", default=None
        Restrict the comparison to these columns (indices along the last axis). ``"missing"``
        means the columns where ``mask_true`` has at least one missing entry. None means all.
    threshold : float, default=0.5
        Non-boolean predictions strictly greater than ``threshold`` count as observed.

    Returns
    -------
    accuracy : float
        The fraction of compared entries where the masks agree, in [0, 1].

    See Also
    --------
    skimpute.ampute.mnar_self_masking : The MNAR mechanism of GNR's Table 3.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import mask_accuracy
    >>> mask_true = np.array([[True, False], [True, True], [True, False]])
    >>> proba = np.array([[0.9, 0.2], [0.8, 0.3], [0.7, 0.1]])
    >>> float(mask_accuracy(mask_true, proba))
    0.8333333333333334
    >>> float(mask_accuracy(mask_true, proba, columns="missing"))  # the second column only
    0.6666666666666666
    """
    true = _as_bool_mask(mask_true, "mask_true")
    pred = mask_pred.to_numpy() if hasattr(mask_pred, "to_numpy") else np.asarray(mask_pred)
    if pred.dtype != np.bool_:
        if not np.issubdtype(pred.dtype, np.number) or np.issubdtype(
            pred.dtype, np.complexfloating
        ):
            raise ValueError(
                f"mask_pred must be boolean or probabilities in [0, 1]; got dtype {pred.dtype}."
            )
        pred = pred.astype(np.float64)
        if np.isnan(pred).any() or (pred < 0).any() or (pred > 1).any():
            raise ValueError("mask_pred must be boolean or probabilities in [0, 1].")
        pred = pred > threshold
    if true.shape != pred.shape:
        raise ValueError(
            f"mask_true and mask_pred must have the same shape; got {true.shape} and {pred.shape}."
        )
    if true.ndim == 0 or true.size == 0:
        raise ValueError("The masks are empty.")
    if columns is not None:
        n_features = true.shape[-1]
        if isinstance(columns, str):
            if columns != "missing":
                raise ValueError(
                    f'columns must be None, "missing" or column indices; got {columns!r}.'
                )
            keep = (~true).reshape(-1, n_features).any(axis=0)
            if not keep.any():
                raise ValueError('columns="missing" but mask_true has no missing entry.')
            cols = np.flatnonzero(keep)
        else:
            cols = np.asarray(list(columns) if not isinstance(columns, np.ndarray) else columns)
            if cols.ndim != 1 or cols.size == 0 or not np.issubdtype(cols.dtype, np.integer):
                raise ValueError(
                    f"columns must be a non-empty sequence of integer indices; got {columns!r}."
                )
            if ((cols < -n_features) | (cols >= n_features)).any():
                raise ValueError(
                    f"columns has indices out of range for {n_features} features: {cols.tolist()}."
                )
        true = true[..., cols]
        pred = pred[..., cols]
    return float(np.mean(true == pred))


# ---------------------------------------------------------------------------------------------
# scorers


def _check_metric(metric):
    if metric not in _METRICS:
        raise ValueError(f'metric must be "rmse" or "mae"; got {metric!r}.')
    return rmse_missing if metric == "rmse" else mae_missing


def _transform_values(estimator, X):
    """estimator.transform(X) as a float ndarray (DataFrame output accepted)."""
    X_imputed = estimator.transform(X)
    return _as_float_array(X_imputed, "estimator.transform(X)")


class CompleteDataScorer:
    """Score an imputer against the complete data, given as ``y``.

    For :class:`~sklearn.model_selection.GridSearchCV` when the complete data are known, as in
    a benchmark: fit the search with ``search.fit(X_missing, X_complete)``; the scorer is called
    as ``scorer(estimator, X, y)`` on each held-out fold and returns minus the RMSE (or MAE) of
    ``estimator.transform(X)`` on the entries that are NaN in ``X``, so that greater is better.

    The error is computed on the scale of the data: standardise them first (as the papers do)
    so that large-scale columns do not dominate.

    Parameters
    ----------
    metric : {"rmse", "mae"}, default="rmse"
        The error: :func:`rmse_missing` or :func:`mae_missing`.

    See Also
    --------
    HiddenEntriesScorer : Score without the complete data, on hidden observed entries.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.impute import KNNImputer
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skimpute.ampute import mcar
    >>> from skimpute.metrics import CompleteDataScorer
    >>> rng = np.random.RandomState(0)
    >>> X_complete = rng.normal(size=(60, 3)) @ [[1.0, 0.8, 0.5], [0.0, 0.6, 0.5], [0.0, 0.0, 0.7]]
    >>> X_missing, mask = mcar(X_complete, 0.2, random_state=0)
    >>> search = GridSearchCV(
    ...     KNNImputer(), {"n_neighbors": [1, 10]}, scoring=CompleteDataScorer(), cv=3
    ... ).fit(X_missing, X_complete)
    >>> search.best_params_
    {'n_neighbors': 10}
    >>> CompleteDataScorer(metric="mae")
    CompleteDataScorer(metric='mae')
    """

    def __init__(self, metric="rmse"):
        _check_metric(metric)
        self.metric = metric

    def __repr__(self):
        return f"{type(self).__name__}(metric={self.metric!r})"

    def __call__(self, estimator, X, y=None):
        """Score ``estimator.transform(X)`` on the entries missing in ``X``.

        Parameters
        ----------
        estimator : fitted transformer
            The imputer; ``estimator.transform(X)`` must return an array (or DataFrame) of the
            shape of ``X``.
        X : array-like or DataFrame of shape (n_samples, n_features)
            The data with NaN at the missing entries; at least one must be missing.
        y : array-like or DataFrame of shape (n_samples, n_features)
            The complete data (no NaN), in the same order as ``X``. Required.

        Returns
        -------
        score : float
            Minus the RMSE (or MAE) on the missing entries: greater is better.
        """
        metric = _check_metric(self.metric)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} needs the complete data as y: call "
                "search.fit(X_missing, X_complete). Without the complete data, use "
                "HiddenEntriesScorer."
            )
        X_values = _as_float_array(X, "X")
        y_values = _as_float_array(y, "y")
        if y_values.shape != X_values.shape:
            raise ValueError(
                f"y (the complete data) must have the shape of X; got {y_values.shape} and "
                f"{X_values.shape}."
            )
        if np.isnan(y_values).any():
            raise ValueError("y must be the complete data, without NaN.")
        X_imputed = _transform_values(estimator, X)
        return -metric(y_values, X_imputed, ~np.isnan(X_values))


class HiddenEntriesScorer:
    """Score an imputer on observed entries that it is not shown.

    For :class:`~sklearn.model_selection.GridSearchCV` without the complete data
    (``search.fit(X_missing)``): on each held-out fold ``X``, the scorer hides a fraction of the
    *observed* entries, chosen with a fixed seed so that every candidate is scored on the same
    cells, calls ``estimator.transform`` on ``X`` with those entries also set to NaN (a
    DataFrame stays a DataFrame with its index and columns), and returns minus the RMSE (or
    MAE) on the hidden entries, so that greater is better. ``X`` itself is not modified.

    The hidden entries are drawn uniformly among the observed ones, except that one randomly
    chosen observed entry of each column (along the last axis) is never hidden, so no column
    becomes entirely missing. ``round(fraction * n_observed)`` entries are hidden (at least
    one, at most all but one per column).

    The hidden entries are missing completely at random, whatever the mechanism of the data's
    own missing values; under MNAR the score therefore measures how well the observed
    distribution is reconstructed, not the missing one. The error is computed on the scale of
    the data: standardise them first so that large-scale columns do not dominate.

    Parameters
    ----------
    fraction : float, default=0.1
        Fraction of the observed entries to hide, in (0, 1).
    metric : {"rmse", "mae"}, default="rmse"
        The error: :func:`rmse_missing` or :func:`mae_missing`.
    random_state : int, RandomState instance or None, default=0
        Seed of the hidden entries. An int hides the same entries of a given ``X`` on every
        call, which is what makes the candidates of a search comparable; None or a RandomState
        instance draws different entries on each call.

    See Also
    --------
    CompleteDataScorer : Score against the complete data when they are known.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.impute import KNNImputer
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skimpute.ampute import mcar
    >>> from skimpute.metrics import HiddenEntriesScorer
    >>> rng = np.random.RandomState(0)
    >>> X_complete = rng.normal(size=(60, 3)) @ [[1.0, 0.8, 0.5], [0.0, 0.6, 0.5], [0.0, 0.0, 0.7]]
    >>> X_missing, mask = mcar(X_complete, 0.2, random_state=0)
    >>> scorer = HiddenEntriesScorer(fraction=0.2, random_state=0)
    >>> search = GridSearchCV(
    ...     KNNImputer(), {"n_neighbors": [1, 10]}, scoring=scorer, cv=3
    ... ).fit(X_missing)
    >>> search.best_params_
    {'n_neighbors': 10}
    >>> scorer
    HiddenEntriesScorer(fraction=0.2, metric='rmse', random_state=0)
    """

    def __init__(self, fraction=0.1, metric="rmse", random_state=0):
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, numbers.Real)
            or not 0 < fraction < 1
        ):
            raise ValueError(f"fraction must be a real number in (0, 1); got {fraction!r}.")
        _check_metric(metric)
        self.fraction = fraction
        self.metric = metric
        self.random_state = random_state

    def __repr__(self):
        return (
            f"{type(self).__name__}(fraction={self.fraction!r}, metric={self.metric!r}, "
            f"random_state={self.random_state!r})"
        )

    def hidden_mask(self, X):
        """Return the entries of ``X`` that the scorer hides, as a boolean array.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The data with NaN at the missing entries.

        Returns
        -------
        hidden : ndarray of bool of the shape of ``X``
            ``True`` at the observed entries that are hidden. With an int ``random_state``,
            the same for every call on the same ``X``.

        Raises
        ------
        ValueError
            If no entry can be hidden (every column has at most one observed value).
        """
        values = _as_float_array(X, "X")
        if values.ndim < 2 or values.size == 0:
            raise ValueError(
                f"X must be a non-empty array with at least 2 dimensions; got shape {values.shape}."
            )
        observed = ~np.isnan(values)
        flat = observed.reshape(-1, values.shape[-1])
        rng = check_random_state(self.random_state)
        keys = rng.uniform(size=flat.shape)
        # protect one random observed entry per column: the one with the largest key
        protected = np.zeros(flat.shape, dtype=bool)
        has_obs = flat.any(axis=0)
        top = np.argmax(np.where(flat, keys, -1.0), axis=0)
        protected[top[has_obs], np.flatnonzero(has_obs)] = True
        candidates = flat & ~protected
        n_candidates = int(candidates.sum())
        if n_candidates == 0:
            raise ValueError(
                "No observed entry can be hidden: every column has at most one observed value."
            )
        n_hide = min(max(1, int(round(self.fraction * int(flat.sum())))), n_candidates)
        # the n_hide candidates with the smallest keys
        cand_keys = np.where(candidates, keys, np.inf).ravel()
        chosen = np.argpartition(cand_keys, n_hide - 1)[:n_hide]
        hidden = np.zeros(flat.size, dtype=bool)
        hidden[chosen] = True
        return hidden.reshape(values.shape)

    def __call__(self, estimator, X, y=None):
        """Score ``estimator.transform`` on hidden observed entries of ``X``.

        Parameters
        ----------
        estimator : fitted transformer
            The imputer; ``estimator.transform`` must return an array (or DataFrame) of the
            shape of ``X``.
        X : array-like or DataFrame of shape (n_samples, n_features)
            The data with NaN at the missing entries. Not modified.
        y : None
            Ignored; present for the scorer signature.

        Returns
        -------
        score : float
            Minus the RMSE (or MAE) on the hidden entries: greater is better.
        """
        metric = _check_metric(self.metric)
        values = _as_float_array(X, "X")
        hidden = self.hidden_mask(X)
        if hasattr(X, "iloc") and hasattr(X, "columns"):
            X_hidden = X.mask(hidden)
        else:
            X_hidden = values.copy()
            X_hidden[hidden] = np.nan
        X_imputed = _transform_values(estimator, X_hidden)
        return -metric(values, X_imputed, ~hidden)
