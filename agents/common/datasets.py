"""Fixed datasets of transitions: the seam for learners that train without an environment.

Offline RL (IQL, AWAC, OPPO, FamO2O) and preference or alignment learners (DPO, QRPO, RPO) see a
fixed table of transitions instead of an env. :class:`TransitionDataset` is that table, in the
layout of Minari's episodes flattened (one row per step, ``terminations`` / ``truncations`` closing
each episode), so a Minari dataset converts into it column by column. Rewards may be vectors
(``[n, k]``, multi-objective data). It is checked once on construction (shapes, dtypes, finite
values, episodes closed), sampled with an explicit ``torch.Generator`` (no global RNG), and saved
as a plain ``.npz`` that is read back without pickle.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from rlsuite.files import atomic_write
from rlsuite.validation import check_int

from .spaces import space_from_json, space_to_json

#: Version of the ``.npz`` layout written by :meth:`TransitionDataset.save`.
DATASET_FORMAT_VERSION = 1
#: Largest ``.npz`` :meth:`TransitionDataset.load` reads (uncompressed bytes of all arrays).
MAX_DATASET_BYTES = 8 * 1024**3


#: The array columns of a dataset, in order.
ARRAY_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")


class TransitionBatch(NamedTuple):
    """A minibatch of transitions as tensors (leading dimension: the batch)."""

    observations: Tensor
    actions: Tensor
    rewards: Tensor
    next_observations: Tensor
    terminations: Tensor
    truncations: Tensor


@dataclass(frozen=True)
class TransitionDataset:
    """Transitions ``(s, a, r, s', terminated, truncated)``, one row per env step, episodes one
    after another (the last row of every episode has ``terminations | truncations``)."""

    #: ``[n, *obs_shape]`` observations ``s_t``.
    observations: np.ndarray
    #: ``[n, *action_shape]`` actions (integers for discrete actions).
    actions: np.ndarray
    #: ``[n]`` rewards, or ``[n, k]`` for ``k`` objectives.
    rewards: np.ndarray
    #: ``[n, *obs_shape]`` observations ``s_{t+1}`` (the final observation at an episode's end).
    next_observations: np.ndarray
    #: ``[n]`` bool: the episode terminated after this step (no bootstrap).
    terminations: np.ndarray
    #: ``[n]`` bool: the episode was cut after this step (bootstrap from ``next_observations``).
    truncations: np.ndarray
    #: The env's observation space (Box observations); a learner builds its networks from it.
    observation_space: spaces.Space | None = None
    #: The env's action space.
    action_space: spaces.Space | None = None

    def __post_init__(self) -> None:
        arrays = {name: np.asarray(getattr(self, name)) for name in ARRAY_FIELDS}
        n = arrays["observations"].shape[0] if arrays["observations"].ndim else 0
        if n == 0:
            raise ValueError("observations: empty; a dataset needs at least one transition")
        for name, arr in arrays.items():
            if arr.ndim == 0 or arr.shape[0] != n:
                raise ValueError(f"{name}: got shape {arr.shape}; must have {n} rows (one per transition)")
            if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise ValueError(f"{name}: got dtype {arr.dtype}; must be numeric or bool")
            if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
                bad = int(np.nonzero(~np.isfinite(arr).reshape(n, -1).all(axis=1))[0][0])
                raise ValueError(f"{name}: row {bad} is NaN or inf; datasets must be finite")
        if arrays["next_observations"].shape != arrays["observations"].shape:
            raise ValueError(
                f"next_observations: got shape {arrays['next_observations'].shape}; must equal "
                f"observations' {arrays['observations'].shape}"
            )
        if arrays["rewards"].ndim > 2:
            raise ValueError(f"rewards: got shape {arrays['rewards'].shape}; must be [n] or [n, k]")
        for name in ("terminations", "truncations"):
            if arrays[name].shape != (n,) or arrays[name].dtype != bool:
                raise ValueError(f"{name}: got {arrays[name].dtype} {arrays[name].shape}; must be bool [{n}]")
        if not (arrays["terminations"][-1] or arrays["truncations"][-1]):
            raise ValueError(
                "terminations/truncations: the last episode is not closed (last row has neither)"
            )
        self._check_spaces(arrays)
        for name, arr in arrays.items():
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def _check_spaces(self, arrays: dict[str, np.ndarray]) -> None:
        obs_space, act_space = self.observation_space, self.action_space
        if obs_space is not None:
            if not isinstance(obs_space, spaces.Box):
                raise ValueError(f"observation_space: got {obs_space!r}; datasets hold Box observations")
            if arrays["observations"].shape[1:] != obs_space.shape:
                raise ValueError(
                    f"observations: rows of shape {arrays['observations'].shape[1:]}; the observation "
                    f"space is {obs_space.shape}"
                )
        if isinstance(act_space, spaces.Discrete):
            a = arrays["actions"]
            if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
                raise ValueError(
                    f"actions: got {a.dtype} {a.shape}; Discrete actions are one integer per row"
                )
            if a.min() < act_space.start or a.max() >= act_space.start + act_space.n:
                raise ValueError(f"actions: values outside {act_space!r}")
        elif isinstance(act_space, spaces.Box) and arrays["actions"].shape[1:] != act_space.shape:
            raise ValueError(
                f"actions: rows of shape {arrays['actions'].shape[1:]}; the action space is {act_space.shape}"
            )
        elif act_space is not None and not isinstance(act_space, (spaces.Discrete, spaces.Box)):
            raise ValueError(f"action_space: got {act_space!r}; datasets hold Discrete or Box actions")

    @classmethod
    def from_episodes(
        cls,
        episodes: Sequence[Any],
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
    ) -> TransitionDataset:
        """A dataset from episodes recorded by :func:`rlsuite.evaluation.run_episode` with
        ``record=True`` (observations, actions, rewards, final observation, terminated)."""
        cols: dict[str, list[Any]] = {name: [] for name in ARRAY_FIELDS}
        for i, ep in enumerate(episodes):
            if getattr(ep, "observations", None) is None or ep.length == 0:
                raise ValueError(f"episodes[{i}]: not recorded (run_episode(..., record=True)) or empty")
            obs = [np.asarray(o) for o in ep.observations]
            cols["observations"] += obs
            cols["next_observations"] += [*obs[1:], np.asarray(ep.final_observation)]
            cols["actions"] += [np.asarray(a) for a in ep.actions]
            cols["rewards"].append(np.asarray(ep.rewards))
            end = np.zeros(ep.length, dtype=bool)
            end[-1] = True
            cols["terminations"].append(end & ep.terminated)
            cols["truncations"].append(end & (not ep.terminated))
        if not episodes:
            raise ValueError("episodes: empty; a dataset needs at least one episode")
        stacked = {
            k: np.concatenate(v) if k in ("rewards", "terminations", "truncations") else np.stack(v)
            for k, v in cols.items()
        }
        return cls(**stacked, observation_space=observation_space, action_space=action_space)

    @classmethod
    def concatenate(cls, datasets: Sequence[TransitionDataset]) -> TransitionDataset:
        """The episodes of ``datasets`` one after another (D4RL's medium-expert is medium + expert);
        every dataset must have the first one's spaces and row shapes."""
        if not datasets:
            raise ValueError("datasets: empty; concatenate needs at least one dataset")
        first = datasets[0]
        for i, d in enumerate(datasets):
            if not isinstance(d, TransitionDataset):
                raise TypeError(f"datasets[{i}]: got {type(d).__name__}; must be a TransitionDataset")
            if (d.observation_space, d.action_space) != (first.observation_space, first.action_space):
                raise ValueError(f"datasets[{i}]: its spaces differ from datasets[0]'s")
        cols = {name: np.concatenate([getattr(d, name) for d in datasets]) for name in ARRAY_FIELDS}
        return cls(**cols, observation_space=first.observation_space, action_space=first.action_space)

    def __len__(self) -> int:
        return int(self.observations.shape[0])

    @property
    def reward_dim(self) -> int:
        """Number of objectives (1 for scalar rewards)."""
        return 1 if self.rewards.ndim == 1 else int(self.rewards.shape[1])

    @property
    def episode_ends(self) -> np.ndarray:
        """Index one past the last row of each episode."""
        return np.nonzero(self.terminations | self.truncations)[0] + 1

    def episodes(self) -> Iterator[slice]:
        """Row slices of the episodes, in order."""
        start = 0
        for end in self.episode_ends:
            yield slice(start, int(end))
            start = int(end)

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode (``[n_episodes]`` or ``[n_episodes, k]``)."""
        return np.stack([self.rewards[s].sum(axis=0) for s in self.episodes()])

    def sample(
        self, batch_size: int, generator: torch.Generator, device: str | torch.device = "cpu"
    ) -> TransitionBatch:
        """``batch_size`` rows drawn uniformly with replacement."""
        batch_size = check_int("batch_size", batch_size, 1)
        idx = torch.randint(len(self), (batch_size,), generator=generator).numpy()
        return self.batch(idx, device)

    def batch(self, idx: np.ndarray, device: str | torch.device = "cpu") -> TransitionBatch:
        """The rows ``idx`` as tensors on ``device`` (float32 except integer actions and flags)."""

        def t(arr: np.ndarray) -> Tensor:
            x = torch.as_tensor(arr[idx], device=device)
            return x.float() if x.is_floating_point() else x

        return TransitionBatch(
            t(self.observations),
            t(self.actions),
            t(self.rewards),
            t(self.next_observations),
            t(self.terminations),
            t(self.truncations),
        )

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write an uncompressed ``.npz`` (atomically; no pickled objects)."""
        arrays: dict[str, Any] = {name: getattr(self, name) for name in ARRAY_FIELDS}
        arrays["format_version"] = np.asarray(DATASET_FORMAT_VERSION)
        for name in ("observation_space", "action_space"):  # JSON text, never a pickle
            space = getattr(self, name)
            arrays[name] = np.asarray("" if space is None else json.dumps(space_to_json(space)))
        with atomic_write(Path(path), "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> TransitionDataset:
        """Read a file written by :meth:`save`: arrays only (``allow_pickle=False``), sizes bounded,
        every check of the constructor applied."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                total = sum(info.file_size for info in zf.infolist())
        except (OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a dataset file written by TransitionDataset.save ({e})") from e
        if total > MAX_DATASET_BYTES:
            raise ValueError(f"{path}: {total} bytes of arrays; at most {MAX_DATASET_BYTES} are read")
        names = {*ARRAY_FIELDS, "observation_space", "action_space", "format_version"}
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if keys != names:
                raise ValueError(f"{path}: arrays {sorted(keys)}; expected {sorted(names)}")
            version = int(data["format_version"])
            if version != DATASET_FORMAT_VERSION:
                raise ValueError(f"{path}: format_version {version}; rlsuite reads {DATASET_FORMAT_VERSION}")
            found: dict[str, spaces.Space | None] = {}
            for name in ("observation_space", "action_space"):
                text = str(data[name])
                found[name] = space_from_json(json.loads(text), name) if text else None
            return cls(
                **{name: data[name] for name in ARRAY_FIELDS},
                observation_space=found["observation_space"],
                action_space=found["action_space"],
            )
