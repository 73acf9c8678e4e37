"""Rollout collection: play the policy in a vector env and fill the model's rollout buffer.

Per vector step: normalize the observation (updating the running statistics), sample actions
(masked by ``action_mask`` when the observation has one), step the env, check the step for
NaN/inf, store it, track episodes, normalize the reward, bootstrap truncations
(``r += gamma * V(final_obs)``; terminations get nothing) and store the ``info`` entries the
algorithm declared in :attr:`OnPolicyAlgorithm.step_infos`. Under ``NEXT_STEP`` autoreset the
step after an episode end only resets its env: it is stored with ``valid = False`` and never
trained on. After ``n_steps`` steps the algorithm's advantage hook runs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch import Tensor

from .buffers import RolloutBuffer
from .callbacks import BaseCallback
from .normalize import RewardNormalizer
from .observations import check_finite_step, first_empty_mask_row, split_masks, torch_dtype
from .policies import MASK_KEY
from .vec_env import original_rewards, step_info

if TYPE_CHECKING:
    from .base import OnPolicyAlgorithm


@dataclass(frozen=True)
class StepInfo:
    """An ``info`` entry the core stores at every step in ``buffer.extras[name]`` (``[n_steps,
    n_envs, ...]``, minibatched with the rest); algorithms declare theirs in
    :attr:`OnPolicyAlgorithm.step_infos` instead of overriding the rollout."""

    name: str
    """Key in ``buffer.extras`` and ``RolloutBatch.extras``."""
    key: str
    """Key in the env's ``info`` (read from ``final_info`` for a finished env under SAME_STEP)."""
    kind: Literal["observation", "reward", "value"]
    """observation: laid out like the (flat Box) observation and normalized with the observation
    statistics, without updating them; reward: one number, 0 on invalid steps, scaled like the stored
    rewards under normalize_reward; value: one number, stored raw."""
    required: bool = True
    """Whether an env that does not report ``key`` is an error (else the entry is 0)."""
    hint: str = ""
    """Appended to the error for a missing required key (which envs report it, where it is documented)."""


@dataclass
class RolloutState:
    """Where collection stands between vector steps and rollouts (``model.rollout``)."""

    last_obs: Any = None
    """The env's current observation (None until the first ``learn`` resets the env)."""
    last_done: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Whether each env's last step ended its episode (under NEXT_STEP its next step only resets)."""
    iteration: int = 0
    """Rollout number within the current ``learn`` (named by error messages)."""


class EpisodeStats:
    """Returns and lengths of the episodes being played, and of the last ``window`` finished ones
    (returns are arrays of ``k`` numbers for a ``k``-objective env)."""

    def __init__(self, window: int) -> None:
        #: ``(return, length)`` of the last finished episodes (SB3's ``ep_info_buffer``).
        self.completed: deque[tuple[Any, int]] = deque(maxlen=window)
        #: Unshaped returns of the last finished episodes, under :mod:`rlsuite.shaping` (else empty).
        self.completed_true: deque[float] = deque(maxlen=window)
        #: ``(true return, length)`` of the episodes the last vector step finished.
        self.step_episodes: list[tuple[Any, int]] = []
        self.reset(1)

    def reset(self, n_envs: int, reward_dim: int = 1) -> None:
        """Forget the episodes in progress (a new start of ``n_envs`` envs)."""
        self.ret = np.zeros((n_envs,) if reward_dim == 1 else (n_envs, reward_dim))
        self.true_ret = np.zeros(n_envs)
        self.length = np.zeros(n_envs, dtype=np.int64)

    def update(self, rewards: np.ndarray, done: np.ndarray, valid: np.ndarray, infos: Any) -> None:
        self.ret += np.where(per_env(valid, rewards), rewards, 0.0)
        true = original_rewards(infos, rewards) if rewards.ndim == 1 else None
        if true is not None:  # reward shaping is on: also track the unshaped return
            self.true_ret += np.where(valid, np.asarray(true, dtype=np.float64), 0.0)
        self.length += valid
        self.step_episodes = []
        for i in np.nonzero(done & valid)[0]:
            ret = float(self.ret[i]) if self.ret.ndim == 1 else self.ret[i].copy()
            self.completed.append((ret, int(self.length[i])))
            if true is not None:
                self.completed_true.append(float(self.true_ret[i]))
                ret = float(self.true_ret[i])
            self.step_episodes.append((ret, int(self.length[i])))
            self.ret[i], self.length[i], self.true_ret[i] = 0.0, 0, 0.0


def per_env(flags: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Per-env ``flags [n]`` shaped to broadcast against ``like`` (``[n]`` or ``[n, k]`` rewards)."""
    return flags.reshape(flags.shape + (1,) * (like.ndim - 1))


def _shape(space: spaces.Space) -> tuple[int, ...]:
    assert space.shape is not None  # the spaces a training env may have all have a shape
    return tuple(space.shape)


def make_rollout_buffer(model: OnPolicyAlgorithm) -> RolloutBuffer:
    """An empty buffer for ``n_steps`` steps of the model's env, with an ``extras`` entry per
    declared step info (``[n_steps, n_envs, *obs_shape]`` for observations, else ``[n_steps, n_envs]``)."""
    space, head, n_steps, n_envs = (
        model.observation_space,
        model.policy.action_head,
        model.config.n_steps,
        model.n_envs,
    )
    assert space is not None
    if isinstance(space, spaces.Dict):
        shapes: Any = {k: _shape(s) for k, s in space.spaces.items()}
        dtypes: Any = {k: torch_dtype(s) for k, s in space.spaces.items()}
    else:
        shapes, dtypes = _shape(space), torch_dtype(space)
    action_dtype = torch.float32 if head.kind == "box" else torch.long
    buf = RolloutBuffer(
        n_steps,
        n_envs,
        shapes,
        dtypes,
        head.action_dim,
        action_dtype,
        head.mask_dim,
        model.device,
        model.reward_dim,
    )
    for spec in model.step_infos:
        shape = buf.obs.shape if spec.kind == "observation" else (n_steps, n_envs)
        buf.extras[spec.name] = torch.zeros(shape, dtype=torch.float32, device=model.device)
    return buf


def start_rollouts(model: OnPolicyAlgorithm, reset_num_timesteps: bool) -> None:
    """Reset the env (seeded on the model's first start) and the episode statistics, unless
    training continues (``reset_num_timesteps=False`` after an earlier ``learn``)."""
    assert model.env is not None
    state = model.rollout
    if not (reset_num_timesteps or state.last_obs is None):
        return
    seed = model.config.seed
    obs, _ = model.env.reset(seed=seed if state.last_obs is None and seed is not None else None)
    if seed is not None:
        model.env.action_space.seed(seed)
    if model.config.check_finite:
        check_finite_step(obs, None, "reset()", model.num_timesteps, state.iteration)
    state.last_obs = obs
    state.last_done = np.zeros(model.n_envs, dtype=bool)
    model.episodes.reset(model.n_envs, model.reward_dim)
    norm = model.reward_normalizer
    if norm is not None and norm.returns.numel() != model.n_envs:
        cfg = model.config
        model.reward_normalizer = RewardNormalizer(model.n_envs, cfg.gamma, cfg.clip_reward, model.device)


@torch.no_grad()
def collect_rollouts(model: OnPolicyAlgorithm, callback: BaseCallback) -> bool:
    """Fill ``model.buffer`` with ``n_steps`` vector steps, then run the advantage hook; False if
    a callback stopped training."""
    buf = model.buffer
    buf.reset()
    callback.on_rollout_start()
    for _ in range(model.config.n_steps):
        rewards, done, infos = _collect_step(model)
        callback.update_locals({"infos": infos, "rewards": rewards, "dones": done})
        if not callback.on_step():
            return False
    obs_t, _ = split_masks(model.obs_to_tensor(model.rollout.last_obs))
    last_values = model.policy.predict_values(model.normalize_obs(obs_t, update=False))
    model.compute_advantages(buf, last_values)
    if tuple(buf.advantages.shape) != (buf.n_steps, buf.n_envs):
        raise ValueError(
            f"{type(model).__name__}.compute_advantages: left advantages of shape "
            f"{tuple(buf.advantages.shape)}; the loss needs one per step, ({buf.n_steps}, {buf.n_envs}). "
            f"With vector rewards (reward_dim={model.reward_dim}) the advantage hook must scalarise them "
            "(e.g. buffer.advantages = buffer.advantages @ weights)"
        )
    callback.on_rollout_end()
    return True


def _collect_step(model: OnPolicyAlgorithm) -> tuple[np.ndarray, np.ndarray, Any]:
    """One vector step into the buffer; returns the env's ``(rewards, done, infos)``."""
    assert model.env is not None
    buf, cfg, head, n = model.buffer, model.config, model.policy.action_head, model.n_envs
    obs_t, masks = split_masks(model.obs_to_tensor(model.rollout.last_obs))
    if masks is not None and (empty := first_empty_mask_row(masks, head.nvec)) is not None:
        raise ValueError(
            f"observation['{MASK_KEY}']: env {empty[0]} allows no action{empty[1]} at "
            f"num_timesteps={model.num_timesteps} (iteration {model.rollout.iteration}); an environment "
            "must leave at least one action allowed"
        )
    obs_n = model.normalize_obs(obs_t, update=True)
    actions, values, log_probs = model.policy(obs_n, action_masks=masks, generator=model.sample_generator)
    env_actions = head.to_env(actions).cpu().numpy()
    if isinstance(model.action_space, spaces.Box):
        env_actions = np.clip(env_actions, model.action_space.low, model.action_space.high)
    new_obs, rewards, terminated, truncated, infos = model.env.step(env_actions)
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.shape != model.buffer.rewards.shape[1:]:
        raise ValueError(
            f"env.step(): got rewards of shape {rewards.shape}; expected "
            f"{tuple(model.buffer.rewards.shape[1:])} (n_envs={n}, reward_dim={model.reward_dim} from "
            "the env's reward_space)"
        )
    if cfg.check_finite:
        check_finite_step(new_obs, rewards, "env.step()", model.num_timesteps + n, model.rollout.iteration)
    terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
    next_step = model.autoreset_mode == AutoresetMode.NEXT_STEP
    valid = ~model.rollout.last_done if next_step else np.ones(n, dtype=bool)
    buf.add(obs_n, actions, values, log_probs, torch.as_tensor(valid, device=model.device), masks)
    done = terminated | truncated
    model.episodes.update(rewards, done, valid, infos)
    r = torch.as_tensor(
        np.where(per_env(valid, rewards), rewards, 0.0), dtype=torch.float32, device=model.device
    )
    done_t = torch.as_tensor(done | ~valid, dtype=torch.float32, device=model.device)
    if model.reward_normalizer is not None:
        r = model.reward_normalizer(r, done_t)
    boot = truncated & ~terminated & valid
    if boot.any():
        r = r + cfg.gamma * final_values(model, new_obs, infos, boot)
    buf.finish_step(r, done_t)
    for spec in model.step_infos:
        store_step_info(model, spec, infos, valid, buf.pos - 1)
    model.num_timesteps += n
    model.rollout.last_obs, model.rollout.last_done = new_obs, done
    return rewards, done, infos


def final_values(model: OnPolicyAlgorithm, new_obs: Any, infos: dict[str, Any], boot: np.ndarray) -> Tensor:
    """V(final observation) for the truncated envs in ``boot`` (0 elsewhere): ``infos["final_obs"]``
    under SAME_STEP autoreset, the step's own observation under NEXT_STEP."""
    idx = np.nonzero(boot)[0]
    batch: dict[str, np.ndarray] | np.ndarray
    if model.autoreset_mode == AutoresetMode.SAME_STEP:
        final = infos["final_obs"]
        if isinstance(model.observation_space, spaces.Dict):
            batch = {k: np.stack([final[i][k] for i in idx]) for k in model.observation_space.spaces}
        else:
            batch = np.stack([final[i] for i in idx])
    elif isinstance(new_obs, dict):
        batch = {k: np.asarray(v)[idx] for k, v in new_obs.items()}
    else:
        batch = np.asarray(new_obs)[idx]
    if model.config.check_finite:
        step = model.num_timesteps + model.n_envs
        source = "env.step() (final observation of a truncation)"
        check_finite_step(batch, None, source, step, model.rollout.iteration)
    obs_t, _ = split_masks(model.obs_to_tensor(batch))
    v = model.policy.predict_values(model.normalize_obs(obs_t, update=False))
    out = torch.zeros((model.n_envs, *v.shape[1:]), device=model.device)
    out[torch.as_tensor(idx, device=model.device)] = v
    return out


def store_step_info(model: OnPolicyAlgorithm, spec: StepInfo, infos: Any, valid: np.ndarray, t: int) -> None:
    """Store ``infos[spec.key]`` of the vector step at ``buffer.extras[spec.name][t]``
    (see :class:`StepInfo`)."""
    buf, n = model.buffer, model.n_envs
    target = buf.extras[spec.name]
    vals = step_info(infos, spec.key, n)
    if vals is None and spec.required and np.any(valid):  # a NEXT_STEP reset step stores nothing
        hint = f" ({spec.hint})" if spec.hint else ""
        raise ValueError(
            f"{type(model).__name__}: the env must report info[{spec.key!r}] at every step{hint}"
        )
    if vals is None:
        vals = np.zeros((n, int(np.prod(target.shape[2:]))))
    source = f"info[{spec.key!r}]"
    step = model.num_timesteps + n
    if spec.kind == "observation":
        if model.config.check_finite:
            check_finite_step(vals, None, source, step, model.rollout.iteration)
        x = torch.as_tensor(vals.reshape(n, *target.shape[2:]), dtype=torch.float32, device=model.device)
        target[t] = model.normalize_obs(x, update=False)
        return
    if vals.shape[1] != 1:
        raise ValueError(f"{source}: got {vals.shape[1]} numbers per env; a {spec.kind} is one number")
    v = np.where(valid, vals[:, 0], 0.0) if spec.kind == "reward" else vals[:, 0]
    if model.config.check_finite:
        check_finite_step(None, v, source, step, model.rollout.iteration)
    if spec.kind == "reward" and model.reward_normalizer is not None:  # same scale as the stored rewards
        v = v / float(torch.sqrt(model.reward_normalizer.rms.var + 1e-8))
    target[t] = torch.as_tensor(v, dtype=torch.float32, device=model.device)
