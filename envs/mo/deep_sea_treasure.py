"""Deep Sea Treasure: the classic two-objective gridworld with a known Pareto front.

A submarine starts at the top-left cell of an 11 x 11 sea (rows are depths) and moves up, down,
left or right; a move into the sea floor (:data:`ROCK` cells) or off the map leaves it in place.
Reaching a treasure cell ends the episode. Each step pays the vector reward
``(treasure, time) = (value of the treasure reached, or 0; -1)``, so an episode's return is
``(treasure found, -steps)``. The sea floor is Vamplew et al.'s (2011) staircase with ten treasures;
the map, the dynamics and both treasure sets are MO-Gymnasium's (its sea has an eleventh, open
column on the right, which changes no shortest path), and a test steps both side by side:

- ``variant="convex"`` (``DeepSeaTreasure-v0``, MO-Gymnasium's ``deep-sea-treasure-v0``): Yang et
  al.'s (2019) treasures 0.7, 8.2, 11.5, 14.0, 15.1, 16.1, 19.6, 20.3, 22.4, 23.7; every Pareto
  point is on the front's convex hull, so linear scalarisation can find all ten.
- ``variant="concave"`` (``DeepSeaTreasure-Concave-v0``, ``deep-sea-treasure-concave-v0``): Vamplew
  et al.'s original treasures 1, 2, 3, 5, 8, 16, 24, 50, 74, 124; linear scalarisation finds only the
  points on the convex hull.

The undiscounted Pareto front has one point per treasure: the shortest path to each treasure (1, 3,
5, 7, 8, 9, 13, 14, 17 and 19 steps) is Pareto-optimal; ``env.pareto_front(gamma)`` returns it from
:func:`rlsuite.pareto.deep_sea_treasure_front`, and a test finds it again by searching the map.

Observation: the submarine's ``(row, column)`` as ``int32``, ``Box(0, 10, (2,))``. Actions:
``Discrete(4)``, 0 up, 1 down, 2 left, 3 right (MO-Gymnasium's order). The environment is
deterministic; episodes are truncated after ``max_steps`` steps (100, as MO-Gymnasium's time limit).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlsuite.pareto import deep_sea_treasure_front
from rlsuite.validation import ArgumentTypeError, check_choice, check_int, check_seed, short_repr

from ..validation import check_index_action, check_step_allowed

ROCK = -10.0
"""Value of a sea-floor cell in :data:`SEA_MAPS` (not enterable; MO-Gymnasium's marker)."""
TREASURES: dict[str, tuple[float, ...]] = {
    "convex": (0.7, 8.2, 11.5, 14.0, 15.1, 16.1, 19.6, 20.3, 22.4, 23.7),
    "concave": (1.0, 2.0, 3.0, 5.0, 8.0, 16.0, 24.0, 50.0, 74.0, 124.0),
}
"""Treasure values of each variant, from the shallowest (column 0) to the deepest (column 9)."""
VARIANTS: tuple[str, ...] = tuple(TREASURES)
TREASURE_DEPTHS: tuple[int, ...] = (1, 2, 3, 4, 4, 4, 7, 7, 9, 10)
"""Row of the treasure in columns 0..9; the cells below it are sea floor (column 10 is open sea)."""
SIZE = 11
"""Rows and columns of the sea."""


def _sea_map(treasures: tuple[float, ...]) -> np.ndarray:
    sea = np.zeros((SIZE, SIZE))
    for col, (depth, value) in enumerate(zip(TREASURE_DEPTHS, treasures, strict=True)):
        sea[depth, col] = value
        sea[depth + 1 :, col] = ROCK
    sea.setflags(write=False)
    return sea


SEA_MAPS: dict[str, np.ndarray] = {variant: _sea_map(values) for variant, values in TREASURES.items()}
"""The sea of each variant, ``[row (depth), column]``: 0 open sea, a positive value a treasure,
:data:`ROCK` sea floor (read-only)."""
ACTION_NAMES: tuple[str, ...] = ("up", "down", "left", "right")
#: Moves ``(d_row, d_column)`` of actions 0..3.
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)], dtype=np.int32)
MAX_STEPS = 1_000_000
"""Longest episode (``max_steps``)."""
OBJECTIVE_NAMES: tuple[str, ...] = ("treasure", "time")
"""The reward vector's entries."""


class DeepSeaTreasureEnv(gym.Env):
    """Deep Sea Treasure with MO-Gymnasium's API: ``reward_space`` ``Box([0, -1], [max treasure, -1],
    (2,))`` and a ``float32`` reward vector ``(treasure, time)`` from ``step``.

    Args:
        variant: ``convex`` (default; Yang et al.'s treasures) or ``concave`` (Vamplew et al.'s).
        max_steps: the episode is truncated after this many steps (default 100).
        render_mode: None or ``ansi`` (the map as text, ``S`` the submarine, ``T`` a treasure,
            ``#`` the sea floor).

    ``step`` takes an integer action in ``[0, 3]`` (0 up, 1 down, 2 left, 3 right); anything else
    raises (floats, bools and strings ``TypeError``, out-of-range integers ``ValueError``). ``step``
    before ``reset`` or after the episode ended raises ``RuntimeError``. ``info`` is empty.
    ``pareto_front(gamma)`` gives the known front (MO-Gymnasium's method of the same name).
    """

    # gymnasium.Env declares metadata as an instance attribute; it is a class constant.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 4}  # type: ignore[misc]

    def __init__(
        self, *, variant: str = "convex", max_steps: int = 100, render_mode: str | None = None
    ) -> None:
        self.variant = check_choice("variant", variant, VARIANTS)
        self.max_steps = check_int("max_steps", max_steps, 1, MAX_STEPS)
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.sea = SEA_MAPS[variant]
        self.observation_space = spaces.Box(0, SIZE - 1, (2,), np.int32)
        self.action_space = spaces.Discrete(4)
        self.reward_space = spaces.Box(
            np.array([0.0, -1.0], np.float32), np.array([self.sea.max(), -1.0], np.float32), (2,), np.float32
        )
        self.reward_dim = 2
        self._position = np.zeros(2, np.int32)
        self._t = 0
        self._started = False
        self._ended = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=check_seed("seed", seed))
        if options is not None and not isinstance(options, dict):
            raise ArgumentTypeError(f"options: got {short_repr(options)}; must be a dict or None")
        if options:
            raise ValueError(f"options: unknown keys {sorted(options, key=str)}; this env takes none")
        self._position = np.zeros(2, np.int32)
        self._t = 0
        self._started, self._ended = True, False
        return self._position.copy(), {}

    def step(self, action: Any):
        check_step_allowed(self._started, self._ended)
        a = check_index_action(action, 4, " (0 up, 1 down, 2 left, 3 right)")
        row, col = self._position + MOVES[a]
        if 0 <= row < SIZE and 0 <= col < SIZE and self.sea[row, col] != ROCK:
            self._position = np.array([row, col], np.int32)
        self._t += 1
        value = float(self.sea[self._position[0], self._position[1]])
        terminated = value > 0.0
        truncated = not terminated and self._t >= self.max_steps
        self._ended = terminated or truncated
        reward = np.array([value if terminated else 0.0, -1.0], dtype=np.float32)
        return self._position.copy(), reward, terminated, truncated, {}

    def pareto_front(self, gamma: float = 1.0) -> np.ndarray:
        """The known Pareto front ``[10, 2]`` of discounted returns, sorted by treasure (MO-Gymnasium's
        method of the same name): a path of ``n`` steps to a treasure ``v`` returns
        ``(gamma^(n-1) v, -(1 + gamma + ... + gamma^(n-1)))``; ``gamma = 1`` gives ``(v, -n)``.
        :func:`rlsuite.pareto.deep_sea_treasure_front` of this variant."""
        return deep_sea_treasure_front(self.variant, gamma)

    @property
    def objective_names(self) -> tuple[str, ...]:
        """Names of the reward vector's entries (:data:`OBJECTIVE_NAMES`)."""
        return OBJECTIVE_NAMES

    @property
    def position(self) -> tuple[int, int]:
        """The submarine's ``(row, column)``."""
        return int(self._position[0]), int(self._position[1])

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        grid = np.where(self.sea == ROCK, "#", np.where(self.sea > 0, "T", ".")).astype("<U1")
        grid[self.position] = "S"
        return "\n".join("".join(row) for row in grid)


__all__ = [
    "OBJECTIVE_NAMES",
    "SEA_MAPS",
    "TREASURES",
    "VARIANTS",
    "DeepSeaTreasureEnv",
]
