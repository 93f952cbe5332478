"""The public GNR imputer."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skimpute._base import BaseNNImputer, observed_mask
from skimpute.gnr._module import GNRModule


class GNRImputer(BaseNNImputer):
    """Imputation of values missing not at random with GNR, a conjunction model.

    GNR [1]_ treats the data ``x`` and the mask ``m`` (``m_j = 1`` when ``x_j`` is observed) as
    two modalities decoded *in parallel* from a shared latent code: ``z ~ N(0, I)``, an
    auxiliary variable ``u`` built from ``z`` by ``p_theta(u | z)``, a Gaussian data decoder
    ``p_phi1(x | u, z)`` and a Bernoulli mask decoder ``p_phi2(m | u, z)`` with their own
    parameters (the conjunction model, eq. 10 and 13 of the paper). The mask decoder never sees
    the data, observed or imputed, unlike the missing-data model of the not-MIWAE, which maps
    the imputed data to the mask. The encoder ``q_gamma(z | x_observed)`` reads the observed
    data only, not the mask. The model is fitted by maximising the GNR importance-weighted
    bound (eq. 15-16) with ``K`` samples per row, the mask likelihood raised to the power
    ``alpha`` (eq. 18); ``alpha`` near 0 recovers the MIWAE [2]_. The missing entries are
    imputed by self-normalised importance sampling with ``L`` samples (eq. 20), and the model
    also reconstructs the mask (:meth:`predict_mask_proba`).

    The data are standardised with the observed means and standard deviations before they
    reach the network (``scale=True``), and the imputations are scaled back. The network is a
    skorch ``NeuralNet`` built in ``fit`` (``net_``); ``net_.module_`` is the torch module and
    ``net_.history`` the training log.

    Read more in :doc:`/gnr`.

    Parameters
    ----------
    alpha : float, default=1.0
        Exponent ``alpha`` of the mask likelihood ``p_phi2(m | u, z)`` in the importance
        weights (eq. 18), in training and in the self-normalised weights of
        :meth:`transform`, :meth:`sample` and :meth:`predict_mask_proba`. 1 is the likelihood
        of data and mask; larger values make the model explain the mask better at the expense
        of the observed data; 0 ignores the mask (the MIWAE, for values missing at random).
        The paper picks ``alpha`` from {0.01, 1, 100}, larger for higher missing rates.
    latent_dim : int, default=None
        Size of ``z`` (``d``), and of ``u``; ``None`` means ``n_features - 1`` (at least 1),
        the paper's choice for the UCI data.
    hidden_layer_sizes : array-like of int, default=(128, 128)
        Widths of the hidden layers of the encoder and of each of the two decoders (the
        paper: two layers of 128).
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layers and of the fusion layer that builds ``u``.
    encoder : {"mlp", "set"}, default="mlp"
        ``"mlp"`` feeds the zero-filled standardised data to the encoder MLP (zero
        imputation, the paper's choice on its synthetic data); ``"set"`` first embeds the
        observed entries with a permutation-invariant set encoder (EDDI / PNP style), the
        paper's stated general choice. The set encoder reads which entries are present, so
        it can place the rows with missing values in their own region of ``z``. On the
        ``gnr_uci`` benchmark (5 seeds) it imputes better than ``"mlp"`` on 13 of 18 tasks,
        most at 80 and 100 % self-masking, and worse on yeast and concrete (:doc:`/gnr`).
    auxiliary : {"latent", "observed"} or None, default="latent"
        How the auxiliary variable ``u`` is built:

        - ``"latent"``: ``u = g_theta(z)``, a fusion layer (``Linear -> activation``) shared
          by the two decoders, which read ``[z, u]``;
        - ``"observed"``: the fusion layer also reads the columns fully observed at fit
          (the prior information of the paper's section 4.1), whose likelihood is given by a
          prior network ``p_theta(a | z)``; without such a column it is ``"latent"``;
        - ``None``: no ``u``; the decoders read ``z`` alone.
    n_importance_samples : int, default=20
        Importance samples per row in the training bound (``K``).
    n_imputation_samples : int, default=1000
        Importance samples per row at transform, in :meth:`score`, :meth:`sample` and
        :meth:`predict_mask_proba` (``L``; the paper uses 1000).
    imputation : {"mean", "median"}, default="mean"
        Single imputation by the conditional mean (eq. 20, minimises the squared error) or the
        conditional median (minimises the absolute error).
    scale : bool, default=True
        Standardise each column with its observed mean and standard deviation before training.
    max_epochs : int, default=300
        Passes over the data. The paper trains for 10 000 iterations of batch 128.
    batch_size : int, default=32
        Rows per gradient step.
    lr : float, default=2e-3
        Learning rate of Adam (the paper: 1e-3).
    device : str or torch.device, default="cpu"
        Where the network is trained and evaluated ("cpu", "cuda", "cuda:1", ...).
    n_threads : int or None, default=1
        torch threads (:func:`torch.set_num_threads`) while ``fit``, ``transform`` and the
        other methods run the network; torch's setting is restored afterwards. 1 is the fastest
        where processes share the cores (search workers, a busy machine) and makes the results
        independent of the number of cores; None leaves torch's setting as it is. See
        :ref:`threads`.
    callbacks : list of skorch callbacks, default=None
        Added to the net (deep-copied, so the estimator's parameters are left untouched), e.g.
        ``skorch.callbacks.EarlyStopping(monitor="train_loss")``.
    verbose : int, default=0
        0 is silent; 1 shows skorch's progress bar and epoch log.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches and every transform (a seed is drawn at fit, so
        ``transform``, ``score``, ``sample`` and ``predict_mask_proba`` are deterministic, also
        after pickling). The global torch and numpy random states are left untouched.
    net_params : dict, default=None
        Extra arguments of the skorch ``NeuralNet`` (dunder keys such as
        ``{"optimizer__weight_decay": 1e-4}``), the escape hatch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the torch module
        (:class:`~skimpute.gnr._module.GNRModule`), ``net_.history`` the training log
        (``train_loss`` is minus the bound with the exponent ``alpha``).
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
    skimpute.NotMIWAEImputer : The selection-model counterpart (a missing model ``p(s | x)``
        on the imputed data), and the MIWAE with ``missing_model=None``.
    sklearn.impute.IterativeImputer : MICE-style imputation, assumes values missing at random.

    Notes
    -----
    **Mask convention.** The paper's eq. (1) defines ``m_j = 1`` when ``x_j`` is observed and
    its figure 5 reads the reconstructed mask as the probability of being observed, as
    everywhere in skimpute (the introduction's "0, 1 respectively denotes observed and
    missing" contradicts eq. 1; we follow eq. 1).

    **What the paper leaves open, and our choices.** No code of the paper is public.

    - *How u is built.* The paper writes ``p_theta(u | z)`` with a shared ``theta``, says
      prior information may be injected through ``u`` by a prior network, and that ``u`` may
      be omitted. By default ``u = g_theta(z)`` is deterministic (a fusion layer shared by the
      two decoders), so ``p_theta(u | z)`` is a point mass that integrates out exactly and its
      factor in eq. 16 is 1. ``auxiliary="observed"`` is the prior-network variant: ``u``
      also reads the columns fully observed at fit, ``a``, whose factor ``p_theta(a | z)`` in
      eq. 16 is then a proper Gaussian likelihood; the data decoder models the other columns
      (decoding ``a`` from a code that contains ``a`` would make the bound unbounded).
      ``auxiliary=None`` omits ``u``.
    - *The decoders.* Both read ``[z, u]`` and nothing else; each has its own MLP
      (``hidden_layer_sizes``); the data decoder is Gaussian with a mean and a scale per
      feature, the mask decoder Bernoulli with a sigmoid (the paper's section 5). The mask
      decoder's output layer starts at zero weights and biases equal to the observed rates,
      i.e. from the missing-completely-at-random model.
    - *The samples of x_m in eq. 15.* With parallel decoders ``x_m`` does not enter the
      weights, so they are not drawn in training (the bound is unchanged); :meth:`sample`
      draws them.
    - *Where alpha acts.* In the training weights (eq. 18) and in the self-normalised weights
      of imputation (eq. 20 is written with ``w_hat``), resampling and mask reconstruction.
      :meth:`score` uses ``alpha = 1``: it is the importance-weighted bound of
      ``log p(x_o, m)`` under the fitted model (the mask decoder is a proper Bernoulli
      whatever ``alpha``), comparable across values of ``alpha`` and with
      :meth:`NotMIWAEImputer.score <skimpute.NotMIWAEImputer.score>`. Being a likelihood,
      it tends to prefer ``alpha`` near 1; to choose ``alpha`` for imputation accuracy, use
      :class:`~skimpute.metrics.CompleteDataScorer` when the complete data of a benchmark
      are known.
    - *The encoder.* Zero-filled MLP by default (the paper's synthetic experiment); the
      paper says it otherwise chose the permutation-invariant set encoder
      (``encoder="set"``), as in its recommender experiment, without naming the encoder of
      its UCI experiments.
    - *The reconstructed mask.* :meth:`predict_mask_proba` averages ``P(m_ij = 1 | u, z)``
      with the self-normalised weights of the row, which contain the row's mask likelihood:
      it is the model's reconstruction of the mask it was given, as in the paper's figure 5
      and table 3.

    The paper's UCI settings are ``latent_dim = n_features - 1``, two hidden layers of 128
    tanh units, ``K = 20``, ``L = 1000``, Adam with ``lr = 1e-3``, batches of 128 and 10 000
    iterations. The defaults keep the architecture, ``K`` and ``L``, and share the training
    budget of :class:`~skimpute.NotMIWAEImputer`.

    A training step costs ``O(K)`` evaluations of the encoder's output by the two decoders per
    row, about twice the not-MIWAE's; transform ``O(L)`` per row, in chunks of rows so its
    memory does not grow with the number of rows.

    References
    ----------
    .. [1] J. Chen, Y. Xu, P. Wang and Y. Yang, "Deep generative imputation model for missing
       not at random data", CIKM 2023.
    .. [2] P.-A. Mattei and J. Frellsen, "MIWAE: Deep generative modelling and imputation of
       incomplete data sets", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.gnr import GNRImputer
    >>> rng = np.random.default_rng(0)
    >>> A = np.array([[1.0, 0.8, 0.5], [0.0, 0.6, 0.3], [0.0, 0.0, 0.4]])
    >>> X = rng.normal(size=(200, 3)) @ A
    >>> X[X[:, 0] > 0, 0] = np.nan  # values above the mean go missing
    >>> imputer = GNRImputer(max_epochs=5, n_imputation_samples=100, random_state=0)
    >>> X_imputed = imputer.fit_transform(X)
    >>> bool(np.isnan(X_imputed).any())
    False
    >>> imputer.predict_mask_proba(X).shape  # P(observed) per entry
    (200, 3)
    """

    _parameter_constraints: dict = {
        **BaseNNImputer._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "encoder": [StrOptions({"mlp", "set"})],
        "auxiliary": [StrOptions({"latent", "observed"}), None],
        "imputation": [StrOptions({"mean", "median"})],
    }

    def __init__(
        self,
        *,
        alpha=1.0,
        latent_dim=None,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        encoder="mlp",
        auxiliary="latent",
        n_importance_samples=20,
        n_imputation_samples=1000,
        imputation="mean",
        scale=True,
        max_epochs=300,
        batch_size=32,
        lr=2e-3,
        device="cpu",
        n_threads=1,
        callbacks=None,
        verbose=0,
        random_state=None,
        net_params=None,
    ):
        self.alpha = alpha
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.encoder = encoder
        self.auxiliary = auxiliary
        self.n_importance_samples = n_importance_samples
        self.n_imputation_samples = n_imputation_samples
        self.imputation = imputation
        self.scale = scale
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.n_threads = n_threads
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        self.net_params = net_params

    # hooks of BaseNNImputer
    def _module_class(self):
        return GNRModule

    def _module_params(self, n_features, observed_rate):
        latent_dim = self.latent_dim if self.latent_dim is not None else max(1, n_features - 1)
        return {
            "n_features": n_features,
            "latent_dim": int(latent_dim),
            "hidden_layer_sizes": tuple(int(h) for h in self.hidden_layer_sizes),
            "activation": self.activation,
            "encoder": self.encoder,
            "auxiliary": self.auxiliary,
            "alpha": float(self.alpha),
            "n_importance_samples": self.n_importance_samples,
            "observed_rate": observed_rate,
            "auxiliary_columns": np.flatnonzero(observed_rate == 1).tolist(),
        }

    def _floats_per_row(self, n_features):
        # two decoders evaluate every importance sample
        return 2 * super()._floats_per_row(n_features)

    def _impute_chunk(self, module, X, mask, noise):
        return module.impute(X, mask, self.n_imputation_samples, noise, method=self.imputation)

    def _mask_proba_chunk(self, module, X, mask, noise):
        return module.mask_proba(X, mask, self.n_imputation_samples, noise)

    def predict_mask_proba(self, X):
        """Reconstruct the mask: the probability that each entry is observed.

        The probabilistic mask of the paper's figure 5: ``P(m_ij = 1 | u, z)`` from the mask
        decoder, averaged over ``L`` importance samples of row ``i`` with the self-normalised
        weights of :meth:`transform` (the same samples). Threshold it at 0.5 for a mask, as
        :func:`skimpute.metrics.mask_accuracy` does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_features)
            Probability, in [0, 1], that each entry is observed.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return self._map_chunks(X, observed_mask(X), self._mask_proba_chunk, salt=0)
