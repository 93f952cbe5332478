"""MissForest: iterative imputation by random forests (Stekhoven and Buehlmann, 2012)."""

# Authors: The skimpute developers
# SPDX-License-Identifier: BSD-3-Clause

import time
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.ensemble import RandomForestRegressor
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from skimpute._base import check_no_empty_columns, observed_mask


def _power_of_two_scale(X, mask):
    """Return the powers of two that bring columns of extreme magnitude to [1, 2).

    scikit-learn's trees treat feature values closer than 1e-7 as ties and a node whose target
    variance is below ``2.2e-16`` as pure, so on a column whose values are around 1e-12 they
    would not split at all. A column whose largest observed magnitude is below ``2 ** -10``
    (about 1e-3) or at least ``2 ** 100`` (about 1e30) is multiplied by the power of two that
    brings that magnitude to [1, 2); the other columns are left as they are (factor 1), so the
    results on data of ordinary magnitude do not change. Multiplying by a power of two is
    exact.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data with ``np.nan`` for the missing entries.
    mask : ndarray of bool of shape (n_samples, n_features)
        True where observed.

    Returns
    -------
    scale : ndarray of shape (n_features,)
        ``2 ** -floor(log2(max |x_j|))`` over the observed entries of the columns of extreme
        magnitude, 1 for the others and for a column of zeros (float64).
    """
    max_abs = np.max(np.where(mask, np.abs(X), 0.0), axis=0).astype(np.float64)
    exponent = np.zeros(X.shape[1], dtype=np.int64)
    extreme = (max_abs > 0) & ((max_abs < 2.0**-10) | (max_abs >= 2.0**100))
    exponent[extreme] = np.floor(np.log2(max_abs[extreme]))
    return np.ldexp(1.0, -np.clip(exponent, -1000, 1000))


class MissForestImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values with MissForest, iterated random-forest regression.

    Every missing entry starts at its column mean. The features are then visited in order of
    increasing number of missing values; for each one a random forest is fitted on the rows where
    it is observed, predicting it from all other columns at their current imputation, and its
    missing entries are replaced by the forest's predictions. A sweep over all features is one
    iteration. Iterations stop the first time the relative change between successive
    imputations, Delta, stops decreasing (the previous iterate is returned) or after
    ``max_iter`` iterations.

    The forests fitted on the training data are stored, so :meth:`transform` completes new data
    by replaying the same sequence of forest predictions, starting from the training means; it
    never refits.

    Parameters
    ----------
    n_estimators : int, default=50
        Number of trees of every forest (``ntree`` in the paper, 100 there). 50 trees imputed
        as well as 100 on the breast-cancer benchmark, in half the time (see Notes).

    max_iter : int, default=10
        Largest number of iterations (sweeps over the features), as in the paper.

    max_features : {"sqrt", "log2"}, int, float or None, default=None
        Number of candidate predictors drawn at each split of a tree (``mtry`` in the paper),
        out of the ``n_features_in_ - 1`` other columns:

        - None: all of them (bagged trees, as ``IterativeImputer(RandomForestRegressor())``);
        - "sqrt": ``sqrt(n_features_in_ - 1)``, the R package's default ``mtry``, faster;
        - "log2": ``log2(n_features_in_ - 1)``;
        - int: that many, at most ``n_features_in_ - 1``;
        - float: that fraction of ``n_features_in_ - 1``.

        None imputed data missing not at random better than "sqrt" or 0.5 on the data sets the
        defaults were chosen on (see Notes).

    min_samples_leaf : int or float, default=3
        Minimum number of training rows in a leaf (``nodesize`` of the R package
        ``randomForest``, 5 by default for regression). A float is a fraction of the number of
        training rows of each forest. Larger leaves give smaller stored forests and a faster
        fit.

    max_depth : int or None, default=None
        Maximum depth of the trees; None grows them until ``min_samples_leaf`` stops them.

    max_samples : int, float or None, default=None
        Size of the bootstrap sample of each tree (``sampsize`` in R). None draws as many rows as
        the forest's training rows; a float is a fraction of them; an int is a number of rows,
        capped at the number of training rows.

    skip_complete : bool, default=False
        What to do with the columns that have no missing value in the data passed to
        :meth:`fit`. If False, one forest per such column is fitted once, on the imputation
        that :meth:`fit` returns, and :meth:`transform` uses it at every iteration to impute
        that column where the new data misses it. If True, no forest is fitted for them (a
        faster fit when many columns are complete) and :meth:`transform` fills their missing
        entries with the training mean.

    n_jobs : int, default=None
        Number of jobs of each forest's fit and predict (``RandomForestRegressor(n_jobs)``).
        None means 1 unless in a ``joblib.parallel_backend`` context, -1 means all
        processors.

    random_state : int, RandomState instance or None, default=None
        Seeds the forests: one seed per forest is drawn from it in :meth:`fit`. Pass an int for
        reproducible output across calls. :meth:`transform` is deterministic.

    verbose : int, default=0
        If positive, print Delta and the elapsed time after every iteration of :meth:`fit`.

    Attributes
    ----------
    statistics_ : ndarray of shape (`n_features_in_`,)
        Mean of the observed entries of each column in :meth:`fit`: the starting imputation, in
        :meth:`fit` and in :meth:`transform`.

    imputation_sequence_ : list of list of (int, RandomForestRegressor or None)
        The forests that :meth:`transform` replays: ``imputation_sequence_[k]`` holds, in
        visiting order, the pairs ``(feature index, forest)`` of iteration ``k + 1``. Its length
        is the iteration whose imputation :meth:`fit` returned: ``n_iter_ - 1`` when the
        stopping rule fired, else ``n_iter_``. The columns complete at fit come first, with the
        same forest object in every iteration. The forest is None when there is no other column
        to predict from (a single feature): that column keeps its mean.

    feature_scale_ : ndarray of shape (`n_features_in_`,)
        The power of two by which each column is multiplied before the forests see it (an
        exact change of units): 1 for a column whose largest observed magnitude in :meth:`fit`
        lies in ``[2 ** -10, 2 ** 100)``, else ``2 ** -floor(log2(max |x_j|))``. The forests of
        ``imputation_sequence_`` take and predict the columns in these units. It keeps data of
        any magnitude (1e-12 as well as 1) where scikit-learn's trees split, which they do not
        below about 1e-7.

    visit_order_ : ndarray of shape (n_visited_features,)
        Indices of the columns that get a forest, by increasing number of missing values in
        :meth:`fit` (ties keep the column order). All columns unless ``skip_complete=True``.

    deltas_ : ndarray of shape (`n_iter_`,)
        Delta of every iteration run: ``sum((X_new - X_old) ** 2) / sum(X_new ** 2)`` over the
        entries missing in :meth:`fit`, between the imputation after the iteration and the one
        before it (the column means for the first). ``[0.0]`` when there is nothing to iterate
        on (no missing value, or a single feature).

    n_iter_ : int
        Number of iterations run, including the one whose Delta stopped the algorithm (its
        forests are discarded); 1 when there is nothing to iterate on.

    n_features_with_missing_ : int
        Number of columns with at least one missing value in :meth:`fit`.

    n_features_in_ : int
        Number of features seen during :meth:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.impute.IterativeImputer : Round-robin regression imputation; with a
        :class:`~sklearn.ensemble.RandomForestRegressor` it is the usual stand-in for MissForest,
        with another stopping rule and refitting on every :meth:`fit_transform`.
    sklearn.impute.SimpleImputer : Mean imputation, MissForest's starting point.
    sklearn.impute.KNNImputer : Imputation from the nearest complete neighbours.

    Notes
    -----
    **Algorithm** (Algorithm 1 of [1]_). Let ``X_0`` be ``X`` with every missing entry set to
    its column mean. Iteration ``k`` copies ``X_{k-1}`` and, for each column ``j`` in order of
    increasing missingness, fits a forest on the rows where ``j`` is observed (response: column
    ``j``; predictors: all other columns of the current imputation) and overwrites the missing
    entries of ``j`` with its predictions, so later columns of the same sweep already see them.
    After the sweep,

    .. math::

        \\Delta_k = \\frac{\\sum_{(i, j) \\text{ missing}} (X_k - X_{k-1})_{ij}^2}
                          {\\sum_{(i, j) \\text{ missing}} (X_k)_{ij}^2}.

    **Stopping rule.** The algorithm stops the first time ``Delta_k >= Delta_{k-1}`` and returns
    ``X_{k-1}``, the iterate before the difference grew (the R package's ``convNew < convOld``
    continuation test); otherwise it stops after ``max_iter`` iterations and returns the last
    iterate. Two differences with the R package: the sums run over the missing entries only
    (the R code sums the whole continuous part of the matrix, whose observed entries add a
    constant to the denominator), and the rule is also applied at ``max_iter`` (the R code then
    returns the last iterate even if Delta grew). The features are all treated as continuous;
    there is no categorical ``Delta_F`` part.

    **Transform.** :meth:`transform` starts new data at ``statistics_`` and, for every kept
    iteration and every column in ``visit_order_``, overwrites the entries missing in the new
    data with the stored forest's predictions from the current imputation of the other
    columns. The forests are never refitted, so the result depends on the training data only
    through them, and each row is imputed on its own, whatever else is in the batch. Applied
    to the training data, :meth:`transform` reproduces the imputation that :meth:`fit` reached
    (up to rounding with ``n_jobs > 1``, where the trees' predictions are summed in thread
    order). The ``missforest`` plugin of the ``hyperimpute`` package does otherwise: its
    ``fit`` does nothing and its ``transform`` runs the whole iterative fit on the data it is
    given, so a test set is imputed by forests fitted on that test set.

    **Columns complete at fit.** They take no part in the iterations of :meth:`fit` (there is
    nothing to impute in them), so fitting a forest for each of them at every iteration, as
    ``IterativeImputer(skip_complete=False)`` does, would be wasted work at fit. Instead each
    gets one forest, fitted after the iterations on the returned imputation, which
    :meth:`transform` applies at every replayed iteration (``skip_complete=False``).

    **Complexity.** With ``n`` rows, ``p`` columns of which ``q`` have missing values,
    ``T = n_estimators``, ``m`` candidate predictors per split (``p - 1`` by default) and
    ``K`` iterations run, :meth:`fit` grows ``(K * q + p - q) * T`` trees, each in about
    ``O(m * n log n)``. The kept forests are stored: about ``((K - 1) * q + p) * T`` trees of
    up to ``2 * n / min_samples_leaf`` nodes each. :meth:`transform` makes at most
    ``(K - 1) * p`` forest predictions, each on the rows that miss that column.

    **Defaults.** ``max_features`` and ``min_samples_leaf`` were chosen on four data sets other
    than the breast-cancer benchmark (scikit-learn's wine and diabetes, UCI red wine quality
    and concrete strength), standardised, with every positive entry of the first half of the
    columns removed (MNAR self-masking), two seeds, 50 trees. The mean RMSE on the missing
    entries was 1.643 / 1.646 / 1.650 with ``max_features=None`` and ``min_samples_leaf`` 1 /
    3 / 5, against 1.657 / 1.649 / 1.653 with 0.5 and 1.658 / 1.660 / 1.666 with "sqrt".
    Leaves of 3 rows keep that accuracy with about a third of the stored size of leaves of 1.
    With those two settings, 10 / 25 / 50 trees gave 1.656 / 1.648 / 1.646 (MNAR) and
    0.719 / 0.712 / 0.705 (20% missing completely at random); ``n_estimators=50`` stops there,
    at half the time of the paper's 100.

    References
    ----------
    .. [1] D. J. Stekhoven and P. Buehlmann. "MissForest--non-parametric missing value
       imputation for mixed-type data". Bioinformatics, 28(1):112-118, 2012.
       https://doi.org/10.1093/bioinformatics/btr597

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute import MissForestImputer
    >>> X = np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 3.0], [np.nan, 6.0, 5.0],
    ...               [8.0, 8.0, 7.0], [9.0, np.nan, 9.0]])
    >>> imputer = MissForestImputer(n_estimators=10, random_state=0).fit(X)
    >>> X_imputed = imputer.transform(X)
    >>> X_imputed.shape
    (5, 3)
    >>> bool(np.isnan(X_imputed).any())
    False
    >>> bool((X_imputed[~np.isnan(X)] == X[~np.isnan(X)]).all())
    True
    """

    _parameter_constraints: dict = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_features": [
            StrOptions({"sqrt", "log2"}),
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0.0, 1.0, closed="right"),
            None,
        ],
        "min_samples_leaf": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0.0, 1.0, closed="neither"),
        ],
        "max_depth": [Interval(Integral, 1, None, closed="left"), None],
        "max_samples": [
            None,
            Interval(RealNotInt, 0.0, 1.0, closed="right"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "skip_complete": ["boolean"],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        n_estimators=50,
        max_iter=10,
        max_features=None,
        min_samples_leaf=3,
        max_depth=None,
        max_samples=None,
        skip_complete=False,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_estimators = n_estimators
        self.max_iter = max_iter
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.max_samples = max_samples
        self.skip_complete = skip_complete
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _make_forest(self, n_train, n_predictors, seed):
        """Return an unfitted forest for ``n_train`` rows and ``n_predictors`` predictors."""
        max_features = self.max_features
        if isinstance(max_features, Integral):
            max_features = min(max_features, n_predictors)
        max_samples = self.max_samples
        if isinstance(max_samples, Integral):
            max_samples = min(max_samples, n_train)
        return RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_features=max_features,
            min_samples_leaf=self.min_samples_leaf,
            max_depth=self.max_depth,
            max_samples=max_samples,
            n_jobs=self.n_jobs,
            random_state=seed,
        )

    @staticmethod
    def _others(j, n_features):
        """Indices of the predictors of column ``j``: all the other columns."""
        return np.delete(np.arange(n_features), j)

    def _fit_forest(self, X_imp, train, j, rng):
        """Fit a forest predicting column ``j`` from the others on the rows ``train``."""
        others = self._others(j, X_imp.shape[1])
        forest = self._make_forest(
            int(train.sum()), others.size, rng.randint(np.iinfo(np.int32).max)
        )
        scale = self.feature_scale_
        return forest.fit(X_imp[train][:, others] * scale[others], X_imp[train, j] * scale[j])

    def _predict(self, forest, X_imp, rows, j):
        """Predict column ``j`` on the rows ``rows`` from the others, in the units of ``X``."""
        others = self._others(j, X_imp.shape[1])
        scale = getattr(self, "feature_scale_", None)  # absent from older pickles: no scaling
        if scale is None:
            return forest.predict(X_imp[rows][:, others])
        return forest.predict(X_imp[rows][:, others] * scale[others]) / scale[j]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the forests of every iteration on `X`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries. Every column needs at least one
            observed value.

        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        ValueError
            If a column of `X` has no observed value; the message names it.
        """
        # No copy: X is only read; the iterates live in a separate float64 array.
        X = validate_data(self, X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan", copy=False)
        mask = observed_mask(X)
        check_no_empty_columns(mask, self, getattr(self, "feature_names_in_", None))
        n_features = X.shape[1]
        missing = ~mask
        n_missing = missing.sum(axis=0)

        self.statistics_ = np.nanmean(X, axis=0, dtype=np.float64)
        self.feature_scale_ = _power_of_two_scale(X, mask)
        self.n_features_with_missing_ = int(np.count_nonzero(n_missing))
        order = np.argsort(n_missing, kind="stable")
        if self.skip_complete:
            order = order[n_missing[order] > 0]
        self.visit_order_ = order

        rng = check_random_state(self.random_state)
        X_imp = np.where(mask, X, self.statistics_).astype(np.float64)
        incomplete = order[n_missing[order] > 0]
        complete = order[n_missing[order] == 0]
        sequence, deltas = [], []
        n_sweeps = self.max_iter
        if incomplete.size == 0 or n_features == 1:
            # Nothing to iterate on: nothing is missing, or no column to predict from.
            sequence, deltas, n_sweeps = [[]], [0.0], 0
        start = time.perf_counter()
        for it in range(n_sweeps):
            X_old = X_imp.copy()
            sweep = []
            for j in incomplete:
                train, rows = mask[:, j], missing[:, j]
                forest = self._fit_forest(X_imp, train, j, rng)
                X_imp[rows, j] = self._predict(forest, X_imp, rows, j)
                sweep.append((int(j), forest))

            new, old = X_imp[missing], X_old[missing]
            numerator, denominator = np.sum((new - old) ** 2), np.sum(new**2)
            if denominator > 0:
                delta = float(numerator / denominator)
            else:
                delta = 0.0 if numerator == 0 else float("inf")
            deltas.append(delta)
            if self.verbose > 0:
                print(
                    f"[MissForestImputer] Iteration {it + 1}/{self.max_iter}, "
                    f"Delta = {delta:.6g}, elapsed {time.perf_counter() - start:.2f} s"
                )
            if it > 0 and delta >= deltas[-2]:
                # Delta stopped decreasing: return the previous iterate, drop this sweep.
                X_imp = X_old
                if self.verbose > 0:
                    print(
                        "[MissForestImputer] Delta did not decrease: returning the "
                        f"imputation of iteration {it}."
                    )
                break
            sequence.append(sweep)

        if n_features == 1:
            sequence = [[(int(j), None) for j in order]]
        elif complete.size:
            # One forest per column complete at fit, fitted on the returned imputation and
            # used at every replayed iteration of transform (the same object each time).
            fitted = [(int(j), self._fit_forest(X_imp, mask[:, j], j, rng)) for j in complete]
            sequence = [fitted + sweep for sweep in sequence]

        self.imputation_sequence_ = sequence
        self.deltas_ = np.asarray(deltas, dtype=np.float64)
        self.n_iter_ = len(deltas)
        return self

    def transform(self, X):
        """Impute the missing entries of `X` with the forests fitted in :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries; any column may have them, including
            the columns that had none in :meth:`fit`.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            `X` with its missing entries imputed, in the dtype of `X`; the observed entries are
            returned unchanged.
        """
        check_is_fitted(self)
        # No copy: X is only read; the imputation is built in a separate float64 array.
        X = validate_data(
            self,
            X,
            dtype=FLOAT_DTYPES,
            ensure_all_finite="allow-nan",
            copy=False,
            reset=False,
        )
        mask = observed_mask(X)
        missing = ~mask
        X_imp = np.where(mask, X, self.statistics_).astype(np.float64)
        if missing.any():
            for sweep in self.imputation_sequence_:
                for j, forest in sweep:
                    rows = missing[:, j]
                    if forest is None or not rows.any():
                        continue
                    X_imp[rows, j] = self._predict(forest, X_imp, rows, j)
        return np.where(mask, X, X_imp.astype(X.dtype, copy=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
