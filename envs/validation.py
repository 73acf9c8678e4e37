"""Checks at the boundary of every rlsuite environment: constructor arguments, seeds, actions and
the episode protocol.

Every check raises with the field, the value and what is allowed, in one style:
``"lead_time: got 1000000000; must be an integer in [0, 1000]"``. A value of the wrong type
raises :class:`ArgumentTypeError`, which is a ``TypeError`` and also a ``ValueError`` (callers
that caught the ``ValueError`` raised before types were told apart keep working); a value of the
right type outside its range raises ``ValueError``.

Rules: booleans are strict (``"False"`` or ``0`` is not a bool); integers are Python or NumPy
integers, never ``bool`` and never floats such as ``1.7``; real numbers are finite unless a check
says otherwise; numeric arrays reject strings, objects, booleans and complex numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_REPR_CHARS = 120


class ArgumentTypeError(TypeError, ValueError):
    """A value of the wrong type (a ``TypeError``, and a ``ValueError`` for older callers)."""


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to a readable length (a 200k-character string must not flood a message)."""
    if isinstance(value, np.ndarray) and value.size > 16:
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= _REPR_CHARS else text[: _REPR_CHARS - 3] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    real = isinstance(value, (int, float, np.integer, np.floating))
    return real and not isinstance(value, (bool, np.bool_))


def _interval(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (Python or NumPy bool); anything else raises."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name}: got {short_repr(value)}; must be True or False")


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool, not a float) in ``[low, high]``."""
    rng = _interval(low, high)
    if not _is_int(value):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; must be an integer {rng}".rstrip())
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name}: got {v}; must be an integer {rng}")
    return v


def check_real(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in the interval (bounds closed unless ``*_open``)."""
    rng = _interval(low, high, low_open, high_open)
    if not _is_real(value):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; must be a real number {rng}".rstrip())
    x = float(value)
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"{name}: got {x}; must be a finite number {rng}".rstrip())
    if low is not None and (x < low or (low_open and x == low)):
        raise ValueError(f"{name}: got {x:g}; must be {rng}")
    if high is not None and (x > high or (high_open and x == high)):
        raise ValueError(f"{name}: got {x:g}; must be {rng}")
    return x


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it equals one of ``allowed`` (compared by type too, so ``True`` is not ``1``)."""
    for a in allowed:
        if type(value) is type(a) and value == a:
            return value
    raise ValueError(f"{name}: got {short_repr(value)}; allowed: {list(allowed)}")


def check_seed(seed: Any) -> int | None:
    """A ``reset`` seed: ``None`` or a non-negative integer (NumPy integers become ``int``).

    Gymnasium rejects floats, strings and negative seeds with ``gymnasium.error.Error`` but lets
    ``True`` through as 1 and rejects NumPy integers; this check runs first and raises the
    suite's ``TypeError`` / ``ValueError`` naming the field."""
    if seed is None:
        return None
    return check_int("seed", seed, 0)


def real_array(name: str, value: Any) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (integer or float dtype, not converted).

    Strings (even ``"5"``), objects, booleans and complex numbers raise ``ArgumentTypeError``;
    a ragged nesting raises ``ValueError``."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: got {short_repr(value)}; cannot be read as an array of numbers") from e
    if arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(
            f"{name}: got {short_repr(value)} (dtype {arr.dtype}); must be real numbers "
            "(integers or floats; not strings, booleans, objects or complex numbers)"
        )
    return arr


def check_index_action(action: Any, n: int, meaning: str = "") -> int:
    """A ``Discrete(n)`` action as an ``int``: a Python or NumPy integer, or an integer array of
    shape ``()`` or ``(1,)``; anything else (floats such as ``1.0``, bools, strings) raises."""
    if _is_int(action):
        index = int(action)
    elif isinstance(action, np.ndarray) and action.shape in ((), (1,)) and action.dtype.kind in "iu":
        index = int(action.reshape(()))
    else:
        raise ArgumentTypeError(
            f"action: got {short_repr(action)} ({type(action).__name__}); must be an integer index "
            f"in [0, {n - 1}]{meaning}"
        )
    if not 0 <= index < n:
        raise ValueError(f"action: got {index}; must be an integer index in [0, {n - 1}]{meaning}")
    return index


STEP_BEFORE_RESET = "step() called before reset(); call reset() to start an episode"
STEP_AFTER_END = (
    "step() called after the episode ended (terminated or truncated); call reset() to start a new one"
)


def check_step_allowed(started: bool, ended: bool) -> None:
    """The episode protocol of every rlsuite env: ``step`` needs a ``reset`` first and again after
    the episode ends (terminated or truncated). Raises ``RuntimeError`` otherwise."""
    if not started:
        raise RuntimeError(STEP_BEFORE_RESET)
    if ended:
        raise RuntimeError(STEP_AFTER_END)


__all__ = [
    "STEP_AFTER_END",
    "STEP_BEFORE_RESET",
    "ArgumentTypeError",
    "check_bool",
    "check_choice",
    "check_index_action",
    "check_int",
    "check_real",
    "check_seed",
    "check_step_allowed",
    "real_array",
    "short_repr",
]
