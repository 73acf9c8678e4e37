"""rlsuite.evaluation: the one episode loop and the one confidence interval, checked against hand-worked
cases and SciPy; the inventory KPIs and the baselines' summaries share that interval."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from scipy import stats

from rlsuite.baselines import EvalResult, search_base_stock_levels
from rlsuite.envs.inventory import InvMgmtEnv
from rlsuite.envs.inventory.demand import DemandSampler
from rlsuite.envs.inventory.rollout import long_run_cost
from rlsuite.evaluation import mean_ci, proportion_ci, run_episode, run_episodes


class Countdown(gym.Env):
    """Starts at ``n`` (reset option) and moves down by the action (1 or 2); reward = the action;
    terminates at 0 or below; truncates after ``limit`` steps."""

    def __init__(self, n: int = 5, limit: int = 100) -> None:
        self.n, self.limit = n, limit
        self.observation_space = spaces.Box(-10, 100, (1,), np.float64)
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s, self.t = self.n, 0
        return np.array([self.s], dtype=np.float64), {"start": self.s}

    def step(self, action):
        self.s -= int(action)
        self.t += 1
        term = self.s <= 0
        return np.array([self.s], dtype=np.float64), float(action), term, self.t >= self.limit, {"t": self.t}


def test_mean_ci_matches_a_hand_computed_case():
    # [1, 2, 3, 4]: mean 2.5, sd = sqrt(5/3) = 1.290994, t_{0.975, 3} = 3.182446,
    # half = 3.182446 * 1.290994 / 2 = 2.054260
    mean, half = mean_ci([1, 2, 3, 4])
    assert mean == 2.5
    assert half == pytest.approx(3.182446 * 1.290994 / 2, rel=1e-6)
    assert half == pytest.approx(2.054260, abs=1e-6)


@pytest.mark.parametrize("seed,n,confidence", [(0, 2, 0.95), (1, 7, 0.9), (2, 50, 0.99), (3, 1000, 0.95)])
def test_mean_ci_matches_scipy_t_interval(seed, n, confidence):
    x = np.random.default_rng(seed).normal(3.0, 2.0, n)
    low, high = stats.t.interval(confidence, n - 1, loc=x.mean(), scale=stats.sem(x))
    mean, half = mean_ci(x, confidence)
    assert mean == pytest.approx((low + high) / 2, rel=1e-12)
    assert half == pytest.approx((high - low) / 2, rel=1e-10)


def test_mean_ci_edge_cases_and_nan_policies():
    assert mean_ci([3.0]) == (3.0, pytest.approx(float("nan"), nan_ok=True))  # one value: spread unknown
    assert mean_ci([2.0, 2.0, 2.0]) == (2.0, 0.0)
    assert np.isnan(mean_ci([1.0, np.nan, 3.0])[0])  # propagate (the default)
    assert mean_ci([1.0, np.nan, 3.0, np.inf], nan_policy="omit") == mean_ci([1.0, 3.0])
    assert np.isnan(mean_ci([np.nan], nan_policy="omit")).all()
    with pytest.raises(ValueError, match="values: got 1 NaN or infinite"):
        mean_ci([1.0, np.nan], nan_policy="raise")
    with pytest.raises(ValueError, match="values: got an empty sequence"):
        mean_ci([])
    with pytest.raises(ValueError, match=r"values: got shape \(2, 2\)"):
        mean_ci(np.ones((2, 2)))
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match="nan_policy: got 'drop'; allowed"):
        mean_ci([1.0, 2.0], nan_policy="drop")
    assert mean_ci(torch.tensor([1.0, 2.0, 3.0, 4.0])) == mean_ci([1, 2, 3, 4])


def test_proportion_ci_is_wilson():
    # 8 of 10, z = 1.959964: centre (0.8 + z^2/20) / (1 + z^2/10), half z sqrt(0.016 + z^2/400) / (1 + z^2/10)
    z = 1.959964
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * np.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    assert proportion_ci(8, 10) == pytest.approx((centre - half, centre + half), rel=1e-6)
    low, high = proportion_ci(0, 20)
    assert low == 0.0 and 0.0 < high < 0.2
    with pytest.raises(ValueError, match="successes"):
        proportion_ci(11, 10)
    with pytest.raises(ValueError, match="n: got 0"):
        proportion_ci(0, 0)


def test_run_episode_known_return_and_length():
    env = Countdown(n=5)
    ep = run_episode(env, lambda obs: 2, seed=0)  # 5 -> 3 -> 1 -> -1: three steps of reward 2
    assert (ep.total_reward, ep.length, ep.terminated) == (6.0, 3, True)
    assert ep.final_info == {"t": 3} and ep.rewards is None
    ep = run_episode(Countdown(n=5, limit=2), lambda obs: 1, seed=0)  # truncated after two steps
    assert (ep.total_reward, ep.length, ep.terminated) == (2.0, 2, False)
    rec = run_episode(env, lambda obs: 2, seed=0, record=True)
    np.testing.assert_array_equal(rec.rewards, [2.0, 2.0, 2.0])
    assert [float(o[0]) for o in rec.observations] == [5.0, 3.0, 1.0]
    assert rec.actions == [2, 2, 2] and [i["t"] for i in rec.infos] == [1, 2, 3]


def test_run_episode_policies_with_predict_and_deterministic():
    class Model:
        def __init__(self):
            self.calls = []

        def predict(self, obs, deterministic=False):
            self.calls.append(deterministic)
            return (1 if deterministic else 2), None

    model = Model()
    assert run_episode(Countdown(4), model, 0, deterministic=True).length == 4
    assert run_episode(Countdown(4), model, 0).length == 2  # None: predict's own default
    assert model.calls == [True] * 4 + [False] * 2

    class BareAction:  # predict returning the action alone, no tuple, no deterministic keyword
        def predict(self, obs):
            return 1

    assert run_episode(Countdown(3), BareAction(), 0).total_reward == 3.0
    eps = run_episodes(Countdown(3), lambda obs: 1, range(4))
    assert [e.length for e in eps] == [3, 3, 3, 3]


def test_run_episode_rejects_bad_arguments():
    with pytest.raises(TypeError, match="policy: got int"):
        run_episode(Countdown(), 3, 0)
    with pytest.raises(ValueError, match="deterministic: got True; a plain callable"):
        run_episode(Countdown(), lambda obs: 1, 0, deterministic=True)
    with pytest.raises(TypeError, match="seed"):
        run_episode(Countdown(), lambda obs: 1, 1.5)
    with pytest.raises(TypeError, match=r"seeds\[1\]"):
        run_episodes(Countdown(), lambda obs: 1, [0, "1"])
    with pytest.raises(TypeError, match="vector env"):
        run_episode(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), lambda obs: 0, 0)

    class TwoObjectives(Countdown):
        def step(self, action):
            obs, r, term, trunc, info = super().step(action)
            return obs, np.array([r, -r]), term, trunc, info

    with pytest.raises(ValueError, match=r"reward: got shape \(2,\) at step 0"):
        run_episode(TwoObjectives(), lambda obs: 1, 0)


def test_same_values_give_the_same_interval_everywhere():
    """The baselines' summary, the inventory long-run cost and the level search all report
    mean_ci's interval for the values they average."""
    values = np.array([10.0, 12.0, 9.5, 11.0, 13.5])
    res = EvalResult(env_id="x", seeds=list(range(5)), num_periods=3, warmup=0)
    res.episodes["p"] = {"profit": values, "bullwhip": np.array([np.nan, 1.0, 2.0, 3.0, np.nan])}
    row = res.summary()[0]
    assert (row["profit"], row["profit_ci95"]) == mean_ci(values)
    assert (row["bullwhip"], row["bullwhip_ci95"]) == mean_ci([1.0, 2.0, 3.0])

    core = InvMgmtEnv("single_store", backlog=True).core
    demand = torch.as_tensor(np.random.default_rng(0).poisson(5.0, (6, 40, 1)), dtype=torch.float64)
    out = long_run_cost(core, lambda obs: torch.full((obs.shape[0], 1), 5.0, dtype=obs.dtype), demand, 10)
    assert (out["avg_cost"], out["ci95"]) == mean_ci(out["per_trace"])

    found = search_base_stock_levels(
        "InvMgmt-SingleStore-Backlog-v0",
        train_seeds=range(4),
        eval_seeds=range(10, 16),
        num_periods=30,
        warmup=5,
        max_evaluations=3,
    )
    assert np.isfinite(found.ci95) and found.ci95 > 0


def test_long_run_cost_equals_a_hand_computed_average():
    """Single store, backlog, h = 1 per unit on hand, b = 9 per unit backlogged, lead time 4, no
    orders, start with nothing on hand: demand 2 per period piles up as backlog. After period t
    (1-based) the backlog is 2t, so the cost of period t is 9 * 2t = 18t; with warm-up w the average
    over periods w+1..T is 18 (w + 1 + T) / 2 on every trace."""
    core = InvMgmtEnv("single_store", backlog=True).core
    spec = core.spec
    assert spec.markets[0].b == 9.0 and spec.nodes[1].h == 1.0 and core.n_markets == 1
    T, warmup = 12, 4
    demand = torch.full((3, T, 1), 2.0, dtype=core.dtype)
    out = long_run_cost(core, lambda obs: torch.zeros(obs.shape[0], 1, dtype=obs.dtype), demand, warmup)
    expected = 18 * (warmup + 1 + T) / 2
    np.testing.assert_allclose(out["per_trace"], expected)
    assert out["avg_cost"] == pytest.approx(expected) and out["ci95"] == 0.0


def test_demand_sampler_names_its_shared_distribution():
    assert DemandSampler(InvMgmtEnv("single_store").core.spec).shared_distribution == "poisson"
    spec = InvMgmtEnv(
        "single_store", backlog=True, demand={"dist": "normal", "mean": 5.0, "std": 1.6}
    ).core.spec
    assert DemandSampler(spec).shared_distribution == "normal"
