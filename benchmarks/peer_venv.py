"""Peer libraries in their own virtual environments, run by the benchmarks through a subprocess.

A peer (morl-baselines, later d3rlpy, ...) pins packages our ``.venv`` must not see (pycddlib,
cvxpy, wandb, ...), so each gets ``benchmarks/.peers/<name>/`` (gitignored): CPU torch first, then
the peer's requirements under a constraints file that holds torch at the same version, then this
repo with ``pip install --no-deps -e`` (and rlsuite's own runtime requirements) so that
``import rlsuite`` registers our env ids there too. A stamp file records what was installed: a
second :func:`ensure_venv` with the same list does nothing, a changed list rebuilds from scratch.

    python benchmarks/peer_venv.py morl-baselines          # build (or check) the venv by hand

    from peer_venv import PEERS, ensure_venv, run_in_venv
    ensure_venv("morl-baselines", PEERS["morl-baselines"])
    run_in_venv("morl-baselines", Path("benchmarks/peers/morl_baselines_front.py"), ["--algo", "pgmorl", ...])
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = REPO_ROOT / "benchmarks" / ".peers"
#: Installed first and held by the constraints file: the local CPU build on the CPU machines (an
#: unpinned torch would pull the CUDA wheels, gigabytes).
TORCH_PIN = "torch==2.13.0"
#: Known peers and their requirements. Gymnasium, MO-Gymnasium and MuJoCo are pinned to the versions
#: of our ``.venv`` so that both sides step identical environments.
PEERS: dict[str, list[str]] = {
    "morl-baselines": [
        "morl-baselines==1.3.0",
        "mo-gymnasium==1.3.2",
        "gymnasium==1.4.0",
        "mujoco==4.0.0",
    ],
    # d3rlpy 2.8.1 pins gymnasium 1.0.0 (ours is newer; [mujoco] brings imageio, which its MuJoCo
    # envs import). Its MuJoCo v5 envs take mujoco 4.0.0 (no version check beyond >= 2.3.3; the same
    # XML assets and step code as gymnasium 1.4.0's), so both sides step the same dynamics. Built
    # with install_rlsuite=False (WITHOUT_RLSUITE): the runner reads a saved .npz.
    "d3rlpy": [
        "d3rlpy==2.8.1",
        "gymnasium[mujoco]==1.0.0",
        "mujoco==4.0.0",
    ],
}
#: Peers whose runner never imports rlsuite: their venv is built with ``install_rlsuite=False``, by
#: the benchmark and by this file's command line alike (the same stamp, so neither rebuilds the other's).
WITHOUT_RLSUITE = frozenset({"d3rlpy"})
STAMP_NAME = "peer-stamp.json"
LOG_NAME = "install.log"
#: Lines of pip's (or the peer script's) output quoted in an error.
TAIL_LINES = 40


class PeerVenvError(RuntimeError):
    """A peer venv could not be built, or a script run in it failed."""


def _progress(name: str, message: str) -> None:
    print(f"[peer {name}] {message}", flush=True)


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def venv_dir(name: str) -> Path:
    """``benchmarks/.peers/<name>``; ``name`` must be a plain folder name."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"name: got {name!r}; must be a plain folder name such as 'morl-baselines'")
    return PEERS_DIR / name


def venv_python(name: str) -> Path:
    """The interpreter of the peer venv ``name`` (it may not exist yet)."""
    return venv_dir(name) / "bin" / "python"


def rlsuite_requirements() -> list[str]:
    """rlsuite's runtime requirements (no extras), read from the installed package's metadata:
    ``pip install --no-deps -e`` skips them, so :func:`ensure_venv` installs them with the peer's."""
    try:
        requires = importlib.metadata.requires("rlsuite") or []
    except importlib.metadata.PackageNotFoundError as e:
        raise PeerVenvError(
            "rlsuite is not installed in the running interpreter; run the benchmark from the repo's .venv"
        ) from e
    return [r for r in requires if ";" not in r]


def _install_plan(requirements: list[str], install_rlsuite: bool) -> dict[str, object]:
    """What a venv holds, as the stamp records it: equal plans mean nothing to do."""
    return {
        "python": sys.version.split()[0],
        "torch": TORCH_PIN,
        "requirements": list(requirements),
        "rlsuite": str(REPO_ROOT) if install_rlsuite else None,
        "rlsuite_requirements": rlsuite_requirements() if install_rlsuite else [],
    }


def _pip(name: str, python: Path, args: list[str], log: Path) -> None:
    """``python -m pip install args``, its output appended to ``log``; raises with its tail."""
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(command)}\n")
        fh.flush()
        result = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise PeerVenvError(
            f"peer {name!r}: pip install {' '.join(args)} failed (exit {result.returncode}); "
            f"full log {log}; its tail:\n{_tail(log.read_text(errors='replace'))}"
        )


def ensure_venv(name: str, requirements: list[str], *, install_rlsuite: bool = True) -> Path:
    """Create (or reuse) the virtual environment ``benchmarks/.peers/<name>`` and return its folder.

    Steps: ``python -m venv``; ``pip install torch==2.13.0`` (:data:`TORCH_PIN`, the CPU build);
    ``pip install -c constraints.txt *requirements`` with torch held by the constraints file (and,
    with ``install_rlsuite``, rlsuite's runtime requirements in the same resolver run); then
    ``pip install --no-deps -e <repo root>``. A stamp file records the plan (Python version, torch
    pin, requirement lists): the same plan again returns at once, a different one clears the folder
    and reinstalls. pip's output goes to ``<venv>/install.log``; a failure raises
    :class:`PeerVenvError` naming the peer and quoting the log's tail. Builds of one peer from two
    processes are serialised by a lock file next to the folder.
    """
    if not isinstance(requirements, list) or not all(isinstance(r, str) and r.strip() for r in requirements):
        raise TypeError(f"requirements: got {requirements!r}; must be a list of pip requirement strings")
    folder = venv_dir(name)
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    plan = _install_plan(requirements, install_rlsuite)
    stamp = folder / STAMP_NAME
    with (PEERS_DIR / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and venv_python(name).is_file():
            try:
                current = json.loads(stamp.read_text())
            except json.JSONDecodeError:
                current = None
            if current == plan:
                return folder
            _progress(name, f"requirements changed; rebuilding {folder}")
        start = time.perf_counter()
        if folder.exists():
            shutil.rmtree(folder)
        _progress(name, f"creating the virtual environment {folder}")
        created = subprocess.run(
            [sys.executable, "-m", "venv", str(folder)], capture_output=True, text=True, check=False
        )
        if created.returncode != 0:
            raise PeerVenvError(
                f"peer {name!r}: python -m venv {folder} failed:\n{_tail(created.stderr + created.stdout)}"
            )
        python, log = venv_python(name), folder / LOG_NAME
        constraints = folder / "constraints.txt"
        constraints.write_text(TORCH_PIN + "\n")
        _progress(name, f"installing {TORCH_PIN} (log: {log})")
        _pip(name, python, [TORCH_PIN], log)
        extra = plan["rlsuite_requirements"]
        assert isinstance(extra, list)
        _progress(
            name, f"installing {' '.join(requirements)}" + (" and rlsuite's requirements" if extra else "")
        )
        _pip(name, python, ["-c", str(constraints), *requirements, *extra], log)
        if install_rlsuite:
            _progress(name, f"installing rlsuite from {REPO_ROOT} (editable, no dependencies)")
            _pip(name, python, ["--no-deps", "-e", str(REPO_ROOT)], log)
        stamp.write_text(json.dumps(plan, indent=1) + "\n")
        _progress(name, f"ready in {time.perf_counter() - start:.0f} s")
    return folder


def run_in_venv(
    name: str, script: Path, args: list[str], timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``<venv>/bin/python script *args`` in the peer venv ``name`` (built beforehand by
    :func:`ensure_venv`) and return the finished process, its stdout and stderr captured as text.

    The child gets one OpenMP/MKL thread (``OMP_NUM_THREADS=1``), wandb disabled, no
    ``PYTHONPATH``/``PYTHONHOME`` of ours, and ``MUJOCO_GL=egl`` unless the caller set a backend (it
    renders nothing; the headless default keeps MuJoCo from probing for a display). A non-zero exit
    raises :class:`PeerVenvError` with the tail of its stderr; a timeout raises
    ``subprocess.TimeoutExpired`` as ``subprocess.run`` does.
    """
    python = venv_python(name)
    if not python.is_file():
        raise PeerVenvError(
            f"peer {name!r}: no virtual environment at {venv_dir(name)}; build it first with "
            f"ensure_venv() or `python benchmarks/peer_venv.py {name}`"
        )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        WANDB_MODE="disabled",
        WANDB_SILENT="true",
        VIRTUAL_ENV=str(venv_dir(name)),
        PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.setdefault("MUJOCO_GL", "egl")
    command = [str(python), str(script), *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if result.returncode != 0:
        raise PeerVenvError(
            f"peer {name!r}: {Path(script).name} {' '.join(map(str, args))} exited with {result.returncode}; "
            f"stderr tail:\n{_tail(result.stderr or result.stdout)}"
        )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build (or check) a peer library's virtual environment.")
    parser.add_argument("name", choices=sorted(PEERS), help="the peer, one of PEERS")
    args = parser.parse_args(argv)
    folder = ensure_venv(args.name, PEERS[args.name], install_rlsuite=args.name not in WITHOUT_RLSUITE)
    print(f"{args.name}: {venv_python(args.name)} (stamp {folder / STAMP_NAME})")


if __name__ == "__main__":
    main()
