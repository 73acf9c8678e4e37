"""Learners that train from a fixed dataset, without an environment (the offline seam).

Offline RL (IQL, AWAC, OPPO, FamO2O) and learning from logged data (DPO, QRPO, RPO) subclass
:class:`OfflineAlgorithm`, give it a config dataclass extending :class:`OfflineConfig`, and write
one hook, :meth:`OfflineAlgorithm.compute_loss` (the loss on a minibatch of transitions). The
base class samples minibatches from its dataset (a :class:`~.datasets.TransitionDataset` by
default; :class:`~.logged.LoggedTrajectories` for the alignment learners) with its own
generator, takes the gradient steps, logs, runs callbacks and the progress bar
(:func:`~.training.setup_learn`, shared with every agent), predicts like the on-policy agents
(:func:`~.observations.predict_actions`) and saves/loads through the one persistence module.
``learn(total_timesteps)`` counts gradient steps.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import (
    check_int,
    check_real,
)

from .callbacks import BaseCallback
from .config import check_shared_fields, config_view
from .datasets import TransitionDataset
from .device import resolve_device, seeded_generators
from .observations import PredictMixin, finite_report
from .optim import clip_grad_norm, make_adam
from .persistence import (
    ParametersMixin,
    agent_data,
    load_spaced_agent,
    write_model_zip,
)
from .policies import POLICY_ALIASES
from .schedules import Schedule, make_schedule
from .training import setup_learn
from .validation import NonFiniteError, check_policy


@dataclass(frozen=True)
class OfflineConfig:
    """Hyperparameters every offline learner shares."""

    learning_rate: float | Schedule = 3e-4
    """Adam's step size, or a schedule of progress_remaining (1 -> 0)."""
    batch_size: int = 256
    """Transitions per minibatch (drawn uniformly with replacement)."""
    gamma: float = 0.99
    """Discount factor, in [0, 1]."""
    max_grad_norm: float = 10.0
    """Largest global L2 norm of the gradient (clipped above it)."""
    tensorboard_log: str | None = None
    """Folder of TensorBoard and CSV runs (None: stdout only, when verbose >= 1)."""
    policy_kwargs: dict[str, Any] | None = None
    """Keyword arguments of the policy class (net_arch, activation_fn, ...)."""
    verbose: int = 0
    """0: silent; 1: the logger prints a table every log_interval gradient steps."""
    seed: int | None = None
    """Seed of the networks' initialization, minibatch sampling and action sampling."""
    device: str | torch.device = "auto"
    """'auto' (the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'."""
    check_finite: bool = True
    """Stop learn at the first NaN/inf loss, before the parameters are updated."""

    def __post_init__(self) -> None:
        check_shared_fields(self)
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, 1))
        object.__setattr__(self, "gamma", check_real("gamma", self.gamma, 0.0, 1.0))


class OfflineAlgorithm(ParametersMixin, PredictMixin, ABC):
    """Base class of the learners that train from a fixed dataset (module docstring)."""

    policy_aliases: ClassVar[Any] = POLICY_ALIASES
    #: The algorithm's config dataclass: its fields are the constructor's parameters.
    config_class: ClassVar[type[OfflineConfig]] = OfflineConfig
    #: The dataset type it trains from (anything with ``observation_space`` and ``action_space``;
    #: :meth:`sample_batch` draws its minibatches).
    dataset_class: ClassVar[type[Any]] = TransitionDataset
    #: Steps per callback call, the progress bar's unit: one gradient step (an env step online).
    n_envs: ClassVar[int] = 1

    config: OfflineConfig
    gamma = config_view("gamma", "Discount factor (config).")

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: Any,
        config: OfflineConfig,
        _init_setup_model: bool = True,
    ) -> None:
        """Called by each algorithm's explicit constructor with its checked ``config``. The spaces
        come from the dataset (``TransitionDataset.observation_space`` / ``action_space``)."""
        self.config = config
        self.lr_schedule = make_schedule(config.learning_rate, "learning_rate")
        self.policy_class = check_policy(policy, self.policy_aliases, config.policy_kwargs or {})
        self.device = resolve_device(config.device)
        self.num_timesteps = 0
        self._total_timesteps = 0
        self._logger = None
        self.dataset: Any = None
        self.observation_space: spaces.Space | None = None
        self.action_space: spaces.Space | None = None
        if dataset is not None:
            self.set_dataset(dataset)
        if _init_setup_model:
            if self.observation_space is None:
                raise ValueError("dataset: needed to build the model (or load a saved one with load)")
            self._setup_model()

    def set_dataset(self, dataset: Any) -> None:
        """Train from ``dataset`` (its spaces must match the model's, if it has any)."""
        kind = self.dataset_class.__name__
        if not isinstance(dataset, self.dataset_class):
            raise TypeError(
                f"dataset: got {type(dataset).__name__}; {type(self).__name__} trains from a {kind}"
            )
        if dataset.observation_space is None or dataset.action_space is None:
            raise ValueError(f"dataset: has no observation_space/action_space; pass them to {kind}")
        if self.observation_space is not None and (
            dataset.observation_space != self.observation_space or dataset.action_space != self.action_space
        ):
            raise ValueError(
                f"dataset: spaces {dataset.observation_space}, {dataset.action_space} differ from the "
                f"model's {self.observation_space}, {self.action_space}"
            )
        self.dataset = dataset
        self.observation_space, self.action_space = dataset.observation_space, dataset.action_space

    def _setup_model(self) -> None:
        cfg = self.config
        assert cfg.policy_kwargs is not None  # OfflineConfig's check_mapping made it a dict
        self._generator, self.sample_generator = seeded_generators(cfg.seed, self.device)
        self.policy = self.policy_class(self.observation_space, self.action_space, **cfg.policy_kwargs).to(
            self.device
        )
        self.optimizer = make_adam(self.policy, self.lr_schedule(1.0))
        self._params = [p for p in self.policy.parameters() if p.requires_grad]

    # ------------------------------------------------------------------ learning
    @abstractmethod
    def compute_loss(self, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """Hook: the algorithm's loss on one minibatch (a :class:`TransitionBatch` by default, what
        :meth:`sample_batch` returns); returns ``(loss, stats logged as train/<key>)``."""

    def sample_batch(self) -> Any:
        """Hook: one minibatch of the dataset (default: ``batch_size`` transitions drawn uniformly
        with the model's generator)."""
        return self.dataset.sample(self.config.batch_size, self._generator, self.device)

    def on_learn_start(self) -> None:
        """Hook: called at the start of every ``learn``, after the logger and callbacks are set up
        (e.g. to make a frozen reference policy the first time)."""

    def learn(
        self,
        total_timesteps: int,
        callback: BaseCallback | list[BaseCallback] | None = None,
        log_interval: int = 100,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> OfflineAlgorithm:
        """Take ``total_timesteps`` gradient steps on minibatches of the dataset; log every
        ``log_interval`` steps. Returns ``self``."""
        if self.dataset is None:
            raise ValueError(
                "no dataset: pass one to the constructor, load(..., dataset=...) or set_dataset()"
            )
        total_timesteps = check_int("total_timesteps", total_timesteps, 1)
        setup = setup_learn(self, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
        if setup.reset_num_timesteps:
            self.num_timesteps = 0
        self.on_learn_start()
        start_steps, start = self.num_timesteps, time.perf_counter()
        self._total_timesteps = start_steps + total_timesteps
        cb = setup.callback
        cb.on_training_start({"total_timesteps": self._total_timesteps})
        stats: dict[str, list[float]] = {}
        self.policy.train()
        while self.num_timesteps < self._total_timesteps:
            self._gradient_step(stats)
            self.num_timesteps += 1
            if not cb.on_step():
                break
            if setup.log_interval and (self.num_timesteps - start_steps) % setup.log_interval == 0:
                self._dump_logs(stats, start, start_steps)
                stats = {}
        cb.on_training_end()
        return self

    def _gradient_step(self, stats: dict[str, list[float]]) -> None:
        assert self.dataset is not None
        lr = self.lr_schedule(max(0.0, 1.0 - self.num_timesteps / max(self._total_timesteps, 1)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss, info = self.compute_loss(self.sample_batch())
        loss_value = float(loss.detach())
        if self.config.check_finite and not math.isfinite(loss_value):
            raise NonFiniteError(
                f"learn: non-finite loss {loss_value} at gradient step {self.num_timesteps + 1}; the "
                f"parameters were not updated (minibatch stats: {finite_report(info)})"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_grad_norm(self._params, self.config.max_grad_norm)
        self.optimizer.step()
        for k, v in {**info, "loss": loss_value, "learning_rate": lr}.items():
            stats.setdefault(k, []).append(float(v))

    def _dump_logs(self, stats: dict[str, list[float]], start: float, start_steps: int) -> None:
        elapsed = max(time.perf_counter() - start, 1e-9)
        for k, v in stats.items():
            self.logger.record(f"train/{k}", float(np.mean(v)))
        self.logger.record("time/gradient_steps_per_s", int((self.num_timesteps - start_steps) / elapsed))
        self.logger.record("time/total_timesteps", self.num_timesteps)
        self.logger.dump(self.num_timesteps)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Save to a zip: ``data.json`` (class, config, spaces, step count), ``policy.pth`` and
        ``policy.optimizer.pth`` (tensors only; loading runs no code)."""
        data = agent_data(self, self.policy_aliases.to_name(self.policy_class))
        states = {"policy.pth": self.policy.state_dict(), "policy.optimizer.pth": self.optimizer.state_dict()}
        write_model_zip(path, data, states)

    @classmethod
    def load(
        cls,
        path: str | Path,
        dataset: Any = None,
        device: str | torch.device = "auto",
        custom_objects: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> OfflineAlgorithm:
        """Re-create a saved learner (``kwargs`` override saved hyperparameters); the same safe
        loading rules as every agent (names through registries, tensors checked first)."""

        def attach(model: OfflineAlgorithm) -> None:
            if dataset is not None:
                model.set_dataset(dataset)

        model, _ = load_spaced_agent(cls, path, device, custom_objects, kwargs, attach, cls._setup_model)
        return model
