"""Advantage-Weighted Actor-Critic (Nair, Gupta, Dalal, Levine 2020, arXiv 2006.09359).

AWAC evaluates the current policy with twin critics (off-policy TD, the next action drawn from
the policy) and improves it by a KL-constrained step that reduces to a weighted maximum likelihood
of the dataset's actions. With ``Q`` the minimum over the critics and ``Qhat`` over their targets,
one minibatch's loss is the sum of (paper Sec. 3.3)::

    L_Q  = E[ sum_i (r + gamma (1 - terminated) E_{a' ~ pi(s')} Qhat(s', a') - Q_i(s, a))^2 ]
    L_pi = -E[ w(s, a) log pi(a | s) ],   A(s, a) = Q(s, a) - E_{a' ~ pi(s)} Q(s, a')
    w    = B softmax_batch(A / lambda)          (weighting="softmax": the paper's code)
    w    = min(exp(A / lambda), 100)            (weighting="clip": CORL's AWAC)

and after every step ``Qhat_i <- (1 - 0.005) Qhat_i + 0.005 Q_i``. A truncated transition
bootstraps, a terminated one does not. The expectations over ``pi`` are exact sums for Discrete
actions; for Box actions ``E_{a' ~ pi(s')}`` uses one sample (as both codes) and the value
``E_{a' ~ pi(s)} Q(s, a')`` the mean over ``n_action_samples`` samples (rlkit's ``vf_K``, d3rlpy's
``n_action_samples``; 1 by default), samples clipped to the action bounds as CORL does.

Weights: the authors' code (rlkit ``AWACTrainer``, ``normalize_over_batch=True``) normalises
``exp(A / lambda)`` over the minibatch, ``B softmax(A / lambda)``, so the weights average 1 whatever
the scale of the advantages; d3rlpy's AWAC does the same. CORL's single-file AWAC clips
``exp(A / lambda)`` at 100 instead. The softmax is the default here (the paper's code); both are
available.

Defaults: lambda 1.0 (rlkit ``AWACTrainer``'s ``beta=1.0``, CORL's ``awac_lambda=1.0``, d3rlpy's
``lam=1.0``; rlkit's MuJoCo launch script sweeps 2), Adam 3e-4 for actor and critics, Polyak 0.005,
gamma 0.99, twin critics, batch 256 (CORL; rlkit and d3rlpy use 1024), MLPs 256x256 ReLU (rlkit: actor
4x256, critics 2x256; CORL 3x256), a Gaussian actor with a tanh mean and a state-independent
log-std (rlkit clamps it to [-6, 0], CORL to [-20, 2]; here [-5, 2] unless ``policy_kwargs`` says
otherwise). Not carried over from rlkit: its policy weight decay 1e-4 and its critic pre-training
phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from rlsuite.validation import check_choice, check_int, check_real

from ..common.config import config_from_arguments
from ..common.datasets import TransitionBatch, TransitionDataset
from ..common.distributions import MultiCategorical
from ..common.offline import OfflineConfig
from ..common.registry import Registry
from ..common.schedules import Schedule
from .base import NO_CLIP, OfflineActorCritic, OfflineActorCriticConfig, td_target
from .networks import AWACPolicy

WEIGHTINGS = ("softmax", "clip")
"""How AWAC turns advantages into regression weights (module docstring)."""
#: Most policy samples per state for the value estimate (a bound on a number read from model files).
MAX_ACTION_SAMPLES = 1024


def awac_weights(advantages: Tensor, lam: float, weighting: str, max_weight: float) -> Tensor:
    """``[B]`` regression weights of ``[B]`` advantages: ``B softmax(A / lam)`` over the minibatch
    (``"softmax"``) or ``min(exp(A / lam), max_weight)`` (``"clip"``)."""
    if weighting == "softmax":
        return torch.softmax(advantages / lam, dim=0) * advantages.shape[0]
    return torch.exp(advantages / lam).clamp(max=max_weight)


@dataclass(frozen=True)
class AWACConfig(OfflineActorCriticConfig):
    """AWAC's hyperparameters (defaults and their sources: module docstring)."""

    lam: float = 1.0
    """Temperature lambda of the advantage weights exp(A / lambda), > 0 (the KL constraint's
    Lagrange multiplier: larger stays closer to the data)."""
    weighting: str = "softmax"
    """'softmax': B softmax(A / lambda) over the minibatch (the paper's code); 'clip':
    min(exp(A / lambda), max_weight) (CORL)."""
    max_weight: float = 100.0
    """Upper clip of the weights with weighting='clip', > 0."""
    n_action_samples: int = 1
    """Policy samples per state in the estimate of E_{a ~ pi} Q(s, a) (Box actions; Discrete sums
    exactly)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = object.__setattr__
        set_(self, "lam", check_real("lam", self.lam, 0.0, low_open=True))
        check_choice("weighting", self.weighting, WEIGHTINGS)
        set_(self, "max_weight", check_real("max_weight", self.max_weight, 0.0, low_open=True))
        set_(
            self,
            "n_action_samples",
            check_int("n_action_samples", self.n_action_samples, 1, MAX_ACTION_SAMPLES),
        )


class AWAC(OfflineActorCritic):
    """Advantage-Weighted Actor-Critic from a :class:`TransitionDataset` (module docstring);
    parameters documented on :class:`AWACConfig` and :class:`~..common.offline.OfflineConfig`.

    >>> model = AWAC("MlpPolicy", dataset, seed=0).learn(1_000_000)   # gradient steps
    >>> action, _ = model.predict(obs, deterministic=True)            # the Gaussian's mean / argmax
    """

    config_class: ClassVar[type[OfflineConfig]] = AWACConfig
    config: AWACConfig
    policy_aliases: ClassVar[Any] = Registry("policy", {"MlpPolicy": AWACPolicy, "AWACPolicy": AWACPolicy})

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: TransitionDataset | None,
        learning_rate: float | Schedule = 3e-4,
        batch_size: int = 256,
        gamma: float = 0.99,
        tau: float = 0.005,
        lam: float = 1.0,
        weighting: str = "softmax",
        max_weight: float = 100.0,
        n_action_samples: int = 1,
        actor_lr_schedule: str = "constant",
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
        super().__init__(policy, dataset, config_from_arguments(AWACConfig, locals()), _init_setup_model)

    @torch.no_grad()
    def policy_value(self, obs: Tensor, target: bool = False, n_samples: int = 1) -> Tensor:
        """``[B]`` ``E_{a ~ pi(s)} min_i Q_i(s, a)`` (of the target critics with ``target``): an
        exact sum over Discrete actions, the mean over ``n_samples`` policy samples for Box ones."""
        pol = self.policy
        dist = pol.distribution(obs)
        if isinstance(dist, MultiCategorical):  # Discrete actions
            q = pol.q_all_actions(obs, target).min(0).values
            return (torch.softmax(dist.logits, dim=-1) * q).sum(-1)
        values = []
        for _ in range(n_samples):
            u = dist.sample(self.sample_generator)
            if pol.bounded:
                u = u.clamp(-1.0, 1.0)
            values.append(pol.q_values(obs, u, target).min(0).values)
        return torch.stack(values).mean(0)

    def q_targets(self, batch: TransitionBatch) -> Tensor:
        """``[B]`` the TD targets ``r + gamma (1 - terminated) E_{a' ~ pi(s')} Qhat(s', a')`` of
        L_Q (no gradient)."""
        next_v = self.policy_value(batch.next_observations, target=True)
        return td_target(self.scaled_rewards(batch), batch.terminations, next_v, self.config.gamma)

    def compute_loss(self, batch: TransitionBatch) -> tuple[Tensor, dict[str, float]]:
        cfg, pol = self.config, self.policy
        obs, actions = batch.observations, pol.scale_actions(batch.actions)
        target = self.q_targets(batch)

        q = pol.q_values(obs, actions)
        q_loss = (q - target).pow(2).sum(0).mean()  # L_Q, summed over the critics

        advantage = q.detach().min(0).values - self.policy_value(obs, n_samples=cfg.n_action_samples)
        weights = awac_weights(advantage, cfg.lam, cfg.weighting, cfg.max_weight)
        log_prob = pol.distribution(obs).log_prob(actions)
        actor_loss = -(weights * log_prob).mean()  # L_pi

        return q_loss + actor_loss, {
            "q_loss": float(q_loss.detach()),
            "actor_loss": float(actor_loss.detach()),
            "adv_mean": float(advantage.mean()),
            "q_mean": float(q.detach().mean()),
            "weight_max": float(weights.max()),
        }
