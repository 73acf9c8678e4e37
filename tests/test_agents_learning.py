"""Can-it-learn tests with small budgets (seconds on 2 cores)."""

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.vector import RescaleAction

import rlsuite
from rlsuite.agents import BPO, PPO, evaluate_policy, linear_schedule
from rlsuite.agents.common.base import OnPolicyAlgorithm
from rlsuite.baselines import policy_factory

# rl-zoo's CartPole settings.
CARTPOLE = dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20)


def test_ppo_solves_cartpole():
    model = PPO(
        "MlpPolicy",
        "CartPole-v1",
        seed=0,
        learning_rate=linear_schedule(1e-3),
        clip_range=linear_schedule(0.2),
        **CARTPOLE,
    )
    model.learn(100_000)
    assert evaluate_policy(model, gym.make("CartPole-v1"), 10, seed=100)[0] >= 475


def test_bpo_solves_cartpole():
    model = BPO(
        "MlpPolicy",
        "CartPole-v1",
        seed=0,
        learning_rate=linear_schedule(1e-3),
        clip_range=0.2,
        lam=0.1,
        **CARTPOLE,
    )
    model.learn(60_000)
    assert evaluate_policy(model, gym.make("CartPole-v1"), 10, seed=100)[0] >= 475


def test_ppo_learns_pendulum():
    model = PPO(
        "MlpPolicy",
        "Pendulum-v1",
        seed=0,
        n_envs=4,
        n_steps=512,
        batch_size=256,
        gamma=0.9,
        learning_rate=1e-3,
        normalize_observation=True,
        normalize_reward=True,
        policy_kwargs={"log_std_init": -0.5},
    )
    model.learn(60_000)
    assert evaluate_policy(model, gym.make("Pendulum-v1"), 10, seed=100)[0] >= -400  # random: about -1200


def test_ppo_trains_on_invmgmt_through_the_native_vector_env():
    venv = RescaleAction(gym.make_vec("InvMgmt-v0", num_envs=64, max_order=60.0), -1.0, 1.0)
    assert isinstance(venv.unwrapped, rlsuite.envs.inventory.InvMgmtVectorEnv)
    model = PPO(
        "MlpPolicy",
        venv,
        seed=0,
        n_steps=62,
        batch_size=512,
        normalize_observation=True,
        normalize_reward=True,
        policy_kwargs={"log_std_init": -0.5},
    )
    model.learn(150_000)
    assert isinstance(model, OnPolicyAlgorithm)

    def orders(obs: np.ndarray) -> np.ndarray:
        return (model.predict(obs, deterministic=True)[0] + 1) / 2 * 60.0

    res = rlsuite.evaluate(
        {"ppo": orders, "constant": policy_factory("constant")}, "InvMgmt-v0", seeds=range(20)
    )
    profit = {r["policy"]: r["profit"] for r in res.summary()}
    assert profit["ppo"] > profit["constant"] + 300  # constant-20: about 30; gym-invmgmt-paper's PPO: 588


def test_mujoco_v5_runs_out_of_the_box(tmp_path):
    import pytest

    pytest.importorskip("mujoco")
    model = BPO(
        "MlpPolicy", "Hopper-v5", n_steps=256, batch_size=64, n_epochs=2, seed=0, normalize_observation=True
    )
    model.learn(512)
    model.save(tmp_path / "hopper")
    obs, _ = gym.make("Hopper-v5").reset(seed=0)
    action, _ = BPO.load(tmp_path / "hopper.zip").predict(obs, deterministic=True)
    assert action.shape == (3,) and np.all(np.abs(action) <= 1.0)
