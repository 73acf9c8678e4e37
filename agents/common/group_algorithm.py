"""The group-relative agent core: N rollouts per instance, outcome advantages, no critic.

Each iteration of ``learn`` plays ``n_groups`` instances ``group_size`` times each
(:func:`~.groups.collect_grouped_episodes`: a vector env of ``n_groups * group_size`` copies,
reset with group seeds; instance seeds ``first_instance, first_instance + 1, ...`` are consumed in
order, so training never touches held-out seeds above them), turns each episode's return into an
advantage relative to its group and broadcasts it to the episode's steps (turn level: one action
choice, however many tokens it has, is one step), then optimises the algorithm's loss over
``n_epochs`` passes of shuffled minibatches of steps.

An algorithm (``GRPO``, ``RLOO``, ``GBPO``, ``OPRL``) subclasses :class:`GroupAlgorithm`, gives it a
config extending :class:`GroupConfig`, and writes :meth:`~GroupAlgorithm.compute_loss`; it may
override :meth:`~GroupAlgorithm.compute_advantages` (per-step targets from the episodes). The
policy is any actor-critic-shaped policy (``TextPolicy``, ``MlpPolicy``, the causal-LM policy):
its value head is not used. ``kl_coef > 0`` adds the k3 estimate of ``KL(pi || pi_ref)`` to a
frozen copy of the policy as it was when ``learn`` was first called (e.g. after supervised
fine-tuning with ``behavior_cloning``; :meth:`GroupAlgorithm.reset_reference` moves it).
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import (
    check_choice,
    check_int,
    check_real,
    check_seed,
)

from .callbacks import BaseCallback
from .config import check_shared_fields, config_view
from .device import resolve_device, seeded_generators
from .groups import GROUP_ADVANTAGES, GroupedEpisodes, collect_grouped_episodes
from .observations import PredictMixin, finite_report, obs_to_tensor, split_masks
from .optim import clip_grad_norm, make_adam
from .persistence import (
    ParametersMixin,
    agent_data,
    load_spaced_agent,
    saved_count,
    write_model_zip,
)
from .policies import POLICY_ALIASES, PolicyOutput
from .registry import Registry
from .schedules import Schedule, make_schedule
from .spaces import spaces_equal
from .training import setup_learn
from .validation import NonFiniteError, check_policy

#: How a minibatch's per-step losses are averaged (:attr:`GroupConfig.step_weighting`).
STEP_WEIGHTINGS = ("episode", "step")


@dataclass(frozen=True)
class GroupConfig:
    """Hyperparameters every group-relative agent shares."""

    learning_rate: float | Schedule = 1e-4
    """Adam's step size, or a schedule of progress_remaining (1 -> 0)."""
    n_groups: int = 8
    """Instances played per iteration."""
    group_size: int = 8
    """Rollouts of each instance (the group its outcomes are compared within)."""
    max_episode_steps: int = 200
    """Longest recorded episode; a longer one is cut (counted as not terminated)."""
    n_epochs: int = 4
    """Passes over each iteration's steps."""
    batch_size: int = 256
    """Steps per minibatch."""
    advantage: str = "grpo"
    """Outcome advantage: 'grpo' (group z-score), 'rloo' (leave-one-out) or 'drgrpo' (no std)."""
    step_weighting: str = "episode"
    """'episode': every episode weighs the same (mean over its steps, then over episodes: GRPO's
    1/|o_i|); 'step': every step the same (DAPO / Dr.GRPO's token-level sum: long episodes weigh more)."""
    clip_range: float = 0.2
    """eps of the clipped surrogate (GRPO/RLOO/OPRL) or of the bounded target ratio (GBPO), in (0, 1)."""
    kl_coef: float = 0.0
    """Weight of KL(pi || pi_ref) to the policy as built or loaded (0: no reference kept)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Largest global L2 norm of the gradient (clipped above it)."""
    first_instance: int = 0
    """Seed of the first training instance; iteration k plays first_instance + k * n_groups + g."""
    stats_window_size: int = 100
    """Episodes averaged in rollout/ep_rew_mean and rollout/success_rate."""
    tensorboard_log: str | None = None
    """Folder of TensorBoard and CSV runs (None: stdout only, when verbose >= 1)."""
    policy_kwargs: dict[str, Any] | None = None
    """Keyword arguments of the policy class."""
    verbose: int = 0
    """0: silent; 1: the logger prints a table every log_interval iterations."""
    seed: int | None = None
    """Seed of the policy's initialization, action sampling and minibatch order."""
    device: str | torch.device = "auto"
    """'auto' (the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    check_finite: bool = True
    """Stop learn at the first NaN/inf loss, before the parameters are updated."""

    def __post_init__(self) -> None:
        check_shared_fields(self)
        set_ = object.__setattr__
        for name in ("n_groups", "group_size", "max_episode_steps", "n_epochs", "batch_size"):
            set_(self, name, check_int(name, getattr(self, name), 1))
        set_(self, "stats_window_size", check_int("stats_window_size", self.stats_window_size, 1))
        check_choice("advantage", self.advantage, GROUP_ADVANTAGES)
        check_choice("step_weighting", self.step_weighting, STEP_WEIGHTINGS)
        eps = check_real("clip_range", self.clip_range, 0.0, 1.0, low_open=True, high_open=True)
        set_(self, "clip_range", eps)
        for name in ("kl_coef", "ent_coef"):
            set_(self, name, check_real(name, getattr(self, name), low=0.0))
        set_(self, "first_instance", check_seed("first_instance", self.first_instance))


class GroupBatch(NamedTuple):
    """A minibatch of recorded steps."""

    observations: Any
    actions: Tensor
    action_masks: Tensor | None
    old_log_prob: Tensor
    advantages: Tensor
    weights: Tensor
    """Per-step loss weights with mean 1 over the iteration (see ``step_weighting``): a loss is
    ``mean(weights * per_step_loss)``."""
    extras: dict[str, Tensor]
    """Further per-step targets from :meth:`GroupAlgorithm.compute_advantages` (e.g. GBPO's target ratios)."""


class GroupAlgorithm(ParametersMixin, PredictMixin, ABC):
    """Base class of the group-relative agents (see the module docstring)."""

    policy_aliases: ClassVar[Registry] = POLICY_ALIASES
    #: The algorithm's config dataclass: its fields are the constructor's parameters.
    config_class: ClassVar[type[GroupConfig]] = GroupConfig

    config: GroupConfig
    #: An actor-critic-shaped policy (``forward``, ``evaluate_actions``, ``act``, ``action_head``).
    policy: Any
    n_groups = config_view("n_groups", "Instances per iteration (config).")
    group_size = config_view("group_size", "Rollouts per instance (config).")

    def __init__(
        self,
        policy: str | type[nn.Module],
        env: gym.vector.VectorEnv | str | None,
        config: GroupConfig,
        _init_setup_model: bool = True,
    ) -> None:
        """Called by each algorithm's explicit constructor with its checked ``config``. ``env``: an
        id (``n_groups * group_size`` sync copies) or a vector env of that many copies."""
        self.config = config
        self.lr_schedule = make_schedule(config.learning_rate, "learning_rate")
        self.policy_class = check_policy(policy, self.policy_aliases, config.policy_kwargs or {})
        self.device = resolve_device(config.device)
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._n_updates = 0
        self._iteration = 0
        self._logger = None
        #: ``(return, length)`` of the last finished episodes (SB3's ``ep_info_buffer``).
        self.ep_info_buffer: deque[tuple[float, int]] = deque(maxlen=config.stats_window_size)
        #: ``info["won"]`` / ``info["success"]`` of the last finished episodes, where the env reports it.
        self.ep_success_buffer: deque[float] = deque(maxlen=config.stats_window_size)
        self.env: gym.vector.VectorEnv | None = None
        self.observation_space: spaces.Space | None = None
        self.action_space: spaces.Space | None = None
        self.reference: Any = None
        if env is not None:
            self.set_env(env)
        if _init_setup_model:
            if self.observation_space is None:
                raise ValueError("env: needed to build the model (or load a saved one with load)")
            self._setup_model()

    # ------------------------------------------------------------------ setup
    def set_env(self, env: gym.vector.VectorEnv | str) -> None:
        """Train on ``env`` (its spaces must match the model's, if it has any)."""
        n = self.config.n_groups * self.config.group_size
        if isinstance(env, str):
            env = gym.make_vec(env, num_envs=n, vectorization_mode="sync")
        if not isinstance(env, gym.vector.VectorEnv):
            raise TypeError(
                f"env: got {type(env).__name__}; must be an id or a gymnasium.vector.VectorEnv of "
                f"n_groups * group_size = {n} copies"
            )
        if env.num_envs != n:
            raise ValueError(f"env: {env.num_envs} copies; n_groups * group_size = {n} are needed")
        obs_space, act_space = env.single_observation_space, env.single_action_space
        if self.observation_space is not None and not (
            spaces_equal(obs_space, self.observation_space) and spaces_equal(act_space, self.action_space)
        ):
            raise ValueError(
                f"env: spaces differ from the model's: observation {obs_space} vs {self.observation_space}, "
                f"action {act_space} vs {self.action_space}"
            )
        self.env = env
        self.observation_space, self.action_space = obs_space, act_space

    def _setup_model(self) -> None:
        cfg = self.config
        self._generator, self.sample_generator = seeded_generators(cfg.seed, self.device)
        self.policy = self.policy_class(
            self.observation_space, self.action_space, **(cfg.policy_kwargs or {})
        )
        self.policy = self.policy.to(self.device)
        self.optimizer = make_adam(self.policy, self.lr_schedule(1.0))
        self._params = [p for p in self.policy.parameters() if p.requires_grad]
        self.reference = None

    def reset_reference(self) -> None:
        """Make the KL reference a frozen copy of the current policy (``learn`` does it the first
        time it runs; call it again to anchor the KL elsewhere). No reference when ``kl_coef = 0``."""
        self.reference = frozen_copy(self.policy) if self.config.kl_coef > 0 else None

    def on_learn_start(self) -> None:
        """Called at the start of every ``learn`` (after ``setup_learn``): makes the KL reference
        the first time. Algorithms with more policy-shaped parts (OPRL's reward model) extend it."""
        if self.reference is None:
            self.reset_reference()

    # ------------------------------------------------------------------ hooks
    def compute_advantages(self, episodes: GroupedEpisodes) -> dict[str, Tensor]:
        """Hook: per-step targets from the iteration's episodes; must contain ``"advantages"``
        (``[n_steps]``); other entries reach ``GroupBatch.extras``. Default: the config's outcome
        advantage (GRPO / RLOO / Dr.GRPO) of each step's episode."""
        return {"advantages": episodes.step_advantages(self.config.advantage)}

    @abstractmethod
    def compute_loss(self, batch: GroupBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        """Hook: the algorithm's loss on a minibatch of steps; returns ``(loss, train/* stats)``."""

    def kl_to_reference(self, batch: GroupBatch, out: PolicyOutput) -> Tensor:
        """Per-step k3 estimate of ``KL(pi || pi_ref)``: ``exp(d) - d - 1`` with
        ``d = log pi_ref(a|s) - log pi(a|s)`` (non-negative, unbiased; GRPO's estimator)."""
        if self.reference is None:
            return torch.zeros_like(out.log_prob)
        with torch.no_grad():
            ref = self.reference.evaluate_actions(batch.observations, batch.actions, batch.action_masks)
        d = ref.log_prob - out.log_prob
        return torch.exp(d) - d - 1

    # ------------------------------------------------------------------ learning
    def learn(
        self,
        total_timesteps: int,
        callback: BaseCallback | list[BaseCallback] | None = None,
        log_interval: int = 1,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> GroupAlgorithm:
        """Train for ``total_timesteps`` recorded env steps (whole iterations: at least that many).
        Callbacks' ``on_step`` runs once per iteration. Returns ``self``."""
        if self.env is None:
            raise ValueError("no env: pass one to the constructor, load(..., env=...) or set_env()")
        total_timesteps = check_int("total_timesteps", total_timesteps, 1)
        setup = setup_learn(self, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
        if setup.reset_num_timesteps:
            self.num_timesteps, self._n_updates, self._iteration = 0, 0, 0
        self._total_timesteps = self.num_timesteps + total_timesteps
        self.on_learn_start()
        cb = setup.callback
        start, start_steps = time.perf_counter(), self.num_timesteps
        cb.on_training_start({"total_timesteps": self._total_timesteps})
        while self.num_timesteps < self._total_timesteps:
            episodes = self.collect()
            cb.update_locals({"episodes": episodes})
            if not cb.on_step():
                break
            self.train(episodes)
            if setup.log_interval and self._iteration % setup.log_interval == 0:
                self._dump_logs(start, start_steps)
        cb.on_training_end()
        return self

    @torch.no_grad()
    def collect(self) -> GroupedEpisodes:
        """Play the next ``n_groups`` instances ``group_size`` times with the current policy."""
        assert self.env is not None
        cfg = self.config
        self.policy.eval()

        def step_fn(obs: Any, active: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
            obs_t, masks = split_masks(obs_to_tensor(obs, self.device))
            actions, _, log_prob = self.policy(obs_t, action_masks=masks, generator=self.sample_generator)
            return self.policy.action_head.to_env(actions).cpu().numpy(), {"log_prob": log_prob.float()}

        seed = cfg.first_instance + self._iteration * cfg.n_groups
        episodes = collect_grouped_episodes(self.env, step_fn, cfg.group_size, seed, cfg.max_episode_steps)
        self._iteration += 1
        self.num_timesteps += int(episodes.lengths.sum())
        success = episodes.final_infos.get("won", episodes.final_infos.get("success"))
        for e in range(episodes.n_episodes):
            self.ep_info_buffer.append((float(episodes.returns[e]), int(episodes.lengths[e])))
            if success is not None:
                self.ep_success_buffer.append(0.0 if np.isnan(success[e]) else float(success[e]))
        return episodes

    def train(self, episodes: GroupedEpisodes) -> None:
        """Optimise :meth:`compute_loss` over ``n_epochs`` passes of shuffled minibatches of the
        iteration's steps."""
        cfg = self.config
        lr = self.lr_schedule(max(0.0, 1.0 - self.num_timesteps / max(self._total_timesteps, 1)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        targets = self.compute_advantages(episodes)
        if "advantages" not in targets:
            raise ValueError(f"{type(self).__name__}.compute_advantages: returned no 'advantages'")
        data = self._step_tensors(episodes, targets)
        n = int(data["old_log_prob"].shape[0])
        self.policy.train()
        stats: dict[str, list[float]] = {}
        for epoch in range(cfg.n_epochs):
            order = torch.randperm(n, generator=self._generator).to(self.device)
            for start in range(0, n, cfg.batch_size):
                self._update(_take_batch(data, order[start : start + cfg.batch_size]), epoch, stats)
            self._n_updates += 1
        self.logger.record("train/learning_rate", lr)
        for k, v in stats.items():
            self.logger.record(f"train/{k}", float(np.mean(v)))

    def _step_tensors(self, episodes: GroupedEpisodes, targets: dict[str, Tensor]) -> dict[str, Any]:
        obs, masks = split_masks(obs_to_tensor(episodes.steps["obs"], self.device))
        actions = self.policy.action_head.from_env(
            torch.as_tensor(episodes.steps["actions"], device=self.device)
        )
        return {
            "observations": obs,
            "actions": actions,
            "action_masks": masks,
            "old_log_prob": episodes.steps["log_prob"].to(self.device),
            "weights": step_weights(episodes, self.config.step_weighting).to(self.device),
            **{k: v.to(self.device, torch.float32) for k, v in targets.items()},
        }

    def _update(self, batch: GroupBatch, epoch: int, stats: dict[str, list[float]]) -> None:
        out = self.policy.evaluate_actions(batch.observations, batch.actions, batch.action_masks)
        loss, info = self.compute_loss(batch, out)
        loss_value = float(loss.detach())
        if self.config.check_finite and not np.isfinite(loss_value):
            raise NonFiniteError(
                f"learn: non-finite loss {loss_value} at iteration {self._iteration}, epoch {epoch}; the "
                f"parameters were not updated (minibatch stats: {finite_report(info)})"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm(self._params, self.config.max_grad_norm)
        self.optimizer.step()
        with torch.no_grad():
            log_ratio = out.log_prob - batch.old_log_prob
            info["approx_kl"] = float(((log_ratio.exp() - 1) - log_ratio).mean())
        info["loss"] = loss_value
        for k, v in info.items():
            stats.setdefault(k, []).append(float(v))

    def _dump_logs(self, start: float, start_steps: int) -> None:
        elapsed = max(time.perf_counter() - start, 1e-9)
        log = self.logger
        if self.ep_info_buffer:
            log.record("rollout/ep_rew_mean", float(np.mean([r for r, _ in self.ep_info_buffer])))
            log.record("rollout/ep_len_mean", float(np.mean([n for _, n in self.ep_info_buffer])))
        if self.ep_success_buffer:
            log.record("rollout/success_rate", float(np.mean(self.ep_success_buffer)))
        log.record("time/iterations", self._iteration)
        log.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        log.record("time/time_elapsed", int(elapsed))
        log.record("time/total_timesteps", self.num_timesteps)
        log.record("train/n_updates", self._n_updates)
        log.dump(self.num_timesteps)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Save to a zip: ``data.json`` (class, config, spaces, counters), ``policy.pth`` and
        ``policy.optimizer.pth`` (tensors only; loading runs no code)."""
        policy = self.policy_aliases.to_name(self.policy_class)
        data = agent_data(self, policy, n_updates=self._n_updates, iteration=self._iteration)
        states = {"policy.pth": self.policy.state_dict(), "policy.optimizer.pth": self.optimizer.state_dict()}
        write_model_zip(path, data, states)

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: gym.vector.VectorEnv | str | None = None,
        device: str | torch.device = "auto",
        custom_objects: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> GroupAlgorithm:
        """Re-create a saved agent (``kwargs`` override saved hyperparameters); the safe loading
        rules of every agent. The KL reference is made from the loaded policy when ``learn`` runs.
        Training continues with the next unplayed instances."""

        def attach(model: GroupAlgorithm) -> None:
            if env is not None:
                model.set_env(env)

        model, data = load_spaced_agent(cls, path, device, custom_objects, kwargs, attach, cls._setup_model)
        model._n_updates = saved_count(data, "n_updates")
        model._iteration = saved_count(data, "iteration")
        return model


def step_weights(episodes: GroupedEpisodes, weighting: str) -> Tensor:
    """Per-step loss weights, mean 1 over the recorded steps: ``n_steps / (n_episodes * length of
    the step's episode)`` for ``"episode"`` (each episode counts once), 1 for ``"step"``."""
    check_choice("step_weighting", weighting, STEP_WEIGHTINGS)
    n = len(episodes.episode_of_step)
    if weighting == "step":
        return torch.ones(n)
    lengths = torch.as_tensor(episodes.lengths, dtype=torch.float32)[
        torch.as_tensor(episodes.episode_of_step)
    ]
    return n / (episodes.n_episodes * lengths)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` in eval mode whose parameters take no gradient."""
    out = copy.deepcopy(module).eval()
    for p in out.parameters():
        p.requires_grad_(False)
    return out


def _take_batch(data: dict[str, Any], idx: Tensor) -> GroupBatch:
    obs = data["observations"]
    masks = data["action_masks"]
    core = {"observations", "actions", "action_masks", "old_log_prob", "advantages", "weights"}
    return GroupBatch(
        {k: v[idx] for k, v in obs.items()} if isinstance(obs, dict) else obs[idx],
        data["actions"][idx],
        masks[idx] if masks is not None else None,
        data["old_log_prob"][idx],
        data["advantages"][idx],
        data["weights"][idx],
        {k: v[idx] for k, v in data.items() if k not in core},
    )
