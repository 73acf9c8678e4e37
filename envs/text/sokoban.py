"""Sokoban for text agents: procedurally generated, solvable by construction, deterministic per seed.

Levels are generated like gym-sokoban (a random-walk room, targets and player placed on its
floor, then *reverse play*: the player walks and pulls boxes away from the solved state, so the
level is solvable by construction), but with an explicit ``numpy.random.Generator`` and no
global state. Every level is then solved by breadth-first search (:func:`solve`), which gives
the optimal number of moves (``info["optimal_moves"]``, the difficulty filter ``min_moves``) and
the expert's plan.

Grid symbols (RAGEN / verl-agent): ``#`` wall, ``_`` floor, ``O`` target, ``X`` box, ``√`` box on
target, ``P`` player, ``S`` player on target. Actions: ``up``, ``down``, ``left``, ``right``
(walking into a box pushes it). Rewards: ``shaped`` (gym-sokoban: -0.1 per step, +1 for a box
pushed onto a target, -1 off it, +10 when solved) or ``sparse`` (1 when solved).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlsuite.validation import ArgumentTypeError, check_bool, check_choice, check_int, check_seed, short_repr

from ..validation import check_index_action, check_step_allowed
from .vocab import Vocabulary

WALL, FLOOR, TARGET, BOX_ON_TARGET, BOX, PLAYER, PLAYER_ON_TARGET = range(7)
SYMBOLS = ("#", "_", "O", "√", "X", "P", "S")
ACTIONS = ("up", "down", "left", "right")
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
REWARD_MODES = ("shaped", "sparse")
MAX_ROOM_SIDE = 16
"""Longest side of ``dim_room`` (walls included): level generation solves every draft by search."""
MAX_BOXES = 6
"""Most boxes: the solver's search space grows combinatorially with them."""
MAX_STEPS = 1_000_000
"""Longest episode (``max_steps``)."""
MAX_TILE_SIZE = 64
"""Largest ``tile_size`` (pixels per cell) of the image observation."""
VOCAB = Vocabulary([*SYMBOLS, *ACTIONS])


@dataclass(frozen=True)
class Level:
    """A Sokoban position: static ``walls`` and ``targets`` (bool ``[h, w]``), the boxes and the player."""

    walls: np.ndarray
    targets: np.ndarray
    boxes: frozenset[tuple[int, int]]
    player: tuple[int, int]

    def grid(self) -> np.ndarray:
        """The symbol grid (int8 codes, see :data:`SYMBOLS`)."""
        g = np.where(self.walls, WALL, np.where(self.targets, TARGET, FLOOR)).astype(np.int8)
        for r, c in self.boxes:
            g[r, c] = BOX_ON_TARGET if self.targets[r, c] else BOX
        r, c = self.player
        g[r, c] = PLAYER_ON_TARGET if self.targets[r, c] else PLAYER
        return g

    @classmethod
    def from_grid(cls, grid: np.ndarray) -> Level:
        g = np.asarray(grid)
        if g.ndim != 2 or not np.isin(g, range(7)).all():
            raise ValueError(f"grid: expected a 2-D array of codes 0..6, got shape {g.shape}")
        players = np.argwhere((g == PLAYER) | (g == PLAYER_ON_TARGET))
        if len(players) != 1:
            raise ValueError(f"grid: expected exactly one player, found {len(players)}")
        boxes = frozenset((r, c) for r, c in np.argwhere((g == BOX) | (g == BOX_ON_TARGET)).tolist())
        targets = np.isin(g, (TARGET, BOX_ON_TARGET, PLAYER_ON_TARGET))
        return cls(g == WALL, targets, boxes, tuple(players[0].tolist()))

    @property
    def solved(self) -> bool:
        return all(self.targets[b] for b in self.boxes)

    def text(self) -> str:
        return "\n".join("".join(SYMBOLS[v] for v in row) for row in self.grid())


def step_level(level: Level, action: int) -> tuple[Level, int]:
    """Apply one move; returns the new level and the change in boxes on targets (-1, 0, +1).
    A blocked move returns the same level."""
    dr, dc = MOVES[action]
    r, c = level.player
    nxt = (r + dr, c + dc)
    if level.walls[nxt]:
        return level, 0
    if nxt in level.boxes:
        beyond = (nxt[0] + dr, nxt[1] + dc)
        if level.walls[beyond] or beyond in level.boxes:
            return level, 0
        boxes = (level.boxes - {nxt}) | {beyond}
        delta = int(level.targets[beyond]) - int(level.targets[nxt])
        return Level(level.walls, level.targets, frozenset(boxes), nxt), delta
    return Level(level.walls, level.targets, level.boxes, nxt), 0


def _dead_cells(walls: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Floor cells in a corner (two orthogonal walls) that are not targets: a box there is stuck."""
    h, w = walls.shape
    dead = np.zeros_like(walls)
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            if walls[r, c] or targets[r, c]:
                continue
            vert = walls[r - 1, c] or walls[r + 1, c]
            horiz = walls[r, c - 1] or walls[r, c + 1]
            dead[r, c] = vert and horiz
    return dead


def is_deadlocked(level: Level) -> bool:
    """A box off target in a corner (the simple deadlock test)."""
    dead = _dead_cells(level.walls, level.targets)
    return any(dead[b] for b in level.boxes)


def solve(level: Level, max_nodes: int = 200_000) -> list[int] | None:
    """An optimal (fewest moves) solution by breadth-first search over (player, boxes), pruning
    pushes into dead corners; None if unsolvable or more than ``max_nodes`` states are needed."""
    if level.solved:
        return []
    dead = _dead_cells(level.walls, level.targets)
    walls, targets = level.walls, level.targets
    start = (level.player, tuple(sorted(level.boxes)))
    parent: dict[Any, tuple[Any, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        (r, c), boxes = state
        box_set = set(boxes)
        for a, (dr, dc) in enumerate(MOVES):
            nxt = (r + dr, c + dc)
            if walls[nxt]:
                continue
            if nxt in box_set:
                beyond = (nxt[0] + dr, nxt[1] + dc)
                if walls[beyond] or beyond in box_set or dead[beyond]:
                    continue
                new_boxes = tuple(sorted((box_set - {nxt}) | {beyond}))
            else:
                new_boxes = boxes
            child = (nxt, new_boxes)
            if child in parent:
                continue
            parent[child] = (state, a)
            if all(targets[b] for b in new_boxes):
                plan = []
                node: Any = child
                while (link := parent[node]) is not None:
                    node, act = link
                    plan.append(act)
                return plan[::-1]
            if len(parent) > max_nodes:
                return None
            queue.append(child)
    return None


def _room_topology(rng: np.random.Generator, h: int, w: int, steps: int) -> np.ndarray:
    """Random-walk floor carving inside a wall border (gym-sokoban's topology stage); True = wall."""
    walls = np.ones((h, w), dtype=bool)
    r, c = int(rng.integers(1, h - 1)), int(rng.integers(1, w - 1))
    d = int(rng.integers(4))
    for _ in range(steps):
        walls[r, c] = False
        if rng.random() < 0.35:
            d = int(rng.integers(4))
        nr, nc = r + MOVES[d][0], c + MOVES[d][1]
        if 1 <= nr < h - 1 and 1 <= nc < w - 1:
            r, c = nr, nc
            # Carve a little wider now and then, so rooms are not only corridors.
            if rng.random() < 0.3:
                dr, dc = MOVES[int(rng.integers(4))]
                if 1 <= r + dr < h - 1 and 1 <= c + dc < w - 1:
                    walls[r + dr, c + dc] = False
    return walls


def _reverse_play(rng: np.random.Generator, level: Level, steps: int, walks: int = 4) -> tuple[Level, float]:
    """Walk from the solved position pulling boxes (reverse pushes), ``walks`` times; keep the
    most scrambled position: score = total distance of the boxes from the targets, plus a
    little for each pull (ties go to positions that took more pulls to reach)."""
    targets = [tuple(t) for t in np.argwhere(level.targets).tolist()]
    best, best_score = level, 0.0
    for _ in range(walks):
        cur = level
        pulls = 0
        for _ in range(steps):
            a = int(rng.integers(4))
            dr, dc = MOVES[a]
            r, c = cur.player
            nxt = (r + dr, c + dc)
            if cur.walls[nxt] or nxt in cur.boxes:
                continue
            behind = (r - dr, c - dc)
            boxes = cur.boxes
            if behind in boxes and rng.random() < 0.8:  # pull the box behind the player
                boxes = (boxes - {behind}) | {(r, c)}
                pulls += 1
            cur = Level(cur.walls, cur.targets, frozenset(boxes), nxt)
            if cur.solved:
                continue
            dist = sum(min(abs(b[0] - t[0]) + abs(b[1] - t[1]) for t in targets) for b in cur.boxes)
            score = dist + 0.01 * pulls
            if score > best_score:
                best, best_score = cur, score
    return best, best_score


def generate_level(
    rng: np.random.Generator,
    dim_room: tuple[int, int] = (6, 6),
    num_boxes: int = 1,
    min_moves: int = 1,
    max_moves: int | None = None,
    max_tries: int = 200,
) -> tuple[Level, list[int]]:
    """A level and an optimal solution, drawn from ``rng``; the level's optimal move count is
    in ``[min_moves, max_moves]``. Raises ``RuntimeError`` after ``max_tries`` rejected drafts."""
    h, w = dim_room
    steps = int(1.7 * (h + w))
    for _ in range(max_tries):
        walls = _room_topology(rng, h, w, steps * 2)
        floor = [tuple(x) for x in np.argwhere(~walls).tolist()]
        if len(floor) < 2 * num_boxes + 2:
            continue
        picks = rng.choice(len(floor), num_boxes + 1, replace=False)
        targets = np.zeros_like(walls)
        boxes = []
        for i in picks[:num_boxes]:
            targets[floor[i]] = True
            boxes.append(floor[i])
        solved = Level(walls, targets, frozenset(boxes), floor[picks[-1]])
        level, score = _reverse_play(rng, solved, 30 * (h + w))
        if score <= 0:
            continue
        plan = solve(level)
        if plan is None or len(plan) < min_moves or (max_moves is not None and len(plan) > max_moves):
            continue
        return level, plan
    raise RuntimeError(
        f"could not generate a {h}x{w} level with {num_boxes} boxes and {min_moves}..{max_moves} "
        f"optimal moves in {max_tries} tries; relax min_moves / max_moves"
    )


def render_rgb(grid: np.ndarray, tile: int = 16) -> np.ndarray:
    """An RGB image ``[h * tile, w * tile, 3]`` uint8 of the grid (flat colours, no assets)."""
    colors = np.array(
        [
            [60, 60, 60],  # wall
            [230, 220, 200],  # floor
            [230, 220, 200],  # target (floor + red ring)
            [60, 170, 80],  # box on target
            [180, 120, 50],  # box
            [50, 90, 200],  # player
            [50, 90, 200],  # player on target
        ],
        dtype=np.uint8,
    )
    img = np.repeat(np.repeat(colors[grid], tile, 0), tile, 1)
    ring = np.zeros((tile, tile), dtype=bool)
    ring[[1, -2], 1:-1] = True
    ring[1:-1, [1, -2]] = True
    for r, c in np.argwhere(np.isin(grid, (TARGET, BOX_ON_TARGET, PLAYER_ON_TARGET))):
        img[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile][ring] = (200, 40, 40)
    return img


class SokobanEnv(gym.Env):
    """Sokoban with the text-agent observation contract.

    Args:
        dim_room: ``(height, width)`` including the wall border.
        num_boxes: boxes (and targets).
        max_steps: the episode is truncated after this many steps.
        reward_mode: ``shaped`` (gym-sokoban's) or ``sparse`` (1 on success).
        min_moves, max_moves: the optimal solution length of accepted levels (difficulty filter).
        deadlock_detection: end the episode (terminated, ``info["deadlock"]``) when a box is
            pushed into a non-target corner.
        visual: add an ``image`` observation (``[h * tile_size, w * tile_size, 3]`` uint8 tiles,
            the "VisualSokoban" variant).
        render_mode: ``ansi`` (the symbol grid) or ``rgb_array`` (coloured tiles).

    Observation (``Dict``): ``tokens`` (the grid's symbols as word ids, row by row,
    ``[h * w]``), ``action_mask`` (1 = the move changes the position), ``action_tokens`` (word
    ids of the four actions, ``[4, 1]``) and ``grid`` (symbol codes ``[h, w]``, see
    :data:`SYMBOLS`). Action: an index into ``info["admissible_actions"]`` = ``up, down, left,
    right``. ``info`` has ``text`` (the grid), ``admissible_actions``, ``is_action_valid``,
    ``action_is_effective``, ``won``, ``deadlock`` and, at reset, ``optimal_moves``.

    Actions are integers in ``[0, 3]`` (Python or NumPy integers); floats, bools and strings raise.
    ``step`` before ``reset`` or after the episode ended (solved, deadlocked or truncated) raises
    ``RuntimeError``; no reward is paid after the end.
    """

    # gymnasium.Env declares metadata as an instance attribute; it is a class constant.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # type: ignore[misc]

    def __init__(
        self,
        dim_room: tuple[int, int] = (6, 6),
        num_boxes: int = 1,
        max_steps: int = 100,
        reward_mode: str = "shaped",
        min_moves: int = 1,
        max_moves: int | None = None,
        deadlock_detection: bool = False,
        visual: bool = False,
        tile_size: int = 16,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(dim_room, (tuple, list)) or len(dim_room) != 2:
            raise ArgumentTypeError(f"dim_room: got {short_repr(dim_room)}; must be a pair (height, width)")
        h, w = (check_int("dim_room", x, 4, MAX_ROOM_SIDE) for x in dim_room)
        num_boxes = check_int("num_boxes", num_boxes, 1, min(MAX_BOXES, (h - 2) * (w - 2) // 4))
        max_steps = check_int("max_steps", max_steps, 1, MAX_STEPS)
        check_choice("reward_mode", reward_mode, REWARD_MODES)
        min_moves = check_int("min_moves", min_moves, 0, 10 * h * w * num_boxes)
        if max_moves is not None:
            max_moves = check_int("max_moves", max_moves, min_moves)
        tile_size = check_int("tile_size", tile_size, 1, MAX_TILE_SIZE)
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        self.dim_room, self.num_boxes, self.max_steps = (h, w), num_boxes, max_steps
        self.reward_mode, self.min_moves, self.max_moves = reward_mode, min_moves, max_moves
        self.deadlock_detection = check_bool("deadlock_detection", deadlock_detection)
        self.render_mode = render_mode
        self.visual, self.tile_size = check_bool("visual", visual), tile_size
        self.vocab = VOCAB
        self.action_space = spaces.Discrete(len(ACTIONS))
        v = len(self.vocab)
        self.observation_space = spaces.Dict(
            {
                "tokens": spaces.Box(0, v - 1, (h * w,), np.int64),
                "action_mask": spaces.MultiBinary(len(ACTIONS)),
                "action_tokens": spaces.Box(0, v - 1, (len(ACTIONS), 1), np.int64),
                "grid": spaces.Box(0, len(SYMBOLS) - 1, (h, w), np.int8),
            }
        )
        if self.visual:
            self.observation_space["image"] = spaces.Box(
                0, 255, (h * self.tile_size, w * self.tile_size, 3), np.uint8
            )
        self._action_tokens = np.array([[self.vocab.index[a]] for a in ACTIONS], dtype=np.int64)
        self._symbol_ids = np.array([self.vocab.index[s] for s in SYMBOLS], dtype=np.int64)
        self.level: Level | None = None
        self.optimal_plan: list[int] = []
        self._steps = 0
        self._ended = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=check_seed("seed", seed))
        if options:
            raise ValueError(f"options: unknown keys {sorted(options)}; Sokoban takes none")
        self.level, self.optimal_plan = generate_level(
            self.np_random, self.dim_room, self.num_boxes, self.min_moves, self.max_moves
        )
        self._steps = 0
        self._ended = False
        info = self._info(valid=True, effective=True, deadlock=False)
        info["optimal_moves"] = len(self.optimal_plan)
        return self._obs(), info

    def step(self, action: Any):
        check_step_allowed(self.level is not None, self._ended)
        assert self.level is not None
        action = check_index_action(action, len(ACTIONS), f" ({', '.join(ACTIONS)})")
        new, delta = step_level(self.level, action)
        effective = new is not self.level
        self.level = new
        self._steps += 1
        won = new.solved
        deadlock = self.deadlock_detection and not won and is_deadlocked(new)
        if self.reward_mode == "shaped":
            reward = -0.1 + float(delta) + (10.0 if won else 0.0)
        else:
            reward = 1.0 if won else 0.0
        terminated = won or deadlock
        truncated = not terminated and self._steps >= self.max_steps
        self._ended = terminated or truncated
        return self._obs(), reward, terminated, truncated, self._info(True, effective, deadlock)

    def action_mask(self) -> np.ndarray:
        """1 for each move that changes the position (all ones if none does)."""
        assert self.level is not None
        mask = np.array([step_level(self.level, a)[0] is not self.level for a in range(4)], dtype=np.int8)
        return mask if mask.any() else np.ones(4, dtype=np.int8)

    def _obs(self) -> dict[str, np.ndarray]:
        assert self.level is not None
        grid = self.level.grid()
        obs = {
            "tokens": self._symbol_ids[grid.reshape(-1)],
            "action_mask": self.action_mask(),
            "action_tokens": self._action_tokens.copy(),
            "grid": grid,
        }
        if self.visual:
            obs["image"] = render_rgb(grid, self.tile_size)
        return obs

    def _info(self, valid: bool, effective: bool, deadlock: bool) -> dict[str, Any]:
        assert self.level is not None
        return {
            "text": self.level.text(),
            "admissible_actions": list(ACTIONS),
            "is_action_valid": valid,
            "action_is_effective": effective,
            "won": self.level.solved,
            "deadlock": deadlock,
        }

    def render(self) -> Any:
        if self.level is None:
            raise RuntimeError("call reset() before render()")
        if self.render_mode == "ansi":
            return self.level.text()
        if self.render_mode == "rgb_array":
            return render_rgb(self.level.grid(), self.tile_size)
        gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
        return None
