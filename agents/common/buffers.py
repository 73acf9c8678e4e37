"""Rollout storage and generalized advantage estimation (one implementation for every agent)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor


def compute_gae(
    rewards: Tensor, values: Tensor, dones: Tensor, last_values: Tensor, gamma: float, gae_lambda: float
) -> tuple[Tensor, Tensor]:
    """GAE(gamma, lambda) over a rollout ``[n_steps, n_envs]`` (or ``[n_steps, n_envs, k]`` for
    vector rewards and values: each objective independently; ``dones`` stays ``[n_steps, n_envs]``).

    ``dones[t]`` is 1 where the episode ended at step t (terminated *or* truncated): nothing is
    bootstrapped across it. A truncated step must already carry ``gamma * V(final_obs)`` in its
    reward (the collector adds it); a terminated step carries nothing. ``last_values`` is
    ``V(obs)`` after the last step, used unless that step ended an episode.
    Returns ``(advantages, returns)`` with ``returns = advantages + values``.
    """
    # A Python loop over numpy rows: far cheaper per step than torch ops on tiny tensors.
    r, v, d = (x.detach().cpu().double().numpy() for x in (rewards, values, dones))
    lv = last_values.detach().cpu().double().numpy()
    d = d.reshape(d.shape + (1,) * (r.ndim - d.ndim))  # one done flag for every objective
    n = r.shape[0]
    adv_np = np.zeros_like(r)
    last = np.zeros_like(lv)
    for t in range(n - 1, -1, -1):
        next_values = lv if t == n - 1 else v[t + 1]
        live = 1.0 - d[t]
        delta = r[t] + gamma * next_values * live - v[t]
        last = delta + gamma * gae_lambda * live * last
        adv_np[t] = last
    adv = torch.as_tensor(adv_np, dtype=rewards.dtype, device=rewards.device)
    return adv, adv + values


def explained_variance(predictions: Tensor, targets: Tensor) -> float:
    """``1 - Var(targets - predictions) / Var(targets)`` (NaN when the targets do not vary)."""
    var = float(targets.var()) if targets.numel() > 1 else 0.0
    return float("nan") if var == 0 else 1.0 - float((targets - predictions).var()) / var


class RolloutBatch(NamedTuple):
    observations: Any
    actions: Tensor
    old_values: Tensor
    old_log_prob: Tensor
    advantages: Tensor
    returns: Tensor
    action_masks: Tensor | None
    extras: dict[str, Tensor] | None = None
    """Per-sample tensors an algorithm added to :attr:`RolloutBuffer.extras` (e.g. PDPPO's
    post-decision observations and returns)."""


class RolloutBuffer:
    """Preallocated ``[n_steps, n_envs, ...]`` tensors for one rollout of a vector env.

    ``valid[t, i]`` is False for the reset step that follows an episode end under Gymnasium's
    ``NEXT_STEP`` autoreset (its action is ignored by the env): such steps are never trained on.
    """

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        obs_shapes: dict[str, tuple[int, ...]] | tuple[int, ...],
        obs_dtypes: dict[str, torch.dtype] | torch.dtype,
        action_dim: int,
        action_dtype: torch.dtype,
        mask_dim: int,
        device: torch.device,
        reward_dim: int = 1,
    ) -> None:
        self.n_steps, self.n_envs, self.device = n_steps, n_envs, device
        #: Objectives per reward: rewards, values and returns are ``[n_steps, n_envs, reward_dim]``
        #: when it exceeds 1 (advantages too, until the advantage hook scalarises them).
        self.reward_dim = reward_dim
        per_step = (n_steps, n_envs) if reward_dim == 1 else (n_steps, n_envs, reward_dim)
        z: dict[str, Any] = dict(device=device)
        if isinstance(obs_shapes, dict):
            assert isinstance(obs_dtypes, dict)
            self.obs: Any = {
                k: torch.zeros(n_steps, n_envs, *s, dtype=obs_dtypes[k], **z) for k, s in obs_shapes.items()
            }
        else:
            assert isinstance(obs_dtypes, torch.dtype)
            self.obs = torch.zeros(n_steps, n_envs, *obs_shapes, dtype=obs_dtypes, **z)
        self.actions = torch.zeros(n_steps, n_envs, action_dim, dtype=action_dtype, **z)
        self.rewards = torch.zeros(per_step, **z)
        self.values = torch.zeros(per_step, **z)
        self.log_probs = torch.zeros(n_steps, n_envs, **z)
        self.dones = torch.zeros(n_steps, n_envs, **z)
        self.valid = torch.ones(n_steps, n_envs, dtype=torch.bool, **z)
        self.masks = torch.ones(n_steps, n_envs, mask_dim, dtype=torch.bool, **z) if mask_dim else None
        self.advantages = torch.zeros(per_step, **z)
        self.returns = torch.zeros(per_step, **z)
        #: Extra ``[n_steps, n_envs, ...]`` tensors an algorithm stores; minibatched with the rest.
        self.extras: dict[str, Tensor] = {}
        self.pos = 0

    def add(
        self,
        obs: Any,
        actions: Tensor,
        values: Tensor,
        log_probs: Tensor,
        valid: Tensor,
        masks: Tensor | None,
    ) -> None:
        t = self.pos
        if isinstance(self.obs, dict):
            for k, v in obs.items():
                self.obs[k][t] = v
        else:
            self.obs[t] = obs
        self.actions[t] = actions
        self.values[t] = values
        self.log_probs[t] = log_probs
        self.valid[t] = valid
        if self.masks is not None and masks is not None:
            self.masks[t] = masks

    def finish_step(self, rewards: Tensor, dones: Tensor) -> None:
        self.rewards[self.pos] = rewards
        self.dones[self.pos] = dones
        self.pos += 1

    @property
    def full(self) -> bool:
        return self.pos == self.n_steps

    def compute_returns_and_advantage(self, last_values: Tensor, gamma: float, gae_lambda: float) -> None:
        self.advantages, self.returns = compute_gae(
            self.rewards, self.values, self.dones, last_values, gamma, gae_lambda
        )

    def minibatches(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[RolloutBatch]:
        """Shuffled minibatches of ``batch_size`` valid samples (the last one may be smaller)."""
        valid = self.valid.reshape(-1).nonzero().squeeze(1)
        order = valid[torch.randperm(valid.numel(), generator=generator, device="cpu").to(self.device)]

        def flat(x: Tensor) -> Tensor:
            return x.reshape(-1, *x.shape[2:])

        obs = {k: flat(v) for k, v in self.obs.items()} if isinstance(self.obs, dict) else flat(self.obs)
        actions, values, log_probs = flat(self.actions), flat(self.values), flat(self.log_probs)
        advantages, returns = flat(self.advantages), flat(self.returns)
        masks = flat(self.masks) if self.masks is not None else None
        extras = {k: flat(v) for k, v in self.extras.items()}
        for start in range(0, order.numel(), batch_size):
            idx = order[start : start + batch_size]
            yield RolloutBatch(
                {k: v[idx] for k, v in obs.items()} if isinstance(obs, dict) else obs[idx],
                actions[idx],
                values[idx],
                log_probs[idx],
                advantages[idx],
                returns[idx],
                masks[idx] if masks is not None else None,
                {k: v[idx] for k, v in extras.items()} if extras else None,
            )

    def reset(self) -> None:
        self.pos = 0
        self.valid.fill_(True)
