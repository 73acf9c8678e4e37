"""Proximal Policy Optimization (Schulman et al. 2017) on the shared on-policy core.

The loss is the only thing this file adds (:func:`ppo_loss`, also PDPPO's policy and state-value
loss); the implementation details of the reference implementations (Huang et al. 2022, "The 37
implementation details of PPO") are marked where they happen, here or in ``agents/common``:
orthogonal init (policies), Adam eps 1e-5 (optim), GAE with truncation bootstrap (buffers,
rollout), per-minibatch advantage normalization, clipped surrogate, optional value clipping,
entropy bonus, global grad-norm clip and target-KL early stop (base), learning-rate annealing via
``learning_rate=linear_schedule(3e-4)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor

from .common.base import OnPolicyAlgorithm
from .common.buffers import RolloutBatch
from .common.config import OnPolicyConfig, config_from_arguments
from .common.policies import ActorCriticPolicy, PolicyOutput
from .common.schedules import Schedule, check_schedule, make_schedule


@dataclass(frozen=True)
class PPOConfig(OnPolicyConfig):
    """PPO's hyperparameters: the shared ones and the clip ranges."""

    clip_range: float | Schedule = 0.2
    """eps of the clipped surrogate (> 0 at the start; a schedule may anneal it to 0)."""
    clip_range_vf: float | Schedule | None = None
    """Clip of the value prediction around the rollout's (None: no value clipping)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("clip_range", check_schedule(self.clip_range, "clip_range"))
        if self.clip_range_vf is not None:
            self._set("clip_range_vf", check_schedule(self.clip_range_vf, "clip_range_vf"))


def ppo_schedules(config: PPOConfig) -> tuple[Schedule, Schedule | None]:
    """``(clip_range, clip_range_vf)`` of ``config`` as checked schedules (``clip_range_vf`` may be None)."""
    vf = config.clip_range_vf
    return make_schedule(config.clip_range, "clip_range"), None if vf is None else make_schedule(
        vf, "clip_range_vf"
    )


def ppo_loss(
    batch: RolloutBatch,
    out: PolicyOutput,
    clip_range: float,
    clip_range_vf: float | None,
    normalize_advantage: bool,
    vf_coef: float,
    ent_coef: float,
) -> tuple[Tensor, dict[str, float]]:
    """PPO's loss on one minibatch, ``(loss, stats)``: clipped surrogate + ``vf_coef`` * value
    loss - ``ent_coef`` * entropy, with ``batch.advantages`` and ``batch.returns`` as targets."""
    eps = clip_range
    adv = batch.advantages
    if normalize_advantage and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)  # detail 7: per-minibatch normalization
    ratio = torch.exp(out.log_prob - batch.old_log_prob)
    # Clipped surrogate (Schulman et al. 2017, eq. 7).
    pg_loss = -torch.min(adv * ratio, adv * torch.clamp(ratio, 1 - eps, 1 + eps)).mean()
    values = out.values
    if clip_range_vf is not None:  # detail 9: value clipping around the old prediction
        c = clip_range_vf
        values = batch.old_values + torch.clamp(out.values - batch.old_values, -c, c)
        v_loss = torch.max((batch.returns - out.values) ** 2, (batch.returns - values) ** 2).mean()
    else:
        v_loss = ((batch.returns - values) ** 2).mean()
    entropy = out.entropy.mean()
    loss = pg_loss + vf_coef * v_loss - ent_coef * entropy
    with torch.no_grad():
        clip_fraction = float(((ratio - 1).abs() > eps).float().mean())
    return loss, {
        "policy_gradient_loss": float(pg_loss.detach()),
        "value_loss": float(v_loss.detach()),
        "entropy_loss": -float(entropy.detach()),
        "clip_fraction": clip_fraction,
        "clip_range": eps,
    }


class PPO(OnPolicyAlgorithm):
    """PPO with Stable-Baselines3's constructor (names, order and defaults) plus ``n_envs``
    (copies made from an id), ``normalize_observation`` / ``normalize_reward`` (running
    statistics, saved with the model), their clip values and ``check_finite``. Each parameter is
    documented on :class:`PPOConfig` (``model.config``)."""

    config_class: ClassVar[type[OnPolicyConfig]] = PPOConfig
    config: PPOConfig

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: gym.Env | gym.vector.VectorEnv | str | None,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        n_envs: int = 1,
        normalize_observation: bool = False,
        normalize_reward: bool = False,
        clip_obs: float = 10.0,
        clip_reward: float = 10.0,
        check_finite: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        config = config_from_arguments(PPOConfig, locals())
        self.clip_range, self.clip_range_vf = ppo_schedules(config)
        super().__init__(policy, env, config, _init_setup_model)

    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        progress = self._progress_remaining()
        vf = None if self.clip_range_vf is None else self.clip_range_vf(progress)
        eps = self.clip_range(progress)
        return ppo_loss(batch, out, eps, vf, cfg.normalize_advantage, cfg.vf_coef, cfg.ent_coef)
