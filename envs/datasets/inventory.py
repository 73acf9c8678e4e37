"""An inventory dataset from noisy baseline policies (issue: offline RL on ``InvMgmt-*``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.evaluation import run_episodes
from rlsuite.validation import check_int, check_real, check_seed


class NoisyOrders:
    """A baseline's orders times ``exp(sigma * N(0, 1))`` per link, clipped to the action space, from
    its own seeded generator (``sigma = 0``: the baseline itself)."""

    def __init__(self, policy: Any, action_space: gym.spaces.Box, sigma: float, seed: int) -> None:
        self.policy, self.space = policy, action_space
        self.sigma = check_real("sigma", sigma, 0.0)
        self.rng = np.random.default_rng(check_seed("seed", seed))

    def predict(self, obs: Any, deterministic: bool = True) -> tuple[np.ndarray, None]:
        out = self.policy.predict(obs)
        orders = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64)
        noisy = orders * np.exp(self.sigma * self.rng.standard_normal(orders.shape))
        return np.clip(noisy, self.space.low, self.space.high).astype(self.space.dtype), None


def noisy_inventory_dataset(
    env_id: str = "InvMgmt-v0",
    sigmas: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    episodes_per_level: int = 25,
    seed: int = 0,
) -> TransitionDataset:
    """Episodes of the newsvendor base-stock policy with multiplicative order noise at each level of
    ``sigmas``, on reset seeds ``seed, seed + 1, ...`` (a different block per level)."""
    from rlsuite.baselines import BaseStockPolicy

    n = check_int("episodes_per_level", episodes_per_level, 1)
    env = gym.make(env_id)
    assert isinstance(env.action_space, gym.spaces.Box)
    base = BaseStockPolicy.newsvendor(env)
    episodes = []
    for k, sigma in enumerate(sigmas):
        policy = NoisyOrders(base, env.action_space, sigma, seed + 7919 * k)
        episodes += run_episodes(env, policy, [seed + k * n + i for i in range(n)], record=True)
    return TransitionDataset.from_episodes(episodes, env.observation_space, env.action_space)
