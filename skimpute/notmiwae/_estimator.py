"""The public not-MIWAE imputer."""

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from skimpute._base import BaseNNImputer, observed_mask
from skimpute.nn import LIKELIHOODS
from skimpute.notmiwae._module import NotMIWAEModule


class NotMIWAEImputer(BaseNNImputer):
    """Imputation of values missing not at random with the not-MIWAE.

    The not-MIWAE [1]_ is a deep latent variable model of the data, ``z ~ N(0, I)``,
    ``x | z ~ p_theta(x | z)``, joined to a model of the missing-data mechanism
    ``p_phi(s | x)`` (``s_j = 1`` when ``x_j`` is observed). It is fitted by maximising an
    importance-weighted lower bound of ``log p(x_observed, s)`` with ``K`` samples per row from
    ``q_gamma(z | x_observed) p_theta(x_missing | z)``. The missing entries are imputed by
    self-normalised importance sampling with ``L`` samples: the weighted mean (or median) of the
    sampled missing values (or, with ``rao_blackwell=True``, of the decoder's conditional
    distributions). With ``missing_model=None`` the model is the MIWAE [2]_, which assumes the
    values are missing at random.

    The data are standardised with the observed means and standard deviations before they reach
    the network (``scale=True``), and the imputations are scaled back. The network is a skorch
    ``NeuralNet`` built in ``fit`` (``net_``); ``net_.module_`` is the torch module and
    ``net_.history`` the training log.

    Read more in :doc:`/notmiwae`.

    Parameters
    ----------
    missing_model : {"selfmasking", "selfmasking_known", "linear", "nonlinear"} or None, \
            default="selfmasking"
        The missing-data model ``p_phi(s | x)``, a Bernoulli per feature:

        - ``"selfmasking"``: ``P(s_j = 1 | x) = sigmoid(-w_j (x_j - b_j))``, each feature is
          missing because of its own value (censoring);
        - ``"selfmasking_known"``: the same with ``w_j > 0``: higher values are more likely
          missing;
        - ``"linear"``: the logits are a linear map of the whole ``x`` (the paper's "agnostic"
          model);
        - ``"nonlinear"``: the logits are an MLP (one hidden layer) of ``x``;
        - ``None``: MIWAE, values missing at random (the mask is modelled by fixed per-feature
          rates, which leave the training objective unchanged but make :meth:`score` comparable).

        The input of the missing model is the observed values plus a reparameterised sample of
        the missing ones, for each importance sample.
    latent_dim : int, default=None
        Size of the latent space (``d`` in the paper); ``None`` means ``n_features - 1`` (at
        least 1), the paper's choice.
    hidden_layer_sizes : array-like of int, default=(128, 128)
        Widths of the hidden layers of the encoder and of the MLP decoder (the paper: two layers
        of 128).
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, default="tanh"
        Activation of the hidden layers.
    encoder : {"mlp", "set"}, default="mlp"
        ``"mlp"`` feeds the zero-filled standardised data to the encoder MLP; ``"set"`` first
        embeds the observed entries with a permutation-invariant set encoder (EDDI / PNP style).
    decoder : {"mlp", "linear"}, default="mlp"
        ``"mlp"``: the decoder mean and scale are MLP outputs (the scale depends on ``z`` and on the
        feature); ``"linear"``: a PPCA-like decoder ``W z + b`` with one noise scale shared by all
        features.
    likelihood : {"gaussian", "student_t"}, default="gaussian"
        Observation model ``p_theta(x_j | z)``; the Student-t has a learned number of degrees of
        freedom above 3.
    n_importance_samples : int, default=20
        Importance samples per row in the training bound (``K``).
    n_imputation_samples : int, default=1000
        Importance samples per row at transform, in :meth:`score` and :meth:`sample` (``L``; the
        paper uses 10 000).
    imputation : {"mean", "median"}, default="mean"
        Single imputation by the conditional mean (minimises the squared error) or the
        conditional median (minimises the absolute error; appendix B of the paper).
    rao_blackwell : "auto" or bool, default="auto"
        How the importance samples ``(z_k, x_m,k)`` estimate that mean or median. True: from the
        decoder at each ``z_k``, the weighted mean of the decoder means ``E[x_m | z_k]`` (eq. 18-19
        of the paper, what the authors' code does) or the median of the weighted mixture of the
        decoder CDFs (eq. 20). False: from the sampled ``x_m,k`` themselves, their weighted mean
        or median (eq. 16). The weights contain ``p(s | x_o, x_m,k)``, so under a missing model
        that depends on ``x`` they select part of ``p(x_m | z_k)`` (under censoring, its upper
        tail) and only the sampled values follow; the decoder means ignore that selection and
        pull the imputations towards the missing-at-random fit. ``"auto"`` is False for every
        missing model and True for ``missing_model=None`` (MIWAE), where both are consistent and
        the decoder's estimate has the lower variance.
    scale : bool, default=True
        Standardise each column with its observed mean and standard deviation before training.
    max_epochs : int, default=300
        Passes over the data. The paper trains for 100 000 iterations of batch 16.
    batch_size : int, default=32
        Rows per gradient step.
    lr : float, default=2e-3
        Learning rate of Adam.
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
        ``transform``, ``score`` and ``sample`` are deterministic, also after pickling). The
        global torch and numpy random states are left untouched.
    net_params : dict, default=None
        Extra arguments of the skorch ``NeuralNet`` (dunder keys such as
        ``{"optimizer__weight_decay": 1e-4}``), the escape hatch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the torch module, ``net_.history`` the training log
        (``train_loss`` is minus the bound).
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
    sklearn.impute.SimpleImputer : mean imputation.
    sklearn.impute.IterativeImputer : MICE-style imputation, assumes values missing at random.

    Notes
    -----
    The paper's settings for the UCI experiments are: ``latent_dim = n_features - 1``, two
    hidden layers of 128 tanh units, ``K = 20``, batches of 16, 100 000 iterations of Adam with
    ``lr = 1e-3``, ``L = 10 000``. The defaults here keep the architecture and ``K`` but train
    for fewer, larger steps, so that a fit on a few hundred rows takes about a minute on a CPU
    core.

    Training costs ``O(K)`` network evaluations per row and step, transform ``O(L)`` per row;
    transform runs in chunks of rows so its memory does not grow with the number of rows.

    References
    ----------
    .. [1] N. B. Ipsen, P.-A. Mattei and J. Frellsen, "not-MIWAE: Deep generative modelling with
       missing not at random data", ICLR 2021.
    .. [2] P.-A. Mattei and J. Frellsen, "MIWAE: Deep generative modelling and imputation of
       incomplete data sets", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.notmiwae import NotMIWAEImputer
    >>> rng = np.random.default_rng(0)
    >>> A = np.array([[1.0, 0.8, 0.5], [0.0, 0.6, 0.3], [0.0, 0.0, 0.4]])
    >>> X = rng.normal(size=(200, 3)) @ A
    >>> X[X[:, 0] > 0, 0] = np.nan  # values above the mean go missing
    >>> imputer = NotMIWAEImputer(missing_model="selfmasking_known", max_epochs=5,
    ...                           n_imputation_samples=100, random_state=0)
    >>> X_imputed = imputer.fit_transform(X)
    >>> bool(np.isnan(X_imputed).any())
    False
    """

    _parameter_constraints: dict = {
        **BaseNNImputer._parameter_constraints,
        "missing_model": [
            StrOptions({"selfmasking", "selfmasking_known", "linear", "nonlinear"}),
            None,
        ],
        "encoder": [StrOptions({"mlp", "set"})],
        "decoder": [StrOptions({"mlp", "linear"})],
        "likelihood": [StrOptions(set(LIKELIHOODS))],
        "imputation": [StrOptions({"mean", "median"})],
        "rao_blackwell": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(
        self,
        *,
        missing_model="selfmasking",
        latent_dim=None,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        encoder="mlp",
        decoder="mlp",
        likelihood="gaussian",
        n_importance_samples=20,
        n_imputation_samples=1000,
        imputation="mean",
        rao_blackwell="auto",
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
        self.missing_model = missing_model
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.n_importance_samples = n_importance_samples
        self.n_imputation_samples = n_imputation_samples
        self.imputation = imputation
        self.rao_blackwell = rao_blackwell
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
        return NotMIWAEModule

    def _module_params(self, n_features, observed_rate):
        latent_dim = self.latent_dim if self.latent_dim is not None else max(1, n_features - 1)
        return {
            "n_features": n_features,
            "latent_dim": int(latent_dim),
            "hidden_layer_sizes": tuple(int(h) for h in self.hidden_layer_sizes),
            "activation": self.activation,
            "decoder": self.decoder,
            "likelihood": self.likelihood,
            "missing_model": self.missing_model,
            "encoder": self.encoder,
            "n_importance_samples": self.n_importance_samples,
            "observed_rate": observed_rate,
        }

    def _impute_chunk(self, module, X, mask, noise):
        rao_blackwell = (
            not module.missing.depends_on_x
            if self.rao_blackwell == "auto"
            else bool(self.rao_blackwell)
        )
        return module.impute(
            X,
            mask,
            self.n_imputation_samples,
            noise,
            method=self.imputation,
            rao_blackwell=rao_blackwell,
        )

    def predict_mask_proba(self, X):
        """Probability that each entry is observed, from the missing model at the imputed data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_features)
            ``P(s_ij = 1 | x_i)`` where ``x_i`` is row ``i`` completed by :meth:`transform`. With
            ``missing_model=None`` it is each column's observed fraction at fit.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        mask = observed_mask(X)
        Z = self._impute_standardised(X, mask) if not mask.all() else np.zeros(X.shape)
        Xs, _ = self._standardise(X, mask)
        Z = np.where(mask, Xs, Z).astype(np.float32)
        module = self._module_for_inference()
        with self._torch_threads(), torch.inference_mode():
            return (
                module.mask_proba(torch.as_tensor(Z, device=self.net_.device))
                .double()
                .cpu()
                .numpy()
            )
