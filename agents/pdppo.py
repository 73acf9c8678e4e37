"""Post-Decision PPO (Felizardo, Fadda, Brandimarte, Del-Moral-Hernandez, Nascimento, IJCNN 2025,
arXiv 2504.05150) on the shared on-policy core.

A step splits into a deterministic part, the decision's effect (production, setups, orders), which
leads to the *post-decision state* ``s^x_t = f(s_t, a_t)`` and pays the deterministic reward
``r^x_t``, and a stochastic part (demand) that leads to ``s_{t+1}`` and pays the rest ``r^xi_t``.
The environment reports both (``info["post_decision_obs"]``, ``info["post_decision_reward"]``;
rlsuite's ``LotSizing`` and ``InvMgmt`` ids do; an env without the reward split may omit the
reward, which is then taken as 0).

PDPPO keeps two critics: ``V(s)``, the usual state value, and ``V^x(s^x)``, the value after the
decision; ``V^x`` sees only the demand's noise, not the policy's action noise. With ``R_t`` the
return of step t (the lambda-return of the rollout, or the Monte-Carlo return with
``advantage="mc"``):

* targets: ``V(s_t) <- R_t`` and ``V^x(s^x_t) <- R^x_t = R_t - r^x_t`` (the return after the
  deterministic reward: ``r^xi_t + gamma R_{t+1}`` for Monte-Carlo returns, so with noise-free
  demand ``V^x(s^x_t) = r^xi_t + gamma V(s_{t+1})`` exactly);
* advantages: ``A_pre = R_t - V(s_t)``, ``A_post = R^x_t - V^x(s^x_t) = R_t - (r^x_t + V^x(s^x_t))``,
  and the policy is trained with ``A_t = max(A_pre, A_post)``; when ``r^x = 0`` this is the paper's
  ``R_t - min(V(s_t), V^x(s^x_t))``.

Everything else (clipped surrogate, minibatches, entropy bonus, normalization, save/load, logging) is
PPO's. ``advantage="mc"`` is the paper's Monte-Carlo return (lambda = 1, bootstrapped only where a
rollout or a truncated episode is cut); ``"gae"`` (default) uses ``gae_lambda``. The paper also fits
the critics on returns normalized per update and uses full-batch epochs; use ``batch_size = n_steps *
n_envs`` and ``normalize_reward=True`` for the closest configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor

from rlsuite.validation import check_choice, check_real

from .common.base import OnPolicyAlgorithm
from .common.buffers import RolloutBatch, RolloutBuffer, explained_variance
from .common.config import OnPolicyConfig, config_from_arguments
from .common.policies import ActorCriticPolicy, PolicyOutput
from .common.rollout import StepInfo
from .common.schedules import Schedule
from .ppo import PPOConfig, ppo_loss, ppo_schedules

ADVANTAGES = ("gae", "mc")


@dataclass(frozen=True)
class PDPPOConfig(PPOConfig):
    """PDPPO's hyperparameters: PPO's and the post-decision critic's."""

    advantage: str = "gae"
    """'gae': lambda-returns with gae_lambda; 'mc': Monte-Carlo returns (lambda = 1), the paper's."""
    post_vf_coef: float = 1.0
    """Weight of the post-decision critic's loss, relative to vf_coef."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("advantage", self.advantage, ADVANTAGES)
        self._set("post_vf_coef", check_real("post_vf_coef", self.post_vf_coef, low=0.0))


def pdppo_advantages(
    returns: Tensor, values: Tensor, post_values: Tensor, post_rewards: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(advantages, post_returns, A_pre, A_post)`` from the state critic's returns ``R``, ``V(s)``,
    ``V^x(s^x)`` and the deterministic rewards ``r^x`` (same shapes): ``R^x = R - r^x``,
    ``A_pre = R - V``, ``A_post = R^x - V^x``, ``A = max(A_pre, A_post)``."""
    post_returns = returns - post_rewards
    a_pre = returns - values
    a_post = post_returns - post_values
    return torch.maximum(a_pre, a_post), post_returns, a_pre, a_post


class PDPPO(OnPolicyAlgorithm):
    """PDPPO with PPO's constructor plus ``advantage`` (``"gae"`` or ``"mc"``) and
    ``post_vf_coef`` (the post-decision critic's loss weight, relative to ``vf_coef``; default 1);
    each parameter is documented on :class:`PDPPOConfig` (``model.config``). The env must report
    ``info["post_decision_obs"]`` each step, in the observation space (flat ``Box`` observations).
    It overrides the advantage hook (the two critics' maximum) and the loss (PPO's plus the
    post-decision critic's), and declares the step infos it needs.

    >>> model = PDPPO("MlpPolicy", "LotSizing-v0", n_envs=8, seed=0).learn(100_000)
    """

    config_class: ClassVar[type[OnPolicyConfig]] = PDPPOConfig
    config: PDPPOConfig
    extra_policy_kwargs: ClassVar[dict[str, Any]] = {"post_decision_critic": True}
    step_infos: ClassVar[tuple[StepInfo, ...]] = (
        StepInfo(
            "post_obs",
            "post_decision_obs",
            "observation",
            hint="rlsuite's LotSizing and InvMgmt envs do; see rlsuite.agents.pdppo for the contract",
        ),
        StepInfo("post_reward", "post_decision_reward", "reward", required=False),
    )

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
        clip_range: float | Schedule = 0.2,
        clip_range_vf: float | Schedule | None = None,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
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
        advantage: str = "gae",
        post_vf_coef: float = 1.0,
        _init_setup_model: bool = True,
    ) -> None:
        config = config_from_arguments(PDPPOConfig, locals())
        self.clip_range, self.clip_range_vf = ppo_schedules(config)
        super().__init__(policy, env, config, _init_setup_model)

    @torch.no_grad()
    def compute_advantages(self, buffer: RolloutBuffer, last_values: Tensor) -> None:
        """GAE (lambda = 1 for ``advantage="mc"``) for ``R``, then ``A = max(A_pre, A_post)`` with
        the post-decision critic of this rollout; stores ``post_returns`` and ``old_post_values``."""
        cfg = self.config
        gae_lambda = 1.0 if cfg.advantage == "mc" else cfg.gae_lambda
        buffer.compute_returns_and_advantage(last_values, cfg.gamma, gae_lambda)
        post_obs = buffer.extras["post_obs"]
        flat = post_obs.reshape(-1, *post_obs.shape[2:])
        post_values = self.policy.predict_post_values(flat).reshape(buffer.values.shape)
        adv, post_returns, a_pre, a_post = pdppo_advantages(
            buffer.returns, buffer.values, post_values, buffer.extras["post_reward"]
        )
        buffer.advantages = adv
        buffer.extras["post_returns"] = post_returns
        buffer.extras["old_post_values"] = post_values
        valid = buffer.valid
        log = self.logger
        log.record("train/post_advantage_fraction", float((a_post > a_pre)[valid].float().mean()))
        log.record("train/post_value_mean", float(post_values[valid].mean()))
        log.record(
            "train/post_explained_variance", explained_variance(post_values[valid], post_returns[valid])
        )

    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        progress = self._progress_remaining()
        vf = None if self.clip_range_vf is None else self.clip_range_vf(progress)
        eps = self.clip_range(progress)
        loss, info = ppo_loss(batch, out, eps, vf, cfg.normalize_advantage, cfg.vf_coef, cfg.ent_coef)
        assert batch.extras is not None
        post_values = self.policy.predict_post_values(batch.extras["post_obs"])
        post_loss = ((batch.extras["post_returns"] - post_values) ** 2).mean()
        loss = loss + cfg.vf_coef * cfg.post_vf_coef * post_loss
        info["post_value_loss"] = float(post_loss.detach())
        return loss, info
