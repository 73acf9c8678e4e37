"""``rlsuite train`` / ``rlsuite evaluate <model.zip>`` / ``rlsuite agents``: a run folder written
and read back, the saved model scoring what training measured, offline agents from a local
Minari dataset, and user errors exiting with status 2."""

import json
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from rlsuite.agents import HDPO
from rlsuite.cli import main
from rlsuite.evaluation import run_episodes
from rlsuite.runs import load_model

TINY_PPO = "n_steps: 128\nbatch_size: 64\nn_epochs: 2\npolicy_kwargs:\n  net_arch: [16, 16]\n"


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def test_train_then_evaluate_the_saved_model(tmp_path, capsys):
    cfg = tmp_path / "ppo.yaml"
    cfg.write_text(TINY_PPO)
    out = tmp_path / "run"
    argv = ["train", "PPO", "CartPole-v1", "--config", str(cfg), "--steps", "512", "--seed", "3"]
    assert main([*argv, "--out", str(out), "--eval-episodes", "3", "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} == {"model.zip", "config.yaml", "result.json", "logs"}
    assert (out / "logs" / "progress.csv").read_text().startswith(("rollout/", "time/", "train/"))
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert (config["algo"], config["seed"], config["total_timesteps"]) == ("PPO", 3, 512)
    assert config["agent"]["n_steps"] == 128 and config["agent"]["gamma"] == 0.99  # defaults resolved
    assert config["agent"]["policy_kwargs"]["net_arch"] == [16, 16]
    result = json.loads((out / "result.json").read_text())
    assert len(result["eval_returns"]) == 3
    capsys.readouterr()
    # The file, loaded by the CLI, plays the same first two evaluation episodes as the trained model.
    assert main(["evaluate", str(out / "model.zip"), "CartPole-v1", "--seeds", "10000", "10001"]) == 0
    printed = capsys.readouterr().out
    mean = float(re.search(r"return (-?[\d.]+)", printed).group(1))
    assert mean == pytest.approx(np.mean(result["eval_returns"][:2]), abs=0.006)


def test_hdpo_run_evaluated_with_the_inventory_kpis(tmp_path, capsys):
    cfg = tmp_path / "hdpo.yaml"
    cfg.write_text(
        "n_train: 128\nbatch_size: 64\nn_dev: 32\ntrain_periods: 30\ntrain_warmup: 0\ndev_periods: 30\n"
        "dev_warmup: 0\nrandom_initial_state: false\neval_every: 1\npolicy_kwargs: {net_arch: [16]}\n"
    )
    out = tmp_path / "hdpo"
    argv = ["train", "HDPO", "InvMgmt-v0", "--config", str(cfg), "--steps", str(128 * 30 * 2)]
    assert main([*argv, "--out", str(out), "--eval-episodes", "0", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.zip"), "InvMgmt-v0", "--seeds", "1", "2", "3"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("HDPO (model.zip)"))
    profit = float(row.split()[3])
    # The vectorised KPI evaluation agrees with single-env episodes of the loaded model.
    model = HDPO.load(out / "model.zip", device="cpu")
    episodes = run_episodes(gym.make("InvMgmt-v0"), model, [1, 2, 3], deterministic=True)
    assert profit == pytest.approx(np.mean([e.total_reward for e in episodes]), abs=0.006)


def test_offline_agent_trains_from_a_local_minari_dataset(tmp_path, monkeypatch, capsys):
    from rlsuite.agents.common.datasets import TransitionDataset
    from rlsuite.envs.datasets import to_minari

    env = gym.make("Pendulum-v1")
    rng = np.random.default_rng(0)
    n = 400
    obs = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    done = np.zeros(n, bool)
    done[99::100] = True
    data = TransitionDataset(
        obs, rng.uniform(-2, 2, (n, 1)).astype(np.float32), -np.abs(obs[:, 0]), obs + 0.01,
        np.zeros(n, bool), done, observation_space=env.observation_space, action_space=env.action_space,
    )  # fmt: skip
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    to_minari(data, "test/pendulum/random-v0", env_id="Pendulum-v1")
    out = tmp_path / "iql"
    argv = ["train", "IQL", "Pendulum-v1", "--dataset", "test/pendulum/random-v0", "--steps", "20"]
    assert main([*argv, "--out", str(out), "--eval-episodes", "1", "--no-progress"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["dataset"] == "test/pendulum/random-v0" and len(result["eval_returns"]) == 1
    assert load_model(out / "model.zip").num_timesteps == 20


def test_agents_lists_every_agent_with_its_defaults(capsys):
    assert main(["agents"]) == 0
    out = capsys.readouterr().out
    for name in ("PPO", "HDPO", "GRPO", "IQL", "AWAC", "FamO2O", "OPPO"):
        assert re.search(rf"^{name}\s", out, re.M), name
    assert "n_steps=2048" in out and "expectile=0.7" in out


@pytest.mark.parametrize(
    "argv, field",
    [
        (["train", "SAC", "CartPole-v1", "--steps", "10"], "algo"),
        (["train", "OPPO", "CartPole-v1", "--steps", "10"], "algo: OPPO cannot be trained"),
        (["train", "IQL", "Pendulum-v1", "--steps", "10"], "dataset"),
        (["train", "PPO", "CartPole-v1", "--steps", "10", "--dataset", "x/y-v0"], "dataset"),
        (["train", "PPO", "NoSuchEnv-v9", "--steps", "10"], "env_id"),
        (["train", "PPO", "CartPole-v1"], "total_timesteps"),
        (["train", "PPO", "CartPole-v1", "--steps", "0"], "--steps"),
        (["evaluate", "missing.zip", "CartPole-v1"], "not a file"),
    ],
)
def test_user_errors_exit_2_naming_the_field(argv, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and field in err and "Traceback" not in err


@pytest.mark.parametrize(
    "text, match",
    [("bogus: 1\n", "unknown keys \\['bogus'\\]"), ("[1, 2\n", "not valid YAML"), ("- 1\n", "config")],
)
def test_bad_config_files_are_refused(text, match, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(SystemExit):
        main(
            [
                "train",
                "PPO",
                "CartPole-v1",
                "--steps",
                "10",
                "--config",
                str(cfg),
                "--out",
                str(tmp_path / "r"),
            ]
        )
    assert re.search(match, capsys.readouterr().err)


def test_a_zip_that_is_not_a_model_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(bad), "CartPole-v1"])
    assert e.value.code == 2 and "policy:" in capsys.readouterr().err
