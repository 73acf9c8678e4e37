"""Exogenous demand: a pure function of a ``numpy.random.Generator`` and the period.

Demand never depends on actions, so every policy can be compared on common random numbers
(the same seed gives the same demand trace whatever the orders).

Draws are taken period by period and, within a period, market by market, from one generator.
Drawing ``n`` periods at once therefore gives the same numbers as drawing them one at a
time or in chunks, and for Poisson, normal and uniform demand the numbers equal those of
gym-invmgmt's ``DemandEngine`` for the same seed (it draws through SciPy from the same
``np_random``).
"""

from __future__ import annotations

import numpy as np

from .spec import NetworkSpec


class DemandSampler:
    """Samples demand for the market links of a :class:`NetworkSpec`.

    ``sample(rng, start, n)`` returns a float64 array ``[n, n_markets]`` with the demand of
    periods ``start .. start + n - 1``.
    """

    def __init__(self, spec: NetworkSpec) -> None:
        self.spec = spec
        self.demands = tuple(m.demand for m in spec.markets)
        self.n_markets = len(self.demands)
        dists = {d.dist for d in self.demands}
        self._single_dist = dists.pop() if len(dists) == 1 else None
        self._std = np.array([d.std if d.std is not None else np.nan for d in self.demands])
        self._noise = np.array([0.0 if d.dist == "trace" else d.noise_scale for d in self.demands])
        rho = spec.demand_correlation
        self._chol: np.ndarray | None = None
        if rho != 0.0:
            corr = np.full((self.n_markets, self.n_markets), rho) + (1 - rho) * np.eye(self.n_markets)
            self._chol = np.linalg.cholesky(corr)

    def means(self, start: int, n: int) -> np.ndarray:
        """Mean demand ``[n, n_markets]`` of periods ``start .. start + n - 1``."""
        t = np.arange(start, start + n, dtype=np.float64)
        return np.stack([d.mean_schedule(t) for d in self.demands], axis=1)

    @property
    def shared_distribution(self) -> str | None:
        """The distribution of every market (``poisson``, ``normal``, ``uniform``, ``trace``) when
        they all have the same one, else None. With a shared distribution a period's draws for all
        markets are one vectorized call, so many periods (or traces) can be drawn at once; with
        mixed distributions the draws go market by market inside each period."""
        return self._single_dist

    def sample(self, rng: np.random.Generator, start: int, n: int) -> np.ndarray:
        mu = self.means(start, n)
        return self.finish(mu, self.draw(rng, mu))

    def finish(self, mu: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Demand from raw draws (any leading batch shape): gym-invmgmt's noise formula, kept
        verbatim so seeded traces agree bit for bit, then clipped at 0."""
        return np.maximum(mu + self._noise * (raw - mu), 0.0)

    def draw(self, rng: np.random.Generator, mu: np.ndarray) -> np.ndarray:
        """Raw draws ``[n, n_markets]`` around the means ``mu`` (before noise scaling)."""
        n = mu.shape[0]
        if self._single_dist is not None:
            raw = self._draw(rng, self._single_dist, mu, self._std)
        else:  # mixed distributions: draw market by market inside each period
            raw = np.empty_like(mu)
            for t in range(n):
                for j, d in enumerate(self.demands):
                    raw[t, j] = self._draw(rng, d.dist, mu[t : t + 1, j : j + 1], self._std[j : j + 1])[0, 0]
        return raw

    def _draw(self, rng: np.random.Generator, dist: str, mu: np.ndarray, std: np.ndarray) -> np.ndarray:
        if dist == "poisson":
            flat = mu.flat[0]
            if np.all(mu == flat):  # stationary: the scalar path draws the same numbers, 4x faster
                return rng.poisson(flat, mu.shape).astype(np.float64)
            return rng.poisson(mu).astype(np.float64)
        if dist == "normal":
            z = rng.standard_normal(mu.shape)
            if self._chol is not None:
                z = z @ self._chol.T
            return z * np.where(np.isnan(std), np.sqrt(np.maximum(mu, 0.1)), std) + mu
        if dist == "uniform":
            return rng.uniform(0.0, 1.0, mu.shape) * (2 * mu)
        return mu  # "trace": the schedule is the demand
