"""The autoregressive GRU baseline of the NAOMI paper (the "RNN" of its Table 1)."""

import torch
from torch import nn

from skimpute._sequence import BaseNNSequenceImputer
from skimpute.nn import StackedGRU, make_mlp

__all__ = ["AutoregressiveGRUImputer", "AutoregressiveGRUModule"]


class AutoregressiveGRUModule(nn.Module):
    """A forward GRU over ``[x_t, k_t]`` and an MLP that predicts the next step.

    Parameters
    ----------
    n_dims : int
        Values per step, ``D``.
    n_timesteps : int
        Steps per sequence, ``T`` (unused by the network; kept for the estimator's protocol).
    rnn_size : int, default=64
        Hidden size of each GRU layer.
    n_rnn_layers : int, default=2
        GRU layers.
    hidden_layer_sizes : sequence of int, default=(64,)
        Hidden widths of the decoder MLP.
    activation : str, default="relu"
        Activation of the decoder MLP.
    """

    def __init__(
        self,
        n_dims,
        n_timesteps,
        rnn_size=64,
        n_rnn_layers=2,
        hidden_layer_sizes=(64,),
        activation="relu",
    ):
        super().__init__()
        self.n_dims, self.n_timesteps = int(n_dims), int(n_timesteps)
        self.rnn = StackedGRU(self.n_dims + 1, rnn_size, n_rnn_layers)
        self.decoder = make_mlp(rnn_size, hidden_layer_sizes, self.n_dims, activation)

    def forward(self, X, mask):
        """Teacher-forced next-step squared error of each sequence.

        The GRU reads ``[x_t, k_t]`` (``k_t = 1`` where the step is observed); the decoder
        predicts ``x_{t+1}`` from its state after step ``t`` (``x_0`` from the zero state). The
        squared errors of the observed values are summed and divided by ``T``.

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Standardised values, 0 where missing.
        mask : Tensor of shape (B, T, D)
            1.0 where observed.

        Returns
        -------
        loss : Tensor of shape (B,)
            The loss of each sequence.
        """
        observed = mask > 0.5
        flag = observed.all(-1, keepdim=True).to(X.dtype)
        states = self.rnn(torch.cat([X, flag], -1))[:, :-1, -1]
        states = torch.cat([torch.zeros_like(states[:, :1]), states], 1)
        error = (self.decoder(states) - X) ** 2 * observed
        return error.sum((1, 2)) / X.shape[1]

    def impute(self, X, known, observed):
        """Fill the unknown steps left to right, each from the steps before it.

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Standardised values (any value where unknown).
        known : Tensor of bool of shape (B, T)
            Steps known to the model.
        observed : Tensor of bool of shape (B, T, D)
            Values of `X` kept at unknown steps (partially observed steps).

        Returns
        -------
        X_hat : Tensor of shape (B, T, D)
            The completed sequences.
        """
        B, T, _ = X.shape
        h = X.new_zeros(self.rnn.num_layers, B, self.rnn.hidden_size)
        ones = X.new_ones(B, 1)
        steps = []
        for t in range(T):
            value = torch.where(known[:, t, None], X[:, t], self.decoder(h[-1]))
            value = torch.where(observed[:, t], X[:, t], value)
            steps.append(value)
            h = self.rnn.step(torch.cat([value, ones], -1), h)
        return torch.stack(steps, 1)


class AutoregressiveGRUImputer(BaseNNSequenceImputer):
    """Impute sequences with a forward GRU, one step after the other.

    The autoregressive baseline of the NAOMI paper (its "RNN"): a GRU reads the sequence from
    the start and predicts each step from the steps before it; at transform, a missing step is
    replaced by its prediction, which the GRU then reads as if observed. Known steps after a gap
    are not used to fill it, which is what NAOMI's backward encoder adds. Training is teacher
    forcing on the next-step squared error of the observed values.

    Parameters
    ----------
    n_timesteps : int, default=None
        ``T``, the steps of each sequence of a 2-d input of ``T * D`` columns; None means
        ``T = n_features`` (``D = 1``). A 3-d input gives ``T`` by its shape.
    rnn_size : int, default=128
        Hidden size of each GRU layer.
    n_rnn_layers : int, default=2
        GRU layers.
    hidden_layer_sizes : array-like of int, default=(128,)
        Hidden widths of the decoder MLP.
    activation : {"relu", "tanh", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="relu"
        Activation of the decoder MLP.
    scale : bool, default=True
        Standardise each value dimension with the mean and standard deviation of its observed
        values.
    max_epochs : int, default=50
        Training epochs.
    batch_size : int, default=64
        Sequences per gradient step.
    lr : float, default=1e-3
        Learning rate of Adam.
    max_grad_norm : float or None, default=10.0
        Gradient norm clipping; None does not clip.
    device : str or torch.device, default="cpu"
        Where the network is trained and evaluated.
    n_threads : int or None, default=1
        torch threads (:func:`torch.set_num_threads`) while ``fit``, ``transform`` and the
        other methods run the network; torch's setting is restored afterwards. 1 is the fastest
        where processes share the cores (search workers, a busy machine) and makes the results
        independent of the number of cores; None leaves torch's setting as it is. See
        :ref:`threads`.
    callbacks : list of skorch callbacks, default=None
        Added to the net (deep-copied).
    verbose : int, default=0
        0 is silent; 1 shows skorch's progress bar and epoch log.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights and the batches; the global random states are left untouched.
    net_params : dict, default=None
        Extra arguments of the skorch net (dunder keys).

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the :class:`AutoregressiveGRUModule`.
    n_epochs_ : int
        Number of epochs run.
    mean_ : ndarray of shape (`n_dims_`,)
        Observed mean of each value dimension.
    scale_ : ndarray of shape (`n_dims_`,)
        Observed standard deviation of each value dimension.
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
    skimpute.NAOMISequenceImputer : Uses the known future too, and fills gaps coarse to fine.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.baselines import AutoregressiveGRUImputer
    >>> from skimpute.datasets import make_billiards
    >>> X_train, X_test = make_billiards(n_train=32, n_test=4, n_timesteps=10, random_state=0)
    >>> X_test[:, 3:] = np.nan
    >>> imputer = AutoregressiveGRUImputer(rnn_size=8, hidden_layer_sizes=(8,), max_epochs=1,
    ...                                    random_state=0).fit(X_train)
    >>> imputer.transform(X_test).shape
    (4, 10, 2)
    """

    def __init__(
        self,
        *,
        n_timesteps=None,
        rnn_size=128,
        n_rnn_layers=2,
        hidden_layer_sizes=(128,),
        activation="relu",
        scale=True,
        max_epochs=50,
        batch_size=64,
        lr=1e-3,
        max_grad_norm=10.0,
        device="cpu",
        n_threads=1,
        callbacks=None,
        verbose=0,
        random_state=None,
        net_params=None,
    ):
        self.n_timesteps = n_timesteps
        self.rnn_size = rnn_size
        self.n_rnn_layers = n_rnn_layers
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.scale = scale
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_grad_norm = max_grad_norm
        self.device = device
        self.n_threads = n_threads
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        self.net_params = net_params

    def _module_class(self):
        return AutoregressiveGRUModule
