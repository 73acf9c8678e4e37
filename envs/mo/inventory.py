"""Multi-objective InvMgmt: the inventory networks with a vector reward (profit, fill rate, inventory).

A thin layer over :class:`~rlsuite.envs.inventory.InvMgmtEnv` and
:class:`~rlsuite.envs.inventory.InvMgmtVectorEnv`: the dynamics, observations, actions, seeding and
``info`` are theirs, unchanged; only the reward becomes a vector, computed by :func:`objectives`
from what the base step reports. Per period t, with the base env's reward ``r_t``, units sold
``sold_t`` and demand left unmet ``unmet_t`` summed over the markets, and the end-of-period on-hand
inventory ``I_t`` summed over the stocking nodes (retailers, distributors, factories):

- **profit** ``= r_t / profit_scale``: the base reward (revenue minus the six cost terms);
- **fill rate** ``= sold_t / (sold_t + unmet_t)``, and 1 when ``sold_t + unmet_t = 0``: the
  fraction of the demand outstanding this period that is served. ``sold_t + unmet_t`` is this
  period's demand plus, in backlog mode, the backlog carried in, so the fill rate lies in [0, 1]
  (with lost sales it is units sold / units demanded);
- **inventory** ``= -I_t / inventory_scale``: minus the units on hand (a total below 0, a rounding
  residue, counts as 0), so more is better for every objective.

Default scales, from the network's spec (not from a demand trace), make the three O(1):
``profit_scale`` = the revenue of one period at full service, ``sum_m price_m * mean demand_m``
(mean over the episode's periods; 40 on ``InvMgmt-v0``), so a period's profit is a fraction of the
revenue at stake; ``inventory_scale`` = the network's initial on-hand inventory ``sum I0`` (1420 on
``InvMgmt-v0``), or, when that is 0, one period's mean demand ``sum_m mean demand_m``.
An episode's return divided by T is the average profit (in full-service revenues), the period
average of the fill rate (not the ratio of episode totals) and minus the average inventory (in
``inventory_scale`` units). ``info["objectives"]`` holds the unscaled float64
vector ``(r_t, fill rate, -I_t)``; its first entry is the base env's reward exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector.utils import batch_space
from torch import Tensor

from rlsuite.validation import check_optional_real

from ..inventory.core import InventoryCore
from ..inventory.demand import DemandSampler
from ..inventory.env import InvMgmtEnv
from ..inventory.spec import NetworkSpec
from ..inventory.vector import InvMgmtVectorEnv

OBJECTIVE_NAMES: tuple[str, ...] = ("profit", "fill_rate", "inventory")
"""The reward vector's entries, in order."""


def objectives(reward: Tensor, sold: Tensor, unmet: Tensor, on_hand: Tensor) -> Tensor:
    """The unscaled objectives ``[B, 3]`` of a batch of periods, in :data:`OBJECTIVE_NAMES` order:
    ``(reward, fill rate, -on-hand units)``.

    Args:
        reward: ``[B]`` the base env's reward (profit of the period).
        sold: ``[B, n_markets]`` units sold (``info["sold"]``).
        unmet: ``[B, n_markets]`` demand unmet at the end of the period (``info["unmet"]``).
        on_hand: ``[B, n_stock]`` end-of-period on-hand inventory of each stocking node.
    """
    served = sold.sum(dim=1)
    outstanding = served + unmet.sum(dim=1)
    fill = torch.where(outstanding > 0, served / outstanding.clamp_min(torch.finfo(served.dtype).tiny), 1.0)
    held = on_hand.sum(dim=1).clamp_min(0.0)
    return torch.stack([reward, fill, -held], dim=1)


def default_scales(core: InventoryCore, num_periods: int) -> tuple[float, float]:
    """``(profit_scale, inventory_scale)`` of a network (see the module docstring); ``profit_scale`` is
    0 when the markets have no prices."""
    mean_demand = DemandSampler(core.spec).means(0, num_periods).mean(axis=0)
    prices = np.array([m.p for m in core.spec.markets], dtype=np.float64)
    initial = float(core.initial_state(1).on_hand.sum())
    return float(prices @ mean_demand), initial if initial > 0 else float(mean_demand.sum())


def resolve_scales(
    core: InventoryCore, num_periods: int, profit_scale: Any, inventory_scale: Any
) -> np.ndarray:
    """The divisors ``[3]`` of the objectives: the checked scales, or their defaults."""
    profit = check_optional_real("profit_scale", profit_scale, 0.0, low_open=True)
    inventory = check_optional_real("inventory_scale", inventory_scale, 0.0, low_open=True)
    default_profit, default_inventory = default_scales(core, num_periods)
    if profit is None:
        if default_profit <= 0:
            raise ValueError(
                f"profit_scale: the default, one period's revenue at full service (sum of market "
                f"price x mean demand), is {default_profit:g} on network {core.spec.name!r} (no market "
                "prices); pass profit_scale > 0 (e.g. the cost of a typical period)"
            )
        profit = default_profit
    if inventory is None:
        if default_inventory <= 0:
            raise ValueError(
                f"inventory_scale: the default (initial on-hand inventory, else mean demand per period) "
                f"is 0 on network {core.spec.name!r}; pass inventory_scale > 0"
            )
        inventory = default_inventory
    return np.array([profit, 1.0, inventory])


def reward_space() -> spaces.Box:
    """One copy's reward space: profit unbounded, fill rate in [0, 1], inventory <= 0."""
    low = np.array([-np.inf, 0.0, -np.inf], np.float32)
    high = np.array([np.inf, 1.0, 0.0], np.float32)
    return spaces.Box(low, high, (3,), np.float32)


class MOInvMgmtEnv(InvMgmtEnv):
    """:class:`~rlsuite.envs.inventory.InvMgmtEnv` with the vector reward ``(profit, fill rate,
    inventory)`` (MO-Gymnasium's API: ``reward_space``, a ``float32`` reward ``[3]`` from ``step``).

    Args:
        network, **kwargs: as :class:`~rlsuite.envs.inventory.InvMgmtEnv`.
        profit_scale: divisor of the profit objective (> 0); default one period's revenue at full
            service. Pass 1.0 to get the base reward itself as the first entry.
        inventory_scale: divisor of the on-hand units (> 0); default the initial on-hand inventory,
            else one period's mean demand.

    Objectives and scales: the module docstring. ``scales`` holds the divisors ``[3]``
    (``profit_scale, 1, inventory_scale``). ``info`` is the base env's plus ``objectives``, the
    unscaled float64 vector; ``reward == (info["objectives"] / env.scales).astype(np.float32)``.
    """

    def __init__(
        self,
        network: NetworkSpec | str | Mapping[str, Any] | Path = "divergent",
        *,
        profit_scale: float | None = None,
        inventory_scale: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(network, **kwargs)
        self.scales = resolve_scales(self.core, self.num_periods, profit_scale, inventory_scale)
        self.reward_space = reward_space()
        self.reward_dim = len(OBJECTIVE_NAMES)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        raw = objectives(
            torch.tensor([reward], dtype=torch.float64),
            torch.as_tensor(info["sold"], dtype=torch.float64)[None],
            torch.as_tensor(info["unmet"], dtype=torch.float64)[None],
            self.state.on_hand.to("cpu", torch.float64),
        )[0].numpy()
        info["objectives"] = raw
        return obs, (raw / self.scales).astype(np.float32), terminated, truncated, info

    @property
    def objective_names(self) -> tuple[str, ...]:
        """Names of the reward vector's entries (:data:`OBJECTIVE_NAMES`)."""
        return OBJECTIVE_NAMES


class MOInvMgmtVectorEnv(InvMgmtVectorEnv):
    """:class:`~rlsuite.envs.inventory.InvMgmtVectorEnv` with the vector reward of
    :class:`MOInvMgmtEnv`: rewards ``[num_envs, 3]`` ``float32`` (a numpy array, or a tensor on the
    core's device with ``array_type="torch"``); ``single_reward_space`` is one copy's
    ``reward_space``, ``reward_space`` the batched one. Copy i seeded ``seed + i`` gives the single
    env's rewards on seed ``seed + i``. The ``NEXT_STEP`` autoreset step returns zero vectors.

    Args:
        num_envs, network, **kwargs: as :class:`~rlsuite.envs.inventory.InvMgmtVectorEnv`.
        profit_scale, inventory_scale: as :class:`MOInvMgmtEnv`.

    ``infos`` is the base vector env's plus ``objectives`` ``[num_envs, 3]`` (float64, unscaled) and
    its ``_objectives`` mask.
    """

    def __init__(
        self,
        num_envs: int = 1,
        network: NetworkSpec | str | Mapping[str, Any] | Path = "divergent",
        *,
        profit_scale: float | None = None,
        inventory_scale: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_envs, network, **kwargs)
        self.scales = resolve_scales(self.core, self.num_periods, profit_scale, inventory_scale)
        self.single_reward_space = reward_space()
        self.reward_space = batch_space(self.single_reward_space, self.num_envs)
        self.reward_dim = len(OBJECTIVE_NAMES)
        self._scales_t = torch.as_tensor(self.scales, dtype=torch.float64, device=self.core.device)

    def step(self, actions: Any):
        obs, reward, terminated, truncated, infos = super().step(actions)
        device = self.core.device
        if "costs" not in infos:  # the NEXT_STEP autoreset step: no period was played
            vec = torch.zeros(self.num_envs, len(OBJECTIVE_NAMES), dtype=torch.float32, device=device)
            return obs, self._out(vec), terminated, truncated, infos
        # The end-of-period state is in the observation (in final_obs when SAME_STEP reset at once).
        final_obs = torch.as_tensor(infos.get("final_obs", obs), device=device)
        f64: dict[str, Any] = {"dtype": torch.float64, "device": device}
        raw = objectives(
            torch.as_tensor(reward, **f64),
            torch.as_tensor(infos["sold"], **f64),
            torch.as_tensor(infos["unmet"], **f64),
            self.core.state_from_observation(final_obs).on_hand.to(torch.float64),
        )
        infos["objectives"] = self._out(raw)
        infos["_objectives"] = self._mask
        if "final_info" in infos:
            infos["final_info"]["objectives"] = infos["objectives"]
            infos["final_info"]["_objectives"] = self._mask
        vec = (raw / self._scales_t).to(torch.float32)
        return obs, self._out(vec), terminated, truncated, infos

    @property
    def objective_names(self) -> tuple[str, ...]:
        """Names of the reward vector's entries (:data:`OBJECTIVE_NAMES`)."""
        return OBJECTIVE_NAMES


__all__ = [
    "OBJECTIVE_NAMES",
    "MOInvMgmtEnv",
    "MOInvMgmtVectorEnv",
    "default_scales",
    "objectives",
    "reward_space",
]
