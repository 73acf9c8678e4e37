"""Episodes and confidence intervals: the one episode loop and the one interval of the suite.

Every evaluation that plays a single env (agents' ``evaluate_policy`` and ``EvalCallback``, the
text experts, the lot-sizing rule, the benchmarks) goes through :func:`run_episode`, and every
reported "mean with a 95% CI" comes from :func:`mean_ci`::

    episodes = run_episodes(gym.make("CartPole-v1"), model, seeds=range(10), deterministic=True)
    mean, half = mean_ci([e.total_reward for e in episodes])      # mean +- half: 95% Student t

Batched simulators keep their batched loops (``rlsuite.evaluate`` on the native inventory vector
env, ``rollout.long_run_cost`` on demand traces) and summarise with :func:`mean_ci` too.
Success rates (a proportion) use the Wilson interval, :func:`proportion_ci`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from rlsuite.validation import check_bool, check_choice, check_int, check_real, check_seed, check_seeds

NAN_POLICIES = ("propagate", "omit", "raise")
"""What :func:`mean_ci` does with NaN or infinite values (SciPy's ``nan_policy`` names)."""


@dataclass(frozen=True)
class Episode:
    """One episode played by :func:`run_episode`."""

    total_reward: float
    """Undiscounted return: the sum of the rewards."""
    length: int
    """Number of ``env.step`` calls."""
    terminated: bool
    """True when the episode ended by termination, False when it was truncated."""
    final_info: dict[str, Any]
    """The ``info`` of the last step (e.g. ``info["won"]`` of the text environments)."""
    observations: list[Any] | None = None
    """With ``record=True``: the observation each action was chosen from, ``length`` of them."""
    actions: list[Any] | None = None
    """With ``record=True``: the actions, as the policy returned them."""
    rewards: np.ndarray | None = None
    """With ``record=True``: the rewards ``[length]`` float64."""
    infos: list[dict[str, Any]] | None = None
    """With ``record=True``: every step's ``info``."""
    final_observation: Any = None
    """With ``record=True``: the observation after the last step (the next observation of the
    last transition, as datasets of transitions need it)."""


PolicyLike = Any
"""A callable ``obs -> action`` or an object with ``predict(obs) -> action or (action, state)``
(an rlsuite agent, a Stable-Baselines3 model, a baseline)."""


def _policy_function(policy: PolicyLike, deterministic: bool | None) -> Callable[[Any], Any]:
    """``obs -> action`` from ``policy``; ``predict`` gets ``deterministic`` only when it is set."""
    if hasattr(policy, "predict"):
        predict = policy.predict
        if deterministic is None:
            call: Callable[[Any], Any] = predict
        else:

            def call(obs: Any) -> Any:
                return predict(obs, deterministic=deterministic)

        def act(obs: Any) -> Any:
            out = call(obs)
            return out[0] if isinstance(out, tuple) else out

        return act
    if callable(policy):
        if deterministic is not None:
            raise ValueError(
                f"deterministic: got {deterministic}; a plain callable policy has no deterministic mode "
                "(leave it None, or pass an object with predict(obs, deterministic=...))"
            )
        return policy
    raise TypeError(
        f"policy: got {type(policy).__name__}; must be a callable obs -> action or an object with "
        "predict(obs)"
    )


def run_episode(
    env: gym.Env,
    policy: PolicyLike,
    seed: int | None = None,
    *,
    deterministic: bool | None = None,
    record: bool = False,
) -> Episode:
    """Play one episode of ``policy`` on ``env`` from ``env.reset(seed=seed)`` until it terminates
    or is truncated.

    Args:
        env: a single (not vector) Gymnasium env with scalar rewards.
        policy: a callable ``obs -> action`` or an object with ``predict(obs)`` returning an action
            or ``(action, state)``.
        seed: the reset seed; None continues the env's own random stream.
        deterministic: passed to ``predict`` as ``deterministic=`` when set; None calls
            ``predict(obs)`` with the policy's own default. Must be None for a plain callable.
        record: also keep the observations, actions, rewards and infos of every step.
    """
    seed = check_seed("seed", seed)
    if deterministic is not None:
        deterministic = check_bool("deterministic", deterministic)
    record = check_bool("record", record)
    if isinstance(env, gym.vector.VectorEnv):
        raise TypeError("env: got a vector env; run_episode plays a single env (gym.make, not make_vec)")
    act = _policy_function(policy, deterministic)
    observations: list[Any] = []
    actions: list[Any] = []
    rewards: list[float] = []
    infos: list[dict[str, Any]] = []
    obs, info = env.reset(seed=seed)
    total, length = 0.0, 0
    terminated = truncated = False
    while not (terminated or truncated):
        action = act(obs)
        if record:
            observations.append(obs)
            actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        value = np.asarray(reward, dtype=np.float64)
        if value.ndim != 0:
            raise ValueError(
                f"reward: got shape {value.shape} at step {length}; run_episode sums scalar rewards "
                "(scalarize a multi-objective env first)"
            )
        r = float(value)
        total += r
        length += 1
        if record:
            rewards.append(r)
            infos.append(info)
    return Episode(
        total_reward=total,
        length=length,
        terminated=bool(terminated),
        final_info=info,
        observations=observations if record else None,
        actions=actions if record else None,
        rewards=np.array(rewards, dtype=np.float64) if record else None,
        infos=infos if record else None,
        final_observation=obs if record else None,
    )


def run_episodes(
    env: gym.Env,
    policy: PolicyLike,
    seeds: Sequence[int],
    *,
    deterministic: bool | None = None,
    record: bool = False,
) -> list[Episode]:
    """One :func:`run_episode` per seed, in order (the same seeds give every policy the same
    starts and the same exogenous randomness)."""
    seeds = check_seeds("seeds", seeds)
    return [run_episode(env, policy, s, deterministic=deterministic, record=record) for s in seeds]


def vector_returns(
    env: gym.Env,
    policy: PolicyLike,
    seeds: Sequence[int],
    *,
    deterministic: bool | None = None,
    gamma: float = 1.0,
) -> np.ndarray:
    """``[len(seeds), k]``: the (``gamma``-discounted; undiscounted by default) sum of a
    multi-objective env's vector rewards over one episode per seed (MO-Gymnasium's API), played like
    :func:`run_episode` (same seeds, same policy calls)."""
    seeds = check_seeds("seeds", seeds)
    gamma = check_real("gamma", gamma, 0.0, 1.0)
    if isinstance(env, gym.vector.VectorEnv):
        raise TypeError("env: got a vector env; vector_returns plays a single env (gym.make, not make_vec)")
    act = _policy_function(policy, deterministic)
    out = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, discount, done = None, 1.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            value = np.asarray(reward, dtype=np.float64).reshape(-1)
            total = discount * value if total is None else total + discount * value
            discount *= gamma
            done = bool(terminated or truncated)
        assert total is not None  # an episode has at least one step
        out.append(total)
    return np.stack(out)


def mean_ci(values: Any, confidence: float = 0.95, *, nan_policy: str = "propagate") -> tuple[float, float]:
    """Mean of ``values`` and the half-width of its Student-t confidence interval:
    ``t_{(1 + confidence) / 2, n - 1} * sd / sqrt(n)`` with the sample standard deviation
    (``ddof=1``), so the interval is ``mean +- half``.

    Args:
        values: a 1-D sequence or array of numbers, at least one.
        confidence: the interval's coverage, in (0, 1).
        nan_policy: ``propagate`` (a NaN or infinite value makes the result NaN or infinite),
            ``omit`` (drop NaN and infinite values first; ``(nan, nan)`` when none is left) or
            ``raise`` (a ``ValueError``).

    With a single value the spread is unknown: the half-width is ``nan`` (not 0).
    """
    confidence = check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    check_choice("nan_policy", nan_policy, NAN_POLICIES)
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"values: got {type(values).__name__}; must be a 1-D sequence of numbers") from e
    if x.ndim != 1:
        raise ValueError(f"values: got shape {x.shape}; must be a 1-D sequence of numbers")
    if x.size == 0:
        raise ValueError("values: got an empty sequence; need at least one value")
    finite = np.isfinite(x)
    if not finite.all():
        if nan_policy == "raise":
            raise ValueError(f"values: got {int((~finite).sum())} NaN or infinite values of {x.size}")
        if nan_policy == "omit":
            x = x[finite]
            if x.size == 0:
                return float("nan"), float("nan")
    mean = float(x.mean())
    if x.size == 1:
        return mean, float("nan")
    from scipy import stats

    t = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1))
    return mean, t * float(x.std(ddof=1)) / math.sqrt(x.size)


def proportion_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` of a success rate ``successes / n``: it stays inside
    [0, 1] and keeps its coverage at rates near 0 or 1, where the normal interval does not."""
    n = check_int("n", n, low=1)
    successes = check_int("successes", successes, low=0, high=n)
    confidence = check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)
