"""Known optimal costs (HDPO's single store, backlog): the simulator's timing convention is right.

Single store, Normal(5, 1.6) demand clipped at 0, h = 1, p = 9, backlog: the base-stock policy at
S* = (L + 1) 5 + z 1.6 sqrt(L + 1), z = Phi^-1(p / (p + 1)), is optimal; with clipping its long-run
average cost is 3.9666 (L = 1) and 6.2869 (L = 4) (Monte Carlo reference values,
../shared/reference/inventory.md section 4.7).
"""

import numpy as np
import pytest

import rlsuite
from rlsuite.baselines import BaseStockPolicy, from_env


def long_run_cost(
    lead_time: int, level: float, copies: int, periods: int, warmup: int
) -> tuple[float, float]:
    """Average cost per period after the warm-up (mean over copies, and its 95% CI half-width)."""
    res = rlsuite.evaluate(
        from_env(lambda env: BaseStockPolicy(env, [level])),
        "InvMgmt-SingleStore-Backlog-v0",
        seeds=range(2024, 2024 + copies),
        num_periods=periods,
        warmup=warmup,
        env_kwargs={"lead_time": lead_time},
    )
    row = res.summary()[0]
    return row["avg_cost"], row["avg_cost_ci95"]


@pytest.mark.parametrize("lead_time,level,optimum", [(1, 12.900, 3.9666), (4, 29.585, 6.2869)])
def test_base_stock_at_optimal_level_reaches_known_cost(lead_time, level, optimum):
    mean, ci = long_run_cost(lead_time, level, copies=4096, periods=700, warmup=100)
    assert abs(mean - optimum) < 2 * ci + 0.005, (mean, ci)


def test_other_levels_cost_more():
    best, _ = long_run_cost(4, 29.585, copies=2048, periods=500, warmup=100)
    for off in (-3.0, 3.0):
        worse, _ = long_run_cost(4, 29.585 + off, copies=2048, periods=500, warmup=100)
        assert worse > best + 0.1


@pytest.mark.slow
def test_vector_env_at_large_batch_matches_single_envs():
    from rlsuite.envs.inventory import InvMgmtEnv, InvMgmtVectorEnv

    venv = InvMgmtVectorEnv(16384, "divergent")
    obs, _ = venv.reset(seed=100)
    singles = [InvMgmtEnv("divergent") for _ in range(3)]
    for i, e in enumerate(singles):
        e.reset(seed=100 + i)
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = rng.uniform(0, 40, (16384, 11))
        obs, r, *_ = venv.step(a)
        for i, e in enumerate(singles):
            o, ri, *_ = e.step(a[i])
            np.testing.assert_allclose(obs[i], o, rtol=1e-12, atol=1e-9)
            assert r[i] == pytest.approx(ri, rel=1e-12, abs=1e-9)
