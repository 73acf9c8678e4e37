"""C-MORL (Liu et al., ICLR 2025, "Efficient Discovery of Pareto Front for Multi-Objective RL").

Two stages over a population of :class:`~.moppo.MOPPO` policies, each trained as an independent
job of :mod:`rlsuite.sweep` (Ray tasks with ``num_workers > 0``, or one after another in this
process: the same results either way):

1. **Pareto initialisation**: one policy per preference of an evenly spaced simplex grid
   (:func:`rlsuite.pareto.simplex_weights`), each trained ``stage1_timesteps`` steps on the
   scalarised advantage; every policy is evaluated (undiscounted vector returns on ``eval_seeds``)
   and offered to a Pareto archive.
2. **Pareto extension**, ``extension_rounds`` times: the ``n_select`` archive members with the
   largest crowding distance (the least crowded, extremes first; never the same one twice) are each
   extended along every objective ``l`` by constrained PPO (``extend_objective=l``: maximise
   objective ``l`` while the others keep ``constraint_beta`` of their return), starting from the
   member's weights, ``extension_timesteps`` steps per extension; the results join the archive.

:meth:`CMORL.learn` returns a :class:`MOPolicySet` of the archive: for a new preference ``w`` it
acts with the member maximising ``w . J`` (C-MORL's assignment at test time).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlsuite.evaluation import vector_returns
from rlsuite.files import atomic_write
from rlsuite.pareto import ParetoArchive, expected_utility, hypervolume, pareto_mask, simplex_weights
from rlsuite.validation import check_int, check_real, check_seeds

from .moppo import MOPPO

#: Version of the policy-set zip written by :meth:`MOPolicySet.save`.
POLICY_SET_FORMAT_VERSION = 1
#: Most members and bytes :meth:`MOPolicySet.load` reads.
MAX_POLICY_SET_MEMBERS = 4096
MAX_POLICY_SET_BYTES = 4 * 1024**3


def make_mo_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """A multi-objective env by id: MO-Gymnasium's MuJoCo tasks (``mo-*``) through
    :func:`rlsuite.envs.mo.make_mo`, any other registered id through ``gym.make``. Ids naming a
    module (``"module:Id"``) are refused: an id read from a job or a file must not import code."""
    if not isinstance(env_id, str) or ":" in env_id:
        raise ValueError(f"env_id: got {env_id!r}; must be a registered id without a module prefix")
    if env_id.startswith("mo-"):
        from rlsuite.envs.mo import make_mo

        return make_mo(env_id, **(env_kwargs or {}))
    return gym.make(env_id, **(env_kwargs or {}))


def train_mo_policy(
    seed: int,
    env_id: str,
    total_timesteps: int,
    save_path: str,
    eval_seeds: list[int],
    env_kwargs: dict[str, Any] | None = None,
    ppo_kwargs: dict[str, Any] | None = None,
    weights: list[float] | None = None,
    extend_objective: int | None = None,
    init_path: str | None = None,
) -> dict[str, Any]:
    """One C-MORL job (registered in :mod:`rlsuite.sweep` as ``"cmorl_policy"``): a
    :class:`MOPPO` for a preference (stage 1) or an extension of the policy saved at ``init_path``
    (stage 2), trained, evaluated (mean undiscounted vector return over ``eval_seeds``, greedy) and
    saved to ``save_path``."""
    # A registered id goes to MOPPO as an id: n_envs copies (the native vector env where there is one).
    env: Any = make_mo_env(env_id, env_kwargs) if env_kwargs or env_id.startswith("mo-") else env_id
    if isinstance(env, str):
        make_mo_env(env_id)  # the same id checks either way
    model = MOPPO(
        "MlpPolicy",
        env,
        weights=weights,
        extend_objective=extend_objective,
        seed=seed,
        **(ppo_kwargs or {}),
    )
    if init_path is not None:
        start = MOPPO.load(init_path, device=model.device)
        model.policy.load_state_dict(start.policy.state_dict())
    model.learn(total_timesteps)
    returns = vector_returns(make_mo_env(env_id, env_kwargs), model, eval_seeds, deterministic=True)
    model.save(save_path)
    return {"returns": returns.mean(0).tolist(), "path": save_path, "timesteps": model.num_timesteps}


def _register() -> None:
    from rlsuite.sweep import ALGORITHMS, register_algorithm, register_job

    register_job("cmorl_policy", train_mo_policy)
    if "MOPPO" not in ALGORITHMS:  # seed sweeps of one preference: train_agent(algo="MOPPO", ...)
        register_algorithm("MOPPO", MOPPO)


_register()


class MOPolicySet:
    """A set of policies with their vector returns ``[m, k]``: ``predict(obs, preference)`` acts
    with the member that maximises ``preference . J`` (ties: the first)."""

    def __init__(self, members: Sequence[Any], returns: np.ndarray) -> None:
        returns = np.asarray(returns, dtype=np.float64)
        if returns.ndim != 2 or returns.shape[0] != len(members) or len(members) == 0:
            raise ValueError(
                f"returns: shape {returns.shape}; must be [{len(members)} members, k objectives], >= 1"
            )
        if not np.isfinite(returns).all():
            raise ValueError("returns: NaN or inf")
        self.members, self.returns = list(members), returns

    @property
    def n_objectives(self) -> int:
        return int(self.returns.shape[1])

    def __len__(self) -> int:
        return len(self.members)

    def select(self, preference: Sequence[float]) -> int:
        """Index of the member with the largest ``preference . J``."""
        w = np.asarray(preference, dtype=np.float64)
        if w.shape != (self.n_objectives,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(
                f"preference: got {preference!r}; must be {self.n_objectives} non-negative finite weights"
            )
        return int(np.argmax(self.returns @ w))

    def predict(
        self, observation: Any, preference: Sequence[float], deterministic: bool = True
    ) -> tuple[np.ndarray, None]:
        """The selected member's ``predict`` (SB3's ``(action, state)``)."""
        return self.members[self.select(preference)].predict(observation, deterministic=deterministic)

    def front(self) -> np.ndarray:
        """The non-dominated members' returns."""
        return self.returns[pareto_mask(self.returns)]

    def hypervolume(self, ref_point: Sequence[float]) -> float:
        return hypervolume(self.returns, ref_point)

    def expected_utility(self, weights: np.ndarray | None = None) -> float:
        return expected_utility(self.returns, weights)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """One zip: ``policy_set.json`` (format version, returns, member files) and each member's
        own model zip (tensors and JSON only: loading runs no code)."""
        path = Path(path)
        with tempfile.TemporaryDirectory() as tmp:
            names = []
            for i, model in enumerate(self.members):
                if not isinstance(model, MOPPO):
                    raise TypeError(
                        f"members[{i}]: got {type(model).__name__}; a saved set holds MOPPO models"
                    )
                model.save(Path(tmp) / f"member_{i}.zip")
                names.append(f"member_{i}.zip")
            index = {
                "format_version": POLICY_SET_FORMAT_VERSION,
                "returns": self.returns.tolist(),
                "members": names,
            }
            with atomic_write(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
                zf.writestr("policy_set.json", json.dumps(index))
                for name in names:
                    zf.write(Path(tmp) / name, name)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "auto") -> MOPolicySet:
        """Read a file written by :meth:`save`: sizes bounded first, every member through
        :meth:`MOPPO.load` (the safe loading rules of every agent)."""
        path = Path(path)
        try:
            zf = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: not a policy set written by MOPolicySet.save ({e})") from e
        with zf, tempfile.TemporaryDirectory() as tmp:
            infos = {i.filename: i for i in zf.infolist()}
            if sum(i.file_size for i in infos.values()) > MAX_POLICY_SET_BYTES:
                raise ValueError(f"{path}: more than {MAX_POLICY_SET_BYTES} bytes; refused")
            if "policy_set.json" not in infos:
                raise ValueError(f"{path}: no policy_set.json; not a policy set")
            try:
                index = json.loads(zf.read("policy_set.json"))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: policy_set.json is not JSON ({e})") from e
            if not isinstance(index, dict) or index.get("format_version") != POLICY_SET_FORMAT_VERSION:
                raise ValueError(f"{path}: format_version must be {POLICY_SET_FORMAT_VERSION}")
            names = index.get("members")
            if (
                not isinstance(names, list)
                or not 0 < len(names) <= MAX_POLICY_SET_MEMBERS
                or any(
                    not isinstance(n, str) or n not in infos or "/" in n or n.startswith(".") for n in names
                )
            ):
                raise ValueError(f"{path}: members must list 1..{MAX_POLICY_SET_MEMBERS} files of the zip")
            members = []
            for name in names:
                target = Path(tmp) / name
                target.write_bytes(zf.read(name))
                members.append(MOPPO.load(target, device=device))
            return cls(members, np.asarray(index.get("returns"), dtype=np.float64))


class CMORL:
    """C-MORL's two stages (module docstring) on a multi-objective env id.

    Args:
        env_id: a registered multi-objective id (``"MOInvMgmt-v0"``, ``"DeepSeaTreasure-v0"``) or an
            MO-Gymnasium MuJoCo id (``"mo-hopper-2obj-v5"``, extra ``mo``).
        stage1_timesteps: env steps of each stage-1 policy.
        weight_divisions: the simplex grid's divisions per axis (``k = 2``, 5: six preferences 0, 0.2,
            ..., 1, as the paper's 2-objective runs); or ``weights`` given explicitly ``[n, k]``.
        n_select: members extended per round (the paper: 5-6).
        extension_timesteps: env steps of each extension (one per selected member and objective).
        extension_rounds: selection-extension rounds.
        constraint_beta, barrier_t: the extension's constraint (0.9) and barrier sharpness (20).
        ppo_kwargs: :class:`MOPPO` arguments of every policy (``n_steps``, ``learning_rate``, ...).
        env_kwargs: keyword arguments of the env.
        eval_seeds: reset seeds of the evaluation episodes (undiscounted vector returns, greedy).
        save_dir: folder of the members' model files (default: a temporary folder kept by the object).
        num_workers, backend: :func:`rlsuite.sweep.run_jobs` (``0``: in this process).
        seed: job ``i`` gets seed ``seed + i``.
    """

    def __init__(
        self,
        env_id: str,
        stage1_timesteps: int,
        extension_timesteps: int,
        weight_divisions: int = 5,
        weights: np.ndarray | None = None,
        n_select: int = 5,
        extension_rounds: int = 1,
        constraint_beta: float = 0.9,
        barrier_t: float = 20.0,
        ppo_kwargs: dict[str, Any] | None = None,
        env_kwargs: dict[str, Any] | None = None,
        eval_seeds: Sequence[int] = (0, 1, 2, 3, 4),
        save_dir: str | Path | None = None,
        num_workers: int = 0,
        backend: str = "auto",
        seed: int = 0,
    ) -> None:
        env = make_mo_env(env_id, env_kwargs)
        space = getattr(env.unwrapped, "reward_space", None)
        if space is None or len(space.shape) != 1 or space.shape[0] < 2:
            raise ValueError(
                f"env_id: {env_id!r} is not multi-objective (no reward_space of shape (k,), k >= 2)"
            )
        self.n_objectives = k = int(space.shape[0])
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.stage1_timesteps = check_int("stage1_timesteps", stage1_timesteps, 1)
        self.extension_timesteps = check_int("extension_timesteps", extension_timesteps, 0)
        if weights is None:
            self.weights = simplex_weights(k, check_int("weight_divisions", weight_divisions, 1))
        else:
            self.weights = np.asarray(weights, dtype=np.float64)
            if self.weights.ndim != 2 or self.weights.shape[1] != k or (self.weights < 0).any():
                raise ValueError(f"weights: shape {self.weights.shape}; must be [n, {k}] non-negative")
        self.n_select = check_int("n_select", n_select, 1)
        self.extension_rounds = check_int("extension_rounds", extension_rounds, 0)
        self.constraint_beta = check_real("constraint_beta", constraint_beta, 0.0, 1.0, low_open=True)
        self.barrier_t = check_real("barrier_t", barrier_t, 0.0, low_open=True)
        self.ppo_kwargs = dict(ppo_kwargs or {})
        self.eval_seeds = check_seeds("eval_seeds", list(eval_seeds))
        self._tmp = tempfile.TemporaryDirectory() if save_dir is None else None
        self.save_dir = Path(save_dir if save_dir is not None else self._tmp.name)  # type: ignore[union-attr]
        self.num_workers, self.backend, self.seed = num_workers, backend, seed
        #: Every trained policy: ``{"stage", "weights", "objective", "parent", "returns", "path"}``.
        self.history: list[dict[str, Any]] = []

    def _run(self, specs: list[dict[str, Any]], progress_bar: bool) -> list[dict[str, Any]]:
        from rlsuite.sweep import Job, run_jobs

        jobs: list[Job] = []
        for spec in specs:
            i = len(self.history) + len(jobs)
            kwargs = {
                "env_id": self.env_id,
                "env_kwargs": self.env_kwargs,
                "ppo_kwargs": self.ppo_kwargs,
                "eval_seeds": self.eval_seeds,
                "save_path": str(self.save_dir / f"policy_{i}.zip"),
                **{key: v for key, v in spec.items() if key != "parent"},
            }
            jobs.append(Job("cmorl_policy", kwargs, seed=self.seed + i, name=f"cmorl policy {i}"))
        results = run_jobs(
            jobs, num_workers=self.num_workers, backend=self.backend, progress_bar=progress_bar
        )
        return [{**spec, **res} for spec, res in zip(specs, results, strict=True)]

    def learn(self, progress_bar: bool = False) -> MOPolicySet:
        """Run both stages; returns the archive as a :class:`MOPolicySet` (also ``self.archive``)."""
        self.archive: ParetoArchive[int] = ParetoArchive(self.n_objectives)
        archive = self.archive
        stage1 = [
            {"weights": w.tolist(), "total_timesteps": self.stage1_timesteps, "ppo_kwargs": self.ppo_kwargs}
            for w in self.weights
        ]
        for res in self._run(stage1, progress_bar):
            self.history.append({"stage": 1, "objective": None, "parent": None, **res})
            archive.add(np.asarray(res["returns"]), len(self.history) - 1)
        extended: set[int] = set()
        ext_kwargs = {**self.ppo_kwargs, "constraint_beta": self.constraint_beta, "barrier_t": self.barrier_t}
        for _ in range(self.extension_rounds if self.extension_timesteps else 0):
            order = [archive.payloads[i] for i in archive.select_sparse(len(archive))]
            chosen = [h for h in order if h not in extended][: self.n_select]
            if not chosen:
                break
            extended.update(chosen)
            specs = [
                {
                    "extend_objective": obj,
                    "init_path": self.history[h]["path"],
                    "total_timesteps": self.extension_timesteps,
                    "ppo_kwargs": ext_kwargs,
                    "parent": h,
                }
                for h in chosen
                for obj in range(self.n_objectives)
            ]
            for res in self._run(specs, progress_bar):
                self.history.append(
                    {"stage": 2, "weights": None, "objective": res["extend_objective"], **res}
                )
                archive.add(np.asarray(res["returns"]), len(self.history) - 1)
        members = [MOPPO.load(self.history[h]["path"]) for h in archive.payloads]
        return MOPolicySet(members, np.stack([self.history[h]["returns"] for h in archive.payloads]))

    @property
    def total_timesteps(self) -> int:
        """Env steps of every policy trained so far."""
        return int(sum(h["timesteps"] for h in self.history))
