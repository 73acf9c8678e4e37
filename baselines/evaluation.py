"""One evaluation protocol for every inventory policy: agents, baselines and plain functions.

``evaluate(policy, "InvMgmt-v0", seeds=[...])`` runs the policy on one vector env whose copy i
is seeded with ``seeds[i]``, so every policy evaluated with the same seeds sees the same
demand traces (common random numbers). It returns per-episode KPIs and their means with 95%
confidence intervals (Student t over episodes, :func:`rlsuite.evaluation.mean_ci`):

* ``profit`` (episode sum of rewards) and its decomposition (``revenue``, ``procurement``,
  ``operating``, ``holding``, ``pipeline_holding``, ``penalty``, ``fixed``);
* ``fill_rate`` = units sold / units demanded (eventual fulfilment, at most 1);
* ``service_level`` = fraction of periods with no unmet demand at any market;
* ``avg_inventory`` = mean on-hand per stocking node per period;
* ``bullwhip`` = Var(total orders per period) / Var(total demand per period);
* ``oracle_profit`` and ``opt_gap_pct`` = (oracle - profit) / |oracle| x 100 with ``oracle=True``;
* in long-run mode (``warmup > 0``, HDPO's protocol) ``avg_cost`` = mean cost per period after
  the warm-up periods.

The episodes run batched, one copy of the native vector env per seed
(:func:`make_vector_env`, :func:`run_vector_episodes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np

from rlsuite.envs.inventory import COST_NAMES, InvMgmtVectorEnv
from rlsuite.evaluation import mean_ci
from rlsuite.files import save_figure
from rlsuite.progress import progress
from rlsuite.validation import check_bool, check_choice, check_int, check_real, check_seeds

KPI_NAMES: tuple[str, ...] = (
    "profit",
    *COST_NAMES,
    "fill_rate",
    "service_level",
    "avg_inventory",
    "bullwhip",
)


def make_vector_env(
    env: Any, n: int, num_periods: int | None = None, env_kwargs: Mapping[str, Any] | None = None
) -> InvMgmtVectorEnv:
    """A fresh native vector env of ``n`` copies with the configuration of ``env`` (an ``InvMgmt``
    id, or an env whose network, backlog, allocation, event order and dtype are reused), for
    :func:`run_vector_episodes`. ``num_periods`` overrides the episode length."""
    n = check_int("n", n, low=1)
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise TypeError(f"env_kwargs: got {type(env_kwargs).__name__}; must be a mapping or None")
    kwargs = dict(env_kwargs or {})
    if num_periods is not None:
        kwargs["num_periods"] = check_int("num_periods", num_periods, low=1)
    if isinstance(env, str):
        from rlsuite.envs import INVMGMT_IDS

        if env.removeprefix("rlsuite:") not in INVMGMT_IDS:
            raise ValueError(f"env: got {env!r}; allowed: {list(INVMGMT_IDS)} (or an InvMgmt env)")
        vec = gym.make_vec(env, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
        # An InvMgmt id's vector entry point is the native InvMgmtVectorEnv.
        return cast(InvMgmtVectorEnv, vec.unwrapped if hasattr(vec, "unwrapped") else vec)
    base = getattr(env, "unwrapped", env)
    core = getattr(base, "core", None)
    if core is None or not hasattr(base, "num_periods"):
        raise TypeError(f"env: got {type(env).__name__}; must be an InvMgmt env id or env")
    kwargs.setdefault("num_periods", base.num_periods)
    return InvMgmtVectorEnv(
        n,
        core.spec,
        backlog=core.backlog,
        allocation=core.allocation,
        event_order=core.event_order,
        dtype="float64" if str(core.dtype).endswith("64") else "float32",
        **kwargs,
    )


def _act(policy: Any, obs: np.ndarray, n_links: int, name: str, t: int) -> np.ndarray:
    if hasattr(policy, "predict"):
        out = policy.predict(obs, deterministic=True)
        action = out[0] if isinstance(out, tuple) else out
    elif callable(policy):
        action = policy(obs)
    else:
        raise TypeError(
            f"policy {name!r}: expected an object with predict(obs) or a callable, got {type(policy)}"
        )
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"policy {name!r} returned orders that are not numbers at period {t}: {action!r:.80}"
        ) from e
    if a.shape == (n_links,):
        a = np.broadcast_to(a, (obs.shape[0], n_links))
    if a.shape != (obs.shape[0], n_links):
        raise ValueError(
            f"policy {name!r} returned orders of shape {a.shape} at period {t}; "
            f"expected ({obs.shape[0]}, {n_links}) for a batch or ({n_links},)"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(
            f"policy {name!r} returned non-finite orders at period {t}: {a[~np.isfinite(a)][:5]}"
        )
    return a  # negative orders count as 0 and orders above the bound are clipped by the env


@dataclass
class EvalResult:
    """Per-episode KPIs and their summary for one or several policies."""

    env_id: str
    seeds: list[int]
    num_periods: int
    warmup: int
    episodes: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    """``episodes[policy][kpi]``: one value per seed."""
    curves: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """``curves[policy]``: rewards ``[T, n_seeds]``."""

    def summary(self) -> list[dict[str, Any]]:
        """One row per policy: ``kpi`` (mean) and ``kpi_ci95`` (half-width) for every KPI."""
        rows = []
        for name, kpis in self.episodes.items():
            row: dict[str, Any] = {"policy": name, "episodes": len(self.seeds)}
            for k, v in kpis.items():
                row[k], row[f"{k}_ci95"] = mean_ci(v, nan_policy="omit")
            rows.append(row)
        return rows

    def table(self, as_frame: bool | None = None) -> Any:
        """The summary as a pandas DataFrame when pandas is installed (or ``as_frame=True``), else
        a list of dicts."""
        rows = self.summary()
        if as_frame is False:
            return rows
        try:
            import pandas as pd
        except ImportError:
            if as_frame:
                raise
            return rows
        return pd.DataFrame(rows).set_index("policy")

    def plot(self, path: str | Path | None = None, kpi: str = "profit") -> Any:
        """Bar chart of ``kpi`` (mean with 95% CI) per policy and the mean cumulative reward
        curves; saved to ``path`` when given. Returns the matplotlib figure."""
        import matplotlib.pyplot as plt

        rows = self.summary()
        kpis = sorted({k for r in rows for k in r if k not in ("policy", "episodes") and "_ci95" not in k})
        check_choice("kpi", kpi, kpis)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
        names = [r["policy"] for r in rows]
        ax1.bar(
            names, [r[kpi] for r in rows], yerr=[np.nan_to_num(r[f"{kpi}_ci95"]) for r in rows], capsize=4
        )
        ax1.set(title=f"{self.env_id}: {kpi} (mean, 95% CI, {len(self.seeds)} seeds)", ylabel=kpi)
        ax1.tick_params(axis="x", labelrotation=25)
        for name, rewards in self.curves.items():
            ax2.plot(np.arange(1, rewards.shape[0] + 1), rewards.cumsum(0).mean(1), label=name)
        ax2.set(title="cumulative reward (mean over seeds)", xlabel="period")
        ax2.legend(fontsize=7)
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path, dpi=110)
        return fig


PolicyLike = Any


def evaluate(
    policy: PolicyLike | Mapping[str, PolicyLike],
    env: str | Any = "InvMgmt-v0",
    *,
    seeds: Sequence[int] | None = None,
    episodes: int = 10,
    num_periods: int | None = None,
    warmup: int = 0,
    oracle: bool = False,
    env_kwargs: Mapping[str, Any] | None = None,
    show_progress: bool = False,
) -> EvalResult:
    """Evaluate one policy, or a ``{name: policy}`` mapping, on common random numbers.

    Args:
        policy: an object with ``predict(obs)`` (an rlsuite agent, a Stable-Baselines3 model, a
            baseline), a callable ``obs [B, obs_dim] -> orders [B, n_links] or [n_links]``, a
            factory ``env -> policy`` wrapped by :func:`from_env` (e.g.
            ``from_env(BaseStockPolicy.newsvendor)``), or a mapping name -> any of these.
        env: an ``InvMgmt`` id or env (its configuration is reused).
        seeds: the episodes' seeds (default ``range(episodes)``).
        episodes: number of episodes when ``seeds`` is None.
        num_periods: episode length (default: the env's); long-run mode uses e.g. 5000.
        warmup: periods excluded from ``avg_cost`` (long-run average-cost mode); 0 disables it.
        oracle: also solve the hindsight LP per seed and report ``opt_gap_pct``.
        env_kwargs: extra keyword arguments for the env (``backlog``, ``demand``, ...).
        show_progress: a progress bar over policies (tqdm, extra ``progress``).
    """
    episodes = check_int("episodes", episodes, low=1)
    seeds = list(range(episodes)) if seeds is None else check_seeds("seeds", seeds)
    warmup = check_int("warmup", warmup, low=0)
    oracle = check_bool("oracle", oracle)
    show_progress = check_bool("show_progress", show_progress)
    policies = _policies(policy)
    venv = make_vector_env(env, len(seeds), num_periods, env_kwargs)
    T = venv.num_periods
    if warmup >= T:
        raise ValueError(f"warmup: got {warmup}; must be in [0, num_periods={T})")
    env_id = env if isinstance(env, str) else venv.spec_network.name
    result = EvalResult(env_id=env_id, seeds=seeds, num_periods=T, warmup=warmup)
    plans = None
    if oracle:
        from .oracle import episode_demand, hindsight_oracle

        plans = [hindsight_oracle(venv, episode_demand(venv, s)) for s in seeds]
    for name, pol in progress(policies.items(), total=len(policies), desc="policies", enable=show_progress):
        if getattr(pol, "needs_env", False):
            pol = pol(venv)
            _check_policy(name, pol)
        result.episodes[name], result.curves[name] = run_vector_episodes(
            venv, pol, seeds, warmup=warmup, name=name
        )
        if plans is not None:
            best = np.array([p.profit for p in plans])
            result.episodes[name]["oracle_profit"] = best
            result.episodes[name]["opt_gap_pct"] = (
                (best - result.episodes[name]["profit"]) / np.abs(best) * 100
            )
    return result


def _check_policy(name: str, policy: Any) -> None:
    if not (hasattr(policy, "predict") or callable(policy)):
        raise TypeError(
            f"policy {name!r}: got {type(policy).__name__}; must be an object with predict(obs), "
            f"a callable obs -> orders, or one of {list(POLICY_NAMES)}"
        )


def _policies(policy: Any) -> dict[str, Any]:
    """``{name: policy}`` from one policy or a mapping; baseline names become their factories."""
    if isinstance(policy, Mapping):
        if not policy:
            raise ValueError("policy: got an empty mapping; need at least one policy")
        items = list(policy.items())
    else:
        items = [(policy if isinstance(policy, str) else _name(policy), policy)]
    out = {}
    for name, pol in items:
        if not isinstance(name, str):
            raise TypeError(f"policy: got the name {name!r} ({type(name).__name__}); names must be strings")
        if isinstance(pol, str):
            pol = policy_factory(pol)
        _check_policy(name, pol)
        out[name] = pol
    return out


def _name(policy: Any) -> str:
    return str(getattr(policy, "name", None) or getattr(policy, "__name__", None) or type(policy).__name__)


def run_vector_episodes(
    venv: InvMgmtVectorEnv,
    policy: Any,
    seeds: Sequence[int],
    *,
    warmup: int = 0,
    kpis: bool = True,
    name: str = "policy",
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One episode per copy of ``venv`` (copy i reset with ``seeds[i]``), all copies stepped at
    once: the batched counterpart of :func:`rlsuite.evaluation.run_episode` for the inventory
    networks.

    Args:
        venv: a native inventory vector env with ``len(seeds)`` copies (:func:`make_vector_env`).
        policy: an object with ``predict(obs)`` or a callable ``obs [B, obs_dim] -> orders
            [B, n_links] or [n_links]``.
        warmup: with ``warmup > 0`` the KPIs include ``avg_cost``, the mean cost per period after
            the first ``warmup`` periods.
        kpis: False skips the KPIs (returns an empty dict) for callers that need only the rewards.
        name: the policy's name in error messages.

    Returns:
        ``(kpis, rewards)``: per-episode KPIs ``{name: [n]}`` (see the module docstring) and the
        rewards ``[T, n]``.
    """
    seeds = check_seeds("seeds", seeds)
    if len(seeds) != venv.num_envs:
        raise ValueError(f"seeds: got {len(seeds)} seeds for a vector env of {venv.num_envs} copies")
    warmup = check_int("warmup", warmup, low=0)
    T = venv.num_periods
    if warmup >= T:
        raise ValueError(f"warmup: got {warmup}; must be in [0, num_periods={T})")
    core = venv.core
    obs, _ = venv.reset(seed=seeds)
    rewards, costs, demand, sold, unmet, orders, on_hand = [], [], [], [], [], [], []
    for t in range(T):
        action = _act(policy, obs, core.n_links, name, t)
        obs, reward, _, _, info = venv.step(action)
        rewards.append(reward)
        if kpis:
            costs.append(info["costs"])
            demand.append(info["demand"])
            sold.append(info["sold"])
            unmet.append(info["unmet"])
            orders.append(np.clip(action, 0.0, venv.order_bound).sum(1))
            on_hand.append(venv.state.on_hand.detach().cpu().numpy().mean(1))
    r = np.array(rewards)  # [T, n]
    if not kpis:
        return {}, r
    c = np.array(costs)  # [T, n, 7]
    dem, sol, unm = np.array(demand).sum(2), np.array(sold).sum(2), np.array(unmet).sum(2)
    out: dict[str, np.ndarray] = {"profit": r.sum(0)}
    for j, cname in enumerate(COST_NAMES):
        out[cname] = c[:, :, j].sum(0)
    out["fill_rate"] = np.minimum(sol.sum(0) / np.maximum(dem.sum(0), 1e-12), 1.0)
    out["service_level"] = (unm <= 1e-9).mean(0)
    out["avg_inventory"] = np.array(on_hand).mean(0)
    d_var = dem.var(0, ddof=1) if T > 1 else np.full(len(seeds), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["bullwhip"] = np.where(d_var > 0, np.array(orders).var(0, ddof=1) / d_var, np.nan)
    if warmup > 0:
        out["avg_cost"] = -r[warmup:].mean(0)
    return out, r


def from_env(factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Mark ``factory(env) -> policy`` so that :func:`evaluate` builds the policy on its own
    vector env (baselines need the env's network to be built)."""

    if not callable(factory):
        raise TypeError(f"factory: got {factory!r}; must be a callable env -> policy")

    def make(env: Any) -> Any:
        return factory(env)

    make.needs_env = True  # type: ignore[attr-defined]
    make.__name__ = getattr(factory, "__name__", "policy")
    return make


_FACTORY_OPTIONS: dict[str, tuple[str, ...]] = {
    "zero": (),
    "constant": ("quantity",),
    "random": ("high", "seed"),
    "base-stock": (),
    "newsvendor": (),
    "sS": (),
    "dlp": ("horizon",),
}


def policy_factory(name: str, **kwargs: Any) -> Callable[[Any], Any]:
    """A named baseline as a factory ``env -> policy`` (used by the CLI and the demo).

    Options: ``quantity`` for ``constant``; ``high`` and ``seed`` for ``random``; ``horizon``
    for ``dlp``. They are checked here, before any env is built.
    """
    from . import policies
    from .oracle import RollingHorizonLPPolicy

    check_choice("policy", name, POLICY_NAMES)
    unknown = sorted(set(kwargs) - set(_FACTORY_OPTIONS[name]))
    if unknown:
        raise TypeError(
            f"policy {name!r}: unknown options {unknown}; allowed: {list(_FACTORY_OPTIONS[name])}"
        )
    if "quantity" in kwargs:
        check_real("quantity", kwargs["quantity"], low=0.0)
    if "high" in kwargs:
        check_real("high", kwargs["high"], low=0.0)
    if "seed" in kwargs:
        check_int("seed", kwargs["seed"], low=0)
    if kwargs.get("horizon") is not None:
        check_int("horizon", kwargs["horizon"], low=1)

    factories: dict[str, Callable[[Any], Any]] = {
        "zero": lambda env: policies.ConstantOrderPolicy(env, 0.0),
        "constant": lambda env: policies.ConstantOrderPolicy(env, kwargs.get("quantity", 20.0)),
        "random": lambda env: policies.RandomPolicy(
            env, high=kwargs.get("high", 40.0), seed=kwargs.get("seed", 0)
        ),
        "base-stock": lambda env: policies.BaseStockPolicy.newsvendor(env),
        "newsvendor": lambda env: policies.BaseStockPolicy.newsvendor(env),
        "sS": lambda env: policies.BaseStockPolicy.s_S(env),
        "dlp": lambda env: RollingHorizonLPPolicy(env, kwargs.get("horizon")),
    }
    return from_env(factories[name])


POLICY_NAMES: tuple[str, ...] = ("zero", "constant", "random", "base-stock", "newsvendor", "sS", "dlp")
