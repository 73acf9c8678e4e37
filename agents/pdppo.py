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

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from rlsuite.validation import check_choice, check_real

from .common.buffers import RolloutBatch
from .common.callbacks import BaseCallback
from .common.policies import PolicyOutput
from .common.vec_env import step_info
from .ppo import PPO

ADVANTAGES = ("gae", "mc")


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


class PDPPO(PPO):
    """PDPPO with PPO's constructor plus ``advantage`` (``"gae"`` or ``"mc"``) and
    ``post_vf_coef`` (the post-decision critic's loss weight, relative to ``vf_coef``; default 1).
    The env must report ``info["post_decision_obs"]`` each step, in the
    observation space (flat ``Box`` observations).

    >>> model = PDPPO("MlpPolicy", "LotSizing-v0", n_envs=8, seed=0).learn(100_000)
    """

    algo_defaults: ClassVar[dict[str, Any]] = {
        **PPO.algo_defaults,
        "advantage": "gae",
        "post_vf_coef": 1.0,
    }
    extra_policy_kwargs: ClassVar[dict[str, Any]] = {"post_decision_critic": True}

    def __init__(self, policy: Any, env: Any, **kwargs: Any) -> None:
        super().__init__(policy, env, **kwargs)
        if self.algo_kwargs["advantage"] == "mc":
            self.gae_lambda = 1.0
        if self.observation_space is not None and not isinstance(self.observation_space, spaces.Box):
            raise ValueError(
                f"PDPPO: observations must be a flat Box (post-decision observations share its layout); "
                f"got {type(self.observation_space).__name__}"
            )

    def _check_algo_kwargs(self) -> None:
        super()._check_algo_kwargs()
        kw = self.algo_kwargs
        check_choice("advantage", kw["advantage"], ADVANTAGES)
        kw["post_vf_coef"] = self.post_vf_coef = check_real("post_vf_coef", kw["post_vf_coef"], low=0.0)

    # ------------------------------------------------------------------ collection
    def _on_env_step(self, infos: Any, done: np.ndarray, valid: np.ndarray) -> None:
        buf = self.buffer
        t = buf.pos - 1
        n = self.n_envs
        post = step_info(infos, "post_decision_obs", n)
        if post is None and not np.any(valid):  # NEXT_STEP reset step: nothing to store
            post = np.zeros((n, int(np.prod(buf.obs.shape[2:]))))
        if post is None:
            raise ValueError(
                "PDPPO: the env must report info['post_decision_obs'] at every step (rlsuite's LotSizing "
                "and InvMgmt envs do; see rlsuite.agents.pdppo for the contract)"
            )
        if "post_obs" not in buf.extras:
            shape = buf.obs.shape
            buf.extras["post_obs"] = torch.zeros(shape, dtype=buf.obs.dtype, device=self.device)
            buf.extras["post_reward"] = torch.zeros(shape[:2], device=self.device)
        post_t = torch.as_tensor(post.reshape(n, *buf.obs.shape[2:]), dtype=torch.float32, device=self.device)
        buf.extras["post_obs"][t] = self._normalize(post_t, update=False)
        r_post = step_info(infos, "post_decision_reward", n)
        r = np.zeros(n) if r_post is None else r_post[:, 0]
        r = np.where(valid, r, 0.0)
        if self.check_finite:
            self._check_finite_step(
                post, r, "info['post_decision_obs' / 'post_decision_reward']", self.num_timesteps + n
            )
        if self.reward_normalizer is not None:  # same scale as the stored rewards
            r = r / float(torch.sqrt(self.reward_normalizer.rms.var + 1e-8))
        buf.extras["post_reward"][t] = torch.as_tensor(r, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def collect_rollouts(self, callback: BaseCallback) -> bool:
        if not super().collect_rollouts(callback):
            return False
        buf = self.buffer
        post_obs = buf.extras["post_obs"]
        flat = post_obs.reshape(-1, *post_obs.shape[2:])
        post_values = self.policy.predict_post_values(flat).reshape(buf.values.shape)
        adv, post_returns, a_pre, a_post = pdppo_advantages(
            buf.returns, buf.values, post_values, buf.extras["post_reward"]
        )
        buf.advantages = adv
        buf.extras["post_returns"] = post_returns
        buf.extras["old_post_values"] = post_values
        valid = buf.valid
        self._post_stats = {
            "post_advantage_fraction": float((a_post > a_pre)[valid].float().mean()),
            "post_value_mean": float(post_values[valid].mean()),
        }
        return True

    # ------------------------------------------------------------------ loss
    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        loss, info = super().compute_loss(batch, out)
        assert batch.extras is not None
        post_values = self.policy.predict_post_values(batch.extras["post_obs"])
        post_loss = ((batch.extras["post_returns"] - post_values) ** 2).mean()
        loss = loss + self.vf_coef * self.post_vf_coef * post_loss
        info["post_value_loss"] = float(post_loss.detach())
        return loss, info

    def train(self) -> None:
        super().train()
        for k, v in getattr(self, "_post_stats", {}).items():
            self.logger.record(f"train/{k}", v)
        buf = self.buffer
        if "post_returns" in buf.extras:
            r, v = buf.extras["post_returns"][buf.valid], buf.extras["old_post_values"][buf.valid]
            var = float(r.var()) if r.numel() > 1 else 0.0
            ev = float("nan") if var == 0 else 1.0 - float((r - v).var()) / var
            self.logger.record("train/post_explained_variance", ev)
