"""The billiards simulator of the NAOMI paper: one ball bouncing in a box without friction."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_billiards"]


def _check_positive_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def make_billiards(
    n_train=4000,
    n_test=1000,
    *,
    n_timesteps=200,
    speed=(0.04, 0.08),
    radius=0.0,
    random_state=None,
):
    """Simulate billiard-ball trajectories, the data of the NAOMI paper's section 4.1.

    One ball moves without friction in the square world ``[-1, 1] x [-1, 1]`` (the authors'
    normalisation of a 256 x 256 world) and reflects elastically off the walls: between bounces
    it moves in a straight line at constant speed, and a bounce reverses the component of the
    velocity normal to the wall. Each sequence starts at a uniform random position (the centre of
    the ball at least `radius` from the walls) with a uniform random direction and a speed drawn
    uniformly in `speed`, and is sampled at ``n_timesteps`` unit time steps. The positions are
    exact (the reflections are computed in closed form, by folding the free motion into the box),
    so the trajectories carry no integration error.

    The paper generates 4000 training and 1000 test sequences of 200 steps with the simulator of
    Fragkiadaki et al. (2016), whose settings (world size, ball size, speeds) it does not give;
    the defaults here give a few bounces per sequence.

    Parameters
    ----------
    n_train : int, default=4000
        Number of training sequences.
    n_test : int, default=1000
        Number of test sequences (0 for none).
    n_timesteps : int, default=200
        Steps per sequence, ``T``.
    speed : tuple of (float, float), default=(0.04, 0.08)
        Range of the speed, in world units per step (the world is 2 wide).
    radius : float, default=0.0
        Radius of the ball: its centre, which the positions give, reflects at ``1 - radius``
        from the centre of the world.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial positions, directions and speeds (the training sequences are drawn
        first, so they do not depend on `n_test`).

    Returns
    -------
    X_train : ndarray of shape (n_train, n_timesteps, 2)
        The training trajectories, the ``(x, y)`` position of the ball at each step.
    X_test : ndarray of shape (n_test, n_timesteps, 2)
        The test trajectories.

    See Also
    --------
    skimpute.ampute.sequence_steps : Remove whole steps of sequences (NAOMI's masks).
    skimpute.NAOMISequenceImputer : The imputer of the paper.

    References
    ----------
    .. [1] Y. Liu, R. Yu, S. Zheng, E. Zhan and Y. Yue, "NAOMI: Non-Autoregressive
       Multiresolution Sequence Imputation", NeurIPS 2019.
    .. [2] K. Fragkiadaki, P. Agrawal, S. Levine and J. Malik, "Learning visual predictive models
       of physics for playing billiards", ICLR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skimpute.datasets import make_billiards
    >>> X_train, X_test = make_billiards(n_train=100, n_test=20, random_state=0)
    >>> X_train.shape, X_test.shape
    ((100, 200, 2), (20, 200, 2))
    >>> bool((np.abs(X_train) <= 1).all())
    True
    """
    n_train = _check_positive_int(n_train, "n_train", 0)
    n_test = _check_positive_int(n_test, "n_test", 0)
    n_timesteps = _check_positive_int(n_timesteps, "n_timesteps", 1)
    try:
        low, high = (float(v) for v in speed)
    except (TypeError, ValueError):
        low = high = np.nan
    if not 0.0 <= low <= high:
        raise ValueError(f"speed must be a (low, high) pair with 0 <= low <= high; got {speed!r}.")
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not 0 <= radius < 1:
        raise ValueError(f"radius must be a number in [0, 1); got {radius!r}.")
    rng = check_random_state(random_state)
    edge = 1.0 - float(radius)
    return tuple(_simulate(rng, n, n_timesteps, low, high, edge) for n in (n_train, n_test))


def _simulate(rng, n, n_timesteps, low, high, edge):
    """Trajectories of `n` balls in the box ``[-edge, edge]^2``, shape (n, n_timesteps, 2)."""
    start = rng.uniform(-edge, edge, size=(n, 2))
    return _paths(start, _velocities(rng, n, low, high), n_timesteps, edge)


def _velocities(rng, n, low, high):
    """`n` velocities, a uniform direction and a speed uniform in ``[low, high]``, shape (n, 2)."""
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return rng.uniform(low, high, size=n)[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)


def _paths(start, velocity, n_timesteps, edge):
    """Positions of balls from `start` (n, 2) at `velocity` (n, 2), shape (n, n_timesteps, 2)."""
    width = 2.0 * edge
    t = np.arange(n_timesteps, dtype=np.float64)[None, :, None]
    free = start[:, None, :] + edge + t * velocity[:, None, :]  # free motion, from the lower wall
    folded = np.mod(free, 2.0 * width)  # unfold the reflections: a period is there and back
    return np.where(folded <= width, folded, 2.0 * width - folded) - edge
