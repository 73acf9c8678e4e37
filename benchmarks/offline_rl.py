"""Offline RL on datasets made here: IQL beside d3rlpy's IQL, OPPO beside PbRL + IQL and IQL with the
true rewards, FamO2O beside IQL offline-to-online.

Datasets: the MuJoCo ones of :mod:`rlsuite.envs.datasets.mujoco` (``rlsuite/<env>/<quality>-v0``,
built and cached on first use; ``rlsuite datasets build`` makes them ahead). Scores are D4RL's
normalised scores ``100 (R - R_random) / (R_expert - R_random)`` with the dataset's own reference
returns, from ``--eval-episodes`` deterministic episodes on reset seeds no dataset used.

Three parts (``--part``), each appending one row per dataset, method and seed:

- ``iql``: rlsuite's IQL and d3rlpy's IQL (in its own virtual environment, ``benchmarks/.peers/d3rlpy``:
  d3rlpy pins gymnasium 1.0.0) on the same transitions, the same gradient steps and IQL's locomotion
  settings (batch 256, lr 3e-4, expectile 0.7, temperature 3, weights clipped at 100, rewards
  scaled by 1000 / (return range), cosine actor schedule, tau 0.005);
- ``preferences``: ``--pairs`` scripted segment pairs (``--segment`` steps, the teacher of
  :func:`~rlsuite.envs.datasets.label_segments`), then OPPO (no reward model), PbRL + IQL (a
  Bradley-Terry reward ensemble relabels the dataset, then IQL) and IQL on the true rewards;
- ``o2o``: FamO2O and IQL, ``--steps`` offline gradient steps then ``--online-steps`` env steps of
  the same online phase (:func:`~rlsuite.agents.offline.online.finetune_online`), scored after each.

    python benchmarks/offline_rl.py --part iql --envs Hopper-v5 --qualities medium medium-replay medium-expert
    python benchmarks/offline_rl.py --part preferences --qualities medium-replay medium-expert
    python benchmarks/offline_rl.py --part o2o --envs Hopper-v5 --qualities medium medium-replay
    python benchmarks/offline_rl.py --summary        # tables + benchmarks/results/offline_rl.png

Writes ``benchmarks/results/offline_rl.csv`` (with the command of each row).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlsuite.files import append_csv, save_figure

RESULTS = Path(__file__).resolve().parent / "results"
#: Minari root of the datasets (None: Minari's default, where ``rlsuite datasets build`` writes).
ROOT: Path | None = None
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "d3rlpy_iql.py"
FIELDS = [
    "part",
    "env",
    "quality",
    "method",
    "seed",
    "score",
    "return_mean",
    "return_std",
    "gradient_steps",
    "online_steps",
    "stage",
    "wall_s",
    "command",
]
#: Reset seeds of the evaluation episodes (the datasets use seeds below 10**6, the PPO checkpoints 10**6+).
EVAL_SEED = 5_000_000
#: IQL's locomotion settings (Kostrikov et al. 2022, their code's configs), shared by both libraries.
#: OPPO's encoder scaled to a CPU (the paper: embed 128, 3 layers, 64 pairs; about 1 s a step on one
#: core for 25-step segments, 20x this one). The policy's warm-up is a tenth of the run (the paper's
#: 10,000 steps are a tenth of its 100,000) and the rate IQL's 3e-4 (the paper's 1e-4 is for 100k+
#: steps): both scaled to the budget, not tuned.
OPPO_CPU: dict[str, Any] = dict(
    batch_size=32, learning_rate=3e-4, policy_kwargs=dict(embed_dim=64, n_layers=1)
)
IQL_SETTINGS = dict(batch_size=256, learning_rate=3e-4, expectile=0.7, beta=3.0, max_weight=100.0, tau=0.005)


def load(env_id: str, quality: str) -> tuple[Any, Any]:
    """The dataset (built on first use) and its Minari handle (reference scores)."""
    import minari

    from rlsuite.envs.datasets import build_mujoco_datasets, dataset_id, from_minari, minari_root

    build_mujoco_datasets(env_id, qualities=[quality], root=ROOT)
    ds_id = dataset_id(env_id, quality)
    with minari_root(ROOT):
        return from_minari(ds_id), minari.load_dataset(ds_id, download=False)


def evaluate(env_id: str, model: Any, handle: Any, seed: int, episodes: int) -> dict[str, float]:
    import gymnasium as gym

    from rlsuite.evaluation import run_episodes

    seeds = range(EVAL_SEED + 1000 * seed, EVAL_SEED + 1000 * seed + episodes)
    returns = np.array(
        [e.total_reward for e in run_episodes(gym.make(env_id), model, seeds, deterministic=True)]
    )
    return score(returns, handle)


def score(returns: np.ndarray, handle: Any) -> dict[str, float]:
    import minari

    norm = 100.0 * np.asarray(minari.get_normalized_score(handle, returns))
    return dict(score=float(norm.mean()), return_mean=float(returns.mean()), return_std=float(returns.std()))


def iql(dataset: Any, seed: int, **kwargs: Any) -> Any:
    from rlsuite.agents.offline import IQL, return_range_scale

    return IQL(
        "MlpPolicy", dataset, seed=seed, reward_scale=return_range_scale(dataset), **IQL_SETTINGS, **kwargs
    )


def part_iql(env_id: str, quality: str, seed: int, args: argparse.Namespace, emit: Any) -> None:
    from peer_venv import PEERS, ensure_venv, run_in_venv

    dataset, handle = load(env_id, quality)
    t = time.perf_counter()
    model = iql(dataset, seed).learn(args.steps)
    emit("rlsuite_iql", evaluate(env_id, model, handle, seed, args.eval_episodes), time.perf_counter() - t)
    ensure_venv("d3rlpy", PEERS["d3rlpy"], install_rlsuite=False)
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data.npz", Path(tmp) / "out.json"
        dataset.save(data)
        seeds = [str(EVAL_SEED + 1000 * seed + i) for i in range(args.eval_episodes)]
        t = time.perf_counter()
        run_in_venv(
            "d3rlpy",
            PEER_SCRIPT,
            ["--data", str(data), "--env", env_id, "--steps", str(args.steps), "--seed", str(seed),
             "--out", str(out), "--eval-seeds", *seeds],
        )  # fmt: skip
        peer = json.loads(out.read_text())
    emit("d3rlpy_iql", score(np.asarray(peer["returns"]), handle), time.perf_counter() - t)


def part_preferences(env_id: str, quality: str, seed: int, args: argparse.Namespace, emit: Any) -> None:
    from rlsuite.agents.offline import OPPO, relabel_rewards, train_reward_model
    from rlsuite.envs.datasets import label_segments

    dataset, handle = load(env_id, quality)
    prefs = label_segments(dataset, args.pairs, args.segment, seed=seed)
    t = time.perf_counter()
    model = OPPO(
        "MlpPolicy", dataset, preferences=prefs, seed=seed, warmup_steps=args.steps // 10, **OPPO_CPU
    ).learn(args.steps)
    emit("oppo", evaluate(env_id, model, handle, seed, args.eval_episodes), time.perf_counter() - t)
    t = time.perf_counter()
    reward_model, _ = train_reward_model(dataset, prefs.starts, prefs.length, prefs.labels, seed=seed)
    model = iql(relabel_rewards(dataset, reward_model), seed).learn(args.steps)
    emit("pbrl_iql", evaluate(env_id, model, handle, seed, args.eval_episodes), time.perf_counter() - t)
    t = time.perf_counter()
    model = iql(dataset, seed).learn(args.steps)
    emit(
        "iql_true_reward", evaluate(env_id, model, handle, seed, args.eval_episodes), time.perf_counter() - t
    )


def part_o2o(env_id: str, quality: str, seed: int, args: argparse.Namespace, emit: Any) -> None:
    import gymnasium as gym

    from rlsuite.agents.offline import FamO2O, return_range_scale
    from rlsuite.agents.offline.online import finetune_online

    dataset, handle = load(env_id, quality)
    for method in ("famo2o", "iql"):
        t = time.perf_counter()
        if method == "famo2o":
            model = FamO2O("MlpPolicy", dataset, seed=seed, reward_scale=return_range_scale(dataset))
        else:
            model = iql(dataset, seed, actor_lr_schedule="constant")  # no schedule to run out online
        model.learn(args.steps)
        emit(
            method,
            evaluate(env_id, model, handle, seed, args.eval_episodes),
            time.perf_counter() - t,
            "offline",
        )
        t = time.perf_counter()
        env = gym.make(env_id)
        env.reset(seed=EVAL_SEED - 1000 * (seed + 1))  # the online phase's own episodes
        if method == "famo2o":
            model.finetune(args.online_steps, env=env)
        else:
            finetune_online(model, env, args.online_steps)
        emit(
            method,
            evaluate(env_id, model, handle, seed, args.eval_episodes),
            time.perf_counter() - t,
            "online",
        )


PARTS = {"iql": part_iql, "preferences": part_preferences, "o2o": part_o2o}


def run(part: str, env_id: str, quality: str, seed: int, args: argparse.Namespace, command: str) -> None:
    import torch

    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []

    def emit(method: str, result: dict[str, float], wall: float, stage: str = "offline") -> None:
        row = dict(
            part=part,
            env=env_id,
            quality=quality,
            method=method,
            seed=seed,
            **result,
            gradient_steps=args.steps,
            online_steps=args.online_steps if stage == "online" else 0,
            stage=stage,
            wall_s=round(wall, 1),
            command=command,
        )
        rows.append(row)
        print(
            f"{part:<11} {env_id:<15} {quality:<14} {method:<16} {stage:<7} seed {seed}  "
            f"score {result['score']:7.1f}  return {result['return_mean']:8.1f}  {wall:7.1f} s",
            flush=True,
        )

    PARTS[part](env_id, quality, seed, args, emit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    append_csv(RESULTS / "offline_rl.csv", rows, FIELDS)


def summary() -> None:
    """Per part, the mean +- sd of every method's score over seeds, every seed listed, and a plot."""
    with (RESULTS / "offline_rl.csv").open() as f:
        rows = list(csv.DictReader(f))
    groups: dict[tuple[str, str, str, str, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["part"], r["env"], r["quality"], r["method"], r["stage"]), []).append(
            float(r["score"])
        )
    print("| part | dataset | method | stage | score per seed | mean ± sd |")
    print("|---|---|---|---|---|---|")
    for (part, env, quality, method, stage), scores in groups.items():
        sd = np.std(scores, ddof=1) if len(scores) > 1 else float("nan")
        print(
            f"| {part} | {env} {quality} | {method} | {stage} | {', '.join(f'{s:.1f}' for s in scores)} | "
            f"{np.mean(scores):.1f} ± {sd:.1f} |"
        )
    plot(groups)


def plot(groups: dict[tuple[str, str, str, str, str], list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = list(dict.fromkeys(k[0] for k in groups))
    fig, axes = plt.subplots(1, len(parts), figsize=(6 * len(parts), 4), squeeze=False)
    for ax, part in zip(axes[0], parts, strict=True):
        keys = [k for k in groups if k[0] == part]
        datasets = list(dict.fromkeys((k[1], k[2]) for k in keys))
        methods = list(dict.fromkeys((k[3], k[4]) for k in keys))
        width = 0.8 / max(1, len(methods))
        for j, (method, stage) in enumerate(methods):
            means, sds, xs = [], [], []
            for i, (env, quality) in enumerate(datasets):
                scores = groups.get((part, env, quality, method, stage))
                if scores:
                    xs.append(i + j * width)
                    means.append(np.mean(scores))
                    sds.append(np.std(scores))
            label = method if part != "o2o" else f"{method} ({stage})"
            ax.bar(xs, means, width, yerr=sds, label=label, capsize=2)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(datasets))])
        ax.set_xticklabels([f"{e.split('-')[0]}\n{q}" for e, q in datasets], fontsize=8)
        ax.set_ylabel("normalised score")
        ax.set_title(part)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, RESULTS / "offline_rl.png", dpi=120)


def main(argv: list[str] | None = None) -> None:
    from rlsuite.envs.datasets import MUJOCO_DATASET_ENVS, QUALITIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=list(PARTS), default="iql")
    parser.add_argument("--envs", nargs="+", default=["Hopper-v5"], choices=list(MUJOCO_DATASET_ENVS))
    parser.add_argument("--qualities", nargs="+", default=["medium", "medium-replay", "medium-expert"],
                        choices=list(QUALITIES))  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=30_000, help="offline gradient steps per method")
    parser.add_argument("--online-steps", type=int, default=30_000, help="o2o: online env steps")
    parser.add_argument("--pairs", type=int, default=2000, help="preferences: labelled segment pairs")
    parser.add_argument("--segment", type=int, default=25, help="preferences: steps per segment")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    parser.add_argument("--root", type=Path, default=None, help="Minari root (default: Minari's)")
    parser.add_argument("--summary", action="store_true", help="only print the tables and redraw the plot")
    args = parser.parse_args(argv)
    global RESULTS, ROOT
    RESULTS, ROOT = args.out or RESULTS, args.root
    if args.summary:
        summary()
        return
    command = "python benchmarks/offline_rl.py " + " ".join(argv if argv is not None else sys.argv[1:])
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # peer_venv beside this file
    for env_id in args.envs:
        for quality in args.qualities:
            for seed in args.seeds:
                run(args.part, env_id, quality, seed, args, command)


if __name__ == "__main__":
    main()
