"""Scripted experts and a random policy for the text environments.

Each works on observations (SB3's ``predict(obs) -> (action, None)``), so it can drive an env,
generate behaviour-cloning data (:func:`collect_demonstrations`) or stand in for a language
model in tests (through the text protocol, see ``rlsuite.envs.text.TextActionWrapper``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from rlsuite.envs.text.sokoban import Level, solve, step_level
from rlsuite.evaluation import run_episodes
from rlsuite.files import atomic_write
from rlsuite.validation import check_int, check_real, check_seed

if TYPE_CHECKING:
    from rlsuite.envs.text.webshop import WebShopEnv


class NoPlanError(RuntimeError):
    """The Sokoban expert found no solution from this position (a box is stuck)."""


class SokobanExpert:
    """Optimal play: breadth-first search from the observed grid. The rest of the plan is kept
    for the position it leads to, so an episode costs one search; any other position (a new
    episode, or a detour) is searched again. Solves every generated level in the fewest moves."""

    name = "sokoban expert"

    def __init__(self, max_nodes: int = 500_000) -> None:
        self.max_nodes = check_int("max_nodes", max_nodes, low=1)
        self._next: dict[bytes, list[int]] = {}

    def act(self, grid: np.ndarray) -> int:
        grid = np.asarray(grid, dtype=np.int8)
        key = grid.tobytes() + bytes(grid.shape)
        plan = self._next.get(key)
        if plan is None:
            level = Level.from_grid(grid)
            plan = solve(level, self.max_nodes)
            if plan is None:
                raise NoPlanError("SokobanExpert: this position has no solution (a box is stuck)")
        if not plan:
            return 0  # already solved
        nxt = step_level(Level.from_grid(grid), plan[0])[0].grid()
        self._next = {nxt.tobytes() + bytes(nxt.shape): plan[1:]}
        return plan[0]

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
    ) -> tuple[Any, None]:
        grid = np.asarray(observation["grid"])
        if grid.ndim == 3:  # a batch
            return np.array([self.act(g) for g in grid]), None
        return np.int64(self.act(grid)), None


class RandomTextPolicy:
    """Uniform over the admissible actions (``action_mask``), from its own seeded generator."""

    name = "random"

    def __init__(self, seed: int | None = 0) -> None:
        check_seed("seed", seed)
        self.rng = np.random.default_rng(seed)

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[Any, None]:
        mask = np.asarray(observation["action_mask"]).astype(bool)
        if mask.ndim == 2:
            return np.array([self.rng.choice(np.flatnonzero(m)) for m in mask]), None
        return np.int64(self.rng.choice(np.flatnonzero(mask))), None


class EpsilonPolicy:
    """A behaviour policy with action noise: with probability ``epsilon`` a uniformly random
    admissible action, otherwise ``policy``'s (also random where it has no move: a Sokoban
    position the expert cannot solve any more). Its own seeded generator; for logged datasets of
    several quality levels (``EpsilonPolicy(SokobanExpert(), 0.3, seed=1)``)."""

    def __init__(self, policy: Any, epsilon: float, seed: int | None = 0) -> None:
        _check_predict(policy)
        self.policy = policy
        self.epsilon = check_real("epsilon", epsilon, 0.0, 1.0)
        check_seed("seed", seed)
        self.rng = np.random.default_rng(seed)
        self.name = f"{getattr(policy, 'name', type(policy).__name__)} eps={self.epsilon:g}"

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[Any, None]:
        mask = np.asarray(observation["action_mask"]).astype(bool)
        if mask.ndim != 1:
            raise ValueError("observation: EpsilonPolicy plays one env (a single observation)")
        explore = self.rng.random() < self.epsilon
        if not explore:
            try:
                action = self.policy.predict(observation)
            except NoPlanError:
                explore = True
            else:
                return np.int64(action[0] if isinstance(action, tuple) else action), None
        return np.int64(self.rng.choice(np.flatnonzero(mask))), None


def run_text_episodes(env: gym.Env, policy: Any, seeds: list[int]) -> dict[str, np.ndarray]:
    """Play one episode per seed (``policy.predict(obs)``); returns per-episode ``reward`` (sum),
    ``success`` (the last step's ``info["won"]``) and ``length``."""
    _check_predict(policy)
    episodes = run_episodes(env, policy, seeds)
    return {
        "reward": np.array([e.total_reward for e in episodes]),
        "success": np.array([bool(e.final_info.get("won", False)) for e in episodes]),
        "length": np.array([e.length for e in episodes]),
    }


def collect_demonstrations(env: gym.Env, policy: Any, seeds: list[int]) -> dict[str, Any]:
    """Expert transitions for behaviour cloning: ``{"observations": {key: [N, ...]}, "actions"
    [N], "episode_starts" [N], "seeds" [N]}`` (plain numpy arrays; save with ``np.savez``)."""
    _check_predict(policy)
    episodes = run_episodes(env, policy, seeds, record=True)
    obs_list = [{k: np.asarray(v) for k, v in o.items()} for e in episodes for o in e.observations or []]
    keys = obs_list[0].keys() if obs_list else []
    return {
        "observations": {k: np.stack([o[k] for o in obs_list]) for k in keys},
        "actions": np.array([int(a) for e in episodes for a in e.actions or []], dtype=np.int64),
        "episode_starts": np.array([k == 0 for e in episodes for k in range(e.length)], dtype=bool),
        "seeds": np.array(
            [s for e, s in zip(episodes, seeds, strict=True) for _ in range(e.length)], dtype=np.int64
        ),
    }


def _check_predict(policy: Any) -> None:
    if not hasattr(policy, "predict"):
        raise TypeError(f"policy: got {type(policy).__name__}; must have predict(obs)")


class WebShopExpert:
    """The WebShop-lite matcher: searches with the instruction's most specific query, pages
    through the results to the first product that satisfies the goal (type, every attribute,
    the options, the price bound), selects the goal's options and buys: reward 1 on every goal.

    It reads the goal from the env (a privileged script, as WebShop's human demonstrations read
    the instruction), so it is built on the env it plays: ``WebShopExpert(env)``."""

    name = "webshop expert"

    def __init__(self, env: gym.Env) -> None:
        self.env = cast("WebShopEnv", env.unwrapped)  # built on the WebShop env it plays

    def _matches(self, index: int) -> bool:
        env = self.env
        goal, product = env.goal, env.catalog.products[index]
        assert goal is not None  # set by the env's reset
        return (
            product.product_type == goal.product_type
            and all(a in product.attributes for a in goal.attributes)
            and all(v in product.options.get(axis, ()) for axis, v in goal.options.items())
            and product.price <= goal.price_upper
        )

    def choose(self) -> str:
        env = self.env
        acts = env.actions
        if env.page == "search":
            return acts[0]
        if env.page == "results":
            for i in env.shown_products:
                if self._matches(i):
                    return f"click[{env.catalog.products[i].asin}]"
            return "click[next >]" if "click[next >]" in acts else "click[back to search]"
        if env.page == "item":
            item, goal = env.current_item, env.goal
            assert item is not None and goal is not None  # on an item page, after reset
            if not self._matches(item):
                return "click[< prev]"
            selected = env.selected_options
            for axis, value in goal.options.items():
                if selected.get(axis) != value:
                    return f"click[{value}]"
            return "click[buy now]"
        return "click[< prev]"

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
    ) -> tuple[Any, None]:
        return np.int64(self.env.actions.index(self.choose())), None


def save_demonstrations(path: str, data: dict[str, Any]) -> None:
    """Write :func:`collect_demonstrations`' output to a compressed ``.npz`` (observation keys
    prefixed ``obs/``), readable without rlsuite: ``np.load(path)``. Like ``np.savez``, it adds
    ``.npz`` to a path without it; the file is written atomically."""
    if not isinstance(data, dict) or not isinstance(data.get("observations"), dict):
        raise TypeError("data: must be collect_demonstrations' output (a dict with an 'observations' dict)")
    arrays = {f"obs/{k}": v for k, v in data["observations"].items()}
    arrays.update({k: v for k, v in data.items() if k != "observations"})
    path = str(path) if str(path).endswith(".npz") else f"{path}.npz"
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_demonstrations(path: str) -> dict[str, Any]:
    """Read a file written by :func:`save_demonstrations`."""
    with np.load(path) as f:
        obs = {k[4:]: f[k] for k in f.files if k.startswith("obs/")}
        out: dict[str, Any] = {k: f[k] for k in f.files if not k.startswith("obs/")}
    out["observations"] = obs
    return out
