"""Observations and action masks as tensors: conversion, and the checks made where they enter.

``predict``'s input is checked against the observation space (shape, keys, numeric dtype, finite
values, range) and its masks against the action head (shape, 0/1 values, at least one allowed
action per row). During ``learn`` (``check_finite=True``) each env step is checked for NaN/inf
before it reaches the rollout buffer, by :func:`check_finite_step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from rlsuite.validation import check_bool

from .policies import MASK_KEY
from .validation import NonFiniteError


def obs_to_tensor(obs: Any, device: torch.device) -> Any:
    """An observation (array, or dict of arrays) as tensors on ``device``; floating point as
    float32, integers and booleans kept. Unchecked: for observations an env produced."""
    if isinstance(obs, dict):
        return {k: obs_to_tensor(v, device) for k, v in obs.items()}
    if isinstance(obs, np.ndarray) and not obs.flags.writeable:
        obs = obs.copy()  # a read-only array (a dataset's): torch would share it and warn
    t = torch.as_tensor(obs, device=device)
    if t.is_floating_point():
        t = t.float()
    return t


def split_masks(obs: Any) -> tuple[Any, Tensor | None]:
    """``(obs, masks)``: the ``action_mask`` entry of a Dict observation as booleans, or None."""
    if isinstance(obs, dict) and MASK_KEY in obs:
        return obs, obs[MASK_KEY].bool()
    return obs, None


def torch_dtype(space: spaces.Space) -> torch.dtype:
    """The rollout buffer's dtype for observations of ``space``."""
    if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating):
        return torch.float32
    if isinstance(space, spaces.Box):
        return torch.float32 if space.dtype != np.bool_ else torch.bool
    if isinstance(space, spaces.MultiBinary):
        return torch.bool
    return torch.long


def numeric_tensor(name: str, value: Any) -> Tensor:
    """``value`` as a CPU or device tensor, rejecting non-numeric data (strings, objects, ragged lists)."""
    if isinstance(value, Tensor):
        if value.is_complex():
            raise TypeError(f"{name}: got a complex tensor; must be real numbers")
        return value
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name}: not a rectangular array ({e})") from e
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: got values of dtype {arr.dtype}; must be numbers (or booleans)")
    if not arr.flags.writeable:
        arr = arr.copy()  # a read-only array (a dataset's): torch would share it and warn
    return torch.as_tensor(arr)


def observation_leaf(
    name: str, value: Any, space: spaces.Space, device: torch.device
) -> tuple[Tensor, int | None]:
    """One (non-Dict) observation entry checked against ``space``: shape ``space.shape`` (single) or
    ``(batch, *space.shape)``, finite, and in range for Discrete and integer Box spaces."""
    t = numeric_tensor(name, value)
    shape = tuple(space.shape or ())
    if tuple(t.shape) == shape:
        n = None
    elif t.dim() == len(shape) + 1 and tuple(t.shape[1:]) == shape:
        n = int(t.shape[0])
    else:
        batched = ", ".join(["batch", *map(str, shape)])
        raise ValueError(f"{name}: got shape {tuple(t.shape)}; expected {shape} or ({batched})")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or inf; observations must be finite")
    if isinstance(space, spaces.Discrete):
        lo, hi = int(space.start), int(space.start) + int(space.n) - 1
        fractional = t.is_floating_point() and not bool((t == t.round()).all())
        if t.numel() and (fractional or t.min() < lo or t.max() > hi):
            raise ValueError(f"{name}: Discrete observations must be integers in [{lo}, {hi}]")
    elif isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.integer) and t.numel():
        low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
        if ((t < low) | (t > high)).any():
            raise ValueError(
                f"{name}: values outside the space's bounds [{space.low.min()}, {space.high.max()}]"
            )
    t = t.to(device)
    return (t.float() if t.is_floating_point() else t), n


def check_observation(observation: Any, space: spaces.Space, device: torch.device) -> tuple[Any, int | None]:
    """``predict``'s input as tensors on ``device``, and its batch size (None: one observation)."""
    if not isinstance(space, spaces.Dict):
        return observation_leaf("observation", observation, space, device)
    if not isinstance(observation, Mapping):
        raise TypeError(
            f"observation: got {type(observation).__name__}; the observation space is a Dict, "
            f"pass a dict with keys {list(space.spaces)}"
        )
    missing = [k for k in space.spaces if k not in observation]
    extra = [k for k in observation if k not in space.spaces]
    if missing or extra:
        raise ValueError(
            f"observation: missing keys {missing}, unexpected keys {extra}; "
            f"expected keys {list(space.spaces)}"
        )
    out: dict[str, Tensor] = {}
    batch: list[int | None] = []
    for key, sub in space.spaces.items():
        out[key], n = observation_leaf(f"observation[{key!r}]", observation[key], sub, device)
        if batch and n != batch[0]:
            first = next(iter(space.spaces))
            raise ValueError(
                f"observation[{key!r}]: batch size {n} differs from observation[{first!r}]'s {batch[0]} "
                "(None: a single observation)"
            )
        batch.append(n)
    return out, batch[0]


def check_masks(masks: Any, head: Any, n_rows: int | None, name: str, device: torch.device) -> Tensor:
    """Masks ``[rows, mask_dim]`` (bool) for the action head ``head`` from 0/1 or boolean values of
    shape ``(mask_dim,)`` or ``(rows, mask_dim)``; every component keeps at least one allowed action."""
    dim = head.mask_dim
    if dim == 0:
        raise ValueError(f"{name}: {head.kind.capitalize()} actions cannot be masked")
    t = numeric_tensor(name, masks)
    rows = 1 if n_rows is None else n_rows
    if tuple(t.shape) not in ((dim,), (rows, dim)):
        expected = f"({dim},)" if n_rows is None else f"({rows}, {dim})"
        raise ValueError(f"{name}: got shape {tuple(t.shape)}; expected {expected} (one entry per action)")
    if t.dtype != torch.bool:
        if not ((t == 0) | (t == 1)).all():
            raise ValueError(f"{name}: values must be booleans or 0/1 (True/1 = allowed)")
        t = t != 0
    t = t.reshape(-1, dim)
    empty = first_empty_mask_row(t, head.nvec)
    if empty is not None:
        row, part = empty
        raise ValueError(f"{name}: row {row} allows no action{part}; at least one must be True")
    return t.to(device)


def first_empty_mask_row(masks: Tensor, nvec: list[int]) -> tuple[int, str] | None:
    """``(row, " in action component i")`` of the first mask row that allows no action in some
    component of sizes ``nvec`` (all-False masks would make the policy sample a forbidden action)."""
    for i, chunk in enumerate(torch.split(masks, nvec, dim=1)):
        empty = ~chunk.any(1)
        if empty.any():
            return int(torch.nonzero(empty)[0, 0]), "" if len(nvec) == 1 else f" in action component {i}"
    return None


def non_finite_observation(obs: Any, name: str = "observation") -> str | None:
    """Where ``obs`` (array, tensor or dict of them) first holds NaN/inf, or None (fast when finite)."""
    if isinstance(obs, dict):
        for k, v in obs.items():
            found = non_finite_observation(v, f"observation[{k!r}]")
            if found is not None:
                return found
        return None
    if isinstance(obs, Tensor):
        if not obs.is_floating_point() or bool(torch.isfinite(obs).all()):
            return None
        arr = obs.detach().cpu().numpy()
    else:
        arr = obs if isinstance(obs, np.ndarray) else np.asarray(obs)
        if arr.dtype.kind != "f" or np.isfinite(arr).all():
            return None
    env = int(np.nonzero((~np.isfinite(arr.reshape(arr.shape[0], -1))).any(1))[0][0]) if arr.ndim else 0
    return f"{name} (env {env})"


def check_finite_step(
    obs: Any, rewards: np.ndarray | None, source: str, timestep: int, iteration: int
) -> None:
    """Raise :class:`NonFiniteError` naming the step when ``obs`` or ``rewards`` hold NaN/inf."""
    if rewards is not None and not np.isfinite(rewards).all():
        env = int(np.nonzero(~np.isfinite(rewards))[0][0])
        what: str | None = f"reward {rewards[env]} (env {env})"
    else:
        what = non_finite_observation(obs)
        if what is None:
            return
    raise NonFiniteError(
        f"learn: non-finite {what} from {source} at num_timesteps={timestep} (iteration "
        f"{iteration}), before it reached the rollout buffer; check the environment, "
        "or pass check_finite=False to turn this check off"
    )


def finite_report(info: dict[str, Any]) -> str:
    """The minibatch statistics, non-finite ones first (which part of the loss broke)."""
    bad = [k for k, v in info.items() if not math.isfinite(float(v))]
    return ", ".join(f"{k}={float(info[k])}" for k in [*bad, *(k for k in info if k not in bad)])


def predict_actions(
    policy: Any,
    observation: Any,
    observation_space: spaces.Space,
    action_space: spaces.Space,
    device: torch.device,
    deterministic: bool,
    action_masks: Any,
    normalize: Callable[[Any], Any],
    generator: torch.Generator | None,
) -> np.ndarray:
    """``predict``'s work for every agent with an ``ActorCriticPolicy``-like ``policy`` (``act`` and
    ``action_head``): check the observation and the masks (an ``action_mask`` key or
    ``action_masks``), normalize, act, convert to the env's action (clipped to a Box). One
    observation gives one action, a batch a batch."""
    deterministic = check_bool("deterministic", deterministic)
    obs, n_rows = check_observation(observation, observation_space, device)
    single = n_rows is None
    if single:
        obs = {k: v.unsqueeze(0) for k, v in obs.items()} if isinstance(obs, dict) else obs.unsqueeze(0)
    obs, masks = split_masks(obs)
    head = policy.action_head
    if masks is not None:
        masks = check_masks(obs[MASK_KEY], head, n_rows, f"observation[{MASK_KEY!r}]", device)
    if action_masks is not None:
        masks = check_masks(action_masks, head, n_rows, "action_masks", device)
    with torch.no_grad():
        actions = policy.act(normalize(obs), deterministic, masks, generator)
    out = head.to_env(actions).cpu().numpy()
    if isinstance(action_space, spaces.Box):
        out = np.clip(out, action_space.low, action_space.high)
    return out[0] if single else out


class PredictMixin:
    """SB3's ``predict`` for the agents whose policy has ``act`` and ``action_head`` (the on-policy
    and the offline agents): :func:`predict_actions` with the agent's ``normalize_obs``."""

    policy: Any
    observation_space: spaces.Space | None
    action_space: spaces.Space | None
    device: torch.device
    sample_generator: torch.Generator

    def obs_to_tensor(self, observation: Any) -> Any:
        """An observation from the env (array, or dict of arrays; one or a batch) as tensors on the
        model's device, floating point as float32, without checks (``predict`` checks its input).
        Normalization is not applied: see :meth:`normalize_obs`."""
        return obs_to_tensor(observation, self.device)

    def normalize_obs(self, obs: Any, update: bool = False) -> Any:
        """``obs`` as the policy sees it (unchanged unless the agent normalizes observations)."""
        return obs

    @torch.no_grad()
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        action_masks: Any = None,
    ) -> tuple[np.ndarray, None]:
        """Actions for one observation or a batch, like SB3 (``state`` is unused: no recurrence).
        Masks come from an ``action_mask`` observation key or ``action_masks``.

        The observation is checked against the observation space (shape, keys, numeric dtype,
        finite values; ``ValueError`` / ``TypeError`` naming the key), and masks against the
        action space (shape, 0/1 values, at least one allowed action per row)."""
        if self.observation_space is None or self.action_space is None:
            raise ValueError("predict: the model has no spaces yet (build it with an env or a dataset)")
        self.policy.eval()
        actions = predict_actions(
            self.policy,
            observation,
            self.observation_space,
            self.action_space,
            self.device,
            deterministic,
            action_masks,
            self.normalize_obs,
            self.sample_generator,
        )
        return actions, None
