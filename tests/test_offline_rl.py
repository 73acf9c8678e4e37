"""Offline RL (IQL, AWAC): the losses against hand-worked values, V against an expectile found by
root finding, TD targets for terminated and truncated transitions, "can it learn" against
behaviour cloning on mixed-quality data, and the agent surface (predict, save/load, config)."""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from scipy.optimize import brentq

from rlsuite.agents.common.config import config_from_arguments
from rlsuite.agents.common.datasets import TransitionDataset
from rlsuite.agents.common.logger import Logger
from rlsuite.agents.common.offline import OfflineAlgorithm, OfflineConfig
from rlsuite.agents.common.schedules import linear_schedule
from rlsuite.agents.offline import (
    AWAC,
    IQL,
    AWACConfig,
    IQLConfig,
    advantage_weights,
    awac_weights,
    expectile_loss,
    return_range_scale,
)
from rlsuite.evaluation import run_episodes

torch.set_num_threads(1)

SMALL = {"net_arch": [64, 64]}


# ---------------------------------------------------------------------------------------- toy tasks
class ContextBandit(gym.Env):
    """One step: a one-hot context ``c`` of 4; action ``c`` pays 1, every other action 0."""

    n = 4
    observation_space = spaces.Box(0.0, 1.0, (n,), np.float32)
    action_space = spaces.Discrete(n)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.context = int(self.np_random.integers(self.n))
        return np.eye(self.n, dtype=np.float32)[self.context], {}

    def step(self, action):
        return np.zeros(self.n, np.float32), float(int(action) == self.context), True, False, {}


def mixed_bandit_behaviour(seed: int):
    """Right with probability 0.35, a decoy ``c + 1`` with 0.5 (the mode: what BC copies), else
    one of the other two."""
    rng = np.random.default_rng(seed)

    def act(obs):
        c = int(np.argmax(obs))
        u = rng.random()
        if u < 0.35:
            return c
        if u < 0.85:
            return (c + 1) % 4
        return (c + 2 + int(rng.integers(2))) % 4

    return act


class ContextTarget(gym.Env):
    """One step: observe ``c ~ U[-1, 1]``, act ``a in [-1, 1]``, reward ``-4 (a - c)^2``."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.c = float(self.np_random.uniform(-1, 1))
        return np.array([self.c], np.float32), {}

    def step(self, action):
        a = float(np.clip(np.asarray(action).reshape(-1)[0], -1, 1))
        return np.zeros(1, np.float32), -4.0 * (a - self.c) ** 2, True, False, {}


def mixed_target_behaviour(seed: int):
    """``a ~ c + N(0, 0.1)`` with probability 0.3, else the mirror ``-c + N(0, 0.1)``: a Gaussian
    fitted to it (BC) centres near ``-0.4 c``."""
    rng = np.random.default_rng(seed)

    def act(obs):
        c = float(obs[0])
        centre = c if rng.random() < 0.3 else -c
        return np.clip(np.array([centre + 0.1 * rng.normal()], np.float32), -1, 1)

    return act


def record(env: gym.Env, behaviour, n: int, seed: int = 0) -> TransitionDataset:
    episodes = run_episodes(
        env, behaviour(seed), seeds=range(seed * 100_000, seed * 100_000 + n), record=True
    )
    return TransitionDataset.from_episodes(episodes, env.observation_space, env.action_space)


def mean_return(env: gym.Env, model, n: int = 100) -> float:
    episodes = run_episodes(env, model, seeds=range(10_000, 10_000 + n), deterministic=True)
    return float(np.mean([ep.total_reward for ep in episodes]))


@dataclass(frozen=True)
class BCConfig(OfflineConfig):
    """Behaviour cloning needs only the shared offline fields."""


class BC(OfflineAlgorithm):
    """Behaviour cloning on the offline seam: maximum likelihood of the dataset's actions."""

    config_class = BCConfig

    def __init__(
        self,
        policy,
        dataset,
        learning_rate=3e-4,
        batch_size=128,
        gamma=0.99,
        max_grad_norm=10.0,
        tensorboard_log=None,
        policy_kwargs=None,
        verbose=0,
        seed=None,
        device="auto",
        check_finite=True,
        _init_setup_model=True,
    ):
        super().__init__(policy, dataset, config_from_arguments(BCConfig, locals()), _init_setup_model)

    def compute_loss(self, batch):
        actions = self.policy.action_head.from_env(batch.actions)
        loss = -self.policy.evaluate_actions(batch.observations, actions).log_prob.mean()
        return loss, {"nll": float(loss.detach())}


# ---------------------------------------------------------------------------------------- losses
def test_expectile_loss_hand_computed():
    diff = torch.tensor([2.0, -1.0, 0.5, 0.0])
    # tau 0.7: weights 0.7, 0.3, 0.7, 0.7 -> 2.8, 0.3, 0.175, 0
    torch.testing.assert_close(expectile_loss(diff, 0.7), torch.tensor([2.8, 0.3, 0.175, 0.0]))
    assert float(expectile_loss(diff, 0.7).mean()) == pytest.approx(3.275 / 4)
    torch.testing.assert_close(expectile_loss(diff, 0.5), 0.5 * diff**2)  # the mean's loss, halved


def test_advantage_weights_hand_computed():
    adv = torch.tensor([0.0, 1.0, -1.0, 10.0])
    torch.testing.assert_close(
        advantage_weights(adv, 3.0, 100.0), torch.tensor([1.0, math.exp(3), math.exp(-3), 100.0])
    )
    a = torch.tensor([0.0, math.log(3.0)])  # exp: 1 and 3 -> softmax 1/4, 3/4 -> times B = 2
    torch.testing.assert_close(awac_weights(a, 1.0, "softmax", 100.0), torch.tensor([0.5, 1.5]))
    torch.testing.assert_close(awac_weights(a * 100, 1.0, "clip", 100.0), torch.tensor([1.0, 100.0]))


def expectile(values: np.ndarray, probs: np.ndarray, tau: float) -> float:
    """The tau-expectile of a discrete distribution: the root v of
    ``tau E[(x - v)+] = (1 - tau) E[(v - x)+]`` (scipy's brentq, independent of the code)."""

    def condition(v: float) -> float:
        return (
            tau * (probs * np.maximum(values - v, 0)).sum()
            - (1 - tau) * (probs * np.maximum(v - values, 0)).sum()
        )

    return float(brentq(condition, values.min(), values.max()))


def test_value_network_alone_approaches_the_expectile():
    """V (IQL's network and loss, nothing else) on a fixed distribution of Q targets."""
    data = record(ContextBandit(), mixed_bandit_behaviour, 50)
    model = IQL("MlpPolicy", data, expectile=0.8, seed=0, policy_kwargs=SMALL)
    targets = np.array([0.0, 1.0, 2.0, 6.0], np.float32)
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    obs = torch.eye(4)[:1]
    x, p = torch.as_tensor(targets), torch.as_tensor(probs, dtype=torch.float32)
    opt = torch.optim.Adam(model.policy.value_net.parameters(), lr=3e-3)
    for _ in range(1000):
        loss = (p * expectile_loss(x - model.policy.value(obs), 0.8)).sum()  # the exact expectation
        opt.zero_grad()
        loss.backward()
        opt.step()
    v = float(model.policy.value(obs).detach())
    expected = expectile(targets.astype(np.float64), probs, 0.8)  # 2.385 (the mean is 1.3)
    assert v == pytest.approx(expected, abs=0.02)
    assert abs(v - float(targets @ probs)) > 1.0  # far from the mean: the loss is asymmetric


def test_iql_v_learns_the_expectile_of_the_datasets_action_values():
    """End to end on a one-step bandit with one context: Q -> r(a), V -> the tau-expectile of r(a)
    under the dataset's action frequencies."""

    class OneContext(ContextBandit):
        rewards = np.array([0.0, 1.0, 3.0, 0.0])

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.context = 0
            return np.eye(self.n, dtype=np.float32)[0], {}

        def step(self, action):
            return np.zeros(self.n, np.float32), float(self.rewards[int(action)]), True, False, {}

    rng = np.random.default_rng(1)
    data = record(OneContext(), lambda _seed: lambda obs: int(rng.choice(3, p=[0.5, 0.3, 0.2])), 1000)
    freqs = np.bincount(data.actions, minlength=4) / len(data)
    model = IQL(
        "MlpPolicy", data, expectile=0.9, seed=0, policy_kwargs=SMALL, learning_rate=linear_schedule(1e-3)
    )
    model.learn(1500)
    obs = torch.as_tensor(data.observations[:1].copy())
    q = model.policy.q_values(obs.repeat(3, 1), torch.arange(3).reshape(3, 1)).detach().numpy()
    np.testing.assert_allclose(q, np.tile([0.0, 1.0, 3.0], (2, 1)), atol=0.05)
    expected = expectile(OneContext.rewards, freqs, 0.9)
    assert float(model.policy.value(obs).detach()) == pytest.approx(expected, abs=0.05)


# ---------------------------------------------------------------------------------------- TD targets
def _two_transitions(action_space: spaces.Space) -> TransitionDataset:
    """Row 0 truncated (a time limit: bootstrap), row 1 terminated (no future)."""
    actions = np.array([0, 1]) if isinstance(action_space, spaces.Discrete) else np.zeros((2, 1), np.float32)
    return TransitionDataset(
        observations=np.zeros((2, 2), np.float32),
        actions=actions,
        rewards=np.array([1.0, 2.0], np.float32),
        next_observations=np.ones((2, 2), np.float32),
        terminations=np.array([False, True]),
        truncations=np.array([True, False]),
        observation_space=spaces.Box(-np.inf, np.inf, (2,), np.float32),
        action_space=action_space,
    )


def _constant_head(layer: torch.nn.Linear, values) -> None:
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(torch.as_tensor(values, dtype=torch.float32))


def test_iql_td_target_bootstraps_truncated_not_terminated():
    data = _two_transitions(spaces.Box(-1.0, 1.0, (1,), np.float32))
    model = IQL("MlpPolicy", data, gamma=0.9, reward_scale=2.0, seed=0, policy_kwargs=SMALL)
    _constant_head(model.policy.value_net[-1], [5.0])  # V(s') = 5 everywhere
    targets = model.q_targets(data.batch(np.arange(2)))
    # truncated: 2 * 1 + 0.9 * 5 = 6.5; terminated: 2 * 2 = 4
    torch.testing.assert_close(targets, torch.tensor([6.5, 4.0]))


def test_awac_td_target_uses_the_policys_expected_target_value():
    data = _two_transitions(spaces.Discrete(2))
    model = AWAC("MlpPolicy", data, gamma=0.9, seed=0, policy_kwargs=SMALL)
    pol = model.policy
    _constant_head(pol.q_targets[0][-1], [1.0, 3.0])
    _constant_head(pol.q_targets[1][-1], [2.0, 0.0])  # min over the targets: [1, 0]
    _constant_head(pol.action_head.net, [math.log(0.25), math.log(0.75)])  # pi = (0.25, 0.75)
    targets = model.q_targets(data.batch(np.arange(2)))
    # E_pi min Qhat = 0.25; truncated: 1 + 0.9 * 0.25; terminated: 2
    torch.testing.assert_close(targets, torch.tensor([1.225, 2.0]))


# ---------------------------------------------------------------------------------------- can it learn
@pytest.fixture(scope="module")
def bandit_data():
    return record(ContextBandit(), mixed_bandit_behaviour, 2000)


@pytest.fixture(scope="module")
def target_data():
    return record(ContextTarget(), mixed_target_behaviour, 2000)


@pytest.fixture(scope="module")
def bc_returns(bandit_data, target_data):
    out = {}
    for name, data, env in (
        ("bandit", bandit_data, ContextBandit()),
        ("target", target_data, ContextTarget()),
    ):
        bc = BC("MlpPolicy", data, seed=0, policy_kwargs=SMALL).learn(2000)
        out[name] = mean_return(env, bc)
    return out


@pytest.mark.parametrize("algo", [IQL, AWAC])
def test_discrete_learner_beats_behaviour_cloning(algo, bandit_data, bc_returns):
    """BC copies the data's mode (the decoy, worth 0); value-weighted regression picks the right
    action although the data takes it only 35% of the time."""
    model = algo("MlpPolicy", bandit_data, seed=0, batch_size=128, policy_kwargs=SMALL).learn(2000)
    learned = mean_return(ContextBandit(), model)
    assert bc_returns["bandit"] <= 0.2, bc_returns
    assert learned >= 0.9, (learned, bc_returns)


@pytest.mark.parametrize("algo", [IQL, AWAC])
def test_continuous_learner_beats_behaviour_cloning(algo, target_data, bc_returns):
    """BC's Gaussian averages the two modes (about -0.4 c: return near -2.1 measured, -2.6 in
    theory); the learners lean to the good mode ``a = c`` (return 0 at best; measured over seeds
    0-2: IQL -0.003 to -0.006, AWAC -0.09 to -0.17)."""
    model = algo("MlpPolicy", target_data, seed=0, batch_size=128, policy_kwargs=SMALL).learn(2000)
    learned = mean_return(ContextTarget(), model)
    assert bc_returns["target"] <= -1.5, bc_returns
    assert learned >= -0.5, (learned, bc_returns)


# ---------------------------------------------------------------------------------------- surface
@pytest.mark.parametrize("algo", [IQL, AWAC])
def test_progress_bar_counts_gradient_steps(algo, bandit_data, capsys):
    """``learn(n, progress_bar=True)`` runs and its bar ends at ``n`` gradient steps."""
    pytest.importorskip("tqdm")
    model = algo("MlpPolicy", bandit_data, seed=0, batch_size=16, policy_kwargs=SMALL)
    model.learn(30, progress_bar=True)
    assert model.num_timesteps == 30
    assert "30/30" in capsys.readouterr().err


@pytest.mark.parametrize(("algo", "config"), [(IQL, IQLConfig), (AWAC, AWACConfig)])
def test_constructor_parameters_equal_config_fields(algo, config):
    params = inspect.signature(algo.__init__).parameters
    skip = {"self", "policy", "dataset", "_init_setup_model"}
    ctor = {name: p.default for name, p in params.items() if name not in skip}
    fields = {f.name: f.default for f in dataclasses.fields(config)}
    assert ctor == fields


@pytest.mark.parametrize(
    ("algo", "kwargs", "field"),
    [
        (IQL, {"expectile": 1.0}, "expectile"),
        (IQL, {"expectile": 0.0}, "expectile"),
        (IQL, {"beta": 0.0}, "beta"),
        (IQL, {"max_weight": -1.0}, "max_weight"),
        (IQL, {"tau": 0.0}, "tau"),
        (IQL, {"tau": 1.5}, "tau"),
        (IQL, {"actor_lr_schedule": "linear"}, "actor_lr_schedule"),
        (IQL, {"reward_scale": 0.0}, "reward_scale"),
        (IQL, {"batch_size": 0}, "batch_size"),
        (IQL, {"gamma": 1.1}, "gamma"),
        (AWAC, {"lam": 0.0}, "lam"),
        (AWAC, {"weighting": "mean"}, "weighting"),
        (AWAC, {"n_action_samples": 0}, "n_action_samples"),
        (AWAC, {"policy_kwargs": {"n_critics": 0}}, "n_critics"),
        (AWAC, {"policy_kwargs": {"log_std_min": 3.0}}, "log_std_min"),
    ],
)
def test_bad_config_names_the_field(algo, kwargs, field, bandit_data):
    with pytest.raises((ValueError, TypeError), match=f"^{field}: "):
        algo("MlpPolicy", bandit_data, **kwargs)


def test_vector_rewards_are_refused():
    data = _two_transitions(spaces.Discrete(2))
    vector = dataclasses.replace(data, rewards=np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="dataset: rewards have 2 objectives"):
        IQL("MlpPolicy", vector)


@pytest.mark.parametrize("algo", [IQL, AWAC])
@pytest.mark.parametrize("kind", ["discrete", "box"])
def test_save_load_round_trip_is_exact(algo, kind, bandit_data, target_data, tmp_path):
    data, env = (bandit_data, ContextBandit()) if kind == "discrete" else (target_data, ContextTarget())
    model = algo("MlpPolicy", data, seed=3, batch_size=32, policy_kwargs=SMALL).learn(30)
    assert model.device == torch.device("cpu")  # device="auto"
    model.save(tmp_path / "m.zip")
    loaded = algo.load(tmp_path / "m.zip", dataset=data)
    assert loaded.config == model.config and loaded.num_timesteps == 30
    for name, t in model.policy.state_dict().items():
        torch.testing.assert_close(loaded.policy.state_dict()[name], t, rtol=0, atol=0)
    obs = data.observations[:64].copy()
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )
    assert mean_return(env, loaded, 5) == mean_return(env, model, 5)
    loaded.learn(5)  # the optimizer state came back too: training continues


def test_predict_deterministic_is_the_mean_or_the_argmax(bandit_data, target_data):
    box = IQL("MlpPolicy", target_data, seed=0, policy_kwargs=SMALL).learn(20)
    obs = target_data.observations[:16].copy()
    mean = box.policy.distribution(torch.as_tensor(obs)).mode()
    expected = (box.policy.unscale_actions(mean)).detach().numpy()  # bounds [-1, 1]: unscaled = mean
    np.testing.assert_allclose(box.predict(obs, deterministic=True)[0], expected, atol=1e-6)
    assert not np.allclose(box.predict(obs, deterministic=False)[0], expected)  # a sample
    disc = AWAC("MlpPolicy", bandit_data, seed=0, policy_kwargs=SMALL).learn(20)
    logits = disc.policy.distribution(torch.as_tensor(np.eye(4, dtype=np.float32))).logits
    np.testing.assert_array_equal(
        disc.predict(np.eye(4, dtype=np.float32), deterministic=True)[0], logits.argmax(1)
    )


def test_box_actions_are_scaled_to_the_unit_interval():
    space = spaces.Box(np.array([0.0, -4.0], np.float32), np.array([2.0, 4.0], np.float32))
    data = TransitionDataset(
        observations=np.zeros((2, 1), np.float32),
        actions=np.array([[0.0, -4.0], [1.5, 2.0]], np.float32),
        rewards=np.zeros(2, np.float32),
        next_observations=np.zeros((2, 1), np.float32),
        terminations=np.array([False, True]),
        truncations=np.array([False, False]),
        observation_space=spaces.Box(-1.0, 1.0, (1,), np.float32),
        action_space=space,
    )
    pol = IQL("MlpPolicy", data, seed=0, policy_kwargs=SMALL).policy
    u = pol.scale_actions(torch.as_tensor(data.actions.copy()))
    torch.testing.assert_close(u, torch.tensor([[-1.0, -1.0], [0.5, 0.5]]))
    torch.testing.assert_close(pol.unscale_actions(u), torch.as_tensor(data.actions.copy()))


def test_actor_learning_rate_follows_the_cosine_and_targets_follow_polyak(bandit_data, tmp_path):
    from rlsuite.agents.common.callbacks import BaseCallback

    seen: list[tuple[float, float]] = []

    class Rates(BaseCallback):
        def _on_step(self) -> bool:
            actor, critic = self.model.optimizer.param_groups
            seen.append((actor["lr"], critic["lr"]))
            return True

    model = IQL("MlpPolicy", bandit_data, tau=0.25, seed=0, policy_kwargs=SMALL)
    model.learn(10, callback=Rates())
    for k, (actor, critic) in enumerate(seen):
        assert critic == pytest.approx(3e-4)
        assert actor == pytest.approx(3e-4 * 0.5 * (1 + math.cos(math.pi * k / 10)))
    before = [p.clone() for p in model.policy.q_targets.parameters()]
    model.learn(1, reset_num_timesteps=False)
    for old, new, critic in zip(
        before, model.policy.q_targets.parameters(), model.policy.q_nets.parameters(), strict=True
    ):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * critic)
    model.set_logger(Logger(tmp_path, ("csv",)))
    model.learn(20, log_interval=10)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("train/q_loss", "train/v_loss", "train/actor_loss", "train/adv_mean"):
        assert key in header


def test_return_range_scale_is_iqls_normalisation(target_data):
    returns = target_data.episode_returns()
    assert return_range_scale(target_data) == pytest.approx(1000.0 / (returns.max() - returns.min()))
    one = _two_transitions(spaces.Discrete(2))
    with pytest.raises(ValueError, match="return range is 0"):
        return_range_scale(dataclasses.replace(one, truncations=np.array([False, False])))
