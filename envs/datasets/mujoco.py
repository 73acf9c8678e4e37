"""MuJoCo offline datasets made here, D4RL's way, from rlsuite's own PPO (extra ``offline``).

D4RL's Gym-MuJoCo datasets (Fu et al. 2020) cannot be downloaded in a self-contained library, and
Minari's regenerated ``mujoco/*`` namespace has no medium-replay or medium-expert. This module makes
all five qualities locally, following D4RL's definitions with PPO in place of SAC:

- ``random``: a uniformly random policy;
- ``expert``: the final policy of a full training run;
- ``medium``: the checkpoint of the same run whose return is closest to a third of the expert's
  (D4RL: "trained to approximately 1/3 the performance of the expert");
- ``medium-replay``: every transition the training run collected up to that checkpoint (D4RL: the
  replay buffer of the agent trained to the medium level);
- ``medium-expert``: medium and expert together.

Medium and expert act stochastically (sampled actions, as D4RL's SAC policies), in whole episodes
on reset seeds no other dataset uses. Normalised scores use ``ref_min_score`` = the random
policy's mean return and ``ref_max_score`` = the expert dataset's mean episode return, stored in
each Minari dataset: Minari's ``get_normalized_score`` gives the fraction ``(R - R_random) /
(R_expert - R_random)``, which D4RL reports times 100.

Training (:func:`train_behaviour_policies`) runs once per env and is cached in ``work_dir``: PPO with
CleanRL's MuJoCo settings (those of ``benchmarks/mujoco_returns.py``), a checkpoint and a
deterministic evaluation every ``checkpoint_every`` steps, and every transition recorded in raw
(un-normalised) form. :func:`build_mujoco_datasets` then writes the five Minari datasets
``rlsuite/<env>/<quality>-v0`` (e.g. ``rlsuite/hopper/medium-replay-v0``).

    rlsuite datasets build Hopper-v5                 # train (cached), then write the five datasets
    rlsuite datasets list
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.evaluation import run_episodes
from rlsuite.files import atomic_write
from rlsuite.progress import progress
from rlsuite.validation import check_choice, check_int, check_seed

from .minari_io import minari_root, to_minari

QUALITIES = ("random", "medium", "medium-replay", "medium-expert", "expert")
"""D4RL's five dataset qualities, in its order of increasing return (medium-replay aside)."""
MUJOCO_DATASET_ENVS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5")
"""The envs of D4RL's Gym-MuJoCo datasets (v5 here)."""
MEDIUM_FRACTION = 1.0 / 3.0
"""A medium policy's return, as a fraction of the expert's (D4RL)."""
#: Reset seeds of each quality's episodes (disjoint blocks; the checkpoints' evaluations use 10**6+).
SEED_BLOCKS = {"random": 0, "medium": 200_000, "expert": 400_000}
EVAL_SEED = 1_000_000


def dataset_id(env_id: str, quality: str) -> str:
    """The Minari id of one dataset: ``rlsuite/<env name in lower case>/<quality>-v0``."""
    check_choice("quality", quality, QUALITIES)
    return f"rlsuite/{env_id.split('-v')[0].lower()}/{quality}-v0"


class TransitionRecorder(gym.Wrapper):
    """Records every transition the wrapped env makes, as the env saw it (raw observations and the
    actions it received), for the medium-replay dataset."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.rows: dict[str, list[Any]] = {
            k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminations")
        }
        self.ends: list[bool] = []  # the episode ended (terminated or truncated) after this row
        self._obs: Any = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        for key, value in (
            ("observations", self._obs),
            ("actions", action),
            ("rewards", reward),
            ("next_observations", obs),
            ("terminations", terminated),
        ):
            self.rows[key].append(np.array(value, copy=True))
        self.ends.append(bool(terminated or truncated))
        self._obs = obs
        return obs, reward, terminated, truncated, info

    def __len__(self) -> int:
        return len(self.ends)

    def dataset(self) -> TransitionDataset:
        """Every recorded transition; an episode still running is closed as truncated (it
        bootstraps, as D4RL's timeouts)."""
        if not self.ends:
            raise ValueError("nothing recorded yet")
        terminations = np.array(self.rows["terminations"], dtype=bool)
        truncations = np.array(self.ends, dtype=bool) & ~terminations
        truncations[-1] |= not terminations[-1]
        return TransitionDataset(
            observations=np.stack(self.rows["observations"]),
            actions=np.stack(self.rows["actions"]),
            rewards=np.array(self.rows["rewards"], dtype=np.float64),
            next_observations=np.stack(self.rows["next_observations"]),
            terminations=terminations,
            truncations=truncations,
            observation_space=self.env.observation_space,
            action_space=self.env.action_space,
        )


@dataclass(frozen=True)
class Checkpoint:
    """A saved policy of the training run."""

    timesteps: int
    path: str
    eval_return: float


def _ppo_config() -> dict[str, Any]:
    """CleanRL's PPO for MuJoCo (as ``benchmarks/mujoco_returns.py``)."""
    from rlsuite.agents import linear_schedule

    return dict(
        n_steps=2048,
        batch_size=64,
        n_epochs=10,
        gamma=0.99,
        gae_lambda=0.95,
        learning_rate=linear_schedule(3e-4),
        clip_range=0.2,
        clip_range_vf=0.2,
        max_grad_norm=0.5,
        normalize_observation=True,
        normalize_reward=True,
    )


def train_behaviour_policies(
    env_id: str,
    work_dir: str | Path,
    *,
    timesteps: int = 1_000_000,
    checkpoint_every: int | None = None,
    eval_episodes: int = 5,
    seed: int = 0,
    progress_bar: bool = True,
) -> list[Checkpoint]:
    """Train PPO on ``env_id`` for ``timesteps`` steps, saving a checkpoint (and its mean
    deterministic return over ``eval_episodes``) every ``checkpoint_every`` steps (default: a
    twentieth of the run; at the end of the first rollout past each multiple) and the recorded
    transitions (``replay.npz``) in ``work_dir``. A finished run found there is reused (same
    settings) instead of retrained; returns the checkpoints in order."""
    import torch

    from rlsuite.agents import PPO, BaseCallback

    timesteps = check_int("timesteps", timesteps, 1)
    every = check_int("checkpoint_every", checkpoint_every or max(1, timesteps // 20), 1)
    eval_episodes = check_int("eval_episodes", eval_episodes, 1)
    seed = check_seed("seed", seed)
    work = Path(work_dir)
    settings = dict(env_id=env_id, timesteps=timesteps, checkpoint_every=every, seed=seed)
    index = work / "checkpoints.json"
    if index.exists():
        saved = json.loads(index.read_text())
        if saved.get("settings") == settings and (work / "replay.npz").exists():
            return [Checkpoint(**c) for c in saved["checkpoints"]]
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    recorder = TransitionRecorder(gym.make(env_id))
    eval_env = gym.make(env_id)
    checkpoints: list[Checkpoint] = []
    # A checkpoint's transitions: the medium-replay dataset ends at the medium checkpoint's step.
    recorded: list[int] = []

    def save_checkpoint(m: Any) -> None:
        path = work / f"ppo_{m.num_timesteps}.zip"
        m.save(path)
        first = EVAL_SEED + 100 * len(checkpoints)
        episodes = run_episodes(eval_env, m, range(first, first + eval_episodes), deterministic=True)
        checkpoints.append(
            Checkpoint(m.num_timesteps, path.name, float(np.mean([e.total_reward for e in episodes])))
        )
        recorded.append(len(recorder))

    class Saver(BaseCallback):
        def _on_rollout_end(self) -> None:
            assert self.model is not None
            if self.model.num_timesteps // every > len(checkpoints):
                save_checkpoint(self.model)

    model = PPO("MlpPolicy", recorder, seed=seed, **_ppo_config())
    model.learn(timesteps, callback=Saver(), progress_bar=progress_bar)
    if not checkpoints or checkpoints[-1].timesteps < model.num_timesteps:
        save_checkpoint(model)  # the expert: always the final policy
    recorder.dataset().save(work / "replay.npz")
    with atomic_write(index, "w") as f:
        json.dump(
            dict(
                settings=settings,
                checkpoints=[c.__dict__ for c in checkpoints],
                recorded=recorded,
            ),
            f,
            indent=1,
        )
    return checkpoints


def _collect(
    env_id: str, policy: Any, transitions: int, first_seed: int, desc: str, progress_bar: bool
) -> TransitionDataset:
    """Whole episodes of ``policy`` (stochastic actions) on seeds ``first_seed, ...`` until at least
    ``transitions`` rows."""
    env = gym.make(env_id)
    episodes, n = [], 0
    bar = progress(iter(int, 1), total=transitions, desc=desc, enable=progress_bar)  # an endless iterator
    seed = first_seed
    for _ in bar:
        if n >= transitions:
            break
        stochastic = None if callable(policy) and not hasattr(policy, "predict") else False
        (ep,) = run_episodes(env, policy, [seed], deterministic=stochastic, record=True)
        episodes.append(ep)
        n += ep.length
        seed += 1
    return TransitionDataset.from_episodes(episodes, env.observation_space, env.action_space)


def build_mujoco_datasets(
    env_id: str,
    *,
    root: str | Path | None = None,
    work_dir: str | Path | None = None,
    timesteps: int = 1_000_000,
    transitions: int = 200_000,
    qualities: Sequence[str] = QUALITIES,
    seed: int = 0,
    progress_bar: bool = True,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Make the Minari datasets of ``qualities`` for ``env_id`` (``transitions`` rows each, in whole
    episodes; medium-replay is as long as the training run up to the medium checkpoint) under
    ``root`` (Minari's default root when None) and return ``{quality: dataset id}``. Training is
    cached in ``work_dir`` (default ``<root>/.rlsuite-training/<env>``); a dataset that already
    exists is kept unless ``force``."""
    import minari

    from rlsuite.agents import PPO

    check_choice("env_id", env_id, MUJOCO_DATASET_ENVS)
    for q in qualities:
        check_choice("qualities", q, QUALITIES)
    transitions = check_int("transitions", transitions, 1)
    with minari_root(root):
        base = Path(root) if root is not None else Path(minari.storage.get_dataset_path())
        existing = set(minari.list_local_datasets())
    # A hidden folder: Minari's listing skips it.
    work = Path(work_dir) if work_dir is not None else base / ".rlsuite-training" / env_id
    ids = {q: dataset_id(env_id, q) for q in qualities}
    todo = [q for q in qualities if force or ids[q] not in existing]
    if not todo:
        return ids
    log(f"{env_id}: training PPO for {timesteps} steps (cached in {work})")
    checkpoints = train_behaviour_policies(
        env_id, work, timesteps=timesteps, seed=seed, progress_bar=progress_bar
    )
    meta = json.loads((work / "checkpoints.json").read_text())
    expert_ckpt = checkpoints[-1]
    target = MEDIUM_FRACTION * expert_ckpt.eval_return
    if len(checkpoints) < 2:
        raise ValueError(f"timesteps: {timesteps} gave one checkpoint; a medium policy needs an earlier one")
    medium_at = int(np.argmin([abs(c.eval_return - target) for c in checkpoints[:-1]]))
    medium_ckpt = checkpoints[medium_at]
    log(
        f"{env_id}: expert = {expert_ckpt.path} (return {expert_ckpt.eval_return:.0f}), medium = "
        f"{medium_ckpt.path} (return {medium_ckpt.eval_return:.0f}, target {target:.0f})"
    )
    env = gym.make(env_id)
    made: dict[str, TransitionDataset] = {}

    def get(q: str) -> TransitionDataset:
        if q in made:
            return made[q]
        if q == "random":
            space, rng = env.action_space, np.random.default_rng(seed)
            assert isinstance(space, gym.spaces.Box)

            def act(_obs: Any) -> np.ndarray:
                return np.asarray(rng.uniform(space.low, space.high), dtype=space.dtype)

            made[q] = _collect(env_id, act, transitions, SEED_BLOCKS[q], f"{env_id} {q}", progress_bar)
        elif q in ("medium", "expert"):
            ckpt = medium_ckpt if q == "medium" else expert_ckpt
            policy = PPO.load(work / ckpt.path)
            made[q] = _collect(env_id, policy, transitions, SEED_BLOCKS[q], f"{env_id} {q}", progress_bar)
        elif q == "medium-replay":
            replay = TransitionDataset.load(work / "replay.npz")
            made[q] = _first_rows(replay, int(meta["recorded"][medium_at]))
        else:
            made[q] = TransitionDataset.concatenate([get("medium"), get("expert")])
        return made[q]

    ref_min = float(np.mean(get("random").episode_returns()))
    ref_max = float(np.mean(get("expert").episode_returns()))
    for q in todo:
        data = get(q)
        with minari_root(root):
            if ids[q] in existing:
                minari.delete_dataset(ids[q])
        to_minari(
            data,
            ids[q],
            env_id=env_id,
            root=root,
            algorithm_name=f"rlsuite PPO ({q})",
            description=(
                f"{env_id} {q}: {len(data)} transitions, {len(data.episode_ends)} episodes, mean return "
                f"{float(np.mean(data.episode_returns())):.1f}; D4RL's definition with rlsuite's PPO"
            ),
            ref_min_score=ref_min,
            ref_max_score=ref_max,
        )
        log(f"{ids[q]}: {len(data)} transitions, mean return {float(np.mean(data.episode_returns())):.1f}")
    return ids


def _first_rows(data: TransitionDataset, n: int) -> TransitionDataset:
    """The first ``n`` rows, the last closed as truncated when it does not end an episode."""
    cut = slice(0, min(n, len(data)))
    truncations = data.truncations[cut].copy()
    truncations[-1] |= not data.terminations[cut][-1]
    return TransitionDataset(
        observations=data.observations[cut],
        actions=data.actions[cut],
        rewards=data.rewards[cut],
        next_observations=data.next_observations[cut],
        terminations=data.terminations[cut],
        truncations=truncations,
        observation_space=data.observation_space,
        action_space=data.action_space,
    )


__all__ = [
    "MUJOCO_DATASET_ENVS",
    "QUALITIES",
    "Checkpoint",
    "TransitionRecorder",
    "build_mujoco_datasets",
    "dataset_id",
    "train_behaviour_policies",
]
