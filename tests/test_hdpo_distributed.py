"""HDPO data-parallel over a ``torchrun`` group of 2 CPU processes (gloo): the same training as one
process up to the order of summation (float64), with a minibatch that does not split evenly, and
identical parameters on both processes when unseeded."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlsuite.agents.common.distributed import all_reduce_sum, init_distributed, rank_and_size

WORKER = Path(__file__).with_name("hdpo_ddp_worker.py")
#: 252 train traces in minibatches of 63 (4 steps an epoch, shards of 32 and 31 traces).
CONFIG = dict(
    n_train=252, batch_size=63, n_dev=50, train_periods=20, train_warmup=5, dev_periods=30,
    dev_warmup=10, eval_every=1, learning_rate=1e-2,
)  # fmt: skip


def run(out: Path, config: dict, processes: int, epochs: int = 3) -> list[dict]:
    out.mkdir()
    args = [str(WORKER), "--out", str(out), "--config", json.dumps(config), "--epochs", str(epochs)]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    if processes == 1:
        cmd = [sys.executable, *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", *args]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(processes)]


def test_two_processes_train_as_one(tmp_path: Path) -> None:
    config = dict(CONFIG, seed=3)
    (single,) = run(tmp_path / "one", config, 1)
    ranks = run(tmp_path / "two", config, 2)
    assert ranks[0]["world"] == 2 and single["world"] == 1
    for result in ranks:
        assert result["timesteps"] == single["timesteps"] == 3 * 252 * 20
        assert len(result["losses"]) == len(single["losses"]) == 12
        torch.testing.assert_close(torch.tensor(result["losses"]), torch.tensor(single["losses"]),
                                   rtol=1e-10, atol=0)  # fmt: skip
        assert [e for e, _ in result["dev"]] == [e for e, _ in single["dev"]] == [1, 2, 3]
        torch.testing.assert_close(
            torch.tensor([c for _, c in result["dev"]]), torch.tensor([c for _, c in single["dev"]]),
            rtol=1e-10, atol=0,
        )  # fmt: skip
        for name, value in single["state"].items():
            torch.testing.assert_close(result["state"][name], value, rtol=1e-8, atol=1e-10)
    # Training moved the parameters (the comparison is not between two untrained policies).
    assert single["dev"][-1][1] < single["dev"][0][1] or single["losses"][-1] < single["losses"][0]


def test_unseeded_processes_agree(tmp_path: Path) -> None:
    first, second = run(tmp_path / "two", dict(CONFIG, seed=None), 2, epochs=1)
    for name, value in first["state"].items():
        assert torch.equal(second["state"][name], value), name
    assert first["losses"] == second["losses"]


def test_outside_a_group_everything_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_distributed() == (0, 1) == rank_and_size()
    x = torch.arange(3.0)
    assert all_reduce_sum([x])[0] is x
    with pytest.raises(ValueError, match="backend"):
        init_distributed("mpi")
