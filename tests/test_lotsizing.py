"""LotSizing: the contract, the post-decision split, unit conservation, validation and the MILP bound."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite  # noqa: F401  (registers the ids)
from rlsuite.baselines import hindsight_bound, perfect_information_bound
from rlsuite.cli import main as cli_main
from rlsuite.envs import LOTSIZING_IDS
from rlsuite.envs.inventory import LotSizingEnv, LotSizingSpec, make_lotsizing_spec

IDS = sorted(LOTSIZING_IDS)


def _spec(**changes) -> LotSizingSpec:
    """1 item, 1 machine: 10 units a period, setup 5 costing 2 units, lost sale 1, holding 0.1."""
    base = {
        "production": [[10]],
        "setup_costs": [[5.0]],
        "setup_loss": [[2]],
        "lost_sales_costs": [1.0],
        "holding_costs": [0.1],
        "max_inventory": 100,
        "horizon": 3,
    }
    return LotSizingSpec(**{**base, **changes})


def _rollout(env: gym.Env, seed: int, steps: int, action_seed: int = 0, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    rng = np.random.default_rng(action_seed)
    out = [obs]
    for _ in range(steps):
        obs, r, te, tr, info = env.step(rng.integers(0, env.action_space.nvec))
        out += [obs, np.float64(r), info["demand"], info["post_decision_obs"]]
        if te or tr:
            break
    return out


def _replay(env: LotSizingEnv, actions: np.ndarray, seed: int | None = None, options=None) -> float:
    env.reset(seed=seed, options=options)
    cost = 0.0
    for a in actions:
        *_, r, _, _, _ = env.step(a)
        cost -= r
    return cost


def test_ids_are_registered_and_listed_by_the_cli(capsys):
    for env_id in IDS:
        assert env_id in gym.registry
    assert cli_main(["envs"]) == 0
    listed = capsys.readouterr().out
    assert all(env_id in listed for env_id in IDS)
    env = gym.make("LotSizing-v0", horizon=20, demand="deterministic")
    assert (env.unwrapped.n_items, env.unwrapped.n_machines, env.unwrapped.horizon) == (15, 5, 20)


@pytest.mark.parametrize("env_id", IDS)
def test_check_env(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", ["LotSizing-v0", "LotSizing-Small-v0"])
def test_same_seed_same_trajectory_other_seed_differs(env_id):
    env = gym.make(env_id, horizon=30)
    a, b = _rollout(env, 5, 30), _rollout(env, 5, 30)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    c = _rollout(env, 6, 30)
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_episode_truncates_at_horizon_and_must_be_reset():
    env = gym.make("LotSizing-Small-v0", horizon=4).unwrapped
    env.reset(seed=0)
    flags = [env.step([0, 0])[2:4] for _ in range(4)]
    assert flags == [(False, False)] * 3 + [(False, True)]
    with pytest.raises(RuntimeError, match="reset"):
        env.step([0, 0])
    with pytest.raises(RuntimeError, match="before reset"):
        LotSizingEnv().step([0, 0])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    instance=st.integers(0, 50),
    demand=st.sampled_from(["binomial", "poisson"]),
)
def test_post_decision_matches_the_step_and_units_are_conserved(seed, instance, demand):
    spec = make_lotsizing_spec(3, 2, seed=instance, horizon=15, max_inventory=40, demand=demand)
    env = LotSizingEnv(spec)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    cap = spec.max_inventory
    batch_obs, batch_act, batch_post, batch_r = [], [], [], []
    for _ in range(spec.horizon):
        action = rng.integers(0, env.action_space.nvec)
        post = env.post_decision(obs, action)
        post_r = env.post_decision_reward(obs, action)
        nxt, r, _, _, info = env.step(action)
        np.testing.assert_array_equal(post, info["post_decision_obs"])
        assert post.dtype == np.float32 and env.observation_space.contains(post)
        assert post_r == info["post_decision_reward"] == -info["setup_cost"]
        inv = obs[:3].astype(np.int64)
        gross = inv + info["production"]
        # production is net of setup losses; the cap discards what exceeds it; then demand is served
        np.testing.assert_array_equal(post[:3], np.minimum(gross, cap))
        np.testing.assert_array_equal(info["discarded"], gross - np.minimum(gross, cap))
        np.testing.assert_array_equal(nxt[:3], np.minimum(gross, cap) - info["sales"])
        np.testing.assert_array_equal(info["sales"] + info["lost_sales"], info["demand"])
        np.testing.assert_array_equal(info["sales"], np.minimum(post[:3], info["demand"]))
        np.testing.assert_array_equal(post[3:], action)
        assert r == pytest.approx(-(info["setup_cost"] + info["lost_sales_cost"] + info["holding_cost"]))
        stochastic = -(spec.lost_sales_costs @ info["lost_sales"] + spec.holding_costs @ nxt[:3])
        assert r == pytest.approx(info["post_decision_reward"] + stochastic)
        batch_obs.append(obs)
        batch_act.append(action)
        batch_post.append(post)
        batch_r.append(post_r)
        obs = nxt
    np.testing.assert_array_equal(env.post_decision(np.array(batch_obs), np.array(batch_act)), batch_post)
    np.testing.assert_array_equal(env.post_decision_reward(np.array(batch_obs), np.array(batch_act)), batch_r)


def test_setup_rules_idle_resets_and_losses_never_go_below_zero():
    spec = _spec(production=[[10, 1]], setup_costs=[[5.0, 7.0]], setup_loss=[[2, 3]],
                 lost_sales_costs=[1.0, 1.0], holding_costs=[0.1, 0.1], horizon=6)  # fmt: skip
    env = LotSizingEnv(spec)
    env.reset(options={"inventory": [0, 0], "setup": [0], "demand": np.zeros((6, 2))})
    made, setup = [], []
    for a in [1, 1, 0, 1, 2, 2]:
        *_, info = env.step([a])
        made.append(info["production"].tolist())
        setup.append(info["setup_cost"])
    # switch (pay, lose 2), keep, idle (setup -> 0), switch again, switch to item 2 (loss 3 > rate 1), keep
    assert setup == [5.0, 0.0, 0.0, 5.0, 7.0, 0.0]
    assert made == [[8, 0], [10, 0], [0, 0], [8, 0], [0, 0], [0, 1]]


def test_cap_discards_production_above_max_inventory():
    env = LotSizingEnv(_spec(max_inventory=9))
    obs, _ = env.reset(options={"inventory": [5], "setup": [1], "demand": [[3], [3], [3]]})
    obs, _, _, _, info = env.step([1])
    assert info["post_decision_obs"][0] == 9 and info["discarded"][0] == 6 and obs[0] == 6


def test_deterministic_demand_makes_the_transition_deterministic():
    env = gym.make("LotSizing-Small-v0", demand="deterministic", demand_mean=[8, 5, 3], horizon=25)
    start = {"inventory": [10, 20, 30], "setup": [2, 0]}
    a, b = _rollout(env, 1, 25, options=start), _rollout(env, 999, 25, options=start)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(env.unwrapped.demand_trace, np.tile([8, 5, 3], (25, 1)))


def test_reset_options_replace_the_state_but_keep_the_draws():
    env = gym.make("LotSizing-Small-v0", horizon=10).unwrapped
    env.reset(seed=4)
    drawn = env.demand_trace
    obs, _ = env.reset(seed=4, options={"inventory": [1, 2, 3], "setup": [0, 3]})
    assert obs.tolist() == [1, 2, 3, 0, 3]
    np.testing.assert_array_equal(env.demand_trace, drawn)
    trace = np.arange(36).reshape(12, 3)
    env.reset(seed=4, options={"demand": trace})
    np.testing.assert_array_equal(env.demand_trace, trace[:10])


def test_initial_state_follows_the_spec():
    env = gym.make("LotSizing-v0").unwrapped
    spec = env.instance
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        assert np.all((obs[:15] >= 0) & (obs[:15] <= 99))
        setups = obs[15:].astype(int)
        assert all(spec.production[m, s - 1] > 0 for m, s in enumerate(setups))
    env = gym.make("LotSizing-v0", initial_inventory=(5, 5), random_initial_setup=False).unwrapped
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [5.0] * 15 + [0.0] * 5


def test_generator_ranges_and_every_item_can_be_made():
    for seed in range(10):
        spec = make_lotsizing_spec(15, 5, seed=seed)
        assert np.all(spec.production.max(axis=0) > 0)
        assert spec.production.min() >= 0 and spec.production.max() <= 40
        assert set(np.unique(spec.setup_costs)) <= set(range(15, 31))
        assert set(np.unique(spec.setup_loss)) <= {1, 2, 3}
        assert set(np.round(spec.lost_sales_costs, 6)) <= {0.1, 0.2, 0.3}
        assert np.all(spec.holding_costs == 0.01)
    np.testing.assert_array_equal(
        make_lotsizing_spec(4, 2, 7).production, make_lotsizing_spec(4, 2, 7).production
    )
    assert 0.3 < np.mean(make_lotsizing_spec(30, 15, 0).production == 0) < 0.5


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"production": [[-1]]}, "production"),
        ({"production": [[1.5]]}, "production"),
        ({"production": [10]}, "production"),
        ({"production": [[10, 5]]}, "setup_costs"),
        ({"setup_costs": [[-5.0]]}, "setup_costs"),
        ({"setup_loss": [[1], [1]]}, "setup_loss"),
        ({"lost_sales_costs": [np.nan]}, "lost_sales_costs"),
        ({"holding_costs": [-0.1]}, "holding_costs"),
        ({"max_inventory": 0}, "max_inventory"),
        ({"horizon": 0}, "horizon"),
        ({"demand": "normal"}, "demand"),
        ({"demand_p": 1.5}, "demand_p"),
        ({"demand_n": -1}, "demand_n"),
        ({"demand_mean": [-1.0]}, "demand_mean"),
        ({"demand": "deterministic", "demand_mean": 2.5}, "demand_mean"),
        ({"initial_inventory": (5, 200)}, "initial_inventory"),
    ],
)
def test_bad_spec_raises_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        _spec(**changes)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="n_items"):
        make_lotsizing_spec(0, 2)
    with pytest.raises(ValueError, match="unknown field"):
        gym.make("LotSizing-Small-v0", horizn=5)
    env = gym.make("LotSizing-Small-v0").unwrapped
    env.reset(seed=0)
    for bad in ([0, 4], [-1, 0], [1], [0.5, 1], "ab"):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    with pytest.raises(ValueError, match="obs"):
        env.post_decision(np.zeros(4), [0, 0])
    with pytest.raises(ValueError, match="action"):
        env.post_decision(np.zeros((2, 5)), [0, 0])
    for options, key in [
        ({"inventory": [0, 0, 101]}, "inventory"),
        ({"inventory": [0, 0]}, "inventory"),
        ({"setup": [0, 4]}, "setup"),
        ({"demand": np.ones((5, 3))}, "demand"),
        ({"demand": -np.ones((100, 3))}, "demand"),
        ({"stock": 1}, "unknown"),
    ]:
        with pytest.raises(ValueError, match=key):
            env.reset(seed=0, options=options)


# -- the perfect-information MILP -----------------------------------------------------------------


def test_milp_matches_a_hand_computed_optimum():
    # Cap 9: produce every period (one setup, 8 then 10 units); the cap keeps 1 unit at t = 1, 2.
    # Cost = 5 + 0.1 + 0.1 = 5.2 (free disposal would give 5.0; idling at t = 2 costs 11.0).
    spec = _spec(max_inventory=9)
    res = perfect_information_bound(spec, [[8], [8], [8]], [0], [0])
    assert res.optimal and res.cost == pytest.approx(5.2, abs=1e-9) and res.lower_bound <= res.cost + 1e-9
    assert res.actions.tolist() == [[1], [1], [1]]
    start = {"inventory": [0], "setup": [0], "demand": [[8], [8], [8]]}
    assert _replay(LotSizingEnv(spec), res.actions, options=start) == pytest.approx(5.2)
    # Starting already set up: no setup, no loss, so 10 units every period and 1 unit held each time.
    assert perfect_information_bound(spec, [[8], [8], [8]], [0], [1]).cost == pytest.approx(0.3, abs=1e-9)


def _heuristic(env: LotSizingEnv, obs: np.ndarray, target: int = 60) -> np.ndarray:
    """Keep making the current item until it reaches ``target``, then switch to the lowest-stocked
    item the machine can make."""
    inv, setup = obs[: env.n_items], obs[env.n_items :].astype(int)
    action = np.zeros(env.n_machines, dtype=np.int64)
    for m in range(env.n_machines):
        if setup[m] > 0 and inv[setup[m] - 1] < target:
            action[m] = setup[m]
        else:
            makeable = np.flatnonzero(env.instance.production[m] > 0)
            action[m] = makeable[np.argmin(inv[makeable])] + 1
    return action


@pytest.mark.parametrize("seed", [0, 1])
def test_milp_plan_replays_to_its_cost_and_beats_other_plans(seed):
    env = gym.make("LotSizing-Small-v0", horizon=12).unwrapped
    obs, _ = env.reset(seed=seed)
    res = perfect_information_bound(env.instance, env.demand_trace, obs[:3], obs[3:].astype(int))
    assert res.optimal and res.actions.shape == (12, 2) and res.solve_time < 20
    assert _replay(env, res.actions, seed=seed) == pytest.approx(res.cost, abs=1e-9)
    assert res.objective == pytest.approx(res.cost, abs=1e-6)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        plan = rng.integers(0, 4, size=(12, 2))
        assert _replay(env, plan, seed=seed) >= res.cost - 1e-6
    obs, _ = env.reset(seed=seed)
    cost, done = 0.0, False
    while not done:
        obs, r, _, done, _ = env.step(_heuristic(env, obs))
        cost -= r
    assert cost >= res.cost - 1e-6
    for plan in (np.zeros((12, 2), int), np.tile(obs[3:].astype(int), (12, 1))):
        assert _replay(env, plan, seed=seed) >= res.cost - 1e-6


@settings(max_examples=15, deadline=None)
@given(
    instance=st.integers(0, 10_000),
    seed=st.integers(0, 10_000),
    cap=st.integers(5, 40),
    zero_costs=st.booleans(),
)
def test_milp_replay_is_exact_on_random_tiny_instances(instance, seed, cap, zero_costs):
    changes = {"horizon": 6, "max_inventory": cap}
    if zero_costs:  # ties must not break the replay
        changes |= {"setup_costs": np.zeros((2, 2)), "holding_costs": np.zeros(2)}
    env = LotSizingEnv(make_lotsizing_spec(2, 2, seed=instance, **changes))
    obs, _ = env.reset(seed=seed)
    res = perfect_information_bound(env.instance, env.demand_trace, obs[:2], obs[2:].astype(int))
    assert res.optimal
    assert _replay(env, res.actions, seed=seed) == pytest.approx(res.cost, abs=1e-9)
    assert res.objective == pytest.approx(res.cost, rel=1e-6, abs=1e-5)  # HiGHS tolerances


def test_hindsight_bound_uses_the_env_episodes_of_each_seed():
    hb = hindsight_bound("LotSizing-Small-v0", n_traces=3, horizon=8, seed=10)
    assert hb.seeds == [10, 11, 12] and hb.all_optimal and hb.costs.shape == (3,)
    assert hb.mean == pytest.approx(hb.costs.mean()) and hb.ci95 > 0
    assert hb.lower_mean <= hb.mean + 1e-6
    env = gym.make("LotSizing-Small-v0", horizon=8).unwrapped
    for s, res in zip(hb.seeds, hb.results, strict=True):
        assert _replay(env, res.actions, seed=s) == pytest.approx(res.cost, abs=1e-6)
    spec = make_lotsizing_spec(3, 2, seed=0)
    assert hindsight_bound(spec, n_traces=1, horizon=8, seed=10).costs[0] == pytest.approx(hb.costs[0])
    with pytest.raises(ValueError, match="n_traces"):
        hindsight_bound(spec, n_traces=0)
    with pytest.raises(ValueError, match="LotSizing"):
        hindsight_bound("InvMgmt-v0", n_traces=1)


def test_milp_rejects_inconsistent_inputs():
    spec = _spec()
    with pytest.raises(ValueError, match="demand_trace"):
        perfect_information_bound(spec, [[1, 2]], [0], [0])
    with pytest.raises(ValueError, match="initial_inventory"):
        perfect_information_bound(spec, [[1]], [200], [0])
    with pytest.raises(ValueError, match="initial_setup"):
        perfect_information_bound(spec, [[1]], [0], [2])
