"""Non-neural sequence baselines of the NAOMI paper: linear interpolation and KNN."""

from numbers import Integral

import numpy as np
from sklearn.impute import KNNImputer
from sklearn.utils._param_validation import Interval, StrOptions

from skimpute._base import observed_mask
from skimpute._sequence import BaseSequenceImputer

__all__ = ["KNNSequenceImputer", "LinearInterpolationImputer"]


class LinearInterpolationImputer(BaseSequenceImputer):
    """Impute the missing steps of sequences by linear interpolation in time.

    Each value dimension of each sequence is interpolated linearly between its observed steps;
    before the first and after the last observed step it is held constant (the nearest observed
    value). A dimension never observed in a sequence is filled with its mean over the training
    sequences. This is the "Linear" baseline of the NAOMI paper.

    Parameters
    ----------
    n_timesteps : int, default=None
        ``T``, the steps of each sequence of a 2-d input of ``T * D`` columns; None means
        ``T = n_features`` (``D = 1``). A 3-d input gives ``T`` by its shape.

    Attributes
    ----------
    mean_ : ndarray of shape (`n_dims_`,)
        Mean of the observed values of each dimension in the training data (0 where none).
    n_timesteps_ : int
        Steps per sequence, ``T``.
    n_dims_ : int
        Values per step, ``D``.
    n_features_in_ : int
        ``T * D``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` is a DataFrame whose column
        names are all strings.

    See Also
    --------
    skimpute.NAOMISequenceImputer : Non-autoregressive multiresolution imputation.
    KNNSequenceImputer : The mean of the nearest training sequences.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.baselines import LinearInterpolationImputer
    >>> X = np.array([[0.0, np.nan, 2.0, np.nan, np.nan]])
    >>> LinearInterpolationImputer().fit_transform(X)
    array([[0., 1., 2., 2., 2.]])
    """

    def __init__(self, *, n_timesteps=None):
        self.n_timesteps = n_timesteps

    def _fit_sequences(self, X):
        mask = observed_mask(X)
        D = self.n_dims_
        count = mask.reshape(-1, D).sum(axis=0)
        total = np.where(mask, X, 0.0).reshape(-1, D).sum(axis=0)
        self.mean_ = np.where(count > 0, total / np.maximum(count, 1), 0.0)

    def _impute_sequences(self, X, mask):
        X3, M3 = self._as_sequences(X), self._as_sequences(mask)
        out = np.empty(X3.shape, dtype=np.float64)
        t = np.arange(self.n_timesteps_)
        for i in range(X3.shape[0]):
            for d in range(self.n_dims_):
                seen = M3[i, :, d]
                if seen.any():
                    out[i, :, d] = np.interp(t, t[seen], X3[i, seen, d])
                else:
                    out[i, :, d] = self.mean_[d]
        return out.reshape(X.shape)


class KNNSequenceImputer(BaseSequenceImputer):
    """Impute sequences with the mean of the nearest training sequences.

    The "KNN" baseline of the NAOMI paper: for each sequence, the `n_neighbors` training
    sequences closest on the observed values are found, and each missing value is the average
    of theirs. The distance is scikit-learn's ``nan_euclidean`` over the values observed in
    both sequences, and a missing value is averaged over the nearest training sequences that
    observe it (all of them when the training sequences are complete): this is
    :class:`~sklearn.impute.KNNImputer` on the flattened sequences, fitted on the training
    sequences.

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of training sequences averaged.
    weights : {"uniform", "distance"}, default="uniform"
        Weight of each neighbour: equal, or the inverse of its distance.
    n_timesteps : int, default=None
        ``T``, the steps of each sequence of a 2-d input of ``T * D`` columns; None means
        ``T = n_features`` (``D = 1``). A 3-d input gives ``T`` by its shape.

    Attributes
    ----------
    knn_ : sklearn.impute.KNNImputer
        The fitted imputer over flattened sequences.
    n_timesteps_ : int
        Steps per sequence, ``T``.
    n_dims_ : int
        Values per step, ``D``.
    n_features_in_ : int
        ``T * D``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` is a DataFrame whose column
        names are all strings.

    See Also
    --------
    sklearn.impute.KNNImputer : The same on the rows of a table.
    LinearInterpolationImputer : Linear interpolation between known steps.

    Notes
    -----
    A value missing in every training sequence cannot be averaged; it is filled by linear
    interpolation within its sequence.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.baselines import KNNSequenceImputer
    >>> X_train = np.array([[0.0, 1.0, 2.0], [0.0, -1.0, -2.0], [0.0, 1.2, 2.0]])
    >>> imputer = KNNSequenceImputer(n_neighbors=2).fit(X_train)
    >>> imputer.transform(np.array([[0.0, np.nan, 2.1]]))
    array([[0. , 1.1, 2.1]])
    """

    _parameter_constraints: dict = {
        **BaseSequenceImputer._parameter_constraints,
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "weights": [StrOptions({"uniform", "distance"})],
    }

    def __init__(self, *, n_neighbors=5, weights="uniform", n_timesteps=None):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.n_timesteps = n_timesteps

    def _fit_sequences(self, X):
        self.knn_ = KNNImputer(
            n_neighbors=self.n_neighbors, weights=self.weights, keep_empty_features=True
        ).fit(X)
        self._never_observed = ~observed_mask(X).any(axis=0)
        self._interpolation = LinearInterpolationImputer(n_timesteps=self.n_timesteps_).fit(X)

    def _impute_sequences(self, X, mask):
        X_hat = self.knn_.transform(X)
        if self._never_observed.any():
            interpolated = self._interpolation.transform(X)
            X_hat[:, self._never_observed] = interpolated[:, self._never_observed]
        return X_hat
