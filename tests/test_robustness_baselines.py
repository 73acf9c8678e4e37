"""Fuzzing the baselines' boundaries: every bad argument raises TypeError or ValueError naming
the field, before any work is done; nothing is silently truncated, coerced or returned wrong.

Fuzzed cases per boundary are set by ``N`` below (hypothesis, derandomized in conftest.py).
"""

from __future__ import annotations

import math
import tracemalloc

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite
from rlsuite.baselines import (
    MAX_DP_BYTES,
    BaseStockPolicy,
    ConstantOrderPolicy,
    LotSizingCoverPolicy,
    OraclePlanPolicy,
    RandomPolicy,
    RandomTextPolicy,
    RollingHorizonLPPolicy,
    SokobanExpert,
    backlog_base_stock,
    episode_demand,
    hindsight_bound,
    hindsight_oracle,
    lost_sales_dp_size,
    lost_sales_optimal,
    perfect_information_bound,
    policy_factory,
    run_text_episodes,
    search_base_stock_levels,
)
from rlsuite.baselines.evaluation import POLICY_NAMES

torch.set_num_threads(1)
N = 25  # fuzzed cases per boundary

# Values that are not integers: floats (also 2.0), bools, strings, None.
not_int = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=3), st.none()
)
negative_int = st.integers(max_value=-1)
bad_positive_int = st.one_of(not_int, st.integers(max_value=0))
not_finite = st.sampled_from([math.nan, math.inf, -math.inf])
bad_non_negative_number = st.one_of(
    not_finite, st.floats(max_value=-1e-9, allow_nan=False), st.booleans(), st.text(max_size=3), st.none()
)
bad_positive_number = st.one_of(bad_non_negative_number, st.just(0.0))


def _zero_orders(obs: np.ndarray) -> np.ndarray:
    return np.zeros((obs.shape[0], 11))


def _raises(exc: tuple[type[Exception], ...], field: str):
    return pytest.raises(exc, match=field)


BAD = (TypeError, ValueError)


# --- evaluate ------------------------------------------------------------------------------------------


def test_evaluate_rejects_fractional_seed_instead_of_truncating_it():
    # Regression: seeds=[1.7] used to run seed 1.
    with pytest.raises(TypeError, match=r"seeds\[0\]: got 1.7"):
        rlsuite.evaluate(_zero_orders, "InvMgmt-v0", seeds=[1.7])


@settings(max_examples=N, deadline=None)
@given(seed=st.one_of(not_int, negative_int), at=st.integers(0, 2))
def test_evaluate_rejects_bad_seeds(seed, at):
    seeds = [0, 1, 2]
    seeds[at] = seed
    with _raises(BAD, "seeds"):
        rlsuite.evaluate(_zero_orders, "InvMgmt-v0", seeds=seeds)


@settings(max_examples=N, deadline=None)
@given(episodes=bad_positive_int)
def test_evaluate_rejects_bad_episodes(episodes):
    with _raises(BAD, "episodes"):
        rlsuite.evaluate(_zero_orders, "InvMgmt-v0", episodes=episodes)


@settings(max_examples=N, deadline=None)
@given(periods=bad_positive_int.filter(lambda v: v is not None))
def test_evaluate_rejects_bad_num_periods(periods):
    with _raises(BAD, "num_periods"):
        rlsuite.evaluate(_zero_orders, "InvMgmt-v0", seeds=[0], num_periods=periods)


@settings(max_examples=N, deadline=None)
@given(warmup=st.one_of(not_int, negative_int))
def test_evaluate_rejects_bad_warmup(warmup):
    with _raises(BAD, "warmup"):
        rlsuite.evaluate(_zero_orders, "InvMgmt-v0", seeds=[0], warmup=warmup)


@pytest.mark.parametrize("warmup", [5, 6, 1000])
def test_evaluate_rejects_warmup_not_below_the_periods(warmup):
    with pytest.raises(ValueError, match=r"warmup: got \d+; must be in \[0, num_periods=5\)"):
        rlsuite.evaluate(_zero_orders, "InvMgmt-v0", seeds=[0], num_periods=5, warmup=warmup)


@settings(max_examples=N, deadline=None)
@given(name=st.text(max_size=12).filter(lambda s: s not in POLICY_NAMES))
def test_evaluate_and_policy_factory_reject_unknown_policy_names(name):
    with _raises((ValueError,), "policy"):
        rlsuite.evaluate(name, "InvMgmt-v0", seeds=[0])
    with _raises((ValueError,), "policy"):
        rlsuite.evaluate({"mine": name}, "InvMgmt-v0", seeds=[0])
    with _raises((ValueError,), "policy"):
        policy_factory(name)


def test_evaluate_accepts_a_policy_name_and_numpy_seeds():
    res = rlsuite.evaluate("zero", "InvMgmt-v0", seeds=np.arange(2, dtype=np.int32), num_periods=5)
    assert res.seeds == [0, 1] and "zero" in res.episodes


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (lambda obs: np.zeros((obs.shape[0], 3)), r"policy 'bad' returned orders of shape"),
        (lambda obs: np.full(11, np.nan), r"policy 'bad' returned non-finite orders"),
        (lambda obs: np.full(11, np.inf), r"policy 'bad' returned non-finite orders"),
        (lambda obs: None, r"policy 'bad' returned orders of shape \(\)"),
        (lambda obs: "order 5", r"policy 'bad' returned orders that are not numbers"),
        (lambda obs: [[1, 2], [3]], r"policy 'bad' returned orders that are not numbers"),
    ],
)
def test_policies_returning_bad_orders_are_named(policy, field):
    with pytest.raises(ValueError, match=field):
        rlsuite.evaluate({"bad": policy}, "InvMgmt-v0", seeds=[0], num_periods=3)


@pytest.mark.parametrize(
    ("kwargs", "exc", "field"),
    [
        ({"policy": 3.0}, TypeError, "policy"),
        ({"policy": {}}, ValueError, "policy"),
        ({"policy": {1: _zero_orders}}, TypeError, "policy"),
        ({"env": "CartPole-v1"}, ValueError, "env"),
        ({"env": "NoSuchEnv-v9"}, ValueError, "env"),
        ({"env": 42}, TypeError, "env"),
        ({"oracle": 1}, TypeError, "oracle"),
        ({"show_progress": "yes"}, TypeError, "show_progress"),
        ({"env_kwargs": [("backlog", True)]}, TypeError, "env_kwargs"),
    ],
)
def test_evaluate_rejects_other_bad_arguments(kwargs, exc, field):
    args = {"policy": _zero_orders, "env": "InvMgmt-v0", **kwargs}
    with pytest.raises(exc, match=field):
        rlsuite.evaluate(args.pop("policy"), args.pop("env"), seeds=[0], **args)


def test_policy_factory_options_are_checked():
    with pytest.raises(TypeError, match="unknown options"):
        policy_factory("zero", quantity=3.0)
    with pytest.raises(ValueError, match="quantity"):
        policy_factory("constant", quantity=-1.0)
    with pytest.raises(TypeError, match="seed"):
        policy_factory("random", seed=0.5)
    with pytest.raises(TypeError, match="horizon"):
        policy_factory("dlp", horizon=2.5)  # used to be truncated to 2


def test_plot_rejects_an_unknown_kpi(tmp_path):
    res = rlsuite.evaluate("zero", "InvMgmt-v0", seeds=[0], num_periods=3)
    with pytest.raises(ValueError, match="kpi"):
        res.plot(tmp_path / "x.png", kpi="happiness")
    res.plot(tmp_path / "x.png")
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


# --- lost_sales_optimal ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [{"lead_time": 5}, {"lead_time": 40}, {"lead_time": 1, "cap": 10**6}, {"mean": 1e12}]
)
def test_dp_refuses_a_huge_state_space_before_allocating(kwargs):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"lead_time: .* states and needs about .* GiB; max_bytes"):
            lost_sales_optimal(**kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, peak  # well under 100 MB: nothing of the DP's size was allocated


def test_dp_size_limit_is_a_module_constant_and_overridable():
    states, size = lost_sales_dp_size(cap=40, lead_time=5)
    assert states == 41**5 and size > MAX_DP_BYTES
    with pytest.raises(ValueError, match="max_bytes"):
        lost_sales_optimal(5.0, 2, max_bytes=10_000)
    assert lost_sales_optimal(5.0, 1, max_bytes=10**7).converged


def test_dp_raises_when_value_iteration_did_not_converge():
    # Regression: a cost from a truncated iteration used to be returned as optimal.
    with pytest.raises(RuntimeError, match=r"max_iter: .* final span .* >= tol"):
        lost_sales_optimal(5.0, 2, max_iter=3)
    with pytest.warns(RuntimeWarning, match="final span"):
        sol = lost_sales_optimal(5.0, 2, max_iter=3, allow_unconverged=True)
    assert not sol.converged and sol.span >= 1e-8


@settings(max_examples=N, deadline=None)
@given(
    field=st.sampled_from(["mean", "holding_cost", "shortage_cost", "tol"]),
    value=bad_positive_number,
)
def test_dp_rejects_bad_numbers(field, value):
    if field in ("holding_cost", "shortage_cost") and value == 0.0:
        value = -1.0  # zero is a legal cost
    with _raises(BAD, field):
        lost_sales_optimal(**{field: value})


@settings(max_examples=N, deadline=None)
@given(field=st.sampled_from(["lead_time", "cap", "max_iter", "max_bytes"]), value=bad_positive_int)
def test_dp_rejects_bad_integers(field, value):
    if field in ("cap", "max_bytes") and value is None:
        value = 0  # None means the default there
    with _raises(BAD, field):
        lost_sales_optimal(5.0, **{field: value})


def test_dp_other_inputs():
    with pytest.raises(TypeError, match="allow_unconverged"):
        lost_sales_optimal(5.0, 1, allow_unconverged="no")
    with pytest.raises(TypeError, match="demand_pmf"):
        lost_sales_optimal(None, 1, demand_pmf=["a", "b"])
    sol = lost_sales_optimal(5.0, 2)
    with pytest.raises(ValueError, match="on_hand"):
        sol.order(np.nan, [1.0])
    with pytest.raises(ValueError, match="pipeline"):
        sol.order(3.0, [1.0, 2.0])


@settings(max_examples=N, deadline=None)
@given(lead_time=st.one_of(not_int, negative_int), dist=st.sampled_from(["normal", "poisson"]))
def test_backlog_base_stock_rejects_bad_lead_times(lead_time, dist):
    with _raises(BAD, "lead_time"):
        backlog_base_stock(lead_time, std=1.0, dist=dist)


def test_backlog_poisson_needs_no_array_over_the_support():
    tracemalloc.start()
    try:
        S, cost = backlog_base_stock(3, mean=1e12, dist="poisson")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert S > 4e12 and math.isfinite(cost) and peak < 2**20


# --- oracle, policies, search -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inv_env():
    return gym.make("InvMgmt-v0", num_periods=4)


@settings(max_examples=N, deadline=None)
@given(field=st.sampled_from(["order_bound", "time_limit"]), value=bad_positive_number)
def test_oracle_options_are_checked(inv_env, field, value):
    if field == "time_limit" and value == 0.0:
        value = -1.0  # 0 is a legal limit (HiGHS stops at once)
    if value is None:
        value = "none"
    with _raises(BAD, field):
        hindsight_oracle(inv_env, np.ones(4), **{field: value})


def test_oracle_other_inputs(inv_env):
    with pytest.raises(TypeError, match="start"):
        hindsight_oracle(inv_env, np.ones(4), start="initial")
    with pytest.raises(TypeError, match="demand"):
        hindsight_oracle(inv_env, "lots")
    with pytest.raises(TypeError, match="seed"):
        episode_demand(inv_env, 1.5)
    with pytest.raises(ValueError, match="seed"):
        episode_demand(inv_env, -1)
    with pytest.raises(TypeError, match="plans"):
        OraclePlanPolicy(inv_env, [])
    with pytest.raises(TypeError, match="horizon"):
        RollingHorizonLPPolicy(inv_env, horizon=2.7)
    with pytest.raises(ValueError, match="horizon"):
        RollingHorizonLPPolicy(inv_env, horizon=0)


@settings(max_examples=N, deadline=None)
@given(quantity=st.one_of(bad_non_negative_number.filter(lambda v: v is not None), st.just([1.0, 2.0])))
def test_constant_policy_quantity(inv_env, quantity):
    with _raises(BAD, "quantity"):
        ConstantOrderPolicy(inv_env, quantity)


def test_policy_arguments(inv_env):
    with pytest.raises(TypeError, match="echelon"):
        BaseStockPolicy(inv_env, np.zeros(6), echelon="yes")
    with pytest.raises(ValueError, match="levels"):
        BaseStockPolicy(inv_env, np.full(6, np.nan))
    with pytest.raises(TypeError, match="levels"):
        BaseStockPolicy(inv_env, "high")
    with pytest.raises(ValueError, match="service"):
        BaseStockPolicy.s_S(inv_env, service=1.0)
    with pytest.raises(ValueError, match="high"):
        RandomPolicy(inv_env, high=math.inf)
    with pytest.raises(TypeError, match="seed"):
        RandomPolicy(inv_env, seed=0.5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "magic"}, "kind"),
        ({"train_seeds": [0.5]}, "train_seeds"),
        ({"eval_seeds": []}, "eval_seeds"),
        ({"warmup": -1}, "warmup"),
        ({"warmup": 4}, "warmup"),
        ({"min_step": 0.0}, "min_step"),
        ({"max_evaluations": 2.5}, "max_evaluations"),
        ({"init": np.full(9, np.inf)}, "init"),
        ({"num_periods": 0}, "num_periods"),
    ],
)
def test_search_arguments(kwargs, field):
    with pytest.raises(BAD, match=field):
        search_base_stock_levels("InvMgmt-v0", **{"num_periods": 4, **kwargs})


# --- lot-sizing and text -------------------------------------------------------------------------------


@settings(max_examples=N, deadline=None)
@given(field=st.sampled_from(["reorder_at", "order_up_to"]), value=bad_non_negative_number)
def test_cover_policy_thresholds(field, value):
    with _raises(BAD, field):
        LotSizingCoverPolicy("LotSizing-Small-v0", **{field: value})


def test_lotsizing_search_and_bound_arguments():
    with pytest.raises(TypeError, match="n_episodes"):
        LotSizingCoverPolicy.search("LotSizing-Small-v0", n_episodes=1.5)
    with pytest.raises(ValueError, match=r"reorder_at\[1\]"):
        LotSizingCoverPolicy.search("LotSizing-Small-v0", reorder_at=(1.0, math.nan), n_episodes=1)
    with pytest.raises(TypeError, match="n_traces"):
        hindsight_bound("LotSizing-Small-v0", n_traces=2.0)
    with pytest.raises(ValueError, match="horizon"):
        hindsight_bound("LotSizing-Small-v0", horizon=0)
    with pytest.raises(ValueError, match="seed"):
        hindsight_bound("LotSizing-Small-v0", seed=-3)
    spec = gym.make("LotSizing-Small-v0").unwrapped.instance
    with pytest.raises(ValueError, match="mip_rel_gap"):
        perfect_information_bound(spec, np.ones((2, 3)), np.zeros(3), np.zeros(2), mip_rel_gap=math.nan)
    with pytest.raises(TypeError, match="spec"):
        perfect_information_bound("LotSizing-Small-v0", np.ones((2, 3)), np.zeros(3), np.zeros(2))


def test_text_expert_arguments():
    with pytest.raises(ValueError, match="max_nodes"):
        SokobanExpert(max_nodes=0)
    with pytest.raises(TypeError, match="seed"):
        RandomTextPolicy(seed=1.5)
    env = gym.make("Sokoban-v0")
    with pytest.raises(TypeError, match=r"seeds\[0\]"):
        run_text_episodes(env, RandomTextPolicy(), [0.5])


# --- shaping ------------------------------------------------------------------------------------------

from rlsuite.shaping import (  # noqa: E402
    BonusShaping,
    DynamicPotentialShaping,
    PotentialShaping,
    VectorPotentialShaping,
    curve_on_grid,
    locomotion_potential,
    sokoban_potential,
    table_potential,
    value_iteration,
)

bad_gamma = st.one_of(
    not_finite,
    st.floats(max_value=-1e-9, allow_nan=False),
    st.floats(min_value=1.0 + 1e-9, allow_nan=False),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)


def _grid_env():
    return gym.make("GridWorld-v0")


@settings(max_examples=N, deadline=None)
@given(gamma=bad_gamma, wrapper=st.sampled_from(["static", "dynamic", "vector", "tabular"]))
def test_shaping_rejects_bad_gamma(gamma, wrapper):
    with _raises(BAD, "gamma"):
        if wrapper == "static":
            PotentialShaping(_grid_env(), lambda o: 0.0, gamma)
        elif wrapper == "dynamic":
            DynamicPotentialShaping(_grid_env(), lambda o, t: 0.0, gamma)
        elif wrapper == "vector":
            VectorPotentialShaping(gym.make_vec("InvMgmt-v0", num_envs=2), lambda b: np.zeros(2), gamma)
        else:
            P = np.ones((2, 1, 2)) / 2
            value_iteration(P, np.zeros_like(P), np.array([False, True]), gamma)


@settings(max_examples=N, deadline=None)
@given(
    potential=st.one_of(
        st.floats(), st.integers(), st.text(max_size=3), st.none(), st.lists(st.floats(), max_size=2)
    )
)
def test_shaping_rejects_non_callable_potentials(potential):
    with _raises((TypeError,), "potential"):
        PotentialShaping(_grid_env(), potential, 0.9)
    with _raises((TypeError,), "potential"):
        DynamicPotentialShaping(_grid_env(), potential, 0.9)  # used to be accepted (wrapped in a lambda)
    with _raises((TypeError,), "bonus"):
        BonusShaping(_grid_env(), potential)


@settings(max_examples=N, deadline=None)
@given(value=st.one_of(not_finite, st.text(max_size=3), st.none()), when=st.sampled_from(["reset", "step"]))
def test_a_potential_returning_nan_inf_or_junk_raises_instead_of_poisoning_rewards(value, when):
    calls = []

    def phi(obs):
        calls.append(obs)
        return value if (when == "reset" or len(calls) > 1) else 0.0

    env = PotentialShaping(_grid_env(), phi, 0.9)
    with _raises((ValueError,), "potential: returned"):
        env.reset(seed=0)
        env.step(0)


def test_vector_potential_with_wrong_size_or_nan_raises():
    venv = VectorPotentialShaping(gym.make_vec("InvMgmt-v0", num_envs=2), lambda b: np.zeros(3), 0.9)
    with pytest.raises(ValueError, match="potential: returned 3 values for a batch of 2"):
        venv.reset(seed=0)
    venv = VectorPotentialShaping(gym.make_vec("InvMgmt-v0", num_envs=2), lambda b: np.full(2, np.nan), 0.9)
    with pytest.raises(ValueError, match="potential: returned a non-finite"):
        venv.reset(seed=0)


def test_a_bonus_returning_nan_raises():
    env = BonusShaping(_grid_env(), lambda o, a, n: math.nan)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="bonus: returned nan"):
        env.step(0)


@settings(max_examples=N, deadline=None)
@given(scale=st.one_of(not_finite, st.booleans(), st.text(max_size=3), st.none()))
def test_potential_scales_are_checked(scale):
    with _raises(BAD, "scale"):
        sokoban_potential(scale)
    with _raises(BAD, "weight"):
        locomotion_potential(weight=scale)


def test_tabular_and_analysis_inputs():
    P = np.ones((2, 1, 2)) / 2
    terminal = np.array([False, True])
    with pytest.raises(ValueError, match="values"):
        table_potential([0.0, math.nan])
    with pytest.raises(TypeError, match="index"):
        table_potential([0.0, 1.0], index=3)
    with pytest.raises(ValueError, match="potential"):
        value_iteration(P, np.zeros_like(P), terminal, 0.9, potential=np.array([0.0, math.inf]))
    with pytest.raises(ValueError, match="R"):
        value_iteration(P, np.full_like(P, math.nan), terminal, 0.9)
    with pytest.raises(TypeError, match="max_iterations"):
        value_iteration(P, np.zeros_like(P), terminal, 0.9, max_iterations=10.5)
    with pytest.raises(TypeError, match="window"):
        curve_on_grid([1, 2], [0.0, 1.0], [1, 2], window=2.5)
