"""Non-learning inventory policies with an SB3-style ``predict``.

Every policy maps a flat ``InvMgmt`` observation ``[obs_dim]`` or a batch ``[B, obs_dim]`` to
orders ``[n_links]`` / ``[B, n_links]``, so the single env and the vector env use it alike:

>>> env = gym.make("InvMgmt-v0")
>>> policy = BaseStockPolicy.heuristic(env)
>>> action, _ = policy.predict(obs)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from scipy.stats import norm

from rlsuite.envs.inventory.core import InventoryCore


def _core_of(env: Any) -> InventoryCore:
    core = getattr(getattr(env, "unwrapped", env), "core", None)
    if not isinstance(core, InventoryCore):
        raise ValueError(f"env: expected an InvMgmt env (single or vector), got {type(env).__name__}")
    return core


class InventoryPolicy(ABC):
    """Base class: ``predict(observation, state=None, episode_start=None, deterministic=True)``
    returns ``(orders, None)`` like a Stable-Baselines3 model."""

    name = "policy"

    @abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Orders ``[B, n_links]`` for observations ``[B, obs_dim]``."""

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        obs = np.asarray(observation, dtype=np.float64)
        if obs.ndim == 1:
            return self.act(obs[None])[0], None
        return self.act(obs), None

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        return self.predict(observation)[0]


class ConstantOrderPolicy(InventoryPolicy):
    """Orders the same quantity on every link, every period (gym-invmgmt's "const-20" check)."""

    def __init__(self, env: Any, quantity: float | np.ndarray = 20.0) -> None:
        core = _core_of(env)
        q = np.broadcast_to(np.asarray(quantity, dtype=np.float64), (core.n_links,)).copy()
        if not np.all(np.isfinite(q)) or np.any(q < 0):
            raise ValueError(f"quantity: got {quantity!r}; orders must be finite and >= 0")
        self.quantity = q
        self.name = f"constant-{float(q.mean()):g}"

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.quantity, (obs.shape[0], self.quantity.size)).copy()


class BaseStockPolicy(InventoryPolicy):
    """Installation base-stock: each stocking node orders up to its level ``S_j``.

    Inventory position ``IP_j`` = on-hand + units in transit to j (- unmet demand of j's
    markets in backlog mode); the order ``max(S_j - IP_j, 0)`` is split over j's inbound links
    by ``split`` (default: equal shares).
    """

    def __init__(
        self, env: Any, levels: dict[str, float] | np.ndarray, split: np.ndarray | None = None
    ) -> None:
        core = _core_of(env)
        self.core = core
        names = core.stock_names
        if isinstance(levels, dict):
            unknown = set(levels) - set(names)
            if unknown:
                raise ValueError(f"levels: unknown nodes {sorted(unknown)}; stocking nodes: {list(names)}")
            lv = np.array([float(levels.get(n, 0.0)) for n in names])
        else:
            lv = np.asarray(levels, dtype=np.float64)
            if lv.shape != (len(names),):
                raise ValueError(
                    f"levels: expected shape ({len(names)},) (one per stocking node), got {lv.shape}"
                )
        if not np.all(np.isfinite(lv)):
            raise ValueError(f"levels: must be finite, got {lv.tolist()}")
        self.levels = lv
        idx = core.observation_index()
        spec = core.spec
        pos = {n: i for i, n in enumerate(names)}
        n_links, n_stock = core.n_links, core.n_stock
        # ip = obs @ ip_map: on-hand + in transit - backlog.
        self._ip_map = np.zeros((core.obs_dim, n_stock))
        for i, col in enumerate(idx["on_hand"]):
            self._ip_map[col, i] = 1.0
        for e, link in enumerate(spec.links):
            for col in idx["pipeline"][e]:
                self._ip_map[col, pos[link.dst]] = 1.0
        if core.backlog:
            for k, m in enumerate(spec.markets):
                self._ip_map[idx["unmet"][k], pos[m.src]] -= 1.0
        inbound = np.zeros((n_stock, n_links))
        for e, link in enumerate(spec.links):
            inbound[pos[link.dst], e] = 1.0
        if split is None:
            split = inbound / inbound.sum(1, keepdims=True)
        split = np.asarray(split, dtype=np.float64)
        if split.shape != (n_stock, n_links) or np.any((split != 0) & (inbound == 0)) or np.any(split < 0):
            raise ValueError(
                "split: expected [n_stock, n_links] non-negative shares on each node's inbound links"
            )
        self._split = split
        self.name = "base-stock"

    def act(self, obs: np.ndarray) -> np.ndarray:
        gap = np.maximum(self.levels - obs @ self._ip_map, 0.0)
        return gap @ self._split

    @classmethod
    def heuristic(cls, env: Any, service: float | None = None) -> BaseStockPolicy:
        """Levels from the mean flow through each node over its lead time plus one period,
        with a safety stock ``z * sqrt(mean)`` (Poisson-like spread), ``z`` the normal quantile
        of ``service`` (default: the retail critical ratio b / (b + h)). A reasonable start,
        not an optimum (see the level search in ``rlsuite.baselines``)."""
        core = _core_of(env)
        spec = core.spec
        names = core.stock_names
        pos = {n: i for i, n in enumerate(names)}
        flow = np.zeros(core.n_stock)
        for m in spec.markets:
            flow[pos[m.src]] += m.demand.mean
        # Propagate upstream in reverse topological order with equal splits.
        n_in = {n: sum(1 for link in spec.links if link.dst == n) for n in names}
        for _ in range(len(names)):
            new = np.zeros(core.n_stock)
            for m in spec.markets:
                new[pos[m.src]] += m.demand.mean
            for link in spec.links:
                if link.src in pos:
                    new[pos[link.src]] += flow[pos[link.dst]] / n_in[link.dst]
            flow = new
        lead = np.zeros(core.n_stock)
        for n in names:
            lts = [link.L for link in spec.links if link.dst == n]
            lead[pos[n]] = float(np.mean(lts))
        if service is None:
            m0 = spec.markets[0]
            h = next(node.h for node in spec.nodes if node.name == m0.src)
            service = m0.b / (m0.b + h) if m0.b + h > 0 else 0.9
        z = float(norm.ppf(min(max(service, 0.5), 0.999)))
        horizon = flow * (lead + 1)
        return cls(env, horizon + z * np.sqrt(horizon))


class RandomPolicy(InventoryPolicy):
    """Uniform random orders in ``[0, high]`` from its own seeded generator."""

    def __init__(self, env: Any, high: float = 40.0, seed: int = 0) -> None:
        self.core = _core_of(env)
        self.high = float(high)
        self.rng = np.random.default_rng(seed)
        self.name = f"random-0-{self.high:g}"

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(0.0, self.high, (obs.shape[0], self.core.n_links))


def run_episode(env: gym.Env, policy: InventoryPolicy, seed: int | None = None) -> dict[str, Any]:
    """One episode of ``policy`` on a single env: rewards and the cost decomposition per period."""
    obs, _ = env.reset(seed=seed)
    rewards, costs, demand, sold = [], [], [], []
    done = False
    while not done:
        action, _ = policy.predict(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        costs.append(list(info["costs"].values()))
        demand.append(info["demand"].sum())
        sold.append(info["sold"].sum())
        done = terminated or truncated
    return {
        "rewards": np.array(rewards),
        "costs": np.array(costs),
        "demand": np.array(demand),
        "sold": np.array(sold),
    }
