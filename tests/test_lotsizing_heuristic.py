"""The scripted (s, S) cover rule for LotSizing: its decisions on hand-made states, valid actions,
its search, and that it beats doing nothing and acting at random."""

import gymnasium as gym
import numpy as np
import pytest

import rlsuite  # noqa: F401
from rlsuite.baselines import LotSizingCoverPolicy
from rlsuite.baselines.lotsizing_heuristic import episode_return, mean_demand
from rlsuite.envs.inventory import LotSizingSpec


def _spec(**changes) -> LotSizingSpec:
    """2 items, 2 machines; demand 10 per period; machine 0 makes both, machine 1 only item 2."""
    base = {
        "production": [[20, 15], [0, 30]],
        "setup_costs": [[5.0, 5.0], [5.0, 5.0]],
        "setup_loss": [[1, 1], [1, 1]],
        "lost_sales_costs": [1.0, 2.0],
        "holding_costs": [0.1, 0.1],
        "demand": "deterministic",
        "demand_mean": 10,
    }
    return LotSizingSpec(**{**base, **changes})


def test_decisions_on_hand_made_states():
    policy = LotSizingCoverPolicy(_spec(), reorder_at=1.0, order_up_to=3.0)
    # machine 0 set up on item 1 with 1 period of cover (< S = 3) keeps making it; machine 1 idle,
    # item 2 at 0.5 periods of cover (< s): it starts item 2
    np.testing.assert_array_equal(policy([10, 5, 1, 0]), [1, 2])
    # item 1 has 3 periods of cover (= S): machine 0 is free; both items are needed and item 2 saves
    # more (2.0 x 10 vs 1.0 x 10), so machine 0 switches to item 2; machine 1 then sees item 2
    # covered by machine 0's 14 units (0 + 14 >= 10) and idles
    np.testing.assert_array_equal(policy([30, 0, 1, 0]), [2, 0])
    # nothing below s: free machines idle; a running machine keeps going below S
    np.testing.assert_array_equal(policy([50, 20, 0, 2]), [0, 2])
    np.testing.assert_array_equal(policy([50, 40, 0, 2]), [0, 0])
    # a batch gives the same rows
    batch = np.array([[10, 5, 1, 0], [30, 0, 1, 0], [50, 20, 0, 2]], dtype=np.float32)
    np.testing.assert_array_equal(policy.predict(batch)[0], [[1, 2], [2, 0], [0, 2]])


def test_mean_demand_per_model():
    np.testing.assert_allclose(mean_demand(_spec(demand="binomial", demand_n=20, demand_p=0.4)), [8.0, 8.0])
    np.testing.assert_allclose(mean_demand(_spec(demand="poisson", demand_mean=[3.0, 4.0])), [3.0, 4.0])


def test_actions_are_valid_on_random_states_of_a_generated_plant():
    env = gym.make("LotSizing-v0")
    policy = LotSizingCoverPolicy(env)
    rng = np.random.default_rng(0)
    obs = np.concatenate([rng.integers(0, 101, (200, 15)), rng.integers(0, 16, (200, 5))], axis=1).astype(
        np.float32
    )
    actions = policy.predict(obs)[0]
    assert actions.shape == (200, 5) and all(env.action_space.contains(a) for a in actions)


def test_search_picks_the_best_grid_point_and_beats_idle_and_random():
    res = LotSizingCoverPolicy.search("LotSizing-Small-v0", n_episodes=10, horizon=50)
    assert res.cost == min(row[2] for row in res.table)
    assert (res.policy.reorder_at, res.policy.order_up_to, res.cost) in res.table
    env = gym.make("LotSizing-Small-v0", horizon=50)
    seeds = range(500, 520)
    rng = np.random.default_rng(0)
    rule = np.mean([episode_return(env, res.policy, s) for s in seeds])
    idle = np.mean([episode_return(env, lambda o: np.zeros(2, dtype=np.int64), s) for s in seeds])
    rand = np.mean([episode_return(env, lambda o: rng.integers(0, 4, 2), s) for s in seeds])
    assert rule > idle + 0.1 * abs(idle) and rule > rand, (rule, idle, rand)


def test_bad_arguments():
    with pytest.raises(ValueError, match="order_up_to"):
        LotSizingCoverPolicy(_spec(), reorder_at=2.0, order_up_to=1.0)
    with pytest.raises(ValueError, match="reorder_at"):
        LotSizingCoverPolicy(_spec(), reorder_at=-1.0)
    with pytest.raises(ValueError, match="observation"):
        LotSizingCoverPolicy(_spec()).predict(np.zeros(3))
    with pytest.raises(ValueError, match="LotSizing"):
        LotSizingCoverPolicy(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="no grid point"):
        LotSizingCoverPolicy.search("LotSizing-Small-v0", reorder_at=(5.0,), order_up_to=(1.0,), n_episodes=1)
