"""An inventory dataset from noisy baseline policies (issue: offline RL on ``InvMgmt-*``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
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


def build_inventory_dataset(
    env_id: str = "InvMgmt-v0",
    *,
    root: str | Path | None = None,
    sigmas: Sequence[float] = (0.0, 0.25, 0.5, 1.0),
    episodes_per_level: int = 250,
    reference_episodes: int = 100,
    seed: int = 0,
    force: bool = False,
) -> str:
    """Write :func:`noisy_inventory_dataset` as the Minari dataset ``rlsuite/<env>/noisy-v0`` (kept
    when it exists, unless ``force``) and return its id. Reference returns for normalised scores:
    ``ref_min_score`` = uniformly random orders, ``ref_max_score`` = the noiseless newsvendor base
    stock, each the mean over ``reference_episodes`` episodes on seeds no dataset episode uses."""
    import minari

    from rlsuite.baselines import BaseStockPolicy

    from .minari_io import minari_root, to_minari

    dataset_id = f"rlsuite/{env_id.split('-v')[0].lower()}/noisy-v0"
    with minari_root(root):
        if dataset_id in minari.list_local_datasets() and not force:
            return dataset_id
    data = noisy_inventory_dataset(env_id, sigmas, episodes_per_level, seed)
    env = gym.make(env_id)
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)
    n_ref = check_int("reference_episodes", reference_episodes, 1)
    seeds = [10**6 + seed + i for i in range(n_ref)]  # the dataset's seeds stay below len(sigmas) * n
    rng = np.random.default_rng(check_seed("seed", seed))

    def random_orders(_obs: Any) -> np.ndarray:
        return np.asarray(rng.uniform(space.low, space.high), dtype=space.dtype)

    ref_min = float(np.mean([e.total_reward for e in run_episodes(env, random_orders, seeds)]))
    base = BaseStockPolicy.newsvendor(env)
    ref_max = float(np.mean([e.total_reward for e in run_episodes(env, base, seeds)]))
    with minari_root(root):
        if dataset_id in minari.list_local_datasets():
            minari.delete_dataset(dataset_id)
    to_minari(
        data,
        dataset_id,
        env_id=env_id,
        root=root,
        algorithm_name="newsvendor base stock with log-normal order noise",
        description=(
            f"{env_id}: base stock x exp(sigma N(0, 1)) per link, sigma in {tuple(sigmas)}, "
            f"{episodes_per_level} episodes each; reference: random orders (0) and base stock (1)"
        ),
        ref_min_score=ref_min,
        ref_max_score=ref_max,
    )
    return dataset_id
