"""Actor-critic policies: ``MlpPolicy`` (Box observations) and ``MultiInputPolicy`` (Dict).

``policy_kwargs`` keys follow Stable-Baselines3: ``net_arch`` (a list, used for both networks,
or ``dict(pi=[...], vf=[...])``), ``activation_fn``, ``ortho_init``, ``log_std_init``,
``features_extractor_class``, ``features_extractor_kwargs``, ``share_features_extractor``.
An ``action_mask`` key of a Dict observation is not a feature: the algorithms read it as the
invalid-action mask.
"""

from __future__ import annotations

from typing import Any, NamedTuple, SupportsInt, cast

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from rlsuite.validation import check_bool, check_int, check_mapping, check_real

from .distributions import ActionHead, DiagGaussian
from .networks import HIDDEN_GAIN, MLP, POLICY_GAIN, VALUE_GAIN, activation_class, orthogonal_init
from .registry import POLICIES, register_features_extractor, register_policy

#: Most objectives a vector critic may have (a bound on a number read from model files and envs).
MAX_OBJECTIVES = 64

MASK_KEY = "action_mask"


def _flat_dim(space: spaces.Space) -> int:
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiBinary):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    raise ValueError(
        f"observation_space: {type(space).__name__} is not supported; allowed: Box, Discrete, MultiBinary, "
        "MultiDiscrete, or a Dict of those"
    )


def _flatten(space: spaces.Space, x: Tensor) -> Tensor:
    b = x.shape[0]
    if isinstance(space, spaces.Discrete):
        return nn.functional.one_hot((x.long().reshape(b) - int(space.start)), int(space.n)).float()
    if isinstance(space, spaces.MultiDiscrete):
        parts = [
            nn.functional.one_hot(x.long().reshape(b, -1)[:, i], int(n))
            for i, n in enumerate(space.nvec.ravel())
        ]
        return torch.cat(parts, 1).float()
    return x.reshape(b, -1).float()


class FlattenExtractor(nn.Module):
    """Flattens a non-Dict observation (Discrete / MultiDiscrete one-hot encoded)."""

    def __init__(self, observation_space: spaces.Space) -> None:
        super().__init__()
        self.observation_space = observation_space
        self.features_dim = _flat_dim(observation_space)

    def forward(self, obs: Tensor) -> Tensor:
        return _flatten(self.observation_space, obs)


register_features_extractor("FlattenExtractor", FlattenExtractor)


class CombinedExtractor(nn.Module):
    """Flattens and concatenates every key of a Dict observation (except ``action_mask``)."""

    def __init__(self, observation_space: spaces.Dict) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Dict):
            raise ValueError("CombinedExtractor needs a Dict observation space (MultiInputPolicy)")
        self.keys = [k for k in observation_space.spaces if k != MASK_KEY]
        self.observation_space = observation_space
        self.features_dim = sum(_flat_dim(observation_space[k]) for k in self.keys)

    def forward(self, obs: dict[str, Tensor]) -> Tensor:
        return torch.cat([_flatten(self.observation_space[k], obs[k]) for k in self.keys], dim=1)


register_features_extractor("CombinedExtractor", CombinedExtractor)


class PolicyOutput(NamedTuple):
    values: Tensor
    log_prob: Tensor
    entropy: Tensor
    median: Tensor | None


class ActorCriticPolicy(nn.Module):
    """Separate actor and critic MLPs on a features extractor (SB3's ``ActorCriticPolicy``).

    ``median_head=True`` adds BPO's median head u(s), an MLP (sizes of ``net_arch['pi']``) on
    the critic's latent. ``post_decision_critic=True`` adds PDPPO's second critic V^x on
    post-decision observations (same space as the observations; own extractor and MLP of sizes
    ``net_arch['vf']``), read by :meth:`predict_post_values`. ``n_objectives=k > 1`` makes the critic
    vector-valued (one value per objective of a multi-objective env: values ``[B, k]``); the core
    sets it from the env's ``reward_space``.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] | str = nn.Tanh,
        ortho_init: bool = True,
        log_std_init: float = 0.0,
        features_extractor_class: type[nn.Module] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        median_head: bool = False,
        post_decision_critic: bool = False,
        n_objectives: int = 1,
    ) -> None:
        super().__init__()
        activation_fn = activation_class(activation_fn)
        if net_arch is None:
            net_arch = {"pi": [64, 64], "vf": [64, 64]}
        if isinstance(net_arch, (list, tuple)):
            net_arch = {"pi": list(net_arch), "vf": list(net_arch)}
        if not isinstance(net_arch, dict) or set(net_arch) - {"pi", "vf"}:
            raise ValueError(
                f"net_arch: got {net_arch!r}; expected a list of sizes or dict(pi=[...], vf=[...])"
            )
        ortho_init = check_bool("ortho_init", ortho_init)
        log_std_init = check_real("log_std_init", log_std_init)
        share_features_extractor = check_bool("share_features_extractor", share_features_extractor)
        median_head = check_bool("median_head", median_head)
        post_decision_critic = check_bool("post_decision_critic", post_decision_critic)
        self.n_objectives = check_int("n_objectives", n_objectives, 1, MAX_OBJECTIVES)
        if features_extractor_class is not None and not (
            isinstance(features_extractor_class, type) and issubclass(features_extractor_class, nn.Module)
        ):
            raise TypeError(
                f"features_extractor_class: got {features_extractor_class!r}; must be an nn.Module class"
            )
        features_extractor_kwargs = check_mapping("features_extractor_kwargs", features_extractor_kwargs)
        self.observation_space = observation_space
        self.action_space = action_space
        if features_extractor_class is None:
            features_extractor_class = (
                CombinedExtractor if isinstance(observation_space, spaces.Dict) else FlattenExtractor
            )
        fe_kwargs = features_extractor_kwargs or {}
        self.features_extractor = features_extractor_class(observation_space, **fe_kwargs)
        self.vf_features_extractor = (
            self.features_extractor
            if share_features_extractor
            else features_extractor_class(observation_space, **fe_kwargs)
        )
        # An extractor's features_dim is an int (nn.Module's stub types its attributes Tensor | Module).
        dim = int(cast(SupportsInt, self.features_extractor.features_dim))
        pi_arch, vf_arch = net_arch.get("pi", []), net_arch.get("vf", [])
        self.pi_net = MLP(dim, pi_arch, activation_fn, field="net_arch['pi']")
        self.vf_net = MLP(dim, vf_arch, activation_fn, field="net_arch['vf']")
        self.action_head = ActionHead(action_space, self.pi_net.out_dim, log_std_init)
        self.value_head = nn.Linear(self.vf_net.out_dim, self.n_objectives)
        self.median_net: nn.Module | None = None
        if median_head:  # nested (body, head): the state-dict keys of saved BPO models
            body = MLP(self.vf_net.out_dim, pi_arch, activation_fn, field="net_arch['pi']")
            self.median_net = nn.Sequential(body, nn.Linear(body.out_dim, 1))
        self.post_features_extractor: nn.Module | None = None
        self.post_vf_net: MLP | None = None
        self.post_value_head: nn.Linear | None = None
        if post_decision_critic:
            self.post_features_extractor = features_extractor_class(observation_space, **fe_kwargs)
            self.post_vf_net = MLP(dim, vf_arch, activation_fn, field="net_arch['vf']")
            self.post_value_head = nn.Linear(self.post_vf_net.out_dim, 1)
        self.share_features_extractor = share_features_extractor
        if ortho_init:
            self._orthogonal_init()

    def _orthogonal_init(self) -> None:
        """Hidden layers gain sqrt(2), policy head 0.01, value and median heads 1; biases 0. A shared
        features extractor is drawn twice: seeds keep giving the weights of earlier versions."""
        for net in (self.features_extractor, self.vf_features_extractor, self.pi_net, self.vf_net):
            orthogonal_init(net, HIDDEN_GAIN)
        orthogonal_init(self.action_head.net, POLICY_GAIN)
        orthogonal_init(self.value_head, VALUE_GAIN)
        if self.median_net is not None:
            orthogonal_init(self.median_net, VALUE_GAIN)
        if (
            self.post_features_extractor is not None
            and self.post_vf_net is not None
            and self.post_value_head is not None
        ):
            orthogonal_init(self.post_features_extractor, HIDDEN_GAIN)
            orthogonal_init(self.post_vf_net, HIDDEN_GAIN)
            orthogonal_init(self.post_value_head, VALUE_GAIN)

    # ------------------------------------------------------------------ forward passes
    def _latents(self, obs: Any) -> tuple[Tensor, Tensor]:
        features = self.features_extractor(obs)
        vf_features = features if self.share_features_extractor else self.vf_features_extractor(obs)
        return self.pi_net(features), self.vf_net(vf_features)

    def _value(self, latent_vf: Tensor) -> Tensor:
        """``[B]`` values, or ``[B, n_objectives]`` for a vector critic."""
        head = self.value_head
        v = nn.functional.linear(latent_vf, head.weight, head.bias)
        return v.squeeze(-1) if self.n_objectives == 1 else v

    def forward(
        self,
        obs: Any,
        deterministic: bool = False,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Sample (or take the mode of) actions: ``(actions [B, action_dim], values [B], log_prob [B])``."""
        latent_pi, latent_vf = self._latents(obs)
        dist = self.action_head.distribution(latent_pi, action_masks)
        if not deterministic and isinstance(dist, DiagGaussian):
            actions, log_prob = dist.sample_and_log_prob(generator)
            return actions, self._value(latent_vf), log_prob
        actions = dist.mode() if deterministic else dist.sample(generator)
        return actions, self._value(latent_vf), dist.log_prob(actions)

    def evaluate_actions(self, obs: Any, actions: Tensor, action_masks: Tensor | None = None) -> PolicyOutput:
        latent_pi, latent_vf = self._latents(obs)
        dist = self.action_head.distribution(latent_pi, action_masks)
        median = self.median_net(latent_vf).squeeze(-1) if self.median_net is not None else None
        return PolicyOutput(self._value(latent_vf), dist.log_prob(actions), dist.entropy(), median)

    def predict_values(self, obs: Any) -> Tensor:
        features = self.vf_features_extractor(obs)
        return self._value(self.vf_net(features))

    def predict_post_values(self, post_obs: Any) -> Tensor:
        """V^x of post-decision observations ``[B, ...]`` (policies built with ``post_decision_critic``)."""
        if self.post_vf_net is None or self.post_value_head is None or self.post_features_extractor is None:
            raise ValueError("predict_post_values: this policy has no post-decision critic")
        latent = self.post_vf_net(self.post_features_extractor(post_obs))
        head = self.post_value_head
        return nn.functional.linear(latent, head.weight, head.bias).squeeze(-1)

    def act(
        self,
        obs: Any,
        deterministic: bool = True,
        action_masks: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Actions only (inference)."""
        latent_pi = self.pi_net(self.features_extractor(obs))
        dist = self.action_head.distribution(latent_pi, action_masks)
        return dist.mode() if deterministic else dist.sample(generator)


register_policy("MlpPolicy", ActorCriticPolicy)
register_policy("MultiInputPolicy", ActorCriticPolicy)
register_policy("ActorCriticPolicy", ActorCriticPolicy)


#: The registry a model file's ``policy`` name resolves through (SB3's ``policy_aliases``), filled
#: by the ``register_policy`` calls after each policy class.
POLICY_ALIASES = POLICIES
