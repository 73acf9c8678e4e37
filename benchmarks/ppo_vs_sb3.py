"""rlsuite PPO vs Stable-Baselines3 PPO: identical hyperparameters, same machine, same run.

Both use SB3's PPO defaults (n_steps 2048, batch 64, 10 epochs, lr 3e-4, 64-64 tanh, clip 0.2,
no normalization), one environment, the CPU and one torch thread. For each env and seed the two
libraries train alternately for the same number of steps; we report training throughput
(env steps per second, collection and updates included), the ratio, and the return at equal
steps (mean of 10 deterministic evaluation episodes on fixed seeds, and SB3-style
``ep_rew_mean`` of the last training episodes).

    python benchmarks/ppo_vs_sb3.py                         # CartPole-v1, HalfCheetah-v5, Hopper-v5
    python benchmarks/ppo_vs_sb3.py --steps 100000 --seeds 0 1 2 --envs CartPole-v1

Writes ``benchmarks/results/ppo_vs_sb3.csv`` (with the command) and ``.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlsuite.files import save_figure, write_csv

RESULTS = Path(__file__).resolve().parent / "results"


def evaluate(model: Any, env_id: str, episodes: int = 10) -> float:
    """Mean return of ``model.predict(obs, deterministic=True)`` over seeds 10000..10000+episodes-1."""
    from rlsuite.evaluation import run_episodes

    seeds = range(10_000, 10_000 + episodes)
    return float(
        np.mean([e.total_reward for e in run_episodes(gym.make(env_id), model, seeds, deterministic=True)])
    )


def run_sb3(env_id: str, steps: int, seed: int) -> dict[str, Any]:
    from stable_baselines3 import PPO as SB3PPO

    t = time.perf_counter()
    model = SB3PPO("MlpPolicy", env_id, seed=seed, device="cpu")
    model.learn(steps)
    elapsed = time.perf_counter() - t
    ep = [e["r"] for e in model.ep_info_buffer]
    ret = evaluate(model, env_id)
    return {
        "steps_per_s": model.num_timesteps / elapsed,
        "eval_return": ret,
        "ep_rew_mean": float(np.mean(ep)),
    }


def run_ours(env_id: str, steps: int, seed: int) -> dict[str, Any]:
    from rlsuite.agents import PPO

    t = time.perf_counter()
    model = PPO("MlpPolicy", env_id, seed=seed, device="cpu")
    model.learn(steps)
    elapsed = time.perf_counter() - t
    ep = [r for r, _ in model.ep_info_buffer]
    ret = evaluate(model, env_id)
    return {
        "steps_per_s": model.num_timesteps / elapsed,
        "eval_return": ret,
        "ep_rew_mean": float(np.mean(ep)),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "HalfCheetah-v5", "Hopper-v5"])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = "python " + " ".join(
        [os.path.relpath(__file__, Path.cwd()), *(argv if argv is not None else sys.argv[1:])]
    )
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    for env_id in args.envs:
        for seed in args.seeds:
            for lib, fn in (("sb3", run_sb3), ("rlsuite", run_ours)):
                res = fn(env_id, args.steps, seed)
                rows.append({"env": env_id, "seed": seed, "library": lib, "steps": args.steps, **res})
                print(
                    f"{env_id:16s} seed {seed} {lib:8s} {res['steps_per_s']:8.0f} steps/s "
                    f"eval {res['eval_return']:9.1f} ep_rew_mean {res['ep_rew_mean']:9.1f}",
                    flush=True,
                )
    for r in rows:
        r["command"] = command
        r["torch"] = torch.__version__
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "ppo_vs_sb3.csv", rows, list(rows[0]))
    summary = []
    for env_id in args.envs:
        by = {
            lib: [r for r in rows if r["env"] == env_id and r["library"] == lib] for lib in ("sb3", "rlsuite")
        }
        sps = {lib: np.mean([r["steps_per_s"] for r in v]) for lib, v in by.items()}
        ret = {
            lib: (np.mean([r["eval_return"] for r in v]), np.std([r["eval_return"] for r in v]))
            for lib, v in by.items()
        }
        summary.append((env_id, sps, ret))
        print(
            f"{env_id}: throughput ratio {sps['rlsuite'] / sps['sb3']:.2f}x "
            f"(sb3 {sps['sb3']:.0f}, rlsuite {sps['rlsuite']:.0f} steps/s); eval return "
            f"sb3 {ret['sb3'][0]:.1f} ± {ret['sb3'][1]:.1f}, "
            f"rlsuite {ret['rlsuite'][0]:.1f} ± {ret['rlsuite'][1]:.1f}"
        )
    _plot(summary, args.out / "ppo_vs_sb3.png", args.steps)
    return rows


def _plot(summary: list[Any], path: Path, steps: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(summary))
    for k, lib in enumerate(("sb3", "rlsuite")):
        axes[0].bar(x + (k - 0.5) * 0.38, [s[1][lib] for s in summary], 0.38, label=lib)
        axes[1].bar(
            x + (k - 0.5) * 0.38,
            [s[2][lib][0] for s in summary],
            0.38,
            yerr=[s[2][lib][1] for s in summary],
            capsize=3,
            label=lib,
        )
    for ax, title in zip(
        axes, ("training throughput (env steps/s)", f"eval return after {steps} steps"), strict=True
    ):
        ax.set_xticks(x, [s[0] for s in summary])
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
