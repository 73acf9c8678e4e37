"""OPRL: Online Process Reward Learning (Liu et al. 2025, arXiv 2509.19199) on the group-relative core.

Each iteration, after the groups are played with ``pi_old`` (the policy that collected them):

1. **Pairs**: within each group, every (higher return, lower return) pair of episodes (ties skipped).
2. **Implicit PRM** ``pi_phi`` (a policy-shaped copy of the policy, made when ``learn`` first runs,
   e.g. after supervised fine-tuning) is trained with the trajectory-level DPO loss against the
   frozen old policy, ``prm_epochs`` full-batch steps:

       J(phi) = -mean_pairs log sigmoid(beta [log pi_phi(tau+)/pi_old(tau+) - log pi_phi(tau-)/pi_old(tau-)])

   with ``log pi(tau) = sum_t log pi(a_t | s_t)`` over the episode's actions.
3. **Step rewards** ``r_t = beta (log pi_phi(a_t|s_t) - log pi_old(a_t|s_t))``; they sum over an
   episode to the DPO implicit trajectory reward, are 0 when ``pi_phi = pi_old``, and act as
   potential-based shaping of the outcome (the paper's theorem).
4. **Advantages** ``A_t = A^E(tau) + alpha A^S_t``: ``A^E`` the group outcome advantage of the
   step's episode (``advantage``: GRPO by default, or RLOO / Dr.GRPO), ``A^S_t = (r_t - mean r) /
   std r`` over the iteration's steps.
5. The policy takes GRPO's clipped-surrogate update with these advantages.

Logged: ``train/prm_pair_accuracy`` (pairs the PRM ranks correctly before its update: a prediction
on fresh episodes), ``train/prm_loss``, ``train/prm_pairs``, ``train/step_reward_std``. The paper
does not publish beta and alpha; the defaults here (0.1, 0.5) are ours. The PRM is not saved with
the model: after ``load`` it is made again from the loaded policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rlsuite.validation import check_int, check_real

from .common.config import config_from_arguments
from .common.group_algorithm import GroupAlgorithm, GroupBatch, GroupConfig, frozen_copy
from .common.groups import GroupedEpisodes
from .common.observations import obs_to_tensor, split_masks
from .common.optim import make_adam
from .common.policies import PolicyOutput
from .common.schedules import Schedule
from .grpo import clipped_group_loss


def preference_pairs(returns: np.ndarray, group_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(winners, losers)``: episode indices of every pair within a group (episodes laid out group
    after group) whose returns differ, the higher-return episode first."""
    r = np.asarray(returns, dtype=np.float64).reshape(-1, group_size)
    win, lose = [], []
    for g, row in enumerate(r):
        i, j = np.nonzero(row[:, None] > row[None, :])
        win.append(g * group_size + i)
        lose.append(g * group_size + j)
    return np.concatenate(win), np.concatenate(lose)


def trajectory_log_ratios(step_log_ratio: Tensor, episode_of_step: Tensor, n_episodes: int) -> Tensor:
    """``sum_t [log pi_phi(a_t|s_t) - log pi_old(a_t|s_t)]`` of each episode, ``[n_episodes]``."""
    out = torch.zeros(n_episodes, dtype=step_log_ratio.dtype, device=step_log_ratio.device)
    return out.index_add(0, episode_of_step, step_log_ratio)


def dpo_loss(traj_log_ratio: Tensor, winners: Tensor, losers: Tensor, beta: float) -> Tensor:
    """The trajectory-level DPO loss ``-mean log sigmoid(beta (h(tau+) - h(tau-)))``."""
    return -F.logsigmoid(beta * (traj_log_ratio[winners] - traj_log_ratio[losers])).mean()


@dataclass(frozen=True)
class OPRLConfig(GroupConfig):
    """OPRL's hyperparameters: the shared ones and the implicit PRM's."""

    beta: float = 0.1
    """DPO temperature and scale of the step rewards beta log(pi_phi / pi_old), > 0."""
    alpha: float = 0.5
    """Weight of the standardised step advantage A^S in A = A^E + alpha A^S, >= 0."""
    prm_learning_rate: float = 1e-4
    """Adam's step size for the PRM."""
    prm_epochs: int = 1
    """Full-batch PRM updates per iteration."""

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = object.__setattr__
        set_(self, "beta", check_real("beta", self.beta, low=0.0, low_open=True))
        set_(self, "alpha", check_real("alpha", self.alpha, low=0.0))
        set_(self, "prm_learning_rate", check_real("prm_learning_rate", self.prm_learning_rate, low=0.0))
        set_(self, "prm_epochs", check_int("prm_epochs", self.prm_epochs, 1))


class OPRL(GroupAlgorithm):
    """OPRL: an implicit process reward model learned from outcome-ranked pairs, turned into step
    advantages (module docstring). Each parameter is documented on :class:`OPRLConfig`."""

    config_class: ClassVar[type[GroupConfig]] = OPRLConfig
    config: OPRLConfig

    def __init__(
        self,
        policy: str | type[nn.Module],
        env: gym.vector.VectorEnv | str | None,
        learning_rate: float | Schedule = 1e-4,
        n_groups: int = 8,
        group_size: int = 8,
        max_episode_steps: int = 200,
        n_epochs: int = 4,
        batch_size: int = 256,
        advantage: str = "grpo",
        step_weighting: str = "episode",
        clip_range: float = 0.2,
        kl_coef: float = 0.0,
        ent_coef: float = 0.0,
        max_grad_norm: float = 0.5,
        first_instance: int = 0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        beta: float = 0.1,
        alpha: float = 0.5,
        prm_learning_rate: float = 1e-4,
        prm_epochs: int = 1,
        _init_setup_model: bool = True,
    ) -> None:
        self.prm: Any = None
        super().__init__(policy, env, config_from_arguments(OPRLConfig, locals()), _init_setup_model)

    def on_learn_start(self) -> None:
        super().on_learn_start()
        if self.prm is None:
            self.reset_prm()

    def reset_prm(self) -> None:
        """Make the implicit PRM a trainable copy of the current policy (``learn`` does it the first
        time it runs)."""
        self.prm = frozen_copy(self.policy).train()
        for p in self.prm.parameters():
            p.requires_grad_(True)
        self.prm_optimizer = make_adam(self.prm, self.config.prm_learning_rate)

    def step_log_ratios(self, episodes: GroupedEpisodes, grad: bool = False) -> Tensor:
        """``log pi_phi(a_t|s_t) - log pi_old(a_t|s_t)`` of every recorded step."""
        assert self.prm is not None
        obs, masks = split_masks(obs_to_tensor(episodes.steps["obs"], self.device))
        actions = self.policy.action_head.from_env(
            torch.as_tensor(episodes.steps["actions"], device=self.device)
        )
        with torch.set_grad_enabled(grad):
            log_phi = self.prm.evaluate_actions(obs, actions, masks).log_prob
        return log_phi - episodes.steps["log_prob"].to(self.device)

    def step_rewards(self, episodes: GroupedEpisodes) -> Tensor:
        """The implicit step rewards ``beta log(pi_phi / pi_old)`` of every recorded step."""
        return self.config.beta * self.step_log_ratios(episodes).detach()

    def train_prm(self, episodes: GroupedEpisodes) -> dict[str, float]:
        """The PRM's DPO updates on this iteration's pairs; returns its statistics."""
        assert self.prm is not None
        cfg = self.config
        win, lose = preference_pairs(episodes.returns, cfg.group_size)
        stats = {"prm_pairs": float(len(win))}
        if not len(win):
            return stats
        episode = torch.as_tensor(episodes.episode_of_step, device=self.device)
        w, ls = torch.as_tensor(win, device=self.device), torch.as_tensor(lose, device=self.device)
        for epoch in range(cfg.prm_epochs):
            log_ratio = self.step_log_ratios(episodes, grad=True)
            traj = trajectory_log_ratios(log_ratio, episode, episodes.n_episodes)
            if epoch == 0:
                stats["prm_pair_accuracy"] = float((traj[w] > traj[ls]).float().mean())
            loss = dpo_loss(traj, w, ls, cfg.beta)
            self.prm_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.prm_optimizer.step()
            stats["prm_loss"] = float(loss.detach())
        return stats

    def compute_advantages(self, episodes: GroupedEpisodes) -> dict[str, Tensor]:
        stats = self.train_prm(episodes)
        r = self.step_rewards(episodes).float()
        std = float(r.std()) if r.numel() > 1 else 0.0
        # Standardised over the iteration's steps; rewards that do not vary (pi_phi = pi_old up to
        # rounding) give no step advantage rather than amplified rounding noise.
        step_adv = (r - r.mean()) / std if std > 1e-6 else torch.zeros_like(r)
        outcome = episodes.step_advantages(self.config.advantage).to(self.device, torch.float32)
        stats["step_reward_std"] = std
        for k, v in stats.items():
            self.logger.record(f"train/{k}", v)
        return {"advantages": outcome + self.config.alpha * step_adv, "step_rewards": r}

    def compute_loss(self, batch: GroupBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        kl = self.kl_to_reference(batch, out)
        return clipped_group_loss(batch, out, batch.advantages, cfg.clip_range, kl, cfg.kl_coef, cfg.ent_coef)
