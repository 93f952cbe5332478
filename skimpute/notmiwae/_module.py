"""The not-MIWAE torch module (Ipsen, Mattei & Frellsen, ICLR 2021).

Generative model: ``z ~ N(0, I)``, ``x | z ~ p_theta(x | z)`` (a decoder from
:mod:`skimpute.nn`), ``s | x ~ p_phi(s | x)`` (a missing-data model). Proposal:
``q_gamma(z | x_o)`` (a Gaussian encoder of the zero-filled data) times ``p_theta(x_m | z)``.
The log importance weight of sample ``k`` is

    log w_k = log p(x_o | z_k) + log p(s | x_o, x_m,k) + log p(z_k) - log q(z_k | x_o),

and the bound is ``log mean_k w_k`` (eq. 8-9 of the paper). Without a missing model
(``missing_model=None``) the ``log p(s | .)`` term is a constant (fixed MCAR rates) and the
objective is MIWAE's.
"""

import torch
from torch import nn

from skimpute.nn import (
    GaussianEncoder,
    GlobalNoise,
    LinearDecoder,
    MLPDecoder,
    importance_resample,
    iw_bound,
    make_missing_model,
    observation_median,
    observation_rsample,
    snis_mean,
    snis_median,
)


class NotMIWAEModule(nn.Module):
    """Encoder, decoder and missing-data model of the not-MIWAE.

    Args:
        n_features: ``D``.
        latent_dim: ``d``.
        hidden_layer_sizes: widths of the encoder and (MLP) decoder hidden layers.
        activation: activation of the hidden layers.
        decoder: ``"mlp"`` or ``"linear"`` (PPCA-like, one shared noise scale).
        likelihood: ``"gaussian"`` or ``"student_t"``.
        missing_model: see :data:`skimpute.nn.MISSING_MODELS`.
        encoder: ``"mlp"`` (zero-filled input) or ``"set"`` (permutation-invariant embedding).
        n_importance_samples: ``K``, the samples per row of the training bound.
        observed_rate: per-feature fraction of observed entries (used by ``missing_model=None``).

    ``forward(X, mask)`` takes the zero-filled standardised data and the mask (1 = observed),
    both ``(B, D)``, and returns the log importance weights ``(B, K)``.
    """

    def __init__(
        self,
        n_features,
        latent_dim,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        decoder="mlp",
        likelihood="gaussian",
        missing_model="selfmasking",
        encoder="mlp",
        n_importance_samples=20,
        observed_rate=None,
    ):
        super().__init__()
        hidden = tuple(int(h) for h in hidden_layer_sizes)
        self.n_importance_samples = int(n_importance_samples)
        self.encoder = GaussianEncoder(
            n_features, latent_dim, hidden, activation, set_encoder=encoder == "set"
        )
        if decoder == "linear":
            self.decoder = LinearDecoder(latent_dim, n_features, likelihood)
        else:
            self.decoder = MLPDecoder(latent_dim, n_features, hidden, activation, likelihood)
        self.missing = make_missing_model(
            missing_model, n_features, hidden, activation, observed_rate
        )

    # ------------------------------------------------------------------ core
    def importance(self, X, mask, n_samples, noise=None, need_x_sample=False):
        """Draw ``S = n_samples`` importance samples per row.

        Returns:
            ``log_w`` ``(S, B)``, the decoder distribution ``p(x | z_k)`` (batch ``(S, B, D)``),
            and the completed data ``x_o + sampled x_m`` ``(S, B, D)`` (``None`` when neither the
            missing model nor ``need_x_sample`` asks for it).
        """
        noise = GlobalNoise(X.device) if noise is None else noise
        z, log_pz, log_qz = self.encoder.rsample(X, mask, n_samples, noise)  # z: (S, B, d)
        px = self.decoder(z)
        log_px = (px.log_prob(X) * mask).sum(-1)
        x_full = None
        if self.missing.depends_on_x or need_x_sample:
            x_full = X * mask + observation_rsample(px, noise) * (1 - mask)
        log_ps = self.missing.log_prob(mask, x_full if self.missing.depends_on_x else X)
        return log_px + log_ps + log_pz - log_qz, px, x_full

    def forward(self, X, mask):
        log_w, _, _ = self.importance(X, mask, self.n_importance_samples)
        return log_w.T

    # ------------------------------------------------------ inference hooks
    def log_likelihood(self, X, mask, n_samples, noise=None):
        """Importance-weighted estimate of ``log p(x_o, s)`` per row, ``(B,)``."""
        log_w, _, _ = self.importance(X, mask, n_samples, noise)
        return iw_bound(log_w, dim=0)

    def impute(self, X, mask, n_samples, noise=None, method="mean", rao_blackwell=True):
        """Self-normalised importance-sampling imputation ``(B, D)`` (standardised scale).

        ``"mean"``: the weighted mean, ``"median"``: the weighted median of the conditional
        distribution of ``x_m`` given ``(x_o, s)``. With `rao_blackwell` the estimates use the
        decoder at each ``z_k`` (eq. 18-20): the weighted mean of the decoder means, or the median
        of the weighted mixture of the decoder CDFs, by bisection. Without it they use the
        sampled ``x_m,k`` themselves (eq. 16): their weighted mean or median. The two agree when
        the weights do not depend on ``x_m`` (the MIWAE); otherwise only the second is
        consistent, since ``p(s | x_o, x_m,k)`` selects part of ``p(x_m | z_k)``.
        """
        log_w, px, x_full = self.importance(
            X, mask, n_samples, noise, need_x_sample=not rao_blackwell
        )
        if not rao_blackwell:
            return (snis_mean if method == "mean" else snis_median)(log_w, x_full)
        if method == "mean":
            return snis_mean(log_w, px.mean)
        return observation_median(log_w, px)

    def sample(self, X, mask, n_samples, n_draws, noise=None):
        """Sampling importance resampling: ``(n_draws, B, D)`` draws of the completed rows."""
        log_w, _, x_full = self.importance(X, mask, n_samples, noise, need_x_sample=True)
        return importance_resample(
            log_w, x_full, n_draws, noise if noise is not None else GlobalNoise(X.device)
        )

    def mask_proba(self, X_full):
        """``P(s_j = 1 | x)`` of the missing model at complete (standardised) data ``(B, D)``."""
        return torch.sigmoid(self.missing(X_full))
