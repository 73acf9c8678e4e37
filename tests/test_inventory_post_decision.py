"""The post-decision contract of the InvMgmt family: ``post_decision(obs, action)`` is the
deterministic part of the step and equals ``info["post_decision_obs"]``; the reward splits into the
order-driven part ``info["post_decision_reward"]`` and the demand-driven rest. One period of a
two-node network is worked out by hand."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite  # noqa: F401
from rlsuite.envs import INVMGMT_IDS
from rlsuite.envs.inventory import (
    COST_INDEX,
    COST_NAMES,
    DemandSpec,
    InventoryCore,
    InvMgmtEnv,
    Link,
    MarketLink,
    NetworkSpec,
    Node,
)


@settings(max_examples=25, deadline=None)
@given(env_id=st.sampled_from(sorted(INVMGMT_IDS)), seed=st.integers(0, 10_000), high=st.floats(0.0, 80.0))
def test_post_decision_function_equals_the_env_step(env_id, seed, high):
    env = gym.make(env_id)
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(12):
        action = rng.uniform(0.0, high, env.action_space.shape)
        expected = u.post_decision(obs, action)
        obs, _, _, truncated, info = env.step(action)
        np.testing.assert_array_equal(info["post_decision_obs"], expected)
        costs = dict(zip(COST_NAMES, info["costs"], strict=True))
        det = -(costs["procurement"] + costs["operating"] + costs["pipeline_holding"] + costs["fixed"])
        assert info["post_decision_reward"] == pytest.approx(det)
        if truncated:
            break


def test_post_decision_is_the_state_before_demand():
    """Serving the demand from the post-decision observation's on-hand gives the next observation."""
    env = gym.make("InvMgmt-SingleStore-v0")
    u = env.unwrapped
    idx = u.core.observation_index()
    obs, _ = env.reset(seed=3)
    for _ in range(10):
        post = u.post_decision(obs, [7.0])
        obs, _, _, _, info = env.step([7.0])
        sold = info["sold"][0]
        on_hand = idx["on_hand"]
        np.testing.assert_allclose(obs[on_hand], post[on_hand] - sold)
        np.testing.assert_allclose(obs[idx["pipeline"]], post[idx["pipeline"]])


def test_batched_and_vector_forms_agree():
    venv = gym.make_vec("InvMgmt-OneWarehouse-v0", num_envs=5)
    u = gym.make("InvMgmt-OneWarehouse-v0").unwrapped
    obs, _ = venv.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        actions = rng.uniform(0, 20, venv.action_space.shape)
        expected = u.post_decision(obs, actions)
        obs, _, _, _, infos = venv.step(actions)
        np.testing.assert_array_equal(infos["post_decision_obs"], expected)
        assert infos["post_decision_reward"].shape == (5,)


def test_post_decision_errors():
    u = gym.make("InvMgmt-v0").unwrapped
    obs, _ = u.reset(seed=0)
    with pytest.raises(ValueError, match="obs"):
        u.post_decision(obs[:-1], np.zeros(u.core.n_links))
    with pytest.raises(ValueError, match="action"):
        u.post_decision(obs, np.zeros(u.core.n_links + 1))
    with pytest.raises(ValueError, match="finite"):
        u.post_decision(obs, np.full(u.core.n_links, np.nan))
    torch.set_num_threads(1)


def factory_and_retailer() -> NetworkSpec:
    """raw s -> factory d (C = 8, yield v = 2, o = 0.5) -> retailer r -> market m."""
    return NetworkSpec(
        nodes=(
            Node("s", "raw"),
            Node("d", "factory", I0=10, h=0.2, C=8, v=2, o=0.5),
            Node("r", "retailer", I0=5, h=0.5),
            Node("m", "market"),
        ),
        links=(Link("s", "d", L=1, p=1.0, g=0.1, K=2.0), Link("d", "r", L=0, p=1.5)),
        markets=(MarketLink("r", "m", p=4.0, b=3.0, demand=DemandSpec("poisson", 10)),),
    )


@pytest.mark.parametrize("backlog", [True, False])
def test_one_period_worked_by_hand(backlog):
    """Start of period 0: d holds 10, r holds 5, 4 units on s -> d arrive this period, 2 units of
    backlog from the last period. Orders: 6 on s -> d, 12 on d -> r; demand 14 (order_first).

    Fill: s is raw, so s -> d gets 6. d is a factory: it ships min(12, C = 8, v X = 2 x 10) = 8
    and uses 8 / v = 4 input units. Arrivals: d gets the 4 in transit, r the 8 (L = 0).
    Post-decision: on-hand d = 10 + 4 - 4 = 10, r = 5 + 8 = 13; pipeline [6] (the new order);
    post-decision reward = -(procurement 1.0 x 6 + operating 0.5 / 2 x 8 + pipeline 0.1 x 6
    + fixed 2.0) = -(6 + 2 + 0.6 + 2) = -10.6.
    Demand: backlog serves 14 + 2 = 16, sells 13, 3 unmet (penalty 3 x 3 = 9); lost sales
    serves 14, sells 13, 1 lost (penalty 3). Revenue 4 x 13 = 52, holding 0.2 x 10 + 0.5 x 0 = 2.
    Reward = 52 - 6 - 2 - 2 - 0.6 - penalty - 2 = 30.4 (backlog) or 36.4 (lost sales).
    Node profits: d earns 1.5 x 8 = 12 for what it ships and pays 6 + 2 + 2 + 0.6 + 2 -> -0.6;
    r earns 52, pays 12 and the penalty -> 31 (backlog) or 37 (lost sales).
    """
    core = InventoryCore(factory_and_retailer(), backlog=backlog)
    f64 = dict(dtype=torch.float64)
    state = core.initial_state(1)._replace(
        pipeline=torch.tensor([[4.0]], **f64), backlog=torch.tensor([[2.0]], **f64)
    )
    orders = torch.tensor([[6.0, 12.0]], **f64)
    post = core.post_decision(state, orders)
    assert post.filled.tolist() == [[6.0, 8.0]] and post.requested.tolist() == [[6.0, 12.0]]
    assert post.on_hand.tolist() == [[10.0, 13.0]] and post.pipeline.tolist() == [[6.0]]
    # The env's pure function on the observation: [last demand, backlog, on-hand d, r, pipeline, t, 1].
    env = InvMgmtEnv(factory_and_retailer(), backlog=backlog)
    post_obs = env.post_decision(core.observe(state)[0].numpy(), [6.0, 12.0])
    np.testing.assert_array_equal(post_obs, [0.0, 2.0, 10.0, 13.0, 6.0, 0.0, 1.0])

    nxt, reward, info = core.realize_demand(post, torch.tensor([[14.0]], **f64), node_profit=True)
    unmet, penalty, reward_by_hand, r_profit = (3.0, 9.0, 30.4, 31.0) if backlog else (1.0, 3.0, 36.4, 37.0)
    costs = {
        "revenue": 52.0,
        "procurement": 6.0,
        "operating": 2.0,
        "holding": 2.0,
        "pipeline_holding": 0.6,
        "penalty": penalty,
        "fixed": 2.0,
    }
    for name, value in costs.items():
        assert info.costs[0, COST_INDEX[name]].item() == pytest.approx(value), name
    assert float(core.post_decision_reward(info.costs)[0]) == pytest.approx(-10.6)
    assert reward.item() == pytest.approx(reward_by_hand)
    assert info.node_profit[0].tolist() == pytest.approx([-0.6, r_profit])
    assert info.sold.tolist() == [[13.0]] and info.unmet.tolist() == [[unmet]]
    assert nxt.on_hand.tolist() == [[10.0, 0.0]] and nxt.backlog.tolist() == [[unmet]]
    assert nxt.last_demand.tolist() == [[14.0]] and nxt.period.tolist() == [1]
