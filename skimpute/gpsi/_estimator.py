"""The public GPSI imputer."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skimpute._base import BaseNNImputer, observed_mask
from skimpute.gpsi._module import GPSIModule, KLWarmup, TrainMask


def _square_side(n_features):
    """Side of a square image with `n_features` pixels, or None."""
    side = int(round(np.sqrt(n_features)))
    return side if side * side == n_features else None


class GPSIImputer(BaseNNImputer):
    """Imputation by guided policy search: an iterative refinement policy (GPSI).

    GPSI [1]_ imputes by refining a guess ``c_t`` of the whole row in ``T`` steps
    (``n_steps``). At each step the *primary policy* ``p_theta(z_t | c_{t-1}, x_k)`` reads the
    known values ``x_k`` and the current guess and picks a step ``z_t`` (a diagonal Gaussian); a
    constructor ``omega_theta`` shared with the guide turns it into the new guess,
    ``c_t = c_{t-1} + omega_theta(z_t)`` (``update="add"``, GPSI-add) or
    ``c_t = omega_theta(z_t)`` (``update="jump"``). Training rolls out a *guide policy*
    ``q_phi(z_t | c_{t-1}, x)`` that also sees the values to impute, and minimises eq. 17 of the
    paper with the reference code's weights:

    ``-log p(x_u | c_T) + lambda_q sum_t KL(q_t || p_t) + lambda_p sum_t KL(p_t || q_t)``,

    the negative log-likelihood of the hidden values ``x_u`` at the final step plus the KL terms
    that teach the primary policy to imitate the guide. ``transform`` rolls out the primary
    policy; different roll-outs give different, often multimodal, imputations
    (:meth:`sample`). ``policy="lstm"`` is the reader/writer LSTM model of the paper's section
    3.2 (LSTM-add, LSTM-jump).

    **Training needs the truth of what it learns to impute.** At each batch a mask drawn from
    `train_mask` hides part of the *observed* entries from the policy; they are the targets
    ``x_u``. With complete training data (the paper's setting) every entry can be hidden; with
    incomplete data, the entries missing in the data stay unknown to the policy and carry no
    target, and the model learns on the observed entries it hides.

    Read more in :doc:`/gpsi`.

    Parameters
    ----------
    policy : {"direct", "lstm"}, default="direct"
        ``"direct"``: the model of section 3.1, three MLPs for ``p_theta``, ``q_phi`` and
        ``omega_theta``. ``"lstm"``: the model of section 3.2, reader LSTMs for the two
        policies, a writer LSTM shared by both, and a mixture latent ``z_0`` for the initial
        states.
    update : {"add", "jump"}, default="add"
        ``"add"``: ``c_t = c_{t-1} + omega(z_t)``, ``c_0`` a trainable bias; ``"jump"``:
        ``c_t = omega(z_t)``.
    n_steps : int, default=6
        Number of refinement steps ``T`` (the paper: 6 for GPSI, 16 for the LSTM models).
    observation : {"gaussian", "bernoulli"}, default="gaussian"
        Observation model ``p(x_u | c_T)``:

        - ``"gaussian"``: ``N(c_T, sigma_j^2)`` with a learned variance per column, for
          tabular data (standardised with ``scale="auto"``);
        - ``"bernoulli"``: ``c_T`` are logits and the guess is ``sigmoid(c_T)``; the
          likelihood is the cross-entropy on grey levels in [0, 1], the paper's model for
          images. The data must lie in [0, 1] and are not standardised.
    train_mask : {"mcar", "block"} or callable, default="mcar"
        How training hides observed entries, a fresh mask per row at every batch:

        - ``"mcar"``: each entry with probability `train_missing_rate` (the paper's MCAR-d);
        - ``"block"``: one `block_size` x `block_size` square of the image (the paper's
          MAR-d), at a uniform position;
        - a callable ``train_mask(shape, random_state)`` returning an array of bool of shape
          ``shape = (n_rows, n_features)``, True where the entry is *shown* to the policy
          (the convention of :mod:`skimpute.ampute`); `random_state` is a
          :class:`numpy.random.RandomState`. Rows must be drawn independently. Use a
          module-level function so that the estimator pickles.

        Match it to the missing data you expect at ``transform``: the paper trains and tests
        on the same mask distribution.
    train_missing_rate : float, default=0.5
        Probability that ``"mcar"`` hides an entry, in (0, 1).
    block_size : int, default=None
        Side of the square of ``"block"``; None is half the image's shorter side.
    image_shape : tuple of (int, int), default=None
        ``(H, W)`` of the images when the rows are flattened images (``n_features = H * W``),
        for ``train_mask="block"``; None means square images, ``H = W = sqrt(n_features)``.
    lambda_q : float, default=0.95
        Weight of ``sum_t KL(q_t || p_t)`` in training (``lambda_q`` of the reference code;
        eq. 17 is 1). The reference class default, also used for the LSTM models.
    lambda_p : float, default=0.05
        Weight of ``sum_t KL(p_t || q_t)`` in training (``lambda_p`` of the reference code;
        eq. 17 is 0).
    kl_warmup : float, default=0.5
        Fraction of `max_epochs` over which the weights of both KL terms rise linearly from 0
        to `lambda_q` and `lambda_p` (a KL warm-up; 0 trains on eq. 17 from the first step).
        Without it the guide can collapse onto the primary policy before it learns to use
        the values it sees, and the imputation stays at the column means (scikit-learn's
        digits with half of the entries missing, see :doc:`/gpsi`). ``partial_fit`` follows
        the same ramp of ``kl_warmup * max_epochs`` epochs over the epochs of the net's
        history. The reference code has no KL warm-up.
    latent_dim : int, default=None
        Size of the steps ``z_t``; None means ``min(100, n_features - 1)`` (at least 1), the
        paper using 100 for MNIST.
    hidden_layer_sizes : array-like of int, default=(256, 256)
        Widths of the hidden layers of each MLP (``p_theta``, ``q_phi``, ``omega_theta``); with
        ``policy="lstm"`` the LSTMs have ``hidden_layer_sizes[-1]`` units and the MLPs of the
        mixture initialisation these hidden layers. The reference code used (500, 500) for
        MNIST and LSTMs of 300 units.
    activation : {"relu", "tanh", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="relu"
        Activation of the hidden layers (the reference code: ReLU).
    n_imputation_samples : int, default=10
        Roll-outs of the primary policy per row (``L``): :meth:`transform` returns the mean of
        their final guesses (1 is a single roll-out); :meth:`score` and
        :meth:`imputation_nll` use ``L`` guide roll-outs.
    scale : bool or "auto", default="auto"
        Standardise the columns with their observed means and standard deviations. "auto" is
        True for ``observation="gaussian"`` and False for ``"bernoulli"``, which must not be
        standardised (True is then an error).
    max_epochs : int, default=100
        Passes over the data.
    batch_size : int, default=128
        Rows per gradient step (the reference code: 200).
    lr : float, default=1e-3
        Learning rate of Adam (the reference code: 1e-4 to 2e-4 over 200 000 steps).
    device : str or torch.device, default="cpu"
        Where the network is trained and evaluated ("cpu", "cuda", "cuda:1", ...).
    n_threads : int or None, default=1
        torch threads (:func:`torch.set_num_threads`) while ``fit``, ``transform`` and the
        other methods run the network; torch's setting is restored afterwards. 1 is the fastest
        where processes share the cores (search workers, a busy machine) and makes the results
        independent of the number of cores; None leaves torch's setting as it is. See
        :ref:`threads`.
    callbacks : list of skorch callbacks, default=None
        Added to the net (deep-copied), e.g. ``skorch.callbacks.GradientNormClipping(10.0)``.
    verbose : int, default=0
        0 is silent; 1 shows skorch's progress bar and epoch log.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the training masks and every transform (a seed is
        drawn at fit, so :meth:`transform`, :meth:`sample`, :meth:`score` and
        :meth:`imputation_nll` are deterministic, also after pickling).
    net_params : dict, default=None
        Extra arguments of the skorch ``NeuralNet`` (dunder keys such as
        ``{"optimizer__weight_decay": 1e-5}``), the escape hatch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the torch module
        (:class:`~skimpute.gpsi._module.GPSIModule`), ``net_.history`` the training log
        (``train_loss`` is the mean training objective per row).
    n_epochs_ : int
        Number of epochs run.
    mean_ : ndarray of shape (`n_features_in_`,)
        Observed mean of each column (0 when not standardised).
    scale_ : ndarray of shape (`n_features_in_`,)
        Observed standard deviation of each column (1 when not standardised).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit. Defined only when `X` has feature names that are all
        strings.

    See Also
    --------
    skimpute.NotMIWAEImputer : A latent-variable model of the data, for values missing not at
        random; it needs no complete data but models the data, not the imputation.
    skimpute.ampute.square_occlusion : The paper's MAR-d masks, for testing.

    Notes
    -----
    **Choices.** The policies read the known values with the current guess in the missing
    entries, as the reference code does, plus the mask and the residual on the known entries;
    the guide also reads the residual of the guess on every entry whose truth it knows.
    ``omega`` has one head (the reference code's write and erase gates serve update rules that
    the paper does not use). The default network is smaller than the reference's, for CPU
    training; the benchmark's paper profile uses the reference sizes. The reference code's
    1e-5 L2 penalty, gradient clipping and learning-rate schedule are not applied by default:
    pass ``net_params`` and ``callbacks``.

    **score.** :meth:`score` hides part of the observed entries of each row with a
    `train_mask` drawn from the transform seed, and returns the mean per row of the
    importance-weighted lower bound (``L`` guide roll-outs) of ``log p(x_h | x_k)``, the
    log-likelihood of the hidden entries given the others, in nats in the units of ``X``.
    Higher is better, so :class:`~sklearn.model_selection.GridSearchCV` can use it without a
    scorer; candidates fitted with the same integer `random_state` are scored on the same
    entries.

    A training step costs ``T`` evaluations of the three networks per row; transform ``L T``
    evaluations of the primary policy per row, in chunks of rows of bounded memory.

    References
    ----------
    .. [1] P. Bachman and D. Precup, "Data generation as sequential decision making",
       NIPS 2015 (arXiv:1506.03504).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute import GPSIImputer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)) @ rng.normal(size=(4, 4))
    >>> X[rng.random(X.shape) < 0.2] = np.nan
    >>> imputer = GPSIImputer(hidden_layer_sizes=(32,), max_epochs=3, random_state=0)
    >>> X_imputed = imputer.fit_transform(X)
    >>> bool(np.isnan(X_imputed).any())
    False
    >>> imputer.sample(X, 2).shape  # two roll-outs of the policy
    (2, 200, 4)
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in BaseNNImputer._parameter_constraints.items()
            if k != "n_importance_samples"
        },
        "policy": [StrOptions({"direct", "lstm"})],
        "update": [StrOptions({"add", "jump"})],
        "n_steps": [Interval(Integral, 1, None, closed="left")],
        "observation": [StrOptions({"gaussian", "bernoulli"})],
        "train_mask": [StrOptions({"mcar", "block"}), callable],
        "train_missing_rate": [Interval(Real, 0, 1, closed="neither")],
        "block_size": [Interval(Integral, 1, None, closed="left"), None],
        "image_shape": ["array-like", None],
        "lambda_q": [Interval(Real, 0, None, closed="left")],
        "lambda_p": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Real, 0, 1, closed="left")],
        "scale": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        *,
        policy="direct",
        update="add",
        n_steps=6,
        observation="gaussian",
        train_mask="mcar",
        train_missing_rate=0.5,
        block_size=None,
        image_shape=None,
        lambda_q=0.95,
        lambda_p=0.05,
        kl_warmup=0.5,
        latent_dim=None,
        hidden_layer_sizes=(256, 256),
        activation="relu",
        n_imputation_samples=10,
        scale="auto",
        max_epochs=100,
        batch_size=128,
        lr=1e-3,
        device="cpu",
        n_threads=1,
        callbacks=None,
        verbose=0,
        random_state=None,
        net_params=None,
    ):
        self.policy = policy
        self.update = update
        self.n_steps = n_steps
        self.observation = observation
        self.train_mask = train_mask
        self.train_missing_rate = train_missing_rate
        self.block_size = block_size
        self.image_shape = image_shape
        self.lambda_q = lambda_q
        self.lambda_p = lambda_p
        self.kl_warmup = kl_warmup
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_imputation_samples = n_imputation_samples
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

    # ------------------------------------------------------------ hooks of BaseNNImputer
    def _use_scaling(self):
        if self.scale == "auto":
            return self.observation == "gaussian"
        return bool(self.scale)

    def _validate(self, X, reset):
        X = super()._validate(X, reset)
        if self.observation == "bernoulli":
            observed = X[~np.isnan(X)]
            if observed.size and (observed.min() < 0 or observed.max() > 1):
                raise ValueError(
                    f"{type(self).__name__}(observation='bernoulli') models grey levels in "
                    f"[0, 1], but X holds values from {observed.min():g} to "
                    f"{observed.max():g}. Scale the data into [0, 1] (for example divide "
                    "8-bit images by 255), or use observation='gaussian'."
                )
        return X

    def _check_params(self, X):
        super()._check_params(X)
        if self.observation == "bernoulli" and self.scale != "auto" and self.scale:
            raise ValueError(
                "observation='bernoulli' models grey levels in [0, 1], which must not be "
                "standardised: use scale='auto' or scale=False."
            )
        self._train_mask(X.shape[1])  # raises on a bad image shape or block size

    def _image_shape(self, n_features):
        """``(H, W)`` of the images, from `image_shape` or a square; raise if impossible."""
        if self.image_shape is None:
            side = _square_side(n_features)
            if side is None:
                raise ValueError(
                    f"train_mask='block' needs the image shape: {n_features} features is not "
                    "a square number of pixels, so pass image_shape=(H, W)."
                )
            return side, side
        shape = tuple(int(s) for s in np.ravel(self.image_shape))
        if len(shape) != 2 or min(shape) < 1 or shape[0] * shape[1] != n_features:
            raise ValueError(
                f"image_shape must be (H, W) with H * W = n_features = {n_features}, got "
                f"{self.image_shape!r}."
            )
        return shape

    def _train_mask(self, n_features):
        """The :class:`TrainMask` of the parameters."""
        if self.train_mask != "block":
            return TrainMask(self.train_mask, rate=float(self.train_missing_rate))
        H, W = self._image_shape(n_features)
        size = self.block_size if self.block_size is not None else max(1, min(H, W) // 2)
        if size > min(H, W):
            raise ValueError(f"block_size={size} does not fit in images of shape {(H, W)}.")
        return TrainMask("block", size=int(size), image_shape=(H, W))

    def _module_class(self):
        return GPSIModule

    def _module_params(self, n_features, observed_rate):
        latent_dim = self.latent_dim
        if latent_dim is None:
            latent_dim = min(100, max(1, n_features - 1))
        return {
            "n_features": n_features,
            "latent_dim": int(latent_dim),
            "hidden_layer_sizes": tuple(int(h) for h in self.hidden_layer_sizes),
            "activation": self.activation,
            "policy": self.policy,
            "update": self.update,
            "n_steps": self.n_steps,
            "observation": self.observation,
            "lambda_q": self.lambda_q,
            "lambda_p": self.lambda_p,
            "train_mask": self._train_mask(n_features),
        }

    def _extra_callbacks(self):
        n_warmup = self.kl_warmup * self.max_epochs
        return [("kl_warmup", KLWarmup(n_warmup))] if n_warmup > 0 else []

    def _floats_per_row(self, n_features):
        width = max(int(np.max(self.hidden_layer_sizes)), 1)
        return self.n_imputation_samples * (16 * n_features + 24 * width + 8 * 100)

    def _impute_chunk(self, module, X, mask, noise):
        return module.impute(X, mask, self.n_imputation_samples, noise)

    def _sample_chunk(self, module, X, mask, noise, n_draws):
        return module.sample(X, mask, n_draws, noise)

    def _log_likelihood_chunk(self, module, X, mask, noise):
        bound, hidden = module.log_likelihood(X, mask, self.n_imputation_samples, noise)
        log_scale = torch.as_tensor(np.log(self.scale_), dtype=X.dtype, device=X.device)
        return bound - (hidden * log_scale).sum(-1)  # in the units of X

    def _score_log_jacobian(self, mask):
        return 0.0  # included row by row in _log_likelihood_chunk

    # ------------------------------------------------------------------ public API
    def fit(self, X, y=None):
        """Train the policies on `X`, hiding observed entries with `train_mask` at each batch.

        The columns are standardised (``observation="gaussian"`` with ``scale="auto"``) or
        checked to lie in [0, 1] (``"bernoulli"``), the missing entries filled with 0, and the
        net trained to minimise eq. 17: at each batch a train mask hides part of each row's
        observed entries, one roll-out of the guide per row gives the final NLL of the hidden
        entries, and the KL terms pull the primary policy towards the guide.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, complete (the paper's setting) or with ``np.nan`` for missing
            entries, which are then never targets.
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        self : object
            Fitted estimator.

        Raises
        ------
        ValueError
            If a column has no observed value, a parameter is invalid, ``train_mask="block"``
            cannot find the image shape, or ``observation="bernoulli"`` gets values outside
            [0, 1].
        FloatingPointError
            If the training loss becomes nan or infinite.
        """
        return super().fit(X, y)

    def transform(self, X):
        """Impute the missing entries of `X` by rolling out the primary policy.

        Each row's primary policy starts from ``c_0`` and refines its guess for ``T`` steps
        from the row's observed entries; the imputation is the mean over
        ``L = n_imputation_samples`` roll-outs of the final guess (``sigmoid(c_T)`` for
        ``observation="bernoulli"``). The roll-outs are seeded per row from the seed drawn at
        fit, so the result is deterministic. Rows are processed in chunks of bounded memory
        under :func:`torch.inference_mode`.

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
        return super().transform(X)

    def score(self, X, y=None):
        """Return the mean per-row bound of the log-likelihood of hidden observed entries.

        In each row a mask drawn from `train_mask` (with the transform seed, so always the
        same entries) hides part of the observed entries ``x_h`` from the policy; the score is
        the mean over the rows of the importance-weighted lower bound of
        ``log p(x_h | x_k)`` with ``L = n_imputation_samples`` guide roll-outs,
        ``log (1/L) sum_l p(x_h | c_T^l) p(tau_l | x_k) / q(tau_l | x)``, in nats in the units
        of ``X`` (the standardisation's log-Jacobian is included). Higher is better, so
        :class:`~sklearn.model_selection.GridSearchCV` can use it without a scorer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries (complete data are fine).
        y : Ignored
            Not used, present here for API consistency by convention.

        Returns
        -------
        score : float
            Mean over the rows of the bound (nats per row; 0 for a row with nothing hidden).
        """
        return super().score(X, y)

    def sample(self, X, n_imputations=5):
        """Draw multiple imputations: independent roll-outs of the primary policy.

        Each draw rolls the primary policy out for ``T`` steps from the row's known values
        and returns its final guess ``c_T`` (``sigmoid(c_T)`` for ``observation="bernoulli"``,
        the images of the paper's figures; the observation noise is not added). The roll-outs
        differ where the policy is uncertain and may be multimodal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the missing entries.
        n_imputations : int, default=5
            Number of roll-outs per row.

        Returns
        -------
        X_imputed : ndarray of shape (n_imputations, n_samples, n_features)
            The completed rows of each roll-out; the observed entries are those of `X`, in its
            dtype.

        Raises
        ------
        ValueError
            If `n_imputations` is not a positive integer.
        """
        return super().sample(X, n_imputations)

    def imputation_nll(self, X, X_true, kind="bound"):
        """Negative log-likelihood of the true values of the entries missing in `X`.

        The paper's evaluation: the entries missing in `X` but present in `X_true` are the
        targets ``x_u``, the observed entries of `X` the known values ``x_k``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with ``np.nan`` for the entries to impute.
        X_true : array-like of shape (n_samples, n_features)
            The same rows with the true values (``np.nan`` where unknown: no target there).
        kind : {"bound", "iw_bound", "policy"}, default="bound"
            - ``"bound"``: the bound the paper reports, the mean over ``L`` guide roll-outs of
              ``-log p(x_u | c_T) + sum_t KL(q_t || p_t)`` (eq. 17 with unit weights), an upper
              bound of ``-log p(x_u | x_k)``;
            - ``"iw_bound"``: the tighter importance-weighted bound with the same ``L``
              roll-outs;
            - ``"policy"``: the mean over ``L`` roll-outs of the *primary* policy of
              ``-log p(x_u | c_T)``, the expected loss of one roll-out (not a bound; the
              reference code's "unguided" score).

        Returns
        -------
        nll : ndarray of shape (n_samples,)
            Per row, in nats in the units of ``X`` (the sum over the row's targets; for
            grey-level images the paper's "NLL per image").

        Raises
        ------
        ValueError
            If `X_true` does not have the shape of `X`, differs from `X` on its observed
            entries, or `kind` is unknown.
        """
        check_is_fitted(self)
        if kind not in ("bound", "iw_bound", "policy"):
            raise ValueError(f"kind must be 'bound', 'iw_bound' or 'policy', got {kind!r}.")
        X = self._validate(X, reset=False)
        X_true = self._validate(X_true, reset=False)
        if X_true.shape != X.shape:
            raise ValueError(f"X_true has shape {X_true.shape}, X has shape {X.shape}.")
        known = observed_mask(X)
        if not np.array_equal(X_true[known], X[known]):
            raise ValueError("X_true must equal X on the entries observed in X.")
        obs = observed_mask(X_true)
        known_float = known.astype(np.float32)
        L = self.n_imputation_samples
        log_scale = np.log(self.scale_)
        module = self._module_for_inference()
        out = np.empty(X.shape[0])
        with torch.inference_mode():
            for start, stop, Xt, ot, noise in self._chunks(X_true, obs, salt=3):
                kt = torch.as_tensor(known_float[start:stop], device=Xt.device)
                nll, kl_qp, _, log_ratio = module.evaluate(
                    Xt, ot, kt, L, noise, guided=kind != "policy"
                )
                if kind == "iw_bound":
                    row = -torch.logsumexp(log_ratio - nll, dim=0) + np.log(L)
                else:
                    row = (nll + kl_qp).mean(0)
                out[start:stop] = row.double().cpu().numpy()
        target = obs & ~known
        return out + (target * log_scale).sum(axis=1)
