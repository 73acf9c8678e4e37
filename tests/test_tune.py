"""rlsuite.tune: search spaces as data mapped to Ray Tune's objects, config files checked field by field,
sweeps whose trials equal train_agent run directly. Ray: one local instance with 2 CPUs for the module."""

import csv
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rlsuite.cli import main
from rlsuite.sweep import train_agent
from rlsuite.tune import (
    CONFIG_KEYS,
    DISTRIBUTIONS,
    MAX_CONFIG_BYTES,
    TrialError,
    check_search_space,
    check_sweep_config,
    hyperparameter_sweep,
    load_sweep_config,
    nest_kwargs,
    tune_search_space,
)
from rlsuite.validation import ArgumentTypeError

torch.set_num_threads(1)

TINY_PPO = {"n_steps": 64, "batch_size": 32, "n_epochs": 1, "device": "cpu"}
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / "ppo_cartpole.yaml"


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance with 2 CPUs for the module; the sweeps use it as it is."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


# ---------------------------------------------------------------------------- the search space
def test_every_distribution_maps_to_its_tune_object():
    pytest.importorskip("ray.tune")
    from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Quantized, Uniform

    search = {
        "learning_rate": {"loguniform": [1e-4, 1e-2]},
        "ent_coef": {"uniform": [0, 0.01]},
        "n_epochs": {"randint": [1, 5]},
        "gae_lambda": {"quniform": [0.9, 1.0, 0.05]},
        "clip_range": {"grid": [0.1, 0.2]},
        "policy_kwargs.net_arch": {"choice": [[64, 64], [256, 256]]},
        "gamma": 0.98,
    }
    space = check_search_space(search)
    assert space == {
        "learning_rate": ("loguniform", [1e-4, 1e-2]),
        "ent_coef": ("uniform", [0.0, 0.01]),
        "n_epochs": ("randint", [1, 5]),
        "gae_lambda": ("quniform", [0.9, 1.0, 0.05]),
        "clip_range": ("grid", [0.1, 0.2]),
        "policy_kwargs.net_arch": ("choice", [[64, 64], [256, 256]]),
        "gamma": ("constant", 0.98),
    }
    tuned = tune_search_space(space)
    assert "gamma" not in tuned  # constants are set by the trial
    lr, ent, epochs, lam = tuned["learning_rate"], tuned["ent_coef"], tuned["n_epochs"], tuned["gae_lambda"]
    assert isinstance(lr, Float) and isinstance(lr.get_sampler(), LogUniform)
    assert (lr.lower, lr.upper) == (1e-4, 1e-2)
    assert (
        isinstance(ent, Float)
        and isinstance(ent.get_sampler(), Uniform)
        and (ent.lower, ent.upper) == (0, 0.01)
    )
    assert isinstance(epochs, Integer) and isinstance(epochs.get_sampler(), Uniform)
    assert set(epochs.sample(size=200, random_state=0)) == {1, 2, 3, 4}  # high exclusive, as in Tune
    sampler = lam.get_sampler()
    assert isinstance(lam, Float) and isinstance(sampler, Quantized) and sampler.q == 0.05
    assert isinstance(sampler.get_sampler(), Uniform) and (lam.lower, lam.upper) == (0.9, 1.0)
    # choice and grid range over indices into their values: Tune never reads a value
    assert tuned["clip_range"] == {"grid_search": [0, 1]}
    arch = tuned["policy_kwargs.net_arch"]
    assert isinstance(arch, Categorical) and arch.categories == [0, 1]
    assert tune_search_space(check_search_space({"x": {"grid": [{"eval": "1 / 0"}]}})) == {
        "x": {"grid_search": [0]}
    }


def test_dotted_names_set_nested_kwargs_without_touching_fixed():
    fixed = {"n_steps": 64, "policy_kwargs": {"activation_fn": "ReLU"}}
    assert check_search_space({"policy_kwargs.net_arch": {"choice": [[8]]}}, fixed)
    kwargs = nest_kwargs(fixed, {"policy_kwargs.net_arch": [8], "learning_rate": 0.1, "a.b.c": 1})
    assert kwargs == {
        "n_steps": 64,
        "policy_kwargs": {"activation_fn": "ReLU", "net_arch": [8]},
        "learning_rate": 0.1,
        "a": {"b": {"c": 1}},
    }
    assert fixed == {"n_steps": 64, "policy_kwargs": {"activation_fn": "ReLU"}}


SEARCH_ERRORS = [
    (
        {"lr": {"normal": [0, 1]}},
        ValueError,
        r"search\['lr'\]: unknown distribution 'normal'; allowed: \['choice', ",
    ),
    (
        {"lr": {"choice": [1], "grid": [2]}},
        ValueError,
        r"search\['lr'\]: got .*a distribution is a dict with one key",
    ),
    ({"lr": {"uniform": [0.1]}}, ValueError, r"uniform got \[0.1\]; must be a list \[low, high\]"),
    (
        {"lr": {"uniform": "0.1, 0.2"}},
        ArgumentTypeError,
        r"uniform got '0.1, 0.2'; must be a list \[low, high\]",
    ),
    (
        {"lr": {"uniform": [0.2, 0.1]}},
        ValueError,
        r"search\['lr'\]: uniform got \[0.2, 0.1\]; low must be < high",
    ),
    ({"lr": {"loguniform": [0.0, 0.1]}}, ValueError, r"loguniform got \[0.0, 0.1\]; the bounds must be > 0"),
    ({"lr": {"loguniform": [-1.0, 0.1]}}, ValueError, r"the bounds must be > 0"),
    (
        {"lr": {"loguniform": ["1e-4", 0.1]}},
        ArgumentTypeError,
        r"finite numbers \(YAML reads 1e-4 as a string",
    ),
    (
        {"n": {"randint": [1.0, 5]}},
        ArgumentTypeError,
        r"randint got \[1.0, 5\]; must be a list \[low, high\] of integ",
    ),
    (
        {"n": {"randint": [5, 5]}},
        ValueError,
        r"randint got \[5, 5\]; low must be < high \(high is exclusive\)",
    ),
    (
        {"g": {"quniform": [0.9, 1.0]}},
        ValueError,
        r"quniform got \[0.9, 1.0\]; must be a list \[low, high, q\]",
    ),
    ({"g": {"quniform": [0.9, 1.0, 0.0]}}, ValueError, r"q must be > 0"),
    ({"g": {"quniform": [0.91, 0.99, 0.1]}}, ValueError, r"no multiple of q lies in \[low, high\]"),
    ({"c": {"choice": []}}, ValueError, r"search\['c'\]: choice got an empty list"),
    ({"c": {"grid": 3}}, ArgumentTypeError, r"grid got 3; must be a non-empty list of values"),
    ({"c": {"choice": [print]}}, ArgumentTypeError, r"search\['c'\].choice\[0\]: got .*must be JSON data"),
    (
        {"seed": {"choice": [1, 2]}},
        ValueError,
        r"name 'seed' is reserved; the sweep sets \['env', 'policy', 'seed'\]",
    ),
    ({"env": 3}, ValueError, r"name 'env' is reserved"),
    ({"policy.x": 3}, ValueError, r"name 'policy.x' is reserved"),
    ({"net arch": 3}, ValueError, r"name 'net arch' is not an agent kwarg; a name is an identifier"),
    (
        {"policy_kwargs": {"choice": [{}]}, "policy_kwargs.net_arch": 1},
        ValueError,
        r"inside search\['policy_kwar",
    ),
]


@pytest.mark.parametrize("search, error, match", SEARCH_ERRORS)
def test_bad_search_entries_name_the_field_the_value_and_what_is_allowed(search, error, match):
    with pytest.raises(error, match=match):
        check_search_space(search)


@pytest.mark.parametrize(
    "search, fixed, match",
    [
        ({"learning_rate": 0.1}, {"learning_rate": 0.2}, r"search\['learning_rate'\]: also set in fixed"),
        ({"policy_kwargs.net_arch": 1}, {"policy_kwargs": {"net_arch": [8]}}, r"also set in fixed"),
        (
            {"policy_kwargs.net_arch": 1},
            {"policy_kwargs": None},
            r"fixed sets 'policy_kwargs' to None, not a dict",
        ),
        ({}, {"seed": 3}, r"fixed: has 'seed'; the sweep sets"),
        ({}, {"policy_kwargs.net_arch": [8]}, r"fixed: key 'policy_kwargs.net_arch' is not an agent kwarg"),
    ],
)
def test_searched_names_may_not_collide_with_fixed_ones(search, fixed, match):
    with pytest.raises(ValueError, match=match):
        check_search_space(search, fixed)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"algo": "A2C"}, r"algo: 'A2C' is not a registered name; allowed: \[.*'PPO'"),
        (
            {"search": {"learning_rte": 0.1}},
            r"search: 'learning_rte' is not an argument of PPO; allowed: \[.*'n_st",
        ),
        ({"fixed": {"n_step": 8}}, r"fixed: 'n_step' is not an argument of PPO"),
        ({"scheduler": "hyperband"}, r"scheduler: got 'hyperband'; allowed: \['fifo', 'asha'\]"),
        (
            {"metric": "median_return"},
            r"metric: got 'median_return'; allowed: \['mean_return', 'min_return'\]",
        ),
        ({"mode": "maximize"}, r"mode: got 'maximize'; allowed: \['max', 'min'\]"),
        (
            {"scheduler": "asha", "seeds": [0]},
            r"scheduler: 'asha' stops trials between seeds; got seeds=\[0\]",
        ),
        ({"seeds": [0, 0]}, r"seeds: got \[0, 0\]; the seeds of a trial must be distinct"),
        ({"eval_seeds": 0}, r"eval_seeds: got 0; must be an integer >= 1"),
        ({"num_workers": 0}, r"num_workers: got 0; must be an integer >= 1"),
    ],
)
def test_sweep_arguments_are_checked_before_ray_starts(kwargs, match):
    args = {"algo": "PPO", "search": {}, "total_timesteps": 64, "eval_seeds": 1, "verbose": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        hyperparameter_sweep(args.pop("algo"), "CartPole-v1", **args)


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ImportError, match=r'pip install "rlsuite\[ray\]"'):
        hyperparameter_sweep("PPO", "CartPole-v1", {}, total_timesteps=64, eval_seeds=1, verbose=0)


# ---------------------------------------------------------------------------- config files
def test_the_example_config_loads_and_survives_a_yaml_round_trip(tmp_path):
    config = load_sweep_config(EXAMPLE)
    assert set(config) <= set(CONFIG_KEYS)
    assert config["eval_seeds"] == list(range(10))  # an int n means range(n)
    space = check_search_space(config["search"], config["fixed"])
    assert {dist for dist, _ in space.values()} <= set(DISTRIBUTIONS)
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(config))
    assert load_sweep_config(copy) == config


@pytest.mark.parametrize(
    "text, error, match",
    [
        (
            "serach: {}\n",
            ValueError,
            r"unknown keys \['serach'\]; allowed: \['search', 'fixed', 'total_timesteps'",
        ),
        ("- 1\n- 2\n", ArgumentTypeError, r"got \[1, 2\]; must be a mapping with keys"),
        ("scheduler: hyperband\n", ValueError, r"scheduler: got 'hyperband'; allowed: \['fifo', 'asha'\]"),
        ("eval_seeds: 0\n", ValueError, r"eval_seeds: got 0; must be an integer >= 1"),
        ("total_timesteps: 1.5\n", ArgumentTypeError, r"total_timesteps: got 1.5; must be an integer >= 1"),
        ("search: {lr: {normal: [0, 1]}}\n", ValueError, r"search\['lr'\]: unknown distribution 'normal'"),
        ("fixed: {lr: 0.1}\nsearch: {lr: {grid: [1]}}\n", ValueError, r"search\['lr'\]: also set in fixed"),
        ("a: &x [1, 2]\nb: *x\n", ValueError, r"YAML aliases \(\*name\) are not allowed"),
        ("search: !!python/object/apply:os.system [echo]\n", ValueError, r"not valid YAML"),
        ("search: {lr: [unclosed\n", ValueError, r"not valid YAML"),
    ],
)
def test_bad_config_files_are_refused_naming_the_file_and_the_field(tmp_path, text, error, match):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(error, match=match) as info:
        load_sweep_config(path)
    assert str(path) in str(info.value)


def test_config_files_are_bounded_and_must_exist(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ValueError, match=f"larger than {MAX_CONFIG_BYTES} bytes"):
        load_sweep_config(big)
    with pytest.raises(FileNotFoundError, match="is not a file"):
        load_sweep_config(tmp_path / "missing.yaml")
    assert check_sweep_config({"eval_seeds": [3, 4], "policy": "MlpPolicy"}) == {
        "eval_seeds": [3, 4],
        "policy": "MlpPolicy",
    }


# ---------------------------------------------------------------------------- sweeps on Ray Tune
def test_a_grid_sweep_equals_train_agent_run_directly_and_writes_its_files(ray_local, tmp_path):
    """2 learning rates x 2 seeds: each trial's per-seed returns are train_agent's, bit for bit."""
    result = hyperparameter_sweep(
        "PPO",
        "CartPole-v1",
        {"learning_rate": {"grid": [1e-3, 3e-2]}},
        fixed=TINY_PPO,
        total_timesteps=1024,
        seeds=[0, 1],
        eval_seeds=3,
        out_dir=tmp_path,
        verbose=0,
    )
    assert [t["config"] for t in result.trials] == [{"learning_rate": 1e-3}, {"learning_rate": 3e-2}]
    for trial in result.trials:
        direct = [
            train_agent(
                algo="PPO",
                env_id="CartPole-v1",
                total_timesteps=1024,
                seed=s,
                agent_kwargs={**TINY_PPO, **trial["config"]},
                eval_seeds=[0, 1, 2],
            )["mean_return"]
            for s in (0, 1)
        ]
        assert trial["seeds"] == [0, 1] and trial["completed"]
        assert trial["seed_returns"] == direct
        assert trial["mean_return"] == pytest.approx(np.mean(direct))
        assert trial["min_return"] == min(direct) and trial["wall_seconds"] > 0
    best = result.trials[int(np.argmax([t["mean_return"] for t in result.trials]))]
    assert result.best_result == best
    assert result.best_config == {**TINY_PPO, **best["config"]}
    with (tmp_path / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial_id"] for r in rows] == [t["trial_id"] for t in result.trials]
    for row, trial in zip(rows, result.trials, strict=True):
        assert float(row["learning_rate"]) == trial["config"]["learning_rate"]
        assert [float(row["return_seed0"]), float(row["return_seed1"])] == trial["seed_returns"]
        assert float(row["mean_return"]) == trial["mean_return"]
        assert math.isclose(float(row["wall_seconds"]), trial["wall_seconds"])
    best_config = yaml.safe_load((tmp_path / "best_config.yaml").read_text())
    assert best_config == result.best_config
    assert check_sweep_config({"fixed": best_config}) == {"fixed": best_config}  # usable as a fixed: block


def test_a_random_search_with_the_same_seed_samples_the_same_trials(ray_local):
    """The same search and seed, once with FIFO and once with ASHA over 2 seeds: the same sampled configs,
    and every seed ASHA let a trial run gives the FIFO run's return."""
    search = {
        "learning_rate": {"loguniform": [1e-4, 1e-2]},
        "n_epochs": {"randint": [1, 3]},
        "gae_lambda": {"quniform": [0.9, 1.0, 0.05]},
        "policy_kwargs.net_arch": {"choice": [[8], [16]]},
        "gamma": 0.98,
    }
    common = dict(
        fixed={"n_steps": 32, "batch_size": 32, "device": "cpu"},
        total_timesteps=32,
        seeds=[0, 1],
        eval_seeds=1,
        num_samples=4,
        seed=7,
        verbose=0,
    )
    fifo = hyperparameter_sweep("PPO", "CartPole-v1", search, scheduler="fifo", **common)
    asha = hyperparameter_sweep("PPO", "CartPole-v1", search, scheduler="asha", **common)
    configs = [t["config"] for t in fifo.trials]
    assert [t["config"] for t in asha.trials] == configs
    assert len({str(c) for c in configs}) == 4
    for c in configs:
        assert 1e-4 <= c["learning_rate"] <= 1e-2 and c["n_epochs"] in (1, 2) and c["gamma"] == 0.98
        assert any(c["gae_lambda"] == pytest.approx(q) for q in (0.9, 0.95, 1.0))
        assert c["policy_kwargs.net_arch"] in ([8], [16])
    assert all(t["completed"] for t in fifo.trials) and asha.best_result["completed"]
    for a, f in zip(asha.trials, fifo.trials, strict=True):
        assert a["seed_returns"] == f["seed_returns"][: len(a["seed_returns"])]


def test_a_failing_trial_stops_the_sweep_with_its_error(ray_local):
    with pytest.raises(
        TrialError, match=r"trial \w+ \(\{'n_steps': 0\}\) failed: ValueError: n_steps: got 0"
    ) as e:
        hyperparameter_sweep(
            "PPO",
            "CartPole-v1",
            {"n_steps": 0},
            fixed={"batch_size": 32},
            total_timesteps=32,
            eval_seeds=1,
            verbose=0,
        )
    assert isinstance(e.value.__cause__, ValueError)


# ---------------------------------------------------------------------------- the command line
def test_cli_sweep_runs_the_example_config_with_flags_overriding_it(ray_local, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", "PPO", "CartPole-v1", "--config", str(EXAMPLE), "--samples", "1", "--steps", "64"]
    argv += ["--seeds", "0", "--eval-episodes", "1", "--scheduler", "fifo", "--out", str(out), "--seed", "3"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "clip_range" in printed and "best mean_return:" in printed
    with (out / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(float(r["clip_range"]) for r in rows) == [0.1, 0.2]  # the file's grid, one sample
    assert list(rows[0]) == [
        "trial_id",
        "learning_rate",
        "clip_range",
        "n_epochs",
        "policy_kwargs.net_arch",
        "return_seed0",
        "mean_return",
        "min_return",
        "completed",
        "wall_seconds",
    ]
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["n_steps"] == 256 and best["policy_kwargs"]["net_arch"] in ([64, 64], [128, 128])


@pytest.mark.parametrize(
    "text, extra, match",
    [
        ("schedular: asha\n", [], r"--config: .*unknown keys \['schedular'\]"),
        ("eval_seeds: 2\n", [], r"--steps: missing; set total_timesteps in"),
        (
            "total_timesteps: 64\neval_seeds: 2\n",
            ["--workers", "0"],
            r"--workers: got 0; must be an integer >= 1",
        ),
        (
            "total_timesteps: 64\neval_seeds: 2\nsearch: {n_step: 3}\n",
            [],
            r"'n_step' is not an argument of PPO",
        ),
    ],
)
def test_cli_sweep_user_errors_exit_2_naming_the_argument(tmp_path, capsys, text, extra, match):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["sweep", "PPO", "CartPole-v1", "--config", str(path), *extra])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: rlsuite") and "Traceback" not in err
    assert re.search(match, err)
