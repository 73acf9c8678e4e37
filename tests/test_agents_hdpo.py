"""HDPO: pathwise gradients through the inventory core, its policies, and its SB3-style surface."""

import ast
import dataclasses
import inspect
import itertools
import json
import textwrap
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlsuite
from rlsuite.agents import HDPO, GNNPolicy, InventoryMlpPolicy, linear_schedule
from rlsuite.agents.hdpo import HDPOConfig
from rlsuite.agents.inventory_policies import BaseStockParamPolicy
from rlsuite.baselines import BaseStockPolicy
from rlsuite.envs.inventory import InventoryCore, InvMgmtEnv, NetworkSpec
from rlsuite.envs.inventory.rollout import initial_states, long_run_cost, sample_traces, simulate

SETTINGS = [
    ("single_store", {}, "fcfs"),
    ("single_store", {"backlog": True}, "fcfs"),
    ("one_warehouse", {"n_stores": 3}, "fcfs"),
    ("one_warehouse", {"n_stores": 3}, "proportional"),
    ("serial_echelon", {}, "fcfs"),
    ("divergent", {}, "fcfs"),
]


def _core(name, kwargs, allocation="fcfs", dtype=torch.float64):
    kw = dict(kwargs)
    backlog = kw.pop("backlog", None)
    return InventoryCore(NetworkSpec.builtin(name, **kw), backlog=backlog, allocation=allocation, dtype=dtype)


def _tiny(policy, env, **kwargs):
    """An HDPO model with the smallest data sets (fast tests of the machinery, not of learning)."""
    small = dict(
        batch_size=64, n_train=128, n_dev=64, train_periods=10, train_warmup=2, dev_periods=12, dev_warmup=2
    )
    return HDPO(policy, env, **{**small, **kwargs})


@pytest.mark.parametrize("name,kwargs,allocation", SETTINGS)
@pytest.mark.parametrize("policy_cls", [InventoryMlpPolicy, GNNPolicy])
def test_gradients_flow_through_every_core_operation(name, kwargs, allocation, policy_cls):
    """Finite, nonzero gradients for every parameter after a short rollout of each network
    (fcfs and proportional allocation, lost sales and backlog, factories, multi-echelon)."""
    torch.manual_seed(0)
    core = _core(name, kwargs, allocation)
    policy = policy_cls(core).double()
    demand = torch.as_tensor(sample_traces(core, 64, 12, seed=1))
    state = initial_states(core, 64, np.random.default_rng(0), randomize=True)
    rewards, _ = simulate(core, policy, demand, state)
    (-rewards.mean()).backward()
    for pname, p in policy.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    grads = torch.cat([p.grad.flatten() for p in policy.parameters()])
    assert (grads != 0).float().mean() > 0.5  # ELU/softplus: almost every weight gets a gradient
    # Gradient of the cost w.r.t. the orders themselves, through every period.
    orders = torch.full((8, 6, core.n_links), 3.0, dtype=torch.float64, requires_grad=True)
    st = core.initial_state(8)
    total = 0
    for t in range(6):
        st, r, _ = core.step(st, orders[:, t], demand[:8, t])
        total = total + r.sum()
    total.backward()
    assert torch.isfinite(orders.grad).all() and orders.grad.abs().sum() > 0


@pytest.mark.parametrize("feasibility", ["proportional", "softmax"])
def test_feasibility_layers_never_ask_a_supplier_for_more_than_it_has(feasibility):
    core = _core("one_warehouse", {"n_stores": 5})
    torch.manual_seed(1)
    policy = InventoryMlpPolicy(core, feasibility=feasibility).double()
    with torch.no_grad():
        policy.net[-1].bias.fill_(3.0)  # large requests
    state = initial_states(core, 256, np.random.default_rng(2), randomize=True)
    obs = core.observe(state)
    orders = policy(obs)
    avail = core.available(state)
    stores = [e for e, link in enumerate(core.spec.links) if link.src == "warehouse"]
    shipped = orders[:, stores].sum(1)
    assert (orders >= 0).all()
    assert (shipped <= avail[:, stores[0]] * (1 + 1e-9) + 1e-9).all()
    if feasibility == "proportional":  # binding: all of the warehouse's stock is requested
        assert torch.allclose(shipped, avail[:, stores[0]])
    orders.sum().backward()
    grads = [p.grad for p in policy.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_mlp_features_select_observation_entries():
    core = _core("divergent", {})
    with_period = InventoryMlpPolicy(core, features=["on_hand", "period"])
    assert with_period.cols.tolist() == [
        *core.observation_index()["on_hand"],
        core.observation_index()["period"],
    ]
    with pytest.raises(ValueError, match="features"):
        InventoryMlpPolicy(core, features=["weather"])


def test_state_from_observation_inverts_observe():
    core = _core("divergent", {})
    state = initial_states(core, 5, np.random.default_rng(0), randomize=True)
    back = core.state_from_observation(core.observe(state))
    for a, b in zip(state, back, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="obs"):
        core.state_from_observation(torch.zeros(2, 3))


def test_sample_traces_is_seeded_and_matches_the_demand_law():
    a = sample_traces(_core("single_store", {}), 2000, 50, seed=3)
    assert np.array_equal(a, sample_traces(_core("single_store", {}), 2000, 50, seed=3))
    assert abs(a.mean() - 5.0) < 0.05 and abs(a.var() - 5.0) < 0.15  # Poisson(5)
    corr = sample_traces(_core("one_warehouse", {"n_stores": 3}), 4000, 20, seed=0)
    c = np.corrcoef(corr.reshape(-1, 3).T)
    assert 0.4 < c[0, 1] < 0.55  # correlation 0.5 (slightly less after clipping at 0)


def test_base_stock_trained_by_hdpo_recovers_the_optimal_level():
    """Backlog, Normal(5, 1.6), L = 4, p = 9: the optimal base-stock level is
    S* = 5 (L + 1) + z 1.6 sqrt(L + 1) = 29.585 (z = Phi^-1(0.9)); HDPO's pathwise gradient on
    the level, started far from it (20), recovers it within 0.5%."""
    torch.manual_seed(0)
    model = HDPO(
        "BaseStockPolicy",
        "InvMgmt-SingleStore-Backlog-v0",
        policy_kwargs={"init": [20.0]},
        learning_rate=linear_schedule(0.08, 0.002),
        batch_size=512,
        n_train=4096,
        n_dev=512,
        train_periods=40,
        train_warmup=10,
        eval_every=5,
        seed=0,
    )
    model.learn(epochs=30)
    level = float(model.policy.levels.detach()[0])
    assert abs(level - 29.585) < 0.005 * 29.585, level


@pytest.mark.parametrize("echelon", [False, True])
def test_base_stock_param_policy_is_the_base_stock_rule_with_its_sub_gradient(echelon):
    """On gym-invmgmt's network (multi-sourcing: orders split over inbound links): the trainable
    policy orders what the OR baseline orders at the same levels, and the gradient of the total
    order in a level is, per row, 1 where the node's position is below its level (each node's
    split sums to 1), else 0, times the level's scale."""
    core = gym.make("InvMgmt-v0").unwrapped.core
    policy = BaseStockParamPolicy(core, echelon=echelon).to(core.dtype)
    baseline = BaseStockPolicy(core, np.zeros(core.n_stock), echelon=echelon)
    obs = core.observe(initial_states(core, 256, np.random.default_rng(0), randomize=True))
    position = baseline.position(obs.numpy())
    with torch.no_grad():  # levels at the median position: about half the rows order
        policy.theta.copy_(torch.as_tensor(np.median(position, 0)) / policy.level_scale)
    levels = policy.levels.detach().numpy()
    orders = policy(obs)
    np.testing.assert_allclose(
        orders.detach().numpy(), BaseStockPolicy(core, levels, echelon=echelon).act(obs.numpy())
    )
    orders.sum().backward()
    below = (position < levels).sum(0)
    assert 0 < below.min() and below.max() < len(position)
    np.testing.assert_allclose(policy.theta.grad.numpy(), below * policy.level_scale.numpy())


def test_hdpo_mlp_learns_the_lost_sales_store():
    """Single store, lost sales, Poisson(5), L = 1, p = 4 (optimal cost 4.0407): a short run of
    HDPO comes within 2% of the optimum (the benchmark trains longer: within 0.5%)."""
    model = HDPO(
        "MlpPolicy",
        "InvMgmt-SingleStore-v0",
        env_kwargs={"lead_time": 1, "shortage_cost": 4.0},
        learning_rate=1e-2,
        batch_size=512,
        n_train=2048,
        n_dev=1024,
        train_periods=40,
        train_warmup=20,
        eval_every=2,
        seed=0,
    )
    model.learn(epochs=12)
    res = model.evaluate(n_traces=1024, periods=600, warmup=100)
    assert res["avg_cost"] < 4.0407 * 1.02, res["avg_cost"]
    assert res["avg_cost"] > 4.0407 - 3 * res["ci95"]  # nothing beats the optimum
    assert model.best_dev_cost < np.inf and model.dev_history


def test_save_load_gives_identical_actions(tmp_path):
    for policy, env in (("MlpPolicy", "InvMgmt-OneWarehouse-v0"), ("GNNPolicy", "InvMgmt-OneWarehouse-v0")):
        model = _tiny(policy, env, eval_every=1, seed=3)
        model.learn(epochs=2)
        obs = model.core.observe(initial_states(model.core, 16, np.random.default_rng(0), True)).numpy()
        before, _ = model.predict(obs)
        model.save(tmp_path / policy)
        loaded = HDPO.load(tmp_path / f"{policy}.zip")
        after, _ = loaded.predict(obs)
        np.testing.assert_array_equal(before, after)
        assert loaded.best_dev_cost == model.best_dev_cost
        HDPO.load(tmp_path / f"{policy}.zip", env=gym.make(env))  # the same network as an env
        if policy == "MlpPolicy":  # an MLP's weights fit only its own network
            with pytest.raises(ValueError, match="env"):
                HDPO.load(tmp_path / f"{policy}.zip", env="InvMgmt-SingleStore-v0")
        else:  # a GNN runs unchanged on a larger network of the family
            big = HDPO.load(
                tmp_path / f"{policy}.zip", env="InvMgmt-OneWarehouse-v0", env_kwargs={"n_stores": 10}
            )
            assert big.parameter_count() == model.parameter_count()
            obs10 = big.core.observe(initial_states(big.core, 4, np.random.default_rng(0), True)).numpy()
            assert big.predict(obs10)[0].shape == (4, 11)


def test_same_seed_same_parameters():
    def run():
        m = _tiny("MlpPolicy", "InvMgmt-SingleStore-v0", seed=5)
        return m.learn(epochs=2).policy.state_dict()

    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_gnn_weights_do_not_depend_on_the_number_of_stores():
    cores = {n: _core("one_warehouse", {"n_stores": n}, dtype=torch.float32) for n in (3, 5, 10)}
    counts = {n: sum(p.numel() for p in GNNPolicy(c).parameters()) for n, c in cores.items()}
    assert len(set(counts.values())) == 1
    torch.manual_seed(0)
    on_10 = GNNPolicy(cores[10])
    on_10.load_state_dict(GNNPolicy(cores[5]).state_dict())  # weights trained on 5 stores fit 10
    obs = cores[10].observe(initial_states(cores[10], 32, np.random.default_rng(0), True))
    orders = on_10(obs)
    assert orders.shape == (32, 11) and torch.isfinite(orders).all() and (orders >= 0).all()


def test_predict_on_envs_and_evaluate_integration():
    model = _tiny("MlpPolicy", "InvMgmt-SingleStore-v0", seed=0)
    env = gym.make("InvMgmt-SingleStore-v0")
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs)
    assert action.shape == (1,) and env.action_space.contains(action.astype(env.action_space.dtype))
    dict_env = InvMgmtEnv("single_store", observation="dict")
    obs, _ = dict_env.reset(seed=0)
    np.testing.assert_array_equal(model.predict(obs)[0], action)
    res = rlsuite.evaluate(model, "InvMgmt-SingleStore-v0", seeds=range(4))
    assert np.isfinite(res.summary()[0]["profit"])
    # long_run_cost on the core agrees with the model's evaluate on the same traces.
    demand = torch.as_tensor(sample_traces(model.core, 64, 60, 9), dtype=torch.float32)
    direct = long_run_cost(model.core, model, demand, warmup=10)
    assert np.isfinite(direct["avg_cost"]) and direct["per_trace"].shape == (64,)


def test_clear_errors():
    with pytest.raises(ValueError, match="differentiable"):
        HDPO("MlpPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match="policy"):
        HDPO("Nope", "InvMgmt-SingleStore-v0")
    with pytest.raises(ValueError, match="batch_size"):
        HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", batch_size=100, n_train=50)
    with pytest.raises(ValueError, match="train_warmup"):
        HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", train_periods=10, train_warmup=10)
    with pytest.raises(ValueError, match="feasibility"):
        HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", policy_kwargs={"feasibility": "magic"})
    with pytest.raises(ValueError, match="policy_kwargs"):
        HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", policy_kwargs={"depth": 3})
    model = HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", n_train=64, batch_size=64)
    with pytest.raises(ValueError, match="exactly one"):
        model.learn()
    with pytest.raises(ValueError, match="observation"):
        model.predict(np.zeros(3))


def test_round_orders_at_test_time_gives_integer_orders():
    core = _core("single_store", {}, dtype=torch.float32)

    def policy(obs):
        return torch.full((obs.shape[0], 1), 4.6)

    demand = torch.as_tensor(sample_traces(core, 8, 12, seed=0), dtype=torch.float32)
    _, final = simulate(core, policy, demand, round_orders=True)
    # Every unit in the pipeline came from a rounded order of 5.
    assert torch.equal(final.pipeline, torch.full_like(final.pipeline, 5.0))
    res = long_run_cost(core, policy, demand, warmup=4, round_orders=True)
    unrounded = long_run_cost(core, policy, demand, warmup=4)
    assert res["avg_cost"] != unrounded["avg_cost"]


def test_best_dev_checkpoint_is_the_one_loaded():
    model = _tiny("MlpPolicy", "InvMgmt-SingleStore-v0", eval_every=3, learning_rate=3e-2, seed=1)
    model.learn(epochs=4)
    epochs = [e for e, _ in model.dev_history]
    assert epochs == [3, 4]  # every eval_every epochs, and the final parameters
    assert model.best_dev_cost == min(c for _, c in model.dev_history)
    assert model.dev_cost() == pytest.approx(model.best_dev_cost)


def test_patience_stops_training_after_epochs_without_a_better_dev_cost():
    """A learning rate too small to move the dev cost: the first dev evaluation is the best, and
    with patience 2 training stops two epochs later."""
    model = _tiny(
        "MlpPolicy", "InvMgmt-SingleStore-v0", eval_every=1, patience=2, learning_rate=1e-15, seed=0
    )
    model.learn(epochs=20)
    assert model.epochs_done == 3 and [e for e, _ in model.dev_history] == [1, 2, 3]


# ---------------------------------------------------------------- typed config
def test_constructor_parameters_are_the_config_fields_with_the_same_defaults():
    """A parameter added to the constructor but not to HDPOConfig (or the other way round), or a
    default that differs between the two, fails here. policy, env and env_kwargs describe the
    network (saved in the file's env description), not hyperparameters."""
    params = {
        n: p.default
        for n, p in inspect.signature(HDPO.__init__).parameters.items()
        if n not in ("self", "policy", "env", "env_kwargs", "_description")
    }
    assert params == {f.name: f.default for f in dataclasses.fields(HDPOConfig)}


def test_every_config_field_has_a_one_line_docstring():
    body = ast.parse(textwrap.dedent(inspect.getsource(HDPOConfig))).body[0].body
    docs = {
        stmt.target.id: nxt.value.value
        for stmt, nxt in itertools.pairwise(body)
        if isinstance(stmt, ast.AnnAssign)
        and isinstance(nxt, ast.Expr)
        and isinstance(nxt.value, ast.Constant)
    }
    for f in dataclasses.fields(HDPOConfig):
        assert docs.get(f.name, "").strip() and "\n" not in docs[f.name], f.name


def test_config_is_checked_frozen_and_shown_through_sb3_attributes():
    model = _tiny("MlpPolicy", "InvMgmt-SingleStore-v0", batch_size=np.int64(32), seed=0)
    assert model.config.batch_size == 32 and type(model.config.batch_size) is int
    assert model.batch_size == 32 and model.seed == 0 and model.policy_kwargs == {}
    with pytest.raises(AttributeError, match="batch_size: hyperparameters are fixed"):
        model.batch_size = 16
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.config.n_train = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="batch_size: got 100, larger than n_train = 50"):
        HDPOConfig(batch_size=100, n_train=50)
    with pytest.raises(ValueError, match="dev_warmup"):
        HDPOConfig(dev_periods=10, dev_warmup=10)


NON_DEFAULTS = {
    "learning_rate": linear_schedule(1e-2, 1e-3),
    "batch_size": 8,
    "n_train": 16,
    "n_dev": 8,
    "train_periods": 6,
    "train_warmup": 1,
    "dev_periods": 8,
    "dev_warmup": 2,
    "eval_every": 1,
    "patience": 3,
    "max_grad_norm": 1.0,
    "random_initial_state": False,
    "dtype": "float64",
    "policy_kwargs": {"net_arch": [4], "activation_fn": torch.nn.ReLU},
    "verbose": 1,
    "seed": 5,
    "device": "cpu",
    "check_finite": False,
}


def test_every_config_field_round_trips_with_a_non_default_value(tmp_path):
    values = {**NON_DEFAULTS, "tensorboard_log": str(tmp_path / "tb")}
    fields = dataclasses.fields(HDPOConfig)
    assert set(values) == {f.name for f in fields}  # a new field must be added here
    for f in fields:
        assert values[f.name] != f.default, f.name
    model = HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", **values)
    model.save(tmp_path / "m.zip")
    loaded = HDPO.load(tmp_path / "m.zip", device="cpu")  # the device is load's choice
    assert loaded.config == model.config
    assert HDPO.load(tmp_path / "m.zip").config.device == "auto"


# A model file saved by HDPO before its typed config (no tensorboard_log, no device in its
# config), with the orders its policy gave for two observations (float64).
FILE_BEFORE_DATACLASS = Path(__file__).parent / "data" / "hdpo_before_config_dataclass.zip"
OBSERVATIONS = [[3.0, 2.0, 0, 0, 0, 0], [0.0, 7.5, 1, 0, 2, 0]]
ORDERS_BEFORE_DATACLASS = [[3.728533012178252], [3.719940730712226]]


def test_a_file_written_before_typed_configs_loads(tmp_path):
    model = HDPO.load(FILE_BEFORE_DATACLASS)
    expected = {**NON_DEFAULTS, "learning_rate": linear_schedule(0.01, 0.001), "n_train": 16, "seed": 7}
    expected.update(verbose=0, patience=4, eval_every=1, device="auto", tensorboard_log=None)
    assert model.config == HDPOConfig(**expected)
    assert model.description["env_kwargs"] == {"lead_time": 1}
    assert (model.num_timesteps, model._n_updates, model.epochs_done) == (192, 4, 2)
    assert model.best_dev_cost == 12.716551167157926
    np.testing.assert_array_equal(model.predict(np.array(OBSERVATIONS))[0], ORDERS_BEFORE_DATACLASS)
    model.learn(epochs=1, reset_num_timesteps=False)  # and it trains on
    assert model.epochs_done == 3
    with zipfile.ZipFile(FILE_BEFORE_DATACLASS) as src, zipfile.ZipFile(tmp_path / "bad.zip", "w") as dst:
        for name in src.namelist():
            blob = src.read(name)
            if name == "data.json":
                data = json.loads(blob)
                data["config"]["clip_range"] = 0.2
                blob = json.dumps(data).encode()
            dst.writestr(name, blob)
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['clip_range'\]"):
        HDPO.load(tmp_path / "bad.zip")
