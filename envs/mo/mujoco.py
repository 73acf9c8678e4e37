"""MuJoCo multi-objective tasks through MO-Gymnasium (extra ``mo``; the tasks also need ``mujoco``).

``make_mo(env_id)`` builds an MO-Gymnasium env and exposes its ``reward_space`` (and ``reward_dim``)
on the outermost wrapper. Gymnasium 1.x wrappers no longer forward attributes, so
``mo_gymnasium.make("mo-hopper-v5").reward_space`` raises ``AttributeError`` (the ``TimeLimit``
hides it); :class:`ExposeRewardSpace` puts it back.

The tasks rlsuite tests and benchmarks (:data:`MO_MUJOCO_IDS`), with MO-Gymnasium 1.3's reward
vectors (``info`` is Gymnasium's ``Hopper-v5`` / ``HalfCheetah-v5`` info):

- ``mo-hopper-2obj-v5`` (2 objectives): ``(x_velocity + reward_ctrl + reward_survive,
  10 * z_distance_from_origin + reward_ctrl + reward_survive)``; the first entry is ``Hopper-v5``'s
  reward.
- ``mo-hopper-v5`` (3 objectives): ``(x_velocity + reward_survive, 10 * z_distance_from_origin +
  reward_survive, -sum(action^2) + reward_survive)``.
- ``mo-halfcheetah-v5`` (2 objectives): ``(x_velocity, -sum(action^2))``; ``HalfCheetah-v5``'s
  reward is ``r_0 + 0.1 r_1``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces

from rlsuite.validation import ArgumentTypeError, short_repr

MO_MUJOCO_IDS: tuple[str, ...] = ("mo-hopper-2obj-v5", "mo-hopper-v5", "mo-halfcheetah-v5")
"""The MuJoCo MO tasks covered by rlsuite's tests (2, 3 and 2 objectives); :func:`make_mo` accepts
any MO-Gymnasium id."""
_EXTRA_HINT = 'pip install "rlsuite[mo]"'


def _import_mo_gymnasium() -> Any:
    try:
        import mo_gymnasium
    except ImportError as e:
        raise ImportError(f"the MuJoCo multi-objective tasks need mo-gymnasium: {_EXTRA_HINT}") from e
    return mo_gymnasium


class ExposeRewardSpace(gym.Wrapper):
    """Exposes the unwrapped env's ``reward_space`` (and ``reward_dim``) on this wrapper; observations,
    actions and rewards pass through unchanged."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = getattr(env.unwrapped, "reward_space", None)
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(
                f"env: got {env}, whose unwrapped env has reward_space {space!r}; must be a "
                "multi-objective env with a reward_space Box of shape (k,)"
            )
        self.reward_space: spaces.Box = space
        self.reward_dim = int(space.shape[0])


def make_mo(env_id: str, **kwargs: Any) -> ExposeRewardSpace:
    """``mo_gymnasium.make(env_id, **kwargs)`` (Gymnasium's env checker off, as MO-Gymnasium does: it
    would warn on every vector reward) wrapped in :class:`ExposeRewardSpace`.

    Raises ``ImportError`` naming the extra when mo-gymnasium (or MuJoCo, for its MuJoCo tasks) is
    missing, ``ValueError`` for an id MO-Gymnasium does not register or an env without a
    ``reward_space``."""
    if not isinstance(env_id, str):
        raise ArgumentTypeError(f"env_id: got {short_repr(env_id)}; must be an MO-Gymnasium id string")
    mo_gymnasium = _import_mo_gymnasium()
    if env_id not in gym.registry:
        known = sorted(k for k in gym.registry if k.startswith("mo-") and k.endswith("-v5"))
        raise ValueError(
            f"env_id: got {env_id!r}; not a registered id; MO-Gymnasium's MuJoCo v5 ids: {known}"
        )
    try:
        env = mo_gymnasium.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise ImportError(f'{env_id} needs MuJoCo: pip install "rlsuite[mo,mujoco]" ({e})') from e
    try:
        return ExposeRewardSpace(env)
    except ValueError:
        env.close()
        raise


__all__ = ["MO_MUJOCO_IDS", "ExposeRewardSpace", "make_mo"]
