"""Group-relative RL on the text environments: RLOO, GRPO, GBPO and OPRL from the same SFT start.

For each env and seed: behaviour cloning on expert demonstrations (the ``bc`` configuration of
``benchmarks/text_agents.py``: same demonstrations, same epochs) gives the SFT start (row ``sft``);
each method then fine-tunes a copy of it for the same number of environment steps on training
instances (Sokoban seeds from 0 up, WebShop's ``train`` goals). Every policy is scored greedily on
the same held-out instances as ``text_agents.py`` (Sokoban seeds 100000-100199, WebShop ``test``
goals 0-199), with a Wilson interval; learning curves use the first 50 of them. PPO and BC+PPO
rows are those of ``benchmarks/results/text_agents.csv`` (printed next to these for reference).

    python benchmarks/agentic_rl.py                                   # all envs, seeds 0 1 2
    python benchmarks/agentic_rl.py --envs WebShop-v0 --seeds 0 1 2   # one env (resumable: rows kept)
    python benchmarks/agentic_rl.py --summary                         # table + plot from the CSVs

Writes ``benchmarks/results/agentic_rl.csv`` (one row per env, method and seed, with the command),
``agentic_rl_curves.csv`` and ``agentic_rl.png``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlsuite.evaluation import proportion_ci
from rlsuite.files import append_csv, save_figure

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = [
    "env",
    "method",
    "seed",
    "success",
    "episodes",
    "ci_low",
    "ci_high",
    "mean_reward",
    "env_steps",
    "train_s",
    "command",
]
CURVE_FIELDS = ["env", "method", "seed", "env_steps", "success"]
METHODS = ["rloo", "grpo", "gbpo", "oprl"]
#: Fine-tuning budget (env steps) per env and the group settings (one gradient pass per iteration:
#: chosen on SFT seed 100, not reported); SFT as in text_agents.py.
BUDGET = {"Sokoban-v0": 30_000, "Sokoban-6x6-2-v0": 30_000, "WebShop-v0": 10_000}
GROUP = dict(n_groups=8, group_size=8, n_epochs=1, batch_size=512, learning_rate=1e-4)
CURVE_POINTS = 4
CURVE_INSTANCES = 50
#: ``--policy``: the small TextPolicy (rows named by the method) or the causal LM (rows "<method>-lm").
POLICY = "text"
SFT_EPOCHS: int | None = None


def policy_spec(env_id: str) -> tuple[str, dict[str, Any], str]:
    """``(policy name, policy_kwargs, row suffix)`` of the chosen policy."""
    if POLICY == "lm":
        return "CausalLMPolicy", {}, "-lm"
    return "TextPolicy", {"encoder": config_for(env_id)["encoder"]}, ""


def config_for(env_id: str) -> dict[str, Any]:
    from text_agents import CONFIG

    return CONFIG["Sokoban-v0" if env_id.startswith("Sokoban") else env_id]


def sft_start(env_id: str, seed: int, demos: int | None = None) -> tuple[Any, float]:
    """A PPO-shaped model of the chosen policy after behaviour cloning (its policy is the SFT start)."""
    from text_agents import expert_for, make_env, make_vec

    from rlsuite.agents import PPO, behavior_cloning
    from rlsuite.baselines.text_experts import collect_demonstrations

    cfg = config_for(env_id)
    t = time.perf_counter()
    train = make_env(env_id, "train")
    demos = collect_demonstrations(
        train, expert_for(env_id, train), list(range(10_000, 10_000 + (demos or cfg["demos"])))
    )
    name, kwargs, _ = policy_spec(env_id)
    model = PPO(
        name,
        make_vec(env_id, 1),
        policy_kwargs=kwargs,
        seed=seed,
        n_steps=64,
        batch_size=64,
    )
    behavior_cloning(
        model,
        demos,
        epochs=SFT_EPOCHS or cfg["bc_epochs"],
        batch_size=cfg["bc_batch"],
        learning_rate=cfg["bc_lr"],
        seed=seed,
    )
    return model, time.perf_counter() - t


def group_agent(method: str, env_id: str, seed: int, sft: Any) -> Any:
    from text_agents import make_env

    from rlsuite.agents import GBPO, GRPO, OPRL, RLOO

    cls = {"rloo": RLOO, "grpo": GRPO, "gbpo": GBPO, "oprl": OPRL}[method]
    n = GROUP["n_groups"] * GROUP["group_size"]
    venv = gym.vector.SyncVectorEnv([lambda: make_env(env_id, "train") for _ in range(n)])
    name, kwargs, _ = policy_spec(env_id)
    model = cls(
        name,
        venv,
        policy_kwargs=kwargs,
        seed=seed,
        max_episode_steps=100,
        **GROUP,
    )
    model.policy.load_state_dict(copy.deepcopy(sft.policy.state_dict()))
    return model


def score(env_id: str, model: Any, n: int | None = None) -> tuple[int, int, float]:
    """``(successes, episodes, mean reward)`` of the greedy policy on the held-out instances."""
    from text_agents import make_env

    from rlsuite.baselines.text_experts import run_text_episodes

    class Greedy:
        def predict(self, obs: Any) -> Any:
            return model.predict(obs, deterministic=True)

    seeds = config_for(env_id)["test_seeds"][:n]
    res = run_text_episodes(make_env(env_id, "test"), Greedy(), seeds)
    return int(res["success"].sum()), len(res["success"]), float(res["reward"].mean())


def run(env_id: str, seed: int, methods: list[str], command: str, budget: int, demos: int | None) -> None:
    sft, sft_s = sft_start(env_id, seed, demos)
    rows, curves = [], []
    suffix = policy_spec(env_id)[2]

    def row(method: str, model: Any, steps: int, train_s: float) -> None:
        k, n, reward = score(env_id, model)
        lo, hi = proportion_ci(k, n)
        rows.append(
            dict(
                env=env_id,
                method=method + suffix,
                seed=seed,
                success=k / n,
                episodes=n,
                ci_low=lo,
                ci_high=hi,
                mean_reward=reward,
                env_steps=steps,
                train_s=round(train_s, 1),
                command=command,
            )
        )
        print(
            f"{env_id:<17} {method + suffix:<8} seed {seed}  success {k / n:6.1%} [{lo:.2f}, {hi:.2f}]  "
            f"steps {steps:>6}  {train_s:6.1f} s",
            flush=True,
        )

    row("sft", sft, 0, sft_s)
    k0, n0, _ = score(env_id, sft, CURVE_INSTANCES)
    for method in methods:
        model = group_agent(method, env_id, seed, sft)
        curves.append(dict(env=env_id, method=method + suffix, seed=seed, env_steps=0, success=k0 / n0))
        t, steps = time.perf_counter(), 0
        for point in range(1, CURVE_POINTS + 1):
            target = budget * point // CURVE_POINTS  # whole iterations: a checkpoint may be passed
            if target > steps:
                model.learn(target - steps, reset_num_timesteps=False)
            steps = model.num_timesteps
            k, n, _ = score(env_id, model, CURVE_INSTANCES)
            curves.append(dict(env=env_id, method=method + suffix, seed=seed, env_steps=steps, success=k / n))
        row(method, model, steps, time.perf_counter() - t)
    RESULTS.mkdir(parents=True, exist_ok=True)
    append_csv(RESULTS / "agentic_rl.csv", rows, FIELDS)
    append_csv(RESULTS / "agentic_rl_curves.csv", curves, CURVE_FIELDS)


def summary() -> None:
    """Per env and method: every seed, mean and sd over seeds, and the pooled Wilson interval."""
    with (RESULTS / "agentic_rl.csv").open() as f:
        rows = list(csv.DictReader(f))
    ref: list[dict[str, str]] = []
    if (RESULTS / "text_agents.csv").exists():
        with (RESULTS / "text_agents.csv").open() as f:
            ref = [r for r in csv.DictReader(f) if r["method"] in ("ppo", "bc_ppo")]
    print("| env | method | seeds (success %) | mean ± sd | pooled 95% CI |")
    print("|---|---|---|---|---|")
    for env in dict.fromkeys(r["env"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["env"] == env):
            rs = [r for r in rows if r["env"] == env and r["method"] == method]
            s = np.array([float(r["success"]) for r in rs])
            n = sum(int(r["episodes"]) for r in rs)
            k = round(sum(float(r["success"]) * int(r["episodes"]) for r in rs))
            lo, hi = proportion_ci(k, n)
            seeds = ", ".join(f"{100 * x:.1f}" for x in s)
            sd = s.std(ddof=1) if len(s) > 1 else float("nan")
            print(
                f"| {env} | {method} | {seeds} | {100 * s.mean():.1f} ± {100 * sd:.1f} | "
                f"[{100 * lo:.1f}, {100 * hi:.1f}] |"
            )
        for r in ref:
            if r["env"] == env:
                print(
                    f"| {env} | {r['method']} (text_agents.py, seed 0) | {100 * float(r['success']):.1f} | | "
                    f"[{100 * float(r['ci_low']):.1f}, {100 * float(r['ci_high']):.1f}] |"
                )
    plot()


def plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with (RESULTS / "agentic_rl_curves.csv").open() as f:
        curves = list(csv.DictReader(f))
    envs = list(dict.fromkeys(r["env"] for r in curves))
    fig, axes = plt.subplots(1, len(envs), figsize=(4.5 * len(envs), 3.6), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for method in dict.fromkeys(r["method"] for r in curves if r["env"] == env):
            by_seed: dict[str, list[tuple[int, float]]] = {}
            for r in curves:
                if r["env"] == env and r["method"] == method:
                    by_seed.setdefault(r["seed"], []).append((int(r["env_steps"]), float(r["success"])))
            # Seeds reach the checkpoints at slightly different step counts: average point by point.
            points = np.array([sorted(v) for v in by_seed.values()], dtype=float)  # [seeds, points, 2]
            ax.plot(points[:, :, 0].mean(0), 100 * points[:, :, 1].mean(0), marker="o", label=method)
        ax.set_title(env)
        ax.set_xlabel("environment steps (fine-tuning)")
        ax.set_ylabel(f"success, {CURVE_INSTANCES} held-out instances (%)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, RESULTS / "agentic_rl.png", dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(BUDGET))
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--steps", type=int, default=None, help="override the fine-tuning budget (smoke runs)"
    )
    parser.add_argument(
        "--demos", type=int, default=None, help="override the SFT demonstrations (smoke runs)"
    )
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    parser.add_argument(
        "--policy", choices=["text", "lm"], default="text", help="TextPolicy or CausalLMPolicy"
    )
    parser.add_argument("--sft-epochs", type=int, default=None, help="override the SFT epochs")
    parser.add_argument("--summary", action="store_true", help="only print the table and redraw the plot")
    args = parser.parse_args(argv)
    global RESULTS, POLICY, SFT_EPOCHS
    RESULTS = args.out or RESULTS
    POLICY, SFT_EPOCHS = args.policy, args.sft_epochs
    if args.summary:
        summary()
        return
    torch.set_num_threads(1)
    import rlsuite  # noqa: F401

    command = "python benchmarks/agentic_rl.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for env_id in args.envs:
        if env_id not in BUDGET:
            raise SystemExit(f"--envs: unknown {env_id!r}; allowed: {list(BUDGET)}")
        for seed in args.seeds:
            run(env_id, seed, args.methods, command, args.steps or BUDGET[env_id], args.demos)


if __name__ == "__main__":
    main()
