"""Typed configuration of the on-policy agents (ARCHITECTURE principle 5).

Each algorithm has a frozen dataclass config (``PPOConfig``, ``BPOConfig``, ``PDPPOConfig``, in
the algorithm's file) extending :class:`OnPolicyConfig`; its fields are exactly the parameters
of the algorithm's constructor, with the same defaults (a test holds them equal). The config
checks every field when it is made, so a model's ``config`` is always valid; it is saved as JSON
in the model's zip (:func:`config_to_json`) and restored through the same dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import torch

from rlsuite.validation import (
    check_bool,
    check_int,
    check_mapping,
    check_optional_real,
    check_optional_str,
    check_real,
    check_seed,
)

from .device import resolve_device
from .schedules import Schedule, check_schedule, schedule_to_json


class DataclassConfig(Protocol):
    """A frozen dataclass config (``OnPolicyConfig``, HDPO's, the offline learners'): what
    :func:`config_from_arguments` builds and :func:`config_to_json` saves."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @property
    def device(self) -> str | torch.device: ...


C = TypeVar("C", bound=DataclassConfig)


@dataclass(frozen=True)
class OnPolicyConfig:
    """Hyperparameters every on-policy agent shares (Stable-Baselines3's names and defaults)."""

    learning_rate: float | Schedule = 3e-4
    """Adam's step size, or a schedule of progress_remaining (1 -> 0), e.g. linear_schedule(3e-4)."""
    n_steps: int = 2048
    """Vector steps per rollout (a rollout holds n_steps * n_envs transitions)."""
    batch_size: int = 64
    """Transitions per minibatch."""
    n_epochs: int = 10
    """Passes over each rollout."""
    gamma: float = 0.99
    """Discount factor, in [0, 1]."""
    gae_lambda: float = 0.95
    """GAE's lambda, in [0, 1] (1: Monte-Carlo returns, 0: one-step TD)."""
    normalize_advantage: bool = True
    """Normalize the advantages of each minibatch to zero mean and unit std."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus in the loss."""
    vf_coef: float = 0.5
    """Weight of the value loss in the loss."""
    max_grad_norm: float = 0.5
    """Largest global L2 norm of the gradient (clipped above it)."""
    target_kl: float | None = None
    """Stop an update's epochs when the approximate KL exceeds 1.5 * target_kl (None: never)."""
    stats_window_size: int = 100
    """Episodes averaged in rollout/ep_rew_mean and rollout/ep_len_mean."""
    tensorboard_log: str | None = None
    """Folder of TensorBoard and CSV runs (None: stdout only, when verbose >= 1)."""
    policy_kwargs: dict[str, Any] | None = None
    """Keyword arguments of the policy class (net_arch, activation_fn, ...)."""
    verbose: int = 0
    """0: silent; 1: the logger prints a table every log_interval iterations."""
    seed: int | None = None
    """Seed of the policy's initialization, action sampling, minibatch order and env resets."""
    device: str | torch.device = "auto"
    """'auto' (the CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'; load(device=...) chooses it for a saved model."""
    n_envs: int = 1
    """Copies of the environment made when env is an id."""
    normalize_observation: bool = False
    """Normalize observations with running statistics (saved with the model)."""
    normalize_reward: bool = False
    """Divide rewards by the running std of the discounted return (saved with the model)."""
    clip_obs: float = 10.0
    """Bound of normalized observations, > 0."""
    clip_reward: float = 10.0
    """Bound of normalized rewards, > 0."""
    check_finite: bool = True
    """Stop learn at the first NaN/inf reward, observation or loss (one cheap check per step)."""

    def __post_init__(self) -> None:
        self._set("learning_rate", check_schedule(self.learning_rate, "learning_rate"))
        for name in ("n_steps", "batch_size", "n_epochs", "stats_window_size", "n_envs"):
            self._set(name, check_int(name, getattr(self, name), 1))
        self._set("gamma", check_real("gamma", self.gamma, 0.0, 1.0))
        self._set("gae_lambda", check_real("gae_lambda", self.gae_lambda, 0.0, 1.0))
        self._set("ent_coef", check_real("ent_coef", self.ent_coef, low=0.0))
        self._set("vf_coef", check_real("vf_coef", self.vf_coef, low=0.0))
        for name in ("max_grad_norm", "clip_obs", "clip_reward"):
            self._set(name, check_real(name, getattr(self, name), low=0.0, low_open=True))
        self._set("target_kl", check_optional_real("target_kl", self.target_kl, low=0.0, low_open=True))
        for name in ("normalize_advantage", "normalize_observation", "normalize_reward", "check_finite"):
            self._set(name, check_bool(name, getattr(self, name)))
        self._set("tensorboard_log", check_optional_str("tensorboard_log", self.tensorboard_log))
        self._set("policy_kwargs", check_mapping("policy_kwargs", self.policy_kwargs))
        self._set("verbose", check_int("verbose", self.verbose, 0))
        self._set("seed", check_seed("seed", self.seed))
        resolve_device(self.device)  # checked here, resolved by the model

    def _set(self, name: str, value: Any) -> None:
        """Store a checked (canonical-typed) value in the frozen config."""
        object.__setattr__(self, name, value)


def check_shared_fields(config: Any) -> None:
    """Check (and store canonically) the fields every agent's config has: ``learning_rate``,
    ``max_grad_norm`` (> 0), ``tensorboard_log``, ``policy_kwargs``, ``verbose``, ``seed``,
    ``check_finite`` and ``device``."""
    set_ = object.__setattr__
    set_(config, "learning_rate", check_schedule(config.learning_rate, "learning_rate"))
    norm = check_real("max_grad_norm", config.max_grad_norm, low=0.0, low_open=True)
    set_(config, "max_grad_norm", norm)
    set_(config, "tensorboard_log", check_optional_str("tensorboard_log", config.tensorboard_log))
    set_(config, "policy_kwargs", check_mapping("policy_kwargs", config.policy_kwargs))
    set_(config, "verbose", check_int("verbose", config.verbose, 0))
    set_(config, "seed", check_seed("seed", config.seed))
    set_(config, "check_finite", check_bool("check_finite", config.check_finite))
    resolve_device(config.device)  # checked here, resolved by the model


def config_from_arguments(cls: type[C], arguments: Mapping[str, Any]) -> C:
    """``cls`` built from a constructor's ``locals()``: its fields are the constructor's parameters
    (tests hold the two equal), so nothing is listed twice."""
    return cls(**{f.name: arguments[f.name] for f in dataclasses.fields(cls)})


def config_to_json(config: DataclassConfig, policy_kwargs_json: dict[str, Any]) -> dict[str, Any]:
    """``dataclasses.asdict(config)`` for ``data.json``: schedules in their JSON form (a custom
    callable as ``None``: pass it again to ``load``), policy_kwargs with registered names, the
    device as a string."""
    out = {k: schedule_to_json(v) for k, v in dataclasses.asdict(config).items()}
    out["policy_kwargs"] = policy_kwargs_json
    out["device"] = str(config.device)
    return out


def config_view(name: str, doc: str) -> property:
    """A read-only model attribute showing ``model.config.<name>`` (SB3's ``model.gamma``, ...):
    the config is the one copy of each hyperparameter."""

    def get(self: Any) -> Any:
        return getattr(self.config, name)

    def refuse(self: Any, value: Any) -> None:
        raise AttributeError(
            f"{name}: hyperparameters are fixed when the model is built; pass {name}=... to the "
            f"constructor, or to load() to change a saved model's"
        )

    return property(get, refuse, doc=doc)
