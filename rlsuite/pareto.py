"""Multi-objective metrics and a population archive: Pareto filtering, hypervolume, expected utility,
sparsity, IGD, cardinality, crowding distance, and :class:`ParetoArchive`.

Conventions (MO-Gymnasium's): every objective is **maximised**; a set of points is a NumPy array
``[n_points, n_objectives]`` (one row per policy, e.g. its mean vector return); ``q`` dominates ``p``
when ``q >= p`` in every objective and ``q > p`` in at least one.

- :func:`pareto_mask` / :func:`pareto_front` / :func:`cardinality`: the non-dominated points.
- :func:`hypervolume`: the volume dominated by the points and bounded below by ``ref_point``;
  exact in any dimension (a sweep in 2-D, a sweep over the third objective with an incremental 2-D
  staircase in 3-D, slicing over the last objective (HSO) above; see :data:`HV_MAX_INSERTIONS`).
- :func:`expected_utility`: ``EU = mean_w max_i w . p_i`` over a grid of weights
  (:func:`simplex_weights`).
- :func:`sparsity` (PGMORL), :func:`igd` (distance to a known front), :func:`crowding_distance`
  (NSGA-II), which :meth:`ParetoArchive.select_sparse` uses to pick the least crowded entries
  (C-MORL's stage-2 selection).
- :func:`deep_sea_treasure_front`: the known front of Deep Sea Treasure, for exact tests.

Only NumPy is imported here. Inputs are checked where they enter: an error names the argument, the
value and what is allowed (``"points: got an array of shape (3,); must be a 2-D array ..."``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from itertools import combinations
from typing import Any, Generic, TypeVar

import numpy as np

from rlsuite.validation import (
    ArgumentTypeError,
    check_choice,
    check_int,
    check_real,
    short_repr,
)

HV_MAX_INSERTIONS = 2_000_000
"""Work limit of :func:`hypervolume` in 4 or more objectives: slicing ``n`` non-dominated points
down to 3-D sweeps costs ``comb(n + k - 3, k - 2)`` staircase insertions (about 2 s per million);
above this limit it raises ``ValueError`` instead of running for minutes. Roughly ``n <= 2000`` for
``k = 4``, ``n <= 230`` for ``k = 5``, ``n <= 80`` for ``k = 6``. 2-D and 3-D have no limit
(``O(n log n)`` and ``O(n^2)`` at worst)."""

MAX_SIMPLEX_WEIGHTS = 1_000_000
"""Largest weight grid :func:`simplex_weights` builds."""

DEEP_SEA_TREASURE_VARIANTS = ("concave", "convex")
"""The maps of :func:`deep_sea_treasure_front`."""

# Deep Sea Treasure: (treasure value, minimal number of steps to reach it) of the ten treasures.
_DST_TREASURES = {
    # Vamplew et al. (2011), the original map; mo-gymnasium "deep-sea-treasure-concave-v0".
    "concave": ((1.0, 1), (2.0, 3), (3.0, 5), (5.0, 7), (8.0, 8), (16.0, 9), (24.0, 13), (50.0, 14),
                (74.0, 17), (124.0, 19)),
    # Yang et al. (2019), every point on the convex hull; mo-gymnasium "deep-sea-treasure-v0".
    "convex": ((0.7, 1), (8.2, 3), (11.5, 5), (14.0, 7), (15.1, 8), (16.1, 9), (19.6, 13), (20.3, 14),
               (22.4, 17), (23.7, 19)),
}  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------


def _real_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a float64 array, refusing strings, bools, complex and ragged nesting."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nesting
        raise ValueError(
            f"{name}: got {short_repr(value)}; must be an array of real numbers ({exc})"
        ) from None
    if arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(
            f"{name}: got {short_repr(value)} (dtype {arr.dtype}); must be an array of real numbers"
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        bad = arr.flat[np.flatnonzero(~np.isfinite(arr))[0]]
        raise ValueError(f"{name}: got a non-finite value ({bad}); every value must be finite")
    return arr


def _as_points(name: str, value: Any, min_points: int = 0, n_objectives: int | None = None) -> np.ndarray:
    """A finite float64 array ``[n_points, n_objectives]`` with ``n_points >= min_points``."""
    arr = _real_array(name, value)
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: got an array of shape {arr.shape}; must be a 2-D array [n_points, n_objectives]"
        )
    if arr.shape[1] < 1:
        raise ValueError(f"{name}: got an array of shape {arr.shape}; need at least one objective (column)")
    if n_objectives is not None and arr.shape[1] != n_objectives:
        raise ValueError(
            f"{name}: got {arr.shape[1]} objectives (shape {arr.shape}); must have {n_objectives}, "
            "one per objective of the points"
        )
    if arr.shape[0] < min_points:
        raise ValueError(f"{name}: got {arr.shape[0]} points; need at least {min_points}")
    return arr


def _as_vector(name: str, value: Any, length: int | None) -> np.ndarray:
    """A finite float64 vector ``[length]`` (any length >= 1 when ``length`` is None)."""
    arr = _real_array(name, value)
    if arr.ndim != 1 or arr.size < 1 or (length is not None and arr.size != length):
        want = f"{length} values" if length is not None else "at least one value"
        raise ValueError(
            f"{name}: got an array of shape {arr.shape}; must be a 1-D array of {want} (one per objective)"
        )
    return arr


# --------------------------------------------------------------------------------------------------
# Pareto filtering
# --------------------------------------------------------------------------------------------------


def pareto_mask(points: Any) -> np.ndarray:
    """Which points are non-dominated: ``[n]`` bool.

    ``points``: ``[n, k]`` finite, maximised. A point is kept when no other point dominates it. Of
    several identical points exactly one is kept, the one with the lowest row index, so
    ``points[pareto_mask(points)]`` has no duplicates.

    Points are visited in decreasing lexicographic order, where a dominating point always comes
    before the points it dominates; each is kept unless a kept point is ``>=`` it in every objective
    (transitivity makes the kept points enough). ``O(n * front * k)``.
    """
    p = _as_points("points", points)
    n, k = p.shape
    # lexsort's last key is the primary one: objective 0 descending, ..., then row index ascending.
    order = np.lexsort((np.arange(n), *(-p[:, j] for j in reversed(range(k)))))
    kept = np.empty_like(p)
    n_kept = 0
    mask = np.zeros(n, dtype=bool)
    for i in order:
        if n_kept and np.any(np.all(kept[:n_kept] >= p[i], axis=1)):
            continue
        kept[n_kept] = p[i]
        n_kept += 1
        mask[i] = True
    return mask


def pareto_front(points: Any) -> np.ndarray:
    """The unique non-dominated points ``[m, k]``, sorted lexicographically (ascending)."""
    p = _as_points("points", points)
    front = p[pareto_mask(p)]
    return front[np.lexsort(front.T[::-1])]


def cardinality(points: Any) -> int:
    """The number of unique non-dominated points."""
    return int(np.count_nonzero(pareto_mask(points)))


# --------------------------------------------------------------------------------------------------
# Hypervolume
# --------------------------------------------------------------------------------------------------


def hypervolume(points: Any, ref_point: Any) -> float:
    """The hypervolume of ``points`` above ``ref_point``: the volume of the union of the boxes
    ``[ref_point, p]``.

    ``points``: ``[n, k]`` finite, maximised; ``ref_point``: ``[k]``, below every point of interest.
    Points that do not strictly dominate the reference point (``p > ref_point`` in every objective)
    contribute nothing; dominated and duplicate points change nothing. Exact in every dimension:

    - ``k = 2``: a sweep in decreasing first objective, ``O(n log n)``;
    - ``k = 3``: a sweep in decreasing third objective that inserts each point into a 2-D staircase
      kept sorted with ``bisect`` and adds the area it gains; volume = sum of area x slab depth,
      ``O(n log n)`` comparisons (``O(n^2)`` list moves at worst, fast in practice);
    - ``k >= 4``: slicing over the last objective (HSO, While et al. 2006) down to the 3-D sweep, on
      the non-dominated points; above :data:`HV_MAX_INSERTIONS` it raises ``ValueError``.
    """
    p = _as_points("points", points)
    k = p.shape[1]
    ref = _as_vector("ref_point", ref_point, k)
    q = p[np.all(p > ref, axis=1)] - ref  # boxes [0, q] with q > 0
    if len(q) == 0:
        return 0.0
    if k >= 4:
        q = q[pareto_mask(q)]
        work = math.comb(len(q) + k - 3, k - 2)
        if work > HV_MAX_INSERTIONS:
            raise ValueError(
                f"points: {len(q)} non-dominated points in {k} objectives need {work:.3g} staircase "
                f"insertions; the exact hypervolume allows at most HV_MAX_INSERTIONS={HV_MAX_INSERTIONS} "
                "(use fewer points or objectives)"
            )
    return _hv(q)


def _hv(q: np.ndarray) -> float:
    """Volume of the union of the boxes ``[0, q_i]``, ``q > 0`` ``[n, k]``."""
    k = q.shape[1]
    if k == 1:
        return float(q.max())
    if k == 2:
        return _hv2d(q)
    if k == 3:
        return _hv3d(q)
    # HSO: sorted by the last objective (descending), the slab between the j-th and (j+1)-th values
    # has as cross-section the (k-1)-D hypervolume of the first j points.
    q = q[np.argsort(-q[:, -1], kind="stable")]
    depth = q[:, -1] - np.append(q[1:, -1], 0.0)
    return float(sum(_hv(q[: j + 1, :-1]) * depth[j] for j in np.flatnonzero(depth > 0)))


def _hv2d(q: np.ndarray) -> float:
    """Area of the union of ``[0, x_i] x [0, y_i]``: in decreasing ``x``, each point adds the strip
    of height (its ``y`` minus the highest ``y`` seen so far), if positive, of width ``x``."""
    order = np.argsort(-q[:, 0], kind="stable")
    x, y = q[order, 0], q[order, 1]
    rise = np.diff(np.maximum.accumulate(y), prepend=0.0)
    return float(np.dot(x, rise))


def _hv3d(q: np.ndarray) -> float:
    """Volume of the union of ``[0, q_i]`` in 3-D: sweep in decreasing ``z``; the cross-section at
    depth ``z`` is the 2-D area of the points with ``z_i >= z``, kept up to date point by point."""
    order = np.argsort(-q[:, 2], kind="stable")
    z = q[order, 2]
    depths = z - np.append(z[1:], 0.0)
    xs: list[float] = []  # the 2-D staircase: x ascending ...
    neg_ys: list[float] = []  # ... and y descending (stored negated, ascending, for bisect)
    area = volume = 0.0
    for (x, y), depth in zip(q[order, :2].tolist(), depths.tolist(), strict=True):
        area += _staircase_insert(xs, neg_ys, x, y)
        volume += area * depth
    return volume


def _staircase_insert(xs: list[float], neg_ys: list[float], x: float, y: float) -> float:
    """Insert ``(x, y)`` into a non-dominated 2-D staircase (``xs`` ascending, ``ys`` descending),
    removing the points it dominates; returns the area it adds to the union of ``[0, x_i] x [0, y_i]``.
    """
    first_right = bisect_left(xs, x)  # first point with x_i >= x: the highest such y_i
    if first_right < len(xs) and -neg_ys[first_right] >= y:
        return 0.0  # weakly dominated
    start = bisect_left(neg_ys, -y)  # first point with y_i <= y; all earlier ones have x_i < x
    stop = bisect_right(xs, x)  # points start..stop-1 have x_i <= x and y_i <= y: dominated
    # The union's height on (x_{i-1}, x_i] is y_i; the new box raises it to y on (x_{start-1}, x].
    added = 0.0
    left = xs[start - 1] if start else 0.0
    for i in range(start, len(xs)):
        added += (min(xs[i], x) - left) * (y + neg_ys[i])
        left = xs[i]
        if left >= x:
            break
    else:
        added += (x - left) * y  # beyond the last point the height was 0
    del xs[start:stop], neg_ys[start:stop]
    xs.insert(start, x)
    neg_ys.insert(start, -y)
    return added


# --------------------------------------------------------------------------------------------------
# Utility-based and distribution metrics
# --------------------------------------------------------------------------------------------------


def simplex_weights(n_objectives: int, n_divisions: int) -> np.ndarray:
    """The evenly spaced grid on the probability simplex (Das and Dennis, 1998): every weight vector
    whose entries are multiples of ``1 / n_divisions`` and sum to 1, ``[comb(n_divisions +
    n_objectives - 1, n_objectives - 1), n_objectives]``, in lexicographic order.

    ``simplex_weights(2, 4)`` is ``[[0, 1], [.25, .75], [.5, .5], [.75, .25], [1, 0]]``;
    ``simplex_weights(3, 13)`` has 105 rows. Deterministic (C-MORL's stage-1 preference grid).
    """
    k = check_int("n_objectives", n_objectives, 1)
    h = check_int("n_divisions", n_divisions, 1)
    count = math.comb(h + k - 1, k - 1)
    if count > MAX_SIMPLEX_WEIGHTS:
        raise ValueError(
            f"n_divisions: got {h}; with {k} objectives that is {count} weights, more than "
            f"MAX_SIMPLEX_WEIGHTS={MAX_SIMPLEX_WEIGHTS}"
        )
    # Stars and bars: k - 1 bars among h + k - 1 slots; the gaps between bars are the parts.
    bars = np.array(list(combinations(range(h + k - 1), k - 1)), dtype=np.int64).reshape(count, k - 1)
    edges = np.hstack([np.full((count, 1), -1), bars, np.full((count, 1), h + k - 1)])
    return (np.diff(edges, axis=1) - 1) / h


def _default_weights(n_objectives: int, n_weights: int) -> np.ndarray:
    """The coarsest :func:`simplex_weights` grid with at least ``n_weights`` vectors."""
    h = 1
    while n_objectives > 1 and math.comb(h + n_objectives - 1, n_objectives - 1) < n_weights:
        h += 1
    return simplex_weights(n_objectives, h)


def expected_utility(points: Any, weights: Any = None, n_weights: int = 100) -> float:
    """Expected utility under linear preferences: ``EU = mean over w of max_i w . p_i``
    (Zintgraf et al. 2015; morl-baselines' ``expected_utility``).

    ``points``: ``[n, k]``, ``n >= 1``. ``weights``: ``[m, k]`` non-negative weight vectors (usually
    on the simplex; used as given, not renormalised). By default, the coarsest
    :func:`simplex_weights` grid with at least ``n_weights`` vectors: for 2 objectives exactly
    ``n_weights`` evenly spaced ones, ``[i / (n_weights - 1), 1 - i / (n_weights - 1)]`` (100 by
    default, as morl-baselines evaluates), for 3 objectives 105 (13 divisions).
    """
    p = _as_points("points", points, min_points=1)
    k = p.shape[1]
    if weights is None:
        w = _default_weights(k, check_int("n_weights", n_weights, 1))
    else:
        w = _as_points("weights", weights, min_points=1, n_objectives=k)
        if np.any(w < 0):
            raise ValueError(f"weights: got a negative entry ({w.min():g}); weights must be >= 0")
    return float(np.mean(np.max(w @ p.T, axis=1)))


def sparsity(points: Any) -> float:
    """Sparsity of the front (PGMORL, Xu et al. 2020; morl-baselines' ``sparsity``), lower = denser:

    ``S = 1 / (m - 1) * sum_j sum_i (F_j(i + 1) - F_j(i))^2``

    where ``F_j`` is objective ``j`` of the ``m`` points of ``pareto_front(points)`` (unique,
    non-dominated) sorted in increasing order, independently per objective. ``0.0`` when ``m < 2``.
    """
    front = pareto_front(points)
    if len(front) < 2:
        return 0.0
    gaps = np.diff(np.sort(front, axis=0), axis=0)
    return float(np.sum(gaps**2) / (len(front) - 1))


def igd(points: Any, reference_front: Any) -> float:
    """Inverted generational distance: the mean, over the points of ``reference_front`` (a known
    front), of the Euclidean distance to the nearest of ``points`` (used as given, as pymoo's
    ``IGD``). Lower is better; 0 when every reference point was found. Shapes ``[n, k]``, ``[r, k]``.
    """
    p = _as_points("points", points, min_points=1)
    ref = _as_points("reference_front", reference_front, min_points=1, n_objectives=p.shape[1])
    nearest = np.empty(len(ref))
    chunk = max(1, 2**22 // (len(p) * p.shape[1]))  # bound the [chunk, n, k] temporary to ~32 MB
    for s in range(0, len(ref), chunk):
        diff = ref[s : s + chunk, None, :] - p[None, :, :]
        nearest[s : s + chunk] = np.sqrt(np.min(np.sum(diff**2, axis=2), axis=1))
    return float(np.mean(nearest))


def crowding_distance(points: Any) -> np.ndarray:
    """NSGA-II's crowding distance (Deb et al. 2002) of each point: ``[n]`` float.

    For each objective ``j`` with a positive range ``max_j - min_j``: every point attaining the
    minimum or the maximum is a boundary point (``inf``); each other point adds the gap between its
    two neighbours in the sorted order, divided by the range. Objectives whose values are all equal
    add nothing (so one point, or identical points, get 0). Ties keep their row order (stable sort),
    so the result is deterministic. Larger = less crowded.
    """
    p = _as_points("points", points)
    dist = np.zeros(len(p))
    if len(p) == 0:
        return dist
    for v in p.T:
        lo, hi = v.min(), v.max()
        if hi == lo:
            continue
        order = np.argsort(v, kind="stable")
        s = v[order]
        dist[order[1:-1]] += (s[2:] - s[:-2]) / (hi - lo)
        dist[(v == lo) | (v == hi)] = np.inf
    return dist


# --------------------------------------------------------------------------------------------------
# Archive
# --------------------------------------------------------------------------------------------------

PayloadT = TypeVar("PayloadT")


class ParetoArchive(Generic[PayloadT]):
    """Non-dominated ``(point, payload)`` entries, e.g. (mean vector return, policy).

    :meth:`add` rejects a point that an entry dominates or equals (or, with ``tolerance > 0``, that
    an entry comes within ``tolerance`` of dominating: ``q >= p - tolerance`` in every objective,
    which keeps near-duplicates from noisy evaluations out) and removes the entries the new point
    dominates. Entries stay in insertion order::

        archive = ParetoArchive()
        for policy in population:
            archive.add(evaluate(policy), policy)
        chosen = [archive.payloads[i] for i in archive.select_sparse(5)]

    ``n_objectives``: fixed at the first :meth:`add` when None.
    """

    def __init__(self, n_objectives: int | None = None, tolerance: float = 0.0) -> None:
        self.n_objectives = None if n_objectives is None else check_int("n_objectives", n_objectives, 1)
        self.tolerance = check_real("tolerance", tolerance, 0.0)
        self._points = np.zeros((0, self.n_objectives or 0))
        self._payloads: list[PayloadT] = []

    def add(self, point: Any, payload: PayloadT) -> bool:
        """Offer ``point`` ``[k]`` with its payload; True if it entered the archive."""
        p = _as_vector("point", point, self.n_objectives)
        if self.n_objectives is None:
            self.n_objectives = len(p)
            self._points = np.zeros((0, len(p)))
        if np.any(np.all(self._points >= p - self.tolerance, axis=1)):
            return False
        # Not rejected, so p equals no entry: p >= q everywhere means p dominates q.
        keep = ~np.all(p >= self._points, axis=1)
        self._points = np.vstack([self._points[keep], p])
        self._payloads = [pl for pl, kept in zip(self._payloads, keep, strict=True) if kept] + [payload]
        return True

    @property
    def points(self) -> np.ndarray:
        """The entries' points ``[len(self), n_objectives]`` (a copy; ``[0, 0]`` before the first add
        when ``n_objectives`` was not given)."""
        return self._points.copy()

    @property
    def payloads(self) -> list[PayloadT]:
        """The entries' payloads, in the order of :attr:`points`."""
        return list(self._payloads)

    def __len__(self) -> int:
        return len(self._payloads)

    def select_sparse(self, n: int) -> list[int]:
        """Indices of the ``n`` least crowded entries (largest :func:`crowding_distance`; C-MORL's
        selection of the policies to extend), most isolated first; ties go to the lower index. All
        entries when ``n >= len(self)``."""
        n = check_int("n", n, 0)
        if len(self) == 0:
            return []
        dist = crowding_distance(self._points)
        order = np.lexsort((np.arange(len(dist)), -dist))
        return [int(i) for i in order[:n]]


# --------------------------------------------------------------------------------------------------
# Known fronts
# --------------------------------------------------------------------------------------------------


def deep_sea_treasure_front(variant: str = "concave", gamma: float = 1.0) -> np.ndarray:
    """The 10-point Pareto front of Deep Sea Treasure, ``[10, 2]``: (treasure value, -time), sorted
    by treasure; with ``gamma < 1``, discounted returns as mo-gymnasium's ``pareto_front(gamma)``
    (treasure ``* gamma^(t - 1)``, time ``-(1 + gamma + ... + gamma^(t - 1))`` for ``t`` steps).

    ``variant``: ``"concave"``, the original map of Vamplew et al. (2011) (treasures 1 ... 124,
    mo-gymnasium's ``"deep-sea-treasure-concave-v0"``; linear scalarisation finds only the points on
    its convex hull), or ``"convex"``, the map of Yang et al. (2019) (treasures 0.7 ... 23.7, every
    point on the convex hull; mo-gymnasium's default ``"deep-sea-treasure-v0"``).
    """
    variant = check_choice("variant", variant, DEEP_SEA_TREASURE_VARIANTS)
    g = check_real("gamma", gamma, 0.0, 1.0, low_open=True)
    treasure = np.array([value for value, _ in _DST_TREASURES[variant]])
    steps = np.array([t for _, t in _DST_TREASURES[variant]])
    time = np.array([sum(g**i for i in range(t)) for t in steps])  # exactly t when gamma = 1
    return np.stack([treasure * g ** (steps - 1.0), -time], axis=1)


__all__ = [
    "DEEP_SEA_TREASURE_VARIANTS",
    "HV_MAX_INSERTIONS",
    "MAX_SIMPLEX_WEIGHTS",
    "ParetoArchive",
    "cardinality",
    "crowding_distance",
    "deep_sea_treasure_front",
    "expected_utility",
    "hypervolume",
    "igd",
    "pareto_front",
    "pareto_mask",
    "simplex_weights",
    "sparsity",
]
