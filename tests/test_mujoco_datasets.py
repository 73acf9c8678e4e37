"""MuJoCo datasets made D4RL's way from rlsuite's own PPO: the five qualities, their definitions,
raw observations, normalised scores and the ``rlsuite datasets`` command."""

import numpy as np
import pytest

pytest.importorskip("minari")
pytest.importorskip("mujoco")

import gymnasium as gym
import minari

from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.cli import main
from rlsuite.envs.datasets import from_minari, minari_root
from rlsuite.envs.datasets.mujoco import (
    QUALITIES,
    TransitionRecorder,
    build_mujoco_datasets,
    dataset_id,
)


def test_recorder_keeps_the_raw_transitions_and_closes_the_last_episode():
    env = TransitionRecorder(gym.make("Hopper-v5"))
    obs0, _ = env.reset(seed=3)
    for t in range(30):  # small alternating torques: Hopper stays healthy for 30 steps
        env.step(np.full(3, 0.1 if t % 2 else -0.1, dtype=np.float32))
    data = env.dataset()
    assert len(data) == 30
    np.testing.assert_array_equal(data.observations[0], obs0)
    np.testing.assert_array_equal(data.next_observations[:-1], data.observations[1:])
    # The episode still runs: closed as truncated (bootstrapped), not as terminated.
    assert data.truncations[-1] and not data.terminations.any()
    # Replaying the same actions from the same seed gives the same rewards (the env's own).
    env2 = gym.make("Hopper-v5")
    env2.reset(seed=3)
    rewards = [env2.step(a)[1] for a in data.actions]
    np.testing.assert_allclose(data.rewards, rewards)


def test_five_qualities_by_d4rls_definitions(tmp_path):
    root, work = tmp_path / "minari", tmp_path / "work"
    ids = build_mujoco_datasets(
        "Hopper-v5",
        root=root,
        work_dir=work,
        timesteps=6144,
        transitions=600,
        progress_bar=False,
        log=lambda s: None,
    )
    assert set(ids) == set(QUALITIES) and ids["medium-replay"] == dataset_id("Hopper-v5", "medium-replay")
    data = {q: from_minari(ids[q], root=root) for q in QUALITIES}
    for q in ("random", "medium", "expert"):
        assert len(data[q]) >= 600 and data[q].episode_ends[-1] == len(data[q])  # whole episodes
    # medium-expert is medium then expert, row for row.
    both = TransitionDataset.concatenate([data["medium"], data["expert"]])
    np.testing.assert_array_equal(data["medium-expert"].observations, both.observations)
    np.testing.assert_array_equal(data["medium-expert"].rewards, both.rewards)
    # medium-replay: the training run's transitions up to the medium checkpoint, raw observations
    # (Hopper's first entry is the torso height, 1.25 at a reset; normalised it would be near 0).
    replay = TransitionDataset.load(work / "replay.npz")
    n = len(data["medium-replay"])
    assert n < len(replay) and n % 2048 == 0
    np.testing.assert_array_equal(data["medium-replay"].observations, replay.observations[:n])
    assert abs(data["medium-replay"].observations[0, 0] - 1.25) < 0.01
    # Normalised scores (Minari: a fraction; D4RL reports 100x): random 0 and expert 1 on average.
    with minari_root(root):
        for q, expected in (("random", 0.0), ("expert", 1.0)):
            ds = minari.load_dataset(ids[q])
            returns = data[q].episode_returns()
            score = np.mean(minari.get_normalized_score(ds, returns))
            assert score == pytest.approx(expected, abs=1e-6)
    # A second build finds every dataset and trains nothing.
    again = build_mujoco_datasets("Hopper-v5", root=root, work_dir=tmp_path / "nowhere", progress_bar=False)
    assert again == ids and not (tmp_path / "nowhere").exists()


def test_datasets_command_errors_and_list(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["datasets", "build", "Ant-v5", "--root", str(tmp_path)])
    assert e.value.code == 2
    assert "Ant-v5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["datasets", "build", "Hopper-v5", "--quality", "great"])
    assert main(["datasets", "list", "--root", str(tmp_path)]) == 0
