"""The GPU figures in one run: inventory throughput up to a million copies, HDPO's time to a gap and
PPO on the native vector env, each on ``--device`` (default ``cuda``), written to
``benchmarks/results/*_cuda.csv``. Prepared for the short loans of a GPU machine: every part is
bounded in time (``--seconds`` per throughput case, ``--hdpo-epochs``, ``--ppo-iterations``), and a
part that fails is recorded as an error row instead of stopping the others.

    python benchmarks/cuda_check.py                      # on a CUDA machine (about 5 minutes)
    python benchmarks/cuda_check.py --device cpu --quick --out /tmp/check   # the same code on a CPU

Files: ``inventory_throughput_cuda.csv`` (vector env steps/s by batch and dtype, beside the CPU
single env and gym-invmgmt measured in the same run), ``hdpo_cuda.csv`` (``hdpo_scaling.py``'s
columns, one process on the device) and ``ppo_cuda.csv`` (PPO env-steps/s on
``InvMgmt-v0``'s native vector env with torch arrays on the device, by number of copies).
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine(device: str) -> str:
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else "-"
    return f"{platform.processor() or platform.machine()}; {gpu}; torch {torch.__version__}"


def inventory(args: argparse.Namespace) -> list[dict[str, Any]]:
    import gymnasium as gym
    from inventory_throughput import time_single, time_vector

    import rlsuite

    gym.register_envs(rlsuite)
    torch.set_num_threads(1)
    rows = [{"impl": "rlsuite InvMgmt-v0 (single)", "device": "cpu", "dtype": "float64", "batch": 1,
             "steps_per_s": time_single(gym.make("InvMgmt-v0"), args.seconds)}]  # fmt: skip
    try:
        import gym_invmgmt  # noqa: F401

        peer = time_single(gym.make("GymInvMgmt/MultiEchelon-v0"), args.seconds)
        rows.insert(0, {"impl": "gym-invmgmt MultiEchelon-v0", "device": "cpu", "dtype": "float64",
                        "batch": 1, "steps_per_s": peer})  # fmt: skip
    except ImportError:
        pass
    for dtype in ("float32", "float64"):
        for batch in args.batches:
            sps = time_vector(batch, args.seconds, args.device, dtype)
            rows.append({"impl": "rlsuite InvMgmt-v0 (vector)", "device": args.device, "dtype": dtype,
                         "batch": batch, "steps_per_s": sps})  # fmt: skip
            print(f"inventory {args.device} {dtype} batch {batch:>8}: {sps:,.0f} env-steps/s", flush=True)
    return rows


def hdpo(args: argparse.Namespace) -> list[dict[str, Any]]:
    import hdpo_scaling

    with tempfile.TemporaryDirectory() as tmp:
        hdpo_scaling.main(
            ["--settings", *args.hdpo_settings, "--runs", "1x1", "--device", args.device,
             "--max-epochs", str(args.hdpo_epochs), "--out", tmp]
        )  # fmt: skip
        with (Path(tmp) / "hdpo_scaling.csv").open() as f:
            return list(csv.DictReader(f))


def ppo(args: argparse.Namespace) -> list[dict[str, Any]]:
    import gymnasium as gym

    import rlsuite
    from rlsuite.agents import PPO

    gym.register_envs(rlsuite)
    rows = []
    for n in args.ppo_envs:
        venv = gym.make_vec("InvMgmt-v0", num_envs=n, device=args.device, array_type="torch", max_order=60.0)
        venv = gym.wrappers.vector.RescaleAction(venv, -1.0, 1.0)
        model = PPO(
            "MlpPolicy", venv, n_steps=32, batch_size=max(512, n * 32 // 8), n_epochs=4,
            normalize_observation=True, normalize_reward=True, seed=0, device=args.device,
        )  # fmt: skip
        model.learn(n * 32)  # warm-up iteration (CUDA context, allocator)
        t = time.perf_counter()
        model.learn(n * 32 * args.ppo_iterations, reset_num_timesteps=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        sps = n * 32 * args.ppo_iterations / (time.perf_counter() - t)
        rows.append({"n_envs": n, "n_steps": 32, "n_epochs": 4, "device": args.device, "steps_per_s": sps})
        print(f"ppo {args.device} {n:>5} envs: {sps:,.0f} env-steps/s (collection and updates)", flush=True)
    return rows


PARTS = {"inventory": (inventory, "inventory_throughput_cuda.csv"), "hdpo": (hdpo, "hdpo_cuda.csv"),
         "ppo": (ppo, "ppo_cuda.csv")}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput case")
    parser.add_argument("--batches", type=int, nargs="+", default=[1024, 16384, 131072, 1048576])
    parser.add_argument("--hdpo-settings", nargs="+", default=["lost_sales_L1_p9", "lost_sales_L2_p9"])
    parser.add_argument("--hdpo-epochs", type=int, default=100)
    parser.add_argument("--ppo-envs", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--ppo-iterations", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the script on any machine")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.batches, args.hdpo_epochs = 0.3, [256, 1024], 2
        args.hdpo_settings, args.ppo_envs, args.ppo_iterations = ["lost_sales_L1_p9"], [16], 1
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(
            f"--device {args.device}: CUDA is not available here (use --device cpu --quick to check)"
        )
    sys.path.insert(0, str(HERE))
    command = "python benchmarks/cuda_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        fn, name = PARTS[part]
        start = time.perf_counter()
        try:
            rows = fn(args)
        except Exception as e:  # keep the other parts' figures
            traceback.print_exc()
            rows = [{"error": f"{type(e).__name__}: {e}"}]
        for row in rows:
            row.update(
                command=command,
                machine=machine(args.device),
                part_seconds=round(time.perf_counter() - start, 1),
            )
        fields = list(dict.fromkeys(k for row in rows for k in row))
        with (args.out / name).open("w", newline="") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(rows)
        print(f"{part}: {len(rows)} rows -> {args.out / name}", flush=True)


if __name__ == "__main__":
    main()
