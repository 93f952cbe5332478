"""The public NAOMI sequence imputer."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from skimpute._base import observed_mask
from skimpute._sequence import BaseNNSequenceImputer
from skimpute.naomi._module import NAOMIModule, TrajectoryDiscriminator
from skimpute.naomi._net import NAOMINet

#: the named training masks: the range of the fraction of observed steps hidden
TRAIN_MASKS = {"naomi": (0.8, 1.0), "forward": (1.0, 1.0)}


def _is_stochastic(estimator):
    if not estimator.stochastic:
        raise AttributeError(
            "sample is available with stochastic=True only: the deterministic model has one "
            "imputation per sequence (transform)."
        )
    return True


class NAOMISequenceImputer(BaseNNSequenceImputer):
    """Imputation of long sequences with NAOMI, coarse to fine.

    NAOMI (Non-AutOregressive Multiresolution Imputation) [1]_ encodes a sequence with missing
    steps with a forward GRU (the known past) and a backward GRU (the values and the mask of the
    future), and fills the gaps recursively from coarse to fine: between the last step ``i`` of
    the known prefix and the next known step ``j``, the decoder ``g(r)`` of step size
    ``s = 2^r`` (the largest with ``2 s <= j - i``) predicts ``x_{i+s}`` from the forward state
    at ``i`` and the backward state at ``i + 2s``; the imputed step becomes known, the states
    are updated, and the rule repeats (Algorithm 1; :func:`~skimpute.naomi.imputation_order`).
    The decoders output the values (deterministic dynamics, squared error) or a Gaussian with a
    learned scale (stochastic dynamics, negative log-likelihood); an optional adversarial stage
    trains the generator against a discriminator of transitions.

    The input is ``n`` sequences of ``T`` steps of ``D`` values, ``(n, T, D)``, or flattened to
    ``(n, T * D)`` with ``n_timesteps=T`` so that the imputer fits a
    :class:`~sklearn.pipeline.Pipeline`; the output has the input's shape. A step counts as
    known when all its ``D`` values are observed; the observed values of a partially observed
    step are kept. Each sequence has its own mask, in training and at transform.

    Read more in :doc:`/naomi`.

    Parameters
    ----------
    n_timesteps : int, default=None
        ``T``, the steps of each sequence of a 2-d input of ``T * D`` columns; None means
        ``T = n_features`` (``D = 1``). A 3-d input gives ``T`` by its shape.
    n_resolutions : int, default=None
        ``R``, the number of decoders ``g(1), ..., g(R)``, of step sizes ``1, 2, ...,
        2^(R-1)``; None means as many as ``T`` allows (:func:`~skimpute.naomi.max_resolutions`,
        7 for ``T = 200``). ``n_resolutions=1`` is the paper's SingleRes baseline, which fills
        every gap left to right.
    rnn_size : int, default=128
        Hidden size of each layer of the forward and backward GRUs (the authors: 300 for
        basketball).
    n_rnn_layers : int, default=2
        Layers of each GRU (the paper: 2).
    hidden_layer_sizes : array-like of int, default=(128,)
        Hidden widths of each decoder (the paper: "2-layer fully-connected networks", one hidden
        layer of 200 in the authors' code).
    activation : {"relu", "tanh", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="relu"
        Activation of the decoders' hidden layers.
    stochastic : bool, default=False
        False: the decoders output the values and are trained on the squared error (the paper's
        billiards). True: they output a Gaussian mean and a softplus scale, are trained on its
        negative log-likelihood (basketball), :meth:`transform` imputes with the means and
        :meth:`sample` draws imputations.
    train_mask : {"naomi", "forward"} or tuple of (float, float), default="naomi"
        How the training masks are drawn, per sequence: a fraction of the observed steps,
        drawn uniformly in ``(low, high)``, is hidden, always keeping the first observed step.
        ``"naomi"`` is ``(0.8, 1.0)``: with complete sequences between ``floor(0.8 T)`` and
        ``T - 1`` missing steps, the authors' masks; ``"forward"`` is ``(1.0, 1.0)``: only the
        first step known, forward inference (section 4.3). With incomplete training data the
        hidden steps are taken among the observed ones.
    teacher_forcing : float, default=2/3
        Fraction of the `max_epochs` pretraining epochs trained with teacher forcing (rounded
        up); the remaining ones minimise the squared error of the free-running imputation (with
        the decoders' means), back-propagated through it: the authors' billiards schedule.
        Teacher forcing alone never shows the decoders their own imputations, which then drift
        on sparse sequences; the free-running epochs fix that, at several times the cost of a
        teacher-forced epoch. 1.0 trains with teacher forcing only (the authors' basketball
        pretraining).
    adversarial : bool, default=False
        Whether to run the adversarial stage (section 3.4) after pretraining: needs complete
        training sequences and ``T >= 2``.
    adversarial_epochs : int, default=10
        Epochs of the adversarial stage.
    discriminator_size : int, default=128
        Hidden size of the discriminator's GRU and hidden layer (the authors: 128).
    adversarial_lr : float, default=3e-6
        Learning rate of the generator in the adversarial stage (the authors: 3e-6).
    discriminator_lr : float, default=1e-3
        Learning rate of the discriminator (the authors: 1e-3).
    n_critic : int, default=3
        Discriminator updates per adversarial batch (the authors: 3).
    scale : bool, default=True
        Standardise each value dimension with the mean and standard deviation of its observed
        values before training.
    max_epochs : int, default=50
        Pretraining epochs (the authors: 50 for basketball).
    batch_size : int, default=64
        Sequences per gradient step (the authors: 64).
    lr : float, default=1e-3
        Learning rate of Adam in pretraining (the authors: 1e-3).
    max_grad_norm : float or None, default=10.0
        Gradient norm clipping of each network (the authors: 10); None does not clip.
    device : str or torch.device, default="cpu"
        Where the networks are trained and evaluated.
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
        Seeds the weights, the batches, the training masks and :meth:`sample` (a seed is drawn
        at fit, so :meth:`sample` is deterministic, also after pickling). The global torch and
        numpy random states are left untouched.
    net_params : dict, default=None
        Extra arguments of the skorch net (dunder keys), the escape hatch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the :class:`~skimpute.naomi.NAOMIModule`,
        ``net_.discriminator_`` the discriminator when `adversarial`, ``net_.history`` the
        training log (``train_loss``; ``stage`` per epoch; ``d_loss``, ``model_prob`` and
        ``g_step`` per adversarial batch).
    n_epochs_ : int
        Number of epochs run (pretraining and adversarial).
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

    See Also
    --------
    skimpute.baselines.AutoregressiveGRUImputer : A forward-only GRU, the autoregressive
        baseline.
    skimpute.baselines.LinearInterpolationImputer : Linear interpolation between known steps.
    skimpute.baselines.KNNSequenceImputer : The mean of the nearest training sequences.
    skimpute.datasets.make_billiards : The paper's billiards simulator.

    Notes
    -----
    Training draws a mask per sequence and batch; the forward GRU reads the true sequence
    (teacher forcing), the backward GRU the masked one, and every decoder is trained at every
    step where it fits, the known steps included, as in the authors' code. Unlike that code,
    whose minibatches share one mask, every sequence has its own mask, in training and at
    transform.

    Imputing a sequence with ``T_m`` missing steps takes about ``T + T_m`` forward and
    ``T_m log2(gap)`` backward GRU steps (the backward states are refreshed only where a later
    pivot reads them), against ``2 T T_m`` steps to re-run both GRUs after each imputed step;
    the sequences of a chunk are imputed together, each following its own mask.

    References
    ----------
    .. [1] Y. Liu, R. Yu, S. Zheng, E. Zhan and Y. Yue, "NAOMI: Non-Autoregressive
       Multiresolution Sequence Imputation", NeurIPS 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute import NAOMISequenceImputer
    >>> from skimpute.ampute import sequence_steps
    >>> from skimpute.datasets import make_billiards
    >>> X_train, X_test = make_billiards(n_train=64, n_test=8, n_timesteps=20, random_state=0)
    >>> X_missing, mask = sequence_steps(X_test, (12, 16), random_state=0)
    >>> imputer = NAOMISequenceImputer(rnn_size=16, hidden_layer_sizes=(16,), max_epochs=2,
    ...                                random_state=0).fit(X_train)
    >>> X_imputed = imputer.transform(X_missing)
    >>> X_imputed.shape, bool(np.isnan(X_imputed).any())
    ((8, 20, 2), False)
    >>> bool((X_imputed[mask] == X_test[mask]).all())  # observed steps unchanged
    True
    """

    _parameter_constraints: dict = {
        **BaseNNSequenceImputer._parameter_constraints,
        "n_resolutions": [Interval(Integral, 1, None, closed="left"), None],
        "stochastic": ["boolean"],
        "train_mask": [StrOptions(set(TRAIN_MASKS)), tuple],
        "teacher_forcing": [Interval(Real, 0, 1, closed="both")],
        "adversarial": ["boolean"],
        "adversarial_epochs": [Interval(Integral, 1, None, closed="left")],
        "discriminator_size": [Interval(Integral, 1, None, closed="left")],
        "adversarial_lr": [Interval(Real, 0, None, closed="neither")],
        "discriminator_lr": [Interval(Real, 0, None, closed="neither")],
        "n_critic": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        *,
        n_timesteps=None,
        n_resolutions=None,
        rnn_size=128,
        n_rnn_layers=2,
        hidden_layer_sizes=(128,),
        activation="relu",
        stochastic=False,
        train_mask="naomi",
        teacher_forcing=2 / 3,
        adversarial=False,
        adversarial_epochs=10,
        discriminator_size=128,
        adversarial_lr=3e-6,
        discriminator_lr=1e-3,
        n_critic=3,
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
        self.n_resolutions = n_resolutions
        self.rnn_size = rnn_size
        self.n_rnn_layers = n_rnn_layers
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.stochastic = stochastic
        self.train_mask = train_mask
        self.teacher_forcing = teacher_forcing
        self.adversarial = adversarial
        self.adversarial_epochs = adversarial_epochs
        self.discriminator_size = discriminator_size
        self.adversarial_lr = adversarial_lr
        self.discriminator_lr = discriminator_lr
        self.n_critic = n_critic
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

    # ------------------------------------------------------------------ hooks
    def _train_mask_range(self):
        """Return the training mask as a ``(low, high)`` range of hidden fractions."""
        if isinstance(self.train_mask, str):
            return TRAIN_MASKS[self.train_mask]
        try:
            low, high = (float(v) for v in self.train_mask)
        except (TypeError, ValueError):
            low = high = math.nan
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(
                'train_mask must be "naomi", "forward" or a (low, high) pair with '
                f"0 <= low <= high <= 1, got {self.train_mask!r}."
            )
        return low, high

    def _module_class(self):
        return NAOMIModule

    def _module_params(self, n_timesteps, n_dims):
        return {
            **super()._module_params(n_timesteps, n_dims),
            "n_resolutions": self.n_resolutions,
            "stochastic": self.stochastic,
            "train_mask": self._train_mask_range(),
        }

    def _net_class(self):
        return NAOMINet

    def _extra_net_params(self):
        params = {
            **super()._extra_net_params(),
            "teacher_forcing_epochs": math.ceil(self.teacher_forcing * self.max_epochs - 1e-9),
            "pretrain_epochs": self.max_epochs,
        }
        if self.adversarial:
            params.update(
                max_epochs=self.max_epochs + self.adversarial_epochs,
                discriminator=TrajectoryDiscriminator,
                discriminator__n_dims=self.n_dims_,
                discriminator__hidden_size=self.discriminator_size,
                optimizer_discriminator__lr=self.discriminator_lr,
                adversarial_lr=self.adversarial_lr,
                n_critic=self.n_critic,
            )
        return params

    def _extra_fit_checks(self, X, mask):
        self._train_mask_range()
        if self.adversarial and not mask.all():
            raise ValueError(
                "adversarial=True needs complete training sequences (the discriminator compares "
                "imputations with true sequences); X has missing values."
            )
        if self.adversarial and self.n_timesteps_ < 2:
            raise ValueError("adversarial=True needs sequences of at least 2 steps.")

    # ---------------------------------------------------------------- public API
    @available_if(_is_stochastic)
    def sample(self, X, n_imputations=5):
        """Draw imputations from the stochastic model.

        Each draw runs the imputation of :meth:`transform` with every imputed step sampled from
        its decoder's Gaussian instead of set to the mean, so later steps are conditioned on the
        sampled ones (the paper's figure 9). The noise of each sequence is seeded from the
        transform seed drawn at fit and from the sequence's position, so the result is
        deterministic. Available with ``stochastic=True``.

        Parameters
        ----------
        X : array-like of shape (n_sequences, n_timesteps, n_dims) or \
                (n_sequences, n_timesteps * n_dims)
            Sequences with ``np.nan`` for the missing values.
        n_imputations : int, default=5
            Number of imputations to draw.

        Returns
        -------
        X_imputed : ndarray of shape (n_imputations,) + X.shape
            The draws; the observed values are those of `X`, in its dtype.

        Raises
        ------
        ValueError
            If `n_imputations` is not a positive integer.
        """
        check_is_fitted(self)
        if not isinstance(n_imputations, Integral) or n_imputations < 1:
            raise ValueError(f"n_imputations must be a positive integer, got {n_imputations!r}.")
        X, ndim = self._validate_sequences(X, reset=False)
        mask = observed_mask(X)
        module = self._module_for_inference()
        draws = np.empty((n_imputations,) + X.shape, dtype=np.float64)
        with torch.inference_mode():
            for start, stop, Xt, mt, noise in self._chunks(X, mask, salt=2):
                X3, known, observed = self._split_chunk(Xt, mt)
                eps = noise.randn((n_imputations,) + tuple(X3.shape))
                for k in range(n_imputations):
                    X_hat = module.impute(X3, known, observed, eps[k])
                    draws[k, start:stop] = X_hat.reshape(Xt.shape).double().cpu().numpy()
        draws = self._unstandardise(draws)
        return self._as_input_shape(np.where(mask, X, draws.astype(X.dtype)), ndim)
