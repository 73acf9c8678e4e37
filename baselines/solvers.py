"""Exact solvers for single-store inventory problems (HDPO's timing convention).

Timing, as in ``InvMgmt-SingleStore-*`` and HDPO's simulator: in period t the store holds ``I``
units after today's arrival and has ``p_1 .. p_{L-1}`` units arriving in 1 .. L-1 periods; it
orders ``q`` (arriving in L periods); demand ``D`` is served; it pays ``h`` per unit left and
``p`` per unit short (lost, or backlogged per period).

* :func:`lost_sales_optimal`: relative value iteration on (on-hand, pipeline) for lost sales
  (no closed form exists); returns the optimal long-run average cost and policy. Its memory
  grows as ``(cap + 1) ** lead_time``: :func:`lost_sales_dp_size` estimates it, and the solver
  refuses, before allocating anything, a problem above ``MAX_DP_BYTES`` (or its ``max_bytes``).
* :func:`backlog_base_stock`: the optimal base-stock level and its cost in closed form
  (normal or Poisson demand).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from rlsuite.envs.inventory.base_stock import critical_ratio, newsvendor_level
from rlsuite.validation import check_bool, check_choice, check_int, check_real

from .policies import InventoryPolicy, _core_of

MAX_DP_BYTES: int = 2 * 1024**3
"""Default memory limit (bytes) of :func:`lost_sales_optimal`; pass ``max_bytes`` to change it.
A problem whose estimate (:func:`lost_sales_dp_size`) exceeds it is refused before any allocation."""

_BYTES_PER_STATE = 104
"""About 13 float64 arrays over the state space live at once in an iteration (measured)."""


def lost_sales_dp_size(cap: int, lead_time: int, support: int = 0) -> tuple[float, float]:
    """``(states, bytes)``: the number of states ``(cap + 1) ** lead_time`` of the lost-sales DP
    and an estimate of its peak memory (the state arrays, the ``(cap + 1) ** 3`` transition
    table and ``support`` demand probabilities); ``inf`` beyond a float. Nothing is allocated."""
    n = float(cap) + 1.0
    try:
        states = n ** int(lead_time)
    except OverflowError:
        states = math.inf
    return states, _BYTES_PER_STATE * states + 8.0 * (n**3 + n**2) + 32.0 * float(support)


def _refuse_if_too_big(cap: int, lead_time: int, support: int, max_bytes: int, note: str = "") -> None:
    states, size = lost_sales_dp_size(cap, lead_time, support)
    if size > max_bytes:
        raise ValueError(
            f"lead_time: got {lead_time} with cap {cap}{note} and {support:.4g} demand values (mean, "
            f"demand_pmf): the DP has (cap + 1) ** lead_time = {states:.4g} states and needs about "
            f"{size / 2**30:.4g} GiB; max_bytes = "
            f"{max_bytes / 2**30:.4g} GiB (MAX_DP_BYTES); lower lead_time or cap, or raise max_bytes"
        )


def _poisson_support(mu: float) -> int:
    """Length of the Poisson(``mu``) pmf kept by :func:`_demand_pmf` (without building it)."""
    top = float(stats.poisson.isf(1e-16, mu))
    if not math.isfinite(top):  # scipy gives up for huge means; a safe over-estimate
        top = mu + 10.0 * math.sqrt(mu) + 50.0
    return int(top) + 2


def _demand_pmf(mean: float | None, pmf: Any) -> np.ndarray:
    if pmf is not None:
        try:
            arr = np.asarray(pmf, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(f"demand_pmf: got {pmf!r:.80}; must be a 1-D array of probabilities") from e
        if arr.ndim != 1 or arr.size == 0 or np.any(arr < 0) or not np.all(np.isfinite(arr)):
            raise ValueError(
                "demand_pmf: expected a 1-D array of non-negative probabilities over 0, 1, 2, ..."
            )
        if abs(arr.sum() - 1.0) > 1e-9:
            raise ValueError(f"demand_pmf: probabilities must sum to 1, got {arr.sum():.12g}")
        return arr
    mu = check_real("mean", mean if mean is not None else float("nan"), 0.0, low_open=True)
    arr = stats.poisson.pmf(np.arange(_poisson_support(mu)), mu)
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
    converged: bool = True
    """Whether ``span < tol`` was reached (False only with ``allow_unconverged=True``)."""

    def order(self, on_hand: Any, pipeline: Any = ()) -> np.ndarray:
        """Optimal order for on-hand ``I`` (after today's arrival) and pipeline ``p_1..p_{L-1}``
        (arriving in 1..L-1 periods); batched over leading dimensions. States beyond the cap
        are projected onto it (fewer units assumed in transit), which never happens under the
        optimal policy from a state inside the cap."""
        on_hand = np.asarray(on_hand, dtype=np.float64)
        pipe = np.asarray(pipeline, dtype=np.float64)
        if not np.all(np.isfinite(on_hand)):
            raise ValueError(f"on_hand: got {on_hand!r:.80}; must be finite")
        if self.lead_time > 1 and (pipe.ndim < 1 or pipe.shape[-1] != self.lead_time - 1):
            raise ValueError(
                f"pipeline: got shape {pipe.shape}; the last dimension must be lead_time - 1 = "
                f"{self.lead_time - 1}"
            )
        if not np.all(np.isfinite(pipe)):
            raise ValueError(f"pipeline: got {pipe!r:.80}; must be finite")
        idx = [np.clip(np.rint(on_hand).astype(np.int64), 0, self.cap)]
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
        if not isinstance(solution, LostSalesSolution):
            raise TypeError(f"solution: got {type(solution).__name__}; must be a LostSalesSolution")
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
    max_bytes: int | None = None,
    allow_unconverged: bool = False,
) -> LostSalesSolution:
    """Optimal long-run average cost and policy of the single-store lost-sales problem.

    Relative value iteration on the state (on-hand after arrival, pipeline) with orders
    restricted to keep the inventory position at most ``cap`` (default: the backlog optimal
    base-stock level + 4, beyond which the optimal policy never goes in these instances).
    Demand is Poisson(``mean``) or a given ``demand_pmf`` over 0, 1, 2, ... . Lead time
    ``lead_time`` >= 1 (the order arrives in ``lead_time`` periods); memory grows as
    ``(cap + 1) ** lead_time``, so L <= 3 solves in seconds and L = 4 needs minutes.

    Problems whose estimated memory (:func:`lost_sales_dp_size`) exceeds ``max_bytes`` (default
    :data:`MAX_DP_BYTES`) raise ``ValueError`` with the size, before anything is allocated (with
    Poisson demand, L = 5 already needs over 10 GiB). If value iteration has not converged
    (span >= ``tol``) after ``max_iter`` iterations, it raises ``RuntimeError`` with the final
    span, since the cost is then only known within span / 2; ``allow_unconverged=True`` returns
    that solution instead, with a ``RuntimeWarning`` and ``converged=False``.
    """
    L = check_int("lead_time", lead_time, low=1)
    h = check_real("holding_cost", holding_cost, 0.0)
    p = check_real("shortage_cost", shortage_cost, 0.0)
    if h + p <= 0:
        raise ValueError(f"holding_cost + shortage_cost: got {h + p:g}; must be > 0")
    tol = check_real("tol", tol, low=0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, low=1)
    max_bytes = MAX_DP_BYTES if max_bytes is None else check_int("max_bytes", max_bytes, low=1)
    allow_unconverged = check_bool("allow_unconverged", allow_unconverged)
    if cap is not None:
        cap = check_int("cap", cap, low=1)
    if demand_pmf is None:
        mu = check_real("mean", mean if mean is not None else float("nan"), 0.0, low_open=True)
        support = _poisson_support(mu)
        # Lower bound on the default cap (the Poisson((L + 1) mean) quantile, + 4), before any array.
        quantile = float(newsvendor_level(mu, L, critical_ratio(p, h), dist="poisson"))
        low = (int(quantile) if math.isfinite(quantile) else 0) + 3 if cap is None else cap
    else:
        support, low = int(np.size(demand_pmf)), 4 if cap is None else cap
    _refuse_if_too_big(low, L, support, max_bytes, "" if cap is not None else " (at least; the default)")
    pmf = _demand_pmf(mean, demand_pmf)
    if cap is None:
        cap = _lead_time_quantile(pmf, L + 1, critical_ratio(p, h)) + 4
        _refuse_if_too_big(cap, L, pmf.size, max_bytes, " (the default)")
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
    converged = span < tol
    if not converged:
        message = (
            f"max_iter: value iteration did not converge in {max_iter} iterations: final span "
            f"{span:.3g} >= tol {tol:.3g}, so the cost {g:.6g} is only known within +- {span / 2:.3g}"
        )
        if not allow_unconverged:
            raise RuntimeError(f"{message}; raise max_iter or pass allow_unconverged=True")
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    table = np.where(valid, best_q, -1)
    return LostSalesSolution(
        cost=g,
        lead_time=L,
        cap=int(cap),
        table=table,
        iterations=iterations,
        span=span,
        converged=converged,
    )


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
    lead_time = check_int("lead_time", lead_time, low=0)
    check_choice("dist", dist, ["normal", "poisson"])
    h = check_real("holding_cost", holding_cost, 0.0)
    p = check_real("shortage_cost", shortage_cost, 0.0)
    if h + p <= 0:
        raise ValueError(f"holding_cost + shortage_cost: got {h + p:g}; must be > 0")
    mean = check_real("mean", mean, 0.0)
    mu = mean * (lead_time + 1)
    if not math.isfinite(mu):
        raise ValueError(f"mean: got {mean!r}; (lead_time + 1) * mean overflows")
    ratio = critical_ratio(p, h)
    if dist == "normal":
        if std is None:
            raise ValueError("std: normal demand needs a standard deviation")
        std = check_real("std", std, 0.0, low_open=True)
        sigma = std * math.sqrt(lead_time + 1)
        level = float(newsvendor_level(mean, lead_time, ratio, std=std))
        return level, (h + p) * sigma * float(stats.norm.pdf(stats.norm.ppf(ratio)))
    S = int(newsvendor_level(mean, lead_time, ratio, dist="poisson"))
    # E(S - D)^+ = S F(S) - mu F(S - 1), since k pmf(k) = mu pmf(k - 1): no array over 0..S.
    over = max(S * float(stats.poisson.cdf(S, mu)) - mu * float(stats.poisson.cdf(S - 1, mu)), 0.0)
    return float(S), h * over + p * (mu - S + over)
