"""d3rlpy's IQL on a dataset saved by rlsuite, evaluated as rlsuite evaluates its own IQL; runs INSIDE
the d3rlpy peer venv (``benchmarks/peer_venv.py``, built with ``install_rlsuite=False``: nothing
here imports rlsuite), started by ``benchmarks/offline_rl.py --part iql`` through ``run_in_venv``::

    python benchmarks/peers/d3rlpy_iql.py --data data.npz --env Hopper-v5 --steps 30000 --seed 0 \\
        --out out.json --eval-seeds 5000000 5000001

**Data.** ``--data`` is the ``.npz`` of rlsuite's ``TransitionDataset.save`` (arrays
``observations, actions, rewards, next_observations, terminations, truncations``, ``format_version``
1, the spaces as JSON text), read with ``np.load(allow_pickle=False)``. Episodes are the rows up to
and including each row with ``terminations | truncations``. It becomes a d3rlpy ``MDPDataset`` with
``terminals = terminations`` and ``timeouts = truncations & ~terminations`` (d3rlpy refuses a row
flagged both; a terminated row takes no bootstrap in either library, so the termination wins).
d3rlpy keeps observations only (``next_observation`` is the next row's ``observation``, zeros after
a terminal) and drops the last step of an episode that ends by timeout (it has no next row). So that
d3rlpy trains on exactly rlsuite's transitions, a truncated episode gets one extra row after its
last: observation = that last row's ``next_observations``, action 0, reward 0, flagged ``timeout``
(the real last row is then an ordinary transition bootstrapping from ``V(s')``, as in rlsuite; the
extra row is never sampled as a transition and its reward enters no return). Before that the
runner checks that ``next_observations[t] == observations[t + 1]`` inside every episode, which that
representation needs (exit status 2 otherwise). Arrays keep their dtypes (d3rlpy casts each
minibatch to float32, as rlsuite does).

**Training** (``IQLConfig(...).create(device="cpu:0")``, ``fit`` for exactly ``--steps`` gradient
steps as one epoch, no evaluators, no progress bar, d3rlpy's ``NoopAdapterFactory`` so no log
folder is written; torch one thread). Each setting and where it comes from (``offline_rl.py``'s
``IQL_SETTINGS`` passes the first six to rlsuite's IQL; the rest are rlsuite IQL's defaults,
``agents/offline/iql.py`` and ``base.py``, i.e. the IQL paper's locomotion config):

- ``batch_size`` 256 (``IQL_SETTINGS``);
- ``actor_learning_rate`` = ``critic_learning_rate`` = 3e-4 (``IQL_SETTINGS["learning_rate"]``, one
  rate for both groups in rlsuite), Adam with torch's defaults (betas 0.9/0.999, eps 1e-8, no weight
  decay; rlsuite's Adam is torch's too);
- the actor's rate cosine-annealed to 0 over the ``N`` steps: ``AdamFactory(lr_scheduler_factory=
  CosineAnnealingLRFactory(T_max=N))``, stepped after every actor update, as d3rlpy's own IQL
  reproduction script (``reproductions/offline/iql.py``) does with ``T_max`` = its step count
  (rlsuite: ``actor_lr_schedule="cosine"``, ``0.5 (1 + cos(pi t / N))``); the critics' rate constant;
- ``expectile`` 0.7, ``weight_temp`` 3.0 (rlsuite's ``beta``), ``max_weight`` 100.0, ``tau`` 0.005
  (``IQL_SETTINGS``);
- ``gamma`` 0.99, ``n_critics`` 2 (rlsuite's defaults);
- actor, critics and V: ``VectorEncoderFactory(hidden_units=[256, 256], activation="relu")`` (rlsuite:
  MLPs 256x256 ReLU; also d3rlpy's default); d3rlpy's actor is, like rlsuite's, a Gaussian with a
  tanh mean and a state-independent log-std in [-5, 2];
- rewards scaled by ``1000 / (max episode return - min episode return)``:
  ``ReturnBasedRewardScaler(multiplier=1000.0)``, fitted on the dataset by d3rlpy (its returns sum
  each episode's transitions, which with the extra rows above are exactly rlsuite's episodes; rlsuite:
  ``reward_scale=return_range_scale(dataset)``);
- no observation scaler (rlsuite's IQL normalises nothing) and no action scaler when the action
  space is ``[-1, 1]`` (Hopper, HalfCheetah, Walker2d); other bounds get ``MinMaxActionScaler`` with
  the space's bounds (rlsuite maps the actions to ``[-1, 1]`` the same way);
- seed: ``d3rlpy.seed(S)`` (Python, NumPy, torch; d3rlpy 2.8.1's ``IQLConfig`` has no seed field, and
  d3rlpy samples minibatches with NumPy's global RNG).

What stays d3rlpy's own (no setting reaches it): d3rlpy updates Q and V first and then the actor
with the new V (rlsuite takes one step on the summed losses of the pre-step networks); its log-std
is a sigmoid-squashed parameter starting at -1.5 (rlsuite clamps one starting at 0); torch's default
initialisation (rlsuite: orthogonal); minibatches drawn with replacement from NumPy's RNG, one
transition at a time (rlsuite: a torch generator); scaled rewards computed in float32 as
``1000 r / (R_max - R_min)`` (rlsuite: ``r * (1000 / (R_max - R_min))``; the two differ by float32
rounding only, at most about 1e-7 relative).

**Evaluation**, as ``offline_rl.py`` evaluates rlsuite's IQL: one ``gymnasium.make(env)``, per eval
seed ``reset(seed=s)`` and the greedy action ``algo.predict(obs[None])[0]`` (the Gaussian's tanh
mean, clipped to the action space) until terminated or truncated; the return is the undiscounted sum
of rewards.

Writes ``--out`` (JSON): ``returns`` (one per eval seed, in order), ``steps``, ``wall_s`` (the whole
run), ``train_wall_s`` (``fit`` only), ``eval_wall_s``, ``d3rlpy_version``, ``gymnasium_version``,
``eval_seeds`` and ``settings`` (the above, plus the fitted ``return_min``/``return_max``, the
resulting ``reward_scale`` and the counts of episodes, transitions and extra rows).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import d3rlpy
import gymnasium as gym
import numpy as np
import structlog
import torch

#: The arrays of rlsuite's dataset ``.npz`` (``agents/common/datasets.py``) and its layout version.
ARRAY_FIELDS = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")
DATASET_FORMAT_VERSION = 1
#: IQL's locomotion settings (module docstring: where each comes from).
BATCH_SIZE = 256
LEARNING_RATE = 3e-4
EXPECTILE = 0.7
WEIGHT_TEMP = 3.0
MAX_WEIGHT = 100.0
TAU = 0.005
GAMMA = 0.99
N_CRITICS = 2
HIDDEN_UNITS = [256, 256]
REWARD_MULTIPLIER = 1000.0


def fail(message: str) -> NoReturn:
    """Exit with status 2 and ``message`` on stderr (input this runner cannot use)."""
    print(f"d3rlpy_iql: {message}", file=sys.stderr)
    sys.exit(2)


def load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays of a ``TransitionDataset.save`` file and its action space (parsed JSON)."""
    with np.load(path, allow_pickle=False) as data:
        missing = {*ARRAY_FIELDS, "format_version", "action_space"} - set(data.files)
        if missing:
            fail(f"{path}: missing arrays {sorted(missing)}; not a TransitionDataset.save file")
        version = int(data["format_version"])
        if version != DATASET_FORMAT_VERSION:
            fail(f"{path}: format_version {version}; this runner reads {DATASET_FORMAT_VERSION}")
        arrays = {name: np.asarray(data[name]) for name in ARRAY_FIELDS}
        action_text = str(data["action_space"])
    action_space = json.loads(action_text) if action_text else {}
    if action_space.get("type") != "Box":
        fail(f"action_space: got {action_space.get('type')!r}; d3rlpy's IQL needs Box actions")
    if arrays["rewards"].ndim != 1:
        fail(f"rewards: got shape {arrays['rewards'].shape}; IQL needs scalar rewards")
    for name in ("terminations", "truncations"):
        if arrays[name].dtype != bool:
            fail(f"{name}: got dtype {arrays[name].dtype}; must be bool")
    return arrays, action_space


def build_dataset(arrays: dict[str, np.ndarray]) -> tuple[d3rlpy.dataset.MDPDataset, dict[str, int]]:
    """A d3rlpy ``MDPDataset`` holding exactly the dataset's transitions (module docstring: one extra
    row after each truncated episode) and the counts ``episodes, transitions, extra_rows``."""
    obs, next_obs = arrays["observations"], arrays["next_observations"]
    terminated = arrays["terminations"]
    ends = terminated | arrays["truncations"]
    if not ends[-1]:
        fail("terminations/truncations: the last episode is not closed")
    # Inside an episode the next observation must be the next row's observation.
    inside = ~ends[:-1]
    if not np.array_equal(next_obs[:-1][inside], obs[1:][inside]):
        bad = int(np.nonzero(inside & np.any(next_obs[:-1] != obs[1:], axis=1))[0][0])
        fail(f"next_observations[{bad}] differs from observations[{bad + 1}] inside an episode")
    cut = np.nonzero(ends & ~terminated)[0]  # last rows of the episodes that end by timeout only
    at: np.ndarray = cut + 1  # insert after each of them
    actions = arrays["actions"]
    observations = np.insert(obs, at, next_obs[cut], axis=0)
    new_actions = np.insert(actions, at, np.zeros((len(cut), *actions.shape[1:]), actions.dtype), axis=0)
    rewards: np.ndarray = np.insert(arrays["rewards"], at, 0.0)
    terminals: np.ndarray = np.insert(terminated, at, False)
    timeouts: np.ndarray = np.insert(np.zeros_like(terminated), at, True)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=observations,
        actions=new_actions,
        rewards=rewards,
        terminals=terminals.astype(np.float32),
        timeouts=timeouts.astype(np.float32),
        action_space=d3rlpy.ActionSpace.CONTINUOUS,
        action_size=int(np.prod(actions.shape[1:])),
    )
    counts = dict(episodes=int(ends.sum()), transitions=len(obs), extra_rows=len(cut))
    if dataset.transition_count != len(obs):  # the representation must keep every transition
        fail(f"d3rlpy holds {dataset.transition_count} transitions; the dataset has {len(obs)}")
    return dataset, counts


def make_config(steps: int, action_space: dict[str, Any]) -> d3rlpy.algos.IQLConfig:
    """``IQLConfig`` with IQL's locomotion settings (module docstring)."""
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=list(HIDDEN_UNITS), activation="relu")
    low, high = np.asarray(action_space["low"], np.float64), np.asarray(action_space["high"], np.float64)
    unit_box = bool(np.all(low == -1.0) and np.all(high == 1.0))
    action_scaler = None if unit_box else d3rlpy.preprocessing.MinMaxActionScaler(minimum=low, maximum=high)
    return d3rlpy.algos.IQLConfig(
        batch_size=BATCH_SIZE,
        gamma=GAMMA,
        actor_learning_rate=LEARNING_RATE,
        critic_learning_rate=LEARNING_RATE,
        actor_optim_factory=d3rlpy.optimizers.AdamFactory(
            lr_scheduler_factory=d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=steps)
        ),
        critic_optim_factory=d3rlpy.optimizers.AdamFactory(),
        actor_encoder_factory=encoder,
        critic_encoder_factory=encoder,
        value_encoder_factory=encoder,
        tau=TAU,
        n_critics=N_CRITICS,
        expectile=EXPECTILE,
        weight_temp=WEIGHT_TEMP,
        max_weight=MAX_WEIGHT,
        reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=REWARD_MULTIPLIER),
        observation_scaler=None,
        action_scaler=action_scaler,
        compile_graph=False,
    )


def evaluate(algo: Any, env_id: str, seeds: list[int]) -> list[float]:
    """Undiscounted return of one greedy episode per reset seed on one ``gymnasium.make(env_id)``."""
    env = gym.make(env_id)
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        fail(f"{env_id}: action space {space!r}; d3rlpy's IQL needs Box actions")
    low, high = space.low, space.high
    returns = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = np.clip(algo.predict(np.asarray(obs)[None])[0], low, high)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="TransitionDataset.save .npz")
    parser.add_argument("--env", required=True, help="gymnasium env id of the evaluation, e.g. Hopper-v5")
    parser.add_argument("--steps", type=int, required=True, help="gradient steps")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--eval-seeds", type=int, nargs="+", required=True, help="one episode per seed")
    args = parser.parse_args(argv)
    if args.steps < 1:
        fail(f"--steps: got {args.steps}; must be >= 1")
    start = time.perf_counter()
    torch.set_num_threads(1)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    arrays, action_space = load_npz(args.data)
    dataset, counts = build_dataset(arrays)
    d3rlpy.seed(args.seed)
    config = make_config(args.steps, action_space)
    algo = config.create(device="cpu:0")
    t = time.perf_counter()
    algo.fit(
        dataset,
        n_steps=args.steps,
        n_steps_per_epoch=args.steps,
        experiment_name="d3rlpy_iql",
        with_timestamp=False,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
        show_progress=False,
        save_interval=args.steps + 1,  # never: one epoch
    )
    train_wall = time.perf_counter() - t
    t = time.perf_counter()
    returns = evaluate(algo, args.env, args.eval_seeds)
    eval_wall = time.perf_counter() - t

    scaler = algo.reward_scaler
    assert scaler is not None and scaler.return_max is not None and scaler.return_min is not None
    settings = dict(
        batch_size=BATCH_SIZE,
        actor_learning_rate=LEARNING_RATE,
        critic_learning_rate=LEARNING_RATE,
        actor_lr_schedule=f"CosineAnnealingLR(T_max={args.steps})",
        optimizer="Adam(betas=(0.9, 0.999), eps=1e-8)",
        expectile=EXPECTILE,
        weight_temp=WEIGHT_TEMP,
        max_weight=MAX_WEIGHT,
        tau=TAU,
        gamma=GAMMA,
        n_critics=N_CRITICS,
        hidden_units=list(HIDDEN_UNITS),
        reward_scaler=f"ReturnBasedRewardScaler(multiplier={REWARD_MULTIPLIER})",
        return_min=scaler.return_min,
        return_max=scaler.return_max,
        reward_scale=REWARD_MULTIPLIER / (scaler.return_max - scaler.return_min),
        observation_scaler=None,
        action_scaler=None if config.action_scaler is None else "MinMaxActionScaler(action space bounds)",
        device="cpu:0",
        seed=args.seed,
        **counts,
    )
    result = dict(
        returns=returns,
        steps=args.steps,
        wall_s=time.perf_counter() - start,
        train_wall_s=train_wall,
        eval_wall_s=eval_wall,
        d3rlpy_version=importlib.metadata.version("d3rlpy"),
        gymnasium_version=gym.__version__,
        env=args.env,
        eval_seeds=args.eval_seeds,
        settings=settings,
    )
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
