"""Populations and sweeps: independent training jobs run as Ray tasks, or one after another in this
process, with the same API and the same results.

A job is data, not code: ``Job("train_agent", {"algo": "PPO", ...}, seed=3)`` names a function
registered with :func:`register_job` (an allow-list, like the registries of model files: a name read
from a config is looked up, never imported) and JSON keyword arguments. :func:`run_jobs` runs a list
of jobs and returns their results in job order::

    from rlsuite.sweep import Job, run_jobs, seed_sweep

    jobs = [Job("train_agent", {"algo": "PPO", "env_id": "CartPole-v1", "total_timesteps": 50_000,
                                "eval_seeds": list(range(10))}, seed=s) for s in range(8)]
    results = run_jobs(jobs, num_workers=4)              # Ray tasks when Ray is installed
    sweep = seed_sweep("PPO", "CartPole-v1", seeds=range(8), total_timesteps=50_000,
                       eval_seeds=range(10), n_steps=256)  # the same, plus the mean and its 95% CI

Backends: ``"ray"`` (extra ``ray``: one task per job, ``num_workers`` at once, a task whose worker
process dies is re-run up to ``max_retries`` times), ``"local"`` (in this process, in order) and
``"auto"`` (Ray when it is installed and ``num_workers != 0``, else local, silently).

Determinism: a job's result depends only on its function, kwargs and seed. Each job runs with
``threads_per_job`` torch threads and with Python's, NumPy's and torch's global generators seeded
from its seed (and restored afterwards in local runs), so the local and the Ray backend give
identical results, whatever the order in which jobs run or the number of workers.
"""

from __future__ import annotations

import collections
import inspect
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from rlsuite.agents import BPO, GBPO, GRPO, HDPO, OPRL, PDPPO, PPO, RLOO
from rlsuite.agents.common.registry import (
    ACTIVATIONS,
    FEATURES_EXTRACTORS,
    INVENTORY_POLICIES,
    POLICIES,
    Registry,
)
from rlsuite.evaluation import mean_ci, run_episodes
from rlsuite.progress import progress
from rlsuite.validation import (
    MAX_SEED,
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_int,
    check_mapping,
    check_optional_str,
    check_seeds,
    short_repr,
)

BACKENDS = ("auto", "ray", "local")
"""Where :func:`run_jobs` runs jobs (see the module docstring)."""

#: Job functions a :class:`Job` may name; :func:`register_job` adds one.
JOBS = Registry("job")
#: Agent classes :func:`train_agent` may name (``algo``); :func:`register_algorithm` adds one.
ALGORITHMS = Registry(
    "algorithm",
    {
        "PPO": PPO,
        "BPO": BPO,
        "PDPPO": PDPPO,
        "HDPO": HDPO,
        "GBPO": GBPO,
        "GRPO": GRPO,
        "RLOO": RLOO,
        "OPRL": OPRL,
    },
)
#: Registries a job may resolve names through; their entries travel with every Ray task, so a name
#: registered in the driver (an algorithm, a policy, an activation) resolves on the workers too.
_SHIPPED_REGISTRIES = (ALGORITHMS, POLICIES, INVENTORY_POLICIES, ACTIVATIONS, FEATURES_EXTRACTORS)


class JobError(RuntimeError):
    """A job failed (it raised, or its Ray worker died more than ``max_retries`` times); the message
    names the job and the original error is the ``__cause__``."""


def register_job(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let a :class:`Job` name ``fn`` as ``name``. ``fn`` is called as ``fn(seed=job.seed,
    **job.kwargs)``; for Ray it must be picklable by reference (a module-level function of a module the
    workers can import) or defined in the driver's ``__main__``. Returns ``fn``."""
    JOBS[name] = fn
    return fn


def register_algorithm(name: str, agent_class: type) -> type:
    """Let :func:`train_agent` (``algo=name``) build ``agent_class``, an agent with the
    ``Agent(policy, env, seed=..., **agent_kwargs).learn(total_timesteps)`` surface. Returns it."""
    ALGORITHMS[name] = agent_class
    return agent_class


def _lookup(registry: Registry, name: Any, field_name: str, how: str) -> Any:
    """``registry[name]``, or a ``ValueError`` naming the field, the name and the allowed names."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"{field_name}: got {short_repr(name)}; must be a registered name (a string)")
    if name not in registry:
        allowed = sorted(registry)
        raise ValueError(f"{field_name}: {name!r} is not a registered name; allowed: {allowed}. {how}")
    return registry[name]


def _job_function(name: Any) -> Callable[..., Any]:
    return _lookup(JOBS, name, "fn", "Register your own with rlsuite.sweep.register_job(name, fn)")


# ---------------------------------------------------------------------------- jobs as data
def _json_data(path: str, value: Any) -> Any:
    """``value`` as plain JSON data (tuples become lists, NumPy scalars Python numbers); anything else
    (objects, classes, paths, NaN, non-string keys) raises, naming where it is."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"{path}: got {value}; job kwargs must be finite numbers (JSON has no NaN)")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_data(f"{path}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ArgumentTypeError(f"{path}: key {short_repr(k)} is not a string; JSON keys are strings")
            out[k] = _json_data(f"{path}[{k!r}]", v)
        return out
    raise ArgumentTypeError(
        f"{path}: got {short_repr(value)} ({type(value).__name__}); job kwargs must be JSON data (None, "
        "bool, int, finite float, str, lists, dicts with string keys): name classes and functions by "
        "their registered names, paths as strings"
    )


@dataclass(frozen=True)
class Job:
    """One independent job: the registered function ``fn`` called as ``fn(seed=seed, **kwargs)``."""

    fn: str
    """Name of a function registered with :func:`register_job` (``"train_agent"``)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """JSON keyword arguments (checked and copied: tuples become lists); ``seed`` is not one of them."""
    seed: int = 0
    """The job's seed, passed as ``seed=`` and used to seed the global generators while it runs."""
    name: str = ""
    """A label for progress and errors; default ``"<fn>[seed=<seed>]"``."""

    def __post_init__(self) -> None:
        _job_function(self.fn)
        kwargs = _json_data("kwargs", check_mapping("kwargs", self.kwargs))
        if "seed" in kwargs:
            raise ValueError("kwargs: has 'seed'; pass the seed as Job(..., seed=...)")
        object.__setattr__(self, "kwargs", kwargs)
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0, MAX_SEED))
        if not isinstance(self.name, str):
            raise ArgumentTypeError(f"name: got {short_repr(self.name)}; must be a string")
        if not self.name:
            object.__setattr__(self, "name", f"{self.fn}[seed={self.seed}]")

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON data (``Job.from_dict(job.to_dict()) == job``)."""
        return {"fn": self.fn, "kwargs": self.kwargs, "seed": self.seed, "name": self.name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """A job from :meth:`to_dict`'s data (e.g. read from a JSON file); ``fn`` must be registered."""
        data = check_mapping("data", data)
        unknown = sorted(set(data) - {"fn", "kwargs", "seed", "name"})
        if unknown or "fn" not in data:
            raise ValueError(
                f"data: keys {sorted(data)}; a job has 'fn' and optional 'kwargs', 'seed', 'name'"
            )
        return cls(**data)


# ---------------------------------------------------------------------------- running one job
def _registry_snapshot() -> list[dict[str, Any]]:
    return [dict(r.items()) for r in _SHIPPED_REGISTRIES]


def _install_registries(snapshot: list[dict[str, Any]]) -> None:
    """Register on a worker what the driver had registered (no-op where the entries are the same)."""
    for registry, entries in zip(_SHIPPED_REGISTRIES, snapshot, strict=True):
        for name, obj in entries.items():
            if registry.get(name) is not obj:
                registry[name] = obj


def _call_job(
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    seed: int,
    threads: int,
    snapshot: list[dict[str, Any]] | None = None,
) -> Any:
    """``fn(seed=seed, **kwargs)`` with ``threads`` torch threads and the global generators seeded from
    ``seed``; the thread count and the generators' states are restored afterwards."""
    import torch

    if snapshot is not None:
        _install_registries(snapshot)
    # The legacy global generators on purpose: a job that draws from them still depends on its seed only.
    saved = torch.get_num_threads(), random.getstate(), np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
    try:
        torch.set_num_threads(threads)
        random.seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002
        torch.manual_seed(seed)
        return fn(seed=seed, **kwargs)
    finally:
        torch.set_num_threads(saved[0])
        random.setstate(saved[1])
        np.random.set_state(saved[2])  # noqa: NPY002
        torch.set_rng_state(saved[3])


def _failure(job: Job, index: int, n: int, where: str, err: BaseException) -> JobError:
    return JobError(
        f"job {job.name!r} (#{index} of {n}, fn {job.fn!r}, seed {job.seed}) failed {where}: "
        f"{type(err).__name__}: {err}"
    )


# ---------------------------------------------------------------------------- backends
def _run_local(jobs: Sequence[Job], threads: int, progress_bar: bool) -> list[Any]:
    results = []
    for i, job in progress(enumerate(jobs), total=len(jobs), desc="jobs", enable=progress_bar):
        try:
            results.append(_call_job(_job_function(job.fn), job.kwargs, job.seed, threads))
        except Exception as e:
            raise _failure(job, i, len(jobs), "in this process", e) from e
    return results


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ImportError('backend="ray" needs Ray: pip install "rlsuite[ray]"') from e
    return ray


def _run_ray(
    ray: Any,
    jobs: Sequence[Job],
    num_workers: int | None,
    max_retries: int,
    threads: int,
    progress_bar: bool,
    ray_address: str | None,
) -> list[Any]:
    started = False
    if not ray.is_initialized():
        init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if ray_address is None:  # a new local instance sized for the population, whatever RAY_ADDRESS says
            init.update(address="local", num_cpus=(num_workers or os.cpu_count() or 1) * threads)
        else:
            init["address"] = ray_address
        ray.init(**init)
        started = True
    try:
        window = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
        task = ray.remote(_call_job).options(
            num_cpus=threads, max_retries=max_retries, retry_exceptions=False
        )
        snapshot = ray.put(_registry_snapshot())
        results: list[Any] = [None] * len(jobs)
        pending: dict[Any, int] = {}

        def completions() -> Iterator[int]:
            submitted = 0
            while submitted < len(jobs) or pending:
                while submitted < len(jobs) and len(pending) < window:  # at most `window` in flight
                    job = jobs[submitted]
                    ref = task.remote(_job_function(job.fn), job.kwargs, job.seed, threads, snapshot)
                    pending[ref] = submitted
                    submitted += 1
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except Exception as e:
                    for other in pending:
                        ray.cancel(other)
                    cause = getattr(e, "cause", None) or e  # RayTaskError carries the job's exception
                    where = "on Ray"
                    if isinstance(e, ray.exceptions.WorkerCrashedError):
                        where += f" (its worker died; max_retries={max_retries} re-runs used up)"
                    raise _failure(jobs[i], i, len(jobs), where, cause) from e
                yield i

        # Drain the completions: each finished job advances the progress bar.
        collections.deque(
            progress(completions(), total=len(jobs), desc="jobs", enable=progress_bar), maxlen=0
        )
        return results
    finally:
        if started:
            ray.shutdown()


def run_jobs(
    jobs: Sequence[Job],
    *,
    num_workers: int | None = None,
    backend: str = "auto",
    max_retries: int = 2,
    threads_per_job: int = 1,
    progress_bar: bool = False,
    ray_address: str | None = None,
) -> list[Any]:
    """Run independent jobs and return their results in job order.

    Args:
        jobs: :class:`Job` objects.
        num_workers: jobs running at once on Ray (``None``: as many as the Ray instance has CPUs for);
            ``0`` runs them in this process.
        backend: ``"auto"`` (Ray when installed and ``num_workers != 0``, else local), ``"ray"`` (an
            ``ImportError`` naming the extra when Ray is missing) or ``"local"``.
        max_retries: on Ray, how many times a job is re-run after its worker process dies (a crash, an
            out-of-memory kill, a lost node). An exception raised by the job is not retried: it would
            recur, and fails the run with a :class:`JobError`.
        threads_per_job: torch threads of each job (and CPUs per Ray task).
        progress_bar: a bar that advances as jobs finish (tqdm, extra ``progress``).
        ray_address: a running Ray cluster to connect to (``"auto"``: ``RAY_ADDRESS`` or the cluster of
            ``ray start``; ``"ray://host:10001"``); by default a new local instance with
            ``num_workers * threads_per_job`` CPUs is started and shut down at the end. Ray already
            initialised in this process is used as it is (and left running).

    Raises :class:`JobError` naming the first job that failed (the others are cancelled).
    """
    if isinstance(jobs, (str, bytes, Mapping)) or not isinstance(jobs, Sequence):
        raise ArgumentTypeError(f"jobs: got {short_repr(jobs)}; must be a list of Job")
    for i, job in enumerate(jobs):
        if not isinstance(job, Job):
            raise ArgumentTypeError(
                f"jobs[{i}]: got {short_repr(job)}; must be a Job (Job.from_dict for data)"
            )
        _job_function(job.fn)  # still registered
    check_choice("backend", backend, BACKENDS)
    if num_workers is not None:
        num_workers = check_int("num_workers", num_workers, 0)
    max_retries = check_int("max_retries", max_retries, 0)
    threads_per_job = check_int("threads_per_job", threads_per_job, 1)
    progress_bar = check_bool("progress_bar", progress_bar)
    ray_address = check_optional_str("ray_address", ray_address)
    if backend == "ray" and num_workers == 0:
        raise ValueError('num_workers: got 0 with backend="ray"; 0 means in this process (backend="local")')
    if not jobs:
        return []
    ray = None
    if backend == "ray":
        ray = _import_ray()
    elif backend == "auto" and num_workers != 0:
        try:
            import ray
        except ImportError:
            ray = None
    if ray is None:
        return _run_local(jobs, threads_per_job, progress_bar)
    return _run_ray(ray, jobs, num_workers, max_retries, threads_per_job, progress_bar, ray_address)


# ---------------------------------------------------------------------------- the built-in job
def _check_env_id(env_id: Any) -> str:
    if not isinstance(env_id, str) or not env_id:
        raise ArgumentTypeError(f"env_id: got {short_repr(env_id)}; must be a registered Gymnasium id")
    if ":" in env_id:  # gym.make("module:Id") imports `module`: a job names ids, never modules
        raise ValueError(
            f"env_id: got {env_id!r}; 'module:id' would import a module named in the job. Import the module "
            "where the job function is defined (rlsuite's ids are always registered) and pass the id alone"
        )
    if env_id not in gym.registry:
        raise ValueError(f"env_id: {env_id!r} is not a registered Gymnasium id")
    return env_id


def train_agent(
    *,
    algo: str,
    env_id: str,
    total_timesteps: int,
    seed: int,
    policy: str = "MlpPolicy",
    agent_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    eval_seeds: Sequence[int] = (),
    deterministic: bool = True,
    save_path: str | None = None,
) -> dict[str, Any]:
    """The built-in job ``"train_agent"``: build ``algo`` on ``env_id`` with ``seed``, train it for
    ``total_timesteps``, play one evaluation episode per seed of ``eval_seeds`` (the same seeds for
    every job: common random numbers) and save it to ``save_path`` if given.

    Args:
        algo: a name registered in :data:`ALGORITHMS` (``"PPO"``, ``"BPO"``, ...).
        env_id: a registered Gymnasium id (no ``module:`` prefix).
        total_timesteps: environment steps of ``learn``.
        seed: the agent's seed.
        policy: a registered policy name (``"MlpPolicy"``).
        agent_kwargs: the agent's other constructor arguments (``n_steps``, ``policy_kwargs``, ...).
        env_kwargs: arguments of ``gym.make`` (HDPO takes them as its own ``env_kwargs``); with
            ``n_envs > 1`` register a variant id instead.
        eval_seeds: reset seeds of the evaluation episodes (none: no evaluation).
        deterministic: evaluate the deterministic policy.
        save_path: where to ``model.save`` (a ``.zip``).

    Returns JSON data: ``algo``, ``env_id``, ``seed``, ``num_timesteps``, ``eval_seeds``, ``returns``
    and ``lengths`` (one per evaluation seed), ``mean_return`` (None without evaluation),
    ``train_seconds``, ``path``.
    """
    agent_class = _lookup(ALGORITHMS, algo, "algo", "Register your own with rlsuite.sweep.register_algorithm")
    env_id = _check_env_id(env_id)
    total_timesteps = check_int("total_timesteps", total_timesteps, 1)
    if not isinstance(policy, str):
        raise ArgumentTypeError(f"policy: got {short_repr(policy)}; must be a registered policy name")
    agent_kwargs = check_mapping("agent_kwargs", agent_kwargs)
    env_kwargs = check_mapping("env_kwargs", env_kwargs)
    eval_seeds = check_seeds("eval_seeds", eval_seeds, allow_empty=True)
    deterministic = check_bool("deterministic", deterministic)
    save_path = check_optional_str("save_path", save_path)
    reserved = sorted({"policy", "env", "seed"} & set(agent_kwargs))
    if reserved:
        raise ValueError(f"agent_kwargs: has {reserved}; they are train_agent's own arguments")

    env: Any = env_id
    if env_kwargs and "env_kwargs" in inspect.signature(agent_class).parameters:
        agent_kwargs = {**agent_kwargs, "env_kwargs": env_kwargs}
    elif env_kwargs:
        if agent_kwargs.get("n_envs", 1) != 1:
            raise ValueError(
                "env_kwargs: need n_envs=1 (an env built by gym.make); register a variant id instead"
            )
        env = gym.make(env_id, **env_kwargs)
    start = time.perf_counter()
    model = agent_class(policy, env, seed=seed, **agent_kwargs)
    model.learn(total_timesteps)
    train_seconds = time.perf_counter() - start
    if getattr(model, "env", None) is not None and hasattr(model.env, "close"):
        model.env.close()
    returns: list[float] = []
    lengths: list[int] = []
    if eval_seeds:
        eval_env = gym.make(env_id, **env_kwargs)
        try:
            episodes = run_episodes(eval_env, model, eval_seeds, deterministic=deterministic)
        finally:
            eval_env.close()
        returns = [e.total_reward for e in episodes]
        lengths = [e.length for e in episodes]
    if save_path is not None:
        model.save(save_path)
    return {
        "algo": algo,
        "env_id": env_id,
        "seed": seed,
        "num_timesteps": int(model.num_timesteps),
        "eval_seeds": eval_seeds,
        "returns": returns,
        "lengths": lengths,
        "mean_return": float(np.mean(returns)) if returns else None,
        "train_seconds": train_seconds,
        "path": save_path,
    }


register_job("train_agent", train_agent)


# ---------------------------------------------------------------------------- seed sweeps
@dataclass(frozen=True)
class SweepResult:
    """What :func:`seed_sweep` returns."""

    results: list[dict[str, Any]]
    """:func:`train_agent`'s result per seed, in the order of the seeds."""
    mean_return: float
    """Mean over seeds of each seed's mean evaluation return."""
    ci95: float
    """Half-width of the 95% Student-t interval of ``mean_return`` (:func:`~rlsuite.evaluation.mean_ci`;
    nan with one seed)."""
    std: float
    """Sample standard deviation (``ddof=1``) of the per-seed means (nan with one seed)."""

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.results]

    @property
    def seed_returns(self) -> list[float]:
        """Each seed's mean evaluation return."""
        return [r["mean_return"] for r in self.results]


def seed_sweep(
    algo: str,
    env_id: str,
    seeds: Sequence[int],
    total_timesteps: int,
    eval_seeds: Sequence[int],
    *,
    policy: str = "MlpPolicy",
    env_kwargs: dict[str, Any] | None = None,
    deterministic: bool = True,
    save_dir: str | None = None,
    num_workers: int | None = None,
    backend: str = "auto",
    max_retries: int = 2,
    threads_per_job: int = 1,
    progress_bar: bool = False,
    ray_address: str | None = None,
    **agent_kwargs: Any,
) -> SweepResult:
    """Train ``algo`` on ``env_id`` once per seed of ``seeds`` (one :func:`train_agent` job each, run by
    :func:`run_jobs` with the given backend arguments), evaluate every model on the same
    ``eval_seeds``, and summarise over seeds. ``agent_kwargs`` are the agent's constructor arguments
    (JSON data). With ``save_dir``, seed ``s`` is saved to ``<save_dir>/<algo>_<env_id>_seed<s>.zip``.
    """
    _lookup(ALGORITHMS, algo, "algo", "Register your own with rlsuite.sweep.register_algorithm")
    env_id = _check_env_id(env_id)
    seeds = check_seeds("seeds", seeds)
    total_timesteps = check_int("total_timesteps", total_timesteps, 1)
    eval_seeds = check_seeds("eval_seeds", eval_seeds)
    save_dir = check_optional_str("save_dir", save_dir)
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: got {short_repr(seeds)}; the seeds of a sweep must be distinct")
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{algo}_{env_id}")
    jobs = [
        Job(
            "train_agent",
            {
                "algo": algo,
                "env_id": env_id,
                "total_timesteps": total_timesteps,
                "policy": policy,
                "agent_kwargs": agent_kwargs,
                "env_kwargs": env_kwargs or {},
                "eval_seeds": eval_seeds,
                "deterministic": deterministic,
                "save_path": None if save_dir is None else os.path.join(save_dir, f"{stem}_seed{s}.zip"),
            },
            seed=s,
            name=f"{algo} {env_id} seed {s}",
        )
        for s in seeds
    ]
    results = run_jobs(
        jobs,
        num_workers=num_workers,
        backend=backend,
        max_retries=max_retries,
        threads_per_job=threads_per_job,
        progress_bar=progress_bar,
        ray_address=ray_address,
    )
    per_seed = [r["mean_return"] for r in results]
    mean, half = mean_ci(per_seed)
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else math.nan
    return SweepResult(results=results, mean_return=mean, ci95=half, std=std)


__all__ = [
    "ALGORITHMS",
    "BACKENDS",
    "JOBS",
    "Job",
    "JobError",
    "SweepResult",
    "register_algorithm",
    "register_job",
    "run_jobs",
    "seed_sweep",
    "train_agent",
]
