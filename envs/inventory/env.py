"""``InvMgmtEnv``: one inventory network as a ``gymnasium.Env`` over :class:`InventoryCore`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlsuite.validation import ArgumentTypeError, check_choice, check_int, check_seed, short_repr

from ..validation import check_step_allowed, real_array
from .core import COST_NAMES, InventoryCore, InventoryState, PostDecisionState, StepInfo
from .demand import DemandSampler
from .spec import NetworkSpec, as_spec, demand_from_config

OBSERVATION_MODES = ("flat", "dict")
ENV_BACKENDS = ("auto", "numpy", "torch")
_DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    torch.float64: torch.float64,
    torch.float32: torch.float32,
}
DEMAND_CHUNK = 512  # periods of demand drawn at a time (the draws do not depend on the chunking)
MAX_PERIODS = 1_000_000
"""Longest episode (``num_periods``): the period is an observation entry and must stay exact in float32."""


def obs_high(np_dtype: Any) -> float:
    """Upper bound of observation boxes: the dtype's largest finite value (quantities are
    unbounded in principle, and Gymnasium's checker rejects infinite bounds)."""
    return float(np.finfo(np_dtype).max)


def resolve_dtype(dtype: Any) -> torch.dtype:
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and dtype in (np.float32, np.float64)):
        dtype = np.dtype(dtype).name
    if not isinstance(dtype, (str, torch.dtype)) or dtype not in _DTYPES:
        raise ValueError(f"dtype: got {short_repr(dtype)}; allowed: 'float64', 'float32'")
    return _DTYPES[dtype]


def resolve_device(device: Any) -> torch.device:
    if not isinstance(device, (str, torch.device)):
        raise ArgumentTypeError(f"device: got {short_repr(device)}; must be a string such as 'cpu' or 'cuda'")
    try:
        return torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device: got {device!r}; must name a torch device such as 'cpu' or 'cuda:0'") from e


def build_core(
    network: NetworkSpec | str | Mapping[str, Any] | Path,
    *,
    backlog: bool | None,
    allocation: str,
    event_order: str | None,
    demand: Any,
    dtype: Any,
    device: str | torch.device,
    network_kwargs: dict[str, Any],
    max_order: float | None = None,
) -> InventoryCore:
    """The core shared by the env views, with the demand override applied to every market."""
    spec = as_spec(network, **network_kwargs)
    if max_order is not None:
        spec = spec.replace(max_order=max_order)
    if demand is not None:
        markets = tuple(
            dataclasses.replace(m, demand=demand_from_config(demand, m.demand)) for m in spec.markets
        )
        spec = spec.replace(markets=markets)
    return InventoryCore(
        spec,
        backlog=backlog,
        allocation=allocation,
        event_order=event_order,
        dtype=resolve_dtype(dtype),
        device=resolve_device(device),
    )


def check_trace(trace: Any, periods: int, n_markets: int, name: str = "demand_trace") -> np.ndarray:
    """Validate a user demand trace: ``[periods]`` (one market) or ``[periods, n_markets]``."""
    arr = real_array(name, trace).astype(np.float64, copy=False)
    if arr.ndim == 1 and n_markets == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != n_markets or arr.shape[0] < periods:
        raise ValueError(
            f"{name}: got shape {np.shape(trace)}; expected ({periods}, {n_markets}) "
            f"(at least num_periods rows, one column per market)"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name}: demands must be finite and non-negative")
    return arr


RESET_OPTIONS: tuple[str, ...] = ("demand_trace",)
"""Keys of ``reset(options=...)`` of both InvMgmt views."""
INFO_KEYS: tuple[str, ...] = (
    "period",
    "costs",
    "demand",
    "sold",
    "unmet",
    "orders_filled",
    "node_profit",
    "post_decision_obs",
    "post_decision_reward",
)
"""Keys of a step's ``info``, the same in both views: the single env's value is the row of the
vector env's (which has a leading ``num_envs`` axis and a ``_key`` mask per key)."""


@dataclasses.dataclass(frozen=True)
class InvMgmtSetup:
    """What both InvMgmt views (:class:`InvMgmtEnv`, ``InvMgmtVectorEnv``) build from their
    constructor arguments: :func:`build_setup` is their one constructor path."""

    core: InventoryCore
    """The batched transition, with the demand override applied."""
    num_periods: int
    """Episode length T."""
    sampler: DemandSampler
    """Draws the markets' demand."""
    order_bound: float
    """Upper bound of each order (the action space's ``high``)."""
    np_dtype: type
    """``np.float64`` or ``np.float32``, the dtype of observations and actions."""
    action_space: spaces.Box
    """One copy's action space: an order per link in ``[0, order_bound]``."""
    observation_space: spaces.Box
    """One copy's flat observation space (layout in :meth:`InventoryCore.observe`)."""


def build_setup(
    network: NetworkSpec | str | Mapping[str, Any] | Path,
    *,
    num_periods: int,
    backlog: bool | None,
    allocation: str,
    event_order: str | None,
    demand: Any,
    max_order: float | None,
    dtype: Any,
    device: str | torch.device,
    network_kwargs: dict[str, Any],
) -> InvMgmtSetup:
    """Validate the arguments both InvMgmt views share and build their core, demand sampler and
    one copy's spaces."""
    num_periods = check_int("num_periods", num_periods, 1, MAX_PERIODS)
    core = build_core(
        network,
        backlog=backlog,
        allocation=allocation,
        event_order=event_order,
        demand=demand,
        dtype=dtype,
        device=device,
        network_kwargs=network_kwargs,
        max_order=max_order,
    )
    np_dtype = np.float64 if core.dtype == torch.float64 else np.float32
    order_bound = core.spec.order_bound(num_periods)
    return InvMgmtSetup(
        core=core,
        num_periods=int(num_periods),
        sampler=DemandSampler(core.spec),
        order_bound=order_bound,
        np_dtype=np_dtype,
        action_space=spaces.Box(0.0, order_bound, shape=(core.n_links,), dtype=np_dtype),
        observation_space=spaces.Box(0.0, obs_high(np_dtype), shape=(core.obs_dim,), dtype=np_dtype),
    )


def check_reset_options(options: Any) -> Mapping[str, Any]:
    """``reset``'s ``options``: None or a mapping with keys from :data:`RESET_OPTIONS`."""
    options = options or {}
    if not isinstance(options, Mapping):
        raise ArgumentTypeError(f"options: got {short_repr(options)}; must be a dict or None")
    unknown = set(options) - set(RESET_OPTIONS)
    if unknown:
        raise ValueError(f"options: unknown keys {sorted(unknown)}; allowed: {list(RESET_OPTIONS)}")
    return options


def batched_info(
    core: InventoryCore, state: InventoryState, post: PostDecisionState, info: StepInfo
) -> dict[str, torch.Tensor]:
    """The batched entries of a step's info (all but ``period``), each ``[B, ...]``: the cost terms
    ``costs [B, 7]`` (columns :data:`COST_NAMES`), ``demand``, ``sold``, ``unmet [B, n_markets]``,
    ``orders_filled [B, n_links]``, ``node_profit [B, n_stock]``, ``post_decision_obs
    [B, obs_dim]`` and ``post_decision_reward [B]``. ``info`` needs ``node_profit``."""
    assert info.node_profit is not None  # realize_demand(..., node_profit=True)
    return {
        "costs": info.costs,
        "demand": info.demand,
        "sold": info.sold,
        "unmet": info.unmet,
        "orders_filled": info.filled,
        "node_profit": info.node_profit,
        "post_decision_obs": core.post_decision_observation(state, post),
        "post_decision_reward": core.post_decision_reward(info.costs),
    }


class InvMgmtEnv(gym.Env):
    """A multi-echelon inventory network (gym-invmgmt semantics, one shared torch core).

    Args:
        network: a built-in name (``divergent``, ``serial``, ``single_store``, ``one_warehouse``,
            ``serial_echelon``), a :class:`NetworkSpec`, a dict or a YAML path (ours or
            gym-invmgmt's topology format).
        num_periods: episode length T; the episode is truncated after T steps.
        backlog: True = backlog, False = lost sales; None = the network's default.
        allocation: ``fcfs`` (gym-invmgmt) or ``proportional`` sharing of a supplier's stock.
        event_order: ``order_first`` (gym-invmgmt) or ``receive_first`` (HDPO); None = network default.
        demand: a :class:`DemandSpec` or mapping (our fields or gym-invmgmt's ``demand_config``
            keys, e.g. ``{"type": "trend+seasonal"}``) applied to every market.
        demand_trace: fixed demand ``[T]`` or ``[T, n_markets]`` used instead of sampling
            (also per episode: ``reset(options={"demand_trace": ...})``).
        max_order: upper bound of each order (the action space's ``high``); default gym-invmgmt's
            max(I0) + max(C) * T (3100 on the divergent network). RL agents learn much faster
            with a bound near the orders that matter (e.g. 100) and ``RescaleAction(-1, 1)``.
        observation: ``flat`` (a ``Box``, layout in :meth:`InventoryCore.observe`) or ``dict``
            (``flat`` plus the graph view: node/edge features and ``edge_index``).
        dtype: ``float64`` (default) or ``float32`` for observations, actions and the core.
        device: torch device of the core.
        backend: what steps the env: ``numpy`` (the core's NumPy backend: a step of one network is
            a few dozen NumPy operations on small arrays, several times faster than torch's), ``torch``
            (the torch core on ``device``) or ``auto`` (NumPy on the CPU, torch elsewhere). Both
            run the same transition (:mod:`~rlsuite.envs.inventory.core`); ``env.core`` is the
            torch core either way (for HDPO, policies and tools written on tensors).
        **network_kwargs: keyword arguments of the built-in network builder (e.g.
            ``lead_time=2, shortage_cost=4`` for ``single_store``).

    Actions are order quantities, one per replenishment link in ``spec.links`` order: a
    ``Box(0, bound)``; NaN or inf raise ``ValueError`` (a NaN order would make the whole state
    NaN), strings, booleans, objects and complex numbers raise ``TypeError``, a wrong shape raises
    ``ValueError`` naming the expected one; negative orders count as 0 and orders above the bound
    are clipped to it. ``step`` before ``reset`` or after the episode's last period raises
    ``RuntimeError``. Reward is the period's profit (revenue minus costs);
    ``info["costs"]`` holds its decomposition ``[7]`` in :data:`COST_NAMES` order (columns by
    name: ``COST_INDEX``; ``dict(zip(COST_NAMES, info["costs"]))``), which sums exactly to the
    reward; ``info["node_profit"]`` the profit of each stocking node (internal prices included;
    it sums to the reward up to rounding). ``info`` also has the ``period`` and the period's
    ``demand``, ``sold``, ``unmet``, ``orders_filled``, ``post_decision_obs`` and
    ``post_decision_reward`` (:data:`INFO_KEYS`; each value is the row of the vector env's).
    """

    # gymnasium.Env declares metadata as an instance attribute; it is a class constant.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "render_fps": 4}  # type: ignore[misc]

    def __init__(
        self,
        network: NetworkSpec | str | Mapping[str, Any] | Path = "divergent",
        *,
        num_periods: int = 30,
        backlog: bool | None = None,
        allocation: str = "fcfs",
        event_order: str | None = None,
        demand: Any = None,
        demand_trace: Any = None,
        max_order: float | None = None,
        observation: str = "flat",
        dtype: Any = "float64",
        device: str | torch.device = "cpu",
        backend: str = "auto",
        render_mode: str | None = None,
        **network_kwargs: Any,
    ) -> None:
        check_choice("observation", observation, OBSERVATION_MODES)
        check_choice("backend", backend, ENV_BACKENDS)
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        setup = build_setup(
            network,
            num_periods=num_periods,
            backlog=backlog,
            allocation=allocation,
            event_order=event_order,
            demand=demand,
            max_order=max_order,
            dtype=dtype,
            device=device,
            network_kwargs=network_kwargs,
        )
        self.core = setup.core
        if backend == "auto":
            backend = "numpy" if self.core.device.type == "cpu" else "torch"
        if backend == "numpy" and self.core.device.type != "cpu":
            raise ValueError(f"backend: 'numpy' runs on the CPU; got device {self.core.device} (use 'torch')")
        #: The core that steps the env: ``core`` itself or its NumPy twin (``backend``).
        self.sim: InventoryCore = self.core.numpy() if backend == "numpy" else self.core
        self.spec_network: NetworkSpec = self.core.spec
        self.num_periods = setup.num_periods
        self.observation_mode = observation
        self.render_mode = render_mode
        self.sampler = setup.sampler
        self._np_dtype = setup.np_dtype
        self._fixed_trace = (
            None if demand_trace is None else check_trace(demand_trace, self.num_periods, self.core.n_markets)
        )
        self.order_bound = setup.order_bound
        self.action_space = setup.action_space
        if observation == "flat":
            self.observation_space = setup.observation_space
        else:
            self.observation_space = graph_space(self.core, setup.observation_space, self._np_dtype)
        self._state: InventoryState | None = None
        self._trace = np.zeros((0, self.core.n_markets))
        self._trace_start = 0
        self._episode_trace: np.ndarray | None = None
        self._last_info: dict[str, Any] = {}

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None):
        super().reset(seed=check_seed("seed", seed))
        options = check_reset_options(options)
        trace = options.get("demand_trace", self._fixed_trace)
        self._episode_trace = (
            None
            if trace is None
            else check_trace(trace, self.num_periods, self.core.n_markets, "options.demand_trace")
        )
        self._trace = np.zeros((0, self.core.n_markets))
        self._trace_start = 0
        self._state = self.sim.initial_state(1)
        self._last_info = {}
        return self._observe(), {"period": np.int64(0)}

    def step(self, action: Any):
        state = self._state
        t = -1 if state is None else int(state.period[0])
        check_step_allowed(state is not None, t >= self.num_periods)
        assert state is not None  # check_step_allowed raised otherwise
        sim = self.sim
        orders, demand = self._as_batch(self.validate_action(action)), self._as_batch(self._demand(t))
        post = sim.post_decision(state, orders)
        self._state, reward, info = sim.realize_demand(post, demand, node_profit=True)
        out: dict[str, Any] = {"period": np.int64(t)}
        to_numpy = sim.xp.to_numpy
        out.update((key, to_numpy(value)[0]) for key, value in batched_info(sim, state, post, info).items())
        self._last_info = out
        truncated = t + 1 >= self.num_periods
        return self._observe(), float(reward[0]), False, truncated, out

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human'")
            return None
        text = self.render_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def post_decision(self, obs: Any, action: Any) -> np.ndarray:
        """The deterministic part of a step, as a pure function: the post-decision observation
        (flat layout, after this period's orders are filled and arrivals received, before demand)
        reached from the flat observation ``obs`` by ``action``. Equals ``info["post_decision_obs"]``
        of :meth:`step`. Accepts one observation ``(obs_dim,)`` with one action ``(n_links,)`` or
        batches ``[B, obs_dim]``, ``[B, n_links]``."""
        core = self.core
        o = np.asarray(obs["flat"] if isinstance(obs, dict) else obs, dtype=np.float64)
        single = o.ndim == 1
        o2 = o[None] if single else o
        if o2.ndim != 2 or o2.shape[1] != core.obs_dim:
            raise ValueError(f"obs: expected shape ({core.obs_dim},) or [B, {core.obs_dim}], got {o.shape}")
        a = real_array("action", action).astype(np.float64, copy=False)
        if a.size != o2.shape[0] * core.n_links:
            raise ValueError(f"action: expected {core.n_links} orders per observation, got shape {a.shape}")
        a = a.reshape(o2.shape[0], -1)
        if a.shape[1] != core.n_links:
            raise ValueError(f"action: expected {core.n_links} orders per observation, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError("action: orders must be finite")
        a = np.clip(a, 0.0, self.order_bound)
        state = core.state_from_observation(torch.from_numpy(o2).to(core.device, core.dtype))
        post = core.post_decision(state, torch.from_numpy(a).to(core.device, core.dtype))
        out = core.post_decision_observation(state, post).cpu().numpy()
        return out[0] if single else out

    # ------------------------------------------------------------------ helpers
    def validate_action(self, action: Any) -> np.ndarray:
        """Orders as a float64 array of shape ``(n_links,)`` (``(1, n_links)`` is accepted too):
        non-real input raises ``TypeError``, NaN/inf and wrong shapes ``ValueError``; values are
        clipped to ``[0, order_bound]``."""
        a = real_array("action", action).astype(np.float64, copy=False)
        n = self.core.n_links
        if a.shape != (n,):
            if a.size == n and a.ndim <= 2:
                a = a.reshape(n)
            else:
                raise ValueError(f"action: got shape {a.shape}; expected shape ({n},) (one order per link)")
        if not np.isfinite(a).all():
            raise ValueError(f"action: got {short_repr(a.tolist())}; orders must be finite (no NaN or inf)")
        return np.minimum(np.maximum(a, 0.0), self.order_bound)

    def _as_batch(self, values: np.ndarray) -> Any:
        """A float64 vector as a batch of one in the stepping core's array type and dtype."""
        row = values.reshape(1, -1)
        if self.sim.backend == "numpy":
            return row.astype(self._np_dtype, copy=False)
        return torch.from_numpy(row).to(self.core.device, self.core.dtype)

    def _demand(self, t: int) -> np.ndarray:
        if self._episode_trace is not None:
            return self._episode_trace[t]
        if t >= self._trace_start + len(self._trace):
            self._trace_start = t
            self._trace = self.sampler.sample(self.np_random, t, min(DEMAND_CHUNK, self.num_periods - t))
        return self._trace[t - self._trace_start]

    def _observe(self) -> Any:
        assert self._state is not None
        flat = self.sim.xp.to_numpy(self.sim.observe(self._state))[0]
        if self.observation_mode == "flat":
            return flat
        g = self.core.graph_observation(self.state)
        obs = {k: v[0].cpu().numpy() for k, v in g.items()}
        obs["flat"] = flat
        obs["edge_index"] = self._edge_index.copy()
        return obs

    @property
    def _edge_index(self) -> np.ndarray:
        if not hasattr(self, "_edge_index_cache"):
            self._edge_index_cache = self.core.graph_static()["edge_index"]
        return self._edge_index_cache

    @property
    def started(self) -> bool:
        """Whether ``reset`` has been called (``step`` is allowed)."""
        return self._state is not None

    @property
    def state(self) -> InventoryState:
        """The current batch-of-one state as tensors of ``core`` (read-only use)."""
        if self._state is None:
            raise RuntimeError("call reset() first")
        if self.sim.backend == "numpy":
            return self.sim.state_to_torch(self._state, self.core.device)
        return self._state

    @property
    def cost_names(self) -> tuple[str, ...]:
        """Names of ``info["costs"]``'s entries (:data:`COST_NAMES`)."""
        return COST_NAMES

    def render_text(self) -> str:
        s = self.state
        t = int(s.period[0])
        lines = [f"period {t}/{self.num_periods}  network {self.spec_network.name}"]
        for name, x in zip(self.core.stock_names, s.on_hand[0].tolist(), strict=True):
            lines.append(f"  on_hand[{name}] = {x:.1f}")
        for m, d, u in zip(
            self.spec_network.markets, s.last_demand[0].tolist(), s.backlog[0].tolist(), strict=True
        ):
            lines.append(f"  market {m.src}->{m.dst}: last demand {d:.1f}, unmet {u:.1f}")
        if self._last_info:
            terms = zip(COST_NAMES, self._last_info["costs"].tolist(), strict=True)
            lines.append("  profit terms: " + ", ".join(f"{k}={v:.2f}" for k, v in terms))
        return "\n".join(lines)


def graph_space(core: InventoryCore, flat: spaces.Box, np_dtype: Any) -> spaces.Dict:
    """The ``Dict`` observation space of the graph view (see :meth:`InventoryCore.graph_observation`)."""
    st = core.graph_static()
    n_nodes, n_edges = st["node_static"].shape[0], st["edge_index"].shape[1]
    width = max(1, core.max_lead)
    inf = obs_high(np_dtype)
    return spaces.Dict(
        {
            "flat": flat,
            "node_features": spaces.Box(0.0, inf, (n_nodes, len(core.NODE_FEATURES)), np_dtype),
            "edge_features": spaces.Box(0.0, inf, (n_edges, len(core.EDGE_FEATURES)), np_dtype),
            "pipeline": spaces.Box(0.0, inf, (core.n_links, width), np_dtype),
            "period": spaces.Box(0.0, inf, (1,), np_dtype),
            "edge_index": spaces.Box(0, max(n_nodes - 1, 0), (2, n_edges), np.int64),
        }
    )
