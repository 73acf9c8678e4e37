"""Hyperparameter sweeps on Ray Tune for any registered agent: a search space written as data, each
trial trained on several seeds, ASHA stopping poor trials early with the seeds as its resource.

A search space is data (a dict, or the ``search:`` block of a YAML file read with ``yaml.safe_load``):
each entry maps an agent kwarg to one distribution of an allow-list, or to a constant. A dotted name
reaches into a nested kwarg (``policy_kwargs.net_arch`` sets ``agent_kwargs["policy_kwargs"]["net_arch"]``)::

    search:
      learning_rate: {loguniform: [1.0e-4, 1.0e-2]}     # tune.loguniform(1e-4, 1e-2)
      clip_range: {grid: [0.1, 0.2]}                    # tune.grid_search: every value, in every sample
      n_epochs: {choice: [4, 10]}                       # tune.choice
      ent_coef: {uniform: [0.0, 0.01]}                  # tune.uniform
      n_steps: {randint: [64, 257]}                     # tune.randint: high exclusive, as in Tune
      gae_lambda: {quniform: [0.9, 1.0, 0.01]}          # tune.quniform(low, high, q)
      policy_kwargs.net_arch: {choice: [[64, 64], [256, 256]]}
      gamma: 0.99                                       # a constant

Names of the file are looked up, never imported or called: the algorithm through
:data:`rlsuite.sweep.ALGORITHMS`, the policy and activations through the agents' registries. Values of
``choice`` and ``grid`` travel through Tune as indices into the list and are mapped back in the trial,
so nothing in a value can be read by Tune as a directive (Tune evaluates a ``{eval: "..."}`` dict
found in a search space).

Running a sweep::

    from rlsuite.tune import hyperparameter_sweep, load_sweep_config

    config = load_sweep_config("examples/sweeps/ppo_cartpole.yaml")    # the keyword arguments below
    result = hyperparameter_sweep("PPO", "CartPole-v1", **config, num_workers=4, out_dir="runs/ppo")
    result.best_config            # fixed + the best trial's sampled kwargs: PPO("MlpPolicy", env, **it)
    result.trials                 # one dict per trial: sampled kwargs, per-seed returns, mean, wall time

A trial trains the agent once per seed of ``seeds`` with the built-in job
:func:`~rlsuite.sweep.train_agent` (one torch thread, the global generators seeded from the seed, as
:func:`~rlsuite.sweep.run_jobs` runs it), so a trial's return on a seed equals ``train_agent`` run
directly with the same kwargs and seed. After each seed it reports the running mean over the seeds
done of each seed's mean evaluation return (``mean_return``) and the worst seed's (``min_return``);
``training_iteration`` counts the seeds, so ``scheduler="asha"`` can stop a poor trial after 1, 2, 4,
... seeds. Tune's sampling is seeded from ``seed``: the same config gives the same trials.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlsuite.files import atomic_write, write_csv
from rlsuite.progress import format_table
from rlsuite.sweep import (
    ALGORITHMS,
    Job,
    _call_job,
    _check_env_id,
    _job_function,
    _json_data,
    _lookup,
    _registry_snapshot,
)
from rlsuite.validation import (
    MAX_SEED,
    ArgumentTypeError,
    check_choice,
    check_int,
    check_mapping,
    check_optional_str,
    check_seeds,
    is_int,
    is_real,
    short_repr,
)

DISTRIBUTIONS = ("choice", "grid", "uniform", "loguniform", "randint", "quniform")
"""Distribution names a search space may use (see the module docstring for their Tune equivalents)."""
SCHEDULERS = ("fifo", "asha")
"""``"fifo"``: every trial runs all its seeds; ``"asha"``: Tune's ASHA with the seeds as the resource."""
METRICS = ("mean_return", "min_return")
"""What a trial reports after each seed: the mean, or the worst, over its seeds of each seed's mean
evaluation return."""
MODES = ("max", "min")
CONFIG_KEYS = (
    "search",
    "fixed",
    "total_timesteps",
    "seeds",
    "eval_seeds",
    "num_samples",
    "scheduler",
    "metric",
    "mode",
    "env_kwargs",
    "policy",
)
"""Top-level keys of a sweep config file (:func:`load_sweep_config`); the keyword arguments of
:func:`hyperparameter_sweep` of the same names."""
RESERVED_NAMES = ("env", "policy", "seed")
"""Agent arguments a sweep sets itself: neither searched nor fixed."""
MAX_CONFIG_BYTES = 2**20
"""Largest sweep config file read."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


class TrialError(RuntimeError):
    """A trial of a sweep failed; the message names the trial and its sampled kwargs, and the trial's
    error is the ``__cause__``."""


# ---------------------------------------------------------------------------- the search space
def _check_name(field: str, name: Any) -> str:
    if not isinstance(name, str):
        raise ArgumentTypeError(f"{field}: key {short_repr(name)} is not a string; names are agent kwargs")
    if not _NAME.match(name):
        raise ValueError(
            f"{field}: name {name!r} is not an agent kwarg; a name is an identifier, or identifiers joined "
            "by dots for nested kwargs (policy_kwargs.net_arch)"
        )
    if name.split(".")[0] in RESERVED_NAMES:
        raise ValueError(
            f"{field}: name {name!r} is reserved; the sweep sets {list(RESERVED_NAMES)} itself (each "
            "trial's seeds, the sweep's env and policy)"
        )
    return name


def _check_bounds(field: str, dist: str, args: Any) -> list[Any]:
    """``[low, high]`` (``[low, high, q]`` for quniform): real numbers (integers for randint), low < high."""
    shape = "[low, high, q]" if dist == "quniform" else "[low, high]"
    kind = "integers" if dist == "randint" else "finite numbers"
    if not isinstance(args, (list, tuple)):
        raise ArgumentTypeError(f"{field}: {dist} got {short_repr(args)}; must be a list {shape} of {kind}")
    if len(args) != shape.count(",") + 1:
        raise ValueError(f"{field}: {dist} got {short_repr(args)}; must be a list {shape} of {kind}")
    numeric = is_int if dist == "randint" else is_real
    if not all(numeric(a) and math.isfinite(a) for a in args):
        hint = " (YAML reads 1e-4 as a string: write 1.0e-4)" if any(isinstance(a, str) for a in args) else ""
        raise ArgumentTypeError(
            f"{field}: {dist} got {short_repr(args)}; must be a list {shape} of {kind}{hint}"
        )
    bounds = [int(a) if dist == "randint" else float(a) for a in args]
    low, high = bounds[0], bounds[1]
    if low >= high:
        exclusive = " (high is exclusive)" if dist == "randint" else ""
        raise ValueError(f"{field}: {dist} got {short_repr(args)}; low must be < high{exclusive}")
    if dist == "loguniform" and low <= 0:
        raise ValueError(f"{field}: loguniform got {short_repr(args)}; the bounds must be > 0")
    if dist == "quniform":
        q = bounds[2]
        if q <= 0:
            raise ValueError(f"{field}: quniform got {short_repr(args)}; q must be > 0")
        if math.floor(high / q + 1e-9) < math.ceil(low / q - 1e-9):
            raise ValueError(
                f"{field}: quniform got {short_repr(args)}; no multiple of q lies in [low, high]"
            )
    return bounds


def _check_distribution(field: str, entry: Any) -> tuple[str, Any]:
    """One search entry as ``(distribution, args)``; a plain value is ``("constant", value)``."""
    if not isinstance(entry, Mapping):
        return "constant", _json_data(field, entry)
    if len(entry) != 1:
        raise ValueError(
            f"{field}: got {short_repr(entry)}; a distribution is a dict with one key, one of "
            f"{list(DISTRIBUTIONS)} (a constant is a plain value, not a dict)"
        )
    ((dist, args),) = entry.items()
    if dist not in DISTRIBUTIONS:
        raise ValueError(
            f"{field}: unknown distribution {short_repr(dist)}; allowed: {list(DISTRIBUTIONS)} (or a plain "
            "value for a constant)"
        )
    if dist in ("choice", "grid"):
        if not isinstance(args, (list, tuple)):
            raise ArgumentTypeError(
                f"{field}: {dist} got {short_repr(args)}; must be a non-empty list of values"
            )
        if not args:
            raise ValueError(f"{field}: {dist} got an empty list; must be a non-empty list of values")
        return dist, _json_data(f"{field}.{dist}", list(args))
    return dist, _check_bounds(field, dist, args)


def _nested_paths(prefix: str, value: Any) -> list[str]:
    """Dotted paths of every key of a nested dict (``{"a": {"b": 1}}`` -> ``["a", "a.b"]``)."""
    if not isinstance(value, Mapping):
        return []
    out = []
    for k, v in value.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        out += [path, *_nested_paths(path, v)]
    return out


def _check_fixed(fixed: Any) -> dict[str, Any]:
    fixed = _json_data("fixed", check_mapping("fixed", fixed))
    for name in fixed:
        if not name.isidentifier():
            raise ValueError(
                f"fixed: key {name!r} is not an agent kwarg; fixed holds the agent's kwargs as they are, "
                "nested kwargs as dicts ({policy_kwargs: {net_arch: [64, 64]}})"
            )
        if name in RESERVED_NAMES:
            raise ValueError(
                f"fixed: has {name!r}; the sweep sets {list(RESERVED_NAMES)} itself (each trial's seeds, "
                "the sweep's env and policy)"
            )
    return fixed


def check_search_space(search: Any, fixed: Any = None) -> dict[str, tuple[str, Any]]:
    """Validate a search space (see the module docstring) against the constant kwargs ``fixed``.

    Returns ``{name: (distribution, args)}`` in the order of ``search``: ``distribution`` is one of
    :data:`DISTRIBUTIONS` or ``"constant"``; bounds as floats (integers for randint), values as JSON
    data. Raises ``ValueError`` (``ArgumentTypeError`` for a wrong type) naming the entry, the value and
    what is allowed: an unknown distribution, arguments of the wrong shape, ``low >= high``, loguniform
    bounds <= 0, a name that is also set in ``fixed``, a name inside another searched name
    (``policy_kwargs`` and ``policy_kwargs.net_arch``), ``seed``, ``env`` or ``policy``.
    """
    search = check_mapping("search", search)
    fixed = _check_fixed(fixed)
    fixed_paths = set(_nested_paths("", fixed))
    space: dict[str, tuple[str, Any]] = {}
    for name, entry in search.items():
        field = f"search[{name!r}]"
        _check_name(field, name)
        parts = name.split(".")
        if name in fixed_paths:
            raise ValueError(f"{field}: also set in fixed; a kwarg is either fixed or searched, not both")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in fixed_paths and not isinstance(_get_path(fixed, prefix), Mapping):
                raise ValueError(
                    f"{field}: fixed sets {prefix!r} to {short_repr(_get_path(fixed, prefix))}, not a dict; "
                    f"{name!r} cannot be set inside it"
                )
        space[name] = _check_distribution(field, entry)
    names = sorted(space)
    for a, b in itertools.pairwise(names):
        if b.startswith(a + "."):
            raise ValueError(
                f"search[{b!r}]: inside search[{a!r}]; search either the whole kwarg or its parts"
            )
    return space


def _get_path(data: Mapping[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


def tune_search_space(space: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
    """Ray Tune's param space for a checked space (:func:`check_search_space`): one Tune object per
    searched name, constants left out (the trial sets them). ``choice`` and ``grid`` range over the
    indices of their values (``tune.choice([0, 1])`` for ``{choice: [a, b]}``)."""
    from ray import tune

    param_space: dict[str, Any] = {}
    for name, (dist, args) in space.items():
        if dist == "choice":
            param_space[name] = tune.choice(list(range(len(args))))
        elif dist == "grid":
            param_space[name] = tune.grid_search(list(range(len(args))))
        elif dist == "uniform":
            param_space[name] = tune.uniform(*args)
        elif dist == "loguniform":
            param_space[name] = tune.loguniform(*args)
        elif dist == "randint":
            param_space[name] = tune.randint(*args)
        elif dist == "quniform":
            param_space[name] = tune.quniform(*args)
    return param_space


def _sampled_kwargs(space: Mapping[str, tuple[str, Any]], config: Mapping[str, Any]) -> dict[str, Any]:
    """The values a trial's Tune config stands for, by dotted name (indices mapped back to values)."""
    sampled = {}
    for name, (dist, args) in space.items():
        if dist == "constant":
            sampled[name] = args
        elif dist in ("choice", "grid"):
            sampled[name] = args[int(config[name])]
        else:
            sampled[name] = _json_data(name, config[name])
    return sampled


def nest_kwargs(fixed: Mapping[str, Any], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """The agent kwargs of a trial: a copy of ``fixed`` with each dotted name of ``sampled`` set inside
    it (``{"policy_kwargs.net_arch": [64]}`` -> ``{"policy_kwargs": {..., "net_arch": [64]}}``)."""
    kwargs = copy.deepcopy(dict(fixed))
    for name, value in sampled.items():
        *parents, leaf = name.split(".")
        node = kwargs
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return kwargs


# ---------------------------------------------------------------------------- settings and config files
def _check_eval_seeds(eval_seeds: Any) -> list[int]:
    if is_int(eval_seeds):
        return list(range(check_int("eval_seeds", eval_seeds, 1)))
    return check_seeds("eval_seeds", eval_seeds)


def _check_sweep_seeds(seeds: Any) -> list[int]:
    seeds = check_seeds("seeds", seeds)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: got {short_repr(seeds)}; the seeds of a trial must be distinct")
    return seeds


def _check_policy(policy: Any) -> str:
    if not isinstance(policy, str) or not policy:
        raise ArgumentTypeError(f"policy: got {short_repr(policy)}; must be a registered policy name")
    return policy


_CONFIG_CHECKS: dict[str, Any] = {
    "search": lambda v: check_mapping("search", v),
    "fixed": _check_fixed,
    "total_timesteps": lambda v: check_int("total_timesteps", v, 1),
    "seeds": _check_sweep_seeds,
    "eval_seeds": _check_eval_seeds,
    "num_samples": lambda v: check_int("num_samples", v, 1),
    "scheduler": lambda v: check_choice("scheduler", v, SCHEDULERS),
    "metric": lambda v: check_choice("metric", v, METRICS),
    "mode": lambda v: check_choice("mode", v, MODES),
    "env_kwargs": lambda v: _json_data("env_kwargs", check_mapping("env_kwargs", v)),
    "policy": _check_policy,
}


def check_sweep_config(data: Any, where: str = "config") -> dict[str, Any]:
    """Validate a sweep config (the mapping a YAML file holds; keys :data:`CONFIG_KEYS`, all optional)
    and return it normalised (``eval_seeds: 5`` becomes ``[0, 1, 2, 3, 4]``): the keyword arguments of
    :func:`hyperparameter_sweep` of the same names. Errors are prefixed with ``where``."""
    if not isinstance(data, Mapping):
        raise ArgumentTypeError(
            f"{where}: got {short_repr(data)}; must be a mapping with keys {list(CONFIG_KEYS)}"
        )
    unknown = [k for k in data if k not in CONFIG_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown keys {short_repr(unknown)}; allowed: {list(CONFIG_KEYS)}")
    try:
        config = {key: _CONFIG_CHECKS[key](data[key]) for key in CONFIG_KEYS if key in data}
        if "search" in config:
            check_search_space(config["search"], config.get("fixed"))
            config["search"] = _json_data("search", config["search"])
    except (ValueError, TypeError) as e:
        raise type(e)(f"{where}: {e}") from None
    return config


def _load_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` refusing aliases (a few lines of nested aliases stand for a document of
    billions of nodes) and nesting too deep to parse."""
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ValueError(f"{where}: YAML aliases (*name) are not allowed in a sweep config")
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: not valid YAML: {e}") from None
    except RecursionError:
        raise ValueError(f"{where}: YAML nested too deeply") from None


def load_sweep_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sweep config from a YAML file (``yaml.safe_load``, at most :data:`MAX_CONFIG_BYTES`) and
    validate it with :func:`check_sweep_config`. Unknown top-level keys are refused with the allowed
    list. ``hyperparameter_sweep(algo, env_id, **load_sweep_config(path))`` runs it."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config: {str(p)!r} is not a file")
    with p.open("rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ValueError(f"{p}: larger than {MAX_CONFIG_BYTES} bytes; a sweep config is a short file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 text: {e}") from None
    data = _load_yaml(text, str(p))
    return check_sweep_config({} if data is None else data, where=str(p))


def _check_agent_names(algo: str, names: Sequence[str], field: str) -> None:
    """Each name's first part is a constructor argument of ``algo``'s class (unless it takes ``**kwargs``)."""
    import inspect

    params = inspect.signature(ALGORITHMS[algo]).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [p for p in params if p not in RESERVED_NAMES and not p.startswith("_")]
    for name in names:
        if name.split(".")[0] not in allowed:
            raise ValueError(f"{field}: {name!r} is not an argument of {algo}; allowed: {allowed}")


# ---------------------------------------------------------------------------- one trial
def _run_trial(config: dict[str, Any], *, spec: dict[str, Any]) -> None:
    """Tune's trainable: train once per seed and report the running summary after each seed."""
    from ray import tune

    agent_kwargs = nest_kwargs(spec["fixed"], _sampled_kwargs(spec["space"], config))
    returns: list[float] = []
    wall = 0.0
    for seed in spec["seeds"]:
        job = Job("train_agent", {**spec["job"], "agent_kwargs": agent_kwargs}, seed=seed)
        start = time.perf_counter()
        result = _call_job(_job_function(job.fn), job.kwargs, job.seed, 1, spec["registries"])
        wall += time.perf_counter() - start
        returns.append(result["mean_return"])
        tune.report(
            {
                "mean_return": float(np.mean(returns)),
                "min_return": float(min(returns)),
                "seed_returns": list(returns),
                "wall_seconds": wall,
            }
        )


def _trial_dirname(trial: Any) -> str:
    return str(trial.trial_id)


# ---------------------------------------------------------------------------- the sweep
@dataclass(frozen=True)
class HyperparameterSweepResult:
    """What :func:`hyperparameter_sweep` returns."""

    trials: list[dict[str, Any]]
    """One dict per trial, in Tune's trial order: ``trial_id``; ``config``, the sampled kwargs by dotted
    name (constants of the search space included); ``seeds`` and ``seed_returns``, the seeds the trial
    ran (fewer than the sweep's when ASHA stopped it) and each one's mean evaluation return;
    ``mean_return`` and ``min_return`` over them; ``completed`` (all seeds ran); ``wall_seconds``."""
    best_config: dict[str, Any]
    """``fixed`` with the best trial's sampled kwargs set in it: the agent's kwargs, or a ``fixed:`` block."""
    best_result: dict[str, Any]
    """The best trial's dict (of the trials that ran every seed)."""
    metric: str
    """The trials' metric (:data:`METRICS`)."""
    mode: str
    """``"max"`` or ``"min"``."""

    def table(self) -> str:
        """A plain-text table of the trials, best first."""
        names = list(self.best_result["config"])
        rows = [
            {
                "trial": t["trial_id"],
                **{n: _cell(t["config"][n]) for n in names},
                "seeds": str(len(t["seeds"])),
                "mean_return": f"{t['mean_return']:.2f}",
                "min_return": f"{t['min_return']:.2f}",
                "wall_s": f"{t['wall_seconds']:.1f}",
            }
            for t in _ranked(self.trials, self.metric, self.mode)
        ]
        return format_table(rows, ["trial", *names, "seeds", "mean_return", "min_return", "wall_s"])


def _cell(value: Any) -> Any:
    """A kwarg value for a table or a CSV cell: numbers and strings as they are, the rest as JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value if isinstance(value, (int, str)) else json.dumps(value)


def _ranked(trials: list[dict[str, Any]], metric: str, mode: str) -> list[dict[str, Any]]:
    """Trials best first: those that ran every seed, then the others; ties in trial order."""
    sign = -1.0 if mode == "max" else 1.0
    return sorted(trials, key=lambda t: (not t["completed"], sign * t[metric]))


def _start_ray(num_workers: int | None, ray_address: str | None) -> tuple[Any, bool]:
    """Ray, and whether this call started it (a local instance of ``num_workers`` CPUs, or a cluster)."""
    try:
        import ray
        import ray.tune  # Tune's own dependencies too (pandas, pyarrow, ...)
    except ImportError as e:
        raise ImportError(f'hyperparameter_sweep needs Ray Tune: pip install "rlsuite[ray]" ({e})') from e
    if ray.is_initialized():
        return ray, False
    init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if ray_address is None:  # a new local instance sized for the sweep, whatever RAY_ADDRESS says
        init.update(address="local", num_cpus=num_workers or os.cpu_count() or 1)
    else:
        init["address"] = ray_address
    ray.init(**init)
    return ray, True


def _collect(results: Any, space: Mapping[str, tuple[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
    """One dict per trial from Tune's result grid, in trial order; a failed trial raises TrialError."""
    for r in results:  # the first failure (trials stopped by fail_fast may have no folder or metrics)
        if r.error is not None:
            cause = getattr(r.error, "cause", None) or r.error
            trial_id = Path(r.path).name if r.path else "?"
            raise TrialError(
                f"trial {trial_id} ({short_repr(_sampled_kwargs(space, r.config))}) failed: "
                f"{type(cause).__name__}: {cause}"
            ) from cause
    trials = []
    for r in sorted(results, key=lambda r: Path(r.path).name):
        trial_id = Path(r.path).name
        sampled = _sampled_kwargs(space, r.config)
        seed_returns = [float(x) for x in r.metrics["seed_returns"]]
        trials.append(
            {
                "trial_id": trial_id,
                "config": sampled,
                "seeds": seeds[: len(seed_returns)],
                "seed_returns": seed_returns,
                "mean_return": float(r.metrics["mean_return"]),
                "min_return": float(r.metrics["min_return"]),
                "completed": len(seed_returns) == len(seeds),
                "wall_seconds": float(r.metrics["wall_seconds"]),
            }
        )
    return trials


def _write_outputs(out_dir: Path, result: HyperparameterSweepResult, seeds: list[int]) -> None:
    import yaml

    names = list(result.best_result["config"])
    returns = [f"return_seed{s}" for s in seeds]
    rows = []
    for t in result.trials:
        row = {"trial_id": t["trial_id"], **{n: _cell_csv(t["config"][n]) for n in names}}
        row.update(dict(zip(returns, t["seed_returns"], strict=False)))
        row.update({k: t[k] for k in ("mean_return", "min_return", "completed", "wall_seconds")})
        rows.append(row)
    columns = ["trial_id", *names, *returns, "mean_return", "min_return", "completed", "wall_seconds"]
    write_csv(out_dir / "trials.csv", rows, columns)
    with atomic_write(out_dir / "best_config.yaml") as f:
        yaml.safe_dump(result.best_config, f, sort_keys=False, default_flow_style=None)


def _cell_csv(value: Any) -> Any:
    """A kwarg value in trials.csv: numbers in full precision, lists and dicts as JSON."""
    return value if isinstance(value, (int, float, str)) else json.dumps(value)


def hyperparameter_sweep(
    algo: str,
    env_id: str,
    search: Mapping[str, Any] | None = None,
    *,
    fixed: Mapping[str, Any] | None = None,
    total_timesteps: int,
    seeds: Sequence[int] = (0,),
    eval_seeds: Sequence[int] | int,
    num_samples: int = 1,
    scheduler: str = "fifo",
    metric: str = "mean_return",
    mode: str = "max",
    num_workers: int | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    policy: str = "MlpPolicy",
    ray_address: str | None = None,
    verbose: int = 1,
) -> HyperparameterSweepResult:
    """Search ``algo``'s kwargs on ``env_id`` with Ray Tune: sample ``num_samples`` configs (times the
    grid's size) from ``search``, train each on every seed of ``seeds`` and rank them by ``metric``.

    Args:
        algo: a name registered in :data:`rlsuite.sweep.ALGORITHMS` (``"PPO"``, ``"BPO"``, ...).
        env_id: a registered Gymnasium id (no ``module:`` prefix).
        search: the search space as data (see the module docstring): ``{name: {distribution: args}}``
            or ``{name: constant}``; dotted names set nested kwargs.
        fixed: constant agent kwargs (JSON data; nested dicts as the agent takes them). A searched name
            must not be set in ``fixed`` too.
        total_timesteps: training steps per seed.
        seeds: the agent seeds each trial trains with, in order (distinct).
        eval_seeds: reset seeds of the evaluation episodes, the same for every trial and seed (an int
            ``n`` means ``range(n)``).
        num_samples: samples of the search space; each ``grid`` value is tried in every sample.
        scheduler: ``"fifo"`` or ``"asha"`` (Tune's ASHA over the seeds: ``max_t=len(seeds)``,
            ``grace_period=1``, ``reduction_factor=2``; needs 2 seeds or more).
        metric: ``"mean_return"`` (mean over seeds of each seed's mean evaluation return) or
            ``"min_return"`` (the worst seed's).
        mode: ``"max"`` or ``"min"``.
        num_workers: trials running at once (one CPU and one torch thread each); ``None``: as many as the
            Ray instance has CPUs. Ray not initialised: a local instance with ``num_workers`` CPUs (all
            of them if ``None``; no dashboard, no worker logs) is started and shut down at the end.
        seed: seeds Tune's sampling (``BasicVariantGenerator(random_state=seed)``).
        out_dir: Tune's storage, and where ``trials.csv`` (one row per trial: each searched name,
            ``return_seed<s>`` per seed, ``mean_return``, ``min_return``, ``completed``,
            ``wall_seconds``) and ``best_config.yaml`` (:attr:`~HyperparameterSweepResult.best_config`)
            are written; ``None``: a temporary folder, removed at the end, and no files.
        env_kwargs: arguments of ``gym.make`` (see :func:`~rlsuite.sweep.train_agent`).
        policy: a registered policy name.
        ray_address: a running Ray cluster to connect to (``"auto"``, ``"ray://host:10001"``) when Ray
            is not initialised; a Ray already initialised in this process is used as it is.
        verbose: 0 silent; 1 prints the table of trials, best first; 2 also Tune's progress.

    Raises ``ValueError`` (``ArgumentTypeError`` for a wrong type) on a bad argument before Ray starts,
    :class:`TrialError` when a trial fails (the sweep stops at the first failure).
    """
    _lookup(ALGORITHMS, algo, "algo", "Register your own with rlsuite.sweep.register_algorithm")
    env_id = _check_env_id(env_id)
    fixed = _check_fixed(fixed)
    space = check_search_space(search, fixed)
    _check_agent_names(algo, list(fixed), "fixed")
    _check_agent_names(algo, list(space), "search")
    total_timesteps = check_int("total_timesteps", total_timesteps, 1)
    seeds = _check_sweep_seeds(seeds)
    eval_seeds = _check_eval_seeds(eval_seeds)
    num_samples = check_int("num_samples", num_samples, 1)
    check_choice("scheduler", scheduler, SCHEDULERS)
    check_choice("metric", metric, METRICS)
    check_choice("mode", mode, MODES)
    if num_workers is not None:
        num_workers = check_int("num_workers", num_workers, 1)
    seed = check_int("seed", seed, 0, MAX_SEED)
    out = check_optional_str("out_dir", out_dir)
    env_kwargs = _json_data("env_kwargs", check_mapping("env_kwargs", env_kwargs))
    policy = _check_policy(policy)
    ray_address = check_optional_str("ray_address", ray_address)
    verbose = check_int("verbose", verbose, 0, 2)
    if scheduler == "asha" and len(seeds) < 2:
        raise ValueError(f"scheduler: 'asha' stops trials between seeds; got seeds={seeds}, need 2 or more")

    ray, started = _start_ray(num_workers, ray_address)
    temporary = tempfile.TemporaryDirectory(prefix="rlsuite-tune-") if out is None else None
    storage = Path(temporary.name if temporary is not None else str(out)).resolve()
    try:
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search.basic_variant import BasicVariantGenerator

        spec = {
            "space": space,
            "fixed": fixed,
            "seeds": seeds,
            "registries": _registry_snapshot(),
            "job": {
                "algo": algo,
                "env_id": env_id,
                "total_timesteps": total_timesteps,
                "policy": policy,
                "env_kwargs": env_kwargs,
                "eval_seeds": eval_seeds,
                "deterministic": True,
            },
        }
        asha = ASHAScheduler(
            time_attr="training_iteration", max_t=len(seeds), grace_period=1, reduction_factor=2
        )
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_run_trial, spec=spec), {"cpu": 1}),
            param_space=tune_search_space(space),
            tune_config=tune.TuneConfig(
                metric=metric,
                mode=mode,
                search_alg=BasicVariantGenerator(max_concurrent=num_workers or 0, random_state=seed),
                scheduler=asha if scheduler == "asha" else None,
                num_samples=num_samples,
                trial_dirname_creator=_trial_dirname,
                reuse_actors=True,  # one worker process per slot, not per trial: each job seeds itself
            ),
            run_config=tune.RunConfig(
                name=re.sub(r"[^A-Za-z0-9_.-]", "_", f"{algo}_{env_id}"),
                storage_path=str(storage),
                verbose=1 if verbose >= 2 else 0,
                failure_config=tune.FailureConfig(fail_fast=True),
            ),
        )
        with contextlib.redirect_stdout(io.StringIO()) if verbose < 2 else contextlib.nullcontext():
            grid = tuner.fit()  # Tune prints its experiment's header whatever its verbosity
        trials = _collect(grid, space, seeds)
    finally:
        if started:
            ray.shutdown()
        if temporary is not None:
            temporary.cleanup()

    best = _ranked(trials, metric, mode)[0]
    result = HyperparameterSweepResult(
        trials=trials,
        best_config=nest_kwargs(fixed, best["config"]),
        best_result=best,
        metric=metric,
        mode=mode,
    )
    if out is not None:
        _write_outputs(storage, result, seeds)
    if verbose:
        print(result.table())
    return result


__all__ = [
    "CONFIG_KEYS",
    "DISTRIBUTIONS",
    "MAX_CONFIG_BYTES",
    "METRICS",
    "MODES",
    "RESERVED_NAMES",
    "SCHEDULERS",
    "HyperparameterSweepResult",
    "TrialError",
    "check_search_space",
    "check_sweep_config",
    "hyperparameter_sweep",
    "load_sweep_config",
    "nest_kwargs",
    "tune_search_space",
]
