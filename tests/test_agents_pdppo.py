"""PDPPO: the dual-critic advantage, the post-decision data it collects, save/load and errors."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import rlsuite  # noqa: F401
from rlsuite.agents import PDPPO, configure
from rlsuite.agents.common.rollout import make_rollout_buffer
from rlsuite.agents.pdppo import pdppo_advantages
from rlsuite.baselines.lotsizing_heuristic import episode_return

torch.set_num_threads(1)


def test_advantage_is_the_max_of_the_two_critics_on_a_hand_made_batch():
    R = torch.tensor([10.0, 10.0, -3.0, 0.0])
    V = torch.tensor([8.0, 12.0, -1.0, 0.5])
    Vx = torch.tensor([9.0, 7.0, -5.0, 0.5])
    rx = torch.tensor([0.0, 2.0, -1.0, 0.0])
    adv, post_ret, a_pre, a_post = pdppo_advantages(R, V, Vx, rx)
    np.testing.assert_allclose(a_pre, [2.0, -2.0, -2.0, -0.5])
    np.testing.assert_allclose(post_ret, [10.0, 8.0, -2.0, 0.0])
    np.testing.assert_allclose(a_post, [1.0, 1.0, 3.0, -0.5])
    np.testing.assert_allclose(adv, [2.0, 1.0, 3.0, -0.5])
    # without a deterministic reward the advantage is the paper's R - min(V, V^x)
    adv0, *_ = pdppo_advantages(R, V, Vx, torch.zeros(4))
    np.testing.assert_allclose(adv0, R - torch.minimum(V, Vx))


def _model(env="InvMgmt-SingleStore-v0", **kw):
    args = dict(n_steps=32, batch_size=64, n_epochs=2, seed=0)
    args.update(kw)
    return PDPPO("MlpPolicy", env, **args)


def _hand_made_rollout(advantage: str, gae_lambda: float = 0.5):
    """A PDPPO model and a one-env, three-step rollout written by hand: rewards r = [1, 2, 4],
    V(s) = [3, 2, 1], the episode ends at the last step, deterministic rewards r^x = [-1, 0, 1],
    and a post-decision critic V^x(s^x) = s^x[0] with s^x[0] = [5, 1, 2]."""
    model = PDPPO(
        "MlpPolicy", "InvMgmt-SingleStore-v0", n_steps=3, batch_size=3, gamma=0.5,
        gae_lambda=gae_lambda, advantage=advantage, seed=0,
    )  # fmt: skip
    buf = make_rollout_buffer(model)
    buf.rewards[:, 0] = torch.tensor([1.0, 2.0, 4.0])
    buf.values[:, 0] = torch.tensor([3.0, 2.0, 1.0])
    buf.dones[:, 0] = torch.tensor([0.0, 0.0, 1.0])
    buf.extras["post_reward"][:, 0] = torch.tensor([-1.0, 0.0, 1.0])
    buf.extras["post_obs"][:, 0, 0] = torch.tensor([5.0, 1.0, 2.0])
    model.policy.predict_post_values = lambda post_obs: post_obs[:, 0]
    model.compute_advantages(buf, last_values=torch.tensor([100.0]))  # ignored: the episode ended
    return model, buf


def test_monte_carlo_advantages_on_a_hand_worked_rollout():
    # gamma = 0.5, lambda = 1: R_2 = 4, R_1 = 2 + 0.5 * 4 = 4, R_0 = 1 + 0.5 * 4 = 3.
    # R^x = R - r^x = [3 + 1, 4 - 0, 4 - 1] = [4, 4, 3].
    # A_pre = R - V = [3 - 3, 4 - 2, 4 - 1] = [0, 2, 3];
    # A_post = R^x - V^x = [4 - 5, 4 - 1, 3 - 2] = [-1, 3, 1].
    # A = max(A_pre, A_post) = [0, 3, 3]; A_post wins at one step of three.
    model, buf = _hand_made_rollout("mc")
    np.testing.assert_allclose(buf.returns[:, 0], [3.0, 4.0, 4.0])
    np.testing.assert_allclose(buf.extras["post_returns"][:, 0], [4.0, 4.0, 3.0])
    np.testing.assert_allclose(buf.extras["old_post_values"][:, 0], [5.0, 1.0, 2.0])
    np.testing.assert_allclose(buf.advantages[:, 0], [0.0, 3.0, 3.0])
    assert model.logger.name_to_value["train/post_advantage_fraction"] == pytest.approx(1 / 3)
    assert model.logger.name_to_value["train/post_value_mean"] == pytest.approx(8 / 3)


def test_gae_advantages_on_a_hand_worked_rollout():
    # gamma = 0.5, lambda = 0.5. TD errors: d_2 = 4 - 1 = 3 (episode end), d_1 = 2 + 0.5 * 1 - 2 = 0.5,
    # d_0 = 1 + 0.5 * 2 - 3 = -1. GAE: A_2 = 3, A_1 = 0.5 + 0.25 * 3 = 1.25, A_0 = -1 + 0.25 * 1.25
    # = -0.6875; R = A + V = [2.3125, 3.25, 4]. R^x = R - r^x = [3.3125, 3.25, 3].
    # A_pre = [-0.6875, 1.25, 3]; A_post = R^x - V^x = [-1.6875, 2.25, 1]; A = [-0.6875, 2.25, 3].
    _, buf = _hand_made_rollout("gae", gae_lambda=0.5)
    np.testing.assert_allclose(buf.returns[:, 0], [2.3125, 3.25, 4.0])
    np.testing.assert_allclose(buf.extras["post_returns"][:, 0], [3.3125, 3.25, 3.0])
    np.testing.assert_allclose(buf.advantages[:, 0], [-0.6875, 2.25, 3.0])


def test_monte_carlo_returns_of_a_real_rollout():
    # R_t = r_t + gamma R_{t+1} inside an episode (lambda = 1, whatever gae_lambda says).
    model = _model(n_envs=4, advantage="mc", gamma=0.9, gae_lambda=0.5)
    model.learn(128)
    buf = model.buffer
    r, d = buf.rewards, buf.dones
    live = (1 - d[:-1]).bool()
    np.testing.assert_allclose(
        buf.returns[:-1][live], (r[:-1] + 0.9 * buf.returns[1:])[live], rtol=1e-5, atol=1e-4
    )
    assert torch.isfinite(buf.extras["old_post_values"]).all()


def test_stored_post_decision_observations_match_the_env_function():
    env = gym.make("InvMgmt-v0")
    model = _model(env, n_steps=40, batch_size=40)
    model.learn(40)
    buf = model.buffer
    obs = buf.obs[:, 0].double().numpy()
    actions = np.clip(buf.actions[:, 0].double().numpy(), 0.0, env.unwrapped.order_bound)
    post = env.unwrapped.post_decision(obs, actions)
    np.testing.assert_allclose(buf.extras["post_obs"][:, 0].numpy(), post, rtol=1e-5, atol=1e-3)
    # the deterministic reward is minus the order-driven costs
    assert (buf.extras["post_reward"] <= 0).all()


def test_save_load_and_determinism(tmp_path):
    a = _model(n_envs=2)
    a.learn(128)
    a.save(tmp_path / "pd.zip")
    b = PDPPO.load(tmp_path / "pd.zip")
    obs = np.random.default_rng(0).uniform(0, 20, (5, 9)).astype(np.float32)
    act_a, act_b = a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(act_a, act_b)
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    assert any(k.startswith("post_vf_net") for k in sa)
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k])
    assert b.config == a.config
    c = _model(n_envs=2)
    c.learn(128)
    for k, v in c.policy.state_dict().items():
        torch.testing.assert_close(v, sa[k])


def test_logs_post_decision_statistics(tmp_path):
    model = _model(n_envs=2)
    model.set_logger(configure(tmp_path, ["csv"]))
    model.learn(256)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("train/post_value_loss", "train/post_advantage_fraction", "train/post_explained_variance"):
        assert key in header


def test_errors():
    with pytest.raises(ValueError, match="post_decision_obs"):
        PDPPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=32).learn(64)
    with pytest.raises(ValueError, match="advantage"):
        _model(advantage="td", batch_size=32)
    with pytest.raises(ValueError, match="post_vf_coef"):
        _model(post_vf_coef=-1.0, batch_size=32)
    with pytest.raises(ValueError, match="flat Box"):
        PDPPO("MultiInputPolicy", gym.make("InvMgmt-v0", observation="dict"), n_steps=32, batch_size=32)


def test_noise_free_demand_post_decision_and_next_state_targets_coincide():
    """With deterministic demand the stochastic half of a step is a function of the post-decision
    state alone, so the post-decision critic's target is exactly ``r^xi(s^x_t) + gamma R_{t+1}``: the
    state critic's target at ``s_{t+1}``, discounted, plus a reward the post state determines."""
    env = gym.make("LotSizing-Small-v0", demand="deterministic", demand_mean=6, horizon=12)
    gamma = 0.9
    model = PDPPO(
        "MlpPolicy",
        env,
        n_steps=60,
        batch_size=60,
        n_epochs=1,
        advantage="mc",
        gamma=gamma,
        normalize_observation=False,
        normalize_reward=False,
        seed=0,
    )
    model.learn(60)
    spec, buf = env.unwrapped.instance, model.buffer
    n_i = spec.n_items
    obs, post = buf.obs[:, 0].double().numpy(), buf.extras["post_obs"][:, 0].double().numpy()
    r, rx = buf.rewards[:, 0].double().numpy(), buf.extras["post_reward"][:, 0].double().numpy()
    R, Rx = buf.returns[:, 0].double().numpy(), buf.extras["post_returns"][:, 0].double().numpy()
    live = buf.dones[:-1, 0].numpy() == 0
    assert live.sum() >= 40 and (~live).sum() >= 4  # several episodes, several boundaries
    # s_{t+1} = h(s^x_t): inventory minus the fixed demand, setups unchanged
    next_inv = np.maximum(post[:-1, :n_i] - 6, 0)
    np.testing.assert_array_equal(obs[1:, :n_i][live], next_inv[live])
    np.testing.assert_array_equal(obs[1:, n_i:][live], post[:-1, n_i:][live])
    # r^xi_t = g(s^x_t): lost sales and holding of the post-decision inventory
    r_xi = -(np.maximum(6 - post[:-1, :n_i], 0) @ spec.lost_sales_costs + next_inv @ spec.holding_costs)
    np.testing.assert_allclose((r - rx)[:-1][live], r_xi[live], rtol=1e-5, atol=1e-4)
    # the post-decision target is the next state's target, discounted, plus that reward
    np.testing.assert_allclose(Rx[:-1][live], (r_xi + gamma * R[1:])[live], rtol=1e-5, atol=1e-3)


def _lotsizing_return(policy, env, seeds):
    return float(np.mean([episode_return(env, policy, s) for s in seeds]))


def test_pdppo_learns_on_small_lot_sizing():
    """60k steps (600 episodes) beat both the uniformly random plan and never producing."""
    venv = gym.make_vec("LotSizing-Small-v0", num_envs=8, vectorization_mode="sync")
    model = PDPPO("MlpPolicy", venv, n_steps=128, batch_size=256, n_epochs=5, learning_rate=1e-3, seed=0)
    model.learn(60_000)
    env, seeds = gym.make("LotSizing-Small-v0"), range(1000, 1020)
    learned = _lotsizing_return(lambda o: model.predict(o, deterministic=True)[0], env, seeds)
    random = _lotsizing_return(lambda o: env.action_space.sample(), env, seeds)
    idle = _lotsizing_return(lambda o: np.zeros(2, dtype=np.int64), env, seeds)
    assert learned > 0.5 * random and learned > idle, (learned, random, idle)
