"""The PettingZoo view of the inventory env: API conformance and equality with the single env."""

import importlib
import sys
import warnings

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

pytest.importorskip("pettingzoo")

from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402

from rlsuite.envs.inventory.env import InvMgmtEnv  # noqa: E402
from rlsuite.envs.inventory.marl import InvMgmtParallelEnv  # noqa: E402

NETWORKS = ["divergent", "serial"]


def joint_to_agents(env: InvMgmtParallelEnv, joint: np.ndarray) -> dict[str, np.ndarray]:
    """Split a joint order vector ``[n_links]`` into each agent's inbound orders."""
    links = env.env.core.spec.links
    return {
        agent: np.array([joint[e] for e, link in enumerate(links) if f"node_{link.dst}" == agent])
        for agent in env.possible_agents
    }


@pytest.mark.parametrize("network", [*NETWORKS, "one_warehouse"])
@pytest.mark.parametrize("reward", ["shared", "node"])
def test_parallel_api(network: str, reward: str) -> None:
    env = InvMgmtParallelEnv(network, reward=reward, num_periods=12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parallel_api_test(env, num_cycles=20)
    # The API test passes an unknown reset option on purpose; nothing else may warn.
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "ignored" in messages[0], messages


@pytest.mark.parametrize("network", NETWORKS)
def test_parallel_seed(network: str) -> None:
    parallel_seed_test(lambda: InvMgmtParallelEnv(network, num_periods=10), num_cycles=10)


def test_one_agent_per_stocking_node_with_its_inbound_links() -> None:
    env = InvMgmtParallelEnv("divergent")
    assert env.possible_agents == [f"node_{n}" for n in ("1", "2", "3", "4", "5", "6")]
    n_inbound = {"node_1": 2, "node_2": 3, "node_3": 2, "node_4": 1, "node_5": 2, "node_6": 1}
    for agent, n in n_inbound.items():
        space = env.action_space(agent)
        assert space is env.action_space(agent)
        assert space.shape == (n,) and space.high.max() == env.env.order_bound and space.low.min() == 0
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.observation_space(agent).shape == (len(env.observation_names(agent)),)


def test_observation_layout_names() -> None:
    env = InvMgmtParallelEnv("serial")
    assert env.observation_names("node_1") == [
        "on_hand[1]",
        *[f"arriving_in_{k}[2->1]" for k in range(4)],
        "demand[1->0]",
        "unmet[1->0]",
        "period",
    ]
    assert env.observation_names("node_2") == [
        "on_hand[2]",
        *[f"arriving_in_{k}[3->2]" for k in range(4)],
        "requested[2]",
        "period",
    ]
    # The factory's only inbound link has L = 0: no pipeline entries.
    assert env.observation_names("node_3") == ["on_hand[3]", "requested[3]", "period"]


def test_local_observations_match_the_core_state() -> None:
    env = InvMgmtParallelEnv("divergent", num_periods=8)
    obs, _ = env.reset(seed=1)
    assert all(o[env.observation_names(a).index("period")] == 0 for a, o in obs.items())
    assert obs["node_2"][env.observation_names("node_2").index("requested[2]")] == 0
    rng = np.random.default_rng(0)
    for _ in range(5):
        joint = rng.uniform(0, 60, env.env.core.n_links)
        obs, *_ = env.step(joint_to_agents(env, joint))
        flat = dict(zip(env.env.core.observation_names(), env.state(), strict=True))
        links = env.env.core.spec.links
        for agent, o in obs.items():
            assert o in env.observation_space(agent)
            node = agent.removeprefix("node_")
            for name, value in zip(env.observation_names(agent), o, strict=True):
                if name.startswith("requested"):
                    downstream = [e for e, link in enumerate(links) if link.src == node]
                    assert value == pytest.approx(joint[downstream].sum(), rel=1e-12)
                else:
                    assert value == flat[name], (agent, name)


@pytest.mark.parametrize("network", NETWORKS)
def test_shared_reward_trajectory_equals_single_env(network: str) -> None:
    single = InvMgmtEnv(network, num_periods=15)
    par = InvMgmtParallelEnv(network, num_periods=15)
    flat, _ = single.reset(seed=7)
    par.reset(seed=7)
    np.testing.assert_array_equal(par.state(), flat)
    rng = np.random.default_rng(3)
    truncated = False
    while not truncated:
        joint = rng.uniform(0, 120, single.core.n_links)
        flat, reward, _, truncated, _ = single.step(joint)
        _, rewards, terminations, truncations, _ = par.step(joint_to_agents(par, joint))
        assert set(rewards) == set(par.possible_agents)
        assert all(r == reward for r in rewards.values())
        assert not any(terminations.values())
        assert all(v == truncated for v in truncations.values())
        np.testing.assert_array_equal(par.state(), flat)
    assert par.agents == []
    torch.testing.assert_close(par.env.state.on_hand, single.state.on_hand, rtol=0, atol=0)


@pytest.mark.parametrize("network", NETWORKS)
def test_node_rewards_sum_to_network_reward(network: str) -> None:
    single = InvMgmtEnv(network, num_periods=15)
    par = InvMgmtParallelEnv(network, reward="node", num_periods=15)
    single.reset(seed=11)
    par.reset(seed=11)
    rng = np.random.default_rng(5)
    for _ in range(15):
        joint = rng.uniform(0, 120, single.core.n_links)
        _, reward, *_ = single.step(joint)
        _, rewards, _, _, infos = par.step(joint_to_agents(par, joint))
        total = sum(rewards.values())
        assert abs(total - reward) <= 1e-9 * max(1.0, abs(reward))
        assert all(infos[a]["node_profit"] == r for a, r in rewards.items())


def test_all_agents_truncate_together_then_step_needs_reset() -> None:
    env = InvMgmtParallelEnv("serial", num_periods=3)
    env.reset(seed=0)
    zero = {agent: np.zeros(env.action_space(agent).shape) for agent in env.agents}
    for t in range(3):
        _, _, terminations, truncations, _ = env.step(zero)
        assert not any(terminations.values())
        assert all(truncations.values()) == (t == 2)
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    env.reset(seed=0)
    assert env.agents == env.possible_agents


def test_bad_actions_raise_value_error_naming_the_agent() -> None:
    env = InvMgmtParallelEnv("serial")
    env.reset(seed=0)
    good = {agent: env.action_space(agent).sample() for agent in env.agents}
    with pytest.raises(ValueError, match=r"missing.*node_2"):
        env.step({a: v for a, v in good.items() if a != "node_2"})
    with pytest.raises(ValueError, match=r"unknown.*node_9"):
        env.step({**good, "node_9": np.zeros(1)})
    with pytest.raises(ValueError, match=r"node_1.*finite"):
        env.step({**good, "node_1": np.array([np.nan])})
    with pytest.raises(ValueError, match=r"node_3.*shape"):
        env.step({**good, "node_3": np.zeros(2)})
    with pytest.raises(ValueError, match="agent"):
        env.action_space("node_0")


def test_bad_reward_mode_raises() -> None:
    with pytest.raises(ValueError, match="reward"):
        InvMgmtParallelEnv("serial", reward="team")


def test_demand_trace_option_is_forwarded() -> None:
    env = InvMgmtParallelEnv("serial", num_periods=2)
    obs, _ = env.reset(options={"demand_trace": [7.0, 9.0]})
    zero = {agent: np.zeros(env.action_space(agent).shape) for agent in env.agents}
    obs, *_ = env.step(zero)
    assert obs["node_1"][env.observation_names("node_1").index("demand[1->0]")] == 7.0


def test_float32_spaces_and_observations() -> None:
    env = InvMgmtParallelEnv("divergent", dtype="float32")
    obs, _ = env.reset(seed=0)
    for agent, o in obs.items():
        assert o.dtype == np.float32 and env.action_space(agent).dtype == np.float32
        assert o in env.observation_space(agent)


def test_render_delegates_to_env_text() -> None:
    env = InvMgmtParallelEnv("serial", render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == env.env.render_text()
    env.close()


def test_missing_pettingzoo_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pettingzoo", None)
    monkeypatch.delitem(sys.modules, "rlsuite.envs.inventory.marl")
    with pytest.raises(ImportError, match=r'pip install "rlsuite\[marl\]"'):
        importlib.import_module("rlsuite.envs.inventory.marl")
