"""Perfect-information bound for ``LotSizing``: the best production plan for one known demand trace.

A mixed-integer program with exactly the semantics of
:class:`~rlsuite.envs.inventory.lotsizing.LotSizingEnv` (Felizardo et al., IJCNN 2025, arXiv
2504.05150, use the same hindsight benchmark). For periods ``t``, machines ``m`` and items ``i``:

- ``y[t,m,i]`` binary: machine ``m`` makes item ``i`` in period ``t``; ``sum_i y[t,m,i] <= 1``
  (idle allowed).
- ``z[t,m,i]`` binary: a setup is paid, ``z = y[t,m,i] * (1 - y[t-1,m,i])`` (idle resets the
  setup, so only making the same item twice in a row avoids it; at ``t = 0`` the previous setup
  is the initial one), linearised exactly by ``z >= y - y_prev, z <= y, z <= 1 - y_prev``.
- Units added ``A[t,i] = sum_m production[m,i] y - min(setup_loss[m,i], production[m,i]) z``.
- Post-decision inventory ``p[t,i] = min(e[t-1,i] + A[t,i], max_inventory)``, written exactly
  with a binary ``b[t,i]`` (``b = 1``: the cap binds). Free disposal would not do: the program
  would then discard the units it will never sell to save their holding cost, which the env
  cannot do.
- Sales ``0 <= s[t,i] <= min(p[t,i], d[t,i])``, end inventory ``e[t,i] = p[t,i] - s[t,i]``. Selling
  as much as possible (the env's rule) is optimal for any fixed plan, since costs are
  non-negative and do not depend on time.

Minimised: ``sum setup_costs z + lost_sales_costs (d - s) + holding_costs e``, the env's
undiscounted episode cost. Solved with HiGHS through :func:`scipy.optimize.milp`. Making an item
a machine cannot make (rate 0) is left out: it is never better than idling.

Cost of exactness. The cap binds often in good plans (running a machine on at the cap avoids
paying its setup again), and the LP relaxation of ``min(., cap)`` is weak, so the program gets
hard quickly with the horizon: on ``LotSizing-Small-v0`` (3 items, 2 machines, 2 CPU cores)
``T = 12`` solves in 0.3 s, ``T = 20`` in about 2 s, ``T = 30`` in 5-7 s, ``T = 50`` in about
30 s, while ``T = 100`` is still ~40% from optimal after 150 s. For long horizons pass
``time_limit`` and report :attr:`LotSizingMILPResult.lower_bound` (a valid bound on the hindsight
cost) next to ``cost``.

The reported ``cost`` is the plan replayed in the env (exact); ``objective`` is HiGHS's value,
equal to it up to the solver's feasibility tolerance (about 1e-7 per unit).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from rlsuite.envs.inventory.lotsizing import LotSizingEnv, LotSizingSpec
from rlsuite.evaluation import mean_ci
from rlsuite.validation import check_int, check_optional_real, check_real

_STATUS = {0: "optimal", 1: "limit reached", 2: "infeasible", 3: "unbounded", 4: "error"}


@dataclass
class LotSizingMILPResult:
    """The hindsight-optimal plan of one demand trace."""

    cost: float
    """Episode cost of the plan found (the bound when ``optimal``), replayed exactly in the env."""
    objective: float
    """The solver's objective for the same plan (equal to ``cost`` up to HiGHS's tolerances)."""
    actions: np.ndarray = field(repr=False)
    """``[T, n_machines]`` int64 actions in the env's format (0 idle, i = item i)."""
    status: str
    """``optimal`` or why the solver stopped (``limit reached``: ``cost`` is an upper bound)."""
    lower_bound: float
    """The solver's dual bound: a valid lower bound on the hindsight cost even when not optimal."""
    solve_time: float
    """Seconds spent building and solving the program."""

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


def _whole(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)) and np.all(x >= 0) and np.all(x == np.round(x)))


def _check_inputs(
    spec: LotSizingSpec, demand_trace: Any, initial_inventory: Any, initial_setup: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_i, n_m = spec.n_items, spec.n_machines
    try:
        d = np.asarray(demand_trace, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"demand_trace: got {demand_trace!r:.80}; must be an array of numbers") from e
    if d.ndim != 2 or d.shape[1] != n_i or d.shape[0] < 1 or not _whole(d):
        raise ValueError(f"demand_trace: got shape {d.shape}; must be [T >= 1, {n_i}] whole units >= 0")
    inv = np.asarray(initial_inventory, dtype=np.float64)
    if inv.shape != (n_i,) or not _whole(inv) or np.any(inv > spec.max_inventory):
        raise ValueError(
            f"initial_inventory: got {np.asarray(initial_inventory).tolist()!r}; must be [{n_i}] "
            f"in [0, {spec.max_inventory}]"
        )
    setup = np.asarray(initial_setup, dtype=np.float64)
    if setup.shape != (n_m,) or not _whole(setup) or np.any(setup > n_i):
        raise ValueError(
            f"initial_setup: got {np.asarray(initial_setup).tolist()!r}; "
            f"must be [{n_m}] integers in [0, {n_i}]"
        )
    return d, inv, setup.astype(np.int64)


def perfect_information_bound(
    spec: LotSizingSpec,
    demand_trace: Any,
    initial_inventory: Any,
    initial_setup: Any,
    *,
    time_limit: float | None = None,
    mip_rel_gap: float = 1e-6,
) -> LotSizingMILPResult:
    """Solve the hindsight lot-sizing problem for one demand trace.

    Args:
        spec: the plant (``env.unwrapped.instance``).
        demand_trace: ``[T, n_items]`` demand (``env.unwrapped.demand_trace`` for an episode).
        initial_inventory: ``[n_items]`` units at the start (the first observation's inventory).
        initial_setup: ``[n_machines]`` setups at the start (0 idle, i = item i).
        time_limit: seconds for HiGHS (``None``: no limit).
        mip_rel_gap: relative optimality gap at which HiGHS stops.
    """
    start = time.perf_counter()
    if not isinstance(spec, LotSizingSpec):
        raise TypeError(f"spec: got {type(spec).__name__}; must be a LotSizingSpec")
    time_limit = check_optional_real("time_limit", time_limit, low=0.0)
    mip_rel_gap = check_real("mip_rel_gap", mip_rel_gap, low=0.0, high=1.0)
    d, inv0, setup0 = _check_inputs(spec, demand_trace, initial_inventory, initial_setup)
    T, M, n_i = d.shape[0], spec.n_machines, spec.n_items
    cap = float(spec.max_inventory)
    prod = spec.production.astype(np.float64)
    loss = np.minimum(spec.setup_loss, spec.production).astype(np.float64)
    big = prod.sum(axis=0)  # the most units of item i one period can add

    n_y = T * M * n_i
    Y, Z = 0, n_y
    B = Z + n_y
    P = B + T * n_i
    S = P + T * n_i
    n = S + T * n_i

    def y(t: int, m: int, i: int) -> int:
        return Y + (t * M + m) * n_i + i

    def ti(base: int, t: int, i: int) -> int:
        return base + t * n_i + i

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lo: list[float] = []
    hi: list[float] = []

    def row(entries: list[tuple[int, float]], lb: float, ub: float) -> None:
        r = len(lo)
        for c, v in entries:
            rows.append(r)
            cols.append(c)
            vals.append(v)
        lo.append(lb)
        hi.append(ub)

    lb_var = np.zeros(n)
    ub_var = np.ones(n)
    ub_var[P : P + T * n_i] = cap
    ub_var[S:] = d.ravel()
    cost = np.zeros(n)
    for t in range(T):
        for m in range(M):
            row([(y(t, m, i), 1.0) for i in range(n_i)], -np.inf, 1.0)
            for i in range(n_i):
                yc, zc = y(t, m, i), y(t, m, i) + n_y
                cost[zc] = spec.setup_costs[m, i]
                if prod[m, i] == 0:  # pays a setup and makes nothing: idle does as well
                    ub_var[yc] = ub_var[zc] = 0.0
                if t == 0:
                    if setup0[m] == i + 1:
                        ub_var[zc] = 0.0  # already set up for i
                    else:
                        row([(zc, 1.0), (yc, -1.0)], 0.0, 0.0)
                else:
                    prev = y(t - 1, m, i)
                    row([(zc, 1.0), (yc, -1.0), (prev, 1.0)], 0.0, np.inf)
                    row([(zc, 1.0), (yc, -1.0)], -np.inf, 0.0)
                    row([(zc, 1.0), (prev, 1.0)], -np.inf, 1.0)
        for i in range(n_i):
            p, s, b = ti(P, t, i), ti(S, t, i), ti(B, t, i)
            cost[p] = spec.holding_costs[i]
            cost[s] = -(spec.lost_sales_costs[i] + spec.holding_costs[i])
            # p - (e[t-1] + A) as a linear expression; e[-1] = inv0 is a constant.
            expr = [(p, 1.0)]
            for m in range(M):
                expr += [(y(t, m, i), -prod[m, i]), (y(t, m, i) + n_y, loss[m, i])]
            const = inv0[i]
            if t > 0:
                expr += [(ti(P, t - 1, i), -1.0), (ti(S, t - 1, i), 1.0)]
                const = 0.0
            row(expr, -np.inf, const)  # p <= q
            row([*expr, (b, big[i])], const, np.inf)  # p >= q - big * b
            row([(p, 1.0), (b, -cap)], 0.0, np.inf)  # p >= cap * b
            row([(s, 1.0), (p, -1.0)], -np.inf, 0.0)  # s <= p
    integrality = np.zeros(n)
    integrality[:P] = 1
    A = sparse.csr_array((vals, (rows, cols)), shape=(len(lo), n))
    options: dict[str, Any] = {"mip_rel_gap": mip_rel_gap}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(
        cost,
        constraints=LinearConstraint(A, np.array(lo), np.array(hi)),
        integrality=integrality,
        bounds=Bounds(lb_var, ub_var),
        options=options,
    )
    if res.x is None:
        raise RuntimeError(
            f"lot-sizing MILP: no solution ({_STATUS.get(res.status, res.status)}: {res.message})"
        )
    constant = float(spec.lost_sales_costs @ d.sum(axis=0))
    ys = np.rint(res.x[:n_y]).reshape(T, M, n_i)
    actions = (ys * np.arange(1, n_i + 1)).sum(axis=2).astype(np.int64)
    dual = getattr(res, "mip_dual_bound", None)
    return LotSizingMILPResult(
        cost=plan_cost(spec, actions, d, inv0, setup0),
        objective=float(res.fun) + constant,
        actions=actions,
        status=_STATUS.get(res.status, str(res.status)),
        lower_bound=(float(dual) + constant) if dual is not None else float(res.fun) + constant,
        solve_time=time.perf_counter() - start,
    )


def plan_cost(
    spec: LotSizingSpec, actions: Any, demand_trace: Any, initial_inventory: Any, initial_setup: Any
) -> float:
    """Episode cost of an open-loop plan ``[T, n_machines]`` on a known trace, run in the env."""
    actions = np.asarray(actions)
    env = LotSizingEnv(spec, horizon=len(actions))
    env.reset(options={"inventory": initial_inventory, "setup": initial_setup, "demand": demand_trace})
    return float(sum(env.step(a)[4]["cost"] for a in actions))


@dataclass
class HindsightBound:
    """Hindsight-optimal episode costs over demand traces drawn as the env draws them."""

    mean: float
    """Mean optimal episode cost."""
    ci95: float
    """Half-width of the 95% t-interval of the mean (NaN for one trace)."""
    lower_mean: float
    """Mean of the solver's dual bounds (equals ``mean`` when every trace is solved to optimality)."""
    costs: np.ndarray = field(repr=False)
    """``[n_traces]`` optimal cost of each trace (the incumbent's where a time limit stopped HiGHS)."""
    seeds: list[int] = field(repr=False)
    """The reset seed of each trace: ``env.reset(seed=seeds[k])`` replays it."""
    results: list[LotSizingMILPResult] = field(repr=False)
    """The plan of each trace."""

    @property
    def all_optimal(self) -> bool:
        return all(r.optimal for r in self.results)


def hindsight_bound(
    env_id_or_spec: str | LotSizingSpec,
    n_traces: int = 10,
    horizon: int | None = None,
    seed: int = 0,
    *,
    time_limit: float | None = None,
    **env_kwargs: Any,
) -> HindsightBound:
    """Mean perfect-information cost over ``n_traces`` episodes.

    Episode ``k`` is the env's episode after ``reset(seed=seed + k)``: the same initial state and
    demand trace, so a policy evaluated with those seeds meets exactly these traces, and
    ``policy cost - bound`` is its gap to the clairvoyant plan. ``horizon`` and ``env_kwargs``
    override the env (e.g. ``demand="poisson"``); ``time_limit`` caps each solve (seconds).
    """
    n_traces = check_int("n_traces", n_traces, low=1)
    seed = check_int("seed", seed, low=0)
    time_limit = check_optional_real("time_limit", time_limit, low=0.0)
    if horizon is not None:
        env_kwargs["horizon"] = check_int("horizon", horizon, low=1)
    if isinstance(env_id_or_spec, LotSizingSpec):
        env = LotSizingEnv(env_id_or_spec, **env_kwargs)
    else:
        made = gym.make(env_id_or_spec, **env_kwargs).unwrapped
        if not isinstance(made, LotSizingEnv):
            raise ValueError(
                f"env_id_or_spec: got {env_id_or_spec!r}; must be a LotSizing id or a LotSizingSpec"
            )
        env = made
    seeds = [seed + k for k in range(n_traces)]
    results = []
    for s in seeds:
        obs, _ = env.reset(seed=s)
        results.append(
            perfect_information_bound(
                env.instance,
                env.demand_trace,
                obs[: env.n_items],
                obs[env.n_items :].astype(np.int64),
                time_limit=time_limit,
            )
        )
    costs = np.array([r.cost for r in results])
    mean, half = mean_ci(costs, nan_policy="omit")
    lower = float(np.mean([r.lower_bound for r in results]))
    return HindsightBound(mean=mean, ci95=half, lower_mean=lower, costs=costs, seeds=seeds, results=results)
