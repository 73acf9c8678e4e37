"""Logged, scored trajectories: the data of offline alignment (DPO, QRPO, RPO, DRO).

A "prompt" is an instance (the reset seed of a text env: a Sokoban level, a WebShop goal), a
"completion" a whole trajectory played from it, and its score the episode's return or success
(``../shared/reference/alignment.md`` section 7). :class:`LoggedTrajectories` holds many
trajectories per instance from a mix of behaviour policies (:func:`collect_logged_trajectories`),
and optionally the scores of reference-policy samples per instance (:func:`reference_scores`,
QRPO's quantiles).

File format (why not Minari): one versioned, compressed ``.npz`` read with ``allow_pickle=False``
and bounded sizes, like :class:`~.datasets.TransitionDataset`. Minari stores steps per episode in
HDF5 and needs a registered env spec; these datasets are defined by per-episode columns (instance,
behaviour source, score) and per-instance reference scores, which Minari keeps only as free-form
metadata, and the text envs' dict observations round-trip here exactly. Arrays:

========================  =================  =============================================
``obs/<key>``             ``[steps, ...]``   observation ``s_t`` (dict keys of the env's space)
``actions``               ``[steps]``        int64 action indices
``rewards``               ``[steps]``        float64 rewards
``lengths``               ``[episodes]``     steps per episode (episodes are consecutive)
``instances``             ``[episodes]``     the reset seed the episode started from
``success``               ``[episodes]``     bool: the last step's ``info["won"]``
``terminated``            ``[episodes]``     bool: ended by termination (not truncation)
``sources``               ``[episodes]``     index into ``source_names`` (the behaviour policy)
``ref_instances``         ``[m]``            instances with reference samples (may be empty)
``ref_returns``           ``[m, n]``         returns of ``n`` reference-policy samples each
``ref_success``           ``[m, n]``         their success
``meta``                  JSON text          ``source_names``, spaces, env id, generator settings
========================  =================  =============================================
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlsuite.evaluation import run_episode
from rlsuite.files import atomic_write
from rlsuite.validation import check_int, check_seeds

from .spaces import space_from_json, space_to_json

#: Version of the ``.npz`` layout written by :meth:`LoggedTrajectories.save`.
LOGGED_FORMAT_VERSION = 1
#: Largest file :meth:`LoggedTrajectories.load` reads (uncompressed bytes of all arrays).
MAX_LOGGED_BYTES = 4 * 1024**3
#: The array columns of a file besides the observations (``obs/<key>``) and ``meta``.
COLUMNS = (
    "actions",
    "rewards",
    "lengths",
    "instances",
    "success",
    "terminated",
    "sources",
    "ref_instances",
    "ref_returns",
    "ref_success",
)
SCORES = ("return", "success")
"""What a trajectory's reward ``r(x, y)`` is: the episode's return or its success (0/1)."""


@dataclass(frozen=True)
class LoggedTrajectories:
    """Scored trajectories grouped by instance (see the module docstring for the columns)."""

    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    instances: np.ndarray
    success: np.ndarray
    terminated: np.ndarray
    sources: np.ndarray
    source_names: tuple[str, ...]
    observation_space: spaces.Dict
    action_space: spaces.Discrete
    ref_instances: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ref_returns: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    ref_success: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    env_id: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.observation_space, spaces.Dict):
            raise ValueError(f"observation_space: got {self.observation_space!r}; must be a Dict (text envs)")
        if not isinstance(self.action_space, spaces.Discrete):
            raise ValueError(f"action_space: got {self.action_space!r}; must be Discrete")
        _check_integral("lengths", np.asarray(self.lengths))
        lengths = np.asarray(self.lengths, dtype=np.int64)
        n_eps = len(lengths)
        if n_eps == 0 or lengths.ndim != 1 or lengths.min() < 1:
            raise ValueError(f"lengths: got {lengths!r}; need one length >= 1 per episode, at least one")
        steps = int(lengths.sum())
        if set(self.observations) != set(self.observation_space.spaces):
            raise ValueError(
                f"observations: keys {sorted(self.observations)}; the space has "
                f"{sorted(self.observation_space.spaces)}"
            )
        obs = {}
        for key, sub in self.observation_space.spaces.items():
            arr = np.asarray(self.observations[key])
            shape = (steps, *(sub.shape or ()))
            if arr.shape != shape:
                raise ValueError(f"observations[{key!r}]: shape {arr.shape}; expected {shape}")
            _check_in_space(f"observations[{key!r}]", arr, sub)
            obs[key] = arr.astype(sub.dtype, copy=False)
        per_step = {"actions": np.int64, "rewards": np.float64}
        per_episode = {
            "instances": np.int64,
            "success": bool,
            "terminated": bool,
            "sources": np.int64,
        }
        arrays: dict[str, np.ndarray] = {"lengths": lengths}
        for name, dtype in {**per_step, **per_episode}.items():
            arr = np.asarray(getattr(self, name))
            rows = steps if name in per_step else n_eps
            if arr.shape != (rows,):
                raise ValueError(f"{name}: shape {arr.shape}; expected ({rows},)")
            if dtype is not np.float64:
                _check_integral(name, arr)
            arrays[name] = arr.astype(dtype, copy=False)
        if not np.isfinite(arrays["rewards"]).all():
            raise ValueError("rewards: NaN or inf; logged rewards must be finite")
        a = arrays["actions"]
        if a.min() < 0 or a.max() >= self.action_space.n:
            raise ValueError(
                f"actions: values in [{a.min()}, {a.max()}]; the action space is {self.action_space}"
            )
        names = tuple(self.source_names)
        if not names or not all(isinstance(s, str) for s in names):
            raise ValueError(f"source_names: got {self.source_names!r}; must be a non-empty list of names")
        if arrays["sources"].min() < 0 or arrays["sources"].max() >= len(names):
            raise ValueError(f"sources: indices outside the {len(names)} source_names")
        ref_i = np.asarray(self.ref_instances, dtype=np.int64).reshape(-1)
        ref_r = np.asarray(self.ref_returns, dtype=np.float64)
        ref_s = np.asarray(self.ref_success, dtype=bool)
        if len(ref_i):
            if (
                ref_r.ndim != 2
                or ref_r.shape[0] != len(ref_i)
                or ref_r.shape[1] < 1
                or ref_s.shape != ref_r.shape
            ):
                raise ValueError(
                    f"ref_returns, ref_success: shapes {ref_r.shape}, {ref_s.shape}; both must be "
                    f"[{len(ref_i)} ref_instances, n >= 1]"
                )
            if len(np.unique(ref_i)) != len(ref_i):
                raise ValueError("ref_instances: repeated instances")
            if not np.isfinite(ref_r).all():
                raise ValueError("ref_returns: NaN or inf")
        else:
            ref_r, ref_s = np.zeros((0, 0)), np.zeros((0, 0), bool)
        arrays.update(ref_instances=ref_i, ref_returns=ref_r, ref_success=ref_s)
        for arr in [*obs.values(), *arrays.values()]:
            arr.setflags(write=False)
        object.__setattr__(self, "observations", obs)
        object.__setattr__(self, "source_names", names)
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)

    # ------------------------------------------------------------------ views
    @property
    def n_episodes(self) -> int:
        return len(self.lengths)

    @property
    def starts(self) -> np.ndarray:
        """Index of each episode's first step row."""
        return np.r_[0, np.cumsum(self.lengths)[:-1]]

    def returns(self) -> np.ndarray:
        """``[episodes]`` undiscounted returns, summed step by step from 0 like
        :func:`~rlsuite.evaluation.run_episode` (so a trajectory logged here and the same one
        played as a reference sample get bit-identical returns: QRPO credits ties)."""
        return np.array(
            [
                sum(self.rewards[s : s + n].tolist(), 0.0)
                for s, n in zip(self.starts, self.lengths, strict=True)
            ]
        )

    def scores(self, score: str) -> np.ndarray:
        """``[episodes]`` rewards ``r(x, y)``: the ``return`` or the ``success`` (as 0/1 floats)."""
        if score not in SCORES:
            raise ValueError(f"score: got {score!r}; allowed: {list(SCORES)}")
        return self.returns() if score == "return" else self.success.astype(np.float64)

    def reference_scores(self, score: str) -> dict[int, np.ndarray]:
        """Per instance, the scores of its reference samples (empty without reference samples)."""
        ref = self.ref_returns if score == "return" else self.ref_success.astype(np.float64)
        return {int(i): ref[k] for k, i in enumerate(self.ref_instances)}

    def step_rows(self, episodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, owner)``: the step rows of ``episodes`` (in order) and, per row, the position in
        ``episodes`` of the episode it belongs to."""
        episodes = np.asarray(episodes, dtype=np.int64)
        lengths = self.lengths[episodes]
        owner = np.repeat(np.arange(len(episodes)), lengths)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(self.starts[episodes], lengths) + offsets, owner

    def action_sequences(self) -> list[bytes]:
        """Each episode's action sequence as bytes (equal bytes: the same trajectory of a
        deterministic env from the same instance)."""
        return [self.actions[s : s + n].tobytes() for s, n in zip(self.starts, self.lengths, strict=True)]

    def with_reference(
        self, instances: Sequence[int], returns: np.ndarray, success: np.ndarray
    ) -> LoggedTrajectories:
        """A copy with these reference scores (``[len(instances), n]`` each) instead of the old ones."""
        return replace(
            self,
            ref_instances=np.asarray(instances, dtype=np.int64),
            ref_returns=np.asarray(returns, dtype=np.float64),
            ref_success=np.asarray(success, dtype=bool),
        )

    def summary(self) -> dict[str, Any]:
        """Counts, and success rate and mean return per behaviour source."""
        ret = self.returns()
        per = {
            name: {
                "episodes": int((self.sources == k).sum()),
                "success": float(self.success[self.sources == k].mean())
                if (self.sources == k).any()
                else 0.0,
                "mean_return": float(ret[self.sources == k].mean()) if (self.sources == k).any() else 0.0,
            }
            for k, name in enumerate(self.source_names)
        }
        return {
            "episodes": self.n_episodes,
            "steps": int(self.lengths.sum()),
            "instances": len(np.unique(self.instances)),
            "reference_samples": int(self.ref_returns.size),
            "sources": per,
        }

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write a compressed ``.npz`` (atomically; arrays and JSON text only, no pickle). Integer
        observation boxes are stored in the smallest dtype that holds their range."""
        arrays: dict[str, Any] = {}
        for key, arr in self.observations.items():
            sub = self.observation_space[key]
            small = arr
            if np.issubdtype(arr.dtype, np.integer) and isinstance(sub, spaces.Box):
                small = arr.astype(
                    np.promote_types(
                        np.min_scalar_type(int(np.max(sub.high))), np.min_scalar_type(int(np.min(sub.low)))
                    )
                )
            arrays[f"obs/{key}"] = small
        for name in COLUMNS:
            arrays[name] = getattr(self, name)
        meta = {
            "format_version": LOGGED_FORMAT_VERSION,
            "source_names": list(self.source_names),
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "env_id": self.env_id,
            "settings": self.settings,
        }
        arrays["meta"] = np.asarray(json.dumps(meta))
        with atomic_write(Path(path), "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> LoggedTrajectories:
        """Read a file written by :meth:`save`: arrays only (``allow_pickle=False``), sizes bounded
        before reading, every check of the constructor applied."""
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                total = sum(info.file_size for info in zf.infolist())
        except (OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a file written by LoggedTrajectories.save ({e})") from e
        if total > MAX_LOGGED_BYTES:
            raise ValueError(f"{path}: {total} bytes of arrays; at most {MAX_LOGGED_BYTES} are read")
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise ValueError(f"{path}: no 'meta' entry; not a LoggedTrajectories file")
            try:
                meta = json.loads(str(data["meta"]))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: 'meta' is not JSON ({e})") from e
            if not isinstance(meta, dict) or meta.get("format_version") != LOGGED_FORMAT_VERSION:
                got = meta.get("format_version") if isinstance(meta, dict) else meta
                raise ValueError(f"{path}: format_version {got!r}; rlsuite reads {LOGGED_FORMAT_VERSION}")
            for key in ("source_names", "observation_space", "action_space"):
                if key not in meta:
                    raise ValueError(f"{path}: meta has no {key!r}; not a LoggedTrajectories file")
            names = meta["source_names"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"{path}: meta['source_names'] must be a list of names; got {names!r}")
            obs_space = space_from_json(meta["observation_space"], "observation_space")
            act_space = space_from_json(meta["action_space"], "action_space")
            if not isinstance(obs_space, spaces.Dict) or not isinstance(act_space, spaces.Discrete):
                raise ValueError(f"{path}: spaces {obs_space}, {act_space}; expected Dict and Discrete")
            expected = {f"obs/{k}" for k in obs_space.spaces} | {*COLUMNS, "meta"}
            if set(data.files) != expected:
                raise ValueError(f"{path}: arrays {sorted(data.files)}; expected {sorted(expected)}")
            columns = {
                name: data[name] for name in expected if not name.startswith("obs/") and name != "meta"
            }
            observations = {k: data[f"obs/{k}"] for k in obs_space.spaces}
        settings = meta.get("settings", {})
        return cls(
            observations=observations,
            source_names=tuple(names),
            observation_space=obs_space,
            action_space=act_space,
            env_id=str(meta.get("env_id", "")),
            settings=settings if isinstance(settings, dict) else {},
            **columns,
        )


def _check_integral(name: str, arr: np.ndarray) -> None:
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: dtype {arr.dtype}; must be numeric")
    if np.issubdtype(arr.dtype, np.floating) and not (
        np.isfinite(arr).all() and (arr == np.round(arr)).all()
    ):
        raise ValueError(f"{name}: non-integer values; must hold whole numbers")


def _check_in_space(name: str, arr: np.ndarray, space: spaces.Space) -> None:
    """Every row of ``arr`` inside ``space`` (Box bounds, MultiBinary 0/1), so nothing changes on save."""
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: dtype {arr.dtype}; must be numeric")
    if isinstance(space, spaces.Box):
        if np.issubdtype(space.dtype, np.integer):
            _check_integral(name, arr)
        if not ((arr >= space.low).all() and (arr <= space.high).all()):
            raise ValueError(f"{name}: values in [{arr.min()}, {arr.max()}] outside the space {space}")
    elif isinstance(space, spaces.MultiBinary):
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name}: values other than 0 and 1 in a MultiBinary space")
    else:
        raise ValueError(f"{name}: space {space!r}; logged observations are Box or MultiBinary entries")


def collect_logged_trajectories(
    env: gym.Env,
    sources: Mapping[str, Any],
    instances: Sequence[int],
    samples_per_instance: int,
    env_id: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> LoggedTrajectories:
    """Play ``samples_per_instance`` episodes from every instance (reset seed), cycling through
    the behaviour ``sources`` (``{name: policy with predict(obs)}``): sample ``j`` of an instance
    comes from source ``j % len(sources)``, so every instance gets the same mix. Stochastic
    sources (an :class:`~rlsuite.baselines.text_experts.EpsilonPolicy`, a model sampled through
    :class:`SampledPolicy`) use their own seeded generators, so the dataset is reproducible.
    ``progress(done, total)`` is called after each episode."""
    if not sources:
        raise ValueError("sources: empty; give at least one behaviour policy")
    k = check_int("samples_per_instance", samples_per_instance, 1)
    seeds = check_seeds("instances", list(instances))
    if not seeds:
        raise ValueError("instances: empty")
    names = list(sources)
    cols: dict[str, list[Any]] = {
        n: [] for n in ("actions", "rewards", "lengths", "instances", "success", "terminated", "sources")
    }
    obs_rows: list[dict[str, np.ndarray]] = []
    total, done = len(seeds) * k, 0
    for seed in seeds:
        for j in range(k):
            ep = run_episode(env, sources[names[j % len(names)]], seed, record=True)
            assert ep.observations is not None and ep.actions is not None and ep.rewards is not None
            obs_rows += [{key: np.asarray(v) for key, v in o.items()} for o in ep.observations]
            cols["actions"] += [int(np.asarray(a)) for a in ep.actions]
            cols["rewards"].append(ep.rewards)
            cols["lengths"].append(ep.length)
            cols["instances"].append(seed)
            cols["success"].append(bool(ep.final_info.get("won", False)))
            cols["terminated"].append(ep.terminated)
            cols["sources"].append(j % len(names))
            done += 1
            if progress is not None:
                progress(done, total)
    space = env.observation_space
    assert isinstance(space, spaces.Dict) and isinstance(env.action_space, spaces.Discrete)
    return LoggedTrajectories(
        observations={key: np.stack([o[key] for o in obs_rows]) for key in space.spaces},
        actions=np.array(cols["actions"], dtype=np.int64),
        rewards=np.concatenate(cols["rewards"]),
        lengths=np.array(cols["lengths"]),
        instances=np.array(cols["instances"]),
        success=np.array(cols["success"]),
        terminated=np.array(cols["terminated"]),
        sources=np.array(cols["sources"]),
        source_names=tuple(names),
        observation_space=space,
        action_space=env.action_space,
        env_id=env_id,
        settings={"samples_per_instance": k, "n_instances": len(seeds)},
    )


class SampledPolicy:
    """A model's stochastic policy as a behaviour source: ``predict(obs)`` samples
    (``deterministic=False``) from the model's own seeded generator."""

    def __init__(self, model: Any) -> None:
        if not hasattr(model, "predict"):
            raise TypeError(f"model: got {type(model).__name__}; must have predict(obs, deterministic=)")
        self.model = model

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> Any:
        return self.model.predict(observation, deterministic=False)


def reference_scores(
    env: gym.Env | gym.vector.VectorEnv, policy: Any, instances: Sequence[int], n: int, max_steps: int = 1000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(instances, returns [m, n], success [m, n])``: ``n`` episodes of the reference ``policy``
    (sampled: wrap a model in :class:`SampledPolicy`) from every instance, for QRPO's quantile
    rewards (:meth:`LoggedTrajectories.with_reference`).

    ``env`` is a single env (one episode after another) or, much faster for a model, a vector env
    of ``k * n`` copies: the ``n`` samples of ``k`` consecutive instances are played as one batch
    of grouped episodes (:func:`~.groups.collect_grouped_episodes`, at most ``max_steps`` steps);
    both give every episode the return :func:`~rlsuite.evaluation.run_episode` would."""
    n = check_int("n", n, 1)
    seeds = check_seeds("instances", list(dict.fromkeys(instances)))
    returns = np.zeros((len(seeds), n))
    success = np.zeros((len(seeds), n), bool)
    if isinstance(env, gym.vector.VectorEnv):
        from .groups import collect_grouped_episodes

        if env.num_envs % n:
            raise ValueError(f"env: {env.num_envs} copies; a vector env needs a multiple of n={n}")
        per_call, row = env.num_envs // n, 0
        while row < len(seeds):  # runs of consecutive instances, per_call at a time
            stop = row + 1
            while stop < len(seeds) and stop - row < per_call and seeds[stop] == seeds[stop - 1] + 1:
                stop += 1
            eps = collect_grouped_episodes(
                env, lambda obs, active: (np.asarray(policy.predict(obs)[0]), {}), n, seeds[row], max_steps
            )
            k = stop - row
            returns[row:stop] = eps.returns[: k * n].reshape(k, n)
            won = eps.final_infos.get("won", np.zeros(env.num_envs, bool))
            success[row:stop] = np.asarray(won[: k * n], bool).reshape(k, n)
            row = stop
        return np.array(seeds, dtype=np.int64), returns, success
    for a, seed in enumerate(seeds):
        for b in range(n):
            ep = run_episode(env, policy, seed)
            returns[a, b], success[a, b] = ep.total_reward, bool(ep.final_info.get("won", False))
    return np.array(seeds, dtype=np.int64), returns, success
