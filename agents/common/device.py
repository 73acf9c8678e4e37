"""Where an agent's tensors live: ``device="auto"`` and its checks."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CPU: small MLP policies train faster on the CPU than on a GPU (the env is
    the bottleneck, SB3#1770); pass ``device="cuda"`` explicitly for large networks."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device: got {device!r}; must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"device: got {device!r}; must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'") from e
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device: got {device!r}; allowed types: cpu, cuda, mps")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: got {device!r} but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device: got {device!r}; only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: got {device!r} but MPS is not available")
    return dev


def seeded_generators(seed: int | None, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """An agent's two random streams, from ``seed`` (or from torch's global stream when None):
    a CPU generator (minibatch order) and one on ``device`` (action sampling). With a seed,
    ``torch.manual_seed(seed)`` is set first, so the networks built next are seeded too."""
    if seed is not None:
        torch.manual_seed(seed)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31 - 1, ())))
    sample = torch.Generator(device=device)
    sample.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))
    return generator, sample
