"""The one inventory transition: batched over a leading dimension, in torch.

Every view (the single Gymnasium env, the native vector env, the PettingZoo view) and every
differentiable learner (HDPO) calls :class:`InventoryCore`. The step is differentiable in
continuous order quantities (PyTorch sub-gradients at the kinks of ``min``/``max``).

Event order of one period t (``event_order="order_first"``, gym-invmgmt's order):

1. **Fill orders.** Requests ``q`` (clipped at 0) on each link are filled from the supplier's
   start-of-period on-hand ``X_t``: raw materials fill everything; a distributor has
   ``X_t`` available; a factory ``min(C, v * X_t)`` output units (capacity and input stock).
   Several links of one supplier share it by the ``allocation`` rule: ``fcfs`` (in link order,
   as gym-invmgmt) or ``proportional`` (each link gets the same fraction of its request).
   A factory consumes ``1 / v`` input units per unit shipped.
2. **Arrivals.** Orders placed ``L`` periods ago (this period's orders when ``L = 0``) are
   added to the receiving node's on-hand.
3. **Demand.** Each market's demand, plus the previous period's backlog in backlog mode, is
   served from the retailer's on-hand; unmet demand is backlogged (carried, and charged
   every period) or lost (charged once).
4. **Profit.** ``reward = revenue - procurement - operating - holding - pipeline_holding
   - penalty - fixed`` where revenue = market price x units sold, procurement = price of
   orders filled by raw-material sources (internal transfer prices cancel between nodes),
   operating = o / v per unit shipped by factories, holding = h x end-of-period on-hand,
   pipeline_holding = g x units in transit after this period's orders, penalty = b x unmet
   demand, fixed = K per link with a positive filled order.

``event_order="receive_first"`` (HDPO's order) swaps 1 and 2 for orders placed in earlier
periods: suppliers can ship what arrives in the same period. The **post-decision state** is
the state after steps 1-2 and before demand (:meth:`InventoryCore.post_decision`).

**Backends.** The transition is written once against the few array operations of
:class:`ArrayOps`, which has a torch and a NumPy spelling: ``InventoryCore(..., backend="torch")``
(batched, differentiable, on any device; the default) or ``backend="numpy"`` (CPU, no autograd;
for one network at a time, where a NumPy operation on a handful of numbers costs a fraction of a
torch dispatch). :meth:`InventoryCore.numpy` gives the NumPy twin of a torch core; both compute
the same step from the same compiled matrices (tests check every network, allocation and event
order for equality).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from rlsuite.validation import check_bool

from .spec import EVENT_ORDERS, NetworkSpec

ALLOCATIONS: tuple[str, ...] = ("fcfs", "proportional")
COST_NAMES: tuple[str, ...] = (
    "revenue",
    "procurement",
    "operating",
    "holding",
    "pipeline_holding",
    "penalty",
    "fixed",
)
"""Columns of ``StepInfo.costs``; reward = revenue - the sum of the other six."""
COST_INDEX: dict[str, int] = {name: i for i, name in enumerate(COST_NAMES)}
"""Column of each cost term: pick columns by name, ``info.costs[:, COST_INDEX["holding"]]``."""
ORDER_COST_NAMES: tuple[str, ...] = ("procurement", "operating", "pipeline_holding", "fixed")
"""The cost terms the orders alone determine (revenue, holding and penalty depend on demand)."""
COST_FEATURES: tuple[str, ...] = ("on_hand", "pipeline", "unmet", "sold", "filled")
"""Blocks of the end-of-period quantities the costs are linear in: on-hand ``[n_stock]``, pipeline
``[n_slots]``, unmet and sold ``[n_markets]``, filled orders ``[n_links]`` (fixed costs aside)."""
MAX_DENSE_ENTRIES = 2**24
"""Largest dense transition matrix the core builds (entries; 128 MiB in float64). The pipeline
matrices are ``[n_slots, n_links]`` with ``n_slots`` = the sum of the lead times, so a network
whose lead times and links exceed it is refused up front instead of exhausting memory."""
_ORDER_COSTS = [COST_INDEX[name] for name in ORDER_COST_NAMES]


BACKENDS: tuple[str, ...] = ("torch", "numpy")
"""Array libraries the core computes with (module docstring)."""
_NUMPY_DTYPES = {torch.float64: np.float64, torch.float32: np.float32}


@dataclass(frozen=True)
class ArrayOps:
    """The operations of the transition whose spelling differs between torch and NumPy (the rest,
    ``@``, ``+``, ``*``, ``-``, comparisons and integer indexing, is the same in both)."""

    name: str
    minimum: Callable[[Any, Any], Any]
    clamp_min: Callable[[Any, float], Any]
    clamp_max: Callable[[Any, float], Any]
    where: Callable[[Any, Any, Any], Any]
    cat: Callable[[Sequence[Any]], Any]
    """Concatenate along the last dimension."""
    row_sum: Callable[[Any], Any]
    """``[B, n] -> [B, 1]``."""
    float_like: Callable[[Any, Any], Any]
    """``x`` in the floating dtype of the second argument."""
    to_numpy: Callable[[Any], np.ndarray]


TORCH_OPS = ArrayOps(
    "torch",
    torch.minimum,
    torch.clamp_min,
    lambda x, hi: torch.clamp(x, max=hi),
    torch.where,
    lambda xs: torch.cat(list(xs), 1),
    lambda x: x.sum(1, keepdim=True),
    lambda x, ref: x.to(ref.dtype),
    lambda x: x.detach().cpu().numpy(),
)
NUMPY_OPS = ArrayOps(
    "numpy",
    np.minimum,
    np.maximum,
    np.minimum,
    np.where,
    lambda xs: np.concatenate(xs, 1),
    lambda x: x.sum(1, keepdims=True),
    lambda x, ref: x.astype(ref.dtype),
    np.asarray,
)


class InventoryState(NamedTuple):
    """State of a batch of networks at the start of a period (all tensors, batch first)."""

    on_hand: Tensor
    """``[B, n_stock]`` on-hand inventory of each stocking node (spec order)."""
    pipeline: Tensor
    """``[B, n_slots]`` units in transit: for each link with L > 0 (spec order), the units
    arriving in 0, 1, ..., L - 1 periods (the observation's pipeline block; :meth:`InventoryCore.slot`)."""
    backlog: Tensor
    """``[B, n_markets]`` unmet demand of the previous period (carried in backlog mode)."""
    last_demand: Tensor
    """``[B, n_markets]`` demand of the previous period."""
    period: Tensor
    """``[B]`` int64, the current period t."""


class PostDecisionState(NamedTuple):
    """State after orders are filled and arrivals received, before demand (period t)."""

    on_hand: Tensor
    """``[B, n_stock]`` on-hand after shipments and arrivals."""
    pipeline: Tensor
    """``[B, n_slots]`` in transit after this period's orders, as seen from period t + 1."""
    backlog: Tensor
    """``[B, n_markets]`` backlog carried into this period."""
    period: Tensor
    """``[B]`` the period t."""
    filled: Tensor
    """``[B, n_links]`` orders filled this period."""
    requested: Tensor
    """``[B, n_links]`` orders requested (clipped at 0)."""


class StepInfo(NamedTuple):
    """Per-period outcome (all ``[B, ...]``)."""

    costs: Tensor
    """``[B, 7]`` revenue and the six cost terms, in :data:`COST_NAMES` order."""
    demand: Tensor
    """``[B, n_markets]`` demand of the period."""
    sold: Tensor
    """``[B, n_markets]`` units sold (in backlog mode: including late sales of backlog)."""
    unmet: Tensor
    """``[B, n_markets]`` demand unmet at the end of the period (backlog, or lost)."""
    filled: Tensor
    """``[B, n_links]`` orders filled."""
    requested: Tensor
    """``[B, n_links]`` orders requested (clipped at 0)."""
    node_profit: Tensor | None
    """``[B, n_stock]`` profit of each stocking node (internal prices included), or None."""


def check_core_size(spec: NetworkSpec) -> None:
    """Refuse a network whose dense transition matrices would exceed :data:`MAX_DENSE_ENTRIES`."""
    n_links, n_slots = len(spec.links), sum(link.L for link in spec.links)
    n_stock = len(spec.stock_nodes)
    features = n_stock + n_slots + 2 * len(spec.markets) + n_links
    sizes = {
        "[n_links, n_links]": n_links * n_links,
        "[n_slots, n_links]": n_slots * n_links,
        "[features, n_stock]": features * n_stock,
    }
    name, entries = max(sizes.items(), key=lambda kv: kv[1])
    if entries > MAX_DENSE_ENTRIES:
        raise ValueError(
            f"network size: got {n_links} links, {n_slots} pipeline slots (sum of lead times) and "
            f"{n_stock} stocking nodes; the core's {name} matrix would need {entries} entries, "
            f"limit {MAX_DENSE_ENTRIES}; use fewer links or shorter lead times"
        )


def _column_index(names: tuple[str, ...]) -> dict[str, int]:
    return {name: i for i, name in enumerate(names)}


class InventoryCore:
    """Batched, differentiable transition of a :class:`NetworkSpec`.

    Args:
        spec: the network.
        backlog: True for backlog, False for lost sales; None uses ``spec.backlog``.
        allocation: ``fcfs`` or ``proportional`` sharing of a supplier among its links.
        event_order: ``order_first`` or ``receive_first``; None uses ``spec.event_order``.
        dtype: ``torch.float64`` or ``torch.float32`` (the NumPy backend: the same NumPy dtype).
        device: torch device (``cpu`` for the NumPy backend).
        backend: ``torch`` (tensors) or ``numpy`` (arrays; module docstring).

    The constructor compiles the network into index tensors and linear maps, one builder per
    part: :meth:`_build_supply` (who ships to whom, and how much a supplier can ship),
    :meth:`_build_pipeline` (how units move through the lead-time slots),
    :meth:`_build_markets` (which node serves each market) and :meth:`_build_costs` (the cost
    terms and node profits as linear maps of the end-of-period quantities).
    """

    def __init__(
        self,
        spec: NetworkSpec,
        *,
        backlog: bool | None = None,
        allocation: str = "fcfs",
        event_order: str | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        backend: str = "torch",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend: got {backend!r}; allowed: {list(BACKENDS)}")
        if allocation not in ALLOCATIONS:
            raise ValueError(f"allocation: got {allocation!r}; allowed: {list(ALLOCATIONS)}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype: got {dtype}; allowed: torch.float32, torch.float64")
        if not isinstance(spec, NetworkSpec):
            raise ValueError(f"spec: got {type(spec).__name__}; must be a NetworkSpec")
        check_core_size(spec)
        self.spec = spec
        self.backlog = spec.backlog if backlog is None else check_bool("backlog", backlog)
        self.allocation = allocation
        self.event_order = spec.event_order if event_order is None else event_order
        if self.event_order not in EVENT_ORDERS:
            raise ValueError(f"event_order: got {self.event_order!r}; allowed: {list(EVENT_ORDERS)}")
        self.dtype = dtype
        self.device = torch.device(device)
        if backend == "numpy" and self.device.type != "cpu":
            raise ValueError(f"device: got {self.device}; the numpy backend runs on the CPU")
        self.backend = backend
        self.xp = TORCH_OPS if backend == "torch" else NUMPY_OPS
        self._np_dtype = _NUMPY_DTYPES[dtype]

        stock = spec.stock_nodes
        self.stock_names = tuple(n.name for n in stock)
        self.n_stock, self.n_links, self.n_markets = len(stock), len(spec.links), len(spec.markets)
        self.max_lead = max(spec.lead_times, default=0)
        self._stock_pos = {name: i for i, name in enumerate(self.stock_names)}
        self._nodes = {n.name: n for n in spec.nodes}
        self.src_is_raw = np.array([self._nodes[link.src].kind == "raw" for link in spec.links], bool)
        # Pipeline slots: link e with L > 0 owns slots (e, 0..L-1), "arriving in k periods".
        slots = tuple((e, k) for e, link in enumerate(spec.links) for k in range(link.L))
        self._slot_of = {key: i for i, key in enumerate(slots)}
        self.slot_links: list[int] = [e for e, _ in slots]
        self.n_slots = len(slots)

        self._build_supply()
        self._build_pipeline()
        self._build_markets()
        self._build_costs()
        self._i0_values = np.array([n.I0 for n in stock], np.float64)
        self._one = self._tensor([[1.0]])

    # ------------------------------------------------------------------ builders
    def _tensor(self, values: Any) -> Tensor:
        if self.backend == "numpy":
            return np.array(values, dtype=self._np_dtype)  # type: ignore[return-value]
        return torch.as_tensor(values, dtype=self.dtype, device=self.device)

    def _index(self, values: Any) -> Tensor:
        if self.backend == "numpy":
            return np.array(values, dtype=np.int64)  # type: ignore[return-value]
        return torch.as_tensor(values, dtype=torch.long, device=self.device)

    def _build_supply(self) -> None:
        """Per link: the node it delivers to (``_in_inc``), the supplier's stock it draws
        (``_out_inc``, 1 / v input units per unit shipped), the links sharing its supplier
        (``_same_T``; ``_excl_T``: those before it, for FCFS) and what the supplier can ship:
        ``min(offset + v * X[src_col], C)``, which is X for distributors and inf for raw sources
        (yield 0 on a dummy column plus an infinite offset)."""
        spec, pos, raw = self.spec, self._stock_pos, self.src_is_raw
        n_links, n_stock = self.n_links, self.n_stock
        in_inc = np.zeros((n_links, n_stock))
        out_inc = np.zeros((n_links, n_stock))
        src_col = np.zeros(n_links, np.int64)  # 0 for raw sources, masked by the infinite offset
        excl = np.zeros((n_links, n_links))  # excl[k, j] = 1: j is an earlier link of k's supplier
        same = np.zeros((n_links, n_links))
        for e, link in enumerate(spec.links):
            in_inc[e, pos[link.dst]] = 1.0
            if not raw[e]:
                src_col[e] = pos[link.src]
                out_inc[e, pos[link.src]] = 1.0 / self._nodes[link.src].v
            for j, other in enumerate(spec.links):
                if other.src == link.src:
                    same[e, j] = 1.0
                    if j < e:
                        excl[e, j] = 1.0
        cap = np.array([n.C if n.kind == "factory" else np.inf for n in spec.stock_nodes])
        yld = np.array([n.v if n.kind == "factory" else 1.0 for n in spec.stock_nodes])
        self._in_inc, self._out_inc, self._src_col = (
            self._tensor(in_inc),
            self._tensor(out_inc),
            self._index(src_col),
        )
        self._excl_T, self._same_T = self._tensor(excl.T.copy()), self._tensor(same.T.copy())
        self._src_yield = self._tensor(np.where(raw, 0.0, yld[src_col]))
        self._src_cap = self._tensor(np.where(raw, np.inf, cap[src_col]))
        self._src_offset = self._tensor(np.where(raw, np.inf, 0.0))
        self._raw_mask = self._index(raw) > 0

    def _build_pipeline(self) -> None:
        """How units move in one period: slot (e, 0) arrives at dst(e) (``_head_in``), slot
        (e, k + 1) moves to (e, k) (``_shift_src``, ``_shift_mask``), this period's filled order
        enters (e, L - 1) (``_place``) or, for L = 0, arrives at once (``_l0_in``)."""
        spec, pos, slot = self.spec, self._stock_pos, self._slot_of
        n_slots, n_links, n_stock = self.n_slots, self.n_links, self.n_stock
        head_in = np.zeros((n_slots, n_stock))
        slot_link = np.zeros((n_slots, n_links))
        shift_src = np.zeros(n_slots, np.int64)
        shift_mask = np.zeros(n_slots)
        place = np.zeros((n_links, n_slots))
        l0_in = np.zeros((n_links, n_stock))
        for e, link in enumerate(spec.links):
            if link.L == 0:
                l0_in[e, pos[link.dst]] = 1.0
                continue
            for k in range(link.L):
                slot_link[slot[(e, k)], e] = 1.0
                if k + 1 < link.L:
                    shift_src[slot[(e, k)]], shift_mask[slot[(e, k)]] = slot[(e, k + 1)], 1.0
            head_in[slot[(e, 0)], pos[link.dst]] = 1.0
            place[e, slot[(e, link.L - 1)]] = 1.0
        self._head_in, self._slot_link_mat = self._tensor(head_in), self._tensor(slot_link)
        self._shift_src, self._shift_mask = self._index(shift_src), self._tensor(shift_mask)
        self._place, self._l0_in = self._tensor(place), self._tensor(l0_in)
        self._slot_pos = (self._index(self.slot_links), self._index([k for (_, k) in slot]))

    def _build_markets(self) -> None:
        """The retailer serving each market (``_m_ret``, ``_m_inc``) and, where a retailer serves
        several markets, the markets served before it (``_m_excl_T``)."""
        markets, pos = self.spec.markets, self._stock_pos
        m_inc = np.zeros((self.n_markets, self.n_stock))
        m_excl = np.zeros((self.n_markets, self.n_markets))
        for i, m in enumerate(markets):
            m_inc[i, pos[m.src]] = 1.0
            for j in range(i):
                if markets[j].src == m.src:
                    m_excl[i, j] = 1.0
        self._shared_retailers = bool(m_excl.any())
        self._m_ret = self._index([pos[m.src] for m in markets])
        self._m_inc, self._m_excl_T = self._tensor(m_inc), self._tensor(m_excl.T.copy())

    def _feature_blocks(self) -> dict[str, slice]:
        """Where each block of :data:`COST_FEATURES` sits in the cost maps' input."""
        sizes = (self.n_stock, self.n_slots, self.n_markets, self.n_markets, self.n_links)
        ends = np.cumsum(sizes).tolist()
        return {
            name: slice(end - size, end) for name, size, end in zip(COST_FEATURES, sizes, ends, strict=True)
        }

    def _build_costs(self) -> None:
        """The cost terms (``_cmap``, columns :data:`COST_NAMES`) and each stocking node's profit
        (``_pmap``) as linear maps of the end-of-period quantities; fixed costs K per link with a
        positive filled order are added apart (``_fixed_t`` into column ``fixed``)."""
        self._cmap = self._tensor(self._cost_map())
        self._pmap = self._tensor(self._node_profit_map())
        fixed = np.array([link.K for link in self.spec.links])
        self._has_fixed = bool(fixed.any())
        self._fixed_t = self._tensor(fixed)
        self._fixed_col = self._tensor([1.0 if name == "fixed" else 0.0 for name in COST_NAMES])
        self._signs = self._tensor([1.0 if name == "revenue" else -1.0 for name in COST_NAMES])
        self._order_cost_signs = self._tensor(
            [-1.0 if i in _ORDER_COSTS else 0.0 for i in range(len(COST_NAMES))]
        )

    def _cost_map(self) -> np.ndarray:
        """``[features, 7]``: revenue = p x sold, procurement = p x orders filled by raw sources
        (internal prices cancel), operating = o / v x units a factory ships, holding = h x on-hand,
        pipeline holding = g x units in transit, penalty = b x unmet demand."""
        spec, blocks, col = self.spec, self._feature_blocks(), COST_INDEX
        cmap = np.zeros((blocks["filled"].stop, len(COST_NAMES)))
        cmap[blocks["on_hand"], col["holding"]] = [n.h for n in spec.stock_nodes]
        cmap[blocks["pipeline"], col["pipeline_holding"]] = [spec.links[e].g for e in self.slot_links]
        cmap[blocks["unmet"], col["penalty"]] = [m.b for m in spec.markets]
        cmap[blocks["sold"], col["revenue"]] = [m.p for m in spec.markets]
        filled = blocks["filled"].start
        for e, link in enumerate(spec.links):
            src = self._nodes[link.src]
            if self.src_is_raw[e]:
                cmap[filled + e, col["procurement"]] = link.p
            elif src.kind == "factory":
                cmap[filled + e, col["operating"]] = src.o / src.v
        return cmap

    def _node_profit_map(self) -> np.ndarray:
        """``[features, n_stock]``: a node earns the price of what it sells (markets) or ships
        (internal prices included) and pays for what it receives, its operating cost, holding,
        the pipeline holding of its inbound links and its markets' penalties."""
        spec, blocks, pos = self.spec, self._feature_blocks(), self._stock_pos
        pmap = np.zeros((blocks["filled"].stop, self.n_stock))
        pmap[blocks["on_hand"]] = -np.diag([n.h for n in spec.stock_nodes])
        for i, e in enumerate(self.slot_links):
            pmap[blocks["pipeline"].start + i, pos[spec.links[e].dst]] -= spec.links[e].g
        for i, m in enumerate(spec.markets):
            pmap[blocks["unmet"].start + i, pos[m.src]] -= m.b
            pmap[blocks["sold"].start + i, pos[m.src]] += m.p
        filled = blocks["filled"].start
        for e, link in enumerate(spec.links):
            pmap[filled + e, pos[link.dst]] -= link.p
            if not self.src_is_raw[e]:
                src = self._nodes[link.src]
                pmap[filled + e, pos[link.src]] += link.p
                if src.kind == "factory":
                    pmap[filled + e, pos[link.src]] -= src.o / src.v
        return pmap

    # ------------------------------------------------------------------ state
    def initial_state(self, batch: int) -> InventoryState:
        """The spec's initial state (on-hand ``I0``, empty pipelines, no backlog) for ``batch`` copies."""
        if batch < 1:
            raise ValueError(f"batch: got {batch}; must be >= 1")
        return InventoryState(
            on_hand=self._tensor(np.tile(self._i0_values, (batch, 1))),
            pipeline=self._tensor(np.zeros((batch, self.n_slots))),
            backlog=self._tensor(np.zeros((batch, self.n_markets))),
            last_demand=self._tensor(np.zeros((batch, self.n_markets))),
            period=self._index(np.zeros(batch, np.int64)),
        )

    # ------------------------------------------------------------------ transition
    def post_decision(self, state: InventoryState, orders: Tensor) -> PostDecisionState:
        """Fill ``orders`` ``[B, n_links]`` (units) and receive arrivals: the deterministic part of a step."""
        xp = self.xp
        q = xp.clamp_min(orders, 0.0)
        pipe = state.pipeline
        on_hand = state.on_hand
        due = pipe @ self._head_in  # units ordered earlier that arrive this period, per node
        if self.event_order == "receive_first":
            on_hand = on_hand + due
        avail = self._supply(on_hand)
        if self.allocation == "fcfs":
            # Earlier links of a supplier take min(their cumulative request, avail); the rest is left.
            taken = xp.minimum(q @ self._excl_T, avail)
            filled = xp.minimum(q, avail - taken)
        else:
            filled = self.proportional_fill(q, avail)
        received = filled @ self._l0_in  # L = 0 orders arrive at once
        if self.event_order == "order_first":
            received = received + due
        on_hand = on_hand + received - filled @ self._out_inc
        pipe = pipe[:, self._shift_src] * self._shift_mask + filled @ self._place
        return PostDecisionState(on_hand, pipe, state.backlog, state.period, filled, q)

    def _supply(self, on_hand: Tensor) -> Tensor:
        # Output units each link's supplier can ship: min(C, v * X) (factories), X (others), inf (raw).
        return self.xp.minimum(self._src_offset + on_hand[:, self._src_col] * self._src_yield, self._src_cap)

    def available(self, state: InventoryState) -> Tensor:
        """``[B, n_links]`` units each link's supplier can ship this period (shared among the
        supplier's links; inf for raw-material sources): its on-hand, plus this period's
        arrivals under ``receive_first``; ``min(C, v * X)`` for factories."""
        on_hand = state.on_hand
        if self.event_order == "receive_first":
            on_hand = on_hand + state.pipeline @ self._head_in
        return self._supply(on_hand)

    def proportional_fill(self, requests: Tensor, avail: Tensor) -> Tensor:
        """Scale non-negative ``requests`` ``[B, n_links]`` so that no supplier ships more than
        ``avail`` (:meth:`available`): every link of a supplier gets the same fraction
        ``min(1, avail / total request)``. Differentiable; raw sources are never scaled."""
        xp = self.xp
        total = requests @ self._same_T
        # Raw sources are masked before the division so no inf reaches autograd.
        avail = xp.where(self._raw_mask, self._one, avail)
        ratio = xp.clamp_max(avail / xp.clamp_min(total, 1e-12), 1.0)
        return requests * xp.where(self._raw_mask, self._one, ratio)

    def realize_demand(
        self, post: PostDecisionState, demand: Tensor, *, node_profit: bool = False
    ) -> tuple[InventoryState, Tensor, StepInfo]:
        """Serve ``demand`` ``[B, n_markets]`` from a post-decision state; returns
        ``(next_state, reward [B], info)``."""
        xp = self.xp
        eff = demand + post.backlog if self.backlog else demand
        stock = xp.clamp_min(post.on_hand[:, self._m_ret], 0.0)  # never sell a rounding residue (-1e-15)
        if self._shared_retailers:
            stock = stock - xp.minimum(eff @ self._m_excl_T, stock)
        sold = xp.minimum(eff, stock)
        unmet = eff - sold
        on_hand = post.on_hand - sold @ self._m_inc
        feats = xp.cat([on_hand, post.pipeline, unmet, sold, post.filled])
        costs = feats @ self._cmap
        fixed = None
        if self._has_fixed:
            fixed = (post.filled > 0) * self._fixed_t
            costs = costs + xp.row_sum(fixed) * self._fixed_col
        reward = costs @ self._signs
        profit = None
        if node_profit:
            profit = feats @ self._pmap
            if fixed is not None:
                profit = profit - fixed @ self._in_inc
        nxt = InventoryState(on_hand, post.pipeline, unmet, demand, post.period + 1)
        info = StepInfo(costs, demand, sold, unmet, post.filled, post.requested, profit)
        return nxt, reward, info

    def post_decision_observation(self, state: InventoryState, post: PostDecisionState) -> Tensor:
        """``[B, obs_dim]`` observation of a post-decision state in the flat layout of :meth:`observe`
        (on-hand and pipeline after this period's orders and arrivals, the backlog carried in, the
        previous period's demand, period t): the input of a post-decision critic (PDPPO)."""
        return self.observe(
            InventoryState(post.on_hand, post.pipeline, post.backlog, state.last_demand, post.period)
        )

    def post_decision_reward(self, costs: Tensor) -> Tensor:
        """``[B]`` deterministic part of the reward, from ``StepInfo.costs``: minus procurement,
        operating, pipeline holding and fixed costs, which the orders alone determine (revenue,
        holding and penalty depend on demand)."""
        return costs @ self._order_cost_signs

    def step(
        self, state: InventoryState, orders: Tensor, demand: Tensor, *, node_profit: bool = False
    ) -> tuple[InventoryState, Tensor, StepInfo]:
        """One period: ``orders [B, n_links]``, ``demand [B, n_markets]`` -> ``(state, reward [B], info)``."""
        return self.realize_demand(self.post_decision(state, orders), demand, node_profit=node_profit)

    # ------------------------------------------------------------------ observations
    @property
    def obs_dim(self) -> int:
        return 2 * self.n_markets + self.n_stock + self.n_slots + 2

    def observe(self, state: InventoryState) -> Tensor:
        """Flat observation ``[B, obs_dim]`` in gym-invmgmt's layout:

        ``[last demand (n_markets) | unmet demand of last period (n_markets) | on-hand of each
        stocking node (n_stock) | for each link with L > 0, units arriving in 0..L-1 periods
        (sum of L) | period t | 1.0]``. The last entry is gym-invmgmt's goodwill multiplier,
        constant here because demand is exogenous.
        """
        period = self.xp.float_like(state.period[:, None], self._one)
        return self.xp.cat(
            [state.last_demand, state.backlog, state.on_hand, state.pipeline, period, 0.0 * period + 1.0]
        )

    def state_from_observation(self, obs: Tensor) -> InventoryState:
        """The state a flat observation ``[B, obs_dim]`` describes (inverse of :meth:`observe`):
        the flat layout holds the whole state, so policies written on states also act on
        observations."""
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(
                f"obs: expected shape [B, {self.obs_dim}] (the flat observation), got {tuple(obs.shape)}"
            )
        M, nS, S = self.n_markets, self.n_stock, self.n_slots
        o = 2 * M + nS
        return InventoryState(
            on_hand=obs[:, 2 * M : o],
            pipeline=obs[:, o : o + S],
            backlog=obs[:, M : 2 * M],
            last_demand=obs[:, :M],
            period=obs[:, o + S].round().long(),
        )

    @property
    def pipeline_slots(self) -> tuple[tuple[int, int], ...]:
        """``(link, k)`` of each column of ``InventoryState.pipeline``, in column order: the units
        arriving on ``link`` (index into ``spec.links``) in ``k`` periods. Read-only (a tuple)."""
        return tuple(self._slot_of)

    def slot(self, link: int, k: int) -> int:
        """Column of ``pipeline`` holding the units arriving on ``link`` in ``k`` periods."""
        if (link, k) not in self._slot_of:
            raise ValueError(f"slot: link {link} has no slot {k} (lead time {self.spec.links[link].L})")
        return self._slot_of[(link, k)]

    def observation_index(self) -> dict[str, Any]:
        """Where each quantity sits in the flat observation: ``demand``, ``unmet`` (per market),
        ``on_hand`` (per stocking node), ``pipeline`` (a list, per link, of the indices of its
        arrival slots; empty for L = 0) and ``period`` (an int)."""
        M, nS = self.n_markets, self.n_stock
        o = 2 * M + nS
        pipeline = []
        for link in self.spec.links:
            pipeline.append(list(range(o, o + link.L)))
            o += link.L
        return {
            "demand": list(range(M)),
            "unmet": list(range(M, 2 * M)),
            "on_hand": list(range(2 * M, 2 * M + nS)),
            "pipeline": pipeline,
            "period": o,
        }

    def observation_names(self) -> list[str]:
        """Names of the flat observation's entries (same order as :meth:`observe`)."""
        names = [f"demand[{m.src}->{m.dst}]" for m in self.spec.markets]
        names += [f"unmet[{m.src}->{m.dst}]" for m in self.spec.markets]
        names += [f"on_hand[{n}]" for n in self.stock_names]
        for link in self.spec.links:
            names += [f"arriving_in_{k}[{link.src}->{link.dst}]" for k in range(link.L)]
        return [*names, "period", "demand_multiplier"]

    def _with(self, **options: Any) -> InventoryCore:
        """A core of the same network and options, with ``options`` changed."""
        kwargs: dict[str, Any] = dict(
            backlog=self.backlog, allocation=self.allocation, event_order=self.event_order, dtype=self.dtype
        )
        return InventoryCore(self.spec, **{**kwargs, **options})

    def to(self, device: str | torch.device) -> InventoryCore:
        """A copy of this core on another device (torch backend)."""
        return self._with(device=device)

    def numpy(self) -> InventoryCore:
        """This core with the NumPy backend (same network, options and dtype; module docstring):
        states are ``InventoryState`` tuples of arrays, and :meth:`state_to_torch` converts back."""
        return self._with(backend="numpy")

    def state_to_torch(self, state: InventoryState, device: str | torch.device = "cpu") -> InventoryState:
        """A NumPy-backend state as torch tensors (of this core's dtype; ``period`` int64)."""

        def floats(x: Any) -> Tensor:
            return torch.as_tensor(np.asarray(x), dtype=self.dtype, device=device)

        return InventoryState(
            floats(state.on_hand),
            floats(state.pipeline),
            floats(state.backlog),
            floats(state.last_demand),
            torch.as_tensor(np.asarray(state.period), dtype=torch.long, device=device),
        )

    # ------------------------------------------------------------------ graph observation
    NODE_FEATURES: tuple[str, ...] = (
        "on_hand",
        "in_transit",
        "last_demand",
        "unmet",
        "holding_cost",
        "capacity",
        "is_raw",
        "is_factory",
        "is_distributor",
        "is_retailer",
        "is_market",
    )
    _NODE_COLUMN = _column_index(NODE_FEATURES)
    EDGE_FEATURES: tuple[str, ...] = (
        "lead_time",
        "price",
        "pipeline_cost",
        "penalty",
        "in_transit",
        "is_market",
    )
    _EDGE_COLUMN = _column_index(EDGE_FEATURES)

    def graph_static(self) -> dict[str, np.ndarray]:
        """Static parts of the graph view: ``edge_index [2, n_edges]`` (replenishment links
        then market links, node indices in spec order) and constant node/edge features."""
        spec = self.spec
        idx = {n.name: i for i, n in enumerate(spec.nodes)}
        edges = [(link.src, link.dst) for link in spec.links] + [(m.src, m.dst) for m in spec.markets]
        edge_index = np.array([[idx[s] for s, _ in edges], [idx[d] for _, d in edges]], np.int64).reshape(
            2, -1
        )
        nf, ef = self._NODE_COLUMN, self._EDGE_COLUMN
        node_static = np.zeros((len(spec.nodes), len(self.NODE_FEATURES)), np.float64)
        for i, n in enumerate(spec.nodes):
            node_static[i, nf["holding_cost"]] = n.h
            node_static[i, nf["capacity"]] = n.C or 0.0
            node_static[i, nf["is_" + n.kind]] = 1.0
        edge_static = np.zeros((len(edges), len(self.EDGE_FEATURES)), np.float64)
        for e, link in enumerate(spec.links):
            edge_static[e, [ef["lead_time"], ef["price"], ef["pipeline_cost"]]] = (link.L, link.p, link.g)
        for i, m in enumerate(spec.markets):
            edge_static[self.n_links + i, [ef["price"], ef["penalty"], ef["is_market"]]] = (m.p, m.b, 1.0)
        return {"edge_index": edge_index, "node_static": node_static, "edge_static": edge_static}

    def graph_observation(self, state: InventoryState) -> dict[str, Tensor]:
        """Graph view for GNN policies (batch first):

        ``node_features [B, n_nodes, 11]`` (:attr:`NODE_FEATURES`; market nodes carry their
        market's last demand and unmet demand), ``edge_features [B, n_edges, 6]``
        (:attr:`EDGE_FEATURES`), ``pipeline [B, n_links, max(1, max_L)]`` (units arriving in
        0, 1, ... periods) and ``period [B, 1]``. ``edge_index`` is static: :meth:`graph_static`.
        """
        if not hasattr(self, "_graph"):
            st = self.graph_static()
            spec = self.spec
            idx = {n.name: i for i, n in enumerate(spec.nodes)}
            self._graph: dict[str, Any] = {
                "node_static": torch.as_tensor(st["node_static"], dtype=self.dtype, device=self.device),
                "edge_static": torch.as_tensor(st["edge_static"], dtype=self.dtype, device=self.device),
                "stock_nodes": torch.as_tensor([idx[n] for n in self.stock_names], device=self.device),
                "market_nodes": torch.as_tensor([idx[m.dst] for m in spec.markets], device=self.device),
                "n_nodes": len(spec.nodes),
            }
        g = self._graph
        b = state.on_hand.shape[0]
        in_transit = state.pipeline @ self._slot_link_mat  # [B, n_links]
        node = g["node_static"].expand(b, -1, -1).clone()
        nf, ef = self._NODE_COLUMN, self._EDGE_COLUMN
        node[:, g["stock_nodes"], nf["on_hand"]] = state.on_hand
        node[:, g["stock_nodes"], nf["in_transit"]] = in_transit @ self._in_inc
        node[:, g["market_nodes"], nf["last_demand"]] = state.last_demand
        node[:, g["market_nodes"], nf["unmet"]] = state.backlog
        edge = g["edge_static"].expand(b, -1, -1).clone()
        edge[:, : self.n_links, ef["in_transit"]] = in_transit
        width = max(1, self.max_lead)
        pipeline = torch.zeros(b, self.n_links, width, dtype=self.dtype, device=self.device)
        pipeline[:, self._slot_pos[0], self._slot_pos[1]] = state.pipeline
        return {
            "node_features": node,
            "edge_features": edge,
            "pipeline": pipeline,
            "period": state.period.to(self.dtype).unsqueeze(1),
        }
