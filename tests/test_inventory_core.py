"""The batched core: allocation rules, invariants (hypothesis), post-decision state, gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rlsuite.envs.inventory import (
    COST_INDEX,
    COST_NAMES,
    DemandSpec,
    InventoryCore,
    Link,
    MarketLink,
    NetworkSpec,
    Node,
)

# reward = revenue - every other term
SIGNS = torch.tensor([1.0 if name == "revenue" else -1.0 for name in COST_NAMES], dtype=torch.float64)


def two_retailers(factory_yield: float = 1.0, capacity: float = 1000.0) -> NetworkSpec:
    """raw -> factory -> distributor -> two retailers (a supplier shared by two links)."""
    return NetworkSpec(
        nodes=(
            Node("raw", "raw"),
            Node("f", "factory", I0=50, h=0.01, C=capacity, v=factory_yield, o=0.1),
            Node("d", "distributor", I0=30, h=0.02),
            Node("r1", "retailer", I0=10, h=0.05),
            Node("r2", "retailer", I0=10, h=0.05),
            Node("m1", "market"),
            Node("m2", "market"),
        ),
        links=(
            Link("raw", "f", L=1, p=0.2, g=0.01),
            Link("f", "d", L=2, p=0.5, g=0.02, K=1.0),
            Link("d", "r1", L=0, p=1.0),
            Link("d", "r2", L=1, p=1.0, g=0.03),
        ),
        markets=(
            MarketLink("r1", "m1", p=2.0, b=0.5, demand=DemandSpec("poisson", 8)),
            MarketLink("r2", "m2", p=2.5, b=0.7, demand=DemandSpec("poisson", 6)),
        ),
    )


NETWORKS = {
    "divergent": NetworkSpec.divergent(),
    "serial": NetworkSpec.serial(),
    "two_retailers": two_retailers(),
    "yield_2": two_retailers(factory_yield=2.0, capacity=15.0),
    "one_warehouse": NetworkSpec.one_warehouse(n_stores=3, seed=1),
    "serial_echelon": NetworkSpec.serial_echelon(),
}


def _core(name: str, backlog: bool, allocation: str, event_order: str) -> InventoryCore:
    return InventoryCore(NETWORKS[name], backlog=backlog, allocation=allocation, event_order=event_order)


def test_fcfs_serves_links_in_order_and_proportional_shares():
    spec = two_retailers()
    orders = torch.tensor([[0.0, 0.0, 20.0, 20.0]], dtype=torch.float64)
    fcfs = InventoryCore(spec, allocation="fcfs")
    post = fcfs.post_decision(fcfs.initial_state(1), orders)
    assert post.filled[0, 2:].tolist() == [20.0, 10.0]  # distributor holds 30
    prop = InventoryCore(spec, allocation="proportional")
    post = prop.post_decision(prop.initial_state(1), orders)
    assert post.filled[0, 2:].tolist() == [15.0, 15.0]


def test_factory_capacity_and_yield_bound_what_ships():
    spec = two_retailers(factory_yield=2.0, capacity=15.0)
    core = InventoryCore(spec)
    post = core.post_decision(
        core.initial_state(1), torch.tensor([[0.0, 40.0, 0.0, 0.0]], dtype=torch.float64)
    )
    assert post.filled[0, 1].item() == 15.0  # capacity binds before 2 * 50 input units
    assert post.on_hand[0, 0].item() == pytest.approx(50 - 15 / 2)  # consumes 1 / v input per unit
    spec = spec.replace(
        nodes=tuple(n.__class__(**{**n.__dict__, "I0": 5}) if n.name == "f" else n for n in spec.nodes)
    )
    core = InventoryCore(spec)
    post = core.post_decision(
        core.initial_state(1), torch.tensor([[0.0, 40.0, 0.0, 0.0]], dtype=torch.float64)
    )
    assert post.filled[0, 1].item() == 10.0  # 5 input units x yield 2


def test_receive_first_lets_suppliers_ship_todays_arrivals():
    spec = NetworkSpec.serial()
    core = InventoryCore(spec)
    state = core.initial_state(1)
    pipe = state.pipeline.clone()
    pipe[0, core.slot(1, 0)] = 50.0  # 50 units reach the distributor this period
    state = state._replace(pipeline=pipe, on_hand=torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64))
    orders = torch.tensor([[40.0, 0.0, 0.0]], dtype=torch.float64)
    first = InventoryCore(spec, event_order="order_first").post_decision(state, orders)
    recv = InventoryCore(spec, event_order="receive_first").post_decision(state, orders)
    assert first.filled[0, 0].item() == 0.0 and recv.filled[0, 0].item() == 40.0
    assert first.on_hand[0, 1].item() == 50.0 and recv.on_hand[0, 1].item() == 10.0


@st.composite
def episodes(draw):
    name = draw(st.sampled_from(sorted(NETWORKS)))
    backlog = draw(st.booleans())
    allocation = draw(st.sampled_from(["fcfs", "proportional"]))
    event_order = draw(st.sampled_from(["order_first", "receive_first"]))
    core = _core(name, backlog, allocation, event_order)
    T = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([0.0, 5.0, 40.0, 300.0]))
    orders = rng.uniform(0, scale, (T, 3, core.n_links)) * (rng.random((T, 3, core.n_links)) < 0.8)
    demand = rng.uniform(0, 60, (T, 3, core.n_markets)).round(draw(st.sampled_from([0, 3])))
    return core, torch.tensor(orders), torch.tensor(demand)


def _units(core: InventoryCore, state) -> torch.Tensor:
    return state.on_hand.sum(1) + state.pipeline.sum(1)


@given(episodes())
def test_units_are_conserved_and_costs_decompose(ep):
    core, orders, demand = ep
    spec = core.spec
    state = core.initial_state(3)
    carried = torch.zeros(3, core.n_markets, dtype=torch.float64)
    yld = torch.tensor([1 / v for v in _link_input_per_unit(spec)], dtype=torch.float64)
    raw = torch.tensor(core.src_is_raw, dtype=torch.float64)
    h = torch.tensor([n.h for n in spec.stock_nodes], dtype=torch.float64)
    for t in range(orders.shape[0]):
        before = _units(core, state)
        state, reward, info = core.step(state, orders[t], demand[t], node_profit=True)
        # Units: nothing is created or lost beyond raw inflow, yield gains and market sales.
        raw_in = (info.filled * raw).sum(1)
        yield_gain = (info.filled * (1 - yld) * (1 - raw)).sum(1)
        expected = before + raw_in + yield_gain - info.sold.sum(1)
        torch.testing.assert_close(_units(core, state), expected, rtol=1e-9, atol=1e-7)
        # Demand: served + unmet = demand (+ carried backlog).
        eff = demand[t] + (carried if core.backlog else 0)
        torch.testing.assert_close(info.sold + info.unmet, eff, rtol=1e-12, atol=1e-9)
        carried = info.unmet
        assert (state.on_hand >= -1e-9).all() and (info.sold >= 0).all() and (info.unmet >= -1e-9).all()
        assert (info.filled <= info.requested + 1e-9).all()
        # Reward = revenue - costs, and each term from first principles.
        torch.testing.assert_close(reward, info.costs @ SIGNS, rtol=0, atol=0)
        p = torch.tensor([m.p for m in spec.markets], dtype=torch.float64)
        b = torch.tensor([m.b for m in spec.markets], dtype=torch.float64)
        g = torch.tensor([link.g for link in spec.links], dtype=torch.float64)
        price = torch.tensor([link.p for link in spec.links], dtype=torch.float64)
        cost = {name: info.costs[:, i] for name, i in COST_INDEX.items()}
        torch.testing.assert_close(cost["revenue"], info.sold @ p)
        torch.testing.assert_close(cost["procurement"], (info.filled * raw) @ price)
        torch.testing.assert_close(cost["holding"], state.on_hand @ h)
        torch.testing.assert_close(cost["pipeline_holding"], state.pipeline @ g[core.slot_links])
        torch.testing.assert_close(cost["penalty"], info.unmet @ b)
        torch.testing.assert_close(info.node_profit.sum(1), reward, rtol=1e-9, atol=1e-7)


def _link_input_per_unit(spec: NetworkSpec) -> list[float]:
    nodes = {n.name: n for n in spec.nodes}
    return [nodes[link.src].v if nodes[link.src].kind == "factory" else 1.0 for link in spec.links]


@given(episodes())
def test_sales_never_exceed_the_retailers_post_decision_stock(ep):
    """Demand is served from what the retailer holds after orders and arrivals (the post-decision
    state; one period worked by hand in test_inventory_post_decision.py)."""
    core, orders, demand = ep
    state = core.initial_state(3)
    for t in range(orders.shape[0]):
        post = core.post_decision(state, orders[t])
        state, _, info = core.realize_demand(post, demand[t])
        stock = torch.stack([post.on_hand[:, core.stock_names.index(m.src)] for m in core.spec.markets], 1)
        assert (info.sold <= stock + 1e-9).all()


def test_pipeline_slots_name_the_pipeline_columns():
    core = InventoryCore(two_retailers())  # lead times 1, 2, 0, 1
    assert core.pipeline_slots == ((0, 0), (1, 0), (1, 1), (3, 0))
    assert [core.slot(e, k) for e, k in core.pipeline_slots] == [0, 1, 2, 3]
    assert core.slot_links == [0, 1, 1, 3]
    with pytest.raises(ValueError, match="slot"):
        core.slot(2, 0)


@pytest.mark.parametrize("allocation", ["fcfs", "proportional"])
@pytest.mark.parametrize("name", ["serial", "two_retailers"])
def test_gradients_through_a_rollout(allocation, name):
    core = InventoryCore(NETWORKS[name], allocation=allocation)
    rng = np.random.default_rng(0)
    demand = torch.tensor(rng.poisson(8, (8, 1, core.n_markets)), dtype=torch.float64)

    def total_profit(orders: torch.Tensor) -> torch.Tensor:
        state = core.initial_state(1)
        total = torch.zeros((), dtype=torch.float64)
        for t in range(orders.shape[0]):
            state, reward, _ = core.step(state, orders[t : t + 1], demand[t])
            total = total + reward.sum()
        return total

    orders = torch.tensor(rng.uniform(1, 30, (8, core.n_links)), dtype=torch.float64, requires_grad=True)
    total_profit(orders).backward()
    assert torch.isfinite(orders.grad).all() and orders.grad.abs().sum() > 0
    assert torch.autograd.gradcheck(
        total_profit, (orders.detach().clone().requires_grad_(),), eps=1e-6, atol=1e-5
    )


def test_zero_orders_give_finite_gradients_under_both_rules():
    for allocation in ("fcfs", "proportional"):
        core = InventoryCore(two_retailers(), allocation=allocation)
        orders = torch.zeros(2, core.n_links, dtype=torch.float64, requires_grad=True)
        _, reward, _ = core.step(core.initial_state(2), orders, torch.full((2, 2), 5.0, dtype=torch.float64))
        reward.sum().backward()
        assert torch.isfinite(orders.grad).all()


def test_float32_and_invalid_constructor_arguments():
    core = InventoryCore(NetworkSpec.serial(), dtype=torch.float32)
    _state, reward, _ = core.step(core.initial_state(2), torch.zeros(2, 3), torch.full((2, 1), 20.0))
    assert reward.dtype == torch.float32
    with pytest.raises(ValueError, match="allocation"):
        InventoryCore(NetworkSpec.serial(), allocation="random")
    with pytest.raises(ValueError, match="event_order"):
        InventoryCore(NetworkSpec.serial(), event_order="demand_first")
    with pytest.raises(ValueError, match="batch"):
        core.initial_state(0)


@pytest.mark.parametrize("name", list(NETWORKS))
@pytest.mark.parametrize("backlog", [True, False])
@pytest.mark.parametrize("allocation", ["fcfs", "proportional"])
@pytest.mark.parametrize("event_order", ["order_first", "receive_first"])
def test_numpy_backend_steps_as_torch(name, backlog, allocation, event_order):
    """The one transition, run by both backends on the same orders and demand (some orders
    negative, some above the stock, zeros for the fixed costs), gives identical states, rewards,
    cost terms, node profits, observations and post-decision quantities, up to the rounding of
    the two libraries' matrix products (a few ulps)."""
    core = _core(name, backlog, allocation, event_order)
    fast = core.numpy()

    def same(a, b):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    assert fast.backend == "numpy" and fast.dtype == core.dtype
    rng = np.random.default_rng(0)
    batch = 3
    s_t, s_n = core.initial_state(batch), fast.initial_state(batch)
    for _ in range(12):
        orders = rng.uniform(-5, 40, (batch, core.n_links)) * (rng.random((batch, core.n_links)) > 0.2)
        demand = rng.poisson(10, (batch, core.n_markets)).astype(float)
        post_t = core.post_decision(s_t, torch.from_numpy(orders))
        post_n = fast.post_decision(s_n, orders)
        same(fast.post_decision_observation(s_n, post_n), core.post_decision_observation(s_t, post_t).numpy())
        s_t, r_t, i_t = core.realize_demand(post_t, torch.from_numpy(demand), node_profit=True)
        s_n, r_n, i_n = fast.realize_demand(post_n, demand, node_profit=True)
        assert isinstance(r_n, np.ndarray) and isinstance(s_n.on_hand, np.ndarray)
        same(r_n, r_t.numpy())
        for a, b in zip(i_n, i_t, strict=True):
            same(a, b.numpy())
        same(fast.observe(s_n), core.observe(s_t).numpy())
        same(fast.post_decision_reward(i_n.costs), core.post_decision_reward(i_t.costs).numpy())
        for a, b in zip(fast.state_to_torch(s_n), s_t, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_numpy_backend_keeps_float32_and_refuses_other_devices_and_backends():
    core = InventoryCore(NetworkSpec.serial(), dtype=torch.float32).numpy()
    state = core.initial_state(2)
    state, reward, _ = core.step(state, np.ones((2, core.n_links), np.float32), np.ones((2, 1), np.float32))
    assert reward.dtype == np.float32 and core.observe(state).dtype == np.float32
    with pytest.raises(ValueError, match="backend"):
        InventoryCore(NetworkSpec.serial(), backend="jax")
    with pytest.raises(ValueError, match="numpy backend runs on the CPU"):
        InventoryCore(NetworkSpec.serial(), backend="numpy", device="meta")
