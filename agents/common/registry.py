"""Registries of the classes and functions a model file may name.

A saved model stores *names* (``"MlpPolicy"``, ``"ReLU"``, ``"CombinedExtractor"``), never
import paths: loading looks each name up here and nothing read from a file is imported or
called. A user's own class enters by explicit registration in code::

    from rlsuite.agents import register_policy
    register_policy("MyPolicy", MyPolicy)        # then PPO("MyPolicy", env) saves and loads

or once, at load time, with SB3's ``custom_objects`` (``PPO.load(path, custom_objects={"policy":
MyPolicy})``). Unknown names raise ``ValueError`` naming the name and the allowed ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from torch import nn


class Registry(MutableMapping[str, Any]):
    """Names -> objects of one kind (``"policy"``, ``"activation_fn"``, ...).

    Objects registered here may also be found under their old import-path form
    (``"torch.nn.modules.activation:ReLU"``, as files of rlsuite < 0.3 stored them) without any
    import: the alias is computed from the registered object itself.
    """

    def __init__(self, kind: str, entries: Mapping[str, Any] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}
        for name, obj in (entries or {}).items():
            self[name] = obj

    def __getitem__(self, name: str) -> Any:
        return self._items[name]

    def __setitem__(self, name: str, obj: Any) -> None:
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(
                f"{self.kind}: got name {name!r}; a registered name is a non-empty string without ':'"
            )
        if not callable(obj):
            raise TypeError(
                f"{self.kind} {name!r}: got {obj!r}; a registered object must be a class or function"
            )
        self._items[name] = obj

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def name_of(self, obj: Any) -> str | None:
        """The first name ``obj`` is registered under (``None`` if it is not registered)."""
        return next((name for name, o in self._items.items() if o is obj), None)

    def resolve(self, name: Any, custom: Any = None) -> Any:
        """The object registered as ``name``; ``custom`` (a class or function passed explicitly by
        the caller, e.g. from ``custom_objects``) wins. Raises ``ValueError`` for unknown names."""
        if custom is not None:
            if not callable(custom):
                raise TypeError(
                    f"custom_objects[{self.kind!r}]: got {custom!r}; expected a class or function"
                )
            return custom
        if not isinstance(name, str):
            raise ValueError(f"{self.kind}: got {name!r} in a saved model; expected a registered name")
        if name in self._items:
            return self._items[name]
        for obj in self._items.values():  # files of rlsuite < 0.3 stored "module:qualname"
            if name == f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}":
                return obj
        raise ValueError(
            f"{self.kind}: {name!r} is not a registered name; allowed: {sorted(self._items)}. "
            f"Register your own with rlsuite.agents.register_{_REGISTER_SUFFIX.get(self.kind, self.kind)}"
            f"(name, obj) or pass custom_objects={{{self.kind!r}: obj}} to load()"
        )

    def to_name(self, obj: Any) -> str:
        """The name a model file stores for ``obj`` (a name already, or a registered object)."""
        if isinstance(obj, str):
            return obj
        name = self.name_of(obj)
        if name is not None:
            return name
        # Not registered: store a descriptive label; load() then needs registration or custom_objects.
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


_REGISTER_SUFFIX = {
    "policy": "policy",
    "activation_fn": "activation",
    "features_extractor_class": "features_extractor",
}

#: Activation functions a policy may name (SB3's ``activation_fn``); lower-case aliases too.
ACTIVATIONS = Registry(
    "activation_fn",
    {
        "Tanh": nn.Tanh,
        "ReLU": nn.ReLU,
        "ELU": nn.ELU,
        "LeakyReLU": nn.LeakyReLU,
        "GELU": nn.GELU,
        "SiLU": nn.SiLU,
        "Softplus": nn.Softplus,
        "Sigmoid": nn.Sigmoid,
        "Identity": nn.Identity,
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
        "gelu": nn.GELU,
        "silu": nn.SiLU,
    },
)
#: Policies of the on-policy agents (PPO, BPO, PDPPO); filled by the ``register_policy`` call after
#: each class in ``policies`` and ``text_policies``.
POLICIES = Registry("policy")
#: Policies of HDPO (a differentiable simulator's policies); filled by the
#: ``register_policy(..., inventory=True)`` call after each class in ``inventory_policies``.
INVENTORY_POLICIES = Registry("policy")
#: Features extractors (``policy_kwargs["features_extractor_class"]``); filled by the
#: ``register_features_extractor`` call after each extractor class.
FEATURES_EXTRACTORS = Registry("features_extractor_class")


def register_policy(name: str, policy_class: Any, *, inventory: bool = False) -> Any:
    """Let model files name ``policy_class`` as ``name`` (``inventory=True``: an HDPO policy).
    Returns the class, so it also works as ``register_policy("MyPolicy", MyPolicy)`` inline."""
    (INVENTORY_POLICIES if inventory else POLICIES)[name] = policy_class
    return policy_class


def register_activation(name: str, activation_fn: Any) -> Any:
    """Let ``policy_kwargs["activation_fn"]`` name ``activation_fn`` (an ``nn.Module`` class)."""
    ACTIVATIONS[name] = activation_fn
    return activation_fn


def register_features_extractor(name: str, extractor_class: Any) -> Any:
    """Let ``policy_kwargs["features_extractor_class"]`` name ``extractor_class``."""
    FEATURES_EXTRACTORS[name] = extractor_class
    return extractor_class
