"""FamO2O over IQL (Wang, Yang, Gao, Lin, Chen, Wu, Jia, Song, Huang, NeurIPS 2023, "Train Once,
Get a Family: State-Adaptive Balances for Offline-to-Online Reinforcement Learning", arXiv 2310.17966).

IQL's policy extraction weighs the dataset's actions by ``exp(beta A)``: a large ``beta`` (the
inverse temperature) chases the advantage, a small one stays close to the behaviour policy. FamO2O
trains a whole family of such policies at once, a **universal policy** ``pi_u(a | s, beta)`` that
takes ``beta`` as an input, and a **balance model** ``pi_b(beta | s)`` that picks the balance per
state. IQL's critics are unchanged. With ``Qhat`` the minimum over the target critics, one
minibatch's loss is the sum of (the paper's universal and balance objectives as its code computes
them, ``jax_iql/family_actor.py`` and ``family_learner.py``)::

    L_V  = E[ |tau - 1(u < 0)| u^2 ],  u = Qhat(s, a) - V(s)                       IQL's expectile V
    L_Q  = E[ sum_i (r + gamma (1 - terminated) V(s') - Q_i(s, a))^2 ]              IQL's TD
    L_u  = -E[ min(exp(beta (Qhat(s, a) - V(s))), 100) log pi_u(a | s, beta) ]       universal policy
           beta ~ U[beta_min, beta_max] per transition          offline phase (learn)
           beta ~ pi_b(. | s), no gradient                       online phase (finetune)
    L_b  = E[ alpha log pi_b(u | s) - Qhat(s, a~) ],  u ~ pi_b(. | s) reparameterised,
           beta = beta_min + (u + 1) / 2 (beta_max - beta_min),  a~ ~ pi_u(. | s, beta) reparameterised
           through beta only (pi_u's weights are held fixed in L_b)       balance model, SAC-style
    L_alpha = alpha (H_b - H_target),  H_b = -E[log pi_b(u | s)] (no gradient), H_target = -0.5

``pi_b`` is a tanh-Gaussian on ``u in [-1, 1]`` with a state-independent log-std, mapped affinely
onto ``[beta_min, beta_max]``: every beta it outputs lies in that interval. ``beta`` enters
``pi_u`` as a sinusoidal embedding (transformer position encoding, ``d = 6``, base 10000,
``family_utils.sin_cos_skill_func``) concatenated to the observation. The balance model is trained
in both phases, against the target critics (as the code). For Discrete actions ``Qhat(s, a~)`` is
the exact expectation ``sum_a pi_u(a | s, beta) Qhat(s, a)`` (the code has Box actions only).

Acting (``predict``): ``beta`` = the balance model's deterministic output ``tanh(mean)`` mapped,
then ``pi_u``'s mean (deterministic) or a sample.

Phases, d3rlpy's ``fit`` / ``fit_online`` split in SB3's names: ``learn(n)`` takes ``n`` offline
gradient steps (the offline seam's meaning of ``learn``); ``finetune(n)`` takes ``n`` online env
steps on the ``env`` given to the constructor (or to ``finetune``), one gradient step after each
on a replay buffer that holds the dataset and every new transition (:mod:`.online`, shared with
IQL and AWAC for the comparison).

Defaults and sources (``jax_iql`` of github.com/LeapLabTHU/FamO2O): beta range (1, 5)
(``FamilyLearner``'s default; ``configs/family_antmaze_finetune_config.py`` uses (8, 14) with
AntMaze's IQL settings), beta embedding d 6 and base 10000, target entropy -0.5, initial alpha 1,
Adam 3e-4 for every network and alpha, constant actor rate (``opt_decay_schedule = None``), Polyak
0.005, gamma 0.99, batch 256, MLPs 256x256 ReLU, clip 100 on the weights, replay buffer 2M, one
gradient step per env step. The expectile is IQL's locomotion 0.7 (FamO2O keeps IQL's per-domain
critic settings: 0.9 on AntMaze, as IQL). Not carried over: AntMaze's ``reward - 1`` (pass shifted
rewards) and the locomotion reward normalisation (``reward_scale=return_range_scale(dataset)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import check_int, check_real

from ..common.callbacks import BaseCallback
from ..common.config import config_from_arguments
from ..common.datasets import TransitionBatch, TransitionDataset
from ..common.distributions import ActionHead, DiagGaussian, MultiCategorical
from ..common.networks import HIDDEN_GAIN, MLP, POLICY_GAIN, activation_class, orthogonal_init
from ..common.observations import check_observation
from ..common.offline import OfflineConfig
from ..common.registry import Registry
from ..common.schedules import Schedule
from .base import NO_CLIP, OfflineActorCritic, OfflineActorCriticConfig, td_target
from .iql import advantage_weights, expectile_loss
from .networks import OfflineActorCriticPolicy
from .online import DEFAULT_BUFFER_SIZE, ReplayBuffer, finetune_online

#: Largest sinusoidal embedding of beta (a bound on a number read from model files).
MAX_EMBEDDING_DIM = 1024


def beta_embedding(beta: Tensor, dim: int = 6, base: float = 10000.0) -> Tensor:
    """``[B] -> [B, dim]``: ``sin(beta / base^(2i/dim)), cos(beta / base^(2i/dim))`` for
    ``i = 0 .. dim/2 - 1``, interleaved (sin, cos, sin, cos, ...) as FamO2O's ``sin_cos_skill_func``."""
    i = torch.arange(dim // 2, dtype=beta.dtype, device=beta.device)
    angles = beta.reshape(-1, 1) / base ** (2.0 * i / dim)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(-1, dim)


def balance_to_beta(u: Tensor, beta_min: float, beta_max: float) -> Tensor:
    """``u in [-1, 1]`` -> ``beta_min + (u + 1) / 2 (beta_max - beta_min)``, clamped to the interval
    (a rounding error must not step outside it)."""
    return (beta_min + (u + 1.0) * (0.5 * (beta_max - beta_min))).clamp(beta_min, beta_max)


def tanh_log_det(x: Tensor) -> Tensor:
    """``log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x))``, stable for large ``|x|``."""
    return 2.0 * (math.log(2.0) - x - F.softplus(-2.0 * x))


class FamO2OPolicy(OfflineActorCriticPolicy):
    """IQL's networks (twin Q, their targets, V) with a universal actor ``pi_u(a | s, beta)`` in
    place of IQL's, a balance model ``pi_b(beta | s)`` and the balance model's entropy temperature
    ``log_alpha`` (module docstring).

    Args (beyond :class:`~.networks.OfflineActorCriticPolicy`'s):
        beta_embedding_dim: even size of beta's sinusoidal embedding (FamO2O: 6).
        beta_embedding_base: its base (FamO2O: 10000).
        balance_log_std_min, balance_log_std_max: clamp of the balance model's log-std (the code's
            -10 and 2).

    The balance model has the actor's hidden sizes (``net_arch['pi']``). ``beta_min`` and
    ``beta_max`` are the algorithm's (:meth:`set_beta_range`; FamO2O sets them from its config).
    """

    with_value: ClassVar[bool] = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | str = nn.ReLU,
        log_std_init: float = 0.0,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
        n_critics: int = 2,
        ortho_init: bool = True,
        beta_embedding_dim: int = 6,
        beta_embedding_base: float = 10000.0,
        balance_log_std_min: float = -10.0,
        balance_log_std_max: float = 2.0,
    ) -> None:
        super().__init__(  # IQL's networks; the actor is replaced below
            observation_space,
            action_space,
            net_arch,
            activation_fn,
            log_std_init,
            log_std_min,
            log_std_max,
            n_critics,
            ortho_init,
        )
        dim = check_int("beta_embedding_dim", beta_embedding_dim, 2, MAX_EMBEDDING_DIM)
        if dim % 2:
            raise ValueError(f"beta_embedding_dim: got {dim}; must be even (sin and cos pairs)")
        self.beta_embedding_dim = dim
        self.beta_embedding_base = check_real("beta_embedding_base", beta_embedding_base, 1.0, low_open=True)
        self.balance_log_std_min = check_real("balance_log_std_min", balance_log_std_min)
        self.balance_log_std_max = check_real("balance_log_std_max", balance_log_std_max)
        if self.balance_log_std_min > self.balance_log_std_max:
            raise ValueError(
                f"balance_log_std_min: got {balance_log_std_min}; must be <= balance_log_std_max "
                f"({balance_log_std_max})"
            )
        hidden = [m.out_features for m in self.pi_net if isinstance(m, nn.Linear)]
        activation = activation_class(activation_fn)
        # The universal actor replaces IQL's: the same hidden sizes, with beta's embedding as input.
        self.pi_net = MLP(self.obs_dim + dim, hidden, activation, field="net_arch['pi']")
        self.action_head = ActionHead(action_space, self.pi_net.out_dim, log_std_init)
        self.balance_net = MLP(self.obs_dim, hidden, activation, field="net_arch['pi']")
        self.balance_mean = nn.Linear(self.balance_net.out_dim, 1)
        self.balance_log_std = nn.Parameter(torch.zeros(1))
        self.log_alpha = nn.Parameter(torch.zeros(()))
        self.beta_min, self.beta_max = 1.0, 5.0
        if ortho_init:
            orthogonal_init(self.pi_net, HIDDEN_GAIN)
            orthogonal_init(self.action_head.net, POLICY_GAIN)
            orthogonal_init(self.balance_net, HIDDEN_GAIN)
            orthogonal_init(self.balance_mean, POLICY_GAIN)  # first beta near the middle of the range

    def set_beta_range(self, beta_min: float, beta_max: float) -> None:
        """The interval the balance model maps onto (``0 < beta_min < beta_max``)."""
        beta_min = check_real("beta_min", beta_min, 0.0, low_open=True)
        beta_max = check_real("beta_max", beta_max, beta_min, low_open=True)
        self.beta_min, self.beta_max = beta_min, beta_max

    def actor_parameters(self) -> list[nn.Parameter]:
        """The universal actor's, the balance model's and ``log_alpha`` (one learning-rate group:
        FamO2O's code uses the actor's rate for all three)."""
        balance = [*self.balance_net.parameters(), *self.balance_mean.parameters(), self.balance_log_std]
        return [*self.pi_net.parameters(), *self.action_head.parameters(), *balance, self.log_alpha]

    # ------------------------------------------------------------------ balance model
    def balance_distribution(self, obs: Tensor) -> DiagGaussian:
        """The Gaussian of ``x`` before the tanh (``u = tanh(x)``), ``[B, 1]``."""
        mean = self.balance_mean(self.balance_net(self.features(obs)))
        log_std = self.balance_log_std.clamp(self.balance_log_std_min, self.balance_log_std_max)
        return DiagGaussian(mean, log_std)

    def balance_beta(self, obs: Tensor) -> Tensor:
        """``[B]`` the deterministic balance: ``tanh(mean)`` mapped onto ``[beta_min, beta_max]``."""
        u = torch.tanh(self.balance_distribution(obs).mean.squeeze(-1))
        return balance_to_beta(u, self.beta_min, self.beta_max)

    def balance_sample(self, obs: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(beta [B], log pi_b(u | s) [B])``: a reparameterised sample mapped onto the range, and the
        log-density of ``u = tanh(x)`` on ``[-1, 1]`` (the code's, whose entropy target is -0.5)."""
        x, log_prob_x = self.balance_distribution(obs).sample_and_log_prob(generator)
        log_prob = log_prob_x - tanh_log_det(x).sum(-1)
        return balance_to_beta(torch.tanh(x.squeeze(-1)), self.beta_min, self.beta_max), log_prob

    # ------------------------------------------------------------------ universal policy
    def distribution(
        self,
        obs: Tensor,
        masks: Tensor | None = None,
        beta: Tensor | None = None,
        frozen: bool = False,
    ) -> DiagGaussian | MultiCategorical:
        """``pi_u(. | s, beta)`` over scaled actions; ``beta [B]`` defaults to the balance model's
        deterministic choice. ``frozen``: the actor's weights enter without gradient (gradients
        still reach ``beta``: L_b's path)."""
        if beta is None:
            beta = self.balance_beta(obs)
        x = torch.cat(
            [self.features(obs), beta_embedding(beta, self.beta_embedding_dim, self.beta_embedding_base)], 1
        )
        head = self.action_head
        weight: Tensor = head.net.weight
        bias: Tensor = head.net.bias
        log_std: Tensor | None = getattr(head, "log_std", None)
        if frozen:
            params = {name: p.detach() for name, p in self.pi_net.named_parameters()}
            latent = torch.func.functional_call(self.pi_net, params, (x,))
            weight, bias = weight.detach(), bias.detach()
            log_std = log_std.detach() if log_std is not None else None
        else:
            latent = self.pi_net(x)
        out = F.linear(latent, weight, bias)
        if self.discrete:
            return MultiCategorical(out, head.nvec, masks)
        if masks is not None:
            raise ValueError("action_masks: Box actions cannot be masked")
        assert log_std is not None  # Box head
        mean = torch.tanh(out) if self.bounded else out
        return DiagGaussian(mean, log_std.clamp(self.log_std_min, self.log_std_max))


@dataclass(frozen=True)
class FamO2OConfig(OfflineActorCriticConfig):
    """FamO2O's hyperparameters (defaults and their sources: module docstring)."""

    expectile: float = 0.7
    """tau of IQL's expectile regression of V, in (0, 1)."""
    beta_min: float = 1.0
    """Smallest balance coefficient beta (inverse temperature of the weights exp(beta A)), > 0."""
    beta_max: float = 5.0
    """Largest balance coefficient, > beta_min."""
    max_weight: float = 100.0
    """Upper clip of the weights exp(beta A), > 0."""
    target_entropy: float = -0.5
    """Entropy the balance model's temperature alpha steers towards (of u = tanh(x) on [-1, 1])."""
    alpha_init: float = 1.0
    """Initial entropy temperature of the balance model, > 0."""
    buffer_size: int = DEFAULT_BUFFER_SIZE
    """Capacity of the online phase's replay buffer (>= the dataset's size; it starts with it)."""
    learning_starts: int = 0
    """Env steps of each finetune call before its first gradient step."""
    gradient_steps: int = 1
    """Gradient steps after each online env step."""

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = object.__setattr__
        set_(
            self,
            "expectile",
            check_real("expectile", self.expectile, 0.0, 1.0, low_open=True, high_open=True),
        )
        set_(self, "beta_min", check_real("beta_min", self.beta_min, 0.0, low_open=True))
        set_(self, "beta_max", check_real("beta_max", self.beta_max, self.beta_min, low_open=True))
        set_(self, "max_weight", check_real("max_weight", self.max_weight, 0.0, low_open=True))
        set_(self, "target_entropy", check_real("target_entropy", self.target_entropy))
        set_(self, "alpha_init", check_real("alpha_init", self.alpha_init, 0.0, low_open=True))
        set_(self, "buffer_size", check_int("buffer_size", self.buffer_size, 1))
        set_(self, "learning_starts", check_int("learning_starts", self.learning_starts, 0))
        set_(self, "gradient_steps", check_int("gradient_steps", self.gradient_steps, 0))


class FamO2O(OfflineActorCritic):
    """FamO2O over IQL from a :class:`TransitionDataset`, then online (module docstring);
    parameters documented on :class:`FamO2OConfig` and :class:`~..common.offline.OfflineConfig`.

    >>> model = FamO2O("MlpPolicy", dataset, env=env, seed=0)
    >>> model.learn(1_000_000)              # offline: gradient steps, beta ~ U[beta_min, beta_max]
    >>> model.finetune(1_000_000)           # online: env steps, beta from the balance model
    >>> action, _ = model.predict(obs, deterministic=True)
    >>> beta = model.balance_coefficients(obs)   # the balance chosen for each state

    ``env`` (a single Gymnasium env or an id, with the dataset's spaces) is used only by
    :meth:`finetune`; like the dataset it is not saved (``FamO2O.load(path, dataset=..., env=...)``).
    """

    config_class: ClassVar[type[OfflineConfig]] = FamO2OConfig
    config: FamO2OConfig
    policy: FamO2OPolicy
    policy_aliases: ClassVar[Any] = Registry(
        "policy", {"MlpPolicy": FamO2OPolicy, "FamO2OPolicy": FamO2OPolicy}
    )

    def __init__(
        self,
        policy: str | type[nn.Module],
        dataset: TransitionDataset | None,
        env: gym.Env | str | None = None,
        learning_rate: float | Schedule = 3e-4,
        batch_size: int = 256,
        gamma: float = 0.99,
        tau: float = 0.005,
        expectile: float = 0.7,
        beta_min: float = 1.0,
        beta_max: float = 5.0,
        max_weight: float = 100.0,
        target_entropy: float = -0.5,
        alpha_init: float = 1.0,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        learning_starts: int = 0,
        gradient_steps: int = 1,
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
        self.env = env
        #: The online phase's buffer (dataset + online transitions), made by the first finetune.
        self.replay_buffer: ReplayBuffer | None = None
        #: True while finetune runs: the universal policy then takes beta from the balance model.
        self.finetuning = False
        super().__init__(policy, dataset, config_from_arguments(FamO2OConfig, locals()), _init_setup_model)

    def _setup_model(self) -> None:
        super()._setup_model()
        cfg = self.config
        self.policy.set_beta_range(cfg.beta_min, cfg.beta_max)
        with torch.no_grad():
            self.policy.log_alpha.fill_(math.log(cfg.alpha_init))

    def set_dataset(self, dataset: Any) -> None:
        super().set_dataset(dataset)
        self.replay_buffer = None  # the next finetune starts a buffer with the new dataset

    def set_env(self, env: gym.Env | str) -> None:
        """The env of the online phase (a single Gymnasium env or a registered id)."""
        self.env = env

    # ------------------------------------------------------------------ losses
    def training_betas(self, obs: Tensor) -> Tensor:
        """``[B]`` the betas of L_u: uniform on ``[beta_min, beta_max]`` offline, the balance
        model's samples (no gradient) while fine-tuning."""
        if self.finetuning:
            with torch.no_grad():
                return self.policy.balance_sample(obs, self.sample_generator)[0]
        cfg = self.config
        u = torch.rand(obs.shape[0], generator=self.sample_generator, device=obs.device)
        return cfg.beta_min + (cfg.beta_max - cfg.beta_min) * u

    def balance_loss(self, obs: Tensor) -> tuple[Tensor, Tensor, dict[str, float]]:
        """``(L_b, L_alpha, stats)``: the balance model's SAC-style loss and its temperature's."""
        pol = self.policy
        beta, log_prob = pol.balance_sample(obs, self.sample_generator)
        dist = pol.distribution(obs, beta=beta, frozen=True)
        if isinstance(dist, MultiCategorical):  # Discrete: the exact expectation over pi_u
            q_all = pol.q_all_actions(obs, target=True).min(0).values
            q = (torch.softmax(dist.logits, -1) * q_all).sum(-1)
        else:
            q = pol.q_values(obs, dist.sample(self.sample_generator), target=True).min(0).values
        alpha = pol.log_alpha.exp()
        balance_loss = (alpha.detach() * log_prob - q).mean()  # L_b
        entropy = -log_prob.detach().mean()
        alpha_loss = alpha * (entropy - self.config.target_entropy)  # L_alpha
        return (
            balance_loss,
            alpha_loss,
            {
                "balance_loss": float(balance_loss.detach()),
                "balance_entropy": float(entropy),
                "balance_beta_mean": float(beta.detach().mean()),
                "alpha": float(alpha.detach()),
            },
        )

    def compute_loss(self, batch: TransitionBatch) -> tuple[Tensor, dict[str, float]]:
        cfg, pol = self.config, self.policy
        obs, actions = batch.observations, pol.scale_actions(batch.actions)
        with torch.no_grad():
            q_hat = pol.q_values(obs, actions, target=True).min(0).values  # min_i Qhat_i(s, a)
            next_v = pol.value(batch.next_observations)
            target = td_target(self.scaled_rewards(batch), batch.terminations, next_v, cfg.gamma)

        v = pol.value(obs)
        v_loss = expectile_loss(q_hat - v, cfg.expectile).mean()  # L_V

        q = pol.q_values(obs, actions)
        q_loss = (q - target).pow(2).sum(0).mean()  # L_Q

        beta = self.training_betas(obs)
        advantage = q_hat - v.detach()
        weights = advantage_weights(beta * advantage, 1.0, cfg.max_weight)  # exp(beta_i A_i), clipped
        log_prob = pol.distribution(obs, beta=beta).log_prob(actions)
        actor_loss = -(weights * log_prob).mean()  # L_u

        balance_loss, alpha_loss, balance_stats = self.balance_loss(obs)

        return v_loss + q_loss + actor_loss + balance_loss + alpha_loss, {
            "v_loss": float(v_loss.detach()),
            "q_loss": float(q_loss.detach()),
            "actor_loss": float(actor_loss.detach()),
            "adv_mean": float(advantage.mean()),
            "weight_mean": float(weights.mean()),
            "beta_mean": float(beta.mean()),
            **balance_stats,
        }

    # ------------------------------------------------------------------ online phase
    def finetune(
        self,
        total_timesteps: int,
        env: gym.Env | str | None = None,
        callback: BaseCallback | list[BaseCallback] | None = None,
        log_interval: int = 1000,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = False,
        progress_bar: bool = False,
    ) -> FamO2O:
        """Fine-tune online for ``total_timesteps`` env steps on ``env`` (default: the constructor's),
        acting with the balance model's beta and a sample of ``pi_u``, ``gradient_steps`` gradient
        steps of the same losses after each env step on the replay buffer (dataset + new
        transitions; kept in ``replay_buffer`` for the next call). Returns ``self``."""
        env = env if env is not None else self.env
        if env is None:
            raise ValueError("env: None; pass env= to the constructor, set_env() or finetune()")
        cfg = self.config
        self.finetuning = True
        try:
            self.replay_buffer = finetune_online(
                self,
                env,
                total_timesteps,
                replay_buffer=self.replay_buffer,
                buffer_size=cfg.buffer_size,
                learning_starts=cfg.learning_starts,
                gradient_steps=cfg.gradient_steps,
                callback=callback,
                log_interval=log_interval,
                tb_log_name=tb_log_name,
                reset_num_timesteps=reset_num_timesteps,
                progress_bar=progress_bar,
            )
        finally:
            self.finetuning = False
        return self

    @torch.no_grad()
    def balance_coefficients(self, observation: Any) -> np.ndarray:
        """The balance model's deterministic beta for one observation (a float array of shape
        ``()``) or a batch (``[B]``), always in ``[beta_min, beta_max]``."""
        if self.observation_space is None:
            raise ValueError("balance_coefficients: the model has no spaces yet")
        obs, n_rows = check_observation(observation, self.observation_space, self.device)
        beta = self.policy.balance_beta(obs.reshape(1 if n_rows is None else n_rows, -1))
        out = beta.cpu().numpy()
        return out[0] if n_rows is None else out
