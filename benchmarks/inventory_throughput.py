"""Env-steps per second: gym-invmgmt's MultiEchelon-v0 vs rlsuite's InvMgmt-v0 (single and vector).

All cases run in this one process on the same machine, on the same network (gym-invmgmt's
divergent network, Poisson(20) demand, T = 30, constant orders of 20 on every link), episodes
reset as they end. The single env runs with its default NumPy backend and, for comparison, with
``backend="torch"`` (the torch core at batch 1). Writes ``inventory_throughput.csv`` (with the
exact command) and a PNG plot to ``benchmarks/results/``.

    python benchmarks/inventory_throughput.py                    # CPU, batches 1, 64, 1024, 16384
    python benchmarks/inventory_throughput.py --device cuda      # also on a GPU
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import rlsuite
from rlsuite.files import save_figure, write_csv

RESULTS = Path(__file__).resolve().parent / "results"


def time_single(env: gym.Env, seconds: float) -> float:
    """Steps per second of a single env under constant orders."""
    action = np.full(env.action_space.shape, 20.0)
    env.reset(seed=0)
    for _ in range(200):  # warm-up
        if env.step(action)[3]:
            env.reset()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            if env.step(action)[3]:
                env.reset()
        steps += 100
    return steps / (time.perf_counter() - t0)


def time_vector(batch: int, seconds: float, device: str, dtype: str) -> float:
    """Env-steps per second (batch x vector steps) of the native vector env, resets included."""
    array_type = "torch" if device != "cpu" else "numpy"
    env = gym.make_vec("InvMgmt-v0", num_envs=batch, device=device, dtype=dtype, array_type=array_type)
    if array_type == "torch":
        action: Any = torch.full((batch, 11), 20.0, device=device)
    else:
        action = np.full((batch, 11), 20.0)
    env.reset(seed=0)
    for _ in range(31):  # warm-up: one episode and its reset step
        env.step(action)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(31):
            env.step(action)
        sync()
        steps += 31 * batch
    return steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per case")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024, 16384])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (CPU cases always run)")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument(
        "--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads for batches"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = "python " + " ".join(
        [os.path.relpath(__file__, Path.cwd()), *(argv if argv is not None else sys.argv[1:])]
    )

    import gym_invmgmt  # noqa: F401  (the peer; registers GymInvMgmt/*)

    gym.register_envs(rlsuite)
    rows: list[dict[str, Any]] = []

    def record(impl: str, device: str, dtype: str, batch: int, threads: int, sps: float) -> None:
        rows.append(
            {
                "impl": impl,
                "device": device,
                "dtype": dtype,
                "batch": batch,
                "threads": threads,
                "steps_per_s": sps,
            }
        )
        print(f"{impl:28s} {device:5s} {dtype:8s} batch {batch:6d}  threads {threads}  {sps:14,.0f} steps/s")

    torch.set_num_threads(1)
    record(
        "gym-invmgmt MultiEchelon-v0",
        "cpu",
        "float64",
        1,
        1,
        time_single(gym.make("GymInvMgmt/MultiEchelon-v0"), args.seconds),
    )
    for backend in ("numpy", "torch"):  # the default single env (NumPy backend) and the torch core
        record(
            "rlsuite InvMgmt-v0 (single)" if backend == "numpy" else "rlsuite InvMgmt-v0 (single, torch)",
            "cpu",
            "float64",
            1,
            1,
            time_single(gym.make("InvMgmt-v0", backend=backend), args.seconds),
        )
    devices = ["cpu"] + ([args.device] if args.device != "cpu" else [])
    for device in devices:
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"skipping {device}: CUDA is not available")
            continue
        for batch in args.batches:
            threads = 1 if batch <= 64 else args.threads
            torch.set_num_threads(threads)
            record(
                "rlsuite InvMgmt-v0 (vector)",
                device,
                args.dtype,
                batch,
                threads,
                time_vector(batch, args.seconds, device, args.dtype),
            )
    base = rows[0]["steps_per_s"]
    for r in rows:
        r["ratio_vs_gym_invmgmt"] = r["steps_per_s"] / base
        r["command"] = command
        r["machine"] = (
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
        )
        if r["device"].startswith("cuda"):
            r["machine"] += f", {torch.cuda.get_device_name()}"
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.device == "cpu" else f"_{args.device.replace(':', '')}"
    csv_path = args.out / f"inventory_throughput{suffix}.csv"
    write_csv(csv_path, rows, list(rows[0]))
    _plot(rows, args.out / f"inventory_throughput{suffix}.png")
    print("\nratio vs gym-invmgmt:")
    for r in rows[1:]:
        print(f"  {r['impl']:28s} {r['device']:5s} batch {r['batch']:6d}: {r['ratio_vs_gym_invmgmt']:10.1f}x")
    print(f"wrote {csv_path}")
    return rows


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        r["impl"].replace("rlsuite InvMgmt-v0 ", "rlsuite\n").replace(" MultiEchelon", "\nMultiEchelon")
        + (f"\nB={r['batch']} {r['device']}" if "vector" in r["impl"] else "")
        for r in rows
    ]
    values = [r["steps_per_s"] for r in rows]
    colors = (
        ["tab:gray"]
        + ["tab:blue"]
        + ["tab:orange" if r["device"] == "cpu" else "tab:green" for r in rows[2:]]
    )
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(rows)), 4.5))
    bars = ax.bar(range(len(rows)), values, color=colors)
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("env-steps per second (log)")
    ax.set_title("Inventory env throughput: divergent network, T=30 (same machine, same run)")
    for b, r in zip(bars, rows, strict=True):
        ax.text(
            b.get_x() + b.get_width() / 2,
            b.get_height(),
            f"{r['ratio_vs_gym_invmgmt']:.1f}x",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
