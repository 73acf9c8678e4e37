"""Base-stock / echelon-stock level search by simulation with common random numbers.

Works on any ``InvMgmt`` network: coordinate search over the order-up-to levels (and the caps
of a capped base-stock policy), each candidate simulated on the *same* training seeds so
that differences between candidates are not noise; the best levels are then re-evaluated on
independent seeds and reported with a 95% confidence interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlsuite.evaluation import mean_ci
from rlsuite.validation import check_choice, check_int, check_real, check_seeds

from .evaluation import make_vector_env, run_vector_episodes
from .policies import BaseStockPolicy, _node_statistics

KINDS = ("installation", "echelon", "capped")


@dataclass
class LevelSearchResult:
    """Best levels found by :func:`search_base_stock_levels`."""

    kind: str
    levels: np.ndarray
    caps: np.ndarray | None
    objective: float
    """Mean objective on the evaluation seeds (profit, or minus the long-run average cost)."""
    ci95: float
    """Half-width of its 95% confidence interval."""
    train_objective: float
    evaluations: int
    history: list[float] = field(default_factory=list, repr=False)

    def policy(self, env: Any) -> BaseStockPolicy:
        """The policy with these levels on ``env`` (a single or vector env of the same network)."""
        policy = BaseStockPolicy(env, self.levels, echelon=self.kind == "echelon", caps=self.caps)
        policy.name = f"{policy.name} (searched)"
        return policy


def search_base_stock_levels(
    env: str | Any,
    kind: str = "installation",
    *,
    train_seeds: Sequence[int] = range(1000, 1064),
    eval_seeds: Sequence[int] = range(2000, 2256),
    num_periods: int | None = None,
    warmup: int = 0,
    init: np.ndarray | None = None,
    min_step: float = 0.5,
    max_evaluations: int = 400,
    env_kwargs: Mapping[str, Any] | None = None,
) -> LevelSearchResult:
    """Coordinate search for the best base-stock levels of ``env`` (an id or env).

    Args:
        kind: ``installation``, ``echelon`` (echelon inventory positions; optimal for serial
            systems by Clark and Scarf) or ``capped`` (installation levels and order caps).
        train_seeds / eval_seeds: seeds of the candidates' common random numbers and of the
            final, independent evaluation.
        num_periods, warmup: episode length and warm-up; with ``warmup > 0`` the objective is
            minus the average cost per period after the warm-up (HDPO's long-run protocol),
            otherwise the episode profit.
        init: starting levels (default: the newsvendor levels, summed downstream for echelon).
        min_step: the search stops when the step size falls below this many units.
    """
    check_choice("kind", kind, KINDS)
    train_seeds = check_seeds("train_seeds", train_seeds)
    eval_seeds = check_seeds("eval_seeds", eval_seeds)
    warmup = check_int("warmup", warmup, low=0)
    min_step = check_real("min_step", min_step, low=0.0, low_open=True)
    max_evaluations = check_int("max_evaluations", max_evaluations, low=1)
    train = make_vector_env(env, len(train_seeds), num_periods, env_kwargs)
    if warmup >= train.num_periods:
        raise ValueError(f"warmup: got {warmup}; must be in [0, num_periods={train.num_periods})")
    core = train.core
    mu = _node_statistics(core)[0]
    if init is None:
        init = BaseStockPolicy.newsvendor(train).levels
        if kind == "echelon":
            from rlsuite.envs.inventory.base_stock import downstream_closure

            init = downstream_closure(core) @ init
    x = np.asarray(init, dtype=np.float64).copy()
    if x.shape != (core.n_stock,):
        raise ValueError(f"init: expected shape ({core.n_stock},), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"init: got {x.tolist()}; levels must be finite")
    if kind == "capped":
        x = np.concatenate([x, 2.0 * np.maximum(mu, 1.0)])
    n = core.n_stock

    def build(params: np.ndarray, venv: Any) -> BaseStockPolicy:
        caps = params[n:] if kind == "capped" else None
        return BaseStockPolicy(venv, params[:n], echelon=kind == "echelon", caps=caps)

    def score(params: np.ndarray, venv: Any, seeds: list[int]) -> np.ndarray:
        _, r = run_vector_episodes(venv, build(params, venv), seeds, kpis=False, name=f"{kind} levels")
        return r[warmup:].mean(0) if warmup > 0 else r.sum(0)

    evaluations = 1
    best = float(score(x, train, train_seeds).mean())
    history = [best]
    step = np.maximum(0.25 * np.abs(x), 2.0)
    while evaluations < max_evaluations and np.any(step >= min_step):
        improved = False
        for i in range(x.size):
            if step[i] < min_step:
                continue
            for direction in (1.0, -1.0):
                cand = x.copy()
                cand[i] = max(cand[i] + direction * step[i], 0.0)
                if cand[i] == x[i]:
                    continue
                value = float(score(cand, train, train_seeds).mean())
                evaluations += 1
                if value > best + 1e-9:
                    x, best, improved = cand, value, True
                    history.append(best)
                    break
            if evaluations >= max_evaluations:
                break
        if not improved:
            step = step / 2
    evaluator = make_vector_env(env, len(eval_seeds), num_periods, env_kwargs)
    mean, half = mean_ci(score(x, evaluator, eval_seeds))
    return LevelSearchResult(
        kind=kind,
        levels=x[:n],
        caps=x[n:] if kind == "capped" else None,
        objective=mean,
        ci95=half,
        train_objective=best,
        evaluations=evaluations,
        history=history,
    )
