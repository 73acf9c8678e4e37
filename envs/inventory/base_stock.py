"""The base-stock (order-up-to) rule and the newsvendor level, each written once.

Each stocking node j watches an inventory position ``IP_j``: installation = its on-hand + the
units in transit to it (- the unmet demand of its markets in backlog mode); echelon = the same
summed over j and every node downstream of it. With order-up-to levels ``S_j`` node j requests

* base-stock: ``max(S_j - IP_j, 0)``;
* capped (``caps``): ``min(max(S_j - IP_j, 0), cap_j)``;
* (s, S) (``reorder_points``): ``S_j - IP_j`` if ``IP_j < s_j`` else 0;

split over its inbound links by a ``[n_stock, n_links]`` share matrix (default: equal shares).
Both maps are linear in the flat observation: ``IP = obs @ ip_map`` and ``orders = gap @ split``.
:class:`BaseStockRule` holds them for one network and applies the rule (:func:`base_stock_orders`)
batched over the leading dimension, to numpy arrays (the OR baseline,
:class:`rlsuite.baselines.BaseStockPolicy`) or torch tensors (differentiable in the levels by
PyTorch sub-gradients at the kinks: HDPO's parametric policy).

The newsvendor level ``S = (L + 1) mean + Phi^-1(b / (b + h)) std sqrt(L + 1)`` covers the demand
of the ``L + 1`` periods an order protects at the critical ratio ``b / (b + h)``
(:func:`critical_ratio`, :func:`newsvendor_level`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rlsuite.validation import check_bool, check_choice

from .core import InventoryCore

NEWSVENDOR_DISTS: tuple[str, ...] = ("normal", "poisson")


def downstream_closure(core: InventoryCore) -> np.ndarray:
    """``[n_stock, n_stock]`` 0/1 matrix C with ``C[j, k] = 1`` if node k is j or downstream of j
    (echelon positions and levels: ``ip_echelon = ip @ C.T``)."""
    pos = {n: i for i, n in enumerate(core.stock_names)}
    n = core.n_stock
    reach = np.eye(n)
    for _ in range(n):
        for link in core.spec.links:
            if link.src in pos:
                reach[pos[link.src]] = np.maximum(reach[pos[link.src]], reach[pos[link.dst]])
    return reach


def inventory_position_map(core: InventoryCore, *, echelon: bool = False) -> np.ndarray:
    """``[obs_dim, n_stock]`` map of the flat observation to inventory positions: on-hand + units
    in transit to the node (- its markets' unmet demand in backlog mode); for ``echelon``, summed
    over the node and everything downstream of it."""
    idx = core.observation_index()
    pos = {n: i for i, n in enumerate(core.stock_names)}
    ip_map = np.zeros((core.obs_dim, core.n_stock))
    for i, col in enumerate(idx["on_hand"]):
        ip_map[col, i] = 1.0
    for e, link in enumerate(core.spec.links):
        for col in idx["pipeline"][e]:
            ip_map[col, pos[link.dst]] = 1.0
    if core.backlog:
        for k, m in enumerate(core.spec.markets):
            ip_map[idx["unmet"][k], pos[m.src]] -= 1.0
    if echelon:
        ip_map = ip_map @ downstream_closure(core).T  # node j sums itself and its descendants
    return ip_map


def inbound_links(core: InventoryCore) -> np.ndarray:
    """``[n_stock, n_links]`` 0/1 matrix: ``[j, e] = 1`` if link e delivers to node j."""
    pos = {n: i for i, n in enumerate(core.stock_names)}
    inbound = np.zeros((core.n_stock, core.n_links))
    for e, link in enumerate(core.spec.links):
        inbound[pos[link.dst], e] = 1.0
    return inbound


Array = Any
"""A numpy array or a torch tensor: the rule runs on either (numpy for the OR baselines' speed
and exact numpy arithmetic, torch for the differentiable core)."""


def _ops(x: Array) -> tuple[Any, Any, Any]:
    """The three operations the rule needs that numpy and torch spell differently: where,
    max(., 0) and elementwise min."""
    if isinstance(x, Tensor):
        return (
            (lambda c, a: torch.where(c, a, torch.zeros_like(a))),
            (lambda a: a.clamp_min(0.0)),
            torch.minimum,
        )
    return (lambda c, a: np.where(c, a, 0.0)), (lambda a: np.maximum(a, 0.0)), np.minimum


def base_stock_orders(
    position: Array,
    levels: Array,
    split: Array,
    *,
    reorder_points: Array | None = None,
    caps: Array | None = None,
) -> Array:
    """Orders ``[B, n_links]`` of the base-stock rule from inventory positions ``[B, n_stock]``,
    order-up-to ``levels`` ``[n_stock]`` (or ``[B, n_stock]``) and the ``[n_stock, n_links]``
    ``split``; (s, S) with ``reorder_points``, capped with ``caps`` (both ``[n_stock]``). All numpy
    arrays or all torch tensors; in torch, differentiable in ``levels`` (sub-gradient 0 where a
    node orders nothing)."""
    where, positive_part, minimum = _ops(position)
    gap = levels - position
    if reorder_points is not None:
        gap = where(position < reorder_points, gap)
    gap = positive_part(gap)
    if caps is not None:
        gap = minimum(gap, caps)
    return gap @ split


class BaseStockRule:
    """The base-stock rule on one network: the inventory-position map and the order split.

    Args:
        core: the network.
        echelon: echelon (True) or installation (False) inventory positions.
        split: ``[n_stock, n_links]`` non-negative shares of each node's order over its inbound
            links (only those); default equal shares.

    Properties (numpy copies, so the rule cannot be changed through them):
        ip_map: ``[obs_dim, n_stock]``, ``IP = obs @ ip_map`` (:func:`inventory_position_map`).
        split: ``[n_stock, n_links]``, ``orders = gap @ split``.

    :meth:`position` and :meth:`orders` take numpy observations (and return numpy) or torch
    tensors (and return tensors of their dtype and device).
    """

    def __init__(self, core: InventoryCore, *, echelon: bool = False, split: Any = None) -> None:
        if not isinstance(core, InventoryCore):
            raise TypeError(f"core: got {type(core).__name__}; must be an InventoryCore")
        self.core = core
        self.echelon = check_bool("echelon", echelon)
        self._ip_map = inventory_position_map(core, echelon=self.echelon)
        self._split = _check_split(core, split)
        self._tensors: dict[tuple[torch.dtype, torch.device], tuple[Tensor, Tensor]] = {}

    @property
    def ip_map(self) -> np.ndarray:
        """``[obs_dim, n_stock]`` map of flat observations to inventory positions (a copy)."""
        return self._ip_map.copy()

    @property
    def split(self) -> np.ndarray:
        """``[n_stock, n_links]`` shares of each node's order over its inbound links (a copy)."""
        return self._split.copy()

    def _maps(self, like: Array) -> tuple[Array, Array]:
        """``ip_map`` and ``split`` as numpy arrays, or as tensors of ``like``'s dtype and device
        (built once each)."""
        if not isinstance(like, Tensor):
            return self._ip_map, self._split
        key = (like.dtype, like.device)
        if key not in self._tensors:
            self._tensors[key] = (
                torch.as_tensor(self._ip_map, dtype=like.dtype, device=like.device).clone(),
                torch.as_tensor(self._split, dtype=like.dtype, device=like.device).clone(),
            )
        return self._tensors[key]

    def position(self, obs: Array) -> Array:
        """Inventory positions ``[B, n_stock]`` of flat observations ``[B, obs_dim]``."""
        return obs @ self._maps(obs)[0]

    def orders(
        self,
        obs: Array,
        levels: Array,
        *,
        reorder_points: Array | None = None,
        caps: Array | None = None,
    ) -> Array:
        """Orders ``[B, n_links]`` for flat observations ``obs [B, obs_dim]`` (e.g.
        ``core.observe(state)``) and ``levels [n_stock]``, by :func:`base_stock_orders`. With a
        tensor ``obs``, array arguments are converted to its dtype and device and a tensor
        ``levels`` keeps its gradient."""
        ip_map, split = self._maps(obs)
        if isinstance(obs, Tensor):

            def convert(x: Any) -> Any:
                return None if x is None else torch.as_tensor(x, dtype=obs.dtype, device=obs.device)

            levels, reorder_points, caps = convert(levels), convert(reorder_points), convert(caps)
        return base_stock_orders(obs @ ip_map, levels, split, reorder_points=reorder_points, caps=caps)


def _check_split(core: InventoryCore, split: Any) -> np.ndarray:
    inbound = inbound_links(core)
    if split is None:
        return inbound / inbound.sum(1, keepdims=True)
    try:
        arr = np.array(split, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"split: got {split!r:.80}; must be numbers, [n_stock, n_links]") from e
    if (
        arr.shape != inbound.shape
        or not np.all(np.isfinite(arr))
        or np.any((arr != 0) & (inbound == 0))
        or np.any(arr < 0)
    ):
        raise ValueError(
            f"split: got shape {arr.shape}; expected {list(inbound.shape)} [n_stock, n_links] finite "
            "non-negative shares, non-zero only on each node's inbound links"
        )
    return arr


def critical_ratio(shortage: Any, holding: Any) -> Any:
    """``b / (b + h)``: the service probability that minimises the newsvendor cost
    ``h E(S - D)^+ + b E(D - S)^+`` (shortage cost b, holding cost h per unit, b + h > 0)."""
    return shortage / (shortage + holding)


def newsvendor_level(mean: Any, lead_time: Any, ratio: Any, *, std: Any = None, dist: str = "normal") -> Any:
    """Order-up-to level covering the demand of the ``lead_time + 1`` periods an order protects
    with probability ``ratio`` (e.g. :func:`critical_ratio`); per-period demand ``mean`` and
    ``std``, independent across periods.

    * ``normal``: ``(L + 1) mean + Phi^-1(ratio) std sqrt(L + 1)``;
    * ``poisson``: the smallest S with ``P(Poisson((L + 1) mean) <= S) >= ratio`` (``std`` unused).

    Arguments broadcast (numpy); scalars give a float.
    """
    from scipy import stats  # scipy.stats is slow to import: only when a level is computed

    check_choice("dist", dist, NEWSVENDOR_DISTS)
    periods = lead_time + 1
    if dist == "poisson":
        return stats.poisson.ppf(ratio, periods * mean)
    if std is None:
        raise ValueError("std: the normal newsvendor level needs the demand's standard deviation")
    sqrt = np.sqrt if isinstance(periods, np.ndarray) else math.sqrt
    return periods * mean + stats.norm.ppf(ratio) * std * sqrt(periods)
