"""PPO and BPO on MuJoCo v5 (Hopper, HalfCheetah, Walker2d) at 1M steps, several seeds.

CleanRL's continuous-control PPO configuration for both (64-64 tanh, lr 3e-4 annealed, 2048 x
1 env, 32 minibatches of 64, 10 epochs, gamma 0.99, GAE 0.95, observation and reward
normalization with clip 10); PPO clips at 0.2 and clips the value loss, BPO uses its own loss
(eps 0.3, lam 1e-3 in normalized-return units, median head, grad-norm 1.0). Each run appends
its learning curve to ``benchmarks/results/mujoco/<env>_<algo>_<seed>.csv`` and is skipped when
that file is complete, so the benchmark can be resumed. ``--summarize`` writes
``benchmarks/results/mujoco_returns.csv`` (final return = mean of the last 10 training episodes,
as CleanRL reports, and a deterministic evaluation over 10 episodes) and the learning-curve plot.
CleanRL's published PPO returns are shown for reference in the ``reference_*`` columns: they were
measured on MuJoCo **v4** (``reference_env``), not on the v5 envs of this benchmark.

    python benchmarks/mujoco_returns.py --workers 2           # 18 runs of 1M steps (hours on 2 CPUs)
    python benchmarks/mujoco_returns.py --summarize
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from rlsuite.files import atomic_write, save_figure, write_csv

RESULTS = Path(__file__).resolve().parent / "results"
CURVES = RESULTS / "mujoco"
ENVS = ["Hopper-v5", "HalfCheetah-v5", "Walker2d-v5"]
ALGOS = ["PPO", "BPO"]
# CleanRL's published PPO (ppo_continuous_action.py, 1M steps, 3 seeds), measured on MuJoCo v4, not on
# the v5 envs run here: a reference value from another env version, not a number of this benchmark.
CLEANRL_PPO_V4 = {"Hopper-v4": 2382.86, "HalfCheetah-v4": 1442.64, "Walker2d-v4": 2287.95}


def cleanrl_reference(env_id: str) -> tuple[str, float]:
    """CleanRL's v4 id and published PPO return for one of our v5 env ids."""
    v4 = env_id.rsplit("-v", 1)[0] + "-v4"
    return v4, CLEANRL_PPO_V4[v4]


def config(algo: str) -> dict[str, Any]:
    from rlsuite.agents import linear_schedule

    common = dict(
        n_steps=2048,
        batch_size=64,
        n_epochs=10,
        gamma=0.99,
        gae_lambda=0.95,
        learning_rate=linear_schedule(3e-4),
        ent_coef=0.0,
        vf_coef=0.5,
        normalize_observation=True,
        normalize_reward=True,
    )
    if algo == "PPO":
        return {**common, "clip_range": 0.2, "clip_range_vf": 0.2, "max_grad_norm": 0.5}
    return {**common, "clip_range": 0.3, "lam": 1e-3, "max_grad_norm": 1.0}


def run(job: tuple[str, str, int, int]) -> str:
    import gymnasium as gym
    import torch

    from rlsuite.agents import BPO, PPO, BaseCallback
    from rlsuite.evaluation import run_episodes

    env_id, algo, seed, steps = job
    path = CURVES / f"{env_id}_{algo}_{seed}.csv"
    if path.exists() and "final" in path.read_text():
        return f"{path.name}: done already"
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()

    class Curve(BaseCallback):
        def _on_rollout_end(self) -> None:
            m = self.model
            assert m is not None
            if m.ep_info_buffer:
                recent = [r for r, _ in list(m.ep_info_buffer)[-10:]]
                rows.append(
                    {
                        "timesteps": m.num_timesteps,
                        "ep_rew_mean": float(np.mean(recent)),
                        "seconds": time.perf_counter() - start,
                    }
                )

    cls = PPO if algo == "PPO" else BPO
    model = cls("MlpPolicy", env_id, seed=seed, **config(algo))
    model.learn(steps, callback=Curve())
    episodes = run_episodes(gym.make(env_id), model, range(50_000, 50_010), deterministic=True)
    evals = [e.total_reward for e in episodes]
    CURVES.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["timesteps", "ep_rew_mean", "seconds"])
        w.writeheader()
        w.writerows(rows)
        f.write(
            f"# final,{rows[-1]['ep_rew_mean']:.3f},eval,{np.mean(evals):.3f},"
            f"seconds,{time.perf_counter() - start:.1f}\n"
        )
    return f"{path.name}: final {rows[-1]['ep_rew_mean']:.1f}, eval {np.mean(evals):.1f}"


def summarize(command: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    fig, axes = plt.subplots(1, len(ENVS), figsize=(5 * len(ENVS), 4))
    for ax, env_id in zip(axes, ENVS, strict=True):
        for algo in ALGOS:
            finals, evals, curves = [], [], []
            for path in sorted(CURVES.glob(f"{env_id}_{algo}_*.csv")):
                text = path.read_text().splitlines()
                tail = [line for line in text if line.startswith("# final")]
                if not tail:
                    continue
                parts = tail[0][2:].split(",")
                finals.append(float(parts[1]))
                evals.append(float(parts[3]))
                data = [line.split(",") for line in text[1:] if not line.startswith("#")]
                curves.append((np.array([float(d[0]) for d in data]), np.array([float(d[1]) for d in data])))
            if not finals:
                continue
            grid = np.linspace(0, min(c[0][-1] for c in curves), 100)
            ys = np.array([np.interp(grid, c[0], c[1]) for c in curves])
            ax.plot(grid, ys.mean(0), label=f"{algo} ({len(finals)} seeds)")
            ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.2)
            out.append(
                {
                    "env": env_id,
                    "algo": algo,
                    "seeds": len(finals),
                    "final_mean": float(np.mean(finals)),
                    "final_std": float(np.std(finals)),
                    "eval_mean": float(np.mean(evals)),
                    "eval_std": float(np.std(evals)),
                    "reference_env": cleanrl_reference(env_id)[0],
                    "reference_cleanrl_ppo_v4": cleanrl_reference(env_id)[1],
                    "command": command,
                }
            )
        ref_env, ref = cleanrl_reference(env_id)
        ax.axhline(ref, color="gray", ls="--", lw=1, label=f"CleanRL PPO on {ref_env} (published, 1M)")
        ax.set(title=env_id, xlabel="timesteps", ylabel="training return (last 10 episodes)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, RESULTS / "mujoco_returns.png", dpi=110)
    if out:
        write_csv(RESULTS / "mujoco_returns.csv", out, list(out[0]))
        for r in out:
            print(
                f"{r['env']:16s} {r['algo']} seeds {r['seeds']}: "
                f"final {r['final_mean']:.1f} ± {r['final_std']:.1f}, "
                f"eval {r['eval_mean']:.1f} ± {r['eval_std']:.1f} "
                f"(CleanRL PPO on {r['reference_env']}: {r['reference_cleanrl_ppo_v4']})"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--algos", nargs="+", default=ALGOS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--summarize", action="store_true", help="only summarize finished runs")
    args = parser.parse_args(argv)
    command = "python " + " ".join(
        [os.path.relpath(__file__, Path.cwd()), *(argv if argv is not None else sys.argv[1:])]
    )
    if not args.summarize:
        CURVES.mkdir(parents=True, exist_ok=True)
        jobs = [(e, a, s, args.steps) for s in args.seeds for e in args.envs for a in args.algos]
        with Pool(args.workers) as pool:
            for msg in pool.imap_unordered(run, jobs):
                print(msg, flush=True)
    summarize(command)


if __name__ == "__main__":
    main()
