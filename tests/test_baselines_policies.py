"""OR policies (installation/echelon/capped base-stock, (s,S), newsvendor) and the level search."""

import gymnasium as gym
import numpy as np
import pytest

import rlsuite
from rlsuite.baselines import BaseStockPolicy, backlog_base_stock, search_base_stock_levels
from rlsuite.envs.inventory import InvMgmtEnv, InvMgmtVectorEnv
from rlsuite.envs.inventory.base_stock import (
    BaseStockRule,
    base_stock_orders,
    critical_ratio,
    downstream_closure,
    newsvendor_level,
)


def test_order_rules_on_hand_made_positions():
    env = InvMgmtEnv("serial")
    obs, _ = env.reset(seed=0)  # on-hand 100, 100, 200; nothing in transit
    base = BaseStockPolicy(env, [120.0, 90.0, 250.0])
    np.testing.assert_allclose(base.predict(obs)[0], [20.0, 0.0, 50.0])
    capped = BaseStockPolicy(env, [120.0, 90.0, 250.0], caps=[10.0, 10.0, 10.0])
    np.testing.assert_allclose(capped.predict(obs)[0], [10.0, 0.0, 10.0])
    ss = BaseStockPolicy(env, [120.0, 90.0, 250.0], reorder_points=[110.0, 80.0, 190.0])
    np.testing.assert_allclose(ss.predict(obs)[0], [20.0, 0.0, 0.0])  # 200 >= s = 190: no order
    ech = BaseStockPolicy(env, [120.0, 230.0, 450.0], echelon=True)
    np.testing.assert_allclose(ech.position(obs), [100.0, 200.0, 400.0])
    np.testing.assert_allclose(ech.predict(obs)[0], [20.0, 30.0, 50.0])
    with pytest.raises(ValueError, match="levels"):
        BaseStockPolicy(env, [1.0, 2.0])
    with pytest.raises(ValueError, match="reorder_points"):
        BaseStockPolicy(env, [1.0, 2.0, 3.0], reorder_points=[5.0, 0.0, 0.0])


def test_positions_count_pipeline_and_backlog():
    env = InvMgmtEnv("serial", demand_trace=np.full(30, 150.0))
    env.reset(seed=0)
    obs, *_ = env.step(np.array([30.0, 0.0, 0.0]))
    base = BaseStockPolicy(env, [0.0, 0.0, 0.0])
    # Retailer: sold its 100, 50 backlogged, 30 in transit -> position 0 + 30 - 50.
    assert base.position(obs)[0] == pytest.approx(-20.0)


def test_newsvendor_level_by_hand():
    assert critical_ratio(9.0, 1.0) == pytest.approx(0.9)
    # HDPO's single store, L = 4: 5 x 5 + Phi^-1(0.9) 1.6 sqrt(5) = 25 + 1.28155 x 3.57771 = 29.585.
    assert newsvendor_level(5.0, 4, 0.9, std=1.6) == pytest.approx(29.585, abs=1e-3)
    # Poisson(2) over one period: P(D <= 1) = 0.406 < 0.5 <= P(D <= 2) = 0.677.
    assert newsvendor_level(2.0, 0, 0.5, dist="poisson") == 2.0
    levels = newsvendor_level(np.array([5.0, 5.0]), np.array([0.0, 3.0]), 0.5, std=np.array([1.0, 1.0]))
    np.testing.assert_allclose(levels, [5.0, 20.0])  # z = 0 at the median
    with pytest.raises(ValueError, match="std"):
        newsvendor_level(5.0, 1, 0.9)
    with pytest.raises(ValueError, match="dist"):
        newsvendor_level(5.0, 1, 0.9, std=1.0, dist="gamma")


def test_base_stock_rule_is_one_rule_for_numpy_and_torch():
    import torch

    env = InvMgmtEnv("divergent")
    rule = BaseStockRule(env.core, echelon=True)
    assert rule.ip_map.shape == (71, 6) and rule.split.shape == (6, 11)
    rule.ip_map[0, 0] = 7.0  # a copy: the rule is unchanged
    assert rule.ip_map[0, 0] == 0.0
    obs = np.random.default_rng(0).uniform(0, 100, (8, 71))
    levels, s, caps = np.full(6, 400.0), np.full(6, 300.0), np.full(6, 60.0)
    orders = rule.orders(obs, levels, reorder_points=s, caps=caps)
    t_levels = torch.tensor(levels, requires_grad=True)
    t_orders = rule.orders(torch.as_tensor(obs), t_levels, reorder_points=s, caps=caps)
    np.testing.assert_array_equal(t_orders.detach().numpy(), orders)
    t_orders.sum().backward()
    assert torch.isfinite(t_levels.grad).all()
    # Echelon positions are installation positions summed downstream.
    installation = BaseStockRule(env.core).position(obs)
    np.testing.assert_allclose(rule.position(obs), installation @ downstream_closure(env.core).T)


def test_split_shares_a_nodes_order_over_its_inbound_links():
    env = InvMgmtEnv("divergent")  # the retailer (node 1) orders on links 0 (from 2) and 1 (from 3)
    core = env.core
    split = BaseStockRule(core).split.copy()
    split[0, :2] = [0.25, 0.75]
    position = np.zeros((1, core.n_stock))
    levels = np.zeros(core.n_stock)
    levels[0] = 40.0
    orders = base_stock_orders(position, levels, split)
    np.testing.assert_allclose(orders[0, :2], [10.0, 30.0])
    assert orders[0, 2:].sum() == 0.0
    policy = BaseStockPolicy(env, levels, split=split)
    np.testing.assert_allclose(policy.rule.split, split)
    bad = split.copy()
    bad[0, 5] = 1.0  # link 5 does not deliver to the retailer
    with pytest.raises(ValueError, match="split"):
        BaseStockPolicy(env, levels, split=bad)


def test_newsvendor_levels_equal_the_closed_form_for_a_single_store():
    env = gym.make("InvMgmt-SingleStore-Backlog-v0")
    level, _ = backlog_base_stock(4, 1.0, 9.0, mean=5.0, std=1.6)
    assert BaseStockPolicy.newsvendor(env).levels[0] == pytest.approx(level)


def test_policies_are_batched():
    venv = InvMgmtVectorEnv(5, "divergent")
    obs, _ = venv.reset(seed=0)
    for policy in (BaseStockPolicy.newsvendor(venv), BaseStockPolicy.s_S(venv)):
        action, _ = policy.predict(obs)
        assert action.shape == (5, 11) and (action >= 0).all()


def test_level_search_improves_on_its_start_and_finds_the_known_optimum():
    res = search_base_stock_levels(
        "InvMgmt-SingleStore-Backlog-v0",
        init=np.array([20.0]),
        num_periods=200,
        warmup=50,
        train_seeds=range(256),
        eval_seeds=range(1000, 1256),
        min_step=0.25,
    )
    assert res.levels[0] == pytest.approx(29.585, abs=1.0)
    assert -res.objective == pytest.approx(6.29, abs=0.1)
    serial = search_base_stock_levels("InvMgmt-Serial-v0", train_seeds=range(32), eval_seeds=range(100, 164))
    start = rlsuite.evaluate(
        BaseStockPolicy.newsvendor(InvMgmtEnv("serial")), "InvMgmt-Serial-v0", seeds=range(32)
    )
    assert serial.train_objective > start.summary()[0]["profit"] + 10
    policy = serial.policy(InvMgmtEnv("serial"))
    assert policy.name == "base-stock (searched)"
    with pytest.raises(ValueError, match="kind"):
        search_base_stock_levels("InvMgmt-v0", kind="magic")


def test_torch_rule_drives_the_differentiable_core():
    import torch

    from rlsuite.envs.inventory import InventoryCore, NetworkSpec

    core = InventoryCore(NetworkSpec.single_store(backlog=True, demand=None), backlog=True)
    env = InvMgmtEnv("single_store", backlog=True)
    policy = BaseStockPolicy(env, [20.0])
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(
        policy.torch_orders(torch.as_tensor(obs)[None]).numpy()[0], policy.predict(obs)[0]
    )
    levels = torch.tensor([22.0], dtype=torch.float64, requires_grad=True)
    demand = torch.as_tensor(np.random.default_rng(0).poisson(5, (200, 64, 1)), dtype=torch.float64)
    state, cost = core.initial_state(64), 0.0
    for t in range(200):
        state, reward, _ = core.step(state, policy.torch_orders(core.observe(state), levels), demand[t])
        cost = cost - reward.mean()
    cost.backward()
    assert torch.isfinite(levels.grad).all() and levels.grad.item() != 0.0
