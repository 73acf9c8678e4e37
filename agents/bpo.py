"""Bounded Policy Optimization (Ao et al. 2026, "Bounded Ratio Reinforcement Learning").

BPO regresses the probability ratio onto the analytic optimum of the bounded-ratio
trust-region problem instead of clipping a surrogate. Per minibatch, with R = the GAE
lambda-return (the stored ``returns``):

    x      = R - u(s)                                       u: the median head
    L_u    = mean(softplus(x) - x / 2)                      smooth |x|: u(s) tracks the median of R
    rho*   = 1 - eps + 2 eps sigmoid(x.detach() / lam)      target ratio, in [1 - eps, 1 + eps]
    L_pi   = mean(|rho - rho*| * |R - V(s).detach()|)       advantage-weighted total variation
    L      = L_pi + vf_coef MSE(R, V) + u_coef L_u - ent_coef H

No advantage normalization: ``lam`` (the sigmoid temperature) is in the units of the returns,
so with reward normalization on it is in normalized-return units. ``lam -> 0`` gives the hard
target 1 + eps sign(R - u(s)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor
from torch.nn import functional as F

from rlsuite.validation import check_bool, check_real

from .common.base import OnPolicyAlgorithm
from .common.buffers import RolloutBatch
from .common.config import OnPolicyConfig, config_from_arguments
from .common.policies import ActorCriticPolicy, PolicyOutput
from .common.schedules import Schedule


@dataclass(frozen=True)
class BPOConfig(OnPolicyConfig):
    """BPO's hyperparameters: the shared ones (other defaults for two) and the bounded target's."""

    normalize_advantage: bool = False
    """Unused by BPO's loss (its lam is in return units); kept for the shared surface."""
    max_grad_norm: float = 1.0
    """Largest global L2 norm of the gradient (clipped above it)."""
    clip_range: float = 0.3
    """eps: the target ratio lies in [1 - eps, 1 + eps], eps in (0, 1)."""
    lam: float = 1e-3
    """Temperature of the target's sigmoid, > 0, in the units of the returns."""
    u_coef: float = 0.5
    """Weight of the median head's loss."""
    use_median: bool = True
    """Target from R - u(s) (the median head); False: from R - V(s) (the paper's ablation)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set(
            "clip_range", check_real("clip_range", self.clip_range, 0.0, 1.0, low_open=True, high_open=True)
        )
        self._set("lam", check_real("lam", self.lam, low=0.0, low_open=True))
        self._set("u_coef", check_real("u_coef", self.u_coef, low=0.0))
        self._set("use_median", check_bool("use_median", self.use_median))


def bpo_target_ratio(x: Tensor, eps: float, lam: float) -> Tensor:
    """rho* = 1 - eps + 2 eps sigmoid(x / lam), x = R - u(s) (the median advantage)."""
    return 1.0 - eps + 2.0 * eps * torch.sigmoid(x / lam)


def bpo_policy_loss(ratio: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """mean(|rho - rho*| * |weight|): zero when the ratio equals its target."""
    return ((ratio - target).abs() * weight.abs()).mean()


def smooth_abs(x: Tensor) -> Tensor:
    """softplus(x) - x/2 = log(2 cosh(x/2)): a smooth |x| whose minimiser over u is the median."""
    return F.softplus(x) - 0.5 * x


class BPO(OnPolicyAlgorithm):
    """BPO with PPO's constructor plus ``clip_range`` (eps, default 0.3), ``lam`` (sigmoid
    temperature in return units, default 1e-3), ``u_coef`` (median-head loss weight, 0.5) and
    ``use_median`` (False: the target uses R - V(s) instead, the paper's ablation);
    ``max_grad_norm`` defaults to 1 and ``normalize_advantage`` is off. Each parameter is
    documented on :class:`BPOConfig` (``model.config``). It differs from PPO only in
    :meth:`compute_loss`."""

    config_class: ClassVar[type[OnPolicyConfig]] = BPOConfig
    config: BPOConfig
    extra_policy_kwargs: ClassVar[dict[str, Any]] = {"median_head": True}

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
        clip_range: float = 0.3,
        normalize_advantage: bool = False,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 1.0,
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
        lam: float = 1e-3,
        u_coef: float = 0.5,
        use_median: bool = True,
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(policy, env, config_from_arguments(BPOConfig, locals()), _init_setup_model)

    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        eps, lam = cfg.clip_range, cfg.lam
        returns = batch.returns
        assert out.median is not None
        if cfg.use_median:
            x = returns - out.median
            u_loss = smooth_abs(x).mean()
        else:
            x = returns - out.values
            u_loss = torch.zeros((), device=returns.device)
        target = bpo_target_ratio(x.detach(), eps, lam)
        ratio = torch.exp(out.log_prob - batch.old_log_prob)
        pi_loss = bpo_policy_loss(ratio, target, returns - out.values.detach())
        v_loss = ((returns - out.values) ** 2).mean()
        entropy = out.entropy.mean()
        loss = pi_loss + cfg.vf_coef * v_loss + cfg.u_coef * u_loss - cfg.ent_coef * entropy
        with torch.no_grad():
            clip_fraction = float(((ratio - 1).abs() > eps).float().mean())
        return loss, {
            "policy_gradient_loss": float(pi_loss.detach()),
            "value_loss": float(v_loss.detach()),
            "median_loss": float(u_loss.detach()),
            "entropy_loss": -float(entropy.detach()),
            "clip_fraction": clip_fraction,
        }
