"""Learning curves over seeds: smoothing on a common step grid, steps to a threshold, mean-and-band plots.

Inputs are per-seed episode records ``(timesteps, returns)``, e.g. from
:class:`rlsuite.agents.EpisodeRecorder` (which records the *unshaped* return under shaping, the figure
to compare methods on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rlsuite.validation import check_choice, check_int, check_real

Run = tuple[Sequence[float], Sequence[float]]


def curve_on_grid(
    timesteps: Sequence[float] | np.ndarray,
    returns: Sequence[float] | np.ndarray,
    grid: Sequence[float] | np.ndarray,
    window: int = 20,
) -> np.ndarray:
    """At each grid step, the mean return of the last ``window`` episodes finished by then (NaN before
    the first episode)."""
    window = check_int("window", window, low=1)
    t = np.asarray(timesteps, dtype=np.float64)
    r = np.asarray(returns, dtype=np.float64)
    if t.shape != r.shape:
        raise ValueError(f"timesteps and returns: lengths differ ({t.size} vs {r.size})")
    csum = np.concatenate([[0.0], np.cumsum(r)])
    n = np.searchsorted(t, np.asarray(grid, dtype=np.float64), side="right")
    lo = np.maximum(n - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (csum[n] - csum[lo]) / (n - lo)
    return np.where(n > 0, out, np.nan)


def steps_to_threshold(
    timesteps: Sequence[float], returns: Sequence[float], threshold: float, window: int = 20
) -> float:
    """First step at which the mean of the last ``window`` episode returns reaches ``threshold``
    (``inf`` if it never does)."""
    t = np.asarray(timesteps, dtype=np.float64)
    if t.size == 0:
        return float("inf")
    smooth = curve_on_grid(t, returns, t, window)
    full = np.arange(t.size) >= min(window, t.size) - 1
    hit = np.nonzero(full & (smooth >= threshold))[0]
    return float(t[hit[0]]) if hit.size else float("inf")


def summarize_runs(
    runs: Mapping[str, Sequence[Run]], threshold: float | None = None, window: int = 20, last: int = 50
) -> list[dict[str, Any]]:
    """One row per method: final return (mean of each seed's last ``last`` episodes; mean and sd over
    seeds) and, with a threshold, steps to reach it (median over seeds, and how many seeds did)."""
    window = check_int("window", window, low=1)
    last = check_int("last", last, low=1)
    if threshold is not None:
        threshold = check_real("threshold", threshold)
    rows = []
    for label, seeds in runs.items():
        finals = np.array([np.mean(np.asarray(r, float)[-last:]) if len(r) else np.nan for _, r in seeds])
        row: dict[str, Any] = {
            "method": label,
            "seeds": len(seeds),
            "final_return_mean": float(np.nanmean(finals)),
            "final_return_sd": float(np.nanstd(finals)),
        }
        if threshold is not None:
            hits = np.array([steps_to_threshold(t, r, threshold, window) for t, r in seeds])
            row["steps_to_threshold_median"] = float(np.median(hits))
            row["seeds_reaching_threshold"] = int(np.isfinite(hits).sum())
        rows.append(row)
    return rows


def plot_learning_curves(
    runs: Mapping[str, Sequence[Run]],
    total_timesteps: float,
    ax: Any = None,
    window: int = 20,
    points: int = 100,
    band: str = "sd",
    reference: Mapping[str, float] | None = None,
):
    """Mean over seeds (line) and a band (``"sd"``: +- one standard deviation, ``"minmax"``: range over
    seeds) of each method's smoothed return; ``reference`` draws labelled horizontal lines (optimum,
    baselines). Returns the matplotlib axes."""
    import matplotlib.pyplot as plt

    check_choice("band", band, ["sd", "minmax"])
    total_timesteps = check_real("total_timesteps", total_timesteps, low=0.0, low_open=True)
    points = check_int("points", points, low=2)
    window = check_int("window", window, low=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    grid = np.linspace(0, total_timesteps, points)
    for label, seeds in runs.items():
        curves = np.array([curve_on_grid(t, r, grid, window) for t, r in seeds])
        with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
            sup.filter(RuntimeWarning)
            mean = np.nanmean(curves, 0)
            lo, hi = (
                (mean - np.nanstd(curves, 0), mean + np.nanstd(curves, 0))
                if band == "sd"
                else (np.nanmin(curves, 0), np.nanmax(curves, 0))
            )
        (line,) = ax.plot(grid, mean, label=f"{label} ({len(seeds)} seeds)")
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    for name, value in (reference or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="gray")
        ax.annotate(name, (grid[-1], value), ha="right", va="bottom", fontsize=8, color="gray")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"true episode return (last {window} episodes)")
    ax.legend(fontsize=8)
    return ax
