"""PPO on many copies of the divergent inventory network: rlsuite's PPO on the native vector env
vs Stable-Baselines3's PPO on gym-invmgmt's ``MultiEchelon-v0`` (SB3's ``DummyVecEnv``), same run.

Both train with the same settings at each number of copies ``--envs`` (default 16, 64, 256):
rollouts of ``--n-steps`` steps per copy, ``--epochs`` epochs of minibatches of ``--batch-size``
(so that both do the same gradient work per env step), MLP 64x64, orders bounded at 60 and
rescaled to [-1, 1] (SB3 clips its Gaussian samples to the rescaled bounds; ours to the same),
observation and reward normalisation (rlsuite's built-in; SB3's ``VecNormalize``), one torch
thread. Each measures env-steps per second, collection and updates included, over
``--iterations`` rollout-update iterations after one warm-up iteration.

    python benchmarks/ppo_inventory_scale.py                     # 16, 64, 256 copies
    python benchmarks/ppo_inventory_scale.py --envs 64 --iterations 3

Writes ``benchmarks/results/ppo_inventory_scale.csv`` (with the command) and prints the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
MAX_ORDER = 60.0
FIELDS = ["library", "n_envs", "n_steps", "batch_size", "epochs", "iterations", "steps_per_s", "command"]


def bounded_peer() -> gym.Env:
    """gym-invmgmt's divergent network with actions in [-1, 1] mapped to orders in [0, MAX_ORDER]."""
    import gym_invmgmt  # noqa: F401  (registers GymInvMgmt/*)

    env = gym.make("GymInvMgmt/MultiEchelon-v0")
    space = gym.spaces.Box(-1.0, 1.0, env.action_space.shape, np.float32)
    return gym.wrappers.TransformAction(env, lambda a: (np.clip(a, -1.0, 1.0) + 1.0) * (MAX_ORDER / 2), space)


def time_sb3(n: int, args: argparse.Namespace) -> float:
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = VecNormalize(DummyVecEnv([bounded_peer for _ in range(n)]), gamma=0.99)
    model = SB3PPO(
        "MlpPolicy", venv, n_steps=args.n_steps, batch_size=args.batch_size, n_epochs=args.epochs,
        seed=0, device="cpu", policy_kwargs={"net_arch": [64, 64]},
    )  # fmt: skip
    model.learn(n * args.n_steps)  # warm-up
    t = time.perf_counter()
    model.learn(n * args.n_steps * args.iterations, reset_num_timesteps=False)
    return n * args.n_steps * args.iterations / (time.perf_counter() - t)


def time_ours(n: int, args: argparse.Namespace) -> float:
    from rlsuite.agents import PPO

    venv = gym.make_vec("InvMgmt-v0", num_envs=n, max_order=MAX_ORDER)
    # The same affine map as the peer's, on the whole batch (Gymnasium's vector RescaleAction
    # applies the single-env map copy by copy).
    single = gym.spaces.Box(-1.0, 1.0, venv.single_action_space.shape, np.float64)
    venv = gym.wrappers.vector.TransformAction(
        venv, lambda a: (np.clip(a, -1.0, 1.0) + 1.0) * (MAX_ORDER / 2), single_action_space=single
    )
    model = PPO(
        "MlpPolicy", venv, n_steps=args.n_steps, batch_size=args.batch_size, n_epochs=args.epochs,
        normalize_observation=True, normalize_reward=True, seed=0, device="cpu",
        policy_kwargs={"net_arch": [64, 64]},
    )  # fmt: skip
    model.learn(n * args.n_steps)  # warm-up
    t = time.perf_counter()
    model.learn(n * args.n_steps * args.iterations, reset_num_timesteps=False)
    return n * args.n_steps * args.iterations / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--n-steps", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from rlsuite.files import append_csv

    torch.set_num_threads(1)
    command = "python benchmarks/ppo_inventory_scale.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    rows = []
    for n in args.envs:
        sps = {"sb3 + gym-invmgmt": time_sb3(n, args), "rlsuite": time_ours(n, args)}
        for library, value in sps.items():
            rows.append(
                dict(library=library, n_envs=n, n_steps=args.n_steps, batch_size=args.batch_size,
                     epochs=args.epochs, iterations=args.iterations, steps_per_s=value, command=command)
            )  # fmt: skip
        print(
            f"{n:>4} envs: SB3 + gym-invmgmt {sps['sb3 + gym-invmgmt']:9,.0f} steps/s, rlsuite "
            f"{sps['rlsuite']:9,.0f} steps/s: {sps['rlsuite'] / sps['sb3 + gym-invmgmt']:.1f}x",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    append_csv(args.out / "ppo_inventory_scale.csv", rows, FIELDS)
    return rows


if __name__ == "__main__":
    main()
