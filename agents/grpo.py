"""GRPO (Shao et al. 2024, DeepSeekMath) and RLOO (Ahmadian et al. 2024) on the group-relative core.

Both play ``group_size`` rollouts of each instance and train without a critic. GRPO's advantage is
the episode's return standardised within its group, ``A_i = (R_i - mean_g R) / (std_g R + eps)``;
RLOO's is the return minus the mean of the group's other returns; Dr.GRPO (``advantage="drgrpo"``)
drops GRPO's division by the standard deviation. Each step of an episode gets the episode's
advantage, and the policy minimises PPO's clipped surrogate over the steps

    L = -mean_t min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)
        + kl_coef * mean_t KL_k3(pi || pi_ref) - ent_coef * mean_t H_t

with ``rho_t = pi(a_t|s_t) / pi_old(a_t|s_t)``

(turn level: one action choice is one step, however many tokens a language-model policy spends on
it; the means weigh each episode equally by default, GRPO's ``1 / |o_i|``, or each step equally with
``step_weighting="step"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor, nn

from .common.config import config_from_arguments
from .common.group_algorithm import GroupAlgorithm, GroupBatch, GroupConfig
from .common.policies import PolicyOutput
from .common.schedules import Schedule


def clipped_group_loss(
    batch: GroupBatch,
    out: PolicyOutput,
    advantages: Tensor,
    clip_range: float,
    kl: Tensor,
    kl_coef: float,
    ent_coef: float,
) -> tuple[Tensor, dict[str, float]]:
    """The clipped surrogate on per-step ``advantages`` plus the KL and entropy terms (module
    docstring), each a ``batch.weights``-weighted mean over the steps; shared by GRPO, RLOO and OPRL."""
    eps, w = clip_range, batch.weights
    ratio = torch.exp(out.log_prob - batch.old_log_prob)
    pg_loss = -(w * torch.min(advantages * ratio, advantages * torch.clamp(ratio, 1 - eps, 1 + eps))).mean()
    entropy = (w * out.entropy).mean()
    kl_mean = (w * kl).mean()
    loss = pg_loss + kl_coef * kl_mean - ent_coef * entropy
    with torch.no_grad():
        clip_fraction = float(((ratio - 1).abs() > eps).float().mean())
    return loss, {
        "policy_gradient_loss": float(pg_loss.detach()),
        "entropy_loss": -float(entropy.detach()),
        "kl_to_reference": float(kl_mean.detach()),
        "clip_fraction": clip_fraction,
    }


@dataclass(frozen=True)
class GRPOConfig(GroupConfig):
    """GRPO's hyperparameters (the shared group-relative ones)."""


@dataclass(frozen=True)
class RLOOConfig(GroupConfig):
    """RLOO's hyperparameters: the shared ones with the leave-one-out advantage."""

    advantage: str = "rloo"
    """Outcome advantage: 'rloo' (leave-one-out; default), 'grpo' or 'drgrpo'."""


class GRPO(GroupAlgorithm):
    """GRPO: group-standardised outcome advantages and the clipped surrogate (module docstring).
    Each parameter is documented on :class:`GRPOConfig` (``model.config``).

    >>> model = GRPO("TextPolicy", "Sokoban-v0", n_groups=8, group_size=8, seed=0).learn(50_000)
    """

    config_class: ClassVar[type[GroupConfig]] = GRPOConfig

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
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, env, config_from_arguments(GRPOConfig, locals()), _init_setup_model)

    def compute_loss(self, batch: GroupBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        kl = self.kl_to_reference(batch, out)
        return clipped_group_loss(batch, out, batch.advantages, cfg.clip_range, kl, cfg.kl_coef, cfg.ent_coef)


class RLOO(GroupAlgorithm):
    """RLOO: leave-one-out outcome advantages and the clipped surrogate (module docstring).
    Each parameter is documented on :class:`RLOOConfig` (``model.config``)."""

    config_class: ClassVar[type[GroupConfig]] = RLOOConfig

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
        advantage: str = "rloo",
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
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, env, config_from_arguments(RLOOConfig, locals()), _init_setup_model)

    def compute_loss(self, batch: GroupBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        kl = self.kl_to_reference(batch, out)
        return clipped_group_loss(batch, out, batch.advantages, cfg.clip_range, kl, cfg.kl_coef, cfg.ent_coef)
