"""Every baseline on gym-invmgmt's ten seeds, with the hindsight oracle and each policy's gap to it.

Settings: ``InvMgmt-v0`` (divergent, backlog), ``InvMgmt-LostSales-v0``, ``InvMgmt-Serial-v0`` and
``InvMgmt-Serial-LostSales-v0``, T = 30, seeds [42, 123, 456, 789, 1011, 2022, 3033, 4044, 5055,
6066] (gym-invmgmt-paper's protocol). Searched policies are tuned on other seeds (1000-1063) and
only evaluated on these. gym-invmgmt-paper's published means for the same settings are written
next to ours for reference (``published`` column; their heuristics are its informed "-I" variants).

    python benchmarks/inventory_baselines.py

Writes ``benchmarks/results/inventory_baselines.csv`` (with the command) and ``.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rlsuite
from rlsuite.baselines import BaseStockPolicy, RollingHorizonLPPolicy, search_base_stock_levels
from rlsuite.baselines.evaluation import from_env
from rlsuite.files import save_figure, write_csv

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = [42, 123, 456, 789, 1011, 2022, 3033, 4044, 5055, 6066]
SETTINGS = ["InvMgmt-v0", "InvMgmt-LostSales-v0", "InvMgmt-Serial-v0", "InvMgmt-Serial-LostSales-v0"]
# gym-invmgmt-paper, results/benchmark_final_merged.csv (../shared/reference/inventory.md section 2.4).
PUBLISHED = {
    "InvMgmt-v0": {
        "oracle": 845.7,
        "newsvendor": 757.1,
        "(s,S)": 737.7,
        "DLP": 805.4,
        "PPO-MLP": 588.1,
        "MSSP-I": 835.0,
    },
    "InvMgmt-LostSales-v0": {
        "oracle": 842.0,
        "newsvendor": 744.0,
        "(s,S)": 734.0,
        "DLP": 756.5,
        "PPO-MLP": 581.9,
        "MSSP-I": 809.1,
    },
    "InvMgmt-Serial-v0": {
        "oracle": 1023.9,
        "newsvendor": 832.8,
        "(s,S)": 865.1,
        "DLP": 640.0,
        "PPO-MLP": 855.2,
        "MSSP-I": 1006.3,
    },
    "InvMgmt-Serial-LostSales-v0": {
        "oracle": 1023.8,
        "newsvendor": 856.9,
        "(s,S)": 864.1,
        "DLP": 729.9,
        "PPO-MLP": 869.1,
        "MSSP-I": 986.5,
    },
}


def run_setting(env_id: str, train_seeds: range) -> list[dict[str, Any]]:
    searched = {
        kind: search_base_stock_levels(env_id, kind, train_seeds=train_seeds, eval_seeds=range(3000, 3064))
        for kind in ("installation", "echelon", "capped")
    }
    policies = {
        "constant-20": from_env(lambda env: rlsuite.baselines.ConstantOrderPolicy(env, 20.0)),
        "newsvendor": from_env(BaseStockPolicy.newsvendor),
        "(s,S)": from_env(BaseStockPolicy.s_S),
        "DLP": from_env(RollingHorizonLPPolicy),
        "base-stock (searched)": from_env(searched["installation"].policy),
        "echelon base-stock (searched)": from_env(searched["echelon"].policy),
        "capped base-stock (searched)": from_env(searched["capped"].policy),
    }
    result = rlsuite.evaluate(policies, env_id, seeds=SEEDS, oracle=True)
    rows = []
    summary = result.summary()
    oracle = result.episodes[next(iter(policies))]["oracle_profit"]
    o_mean, o_ci = float(oracle.mean()), float(summary[0]["oracle_profit_ci95"])
    rows.append(
        {
            "setting": env_id,
            "policy": "oracle (hindsight LP)",
            "profit": o_mean,
            "profit_ci95": o_ci,
            "profit_sd": float(oracle.std()),
            "fill_rate": float("nan"),
            "opt_gap_pct": 0.0,
            "opt_gap_pct_ci95": 0.0,
            "published": PUBLISHED[env_id]["oracle"],
            "levels": "",
        }
    )
    published_name = {"newsvendor": "newsvendor", "(s,S)": "(s,S)", "DLP": "DLP"}
    for r in summary:
        name = r["policy"]
        kind = {
            "base-stock (searched)": "installation",
            "echelon base-stock (searched)": "echelon",
            "capped base-stock (searched)": "capped",
        }.get(name)
        levels = ""
        if kind:
            s = searched[kind]
            levels = " ".join(f"{v:.1f}" for v in s.levels)
            if s.caps is not None:
                levels += " | caps " + " ".join(f"{v:.1f}" for v in s.caps)
        rows.append(
            {
                "setting": env_id,
                "policy": name,
                "profit": r["profit"],
                "profit_ci95": r["profit_ci95"],
                "profit_sd": float(result.episodes[name]["profit"].std()),
                "fill_rate": r["fill_rate"],
                "opt_gap_pct": r["opt_gap_pct"],
                "opt_gap_pct_ci95": r["opt_gap_pct_ci95"],
                "published": PUBLISHED[env_id].get(published_name.get(name, ""), float("nan")),
                "levels": levels,
            }
        )
    for extra in ("PPO-MLP", "MSSP-I"):
        rows.append(
            {
                "setting": env_id,
                "policy": f"{extra} (published, gym-invmgmt-paper)",
                "profit": float("nan"),
                "profit_ci95": float("nan"),
                "profit_sd": float("nan"),
                "fill_rate": float("nan"),
                "opt_gap_pct": float("nan"),
                "opt_gap_pct_ci95": float("nan"),
                "published": PUBLISHED[env_id][extra],
                "levels": "",
            }
        )
    return rows


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [r for r in rows if np.isfinite(r["profit"])]
    settings = list(dict.fromkeys(r["setting"] for r in ours))
    policies = list(dict.fromkeys(r["policy"] for r in ours))
    fig, ax = plt.subplots(figsize=(13, 5))
    width = 0.8 / len(policies)
    for k, pol in enumerate(policies):
        vals = [next(r for r in ours if r["setting"] == s and r["policy"] == pol) for s in settings]
        x = np.arange(len(settings)) + (k - len(policies) / 2 + 0.5) * width
        ax.bar(
            x, [v["profit"] for v in vals], width, yerr=[v["profit_ci95"] for v in vals], capsize=2, label=pol
        )
    ax.set_xticks(np.arange(len(settings)), settings)
    ax.set_ylabel("episode profit (mean, 95% CI, 10 seeds)")
    ax.set_ylim(bottom=min(0, min(r["profit"] for r in ours) - 50))
    ax.set_title("InvMgmt baselines on gym-invmgmt's ten seeds (T = 30)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=SETTINGS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    command = "python " + " ".join(
        [os.path.relpath(__file__, Path.cwd()), *(argv if argv is not None else sys.argv[1:])]
    )
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for env_id in args.settings:
        rows += run_setting(env_id, range(1000, 1064))
        print(f"{env_id}: done ({time.perf_counter() - t0:.0f} s)")
    for r in rows:
        r["command"] = command
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "inventory_baselines.csv", rows, list(rows[0]))
    plot(rows, args.out / "inventory_baselines.png")
    from rlsuite.progress import format_table

    show = [{**r, "profit": r["profit"], "published": r["published"]} for r in rows]
    print(format_table(show, ["setting", "policy", "profit", "profit_ci95", "opt_gap_pct", "published"]))
    print(f"wrote {args.out / 'inventory_baselines.csv'} in {time.perf_counter() - t0:.0f} s")
    return rows


if __name__ == "__main__":
    main()
