"""Missing-data models ``p(s | x)``: a Bernoulli per feature, ``s_j = 1`` when ``x_j`` is observed.

The not-MIWAE joins a model of the missing-data mechanism to the deep latent variable model of
the data; its term ``log p(s | x_o, x_m)`` enters every importance weight. Each model maps a
complete data vector ``x`` (observed values plus a sample of the missing ones), shape
``(..., D)``, to the logits of ``P(s_j = 1 | x)``. The names are those of the not-MIWAE
paper and code (Ipsen, Mattei & Frellsen, 2021):

- ``"selfmasking"``: ``logit_j = -w_j (x_j - b_j)``, one logistic regression per feature on its
  own value;
- ``"selfmasking_known"``: the same with ``w_j = softplus(.) > 0``, so higher values are more
  likely to be missing (the sign is known);
- ``"linear"``: ``logits = A x + c``, each ``s_j`` may depend on every feature (the paper's
  "agnostic" model);
- ``"nonlinear"``: an MLP with one hidden layer from ``x`` to the logits;
- ``None``: missing completely at random: fixed per-feature rates estimated at fit (no
  parameter is learnt, so the training objective is MIWAE's); it makes ``score`` a likelihood of
  ``(x_o, s)`` comparable with the MNAR models.

:func:`make_missing_model` builds a model from its name. :class:`MaskDecoder` is GNR's mask
model, which decodes the mask from the latent code instead of from the data.
"""

import numpy as np
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits, softplus

from skimpute.nn._layers import glorot_linear, make_mlp

__all__ = [
    "MISSING_MODELS",
    "LinearMissing",
    "MCARMissing",
    "MaskDecoder",
    "MissingModel",
    "NonlinearMissing",
    "SelfMasking",
    "make_missing_model",
]

#: Values accepted by the ``missing_model`` parameter.
MISSING_MODELS = ("selfmasking", "selfmasking_known", "linear", "nonlinear", None)


class MissingModel(nn.Module):
    """Base class of the missing-data models ``p(s | x)``.

    The mask is modelled as independent Bernoulli variables, ``s_j | x ~ Bernoulli(pi_j(x))``.
    A subclass implements ``forward(x)``, which returns the logits of ``pi_j(x) = P(s_j = 1 | x)``
    with the shape of ``x``; this class adds :meth:`log_prob`.

    Parameters
    ----------
    *args : tuple
        Accepted for :class:`torch.nn.Module`'s signature; must be empty.
    **kwargs : dict
        Accepted for :class:`torch.nn.Module`'s signature; must be empty.

    Attributes
    ----------
    depends_on_x : bool
        Class attribute, True unless the probabilities are independent of ``x``: the not-MIWAE
        then needs no sample of ``x_m`` to evaluate ``p(s | x)``.

    See Also
    --------
    make_missing_model : Build a missing-data model from its name.
    """

    #: whether the probabilities depend on ``x`` (if not, no sample of ``x_m`` is needed)
    depends_on_x = True

    def log_prob(self, mask, x):
        """Compute ``log p(s | x)``, summed over the features.

        Parameters
        ----------
        mask : Tensor of shape (B, D)
            Mask ``s``, 1.0 where the entry is observed and 0.0 where it is missing. It is
            expanded to the shape of the logits, so it may lack the leading sample dimension of
            `x`.
        x : Tensor of shape (S, B, D)
            Complete data ``(x_o, x_m)``: the observed values with one sample of the missing
            ones, ``S`` importance samples per row. Any shape ``(..., D)`` is accepted.

        Returns
        -------
        log_prob : Tensor of shape (S, B)
            ``sum_j [s_j log pi_j(x) + (1 - s_j) log(1 - pi_j(x))]``, `x` with its last
            dimension reduced.
        """
        logits = self(x)
        return -binary_cross_entropy_with_logits(
            logits, mask.expand_as(logits), reduction="none"
        ).sum(-1)


class SelfMasking(MissingModel):
    """Per-feature logistic self-masking, ``logit_j = -w_j (x_j - b_j)``.

    Each feature is missing because of its own value:
    ``P(s_j = 1 | x) = sigmoid(-w_j (x_j - b_j))``, a logistic regression of ``s_j`` on ``x_j``
    alone. With ``w_j > 0`` high values are more likely to be missing (censoring from above).
    This is the not-MIWAE's
    ``"selfmasking"`` model, or ``"selfmasking_known"`` with `known_sign`.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    known_sign : bool, default=False
        If True, ``w_j = softplus(weight_j) > 0``: the direction of the self-masking is known
        (higher values are more likely missing). If False, ``w_j = weight_j`` may take either
        sign.

    Attributes
    ----------
    known_sign : bool
        Whether the weights are constrained to be positive.
    weight : torch.nn.Parameter of shape (n_features,)
        The (unconstrained) slopes, initialised to 0.
    bias : torch.nn.Parameter of shape (n_features,)
        The thresholds ``b_j``, initialised to 0.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import SelfMasking
    >>> model = SelfMasking(n_features=3, known_sign=True)
    >>> model(torch.zeros(10, 5, 3)).shape
    torch.Size([10, 5, 3])
    """

    def __init__(self, n_features, known_sign=False):
        super().__init__()
        self.known_sign = known_sign
        self.weight = nn.Parameter(torch.zeros(n_features))
        self.bias = nn.Parameter(torch.zeros(n_features))

    def forward(self, x):
        """Compute the logits of ``P(s_j = 1 | x_j)``.

        Parameters
        ----------
        x : Tensor of shape (S, B, D)
            Complete data; any shape ``(..., D)`` is accepted.

        Returns
        -------
        logits : Tensor of shape (S, B, D)
            ``-w_j (x_j - b_j)`` for every element of `x`.
        """
        w = softplus(self.weight) if self.known_sign else self.weight
        return -w * (x - self.bias)


class LinearMissing(MissingModel):
    """Dense linear missing-data model, ``logits = A x + c`` (the paper's agnostic model).

    Each ``s_j`` may depend on every feature of ``x``, observed or missing; the not-MIWAE
    ``"linear"`` model, for when the form of the mechanism is unknown.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.

    Attributes
    ----------
    linear : torch.nn.Linear
        The map ``x -> A x + c``, from `n_features` to `n_features` (Glorot-uniform ``A``, zero
        ``c``).

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import LinearMissing
    >>> LinearMissing(n_features=3)(torch.zeros(10, 5, 3)).shape
    torch.Size([10, 5, 3])
    """

    def __init__(self, n_features):
        super().__init__()
        self.linear = glorot_linear(n_features, n_features)

    def forward(self, x):
        """Compute the logits of ``P(s_j = 1 | x)``.

        Parameters
        ----------
        x : Tensor of shape (S, B, D)
            Complete data; any shape ``(..., D)`` is accepted.

        Returns
        -------
        logits : Tensor of shape (S, B, D)
            ``A x + c``.
        """
        return self.linear(x)


class NonlinearMissing(MissingModel):
    """Nonlinear missing-data model: an MLP from ``x`` to the logits.

    The most flexible of the models (the not-MIWAE ``"nonlinear"`` model): each ``s_j`` may
    depend on every feature of ``x`` through a multilayer perceptron.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    hidden_layer_sizes : sequence of int, default=(128,)
        Widths of the hidden layers of the MLP.
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layers.

    Attributes
    ----------
    net : torch.nn.Sequential
        The MLP, from `n_features` to `n_features` outputs.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import NonlinearMissing
    >>> NonlinearMissing(n_features=3, hidden_layer_sizes=(8,))(torch.zeros(10, 5, 3)).shape
    torch.Size([10, 5, 3])
    """

    def __init__(self, n_features, hidden_layer_sizes=(128,), activation="tanh"):
        super().__init__()
        self.net = make_mlp(n_features, hidden_layer_sizes, n_features, activation)

    def forward(self, x):
        """Compute the logits of ``P(s_j = 1 | x)``.

        Parameters
        ----------
        x : Tensor of shape (S, B, D)
            Complete data; any shape ``(..., D)`` is accepted.

        Returns
        -------
        logits : Tensor of shape (S, B, D)
            The output of the MLP.
        """
        return self.net(x)


class MCARMissing(MissingModel):
    """Missing completely at random: fixed rates ``P(s_j = 1) = rate_j``, independent of ``x``.

    The model has no learnable parameter, so ``log p(s)`` is a constant and the training
    objective is the MIWAE's; it still adds ``log p(s)`` to the weights, which makes ``score``
    a likelihood of ``(x_o, s)`` comparable with the MNAR models. This is the model of
    ``missing_model=None``.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    observed_rate : array-like of shape (n_features,), default=None
        Fraction of observed entries of each feature (estimated at fit by the imputers); the
        rates are clipped to ``[1e-3, 1 - 1e-3]``. None means 0.5 for every feature.

    Attributes
    ----------
    depends_on_x : bool
        False: the probabilities do not depend on ``x``.
    logits : Tensor of shape (n_features,)
        Buffer (float32) holding ``log(rate_j / (1 - rate_j))``.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import MCARMissing
    >>> model = MCARMissing(n_features=2, observed_rate=[0.5, 0.9])
    >>> torch.sigmoid(model(torch.zeros(1, 2)))
    tensor([[0.5000, 0.9000]])
    """

    depends_on_x = False

    def __init__(self, n_features, observed_rate=None):
        super().__init__()
        self.register_buffer("logits", rate_logits(n_features, observed_rate))

    def forward(self, x):
        """Return the fixed logits, expanded to the shape of `x`.

        Parameters
        ----------
        x : Tensor of shape (B, D)
            Data; only its shape is used. Any shape ``(..., D)`` is accepted.

        Returns
        -------
        logits : Tensor of shape (B, D)
            The logits of the rates, broadcast to ``x.shape`` (a view, no copy).
        """
        return self.logits.expand(x.shape)


def rate_logits(n_features, observed_rate=None):
    """Logits of per-feature observation rates, clipped away from 0 and 1.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    observed_rate : array-like of shape (n_features,), default=None
        Fraction of observed entries of each feature; clipped to ``[1e-3, 1 - 1e-3]``. None
        means 0.5 for every feature.

    Returns
    -------
    logits : Tensor of shape (n_features,)
        ``log(rate_j / (1 - rate_j))`` (float32).

    Examples
    --------
    >>> from skimpute.nn._missing import rate_logits
    >>> rate_logits(2, [0.5, 1.0])
    tensor([0.0000, 6.9068])
    """
    rate = (
        np.full(n_features, 0.5)
        if observed_rate is None
        else np.asarray(observed_rate, dtype=float)
    )
    rate = np.clip(rate, 1e-3, 1 - 1e-3)
    return torch.as_tensor(np.log(rate) - np.log1p(-rate), dtype=torch.float32)


class MaskDecoder(MissingModel):
    """Bernoulli decoder of the mask from a latent code, ``p(m | h)`` (GNR's mask decoder).

    An MLP maps a code ``h`` (for GNR the latent variable and the auxiliary variable,
    ``h = [z, u]``) to the logits of ``P(m_j = 1 | h)``, one independent Bernoulli per feature
    (``m_j = 1`` when ``x_j`` is observed). Unlike the missing-data models of the not-MIWAE it
    never sees the data, observed or imputed: the mask is a second modality decoded in
    parallel with the data.

    The output layer starts with zero weights and biases equal to the logits of
    `observed_rate`, so the untrained decoder is the missing-completely-at-random model of
    :class:`MCARMissing`.

    Parameters
    ----------
    in_features : int
        Width of the code ``h``.
    n_features : int
        Number of features ``D`` (of mask bits).
    hidden_layer_sizes : sequence of int, default=(128, 128)
        Widths of the hidden layers of the MLP.
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layers.
    observed_rate : array-like of shape (n_features,), default=None
        Fraction of observed entries of each feature, which sets the initial biases (clipped
        to ``[1e-3, 1 - 1e-3]``); None means 0.5.

    Attributes
    ----------
    net : torch.nn.Sequential
        The MLP, from `in_features` to `n_features` logits.

    See Also
    --------
    MCARMissing : The decoder's starting point, fixed observation rates.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import MaskDecoder
    >>> decoder = MaskDecoder(4, n_features=3, hidden_layer_sizes=(8,), observed_rate=[0.5] * 3)
    >>> h = torch.randn(10, 5, 4)  # S = 10 codes for each of B = 5 rows
    >>> torch.sigmoid(decoder(h))[0, 0]
    tensor([0.5000, 0.5000, 0.5000], grad_fn=<SelectBackward0>)
    >>> decoder.log_prob(torch.ones(5, 3), h).shape
    torch.Size([10, 5])
    """

    def __init__(
        self,
        in_features,
        n_features,
        hidden_layer_sizes=(128, 128),
        activation="tanh",
        observed_rate=None,
    ):
        super().__init__()
        self.net = make_mlp(in_features, hidden_layer_sizes, n_features, activation)
        out = self.net[-1]
        with torch.no_grad():
            out.weight.zero_()
            out.bias.copy_(rate_logits(n_features, observed_rate))

    def forward(self, h):
        """Compute the logits of ``P(m_j = 1 | h)``.

        Parameters
        ----------
        h : Tensor of shape (S, B, in_features)
            Codes; any shape ``(..., in_features)`` is accepted.

        Returns
        -------
        logits : Tensor of shape (S, B, n_features)
            The output of the MLP.
        """
        return self.net(h)


def make_missing_model(
    name, n_features, hidden_layer_sizes=(128,), activation="tanh", observed_rate=None
):
    """Build the missing-data model ``p(s | x)`` called `name`.

    Parameters
    ----------
    name : {"selfmasking", "selfmasking_known", "linear", "nonlinear"} or None
        The model, one of :data:`MISSING_MODELS`: :class:`SelfMasking` (with
        ``known_sign=True`` for ``"selfmasking_known"``), :class:`LinearMissing`,
        :class:`NonlinearMissing`, or :class:`MCARMissing` for None.
    n_features : int
        Number of features ``D``.
    hidden_layer_sizes : sequence of int, default=(128,)
        Hidden layers of the imputer; the ``"nonlinear"`` model uses one hidden layer, of the
        width of the first of them (128 when the sequence is empty). Ignored by the other models.
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layer of the ``"nonlinear"`` model.
    observed_rate : array-like of shape (n_features,), default=None
        Observed fraction of each feature, used by the MCAR model (`name` None) only.

    Returns
    -------
    model : MissingModel
        The missing-data model, a :class:`torch.nn.Module`.

    Raises
    ------
    ValueError
        If `name` is not one of :data:`MISSING_MODELS`.

    Examples
    --------
    >>> from skimpute.nn import make_missing_model
    >>> make_missing_model("selfmasking_known", n_features=3).known_sign
    True
    >>> make_missing_model(None, n_features=3).depends_on_x
    False
    """
    if name is None:
        return MCARMissing(n_features, observed_rate)
    if name in ("selfmasking", "selfmasking_known"):
        return SelfMasking(n_features, known_sign=name == "selfmasking_known")
    if name == "linear":
        return LinearMissing(n_features)
    if name == "nonlinear":
        return NonlinearMissing(n_features, tuple(hidden_layer_sizes[:1]) or (128,), activation)
    raise ValueError(f"unknown missing model {name!r}; expected one of {MISSING_MODELS}")
