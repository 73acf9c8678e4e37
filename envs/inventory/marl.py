"""``InvMgmtParallelEnv``: a PettingZoo ``ParallelEnv`` view of :class:`InvMgmtEnv`, one agent per
ordering node.

The view wraps an :class:`~rlsuite.envs.inventory.env.InvMgmtEnv` and so shares its one torch
core: it only splits the joint action, the observation and the reward by node.

>>> from rlsuite.envs.inventory.marl import InvMgmtParallelEnv
>>> env = InvMgmtParallelEnv("serial", num_periods=10)
>>> obs, infos = env.reset(seed=0)
>>> obs, rewards, terminations, truncations, infos = env.step(
...     {agent: env.action_space(agent).sample() for agent in env.agents})
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

try:
    from pettingzoo import ParallelEnv
except ImportError as e:
    raise ImportError(
        'rlsuite.envs.inventory.marl needs PettingZoo; install it with: pip install "rlsuite[marl]"'
    ) from e

from rlsuite.validation import ArgumentTypeError, check_choice, short_repr

from ..validation import check_step_allowed, real_array
from .env import InvMgmtEnv, obs_high
from .spec import NetworkSpec

REWARD_MODES: tuple[str, ...] = ("shared", "node")
RESET_OPTIONS: tuple[str, ...] = ("demand_trace",)
"""``reset`` options forwarded to :meth:`InvMgmtEnv.reset`; other keys are ignored with a warning."""


class InvMgmtParallelEnv(ParallelEnv[str, np.ndarray, np.ndarray]):
    """A multi-echelon inventory network as a PettingZoo ``ParallelEnv``: one agent per stocking node.

    Args:
        network: as in :class:`InvMgmtEnv` (built-in name, :class:`NetworkSpec`, dict or YAML path).
        reward: ``shared`` (every agent gets the network's profit, the wrapped env's reward) or
            ``node`` (each agent gets its own node's profit, internal transfer prices included;
            the agents' rewards sum to the network's profit up to float rounding).
        **env_kwargs: keyword arguments of :class:`InvMgmtEnv` (``num_periods``, ``backlog``,
            ``demand``, ``dtype``, ``render_mode``, ...).

    Agents are ``f"node_{name}"`` for every stocking node (factories, distributors, retailers)
    in ``core.stock_names`` order. No agent terminates; all are truncated together after
    ``num_periods`` steps, after which :attr:`agents` is empty until the next ``reset``.

    Action of an agent: ``Box(0, order_bound, (n_inbound,))``, the orders on the node's inbound
    replenishment links in ``spec.links`` order (units per period). The joint action goes to
    :meth:`InvMgmtEnv.step`, so NaN or inf raise ``ValueError``, negative orders count as 0 and
    orders above the bound are clipped to it.

    Observation of an agent (local information only), a ``Box(0, inf)`` of the env's dtype::

        [ on-hand of the node                                    (1)
        | for each inbound link with L > 0, units arriving in
          0..L-1 periods                                         (sum of L over inbound links)
        | last demand of each market the node supplies           (n_markets of the node)
        | unmet demand of the last period of each such market    (n_markets of the node)
        | units requested from the node by its downstream
          replenishment links in the previous period (0 at reset) (1 if it supplies a stocking node)
        | period t                                               (1) ]

    The market entries exist for retailers, the request entry for factories and distributors
    (any node that supplies another stocking node). :meth:`observation_names` names the entries.
    :meth:`state` is the wrapped env's flat observation (global state for centralised critics).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "invmgmt_parallel_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": True,
    }

    def __init__(
        self,
        network: NetworkSpec | str | Mapping[str, Any] | Path = "divergent",
        *,
        reward: str = "shared",
        **env_kwargs: Any,
    ) -> None:
        check_choice("reward", reward, REWARD_MODES)
        self.env = InvMgmtEnv(network, **env_kwargs)
        self.reward_mode = reward
        self.render_mode = self.env.render_mode
        core = self.env.core
        spec = core.spec
        dtype = self.env.action_space.dtype
        assert dtype is not None  # a Box's dtype
        self.possible_agents: list[str] = [f"node_{name}" for name in core.stock_names]
        self.agents: list[str] = []

        # Offsets into core.observe()'s flat layout, extended by one "requested" entry per node.
        n_stock = core.n_stock
        layout = core.observation_index()
        requested_start = core.obs_dim
        self._feature_names = core.observation_names() + [f"requested[{name}]" for name in core.stock_names]
        # out_inc[e, i] = 1: link e draws from stocking node i (raw sources draw from no node).
        self._out_inc = np.zeros((core.n_links, n_stock))
        sidx = {name: i for i, name in enumerate(core.stock_names)}
        for e, link in enumerate(spec.links):
            if link.src in sidx:
                self._out_inc[e, sidx[link.src]] = 1.0

        self._inbound: dict[str, np.ndarray] = {}
        self._obs_index: dict[str, np.ndarray] = {}
        self._action_spaces: dict[str, spaces.Box] = {}
        self._observation_spaces: dict[str, spaces.Box] = {}
        for i, (agent, name) in enumerate(zip(self.possible_agents, core.stock_names, strict=True)):
            inbound = [e for e, link in enumerate(spec.links) if link.dst == name]
            markets = [j for j, m in enumerate(spec.markets) if m.src == name]
            cols = [layout["on_hand"][i]]
            for e in inbound:
                cols += layout["pipeline"][e]
            cols += [layout["demand"][j] for j in markets]
            cols += [layout["unmet"][j] for j in markets]
            if self._out_inc[:, i].any():
                cols.append(requested_start + i)
            cols.append(layout["period"])
            self._inbound[agent] = np.array(inbound, np.int64)
            self._obs_index[agent] = np.array(cols, np.int64)
            self._action_spaces[agent] = spaces.Box(0.0, self.env.order_bound, (len(inbound),), dtype)
            self._observation_spaces[agent] = spaces.Box(0.0, obs_high(dtype), (len(cols),), dtype)
        self.state_space = spaces.Box(0.0, obs_high(dtype), (core.obs_dim,), dtype)
        self._agent_index = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._last_orders = np.zeros(core.n_links)

    # ------------------------------------------------------------------ PettingZoo API
    def observation_space(self, agent: str) -> spaces.Box:
        """The agent's observation space (the same object on every call)."""
        return self._observation_spaces[self._check_agent(agent)]

    def action_space(self, agent: str) -> spaces.Box:
        """The agent's action space (the same object on every call)."""
        return self._action_spaces[self._check_agent(agent)]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Start an episode: ``(observations, infos)`` keyed by agent.

        ``seed`` seeds the demand of the wrapped env; ``options`` may hold ``demand_trace``
        (see :meth:`InvMgmtEnv.reset`).
        """
        options = dict(options or {})
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            warnings.warn(f"reset options {unknown} ignored; allowed: {list(RESET_OPTIONS)}", stacklevel=2)
        _, info = self.env.reset(seed=seed, options={k: options[k] for k in RESET_OPTIONS if k in options})
        self.agents = list(self.possible_agents)
        self._last_orders = np.zeros(self.env.core.n_links)
        return self._observe(self.agents), {agent: {"period": int(info["period"])} for agent in self.agents}

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[
        dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict[str, Any]]
    ]:
        """Advance one period with every live agent's orders ``actions[agent]: [n_inbound]``.

        Returns ``(observations, rewards, terminations, truncations, infos)`` keyed by agent;
        an agent's info holds the ``period``, its ``node_profit`` and its inbound
        ``orders_filled``.
        """
        if not self.agents:  # no live agents: before the first reset, or after the episode ended
            check_step_allowed(self.env.started, True)
        orders = self.env.validate_action(self._joint_action(actions))
        _, reward, terminated, truncated, info = self.env.step(orders)
        self._last_orders = orders
        agents = self.agents
        observations = self._observe(agents)
        node_profit = info["node_profit"]
        if self.reward_mode == "shared":
            rewards = dict.fromkeys(agents, reward)
        else:
            rewards = {agent: float(node_profit[self._agent_index[agent]]) for agent in agents}
        infos = {
            agent: {
                "period": int(info["period"]),
                "node_profit": float(node_profit[self._agent_index[agent]]),
                "orders_filled": info["orders_filled"][self._inbound[agent]],
            }
            for agent in agents
        }
        terminations = dict.fromkeys(agents, terminated)
        truncations = dict.fromkeys(agents, truncated)
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        """The wrapped env's text rendering (``render_mode`` ``ansi`` returns it, ``human`` prints it)."""
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def state(self) -> np.ndarray:
        """Global state ``[obs_dim]``: the wrapped env's flat observation (:meth:`InventoryCore.observe`)."""
        return self.env.core.observe(self.env.state)[0].cpu().numpy()

    # ------------------------------------------------------------------ helpers
    def observation_names(self, agent: str) -> list[str]:
        """Names of the entries of ``agent``'s observation, in order."""
        return [self._feature_names[j] for j in self._obs_index[self._check_agent(agent)]]

    def _check_agent(self, agent: str) -> str:
        if agent not in self._agent_index:
            raise ValueError(f"agent: got {agent!r}; known agents: {self.possible_agents}")
        return agent

    def _joint_action(self, actions: Mapping[str, Any]) -> np.ndarray:
        """The ``[n_links]`` float64 joint order vector assembled from the agents' actions."""
        if not isinstance(actions, Mapping):
            raise ArgumentTypeError(f"actions: got {short_repr(actions)}; expected a dict keyed by agent")
        unknown = sorted(set(actions) - set(self.agents), key=str)
        if unknown:
            raise ValueError(f"actions: unknown or inactive agents {unknown}; live agents: {self.agents}")
        missing = [agent for agent in self.agents if agent not in actions]
        if missing:
            raise ValueError(f"actions: missing orders of agents {missing}")
        joint = np.zeros(self.env.core.n_links)
        for agent in self.agents:
            inbound = self._inbound[agent]
            where = f"actions[{agent!r}]"
            a = real_array(where, actions[agent]).astype(np.float64, copy=False)
            if a.size != len(inbound) or a.ndim > 2:
                raise ValueError(
                    f"{where}: got shape {a.shape}; expected shape ({len(inbound)},) "
                    "(one order per inbound link)"
                )
            a = a.reshape(-1)
            if not np.isfinite(a).all():
                raise ValueError(
                    f"{where}: got {short_repr(a.tolist())}; orders must be finite (no NaN or inf)"
                )
            joint[inbound] = a
        return joint

    def _observe(self, agents: list[str]) -> dict[str, np.ndarray]:
        """Each agent's local observation, gathered from the flat state and last period's requests."""
        features = np.concatenate([self.state(), self._last_orders @ self._out_inc])
        return {
            agent: features[self._obs_index[agent]].astype(self._observation_spaces[agent].dtype, copy=False)
            for agent in agents
        }
