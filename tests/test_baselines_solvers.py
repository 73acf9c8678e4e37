"""Exact single-store solvers: lost-sales relative value iteration and backlog base-stock closed form."""

import numpy as np
import pytest

import rlsuite
from rlsuite.baselines import backlog_base_stock, from_env, lost_sales_optimal

# Zipkin (2008) instances, Poisson(5), h = 1 (../shared/reference/inventory.md, section 4.7).
LOST_SALES_OPTIMA = {
    (1, 4): 4.0407,
    (1, 9): 5.4382,
    (1, 19): 6.6757,
    (1, 39): 7.8359,
    (2, 4): 4.3953,
    (2, 9): 6.0936,
    (2, 19): 7.6644,
    (2, 39): 9.1064,
}


@pytest.mark.parametrize("lead_time,p", sorted(LOST_SALES_OPTIMA))
def test_lost_sales_optimal_cost(lead_time, p):
    sol = lost_sales_optimal(5.0, lead_time, 1.0, p)
    assert sol.cost == pytest.approx(LOST_SALES_OPTIMA[(lead_time, p)], abs=1e-3)
    assert sol.span < 1e-6


def _simulate(
    env_id: str, policy_of, copies: int, periods: int, warmup: int, **kwargs
) -> tuple[float, float]:
    """Long-run average cost through the evaluation protocol: mean and 95% CI half-width."""
    res = rlsuite.evaluate(
        from_env(policy_of),
        env_id,
        seeds=range(copies),
        num_periods=periods,
        warmup=warmup,
        env_kwargs=kwargs,
    )
    row = res.summary()[0]
    return row["avg_cost"], row["avg_cost_ci95"]


@pytest.mark.parametrize("lead_time,p", [(1, 9), (2, 4)])
def test_dp_policy_in_the_env_reaches_its_own_cost(lead_time, p):
    sol = lost_sales_optimal(5.0, lead_time, 1.0, p)
    mean, se = _simulate(
        "InvMgmt-SingleStore-v0", sol.policy, 2048, 600, 100, lead_time=lead_time, shortage_cost=float(p)
    )
    assert abs(mean - sol.cost) < 2 * se, (mean, se, sol.cost)


def test_dp_policy_order_lookup_is_batched_and_respects_the_cap():
    sol = lost_sales_optimal(5.0, 2, 1.0, 9)
    q = sol.order(np.array([0, 3, 50]), np.array([[0], [2], [0]]))
    assert q.shape == (3,) and q[0] >= q[1] and q[2] == 0.0
    assert (sol.table[sol.table >= 0] <= sol.cap).all()


def test_backlog_closed_form():
    s, cost = backlog_base_stock(4, 1.0, 9.0, mean=5.0, std=1.6)
    assert s == pytest.approx(29.585, abs=1e-3) and cost == pytest.approx(6.279, abs=1e-3)
    s1, cost1 = backlog_base_stock(1, 1.0, 39.0, mean=5.0, std=1.6)
    assert s1 == pytest.approx(14.435, abs=1e-3) and cost1 == pytest.approx(5.2898, abs=1e-3)


def test_poisson_backlog_closed_form_matches_simulation():
    from rlsuite.baselines import BaseStockPolicy

    level, cost = backlog_base_stock(2, 1.0, 9.0, mean=5.0, dist="poisson")
    mean, se = _simulate(
        "InvMgmt-SingleStore-Backlog-v0",
        lambda env: BaseStockPolicy(env, [level]),
        2048,
        500,
        100,
        lead_time=2,
        demand={"dist": "poisson", "mean": 5.0},
    )
    assert abs(mean - cost) < 2 * se + 1e-3, (mean, se, cost)


def test_solver_inputs_are_validated():
    with pytest.raises(ValueError, match="lead_time"):
        lost_sales_optimal(5.0, 0)
    with pytest.raises(ValueError, match="shortage_cost"):
        lost_sales_optimal(5.0, 1, 1.0, -2.0)
    with pytest.raises(ValueError, match="demand_pmf"):
        lost_sales_optimal(None, 1, demand_pmf=[0.5, 0.6])
    with pytest.raises(ValueError, match="std"):
        backlog_base_stock(1, dist="normal")
    with pytest.raises(ValueError, match="dist"):
        backlog_base_stock(1, std=1.0, dist="gamma")


def test_discrete_pmf_input():
    # Demand 0 or 2 with equal probability, L = 1: the solver runs on any pmf.
    sol = lost_sales_optimal(None, 1, 1.0, 4.0, demand_pmf=[0.5, 0.0, 0.5])
    assert 0 < sol.cost < 4.0
