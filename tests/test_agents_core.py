"""The on-policy core: GAE, truncation bootstrap, masks, spaces, save/load, determinism, errors,
typed configs, learn's set-up."""

import ast
import dataclasses
import inspect
import itertools
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rlsuite.agents import (
    BPO,
    PDPPO,
    PPO,
    EvalCallback,
    StopTrainingOnRewardThreshold,
    configure,
    linear_schedule,
)
from rlsuite.agents.bpo import BPOConfig, bpo_policy_loss, bpo_target_ratio, smooth_abs
from rlsuite.agents.common.buffers import compute_gae
from rlsuite.agents.common.optim import clip_grad_norm
from rlsuite.agents.pdppo import PDPPOConfig
from rlsuite.agents.ppo import PPOConfig

torch.set_num_threads(1)


def test_gae_hand_computed_with_a_terminated_and_a_truncated_episode():
    gamma, lam = 0.9, 0.8
    values = torch.tensor([[0.5], [0.4], [0.3], [0.2]])
    # Step 1 terminates; step 3 is truncated with V(final_obs) = 0.7 added as gamma * 0.7.
    rewards = torch.tensor([[1.0], [1.0], [1.0], [1.0 + gamma * 0.7]])
    dones = torch.tensor([[0.0], [1.0], [0.0], [1.0]])
    adv, ret = compute_gae(rewards, values, dones, torch.tensor([0.9]), gamma, lam)
    a3 = 1.63 - 0.2
    a2 = 1 + 0.9 * 0.2 - 0.3 + gamma * lam * a3
    a1 = 1 - 0.4
    a0 = 1 + 0.9 * 0.4 - 0.5 + gamma * lam * a1
    torch.testing.assert_close(adv[:, 0], torch.tensor([a0, a1, a2, a3]))
    torch.testing.assert_close(ret, adv + values)
    # Without an episode end the last value is bootstrapped.
    adv2, _ = compute_gae(
        torch.ones(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), torch.tensor([2.0]), gamma, lam
    )
    assert adv2.item() == pytest.approx(1 + gamma * 2.0)


class ChainEnv(gym.Env):
    """Observation = step count; reward 1 per step; truncated after 3 steps, or terminated at
    step 2 when ``terminate`` is set."""

    def __init__(self, terminate: bool = False) -> None:
        self.observation_space = spaces.Box(0.0, 10.0, (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.terminate = terminate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.array([float(self.t)], np.float32)
        if self.terminate and self.t == 2:
            return obs, 1.0, True, False, {}
        return obs, 1.0, False, self.t >= 3, {}


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_collector_bootstraps_truncation_not_termination_and_skips_reset_steps(mode):
    venv = SyncVectorEnv([ChainEnv, lambda: ChainEnv(terminate=True)], autoreset_mode=mode)
    # linear_schedule(1e-3) is 0 at the only update (progress_remaining 0): the policy after learn
    # is the rollout's, so V(final_obs) can be recomputed from it.
    lr = linear_schedule(1e-3)
    model = PPO("MlpPolicy", venv, n_steps=8, batch_size=16, gamma=0.9, learning_rate=lr, seed=0)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(16)  # one rollout, one update with learning rate 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
    buf = model.buffer
    # Copy 0 is truncated at its 3rd step, whose final observation is [3.0] (the step count).
    with torch.no_grad():
        v_final = model.policy.predict_values(torch.tensor([[3.0]]))[0]
    r0 = buf.rewards[:, 0]
    trunc_steps = np.nonzero(buf.dones[:, 0].numpy() * buf.valid[:, 0].numpy())[0]
    assert len(trunc_steps) >= 2
    for t in trunc_steps:
        torch.testing.assert_close(r0[t], 1.0 + 0.9 * v_final, rtol=1e-6, atol=1e-7)
    others = [t for t in range(buf.n_steps) if t not in trunc_steps and buf.valid[t, 0]]
    assert all(r0[t] == 1.0 for t in others)  # no bootstrap inside an episode
    r1 = buf.rewards[:, 1].numpy()
    term_steps = np.nonzero(buf.dones[:, 1].numpy() * buf.valid[:, 1].numpy())[0]
    assert len(term_steps) >= 2 and all(r1[t] == 1.0 for t in term_steps)  # terminated: nothing added
    if mode == AutoresetMode.NEXT_STEP:
        assert (~buf.valid).sum() > 0  # the reset steps are excluded
        assert all(not buf.valid[t + 1, 1] for t in term_steps if t + 1 < buf.n_steps)
    else:
        assert buf.valid.all()
    assert [n for _, n in model.ep_info_buffer][:2] in ([3, 2], [2, 3])


@pytest.mark.parametrize("max_norm", [0.1, 0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm):
    g = torch.Generator().manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(5, 3, generator=g)) for _ in range(3)]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    for pa, pb in zip(a, b, strict=True):
        pa.grad = torch.randn(pa.shape, generator=g)
        pb.grad = pa.grad.clone()
    total = clip_grad_norm(a, max_norm)
    expected = torch.nn.utils.clip_grad_norm_(b, max_norm)
    assert torch.allclose(total, expected)
    for pa, pb in zip(a, b, strict=True):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-7)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in a]))
    assert norm <= max_norm * (1 + 1e-5) or max_norm > float(total)


def test_bpo_target_ratio_and_loss_identities():
    x = torch.linspace(-50, 50, 101)
    for eps in (0.1, 0.3):
        rho = bpo_target_ratio(x, eps, lam=1.0)
        assert (rho >= 1 - eps - 1e-7).all() and (rho <= 1 + eps + 1e-7).all()
        hard = bpo_target_ratio(x[x != 0], eps, lam=1e-9)
        torch.testing.assert_close(hard, 1 + eps * torch.sign(x[x != 0]))
    assert bpo_target_ratio(torch.zeros(1), 0.3, 1.0).item() == pytest.approx(1.0)
    w = torch.randn(32)
    target = bpo_target_ratio(torch.randn(32), 0.3, 0.5)
    assert bpo_policy_loss(target.clone(), target, w).item() == 0.0
    assert bpo_policy_loss(target + 0.1, target, w).item() == pytest.approx(
        0.1 * w.abs().mean().item(), rel=1e-5
    )
    # smooth |x| is minimised near the median of a sample (10), far from its mean (36.7),
    # when the spread is large against its unit curvature scale.
    sample = torch.tensor([0.0, 10.0, 100.0])
    u = torch.linspace(-5, 50, 5501)
    costs = torch.stack([smooth_abs(sample - ui).mean() for ui in u])
    assert abs(u[costs.argmin()].item() - 10.0) < 1.0


def test_same_seed_same_parameters_after_three_updates():
    def train(seed: int) -> list[torch.Tensor]:
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=2, seed=seed)
        model.learn(3 * 64)
        return [p.detach().clone() for p in model.policy.parameters()]

    a, b, c = train(0), train(0), train(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_save_load_round_trip(tmp_path):
    env = gym.make("Pendulum-v1")
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=64,
        batch_size=32,
        seed=0,
        normalize_observation=True,
        policy_kwargs={"net_arch": [32], "activation_fn": torch.nn.ReLU},
    )
    model.learn(128)
    obs = np.stack([env.observation_space.sample() for _ in range(16)])
    before = model.predict(obs, deterministic=True)[0]
    model.save(tmp_path / "m")
    loaded = PPO.load(tmp_path / "m.zip", env=env)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], before)
    assert loaded.num_timesteps == model.num_timesteps
    assert isinstance(loaded.policy.pi_net[1], torch.nn.ReLU)
    assert PPO.load(tmp_path / "m.zip", n_steps=32).n_steps == 32  # overrides, no env needed
    loaded.learn(64, reset_num_timesteps=False)
    # Parameters in place.
    other = PPO(
        "MlpPolicy",
        env,
        n_steps=64,
        batch_size=32,
        seed=1,
        normalize_observation=True,
        policy_kwargs={"net_arch": [32], "activation_fn": torch.nn.ReLU},
    )
    other.set_parameters(model.get_parameters())
    assert all(
        torch.equal(p, q) for p, q in zip(other.policy.parameters(), model.policy.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match="spaces differ"):
        PPO.load(tmp_path / "m.zip", env=gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="PPO"):
        BPO.load(tmp_path / "m.zip")


class MaskedEnv(gym.Env):
    """Four actions; a random half is invalid each step (given in ``action_mask``)."""

    def __init__(self) -> None:
        self.observation_space = spaces.Dict(
            {"obs": spaces.Box(-1.0, 1.0, (2,), np.float32), "action_mask": spaces.MultiBinary(4)}
        )
        self.action_space = spaces.Discrete(4)
        self.invalid = 0

    def _obs(self):
        mask = np.zeros(4, np.int8)
        mask[self.np_random.choice(4, 2, replace=False)] = 1
        self.mask = mask
        return {"obs": self.np_random.uniform(-1, 1, 2).astype(np.float32), "action_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.invalid += int(self.mask[action] == 0)
        self.t += 1
        return self._obs(), float(action), False, self.t >= 10, {}


def test_masked_actions_are_never_chosen():
    env = MaskedEnv()
    model = PPO("MultiInputPolicy", env, n_steps=128, batch_size=64, seed=0)
    model.learn(512)
    assert env.invalid == 0
    obs, _ = env.reset(seed=3)
    for _ in range(50):
        a, _ = model.predict(obs)
        assert obs["action_mask"][a] == 1
        obs = env.step(a)[0]
    flat = {"obs": np.zeros((3, 2), np.float32), "action_mask": np.ones((3, 4), np.int8)}
    masks = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], bool)
    assert model.predict(flat, action_masks=masks)[0].tolist() == [2, 0, 3]


class MultiActionEnv(gym.Env):
    def __init__(self, space):
        self.observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype))
        return np.zeros(3, np.float32), float(np.sum(action)), False, True, {}


@pytest.mark.parametrize(
    "space",
    [
        spaces.MultiDiscrete([3, 4]),
        spaces.MultiBinary(3),
        spaces.Discrete(3, start=2),
        spaces.Box(-2, 2, (2,)),
    ],
)
def test_supported_action_spaces(space):
    model = BPO("MlpPolicy", MultiActionEnv(space), n_steps=32, batch_size=16, seed=0)
    model.learn(64)
    a, _ = model.predict(np.zeros(3, np.float32))
    assert space.contains(np.asarray(a, dtype=space.dtype))


def test_clear_errors():
    with pytest.raises(ValueError, match="not supported"):
        PPO("MlpPolicy", MultiActionEnv(spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2)))))
    with pytest.raises(ValueError, match="batch_size"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=64)
    with pytest.raises(ValueError, match="n_steps"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=0)
    with pytest.raises(ValueError, match="gamma"):
        PPO("MlpPolicy", "CartPole-v1", gamma=1.5)
    with pytest.raises(ValueError, match="policy"):
        PPO("CnnPolicyX", "CartPole-v1")
    with pytest.raises(TypeError, match="unexpected"):
        PPO("MlpPolicy", "CartPole-v1", clip_ratio=0.2)
    with pytest.raises(ValueError, match="lam"):
        BPO("MlpPolicy", "CartPole-v1", lam=0.0)
    with pytest.raises(ValueError, match="total_timesteps"):
        PPO("MlpPolicy", "CartPole-v1", n_steps=64).learn(0)


def test_logger_keys_callbacks_and_csv(tmp_path):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=256, batch_size=64, seed=0)
    logger = configure(tmp_path, ["csv"])
    model.set_logger(logger)
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1.0)  # any mean reward stops training
    cb = EvalCallback(
        gym.make("CartPole-v1"),
        callback_on_new_best=stop,
        eval_freq=256,
        n_eval_episodes=2,
        log_path=tmp_path,
        best_model_save_path=tmp_path,
        verbose=0,
    )
    model.learn(10_000, callback=cb)
    assert model.num_timesteps == 256  # stopped after the first evaluation
    assert (tmp_path / "best_model.zip").exists() and (tmp_path / "evaluations.npz").exists()
    model.learn(512)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in (
        "rollout/ep_rew_mean",
        "time/fps",
        "train/approx_kl",
        "train/clip_fraction",
        "train/value_loss",
    ):
        assert key in header


# ---------------------------------------------------------------- typed configs
@pytest.mark.parametrize("cls,config_class", [(PPO, PPOConfig), (BPO, BPOConfig), (PDPPO, PDPPOConfig)])
def test_constructor_parameters_are_the_config_fields_with_the_same_defaults(cls, config_class):
    """A parameter added to a constructor but not to its config (or the other way round), or a
    default that differs between the two, fails here."""
    assert cls.config_class is config_class
    params = {
        n: p.default
        for n, p in inspect.signature(cls.__init__).parameters.items()
        if n not in ("self", "policy", "env", "_init_setup_model")
    }
    fields = {f.name: f.default for f in dataclasses.fields(config_class)}
    assert params == fields
    names = list(inspect.signature(cls.__init__).parameters)
    assert names[:3] == ["self", "policy", "env"] and names[-1] == "_init_setup_model"


def _field_docstrings(cls: type) -> dict[str, str]:
    """Docstrings written under the fields of ``cls`` and of its dataclass bases (the subclass's win)."""
    docs: dict[str, str] = {}
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for stmt, nxt in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
            ):
                docs[stmt.target.id] = nxt.value.value
    return docs


@pytest.mark.parametrize("config_class", [PPOConfig, BPOConfig, PDPPOConfig])
def test_every_config_field_has_a_one_line_docstring(config_class):
    docs = _field_docstrings(config_class)
    for f in dataclasses.fields(config_class):
        assert docs.get(f.name, "").strip(), f"{config_class.__name__}.{f.name} has no docstring"


def test_ppo_parameters_follow_sb3s_order():
    sb3 = [
        "policy", "env", "learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda",
        "clip_range", "clip_range_vf", "normalize_advantage", "ent_coef", "vf_coef", "max_grad_norm",
        "target_kl", "stats_window_size", "tensorboard_log", "policy_kwargs", "verbose", "seed", "device",
    ]  # fmt: skip
    names = list(inspect.signature(PPO.__init__).parameters)[1:]
    assert names[: len(sb3)] == sb3


def test_config_is_checked_frozen_and_shown_through_sb3_attributes():
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=np.int64(32), batch_size=32, gamma=0.9, seed=0)
    assert model.config.n_steps == 32 and type(model.config.n_steps) is int
    assert model.n_steps == 32 and model.gamma == 0.9 and model.policy_kwargs == {}
    with pytest.raises(AttributeError, match="gamma: hyperparameters are fixed"):
        model.gamma = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.config.gamma = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError, match="gae_lambda"):
        PPOConfig(gae_lambda=2.0)
    with pytest.raises(ValueError, match="clip_range"):
        BPOConfig(clip_range=1.0)


def test_a_logger_set_by_the_user_is_kept_with_tensorboard_log(tmp_path):
    model = PPO(
        "MlpPolicy",
        "CartPole-v1",
        n_steps=32,
        batch_size=32,
        n_epochs=1,
        tensorboard_log=str(tmp_path / "tb"),
    )
    model.set_logger(configure(tmp_path / "mine", ["csv"]))
    model.learn(64)
    assert (tmp_path / "mine" / "progress.csv").exists()
    assert not (tmp_path / "tb").exists()
