"""The seams for the algorithm families to come (issue 15): each carries real data end to end."""

from __future__ import annotations

import math
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlsuite  # noqa: F401  (registers the ids)
from rlsuite.agents.common.groups import collect_grouped_episodes, group_advantages


# ---------------------------------------------------------------- grouped episodes
def test_group_advantages_hand_computed():
    returns = [1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0, 5.0]
    # Group 0: mean 0.5, unbiased std sqrt(4 * 0.25 / 3) = 0.577350; GRPO: +-0.5 / 0.577350 = +-0.866025.
    # Group 1: mean 2.75, std sqrt((3 * 0.5625 + 5.0625) / 3) = 1.5; GRPO: -0.5, -0.5, -0.5, 1.5.
    grpo = group_advantages(returns, 4, "grpo", eps=0.0)
    expected = [0.866025, -0.866025, -0.866025, 0.866025, -0.5, -0.5, -0.5, 1.5]
    np.testing.assert_allclose(grpo.numpy(), expected, atol=1e-6)
    # RLOO: R_i minus the mean of the other three: 1 - 1/3, 0 - 2/3, ...; 2 - 3, 5 - 2.
    rloo = group_advantages(returns, 4, "rloo")
    np.testing.assert_allclose(rloo.numpy(), [2 / 3, -2 / 3, -2 / 3, 2 / 3, -1, -1, -1, 3], atol=1e-12)
    drgrpo = group_advantages(returns, 4, "drgrpo")
    np.testing.assert_allclose(drgrpo.numpy(), [0.5, -0.5, -0.5, 0.5, -0.75, -0.75, -0.75, 2.25])
    # A group of one: mean 0, std 1 (the verl convention).
    np.testing.assert_allclose(group_advantages([3.0, -1.0], 1).numpy(), [3.0, -1.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"returns": [1.0, 2.0, 3.0], "group_size": 2}, "multiple of group_size=2"),
        ({"returns": [1.0, math.nan], "group_size": 2}, "NaN or inf"),
        ({"returns": [1.0, 2.0], "group_size": 2, "method": "ppo"}, "method"),
        ({"returns": [1.0, 2.0], "group_size": 0}, "group_size"),
    ],
)
def test_group_advantages_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        group_advantages(**kwargs)


def test_grouped_episodes_end_to_end_on_sokoban():
    """2 groups x 3 rollouts of Sokoban with a random policy: a group shares its level, each episode
    is recorded once up to its end, and the outcome advantage reaches every step."""
    torch.set_num_threads(1)
    envs = gym.make_vec("Sokoban-v0", num_envs=6, vectorization_mode="sync")
    gen = np.random.default_rng(0)

    def step_fn(obs, active):
        mask = obs["action_mask"].astype(bool)
        probs = mask / mask.sum(axis=1, keepdims=True)
        actions = np.array([gen.choice(4, p=p) for p in probs])
        return actions, {"log_prob": torch.as_tensor(np.log(probs[np.arange(6), actions]))}

    eps = collect_grouped_episodes(envs, step_fn, group_size=3, seed=10, max_steps=40)
    envs.close()
    assert eps.n_groups == 2 and list(eps.seeds) == [10, 10, 10, 11, 11, 11]
    first = eps.step_in_episode == 0
    grids = eps.steps["obs"]["grid"][first]
    assert (grids[0] == grids[1]).all() and (grids[0] == grids[2]).all()
    assert (grids[3] == grids[4]).all() and not (grids[0] == grids[3]).all()
    # Each episode's steps are recorded once, numbered 0..length-1, and sum to its return.
    for e in range(6):
        rows = eps.episode_of_step == e
        assert (
            rows.sum() == eps.lengths[e]
            and (np.sort(eps.step_in_episode[rows]) == np.arange(rows.sum())).all()
        )
        assert eps.steps["rewards"][rows].sum() == pytest.approx(eps.returns[e])
    assert eps.steps["log_prob"].shape == (eps.lengths.sum(),)
    assert (eps.lengths <= 40).all() and (eps.terminated == (eps.lengths < 40)).all()
    # The info of each episode's last step: "won" where the episode ended in the env, NaN where cut.
    ended = eps.lengths < 40
    assert np.isin(eps.final_infos["won"][ended], [0.0, 1.0]).all()
    assert np.isnan(eps.final_infos["won"][~ended]).all()
    step_adv = eps.step_advantages("rloo")
    adv = group_advantages(eps.returns, 3, "rloo")
    for e in range(6):
        assert torch.all(step_adv[torch.as_tensor(eps.episode_of_step == e)] == adv[e])


# ---------------------------------------------------------------- fixed datasets
def _two_episode_dataset(reward_dim: int | None = None):
    from rlsuite.agents.common.datasets import TransitionDataset

    obs = np.arange(10, dtype=np.float32).reshape(5, 2)
    rewards = np.array([1.0, 2.0, 3.0, 10.0, 20.0])
    if reward_dim is not None:
        rewards = np.stack([rewards, -rewards], axis=1)
    return TransitionDataset(
        observations=obs,
        actions=np.array([0, 1, 1, 0, 1]),
        rewards=rewards,
        next_observations=obs + 2,
        terminations=np.array([False, False, True, False, False]),
        truncations=np.array([False, False, False, False, True]),
    )


def test_dataset_episodes_returns_and_file_round_trip(tmp_path):
    from rlsuite.agents.common.datasets import TransitionDataset

    data = _two_episode_dataset()
    assert len(data) == 5 and data.reward_dim == 1
    assert [(s.start, s.stop) for s in data.episodes()] == [(0, 3), (3, 5)]
    np.testing.assert_array_equal(data.episode_returns(), [6.0, 30.0])
    mo = _two_episode_dataset(reward_dim=2)
    assert mo.reward_dim == 2
    np.testing.assert_array_equal(mo.episode_returns(), [[6.0, -6.0], [30.0, -30.0]])
    data.save(tmp_path / "d.npz")
    back = TransitionDataset.load(tmp_path / "d.npz")
    for name in ("observations", "actions", "rewards", "next_observations", "terminations", "truncations"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name))
    batch = data.sample(64, torch.Generator().manual_seed(0))
    # Each sampled row is a real row: next observation = observation + 2 in this dataset.
    assert torch.equal(batch.next_observations, batch.observations + 2)
    assert batch.actions.dtype == torch.int64 and batch.observations.dtype == torch.float32
    again = data.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(again.observations, batch.observations)


def test_dataset_refuses_bad_data(tmp_path):
    from rlsuite.agents.common.datasets import TransitionDataset

    good = {
        "observations": np.zeros((3, 2)),
        "actions": np.zeros(3, dtype=np.int64),
        "rewards": np.zeros(3),
        "next_observations": np.zeros((3, 2)),
        "terminations": np.array([False, False, True]),
        "truncations": np.zeros(3, dtype=bool),
    }
    with pytest.raises(ValueError, match=r"rewards: got shape \(2,\); must have 3 rows"):
        TransitionDataset(**{**good, "rewards": np.zeros(2)})
    with pytest.raises(ValueError, match="observations: row 1 is NaN or inf"):
        TransitionDataset(**{**good, "observations": np.array([[0, 0], [np.nan, 0], [0, 0]])})
    with pytest.raises(ValueError, match="last episode is not closed"):
        TransitionDataset(**{**good, "terminations": np.zeros(3, dtype=bool)})
    with pytest.raises(ValueError, match="dtype object"):
        TransitionDataset(**{**good, "actions": np.array([None, 1, 2], dtype=object)})
    # A file holding a pickled object array is refused without unpickling it.
    np.savez(
        tmp_path / "evil.npz",
        **{**good, "actions": np.array([None, 1, 2], dtype=object)},
        format_version=1,
        observation_space="",
        action_space="",
    )
    with pytest.raises(ValueError, match=r"Object arrays cannot be loaded|pickle"):
        TransitionDataset.load(tmp_path / "evil.npz")
    with pytest.raises(ValueError, match="not a dataset file"):
        (tmp_path / "x.npz").write_bytes(b"not a zip")
        TransitionDataset.load(tmp_path / "x.npz")


# ---------------------------------------------------------------- vector rewards and critics
class TwoObjectiveChain(gym.Env):
    """Three steps; action 0 pays (1, 0), action 1 pays (0, 2) (MO-Gymnasium's API: reward_space
    and vector rewards); terminates after the third step."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)
    reward_space = gym.spaces.Box(0.0, 2.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        reward = np.array([1.0, 0.0]) if int(action) == 0 else np.array([0.0, 2.0])
        return np.array([self.t / 3], np.float32), reward, self.t == 3, False, {}


class ScalarChain(TwoObjectiveChain):
    """The same chain with the objectives summed (no reward_space)."""

    reward_space = None

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, float(reward.sum()), terminated, truncated, info


def _scalarising_ppo(weights):
    from rlsuite.agents import PPO

    class ScalarisedPPO(PPO):
        """The multi-objective seam in use: the advantage hook (GAE per objective) scalarises."""

        seen: ClassVar[list] = []

        def compute_advantages(self, buffer, last_values):
            super().compute_advantages(buffer, last_values)
            self.seen.append(
                {
                    k: getattr(buffer, k).clone()
                    for k in ("rewards", "values", "returns", "advantages", "actions")
                }
            )
            buffer.advantages = buffer.advantages @ torch.as_tensor(weights, dtype=torch.float32)

    return ScalarisedPPO


def test_vector_rewards_reach_a_vector_critic_and_a_scalarised_advantage(tmp_path):
    torch.set_num_threads(1)
    algo = _scalarising_ppo([1.0, 0.0])
    model = algo("MlpPolicy", TwoObjectiveChain(), n_steps=6, batch_size=6, gamma=0.9, gae_lambda=1.0, seed=0)
    assert model.reward_dim == 2 and model.policy.value_head.out_features == 2
    model.learn(6)
    rollout = model.seen[0]
    assert rollout["rewards"].shape == (6, 1, 2) and rollout["values"].shape == (6, 1, 2)
    actions = rollout["actions"][:, 0, 0].tolist()
    paid = torch.tensor([[1.0, 0.0] if a == 0 else [0.0, 2.0] for a in actions])
    assert torch.equal(rollout["rewards"][:, 0], paid)
    # Two terminated 3-step episodes and lambda = 1: returns are the discounted sums, per objective.
    expected = torch.zeros(6, 2)
    for start in (0, 3):
        acc = torch.zeros(2)
        for t in range(start + 2, start - 1, -1):
            acc = paid[t] + 0.9 * acc
            expected[t] = acc
    torch.testing.assert_close(rollout["returns"][:, 0], expected)
    torch.testing.assert_close(rollout["advantages"], rollout["returns"] - rollout["values"])
    # Save/load keeps the vector critic; a scalar env no longer fits the model.
    model.save(tmp_path / "mo.zip")
    back = algo.load(tmp_path / "mo.zip", env=TwoObjectiveChain())
    assert back.reward_dim == 2 and back.policy.value_head.out_features == 2
    obs = torch.zeros(4, 1)
    torch.testing.assert_close(back.policy.predict_values(obs), model.policy.predict_values(obs))
    with pytest.raises(ValueError, match="rewards have 1 objective"):
        algo.load(tmp_path / "mo.zip", env=ScalarChain())


@pytest.mark.parametrize(("weights", "best"), [([1.0, 0.0], 0), ([0.0, 1.0], 1)])
def test_scalarised_ppo_learns_the_preferred_objective(weights, best):
    torch.set_num_threads(1)
    algo = _scalarising_ppo(weights)
    model = algo(
        "MlpPolicy", TwoObjectiveChain(), n_steps=48, batch_size=48, n_epochs=4, learning_rate=3e-3, seed=1
    )
    model.learn(2400)
    actions, _ = model.predict(np.array([[0.0], [1 / 3], [2 / 3]], np.float32), deterministic=True)
    assert actions.tolist() == [best] * 3


def test_vector_rewards_need_a_scalarising_advantage_hook():
    from rlsuite.agents import PPO

    model = PPO("MlpPolicy", TwoObjectiveChain(), n_steps=6, batch_size=6, seed=0)
    with pytest.raises(ValueError, match=r"reward_dim=2\) the advantage hook must scalarise"):
        model.learn(6)
    with pytest.raises(ValueError, match="normalize_reward: True is not supported for vector rewards"):
        PPO("MlpPolicy", TwoObjectiveChain(), normalize_reward=True)


# ---------------------------------------------------------------- learners without an env
def _cartpole_expert(obs):
    """Push toward the side the pole falls to (angle + angular velocity): balances 500 steps."""
    return int(obs[2] + 0.5 * obs[3] > 0)


def test_offline_learner_trains_from_a_recorded_dataset_alone(tmp_path):
    """Env -> recorded episodes -> dataset file -> a learner that never sees the env (behaviour
    cloning, written on the seam's one hook) -> saved model -> played on new seeds."""
    from dataclasses import dataclass

    from rlsuite.agents.common.config import config_from_arguments
    from rlsuite.agents.common.datasets import TransitionDataset
    from rlsuite.agents.common.offline import OfflineAlgorithm, OfflineConfig
    from rlsuite.evaluation import run_episodes

    torch.set_num_threads(1)
    env = gym.make("CartPole-v1")
    episodes = run_episodes(env, _cartpole_expert, seeds=range(4), record=True)
    assert all(ep.total_reward == 500 for ep in episodes)
    data = TransitionDataset.from_episodes(episodes, env.observation_space, env.action_space)
    assert len(data) == 2000 and data.truncations.sum() == 4 and not data.terminations.any()
    np.testing.assert_array_equal(
        data.next_observations[:-1][~data.truncations[:-1]], data.observations[1:][~data.truncations[:-1]]
    )
    data.save(tmp_path / "expert.npz")

    @dataclass(frozen=True)
    class BCConfig(OfflineConfig):
        """Behaviour cloning needs only the shared offline fields."""

    class BC(OfflineAlgorithm):
        config_class = BCConfig

        def __init__(
            self,
            policy,
            dataset,
            learning_rate=1e-3,
            batch_size=64,
            seed=None,
            device="auto",
            gamma=0.99,
            max_grad_norm=10.0,
            tensorboard_log=None,
            policy_kwargs=None,
            verbose=0,
            check_finite=True,
            _init_setup_model=True,
        ):
            super().__init__(policy, dataset, config_from_arguments(BCConfig, locals()), _init_setup_model)

        def compute_loss(self, batch):
            out = self.policy.evaluate_actions(
                batch.observations, batch.actions.reshape(len(batch.actions), -1)
            )
            loss = -out.log_prob.mean()
            return loss, {"nll": float(loss.detach())}

    model = BC("MlpPolicy", TransitionDataset.load(tmp_path / "expert.npz"), seed=0).learn(1500)
    model.save(tmp_path / "bc.zip")
    loaded = BC.load(tmp_path / "bc.zip")
    assert loaded.num_timesteps == 1500 and loaded.config.learning_rate == 1e-3
    returns = [ep.total_reward for ep in run_episodes(env, loaded, seeds=[100, 101, 102], deterministic=True)]
    assert min(returns) >= 400, returns
    with pytest.raises(ValueError, match="no observation_space"):
        BC("MlpPolicy", TransitionDataset.from_episodes(episodes))
