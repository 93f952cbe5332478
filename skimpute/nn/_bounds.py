"""The importance-weighted bound and the criterion that skorch minimises.

The (not-)MIWAE objective is, per row, ``log (1/K) sum_k w_k`` with ``K`` importance weights
``w_k = p(s | x_o, x_m,k) p(x_o | z_k) p(z_k) / q(z_k | x_o)`` (eq. 8-9 of the not-MIWAE paper).
The modules return ``log w_k``; the functions here average the weights stably in log space.
"""

import math

import torch
from torch import nn

__all__ = ["NegIWBound", "iw_bound"]


def iw_bound(log_w, dim=-1):
    """Compute the importance-weighted bound from log importance weights.

    The bound is ``log (1/K) sum_k w_k``, computed as ``logsumexp_k log w_k - log K`` so that it
    does not overflow. It is a lower bound of ``log p(x_o, s)`` (of ``log p(x_o)`` for the
    MIWAE) that tightens as ``K`` grows.

    Parameters
    ----------
    log_w : Tensor of shape (B, K)
        Log importance weights ``log w_k``; any shape is accepted, the samples lie along `dim`.
    dim : int, default=-1
        Dimension of the ``K`` importance samples (0 for weights of shape ``(K, B)``).

    Returns
    -------
    bound : Tensor of shape (B,)
        The bound of each row: `log_w` with dimension `dim` reduced.

    See Also
    --------
    NegIWBound : The training criterion, minus the mean of this bound.

    References
    ----------
    .. [1] Y. Burda, R. Grosse and R. Salakhutdinov, "Importance weighted autoencoders",
       ICLR 2016.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import iw_bound
    >>> iw_bound(torch.log(torch.tensor([[1.0, 3.0]])))  # log((1 + 3) / 2)
    tensor([0.6931])
    """
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


class NegIWBound(nn.Module):
    """Training criterion: minus the mean importance-weighted bound of a batch.

    The imputers' modules return log importance weights of shape ``(B, K)``; this criterion
    returns ``-mean_b [logsumexp_k log_w[b, k] - log K]``, the (not-)MIWAE loss, which skorch
    minimises. It has no parameters and needs no target.

    Parameters
    ----------
    *args : tuple
        Accepted for :class:`torch.nn.Module`'s signature; must be empty.
    **kwargs : dict
        Accepted for :class:`torch.nn.Module`'s signature; must be empty.

    See Also
    --------
    iw_bound : The per-row bound.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import NegIWBound
    >>> log_w = torch.log(torch.tensor([[1.0, 3.0], [2.0, 2.0]]))  # B = 2 rows, K = 2
    >>> NegIWBound()(log_w)  # -log(2)
    tensor(-0.6931)
    """

    def forward(self, log_w, y=None):
        """Compute the loss.

        Parameters
        ----------
        log_w : Tensor of shape (B, K)
            Log importance weights, ``K`` per row.
        y : None, default=None
            Ignored; present because skorch passes a target.

        Returns
        -------
        loss : Tensor of shape ()
            Minus the mean over the rows of the bound :func:`iw_bound`.
        """
        return -iw_bound(log_w, dim=-1).mean()
