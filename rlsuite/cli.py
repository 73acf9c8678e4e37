"""The ``rlsuite`` command line (also ``python -m rlsuite``).

User errors (a number out of range, an unknown policy or env id, an output path that cannot be
written) exit with status 2, the usage line and a message naming the argument; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from rlsuite.envs.inventory import InvMgmtEnv


def _integer(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; must be an integer") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``1.5``, ``0`` and ``-3`` are refused)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {value}; must be an integer >= 1")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"got {value}; must be an integer >= 0")
    return value


def _check_writable(parser: argparse.ArgumentParser, option: str, path: str) -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    p = Path(path)
    if not path or p.is_dir():
        parser.error(f"{option}: got {path!r}; must be a file path, not a folder")
    folder = p.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest existing folder: missing ones are created
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        parser.error(f"{option}: got {path!r}; cannot write in {str(folder)!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlsuite", description="rlsuite: RL environments, agents and baselines"
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser(
        "demo", help="train HDPO and PPO on InvMgmt-v0, evaluate them beside every baseline, print KPIs, plot"
    )
    demo.add_argument("--env", default="InvMgmt-v0", help="environment id (default: InvMgmt-v0)")
    demo.add_argument("--episodes", type=positive_int, default=100, help="episodes (seeds) per policy")
    demo.add_argument("--seed", type=non_negative_int, default=0, help="first seed")
    demo.add_argument("--out", default="demo_output", help="output folder for kpis.csv and demo.png")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.add_argument(
        "--train",
        choices=["none", "quick", "standard", "long"],
        default="standard",
        help="training budget of HDPO and PPO: standard about 2 minutes on 2 cores, long about 10, "
        "none shows the baselines only (default: standard)",
    )
    ev = sub.add_parser(
        "evaluate",
        help="evaluate a baseline policy or a saved model (.zip) on an environment id (KPIs with 95%% CIs)",
    )
    ev.add_argument(
        "policy",
        help="zero, constant, random, base-stock (= newsvendor), newsvendor, sS, dlp, or a saved model "
        "(a .zip written by any rlsuite agent's save)",
    )
    ev.add_argument("env_id", help="an InvMgmt id (e.g. InvMgmt-v0; a saved model: any registered id)")
    ev.add_argument(
        "--seeds", type=non_negative_int, nargs="+", help="episode seeds (default: 0..episodes-1)"
    )
    ev.add_argument("--episodes", type=positive_int, default=10, help="episodes when --seeds is not given")
    ev.add_argument("--periods", type=positive_int, help="episode length (default: the env's)")
    ev.add_argument(
        "--warmup", type=non_negative_int, default=0, help="warm-up periods for the long-run average cost"
    )
    ev.add_argument("--oracle", action="store_true", help="also report the gap to the hindsight oracle")
    ev.add_argument("--csv", help="write the per-policy summary to this CSV file")
    ev.add_argument("--plot", help="write a bar plot to this PNG file")
    sub.add_parser("envs", help="list the registered environment ids")
    ds = sub.add_parser("datasets", help="make or list offline datasets (Minari format, made locally)")
    ds_sub = ds.add_subparsers(dest="datasets_command")
    build = ds_sub.add_parser(
        "build",
        help="MuJoCo datasets at D4RL's five qualities from rlsuite's PPO (trains once, cached), or an "
        "InvMgmt dataset of noisy base-stock orders",
    )
    build.add_argument(
        "env_id",
        nargs="+",
        help="Hopper-v5, HalfCheetah-v5, Walker2d-v5 and/or an InvMgmt id (e.g. InvMgmt-v0)",
    )
    build.add_argument("--quality", nargs="+", help="random, medium, medium-replay, medium-expert, expert")
    build.add_argument("--timesteps", type=positive_int, default=1_000_000, help="PPO training steps")
    build.add_argument(
        "--transitions", type=positive_int, default=200_000, help="rows per dataset (whole episodes)"
    )
    build.add_argument("--root", help="Minari root folder (default: MINARI_DATASETS_PATH or ~/.minari)")
    build.add_argument("--seed", type=non_negative_int, default=0, help="training and collection seed")
    build.add_argument("--force", action="store_true", help="rewrite datasets that exist")
    build.add_argument("--no-progress", action="store_true", help="hide progress bars")
    lst = ds_sub.add_parser("list", help="the local Minari datasets")
    lst.add_argument("--root", help="Minari root folder (default: MINARI_DATASETS_PATH or ~/.minari)")
    tr = sub.add_parser(
        "train", help="train an agent and write its run folder (model.zip, config.yaml, logs, result.json)"
    )
    tr.add_argument("algo", help="an agent name (rlsuite agents lists them), e.g. PPO, HDPO, IQL")
    tr.add_argument("env_id", help="a registered Gymnasium id (offline agents: the env that scores them)")
    tr.add_argument("--config", help="YAML: the agent's constructor arguments (and policy, env_kwargs, ...)")
    tr.add_argument("--steps", type=positive_int, help="env steps (offline agents: gradient steps)")
    tr.add_argument("--seed", type=non_negative_int, help="seed (default: the config's, else 0)")
    tr.add_argument("--out", default=None, help="run folder (default: runs/<algo>_<env-id>_seed<seed>)")
    tr.add_argument("--dataset", help="offline agents: a local Minari dataset id (rlsuite datasets list)")
    tr.add_argument("--eval-episodes", type=non_negative_int, help="episodes scored after training (10)")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sub.add_parser("agents", help="list the agents rlsuite train knows, with their parameters and defaults")
    sw = sub.add_parser(
        "sweep", help="search an agent's hyperparameters with Ray Tune (a search space in a YAML file)"
    )
    sw.add_argument("algo", help="a registered algorithm: PPO, BPO, PDPPO, HDPO, GBPO, GRPO, RLOO, OPRL")
    sw.add_argument("env_id", help="a registered Gymnasium id, e.g. CartPole-v1")
    sw.add_argument(
        "--config",
        required=True,
        help="sweep config (YAML; examples/sweeps/ppo_cartpole.yaml); flags override it",
    )
    sw.add_argument("--samples", type=positive_int, help="samples of the search space (num_samples)")
    sw.add_argument("--steps", type=positive_int, help="training steps per seed (total_timesteps)")
    sw.add_argument("--seeds", type=non_negative_int, nargs="+", help="agent seeds each trial trains with")
    sw.add_argument(
        "--eval-episodes", type=positive_int, help="evaluation episodes, seeds 0..N-1 (eval_seeds)"
    )
    sw.add_argument("--workers", type=positive_int, help="trials at once (default: every CPU)")
    sw.add_argument("--scheduler", choices=["fifo", "asha"], help="asha stops poor trials between seeds")
    sw.add_argument("--out", help="folder for trials.csv, best_config.yaml and Tune's files")
    sw.add_argument("--seed", type=non_negative_int, default=0, help="seed of the sampling (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.version:
        from rlsuite import __version__

        print(__version__)
        return 0
    if args.command == "demo":
        return _demo(parser, args)
    if args.command == "evaluate":
        return _evaluate(parser, args)
    if args.command == "datasets":
        return _datasets(parser, args)
    if args.command == "sweep":
        return _sweep(parser, args)
    if args.command == "train":
        return _train(parser, args)
    if args.command == "agents":
        from rlsuite.runs import agents_table

        for row in agents_table():
            params = row["parameters"]
            text = params if isinstance(params, str) else ", ".join(f"{k}={v}" for k, v in params.items())
            print(f"{row['agent']:8s} [{row['trains_on']}] {text}")
        return 0
    if args.command == "envs":
        from rlsuite.envs import GRIDWORLD_IDS, INVMGMT_IDS, LOTSIZING_IDS, MO_IDS, SOKOBAN_IDS, WEBSHOP_IDS

        all_ids = {**INVMGMT_IDS, **LOTSIZING_IDS, **SOKOBAN_IDS, **WEBSHOP_IDS, **GRIDWORLD_IDS, **MO_IDS}
        for env_id, kwargs in all_ids.items():
            print(f"{env_id:34s} {kwargs}")
        return 0
    parser.print_help()
    return 0


def _datasets(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import rlsuite

    try:
        from rlsuite.envs.datasets import build_inventory_dataset, minari_root
        from rlsuite.envs.datasets.mujoco import MUJOCO_DATASET_ENVS, QUALITIES, build_mujoco_datasets
    except ImportError as e:
        parser.error(f"datasets: {e}")
    if args.datasets_command == "build":
        allowed = [*MUJOCO_DATASET_ENVS, *rlsuite.envs.INVMGMT_IDS]
        for env_id in args.env_id:
            if env_id not in allowed:
                parser.error(f"env_id: got {env_id!r}; allowed: {allowed}")
        for q in args.quality or ():
            if q not in QUALITIES:
                parser.error(f"--quality: got {q!r}; allowed: {list(QUALITIES)}")
        for env_id in args.env_id:
            if env_id in rlsuite.envs.INVMGMT_IDS:
                made = build_inventory_dataset(env_id, root=args.root, seed=args.seed, force=args.force)
                print(f"{env_id:16s} {'noisy':14s} {made}")
                continue
            ids = build_mujoco_datasets(
                env_id,
                root=args.root,
                timesteps=args.timesteps,
                transitions=args.transitions,
                qualities=args.quality or QUALITIES,
                seed=args.seed,
                progress_bar=not args.no_progress,
                force=args.force,
            )
            for q, dataset_id in ids.items():
                print(f"{env_id:16s} {q:14s} {dataset_id}")
        return 0
    if args.datasets_command == "list":
        import minari

        with minari_root(args.root):
            for dataset_id, meta in sorted(minari.list_local_datasets().items()):
                steps, episodes = meta.get("total_steps", "?"), meta.get("total_episodes", "?")
                print(f"{dataset_id:40s} {steps:>9} steps  {episodes:>6} episodes")
        return 0
    parser.parse_args(["datasets", "--help"])
    return 0


def _demo(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import rlsuite

    if args.env not in rlsuite.envs.INVMGMT_IDS:
        parser.error(f"--env: got {args.env!r}; allowed: {list(rlsuite.envs.INVMGMT_IDS)}")
    _check_writable(parser, "--out", str(Path(args.out) / "kpis.csv"))
    from rlsuite.demo import run_demo

    try:
        run_demo(
            args.env,
            episodes=args.episodes,
            seed=args.seed,
            out=args.out,
            show_progress=not args.no_progress,
            training=args.train,
        )
    except OSError as e:
        parser.error(f"--out: could not write the results to {args.out!r}: {e}")
    return 0


def _evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import rlsuite
    from rlsuite.baselines.evaluation import POLICY_NAMES, policy_factory

    if args.policy.endswith(".zip"):
        return _evaluate_model(parser, args)
    if args.policy not in POLICY_NAMES:
        parser.error(f"policy: got {args.policy!r}; allowed: {list(POLICY_NAMES)} or a saved model (.zip)")
    if args.env_id not in rlsuite.envs.INVMGMT_IDS:
        parser.error(f"env_id: got {args.env_id!r}; allowed: {list(rlsuite.envs.INVMGMT_IDS)}")
    return _evaluate_policies(parser, args, {args.policy: policy_factory(args.policy)})


def _evaluate_policies(parser: argparse.ArgumentParser, args: argparse.Namespace, policies: dict) -> int:
    """The KPI table of ``policies`` on an InvMgmt id (``rlsuite evaluate``'s options)."""
    import gymnasium as gym

    import rlsuite
    from rlsuite.files import write_csv
    from rlsuite.progress import format_table

    periods = args.periods or cast("InvMgmtEnv", gym.make(args.env_id).unwrapped).num_periods  # an InvMgmt id
    if args.warmup >= periods:
        parser.error(f"--warmup: got {args.warmup}; must be < the episode length ({periods} periods)")
    for option, path in (("--csv", args.csv), ("--plot", args.plot)):
        if path is not None:
            _check_writable(parser, option, path)
    result = rlsuite.evaluate(
        policies,
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
        try:
            write_csv(args.csv, rows, list(rows[0]))
        except OSError as e:
            parser.error(f"--csv: could not write {args.csv!r}: {e}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        try:
            result.plot(args.plot)
        except OSError as e:
            parser.error(f"--plot: could not write {args.plot!r}: {e}")
    return 0


def _evaluate_model(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``rlsuite evaluate model.zip ENV``: InvMgmt ids get the KPI table (as baselines do, and
    ``--oracle``, ``--csv``, ``--plot``); other ids the returns of deterministic episodes."""
    import gymnasium as gym
    import numpy as np

    import rlsuite
    from rlsuite.evaluation import mean_ci
    from rlsuite.runs import evaluate_model, load_model

    if not Path(args.policy).is_file():
        parser.error(f"policy: {args.policy!r} is not a file")
    if args.env_id not in gym.registry:
        parser.error(f"env_id: got {args.env_id!r}; not a registered Gymnasium id")
    try:
        model = load_model(args.policy, device="cpu")
    except (ValueError, TypeError) as e:
        parser.error(f"policy: {e}")
    if args.env_id in rlsuite.envs.INVMGMT_IDS:
        return _evaluate_policies(parser, args, {f"{type(model).__name__} ({Path(args.policy).name})": model})
    if args.seeds is not None:
        returns = []
        for s in args.seeds:
            returns += evaluate_model(model, args.env_id, 1, first_seed=s)
    else:
        returns = evaluate_model(model, args.env_id, args.episodes, first_seed=0)
    mean, half = mean_ci(np.asarray(returns, float))
    print(
        f"{type(model).__name__} on {args.env_id}: return {mean:.2f} ± {half:.2f} "
        f"(95% CI, {len(returns)} episodes)"
    )
    return 0


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from rlsuite.runs import agent_class, load_run_config, train

    try:
        agent_class(args.algo)
        config = load_run_config(args.config) if args.config else {}
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    out = args.out or f"runs/{args.algo}_{args.env_id.replace('/', '_')}_seed{args.seed or 0}"
    if Path(out).is_file():
        parser.error(f"--out: got {out!r}; must be a folder")
    try:
        result = train(
            args.algo,
            args.env_id,
            config=config,
            total_timesteps=args.steps,
            seed=args.seed,
            out=out,
            dataset=args.dataset,
            eval_episodes=args.eval_episodes,
            progress_bar=not args.no_progress,
        )
    except (ValueError, TypeError) as e:
        parser.error(str(e))
    score = "" if result["eval_mean"] is None else f"; evaluation return {result['eval_mean']:.2f}"
    print(f"trained {args.algo} on {args.env_id} in {result['train_seconds']:.1f} s{score}")
    print(f"run folder: {out} (model.zip, config.yaml, result.json, logs/)")
    return 0


def _sweep(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import json

    from rlsuite.tune import TrialError, hyperparameter_sweep, load_sweep_config

    try:
        config = load_sweep_config(args.config)
    except (OSError, ValueError) as e:  # ArgumentTypeError is a ValueError
        parser.error(f"--config: {e}")
    eval_seeds = None if args.eval_episodes is None else list(range(args.eval_episodes))
    flags = {
        "num_samples": args.samples,
        "total_timesteps": args.steps,
        "seeds": args.seeds,
        "eval_seeds": eval_seeds,
        "scheduler": args.scheduler,
    }
    config.update({key: value for key, value in flags.items() if value is not None})
    for key, flag in (("total_timesteps", "--steps"), ("eval_seeds", "--eval-episodes")):
        if key not in config:
            parser.error(f"{flag}: missing; set {key} in {args.config!r} or pass {flag}")
    if args.out is not None:
        _check_writable(parser, "--out", str(Path(args.out) / "trials.csv"))
    try:
        result = hyperparameter_sweep(
            args.algo, args.env_id, **config, num_workers=args.workers, seed=args.seed, out_dir=args.out
        )
    except ImportError as e:
        parser.error(f"sweep: {e}")
    except TrialError as e:
        print(f"rlsuite sweep: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as e:  # the arguments, checked before Ray starts
        parser.error(str(e))
    best = result.best_result
    print(f"best {result.metric}: {best[result.metric]:.2f} (trial {best['trial_id']})")
    print(f"best config: {json.dumps(result.best_config)}")
    if args.out is not None:
        print(f"wrote {Path(args.out) / 'trials.csv'} and {Path(args.out) / 'best_config.yaml'}")
    return 0
