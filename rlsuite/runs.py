"""Training and evaluation runs as data, for ``rlsuite train`` / ``rlsuite evaluate`` / ``rlsuite
agents``: an agent named through an allow-list, its keyword arguments from a YAML file, a run
folder with the model, its logs and the resolved configuration; a saved model loaded through
the class its file names (again from the allow-list: a name read from a file is looked up,
never imported).

    rlsuite train PPO CartPole-v1 --config ppo.yaml --steps 100000 --seed 0 --out runs/ppo
    rlsuite train HDPO InvMgmt-v0 --config hdpo.yaml --steps 2000000
    rlsuite train IQL Hopper-v5 --dataset rlsuite/hopper/medium-v0 --steps 100000
    rlsuite evaluate runs/ppo/model.zip CartPole-v1 --episodes 20

A run folder holds ``model.zip``, ``config.yaml`` (the algorithm, env, seed, steps and every
constructor argument after defaults, as the model's own config resolved them), ``result.json``
(training time, evaluation returns) and ``logs/`` (``progress.csv``, and TensorBoard events when
the ``tb`` extra is installed; SB3's keys), unless the config sets its own ``tensorboard_log``.
"""

from __future__ import annotations

import inspect
import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rlsuite.agents.common.config import config_to_json
from rlsuite.agents.common.persistence import policy_kwargs_to_json, read_model_zip
from rlsuite.agents.common.registry import Registry
from rlsuite.sweep import ALGORITHMS
from rlsuite.validation import ArgumentTypeError, check_int, check_mapping, check_seed, short_repr

#: Most bytes of a YAML config file.
MAX_CONFIG_BYTES = 1 << 20
#: Keys of a config file that are not the agent's constructor arguments.
RUN_KEYS = ("policy", "env_kwargs", "total_timesteps", "seed", "eval_episodes")
#: Agents trained on an environment: ``Agent(policy, env, seed=..., **kwargs).learn(steps)`` (the
#: registry :mod:`rlsuite.sweep` trains populations from; ``register_algorithm`` adds one).
ENV_AGENTS: Registry = ALGORITHMS
#: Agents trained on a dataset (Minari id): ``Agent(policy, dataset, seed=..., **kwargs).learn(steps)``
#: with ``steps`` gradient steps.
DATASET_AGENTS = Registry("offline agent")
#: Agents whose data ``rlsuite train`` cannot build (they need logged trajectories, preferences or
#: a population), with what to use instead.
NOT_FROM_CLI = {
    "OPPO": "needs labelled segment pairs: rlsuite.envs.datasets.label_segments, then OPPO(...) in Python",
    "DPO": "learns from logged trajectories: rlsuite.agents.common.logged, then DPO(...) in Python",
    "QRPO": "learns from logged trajectories (see DPO)",
    "RPO": "learns from logged trajectories (see DPO)",
    "DRO": "learns from logged trajectories (see DPO)",
    "CMORL": "a population on Ray: rlsuite.agents.mo.CMORL in Python or benchmarks/cmorl.py",
}


def _register_defaults() -> None:
    from rlsuite.agents import AWAC, IQL, FamO2O

    for cls in (IQL, AWAC, FamO2O):
        DATASET_AGENTS[cls.__name__] = cls


_register_defaults()


def agent_class(name: str) -> type:
    """The registered agent class ``name`` (``ValueError`` listing the names otherwise)."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"algo: got {short_repr(name)}; must be an agent name")
    if name in ENV_AGENTS:
        return ENV_AGENTS[name]
    if name in DATASET_AGENTS:
        return DATASET_AGENTS[name]
    if name in NOT_FROM_CLI:
        raise ValueError(f"algo: {name} cannot be trained by `rlsuite train`: it {NOT_FROM_CLI[name]}")
    raise ValueError(f"algo: got {name!r}; allowed: {sorted([*ENV_AGENTS, *DATASET_AGENTS])}")


def agent_parameters(cls: type) -> dict[str, Any]:
    """The constructor's parameters after ``policy`` and the env or dataset, with their defaults
    (``inspect.Parameter.empty`` for required ones)."""
    params = list(inspect.signature(cls).parameters.values())[2:]  # self, policy, env/dataset
    return {p.name: p.default for p in params if not p.name.startswith("_") and p.kind is not p.VAR_KEYWORD}


def load_run_config(path: str | Path) -> dict[str, Any]:
    """A YAML run config (``yaml.safe_load``, at most :data:`MAX_CONFIG_BYTES`): a mapping of the
    agent's constructor arguments plus :data:`RUN_KEYS`. Keys are checked by :func:`train`."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"config: {str(p)!r} is not a file")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"config: {str(p)!r} is {p.stat().st_size} bytes; the limit is {MAX_CONFIG_BYTES}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"config: {str(p)!r} is not valid YAML ({e})") from e
    if data is None:
        return {}
    return dict(check_mapping(f"config {str(p)!r}", data))


def _split_config(cls: type, config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(run keys, agent kwargs)``; unknown keys raise, naming the allowed ones."""
    allowed = agent_parameters(cls)
    reserved = {"env", "dataset", "preferences", "device_map"} & set(config)
    unknown = sorted(set(config) - set(allowed) - set(RUN_KEYS))
    if unknown or reserved:
        raise ValueError(
            f"config: unknown keys {sorted(set(unknown) | reserved)} for {cls.__name__}; allowed: "
            f"{sorted(RUN_KEYS)} and the constructor's {sorted(allowed)}"
        )
    run = {k: config[k] for k in RUN_KEYS if k in config}
    return run, {k: v for k, v in config.items() if k in allowed}


def _resolved(model: Any, run: dict[str, Any]) -> dict[str, Any]:
    """The run's configuration as the model resolved it (defaults filled in), JSON-ready."""
    cfg = getattr(model, "config", None)
    agent: dict[str, Any] = {}
    if cfg is not None:
        agent = config_to_json(cfg, policy_kwargs_to_json(getattr(cfg, "policy_kwargs", None) or {}))
    return {**run, "agent": agent}


def train(
    algo: str,
    env_id: str,
    *,
    config: Mapping[str, Any] | None = None,
    total_timesteps: int | None = None,
    seed: int | None = None,
    out: str | Path = "runs/run",
    dataset: str | None = None,
    eval_episodes: int | None = None,
    progress_bar: bool = True,
) -> dict[str, Any]:
    """Train ``algo`` on ``env_id`` (or, for an offline agent, on the Minari ``dataset``, scored on
    ``env_id``) and write the run folder ``out`` (module docstring). ``config`` holds the agent's
    constructor arguments and :data:`RUN_KEYS`; the arguments given here override it. Returns the
    result written to ``result.json``."""
    cls = agent_class(algo)
    run, kwargs = _split_config(cls, check_mapping("config", config))
    offline = algo in DATASET_AGENTS
    if offline and dataset is None:
        raise ValueError(
            f"dataset: {algo} learns from a dataset; pass --dataset <Minari id> (rlsuite/hopper/medium-v0)"
        )
    if not offline and dataset is not None:
        raise ValueError(f"dataset: {algo} learns from its env; --dataset is for {sorted(DATASET_AGENTS)}")
    if not isinstance(env_id, str) or env_id not in gym.registry or ":" in env_id:
        raise ValueError(f"env_id: got {short_repr(env_id)}; must be a registered Gymnasium id")
    steps = total_timesteps if total_timesteps is not None else run.get("total_timesteps")
    if steps is None:
        raise ValueError("total_timesteps: not given (pass --steps or set total_timesteps in the config)")
    steps = check_int("total_timesteps", steps, 1)
    seed = check_seed("seed", seed if seed is not None else run.get("seed", 0))
    episodes = check_int(
        "eval_episodes", eval_episodes if eval_episodes is not None else run.get("eval_episodes", 10), 0
    )
    env_kwargs = dict(check_mapping("env_kwargs", run.get("env_kwargs")))
    policy = run.get("policy", "MlpPolicy")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if dataset is not None:
        from rlsuite.envs.datasets import from_minari

        data: Any = from_minari(dataset)
    elif env_kwargs and "env_kwargs" in agent_parameters(cls):
        kwargs["env_kwargs"] = env_kwargs
        data = env_id
    else:
        data = gym.make(env_id, **env_kwargs) if env_kwargs else env_id
    model = cls(policy, data, seed=seed, **kwargs)
    if kwargs.get("tensorboard_log") is None:  # CSV always, TensorBoard when installed (extra `tb`)
        from rlsuite.agents.common.logger import Logger

        formats = ["csv"] + (["tensorboard"] if _has_tensorboard() else [])
        model.set_logger(Logger(out / "logs", (["stdout"] if getattr(model, "verbose", 0) else []) + formats))
    start = time.perf_counter()
    model.learn(steps, progress_bar=progress_bar)
    seconds = time.perf_counter() - start
    model.save(out / "model.zip")
    returns = evaluate_model(model, env_id, episodes, env_kwargs) if episodes else []
    spec = {"algo": algo, "env_id": env_id, "dataset": dataset, "seed": seed, "total_timesteps": steps,
            "policy": policy, "env_kwargs": env_kwargs}  # fmt: skip
    _write_yaml(out / "config.yaml", _resolved(model, spec))
    result = {
        **spec,
        "train_seconds": round(seconds, 2),
        "eval_returns": returns,
        "eval_mean": float(np.mean(returns)) if returns else None,
        "model": str(out / "model.zip"),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    import yaml

    path.write_text(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False))


def evaluate_model(
    model: Any,
    env_id: str,
    episodes: int,
    env_kwargs: Mapping[str, Any] | None = None,
    first_seed: int = 10_000,
) -> list[float]:
    """Returns of ``episodes`` deterministic episodes on reset seeds ``first_seed, first_seed + 1, ...``
    (seeds no training run uses by default)."""
    from rlsuite.evaluation import run_episodes

    env = gym.make(env_id, **(env_kwargs or {}))
    try:
        seeds = range(first_seed, first_seed + check_int("episodes", episodes, 1))
        return [float(e.total_reward) for e in run_episodes(env, model, seeds, deterministic=True)]
    finally:
        env.close()


def load_model(path: str | Path, **kwargs: Any) -> Any:
    """The agent saved at ``path``, loaded by the class its ``data.json`` names, looked up in
    :data:`ENV_AGENTS` / :data:`DATASET_AGENTS` (or OPPO); ``kwargs`` go to ``load``."""
    data, _ = read_model_zip(path, ())
    name = data["class"]
    from rlsuite.agents import OPPO

    known = {**dict(ENV_AGENTS.items()), **dict(DATASET_AGENTS.items()), "OPPO": OPPO}
    if name not in known:
        raise ValueError(f"{path}: holds a {name!r} model; `rlsuite` loads {sorted(known)}")
    return known[name].load(path, **kwargs)


def agents_table() -> list[dict[str, Any]]:
    """One row per agent: name, what it trains on, and its constructor parameters with defaults."""
    rows = []
    for registry, on in ((ENV_AGENTS, "env"), (DATASET_AGENTS, "dataset")):
        for name, cls in registry.items():
            params = {
                k: ("required" if v is inspect.Parameter.empty else _short(v))
                for k, v in agent_parameters(cls).items()
            }
            rows.append({"agent": name, "trains_on": on, "parameters": params})
    for name, why in NOT_FROM_CLI.items():
        rows.append({"agent": name, "trains_on": "python", "parameters": why})
    return rows


def _short(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    return getattr(value, "__name__", None) or type(value).__name__


__all__ = [
    "DATASET_AGENTS",
    "ENV_AGENTS",
    "NOT_FROM_CLI",
    "agent_class",
    "agent_parameters",
    "agents_table",
    "evaluate_model",
    "load_model",
    "load_run_config",
    "train",
]
