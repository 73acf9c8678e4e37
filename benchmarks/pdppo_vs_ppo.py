"""PDPPO vs PPO with identical budgets and hyperparameters (issue 8).

Settings: ``LotSizing-v0`` (15 items x 5 machines, the paper's main instance), ``LotSizing-Small-v0``
(3 x 2, with the perfect-information MILP bound per test trace) and ``InvMgmt-v0`` (gym-invmgmt's
divergent network). For each setting and seed both agents get the same configuration (below) and the
same number of environment steps; PDPPO differs only by its post-decision critic and advantage.

Outputs (``benchmarks/results/``):

* ``pdppo_vs_ppo.csv``: one row per (setting, method, seed): final test return (mean over the test
  episodes, deterministic actions, common test seeds), training time, steps; plus the MILP rows;
* ``pdppo_vs_ppo_curves.csv``: the training curves (true episode returns with their step);
* ``pdppo_vs_ppo.png``: learning curves (mean over seeds, band = +-1 sd) and final returns with 95% CIs.

    python benchmarks/pdppo_vs_ppo.py                         # everything (about 45 minutes on 2 CPUs)
    python benchmarks/pdppo_vs_ppo.py --settings small --seeds 2 --steps-scale 0.1   # a quick look
    python benchmarks/pdppo_vs_ppo.py --settings lotsizing_15x5 --methods ppo_mc pdppo_mc  # MC returns
    python benchmarks/pdppo_vs_ppo.py --plot                  # redraw from the CSVs
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rlsuite.evaluation import mean_ci
from rlsuite.files import append_csv, save_figure

RESULTS = Path(__file__).resolve().parent / "results"
OUT = RESULTS / "pdppo_vs_ppo.csv"
CURVES = RESULTS / "pdppo_vs_ppo_curves.csv"
PLOT = RESULTS / "pdppo_vs_ppo.png"
TEST_SEEDS = range(100_000, 100_050)

SETTINGS: dict[str, dict[str, Any]] = {
    "lotsizing_15x5": {"env": "LotSizing-v0", "steps": 1_000_000},
    # The hindsight MILP is exact in seconds at T = 30 but not at T = 100 (see lotsizing_milp), so the
    # small instance runs with a 30-period horizon for training, testing and the bound alike.
    "small": {"env": "LotSizing-Small-v0", "kwargs": {"horizon": 30}, "steps": 300_000, "milp": True},
    "invmgmt_v0": {"env": "InvMgmt-v0", "kwargs": {"max_order": 60.0}, "steps": 500_000},
}
#: One configuration for both agents (and every setting).
CONFIG: dict[str, Any] = dict(
    n_envs=8,
    n_steps=256,
    batch_size=512,
    n_epochs=10,
    learning_rate=3e-4,
    ent_coef=0.01,
    gamma=0.99,
    gae_lambda=0.95,
    normalize_observation=True,
    normalize_reward=True,
)


def _env(setting: str) -> Any:
    import gymnasium as gym

    import rlsuite  # noqa: F401

    env_id, kwargs = SETTINGS[setting]["env"], SETTINGS[setting].get("kwargs", {})
    if env_id.startswith("InvMgmt"):
        # orders in [0, 60], rescaled to [-1, 1] (the README's recipe for PPO on InvMgmt-v0)
        venv = gym.make_vec(env_id, num_envs=CONFIG["n_envs"], **kwargs)
        return gym.wrappers.vector.RescaleAction(venv, -1.0, 1.0)
    return gym.make_vec(env_id, num_envs=CONFIG["n_envs"], vectorization_mode="sync", **kwargs)


def _to_env_action(env_id: str, a: np.ndarray) -> np.ndarray:
    if env_id.startswith("InvMgmt"):
        return (np.clip(a, -1.0, 1.0) + 1.0) / 2.0 * 60.0
    return a


def test_returns(model: Any, setting: str) -> np.ndarray:
    """Deterministic episodes on the common test seeds: the undiscounted return of each."""
    import gymnasium as gym

    from rlsuite.evaluation import run_episodes

    env_id = SETTINGS[setting]["env"]
    env = gym.make(env_id, **SETTINGS[setting].get("kwargs", {}))

    def act(obs: np.ndarray) -> np.ndarray:
        return _to_env_action(env_id, model.predict(obs, deterministic=True)[0])

    return np.array([e.total_reward for e in run_episodes(env, act, TEST_SEEDS)])


def run_one(setting: str, method: str, seed: int, scale: float) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from rlsuite.agents import PDPPO, PPO, EpisodeRecorder

    cfg = SETTINGS[setting]
    steps = int(cfg["steps"] * scale)
    algo = {"ppo": PPO, "pdppo": PDPPO}[method.removesuffix("_mc")]
    extra = LEARNERS[method]
    rec = EpisodeRecorder()
    t = time.perf_counter()
    kwargs = {**{k: v for k, v in CONFIG.items() if k != "n_envs"}, **extra}
    model = algo("MlpPolicy", _env(setting), seed=seed, **kwargs)
    model.learn(steps, callback=rec)
    train_s = time.perf_counter() - t
    returns = test_returns(model, setting)
    return {
        "setting": setting,
        "env": cfg["env"],
        "method": method,
        "seed": seed,
        "steps": steps,
        "test_return": float(returns.mean()),
        "test_return_sd": float(returns.std(ddof=1)),
        "train_s": round(train_s, 1),
        "curve_t": rec.timesteps,
        "curve_r": rec.returns,
    }


def milp_rows(setting: str) -> list[dict[str, Any]]:
    """The hindsight (perfect-information) optimum on each test seed's demand trace."""
    from rlsuite.baselines.lotsizing_milp import hindsight_bound

    env_id = SETTINGS[setting]["env"]
    t = time.perf_counter()
    res = hindsight_bound(
        env_id,
        n_traces=len(TEST_SEEDS),
        seed=TEST_SEEDS[0],
        horizon=SETTINGS[setting].get("kwargs", {}).get("horizon"),
        time_limit=120.0,
    )
    if not res.all_optimal:
        print("warning: some hindsight MILPs stopped before proving optimality", file=sys.stderr)
    return [
        {
            "setting": setting,
            "env": env_id,
            "method": "milp_hindsight",
            "seed": -1,
            "steps": 0,
            # the dual bound: equal to the optimum when every MILP is solved, still valid when not
            "test_return": -float(res.lower_mean),
            "test_return_sd": float(np.std(res.costs, ddof=1)),
            "train_s": round(time.perf_counter() - t, 1),
        }
    ]


def heuristic_rows(setting: str) -> list[dict[str, Any]]:
    """The scripted (s, S) cover rule, its grid searched on seeds 0-29, tested on the test seeds."""
    import gymnasium as gym

    from rlsuite.baselines.lotsizing_heuristic import LotSizingCoverPolicy
    from rlsuite.evaluation import run_episodes

    env_id, kwargs = SETTINGS[setting]["env"], SETTINGS[setting].get("kwargs", {})
    t = time.perf_counter()
    policy = LotSizingCoverPolicy.search(env_id, n_episodes=30, seed=0, **kwargs).policy
    env = gym.make(env_id, **kwargs)
    returns = np.array([e.total_reward for e in run_episodes(env, policy, TEST_SEEDS)])
    return [
        {
            "setting": setting,
            "env": env_id,
            "method": "cover_heuristic",
            "seed": -1,
            "steps": 0,
            "test_return": float(returns.mean()),
            "test_return_sd": float(returns.std(ddof=1)),
            "train_s": round(time.perf_counter() - t, 1),
        }
    ]


#: The learners: the default pair uses GAE (lambda 0.95); the ``_mc`` pair Monte-Carlo returns (the
#: paper's PDPPO; for PPO, lambda = 1).
LEARNERS: dict[str, dict[str, Any]] = {
    "ppo": {},
    "pdppo": {},
    "ppo_mc": {"gae_lambda": 1.0},
    "pdppo_mc": {"advantage": "mc"},
}
METHODS = (*LEARNERS, "cover_heuristic", "milp_hindsight")
COLORS = {"ppo": "C0", "pdppo": "C1", "ppo_mc": "C2", "pdppo_mc": "C3", "cover_heuristic": "C4"}
FIELDS = ["setting", "env", "method", "seed", "steps", "test_return", "test_return_sd", "train_s", "command"]
CURVE_BINS = 200


def binned_curve(timesteps: list[int], returns: list[float], steps: int) -> list[tuple[int, float, int]]:
    """``(bin end, mean return, episodes)`` of the episodes ending in each of ``CURVE_BINS`` equal
    slices of the budget (empty slices are left out): a training curve small enough to commit."""
    t, r = np.asarray(timesteps, dtype=np.float64), np.asarray(returns, dtype=np.float64)
    edges = np.linspace(0, max(steps, 1), CURVE_BINS + 1)
    idx = np.clip(np.searchsorted(edges, t, side="left") - 1, 0, CURVE_BINS - 1)
    out = []
    for b in np.unique(idx):
        sel = idx == b
        out.append((int(edges[b + 1]), float(r[sel].mean()), int(sel.sum())))
    return out


def _append(row: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    row.setdefault("command", " ".join(["python", "benchmarks/pdppo_vs_ppo.py", *sys.argv[1:]]))
    append_csv(OUT, [row], FIELDS, extrasaction="ignore")
    if "curve_t" in row:
        curve = [
            {
                "setting": row["setting"],
                "method": row["method"],
                "seed": row["seed"],
                "timestep": t,
                "return": f"{r:.4f}",
                "episodes": n,
            }
            for t, r, n in binned_curve(row["curve_t"], row["curve_r"], row["steps"])
        ]
        append_csv(CURVES, curve, ["setting", "method", "seed", "timestep", "return", "episodes"])


def _done() -> set[tuple[str, str, int]]:
    if not OUT.exists():
        return set()
    with OUT.open() as f:
        return {(r["setting"], r["method"], int(r["seed"])) for r in csv.DictReader(f)}


def summarize() -> list[dict[str, Any]]:
    with OUT.open() as f:
        rows = list(csv.DictReader(f))
    out = []
    for setting in SETTINGS:
        for method in METHODS:
            vals = np.array(
                [float(r["test_return"]) for r in rows if r["setting"] == setting and r["method"] == method]
            )
            if vals.size:
                out.append(
                    {
                        "setting": setting,
                        "method": method,
                        "seeds": int(vals.size) if method in LEARNERS else 0,
                        "test_return_mean": float(vals.mean()),
                        # NaN for a single value (the heuristic and MILP rows): no spread over seeds
                        "ci95_over_seeds": mean_ci(vals)[1],
                    }
                )
    return out


def plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlsuite.shaping import plot_learning_curves

    with CURVES.open() as f:
        curves = list(csv.DictReader(f))
    with OUT.open() as f:
        rows = list(csv.DictReader(f))
    summary = summarize()
    names = [s for s in SETTINGS if any(r["setting"] == s for r in curves)]
    fig, axes = plt.subplots(2, len(names), figsize=(6.0 * len(names), 8.0), squeeze=False)
    for j, setting in enumerate(names):
        runs: dict[str, list] = {}
        for method in LEARNERS:
            seeds = sorted(
                {int(r["seed"]) for r in curves if r["setting"] == setting and r["method"] == method}
            )
            if not seeds:
                continue
            runs[method.upper()] = [
                (
                    [
                        int(r["timestep"])
                        for r in curves
                        if r["setting"] == setting and r["method"] == method and int(r["seed"]) == s
                    ],
                    [
                        float(r["return"])
                        for r in curves
                        if r["setting"] == setting and r["method"] == method and int(r["seed"]) == s
                    ],
                )
                for s in seeds
            ]
        steps = max(int(r["steps"]) for r in rows if r["setting"] == setting)
        labels = {"cover_heuristic": "cover (s, S) rule, test", "milp_hindsight": "MILP hindsight, test"}
        ref = {
            labels[s["method"]]: s["test_return_mean"]
            for s in summary
            if s["setting"] == setting and s["method"] in labels
        }
        ax = plot_learning_curves(runs, steps, ax=axes[0, j], window=2, reference=ref)
        ax.set_title(f"{SETTINGS[setting]['env']}: training returns")
        ax.set_ylabel("training episode return (1% of the budget)")
        lo = [s for s in summary if s["setting"] == setting]
        ax2 = axes[1, j]
        # lot-sizing reports cost (= -return); InvMgmt-v0 rewards are profits
        sign, what = (1.0, "profit") if SETTINGS[setting]["env"].startswith("InvMgmt") else (-1.0, "cost")
        ax2.bar(
            [s["method"] for s in lo],
            [sign * s["test_return_mean"] for s in lo],
            yerr=[np.nan_to_num(s["ci95_over_seeds"]) for s in lo],
            color=[COLORS.get(s["method"], "gray") for s in lo],
            capsize=4,
        )
        ax2.set_title(f"final test {what} per episode (mean, 95% CI over seeds)", fontsize=10)
        ax2.set_ylabel(what)
        ax2.tick_params(axis="x", labelsize=8)
        for s in lo:
            value = sign * s["test_return_mean"]
            ax2.annotate(f"{value:.0f}", (s["method"], value), ha="center", va="bottom")
    fig.suptitle("PDPPO vs PPO, identical budgets and hyperparameters (`python benchmarks/pdppo_vs_ppo.py`)")
    fig.tight_layout()
    save_figure(fig, PLOT, dpi=110)
    print(f"wrote {PLOT}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--methods", nargs="+", default=["ppo", "pdppo"], choices=list(LEARNERS))
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every budget (quick looks)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--plot", action="store_true", help="only redraw the plot and print the summary")
    args = p.parse_args(argv)
    if not args.plot:
        done = _done()
        for setting in args.settings:
            if SETTINGS[setting].get("milp") and (setting, "milp_hindsight", -1) not in done:
                for row in milp_rows(setting):
                    _append(row)
                    print(row, flush=True)
            if (
                SETTINGS[setting]["env"].startswith("LotSizing")
                and (setting, "cover_heuristic", -1) not in done
            ):
                for row in heuristic_rows(setting):
                    _append(row)
                    print(row, flush=True)
        jobs = [
            (s, m, seed, args.steps_scale)
            for s in args.settings
            for seed in range(args.seeds)
            for m in args.methods
            if (s, m, seed) not in done
        ]
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for row in pool.map(run_one, *zip(*jobs, strict=True)) if jobs else []:
                _append(row)
                print({k: v for k, v in row.items() if not k.startswith("curve")}, flush=True)
    for row in summarize():
        print(row)
    plot()
    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))


if __name__ == "__main__":
    main()
