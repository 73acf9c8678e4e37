"""The networks of the offline actor-critic learners (IQL, AWAC): an actor, twin Q critics, their
Polyak-averaged targets and, for IQL, a state-value network V, in one ``nn.Module``.

One module (the model's ``policy``) so that the offline seam's single optimizer, ``policy.pth`` and
``predict`` see every network; the learner splits the parameters into an actor group and a critic
group (:meth:`~OfflineActorCriticPolicy.actor_parameters`,
:meth:`~OfflineActorCriticPolicy.critic_parameters`).

- **Observations**: Box, flattened.
- **Box actions** are handled in units scaled to ``[-1, 1]`` by the action space's bounds,
  ``a = center + half_range * u`` (identity when a bound is infinite). The actor is a diagonal
  Gaussian on ``u`` with mean ``tanh(MLP(s))`` and a state-independent log-std clamped to
  ``[log_std_min, log_std_max]``: IQL's code (``NormalTanhPolicy`` with
  ``tanh_squash_distribution=False, state_dependent_std=False``, log-std in ``[-5, 2]``); with an
  unbounded space the mean is linear. The critics take ``(s, u)``. ``predict`` returns
  ``center + half_range * mean`` (deterministic) or a sample, clipped to the space.
- **Discrete actions**: a categorical actor on logits; each critic has one output per action.
- **Initialization**: orthogonal (as IQL's code), gain sqrt(2) in hidden layers, 0.01 in the actor's
  head (a near-uniform first policy), 1 in the critics' heads; biases 0.
"""

from __future__ import annotations

import copy
import math
from typing import ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import check_bool, check_int, check_real

from ..common.distributions import ActionHead, DiagGaussian, MultiCategorical
from ..common.networks import HIDDEN_GAIN, MLP, POLICY_GAIN, VALUE_GAIN, activation_class, orthogonal_init

#: Most critics a policy may have (a bound on a number read from model files).
MAX_CRITICS = 16


def _net_arch(net_arch: list[int] | dict[str, list[int]] | None) -> dict[str, list[int]]:
    """``net_arch`` as ``{"pi": ..., "qf": ..., "vf": ...}`` (a list: the same sizes for all)."""
    if net_arch is None:
        net_arch = [256, 256]
    if isinstance(net_arch, (list, tuple)):
        return {"pi": list(net_arch), "qf": list(net_arch), "vf": list(net_arch)}
    if not isinstance(net_arch, dict) or set(net_arch) - {"pi", "qf", "vf"}:
        raise ValueError(
            f"net_arch: got {net_arch!r}; expected a list of sizes or dict(pi=[...], qf=[...], vf=[...])"
        )
    default = [256, 256]
    return {k: list(net_arch.get(k, default)) for k in ("pi", "qf", "vf")}


def register_action_bounds(module: nn.Module, action_space: spaces.Box) -> bool:
    """Register ``module.action_center`` and ``module.action_half_range`` (non-persistent buffers
    ``[d]``: the middle and half the width of the Box's bounds, 0 and 1 when a bound is infinite) and
    return whether every bound is finite (the policy then squashes its mean with tanh)."""
    low, high = action_space.low.reshape(-1), action_space.high.reshape(-1)
    bounded = bool(np.isfinite(low).all() and np.isfinite(high).all())
    center = (high + low) / 2 if bounded else np.zeros_like(low)
    half = (high - low) / 2 if bounded else np.ones_like(low)
    module.register_buffer("action_center", torch.as_tensor(center, dtype=torch.float32), persistent=False)
    module.register_buffer("action_half_range", torch.as_tensor(half, dtype=torch.float32), persistent=False)
    return bounded


class OfflineActorCriticPolicy(nn.Module):
    """Actor, ``n_critics`` Q networks and their target copies (module docstring). Subclasses with
    ``with_value = True`` add the state-value network V (IQL).

    Args:
        observation_space: a Box.
        action_space: a Box or a Discrete.
        net_arch: hidden sizes of every network, or ``dict(pi=[...], qf=[...], vf=[...])``;
            default ``[256, 256]`` (IQL's and FamO2O's MLPs).
        activation_fn: after every hidden layer (default ReLU, as the papers' code).
        log_std_init: initial log-std of the Gaussian actor (Box actions).
        log_std_min, log_std_max: the clamp of the log-std (IQL's code: -5 and 2).
        n_critics: Q networks; targets and advantages use their minimum.
        ortho_init: orthogonal initialization (module docstring); False keeps torch's default.
    """

    #: Whether the policy has a state-value network V (IQL's).
    with_value: ClassVar[bool] = False
    #: Box actions: the middle and half the width of the bounds (buffers; 0 and 1 if unbounded).
    action_center: Tensor
    action_half_range: Tensor

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
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Box):
            raise ValueError(
                f"observation_space: got {observation_space!r}; offline learners take Box observations"
            )
        if not isinstance(action_space, (spaces.Box, spaces.Discrete)):
            raise ValueError(f"action_space: got {action_space!r}; allowed: Box, Discrete")
        arch = _net_arch(net_arch)
        activation = activation_class(activation_fn)
        self.log_std_min = check_real("log_std_min", log_std_min)
        self.log_std_max = check_real("log_std_max", log_std_max)
        if self.log_std_min > self.log_std_max:
            raise ValueError(f"log_std_min: got {log_std_min}; must be <= log_std_max ({log_std_max})")
        n_critics = check_int("n_critics", n_critics, 1, MAX_CRITICS)
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_dim = math.prod(observation_space.shape)
        self.discrete = isinstance(action_space, spaces.Discrete)

        self.pi_net = MLP(self.obs_dim, arch["pi"], activation, field="net_arch['pi']")
        self.action_head = ActionHead(
            action_space, self.pi_net.out_dim, check_real("log_std_init", log_std_init)
        )
        if isinstance(action_space, spaces.Box):
            self.bounded = register_action_bounds(self, action_space)
            q_in, q_out = self.obs_dim + self.action_head.action_dim, 1
        else:
            self.bounded = True
            q_in, q_out = self.obs_dim, int(action_space.n)
        self.q_nets = nn.ModuleList(
            MLP(q_in, arch["qf"], activation, q_out, field="net_arch['qf']") for _ in range(n_critics)
        )
        self.value_net = (
            MLP(self.obs_dim, arch["vf"], activation, 1, field="net_arch['vf']") if self.with_value else None
        )
        if check_bool("ortho_init", ortho_init):
            self._orthogonal_init()
        # Targets start equal to the critics and follow them by Polyak averaging (update_targets).
        self.q_targets = copy.deepcopy(self.q_nets).requires_grad_(False)

    def _orthogonal_init(self) -> None:
        orthogonal_init(self.pi_net, HIDDEN_GAIN)
        orthogonal_init(self.action_head.net, POLICY_GAIN)
        for net in [*self.q_nets, *([self.value_net] if self.value_net is not None else [])]:
            orthogonal_init(net, HIDDEN_GAIN)
            orthogonal_init(net[-1], VALUE_GAIN)

    # ------------------------------------------------------------------ parameter groups
    def actor_parameters(self) -> list[nn.Parameter]:
        """The actor's parameters (its own learning-rate group)."""
        return [*self.pi_net.parameters(), *self.action_head.parameters()]

    def critic_parameters(self) -> list[nn.Parameter]:
        """The Q networks' and V's parameters (targets excluded: they are not trained)."""
        value = list(self.value_net.parameters()) if self.value_net is not None else []
        return [*self.q_nets.parameters(), *value]

    @torch.no_grad()
    def update_targets(self, tau: float) -> None:
        """Polyak averaging ``target <- (1 - tau) target + tau critic`` of every Q network."""
        for target, source in zip(self.q_targets.parameters(), self.q_nets.parameters(), strict=True):
            target.lerp_(source, tau)

    # ------------------------------------------------------------------ actions
    def features(self, obs: Tensor) -> Tensor:
        """``[B, *obs_shape] -> [B, obs_dim]`` float."""
        return obs.reshape(obs.shape[0], -1).float()

    def scale_actions(self, actions: Tensor) -> Tensor:
        """The env's actions ``[B, ...]`` -> the networks' format: Box ``[B, d]`` in ``[-1, 1]``
        units, Discrete ``[B, 1]`` indices from 0."""
        a = self.action_head.from_env(actions)
        if self.discrete:
            return a
        return (a - self.action_center) / self.action_half_range

    def unscale_actions(self, u: Tensor) -> Tensor:
        """The inverse of :meth:`scale_actions` up to the head's shape conversion (Box: env units
        ``[B, d]``; Discrete: indices unchanged)."""
        if self.discrete:
            return u
        return self.action_center + self.action_half_range * u

    def distribution(self, obs: Tensor, masks: Tensor | None = None) -> DiagGaussian | MultiCategorical:
        """The actor's distribution over scaled actions (:meth:`scale_actions`)."""
        latent = self.pi_net(self.features(obs))
        head = self.action_head
        if self.discrete:
            return head.distribution(latent, masks)
        if masks is not None:
            raise ValueError("action_masks: Box actions cannot be masked")
        out = nn.functional.linear(latent, head.net.weight, head.net.bias)
        mean = torch.tanh(out) if self.bounded else out
        return DiagGaussian(mean, head.log_std.clamp(self.log_std_min, self.log_std_max))

    def act(
        self,
        obs: Tensor,
        deterministic: bool = True,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Actions for ``predict`` (Box in env units, before the head's reshape and the clip):
        the Gaussian's mean or the most likely action when ``deterministic``, else a sample."""
        dist = self.distribution(obs, action_masks)
        u = dist.mode() if deterministic else dist.sample(generator)
        return self.unscale_actions(u)

    # ------------------------------------------------------------------ values
    def q_values(self, obs: Tensor, actions: Tensor, target: bool = False) -> Tensor:
        """``[n_critics, B]``: each critic (or its target) at ``actions`` in the networks' format."""
        nets = self.q_targets if target else self.q_nets
        x = self.features(obs)
        if self.discrete:
            index = actions.reshape(-1, 1).long()
            return torch.stack([net(x).gather(1, index).squeeze(1) for net in nets])
        xa = torch.cat([x, actions], dim=1)
        return torch.stack([net(xa).squeeze(1) for net in nets])

    def q_all_actions(self, obs: Tensor, target: bool = False) -> Tensor:
        """``[n_critics, B, n]``: every action's value (Discrete actions only)."""
        if not self.discrete:
            raise ValueError("q_all_actions: only for Discrete actions")
        nets = self.q_targets if target else self.q_nets
        x = self.features(obs)
        return torch.stack([net(x) for net in nets])

    def value(self, obs: Tensor) -> Tensor:
        """``[B]``: the state value V(s) (policies with ``with_value``)."""
        if self.value_net is None:
            raise ValueError(f"value: {type(self).__name__} has no state-value network")
        return self.value_net(self.features(obs)).squeeze(1)


class IQLPolicy(OfflineActorCriticPolicy):
    """:class:`OfflineActorCriticPolicy` with the state-value network V that IQL fits by expectile
    regression."""

    with_value: ClassVar[bool] = True


class AWACPolicy(OfflineActorCriticPolicy):
    """:class:`OfflineActorCriticPolicy` as AWAC uses it (no V: the policy's value is estimated from
    the critics)."""
