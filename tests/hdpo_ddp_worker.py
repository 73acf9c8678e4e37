"""Run by ``tests/test_hdpo_distributed.py``: trains a small HDPO in float64, in one process (plain
``python``) or in each process of a ``torchrun`` group, and writes this process's final
parameters, dev history and training costs to ``<out>/rank<R>.pt``."""

import argparse
import json
import sys

import torch

from rlsuite.agents import HDPO
from rlsuite.agents.common.callbacks import BaseCallback
from rlsuite.agents.common.distributed import init_distributed


class RecordLoss(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []

    def _on_step(self) -> bool:
        self.losses.append(float(self.locals["loss"]))
        return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", required=True, help="HDPO keyword arguments (JSON)")
    parser.add_argument("--epochs", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank, world = init_distributed()
    kwargs = json.loads(args.config)
    model = HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", dtype="float64", device="cpu", **kwargs)
    record = RecordLoss()
    model.learn(epochs=args.epochs, callback=record, log_interval=1)
    state = {k: v.clone() for k, v in model.policy.state_dict().items()}
    torch.save(
        {"state": state, "dev": model.dev_history, "losses": record.losses, "world": world,
         "timesteps": model.num_timesteps},
        f"{args.out}/rank{rank}.pt",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
