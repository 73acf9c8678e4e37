"""Known optimal costs (HDPO's single store, backlog): the simulator's timing convention is right.

Single store, Normal(5, 1.6) demand clipped at 0, h = 1, p = 9, backlog: the base-stock policy at
S* = (L + 1) 5 + z 1.6 sqrt(L + 1), z = Phi^-1(p / (p + 1)), is optimal; with clipping its long-run
average cost is 3.9666 (L = 1) and 6.2869 (L = 4) (Monte Carlo reference values,
../shared/reference/inventory.md section 4.7).
"""

import gymnasium as gym
import numpy as np
import pytest

import rlsuite  # noqa: F401
from rlsuite.baselines import BaseStockPolicy


def long_run_cost(
    lead_time: int, level: float, copies: int, periods: int, warmup: int
) -> tuple[float, float]:
    env = gym.make_vec(
        "InvMgmt-SingleStore-Backlog-v0", num_envs=copies, num_periods=periods, lead_time=lead_time
    )
    policy = BaseStockPolicy(env, [level])
    obs, _ = env.reset(seed=2024)
    costs = []
    for _ in range(periods):
        obs, reward, *_ = env.step(policy.predict(obs)[0])
        costs.append(-reward)
    per_copy = np.array(costs)[warmup:].mean(0)
    return float(per_copy.mean()), float(per_copy.std(ddof=1) / np.sqrt(copies))


@pytest.mark.parametrize("lead_time,level,optimum", [(1, 12.900, 3.9666), (4, 29.585, 6.2869)])
def test_base_stock_at_optimal_level_reaches_known_cost(lead_time, level, optimum):
    mean, se = long_run_cost(lead_time, level, copies=4096, periods=700, warmup=100)
    assert abs(mean - optimum) < 4 * se + 0.005, (mean, se)


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
