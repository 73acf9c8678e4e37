"""Offline alignment from logged trajectories (DPO, QRPO, RPO, DRO): the losses and partition
functions against hand-computed optima and exact solutions on small discrete problems, the quantile
reward's uniformity (statistical tests), LoggedTrajectories' collection, checks and file format,
EpsilonPolicy, the learners' surface, and that DPO and QRPO move the policy towards the better
trajectories (``../shared/reference/alignment.md``)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy import integrate, stats

import rlsuite  # noqa: F401  (registers the envs)
from rlsuite.agents import (
    DPO,
    DRO,
    PPO,
    QRPO,
    RPO,
    LoggedTrajectories,
    SampledPolicy,
    behavior_cloning,
    collect_logged_trajectories,
    reference_scores,
)
from rlsuite.agents.alignment import (
    dpo_loss,
    dro_loss,
    preference_pairs,
    qrpo_log_partition,
    qrpo_loss,
    qrpo_transform,
    quantile_rewards,
    rpo_loss,
    rpo_values,
)
from rlsuite.agents.common.logged import COLUMNS
from rlsuite.baselines import EpsilonPolicy, RandomTextPolicy, SokobanExpert, WebShopExpert
from rlsuite.baselines.text_experts import NoPlanError
from rlsuite.evaluation import run_episode

torch.set_num_threads(1)
LEARNERS = [DPO, QRPO, RPO, DRO]
TEXT = {"encoder": "position"}
TINY = {"model_type": "gpt2", "n_layer": 1, "n_embd": 32, "n_head": 2}
MAX_STEPS = 15  # short random episodes: the datasets stay small


def sokoban():
    return gym.make("Sokoban-v0", max_steps=MAX_STEPS)


def three_sources(seed=0):
    return {
        "expert": EpsilonPolicy(SokobanExpert(), 0.0, seed=seed),
        "noisy": EpsilonPolicy(SokobanExpert(), 0.5, seed=seed + 1),
        "random": RandomTextPolicy(seed=seed + 2),
    }


def two_sources(seed=0):
    return {"expert": EpsilonPolicy(SokobanExpert(), 0.0, seed=seed), "random": RandomTextPolicy(seed + 1)}


def select(data, episodes):
    """A LoggedTrajectories of ``episodes`` of ``data`` (in this order, repeats allowed), rows cut by
    hand from the lengths."""
    episodes = np.asarray(episodes)
    starts = np.concatenate([[0], np.cumsum(data.lengths)[:-1]])
    rows = np.concatenate([np.arange(starts[e], starts[e] + data.lengths[e]) for e in episodes])
    return dataclasses.replace(
        data,
        observations={k: v[rows] for k, v in data.observations.items()},
        actions=data.actions[rows],
        rewards=data.rewards[rows],
        lengths=data.lengths[episodes],
        instances=data.instances[episodes],
        success=data.success[episodes],
        terminated=data.terminated[episodes],
        sources=data.sources[episodes],
    )


def assert_same_data(a, b):
    assert a.observations.keys() == b.observations.keys()
    for k in a.observations:
        assert a.observations[k].dtype == b.observations[k].dtype, k
        np.testing.assert_array_equal(a.observations[k], b.observations[k], err_msg=k)
    for name in COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.source_names == b.source_names
    assert a.observation_space == b.observation_space and a.action_space == b.action_space
    assert a.env_id == b.env_id and a.settings == b.settings


@pytest.fixture(scope="module")
def logged():
    """4 Sokoban levels x 3 behaviour sources, with 4 random-policy reference samples per level."""
    env = sokoban()
    data = collect_logged_trajectories(env, three_sources(), [0, 1, 2, 3], 3, env_id="Sokoban-v0")
    return data.with_reference(*reference_scores(env, RandomTextPolicy(seed=9), [0, 1, 2, 3], 4))


@pytest.fixture(scope="module")
def pairs():
    """8 levels, each with one expert and one random trajectory (episodes 2i and 2i + 1)."""
    return collect_logged_trajectories(sokoban(), two_sources(), list(range(8)), 2, env_id="Sokoban-v0")


@pytest.fixture(scope="module")
def bc(pairs):
    """A TextPolicy behaviour-cloned on ALL the trajectories of ``pairs`` (the supervised start and
    the reference pi_ref of the learners)."""
    model = PPO("TextPolicy", sokoban(), policy_kwargs=TEXT, seed=0)
    behavior_cloning(
        model,
        {"observations": pairs.observations, "actions": pairs.actions},
        epochs=10,
        batch_size=64,
        learning_rate=3e-3,
    )
    return model


def learner(cls, data, bc_model, **kw):
    model = cls("TextPolicy", data, policy_kwargs=TEXT, seed=0, **kw)
    model.policy.load_state_dict(bc_model.policy.state_dict())
    return model


def pi_ref_sampler(data, bc_model):
    """Samples of the BC policy (pi_ref) from a fresh generator (seed 0): the same draws whatever ran
    before."""
    return SampledPolicy(learner(DPO, data, bc_model))


# ======================================================================== quantile rewards (QRPO)
def test_quantile_reward_of_reference_samples_is_uniform():
    """A fresh reference sample's quantile among n others of the same continuous distribution is
    discrete uniform on {0, 1/n, ..., 1} (its rank among n + 1 exchangeable draws), and for large n
    close to U(0, 1): the premise of QRPO's closed-form partition function."""
    rng = np.random.default_rng(12345)
    n, m = 9, 20_000
    q = quantile_rewards(rng.gamma(2.0, size=m), rng.gamma(2.0, size=(m, n)))
    k = np.rint(q * n).astype(int)
    np.testing.assert_allclose(q, k / n, atol=1e-12)  # on the grid {0, 1/n, ..., 1}
    counts = np.bincount(k, minlength=n + 1)
    assert len(counts) == n + 1
    assert stats.chisquare(counts).pvalue > 0.01
    assert q.mean() == pytest.approx(0.5, abs=0.01)  # standard error 0.0022
    big = quantile_rewards(rng.normal(size=2000), rng.normal(size=(2000, 1000)))
    assert stats.kstest(big, "uniform").pvalue > 0.01
    # and the test has power: quantiles against a shifted reference are not uniform
    shifted = quantile_rewards(rng.normal(0.3, size=2000), rng.normal(size=(2000, 1000)))
    assert stats.kstest(shifted, "uniform").pvalue < 1e-6


def test_quantile_rewards_credit_ties_by_hand():
    ref = np.array([[1.0, 1.0, 2.0, 3.0], [1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 2.0, 3.0]])
    np.testing.assert_array_equal(quantile_rewards([1.0, 2.0, 0.5], ref), [0.5, 0.75, 0.0])
    np.testing.assert_array_equal(qrpo_transform(np.array([0.3, 1.0]), "identity", 4), [0.3, 1.0])
    # log, with R_q clamped to >= 1/n
    np.testing.assert_allclose(
        qrpo_transform(np.array([0.0, 0.25, 0.5, 1.0]), "log", 4), [math.log(0.25)] * 2 + [math.log(0.5), 0.0]
    )


# ======================================================================== QRPO's optimum and log Z
PI_REF = np.array([0.5, 0.3, 0.2])
REWARDS = np.array([-1.0, 0.25, 3.0])
REF_SAMPLES = np.repeat(REWARDS, [5, 3, 2])  # reproduces pi_ref exactly


def test_qrpo_loss_is_zero_exactly_at_the_closed_form_optimum():
    beta = 0.3
    rq = quantile_rewards(REWARDS, np.broadcast_to(REF_SAMPLES, (3, 10)))
    np.testing.assert_array_equal(rq, [0.5, 0.8, 1.0])
    z = 0.5 * math.exp(0.5 / beta) + 0.3 * math.exp(0.8 / beta) + 0.2 * math.exp(1.0 / beta)
    pi_star = PI_REF * np.exp(rq / beta) / z
    assert pi_star.sum() == pytest.approx(1.0, abs=1e-14)

    def loss(pi):
        return qrpo_loss(
            torch.tensor(np.log(pi) - np.log(PI_REF)), torch.tensor(rq), beta, math.log(z)
        ).numpy()

    assert loss(pi_star).dtype == np.float64
    np.testing.assert_allclose(loss(pi_star), 0.0, atol=1e-10)
    assert loss(PI_REF).min() > 1e-3  # every completion is off its target at pi_ref
    perturbed = pi_star * np.exp([0.05, 0.0, -0.05])
    assert loss(perturbed / perturbed.sum()).max() > 1e-6
    # by hand: (R_q - beta log Z - beta log(pi / pi_ref))^2
    assert float(qrpo_loss(torch.tensor(0.2), torch.tensor(0.8), 0.5, 1.5)) == pytest.approx(
        (0.8 - 0.75 - 0.1) ** 2, abs=1e-7
    )


@pytest.mark.parametrize("beta", [0.1, 0.2, 0.5, 1.0, 2.0])
def test_qrpo_log_partition_closed_forms(beta):
    assert qrpo_log_partition(beta) == pytest.approx(math.log(beta * (math.exp(1 / beta) - 1)), rel=1e-12)
    assert qrpo_log_partition(beta, "log") == pytest.approx(math.log(beta / (beta + 1)), rel=1e-12)
    # numerical integration of Z_f = int_0^1 exp(f(t) / beta) dt
    z_identity, _ = integrate.quad(lambda t: math.exp(t / beta), 0.0, 1.0, epsabs=0, epsrel=1e-12)
    z_log, _ = integrate.quad(lambda t: t ** (1 / beta), 0.0, 1.0, epsabs=0, epsrel=1e-12)
    assert qrpo_log_partition(beta) == pytest.approx(math.log(z_identity), rel=1e-9, abs=1e-12)
    assert qrpo_log_partition(beta, "log") == pytest.approx(math.log(z_log), rel=1e-9, abs=1e-12)


def test_qrpo_log_partition_is_finite_where_exp_overflows():
    with pytest.raises(OverflowError):
        math.exp(1 / 1e-3)
    # log(beta (e^{1/beta} - 1)) = log beta + 1/beta + log(1 - e^{-1/beta}), the last term ~ e^{-1000}
    assert qrpo_log_partition(1e-3) == pytest.approx(math.log(1e-3) + 1000.0, rel=1e-15)
    assert math.isfinite(qrpo_log_partition(1e-5))
    # the table of the reference notes (approximation log beta + 1/beta, and its error at beta = 1)
    assert qrpo_log_partition(0.1) == pytest.approx(7.6974, abs=1e-4)
    assert qrpo_log_partition(1.0) - 1.0 == pytest.approx(-0.4587, abs=1e-4)


def _qrpo_hand_case(pairs):
    """Two levels of ``pairs``; each gets 10 reference samples: 5 just below its random trajectory's
    return, 3 half-way to its expert's, 2 just below the expert's, so R_q = 1.0 (expert) and 0.5
    (random), and the reference's own quantiles are 0.5, 0.8, 1.0 with probabilities 0.5, 0.3, 0.2."""
    data = select(pairs, [0, 1, 2, 3])
    starts = np.concatenate([[0], np.cumsum(data.lengths)[:-1]])  # per-episode returns by hand
    ret = np.array([data.rewards[a : a + n].sum() for a, n in zip(starts, data.lengths, strict=True)])
    assert ret[0] > ret[1] and ret[2] > ret[3]
    refs = np.array(
        [np.repeat([lo - 0.01, (hi + lo) / 2, hi - 0.01], [5, 3, 2]) for hi, lo in (ret[:2], ret[2:])]
    )
    return data.with_reference([0, 1], refs, np.zeros_like(refs, bool))


@pytest.mark.parametrize(
    ("transform", "partition"),
    [("identity", "reference"), ("identity", "uniform"), ("log", "reference"), ("log", "uniform")],
)
def test_qrpo_learner_targets_and_partition_by_hand(pairs, bc, transform, partition):
    """At the start (policy = reference, log-ratio 0) QRPO's loss on one trajectory is
    (f(R_q) - beta log Z)^2, with R_q and Z computed here by hand."""
    beta = 0.5
    data = _qrpo_hand_case(pairs)
    model = learner(QRPO, data, bc, beta=beta, transform=transform, partition=partition)
    model.on_learn_start()
    f = (lambda t: t) if transform == "identity" else math.log
    if partition == "reference":  # E over the reference samples of exp(f(R_q) / beta)
        log_z = math.log(sum(w * math.exp(f(q) / beta) for w, q in [(0.5, 0.5), (0.3, 0.8), (0.2, 1.0)]))
        if transform == "log":  # the same, written as powers
            assert log_z == pytest.approx(math.log(0.5 * 0.5 ** (1 / beta) + 0.3 * 0.8 ** (1 / beta) + 0.2))
    elif transform == "identity":
        log_z = math.log(beta * (math.exp(1 / beta) - 1))
    else:
        log_z = math.log(beta / (beta + 1))
    for episode, rq in [(0, 1.0), (1, 0.5), (2, 1.0), (3, 0.5)]:
        loss, _ = model.compute_loss(np.array([episode]))
        assert loss.item() == pytest.approx((f(rq) - beta * log_z) ** 2, rel=1e-5, abs=1e-7), episode


# ======================================================================== RPO's partition estimate
def test_rpo_partition_estimate_reaches_the_exact_value_once_every_completion_is_seen():
    """K completions with pi_ref and rewards; completions sampled from another (covering)
    distribution, each distinct one kept once: V grows with the samples, stays below the exact
    beta log Z until every completion is seen, then equals it."""
    beta = 0.7
    p = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    r = np.array([0.0, 1.0, -0.5, 2.0, 0.5, 3.0])
    exact = beta * math.log(sum(pk * math.exp(rk / beta) for pk, rk in zip(p, r, strict=True)))
    draws = np.random.default_rng(7).choice(6, size=200, p=[0.1, 0.1, 0.2, 0.2, 0.2, 0.2])
    values, seen_all = [], None
    for count in (1, 2, 4, 8, 16, 32, 64, 200):
        distinct = np.unique(draws[:count])
        v = rpo_values(np.log(p[distinct]), r[distinct], np.zeros(len(distinct), int), beta)
        assert np.all(v == v[0])  # one value per group
        values.append(v[0])
        if len(distinct) < 6:
            assert v[0] < exact - 1e-6
        else:
            seen_all = seen_all or count
            assert v[0] == pytest.approx(exact, rel=1e-12)
    assert seen_all is not None and seen_all <= 64
    assert np.all(np.diff(values) >= -1e-12)
    # several groups in one call, interleaved: each gets its own partition sum
    groups = np.array([3, 5, 3, 5, 3, 5])
    v = rpo_values(np.log(p), r, groups, beta)
    for g in (3, 5):
        sel = groups == g
        want = beta * math.log(sum(pk * math.exp(rk / beta) for pk, rk in zip(p[sel], r[sel], strict=True)))
        np.testing.assert_allclose(v[sel], want, rtol=1e-12)


def test_rpo_values_are_stable_at_small_beta():
    # beta log(0.5 e^{1000} + 0.5 e^{2000}) = 2 + beta log(0.5 + 0.5 e^{-1000})
    v = rpo_values(np.log([0.5, 0.5]), np.array([1.0, 2.0]), np.zeros(2, int), 1e-3)
    np.testing.assert_allclose(v, 2.0 + 1e-3 * math.log(0.5), rtol=1e-14)


def test_rpo_learner_counts_each_distinct_trajectory_once(pairs, bc):
    """Logging the same trajectory twice (an expert replays itself exactly) leaves RPO's V(x), hence
    its loss, unchanged; at the start (log-ratio 0) the loss on one trajectory is
    1/2 ((r - V) / beta)^2 with V = beta log sum over the distinct trajectories of
    pi_ref(y) e^{r / beta}."""
    beta = 5.0
    once = select(pairs, [0, 1, 2, 3])
    twice = select(pairs, [0, 1, 2, 3, 0, 2, 0])
    np.testing.assert_array_equal(twice.action_sequences()[4], once.action_sequences()[0])
    losses = {}
    for name, data in (("once", once), ("twice", twice)):
        model = learner(RPO, data, bc, beta=beta, normalize_scores=False)
        model.on_learn_start()
        losses[name] = [model.compute_loss(np.array([e]))[0].item() for e in range(data.n_episodes)]
    np.testing.assert_allclose(losses["twice"][:4], losses["once"], rtol=1e-6)
    np.testing.assert_allclose(losses["twice"][4:], [losses["once"][i] for i in (0, 2, 0)], rtol=1e-6)
    # and by hand, from the per-step mean log-probs of the reference (the BC policy)
    model = learner(RPO, once, bc, beta=beta, normalize_scores=False)
    with torch.no_grad():
        lp = model.trajectory_log_probs(model.policy, np.arange(4))[0].double().numpy()
    starts = np.concatenate([[0], np.cumsum(once.lengths)[:-1]])
    ret = np.array([once.rewards[a : a + n].sum() for a, n in zip(starts, once.lengths, strict=True)])
    for inst, (a, b) in enumerate([(0, 1), (2, 3)]):
        v = beta * math.log(math.exp(lp[a] + ret[a] / beta) + math.exp(lp[b] + ret[b] / beta))
        v_dup = beta * math.log(2 * math.exp(lp[a] + ret[a] / beta) + math.exp(lp[b] + ret[b] / beta))
        assert abs(v_dup - v) > 0.1, inst  # the check would see a double count
        for e in (a, b):
            assert losses["once"][e] == pytest.approx(0.5 * ((ret[e] - v) / beta) ** 2, rel=1e-4)


def test_dro_learner_regresses_on_the_value_at_the_first_observation(pairs, bc):
    """At the start (log-ratio 0) DRO's loss on one trajectory is 1/2 (z - V(s_0))^2: z its return
    z-scored over the dataset (by hand), V the policy's value head at the trajectory's first
    observation; learning trains the value head too."""
    data = select(pairs, [0, 1, 2, 3, 4, 5])
    model = learner(DRO, data, bc, beta=1.0, batch_size=6, learning_rate=1e-2)
    model.on_learn_start()
    starts = np.concatenate([[0], np.cumsum(data.lengths)[:-1]])
    ret = np.array([data.rewards[a : a + n].sum() for a, n in zip(starts, data.lengths, strict=True)])
    z = (ret - ret.mean()) / ret.std()
    with torch.no_grad():
        first = model.obs_to_tensor({k: v[starts] for k, v in data.observations.items()})
        values = model.policy.predict_values(first).double().numpy()
        later = model.obs_to_tensor({k: v[starts + 1] for k, v in data.observations.items()})
        assert np.abs(model.policy.predict_values(later).double().numpy() - values).max() > 1e-4
    for e in range(6):
        loss = model.compute_loss(np.array([e]))[0].item()
        assert loss == pytest.approx(0.5 * (z[e] - values[e]) ** 2, rel=1e-4, abs=1e-6), e
    head = copy.deepcopy(model.policy.value_net.state_dict())
    model.learn(3)
    assert any(not torch.equal(head[k], v) for k, v in model.policy.value_net.state_dict().items())


# ======================================================================== DPO, RPO, DRO losses by hand
def test_dpo_loss_by_hand():
    t = torch.tensor
    d = t([0.0], dtype=torch.float64)
    assert float(dpo_loss(d, d, d, d, 0.1)) == pytest.approx(0.693147, abs=1e-6)  # log 2
    # beta * Delta = 2 with Delta = (logp_w - ref_w) - (logp_l - ref_l) = (-3 - -10) - (-20 - -7) = 20
    w, l_, rw, rl = (t([x], dtype=torch.float64) for x in (-3.0, -20.0, -10.0, -7.0))
    assert float(dpo_loss(w, l_, rw, rl, 0.1)) == pytest.approx(0.126928, abs=1e-6)
    assert float(dpo_loss(l_, w, rl, rw, 0.1)) == pytest.approx(2.126928, abs=1e-6)  # softplus(2)


def test_preference_pairs_by_hand():
    scores = np.array([1.0, 3.0, 3.0, 0.0, 2.0, 2.0, 5.0, -1.0, 4.0, 7.0])
    groups = np.array([0, 0, 0, 0, 1, 1, 7, 7, 7, 9])  # group 1: all equal; group 9: alone
    bw = preference_pairs(scores, groups, "best_worst")
    assert bw.shape == (2, 2) and bw.dtype == np.int64
    assert sorted(map(tuple, bw.tolist())) == [(1, 3), (6, 7)]  # the first best, the first worst
    every = preference_pairs(scores, groups, "all")
    assert sorted(map(tuple, every.tolist())) == [
        (0, 3),
        (1, 0),
        (1, 3),
        (2, 0),
        (2, 3),
        (6, 7),
        (6, 8),
        (8, 7),
    ]
    # interleaved groups: pairs never cross instances
    got = preference_pairs(np.array([0.0, 5.0, 1.0, 4.0]), np.array([0, 1, 0, 1]), "all")
    assert sorted(map(tuple, got.tolist())) == [(1, 3), (2, 0)]
    none = preference_pairs(np.array([2.0, 2.0]), np.array([0, 0]), "best_worst")
    assert none.shape == (0, 2)
    assert preference_pairs(np.array([2.0, 2.0]), np.array([0, 0]), "all").shape == (0, 2)


def test_rpo_and_dro_losses_by_hand_and_zero_at_the_optimum():
    t = torch.tensor
    # 1/2 (0.3 - (2 - 1) / 0.5)^2 and 1/2 (2 - 1 - 0.5 * 0.3)^2
    assert float(rpo_loss(t(0.3), t(2.0), t(1.0), 0.5)) == pytest.approx(0.5 * 1.7**2, rel=1e-6)
    assert float(dro_loss(t(0.3), t(2.0), t(1.0), 0.5)) == pytest.approx(0.5 * 0.85**2, rel=1e-6)
    beta = 0.4
    v = beta * math.log(float(np.sum(PI_REF * np.exp(REWARDS / beta))))
    log_ratio = (REWARDS - v) / beta
    # the optimum pi* = pi_ref e^{(r - V) / beta} is a distribution
    assert float(np.sum(PI_REF * np.exp(log_ratio))) == pytest.approx(1.0, abs=1e-12)
    args = (torch.tensor(log_ratio), torch.tensor(REWARDS), torch.full((3,), v, dtype=torch.float64), beta)
    np.testing.assert_allclose(dro_loss(*args).numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(rpo_loss(*args).numpy(), 0.0, atol=1e-12)
    off = (torch.zeros(3, dtype=torch.float64), *args[1:])
    assert dro_loss(*off).min() > 1e-3 and rpo_loss(*off).min() > 1e-3


# ======================================================================== LoggedTrajectories
def test_collected_trajectories_replay_exactly_in_the_env(logged):
    """Each logged episode, replayed action by action from its instance's reset, gives the logged
    observations, rewards, termination and success; sample j of an instance comes from source
    j % 3; the expert (eps = 0) solves every level in the optimal number of moves."""
    data, env = logged, sokoban()
    assert data.n_episodes == 12 and data.source_names == ("expert", "noisy", "random")
    np.testing.assert_array_equal(data.instances, np.repeat([0, 1, 2, 3], 3))
    np.testing.assert_array_equal(data.sources, np.tile([0, 1, 2], 4))
    row = 0
    for e in range(data.n_episodes):
        obs, info = env.reset(seed=int(data.instances[e]))
        if data.sources[e] == 0:
            assert data.success[e] and data.terminated[e]
            assert data.lengths[e] == info["optimal_moves"]
        total = 0.0
        for _ in range(data.lengths[e]):
            for k, v in obs.items():
                np.testing.assert_array_equal(data.observations[k][row], v)
            obs, reward, terminated, truncated, info = env.step(int(data.actions[row]))
            assert data.rewards[row] == reward
            total += reward
            row += 1
        assert terminated or truncated
        assert bool(data.terminated[e]) == terminated and bool(data.success[e]) == bool(info["won"])
        assert data.returns()[e] == pytest.approx(total, abs=1e-12)
    assert row == len(data.actions)
    assert not data.success[data.sources == 2].all()  # the random source is not an expert


def test_returns_and_scores_are_per_episode_sums(logged):
    data = logged
    want, row = [], 0
    for n in data.lengths:
        want.append(math.fsum(data.rewards[row : row + n]))
        row += n
    np.testing.assert_allclose(data.returns(), want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(data.scores("return"), data.returns())
    np.testing.assert_array_equal(data.scores("success"), data.success.astype(float))
    with pytest.raises(ValueError, match="score"):
        data.scores("foo")
    summary = data.summary()
    assert summary["episodes"] == 12 and summary["instances"] == 4 and summary["reference_samples"] == 16
    assert summary["steps"] == int(data.lengths.sum())
    assert summary["sources"]["expert"] == {
        "episodes": 4,
        "success": 1.0,
        "mean_return": pytest.approx(float(np.mean(np.array(want)[data.sources == 0]))),
    }


def test_reference_scores_of_the_expert_are_its_returns(logged):
    env = sokoban()
    inst, ret, won = reference_scores(env, SokobanExpert(), [2, 0, 2], 2)
    np.testing.assert_array_equal(inst, [2, 0])  # each instance once, in first-seen order
    assert ret.shape == won.shape == (2, 2) and won.all()
    for a, i in enumerate(inst):
        expert_episode = np.flatnonzero((logged.instances == i) & (logged.sources == 0))[0]
        np.testing.assert_allclose(ret[a], logged.returns()[expert_episode], atol=1e-12)
    assert set(logged.reference_scores("return")) == {0, 1, 2, 3}
    np.testing.assert_array_equal(logged.reference_scores("success")[1], logged.ref_success[1].astype(float))
    with pytest.raises(ValueError, match=r"^n: "):
        reference_scores(env, SokobanExpert(), [0], 0)


def test_reference_scores_on_a_vector_env_equal_one_episode_at_a_time():
    """The batched path (grouped episodes on a vector env) gives every sample the return and
    success of run_episode on the same instance, for runs of consecutive and scattered instances."""
    env = sokoban()
    venv = gym.vector.SyncVectorEnv(
        [sokoban for _ in range(6)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    expert = SokobanExpert()
    instances = [3, 4, 5, 9, 20]
    one = reference_scores(env, expert, instances, 2)
    batched = reference_scores(venv, expert, instances, 2)
    for a, b in zip(one, batched, strict=True):
        np.testing.assert_array_equal(a, b)
    assert batched[2].all()  # the expert wins every level
    random_one = reference_scores(env, EpsilonPolicy(SokobanExpert(), 1.0, seed=0), [7], 3)
    assert random_one[1].shape == (1, 3)
    with pytest.raises(ValueError, match="multiple of n=4"):
        reference_scores(venv, expert, instances, 4)


def test_collection_is_deterministic(logged):
    env = sokoban()
    again = collect_logged_trajectories(env, three_sources(), [0, 1, 2, 3], 3, env_id="Sokoban-v0")
    again = again.with_reference(*reference_scores(env, RandomTextPolicy(seed=9), [0, 1, 2, 3], 4))
    assert_same_data(again, logged)
    other = collect_logged_trajectories(env, three_sources(seed=5), [0, 1, 2, 3], 3)
    assert not np.array_equal(other.actions, logged.actions) or not np.array_equal(
        other.lengths, logged.lengths
    )


def test_save_load_round_trip_is_exact(logged, tmp_path):
    logged.save(tmp_path / "d.npz")
    assert_same_data(LoggedTrajectories.load(tmp_path / "d.npz"), logged)
    plain = dataclasses.replace(logged, ref_instances=np.zeros(0, np.int64))  # no reference samples
    plain.save(tmp_path / "p.npz")
    back = LoggedTrajectories.load(tmp_path / "p.npz")
    assert_same_data(back, plain)
    assert back.reference_scores("return") == {}


def _with(data, column, index, value):
    arr = np.array(getattr(data, column))
    arr[index] = value
    return dataclasses.replace(data, **{column: arr})


def _observations(data, **change):
    return dataclasses.replace(data, observations={**data.observations, **change})


BAD_COLUMNS = [
    ("lengths", lambda d: _with(d, "lengths", 1, 0)),
    ("instances", lambda d: dataclasses.replace(d, instances=d.instances[:-1])),
    ("success", lambda d: dataclasses.replace(d, success=d.success[:-1])),
    (r"actions: values in \[0, 4\]", lambda d: _with(d, "actions", 0, 4)),
    ("actions: shape", lambda d: dataclasses.replace(d, actions=d.actions[:-1])),
    ("rewards: NaN", lambda d: _with(d, "rewards", 3, np.nan)),
    ("sources", lambda d: _with(d, "sources", 0, 3)),
    ("source_names", lambda d: dataclasses.replace(d, source_names=())),
    (r"observations\['grid'\]", lambda d: _observations(d, grid=d.observations["grid"][:-1])),
    ("observations: keys", lambda d: dataclasses.replace(d, observations={"grid": d.observations["grid"]})),
    (
        "ref_returns, ref_success",
        lambda d: d.with_reference([0, 1], np.zeros((2, 3)), np.zeros((2, 2), bool)),
    ),
    ("ref_instances: repeated", lambda d: d.with_reference([0, 0], np.zeros((2, 3)), np.zeros((2, 3), bool))),
    ("ref_returns: NaN", lambda d: d.with_reference([0], np.full((1, 2), np.nan), np.zeros((1, 2), bool))),
    ("action_space", lambda d: dataclasses.replace(d, action_space=gym.spaces.Box(0, 1, (1,)))),
]


@pytest.mark.parametrize(("field", "make"), BAD_COLUMNS, ids=[f for f, _ in BAD_COLUMNS])
def test_bad_columns_raise_value_errors_naming_the_field(logged, field, make):
    with pytest.raises(ValueError, match=f"^{field}"):
        make(logged)


def test_collect_checks_its_arguments():
    env = sokoban()
    with pytest.raises(ValueError, match="sources"):
        collect_logged_trajectories(env, {}, [0], 1)
    with pytest.raises(ValueError, match="samples_per_instance"):
        collect_logged_trajectories(env, two_sources(), [0], 0)
    with pytest.raises(ValueError, match="instances"):
        collect_logged_trajectories(env, two_sources(), [], 1)


def _rewrite(src, dst, change):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)


TRIPPED: list[str] = []


def _trip():
    TRIPPED.append("unpickled")
    return "boom"


class Tripwire:
    """Records its unpickling (a stand-in for code a pickle would run)."""

    def __reduce__(self):
        return (_trip, ())


def test_load_refuses_files_it_did_not_write(logged, tmp_path):
    good = tmp_path / "good.npz"
    logged.save(good)

    def version(arrays):
        meta = json.loads(str(arrays["meta"]))
        meta["format_version"] = 2
        arrays["meta"] = np.asarray(json.dumps(meta))

    _rewrite(good, tmp_path / "v2.npz", version)
    with pytest.raises(ValueError, match="format_version 2"):
        LoggedTrajectories.load(tmp_path / "v2.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match=r"not a file written by LoggedTrajectories\.save"):
        LoggedTrajectories.load(tmp_path / "text.npz")
    _rewrite(good, tmp_path / "extra.npz", lambda a: a.update(extra=np.zeros(3)))
    with pytest.raises(ValueError, match="arrays"):
        LoggedTrajectories.load(tmp_path / "extra.npz")
    _rewrite(good, tmp_path / "nometa.npz", lambda a: a.pop("meta"))
    with pytest.raises(ValueError, match="meta"):
        LoggedTrajectories.load(tmp_path / "nometa.npz")
    # an object array (a pickle) is refused without being unpickled
    poisoned = np.empty(len(logged.actions), dtype=object)
    poisoned[:] = [Tripwire() for _ in range(len(poisoned))]
    _rewrite(good, tmp_path / "pickle.npz", lambda a: a.update(actions=poisoned))
    with np.load(tmp_path / "pickle.npz", allow_pickle=True) as f:  # the tripwire works
        f["actions"]
    assert TRIPPED
    TRIPPED.clear()
    with pytest.raises(ValueError):
        LoggedTrajectories.load(tmp_path / "pickle.npz")
    assert not TRIPPED


@pytest.mark.parametrize("key", ["source_names", "observation_space", "action_space"])
def test_load_refuses_a_meta_without_its_keys_with_a_value_error(logged, tmp_path, key):
    logged.save(tmp_path / "good.npz")

    def drop(arrays):
        meta = json.loads(str(arrays["meta"]))
        del meta[key]
        arrays["meta"] = np.asarray(json.dumps(meta))

    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", drop)
    with pytest.raises(ValueError, match=key):
        LoggedTrajectories.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("column", ["actions", "lengths"])
def test_fractional_values_in_integer_columns_are_refused(logged, column):
    with pytest.raises(ValueError, match=column):
        dataclasses.replace(logged, **{column: getattr(logged, column) + 0.5})


def test_an_observation_outside_its_space_is_refused_or_kept_exactly(logged, tmp_path):
    tokens = np.array(logged.observations["tokens"])
    tokens[0, 0] = 300  # the space is Box(0, 12)
    try:
        data = dataclasses.replace(logged, observations={**logged.observations, "tokens": tokens})
    except ValueError as e:
        assert "tokens" in str(e)
        return
    data.save(tmp_path / "d.npz")
    np.testing.assert_array_equal(LoggedTrajectories.load(tmp_path / "d.npz").observations["tokens"], tokens)


def test_the_same_trajectory_scores_the_same_in_the_dataset_and_as_a_reference_sample():
    """A random policy replayed with the same seed on the same level plays the same trajectory,
    logged or as a reference sample: equal returns, so it is credited every tie (R_q = 1)."""
    env = sokoban()
    data = collect_logged_trajectories(env, {"random": RandomTextPolicy(seed=1)}, [0], 1)
    _, ret, _ = reference_scores(env, RandomTextPolicy(seed=1), [0], 1)
    assert data.lengths[0] == MAX_STEPS and not data.success[0]  # a failure: 15 equal step rewards
    assert data.returns()[0] == ret[0, 0]
    assert quantile_rewards(data.scores("return"), ret)[0] == 1.0


# ======================================================================== EpsilonPolicy
class Always:
    """A stub policy: always ``action``, or no plan (NoPlanError) when ``action`` is None."""

    def __init__(self, action):
        self.action = action

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        if self.action is None:
            raise NoPlanError("stuck")
        return np.int64(self.action), None


MASK = np.array([1, 0, 1, 1, 0, 1], dtype=np.int8)  # admissible: 0, 2, 3, 5


def test_epsilon_zero_plays_the_experts_actions():
    env = sokoban()
    for seed in range(4):
        a = run_episode(env, EpsilonPolicy(SokobanExpert(), 0.0, seed=seed), seed, record=True)
        b = run_episode(env, SokobanExpert(), seed, record=True)
        assert [int(x) for x in a.actions] == [int(x) for x in b.actions] and a.final_info["won"]
    policy = EpsilonPolicy(Always(3), 0.0, seed=0)
    assert {int(policy.predict({"action_mask": MASK})[0]) for _ in range(100)} == {3}


def test_epsilon_policy_on_webshop_takes_only_admissible_actions():
    """WebShop's admissible actions change from page to page (4 to 20 of 24 slots)."""
    env = gym.make("WebShop-v0")
    for seed in range(3):
        ep = run_episode(env, EpsilonPolicy(WebShopExpert(env), 1.0, seed=seed), seed, record=True)
        assert all(o["action_mask"][int(a)] for o, a in zip(ep.observations, ep.actions, strict=True))
        assert len({int(o["action_mask"].sum()) for o in ep.observations}) > 1
        greedy = run_episode(env, EpsilonPolicy(WebShopExpert(env), 0.0, seed=seed), seed, record=True)
        expert = run_episode(env, WebShopExpert(env), seed, record=True)
        assert [int(a) for a in greedy.actions] == [int(a) for a in expert.actions]
        assert greedy.total_reward == 1.0


def test_epsilon_one_is_uniform_over_the_admissible_actions():
    policy = EpsilonPolicy(Always(3), 1.0, seed=0)
    acts = np.array([int(policy.predict({"action_mask": MASK})[0]) for _ in range(4000)])
    counts = np.bincount(acts, minlength=6)
    assert counts[1] == counts[4] == 0
    assert stats.chisquare(counts[[0, 2, 3, 5]]).pvalue > 0.01
    # eps = 0.4: the expert's action with probability 0.6 + 0.4 / 4 = 0.7
    policy = EpsilonPolicy(Always(3), 0.4, seed=1)
    acts = np.array([int(policy.predict({"action_mask": MASK})[0]) for _ in range(4000)])
    assert set(np.unique(acts)) <= {0, 2, 3, 5}
    assert stats.binomtest(int((acts == 3).sum()), 4000, 0.7).pvalue > 0.01
    # no plan (a stuck Sokoban box): a random admissible action even at eps = 0
    policy = EpsilonPolicy(Always(None), 0.0, seed=2)
    acts = {int(policy.predict({"action_mask": MASK})[0]) for _ in range(200)}
    assert acts == {0, 2, 3, 5}


def test_epsilon_policy_is_reproducible_and_checked():
    def draw(seed):
        policy = EpsilonPolicy(Always(3), 0.5, seed=seed)
        return [int(policy.predict({"action_mask": MASK})[0]) for _ in range(200)]

    assert draw(4) == draw(4)
    assert draw(4) != draw(5)
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonPolicy(Always(3), 1.5)
    with pytest.raises(TypeError, match="policy"):
        EpsilonPolicy(object(), 0.1)
    with pytest.raises(ValueError, match="single observation"):
        EpsilonPolicy(Always(3), 0.1).predict({"action_mask": np.ones((2, 4))})


def test_sampled_policy_samples_the_models_policy(pairs):
    model = DPO("TextPolicy", pairs, policy_kwargs=TEXT, seed=0)  # fresh: near-uniform
    obs, _ = sokoban().reset(seed=0)
    sampled = SampledPolicy(model)
    acts = {int(np.asarray(sampled.predict(obs, deterministic=True)[0])) for _ in range(60)}
    assert len(acts) > 1  # sampled, even when asked for the mode
    with pytest.raises(TypeError, match="model"):
        SampledPolicy(object())


# ======================================================================== learners: surface
@pytest.fixture(scope="module")
def with_refs(pairs, bc):
    """``pairs`` with 4 reference samples per level from the BC policy (QRPO's quantiles)."""
    return pairs.with_reference(*reference_scores(sokoban(), pi_ref_sampler(pairs, bc), range(8), 4))


@pytest.mark.parametrize("cls", LEARNERS)
def test_learners_train_predict_and_round_trip(cls, with_refs, bc, tmp_path):
    model = learner(cls, with_refs, bc, batch_size=8, learning_rate=1e-3)
    before = copy.deepcopy(model.policy.state_dict())
    model.learn(5)
    assert model.num_timesteps == 5
    assert any(not torch.equal(before[k], v) for k, v in model.policy.state_dict().items())
    env = sokoban()
    observations = [env.reset(seed=s)[0] for s in range(5)]
    for obs in observations:
        action, _ = model.predict(obs, deterministic=True)
        assert obs["action_mask"][int(action)]
    model.save(tmp_path / "m.zip")
    back = cls.load(tmp_path / "m.zip", dataset=with_refs)
    assert type(back) is cls and back.config == model.config and back.num_timesteps == 5
    for obs in observations:
        assert int(back.predict(obs, deterministic=True)[0]) == int(model.predict(obs, deterministic=True)[0])
    every = np.arange(with_refs.n_episodes)
    with torch.no_grad():
        torch.testing.assert_close(
            back.trajectory_log_probs(back.policy, every), model.trajectory_log_probs(model.policy, every)
        )
    # a loaded model is its own reference: every log-ratio starts at zero (DPO's loss at log 2)
    back.on_learn_start()
    with torch.no_grad():
        ratio, _ = back.log_ratios(every)
    torch.testing.assert_close(ratio, torch.zeros_like(ratio), atol=1e-5, rtol=0)
    if cls is DPO:
        assert back.compute_loss(np.arange(4))[0].item() == pytest.approx(math.log(2), abs=1e-5)
    back.learn(2, reset_num_timesteps=False)
    assert back.num_timesteps == 7


def test_qrpo_without_reference_samples_names_the_missing_instances(pairs, bc, with_refs):
    model = learner(QRPO, pairs, bc, batch_size=4)
    with pytest.raises(ValueError, match=r"no reference samples for 8 instance\(s\) \(first: \[0, 1, 2"):
        model.learn(1)
    partial = pairs.with_reference(
        with_refs.ref_instances[:6], with_refs.ref_returns[:6], with_refs.ref_success[:6]
    )
    with pytest.raises(ValueError, match=r"2 instance\(s\) \(first: \[6, 7\]\)"):
        learner(QRPO, partial, bc, batch_size=4).learn(1)
    with pytest.raises(ValueError, match="n_reference: got 5"):
        learner(QRPO, with_refs, bc, batch_size=4, n_reference=5).learn(1)


def test_dpo_without_a_pair_of_different_scores_is_a_clear_error(pairs, bc):
    experts = select(pairs, [0, 2, 4])  # one trajectory per level: no pair
    with pytest.raises(ValueError, match="no training items for DPO"):
        learner(DPO, experts, bc, batch_size=4).learn(1)
    ties = select(pairs, [0, 0, 2, 2])  # two trajectories per level, equal scores
    with pytest.raises(ValueError, match="no pair with different scores"):
        learner(DPO, ties, bc, batch_size=4).learn(1)


@pytest.mark.parametrize(
    ("cls", "kw", "field"),
    [
        (DPO, {"beta": 0.0}, "beta"),
        (RPO, {"beta": -1.0}, "beta"),
        (DRO, {"beta": float("nan")}, "beta"),
        (DPO, {"score": "foo"}, "score"),
        (QRPO, {"log_prob": "max"}, "log_prob"),
        (DPO, {"pairs": "x"}, "pairs"),
        (QRPO, {"transform": "x"}, "transform"),
        (QRPO, {"partition": "x"}, "partition"),
        (QRPO, {"n_reference": 0}, "n_reference"),
        (DRO, {"batch_size": 0}, "batch_size"),
    ],
)
def test_config_errors_name_the_field(pairs, cls, kw, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        cls("TextPolicy", pairs, policy_kwargs=TEXT, **kw)


def test_learners_refuse_other_datasets():
    with pytest.raises(TypeError, match="DPO trains from a LoggedTrajectories"):
        DPO("TextPolicy", object(), policy_kwargs=TEXT)
    with pytest.raises(ValueError, match="dataset"):
        DPO("TextPolicy", None, policy_kwargs=TEXT)


@pytest.mark.parametrize("cls", LEARNERS)
def test_constructor_is_the_config(cls):
    params = dict(inspect.signature(cls.__init__).parameters)
    for skip in ("self", "policy", "dataset", "_init_setup_model"):
        params.pop(skip)
    fields = {f.name: f.default for f in dataclasses.fields(cls.config_class)}
    assert {k: p.default for k, p in params.items()} == fields
    assert cls.config_class.__name__ == f"{cls.__name__}Config"


# ======================================================================== can it learn
def _pair_margin(model, data):
    """Mean over levels of log pi(expert) - log pi(random), and the same under pi_ref."""
    with torch.no_grad():
        lp = model.trajectory_log_probs(model.policy, np.arange(data.n_episodes))[0].double().numpy()
        ref = model.trajectory_log_probs(model.reference, np.arange(data.n_episodes))[0].double().numpy()
    win, lose = data.sources == 0, data.sources == 1
    return float(np.mean(lp[win] - lp[lose])), float(np.mean(ref[win] - ref[lose]))


def test_dpo_raises_the_better_trajectories_log_probability_ratio(pairs, bc):
    model = learner(DPO, pairs, bc, beta=0.1, batch_size=8, learning_rate=1e-3)
    model.on_learn_start()  # pi_ref: a frozen copy of the BC start
    m0, ref0 = _pair_margin(model, pairs)
    assert m0 == ref0
    loss0, _ = model.compute_loss(np.arange(8))
    model.learn(40)
    margin, ref = _pair_margin(model, pairs)
    assert ref == ref0  # the reference stayed frozen
    assert margin - ref > 5.0, (margin, ref)
    loss, info = model.compute_loss(np.arange(8))
    assert loss0.item() == pytest.approx(math.log(2), abs=1e-5)
    assert loss.item() < 0.3 and info["pair_accuracy"] == 1.0
    model.set_reference()  # the trained policy becomes pi_ref (scored at the next learn start)
    model.on_learn_start()
    assert model.compute_loss(np.arange(8))[0].item() == pytest.approx(math.log(2), abs=1e-5)


def test_qrpo_raises_the_better_trajectories_log_probability_ratio(pairs, bc):
    """Score: success; its quantile among 8 samples of the BC policy itself (pi_ref) is 1 for the
    expert and 1 - p for the random failure on a level where the reference succeeds with rate p, so
    the optimum's log-ratio gap (expert minus random) is p / beta. QRPO moves the gap towards it."""
    beta = 0.1
    env = sokoban()
    data = pairs.with_reference(*reference_scores(env, pi_ref_sampler(pairs, bc), range(8), 8))
    assert data.success[0::2].all() and not data.success[1::2].any()
    p = data.ref_success.mean(axis=1)
    assert (p > 0).sum() >= 3  # a learning signal on several levels
    target = p / beta
    model = learner(
        QRPO, data, bc, beta=beta, score="success", partition="reference", batch_size=8, learning_rate=1e-3
    )
    model.learn(60)
    with torch.no_grad():
        lp = model.trajectory_log_probs(model.policy, np.arange(16))[0].double().numpy()
        ref = model.trajectory_log_probs(model.reference, np.arange(16))[0].double().numpy()
    gap = (lp - ref)[0::2] - (lp - ref)[1::2]  # expert minus random, per level; 0 at the start
    assert gap.mean() > 0.4 * target.mean() > 0.5, (gap, target)


# ======================================================================== the language-model policy
@pytest.mark.parametrize("cls", LEARNERS)
def test_learners_train_the_language_model_policy(cls, with_refs):
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    data = select(with_refs, [0, 1, 2, 3])
    data = data.with_reference(
        with_refs.ref_instances[:2], with_refs.ref_returns[:2], with_refs.ref_success[:2]
    )
    model = cls("CausalLMPolicy", data, policy_kwargs={"lm_config": TINY}, seed=0, batch_size=2)
    before = copy.deepcopy(model.policy.state_dict())
    model.on_learn_start()
    model.policy.train()
    with torch.no_grad():  # pi = pi_ref at the start, in training mode too (no dropout noise)
        ratio, _ = model.log_ratios(np.arange(4))
    torch.testing.assert_close(ratio, torch.zeros_like(ratio), atol=1e-5, rtol=0)
    model.learn(2)
    assert any(not torch.equal(before[k], v) for k, v in model.policy.state_dict().items())
    obs, _ = sokoban().reset(seed=0)
    assert obs["action_mask"][int(model.predict(obs, deterministic=True)[0])]


@pytest.mark.parametrize("policy_name", ["TextPolicy", "CausalLMPolicy"])
def test_distribution_gives_every_actions_log_prob_as_evaluate_actions_does(policy_name):
    """``policy.distribution`` (one forward for all actions: the KL of the benchmark) against
    ``evaluate_actions`` called once per action."""
    from rlsuite.agents.common.observations import obs_to_tensor, split_masks

    env = gym.make("Sokoban-v0")
    kwargs = {"lm_config": {"model_type": "gpt2", "n_layer": 1, "n_embd": 32, "n_head": 2}}
    model = PPO(
        policy_name, "Sokoban-v0", seed=0, policy_kwargs=kwargs if policy_name != "TextPolicy" else {}
    )
    data = collect_logged_trajectories(env, {"random": RandomTextPolicy(seed=0)}, [0, 1], 1)
    obs, masks = split_masks(obs_to_tensor({k: v[:20] for k, v in data.observations.items()}, "cpu"))
    with torch.no_grad():
        all_lp = torch.log_softmax(model.policy.distribution(obs, masks).logits, -1)
        for a in range(4):
            one = model.policy.evaluate_actions(obs, torch.full((20, 1), a), masks).log_prob
            ok = masks[:, a]
            torch.testing.assert_close(all_lp[ok, a], one[ok], atol=1e-5, rtol=1e-5)
