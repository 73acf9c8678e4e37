"""What IQL and AWAC share on top of the offline seam (:class:`~..common.offline.OfflineAlgorithm`):
actor-critic training from a :class:`~..common.datasets.TransitionDataset`.

- **One loss, one optimizer.** An algorithm's ``compute_loss`` returns the sum of its critic, value
  and actor losses. Each term's gradient reaches only its own network (what it borrows from the
  others is computed without gradient) and Adam works per parameter, so one Adam on the sum takes
  the same steps as one Adam per network, every term computed from the networks before this step's
  update (as CORL's IQL; IQL's own code updates V first and feeds the new V to the other two).
  Adam's eps is torch's 1e-8, as in the papers' code.
- **Two learning-rate groups**, actor and critics. The seam sets both from ``learning_rate`` each
  step; a step pre-hook of the optimizer then multiplies the actor's by ``actor_lr_schedule``:
  ``"cosine"``, ``0.5 (1 + cos(pi t / T))`` over the ``T`` steps of ``learn`` (IQL's code:
  ``optax.cosine_decay_schedule`` over the run), or ``"constant"``.
- **Target critics** follow the critics by Polyak averaging with rate ``tau`` after every optimizer
  step (a step post-hook).
- **TD targets** ``r + gamma (1 - terminated) V(s')``: a truncated transition bootstraps
  (:func:`td_target`). Rewards are multiplied by ``reward_scale`` first (IQL's locomotion runs:
  :func:`return_range_scale`).
- **Gradient clipping**: the papers' code clips nothing; ``max_grad_norm`` defaults to a bound
  that does not bind (a lower one clips the global norm of all the networks' gradients together).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from rlsuite.validation import check_choice, check_real

from ..common.datasets import TransitionBatch, TransitionDataset
from ..common.offline import OfflineAlgorithm, OfflineConfig
from .networks import OfflineActorCriticPolicy

ACTOR_LR_SCHEDULES = ("constant", "cosine")
"""How the actor's learning rate changes over ``learn`` (a factor on ``learning_rate``)."""
NO_CLIP = 1e6
"""The default ``max_grad_norm``: a bound no gradient of these learners reaches in practice."""


def td_target(rewards: Tensor, terminations: Tensor, next_values: Tensor, gamma: float) -> Tensor:
    """``r + gamma (1 - terminated) V(s')`` per transition (``[B]``): a terminated transition has no
    future; a truncated one (cut by a time limit) bootstraps from ``V(s')``."""
    return rewards + gamma * (1.0 - terminations.float()) * next_values


def return_range_scale(dataset: TransitionDataset, scale: float = 1000.0) -> float:
    """IQL's reward normalisation of the MuJoCo locomotion datasets, as a ``reward_scale``:
    ``scale / (max episode return - min episode return)`` over the dataset's episodes."""
    returns = dataset.episode_returns()
    if returns.ndim != 1:
        raise ValueError("dataset: vector rewards; return_range_scale needs scalar rewards")
    spread = float(np.max(returns) - np.min(returns))
    if spread <= 0:
        raise ValueError(
            f"dataset: every episode returns {float(returns[0]):g}; the return range is 0 (need >= 2 "
            "different returns)"
        )
    return check_real("scale", scale, 0.0, low_open=True) / spread


@dataclass(frozen=True)
class OfflineActorCriticConfig(OfflineConfig):
    """Hyperparameters every offline actor-critic learner shares (the papers' defaults)."""

    max_grad_norm: float = NO_CLIP
    """Largest global L2 norm of the gradient of all networks together (default: no clipping in
    practice, as the papers' code)."""
    tau: float = 0.005
    """Polyak rate of the target critics, in (0, 1] (1: copy the critics every step)."""
    actor_lr_schedule: str = "constant"
    """Factor on the actor's learning rate over learn: 'constant' or 'cosine' (decays to 0)."""
    reward_scale: float = 1.0
    """Multiplies every reward before it enters the TD targets, > 0 (return_range_scale(dataset):
    IQL's normalisation of the locomotion datasets)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "tau", check_real("tau", self.tau, 0.0, 1.0, low_open=True))
        check_choice("actor_lr_schedule", self.actor_lr_schedule, ACTOR_LR_SCHEDULES)
        object.__setattr__(
            self, "reward_scale", check_real("reward_scale", self.reward_scale, 0.0, low_open=True)
        )


class OfflineActorCritic(OfflineAlgorithm):
    """Base of IQL and AWAC (module docstring): a dataset of transitions with scalar rewards, an
    :class:`~.networks.OfflineActorCriticPolicy`, one Adam with an actor and a critic group, Polyak
    target critics."""

    config_class: ClassVar[type[OfflineConfig]] = OfflineActorCriticConfig
    config: OfflineActorCriticConfig
    policy: OfflineActorCriticPolicy

    def set_dataset(self, dataset: Any) -> None:
        if isinstance(dataset, TransitionDataset) and dataset.reward_dim != 1:
            raise ValueError(
                f"dataset: rewards have {dataset.reward_dim} objectives; {type(self).__name__} needs "
                "scalar rewards (scalarise them first)"
            )
        super().set_dataset(dataset)

    def _setup_model(self) -> None:
        super()._setup_model()  # seeds, builds the policy on the device
        groups = [{"params": self.policy.actor_parameters()}, {"params": self.policy.critic_parameters()}]
        lr = self.lr_schedule(1.0)
        try:  # the fused kernel is the fastest for small networks; foreach where it is unavailable
            self.optimizer = torch.optim.Adam(groups, lr=lr, fused=True)
        except (RuntimeError, TypeError):  # pragma: no cover - old torch or unsupported device
            self.optimizer = torch.optim.Adam(groups, lr=lr, foreach=True)
        self.optimizer.register_step_pre_hook(self._scale_actor_learning_rate)
        self.optimizer.register_step_post_hook(self._update_targets)

    def actor_lr_factor(self) -> float:
        """The factor on the actor's learning rate at the current gradient step."""
        if self.config.actor_lr_schedule == "constant":
            return 1.0
        done = min(1.0, self.num_timesteps / max(self._total_timesteps, 1))
        return 0.5 * (1.0 + math.cos(math.pi * done))

    def _scale_actor_learning_rate(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        actor, critic = optimizer.param_groups
        actor["lr"] = critic["lr"] * self.actor_lr_factor()

    def _update_targets(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        self.policy.update_targets(self.config.tau)

    def scaled_rewards(self, batch: TransitionBatch) -> Tensor:
        """``[B]`` the minibatch's rewards times ``reward_scale``."""
        return batch.rewards.reshape(-1) * self.config.reward_scale
