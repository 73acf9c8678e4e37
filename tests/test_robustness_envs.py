"""Fuzzing the input boundary of every registered environment id (issue 14, "Hardening").

Malformed actions, seeds, ``gym.make`` keyword arguments, network specs and model text must raise
``TypeError`` (wrong type) or ``ValueError`` (wrong value) naming the field, or, for model text,
be handled as a no-op in linear time; stepping before ``reset`` or after the episode ended raises
the same ``RuntimeError`` everywhere.
"""

import itertools
import math
import re
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rlsuite  # noqa: F401  (registers the ids)
from rlsuite.envs import GRIDWORLD_IDS, INVMGMT_IDS, LOTSIZING_IDS, MO_IDS, SOKOBAN_IDS, WEBSHOP_IDS
from rlsuite.envs.inventory import NetworkSpec
from rlsuite.envs.inventory.core import MAX_DENSE_ENTRIES
from rlsuite.envs.inventory.spec import MAX_LEAD_TIME
from rlsuite.envs.text import TextActionWrapper, parse_actions
from rlsuite.envs.text.webshop import MAX_ACTION_CHARS
from rlsuite.envs.validation import STEP_AFTER_END, STEP_BEFORE_RESET

torch.set_num_threads(1)

ALL_IDS = [*INVMGMT_IDS, *LOTSIZING_IDS, *SOKOBAN_IDS, *WEBSHOP_IDS, *GRIDWORLD_IDS, *MO_IDS]
INDEX_IDS = [*SOKOBAN_IDS, *WEBSHOP_IDS, *GRIDWORLD_IDS, *(i for i in MO_IDS if i.startswith("DeepSea"))]
FUZZ = settings(max_examples=25, deadline=None)

_ENVS: dict[str, gym.Env] = {}


def reset_env(env_id: str) -> gym.Env:
    """The unwrapped env of ``env_id`` (made once per worker), freshly reset with seed 0."""
    if env_id not in _ENVS:
        _ENVS[env_id] = gym.make(env_id).unwrapped
    env = _ENVS[env_id]
    env.reset(seed=0)
    return env


def raises_naming(
    exc: type[BaseException] | tuple[type[BaseException], ...], field: str, fn, *args, **kwargs
):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert field in str(info.value), f"{field!r} not named in: {info.value}"
    return info.value


# ---------------------------------------------------------------------- the episode protocol
def _play_to_the_end(env: gym.Env) -> None:
    space = env.action_space
    for _ in range(100_000):
        action = 0 if isinstance(space, gym.spaces.Discrete) else space.sample() * 0 + 1
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return
    raise AssertionError("the episode never ended")


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_step_before_reset_and_after_the_end_raise_the_same_error(env_id):
    env = gym.make(env_id).unwrapped
    with pytest.raises(RuntimeError, match=re.escape(STEP_BEFORE_RESET)):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    _play_to_the_end(env)
    with pytest.raises(RuntimeError, match=re.escape(STEP_AFTER_END)):
        env.step(env.action_space.sample())
    env.reset(seed=1)  # and a new episode runs
    env.step(env.action_space.sample())


def test_sokoban_pays_nothing_after_it_is_solved():
    env = reset_env("Sokoban-v0")
    for a in env.optimal_plan:
        _, reward, terminated, _, info = env.step(a)
    assert terminated and info["won"] and reward > 9
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(env.optimal_plan[-1])


def test_gridworld_ends_at_the_goal_and_refuses_more_steps():
    env = gym.make("GridWorld-v0", slip=0.0, layout=("SG",)).unwrapped
    env.reset(seed=0)
    _, reward, terminated, _, _ = env.step(1)
    assert terminated and reward == 1.0
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(1)


def test_text_wrapper_follows_the_protocol_and_never_raises_on_text():
    env = TextActionWrapper(gym.make("Sokoban-v0", max_steps=3))
    with pytest.raises(RuntimeError, match="before reset"):
        env.step("up")
    env.reset(seed=0)
    for _ in range(3):
        *_, terminated, truncated, info = env.step("<action>nonsense</action>")
        assert not info["is_action_valid"]
    assert truncated and not terminated
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step("up")


# ---------------------------------------------------------------------- step actions
REAL_JUNK = st.one_of(
    st.text(max_size=8),
    st.lists(st.text(max_size=3), min_size=1, max_size=4),
    st.complex_numbers(allow_nan=False).filter(lambda z: z.imag != 0),
    st.just(object()),
    st.just({"a": 1}),
)


def _wrong_type_actions(n: int) -> st.SearchStrategy:
    """(action, exception, field) triples of the wrong type for a ``[n]`` real-valued action."""
    return st.one_of(
        REAL_JUNK.map(lambda a: (a, (TypeError, ValueError))),
        st.just((np.full(n, 1 + 1j), TypeError)),
        st.just((np.ones(n, dtype=bool), TypeError)),
        st.just((np.array(["1"] * n), TypeError)),
    )


def _bad_continuous_actions(n: int) -> st.SearchStrategy:
    shapes = st.one_of(
        st.integers(0, 3 * n).filter(lambda k: k != n).map(lambda k: (k,)),
        st.tuples(st.integers(2, 4), st.integers(2, 4)).filter(lambda s: s[0] * s[1] != n),
    )
    wrong_shape = shapes.map(lambda s: (np.ones(s), ValueError))
    non_finite = st.tuples(st.integers(0, n - 1), st.sampled_from([math.nan, math.inf, -math.inf])).map(
        lambda p: (np.where(np.arange(n) == p[0], p[1], 1.0), ValueError)
    )
    return st.one_of(wrong_shape, non_finite, _wrong_type_actions(n))


@pytest.mark.parametrize("env_id", list(INVMGMT_IDS))
@FUZZ
@given(data=st.data())
def test_invmgmt_rejects_malformed_orders(env_id, data):
    env = reset_env(env_id)
    n = env.core.n_links
    action, exc = data.draw(_bad_continuous_actions(n))
    raises_naming(exc, "action", env.step, action)
    obs, *_ = env.step(np.full(n, 5.0))  # the state was not touched
    assert np.isfinite(obs).all()


def _bad_lotsizing_actions(n_machines: int, n_items: int) -> st.SearchStrategy:
    out_of_range = st.tuples(
        st.integers(0, n_machines - 1),
        st.one_of(st.integers(max_value=-1), st.integers(min_value=n_items + 1)),
    ).map(
        lambda p: (np.where(np.arange(n_machines) == p[0], p[1], 0).astype(object).astype(float), ValueError)
    )
    not_whole = st.floats(0.01, n_items - 0.01).filter(lambda x: x != round(x))
    fractional = not_whole.map(lambda x: (np.full(n_machines, x), ValueError))
    non_finite = st.sampled_from([math.nan, math.inf]).map(lambda x: (np.full(n_machines, x), ValueError))
    wrong_shape = st.integers(0, 3 * n_machines).filter(lambda k: k != n_machines)
    return st.one_of(
        out_of_range,
        fractional,
        non_finite,
        wrong_shape.map(lambda k: (np.zeros(k, dtype=np.int64), ValueError)),
        _wrong_type_actions(n_machines),
    )


@pytest.mark.parametrize("env_id", list(LOTSIZING_IDS))
@FUZZ
@given(data=st.data())
def test_lotsizing_rejects_malformed_machine_choices(env_id, data):
    env = reset_env(env_id)
    action, exc = data.draw(_bad_lotsizing_actions(env.n_machines, env.n_items))
    raises_naming(exc, "action", env.step, action)
    env.step(np.zeros(env.n_machines, dtype=np.int64))


def _bad_index_actions(n: int, strings_allowed: bool) -> st.SearchStrategy:
    out_of_range = st.one_of(st.integers(max_value=-1), st.integers(min_value=n)).map(
        lambda i: (i, ValueError)
    )
    numpy_out = st.integers(n, 2**40).map(lambda i: (np.int64(i), ValueError))
    floats = st.floats(allow_nan=True, allow_infinity=True).map(lambda x: (x, TypeError))
    others = st.one_of(
        st.booleans(),
        st.just(None),
        st.complex_numbers(),
        st.lists(st.integers(0, n - 1), min_size=2, max_size=3),
        st.just(np.zeros(3, dtype=np.int64)),
        st.just(np.array(1.0)),
        st.just(b"up"),
    ).map(lambda a: (a, TypeError))
    cases = [out_of_range, numpy_out, floats, others]
    if not strings_allowed:
        cases.append(st.text(max_size=10).map(lambda s: (s, TypeError)))
    return st.one_of(*cases)


@pytest.mark.parametrize("env_id", INDEX_IDS)
@FUZZ
@given(data=st.data())
def test_index_envs_reject_malformed_actions(env_id, data):
    env = reset_env(env_id)
    accepts_text = getattr(env, "accepts_text_actions", False)
    action, exc = data.draw(_bad_index_actions(env.action_space.n, accepts_text))
    raises_naming(exc, "action", env.step, action)
    env.step(np.int64(0))  # numpy integers are integers


# ---------------------------------------------------------------------- reset seeds
BAD_SEEDS = st.one_of(
    st.integers(max_value=-1).map(lambda s: (s, ValueError)),
    st.floats(allow_nan=True).map(lambda s: (s, TypeError)),
    st.text(max_size=5).map(lambda s: (s, TypeError)),
    st.booleans().map(lambda s: (s, TypeError)),
    st.just(([1], TypeError)),
)


@pytest.mark.parametrize("env_id", ALL_IDS)
@settings(max_examples=15, deadline=None)
@given(case=BAD_SEEDS)
def test_reset_rejects_malformed_seeds(env_id, case):
    seed, exc = case
    if env_id not in _ENVS:
        reset_env(env_id)
    raises_naming(exc, "seed", _ENVS[env_id].reset, seed=seed)


def test_numpy_integer_seeds_are_accepted_and_equal_python_ones():
    env = gym.make("InvMgmt-v0")
    a, _ = env.reset(seed=np.int64(3))
    b, _ = env.reset(seed=3)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- gym.make kwargs
WRONG_INT = st.one_of(
    st.floats(allow_nan=True).filter(lambda x: x != int(x) if math.isfinite(x) else True),
    st.text(max_size=4),
    st.booleans(),
)


def _int_outside(low: int, high: int | None) -> st.SearchStrategy:
    above = [] if high is None else [st.integers(min_value=high + 1, max_value=10**30)]
    return st.one_of(st.integers(max_value=low - 1, min_value=-(10**30)), *above)


def _int_field(name: str, low: int, high: int | None) -> st.SearchStrategy:
    return st.one_of(
        WRONG_INT.map(lambda v: (name, v, TypeError)),
        _int_outside(low, high).map(lambda v: (name, v, ValueError)),
    )


NOT_BOOL = st.one_of(
    st.sampled_from(["False", "True", "no", "", 0, 1, None, 0.0]),
    st.integers(),
    st.text(max_size=5),
)


def _bool_field(name: str) -> st.SearchStrategy:
    return NOT_BOOL.map(lambda v: (name, v, TypeError))


def _real_field(name: str, low: float | None, high: float | None) -> st.SearchStrategy:
    bad = [st.sampled_from([math.nan, math.inf, -math.inf])]
    if low is not None:
        bad.append(st.floats(max_value=low, exclude_max=True, allow_nan=False, allow_infinity=False))
    if high is not None:
        bad.append(st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False))
    return st.one_of(
        st.one_of(*bad).map(lambda v: (name, v, ValueError)),
        st.one_of(st.text(max_size=4), st.booleans(), st.just([1.0])).map(lambda v: (name, v, TypeError)),
    )


def _choice_field(name: str) -> st.SearchStrategy:
    return st.one_of(st.text(max_size=6), st.integers()).map(lambda v: (name, v, ValueError))


MAKE_CASES: dict[str, st.SearchStrategy] = {
    "InvMgmt-v0": st.one_of(
        _int_field("num_periods", 1, 1_000_000),
        _bool_field("backlog").filter(lambda c: c[1] is not None),
        _choice_field("observation"),
        _choice_field("allocation"),
        _real_field("max_order", 0.0, None).filter(lambda c: c[1] != 0.0 or c[2] is TypeError),
    ),
    "InvMgmt-SingleStore-v0": st.one_of(
        _int_field("lead_time", 0, MAX_LEAD_TIME),
        _real_field("holding_cost", 0.0, None),
        _real_field("shortage_cost", 0.0, None),
        _bool_field("backlog").filter(lambda c: c[1] is not None),
    ),
    "InvMgmt-OneWarehouse-v0": st.one_of(
        _int_field("n_stores", 1, 1000),
        _int_field("warehouse_lead_time", 0, MAX_LEAD_TIME),
        _real_field("correlation", -1.0, 1.0),
    ),
    "LotSizing-Small-v0": st.one_of(
        _int_field("n_items", 1, 1000),
        _int_field("n_machines", 1, 1000),
        _int_field("instance_seed", 0, None),
        _int_field("horizon", 1, 1_000_000),
        _int_field("max_inventory", 1, 2**24),
        _real_field("demand_p", 0.0, 1.0),
        _bool_field("random_initial_setup"),
    ),
    "Sokoban-v0": st.one_of(
        _int_field("num_boxes", 1, 4),
        _int_field("max_steps", 1, 1_000_000),
        _int_field("tile_size", 1, 64),
        _bool_field("deadlock_detection"),
        _bool_field("visual"),
        _choice_field("reward_mode"),
        st.one_of(_int_outside(4, 16), WRONG_INT).map(
            lambda v: ("dim_room", (6, v), (TypeError, ValueError))
        ),
    ),
    "WebShop-v0": st.one_of(
        _int_field("n_products", 10, 20_000),
        _int_field("max_steps", 1, 1_000_000),
        _int_field("max_tokens", 1, 65_536),
        _int_field("n_queries", 1, 4),
        _int_field("catalog_seed", 0, None),
        _choice_field("split"),
    ),
    "GridWorld-v0": st.one_of(
        _real_field("slip", 0.0, 1.0),
        _real_field("goal_reward", None, None),
        _int_field("max_steps", 1, 1_000_000),
        st.integers(33, 200).map(lambda k: ("layout", ("S" + "." * (k - 2) + "G",) * k, ValueError)),
    ),
}


@pytest.mark.parametrize("env_id", list(MAKE_CASES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_make_rejects_malformed_kwargs_naming_them(env_id, data):
    name, value, exc = data.draw(MAKE_CASES[env_id])
    if name == "demand_p" and value == 1.0:
        return
    raises_naming(exc, name, gym.make, env_id, **{name: value})


@pytest.mark.parametrize(
    ("env_id", "kwargs", "field"),
    [
        ("InvMgmt-v0", {"backlog": "False"}, "backlog"),
        ("InvMgmt-LostSales-v0", {"backlog": 0}, "backlog"),
        ("LotSizing-v0", {"random_initial_setup": "False"}, "random_initial_setup"),
        ("Sokoban-v0", {"visual": "False"}, "visual"),
        ("Sokoban-v0", {"deadlock_detection": 1}, "deadlock_detection"),
    ],
)
def test_string_or_int_booleans_are_type_errors(env_id, kwargs, field):
    raises_naming(TypeError, field, gym.make, env_id, **kwargs)


@pytest.mark.parametrize(
    ("env_id", "kwargs", "field"),
    [
        ("InvMgmt-SingleStore-v0", {"lead_time": 10**9}, "lead_time"),
        ("InvMgmt-v0", {"num_periods": 10**12}, "num_periods"),
        ("InvMgmt-OneWarehouse-v0", {"n_stores": 10**8}, "n_stores"),
        ("LotSizing-v0", {"n_items": 10**9}, "n_items"),
        ("LotSizing-v0", {"horizon": 900_000}, "horizon"),  # 900k x 15 items > 10**7 demand entries
        ("Sokoban-v0", {"dim_room": (10**6, 10**6)}, "dim_room"),
        ("WebShop-v0", {"n_products": 10**9}, "n_products"),
        ("GridWorld-v0", {"layout": ("S" + "." * 3000 + "G",)}, "layout"),
    ],
)
def test_sizes_that_cannot_fit_are_refused_up_front(env_id, kwargs, field):
    start = time.perf_counter()
    err = raises_naming(ValueError, field, gym.make, env_id, **kwargs)
    assert time.perf_counter() - start < 2.0
    assert re.search(r"\d", str(err).split(";", 1)[1]), f"no limit in: {err}"


def test_a_network_too_large_for_the_core_is_refused_with_its_size():
    n = 200  # a serial chain of 200 links with lead time 1000: 200k pipeline slots
    nodes = [{"name": "raw", "kind": "raw"}] + [
        {"name": f"d{i}", "kind": "distributor"} for i in range(n - 1)
    ]
    nodes += [{"name": "shop", "kind": "retailer"}, {"name": "market", "kind": "market"}]
    chain = ["raw"] + [f"d{i}" for i in range(n - 1)] + ["shop"]
    links = [{"src": a, "dst": b, "L": MAX_LEAD_TIME} for a, b in itertools.pairwise(chain)]
    spec = NetworkSpec.from_dict(
        {"nodes": nodes, "links": links, "markets": [{"src": "shop", "dst": "market"}]}
    )
    start = time.perf_counter()
    err = raises_naming(ValueError, "network size", gym.make, "InvMgmt-v0", network=spec)
    assert str(MAX_DENSE_ENTRIES) in str(err) and time.perf_counter() - start < 2.0


def test_numpy_integers_are_integers():
    env = gym.make("InvMgmt-v0", num_periods=np.int64(3))
    env.reset(seed=0)
    assert gym.make("LotSizing-Small-v0", n_items=np.int32(4)).unwrapped.n_items == 4
    sok = gym.make("Sokoban-v0", max_steps=np.int16(5)).unwrapped
    sok.reset(seed=0)
    sok.step(np.int64(1))
    sok.step(np.array([2]))


# ---------------------------------------------------------------------- network spec
def _spec_mutations() -> st.SearchStrategy:
    """(path, leaf field, bad value, exception) for one field of the divergent network's dict."""
    number_bad = st.one_of(
        st.sampled_from([math.nan, math.inf]).map(lambda v: (v, ValueError)),
        st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(lambda v: (v, ValueError)),
        st.one_of(st.text(max_size=4), st.booleans(), st.just([1])).map(lambda v: (v, TypeError)),
    )
    lead_bad = st.one_of(_int_outside(0, MAX_LEAD_TIME), WRONG_INT)
    node_field = st.tuples(st.integers(1, 6), st.sampled_from(["I0", "h"]), number_bad)
    link_field = st.tuples(st.integers(0, 10), st.sampled_from(["p", "g", "K"]), number_bad)
    link_lead = st.tuples(st.integers(0, 10), lead_bad)
    market_field = st.tuples(st.sampled_from(["p", "b"]), number_bad)
    demand_field = st.tuples(st.sampled_from(["mean", "noise_scale", "shock_mag"]), number_bad)
    return st.one_of(
        node_field.map(lambda c: (("nodes", c[0], c[1]), c[1], *c[2])),
        link_field.map(lambda c: (("links", c[0], c[1]), c[1], *c[2])),
        link_lead.map(lambda c: (("links", c[0], "L"), "L", c[1], (TypeError, ValueError))),
        market_field.map(lambda c: (("markets", 0, c[0]), c[0], *c[1])),
        demand_field.map(lambda c: (("markets", 0, "demand", c[0]), c[0], *c[1])),
        _bool_field("backlog").map(lambda c: (("backlog",), "backlog", c[1], TypeError)),
        st.sampled_from(["sideways", 3]).map(lambda v: (("event_order",), "event_order", v, ValueError)),
        st.one_of(st.integers(), st.text(max_size=3)).map(lambda v: (("nodes",), "nodes", v, TypeError)),
    )


@settings(max_examples=120, deadline=None)
@given(case=_spec_mutations())
def test_network_spec_from_dict_validates_every_field(case):
    path, leaf, value, exc = case
    cfg = NetworkSpec.divergent().to_dict()
    target = cfg
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    raises_naming(exc, leaf, NetworkSpec.from_dict, cfg)


def test_from_yaml_reads_booleans_strictly(tmp_path):
    text = NetworkSpec.serial().to_dict()
    import yaml

    text["backlog"] = "False"
    ours = tmp_path / "ours.yaml"
    ours.write_text(yaml.safe_dump(text))
    raises_naming(TypeError, "backlog", NetworkSpec.from_yaml, ours)
    gym_format = tmp_path / "gym.yaml"
    gym_format.write_text(
        "backlog: 'False'\n"
        "nodes: [{id: 0}, {id: 1, I0: 10, h: 0.1}, {id: 2}]\n"
        "edges: [{from: 1, to: 0, p: 2, b: 0.1}, {from: 2, to: 1, L: 1, p: 1, g: 0}]\n"
    )
    raises_naming(TypeError, "backlog", NetworkSpec.from_yaml, gym_format)


# ---------------------------------------------------------------------- vector env and PettingZoo
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_vector_env_rejects_malformed_orders(data):
    envs = _vector_env()
    n = envs.core.n_links
    flat, exc = data.draw(_bad_continuous_actions(3 * n))
    action = flat.reshape(3, n) if isinstance(flat, np.ndarray) and flat.size == 3 * n else flat
    raises_naming(exc, "actions", envs.step, action)


def test_vector_env_rejects_complex_and_bool_tensors_and_bad_seeds():
    envs = _vector_env()
    n = envs.core.n_links
    raises_naming(TypeError, "actions", envs.step, torch.ones(3, n, dtype=torch.complex64))
    raises_naming(TypeError, "actions", envs.step, torch.ones(3, n, dtype=torch.bool))
    raises_naming(ValueError, "actions", envs.step, torch.full((3, n), math.nan))
    raises_naming(ValueError, "seed", envs.reset, seed=-1)
    raises_naming(TypeError, "seed", envs.reset, seed=[0, 1.5, 2])
    raises_naming(TypeError, "seed", envs.reset, seed="a")


_VEC: list = []


def _vector_env():
    if not _VEC:
        _VEC.append(gym.make_vec("InvMgmt-v0", num_envs=3))
    _VEC[0].reset(seed=0)
    return _VEC[0]


def test_vector_env_refuses_an_oversized_batch():
    raises_naming(ValueError, "num_envs", gym.make_vec, "InvMgmt-v0", num_envs=10**7)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_pettingzoo_view_rejects_malformed_agent_orders(data):
    pytest.importorskip("pettingzoo")
    from rlsuite.envs.inventory.marl import InvMgmtParallelEnv

    env = InvMgmtParallelEnv("serial", num_periods=5)
    env.reset(seed=0)
    agent = data.draw(st.sampled_from(env.possible_agents))
    k = env.action_space(agent).shape[0]
    bad, exc = data.draw(_bad_continuous_actions(k))
    actions = {a: np.ones(env.action_space(a).shape) for a in env.agents}
    actions[agent] = bad
    raises_naming(exc, "actions[", env.step, actions)


# ---------------------------------------------------------------------- text parsing
def _reference_parse(text: str) -> list[str]:
    """The regex formulation of the protocol's parser (quadratic; fine on short strings)."""
    tag = re.compile(r"<(action|answer)>(.*?)</\1>", re.IGNORECASE | re.DOTALL)

    def norm(t: str) -> str:
        t = re.sub(r"\s+", " ", t.strip().lower())
        return re.sub(r"\[\s*(.*?)\s*\]", r"[\1]", t)

    tagged = tag.findall(text)
    body = " || ".join(inner for _, inner in tagged) if tagged else text
    return [norm(part) for part in body.split("||") if part.strip()]


PIECES = ["<action>", "</action>", "<Answer>", "</answer>", "[", "]", " ", "\n", "||", "up", "search[", "X"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
def test_parse_actions_agrees_with_the_regex_reference(text):
    assert parse_actions(text) == _reference_parse(text)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(max_size=300), st.lists(st.sampled_from(PIECES), max_size=60).map("".join)))
def test_webshop_text_actions_never_raise_and_invalid_ones_are_no_ops(text):
    env = TextActionWrapper(reset_env("WebShop-v0"))
    env.reset(seed=0)
    before = env.unwrapped.page_text()
    _, _, _, _, info = env.step(text)
    if not info["executed_actions"]:
        assert env.unwrapped.page_text() == before


@pytest.mark.parametrize(
    "query",
    [
        "search[" + "a" * 200_000 + "]",
        "search[under" + " " * 200_000 + "]",
        "search[" + "under $ " * 25_000 + "]",
    ],
)
def test_a_long_webshop_search_is_refused_fast(query):
    env = reset_env("WebShop-v0")
    start = time.perf_counter()
    _, reward, _, _, info = env.step(query)
    env.catalog.search(query)  # the search itself is linear too
    elapsed = time.perf_counter() - start
    assert len(query) > MAX_ACTION_CHARS and not info["is_action_valid"] and reward == 0.0
    assert info["page"] == "search" and elapsed < 2.0


@pytest.mark.parametrize(
    "text",
    ["[" * 200_000, "<action>" * 25_000, "<answer>up" + " [" * 100_000, "search[ " + "under " * 30_000 + "]"],
)
def test_protocol_parsing_is_linear_on_adversarial_text(text):
    env = TextActionWrapper(gym.make("Sokoban-v0"), max_length=10**6)
    env.reset(seed=0)
    start = time.perf_counter()
    parse_actions(text)
    _, _, _, _, info = env.step(text)
    assert time.perf_counter() - start < 2.0 and not info["is_action_valid"]
