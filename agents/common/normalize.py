"""Running observation and reward normalization (statistics saved with the model)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor


def normalized_shapes(space: spaces.Space | None) -> dict[str, tuple[int, ...]] | tuple[int, ...]:
    """What :class:`ObservationNormalizer` normalizes in observations of ``space``: a Box's shape, or
    the shapes of a Dict's floating-point Box entries (``action_mask`` and integer entries pass through)."""
    if isinstance(space, spaces.Dict):
        return {
            k: tuple(s.shape)
            for k, s in space.spaces.items()
            if k != "action_mask" and isinstance(s, spaces.Box) and np.issubdtype(s.dtype, np.floating)
        }
    return tuple(space.shape) if isinstance(space, spaces.Box) else ()


class RunningMeanStd:
    """Mean and variance of a stream of batches (parallel Welford update), in float64."""

    def __init__(self, shape: tuple[int, ...] = (), device: torch.device | str = "cpu") -> None:
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = 1e-4

    def update(self, x: Tensor) -> None:
        x = x.detach().to(torch.float64).reshape(-1, *self.mean.shape)
        n = x.shape[0]
        if n == 0:
            return
        b_mean, b_var = x.mean(0), x.var(0, unbiased=False)
        delta = b_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + b_var * n + delta.pow(2) * self.count * n / total) / total
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.cpu(), "var": self.var.cpu(), "count": torch.tensor(self.count)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = state["mean"].to(self.mean.device)
        self.var = state["var"].to(self.var.device)
        self.count = float(state["count"])


class ObservationNormalizer:
    """``clip((obs - mean) / sqrt(var + eps), -clip, clip)`` per key of a Dict observation
    (floating-point keys only; ``action_mask`` and integer keys pass through)."""

    def __init__(
        self, shapes: dict[str, tuple[int, ...]] | tuple[int, ...], clip: float, device: torch.device
    ) -> None:
        self.clip = clip
        self.is_dict = isinstance(shapes, dict)
        items = shapes.items() if isinstance(shapes, dict) else [("", shapes)]
        self.stats = {k: RunningMeanStd(s, device) for k, s in items}

    def __call__(self, obs: Any, update: bool = False) -> Any:
        if self.is_dict:
            return {k: self._norm(k, v, update) if k in self.stats else v for k, v in obs.items()}
        return self._norm("", obs, update)

    def _norm(self, key: str, x: Tensor, update: bool) -> Tensor:
        rms = self.stats[key]
        if update:
            rms.update(x)
        out = (x.to(torch.float64) - rms.mean) / torch.sqrt(rms.var + 1e-8)
        return out.clamp(-self.clip, self.clip).to(torch.float32)

    def state_dict(self) -> dict[str, Any]:
        return {k: v.state_dict() for k, v in self.stats.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            self.stats[k].load_state_dict(v)


class RewardNormalizer:
    """Divides rewards by the running std of the discounted return (CleanRL's NormalizeReward),
    then clips; the per-env return accumulators restart at episode ends."""

    def __init__(self, n_envs: int, gamma: float, clip: float, device: torch.device) -> None:
        self.gamma, self.clip = gamma, clip
        self.rms = RunningMeanStd((), device)
        self.returns = torch.zeros(n_envs, dtype=torch.float64, device=device)

    def __call__(self, rewards: Tensor, dones: Tensor) -> Tensor:
        self.returns = self.returns * self.gamma + rewards.to(torch.float64)
        self.rms.update(self.returns)
        out = rewards.to(torch.float64) / torch.sqrt(self.rms.var + 1e-8)
        self.returns = self.returns * (1.0 - dones.to(torch.float64))
        return out.clamp(-self.clip, self.clip).to(torch.float32)

    def state_dict(self) -> dict[str, Any]:
        return self.rms.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rms.load_state_dict(state)
