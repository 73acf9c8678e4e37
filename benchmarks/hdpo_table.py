"""HDPO (MLP, GNN), PPO, the best base-stock policy and the exact optimum, side by side.

Every method is evaluated on the *same* test traces of each setting (common random numbers):
long-run average cost per period over ``--test-traces`` traces of ``--test-periods`` periods
after ``--test-warmup`` warm-up periods, with a 95% CI over traces. Settings (HDPO's):

* ``lost_sales``: single store, Poisson(5), h = 1, L in {1, 2}, p in {4, 9, 19, 39}; the optimum
  is solved exactly (relative value iteration, ``rlsuite.baselines.lost_sales_optimal``): its
  exact long-run cost, no sampling error (CI 0).
* ``backlog``: single store, Normal(5, 1.6), L = 4, p = 9; base stock is optimal. The optimum row
  is the base-stock policy at the critical-fractile level S* (``backlog_base_stock``, from the
  env's own parameters) simulated on the same test traces as every other row, with its CI.
* ``warehouse``: one warehouse with 3, 5 and 10 stores, lost sales (no known optimum).
* ``serial``: the 4-echelon serial system (echelon stock is optimal; its levels are searched).
* ``invmgmt``: gym-invmgmt's ``InvMgmt-v0`` (profit; 30-period episodes from the network's initial
  state; the cost column is minus the profit per period, the detail column has the episode profit).

Methods: ``hdpo_mlp``; ``hdpo_gnn`` (networks only); ``gnn_transfer`` (the GNN trained on 5
stores, run unchanged on 3 and 10); ``ppo`` (our PPO on the same env, same
wall-clock budget as HDPO's MLP, observation and reward normalization); ``base_stock`` (levels
searched by simulation on separate seeds); ``optimum`` where known (``gap_pct`` is measured
against it). Rows are appended to the CSV as they finish; finished (setting, method) pairs are
skipped, so the run can be resumed; ``--redo`` measures the selected pairs again and replaces
their rows.

    python benchmarks/hdpo_table.py                                   # everything (hours on 2 CPUs)
    python benchmarks/hdpo_table.py --settings lost_sales --methods hdpo_mlp optimum base_stock
    python benchmarks/hdpo_table.py --settings backlog --methods optimum --redo
    python benchmarks/hdpo_table.py --plot                            # only redraw the plot

Writes ``benchmarks/results/hdpo_table.csv`` (with the command) and ``hdpo_table.png``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlsuite.files import append_csv, save_figure, write_csv

RESULTS = Path(__file__).resolve().parent / "results"
CSV = RESULTS / "hdpo_table.csv"
FIELDS = [
    "setting",
    "method",
    "avg_cost",
    "ci95",
    "gap_pct",
    "train_s",
    "params",
    "detail",
    "command",
    "torch",
]


def settings() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for lead in (1, 2):
        for p in (4, 9, 19, 39):
            out[f"lost_sales_L{lead}_p{p}"] = {
                "group": "lost_sales",
                "env": "InvMgmt-SingleStore-v0",
                "kwargs": {"lead_time": lead, "shortage_cost": float(p)},
            }
    out["backlog_L4_p9"] = {"group": "backlog", "env": "InvMgmt-SingleStore-Backlog-v0", "kwargs": {}}
    for n in (3, 5, 10):
        out[f"warehouse_{n}"] = {
            "group": "warehouse",
            "env": "InvMgmt-OneWarehouse-v0",
            "kwargs": {"n_stores": n},
        }
    out["serial_echelon"] = {"group": "serial", "env": "InvMgmt-SerialEchelon-v0", "kwargs": {}}
    out["invmgmt_v0"] = {"group": "invmgmt", "env": "InvMgmt-v0", "kwargs": {}}
    return out


HDPO_CONFIG = {
    "lost_sales": dict(policy_kwargs={"net_arch": [32, 32, 32]}, learning_rate=1e-2, epochs=100),
    "backlog": dict(
        policy_kwargs={"net_arch": [32, 32, 32], "features": ("on_hand", "pipeline", "unmet")},
        learning_rate=1e-2,
        epochs=100,
    ),
    "warehouse": dict(policy_kwargs={"net_arch": [128, 128]}, learning_rate=3e-3, epochs=100),
    "serial": dict(policy_kwargs={"net_arch": [64, 64]}, learning_rate=3e-3, epochs=100),
    # gym-invmgmt's 30-period episodes from the network's initial state: profit, finite horizon.
    "invmgmt": dict(
        policy_kwargs={"net_arch": [64, 64], "features": ("on_hand", "pipeline", "unmet", "period")},
        learning_rate=3e-3,
        epochs=60,
        batch_size=512,
        n_train=4096,
        n_dev=1024,
        train_periods=30,
        train_warmup=0,
        dev_periods=30,
        dev_warmup=0,
        random_initial_state=False,
    ),
}
FINITE = {"invmgmt"}
TRANSFER = "/tmp/rlsuite_hdpo_gnn_{name}.zip"  # GNNs kept for the 5 -> 10 stores transfer row
PPO_MAX_ORDER = 60.0  # settings evaluated on whole episodes from the initial state
# The GNN is ~10x the MLP's compute per sample on a CPU: hidden 16 (HDPO uses 32), smaller batches.
GNN_CONFIG = dict(
    policy_kwargs={"hidden": 16, "rounds": 2},
    learning_rate=3e-3,
    max_grad_norm=1.0,
    epochs=50,
    batch_size=256,
    n_train=2048,
)


def test_set(core: Any, args: argparse.Namespace, finite: bool) -> tuple[torch.Tensor, Any, int]:
    """Test traces, start states and warm-up: long-run (random start, warm-up) or whole
    30-period episodes from the network's initial state."""
    from rlsuite.envs.inventory.rollout import initial_states, sample_traces

    periods, warmup = (30, 0) if finite else (args.test_periods, args.test_warmup)
    demand = torch.as_tensor(sample_traces(core, args.test_traces, periods, seed=777), dtype=torch.float32)
    state = initial_states(core, args.test_traces, np.random.default_rng(778), randomize=not finite)
    return demand, state, warmup


def run_hdpo(cfg: dict[str, Any], policy: str, conf: dict[str, Any], seed: int) -> tuple[Any, float]:
    from rlsuite.agents import HDPO

    conf = dict(conf)
    epochs = conf.pop("epochs")
    model = HDPO(policy, cfg["env"], env_kwargs=cfg["kwargs"], seed=seed, eval_every=5, **conf)
    t = time.perf_counter()
    model.learn(epochs=epochs)
    return model, time.perf_counter() - t


def run_ppo(cfg: dict[str, Any], budget_s: float, seed: int) -> tuple[Any, float]:
    """Our PPO on the same env (16 copies), stopped when the wall-clock budget is spent. In the
    long-run settings the period counter is zeroed in the observation (the policy must act the
    same in period 30 of training and period 3000 of the test); on ``InvMgmt-v0`` orders are
    bounded at 60 and rescaled to [-1, 1] (the README's recipe)."""
    import gymnasium as gym

    from rlsuite.agents import PPO, BaseCallback

    class Budget(BaseCallback):
        def _on_training_start(self) -> None:
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            return time.perf_counter() - self.t0 < budget_s

    def zero_period(env: gym.Env) -> gym.Env:
        col = env.unwrapped.core.observation_index()["period"]

        def f(obs: np.ndarray) -> np.ndarray:
            obs = obs.copy()
            obs[col] = 0.0
            return obs

        return gym.wrappers.TransformObservation(env, f, env.observation_space)

    if cfg["group"] in FINITE:
        venv = gym.wrappers.vector.RescaleAction(
            gym.make_vec(cfg["env"], num_envs=16, max_order=PPO_MAX_ORDER, **cfg["kwargs"]), -1.0, 1.0
        )
    else:
        venv = gym.make_vec(
            cfg["env"], num_envs=16, vectorization_mode="sync", wrappers=[zero_period], **cfg["kwargs"]
        )
    from rlsuite.demo import PPO_RECIPE

    model = PPO("MlpPolicy", venv, seed=seed, **PPO_RECIPE)
    t = time.perf_counter()
    model.learn(10**9, callback=Budget())
    return model, time.perf_counter() - t


def ppo_policy(model: Any, core: Any, finite: bool) -> Any:
    col = core.observation_index()["period"]
    high = float(core.spec.order_bound(100))

    def act(obs: torch.Tensor) -> torch.Tensor:
        x = obs.detach().double().cpu().numpy().copy()
        if not finite:
            x[:, col] = 0.0
        a, _ = model.predict(x, deterministic=True)
        if finite:  # [-1, 1] -> [0, PPO_MAX_ORDER]
            a = (np.clip(a, -1.0, 1.0) + 1.0) / 2.0 * PPO_MAX_ORDER
        return torch.as_tensor(np.clip(a, 0.0, high), dtype=obs.dtype)

    return act


def best_base_stock(cfg: dict[str, Any], core: Any, echelon: bool) -> tuple[Any, float, str]:
    """Searched levels: echelon for the serial system, capped base stock on ``InvMgmt-v0``'s
    30-period episodes (the strongest base-stock family there), installation otherwise."""
    from rlsuite.baselines import BaseStockPolicy, search_base_stock_levels

    t = time.perf_counter()
    finite = cfg["group"] in FINITE
    kind = "echelon" if echelon else ("capped" if finite else "installation")
    res = search_base_stock_levels(
        cfg["env"],
        kind,
        num_periods=None if finite else 400,
        warmup=0 if finite else 100,
        train_seeds=range(1000, 1064 if finite else 1032),
        eval_seeds=range(2000, 2064),
        env_kwargs=cfg["kwargs"],
    )
    rule = BaseStockPolicy(core, res.levels, echelon=echelon, caps=res.caps)

    def act(obs: torch.Tensor) -> torch.Tensor:
        return rule.torch_orders(obs)

    return act, time.perf_counter() - t, "levels " + " ".join(f"{v:.2f}" for v in res.levels)


def single_store_parameters(core: Any) -> dict[str, Any]:
    """Lead time, holding and shortage cost and demand of a single-store network, read from its spec."""
    spec = core.spec
    (link,), (market,) = spec.links, spec.markets
    store = next(n for n in spec.nodes if n.name == link.dst)
    d = market.demand
    return {"lead_time": link.L, "h": store.h, "p": market.b, "dist": d.dist, "mean": d.mean, "std": d.std}


def optimum(cfg: dict[str, Any], core: Any, test: tuple[torch.Tensor, Any, int]) -> dict[str, Any] | None:
    """The optimum row of a setting with a known optimal policy, or None.

    Lost sales: the exact long-run cost of the optimal policy (relative value iteration), with no
    sampling error. Backlog: the optimal base-stock policy S* (critical fractile of the lead-time
    demand) simulated on the test traces ``test`` like every other row, with its measured CI."""
    if cfg["group"] not in ("lost_sales", "backlog"):
        return None
    k = single_store_parameters(core)
    expected = "poisson" if cfg["group"] == "lost_sales" else "normal"
    if k["dist"] != expected:
        raise ValueError(
            f"{cfg['env']}: demand {k['dist']!r}; the {cfg['group']} optimum assumes {expected!r}"
        )
    if cfg["group"] == "lost_sales":
        from rlsuite.baselines import lost_sales_optimal

        sol = lost_sales_optimal(k["mean"], k["lead_time"], k["h"], k["p"])
        cost, ci, detail = float(sol.cost), 0.0, "exact: relative value iteration"
    else:
        from rlsuite.baselines import BaseStockPolicy, backlog_base_stock
        from rlsuite.envs.inventory.rollout import long_run_cost

        level, _ = backlog_base_stock(k["lead_time"], k["h"], k["p"], mean=k["mean"], std=k["std"])
        rule = BaseStockPolicy(core, [level])
        demand, state, warmup = test
        res = long_run_cost(core, rule.torch_orders, demand, warmup, state)
        cost, ci = res["avg_cost"], res["ci95"]
        detail = f"base stock at S*={level:.3f} (critical fractile), simulated on the test traces"
    return {
        "avg_cost": cost,
        "ci95": ci,
        "gap_pct": 0.0,
        "params": 1 if cfg["group"] == "backlog" else "",
        "detail": detail,
    }


def gap_pct(cost: float, opt: float) -> float:
    return round(100 * (cost / opt - 1), 3)


def refresh_gaps(setting: str, opt: float) -> None:
    """Recompute ``gap_pct`` of the setting's rows against a newly measured optimum."""
    rows = _rows()
    for r in rows:
        if r["setting"] == setting and r["method"] != "optimum":
            r["gap_pct"] = gap_pct(float(r["avg_cost"]), opt)
    write_csv(CSV, rows, FIELDS)


def drop_rows(pairs: set[tuple[str, str]]) -> None:
    """Remove the rows of these (setting, method) pairs, to measure them again."""
    rows = _rows()
    kept = [r for r in rows if (r["setting"], r["method"]) not in pairs]
    if len(kept) != len(rows):
        write_csv(CSV, kept, FIELDS)


def done_pairs() -> set[tuple[str, str]]:
    if not CSV.exists():
        return set()
    with CSV.open() as f:
        return {(r["setting"], r["method"]) for r in csv.DictReader(f)}


def append(row: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    append_csv(CSV, [{k: row.get(k, "") for k in FIELDS}], FIELDS)
    print(
        f"{row['setting']:<22} {row['method']:<11} cost {row['avg_cost']:.4f} ± {float(row['ci95']):.4f}"
        f"  gap {row.get('gap_pct', '')!s:>8}  train {row.get('train_s', '')!s:>7} s",
        flush=True,
    )


def plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not CSV.exists():
        return
    with CSV.open() as f:
        rows = list(csv.DictReader(f))
    names = list(dict.fromkeys(r["setting"] for r in rows))
    methods = ["optimum", "base_stock", "hdpo_mlp", "hdpo_gnn", "gnn_transfer", "ppo"]
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(names)), 4.5))
    TOP = 30.0  # percent; larger gaps are written on the bar
    width = 0.14
    for k, m in enumerate(methods):
        xs, ys, es = [], [], []
        for i, n in enumerate(names):
            ref = [r for r in rows if r["setting"] == n and r["method"] == "base_stock"]
            cur = [r for r in rows if r["setting"] == n and r["method"] == m]
            if cur and ref:
                base = float(ref[0]["avg_cost"])
                xs.append(i + (k - 2.5) * width)
                ys.append(100 * (float(cur[0]["avg_cost"]) - base) / abs(base))
                es.append(100 * float(cur[0]["ci95"] or 0) / abs(base))
        if xs:
            shown = [min(y, TOP) for y in ys]
            errs = [0.0 if y > TOP else e for y, e in zip(ys, es, strict=True)]
            ax.bar(xs, shown, width, yerr=errs, label=m, capsize=2)
            for x, y in zip(xs, ys, strict=True):
                if y > TOP:  # off the chart (PPO diverging over the long test horizon): print the value
                    ax.text(x, TOP, f"{y:+.0f}%", rotation=90, ha="center", va="top", fontsize=6)
    ax.set_ylim(-20, TOP)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("cost vs best base stock (%)  [InvMgmt-v0: -profit]")
    ax.set_title("Long-run average cost on common test traces (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, CSV.with_suffix(".png"), dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--settings", nargs="+", default=["lost_sales", "backlog", "warehouse", "serial", "invmgmt"]
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["optimum", "base_stock", "hdpo_mlp", "hdpo_gnn", "gnn_transfer", "ppo"],
    )
    parser.add_argument("--test-traces", type=int, default=4096)
    parser.add_argument("--test-periods", type=int, default=3000)
    parser.add_argument("--test-warmup", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ppo-budget", type=float, default=None, help="PPO seconds (default: HDPO-MLP's)")
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="scale HDPO's epochs (smoke runs)")
    parser.add_argument("--plot", action="store_true", help="only redraw the plot")
    parser.add_argument(
        "--redo",
        action="store_true",
        help="measure the selected (setting, method) pairs again, replacing their rows",
    )
    parser.add_argument("--csv", type=Path, default=None, help="results file (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    global CSV
    CSV = args.csv or CSV
    if args.plot:
        plot()
        return
    torch.set_num_threads(int(os.environ.get("RLSUITE_THREADS", "1")))
    command = "python benchmarks/hdpo_table.py " + " ".join(argv if argv is not None else sys.argv[1:])
    from rlsuite.envs.inventory.rollout import long_run_cost

    selected = {
        name: cfg
        for name, cfg in settings().items()
        if cfg["group"] in args.settings or name in args.settings
    }
    if args.redo:
        drop_rows({(name, m) for name in selected for m in args.methods})
    done = done_pairs()
    for name, cfg in selected.items():
        todo = [
            m
            for m in args.methods
            if (name, m) not in done
            and not (m == "hdpo_gnn" and cfg["group"] not in ("warehouse", "serial"))
            and not (m == "optimum" and cfg["group"] not in ("lost_sales", "backlog"))
        ]
        if not todo:
            continue
        from rlsuite.agents import HDPO

        core = HDPO("MlpPolicy", cfg["env"], env_kwargs=cfg["kwargs"], n_train=64, batch_size=64).core
        finite = cfg["group"] in FINITE
        test = test_set(core, args, finite)
        demand, state, warmup = test
        opt = next(
            (float(r["avg_cost"]) for r in _rows() if (r["setting"], r["method"]) == (name, "optimum")), None
        )
        if opt is None:  # measured (or solved) now: the gaps of this setting's rows refer to it
            opt_row = optimum(cfg, core, test)
            if opt_row is not None:
                opt = opt_row["avg_cost"]
                if "optimum" in todo:
                    append(
                        {
                            "setting": name,
                            "method": "optimum",
                            "command": command,
                            "torch": torch.__version__,
                            **opt_row,
                        }
                    )
                    refresh_gaps(name, opt)
        budget = None
        for method in todo:
            if method == "optimum":
                continue
            row: dict[str, Any] = {
                "setting": name,
                "method": method,
                "command": command,
                "torch": torch.__version__,
            }
            scale = lambda c: {**c, "epochs": max(1, round(c["epochs"] * args.epochs_scale))}  # noqa: E731
            if args.ppo_budget is not None:
                budget = args.ppo_budget
            if method == "hdpo_mlp":
                model, train_s = run_hdpo(cfg, "MlpPolicy", scale(HDPO_CONFIG[cfg["group"]]), args.seed)
                act, params, detail = model, model.parameter_count(), f"epochs {model.epochs_done}"
                budget = train_s if args.ppo_budget is None else args.ppo_budget
            elif method == "hdpo_gnn":
                model, train_s = run_hdpo(cfg, "GNNPolicy", scale(GNN_CONFIG), args.seed)
                act, params, detail = model, model.parameter_count(), f"epochs {model.epochs_done}"
                model.save(TRANSFER.format(name=name))
            elif method == "gnn_transfer":  # the GNN trained on 5 stores, run unchanged on this network
                src = Path(TRANSFER.format(name="warehouse_5"))
                if cfg["group"] != "warehouse" or name == "warehouse_5" or not src.exists():
                    continue
                model = HDPO.load(src, env=cfg["env"], env_kwargs=cfg["kwargs"])
                act, params, train_s, detail = model, model.parameter_count(), 0.0, "trained on warehouse_5"
            elif method == "ppo":
                if budget is None:
                    prior = [r for r in _rows() if r["setting"] == name and r["method"] == "hdpo_mlp"]
                    budget = float(prior[0]["train_s"]) if prior else 120.0
                model, train_s = run_ppo(cfg, budget, args.seed)
                act, params, detail = ppo_policy(model, core, finite), "", f"{model.num_timesteps} env steps"
            elif method == "base_stock":
                act, train_s, detail = best_base_stock(cfg, core, echelon=cfg["group"] == "serial")
                params = core.n_stock
            else:
                raise ValueError(f"--methods: unknown {method!r}")
            res = long_run_cost(core, act, demand, warmup, state)
            if finite:  # also the episode profit (gym-invmgmt's figure)
                detail += f"; episode profit {-30 * res['avg_cost']:.1f} ± {30 * res['ci95']:.1f}"
            row.update(
                avg_cost=res["avg_cost"],
                ci95=res["ci95"],
                train_s=round(train_s, 1),
                params=params,
                detail=detail,
            )
            if opt is not None:
                row["gap_pct"] = gap_pct(res["avg_cost"], opt)
            append(row)
    plot()


def _rows() -> list[dict[str, str]]:
    if not CSV.exists():
        return []
    with CSV.open() as f:
        return list(csv.DictReader(f))


if __name__ == "__main__":
    main()
