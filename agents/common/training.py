"""What every agent's ``learn`` does before its first step, written once.

:func:`setup_learn` checks ``learn``'s common arguments, points the model's logger at a new run
folder when the model has a ``tensorboard_log`` (unless the user set a logger with
``set_logger``), and returns the callbacks as one started :class:`CallbackList` (with the
progress bar when asked). It assumes nothing about how the agent trains: an on-policy agent and
HDPO call it alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rlsuite.validation import check_bool, check_int, check_optional_str

from .callbacks import BaseCallback, CallbackList, ProgressBarCallback
from .distributed import is_main_process
from .validation import check_callbacks


class Learner(Protocol):
    """What :func:`setup_learn` needs of a model (every agent has it through ``ParametersMixin``)."""

    num_timesteps: int

    def configure_logger(self, tb_log_name: str | None = None) -> None: ...


@dataclass(frozen=True)
class LearnSetup:
    """``learn``'s checked arguments and its callbacks, ready to use."""

    callback: CallbackList
    """The user's callbacks (and the progress bar), initialised with the model."""
    log_interval: int
    """Dump the logger every ``log_interval`` iterations (0: never)."""
    reset_num_timesteps: bool
    """Whether this ``learn`` starts counting (and resetting the env) from zero."""


def setup_learn(
    model: Learner,
    callback: BaseCallback | list[BaseCallback] | None,
    log_interval: int,
    tb_log_name: str | None,
    reset_num_timesteps: bool,
    progress_bar: bool,
) -> LearnSetup:
    """Check ``learn``'s common arguments (``ArgumentTypeError`` / ``ValueError`` naming the field),
    set up the logger and build the callbacks (``init_callback(model)`` done).

    The logger: with ``model.tensorboard_log`` set, a new run folder
    ``tensorboard_log/<tb_log_name or class name>_N`` with CSV and TensorBoard writers (and stdout
    when ``verbose >= 1``); a logger the user set with ``set_logger`` is kept. Without
    ``tensorboard_log`` the model's own logger (stdout when ``verbose >= 1``) is used."""
    log_interval = check_int("log_interval", log_interval, 0)
    tb_log_name = check_optional_str("tb_log_name", tb_log_name)
    reset_num_timesteps = check_bool("reset_num_timesteps", reset_num_timesteps)
    progress_bar = check_bool("progress_bar", progress_bar)
    callbacks: list[Any] = check_callbacks("callback", callback)
    model.configure_logger(tb_log_name)
    if progress_bar and is_main_process():  # one bar per process group
        callbacks = [*callbacks, ProgressBarCallback()]
    cb = CallbackList(callbacks)
    cb.init_callback(model)  # type: ignore[arg-type]
    return LearnSetup(cb, log_interval, reset_num_timesteps)
