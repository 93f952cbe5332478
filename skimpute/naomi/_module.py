"""The torch modules of NAOMI: encoders, multiresolution decoders, imputation loop, discriminator.

Notation (Liu et al., 2019, section 3): a sequence has ``T`` steps ``x_0, ..., x_{T-1}`` of ``D``
values; a step is *known* when all its values are. The forward GRU ``f_f`` reads the known
prefix, its state after step ``t`` is ``F[t]`` (``F[-1] = 0``); the backward GRU ``f_b`` reads
``[x_t k_t, k_t]`` from the end, its state after reading steps ``T-1, ..., t`` is ``B[t]``
(``B[T] = 0``). Decoder ``g(r)``, ``r = 0, ..., R - 1``, fills a gap of ``2 s`` steps at its
midpoint with ``s = 2^r``: it predicts ``x_{i+s}`` from ``[F[i], B[i+2s]]``.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from skimpute.nn import StackedGRU, draw_known_steps, make_mlp

__all__ = [
    "NAOMIModule",
    "TrajectoryDiscriminator",
    "imputation_order",
    "max_resolutions",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def max_resolutions(n_timesteps):
    """Return the number of decoders a sequence of ``T`` steps can use.

    The largest gap is the whole sequence with nothing known, from the virtual step ``-1`` to the
    virtual step ``T``; its first pivot is ``s`` steps in with ``2 s <= T + 1``. So ``R`` is the
    number of powers of two ``s = 1, 2, 4, ...`` with ``2 s <= T + 1``.

    Parameters
    ----------
    n_timesteps : int
        Steps per sequence, ``T``.

    Returns
    -------
    n_resolutions : int
        ``R``, at least 1.

    Examples
    --------
    >>> from skimpute.naomi import max_resolutions
    >>> max_resolutions(200), max_resolutions(50), max_resolutions(1)
    (7, 5, 1)
    """
    return max(1, ((int(n_timesteps) + 1) // 2).bit_length())


def _pivot_level(gap, n_resolutions):
    """Decoder level ``r`` of the pivot of gaps: the largest ``s = 2^r`` with ``2 s <= gap``."""
    return torch.floor(torch.log2((gap // 2).double())).long().clamp(max=n_resolutions - 1)


def imputation_order(step_known, n_resolutions=None, *, return_levels=False):
    """Return the order in which NAOMI imputes the missing steps of one sequence (Algorithm 1).

    Let ``i`` be the last step such that all steps up to ``i`` are known (``-1`` when step 0 is
    missing) and ``j`` the next known step after ``i`` (``T`` when none is). The next imputed
    step is ``i + s``, where ``s`` is the largest power of two with ``2 s <= j - i``, capped at
    ``2^(R - 1)``; it is then known, and the rule repeats until no step is missing. So gaps are
    filled from coarse to fine: the middle of a gap of 8 first, then the quarters, then the
    eighths (the paper's figure 3).

    This is a plain-Python statement of the rule for one sequence; :class:`NAOMIModule` applies
    it to a batch of sequences with different masks at once.

    Parameters
    ----------
    step_known : sequence of bool of length T
        Whether each step is known.
    n_resolutions : int, default=None
        ``R``, the number of decoders; None means :func:`max_resolutions` of ``T``.
    return_levels : bool, default=False
        Whether to return the decoder of each imputed step too.

    Returns
    -------
    order : list of int
        The missing steps, in the order they are imputed.
    levels : list of int
        ``r`` of the decoder ``g(r)`` (step size ``s = 2^r``) that imputes each step of
        `order`; returned only with `return_levels`.

    Examples
    --------
    >>> from skimpute.naomi import imputation_order
    >>> imputation_order([True, False, False, False, True])  # the paper's figure 3
    [2, 1, 3]
    >>> imputation_order([True] + [False] * 8)
    [4, 2, 1, 3, 6, 5, 7, 8]
    >>> imputation_order([True] + [False] * 8, n_resolutions=1)  # SingleRes: left to right
    [1, 2, 3, 4, 5, 6, 7, 8]
    >>> imputation_order([True, False, False, False, True], return_levels=True)
    ([2, 1, 3], [1, 0, 0])
    """
    known = [bool(k) for k in step_known]
    T = len(known)
    R = max_resolutions(T) if n_resolutions is None else min(n_resolutions, max_resolutions(T))
    order, levels = [], []
    while not all(known):
        i = known.index(False) - 1
        j = next((t for t in range(i + 1, T) if known[t]), T)
        r = min(int(math.floor(math.log2((j - i) // 2))), R - 1)
        known[i + 2**r] = True
        order.append(i + 2**r)
        levels.append(r)
    return (order, levels) if return_levels else order


def _put(tensor, index, values):
    """``tensor`` with ``tensor[index] = values``, out of place (autograd records it)."""
    out = tensor.clone()
    out[index] = values
    return out


def _put_inplace(tensor, index, values):
    """``tensor[index] = values`` in place, returning `tensor`."""
    tensor[index] = values
    return tensor


class _Reader:
    """Reads of the initial backward states ``B[t]`` in the imputation loop.

    Called as ``reader(rows, positions)``, it returns ``states[rows, positions]`` of shape
    ``(n, L, H)``. With `record`, it also records the indices; :meth:`replay` then returns a
    reader that serves the same reads, in the same order, from one gather of other states.
    """

    def __init__(self, states, record=False):
        self.states = states
        self.reads = [] if record else None
        self.shape = None

    @classmethod
    def dry(cls, like, n_layers, hidden_size):
        """A recording reader without states, for a dry run of the loop: it returns zeros.

        Parameters
        ----------
        like : Tensor
            The dtype and device of the zeros.
        n_layers, hidden_size : int
            ``L`` and ``H`` of the backward GRU.
        """
        reader = cls(None, record=True)
        reader.like, reader.shape = like, (n_layers, hidden_size)
        return reader

    def __call__(self, rows, positions):
        if self.reads is not None:
            self.reads.append((rows, positions))
        if self.states is None:
            return self.like.new_zeros((len(rows),) + self.shape)
        return self.states[rows, positions]

    def replay(self, states):
        """A reader of `states` that returns the recorded reads, gathered at once."""
        if not self.reads:
            return _Reader(states)
        rows = torch.cat([r for r, _ in self.reads])
        positions = torch.cat([p for _, p in self.reads])
        pieces = iter(states[rows, positions].split([len(r) for r, _ in self.reads]))
        return lambda rows, positions: next(pieces)


def _next_known(known):
    """``nxt[:, k]``: the first known step at or after ``k`` (``T`` when none), for ``k <= T``."""
    B, T = known.shape
    idx = torch.arange(T, device=known.device).expand(B, T)
    first = torch.where(known, idx, torch.full_like(idx, T)).flip(1).cummin(1).values.flip(1)
    return torch.cat([first, torch.full_like(first[:, :1], T)], 1)


class NAOMIModule(nn.Module):
    """NAOMI's generator: forward and backward GRUs and one decoder per resolution.

    ``forward`` is the teacher-forced training loss (the forward GRU reads the true sequence,
    the backward GRU the sequence with a training mask drawn per sequence); :meth:`impute` fills
    the missing steps in the order of Algorithm 1, for a batch of sequences with different
    masks at once; :meth:`free_running_loss` and :meth:`rollout` run that imputation in
    training, with gradients flowing through it.

    Parameters
    ----------
    n_dims : int
        Values per step, ``D``.
    n_timesteps : int
        Steps per sequence, ``T``.
    rnn_size : int, default=64
        Hidden size of each GRU layer.
    n_rnn_layers : int, default=2
        Layers of each GRU (the paper: 2).
    hidden_layer_sizes : sequence of int, default=(64,)
        Hidden widths of each decoder MLP.
    activation : str, default="relu"
        Activation of the decoder MLPs.
    n_resolutions : int or None, default=None
        ``R``, the number of decoders; None, or more than the sequence allows, means
        :func:`max_resolutions` of ``T``. 1 is the SingleRes baseline.
    stochastic : bool, default=False
        Whether each decoder outputs a Gaussian (mean and a softplus scale) instead of a point.
    train_mask : tuple of (float, float), default=(0.8, 1.0)
        Range of the fraction of observed steps hidden from the backward GRU in training (see
        :func:`~skimpute.nn.draw_known_steps`).

    Attributes
    ----------
    forward_rnn, backward_rnn : skimpute.nn.StackedGRU
        The encoders ``f_f`` and ``f_b``, both over ``[x_t, k_t]``.
    decoders : torch.nn.ModuleList
        ``g(r)`` for ``r = 0, ..., R - 1``, MLPs from ``[F, B]`` (``2 rnn_size``) to ``D``
        values (``2 D`` when stochastic: means and raw scales).
    n_resolutions : int
        ``R``.
    """

    def __init__(
        self,
        n_dims,
        n_timesteps,
        rnn_size=64,
        n_rnn_layers=2,
        hidden_layer_sizes=(64,),
        activation="relu",
        n_resolutions=None,
        stochastic=False,
        train_mask=(0.8, 1.0),
    ):
        super().__init__()
        self.n_dims, self.n_timesteps = int(n_dims), int(n_timesteps)
        R = max_resolutions(self.n_timesteps)
        self.n_resolutions = R if n_resolutions is None else min(int(n_resolutions), R)
        self.stochastic = bool(stochastic)
        self.train_mask = tuple(float(v) for v in train_mask)
        D = self.n_dims
        self.forward_rnn = StackedGRU(D + 1, rnn_size, n_rnn_layers)
        self.backward_rnn = StackedGRU(D + 1, rnn_size, n_rnn_layers)
        out = 2 * D if self.stochastic else D
        self.decoders = nn.ModuleList(
            make_mlp(2 * rnn_size, hidden_layer_sizes, out, activation)
            for _ in range(self.n_resolutions)
        )

    # ---------------------------------------------------------------- pieces
    def decode(self, level, h):
        """Apply decoder ``g(level)``.

        Parameters
        ----------
        level : int
            ``r``, the decoder of gaps of ``2^(r+1)`` steps.
        h : Tensor of shape (N, 2 rnn_size)
            ``[F[i], B[i + 2s]]``.

        Returns
        -------
        mean : Tensor of shape (N, D)
            The prediction (the Gaussian mean when stochastic).
        std : Tensor of shape (N, D) or None
            The Gaussian scale, None when deterministic.
        """
        out = self.decoders[level](h)
        if not self.stochastic:
            return out, None
        mean, raw = out.chunk(2, dim=-1)
        return mean, F.softplus(raw) + 1e-3

    def backward_states(self, values, known):
        """Run the backward GRU over ``[x_t k_t, k_t]`` from the last step.

        Parameters
        ----------
        values : Tensor of shape (B, T, D)
            The values (ignored where not known).
        known : Tensor of bool of shape (B, T)
            Known steps.

        Returns
        -------
        states : Tensor of shape (B, T + 1, L, H)
            ``B[t]`` for ``t = 0, ..., T``, every layer; ``B[T] = 0``.
        """
        flag = known[..., None].to(values.dtype)
        states = self.backward_rnn(torch.cat([values * flag, flag], -1).flip(1)).flip(1)
        return torch.cat([states, torch.zeros_like(states[:, :1])], 1)

    def _error(self, mean, std, target):
        """Squared error (deterministic) or Gaussian negative log-likelihood, per value."""
        if std is None:
            return (mean - target) ** 2
        return 0.5 * ((target - mean) / std) ** 2 + torch.log(std) + _HALF_LOG_2PI

    def _train_inputs(self, X, mask):
        """Observed values, observed steps, and the steps left known by a training mask."""
        observed = mask > 0.5
        step_observed = observed.all(-1)
        known = step_observed
        if self.training:
            known = draw_known_steps(step_observed, *self.train_mask)
        return observed, step_observed, known

    # ---------------------------------------------------------------- training losses
    def forward(self, X, mask):
        """Teacher-forced loss of each sequence.

        For every step ``i`` (``-1 <= i``) and decoder ``r`` with ``i + 2s <= T``, ``g(r)``
        predicts ``x_{i+s}`` from the forward state over the true steps up to ``i`` and the
        backward state over the masked steps from ``i + 2s``; the squared errors (or Gaussian
        negative log-likelihoods) of the observed values are summed and divided by ``T``, as in
        the authors' code. All steps count, the known ones too.

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Standardised values, 0 where missing.
        mask : Tensor of shape (B, T, D)
            1.0 where observed.

        Returns
        -------
        loss : Tensor of shape (B,)
            The loss of each sequence.
        """
        observed, step_observed, known = self._train_inputs(X, mask)
        B, T, _ = X.shape
        loss = X.new_zeros(B)
        # level by level, each decoding followed by its loss term (the order of the operations
        # fixes the rounding of the gradients, and so the fitted weights)
        for level, (mean, std) in enumerate(self._iter_predictions(X, step_observed, known)):
            s = 2**level
            n = mean.shape[1]
            error = self._error(mean, std, X[:, s - 1 : s - 1 + n])
            loss = loss + (error * observed[:, s - 1 : s - 1 + n]).sum((1, 2))
        return loss / T

    def level_predictions(self, X, step_observed, known):
        """Teacher-forced predictions of every decoder at every step.

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Standardised values, 0 where missing.
        step_observed : Tensor of bool of shape (B, T)
            The steps the forward GRU reads as known (all of them in teacher forcing on
            complete data).
        known : Tensor of bool of shape (B, T)
            The steps the backward GRU reads as known.

        Returns
        -------
        predictions : list of (Tensor, Tensor or None)
            For each decoder ``r`` (``s = 2^r``), the means and scales (None when
            deterministic) of shape ``(B, T - 2s + 2, D)``: entry ``k`` predicts
            ``x_{i+s}``, ``i = k - 1``, from ``F[i]`` and ``B[i + 2s]``, i.e. the values
            ``X[:, s - 1 : T - s + 1]``.
        """
        return list(self._iter_predictions(X, step_observed, known))

    def _iter_predictions(self, X, step_observed, known):
        """:meth:`level_predictions`, one decoder at a time."""
        T = X.shape[1]
        flag = step_observed[..., None].to(X.dtype)
        fwd = self.forward_rnn(torch.cat([X, flag], -1))[:, :, -1]
        f = torch.cat([torch.zeros_like(fwd[:, :1]), fwd], 1)  # f[:, i + 1] = F[i]
        b = self.backward_states(X, known)[:, :, -1]  # b[:, t] = B[t]
        for level in range(self.n_resolutions):
            s = 2**level
            n = T - 2 * s + 2  # i = -1, ..., T - 2s
            h = torch.cat([f[:, :n], b[:, 2 * s - 1 : 2 * s - 1 + n]], -1)
            yield self.decode(level, h)

    def rollout(self, X, mask, sample=True):
        """Impute sequences under a training mask, differentiably.

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Standardised values, 0 where missing.
        mask : Tensor of shape (B, T, D)
            1.0 where observed.
        sample : bool, default=True
            Whether stochastic decoders sample (reparameterised, from torch's global generator);
            False imputes their means.

        Returns
        -------
        X_hat : Tensor of shape (B, T, D)
            The imputed sequences (the hidden steps imputed, the others as in `X`).
        observed : Tensor of bool of shape (B, T, D)
            The observed values of `X`.
        """
        observed, _, known = self._train_inputs(X, mask)
        eps = torch.randn_like(X) if self.stochastic and sample else None
        X_hat = self.impute(X, known, observed & known[..., None], eps)
        return X_hat, observed

    def free_running_loss(self, X, mask):
        """Squared error of the imputation without teacher forcing, per sequence.

        The mean over the ``T * D`` values of the squared error between the imputed and the
        observed values (the known steps contribute 0), as the authors' billiards training
        after two thirds of its epochs; the gradients flow through the whole imputation.
        Stochastic decoders impute their means here, so that the loss trains the means and
        leaves the scales to the likelihood.

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Standardised values, 0 where missing.
        mask : Tensor of shape (B, T, D)
            1.0 where observed.

        Returns
        -------
        loss : Tensor of shape (B,)
            The loss of each sequence.
        """
        X_hat, observed = self.rollout(X, mask, sample=False)
        return ((X_hat - X) ** 2 * observed).sum((1, 2)) / (X.shape[1] * X.shape[2])

    # ---------------------------------------------------------------- imputation
    def impute(self, X, known, observed, eps=None, record_order=False):
        """Impute the missing steps of a batch of sequences (Algorithm 1).

        Each sequence follows :func:`imputation_order` with its own mask. All sequences advance
        together; at each iteration a sequence does one of: one step of the backward GRU to
        refresh ``B`` after an imputation, the decoding of its next pivot, and one step of the
        forward GRU over a known step (after decoding a pivot next to its forward state it also
        advances over it). The states are updated incrementally and exactly: the forward state
        only grows, and the backward states that a later pivot reads are recomputed from the
        nearest known step on their right (the zero-input chain over the missing steps and the
        new value), the authors' refresh. The result equals re-running both GRUs over the whole
        sequence after each imputed step (:meth:`impute_naive`) at a fraction of the cost.

        With autograd on (free-running and adversarial training), the order of the pivots,
        which depends on the masks only, is first traced by a dry run of the loop (its control
        flow without the networks), so that the initial backward states the loop reads are
        gathered in one operation (gathering them one iteration at a time would make
        back-propagation fill a gradient of all of them at every read).

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Standardised values (any value where unknown).
        known : Tensor of bool of shape (B, T)
            Steps known to the model.
        observed : Tensor of bool of shape (B, T, D)
            Values whose entry in `X` is kept even at unknown steps (the observed values of
            partially observed steps); they overwrite the prediction when their step is imputed.
        eps : Tensor of shape (B, T, D), default=None
            Standard normal noise for the stochastic decoders (``x = mean + std * eps`` at the
            imputed step); None imputes the means.
        record_order : bool, default=False
            Whether to return, for each step, the iteration at which it was imputed.

        Returns
        -------
        X_hat : Tensor of shape (B, T, D)
            The completed sequences.
        order : Tensor of int64 of shape (B, T)
            The iteration of the imputation of each step (-1 where known); returned only with
            `record_order`.
        """
        vals = X * known[..., None].to(X.dtype)
        if not torch.is_grad_enabled():
            bstates = self.backward_states(vals, known)
            return self._impute_loop(X, known, observed, eps, record_order, _Reader(bstates))
        with torch.no_grad():  # trace the reads of the initial backward states
            trace = _Reader.dry(X, self.backward_rnn.num_layers, self.backward_rnn.hidden_size)
            self._impute_loop(X, known, observed, None, False, trace, dry=True)
        bstates = self.backward_states(vals, known)
        return self._impute_loop(X, known, observed, eps, record_order, trace.replay(bstates))

    def _impute_loop(self, X, known, observed, eps, record_order, reader, dry=False):
        """The loop of :meth:`impute`; `reader` returns the initial backward states it reads.

        With `dry`, the GRU steps and the decoders are skipped (states and imputed values stay
        as they were): the control flow, which depends on the masks only, and the reads of
        `reader` are those of the real run.
        """
        B, T, D = X.shape
        device = X.device
        L, H = self.backward_rnn.num_layers, self.backward_rnn.hidden_size
        R = self.n_resolutions
        # without autograd the states are updated in place; with it, out of place
        put = _put_inplace if not torch.is_grad_enabled() else _put
        known = known.clone()
        vals = X * known[..., None].to(X.dtype)
        nxt = _next_known(known)
        every = torch.arange(B, device=device)
        curr = torch.full((B,), -1, dtype=torch.long, device=device)
        fstate = X.new_zeros(L, B, H)
        K = max(R - 1, 1)  # pivots with s > 1 to the right of the forward state: s decreasing
        stack_pos = torch.zeros(B, K, dtype=torch.long, device=device)
        stack_h = X.new_zeros(B, K, L, H)
        depth = torch.zeros(B, dtype=torch.long, device=device)
        pending = torch.zeros(B, dtype=torch.bool, device=device)
        chain_pos = torch.zeros_like(curr)
        target = torch.zeros_like(curr)
        chain_h = X.new_zeros(L, B, H)
        ones = X.new_ones(B, 1)
        order = torch.full((B, T), -1, dtype=torch.long, device=device) if record_order else None
        iteration = 0
        while True:
            active = curr < T - 1
            if not bool(active.any()):
                break
            # (1) one backward step of the pending refreshes: zeros over missing steps, then
            # the new value; the state of the new pivot goes on its sequence's stack
            rows = pending.nonzero().squeeze(1)
            if rows.numel():
                pos = chain_pos[rows] - 1
                is_value = pos == target[rows]
                flag = is_value.to(X.dtype)[:, None]
                h = chain_h[:, rows]
                if not dry:
                    h = self.backward_rnn.step(torch.cat([vals[rows, pos] * flag, flag], -1), h)
                chain_h = put(chain_h, (slice(None), rows), h)
                chain_pos[rows] = pos
                done = is_value.nonzero().squeeze(1)
                if done.numel():
                    r, d = rows[done], depth[rows[done]]
                    stack_pos[r, d] = target[r]
                    stack_h = put(stack_h, (r, d), h[:, done].transpose(0, 1))
                    depth[r] = d + 1
                    pending[r] = False
            # (2) decode the pivot of sequences whose next step is missing
            nxt_step = (curr + 1).clamp(max=T - 1)
            rows = (active & ~pending & ~known[every, nxt_step]).nonzero().squeeze(1)
            if rows.numel():
                c, d = curr[rows], depth[rows]
                has = d > 0
                top = (d - 1).clamp(min=0)
                top_pos = stack_pos[rows, top]
                j = torch.where(has, top_pos, nxt[rows, c + 1])
                level = _pivot_level(j - c, R)
                s = torch.pow(2, level)
                p, q = c + s, c + 2 * s
                if bool((has & (q != top_pos)).any()):  # pragma: no cover - an invariant
                    raise RuntimeError("NAOMI imputation: a pivot does not end at its stack top")
                hb = stack_h[rows, top, -1]
                fresh = (~has).nonzero().squeeze(1)
                if fresh.numel():
                    hb = put(hb, fresh, reader(rows[fresh], q[fresh])[:, -1])
                h_in = torch.cat([fstate[-1, rows], hb], -1)
                value = X.new_zeros(rows.numel(), D)
                for lv in [] if dry else torch.unique(level).tolist():
                    sel = (level == lv).nonzero().squeeze(1)
                    mean, std = self.decode(lv, h_in[sel])
                    if std is not None and eps is not None:
                        mean = mean + std * eps[rows[sel], p[sel]]
                    value = value.index_copy(0, sel, mean)
                value = torch.where(observed[rows, p], X[rows, p], value)
                vals = put(vals, (rows, p), value)
                known[rows, p] = True
                if order is not None:
                    order[rows, p] = iteration
                big = (s > 1).nonzero().squeeze(1)
                if big.numel():
                    r, hb_has = rows[big], has[big]
                    pending[r] = True
                    target[r] = p[big]
                    chain_pos[r] = torch.where(hb_has, top_pos[big], p[big] + 1)
                    start = stack_h[r, top[big]]
                    fresh = (~hb_has).nonzero().squeeze(1)
                    if fresh.numel():
                        start = put(start, fresh, reader(r[fresh], p[big][fresh] + 1))
                    chain_h = put(chain_h, (slice(None), r), start.transpose(0, 1))
            # (3) advance the forward GRU over a known next step
            nxt_step = (curr + 1).clamp(max=T - 1)
            rows = (active & known[every, nxt_step]).nonzero().squeeze(1)
            if rows.numel():
                pos = curr[rows] + 1
                h = fstate[:, rows]
                if not dry:
                    h = self.forward_rnn.step(
                        torch.cat([vals[rows, pos], ones[: rows.numel()]], -1), h
                    )
                fstate = put(fstate, (slice(None), rows), h)
                curr[rows] = pos
                d = depth[rows]
                popped = (d > 0) & (stack_pos[rows, (d - 1).clamp(min=0)] == pos)
                depth[rows[popped]] = d[popped] - 1
            iteration += 1
        return (vals, order) if record_order else vals

    def impute_naive(self, X, known, observed, eps=None):
        """:meth:`impute` re-running both GRUs over whole sequences after each imputed step.

        The same imputation order and decoders, with ``F`` and ``B`` recomputed from scratch
        before every pivot (Algorithm 1, line 11, taken literally); it serves to check
        :meth:`impute` and to measure its speed-up.

        Parameters
        ----------
        X, known, observed, eps
            As in :meth:`impute`.

        Returns
        -------
        X_hat : Tensor of shape (B, T, D)
            The completed sequences.
        """
        B, T, D = X.shape
        known = known.clone()
        vals = X * known[..., None].to(X.dtype)
        while True:
            rows = (~known).any(1).nonzero().squeeze(1)
            if not rows.numel():
                break
            n = rows.numel()
            sub = torch.arange(n, device=X.device)
            c = torch.argmax((~known[rows]).to(torch.int8), 1) - 1
            j = _next_known(known[rows])[sub, c + 1]
            level = _pivot_level(j - c, self.n_resolutions)
            s = torch.pow(2, level)
            p, q = c + s, c + 2 * s
            v = vals[rows]
            fwd = self.forward_rnn(torch.cat([v, X.new_ones(n, T, 1)], -1))[:, :, -1]
            f = torch.cat([torch.zeros_like(fwd[:, :1]), fwd], 1)
            b = self.backward_states(v, known[rows])[:, :, -1]
            h_in = torch.cat([f[sub, c + 1], b[sub, q]], -1)
            value = X.new_zeros(n, D)
            for lv in torch.unique(level).tolist():
                sel = (level == lv).nonzero().squeeze(1)
                mean, std = self.decode(lv, h_in[sel])
                if std is not None and eps is not None:
                    mean = mean + std * eps[rows[sel], p[sel]]
                value = value.index_copy(0, sel, mean)
            value = torch.where(observed[rows, p], X[rows, p], value)
            vals = vals.index_put((rows, p), value)
            known[rows, p] = True
        return vals


class TrajectoryDiscriminator(nn.Module):
    """NAOMI's discriminator: a GRU over the states, with the next position as the action.

    ``D(s_t, x_{t+1})``: a one-layer GRU reads ``x_0, ..., x_{T-2}``; its state after ``x_t`` is
    concatenated with ``x_{t+1}`` and mapped by ``Linear -> ReLU -> Linear`` to the logit that
    the pair comes from the data (the authors' discriminator, which uses the next positions, not
    the differences).

    Parameters
    ----------
    n_dims : int
        Values per step, ``D``.
    hidden_size : int, default=128
        Hidden size of the GRU and of the hidden layer (the authors: 128).

    Examples
    --------
    >>> import torch
    >>> from skimpute.naomi import TrajectoryDiscriminator
    >>> TrajectoryDiscriminator(2, 16)(torch.zeros(3, 10, 2)).shape
    torch.Size([3, 9])
    """

    def __init__(self, n_dims, hidden_size=128):
        super().__init__()
        self.rnn = nn.GRU(n_dims, hidden_size, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(hidden_size + n_dims, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1)
        )

    def forward(self, X):
        """Return the logit of each transition.

        Parameters
        ----------
        X : Tensor of shape (B, T, D)
            Complete sequences, ``T >= 2``.

        Returns
        -------
        logits : Tensor of shape (B, T - 1)
            Logit that ``(s_t, x_{t+1})`` comes from the data.
        """
        states, _ = self.rnn(X[:, :-1])
        return self.head(torch.cat([states, X[:, 1:]], -1)).squeeze(-1)
