"""Statistics of trajectories, to compare imputed sequences with true ones (the NAOMI paper).

The functions take complete sequences ``X`` of shape ``(n_sequences, T, D)`` (imputed or true)
and return one value per sequence, so that the mean and the percentiles over sequences can be
compared, as in the paper's figure 4. The positions of ``n_agents`` agents may share a step
(``D = n_agents * d``, agent after agent): the statistics are computed per agent and averaged.

A *reflection point* is a step ``t`` (``0 < t < T - 1``) where one coordinate changes direction:
``(x_t - x_{t-1}) (x_{t+1} - x_t) < 0``. For a ball bouncing off the walls of a box these are the
samples next to the bounces; a trajectory that wiggles or turns in the open has reflection points
far from the walls.
"""

import numbers

import numpy as np

__all__ = [
    "out_of_bounds_rate",
    "path_length",
    "reflection_distance",
    "sinuosity",
    "step_change",
]


def _check_trajectories(X, n_agents=1, name="X"):
    """Return ``X`` as a float array of shape (n, n_agents, T, d), with checks."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(
            f"{name} must be a 3-d array of sequences (n_sequences, n_timesteps, n_dims); got "
            f"shape {X.shape}."
        )
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must be complete and finite (impute the sequences first).")
    if (
        isinstance(n_agents, bool)
        or not isinstance(n_agents, numbers.Integral)
        or n_agents < 1
        or X.shape[2] % n_agents
    ):
        raise ValueError(
            f"n_agents must be a positive integer dividing the {X.shape[2]} values of a step; "
            f"got {n_agents!r}."
        )
    n, T, D = X.shape
    return X.reshape(n, T, n_agents, D // n_agents).transpose(0, 2, 1, 3)


def _bounds(bounds, d):
    """Lower and upper bounds of each of the ``d`` coordinates, as arrays."""
    try:
        lo, hi = bounds
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (d,))
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (d,))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"bounds must be a (low, high) pair of numbers or of arrays of {d} values; "
            f"got {bounds!r}."
        ) from exc
    if not (lo < hi).all():
        raise ValueError(f"bounds must have low < high; got {bounds!r}.")
    return lo, hi


def _step_sizes(A):
    """Euclidean length of each step, shape (n, n_agents, T - 1)."""
    return np.linalg.norm(np.diff(A, axis=2), axis=-1)


def _turns(A):
    """Direction changes: (maximum, minimum) of shape (n, n_agents, T - 2, d) at steps 1..T-2."""
    delta = np.diff(A, axis=2)
    before, after = delta[:, :, :-1], delta[:, :, 1:]
    return (before > 0) & (after < 0), (before < 0) & (after > 0)


def path_length(X, *, n_agents=1):
    """Length of each trajectory: the sum of its step lengths.

    .. math:: \\sum_{t=0}^{T-2} \\lVert x_{t+1} - x_t \\rVert

    The basketball statistic "average trajectory length" of the NAOMI paper (section 4.2).

    Parameters
    ----------
    X : array-like of shape (n_sequences, n_timesteps, n_dims)
        Complete trajectories.
    n_agents : int, default=1
        Number of agents whose positions share a step (``n_dims = n_agents * d``); the lengths
        of the agents are averaged.

    Returns
    -------
    length : ndarray of shape (n_sequences,)
        The length of each trajectory (mean over agents).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import path_length
    >>> X = np.array([[[0.0, 0.0], [3.0, 4.0], [3.0, 5.0]]])
    >>> path_length(X)
    array([6.])
    """
    A = _check_trajectories(X, n_agents)
    return _step_sizes(A).sum(axis=2).mean(axis=1)


def step_change(X, *, n_agents=1):
    """Average change of the step size of each trajectory.

    .. math:: \\frac{1}{T - 2} \\sum_{t=0}^{T-3} \\bigl| \\lVert x_{t+2} - x_{t+1} \\rVert -
              \\lVert x_{t+1} - x_t \\rVert \\bigr|

    The NAOMI paper's "average step size change" (the authors' ``draw_and_stats``): 0 for a ball
    at constant speed, except next to its bounces.

    Parameters
    ----------
    X : array-like of shape (n_sequences, n_timesteps, n_dims)
        Complete trajectories, ``n_timesteps >= 3``.
    n_agents : int, default=1
        Number of agents whose positions share a step; their values are averaged.

    Returns
    -------
    change : ndarray of shape (n_sequences,)
        The average absolute change of the step length of each trajectory.

    Raises
    ------
    ValueError
        If the trajectories have fewer than 3 steps.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import step_change
    >>> X = np.array([[[0.0], [1.0], [3.0], [4.0]]])  # steps of 1, 2, 1
    >>> step_change(X)
    array([1.])
    """
    A = _check_trajectories(X, n_agents)
    if A.shape[2] < 3:
        raise ValueError("step_change needs trajectories of at least 3 steps.")
    return np.abs(np.diff(_step_sizes(A), axis=2)).mean(axis=(1, 2))


def reflection_distance(X, *, bounds=(-1.0, 1.0), n_agents=1):
    """Mean distance between the reflection points of each trajectory and the walls.

    At each reflection point (a step where a coordinate changes direction, see the module
    description), the distance from that coordinate to the wall it turned back from: the upper
    bound when it reached a maximum, the lower bound at a minimum. The NAOMI paper's "distance
    between reflection point and the wall", which is small when the model bounces the ball off
    the walls and large when it turns in the open.

    Parameters
    ----------
    X : array-like of shape (n_sequences, n_timesteps, n_dims)
        Complete trajectories.
    bounds : tuple of (float, float) or of two arrays of shape (d,), default=(-1.0, 1.0)
        The walls, ``(low, high)`` for every coordinate (the billiards world is ``[-1, 1]^2``).
    n_agents : int, default=1
        Number of agents whose positions share a step.

    Returns
    -------
    distance : ndarray of shape (n_sequences,)
        The mean distance over the reflection points of each trajectory (all its agents and
        coordinates); NaN for a trajectory without any (use :func:`numpy.nanmean`).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import reflection_distance
    >>> X = np.array([[[0.0, 0.0], [0.5, 0.1], [0.9, 0.2], [0.5, 0.3]],   # turns at x = 0.9
    ...               [[0.0, 0.0], [0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]])  # straight
    >>> np.round(reflection_distance(X), 6)
    array([0.1, nan])
    """
    A = _check_trajectories(X, n_agents)
    lo, hi = _bounds(bounds, A.shape[-1])
    at_max, at_min = _turns(A)
    inner = A[:, :, 1:-1]
    total = (np.where(at_max, hi - inner, 0.0) + np.where(at_min, inner - lo, 0.0)).sum(
        axis=(1, 2, 3)
    )
    count = (at_max | at_min).sum(axis=(1, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def sinuosity(X, *, n_agents=1):
    """Sinuosity of each trajectory between its reflection points.

    The trajectory is cut at its reflection points (and its ends); the sinuosity is its length
    divided by the sum of the straight-line distances between consecutive cuts. A ball moving
    in straight lines between bounces has a sinuosity of 1 (slightly more, since the samples
    next to a bounce are not at the wall); a curved path between two turns scores higher. The
    NAOMI paper's "sinuosity", which measures whether the imputed trajectory is straight.

    Parameters
    ----------
    X : array-like of shape (n_sequences, n_timesteps, n_dims)
        Complete trajectories.
    n_agents : int, default=1
        Number of agents whose positions share a step; their values are averaged.

    Returns
    -------
    sinuosity : ndarray of shape (n_sequences,)
        Path length over the summed chords, at least 1 (1 for a trajectory that does not
        move).

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import sinuosity
    >>> bounce = [[0.0, 0.0], [0.5, 0.1], [1.0, 0.2], [0.5, 0.3], [0.0, 0.4]]
    >>> arc = [[0.0, 0.0], [1.0, 1.0], [2.0, 1.0], [3.0, 0.0], [4.0, -1.0]]
    >>> np.round(sinuosity(np.array([bounce, arc])), 4)  # arc: (1 + 3 sqrt 2) / sqrt 17
    array([1.    , 1.2715])
    """
    A = _check_trajectories(X, n_agents)
    n, n_ag, T, _ = A.shape
    length = _step_sizes(A).sum(axis=2)
    cuts = np.zeros((n, n_ag, T), dtype=bool)
    cuts[:, :, [0, -1]] = True
    if T > 2:
        at_max, at_min = _turns(A)
        cuts[:, :, 1:-1] = (at_max | at_min).any(axis=-1)
    chords = np.empty((n, n_ag))
    for i in range(n):
        for a in range(n_ag):
            points = A[i, a, cuts[i, a]]
            chords[i, a] = np.linalg.norm(np.diff(points, axis=0), axis=-1).sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(chords > 0, length / np.where(chords > 0, chords, 1.0), 1.0)
    return ratio.mean(axis=1)


def out_of_bounds_rate(X, *, bounds=(-1.0, 1.0)):
    """Fraction of the coordinates of each trajectory outside the world.

    The NAOMI paper's basketball statistic "out-of-bound rate" (the authors flag coordinates
    with ``|x| > 0.51`` on their normalised court); for billiards the world is ``[-1, 1]^2``.

    Parameters
    ----------
    X : array-like of shape (n_sequences, n_timesteps, n_dims)
        Complete trajectories.
    bounds : tuple of (float, float) or of two arrays of shape (n_dims,), default=(-1.0, 1.0)
        The world, ``(low, high)`` for every value of a step.

    Returns
    -------
    rate : ndarray of shape (n_sequences,)
        The fraction of the ``n_timesteps * n_dims`` values of each trajectory below `low` or
        above `high`.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.metrics import out_of_bounds_rate
    >>> out_of_bounds_rate(np.array([[[0.0, 0.5], [1.2, 0.5]]]))
    array([0.25])
    """
    A = _check_trajectories(X)
    lo, hi = _bounds(bounds, A.shape[-1])
    return ((A < lo) | (A > hi)).mean(axis=(1, 2, 3))
