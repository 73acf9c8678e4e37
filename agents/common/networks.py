"""Network building blocks shared by every policy family.

:class:`~rlsuite.agents.common.policies.ActorCriticPolicy` (PPO, BPO, PDPPO),
:class:`~rlsuite.agents.common.text_policies.TextChoicePolicy` and HDPO's inventory policies
(:mod:`rlsuite.agents.inventory_policies`, the GNN included) build their fully connected parts
from :class:`MLP`, resolve activations with :func:`activation_class` (names from the one
``ACTIVATIONS`` registry) and initialize with :func:`orthogonal_init`.

Orthogonal initialization is PPO implementation detail 2 (CleanRL, SB3): weights orthogonal
with gain ``HIDDEN_GAIN = sqrt(2)`` in hidden layers, ``POLICY_GAIN = 0.01`` in the policy head
(a near-uniform initial policy), ``VALUE_GAIN = 1`` in value heads; biases 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rlsuite.validation import check_int, check_int_list

from .registry import ACTIVATIONS
from .validation import check_module_class

HIDDEN_GAIN = math.sqrt(2)
POLICY_GAIN = 0.01
VALUE_GAIN = 1.0

# Activations MLP.forward calls as functions (the defaults of their modules' arguments).
_FUNCTIONAL = {
    nn.Tanh: torch.tanh,
    nn.ReLU: torch.relu,
    nn.ELU: nn.functional.elu,
    nn.GELU: nn.functional.gelu,
}


def activation_class(activation_fn: type[nn.Module] | str) -> type[nn.Module]:
    """An ``nn.Module`` class, or the class a name in ``ACTIVATIONS`` stands for (``"elu"`` ->
    ``nn.ELU``). Raises naming ``activation_fn``, the value and the allowed names."""
    return check_module_class("activation_fn", activation_fn, ACTIVATIONS)


class MLP(nn.Sequential):
    """``Linear -> activation`` for each hidden size, then an optional output ``Linear``.

    The layers sit at indices 0, 1, 2, ... as in a plain ``nn.Sequential`` (``Linear`` layers
    at even indices), so state-dict keys read ``0.weight``, ``2.bias``, ... Parameters are
    created layer by layer, first to last.

    Args:
        in_dim: input features (>= 1).
        hidden: hidden sizes, each >= 1; empty for no hidden layer.
        activation_fn: an ``nn.Module`` class or a name registered in ``ACTIVATIONS``; it
            follows every hidden layer, never the output layer.
        out_dim: size of the output layer (no activation); ``None`` ends with the last hidden
            layer's activation (or, with no hidden layer either, is the identity).
        field: the argument name that errors about ``hidden`` cite (``"net_arch['pi']"``).
    """

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int],
        activation_fn: type[nn.Module] | str = nn.Tanh,
        out_dim: int | None = None,
        *,
        field: str = "hidden",
    ) -> None:
        in_dim = check_int("in_dim", in_dim, 1)
        sizes = check_int_list(field, hidden)
        activation = activation_class(activation_fn)
        if out_dim is not None:
            out_dim = check_int("out_dim", out_dim, 1)
        layers: list[nn.Module] = []
        dim = in_dim
        for size in sizes:
            layers += [nn.Linear(dim, size), activation()]
            dim = size
        if out_dim is not None:
            layers.append(nn.Linear(dim, out_dim))
            dim = out_dim
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., in_dim] -> [..., out_dim]``. Calls each layer's function rather than the
        module: ``nn.Module.__call__`` per layer dominates small MLPs on the CPU. Hooks on the
        layers are not run."""
        for layer in self:
            if isinstance(layer, nn.Linear):
                x = nn.functional.linear(x, layer.weight, layer.bias)
            else:
                fn = _FUNCTIONAL.get(type(layer))
                x = fn(x) if fn is not None else layer(x)
        return x


def orthogonal_init(module: nn.Module, gain: float) -> None:
    """Every ``nn.Linear`` in ``module`` (itself included), in ``module.modules()`` order: weight
    orthogonal scaled by ``gain`` (``W W^T = gain^2 I`` when it has no more rows than columns),
    bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
