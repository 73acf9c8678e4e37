"""Proximal Policy Optimization (Schulman et al. 2017) on the shared on-policy core.

The loss is the only thing this file adds; the implementation details of the reference
implementations (Huang et al. 2022, "The 37 implementation details of PPO") are marked where
they happen, here or in ``agents/common``: orthogonal init and Adam eps 1e-5 (policies, base),
GAE with truncation bootstrap (buffers, base), per-minibatch advantage normalization, clipped
surrogate, optional value clipping, entropy bonus, global grad-norm clip, target-KL early stop
(base), learning-rate annealing via ``learning_rate=linear_schedule(3e-4)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .common.base import OnPolicyAlgorithm, _schedule
from .common.buffers import RolloutBatch
from .common.policies import PolicyOutput


class PPO(OnPolicyAlgorithm):
    """PPO with Stable-Baselines3's constructor (names and defaults):

    ``PPO(policy, env, learning_rate=3e-4, n_steps=2048, batch_size=64, n_epochs=10, gamma=0.99,
    gae_lambda=0.95, clip_range=0.2, clip_range_vf=None, normalize_advantage=True, ent_coef=0.0,
    vf_coef=0.5, max_grad_norm=0.5, target_kl=None, stats_window_size=100, tensorboard_log=None,
    policy_kwargs=None, verbose=0, seed=None, device="auto")`` plus ``n_envs`` (copies made from
    an id), ``normalize_observation`` / ``normalize_reward`` (running statistics, saved with the
    model) and their clip values.
    """

    algo_defaults: ClassVar[dict[str, Any]] = {"clip_range": 0.2, "clip_range_vf": None}

    def _check_algo_kwargs(self) -> None:
        # Clip ranges are > 0 at the start; a schedule may anneal them to 0.
        self.clip_range = _schedule(self.algo_kwargs["clip_range"], "clip_range")
        vf = self.algo_kwargs["clip_range_vf"]
        self.clip_range_vf = None if vf is None else _schedule(vf, "clip_range_vf")

    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        progress = self._progress_remaining()
        eps = self.clip_range(progress)
        adv = batch.advantages
        if self.normalize_advantage and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)  # detail 7: per-minibatch normalization
        ratio = torch.exp(out.log_prob - batch.old_log_prob)
        # Clipped surrogate (Schulman et al. 2017, eq. 7).
        pg_loss = -torch.min(adv * ratio, adv * torch.clamp(ratio, 1 - eps, 1 + eps)).mean()
        values = out.values
        if self.clip_range_vf is not None:  # detail 9: value clipping around the old prediction
            c = self.clip_range_vf(progress)
            values = batch.old_values + torch.clamp(out.values - batch.old_values, -c, c)
            v_loss = torch.max((batch.returns - out.values) ** 2, (batch.returns - values) ** 2).mean()
        else:
            v_loss = ((batch.returns - values) ** 2).mean()
        entropy = out.entropy.mean()
        loss = pg_loss + self.vf_coef * v_loss - self.ent_coef * entropy
        with torch.no_grad():
            clip_fraction = float(((ratio - 1).abs() > eps).float().mean())
        return loss, {
            "policy_gradient_loss": float(pg_loss.detach()),
            "value_loss": float(v_loss.detach()),
            "entropy_loss": -float(entropy.detach()),
            "clip_fraction": clip_fraction,
            "clip_range": eps,
        }
