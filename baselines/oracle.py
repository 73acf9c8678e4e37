"""Perfect-hindsight oracle: the best plan for one known demand trace, as a linear program.

For a finite-horizon ``InvMgmt`` episode whose demand is known in advance, the oracle chooses
every order, sale and unmet quantity to maximise the episode's profit subject to the
environment's own rules: supplier availability (start-of-period on-hand, or including
today's arrivals for ``receive_first``), factory capacity and yield, lead times, backlog or
lost sales, and the same revenue and cost terms (pipeline holding on units in transit, fixed
ordering costs through binary variables when a link has ``K > 0``). Its profit is an upper
bound on what any policy earns on that trace; ``OptGap% = (oracle - policy) / |oracle| * 100``.

Solved with HiGHS through :func:`scipy.optimize.linprog` (:func:`scipy.optimize.milp` with
fixed costs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from rlsuite.envs.inventory.core import InventoryCore
from rlsuite.validation import check_int, check_optional_real

from .policies import InventoryPolicy, _core_of


@dataclass
class StartState:
    """Where a plan starts: on-hand ``[n_stock]``, units in transit ``[n_slots]`` (the core's
    pipeline layout) and last period's unmet demand ``[n_markets]``."""

    on_hand: np.ndarray
    pipeline: np.ndarray
    backlog: np.ndarray

    @classmethod
    def initial(cls, core: InventoryCore) -> StartState:
        return cls(
            np.array([n.I0 for n in core.spec.stock_nodes], dtype=np.float64),
            np.zeros(core.n_slots),
            np.zeros(core.n_markets),
        )

    @classmethod
    def from_observation(cls, core: InventoryCore, obs: np.ndarray) -> StartState:
        """The state behind a flat ``InvMgmt`` observation (it holds the whole state)."""
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != (core.obs_dim,):
            raise ValueError(f"obs: got shape {obs.shape}; expected ({core.obs_dim},)")
        idx = core.observation_index()
        slots = [c for cols in idx["pipeline"] for c in cols]
        return cls(obs[idx["on_hand"]].astype(np.float64), obs[slots].astype(np.float64), obs[idx["unmet"]])


@dataclass
class OraclePlan:
    """The hindsight-optimal plan of one episode."""

    profit: float
    """Optimal episode profit (the upper bound)."""
    orders: np.ndarray = field(repr=False)
    """``[T, n_links]`` orders (all filled in full by the environment)."""
    sold: np.ndarray = field(repr=False)
    """``[T, n_markets]`` units sold."""
    unmet: np.ndarray = field(repr=False)
    """``[T, n_markets]`` unmet demand at the end of each period."""
    on_hand: np.ndarray = field(repr=False)
    """``[T + 1, n_stock]`` on-hand at the start of each period (and at the end)."""
    status: str = "optimal"

    def gap(self, profit: float) -> float:
        """``OptGap%`` of a policy's episode profit."""
        check_optional_real("profit", profit)
        return (self.profit - profit) / max(abs(self.profit), 1e-12) * 100.0


def hindsight_oracle(
    env: Any,
    demand: Any,
    *,
    start: StartState | None = None,
    order_bound: float | None = None,
    time_limit: float | None = None,
) -> OraclePlan:
    """Solve the perfect-information problem of ``env`` (an ``InvMgmt`` env, single or vector,
    or an :class:`InventoryCore`) on the demand trace ``demand [T]`` or ``[T, n_markets]``
    over ``T`` periods, from the network's initial state or from ``start`` (on-hand, units in
    transit and backlog, e.g. read from an observation by :meth:`StartState.from_observation`).

    Raises ``ValueError`` for a malformed trace and ``RuntimeError`` naming HiGHS's status when
    the program cannot be solved (e.g. a time limit).
    """
    core = env if isinstance(env, InventoryCore) else _core_of(env)
    spec = core.spec
    order_bound = check_optional_real("order_bound", order_bound, low=0.0, low_open=True)
    time_limit = check_optional_real("time_limit", time_limit, low=0.0)
    if start is not None and not isinstance(start, StartState):
        raise TypeError(f"start: got {type(start).__name__}; must be a StartState or None")
    try:
        D = np.asarray(demand, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"demand: got {demand!r:.80}; must be an array of numbers") from err
    if D.ndim == 1 and core.n_markets == 1:
        D = D[:, None]
    if D.ndim != 2 or D.shape[1] != core.n_markets or D.shape[0] < 1:
        raise ValueError(f"demand: got shape {np.shape(demand)}; expected (T, {core.n_markets})")
    if not np.all(np.isfinite(D)) or np.any(D < 0):
        raise ValueError("demand: must be finite and non-negative")
    T: int
    M: int
    T, M = D.shape
    nL, nS = core.n_links, core.n_stock
    if order_bound is None:
        order_bound = spec.order_bound(getattr(getattr(env, "unwrapped", env), "num_periods", T))
    bound = float(order_bound)
    start = start or StartState.initial(core)
    for name, arr, size in (
        ("start.on_hand", start.on_hand, nS),
        ("start.pipeline", start.pipeline, core.n_slots),
        ("start.backlog", start.backlog, core.n_markets),
    ):
        a = np.asarray(arr, dtype=np.float64)
        if a.shape != (size,) or not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"{name}: got {a.tolist()!r:.80}; must be ({size},) finite and >= 0")
    sidx = {name: i for i, name in enumerate(core.stock_names)}
    nodes = {n.name: n for n in spec.nodes}
    has_fixed = any(link.K > 0 for link in spec.links)

    # Variable blocks per period t: R (nL), S (M), U (M), X_next (nS) [, Z (nL) binaries].
    per = nL + 2 * M + nS + (nL if has_fixed else 0)
    n_var = per * T

    def R(t: int, e: int) -> int:
        return t * per + e

    def S(t: int, m: int) -> int:
        return t * per + nL + m

    def U(t: int, m: int) -> int:
        return t * per + nL + M + m

    def X(t: int, j: int) -> int:  # on-hand at the start of period t + 1
        return t * per + nL + 2 * M + j

    def Z(t: int, e: int) -> int:
        return t * per + nL + 2 * M + nS + e

    i0 = np.asarray(start.on_hand, dtype=np.float64)

    def arriving(j: int, t: int) -> float:
        """Units already in transit at the start that reach stocking node j in period t."""
        return sum(
            float(start.pipeline[core.slot(e, t)])
            for e, link in enumerate(spec.links)
            if sidx.get(link.dst) == j and t < link.L
        )

    c = np.zeros(n_var)  # minimise -profit
    for t in range(T):
        for m, mk in enumerate(spec.markets):
            c[S(t, m)] -= mk.p
            c[U(t, m)] += mk.b
        for j, n in enumerate(spec.stock_nodes):
            c[X(t, j)] += n.h
        for e, link in enumerate(spec.links):
            src = nodes[link.src]
            if src.kind == "raw":
                c[R(t, e)] += link.p
            elif src.kind == "factory":
                c[R(t, e)] += src.o / src.v
            c[R(t, e)] += link.g * min(link.L, T - t)  # in transit at the end of t .. t + L - 1
            if has_fixed:
                c[Z(t, e)] += link.K

    eq_rows: list[int] = []
    eq_cols: list[int] = []
    eq_vals: list[float] = []
    eq_rhs: list[float] = []
    ub_rows: list[int] = []
    ub_cols: list[int] = []
    ub_vals: list[float] = []
    ub_rhs: list[float] = []

    def add(rows: list, cols: list, vals: list, row: int, entries: list[tuple[int, float]]) -> None:
        for col, val in entries:
            rows.append(row)
            cols.append(col)
            vals.append(val)

    r_eq = r_ub = 0
    for t in range(T):
        for j, n in enumerate(spec.stock_nodes):
            # Balance: X[t+1] = X[t] + arrivals - shipped / v - sold.
            entries: list[tuple[int, float]] = [(X(t, j), 1.0)]
            rhs = (i0[j] if t == 0 else 0.0) + arriving(j, t)
            if t > 0:
                entries.append((X(t - 1, j), -1.0))
            for e, link in enumerate(spec.links):
                if sidx.get(link.dst) == j and t - link.L >= 0:
                    entries.append((R(t - link.L, e), -1.0))
                if sidx.get(link.src) == j:
                    entries.append((R(t, e), 1.0 / (n.v if n.kind == "factory" else 1.0)))
            for m, mk in enumerate(spec.markets):
                if sidx[mk.src] == j:
                    entries.append((S(t, m), 1.0))
            add(eq_rows, eq_cols, eq_vals, r_eq, entries)
            eq_rhs.append(rhs)
            r_eq += 1
            # Availability: input units shipped <= start-of-period stock (+ today's arrivals).
            out = [
                (R(t, e), 1.0 / (n.v if n.kind == "factory" else 1.0))
                for e, link in enumerate(spec.links)
                if link.src == n.name
            ]
            if out:
                entries = list(out)
                rhs = (i0[j] if t == 0 else 0.0) + (
                    arriving(j, t) if core.event_order == "receive_first" else 0.0
                )
                if t > 0:
                    entries.append((X(t - 1, j), -1.0))
                if core.event_order == "receive_first":
                    for e, link in enumerate(spec.links):
                        if link.dst == n.name and link.L >= 1 and t - link.L >= 0:
                            entries.append((R(t - link.L, e), -1.0))
                add(ub_rows, ub_cols, ub_vals, r_ub, entries)
                ub_rhs.append(rhs)
                r_ub += 1
                if n.kind == "factory":
                    assert n.C is not None  # NetworkSpec requires a factory's capacity
                    add(ub_rows, ub_cols, ub_vals, r_ub, [(col, 1.0) for col, _ in out])
                    ub_rhs.append(float(n.C))
                    r_ub += 1
        for m in range(M):
            # Demand: sold + unmet = demand (+ last period's backlog).
            entries = [(S(t, m), 1.0), (U(t, m), 1.0)]
            if core.backlog and t > 0:
                entries.append((U(t - 1, m), -1.0))
            add(eq_rows, eq_cols, eq_vals, r_eq, entries)
            eq_rhs.append(D[t, m] + (start.backlog[m] if core.backlog and t == 0 else 0.0))
            r_eq += 1
        if has_fixed:
            for e in range(nL):  # R <= bound * Z
                add(ub_rows, ub_cols, ub_vals, r_ub, [(R(t, e), 1.0), (Z(t, e), -bound)])
                ub_rhs.append(0.0)
                r_ub += 1

    A_eq = sparse.csr_array((eq_vals, (eq_rows, eq_cols)), shape=(r_eq, n_var))
    A_ub = sparse.csr_array((ub_vals, (ub_rows, ub_cols)), shape=(r_ub, n_var))
    upper = np.full(n_var, np.inf)
    for t in range(T):
        for e in range(nL):
            upper[R(t, e)] = bound
            if has_fixed:
                upper[Z(t, e)] = 1.0
    options = {} if time_limit is None else {"time_limit": float(time_limit)}
    if has_fixed:
        integrality = np.zeros(n_var)
        for t in range(T):
            for e in range(nL):
                integrality[Z(t, e)] = 1
        res = milp(
            c,
            constraints=[LinearConstraint(A_eq, eq_rhs, eq_rhs), LinearConstraint(A_ub, -np.inf, ub_rhs)],
            bounds=Bounds(np.zeros(n_var), upper),
            integrality=integrality,
            options=options,
        )
        ok, x, message = res.success, res.x, res.message
    else:
        res = linprog(
            c,
            A_ub=A_ub,
            b_ub=ub_rhs,
            A_eq=A_eq,
            b_eq=eq_rhs,
            bounds=np.stack([np.zeros(n_var), upper], 1),
            method="highs",
            options=options,
        )
        ok, x, message = res.status == 0, res.x, res.message
    if not ok or x is None:
        raise RuntimeError(f"hindsight oracle: HiGHS could not solve the plan: {message}")
    x = np.asarray(x).reshape(T, per)
    on_hand = np.vstack([i0, x[:, nL + 2 * M : nL + 2 * M + nS]])
    # Units in transit at the start are charged pipeline holding until they arrive (a constant).
    carried = sum(
        spec.links[e].g * float(start.pipeline[i]) * min(k, T) for i, (e, k) in enumerate(core.pipeline_slots)
    )
    return OraclePlan(
        profit=float(-(c @ x.reshape(-1))) - carried,
        orders=np.maximum(x[:, :nL], 0.0),
        sold=x[:, nL : nL + M],
        unmet=x[:, nL + M : nL + 2 * M],
        on_hand=on_hand,
        status="optimal",
    )


def episode_demand(env: Any, seed: int) -> np.ndarray:
    """The demand trace ``[T, n_markets]`` that ``env.reset(seed=seed)`` will produce
    (demand is exogenous, so it does not depend on the policy)."""
    from gymnasium.utils import seeding

    seed = check_int("seed", seed, low=0)
    base = getattr(env, "unwrapped", env)
    if not hasattr(base, "sampler") or not hasattr(base, "num_periods"):
        raise TypeError(f"env: got {type(env).__name__}; must be an InvMgmt env (single or vector)")
    rng = seeding.np_random(seed)[0]
    return base.sampler.sample(rng, 0, base.num_periods)


class OraclePlanPolicy(InventoryPolicy):
    """Replays oracle plans: ``plans[i].orders[t]`` for copy i at period t (read from the observation)."""

    def __init__(self, env: Any, plans: OraclePlan | list[OraclePlan]) -> None:
        core = _core_of(env)
        self.plans = [plans] if isinstance(plans, OraclePlan) else list(plans)
        if not self.plans or not all(isinstance(p, OraclePlan) for p in self.plans):
            raise TypeError("plans: must be an OraclePlan or a non-empty list of OraclePlan")
        self._period = core.observation_index()["period"]
        self.name = "oracle-plan"

    def act(self, obs: np.ndarray) -> np.ndarray:
        if obs.shape[0] != len(self.plans):
            raise ValueError(f"observation batch {obs.shape[0]} != number of plans {len(self.plans)}")
        t = np.rint(obs[:, self._period]).astype(int)
        return np.stack(
            [plan.orders[min(k, len(plan.orders) - 1)] for plan, k in zip(self.plans, t, strict=True)]
        )


class RollingHorizonLPPolicy(InventoryPolicy):
    """Model-predictive control with a deterministic LP: every period, plan ``horizon`` periods
    ahead from the current state (read from the observation) against the mean demand forecast
    (the demand model's own means, i.e. an informed forecast) and apply the first period's
    orders. Planning ignores the episode's end, like gym-invmgmt's DLP baseline."""

    def __init__(self, env: Any, horizon: int | None = None) -> None:
        self.core = _core_of(env)
        base = getattr(env, "unwrapped", env)
        self.sampler = base.sampler
        self.order_bound = base.order_bound
        max_lead = self.core.max_lead
        self.horizon = check_int("horizon", horizon, low=1) if horizon is not None else max(10, max_lead + 2)
        self._period = self.core.observation_index()["period"]
        self.name = f"DLP(H={self.horizon})"

    def act(self, obs: np.ndarray) -> np.ndarray:
        out = np.zeros((obs.shape[0], self.core.n_links))
        for i, row in enumerate(obs):
            t = int(np.rint(row[self._period]))
            forecast = self.sampler.means(t, self.horizon)
            plan = hindsight_oracle(
                self.core,
                forecast,
                start=StartState.from_observation(self.core, row),
                order_bound=self.order_bound,
            )
            out[i] = plan.orders[0]
        return out
