"""Argument checks for the whole suite: one function per kind of value, used by the environments,
agents, baselines and shaping wrappers alike.

Each ``check_*`` takes the field's name and the value, returns the value in its canonical type
(``int``, ``float``, ``bool``, ``list``, ``dict``) and raises with one message style, field first:
``"lead_time: got 1000000000; must be an integer in [0, 1000]"`` (values go through
:func:`short_repr`, so a 200k-character string cannot flood a message). A value of the wrong type
raises :class:`ArgumentTypeError`, which is a ``TypeError`` and also a ``ValueError`` (callers that
caught the ``ValueError`` raised before types were told apart keep working); a value of the right
type outside its range raises ``ValueError``.

Rules: booleans are strict (``"False"``, ``0`` or ``None`` is not a bool; NumPy bools are); integers
are Python or NumPy integers, never ``bool`` and never floats such as ``1.0`` or ``1.7``; real
numbers are finite and never ``bool``; choices compare by type too (``True`` is not ``1``).

Only the standard library and NumPy are imported here, so every subpackage can import this module
without cycles or import cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, overload

import numpy as np

MAX_SEED = 2**63 - 1
"""Largest seed accepted (torch, NumPy and Gymnasium all take any integer in ``[0, 2**63 - 1]``)."""

_REPR_CHARS = 120


class ArgumentTypeError(TypeError, ValueError):
    """A value of the wrong type (a ``TypeError``, and a ``ValueError`` for older callers)."""


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to a readable length (a 200k-character string must not flood a message)."""
    if isinstance(value, np.ndarray) and value.size > 16:
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= _REPR_CHARS else text[: _REPR_CHARS - 3] + "..."


def is_int(value: Any) -> bool:
    """Whether ``value`` is a Python or NumPy integer (not a bool, not a float)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """Whether ``value`` is a Python or NumPy integer or float (not a bool, not complex)."""
    real = isinstance(value, (int, float, np.integer, np.floating))
    return real and not isinstance(value, (bool, np.bool_))


def _interval(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """The words for a range: ``"in [0, 1]"``, ``"in (0, 1)"``, ``">= 1"``, ``"< 5"`` or ``""``."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_num(low)}"
    if high is not None:
        return f"{'<' if high_open else '<='} {_num(high)}"
    return ""


def _num(x: float) -> str:
    """A bound as written: integers exactly (``2**63 - 1`` in full), other numbers with ``:g``."""
    whole = is_int(x) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15)
    return str(int(x)) if whole else f"{x:g}"


def _must(what: str, rng: str) -> str:
    return f"must be {what} {rng}".rstrip()


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (Python or NumPy bool); anything else raises."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name}: got {short_repr(value)}; must be True or False")


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool, not a float) in ``[low, high]``."""
    must = _must("an integer", _interval(low, high))
    if not is_int(value):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; {must}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name}: got {v}; {must}")
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
    must = _must("a finite number", _interval(low, high, low_open, high_open))
    if not is_real(value):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; {must}")
    x = float(value)
    if (
        not math.isfinite(x)
        or (low is not None and (x < low or (low_open and x == low)))
        or (high is not None and (x > high or (high_open and x == high)))
    ):
        raise ValueError(f"{name}: got {x:g}; {must}")
    return x


def check_optional_real(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float | None:
    """``None`` or :func:`check_real`."""
    if value is None:
        return None
    return check_real(name, value, low, high, low_open=low_open, high_open=high_open)


def _same_kind(value: Any, option: Any) -> bool:
    if isinstance(option, str):
        return isinstance(value, str)
    return type(value) is type(option)


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` if it equals one of ``allowed``, compared by type too (``True`` is not ``1``,
    ``"gae"`` is not ``"GAE"``). A value of a type no option has raises ``ArgumentTypeError``."""
    options = list(allowed)
    if any(_same_kind(value, a) and value == a for a in options):
        return value
    err = ValueError if any(_same_kind(value, a) for a in options) else ArgumentTypeError
    raise err(f"{name}: got {short_repr(value)}; allowed: {options}")


@overload
def check_seed(name: str, value: int) -> int: ...
@overload
def check_seed(name: str, value: Any) -> int | None: ...
def check_seed(name: str, value: Any) -> int | None:
    """A seed: ``None`` or an integer in ``[0, MAX_SEED]`` (NumPy integers become ``int``).

    Gymnasium rejects floats, strings and negative seeds with ``gymnasium.error.Error`` but lets
    ``True`` through as 1 and rejects NumPy integers; this check runs first and names the field."""
    if value is None:
        return None
    if not is_int(value) or not 0 <= value <= MAX_SEED:
        err = ArgumentTypeError if not is_int(value) else ValueError
        raise err(f"{name}: got {short_repr(value)}; must be None or an integer in [0, 2**63 - 1]")
    return int(value)


def check_seeds(name: str, seeds: Any, *, allow_empty: bool = False) -> list[int]:
    """A sequence (list, tuple, range or 1-D array) of integer seeds in ``[0, MAX_SEED]``."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray)):
        raise ArgumentTypeError(f"{name}: got {short_repr(seeds)}; must be a sequence of integers >= 0")
    if isinstance(seeds, np.ndarray) and seeds.ndim != 1:
        raise ValueError(f"{name}: got an array of shape {seeds.shape}; must be one-dimensional")
    out = [check_int(f"{name}[{i}]", s, 0, MAX_SEED) for i, s in enumerate(seeds)]
    if not out and not allow_empty:
        raise ValueError(f"{name}: got an empty sequence; need at least one seed")
    return out


def check_callable(name: str, value: Any, what: str = "") -> Any:
    """``value`` if it is callable; ``what`` says what it computes (``"of the observation"``)."""
    if not callable(value):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; {_must('a callable', what)}")
    return value


def check_optional_str(name: str, value: Any) -> str | None:
    """``None`` or a string (paths: ``os.PathLike`` too, returned as a string)."""
    if value is None:
        return None
    if hasattr(value, "__fspath__"):
        return str(value.__fspath__())
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; must be None or a string")
    return value


def check_int_list(name: str, value: Any, low: int | None = 1) -> list[int]:
    """A list or tuple of integers ``>= low`` (layer sizes: positive by default)."""
    if not isinstance(value, (list, tuple)):
        must = _must("a list of integers", _interval(low, None))
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; {must}")
    return [check_int(f"{name}[{i}]", v, low) for i, v in enumerate(value)]


def check_mapping(name: str, value: Any) -> dict[str, Any]:
    """``None`` (an empty dict) or a mapping with string keys, as a ``dict``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; must be None or a dict with string keys")
    return dict(value)


__all__ = [
    "MAX_SEED",
    "ArgumentTypeError",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_int",
    "check_int_list",
    "check_mapping",
    "check_optional_real",
    "check_optional_str",
    "check_real",
    "check_seed",
    "check_seeds",
    "is_int",
    "is_real",
    "short_repr",
]
