"""The post-decision contract of the InvMgmt family: ``post_decision(obs, action)`` is the
deterministic part of the step and equals ``info["post_decision_obs"]``; the reward splits into the
order-driven part ``info["post_decision_reward"]`` and the demand-driven rest."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite  # noqa: F401
from rlsuite.envs import INVMGMT_IDS


@settings(max_examples=25, deadline=None)
@given(env_id=st.sampled_from(sorted(INVMGMT_IDS)), seed=st.integers(0, 10_000), high=st.floats(0.0, 80.0))
def test_post_decision_function_equals_the_env_step(env_id, seed, high):
    env = gym.make(env_id)
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(12):
        action = rng.uniform(0.0, high, env.action_space.shape)
        expected = u.post_decision(obs, action)
        obs, _, _, truncated, info = env.step(action)
        np.testing.assert_array_equal(info["post_decision_obs"], expected)
        costs = info["costs"]
        det = -(costs["procurement"] + costs["operating"] + costs["pipeline_holding"] + costs["fixed"])
        assert info["post_decision_reward"] == pytest.approx(det)
        if truncated:
            break


def test_post_decision_is_the_state_before_demand():
    """Serving the demand from the post-decision observation's on-hand gives the next observation."""
    env = gym.make("InvMgmt-SingleStore-v0")
    u = env.unwrapped
    idx = u.core.observation_index()
    obs, _ = env.reset(seed=3)
    for _ in range(10):
        post = u.post_decision(obs, [7.0])
        obs, _, _, _, info = env.step([7.0])
        sold = info["sold"][0]
        on_hand = idx["on_hand"]
        np.testing.assert_allclose(obs[on_hand], post[on_hand] - sold)
        np.testing.assert_allclose(obs[idx["pipeline"]], post[idx["pipeline"]])


def test_batched_and_vector_forms_agree():
    venv = gym.make_vec("InvMgmt-OneWarehouse-v0", num_envs=5)
    u = gym.make("InvMgmt-OneWarehouse-v0").unwrapped
    obs, _ = venv.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        actions = rng.uniform(0, 20, venv.action_space.shape)
        expected = u.post_decision(obs, actions)
        obs, _, _, _, infos = venv.step(actions)
        np.testing.assert_array_equal(infos["post_decision_obs"], expected)
        assert infos["post_decision_reward"].shape == (5,)


def test_post_decision_errors():
    u = gym.make("InvMgmt-v0").unwrapped
    obs, _ = u.reset(seed=0)
    with pytest.raises(ValueError, match="obs"):
        u.post_decision(obs[:-1], np.zeros(u.core.n_links))
    with pytest.raises(ValueError, match="action"):
        u.post_decision(obs, np.zeros(u.core.n_links + 1))
    with pytest.raises(ValueError, match="finite"):
        u.post_decision(obs, np.full(u.core.n_links, np.nan))
    torch.set_num_threads(1)
