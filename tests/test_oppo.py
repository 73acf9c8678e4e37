"""OPPO: the triplet loss against hand-worked values, z* moved by its own term only, "can it learn"
from scripted-teacher preferences against behaviour cloning, and the agent surface (save/load,
config errors)."""

from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest
import torch
from gymnasium import spaces
from offline_toys import TargetEpisode, behaviour_cloning, mean_return

from rlsuite.agents import OPPO as OPPOFromAgents
from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.agents.common.logger import Logger
from rlsuite.agents.offline import OPPO, OPPOConfig, oppo_triplet_loss
from rlsuite.envs.datasets import SegmentPreferences, label_segments
from rlsuite.evaluation import run_episodes

torch.set_num_threads(1)

SMALL = {"net_arch": [64, 64], "embed_dim": 32, "n_layers": 1, "n_heads": 2, "dropout": 0.0}


# ---------------------------------------------------------------------------------------- toy task
def two_mode_dataset(n_episodes: int, p_good: float = 0.3, seed: int = 0) -> TransitionDataset:
    """Each episode is played by one of two behaviours: ``a = c`` (good, probability ``p_good``) or
    the mirror ``a = -c`` (bad), plus N(0, 0.1) noise. Cloning the mixture averages the modes
    (``a ~ -0.4 c``: return about -6.5 per episode in theory)."""
    env, rng = TargetEpisode(), np.random.default_rng(seed)
    episodes = []
    for i in range(n_episodes):
        sign = 1.0 if rng.random() < p_good else -1.0

        def act(obs, sign=sign):
            return np.clip(np.array([sign * obs[0] + 0.1 * rng.normal()], np.float32), -1, 1)

        episodes += run_episodes(env, act, [seed * 100_000 + i], record=True)
    return TransitionDataset.from_episodes(episodes, env.observation_space, env.action_space)


@pytest.fixture(scope="module")
def data():
    return two_mode_dataset(300)


@pytest.fixture(scope="module")
def prefs(data):
    return label_segments(data, 500, 5, seed=0)


# ---------------------------------------------------------------------------------------- triplet loss
def test_triplet_loss_is_zero_when_z_star_is_closer_to_the_preferred_by_the_margin():
    anchor = torch.tensor([0.0, 0.0], requires_grad=True)
    positive = torch.tensor([[0.5, 0.0], [0.0, 1.0], [3.0, 4.0]])  # distances 0.5, 1, 5
    negative = torch.tensor([[2.0, 0.0], [0.0, -2.0], [6.0, 8.0]])  # distances 2, 2 (exactly m), 10
    loss = oppo_triplet_loss(anchor, positive, negative, margin=1.0)
    assert float(loss.detach()) == 0.0
    loss.backward()
    torch.testing.assert_close(anchor.grad, torch.zeros(2))  # no pair is active: no gradient either
    assert oppo_triplet_loss(anchor, positive[:0], negative[:0]).item() == 0.0  # a minibatch of ties


def test_triplet_loss_hand_computed():
    anchor = torch.tensor([0.0, 0.0], requires_grad=True)
    positive = torch.tensor([[3.0, 4.0], [0.0, 1.0]])  # distances 5, 1
    negative = torch.tensor([[1.0, 0.0], [0.0, 1.5]])  # distances 1, 1.5
    # max(5 - 1 + 1, 0) = 5 and max(1 - 1.5 + 1, 0) = 0.5 -> mean 2.75
    loss = oppo_triplet_loss(anchor, positive, negative, margin=1.0)
    assert float(loss.detach()) == pytest.approx(2.75)
    # d/d anchor of ||a - p|| - ||a - n||: (a - p)/|a - p| - (a - n)/|a - n|, averaged over the pairs:
    # row 1: (-0.6, -0.8) - (-1, 0) = (0.4, -0.8); row 2: (0, -1) - (0, -1) = (0, 0)
    loss.backward()
    torch.testing.assert_close(anchor.grad, torch.tensor([0.2, -0.4]))
    rows = torch.tensor([[0.0, 0.0], [0.0, 3.0]])  # one anchor per pair ([P, d]); row 2: 2 - 1.5 + 0
    assert float(oppo_triplet_loss(rows, positive, negative, margin=0.0)) == pytest.approx((4.0 + 0.5) / 2)


def test_z_star_moves_only_by_its_own_triplet_term(data, prefs):
    """In the summed loss, z*'s gradient is exactly that of L_pref(z*, sg(z+), sg(z-)) (the
    encoder's triplet term uses a detached z*), and that term sends no gradient to the encoder."""
    model = OPPO("MlpPolicy", data, prefs, seed=0, policy_kwargs=SMALL)
    batch = model.sample_batch()
    loss, _ = model.compute_loss(batch)
    loss.backward()
    pol = model.policy
    with torch.no_grad():
        n, k = batch.labels.shape[0], batch.observations.shape[2]
        z = pol.encode(batch.observations.reshape(2 * n, k, 1), batch.actions.reshape(2 * n, k, 1))
    pairs, first = z.reshape(n, 2, -1), batch.labels == 1.0
    positive = torch.where(first[:, None], pairs[:, 0], pairs[:, 1])
    negative = torch.where(first[:, None], pairs[:, 1], pairs[:, 0])
    (expected,) = torch.autograd.grad(oppo_triplet_loss(pol.z_star, positive, negative, 1.0), pol.z_star)
    torch.testing.assert_close(pol.z_star.grad, expected)
    assert float(expected.norm()) > 0


# ---------------------------------------------------------------------------------------- can it learn
def test_oppo_beats_behaviour_cloning_from_scripted_preferences(data, prefs):
    """Cloning the two-mode data averages the modes; OPPO embeds each segment's behaviour, the
    scripted teacher prefers segments of the good mode, z* moves next to their embeddings and
    pi(a | s, z*) plays the good mode. Measured (seeds 0-2, 500 steps): BC -5.2 to -5.7, OPPO -0.08 to -0.36
    per episode (best 0)."""
    bc = mean_return(behaviour_cloning(data))
    model = OPPO(
        "MlpPolicy", data, prefs, seed=0, learning_rate=1e-3, warmup_steps=100, policy_kwargs=SMALL
    ).learn(500)
    learned = mean_return(model)
    assert bc <= -4.0, bc
    assert learned >= -1.0, (learned, bc)
    # z* orders held-out pairs as the teacher does: closer to the preferred segment's embedding.
    test = label_segments(data, 300, 5, seed=99)
    rows = test.segment_rows()
    with torch.no_grad():
        z = model.policy.encode(
            torch.as_tensor(data.observations[rows].reshape(-1, 5, 1)),
            torch.as_tensor(data.actions[rows].reshape(-1, 5, 1)),
        ).reshape(-1, 2, 8)
        dist = torch.linalg.vector_norm(z - model.policy.z_star, dim=-1).numpy()
    decided = test.labels != 0.5
    agree = ((dist[:, 0] < dist[:, 1]) == (test.labels == 1.0))[decided]
    assert agree.mean() > 0.8, agree.mean()


# ---------------------------------------------------------------------------------------- surface
def test_exported_from_rlsuite_agents():
    assert OPPOFromAgents is OPPO


def test_constructor_parameters_equal_config_fields():
    params = inspect.signature(OPPO.__init__).parameters
    skip = {"self", "policy", "dataset", "preferences", "_init_setup_model"}
    ctor = {name: p.default for name, p in params.items() if name not in skip}
    assert ctor == {f.name: f.default for f in dataclasses.fields(OPPOConfig)}


def discrete_dataset() -> TransitionDataset:
    """Two episodes of 6 steps with Discrete(3) actions."""
    rng = np.random.default_rng(0)
    n = 12
    ends = np.zeros(n, bool)
    ends[[5, 11]] = True
    return TransitionDataset(
        observations=rng.normal(size=(n, 3)).astype(np.float32),
        actions=rng.integers(0, 3, n),
        rewards=rng.normal(size=n).astype(np.float32),
        next_observations=rng.normal(size=(n, 3)).astype(np.float32),
        terminations=ends,
        truncations=np.zeros(n, bool),
        observation_space=spaces.Box(-np.inf, np.inf, (3,), np.float32),
        action_space=spaces.Discrete(3),
    )


@pytest.mark.parametrize("kind", ["box", "discrete"])
def test_save_load_round_trip_is_exact(kind, data, prefs, tmp_path):
    if kind == "discrete":
        data = discrete_dataset()
        prefs = label_segments(data, 20, 3, seed=0)
    model = OPPO("MlpPolicy", data, prefs, seed=3, batch_size=8, policy_kwargs=SMALL).learn(20)
    assert model.device == torch.device("cpu")  # device="auto"
    model.save(tmp_path / "m.zip")
    loaded = OPPO.load(tmp_path / "m.zip", dataset=data, preferences=prefs)
    assert loaded.config == model.config and loaded.num_timesteps == 20
    for name, t in model.policy.state_dict().items():  # z*, the encoder, the observation statistics
        torch.testing.assert_close(loaded.policy.state_dict()[name], t, rtol=0, atol=0)
    obs = data.observations[:32].copy()
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    bare = OPPO.load(tmp_path / "m.zip")  # acting needs neither the dataset nor the preferences
    np.testing.assert_array_equal(
        bare.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    loaded.learn(3)  # the optimizer state came back too: training continues
    with pytest.raises(ValueError, match="no dataset"):
        bare.learn(1)


def test_logger_progress_bar_and_rates(data, prefs, tmp_path):
    """Logged losses; the policy's rate warms up linearly, the encoder's does not, z*'s is its own."""
    model = OPPO("MlpPolicy", data, prefs, seed=0, warmup_steps=10, batch_size=8, policy_kwargs=SMALL)
    model.set_logger(Logger(tmp_path, ("csv",)))
    model.learn(20, log_interval=10, progress_bar=True)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in (
        "train/him_loss",
        "train/pref_loss",
        "train/z_star_loss",
        "train/norm_loss",
        "train/pref_accuracy",
    ):
        assert key in header
    model.num_timesteps = 4  # the 5th step of the warm-up
    model._set_group_rates(model.optimizer)
    policy, encoder, z_star = (g["lr"] for g in model.optimizer.param_groups)
    assert (policy, encoder, z_star) == pytest.approx((1e-4 * 5 / 10, 1e-4, 1e-3))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"margin": -1.0}, "margin"),
        ({"z_learning_rate": 0.0}, "z_learning_rate"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"pref_coef": -0.1}, "pref_coef"),
        ({"norm_coef": float("nan")}, "norm_coef"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"policy_kwargs": {**SMALL, "n_heads": 3}}, "n_heads"),
        ({"policy_kwargs": {**SMALL, "z_dim": 0}}, "z_dim"),
        ({"policy_kwargs": {**SMALL, "dropout": 1.0}}, "dropout"),
        ({"policy_kwargs": {**SMALL, "max_segment_length": 0}}, "max_segment_length"),
    ],
)
def test_bad_config_names_the_field(kwargs, field, data, prefs):
    with pytest.raises((ValueError, TypeError), match=f"^{field}: got"):
        OPPO("MlpPolicy", data, prefs, **kwargs)


def test_bad_preferences_are_refused(data, prefs):
    with pytest.raises(TypeError, match=r"^preferences: got dict; expected a SegmentPreferences"):
        OPPO("MlpPolicy", data, {"starts": 1}, policy_kwargs=SMALL)
    ties = SegmentPreferences(prefs.starts, prefs.length, np.full(len(prefs), 0.5), prefs.returns)
    with pytest.raises(ValueError, match="every pair is a tie"):
        OPPO("MlpPolicy", data, ties, policy_kwargs=SMALL)
    crossing = SegmentPreferences(np.array([[8, 0]]), 5, np.array([1.0]), np.zeros((1, 2)))  # rows 8-12
    with pytest.raises(ValueError, match="crosses an episode's end"):
        OPPO("MlpPolicy", data, crossing, policy_kwargs=SMALL)
    outside = SegmentPreferences(np.array([[len(data) - 2, 0]]), 5, np.array([1.0]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"^preferences\.starts: segments of 5 steps must lie"):
        OPPO("MlpPolicy", data, outside, policy_kwargs=SMALL)
    model = OPPO("MlpPolicy", data, prefs, policy_kwargs={**SMALL, "max_segment_length": 4})
    with pytest.raises(ValueError, match=r"^preferences\.length: got 5; .* at most 4 steps"):
        model.learn(1)
    with pytest.raises(ValueError, match=r"^preferences: none"):
        OPPO("MlpPolicy", data, policy_kwargs=SMALL).learn(1)
    assert math.isfinite(
        OPPO("MlpPolicy", data, prefs, policy_kwargs=SMALL).learn(2).policy.z_star.sum().item()
    )
