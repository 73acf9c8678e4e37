"""``InvMgmtVectorEnv``: thousands of inventory networks stepped as one batch of the core.

A native ``gymnasium.vector.VectorEnv`` (reachable with ``gym.make_vec("InvMgmt-v0", num_envs=N)``).
Sub-environment i seeded with ``seed + i`` follows the trajectory of a single ``InvMgmtEnv``
seeded with ``seed + i`` under the same actions (demand identical; states and rewards equal up
to the summation order of batched matrix products, < 1e-12 relative): each copy keeps its own
``numpy.random.Generator`` for demand, drawn in the same order as the single env.

All copies share the horizon, so they end (truncate) together; the autoreset mode decides what
happens next: ``NEXT_STEP`` (default, Gymnasium's default) returns the reset observation on the
following ``step`` with reward 0 and ignores its actions; ``SAME_STEP`` resets at once and puts
the last observation in ``infos["final_obs"]``; ``DISABLED`` requires ``reset()``.

The batch is stepped by the core's torch backend or by its NumPy twin (``backend``; the same
transition, :mod:`~rlsuite.envs.inventory.core`): with NumPy arrays on the CPU and up to
:data:`NUMPY_MAX_ENVS` copies, ``backend="auto"`` picks NumPy, whose operations cost less than
torch's dispatch at these sizes; larger batches, tensors (``array_type="torch"``) and GPUs use torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rlsuite.validation import ArgumentTypeError, check_choice, check_int, check_seed

from ..validation import check_step_allowed, real_array
from .core import COST_NAMES, InventoryCore, InventoryState
from .env import (
    DEMAND_CHUNK,
    ENV_BACKENDS,
    INFO_KEYS,
    batched_info,
    build_setup,
    check_reset_options,
    check_trace,
)
from .spec import NetworkSpec

ARRAY_TYPES = ("numpy", "torch")
NUMPY_MAX_ENVS = 512
"""Most copies ``backend="auto"`` steps with NumPy (beyond, torch's threaded kernels win)."""
MAX_BATCH_ENTRIES = 2**27
"""Largest batched array the vector env allocates (entries; 1 GiB in float64): ``num_envs`` times
the larger of one copy's observation and one demand chunk (``DEMAND_CHUNK`` periods x markets)."""


class InvMgmtVectorEnv(VectorEnv):
    """``num_envs`` copies of an inventory network, stepped as one batch.

    Args:
        num_envs: batch size.
        network, num_periods, backlog, allocation, event_order, demand, max_order, dtype, device,
            **network_kwargs: as :class:`~rlsuite.envs.inventory.InvMgmtEnv`.
        demand_trace: fixed demand ``[T, n_markets]`` for every copy, or ``[num_envs, T, n_markets]``.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` (default), ``SAME_STEP`` or ``DISABLED``.
        array_type: ``numpy`` (default) returns numpy arrays; ``torch`` returns tensors on the
            core's device (no copies; use it on CUDA) and accepts tensor actions.
        backend: ``numpy``, ``torch`` or ``auto`` (module docstring); NumPy needs the CPU and
            ``array_type="numpy"``. ``core`` is the torch core either way; ``sim`` the one stepping.

    ``infos`` holds the single env's keys (:data:`~rlsuite.envs.inventory.env.INFO_KEYS`), each
    with a leading ``num_envs`` axis and its Gymnasium ``_key`` mask: ``period``, ``costs``
    ``[num_envs, 7]`` (columns :data:`~rlsuite.envs.inventory.COST_NAMES`), ``demand``, ``sold``
    and ``unmet`` ``[num_envs, n_markets]``, ``orders_filled`` ``[num_envs, n_links]``,
    ``node_profit`` ``[num_envs, n_stock]``, ``post_decision_obs`` ``[num_envs, obs_dim]`` and
    ``post_decision_reward`` ``[num_envs]``; copy i's entries equal the single env's on copy i's
    seed. ``period`` is a numpy array for both array types.
    """

    def __init__(
        self,
        num_envs: int = 1,
        network: NetworkSpec | str | Mapping[str, Any] | Path = "divergent",
        *,
        num_periods: int = 30,
        backlog: bool | None = None,
        allocation: str = "fcfs",
        event_order: str | None = None,
        demand: Any = None,
        demand_trace: Any = None,
        max_order: float | None = None,
        dtype: Any = "float64",
        device: str | torch.device = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        array_type: str = "numpy",
        backend: str = "auto",
        render_mode: str | None = None,
        **network_kwargs: Any,
    ) -> None:
        num_envs = check_int("num_envs", num_envs, 1, MAX_BATCH_ENTRIES)
        check_choice("array_type", array_type, ARRAY_TYPES)
        check_choice("backend", backend, ENV_BACKENDS)
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError as e:
            allowed = [m.value for m in AutoresetMode]
            raise ValueError(f"autoreset_mode: got {autoreset_mode!r}; allowed: {allowed}") from e
        if render_mode is not None:
            raise ValueError(
                f"render_mode: got {render_mode!r}; the vector env does not render (use InvMgmtEnv)"
            )
        setup = build_setup(
            network,
            num_periods=num_periods,
            backlog=backlog,
            allocation=allocation,
            event_order=event_order,
            demand=demand,
            max_order=max_order,
            dtype=dtype,
            device=device,
            network_kwargs=network_kwargs,
        )
        self.core = setup.core
        on_cpu = self.core.device.type == "cpu"
        if backend == "auto":
            numpy_ok = on_cpu and array_type == "numpy" and num_envs <= NUMPY_MAX_ENVS
            backend = "numpy" if numpy_ok else "torch"
        if backend == "numpy" and not (on_cpu and array_type == "numpy"):
            raise ValueError(
                f"backend: 'numpy' needs the CPU and array_type='numpy'; got device {self.core.device}, "
                f"array_type {array_type!r} (use 'torch')"
            )
        #: The core that steps the batch: ``core`` itself or its NumPy twin (``backend``).
        self.sim: InventoryCore = self.core.numpy() if backend == "numpy" else self.core
        self._xp_numpy = backend == "numpy"
        per_copy = max(min(DEMAND_CHUNK, setup.num_periods) * self.core.n_markets, self.core.obs_dim)
        if num_envs * per_copy > MAX_BATCH_ENTRIES:
            raise ValueError(
                f"num_envs: got {num_envs}; {num_envs} copies x {per_copy} entries (the larger of an "
                f"observation and a demand chunk) exceed the limit of {MAX_BATCH_ENTRIES} entries; "
                f"use at most {MAX_BATCH_ENTRIES // per_copy} copies"
            )
        self.spec_network = self.core.spec
        self.num_envs = int(num_envs)
        self.num_periods = setup.num_periods
        self.array_type = array_type
        self.render_mode = None
        self.metadata = {"autoreset_mode": mode, "render_modes": []}
        self.sampler = setup.sampler
        self.order_bound = setup.order_bound
        self.single_action_space = setup.action_space
        self.single_observation_space = setup.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._fixed_trace = self._check_traces(demand_trace, "demand_trace")
        self._rngs: list[np.random.Generator] = []
        self._state: InventoryState | None = None
        self._t = 0
        self._trace: Any = None
        self._trace_start = 0
        self._episode_trace: Any = None
        self._ended = False
        self._mask = np.ones(self.num_envs, bool)

    # ------------------------------------------------------------------ API
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: Mapping[str, Any] | None = None
    ):
        """Reset every copy. ``seed``: an int (copy i gets ``seed + i``), a list of ``num_envs``
        seeds, or None (keep each copy's generator; fresh entropy on the first reset)."""
        options = check_reset_options(options)
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (list, tuple, np.ndarray)):
            seeds = [check_seed(f"seed[{i}]", s) for i, s in enumerate(seed)]
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed: got {len(seeds)} seeds; expected num_envs={self.num_envs}")
        else:
            first = check_seed("seed", seed)
            assert first is not None  # seed is not None in this branch
            seeds = [first + i for i in range(self.num_envs)]
        if seed is not None or not self._rngs:
            self._rngs = [seeding.np_random(s)[0] for s in seeds]
        if "demand_trace" in options:
            self._episode_trace = self._check_traces(options["demand_trace"], "options.demand_trace")
        else:
            self._episode_trace = self._fixed_trace
        self._restart()
        assert self._state is not None  # set by _restart
        return self._out(self.sim.observe(self._state)), self._reset_info()

    def step(self, actions: Any):
        mode = self.metadata["autoreset_mode"]
        if self._state is None or (self._ended and mode == AutoresetMode.DISABLED):
            check_step_allowed(self._state is not None, self._ended)
        if self._ended:
            if mode == AutoresetMode.NEXT_STEP:
                self._restart()
                assert self._state is not None  # set by _restart
                zeros = self._full(0.0, self.sim.dtype)
                false = self._full(False, torch.bool)
                obs = self.sim.observe(self._state)
                return (
                    self._out(obs),
                    self._out(zeros),
                    self._out(false),
                    self._out(false),
                    self._reset_info(),
                )
        orders = self.validate_actions(actions)
        t = self._t
        state = self._state
        assert state is not None  # checked above: step before reset raised
        sim = self.sim
        post = sim.post_decision(state, orders)
        self._state, reward, info = sim.realize_demand(post, self._demand(t), node_profit=True)
        self._t = t + 1
        obs = sim.observe(self._state)
        done = self._t >= self.num_periods
        terminated = self._full(False, torch.bool)
        truncated = self._full(done, torch.bool)
        infos: dict[str, Any] = {"period": np.full(self.num_envs, t, dtype=np.int64)}
        infos.update((key, self._out(value)) for key, value in batched_info(sim, state, post, info).items())
        for key in INFO_KEYS:
            infos["_" + key] = self._mask
        if done:
            self._ended = True
            if mode == AutoresetMode.SAME_STEP:
                infos["final_obs"] = self._out(obs)
                infos["_final_obs"] = self._mask
                infos["final_info"] = {k: v for k, v in infos.items() if k not in ("final_obs", "_final_obs")}
                infos["_final_info"] = self._mask
                self._restart()
                obs = sim.observe(self._state)
        return self._out(obs), self._out(reward), self._out(terminated), self._out(truncated), infos

    # ------------------------------------------------------------------ helpers
    def validate_actions(self, actions: Any) -> Any:
        """Orders as a ``[num_envs, n_links]`` tensor (an array for the NumPy backend): strings,
        booleans, objects and complex numbers raise ``TypeError``; NaN/inf and wrong shapes
        ``ValueError``; values are clipped to ``[0, order_bound]``."""
        core = self.core
        shape = (self.num_envs, core.n_links)
        if isinstance(actions, torch.Tensor):
            if actions.dtype == torch.bool or actions.is_complex():
                raise ArgumentTypeError(
                    f"actions: got a tensor of dtype {actions.dtype}; must be real numbers (float or int)"
                )
            a: torch.Tensor | np.ndarray = actions
        else:
            arr = real_array("actions", actions)
            if tuple(arr.shape) != shape:
                a = arr
            elif self._xp_numpy:
                arr = arr.astype(self.sim._np_dtype, copy=False)
                if not np.isfinite(arr).all():
                    bad = np.argwhere(~np.isfinite(arr))[0].tolist()
                    raise ValueError(f"actions: orders must be finite; first non-finite entry at index {bad}")
                return np.minimum(np.maximum(arr, 0.0), self.order_bound)
            else:
                arr = arr.astype(np.float64, copy=False)
                if not arr.flags.writeable:  # e.g. a read-only view from a wrapper: torch wants to own it
                    arr = arr.copy()
                a = torch.from_numpy(arr)
        if tuple(a.shape) != shape:
            raise ValueError(
                f"actions: got shape {tuple(a.shape)}; expected shape {shape} (num_envs, one order per link)"
            )
        assert isinstance(a, torch.Tensor)  # an array of the right shape became a tensor above
        if self._xp_numpy:  # a tensor given to the NumPy backend
            return self.validate_actions(a.detach().cpu().numpy())
        a = a.to(core.device, core.dtype)
        if not bool(torch.isfinite(a).all()):
            bad = (~torch.isfinite(a)).nonzero()[0].tolist()
            raise ValueError(f"actions: orders must be finite; first non-finite entry at index {bad}")
        return a.clamp(0.0, self.order_bound)

    def _reset_info(self) -> dict[str, Any]:
        return {"period": np.zeros(self.num_envs, dtype=np.int64), "_period": self._mask}

    def _full(self, value: Any, dtype: torch.dtype) -> Any:
        """``[num_envs]`` filled with ``value``, in the stepping backend's array type."""
        if self._xp_numpy:
            return np.full(self.num_envs, value, dtype=bool if dtype == torch.bool else self.sim._np_dtype)
        return torch.full((self.num_envs,), value, dtype=dtype, device=self.core.device)

    def _as_backend(self, values: np.ndarray) -> Any:
        """A float64 array as the stepping backend's array (dtype and device of the core)."""
        if self._xp_numpy:
            return np.ascontiguousarray(values, dtype=self.sim._np_dtype)
        return torch.as_tensor(np.ascontiguousarray(values), dtype=self.core.dtype, device=self.core.device)

    def _restart(self) -> None:
        self._state = self.sim.initial_state(self.num_envs)
        self._t = 0
        self._trace = None
        self._trace_start = 0
        self._ended = False

    def _demand(self, t: int) -> Any:
        if self._episode_trace is not None:
            return self._episode_trace[:, t]
        if self._trace is None or t >= self._trace_start + self._trace.shape[1]:
            n = min(DEMAND_CHUNK, self.num_periods - t)
            mu = self.sampler.means(t, n)
            raw = np.stack([self.sampler.draw(rng, mu) for rng in self._rngs])
            demand = self.sampler.finish(mu, raw)
            self._trace = self._as_backend(demand)
            self._trace_start = t
        return self._trace[:, t - self._trace_start]

    def _check_traces(self, trace: Any, name: str) -> Any:
        if trace is None:
            return None
        arr = real_array(name, trace).astype(np.float64, copy=False)
        if arr.ndim == 3:
            if arr.shape[0] != self.num_envs:
                raise ValueError(
                    f"{name}: got shape {arr.shape}; the first axis must be num_envs={self.num_envs}"
                )
            per_env = [check_trace(a, self.num_periods, self.core.n_markets, name) for a in arr]
            full = np.stack(per_env)
        else:
            one = check_trace(arr, self.num_periods, self.core.n_markets, name)
            full = np.broadcast_to(one, (self.num_envs, *one.shape))
        return self._as_backend(full)

    def _out(self, x: Any) -> Any:
        if self.array_type == "torch" or isinstance(x, np.ndarray):
            return x
        return x.detach().cpu().numpy()

    @property
    def state(self) -> InventoryState:
        """The current batched state as tensors of ``core``."""
        if self._state is None:
            raise RuntimeError("call reset() first")
        if self._xp_numpy:
            return self.sim.state_to_torch(self._state, self.core.device)
        return self._state

    @property
    def cost_names(self) -> tuple[str, ...]:
        """Names of ``infos["costs"]``'s columns (:data:`COST_NAMES`)."""
        return COST_NAMES
