"""The online phase of offline-to-online learning: a replay buffer that starts with the dataset, and
fine-tuning by env steps with the learner's own loss (FamO2O, and IQL or AWAC for comparison).

Offline-to-online RL (IQL's ``train_finetune.py``, CORL's ``algorithms/finetune``, FamO2O's
``family_train_finetune.py``) pre-trains on a fixed dataset, then keeps training while it acts::

    buffer <- every transition of the dataset                       (capacity 2M in those codes)
    repeat total_timesteps times:
        a ~ pi(. | s)    (a sample, clipped to the action bounds)   s', r <- env.step(a)
        buffer <- buffer + (s, a, r, s', terminated, truncated)     (the oldest row goes when full)
        gradient_steps times: one step of the learner's loss on a minibatch of the buffer

The loss is the offline one, unchanged: :func:`finetune_online` calls the seam's own gradient
step (learning-rate schedule, finite check, clipping, logging) with the buffer as the sampling
source, so every :class:`~..common.offline.OfflineAlgorithm` fine-tunes the same way::

    iql = IQL("MlpPolicy", dataset, seed=0).learn(100_000)          # offline: gradient steps
    buffer = finetune_online(iql, env, 50_000)                      # online: env steps
    finetune_online(iql, env, 50_000, replay_buffer=buffer)         # more, same buffer

:class:`~.famo2o.FamO2O` exposes it as ``model.finetune(total_timesteps)``. A truncated transition
bootstraps, a terminated one does not (the losses' :func:`~.base.td_target`). Each call starts
with ``env.reset``: seeded from the model's seed when it makes a new buffer, unseeded (the env's
own random stream goes on) when it continues one. ``num_timesteps`` keeps counting from the
offline phase unless ``reset_num_timesteps=True``, so the learning-rate schedules see the online
phase as the rest of the run.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rlsuite.validation import check_int, check_seed

from ..common.callbacks import BaseCallback
from ..common.datasets import TransitionBatch, TransitionDataset
from ..common.observations import check_finite_step
from ..common.offline import OfflineAlgorithm
from ..common.spaces import spaces_equal
from ..common.training import setup_learn

#: Default capacity of the replay buffer (IQL's, CORL's and FamO2O's fine-tuning runs: 2M).
DEFAULT_BUFFER_SIZE = 2_000_000
#: Episodes averaged in ``rollout/ep_rew_mean`` (SB3's ``stats_window_size``).
STATS_WINDOW = 100


class ReplayBuffer:
    """Transitions in a :class:`TransitionDataset`'s columns, in a ring of ``capacity`` rows: rows
    are added in order and, once full, each new row replaces the oldest. Sampling is uniform with
    replacement over the filled rows, with the caller's generator (no global RNG).

    Args:
        capacity: most rows kept.
        template: the dataset whose shapes, dtypes and spaces the buffer takes (its rows are not
            copied; :meth:`from_dataset` does that).
    """

    def __init__(self, capacity: int, template: TransitionDataset) -> None:
        self.capacity = check_int("buffer_size", capacity, 1)
        if template.reward_dim != 1:
            raise ValueError(f"dataset: rewards have {template.reward_dim} objectives; need scalar rewards")
        self.observation_space: spaces.Space | None = template.observation_space
        self.action_space: spaces.Space | None = template.action_space

        def column(arr: np.ndarray, dtype: Any = None) -> np.ndarray:
            return np.zeros((self.capacity, *arr.shape[1:]), dtype=dtype or arr.dtype)

        self.observations = column(template.observations)
        self.actions = column(template.actions)
        self.rewards = column(template.rewards, np.float32)
        self.next_observations = column(template.next_observations)
        self.terminations = column(template.terminations)
        self.truncations = column(template.truncations)
        self.pos = 0
        self.full = False

    @classmethod
    def from_dataset(cls, dataset: TransitionDataset, capacity: int = DEFAULT_BUFFER_SIZE) -> ReplayBuffer:
        """A buffer holding every row of ``dataset`` first (``capacity >= len(dataset)``)."""
        capacity = check_int("buffer_size", capacity, 1)
        if capacity < len(dataset):
            raise ValueError(
                f"buffer_size: got {capacity}; must be >= the dataset's {len(dataset)} transitions "
                "(the buffer starts with all of them)"
            )
        buffer = cls(capacity, dataset)
        n = len(dataset)
        for name in (
            "observations",
            "actions",
            "rewards",
            "next_observations",
            "terminations",
            "truncations",
        ):
            getattr(buffer, name)[:n] = getattr(dataset, name)
        buffer.pos, buffer.full = n % capacity, n == capacity
        return buffer

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(
        self, obs: Any, action: Any, reward: float, next_obs: Any, terminated: bool, truncated: bool
    ) -> None:
        """Append one transition (replacing the oldest when full)."""
        i = self.pos
        self.observations[i] = obs
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_observations[i] = next_obs
        self.terminations[i] = terminated
        self.truncations[i] = truncated
        self.pos = (i + 1) % self.capacity
        self.full = self.full or self.pos == 0

    def sample(
        self, batch_size: int, generator: torch.Generator, device: str | torch.device = "cpu"
    ) -> TransitionBatch:
        """``batch_size`` filled rows drawn uniformly with replacement (as ``TransitionDataset.sample``)."""
        idx = torch.randint(len(self), (check_int("batch_size", batch_size, 1),), generator=generator).numpy()

        def t(arr: np.ndarray) -> torch.Tensor:
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


def finetune_online(
    model: OfflineAlgorithm,
    env: gym.Env | str,
    total_timesteps: int,
    *,
    replay_buffer: ReplayBuffer | None = None,
    buffer_size: int = DEFAULT_BUFFER_SIZE,
    learning_starts: int = 0,
    gradient_steps: int = 1,
    callback: BaseCallback | list[BaseCallback] | None = None,
    log_interval: int = 1000,
    tb_log_name: str | None = None,
    reset_num_timesteps: bool = False,
    progress_bar: bool = False,
) -> ReplayBuffer:
    """Fine-tune ``model`` online for ``total_timesteps`` env steps (module docstring); returns the
    replay buffer, to pass back as ``replay_buffer`` for more.

    Args:
        model: an offline learner (IQL, AWAC, FamO2O) with a dataset of scalar rewards.
        env: a single Gymnasium env (or a registered id) with the model's spaces.
        total_timesteps: env steps of this call.
        replay_buffer: a buffer from an earlier call (None: a new one holding the model's dataset).
        buffer_size: capacity of a new buffer (>= the dataset's size).
        learning_starts: env steps of this call before the first gradient step.
        gradient_steps: gradient steps after each env step (1: the papers' codes).
        callback, log_interval, tb_log_name, progress_bar: as ``learn`` (``log_interval`` in env
            steps; the callbacks' ``on_step`` runs after each env step).
        reset_num_timesteps: count ``model.num_timesteps`` from 0 (default: keep counting).
    """
    total_timesteps = check_int("total_timesteps", total_timesteps, 1)
    learning_starts = check_int("learning_starts", learning_starts, 0)
    gradient_steps = check_int("gradient_steps", gradient_steps, 0)
    if isinstance(env, str):
        env = gym.make(env)
    if isinstance(env, gym.vector.VectorEnv) or not isinstance(env, gym.Env):
        raise TypeError(f"env: got {type(env).__name__}; fine-tuning steps a single gym.Env (or an env id)")
    if not (
        spaces_equal(env.observation_space, model.observation_space)
        and spaces_equal(env.action_space, model.action_space)
    ):
        raise ValueError(
            f"env: spaces {env.observation_space}, {env.action_space} differ from the model's "
            f"{model.observation_space}, {model.action_space}"
        )
    first_call = replay_buffer is None
    if replay_buffer is None:
        if not isinstance(model.dataset, TransitionDataset):
            raise ValueError("model: has no dataset to start the replay buffer with (set_dataset first)")
        replay_buffer = ReplayBuffer.from_dataset(model.dataset, buffer_size)
    elif not isinstance(replay_buffer, ReplayBuffer):
        raise TypeError(f"replay_buffer: got {type(replay_buffer).__name__}; expected a ReplayBuffer or None")

    setup = setup_learn(model, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
    if setup.reset_num_timesteps:
        model.num_timesteps = 0
    start_steps, start = model.num_timesteps, time.perf_counter()
    model._total_timesteps = start_steps + total_timesteps
    cb = setup.callback
    cb.on_training_start({"total_timesteps": model._total_timesteps})
    check_finite = bool(model.config.check_finite)
    returns: deque[float] = deque(maxlen=STATS_WINDOW)
    lengths: deque[int] = deque(maxlen=STATS_WINDOW)
    stats: dict[str, list[float]] = {}
    # A new buffer: seed the env from the model; a continued phase continues the env's own stream.
    obs, _ = env.reset(seed=check_seed("seed", model.config.seed) if first_call else None)
    ep_return, ep_length = 0.0, 0
    dataset = model.dataset
    model.dataset = replay_buffer  # the seam's sample_batch draws from model.dataset
    try:
        for step in range(total_timesteps):
            action, _ = model.predict(obs, deterministic=False)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            if check_finite:
                check_finite_step(
                    next_obs, np.asarray([reward], np.float64), "env", model.num_timesteps, step
                )
            replay_buffer.add(obs, action, float(reward), next_obs, bool(terminated), bool(truncated))
            ep_return, ep_length = ep_return + float(reward), ep_length + 1
            obs = next_obs
            if terminated or truncated:
                returns.append(ep_return)
                lengths.append(ep_length)
                (obs, _), ep_return, ep_length = env.reset(), 0.0, 0
            if step >= learning_starts:
                model.policy.train()
                for _ in range(gradient_steps):
                    model._gradient_step(stats)
            model.num_timesteps += 1
            if not cb.on_step():
                break
            if setup.log_interval and (step + 1) % setup.log_interval == 0:
                if returns:
                    model.logger.record("rollout/ep_rew_mean", float(np.mean(returns)))
                    model.logger.record("rollout/ep_len_mean", float(np.mean(lengths)))
                model.logger.record("time/online_steps", step + 1)
                model._dump_logs(stats, start, start_steps)
                stats = {}
    finally:
        model.dataset = dataset
    cb.on_training_end()
    return replay_buffer
