"""The on-policy loop shared by every rlsuite agent, with Stable-Baselines3's public surface.

An algorithm (``PPO``, ``BPO``, ...) subclasses :class:`OnPolicyAlgorithm` and overrides one
method, :meth:`OnPolicyAlgorithm.compute_loss`; rollout collection, GAE, minibatching,
logging, callbacks and save/load live here.

Environments: an id (``gym.make_vec`` with ``n_envs`` copies; our native vector envs when the
id has one), a ``gymnasium.Env`` (wrapped in a one-copy ``SyncVectorEnv``) or any Gymnasium
vector env with ``NEXT_STEP`` or ``SAME_STEP`` autoreset. Truncated episodes are bootstrapped
(``r += gamma * V(final_obs)``), terminated ones are not; the reset step that ``NEXT_STEP``
inserts after an episode end is never trained on.
"""

from __future__ import annotations

import importlib
import time
import warnings
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch import Tensor, nn

from .buffers import RolloutBatch, RolloutBuffer
from .callbacks import BaseCallback, CallbackList, ProgressBarCallback
from .logger import Logger, next_run_dir
from .normalize import ObservationNormalizer, RewardNormalizer
from .persistence import ParametersMixin, read_model_zip, write_model_zip
from .policies import MASK_KEY, POLICY_ALIASES, ActorCriticPolicy, PolicyOutput
from .spaces import space_from_json, space_to_json, spaces_equal
from .vec_env import SingleEnvVector, original_rewards

Schedule = Callable[[float], float]


class LinearSchedule:
    """``start`` at the beginning of training, ``end`` at the end (``progress_remaining`` 1 -> 0).
    Serializable, so a model saved with it loads without overrides."""

    def __init__(self, start: float, end: float = 0.0) -> None:
        self.start, self.end = float(start), float(end)

    def __call__(self, progress_remaining: float) -> float:
        return self.end + (self.start - self.end) * progress_remaining

    def to_json(self) -> dict[str, Any]:
        return {"linear_schedule": [self.start, self.end]}


def linear_schedule(start: float, end: float = 0.0) -> LinearSchedule:
    """Linear annealing from ``start`` to ``end`` (e.g. ``learning_rate=linear_schedule(3e-4)``)."""
    return LinearSchedule(start, end)


def _schedule(value: float | Schedule, name: str) -> Schedule:
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{name}: got {value!r}; expected a finite number or a schedule callable")
    v = float(value)
    return lambda _progress: v


def _schedule_to_json(value: Any) -> Any:
    if isinstance(value, LinearSchedule):
        return value.to_json()
    if callable(value):
        return None  # not serializable: pass it again to load()
    return value


def _schedule_from_json(value: Any) -> Any:
    if isinstance(value, dict) and "linear_schedule" in value:
        return LinearSchedule(*value["linear_schedule"])
    return value


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CPU: small MLP policies train faster on the CPU than on a GPU (the env is
    the bottleneck, SB3#1770); pass ``device="cuda"`` explicitly for large networks."""
    if device == "auto":
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: got {device!r} but CUDA is not available")
    return dev


class OnPolicyAlgorithm(ParametersMixin, ABC):
    """Base class of the on-policy agents (see the module docstring)."""

    policy_aliases: ClassVar[dict[str, type[ActorCriticPolicy]]] = POLICY_ALIASES
    #: Extra keyword arguments of the subclass, with defaults; saved in the model's config.
    algo_defaults: ClassVar[dict[str, Any]] = {}
    #: policy_kwargs the algorithm always adds (e.g. BPO's median head).
    extra_policy_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: gym.Env | gym.vector.VectorEnv | str | None,
        learning_rate: float | Schedule = 3e-4,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = True,
        target_kl: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        n_envs: int = 1,
        normalize_observation: bool = False,
        normalize_reward: bool = False,
        clip_obs: float = 10.0,
        clip_reward: float = 10.0,
        _init_setup_model: bool = True,
        **algo_kwargs: Any,
    ) -> None:
        unknown = set(algo_kwargs) - set(self.algo_defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments {sorted(unknown)}")
        self.algo_kwargs = {**self.algo_defaults, **algo_kwargs}
        self._check_hyperparameters(n_steps, batch_size, n_epochs, gamma, gae_lambda, n_envs, max_grad_norm)
        if isinstance(policy, str):
            if policy not in self.policy_aliases:
                raise ValueError(
                    f"policy: got {policy!r}; allowed: {sorted(self.policy_aliases)} or a policy class"
                )
            policy_class = self.policy_aliases[policy]
        else:
            policy_class = policy
        self.policy_name = policy if isinstance(policy, str) else f"{policy.__module__}:{policy.__qualname__}"
        self.policy_class = policy_class
        self.learning_rate = learning_rate
        self.lr_schedule = _schedule(learning_rate, "learning_rate")
        self.n_steps, self.batch_size, self.n_epochs = int(n_steps), int(batch_size), int(n_epochs)
        self.gamma, self.gae_lambda = float(gamma), float(gae_lambda)
        self.ent_coef, self.vf_coef, self.max_grad_norm = (
            float(ent_coef),
            float(vf_coef),
            float(max_grad_norm),
        )
        self.normalize_advantage = bool(normalize_advantage)
        self.target_kl = target_kl
        self.stats_window_size = int(stats_window_size)
        self.tensorboard_log = tensorboard_log
        self.policy_kwargs = dict(policy_kwargs or {})
        self.verbose = int(verbose)
        self.seed = seed
        self.device = resolve_device(device)
        self.normalize_observation, self.normalize_reward = (
            bool(normalize_observation),
            bool(normalize_reward),
        )
        self.clip_obs, self.clip_reward = float(clip_obs), float(clip_reward)
        self._requested_n_envs = int(n_envs)
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._n_updates = 0
        self._logger: Logger | None = None
        self.ep_info_buffer: deque[tuple[float, int]] = deque(maxlen=self.stats_window_size)
        #: Unshaped episode returns when the env is wrapped by rlsuite.shaping (else empty).
        self.ep_true_buffer: deque[float] = deque(maxlen=self.stats_window_size)
        self.env: gym.vector.VectorEnv | None = None
        self.observation_space: spaces.Space | None = None
        self.action_space: spaces.Space | None = None
        if env is not None:
            self.set_env(env)
        if _init_setup_model:
            if self.observation_space is None:
                raise ValueError("env: needed to build the model (or load a saved one with Algorithm.load)")
            self._setup_model()

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _check_hyperparameters(
        n_steps: int, batch_size: int, n_epochs: int, gamma: float, gae_lambda: float, n_envs: int, mgn: float
    ) -> None:
        for name, v in (
            ("n_steps", n_steps),
            ("batch_size", batch_size),
            ("n_epochs", n_epochs),
            ("n_envs", n_envs),
        ):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: got {v!r}; must be a positive integer")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma: got {gamma}; must be in [0, 1]")
        if not 0.0 <= gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda: got {gae_lambda}; must be in [0, 1]")
        if not mgn > 0:
            raise ValueError(f"max_grad_norm: got {mgn}; must be > 0")

    def set_env(self, env: gym.Env | gym.vector.VectorEnv | str) -> None:
        """Attach an environment (its spaces must match the model's, if it has any)."""
        venv = self._make_vec_env(env)
        obs_space, act_space = venv.single_observation_space, venv.single_action_space
        if self.observation_space is not None and not (
            spaces_equal(obs_space, self.observation_space) and spaces_equal(act_space, self.action_space)
        ):
            raise ValueError(
                f"env: spaces differ from the model's: observation {obs_space} vs {self.observation_space}, "
                f"action {act_space} vs {self.action_space}"
            )
        if not isinstance(obs_space, (spaces.Box, spaces.Dict, spaces.Discrete)):
            raise ValueError(
                f"observation_space: {type(obs_space).__name__} is not supported; "
                "allowed: Box, Discrete, Dict"
            )
        mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"env: autoreset_mode {mode} is not supported; use NEXT_STEP or SAME_STEP")
        if self.n_steps * venv.num_envs < self.batch_size:
            raise ValueError(
                f"batch_size: got {self.batch_size}, larger than the rollout "
                f"n_steps * n_envs = {self.n_steps} * {venv.num_envs}"
            )
        _check_shaping_gamma(venv, self.gamma)
        self.env = venv
        self.autoreset_mode = mode
        self.n_envs = venv.num_envs
        self.observation_space, self.action_space = obs_space, act_space
        self._last_obs: Any = None

    def _make_vec_env(self, env: gym.Env | gym.vector.VectorEnv | str) -> gym.vector.VectorEnv:
        if isinstance(env, str):
            spec = gym.spec(env)
            native = spec.vector_entry_point is not None and str(spec.vector_entry_point).startswith(
                "rlsuite"
            )
            if native:  # our batched envs: one tensor step for every copy
                return gym.make_vec(
                    env, num_envs=self._requested_n_envs, vectorization_mode="vector_entry_point"
                )
            if self._requested_n_envs == 1:
                return SingleEnvVector(gym.make(env))
            return gym.make_vec(
                env,
                num_envs=self._requested_n_envs,
                vectorization_mode="sync",
                vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
            )
        if isinstance(env, gym.vector.VectorEnv):
            return env
        if isinstance(env, gym.Env):
            return SingleEnvVector(env)
        raise ValueError(f"env: got {type(env).__name__}; expected an id, a gymnasium.Env or a VectorEnv")

    def _setup_model(self) -> None:
        assert self.observation_space is not None and self.action_space is not None
        if self.seed is not None:
            torch.manual_seed(self.seed)
        self._generator = torch.Generator(device="cpu")
        self._generator.manual_seed(
            self.seed if self.seed is not None else int(torch.randint(0, 2**31 - 1, ()))
        )
        self._sample_generator = torch.Generator(device=self.device)
        self._sample_generator.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=self._generator)))
        kwargs = {**self.policy_kwargs, **self.extra_policy_kwargs}
        self.policy = self.policy_class(self.observation_space, self.action_space, **kwargs).to(self.device)
        self.optimizer = _make_adam(self.policy, self.lr_schedule(1.0))
        self._params = [p for p in self.policy.parameters() if p.requires_grad]
        self.obs_normalizer = (
            ObservationNormalizer(self._obs_shapes(), self.clip_obs, self.device)
            if self.normalize_observation
            else None
        )
        self.reward_normalizer = (
            RewardNormalizer(
                self.n_envs if self.env is not None else 1, self.gamma, self.clip_reward, self.device
            )
            if self.normalize_reward
            else None
        )

    def _obs_shapes(self) -> Any:
        space = self.observation_space
        if isinstance(space, spaces.Dict):
            return {
                k: tuple(s.shape)
                for k, s in space.spaces.items()
                if k != MASK_KEY and isinstance(s, spaces.Box) and np.issubdtype(s.dtype, np.floating)
            }
        assert space is not None
        return tuple(space.shape) if isinstance(space, spaces.Box) else ()

    # ------------------------------------------------------------------ tensors
    def _to_tensor(self, obs: Any) -> Any:
        if isinstance(obs, dict):
            return {k: self._to_tensor(v) for k, v in obs.items()}
        t = torch.as_tensor(obs, device=self.device)
        if t.is_floating_point():
            t = t.float()
        return t

    def _split_masks(self, obs: Any) -> tuple[Any, Tensor | None]:
        if isinstance(obs, dict) and MASK_KEY in obs:
            return obs, obs[MASK_KEY].bool()
        return obs, None

    def _normalize(self, obs: Any, update: bool) -> Any:
        return self.obs_normalizer(obs, update) if self.obs_normalizer is not None else obs

    # ------------------------------------------------------------------ learning
    def learn(
        self,
        total_timesteps: int,
        callback: BaseCallback | list[BaseCallback] | None = None,
        log_interval: int = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> OnPolicyAlgorithm:
        """Train for ``total_timesteps`` environment steps (more if it is not a multiple of
        ``n_steps * n_envs``). Returns ``self``."""
        if self.env is None:
            raise ValueError("no env: pass one to the constructor, load(..., env=...) or set_env()")
        if (
            isinstance(total_timesteps, bool)
            or not isinstance(total_timesteps, (int, np.integer))
            or total_timesteps < 1
        ):
            raise ValueError(f"total_timesteps: got {total_timesteps!r}; must be a positive integer")
        if reset_num_timesteps or self._last_obs is None:
            if reset_num_timesteps:
                self.num_timesteps = 0
                self._n_updates = 0
            obs, _ = self.env.reset(
                seed=self.seed if self._last_obs is None and self.seed is not None else None
            )
            if self.seed is not None:
                self.env.action_space.seed(self.seed)
            self._last_obs = obs
            self._last_done = np.zeros(self.n_envs, dtype=bool)
            self._ep_return = np.zeros(self.n_envs)
            self._ep_true_return = np.zeros(self.n_envs)
            self._ep_len = np.zeros(self.n_envs, dtype=np.int64)
            if self.reward_normalizer is not None and self.reward_normalizer.returns.numel() != self.n_envs:
                self.reward_normalizer = RewardNormalizer(
                    self.n_envs, self.gamma, self.clip_reward, self.device
                )
        self._total_timesteps = total_timesteps + (0 if reset_num_timesteps else self.num_timesteps)
        if self.tensorboard_log is not None:
            run = next_run_dir(self.tensorboard_log, tb_log_name or type(self).__name__)
            formats = (["stdout"] if self.verbose >= 1 else []) + ["csv", "tensorboard"]
            self._logger = Logger(run, formats)
        callbacks = callback if isinstance(callback, list) else ([callback] if callback is not None else [])
        if progress_bar:
            callbacks = [*callbacks, ProgressBarCallback()]
        cb = CallbackList(callbacks)
        cb.init_callback(self)
        self.buffer = self._make_buffer()
        start, start_steps = time.perf_counter(), self.num_timesteps
        cb.on_training_start({"total_timesteps": self._total_timesteps})
        iteration = 0
        while self.num_timesteps < self._total_timesteps:
            if not self.collect_rollouts(cb):
                break
            iteration += 1
            self._update_learning_rate()
            self.train()
            if log_interval and iteration % log_interval == 0:
                self._dump_logs(iteration, start, start_steps)
        cb.on_training_end()
        return self

    def _make_buffer(self) -> RolloutBuffer:
        assert self.observation_space is not None
        space = self.observation_space
        if isinstance(space, spaces.Dict):
            shapes = {k: tuple(s.shape) for k, s in space.spaces.items()}
            dtypes = {k: _torch_dtype(s) for k, s in space.spaces.items()}
        else:
            shapes, dtypes = tuple(space.shape), _torch_dtype(space)
        head = self.policy.action_head
        action_dtype = torch.float32 if head.kind == "box" else torch.long
        return RolloutBuffer(
            self.n_steps,
            self.n_envs,
            shapes,
            dtypes,
            head.action_dim,
            action_dtype,
            head.mask_dim,
            self.device,
        )

    def _progress_remaining(self) -> float:
        return 1.0 - self.num_timesteps / max(self._total_timesteps, 1)

    def _update_learning_rate(self) -> None:
        lr = self.lr_schedule(self._progress_remaining())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.logger.record("train/learning_rate", lr)

    @torch.no_grad()
    def collect_rollouts(self, callback: BaseCallback) -> bool:
        """Fill the rollout buffer with ``n_steps`` vector steps; False if a callback stopped training."""
        assert self.env is not None
        buf = self.buffer
        buf.reset()
        head = self.policy.action_head
        callback.on_rollout_start()
        next_step = self.autoreset_mode == AutoresetMode.NEXT_STEP
        for _ in range(self.n_steps):
            obs_t, masks = self._split_masks(self._to_tensor(self._last_obs))
            obs_n = self._normalize(obs_t, update=True)
            actions, values, log_probs = self.policy(
                obs_n, action_masks=masks, generator=self._sample_generator
            )
            env_actions = head.to_env(actions).cpu().numpy()
            if isinstance(self.action_space, spaces.Box):
                env_actions = np.clip(env_actions, self.action_space.low, self.action_space.high)
            new_obs, rewards, terminated, truncated, infos = self.env.step(env_actions)
            rewards = np.asarray(rewards, dtype=np.float64)
            terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
            valid = ~self._last_done if next_step else np.ones(self.n_envs, dtype=bool)
            buf.add(obs_n, actions, values, log_probs, torch.as_tensor(valid, device=self.device), masks)
            done = terminated | truncated
            self._track_episodes(rewards, done, valid, infos)
            r = torch.as_tensor(np.where(valid, rewards, 0.0), dtype=torch.float32, device=self.device)
            done_t = torch.as_tensor(done | ~valid, dtype=torch.float32, device=self.device)
            if self.reward_normalizer is not None:
                r = self.reward_normalizer(r, done_t)
            boot = truncated & ~terminated & valid
            if boot.any():
                r = r + self.gamma * self._final_values(new_obs, infos, boot)
            buf.finish_step(r, done_t)
            self._on_env_step(infos, done, valid)
            self.num_timesteps += self.n_envs
            self._last_obs, self._last_done = new_obs, done
            callback.update_locals({"infos": infos, "rewards": rewards, "dones": done})
            if not callback.on_step():
                return False
        obs_t, _ = self._split_masks(self._to_tensor(self._last_obs))
        last_values = self.policy.predict_values(self._normalize(obs_t, update=False))
        buf.compute_returns_and_advantage(last_values, self.gamma, self.gae_lambda)
        callback.on_rollout_end()
        return True

    def _on_env_step(self, infos: Any, done: np.ndarray, valid: np.ndarray) -> None:
        """Hook after each vector step is stored (at ``self.buffer.pos - 1``): algorithms that need
        more from the step (PDPPO: post-decision observations) read ``infos`` here."""

    def _final_values(self, new_obs: Any, infos: dict[str, Any], boot: np.ndarray) -> Tensor:
        """V(final observation) for the truncated envs in ``boot`` (0 elsewhere)."""
        idx = np.nonzero(boot)[0]
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            final = infos["final_obs"]
            if isinstance(self.observation_space, spaces.Dict):
                batch = {k: np.stack([final[i][k] for i in idx]) for k in self.observation_space.spaces}
            else:
                batch = np.stack([final[i] for i in idx])
        elif isinstance(new_obs, dict):
            batch = {k: np.asarray(v)[idx] for k, v in new_obs.items()}
        else:
            batch = np.asarray(new_obs)[idx]
        obs_t, _ = self._split_masks(self._to_tensor(batch))
        v = self.policy.predict_values(self._normalize(obs_t, update=False))
        out = torch.zeros(self.n_envs, device=self.device)
        out[torch.as_tensor(idx, device=self.device)] = v
        return out

    def _track_episodes(
        self, rewards: np.ndarray, done: np.ndarray, valid: np.ndarray, infos: dict[str, Any]
    ) -> None:
        self._ep_return += np.where(valid, rewards, 0.0)
        true = original_rewards(infos, rewards)
        if true is not None:  # reward shaping is on: also track the unshaped return
            self._ep_true_return += np.where(valid, np.asarray(true, dtype=np.float64), 0.0)
        self._ep_len += valid
        #: ``(true return, length)`` of the episodes this vector step finished (the unshaped return
        #: under :mod:`rlsuite.shaping`); read by callbacks such as ``EpisodeRecorder``.
        self.step_episodes: list[tuple[float, int]] = []
        for i in np.nonzero(done & valid)[0]:
            self.ep_info_buffer.append((float(self._ep_return[i]), int(self._ep_len[i])))
            if true is not None:
                self.ep_true_buffer.append(float(self._ep_true_return[i]))
            ret = self._ep_return[i] if true is None else self._ep_true_return[i]
            self.step_episodes.append((float(ret), int(self._ep_len[i])))
            self._ep_return[i], self._ep_len[i], self._ep_true_return[i] = 0.0, 0, 0.0

    def train(self) -> None:
        """Optimise :meth:`compute_loss` over ``n_epochs`` passes of shuffled minibatches."""
        self.policy.train()
        continue_training = True
        stats: dict[str, list[float]] = {}
        for _epoch in range(self.n_epochs):
            for batch in self.buffer.minibatches(self.batch_size, self._generator):
                out = self.policy.evaluate_actions(batch.observations, batch.actions, batch.action_masks)
                loss, info = self.compute_loss(batch, out)
                with torch.no_grad():
                    log_ratio = out.log_prob - batch.old_log_prob
                    approx_kl = float(((log_ratio.exp() - 1) - log_ratio).mean())
                if self.target_kl is not None and approx_kl > 1.5 * self.target_kl:
                    continue_training = False  # early stop before this step (SB3's rule)
                    if self.verbose >= 1:
                        print(f"Early stopping at epoch {_epoch} due to reaching max kl: {approx_kl:.2f}")
                    break
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                clip_grad_norm(self._params, self.max_grad_norm)
                self.optimizer.step()
                info["approx_kl"] = approx_kl
                info["loss"] = float(loss.detach())
                for k, v in info.items():
                    stats.setdefault(k, []).append(float(v))
            self._n_updates += 1
            if not continue_training:
                break
        for k, v in stats.items():
            self.logger.record(f"train/{k}", float(np.mean(v)))
        values, returns = self.buffer.values[self.buffer.valid], self.buffer.returns[self.buffer.valid]
        var = float(returns.var()) if returns.numel() > 1 else 0.0
        ev = float("nan") if var == 0 else 1.0 - float((returns - values).var()) / var
        self.logger.record("train/explained_variance", ev)
        self.logger.record("train/n_updates", self._n_updates)
        if hasattr(self.policy.action_head, "log_std"):
            self.logger.record("train/std", float(self.policy.action_head.log_std.detach().exp().mean()))

    @abstractmethod
    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        """The algorithm's loss on one minibatch; returns ``(loss, stats for train/*)``."""

    def _dump_logs(self, iteration: int, start: float, start_steps: int) -> None:
        elapsed = max(time.perf_counter() - start, 1e-9)
        log = self.logger
        if self.ep_info_buffer:
            log.record("rollout/ep_rew_mean", float(np.mean([r for r, _ in self.ep_info_buffer])))
            log.record("rollout/ep_len_mean", float(np.mean([n for _, n in self.ep_info_buffer])))
        if self.ep_true_buffer:
            log.record("rollout/ep_true_rew_mean", float(np.mean(self.ep_true_buffer)))
        log.record("time/iterations", iteration)
        log.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        log.record("time/time_elapsed", int(elapsed))
        log.record("time/total_timesteps", self.num_timesteps)
        log.dump(self.num_timesteps)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        action_masks: Any = None,
    ) -> tuple[np.ndarray, None]:
        """Actions for one observation or a batch, like SB3 (``state`` is unused: no recurrence).
        Masks come from an ``action_mask`` observation key or ``action_masks``."""
        assert self.observation_space is not None
        obs = self._to_tensor(observation)
        single = not _is_batched(obs, self.observation_space)
        if single:
            obs = {k: v.unsqueeze(0) for k, v in obs.items()} if isinstance(obs, dict) else obs.unsqueeze(0)
        obs, masks = self._split_masks(obs)
        if action_masks is not None:
            masks = torch.as_tensor(np.asarray(action_masks), dtype=torch.bool, device=self.device).reshape(
                -1, self.policy.action_head.mask_dim
            )
        self.policy.eval()
        actions = self.policy.act(
            self._normalize(obs, update=False), deterministic, masks, self._sample_generator
        )
        out = self.policy.action_head.to_env(actions).cpu().numpy()
        if isinstance(self.action_space, spaces.Box):
            out = np.clip(out, self.action_space.low, self.action_space.high)
        return (out[0] if single else out), None

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        pk = dict(self.policy_kwargs)
        if "activation_fn" in pk and isinstance(pk["activation_fn"], type):
            pk["activation_fn"] = f"{pk['activation_fn'].__module__}:{pk['activation_fn'].__qualname__}"
        if "features_extractor_class" in pk and isinstance(pk["features_extractor_class"], type):
            cls = pk["features_extractor_class"]
            pk["features_extractor_class"] = f"{cls.__module__}:{cls.__qualname__}"
        return {
            "policy": self.policy_name,
            "learning_rate": _schedule_to_json(self.learning_rate),
            "n_steps": self.n_steps,
            "batch_size": self.batch_size,
            "n_epochs": self.n_epochs,
            "gamma": self.gamma,
            "gae_lambda": self.gae_lambda,
            "ent_coef": self.ent_coef,
            "vf_coef": self.vf_coef,
            "max_grad_norm": self.max_grad_norm,
            "normalize_advantage": self.normalize_advantage,
            "target_kl": self.target_kl,
            "stats_window_size": self.stats_window_size,
            "policy_kwargs": pk,
            "verbose": self.verbose,
            "seed": self.seed,
            "n_envs": self._requested_n_envs,
            "normalize_observation": self.normalize_observation,
            "normalize_reward": self.normalize_reward,
            "clip_obs": self.clip_obs,
            "clip_reward": self.clip_reward,
            **{k: _schedule_to_json(v) for k, v in self.algo_kwargs.items()},
        }

    def save(self, path: str | Path) -> None:
        """Save to a zip: ``data.json`` (class, config, spaces, counters), ``policy.pth``,
        ``policy.optimizer.pth`` and ``normalizers.pth`` (state dicts of tensors only)."""
        data = {
            "class": type(self).__name__,
            "config": self._config(),
            "observation_space": space_to_json(self.observation_space),
            "action_space": space_to_json(self.action_space),
            "num_timesteps": self.num_timesteps,
            "n_updates": self._n_updates,
        }
        norms: dict[str, Any] = {}
        if self.obs_normalizer is not None:
            norms["obs"] = self.obs_normalizer.state_dict()
        if self.reward_normalizer is not None:
            norms["reward"] = self.reward_normalizer.state_dict()
        states = {
            "policy.pth": self.policy.state_dict(),
            "policy.optimizer.pth": self.optimizer.state_dict(),
            "normalizers.pth": norms,
        }
        write_model_zip(path, data, states)

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: gym.Env | gym.vector.VectorEnv | str | None = None,
        device: str = "auto",
        **kwargs: Any,
    ) -> OnPolicyAlgorithm:
        """Re-create a saved model (``kwargs`` override saved hyperparameters, as in SB3).
        Raises ``ValueError`` when ``env``'s spaces differ from the saved ones."""
        data, states = read_model_zip(path, ("policy.pth", "policy.optimizer.pth", "normalizers.pth"))
        if data["class"] != cls.__name__:
            raise ValueError(f"{path}: holds a {data['class']} model, not a {cls.__name__}")
        config = {k: _schedule_from_json(v) for k, v in data["config"].items()}
        if config.get("learning_rate") is None and "learning_rate" not in kwargs:
            raise ValueError(
                "learning_rate: the saved schedule was a custom callable; pass learning_rate=..."
            )
        pk = dict(config.get("policy_kwargs") or {})
        for key in ("activation_fn", "features_extractor_class"):
            if isinstance(pk.get(key), str) and ":" in pk[key]:
                module, _, name = pk[key].partition(":")
                obj: Any = importlib.import_module(module)
                for part in name.split("."):
                    obj = getattr(obj, part)
                pk[key] = obj
        config["policy_kwargs"] = pk
        policy = config.pop("policy")
        if isinstance(policy, str) and ":" in policy:
            module, _, name = policy.partition(":")
            policy = getattr(importlib.import_module(module), name)
        config.update(kwargs)
        model = cls(policy, None, device=device, _init_setup_model=False, **config)
        model.observation_space = space_from_json(data["observation_space"])
        model.action_space = space_from_json(data["action_space"])
        model.n_envs = 1
        if env is not None:
            model.set_env(env)
        model._setup_model()
        model.policy.load_state_dict(states["policy.pth"])
        model.optimizer.load_state_dict(states["policy.optimizer.pth"])
        norms = states["normalizers.pth"]
        if "obs" in norms and model.obs_normalizer is not None:
            model.obs_normalizer.load_state_dict(norms["obs"])
        if "reward" in norms and model.reward_normalizer is not None:
            model.reward_normalizer.load_state_dict(norms["reward"])
        model.num_timesteps = int(data.get("num_timesteps", 0))
        model._n_updates = int(data.get("n_updates", 0))
        return model


def _check_shaping_gamma(env: Any, gamma: float) -> None:
    """Warn when a potential-based shaping wrapper uses another discount than the agent's:
    shaping then changes which policy is optimal."""
    seen = 0
    while env is not None and seen < 64:
        g = getattr(env, "gamma", None) if type(env).__name__.endswith("PotentialShaping") else None
        if g is not None and abs(float(g) - gamma) > 1e-12:
            warnings.warn(
                f"gamma: the agent discounts with {gamma} but {type(env).__name__} shapes with "
                f"gamma={g}; potential-based shaping preserves the optimal policy only when they are "
                "equal (pass the agent's gamma to the wrapper)",
                UserWarning,
                stacklevel=3,
            )
            return
        env = getattr(env, "env", None)
        seen += 1


def _make_adam(policy: nn.Module, lr: float) -> torch.optim.Adam:
    """Adam with eps 1e-5 (PPO detail 3). The fused kernel (one call for all parameters) is 2x
    faster than foreach for small networks; it falls back to foreach where it is unavailable."""
    try:
        return torch.optim.Adam(policy.parameters(), lr=lr, eps=1e-5, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - old torch or unsupported device
        return torch.optim.Adam(policy.parameters(), lr=lr, eps=1e-5, foreach=True)


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """Scale the gradients so that their global L2 norm is at most ``max_norm`` (the same rule as
    ``torch.nn.utils.clip_grad_norm_``, without its per-call grouping overhead: the parameters of
    one policy share a device and dtype). Returns the norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(grads, coef)
    return total


def _torch_dtype(space: spaces.Space) -> torch.dtype:
    if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating):
        return torch.float32
    if isinstance(space, spaces.Box):
        return torch.float32 if space.dtype != np.bool_ else torch.bool
    if isinstance(space, spaces.MultiBinary) or (isinstance(space, spaces.Box) and space.dtype == np.bool_):
        return torch.bool
    return torch.long


def _is_batched(obs: Any, space: spaces.Space) -> bool:
    if isinstance(space, spaces.Dict):
        key = next(iter(space.spaces))
        return obs[key].dim() > len(space[key].shape)
    return obs.dim() > len(space.shape)
