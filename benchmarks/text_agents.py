"""Text agents on Sokoban-v0 and WebShop-v0: random, expert, BC, PPO and BC + PPO.

Every method is scored on the same held-out instances: Sokoban seeds 100000-100199 (levels never
seen in training: demonstrations use seeds 10000+, PPO the env's own stream), WebShop-lite's
test goals (seeds 0-199 of the ``test`` split; training uses the ``train`` split). Success rate
(with a 95% Wilson interval) and mean episode reward; training wall time on this machine.

    python benchmarks/text_agents.py                       # both envs, ~20-30 min on 2 CPUs
    python benchmarks/text_agents.py --envs Sokoban-v0 --ppo-steps 50000

Writes ``benchmarks/results/text_agents.csv`` (with the command) and ``text_agents.png``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from rlsuite.evaluation import proportion_ci
from rlsuite.files import save_figure, write_csv

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = [
    "env",
    "method",
    "success",
    "ci_low",
    "ci_high",
    "mean_reward",
    "episodes",
    "train_s",
    "detail",
    "command",
]

CONFIG: dict[str, dict[str, Any]] = {
    "Sokoban-v0": dict(
        encoder="position",
        demos=2000,
        bc_epochs=20,
        bc_lr=1e-3,
        bc_batch=256,
        ppo_steps=150_000,
        ppo=dict(n_steps=128, batch_size=256, n_epochs=4, gamma=0.97, ent_coef=0.01),
        ppo_lr=3e-4,
        finetune_lr=1e-4,
        test_seeds=list(range(100_000, 100_200)),
    ),
    "WebShop-v0": dict(
        encoder="bow",
        demos=1500,
        bc_epochs=20,
        bc_lr=3e-3,
        bc_batch=128,
        ppo_steps=40_000,
        ppo=dict(n_steps=64, batch_size=128, n_epochs=4, gamma=0.99, ent_coef=0.0),
        ppo_lr=3e-4,
        finetune_lr=1e-4,
        test_seeds=list(range(200)),
    ),
}


def make_env(env_id: str, split: str) -> gym.Env:
    if env_id.startswith("WebShop"):
        from rlsuite.envs.text import WebShopEnv

        return WebShopEnv(split=split)
    return gym.make(env_id)


def make_vec(env_id: str, n: int) -> gym.vector.VectorEnv:
    return gym.vector.SyncVectorEnv(
        [lambda: make_env(env_id, "train") for _ in range(n)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


class Greedy:
    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, obs: Any) -> Any:
        return self.model.predict(obs, deterministic=True)


def expert_for(env_id: str, env: gym.Env) -> Any:
    from rlsuite.baselines.text_experts import SokobanExpert, WebShopExpert

    return WebShopExpert(env) if env_id.startswith("WebShop") else SokobanExpert()


def run_env(
    env_id: str, methods: list[str], steps: int | None, seed: int, command: str
) -> list[dict[str, Any]]:
    """Train and score every method on one env; returns the CSV rows."""
    from rlsuite.agents import PPO, behavior_cloning
    from rlsuite.baselines.text_experts import RandomTextPolicy, collect_demonstrations, run_text_episodes

    cfg = CONFIG[env_id]
    steps = steps or cfg["ppo_steps"]
    test = make_env(env_id, "test")
    rows: list[dict[str, Any]] = []
    demos: dict[str, Any] = {}

    def score(policy: Any, method: str, train_s: float, detail: str) -> None:
        res = run_text_episodes(test, policy, cfg["test_seeds"])
        k, n = int(res["success"].sum()), len(res["success"])
        lo, hi = proportion_ci(k, n)
        row = dict(
            env=env_id,
            method=method,
            success=k / n,
            ci_low=lo,
            ci_high=hi,
            mean_reward=float(res["reward"].mean()),
            episodes=n,
            train_s=round(train_s, 1),
            detail=detail,
            command=command,
        )
        rows.append(row)
        print(
            f"{env_id:<12} {method:<8} success {k / n:6.1%} [{lo:.2f}, {hi:.2f}]  reward "
            f"{row['mean_reward']:7.3f}  train {train_s:6.1f} s  {detail}",
            flush=True,
        )

    def new_model(lr: float) -> Any:
        return PPO(
            "TextPolicy",
            make_vec(env_id, 8),
            learning_rate=lr,
            policy_kwargs={"encoder": cfg["encoder"]},
            seed=seed,
            **cfg["ppo"],
        )

    def bc_model() -> tuple[Any, float]:
        t = time.perf_counter()
        if not demos:
            train = make_env(env_id, "train")
            seeds = list(range(10_000, 10_000 + cfg["demos"]))
            demos.update(collect_demonstrations(train, expert_for(env_id, train), seeds))
        model = new_model(cfg["finetune_lr"])
        behavior_cloning(
            model,
            demos,
            epochs=cfg["bc_epochs"],
            batch_size=cfg["bc_batch"],
            learning_rate=cfg["bc_lr"],
            seed=seed,
        )
        return model, time.perf_counter() - t

    for method in methods:
        if method == "random":
            score(RandomTextPolicy(seed), method, 0.0, "uniform over admissible actions")
        elif method == "expert":
            score(expert_for(env_id, test), method, 0.0, "scripted")
        elif method == "bc":
            model, t = bc_model()
            score(Greedy(model), method, t, f"{cfg['demos']} expert episodes, {len(demos['actions'])} steps")
        elif method == "ppo":
            model = new_model(cfg["ppo_lr"])
            t = time.perf_counter()
            model.learn(steps)
            score(Greedy(model), method, time.perf_counter() - t, f"{model.num_timesteps} env steps")
        elif method == "bc_ppo":
            model, t_bc = bc_model()
            t = time.perf_counter()
            model.learn(steps)
            detail = f"BC then {model.num_timesteps} PPO steps"
            score(Greedy(model), method, t_bc + time.perf_counter() - t, detail)
        else:
            raise ValueError(f"--methods: unknown {method!r}")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=list(CONFIG))
    parser.add_argument("--methods", nargs="+", default=["random", "expert", "bc", "ppo", "bc_ppo"])
    parser.add_argument("--ppo-steps", type=int, default=None, help="override PPO's budget (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", action="store_true", help="only redraw the plot from the CSV")
    args = parser.parse_args(argv)
    if args.plot:
        with (RESULTS / "text_agents.csv").open() as f:
            saved = list(csv.DictReader(f))
        for r in saved:
            for k in ("success", "ci_low", "ci_high"):
                r[k] = float(r[k])
        plot(saved)
        return
    torch.set_num_threads(1)
    import rlsuite  # noqa: F401

    command = "python benchmarks/text_agents.py " + " ".join(argv if argv is not None else sys.argv[1:])
    rows: list[dict[str, Any]] = []
    for env_id in args.envs:
        rows += run_env(env_id, args.methods, args.ppo_steps, args.seed, command)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "text_agents.csv"
    if out.exists():  # keep the rows of the envs not rerun
        with out.open() as f:
            kept = [r for r in csv.DictReader(f) if r["env"] not in args.envs]
        for r in kept:
            for k in ("success", "ci_low", "ci_high", "mean_reward", "train_s"):
                r[k] = float(r[k])
        rows = kept + rows
    write_csv(out, rows, FIELDS)
    plot(rows)


def plot(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(r["env"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(methods), 1)
    for k, m in enumerate(methods):
        xs, ys, lo, hi = [], [], [], []
        for i, e in enumerate(envs):
            r = [x for x in rows if x["env"] == e and x["method"] == m]
            if r:
                xs.append(i + (k - (len(methods) - 1) / 2) * width)
                ys.append(100 * r[0]["success"])
                lo.append(100 * (r[0]["success"] - r[0]["ci_low"]))
                hi.append(100 * (r[0]["ci_high"] - r[0]["success"]))
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=m)
    ax.set_xticks(range(len(envs)), envs)
    ax.set_ylabel("success on held-out instances (%)")
    ax.set_ylim(0, 118)
    ax.legend(fontsize=8, ncol=len(methods), loc="upper center")
    fig.tight_layout()
    save_figure(fig, RESULTS / "text_agents.png", dpi=120)


if __name__ == "__main__":
    main()
