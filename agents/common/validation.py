"""Checks that only agents need: non-finite values met during ``learn``, ``nn.Module`` classes,
keyword arguments against a callable's signature, and callbacks. The generic checks (bools,
integers, reals, choices, seeds, mappings) live in :mod:`rlsuite.validation`; messages read
``"field: got X; must be ..."`` and wrong types raise ``ArgumentTypeError`` as there.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rlsuite.validation import ArgumentTypeError, short_repr


class NonFiniteError(ValueError):
    """``learn`` met a NaN or infinite reward, observation or loss (``check_finite=True``)."""


def check_module_class(name: str, value: Any, aliases: Mapping[str, type]) -> type:
    """A ``torch.nn.Module`` subclass, or one of the names in ``aliases``."""
    import torch

    allowed = f"allowed: {sorted(aliases)} or an nn.Module class"
    if isinstance(value, str):
        if value not in aliases:
            raise ValueError(f"{name}: got {short_repr(value)}; {allowed}")
        return aliases[value]
    if not (isinstance(value, type) and issubclass(value, torch.nn.Module)):
        raise ArgumentTypeError(f"{name}: got {short_repr(value)}; {allowed}")
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


def check_policy(
    policy: Any, aliases: Mapping[str, type], policy_kwargs: Mapping[str, Any], reserved: Iterable[str] = ()
) -> type:
    """The policy class ``policy`` names (a registered name or an ``nn.Module`` class), with
    ``policy_kwargs`` checked against its constructor (after ``observation_space, action_space``;
    ``reserved`` keys are the algorithm's own and may not be passed)."""
    policy_class = check_module_class("policy", policy, aliases)
    allowed = accepted_kwargs(policy_class, skip=2)  # the class's signature: after the two spaces
    keys = None if allowed is None else set(allowed) - set(reserved)
    check_kwargs_keys("policy_kwargs", policy_kwargs, keys)
    return policy_class


def check_callbacks(name: str, callback: Any) -> list[Any]:
    """``None``, a ``BaseCallback`` or a list of them, as a list."""
    from .callbacks import BaseCallback

    items = [] if callback is None else list(callback) if isinstance(callback, (list, tuple)) else [callback]
    for c in items:
        if not isinstance(c, BaseCallback):
            raise ArgumentTypeError(
                f"{name}: got {short_repr(c)}; must be None, a BaseCallback or a list of BaseCallbacks"
            )
    return items
