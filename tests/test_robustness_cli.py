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
