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

import math
import time
import warnings
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch import Tensor, nn

from rlsuite.validation import (
    ArgumentTypeError,
    check_bool,
    check_int,
    check_mapping,
    check_optional_real,
    check_optional_str,
    check_real,
    check_seed,
    is_real,
    short_repr,
)

from .buffers import RolloutBatch, RolloutBuffer
from .callbacks import BaseCallback, CallbackList, ProgressBarCallback
from .logger import Logger, next_run_dir
from .normalize import ObservationNormalizer, RewardNormalizer
from .persistence import (
    ParametersMixin,
    check_model_class,
    check_optimizer_state,
    check_state_dict,
    meta_state_dict,
    policy_kwargs_to_json,
    read_model_zip,
    saved_config,
    write_model_zip,
)
from .policies import MASK_KEY, POLICY_ALIASES, ActorCriticPolicy, PolicyOutput
from .spaces import space_from_json, space_to_json, spaces_equal
from .validation import NonFiniteError, accepted_kwargs, check_callbacks, check_kwargs_keys
from .vec_env import SingleEnvVector, original_rewards

Schedule = Callable[[float], float]


class LinearSchedule:
    """``start`` at the beginning of training, ``end`` at the end (``progress_remaining`` 1 -> 0).
    Serializable, so a model saved with it loads without overrides."""

    def __init__(self, start: float, end: float = 0.0) -> None:
        self.start = check_real("linear_schedule start", start)
        self.end = check_real("linear_schedule end", end)

    def __call__(self, progress_remaining: float) -> float:
        return self.end + (self.start - self.end) * progress_remaining

    def to_json(self) -> dict[str, Any]:
        return {"linear_schedule": [self.start, self.end]}


def linear_schedule(start: float, end: float = 0.0) -> LinearSchedule:
    """Linear annealing from ``start`` to ``end`` (e.g. ``learning_rate=linear_schedule(3e-4)``)."""
    return LinearSchedule(start, end)


class CheckedSchedule:
    """A schedule whose every value is checked to lie in ``[low, high]`` (finite), so that a
    learning rate or a clip range that goes negative or NaN stops training with its name."""

    def __init__(self, fn: Schedule, name: str, low: float, high: float) -> None:
        self.fn, self.name, self.low, self.high = fn, name, low, high

    def __call__(self, progress_remaining: float) -> float:
        v = self.fn(progress_remaining)
        if type(v) is float and self.low <= v <= self.high:  # fast path (NaN fails the comparison)
            return v
        return check_real(
            f"{self.name} (schedule at progress_remaining={progress_remaining:.4g})",
            v,
            self.low,
            None if math.isinf(self.high) else self.high,
        )


def _schedule(
    value: float | Schedule, name: str, low: float = 0.0, high: float = math.inf, positive_start: bool = True
) -> Schedule:
    """A constant or a schedule of ``progress_remaining`` (1 -> 0) checked to stay in ``[low, high]``
    (finite); with ``positive_start`` a constant, and a schedule's first value, must exceed ``low``
    (a schedule may anneal down to ``low``, as ``linear_schedule(3e-4)`` does to 0)."""
    upper = None if math.isinf(high) else high
    if callable(value) and not isinstance(value, type):
        start = value(1.0)
        check_real(f"{name} (schedule at progress_remaining=1)", start, low, upper, low_open=positive_start)
        check_real(f"{name} (schedule at progress_remaining=0)", value(0.0), low, upper)
        return CheckedSchedule(value, name, low, high)
    if not is_real(value):
        raise ArgumentTypeError(
            f"{name}: got {short_repr(value)}; must be a finite number or a schedule "
            "callable of progress_remaining (1 -> 0)"
        )
    v = check_real(name, value, low, upper, low_open=positive_start)
    return lambda _progress: v


def _schedule_to_json(value: Any) -> Any:
    if isinstance(value, LinearSchedule):
        return value.to_json()
    if callable(value):
        return None  # not serializable: pass it again to load()
    return value


def _schedule_from_json(value: Any) -> Any:
    if isinstance(value, dict) and "linear_schedule" in value:
        bounds = value["linear_schedule"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise ValueError(f"linear_schedule: got {bounds!r} in a saved model; expected [start, end]")
        return LinearSchedule(*bounds)
    return value


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CPU: small MLP policies train faster on the CPU than on a GPU (the env is
    the bottleneck, SB3#1770); pass ``device="cuda"`` explicitly for large networks."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device: got {device!r}; must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"device: got {device!r}; must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from e
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device: got {device!r}; allowed types: cpu, cuda, mps")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: got {device!r} but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device: got {device!r}; only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: got {device!r} but MPS is not available")
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
        check_finite: bool = True,
        _init_setup_model: bool = True,
        **algo_kwargs: Any,
    ) -> None:
        unknown = set(algo_kwargs) - set(self.algo_defaults)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword arguments {sorted(unknown)}; "
                f"allowed algorithm arguments: {sorted(self.algo_defaults)}"
            )
        self.algo_kwargs = {**self.algo_defaults, **algo_kwargs}
        self.n_steps = check_int("n_steps", n_steps, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.n_epochs = check_int("n_epochs", n_epochs, 1)
        self.gamma = check_real("gamma", gamma, 0.0, 1.0)
        self.gae_lambda = check_real("gae_lambda", gae_lambda, 0.0, 1.0)
        self.ent_coef = check_real("ent_coef", ent_coef, low=0.0)
        self.vf_coef = check_real("vf_coef", vf_coef, low=0.0)
        self.max_grad_norm = check_real("max_grad_norm", max_grad_norm, low=0.0, low_open=True)
        self.normalize_advantage = check_bool("normalize_advantage", normalize_advantage)
        self.target_kl = check_optional_real("target_kl", target_kl, low=0.0, low_open=True)
        self.stats_window_size = check_int("stats_window_size", stats_window_size, 1)
        self.tensorboard_log = check_optional_str("tensorboard_log", tensorboard_log)
        self.verbose = check_int("verbose", verbose, 0)
        self.seed = check_seed("seed", seed)
        self.normalize_observation = check_bool("normalize_observation", normalize_observation)
        self.normalize_reward = check_bool("normalize_reward", normalize_reward)
        self.clip_obs = check_real("clip_obs", clip_obs, low=0.0, low_open=True)
        self.clip_reward = check_real("clip_reward", clip_reward, low=0.0, low_open=True)
        #: Stop ``learn`` at the first NaN/inf reward, observation or loss (one cheap check per step).
        self.check_finite = check_bool("check_finite", check_finite)
        self.learning_rate = learning_rate
        self.lr_schedule = _schedule(learning_rate, "learning_rate")
        self._check_algo_kwargs()
        if isinstance(policy, str):
            if policy not in self.policy_aliases:
                raise ValueError(
                    f"policy: got {policy!r}; allowed: {sorted(self.policy_aliases)} or a policy class"
                )
            policy_class = self.policy_aliases[policy]
        elif isinstance(policy, type) and issubclass(policy, nn.Module):
            policy_class = policy
        else:
            raise TypeError(
                f"policy: got {policy!r}; allowed: {sorted(self.policy_aliases)} or an nn.Module policy class"
            )
        self.policy_name = policy if isinstance(policy, str) else f"{policy.__module__}:{policy.__qualname__}"
        self.policy_class = policy_class
        self.policy_kwargs = check_mapping("policy_kwargs", policy_kwargs)
        reserved = set(self.extra_policy_kwargs)
        allowed = accepted_kwargs(policy_class.__init__, skip=3)  # self, observation_space, action_space
        check_kwargs_keys(
            "policy_kwargs", self.policy_kwargs, None if allowed is None else set(allowed) - reserved
        )
        self.device = resolve_device(device)
        self._requested_n_envs = check_int("n_envs", n_envs, 1)
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._n_updates = 0
        self._iteration = 0
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
    def _check_algo_kwargs(self) -> None:
        """Check (and convert) the algorithm's own arguments in ``self.algo_kwargs``; called by the
        constructor before the env is built. Algorithms with arguments override it."""

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
        total_timesteps = check_int("total_timesteps", total_timesteps, 1)
        log_interval = check_int("log_interval", log_interval, 0)
        tb_log_name = check_optional_str("tb_log_name", tb_log_name)
        reset_num_timesteps = check_bool("reset_num_timesteps", reset_num_timesteps)
        progress_bar = check_bool("progress_bar", progress_bar)
        callbacks = check_callbacks("callback", callback)
        if reset_num_timesteps or self._last_obs is None:
            if reset_num_timesteps:
                self.num_timesteps = 0
                self._n_updates = 0
            obs, _ = self.env.reset(
                seed=self.seed if self._last_obs is None and self.seed is not None else None
            )
            if self.seed is not None:
                self.env.action_space.seed(self.seed)
            if self.check_finite:
                self._check_finite_step(obs, None, "reset()", self.num_timesteps)
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
        if progress_bar:
            callbacks = [*callbacks, ProgressBarCallback()]
        cb = CallbackList(callbacks)
        cb.init_callback(self)
        self.buffer = self._make_buffer()
        start, start_steps = time.perf_counter(), self.num_timesteps
        cb.on_training_start({"total_timesteps": self._total_timesteps})
        iteration = 0
        while self.num_timesteps < self._total_timesteps:
            self._iteration = iteration + 1  # named by the non-finite checks
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
        # Clamped: the last rollout may overshoot total_timesteps, and a schedule must not be
        # read past its end (linear_schedule(3e-4) would give a negative learning rate).
        return max(0.0, 1.0 - self.num_timesteps / max(self._total_timesteps, 1))

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
            if masks is not None and (empty := self._first_empty_mask_row(masks)) is not None:
                raise ValueError(
                    f"observation['{MASK_KEY}']: env {empty[0]} allows no action{empty[1]} at "
                    f"num_timesteps={self.num_timesteps} (iteration {self._iteration}); an environment "
                    "must leave at least one action allowed"
                )
            obs_n = self._normalize(obs_t, update=True)
            actions, values, log_probs = self.policy(
                obs_n, action_masks=masks, generator=self._sample_generator
            )
            env_actions = head.to_env(actions).cpu().numpy()
            if isinstance(self.action_space, spaces.Box):
                env_actions = np.clip(env_actions, self.action_space.low, self.action_space.high)
            new_obs, rewards, terminated, truncated, infos = self.env.step(env_actions)
            rewards = np.asarray(rewards, dtype=np.float64)
            if self.check_finite:
                self._check_finite_step(new_obs, rewards, "env.step()", self.num_timesteps + self.n_envs)
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
        if self.check_finite:
            step = self.num_timesteps + self.n_envs
            self._check_finite_step(batch, None, "env.step() (final observation of a truncation)", step)
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
                loss_value = float(loss.detach())  # the logged value; checked before any update
                if self.check_finite and not math.isfinite(loss_value):
                    raise NonFiniteError(
                        f"learn: non-finite loss {loss_value} at num_timesteps={self.num_timesteps} "
                        f"(iteration {self._iteration}, epoch {_epoch}); the parameters were not updated "
                        f"(minibatch stats: {_finite_report(info)}). Lower learning_rate or clip the "
                        "rewards; check_finite=False turns this check off"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                clip_grad_norm(self._params, self.max_grad_norm)
                self.optimizer.step()
                info["approx_kl"] = approx_kl
                info["loss"] = loss_value
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
        Masks come from an ``action_mask`` observation key or ``action_masks``.

        The observation is checked against the observation space (shape, keys, numeric dtype,
        finite values; ``ValueError`` / ``TypeError`` naming the key), and masks against the
        action space (shape, 0/1 values, at least one allowed action per row)."""
        assert self.observation_space is not None
        deterministic = check_bool("deterministic", deterministic)
        obs, n_rows = self._check_observation(observation)
        single = n_rows is None
        if single:
            obs = {k: v.unsqueeze(0) for k, v in obs.items()} if isinstance(obs, dict) else obs.unsqueeze(0)
        obs, masks = self._split_masks(obs)
        if masks is not None:
            masks = self._check_masks(obs[MASK_KEY], n_rows, f"observation[{MASK_KEY!r}]")
        if action_masks is not None:
            masks = self._check_masks(action_masks, n_rows, "action_masks")
        self.policy.eval()
        actions = self.policy.act(
            self._normalize(obs, update=False), deterministic, masks, self._sample_generator
        )
        out = self.policy.action_head.to_env(actions).cpu().numpy()
        if isinstance(self.action_space, spaces.Box):
            out = np.clip(out, self.action_space.low, self.action_space.high)
        return (out[0] if single else out), None

    def _check_observation(self, observation: Any) -> tuple[Any, int | None]:
        """``predict``'s input as tensors on the device, and its batch size (None: one observation)."""
        space = self.observation_space
        if not isinstance(space, spaces.Dict):
            assert space is not None
            return _observation_leaf("observation", observation, space, self.device)
        if not isinstance(observation, Mapping):
            raise TypeError(
                f"observation: got {type(observation).__name__}; the observation space is a Dict, "
                f"pass a dict with keys {list(space.spaces)}"
            )
        missing = [k for k in space.spaces if k not in observation]
        extra = [k for k in observation if k not in space.spaces]
        if missing or extra:
            raise ValueError(
                f"observation: missing keys {missing}, unexpected keys {extra}; "
                f"expected keys {list(space.spaces)}"
            )
        out: dict[str, Tensor] = {}
        batch: list[int | None] = []
        for key, sub in space.spaces.items():
            out[key], n = _observation_leaf(f"observation[{key!r}]", observation[key], sub, self.device)
            if batch and n != batch[0]:
                first = next(iter(space.spaces))
                raise ValueError(
                    f"observation[{key!r}]: batch size {n} differs from observation[{first!r}]'s {batch[0]} "
                    "(None: a single observation)"
                )
            batch.append(n)
        return out, batch[0]

    def _check_masks(self, masks: Any, n_rows: int | None, name: str) -> Tensor:
        """Masks ``[rows, mask_dim]`` (bool) from 0/1 or boolean values of shape ``(mask_dim,)``
        or ``(rows, mask_dim)``; every component keeps at least one allowed action."""
        head = self.policy.action_head
        dim = head.mask_dim
        if dim == 0:
            raise ValueError(f"{name}: {type(self.action_space).__name__} actions cannot be masked")
        t = _numeric_tensor(name, masks)
        rows = 1 if n_rows is None else n_rows
        if tuple(t.shape) not in ((dim,), (rows, dim)):
            expected = f"({dim},)" if n_rows is None else f"({rows}, {dim})"
            raise ValueError(
                f"{name}: got shape {tuple(t.shape)}; expected {expected} (one entry per action)"
            )
        if t.dtype != torch.bool:
            if not ((t == 0) | (t == 1)).all():
                raise ValueError(f"{name}: values must be booleans or 0/1 (True/1 = allowed)")
            t = t != 0
        t = t.reshape(-1, dim)
        empty = self._first_empty_mask_row(t)
        if empty is not None:
            row, part = empty
            raise ValueError(f"{name}: row {row} allows no action{part}; at least one must be True")
        return t.to(self.device)

    def _first_empty_mask_row(self, masks: Tensor) -> tuple[int, str] | None:
        """``(row, " in action component i")`` of the first mask row that allows no action in
        some component (all-False masks would make the policy sample a forbidden action)."""
        nvec = self.policy.action_head.nvec
        for i, chunk in enumerate(torch.split(masks, nvec, dim=1)):
            empty = ~chunk.any(1)
            if empty.any():
                return int(torch.nonzero(empty)[0, 0]), "" if len(nvec) == 1 else f" in action component {i}"
        return None

    def _check_finite_step(self, obs: Any, rewards: np.ndarray | None, source: str, timestep: int) -> None:
        """Raise :class:`NonFiniteError` naming the step when ``obs`` or ``rewards`` hold NaN/inf."""
        if rewards is not None and not np.isfinite(rewards).all():
            env = int(np.nonzero(~np.isfinite(rewards))[0][0])
            what = f"reward {rewards[env]} (env {env})"
        else:
            what = _non_finite_observation(obs)
            if what is None:
                return
        raise NonFiniteError(
            f"learn: non-finite {what} from {source} at num_timesteps={timestep} (iteration "
            f"{self._iteration}), before it reached the rollout buffer; check the environment, "
            "or pass check_finite=False to turn this check off"
        )

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        policy = self.policy_name
        if not (isinstance(policy, str) and policy in self.policy_aliases):
            policy = self.policy_aliases.to_name(self.policy_class)  # a name, never an import path
        pk = policy_kwargs_to_json(self.policy_kwargs)
        return {
            "policy": policy,
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
            "check_finite": self.check_finite,
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
        custom_objects: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> OnPolicyAlgorithm:
        """Re-create a saved model (``kwargs`` override saved hyperparameters, as in SB3).

        Nothing named in the file is imported: the policy, activation and features extractor
        resolve through the registries (:mod:`rlsuite.agents.common.registry`);
        ``custom_objects`` (SB3's name) supplies a class, function or value by key
        (``"policy"``, ``"activation_fn"``, ``"features_extractor_class"``, ``"learning_rate"``,
        ...). Every tensor is checked against the model's shapes before it is copied in.
        Raises ``ValueError`` for a malformed or foreign file, or when ``env``'s spaces differ
        from the saved ones."""
        data, states = read_model_zip(path, ("policy.pth", "policy.optimizer.pth", "normalizers.pth"))
        check_model_class(data, cls, path)
        policy, config = saved_config(
            data,
            cls.policy_aliases,
            OnPolicyAlgorithm.__init__,
            custom_objects,
            kwargs,
            _schedule_from_json,
            cls.algo_defaults,
        )
        model = cls(policy, None, device=device, _init_setup_model=False, **config)
        model.observation_space = space_from_json(data.get("observation_space"), "observation_space")
        model.action_space = space_from_json(data.get("action_space"), "action_space")
        model.n_envs = 1
        if env is not None:
            model.set_env(env)
        pk = {**model.policy_kwargs, **model.extra_policy_kwargs}
        obs_space, act_space = model.observation_space, model.action_space
        expected = meta_state_dict(lambda: model.policy_class(obs_space, act_space, **pk))
        check_state_dict("policy.pth", states["policy.pth"], expected)
        model._setup_model()
        model.policy.load_state_dict(states["policy.pth"])
        check_optimizer_state("policy.optimizer.pth", states["policy.optimizer.pth"], model.optimizer)
        model.optimizer.load_state_dict(states["policy.optimizer.pth"])
        norms = states["normalizers.pth"]
        for key, normalizer in (("obs", model.obs_normalizer), ("reward", model.reward_normalizer)):
            if isinstance(norms, dict) and key in norms and normalizer is not None:
                check_state_dict(f"normalizers.pth[{key!r}]", norms[key], normalizer.state_dict())
                normalizer.load_state_dict(norms[key])
        model.num_timesteps = _saved_count(data, "num_timesteps")
        model._n_updates = _saved_count(data, "n_updates")
        return model


def _saved_count(data: dict[str, Any], key: str) -> int:
    v = data.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"{key}: got {v!r} in the saved model; must be a non-negative integer")
    return v


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


def _numeric_tensor(name: str, value: Any) -> Tensor:
    """``value`` as a CPU or device tensor, rejecting non-numeric data (strings, objects, ragged lists)."""
    if isinstance(value, Tensor):
        if value.is_complex():
            raise TypeError(f"{name}: got a complex tensor; must be real numbers")
        return value
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name}: not a rectangular array ({e})") from e
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: got values of dtype {arr.dtype}; must be numbers (or booleans)")
    return torch.as_tensor(arr)


def _observation_leaf(
    name: str, value: Any, space: spaces.Space, device: torch.device
) -> tuple[Tensor, int | None]:
    """One (non-Dict) observation entry checked against ``space``: shape ``space.shape`` (single) or
    ``(batch, *space.shape)``, finite, and in range for Discrete and integer Box spaces."""
    t = _numeric_tensor(name, value)
    shape = tuple(space.shape or ())
    if tuple(t.shape) == shape:
        n = None
    elif t.dim() == len(shape) + 1 and tuple(t.shape[1:]) == shape:
        n = int(t.shape[0])
    else:
        batched = ", ".join(["batch", *map(str, shape)])
        raise ValueError(f"{name}: got shape {tuple(t.shape)}; expected {shape} or ({batched})")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or inf; observations must be finite")
    if isinstance(space, spaces.Discrete):
        lo, hi = int(space.start), int(space.start) + int(space.n) - 1
        fractional = t.is_floating_point() and not bool((t == t.round()).all())
        if t.numel() and (fractional or t.min() < lo or t.max() > hi):
            raise ValueError(f"{name}: Discrete observations must be integers in [{lo}, {hi}]")
    elif isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.integer) and t.numel():
        low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
        if ((t < low) | (t > high)).any():
            raise ValueError(
                f"{name}: values outside the space's bounds [{space.low.min()}, {space.high.max()}]"
            )
    t = t.to(device)
    return (t.float() if t.is_floating_point() else t), n


def _non_finite_observation(obs: Any, name: str = "observation") -> str | None:
    """Where ``obs`` (array, tensor or dict of them) first holds NaN/inf, or None (fast when finite)."""
    if isinstance(obs, dict):
        for k, v in obs.items():
            found = _non_finite_observation(v, f"observation[{k!r}]")
            if found is not None:
                return found
        return None
    if isinstance(obs, Tensor):
        if not obs.is_floating_point() or bool(torch.isfinite(obs).all()):
            return None
        arr = obs.detach().cpu().numpy()
    else:
        arr = obs if isinstance(obs, np.ndarray) else np.asarray(obs)
        if arr.dtype.kind != "f" or np.isfinite(arr).all():
            return None
    env = int(np.nonzero((~np.isfinite(arr.reshape(arr.shape[0], -1))).any(1))[0][0]) if arr.ndim else 0
    return f"{name} (env {env})"


def _finite_report(info: dict[str, Any]) -> str:
    """The minibatch statistics, non-finite ones first (which part of the loss broke)."""
    bad = [k for k, v in info.items() if not math.isfinite(float(v))]
    return ", ".join(f"{k}={float(info[k])}" for k in [*bad, *(k for k in info if k not in bad)])
