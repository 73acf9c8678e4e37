"""Implicit Q-Learning (Kostrikov, Nair, Levine, ICLR 2022, arXiv 2110.06169).

IQL never evaluates Q at an action outside the dataset. V(s) is fitted by expectile regression
to the target critics' values at the dataset's actions, so that for ``tau -> 1`` it tends to the
best in-support action's value; Q is a SARSA-like TD regression onto ``r + gamma V(s')``; the
policy is extracted by advantage-weighted regression on the dataset's actions. With ``Qhat`` the
minimum over the target critics, one minibatch's loss is the sum of (paper Sec. 4)::

    L_V  = E[ |tau - 1(u < 0)| u^2 ],  u = Qhat(s, a) - V(s)                      expectile regression
    L_Q  = E[ sum_i (r + gamma (1 - terminated) V(s') - Q_i(s, a))^2 ]             TD, no max over actions
    L_pi = -E[ min(exp(beta (Qhat(s, a) - V(s))), 100) log pi(a | s) ]              AWR policy extraction

and after every step ``Qhat_i <- (1 - 0.005) Qhat_i + 0.005 Q_i``. A truncated transition
bootstraps from ``V(s')``, a terminated one does not.

Defaults: the paper's MuJoCo locomotion settings (``configs/mujoco_config.py`` of its code,
github.com/ikostrikov/implicit_q_learning): expectile 0.7, beta (the code's ``temperature``) 3.0,
Adam 3e-4 for every network with the actor's rate cosine-decayed over the run (``learner.py``,
``opt_decay_schedule="cosine"``), batch 256, MLPs 256x256 ReLU, gamma 0.99, Polyak 0.005, no
dropout, a Gaussian actor with a tanh mean and a state-independent log-std in [-5, 2]. The code
also rescales the locomotion rewards by ``1000 / (max return - min return)``: pass
``reward_scale=return_range_scale(dataset)`` to do the same. AntMaze uses expectile 0.9, beta 10
and rewards minus 1 (``configs/antmaze_config.py``). Discrete actions get a categorical actor and a
critic with one output per action; the losses are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rlsuite.validation import check_real

from ..common.config import config_from_arguments
from ..common.datasets import TransitionBatch, TransitionDataset
from ..common.offline import OfflineConfig
from ..common.registry import Registry
from ..common.schedules import Schedule
from .base import NO_CLIP, OfflineActorCritic, OfflineActorCriticConfig, td_target
from .networks import IQLPolicy


def expectile_loss(diff: Tensor, expectile: float) -> Tensor:
    """``|tau - 1(diff < 0)| diff^2`` elementwise: the asymmetric square whose minimiser over ``v``
    of ``E[loss(x - v)]`` is the ``tau``-expectile of ``x``."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff.pow(2)


def advantage_weights(advantages: Tensor, beta: float, max_weight: float) -> Tensor:
    """``min(exp(beta A), max_weight)`` (AWR's weights, clipped as IQL's code does at 100)."""
    return torch.exp(beta * advantages).clamp(max=max_weight)


@dataclass(frozen=True)
class IQLConfig(OfflineActorCriticConfig):
    """IQL's hyperparameters (defaults: the paper's MuJoCo locomotion runs; module docstring)."""

    expectile: float = 0.7
    """tau of the expectile regression of V, in (0, 1) (0.5: the mean, i.e. SARSA; -> 1: the max)."""
    beta: float = 3.0
    """Inverse temperature of the advantage weights exp(beta (Q - V)), > 0 (the code's temperature)."""
    max_weight: float = 100.0
    """Upper clip of the advantage weights, > 0."""
    actor_lr_schedule: str = "cosine"
    """Factor on the actor's learning rate over learn: 'cosine' (IQL's code) or 'constant'."""

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = object.__setattr__
        set_(
            self,
            "expectile",
            check_real("expectile", self.expectile, 0.0, 1.0, low_open=True, high_open=True),
        )
        set_(self, "beta", check_real("beta", self.beta, 0.0, low_open=True))
        set_(self, "max_weight", check_real("max_weight", self.max_weight, 0.0, low_open=True))


class IQL(OfflineActorCritic):
    """Implicit Q-Learning from a :class:`TransitionDataset` (module docstring); parameters
    documented on :class:`IQLConfig` and :class:`~..common.offline.OfflineConfig`.

    >>> model = IQL("MlpPolicy", dataset, seed=0).learn(1_000_000)   # gradient steps
    >>> action, _ = model.predict(obs, deterministic=True)           # the Gaussian's mean / argmax
    """

    config_class: ClassVar[type[OfflineConfig]] = IQLConfig
    config: IQLConfig
    policy_aliases: ClassVar[Any] = Registry("policy", {"MlpPolicy": IQLPolicy, "IQLPolicy": IQLPolicy})

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: TransitionDataset | None,
        learning_rate: float | Schedule = 3e-4,
        batch_size: int = 256,
        gamma: float = 0.99,
        tau: float = 0.005,
        expectile: float = 0.7,
        beta: float = 3.0,
        max_weight: float = 100.0,
        actor_lr_schedule: str = "cosine",
        reward_scale: float = 1.0,
        max_grad_norm: float = NO_CLIP,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, dataset, config_from_arguments(IQLConfig, locals()), _init_setup_model)

    def q_targets(self, batch: TransitionBatch) -> Tensor:
        """``[B]`` the TD targets ``r + gamma (1 - terminated) V(s')`` of L_Q (no gradient)."""
        with torch.no_grad():
            next_v = self.policy.value(batch.next_observations)
            return td_target(self.scaled_rewards(batch), batch.terminations, next_v, self.config.gamma)

    def compute_loss(self, batch: TransitionBatch) -> tuple[Tensor, dict[str, float]]:
        cfg, pol = self.config, self.policy
        obs, actions = batch.observations, pol.scale_actions(batch.actions)
        with torch.no_grad():
            q_hat = pol.q_values(obs, actions, target=True).min(0).values  # min_i Qhat_i(s, a)
        target = self.q_targets(batch)

        v = pol.value(obs)
        v_loss = expectile_loss(q_hat - v, cfg.expectile).mean()  # L_V

        q = pol.q_values(obs, actions)
        q_loss = (q - target).pow(2).sum(0).mean()  # L_Q, summed over the critics as IQL's code

        advantage = q_hat - v.detach()
        weights = advantage_weights(advantage, cfg.beta, cfg.max_weight)
        log_prob = pol.distribution(obs).log_prob(actions)
        actor_loss = -(weights * log_prob).mean()  # L_pi

        return v_loss + q_loss + actor_loss, {
            "v_loss": float(v_loss.detach()),
            "q_loss": float(q_loss.detach()),
            "actor_loss": float(actor_loss.detach()),
            "adv_mean": float(advantage.mean()),
            "v_mean": float(v.detach().mean()),
            "q_mean": float(q.detach().mean()),
            "weight_mean": float(weights.mean()),
            "actor_lr_factor": self.actor_lr_factor(),
        }
