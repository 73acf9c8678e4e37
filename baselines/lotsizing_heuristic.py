"""A scripted (s, S) scheduling rule for the ``LotSizing`` plants, the baseline a learned policy must beat.

Stocks are measured in *periods of cover* (units divided by the mean demand per period). Each period:

1. a machine already set up on an item keeps making it (no new setup cost) while that item's projected
   cover is below the target ``S`` (``order_up_to``);
2. every other machine switches, paying the setup, to the item whose projected cover is below the
   reorder point ``s`` (``reorder_at``) and whose lost sales it can save most of (lost-sales cost per
   unit times the units it makes per period, up to one period's demand); if no item it can make is
   below ``s``, it idles.

"Projected" counts what the machines earlier in the same period already make. A large ``S`` keeps
machines running on their item (cheap holding against costly setups); :meth:`LotSizingCoverPolicy.search`
picks ``(s, S)`` on a grid by simulation, with common random numbers.

>>> policy = LotSizingCoverPolicy.search("LotSizing-v0").policy
>>> action, _ = policy.predict(obs)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import gymnasium as gym
import numpy as np

from rlsuite.envs.inventory.lotsizing import LotSizingEnv, LotSizingSpec
from rlsuite.evaluation import run_episode, run_episodes
from rlsuite.validation import check_int, check_real


def _spec_of(env_or_spec: Any) -> LotSizingSpec:
    if isinstance(env_or_spec, LotSizingSpec):
        return env_or_spec
    if isinstance(env_or_spec, str):
        env_or_spec = gym.make(env_or_spec)
    env = getattr(env_or_spec, "unwrapped", env_or_spec)
    if not isinstance(env, LotSizingEnv):
        raise ValueError(
            f"env: expected a LotSizing env, id or LotSizingSpec, got {type(env_or_spec).__name__}"
        )
    return env.instance


def mean_demand(spec: LotSizingSpec) -> np.ndarray:
    """``[n_items]`` expected demand per period under the spec's demand model."""
    if spec.demand == "binomial":
        return np.full(spec.n_items, spec.demand_n * float(spec.demand_p))
    return np.asarray(spec.demand_mean, dtype=np.float64).copy()


class LotSizingCoverPolicy:
    """The (s, S) cover rule (module docstring) with an SB3-style ``predict``.

    Args:
        env_or_spec: a ``LotSizing`` env, id or :class:`LotSizingSpec`.
        reorder_at: ``s``, the cover (periods) below which an idle or re-assigned machine starts an item.
        order_up_to: ``S`` >= ``s``, the cover up to which a machine keeps making its current item.
    """

    name = "cover (s, S)"

    def __init__(self, env_or_spec: Any, reorder_at: float = 0.5, order_up_to: float = 12.0) -> None:
        self.spec = _spec_of(env_or_spec)
        reorder_at = check_real("reorder_at", reorder_at, low=0.0)
        order_up_to = check_real("order_up_to", order_up_to, low=0.0)
        if order_up_to < reorder_at:
            raise ValueError(f"order_up_to: got {order_up_to!r}; must be >= reorder_at = {reorder_at!r}")
        self.reorder_at, self.order_up_to = float(reorder_at), float(order_up_to)
        # an item nobody demands never needs stock: its cover is infinite
        mu = mean_demand(self.spec)
        self._mu = np.where(mu > 0, mu, np.inf)

    def _act_one(self, obs: np.ndarray) -> np.ndarray:
        spec = self.spec
        n_i = spec.n_items
        prod, loss = spec.production, np.minimum(spec.setup_loss, spec.production)
        proj = obs[:n_i].astype(np.float64).copy()
        setup = np.rint(obs[n_i:]).astype(np.int64)
        action = np.zeros(spec.n_machines, dtype=np.int64)
        free = []
        for m, i in enumerate(setup):
            if i > 0 and prod[m, i - 1] > 0 and proj[i - 1] < self.order_up_to * self._mu[i - 1]:
                action[m] = i
                proj[i - 1] += prod[m, i - 1]
            else:
                free.append(m)
        for m in free:
            rate = prod[m] - loss[m]
            need = (proj < self.reorder_at * self._mu) & (rate > 0)
            if need.any():
                # the lost sales one period of this machine can save: unit cost x units made
                value = np.where(need, spec.lost_sales_costs * np.minimum(rate, self._mu), -np.inf)
                j = int(np.argmax(value))
                action[m] = j + 1
                proj[j] += rate[j]
        return action

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions ``[B, n_machines]`` for observations ``[B, n_items + n_machines]``."""
        return np.stack([self._act_one(o) for o in obs])

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        obs = np.asarray(observation, dtype=np.float64)
        width = self.spec.n_items + self.spec.n_machines
        if obs.shape[-1] != width or obs.ndim not in (1, 2):
            raise ValueError(f"observation: expected shape ({width},) or [B, {width}], got {obs.shape}")
        if obs.ndim == 1:
            return self._act_one(obs), None
        return self.act(obs), None

    def __call__(self, observation: Any) -> np.ndarray:
        return self.predict(observation)[0]

    def __repr__(self) -> str:
        return f"LotSizingCoverPolicy(reorder_at={self.reorder_at}, order_up_to={self.order_up_to})"

    @classmethod
    def search(
        cls,
        env_id_or_spec: str | LotSizingSpec,
        reorder_at: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
        order_up_to: Sequence[float] = (2.0, 4.0, 8.0, 12.0, 16.0),
        n_episodes: int = 20,
        seed: int = 0,
        **env_kwargs: Any,
    ) -> CoverSearchResult:
        """Best ``(s, S)`` on the grid by mean episode cost over episodes ``reset(seed=seed + k)``
        (the same episodes for every candidate). Keep the search seeds apart from evaluation seeds."""
        n_episodes = check_int("n_episodes", n_episodes, low=1)
        seed = check_int("seed", seed, low=0)
        for grid_name, grid in (("reorder_at", reorder_at), ("order_up_to", order_up_to)):
            if isinstance(grid, (str, bytes)) or not isinstance(grid, (Sequence, np.ndarray)):
                raise TypeError(f"{grid_name}: got {grid!r}; must be a sequence of numbers")
            for k, v in enumerate(grid):
                check_real(f"{grid_name}[{k}]", v, low=0.0)
        if isinstance(env_id_or_spec, LotSizingSpec):
            env = LotSizingEnv(env_id_or_spec, **env_kwargs)
        else:
            env = cast(LotSizingEnv, gym.make(env_id_or_spec, **env_kwargs).unwrapped)  # a LotSizing id
        table = []
        for s, big_s in itertools.product(reorder_at, order_up_to):
            if big_s < s:
                continue
            policy = cls(env.instance, s, big_s)
            costs = [-e.total_reward for e in run_episodes(env, policy, range(seed, seed + n_episodes))]
            table.append((s, big_s, float(np.mean(costs))))
        if not table:
            raise ValueError("search: no grid point with order_up_to >= reorder_at")
        s, big_s, cost = min(table, key=lambda row: row[2])
        return CoverSearchResult(cls(env.instance, s, big_s), cost, table)


@dataclass
class CoverSearchResult:
    policy: LotSizingCoverPolicy
    """The best rule found."""
    cost: float
    """Its mean episode cost on the search episodes."""
    table: list[tuple[float, float, float]] = field(repr=False)
    """``(s, S, mean cost)`` of every grid point."""


def episode_return(env: gym.Env, policy: Any, seed: int) -> float:
    """Undiscounted return of one episode after ``env.reset(seed=seed)`` (``policy(obs) -> action``)."""
    seed = check_int("seed", seed, low=0)
    if not callable(policy):
        raise TypeError(f"policy: got {type(policy).__name__}; must be a callable obs -> action")
    return run_episode(env, policy, seed).total_reward
