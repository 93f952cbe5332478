"""Observation models ``p(x | z)``: decoders that return :mod:`torch.distributions` objects.

A decoder maps latent samples ``z`` of shape ``(S, B, latent_dim)`` to a distribution with batch
shape ``(S, B, D)``, one independent factor per feature, so that ``log p(x_o | z)`` is the sum of
``log_prob`` over the observed features (the model is fully factorised, as the not-MIWAE
requires). Two likelihoods are offered:

- ``"gaussian"``: ``Normal(mu(z), sigma(z))``;
- ``"student_t"``: ``StudentT(nu(z), mu(z), sigma(z))`` with ``nu = 3 + softplus(.)`` (finite
  variance), as in the reference code.

The scale is ``softplus(.) + 1e-3``. The helpers :func:`observation_rsample` and
:func:`observation_cdf` draw reparameterised samples of ``x_m`` from a noise source (so that the
draws can be seeded per row) and evaluate the CDF used by the median imputation, which
:func:`observation_median` computes.
"""

import torch
from torch import nn
from torch.distributions import Normal, StudentT
from torch.nn.functional import softplus

from skimpute.nn._layers import glorot_linear, make_mlp
from skimpute.nn._sampling import mixture_median

__all__ = [
    "LIKELIHOODS",
    "LinearDecoder",
    "MLPDecoder",
    "observation_cdf",
    "observation_median",
    "observation_rsample",
]

#: Names accepted by the ``likelihood`` parameter.
LIKELIHOODS = ("gaussian", "student_t")

_MIN_SCALE = 1e-3  # floor on the observation scale of standardised data, for numerical safety


def _make_distribution(likelihood, loc, raw_scale, raw_df=None):
    """Build the observation distribution from unconstrained decoder outputs.

    Parameters
    ----------
    likelihood : {"gaussian", "student_t"}
        The family of the distribution.
    loc : Tensor of shape (S, B, D)
        Location (the mean).
    raw_scale : Tensor of shape (S, B, D)
        Unconstrained scale; the scale is ``softplus(raw_scale) + 1e-3``.
    raw_df : Tensor of shape (S, B, D) or None, default=None
        Unconstrained degrees of freedom of the Student-t, ``df = 3 + softplus(raw_df)``;
        unused for the Gaussian.

    Returns
    -------
    dist : torch.distributions.Normal or torch.distributions.StudentT
        The distribution, with batch shape ``(S, B, D)`` and argument validation off.
    """
    scale = softplus(raw_scale) + _MIN_SCALE
    if likelihood == "gaussian":
        return Normal(loc, scale, validate_args=False)
    df = 3.0 + softplus(raw_df)
    return StudentT(df, loc, scale, validate_args=False)


class MLPDecoder(nn.Module):
    """MLP decoder ``p(x | z)`` with a heteroscedastic scale, as in the not-MIWAE.

    An MLP maps ``z`` to ``[loc, raw scale (, raw df)]``, each of width `n_features`: the
    location, the scale and (for the Student-t) the degrees of freedom of every feature depend
    on ``z`` and differ from feature to feature. This is the decoder of the paper's deep latent
    variable model (DLVM).

    Parameters
    ----------
    latent_dim : int
        Size ``d`` of the latent variable ``z``.
    n_features : int
        Number of features ``D``.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers of the MLP.
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layers.
    likelihood : {"gaussian", "student_t"}, default="gaussian"
        Family of ``p(x_j | z)``, see :data:`LIKELIHOODS`.

    Attributes
    ----------
    likelihood : str
        The family of ``p(x_j | z)``.
    net : torch.nn.Sequential
        The MLP, with ``2 * n_features`` outputs (Gaussian) or ``3 * n_features``
        (Student-t).

    See Also
    --------
    LinearDecoder : PPCA-like decoder with one shared noise scale.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import MLPDecoder
    >>> decoder = MLPDecoder(latent_dim=2, n_features=3, hidden_layer_sizes=(8,))
    >>> px = decoder(torch.zeros(10, 5, 2))  # K = 10 samples of z for B = 5 rows
    >>> px.batch_shape
    torch.Size([10, 5, 3])
    """

    def __init__(
        self, latent_dim, n_features, hidden_layer_sizes, activation="tanh", likelihood="gaussian"
    ):
        super().__init__()
        self.likelihood = likelihood
        n_heads = 2 if likelihood == "gaussian" else 3
        self.net = make_mlp(latent_dim, hidden_layer_sizes, n_heads * n_features, activation)

    def forward(self, z):
        """Compute the distribution ``p(x | z)``.

        Parameters
        ----------
        z : Tensor of shape (S, B, latent_dim)
            Latent samples, ``S`` per row (any leading shape is accepted).

        Returns
        -------
        px : torch.distributions.Normal or torch.distributions.StudentT
            The observation model, with batch shape ``(S, B, n_features)``.
        """
        return _make_distribution(
            self.likelihood, *self.net(z).chunk(2 if self.likelihood == "gaussian" else 3, dim=-1)
        )


class LinearDecoder(nn.Module):
    """PPCA-like linear decoder ``p(x | z)`` with one noise scale shared by all features.

    The location is ``W z + b``; the scale (and, for the Student-t, the degrees of freedom) is a
    single learned parameter, the same for every feature, row and sample. With a Gaussian
    likelihood this is probabilistic PCA, the paper's "not-MIWAE PPCA".

    Parameters
    ----------
    latent_dim : int
        Size ``d`` of the latent variable ``z``.
    n_features : int
        Number of features ``D``.
    likelihood : {"gaussian", "student_t"}, default="gaussian"
        Family of ``p(x_j | z)``, see :data:`LIKELIHOODS`.

    Attributes
    ----------
    likelihood : str
        The family of ``p(x_j | z)``.
    linear : torch.nn.Linear
        The map ``z -> W z + b``.
    raw_scale : torch.nn.Parameter of shape (1,)
        Unconstrained noise scale, initialised to 0; the scale is ``softplus(raw_scale) + 1e-3``.
    raw_df : torch.nn.Parameter of shape (1,) or None
        Unconstrained degrees of freedom (``df = 3 + softplus(raw_df)``), initialised to 0;
        None for the Gaussian.

    See Also
    --------
    MLPDecoder : Nonlinear decoder with a feature- and z-dependent scale.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import LinearDecoder
    >>> decoder = LinearDecoder(latent_dim=2, n_features=3)
    >>> decoder(torch.zeros(10, 5, 2)).batch_shape
    torch.Size([10, 5, 3])
    """

    def __init__(self, latent_dim, n_features, likelihood="gaussian"):
        super().__init__()
        self.likelihood = likelihood
        self.linear = glorot_linear(latent_dim, n_features)
        self.raw_scale = nn.Parameter(torch.zeros(1))
        self.raw_df = nn.Parameter(torch.zeros(1)) if likelihood == "student_t" else None

    def forward(self, z):
        """Compute the distribution ``p(x | z)``.

        Parameters
        ----------
        z : Tensor of shape (S, B, latent_dim)
            Latent samples, ``S`` per row (any leading shape is accepted).

        Returns
        -------
        px : torch.distributions.Normal or torch.distributions.StudentT
            The observation model, with batch shape ``(S, B, n_features)``.
        """
        loc = self.linear(z)
        raw_df = None if self.raw_df is None else self.raw_df.expand_as(loc)
        return _make_distribution(self.likelihood, loc, self.raw_scale.expand_as(loc), raw_df)


def observation_rsample(dist, noise):
    """Draw one reparameterised sample of an observation distribution.

    The sample is ``loc + scale * eps``, with ``eps`` standard normal for the Gaussian and
    ``eps = N(0, 1) / sqrt(2 G / df)`` with ``G ~ Gamma(df / 2, 1)`` for the Student-t, so
    gradients flow back to the decoder through ``loc`` and ``scale``. This is how the not-MIWAE
    samples ``x_m ~ p(x_m | z)`` in the bound. The standard draws come from `noise`, so they can
    be seeded per row.

    Parameters
    ----------
    dist : torch.distributions.Normal or torch.distributions.StudentT
        The distribution, with batch shape ``(S, B, D)`` (as returned by :class:`MLPDecoder` or
        :class:`LinearDecoder`).
    noise : GlobalNoise or RowNoise
        Source of the standard normal and gamma draws; a :class:`RowNoise` needs ``B`` seeds.

    Returns
    -------
    x : Tensor of shape (S, B, D)
        One sample per element of the batch of `dist`.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from skimpute.nn import GlobalNoise, observation_rsample
    >>> dist = Normal(torch.zeros(10, 5, 3), torch.ones(10, 5, 3))
    >>> observation_rsample(dist, GlobalNoise()).shape
    torch.Size([10, 5, 3])
    """
    eps = noise.randn(dist.loc.shape)
    if isinstance(dist, StudentT):
        df = dist.df.expand_as(dist.loc)
        chi2_over_df = 2.0 * noise.standard_gamma(0.5 * df) / df
        eps = eps * torch.rsqrt(chi2_over_df.clamp_min(1e-12))
    return dist.loc + dist.scale * eps


def observation_cdf(dist, x):
    """Evaluate the cumulative distribution function of an observation distribution.

    This gives the components ``F_k`` of the mixture CDF of eq. (20) of the not-MIWAE paper, used
    by :func:`mixture_median` for the median imputation. The Gaussian CDF is computed by torch;
    the Student-t CDF by :func:`scipy.special.stdtr`, in float64 on the CPU (it is not
    differentiable) and cast back to the dtype and device of ``dist.loc``.

    Parameters
    ----------
    dist : torch.distributions.Normal or torch.distributions.StudentT
        The distribution, with batch shape ``(S, B, D)``.
    x : Tensor of shape (B, D)
        Points at which the CDF is evaluated; any shape that broadcasts against the batch shape
        is accepted.

    Returns
    -------
    cdf : Tensor of shape (S, B, D)
        ``P(X <= x)`` for every element of the batch of `dist`.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from skimpute.nn import observation_cdf
    >>> dist = Normal(torch.zeros(2, 1, 1), torch.ones(2, 1, 1))
    >>> observation_cdf(dist, torch.zeros(1, 1)).flatten()
    tensor([0.5000, 0.5000])
    """
    if isinstance(dist, Normal):
        return dist.cdf(x)
    from scipy.special import stdtr

    t = ((x - dist.loc) / dist.scale).detach().cpu().double().numpy()
    df = dist.df.expand_as(dist.loc).detach().cpu().double().numpy()
    return torch.as_tensor(stdtr(df, t), dtype=dist.loc.dtype, device=dist.loc.device)


def observation_median(log_w, dist, n_iter=40):
    """Median of the self-normalised mixture of observation distributions, per entry.

    The conditional-median imputation of eq. (20) of the not-MIWAE paper: each entry solves
    ``sum_k alpha_k F_k(x) = 0.5``, where ``alpha_k`` are the self-normalised importance weights
    and ``F_k`` the CDFs of the decoder distributions ``p(x | z_k)``. The root is found by
    :func:`mixture_median` in the bracket ``[min_k (loc_k - c scale_k), max_k (loc_k + c
    scale_k)]`` with ``c = 10`` (30 for the Student-t, whose tails are heavier).

    Parameters
    ----------
    log_w : Tensor of shape (S, B)
        Log importance weights, ``S`` samples per row.
    dist : torch.distributions.Normal or torch.distributions.StudentT
        The observation distributions ``p(x | z_k)``, with batch shape ``(S, B, D)``.
    n_iter : int, default=40
        Number of bisection steps.

    Returns
    -------
    median : Tensor of shape (B, D)
        The median of the mixture, per row and feature.

    See Also
    --------
    mixture_median : The bisection.
    skimpute.nn.snis_mean : The conditional mean, the imputation for the squared error.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from skimpute.nn import observation_median
    >>> px = Normal(torch.tensor([[[0.0]], [[2.0]]]), torch.ones(2, 1, 1))
    >>> observation_median(torch.zeros(2, 1), px)  # equal weights: 1 by symmetry
    tensor([[1.0000]])
    """
    spread = 10.0 * dist.scale * (3.0 if isinstance(dist, StudentT) else 1.0)
    lo = (dist.loc - spread).amin(dim=0)
    hi = (dist.loc + spread).amax(dim=0)
    return mixture_median(log_w, lambda x: observation_cdf(dist, x), lo, hi, n_iter=n_iter)
