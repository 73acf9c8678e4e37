"""Potential-based shaping: optimal-policy invariance, telescoping returns, terminals and truncation."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsuite.shaping import PotentialShaping, VectorPotentialShaping, value_iteration


class Chain(gym.Env):
    """States 0..n-1 on a line; left/right moves (slippery with probability 0.2); reaching n-1
    terminates with reward 1; -0.01 per step."""

    def __init__(self, n: int = 6) -> None:
        self.n = n
        self.observation_space = spaces.Discrete(n)
        self.action_space = spaces.Discrete(2)
        self.s = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = int(self.np_random.integers(0, self.n - 1))
        return self.s, {}

    def step(self, action):
        move = 1 if int(action) == 1 else -1
        if self.np_random.random() < 0.2:
            move = -move
        self.s = int(np.clip(self.s + move, 0, self.n - 1))
        term = self.s == self.n - 1
        return self.s, (1.0 if term else -0.01), term, False, {}


def _policy_values(P, R, terminal, gamma, policy):
    """Exact values of a deterministic policy by a linear solve on the live states,
    V = (I - gamma P_pi)^-1 r_pi, terminal values 0: a method independent of value iteration."""
    idx = np.arange(P.shape[0])
    live = ~terminal
    P_pi = P[idx, policy]
    r_pi = (P_pi * R[idx, policy]).sum(1)
    V = np.zeros(P.shape[0])
    V[live] = np.linalg.solve(np.eye(live.sum()) - gamma * P_pi[np.ix_(live, live)], r_pi[live])
    return V


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), gamma=st.sampled_from([0.9, 0.95, 0.99]), episodic=st.booleans())
def test_optimal_policy_is_unchanged_by_random_potentials(seed, gamma, episodic):
    rng = np.random.default_rng(seed)
    S, A = 7, 3
    P = rng.dirichlet(np.ones(S), size=(S, A))
    R = rng.normal(size=(S, A, S))
    terminal = np.zeros(S, dtype=bool)
    if episodic:  # variable-length episodes: two absorbing terminal states
        terminal[rng.choice(S, 2, replace=False)] = True
    phi = rng.normal(scale=5.0, size=S)
    live = ~terminal
    sol = value_iteration(P, R, terminal, gamma, tol=1e-12)
    shaped = value_iteration(P, R, terminal, gamma, potential=phi, tol=1e-12)
    # The solver, checked independently: its greedy policy's exact values equal its V, and no
    # action improves on them by a one-step look-ahead (Bellman optimality).
    V = _policy_values(P, R, terminal, gamma, sol.policy)
    np.testing.assert_allclose(sol.V[live], V[live], atol=1e-7)
    Q = (P * (R + gamma * np.where(terminal, 0.0, V)[None, None, :])).sum(2)
    assert (Q[live].max(1) <= V[live] + 1e-7).all()
    # Q' = Q - Phi(s) (Ng et al.): the greedy actions are the same.
    np.testing.assert_allclose(shaped.Q[live], Q[live] - phi[live, None], atol=1e-6)
    assert (shaped.policy[live] == sol.policy[live]).all()
    # A potential that is not zeroed at terminals would change the values differently per state.
    R_bad = R + gamma * phi[None, None, :] - phi[:, None, None]
    Qb = value_iteration(P, R_bad, terminal, gamma, tol=1e-12).Q
    if episodic:
        assert not np.allclose(Qb[live], Q[live] - phi[live, None], atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    limit=st.integers(2, 30),
    table=st.lists(st.floats(-10, 10), min_size=8, max_size=8),
)
def test_shaped_return_telescopes(seed, limit, table):
    gamma = 0.97
    phi = lambda s: table[int(s)]  # noqa: E731
    env = PotentialShaping(gym.wrappers.TimeLimit(Chain(8), limit), phi, gamma)
    obs, info = env.reset(seed=seed)
    s0 = obs
    rng = np.random.default_rng(seed)
    g, g_shaped, t, done = 0.0, 0.0, 0, False
    while not done:
        obs, r, term, trunc, info = env.step(int(rng.integers(2)))
        g += gamma**t * info["original_reward"]
        g_shaped += gamma**t * r
        t += 1
        done = term or trunc
    end = 0.0 if term else phi(obs)  # Phi(terminal) = 0; a truncated state keeps its potential
    assert g_shaped == pytest.approx(g + gamma**t * end - phi(s0), abs=1e-9)
    assert info["episode_original"]["l"] == t


def test_truncation_does_not_zero_the_potential():
    env = PotentialShaping(gym.wrappers.TimeLimit(Chain(50), 1), lambda s: 10.0 + s, gamma=0.9)
    obs, _ = env.reset(seed=0)
    nxt, r, term, trunc, info = env.step(1)
    assert trunc and not term
    assert info["shaping"] == pytest.approx(0.9 * (10.0 + nxt) - (10.0 + obs))
    assert r == pytest.approx(info["original_reward"] + info["shaping"])


def test_terminal_potential_is_zero():
    env = PotentialShaping(Chain(3), lambda s: 5.0, gamma=0.9)
    env.reset(seed=1)
    env.unwrapped.s = 1
    env._phi = 5.0
    for _ in range(50):
        _, _, term, _, info = env.step(1)
        if term:
            assert info["potential"] == 0.0 and info["shaping"] == pytest.approx(-5.0)
            break
    else:
        pytest.fail("never terminated")


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_and_single_wrappers_agree(mode):
    table = np.linspace(-3, 4, 8)
    make = lambda: gym.wrappers.TimeLimit(Chain(8), 7)  # noqa: E731
    venv = VectorPotentialShaping(
        SyncVectorEnv([make for _ in range(3)], autoreset_mode=mode), lambda obs: table[np.asarray(obs)], 0.95
    )
    singles = [PotentialShaping(make(), lambda s: table[int(s)], 0.95) for _ in range(3)]
    venv.reset(seed=[10, 11, 12])
    for i, e in enumerate(singles):
        e.reset(seed=10 + i)
    rng = np.random.default_rng(0)
    resetting = np.zeros(3, dtype=bool)
    compared = 0
    for _ in range(60):
        a = rng.integers(2, size=3)
        _, rv, term, trunc, _ = venv.step(a)
        for i, e in enumerate(singles):
            if resetting[i]:  # NEXT_STEP's reset step: the single env resets instead
                e.reset()
                assert rv[i] == 0.0
                continue
            _, r, t1, t2, _ = e.step(int(a[i]))
            assert rv[i] == pytest.approx(r) and (t1, t2) == (bool(term[i]), bool(trunc[i]))
            compared += 1
            if (t1 or t2) and mode == AutoresetMode.SAME_STEP:
                e.reset()
        resetting = (term | trunc) if mode == AutoresetMode.NEXT_STEP else np.zeros(3, dtype=bool)
    assert compared > 100


def test_shaped_env_passes_check_env_and_bad_arguments_raise():
    with pytest.warns(UserWarning, match="different from the unwrapped"):  # checking the wrapper itself
        check_env(PotentialShaping(Chain(), lambda s: float(s), gamma=0.99), skip_render_check=True)
    with pytest.raises(ValueError, match="gamma"):
        PotentialShaping(Chain(), lambda s: 0.0, gamma=1.5)
    with pytest.raises(TypeError, match="potential"):
        PotentialShaping(Chain(), potential=3.0, gamma=0.9)
    env = PotentialShaping(Chain(), lambda s: float("nan"), gamma=0.9)
    with pytest.raises(ValueError, match="finite"):
        env.reset(seed=0)


def test_agents_log_the_true_return_and_warn_on_a_gamma_mismatch():
    from rlsuite.agents import PPO

    shaped = PotentialShaping(gym.wrappers.TimeLimit(Chain(6), 20), lambda s: 3.0 * s, gamma=0.99)
    model = PPO("MlpPolicy", shaped, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    model.learn(256)
    assert len(model.ep_true_buffer) == len(model.ep_info_buffer) > 0
    # The logged true returns are the unshaped ones: shaped = true + gamma^T Phi(s_T) - Phi(s_0)
    # differs from them (Phi(s_0) > 0 on most starts).
    assert not np.allclose(list(model.ep_true_buffer), [r for r, _ in model.ep_info_buffer])
    assert all(-1.0 <= r <= 1.0 for r in model.ep_true_buffer)  # -0.01 per step, +1 at the goal
    with pytest.warns(UserWarning, match="gamma"):
        PPO("MlpPolicy", PotentialShaping(Chain(6), lambda s: 0.0, gamma=0.9), gamma=0.99)
    venv = VectorPotentialShaping(SyncVectorEnv([Chain for _ in range(2)]), lambda o: np.zeros(2), 0.9)
    with pytest.warns(UserWarning, match="gamma"):
        PPO("MlpPolicy", venv, gamma=0.99, n_steps=32, batch_size=32)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), limit=st.integers(2, 25))
def test_dynamic_potential_telescopes_with_time(seed, limit):
    from rlsuite.shaping import DynamicPotentialShaping

    gamma = 0.95
    phi = lambda s, t: 0.5 * s - 0.1 * t  # noqa: E731
    env = DynamicPotentialShaping(gym.wrappers.TimeLimit(Chain(8), limit), phi, gamma)
    s0, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    g = gs = 0.0
    t, done = 0, False
    while not done:
        obs, r, term, trunc, info = env.step(int(rng.integers(2)))
        g += gamma**t * info["original_reward"]
        gs += gamma**t * r
        t += 1
        done = term or trunc
    end = 0.0 if term else phi(obs, t)
    assert gs == pytest.approx(g + gamma**t * end - phi(s0, 0), abs=1e-9)


def test_bonus_shaping_is_not_potential_based():
    from rlsuite.shaping import BonusShaping

    env = BonusShaping(gym.wrappers.TimeLimit(Chain(8), 10), lambda s, a, s2: 1.0)  # paid every step
    env.reset(seed=0)
    _, r, _, _, info = env.step(0)
    assert r == pytest.approx(info["original_reward"] + 1.0) and info["bonus"] == 1.0
    with pytest.raises(TypeError, match="bonus"):
        BonusShaping(Chain(), bonus=None)


def test_sokoban_potential_counts_box_distances():
    from rlsuite.envs.text import SokobanEnv
    from rlsuite.envs.text.sokoban import Level
    from rlsuite.shaping import sokoban_potential

    codes = {"#": 0, "_": 1, "O": 2, "√": 3, "X": 4, "P": 5, "S": 6}
    grid = np.array([[codes[c] for c in row] for row in ["#######", "#PX__O#", "#######"]], np.int8)
    phi = sokoban_potential()
    assert phi({"grid": grid}) == -3.0
    solved = Level.from_grid(grid)
    assert phi({"grid": Level(solved.walls, solved.targets, frozenset({(1, 5)}), (1, 1)).grid()}) == 0.0
    env = PotentialShaping(SokobanEnv(), phi, gamma=0.99)
    with pytest.warns(UserWarning, match="different from the unwrapped"):
        check_env(env, skip_render_check=True)


def test_inventory_potential_is_zero_at_the_base_stock_level():
    from rlsuite.shaping import inventory_base_stock_potential

    env = gym.make("InvMgmt-SingleStore-Backlog-v0")
    phi = inventory_base_stock_potential(env, levels=[29.585])
    obs, _ = env.reset(seed=0)
    assert phi(obs) == pytest.approx(-29.585)  # nothing on hand or on order
    obs, *_ = env.step(np.array([29.585]))  # order up to the level
    assert phi(obs) > -10.0  # only this period's demand (mean 5) away from the target


def test_locomotion_critic_and_table_potentials():
    from rlsuite.agents import PPO
    from rlsuite.shaping import critic_potential, locomotion_potential, table_potential

    pytest.importorskip("mujoco")
    env = PotentialShaping(gym.make("Hopper-v5"), locomotion_potential(2.0), gamma=0.99)
    _, info0 = env.reset(seed=0)
    *_, info = env.step(env.action_space.sample())
    assert info["shaping"] == pytest.approx(0.99 * 2.0 * info["x_position"] - 2.0 * info0["x_position"])
    model = PPO("MlpPolicy", Chain(6), n_steps=32, batch_size=32, seed=0)
    phi = critic_potential(model)
    with torch.no_grad():
        v = model.policy.predict_values(model.obs_to_tensor(np.array([3])))
    assert phi(3) == pytest.approx(float(v[0]))
    assert table_potential([0.0, 1.5, 2.0])(1) == 1.5
