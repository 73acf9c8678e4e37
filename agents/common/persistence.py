"""Model files shared by every agent: a zip with ``data.json`` and torch state dicts.

What loading a model file can and cannot do (the README's "Security" section says the same):

- It never imports a module or calls a name read from the file. ``data.json`` is parsed as
  JSON; classes and functions it names (policy, activation, features extractor) resolve through
  the registries of :mod:`rlsuite.agents.common.registry`; an environment id must be a registered
  id without a ``module:`` prefix. Tensors are read with ``torch.load(weights_only=True)``.
- Sizes are checked before reading: at most :data:`MAX_MEMBERS` members,
  :data:`MAX_JSON_BYTES` for ``data.json``, :data:`MAX_MEMBER_BYTES` per tensor file and
  :data:`MAX_ARCHIVE_BYTES` uncompressed in all (declared sizes are checked first and reads are
  bounded, so a zip bomb is refused without inflating it).
- Every tensor is checked against the shape and dtype the model expects before it is copied in
  (:func:`check_state_dict`); the model is first built on PyTorch's ``meta`` device, which
  allocates nothing, so a crafted configuration cannot make the loader allocate without bound.
- Saving is atomic (:func:`rlsuite.files.atomic_write`): a crash while saving leaves the
  previous file intact.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import math
import pickle
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from rlsuite.files import atomic_write

from .config import config_view
from .distributed import is_main_process
from .logger import Logger, next_run_dir
from .registry import ACTIVATIONS, FEATURES_EXTRACTORS, Registry

#: policy_kwargs entries that name a class, and the registry each resolves through.
NAMED_POLICY_KWARGS: dict[str, Registry] = {
    "activation_fn": ACTIVATIONS,
    "features_extractor_class": FEATURES_EXTRACTORS,
}

#: Version of the file layout written by :func:`write_model_zip`.
FORMAT_VERSION = 1
#: Most members a model zip may have.
MAX_MEMBERS = 64
#: Largest ``data.json`` (uncompressed bytes).
MAX_JSON_BYTES = 16 * 2**20
#: Largest tensor file inside a model zip (uncompressed bytes).
MAX_MEMBER_BYTES = 2 * 2**30
#: Largest model zip, all members uncompressed.
MAX_ARCHIVE_BYTES = 4 * 2**30


def zip_path(path: str | Path, for_reading: bool = False) -> Path:
    """``path`` with a ``.zip`` suffix (reading accepts the name without it, as SB3)."""
    path = Path(path)
    if for_reading:
        return path if path.exists() or not path.with_suffix(".zip").exists() else path.with_suffix(".zip")
    return path if path.suffix == ".zip" else path.with_suffix(".zip")


def write_model_zip(path: str | Path, data: dict[str, Any], states: dict[str, Any]) -> Path:
    """Write ``data.json`` and one ``.pth`` per entry of ``states`` atomically; returns the path."""
    from rlsuite import __version__

    path = zip_path(path)
    payload = {**data, "format_version": FORMAT_VERSION, "rlsuite_version": __version__}
    text = json.dumps(payload, indent=2)
    with atomic_write(path, "wb") as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.json", text)
        for name, obj in states.items():
            buf = io.BytesIO()
            torch.save(obj, buf)
            zf.writestr(name, buf.getvalue())
        zf.writestr("_rlsuite_version", __version__)
    return path


def read_model_zip(path: str | Path, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, {name: state})`` from a file written by :func:`write_model_zip`, within the size
    limits of this module. Raises ``ValueError`` naming the file and the member for anything
    malformed (``FileNotFoundError`` when there is no file)."""
    path = zip_path(path, for_reading=True)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not a model file (not a zip archive)") from e
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"{path}: {len(infos)} members; a model file has at most {MAX_MEMBERS}")
        sizes = {i.filename: i.file_size for i in infos}
        total = sum(sizes[n] for n in ("data.json", *names) if n in sizes)
        if total > MAX_ARCHIVE_BYTES:
            raise ValueError(f"{path}: {total} bytes uncompressed; the limit is {MAX_ARCHIVE_BYTES}")
        raw = _read_member(zf, path, "data.json", MAX_JSON_BYTES)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as e:
            raise ValueError(f"{path}: data.json is not valid JSON ({type(e).__name__})") from e
        if not isinstance(data, dict) or not isinstance(data.get("class"), str):
            raise ValueError(f"{path}: data.json must be an object with a 'class' name")
        version = data.get("format_version", 1)
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{path}: format_version {version!r} is not supported by this rlsuite "
                f"(reads version {FORMAT_VERSION})"
            )
        states = {}
        for name in names:
            blob = _read_member(zf, path, name, MAX_MEMBER_BYTES)
            try:
                states[name] = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
            except (
                pickle.UnpicklingError,
                RuntimeError,
                EOFError,
                ValueError,
                TypeError,
                AttributeError,
            ) as e:
                raise ValueError(
                    f"{path}: {name} is not a valid tensor file ({type(e).__name__}: {e})"
                ) from e
    return data, states


def _read_member(zf: zipfile.ZipFile, path: Path, name: str, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError as e:
        raise ValueError(f"{path}: {name} is missing; not a complete rlsuite model file") from e
    if info.file_size > limit:
        raise ValueError(f"{path}: {name} is {info.file_size} bytes uncompressed; the limit is {limit}")
    try:
        with zf.open(info) as f:
            blob = f.read(limit + 1)  # bounded even if the declared size lies
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
        raise ValueError(f"{path}: {name} is corrupted ({e})") from e
    if len(blob) > limit:
        raise ValueError(f"{path}: {name} inflates beyond {limit} bytes")
    return blob


def check_model_class(data: Mapping[str, Any], cls: type, path: str | Path) -> None:
    """Raise ``ValueError`` when the file holds another agent's model (naming the class to use)."""
    saved = data["class"]
    if saved != cls.__name__:
        hint = f"; load it with rlsuite.agents.{saved}.load" if saved.isidentifier() else ""
        raise ValueError(f"{path}: holds a {saved!r} model, not a {cls.__name__}{hint}")


def check_config(config: Any, init: Callable[..., Any], extra: Mapping[str, Any] = {}) -> dict[str, Any]:
    """``config`` (a saved model's hyperparameters) restricted to the public parameters of
    ``init`` (and the names in ``extra``): unknown or private keys raise ``ValueError``. When
    ``init`` is a config dataclass, the allowed keys are its fields and ``policy``; keys a file
    lacks take the field's default."""
    if not isinstance(config, dict):
        raise ValueError(f"config: got {type(config).__name__}; expected an object of hyperparameters")
    if isinstance(init, type) and dataclasses.is_dataclass(init):
        allowed = {f.name for f in dataclasses.fields(init)} | {"policy"}
    else:
        params = inspect.signature(init).parameters
        allowed = {n for n, p in params.items() if not n.startswith("_") and p.kind is not p.VAR_KEYWORD}
    allowed |= set(extra)
    unknown = sorted(k for k in config if k not in allowed)
    if unknown:
        raise ValueError(
            f"config: unknown hyperparameters {unknown} in the saved model; allowed: {sorted(allowed)}"
        )
    return dict(config)


def saved_config(
    data: Mapping[str, Any],
    policies: Registry,
    init: Callable[..., Any],
    custom_objects: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
    decode: Callable[[Any], Any],
    extra: Mapping[str, Any] = {},
) -> tuple[Any, dict[str, Any]]:
    """``(policy class, constructor arguments)`` of a saved model: the file's config restricted to
    ``init``'s parameters or a config dataclass's fields (:func:`check_config`), values decoded
    with ``decode`` (schedules), names resolved through ``policies`` and the policy_kwargs
    registries; then ``custom_objects`` (SB3's: a class, function or value by key) and
    ``overrides`` (``load``'s kwargs) win."""
    custom = dict(custom_objects or {})
    config = {k: decode(v) for k, v in check_config(data.get("config"), init, extra).items()}
    config["policy_kwargs"] = policy_kwargs_from_json(config.get("policy_kwargs"), custom)
    policy = policies.resolve(config.pop("policy", None), custom.pop("policy", None))
    config.update({k: v for k, v in custom.items() if k not in NAMED_POLICY_KWARGS and k != "policy_kwargs"})
    config.update(overrides)
    if config.get("learning_rate") is None:
        raise ValueError(
            "learning_rate: the saved schedule was a custom callable; pass learning_rate=... "
            "(or custom_objects={'learning_rate': ...})"
        )
    return policy, config


def read_saved_agent(
    cls: Any,
    path: str | Path,
    members: tuple[str, ...],
    custom_objects: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], Any, dict[str, Any]]:
    """The first half of every agent's ``load``: ``(data, states, policy class, constructor
    arguments)`` of a file written for ``cls`` (its ``policy_aliases`` and ``config_class``), the
    class checked, schedules decoded, ``custom_objects`` and ``overrides`` applied; the saved
    device dropped (``load(device=...)`` decides)."""
    from .schedules import schedule_from_json

    data, states = read_model_zip(path, members)
    check_model_class(data, cls, path)
    policy, config = saved_config(
        data, cls.policy_aliases, cls.config_class, custom_objects, overrides, schedule_from_json
    )
    config.pop("device", None)
    return data, states, policy, config


def agent_data(model: Any, policy: str, **extra: Any) -> dict[str, Any]:
    """``data.json`` of an agent whose policy is built from its spaces: the class name, the config
    (the policy's registered name and ``dataclasses.asdict(config)`` as JSON), both spaces,
    ``num_timesteps`` and the agent's ``extra`` entries."""
    from .config import config_to_json
    from .spaces import space_to_json

    pk = policy_kwargs_to_json(model.config.policy_kwargs or {})
    return {
        "class": type(model).__name__,
        "config": {"policy": policy, **config_to_json(model.config, pk)},
        "observation_space": space_to_json(model.observation_space),
        "action_space": space_to_json(model.action_space),
        "num_timesteps": model.num_timesteps,
        **extra,
    }


def restore_policy(
    model: Any, states: Mapping[str, Any], build: Callable[[], torch.nn.Module], setup: Callable[[], None]
) -> None:
    """The second half of an agent's ``load``: check ``policy.pth`` against ``build()`` made on
    the meta device (keys, shapes, dtypes; nothing allocated), then ``setup()`` (the agent builds
    its policy and optimizer) and copy in the policy's and the optimizer's states, the latter checked
    against the new optimizer first."""
    check_state_dict("policy.pth", states["policy.pth"], meta_state_dict(build))
    setup()
    model.policy.load_state_dict(states["policy.pth"])
    check_optimizer_state("policy.optimizer.pth", states["policy.optimizer.pth"], model.optimizer)
    model.optimizer.load_state_dict(states["policy.optimizer.pth"])


def load_spaced_agent(
    cls: Any,
    path: str | Path,
    device: Any,
    custom_objects: Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
    attach: Callable[[Any], None],
    setup: Callable[[Any], None],
) -> tuple[Any, dict[str, Any]]:
    """``load`` of an agent whose policy is built from its two spaces and saved with its optimizer
    (offline and group-relative agents): read the file (:func:`read_saved_agent`), build the agent
    without a model, restore its spaces, ``attach(model)`` its env or dataset, then
    :func:`restore_policy` with ``setup(model)`` building the networks. Returns ``(model, data)``."""
    from .spaces import space_from_json

    data, states, policy, config = read_saved_agent(
        cls, path, ("policy.pth", "policy.optimizer.pth"), custom_objects, overrides
    )
    model = cls(policy, None, device=device, _init_setup_model=False, **config)
    model.observation_space = space_from_json(data.get("observation_space"), "observation_space")
    model.action_space = space_from_json(data.get("action_space"), "action_space")
    attach(model)
    obs_space, act_space, pk = model.observation_space, model.action_space, model.config.policy_kwargs or {}
    restore_policy(
        model, states, lambda: model.policy_class(obs_space, act_space, **pk), lambda: setup(model)
    )
    model.num_timesteps = saved_count(data, "num_timesteps")
    return model, data


def saved_count(
    data: Mapping[str, Any], key: str, default: int = 0, low: int = 0, high: int | None = None
) -> int:
    """An integer of a saved model (``num_timesteps``, ``n_updates``, ``reward_dim``) in
    ``[low, high]``; ``default`` if absent (files of earlier versions)."""
    v = data.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{key}: got {v!r} in the saved model; must be an integer {bounds}")
    return v


def check_env_id(env_id: Any, field: str = "env_id") -> str:
    """A registered Gymnasium id without a ``module:`` prefix (which would make ``gym.make``
    import the module)."""
    if not isinstance(env_id, str) or ":" in env_id or env_id not in gym.registry:
        raise ValueError(
            f"{field}: got {env_id!r}; a saved model may only name a registered environment id "
            "without a 'module:' prefix (import the module that registers it before loading)"
        )
    return env_id


def meta_state_dict(build: Callable[[], torch.nn.Module]) -> dict[str, torch.Tensor]:
    """The state dict of the module ``build()`` makes, built on the ``meta`` device: shapes and
    dtypes without allocating memory (so a crafted config is checked before it can cost any).
    A module that cannot be built on ``meta`` (a user's class calling ``.item()`` in its
    constructor, say) is built on the CPU instead."""
    try:
        with torch.device("meta"):
            return build().state_dict()
    except (RuntimeError, NotImplementedError):
        return build().state_dict()


def check_state_dict(name: str, loaded: Any, expected: Mapping[str, Any]) -> None:
    """``loaded`` must hold exactly ``expected``'s keys with tensors of the same shapes and
    dtypes (nested dicts, such as normalizer statistics, are compared level by level)."""
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise ValueError(f"{name}: expected a dict of tensors (a state dict), got {type(loaded).__name__}")
    missing, unexpected = sorted(set(expected) - set(loaded)), sorted(set(loaded) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{name}: keys differ from the model's: missing {missing}, unexpected {unexpected}")
    for k, t in expected.items():
        got = loaded[k]
        if isinstance(t, Mapping):
            check_state_dict(f"{name}[{k!r}]", got, t)
        elif not isinstance(got, torch.Tensor):
            raise ValueError(f"{name}[{k!r}]: got {type(got).__name__}; expected a tensor")
        elif tuple(got.shape) != tuple(t.shape) or got.dtype != t.dtype:
            want = f"{t.dtype} {tuple(t.shape)}"
            raise ValueError(f"{name}[{k!r}]: got {got.dtype} {tuple(got.shape)}; the model expects {want}")


def policy_kwargs_to_json(policy_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``policy_kwargs`` with classes replaced by their registered names (tuples by lists)."""
    out = {}
    for k, v in policy_kwargs.items():
        if k in NAMED_POLICY_KWARGS and not isinstance(v, str):
            v = NAMED_POLICY_KWARGS[k].to_name(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def policy_kwargs_from_json(policy_kwargs: Any, custom_objects: Mapping[str, Any]) -> dict[str, Any]:
    """Saved ``policy_kwargs`` with names resolved through the registries (``custom_objects``
    entries of the same key win). Nothing is imported."""
    if policy_kwargs is None:
        return {}
    if not isinstance(policy_kwargs, dict):
        raise ValueError(
            f"policy_kwargs: got {type(policy_kwargs).__name__} in the saved model; expected an object"
        )
    out = dict(policy_kwargs)
    for key, registry in NAMED_POLICY_KWARGS.items():
        if key in out or key in custom_objects:
            out[key] = registry.resolve(out.get(key), custom_objects.get(key))
    return out


def check_optimizer_state(name: str, loaded: Any, optimizer: torch.optim.Optimizer) -> None:
    """An optimizer state dict that fits ``optimizer``: same parameter groups and, per
    parameter, state tensors of the parameter's shape (or scalars)."""
    if (
        not isinstance(loaded, dict)
        or not isinstance(loaded.get("param_groups"), list)
        or not isinstance(loaded.get("state"), dict)
    ):
        raise ValueError(f"{name}: expected an optimizer state dict with 'state' and 'param_groups'")
    groups = optimizer.param_groups
    if len(loaded["param_groups"]) != len(groups):
        raise ValueError(
            f"{name}: {len(loaded['param_groups'])} parameter groups; the model has {len(groups)}"
        )
    params = [p for g in groups for p in g["params"]]
    ids = []
    for g, mine in zip(loaded["param_groups"], groups, strict=True):
        if (
            not isinstance(g, dict)
            or not isinstance(g.get("params"), list)
            or len(g["params"]) != len(mine["params"])
        ):
            raise ValueError(f"{name}: parameter groups do not match the model's")
        for key in ("lr", "eps", "weight_decay"):
            if key in g and not (isinstance(g[key], (int, float)) and math.isfinite(g[key]) and g[key] >= 0):
                raise ValueError(f"{name}: param_groups {key}={g[key]!r}; must be a finite number >= 0")
        ids += g["params"]
    if sorted(ids, key=repr) != sorted(range(len(params)), key=repr):
        raise ValueError(f"{name}: parameter ids {ids} do not match the model's {len(params)} parameters")
    by_id = dict(zip(ids, params, strict=True))  # torch pairs saved ids with parameters in order
    for pid, st in loaded["state"].items():
        if pid not in by_id or not isinstance(st, dict):
            raise ValueError(f"{name}: state for unknown parameter {pid!r}")
        shape = tuple(by_id[pid].shape)
        for k, v in st.items():
            if not isinstance(v, torch.Tensor) or (v.dim() > 0 and tuple(v.shape) != shape):
                raise ValueError(f"{name}: state[{pid}][{k!r}] does not fit parameter {pid} of shape {shape}")


class ParametersMixin:
    """What every agent shares: SB3's ``get_parameters`` / ``set_parameters`` (for agents with
    ``policy`` and ``optimizer``) and the ``logger`` (stdout when ``verbose >= 1``)."""

    policy: torch.nn.Module
    optimizer: torch.optim.Optimizer
    config: Any
    _logger: Logger | None
    #: True once the user set a logger with :meth:`set_logger`: ``learn`` then keeps it.
    _custom_logger: bool = False

    # SB3's attribute names for the hyperparameters every agent's config has (read-only views).
    learning_rate = config_view("learning_rate", "The learning rate or its schedule (config).")
    batch_size = config_view("batch_size", "Minibatch size (config).")
    max_grad_norm = config_view("max_grad_norm", "Gradient clip norm (config).")
    tensorboard_log = config_view("tensorboard_log", "TensorBoard/CSV run folder (config).")
    policy_kwargs = config_view("policy_kwargs", "Keyword arguments of the policy class (config).")
    verbose = config_view("verbose", "Verbosity (config).")
    seed = config_view("seed", "Seed (config).")

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = Logger(None, ("stdout",) if self.verbose >= 1 else ())
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Log to ``logger`` from now on (``learn`` keeps it, even with ``tensorboard_log`` set)."""
        self._logger = logger
        self._custom_logger = True

    def configure_logger(self, tb_log_name: str | None = None) -> None:
        """Called by ``learn``: with ``tensorboard_log`` set, log to a new run folder
        ``tensorboard_log/<tb_log_name or class name>_N`` (CSV and TensorBoard, and stdout when
        ``verbose >= 1``), unless a logger was set with :meth:`set_logger`. In a process group
        (:mod:`.distributed`) only rank 0 logs: the others get a logger that writes nothing."""
        if not is_main_process():
            self._logger = Logger(None, ())
            return
        folder = getattr(self, "tensorboard_log", None)
        if folder is not None and not self._custom_logger:
            run = next_run_dir(folder, tb_log_name or type(self).__name__)
            self._logger = Logger(run, (["stdout"] if self.verbose >= 1 else []) + ["csv", "tensorboard"])

    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """``{"policy": state_dict, "policy.optimizer": state_dict}`` (SB3's layout)."""
        return {"policy": self.policy.state_dict(), "policy.optimizer": self.optimizer.state_dict()}

    def set_parameters(
        self, params: dict[str, dict[str, Any]] | str | Path, exact_match: bool = True
    ) -> None:
        """Load parameters in place from :meth:`get_parameters`'s dict or a saved zip (shapes and
        dtypes are checked first; ``exact_match=False`` allows missing or extra keys)."""
        if isinstance(params, (str, Path)):
            _, states = read_model_zip(params, ("policy.pth", "policy.optimizer.pth"))
            params = {"policy": states["policy.pth"], "policy.optimizer": states["policy.optimizer.pth"]}
        if not isinstance(params, dict):
            raise TypeError(f"params: got {type(params).__name__}; expected a dict or a path")
        unknown = set(params) - {"policy", "policy.optimizer"}
        if unknown:
            raise ValueError(
                f"params: unknown keys {sorted(unknown)}; allowed: ['policy', 'policy.optimizer']"
            )
        if "policy" in params:
            expected = self.policy.state_dict()
            if exact_match:
                check_state_dict("policy", params["policy"], expected)
            else:
                common = {k: v for k, v in expected.items() if k in params["policy"]}
                check_state_dict("policy", {k: params["policy"][k] for k in common}, common)
            self.policy.load_state_dict(params["policy"], strict=exact_match)
        if "policy.optimizer" in params:
            check_optimizer_state("policy.optimizer", params["policy.optimizer"], self.optimizer)
            self.optimizer.load_state_dict(params["policy.optimizer"])
