"""The single Gymnasium env: checker, determinism and bad input for every registered id."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlsuite
from rlsuite.envs import INVMGMT_IDS
from rlsuite.envs.inventory import (
    COST_INDEX,
    COST_NAMES,
    DemandSpec,
    InvMgmtEnv,
    Link,
    MarketLink,
    NetworkSpec,
    Node,
)

IDS = sorted(INVMGMT_IDS)


def test_import_registers_every_id():
    gym.register_envs(rlsuite)
    for env_id in IDS:
        assert env_id in gym.registry
    assert gym.make("rlsuite:InvMgmt-v0").unwrapped.spec_network.name == "divergent"


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", ["InvMgmt-v0", "InvMgmt-OneWarehouse-v0"])
def test_check_env_dict_observation(env_id):
    env = gym.make(env_id, observation="dict")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    core = env.unwrapped.core
    assert obs["edge_index"].shape == (2, core.n_links + core.n_markets)
    np.testing.assert_array_equal(obs["flat"], core.observe(env.unwrapped.state)[0].numpy())


def _trajectory(env_id: str, seed: int, steps: int = 40):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    for _ in range(steps):
        obs, r, te, tr, info = env.step(env.action_space.sample())
        out += [obs, r, info["demand"]]
        if te or tr:
            obs, _ = env.reset()
            out.append(obs)
    return out


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id):
    a, b = _trajectory(env_id, 3), _trajectory(env_id, 3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    c = _trajectory(env_id, 4)
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("env_id", IDS)
def test_numpy_and_torch_backends_give_the_same_episodes(env_id):
    """The default single env steps the core's NumPy twin; the torch core gives the same
    observations, rewards and infos (up to the summation order of matrix products) on every id,
    and the checker passes with either."""
    envs = {b: gym.make(env_id, backend=b) for b in ("numpy", "torch")}
    assert envs["numpy"].unwrapped.sim.backend == "numpy" and envs["torch"].unwrapped.sim.backend == "torch"
    assert envs["numpy"].unwrapped.core.backend == "torch"  # the public core stays the torch one
    check_env(envs["torch"].unwrapped, skip_render_check=True)
    rng = np.random.default_rng(0)
    first = {b: e.reset(seed=5) for b, e in envs.items()}
    np.testing.assert_array_equal(first["numpy"][0], first["torch"][0])
    high = np.minimum(envs["numpy"].action_space.high, 60.0)
    for _ in range(45):
        action = rng.uniform(0, high)
        out = {b: e.step(action) for b, e in envs.items()}
        (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) = out["numpy"], out["torch"]
        assert o1.dtype == o2.dtype and type(r1) is type(r2) and (te1, tr1) == (te2, tr2)
        np.testing.assert_allclose(o1, o2, rtol=1e-12, atol=1e-9)
        assert r1 == pytest.approx(r2, rel=1e-12, abs=1e-9)
        assert set(i1) == set(i2)
        for key in i1:
            np.testing.assert_allclose(i1[key], i2[key], rtol=1e-12, atol=1e-9, err_msg=key)
        state_n, state_t = envs["numpy"].unwrapped.state, envs["torch"].unwrapped.state
        for a, b in zip(state_n, state_t, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-9)
        if tr1:
            for e in envs.values():
                e.reset()


def test_backend_is_validated():
    with pytest.raises(ValueError, match="backend"):
        InvMgmtEnv(backend="jax")
    with pytest.raises(ValueError, match="'numpy' runs on the CPU"):
        InvMgmtEnv(backend="numpy", device="meta")


def test_demand_does_not_depend_on_actions():
    e1, e2 = InvMgmtEnv("divergent"), InvMgmtEnv("divergent")
    e1.reset(seed=5)
    e2.reset(seed=5)
    for _ in range(30):
        i1 = e1.step(np.zeros(11))[4]
        i2 = e2.step(np.full(11, 50.0))[4]
        np.testing.assert_array_equal(i1["demand"], i2["demand"])


def test_episode_truncates_after_num_periods_and_refuses_more_steps():
    env = InvMgmtEnv("serial", num_periods=5)
    env.reset(seed=0)
    flags = [env.step(np.zeros(3))[3] for _ in range(5)]
    assert flags == [False, False, False, False, True]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_actions_raise(bad):
    env = InvMgmtEnv("divergent")
    env.reset(seed=0)
    a = np.zeros(11)
    a[3] = bad
    with pytest.raises(ValueError, match="finite"):
        env.step(a)


def test_wrong_shape_names_expected_shape():
    env = InvMgmtEnv("divergent")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(11,\)"):
        env.step(np.zeros(3))


def test_negative_orders_count_as_zero_and_large_orders_are_clipped():
    trace = np.full(30, 20.0)
    env_a, env_b = InvMgmtEnv("serial", demand_trace=trace), InvMgmtEnv("serial", demand_trace=trace)
    env_a.reset(seed=0)
    env_b.reset(seed=0)
    bound = env_a.order_bound
    ra = env_a.step(np.array([-5.0, -1e9, 1e12]))
    rb = env_b.step(np.array([0.0, 0.0, bound]))
    assert ra[1] == rb[1]
    np.testing.assert_array_equal(ra[0], rb[0])
    assert ra[4]["orders_filled"][2] == bound  # raw material fills everything


def test_costs_decompose_into_reward_and_node_profits_sum_to_it():
    env = gym.make("InvMgmt-v0")
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, r, _, _, info = env.step(rng.uniform(0, 40, 11))
        c = info["costs"]
        assert c.shape == (len(COST_NAMES),)
        revenue = c[COST_INDEX["revenue"]]
        assert r == pytest.approx(revenue - (c.sum() - revenue), rel=1e-12, abs=1e-9)
        assert info["node_profit"].sum() == pytest.approx(r, rel=1e-9, abs=1e-9)


def test_each_named_cost_column_holds_that_cost():
    """First period of raw s -> factory d (I0 10, h 0.2, C 8, yield 2, o 0.5) -> retailer r (I0 5,
    h 0.5) -> market (p 4, b 3); s -> d: L 1, p 1, g 0.1, K 2; d -> r: L 0, p 1.5. Orders 6 and 12,
    demand 14. s ships 6 (in transit); d ships min(12, C 8, 2 x 10) = 8 using 4 inputs, so d ends
    with 6; r holds 5 + 8 = 13, sells 13, 1 unmet."""
    spec = NetworkSpec(
        nodes=(
            Node("s", "raw"),
            Node("d", "factory", I0=10, h=0.2, C=8, v=2, o=0.5),
            Node("r", "retailer", I0=5, h=0.5),
            Node("m", "market"),
        ),
        links=(Link("s", "d", L=1, p=1.0, g=0.1, K=2.0), Link("d", "r", L=0, p=1.5)),
        markets=(MarketLink("r", "m", p=4.0, b=3.0, demand=DemandSpec("poisson", 10)),),
    )
    env = InvMgmtEnv(spec, demand_trace=np.full(30, 14.0))
    env.reset(seed=0)
    info = env.step(np.array([6.0, 12.0]))[4]
    by_hand = {
        "revenue": 4.0 * 13,
        "procurement": 1.0 * 6,  # bought from the raw source
        "operating": 0.5 / 2 * 8,  # o / v per unit the factory ships
        "holding": 0.2 * 6 + 0.5 * 0,
        "pipeline_holding": 0.1 * 6,
        "penalty": 3.0 * 1,
        "fixed": 2.0,  # s -> d filled a positive order
    }
    assert set(by_hand) == set(COST_NAMES)
    for name, value in by_hand.items():
        assert info["costs"][COST_INDEX[name]] == pytest.approx(value), name


def test_reset_option_demand_trace_and_validation():
    env = InvMgmtEnv("divergent")
    trace = np.arange(30, dtype=float)
    env.reset(seed=0, options={"demand_trace": trace})
    assert [env.step(np.zeros(11))[4]["demand"][0] for _ in range(3)] == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="demand_trace"):
        env.reset(options={"demand_trace": np.ones(5)})
    with pytest.raises(ValueError, match="unknown keys"):
        env.reset(options={"bogus": 1})


def test_constructor_arguments_are_validated():
    with pytest.raises(ValueError, match="num_periods"):
        InvMgmtEnv(num_periods=0)
    with pytest.raises(ValueError, match="allocation"):
        InvMgmtEnv(allocation="lifo")
    with pytest.raises(ValueError, match="observation"):
        InvMgmtEnv(observation="image")
    with pytest.raises(ValueError, match="dtype"):
        InvMgmtEnv(dtype="float16")
    with pytest.raises(ValueError, match="goodwill"):
        InvMgmtEnv(demand={"type": "stationary", "use_goodwill": True})
    with pytest.raises(ValueError, match="network"):
        InvMgmtEnv("pentagon")
    with pytest.raises(ValueError, match=r"unknown; allowed: \['backlog', 'demand'\]"):
        InvMgmtEnv("divergent", lead_time=2)


def test_hdpo_kwargs_reach_the_network():
    env = gym.make("InvMgmt-SingleStore-v0", lead_time=2, shortage_cost=4.0)
    spec = env.unwrapped.spec_network
    assert spec.links[0].L == 2 and spec.markets[0].b == 4.0
    assert env.unwrapped.core.backlog is False
    env_b = gym.make("InvMgmt-SingleStore-Backlog-v0")
    assert env_b.unwrapped.spec_network.markets[0].demand.std == 1.6
    assert env_b.unwrapped.core.backlog is True


def test_render_ansi_shows_state():
    env = InvMgmtEnv("serial", render_mode="ansi")
    env.reset(seed=0)
    env.step(np.full(3, 10.0))
    text = env.render()
    assert "on_hand[1]" in text and "period 1/30" in text and "revenue" in text


def test_observation_names_match_layout():
    env = InvMgmtEnv("divergent")
    names = env.core.observation_names()
    assert len(names) == env.observation_space.shape[0] == 71
    assert names[0].startswith("demand") and names[-2:] == ["period", "demand_multiplier"]
