"""rlsuite.sweep: jobs as data, the local and the Ray backend giving the same results, a killed worker
retried, errors naming the job. Ray: one local instance with 2 CPUs for the module."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from rlsuite.agents import PPO
from rlsuite.sweep import (
    ALGORITHMS,
    Job,
    JobError,
    register_algorithm,
    register_job,
    run_jobs,
    seed_sweep,
    train_agent,
)
from rlsuite.validation import ArgumentTypeError

TINY_PPO = {"n_steps": 128, "batch_size": 64, "n_epochs": 2, "device": "cpu"}


# ---------------------------------------------------------------------------- test jobs
def noisy_sum(n: int, seed: int) -> float:
    """A pure-NumPy job: depends on its seed only."""
    return float(np.random.default_rng(seed).normal(size=n).sum())


def global_draws(seed: int) -> list[float]:
    """A job that (badly) draws from the global generators: still a function of its seed under run_jobs."""
    legacy = float(np.random.rand())  # noqa: NPY002 (the global generator, on purpose)
    return [legacy, float(torch.rand(())), float(np.random.default_rng(seed).random())]


def killed_on_first_attempt(marker: str, n: int, seed: int) -> float:
    """Kills its own worker process on its first attempt (``marker`` counts the attempts)."""
    with open(marker, "a") as f:
        f.write("attempt\n")
    if Path(marker).read_text().count("attempt") == 1:
        os._exit(1)
    return noisy_sum(n, seed)


def raises(marker: str, seed: int) -> None:
    with open(marker, "a") as f:
        f.write("attempt\n")
    raise ValueError(f"bad input for seed {seed}")


def algorithm_name(algo: str, seed: int) -> str:
    """Resolves ``algo`` through ALGORITHMS where the job runs (a Ray worker: a fresh process)."""
    return ALGORITHMS[algo].__name__


for _fn in (noisy_sum, global_draws, killed_on_first_attempt, raises, algorithm_name):
    register_job(_fn.__name__, _fn)


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance with 2 CPUs for the module; the workers import this module by path."""
    ray = pytest.importorskip("ray")
    tests_dir = str(Path(__file__).resolve().parent)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([tests_dir, *sys.path[1:]])}},
    )
    yield ray
    ray.shutdown()


def _params(path: Path) -> dict[str, torch.Tensor]:
    return PPO.load(path, device="cpu").policy.state_dict()


# ---------------------------------------------------------------------------- jobs are data
def test_job_refuses_unregistered_functions_and_lists_the_allowed_names():
    with pytest.raises(
        ValueError, match=r"fn: 'os.system' is not a registered name; allowed: \[.*'train_agent'"
    ):
        Job("os.system", {"command": "true"})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"f": print}, r"kwargs\['f'\]: got .*must be JSON data"),
        ({"cls": PPO}, r"kwargs\['cls'\]: .*JSON data"),
        ({"x": [1, float("nan")]}, r"kwargs\['x'\]\[1\]: got nan; .*finite"),
        ({"d": {1: 2}}, r"kwargs\['d'\]: key 1 is not a string"),
        ({"p": Path("a.zip")}, r"kwargs\['p'\]: .*paths as strings"),
    ],
)
def test_job_refuses_kwargs_that_are_not_json_data(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Job("noisy_sum", kwargs)


def test_job_checks_seed_and_name_and_round_trips_through_json():
    with pytest.raises(ValueError, match="pass the seed as Job"):
        Job("noisy_sum", {"n": 3, "seed": 1})
    with pytest.raises(ValueError, match=r"seed: got -1"):
        Job("noisy_sum", {"n": 3}, seed=-1)
    with pytest.raises(ArgumentTypeError, match="seed"):
        Job("noisy_sum", {"n": 3}, seed=1.0)
    job = Job("noisy_sum", {"n": np.int64(3), "shape": (2, 3)}, seed=4)
    assert job.kwargs == {"n": 3, "shape": [2, 3]} and type(job.kwargs["n"]) is int
    assert job.name == "noisy_sum[seed=4]"
    assert Job.from_dict(job.to_dict()) == job
    with pytest.raises(ValueError, match="a job has 'fn'"):
        Job.from_dict({"fn": "noisy_sum", "code": "x"})


def test_run_jobs_validates_its_arguments():
    jobs = [Job("noisy_sum", {"n": 3})]
    with pytest.raises(ValueError, match=r"num_workers: got -1; must be an integer >= 0"):
        run_jobs(jobs, num_workers=-1)
    with pytest.raises(ValueError, match=r"backend: got 'spark'; allowed: \['auto', 'ray', 'local'\]"):
        run_jobs(jobs, backend="spark")
    with pytest.raises(ValueError, match="max_retries"):
        run_jobs(jobs, max_retries=-1, backend="local")
    with pytest.raises(ValueError, match="threads_per_job"):
        run_jobs(jobs, threads_per_job=0, backend="local")
    with pytest.raises(ValueError, match=r'num_workers: got 0 with backend="ray"'):
        run_jobs(jobs, num_workers=0, backend="ray")
    with pytest.raises(TypeError, match=r"jobs\[0\]: .*must be a Job"):
        run_jobs([{"fn": "noisy_sum"}], backend="local")
    assert run_jobs([], backend="local") == []


def test_without_ray_backend_ray_names_the_extra_and_auto_runs_locally(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    jobs = [Job("noisy_sum", {"n": 5}, seed=s) for s in range(3)]
    with pytest.raises(ImportError, match=r'pip install "rlsuite\[ray\]"'):
        run_jobs(jobs, backend="ray", num_workers=2)
    assert run_jobs(jobs, num_workers=2) == [noisy_sum(5, s) for s in range(3)]


def test_local_run_restores_the_global_generators_and_threads():
    def draws() -> tuple[float, float]:
        return float(np.random.rand()), float(torch.rand(()))  # noqa: NPY002

    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    expected = draws()
    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    a = run_jobs([Job("global_draws", seed=1)], backend="local", threads_per_job=2)
    assert draws() == expected
    assert torch.get_num_threads() == threads
    assert run_jobs([Job("global_draws", seed=1)], num_workers=0) == a


def test_train_agent_refuses_unknown_algorithms_and_module_prefixed_ids():
    with pytest.raises(ValueError, match=r"algo: 'A2C' is not a registered name; allowed: \[.*'PPO'"):
        train_agent(algo="A2C", env_id="CartPole-v1", total_timesteps=10, seed=0)
    with pytest.raises(ValueError, match="would import a module"):
        train_agent(algo="PPO", env_id="os:CartPole-v1", total_timesteps=10, seed=0)
    with pytest.raises(ValueError, match="not a registered Gymnasium id"):
        seed_sweep("PPO", "NoSuchEnv-v9", [0], 10, [0], backend="local")
    with pytest.raises(ValueError, match=r"agent_kwargs: has \['seed'\]; they are train_agent's own"):
        train_agent(algo="PPO", env_id="CartPole-v1", total_timesteps=10, seed=0, agent_kwargs={"seed": 1})


# ---------------------------------------------------------------------------- Ray and local agree
def test_run_jobs_starts_and_stops_its_own_ray_and_ships_main_functions_by_value(tmp_path):
    """Ray not initialised (a fresh process): run_jobs starts a local instance and shuts it down; a job
    function of the driver's __main__ reaches the workers by value."""
    pytest.importorskip("ray")
    script = tmp_path / "driver.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, ray, numpy as np
            from rlsuite.sweep import Job, register_job, run_jobs
            def draw(n, seed):
                return float(np.random.default_rng(seed).normal(size=n).sum())
            register_job("draw", draw)
            jobs = [Job("draw", {"n": 10 + s}, seed=s) for s in range(3)]
            out = run_jobs(jobs, backend="ray", num_workers=2)
            print(json.dumps({"out": out, "still_up": ray.is_initialized()}))
            """
        )
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"out": [noisy_sum(10 + s, s) for s in range(3)], "still_up": False}


def test_ray_and_local_give_the_same_results_in_job_order(ray_local):
    jobs = [Job("noisy_sum", {"n": 10 + s}, seed=s) for s in range(5)]
    jobs += [Job("global_draws", seed=s) for s in (7, 8)]
    local = run_jobs(jobs, backend="local")
    assert local[:5] == [noisy_sum(10 + s, s) for s in range(5)]
    assert local[5] != local[6]
    assert run_jobs(jobs, backend="ray", num_workers=2, progress_bar=True) == local
    assert run_jobs(jobs, num_workers=1) == local  # auto: Ray, one job at a time


def test_seed_sweep_on_ray_equals_local_bit_for_bit(ray_local, tmp_path):
    common = dict(eval_seeds=[0, 1, 2], **TINY_PPO)
    ray_sweep = seed_sweep(
        "PPO",
        "CartPole-v1",
        [0, 1],
        512,
        backend="ray",
        num_workers=2,
        save_dir=str(tmp_path / "ray"),
        **common,
    )
    local_sweep = seed_sweep(
        "PPO", "CartPole-v1", [0, 1], 512, backend="local", save_dir=str(tmp_path / "loc"), **common
    )
    for r, l in zip(ray_sweep.results, local_sweep.results, strict=True):
        assert r["returns"] == l["returns"] and len(r["returns"]) == 3
        assert r["num_timesteps"] == l["num_timesteps"] == 512
        pr, pl = _params(Path(r["path"])), _params(Path(l["path"]))
        assert pr.keys() == pl.keys() and all(torch.equal(pr[k], pl[k]) for k in pr)
    assert ray_sweep.seeds == [0, 1]
    assert ray_sweep.results[0]["returns"] != ray_sweep.results[1]["returns"]
    # Summary: mean and Student-t half-width over the 2 seeds (t_{0.975, 1} = 12.7062).
    a, b = ray_sweep.seed_returns
    assert ray_sweep.mean_return == pytest.approx((a + b) / 2)
    assert ray_sweep.std == pytest.approx(abs(a - b) / math.sqrt(2))
    assert ray_sweep.ci95 == pytest.approx(12.7062047 * abs(a - b) / 2, rel=1e-6)
    assert (local_sweep.mean_return, local_sweep.ci95) == (ray_sweep.mean_return, ray_sweep.ci95)


def test_names_registered_in_the_driver_resolve_on_the_workers(ray_local):
    register_algorithm("MyPPO", PPO)
    try:
        jobs = [Job("algorithm_name", {"algo": "MyPPO"}, seed=s) for s in range(2)]
        assert run_jobs(jobs, backend="ray", num_workers=2) == ["PPO", "PPO"]
    finally:
        del ALGORITHMS["MyPPO"]


# ---------------------------------------------------------------------------- failures
def test_a_killed_worker_is_retried_and_the_population_completes_unchanged(ray_local, tmp_path):
    undisturbed = tmp_path / "undisturbed"
    undisturbed.write_text("attempt\n")  # not a first attempt: no kill
    expected = run_jobs(
        [
            Job("noisy_sum", {"n": 4}, seed=0),
            Job("killed_on_first_attempt", {"marker": str(undisturbed), "n": 8}, seed=3),
        ],
        backend="local",
    )
    marker = tmp_path / "marker"
    jobs = [
        Job("noisy_sum", {"n": 4}, seed=0),
        Job("killed_on_first_attempt", {"marker": str(marker), "n": 8}, seed=3),
    ]
    assert run_jobs(jobs, backend="ray", num_workers=2, max_retries=2) == expected
    assert marker.read_text().count("attempt") == 2  # the worker died once, the retry finished the job


def test_a_killed_worker_without_retries_fails_naming_the_job(ray_local, tmp_path):
    job = Job("killed_on_first_attempt", {"marker": str(tmp_path / "m"), "n": 8}, seed=3, name="member 7")
    with pytest.raises(
        JobError,
        match=(
            r"job 'member 7' \(#1 of 2, fn 'killed_on_first_attempt', seed 3\) failed on Ray "
            r"\(its worker died; max_retries=0 re-runs used up\): WorkerCrashedError"
        ),
    ):
        run_jobs([Job("noisy_sum", {"n": 4}), job], backend="ray", num_workers=2, max_retries=0)


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_an_exception_in_a_job_is_not_retried_and_names_the_job(backend, tmp_path, request):
    if backend == "ray":
        request.getfixturevalue("ray_local")
    marker = tmp_path / "m"
    jobs = [Job("raises", {"marker": str(marker)}, seed=5)]
    with pytest.raises(JobError, match=r"job 'raises\[seed=5\]' \(#0 of 1.*ValueError: bad input for seed 5"):
        run_jobs(jobs, backend=backend, num_workers=None if backend == "ray" else 0, max_retries=2)
    assert marker.read_text().count("attempt") == 1
