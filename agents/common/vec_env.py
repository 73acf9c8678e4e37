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
        if "original_reward" in info:  # reward shaping: keep the unshaped reward for the logs
            infos["original_reward"] = np.array([info["original_reward"]], dtype=np.float64)
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
