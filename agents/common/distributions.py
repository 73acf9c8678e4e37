"""Action distributions for the supported action spaces, written for speed (no argument validation).

Each distribution is built from the policy head's output for a batch and offers
``sample()``, ``mode()``, ``log_prob(actions)`` and ``entropy()``, all ``[B]`` except samples.
Invalid-action masks (``[B, n]`` booleans, True = allowed) set masked logits to a large negative
number, so masked actions are never sampled nor chosen by ``mode()``, and their probability
contributes nothing to the entropy.
"""

from __future__ import annotations

import math

import torch
from gymnasium import spaces
from torch import Tensor, nn

_MASKED = -1e8  # a logit that is never sampled; finite so that entropy stays finite
_LOG_2PI = math.log(2 * math.pi)


class DiagGaussian:
    """Independent normals with a state-independent log-std parameter (Box actions)."""

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean = mean
        self.log_std = log_std.expand_as(mean)

    def _noise(self, generator: torch.Generator | None) -> Tensor:
        m = self.mean
        return torch.randn(m.shape, generator=generator, dtype=m.dtype, device=m.device)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        return self.mean + self._noise(generator) * self.log_std.exp()

    def sample_and_log_prob(self, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """A sample and its log-probability, computed from the noise (fewer ops than log_prob)."""
        noise = self._noise(generator)
        actions = self.mean + noise * self.log_std.exp()
        return actions, (-0.5 * noise.pow(2) - self.log_std - 0.5 * _LOG_2PI).sum(-1)

    def mode(self) -> Tensor:
        return self.mean

    def log_prob(self, actions: Tensor) -> Tensor:
        z = (actions - self.mean) * torch.exp(-self.log_std)
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * _LOG_2PI).sum(-1)

    def entropy(self) -> Tensor:
        return (self.log_std + 0.5 * (1.0 + _LOG_2PI)).sum(-1)


class MultiCategorical:
    """Independent categoricals, one per component (Discrete is the one-component case;
    MultiBinary uses two categories per bit). ``logits [B, sum(nvec)]``."""

    def __init__(self, logits: Tensor, nvec: list[int], masks: Tensor | None = None) -> None:
        if masks is not None:
            logits = torch.where(masks, logits, torch.full_like(logits, _MASKED))
        self.nvec = nvec
        self.logits = logits
        self._split = list(torch.split(logits, nvec, dim=-1))
        self._log_p = [torch.log_softmax(chunk, -1) for chunk in self._split]

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        # Inverse-CDF sampling, one uniform per component (cheaper than torch.multinomial).
        shape = (self.logits.shape[0], len(self.nvec))
        u = torch.rand(shape, generator=generator, dtype=self.logits.dtype, device=self.logits.device)
        out = []
        for i, lp in enumerate(self._log_p):
            idx = torch.searchsorted(lp.exp().cumsum(-1), u[:, i : i + 1].contiguous())
            out.append(idx.squeeze(-1).clamp_max(lp.shape[-1] - 1))
        return torch.stack(out, -1)

    def mode(self) -> Tensor:
        return torch.stack([lp.argmax(-1) for lp in self._log_p], -1)

    def log_prob(self, actions: Tensor) -> Tensor:
        a = actions.long()
        return torch.stack(
            [lp.gather(-1, a[..., i : i + 1]).squeeze(-1) for i, lp in enumerate(self._log_p)], -1
        ).sum(-1)

    def entropy(self) -> Tensor:
        return torch.stack([-(lp.exp() * lp).sum(-1) for lp in self._log_p], -1).sum(-1)


class ActionHead(nn.Module):
    """Maps the policy latent to a distribution over ``action_space`` and converts actions
    between the env's format and the tensors the distribution works with."""

    def __init__(self, action_space: spaces.Space, latent_dim: int, log_std_init: float = 0.0) -> None:
        super().__init__()
        self.action_space = action_space
        if isinstance(action_space, spaces.Box):
            self.kind = "box"
            self.action_dim = math.prod(action_space.shape)  # no tensor: also builds on the meta device
            self.net = nn.Linear(latent_dim, self.action_dim)
            self.log_std = nn.Parameter(torch.full((self.action_dim,), float(log_std_init)))
        elif isinstance(action_space, spaces.Discrete):
            self.kind = "categorical"
            self.nvec = [int(action_space.n)]
            self.start: int | Tensor = int(action_space.start)
        elif isinstance(action_space, spaces.MultiDiscrete):
            if action_space.nvec.ndim != 1:
                raise ValueError(
                    f"action_space: MultiDiscrete must be 1-D, got nvec shape {action_space.nvec.shape}"
                )
            self.kind = "categorical"
            self.nvec = [int(n) for n in action_space.nvec]
            self.start = torch.as_tensor(action_space.start, dtype=torch.long)
        elif isinstance(action_space, spaces.MultiBinary):
            if len(action_space.shape) != 1:
                raise ValueError(f"action_space: MultiBinary must be 1-D, got shape {action_space.shape}")
            self.kind = "categorical"
            self.nvec = [2] * int(action_space.shape[0])
            self.start = 0
        else:
            raise ValueError(
                f"action_space: {type(action_space).__name__} is not supported; "
                "allowed: Box, Discrete, MultiDiscrete, MultiBinary"
            )
        if self.kind == "categorical":
            self.action_dim = len(self.nvec)
            self.net = nn.Linear(latent_dim, sum(self.nvec))

    @property
    def mask_dim(self) -> int:
        """Length of an invalid-action mask (0 for Box actions, which cannot be masked)."""
        return 0 if self.kind == "box" else sum(self.nvec)

    def distribution(self, latent: Tensor, masks: Tensor | None = None) -> DiagGaussian | MultiCategorical:
        out = nn.functional.linear(latent, self.net.weight, self.net.bias)
        if self.kind == "box":
            if masks is not None:
                raise ValueError("action_masks: Box actions cannot be masked")
            return DiagGaussian(out, self.log_std)
        return MultiCategorical(out, self.nvec, masks)

    def to_env(self, actions: Tensor) -> Tensor:
        """Distribution samples -> the env's action format (shape and offsets; Box actions are not
        clipped here)."""
        if isinstance(self.action_space, spaces.Box):  # kind == "box"
            return actions.reshape(actions.shape[0], *self.action_space.shape)
        if isinstance(self.action_space, spaces.Discrete):
            return actions[:, 0] + self.start
        if isinstance(self.action_space, spaces.MultiDiscrete):
            assert isinstance(self.start, Tensor)  # MultiDiscrete: a tensor of offsets
            return actions + self.start.to(actions.device)
        return actions

    def from_env(self, actions: Tensor) -> Tensor:
        """The env's actions -> the distribution's format (inverse of :meth:`to_env`)."""
        if self.kind == "box":
            return actions.reshape(actions.shape[0], -1).float()
        if isinstance(self.action_space, spaces.Discrete):
            return (actions.reshape(-1, 1) - self.start).long()
        if isinstance(self.action_space, spaces.MultiDiscrete):
            assert isinstance(self.start, Tensor)  # MultiDiscrete: a tensor of offsets
            return actions.long() - self.start.to(actions.device)
        return actions.long()
