"""One morl-baselines run (PGMORL, GPI-LS or CAPQL) on one env and seed, its final population
evaluated the way rlsuite evaluates C-MORL; runs INSIDE the morl-baselines peer venv
(``benchmarks/peer_venv.py``), started by the benchmark through ``run_in_venv``::

    python benchmarks/peers/morl_baselines_front.py --algo pgmorl --env mo-hopper-2obj-v5 \\
        --steps 200000 --seed 0 --eval-seeds 0 1 2 3 4 --ref -100 -100 --out front.json

Training: the algorithm's constructor defaults except where the step budget ``N`` forces a change
(below), ``log=False`` and ``WANDB_MODE=disabled`` (no wandb), ``device="cpu"``, seeded with
morl-baselines' ``seed_everything(seed)`` and the algorithm's ``seed=``. The env steps actually
taken are reported (``env_steps``); the algorithms' own evaluation episodes during training are
counted apart (``algo_eval_env_steps``).

- **PGMORL** (``env_id=``, ``origin=ref``): one iteration trains each of ``pop_size`` MOPPO agents
  on ``num_envs * steps_per_iteration`` steps, and PGMORL runs ``warmup + evolutionary``
  iterations at least. Defaults: 4 envs, population 6, 2048 steps per env, 80 warm-up and 20
  evolutionary iterations (about 5M steps). Scaled: 4 envs and population 6 kept;
  ``steps_per_iteration = min(512, N // (4 * 6 * 5))`` (512 per env in 128-step minibatches is
  the MOPPO rollout rlsuite's C-MORL uses in ``benchmarks/cmorl.py``, so the two PPO inner loops
  match; the cap of ``N // 120`` keeps at least 5 iterations); iterations
  ``T = N // (24 * steps_per_iteration)`` split 80/20 as the defaults (``warmup = round(0.8 T)``,
  ``evolutionary = T - warmup``: one evolutionary generation, as the defaults at about 5M);
  ``num_minibatches = 4 * steps_per_iteration // 128``. ``delta_weight`` 0.2 in 2-D (6 initial
  weights, one per agent, as the defaults) and 0.5 in 3-D (the 6 weights of the 3-D grid with
  step 0.5; 0.2 would give 21, of which the 6 agents would take the first 6, all with
  ``w0 = 0``). Train: ``train(N, eval_env=mo_gymnasium.make(env), ref_point=ref)``, as
  morl-baselines' own launcher calls it. Final population: the Pareto archive's policies (kept by
  PGMORL's own evaluation: 5 episodes, raw observations, sampled actions, discounted).
- **GPI-LS** (``GPILSContinuousAction``, TD3-based, model-free GPI-PD): defaults (20 gradient
  updates per step, PER, batch 128, 256-256 nets) except ``timesteps_per_iter = min(10000,
  N // 10)`` (at least 10 weight-selection iterations; the default 10000 gives fewer than 10 below
  100k steps) and ``checkpoints=False``. GPI-LS stops early when linear support has no corner
  weight left. Final population: the policy at each weight of the grid below.
- **CAPQL** (SAC conditioned on the weight): defaults; trains exactly ``N`` steps. Final
  population: the policy at each weight of the grid.

The grid: :func:`rlsuite.pareto.simplex_weights` with 10 divisions in 2-D (11 weights) and 5 in
3-D (21 weights).

Evaluation, as rlsuite's (:func:`rlsuite.evaluation.vector_returns`, which this calls): a fresh env
per policy (``mo_gymnasium.make`` for MO-Gymnasium ids, ``gymnasium.make`` for rlsuite's, e.g.
``MOInvMgmt-v0``), ``reset(seed=s)`` for each eval seed, the greedy action until terminated or
truncated, the vector rewards summed undiscounted; a point is the mean over the eval seeds. Greedy
actions: PGMORL's Gaussian mean (its own ``eval`` samples), the observation normalised with the
running statistics of the training envs' ``NormalizeObservation`` (pooled over the envs, as they
stand at the end of training: every agent shares those envs) and clipped to +-10, the action
clipped to the action space (its ``ClipAction`` wrapper); GPI-LS's deterministic actor
(``eval(obs, w)``, GPI off as morl-baselines evaluates it); CAPQL's ``tanh`` of the mean
(``eval(obs, w)``).

Writes ``--out`` (JSON): ``algo, env, seed, env_steps, wall_s, points, morl_baselines_version``
plus ``weights`` (each point's weight: the one the PGMORL agent last trained with, or the
grid's), ``settings``, ``train_wall_s``, ``eval_wall_s``, ``algo_eval_env_steps``, ``eval_seeds``
and ``ref``. An algorithm that cannot run on the env (discrete actions; PGMORL with other than 2
or 3 objectives) exits with status 2 and a message on stderr.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import gymnasium as gym
import mo_gymnasium
import numpy as np
import torch

import rlsuite  # noqa: F401  (registers rlsuite's env ids, e.g. MOInvMgmt-v0)
from rlsuite.evaluation import vector_returns
from rlsuite.pareto import simplex_weights

ALGOS = ("pgmorl", "gpi_ls", "capql")
Policy = Callable[[np.ndarray], np.ndarray]
"""A greedy policy: observation -> action."""
#: PGMORL's defaults kept at every budget: envs per agent and agents.
PGMORL_ENVS, PGMORL_POPULATION = 4, 6
#: Fewest PGMORL iterations (4 warm-up and 1 evolutionary at the smallest budgets).
PGMORL_MIN_ITERATIONS = 5
#: Most steps per env per iteration (PGMORL's default 2048): rlsuite's C-MORL MOPPO rollout.
PGMORL_MAX_STEPS_PER_ITERATION = 512
#: PPO minibatch size (rlsuite's C-MORL MOPPO): ``num_minibatches`` is the rollout over this.
PPO_MINIBATCH = 128


class StepCounter(gym.Wrapper):
    """Counts ``step`` calls (the algorithms' own evaluation episodes during training)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0

    def step(self, action: Any) -> Any:
        self.steps += 1
        return self.env.step(action)


def is_rlsuite_id(env_id: str) -> bool:
    """True for an id rlsuite registers (its entry point lives in rlsuite)."""
    entry = gym.registry[env_id].entry_point
    return isinstance(entry, str) and entry.startswith("rlsuite")


def make_env(env_id: str) -> gym.Env:
    """A fresh env: ``gymnasium.make`` for rlsuite's ids, ``mo_gymnasium.make`` for MO-Gymnasium's."""
    return gym.make(env_id) if is_rlsuite_id(env_id) else mo_gymnasium.make(env_id)


def without_rgb_render(env_id: str) -> str:
    """An id for ``env_id`` that accepts and ignores ``render_mode``: PGMORL's MOPPO builds its first
    training env with ``render_mode="rgb_array"`` (it never renders), which envs without that mode
    (rlsuite's inventory envs) refuse. Returns ``env_id`` itself when it has the mode."""
    probe = make_env(env_id)
    render_modes = probe.metadata.get("render_modes", [])
    probe.close()
    if "rgb_array" in render_modes:
        return env_id
    alias = f"morl_peer/{env_id}"
    if alias not in gym.registry:

        def make_ignoring_render_mode(render_mode: str | None = None, **kwargs: Any) -> gym.Env:
            return gym.make(env_id, **kwargs)

        gym.register(alias, entry_point=make_ignoring_render_mode, disable_env_checker=True)
    return alias


def cannot_run(algo: str, env_id: str, reason: str) -> NoReturn:
    """Exit with status 2: ``algo`` does not apply to ``env_id``."""
    print(f"morl_baselines_front: {algo} cannot run on {env_id}: {reason}", file=sys.stderr)
    raise SystemExit(2)


def weight_grid(n_objectives: int) -> np.ndarray:
    """``[m, k]`` evenly spaced weights: 11 in 2-D, 21 in 3-D (``simplex_weights``)."""
    return simplex_weights(n_objectives, 10 if n_objectives == 2 else 5)


def pgmorl_settings(steps: int, n_objectives: int) -> dict[str, Any]:
    """PGMORL's constructor arguments for a budget of ``steps`` env steps (module docstring)."""
    per_env = min(
        PGMORL_MAX_STEPS_PER_ITERATION, steps // (PGMORL_ENVS * PGMORL_POPULATION * PGMORL_MIN_ITERATIONS)
    )
    if per_env < 16:
        raise ValueError(
            f"--steps {steps} is too small for PGMORL: {PGMORL_MIN_ITERATIONS} iterations of "
            f"{PGMORL_POPULATION} agents x {PGMORL_ENVS} envs x 16 steps need "
            f"{PGMORL_MIN_ITERATIONS * PGMORL_POPULATION * PGMORL_ENVS * 16}"
        )
    iterations = steps // (PGMORL_ENVS * PGMORL_POPULATION * per_env)
    warmup = max(1, round(0.8 * iterations))
    return dict(
        num_envs=PGMORL_ENVS,
        pop_size=PGMORL_POPULATION,
        steps_per_iteration=per_env,
        warmup_iterations=warmup,
        evolutionary_iterations=max(1, iterations - warmup),
        num_minibatches=max(1, PGMORL_ENVS * per_env // PPO_MINIBATCH),
        delta_weight=0.2 if n_objectives == 2 else 0.5,
    )


def observation_normaliser(vector_env: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """``(mean, var, epsilon)`` of the ``NormalizeObservation`` wrappers of MOPPO's training envs,
    pooled over the envs (equal counts: they step together)."""
    stats = []
    for env in vector_env.envs:
        while not isinstance(env, gym.wrappers.NormalizeObservation):
            env = env.env
        stats.append((env.obs_rms.mean, env.obs_rms.var, env.epsilon))
    means = np.stack([s[0] for s in stats])
    mean = means.mean(0)
    var = np.mean([s[1] + (m - mean) ** 2 for s, m in zip(stats, means, strict=True)], axis=0)
    return mean, var, stats[0][2]


def pgmorl_policy(agent: Any, action_space: gym.spaces.Box) -> Policy:
    """The greedy policy of one PGMORL (MOPPO) agent: normalise and clip the observation as its
    training envs did, take the Gaussian mean, clip it to the action space."""
    mean, var, eps = observation_normaliser(agent.envs)
    scale = np.sqrt(var + eps)
    actor = agent.networks.actor_mean

    def act(obs: np.ndarray) -> np.ndarray:
        x = np.clip(np.float32((obs - mean) / scale), -10.0, 10.0)
        with torch.no_grad():
            action = actor(torch.as_tensor(x, dtype=torch.float32).unsqueeze(0))[0].numpy()
        return np.clip(action, action_space.low, action_space.high)

    return act


def train_pgmorl(
    env_id: str,
    steps: int,
    seed: int,
    ref: np.ndarray,
    action_space: gym.spaces.Box,
    settings: dict[str, Any],
) -> tuple[list[Policy], np.ndarray, int, int]:
    """Train PGMORL with ``settings`` (:func:`pgmorl_settings`); return its archive's greedy
    policies, their weights, the training env steps and the evaluation steps PGMORL took."""
    from morl_baselines.multi_policy.pgmorl.pgmorl import PGMORL

    agent = PGMORL(
        env_id=without_rgb_render(env_id), origin=ref, seed=seed, log=False, device="cpu", **settings
    )
    eval_env = StepCounter(mo_gymnasium.make(env_id))
    agent.train(total_timesteps=steps, eval_env=eval_env, ref_point=ref)
    members = agent.archive.individuals
    policies = [pgmorl_policy(member, action_space) for member in members]
    weights = np.array([member.np_weights for member in members], dtype=np.float64)
    return policies, weights, int(agent.global_step), eval_env.steps


def train_weight_conditioned(
    algo: str, env_id: str, steps: int, seed: int, ref: np.ndarray
) -> tuple[list[Policy], np.ndarray, int, int, dict[str, Any]]:
    """Train GPI-LS or CAPQL (one policy conditioned on the weight); return the greedy policy at
    each weight of :func:`weight_grid`, the weights, the training env steps, the evaluation steps
    the algorithm took, and the settings."""
    env = make_env(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    eval_env = StepCounter(make_env(env_id))
    eval_env.reset(seed=seed + 10_000)
    if algo == "gpi_ls":
        from morl_baselines.multi_policy.gpi_pd.gpi_pd_continuous_action import GPILSContinuousAction

        settings: dict[str, Any] = dict(
            timesteps_per_iter=min(10_000, max(1, steps // 10)), checkpoints=False
        )
        agent: Any = GPILSContinuousAction(env, seed=seed, log=False, device="cpu")
        agent.train(total_timesteps=steps, eval_env=eval_env, ref_point=ref, **settings)
    else:
        from morl_baselines.multi_policy.capql.capql import CAPQL

        settings = {}
        agent = CAPQL(env, seed=seed, log=False, device="cpu")
        agent.train(total_timesteps=steps, eval_env=eval_env, ref_point=ref)
    weights = weight_grid(len(ref))

    def policy_at(w: np.ndarray) -> Policy:
        return lambda obs: agent.eval(np.asarray(obs), w)

    return [policy_at(w) for w in weights], weights, int(agent.global_step), eval_env.steps, settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=ALGOS, required=True)
    parser.add_argument("--env", required=True, help="an MO-Gymnasium or rlsuite env id")
    parser.add_argument("--steps", type=int, required=True, help="total training env steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--ref", type=float, nargs="+", required=True, help="reference point, one per objective"
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    os.environ["WANDB_MODE"] = "disabled"
    torch.set_num_threads(1)
    if args.steps < 1:
        parser.error(f"--steps: got {args.steps}; must be positive")
    if args.env not in gym.registry:
        parser.error(f"--env: got {args.env!r}; not a registered MO-Gymnasium or rlsuite id")

    probe = make_env(args.env)
    action_space, reward_space = probe.action_space, getattr(probe.unwrapped, "reward_space", None)
    probe.close()
    if reward_space is None:
        cannot_run(args.algo, args.env, "not a multi-objective env (no reward_space)")
    n_objectives = reward_space.shape[0]
    if len(args.ref) != n_objectives:
        parser.error(f"--ref: got {len(args.ref)} values; {args.env} has {n_objectives} objectives")
    if not isinstance(action_space, gym.spaces.Box):
        cannot_run(args.algo, args.env, f"needs continuous (Box) actions; the env has {action_space}")
    if args.algo == "pgmorl" and n_objectives not in (2, 3):
        cannot_run(args.algo, args.env, f"supports 2 or 3 objectives; the env has {n_objectives}")
    if args.algo == "pgmorl":
        try:
            settings = pgmorl_settings(args.steps, n_objectives)
        except ValueError as e:
            cannot_run(args.algo, args.env, str(e))

    from morl_baselines.common.evaluation import seed_everything

    seed_everything(args.seed)
    ref = np.array(args.ref, dtype=np.float64)
    start = time.perf_counter()
    if args.algo == "pgmorl":
        policies, weights, env_steps, algo_eval_steps = train_pgmorl(
            args.env, args.steps, args.seed, ref, action_space, settings
        )
    else:
        policies, weights, env_steps, algo_eval_steps, settings = train_weight_conditioned(
            args.algo, args.env, args.steps, args.seed, ref
        )
    train_wall = time.perf_counter() - start
    points = [vector_returns(make_env(args.env), act, args.eval_seeds).mean(0).tolist() for act in policies]
    wall = time.perf_counter() - start
    result = {
        "algo": args.algo,
        "env": args.env,
        "seed": args.seed,
        "env_steps": env_steps,
        "wall_s": round(wall, 2),
        "points": points,
        "morl_baselines_version": importlib.metadata.version("morl-baselines"),
        "weights": weights.tolist(),
        "settings": settings,
        "train_wall_s": round(train_wall, 2),
        "eval_wall_s": round(wall - train_wall, 2),
        "algo_eval_env_steps": algo_eval_steps,
        "eval_seeds": args.eval_seeds,
        "ref": args.ref,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.algo} on {args.env}: {env_steps} env steps, {len(points)} points, {wall:.0f} s")


if __name__ == "__main__":
    main()
