"""A one-copy vector env over a single ``gymnasium.Env`` with ``SAME_STEP`` autoreset.

Gymnasium's ``SyncVectorEnv`` is general (any number of copies, space-generic batching); for the
common one-env case this adapter does the same job with a fraction of the per-step overhead.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


def _batch(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _batch(v) for k, v in x.items()}
    return np.asarray(x)[None]


def step_info(infos: Any, key: str, n_envs: int) -> np.ndarray | None:
    """``infos[key]`` of a vector step as an array ``[n_envs, ...]`` (None when no env reported it).
    Under ``SAME_STEP`` autoreset a finished env's step info is in ``infos["final_info"]`` (its
    ``infos`` entry belongs to the new episode's reset), so it is read from there. Envs that did not
    report ``key`` get zeros."""
    if not isinstance(infos, dict):
        return None
    vals: np.ndarray | None = None
    has = np.zeros(n_envs, dtype=bool)
    if key in infos:
        vals = np.array(infos[key], dtype=np.float64).reshape(n_envs, -1)
        has = np.asarray(infos.get("_" + key, np.ones(n_envs, bool)), bool).reshape(n_envs)
    final = infos.get("final_info")
    if isinstance(final, dict) and key in final:
        fv = np.asarray(final[key], dtype=np.float64)
        if fv.size % n_envs == 0:
            fv = fv.reshape(n_envs, -1)
            fm = np.asarray(final.get("_" + key, np.ones(n_envs, bool)), bool).reshape(n_envs)
            vals = np.zeros_like(fv) if vals is None else vals
            vals[fm] = fv[fm]
            has = has | fm
    if vals is None:
        return None
    vals[~has] = 0.0
    return vals


def original_rewards(infos: Any, rewards: np.ndarray) -> np.ndarray | None:
    """The unshaped rewards of a vector step when the envs are wrapped by :mod:`rlsuite.shaping`
    (``info["original_reward"]``), else None; envs without one keep their reward."""
    rewards = np.asarray(rewards, dtype=np.float64)
    n = rewards.shape[0]
    vals = step_info(infos, "original_reward", n)
    if vals is None:
        return None
    has = np.zeros(n, dtype=bool)
    if "original_reward" in infos:
        has |= np.asarray(infos.get("_original_reward", np.ones(n, bool)), bool).reshape(n)
    final = infos.get("final_info")
    if isinstance(final, dict) and "original_reward" in final:
        has |= np.asarray(final.get("_original_reward", np.ones(n, bool)), bool).reshape(n)
    return np.where(has, vals[:, 0], rewards)


class SingleEnvVector(VectorEnv):
    """``env`` as a vector env of one copy; on an episode end it resets at once and puts the
    last observation in ``infos["final_obs"]`` (Gymnasium's ``SAME_STEP`` contract)."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self.num_envs = 1
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, 1)
        self.action_space = batch_space(env.action_space, 1)
        self.metadata = {**getattr(env, "metadata", {}), "autoreset_mode": AutoresetMode.SAME_STEP}
        self.render_mode = getattr(env, "render_mode", None)
        self._mask = np.ones(1, bool)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if isinstance(seed, (list, tuple)):
            seed = seed[0]
        obs, _ = self.env.reset(seed=seed, options=options)
        return _batch(obs), {}

    def step(self, actions: Any):
        obs, reward, terminated, truncated, info = self.env.step(actions[0])
        infos: dict[str, Any] = {}
        for key, value in info.items():  # numeric entries, batched (e.g. original_reward, post_decision_obs)
            if isinstance(value, (int, float, np.number, np.ndarray)) and not isinstance(value, bool):
                infos[key] = np.asarray(value)[None]
                infos["_" + key] = self._mask
        if terminated or truncated:
            final = np.empty(1, dtype=object)
            final[0] = obs
            infos.update({"final_obs": final, "_final_obs": self._mask, "final_info": info})
            obs, _ = self.env.reset()
        return (
            _batch(obs),
            np.array([reward], dtype=np.float64),
            np.array([terminated]),
            np.array([truncated]),
            infos,
        )

    def close(self, **kwargs: Any) -> None:
        self.env.close()
