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

The hyperparameters are a frozen dataclass, :class:`HDPOConfig` (``model.config``), saved in the
model's zip and restored through the same class, as for the on-policy agents.

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from rlsuite.envs.inventory.core import InventoryCore, InventoryState
from rlsuite.envs.inventory.env import InvMgmtEnv
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

from .common.callbacks import BaseCallback
from .common.config import config_from_arguments, config_to_json
from .common.device import resolve_device
from .common.distributed import all_reduce_sum, broadcast_, rank_and_size
from .common.observations import numeric_tensor
from .common.optim import clip_grad_norm
from .common.persistence import (
    ParametersMixin,
    check_env_id,
    check_optimizer_state,
    check_state_dict,
    meta_state_dict,
    policy_kwargs_to_json,
    read_saved_agent,
    saved_count,
    write_model_zip,
)
from .common.schedules import Schedule, check_schedule, make_schedule
from .common.training import setup_learn
from .common.validation import NonFiniteError, accepted_kwargs, check_kwargs_keys
from .inventory_policies import INVENTORY_POLICY_ALIASES, InventoryPolicyNet

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class HDPOConfig:
    """HDPO's hyperparameters: the fixed data sets, the rollouts, Adam and the dev-set checkpoint.
    Its fields are HDPO's constructor parameters (less ``policy``, ``env`` and ``env_kwargs``,
    which describe the network), with the same defaults."""

    learning_rate: float | Schedule = 3e-3
    """Adam's step size, or a schedule of progress_remaining (1 -> 0) (HDPO: 3e-3 one-store MLP, 1e-3 GNN)."""
    batch_size: int = 1024
    """Traces per gradient step (<= n_train)."""
    n_train: int = 8192
    """Size of the fixed train set of demand traces (an epoch is one pass over it)."""
    n_dev: int = 4096
    """Size of the fixed dev set of demand traces (picks the checkpoint)."""
    train_periods: int = 50
    """Periods simulated per trace in a gradient step."""
    train_warmup: int = 30
    """First periods left out of the reported training cost (the loss includes them, as in the paper)."""
    dev_periods: int = 100
    """Periods simulated per dev trace."""
    dev_warmup: int = 60
    """First periods left out of the dev cost."""
    eval_every: int = 10
    """Epochs between dev evaluations."""
    patience: int | None = None
    """Stop after this many epochs without a better dev cost (None: never)."""
    max_grad_norm: float | None = None
    """Largest global L2 norm of the gradient (clipped above it; None: no clipping)."""
    random_initial_state: bool = True
    """Start rollouts from U[0, 1] x mean demand per inventory slot (as HDPO), not the env's start state."""
    dtype: str = "float32"
    """Floating-point type of the simulator and the policy: 'float32' (fast) or 'float64'."""
    policy_kwargs: dict[str, Any] | None = None
    """Keyword arguments of the policy class (net_arch, activation_fn, feasibility, init, ...)."""
    tensorboard_log: str | None = None
    """Folder of TensorBoard and CSV runs (None: stdout only, when verbose >= 1)."""
    verbose: int = 0
    """0: silent; 1: the logger prints a table every log_interval epochs, and early stopping is announced."""
    seed: int | None = None
    """Seed of the policy's initialization, the train/dev traces, the start states and the batch order."""
    device: str | torch.device = "auto"
    """'auto' (CUDA when present: HDPO simulates thousands of traces per step), 'cpu', 'cuda', 'cuda:N'."""
    check_finite: bool = True
    """Stop learn at the first non-finite training cost, before the parameters are updated with it."""

    def __post_init__(self) -> None:
        self._set("learning_rate", check_schedule(self.learning_rate, "learning_rate"))
        for name in ("batch_size", "n_train", "n_dev", "train_periods", "dev_periods", "eval_every"):
            self._set(name, check_int(name, getattr(self, name), 1))
        if self.batch_size > self.n_train:
            raise ValueError(f"batch_size: got {self.batch_size}, larger than n_train = {self.n_train}")
        self._set("train_warmup", check_int("train_warmup", self.train_warmup, 0, self.train_periods - 1))
        self._set("dev_warmup", check_int("dev_warmup", self.dev_warmup, 0, self.dev_periods - 1))
        if self.patience is not None:
            self._set("patience", check_int("patience", self.patience, 1))
        norm = check_optional_real("max_grad_norm", self.max_grad_norm, low=0.0, low_open=True)
        self._set("max_grad_norm", norm)
        for name in ("random_initial_state", "check_finite"):
            self._set(name, check_bool(name, getattr(self, name)))
        self._set("dtype", check_choice("dtype", self.dtype, sorted(_DTYPES)))
        self._set("policy_kwargs", check_mapping("policy_kwargs", self.policy_kwargs))
        self._set("tensorboard_log", check_optional_str("tensorboard_log", self.tensorboard_log))
        self._set("verbose", check_int("verbose", self.verbose, 0))
        self._set("seed", check_seed("seed", self.seed))
        resolve_device(self.device)  # checked here, resolved by the model

    def _set(self, name: str, value: Any) -> None:
        """Store a checked (canonical-typed) value in the frozen config."""
        object.__setattr__(self, name, value)


def _hdpo_device(device: str | torch.device) -> torch.device:
    """Unlike the on-policy agents (small batches, env-bound), HDPO simulates thousands of traces
    per step: ``"auto"`` picks CUDA when present."""
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return resolve_device(device)


@dataclass
class _LearnRun:
    """What one ``learn`` call carries from one gradient step to the next."""

    best_state: dict[str, Any] | None
    """The parameters with the best dev cost so far (None: keep the current ones)."""
    start_steps: int
    """num_timesteps when learn started (for the logged fps)."""
    since_best: int = 0
    """Epochs since the dev cost last improved."""
    costs: list[float] = field(default_factory=list)
    """Training costs (after the warm-up) of the gradient steps since the last log dump."""
    start: float = field(default_factory=time.perf_counter)
    """When learn started (perf_counter seconds)."""


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
            "num_periods": cast(InvMgmtEnv, made.unwrapped).num_periods,
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
        base = cast(InvMgmtEnv, made.unwrapped).core
        spec, backlog, allocation, order = base.spec, base.backlog, base.allocation, base.event_order
    else:
        spec = NetworkSpec.from_dict(desc["network"])
        backlog, allocation, order = desc["backlog"], desc["allocation"], desc["event_order"]
    return InventoryCore(
        spec, backlog=backlog, allocation=allocation, event_order=order, dtype=dtype, device=device
    )


class HDPO(ParametersMixin):
    """HDPO with Stable-Baselines3's surface (``learn``, ``predict``, ``save``, ``load``,
    callbacks, logger, progress bar, ``device="auto"``). Each hyperparameter is documented on
    :class:`HDPOConfig` (``model.config``); learning rates for the base-stock policies: HDPO uses
    0.5 on raw levels, ours are in units of the mean demand (use ~0.05).

    Args:
        policy: ``"MlpPolicy"`` (HDPO's vanilla MLP), ``"GNNPolicy"`` (torch-geometric),
            ``"BaseStockPolicy"`` / ``"EchelonStockPolicy"`` (trainable levels), or a class
            ``cls(core, **policy_kwargs)`` deriving from ``InventoryPolicyNet``.
        env: an ``InvMgmt`` id (with ``env_kwargs``), an ``InvMgmt`` env (single or vector) or an
            ``InventoryCore``. Any other env raises ``ValueError``: HDPO needs the simulator's
            gradients.
        env_kwargs: keyword arguments of ``gym.make`` when ``env`` is an id (saved with the
            network's description, not in the config).
    """

    policy_aliases = INVENTORY_POLICY_ALIASES
    #: The config dataclass: its fields are the constructor's parameters (less policy, env, env_kwargs).
    config_class: ClassVar[type[HDPOConfig]] = HDPOConfig

    config: HDPOConfig

    def __init__(
        self,
        policy: str | type[InventoryPolicyNet] = "MlpPolicy",
        env: Any = None,
        learning_rate: float | Schedule = 3e-3,
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
        self.config = config_from_arguments(HDPOConfig, locals())
        self.lr_schedule = make_schedule(self.config.learning_rate, "learning_rate")
        self.dtype = _DTYPES[self.config.dtype]
        is_class = isinstance(self.policy_class, type)
        allowed = accepted_kwargs(
            self.policy_class.__init__ if is_class else self.policy_class, 2 if is_class else 1
        )
        # ``allowed``: the policy's parameters after self (for a class) and core.
        check_kwargs_keys("policy_kwargs", self.config.policy_kwargs or {}, allowed)
        self.device = _hdpo_device(self.config.device)
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
        self._logger = None
        self.n_envs = self.config.batch_size * self.config.train_periods  # timesteps per step (progress bar)
        self._setup_model()

    # ------------------------------------------------------------------ setup
    def _setup_model(self) -> None:
        cfg = self.config
        if cfg.seed is not None:
            torch.manual_seed(cfg.seed)
        self.core = _build_core(self.description, self.dtype, self.device)
        try:
            self.policy: InventoryPolicyNet = self.policy_class(self.core, **(cfg.policy_kwargs or {}))
        except TypeError as e:  # a wrong type, or a key the policy does not take
            raise TypeError(f"policy_kwargs: {e}") from e
        self.policy.to(device=self.device, dtype=self.dtype)
        if not any(p.requires_grad for p in self.policy.parameters()):
            raise ValueError("policy: has no trainable parameters")
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.lr_schedule(1.0))
        self._params = [p for p in self.policy.parameters() if p.requires_grad]
        self._data: dict[str, Any] | None = None

    def _dataset(self) -> dict[str, Any]:
        """The fixed train and dev sets (demand traces and start states) and the generator of the
        batch order, drawn from ``seed`` on first use."""
        if self._data is None:
            self._data = self._make_data()
        return self._data

    def _make_data(self) -> dict[str, Any]:
        cfg = self.config
        seed = cfg.seed
        if seed is None:  # OS entropy, the same in every process of a group (rank 0's)
            fresh = torch.tensor([int(np.random.SeedSequence().generate_state(1)[0] % 2**31)])
            broadcast_([fresh.to(self.device)])
            seed = int(fresh[0])
        ss = np.random.SeedSequence([seed, 1706])
        s_train, s_dev, s_init, s_perm = (int(c.generate_state(1)[0]) for c in ss.spawn(4))
        core = self.core
        as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        rng = np.random.default_rng(s_init)
        return {
            "train": as_t(sample_traces(core, cfg.n_train, cfg.train_periods, s_train)),
            "train_init": initial_states(core, cfg.n_train, rng, cfg.random_initial_state),
            "dev": as_t(sample_traces(core, cfg.n_dev, cfg.dev_periods, s_dev)),
            "dev_init": initial_states(core, cfg.n_dev, rng, cfg.random_initial_state),
            "perm": torch.Generator().manual_seed(s_perm),
        }

    # ------------------------------------------------------------------ training
    def _policy_fn(self, obs: Tensor) -> Tensor:
        return self.policy(obs)

    def dev_cost(self) -> float:
        """Mean cost per period after ``dev_warmup`` on the dev set (no gradient). In a process
        group each process simulates every ``world_size``-th dev trace and the costs are summed."""
        d = self._dataset()
        rank, world = rank_and_size()
        dev, init = d["dev"], d["dev_init"]
        if world > 1:
            dev, init = dev[rank::world], InventoryState(*(x[rank::world] for x in init))
        self.policy.eval()
        res = long_run_cost(self.core, self._policy_fn, dev, self.config.dev_warmup, init)
        self.policy.train()
        if world == 1:
            return res["avg_cost"]
        (total,) = all_reduce_sum([torch.tensor([res["per_trace"].sum()], device=self.device)])
        return float(total[0]) / self.config.n_dev

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
        n_steps = self._gradient_steps(total_timesteps, epochs)
        setup = setup_learn(self, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
        if setup.reset_num_timesteps:
            self.num_timesteps, self._n_updates, self.epochs_done = 0, 0, 0
            self.best_dev_cost, self.dev_history = math.inf, []
        cb = setup.callback
        cb.on_training_start({"total_timesteps": self.num_timesteps + n_steps * self.n_envs})
        if rank_and_size()[1] > 1:  # every process starts from rank 0's parameters
            broadcast_([*self.policy.parameters(), *self.policy.buffers()])
        run = self._start_run()
        self.policy.train()
        for step, (idx, ends_epoch) in enumerate(self._minibatches(n_steps)):
            self._set_learning_rate(1.0 - step / n_steps)
            loss, cost = self._gradient_step(idx)
            run.costs.append(cost)
            cb.update_locals({"loss": loss})
            if not cb.on_step():
                break
            if ends_epoch:
                self._end_epoch(run)
                if setup.log_interval and self.epochs_done % setup.log_interval == 0:
                    self._dump_logs(run)
                if self._stop_early(run):
                    break
        self._keep_best(run)
        cb.on_training_end()
        return self

    def _gradient_steps(self, total_timesteps: int | None, epochs: int | None) -> int:
        """Gradient steps of a ``learn`` call: ``epochs`` x ceil(n_train / batch_size), or
        ``total_timesteps`` / (batch_size x train_periods) rounded up."""
        if (epochs is None) == (total_timesteps is None):
            raise ValueError("learn: pass exactly one of total_timesteps or epochs")
        cfg = self.config
        if epochs is not None:
            return check_int("epochs", epochs, 1) * math.ceil(cfg.n_train / cfg.batch_size)
        return math.ceil(check_int("total_timesteps", total_timesteps, 1) / self.n_envs)

    def _start_run(self) -> _LearnRun:
        """A learn call's state; a model that already has a dev cost starts with its parameters as
        the best (they are the best of the previous call)."""
        best = copy.deepcopy(self.policy.state_dict()) if math.isfinite(self.best_dev_cost) else None
        return _LearnRun(best, start_steps=self.num_timesteps)

    def _minibatches(self, n_steps: int) -> Iterator[tuple[Tensor, bool]]:
        """Indices of the train traces of each of ``n_steps`` gradient steps, and whether the batch
        ends an epoch: each epoch is one pass over a new permutation (its last batch may be smaller)."""
        n_train, size, perm = self.config.n_train, self.config.batch_size, self._dataset()["perm"]
        order, pos = torch.randperm(n_train, generator=perm).to(self.device), 0
        for _ in range(n_steps):
            if pos >= n_train:
                order, pos = torch.randperm(n_train, generator=perm).to(self.device), 0
            yield order[pos : pos + size], pos + size >= n_train
            pos += size

    def _set_learning_rate(self, progress_remaining: float) -> None:
        lr = self.lr_schedule(progress_remaining)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _gradient_step(self, idx: Tensor) -> tuple[Tensor, float]:
        """One Adam step on the mean cost per period of the train traces ``idx``, simulated from
        their start states (warm-up periods included in the loss, as in the paper). Returns the
        loss and the training cost after the warm-up (the reported figure).

        In a process group (:mod:`.common.distributed`) each process simulates every
        ``world_size``-th trace of ``idx`` and its share of the mean (its sum over the whole
        batch's count); one all-reduce sums the gradients and the two figures, so every process
        takes the step one process would take on ``idx``."""
        cfg, data = self.config, self._dataset()
        rank, world = rank_and_size()
        shard = idx[rank::world] if world > 1 else idx
        init = InventoryState(*(x[shard] for x in data["train_init"]))
        rewards, _ = simulate(self.core, self._policy_fn, data["train"][shard], init)
        n, periods, warmup = len(idx), cfg.train_periods, cfg.train_warmup
        loss = -rewards.sum() / (n * periods)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        figures = torch.stack([loss.detach(), -rewards[:, warmup:].sum().detach() / (n * (periods - warmup))])
        if world > 1:
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self._params]
            *summed, figures = all_reduce_sum([*grads, figures])
            for p, g in zip(self._params, summed, strict=True):
                p.grad = g
            loss = figures[0]
        # One host sync for both the loss and the reported cost, before the update.
        loss_value, cost = figures.tolist()
        if cfg.check_finite and not math.isfinite(loss_value):
            raise NonFiniteError(
                f"learn: non-finite training cost {loss_value} in epoch {self.epochs_done + 1} "
                f"(gradient step {self._n_updates + 1}, num_timesteps={self.num_timesteps}); the "
                "parameters were not updated. Lower learning_rate or set max_grad_norm; "
                "check_finite=False turns this check off"
            )
        if cfg.max_grad_norm is not None:
            self.logger.record("train/grad_norm", float(clip_grad_norm(self._params, cfg.max_grad_norm)))
        self.optimizer.step()
        self._n_updates += 1
        self.num_timesteps += len(idx) * cfg.train_periods
        return loss, cost

    def _end_epoch(self, run: _LearnRun) -> None:
        """Count a pass over the train set; every ``eval_every`` epochs, measure the dev cost and
        keep the parameters when they are the best so far."""
        self.epochs_done += 1
        every = self.config.eval_every
        if self.epochs_done % every:
            return
        if self._check_dev():
            run.best_state, run.since_best = copy.deepcopy(self.policy.state_dict()), 0
        else:
            run.since_best += every
        self.logger.record("train/dev_cost", self.dev_history[-1][1])
        self.logger.record("train/best_dev_cost", self.best_dev_cost)

    def _check_dev(self) -> bool:
        """Append the dev cost of the current parameters to ``dev_history``; True (and
        ``best_dev_cost`` lowered) when it beats the best so far."""
        dev = self.dev_cost()
        self.dev_history.append((self.epochs_done, dev))
        improved = dev < self.best_dev_cost - 1e-12
        if improved:
            self.best_dev_cost = dev
        return improved

    def _stop_early(self, run: _LearnRun) -> bool:
        """True once ``patience`` epochs passed without a better dev cost."""
        patience = self.config.patience
        if patience is None or run.since_best < patience:
            return False
        if self.config.verbose >= 1:
            print(f"Early stopping after {self.epochs_done} epochs (no dev improvement)")
        return True

    def _keep_best(self, run: _LearnRun) -> None:
        """End of ``learn``: the final parameters compete too (their dev cost is measured unless
        it just was); the best parameters are loaded."""
        measured = bool(self.dev_history) and self.dev_history[-1][0] == self.epochs_done
        if self.epochs_done > 0 and not measured and self._check_dev():
            run.best_state = None  # the final parameters are the best
        if run.best_state is not None:
            self.policy.load_state_dict(run.best_state)

    def _dump_logs(self, run: _LearnRun) -> None:
        elapsed = max(time.perf_counter() - run.start, 1e-9)
        log = self.logger
        if run.costs:
            log.record("train/cost", float(np.mean(run.costs)))
        run.costs.clear()
        log.record("train/epochs", self.epochs_done)
        log.record("train/learning_rate", self.optimizer.param_groups[0]["lr"])
        log.record("train/n_updates", self._n_updates)
        log.record("time/fps", int((self.num_timesteps - run.start_steps) / elapsed))
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
        state = initial_states(
            self.core, n_traces, np.random.default_rng(seed), self.config.random_initial_state
        )
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
        values = numeric_tensor(name, observation)  # rejects ragged and non-numeric input
        if values.is_floating_point() and not torch.isfinite(values).all():
            raise ValueError(f"{name}: contains NaN or inf; observations must be finite")
        obs = values.detach().to(dtype=self.dtype, device=self.device)
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
    def save(self, path: str | Path) -> None:
        """Save to a zip: ``data.json`` (the config, the env's description, counters), ``policy.pth``
        and ``policy.optimizer.pth`` (state dicts of tensors, loaded with ``weights_only=True``)."""
        policy = self.policy_name
        if not (isinstance(policy, str) and policy in self.policy_aliases):
            policy = self.policy_aliases.to_name(self.policy_class)  # a name, never an import path
        pk = policy_kwargs_to_json(self.config.policy_kwargs or {})
        data = {
            "class": type(self).__name__,
            "config": {"policy": policy, **config_to_json(self.config, pk)},
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

        The saved config is restored through :class:`HDPOConfig`: an unknown key is refused, a
        missing one takes its default (files of earlier versions load); ``device`` chooses where
        the model runs (the saved one is a record). As for every agent, nothing named in the file
        is imported: the policy and activation resolve through the registries (or
        ``custom_objects``), a saved env id must be a registered id, and the tensors are checked
        against the policy's shapes first."""
        env_kwargs = kwargs.pop("env_kwargs", None)
        members = ("policy.pth", "policy.optimizer.pth")
        data, states, policy, config = read_saved_agent(cls, path, members, custom_objects, kwargs)
        checked = HDPOConfig(**config)  # every value checked before anything is built
        desc = _check_description(data.get("env")) if env is None else _core_description(env, env_kwargs)
        dtype = _DTYPES[checked.dtype]
        core = _build_core(desc, dtype, torch.device("cpu"))
        pk = checked.policy_kwargs or {}
        try:  # the policy as the model holds it: in the config's dtype
            expected = meta_state_dict(lambda: policy(core, **pk).to(dtype=dtype))
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
        model.num_timesteps = saved_count(data, "num_timesteps")
        model._n_updates = saved_count(data, "n_updates")
        model.epochs_done = saved_count(data, "epochs")
        best = data.get("best_dev_cost")
        if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))):
            raise ValueError(f"best_dev_cost: got {best!r} in the saved model; expected a number or null")
        model.best_dev_cost = math.inf if best is None else float(best)
        return model

    def parameter_count(self) -> int:
        """Number of trainable parameters of the policy."""
        return sum(p.numel() for p in self.policy.parameters() if p.requires_grad)
