"""Exact solvers for single-store inventory problems (HDPO's timing convention).

Timing, as in ``InvMgmt-SingleStore-*`` and HDPO's simulator: in period t the store holds ``I``
units after today's arrival and has ``p_1 .. p_{L-1}`` units arriving in 1 .. L-1 periods; it
orders ``q`` (arriving in L periods); demand ``D`` is served; it pays ``h`` per unit left and
``p`` per unit short (lost, or backlogged per period).

* :func:`lost_sales_optimal`: relative value iteration on (on-hand, pipeline) for lost sales
  (no closed form exists); returns the optimal long-run average cost and policy.
* :func:`backlog_base_stock`: the optimal base-stock level and its cost in closed form
  (normal or Poisson demand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .policies import InventoryPolicy, _core_of


def _check(name: str, value: float, *, minimum: float = 0.0, strict: bool = False) -> float:
    x = float(value)
    if not math.isfinite(x) or x < minimum or (strict and x == minimum):
        raise ValueError(
            f"{name}: got {value!r}; must be a finite number {'>' if strict else '>='} {minimum:g}"
        )
    return x


def _demand_pmf(mean: float | None, pmf: Any) -> np.ndarray:
    if pmf is not None:
        arr = np.asarray(pmf, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0 or np.any(arr < 0) or not np.all(np.isfinite(arr)):
            raise ValueError(
                "demand_pmf: expected a 1-D array of non-negative probabilities over 0, 1, 2, ..."
            )
        if abs(arr.sum() - 1.0) > 1e-9:
            raise ValueError(f"demand_pmf: probabilities must sum to 1, got {arr.sum():.12g}")
        return arr
    mu = _check("mean", mean if mean is not None else float("nan"), strict=True)
    top = int(stats.poisson.isf(1e-16, mu)) + 1
    arr = stats.poisson.pmf(np.arange(top + 1), mu)
    return arr / arr.sum()


def _lead_time_quantile(pmf: np.ndarray, periods: int, ratio: float) -> int:
    conv = np.array([1.0])
    for _ in range(periods):
        conv = np.convolve(conv, pmf)
    return int(np.searchsorted(np.cumsum(conv), ratio - 1e-12))


@dataclass
class LostSalesSolution:
    """Result of :func:`lost_sales_optimal`."""

    cost: float
    """Optimal long-run average cost per period."""
    lead_time: int
    cap: int
    """Inventory-position cap of the state space (on-hand + pipeline + order <= cap)."""
    table: np.ndarray = field(repr=False)
    """Optimal order per state ``(I, p_1, ..., p_{L-1})``, dims ``cap + 1`` each (-1: outside the cap)."""
    iterations: int = 0
    span: float = 0.0
    """Final span of the value-iteration difference (cost is within span / 2 of the optimum)."""

    def order(self, on_hand: Any, pipeline: Any = ()) -> np.ndarray:
        """Optimal order for on-hand ``I`` (after today's arrival) and pipeline ``p_1..p_{L-1}``
        (arriving in 1..L-1 periods); batched over leading dimensions. States beyond the cap
        are projected onto it (fewer units assumed in transit), which never happens under the
        optimal policy from a state inside the cap."""
        idx = [np.clip(np.rint(np.asarray(on_hand, dtype=np.float64)).astype(np.int64), 0, self.cap)]
        pipe = np.asarray(pipeline, dtype=np.float64)
        for k in range(self.lead_time - 1):
            idx.append(np.clip(np.rint(pipe[..., k]).astype(np.int64), 0, self.cap))
        while True:
            q = self.table[tuple(idx)]
            if np.all(q >= 0):
                return q.astype(np.float64)
            # Outside the cap: drop one unit from the largest coordinate and look again.
            bad = q < 0
            for i in range(len(idx) - 1, -1, -1):
                dec = bad & (idx[i] > 0)
                idx[i] = np.where(dec, idx[i] - 1, idx[i])
                bad = bad & ~dec

    def policy(self, env: Any) -> LostSalesDPPolicy:
        """The optimal policy on a single-store ``InvMgmt`` env (single or vector)."""
        return LostSalesDPPolicy(env, self)


class LostSalesDPPolicy(InventoryPolicy):
    """Plays a :class:`LostSalesSolution` on ``InvMgmt-SingleStore-v0`` observations."""

    def __init__(self, env: Any, solution: LostSalesSolution) -> None:
        core = _core_of(env)
        spec = core.spec
        if core.n_links != 1 or core.n_markets != 1 or core.backlog:
            raise ValueError("env: the lost-sales DP policy needs a single-store lost-sales network")
        if spec.links[0].L != solution.lead_time or solution.lead_time < 1:
            raise ValueError(
                f"env: lead time {spec.links[0].L} differs from the solution's {solution.lead_time}"
            )
        idx = core.observation_index()
        self._on_hand, self._slots = idx["on_hand"][0], idx["pipeline"][0]
        self.solution = solution
        self.name = f"lost-sales-DP(L={solution.lead_time})"

    def act(self, obs: np.ndarray) -> np.ndarray:
        slots = obs[:, self._slots]
        on_hand = obs[:, self._on_hand] + slots[:, 0]  # the DP's I includes today's arrival
        return self.solution.order(on_hand, slots[:, 1:])[:, None]


def lost_sales_optimal(
    mean: float | None = 5.0,
    lead_time: int = 1,
    holding_cost: float = 1.0,
    shortage_cost: float = 9.0,
    *,
    demand_pmf: Any = None,
    cap: int | None = None,
    tol: float = 1e-8,
    max_iter: int = 20_000,
) -> LostSalesSolution:
    """Optimal long-run average cost and policy of the single-store lost-sales problem.

    Relative value iteration on the state (on-hand after arrival, pipeline) with orders
    restricted to keep the inventory position at most ``cap`` (default: the backlog optimal
    base-stock level + 4, beyond which the optimal policy never goes in these instances).
    Demand is Poisson(``mean``) or a given ``demand_pmf`` over 0, 1, 2, ... . Lead time
    ``lead_time`` >= 1 (the order arrives in ``lead_time`` periods); memory grows as
    ``(cap + 1) ** lead_time``, so L <= 3 solves in seconds and L = 4 needs minutes.
    """
    if isinstance(lead_time, bool) or not isinstance(lead_time, (int, np.integer)) or lead_time < 1:
        raise ValueError(f"lead_time: got {lead_time!r}; must be an integer >= 1")
    h = _check("holding_cost", holding_cost)
    p = _check("shortage_cost", shortage_cost)
    if h + p <= 0:
        raise ValueError("holding_cost + shortage_cost must be > 0")
    pmf = _demand_pmf(mean, demand_pmf)
    L = int(lead_time)
    if cap is None:
        cap = _lead_time_quantile(pmf, L + 1, p / (p + h)) + 4
    if isinstance(cap, bool) or not isinstance(cap, (int, np.integer)) or cap < 1:
        raise ValueError(f"cap: got {cap!r}; must be a positive integer")
    n = cap + 1
    d = np.arange(len(pmf))
    mean_d = float(pmf @ d)
    cdf = np.cumsum(pmf)
    a = np.arange(n)
    over = np.array([pmf[: x + 1] @ (x - d[: x + 1]) for x in a])  # E(a - D)^+
    cost = h * over + p * (mean_d - a + over)  # E(D - a)^+ = E D - a + E(a - D)^+
    # pi[a, m] = P((a - D)^+ = m): the units left after demand.
    pi = np.zeros((n, n))
    for x in range(n):
        for m in range(1, x + 1):
            pi[x, m] = pmf[x - m] if x - m < len(pmf) else 0.0
        pi[x, 0] = 1.0 - (cdf[x - 1] if x >= 1 else 0.0) if x - 1 < len(cdf) else 0.0
    # T[a, b, y] = P(next on-hand y | on-hand a, next arrival b) = pi[a, y - b].
    T = np.zeros((n, n, n))
    for b in range(n):
        for m in range(n - b):
            T[:, b, b + m] = pi[:, m]
    T2 = T.reshape(n * n, n)

    # Coordinates of the state (I, p_1, ..., p_{L-1}); an order q keeps I + sum(p) + q <= cap.
    grids = np.meshgrid(*([a] * L), indexing="ij")
    ip = sum(grids)
    valid = ip <= cap
    V = np.zeros([n] * L)
    big = 1e18
    iterations, span = 0, float("inf")
    best_q = np.zeros([n] * L, np.int64)
    while iterations < max_iter and span >= tol:
        iterations += 1
        best = np.full([n] * L, big)
        for q in range(n):
            # U(state, q) = E_D V(next state); next = ((I - D)^+ + p_1, p_2, ..., p_{L-1}, q).
            if L == 1:
                u = T[:, q, :] @ V  # b is the order itself
            else:
                u = (T2 @ V[..., q].reshape(n, -1)).reshape([n] * L)
            ok = valid & (ip + q <= cap)
            better = ok & (u < best)
            best = np.where(better, u, best)
            best_q = np.where(better, q, best_q)
        new = np.where(valid, cost.reshape([n] + [1] * (L - 1)) + best, 0.0)
        diff = (new - V)[valid]
        span = float(diff.max() - diff.min())
        V = new - new.flat[0]
    g = float((diff.max() + diff.min()) / 2)
    table = np.where(valid, best_q, -1)
    return LostSalesSolution(cost=g, lead_time=L, cap=int(cap), table=table, iterations=iterations, span=span)


def backlog_base_stock(
    lead_time: int,
    holding_cost: float = 1.0,
    shortage_cost: float = 9.0,
    *,
    mean: float = 5.0,
    std: float | None = None,
    dist: str = "normal",
) -> tuple[float, float]:
    """Optimal base-stock level ``S*`` and long-run average cost of the single-store backlog problem.

    Demand over the protection interval of ``lead_time + 1`` periods is normal with mean
    ``(L + 1) mean`` and std ``std sqrt(L + 1)`` (``dist='normal'``, unclipped; the critical
    fractile ``z = Phi^-1(p / (p + h))`` gives ``S* = (L+1) mean + z std sqrt(L+1)`` and cost
    ``(h + p) std sqrt(L+1) phi(z)``) or Poisson((L + 1) mean) (``dist='poisson'``: the smallest S
    with ``F(S) >= p / (p + h)`` and cost ``h E(S - D)^+ + p E(D - S)^+``).
    """
    if isinstance(lead_time, bool) or not isinstance(lead_time, (int, np.integer)) or lead_time < 0:
        raise ValueError(f"lead_time: got {lead_time!r}; must be an integer >= 0")
    h = _check("holding_cost", holding_cost)
    p = _check("shortage_cost", shortage_cost)
    if h + p <= 0:
        raise ValueError("holding_cost + shortage_cost must be > 0")
    mu = _check("mean", mean) * (lead_time + 1)
    ratio = p / (p + h)
    if dist == "normal":
        if std is None:
            raise ValueError("std: normal demand needs a standard deviation")
        sigma = _check("std", std, strict=True) * math.sqrt(lead_time + 1)
        z = float(stats.norm.ppf(ratio))
        return mu + z * sigma, (h + p) * sigma * float(stats.norm.pdf(z))
    if dist == "poisson":
        S = int(stats.poisson.ppf(ratio, mu))
        k = np.arange(S + 1)
        over = float(stats.poisson.pmf(k, mu) @ (S - k))  # E(S - D)^+
        return float(S), h * over + p * (mu - S + over)
    raise ValueError(f"dist: got {dist!r}; allowed: ['normal', 'poisson']")
