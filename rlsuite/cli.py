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
    if args.command == "envs":
        from rlsuite.envs import INVMGMT_IDS

        for env_id, kwargs in INVMGMT_IDS.items():
            print(f"{env_id:34s} {kwargs}")
        return 0
    parser.print_help()
    return 0
