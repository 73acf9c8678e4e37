"""Data parallelism with ``torch.distributed``: the process group, this process's rank, and one
summing all-reduce of a list of tensors.

The agents that simulate large batches (HDPO) split each minibatch over the processes of a group:
every process holds the same model and the same data, computes the gradient of its share of the
batch, and one all-reduce sums the shares, so each process takes the same optimizer step a
single process would on the whole batch (up to the order of floating-point summation). This is
what ``DistributedDataParallel`` does; the agents reduce the gradients themselves because their
forward pass calls the policy once per simulated period, which DDP's hooks do not expect.

Launch with ``torchrun`` (one process per GPU, or per few CPU cores)::

    torchrun --nproc_per_node 2 train.py                       # one machine, 2 processes
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 \\
             --rdzv_backend c10d --rdzv_endpoint host0:29500 train.py     # node 0 of 2

and in ``train.py``::

    from rlsuite.agents.common.distributed import init_distributed, is_main_process
    init_distributed()                    # gloo on CPU, NCCL when the processes have GPUs
    model = HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", seed=0).learn(epochs=100)
    if is_main_process():
        model.save("hdpo")

Without ``torchrun`` (and without :func:`init_distributed`) everything runs in one process, as
before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.distributed as dist

from rlsuite.validation import check_choice

#: Backends :func:`init_distributed` accepts ("auto": NCCL when CUDA is present, else gloo).
BACKENDS = ("auto", "gloo", "nccl")


def init_distributed(backend: str = "auto") -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes (its ``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``/``MASTER_PORT`` variables) and return ``(rank, world_size)``. With NCCL, this
    process's GPU becomes ``cuda:LOCAL_RANK`` (the default CUDA device, which ``device="auto"``
    then picks). Does nothing, returning ``(0, 1)``, when ``WORLD_SIZE`` is unset (a plain
    ``python train.py``) or the group already exists."""
    backend = check_choice("backend", backend, BACKENDS)
    if dist.is_available() and dist.is_initialized():
        return rank_and_size()
    if "WORLD_SIZE" not in os.environ:
        return 0, 1
    if not dist.is_available():
        raise RuntimeError("init_distributed: this torch build has no torch.distributed")
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ValueError("backend: 'nccl' needs CUDA; use 'gloo' (or 'auto') on CPU")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return rank_and_size()


def rank_and_size() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 (and outside a process group): the process that logs and saves."""
    return rank_and_size()[0] == 0


def all_reduce_sum(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The element-wise sums over the group's processes of ``tensors`` (each process passes tensors
    of the same shapes, in the same order), in one collective over one flat buffer. Outside a
    group: the tensors themselves."""
    if rank_and_size()[1] == 1:
        return list(tensors)
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    out, pos = [], 0
    for t in tensors:
        out.append(flat[pos : pos + t.numel()].view_as(t))
        pos += t.numel()
    return out


def broadcast_(tensors: Sequence[torch.Tensor], src: int = 0) -> None:
    """Overwrite ``tensors`` in place with process ``src``'s values (no-op outside a group)."""
    if rank_and_size()[1] == 1:
        return
    for t in tensors:
        dist.broadcast(t.data, src)
