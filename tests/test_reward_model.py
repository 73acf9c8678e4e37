"""The Bradley-Terry reward model of PbRL + IQL: its loss by hand, rankings learned from a scripted
teacher on held-out segment pairs, relabelling, and IQL on the relabelled data."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlsuite  # noqa: F401  (registers the envs)
from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.agents.offline import IQL, bradley_terry_loss, relabel_rewards, train_reward_model
from rlsuite.envs.datasets import label_segments, noisy_inventory_dataset
from rlsuite.evaluation import run_episodes

torch.set_num_threads(1)


def test_bradley_terry_loss_by_hand():
    first, second = torch.tensor([2.0, 2.0, 0.0]), torch.tensor([1.0, 1.0, 3.0])
    loss = bradley_terry_loss(first, second, torch.tensor([1.0, 0.5, 0.0]))
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    expected = [softplus(-1.0), 0.5 * softplus(-1.0) + 0.5 * softplus(1.0), softplus(-3.0)]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6)


@pytest.fixture(scope="module")
def inventory():
    return noisy_inventory_dataset("InvMgmt-v0", sigmas=(0.0, 0.5, 1.0), episodes_per_level=4, seed=0)


@pytest.fixture(scope="module")
def pendulum():
    """Random play on Pendulum-v1, whose reward is a function of (s, a) alone."""
    env = gym.make("Pendulum-v1", max_episode_steps=50)
    rng = np.random.default_rng(0)
    episodes = run_episodes(
        env, lambda obs: rng.uniform(-2, 2, size=1).astype(np.float32), list(range(40)), record=True
    )
    return TransitionDataset.from_episodes(episodes, env.observation_space, env.action_space)


def test_reward_model_ranks_held_out_segments_like_the_true_returns(pendulum):
    train = label_segments(pendulum, 600, 5, seed=0)
    model, history = train_reward_model(
        pendulum, train.starts, train.length, train.labels, epochs=20, hidden=(64, 64), seed=0
    )
    assert history["accuracy"][-1] > history["accuracy"][0]
    test = label_segments(pendulum, 400, 5, seed=123)  # pairs never trained on
    with torch.no_grad():
        rows = test.segment_rows()
        seg = model(
            torch.as_tensor(pendulum.observations[rows]), torch.as_tensor(pendulum.actions[rows])
        ).sum(-1)
    decided = test.labels != 0.5
    agree = ((seg[:, 0] > seg[:, 1]).numpy() == (test.returns[:, 0] > test.returns[:, 1]))[decided]
    assert agree.mean() > 0.9, agree.mean()


def test_relabel_keeps_everything_but_the_rewards_and_iql_trains_on_it(inventory):
    prefs = label_segments(inventory, 100, 5, seed=0)
    model, _ = train_reward_model(
        inventory, prefs.starts, prefs.length, prefs.labels, epochs=2, hidden=(16,), seed=1
    )
    relabelled = relabel_rewards(inventory, model)
    for name in ("observations", "actions", "next_observations", "terminations", "truncations"):
        np.testing.assert_array_equal(getattr(relabelled, name), getattr(inventory, name))
    with torch.no_grad():
        direct = model(
            torch.as_tensor(np.array(inventory.observations[:3])),
            torch.as_tensor(np.array(inventory.actions[:3])),
        )
    np.testing.assert_allclose(relabelled.rewards[:3], direct.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(relabelled.rewards, inventory.rewards)
    iql = IQL("MlpPolicy", relabelled, batch_size=64, seed=0).learn(20)
    assert iql.num_timesteps == 20


def test_reward_model_checks_its_inputs(inventory):
    prefs = label_segments(inventory, 10, 5, seed=0)
    with pytest.raises(ValueError, match="starts, labels"):
        train_reward_model(inventory, prefs.starts[:, :1], 5, prefs.labels)
    with pytest.raises(ValueError, match="outside the dataset"):
        train_reward_model(inventory, prefs.starts + len(inventory), 5, prefs.labels)
    with pytest.raises(ValueError, match="epochs"):
        train_reward_model(inventory, prefs.starts, 5, prefs.labels, epochs=0)
