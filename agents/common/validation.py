"""Argument checks shared by every agent: one place that says what each kind of value may be.

Each ``check_*`` takes the field's name and the value, returns the value in its canonical type
(``int``, ``float``, ``bool``) and raises with a message of the form
``"field: got X; must be ..."``: ``TypeError`` for a value of the wrong type (a string for a
bool, ``1.7`` for an integer, a list for a number), ``ValueError`` for a value of the right
type out of its range (NaN included). ``bool`` is never accepted as a number, and numpy scalars
are accepted where the Python type is.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

#: Largest seed accepted (torch, numpy and Gymnasium all take any integer in [0, 2**63 - 1]).
MAX_SEED = 2**63 - 1


class NonFiniteError(ValueError):
    """``learn`` met a NaN or infinite reward, observation or loss (``check_finite=True``)."""


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not _is_bool(value)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


def check_bool(name: str, value: Any) -> bool:
    """``True`` / ``False`` (or a numpy bool); ``"False"``, ``0`` and ``None`` are type errors."""
    if not _is_bool(value):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be a bool (True or False)")
    return bool(value)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python or numpy, not a bool nor a float such as 1.0) in ``[low, high]``."""
    allowed = _int_range(low, high)
    if not _is_int(value):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be {allowed}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}: got {value!r}; must be {allowed}")
    return int(value)


def _int_range(low: int | None, high: int | None) -> str:
    if low == 1 and high is None:
        return "a positive integer"
    if low == 0 and high is None:
        return "a non-negative integer"
    if high is None:
        return f"an integer >= {low}"
    if low is None:
        return f"an integer <= {high}"
    return f"an integer in [{low}, {high}]"


def check_positive_int(name: str, value: Any) -> int:
    """An integer >= 1."""
    return check_int(name, value, low=1)


def check_nonnegative_int(name: str, value: Any) -> int:
    """An integer >= 0."""
    return check_int(name, value, low=0)


def check_seed(name: str, value: Any) -> int | None:
    """``None`` or an integer in ``[0, MAX_SEED]``."""
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= MAX_SEED:
        err = TypeError if not _is_int(value) else ValueError
        raise err(f"{name}: got {value!r}; must be None or an integer in [0, 2**63 - 1]")
    return int(value)


def float_range(
    low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False
) -> str:
    """The words for a range of finite numbers: ``"> 0"``, ``"in [0, 1]"``, ``"in (0, 1)"``."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "any value"


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number (int, float or numpy scalar; not a bool) in the given range."""
    allowed = f"a finite number {float_range(low, high, low_open, high_open)}"
    if not _is_real(value):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be {allowed}")
    v = float(value)
    if (
        not math.isfinite(v)
        or (low is not None and (v < low or (low_open and v == low)))
        or (high is not None and (v > high or (high_open and v == high)))
    ):
        raise ValueError(f"{name}: got {value!r}; must be {allowed}")
    return v


def check_optional_float(name: str, value: Any, **bounds: Any) -> float | None:
    """``None`` or :func:`check_float`."""
    return None if value is None else check_float(name, value, **bounds)


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """One of ``allowed`` (compared with ``==``, so ``"gae"`` but not ``"GAE"``)."""
    options = list(allowed)
    if not isinstance(value, (str, int, float)) or value not in options:
        raise ValueError(f"{name}: got {value!r}; allowed: {options}")
    return value


def check_optional_str(name: str, value: Any) -> str | None:
    """``None`` or a string (paths: ``os.PathLike`` too, returned as a string)."""
    if value is None:
        return None
    if hasattr(value, "__fspath__"):
        return str(value.__fspath__())
    if not isinstance(value, str):
        raise TypeError(f"{name}: got {value!r} ({type(value).__name__}); must be None or a string")
    return value


def check_int_list(name: str, value: Any) -> list[int]:
    """A list or tuple of positive integers (layer sizes)."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{name}: got {value!r}; must be a list of positive integers")
    return [check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(value)]


def check_mapping(name: str, value: Any) -> dict[str, Any]:
    """``None`` (an empty dict) or a mapping with string keys."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name}: got {value!r}; must be None or a dict with string keys")
    return dict(value)


def check_module_class(name: str, value: Any, aliases: Mapping[str, type]) -> type:
    """A ``torch.nn.Module`` subclass, or one of the names in ``aliases``."""
    import torch

    if isinstance(value, str):
        if value not in aliases:
            raise ValueError(f"{name}: got {value!r}; allowed: {sorted(aliases)} or an nn.Module class")
        return aliases[value]
    if not (isinstance(value, type) and issubclass(value, torch.nn.Module)):
        raise TypeError(f"{name}: got {value!r}; allowed: {sorted(aliases)} or an nn.Module class")
    return value


def accepted_kwargs(fn: Callable[..., Any], skip: int) -> list[str] | None:
    """Keyword names ``fn`` accepts after its first ``skip`` positional parameters, or ``None``
    when it takes ``**kwargs`` (any key)."""
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return [p.name for p in named[skip:]]


def check_kwargs_keys(name: str, kwargs: Mapping[str, Any], allowed: Iterable[str] | None) -> None:
    """Every key of ``kwargs`` is in ``allowed`` (``None``: anything goes)."""
    if allowed is None:
        return
    options = sorted(allowed)
    for key in kwargs:
        if key not in options:
            raise ValueError(f"{name}: unknown key {key!r}; allowed: {options}")


def check_callbacks(name: str, callback: Any) -> list[Any]:
    """``None``, a ``BaseCallback`` or a list of them, as a list."""
    from .callbacks import BaseCallback

    items = [] if callback is None else list(callback) if isinstance(callback, (list, tuple)) else [callback]
    for c in items:
        if not isinstance(c, BaseCallback):
            raise TypeError(f"{name}: got {c!r}; must be None, a BaseCallback or a list of BaseCallbacks")
    return items
