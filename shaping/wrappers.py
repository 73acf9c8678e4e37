"""Potential-based reward shaping (Ng, Harada, Russell 1999), correct by construction.

The shaped reward of a transition ``s -> s'`` is ``r + gamma * Phi(s') - Phi(s)``, with

* ``gamma`` the agent's discount (the wrapper keeps it in ``.gamma`` so agents can check it);
* ``Phi(s') = 0`` when ``s'`` is a true terminal state (``terminated``), so that optimal
  policies are unchanged in episodic tasks with variable lengths (Grzes 2017);
* ``Phi(s')`` kept as is when the episode is only truncated (a time limit is not a terminal
  state: the agent bootstraps there).

The discounted shaped return of an episode therefore telescopes to the unshaped one plus
``gamma^T Phi(s_T) - Phi(s_0)`` (``Phi(s_T) = 0`` at a terminal). ``info["original_reward"]``
keeps the unshaped reward, ``info["shaping"]`` the added term, and at the end of an episode
``info["episode_original"]`` / ``info["episode_shaped"]`` hold both returns and the length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from rlsuite.validation import check_callable, check_real

Potential = Callable[..., float]
"""``Phi(obs)`` or ``Phi(obs, info)`` (e.g. MuJoCo's ``info["x_position"]``)."""


def _arity(fn: Callable[..., Any]) -> int:
    import inspect

    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):  # builtins without a signature
        return 1
    return 2 if len(params) >= 2 else 1


def _check_gamma(gamma: float) -> float:
    """A finite discount in [0, 1] (it must equal the agent's)."""
    return check_real("gamma", gamma, low=0.0, high=1.0)


def _finite_potential(value: Any, what: str = "potential") -> float:
    """One potential (or bonus) value as a float; NaN, inf and non-numbers raise instead of
    reaching the reward."""
    try:
        if isinstance(value, (str, bytes, bool, np.bool_)):  # float("1") would pass silently
            raise TypeError(type(value).__name__)
        v = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"{what}: returned {value!r:.60} ({type(value).__name__}); must be a finite number"
        ) from e
    if not np.isfinite(v):
        raise ValueError(f"{what}: returned {v} for an observation; it must be finite")
    return v


def _finite_potentials(value: Any, n: int) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"potential: returned {value!r:.60}; must be {n} finite numbers") from e
    if v.size != n:
        raise ValueError(f"potential: returned {v.size} values for a batch of {n}; must return one per copy")
    v = v.reshape(n)
    if not np.all(np.isfinite(v)):
        raise ValueError(
            f"potential: returned a non-finite value {v[~np.isfinite(v)][:3]}; it must be finite"
        )
    return v


class PotentialShaping(gym.Wrapper):
    """``env`` with the reward ``r + gamma * Phi(s') - Phi(s)`` (see the module docstring).

    Args:
        env: any Gymnasium env.
        potential: ``Phi(observation) -> float``.
        gamma: the discount of the agent that will learn on the shaped reward.
    """

    def __init__(self, env: gym.Env, potential: Potential, gamma: float) -> None:
        super().__init__(env)
        self.potential = check_callable("potential", potential, "obs -> float")
        self._two_args = _arity(potential) == 2
        self.gamma = _check_gamma(gamma)
        self._phi = 0.0
        self._ret = self._shaped = 0.0
        self._len = 0

    def _value(self, obs: Any, info: dict[str, Any] | None = None) -> float:
        return _finite_potential(self.potential(obs, info or {}) if self._two_args else self.potential(obs))

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._phi = self._value(obs, info)
        self._ret = self._shaped = 0.0
        self._len = 0
        return obs, {**info, "potential": self._phi}

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        phi_next = 0.0 if terminated else self._value(obs, info)
        shaping = self.gamma * phi_next - self._phi
        shaped = float(reward) + shaping
        self._phi = phi_next
        self._ret += float(reward)
        self._shaped += shaped
        self._len += 1
        info = {**info, "original_reward": float(reward), "shaping": shaping, "potential": phi_next}
        if terminated or truncated:
            info["episode_original"] = {"r": self._ret, "l": self._len}
            info["episode_shaped"] = {"r": self._shaped, "l": self._len}
        return obs, shaped, terminated, truncated, info


class VectorPotentialShaping(VectorWrapper):
    """The vector-env form of :class:`PotentialShaping` for ``NEXT_STEP`` and ``SAME_STEP``
    autoreset. ``potential`` maps a batch of observations to ``[num_envs]`` potentials.

    Under ``SAME_STEP`` the potential of a truncated episode's last state is read from
    ``infos["final_obs"]``; under ``NEXT_STEP`` the reset step after an episode gets no shaping.
    ``infos["original_reward"]`` and ``infos["shaping"]`` are arrays over the copies.
    """

    def __init__(self, env: VectorEnv, potential: Callable[[Any], np.ndarray], gamma: float) -> None:
        super().__init__(env)
        self.potential = check_callable("potential", potential, "batch -> [num_envs]")
        self.gamma = _check_gamma(gamma)
        self.mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if self.mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"env: autoreset_mode {self.mode} is not supported; use NEXT_STEP or SAME_STEP")
        n = self.num_envs
        self._phi = np.zeros(n)
        self._resetting = np.zeros(n, dtype=bool)

    def _values(self, obs: Any) -> np.ndarray:
        return _finite_potentials(self.potential(obs), self.num_envs)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._phi = self._values(obs)
        self._resetting[:] = False
        return obs, info

    def step(self, actions: Any):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        phi_obs = self._values(obs)
        done = terminated | truncated
        phi_next = np.where(terminated, 0.0, phi_obs)
        if self.mode == AutoresetMode.SAME_STEP and (truncated & ~terminated).any():
            # obs is already the next episode's first observation: use the final one.
            final = infos["final_obs"]
            idx = np.nonzero(truncated & ~terminated)[0]
            batch = _stack([final[i] for i in idx])
            phi_next[idx] = _finite_potentials(self.potential(batch), len(idx))
        shaping = self.gamma * phi_next - self._phi
        if self.mode == AutoresetMode.NEXT_STEP:
            shaping = np.where(self._resetting, 0.0, shaping)  # the reset step is not a transition
        shaped = rewards + shaping
        # Potential of the state the next transition starts from.
        if self.mode == AutoresetMode.SAME_STEP:
            self._phi = np.where(done, phi_obs, phi_next)
        else:
            self._phi = np.where(self._resetting, phi_obs, phi_next)
            self._resetting = done
        infos = {**infos, "original_reward": rewards, "shaping": shaping}
        return obs, shaped, terminated, truncated, infos


def _stack(items: list[Any]) -> Any:
    if isinstance(items[0], dict):
        return {k: np.stack([it[k] for it in items]) for k in items[0]}
    return np.stack(items)


class DynamicPotentialShaping(PotentialShaping):
    """Time-dependent potentials (Devlin & Kudenko 2012): ``F = gamma * Phi(s', t + 1) - Phi(s, t)``
    with ``potential(obs, t)``; ``Phi = 0`` at true terminals. Optimal policies are preserved as
    for static potentials."""

    def __init__(self, env: gym.Env, potential: Callable[[Any, int], float], gamma: float) -> None:
        self._t = 0
        check_callable("potential", potential, "(obs, t) -> float")
        super().__init__(env, lambda obs, info: potential(obs, self._t), gamma)

    def reset(self, **kwargs: Any):
        self._t = 0
        return super().reset(**kwargs)

    def step(self, action: Any):
        self._t += 1  # the potential of s' is taken at t + 1
        return super().step(action)


class BonusShaping(gym.Wrapper):
    """A plain reward bonus ``r + bonus(obs, action, next_obs)`` that is *not* potential-based,
    for contrast: it can change the optimal policy (an agent may farm the bonus). Keeps
    ``info["original_reward"]`` like the potential wrappers."""

    def __init__(self, env: gym.Env, bonus: Callable[[Any, Any, Any], float]) -> None:
        super().__init__(env)
        self.bonus = check_callable("bonus", bonus, "(obs, action, next_obs) -> float")
        self._obs: Any = None

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return obs, info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        extra = _finite_potential(self.bonus(self._obs, action, obs), "bonus")
        self._obs = obs
        return (
            obs,
            float(reward) + extra,
            terminated,
            truncated,
            {**info, "original_reward": float(reward), "bonus": extra},
        )
