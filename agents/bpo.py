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

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.nn import functional as F

from rlsuite.validation import check_bool, check_real

from .common.base import OnPolicyAlgorithm
from .common.buffers import RolloutBatch
from .common.policies import PolicyOutput


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
    ``use_median`` (False: the target uses R - V(s) instead, the paper's ablation).
    ``normalize_advantage`` is off. It differs from PPO only in :meth:`compute_loss`."""

    algo_defaults: ClassVar[dict[str, Any]] = {
        "clip_range": 0.3,
        "lam": 1e-3,
        "u_coef": 0.5,
        "use_median": True,
    }
    extra_policy_kwargs: ClassVar[dict[str, Any]] = {"median_head": True}

    def __init__(self, policy: Any, env: Any, max_grad_norm: float = 1.0, **kwargs: Any) -> None:
        kwargs.setdefault("normalize_advantage", False)
        super().__init__(policy, env, max_grad_norm=max_grad_norm, **kwargs)

    def _check_algo_kwargs(self) -> None:
        kw = self.algo_kwargs
        kw["clip_range"] = check_real("clip_range", kw["clip_range"], 0.0, 1.0, low_open=True, high_open=True)
        kw["lam"] = check_real("lam", kw["lam"], low=0.0, low_open=True)  # the sigmoid temperature
        kw["u_coef"] = check_real("u_coef", kw["u_coef"], low=0.0)
        kw["use_median"] = check_bool("use_median", kw["use_median"])

    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        eps, lam = self.algo_kwargs["clip_range"], self.algo_kwargs["lam"]
        returns = batch.returns
        assert out.median is not None
        if self.algo_kwargs["use_median"]:
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
        loss = pi_loss + self.vf_coef * v_loss + self.algo_kwargs["u_coef"] * u_loss - self.ent_coef * entropy
        with torch.no_grad():
            clip_fraction = float(((ratio - 1).abs() > eps).float().mean())
        return loss, {
            "policy_gradient_loss": float(pi_loss.detach()),
            "value_loss": float(v_loss.detach()),
            "median_loss": float(u_loss.detach()),
            "entropy_loss": -float(entropy.detach()),
            "clip_fraction": clip_fraction,
        }
