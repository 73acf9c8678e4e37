"""Network specification of a single-product inventory network.

A :class:`NetworkSpec` is plain, validated data: nodes (raw-material sources, factories,
distributors, retailers, markets), replenishment links between them, market links that carry
customer demand, and the demand model. The transition semantics live in
:mod:`rlsuite.envs.inventory.core`; this module only says *what* the network is.

Conventions (the same as gym-invmgmt unless stated):

* node kinds: ``raw`` (unlimited source, no predecessors, not tracked), ``factory`` (has a
  production capacity ``C`` per period, a yield ``v`` = output units per input unit and an
  operating cost ``o`` per unit shipped), ``distributor``, ``retailer`` (a stocking node that
  supplies at least one market) and ``market`` (demand sink, no successors);
* a replenishment :class:`Link` ``src -> dst`` has a lead time ``L`` (periods; an order placed
  in period t is received in period t + L), a unit price ``p`` paid by ``dst`` when the order
  is filled, a pipeline holding cost ``g`` per unit in transit per period and an optional fixed
  ordering cost ``K`` per period with a positive filled order;
* a :class:`MarketLink` ``retailer -> market`` has a selling price ``p``, a penalty ``b`` per
  unit of unmet demand per period (standing backlog, or lost demand in lost-sales mode) and a
  :class:`DemandSpec`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rlsuite.validation import ArgumentTypeError, check_bool, check_int, check_real, short_repr

from ..validation import real_array

NodeKind = Literal["raw", "factory", "distributor", "retailer", "market"]
NODE_KINDS: tuple[str, ...] = ("raw", "factory", "distributor", "retailer", "market")
DEMAND_DISTS: tuple[str, ...] = ("poisson", "normal", "uniform", "trace")
DEMAND_EFFECTS: tuple[str, ...] = ("trend", "seasonal", "shock")
EVENT_ORDERS: tuple[str, ...] = ("order_first", "receive_first")
MAX_LEAD_TIME = 1000
"""Longest lead time of a link (periods): each period of lead time is a pipeline slot of the state."""
MAX_STORES = 1000
"""Most stores of :meth:`NetworkSpec.one_warehouse`."""

# gym-invmgmt's demand "type" aliases, so its demand configs load unchanged.
_DEMAND_TYPE_EFFECTS: dict[str, tuple[str, ...]] = {
    "stationary": (),
    "trend": ("trend",),
    "seasonal": ("seasonal",),
    "shock": ("shock",),
    "trend+seasonal": ("trend", "seasonal"),
    "seasonal+shock": ("seasonal", "shock"),
    "trend+shock": ("trend", "shock"),
    "trend+seasonal+shock": ("trend", "seasonal", "shock"),
    "combined_chaos": ("trend", "seasonal", "shock"),
}


def _err(field_name: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{field_name}: got {short_repr(value)}; {allowed}")


@dataclass(frozen=True)
class DemandSpec:
    """Exogenous customer demand on one market link (per period, units)."""

    dist: str = "poisson"
    """One of ``poisson``, ``normal`` (clipped at 0), ``uniform`` (on [0, 2 * mean]) or ``trace``."""
    mean: float = 20.0
    """Base mean per period before non-stationary effects."""
    std: float | None = None
    """Standard deviation for ``normal``; ``None`` means sqrt(mean) as in gym-invmgmt."""
    effects: tuple[str, ...] = ()
    """Multiplicative effects on the mean, any of ``trend``, ``seasonal``, ``shock``."""
    trend_slope: float = 0.05
    """Trend: mean_t *= 1 + trend_slope * t."""
    seasonal_amp: float = 0.5
    """Seasonality: mean_t *= 1 + seasonal_amp * sin(2 pi t / seasonal_period)."""
    seasonal_period: float = 30.0
    """Period of the seasonal cycle, in periods."""
    shock_time: int = 15
    """Shock: mean_t *= shock_mag for t >= shock_time."""
    shock_mag: float = 2.0
    """Multiplier applied from ``shock_time`` on."""
    noise_scale: float = 1.0
    """demand = max(0, mean_t + noise_scale * (raw - mean_t)); 0 gives deterministic demand."""
    trace: tuple[float, ...] | None = None
    """Demand per period for ``dist='trace'`` (the last value repeats past the end)."""

    def __post_init__(self) -> None:
        if self.dist not in DEMAND_DISTS:
            raise _err("demand.dist", self.dist, f"allowed: {list(DEMAND_DISTS)}")
        check_real("demand.mean", self.mean, 0.0)
        if self.std is not None:
            check_real("demand.std", self.std, 0.0)
        if not isinstance(self.effects, (tuple, list)) or not all(isinstance(e, str) for e in self.effects):
            raise ArgumentTypeError(
                f"demand.effects: got {short_repr(self.effects)}; must be a sequence of names "
                f"from {list(DEMAND_EFFECTS)}"
            )
        bad = [e for e in self.effects if e not in DEMAND_EFFECTS]
        if bad:
            raise _err("demand.effects", list(self.effects), f"allowed: {list(DEMAND_EFFECTS)}")
        check_int("demand.shock_time", self.shock_time, 0)
        check_real("demand.noise_scale", self.noise_scale, 0.0)
        check_real("demand.seasonal_period", self.seasonal_period, 0.0, low_open=True)
        check_real("demand.shock_mag", self.shock_mag, 0.0)
        check_real("demand.trend_slope", self.trend_slope)
        check_real("demand.seasonal_amp", self.seasonal_amp, 0.0)
        if self.dist == "trace":
            if self.trace is None:
                raise _err("demand.trace", self.trace, "dist='trace' needs a non-empty sequence of demands")
            arr = real_array("demand.trace", self.trace)
            if arr.size == 0:
                raise _err("demand.trace", self.trace, "dist='trace' needs a non-empty sequence of demands")
            if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise _err(
                    "demand.trace", self.trace, "must be a 1-D sequence of finite, non-negative numbers"
                )

    def mean_schedule(self, periods: np.ndarray) -> np.ndarray:
        """Mean demand for each period in ``periods`` (float64 array), effects applied."""
        t = np.asarray(periods, dtype=np.float64)
        if self.dist == "trace":
            assert self.trace is not None
            base = np.asarray(self.trace, dtype=np.float64)
            mu = base[np.minimum(t.astype(np.int64), len(base) - 1)]
        else:
            mu = np.full(t.shape, float(self.mean))
        # Applied in gym-invmgmt's order so that seeded traces agree bit for bit.
        if "trend" in self.effects:
            mu = mu * (1 + self.trend_slope * t)
        if "seasonal" in self.effects:
            mu = mu * (1 + self.seasonal_amp * np.sin(2 * np.pi / self.seasonal_period * t))
        if "shock" in self.effects:
            mu = np.where(t >= self.shock_time, mu * self.shock_mag, mu)
        floor = 0.0 if self.dist == "trace" else 0.1
        return np.maximum(floor, mu)


@dataclass(frozen=True)
class Node:
    """A node of the network."""

    name: str
    """Unique name (gym-invmgmt's integer ids become strings: ``"1"``)."""
    kind: str
    """``raw``, ``factory``, ``distributor``, ``retailer`` or ``market``."""
    I0: float = 0.0
    """Initial on-hand inventory (units)."""
    h: float = 0.0
    """On-hand holding cost per unit per period (charged on end-of-period on-hand)."""
    C: float | None = None
    """Factory production capacity (output units per period); factories only."""
    v: float = 1.0
    """Factory yield: output units per unit of input inventory; factories only."""
    o: float = 0.0
    """Factory operating cost per output unit shipped (charged as o / v per unit)."""


@dataclass(frozen=True)
class Link:
    """A replenishment link ``src -> dst`` whose order quantity is an action."""

    src: str
    dst: str
    L: int = 0
    """Lead time in periods (0 = received in the period it is placed)."""
    p: float = 0.0
    """Unit price paid by ``dst`` to ``src`` for filled orders."""
    g: float = 0.0
    """Pipeline holding cost per unit in transit per period."""
    K: float = 0.0
    """Fixed cost per period in which the filled order is positive."""


@dataclass(frozen=True)
class MarketLink:
    """A link ``retailer -> market`` carrying exogenous customer demand."""

    src: str
    dst: str
    p: float = 0.0
    """Selling price per unit sold."""
    b: float = 0.0
    """Penalty per unit of unmet demand per period (backlogged or lost)."""
    demand: DemandSpec = field(default_factory=DemandSpec)


@dataclass(frozen=True)
class NetworkSpec:
    """A validated single-product inventory network.

    Build one with a class method (:meth:`divergent`, :meth:`serial`, :meth:`single_store`,
    :meth:`one_warehouse`, :meth:`serial_echelon`), from a dict or YAML file
    (:meth:`from_dict`, :meth:`from_yaml`: our format or gym-invmgmt's topology YAML), or
    directly; every constructor validates and raises ``ValueError`` naming the field.
    """

    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    """Replenishment links, in action order."""
    markets: tuple[MarketLink, ...]
    """Market (demand) links, in demand-column order."""
    name: str = "custom"
    backlog: bool = True
    """Default fulfilment mode: True = unmet demand is backlogged, False = lost."""
    event_order: str = "order_first"
    """``order_first`` (gym-invmgmt: suppliers ship from start-of-period stock, then receive)
    or ``receive_first`` (HDPO: receive, then ship from stock including today's arrivals)."""
    demand_correlation: float = 0.0
    """Correlation between the market links' normal demands (all must be ``normal``)."""
    max_order: float | None = None
    """Upper bound of each order in the action space; None = gym-invmgmt's
    max(I0) + max(C) * horizon, or 10 x total mean demand + max(I0) without factories."""

    def __post_init__(self) -> None:
        self._validate()

    # ------------------------------------------------------------------ derived views
    @property
    def stock_nodes(self) -> tuple[Node, ...]:
        """Stocking nodes (factories, distributors, retailers) in spec order: the on-hand layout."""
        return tuple(n for n in self.nodes if n.kind in ("factory", "distributor", "retailer"))

    @property
    def lead_times(self) -> tuple[int, ...]:
        return tuple(link.L for link in self.links)

    @property
    def mean_demand(self) -> float:
        """Total base mean demand per period over all markets."""
        return float(sum(m.demand.mean for m in self.markets))

    def order_bound(self, horizon: int) -> float:
        """Upper bound of one order (the action-space ``high``) for an episode of ``horizon``."""
        if self.max_order is not None:
            return float(self.max_order)
        i0_max = max((n.I0 for n in self.nodes), default=0.0)
        c_max = max((n.C or 0.0 for n in self.nodes), default=0.0)
        if c_max > 0:
            return float(i0_max + c_max * horizon)
        return float(i0_max + 10.0 * max(self.mean_demand, 1.0))

    def replace(self, **changes: Any) -> NetworkSpec:
        """A copy with fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict that :meth:`from_dict` reads back."""
        out: dict[str, Any] = {
            "name": self.name,
            "backlog": self.backlog,
            "event_order": self.event_order,
            "demand_correlation": self.demand_correlation,
            "max_order": self.max_order,
            "nodes": [{k: v for k, v in dataclasses.asdict(n).items() if v is not None} for n in self.nodes],
            "links": [dataclasses.asdict(link) for link in self.links],
            "markets": [],
        }
        for m in self.markets:
            d = dataclasses.asdict(m)
            d["demand"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d["demand"].items()}
            out["markets"].append(d)
        return out

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        if not self.nodes:
            raise _err("nodes", self.nodes, "a network needs at least one node")
        names: dict[str, Node] = {}
        for i, n in enumerate(self.nodes):
            where = f"nodes[{i}]"
            if not isinstance(n, Node):
                raise _err(where, n, "expected a Node")
            if not isinstance(n.name, str) or not n.name:
                raise _err(f"{where}.name", n.name, "expected a non-empty string")
            if n.name in names:
                raise _err(f"{where}.name", n.name, "node names must be unique")
            names[n.name] = n
            if n.kind not in NODE_KINDS:
                raise _err(f"{where}.kind", n.kind, f"allowed: {list(NODE_KINDS)}")
            check_real(f"{where}.I0", n.I0, 0.0)
            check_real(f"{where}.h", n.h, 0.0)
            check_real(f"{where}.o", n.o, 0.0)
            if n.kind == "factory":
                if n.C is None:
                    raise _err(f"{where}.C", n.C, "a factory needs a capacity C >= 0")
                check_real(f"{where}.C", n.C, 0.0)
                check_real(f"{where}.v", n.v, 0.0, low_open=True)
            elif n.C is not None:
                raise _err(f"{where}.C", n.C, f"only factories have a capacity (node kind is {n.kind!r})")
        succ: dict[str, list[str]] = {k: [] for k in names}
        pred: dict[str, list[str]] = {k: [] for k in names}
        seen_edges: set[tuple[str, str]] = set()
        for i, link in enumerate(self.links):
            where = f"links[{i}]"
            if not isinstance(link, Link):
                raise _err(where, link, "expected a Link")
            for end in ("src", "dst"):
                nm = getattr(link, end)
                if not isinstance(nm, str) or nm not in names:
                    raise _err(f"{where}.{end}", nm, f"unknown node; known: {sorted(names)}")
            if names[link.src].kind == "market":
                raise _err(f"{where}.src", link.src, "a market node cannot supply anything")
            if names[link.dst].kind in ("raw", "market"):
                raise _err(
                    f"{where}.dst",
                    link.dst,
                    "a replenishment link must end at a factory, distributor or retailer",
                )
            check_int(f"{where}.L", link.L, 0, MAX_LEAD_TIME)
            check_real(f"{where}.p", link.p, 0.0)
            check_real(f"{where}.g", link.g, 0.0)
            check_real(f"{where}.K", link.K, 0.0)
            if (link.src, link.dst) in seen_edges:
                raise _err(where, (link.src, link.dst), "duplicate link")
            seen_edges.add((link.src, link.dst))
            succ[link.src].append(link.dst)
            pred[link.dst].append(link.src)
        if not self.markets:
            raise _err("markets", self.markets, "a network needs at least one market link")
        for i, m in enumerate(self.markets):
            where = f"markets[{i}]"
            if not isinstance(m, MarketLink):
                raise _err(where, m, "expected a MarketLink")
            if not isinstance(m.src, str) or m.src not in names or names[m.src].kind != "retailer":
                raise _err(f"{where}.src", m.src, "must name a node of kind 'retailer'")
            if not isinstance(m.dst, str) or m.dst not in names or names[m.dst].kind != "market":
                raise _err(f"{where}.dst", m.dst, "must name a node of kind 'market'")
            if not isinstance(m.demand, DemandSpec):
                raise _err(f"{where}.demand", m.demand, "expected a DemandSpec")
            check_real(f"{where}.p", m.p, 0.0)
            check_real(f"{where}.b", m.b, 0.0)
            if (m.src, m.dst) in seen_edges:
                raise _err(where, (m.src, m.dst), "duplicate link")
            seen_edges.add((m.src, m.dst))
            succ[m.src].append(m.dst)
            pred[m.dst].append(m.src)
        for name, n in names.items():
            if n.kind == "raw" and pred[name]:
                raise _err(
                    f"node {name!r}", n.kind, f"a raw-material node has no suppliers, got {pred[name]}"
                )
            if n.kind in ("factory", "distributor", "retailer") and not pred[name]:
                raise _err(f"node {name!r}", n.kind, "a stocking node needs at least one supplier link")
            if n.kind == "market" and not pred[name]:
                raise _err(f"node {name!r}", n.kind, "a market node needs a retailer feeding it")
            if n.kind == "retailer" and not any(names[s].kind == "market" for s in succ[name]):
                raise _err(f"node {name!r}", n.kind, "a retailer must supply at least one market")
        # Cycle check (Kahn's algorithm).
        indeg = {k: len(v) for k, v in pred.items()}
        queue = [k for k, d in indeg.items() if d == 0]
        visited = 0
        while queue:
            k = queue.pop()
            visited += 1
            for s in succ[k]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    queue.append(s)
        if visited != len(names):
            cyc = sorted(k for k, d in indeg.items() if d > 0)
            raise _err("links", cyc, "the network must be acyclic; these nodes lie on a cycle")
        if not isinstance(self.backlog, bool):
            raise ArgumentTypeError(
                f"backlog: got {short_repr(self.backlog)}; expected True (backlog) or False (lost sales)"
            )
        if not isinstance(self.name, str):
            raise ArgumentTypeError(f"name: got {short_repr(self.name)}; must be a string")
        if self.event_order not in EVENT_ORDERS:
            raise _err("event_order", self.event_order, f"allowed: {list(EVENT_ORDERS)}")
        rho = check_real("demand_correlation", self.demand_correlation)
        if rho != 0.0:
            if not -1.0 / max(len(self.markets) - 1, 1) < rho < 1.0:
                raise _err("demand_correlation", rho, "must keep the correlation matrix positive definite")
            if any(m.demand.dist != "normal" for m in self.markets):
                raise _err("demand_correlation", rho, "correlated demand needs dist='normal' on every market")
        if self.max_order is not None:
            check_real("max_order", self.max_order, 0.0, low_open=True)

    # ------------------------------------------------------------------ loaders
    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> NetworkSpec:
        """Build a spec from a mapping.

        Two formats are read:

        * ours (``to_dict``): ``nodes`` with ``name``/``kind``, ``links``, ``markets`` with a
          ``demand`` mapping;
        * gym-invmgmt's topology YAML: ``nodes`` with ``id`` and attributes (kinds inferred as
          gym-invmgmt does) and ``edges`` with ``from``/``to``; market edges carry
          ``demand_dist`` and ``dist_param``.
        """
        if not isinstance(cfg, Mapping):
            raise _err("config", type(cfg).__name__, "expected a mapping")
        if "edges" in cfg:
            return _from_gym_invmgmt_dict(cfg)
        for key in ("nodes", "links", "markets"):
            if key not in cfg:
                raise _err(key, None, f"missing required field {key!r}")
            _check_list(key, cfg[key])
        nodes = []
        for i, d in enumerate(cfg["nodes"]):
            nodes.append(_build(Node, d, f"nodes[{i}]"))
        links = [_build(Link, d, f"links[{i}]") for i, d in enumerate(cfg["links"])]
        markets = []
        for i, d in enumerate(cfg["markets"]):
            if not isinstance(d, Mapping):
                raise _err(f"markets[{i}]", d, "expected a mapping")
            d = dict(d)
            dem = d.pop("demand", {}) or {}
            markets.append(
                _build(
                    MarketLink,
                    {**d, "demand": _demand_from_dict(dem, f"markets[{i}].demand")},
                    f"markets[{i}]",
                )
            )
        extra = {
            k: cfg[k]
            for k in ("name", "backlog", "event_order", "demand_correlation", "max_order")
            if k in cfg
        }
        unknown = set(cfg) - {"nodes", "links", "markets", "description"} - set(extra)
        if unknown:
            raise _err("config", sorted(unknown), "unknown top-level fields")
        return cls(nodes=tuple(nodes), links=tuple(links), markets=tuple(markets), **extra)

    @classmethod
    def from_yaml(cls, path: str | Path) -> NetworkSpec:
        """Load a spec from a YAML file (either format of :meth:`from_dict`)."""
        import yaml

        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"network config not found: {p}")
        with p.open(encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        if not isinstance(cfg, Mapping):
            raise ValueError(f"{p}: expected a YAML mapping with nodes and links, got {type(cfg).__name__}")
        return cls.from_dict(cfg)

    # ------------------------------------------------------------------ built-ins
    @classmethod
    def divergent(cls, *, backlog: bool = True, demand: DemandSpec | None = None) -> NetworkSpec:
        """gym-invmgmt's (= OR-Gym NetworkManagement's) divergent 9-node network, exact defaults.

        Raw materials 7, 8 -> factories 4, 5, 6 -> distributors 2, 3 -> retailer 1 -> market 0;
        11 replenishment links (the actions, in gym-invmgmt's order), Poisson(20) demand.
        """
        backlog = check_bool("backlog", backlog)
        nodes = (
            Node("0", "market"),
            Node("1", "retailer", I0=100, h=0.030),
            Node("2", "distributor", I0=110, h=0.020),
            Node("3", "distributor", I0=80, h=0.015),
            Node("4", "factory", I0=400, C=90, o=0.010, v=1.0, h=0.012),
            Node("5", "factory", I0=350, C=90, o=0.015, v=1.0, h=0.013),
            Node("6", "factory", I0=380, C=80, o=0.012, v=1.0, h=0.011),
            Node("7", "raw"),
            Node("8", "raw"),
        )
        links = (
            Link("2", "1", L=5, p=1.500, g=0.010),
            Link("3", "1", L=3, p=1.600, g=0.015),
            Link("4", "2", L=8, p=1.000, g=0.008),
            Link("4", "3", L=10, p=0.800, g=0.006),
            Link("5", "2", L=9, p=0.700, g=0.005),
            Link("6", "2", L=11, p=0.750, g=0.007),
            Link("6", "3", L=12, p=0.800, g=0.004),
            Link("7", "4", L=0, p=0.150, g=0.000),
            Link("7", "5", L=1, p=0.050, g=0.005),
            Link("8", "5", L=2, p=0.070, g=0.002),
            Link("8", "6", L=0, p=0.200, g=0.000),
        )
        market = MarketLink("1", "0", p=2.0, b=0.1, demand=demand or DemandSpec("poisson", 20.0))
        return cls(nodes, links, (market,), name="divergent", backlog=backlog)

    @classmethod
    def serial(cls, *, backlog: bool = True, demand: DemandSpec | None = None) -> NetworkSpec:
        """gym-invmgmt's serial chain: raw 4 -> factory 3 -> distributor 2 -> retailer 1 -> market 0."""
        backlog = check_bool("backlog", backlog)
        nodes = (
            Node("0", "market"),
            Node("1", "retailer", I0=100, h=0.030),
            Node("2", "distributor", I0=100, h=0.020),
            Node("3", "factory", I0=200, C=100, o=0.010, v=1.0, h=0.010),
            Node("4", "raw"),
        )
        links = (
            Link("2", "1", L=4, p=1.5, g=0.010),
            Link("3", "2", L=4, p=1.0, g=0.005),
            Link("4", "3", L=0, p=0.5, g=0.000),
        )
        market = MarketLink("1", "0", p=2.0, b=0.1, demand=demand or DemandSpec("poisson", 20.0))
        return cls(nodes, links, (market,), name="serial", backlog=backlog)

    @classmethod
    def single_store(
        cls,
        *,
        lead_time: int = 4,
        holding_cost: float = 1.0,
        shortage_cost: float = 9.0,
        backlog: bool = False,
        demand: DemandSpec | None = None,
        initial_inventory: float = 0.0,
    ) -> NetworkSpec:
        """HDPO's single store (``one_store_lost`` / ``one_store_backlogged``), cost-minimisation.

        An unlimited supplier ships to one store with lead time ``lead_time``; the store pays
        ``holding_cost`` per unit left on hand and ``shortage_cost`` per unit of unmet demand
        (lost, or backlogged per period). No prices: reward = -cost. Defaults: Poisson(5), h=1,
        p=9, L=4, lost sales; HDPO's backlogged setting uses ``backlog=True`` and
        ``DemandSpec('normal', 5, std=1.6)``.
        """
        lead_time = check_int("lead_time", lead_time, 0, MAX_LEAD_TIME)
        check_real("holding_cost", holding_cost, 0.0)
        check_real("shortage_cost", shortage_cost, 0.0)
        check_real("initial_inventory", initial_inventory, 0.0)
        backlog = check_bool("backlog", backlog)
        nodes = (
            Node("supplier", "raw"),
            Node("store", "retailer", I0=initial_inventory, h=holding_cost),
            Node("customers", "market"),
        )
        links = (Link("supplier", "store", L=lead_time),)
        market = MarketLink(
            "store", "customers", p=0.0, b=shortage_cost, demand=demand or DemandSpec("poisson", 5.0)
        )
        return cls(nodes, links, (market,), name="single_store", backlog=backlog, event_order="receive_first")

    @classmethod
    def one_warehouse(
        cls,
        *,
        n_stores: int = 3,
        seed: int = 0,
        warehouse_lead_time: int = 3,
        warehouse_holding_cost: float = 0.3,
        correlation: float = 0.5,
        backlog: bool = False,
    ) -> NetworkSpec:
        """HDPO's one warehouse with ``n_stores`` stores (``one_warehouse_lost_demand``).

        Store parameters are drawn once from ``seed`` as in the paper: mean demand U[2.5, 7.5],
        coefficient of variation U[0.25, 0.5] (normal, clipped at 0, pairwise correlation
        ``correlation``), holding cost U[0.7, 1.3], shortage cost U[6.3, 11.7], lead time U{2, 3};
        warehouse holding cost 0.3 and lead time 3; lost sales.
        """
        n_stores = check_int("n_stores", n_stores, 1, MAX_STORES)
        seed = check_int("seed", seed, 0)
        warehouse_lead_time = check_int("warehouse_lead_time", warehouse_lead_time, 0, MAX_LEAD_TIME)
        check_real("warehouse_holding_cost", warehouse_holding_cost, 0.0)
        check_real("correlation", correlation, -1.0, 1.0, high_open=True)
        backlog = check_bool("backlog", backlog)
        rng = np.random.default_rng(seed)
        means = rng.uniform(2.5, 7.5, n_stores)
        cvs = rng.uniform(0.25, 0.5, n_stores)
        hs = rng.uniform(0.7, 1.3, n_stores)
        ps = rng.uniform(6.3, 11.7, n_stores)
        lts = rng.integers(2, 4, n_stores)
        nodes = [Node("supplier", "raw"), Node("warehouse", "distributor", h=warehouse_holding_cost)]
        links = [Link("supplier", "warehouse", L=warehouse_lead_time)]
        markets = []
        for i in range(n_stores):
            nodes.append(Node(f"store{i}", "retailer", h=round(float(hs[i]), 4)))
            nodes.append(Node(f"customers{i}", "market"))
            links.append(Link("warehouse", f"store{i}", L=int(lts[i])))
            mean = round(float(means[i]), 4)
            dem = DemandSpec("normal", mean, std=round(mean * float(cvs[i]), 4))
            markets.append(
                MarketLink(f"store{i}", f"customers{i}", p=0.0, b=round(float(ps[i]), 4), demand=dem)
            )
        return cls(
            tuple(nodes),
            tuple(links),
            tuple(markets),
            name=f"one_warehouse_{n_stores}",
            backlog=backlog,
            event_order="receive_first",
            demand_correlation=correlation if n_stores > 1 else 0.0,
        )

    @classmethod
    def serial_echelon(cls, *, shortage_cost: float = 9.0, demand: DemandSpec | None = None) -> NetworkSpec:
        """HDPO's 4-echelon serial system (``serial_system``): E0 -> E1 -> W -> store, backlog.

        Normal(5, 2) demand clipped at 0; store h=1, p=9, lead time 4; warehouse h=0.5, lead time 3;
        echelons E1 h=0.2 (lead time 4) and E0 h=0.1 (lead time 2 from an unlimited supplier).
        """
        check_real("shortage_cost", shortage_cost, 0.0)
        nodes = (
            Node("supplier", "raw"),
            Node("E0", "distributor", h=0.1),
            Node("E1", "distributor", h=0.2),
            Node("warehouse", "distributor", h=0.5),
            Node("store", "retailer", h=1.0),
            Node("customers", "market"),
        )
        links = (
            Link("supplier", "E0", L=2),
            Link("E0", "E1", L=4),
            Link("E1", "warehouse", L=3),
            Link("warehouse", "store", L=4),
        )
        market = MarketLink(
            "store", "customers", p=0.0, b=shortage_cost, demand=demand or DemandSpec("normal", 5.0, std=2.0)
        )
        return cls(nodes, links, (market,), name="serial_echelon", backlog=True, event_order="receive_first")

    @classmethod
    def builtin(cls, name: str, **kwargs: Any) -> NetworkSpec:
        """A built-in network by name: ``divergent``, ``serial``, ``single_store``,
        ``one_warehouse`` or ``serial_echelon``."""
        builders: dict[str, Callable[..., NetworkSpec]] = {
            "divergent": cls.divergent,
            "network": cls.divergent,
            "serial": cls.serial,
            "single_store": cls.single_store,
            "one_warehouse": cls.one_warehouse,
            "serial_echelon": cls.serial_echelon,
        }
        if not isinstance(name, str) or name not in builders:
            raise _err("network", name, f"allowed: {sorted(builders)} or a NetworkSpec / dict / YAML path")
        import inspect

        allowed = sorted(inspect.signature(builders[name]).parameters)
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise _err(f"{name} network kwargs", unknown, f"unknown; allowed: {allowed}")
        return builders[name](**kwargs)


def _check_list(where: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)):
        raise ArgumentTypeError(f"{where}: got {short_repr(value)}; expected a list")


def _build(kind: type, d: Any, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise _err(where, d, "expected a mapping")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(d) - names
    if unknown:
        raise _err(where, sorted(unknown), f"unknown fields; allowed: {sorted(names)}")
    required = {
        f.name
        for f in dataclasses.fields(kind)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = required - set(d)
    if missing:
        raise _err(where, sorted(missing), "missing required fields")
    try:
        return kind(**d)
    except ArgumentTypeError:  # a field of the wrong type: already names the field
        raise
    except TypeError as e:  # pragma: no cover - guarded above
        raise ValueError(f"{where}: {e}") from e


def _demand_from_dict(d: Mapping[str, Any], where: str) -> DemandSpec:
    if not isinstance(d, Mapping):
        raise _err(where, d, "expected a mapping of demand fields")
    d = dict(d)
    if "type" in d:
        typ = d.pop("type")
        if typ not in _DEMAND_TYPE_EFFECTS:
            raise _err(f"{where}.type", typ, f"allowed: {sorted(_DEMAND_TYPE_EFFECTS)}")
        d.setdefault("effects", _DEMAND_TYPE_EFFECTS[typ])
    for key in ("effects", "trace"):
        if key in d and d[key] is not None:
            if isinstance(d[key], (str, bytes, Mapping)) or not isinstance(d[key], (list, tuple, np.ndarray)):
                raise ArgumentTypeError(f"{where}.{key}: got {short_repr(d[key])}; expected a list")
            d[key] = tuple(np.asarray(d[key]).tolist()) if isinstance(d[key], np.ndarray) else tuple(d[key])
    return _build(DemandSpec, d, where)


def _from_gym_invmgmt_dict(cfg: Mapping[str, Any]) -> NetworkSpec:
    """gym-invmgmt topology YAML -> NetworkSpec, inferring node kinds as gym-invmgmt does."""
    raw_nodes = cfg.get("nodes")
    if not raw_nodes:
        raise _err("nodes", raw_nodes, "a non-empty list of nodes is required")
    _check_list("nodes", raw_nodes)
    attrs: dict[str, dict[str, Any]] = {}
    for i, nd in enumerate(raw_nodes):
        if not isinstance(nd, Mapping) or "id" not in nd:
            raise _err(f"nodes[{i}]", nd, "each node needs an 'id'")
        attrs[str(nd["id"])] = {k: v for k, v in nd.items() if k != "id"}
    edges = cfg["edges"] or []
    _check_list("edges", edges)
    succ: dict[str, list[str]] = {k: [] for k in attrs}
    pred: dict[str, list[str]] = {k: [] for k in attrs}
    for i, e in enumerate(edges):
        if not isinstance(e, Mapping) or "from" not in e or "to" not in e:
            raise _err(f"edges[{i}]", e, "each edge needs 'from' and 'to'")
        s, t = str(e["from"]), str(e["to"])
        for end, nm in (("from", s), ("to", t)):
            if nm not in attrs:
                raise _err(f"edges[{i}].{end}", nm, f"unknown node; known: {sorted(attrs)}")
        succ[s].append(t)
        pred[t].append(s)
    kinds: dict[str, str] = {}
    for name, a in attrs.items():
        if not succ[name]:
            kinds[name] = "market"
        elif not pred[name]:
            kinds[name] = "raw"
        elif "C" in a:
            kinds[name] = "factory"
        else:
            kinds[name] = "distributor"
    for name in attrs:
        if kinds[name] == "distributor" and any(kinds[s] == "market" for s in succ[name]):
            kinds[name] = "retailer"
    nodes = []
    for i, (name, a) in enumerate(attrs.items()):
        a = {k: v for k, v in a.items() if k in ("I0", "h", "C", "v", "o")}
        if kinds[name] in ("factory", "distributor", "retailer"):
            for req in ("I0", "h"):
                if req not in a:
                    raise _err(f"nodes[{i}].{req}", None, f"stocking node {name!r} needs {req!r}")
        nodes.append(_build(Node, {"name": name, "kind": kinds[name], **a}, f"nodes[{i}]"))
    links, markets = [], []
    for i, e in enumerate(edges):
        s, t = str(e["from"]), str(e["to"])
        where = f"edges[{i}]"
        if kinds[t] == "market":
            if "L" in e:
                raise _err(f"{where}.L", e["L"], "market edges carry demand, not a lead time")
            for req in ("p", "b"):
                if req not in e:
                    raise _err(f"{where}.{req}", None, f"market edge {s}->{t} needs {req!r}")
            dist = e.get("demand_dist", "poisson")
            param = e.get("dist_param") or {}
            if not isinstance(param, Mapping):
                raise _err(f"{where}.dist_param", param, "expected a mapping")
            mean = param.get("mu", param.get("loc", 20.0))
            std = param.get("scale") if dist == "normal" else None
            dem = _demand_from_dict({"dist": dist, "mean": mean, "std": std}, f"{where}.demand")
            markets.append(MarketLink(s, t, p=e["p"], b=e["b"], demand=dem))
        else:
            for req in ("L", "p", "g"):
                if req not in e:
                    raise _err(f"{where}.{req}", None, f"replenishment edge {s}->{t} needs {req!r}")
            links.append(
                _build(Link, {"src": s, "dst": t, **{k: e[k] for k in ("L", "p", "g", "K") if k in e}}, where)
            )
    return NetworkSpec(
        tuple(nodes),
        tuple(links),
        tuple(markets),
        name=str(cfg.get("name", "custom")),
        backlog=check_bool("backlog", cfg.get("backlog", True)),
    )


def as_spec(network: NetworkSpec | str | Mapping[str, Any] | Path, **builtin_kwargs: Any) -> NetworkSpec:
    """Coerce a built-in name, a YAML path, a dict or a spec into a :class:`NetworkSpec`."""
    if isinstance(network, NetworkSpec):
        if builtin_kwargs:
            raise _err(
                "network kwargs", sorted(builtin_kwargs), "only built-in names take builder keyword arguments"
            )
        return network
    if isinstance(network, Mapping):
        return NetworkSpec.from_dict(network)
    if isinstance(network, Path) or (isinstance(network, str) and network.endswith((".yaml", ".yml"))):
        return NetworkSpec.from_yaml(network)
    if isinstance(network, str):
        return NetworkSpec.builtin(network, **builtin_kwargs)
    raise _err("network", network, "expected a NetworkSpec, a built-in name, a dict or a YAML path")


__all__: Sequence[str] = [
    "DemandSpec",
    "Link",
    "MarketLink",
    "NetworkSpec",
    "Node",
    "as_spec",
    "demand_from_config",
]


def demand_from_config(cfg: DemandSpec | Mapping[str, Any] | None, base: DemandSpec) -> DemandSpec:
    """A :class:`DemandSpec` from ``cfg`` layered on ``base``.

    ``cfg`` may be a DemandSpec (used as is), our field names, or gym-invmgmt's
    ``demand_config`` keys (``type``, ``base_mu``, ``seasonal_freq``, ``effects``, ...).
    gym-invmgmt's goodwill (``use_goodwill=True``) makes demand depend on past shortages, i.e. on
    actions; it is not supported because every rlsuite demand is exogenous.
    """
    if cfg is None:
        return base
    if isinstance(cfg, DemandSpec):
        return cfg
    if not isinstance(cfg, Mapping):
        raise _err("demand", cfg, "expected a DemandSpec or a mapping")
    d = dict(cfg)
    if d.pop("use_goodwill", False):
        raise _err(
            "demand.use_goodwill", True, "goodwill (endogenous demand) is not supported; demand is exogenous"
        )
    for k in ("gw_growth", "gw_decay", "gw_cap", "gw_floor"):
        d.pop(k, None)
    if "base_mu" in d:
        d["mean"] = d.pop("base_mu")
    if "seasonal_freq" in d:
        freq = check_real("demand.seasonal_freq", d.pop("seasonal_freq"), 0.0, low_open=True)
        d["seasonal_period"] = 2 * math.pi / freq
    if "external_series" in d:
        d["dist"], d["trace"] = "trace", d.pop("external_series")
    if "type" in d:
        typ = d.pop("type")
        if typ not in _DEMAND_TYPE_EFFECTS:
            raise _err("demand.type", typ, f"allowed: {sorted(_DEMAND_TYPE_EFFECTS)}")
        d.setdefault("effects", _DEMAND_TYPE_EFFECTS[typ])
    merged = {f.name: getattr(base, f.name) for f in dataclasses.fields(DemandSpec)}
    merged.update(d)
    return _demand_from_dict(merged, "demand")
