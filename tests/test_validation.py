"""rlsuite.validation, the suite's one set of argument checks: each check accepts exactly its kind
of value, returns it in its canonical type, and raises ``ArgumentTypeError`` (wrong type) or
``ValueError`` (out of range) with a message that starts with the field's name."""

import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsuite.validation import (
    MAX_SEED,
    ArgumentTypeError,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_int_list,
    check_mapping,
    check_optional_real,
    check_optional_str,
    check_real,
    check_seed,
    check_seeds,
    short_repr,
)

NAN, INF = math.nan, math.inf
# Values of the wrong type for a number: strings, containers, None, bools.
not_a_number = st.one_of(
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.none(),
    st.booleans(),
    st.just(np.bool_(True)),
)
# Values of the wrong type for an integer: floats too (1.7, and 2.0 is a float).
not_an_int = st.one_of(not_a_number, st.floats(), st.just(np.float64(2.0)))
# Values of the wrong type for a bool: the strings users write, 0/1, None.
not_a_bool = st.one_of(
    st.sampled_from(["False", "True", "false", "0", "", "yes"]), st.integers(), st.none(), st.floats()
)


def test_type_errors_are_also_value_errors_for_older_callers():
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)


def test_short_repr_bounds_the_message_length():
    assert short_repr("x" * 200_000).endswith("...") and len(short_repr("x" * 200_000)) == 120
    assert short_repr(np.zeros((100, 100))) == "array of shape (100, 100) and dtype float64"
    assert short_repr(3) == "3"


@given(not_a_bool)
@settings(max_examples=30, deadline=None)
def test_check_bool_is_strict(v):
    with pytest.raises(ArgumentTypeError, match=r"^flag: got .*; must be True or False"):
        check_bool("flag", v)


def test_check_bool_accepts_numpy_bools_as_bool():
    assert check_bool("flag", np.bool_(True)) is True and check_bool("flag", False) is False


@given(st.integers(min_value=-(2**70), max_value=2**70), st.integers(-5, 5), st.integers(-5, 5))
@settings(max_examples=60, deadline=None)
def test_check_int_accepts_exactly_the_integers_in_range(v, low, span):
    high = low + abs(span)
    if low <= v <= high:
        assert check_int("n", v, low, high) == v and check_int("n", np.int64(low), low, high) == low
    else:
        with pytest.raises(ValueError, match=r"^n: got -?\d+; must be an integer in \[") as e:
            check_int("n", v, low, high)
        assert not isinstance(e.value, TypeError)


@given(not_an_int)
@settings(max_examples=40, deadline=None)
def test_check_int_rejects_non_integers_with_a_type_error(v):
    with pytest.raises(ArgumentTypeError, match=r"^n: got .*; must be an integer >= 0"):
        check_int("n", v, 0)


def test_check_int_returns_a_python_int_and_names_one_sided_bounds():
    assert type(check_int("x", np.uint8(3))) is int
    with pytest.raises(ValueError, match=r"^x: got 0; must be an integer >= 1$"):
        check_int("x", 0, 1)
    with pytest.raises(ValueError, match=r"^x: got 9; must be an integer <= 5$"):
        check_int("x", 9, high=5)


@given(st.one_of(st.sampled_from([NAN, INF, -INF]), st.floats(max_value=0.0)))
@settings(max_examples=20, deadline=None)
def test_check_real_rejects_non_finite_and_out_of_range(v):
    with pytest.raises(ValueError, match=r"^x: got .*; must be a finite number > 0$"):
        check_real("x", v, low=0.0, low_open=True)


@given(not_a_number)
@settings(max_examples=30, deadline=None)
def test_check_real_rejects_non_numbers_with_a_type_error(v):
    with pytest.raises(ArgumentTypeError, match=r"^holding_cost: got"):
        check_real("holding_cost", v, 0.0)


@pytest.mark.parametrize(
    ("value", "low", "high", "low_open", "high_open", "ok"),
    [
        (0.0, 0.0, 1.0, False, False, True),
        (1.0, 0.0, 1.0, False, False, True),
        (0.0, 0.0, 1.0, True, False, False),
        (1.0, 0.0, 1.0, False, True, False),
        (-1.0, -1.0, 1.0, False, True, True),
        (np.float32(0.5), 0.0, 1.0, True, True, True),
        (3, None, None, False, False, True),
    ],
)
def test_check_real_bounds_are_closed_unless_open(value, low, high, low_open, high_open, ok):
    if ok:
        assert check_real("x", value, low, high, low_open=low_open, high_open=high_open) == float(value)
    else:
        with pytest.raises(ValueError, match=r"^x: got"):
            check_real("x", value, low, high, low_open=low_open, high_open=high_open)


def test_check_optional_real():
    assert check_optional_real("t", None, 0.0) is None
    assert check_optional_real("t", 2, 0.0, low_open=True) == 2.0
    with pytest.raises(ValueError, match=r"^t: got 0; must be a finite number > 0"):
        check_optional_real("t", 0.0, 0.0, low_open=True)


def test_check_choice_compares_by_type():
    assert check_choice("mode", "gae", ["gae", "mc"]) == "gae"
    with pytest.raises(ValueError, match=r"^mode: got 'GAE'; allowed: \['gae', 'mc'\]"):
        check_choice("mode", "GAE", ["gae", "mc"])
    with pytest.raises(ArgumentTypeError, match=r"^mode: got 1"):
        check_choice("mode", 1, ["gae", "mc"])
    with pytest.raises(ArgumentTypeError, match=r"^k: got True"):
        check_choice("k", True, [0, 1])
    with pytest.raises(ArgumentTypeError, match=r"^mode: got"):
        check_choice("mode", ["gae"], ["gae", "mc"])


@pytest.mark.parametrize(
    ("value", "exc"),
    [
        (-1, ValueError),
        (MAX_SEED + 1, ValueError),
        (1.0, ArgumentTypeError),
        (True, ArgumentTypeError),
        ("0", ArgumentTypeError),
    ],
)
def test_check_seed_rejects(value, exc):
    with pytest.raises(exc, match=r"^seed: got .*; must be None or an integer in \[0, 2\*\*63 - 1\]"):
        check_seed("seed", value)


def test_check_seed_accepts_none_and_numpy_integers():
    assert check_seed("seed", None) is None
    assert check_seed("seed", np.int64(MAX_SEED)) == MAX_SEED and type(check_seed("seed", np.int32(3))) is int


def test_check_seeds():
    assert check_seeds("seeds", np.arange(3)) == [0, 1, 2] and check_seeds("seeds", range(2)) == [0, 1]
    assert check_seeds("seeds", [], allow_empty=True) == []
    with pytest.raises(ArgumentTypeError, match=r"^seeds: got '012'"):
        check_seeds("seeds", "012")
    with pytest.raises(ValueError, match=r"^seeds: got an empty sequence"):
        check_seeds("seeds", [])
    with pytest.raises(ArgumentTypeError, match=r"^seeds\[1\]: got 1.7"):
        check_seeds("seeds", [0, 1.7])
    with pytest.raises(ValueError, match=r"^seeds\[0\]: got -1"):
        check_seeds("seeds", [-1])
    with pytest.raises(ValueError, match="one-dimensional"):
        check_seeds("seeds", np.zeros((2, 2), dtype=int))


def test_check_callable():
    assert check_callable("potential", abs, "of the observation") is abs
    with pytest.raises(ArgumentTypeError, match=r"^potential: got 3; must be a callable of the observation"):
        check_callable("potential", 3, "of the observation")


def test_check_optional_str_takes_paths():
    assert check_optional_str("log", None) is None
    assert check_optional_str("log", pathlib.Path("a/b")) == str(pathlib.Path("a/b"))
    with pytest.raises(ArgumentTypeError, match=r"^log: got 3"):
        check_optional_str("log", 3)


def test_check_int_list_and_mapping():
    assert check_int_list("net_arch", (64, np.int64(32))) == [64, 32]
    with pytest.raises(ValueError, match=r"^net_arch\[1\]: got 0; must be an integer >= 1"):
        check_int_list("net_arch", [64, 0])
    with pytest.raises(ArgumentTypeError, match=r"^net_arch: got 64"):
        check_int_list("net_arch", 64)
    assert check_mapping("kw", None) == {} and check_mapping("kw", {"a": 1}) == {"a": 1}
    with pytest.raises(ArgumentTypeError, match=r"^kw: got"):
        check_mapping("kw", {1: 2})
