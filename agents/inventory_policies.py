"""Deterministic inventory policies on the differentiable core, for HDPO.

Every policy is an ``nn.Module`` built from an :class:`InventoryCore` that maps the flat
observation ``[B, obs_dim]`` (which holds the whole state) to orders ``[B, n_links]``, so the
same weights act in the batched core during training and on any ``InvMgmt`` env afterwards.

* :class:`InventoryMlpPolicy` (``"MlpPolicy"``): an MLP on the on-hand, pipeline (and backlog)
  entries scaled by the mean demand, softplus outputs in units of the mean demand (HDPO's
  vanilla network), with a feasibility layer.
* :class:`BaseStockParamPolicy` (``"BaseStockPolicy"``, ``"EchelonStockPolicy"``): order-up-to
  levels (installation or echelon) as the only parameters, trained by the same gradient.
* :class:`GNNPolicy` (``"GNNPolicy"``): message passing with torch-geometric over the network
  graph (the env's ``dict`` observation view); one set of weights for any number of stores.

Feasibility layers (``feasibility=``): ``"proportional"`` scales the requests on a supplier's
links by ``min(1, available / total request)``; ``"softmax"`` splits a supplier's available
stock over its links and a "keep" share by a softmax of the network's logits (HDPO's
warehouse-to-store allocation); ``"none"`` leaves it to the env's allocation rule. Links
supplied by raw-material sources are never constrained.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rlsuite.envs.inventory.base_stock import BaseStockRule, base_stock_orders, downstream_closure
from rlsuite.envs.inventory.core import InventoryCore
from rlsuite.envs.inventory.rollout import link_scale, node_demand_moments
from rlsuite.validation import check_bool, check_choice, check_int

from .common.networks import MLP, activation_class
from .common.registry import INVENTORY_POLICIES, register_policy

FEASIBILITY = ("none", "proportional", "softmax")


class InventoryPolicyNet(nn.Module, ABC):
    """Base class: a deterministic policy ``obs [B, obs_dim] -> orders [B, n_links]`` on ``core``."""

    link_scale: Tensor
    group: Tensor
    raw_links: Tensor
    supplier_link: Tensor

    def __init__(self, core: InventoryCore, feasibility: str = "none") -> None:
        super().__init__()
        check_choice("feasibility", feasibility, FEASIBILITY)
        self.core = core
        self.feasibility = feasibility
        self.n_links = core.n_links
        self._const("link_scale", link_scale(core), dtype=torch.float32)
        raw = core.src_is_raw
        suppliers = sorted({link.src for e, link in enumerate(core.spec.links) if not raw[e]})
        self.supplier_names = suppliers
        # group[e, s] = 1 when link e ships from (non-raw) supplier s.
        group = np.zeros((core.n_links, len(suppliers)))
        for e, link in enumerate(core.spec.links):
            if not raw[e]:
                group[e, suppliers.index(link.src)] = 1.0
        self._const("group", group, dtype=torch.float32)
        self._const("raw_links", raw)
        # A supplier's availability is the same on all of its links: take it from its first link.
        first = [int(np.nonzero(group[:, s])[0][0]) for s in range(len(suppliers))]
        self._const("supplier_link", first, dtype=torch.long)

    def _const(self, name: str, value: Any, dtype: torch.dtype | None = None) -> None:
        """A buffer derived from the network (not saved: a policy loads onto another network of
        the same family when its weights fit)."""
        self.register_buffer(name, torch.as_tensor(value, dtype=dtype), persistent=False)

    @property
    def n_keep_logits(self) -> int:
        """Extra outputs the network needs: one "keep" logit per supplier for ``softmax``."""
        return len(self.supplier_names) if self.feasibility == "softmax" else 0

    def feasible(self, obs: Tensor, raw_out: Tensor) -> Tensor:
        """Orders from the network's raw outputs ``[B, n_links + n_keep_logits]``."""
        scale = self.link_scale.to(raw_out.dtype)
        out, keep = raw_out[:, : self.n_links], raw_out[:, self.n_links :]
        requests = nn.functional.softplus(out) * scale
        if self.feasibility == "none" or not len(self.supplier_names):
            return requests
        state = self.core.state_from_observation(obs.to(self.core.dtype))
        avail = self.core.available(state).to(raw_out.dtype)
        if self.feasibility == "proportional":
            return self.core.proportional_fill(requests.to(self.core.dtype), avail.to(self.core.dtype)).to(
                raw_out.dtype
            )
        # softmax over each supplier's links plus its keep logit, times the supplier's stock.
        group = self.group.to(raw_out.dtype)
        shift = torch.maximum(out.max(1, keepdim=True).values, keep.max(1, keepdim=True).values).detach()
        w = torch.exp(out - shift)
        denom = w @ group + torch.exp(keep - shift)  # [B, n_suppliers]
        stock = avail[:, self.supplier_link].clamp_min(0.0)  # [B, n_suppliers]
        share = (w * ((stock / denom) @ group.T)).to(raw_out.dtype)
        return torch.where(self.raw_links, requests, share)

    @abstractmethod
    def forward(self, obs: Tensor) -> Tensor:
        """Orders ``[B, n_links]`` for flat observations ``[B, obs_dim]``."""


class InventoryMlpPolicy(InventoryPolicyNet):
    """HDPO's vanilla policy: an MLP on the state entries scaled by the mean demand.

    Args:
        core: the network.
        net_arch: hidden sizes (HDPO: [32, 32, 32] for one store, wider for networks).
        activation_fn: ``"elu"`` (HDPO) or another name / class.
        features: which state entries feed the network, from ``on_hand``, ``pipeline``,
            ``unmet``, ``demand`` (last period's), ``period`` (t / 100; for finite horizons such as
            ``InvMgmt-v0``'s 30 periods); default on-hand and pipeline, plus unmet demand
            in backlog mode.
        feasibility: ``none``, ``proportional`` or ``softmax`` (module docstring).
    """

    cols: Tensor
    in_scale: Tensor

    FEATURES = ("on_hand", "pipeline", "unmet", "demand", "period")
    PERIOD_SCALE = 100.0

    def __init__(
        self,
        core: InventoryCore,
        net_arch: list[int] | None = None,
        activation_fn: type[nn.Module] | str = "elu",
        features: tuple[str, ...] | list[str] | None = None,
        feasibility: str = "proportional",
    ) -> None:
        super().__init__(core, feasibility)
        if features is None:
            features = ("on_hand", "pipeline", "unmet") if core.backlog else ("on_hand", "pipeline")
        if not isinstance(features, (list, tuple)) or not all(isinstance(f, str) for f in features):
            raise TypeError(f"features: got {features!r}; must be a list of names from {list(self.FEATURES)}")
        bad = set(features) - set(self.FEATURES)
        if bad or not features:
            raise ValueError(
                f"features: got {list(features)}; allowed: non-empty subset of {list(self.FEATURES)}"
            )
        self.features = tuple(features)
        idx = core.observation_index()
        mean, _ = node_demand_moments(core)
        m_mean = np.array([max(m.demand.mean, 1e-3) for m in core.spec.markets])
        pos = {n: i for i, n in enumerate(core.stock_names)}
        cols: list[int] = []
        scale: list[float] = []
        for f in self.features:
            if f == "on_hand":
                cols += idx["on_hand"]
                scale += [max(v, 1e-3) for v in mean]
            elif f == "pipeline":
                for e, slots in enumerate(idx["pipeline"]):
                    cols += slots
                    scale += [max(mean[pos[core.spec.links[e].dst]], 1e-3)] * len(slots)
            elif f == "unmet":
                cols += idx["unmet"]
                scale += m_mean.tolist()
            elif f == "period":  # finite horizons: end-of-horizon effects
                cols.append(idx["period"])
                scale.append(self.PERIOD_SCALE)
            else:
                cols += idx["demand"]
                scale += m_mean.tolist()
        self._const("cols", cols, dtype=torch.long)
        self._const("in_scale", scale, dtype=torch.float32)
        self.net = MLP(
            len(cols),
            [32, 32, 32] if net_arch is None else net_arch,
            activation_fn,
            self.n_links + self.n_keep_logits,
            field="net_arch",
        )

    def forward(self, obs: Tensor) -> Tensor:
        x = obs[:, self.cols].to(self.in_scale.dtype) / self.in_scale
        return self.feasible(obs, self.net(x))


register_policy("MlpPolicy", InventoryMlpPolicy, inventory=True)
register_policy("InventoryMlpPolicy", InventoryMlpPolicy, inventory=True)


class BaseStockParamPolicy(InventoryPolicyNet):
    """Installation (``echelon=False``) or echelon base-stock with trainable levels.

    Orders ``max(S_j - IP_j, 0)`` split over j's inbound links: the one base-stock rule of
    :mod:`rlsuite.envs.inventory.base_stock` (as :class:`rlsuite.baselines.BaseStockPolicy`), on
    tensors. The levels start at the newsvendor levels (or ``init``) and are learned as
    ``S = mean demand x theta`` so one learning rate suits every network. Sub-gradients flow
    through ``max``.
    """

    level_scale: Tensor
    ip_map: Tensor
    split: Tensor

    def __init__(
        self,
        core: InventoryCore,
        echelon: bool = False,
        init: list[float] | np.ndarray | None = None,
        feasibility: str = "none",
    ) -> None:
        super().__init__(core, feasibility)
        from rlsuite.baselines.policies import BaseStockPolicy

        self.echelon = check_bool("echelon", echelon)
        # Installation levels, checked per stocking node (newsvendor by default).
        start = BaseStockPolicy.newsvendor(core) if init is None else BaseStockPolicy(core, np.asarray(init))
        rule = BaseStockRule(core, echelon=self.echelon)
        mean, _ = node_demand_moments(core)
        levels = start.levels
        if self.echelon:  # echelon levels cover the node and everything downstream of it
            closure = downstream_closure(core)
            levels, mean = levels @ closure.T, mean @ closure.T
        self._const("level_scale", np.maximum(mean, 1e-3), dtype=torch.float32)
        self.theta = nn.Parameter(torch.as_tensor(levels / np.maximum(mean, 1e-3), dtype=torch.float32))
        self._const("ip_map", rule.ip_map, dtype=torch.float32)
        self._const("split", rule.split, dtype=torch.float32)

    @property
    def levels(self) -> Tensor:
        """The order-up-to levels ``[n_stock]`` (installation or echelon positions)."""
        return self.theta * self.level_scale

    def forward(self, obs: Tensor) -> Tensor:
        position = obs.to(self.ip_map.dtype) @ self.ip_map
        orders = base_stock_orders(position, self.levels, self.split)
        if self.feasibility == "none":
            return orders
        # Scale requests down where a supplier's stock is short (proportional allocation).
        return self.core.proportional_fill(
            orders.to(self.core.dtype),
            self.core.available(self.core.state_from_observation(obs.to(self.core.dtype))),
        ).to(orders.dtype)


register_policy("BaseStockPolicy", BaseStockParamPolicy, inventory=True)
register_policy("BaseStockParamPolicy", BaseStockParamPolicy, inventory=True)


def echelon_stock_policy(core: InventoryCore, **kwargs: Any) -> BaseStockParamPolicy:
    """:class:`BaseStockParamPolicy` with echelon positions."""
    return BaseStockParamPolicy(core, echelon=True, **kwargs)


register_policy("EchelonStockPolicy", echelon_stock_policy, inventory=True)


class GNNPolicy(InventoryPolicyNet):
    """Message passing over the inventory network (torch-geometric, extra ``graph``).

    Node inputs: the graph view's node features (on-hand, in transit, last demand, unmet
    demand, holding cost, capacity, node kind) plus each market's demand mean, std and
    penalty; edge inputs: the graph view's edge features plus the link's pipeline (padded to
    ``max_lead`` slots, default max(8, the network's longest lead time); networks sharing a
    policy need the same width). Quantities are divided by the mean demand per market, so the scale
    does not change with the number of stores. ``rounds`` of messages along and against each
    edge update the node states; an MLP on (supplier, receiver, edge) gives each link's order,
    and, with ``softmax`` feasibility, an MLP on the supplier gives its keep logit. No weight
    depends on the number of nodes or edges: a policy trained on one network runs unchanged
    on another of the same family.
    """

    edge_index: Tensor
    market_static: Tensor
    node_scale: Tensor
    edge_scale: Tensor
    link_src: Tensor
    link_dst: Tensor
    supplier_nodes: Tensor

    def __init__(
        self,
        core: InventoryCore,
        hidden: int = 32,
        rounds: int = 2,
        max_lead: int | None = None,
        activation_fn: type[nn.Module] | str = "elu",
        feasibility: str = "proportional",
    ) -> None:
        super().__init__(core, feasibility)
        try:
            from torch_geometric.nn import MessagePassing
        except ImportError as e:  # pragma: no cover - exercised without the extra
            raise ImportError('GNNPolicy needs torch-geometric: pip install "rlsuite[graph]"') from e
        act = activation_class(activation_fn)
        self.hidden, self.rounds = check_int("hidden", hidden, 1), check_int("rounds", rounds, 1)
        self.max_lead = max(8, core.max_lead) if max_lead is None else check_int("max_lead", max_lead, 1)
        static = core.graph_static()
        self._const("edge_index", static["edge_index"], dtype=torch.long)
        nodes = core.spec.nodes
        n_nodes = len(nodes)
        idx = {n.name: i for i, n in enumerate(nodes)}
        self.unit = float(np.mean([max(m.demand.mean, 1e-3) for m in core.spec.markets]))
        market_static = np.zeros((n_nodes, 3))
        for m in core.spec.markets:
            d = m.demand
            std = d.std if d.std is not None else math.sqrt(max(d.mean, 0.0))
            market_static[idx[m.dst]] = (d.mean / self.unit, std / self.unit, m.b)
        self._const("market_static", market_static, dtype=torch.float32)
        # Scale of the node / edge feature columns: quantities in units of mean demand.
        nf = len(core.NODE_FEATURES)
        node_scale = np.ones(nf)
        node_scale[[0, 1, 2, 3, 5]] = self.unit
        edge_scale = np.ones(len(core.EDGE_FEATURES))
        edge_scale[0] = 4.0  # lead times
        edge_scale[4] = self.unit
        self._const("node_scale", node_scale, dtype=torch.float32)
        self._const("edge_scale", edge_scale, dtype=torch.float32)
        node_in = nf + 3
        edge_in = len(core.EDGE_FEATURES) + self.max_lead
        h = self.hidden

        class _Conv(MessagePassing):
            """One message-passing step: m_v = sum over edges u -> v of MLP([h_u, h_v, e_uv])."""

            def __init__(self) -> None:
                super().__init__(aggr="add", node_dim=-2)
                self.mlp = MLP(3 * h, [h], act, h)

            def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
                return self.propagate(edge_index, x=x, edge_attr=edge_attr)

            def message(self, x_i: Tensor, x_j: Tensor, edge_attr: Tensor) -> Tensor:
                return self.mlp(torch.cat([x_j, x_i, edge_attr], -1))

        self.node_enc = nn.Sequential(MLP(node_in, [h], act, h), act())
        self.edge_enc = nn.Sequential(MLP(edge_in, [h], act, h), act())
        self.down = nn.ModuleList([_Conv() for _ in range(self.rounds)])
        self.up = nn.ModuleList([_Conv() for _ in range(self.rounds)])
        self.update = nn.ModuleList([MLP(3 * h, [h], act, h) for _ in range(self.rounds)])
        self.order_head = MLP(3 * h, [h], act, 1)
        self.keep_head = MLP(h, [h], act, 1) if feasibility == "softmax" else None
        src = [idx[link.src] for link in core.spec.links]
        dst = [idx[link.dst] for link in core.spec.links]
        self._const("link_src", src, dtype=torch.long)
        self._const("link_dst", dst, dtype=torch.long)
        self._const("supplier_nodes", [idx[s] for s in self.supplier_names], dtype=torch.long)

    def graph_inputs(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Scaled node ``[B, n_nodes, F]`` and edge ``[B, n_edges, F']`` inputs from the flat
        observation (through the env's graph view)."""
        g = self.core.graph_observation(self.core.state_from_observation(obs.to(self.core.dtype)))
        dt = self.node_scale.dtype
        b = obs.shape[0]
        node = g["node_features"].to(dt) / self.node_scale
        node = torch.cat([node, self.market_static.expand(b, -1, -1)], -1)
        pipe = g["pipeline"].to(dt) / self.unit
        width = pipe.shape[2]
        if width < self.max_lead:
            pipe = nn.functional.pad(pipe, (0, self.max_lead - width))
        elif width > self.max_lead:
            raise ValueError(f"max_lead: the network has lead times up to {width}; use max_lead >= {width}")
        n_edges = g["edge_features"].shape[1]
        pipe = nn.functional.pad(pipe, (0, 0, 0, n_edges - pipe.shape[1]))  # market edges: no pipeline
        edge = torch.cat([g["edge_features"].to(dt) / self.edge_scale, pipe], -1)
        return node, edge

    def forward(self, obs: Tensor) -> Tensor:
        node, edge = self.graph_inputs(obs)
        x, e = self.node_enc(node), self.edge_enc(edge)
        ei, rev = self.edge_index, self.edge_index.flip(0)
        for down, up, upd in zip(self.down, self.up, self.update, strict=True):
            x = x + upd(torch.cat([x, down(x, ei, e), up(x, rev, e)], -1))
        n_links = self.n_links
        pair = torch.cat([x[:, self.link_src], x[:, self.link_dst], e[:, :n_links]], -1)
        out = self.order_head(pair).squeeze(-1)
        if self.keep_head is not None:
            out = torch.cat([out, self.keep_head(x[:, self.supplier_nodes]).squeeze(-1)], 1)
        return self.feasible(obs, out)


register_policy("GNNPolicy", GNNPolicy, inventory=True)


#: The registry a model file's ``policy`` name resolves through (HDPO's ``policy_aliases``), filled
#: by the ``register_policy(..., inventory=True)`` calls after each policy.
INVENTORY_POLICY_ALIASES = INVENTORY_POLICIES
