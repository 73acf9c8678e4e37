"""The on-policy algorithm shared by every rlsuite agent, with Stable-Baselines3's public surface.

An algorithm (``PPO``, ``BPO``, ``PDPPO``) subclasses :class:`OnPolicyAlgorithm` once and overrides
hooks, never the loop:

- :meth:`~OnPolicyAlgorithm.compute_loss` (required): the loss of one minibatch;
- :meth:`~OnPolicyAlgorithm.compute_advantages` (optional): the advantages and returns of a
  rollout, GAE by default;
- :attr:`~OnPolicyAlgorithm.step_infos` (optional, declarative): ``info`` entries the rollout
  stores per step for the loss (PDPPO's post-decision observations);
- :meth:`~OnPolicyAlgorithm.collect_rollouts`: the rollout itself, for algorithms that play
  episodes differently.

Its hyperparameters are a frozen dataclass, ``config_class`` (:mod:`.config`), held in
``model.config``, saved in the model's zip and restored through the same class. The pieces live
in their own modules: rollout collection (:mod:`.rollout`), GAE and the buffer (:mod:`.buffers`),
schedules, env adaptation (:mod:`.vec_env`), observation checks, ``learn``'s common set-up
(:mod:`.training`) and the model file (:mod:`.persistence`).

Environments: an id (``gym.make_vec`` with ``n_envs`` copies; our native vector envs when the
id has one), a ``gymnasium.Env`` (one-copy vector env) or any Gymnasium vector env with
``NEXT_STEP`` or ``SAME_STEP`` autoreset. Truncated episodes are bootstrapped
(``r += gamma * V(final_obs)``), terminated ones are not; the reset step that ``NEXT_STEP``
inserts after an episode end is never trained on.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from rlsuite.validation import check_int

from .buffers import RolloutBatch, RolloutBuffer, explained_variance
from .callbacks import BaseCallback
from .config import OnPolicyConfig, config_view
from .device import resolve_device, seeded_generators
from .normalize import ObservationNormalizer, RewardNormalizer, normalized_shapes
from .observations import PredictMixin, finite_report
from .optim import clip_grad_norm, make_adam
from .persistence import (
    ParametersMixin,
    agent_data,
    check_state_dict,
    read_saved_agent,
    restore_policy,
    saved_count,
    write_model_zip,
)
from .policies import MAX_OBJECTIVES, POLICY_ALIASES, ActorCriticPolicy, PolicyOutput
from .registry import Registry
from .rollout import (
    EpisodeStats,
    RolloutState,
    StepInfo,
    collect_rollouts,
    make_rollout_buffer,
    start_rollouts,
)
from .schedules import linear_schedule, make_schedule
from .spaces import space_from_json
from .training import setup_learn
from .validation import NonFiniteError, accepted_kwargs, check_policy
from .vec_env import check_training_env, make_vec_env, reward_dim

__all__ = ["OnPolicyAlgorithm", "StepInfo", "clip_grad_norm", "linear_schedule", "resolve_device"]


class OnPolicyAlgorithm(ParametersMixin, PredictMixin, ABC):
    """Base class of the on-policy agents (see the module docstring for the hooks)."""

    policy_aliases: ClassVar[Registry] = POLICY_ALIASES
    #: The algorithm's config dataclass: its fields are the constructor's parameters.
    config_class: ClassVar[type[OnPolicyConfig]] = OnPolicyConfig
    #: policy_kwargs the algorithm always adds (e.g. BPO's median head).
    extra_policy_kwargs: ClassVar[dict[str, Any]] = {}
    #: ``info`` entries stored per step in ``buffer.extras`` (see :class:`~.rollout.StepInfo`).
    step_infos: ClassVar[tuple[StepInfo, ...]] = ()

    config: OnPolicyConfig
    policy: ActorCriticPolicy
    n_steps = config_view("n_steps", "Vector steps per rollout (config).")
    n_epochs = config_view("n_epochs", "Passes over each rollout (config).")
    gamma = config_view("gamma", "Discount factor (config).")
    gae_lambda = config_view("gae_lambda", "GAE's lambda (config).")
    ent_coef = config_view("ent_coef", "Entropy bonus weight (config).")
    vf_coef = config_view("vf_coef", "Value loss weight (config).")
    normalize_advantage = config_view(
        "normalize_advantage", "Per-minibatch advantage normalization (config)."
    )
    target_kl = config_view("target_kl", "KL early-stop threshold (config).")

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: gym.Env | gym.vector.VectorEnv | str | None,
        config: OnPolicyConfig,
        _init_setup_model: bool = True,
    ) -> None:
        """Called by each algorithm's explicit constructor with its checked ``config``."""
        self.config = config
        self.lr_schedule = make_schedule(config.learning_rate, "learning_rate")
        policy_class = check_policy(
            policy, self.policy_aliases, config.policy_kwargs or {}, reserved=self.extra_policy_kwargs
        )
        self.policy_name = policy if isinstance(policy, str) else f"{policy.__module__}:{policy.__qualname__}"
        self.policy_class: type[ActorCriticPolicy] = policy_class
        self.device = resolve_device(config.device)
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._n_updates = 0
        self._logger = None
        self.episodes = EpisodeStats(config.stats_window_size)
        self.env: gym.vector.VectorEnv | None = None
        self.observation_space: spaces.Space | None = None
        self.action_space: spaces.Space | None = None
        #: Where collection stands (current observation, episode ends, rollout number).
        self.rollout = RolloutState()
        #: Objectives per reward (``k > 1``: a multi-objective env; vector critic, see ``set_env``).
        self.reward_dim = 1
        if env is not None:
            self.set_env(env)
        if _init_setup_model:
            if self.observation_space is None:
                raise ValueError("env: needed to build the model (or load a saved one with Algorithm.load)")
            self._setup_model()

    # ------------------------------------------------------------------ setup
    def set_env(self, env: gym.Env | gym.vector.VectorEnv | str) -> None:
        """Attach an environment (its spaces must match the model's, if it has any)."""
        venv = make_vec_env(env, self.config.n_envs)
        cfg = self.config
        mode = check_training_env(
            venv, self.observation_space, self.action_space, cfg.n_steps, cfg.batch_size, cfg.gamma
        )
        obs_space = venv.single_observation_space
        for spec in self.step_infos:
            if spec.kind == "observation" and not isinstance(obs_space, spaces.Box):
                raise ValueError(
                    f"{type(self).__name__}: observations must be a flat Box (info[{spec.key!r}] shares "
                    f"their layout); got {type(obs_space).__name__}"
                )
        self._check_reward_dim(reward_dim(venv))
        self.env = venv
        self.autoreset_mode = mode
        self.n_envs = venv.num_envs
        self.observation_space, self.action_space = obs_space, venv.single_action_space
        self.rollout = RolloutState()  # a new env starts from a reset

    def _check_reward_dim(self, k: int) -> None:
        """Adopt the env's number of objectives ``k``: with ``k > 1`` rewards, values and returns are
        ``k``-vectors, the policy gets a ``k``-output critic (``n_objectives``), and the advantage hook
        must scalarise the advantages (the multi-objective seam)."""
        if self.observation_space is not None and k != self.reward_dim:
            raise ValueError(f"env: rewards have {k} objective(s); the model was built for {self.reward_dim}")
        if k > MAX_OBJECTIVES:
            raise ValueError(f"env.reward_space: {k} objectives; at most {MAX_OBJECTIVES} are supported")
        if k > 1 and self.config.normalize_reward:
            raise ValueError(
                f"normalize_reward: True is not supported for vector rewards (reward_dim={k}); "
                "scale the objectives in the env"
            )
        allowed = accepted_kwargs(self.policy_class.__init__, skip=3)
        if k > 1 and allowed is not None and "n_objectives" not in allowed:
            raise ValueError(
                f"policy: {self.policy_class.__name__} has no vector critic (no n_objectives argument); "
                f"the env's rewards have {k} objectives"
            )
        self.reward_dim = k

    def _policy_kwargs(self) -> dict[str, Any]:
        """What the policy class is built with: ``policy_kwargs``, the algorithm's additions and,
        for a multi-objective env, ``n_objectives``."""
        assert self.config.policy_kwargs is not None  # OnPolicyConfig's check_mapping made it a dict
        kwargs = {**self.config.policy_kwargs, **self.extra_policy_kwargs}
        if self.reward_dim > 1:
            kwargs["n_objectives"] = self.reward_dim
        return kwargs

    def _setup_model(self) -> None:
        assert self.observation_space is not None and self.action_space is not None
        cfg = self.config
        #: ``_generator``: minibatch order; ``sample_generator``: action sampling (rollouts, predict).
        self._generator, self.sample_generator = seeded_generators(cfg.seed, self.device)
        kwargs = self._policy_kwargs()
        self.policy = self.policy_class(self.observation_space, self.action_space, **kwargs).to(self.device)
        self.optimizer = make_adam(self.policy, self.lr_schedule(1.0))
        self._params = [p for p in self.policy.parameters() if p.requires_grad]
        self.obs_normalizer = (
            ObservationNormalizer(normalized_shapes(self.observation_space), cfg.clip_obs, self.device)
            if cfg.normalize_observation
            else None
        )
        n_envs = self.n_envs if self.env is not None else 1
        self.reward_normalizer = (
            RewardNormalizer(n_envs, cfg.gamma, cfg.clip_reward, self.device)
            if cfg.normalize_reward
            else None
        )

    # ------------------------------------------------------------------ tensors
    def normalize_obs(self, obs: Any, update: bool = False) -> Any:
        """``obs`` (tensors, as from :meth:`obs_to_tensor`) as the policy sees them: through
        ``obs_normalizer`` when the model normalizes observations (``update=True`` also updates its
        running statistics, as the rollout does), else unchanged."""
        return self.obs_normalizer(obs, update) if self.obs_normalizer is not None else obs

    # ------------------------------------------------------------------ episode statistics (SB3 names)
    @property
    def ep_info_buffer(self) -> deque[tuple[float, int]]:
        """``(return, length)`` of the last ``stats_window_size`` finished episodes."""
        return self.episodes.completed

    @property
    def ep_true_buffer(self) -> deque[float]:
        """Unshaped returns of the last finished episodes under :mod:`rlsuite.shaping` (else empty)."""
        return self.episodes.completed_true

    @property
    def step_episodes(self) -> list[tuple[float, int]]:
        """``(true return, length)`` of the episodes the last vector step finished (``EpisodeRecorder``)."""
        return self.episodes.step_episodes

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
        setup = setup_learn(self, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
        if setup.reset_num_timesteps:
            self.num_timesteps, self._n_updates = 0, 0
        start_rollouts(self, setup.reset_num_timesteps)
        self._total_timesteps = total_timesteps + (0 if setup.reset_num_timesteps else self.num_timesteps)
        self.buffer = make_rollout_buffer(self)
        cb = setup.callback
        start, start_steps = time.perf_counter(), self.num_timesteps
        cb.on_training_start({"total_timesteps": self._total_timesteps})
        iteration = 0
        while self.num_timesteps < self._total_timesteps:
            self.rollout.iteration = iteration + 1  # named by the non-finite checks
            if not self.collect_rollouts(cb):
                break
            iteration += 1
            self._update_learning_rate()
            self.train()
            if setup.log_interval and iteration % setup.log_interval == 0:
                self._dump_logs(iteration, start, start_steps)
        cb.on_training_end()
        return self

    def _progress_remaining(self) -> float:
        # Clamped: the last rollout may overshoot total_timesteps, and a schedule must not be
        # read past its end (linear_schedule(3e-4) would give a negative learning rate).
        return max(0.0, 1.0 - self.num_timesteps / max(self._total_timesteps, 1))

    def _update_learning_rate(self) -> None:
        lr = self.lr_schedule(self._progress_remaining())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.logger.record("train/learning_rate", lr)

    def collect_rollouts(self, callback: BaseCallback) -> bool:
        """Hook: fill ``self.buffer`` with ``n_steps`` vector steps and compute its advantages
        (:func:`.rollout.collect_rollouts`); False if a callback stopped training."""
        return collect_rollouts(self, callback)

    def compute_advantages(self, buffer: RolloutBuffer, last_values: Tensor) -> None:
        """Hook: fill ``buffer.advantages`` and ``buffer.returns`` after a rollout (``last_values``:
        V of the observation after its last step). Default: GAE(gamma, gae_lambda). An override
        may store more in ``buffer.extras`` and record ``train/*`` statistics on ``self.logger``."""
        buffer.compute_returns_and_advantage(last_values, self.config.gamma, self.config.gae_lambda)

    @abstractmethod
    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        """Hook: the algorithm's loss on one minibatch (``out``: the policy evaluated on its
        observations and actions); returns ``(loss, stats logged as train/<key>)``."""

    def train(self) -> None:
        """Optimise :meth:`compute_loss` over ``n_epochs`` passes of shuffled minibatches."""
        cfg = self.config
        self.policy.train()
        stats: dict[str, list[float]] = {}
        continue_training = True
        for epoch in range(cfg.n_epochs):
            for batch in self.buffer.minibatches(cfg.batch_size, self._generator):
                continue_training = self._update(batch, epoch, stats)
                if not continue_training:
                    break  # target_kl reached: early stop before this step (SB3's rule)
            self._n_updates += 1
            if not continue_training:
                break
        for k, v in stats.items():
            self.logger.record(f"train/{k}", float(np.mean(v)))
        values, returns = self.buffer.values[self.buffer.valid], self.buffer.returns[self.buffer.valid]
        self.logger.record("train/explained_variance", explained_variance(values, returns))
        self.logger.record("train/n_updates", self._n_updates)
        if hasattr(self.policy.action_head, "log_std"):
            self.logger.record("train/std", float(self.policy.action_head.log_std.detach().exp().mean()))

    def _update(self, batch: RolloutBatch, epoch: int, stats: dict[str, list[float]]) -> bool:
        """One gradient step on ``batch`` (stats appended to ``stats``); False, without a step,
        when the approximate KL exceeds ``1.5 * target_kl``."""
        cfg = self.config
        out = self.policy.evaluate_actions(batch.observations, batch.actions, batch.action_masks)
        loss, info = self.compute_loss(batch, out)
        with torch.no_grad():
            log_ratio = out.log_prob - batch.old_log_prob
            approx_kl = float(((log_ratio.exp() - 1) - log_ratio).mean())
        if cfg.target_kl is not None and approx_kl > 1.5 * cfg.target_kl:
            if cfg.verbose >= 1:
                print(f"Early stopping at epoch {epoch} due to reaching max kl: {approx_kl:.2f}")
            return False
        loss_value = float(loss.detach())  # the logged value; checked before any update
        if cfg.check_finite and not math.isfinite(loss_value):
            raise NonFiniteError(
                f"learn: non-finite loss {loss_value} at num_timesteps={self.num_timesteps} "
                f"(iteration {self.rollout.iteration}, epoch {epoch}); the parameters were not updated "
                f"(minibatch stats: {finite_report(info)}). Lower learning_rate or clip the "
                "rewards; check_finite=False turns this check off"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm(self._params, cfg.max_grad_norm)
        self.optimizer.step()
        info["approx_kl"] = approx_kl
        info["loss"] = loss_value
        for k, v in info.items():
            stats.setdefault(k, []).append(float(v))
        return True

    def _dump_logs(self, iteration: int, start: float, start_steps: int) -> None:
        elapsed = max(time.perf_counter() - start, 1e-9)
        log = self.logger
        if self.ep_info_buffer and self.reward_dim > 1:  # one mean per objective
            means = np.mean([r for r, _ in self.ep_info_buffer], axis=0)
            for i, m in enumerate(means):
                log.record(f"rollout/ep_rew_mean_{i}", float(m))
        elif self.ep_info_buffer:
            log.record("rollout/ep_rew_mean", float(np.mean([r for r, _ in self.ep_info_buffer])))
        if self.ep_info_buffer:
            log.record("rollout/ep_len_mean", float(np.mean([n for _, n in self.ep_info_buffer])))
        if self.ep_true_buffer:
            log.record("rollout/ep_true_rew_mean", float(np.mean(self.ep_true_buffer)))
        log.record("time/iterations", iteration)
        log.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        log.record("time/time_elapsed", int(elapsed))
        log.record("time/total_timesteps", self.num_timesteps)
        log.dump(self.num_timesteps)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Save to a zip: ``data.json`` (class, config, spaces, counters), ``policy.pth``,
        ``policy.optimizer.pth`` and ``normalizers.pth`` (state dicts of tensors only)."""
        policy = self.policy_name
        if not (isinstance(policy, str) and policy in self.policy_aliases):
            policy = self.policy_aliases.to_name(self.policy_class)  # a name, never an import path
        data = agent_data(self, policy, reward_dim=self.reward_dim, n_updates=self._n_updates)
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
        device: str | torch.device = "auto",
        custom_objects: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> OnPolicyAlgorithm:
        """Re-create a saved model (``kwargs`` override saved hyperparameters, as in SB3).

        The saved config is restored through ``cls.config_class``: an unknown key is refused,
        a missing one takes its default (files of earlier versions load). ``device`` chooses
        where the model runs (the saved one is a record). Nothing named in the file is imported:
        the policy, activation and features extractor resolve through the registries
        (:mod:`rlsuite.agents.common.registry`); ``custom_objects`` (SB3's name) supplies a class,
        function or value by key (``"policy"``, ``"activation_fn"``, ``"features_extractor_class"``,
        ``"learning_rate"``, ...). Every tensor is checked against the model's shapes before it is
        copied in. Raises ``ValueError`` for a malformed or foreign file, or when ``env``'s spaces
        differ from the saved ones."""
        data, states, policy, config = read_saved_agent(
            cls, path, ("policy.pth", "policy.optimizer.pth", "normalizers.pth"), custom_objects, kwargs
        )
        model = cls(policy, None, device=device, _init_setup_model=False, **config)  # type: ignore[call-arg]
        model.observation_space = space_from_json(data.get("observation_space"), "observation_space")
        model.action_space = space_from_json(data.get("action_space"), "action_space")
        model.n_envs = 1
        model.reward_dim = saved_count(data, "reward_dim", default=1, low=1, high=MAX_OBJECTIVES)
        if env is not None:
            model.set_env(env)
        model._load_states(states)
        model.num_timesteps = saved_count(data, "num_timesteps")
        model._n_updates = saved_count(data, "n_updates")
        return model

    def _load_states(self, states: dict[str, Any]) -> None:
        """Build the policy and copy in the saved tensors, each checked against the model's first."""
        pk = self._policy_kwargs()
        obs_space, act_space = self.observation_space, self.action_space
        assert obs_space is not None and act_space is not None  # set by load (or set_env) first
        restore_policy(self, states, lambda: self.policy_class(obs_space, act_space, **pk), self._setup_model)
        norms = states["normalizers.pth"]
        for key, normalizer in (("obs", self.obs_normalizer), ("reward", self.reward_normalizer)):
            if isinstance(norms, dict) and key in norms and normalizer is not None:
                check_state_dict(f"normalizers.pth[{key!r}]", norms[key], normalizer.state_dict())
                normalizer.load_state_dict(norms[key])
