"""``LotSizingEnv``: stochastic multi-item, multi-machine discrete lot-sizing with a post-decision state.

The plant of Felizardo, Fadda, Brandimarte, Del-Moral-Hernandez and Nascimento, "A Reinforcement
Learning Method for Environments with Stochastic Variables: Post-Decision Proximal Policy
Optimization with Dual Critic Networks", IJCNN 2025 (arXiv 2504.05150) ("simplePlant", after
E. Fadda's discrete lot-sizing environment), written from its description.

Model. ``n_items`` items are made on ``n_machines`` machines. Each period every machine either
idles (action 0) or makes one item (action ``i`` = item ``i``, 1-based), so the action space is
``MultiDiscrete([n_items + 1] * n_machines)``. Each period splits into two steps:

1. **Post-decision step (deterministic).** Machine ``m`` choosing item ``i`` while its setup is
   not ``i`` pays ``setup_costs[m, i-1]`` and loses ``setup_loss[m, i-1]`` units of that
   period's batch; it then adds ``max(production[m, i-1] - loss, 0)`` units of item ``i``. Several
   machines may make the same item. The machine's setup becomes its action.
2. **Stochastic step.** Demand ``d`` (one draw per item) is served from the post-decision
   inventory: ``sales = min(inventory, d)``; the shortfall is lost at ``lost_sales_costs[i]`` per
   unit; the end-of-period inventory pays ``holding_costs[i]`` per unit.

Reward = -(setup + lost-sales + holding cost). The observation is
``[inventory (n_items), machine setups (n_machines)]`` as ``float32``; demand is not observed.

Conventions (where the reference code leaves a choice):

- **Idle resets the setup.** Action 0 sets the machine's setup to 0 ("idle"), as in simplePlant:
  making item ``i`` after an idle period pays the setup of ``i`` again.
- **The cap applies after production.** The post-decision inventory is
  ``min(inventory + made, max_inventory)``; units above the cap are discarded
  (``info["discarded"]``), so the post-decision state is itself a valid observation.
  (simplePlant clips after demand instead, letting demand be served from above the cap.)
- **Machines that cannot make an item** (``production[m, i] == 0``) may still choose it: they
  pay the setup and make nothing. The action space stays a plain ``MultiDiscrete``.
- **Units are integers**: production, setup losses, capacities, inventories and demand are whole
  units, so the ``float32`` observation holds the state exactly and :meth:`post_decision`
  reproduces ``info["post_decision_obs"]`` bit for bit. Costs may be any non-negative reals.
- **Initial state.** ``reset`` draws the inventory of each item uniformly from
  ``initial_inventory`` (default ``[0, max_inventory - 1]``, as simplePlant's ``reset``) and, with
  ``random_initial_setup``, each machine's setup uniformly among the items it can make (idle if
  none); otherwise every machine starts idle.
- **Randomness.** ``reset(seed=...)`` seeds ``self.np_random`` and draws, in this order, the
  initial inventory, the initial setups and the whole episode's demand ``[horizon, n_items]``;
  the draws never depend on the actions (common random numbers). ``reset(options=...)`` may
  replace the initial ``inventory``, the ``setup`` or the ``demand`` trace; the draws are made
  anyway, so the rest of the episode is unchanged.

The episode is truncated (never terminated) after ``horizon`` periods. The clairvoyant benchmark
(the best plan for a known demand trace) is :func:`rlsuite.baselines.perfect_information_bound`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlsuite.validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
    is_int,
    short_repr,
)

from ..validation import check_step_allowed, real_array

DEMAND_MODELS = ("binomial", "poisson", "deterministic")
RESET_OPTIONS = ("inventory", "setup", "demand")
_ARRAY_FIELDS = ("production", "setup_costs", "setup_loss", "lost_sales_costs", "holding_costs")
MAX_ITEMS = 1000
"""Most items (and, separately, most machines) of an instance."""
MAX_INVENTORY = 2**24
"""Largest ``max_inventory``: inventories are whole units held exactly in the float32 observation."""
MAX_HORIZON = 1_000_000
"""Longest episode (``horizon``)."""
MAX_DEMAND_ENTRIES = 10**7
"""Largest episode demand array, ``horizon * n_items`` entries (drawn whole at ``reset``)."""


def _check_array(name: str, value: Any, shape: tuple[int, ...], integer: bool) -> np.ndarray:
    """A read-only float64 (or int64) copy of ``value``, checked finite, >= 0 and of ``shape``."""
    arr = np.array(real_array(name, value), dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name}: got shape {arr.shape}; must be {shape} (n_machines, n_items as given)")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name}: got {arr.tolist()}; every entry must be finite and >= 0")
    if integer:
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name}: got {arr.tolist()}; entries must be whole units (integers)")
        arr = arr.astype(np.int64)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class LotSizingSpec:
    """One lot-sizing instance. Arrays are validated and stored read-only."""

    production: np.ndarray
    """``[n_machines, n_items]`` int: units of item ``i`` machine ``m`` makes per period (0 = cannot)."""
    setup_costs: np.ndarray
    """``[n_machines, n_items]``: cost of switching machine ``m`` to item ``i``."""
    setup_loss: np.ndarray
    """``[n_machines, n_items]`` int: units of the first batch lost when switching ``m`` to ``i``."""
    lost_sales_costs: np.ndarray
    """``[n_items]``: cost per unit of unmet demand."""
    holding_costs: np.ndarray
    """``[n_items]``: cost per unit of end-of-period inventory."""
    max_inventory: int = 100
    """Inventory cap per item (units); production above it is discarded."""
    horizon: int = 100
    """Periods per episode (then ``truncated=True``)."""
    demand: str = "binomial"
    """Demand model per item and period: ``binomial``, ``poisson`` or ``deterministic``."""
    demand_n: int = 20
    """Binomial number of trials."""
    demand_p: float = 0.4
    """Binomial success probability."""
    demand_mean: Any = 8.0
    """Mean (``poisson``) or the fixed value (``deterministic``, whole units): scalar or ``[n_items]``."""
    initial_inventory: tuple[int, int] | None = None
    """Inclusive range of the initial inventory draw; ``None`` = ``(0, max_inventory - 1)``."""
    random_initial_setup: bool = True
    """Start each machine on a random item it can make; ``False`` = every machine idle."""
    name: str = "custom"
    """A label for logs."""

    def __post_init__(self) -> None:
        prod = real_array("production", self.production)
        if prod.ndim != 2 or prod.shape[0] < 1 or prod.shape[1] < 1:
            raise ValueError(
                f"production: got shape {prod.shape}; must be [n_machines, n_items] with both >= 1"
            )
        n_m, n_i = prod.shape
        check_int("n_machines", n_m, 1, MAX_ITEMS)
        check_int("n_items", n_i, 1, MAX_ITEMS)
        shapes = {
            "production": ((n_m, n_i), True),
            "setup_costs": ((n_m, n_i), False),
            "setup_loss": ((n_m, n_i), True),
            "lost_sales_costs": ((n_i,), False),
            "holding_costs": ((n_i,), False),
        }
        for name, (shape, integer) in shapes.items():
            object.__setattr__(self, name, _check_array(name, getattr(self, name), shape, integer))
        check_int("max_inventory", self.max_inventory, 1, MAX_INVENTORY)
        check_int("horizon", self.horizon, 1, MAX_HORIZON)
        if self.horizon * n_i > MAX_DEMAND_ENTRIES:
            raise ValueError(
                f"horizon: got {self.horizon}; horizon x n_items = {self.horizon * n_i} demand entries "
                f"per episode exceed the limit {MAX_DEMAND_ENTRIES}"
            )
        check_choice("demand", self.demand, DEMAND_MODELS)
        check_int("demand_n", self.demand_n, 0, MAX_INVENTORY)
        check_real("demand_p", self.demand_p, 0.0, 1.0)
        check_bool("random_initial_setup", self.random_initial_setup)
        if not isinstance(self.name, str):
            raise ArgumentTypeError(f"name: got {short_repr(self.name)}; must be a string")
        mean_arr = real_array("demand_mean", self.demand_mean).astype(np.float64)
        if mean_arr.ndim not in (0, 1) or mean_arr.size not in (1, n_i):
            raise ValueError(
                f"demand_mean: got {short_repr(self.demand_mean)}; must be a finite value >= 0 or "
                f"[n_items] = [{n_i}] of them"
            )
        mean = np.broadcast_to(mean_arr.reshape(-1), (n_i,)).copy()
        if not np.all(np.isfinite(mean)) or np.any(mean < 0) or np.any(mean > MAX_INVENTORY):
            raise ValueError(
                f"demand_mean: got {short_repr(self.demand_mean)}; must be finite values in "
                f"[0, {MAX_INVENTORY}], a scalar or [n_items] of them"
            )
        if self.demand == "deterministic" and np.any(mean != np.round(mean)):
            raise ValueError(
                f"demand_mean: got {self.demand_mean!r}; deterministic demand must be whole units"
            )
        mean.flags.writeable = False
        object.__setattr__(self, "demand_mean", mean)
        init = (0, self.max_inventory - 1) if self.initial_inventory is None else self.initial_inventory
        if (
            not isinstance(init, (tuple, list))
            or len(init) != 2
            or not all(is_int(v) for v in init)
            or not 0 <= init[0] <= init[1] <= self.max_inventory
        ):
            raise ValueError(
                f"initial_inventory: got {self.initial_inventory!r}; must be integers (low, high) "
                f"with 0 <= low <= high <= max_inventory = {self.max_inventory}"
            )
        if self.initial_inventory is not None:
            object.__setattr__(self, "initial_inventory", (int(init[0]), int(init[1])))

    @property
    def n_items(self) -> int:
        return int(self.production.shape[1])

    @property
    def n_machines(self) -> int:
        return int(self.production.shape[0])

    @property
    def initial_inventory_range(self) -> tuple[int, int]:
        """Inclusive range of the initial inventory draw (``initial_inventory`` or its default)."""
        return (0, self.max_inventory - 1) if self.initial_inventory is None else self.initial_inventory

    @property
    def can_produce(self) -> np.ndarray:
        """``[n_machines, n_items]`` bool: machine ``m`` makes item ``i`` at a positive rate."""
        return self.production > 0

    def replace(self, **changes: Any) -> LotSizingSpec:
        """A validated copy with some fields changed (unknown names raise ``ValueError``)."""
        allowed = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise ValueError(f"LotSizingSpec: unknown field(s) {unknown}; allowed: {allowed}")
        return dataclasses.replace(self, **changes)

    def sample_demand(self, rng: np.random.Generator, periods: int) -> np.ndarray:
        """``[periods, n_items]`` int64 demand drawn from ``rng`` (nothing drawn if deterministic)."""
        shape = (periods, self.n_items)
        if self.demand == "binomial":
            return rng.binomial(self.demand_n, float(self.demand_p), size=shape).astype(np.int64)
        if self.demand == "poisson":
            return rng.poisson(self.demand_mean, size=shape).astype(np.int64)
        return np.broadcast_to(self.demand_mean.astype(np.int64), shape).copy()


def _biased_integers(rng: np.random.Generator, shape: tuple[int, ...], low: int, high: int, p_low: float):
    """Integers in ``[low, high]``: ``low`` with probability ``p_low``, otherwise uniform above it
    (the instance generator of the PDPPO code)."""
    above = rng.integers(low + 1, high + 1, size=shape)
    return np.where(rng.random(shape) < p_low, low, above)


def make_lotsizing_spec(n_items: int, n_machines: int, seed: int = 0, **overrides: Any) -> LotSizingSpec:
    """A random instance with the ranges of the PDPPO code's ``generate_setting.py``.

    Production rates in ``{0..40}`` with P(0) = 0.4 (every item gets at least one machine that
    makes it), setup costs in ``{15..30}`` (P(15) = 0.2), setup losses in ``{1..3}`` (P(1) = 0.7),
    lost-sales costs in ``{0.1, 0.2, 0.3}`` (P(0.1) = 0.5), holding cost 0.01, cap 100,
    Binomial(20, 0.4) demand, horizon 100. (Some of the reference's setting files use setup
    costs 1-2 and lost-sales costs 0.2 or ``{0.1, 1.1}``; we follow the generator's stated ranges.)
    ``overrides`` replace any :class:`LotSizingSpec` field.
    """
    n_items = check_int("n_items", n_items, 1, MAX_ITEMS)
    n_machines = check_int("n_machines", n_machines, 1, MAX_ITEMS)
    seed = check_int("instance_seed", seed, 0)
    rng = np.random.default_rng(seed)
    production = _biased_integers(rng, (n_machines, n_items), 0, 40, 0.4)
    for i in np.flatnonzero(production.sum(axis=0) == 0):
        production[rng.integers(n_machines), i] = rng.integers(1, 41)
    spec = LotSizingSpec(
        production=production,
        setup_costs=_biased_integers(rng, (n_machines, n_items), 15, 30, 0.2).astype(np.float64),
        setup_loss=_biased_integers(rng, (n_machines, n_items), 1, 3, 0.7),
        lost_sales_costs=np.round(0.1 + 0.1 * _biased_integers(rng, (n_items,), 0, 2, 0.5), 10),
        holding_costs=np.full(n_items, 0.01),
        name=f"{n_items}items_{n_machines}machines_seed{seed}",
    )
    return spec.replace(**overrides) if overrides else spec


class LotSizingEnv(gym.Env[np.ndarray, np.ndarray]):
    """Stochastic discrete lot-sizing (see the module docstring for the model and conventions).

    Args:
        instance: the plant; ``None`` builds ``make_lotsizing_spec(n_items, n_machines, instance_seed)``.
        n_items, n_machines, instance_seed: the generated instance (ignored when ``instance`` is given).
        render_mode: ``None`` or ``ansi``.
        **overrides: any :class:`LotSizingSpec` field, e.g. ``horizon=20, demand="deterministic"``.

    Observation: ``Box float32 [n_items + n_machines]`` = inventory (units, ``[0, max_inventory]``)
    then setups (``0`` idle or the 1-based item, ``[0, n_items]``). Action:
    ``MultiDiscrete([n_items + 1] * n_machines)``. ``info`` after a step: ``post_decision_obs``
    (after production, before demand), ``post_decision_reward`` (= -setup cost), ``setup_cost``,
    ``lost_sales_cost``, ``holding_cost``, ``cost``, and per item ``demand``, ``sales``,
    ``lost_sales``, ``production`` (units made, after setup losses), ``setup_loss`` (units lost
    to setups) and ``discarded`` (units above the cap).

    Actions must have shape ``(n_machines,)`` and hold whole numbers in ``[0, n_items]`` (integer
    arrays, or floats such as ``2.0``); ``1.7``, NaN, inf, strings, booleans and complex numbers
    raise. ``step`` before ``reset`` or after ``horizon`` periods raises ``RuntimeError``.
    """

    # gymnasium.Env declares metadata as an instance attribute; it is a class constant.
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"]}  # type: ignore[misc]

    def __init__(
        self,
        instance: LotSizingSpec | None = None,
        n_items: int = 3,
        n_machines: int = 2,
        instance_seed: int = 0,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if instance is None:
            instance = make_lotsizing_spec(n_items, n_machines, instance_seed)
        elif not isinstance(instance, LotSizingSpec):
            raise ArgumentTypeError(
                f"instance: got {type(instance).__name__}; must be a LotSizingSpec or None"
            )
        if overrides:
            instance = instance.replace(**overrides)
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        self.instance = instance
        self.render_mode = render_mode
        n_i, n_m = instance.n_items, instance.n_machines
        self.n_items, self.n_machines, self.horizon = n_i, n_m, instance.horizon
        high = np.concatenate([np.full(n_i, instance.max_inventory), np.full(n_m, n_i)]).astype(np.float32)
        self.observation_space = spaces.Box(0.0, high, dtype=np.float32)
        self.action_space = spaces.MultiDiscrete(np.full(n_m, n_i + 1, dtype=np.int64))
        self._inventory: np.ndarray | None = None
        self._setup = np.zeros(n_m, dtype=np.int64)
        self._demand = np.zeros((instance.horizon, n_i), dtype=np.int64)
        self._t = 0
        self._last_info: dict[str, Any] = {}

    # -- the deterministic half of the transition, pure and batched ---------------------------

    def _split(self, obs: Any, action: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Inventory ``[B, n_items]`` and setups ``[B, n_machines]`` (int64) of ``obs``, the action
        ``[B, n_machines]``, and whether the input was a single observation."""
        d = self.n_items + self.n_machines
        o = np.asarray(obs, dtype=np.float64)
        single = o.ndim == 1
        o = o.reshape(1, -1) if single else o
        if o.ndim != 2 or o.shape[1] != d:
            raise ValueError(f"obs: got shape {np.shape(obs)}; must be [{d}] or [batch, {d}]")
        a = self._check_action(action, batch=o.shape[0], single=single)
        return (
            np.rint(o[:, : self.n_items]).astype(np.int64),
            np.rint(o[:, self.n_items :]).astype(np.int64),
            a,
            single,
        )

    def _check_action(self, action: Any, batch: int = 1, single: bool = True) -> np.ndarray:
        want = (self.n_machines,) if single else (batch, self.n_machines)
        arr = real_array("action", action)
        if arr.shape != want:
            raise ValueError(
                f"action: got shape {arr.shape}; expected shape {want}: integers in [0, {self.n_items}] "
                "(0 = idle, i = make item i)"
            )
        if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):  # NaN and inf fail here too
            raise ValueError(
                f"action: got {short_repr(arr.tolist())}; must be whole numbers in [0, {self.n_items}] "
                "(0 = idle, i = make item i)"
            )
        if np.any((arr < 0) | (arr > self.n_items)):
            raise ValueError(
                f"action: got {short_repr(arr.tolist())}; each machine's choice must be in "
                f"[0, {self.n_items}] (0 = idle, i = make item i)"
            )
        return arr.astype(np.int64).reshape(batch, self.n_machines)

    def _produce(self, inv: np.ndarray, setup: np.ndarray, action: np.ndarray) -> dict[str, np.ndarray]:
        """Post-decision step on ``[B, ...]`` int arrays: inventory after production and the cap,
        units made / lost / discarded per item, and the setup cost ``[B]``."""
        spec = self.instance
        machines = np.arange(self.n_machines)
        item = np.maximum(action - 1, 0)
        working = action > 0
        switched = working & (action != setup)
        rate = np.where(working, spec.production[machines, item], 0)
        lost = np.where(switched, np.minimum(spec.setup_loss[machines, item], rate), 0)
        made = np.zeros_like(inv)
        setup_lost = np.zeros_like(inv)
        rows = np.repeat(np.arange(inv.shape[0]), self.n_machines)
        np.add.at(made, (rows, item.ravel()), (rate - lost).ravel())
        np.add.at(setup_lost, (rows, item.ravel()), lost.ravel())
        post = np.minimum(inv + made, spec.max_inventory)
        return {
            "inventory": post,
            "setup": action,
            "production": made,
            "setup_loss": setup_lost,
            "discarded": inv + made - post,
            "setup_cost": np.where(switched, spec.setup_costs[machines, item], 0.0).sum(axis=1),
        }

    def post_decision(self, obs: Any, action: Any) -> np.ndarray:
        """The post-decision observation (after production and setups, before demand).

        ``obs``: ``[d]`` or ``[batch, d]`` observations; ``action``: ``[n_machines]`` or
        ``[batch, n_machines]``. Returns ``float32`` in the observation's layout and shape; equals
        ``info["post_decision_obs"]`` of the step taken from ``obs`` with ``action``.
        """
        inv, setup, a, single = self._split(obs, action)
        out = self._produce(inv, setup, a)
        post = np.concatenate([out["inventory"], out["setup"]], axis=1).astype(np.float32)
        return post[0] if single else post

    def post_decision_reward(self, obs: Any, action: Any) -> np.ndarray | float:
        """The deterministic part of the reward, ``-setup cost``: a float, or ``[batch]``."""
        inv, setup, a, single = self._split(obs, action)
        r = -self._produce(inv, setup, a)["setup_cost"]
        return float(r[0]) if single else r

    # -- Gymnasium API ------------------------------------------------------------------------

    @property
    def demand_trace(self) -> np.ndarray:
        """``[horizon, n_items]`` int64: this episode's demand (drawn or injected at reset)."""
        return self._demand.copy()

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._inventory, self._setup]).astype(np.float32)

    def _option(self, options: Mapping[str, Any], key: str, rows: int | None, high: int | None) -> np.ndarray:
        """``options[key]`` checked as whole units in ``[0, high]``: ``[n]`` (``rows=None``) or
        ``[>= rows, n_items]`` (the first ``rows`` kept)."""
        width = {"inventory": self.n_items, "setup": self.n_machines, "demand": self.n_items}[key]
        arr = real_array(f"options[{key!r}]", options[key]).astype(np.float64)
        shape_ok = arr.shape == (width,) if rows is None else arr.ndim == 2 and arr.shape[1] == width
        shape_ok = shape_ok and (rows is None or arr.shape[0] >= rows)
        if not (
            shape_ok
            and np.all(np.isfinite(arr))
            and np.all(arr >= 0)
            and np.all(arr == np.round(arr))
            and (high is None or np.all(arr <= high))
        ):
            size = f"[{width}]" if rows is None else f"[>= {rows}, {width}]"
            allowed = f"integers in [0, {high}]" if high is not None else "integers >= 0"
            raise ValueError(f"options[{key!r}]: got {options[key]!r}; must be {size} {allowed}")
        return (arr if rows is None else arr[:rows]).astype(np.int64)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode. ``options`` may hold ``inventory`` ``[n_items]`` (in
        ``[0, max_inventory]``), ``setup`` ``[n_machines]`` (in ``[0, n_items]``) and ``demand``
        ``[>= horizon, n_items]`` (whole units; its first ``horizon`` rows are the episode's demand)."""
        super().reset(seed=check_seed("seed", seed))
        spec, rng = self.instance, self.np_random
        low, high = spec.initial_inventory_range
        inventory = rng.integers(low, high + 1, size=self.n_items)
        setup = np.zeros(self.n_machines, dtype=np.int64)
        if spec.random_initial_setup:
            for m in range(self.n_machines):
                makeable = np.flatnonzero(spec.can_produce[m]) + 1
                setup[m] = rng.choice(makeable) if makeable.size else 0
        demand = spec.sample_demand(rng, self.horizon)
        if options is not None and not isinstance(options, Mapping):
            raise ArgumentTypeError(f"options: got {short_repr(options)}; must be a dict or None")
        options = dict(options or {})
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(f"options: unknown key(s) {unknown}; allowed: {list(RESET_OPTIONS)}")
        if "inventory" in options:
            inventory = self._option(options, "inventory", None, spec.max_inventory)
        if "setup" in options:
            setup = self._option(options, "setup", None, self.n_items)
        if "demand" in options:
            demand = self._option(options, "demand", self.horizon, None)
        self._inventory, self._setup, self._demand = inventory.astype(np.int64), setup, demand
        self._t = 0
        self._last_info = {}
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        check_step_allowed(self._inventory is not None, self._t >= self.horizon)
        assert self._inventory is not None  # check_step_allowed raised otherwise
        spec = self.instance
        a = self._check_action(action)
        out = {k: v[0] for k, v in self._produce(self._inventory[None], self._setup[None], a).items()}
        post_inv = out["inventory"]
        post_obs = np.concatenate([post_inv, out["setup"]]).astype(np.float32)
        demand = self._demand[self._t]
        sales = np.minimum(post_inv, demand)
        lost = demand - sales
        self._inventory = post_inv - sales
        self._setup = out["setup"].copy()
        self._t += 1
        setup_cost = float(out["setup_cost"])
        lost_cost = float(spec.lost_sales_costs @ lost)
        holding_cost = float(spec.holding_costs @ self._inventory)
        cost = setup_cost + lost_cost + holding_cost
        info = {
            "post_decision_obs": post_obs,
            "post_decision_reward": -setup_cost,
            "setup_cost": setup_cost,
            "lost_sales_cost": lost_cost,
            "holding_cost": holding_cost,
            "cost": cost,
            "demand": demand.copy(),
            "sales": sales,
            "lost_sales": lost,
            "production": out["production"],
            "setup_loss": out["setup_loss"],
            "discarded": out["discarded"],
        }
        self._last_info = info
        return self._obs(), -cost, False, self._t >= self.horizon, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        inv = " ".join(f"{int(x):3d}" for x in (self._inventory if self._inventory is not None else []))
        text = f"t={self._t:3d} inventory [{inv}] setups {self._setup.tolist()}"
        if self._last_info:
            text += f" cost {self._last_info['cost']:.2f}"
        return text
