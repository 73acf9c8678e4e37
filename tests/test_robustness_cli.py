"""Robustness of what users touch first: atomic result files and the command line.

The CLI cases run ``rlsuite.cli.main([...])`` in-process: a user error must exit with status 2,
a usage line and a message naming the argument, and never a traceback.
"""

from __future__ import annotations

import csv
import os
import stat

import pytest

from rlsuite.files import append_csv, atomic_write, save_figure, write_csv


def _leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- rlsuite/files.py ------------------------------------------------------------------------------


def test_a_writer_that_raises_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("previous\n")
    with pytest.raises(RuntimeError, match="crash"), atomic_write(target) as f:
        f.write("half a ")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "previous\n"
    assert _leftovers(tmp_path) == []


def test_a_keyboard_interrupt_mid_write_also_cleans_up(tmp_path):
    target = tmp_path / "plot.png"
    with pytest.raises(KeyboardInterrupt), atomic_write(target, "wb") as f:
        f.write(b"\x89PNG")
        raise KeyboardInterrupt
    assert not target.exists()
    assert _leftovers(tmp_path) == []


def test_a_successful_write_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "results.csv"  # missing folders are created
    write_csv(target, [{"a": 1, "b": 2}], ["a", "b"])
    write_csv(target, [{"a": 3, "b": 4}, {"a": 5, "b": 6}], ["a", "b"])
    with target.open(newline="") as f:
        assert list(csv.DictReader(f)) == [{"a": "3", "b": "4"}, {"a": "5", "b": "6"}]
    assert _leftovers(target.parent) == []


def test_a_failing_csv_row_keeps_the_previous_csv(tmp_path):
    target = tmp_path / "results.csv"
    write_csv(target, [{"a": 1}], ["a"])
    before = target.read_bytes()
    with pytest.raises(ValueError, match="fields not in fieldnames"):
        write_csv(target, [{"a": 2}, {"zzz": 3}], ["a"])
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_append_csv_keeps_old_rows_and_line_ends(tmp_path):
    target = tmp_path / "log.csv"
    append_csv(target, [{"a": 1}], ["a"])
    append_csv(target, [{"a": 2}], ["a"])
    assert target.read_bytes() == b"a\r\n1\r\n2\r\n"


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.csv"
        write_csv(fresh, [], ["a"])
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # not mkstemp's owner-only 0o600
        kept = tmp_path / "kept.csv"
        kept.write_text("x")
        kept.chmod(0o640)
        write_csv(kept, [], ["a"])
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_bad_mode_and_directory_targets_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "a"):
        pass
    with pytest.raises(IsADirectoryError, match="path"), atomic_write(tmp_path):
        pass
    assert _leftovers(tmp_path) == []


def test_save_figure_writes_a_png_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "fig.png", dpi=50)
    plt.close(fig)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert _leftovers(tmp_path) == []


# --- the command line ------------------------------------------------------------------------------

import math  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rlsuite.cli import main  # noqa: E402

N = 25  # fuzzed argument vectors per boundary


def _usage_error(capsys, argv: list[str], field: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2, argv
    err = capsys.readouterr().err
    assert err.startswith("usage: rlsuite"), err
    assert field in err, (field, err)
    assert "Traceback" not in err
    return err


def _bad_number_text(minimum: int) -> st.SearchStrategy[str]:
    """Numbers as a user would type them that are not integers >= minimum."""
    return st.one_of(
        st.integers(max_value=minimum - 1).map(str),
        st.floats(allow_nan=True, allow_infinity=True)
        .filter(lambda x: not (math.isfinite(x) and x == int(x)))
        .map(repr),
        st.sampled_from(["1.5", "1e3", "ten", "", "0x10", "nan", "inf", "-0.5", "3,"]),
    )


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    option=st.sampled_from(["--episodes", "--periods"]),
    value=_bad_number_text(1),
)
def test_evaluate_rejects_non_positive_counts(capsys, option, value):
    _usage_error(capsys, ["evaluate", "base-stock", "InvMgmt-v0", option, value], option)


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(["--warmup", "--seeds"]), value=_bad_number_text(0))
def test_evaluate_rejects_negative_or_fractional_warmup_and_seeds(capsys, option, value):
    _usage_error(capsys, ["evaluate", "base-stock", "InvMgmt-v0", option, value], option)


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(["--episodes", "--seed"]), value=_bad_number_text(1))
def test_demo_rejects_bad_numbers(capsys, option, value):
    if option == "--seed" and value == "0":
        value = "-1"
    _usage_error(capsys, ["demo", option, value], option)


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["evaluate", "base-stock", "InvMgmt-v0", "--episodes", "0"], "--episodes"),
        (["evaluate", "base-stock", "InvMgmt-v0", "--periods", "-3"], "--periods"),
        (["evaluate", "base-stock", "InvMgmt-v0", "--seeds", "1.5"], "--seeds"),
        (["evaluate", "base-stock", "InvMgmt-v0", "--seeds", "0", "-2"], "--seeds"),
        (["evaluate", "base-stock", "InvMgmt-v0", "--warmup", "1000", "--periods", "30"], "--warmup"),
        (["evaluate", "base-stock", "InvMgmt-v0", "--warmup", "30", "--periods", "30"], "--warmup"),
        (["evaluate", "genius", "InvMgmt-v0"], "policy"),
        (["evaluate", "base-stock", "CartPole-v1"], "env_id"),
        (["evaluate", "base-stock", "InvMgmt-v9"], "env_id"),
        (["demo", "--env", "Sokoban-v0"], "--env"),
        (["demo", "--episodes", "0"], "--episodes"),
    ],
)
def test_user_errors_exit_2_with_usage_and_no_traceback(capsys, argv, field):
    _usage_error(capsys, argv, field)


def test_warmup_is_checked_against_the_envs_own_length(capsys):
    err = _usage_error(capsys, ["evaluate", "zero", "InvMgmt-v0", "--warmup", "100000"], "--warmup")
    assert "episode length" in err


@pytest.mark.parametrize("option", ["--csv", "--plot"])
def test_unwritable_output_paths_are_refused_before_evaluating(capsys, tmp_path, option):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for path in (blocker / "out.csv", tmp_path):  # under a file; a folder
        _usage_error(capsys, ["evaluate", "zero", "InvMgmt-v0", "--episodes", "1", option, str(path)], option)


def test_demo_refuses_an_output_folder_that_is_a_file(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _usage_error(capsys, ["demo", "--episodes", "1", "--out", str(blocker)], "--out")


def test_evaluate_writes_its_csv_and_plot_atomically(capsys, tmp_path):
    out_csv, out_png = tmp_path / "new" / "summary.csv", tmp_path / "bars.png"
    argv = ["evaluate", "zero", "InvMgmt-v0", "--seeds", "0", "1", "--periods", "5", "--warmup", "1"]
    assert main([*argv, "--csv", str(out_csv), "--plot", str(out_png)]) == 0
    with out_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["policy"] == "zero" and rows[0]["episodes"] == "2" and "avg_cost" in rows[0]
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    assert _leftovers(tmp_path) == [] and _leftovers(out_csv.parent) == []
    assert "zero" in capsys.readouterr().out


def test_run_demo_checks_its_arguments(tmp_path):
    from rlsuite.demo import run_demo

    with pytest.raises(TypeError, match="episodes"):
        run_demo(episodes=2.5, out=tmp_path)
    with pytest.raises(ValueError, match="seed"):
        run_demo(seed=-1, out=tmp_path)
    with pytest.raises(ValueError, match="env_id"):
        run_demo("LotSizing-v0", out=tmp_path)
    assert list(tmp_path.iterdir()) == []
