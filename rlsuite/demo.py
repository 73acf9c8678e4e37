"""The main job (``make demo`` / ``rlsuite demo``): every available policy on ``InvMgmt-v0``.

Runs each policy through :func:`rlsuite.evaluate` on the same demand traces (common random
numbers), adds the hindsight oracle's upper bound and each policy's gap to it, prints a KPI
table with 95% confidence intervals, and writes ``kpis.csv`` and ``demo.png`` to ``--out``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rlsuite.files import write_csv
from rlsuite.progress import format_table

DEMO_POLICIES = ("zero", "constant", "random", "newsvendor", "sS")
COLUMNS = [
    "policy",
    "profit",
    "profit_ci95",
    "opt_gap_pct",
    "fill_rate",
    "service_level",
    "holding",
    "penalty",
]


def run_demo(
    env_id: str = "InvMgmt-v0",
    episodes: int = 100,
    seed: int = 0,
    out: str | Path = "demo_output",
    show_progress: bool = True,
) -> list[dict[str, Any]]:
    import matplotlib

    import rlsuite
    from rlsuite.validation import check_bool, check_int

    if not isinstance(env_id, str) or env_id not in rlsuite.envs.INVMGMT_IDS:
        raise ValueError(f"env_id: got {env_id!r}; allowed: {list(rlsuite.envs.INVMGMT_IDS)}")
    episodes = check_int("episodes", episodes, low=1)
    seed = check_int("seed", seed, low=0)
    show_progress = check_bool("show_progress", show_progress)
    matplotlib.use("Agg")
    import torch

    from rlsuite.baselines.evaluation import evaluate, policy_factory

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(seed, seed + episodes))
    print(f"rlsuite demo: {env_id}, {episodes} episodes per policy (seeds {seeds[0]}..{seeds[-1]})")
    t0 = time.perf_counter()
    policies = {name: policy_factory(name) for name in DEMO_POLICIES}
    result = evaluate(policies, env_id, seeds=seeds, oracle=True, show_progress=show_progress)
    rows = sorted(result.summary(), key=lambda r: -r["profit"])
    oracle_row: dict[str, Any] = {c: float("nan") for c in COLUMNS[1:]}
    oracle_row.update(policy="oracle (hindsight LP)", opt_gap_pct=0.0)
    oracle_row["profit"], oracle_row["profit_ci95"] = rows[0]["oracle_profit"], rows[0]["oracle_profit_ci95"]
    print(format_table([*rows, oracle_row], COLUMNS))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    write_csv(out / "kpis.csv", rows, list(rows[0]))
    result.plot(out / "demo.png")
    print(f"wrote {out / 'kpis.csv'} and {out / 'demo.png'}")
    return rows
