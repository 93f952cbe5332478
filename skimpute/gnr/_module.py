"""The GNR torch module (Chen, Xu, Wang & Yang, CIKM 2023).

Conjunction model (eq. 10 and 13 of the paper), with ``m_j = 1`` when ``x_j`` is observed::

    z ~ N(0, I),   u = g_theta(z),   x | u, z ~ p_phi1(x | u, z),   m | u, z ~ p_phi2(m | u, z),

two parallel decoders of the same code ``h = [z, u]``: a Gaussian one for the data and a
Bernoulli one for the mask. Neither decoder sees the other's output; in particular the mask
decoder never sees the data, observed or imputed. Proposal: ``q_gamma(z | x_o)``, a Gaussian
encoder of the observed data alone (the mask is not an input). The log importance weight of
sample ``k`` (eq. 16 and 18) is

    log w_k = log p_phi1(x_o | u, z_k) + alpha log p_phi2(m | u, z_k) + log p(z_k)
              - log q_gamma(z_k | x_o),

the training objective is ``log mean_k w_k`` (eq. 15) with ``K`` samples, and the imputation
(eq. 20) is the self-normalised importance-sampling mean of the data decoder's means with ``L``
samples. See :class:`GNRModule` for the choices the paper leaves open.
"""

import torch
from torch import nn
from torch.distributions import Normal

from skimpute.nn import (
    GaussianEncoder,
    GlobalNoise,
    MaskDecoder,
    MLPDecoder,
    importance_resample,
    iw_bound,
    make_mlp,
    observation_median,
    observation_rsample,
    snis_mean,
)

#: Values accepted by the ``auxiliary`` argument: how the auxiliary variable ``u`` is built.
AUXILIARY = ("latent", "observed", None)


class GNRModule(nn.Module):
    """Encoder, auxiliary fusion layer and the two parallel decoders of GNR.

    The module computes the log importance weights of the GNR bound (eq. 15, 16 and 18 of the
    paper) and, from the same importance samples, the imputations (eq. 20), multiple
    imputations, the importance-weighted estimate of ``log p(x_o, m)`` and the reconstructed
    (probabilistic) mask.

    The paper leaves these choices open; the module makes them as follows.

    - The auxiliary variable ``u`` and ``p_theta(u | z)`` (`auxiliary`): with ``"latent"``,
      ``u = g_theta(z)`` is a deterministic fusion layer (``Linear -> activation`` of width
      `latent_dim`) shared by the two decoders, so ``theta`` is the shared parameter of eq. 10
      and ``phi1``, ``phi2`` are not; ``p_theta(u | z)`` is then a point mass, integrated out
      exactly, and its factor drops from the weights. With None, ``u`` is omitted (the paper
      allows it when ``z`` carries all the information) and the decoders read ``z`` alone.
      With ``"observed"``, ``u`` also carries the prior information of the columns that are
      fully observed at fit, ``a``: ``p_theta(u | z)`` is then a proper likelihood, a Gaussian
      prior network ``p_theta(a | z)`` (the factor of eq. 16, evaluated at the observed ``a``),
      the fusion layer reads ``[z, a]``, and the data decoder models only the other columns
      (decoding ``a`` from a code that contains ``a`` would make the bound unbounded). Entries
      of ``a`` missing at transform are replaced by a reparameterised draw of
      ``p_theta(a | z_k)``.
    - The decoders both read ``h = [z, u]`` (``z`` alone with ``auxiliary=None``) and have
      their own MLPs (`hidden_layer_sizes`): the data decoder is heteroscedastic Gaussian,
      the mask decoder (:class:`~skimpute.nn.MaskDecoder`) Bernoulli with a sigmoid, starting
      from the observed rates.
    - The samples ``x_m,k`` of eq. 15 are not drawn in training: with parallel decoders they do
      not enter the weights, so the bound is the same without them. They are drawn for
      :meth:`sample`.
    - ``alpha`` (eq. 18) is the exponent of the mask likelihood in the weights of the
      training bound and in the self-normalised weights of :meth:`impute`, :meth:`sample` and
      :meth:`mask_proba` (eq. 20 is written with the same weights); :meth:`log_likelihood`
      uses ``alpha = 1``, the bound of ``log p(x_o, m)`` of eq. 15-17.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    latent_dim : int
        Size ``d`` of ``z`` (and of ``u``).
    hidden_layer_sizes : sequence of int, default=(128, 128)
        Widths of the hidden layers of the encoder and of each decoder.
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layers and of the fusion layer.
    encoder : {"mlp", "set"}, default="mlp"
        ``"mlp"``: the encoder reads the zero-filled data; ``"set"``: a permutation-invariant
        embedding of the observed entries (:class:`~skimpute.nn.SetEmbedding`).
    auxiliary : {"latent", "observed"} or None, default="latent"
        How ``u`` is built, see above.
    alpha : float, default=1.0
        Exponent ``alpha`` of ``p_phi2(m | u, z)`` in the weights (eq. 18).
    n_importance_samples : int, default=20
        ``K``, the samples per row of the training bound.
    observed_rate : array-like of shape (n_features,), default=None
        Fraction of observed entries of each feature at fit, the starting point of the mask
        decoder.
    auxiliary_columns : sequence of int, default=None
        The columns ``a`` of ``auxiliary="observed"`` (fully observed at fit); ignored
        otherwise. None or empty: ``u = g_theta(z)`` as with ``"latent"``.

    Attributes
    ----------
    encoder : skimpute.nn.GaussianEncoder
        ``q_gamma(z | x_o)``.
    data_decoder : skimpute.nn.MLPDecoder
        ``p_phi1(x | u, z)``, Gaussian, from ``h`` to the ``D`` features.
    fusion : torch.nn.Sequential or None
        ``g_theta``, the fusion layer that builds ``u``; None with ``auxiliary=None``.
    prior : skimpute.nn.MLPDecoder or None
        ``p_theta(a | z)``, the prior network of ``auxiliary="observed"``; None otherwise.
    mask_decoder : skimpute.nn.MaskDecoder
        ``p_phi2(m | u, z)``, Bernoulli, from ``h`` to the ``D`` mask bits.
    alpha : float
        The exponent of the mask likelihood.
    n_importance_samples : int
        ``K``.
    auxiliary_index : Tensor of shape (n_auxiliary,) or None
        Buffer with the indices of the columns ``a``; None unless ``auxiliary="observed"``
        with at least one such column.

    Notes
    -----
    ``forward(X, mask)`` takes the zero-filled standardised data and the mask (1 = observed),
    both ``(B, D)``, and returns the log importance weights ``(B, K)`` with the exponent
    `alpha`; the criterion is minus their importance-weighted bound.

    Examples
    --------
    >>> import torch
    >>> from skimpute.gnr._module import GNRModule
    >>> module = GNRModule(n_features=3, latent_dim=2, hidden_layer_sizes=(8,),
    ...                    n_importance_samples=5)
    >>> X, mask = torch.randn(4, 3), torch.ones(4, 3)
    >>> mask[0, 1] = 0.0
    >>> module(X * mask, mask).shape  # log weights (B, K)
    torch.Size([4, 5])
    >>> module.impute(X * mask, mask, n_samples=50).shape
    torch.Size([4, 3])
    """

    def __init__(
        self,
        n_features,
        latent_dim,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        encoder="mlp",
        auxiliary="latent",
        alpha=1.0,
        n_importance_samples=20,
        observed_rate=None,
        auxiliary_columns=None,
    ):
        super().__init__()
        if auxiliary not in AUXILIARY:
            raise ValueError(f"unknown auxiliary {auxiliary!r}; expected one of {AUXILIARY}")
        hidden = tuple(int(h) for h in hidden_layer_sizes)
        self.alpha = float(alpha)
        self.n_importance_samples = int(n_importance_samples)
        columns = [] if auxiliary != "observed" or auxiliary_columns is None else auxiliary_columns
        n_aux = len(columns)
        code_dim = latent_dim if auxiliary is None else 2 * latent_dim
        # created in this order so that, with auxiliary=None, the encoder and the data decoder
        # start from the weights of the not-MIWAE module built from the same seed
        self.encoder = GaussianEncoder(
            n_features, latent_dim, hidden, activation, set_encoder=encoder == "set"
        )
        self.data_decoder = MLPDecoder(code_dim, n_features, hidden, activation, "gaussian")
        self.fusion = (
            None
            if auxiliary is None
            else make_mlp(latent_dim + n_aux, (latent_dim,), None, activation)
        )
        self.prior = MLPDecoder(latent_dim, n_aux, hidden, activation) if n_aux else None
        self.mask_decoder = MaskDecoder(code_dim, n_features, hidden, activation, observed_rate)
        self.register_buffer(
            "auxiliary_index",
            torch.as_tensor([int(j) for j in columns], dtype=torch.long) if n_aux else None,
        )

    # ------------------------------------------------------------------ core
    def decode(self, z, X, mask, noise):
        """Build the code ``h = [z, u]`` and the data decoder's distribution.

        Parameters
        ----------
        z : Tensor of shape (S, B, latent_dim)
            Latent samples.
        X : Tensor of shape (B, D)
            Zero-filled standardised data (read for the auxiliary columns only).
        mask : Tensor of shape (B, D)
            Mask ``m``, 1.0 where observed.
        noise : skimpute.nn.GlobalNoise or skimpute.nn.RowNoise
            Source of the draws of the auxiliary columns missing at transform.

        Returns
        -------
        px : torch.distributions.Normal
            ``p(x | u, z)`` with batch shape ``(S, B, D)``: the data decoder, and for the
            auxiliary columns of ``auxiliary="observed"`` the prior network ``p_theta(a | z)``.
        h : Tensor of shape (S, B, code_dim)
            The code read by both decoders, ``[z, u]`` (``z`` with ``auxiliary=None``).
        """
        if self.fusion is None:
            return self.data_decoder(z), z
        if self.auxiliary_index is None:
            h = torch.cat([z, self.fusion(z)], dim=-1)
            return self.data_decoder(h), h
        idx = self.auxiliary_index
        pa = self.prior(z)  # p_theta(a | z), (S, B, n_aux)
        a, ma = X[:, idx], mask[:, idx]
        if self.training:  # the auxiliary columns are fully observed in the training data
            a = a.expand(pa.loc.shape)
        else:  # drawn for every row at inference, so that a row's draws do not depend on others
            a = a * ma + observation_rsample(pa, noise) * (1 - ma)
        h = torch.cat([z, self.fusion(torch.cat([z, a], dim=-1))], dim=-1)
        px = self.data_decoder(h)
        px = Normal(
            px.loc.index_copy(-1, idx, pa.loc),
            px.scale.index_copy(-1, idx, pa.scale),
            validate_args=False,
        )
        return px, h

    def importance(self, X, mask, n_samples, noise=None, alpha=None, need_x_sample=False):
        """Draw ``S = n_samples`` importance samples per row and their log weights.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            Zero-filled standardised data.
        mask : Tensor of shape (B, D)
            Mask ``m``, 1.0 where observed.
        n_samples : int
            ``S``: ``K`` in training, ``L`` at inference.
        noise : skimpute.nn.GlobalNoise or skimpute.nn.RowNoise, default=None
            Source of the random draws; None draws from torch's global generator.
        alpha : float, default=None
            Exponent of the mask likelihood in the weights; None means the module's `alpha`.
            With 0 the mask decoder is not evaluated.
        need_x_sample : bool, default=False
            Whether to draw ``x_m,k ~ p_phi1(x_m | u, z_k)`` and return the completed rows.

        Returns
        -------
        log_w : Tensor of shape (S, B)
            ``log p(x_o | u, z_k) + alpha log p(m | u, z_k) + log p(z_k) - log q(z_k | x_o)``.
        px : torch.distributions.Normal
            ``p(x | u, z_k)``, batch shape ``(S, B, D)``.
        h : Tensor of shape (S, B, code_dim)
            The codes ``[z_k, u_k]`` read by the decoders.
        x_full : Tensor of shape (S, B, D) or None
            ``x_o`` completed by the samples ``x_m,k``; None unless `need_x_sample`.
        """
        noise = GlobalNoise(X.device) if noise is None else noise
        alpha = self.alpha if alpha is None else float(alpha)
        z, log_pz, log_qz = self.encoder.rsample(X, mask, n_samples, noise)
        px, h = self.decode(z, X, mask, noise)
        log_w = (px.log_prob(X) * mask).sum(-1) + log_pz - log_qz
        if alpha != 0.0:
            log_w = log_w + alpha * self.mask_decoder.log_prob(mask, h)
        x_full = None
        if need_x_sample:
            x_full = X * mask + observation_rsample(px, noise) * (1 - mask)
        return log_w, px, h, x_full

    def forward(self, X, mask):
        """Compute the log importance weights of the training bound.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            Zero-filled standardised data.
        mask : Tensor of shape (B, D)
            Mask ``m``, 1.0 where observed.

        Returns
        -------
        log_w : Tensor of shape (B, K)
            The log weights ``log w_hat_k`` of eq. 18, ``K = n_importance_samples`` per row.
        """
        log_w, _, _, _ = self.importance(X, mask, self.n_importance_samples)
        return log_w.T

    # ------------------------------------------------------ inference hooks
    def log_likelihood(self, X, mask, n_samples, noise=None):
        """Importance-weighted estimate of ``log p(x_o, m)`` per row (``alpha = 1``).

        Parameters
        ----------
        X, mask, n_samples, noise
            As in :meth:`importance` (Tensors of shape ``(B, D)``; ``n_samples`` is ``L``).

        Returns
        -------
        bound : Tensor of shape (B,)
            The GNR lower bound ``L_L`` (eq. 15-17) with the unweighted mask likelihood, on the
            standardised scale, whatever `alpha` the model was trained with.
        """
        log_w, _, _, _ = self.importance(X, mask, n_samples, noise, alpha=1.0)
        return iw_bound(log_w, dim=0)

    def impute(self, X, mask, n_samples, noise=None, method="mean"):
        """Self-normalised importance-sampling imputation (eq. 20), standardised scale.

        Parameters
        ----------
        X, mask, n_samples, noise
            As in :meth:`importance` (Tensors of shape ``(B, D)``; ``n_samples`` is ``L``).
        method : {"mean", "median"}, default="mean"
            ``"mean"``: the weighted mean of the decoder means; ``"median"``: the median of
            the weighted mixture of the decoder distributions.

        Returns
        -------
        X_hat : Tensor of shape (B, D)
            Estimates of ``E[x | x_o, m]`` (or the median) for every entry, observed ones
            included.
        """
        log_w, px, _, _ = self.importance(X, mask, n_samples, noise)
        if method == "mean":
            return snis_mean(log_w, px.mean)
        return observation_median(log_w, px)

    def sample(self, X, mask, n_samples, n_draws, noise=None):
        """Multiple imputation by sampling importance resampling.

        Parameters
        ----------
        X, mask, n_samples, noise
            As in :meth:`importance` (Tensors of shape ``(B, D)``; ``n_samples`` is ``L``).
        n_draws : int
            Number of completed rows to draw per row.

        Returns
        -------
        draws : Tensor of shape (n_draws, B, D)
            Completed rows ``(x_o, x_m,k)``, ``k`` drawn with the normalised weights.
        """
        noise = GlobalNoise(X.device) if noise is None else noise
        log_w, _, _, x_full = self.importance(X, mask, n_samples, noise, need_x_sample=True)
        return importance_resample(log_w, x_full, n_draws, noise)

    def mask_proba(self, X, mask, n_samples, noise=None):
        """Reconstructed probabilistic mask, ``P(m_j = 1 | u, z)`` averaged over the posterior.

        Parameters
        ----------
        X, mask, n_samples, noise
            As in :meth:`importance` (Tensors of shape ``(B, D)``; ``n_samples`` is ``L``).

        Returns
        -------
        proba : Tensor of shape (B, D)
            ``sum_k alpha_k sigmoid(mask_decoder(h_k))``, the self-normalised
            importance-sampling mean of the mask decoder's probabilities (the paper's
            figure 5), clamped to [0, 1] against rounding.
        """
        log_w, _, h, _ = self.importance(X, mask, n_samples, noise)
        # clamped: the float32 weighted sum of probabilities near 1 may round above 1
        return snis_mean(log_w, torch.sigmoid(self.mask_decoder(h))).clamp(0.0, 1.0)
