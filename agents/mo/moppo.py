"""Multi-objective PPO: a vector critic, a preference-scalarised advantage (C-MORL stage 1), and the
constrained extension step of C-MORL stage 2 (Liu et al., ICLR 2025).

On an env with ``k`` objectives (MO-Gymnasium's ``reward_space``) the policy has a ``k``-output
critic and GAE runs per objective (the multi-objective seam of the core). Then:

- **Preference** ``w`` (``weights``): the advantage is ``A = w . A_vec`` (C-MORL's code scalarises
  raw-scale per-objective advantages), and PPO's clipped surrogate is maximised.
- **Extension of objective l** (``extend_objective=l``): the surrogate is PPO's on ``A_l`` alone,
  and every other objective ``i`` must keep its return: with ``R_i`` the minibatch's returns-to-go
  (old policy) and ``rho`` the clipped ratio, the importance-sampled estimate of ``J_i(pi)`` is
  ``J_i^new = mean(clip(rho, 1 - eps, 1 + eps) R_i)`` and the constraint is
  ``J_i^new >= J_i^r - (1 - beta) |J_i^r|``, where ``J_i^r`` is the mean return-to-go of the first
  rollout of the extension (the policy ``pi_r`` it started from; C-MORL's ``J_i >= beta J_i(pi_r)``
  for positive returns, the same allowed loss for negative ones; fixed, so updates cannot drift
  below it step by step). It is enforced with C-MORL's log barrier (interior point):

      L = L_PPO(A_l) - (1/t) sum_{i != l} log(-c_i),   c_i = floor_i - J_i^new

  (``barrier_t`` = t = 20 and ``constraint_beta`` = beta = 0.9, the paper's code's values). Past
  ``c_i = -0.001`` the barrier continues along its tangent (linear), where the paper's code clamps
  ``c_i`` at -0.001: a clamped constraint has no gradient, so once a rollout crosses it nothing
  pulls the policy back (measured: from a 0.2/0.2/0.6 start, the clamp lost the constrained
  objective entirely; the tangent kept it, ``tests/test_cmorl.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch
from torch import Tensor

from rlsuite.validation import check_int, check_real

from ..common.base import OnPolicyAlgorithm
from ..common.buffers import RolloutBatch, RolloutBuffer
from ..common.config import OnPolicyConfig, config_from_arguments
from ..common.policies import ActorCriticPolicy, PolicyOutput
from ..common.schedules import Schedule
from ..ppo import PPO, PPOConfig, ppo_schedules

BARRIER_DELTA = 1e-3
"""Where the log barrier turns linear: ``c = -0.001``, C-MORL's clamp."""


def constraint_floor(reference_returns: Tensor, beta: float) -> Tensor:
    """``J^r - (1 - beta) |J^r|`` per objective: ``beta J^r`` for positive returns."""
    return reference_returns - (1 - beta) * reference_returns.abs()


def barrier_penalty(
    returns: Tensor, ratio: Tensor, clip_range: float, objective: int, floor: Tensor, t: float
) -> tuple[Tensor, Tensor]:
    """C-MORL's log barrier on the objectives other than ``objective`` (module docstring):
    ``(-(1/t) sum_{i != l} log(-c_i), c [k])`` for returns-to-go ``[B, k]``, ratios ``[B]`` and the
    floors ``[k]`` (:func:`constraint_floor`)."""
    clipped = torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
    j_new = (clipped[:, None] * returns).mean(0)
    c = floor - j_new
    # -log(-c) inside (c <= -delta); past it, the barrier's tangent at -delta, so a violated
    # constraint still has a gradient that pushes it back (C-MORL's code clamps c at -delta: none).
    inside = -torch.log(-torch.clamp(c, max=-BARRIER_DELTA))
    outside = -math.log(BARRIER_DELTA) + (c + BARRIER_DELTA) / BARRIER_DELTA
    terms = torch.where(c <= -BARRIER_DELTA, inside, outside)
    others = [i for i in range(returns.shape[1]) if i != objective]
    return terms[others].sum() / t, c


@dataclass(frozen=True)
class MOPPOConfig(PPOConfig):
    """PPO's hyperparameters plus the preference and the extension constraint."""

    weights: tuple[float, ...] | None = None
    """Preference over the objectives (>= 0, normalised to sum 1; None: equal weights)."""
    extend_objective: int | None = None
    """C-MORL stage 2: maximise this objective alone, the others constrained (None: stage 1)."""
    constraint_beta: float = 0.9
    """Share of each other objective's return the extension must keep, in (0, 1]."""
    barrier_t: float = 20.0
    """Log-barrier sharpness t (> 0): the penalty is -(1/t) sum log(-c_i)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weights is not None:
            w = [check_real(f"weights[{i}]", x, 0.0) for i, x in enumerate(self.weights)]
            if not w or sum(w) <= 0:
                raise ValueError(f"weights: got {list(self.weights)}; need at least one positive weight")
            self._set("weights", tuple(x / sum(w) for x in w))
        if self.extend_objective is not None:
            self._set("extend_objective", check_int("extend_objective", self.extend_objective, 0))
        self._set(
            "constraint_beta", check_real("constraint_beta", self.constraint_beta, 0.0, 1.0, low_open=True)
        )
        self._set("barrier_t", check_real("barrier_t", self.barrier_t, 0.0, low_open=True))


class MOPPO(PPO):
    """PPO for one preference or one constrained extension on a multi-objective env (module
    docstring); every parameter is documented on :class:`MOPPOConfig` (``model.config``).

    >>> model = MOPPO("MlpPolicy", "MOInvMgmt-v0", weights=[0.5, 0.3, 0.2], seed=0).learn(100_000)
    """

    config_class: ClassVar[type[OnPolicyConfig]] = MOPPOConfig
    config: MOPPOConfig

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
        weights: tuple[float, ...] | list[float] | None = None,
        extend_objective: int | None = None,
        constraint_beta: float = 0.9,
        barrier_t: float = 20.0,
        _init_setup_model: bool = True,
    ) -> None:
        if weights is not None:
            weights = tuple(weights)
        config = config_from_arguments(MOPPOConfig, locals())
        self.clip_range, self.clip_range_vf = ppo_schedules(config)
        OnPolicyAlgorithm.__init__(self, policy, env, config, _init_setup_model)  # PPO's, with this config

    #: Stage 2: the floors ``[k]`` of the constrained objectives, from the extension's first
    #: rollout (None until then; a loaded model sets them again at its first rollout).
    floor: Tensor | None = None

    def preference(self) -> Tensor:
        """The normalised preference ``[k]`` (equal weights when none was given)."""
        k = self.reward_dim
        w = self.config.weights or tuple([1.0 / k] * k)
        if len(w) != k:
            raise ValueError(f"weights: {len(w)} given; the env has {k} objectives")
        return torch.tensor(w, dtype=torch.float32, device=self.device)

    def compute_advantages(self, buffer: RolloutBuffer, last_values: Tensor) -> None:
        super().compute_advantages(buffer, last_values)  # GAE per objective: [n_steps, n_envs, k]
        if self.reward_dim == 1:
            raise ValueError("env: MOPPO needs a multi-objective env (a reward_space of shape (k,), k >= 2)")
        l = self.config.extend_objective
        if l is None:
            buffer.advantages = buffer.advantages @ self.preference()
        else:
            if l >= self.reward_dim:
                raise ValueError(
                    f"extend_objective: got {l}; the env has objectives 0..{self.reward_dim - 1}"
                )
            if self.floor is None:  # the policy the extension starts from: J^r of its first rollout
                rtg = buffer.returns.reshape(-1, self.reward_dim)[buffer.valid.reshape(-1)]
                self.floor = constraint_floor(rtg.mean(0), self.config.constraint_beta)
            buffer.advantages = buffer.advantages[..., l].clone()

    def compute_loss(self, batch: RolloutBatch, out: PolicyOutput) -> tuple[Tensor, dict[str, float]]:
        loss, stats = super().compute_loss(batch, out)
        cfg = self.config
        if cfg.extend_objective is None:
            return loss, stats
        ratio = torch.exp(out.log_prob - batch.old_log_prob)
        eps = self.clip_range(self._progress_remaining())
        assert self.floor is not None  # set by compute_advantages before any update
        penalty, c = barrier_penalty(
            batch.returns, ratio, eps, cfg.extend_objective, self.floor, cfg.barrier_t
        )
        stats["barrier"] = float(penalty.detach())
        stats["constraint_slack_min"] = float(-c.detach().max())
        return loss + penalty, stats
