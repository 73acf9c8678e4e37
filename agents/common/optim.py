"""The optimizer every on-policy agent uses, and a lean global grad-norm clip."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def make_adam(policy: nn.Module, lr: float) -> torch.optim.Adam:
    """Adam with eps 1e-5 (PPO detail 3). The fused kernel (one call for all parameters) is 2x
    faster than foreach for small networks; it falls back to foreach where it is unavailable."""
    try:
        return torch.optim.Adam(policy.parameters(), lr=lr, eps=1e-5, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - old torch or unsupported device
        return torch.optim.Adam(policy.parameters(), lr=lr, eps=1e-5, foreach=True)


def clip_grad_norm(params: list[nn.Parameter], max_norm: float) -> Tensor:
    """Scale the gradients so that their global L2 norm is at most ``max_norm`` (the same rule as
    ``torch.nn.utils.clip_grad_norm_``, without its per-call grouping overhead: the parameters of
    one policy share a device and dtype). Returns the norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(grads, coef)
    return total
