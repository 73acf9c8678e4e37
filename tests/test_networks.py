"""The shared network blocks (agents/common/networks.py) and how every policy family uses them."""

import math
import re

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from rlsuite.agents import GNNPolicy, InventoryMlpPolicy
from rlsuite.agents.common.networks import (
    HIDDEN_GAIN,
    MLP,
    POLICY_GAIN,
    VALUE_GAIN,
    activation_class,
    orthogonal_init,
)
from rlsuite.agents.common.policies import ActorCriticPolicy
from rlsuite.agents.common.registry import ACTIVATIONS, INVENTORY_POLICIES, POLICIES
from rlsuite.agents.common.text_policies import TextChoicePolicy
from rlsuite.agents.inventory_policies import BaseStockParamPolicy, echelon_stock_policy
from rlsuite.envs.inventory.core import InventoryCore
from rlsuite.envs.inventory.spec import NetworkSpec

torch.set_num_threads(1)


def _assert_scaled_orthogonal(weight: torch.Tensor, gain: float) -> None:
    """Rows (wide or square) or columns (tall) orthonormal, scaled by ``gain``."""
    w = weight.detach().double()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    assert torch.allclose(gram, gain**2 * torch.eye(gram.shape[0], dtype=torch.float64), atol=1e-5)


# ---------------------------------------------------------------------------------------------- MLP
def test_mlp_layers_follow_a_hand_written_spec():
    net = MLP(4, [8, 16], "relu", out_dim=3)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    shapes = [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)]
    assert shapes == [(4, 8), (8, 16), (16, 3)]
    assert (net.in_dim, net.out_dim) == (4, 3)
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


def test_mlp_without_output_layer_ends_with_the_activation():
    net = MLP(5, [7], nn.ELU)
    assert [type(m) for m in net] == [nn.Linear, nn.ELU]
    assert net.out_dim == 7


def test_mlp_without_layers_is_the_identity():
    net = MLP(6, [])
    x = torch.randn(3, 6)
    assert len(net) == 0 and net.out_dim == 6
    assert torch.equal(net(x), x)


def test_mlp_output_layer_alone_is_one_linear_map():
    net = MLP(3, [], out_dim=2)
    assert [type(m) for m in net] == [nn.Linear]
    assert net.out_dim == 2


def test_mlp_forward_is_the_hand_computed_composition():
    torch.manual_seed(0)
    net = MLP(3, [4], "tanh", out_dim=2)
    x = torch.randn(5, 3)
    w1, b1, w2, b2 = net[0].weight, net[0].bias, net[2].weight, net[2].bias
    expected = torch.tanh(x @ w1.T + b1) @ w2.T + b2
    assert torch.allclose(net(x), expected, atol=1e-6)


@pytest.mark.parametrize("name", ["Tanh", "ReLU", "ELU", "GELU", "LeakyReLU", "SiLU", "Softplus", "Identity"])
def test_mlp_fast_forward_equals_the_module_calls(name):
    torch.manual_seed(0)
    net = MLP(4, [8, 8], name, out_dim=2)
    x = torch.randn(16, 4)
    assert torch.equal(net(x), nn.Sequential.forward(net, x))  # bit for bit


def test_activation_names_and_classes_build_the_same_network():
    torch.manual_seed(0)
    by_name = MLP(3, [4], "elu", out_dim=1)
    torch.manual_seed(0)
    by_class = MLP(3, [4], nn.ELU, out_dim=1)
    assert isinstance(by_name[1], nn.ELU)
    for a, b in zip(by_name.state_dict().values(), by_class.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert activation_class("relu") is nn.ReLU and activation_class(nn.SiLU) is nn.SiLU


def test_mlp_parameters_are_drawn_layer_by_layer():
    """The random stream of ``nn.Linear`` layers made in order: seeds reproduce earlier weights."""
    torch.manual_seed(0)
    net = MLP(3, [5, 4], "tanh", out_dim=2)
    torch.manual_seed(0)
    plain = [nn.Linear(3, 5), nn.Linear(5, 4), nn.Linear(4, 2)]
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for ours, ref in zip(linears, plain, strict=True):
        assert torch.equal(ours.weight, ref.weight) and torch.equal(ours.bias, ref.bias)


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("hidden", "kwargs", "error", "message"),
    [
        ([8, 0], {}, ValueError, "hidden[1]: got 0; must be an integer >= 1"),
        ([8, -2], {"field": "net_arch['pi']"}, ValueError, "net_arch['pi'][1]: got -2"),
        ([8, 2.5], {"field": "net_arch"}, TypeError, "net_arch[1]: got 2.5"),
        (8, {}, TypeError, "hidden: got 8; must be a list of integers"),
    ],
)
def test_mlp_rejects_bad_sizes_naming_the_field(hidden, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        MLP(4, hidden, **kwargs)


def test_mlp_rejects_bad_input_and_output_sizes():
    with pytest.raises(ValueError, match=re.escape("in_dim: got 0")):
        MLP(0, [4])
    with pytest.raises(ValueError, match=re.escape("out_dim: got 0")):
        MLP(4, [4], out_dim=0)


def test_unknown_activation_names_the_field_the_value_and_the_allowed_names():
    with pytest.raises(ValueError) as err:
        MLP(4, [8], "swish")
    text = str(err.value)
    assert text.startswith("activation_fn: got 'swish'")
    assert "allowed:" in text and "'Tanh'" in text and "'elu'" in text
    with pytest.raises(TypeError, match="activation_fn: got"):
        MLP(4, [8], torch.tanh)  # a function, not an nn.Module class


def test_registered_activations_all_build():
    for name in ACTIVATIONS:
        assert isinstance(MLP(2, [3], name)[1], ACTIVATIONS[name])


# ---------------------------------------------------------------------------------------------- init
@pytest.mark.parametrize(("rows", "cols"), [(4, 16), (16, 4), (8, 8)])
@pytest.mark.parametrize("gain", [HIDDEN_GAIN, POLICY_GAIN, VALUE_GAIN])
def test_orthogonal_init_scales_an_orthonormal_basis(rows, cols, gain):
    torch.manual_seed(0)
    layer = nn.Linear(cols, rows)
    orthogonal_init(layer, gain)
    _assert_scaled_orthogonal(layer.weight, gain)
    assert torch.count_nonzero(layer.bias) == 0


def test_orthogonal_init_reaches_nested_layers_and_skips_missing_biases():
    torch.manual_seed(0)
    net = nn.Sequential(MLP(6, [10], "relu"), nn.Linear(10, 3, bias=False), nn.LayerNorm(3))
    ln_before = net[2].weight.detach().clone()
    orthogonal_init(net, 0.5)
    _assert_scaled_orthogonal(net[0][0].weight, 0.5)
    _assert_scaled_orthogonal(net[1].weight, 0.5)
    assert torch.count_nonzero(net[0][0].bias) == 0
    assert torch.equal(net[2].weight, ln_before)  # not a Linear: untouched


def test_ppo_gains_are_the_named_constants():
    assert HIDDEN_GAIN == math.sqrt(2) and POLICY_GAIN == 0.01 and VALUE_GAIN == 1.0


# ---------------------------------------------------------------------------------------------- families
def test_actor_critic_policy_initializes_with_the_ppo_gains():
    torch.manual_seed(0)
    obs = spaces.Box(-1, 1, (5,), np.float32)
    policy = ActorCriticPolicy(obs, spaces.Discrete(3), median_head=True, post_decision_critic=True)
    for net in (policy.pi_net, policy.vf_net, policy.post_vf_net):
        for layer in (net[0], net[2]):
            _assert_scaled_orthogonal(layer.weight, HIDDEN_GAIN)
    _assert_scaled_orthogonal(policy.action_head.net.weight, POLICY_GAIN)
    _assert_scaled_orthogonal(policy.value_head.weight, VALUE_GAIN)
    _assert_scaled_orthogonal(policy.post_value_head.weight, VALUE_GAIN)
    _assert_scaled_orthogonal(policy.median_net[1].weight, VALUE_GAIN)
    biases = [p for n, p in policy.named_parameters() if n.endswith("bias")]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)


def test_actor_critic_policy_without_ortho_init_keeps_pytorch_defaults():
    torch.manual_seed(0)
    obs = spaces.Box(-1, 1, (5,), np.float32)
    policy = ActorCriticPolicy(obs, spaces.Box(-1, 1, (2,), np.float32), ortho_init=False)
    torch.manual_seed(0)
    ref = nn.Linear(5, 64)
    assert torch.equal(policy.pi_net[0].weight, ref.weight)
    assert torch.count_nonzero(policy.pi_net[0].bias) > 0


def test_every_policy_family_builds_its_networks_from_mlp():
    box = spaces.Box(-1, 1, (4,), np.float32)
    ac = ActorCriticPolicy(box, spaces.Discrete(2), median_head=True)
    assert isinstance(ac.pi_net, MLP) and isinstance(ac.vf_net, MLP) and isinstance(ac.median_net[0], MLP)
    core = InventoryCore(NetworkSpec.serial())
    assert isinstance(InventoryMlpPolicy(core).net, MLP)
    text_space = spaces.Dict(
        {
            "tokens": spaces.Box(0, 20, (6,), np.int64),
            "action_tokens": spaces.Box(0, 20, (3, 2), np.int64),
            "action_mask": spaces.MultiBinary(3),
        }
    )
    text = TextChoicePolicy(text_space, spaces.Discrete(3))
    assert isinstance(text.value_net, MLP) and isinstance(text.act_net, MLP)
    assert isinstance(text.pi_encoder.net, MLP)


def test_saved_model_state_dict_keys_are_stable():
    """Files written before the shared blocks name these keys; they must keep loading."""
    box = spaces.Box(-1, 1, (4,), np.float32)
    ac = ActorCriticPolicy(
        box, spaces.Box(-1, 1, (2,), np.float32), net_arch=[8], median_head=True, post_decision_critic=True
    )
    assert list(ac.state_dict()) == [
        "pi_net.0.weight",
        "pi_net.0.bias",
        "vf_net.0.weight",
        "vf_net.0.bias",
        "action_head.log_std",
        "action_head.net.weight",
        "action_head.net.bias",
        "value_head.weight",
        "value_head.bias",
        "median_net.0.0.weight",
        "median_net.0.0.bias",
        "median_net.1.weight",
        "median_net.1.bias",
        "post_vf_net.0.weight",
        "post_vf_net.0.bias",
        "post_value_head.weight",
        "post_value_head.bias",
    ]
    core = InventoryCore(NetworkSpec.serial())
    assert list(InventoryMlpPolicy(core, net_arch=[8]).state_dict()) == [
        "net.0.weight",
        "net.0.bias",
        "net.2.weight",
        "net.2.bias",
    ]


def test_gnn_state_dict_keys_are_stable():
    pytest.importorskip("torch_geometric")
    keys = list(GNNPolicy(InventoryCore(NetworkSpec.serial()), rounds=1).state_dict())
    assert keys == [
        "node_enc.0.0.weight",
        "node_enc.0.0.bias",
        "node_enc.0.2.weight",
        "node_enc.0.2.bias",
        "edge_enc.0.0.weight",
        "edge_enc.0.0.bias",
        "edge_enc.0.2.weight",
        "edge_enc.0.2.bias",
        "down.0.mlp.0.weight",
        "down.0.mlp.0.bias",
        "down.0.mlp.2.weight",
        "down.0.mlp.2.bias",
        "up.0.mlp.0.weight",
        "up.0.mlp.0.bias",
        "up.0.mlp.2.weight",
        "up.0.mlp.2.bias",
        "update.0.0.weight",
        "update.0.0.bias",
        "update.0.2.weight",
        "update.0.2.bias",
        "order_head.0.weight",
        "order_head.0.bias",
        "order_head.2.weight",
        "order_head.2.bias",
    ]


# ---------------------------------------------------------------------------------------------- registries
def test_each_family_registers_its_policy_names():
    assert POLICIES["MlpPolicy"] is ActorCriticPolicy
    assert POLICIES["MultiInputPolicy"] is ActorCriticPolicy
    assert POLICIES["ActorCriticPolicy"] is ActorCriticPolicy
    assert POLICIES["TextPolicy"] is TextChoicePolicy and POLICIES["TextChoicePolicy"] is TextChoicePolicy
    assert INVENTORY_POLICIES["MlpPolicy"] is InventoryMlpPolicy
    assert INVENTORY_POLICIES["InventoryMlpPolicy"] is InventoryMlpPolicy
    assert INVENTORY_POLICIES["BaseStockPolicy"] is BaseStockParamPolicy
    assert INVENTORY_POLICIES["BaseStockParamPolicy"] is BaseStockParamPolicy
    assert INVENTORY_POLICIES["EchelonStockPolicy"] is echelon_stock_policy
    assert INVENTORY_POLICIES["GNNPolicy"] is GNNPolicy
    # A saved model stores the first name a class is registered under.
    assert POLICIES.name_of(ActorCriticPolicy) == "MlpPolicy"
    assert INVENTORY_POLICIES.name_of(InventoryMlpPolicy) == "MlpPolicy"
