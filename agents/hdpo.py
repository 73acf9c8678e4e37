"""Hindsight Differentiable Policy Optimization (Alvo, Russo, Kanoria; arXiv 2306.11246).

HDPO trains a deterministic inventory policy by back-propagating the cost of whole rollouts
through the batched, differentiable :class:`~rlsuite.envs.inventory.core.InventoryCore`:
demand is exogenous, so a fixed set of sampled demand traces (the *hindsight* view) makes the
simulated cost a deterministic, (sub-)differentiable function of the policy's parameters.
No critic, no score function, no exploration noise.

Training follows the paper's protocol: fixed train / dev sets of traces drawn from ``seed``;
each gradient step simulates ``train_periods`` periods on a batch of train traces from varied
start states and minimises the mean cost per period (warm-up periods included in the loss,
excluded from the reported figure); Adam, optional gradient-norm clipping; every
``eval_every`` epochs the dev cost (after ``dev_warmup``) is measured, the best parameters are
kept and training stops after ``patience`` epochs without improvement. :meth:`HDPO.evaluate`
gives the long-run average cost on independent test traces (5000 periods, 3000 warm-up in the
paper), optionally with orders rounded to integers.

>>> model = HDPO("MlpPolicy", "InvMgmt-SingleStore-v0", env_kwargs={"lead_time": 1}, seed=0)
>>> model.learn(epochs=300)
>>> model.evaluate(n_traces=4096, periods=5000, warmup=3000)["avg_cost"]

"Cost" is minus the env's reward per period: the cost in HDPO's settings (reward = -cost) and
minus the profit on gym-invmgmt's networks. It is summed over the network's stores (HDPO
reports it per store).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from rlsuite.envs.inventory.core import InventoryCore, InventoryState
from rlsuite.envs.inventory.rollout import initial_states, long_run_cost, sample_traces, simulate
from rlsuite.envs.inventory.spec import NetworkSpec
from rlsuite.validation import (
    check_bool,
    check_choice,
    check_int,
    check_mapping,
    check_optional_real,
    check_optional_str,
    check_seed,
)

from .common.base import (
    _saved_count,
    _schedule,
    _schedule_from_json,
    _schedule_to_json,
    clip_grad_norm,
    resolve_device,
)
from .common.callbacks import BaseCallback, CallbackList, ProgressBarCallback
from .common.logger import Logger, next_run_dir
from .common.persistence import (
    ParametersMixin,
    check_env_id,
    check_model_class,
    check_optimizer_state,
    check_state_dict,
    meta_state_dict,
    policy_kwargs_to_json,
    read_model_zip,
    saved_config,
    write_model_zip,
)
from .common.validation import NonFiniteError, accepted_kwargs, check_callbacks, check_kwargs_keys
from .inventory_policies import INVENTORY_POLICY_ALIASES, InventoryPolicyNet

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _core_description(env: Any, env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """What is needed to rebuild the env's core: an id with kwargs, or the network spec."""
    if isinstance(env, str):
        try:
            made = gym.make(env, **dict(env_kwargs or {}))
        except gym.error.Error as e:
            raise ValueError(f"env: {env!r} is not a registered environment id") from e
        core = getattr(made.unwrapped, "core", None)
        if not isinstance(core, InventoryCore):
            raise ValueError(
                f"env: HDPO needs a differentiable simulator (an InvMgmt env, whose .core is an "
                f"InventoryCore); {env!r} has none"
            )
        return {
            "env_id": env,
            "env_kwargs": dict(env_kwargs or {}),
            "num_periods": made.unwrapped.num_periods,
        }
    if env_kwargs:
        raise ValueError("env_kwargs: only used when env is an id")
    if isinstance(env, InventoryCore):
        core, periods = env, None
    else:
        core = getattr(getattr(env, "unwrapped", env), "core", None)
        periods = getattr(getattr(env, "unwrapped", env), "num_periods", None)
        if not isinstance(core, InventoryCore):
            raise ValueError(
                f"env: HDPO needs a differentiable simulator (an InvMgmt env, whose .core is an "
                f"InventoryCore); got {type(getattr(env, 'unwrapped', env)).__name__}"
            )
    return {
        "network": core.spec.to_dict(),
        "backlog": core.backlog,
        "allocation": core.allocation,
        "event_order": core.event_order,
        "num_periods": periods,
    }


def _check_description(desc: Any) -> dict[str, Any]:
    """A saved env description (see :func:`_core_description`), checked field by field: an env
    id must be registered (no ``module:`` prefix), a network is rebuilt by the spec's own
    validating ``from_dict``."""
    if not isinstance(desc, dict):
        raise ValueError(f"env: got {type(desc).__name__} in the saved model; expected an object")
    periods = desc.get("num_periods")
    if periods is not None and (isinstance(periods, bool) or not isinstance(periods, int) or periods < 1):
        raise ValueError(f"env.num_periods: got {periods!r} in the saved model; must be an integer >= 1")
    if "env_id" in desc:
        check_env_id(desc["env_id"], "env.env_id")
        if not isinstance(desc.get("env_kwargs", {}), dict):
            raise ValueError("env.env_kwargs: must be an object in the saved model")
        env_kwargs = dict(desc.get("env_kwargs", {}))
        return {"env_id": desc["env_id"], "env_kwargs": env_kwargs, "num_periods": periods}
    keys = {"network", "backlog", "allocation", "event_order", "num_periods"}
    if set(desc) != keys:
        raise ValueError(f"env: got keys {sorted(desc)} in the file; expected env_id or {sorted(keys)}")
    if not isinstance(desc["network"], dict):
        raise ValueError("env.network: must be an object in the saved model")
    return dict(desc)


def _build_core(desc: dict[str, Any], dtype: torch.dtype, device: torch.device) -> InventoryCore:
    if "env_id" in desc:
        made = gym.make(desc["env_id"], **desc["env_kwargs"])
        base = made.unwrapped.core
        spec, backlog, allocation, order = base.spec, base.backlog, base.allocation, base.event_order
    else:
        spec = NetworkSpec.from_dict(desc["network"])
        backlog, allocation, order = desc["backlog"], desc["allocation"], desc["event_order"]
    return InventoryCore(
        spec, backlog=backlog, allocation=allocation, event_order=order, dtype=dtype, device=device
    )


class HDPO(ParametersMixin):
    """HDPO with Stable-Baselines3's surface (``learn``, ``predict``, ``save``, ``load``,
    callbacks, logger, progress bar, ``device="auto"``).

    Args:
        policy: ``"MlpPolicy"`` (HDPO's vanilla MLP), ``"GNNPolicy"`` (torch-geometric),
            ``"BaseStockPolicy"`` / ``"EchelonStockPolicy"`` (trainable levels), or a class
            ``cls(core, **policy_kwargs)`` deriving from ``InventoryPolicyNet``.
        env: an ``InvMgmt`` id (with ``env_kwargs``), an ``InvMgmt`` env (single or vector) or an
            ``InventoryCore``. Any other env raises ``ValueError``: HDPO needs the simulator's
            gradients.
        learning_rate: Adam's step size, or a schedule of the remaining progress (1 -> 0), e.g.
            ``linear_schedule(1e-2, 1e-3)`` (HDPO: 3e-3 for the one-store MLP, 1e-3 GNN, 0.5 base stock
            on raw levels; our base-stock levels are in units of the mean demand, use ~0.05).
        batch_size: traces per gradient step.
        n_train, n_dev: sizes of the fixed train and dev sets of traces.
        train_periods, train_warmup: rollout length per step and the periods excluded from the
            reported training cost (the loss includes them, as in the paper).
        dev_periods, dev_warmup: the same for the dev evaluation.
        eval_every: epochs between dev evaluations (an epoch is one pass over the train set).
        patience: stop after this many epochs without a better dev cost (None: never).
        max_grad_norm: global gradient-norm clip (None: no clipping).
        random_initial_state: start rollouts from random on-hand and pipeline inventories
            (U[0, 1] x mean demand per slot, as HDPO) instead of the env's initial state.
        dtype: ``"float32"`` (default, fast) or ``"float64"`` for the simulator and the policy.
        check_finite: stop ``learn`` with an error naming the epoch at the first non-finite
            training cost, before the parameters are updated with it.
    """

    policy_aliases = INVENTORY_POLICY_ALIASES

    def __init__(
        self,
        policy: str | type[InventoryPolicyNet] = "MlpPolicy",
        env: Any = None,
        learning_rate: float = 3e-3,
        batch_size: int = 1024,
        n_train: int = 8192,
        n_dev: int = 4096,
        train_periods: int = 50,
        train_warmup: int = 30,
        dev_periods: int = 100,
        dev_warmup: int = 60,
        eval_every: int = 10,
        patience: int | None = None,
        max_grad_norm: float | None = None,
        random_initial_state: bool = True,
        dtype: str = "float32",
        policy_kwargs: dict[str, Any] | None = None,
        env_kwargs: dict[str, Any] | None = None,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: str | torch.device = "auto",
        check_finite: bool = True,
        _description: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(policy, str):
            if policy not in self.policy_aliases:
                raise ValueError(f"policy: got {policy!r}; allowed: {sorted(self.policy_aliases)} or a class")
            self.policy_class: Any = self.policy_aliases[policy]
        elif callable(policy):
            self.policy_class = policy
        else:
            raise TypeError(f"policy: got {policy!r}; allowed: {sorted(self.policy_aliases)} or a class")
        self.policy_name = policy if isinstance(policy, str) else f"{policy.__module__}:{policy.__qualname__}"
        self.learning_rate = learning_rate
        self.lr_schedule = _schedule(learning_rate, "learning_rate")
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.n_train = check_int("n_train", n_train, 1)
        self.n_dev = check_int("n_dev", n_dev, 1)
        if self.batch_size > self.n_train:
            raise ValueError(f"batch_size: got {batch_size}, larger than n_train = {n_train}")
        self.train_periods = check_int("train_periods", train_periods, 1)
        self.dev_periods = check_int("dev_periods", dev_periods, 1)
        self.train_warmup = check_int("train_warmup", train_warmup, 0, self.train_periods - 1)
        self.dev_warmup = check_int("dev_warmup", dev_warmup, 0, self.dev_periods - 1)
        self.eval_every = check_int("eval_every", eval_every, 1)
        self.patience = None if patience is None else check_int("patience", patience, 1)
        self.max_grad_norm = check_optional_real("max_grad_norm", max_grad_norm, low=0.0, low_open=True)
        self.random_initial_state = check_bool("random_initial_state", random_initial_state)
        self.dtype_name = check_choice("dtype", dtype, sorted(_DTYPES))
        self.dtype = _DTYPES[dtype]
        self.policy_kwargs = check_mapping("policy_kwargs", policy_kwargs)
        is_class = isinstance(self.policy_class, type)
        allowed = accepted_kwargs(
            self.policy_class.__init__ if is_class else self.policy_class, 2 if is_class else 1
        )
        check_kwargs_keys("policy_kwargs", self.policy_kwargs, allowed)  # after self (a class) and core
        self.tensorboard_log = check_optional_str("tensorboard_log", tensorboard_log)
        self.verbose = check_int("verbose", verbose, 0)
        self.seed = check_seed("seed", seed)
        self.check_finite = check_bool("check_finite", check_finite)
        # Unlike the on-policy agents (small batches, env-bound), HDPO simulates thousands of traces
        # per step: "auto" picks CUDA when present.
        if isinstance(device, str) and device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = resolve_device(device)
        if _description is None:
            if env is None:
                raise ValueError("env: needed to build the model (or load a saved one with HDPO.load)")
            _description = _core_description(env, env_kwargs)
        self.description = _description
        self.env = env if env is not None and not isinstance(env, (str, InventoryCore)) else None
        self.num_timesteps = 0
        self._n_updates = 0
        self.epochs_done = 0
        self.best_dev_cost = math.inf
        self.dev_history: list[tuple[int, float]] = []
        self._logger: Logger | None = None
        self.n_envs = self.batch_size * self.train_periods  # timesteps per gradient step (progress bar)
        self._setup_model()

    # ------------------------------------------------------------------ setup
    def _setup_model(self) -> None:
        if self.seed is not None:
            torch.manual_seed(self.seed)
        self.core = _build_core(self.description, self.dtype, self.device)
        try:
            self.policy: InventoryPolicyNet = self.policy_class(self.core, **self.policy_kwargs)
        except TypeError as e:  # a wrong type, or a key the policy does not take
            raise TypeError(f"policy_kwargs: {e}") from e
        self.policy.to(device=self.device, dtype=self.dtype)
        if not any(p.requires_grad for p in self.policy.parameters()):
            raise ValueError("policy: has no trainable parameters")
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.lr_schedule(1.0))
        self._params = [p for p in self.policy.parameters() if p.requires_grad]
        self._data: dict[str, Any] | None = None

    def _make_data(self) -> dict[str, Any]:
        """The fixed train and dev sets (demand traces and start states) drawn from ``seed``."""
        seed = self.seed if self.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        ss = np.random.SeedSequence([seed, 1706])
        s_train, s_dev, s_init, s_perm = (int(c.generate_state(1)[0]) for c in ss.spawn(4))
        core = self.core
        as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        rng = np.random.default_rng(s_init)
        return {
            "train": as_t(sample_traces(core, self.n_train, self.train_periods, s_train)),
            "train_init": initial_states(core, self.n_train, rng, self.random_initial_state),
            "dev": as_t(sample_traces(core, self.n_dev, self.dev_periods, s_dev)),
            "dev_init": initial_states(core, self.n_dev, rng, self.random_initial_state),
            "perm": torch.Generator().manual_seed(s_perm),
        }

    # ------------------------------------------------------------------ training
    def _policy_fn(self, obs: Tensor) -> Tensor:
        return self.policy(obs)

    def dev_cost(self) -> float:
        """Mean cost per period after ``dev_warmup`` on the dev set (no gradient)."""
        if self._data is None:
            self._data = self._make_data()
        d = self._data
        self.policy.eval()
        res = long_run_cost(self.core, self._policy_fn, d["dev"], self.dev_warmup, d["dev_init"])
        self.policy.train()
        return res["avg_cost"]

    def learn(
        self,
        total_timesteps: int | None = None,
        callback: BaseCallback | list[BaseCallback] | None = None,
        log_interval: int = 10,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
        *,
        epochs: int | None = None,
    ) -> HDPO:
        """Train for ``epochs`` passes over the train set, or ``total_timesteps`` simulated
        trace-periods (``batch_size * train_periods`` per gradient step). Logs every
        ``log_interval`` epochs. Ends with the best dev-cost parameters loaded. Returns ``self``."""
        if (epochs is None) == (total_timesteps is None):
            raise ValueError("learn: pass exactly one of total_timesteps or epochs")
        steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        per_step = self.batch_size * self.train_periods
        if epochs is not None:
            n_steps = check_int("epochs", epochs, 1) * steps_per_epoch
        else:
            n_steps = math.ceil(check_int("total_timesteps", total_timesteps, 1) / per_step)
        log_interval = check_int("log_interval", log_interval, 0)
        tb_log_name = check_optional_str("tb_log_name", tb_log_name)
        reset_num_timesteps = check_bool("reset_num_timesteps", reset_num_timesteps)
        progress_bar = check_bool("progress_bar", progress_bar)
        callbacks = check_callbacks("callback", callback)
        if reset_num_timesteps:
            self.num_timesteps, self._n_updates, self.epochs_done = 0, 0, 0
            self.best_dev_cost, self.dev_history = math.inf, []
        if self._data is None:
            self._data = self._make_data()
        d = self._data
        if self.tensorboard_log is not None:
            run = next_run_dir(self.tensorboard_log, tb_log_name or "HDPO")
            self._logger = Logger(run, (["stdout"] if self.verbose >= 1 else []) + ["csv", "tensorboard"])
        if progress_bar:
            callbacks = [*callbacks, ProgressBarCallback()]
        cb = CallbackList(callbacks)
        cb.init_callback(self)  # type: ignore[arg-type]
        total = self.num_timesteps + n_steps * per_step
        cb.on_training_start({"total_timesteps": total})
        best_state = copy.deepcopy(self.policy.state_dict()) if math.isfinite(self.best_dev_cost) else None
        since_best = 0
        start, start_steps = time.perf_counter(), self.num_timesteps
        losses: list[float] = []
        order = torch.randperm(self.n_train, generator=d["perm"]).to(self.device)
        pos = 0
        self.policy.train()
        for step in range(n_steps):
            lr = self.lr_schedule(1.0 - step / n_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if pos >= self.n_train:
                order, pos = torch.randperm(self.n_train, generator=d["perm"]).to(self.device), 0
            idx = order[pos : pos + self.batch_size]
            pos += self.batch_size
            init = InventoryState(*(x[idx] for x in d["train_init"]))
            rewards, _ = simulate(self.core, self._policy_fn, d["train"][idx], init)
            loss = -rewards.mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # One host sync for both the loss and the reported cost, before the update.
            loss_value, cost = torch.stack(
                [loss.detach(), -rewards[:, self.train_warmup :].mean().detach()]
            ).tolist()
            if self.check_finite and not math.isfinite(loss_value):
                raise NonFiniteError(
                    f"learn: non-finite training cost {loss_value} in epoch {self.epochs_done + 1} "
                    f"(gradient step {self._n_updates + 1}, num_timesteps={self.num_timesteps}); the "
                    "parameters were not updated. Lower learning_rate or set max_grad_norm; "
                    "check_finite=False turns this check off"
                )
            if self.max_grad_norm is not None:
                grad_norm = float(clip_grad_norm(self._params, self.max_grad_norm))
                self.logger.record("train/grad_norm", grad_norm)
            self.optimizer.step()
            self._n_updates += 1
            self.num_timesteps += len(idx) * self.train_periods
            losses.append(cost)
            cb.update_locals({"loss": loss})
            if not cb.on_step():
                break
            if pos >= self.n_train:  # end of an epoch
                self.epochs_done += 1
                if self.epochs_done % self.eval_every == 0:
                    dev = self.dev_cost()
                    self.dev_history.append((self.epochs_done, dev))
                    if dev < self.best_dev_cost - 1e-12:
                        self.best_dev_cost, since_best = dev, 0
                        best_state = copy.deepcopy(self.policy.state_dict())
                    else:
                        since_best += self.eval_every
                    self.logger.record("train/dev_cost", dev)
                    self.logger.record("train/best_dev_cost", self.best_dev_cost)
                if log_interval and self.epochs_done % log_interval == 0:
                    self._dump_logs(losses, start, start_steps)
                    losses = []
                if self.patience is not None and since_best >= self.patience:
                    if self.verbose >= 1:
                        print(f"Early stopping after {self.epochs_done} epochs (no dev improvement)")
                    break
        last = self.dev_history[-1][0] if self.dev_history else -1
        if self.epochs_done > 0 and last != self.epochs_done:  # the final parameters compete too
            dev = self.dev_cost()
            self.dev_history.append((self.epochs_done, dev))
            if dev < self.best_dev_cost - 1e-12:
                self.best_dev_cost, best_state = dev, None
        if best_state is not None:
            self.policy.load_state_dict(best_state)
        cb.on_training_end()
        return self

    def _dump_logs(self, losses: list[float], start: float, start_steps: int) -> None:
        elapsed = max(time.perf_counter() - start, 1e-9)
        log = self.logger
        if losses:
            log.record("train/cost", float(np.mean(losses)))
        log.record("train/epochs", self.epochs_done)
        log.record("train/learning_rate", self.optimizer.param_groups[0]["lr"])
        log.record("train/n_updates", self._n_updates)
        log.record("time/fps", int((self.num_timesteps - start_steps) / elapsed))
        log.record("time/time_elapsed", int(elapsed))
        log.record("time/total_timesteps", self.num_timesteps)
        log.dump(self.num_timesteps)

    # ------------------------------------------------------------------ evaluation and inference
    def evaluate(
        self,
        n_traces: int = 4096,
        periods: int = 5000,
        warmup: int = 3000,
        seed: int = 20_240_611,
        round_orders: bool = False,
        chunk: int = 4096,
    ) -> dict[str, Any]:
        """Long-run average cost per period after ``warmup`` on ``n_traces`` independent test
        traces (the paper's protocol: 5000 periods, 3000 warm-up): ``{"avg_cost", "ci95",
        "per_trace"}``. ``round_orders`` rounds orders to integers (HDPO's test-time option)."""
        n_traces = check_int("n_traces", n_traces, 1)
        periods = check_int("periods", periods, 1)
        warmup = check_int("warmup", warmup, 0, periods - 1)
        seed = check_seed("seed", seed)
        round_orders = check_bool("round_orders", round_orders)
        chunk = check_int("chunk", chunk, 1)
        demand = torch.as_tensor(sample_traces(self.core, n_traces, periods, seed), dtype=self.dtype)
        state = initial_states(self.core, n_traces, np.random.default_rng(seed), self.random_initial_state)
        self.policy.eval()
        res = long_run_cost(self.core, self._policy_fn, demand, warmup, state, round_orders, chunk)
        self.policy.train()
        return res

    @torch.no_grad()
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """Orders for one flat observation ``[obs_dim]`` or a batch ``[B, obs_dim]`` (a ``dict``
        observation's ``"flat"`` entry is used). The policy is deterministic: ``deterministic`` is
        accepted for SB3 compatibility. Non-numeric or non-finite observations raise."""
        check_bool("deterministic", deterministic)
        name = "observation"
        if isinstance(observation, Mapping):
            if "flat" not in observation:
                raise ValueError(
                    f"observation: a dict observation needs its 'flat' entry; got keys {list(observation)}"
                )
            observation, name = observation["flat"], "observation['flat']"
        if isinstance(observation, Tensor):
            observation = observation.detach().cpu().numpy()
        try:
            arr = np.asarray(observation)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"{name}: not a rectangular array ({e})") from e
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: got values of dtype {arr.dtype}; must be numbers")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{name}: contains NaN or inf; observations must be finite")
        obs = torch.as_tensor(arr, dtype=self.dtype, device=self.device)
        single = obs.ndim == 1
        if single:
            obs = obs.unsqueeze(0)
        if obs.ndim != 2 or obs.shape[1] != self.core.obs_dim:
            raise ValueError(
                f"{name}: expected shape ({self.core.obs_dim},) or (B, {self.core.obs_dim}), "
                f"got {tuple(np.shape(observation))}"
            )
        self.policy.eval()
        orders = self.policy(obs).clamp_min(0.0).double().cpu().numpy()
        self.policy.train()
        return (orders[0] if single else orders), None

    def __call__(self, obs: Tensor) -> Tensor:
        """The policy on the core (``obs [B, obs_dim] -> orders``), e.g. for :func:`long_run_cost`."""
        return self.policy(obs.to(self.dtype))

    # ------------------------------------------------------------------ persistence
    def _config(self) -> dict[str, Any]:
        return {
            "policy": self.policy_name
            if isinstance(self.policy_name, str) and self.policy_name in self.policy_aliases
            else self.policy_aliases.to_name(self.policy_class),
            "learning_rate": _schedule_to_json(self.learning_rate),
            "batch_size": self.batch_size,
            "n_train": self.n_train,
            "n_dev": self.n_dev,
            "train_periods": self.train_periods,
            "train_warmup": self.train_warmup,
            "dev_periods": self.dev_periods,
            "dev_warmup": self.dev_warmup,
            "eval_every": self.eval_every,
            "patience": self.patience,
            "max_grad_norm": self.max_grad_norm,
            "random_initial_state": self.random_initial_state,
            "dtype": self.dtype_name,
            "policy_kwargs": policy_kwargs_to_json(self.policy_kwargs),
            "seed": self.seed,
            "verbose": self.verbose,
            "check_finite": self.check_finite,
        }

    def save(self, path: str | Path) -> None:
        """Save to a zip: ``data.json`` (config, the env's description, counters), ``policy.pth``
        and ``policy.optimizer.pth`` (state dicts of tensors, loaded with ``weights_only=True``)."""
        data = {
            "class": type(self).__name__,
            "config": self._config(),
            "env": self.description,
            "num_timesteps": self.num_timesteps,
            "n_updates": self._n_updates,
            "epochs": self.epochs_done,
            "best_dev_cost": self.best_dev_cost if math.isfinite(self.best_dev_cost) else None,
        }
        states = {"policy.pth": self.policy.state_dict(), "policy.optimizer.pth": self.optimizer.state_dict()}
        write_model_zip(path, data, states)

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: Any = None,
        device: str = "auto",
        custom_objects: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> HDPO:
        """Re-create a saved model on its own network, or on ``env``: any network the saved
        weights fit (the same one for an MLP; any network of the family for a GNN, e.g. 10
        stores for a policy trained on 5). ``kwargs`` override saved hyperparameters.

        As for every agent, nothing named in the file is imported: the policy and activation
        resolve through the registries (or ``custom_objects``), a saved env id must be a
        registered id, and the tensors are checked against the policy's shapes first."""
        data, states = read_model_zip(path, ("policy.pth", "policy.optimizer.pth"))
        check_model_class(data, cls, path)
        env_kwargs = kwargs.pop("env_kwargs", None)
        policy, config = saved_config(
            data, cls.policy_aliases, cls.__init__, custom_objects, kwargs, _schedule_from_json
        )
        desc = _check_description(data.get("env")) if env is None else _core_description(env, env_kwargs)
        dtype = _DTYPES.get(config.get("dtype", "float32"), torch.float32)
        core = _build_core(desc, dtype, torch.device("cpu"))
        pk = config["policy_kwargs"]
        try:
            expected = meta_state_dict(lambda: policy(core, **pk))
        except TypeError as e:
            raise ValueError(f"policy_kwargs: {e}") from e
        try:
            check_state_dict("policy.pth", states["policy.pth"], expected)
        except ValueError as e:
            raise ValueError(f"env: the saved policy's weights do not fit this network: {e}") from e
        model = cls(policy, env, device=device, _description=desc, **config)
        model.policy.load_state_dict(states["policy.pth"])
        check_optimizer_state("policy.optimizer.pth", states["policy.optimizer.pth"], model.optimizer)
        model.optimizer.load_state_dict(states["policy.optimizer.pth"])
        model.num_timesteps = _saved_count(data, "num_timesteps")
        model._n_updates = _saved_count(data, "n_updates")
        model.epochs_done = _saved_count(data, "epochs")
        best = data.get("best_dev_cost")
        if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))):
            raise ValueError(f"best_dev_cost: got {best!r} in the saved model; expected a number or null")
        model.best_dev_cost = math.inf if best is None else float(best)
        return model

    def parameter_count(self) -> int:
        """Number of trainable parameters of the policy."""
        return sum(p.numel() for p in self.policy.parameters() if p.requires_grad)
