"""Packaging, optional dependencies, the CLI and the demo."""

import subprocess
import sys
from pathlib import Path

import pytest

import rlsuite

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    mapping = cfg["package-dir"]
    found = set()
    for pkg, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"


def test_import_rlsuite_keeps_optional_dependencies_out():
    code = (
        "import sys, rlsuite, gymnasium as gym; gym.make('InvMgmt-v0');"
        "bad = [m for m in ('pettingzoo', 'torch_geometric', 'mujoco', 'tensorboard') if m in sys.modules];"
        "print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_version_and_cli(tmp_path):
    assert rlsuite.__version__
    out = subprocess.run(
        [sys.executable, "-m", "rlsuite", "envs"], check=True, capture_output=True, text=True
    )
    assert "InvMgmt-v0" in out.stdout


def test_demo_writes_kpis_and_plot(tmp_path):
    from rlsuite.demo import run_demo

    rows = run_demo("InvMgmt-v0", episodes=4, out=tmp_path, show_progress=False)
    assert (tmp_path / "kpis.csv").exists() and (tmp_path / "demo.png").stat().st_size > 10_000
    by_name = {r["policy"]: r for r in rows}
    # The base-stock heuristic must beat ordering a constant 20, which beats ordering nothing;
    # the hindsight oracle bounds them all.
    assert by_name["newsvendor"]["profit"] > by_name["constant"]["profit"] > by_name["zero"]["profit"]
    assert all(r["opt_gap_pct"] > 0 for r in rows)
