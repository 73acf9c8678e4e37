"""Batched rollouts of :class:`InventoryCore` on fixed demand traces.

Demand is exogenous, so a set of sampled traces fixes every source of randomness: HDPO trains by
back-propagating the cost of a rollout on such a set (the *hindsight* view), and any two
policies evaluated on the same traces are compared on common random numbers.

>>> core = InvMgmtEnv("single_store").core
>>> demand = torch.as_tensor(sample_traces(core, 4096, 5000, seed=7))
>>> result = long_run_cost(core, policy, demand, warmup=3000)   # policy: obs [B, d] -> orders [B, L]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rlsuite.evaluation import mean_ci

from .core import InventoryCore, InventoryState
from .demand import DemandSampler
from .spec import NetworkSpec

Policy = Callable[[Tensor], Tensor]
"""A policy on the core: flat observation ``[B, obs_dim]`` -> orders ``[B, n_links]``."""


def sample_traces(
    network: InventoryCore | NetworkSpec, n: int, periods: int, seed: int, start: int = 0
) -> np.ndarray:
    """``n`` demand traces of ``periods`` periods, ``[n, periods, n_markets]`` float64, from ``seed``.

    Same distribution as the envs' demand (:class:`DemandSampler`), drawn for all traces at
    once; the numbers are a deterministic function of ``seed`` (not the per-episode streams of
    ``env.reset(seed=...)``)."""
    spec = network.spec if isinstance(network, InventoryCore) else network
    for name, v in (("n", n), ("periods", periods)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}: got {v!r}; must be a positive integer")
    sampler = DemandSampler(spec)
    rng = np.random.default_rng(seed)
    mu = sampler.means(start, periods)  # [T, M]
    m = sampler.n_markets
    if sampler.shared_distribution is None:  # mixed distributions: trace by trace
        return np.stack([sampler.sample(rng, start, periods) for _ in range(n)])
    flat = np.broadcast_to(mu, (n, periods, m)).reshape(n * periods, m)
    return sampler.finish(flat, sampler.draw(rng, flat)).reshape(n, periods, m)


def node_demand_moments(core: InventoryCore) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per period of the demand flowing through each stocking node (market
    demand propagated upstream, split equally among a node's suppliers)."""
    spec = core.spec
    pos = {n: i for i, n in enumerate(core.stock_names)}
    n_in = {n: sum(1 for link in spec.links if link.dst == n) for n in core.stock_names}
    mean, var = np.zeros(core.n_stock), np.zeros(core.n_stock)
    for _ in range(core.n_stock + 1):  # propagate upstream to a fixed point (the network is acyclic)
        new_mean, new_var = np.zeros(core.n_stock), np.zeros(core.n_stock)
        for m in spec.markets:
            d = m.demand
            std = (
                d.std
                if d.std is not None
                else (np.sqrt(d.mean) if d.dist != "uniform" else d.mean / np.sqrt(3))
            )
            new_mean[pos[m.src]] += d.mean
            new_var[pos[m.src]] += std**2 if d.dist != "trace" else 0.0
        for link in spec.links:
            if link.src in pos:
                share = 1.0 / n_in[link.dst]
                new_mean[pos[link.src]] += share * mean[pos[link.dst]]
                new_var[pos[link.src]] += share * var[pos[link.dst]]
        mean, var = new_mean, new_var
    return mean, var


def link_scale(core: InventoryCore) -> np.ndarray:
    """A natural unit for each link's order: the mean demand flowing into its destination (at
    least 1e-3), used to scale policy inputs and outputs."""
    mean, _ = node_demand_moments(core)
    pos = {n: i for i, n in enumerate(core.stock_names)}
    return np.array([max(mean[pos[link.dst]], 1e-3) for link in core.spec.links])


def initial_states(
    core: InventoryCore, n: int, rng: np.random.Generator | None = None, randomize: bool = False
) -> InventoryState:
    """``n`` start states: the network's own (``I0``, empty pipelines), plus, with ``randomize``,
    U[0, 1] x the node's mean demand per period on each on-hand and pipeline slot (HDPO's
    initial inventories), so that training sees varied states from the first period."""
    state = core.initial_state(n)
    if not randomize:
        return state
    rng = rng if rng is not None else np.random.default_rng(0)
    mean, _ = node_demand_moments(core)
    slot_mean = np.array([mean[core.stock_names.index(core.spec.links[e].dst)] for e in core.slot_links])
    as_t = lambda a: torch.as_tensor(a, dtype=core.dtype, device=core.device)  # noqa: E731
    on_hand = state.on_hand + as_t(rng.uniform(0, 1, (n, core.n_stock)) * mean)
    pipeline = state.pipeline + as_t(rng.uniform(0, 1, (n, core.n_slots)) * slot_mean)
    return state._replace(on_hand=on_hand, pipeline=pipeline)


def simulate(
    core: InventoryCore,
    policy: Policy,
    demand: Tensor,
    state: InventoryState | None = None,
    round_orders: bool = False,
) -> tuple[Tensor, InventoryState]:
    """Roll ``policy`` out on ``demand`` ``[B, T, n_markets]``; returns the rewards ``[B, T]``
    (profit; minus the cost in the cost-minimisation settings) and the final state. Runs with
    autograd when enabled: the rewards are differentiable in the policy's parameters through
    every period (back-propagation through time)."""
    if demand.ndim != 3 or demand.shape[2] != core.n_markets:
        raise ValueError(f"demand: expected [B, T, {core.n_markets}], got {tuple(demand.shape)}")
    b, periods = demand.shape[0], demand.shape[1]
    state = core.initial_state(b) if state is None else state
    rewards = []
    for t in range(periods):
        orders = policy(core.observe(state))
        if round_orders:
            orders = torch.round(orders)
        state, reward, _ = core.step(state, orders, demand[:, t])
        rewards.append(reward)
    return torch.stack(rewards, 1), state


def long_run_cost(
    core: InventoryCore,
    policy: Policy,
    demand: Tensor,
    warmup: int,
    state: InventoryState | None = None,
    round_orders: bool = False,
    chunk: int = 4096,
) -> dict[str, Any]:
    """Long-run average cost per period (minus the reward) after ``warmup`` periods, over the
    traces of ``demand`` ``[B, T, M]``: ``{"avg_cost", "ci95", "per_trace" [B]}``, where
    ``avg_cost`` is the mean over traces of each trace's mean cost per period and ``ci95`` the
    half-width of its 95% Student-t interval over traces (:func:`rlsuite.evaluation.mean_ci`; NaN
    with a single trace). Runs in chunks of ``chunk`` traces without autograd."""
    periods = demand.shape[1]
    if not 0 <= warmup < periods:
        raise ValueError(f"warmup: got {warmup}; must be in [0, {periods})")
    per_trace = []
    with torch.no_grad():
        for i in range(0, demand.shape[0], chunk):
            d = demand[i : i + chunk].to(core.device, core.dtype)
            s = None if state is None else InventoryState(*(x[i : i + chunk] for x in state))
            rewards, _ = simulate(core, policy, d, s, round_orders)
            per_trace.append((-rewards[:, warmup:].mean(1)).double().cpu())
    costs = torch.cat(per_trace).numpy()
    mean, half = mean_ci(costs)
    return {"avg_cost": mean, "ci95": half, "per_trace": costs}
