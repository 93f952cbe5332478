"""Sources of random numbers for the importance samplers, and self-normalised importance sampling.

The noise sources (:class:`GlobalNoise`, :class:`RowNoise`) share three methods, ``randn``,
``standard_gamma`` and ``multinomial``, so the modules draw ``z``, ``x_m`` and resampling indices
the same way in training and in inference. Training draws from torch's global generator (seeded by
the estimator inside :func:`torch.random.fork_rng`). Transform, ``score`` and ``sample`` draw from
one generator per row, seeded from the estimator's transform seed and the row's position, so the
result of a row does not depend on how the rows are split into chunks, and a fitted estimator
returns the same numbers at every call and after pickling.

Self-normalised importance sampling (appendix B of the not-MIWAE paper) turns the log weights
``log w_k`` of ``S`` samples (``K`` in training, ``L`` at transform) into the normalised weights
``alpha_k = w_k / sum_l w_l``, which give the conditional mean (eq. 19), the conditional median
(eq. 20) and, by resampling, multiple imputations.

Tensor shapes follow ``(S, B, ...)``: ``S`` importance samples, ``B`` rows.
"""

import numpy as np
import torch

__all__ = [
    "GlobalNoise",
    "RowNoise",
    "importance_resample",
    "mixture_median",
    "row_seeds",
    "snis_mean",
    "snis_median",
    "snis_weights",
]


class GlobalNoise:
    """Noise source that draws from torch's global generator (used in training).

    The estimator seeds the global generator inside :func:`torch.random.fork_rng`, so the
    draws are reproducible without touching the caller's random state.

    Parameters
    ----------
    device : str or torch.device, default="cpu"
        Where the normal draws are made.

    Attributes
    ----------
    device : torch.device
        Where the normal draws are made.

    See Also
    --------
    RowNoise : One seeded generator per row, used at transform.

    Examples
    --------
    >>> from skimpute.nn import GlobalNoise
    >>> GlobalNoise().randn((20, 4, 2)).shape
    torch.Size([20, 4, 2])
    """

    def __init__(self, device="cpu"):
        self.device = torch.device(device)

    def randn(self, shape):
        """Draw standard normal numbers.

        Parameters
        ----------
        shape : tuple of int
            Shape of the draws, for example ``(S, B, latent_dim)``.

        Returns
        -------
        eps : Tensor
            Independent ``N(0, 1)`` draws of shape `shape`, on the noise source's device.
        """
        return torch.randn(shape, device=self.device)

    def standard_gamma(self, alpha):
        """Draw from ``Gamma(alpha, 1)``, elementwise.

        Parameters
        ----------
        alpha : Tensor of shape (S, B, D)
            Shape parameters, positive; any shape is accepted.

        Returns
        -------
        g : Tensor of shape (S, B, D)
            One draw per element of `alpha`, on its device.
        """
        return torch._standard_gamma(alpha)

    def multinomial(self, probs, n):
        """Draw sample indices with replacement.

        Parameters
        ----------
        probs : Tensor of shape (B, S)
            Probabilities (or non-negative weights) of the ``S`` samples of each row.
        n : int
            Number of draws per row.

        Returns
        -------
        idx : Tensor of shape (B, n)
            Indices in ``[0, S)``, of dtype int64.
        """
        return torch.multinomial(probs, n, replacement=True)


def row_seeds(seed, start, stop):
    """Derive the seeds of the rows ``start, ..., stop - 1`` from one integer seed.

    The seed of row ``i`` depends only on `seed` and ``i`` (it is drawn from the
    :class:`numpy.random.SeedSequence` of `seed` with spawn key ``(i,)``), so the random numbers
    of a row do not depend on how the rows are split into chunks.

    Parameters
    ----------
    seed : int
        The seed of the call (the estimator's transform seed, plus a salt per method).
    start : int
        Position of the first row.
    stop : int
        Position after the last row.

    Returns
    -------
    seeds : list of int
        ``stop - start`` non-negative 63-bit seeds, one per row, for :class:`RowNoise`.

    Examples
    --------
    >>> from skimpute.nn import row_seeds
    >>> seeds = row_seeds(0, 0, 4)
    >>> len(seeds), row_seeds(0, 2, 4) == seeds[2:]
    (4, True)
    """
    seq = np.random.SeedSequence([int(seed)])
    # one 63-bit seed per row position; SeedSequence spawn keys give independent streams
    return [
        int(
            np.random.SeedSequence(seq.entropy, spawn_key=(int(i),))
            .generate_state(2, np.uint32)
            .view(np.uint64)[0]
            >> 1
        )
        for i in range(start, stop)
    ]


class RowNoise:
    """Noise source with one seeded :class:`torch.Generator` per row (used at inference).

    Each row draws its numbers from its own generator and the draws are stacked along dimension
    1, the row dimension of the ``(S, B, ...)`` tensors. With the seeds of :func:`row_seeds`,
    ``transform``, ``score`` and ``sample`` give each row the same numbers whatever the chunk it
    falls in, at every call and after pickling.

    Parameters
    ----------
    seeds : sequence of int
        One seed per row of the chunk (see :func:`row_seeds`); its length is ``B``.
    device : str or torch.device, default="cpu"
        Where the numbers are drawn.

    Attributes
    ----------
    device : torch.device
        Where the numbers are drawn.
    generators : list of torch.Generator
        The generators of the rows, in order.

    See Also
    --------
    GlobalNoise : Draws from torch's global generator, used in training.
    row_seeds : Derives the seeds of the rows.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import RowNoise, row_seeds
    >>> eps = RowNoise(row_seeds(0, 0, 3)).randn((20, 3, 2))
    >>> torch.equal(eps[:, 2], RowNoise(row_seeds(0, 2, 3)).randn((20, 1, 2))[:, 0])
    True
    """

    def __init__(self, seeds, device="cpu"):
        self.device = torch.device(device)
        self.generators = [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]

    def randn(self, shape):
        """Draw standard normal numbers, each row from its own generator.

        Parameters
        ----------
        shape : tuple of int
            Shape of the draws, ``(S, B, ...)``; ``shape[1]`` must be the number of rows ``B``.

        Returns
        -------
        eps : Tensor
            Independent ``N(0, 1)`` draws of shape `shape`; ``eps[:, i]`` comes from the
            generator of row ``i``.

        Raises
        ------
        ValueError
            If ``shape[1]`` differs from the number of seeds.
        """
        shape = tuple(shape)
        if shape[1] != len(self.generators):
            raise ValueError(
                f"expected {len(self.generators)} rows in dimension 1, got shape {shape}"
            )
        row_shape = shape[:1] + shape[2:]
        return torch.stack(
            [torch.randn(row_shape, generator=g, device=self.device) for g in self.generators],
            dim=1,
        )

    def standard_gamma(self, alpha):
        """Draw from ``Gamma(alpha, 1)``, elementwise, each row from its own generator.

        Parameters
        ----------
        alpha : Tensor of shape (S, B, D)
            Shape parameters, positive; dimension 1 holds the ``B`` rows.

        Returns
        -------
        g : Tensor of shape (S, B, D)
            One draw per element of `alpha`; ``g[:, i]`` comes from the generator of row ``i``.
        """
        return torch.stack(
            [
                torch._standard_gamma(alpha[:, i].contiguous(), generator=g)
                for i, g in enumerate(self.generators)
            ],
            dim=1,
        )

    def multinomial(self, probs, n):
        """Draw sample indices with replacement, each row from its own generator.

        Parameters
        ----------
        probs : Tensor of shape (B, S)
            Probabilities (or non-negative weights) of the ``S`` samples of each row.
        n : int
            Number of draws per row.

        Returns
        -------
        idx : Tensor of shape (B, n)
            Indices in ``[0, S)``, of dtype int64.
        """
        return torch.stack(
            [
                torch.multinomial(probs[i], n, replacement=True, generator=g)
                for i, g in enumerate(self.generators)
            ]
        )


def snis_weights(log_w, dim=0):
    """Compute the self-normalised importance weights from log weights.

    The weights are ``alpha_k = w_k / sum_l w_l`` (eq. 16 of the not-MIWAE paper), computed
    as a softmax of ``log w`` so that they do not overflow.

    Parameters
    ----------
    log_w : Tensor of shape (S, B)
        Log importance weights ``log w_k``, ``S`` samples per row.
    dim : int, default=0
        Dimension of the samples.

    Returns
    -------
    alpha : Tensor of shape (S, B)
        Non-negative weights that sum to 1 along `dim`.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import snis_weights
    >>> snis_weights(torch.log(torch.tensor([[1.0], [3.0]])))
    tensor([[0.2500],
            [0.7500]])
    """
    return torch.softmax(log_w, dim=dim)


def snis_mean(log_w, values):
    """Compute the self-normalised importance-sampling estimate ``sum_k alpha_k values_k``.

    With the sampled completed rows ``(x_o, x_m,k)`` as `values` this is the conditional-mean
    imputation ``E[x_m | x_o, s]`` of eq. (16) of the not-MIWAE paper; with the decoder means
    ``E[x | z_k]`` it is the Rao-Blackwellised form of eq. (18-19), exact when the weights do not
    depend on ``x_m`` (the MIWAE, GNR).

    Parameters
    ----------
    log_w : Tensor of shape (S, B)
        Log importance weights, ``S`` samples per row.
    values : Tensor of shape (S, B, D)
        Values of the function at the samples (for example the decoder means).

    Returns
    -------
    estimate : Tensor of shape (B, D)
        The weighted mean of `values` over the samples.

    See Also
    --------
    snis_weights : The normalised weights ``alpha_k``.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import snis_mean
    >>> log_w = torch.log(torch.tensor([[1.0], [3.0]]))  # S = 2 samples of B = 1 row
    >>> snis_mean(log_w, torch.tensor([[[0.0]], [[4.0]]]))  # 0.25 * 0 + 0.75 * 4
    tensor([[3.0000]])
    """
    return (snis_weights(log_w, dim=0).unsqueeze(-1) * values).sum(dim=0)


def snis_median(log_w, values):
    """Compute the weighted median of the importance samples, per row and entry.

    Each entry's estimate is the smallest sample value ``v`` whose self-normalised weight below
    and at it, ``sum_{k: values_k <= v} alpha_k``, reaches 0.5: the median of the weighted
    empirical distribution of the samples. With the sampled completed rows ``(x_o, x_m,k)`` as
    `values` this is the conditional median of ``x_m`` given ``(x_o, s)`` by eq. (16) of the
    not-MIWAE paper with ``h`` the indicator of eq. (20), without the Rao-Blackwellisation that
    is exact only when the weights do not depend on ``x_m``.

    Parameters
    ----------
    log_w : Tensor of shape (S, B)
        Log importance weights, ``S`` samples per row.
    values : Tensor of shape (S, B, D)
        The samples attached to the weights.

    Returns
    -------
    median : Tensor of shape (B, D)
        The weighted median of `values` over the samples; each entry is one of the samples.

    See Also
    --------
    snis_mean : The weighted mean of the samples.
    mixture_median : The median of a weighted mixture of CDFs.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import snis_median
    >>> log_w = torch.log(torch.tensor([[0.2], [0.3], [0.5]]))  # S = 3 samples of B = 1 row
    >>> snis_median(log_w, torch.tensor([[[3.0]], [[1.0]], [[2.0]]]))  # 1: 0.3, 2: 0.8
    tensor([[2.]])
    """
    alpha = snis_weights(log_w, dim=0).unsqueeze(-1).expand_as(values)
    sorted_values, order = values.sort(dim=0)
    cumulative = alpha.gather(0, order).cumsum(dim=0)
    # the first sorted sample whose cumulative weight reaches one half (the last one at worst,
    # where rounding leaves the total just below 0.5)
    first = (cumulative < 0.5).sum(dim=0, keepdim=True).clamp(max=values.shape[0] - 1)
    return sorted_values.gather(0, first).squeeze(0)


def importance_resample(log_w, values, n, noise):
    """Resample the importance samples: ``n`` draws per row, with probabilities ``alpha_k``.

    Sampling importance resampling draws, for each row, ``n`` of its ``S`` samples with
    replacement, sample ``k`` with probability ``alpha_k``. With the completed rows
    ``(x_o, x_m,k)`` as `values` the draws are approximately from ``p(x_m | x_o, s)``: multiple
    imputation (appendix B of the not-MIWAE paper).

    Parameters
    ----------
    log_w : Tensor of shape (S, B)
        Log importance weights, ``S`` samples per row.
    values : Tensor of shape (S, B, D)
        The samples attached to the weights.
    n : int
        Number of draws per row.
    noise : GlobalNoise or RowNoise
        Source of the multinomial draws.

    Returns
    -------
    draws : Tensor of shape (n, B, D)
        The resampled values; ``draws[i, b]`` is one of ``values[:, b]``.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import GlobalNoise, importance_resample
    >>> log_w = torch.tensor([[0.0], [-float("inf")]])  # all the weight on sample 0
    >>> values = torch.tensor([[[1.0]], [[2.0]]])
    >>> importance_resample(log_w, values, 3, GlobalNoise()).flatten()
    tensor([1., 1., 1.])
    """
    probs = snis_weights(log_w, dim=0).T  # (B, S)
    idx = noise.multinomial(probs, n)  # (B, n)
    B = values.shape[1]
    rows = torch.arange(B, device=values.device).unsqueeze(1).expand(B, n)
    return values[idx, rows].transpose(0, 1)


def mixture_median(log_w, cdf, lo, hi, n_iter=40):
    """Compute the median of the mixture ``F(x) = sum_k alpha_k F_k(x)`` by bisection.

    With the decoder CDFs as components this is the conditional-median imputation of eq. (20)
    of the not-MIWAE paper, the optimal imputation for the absolute error: each entry solves
    ``F_j(x_j) = 0.5``.

    Parameters
    ----------
    log_w : Tensor of shape (S, B)
        Log importance weights, ``S`` samples per row.
    cdf : callable
        Function that takes ``x``, a Tensor of shape ``(B, D)``, and returns the components'
        CDFs ``F_k(x)``, a Tensor of shape ``(S, B, D)`` (for example
        ``lambda x: observation_cdf(px, x)``).
    lo, hi : Tensor of shape (B, D)
        Brackets of the medians, with ``F(lo) <= 0.5 <= F(hi)``.
    n_iter : int, default=40
        Number of bisection steps; the bracket shrinks by a factor ``2 ** n_iter``.

    Returns
    -------
    median : Tensor of shape (B, D)
        The midpoint of the final bracket.

    See Also
    --------
    observation_cdf : The CDFs of the decoder distributions.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from skimpute.nn import mixture_median, observation_cdf
    >>> px = Normal(torch.tensor([[[0.0]], [[2.0]]]), torch.ones(2, 1, 1))
    >>> log_w = torch.zeros(2, 1)  # equal weights: the median is 1 by symmetry
    >>> lo, hi = torch.full((1, 1), -10.0), torch.full((1, 1), 10.0)
    >>> mixture_median(log_w, lambda x: observation_cdf(px, x), lo, hi)
    tensor([[1.0000]])
    """
    alpha = snis_weights(log_w, dim=0).unsqueeze(-1)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        below = (alpha * cdf(mid)).sum(dim=0) < 0.5
        lo = torch.where(below, mid, lo)
        hi = torch.where(below, hi, mid)
    return 0.5 * (lo + hi)
