"""The billiards simulator and the trajectory statistics of the NAOMI paper."""

import numpy as np
import pytest

from skimpute.datasets import make_billiards
from skimpute.metrics import (
    l2_missing,
    out_of_bounds_rate,
    path_length,
    reflection_distance,
    sinuosity,
    step_change,
)

# ------------------------------------------------------------------ make_billiards


def test_billiards_shapes_and_seed():
    X_train, X_test = make_billiards(n_train=50, n_test=10, n_timesteps=30, random_state=0)
    assert X_train.shape == (50, 30, 2) and X_test.shape == (10, 30, 2)
    again, _ = make_billiards(n_train=50, n_test=0, n_timesteps=30, random_state=0)
    assert np.array_equal(again, X_train)  # the test set does not change the training set
    other, _ = make_billiards(n_train=50, n_test=10, n_timesteps=30, random_state=1)
    assert not np.allclose(other, X_train)
    default_train, default_test = make_billiards(random_state=0)
    assert default_train.shape == (4000, 200, 2) and default_test.shape == (1000, 200, 2)


@pytest.mark.parametrize("radius", [0.0, 0.1])
def test_billiards_physics(radius):
    X, _ = make_billiards(n_train=200, n_test=0, radius=radius, random_state=0)
    edge = 1.0 - radius
    assert np.abs(X).max() <= edge + 1e-12
    steps = np.diff(X, axis=1)
    size = np.linalg.norm(steps, axis=-1)
    # between bounces the ball keeps its velocity: steps that do not touch a wall are equal
    crossing = np.zeros(size.shape, dtype=bool)
    flips = (steps[:, 1:] * steps[:, :-1] < 0).any(-1)  # a coordinate reversed between steps
    crossing[:, 1:] |= flips
    crossing[:, :-1] |= flips
    crossing[:, [0, -1]] = True  # a bounce in the first or last step shows no reversal
    speed = np.median(size, axis=1, keepdims=True)
    assert np.allclose(size[~crossing], np.broadcast_to(speed, size.shape)[~crossing])
    assert np.allclose(
        steps[:, 1:][~(crossing[:, 1:] | crossing[:, :-1])],
        steps[:, :-1][~(crossing[:, 1:] | crossing[:, :-1])],
    )
    assert ((speed >= 0.04) & (speed <= 0.08)).all()
    # elastic reflections: the speed is the same after a bounce, the balls do bounce
    assert flips.any(axis=1).mean() > 0.9
    # a ball bounces off a wall: where a coordinate reverses it is within one step of a wall
    turn = steps[:, 1:] * steps[:, :-1] < 0
    at = X[:, 1:-1][turn]
    assert (edge - np.abs(at) <= 0.08 + 1e-9).all()


def test_billiards_bad_arguments():
    with pytest.raises(ValueError, match="n_train"):
        make_billiards(n_train=-1)
    with pytest.raises(ValueError, match="speed"):
        make_billiards(n_train=1, speed=(0.1, 0.01))
    with pytest.raises(ValueError, match="radius"):
        make_billiards(n_train=1, radius=1.0)


# ------------------------------------------------------------------ metrics

STRAIGHT = np.array([[[0.0, 0.0], [0.1, 0.2], [0.2, 0.4], [0.3, 0.6], [0.4, 0.8]]])
# a ball bouncing off the wall x = 1 between steps 2 and 3
BOUNCE = np.array([[[0.2, 0.0], [0.6, 0.1], [1.0, 0.2], [0.6, 0.3], [0.2, 0.4]]])


def test_metrics_of_a_straight_line():
    assert sinuosity(STRAIGHT)[0] == pytest.approx(1.0)
    assert step_change(STRAIGHT)[0] == pytest.approx(0.0)
    assert np.isnan(reflection_distance(STRAIGHT)[0])
    assert path_length(STRAIGHT)[0] == pytest.approx(4 * np.hypot(0.1, 0.2))
    assert out_of_bounds_rate(STRAIGHT)[0] == 0.0


def test_metrics_of_a_bounce():
    assert sinuosity(BOUNCE)[0] == pytest.approx(1.0)
    assert reflection_distance(BOUNCE)[0] == pytest.approx(0.0)
    assert step_change(BOUNCE)[0] == pytest.approx(0.0)
    # the same turn 0.3 from the wall
    early = BOUNCE.copy()
    early[0, 2, 0] = 0.7
    assert reflection_distance(early)[0] == pytest.approx(0.3)
    # step sizes: |(0.4, .1)|, |(0.1, .1)|, |(-0.1, .1)|, |(-0.4, .1)|
    sizes = np.hypot([0.4, 0.1, 0.1, 0.4], 0.1)
    assert step_change(early)[0] == pytest.approx(np.abs(np.diff(sizes)).mean())
    # a turn at a minimum is measured from the lower wall
    low = np.array([[[0.0, 0.5], [0.0, -0.5], [0.0, -0.8], [0.0, -0.2]]])
    assert reflection_distance(low, bounds=(-1.0, 1.0))[0] == pytest.approx(0.2)


def test_sinuosity_of_a_curve_and_a_zigzag():
    arc = np.array([[[0.0, 0.0], [1.0, 1.0], [2.0, 1.0], [3.0, 0.0], [4.0, -1.0]]])
    assert sinuosity(arc)[0] == pytest.approx((1 + 3 * np.sqrt(2)) / np.sqrt(17))
    # a wiggle in the open: cut at each turn, straight pieces, so 1, but turns far from walls
    zigzag = np.array([[[0.0, 0.0], [0.1, 0.1], [0.2, 0.0], [0.3, 0.1], [0.4, 0.0]]])
    assert sinuosity(zigzag)[0] == pytest.approx(1.0)
    assert reflection_distance(zigzag)[0] == pytest.approx((0.9 + 1.0 + 0.9) / 3)
    assert sinuosity(np.zeros((1, 4, 2)))[0] == 1.0


def test_metrics_per_agent_and_out_of_bounds():
    two = np.concatenate([STRAIGHT, BOUNCE], axis=-1)  # two agents of 2 coordinates
    assert path_length(two, n_agents=2)[0] == pytest.approx(
        (path_length(STRAIGHT)[0] + path_length(BOUNCE)[0]) / 2
    )
    assert out_of_bounds_rate(two, bounds=(-0.5, 0.5))[0] == pytest.approx(
        ((np.abs(two) > 0.5).sum()) / two.size
    )
    with pytest.raises(ValueError, match="n_agents"):
        sinuosity(two, n_agents=3)


def test_metrics_on_billiards_ground_truth():
    X, _ = make_billiards(n_train=300, n_test=0, random_state=0)
    assert sinuosity(X).mean() == pytest.approx(1.0, abs=0.01)
    assert np.nanmean(reflection_distance(X)) < 0.03
    assert step_change(X).mean() < 0.003
    assert out_of_bounds_rate(X).max() == 0.0


def test_l2_missing_by_hand():
    X_true = np.zeros((1, 3, 2))
    X_imputed = np.array([[[9.0, 9.0], [1.0, 1.0], [0.0, 2.0]]])
    mask = np.array([[[True, True], [False, False], [False, False]]])
    assert l2_missing(X_true, X_imputed, mask) == pytest.approx(1.5)


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="3-d"):
        sinuosity(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="complete"):
        path_length(np.full((1, 3, 2), np.nan))
    with pytest.raises(ValueError, match="at least 3 steps"):
        step_change(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="bounds"):
        reflection_distance(STRAIGHT, bounds=(1.0, -1.0))
