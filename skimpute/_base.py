"""What every skimpute imputer shares: input checks and the observed-entry mask.

The first two helpers (:func:`observed_mask`, :func:`check_no_empty_columns`) are shared with the
non-neural baselines. :class:`BaseNNImputer` holds the neural imputers' common machinery:
validation, standardisation, seeding, building and fitting the skorch net, chunked transform,
``score`` and ``sample``; the part of it that the sequence imputers share too (building, seeding
and fitting the net, chunked inference) is :class:`NeuralNetMixin`. :class:`ImputerNet` is the
skorch net it builds and :class:`BatchIterator` the iterator that feeds it batches.
"""

import contextlib
import contextvars
import copy
import functools
import math
import warnings
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
    """Error raised inside the net's training when the loss or the weights are not finite.

    :meth:`BaseNNImputer.fit` catches it and raises a :class:`FloatingPointError` with a
    readable message.

    Parameters
    ----------
    value : float
        The non-finite loss (nan or inf), or the first non-finite weight.
    epoch : int
        The epoch of the failing step, counted from 1.
    batch : int
        The batch of the failing step within its epoch, counted from 1.
    what : {"loss", "weights"}, default="loss"
        Whether the training loss or the network's weights (checked at each epoch end, after
        the epoch's last optimiser step) became non-finite.
    """

    def __init__(self, value, epoch, batch, what="loss"):
        super().__init__(value, epoch, batch, what)
        self.value, self.epoch, self.batch, self.what = value, epoch, batch, what


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

    A :class:`skorch.NeuralNet` with three changes: :meth:`get_loss` hands the module output
    (the log importance weights ``(B, K)`` of the variational models) to the criterion alone,
    :meth:`train_step` stops the fit at the first non-finite loss (and :meth:`on_epoch_end` at
    non-finite weights), and a training interrupted inside an epoch (a
    :class:`KeyboardInterrupt`, which skorch catches) ends with the weights of the last
    completed epoch (:meth:`on_train_end`). It is built by :class:`BaseNNImputer` in ``fit``
    and stored as ``net_``.

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

    # ------------------------------------------------- epoch-end snapshots and interrupts
    def _module_names(self):
        """Return the attribute names of the registered modules (``module_``, ...)."""
        return [name + "_" for name in self._modules]

    def _copy_weights(self):
        """Return a copy of the state dicts of the registered modules, by attribute name."""
        return {
            name: {k: v.detach().clone() for k, v in getattr(self, name).state_dict().items()}
            for name in self._module_names()
        }

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Open a new epoch in the history; at a call's first epoch, copy the weights.

        The copy (the initial weights, or those a ``partial_fit`` starts from) is what
        :meth:`on_train_end` restores if this call is interrupted before an epoch completes.
        """
        super().on_epoch_begin(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        if getattr(self, "_last_epoch_state", None) is None:  # first epoch of this call
            self._completed_epochs = len(self.history) - 1
            self._last_epoch_state = self._copy_weights()

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Check that the weights are finite and keep a copy of them (the epoch completed).

        The net's own hook runs before the callbacks' (see :meth:`skorch.NeuralNet.notify`),
        so the copy is taken before a callback such as
        :class:`~skorch.callbacks.EarlyStopping` stops the training at this epoch end.

        Raises
        ------
        _NonFiniteLossError
            If a weight of a module is nan or infinite (after the epoch's last optimiser
            step, which no loss checks).
        """
        super().on_epoch_end(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )
        for name in self._module_names():
            for param in getattr(self, name).parameters():
                if not torch.isfinite(param).all():
                    value = float(param.detach()[~torch.isfinite(param)].reshape(-1)[0])
                    n_batches = len(self.history[-1]["batches"])
                    raise _NonFiniteLossError(value, len(self.history), n_batches, "weights")
        self._last_epoch_state = self._copy_weights()
        self._completed_epochs = len(self.history)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Roll back to the last completed epoch if training stopped inside an epoch.

        skorch's ``partial_fit`` catches a :class:`KeyboardInterrupt` (Ctrl+C, or a callback
        raising it) and ends the training normally. If that happened inside an epoch, the
        modules' weights are reset to the copy taken at the end of the last completed epoch
        (or at the start of the call), the history is cut after that epoch, and
        ``_interrupted_in_epoch`` records the interrupted epoch (counted from 1) for the
        estimator to report. A stop at an epoch end, such as
        :class:`~skorch.callbacks.EarlyStopping`'s, changes nothing. It runs before the
        callbacks' ``on_train_end`` (so ``EarlyStopping(load_best=True)`` still applies).
        """
        super().on_train_end(net, X=X, y=y, **kwargs)
        completed = getattr(self, "_completed_epochs", 0)
        state = getattr(self, "_last_epoch_state", None)
        self._interrupted_in_epoch = None
        if completed == 0 or completed != len(self.history):
            self._interrupted_in_epoch = completed + 1
            del self.history[completed:]
            for name, module_state in (state or {}).items():
                getattr(self, name).load_state_dict(module_state)
        self._last_epoch_state = None  # not kept in the fitted net (nor pickled)


def _observed_statistics(X, mask, scale, return_constant=False):
    """Compute the per-column means and standard deviations of the observed entries.

    A column is constant when its variance is within rounding of zero, relative to the column's
    magnitude (scikit-learn's test in :class:`~sklearn.preprocessing.StandardScaler`), so that
    data of any magnitude (``1e-15`` or ``1e15``) is standardised.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data with ``np.nan`` for the missing entries.
    mask : ndarray of bool of shape (n_samples, n_features)
        True where the entry is observed.
    scale : bool
        If False, return zeros and ones (no standardisation).
    return_constant : bool, default=False
        Whether to return the mask of the constant columns too.

    Returns
    -------
    mean : ndarray of shape (n_features,)
        Mean of the observed entries of each column (float64); for a constant column, its
        first observed value, exactly.
    std : ndarray of shape (n_features,)
        Population standard deviation of the observed entries of each column; 1 for constant
        columns and where it is not finite.
    constant : ndarray of bool of shape (n_features,)
        Only with `return_constant`: True for the constant columns (all False when `scale` is
        False).
    """
    n_features = X.shape[1]
    if not scale:
        stats = np.zeros(n_features), np.ones(n_features)
        return stats + (np.zeros(n_features, dtype=bool),) if return_constant else stats
    # C order: the sums, hence the statistics, do not depend on the input's memory layout
    Xd = np.ascontiguousarray(np.where(mask, X, 0.0), dtype=np.float64)
    count = np.maximum(mask.sum(axis=0), 1)
    mean = Xd.sum(axis=0) / count
    var = (np.where(mask, Xd - mean, 0.0) ** 2).sum(axis=0) / count
    std = np.sqrt(var)
    eps = np.finfo(np.float64).eps
    with np.errstate(over="ignore", invalid="ignore"):
        constant = np.isfinite(var) & (var <= count * eps * var + (count * mean * eps) ** 2)
    std[~np.isfinite(std) | constant] = 1.0
    first = mask.argmax(axis=0)
    mean[constant] = Xd[first, np.arange(n_features)][constant]
    return (mean, std, constant) if return_constant else (mean, std)


#: position, in the whole data, of the first row that the transform-time methods are given;
#: :func:`skimpute.transform_in_chunks` sets it (see :func:`_row_offset`) so that a chunk of rows
#: draws the per-row random numbers of its rows' positions in the whole data
_ROW_OFFSET = contextvars.ContextVar("skimpute_row_offset", default=0)


@contextlib.contextmanager
def _row_offset(offset):
    """Within the block, number the rows given to the transform-time methods from `offset`.

    The per-row random numbers of ``transform``, ``score``, ``sample`` and the other
    transform-time methods are seeded from the rows' positions (see
    :func:`~skimpute.nn.row_seeds`). Transforming rows ``start:stop`` of an array on their own
    inside ``with _row_offset(start)`` therefore gives, bit for bit, the rows ``start:stop`` of
    the transform of the whole array. The offset is a :class:`contextvars.ContextVar`: it holds
    for the current thread (or asyncio task) only, and for every skimpute estimator called in
    the block (an imputer inside a :class:`~sklearn.pipeline.Pipeline` included); it is restored
    on exit.

    Parameters
    ----------
    offset : int
        Position, in the whole data, of the first row of the arrays passed in the block.

    Yields
    ------
    None
    """
    token = _ROW_OFFSET.set(int(offset))
    try:
        yield
    finally:
        _ROW_OFFSET.reset(token)


def _restore_on_failure(fit):
    """Decorate a ``fit`` method so that it changes the estimator only if it succeeds.

    ``fit`` sets its fitted attributes as it goes (``n_features_in_`` and ``mean_`` before the
    training, ``net_`` after it). If it raises, any exception included (a failing callback, a
    non-finite loss, a :class:`KeyboardInterrupt`), the decorated method restores the
    attributes the estimator had before the call: a fresh estimator stays unfitted and a fitted
    one keeps its previous fit, whole. The attributes are restored by reference (``fit``
    replaces them rather than changing them in place), so the cost is one dict copy.

    Parameters
    ----------
    fit : callable
        The ``fit(self, X, y=None, ...)`` method.

    Returns
    -------
    wrapped : callable
        The method with the all-or-nothing behaviour.
    """

    @functools.wraps(fit)
    def wrapped(self, *args, **kwargs):
        before = dict(vars(self))
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise

    return wrapped


def _snapshot_net(net):
    """Save what an epoch of `net` changes, and return the function that puts it back.

    Parameters
    ----------
    net : skorch.NeuralNet
        An initialised net.

    Returns
    -------
    restore : callable
        Called with no argument, it loads the saved weights of the modules and states of the
        optimisers, cuts ``net.history`` back to its saved length and resets the net's other
        attributes to the saved references.
    """
    attributes = dict(vars(net))
    n_history = len(net.history)
    states = {
        name + "_": copy.deepcopy(getattr(net, name + "_").state_dict())
        for name in list(net._modules) + list(net._optimizers)
    }

    def restore():
        vars(net).update(attributes)
        del net.history[n_history:]
        for attr, state in states.items():
            getattr(net, attr).load_state_dict(state)

    return restore


class NeuralNetMixin:
    """What every estimator that fits a skorch net shares, tabular or sequential.

    Building the net from the estimator's parameters (:meth:`_build_net`), drawing the fit and
    transform seeds (:meth:`_draw_seeds`), fitting inside :func:`torch.random.fork_rng`
    (:meth:`_fit_net`), checking ``hidden_layer_sizes`` and mapping a function of the fitted
    module over chunks of rows of bounded memory (:meth:`_map_chunks`). It is a base of
    :class:`BaseNNImputer` and of the sequence imputers' base; the class that uses it defines
    the parameters it reads (``lr``, ``max_epochs``, ``batch_size``, ``device``, ``callbacks``,
    ``verbose``, ``random_state``, ``net_params``, ``hidden_layer_sizes``, and ``n_threads``
    where it has one: see :meth:`_torch_threads`) and the hooks
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
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
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

    @contextlib.contextmanager
    def _torch_threads(self):
        """Run the block with ``n_threads`` torch threads, then restore torch's setting.

        :func:`torch.set_num_threads` is global to the process (to the calling thread under
        OpenMP), so the count in force before the block is set back when it ends, also on an
        error. An estimator without an ``n_threads`` parameter, or ``n_threads=None``, leaves
        torch's setting as it is.

        Yields
        ------
        n_threads : int
            The torch threads in force inside the block.
        """
        n_threads = getattr(self, "n_threads", None)
        previous = torch.get_num_threads()
        if n_threads is None or n_threads == previous:
            yield previous
            return
        torch.set_num_threads(int(n_threads))
        try:
            yield int(n_threads)
        finally:
            torch.set_num_threads(previous)

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
            The net, with Adam, :class:`BatchIterator`, no validation split, the model's own
            callbacks (:meth:`_extra_callbacks`) then deep copies of ``callbacks`` (a progress
            bar added when ``verbose``), and ``net_params`` applied last.

        Notes
        -----
        The estimator records `module_args` as ``_net_args``, so that
        :func:`skimpute.load_weights` can rebuild the same net.
        """
        callbacks = copy.deepcopy(self.callbacks) if self.callbacks is not None else []
        if self.verbose and not any(
            isinstance(cb[1] if isinstance(cb, tuple) else cb, ProgressBar) for cb in callbacks
        ):
            callbacks = [("progress_bar", ProgressBar())] + list(callbacks)
        callbacks = list(self._extra_callbacks()) + list(callbacks)
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
        self._net_args = module_args  # what skimpute.persist.load_weights rebuilds the net from
        params.update({f"module__{k}": v for k, v in self._module_params(*module_args).items()})
        params.update(self._extra_net_params())
        params.update(copy.deepcopy(self.net_params) if self.net_params else {})
        return self._net_class()(**params)

    def _extra_callbacks(self):
        """Return the model's own skorch callbacks, put before the user's (none by default).

        Returns
        -------
        callbacks : list of (str, skorch.callbacks.Callback)
            Named callbacks that the model's training needs (e.g. a schedule).
        """
        return []

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
        transform-time methods derive from it (see :func:`~skimpute.nn.row_seeds`). The fit seed
        is stored as ``_fit_seed``, from which ``partial_fit`` seeds each of its epochs.

        Returns
        -------
        fit_seed : int
            The seed of torch's global generator during ``fit``.
        """
        rng = check_random_state(self.random_state)
        fit_seed, self._transform_seed = (
            int(s) for s in rng.randint(0, np.iinfo(np.int32).max, size=2)
        )
        self._fit_seed = fit_seed
        return fit_seed

    def _fit_net(self, net, data, fit_seed, epochs=None):
        """Fit the net on `data` with torch's global generator seeded, and left as it was.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net built by :meth:`_build_net`.
        data : dict of str to ndarray
            The training data, passed to ``net.fit`` as ``X`` (no target).
        fit_seed : int
            Seed of torch's global generator inside :func:`torch.random.fork_rng`.
        epochs : int or None, default=None
            None: ``net.fit`` (initialise, then ``max_epochs`` epochs). An int: that many more
            epochs with ``net.partial_fit``, which initialises the net only if it is not yet.

        Warns
        -----
        UserWarning
            If the training was interrupted (a :class:`KeyboardInterrupt`) inside an epoch
            after an epoch completed: the net keeps the weights of the last completed epoch and
            its history ends there (see :meth:`ImputerNet.on_train_end`).

        Raises
        ------
        FloatingPointError
            If the training loss or a weight becomes nan or infinite (the net raises
            ``_NonFiniteLossError``).
        KeyboardInterrupt
            If the training was interrupted before its first epoch completed.
        """
        name = type(self).__name__
        net._last_epoch_state = None  # ImputerNet's copy of the weights, for this call only
        try:
            with self._torch_threads(), torch.random.fork_rng(devices=self._devices_for_rng()):
                torch.manual_seed(fit_seed)
                if epochs is None:
                    net.fit(data, None)
                else:
                    net.partial_fit(data, None, epochs=epochs)
        except _NonFiniteLossError as err:
            if err.what == "weights":
                what = f"the network weights became {err.value} at the end of epoch {err.epoch}"
            else:
                what = f"the training loss became {err.value} at epoch {err.epoch}"
            raise FloatingPointError(
                f"{name}: {what} "
                f"(batch {err.batch}), so training was stopped. Try a smaller learning rate "
                f"(lr={self.lr!r}), keep scale=True so that the network sees standardised data, "
                "use a larger batch_size, or "
                "clip the gradients with callbacks=[skorch.callbacks.GradientNormClipping(10.0)]."
            ) from None
        finally:
            net._last_epoch_state = None  # also when training failed: never kept nor pickled
        interrupted = getattr(net, "_interrupted_in_epoch", None)
        if interrupted == 1:
            raise KeyboardInterrupt(
                f"{name}: training was interrupted during epoch 1, before any epoch completed; "
                "the estimator is left as it was before fit."
            )
        if interrupted is not None:
            warnings.warn(
                f"{name}: training was interrupted during epoch {interrupted}; the estimator "
                f"keeps the weights of epoch {interrupted - 1}, the last completed one "
                f"(n_epochs_={interrupted - 1}), and net_.history ends there.",
                UserWarning,
                stacklevel=2,
            )

    def _fit_one_more_epoch(self, data, net=None, fit_seed=None):
        """Train one more epoch on `data`: the part of ``partial_fit`` after the validation.

        Parameters
        ----------
        data : dict of str to ndarray
            The standardised training block, passed to ``net.partial_fit`` as ``X``.
        net : skorch.NeuralNet or None, default=None
            The new net of a first call (with `fit_seed`); None continues ``net_``.
        fit_seed : int or None, default=None
            The fit seed of a first call; None takes the one of the earlier fit.

        Returns
        -------
        self : object
            The estimator, trained for one more epoch; the epoch is seeded with ``fit_seed +
            n_epochs_``. If the epoch raises or is interrupted, a continued estimator is left
            as it was before the call.
        """
        if net is None:
            net = self.net_
            # (an estimator from before partial_fit existed has no _fit_seed)
            fit_seed = getattr(self, "_fit_seed", self._transform_seed)
            restore_net, n_done, n_history = _snapshot_net(net), self.n_epochs_, len(net.history)
        else:
            restore_net, n_done, n_history = None, 0, 0
        try:
            self._fit_net(net, data, fit_seed + n_done, epochs=1)
        except BaseException:
            if restore_net is not None:
                restore_net()
            raise
        if restore_net is not None and getattr(net, "_interrupted_in_epoch", None) is not None:
            restore_net()  # as _fit_net warned: back to the last completed epoch, the previous
        self.net_ = net
        # (a net loaded by load_weights has an empty history, so count from n_epochs_)
        self.n_epochs_ = n_done + len(net.history) - n_history
        return self

    def _rows_per_chunk(self, n_features):
        """Return the number of rows of one transform chunk.

        The rows are processed in chunks of this many rows (the last one shorter), from the
        first row. :func:`skimpute.transform_in_chunks` reads blocks of a multiple of it, so
        that it computes the same chunks as ``transform`` of the whole data (a row's result
        can differ in its last bits with the chunk it is computed in).

        Parameters
        ----------
        n_features : int
            Number of columns of the data the chunks are cut from (``T * D`` for flattened
            sequences).

        Returns
        -------
        rows : int
            ``_transform_memory_bytes // (4 * _floats_per_row(n_features))``, at least 1.
        """
        return max(1, int(self._transform_memory_bytes // (4 * self._floats_per_row(n_features))))

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
            Per-row noise source seeded from the rows' positions (counted from the offset of
            :func:`_row_offset`, 0 outside it).
        """
        n, n_features = X.shape
        rows = self._rows_per_chunk(n_features)
        device = self.net_.device
        offset = _ROW_OFFSET.get()
        # n_threads torch threads while the caller computes on the chunks (between the yields)
        with self._torch_threads():
            for start in range(0, n, rows):
                stop = min(n, start + rows)
                Xs, m = self._standardise(X[start:stop], mask[start:stop])
                seeds = row_seeds(self._transform_seed + salt, offset + start, offset + stop)
                noise = RowNoise(seeds, device)
                yield (
                    start,
                    stop,
                    # contiguous, so that an F-ordered input (a DataFrame's) gives the same
                    # numbers
                    torch.as_tensor(np.ascontiguousarray(Xs), device=device),
                    torch.as_tensor(np.ascontiguousarray(m), device=device),
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

    def _unstandardise(self, X_hat):
        """Bring standardised imputations back to the scale of the data.

        A column that was constant at fit (with standardisation) gets its constant: the
        network's output there has no scale to be brought back with (the limit of training is
        that constant, reached here exactly and at any magnitude).

        Parameters
        ----------
        X_hat : ndarray of shape (..., n_samples, n_features)
            Imputations on the standardised scale (float64).

        Returns
        -------
        X_hat : ndarray of shape (..., n_samples, n_features)
            ``X_hat * scale_ + mean_``, with ``mean_`` in the constant columns (a new array).
        """
        X_hat = X_hat * self.scale_ + self.mean_
        constant = getattr(self, "_constant_columns", None)  # absent from older pickles
        if constant is not None and constant.any():
            X_hat[..., constant] = self.mean_[constant]
        return X_hat

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
    @_restore_on_failure
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
            If the training loss or a weight becomes nan or infinite.
        KeyboardInterrupt
            If the training is interrupted before its first epoch completes.

        Warns
        -----
        UserWarning
            If the training is interrupted inside a later epoch: the estimator keeps the
            weights of the last completed epoch.

        Notes
        -----
        If ``fit`` raises, the estimator is left as it was before the call (unfitted, or with
        its previous fit, whole).
        """
        X, mask, net, fit_seed = self._start_fit(X)
        Xs, m = self._standardise(X, mask)
        self._fit_net(net, {"X": Xs, "mask": m}, fit_seed)
        self.net_ = net
        self.n_epochs_ = len(net.history)
        return self

    def _start_fit(self, X):
        """Run the steps of ``fit`` before the training, which ``partial_fit`` shares.

        Validate `X` (recording ``n_features_in_``), check it and the parameters, compute the
        standardisation statistics (``mean_``, ``scale_``), draw the seeds and build the net.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data with ``np.nan`` for the missing entries.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The validated data.
        mask : ndarray of bool of shape (n_samples, n_features)
            True where observed.
        net : ImputerNet
            The net, built and not yet initialised.
        fit_seed : int
            The seed of torch's global generator for the training.

        Raises
        ------
        ValueError
            If a column of `X` has no observed value, or a parameter is invalid.
        """
        X = self._validate(X, reset=True)
        mask = observed_mask(X)
        check_no_empty_columns(mask, self, getattr(self, "feature_names_in_", None))
        self._check_params(X)
        self.mean_, self.scale_, self._constant_columns = _observed_statistics(
            X, mask, self._use_scaling(), return_constant=True
        )
        fit_seed = self._draw_seeds()
        net = self._build_net(X.shape[1], mask.mean(axis=0))
        return X, mask, net, fit_seed

    @_fit_context(prefer_skip_nested_validation=True)
    @_restore_on_failure
    def partial_fit(self, X, y=None):
        """Train the network for one more epoch, on the block of rows `X`.

        For data that do not fit in memory, or that arrive over time: each call runs one pass
        over the rows of `X` in shuffled batches of ``batch_size`` (one epoch, as skorch's
        ``net.partial_fit``), continuing from the weights and the optimiser state that the
        earlier calls (or an earlier ``fit``) left; ``max_epochs`` is not used. ``fit`` starts
        over from scratch.

        The first call on an unfitted estimator does what ``fit`` does before its training:
        it validates `X` (recording ``n_features_in_`` and the feature names), computes the
        standardisation (``mean_``, ``scale_``) from this first block, draws the seeds from
        ``random_state`` and builds the net. The statistics are then fixed: later blocks are
        standardised with those of the first block, so make the first block large enough and
        representative of the data (for example a random sample of the rows rather than the
        first rows of a sorted file). Later calls need the same columns (number and names).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A block of rows with ``np.nan`` for the missing entries. In the first call every
            column needs an observed value; in later calls a column may be entirely missing in
            the block (the statistics are already fixed).
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            The estimator, trained for one more epoch.

        Raises
        ------
        ValueError
            If the first block has a column with no observed value or a parameter is invalid,
            or a later block does not have the columns of the first.
        FloatingPointError
            If the training loss or a weight becomes nan or infinite.
        KeyboardInterrupt
            If the first call is interrupted (the estimator stays unfitted).

        Warns
        -----
        UserWarning
            If a later call is interrupted inside its epoch: the estimator keeps the state of
            the epoch before, as if the call had not been made.

        Notes
        -----
        The epoch of each call is seeded with ``fit_seed + n_epochs_`` (the fit seed drawn
        from ``random_state`` in the first call, or in ``fit``), inside
        :func:`torch.random.fork_rng`: the same blocks in the same order with the same
        ``random_state`` give the same weights, torch's global generator is left as it was,
        and one call on an unfitted estimator trains exactly as ``fit`` with
        ``max_epochs=1``. ``n_epochs_`` grows by one per call.

        If a call raises or is interrupted, the estimator is left as it was before the call
        (weights, optimiser state and ``net_.history`` included; the state of callbacks such as
        :class:`~skorch.callbacks.EarlyStopping` is not restored).
        """
        if not hasattr(self, "net_"):
            X, mask, net, fit_seed = self._start_fit(X)
        else:
            X = self._validate(X, reset=False)
            mask = observed_mask(X)
            net = fit_seed = None
        Xs, m = self._standardise(X, mask)
        return self._fit_one_more_epoch({"X": Xs, "mask": m}, net, fit_seed)

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
        X_hat = self._unstandardise(self._impute_standardised(X, mask))
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
        draws = self._unstandardise(draws)
        return np.where(mask, X, draws.astype(X.dtype))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
