"""Multi-objective environments (issue 18, item 1): Deep Sea Treasure, MOInvMgmt and the MuJoCo tasks
through MO-Gymnasium, each with MO-Gymnasium's API (``reward_space``, float32 vector rewards)."""

from __future__ import annotations

import sys
import warnings
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import rlsuite  # noqa: F401  (registers the ids)
from rlsuite.envs import MO_IDS
from rlsuite.envs.inventory import DemandSpec, InvMgmtEnv, Link, MarketLink, NetworkSpec, Node
from rlsuite.envs.mo import (
    MO_MUJOCO_IDS,
    DeepSeaTreasureEnv,
    MOInvMgmtEnv,
    MOInvMgmtVectorEnv,
    make_mo,
)

torch.set_num_threads(1)
# MO-Gymnasium's own Deep Sea Treasure builds a float64-bounded Box (the peer's warning, not ours).
PEER_BOX_WARNING = "ignore:.*Box high's precision lowered by casting to float32:UserWarning"

VECTOR_REWARD_WARNING = "The reward returned by `step()` must be a float"
ORDER_BOX_WARNING = "we recommend using a symmetric and normalized space"  # InvMgmt's orders, as the base env


def check_mo_env(env: gym.Env, allowed: tuple[str, ...] = ()) -> None:
    """Gymnasium's ``check_env``, whose only complaint about an MO env may be the vector reward
    (it expects a scalar) and the ``allowed`` warnings, then MO-Gymnasium's contract: float32
    rewards of the reward_space's shape, inside it, on a few random steps."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    messages = [str(w.message) for w in caught]
    assert any(VECTOR_REWARD_WARNING in m for m in messages)
    assert [m for m in messages if not any(s in m for s in (VECTOR_REWARD_WARNING, *allowed))] == []
    space = env.reward_space
    assert (
        isinstance(space, gym.spaces.Box) and space.shape == (env.reward_dim,) and space.dtype == np.float32
    )
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(20):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert reward.dtype == np.float32 and reward.shape == space.shape and space.contains(reward)
        if terminated or truncated:
            env.reset()


def test_ids_are_registered_and_make_returns_the_env_with_its_reward_space():
    for env_id, cls in (
        ("DeepSeaTreasure-v0", DeepSeaTreasureEnv),
        ("DeepSeaTreasure-Concave-v0", DeepSeaTreasureEnv),
        ("MOInvMgmt-v0", MOInvMgmtEnv),
    ):
        assert env_id in MO_IDS and env_id in gym.registry
        env = gym.make(env_id)
        assert type(env) is cls and env.reward_space.shape == (env.reward_dim,)
    assert type(gym.make("rlsuite:MOInvMgmt-v0")) is MOInvMgmtEnv
    venv = gym.make_vec("MOInvMgmt-v0", num_envs=2)
    assert type(venv) is MOInvMgmtVectorEnv and venv.single_reward_space.shape == (3,)
    assert venv.reward_space.shape == (2, 3)


# ---------------------------------------------------------------- Deep Sea Treasure
@pytest.mark.parametrize("variant", ["convex", "concave"])
def test_deep_sea_treasure_passes_the_checkers(variant):
    check_mo_env(DeepSeaTreasureEnv(variant=variant))


# Vamplew et al. (2011), Fig. 1, as MO-Gymnasium draws it: "." sea, "#" sea floor, letters treasures.
SEA = (
    "...........",
    "a..........",
    "#b.........",
    "##c........",
    "###def.....",
    "######.....",
    "######.....",
    "######gh...",
    "########...",
    "########i..",
    "#########j.",
)
# The treasures and the known fronts, (treasure, -steps): Yang et al. (2019) and Vamplew et al. (2011).
VALUES = {
    "convex": [0.7, 8.2, 11.5, 14.0, 15.1, 16.1, 19.6, 20.3, 22.4, 23.7],
    "concave": [1.0, 2.0, 3.0, 5.0, 8.0, 16.0, 24.0, 50.0, 74.0, 124.0],
}
KNOWN_STEPS = [1, 3, 5, 7, 8, 9, 13, 14, 17, 19]
PEER_IDS = {"convex": "deep-sea-treasure-v0", "concave": "deep-sea-treasure-concave-v0"}
OUR_IDS = {"convex": "DeepSeaTreasure-v0", "concave": "DeepSeaTreasure-Concave-v0"}
MOVES = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}  # up, down, left, right


def shortest_paths_to_treasures() -> dict[str, list[int]]:
    """BFS from the start over the map above: the shortest action sequence to each treasure
    (treasures end the episode, so a path never passes through one)."""
    paths: dict[str, list[int]] = {}
    seen = {(0, 0)}
    queue: deque = deque([((0, 0), [])])
    while queue:
        (r, c), path = queue.popleft()
        for a, (dr, dc) in MOVES.items():
            nr, nc = r + dr, c + dc
            if not (0 <= nr < len(SEA) and 0 <= nc < len(SEA[0])) or SEA[nr][nc] == "#" or (nr, nc) in seen:
                continue
            seen.add((nr, nc))
            if SEA[nr][nc] != ".":
                paths[SEA[nr][nc]] = [*path, a]
            else:
                queue.append(((nr, nc), [*path, a]))
    return paths


@pytest.mark.parametrize("variant", ["convex", "concave"])
def test_pareto_front_by_exhaustive_search_has_the_ten_known_points(variant):
    paths = shortest_paths_to_treasures()
    value = dict(zip("abcdefghij", VALUES[variant], strict=True))
    front = sorted((value[t], -len(p)) for t, p in paths.items())
    known = [(v, -n) for v, n in zip(VALUES[variant], KNOWN_STEPS, strict=True)]
    assert front == known
    # No point dominates another: the shortest path to every treasure is Pareto-optimal.
    for i, a in enumerate(front):
        for b in front[i + 1 :]:
            assert a[0] < b[0] and a[1] > b[1]
    env = gym.make(OUR_IDS[variant])
    np.testing.assert_array_equal(env.pareto_front(1.0), np.array(known))
    # The env pays exactly that return along each path, and no more treasure than its own.
    for treasure, path in paths.items():
        env.reset(seed=0)
        total = np.zeros(2)
        for t, a in enumerate(path):
            _, reward, terminated, truncated, _ = env.step(a)
            total += reward
            assert terminated == (t == len(path) - 1) and not truncated
        np.testing.assert_allclose(total, [value[treasure], -len(path)], rtol=1e-6)


def _scripted_sequences() -> list[list[int]]:
    paths = list(shortest_paths_to_treasures().values())
    bumps = [[0, 2, 0, 2, 3, 0, 1], [3] * 12 + [1] * 12, [3] * 10 + [1] * 9 + [2], [1, 3, 2, 2, 0] * 30]
    return paths + bumps


def _random_sequence(seed: int, n: int = 250) -> list[int]:
    # Biased towards down/right so that deep treasures are reached too.
    return np.random.default_rng(seed).choice(4, size=n, p=[0.15, 0.35, 0.15, 0.35]).tolist()


@pytest.mark.filterwarnings(PEER_BOX_WARNING)
@pytest.mark.parametrize("variant", ["convex", "concave"])
@pytest.mark.parametrize("kind", ["scripted", "random"])
def test_deep_sea_treasure_matches_mo_gymnasium(kind, variant):
    mo_gym = pytest.importorskip("mo_gymnasium")
    ours, peer = gym.make(OUR_IDS[variant]), mo_gym.make(PEER_IDS[variant])
    sequences = _scripted_sequences() if kind == "scripted" else [_random_sequence(s) for s in range(40)]
    endings = {"terminated": 0, "truncated": 0}
    for seed, actions in enumerate(sequences):
        o1, _ = ours.reset(seed=seed)
        o2, _ = peer.reset(seed=seed)
        np.testing.assert_array_equal(o1, o2)
        for a in actions:
            o1, r1, te1, tr1, _ = ours.step(a)
            o2, r2, te2, tr2, _ = peer.step(a)
            np.testing.assert_array_equal(o1, o2)
            assert o1.dtype == o2.dtype and r1.dtype == r2.dtype == np.float32
            np.testing.assert_array_equal(r1, r2)
            assert (te1, tr1) == (te2, tr2)
            if te1 or tr1:
                endings["terminated" if te1 else "truncated"] += 1
                ours.reset()
                peer.reset()
    assert endings["terminated"] > 5
    if kind == "random":
        assert endings["truncated"] > 0


@pytest.mark.filterwarnings(PEER_BOX_WARNING)
@pytest.mark.parametrize("variant", ["convex", "concave"])
def test_discounted_front_matches_mo_gymnasium(variant):
    mo_gym = pytest.importorskip("mo_gymnasium")
    peer = mo_gym.make(PEER_IDS[variant]).unwrapped
    env = DeepSeaTreasureEnv(variant=variant)
    for gamma in (0.5, 0.9, 0.99, 1.0):
        np.testing.assert_allclose(env.pareto_front(gamma), np.array(peer.pareto_front(gamma)), rtol=1e-12)


def test_deep_sea_treasure_boundary():
    env = DeepSeaTreasureEnv(max_steps=5)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    for bad, exc in (
        (1.0, TypeError),
        (True, TypeError),
        ("1", TypeError),
        (4, ValueError),
        (-1, ValueError),
    ):
        with pytest.raises(exc, match="action"):
            env.step(bad)
    for t in range(5):  # up, into the surface: stays at the start; truncated after 5 steps
        obs, reward, terminated, truncated, _ = env.step(np.int64(0))
        assert obs.tolist() == [0, 0] and reward.tolist() == [0.0, -1.0]
        assert not terminated and truncated == (t == 4)
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(1)
    with pytest.raises(ValueError, match="max_steps"):
        DeepSeaTreasureEnv(max_steps=0)
    with pytest.raises(TypeError, match="max_steps"):
        DeepSeaTreasureEnv(max_steps=2.5)
    with pytest.raises(ValueError, match="variant"):
        DeepSeaTreasureEnv(variant="mirrored")
    with pytest.raises(ValueError, match="options"):
        env.reset(options={"start": (1, 1)})
    with pytest.raises(ValueError, match="render_mode"):
        DeepSeaTreasureEnv(render_mode="human")
    with pytest.raises(ValueError, match="gamma"):
        env.pareto_front(0.0)
    env = DeepSeaTreasureEnv(render_mode="ansi")
    env.reset()
    env.step(1)
    assert env.render().splitlines()[:3] == ["...........", "S..........", "#T........."]


# ---------------------------------------------------------------- MOInvMgmt
def test_mo_invmgmt_passes_the_checkers():
    check_mo_env(gym.make("MOInvMgmt-v0"), allowed=(ORDER_BOX_WARNING,))
    check_mo_env(MOInvMgmtEnv("serial", backlog=False, observation="dict"), allowed=(ORDER_BOX_WARNING,))


def _actions(seed: int, n: int, n_links: int, high: float = 60.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, high, size=(n, n_links))


@pytest.mark.parametrize("env_id", ["InvMgmt-v0", "InvMgmt-LostSales-v0", "InvMgmt-Serial-v0"])
def test_profit_objective_is_the_base_reward_exactly(env_id):
    kwargs = dict(gym.spec(env_id).kwargs)
    for seed in (0, 7):
        base = InvMgmtEnv(**kwargs)
        mo = MOInvMgmtEnv(**kwargs)
        raw = MOInvMgmtEnv(**kwargs, profit_scale=1.0)
        o_base, _ = base.reset(seed=seed)
        o_mo, _ = mo.reset(seed=seed)
        raw.reset(seed=seed)
        np.testing.assert_array_equal(o_base, o_mo)
        for a in _actions(seed, base.num_periods, base.core.n_links):
            o_base, r, *_, i_base = base.step(a)
            o_mo, v, te, tr, i_mo = mo.step(a)
            v_raw = raw.step(a)[1]
            np.testing.assert_array_equal(o_base, o_mo)
            np.testing.assert_array_equal(i_base["costs"], i_mo["costs"])
            assert i_mo["objectives"][0] == r  # float64, exact
            assert v[0] == np.float32(r / mo.scales[0]) and v_raw[0] == np.float32(r)
            np.testing.assert_array_equal(v, (i_mo["objectives"] / mo.scales).astype(np.float32))
        assert tr and not te


def _tiny_network() -> NetworkSpec:
    """Raw source -> retailer (I0 10, h 0.5) -> market (price 3, penalty 2, Poisson(5) demand);
    the order arrives in the period it is placed (L 0) at unit price 1."""
    return NetworkSpec(
        nodes=(Node("s", "raw"), Node("r", "retailer", I0=10, h=0.5), Node("m", "market")),
        links=(Link("s", "r", L=0, p=1.0),),
        markets=(MarketLink("r", "m", p=3.0, b=2.0, demand=DemandSpec("poisson", 5.0)),),
    )


@pytest.mark.parametrize(
    ("backlog", "expected_raw"),
    [
        # Lost sales. t0: order 2 -> 12 on hand, demand 4 sold, 8 left: 3*4 - 2 - 0.5*8 = 6.
        # t1: demand 12, 8 sold, 4 lost: 3*8 - 2*4 = 16, fill 8/12. t2: order 5, no demand:
        # -5 - 0.5*5 = -7.5, fill 1 (nothing demanded).
        (False, [[6.0, 1.0, -8.0], [16.0, 8 / 12, 0.0], [-7.5, 1.0, -5.0]]),
        # Backlog: t1's 4 unmet units are carried; t2 sells them from the 5 ordered: 3*4 - 5 - 0.5*1
        # = 6.5, fill 4/4 (late sales count against the backlog carried in, so it stays <= 1).
        (True, [[6.0, 1.0, -8.0], [16.0, 8 / 12, 0.0], [6.5, 1.0, -1.0]]),
    ],
)
def test_objectives_on_a_hand_worked_network(backlog, expected_raw):
    env = MOInvMgmtEnv(_tiny_network(), backlog=backlog, num_periods=3, demand_trace=[4.0, 12.0, 0.0])
    # Defaults: profit scale = price 3 x mean demand 5; inventory scale = I0 = 10.
    np.testing.assert_array_equal(env.scales, [15.0, 1.0, 10.0])
    env.reset(seed=0)
    for orders, raw in zip([2.0, 0.0, 5.0], expected_raw, strict=True):
        _, reward, *_, info = env.step(np.array([orders]))
        np.testing.assert_allclose(info["objectives"], raw, atol=1e-12)
        np.testing.assert_allclose(reward, np.array(raw) / [15.0, 1.0, 10.0], rtol=1e-6)
    custom = MOInvMgmtEnv(_tiny_network(), num_periods=3, profit_scale=2.0, inventory_scale=4.0)
    np.testing.assert_array_equal(custom.scales, [2.0, 1.0, 4.0])


def test_default_scales_of_mo_invmgmt_v0():
    env = gym.make("MOInvMgmt-v0")
    np.testing.assert_array_equal(env.scales, [40.0, 1.0, 1420.0])  # 2.0 x Poisson(20); sum of I0
    assert env.objective_names == ("profit", "fill_rate", "inventory")


def test_mo_invmgmt_is_a_function_of_seed_and_actions():
    def episode(seed):
        env = gym.make("MOInvMgmt-v0")
        env.reset(seed=seed)
        return np.array([env.step(a)[1] for a in _actions(3, 30, 11)])

    np.testing.assert_array_equal(episode(5), episode(5))
    assert not np.array_equal(episode(5), episode(6))


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_equals_single_envs_on_the_same_seeds(mode):
    n, seed, T = 3, 10, 30
    venv = gym.make_vec("MOInvMgmt-v0", num_envs=n, autoreset_mode=mode)
    singles = [gym.make("MOInvMgmt-v0") for _ in range(n)]
    venv.reset(seed=seed)
    for i, env in enumerate(singles):
        env.reset(seed=seed + i)
    actions = np.stack([_actions(100 + i, T, 11) for i in range(n)], axis=1)  # [T, n, 11]
    for t in range(T):
        _, rewards, _, truncated, infos = venv.step(actions[t])
        assert rewards.shape == (n, 3) and rewards.dtype == np.float32
        for i, env in enumerate(singles):
            _, r, _, tr, info = env.step(actions[t, i])
            np.testing.assert_allclose(rewards[i], r, rtol=1e-6, atol=1e-7)
            np.testing.assert_allclose(infos["objectives"][i], info["objectives"], rtol=1e-10, atol=1e-10)
            assert truncated[i] == tr
    # The last period's inventory is the end-of-period one, not the restarted network's.
    assert infos["objectives"][0, 2] == pytest.approx(-float(singles[0].state.on_hand.sum()))
    if mode == AutoresetMode.SAME_STEP:
        np.testing.assert_array_equal(infos["final_info"]["objectives"], infos["objectives"])
    else:  # the autoreset step plays no period: zero rewards
        _, rewards, *_ = venv.step(actions[0])
        np.testing.assert_array_equal(rewards, np.zeros((n, 3), np.float32))


def test_vector_env_with_torch_arrays():
    numpy_env = MOInvMgmtVectorEnv(2)
    torch_env = MOInvMgmtVectorEnv(2, array_type="torch")
    numpy_env.reset(seed=1)
    torch_env.reset(seed=1)
    for a in _actions(2, 5, 22):
        r_np = numpy_env.step(a.reshape(2, 11))[1]
        r_t = torch_env.step(torch.as_tensor(a.reshape(2, 11)))[1]
        assert isinstance(r_t, torch.Tensor) and r_t.dtype == torch.float32
        np.testing.assert_array_equal(r_t.numpy(), r_np)


def test_mo_invmgmt_scale_errors():
    for bad, exc in ((0.0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError)):
        with pytest.raises(exc, match="profit_scale"):
            MOInvMgmtEnv(profit_scale=bad)
        with pytest.raises(exc, match="inventory_scale"):
            MOInvMgmtVectorEnv(2, inventory_scale=bad)
    # The HDPO networks have no prices: the default profit scale would be 0.
    with pytest.raises(ValueError, match=r"profit_scale: .*\(no market prices\)"):
        gym.make("MOInvMgmt-v0", network="single_store", num_periods=10)
    env = gym.make("MOInvMgmt-v0", network="single_store", num_periods=10, profit_scale=10.0)
    np.testing.assert_array_equal(env.scales, [10.0, 1.0, 5.0])  # no initial stock: one period's demand


def test_scalarised_ppo_runs_on_the_mo_inventory_vector_env():
    from rlsuite.agents import PPO

    class ScalarisedPPO(PPO):
        def compute_advantages(self, buffer, last_values):
            super().compute_advantages(buffer, last_values)
            assert buffer.advantages.shape[-1] == 3
            buffer.advantages = buffer.advantages @ torch.tensor([0.5, 0.3, 0.2])

    model = ScalarisedPPO(
        "MlpPolicy", "MOInvMgmt-v0", n_envs=4, n_steps=32, batch_size=64, n_epochs=2, seed=0
    )
    assert model.reward_dim == 3 and model.policy.value_head.out_features == 3
    model.learn(384)
    assert model.num_timesteps >= 384


# ---------------------------------------------------------------- MuJoCo through MO-Gymnasium
@pytest.fixture
def mujoco_mo():
    pytest.importorskip("mujoco")
    return pytest.importorskip("mo_gymnasium")


@pytest.mark.parametrize(
    ("env_id", "k"), [("mo-hopper-2obj-v5", 2), ("mo-hopper-v5", 3), ("mo-halfcheetah-v5", 2)]
)
def test_make_mo_exposes_the_reward_space_and_steps(mujoco_mo, env_id, k):
    assert env_id in MO_MUJOCO_IDS
    env = make_mo(env_id)
    assert env.reward_space.shape == (k,) and env.reward_dim == k
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(30):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert reward.shape == (k,) and reward.dtype == np.float32 and np.isfinite(reward).all()
        if terminated or truncated:
            env.reset()
    env.close()


def _play_side_by_side(mo_id: str, scalar_id: str, steps: int = 40):
    """Steps an MO task and its Gymnasium original with the same seed and actions; yields
    ``(action, vector, scalar reward, info)`` while both run."""
    mo, scalar = make_mo(mo_id), gym.make(scalar_id)
    o1, _ = mo.reset(seed=3)
    o2, _ = scalar.reset(seed=3)
    np.testing.assert_array_equal(o1, o2)
    rng = np.random.default_rng(3)
    for _ in range(steps):
        a = rng.uniform(-1.0, 1.0, size=mo.action_space.shape).astype(np.float32)
        o1, vec, te1, _, info = mo.step(a)
        o2, r, te2, _, _ = scalar.step(a)
        np.testing.assert_array_equal(o1, o2)
        assert te1 == te2
        yield a, vec, r, info
        if te1:
            return


def test_mo_hopper_vectors_follow_mo_gymnasium_documented_sums(mujoco_mo):
    for _, vec, r, info in _play_side_by_side("mo-hopper-2obj-v5", "Hopper-v5"):
        shared = info["reward_ctrl"] + info["reward_survive"]
        assert vec[0] == pytest.approx(info["x_velocity"] + shared, rel=1e-5, abs=1e-5)
        assert vec[0] == pytest.approx(r, rel=1e-5, abs=1e-5)  # Hopper-v5's own reward
        assert vec[1] == pytest.approx(10 * info["z_distance_from_origin"] + shared, rel=1e-5, abs=1e-5)
    for a, vec, _, info in _play_side_by_side("mo-hopper-v5", "Hopper-v5"):
        survive = info["reward_survive"]
        expected = [info["x_velocity"], 10 * info["z_distance_from_origin"], -np.sum(np.square(a))]
        np.testing.assert_allclose(vec, np.array(expected) + survive, rtol=1e-5, atol=1e-5)


def test_mo_halfcheetah_vectors_recover_the_original_reward(mujoco_mo):
    for a, vec, r, info in _play_side_by_side("mo-halfcheetah-v5", "HalfCheetah-v5"):
        np.testing.assert_allclose(vec, [info["x_velocity"], -np.sum(np.square(a))], rtol=1e-5, atol=1e-6)
        assert vec[0] + 0.1 * vec[1] == pytest.approx(r, rel=1e-5, abs=1e-5)


def test_make_mo_errors(monkeypatch):
    with pytest.raises(TypeError, match="env_id"):
        make_mo(3)
    pytest.importorskip("mo_gymnasium")
    with pytest.raises(ValueError, match="env_id: got 'mo-nothing-v5'"):
        make_mo("mo-nothing-v5")
    with pytest.raises(ValueError, match="reward_space"):
        make_mo("CartPole-v1")
    monkeypatch.setitem(sys.modules, "mo_gymnasium", None)
    with pytest.raises(ImportError, match=r"rlsuite\[mo\]"):
        make_mo("mo-hopper-v5")
