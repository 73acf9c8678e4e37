"""Sokoban: generation (solvable, deterministic), mechanics, rewards, the contract and the expert."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite  # noqa: F401  (registers the ids)
from rlsuite.baselines.text_experts import (
    RandomTextPolicy,
    SokobanExpert,
    collect_demonstrations,
    load_demonstrations,
    run_text_episodes,
    save_demonstrations,
)
from rlsuite.envs import SOKOBAN_IDS
from rlsuite.envs.text import Level, SokobanEnv, Vocabulary, generate_level, is_deadlocked, solve, step_level
from rlsuite.envs.text.sokoban import BOX, FLOOR, PLAYER, TARGET, WALL

UP, DOWN, LEFT, RIGHT = range(4)


def _level(rows: list[str]) -> Level:
    codes = {"#": WALL, "_": FLOOR, "O": TARGET, "X": BOX, "P": PLAYER, "√": 3, "S": 6}
    return Level.from_grid(np.array([[codes[ch] for ch in row] for row in rows], dtype=np.int8))


@pytest.mark.parametrize("env_id", sorted(SOKOBAN_IDS))
def test_check_env_and_determinism(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)
    a, b = gym.make(env_id), gym.make(env_id)
    oa, ia = a.reset(seed=11)
    ob, ib = b.reset(seed=11)
    assert ia["text"] == ib["text"] and np.array_equal(oa["tokens"], ob["tokens"])
    rng = np.random.default_rng(0)
    for _ in range(20):
        act = int(rng.integers(4))
        ra, rb = a.step(act), b.step(act)
        assert ra[4]["text"] == rb[4]["text"] and ra[1] == rb[1]
        assert np.array_equal(ra[0]["tokens"], rb[0]["tokens"])
    assert a.reset(seed=12)[1]["text"] != ia["text"] or a.reset(seed=13)[1]["text"] != ia["text"]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), size=st.sampled_from([(6, 6, 1), (6, 6, 2), (8, 8, 2), (7, 9, 3)]))
def test_every_generated_level_is_solvable_and_the_plan_solves_it(seed, size):
    h, w, boxes = size
    level, plan = generate_level(np.random.default_rng(seed), (h, w), boxes, min_moves=2)
    assert len(level.boxes) == boxes and int(level.targets.sum()) == boxes
    assert not level.solved and len(plan) >= 2
    for a in plan:
        level, _ = step_level(level, a)
    assert level.solved


def test_solver_is_optimal_on_a_hand_made_level():
    level = _level(
        [
            "#######",
            "#P_X_O#",
            "#######",
        ]
    )
    assert solve(level) == [RIGHT, RIGHT, RIGHT]
    stuck = _level(["#####", "#X_O#", "#P__#", "#####"])  # box in a corner, off target
    assert is_deadlocked(stuck) and solve(stuck) is None


def test_mechanics_rewards_and_masks():
    env = SokobanEnv()
    env.reset(seed=0)
    env.level = _level(["#######", "#P_XO_#", "#######"])
    obs = env._obs()
    assert obs["action_mask"].tolist() == [0, 0, 0, 1]  # only right moves
    _, r, term, _, info = env.step(LEFT)  # blocked
    assert r == pytest.approx(-0.1) and not info["action_is_effective"] and not term
    _, r, *_ = env.step(RIGHT)
    assert r == pytest.approx(-0.1)
    _, r, term, _, info = env.step(RIGHT)  # box onto the (only) target: +1 and +10
    assert r == pytest.approx(-0.1 + 1 + 10) and term and info["won"]
    env.reset(seed=0)  # the episode ended: a new one before the next step
    env.level = _level(["#######", "#_P√__#", "#######"])
    _, r, term, *_ = env.step(RIGHT)  # box off target
    assert r == pytest.approx(-1.1) and not term
    sparse = SokobanEnv(reward_mode="sparse")
    sparse.reset(seed=0)
    sparse.level = _level(["#######", "#_PXO_#", "#######"])
    assert sparse.step(RIGHT)[1] == 1.0


def test_deadlock_detection_ends_the_episode():
    env = SokobanEnv(deadlock_detection=True)
    env.reset(seed=0)
    env.level = _level(["#####", "#__O#", "#_XP#", "#####"])
    _, _, term, _, info = env.step(LEFT)  # push the box into the bottom-left corner
    assert term and info["deadlock"] and not info["won"]


def test_truncation_text_render_and_visual_variant():
    env = gym.make("Sokoban-Visual-v0", render_mode="rgb_array", max_steps=3)
    obs, info = env.reset(seed=1)
    assert obs["image"].shape == (96, 96, 3) and obs["image"].dtype == np.uint8
    assert env.render().shape == (96, 96, 3)
    assert set(info["text"]) <= set("#_O√XPS\n") and info["admissible_actions"] == [
        "up",
        "down",
        "left",
        "right",
    ]
    vocab = env.unwrapped.vocab
    assert vocab.decode(obs["tokens"]).replace(" ", "") == info["text"].replace("\n", "")
    truncated = False
    for _ in range(3):
        _, _, term, truncated, _ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))
        if term:
            break
    assert term or truncated
    ansi = SokobanEnv(render_mode="ansi")
    _, info = ansi.reset(seed=2)
    assert ansi.render() == info["text"]


def _expert_check(env_id: str, seeds: int) -> None:
    env = gym.make(env_id)
    res = run_text_episodes(env, SokobanExpert(), list(range(seeds)))
    assert res["success"].all(), env_id
    opt = [env.reset(seed=s)[1]["optimal_moves"] for s in range(20)]
    assert np.array_equal(res["length"][:20], opt)  # and in the optimal number of moves


@pytest.mark.parametrize("env_id", sorted(SOKOBAN_IDS))
def test_expert_solves_every_level(env_id):
    _expert_check(env_id, 100)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(SOKOBAN_IDS))
def test_expert_solves_500_levels(env_id):
    _expert_check(env_id, 500)


def test_random_policy_rarely_succeeds_on_the_larger_levels():
    rand = run_text_episodes(gym.make("Sokoban-8x8-2-v0"), RandomTextPolicy(0), list(range(50)))
    assert rand["success"].mean() < 0.3


def test_demonstrations_dataset(tmp_path):
    data = collect_demonstrations(gym.make("Sokoban-v0"), SokobanExpert(), [0, 1, 2])
    n = len(data["actions"])
    assert data["observations"]["tokens"].shape == (n, 36) and data["episode_starts"].sum() == 3
    assert set(data["seeds"].tolist()) == {0, 1, 2}
    save_demonstrations(tmp_path / "demos.npz", data)
    back = load_demonstrations(tmp_path / "demos.npz")
    assert np.array_equal(back["actions"], data["actions"])
    assert all(np.array_equal(back["observations"][k], v) for k, v in data["observations"].items())


def test_vocabulary_is_deterministic():
    a, b = Vocabulary(["x", "b", "a"]), Vocabulary(["a", "b", "x", "a"])
    assert a.words == b.words == ["<pad>", "<unk>", "a", "b", "x"]
    assert a.encode("A x zz", 5).tolist() == [2, 4, 1, 0, 0]


def test_clear_errors():
    with pytest.raises(ValueError, match="dim_room"):
        SokobanEnv(dim_room=(3, 3))
    with pytest.raises(ValueError, match="num_boxes"):
        SokobanEnv(num_boxes=0)
    with pytest.raises(ValueError, match="reward_mode"):
        SokobanEnv(reward_mode="dense")
    env = SokobanEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(7)
    with pytest.raises(RuntimeError, match="min_moves"):
        generate_level(np.random.default_rng(0), (5, 5), 1, min_moves=60, max_tries=5)
