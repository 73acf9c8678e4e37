"""C-MORL against linear scalarisation and the morl-baselines peer at equal environment steps, on
multi-objective envs.

For each env and seed: C-MORL (stage 1: one MOPPO per preference of the simplex grid; stage 2: the
least crowded members extended along every objective), linear scalarisation (the same preference
grid, every policy trained longer so that the total env steps match C-MORL's) and, with
``--methods pgmorl`` (or ``capql``, ``gpi_ls``), morl-baselines 1.3.0 in its own virtual environment
(``benchmarks/peer_venv.py``, built on first use; ``benchmarks/peers/morl_baselines_front.py``) at
the env steps of C-MORL's row for the same env and seed. Each population is evaluated greedily
(undiscounted vector returns on ``eval_seeds``, the same code on both sides) and scored by
hypervolume (the env's reference point below), expected utility (100 evenly spaced weights in 2-D),
sparsity and cardinality of its Pareto front, and, on Deep Sea Treasure, the number of the 10 true
Pareto points found. ``--workers 1 2`` also times the C-MORL population on Ray with 1 and 2 workers.

    python benchmarks/cmorl.py                                      # every env below, seeds 0 1 2
    python benchmarks/cmorl.py --envs mo-hopper-2obj-v5 mo-halfcheetah-v5 mo-hopper-v5 --seeds 0 1 2
    python benchmarks/cmorl.py --envs mo-hopper-2obj-v5 MOInvMgmt-v0 --methods pgmorl   # the peer
    python benchmarks/cmorl.py --envs DeepSeaTreasure-Concave-v0 --seeds 0 --workers 1 2
    python benchmarks/cmorl.py --summary                            # table, HV ratios, fronts plot

Writes ``benchmarks/results/cmorl.csv`` (one row per env, method and seed, with the command),
``cmorl_fronts.csv`` (every front point) and ``cmorl.png``.
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
import torch

from rlsuite.files import append_csv, save_figure

RESULTS = Path(__file__).resolve().parent / "results"
PEER_SCRIPT = Path(__file__).resolve().parent / "peers" / "morl_baselines_front.py"
#: morl-baselines algorithms run as peers (``--methods``), each in the peer's own venv.
PEER_ALGOS = ("pgmorl", "capql", "gpi_ls")
FIELDS = [
    "env",
    "method",
    "seed",
    "hypervolume",
    "expected_utility",
    "sparsity",
    "cardinality",
    "true_points",
    "policies",
    "env_steps",
    "workers",
    "wall_s",
    "command",
]
FRONT_FIELDS = ["env", "method", "seed", "point"]
#: Per env: reference point, the C-MORL budget (steps per stage-1 policy and per extension,
#: divisions of the preference grid, members selected, rounds) and MOPPO's settings.
ENVS: dict[str, dict[str, Any]] = {
    "DeepSeaTreasure-v0": dict(
        ref=[0.0, -25.0],
        stage1=4096,
        extension=2048,
        divisions=4,
        n_select=2,
        rounds=2,
        ppo={"n_steps": 256, "batch_size": 64, "learning_rate": 1e-3, "gamma": 0.99},
        eval_seeds=[0],
    ),
    "DeepSeaTreasure-Concave-v0": dict(
        ref=[0.0, -25.0],
        stage1=4096,
        extension=2048,
        divisions=4,
        n_select=2,
        rounds=2,
        ppo={"n_steps": 256, "batch_size": 64, "learning_rate": 1e-3, "gamma": 0.99},
        eval_seeds=[0],
    ),
    "MOInvMgmt-v0": dict(
        ref=[-50.0, 0.0, -100.0],
        stage1=20_480,
        extension=10_240,
        divisions=2,
        n_select=3,
        rounds=1,
        ppo={"n_steps": 1024, "batch_size": 128, "learning_rate": 3e-4, "gamma": 0.99, "n_envs": 4},
        eval_seeds=[0, 1, 2],
    ),
    # MuJoCo (MO-Gymnasium v5): 200k env steps per population, morl-baselines' recorded budget for
    # mo-hopper / mo-halfcheetah (the C-MORL paper: 1.5M on hopper-2d, 2.0M on hopper-3d), split as
    # the paper splits it (about 2/3 to stage 1); reference points as the paper and morl-baselines
    # (-100 per objective). PPO as the paper's code (lr 3e-4, gamma 0.995, 10 epochs, clip 0.2,
    # observation normalisation, 4 envs) with a 2048-step rollout in 16 minibatches, scaled down from
    # 8192 in 32 so that a 20k-step policy still makes ten updates.
    **{
        env_id: dict(
            ref=[-100.0] * k,
            stage1=20_480,
            extension=10_240 if k == 2 else 8_192,
            divisions=5 if k == 2 else 2,
            n_select=4 if k == 2 else 3,
            rounds=1,
            ppo={
                "n_steps": 512,
                "n_envs": 4,
                "batch_size": 128,
                "learning_rate": 3e-4,
                "gamma": 0.995,
                "normalize_observation": True,
            },
            eval_seeds=[0, 1, 2, 3, 4],
        )
        for env_id, k in (("mo-hopper-2obj-v5", 2), ("mo-halfcheetah-v5", 2), ("mo-hopper-v5", 3))
    },
}


def dst_true_points(env_id: str, returns: np.ndarray) -> int:
    from rlsuite.pareto import deep_sea_treasure_front

    front = deep_sea_treasure_front("concave" if "Concave" in env_id else "convex")
    return int(sum(any(np.allclose(p, q, atol=1e-4) for q in returns) for p in front))


def score(env_id: str, returns: np.ndarray) -> dict[str, Any]:
    from rlsuite.pareto import cardinality, expected_utility, hypervolume, pareto_front, sparsity

    front = pareto_front(returns)
    return dict(
        hypervolume=hypervolume(front, ENVS[env_id]["ref"]),
        expected_utility=expected_utility(front),
        sparsity=sparsity(front),
        cardinality=cardinality(front),
        true_points=dst_true_points(env_id, front) if env_id.startswith("DeepSea") else "",
    )


def record(
    env_id: str,
    method: str,
    seed: int,
    returns: np.ndarray,
    policies: int,
    steps: int,
    n_workers: int,
    wall: float,
    command: str,
) -> None:
    """Score one population and append its row (``cmorl.csv``) and points (``cmorl_fronts.csv``)."""
    res = score(env_id, returns)
    row = dict(
        env=env_id,
        method=method,
        seed=seed,
        **res,
        policies=policies,
        env_steps=steps,
        workers=n_workers,
        wall_s=round(wall, 1),
        command=command,
    )
    fronts = [
        dict(env=env_id, method=method, seed=seed, point=" ".join(f"{x:.4g}" for x in p)) for p in returns
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    append_csv(RESULTS / "cmorl.csv", [row], FIELDS)
    append_csv(RESULTS / "cmorl_fronts.csv", fronts, FRONT_FIELDS)
    print(
        f"{env_id:<27} {method:<8} seed {seed}  HV {res['hypervolume']:10.4g}  "
        f"EU {res['expected_utility']:8.4g}  "
        f"front {res['cardinality']:2d}  true {res['true_points']!s:>2}  steps {steps:>8}  "
        f"workers {n_workers}  {wall:6.1f} s",
        flush=True,
    )


def run(env_id: str, seed: int, workers: list[int], methods: list[str], command: str) -> None:
    """C-MORL (with each count of Ray ``workers``), then linear scalarisation at C-MORL's env steps."""
    from rlsuite.agents.mo import CMORL

    cfg = ENVS[env_id]
    common = dict(
        weight_divisions=cfg["divisions"],
        ppo_kwargs=cfg["ppo"],
        eval_seeds=cfg["eval_seeds"],
        seed=1000 * seed,
    )
    budget = None
    if "cmorl" in methods:
        for n_workers in workers:
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                cmorl = CMORL(
                    env_id,
                    stage1_timesteps=cfg["stage1"],
                    extension_timesteps=cfg["extension"],
                    n_select=cfg["n_select"],
                    extension_rounds=cfg["rounds"],
                    save_dir=tmp,
                    num_workers=n_workers,
                    backend="ray" if n_workers else "local",
                    **common,
                )
                cmorl.learn()
                wall = time.perf_counter() - t
                every = np.array([h["returns"] for h in cmorl.history])
                record(
                    env_id, "cmorl", seed, every, len(every), cmorl.total_timesteps, n_workers, wall, command
                )
                budget = cmorl.total_timesteps
    budget = budget or cmorl_budget(env_id, seed)
    if "linear" in methods:
        from rlsuite.pareto import simplex_weights

        n_pref = len(simplex_weights(len(cfg["ref"]), cfg["divisions"]))
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            linear = CMORL(
                env_id,
                stage1_timesteps=budget // n_pref,
                extension_timesteps=0,
                extension_rounds=0,
                save_dir=tmp,
                num_workers=0,
                backend="local",
                **common,
            )
            linear.learn()
            every = np.array([h["returns"] for h in linear.history])
            wall = time.perf_counter() - t
            record(env_id, "linear", seed, every, len(every), linear.total_timesteps, 0, wall, command)
    for algo in (m for m in methods if m in PEER_ALGOS):
        run_peer(env_id, seed, algo, budget, command)


def cmorl_budget(env_id: str, seed: int) -> int:
    """The env steps of this env and seed's C-MORL row in ``cmorl.csv`` (the peers' budget); without
    one, the nominal budget: every stage-1 policy and ``n_select`` extensions per objective."""
    path = RESULTS / "cmorl.csv"
    if path.exists():
        with path.open() as f:
            for r in csv.DictReader(f):
                if r["env"] == env_id and r["method"] == "cmorl" and int(r["seed"]) == seed:
                    return int(r["env_steps"])
    from rlsuite.pareto import simplex_weights

    cfg = ENVS[env_id]
    k = len(cfg["ref"])
    n_pref = len(simplex_weights(k, cfg["divisions"]))
    return int(cfg["stage1"] * n_pref + cfg["extension"] * cfg["n_select"] * k * cfg["rounds"])


def run_peer(env_id: str, seed: int, algo: str, budget: int, command: str) -> None:
    """A morl-baselines algorithm in its own venv (``benchmarks/peer_venv.py``) at ``budget`` env
    steps, its final population evaluated as C-MORL's (same eval seeds, undiscounted)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peer_venv import PEERS, ensure_venv, run_in_venv

    cfg = ENVS[env_id]
    ensure_venv("morl-baselines", PEERS["morl-baselines"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "front.json"
        t = time.perf_counter()
        run_in_venv(
            "morl-baselines",
            PEER_SCRIPT,
            ["--algo", algo, "--env", env_id, "--steps", budget, "--seed", 1000 * seed,
             "--eval-seeds", *cfg["eval_seeds"], "--ref", *cfg["ref"], "--out", out],
        )  # fmt: skip
        peer = json.loads(out.read_text())
    points = np.asarray(peer["points"], dtype=np.float64).reshape(-1, len(cfg["ref"]))
    record(
        env_id, algo, seed, points, len(points), int(peer["env_steps"]), 0, time.perf_counter() - t, command
    )


def summary() -> None:
    with (RESULTS / "cmorl.csv").open() as f:
        rows = list(csv.DictReader(f))
    print("| env | method | HV per seed | HV mean ± sd | EU mean | front size | true points | env steps |")
    print("|---|---|---|---|---|---|---|---|")
    for env in dict.fromkeys(r["env"] for r in rows):
        for method in ("cmorl", "linear", *PEER_ALGOS):
            rs = [r for r in rows if r["env"] == env and r["method"] == method and r["workers"] in ("0", "1")]
            rs = [r for r in rs if method == "linear" or r["workers"] == min(x["workers"] for x in rs)]
            if not rs:
                continue
            hv = np.array([float(r["hypervolume"]) for r in rs])
            sd = hv.std(ddof=1) if len(hv) > 1 else float("nan")
            true = ", ".join(r["true_points"] for r in rs) if rs[0]["true_points"] else ""
            print(
                f"| {env} | {method} | {', '.join(f'{x:.4g}' for x in hv)} | {hv.mean():.4g} ± {sd:.2g} | "
                f"{np.mean([float(r['expected_utility']) for r in rs]):.4g} | "
                f"{np.mean([int(r['cardinality']) for r in rs]):.1f} | {true} | {rs[0]['env_steps']} |"
            )
    print("\nC-MORL's mean HV over the others' (same env, seeds present in both):")
    for env in dict.fromkeys(r["env"] for r in rows):
        hv = {
            m: {int(r["seed"]): float(r["hypervolume"]) for r in rows if r["env"] == env and r["method"] == m}
            for m in ("cmorl", "linear", *PEER_ALGOS)
        }
        ratios = []
        for other in ("linear", *PEER_ALGOS):
            common = sorted(set(hv["cmorl"]) & set(hv[other]))
            if common and np.mean([hv[other][k] for k in common]) > 0:
                ratio = np.mean([hv["cmorl"][k] for k in common]) / np.mean([hv[other][k] for k in common])
                ratios.append(f"/{other} {ratio:.2f} ({len(common)} seeds)")
        print(f"{env}: " + ", ".join(ratios))
    walls = [r for r in rows if r["method"] == "cmorl"]
    for env in dict.fromkeys(r["env"] for r in walls):
        by = {r["workers"]: float(r["wall_s"]) for r in walls if r["env"] == env}
        if len(by) > 1:
            print(f"{env}: C-MORL wall time by Ray workers {by}")
    plot()


def plot() -> None:
    """Per env, each method's Pareto front pooled over seeds (first two objectives), and on Deep Sea
    Treasure the true front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlsuite.pareto import deep_sea_treasure_front, pareto_front

    with (RESULTS / "cmorl_fronts.csv").open() as f:
        points = list(csv.DictReader(f))
    envs = [e for e in dict.fromkeys(r["env"] for r in points) if e in ENVS]
    fig, axes = plt.subplots(1, max(1, len(envs)), figsize=(4.5 * max(1, len(envs)), 3.8), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=False):
        if env.startswith("DeepSea"):
            true = deep_sea_treasure_front("concave" if "Concave" in env else "convex")
            ax.plot(true[:, 0], true[:, 1], "k:", lw=1, label="true front")
        for method, marker in (
            ("cmorl", "o"),
            ("linear", "x"),
            ("pgmorl", "^"),
            ("capql", "s"),
            ("gpi_ls", "d"),
        ):
            rows = [r for r in points if r["env"] == env and r["method"] == method]
            if rows:
                pts = pareto_front(np.array([[float(x) for x in r["point"].split()] for r in rows]))
                ax.scatter(pts[:, 0], pts[:, 1], marker=marker, label=f"{method} (all seeds)", alpha=0.8)
        ax.set_title(env)
        ax.set_xlabel("objective 0")
        ax.set_ylabel("objective 1")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, RESULTS / "cmorl.png", dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0], help="C-MORL runs: 0 = in process, n = n Ray workers"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["cmorl", "linear"],
        choices=["cmorl", "linear", *PEER_ALGOS],
        help="what to run; a peer alone uses the env steps of C-MORL's row for the same env and seed",
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    parser.add_argument("--summary", action="store_true", help="only print the table and redraw the plot")
    args = parser.parse_args(argv)
    global RESULTS
    RESULTS = args.out or RESULTS
    if args.summary:
        summary()
        return
    torch.set_num_threads(1)
    import rlsuite  # noqa: F401

    command = "python benchmarks/cmorl.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for env_id in args.envs:
        for seed in args.seeds:
            run(env_id, seed, args.workers, args.methods, command)


if __name__ == "__main__":
    main()
