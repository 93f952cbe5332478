"""Multilayer perceptrons and the encoders of the variational imputers.

The encoders parameterise the variational distribution ``q(z | x_o)`` of the not-MIWAE and
MIWAE: a diagonal Gaussian whose mean and log variance are computed from the zero-filled
observed data, or from a permutation-invariant embedding of the observed entries. All the
linear layers are initialised as in the reference implementations (Glorot-uniform weights,
zero biases).
"""

import math

import torch
from torch import nn

_LOG_2PI = math.log(2 * math.pi)

__all__ = ["ACTIVATIONS", "GaussianEncoder", "SetEmbedding", "glorot_linear", "make_mlp"]

#: Activation names accepted by the ``activation`` parameter of the neural imputers.
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
}


def make_mlp(in_features, hidden_layer_sizes, out_features, activation="tanh"):
    """Build a multilayer perceptron of ``Linear -> activation`` blocks.

    One ``Linear -> activation`` block is added per entry of `hidden_layer_sizes`, followed by
    a linear output layer of width `out_features` (no activation). Every linear layer has
    Glorot-uniform weights and zero biases (see :func:`glorot_linear`).

    Parameters
    ----------
    in_features : int
        Width of the input.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers. It may be empty, in which case the network is a single
        linear layer from `in_features` to `out_features` (or an empty
        :class:`~torch.nn.Sequential`, the identity, when `out_features` is None too).
    out_features : int or None
        Width of the output layer. None ends the network on the last hidden layer, its
        activation included (this is how the trunk of :class:`GaussianEncoder` is built).
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layers, a key of :data:`ACTIVATIONS`.

    Returns
    -------
    mlp : torch.nn.Sequential
        The network; it maps a tensor of shape ``(..., in_features)`` to one of shape
        ``(..., out_features)`` (``(..., hidden_layer_sizes[-1])`` when `out_features` is None).

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import make_mlp
    >>> mlp = make_mlp(4, (8, 8), 2)
    >>> mlp(torch.zeros(3, 4)).shape
    torch.Size([3, 2])
    >>> make_mlp(4, (8,), None)
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): Tanh()
    )
    """
    layers = []
    width = in_features
    for size in hidden_layer_sizes:
        layers += [glorot_linear(width, int(size)), ACTIVATIONS[activation]()]
        width = int(size)
    if out_features is not None:
        layers.append(glorot_linear(width, out_features))
    return nn.Sequential(*layers)


def glorot_linear(in_features, out_features):
    """Build a linear layer with Glorot-uniform weights and zero biases.

    This is Keras' default initialisation, used by the reference implementations of the papers;
    it trains tanh networks faster than torch's default initialisation of
    :class:`torch.nn.Linear`.

    Parameters
    ----------
    in_features : int
        Width of the input.
    out_features : int
        Width of the output.

    Returns
    -------
    layer : torch.nn.Linear
        The layer, with ``weight`` of shape ``(out_features, in_features)`` drawn by
        :func:`torch.nn.init.xavier_uniform_` and ``bias`` of shape ``(out_features,)`` set to
        zero.

    Examples
    --------
    >>> from skimpute.nn._layers import glorot_linear
    >>> layer = glorot_linear(3, 2)
    >>> layer.weight.shape, float(layer.bias.detach().abs().sum())
    (torch.Size([2, 3]), 0.0)
    """
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class SetEmbedding(nn.Module):
    """Permutation-invariant embedding of the observed entries (EDDI / PNP style).

    This is the set encoder of the partial VAE of EDDI [1]_ (a PointNet-plus style network,
    PNP). Each feature ``j`` has a learned embedding ``e_j`` of size `embedding_size`. The vector
    ``[s_j x_j, s_j e_j]`` goes through a shared ``Linear -> ReLU`` layer of width
    `code_size`; the result is zeroed where ``s_j = 0`` and summed over the features. The
    output depends neither on the unobserved values ``x_m`` nor on the order of the features,
    so it is a fixed-size code of the variable-length ``x_o``.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    embedding_size : int, default=20
        Size of the learned embedding ``e_j`` of each feature.
    code_size : int, default=20
        Width of the shared layer, hence of the output.

    Attributes
    ----------
    embedding : torch.nn.Parameter of shape (n_features, embedding_size)
        The feature embeddings ``e_j``, initialised from ``N(0, 1 / embedding_size)``.
    shared : torch.nn.Linear
        The shared layer, from ``embedding_size + 1`` to `code_size` features.
    out_features : int
        Width of the output, equal to `code_size`.

    See Also
    --------
    GaussianEncoder : Uses this embedding as its input with ``set_encoder=True``.

    References
    ----------
    .. [1] C. Ma, S. Tschiatschek, K. Palla, J. M. Hernández-Lobato, S. Nowozin and C. Zhang,
       "EDDI: Efficient dynamic discovery of high-value information with partial VAE",
       ICML 2019.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import SetEmbedding
    >>> embed = SetEmbedding(n_features=3, code_size=4)
    >>> X = torch.tensor([[0.5, 0.0, -1.0]])
    >>> mask = torch.tensor([[1.0, 0.0, 1.0]])
    >>> embed(X, mask).shape
    torch.Size([1, 4])
    """

    def __init__(self, n_features, embedding_size=20, code_size=20):
        super().__init__()
        self.embedding = nn.Parameter(
            torch.randn(n_features, embedding_size) / math.sqrt(embedding_size)
        )
        self.shared = glorot_linear(embedding_size + 1, code_size)
        self.out_features = code_size

    def forward(self, X, mask):
        """Embed the observed entries of a batch.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            Data; the entries where `mask` is 0 are ignored.
        mask : Tensor of shape (B, D)
            Mask ``s``, 1.0 where the entry is observed and 0.0 where it is missing.

        Returns
        -------
        code : Tensor of shape (B, code_size)
            The sum over the observed features of ``ReLU(shared([x_j, e_j]))``.
        """
        emb = self.embedding * mask.unsqueeze(-1)  # (B, D, E)
        h = torch.relu(self.shared(torch.cat([(X * mask).unsqueeze(-1), emb], dim=-1)))
        return (h * mask.unsqueeze(-1)).sum(dim=1)


class GaussianEncoder(nn.Module):
    """Gaussian inference network ``q(z | x_o)`` with a diagonal covariance.

    The input is the zero-filled (standardised) data ``x * s``, or with ``set_encoder=True``
    the permutation-invariant :class:`SetEmbedding` of the observed entries. An MLP with
    `hidden_layer_sizes` (each hidden layer followed by `activation`) and a linear head then
    give the mean and the log variance of ``q(z | x_o) = N(mu, diag(exp(log_var)))``; the log
    variance is clipped to [-10, 10], as in the reference code.

    Parameters
    ----------
    n_features : int
        Number of features ``D``.
    latent_dim : int
        Size ``d`` of the latent variable ``z``.
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers of the MLP; may be empty (the head is then applied to the
        input directly).
    activation : {"tanh", "relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid"}, \
            default="tanh"
        Activation of the hidden layers, a key of :data:`ACTIVATIONS`.
    set_encoder : bool, default=False
        If True, embed the observed entries with a :class:`SetEmbedding` (default sizes) before
        the MLP, instead of feeding it the zero-filled data.

    Attributes
    ----------
    set_embedding : SetEmbedding or None
        The set embedding, None unless `set_encoder` is True.
    trunk : torch.nn.Sequential
        The hidden layers, each followed by its activation.
    head : torch.nn.Linear
        Linear layer to ``2 * latent_dim`` outputs, split into ``mu`` and ``log_var``.
    latent_dim : int
        Size ``d`` of ``z``.

    See Also
    --------
    SetEmbedding : The permutation-invariant input layer.

    Examples
    --------
    >>> import torch
    >>> from skimpute.nn import GaussianEncoder
    >>> encoder = GaussianEncoder(n_features=3, latent_dim=2, hidden_layer_sizes=(8,))
    >>> mu, log_var = encoder(torch.zeros(5, 3), torch.ones(5, 3))
    >>> mu.shape, log_var.shape
    (torch.Size([5, 2]), torch.Size([5, 2]))
    """

    def __init__(
        self, n_features, latent_dim, hidden_layer_sizes, activation="tanh", set_encoder=False
    ):
        super().__init__()
        self.set_embedding = SetEmbedding(n_features) if set_encoder else None
        in_features = self.set_embedding.out_features if set_encoder else n_features
        self.trunk = make_mlp(in_features, hidden_layer_sizes, None, activation)
        width = int(hidden_layer_sizes[-1]) if len(hidden_layer_sizes) else in_features
        self.head = glorot_linear(width, 2 * latent_dim)
        self.latent_dim = latent_dim

    def forward(self, X, mask):
        """Compute the parameters of ``q(z | x_o)`` for a batch.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            Standardised data; the entries where `mask` is 0 are ignored (multiplied by 0).
        mask : Tensor of shape (B, D)
            Mask ``s``, 1.0 where the entry is observed and 0.0 where it is missing.

        Returns
        -------
        mu : Tensor of shape (B, latent_dim)
            Mean of ``q(z | x_o)``.
        log_var : Tensor of shape (B, latent_dim)
            Log variance of ``q(z | x_o)``, clipped to [-10, 10].
        """
        h = self.set_embedding(X, mask) if self.set_embedding is not None else X * mask
        mu, log_var = self.head(self.trunk(h)).chunk(2, dim=-1)
        return mu, log_var.clamp(-10.0, 10.0)

    def rsample(self, X, mask, n_samples, noise):
        """Draw reparameterised latent samples and their prior and proposal log densities.

        The samples are ``z_k = mu + exp(log_var / 2) * eps_k`` with ``eps_k ~ N(0, I)`` drawn
        from `noise`, so gradients reach the encoder; they are the ``z`` part of the importance
        samples of the variational imputers, whose log weights contain
        ``log p(z_k) - log q(z_k | x_o)``.

        Parameters
        ----------
        X : Tensor of shape (B, D)
            Standardised data; the entries where `mask` is 0 are ignored.
        mask : Tensor of shape (B, D)
            Mask ``s``, 1.0 where the entry is observed and 0.0 where it is missing.
        n_samples : int
            Number ``S`` of samples per row (``K`` in training, ``L`` at transform).
        noise : GlobalNoise or RowNoise
            Source of the standard normal draws ``eps``.

        Returns
        -------
        z : Tensor of shape (S, B, latent_dim)
            The samples of ``q(z | x_o)``.
        log_pz : Tensor of shape (S, B)
            ``log p(z_k)`` under the standard normal prior ``N(0, I)``.
        log_qz : Tensor of shape (S, B)
            ``log q(z_k | x_o)``.

        Examples
        --------
        >>> import torch
        >>> from skimpute.nn import GaussianEncoder, GlobalNoise
        >>> encoder = GaussianEncoder(n_features=3, latent_dim=2, hidden_layer_sizes=(8,))
        >>> z, log_pz, log_qz = encoder.rsample(torch.zeros(5, 3), torch.ones(5, 3), 4,
        ...                                     GlobalNoise())
        >>> z.shape, log_pz.shape, log_qz.shape
        (torch.Size([4, 5, 2]), torch.Size([4, 5]), torch.Size([4, 5]))
        """
        mu, log_var = self(X, mask)
        std = torch.exp(0.5 * log_var)
        eps = noise.randn((n_samples,) + tuple(mu.shape))
        z = mu + std * eps  # (S, B, d)
        log_pz = -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + _LOG_2PI).sum(-1) - 0.5 * log_var.sum(-1)
        return z, log_pz, log_qz
