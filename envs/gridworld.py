"""A small slippery gridworld with its exact tabular model, for shaping tutorials and tests.

``GridWorld-v0``: the agent starts on ``S`` and must reach ``G`` (reward ``goal_reward``, the episode
terminates); every other step pays ``step_reward`` (0 by default: a sparse reward). ``#`` cells are
walls; ``T`` cells are traps (reward ``trap_reward``, terminate). With probability ``slip`` the move
goes in a uniformly random direction instead of the chosen one. Episodes are truncated after
``max_steps`` steps.

The observation is the one-hot code of the agent's cell (``Box(0, 1, (n_states,))``), so the suite's
MLP policies learn on it directly; ``info["state"]`` is the state index and ``info["cell"]`` the
(row, column). :meth:`GridWorldEnv.tabular_model` returns the exact transition and reward tables
``P[s, a, s']``, ``R[s, a, s']`` and the terminal mask, for value iteration
(:func:`rlsuite.shaping.value_iteration`).
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlsuite.validation import ArgumentTypeError, check_choice, check_int, check_real, check_seed, short_repr

from .validation import check_index_action, check_step_allowed

MAX_CELLS = 1024
"""Most cells of a layout: the exact model ``P[s, a, s']`` grows with the square of the states."""
MAX_STEPS = 1_000_000
"""Longest episode (``max_steps``)."""
#: Moves of actions 0..3: up, right, down, left.
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])

LAYOUTS: dict[str, tuple[str, ...]] = {
    # An open room with a wall to walk around; start top-left, goal bottom-right.
    "room": (
        "S......",
        ".......",
        "..###..",
        "....#..",
        "....#..",
        ".......",
        "......G",
    ),
    # Sutton, Precup and Singh's four rooms (1999): start and goal in opposite rooms, joined by
    # one-cell doors; a random walk rarely gets there, so the sparse reward is hard to find.
    "four_rooms": (
        "S....#.....",
        ".....#.....",
        "...........",
        ".....#.....",
        ".....#.....",
        "#.####.....",
        ".....######",
        ".....#.....",
        "...........",
        ".....#.....",
        ".....#....G",
    ),
    # A wall separates start and goal, with its only gap at the far end: the goal is 8 rows below the
    # start but 28 steps away. A heuristic that ignores walls (Manhattan distance) pulls the agent to
    # the wall right above the goal, a dead end, and scores the way round as moving away.
    "detour": (
        "S..........",
        "...........",
        "...........",
        "...........",
        "##########.",
        "...........",
        "...........",
        "...........",
        "G..........",
    ),
}


class GridWorldEnv(gym.Env):
    """Slippery gridworld with a sparse goal reward and an exact tabular model (see the module doc).

    Actions are integers in ``[0, 3]`` (Python or NumPy integers); floats, bools and strings
    raise. ``step`` before ``reset`` or after the episode ended raises ``RuntimeError``.
    """

    # gymnasium.Env declares metadata as an instance attribute; it is a class constant.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}  # type: ignore[misc]

    def __init__(
        self,
        layout: str | tuple[str, ...] | list[str] = "room",
        slip: float = 0.1,
        goal_reward: float = 1.0,
        step_reward: float = 0.0,
        trap_reward: float = -1.0,
        max_steps: int = 100,
        render_mode: str | None = None,
    ) -> None:
        rows = LAYOUTS[layout] if isinstance(layout, str) and layout in LAYOUTS else layout
        if isinstance(rows, str):
            raise ValueError(
                f"layout: got {short_repr(layout)}; allowed: {sorted(LAYOUTS)} or a list of strings"
            )
        if not isinstance(rows, (tuple, list)) or not all(isinstance(r, str) for r in rows):
            raise ArgumentTypeError(
                f"layout: got {short_repr(layout)}; allowed: {sorted(LAYOUTS)} or a list of strings"
            )
        rows = tuple(rows)
        if not rows or len({len(r) for r in rows}) != 1 or not rows[0]:
            raise ValueError("layout: rows must be non-empty strings of equal length")
        if len(rows) * len(rows[0]) > MAX_CELLS:
            raise ValueError(
                f"layout: got {len(rows)} x {len(rows[0])} = {len(rows) * len(rows[0])} cells; "
                f"the limit is {MAX_CELLS}"
            )
        chars = set("".join(rows))
        if not chars <= set(".#SGT"):
            raise ValueError(f"layout: unknown characters {sorted(chars - set('.#SGT'))}; allowed: . # S G T")
        if "".join(rows).count("S") != 1 or "G" not in chars:
            raise ValueError("layout: needs exactly one start 'S' and at least one goal 'G'")
        check_real("slip", slip, 0.0, 1.0, high_open=True)
        for name, value in (
            ("goal_reward", goal_reward),
            ("step_reward", step_reward),
            ("trap_reward", trap_reward),
        ):
            check_real(name, value)
        check_int("max_steps", max_steps, 1, MAX_STEPS)
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        self.rows = rows
        self.grid = np.array([list(r) for r in rows])
        self.height, self.width = self.grid.shape
        self.cells: list[tuple[int, int]] = [(int(r), int(c)) for r, c in np.argwhere(self.grid != "#")]
        self.index = {cell: i for i, cell in enumerate(self.cells)}
        self.n_states = len(self.cells)
        start_r, start_c = np.argwhere(self.grid == "S")[0]
        self.start = self.index[(int(start_r), int(start_c))]
        self.terminal = np.array([self.grid[c] in "GT" for c in self.cells])
        self.slip, self.max_steps = float(slip), int(max_steps)
        self.goal_reward, self.step_reward, self.trap_reward = (
            float(goal_reward),
            float(step_reward),
            float(trap_reward),
        )
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 1.0, (self.n_states,), np.float32)
        self.action_space = spaces.Discrete(4)
        self._next = np.array([[self._move(c, a) for a in range(4)] for c in self.cells])
        self.state, self.t = self.start, 0
        self._started, self._ended = False, False

    def _move(self, cell: tuple[int, int], action: int) -> int:
        r, c = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
        if 0 <= r < self.height and 0 <= c < self.width and self.grid[r, c] != "#":
            return self.index[(int(r), int(c))]
        return self.index[cell]

    def _reward(self, s_next: int) -> float:
        kind = self.grid[self.cells[s_next]]
        return {"G": self.goal_reward, "T": self.trap_reward}.get(kind, self.step_reward)

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.n_states, dtype=np.float32)
        obs[self.state] = 1.0
        return obs

    def _info(self) -> dict[str, Any]:
        return {"state": int(self.state), "cell": self.cells[self.state]}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=check_seed("seed", seed))
        if options is not None and not isinstance(options, dict):
            raise ArgumentTypeError(f"options: got {short_repr(options)}; must be a dict or None")
        unknown = sorted(set(options or {}) - {"state"}, key=str)
        if unknown:
            raise ValueError(f"options: unknown keys {unknown}; allowed: ['state']")
        start = self.start
        if options and "state" in options:
            start = check_int("options['state']", options["state"], 0, self.n_states - 1)
            if self.terminal[start]:
                raise ValueError(f"options['state']: got {start}; must be a non-terminal state")
        self.state, self.t = start, 0
        self._started, self._ended = True, False
        return self._obs(), self._info()

    def step(self, action: Any):
        check_step_allowed(self._started, self._ended)
        a = check_index_action(action, 4, " (0 up, 1 right, 2 down, 3 left)")
        if self.slip > 0 and self.np_random.random() < self.slip:
            a = int(self.np_random.integers(4))
        self.state = int(self._next[self.state, a])
        self.t += 1
        reward = self._reward(self.state)
        terminated = bool(self.terminal[self.state])
        truncated = not terminated and self.t >= self.max_steps
        self._ended = terminated or truncated
        return self._obs(), reward, terminated, truncated, self._info()

    def tabular_model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(P, R, terminal)``: ``P[s, a, s']`` transition probabilities, ``R[s, a, s']`` rewards and the
        boolean mask of terminal states (absorbing, value 0). Truncation is not part of the model."""
        S = self.n_states
        P = np.zeros((S, 4, S))
        for s in range(S):
            for a in range(4):
                P[s, a, self._next[s, a]] += 1.0 - self.slip
                for b in range(4):
                    P[s, a, self._next[s, b]] += self.slip / 4
        R = np.broadcast_to(np.array([self._reward(s) for s in range(S)])[None, None, :], P.shape).copy()
        return P, R, self.terminal.copy()

    def distances(self, walls: bool = True) -> np.ndarray:
        """Steps from each state to the nearest goal: shortest paths around walls (``walls=True``) or
        Manhattan distance ignoring them (a plausible but misspecified heuristic)."""
        goals = [i for i, c in enumerate(self.cells) if self.grid[c] == "G"]
        if not walls:
            cells = np.array(self.cells)
            g = cells[goals]
            return np.abs(cells[:, None, :] - g[None, :, :]).sum(-1).min(1).astype(float)
        dist = np.full(self.n_states, np.inf)
        queue = deque(goals)
        dist[goals] = 0
        while queue:
            s = queue.popleft()
            for a in range(4):
                n = int(self._next[s, a])
                if dist[n] == np.inf:
                    dist[n] = dist[s] + 1
                    queue.append(n)
        return dist

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        grid = self.grid.copy()
        grid[self.cells[self.state]] = "A"
        return "\n".join("".join(row) for row in grid)
