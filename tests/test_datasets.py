"""Offline datasets made locally: Minari round trips, the scripted preference teacher, the noisy
inventory dataset."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy.stats import binomtest

import rlsuite  # noqa: F401  (registers the envs)
from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.envs.datasets import (
    SegmentPreferences,
    from_minari,
    label_segments,
    minari_root,
    noisy_inventory_dataset,
    to_minari,
)
from rlsuite.evaluation import run_episodes

torch.set_num_threads(1)
minari = pytest.importorskip("minari")
COLUMNS = ("observations", "actions", "rewards", "next_observations", "terminations", "truncations")


@pytest.fixture(scope="module")
def inventory() -> TransitionDataset:
    return noisy_inventory_dataset("InvMgmt-v0", sigmas=(0.0, 0.5), episodes_per_level=2, seed=3)


def cartpole(n: int = 4) -> TransitionDataset:
    env = gym.make("CartPole-v1", max_episode_steps=40)
    eps = run_episodes(env, lambda obs: int(obs[2] > 0), list(range(n)), record=True)
    return TransitionDataset.from_episodes(eps, env.observation_space, env.action_space)


@pytest.mark.parametrize("kind", ["inventory (Box actions)", "cartpole (Discrete, truncations)"])
def test_minari_round_trip_is_exact(inventory, tmp_path, kind):
    data = inventory if kind.startswith("inventory") else cartpole()
    env_id = "InvMgmt-v0" if kind.startswith("inventory") else "CartPole-v1"
    written = to_minari(
        data, "rlsuite/test/data-v0", env_id=env_id, root=tmp_path, ref_min_score=0, ref_max_score=1
    )
    n_episodes = int((data.terminations | data.truncations).sum())
    assert written.total_episodes == n_episodes and written.total_steps == len(data)
    back = from_minari("rlsuite/test/data-v0", root=tmp_path)
    for name in COLUMNS:
        a, b = getattr(data, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert back.observation_space == data.observation_space and back.action_space == data.action_space
    # Minari itself reads the files: T + 1 observations per episode, the last = the final next_observation
    with minari_root(tmp_path):
        episode = next(iter(minari.load_dataset("rlsuite/test/data-v0").iterate_episodes()))
    first = next(iter(data.episodes()))
    np.testing.assert_array_equal(episode.observations[-1], data.next_observations[first.stop - 1])
    assert len(episode.observations) == first.stop - first.start + 1


def test_minari_root_is_restored_and_missing_datasets_are_clear_errors(tmp_path):
    before = os.environ.get("MINARI_DATASETS_PATH")
    with minari_root(tmp_path):
        assert os.environ["MINARI_DATASETS_PATH"] == str(tmp_path.resolve())
    assert os.environ.get("MINARI_DATASETS_PATH") == before
    with pytest.raises(ValueError, match="no local Minari dataset"):
        from_minari("rlsuite/none/missing-v0", root=tmp_path)
    with pytest.raises(TypeError, match="TransitionDataset"):
        to_minari({"observations": []}, "rlsuite/x/y-v0", root=tmp_path)


def test_teacher_labels_follow_the_segment_returns(inventory):
    prefs = label_segments(inventory, 400, 6, seed=1)
    rewards = inventory.rewards.astype(np.float64)
    ends = np.flatnonzero(inventory.terminations | inventory.truncations)
    for (a, b), label, (ra, rb) in zip(prefs.starts, prefs.labels, prefs.returns, strict=True):
        sa, sb = sum(rewards[a : a + 6]), sum(rewards[b : b + 6])  # by hand
        assert ra == pytest.approx(sa) and rb == pytest.approx(sb)
        assert label == (1.0 if sa > sb else 0.0 if sb > sa else 0.5)
        for s in (a, b):  # a segment never crosses an episode's end
            assert not ((ends >= s) & (ends < s + 5)).any()
    ties = label_segments(inventory, 400, 6, seed=1, tie_margin=50.0)
    gap = np.abs(ties.returns[:, 0] - ties.returns[:, 1])
    np.testing.assert_array_equal(ties.labels == 0.5, gap <= 50.0)


def test_teacher_noise_flips_labels_at_its_rate(inventory):
    clean = label_segments(inventory, 4000, 4, seed=2)
    noisy = label_segments(inventory, 4000, 4, seed=2, noise=0.2)
    np.testing.assert_array_equal(clean.starts, noisy.starts)  # same pairs: the flips use a later draw
    decided = clean.labels != 0.5
    flipped = int((clean.labels != noisy.labels)[decided].sum())
    assert binomtest(flipped, int(decided.sum()), 0.2).pvalue > 1e-3
    assert (noisy.labels[~decided] == 0.5).all()


def test_preferences_round_trip_and_checks(inventory, tmp_path):
    prefs = label_segments(inventory, 50, 5, seed=0)
    prefs.save(tmp_path / "p.npz")
    back = SegmentPreferences.load(tmp_path / "p.npz")
    for name in ("starts", "labels", "returns"):
        np.testing.assert_array_equal(getattr(back, name), getattr(prefs, name))
    assert back.length == 5 and back.segment_rows().shape == (50, 2, 5)
    with pytest.raises(ValueError, match="segment_length"):
        label_segments(inventory, 5, 10_000)
    with pytest.raises(ValueError, match="noise"):
        label_segments(inventory, 5, 3, noise=0.7)
    with pytest.raises(ValueError, match="labels"):
        SegmentPreferences(prefs.starts, 5, prefs.labels + 0.25, prefs.returns)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a preferences file"):
        SegmentPreferences.load(tmp_path / "bad.npz")


def test_noise_free_level_is_the_base_stock_policy(inventory):
    from rlsuite.baselines import BaseStockPolicy

    env = gym.make("InvMgmt-v0")
    base = BaseStockPolicy.newsvendor(env)
    first = next(iter(inventory.episodes()))
    for row in range(first.start, first.stop):
        expected = np.clip(
            base.predict(inventory.observations[row])[0], env.action_space.low, env.action_space.high
        )
        np.testing.assert_allclose(inventory.actions[row], expected, rtol=1e-6)
    noisy = list(inventory.episodes())[2]  # sigma 0.5: orders differ from the rule's
    diffs = [
        not np.allclose(inventory.actions[r], base.predict(inventory.observations[r])[0])
        for r in range(noisy.start, noisy.stop)
    ]
    assert np.mean(diffs) > 0.5


def test_inventory_dataset_in_minari_with_reference_returns(tmp_path):
    """``build_inventory_dataset`` writes the noisy base-stock episodes once, with reference returns
    that score random orders 0 and the noiseless base stock 1 (Minari's normalised score)."""
    import minari

    from rlsuite.baselines import BaseStockPolicy
    from rlsuite.envs.datasets import build_inventory_dataset, from_minari, minari_root

    kwargs = dict(root=tmp_path, sigmas=(0.0, 1.0), episodes_per_level=3, reference_episodes=4, seed=2)
    ds_id = build_inventory_dataset("InvMgmt-v0", **kwargs)
    assert ds_id == "rlsuite/invmgmt/noisy-v0"
    data = from_minari(ds_id, root=tmp_path)
    expected = noisy_inventory_dataset("InvMgmt-v0", sigmas=(0.0, 1.0), episodes_per_level=3, seed=2)
    np.testing.assert_array_equal(data.actions, expected.actions)
    np.testing.assert_array_equal(data.rewards, expected.rewards)
    env = gym.make("InvMgmt-v0")
    seeds = [10**6 + 2 + i for i in range(4)]
    base = np.mean([e.total_reward for e in run_episodes(env, BaseStockPolicy.newsvendor(env), seeds)])
    with minari_root(tmp_path):
        handle = minari.load_dataset(ds_id)
        assert float(minari.get_normalized_score(handle, np.array([base]))[0]) == pytest.approx(1.0)
        meta = handle.storage.metadata
        assert meta["ref_max_score"] == pytest.approx(base)
        # Random orders lose money on this network: far below the base stock's profit.
        assert meta["ref_min_score"] < 0 < meta["ref_max_score"]
    stamp = (tmp_path / ds_id).stat().st_mtime_ns
    assert build_inventory_dataset("InvMgmt-v0", **kwargs) == ds_id  # found, not rebuilt
    assert (tmp_path / ds_id).stat().st_mtime_ns == stamp
