"""What every skimpute imputer shares: input checks and the observed-entry mask.

The first two helpers (:func:`observed_mask`, :func:`check_no_empty_columns`) are shared with the
non-neural baselines. :class:`BaseNNImputer` holds the neural imputers' common machinery:
validation, standardisation, seeding, building and fitting the skorch net, chunked transform,
``score`` and ``sample``; the part of it that the sequence imputers share too (building, seeding
and fitting the net, chunked inference) is :class:`NeuralNetMixin`. :class:`ImputerNet` is the
skorch net it builds and :class:`BatchIterator` the iterator that feeds it batches.
"""

import copy
import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data
from skorch import NeuralNet
from skorch.callbacks import ProgressBar

from skimpute.nn import ACTIVATIONS, NegIWBound, RowNoise, row_seeds


def observed_mask(X):
    """Return the mask of observed entries, 1 where ``X`` holds a value.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data with ``np.nan`` for the missing entries.

    Returns
    -------
    mask : ndarray of bool, shape (n_samples, n_features)
        ``True`` where the entry is observed (the papers' ``m = 1`` or ``s = 1``).
    """
    return ~np.isnan(X)


def check_no_empty_columns(mask, estimator, feature_names_in=None):
    """Raise a ValueError naming every column that has no observed value.

    Parameters
    ----------
    mask : ndarray of bool, shape (n_samples, n_features)
        Observed-entry mask as returned by :func:`observed_mask`.
    estimator : object
        The estimator doing the check; its class name starts the message.
    feature_names_in : ndarray of str or None, default=None
        Column names seen at fit; the message uses them where given, else the column indices.

    Raises
    ------
    ValueError
        If a column of ``mask`` is all ``False``.
    """
    empty = np.flatnonzero(~mask.any(axis=0))
    if empty.size == 0:
        return
    if feature_names_in is not None:
        names = ", ".join(repr(str(feature_names_in[j])) for j in empty)
    else:
        names = ", ".join(str(int(j)) for j in empty)
    raise ValueError(
        f"{type(estimator).__name__} cannot impute a column with no observed value: "
        f"column(s) {names} are entirely NaN in the data passed to fit. Drop them, or fill "
        "them before imputing."
    )


# ---------------------------------------------------------------------------------------------
# The neural imputers' shared base
# ---------------------------------------------------------------------------------------------


class _NonFiniteLossError(ArithmeticError):
    """Error raised inside the net's training step when the loss is not finite.

    :meth:`BaseNNImputer.fit` catches it and raises a :class:`FloatingPointError` with a
    readable message.

    Parameters
    ----------
    value : float
        The non-finite loss (nan or inf).
    epoch : int
        The epoch of the failing step, counted from 1.
    batch : int
        The batch of the failing step within its epoch, counted from 1.
    """

    def __init__(self, value, epoch, batch):
        super().__init__(value, epoch, batch)
        self.value, self.epoch, self.batch = value, epoch, batch


class BatchIterator:
    """Iterate over a skorch dataset whose ``X`` is a dict of arrays, a whole batch at a time.

    skorch's default :class:`~torch.utils.data.DataLoader` indexes the dataset one row at a time
    (about 15-25 us per row); this iterator converts the arrays to tensors once and slices them
    once per batch. It takes the ``DataLoader`` arguments skorch passes (`batch_size`,
    `shuffle`, `drop_last`) and ignores the worker-related ones. Shuffling draws from torch's
    global generator, which the estimator seeds. It is used as the net's ``iterator_train``.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset
        The dataset; its ``X`` must be a dict of arrays with the same number of rows, such as
        ``{"X": ndarray of shape (n_samples, n_features), "mask": ndarray of shape (n_samples,
        n_features)}``.
    batch_size : int, default=128
        Rows per batch.
    shuffle : bool, default=False
        Whether to visit the rows in a new random order at each pass.
    drop_last : bool, default=False
        Whether to drop the last batch when it is smaller than `batch_size`.
    **kwargs : dict
        Other ``DataLoader`` arguments (``num_workers``, ``collate_fn``, ...), ignored.

    Attributes
    ----------
    X : dict of str to Tensor
        The arrays of the dataset as tensors (sharing memory with the arrays where possible).
    n : int
        Number of rows of the dataset.
    batch_size : int
        Rows per batch.
    shuffle : bool
        Whether the rows are shuffled.
    drop_last : bool
        Whether an incomplete last batch is dropped.

    Raises
    ------
    TypeError
        If ``dataset.X`` is not a dict.

    Notes
    -----
    Iterating yields ``(X_batch, None)`` pairs, where ``X_batch`` is a dict of Tensors of shape
    ``(B, ...)`` with the keys of ``dataset.X`` and ``B`` at most `batch_size`; ``len()`` is
    the number of batches.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False, drop_last=False, **kwargs):
        X = dataset.X
        if not isinstance(X, dict):
            raise TypeError("BatchIterator expects a dataset whose X is a dict of arrays")
        self.X = {k: torch.as_tensor(v) for k, v in X.items()}
        self.n = len(dataset)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        """Return the number of batches of one pass.

        Returns
        -------
        n_batches : int
            ``ceil(n / batch_size)``, or ``n // batch_size`` with `drop_last`.
        """
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        """Iterate over the batches of one pass.

        Yields
        ------
        X_batch : dict of str to Tensor
            The rows of the batch, a Tensor of shape ``(B, ...)`` per key of ``dataset.X``.
        y_batch : None
            No target.
        """
        order = torch.randperm(self.n) if self.shuffle else None
        for b in range(len(self)):
            start = b * self.batch_size
            rows = (
                slice(start, start + self.batch_size)
                if order is None
                else order[start : start + self.batch_size]
            )
            yield {k: v[rows] for k, v in self.X.items()}, None


class ImputerNet(NeuralNet):
    """Skorch net whose module returns log importance weights and whose loss needs no target.

    A :class:`skorch.NeuralNet` with two changes: :meth:`get_loss` hands the module output
    (the log importance weights ``(B, K)`` of the variational models) to the criterion alone,
    and :meth:`train_step` stops the fit at the first non-finite loss. It is built by
    :class:`BaseNNImputer` in ``fit`` and stored as ``net_``.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        The model; its ``forward(X, mask)`` returns what the criterion takes.
    criterion : torch.nn.Module class or instance
        The loss, called on the module output alone (for example
        :class:`~skimpute.nn.NegIWBound`).
    optimizer : torch.optim.Optimizer class, default=torch.optim.SGD
        The optimiser (:class:`BaseNNImputer` passes :class:`torch.optim.Adam`).
    lr : float, default=0.01
        Learning rate.
    max_epochs : int, default=10
        Number of passes over the data.
    batch_size : int, default=128
        Rows per batch.
    iterator_train : class, default=torch.utils.data.DataLoader
        Iterator over the training data (:class:`BaseNNImputer` passes :class:`BatchIterator`).
    iterator_valid : class, default=torch.utils.data.DataLoader
        Iterator over the validation data.
    dataset : class, default=skorch.dataset.Dataset
        Dataset wrapping the data.
    train_split : callable or None, default=skorch.dataset.ValidSplit(5)
        Split into training and validation data (:class:`BaseNNImputer` passes None).
    callbacks : list of skorch callbacks or None, default=None
        Callbacks added to skorch's default ones.
    predict_nonlinearity : callable, None or "auto", default="auto"
        Nonlinearity applied by ``predict_proba`` (unused by the imputers).
    warm_start : bool, default=False
        Whether ``fit`` continues from the current weights.
    verbose : int, default=1
        Verbosity of the epoch log.
    device : str or torch.device, default="cpu"
        Where the module lives.
    compile : bool, default=False
        Whether to :func:`torch.compile` the module.
    use_caching : bool or "auto", default="auto"
        Whether scoring callbacks reuse the predictions of the epoch.
    torch_load_kwargs : dict or None, default=None
        Arguments of :func:`torch.load` when the net is unpickled.
    **kwargs : dict
        Dunder arguments of the components, such as ``module__n_features`` or
        ``optimizer__weight_decay``.

    See Also
    --------
    skorch.NeuralNet : The base class, which documents the parameters and attributes.
    """

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Return the criterion of the module output; the target is not used.

        Parameters
        ----------
        y_pred : Tensor of shape (B, K)
            Module output, the log importance weights of the batch.
        y_true : None
            Ignored (the imputers have no target).
        X : dict of str to Tensor, default=None
            Ignored.
        training : bool, default=False
            Ignored.

        Returns
        -------
        loss : Tensor of shape ()
            ``criterion_(y_pred)``, minus the mean importance-weighted bound for
            :class:`~skimpute.nn.NegIWBound`.
        """
        return self.criterion_(y_pred)

    def train_step(self, batch, **fit_params):
        """Run one optimisation step and check that its loss is finite.

        Parameters
        ----------
        batch : tuple
            ``(X_batch, None)`` as yielded by :class:`BatchIterator`.
        **fit_params : dict
            Passed on to :meth:`skorch.NeuralNet.train_step`.

        Returns
        -------
        step : dict
            The result of :meth:`skorch.NeuralNet.train_step`, with keys ``"loss"`` and
            ``"y_pred"``.

        Raises
        ------
        _NonFiniteLossError
            If the loss is nan or infinite; it records the loss, the epoch and the batch.
        """
        step = super().train_step(batch, **fit_params)
        self._check_finite_loss(step["loss"])
        return step

    def _check_finite_loss(self, loss):
        """Raise ``_NonFiniteLossError`` if `loss` is nan or infinite.

        Parameters
        ----------
        loss : Tensor
            The loss of the current training step.

        Raises
        ------
        _NonFiniteLossError
            If the loss is nan or infinite; it records the loss, the epoch and the batch.
        """
        if not torch.isfinite(loss).all():
            epoch = len(self.history)
            batch_number = (
                len(self.history[-1]["batches"]) if len(self.history) else 0
            )  # current one included
            raise _NonFiniteLossError(
                float(loss.detach().cpu().reshape(-1)[0]), epoch, batch_number
            )


def _observed_statistics(X, mask, scale):
    """Compute the per-column means and standard deviations of the observed entries.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data with ``np.nan`` for the missing entries.
    mask : ndarray of bool of shape (n_samples, n_features)
        True where the entry is observed.
    scale : bool
        If False, return zeros and ones (no standardisation).

    Returns
    -------
    mean : ndarray of shape (n_features,)
        Mean of the observed entries of each column (float64).
    std : ndarray of shape (n_features,)
        Population standard deviation of the observed entries of each column; 1 for constant
        columns and where it is not finite.
    """
    n_features = X.shape[1]
    if not scale:
        return np.zeros(n_features), np.ones(n_features)
    Xd = np.where(mask, X, 0.0).astype(np.float64)
    count = np.maximum(mask.sum(axis=0), 1)
    mean = Xd.sum(axis=0) / count
    var = (np.where(mask, Xd - mean, 0.0) ** 2).sum(axis=0) / count
    std = np.sqrt(var)
    std[~np.isfinite(std) | (std <= 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return mean, std


class NeuralNetMixin:
    """What every estimator that fits a skorch net shares, tabular or sequential.

    Building the net from the estimator's parameters (:meth:`_build_net`), drawing the fit and
    transform seeds (:meth:`_draw_seeds`), fitting inside :func:`torch.random.fork_rng`
    (:meth:`_fit_net`), checking ``hidden_layer_sizes`` and mapping a function of the fitted
    module over chunks of rows of bounded memory (:meth:`_map_chunks`). It is a base of
    :class:`BaseNNImputer` and of the sequence imputers' base; the class that uses it defines
    the parameters it reads (``lr``, ``max_epochs``, ``batch_size``, ``device``, ``callbacks``,
    ``verbose``, ``random_state``, ``net_params``, ``hidden_layer_sizes``) and the hooks
    ``_module_class``, ``_module_params``, ``_criterion_class``, ``_net_class``,
    ``_standardise`` and ``_floats_per_row``.
    """

    #: memory budget of one transform chunk, in bytes (the rows per chunk follow from it)
    _transform_memory_bytes = 256 * 2**20

    #: constraints of the parameters every neural estimator has
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "scale": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "device": [str, torch.device],
        "callbacks": [list, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "net_params": [dict, None],
    }

    def _check_params(self, X):
        """Check the parameters beyond ``_parameter_constraints``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The validated training data.

        Raises
        ------
        ValueError
            If ``hidden_layer_sizes`` is not a non-empty sequence of positive integers.
        """
        sizes = np.asarray(self.hidden_layer_sizes)
        if (
            sizes.ndim != 1
            or sizes.size == 0
            or not np.all(sizes == np.round(sizes))
            or np.any(sizes < 1)
        ):
            raise ValueError(
                "hidden_layer_sizes must be a non-empty sequence of positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )

    def _devices_for_rng(self):
        """Return the CUDA devices whose random state :func:`torch.random.fork_rng` must save.

        Returns
        -------
        devices : list of int
            The index of the CUDA device of ``device``, or an empty list on the CPU.
        """
        device = torch.device(self.device)
        if device.type == "cuda":
            return [device.index if device.index is not None else torch.cuda.current_device()]
        return []

    def _build_net(self, *module_args):
        """Build the (unfitted) skorch net from the estimator's parameters.

        Parameters
        ----------
        *module_args
            Passed to ``_module_params`` (``n_features, observed_rate`` for
            :class:`BaseNNImputer`).

        Returns
        -------
        net : ImputerNet
            The net, with Adam, :class:`BatchIterator`, no validation split, deep copies of
            ``callbacks`` (a progress bar added when ``verbose``) and ``net_params`` applied last.
        """
        callbacks = copy.deepcopy(self.callbacks) if self.callbacks is not None else []
        if self.verbose and not any(
            isinstance(cb[1] if isinstance(cb, tuple) else cb, ProgressBar) for cb in callbacks
        ):
            callbacks = [("progress_bar", ProgressBar())] + list(callbacks)
        params = {
            "module": self._module_class(),
            "criterion": self._criterion_class(),
            "optimizer": torch.optim.Adam,
            "lr": self.lr,
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
            "train_split": None,
            "iterator_train": BatchIterator,
            "iterator_train__shuffle": True,
            "callbacks": callbacks,
            "verbose": int(self.verbose),
            "device": self.device,
        }
        params.update({f"module__{k}": v for k, v in self._module_params(*module_args).items()})
        params.update(self._extra_net_params())
        params.update(copy.deepcopy(self.net_params) if self.net_params else {})
        return self._net_class()(**params)

    def _extra_net_params(self):
        """Return arguments of the net beyond the shared ones (none by default).

        Returns
        -------
        params : dict
            Keyword arguments of the ``_net_class()``, applied before ``net_params``.
        """
        return {}

    def _draw_seeds(self):
        """Draw the fit seed and the transform seed from ``random_state``.

        The transform seed is stored as ``_transform_seed``; the per-row generators of the
        transform-time methods derive from it (see :func:`~skimpute.nn.row_seeds`).

        Returns
        -------
        fit_seed : int
            The seed of torch's global generator during ``fit``.
        """
        rng = check_random_state(self.random_state)
        fit_seed, self._transform_seed = (
            int(s) for s in rng.randint(0, np.iinfo(np.int32).max, size=2)
        )
        return fit_seed

    def _fit_net(self, net, data, fit_seed):
        """Fit the net on `data` with torch's global generator seeded, and left as it was.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net built by :meth:`_build_net`.
        data : dict of str to ndarray
            The training data, passed to ``net.fit`` as ``X`` (no target).
        fit_seed : int
            Seed of torch's global generator inside :func:`torch.random.fork_rng`.

        Raises
        ------
        FloatingPointError
            If the training loss becomes nan or infinite (the net raises
            ``_NonFiniteLossError``).
        """
        try:
            with torch.random.fork_rng(devices=self._devices_for_rng()):
                torch.manual_seed(fit_seed)
                net.fit(data, None)
        except _NonFiniteLossError as err:
            raise FloatingPointError(
                f"{type(self).__name__}: the training loss became {err.value} at epoch {err.epoch} "
                f"(batch {err.batch}), so training was stopped. Try a smaller learning rate "
                f"(lr={self.lr!r}), keep scale=True so that the network sees standardised data, "
                "use a larger batch_size, or "
                "clip the gradients with callbacks=[skorch.callbacks.GradientNormClipping(10.0)]."
            ) from None

    def _chunks(self, X, mask, salt):
        """Split the rows into standardised chunks that fit the transform memory budget.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated data with ``np.nan`` for the missing entries.
        mask : ndarray of bool of shape (n_samples, n_features)
            True where observed.
        salt : int
            Added to the transform seed, so that each method draws its own numbers.

        Yields
        ------
        start : int
            Position of the chunk's first row.
        stop : int
            Position after its last row.
        X_chunk : Tensor of shape (B, n_features)
            Zero-filled standardised rows (float32), on the net's device.
        mask_chunk : Tensor of shape (B, n_features)
            Their mask (float32, 1.0 where observed).
        noise : skimpute.nn.RowNoise
            Per-row noise source seeded from the rows' positions.
        """
        n, n_features = X.shape
        rows = max(1, int(self._transform_memory_bytes // (4 * self._floats_per_row(n_features))))
        device = self.net_.device
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            Xs, m = self._standardise(X[start:stop], mask[start:stop])
            noise = RowNoise(row_seeds(self._transform_seed + salt, start, stop), device)
            yield (
                start,
                stop,
                torch.as_tensor(Xs, device=device),
                torch.as_tensor(m, device=device),
                noise,
            )

    def _module_for_inference(self):
        """Return the fitted module, switched to evaluation mode.

        Returns
        -------
        module : torch.nn.Module
            ``net_.module_``.
        """
        module = self.net_.module_
        module.train(False)
        return module

    def _map_chunks(self, X, mask, chunk_fn, salt):
        """Apply a function of the fitted module to the rows, chunk by chunk.

        Parameters
        ----------
        X, mask : ndarray of shape (n_samples, n_features)
            As in :meth:`_chunks`.
        chunk_fn : callable
            Called as ``chunk_fn(module, X_chunk, mask_chunk, noise)`` under
            :func:`torch.inference_mode` with the module in evaluation mode, the zero-filled
            standardised rows and their mask (Tensors of shape ``(B, n_features)``) and the
            chunk's :class:`~skimpute.nn.RowNoise`; returns a Tensor of shape
            ``(B, n_features)``.
        salt : int
            Added to the transform seed (0 for ``transform``, so that functions called with 0
            see the importance samples of ``transform``).

        Returns
        -------
        out : ndarray of shape (n_samples, n_features)
            The outputs of `chunk_fn`, stacked (float64).
        """
        module = self._module_for_inference()
        out = np.empty(X.shape, dtype=np.float64)
        with torch.inference_mode():
            for start, stop, Xt, mt, noise in self._chunks(X, mask, salt=salt):
                out[start:stop] = chunk_fn(module, Xt, mt, noise).double().cpu().numpy()
        return out


class BaseNNImputer(NeuralNetMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Base class of the neural imputers: everything but the model.

    It validates the input (NaN = missing), standardises each column with its observed mean and
    standard deviation, fits a skorch :class:`ImputerNet` (stored as ``net_``) on
    ``{"X": zero-filled standardised data, "mask": 1 where observed}`` inside
    :func:`torch.random.fork_rng`, and transforms in chunks of rows under
    :func:`torch.inference_mode`, returning the observed entries bit for bit.

    A subclass defines its parameters in ``__init__`` (with ``_parameter_constraints``) and these
    hooks:

    - ``_module_class()`` and ``_module_params(n_features, observed_rate)``: the torch module and
      its keyword arguments (the module's ``forward(X, mask)`` returns what the criterion takes,
      log importance weights ``(B, K)`` for the variational models);
    - ``_criterion_class()`` (default :class:`~skimpute.nn.NegIWBound`) and ``_net_class()``
      (default :class:`ImputerNet`);
    - ``_impute_chunk(module, X, mask, noise)``, ``_log_likelihood_chunk(...)`` and
      ``_sample_chunk(..., n_draws)``: the default ones call the module's ``impute``,
      ``log_likelihood`` and ``sample`` methods (the protocol of the variational modules);
    - ``_floats_per_row(n_features)``: an estimate of the floats a row needs at transform, which
      sets the chunk size.

    Attributes
    ----------
    net_ : ImputerNet
        The fitted net; ``net_.module_`` is the torch module, ``net_.history`` the training log
        (``train_loss`` is minus the bound for the variational models).
    n_epochs_ : int
        Number of epochs run.
    mean_ : ndarray of shape (`n_features_in_`,)
        Observed mean of each column (0 when ``scale=False``).
    scale_ : ndarray of shape (`n_features_in_`,)
        Observed standard deviation of each column (1 for constant columns or ``scale=False``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` has feature names that are all
        strings.

    See Also
    --------
    skimpute.NotMIWAEImputer : A subclass, the not-MIWAE and MIWAE imputer.

    Notes
    -----
    The base class reads these parameters, which a subclass must define: ``hidden_layer_sizes``,
    ``activation``, ``n_imputation_samples`` (``L``, the importance samples per row at
    transform, in ``score`` and in ``sample``), ``scale``, ``max_epochs``, ``batch_size``,
    ``lr``, ``device``, ``callbacks``, ``verbose``, ``random_state`` and ``net_params``; the
    constraints also cover ``latent_dim`` and ``n_importance_samples`` (``K``).

    ``fit`` draws two seeds from `random_state`: one seeds torch's global generator inside
    :func:`torch.random.fork_rng` for the weights and the batches, the other seeds the
    per-row generators of ``transform``, ``score`` and ``sample`` (see
    :func:`~skimpute.nn.row_seeds`), which are therefore deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute import NotMIWAEImputer
    >>> X = np.array([[1.0, 2.0], [np.nan, 3.0], [7.0, np.nan], [4.0, 5.0]])
    >>> imputer = NotMIWAEImputer(max_epochs=2, n_imputation_samples=10, random_state=0)
    >>> X_imputed = imputer.fit(X).transform(X)
    >>> X_imputed.shape, bool(np.isnan(X_imputed).any())
    ((4, 2), False)
    """

    _parameter_constraints: dict = {
        **NeuralNetMixin._parameter_constraints,
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "n_importance_samples": [Interval(Integral, 1, None, closed="left")],
        "n_imputation_samples": [Interval(Integral, 1, None, closed="left")],
    }

    # ------------------------------------------------------------------ hooks
    def _module_class(self):
        """Return the torch module class of the model (to be overridden).

        Returns
        -------
        module_class : type
            A :class:`torch.nn.Module` subclass whose ``forward(X, mask)`` takes the zero-filled
            standardised data and the mask, both ``(B, D)``.
        """
        raise NotImplementedError

    def _module_params(self, n_features, observed_rate):
        """Return the keyword arguments of the module (to be overridden).

        Parameters
        ----------
        n_features : int
            Number of features ``D``.
        observed_rate : ndarray of shape (n_features,)
            Fraction of observed entries of each column in the training data.

        Returns
        -------
        params : dict
            Keyword arguments of the module class, passed to the net as ``module__<key>``.
        """
        raise NotImplementedError

    def _criterion_class(self):
        """Return the criterion class, :class:`~skimpute.nn.NegIWBound` by default.

        Returns
        -------
        criterion_class : type
            A :class:`torch.nn.Module` subclass called on the module output.
        """
        return NegIWBound

    def _net_class(self):
        """Return the skorch net class, :class:`ImputerNet` by default.

        Returns
        -------
        net_class : type
            A :class:`skorch.NeuralNet` subclass.
        """
        return ImputerNet

    def _floats_per_row(self, n_features):
        """Estimate the number of floats one row needs at transform.

        Parameters
        ----------
        n_features : int
            Number of features ``D``.

        Returns
        -------
        n_floats : int
            About ``L * (10 D + 3 * max(hidden_layer_sizes) + 8)``; with
            ``_transform_memory_bytes`` it sets the rows per chunk.
        """
        width = max(int(np.max(self.hidden_layer_sizes)), 1)
        return getattr(self, "n_imputation_samples", 1) * (10 * n_features + 3 * width + 8)

    def _impute_chunk(self, module, X, mask, noise):
        """Impute a chunk of rows with the module's ``impute`` method.

        Parameters
        ----------
        module : torch.nn.Module
            The fitted module, in evaluation mode.
        X : Tensor of shape (B, D)
            Zero-filled standardised data.
        mask : Tensor of shape (B, D)
            Mask, 1.0 where observed.
        noise : skimpute.nn.RowNoise
            The chunk's per-row noise source.

        Returns
        -------
        X_hat : Tensor of shape (B, D)
            Imputations on the standardised scale (``L = n_imputation_samples`` samples).
        """
        return module.impute(X, mask, self.n_imputation_samples, noise)

    def _log_likelihood_chunk(self, module, X, mask, noise):
        """Estimate ``log p(x_o, s)`` of a chunk with the module's ``log_likelihood`` method.

        Parameters
        ----------
        module : torch.nn.Module
            The fitted module, in evaluation mode.
        X : Tensor of shape (B, D)
            Zero-filled standardised data.
        mask : Tensor of shape (B, D)
            Mask, 1.0 where observed.
        noise : skimpute.nn.RowNoise
            The chunk's per-row noise source.

        Returns
        -------
        log_likelihood : Tensor of shape (B,)
            Importance-weighted bound of each row, on the standardised scale, with
            ``L = n_imputation_samples`` samples.
        """
        return module.log_likelihood(X, mask, self.n_imputation_samples, noise)

    def _sample_chunk(self, module, X, mask, noise, n_draws):
        """Draw multiple imputations of a chunk with the module's ``sample`` method.

        Parameters
        ----------
        module : torch.nn.Module
            The fitted module, in evaluation mode.
        X : Tensor of shape (B, D)
            Zero-filled standardised data.
        mask : Tensor of shape (B, D)
            Mask, 1.0 where observed.
        noise : skimpute.nn.RowNoise
            The chunk's per-row noise source.
        n_draws : int
            Number of completed data sets to draw.

        Returns
        -------
        draws : Tensor of shape (n_draws, B, D)
            Completed rows on the standardised scale.
        """
        return module.sample(X, mask, self.n_imputation_samples, n_draws, noise)

    def _use_scaling(self):
        """Return whether ``fit`` standardises the columns (the ``scale`` parameter by default).

        Returns
        -------
        scale : bool
            True to standardise with the observed means and standard deviations.
        """
        return bool(self.scale)

    def _score_log_jacobian(self, mask):
        """Return the log-Jacobian of the standardisation that :meth:`score` subtracts.

        Parameters
        ----------
        mask : ndarray of bool of shape (n_samples, n_features)
            True where observed.

        Returns
        -------
        log_jacobian : float
            ``sum over the observed entries of log scale_j``, the change of units from the
            standardised scale to that of ``X`` (0 for a subclass whose chunk bounds already
            include it).
        """
        return float((mask * np.log(self.scale_)).sum())

    # ---------------------------------------------------------------- helpers
    def _standardise(self, X, mask):
        """Standardise with the fitted statistics and fill the missing entries with 0.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.
        mask : ndarray of bool of shape (n_samples, n_features)
            True where observed.

        Returns
        -------
        X_std : ndarray of shape (n_samples, n_features)
            ``(X - mean_) / scale_`` where observed, 0 elsewhere (float32).
        mask_float : ndarray of shape (n_samples, n_features)
            The mask as float32, 1.0 where observed.
        """
        Xs = np.where(mask, (X - self.mean_) / self.scale_, 0.0)
        return Xs.astype(np.float32), mask.astype(np.float32)

    def _validate(self, X, reset):
        """Validate `X` with scikit-learn's checks, NaN allowed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input.
        reset : bool
            True in ``fit`` (records ``n_features_in_`` and ``feature_names_in_``), False after.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The validated data, float64 or float32.
        """
        return validate_data(
            self, X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan", reset=reset
        )

    def _impute_standardised(self, X, mask):
        """Impute all the rows, chunk by chunk, on the standardised scale.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated data with ``np.nan`` for the missing entries.
        mask : ndarray of bool of shape (n_samples, n_features)
            True where observed.

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
            Imputations (float64) of every entry, observed ones included, standardised.
        """
        return self._map_chunks(X, mask, self._impute_chunk, salt=0)

    # ---------------------------------------------------------------- public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the network on data with missing values.

        The columns are standardised with their observed means and standard deviations, the
        missing entries filled with 0, and the net trained on ``{"X": data, "mask": s}`` to
        maximise the importance-weighted bound with ``K`` samples per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        ValueError
            If a column of `X` has no observed value, or ``hidden_layer_sizes`` is invalid.
        FloatingPointError
            If the training loss becomes nan or infinite.
        """
        X = self._validate(X, reset=True)
        mask = observed_mask(X)
        check_no_empty_columns(mask, self, getattr(self, "feature_names_in_", None))
        self._check_params(X)
        self.mean_, self.scale_ = _observed_statistics(X, mask, self._use_scaling())
        observed_rate = mask.mean(axis=0)
        Xs, m = self._standardise(X, mask)
        fit_seed = self._draw_seeds()
        net = self._build_net(X.shape[1], observed_rate)
        self._fit_net(net, {"X": Xs, "mask": m}, fit_seed)
        self.net_ = net
        self.n_epochs_ = len(net.history)
        return self

    def transform(self, X):
        """Impute the missing entries of `X`.

        Each missing entry is replaced by the self-normalised importance-sampling estimate of
        its conditional mean (or median) given ``x_o`` and ``s``, with ``L`` samples per row.
        The rows are processed in chunks of bounded memory under :func:`torch.inference_mode`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            ``X`` with its missing entries replaced; the observed entries are returned unchanged,
            in the dtype of ``X``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        mask = observed_mask(X)
        if mask.all():
            return X.copy()
        X_hat = self._impute_standardised(X, mask) * self.scale_ + self.mean_
        return np.where(mask, X, X_hat.astype(X.dtype))

    def score(self, X, y=None):
        """Return the mean per-row importance-weighted lower bound of ``log p(x_o, s)``.

        The bound is estimated with ``n_imputation_samples`` importance samples per row, with the
        seed drawn at fit (so it is deterministic), and is expressed in the units of ``X`` (the
        log-Jacobian of the standardisation is included). Higher is better, so
        :class:`~sklearn.model_selection.GridSearchCV` can use it without a scorer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        score : float
            Mean over the rows of the bound of ``log p(x_o, s)`` (nats per row).
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        mask = observed_mask(X)
        module = self._module_for_inference()
        total = 0.0
        with torch.inference_mode():
            for _, _, Xt, mt, noise in self._chunks(X, mask, salt=1):
                total += float(self._log_likelihood_chunk(module, Xt, mt, noise).double().sum())
        total -= self._score_log_jacobian(mask)
        return total / X.shape[0]

    def sample(self, X, n_imputations=5):
        """Draw multiple imputations by sampling importance resampling.

        For each row, ``L`` importance samples ``(z_k, x_m,k)`` are drawn and `n_imputations`
        of them are resampled with probabilities ``alpha_k``, giving approximate draws from
        ``p(x_m | x_o, s)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.
        n_imputations : int, default=5
            Number of completed data sets to draw.

        Returns
        -------
        X_imputed : ndarray of shape (n_imputations, n_samples, n_features)
            Draws from the model's ``p(x_m | x_o, s)``; the observed entries are those of `X`,
            in its dtype.

        Raises
        ------
        ValueError
            If `n_imputations` is not a positive integer.
        """
        check_is_fitted(self)
        if not isinstance(n_imputations, Integral) or n_imputations < 1:
            raise ValueError(f"n_imputations must be a positive integer, got {n_imputations!r}.")
        X = self._validate(X, reset=False)
        mask = observed_mask(X)
        module = self._module_for_inference()
        draws = np.empty((n_imputations,) + X.shape, dtype=np.float64)
        with torch.inference_mode():
            for start, stop, Xt, mt, noise in self._chunks(X, mask, salt=2):
                draws[:, start:stop] = (
                    self._sample_chunk(module, Xt, mt, noise, n_imputations).double().cpu().numpy()
                )
        draws = draws * self.scale_ + self.mean_
        return np.where(mask, X, draws.astype(X.dtype))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
