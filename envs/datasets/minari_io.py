"""Minari (the Farama standard for offline datasets) in and out of rlsuite's
:class:`~rlsuite.agents.common.datasets.TransitionDataset`.

:func:`to_minari` writes a dataset's episodes as a Minari dataset (Arrow storage, no HDF5 needed)
under a root folder; :func:`from_minari` reads one back (any Minari dataset with Box observations
and Box or Discrete actions, e.g. one made by ``minari.DataCollector``). Minari keeps ``T + 1``
observations per episode (the last is the final observation), rlsuite ``T`` rows of
``(s, a, r, s')``: the two layouts convert exactly, and a round trip returns identical arrays.

Where the files live: ``root`` (default: Minari's own, ``MINARI_DATASETS_PATH`` or
``~/.minari/datasets``). Nothing is downloaded; reading parses Minari's JSON metadata and Arrow
tables (no pickle). Minari's environment spec is stored for reference and never used to build an env.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rlsuite.agents.common.datasets import TransitionDataset


def _minari() -> Any:
    try:
        import minari
    except ImportError as err:
        raise ImportError("Minari datasets need the 'offline' extra: pip install 'rlsuite[offline]'") from err
    return minari


def _version() -> str:
    from rlsuite import __version__

    return str(__version__)


@contextlib.contextmanager
def minari_root(root: str | Path | None) -> Iterator[None]:
    """Point Minari at ``root`` (its ``MINARI_DATASETS_PATH``) inside the block; None: unchanged."""
    if root is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(Path(root).resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def to_minari(
    dataset: TransitionDataset,
    dataset_id: str,
    *,
    env_id: str | None = None,
    root: str | Path | None = None,
    algorithm_name: str = "rlsuite",
    description: str | None = None,
    ref_min_score: float | None = None,
    ref_max_score: float | None = None,
) -> Any:
    """Write ``dataset`` as the Minari dataset ``dataset_id`` (``"namespace/name-v0"``), one Minari
    episode per episode of the dataset, in Arrow storage; returns the ``MinariDataset``.
    ``env_id`` (a registered id) is recorded as its env spec; ``ref_min_score`` /
    ``ref_max_score`` give normalised scores (Minari's ``get_normalized_score``)."""
    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    if not isinstance(dataset, TransitionDataset):
        raise TypeError(f"dataset: got {type(dataset).__name__}; must be a TransitionDataset")
    if dataset.observation_space is None or dataset.action_space is None:
        raise ValueError("dataset: needs observation_space and action_space to be written to Minari")
    if dataset.reward_dim != 1:
        raise ValueError(f"dataset: rewards of {dataset.reward_dim} objectives; Minari stores scalar rewards")
    buffers = []
    for i, rows in enumerate(dataset.episodes()):
        obs = np.concatenate([dataset.observations[rows], dataset.next_observations[rows.stop - 1][None]])
        buffers.append(
            EpisodeBuffer(
                id=i,
                observations=obs,
                actions=np.asarray(dataset.actions[rows]),
                rewards=dataset.rewards[rows].astype(np.float64).tolist(),
                terminations=dataset.terminations[rows].tolist(),
                truncations=dataset.truncations[rows].tolist(),
            )
        )
    with minari_root(root), _dataset_size_measured_once() as measure:
        created = minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env=env_id,
            eval_env=env_id,
            observation_space=dataset.observation_space,
            action_space=dataset.action_space,
            algorithm_name=algorithm_name,
            author="rlsuite",
            code_permalink=f"rlsuite {_version()}",
            description=description or f"rlsuite {algorithm_name}: {len(dataset)} transitions",
            ref_min_score=ref_min_score,
            ref_max_score=ref_max_score,
            data_format="arrow",
        )
        created.storage.update_metadata({"dataset_size": measure(created.storage)})
        return created


@contextlib.contextmanager
def _dataset_size_measured_once() -> Iterator[Any]:
    """Minari 0.5's Arrow storage measures the size of the whole dataset folder (a recursive glob)
    after writing each episode's metadata: quadratic in the number of episodes (hours for the ~10k
    short episodes of a random Hopper dataset). While writing, the measurement returns 0; the caller
    measures once at the end with the function this yields (Minari's own)."""
    from minari.dataset.minari_storage import MinariStorage

    measure = MinariStorage.get_size
    MinariStorage.get_size = lambda self: 0.0
    try:
        yield measure
    finally:
        MinariStorage.get_size = measure


def from_minari(dataset_id: str, *, root: str | Path | None = None) -> TransitionDataset:
    """The local Minari dataset ``dataset_id`` as a :class:`TransitionDataset` (never downloads)."""
    minari = _minari()
    with minari_root(root):
        try:
            data = minari.load_dataset(dataset_id, download=False)
        except (FileNotFoundError, ValueError) as e:
            raise ValueError(f"dataset_id: no local Minari dataset {dataset_id!r} ({e})") from e
        cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("observations", "actions", "rewards", "next", "terminations", "truncations")
        }
        for ep in data.iterate_episodes():
            obs = np.asarray(ep.observations)
            if not isinstance(ep.observations, np.ndarray) or len(obs) != len(ep.actions) + 1:
                raise ValueError(
                    f"{dataset_id}: episode {ep.id} has dict/tuple observations or T+1 mismatch; "
                    "TransitionDataset holds Box observations"
                )
            cols["observations"].append(obs[:-1])
            cols["next"].append(obs[1:])
            cols["actions"].append(np.asarray(ep.actions))
            cols["rewards"].append(np.asarray(ep.rewards))
            cols["terminations"].append(np.asarray(ep.terminations, dtype=bool))
            cols["truncations"].append(np.asarray(ep.truncations, dtype=bool))
        obs_space, act_space = data.observation_space, data.action_space
    actions = np.concatenate(cols["actions"])
    return TransitionDataset(
        observations=np.concatenate(cols["observations"]),
        actions=actions,
        rewards=np.concatenate(cols["rewards"]),
        next_observations=np.concatenate(cols["next"]),
        terminations=np.concatenate(cols["terminations"]),
        truncations=np.concatenate(cols["truncations"]),
        observation_space=obs_space,
        action_space=act_space,
    )
