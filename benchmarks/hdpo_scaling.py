"""HDPO's time to a target gap, in one process and data-parallel over ``torchrun`` processes.

On the lost-sales settings of ``benchmarks/hdpo_table.py`` (single store, Poisson(5), h = 1,
L in {1, 2}, p in {4, 9, 19, 39}, the exact optimum from relative value iteration), HDPO trains
with the table's configuration (MLP 32x32x32, lr 1e-2, batch 1024 of 8192 train traces, 50-period
rollouts) and, every ``--check-every`` epochs, rank 0 measures the long-run cost on fixed test
traces (``--test-traces`` x ``--test-periods`` after ``--test-warmup``; the clock is paused while
it does). The run stops at the first check within ``--target`` percent of the optimum, or after
``--max-epochs``. Each configuration of ``--runs`` is ``PROCESSESxTHREADS``: ``1x1`` (one process,
one torch thread: the table's runs), ``1x2`` (one process, two threads) and ``2x1`` (two gloo
processes of one thread each, :mod:`rlsuite.agents.common.distributed`), all on the same seed.

    python benchmarks/hdpo_scaling.py                                   # every setting, 1x1 1x2 2x1
    python benchmarks/hdpo_scaling.py --settings lost_sales_L1_p9 --runs 1x1 2x1

Writes ``benchmarks/results/hdpo_scaling.csv`` (with the command): per setting and run, the
training seconds to the target gap (empty when not reached), epochs, the gap at each check and
the final one; prints the speed-up of every run over ``1x1``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = [
    "setting",
    "run",
    "processes",
    "threads",
    "device",
    "seed",
    "target_pct",
    "seconds_to_target",
    "epochs_to_target",
    "final_gap_pct",
    "epochs",
    "train_s",
    "gaps",
    "command",
]
#: The lost-sales rows of hdpo_table.py: (lead time, shortage cost).
SETTINGS = {f"lost_sales_L{lead}_p{p}": (lead, float(p)) for lead in (1, 2) for p in (4, 9, 19, 39)}
#: hdpo_table.py's lost-sales configuration.
HDPO_KWARGS: dict[str, Any] = dict(policy_kwargs={"net_arch": [32, 32, 32]}, learning_rate=1e-2)


def worker(args: argparse.Namespace) -> None:
    """One process of a run (all ranks train; rank 0 checks the gap and writes the result)."""
    from rlsuite.agents import HDPO, BaseCallback
    from rlsuite.agents.common.distributed import broadcast_, init_distributed, is_main_process
    from rlsuite.envs.inventory.rollout import initial_states, long_run_cost, sample_traces

    torch.set_num_threads(args.threads)
    init_distributed()
    lead, p = SETTINGS[args.setting]
    model = HDPO(
        "MlpPolicy",
        "InvMgmt-SingleStore-v0",
        env_kwargs={"lead_time": lead, "shortage_cost": p},
        seed=args.seed,
        eval_every=args.max_epochs + 1,  # no dev checks: the test gap decides when to stop
        device=args.device,
        **HDPO_KWARGS,
    )
    core = model.core
    demand = torch.as_tensor(
        sample_traces(core, args.test_traces, args.test_periods, seed=777), dtype=model.dtype
    )
    start = initial_states(core, args.test_traces, np.random.default_rng(778), True)

    class Checker(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.gaps: list[tuple[int, float, float]] = []  # (epoch, train seconds, gap %)
            self.train_s, self.last = 0.0, time.perf_counter()
            self.checked = 0

        def _on_step(self) -> bool:
            epoch = model.epochs_done
            if epoch == self.checked or epoch % args.check_every:
                return True
            return self.check(epoch)

        def check(self, epoch: int) -> bool:
            """Measure the gap (rank 0; the clock paused); False once it is within the target."""
            self.train_s += time.perf_counter() - self.last
            self.checked = epoch
            flag = torch.zeros(1, device=model.device)
            if is_main_process():
                model.policy.eval()
                cost = long_run_cost(core, model._policy_fn, demand, args.test_warmup, start)["avg_cost"]
                model.policy.train()
                gap = 100.0 * (cost - args.optimum) / args.optimum
                self.gaps.append((epoch, round(self.train_s, 2), round(gap, 4)))
                flag[0] = float(gap <= args.target)
            broadcast_([flag])
            self.last = time.perf_counter()
            return not bool(flag[0])

    checker = Checker()
    model.learn(epochs=args.max_epochs, callback=checker)
    if checker.checked != model.epochs_done and not (checker.gaps and checker.gaps[-1][2] <= args.target):
        checker.check(model.epochs_done)  # the last epoch's parameters
    if is_main_process():
        Path(args.out).write_text(json.dumps({"gaps": checker.gaps, "epochs": model.epochs_done}))


def run(setting: str, run_name: str, args: argparse.Namespace, optimum: float) -> dict[str, Any]:
    processes, threads = (int(x) for x in run_name.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        worker_args = [
            __file__, "--worker", "--setting", setting, "--threads", str(threads), "--seed", str(args.seed),
            "--optimum", repr(optimum), "--out", str(out), "--target", str(args.target),
            "--max-epochs", str(args.max_epochs), "--check-every", str(args.check_every),
            "--test-traces", str(args.test_traces), "--test-periods", str(args.test_periods),
            "--test-warmup", str(args.test_warmup), "--device", args.device,
        ]  # fmt: skip
        if processes == 1:
            cmd = [sys.executable, *worker_args]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc_per_node={processes}", *worker_args]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        env["OMP_NUM_THREADS"] = str(threads)
        subprocess.run(cmd, env=env, check=True)
        result = json.loads(out.read_text())
    gaps = result["gaps"]
    hit = next((g for g in gaps if g[2] <= args.target), None)
    return {
        "setting": setting,
        "run": run_name,
        "processes": processes,
        "threads": threads,
        "device": args.device,
        "seed": args.seed,
        "target_pct": args.target,
        "seconds_to_target": "" if hit is None else hit[1],
        "epochs_to_target": "" if hit is None else hit[0],
        "final_gap_pct": gaps[-1][2] if gaps else "",
        "epochs": result["epochs"],
        "train_s": gaps[-1][1] if gaps else "",
        "gaps": json.dumps(gaps),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--runs", nargs="+", default=["1x1", "1x2", "2x1"], help="PROCESSESxTHREADS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.3, help="gap to the optimum, percent")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--check-every", type=int, default=5, help="epochs between gap checks")
    parser.add_argument("--test-traces", type=int, default=1024)
    parser.add_argument("--test-periods", type=int, default=2000)
    parser.add_argument("--test-warmup", type=int, default=500)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per process)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    # the worker's own arguments (set by main)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--setting", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--optimum", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.out = str(args.out)
        worker(args)
        return
    for name in args.runs:
        parts = name.split("x")
        if len(parts) != 2 or not all(x.isdigit() and int(x) > 0 for x in parts):
            parser.error(f"--runs: got {name!r}; expected PROCESSESxTHREADS such as 1x1 or 2x1")
    from rlsuite.baselines import lost_sales_optimal
    from rlsuite.files import append_csv

    command = "python benchmarks/hdpo_scaling.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for setting in args.settings:
        lead, p = SETTINGS[setting]
        optimum = float(lost_sales_optimal(5.0, lead, 1.0, p).cost)
        base = None
        for run_name in args.runs:
            row = run(setting, run_name, args, optimum) | {"command": command}
            append_csv(args.out / "hdpo_scaling.csv", [row], FIELDS)
            if run_name == "1x1":
                base = row["seconds_to_target"]
            speedup = (
                f"{base / row['seconds_to_target']:.2f}x"
                if base not in (None, "") and row["seconds_to_target"] != ""
                else "-"
            )
            reached = row["seconds_to_target"] or "not reached"
            print(
                f"{setting:<18} {run_name:<4} to {args.target}%: {reached:>11} s "
                f"(epoch {row['epochs_to_target'] or '-'}), final gap {row['final_gap_pct']}%, "
                f"speed-up vs 1x1 {speedup}",
                flush=True,
            )


if __name__ == "__main__":
    main()
