"""Every agent validates what enters it: hyperparameters, policy_kwargs, schedules, predict's
observations and masks, learn's arguments, and (check_finite) the rewards, observations and
losses met during learn. Each case checks the exception type and that the message names the field."""

import math
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsuite.agents import BPO, HDPO, PDPPO, PPO, linear_schedule
from rlsuite.agents.common.validation import NonFiniteError
from rlsuite.agents.inventory_policies import InventoryMlpPolicy

torch.set_num_threads(1)

SMALL = {"n_steps": 16, "batch_size": 16, "n_epochs": 1}
HDPO_SMALL = {
    "n_train": 32,
    "n_dev": 16,
    "batch_size": 16,
    "train_periods": 6,
    "train_warmup": 2,
    "dev_periods": 6,
    "dev_warmup": 2,
}
HDPO_ENV = "InvMgmt-SingleStore-v0"

NAN, INF = float("nan"), float("inf")
non_finite = st.sampled_from([NAN, INF, -INF])
negative = st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False)
non_positive = st.floats(max_value=0.0, allow_nan=False, allow_infinity=False)
# Values of the wrong type for a number: strings, containers, None, bools.
not_a_number = st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2), st.none(), st.booleans())
# Values of the wrong type for an integer: non-integral floats too (1.7, and 2.0 is a float).
not_an_int = st.one_of(not_a_number, st.floats(allow_nan=False, allow_infinity=False))
# Values of the wrong type for a bool: the strings users write, 0/1, None.
not_a_bool = st.one_of(
    st.sampled_from(["False", "True", "false", "0", "", "yes"]), st.integers(), st.none(), st.floats()
)


@pytest.fixture(scope="module")
def cartpole():
    return gym.make("CartPole-v1")


@pytest.fixture(scope="module")
def ppo(cartpole):
    return PPO("MlpPolicy", cartpole, seed=0, **SMALL)


# ---------------------------------------------------------------- on-policy constructors
# (field, strategy of out-of-range values): ValueError naming the field.
OUT_OF_RANGE = {
    "learning_rate": st.one_of(non_positive, non_finite),
    "gamma": st.one_of(st.floats(min_value=1.0, exclude_min=True), negative, non_finite),
    "gae_lambda": st.one_of(st.floats(min_value=1.0, exclude_min=True), negative, non_finite),
    "ent_coef": st.one_of(negative, non_finite),
    "vf_coef": st.one_of(negative, non_finite),
    "max_grad_norm": st.one_of(non_positive, non_finite),
    "target_kl": st.one_of(non_positive, non_finite),
    "clip_obs": st.one_of(non_positive, non_finite),
    "clip_reward": st.one_of(non_positive, non_finite),
    "clip_range": st.one_of(non_positive, non_finite),
    "clip_range_vf": st.one_of(non_positive, non_finite),
    "n_steps": st.integers(max_value=0),
    "batch_size": st.integers(max_value=0),
    "n_epochs": st.integers(max_value=0),
    "n_envs": st.integers(max_value=0),
    "stats_window_size": st.integers(max_value=0),
    "verbose": st.integers(max_value=-1),
    "seed": st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63)),
}
INT_FIELDS = ["n_steps", "batch_size", "n_epochs", "n_envs", "stats_window_size", "verbose", "seed"]
FLOAT_FIELDS = ["gamma", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "clip_obs", "clip_reward"]
BOOL_FIELDS = ["normalize_advantage", "normalize_observation", "normalize_reward", "check_finite"]


@given(st.data())
@settings(max_examples=120, deadline=None)
def test_ppo_rejects_out_of_range_hyperparameters(cartpole, data):
    field = data.draw(st.sampled_from(sorted(OUT_OF_RANGE)))
    value = data.draw(OUT_OF_RANGE[field])
    with pytest.raises(ValueError, match=re.escape(field)):
        PPO("MlpPolicy", cartpole, **{**SMALL, field: value})


@given(st.data())
@settings(max_examples=80, deadline=None)
def test_ppo_rejects_wrong_types(cartpole, data):
    field = data.draw(st.sampled_from(INT_FIELDS + FLOAT_FIELDS + BOOL_FIELDS))
    strategy = not_an_int if field in INT_FIELDS else not_a_bool if field in BOOL_FIELDS else not_a_number
    value = data.draw(strategy)
    if field == "seed" and value is None:
        return  # seed=None is allowed
    with pytest.raises(TypeError, match=re.escape(field)):
        PPO("MlpPolicy", cartpole, **{**SMALL, field: value})


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_bpo_and_pdppo_reject_their_own_arguments(cartpole, data):
    cases = {
        "lam": st.one_of(non_positive, non_finite),
        "u_coef": st.one_of(negative, non_finite),
        "clip_range": st.one_of(non_positive, st.floats(min_value=1.0), non_finite),
        "post_vf_coef": st.one_of(negative, non_finite),
        "advantage": st.text(max_size=4).filter(lambda s: s not in ("gae", "mc")),
    }
    field = data.draw(st.sampled_from(sorted(cases)))
    value = data.draw(cases[field])
    cls = PDPPO if field in ("post_vf_coef", "advantage") else BPO
    env = "InvMgmt-v0" if cls is PDPPO else cartpole
    with pytest.raises(ValueError, match=re.escape(field)):
        cls("MlpPolicy", env, **{**SMALL, field: value})
    with pytest.raises(TypeError, match="use_median"):
        BPO("MlpPolicy", cartpole, use_median="False", **SMALL)


def test_valid_edge_values_are_accepted(cartpole):
    model = PPO(
        "MlpPolicy",
        cartpole,
        gamma=np.float32(1.0),
        gae_lambda=0,
        ent_coef=0,
        n_steps=np.int64(16),
        batch_size=16,
        seed=2**63 - 1,
        clip_range_vf=0.1,
        target_kl=0.01,
        verbose=0,
    )
    assert model.n_steps == 16 and isinstance(model.n_steps, int) and model.gamma == 1.0


@given(
    st.one_of(st.text(max_size=8), st.sampled_from(["cuda:x", "gpu", "meta", "cpu:0:1", "xla", "cuda:99"]))
)
@settings(max_examples=40, deadline=None)
def test_device_strings_are_checked(cartpole, device):
    try:
        ok = torch.device(device).type == "cpu"
    except (RuntimeError, ValueError):
        ok = False
    if ok or device == "auto":
        return
    with pytest.raises(ValueError, match="device"):
        PPO("MlpPolicy", cartpole, device=device, **SMALL)


# ---------------------------------------------------------------- schedules
@given(
    st.sampled_from(["learning_rate", "clip_range", "clip_range_vf"]),
    st.one_of(negative, non_finite),
    st.sampled_from([1.0, 0.0]),
)
@settings(max_examples=40, deadline=None)
def test_schedules_are_checked_at_both_ends(cartpole, field, bad, where):
    def schedule(progress):
        return bad if progress == where else 0.1

    with pytest.raises(ValueError, match=re.escape(field)):
        PPO("MlpPolicy", cartpole, **{**SMALL, field: schedule})


def test_schedule_leaving_its_range_mid_training_stops_with_its_name(cartpole):
    def lr(progress):
        return 1e-3 if progress in (0.0, 1.0) or progress > 0.6 else -1e-3

    model = PPO("MlpPolicy", cartpole, learning_rate=lr, **SMALL)
    with pytest.raises(ValueError, match=r"learning_rate.*progress_remaining"):
        model.learn(64)
    with pytest.raises(TypeError, match="learning_rate"):
        PPO("MlpPolicy", cartpole, learning_rate=lambda p: "0.1", **SMALL)
    with pytest.raises(ValueError, match="linear_schedule"):
        linear_schedule(NAN)
    # Annealing to 0 (SB3's usual schedule) is allowed.
    PPO("MlpPolicy", cartpole, learning_rate=linear_schedule(1e-3), clip_range=linear_schedule(0.2), **SMALL)


# ---------------------------------------------------------------- policy_kwargs
ALLOWED_POLICY_KWARGS = {
    "net_arch",
    "activation_fn",
    "ortho_init",
    "log_std_init",
    "features_extractor_class",
    "features_extractor_kwargs",
    "share_features_extractor",
}


@given(st.text(min_size=1, max_size=10).filter(lambda k: k not in ALLOWED_POLICY_KWARGS))
@settings(max_examples=30, deadline=None)
def test_unknown_policy_kwargs_are_named(cartpole, key):
    with pytest.raises(ValueError, match=rf"policy_kwargs: unknown key {re.escape(repr(key))}.*net_arch"):
        PPO("MlpPolicy", cartpole, policy_kwargs={key: 1}, **SMALL)


@given(
    st.lists(
        st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.text(max_size=2)),
        min_size=1,
        max_size=3,
    )
)
@settings(max_examples=30, deadline=None)
def test_net_arch_entries_must_be_positive_integers(cartpole, arch):
    with pytest.raises((TypeError, ValueError), match="net_arch"):
        PPO("MlpPolicy", cartpole, policy_kwargs={"net_arch": [8, *arch]}, **SMALL)


def test_policy_kwargs_values_are_checked(cartpole):
    env = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match="log_std_init"):
        PPO("MlpPolicy", env, policy_kwargs={"log_std_init": NAN}, **SMALL)
    with pytest.raises(TypeError, match="ortho_init"):
        PPO("MlpPolicy", cartpole, policy_kwargs={"ortho_init": "False"}, **SMALL)
    with pytest.raises(ValueError, match="activation_fn"):
        PPO("MlpPolicy", cartpole, policy_kwargs={"activation_fn": "swish"}, **SMALL)
    with pytest.raises(TypeError, match="activation_fn"):
        PPO("MlpPolicy", cartpole, policy_kwargs={"activation_fn": torch.tanh}, **SMALL)
    with pytest.raises(TypeError, match="policy_kwargs"):
        PPO("MlpPolicy", cartpole, policy_kwargs=[("net_arch", [8])], **SMALL)
    with pytest.raises(ValueError, match="median_head"):  # set by BPO itself, not a user key
        BPO("MlpPolicy", cartpole, policy_kwargs={"median_head": True}, **SMALL)


# ---------------------------------------------------------------- learn / set_env arguments
def test_learn_and_set_env_arguments(ppo):
    with pytest.raises(TypeError, match="total_timesteps"):
        ppo.learn(1.7)
    with pytest.raises(TypeError, match="total_timesteps"):
        ppo.learn("100")
    with pytest.raises(ValueError, match="total_timesteps"):
        ppo.learn(-5)
    with pytest.raises(TypeError, match="progress_bar"):
        ppo.learn(16, progress_bar="False")
    with pytest.raises(TypeError, match="reset_num_timesteps"):
        ppo.learn(16, reset_num_timesteps=0)
    with pytest.raises(ValueError, match="log_interval"):
        ppo.learn(16, log_interval=-1)
    with pytest.raises(TypeError, match="callback"):
        ppo.learn(16, callback=lambda *_: True)
    with pytest.raises(ValueError, match="env"):
        ppo.set_env(gym.make("Pendulum-v1"))
    with pytest.raises(ValueError, match="env"):
        ppo.set_env(42)


# ---------------------------------------------------------------- predict
@given(st.lists(st.integers(0, 6), min_size=0, max_size=3))
@settings(max_examples=40, deadline=None)
def test_predict_names_the_expected_shape(ppo, shape):
    shape = tuple(shape)
    if shape == (4,) or (len(shape) == 2 and shape[1] == 4):
        return
    with pytest.raises(ValueError, match=re.escape("observation: got shape") + r".*expected \(4,\)"):
        ppo.predict(np.zeros(shape, np.float32))


@given(st.integers(1, 5), st.data())
@settings(max_examples=40, deadline=None)
def test_predict_rejects_non_finite_observations(ppo, batch, data):
    obs = np.zeros((batch, 4), np.float32)
    obs[data.draw(st.integers(0, batch - 1)), data.draw(st.integers(0, 3))] = data.draw(non_finite)
    with pytest.raises(ValueError, match="observation: contains NaN or inf"):
        ppo.predict(obs)


@given(
    st.one_of(
        st.just(["a", "b", "c", "d"]),
        st.just(np.array([object()] * 4)),
        st.just([[1, 2], [3]]),
        st.text(min_size=1, max_size=4),
    )
)
@settings(max_examples=10, deadline=None)
def test_predict_rejects_non_numeric_observations(ppo, obs):
    with pytest.raises((TypeError, ValueError), match="observation"):
        ppo.predict(obs)


class MaskedDictEnv(gym.Env):
    """Dict observation with an action mask; the second action is never allowed."""

    def __init__(self) -> None:
        self.observation_space = spaces.Dict(
            {"pos": spaces.Box(-1.0, 1.0, (2,), np.float32), "action_mask": spaces.MultiBinary(3)}
        )
        self.action_space = spaces.Discrete(3)

    def _obs(self):
        return {"pos": np.zeros(2, np.float32), "action_mask": np.array([1, 0, 1], np.int8)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        assert action != 1
        return self._obs(), 1.0, False, False, {}


@pytest.fixture(scope="module")
def masked():
    return PPO("MultiInputPolicy", MaskedDictEnv(), seed=0, **SMALL)


class EmptyMaskAfter(MaskedDictEnv):
    """From step 5 on, the mask allows no action at all (a broken env)."""

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return super().reset(seed=seed, options=options)

    def _obs(self):
        allowed = getattr(self, "t", 0) < 5
        return {"pos": np.zeros(2, np.float32), "action_mask": np.array([allowed, 0, allowed], np.int8)}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, False, False, {}


def test_learn_stops_when_the_env_allows_no_action():
    """An all-False mask would make the policy sample a forbidden action (the masked logits become
    uniform): training stops at that step instead."""
    model = PPO("MultiInputPolicy", EmptyMaskAfter(), seed=0, **SMALL)
    expected = r"observation\['action_mask'\]: env 0 allows no action at num_timesteps=5"
    with pytest.raises(ValueError, match=expected):
        model.learn(64)


@given(st.sets(st.sampled_from(["pos", "action_mask", "extra", "tokens"]), max_size=4))
@settings(max_examples=20, deadline=None)
def test_predict_names_missing_and_extra_dict_keys(masked, keys):
    if keys == {"pos", "action_mask"}:
        return
    obs = {k: np.zeros(3 if k == "action_mask" else 2) for k in keys}
    missing = sorted({"pos", "action_mask"} - keys)
    with pytest.raises(ValueError, match=re.escape(repr(missing[0])) if missing else "extra|tokens"):
        masked.predict(obs)


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_predict_validates_action_masks(masked, data):
    obs = {"pos": np.zeros((2, 2), np.float32), "action_mask": np.ones((2, 3), np.int8)}
    kind = data.draw(st.sampled_from(["shape", "values", "empty_row", "dict_empty_row", "dict_shape"]))
    if kind == "shape":
        shape = tuple(data.draw(st.lists(st.integers(1, 4), max_size=3)))
        if shape in ((3,), (2, 3)):
            shape = (5,)
        with pytest.raises(ValueError, match=re.escape("action_masks: got shape")):
            masked.predict(obs, action_masks=np.ones(shape, bool))
    elif kind == "values":
        m = np.ones((2, 3))
        m[data.draw(st.integers(0, 1)), data.draw(st.integers(0, 2))] = data.draw(
            st.one_of(st.floats(min_value=1.01), st.floats(max_value=-0.01), non_finite, st.just(0.5))
        )
        with pytest.raises(ValueError, match="action_masks: values must be booleans or 0/1"):
            masked.predict(obs, action_masks=m)
    elif kind == "empty_row":
        m = np.ones((2, 3), bool)
        row = data.draw(st.integers(0, 1))
        m[row] = False
        with pytest.raises(ValueError, match=f"action_masks: row {row} allows no action"):
            masked.predict(obs, action_masks=m)
    elif kind == "dict_empty_row":
        obs["action_mask"] = np.array([[1, 0, 1], [0, 0, 0]], np.int8)
        with pytest.raises(ValueError, match="observation\\['action_mask'\\]: row 1 allows no action"):
            masked.predict(obs)
    else:
        obs["action_mask"] = np.ones((2, 4), np.int8)
        with pytest.raises(ValueError, match="observation\\['action_mask'\\]: got shape"):
            masked.predict(obs)


def test_predict_still_accepts_what_it_accepted(masked, ppo):
    a, _ = masked.predict({"pos": np.zeros(2), "action_mask": np.array([1, 0, 1])}, deterministic=True)
    assert a in (0, 2)
    a, _ = masked.predict(
        {"pos": np.zeros(2)[None], "action_mask": np.ones((1, 3))}, action_masks=[[0, 0, 1]]
    )
    assert a.tolist() == [2]
    assert ppo.predict(np.zeros(4))[0] in (0, 1)
    assert ppo.predict(torch.zeros(3, 4))[0].shape == (3,)
    assert ppo.predict([[0, 0, 0, 0]])[0].shape == (1,)
    with pytest.raises(TypeError, match="deterministic"):
        ppo.predict(np.zeros(4), deterministic="True")


def test_box_actions_cannot_be_masked():
    model = PPO("MlpPolicy", gym.make("Pendulum-v1"), **SMALL)
    with pytest.raises(ValueError, match="action_masks: Box actions cannot be masked"):
        model.predict(np.zeros(3), action_masks=[1])


# ---------------------------------------------------------------- learn: check_finite
class NaNAt(gym.Wrapper):
    """Returns a NaN reward (or observation entry) at the ``at``-th call to step (1-based, counted
    across episodes)."""

    def __init__(self, env: gym.Env, at: int, what: str) -> None:
        super().__init__(env)
        self.at, self.what, self.calls = at, what, 0

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        self.calls += 1
        if self.calls == self.at:
            if self.what == "reward":
                r = NAN
            else:
                obs = np.array(obs, dtype=np.float32)
                obs[1] = INF
        return obs, r, term, trunc, info


@given(st.integers(1, 60), st.sampled_from(["reward", "observation"]))
@settings(max_examples=12, deadline=None)
def test_learn_stops_at_the_first_non_finite_reward_or_observation(at, what):
    model = PPO("MlpPolicy", NaNAt(gym.make("CartPole-v1"), at, what), seed=0, **SMALL)
    with pytest.raises(
        NonFiniteError, match=rf"non-finite {what}.*num_timesteps={at} \(iteration {1 + (at - 1) // 16}\)"
    ):
        model.learn(64)
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())


def test_check_finite_false_turns_the_check_off():
    model = PPO("MlpPolicy", NaNAt(gym.make("CartPole-v1"), 5, "reward"), check_finite=False, **SMALL)
    model.learn(32)  # no error: the user asked for it
    with pytest.raises(TypeError, match="check_finite"):
        PPO("MlpPolicy", "CartPole-v1", check_finite="no", **SMALL)


class NaNLossPPO(PPO):
    def compute_loss(self, batch, out):
        loss, info = super().compute_loss(batch, out)
        return loss * NAN if self.num_timesteps == 32 else loss, info


def test_learn_stops_at_a_non_finite_loss_before_updating(cartpole):
    model = NaNLossPPO("MlpPolicy", cartpole, seed=0, **SMALL)

    def snapshot():
        return [p.detach().clone() for p in model.policy.parameters()]

    model.learn(16)
    before = snapshot()
    with pytest.raises(
        NonFiniteError, match=r"non-finite loss nan at num_timesteps=32 \(iteration 1, epoch 0\)"
    ):
        model.learn(16, reset_num_timesteps=False)
    for a, b in zip(before, snapshot(), strict=True):
        assert torch.equal(a, b)


def test_pdppo_checks_the_post_decision_reward():
    class NaNPost(gym.Wrapper):
        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            info = {**info, "post_decision_reward": NAN}
            return obs, r, term, trunc, info

    model = PDPPO("MlpPolicy", NaNPost(gym.make("InvMgmt-v0")), **SMALL)
    with pytest.raises(NonFiniteError, match=r"post_decision_reward.*num_timesteps=1"):
        model.learn(16)


# ---------------------------------------------------------------- HDPO
HDPO_BAD = {
    "learning_rate": (st.one_of(non_positive, non_finite), ValueError),
    "batch_size": (st.integers(max_value=0), ValueError),
    "n_dev": (not_an_int, TypeError),
    "train_warmup": (st.one_of(st.integers(max_value=-1), st.integers(min_value=6)), ValueError),
    "max_grad_norm": (st.one_of(non_positive, non_finite), ValueError),
    "dtype": (st.text(max_size=8), ValueError),
    "random_initial_state": (not_a_bool, TypeError),
    "check_finite": (not_a_bool, TypeError),
    "seed": (st.integers(max_value=-1), ValueError),
    "verbose": (not_an_int, TypeError),
    "patience": (st.integers(max_value=0), ValueError),
}


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_hdpo_rejects_bad_hyperparameters(data):
    field = data.draw(st.sampled_from(sorted(HDPO_BAD)))
    strategy, err = HDPO_BAD[field]
    value = data.draw(strategy)
    if (field == "verbose" and value is None) or (field == "dtype" and value in ("float32", "float64")):
        return
    if field == "n_dev" and value is None:
        return
    with pytest.raises(err, match=re.escape(field)):
        HDPO("MlpPolicy", HDPO_ENV, **{**HDPO_SMALL, field: value})


@pytest.fixture(scope="module")
def hdpo():
    return HDPO("MlpPolicy", HDPO_ENV, seed=0, **HDPO_SMALL)


def test_hdpo_policy_kwargs_evaluate_and_learn_arguments(hdpo):
    with pytest.raises(ValueError, match=r"policy_kwargs: unknown key 'depth'.*net_arch"):
        HDPO("MlpPolicy", HDPO_ENV, policy_kwargs={"depth": 3}, **HDPO_SMALL)
    with pytest.raises(TypeError, match=re.escape("net_arch[0]")):
        HDPO("MlpPolicy", HDPO_ENV, policy_kwargs={"net_arch": [1.7]}, **HDPO_SMALL)
    with pytest.raises(ValueError, match="warmup"):
        hdpo.evaluate(n_traces=4, periods=10, warmup=10)
    with pytest.raises(TypeError, match="round_orders"):
        hdpo.evaluate(n_traces=4, periods=10, warmup=2, round_orders="yes")
    with pytest.raises(TypeError, match="n_traces"):
        hdpo.evaluate(n_traces=4.0, periods=10, warmup=2)
    with pytest.raises(TypeError, match="epochs"):
        hdpo.learn(epochs=1.5)
    with pytest.raises(TypeError, match="progress_bar"):
        hdpo.learn(epochs=1, progress_bar=1)


@given(st.integers(1, 4), non_finite)
@settings(max_examples=12, deadline=None)
def test_hdpo_predict_rejects_non_finite_observations(hdpo, batch, bad):
    obs = np.zeros((batch, hdpo.core.obs_dim))
    obs[-1, 0] = bad
    with pytest.raises(ValueError, match="observation: contains NaN or inf"):
        hdpo.predict(obs)
    with pytest.raises(TypeError, match="observation"):
        hdpo.predict(np.array(["x"] * hdpo.core.obs_dim))


class NaNOrders(InventoryMlpPolicy):
    def forward(self, obs):
        return super().forward(obs) * NAN


def test_hdpo_learn_stops_at_a_non_finite_cost():
    model = HDPO(NaNOrders, HDPO_ENV, seed=0, **HDPO_SMALL)
    with pytest.raises(NonFiniteError, match=r"non-finite training cost nan in epoch 1 \(gradient step 1"):
        model.learn(epochs=1)
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())
    assert math.isinf(model.best_dev_cost)
