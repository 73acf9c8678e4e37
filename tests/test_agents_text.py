"""Text policies: action scoring with masks, PPO on the text envs, behaviour cloning."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import rlsuite  # noqa: F401
from rlsuite.agents import PPO, TextChoicePolicy, TextFeaturesExtractor, behavior_cloning
from rlsuite.baselines.text_experts import (
    SokobanExpert,
    WebShopExpert,
    collect_demonstrations,
    run_text_episodes,
)
from rlsuite.envs.text import WebShopEnv


@pytest.mark.parametrize("encoder", ["bow", "position", "gru"])
def test_ppo_with_text_policy_never_takes_masked_actions(encoder):
    env = WebShopEnv(split="test", max_steps=8)
    model = PPO(
        "TextPolicy", env, n_steps=64, batch_size=32, n_epochs=2, policy_kwargs={"encoder": encoder}, seed=0
    )
    model.learn(128)
    obs, info = env.reset(seed=0)
    for _ in range(40):
        action, _ = model.predict(obs, deterministic=False)
        assert obs["action_mask"][int(action)] == 1
        obs, _, term, trunc, info = env.step(int(action))
        assert info["is_action_valid"]
        if term or trunc:
            obs, info = env.reset()
    # The rollout buffer never holds a masked action either.
    buf = model.buffer
    taken = torch.gather(buf.masks.reshape(-1, buf.masks.shape[-1]), 1, buf.actions.reshape(-1, 1).long())
    assert taken.all()


def test_behaviour_cloning_learns_the_sokoban_expert():
    env = gym.make("Sokoban-v0")
    demo = collect_demonstrations(env, SokobanExpert(), list(range(1000, 1300)))
    model = PPO("TextPolicy", env, policy_kwargs={"encoder": "position"}, seed=0)
    before = run_text_episodes(env, _Greedy(model), list(range(50)))["success"].mean()
    hist = behavior_cloning(model, demo, epochs=15, batch_size=128)
    after = run_text_episodes(env, _Greedy(model), list(range(50)))["success"].mean()
    assert hist["accuracy"][-1] > 0.8 and hist["loss"][-1] < hist["loss"][0]
    assert after > before + 0.2 and after >= 0.6


def test_behaviour_cloning_on_webshop_follows_the_expert():
    env = WebShopEnv(split="train")
    demo = collect_demonstrations(env, WebShopExpert(env), list(range(200)))
    model = PPO("TextPolicy", env, policy_kwargs={"encoder": "bow"}, seed=0)
    hist = behavior_cloning(model, demo, epochs=10, batch_size=128, learning_rate=3e-3)
    assert hist["accuracy"][-1] > 0.55 and hist["accuracy"][-1] > hist["accuracy"][0] + 0.1


def test_behaviour_cloning_trains_on_the_models_normalized_observations():
    """A model that normalizes observations sees them normalized in cloning as in predict: with
    statistics far from the raw data, the cloned policy still acts as the expert through predict,
    and cloning leaves the statistics alone."""
    model = PPO("MlpPolicy", "CartPole-v1", normalize_observation=True, seed=0)
    stats = model.obs_normalizer.stats[""]
    stats.mean = torch.tensor([5.0, -5.0, 1.0, 2.0], dtype=torch.float64)
    stats.var = torch.tensor([4.0, 9.0, 0.01, 1.0], dtype=torch.float64)
    obs = np.random.default_rng(0).normal([5.0, -5.0, 1.0, 2.0], [2.0, 3.0, 0.1, 1.0], (512, 4))
    expert = (obs[:, 2] - 1.0 + 0.1 * (obs[:, 3] - 2.0) > 0).astype(np.int64)  # a linear rule
    demo = {"observations": obs.astype(np.float32), "actions": expert}
    hist = behavior_cloning(model, demo, epochs=20, batch_size=128, learning_rate=3e-3)
    agree = (model.predict(obs.astype(np.float32), deterministic=True)[0] == expert).mean()
    assert hist["accuracy"][-1] > 0.9 and agree > 0.9
    assert stats.count == pytest.approx(1e-4) and float(stats.mean[0]) == 5.0  # not updated


class _Greedy:
    def __init__(self, model):
        self.model = model

    def predict(self, obs):
        return self.model.predict(obs, deterministic=True)


def test_text_policy_errors():
    box = spaces.Box(0, 1, (3,))
    with pytest.raises(ValueError, match="tokens"):
        TextChoicePolicy(box, spaces.Discrete(2))
    env = WebShopEnv(split="test")
    with pytest.raises(ValueError, match="encoder"):
        TextChoicePolicy(env.observation_space, env.action_space, encoder="lstm")
    with pytest.raises(ValueError, match="Discrete"):
        TextChoicePolicy(env.observation_space, spaces.Box(0, 1, (2,)))
    with pytest.raises(ValueError, match="demonstrations"):
        behavior_cloning(PPO("TextPolicy", env), {"observations": {}, "actions": np.zeros(0)})


def test_features_extractor_for_multi_input_policy_respects_masks():
    env = gym.make("Sokoban-v0")
    model = PPO(
        "MultiInputPolicy",
        env,
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        policy_kwargs={
            "features_extractor_class": TextFeaturesExtractor,
            "features_extractor_kwargs": {"encoder": "gru"},
        },
        seed=0,
    )
    model.learn(128)
    obs, _ = env.reset(seed=0)
    for _ in range(30):
        action, _ = model.predict(obs, deterministic=False)
        assert obs["action_mask"][int(action)] == 1
        obs, _, term, trunc, _ = env.step(int(action))
        if term or trunc:
            obs, _ = env.reset()


def test_text_policy_initial_gains():
    """Every layer orthogonal with gain sqrt(2), the value head 1, the action scores 0.01; biases 0."""
    env = WebShopEnv(split="test")
    torch.manual_seed(0)
    policy = TextChoicePolicy(env.observation_space, env.action_space, encoder="position", median_head=True)

    gains = {
        "pi_encoder.net.0": np.sqrt(2),
        "act_net.0": np.sqrt(2),
        "value_net.0": np.sqrt(2),
        "value_net.2": 1.0,
        "median_net.2": np.sqrt(2),
        "bilinear": 0.01,
    }
    modules = dict(policy.named_modules())
    for name, gain in gains.items():
        w = modules[name].weight.detach().double()
        g = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        assert torch.allclose(g, gain**2 * torch.eye(g.shape[0], dtype=torch.float64), atol=1e-6), name
        if modules[name].bias is not None:
            assert torch.count_nonzero(modules[name].bias) == 0, name
    torch.manual_seed(0)
    plain = TextChoicePolicy(env.observation_space, env.action_space, encoder="position", ortho_init=False)
    assert torch.count_nonzero(plain.value_net[0].bias) > 0  # PyTorch's default init


def test_match_features_against_a_hand_computed_case():
    """Precision, soft precision and recall of two actions against one goal, worked by hand."""
    vocab = 6
    space = spaces.Dict(
        {
            "tokens": spaces.Box(0, vocab - 1, (4,), np.int64),
            "action_tokens": spaces.Box(0, vocab - 1, (2, 4), np.int64),
            "action_mask": spaces.MultiBinary(2),
        }
    )
    policy = TextChoicePolicy(space, spaces.Discrete(2), embed_dim=2)
    # Words 1..5 on the unit circle at 0, 90, 180, 45 and 270 degrees (word 0 is padding).
    angles = torch.tensor([0.0, 0.0, 90.0, 180.0, 45.0, 270.0]).deg2rad()
    with torch.no_grad():
        policy.pi_encoder.embed.weight.copy_(torch.stack([angles.cos(), angles.sin()], -1) * 3.0)
        policy.pi_encoder.embed.weight[0] = 0.0
    goal = torch.tensor([[1, 2, 2, 0]])  # distinct words {1, 2}
    actions = torch.tensor([[[1, 1, 3, 0], [4, 5, 0, 0]]])
    feats = policy.match_features(goal, actions)[0]
    c45 = float(np.cos(np.pi / 4))
    # Action 0: words 1, 1, 3; found 1, 1 -> 2/3; closest similarities 1, 1, cos(90) = 0 -> 2/3;
    # distinct goal words it holds: {1} of {1, 2} -> 1/2.
    # Action 1: words 4, 5; none found; closest: 4 -> cos 45, 5 -> max(cos 270, cos 180) = 0 ->
    # (c45 + 0) / 2; recall 0.
    expected = torch.tensor([[2 / 3, 2 / 3, 0.5], [0.0, (c45 + 0.0) / 2, 0.0]])
    torch.testing.assert_close(feats, expected, atol=1e-6, rtol=0)
    # The gradient reaches the embedding table through the chosen (closest) pairs only.
    feats[1, 1].backward()
    grad = policy.pi_encoder.embed.weight.grad
    assert grad[4].abs().sum() > 0 and grad[3].abs().sum() == 0
