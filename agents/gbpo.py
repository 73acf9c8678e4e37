"""GBPO (Ao et al. 2026, the group form of BPO) on the group-relative core.

For a group of episodes of the same instance with returns ``S_i``:

    A_i   = (S_i - mean_g S) / (std_g S + eps_std)                 GRPO advantage: weights the loss only
    t_i   = (S_i - median_g S) / (std_g S + eps_std) / tau          target signal (tau: GBPO_TEMPERATURE)
    rho*_i = 1 - eps + 2 eps sigmoid(t_i)                           target ratio, in [1 - eps, 1 + eps]
    L     = mean_t |rho_t - rho*_i| |A_i|  - ent_coef H + kl_coef KL_k3(pi || pi_ref)

(means weighted as in GRPO: each episode equally by default, ``step_weighting``)

with ``rho_t = exp(clamp(log pi(a_t|s_t) - log pi_old(a_t|s_t), -20, 20))`` and the mean over the
steps of a minibatch (turn level). ``tau -> 0`` gives the hard target ``1 + eps sign(S_i - median)``
(``rho* = 1`` at the median). A group of one episode has mean 0, std 1 and median 0 (verl's
convention); the median of an even group is its lower middle value (``torch.median``). Defaults
follow the paper's README: ``eps = 0.3``, ``tau = 1e-4``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from rlsuite.validation import check_int, check_real

from .common.config import config_from_arguments
from .common.group_algorithm import GroupAlgorithm, GroupBatch, GroupConfig
from .common.groups import GroupedEpisodes
from .common.policies import PolicyOutput
from .common.schedules import Schedule


def gbpo_target_ratios(
    returns: Tensor | np.ndarray,
    group_size: int,
    clip_range: float,
    temperature: float,
    eps_std: float = 1e-6,
) -> Tensor:
    """``rho*_i`` of every episode (returns laid out group after group; module docstring)."""
    group_size = check_int("group_size", group_size, 1)
    eps = check_real("clip_range", clip_range, 0.0, 1.0, low_open=True, high_open=True)
    tau = check_real("temperature", temperature, low=0.0, low_open=True)
    s = torch.as_tensor(returns, dtype=torch.float64).reshape(-1, group_size)
    if group_size == 1:
        med, std = torch.zeros_like(s), torch.ones_like(s)
    else:
        med = s.median(dim=1, keepdim=True).values
        std = s.std(dim=1, keepdim=True)
    t = (s - med) / (std + eps_std) / tau
    return (1 - eps + 2 * eps * torch.sigmoid(t)).reshape(-1)


@dataclass(frozen=True)
class GBPOConfig(GroupConfig):
    """GBPO's hyperparameters: the shared ones (eps 0.3) and the target's temperature."""

    clip_range: float = 0.3
    """eps: the target ratio lies in [1 - eps, 1 + eps], eps in (0, 1)."""
    temperature: float = 1e-4
    """tau of the target's sigmoid, > 0, in units of the group's standard deviation."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(
            self, "temperature", check_real("temperature", self.temperature, low=0.0, low_open=True)
        )


class GBPO(GroupAlgorithm):
    """GBPO: the bounded-ratio target per group instead of the clipped surrogate (module
    docstring). Each parameter is documented on :class:`GBPOConfig` (``model.config``)."""

    config_class: ClassVar[type[GroupConfig]] = GBPOConfig
    config: GBPOConfig

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
        clip_range: float = 0.3,
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
        temperature: float = 1e-4,
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, env, config_from_arguments(GBPOConfig, locals()), _init_setup_model)

    def compute_advantages(self, episodes: GroupedEpisodes) -> dict[str, Tensor]:
        cfg = self.config
        rho_star = gbpo_target_ratios(episodes.returns, cfg.group_size, cfg.clip_range, cfg.temperature)
        episode = torch.as_tensor(episodes.episode_of_step)
        return {"advantages": episodes.step_advantages(cfg.advantage), "target_ratio": rho_star[episode]}

    def compute_loss(self, batch: GroupBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        ratio = torch.exp(torch.clamp(out.log_prob - batch.old_log_prob, -20.0, 20.0))
        target = batch.extras["target_ratio"]
        w = batch.weights
        pg_loss = (w * (ratio - target).abs() * batch.advantages.abs()).mean()
        entropy = (w * out.entropy).mean()
        kl = (w * self.kl_to_reference(batch, out)).mean()
        loss = pg_loss + cfg.kl_coef * kl - cfg.ent_coef * entropy
        return loss, {
            "policy_gradient_loss": float(pg_loss.detach()),
            "entropy_loss": -float(entropy.detach()),
            "kl_to_reference": float(kl.detach()),
            "target_ratio_mean": float(target.mean()),
        }
