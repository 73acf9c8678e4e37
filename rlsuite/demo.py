"""The main job (``make demo`` / ``rlsuite demo``): trained agents beside every baseline on
``InvMgmt-v0``.

Trains HDPO (pathwise gradients through the simulator) and PPO with fixed seeds and recipes that
work (:data:`TRAINING`: ``standard`` takes about two minutes on 2 CPU cores), then runs them and
each baseline policy through :func:`rlsuite.evaluate` on the same demand traces (common random
numbers), adds the hindsight oracle's upper bound and each policy's gap to it, prints a KPI table
with 95% confidence intervals, and writes ``kpis.csv``, ``demo.png`` (profit and cumulative
reward) and ``learning_curves.png`` (HDPO's dev profit by epoch, PPO's training return by env
step) to ``--out``. ``training="none"`` shows the baselines only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from rlsuite.files import save_figure, write_csv
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
#: PPO's orders are bounded (and its actions rescaled to [-1, 1]): RL learns far faster with a bound
#: near the orders that matter than with gym-invmgmt's 3100.
PPO_MAX_ORDER = 60.0
#: PPO's settings on the inventory networks (16 copies; benchmarks/hdpo_table.py uses them too).
PPO_RECIPE: dict[str, Any] = dict(
    n_steps=128,
    batch_size=512,
    n_epochs=5,
    learning_rate=3e-4,
    gamma=0.99,
    normalize_observation=True,
    normalize_reward=True,
    policy_kwargs={"net_arch": [64, 64]},
)
#: Training budgets: HDPO epochs (passes over its train traces) and PPO env steps.
TRAINING: dict[str, dict[str, int]] = {
    "none": {},
    "quick": {"hdpo_epochs": 2, "hdpo_traces": 512, "ppo_steps": 4096},
    "standard": {"hdpo_epochs": 60, "hdpo_traces": 4096, "ppo_steps": 200_000},
    "long": {"hdpo_epochs": 200, "hdpo_traces": 8192, "ppo_steps": 1_000_000},
}


def train_hdpo(env_id: str, seed: int, epochs: int, traces: int, show_progress: bool) -> tuple[Any, list]:
    """HDPO's MLP on whole episodes from the network's initial state (the evaluation's setting):
    returns the model (best dev parameters) and its dev curve ``[(epoch, profit per episode)]``."""
    import gymnasium as gym

    from rlsuite.agents import HDPO

    env: Any = gym.make(env_id).unwrapped  # an InvMgmt env
    periods = int(env.num_periods)
    model = HDPO(
        "MlpPolicy",
        env_id,
        policy_kwargs={"net_arch": [64, 64], "features": ("on_hand", "pipeline", "unmet", "period")},
        learning_rate=3e-3,
        batch_size=min(512, traces),
        n_train=traces,
        n_dev=max(256, traces // 4),
        train_periods=periods,
        train_warmup=0,
        dev_periods=periods,
        dev_warmup=0,
        eval_every=1 if epochs < 10 else 5,
        random_initial_state=False,
        seed=seed,
        device="cpu",
    )
    model.learn(epochs=epochs, progress_bar=show_progress)
    return model, [(epoch, -cost * periods) for epoch, cost in model.dev_history]


def train_ppo(env_id: str, seed: int, steps: int, show_progress: bool) -> tuple[Any, list]:
    """PPO on 16 copies of the native vector env, orders bounded at :data:`PPO_MAX_ORDER` and
    rescaled to [-1, 1], observation and reward normalisation: returns an orders policy
    (``obs -> orders``) and the training curve ``[(env steps, mean episode return)]``."""
    import gymnasium as gym

    from rlsuite.agents import PPO, BaseCallback

    venv = gym.make_vec(env_id, num_envs=16, max_order=PPO_MAX_ORDER)
    single = gym.spaces.Box(-1.0, 1.0, venv.single_action_space.shape, np.float64)
    venv = gym.wrappers.vector.TransformAction(venv, _to_orders, single_action_space=single)
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", **PPO_RECIPE)
    curve: list[tuple[int, float]] = []

    class Curve(BaseCallback):
        def _on_rollout_end(self) -> None:
            if model.ep_info_buffer:
                curve.append((model.num_timesteps, float(np.mean([r for r, _ in model.ep_info_buffer]))))

        def _on_step(self) -> bool:
            return True

    model.learn(steps, callback=Curve(), progress_bar=show_progress)

    def orders(obs: np.ndarray) -> np.ndarray:
        return _to_orders(model.predict(obs, deterministic=True)[0])

    return orders, curve


def _to_orders(action: np.ndarray) -> np.ndarray:
    return (np.clip(action, -1.0, 1.0) + 1.0) * (PPO_MAX_ORDER / 2)


def run_demo(
    env_id: str = "InvMgmt-v0",
    episodes: int = 100,
    seed: int = 0,
    out: str | Path = "demo_output",
    show_progress: bool = True,
    training: str = "standard",
) -> list[dict[str, Any]]:
    import matplotlib

    import rlsuite
    from rlsuite.validation import check_bool, check_choice, check_int

    if not isinstance(env_id, str) or env_id not in rlsuite.envs.INVMGMT_IDS:
        raise ValueError(f"env_id: got {env_id!r}; allowed: {list(rlsuite.envs.INVMGMT_IDS)}")
    episodes = check_int("episodes", episodes, low=1)
    seed = check_int("seed", seed, low=0)
    show_progress = check_bool("show_progress", show_progress)
    budget = TRAINING[check_choice("training", training, list(TRAINING))]
    matplotlib.use("Agg")
    import torch

    from rlsuite.baselines.evaluation import evaluate, policy_factory

    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(seed, seed + episodes))
    print(f"rlsuite demo: {env_id}, {episodes} episodes per policy (seeds {seeds[0]}..{seeds[-1]})")
    t0 = time.perf_counter()
    policies: dict[str, Any] = {}
    curves: dict[str, list] = {}
    if budget:
        # Training seeds are not evaluation seeds: HDPO draws its traces from its own generator.
        t = time.perf_counter()
        print(f"training HDPO ({budget['hdpo_epochs']} epochs of {budget['hdpo_traces']} demand traces) ...")
        hdpo, curves["HDPO"] = train_hdpo(
            env_id, 1000 + seed, budget["hdpo_epochs"], budget["hdpo_traces"], show_progress
        )
        print(f"  {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        print(f"training PPO ({budget['ppo_steps']} env steps, 16 copies) ...")
        ppo, curves["PPO"] = train_ppo(env_id, 2000 + seed, budget["ppo_steps"], show_progress)
        print(f"  {time.perf_counter() - t:.1f} s")
        policies.update({"HDPO (trained)": hdpo, "PPO (trained)": ppo})
    policies.update({name: policy_factory(name) for name in DEMO_POLICIES})
    result = evaluate(policies, env_id, seeds=seeds, oracle=True, show_progress=show_progress)
    rows = sorted(result.summary(), key=lambda r: -r["profit"])
    oracle_row: dict[str, Any] = {c: float("nan") for c in COLUMNS[1:]}
    oracle_row.update(policy="oracle (hindsight LP)", opt_gap_pct=0.0)
    oracle_row["profit"], oracle_row["profit_ci95"] = rows[0]["oracle_profit"], rows[0]["oracle_profit_ci95"]
    print(format_table([*rows, oracle_row], COLUMNS))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    write_csv(out / "kpis.csv", rows, list(rows[0]))
    result.plot(out / "demo.png")
    written = [out / "kpis.csv", out / "demo.png"]
    if curves:
        plot_learning_curves(curves, out / "learning_curves.png")
        written.append(out / "learning_curves.png")
    print("wrote " + ", ".join(str(p) for p in written))
    return rows


def plot_learning_curves(curves: dict[str, list], path: Path) -> None:
    """HDPO's dev profit per episode by epoch and PPO's mean training return by env step."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
    labels = {"HDPO": ("epoch", "dev profit per episode"), "PPO": ("env steps", "training episode return")}
    for ax, (name, points) in zip(axes[0], curves.items(), strict=True):
        if points:
            x, y = zip(*points, strict=True)
            ax.plot(x, y, marker="." if len(points) < 30 else None)
        xlabel, ylabel = labels.get(name, ("step", "return"))
        ax.set(title=f"{name} learning curve", xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
