"""Group-relative agents (GRPO, RLOO, GBPO, OPRL): the identities of issue 16, can-it-learn tests
on an outcome-only task, and the usual surface (config = constructor, save/load)."""

from __future__ import annotations

import dataclasses
import inspect

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlsuite  # noqa: F401
from rlsuite.agents import GBPO, GRPO, OPRL, RLOO
from rlsuite.agents.common.groups import group_advantages
from rlsuite.agents.gbpo import gbpo_target_ratios
from rlsuite.agents.oprl import dpo_loss, preference_pairs, trajectory_log_ratios

AGENTS = [GRPO, RLOO, GBPO, OPRL]


class Combination(gym.Env):
    """Outcome-only: enter the 4-digit combination 1, 0, 1, 1 (one digit per step, observation =
    one-hot of the step). A wrong digit ends the episode with reward 0, the right four with 1:
    a random policy succeeds 1 time in 16."""

    CODE = (1, 0, 1, 1)
    observation_space = gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        obs = np.zeros(4, np.float32)
        obs[min(self.t, 3)] = 1.0
        return obs

    def step(self, action):
        if int(action) != self.CODE[self.t]:
            return self._obs(), 0.0, True, False, {"success": False}
        self.t += 1
        done = self.t == 4
        return self._obs(), float(done), done, False, {"success": done}


def _vec(n):
    return gym.vector.SyncVectorEnv([Combination for _ in range(n)])


# ---------------------------------------------------------------- identities
def test_outcome_advantage_identities():
    rng = np.random.default_rng(0)
    returns = rng.normal(size=24)
    rloo = group_advantages(returns, 6, "rloo").reshape(4, 6)
    np.testing.assert_allclose(rloo.sum(dim=1).numpy(), 0.0, atol=1e-12)  # RLOO sums to 0 per group
    equal = np.repeat([3.0, -1.0], 4)
    for method in ("grpo", "rloo", "drgrpo"):
        assert torch.all(group_advantages(equal, 4, method) == 0), method


def test_gbpo_target_ratio_bounds_and_hard_limit():
    rng = np.random.default_rng(1)
    returns = rng.integers(0, 4, size=40).astype(float)  # ties with the median happen
    eps = 0.3
    for tau in (10.0, 1.0, 1e-2):
        rho = gbpo_target_ratios(returns, 8, eps, tau).numpy()
        assert ((rho >= 1 - eps) & (rho <= 1 + eps)).all()
    s = returns.reshape(5, 8)
    med = np.sort(s, axis=1)[:, 3:4]  # lower middle of 8 (torch.median)
    hard = 1 - eps + 2 * eps * np.where(s > med, 1.0, np.where(s < med, 0.0, 0.5))
    np.testing.assert_allclose(gbpo_target_ratios(returns, 8, eps, 1e-9).numpy(), hard.reshape(-1), atol=1e-9)
    # A group of one: mean 0, std 1, median 0 (verl's convention).
    np.testing.assert_allclose(gbpo_target_ratios([2.0, -2.0], 1, eps, 1e-9).numpy(), [1 + eps, 1 - eps])


def test_preference_pairs_and_dpo_loss_by_hand():
    win, lose = preference_pairs(np.array([1.0, 0.0, 1.0, 5.0, 5.0, 2.0]), 3)
    assert sorted(zip(win.tolist(), lose.tolist(), strict=True)) == [(0, 1), (2, 1), (3, 5), (4, 5)]
    h = torch.tensor([0.5, -0.5, 0.0])
    # pairs (0,1): log sigmoid(0.1 * 1.0); (2,1): log sigmoid(0.1 * 0.5)
    expected = -(np.log(1 / (1 + np.exp(-0.1))) + np.log(1 / (1 + np.exp(-0.05)))) / 2
    assert float(dpo_loss(h, torch.tensor([0, 2]), torch.tensor([1, 1]), 0.1)) == pytest.approx(expected)
    steps = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert trajectory_log_ratios(steps, torch.tensor([0, 0, 2, 2]), 3).tolist() == [3.0, 0.0, 7.0]


def _oprl(**kw):
    torch.set_num_threads(1)
    return OPRL("MlpPolicy", _vec(8), n_groups=2, group_size=4, seed=0, **kw)


def test_oprl_step_rewards_vanish_when_the_prm_is_the_old_policy():
    model = _oprl()
    episodes = model.collect()
    model.reset_prm()  # pi_phi = pi_old
    torch.testing.assert_close(model.step_rewards(episodes), torch.zeros(int(episodes.lengths.sum())))


def test_oprl_step_rewards_sum_to_the_dpo_trajectory_reward():
    """After a PRM update, each episode's step rewards add up to beta * log(pi_phi(tau) / pi_old(tau)),
    with both trajectory probabilities recomputed here one observation at a time."""
    model = _oprl(beta=0.5, prm_learning_rate=0.05, prm_epochs=3)
    episodes = model.collect()
    model.reset_prm()
    while not len(preference_pairs(episodes.returns, 4)[0]):
        episodes = model.collect()
    model.train_prm(episodes)
    rewards = model.step_rewards(episodes)
    obs, actions = episodes.steps["obs"], episodes.steps["actions"]
    for e in range(episodes.n_episodes):
        log_phi = log_old = 0.0
        for t in np.nonzero(episodes.episode_of_step == e)[0]:
            x = torch.as_tensor(obs[t : t + 1])
            a = int(actions[t])
            with torch.no_grad():
                p_phi = torch.softmax(model.prm.action_head.net(model.prm.pi_net(x)), -1)[0, a]
                p_old = torch.softmax(model.policy.action_head.net(model.policy.pi_net(x)), -1)[0, a]
            log_phi += float(torch.log(p_phi))
            log_old += float(torch.log(p_old))
        step_sum = float(rewards[torch.as_tensor(episodes.episode_of_step == e)].sum())
        assert step_sum == pytest.approx(0.5 * (log_phi - log_old), abs=1e-5)
    assert any(abs(float(r)) > 1e-4 for r in rewards)  # the PRM did move


# ---------------------------------------------------------------- learning
@pytest.mark.parametrize("cls", AGENTS)
def test_group_agents_learn_an_outcome_only_task(cls):
    """From 1/16 to (nearly) always entering the right code, from the final outcome alone."""
    torch.set_num_threads(1)
    model = cls(
        "MlpPolicy", _vec(32), n_groups=4, group_size=8, learning_rate=3e-3, n_epochs=4, batch_size=64, seed=0
    )
    model.learn(6000)
    obs = np.eye(4, dtype=np.float32)
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.tolist() == list(Combination.CODE)
    if cls is not OPRL:  # OPRL's standardised step advantage keeps its sampling policy exploring
        assert model.ep_success_buffer and np.mean(list(model.ep_success_buffer)[-32:]) > 0.7


def test_kl_reference_is_the_policy_at_the_first_learn():
    torch.set_num_threads(1)
    model = GRPO("MlpPolicy", _vec(8), n_groups=2, group_size=4, kl_coef=0.1, learning_rate=1e-2, seed=0)
    assert model.reference is None
    model.learn(50)
    ref = model.reference
    assert ref is not None and not any(p.requires_grad for p in ref.parameters())
    episodes = model.collect()
    data = model._step_tensors(episodes, model.compute_advantages(episodes))
    from rlsuite.agents.common.group_algorithm import _take_batch

    batch = _take_batch(data, torch.arange(len(data["old_log_prob"])))
    out = model.policy.evaluate_actions(batch.observations, batch.actions, batch.action_masks)
    kl = model.kl_to_reference(batch, out)
    assert (kl >= 0).all() and float(kl.detach().mean()) > 0  # the policy moved away from the reference


# ---------------------------------------------------------------- surface
@pytest.mark.parametrize("cls", AGENTS)
def test_constructor_is_the_config(cls):
    params = dict(inspect.signature(cls.__init__).parameters)
    for skip in ("self", "policy", "env", "_init_setup_model"):
        params.pop(skip)
    fields = {f.name: f.default for f in dataclasses.fields(cls.config_class)}
    assert {k: p.default for k, p in params.items()} == fields


@pytest.mark.parametrize("cls", AGENTS)
def test_save_load_round_trip(cls, tmp_path):
    torch.set_num_threads(1)
    model = cls("MlpPolicy", _vec(8), n_groups=2, group_size=4, n_epochs=2, first_instance=7, seed=3)
    model.learn(40)
    model.save(tmp_path / "m.zip")
    back = cls.load(tmp_path / "m.zip", env=_vec(8))
    assert back.config == model.config and back.num_timesteps == model.num_timesteps
    obs = np.eye(4, dtype=np.float32)
    np.testing.assert_array_equal(
        back.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    back.learn(40, reset_num_timesteps=False)  # continues with unplayed instances
    assert back._iteration > model._iteration


def test_clear_errors():
    with pytest.raises(ValueError, match=r"env: 4 copies; n_groups \* group_size = 8"):
        GRPO("MlpPolicy", _vec(4), n_groups=2, group_size=4)
    with pytest.raises(ValueError, match="advantage"):
        GRPO("MlpPolicy", _vec(8), n_groups=2, group_size=4, advantage="ppo")
    with pytest.raises(ValueError, match="temperature"):
        GBPO("MlpPolicy", _vec(8), n_groups=2, group_size=4, temperature=0.0)


def test_behaviour_cloning_warm_starts_a_group_agent():
    """SFT then RL, as the benchmark does: behavior_cloning works on a group agent's policy."""
    from rlsuite.agents import behavior_cloning

    torch.set_num_threads(1)
    model = RLOO("MlpPolicy", _vec(8), n_groups=2, group_size=4, seed=0)
    demos = {
        "observations": np.eye(4, dtype=np.float32).repeat(8, axis=0),
        "actions": np.repeat(Combination.CODE, 8),
    }
    behavior_cloning(model, demos, epochs=60, batch_size=8, learning_rate=1e-2, seed=0)
    assert model.predict(np.eye(4, dtype=np.float32), deterministic=True)[0].tolist() == list(
        Combination.CODE
    )
