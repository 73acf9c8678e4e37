"""Offline alignment from logged, scored trajectories: SFT, DPO, DRO, RPO and QRPO side by side.

For each env and seed:

1. **Logged data**: ``--samples`` episodes on each of ``--instances`` training instances (seeds
   never scored), cycling through five behaviour sources: the scripted expert, the expert with 25%
   and 50% random actions, a weak behaviour-cloned policy (sampled) and uniform random play.
2. **Reference** ``pi_ref`` = behaviour cloning on all logged trajectories (row ``sft``); row
   ``bc_success`` clones only the successful ones (filtered BC, the obvious strong baseline).
3. **Reference samples**: ``--ref-samples`` sampled episodes of ``pi_ref`` per training instance,
   played in batches on a vector env (QRPO's quantiles; QRPO runs with the first 1, 4 and 16).
4. Every method starts from ``pi_ref`` and takes ``--steps`` gradient steps on the same data.

Every policy is scored greedily on the held-out instances of ``text_agents.py`` (Sokoban seeds
100000-100199, WebShop ``test`` goals 0-199): success with a Wilson interval, mean return, mean
episode length, the mean per-step KL(pi || pi_ref) on the states the policy visits there, and the
Spearman correlation between a logged trajectory's length and its implicit reward
``log pi(y|x) - log pi_ref(y|x)`` (QRPO's length-bias measure).

    python benchmarks/offline_alignment.py                                    # all envs, seeds 0 1 2
    python benchmarks/offline_alignment.py --envs WebShop-v0 --seeds 0         # one env and seed
    python benchmarks/offline_alignment.py --summary                           # table + plot

Writes ``benchmarks/results/offline_alignment.csv`` (one row per env, method and seed, with the
command), ``offline_alignment_data.csv`` (what each behaviour source logged) and
``offline_alignment.png``.
"""

from __future__ import annotations

import argparse
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
    "mean_return",
    "mean_length",
    "kl_to_reference",
    "length_spearman",
    "grad_steps",
    "train_s",
    "command",
]
DATA_FIELDS = ["env", "seed", "source", "episodes", "success", "mean_return", "mean_length", "command"]
ENVS = ["Sokoban-v0", "Sokoban-6x6-2-v0", "WebShop-v0"]
METHODS = ["dpo", "dro", "rpo", "qrpo1", "qrpo4", "qrpo16"]
#: Per env: BC settings (as text_agents.py's), first training instance. Learner settings: the
#: libraries' defaults (DPO beta 0.1; QRPO beta 0.1, identity transform; RPO tau 5 and DRO tau 1 on
#: z-scored returns, per-step mean log-probs), lr 1e-4, 32 trajectories (pairs) per step.
ENV = {
    "Sokoban-v0": dict(encoder="position", bc_lr=1e-3, bc_batch=256, first=20_000),
    "Sokoban-6x6-2-v0": dict(encoder="position", bc_lr=1e-3, bc_batch=256, first=20_000),
    "WebShop-v0": dict(encoder="bow", bc_lr=3e-3, bc_batch=128, first=0),
}


def make_env(env_id: str, split: str) -> gym.Env:
    from text_agents import make_env as make

    return make(env_id, split)


def test_seeds(env_id: str) -> list[int]:
    from text_agents import CONFIG

    return list(CONFIG["Sokoban-v0" if env_id.startswith("Sokoban") else env_id]["test_seeds"])


def new_model(env_id: str, seed: int) -> Any:
    from rlsuite.agents import PPO

    venv = gym.vector.SyncVectorEnv([lambda: make_env(env_id, "train")])
    return PPO("TextPolicy", venv, policy_kwargs={"encoder": ENV[env_id]["encoder"]}, seed=seed, n_steps=64)


def clone(
    env_id: str, seed: int, observations: dict[str, np.ndarray], actions: np.ndarray, epochs: int
) -> Any:
    from rlsuite.agents import behavior_cloning

    model = new_model(env_id, seed)
    cfg = ENV[env_id]
    demos = {"observations": observations, "actions": actions}
    behavior_cloning(
        model, demos, epochs=epochs, batch_size=cfg["bc_batch"], learning_rate=cfg["bc_lr"], seed=seed
    )
    return model


def logged_data(env_id: str, seed: int, instances: int, samples: int) -> Any:
    """The logged dataset of one seed (module docstring, step 1)."""
    from text_agents import expert_for

    from rlsuite.agents import SampledPolicy, collect_logged_trajectories
    from rlsuite.baselines import EpsilonPolicy, RandomTextPolicy, collect_demonstrations

    env = make_env(env_id, "train")
    demo_env = make_env(env_id, "train")
    weak = collect_demonstrations(demo_env, expert_for(env_id, demo_env), list(range(10_000, 10_050)))
    weak_bc = clone(env_id, seed, weak["observations"], weak["actions"], epochs=5)
    expert = expert_for(env_id, env)
    sources = {
        "expert": EpsilonPolicy(expert, 0.0, seed=seed),
        "expert_eps0.25": EpsilonPolicy(expert, 0.25, seed=seed + 1000),
        "expert_eps0.5": EpsilonPolicy(expert, 0.5, seed=seed + 2000),
        "weak_bc": SampledPolicy(weak_bc),
        "random": RandomTextPolicy(seed + 3000),
    }
    first = ENV[env_id]["first"] + seed * instances
    return collect_logged_trajectories(env, sources, range(first, first + instances), samples, env_id)


class Greedy:
    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, obs: Any) -> Any:
        return self.model.predict(obs, deterministic=True)


def action_log_probs(policy: Any, obs: dict[str, torch.Tensor], n: int) -> torch.Tensor:
    """``[B, n]`` log pi(a|s) of every action (masked ones -inf)."""
    from rlsuite.agents.common.observations import split_masks

    obs, masks = split_masks(obs)
    out = torch.log_softmax(policy.distribution(obs, masks).logits, -1)  # one forward for every action
    return out.masked_fill(~masks, -torch.inf)


@torch.no_grad()
def score(env_id: str, model: Any, reference: Any) -> dict[str, float]:
    """Held-out success (Wilson), return, length and the mean per-step KL(pi || pi_ref) on the
    states the greedy policy visits."""
    from rlsuite.agents.common.observations import obs_to_tensor
    from rlsuite.evaluation import run_episodes

    env = make_env(env_id, "test")
    episodes = run_episodes(env, Greedy(model), test_seeds(env_id), record=True)
    k = sum(bool(e.final_info.get("won", False)) for e in episodes)
    lo, hi = proportion_ci(k, len(episodes))
    obs = [o for e in episodes for o in e.observations or []]
    batch = obs_to_tensor({key: np.stack([o[key] for o in obs]) for key in obs[0]}, "cpu")
    n = int(env.action_space.n)  # type: ignore[attr-defined]
    kls = []
    for start in range(0, len(obs), 512):
        part = {key: v[start : start + 512] for key, v in batch.items()}
        p, q = action_log_probs(model.policy, part, n), action_log_probs(reference, part, n)
        term = torch.where(torch.isfinite(p), p.exp() * (p - q), torch.zeros_like(p))
        kls.append(term.sum(1))
    return dict(
        success=k / len(episodes),
        episodes=len(episodes),
        ci_low=lo,
        ci_high=hi,
        mean_return=float(np.mean([e.total_reward for e in episodes])),
        mean_length=float(np.mean([e.length for e in episodes])),
        kl_to_reference=float(torch.cat(kls).mean()),
    )


def length_bias(model: Any) -> float:
    """Spearman correlation between logged trajectories' lengths and their implicit reward (the
    summed log-ratio to the reference), over the whole dataset."""
    from scipy.stats import spearmanr

    data = model.dataset
    with torch.no_grad():
        ratios = []
        for start in range(0, data.n_episodes, 64):
            idx = np.arange(start, min(start + 64, data.n_episodes))
            lp, _ = model.trajectory_log_probs(model.policy, idx)
            ref = lp.new_tensor(model.ref_log_probs[idx])
            if model.config.log_prob == "mean":  # back to sums: the implicit reward of the whole trajectory
                lp, ref = lp * lp.new_tensor(data.lengths[idx]), ref * lp.new_tensor(data.lengths[idx])
            ratios.append((lp - ref).numpy())
    return float(spearmanr(data.lengths, np.concatenate(ratios)).statistic)


def learner(method: str, data: Any, env_id: str, seed: int) -> Any:
    from rlsuite.agents import DPO, DRO, QRPO, RPO

    kwargs = dict(policy_kwargs={"encoder": ENV[env_id]["encoder"]}, seed=seed)
    if method.startswith("qrpo"):
        return QRPO("TextPolicy", data, n_reference=int(method[4:]), **kwargs)
    return {"dpo": DPO, "dro": DRO, "rpo": RPO}[method]("TextPolicy", data, **kwargs)


def run(env_id: str, seed: int, methods: list[str], args: argparse.Namespace, command: str) -> None:
    from rlsuite.agents import SampledPolicy, reference_scores
    from rlsuite.agents.common.group_algorithm import frozen_copy

    t = time.perf_counter()
    data = logged_data(env_id, seed, args.instances, args.samples)
    returns = data.returns()
    summary = [
        dict(
            env=env_id,
            seed=seed,
            source=name,
            episodes=int((data.sources == k).sum()),
            success=float(data.success[data.sources == k].mean()),
            mean_return=float(returns[data.sources == k].mean()),
            mean_length=float(data.lengths[data.sources == k].mean()),
            command=command,
        )
        for k, name in enumerate(data.source_names)
    ]
    print(
        f"{env_id} seed {seed}: {data.summary()['steps']} logged steps in {time.perf_counter() - t:.0f} s",
        flush=True,
    )
    rows: list[dict[str, Any]] = []

    def row(method: str, model: Any, train_s: float, bias: float = float("nan"), steps: int = 0) -> None:
        res = score(env_id, model, reference)
        rows.append(
            dict(
                env=env_id,
                method=method,
                seed=seed,
                **res,
                length_spearman=bias,
                grad_steps=steps,
                train_s=round(train_s, 1),
                command=command,
            )
        )
        print(
            f"{env_id:<17} {method:<11} seed {seed}  success {res['success']:6.1%} "
            f"[{res['ci_low']:.2f}, {res['ci_high']:.2f}]  length {res['mean_length']:5.1f}  "
            f"KL {res['kl_to_reference']:.3f}  rho(len, implicit reward) {bias:+.2f}  {train_s:6.1f} s",
            flush=True,
        )

    t = time.perf_counter()
    sft = clone(env_id, seed, dict(data.observations), data.actions, epochs=args.bc_epochs)
    reference = frozen_copy(sft.policy)
    sft_s = time.perf_counter() - t
    row("sft", sft, sft_s)
    rows_ok = np.repeat(data.success, data.lengths)
    t = time.perf_counter()
    good = clone(
        env_id,
        seed,
        {k: v[rows_ok] for k, v in data.observations.items()},
        data.actions[rows_ok],
        args.bc_epochs,
    )
    row("bc_success", good, time.perf_counter() - t)
    t = time.perf_counter()
    copies = max(1, 128 // args.ref_samples) * args.ref_samples  # several instances' samples per batch
    venv = gym.vector.SyncVectorEnv([lambda: make_env(env_id, "train") for _ in range(copies)])
    ref = reference_scores(venv, SampledPolicy(sft), np.unique(data.instances), args.ref_samples)
    data = data.with_reference(*ref)
    print(
        f"  {args.ref_samples} reference samples per instance in {time.perf_counter() - t:.0f} s", flush=True
    )
    for method in methods:
        model = learner(method, data, env_id, seed)
        model.policy.load_state_dict(sft.policy.state_dict())
        model.set_reference(reference)
        t = time.perf_counter()
        model.learn(args.steps)
        row(method, model, time.perf_counter() - t, length_bias(model), args.steps)
    RESULTS.mkdir(parents=True, exist_ok=True)
    append_csv(RESULTS / "offline_alignment.csv", rows, FIELDS)
    append_csv(RESULTS / "offline_alignment_data.csv", summary, DATA_FIELDS)


def summary() -> None:
    """Per env and method: every seed, mean and sd, the pooled Wilson interval, length and KL."""
    with (RESULTS / "offline_alignment.csv").open() as f:
        rows = list(csv.DictReader(f))
    print("| env | method | seeds (success %) | mean ± sd | pooled 95% CI | length | KL to ref | rho |")
    print("|---|---|---|---|---|---|---|---|")
    table: dict[str, dict[str, tuple[float, float, float]]] = {}
    for env in dict.fromkeys(r["env"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["env"] == env):
            rs = [r for r in rows if r["env"] == env and r["method"] == method]
            s = np.array([float(r["success"]) for r in rs])
            n = sum(int(r["episodes"]) for r in rs)
            k = round(sum(float(r["success"]) * int(r["episodes"]) for r in rs))
            lo, hi = proportion_ci(k, n)
            sd = s.std(ddof=1) if len(s) > 1 else float("nan")
            length, kl, rho = (np.mean([float(r[key]) for r in rs]) for key in FIELDS[8:11])
            rho_text = f"{rho:+.2f}" if np.isfinite(rho) else "-"  # SFT and BC have no implicit reward
            table.setdefault(env, {})[method] = (100 * s.mean(), 100 * lo, 100 * hi)
            print(
                f"| {env} | {method} | {', '.join(f'{100 * x:.1f}' for x in s)} | {100 * s.mean():.1f} ± "
                f"{100 * sd:.1f} | [{100 * lo:.1f}, {100 * hi:.1f}] | {length:.1f} | {kl:.3f} | {rho_text} |"
            )
    plot(table)


def plot(table: dict[str, dict[str, tuple[float, float, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(table), figsize=(4.8 * len(table), 3.6), squeeze=False)
    for ax, (env, by_method) in zip(axes[0], table.items(), strict=True):
        names = list(by_method)
        mean = np.array([by_method[m][0] for m in names])
        err = np.array(
            [[mean[i] - by_method[m][1], by_method[m][2] - mean[i]] for i, m in enumerate(names)]
        ).T.clip(0.0, None)  # rounding: a 0% or 100% mean sits on its interval's end
        ax.bar(range(len(names)), mean, yerr=err, capsize=3, color="tab:blue")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
        ax.set_title(env)
        ax.set_ylabel("held-out success (%), pooled 95% CI")
    fig.tight_layout()
    save_figure(fig, RESULTS / "offline_alignment.png", dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=ENVS, choices=ENVS)
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--instances", type=int, default=120, help="training instances per seed")
    parser.add_argument("--samples", type=int, default=8, help="logged episodes per instance")
    parser.add_argument("--ref-samples", type=int, default=16, help="reference samples per instance")
    parser.add_argument("--bc-epochs", type=int, default=10, help="behaviour-cloning epochs (SFT)")
    parser.add_argument("--steps", type=int, default=500, help="gradient steps per method")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results)")
    parser.add_argument("--summary", action="store_true", help="only print the table and redraw the plot")
    args = parser.parse_args(argv)
    global RESULTS
    RESULTS = args.out or RESULTS
    if args.summary:
        summary()
        return
    torch.set_num_threads(1)
    import rlsuite  # noqa: F401

    command = "python benchmarks/offline_alignment.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for env_id in args.envs:
        for seed in args.seeds:
            run(env_id, seed, args.methods, args, command)


if __name__ == "__main__":
    main()
