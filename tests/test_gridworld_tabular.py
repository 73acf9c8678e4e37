"""GridWorld env (tabular model agrees with the simulator), exact DP helpers, learning-curve tools,
EpisodeRecorder and the unshaped-reward bookkeeping under SAME_STEP autoreset."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rlsuite.agents import PPO, EpisodeRecorder
from rlsuite.agents.common.vec_env import original_rewards
from rlsuite.envs.gridworld import LAYOUTS, GridWorldEnv
from rlsuite.shaping import (
    PotentialShaping,
    curve_on_grid,
    policy_evaluation,
    steps_to_threshold,
    summarize_runs,
    table_potential,
    value_iteration,
)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_check_env_and_determinism(layout):
    check_env(GridWorldEnv(layout), skip_render_check=True)
    trajs = []
    for _ in range(2):
        env = GridWorldEnv(layout, slip=0.3)
        env.reset(seed=7)
        trajs.append([env.step(a % 4)[4]["state"] for a in range(60)])
    assert trajs[0] == trajs[1]


def test_registered_id():
    env = gym.make("GridWorld-v0")
    check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.rows == LAYOUTS["four_rooms"]


def test_tabular_model_matches_simulation():
    """Empirical next-state frequencies from the simulator agree with P[s, a, :]."""
    env = GridWorldEnv("room", slip=0.4)
    P, R, terminal = env.tabular_model()
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for s in rng.choice(np.nonzero(~terminal)[0], 4, replace=False):
        a = int(rng.integers(4))
        counts = np.zeros(env.n_states)
        for _ in range(4000):
            env.reset(options={"state": int(s)})
            _, r, *_ = env.step(a)
            counts[env.state] += 1
            assert r == R[s, a, env.state]
        assert np.abs(counts / 4000 - P[s, a]).max() < 0.03


def test_distances_and_truncation():
    env = GridWorldEnv("detour", max_steps=5, slip=0.0)
    assert env.distances()[env.start] == 28 and env.distances(walls=False)[env.start] == 8
    env.reset(seed=0)
    out = [env.step(3) for _ in range(5)]  # bump into the left wall
    assert out[-1][3] and not out[-1][2] and not any(o[3] for o in out[:-1])


def test_bad_arguments():
    with pytest.raises(ValueError, match="layout"):
        GridWorldEnv("nope")
    with pytest.raises(ValueError, match="slip"):
        GridWorldEnv(slip=1.0)
    with pytest.raises(ValueError, match="exactly one start"):
        GridWorldEnv(["..G", "..."])
    with pytest.raises(ValueError, match="action"):
        env = GridWorldEnv()
        env.reset(seed=0)
        env.step(7)
    with pytest.raises(ValueError, match="options"):
        GridWorldEnv().reset(options={"state": 10_000})


def test_value_iteration_exact_values():
    """Deterministic corridor: V(s) = gamma^(steps to goal - 1) under the optimal policy."""
    env = GridWorldEnv(["S...G"], slip=0.0)
    P, R, terminal = env.tabular_model()
    sol = value_iteration(P, R, terminal, 0.9)
    np.testing.assert_allclose(sol.V[:4], 0.9 ** np.array([3, 2, 1, 0]), atol=1e-9)
    assert (sol.policy[:4] == 1).all()
    np.testing.assert_allclose(policy_evaluation(P, R, terminal, 0.9, sol.policy), sol.V, atol=1e-9)


def test_pbrs_keeps_optimal_actions_and_shifts_values_on_the_gridworld():
    env = GridWorldEnv("four_rooms")
    P, R, terminal = env.tabular_model()
    true = value_iteration(P, R, terminal, 0.99)
    phi = np.random.default_rng(1).normal(0, 3, env.n_states)
    shaped = value_iteration(P, R, terminal, 0.99, potential=phi)
    assert np.array_equal(shaped.optimal_actions(1e-7), true.optimal_actions(1e-7))
    np.testing.assert_allclose(shaped.V, true.V - np.where(terminal, 0, phi), atol=1e-7)
    # a per-step closeness bonus is not potential-based: its optimum avoids the goal
    h = env.distances(walls=False)
    closeness = np.where(terminal, 0, 0.05 * (1 - h / h.max()))[None, None]
    bonus = value_iteration(P, R + closeness, terminal, 0.99)
    v_true = policy_evaluation(P, R, terminal, 0.99, bonus.policy)
    assert v_true[env.start] < 0.5 * true.V[env.start]


def test_dp_input_errors():
    P = np.full((2, 1, 2), 0.5)
    with pytest.raises(ValueError, match="R"):
        value_iteration(P, np.zeros((2, 2, 2)), np.zeros(2, bool), 0.9)
    with pytest.raises(ValueError, match="sum to 1"):
        value_iteration(P * 2, np.zeros_like(P), np.zeros(2, bool), 0.9)
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(P, np.zeros_like(P), np.zeros(2, bool), 1.5)


def test_curve_tools():
    t, r = [10, 20, 30, 40], [0.0, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(curve_on_grid(t, r, [5, 10, 25, 40], window=2), [np.nan, 0.0, 0.5, 1.0])
    assert steps_to_threshold(t, r, 1.0, window=2) == 30
    assert steps_to_threshold(t, r, 2.0, window=2) == float("inf")
    rows = summarize_runs({"a": [(t, r), (t, [0, 0, 0, 0])]}, threshold=1.0, window=2, last=2)
    assert rows[0]["final_return_mean"] == 0.5 and rows[0]["seeds_reaching_threshold"] == 1
    with pytest.raises(ValueError, match="window"):
        curve_on_grid(t, r, t, window=0)


def test_original_rewards_reads_final_info_under_same_step():
    """SAME_STEP autoreset puts a finished env's info in final_info: its unshaped reward must come from
    there (the bug this guards against: the goal reward of shaped episodes was lost)."""
    infos = {
        "original_reward": np.array([0.5, 0.0]),
        "_original_reward": np.array([True, False]),
        "final_info": {"original_reward": np.array([0.0, 1.0]), "_original_reward": np.array([False, True])},
    }
    np.testing.assert_allclose(original_rewards(infos, np.array([9.0, 9.0])), [0.5, 1.0])
    assert original_rewards({}, np.zeros(2)) is None


def test_episode_recorder_counts_true_returns_under_shaping():
    torch.set_num_threads(1)
    layout = ["S..G"]
    phi = table_potential(np.array([-3.0, -2.0, -1.0, 0.0]), lambda o: int(np.argmax(o)))

    def one():
        return PotentialShaping(GridWorldEnv(layout, slip=0.0, max_steps=20), phi, gamma=0.99)

    venv = SyncVectorEnv([one] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    rec = EpisodeRecorder()
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=2, seed=0)
    model.learn(512, callback=rec)
    returns = np.array(rec.returns)
    assert len(returns) > 0 and set(np.unique(returns)) <= {0.0, 1.0} and returns.max() == 1.0
    assert list(model.ep_true_buffer)[-len(returns) :] == list(returns[-len(model.ep_true_buffer) :])
    assert all(n <= 20 for n in rec.lengths) and np.all(np.diff(rec.timesteps) >= 0)
