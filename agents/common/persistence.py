"""Model files shared by every agent: a zip with ``data.json`` and torch state dicts.

State dicts hold tensors only and are read back with ``torch.load(weights_only=True)``, so a
model file cannot run code when it is loaded.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from .logger import Logger


def zip_path(path: str | Path, for_reading: bool = False) -> Path:
    """``path`` with a ``.zip`` suffix (reading accepts the name without it, as SB3)."""
    path = Path(path)
    if for_reading:
        return path if path.exists() or not path.with_suffix(".zip").exists() else path.with_suffix(".zip")
    return path if path.suffix == ".zip" else path.with_suffix(".zip")


def write_model_zip(path: str | Path, data: dict[str, Any], states: dict[str, Any]) -> Path:
    """Write ``data.json`` and one ``.pth`` per entry of ``states``; returns the path written."""
    from rlsuite import __version__

    path = zip_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data.json", json.dumps({**data, "rlsuite_version": __version__}, indent=2))
        for name, obj in states.items():
            buf = io.BytesIO()
            torch.save(obj, buf)
            zf.writestr(name, buf.getvalue())
        zf.writestr("_rlsuite_version", __version__)
    return path


def read_model_zip(path: str | Path, names: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(data, {name: state})`` from a file written by :func:`write_model_zip`."""
    with zipfile.ZipFile(zip_path(path, for_reading=True)) as zf:
        data = json.loads(zf.read("data.json"))
        states = {
            name: torch.load(io.BytesIO(zf.read(name)), map_location="cpu", weights_only=True)
            for name in names
        }
    return data, states


class ParametersMixin:
    """What every agent shares: SB3's ``get_parameters`` / ``set_parameters`` (for agents with
    ``policy`` and ``optimizer``) and the ``logger`` (stdout when ``verbose >= 1``)."""

    policy: torch.nn.Module
    optimizer: torch.optim.Optimizer
    verbose: int
    _logger: Logger | None

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = Logger(None, ("stdout",) if self.verbose >= 1 else ())
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        self._logger = logger

    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """``{"policy": state_dict, "policy.optimizer": state_dict}`` (SB3's layout)."""
        return {"policy": self.policy.state_dict(), "policy.optimizer": self.optimizer.state_dict()}

    def set_parameters(
        self, params: dict[str, dict[str, Any]] | str | Path, exact_match: bool = True
    ) -> None:
        """Load parameters in place from :meth:`get_parameters`'s dict or a saved zip."""
        if isinstance(params, (str, Path)):
            _, states = read_model_zip(params, ("policy.pth", "policy.optimizer.pth"))
            params = {"policy": states["policy.pth"], "policy.optimizer": states["policy.optimizer.pth"]}
        unknown = set(params) - {"policy", "policy.optimizer"}
        if unknown:
            raise ValueError(
                f"params: unknown keys {sorted(unknown)}; allowed: ['policy', 'policy.optimizer']"
            )
        if "policy" in params:
            self.policy.load_state_dict(params["policy"], strict=exact_match)
        if "policy.optimizer" in params:
            self.optimizer.load_state_dict(params["policy.optimizer"])
