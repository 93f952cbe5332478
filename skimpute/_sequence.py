"""What the sequence imputers share: sequence input, output in the input's shape, the neural base.

A sequence imputer takes ``n`` sequences of ``T`` steps of ``D`` values, either as an array of
shape ``(n, T, D)`` or flattened to ``(n, T * D)`` (step-major: the columns are
``x[0, 0], ..., x[0, D-1], x[1, 0], ...``) with ``n_timesteps=T`` given, so that it fits a
:class:`~sklearn.pipeline.Pipeline`. ``NaN`` marks the missing values; the output has the shape
and dtype of the input, with the observed values unchanged.

:class:`BaseSequenceImputer` holds the validation and the fit/transform template of every
sequence imputer (NAOMI and the sequence baselines); :class:`BaseNNSequenceImputer` adds the
neural part (standardisation per value dimension, the skorch net, chunked imputation) on top of
:class:`~skimpute._base.NeuralNetMixin`, which it shares with the tabular imputers.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted, validate_data
from skorch.utils import TeeGenerator

from skimpute._base import (
    ImputerNet,
    NeuralNetMixin,
    _observed_statistics,
    _restore_on_failure,
    observed_mask,
)
from skimpute.nn import MeanLoss

__all__ = ["BaseNNSequenceImputer", "BaseSequenceImputer", "SequenceNet"]


class SequenceNet(ImputerNet):
    """The skorch net of the sequence imputers: one optimiser step per batch, clipped gradients.

    An :class:`~skimpute._base.ImputerNet` (the module returns one loss per sequence and the
    criterion reduces them) whose :meth:`train_step` steps only ``optimizer_``, the optimiser of
    ``module_`` (skorch's default steps every registered optimiser with the training closure,
    which would run a batch twice once a second network is registered), after clipping the
    gradient norm of the module to `max_grad_norm`.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        The model; ``forward(X, mask)`` returns a Tensor of shape (B,), one loss per sequence.
    criterion : torch.nn.Module class or instance
        Reduces the per-sequence losses (:class:`~skimpute.nn.MeanLoss`).
    max_grad_norm : float or None, default=None
        Largest norm of the module's gradient; None leaves the gradients as they are.
    **kwargs : dict
        The other arguments of :class:`skorch.NeuralNet`.

    See Also
    --------
    skimpute._base.ImputerNet : The parent class.
    """

    def __init__(self, module, criterion, *, max_grad_norm=None, **kwargs):
        super().__init__(module, criterion, **kwargs)
        self.max_grad_norm = max_grad_norm

    def _clip(self, module):
        """Clip the gradient norm of the parameters of `module` to `max_grad_norm`."""
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.max_grad_norm)

    def _step_module(self, batch):
        """Clip the module's gradient, tell the callbacks, and take the optimiser's step."""
        self._clip(self.module_)
        self.notify(
            "on_grad_computed",
            named_parameters=TeeGenerator(self.module_.named_parameters()),
            batch=batch,
            training=True,
        )
        self.optimizer_.step()

    def train_step(self, batch, **fit_params):
        """Run one optimisation step of the module.

        Parameters
        ----------
        batch : tuple
            ``(X_batch, None)`` as yielded by :class:`~skimpute._base.BatchIterator`.
        **fit_params : dict
            Passed on to :meth:`train_step_single`.

        Returns
        -------
        step : dict
            ``{"loss": loss, "y_pred": per-sequence losses}``.

        Raises
        ------
        _NonFiniteLossError
            If the loss is nan or infinite (before the step is taken).
        """
        self.optimizer_.zero_grad()
        step = self.train_step_single(batch, **fit_params)
        self._check_finite_loss(step["loss"])
        self._step_module(batch)
        return step


class BaseSequenceImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Base class of the sequence imputers: sequence input, output in the input's shape.

    ``fit`` and ``transform`` accept an array of shape ``(n_sequences, T, D)`` or the same
    flattened to ``(n_sequences, T * D)``; with a 2-d input, ``n_timesteps`` gives ``T`` (None
    means ``T = n_features`` and ``D = 1``). The validated data go to two hooks, which see the
    flattened ``(n, T * D)`` array (``self._as_sequences`` reshapes it to ``(n, T, D)``):

    - ``_fit_sequences(X)``: fit on the validated data (``NaN`` = missing);
    - ``_impute_sequences(X, mask)``: return the imputations of every value, float64, of the
      shape of ``X``; ``transform`` keeps the observed ones of ``X``.

    Attributes
    ----------
    n_timesteps_ : int
        Steps per sequence, ``T``.
    n_dims_ : int
        Values per step, ``D``.
    n_features_in_ : int
        ``T * D``, the number of columns of the flattened input.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` is a DataFrame whose column
        names are all strings.
    """

    _parameter_constraints: dict = {
        "n_timesteps": [Interval(Integral, 1, None, closed="left"), None],
    }

    # ------------------------------------------------------------------ hooks
    def _fit_sequences(self, X):
        """Fit on the validated sequences (to be overridden).

        Parameters
        ----------
        X : ndarray of shape (n_sequences, T * D)
            Flattened sequences with ``np.nan`` for the missing values.
        """
        raise NotImplementedError

    def _impute_sequences(self, X, mask):
        """Impute every value of the sequences (to be overridden).

        Parameters
        ----------
        X : ndarray of shape (n_sequences, T * D)
            Flattened sequences with ``np.nan`` for the missing values.
        mask : ndarray of bool of shape (n_sequences, T * D)
            True where observed.

        Returns
        -------
        X_hat : ndarray of shape (n_sequences, T * D)
            Imputations (float64); the observed values are replaced by those of `X` afterwards.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers
    def _validate_sequences(self, X, reset):
        """Validate sequences given as ``(n, T, D)`` or flattened ``(n, T * D)``.

        Parameters
        ----------
        X : array-like of shape (n_sequences, T, D) or (n_sequences, T * D)
            The input, ``NaN`` for missing values.
        reset : bool
            True in ``fit``: records ``n_timesteps_``, ``n_dims_``, ``n_features_in_`` (and
            ``feature_names_in_``); False afterwards: checks the input against them.

        Returns
        -------
        X : ndarray of shape (n_sequences, T * D)
            The validated, flattened data (float64 or float32).
        ndim : int
            2 or 3, the dimension of the input, for :meth:`_as_input_shape`.

        Raises
        ------
        ValueError
            If the input is not 2-d or 3-d, if `n_timesteps` does not divide the number of
            columns of a 2-d input or differs from the steps of a 3-d input, or if a 3-d input
            does not have the fitted ``(T, D)``.
        """
        ndim = getattr(X, "ndim", None)
        if ndim is None:
            try:
                ndim = np.asarray(X).ndim
            except (TypeError, ValueError):  # ragged lists...: validate_data says what is wrong
                ndim = 2
        name = type(self).__name__
        if ndim == 3:
            X3 = check_array(
                X, allow_nd=True, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan", input_name="X"
            )
            n, T, D = X3.shape
            if reset and self.n_timesteps is not None and self.n_timesteps != T:
                raise ValueError(
                    f"n_timesteps={self.n_timesteps} but X has {T} steps per sequence (shape "
                    f"{X3.shape}); leave n_timesteps=None for 3-d input."
                )
            if not reset and (T, D) != (self.n_timesteps_, self.n_dims_):
                raise ValueError(
                    f"X has sequences of {T} steps of {D} values, but {name} was fitted on "
                    f"sequences of {self.n_timesteps_} steps of {self.n_dims_} values."
                )
            X2 = validate_data(
                self,
                X3.reshape(n, T * D),
                dtype=FLOAT_DTYPES,
                ensure_all_finite="allow-nan",
                reset=reset,
            )
        elif ndim <= 2:
            X2 = validate_data(
                self, X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan", reset=reset
            )
            if reset:
                n_features = X2.shape[1]
                T = n_features if self.n_timesteps is None else self.n_timesteps
                if n_features % T:
                    raise ValueError(
                        f"n_timesteps={T} does not divide the {n_features} columns of X: a 2-d X "
                        "holds sequences flattened to n_timesteps * n_dims columns."
                    )
                D = n_features // T
        else:
            raise ValueError(
                f"{name} expects sequences of shape (n_sequences, n_timesteps, n_dims) or "
                f"flattened to (n_sequences, n_timesteps * n_dims); got a {ndim}-d array."
            )
        if reset:
            self.n_timesteps_, self.n_dims_ = int(T), int(D)
        return X2, ndim

    def _as_sequences(self, X):
        """Reshape flattened sequences ``(n, T * D)`` (or a stack of them) to ``(..., n, T, D)``.

        Parameters
        ----------
        X : ndarray of shape (..., n_sequences, T * D)
            Flattened sequences.

        Returns
        -------
        X : ndarray of shape (..., n_sequences, T, D)
            A view of `X`.
        """
        return X.reshape(X.shape[:-1] + (self.n_timesteps_, self.n_dims_))

    def _as_input_shape(self, X, ndim):
        """Return flattened sequences in the shape of the input they came from.

        Parameters
        ----------
        X : ndarray of shape (..., n_sequences, T * D)
            Flattened sequences.
        ndim : int
            The dimension of the input (2 or 3), as returned by :meth:`_validate_sequences`.

        Returns
        -------
        X : ndarray of shape (..., n_sequences, T * D) or (..., n_sequences, T, D)
            `X`, reshaped to 3-d sequences when the input was.
        """
        return self._as_sequences(X) if ndim == 3 else X

    # ---------------------------------------------------------------- public API
    @_fit_context(prefer_skip_nested_validation=True)
    @_restore_on_failure
    def fit(self, X, y=None):
        """Fit the imputer on sequences with missing values.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_dims) or \
                (n_sequences, n_timesteps * n_dims)
            Sequences with ``np.nan`` for the missing values.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        ValueError
            If `X` has no observed value at all.

        Notes
        -----
        If ``fit`` raises, the estimator is left as it was before the call (unfitted, or with
        its previous fit, whole).
        """
        X, _ = self._validate_sequences(X, reset=True)
        if not observed_mask(X).any():
            raise ValueError(
                f"{type(self).__name__} cannot be fitted on data with no observed value."
            )
        self._fit_sequences(X)
        return self

    def transform(self, X):
        """Impute the missing values of sequences.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_dims) or \
                (n_sequences, n_timesteps * n_dims)
            Sequences with ``np.nan`` for the missing values, of the fitted ``n_timesteps`` and
            ``n_dims``.

        Returns
        -------
        X_imputed : ndarray of the shape of `X`
            `X` with its missing values replaced; the observed values are returned unchanged, in
            the dtype of `X`.
        """
        check_is_fitted(self)
        X, ndim = self._validate_sequences(X, reset=False)
        mask = observed_mask(X)
        if mask.all():
            return self._as_input_shape(X.copy(), ndim)
        X_hat = self._impute_sequences(X, mask)
        return self._as_input_shape(np.where(mask, X, X_hat.astype(X.dtype)), ndim)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class BaseNNSequenceImputer(NeuralNetMixin, BaseSequenceImputer):
    """Base class of the neural sequence imputers (NAOMI, the autoregressive GRU).

    ``fit`` standardises each of the ``D`` value dimensions with the mean and standard deviation
    of its observed values (pooled over sequences and steps), fills the missing values with 0 and
    trains a skorch net (``net_``) on ``{"X": (n, T, D) values, "mask": (n, T, D) observed}``
    inside :func:`torch.random.fork_rng`; the module's ``forward(X, mask)`` returns one loss per
    sequence and the criterion is their mean. ``transform`` runs the module's
    ``impute(X, known, observed)`` over chunks of sequences under :func:`torch.inference_mode`,
    where ``known`` (B, T) marks the steps whose ``D`` values are all observed.

    A subclass defines its parameters (with ``_parameter_constraints``) and the hooks
    ``_module_class()`` and ``_module_params(n_timesteps, n_dims)``, and may override
    ``_net_class()`` and ``_floats_per_row``.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the torch module, ``net_.history`` the training log.
    n_epochs_ : int
        Number of epochs run.
    mean_ : ndarray of shape (`n_dims_`,)
        Observed mean of each value dimension (0 when ``scale=False``).
    scale_ : ndarray of shape (`n_dims_`,)
        Observed standard deviation of each value dimension (1 when constant or
        ``scale=False``).
    n_timesteps_ : int
        Steps per sequence, ``T``.
    n_dims_ : int
        Values per step, ``D``.
    n_features_in_ : int
        ``T * D``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` is a DataFrame whose column
        names are all strings.
    """

    _parameter_constraints: dict = {
        **BaseSequenceImputer._parameter_constraints,
        **NeuralNetMixin._parameter_constraints,
        "rnn_size": [Interval(Integral, 1, None, closed="left")],
        "n_rnn_layers": [Interval(Integral, 1, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
    }

    # ------------------------------------------------------------------ hooks
    def _criterion_class(self):
        return MeanLoss

    def _net_class(self):
        return SequenceNet

    def _extra_net_params(self):
        return {"max_grad_norm": self.max_grad_norm}

    def _module_params(self, n_timesteps, n_dims):
        """Return the arguments of the module that all the sequence models share.

        Parameters
        ----------
        n_timesteps : int
            ``T``.
        n_dims : int
            ``D``.

        Returns
        -------
        params : dict
            ``n_dims``, ``n_timesteps``, ``rnn_size``, ``n_rnn_layers``,
            ``hidden_layer_sizes`` and ``activation``; a subclass adds its own.
        """
        return {
            "n_dims": n_dims,
            "n_timesteps": n_timesteps,
            "rnn_size": self.rnn_size,
            "n_rnn_layers": self.n_rnn_layers,
            "hidden_layer_sizes": tuple(int(h) for h in self.hidden_layer_sizes),
            "activation": self.activation,
        }

    def _floats_per_row(self, n_features):
        """Estimate the floats one sequence needs at transform (sets the chunk size).

        Parameters
        ----------
        n_features : int
            ``T * D``.

        Returns
        -------
        n_floats : int
            About ``T (2 L H + 8 D + 8)``: the backward states of every step and layer, the
            values and the masks.
        """
        T = self.n_timesteps_
        return (T + 1) * (2 * self.n_rnn_layers * self.rnn_size + 8 * self.n_dims_ + 8)

    def _extra_fit_checks(self, X, mask):
        """Check the data for what the model needs beyond validation (none by default).

        Parameters
        ----------
        X : ndarray of shape (n_sequences, T * D)
            The validated training data.
        mask : ndarray of bool of shape (n_sequences, T * D)
            True where observed.
        """

    # ---------------------------------------------------------------- helpers
    def _standardise(self, X, mask):
        """Standardise flattened sequences per value dimension and fill the missing with 0.

        Parameters
        ----------
        X : ndarray of shape (n_sequences, T * D)
            Flattened sequences with ``np.nan`` for the missing values.
        mask : ndarray of bool of shape (n_sequences, T * D)
            True where observed.

        Returns
        -------
        X_std : ndarray of shape (n_sequences, T * D)
            ``(x - mean_) / scale_`` where observed, 0 elsewhere (float32).
        mask_float : ndarray of shape (n_sequences, T * D)
            The mask as float32.
        """
        Xs = np.where(
            self._as_sequences(mask), (self._as_sequences(X) - self.mean_) / self.scale_, 0.0
        )
        return Xs.reshape(X.shape).astype(np.float32), mask.astype(np.float32)

    def _split_chunk(self, X, mask):
        """Turn a chunk of flattened tensors into the module's inputs.

        Parameters
        ----------
        X, mask : Tensor of shape (B, T * D)
            Standardised values and the mask (1.0 where observed).

        Returns
        -------
        X : Tensor of shape (B, T, D)
            The values.
        known : Tensor of bool of shape (B, T)
            Steps whose values are all observed.
        observed : Tensor of bool of shape (B, T, D)
            Observed values.
        """
        observed = self._as_sequences(mask) > 0.5
        return self._as_sequences(X), observed.all(-1), observed

    def _impute_chunk(self, module, X, mask, noise):
        X3, known, observed = self._split_chunk(X, mask)
        return module.impute(X3, known, observed).reshape(X.shape)

    def _unstandardise(self, X):
        """Undo the standardisation of flattened sequences (any leading dimensions).

        A value dimension that was constant at fit (with standardisation) gets its constant,
        as in :meth:`skimpute._base.BaseNNImputer._unstandardise`.
        """
        X3 = self._as_sequences(X) * self.scale_ + self.mean_
        constant = getattr(self, "_constant_dims", None)  # absent from older pickles
        if constant is not None and constant.any():
            X3[..., constant] = self.mean_[constant]
        return X3.reshape(X.shape)

    def _start_sequence_fit(self, X):
        """Check the validated sequences, compute the statistics, draw the seeds, build the net.

        Parameters
        ----------
        X : ndarray of shape (n_sequences, T * D)
            Validated sequences with ``np.nan`` for the missing values.

        Returns
        -------
        data : dict of str to ndarray
            The standardised training data, ``{"X": (n, T, D), "mask": (n, T, D)}``.
        net : SequenceNet
            The net, built and not yet initialised.
        fit_seed : int
            The seed of torch's global generator for the training.
        """
        mask = observed_mask(X)
        if not mask.any():
            raise ValueError(
                f"{type(self).__name__} cannot be fitted on data with no observed value."
            )
        self._check_params(X)
        self._extra_fit_checks(X, mask)
        D = self.n_dims_
        self.mean_, self.scale_, self._constant_dims = _observed_statistics(
            X.reshape(-1, D), mask.reshape(-1, D), self.scale, return_constant=True
        )
        fit_seed = self._draw_seeds()
        net = self._build_net(self.n_timesteps_, D)
        return self._training_data(X, mask), net, fit_seed

    def _training_data(self, X, mask):
        """The standardised sequences and their mask, as the net trains on them."""
        Xs, m = self._standardise(X, mask)
        return {"X": self._as_sequences(Xs), "mask": self._as_sequences(m)}

    def _fit_sequences(self, X):
        data, net, fit_seed = self._start_sequence_fit(X)
        self._fit_net(net, data, fit_seed)
        self.net_ = net
        self.n_epochs_ = len(net.history)

    @_fit_context(prefer_skip_nested_validation=True)
    @_restore_on_failure
    def partial_fit(self, X, y=None):
        """Train the network for one more epoch, on the block of sequences `X`.

        Each call runs one pass over the sequences of `X` in shuffled batches of
        ``batch_size``, continuing from the weights and the optimiser state that the earlier
        calls (or an earlier ``fit``) left; ``fit`` starts over. The training schedule that
        depends on the epoch (NAOMI's teacher-forced, free-running and adversarial stages) is
        that of ``fit`` with ``max_epochs`` epochs, counted over the calls, and stays in its
        last stage after them. Long trainings can so be split over processes: pickle the
        estimator after a call and continue from the pickle (see :doc:`/large_data`).

        The first call on an unfitted estimator does what ``fit`` does before its training:
        it validates `X` (recording ``n_timesteps_``, ``n_dims_`` and ``n_features_in_``),
        computes the standardisation of each value dimension (``mean_``, ``scale_``) from this
        block, draws the seeds from ``random_state`` and builds the net. Later blocks are
        standardised with the statistics of the first and need its shape.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_dims) or \
                (n_sequences, n_timesteps * n_dims)
            A block of sequences with ``np.nan`` for the missing values.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            The estimator, trained for one more epoch.

        Raises
        ------
        ValueError
            If the first block has no observed value, a parameter is invalid, or a later
            block does not have the steps and values of the first (or, with
            ``adversarial=True``, has missing values).
        FloatingPointError
            If the training loss or a weight becomes nan or infinite; the estimator keeps
            its state before the call.

        Notes
        -----
        The epoch of each call is seeded with ``fit_seed + n_epochs_`` inside
        :func:`torch.random.fork_rng`: the same blocks in the same order with the same
        ``random_state`` give the same weights, and one call on an unfitted estimator trains
        exactly as ``fit`` with ``max_epochs=1``. If a call raises or is interrupted, the
        estimator is left as it was before the call.
        """
        if not hasattr(self, "net_"):
            X, _ = self._validate_sequences(X, reset=True)
            data, net, fit_seed = self._start_sequence_fit(X)
        else:
            X, _ = self._validate_sequences(X, reset=False)
            mask = observed_mask(X)
            self._extra_fit_checks(X, mask)
            data, net, fit_seed = self._training_data(X, mask), None, None
        return self._fit_one_more_epoch(data, net, fit_seed)

    def _impute_sequences(self, X, mask):
        return self._unstandardise(self._map_chunks(X, mask, self._impute_chunk, salt=0))
