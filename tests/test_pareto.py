"""rlsuite.pareto: fronts, hypervolumes and metrics against hand-worked cases, brute-force definitions
(inclusion-exclusion, pairwise dominance) and pymoo (which minimises: points and reference negated);
the Deep Sea Treasure front against mo-gymnasium's."""

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsuite.pareto import (
    HV_MAX_INSERTIONS,
    ParetoArchive,
    cardinality,
    crowding_distance,
    deep_sea_treasure_front,
    expected_utility,
    hypervolume,
    igd,
    pareto_front,
    pareto_mask,
    simplex_weights,
    sparsity,
)


def dominates(q, p):
    return bool(np.all(q >= p) and np.any(q > p))


def hv_inclusion_exclusion(points, ref):
    """The union of the boxes [ref, p] by inclusion-exclusion: sum over non-empty subsets S of
    (-1)^(|S|+1) * volume of their intersection, the box [ref, min over S]."""
    q = np.asarray(points, dtype=float) - ref
    q = q[np.all(q > 0, axis=1)]
    total = 0.0
    for size in range(1, len(q) + 1):
        for subset in combinations(range(len(q)), size):
            total += (-1) ** (size + 1) * np.prod(q[list(subset)].min(axis=0))
    return total


def point_sets(k_min=1, k_max=4, n_max=20, low=-3, high=6):
    """Small integer-valued point sets (ties and duplicates are common)."""
    return st.integers(k_min, k_max).flatmap(
        lambda k: st.lists(
            st.lists(st.integers(low, high), min_size=k, max_size=k), min_size=0, max_size=n_max
        ).map(lambda rows: np.array(rows, dtype=float).reshape(-1, k))
    )


# --- Pareto filtering -------------------------------------------------------------------------------


def test_pareto_mask_keeps_the_first_of_duplicates_and_drops_dominated_points():
    points = [[1, 3], [2, 2], [3, 1], [1, 1], [2, 2], [0, 4], [2, 1]]
    # [1, 1] and [2, 1] are dominated by [2, 2]; row 4 repeats row 1.
    assert pareto_mask(points).tolist() == [True, True, True, False, False, True, False]
    np.testing.assert_array_equal(pareto_front(points), [[0, 4], [1, 3], [2, 2], [3, 1]])
    assert cardinality(points) == 4


def test_pareto_front_of_a_single_objective_is_its_maximum():
    np.testing.assert_array_equal(pareto_front([[1.0], [3.0], [3.0], [2.0]]), [[3.0]])


def test_pareto_front_sorts_lexicographically_in_three_objectives():
    points = [[1, 0, 5], [0, 9, 0], [1, 2, 0], [0, 9, 0], [0, 1, 1], [0, 0, 0]]
    np.testing.assert_array_equal(pareto_front(points), [[0, 1, 1], [0, 9, 0], [1, 0, 5], [1, 2, 0]])


def test_empty_sets():
    assert pareto_mask(np.zeros((0, 2))).shape == (0,)
    assert pareto_front(np.zeros((0, 3))).shape == (0, 3)
    assert hypervolume(np.zeros((0, 2)), [0, 0]) == 0.0
    assert sparsity(np.zeros((0, 2))) == 0.0
    assert crowding_distance(np.zeros((0, 2))).shape == (0,)


@settings(max_examples=150, deadline=None)
@given(point_sets())
def test_pareto_mask_matches_pairwise_dominance(points):
    mask = pareto_mask(points)
    for i, p in enumerate(points):
        dominated = any(dominates(q, p) for q in points)
        first_copy = not any(np.array_equal(q, p) for q in points[:i])
        assert mask[i] == (not dominated and first_copy)
    kept = points[mask]
    assert len(np.unique(kept, axis=0)) == len(kept)  # no duplicates among the kept
    for p in points[~mask]:  # every dropped point is dominated by or equal to a kept one
        assert any(np.all(q >= p) for q in kept)


# --- Hypervolume: hand-worked cases ------------------------------------------------------------------


def test_hypervolume_of_a_2d_staircase_by_hand():
    stairs = [[1, 3], [2, 2], [3, 1]]
    # Columns [0, 1], [1, 2], [2, 3] of heights 3, 2, 1.
    assert hypervolume(stairs, [0, 0]) == pytest.approx(6.0)
    # From (0.5, 0.5): widths 0.5, 1, 1 and heights 2.5, 1.5, 0.5.
    assert hypervolume(stairs, [0.5, 0.5]) == pytest.approx(1.25 + 1.5 + 0.5)
    # A dominated point, a duplicate and points not strictly above the reference add nothing.
    extra = [[1, 1], [2, 2], [5, 0], [-1, 10], [4, 0.0]]
    assert hypervolume(stairs + extra, [0, 0]) == pytest.approx(6.0)


def test_hypervolume_of_unions_of_3d_boxes_by_hand():
    # Three boxes 2x1x1 (volume 2) along each axis: every pairwise and the triple intersection is
    # the unit cube, so 3 * 2 - 3 * 1 + 1 = 4.
    assert hypervolume([[2, 1, 1], [1, 2, 1], [1, 1, 2]], [0, 0, 0]) == pytest.approx(4.0)
    # 3x1x1 boxes: 3 * 3 - 3 + 1 = 7.
    assert hypervolume([[3, 1, 1], [1, 3, 1], [1, 1, 3]], [0, 0, 0]) == pytest.approx(7.0)
    # 2x2x1 (4) and 1x1x3 (3) overlap in a unit cube: 6; moving the reference to (-1, -1, -1) gives
    # 3x3x2 (18) and 2x2x4 (16) overlapping in 2x2x2 (8): 26.
    assert hypervolume([[2, 2, 1], [1, 1, 3]], [0, 0, 0]) == pytest.approx(6.0)
    assert hypervolume([[2, 2, 1], [1, 1, 3]], [-1, -1, -1]) == pytest.approx(26.0)


def test_hypervolume_in_1d_and_4d_by_hand():
    assert hypervolume([[2.0], [5.0], [-1.0]], [1.0]) == pytest.approx(4.0)
    # Two 2x1x1x1 boxes along different axes overlap in the unit hypercube: 2 + 2 - 1.
    assert hypervolume([[2, 1, 1, 1], [1, 2, 1, 1]], [0, 0, 0, 0]) == pytest.approx(3.0)
    # Five 2x1x1x1x1 boxes, one along each axis: 5 * 2 - 10 + 10 - 5 + 1 (all intersections are the
    # unit hypercube) = 6.
    assert hypervolume(np.eye(5) + 1, np.zeros(5)) == pytest.approx(6.0)


def test_hypervolume_refuses_too_much_work_in_many_objectives():
    rng = np.random.default_rng(0)
    points = rng.random((200, 6))
    points /= points.sum(axis=1, keepdims=True)  # on a simplex: all non-dominated
    with pytest.raises(ValueError, match="HV_MAX_INSERTIONS"):
        hypervolume(points, np.zeros(6))
    assert HV_MAX_INSERTIONS >= 1_000_000


# --- Hypervolume: against pymoo and inclusion-exclusion --------------------------------------------


def random_front(rng, n, k, kind):
    if kind == "uniform":  # a cloud: mostly dominated points
        return rng.random((n, k))
    points = np.abs(rng.normal(size=(n, k)))  # on the unit sphere: mostly non-dominated
    return points / np.linalg.norm(points, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["uniform", "sphere"])
@pytest.mark.parametrize(("k", "n"), [(2, 60), (3, 50), (4, 14), (5, 8)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hypervolume_equals_pymoo(k, n, kind, seed):
    from pymoo.indicators.hv import HV

    rng = np.random.default_rng(seed)
    points = random_front(rng, n, k, kind) * rng.uniform(0.5, 3.0, size=k)
    ref = -rng.uniform(0.0, 0.3, size=k)
    expected = HV(ref_point=-ref)(-points)  # pymoo minimises
    assert hypervolume(points, ref) == pytest.approx(expected, rel=1e-10)


def test_hypervolume_equals_pymoo_with_a_reference_inside_the_cloud():
    from pymoo.indicators.hv import HV

    rng = np.random.default_rng(7)
    points = rng.random((80, 3))
    ref = np.full(3, 0.5)  # most points do not dominate it
    assert hypervolume(points, ref) == pytest.approx(HV(ref_point=-ref)(-points), rel=1e-10)


@settings(max_examples=100, deadline=None)
@given(point_sets(k_min=2, k_max=4, n_max=8))
def test_hypervolume_equals_inclusion_exclusion(points):
    ref = np.full(points.shape[1], -1.0)
    assert hypervolume(points, ref) == pytest.approx(hv_inclusion_exclusion(points, ref), rel=1e-9)


# --- Hypervolume: properties ---------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(point_sets(k_min=1, k_max=4, n_max=12), st.data())
def test_hypervolume_properties(points, data):
    k = points.shape[1]
    ref = np.full(k, -2.0)
    hv = hypervolume(points, ref)
    # A single point: the volume of its box.
    for p in points[:3]:
        box = np.prod(p - ref) if np.all(p > ref) else 0.0
        assert hypervolume(p[None], ref) == pytest.approx(box)
    # Invariant to the order of the points.
    perm = data.draw(st.permutations(range(len(points))))
    assert hypervolume(points[list(perm)], ref) == pytest.approx(hv)
    # Monotone under adding a point.
    new = np.array(data.draw(st.lists(st.integers(-3, 6), min_size=k, max_size=k)), dtype=float)
    assert hypervolume(np.vstack([points, new]), ref) >= hv - 1e-9
    # Invariant to adding points dominated by (or equal to) existing ones.
    if len(points):
        steps = np.array(data.draw(st.lists(st.integers(0, 3), min_size=k, max_size=k)), dtype=float)
        worse = points[data.draw(st.integers(0, len(points) - 1))] - steps
        assert hypervolume(np.vstack([points, worse]), ref) == pytest.approx(hv)


# --- Expected utility, sparsity, IGD, cardinality --------------------------------------------------


def test_expected_utility_by_hand():
    points = [[1, 0], [0, 2]]
    weights = [[1, 0], [0.5, 0.5], [0, 1]]
    # max(1, 0) = 1, max(0.5, 1) = 1, max(0, 2) = 2: mean 4/3.
    assert expected_utility(points, weights) == pytest.approx(4 / 3)


def test_expected_utility_default_grid_has_100_evenly_spaced_weights_in_2d():
    # Points (1, 0) and (0, 1): utility max(w, 1 - w) at w = i / 99.
    w = np.arange(100) / 99
    assert expected_utility([[1, 0], [0, 1]]) == pytest.approx(np.mean(np.maximum(w, 1 - w)))
    assert expected_utility([[1, 0], [0, 1]], n_weights=3) == pytest.approx((1 + 0.5 + 1) / 3)
    # With one point, EU is the utility of that point at the grid's mean weight (the centre).
    assert expected_utility([[3, 6, 9]]) == pytest.approx(6.0)


def test_simplex_weights_is_the_das_dennis_grid():
    np.testing.assert_allclose(
        simplex_weights(2, 4), [[0, 1], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1, 0]]
    )
    w = simplex_weights(3, 4)
    assert w.shape == (15, 3)  # comb(6, 2)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w * 4, np.round(w * 4))
    assert len(np.unique(w, axis=0)) == 15
    assert simplex_weights(3, 13).shape == (105, 3)
    np.testing.assert_array_equal(simplex_weights(1, 5), [[1.0]])


def test_sparsity_by_hand():
    front = [[0, 3], [1, 1], [3, 0]]
    # Each objective sorted: 0, 1, 3 -> squared gaps 1 + 4; two objectives: 10; over m - 1 = 2: 5.
    assert sparsity(front) == pytest.approx(5.0)
    # Computed on the front: a dominated point and a duplicate change nothing.
    assert sparsity([*front, [0.5, 0.5], [1, 1]]) == pytest.approx(5.0)
    assert sparsity([[1, 2]]) == 0.0


def test_igd_by_hand():
    # Reference (0, 0) is found; (3, 4) is 5 away from it: (0 + 5) / 2.
    assert igd([[0, 0]], [[0, 0], [3, 4]]) == pytest.approx(2.5)
    # (0, 2) is 1 from (0, 1); (2, 0) is 1 from (3, 0) (sqrt(5) from (0, 1)).
    assert igd([[0, 1], [3, 0]], [[0, 2], [2, 0]]) == pytest.approx(1.0)
    assert igd([[1, 2], [3, 4]], [[1, 2], [3, 4]]) == 0.0


def test_igd_equals_pymoo():
    from pymoo.indicators.igd import IGD

    rng = np.random.default_rng(3)
    reference, found = rng.random((40, 3)), rng.random((25, 3))
    assert igd(found, reference) == pytest.approx(IGD(reference)(found), rel=1e-12)


def test_cardinality_counts_unique_non_dominated_points():
    assert cardinality([[1, 2], [2, 1], [1, 2], [0, 0], [1.5, 1.5]]) == 3
    assert cardinality(deep_sea_treasure_front()) == 10


# --- Crowding distance and the archive ---------------------------------------------------------------


def test_crowding_distance_by_hand():
    front = [[0, 10], [1, 6], [3, 5], [6, 0]]
    # Ranges 6 and 10. (1, 6): neighbours in x are 0 and 3 -> 3/6; in y 5 and 10 -> 5/10; total 1.
    # (3, 5): x neighbours 1 and 6 -> 5/6; y neighbours 0 and 6 -> 6/10.
    np.testing.assert_allclose(crowding_distance(front), [np.inf, 1.0, 5 / 6 + 0.6, np.inf])
    # Row order does not matter for distinct values.
    np.testing.assert_allclose(crowding_distance(front[::-1]), [np.inf, 5 / 6 + 0.6, 1.0, np.inf])


def test_crowding_distance_edge_cases():
    np.testing.assert_array_equal(crowding_distance([[1, 2]]), [0.0])
    np.testing.assert_array_equal(crowding_distance([[1, 2], [2, 1]]), [np.inf, np.inf])
    np.testing.assert_array_equal(crowding_distance([[1, 1], [1, 1], [1, 1]]), [0.0, 0.0, 0.0])
    # Constant second objective: only the first counts; both points at the maximum are boundaries.
    np.testing.assert_allclose(
        crowding_distance([[0, 5], [1, 5], [4, 5], [4, 5]]), [np.inf, 1.0, np.inf, np.inf]
    )


def test_archive_adds_rejects_and_removes():
    archive: ParetoArchive[str] = ParetoArchive()
    assert archive.add([1, 0], "a") and archive.add([0, 1], "b") and archive.add([0.5, 0.5], "c")
    assert not archive.add([0.4, 0.4], "dominated")
    assert not archive.add([1, 0], "duplicate")
    assert archive.payloads == ["a", "b", "c"]
    assert archive.add([0.6, 0.6], "d")  # dominates c only
    assert archive.payloads == ["a", "b", "d"]
    np.testing.assert_array_equal(archive.points, [[1, 0], [0, 1], [0.6, 0.6]])
    assert archive.add([1, 1], "e")  # dominates everything
    assert len(archive) == 1 and archive.payloads == ["e"]
    assert archive.n_objectives == 2


def test_archive_tolerance_rejects_near_duplicates():
    archive: ParetoArchive[int] = ParetoArchive(n_objectives=2, tolerance=0.1)
    assert archive.points.shape == (0, 2)
    assert archive.add([1, 1], 0)
    assert not archive.add([1.05, 0.5], 1)  # (1, 1) >= (0.95, 0.4)
    assert archive.add([1.2, 0.5], 2)  # 1 < 1.1: not within tolerance
    assert archive.payloads == [0, 2]


@settings(max_examples=60, deadline=None)
@given(point_sets(k_min=2, k_max=3, n_max=25))
def test_archive_holds_the_pareto_front(points):
    archive: ParetoArchive[int] = ParetoArchive()
    for i, p in enumerate(points):
        archive.add(p, i)
    if len(points):
        np.testing.assert_array_equal(pareto_front(archive.points), pareto_front(points))
        assert len(archive) == cardinality(points)
        for point, i in zip(archive.points, archive.payloads, strict=True):
            np.testing.assert_array_equal(points[i], point)


def test_select_sparse_picks_the_least_crowded_entries():
    archive: ParetoArchive[str] = ParetoArchive()
    for point, name in [([0, 10], "a"), ([1, 6], "b"), ([3, 5], "c"), ([6, 0], "d"), ([2, 5.5], "e")]:
        archive.add(point, name)
    # Ranges 6 and 10; sorted in x: a b e c d, in y: d c e b a.
    # b: (2 - 0)/6 + (10 - 5.5)/10 = 0.7833; e: (3 - 1)/6 + (6 - 5)/10 = 0.4333;
    # c: (6 - 2)/6 + (5.5 - 0)/10 = 1.2167.
    assert archive.select_sparse(3) == [0, 3, 2]  # a, d (infinite, lower index first), then c
    assert [archive.payloads[i] for i in archive.select_sparse(10)] == ["a", "d", "c", "b", "e"]
    assert archive.select_sparse(0) == []
    assert ParetoArchive().select_sparse(3) == []


# --- Deep Sea Treasure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "env_id"), [("concave", "deep-sea-treasure-concave-v0"), ("convex", "deep-sea-treasure-v0")]
)
@pytest.mark.parametrize("gamma", [1.0, 0.99])
@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")  # mo-gymnasium's reward_space
def test_deep_sea_treasure_front_equals_mo_gymnasium(variant, env_id, gamma):
    mo_gym = pytest.importorskip("mo_gymnasium")
    env = mo_gym.make(env_id)
    expected = np.array(env.unwrapped.pareto_front(gamma=gamma))
    env.close()
    np.testing.assert_allclose(deep_sea_treasure_front(variant, gamma=gamma), expected, rtol=1e-12)


def test_deep_sea_treasure_original_front_values():
    front = deep_sea_treasure_front()
    assert front[:, 0].tolist() == [1, 2, 3, 5, 8, 16, 24, 50, 74, 124]  # Vamplew et al. (2011)
    assert front[:, 1].tolist() == [-1, -3, -5, -7, -8, -9, -13, -14, -17, -19]
    assert pareto_mask(front).all()


# --- Bad inputs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: pareto_mask([[1.0, np.nan]]), "points"),
        (lambda: pareto_mask([1.0, 2.0]), "points"),
        (lambda: pareto_front([[1.0, np.inf]]), "points"),
        (lambda: pareto_mask(np.zeros((3, 0))), "points"),
        (lambda: pareto_mask([[1, 2], [3]]), "points"),
        (lambda: pareto_mask([["a", "b"]]), "points"),
        (lambda: pareto_mask([[True, False]]), "points"),
        (lambda: hypervolume([[1, 2]], [0, 0, 0]), "ref_point"),
        (lambda: hypervolume([[1, 2]], [[0, 0]]), "ref_point"),
        (lambda: hypervolume([[1, 2]], [0, np.nan]), "ref_point"),
        (lambda: hypervolume(np.zeros((2, 2, 2)), [0, 0]), "points"),
        (lambda: expected_utility(np.zeros((0, 2))), "points"),
        (lambda: expected_utility([[1, 2]], [[1, 0, 0]]), "weights"),
        (lambda: expected_utility([[1, 2]], [[1.5, -0.5]]), "weights"),
        (lambda: expected_utility([[1, 2]], n_weights=0), "n_weights"),
        (lambda: igd([[1, 2]], [[1, 2, 3]]), "reference_front"),
        (lambda: igd([[1, 2]], np.zeros((0, 2))), "reference_front"),
        (lambda: sparsity([[np.nan, 1.0]]), "points"),
        (lambda: crowding_distance([1, 2, 3]), "points"),
        (lambda: simplex_weights(0, 3), "n_objectives"),
        (lambda: simplex_weights(3, 0), "n_divisions"),
        (lambda: simplex_weights(10, 100), "n_divisions"),
        (lambda: ParetoArchive(tolerance=-1.0), "tolerance"),
        (lambda: ParetoArchive(n_objectives=2).add([1, 2, 3], None), "point"),
        (lambda: ParetoArchive().add([np.nan], None), "point"),
        (lambda: ParetoArchive().select_sparse(-1), "n"),
        (lambda: deep_sea_treasure_front("mirrored"), "variant"),
        (lambda: deep_sea_treasure_front(gamma=0.0), "gamma"),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}: "):
        call()


def test_archive_fixes_the_number_of_objectives_at_the_first_add():
    archive: ParetoArchive[None] = ParetoArchive()
    archive.add([1.0, 2.0], None)
    with pytest.raises(ValueError, match=r"^point: .*2 values"):
        archive.add([1.0, 2.0, 3.0], None)
