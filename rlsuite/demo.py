"""The main job (``make demo`` / ``rlsuite demo``): every available policy on ``InvMgmt-v0``.

Runs each policy on the same demand traces (common random numbers: one vector env, copy i
seeded with ``seed + i``), prints a KPI table with 95% confidence intervals, and writes
``kpis.csv`` and ``demo.png`` (cumulative profit and cost decomposition) to ``--out``.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlsuite.progress import format_table, progress


def _policies(env: Any) -> list[Any]:
    from rlsuite.baselines import BaseStockPolicy, ConstantOrderPolicy, RandomPolicy

    return [
        ConstantOrderPolicy(env, 0.0),
        ConstantOrderPolicy(env, 20.0),
        RandomPolicy(env, high=40.0, seed=0),
        BaseStockPolicy.heuristic(env),
    ]


def rollout(env: Any, policy: Any, seed: int) -> dict[str, np.ndarray]:
    """One episode of ``policy`` on every copy of a vector env: rewards ``[T, B]``, costs ``[T, B, 7]``."""
    obs, _ = env.reset(seed=seed)
    rewards, costs, demand, sold = [], [], [], []
    for _ in range(env.num_periods):
        action, _ = policy.predict(obs)
        obs, reward, _, _, info = env.step(action)
        rewards.append(reward)
        costs.append(info["costs"])
        demand.append(info["demand"].sum(1))
        sold.append(info["sold"].sum(1))
    return {
        "rewards": np.array(rewards),
        "costs": np.array(costs),
        "demand": np.array(demand),
        "sold": np.array(sold),
    }


def kpis(name: str, res: dict[str, np.ndarray]) -> dict[str, Any]:
    from rlsuite.envs.inventory import COST_NAMES

    profit = res["rewards"].sum(0)
    n = profit.size
    ci = 1.96 * profit.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    row: dict[str, Any] = {"policy": name, "profit": float(profit.mean()), "ci95": float(ci)}
    row["fill_rate"] = float(res["sold"].sum() / max(res["demand"].sum(), 1e-12))
    for j, c in enumerate(COST_NAMES):
        row[c] = float(res["costs"][:, :, j].sum(0).mean())
    return row


def run_demo(
    env_id: str = "InvMgmt-v0",
    episodes: int = 100,
    seed: int = 0,
    out: str | Path = "demo_output",
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    import gymnasium as gym
    import torch

    import rlsuite  # noqa: F401  (registers the ids)

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make_vec(env_id, num_envs=episodes)
    print(
        f"rlsuite demo: {env_id}, {episodes} episodes of {env.num_periods} periods per policy, "
        f"seeds {seed}..{seed + episodes - 1}"
    )
    t0 = time.perf_counter()
    results = {}
    policies = _policies(env)
    for policy in progress(policies, total=len(policies), desc="policies", enable=show_progress):
        results[policy.name] = rollout(env, policy, seed)
    elapsed = time.perf_counter() - t0
    rows = [kpis(name, res) for name, res in results.items()]
    rows.sort(key=lambda r: -r["profit"])
    cols = [
        "policy",
        "profit",
        "ci95",
        "fill_rate",
        "revenue",
        "procurement",
        "holding",
        "pipeline_holding",
        "penalty",
    ]
    print(format_table(rows, cols))
    steps = episodes * env.num_periods * len(results)
    print(f"{steps} env-steps in {elapsed:.2f} s ({steps / elapsed:,.0f} steps/s, batched core)")
    with (out / "kpis.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    _plot(results, rows, out / "demo.png", env_id)
    print(f"wrote {out / 'kpis.csv'} and {out / 'demo.png'}")
    return rows


def _plot(
    results: dict[str, dict[str, np.ndarray]], rows: list[dict[str, Any]], path: Path, env_id: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlsuite.envs.inventory import COST_NAMES

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, res in results.items():
        cum = res["rewards"].cumsum(0)
        mean, sd = cum.mean(1), cum.std(1)
        t = np.arange(1, cum.shape[0] + 1)
        ax1.plot(t, mean, label=name)
        ax1.fill_between(t, mean - sd, mean + sd, alpha=0.2)
    ax1.set(xlabel="period", ylabel="cumulative profit", title=f"{env_id}: cumulative profit (mean ± sd)")
    ax1.legend(fontsize=8)
    names = [r["policy"] for r in rows]
    bottom = np.zeros(len(rows))
    for c in COST_NAMES[1:]:
        vals = np.array([r[c] for r in rows])
        ax2.bar(names, vals, bottom=bottom, label=c)
        bottom += vals
    ax2.scatter(names, [r["revenue"] for r in rows], color="k", marker="_", s=400, label="revenue", zorder=3)
    ax2.set(ylabel="per episode", title="costs (stacked) vs revenue")
    ax2.tick_params(axis="x", labelrotation=20)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
