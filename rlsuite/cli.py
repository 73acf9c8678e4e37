"""The ``rlsuite`` command line (also ``python -m rlsuite``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rlsuite", description="rlsuite: RL environments, agents and baselines"
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="run every available policy on InvMgmt-v0, print KPIs, write a plot")
    demo.add_argument("--env", default="InvMgmt-v0", help="environment id (default: InvMgmt-v0)")
    demo.add_argument("--episodes", type=int, default=100, help="episodes (seeds) per policy")
    demo.add_argument("--seed", type=int, default=0, help="first seed")
    demo.add_argument("--out", default="demo_output", help="output folder for kpis.csv and demo.png")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    ev = sub.add_parser(
        "evaluate", help="evaluate a baseline policy on an environment id (KPIs with 95%% CIs)"
    )
    ev.add_argument("policy", help="zero, constant, random, base-stock (= newsvendor), newsvendor, sS, dlp")
    ev.add_argument("env_id", help="an InvMgmt id, e.g. InvMgmt-v0")
    ev.add_argument("--seeds", type=int, nargs="+", help="episode seeds (default: 0..episodes-1)")
    ev.add_argument("--episodes", type=int, default=10, help="episodes when --seeds is not given")
    ev.add_argument("--periods", type=int, help="episode length (default: the env's)")
    ev.add_argument("--warmup", type=int, default=0, help="warm-up periods for the long-run average cost")
    ev.add_argument("--oracle", action="store_true", help="also report the gap to the hindsight oracle")
    ev.add_argument("--csv", help="write the per-policy summary to this CSV file")
    ev.add_argument("--plot", help="write a bar plot to this PNG file")
    sub.add_parser("envs", help="list the registered environment ids")
    args = parser.parse_args(argv)

    if args.version:
        from rlsuite import __version__

        print(__version__)
        return 0
    if args.command == "demo":
        if args.episodes < 1:
            parser.error(f"--episodes: got {args.episodes}; must be >= 1")
        from rlsuite.demo import run_demo

        run_demo(
            args.env, episodes=args.episodes, seed=args.seed, out=args.out, show_progress=not args.no_progress
        )
        return 0
    if args.command == "evaluate":
        return _evaluate(parser, args)
    if args.command == "envs":
        from rlsuite.envs import GRIDWORLD_IDS, INVMGMT_IDS, LOTSIZING_IDS, SOKOBAN_IDS, WEBSHOP_IDS

        all_ids = {**INVMGMT_IDS, **LOTSIZING_IDS, **SOKOBAN_IDS, **WEBSHOP_IDS, **GRIDWORLD_IDS}
        for env_id, kwargs in all_ids.items():
            print(f"{env_id:34s} {kwargs}")
        return 0
    parser.print_help()
    return 0


def _evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import csv

    import rlsuite
    from rlsuite.baselines.evaluation import POLICY_NAMES, policy_factory
    from rlsuite.progress import format_table

    if args.policy not in POLICY_NAMES:
        parser.error(f"policy: got {args.policy!r}; allowed: {list(POLICY_NAMES)}")
    if args.env_id not in rlsuite.envs.INVMGMT_IDS:
        parser.error(f"env_id: got {args.env_id!r}; allowed: {sorted(rlsuite.envs.INVMGMT_IDS)}")
    result = rlsuite.evaluate(
        {args.policy: policy_factory(args.policy)},
        args.env_id,
        seeds=args.seeds,
        episodes=args.episodes,
        num_periods=args.periods,
        warmup=args.warmup,
        oracle=args.oracle,
    )
    rows = result.summary()
    cols = [
        "policy",
        "episodes",
        "profit",
        "profit_ci95",
        "fill_rate",
        "service_level",
        "avg_inventory",
        "bullwhip",
    ]
    if args.oracle:
        cols += ["oracle_profit", "opt_gap_pct"]
    if args.warmup:
        cols += ["avg_cost", "avg_cost_ci95"]
    print(format_table(rows, cols))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        result.plot(args.plot)
    return 0
