"""Multi-objective environments (issue 18, item 1): Deep Sea Treasure, with MO-Gymnasium's API
(``reward_space``, float32 vector rewards)."""

from __future__ import annotations

import warnings
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import rlsuite  # noqa: F401  (registers the ids)
from rlsuite.envs import MO_IDS
from rlsuite.envs.mo import DeepSeaTreasureEnv

torch.set_num_threads(1)
# MO-Gymnasium's own Deep Sea Treasure builds a float64-bounded Box (the peer's warning, not ours).
PEER_BOX_WARNING = "ignore:.*Box high's precision lowered by casting to float32:UserWarning"

VECTOR_REWARD_WARNING = "The reward returned by `step()` must be a float"


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
    ):
        assert env_id in MO_IDS and env_id in gym.registry
        env = gym.make(env_id)
        assert type(env) is cls and env.reward_space.shape == (env.reward_dim,)
    assert type(gym.make("rlsuite:DeepSeaTreasure-v0")) is DeepSeaTreasureEnv


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
