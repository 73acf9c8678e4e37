"""The environments an agent trains on, as Gymnasium vector envs.

:func:`make_vec_env` turns what a user passes (an id, a ``gymnasium.Env`` or a vector env) into
a vector env, and :func:`check_training_env` checks that it fits a model. For the common one-env
case, :class:`SingleEnvVector` does the job of Gymnasium's ``SyncVectorEnv`` (general: any number
of copies, space-generic batching) with a fraction of the per-step overhead.
"""

from __future__ import annotations

import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .spaces import spaces_equal


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


def reward_dim(env: Any) -> int:
    """Objectives per reward: ``k`` for a multi-objective env (MO-Gymnasium's API: a
    ``reward_space`` Box of shape ``(k,)`` and vector rewards; on a vector env
    ``single_reward_space`` or ``reward_space`` of one copy), else 1."""
    space = getattr(env, "single_reward_space", None)
    if space is None:
        space = getattr(env, "reward_space", None)
    if space is None and isinstance(env, gym.Env):
        space = getattr(env.unwrapped, "reward_space", None)
    if space is None:
        return 1
    if not isinstance(space, spaces.Box) or len(space.shape) != 1 or space.shape[0] < 1:
        raise ValueError(f"env.reward_space: got {space!r}; must be a Box of shape (k,) with k >= 1")
    return int(space.shape[0])


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
        if reward_dim(env) > 1:  # multi-objective env: vector rewards ``[1, k]``
            self.single_reward_space = env.unwrapped.reward_space  # type: ignore[attr-defined]
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


def make_vec_env(env: gym.Env | VectorEnv | str, n_envs: int) -> VectorEnv:
    """``env`` as a vector env: an id becomes ``n_envs`` copies (our native batched env when the id
    has one, else ``SAME_STEP`` sync copies), a ``gymnasium.Env`` one copy, a vector env itself."""
    if isinstance(env, str):
        spec = gym.spec(env)
        native = spec.vector_entry_point is not None and str(spec.vector_entry_point).startswith("rlsuite")
        if native:  # our batched envs: one tensor step for every copy
            return gym.make_vec(env, num_envs=n_envs, vectorization_mode="vector_entry_point")
        if n_envs == 1:
            return SingleEnvVector(gym.make(env))
        venv = gym.make_vec(
            env,
            num_envs=n_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        )
        return with_vector_rewards(venv)
    if isinstance(env, VectorEnv):
        return env
    if isinstance(env, gym.Env):
        return SingleEnvVector(env)
    raise ValueError(f"env: got {type(env).__name__}; expected an id, a gymnasium.Env or a VectorEnv")


def with_vector_rewards(venv: VectorEnv) -> VectorEnv:
    """Gymnasium's ``SyncVectorEnv`` of copies of a multi-objective env (MO-Gymnasium's API), with
    rewards ``[num_envs, k]``: its reward array is made 2-D (it stores each copy's reward by row)
    and ``single_reward_space`` set. Other vector envs are returned unchanged."""
    if not isinstance(venv, gym.vector.SyncVectorEnv):
        return venv
    k = reward_dim(venv.envs[0])
    if k > 1:
        venv._rewards = np.zeros((venv.num_envs, k), dtype=np.float64)
        venv.single_reward_space = venv.envs[0].unwrapped.reward_space  # type: ignore[attr-defined]
    return venv


def check_training_env(
    venv: VectorEnv,
    observation_space: spaces.Space | None,
    action_space: spaces.Space | None,
    rollout_steps: int,
    batch_size: int,
    gamma: float,
) -> AutoresetMode:
    """Check that ``venv`` fits a model: the model's spaces (when it has some), a supported
    observation space and autoreset mode, a rollout (``rollout_steps * num_envs``) of at least
    ``batch_size``; warn on a shaping wrapper with another discount. Returns the autoreset mode."""
    obs_space, act_space = venv.single_observation_space, venv.single_action_space
    if observation_space is not None and not (
        spaces_equal(obs_space, observation_space) and spaces_equal(act_space, action_space)
    ):
        raise ValueError(
            f"env: spaces differ from the model's: observation {obs_space} vs {observation_space}, "
            f"action {act_space} vs {action_space}"
        )
    if not isinstance(obs_space, (spaces.Box, spaces.Dict, spaces.Discrete)):
        raise ValueError(
            f"observation_space: {type(obs_space).__name__} is not supported; allowed: Box, Discrete, Dict"
        )
    mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(f"env: autoreset_mode {mode} is not supported; use NEXT_STEP or SAME_STEP")
    if rollout_steps * venv.num_envs < batch_size:
        raise ValueError(
            f"batch_size: got {batch_size}, larger than the rollout "
            f"n_steps * n_envs = {rollout_steps} * {venv.num_envs}"
        )
    check_shaping_gamma(venv, gamma)
    return mode


def check_shaping_gamma(env: Any, gamma: float) -> None:
    """Warn when a potential-based shaping wrapper uses another discount than the agent's:
    shaping then changes which policy is optimal."""
    seen = 0
    while env is not None and seen < 64:
        g = getattr(env, "gamma", None) if type(env).__name__.endswith("PotentialShaping") else None
        if g is not None and abs(float(g) - gamma) > 1e-12:
            warnings.warn(
                f"gamma: the agent discounts with {gamma} but {type(env).__name__} shapes with "
                f"gamma={g}; potential-based shaping preserves the optimal policy only when they are "
                "equal (pass the agent's gamma to the wrapper)",
                UserWarning,
                stacklevel=4,
            )
            return
        env = getattr(env, "env", None)
        seen += 1
