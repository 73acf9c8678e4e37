"""Grouped episodes: N rollouts of the same instance and their outcome advantages.

The seam for group-relative methods (GRPO, RLOO, Dr.GRPO, GBPO, OPRL): a vector env of
``n_groups * group_size`` copies is reset with :func:`rlsuite.envs.text.group_seeds`, so each
consecutive block of ``group_size`` copies plays the same instance; every copy plays exactly one
episode; each episode's outcome (its return) is compared with the others of its group, and the
episode's advantage is broadcast to all of its steps (or, for a language-model policy, to all
tokens of those steps). No critic is involved.

* :func:`collect_grouped_episodes` plays the episodes with any policy given as a step function
  and records whatever that function returns per step (log-probabilities, token ids, ...).
* :func:`group_advantages` turns per-episode returns into per-episode advantages.
* :meth:`GroupedEpisodes.step_advantages` broadcasts them to the recorded steps.

Conventions (verl / TRL): the group standard deviation is the unbiased one (``ddof=1``); a group
of one episode has mean 0 and standard deviation 1 (its GRPO advantage is its own return).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from rlsuite.validation import check_choice, check_int, check_real, check_seed

#: Outcome-advantage estimators: GRPO (Shao et al. 2024), RLOO (Ahmadian et al. 2024),
#: Dr.GRPO (Liu et al. 2025: GRPO without the division by the group's standard deviation).
GROUP_ADVANTAGES = ("grpo", "rloo", "drgrpo")

#: ``step_fn(obs, active) -> (env_actions, record)``: ``obs`` is the vector env's batched
#: observation, ``active`` a bool array of the copies still playing their episode; ``record`` maps
#: names to per-copy arrays/tensors (leading dimension ``num_envs``) kept for the active copies.
StepFn = Callable[[Any, np.ndarray], tuple[np.ndarray, Mapping[str, Any]]]


def group_advantages(
    returns: Tensor | np.ndarray, group_size: int, method: str = "grpo", eps: float = 1e-6
) -> Tensor:
    """Per-episode advantages from per-episode returns laid out group after group
    (``returns[g * group_size + i]`` is episode ``i`` of group ``g``).

    * ``"grpo"``: ``(R_i - mean_g R) / (std_g R + eps)``;
    * ``"rloo"``: ``R_i - mean_{j != i} R_j = N / (N - 1) * (R_i - mean_g R)``;
    * ``"drgrpo"``: ``R_i - mean_g R``.

    A group of one episode has mean 0 and std 1 (GRPO/Dr.GRPO return ``R_i`` itself; RLOO has no
    other episode to compare with and returns ``R_i``).
    """
    group_size = check_int("group_size", group_size, 1)
    check_choice("method", method, GROUP_ADVANTAGES)
    eps = check_real("eps", eps, low=0.0)
    r = torch.as_tensor(returns, dtype=torch.float64)
    if r.ndim != 1 or r.numel() == 0 or r.numel() % group_size:
        raise ValueError(
            f"returns: got shape {tuple(r.shape)}; must be one non-empty row whose length is a multiple "
            f"of group_size={group_size}"
        )
    if not torch.isfinite(r).all():
        raise ValueError("returns: contains NaN or inf; group advantages need finite returns")
    g = r.reshape(-1, group_size)
    if group_size == 1:
        return r.clone()
    mean = g.mean(dim=1, keepdim=True)
    if method == "grpo":
        adv = (g - mean) / (g.std(dim=1, keepdim=True) + eps)
    elif method == "rloo":
        adv = (g - mean) * (group_size / (group_size - 1))
    else:
        adv = g - mean
    return adv.reshape(-1)


@dataclass
class GroupedEpisodes:
    """Episodes played group by group (see the module docstring).

    Episode ``e`` is copy ``e`` of the vector env and belongs to group ``e // group_size``.
    Step rows are in play order (time-major over the copies still playing).
    """

    n_groups: int
    group_size: int
    #: Seed of each episode's reset (equal within a group).
    seeds: np.ndarray
    #: Undiscounted return of each episode, ``[n_episodes]``.
    returns: np.ndarray
    #: Number of recorded steps of each episode, ``[n_episodes]``.
    lengths: np.ndarray
    #: Whether each episode ended by termination (False: truncated or cut at ``max_steps``).
    terminated: np.ndarray
    #: Episode of each recorded step, ``[n_steps]``.
    episode_of_step: np.ndarray
    #: Time index of each step within its episode, ``[n_steps]``.
    step_in_episode: np.ndarray
    #: Per-step data: ``"obs"``, ``"actions"``, ``"rewards"`` and every name ``step_fn`` recorded,
    #: each with a leading ``n_steps`` dimension (dict observations stay dicts of arrays).
    steps: dict[str, Any] = field(default_factory=dict)
    #: Numeric and boolean ``info`` entries of each episode's last step, ``[n_episodes]`` each
    #: (e.g. the text envs' ``"won"``); NaN where an episode's last step did not report the key.
    final_infos: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_episodes(self) -> int:
        return self.n_groups * self.group_size

    @property
    def group_ids(self) -> np.ndarray:
        """Group of each episode, ``[n_episodes]``."""
        return np.arange(self.n_episodes) // self.group_size

    def advantages(self, method: str = "grpo", eps: float = 1e-6) -> Tensor:
        """Per-episode outcome advantages (:func:`group_advantages` of :attr:`returns`)."""
        return group_advantages(self.returns, self.group_size, method, eps)

    def step_advantages(self, method: str = "grpo", eps: float = 1e-6) -> Tensor:
        """Each step's advantage: its episode's outcome advantage, ``[n_steps]``."""
        return self.advantages(method, eps)[torch.as_tensor(self.episode_of_step)]


def collect_grouped_episodes(
    envs: gym.vector.VectorEnv,
    step_fn: StepFn,
    group_size: int,
    seed: int,
    max_steps: int = 1000,
) -> GroupedEpisodes:
    """Play one episode on every copy of ``envs`` (``num_envs = n_groups * group_size``), the copies
    of a group reset with the same seed (``seed + g`` for group ``g``), and record every step
    until the copy's episode ends (or ``max_steps`` steps have been taken: cut, not terminated).

    The steps a copy takes after its episode ended (the vector env's autoreset) are neither
    recorded nor counted: any autoreset mode works.
    """
    from rlsuite.envs.text.protocol import group_seeds

    if not isinstance(envs, gym.vector.VectorEnv):
        raise TypeError(f"envs: got {type(envs).__name__}; must be a gymnasium.vector.VectorEnv")
    group_size = check_int("group_size", group_size, 1)
    seed = check_seed("seed", seed)
    max_steps = check_int("max_steps", max_steps, 1)
    n = envs.num_envs
    if n % group_size:
        raise ValueError(f"group_size: got {group_size}; must divide the vector env's num_envs={n}")
    if not callable(step_fn):
        raise TypeError(f"step_fn: got {type(step_fn).__name__}; must be callable (obs, active) -> ...")
    n_groups = n // group_size
    seeds = np.asarray(group_seeds(seed, n_groups, group_size), dtype=np.int64)
    # Gymnasium's vector envs take a list of seeds; VectorEnv.reset is annotated seed: int | None.
    obs, _ = envs.reset(seed=[int(s) for s in seeds])  # type: ignore[arg-type]
    active = np.ones(n, dtype=bool)
    returns, lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
    terminated_ep = np.zeros(n, dtype=bool)
    rows: dict[str, list[Any]] = {}
    episode_of_step: list[np.ndarray] = []
    step_in_episode: list[np.ndarray] = []
    final_infos: dict[str, np.ndarray] = {}
    for _ in range(max_steps):
        idx = np.nonzero(active)[0]
        actions, record = step_fn(obs, active.copy())
        actions = np.asarray(actions)
        if actions.shape[:1] != (n,):
            raise ValueError(f"step_fn: returned actions of shape {actions.shape}; expected ({n}, ...)")
        new_obs, rewards, term, trunc, infos = envs.step(actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        _append(rows, "obs", obs, idx)
        _append(rows, "actions", actions, idx)
        _append(rows, "rewards", rewards, idx)
        for name, value in record.items():
            if name in ("obs", "actions", "rewards"):
                raise ValueError(f"step_fn: record name {name!r} is reserved (obs, actions, rewards)")
            _append(rows, name, value, idx)
        episode_of_step.append(idx)
        step_in_episode.append(lengths[idx].copy())
        returns[idx] += rewards[idx]
        lengths[idx] += 1
        done = (np.asarray(term, bool) | np.asarray(trunc, bool)) & active
        terminated_ep |= np.asarray(term, bool) & active
        _record_final_infos(final_infos, infos, done, n)
        active &= ~done
        obs = new_obs
        if not active.any():
            break
    steps = {name: _stack(parts) for name, parts in rows.items()}
    return GroupedEpisodes(
        n_groups=n_groups,
        group_size=group_size,
        seeds=seeds,
        returns=returns,
        lengths=lengths,
        terminated=terminated_ep,
        episode_of_step=np.concatenate(episode_of_step),
        step_in_episode=np.concatenate(step_in_episode),
        steps=steps,
        final_infos=final_infos,
    )


def _record_final_infos(out: dict[str, np.ndarray], infos: Any, done: np.ndarray, n: int) -> None:
    """Keep the numeric/boolean info entries of the copies whose episode ended at this step (from
    ``final_info`` under SAME_STEP autoreset, where ``infos`` already belongs to the next episode)."""
    if not done.any() or not isinstance(infos, dict):
        return
    final = infos.get("final_info")
    source: dict[str, Any] = final if isinstance(final, dict) else infos
    for key, value in source.items():
        if key.startswith("_") or key in ("final_info", "final_obs"):
            continue
        arr = np.asarray(value)
        if arr.shape != (n,) or arr.dtype.kind not in "biuf":
            continue
        has = np.asarray(source.get("_" + key, np.ones(n, bool))).astype(bool) & done
        column = out.setdefault(key, np.full(n, np.nan))
        column[has] = arr[has]


def _append(rows: dict[str, list[Any]], name: str, value: Any, idx: np.ndarray) -> None:
    """Keep the rows ``idx`` of a batched value (array, tensor or dict of them)."""
    if isinstance(value, Mapping):
        rows.setdefault(name, []).append({k: _take(v, idx, f"{name}[{k!r}]") for k, v in value.items()})
    else:
        rows.setdefault(name, []).append(_take(value, idx, name))


def _take(value: Any, idx: np.ndarray, name: str) -> Any:
    if isinstance(value, Tensor):
        return value[torch.as_tensor(idx, device=value.device)]
    arr = np.asarray(value)
    if arr.ndim == 0:
        raise ValueError(f"{name}: got a scalar; step data must have a leading num_envs dimension")
    return arr[idx]


def _stack(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: _stack([p[k] for p in parts]) for k in parts[0]}
    if isinstance(parts[0], Tensor):
        return torch.cat(parts)
    return np.concatenate(parts)
