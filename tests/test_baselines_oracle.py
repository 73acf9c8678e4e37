"""Hindsight oracle LP: an upper bound, replayable, equal to gym-invmgmt's published Oracle."""

import gymnasium as gym
import numpy as np
import pytest

from rlsuite.baselines import BaseStockPolicy, ConstantOrderPolicy, RandomPolicy, run_episode
from rlsuite.baselines.oracle import OraclePlanPolicy, episode_demand, hindsight_oracle
from rlsuite.envs import INVMGMT_IDS

GYM_INVMGMT_SEEDS = [42, 123, 456, 789, 1011, 2022, 3033, 4044, 5055, 6066]
# gym-invmgmt-paper's Oracle, mean and population sd over those seeds (../shared/reference/inventory.md, 2.4).
PUBLISHED_ORACLE = {
    "InvMgmt-v0": (845.7, 43.4),
    "InvMgmt-LostSales-v0": (842.0, 39.9),
    "InvMgmt-Serial-v0": (1023.9, 29.5),
    "InvMgmt-Serial-LostSales-v0": (1023.8, 29.4),
}


@pytest.mark.parametrize("env_id", sorted(PUBLISHED_ORACLE))
def test_oracle_matches_published_values_and_replays_exactly(env_id):
    env = gym.make(env_id)
    profits = []
    for seed in GYM_INVMGMT_SEEDS:
        plan = hindsight_oracle(env, episode_demand(env, seed))
        replay = run_episode(env, OraclePlanPolicy(env, plan), seed=seed)["rewards"].sum()
        assert replay == pytest.approx(plan.profit, rel=1e-9, abs=1e-6)
        profits.append(plan.profit)
    mean, sd = PUBLISHED_ORACLE[env_id]
    assert np.mean(profits) == pytest.approx(mean, abs=0.05)
    assert np.std(profits) == pytest.approx(sd, abs=0.05)


@pytest.mark.parametrize("env_id", ["InvMgmt-v0", "InvMgmt-Serial-LostSales-v0", "InvMgmt-OneWarehouse-v0"])
def test_oracle_bounds_every_policy_on_every_seed(env_id):
    env = gym.make(env_id, num_periods=30)
    policies = [
        ConstantOrderPolicy(env, 0.0),
        ConstantOrderPolicy(env, 5.0),
        RandomPolicy(env, high=30.0, seed=1),
        BaseStockPolicy.heuristic(env),
    ]
    for seed in range(4):
        plan = hindsight_oracle(env, episode_demand(env, seed))
        for policy in policies:
            profit = run_episode(env, policy, seed=seed)["rewards"].sum()
            assert profit <= plan.profit + 1e-6, (policy.name, seed)
            assert plan.gap(profit) >= -1e-9


@pytest.mark.parametrize("env_id", sorted(INVMGMT_IDS))
def test_oracle_runs_on_every_registered_id(env_id):
    env = gym.make(env_id, num_periods=20)
    plan = hindsight_oracle(env, episode_demand(env, 3))
    replay = run_episode(env, OraclePlanPolicy(env, plan), seed=3)["rewards"].sum()
    assert replay == pytest.approx(plan.profit, rel=1e-7, abs=1e-6)


def test_fixed_ordering_costs_use_binaries():
    from rlsuite.envs.inventory import NetworkSpec

    spec = NetworkSpec.serial()
    spec = spec.replace(links=tuple(link.__class__(**{**link.__dict__, "K": 5.0}) for link in spec.links))
    env = gym.make("InvMgmt-Serial-v0", network=spec)
    plan = hindsight_oracle(env, episode_demand(env, 0))
    replay = run_episode(env, OraclePlanPolicy(env, plan), seed=0)["rewards"].sum()
    assert replay == pytest.approx(plan.profit, rel=1e-7, abs=1e-5)
    plain = hindsight_oracle(gym.make("InvMgmt-Serial-v0"), episode_demand(env, 0))
    assert plan.profit < plain.profit


def test_oracle_input_errors():
    env = gym.make("InvMgmt-v0")
    with pytest.raises(ValueError, match="demand"):
        hindsight_oracle(env, np.ones((30, 2)))
    with pytest.raises(ValueError, match="non-negative"):
        hindsight_oracle(env, -np.ones(30))
    with pytest.raises(ValueError, match="InvMgmt"):
        hindsight_oracle(gym.make("CartPole-v1"), np.ones(30))


def test_plan_from_a_mid_episode_state_replays_exactly():
    from rlsuite.baselines.oracle import StartState

    for env_id in ("InvMgmt-v0", "InvMgmt-SerialEchelon-v0"):
        env = gym.make(env_id, num_periods=30)
        core = env.unwrapped.core
        demand = episode_demand(env, 5)
        obs, _ = env.reset(seed=5)
        rng = np.random.default_rng(0)
        for _ in range(10):
            obs, *_ = env.step(rng.uniform(0, 30, core.n_links))
        plan = hindsight_oracle(env, demand[10:], start=StartState.from_observation(core, obs))
        total = 0.0
        for t in range(20):
            obs, reward, *_ = env.step(plan.orders[t])
            total += reward
        assert total == pytest.approx(plan.profit, rel=1e-7, abs=1e-6), env_id


def test_rolling_horizon_lp_policy():
    from rlsuite.baselines.oracle import RollingHorizonLPPolicy

    env = gym.make("InvMgmt-Serial-v0")
    policy = RollingHorizonLPPolicy(env)
    assert policy.horizon == 10
    profits = [run_episode(env, policy, seed=s)["rewards"].sum() for s in (42, 123)]
    plans = [hindsight_oracle(env, episode_demand(env, s)).profit for s in (42, 123)]
    assert all(p < q for p, q in zip(profits, plans, strict=True))
    assert np.mean(profits) > 500  # far better than doing nothing (about -900)


def test_unsolved_plan_reports_highs_status():
    env = gym.make("InvMgmt-v0")
    with pytest.raises(RuntimeError, match="HiGHS"):
        hindsight_oracle(env, episode_demand(env, 0), time_limit=0.0)
