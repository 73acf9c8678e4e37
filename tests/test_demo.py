"""The main job in its fast mode: HDPO and PPO trained and evaluated beside the baselines on the
same traces, every policy at or below the hindsight oracle, the three outputs written."""

import csv

import pytest
import torch

from rlsuite.demo import TRAINING, run_demo


def test_quick_demo_trains_and_ranks_every_policy_against_the_oracle(tmp_path, capsys):
    torch.set_num_threads(1)
    rows = run_demo("InvMgmt-v0", episodes=3, out=tmp_path, show_progress=False, training="quick")
    names = {r["policy"] for r in rows}
    assert {"HDPO (trained)", "PPO (trained)", "newsvendor", "sS", "zero"} <= names
    for r in rows:  # the oracle plans with the realised demand: no policy beats it on any seed
        assert r["opt_gap_pct"] >= -1e-6, r["policy"]
    assert [r["profit"] for r in rows] == sorted((r["profit"] for r in rows), reverse=True)
    for name in ("kpis.csv", "demo.png", "learning_curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "kpis.csv").open() as f:
        assert {r["policy"] for r in csv.DictReader(f)} == names
    printed = capsys.readouterr().out
    assert "training HDPO" in printed and "oracle (hindsight LP)" in printed


def test_without_training_only_baselines_run_and_bad_budgets_are_refused(tmp_path):
    rows = run_demo("InvMgmt-v0", episodes=2, out=tmp_path, show_progress=False, training="none")
    assert not any("trained" in r["policy"] for r in rows)
    assert not (tmp_path / "learning_curves.png").exists()
    with pytest.raises(ValueError, match="training"):
        run_demo("InvMgmt-v0", episodes=2, out=tmp_path, training="forever")
    assert set(TRAINING) == {"none", "quick", "standard", "long"}
