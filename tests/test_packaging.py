"""Packaging, optional dependencies, the CLI and the demo."""

import re
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


def test_demo_writes_kpis_and_plot(tmp_path):  # the baselines; tests/test_demo.py trains
    from rlsuite.demo import run_demo

    rows = run_demo("InvMgmt-v0", episodes=4, out=tmp_path, show_progress=False, training="none")
    assert (tmp_path / "kpis.csv").exists() and (tmp_path / "demo.png").stat().st_size > 10_000
    by_name = {r["policy"]: r for r in rows}
    # The base-stock heuristic must beat ordering a constant 20, which beats ordering nothing;
    # the hindsight oracle bounds them all.
    assert by_name["newsvendor"]["profit"] > by_name["constant"]["profit"] > by_name["zero"]["profit"]
    assert all(r["opt_gap_pct"] > 0 for r in rows)


def test_citation_file_is_valid_cff_with_the_package_version():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    required = {"cff-version", "message", "title", "authors"}  # CFF 1.2.0's required keys
    assert required <= cff.keys(), f"CITATION.cff lacks {sorted(required - cff.keys())}"
    assert cff["cff-version"] == "1.2.0"
    assert cff["authors"] and all(a.get("name") or a.get("family-names") for a in cff["authors"])
    assert cff["version"] == rlsuite.__version__, "bump CITATION.cff's version with rlsuite/_version.py"
    assert cff["license"] == "MIT"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    assert all(isinstance(k, str) and k for k in cff["keywords"])


def test_license_file_matches_the_declared_license():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    assert "License :: OSI Approved :: MIT License" in project["classifiers"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 rlsuite developers")
