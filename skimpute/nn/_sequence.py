"""Building blocks of the sequence imputers: stacked GRUs, training masks, the mean loss.

The sequence imputers (NAOMI and the autoregressive GRU baseline) read sequences as tensors of
shape ``(B, T, D)``: ``B`` sequences, ``T`` time steps, ``D`` values per step. A step is *known*
to a model when all its ``D`` values are; the models see each step as ``[x_t, k_t]``, the values
(0 where unknown) and the known flag.
"""

import torch
from torch import nn

__all__ = ["MeanLoss", "StackedGRU", "draw_known_steps"]


class StackedGRU(nn.Module):
    """A stack of single-layer GRUs that exposes the states of every layer.

    The same parameters serve a whole-sequence pass (:meth:`forward`, torch's fused GRU) and
    one-step updates (:meth:`step`, for the imputation loops), so a model can run over the
    known part of a sequence at once and then advance step by step from any stored state.

    Parameters
    ----------
    input_size : int
        Width of the input at each step.
    hidden_size : int
        Width of the hidden state of each layer.
    num_layers : int, default=2
        Number of stacked layers (``L``); the input of layer ``l > 0`` is the output of
        layer ``l - 1``.

    Attributes
    ----------
    layers : torch.nn.ModuleList of torch.nn.GRU
        The single-layer GRUs, bottom first.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import StackedGRU
    >>> rnn = StackedGRU(3, 8, num_layers=2)
    >>> states = rnn(torch.zeros(4, 10, 3))
    >>> states.shape
    torch.Size([4, 10, 2, 8])
    >>> h = rnn.step(torch.zeros(4, 3), torch.zeros(2, 4, 8))
    >>> torch.allclose(h, states[:, 0].transpose(0, 1), atol=1e-6)
    True
    """

    def __init__(self, input_size, hidden_size, num_layers=2):
        super().__init__()
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.layers = nn.ModuleList(
            nn.GRU(input_size if i == 0 else hidden_size, hidden_size, batch_first=True)
            for i in range(self.num_layers)
        )

    def forward(self, x, h0=None):
        """Run over whole sequences and return the states of every layer at every step.

        Parameters
        ----------
        x : Tensor of shape (B, S, input_size)
            The inputs, ``S`` steps.
        h0 : Tensor of shape (L, B, hidden_size), default=None
            Initial states; None means zeros.

        Returns
        -------
        states : Tensor of shape (B, S, L, hidden_size)
            ``states[:, t, l]`` is the state of layer ``l`` after step ``t``.
        """
        out, states = x, []
        for i, gru in enumerate(self.layers):
            out, _ = gru(out, None if h0 is None else h0[i : i + 1].contiguous())
            states.append(out)
        return torch.stack(states, dim=2)

    def step(self, x, h):
        """Advance every layer by one step.

        Parameters
        ----------
        x : Tensor of shape (B, input_size)
            The input of the step.
        h : Tensor of shape (L, B, hidden_size)
            The states before the step.

        Returns
        -------
        h_new : Tensor of shape (L, B, hidden_size)
            The states after the step.
        """
        inp, new = x, []
        for i, gru in enumerate(self.layers):
            inp = torch.gru_cell(
                inp, h[i], gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
            )
            new.append(inp)
        return torch.stack(new)


class MeanLoss(nn.Module):
    """Criterion of a module that returns one loss per sequence: their mean.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import MeanLoss
    >>> float(MeanLoss()(torch.tensor([1.0, 3.0])))
    2.0
    """

    def forward(self, losses):
        """Return the mean of the per-sequence losses.

        Parameters
        ----------
        losses : Tensor of shape (B,)
            One loss per sequence.

        Returns
        -------
        loss : Tensor of shape ()
            Their mean.
        """
        return losses.mean()


def draw_known_steps(step_observed, low, high, generator=None):
    """Hide a random part of the observed steps of each sequence, keeping the first.

    For each sequence with ``n`` observed steps, an integer ``k`` is drawn uniformly from
    ``[floor(low * n), min(floor(high * n), n - 1)]`` and ``k`` observed steps other than the
    first observed one are hidden, chosen uniformly. With complete sequences and
    ``(low, high) = (0.8, 1.0)`` this is NAOMI's training mask (between ``floor(0.8 T)`` and
    ``T - 1`` missing steps, step 0 kept); ``(1.0, 1.0)`` keeps the first step only (forward
    inference). Each sequence gets its own mask.

    Parameters
    ----------
    step_observed : Tensor of bool of shape (B, T)
        Steps observed in the data.
    low, high : float
        Range of the hidden fraction, ``0 <= low <= high <= 1``.
    generator : torch.Generator, default=None
        Source of the random numbers; None draws from torch's global generator.

    Returns
    -------
    known : Tensor of bool of shape (B, T)
        The steps left known to the model, a subset of `step_observed`.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import draw_known_steps
    >>> known = draw_known_steps(torch.ones(3, 10, dtype=torch.bool), 0.8, 1.0,
    ...                          generator=torch.Generator().manual_seed(0))
    >>> known[:, 0].all().item(), (known.sum(1) <= 2).all().item()
    (True, True)
    """
    B, T = step_observed.shape
    device = step_observed.device
    rows = torch.arange(B, device=device)
    n_obs = step_observed.sum(1)
    first = torch.argmax(step_observed.to(torch.int8), dim=1)
    candidates = step_observed.clone()
    candidates[rows, first] = False
    n_cand = candidates.sum(1)
    hi = torch.minimum(torch.floor(high * n_obs.double()).long(), n_cand)
    lo = torch.minimum(torch.floor(low * n_obs.double()).long(), hi)
    u = torch.rand(B, generator=generator, device=device, dtype=torch.float64)
    k = torch.minimum(lo + torch.floor(u * (hi - lo + 1).double()).long(), hi)
    keys = torch.rand(B, T, generator=generator, device=device)
    keys = torch.where(candidates, keys, torch.full_like(keys, 2.0))
    ranks = torch.argsort(torch.argsort(keys, dim=1), dim=1)
    return step_observed & ~(candidates & (ranks < k[:, None]))
