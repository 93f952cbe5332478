"""The GPSI torch modules (Bachman & Precup, NIPS 2015, section 3).

An imputation policy refines a guess ``c_t`` of the whole row in ``T`` steps. At step ``t`` the
primary policy ``p(z_t | c_{t-1}, x_k)`` reads the known values ``x_k`` and the current guess and
picks a step ``z_t``; the guide policy ``q(z_t | c_{t-1}, x)`` picks it knowing the complete
row ``x``; a shared constructor turns ``z_t`` into the new guess, ``c_t = c_{t-1} + omega(z_t)``
("add") or ``c_t = omega(z_t)`` ("jump"). Training rolls out the guide and minimises eq. 17,

    -log p(x_u | c_T) + lambda_q sum_t KL(q_t || p_t) + lambda_p sum_t KL(p_t || q_t),

where ``x_u`` are the entries hidden from the policy (the reference code's weights
``lambda_q``, ``lambda_p``; eq. 17 is ``lambda_q = 1``, ``lambda_p = 0``). Transform rolls out the
primary policy. Two policies are offered: the direct one of section 3.1 (:class:`DirectPolicy`,
three MLPs) and the reader/writer LSTMs of section 3.2 (:class:`LSTMPolicy`).

The guess ``c_t`` lives in the observation model's natural parameter space: logits for the
Bernoulli model of grey levels (the guess is ``sigmoid(c_t)``, as in the reference code) and the
mean itself for the Gaussian model of standardised data.

Shapes: ``B`` rows, ``D`` features, ``S`` roll-outs per row. Roll-outs are computed on
flattened ``(S * B, ...)`` tensors, sample-major (row ``s * B + b`` is roll-out ``s`` of row
``b``). Masks are 1 where an entry is observed (known to the policy).
"""

import math

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import nn
from torch.nn import functional as F

from skimpute.nn import GlobalNoise, iw_bound, make_mlp

__all__ = ["DirectPolicy", "GPSIModule", "KLWarmup", "LSTMPolicy", "Observation", "TrainMask"]

_LOG_2PI = math.log(2 * math.pi)
_MIX_DIM = 20  # size of the LSTM model's mixture latent z_0 (the reference code's choice)


# ---------------------------------------------------------------------------------------------
# Training masks
# ---------------------------------------------------------------------------------------------


class TrainMask:
    """Draw which observed entries are hidden from the policy and learned on.

    Training needs the truth of what it imputes, so at each batch part of the *observed*
    entries is hidden from the policy and becomes the target ``x_u``; the policy sees the
    others, ``x_k``. With complete training data this draws a fresh mask per row and batch (the
    paper's protocol); with incomplete data the entries missing in the data stay unknown and
    carry no target.

    Parameters
    ----------
    kind : {"mcar", "block"} or callable
        ``"mcar"``: each entry is hidden with probability `rate` (the paper's MCAR-d);
        ``"block"``: one `size` x `size` square of the image is hidden, at a uniform position
        (the paper's MAR-d); a callable ``kind(shape, random_state)`` returns an array of bool
        of shape ``shape = (n_rows, n_features)``, True where the entry is *shown* to the
        policy (the mask convention of :mod:`skimpute.ampute`); `random_state` is a
        :class:`numpy.random.RandomState`.
    rate : float, default=0.5
        Probability that an entry is hidden, for ``"mcar"``.
    size : int, default=None
        Side of the square, for ``"block"``.
    image_shape : tuple of (int, int), default=None
        ``(H, W)`` of the flattened images, for ``"block"``.

    Attributes
    ----------
    kind, rate, size, image_shape
        The parameters.
    """

    def __init__(self, kind, rate=0.5, size=None, image_shape=None):
        self.kind = kind
        self.rate = rate
        self.size = size
        self.image_shape = image_shape

    def known(self, obs, uniform, per_row=False):
        """Return the mask of the entries shown to the policy.

        Parameters
        ----------
        obs : Tensor of shape (B, D)
            1.0 where the entry is observed in the data.
        uniform : callable
            ``uniform(k)`` returns ``U(0, 1)`` draws of shape ``(B, k)``; row ``b`` of the draws
            belongs to row ``b`` of `obs`.
        per_row : bool, default=False
            Call a callable `kind` once per row, each with a seed drawn from that row's
            uniforms (so the mask of a row does not depend on the other rows), rather than
            once for the batch.

        Returns
        -------
        known : Tensor of shape (B, D)
            ``obs`` with the hidden entries set to 0 (float, on the device of `obs`).

        Raises
        ------
        ValueError
            If a callable `kind` returns an array of the wrong shape.
        """
        B, D = obs.shape
        if self.kind == "mcar":
            shown = uniform(D) >= self.rate
        elif self.kind == "block":
            H, W = self.image_shape
            u = uniform(2)
            top = torch.clamp((u[:, 0] * (H - self.size + 1)).long(), max=H - self.size)
            left = torch.clamp((u[:, 1] * (W - self.size + 1)).long(), max=W - self.size)
            rows = torch.arange(H, device=obs.device)
            cols = torch.arange(W, device=obs.device)
            in_rows = (rows >= top[:, None]) & (rows < top[:, None] + self.size)
            in_cols = (cols >= left[:, None]) & (cols < left[:, None] + self.size)
            shown = ~(in_rows[:, :, None] & in_cols[:, None, :]).reshape(B, H * W)
        else:
            seeds = (uniform(1)[:, 0].double() * (2**31 - 1)).long().tolist()
            if per_row:
                parts = [self._call((1, D), np.random.RandomState(s)) for s in seeds]
                drawn = np.concatenate(parts, axis=0) if parts else np.ones((0, D), bool)
            else:
                drawn = self._call((B, D), np.random.RandomState(seeds[0] if seeds else 0))
            shown = torch.as_tensor(drawn, device=obs.device)
        return obs * shown.to(obs.dtype)

    def _call(self, shape, random_state):
        drawn = np.asarray(self.kind(shape, random_state))
        if drawn.shape != shape:
            raise ValueError(
                f"the train_mask callable must return an array of shape {shape} (True where "
                f"the entry is shown to the policy), got shape {drawn.shape}."
            )
        return drawn.astype(bool)


# ---------------------------------------------------------------------------------------------
# Observation models and Gaussian step distributions
# ---------------------------------------------------------------------------------------------


class Observation(nn.Module):
    """Observation model ``p(x | c)`` of the guesses: Bernoulli on grey levels, or Gaussian.

    Parameters
    ----------
    kind : {"bernoulli", "gaussian"}
        ``"bernoulli"``: ``c`` holds logits, the guess is ``sigmoid(c)`` and the negative
        log-likelihood of a grey level ``x`` in [0, 1] is the cross-entropy
        ``-x log sigmoid(c) - (1 - x) log(1 - sigmoid(c))`` (the reference code's "Bernoulli
        on grey levels"). ``"gaussian"``: the guess is ``c`` itself and ``x_j ~ N(c_j,
        sigma_j^2)`` with one learned variance per feature, ``log sigma_j^2 = 5 tanh(a_j / 5)``.
    n_features : int
        Number of features ``D``.

    Attributes
    ----------
    kind : str
        The model.
    log_var_raw : torch.nn.Parameter of shape (n_features,) or None
        ``a_j``, for the Gaussian model (initialised at 0, unit variance).
    """

    def __init__(self, kind, n_features):
        super().__init__()
        self.kind = kind
        self.log_var_raw = nn.Parameter(torch.zeros(n_features)) if kind == "gaussian" else None

    def mean(self, c):
        """Return the guess, the mean of ``p(x | c)``.

        Parameters
        ----------
        c : Tensor of shape (N, D)
            Natural parameters.

        Returns
        -------
        guess : Tensor of shape (N, D)
            ``sigmoid(c)`` (Bernoulli) or ``c`` (Gaussian).
        """
        return torch.sigmoid(c) if self.kind == "bernoulli" else c

    def nll(self, c, x, target):
        """Return ``-log p(x_u | c)``, summed over the target entries of each row.

        Parameters
        ----------
        c : Tensor of shape (N, D)
            Natural parameters of the final guess ``c_T``.
        x : Tensor of shape (N, D)
            The true values (anything where `target` is 0).
        target : Tensor of shape (N, D)
            1.0 on the entries ``x_u`` whose likelihood counts.

        Returns
        -------
        nll : Tensor of shape (N,)
            Negative log-likelihood of each row, in nats.
        """
        if self.kind == "bernoulli":
            per_entry = F.binary_cross_entropy_with_logits(c, x, reduction="none")
        else:
            log_var = 5.0 * torch.tanh(self.log_var_raw / 5.0)
            per_entry = 0.5 * (_LOG_2PI + log_var + (x - c).pow(2) * torch.exp(-log_var))
        return (per_entry * target).sum(-1)


def _gaussian_head(layer):
    """Zero a Gaussian head's weights and biases, so both policies start at ``N(0, I)``.

    With ``p = q`` at the start, the KL terms start at 0 and the guide's information flows into
    the steps before the KL pull can collapse both policies onto uninformative steps (with
    random heads the initial KL dominates the objective and training stalls at the mean
    imputation).
    """
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
    return layer


def _gaussian(params):
    """Split a head's output into a mean and a log variance clipped to [-10, 10]."""
    mu, log_var = params.chunk(2, dim=-1)
    return mu, log_var.clamp(-10.0, 10.0)


def _kl(a, b):
    """``KL(N(a) || N(b))`` of diagonal Gaussians ``(mu, log_var)``, summed over dimensions."""
    (mu_a, lv_a), (mu_b, lv_b) = a, b
    return 0.5 * (
        lv_b - lv_a + (torch.exp(lv_a) + (mu_a - mu_b).pow(2)) * torch.exp(-lv_b) - 1.0
    ).sum(-1)


def _log_density(z, dist):
    """``log N(z; mu, diag(exp(log_var)))``, summed over dimensions."""
    mu, log_var = dist
    return -0.5 * (_LOG_2PI + log_var + (z - mu).pow(2) * torch.exp(-log_var)).sum(-1)


class _Trajectory:
    """Draws the steps of ``S`` roll-outs of ``B`` rows and sums their KL terms.

    With ``guided=True`` the steps are drawn from the guide ``q`` and the trajectory records,
    per roll-out, ``sum_t KL(q_t || p_t)``, ``sum_t KL(p_t || q_t)`` and the sampled log ratio
    ``sum_t log p(z_t) - log q(z_t)``; otherwise the steps are drawn from ``p``.
    """

    def __init__(self, noise, n_samples, n_rows, guided):
        self.noise, self.S, self.B, self.guided = noise, n_samples, n_rows, guided
        self.kl_qp = self.kl_pq = self.log_ratio = 0.0

    def draw(self, p, q=None):
        """Draw ``z`` of shape ``(S * B, dim)`` from ``q`` (guided) or ``p``."""
        mu_p, lv_p = p
        eps = self.noise.randn((self.S, self.B, mu_p.shape[-1])).reshape(mu_p.shape)
        if not self.guided:
            return mu_p + torch.exp(0.5 * lv_p) * eps
        mu_q, lv_q = q
        z = mu_q + torch.exp(0.5 * lv_q) * eps
        self.kl_qp = self.kl_qp + _kl(q, p)
        self.kl_pq = self.kl_pq + _kl(p, q)
        log_q = -0.5 * (_LOG_2PI + lv_q + eps.pow(2)).sum(-1)
        self.log_ratio = self.log_ratio + _log_density(z, p) - log_q
        return z


# ---------------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------------


class DirectPolicy(nn.Module):
    """The direct imputation policy of section 3.1 (GPSI-add and GPSI-jump).

    Three MLPs: the primary step selector ``p_theta(z_t | c_{t-1}, x_k)``, the guide
    ``q_phi(z_t | c_{t-1}, x)`` (both diagonal Gaussians) and the imputation constructor
    ``omega_theta(z_t)``, shared by both; ``c_0`` is a trainable bias (initialised at 0). A step
    is ``c_t = c_{t-1} + omega(z_t)`` ("add") or ``c_t = omega(z_t)`` ("jump").

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    latent_dim : int
        Size of ``z_t``.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers of each of the three MLPs.
    activation : str
        Activation of the hidden layers.
    update : {"add", "jump"}
        How ``omega(z_t)`` updates the guess.

    Attributes
    ----------
    c0 : torch.nn.Parameter of shape (n_features,)
        The initial guess ``c_0``.
    p_net, q_net : torch.nn.Sequential
        The step selectors; they read ``3 D`` and ``5 D`` features (see
        :meth:`GPSIModule.reads`) and output a mean and a log variance of ``z_t``.
    omega : torch.nn.Sequential
        The imputation constructor, from ``z_t`` to ``D`` outputs.
    """

    def __init__(self, n_features, latent_dim, hidden_layer_sizes, activation, update):
        super().__init__()
        D = n_features
        self.update = update
        self.c0 = nn.Parameter(torch.zeros(D))
        self.p_net = make_mlp(3 * D, hidden_layer_sizes, 2 * latent_dim, activation)
        _gaussian_head(self.p_net[-1])
        self.q_net = make_mlp(5 * D, hidden_layer_sizes, 2 * latent_dim, activation)
        _gaussian_head(self.q_net[-1])
        self.omega = make_mlp(latent_dim, hidden_layer_sizes, D, activation)

    def start(self, p_read, q_read, trajectory):
        """Return the policy state before the first step (the direct policy has none)."""
        return None

    def step(self, state, c, p_read, q_read, trajectory):
        """Take one refinement step; return the state and ``c_t`` of shape ``(N, D)``."""
        q = _gaussian(self.q_net(q_read)) if q_read is not None else None
        z = trajectory.draw(_gaussian(self.p_net(p_read)), q)
        out = self.omega(z)
        return None, (c + out if self.update == "add" else out)


def _lstm_cell(in_features, width):
    """An LSTM cell with the input and forget gate biases at +2, as in the reference code."""
    cell = nn.LSTMCell(in_features, width)
    with torch.no_grad():
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        cell.bias_ih[: 2 * width] = 2.0  # gates in torch's order (input, forget, cell, output)
    return cell


class LSTMPolicy(nn.Module):
    """The reader/writer LSTM imputation policy of section 3.2 (LSTM-add and LSTM-jump).

    Three LSTMs of width ``W``: the primary policy's reader ``f_theta^r``, the guide's reader
    ``f_phi^q`` and the writer ``f_theta^w``, shared by both policies. A step is:

    1. the readers read the current guess and the known values (the guide: the complete row),
       together with the writer's output ``h^w_{t-1}``:
       ``s^r_t = f^r(s^r_{t-1}, [read_p, h^w_{t-1}])``, ``s^q_t = f^q(s^q_{t-1}, [read_q,
       h^w_{t-1}])``;
    2. ``z_t ~ p(z_t | v^r_t)`` (or ``q(z_t | v^q_t)`` in training), Gaussians whose mean and
       log variance are affine in the readers' outputs;
    3. the writer updates ``s^w_t = f^w(s^w_{t-1}, z_t)``;
    4. the guess becomes ``c_t = c_{t-1} + omega^w(v^w_t)`` ("add", the writer's output) or
       ``c_t = omega^w(h^w_t)`` ("jump", the writer's cell state), ``omega^w`` linear.

    Before the first step, the "infinite mixture" initialisation draws ``z_0`` (size 20, or
    `latent_dim` if smaller) from ``p(z_0 | x_k)`` (or ``q(z_0 | x)`` in training) and an MLP
    decodes it into the initial states of the three LSTMs; its KL terms join those of the
    steps. ``c_0`` is a trainable bias.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    latent_dim : int
        Size of ``z_t``.
    hidden_layer_sizes : sequence of int
        The LSTMs have ``W = hidden_layer_sizes[-1]`` units; the MLPs of the mixture
        initialisation have these hidden layers.
    activation : str
        Activation of the MLPs of the mixture initialisation.
    update : {"add", "jump"}
        How the writer updates the guess.

    Attributes
    ----------
    c0 : torch.nn.Parameter of shape (n_features,)
        The initial guess ``c_0``.
    reader, guide, writer : torch.nn.LSTMCell
        ``f^r``, ``f^q`` and ``f^w``.
    p_head, q_head : torch.nn.Linear
        Mean and log variance of ``z_t`` from ``v^r_t`` and ``v^q_t``.
    write : torch.nn.Linear
        ``omega^w``, from ``W`` to ``D``.
    p_mix, q_mix, mix_decoder : torch.nn.Sequential
        ``p(z_0 | x_k)``, ``q(z_0 | x)`` and the decoder of ``z_0`` into the initial states.
    """

    def __init__(self, n_features, latent_dim, hidden_layer_sizes, activation, update):
        super().__init__()
        D, W = n_features, int(hidden_layer_sizes[-1])
        mix = min(_MIX_DIM, latent_dim)
        self.update, self.width = update, W
        self.c0 = nn.Parameter(torch.zeros(D))
        self.reader = _lstm_cell(3 * D + W, W)
        self.guide = _lstm_cell(5 * D + W, W)
        self.writer = _lstm_cell(latent_dim, W)
        self.p_head = _gaussian_head(nn.Linear(W, 2 * latent_dim))
        self.q_head = _gaussian_head(nn.Linear(W, 2 * latent_dim))
        self.write = nn.Linear(W, D)
        self.p_mix = make_mlp(3 * D, hidden_layer_sizes, 2 * mix, activation)
        _gaussian_head(self.p_mix[-1])
        self.q_mix = make_mlp(5 * D, hidden_layer_sizes, 2 * mix, activation)
        _gaussian_head(self.q_mix[-1])
        self.mix_decoder = make_mlp(mix, hidden_layer_sizes, 6 * W, activation)

    def start(self, p_read, q_read, trajectory):
        """Draw ``z_0`` and return the initial states ``(s^r, s^q, s^w)`` of the LSTMs."""
        q = _gaussian(self.q_mix(q_read)) if q_read is not None else None
        z0 = trajectory.draw(_gaussian(self.p_mix(p_read)), q)
        h = torch.tanh(self.mix_decoder(z0)).chunk(6, dim=-1)
        return (h[0], h[1]), (h[2], h[3]), (h[4], h[5])

    def step(self, state, c, p_read, q_read, trajectory):
        """Take one refinement step; return the states and ``c_t`` of shape ``(N, D)``."""
        s_r, s_q, s_w = state
        s_r = self.reader(torch.cat([p_read, s_w[0]], -1), s_r)
        q = None
        if q_read is not None:
            s_q = self.guide(torch.cat([q_read, s_w[0]], -1), s_q)
            q = _gaussian(self.q_head(s_q[0]))
        z = trajectory.draw(_gaussian(self.p_head(s_r[0])), q)
        s_w = self.writer(z, s_w)
        c = c + self.write(s_w[0]) if self.update == "add" else self.write(s_w[1])
        return (s_r, s_q, s_w), c


POLICIES = {"direct": DirectPolicy, "lstm": LSTMPolicy}


# ---------------------------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------------------------


class GPSIModule(nn.Module):
    """Guided policy search imputation: a primary policy trained to imitate a guide.

    ``forward`` returns the training objective of eq. 17 (with the reference code's weights);
    :meth:`impute`, :meth:`sample` and :meth:`log_likelihood` serve the estimator's
    ``transform``, ``sample`` and ``score``; :meth:`evaluate` returns the terms of the bound for
    given masks.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    latent_dim : int
        Size of the steps ``z_t``.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers (see :class:`DirectPolicy` and :class:`LSTMPolicy`).
    activation : str, default="relu"
        Activation of the MLPs.
    policy : {"direct", "lstm"}, default="direct"
        Section 3.1 or section 3.2.
    update : {"add", "jump"}, default="add"
        ``c_t = c_{t-1} + omega(z_t)`` or ``c_t = omega(z_t)``.
    n_steps : int, default=6
        Number ``T`` of refinement steps.
    observation : {"gaussian", "bernoulli"}, default="gaussian"
        The observation model, see :class:`Observation`.
    lambda_q : float, default=0.95
        Weight of ``sum_t KL(q_t || p_t)`` in training.
    lambda_p : float, default=0.05
        Weight of ``sum_t KL(p_t || q_t)`` in training.
    train_mask : TrainMask, default=None
        Which observed entries training hides; None is MCAR with rate 0.5.

    Attributes
    ----------
    policy : DirectPolicy or LSTMPolicy
        The two policies and the shared constructor.
    observation : Observation
        ``p(x | c_T)``.
    kl_weight : float
        Factor in [0, 1] on both KL weights of the training objective, 1.0 (eq. 17 with
        `lambda_q` and `lambda_p`) unless :class:`KLWarmup` is ramping it up.
    n_steps, lambda_q, lambda_p, train_mask
        The parameters.
    """

    def __init__(
        self,
        n_features,
        latent_dim,
        hidden_layer_sizes,
        activation="relu",
        policy="direct",
        update="add",
        n_steps=6,
        observation="gaussian",
        lambda_q=0.95,
        lambda_p=0.05,
        train_mask=None,
    ):
        super().__init__()
        hidden = tuple(int(h) for h in hidden_layer_sizes)
        self.policy = POLICIES[policy](n_features, latent_dim, hidden, activation, update)
        self.observation = Observation(observation, n_features)
        self.n_steps = int(n_steps)
        self.lambda_q, self.lambda_p = float(lambda_q), float(lambda_p)
        self.train_mask = train_mask if train_mask is not None else TrainMask("mcar", 0.5)
        self.kl_weight = 1.0

    def reads(self, x, obs, known, c, guided):
        """What the policies read: the known values filled with the current guess.

        Parameters
        ----------
        x : Tensor of shape (N, D)
            The data (0 where not observed).
        obs : Tensor of shape (N, D)
            1.0 where ``x`` holds the truth.
        known : Tensor of shape (N, D)
            1.0 where the entry is shown to the primary policy (``x_k``).
        c : Tensor of shape (N, D)
            The current guess ``c_{t-1}`` (natural parameters).
        guided : bool
            Whether to build the guide's input too.

        Returns
        -------
        p_read : Tensor of shape (N, 3 D)
            ``[x_in, x_in - g, known]`` with the guess ``g`` and ``x_in`` equal to ``x`` on
            the known entries and to ``g`` elsewhere (the reference code's input, plus the mask).
        q_read : Tensor of shape (N, 5 D) or None
            ``[p_read, obs * (x - g), obs]``: the guide also sees the residual of the guess on
            every entry whose truth is known, the hidden targets included.
        """
        g = self.observation.mean(c)
        x_in = known * x + (1.0 - known) * g
        p_read = torch.cat([x_in, x_in - g, known], -1)
        if not guided:
            return p_read, None
        return p_read, torch.cat([p_read, obs * (x - g), obs], -1)

    def rollout(self, X, obs, known, n_samples, noise, guided):
        """Roll out ``T`` steps of the guide (``guided``) or of the primary policy.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            The data, 0 where not observed.
        obs : Tensor of shape (B, D)
            1.0 where ``X`` holds the truth.
        known : Tensor of shape (B, D)
            1.0 where the entry is shown to the primary policy.
        n_samples : int
            Roll-outs per row ``S``.
        noise : skimpute.nn.GlobalNoise or skimpute.nn.RowNoise
            Source of the step noise.
        guided : bool
            Draw the steps from ``q`` (True) or ``p``.

        Returns
        -------
        c : Tensor of shape (S * B, D)
            The final guesses ``c_T`` (natural parameters), sample-major.
        trajectory : _Trajectory
            Its ``kl_qp``, ``kl_pq`` and ``log_ratio`` (each of shape ``(S * B,)`` when
            guided) sum the steps' terms.
        """
        B, D = X.shape
        x, obs, known = (t.repeat(n_samples, 1) for t in (X, obs, known))
        trajectory = _Trajectory(noise, n_samples, B, guided)
        c = self.policy.c0.expand(x.shape[0], D)
        state = self.policy.start(*self.reads(x, obs, known, c, guided), trajectory)
        for _ in range(self.n_steps):
            state, c = self.policy.step(state, c, *self.reads(x, obs, known, c, guided), trajectory)
        return c, trajectory

    def evaluate(self, X, obs, known, n_samples, noise, guided=True):
        """Terms of the bound on ``-log p(x_u | x_k)`` for given masks.

        Parameters
        ----------
        X, obs, known, n_samples, noise, guided
            As in :meth:`rollout`; the targets ``x_u`` are the entries with ``obs = 1`` and
            ``known = 0``.

        Returns
        -------
        nll : Tensor of shape (S, B)
            ``-log p(x_u | c_T)`` of each roll-out. All four terms are 0 in a row without
            targets.
        kl_qp : Tensor of shape (S, B)
            ``sum_t KL(q_t || p_t)`` (zeros unless guided).
        kl_pq : Tensor of shape (S, B)
            ``sum_t KL(p_t || q_t)`` (zeros unless guided).
        log_ratio : Tensor of shape (S, B)
            ``sum_t log p(z_t) - log q(z_t)`` of the drawn steps (zeros unless guided).
        """
        S, B = n_samples, X.shape[0]
        c, trajectory = self.rollout(X, obs, known, S, noise, guided)
        target = (obs * (1.0 - known)).repeat(S, 1)
        nll = self.observation.nll(c, X.repeat(S, 1), target).reshape(S, B)
        # a row with nothing to impute has log p(x_u | x_k) = log 1: its terms are set to 0
        has_target = (target[:B].sum(-1) > 0).to(nll.dtype)
        zeros = torch.zeros_like(nll)
        return tuple(
            term.reshape(S, B) * has_target if torch.is_tensor(term) else zeros
            for term in (nll, trajectory.kl_qp, trajectory.kl_pq, trajectory.log_ratio)
        )

    def forward(self, X, mask):
        """Return minus the per-row training objective (eq. 17), shape ``(B, 1)``.

        A mask drawn from `train_mask` hides part of the observed entries; one roll-out of the
        guide per row gives ``-log p(x_u | c_T) + w (lambda_q sum_t KL(q_t || p_t) + lambda_p
        sum_t KL(p_t || q_t))``, with ``w = kl_weight`` (1 after a warm-up). The sign is
        flipped so that :class:`~skimpute.nn.NegIWBound` with one sample is the mean objective.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            Training rows (standardised, or grey levels), 0 where missing.
        mask : Tensor of shape (B, D)
            1.0 where observed.

        Returns
        -------
        minus_objective : Tensor of shape (B, 1)
            Minus the objective of each row.
        """
        known = self.train_mask.known(mask, lambda k: torch.rand(mask.shape[0], k, device=X.device))
        nll, kl_qp, kl_pq, _ = self.evaluate(X, mask, known, 1, GlobalNoise(X.device))
        kl = self.lambda_q * kl_qp + self.lambda_p * kl_pq
        return -(nll + self.kl_weight * kl).T

    # ------------------------------------------------------------------ inference
    def impute(self, X, mask, n_samples, noise):
        """Mean of the final guesses of ``S`` roll-outs of the primary policy, ``(B, D)``."""
        return self.sample(X, mask, n_samples, noise).mean(0)

    def sample(self, X, mask, n_draws, noise):
        """Final guesses of `n_draws` roll-outs of the primary policy, ``(n_draws, B, D)``."""
        c, _ = self.rollout(X, mask, mask, n_draws, noise, guided=False)
        return self.observation.mean(c).reshape(n_draws, *X.shape)

    def hidden_mask(self, mask, noise):
        """Known mask for :meth:`log_likelihood`: a train mask drawn per row from `noise`."""
        return self.train_mask.known(
            mask, lambda k: torch.special.ndtr(noise.randn((1, mask.shape[0], k))[0]), True
        )

    def log_likelihood(self, X, mask, n_samples, noise):
        """Importance-weighted bound of ``log p(x_h | x_k)`` for train-mask hidden entries.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            Rows, 0 where missing.
        mask : Tensor of shape (B, D)
            1.0 where observed.
        n_samples : int
            Guide roll-outs per row ``L``.
        noise : skimpute.nn.RowNoise
            Per-row noise (the hidden entries are drawn from it too).

        Returns
        -------
        bound : Tensor of shape (B,)
            ``log (1/L) sum_l p(x_h | c_T^l) p(tau_l) / q(tau_l)`` for the entries ``x_h`` of
            each row hidden by a train mask.
        hidden : Tensor of shape (B, D)
            1.0 on the hidden entries.
        """
        known = self.hidden_mask(mask, noise)
        nll, _, _, log_ratio = self.evaluate(X, mask, known, n_samples, noise)
        return iw_bound(log_ratio - nll, dim=0), mask * (1.0 - known)


class KLWarmup(Callback):
    """Ramp the KL weights of the GPSI objective up from 0 over the first epochs (a warm-up).

    With the KL terms at full weight from the first step, the guide can collapse onto the
    primary policy before it learns to use the values it sees: both then pick uninformative
    steps, ``omega`` learns to ignore them and the imputation stays at ``c_0``, the column
    means (seen on scikit-learn's digits with half of the entries missing). Ramping the KL
    weights lets the guide first learn steps that carry information about ``x_u``, which the
    KL terms then teach the primary policy; it is the standard remedy for this collapse in
    variational models (Bowman et al., 2016; Sonderby et al., 2016). The objective is eq. 17
    again once the warm-up is over.

    Before each training batch it sets the module's ``kl_weight`` to
    ``min(1, (e + (b + 1) / n_b) / n_warmup)``: epoch ``e`` (counted from 0 over the net's
    whole history, so ``partial_fit`` continues the ramp), batch ``b`` of ``n_b`` in the epoch.

    Parameters
    ----------
    n_warmup : float
        Length of the ramp in epochs (> 0; it may be fractional).

    Attributes
    ----------
    n_batches_ : int
        Batches in the current epoch.
    """

    def __init__(self, n_warmup):
        self.n_warmup = n_warmup

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Record the number of batches of the epoch."""
        n_rows = len(dataset_train) if dataset_train is not None else 1
        self.n_batches_ = max(1, math.ceil(n_rows / net.batch_size))

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        """Set ``net.module_.kl_weight`` for a training batch."""
        if not training:
            return
        epoch = len(net.history) - 1
        batch_index = len(net.history[-1]["batches"]) - 1
        progress = epoch + (batch_index + 1) / getattr(self, "n_batches_", 1)
        net.module_.kl_weight = min(1.0, progress / float(self.n_warmup))
