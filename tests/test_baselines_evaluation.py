"""The evaluation protocol: common random numbers, KPIs, confidence intervals, errors, CLI."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import rlsuite
from rlsuite.baselines import BaseStockPolicy, ConstantOrderPolicy, run_episode
from rlsuite.baselines.evaluation import KPI_NAMES, from_env, policy_factory


def test_evaluate_matches_single_env_episodes_on_the_same_seeds():
    env = gym.make("InvMgmt-Serial-v0")
    seeds = [42, 123, 456]
    res = rlsuite.evaluate({"bs": BaseStockPolicy.heuristic(env)}, "InvMgmt-Serial-v0", seeds=seeds)
    singles = [run_episode(env, BaseStockPolicy.heuristic(env), seed=s)["rewards"].sum() for s in seeds]
    np.testing.assert_allclose(res.episodes["bs"]["profit"], singles, rtol=1e-9)
    assert set(KPI_NAMES) <= set(res.episodes["bs"])


def test_common_random_numbers_across_policies():
    res = rlsuite.evaluate(
        {"zero": policy_factory("zero"), "const": policy_factory("constant")},
        "InvMgmt-v0",
        seeds=[1, 2, 3, 4],
    )
    # Ordering nothing vs 20 everywhere: same demand, so the same revenue in the first periods.
    assert res.curves["zero"].shape == (30, 4)
    z, c = res.episodes["zero"], res.episodes["const"]
    assert (c["profit"] > z["profit"]).all()
    assert (z["fill_rate"] < c["fill_rate"]).all() and (z["procurement"] == 0).all()


def test_kpis_of_a_known_case():
    # Constant demand 20 and orders that never arrive in time: the retailer's 100 units last 5 periods.
    trace = np.full(30, 20.0)
    res = rlsuite.evaluate(
        lambda obs: np.zeros(11), "InvMgmt-LostSales-v0", seeds=[0, 1], env_kwargs={"demand_trace": trace}
    )
    ep = res.episodes["<lambda>"]
    np.testing.assert_allclose(ep["fill_rate"], 100 / 600)
    np.testing.assert_allclose(ep["service_level"], 5 / 30)
    np.testing.assert_allclose(ep["revenue"], 200.0)
    assert np.isnan(ep["bullwhip"]).all()  # demand has no variance
    row = res.summary()[0]
    assert row["profit_ci95"] == pytest.approx(0.0) and row["episodes"] == 2


def test_confidence_interval_is_student_t():
    res = rlsuite.evaluate({"rand": policy_factory("random")}, "InvMgmt-v0", seeds=list(range(8)))
    x = res.episodes["rand"]["profit"]
    from scipy import stats

    expected = stats.t.ppf(0.975, 7) * x.std(ddof=1) / np.sqrt(8)
    assert res.summary()[0]["profit_ci95"] == pytest.approx(expected)


def test_long_run_mode_and_oracle_gap():
    res = rlsuite.evaluate(
        {"S*": from_env(lambda env: BaseStockPolicy(env, [29.585]))},
        "InvMgmt-SingleStore-Backlog-v0",
        seeds=range(64),
        num_periods=400,
        warmup=100,
    )
    assert "avg_cost" in res.episodes["S*"]
    assert res.summary()[0]["avg_cost"] == pytest.approx(6.287, abs=0.08)
    res = rlsuite.evaluate(policy_factory("base-stock"), "InvMgmt-v0", seeds=[42, 123], oracle=True)
    ep = next(iter(res.episodes.values()))
    assert (ep["opt_gap_pct"] > 0).all() and (ep["oracle_profit"] > ep["profit"]).all()


def test_table_plot_and_bad_policies(tmp_path):
    env = gym.make("InvMgmt-v0")
    res = rlsuite.evaluate({"c": ConstantOrderPolicy(env, 10.0)}, env, seeds=[0, 1])
    table = res.table()
    columns = table.columns if hasattr(table, "columns") else table[0]
    assert "profit_ci95" in columns
    assert res.table(as_frame=False)[0]["policy"] == "c"
    res.plot(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 5000
    with pytest.raises(ValueError, match="non-finite"):
        rlsuite.evaluate(lambda obs: np.full(11, np.nan), "InvMgmt-v0", seeds=[0])
    with pytest.raises(ValueError, match="shape"):
        rlsuite.evaluate(lambda obs: np.zeros(3), "InvMgmt-v0", seeds=[0])
    with pytest.raises(ValueError, match="warmup"):
        rlsuite.evaluate(lambda obs: np.zeros(11), "InvMgmt-v0", seeds=[0], warmup=30)
    with pytest.raises(ValueError, match="policy"):
        policy_factory("genius")
    # Negative orders are documented as 0.
    neg = rlsuite.evaluate(lambda obs: -np.ones(11), "InvMgmt-v0", seeds=[0]).episodes["<lambda>"]
    zero = rlsuite.evaluate(lambda obs: np.zeros(11), "InvMgmt-v0", seeds=[0]).episodes["<lambda>"]
    assert neg["profit"] == zero["profit"]


def test_cli_evaluate(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlsuite",
            "evaluate",
            "base-stock",
            "InvMgmt-Serial-v0",
            "--episodes",
            "3",
            "--oracle",
            "--csv",
            str(tmp_path / "s.csv"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "opt_gap_pct" in out.stdout and (tmp_path / "s.csv").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "rlsuite", "evaluate", "genius", "InvMgmt-v0"], capture_output=True
    )
    assert bad.returncode != 0


@pytest.mark.parametrize("env_id", sorted(rlsuite.envs.INVMGMT_IDS))
def test_evaluate_with_oracle_on_every_registered_id(env_id):
    res = rlsuite.evaluate(policy_factory("newsvendor"), env_id, seeds=[0, 1], num_periods=20, oracle=True)
    row = res.summary()[0]
    assert np.isfinite(row["profit"]) and row["opt_gap_pct"] >= -1e-9
