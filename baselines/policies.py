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
import torch

from rlsuite.envs.inventory.base_stock import (
    BaseStockRule,
    critical_ratio,
    newsvendor_level,
)
from rlsuite.envs.inventory.core import InventoryCore
from rlsuite.envs.inventory.rollout import node_demand_moments
from rlsuite.evaluation import run_episode as play_episode
from rlsuite.validation import check_bool, check_real, check_seed


def _core_of(env: Any) -> InventoryCore:
    if isinstance(env, InventoryCore):
        return env
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
        if isinstance(quantity, (bool, np.bool_, str, bytes)):
            raise TypeError(f"quantity: got {quantity!r}; must be a number or one per link")
        try:
            q = np.broadcast_to(np.asarray(quantity, dtype=np.float64), (core.n_links,)).copy()
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"quantity: got {quantity!r:.80}; must be a number or {core.n_links} numbers (one per link)"
            ) from e
        if not np.all(np.isfinite(q)) or np.any(q < 0):
            raise ValueError(f"quantity: got {quantity!r}; orders must be finite and >= 0")
        self.quantity = q
        self.name = f"constant-{float(q.mean()):g}"

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.quantity, (obs.shape[0], self.quantity.size)).copy()


class BaseStockPolicy(InventoryPolicy):
    """Order-up-to policies for any network: installation or echelon base-stock, capped
    base-stock and (s, S), by the one rule of :mod:`rlsuite.envs.inventory.base_stock`.

    Each stocking node j watches an inventory position: installation ``IP_j`` = on-hand +
    units in transit to j (- unmet demand of j's markets in backlog mode); echelon (``echelon=True``)
    the same summed over j and every node downstream of it. The order is

    * base-stock: ``max(S_j - IP_j, 0)``;
    * capped (``caps``): ``min(max(S_j - IP_j, 0), cap_j)``;
    * (s, S) (``reorder_points``): ``S_j - IP_j`` if ``IP_j < s_j`` else 0;

    split over j's inbound links by ``split`` (default: equal shares). Batched over the leading
    dimension of the observation. ``rule`` (a :class:`BaseStockRule`) holds the inventory-position
    map ``rule.ip_map`` and the split ``rule.split``.
    """

    def __init__(
        self,
        env: Any,
        levels: dict[str, float] | np.ndarray,
        *,
        echelon: bool = False,
        caps: dict[str, float] | np.ndarray | None = None,
        reorder_points: dict[str, float] | np.ndarray | None = None,
        split: np.ndarray | None = None,
    ) -> None:
        core = _core_of(env)
        self.core = core
        self.levels = self._per_node(levels, "levels")
        self.caps = None if caps is None else self._per_node(caps, "caps")
        self.reorder_points = (
            None if reorder_points is None else self._per_node(reorder_points, "reorder_points")
        )
        if self.caps is not None and np.any(self.caps < 0):
            raise ValueError(f"caps: must be >= 0, got {self.caps.tolist()}")
        if self.reorder_points is not None and np.any(self.reorder_points > self.levels):
            raise ValueError("reorder_points: each s must be <= its order-up-to level S")
        self.echelon = check_bool("echelon", echelon)
        self.rule = BaseStockRule(core, echelon=self.echelon, split=split)
        kind = "echelon " if self.echelon else ""
        if self.reorder_points is not None:
            self.name = f"{kind}(s,S)"
        elif self.caps is not None:
            self.name = f"capped {kind}base-stock"
        else:
            self.name = f"{kind}base-stock"

    def _per_node(self, values: dict[str, float] | np.ndarray, name: str) -> np.ndarray:
        names = self.core.stock_names
        if isinstance(values, dict):
            unknown = set(values) - set(names)
            if unknown:
                raise ValueError(f"{name}: unknown nodes {sorted(unknown)}; stocking nodes: {list(names)}")
            arr = np.array([check_real(f"{name}[{n!r}]", values.get(n, 0.0)) for n in names])
        else:
            try:
                arr = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{name}: got {values!r:.80}; must be numbers, one per stocking node") from e
            if arr.shape != (len(names),):
                raise ValueError(
                    f"{name}: expected shape ({len(names)},) (one per stocking node), got {arr.shape}"
                )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: must be finite, got {arr.tolist()}")
        return arr

    def position(self, obs: np.ndarray) -> np.ndarray:
        """Inventory positions ``[B, n_stock]`` (installation or echelon)."""
        return self.rule.position(np.asarray(obs, dtype=np.float64))

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rule.orders(obs, self.levels, reorder_points=self.reorder_points, caps=self.caps)

    def torch_orders(self, obs: torch.Tensor, levels: torch.Tensor | None = None) -> torch.Tensor:
        """The rule in torch for the differentiable core: ``obs [B, obs_dim]`` (e.g.
        ``core.observe(state)``) -> orders ``[B, n_links]``, differentiable in ``levels``
        (default: this policy's levels) by PyTorch sub-gradients."""
        return self.rule.orders(
            obs,
            self.levels if levels is None else levels,
            reorder_points=self.reorder_points,
            caps=self.caps,
        )

    @classmethod
    def newsvendor(cls, env: Any) -> BaseStockPolicy:
        """Installation levels by the newsvendor rule on lead-time demand (gym-invmgmt's
        Newsvendor baseline): ``S_j = mu_j (L_j + 1) + z_j sigma_j sqrt(L_j + 1)`` with the mean
        and spread of the demand flowing through j (split equally among a node's suppliers),
        ``L_j`` its longest inbound lead time, and ``z_j = Phi^-1(b_j / (b_j + h_j))``; ``b_j`` is
        the market penalty for retailers and ``max(selling - buying price, 0.5)`` upstream."""
        core = _core_of(env)
        mu, sigma, lead, ratio = _node_statistics(core)
        policy = cls(env, newsvendor_level(mu, lead, np.clip(ratio, 0.5, 0.999), std=sigma))
        policy.name = "newsvendor"
        return policy

    @classmethod
    def s_S(cls, env: Any, service: float = 0.95) -> BaseStockPolicy:
        """(s, S) levels as gym-invmgmt's baseline: ``s_j = mu_L + z(service) sigma_L`` and
        ``S_j = s_j + EOQ_j``, ``EOQ_j = sqrt(2 mu_j K_j / h_j)`` with the links' fixed cost K, or a
        virtual ``K = 10 h_j`` when the network has none."""
        core = _core_of(env)
        service = check_real("service", service, low=0.0, high=1.0, low_open=True)
        if service >= 1.0:
            raise ValueError(f"service: got {service!r}; must be in (0, 1)")
        mu, sigma, lead, _ = _node_statistics(core)
        s = newsvendor_level(mu, lead, service, std=sigma)
        h = np.array([max(n.h, 1e-9) for n in core.spec.stock_nodes])
        fixed = np.zeros(core.n_stock)
        pos = {n: i for i, n in enumerate(core.stock_names)}
        for link in core.spec.links:
            fixed[pos[link.dst]] = max(fixed[pos[link.dst]], link.K)
        fixed = np.where(fixed > 0, fixed, 10 * h)
        eoq = np.sqrt(2 * np.maximum(mu, 1e-9) * fixed / h)
        return cls(env, s + eoq, reorder_points=s)

    @classmethod
    def heuristic(cls, env: Any) -> BaseStockPolicy:
        """The newsvendor levels (:meth:`newsvendor`)."""
        return cls.newsvendor(env)


def _node_statistics(core: InventoryCore) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per stocking node: mean and std of the demand flowing through it per period (equal
    split among suppliers), its longest inbound lead time, and its critical ratio b / (b + h)."""
    spec = core.spec
    pos = {n: i for i, n in enumerate(core.stock_names)}
    mean, var = node_demand_moments(core)
    lead = np.array([max(link.L for link in spec.links if link.dst == n) for n in core.stock_names], float)
    nodes = {n.name: n for n in spec.nodes}
    ratio = np.zeros(core.n_stock)
    for n, i in pos.items():
        h = nodes[n].h
        markets = [m for m in spec.markets if m.src == n]
        if markets:
            b = float(np.mean([m.b for m in markets]))
        else:
            sell = [link.p for link in spec.links if link.src == n]
            buy = [link.p for link in spec.links if link.dst == n]
            b = max(float(np.mean(sell)) - float(np.mean(buy)), 0.5)
        ratio[i] = critical_ratio(b, h) if b + h > 0 else 0.5
    return mean, np.sqrt(var), lead, ratio


class RandomPolicy(InventoryPolicy):
    """Uniform random orders in ``[0, high]`` from its own seeded generator."""

    def __init__(self, env: Any, high: float = 40.0, seed: int | None = 0) -> None:
        self.core = _core_of(env)
        self.high = check_real("high", high, low=0.0)
        check_seed("seed", seed)
        self.rng = np.random.default_rng(seed)
        self.name = f"random-0-{self.high:g}"

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(0.0, self.high, (obs.shape[0], self.core.n_links))


def run_episode(env: gym.Env, policy: InventoryPolicy, seed: int | None = None) -> dict[str, Any]:
    """One episode of ``policy`` on a single InvMgmt env (:func:`rlsuite.evaluation.run_episode`):
    the rewards and, per period, the cost decomposition (``costs`` in ``COST_NAMES`` order), the
    total demand and the total sales."""
    if not hasattr(policy, "predict"):
        raise TypeError(f"policy: got {type(policy).__name__}; must have predict(obs)")
    ep = play_episode(env, policy, seed, record=True)
    assert ep.infos is not None
    return {
        "rewards": ep.rewards,
        "costs": np.array([info["costs"] for info in ep.infos]),
        "demand": np.array([info["demand"].sum() for info in ep.infos]),
        "sold": np.array([info["sold"].sum() for info in ep.infos]),
    }
