"""The README's Python examples run as written, so they cannot drift from the code.

Every fenced ```python block of README.md is a snippet. A block that cannot run here as written
says so in an HTML comment on the line just before its fence, with the reason:

    <!-- snippet: skip (needs torchrun) -->              never run by the tests
    <!-- snippet: slow (trains 100k steps: ~80 s) -->    run by `make test-slow` (pytest -m slow)

Every other block runs in the fast suite. The blocks of a test run one after another in one
subprocess with one torch thread, each in a fresh namespace and a fresh working directory (where
the repository's `examples/` is visible, as from the repository root) and under a time limit. The
code is compiled as README.md's own lines, so a failure names the block's line in README.md, and
its traceback points at the README line that raised.

Run this file as a script (`python tests/test_readme_snippets.py SPEC.json`) to execute the blocks
a spec lists; the tests do that in the subprocess.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*snippet:\s*(?P<kind>[\w-]+)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")
MARKER_KINDS = ("skip", "slow")
FAST_BLOCK_TIMEOUT_S = 90
SLOW_BLOCK_TIMEOUT_S = 900
MIN_RUN_SHARE = 0.5
"""At least this share of the README's blocks must run (fast or slow), not be skipped."""
MIN_FAST_SHARE = 1 / 3
"""At least this share must run in the fast suite."""


@dataclass(frozen=True)
class Snippet:
    """One ```python block of README.md."""

    line: int
    """README.md line (1-based) of the block's first line of code."""
    code: str
    """The block's code, dedented (blocks inside list items are indented)."""
    kind: str
    """`run` without a marker, else the marker's kind: `skip` or `slow`."""
    reason: str
    """The marker's reason ("" without a marker)."""


def readme_snippets(text: str) -> list[Snippet]:
    """Every ```python block of a Markdown text, with the marker on the line before its fence."""
    lines = text.splitlines()
    snippets = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"README.md line {i + 1}: a code fence that is never closed"
        if fence["lang"] == "python":
            marker = MARKER.match(lines[i - 1]) if i > 0 else None
            kind, reason = (marker["kind"], (marker["reason"] or "").strip()) if marker else ("run", "")
            code = textwrap.dedent("\n".join(lines[i + 1 : end]))
            snippets.append(Snippet(line=i + 2, code=code, kind=kind, reason=reason))
        i = end + 1
    return snippets


SNIPPETS = readme_snippets(README.read_text(encoding="utf-8"))


def run_snippets(snippets: list[Snippet], block_timeout_s: int, tmp_path: Path) -> list[dict]:
    """Run ``snippets`` in one subprocess; returns one ``{"line", "seconds", "error"}`` per block
    that finished (``error`` is None on success, else the traceback's last lines)."""
    results_path = tmp_path / "results.jsonl"
    spec = {
        "readme": str(README),
        "examples": str(ROOT / "examples"),
        "results": str(results_path),
        "timeout_s": block_timeout_s,
        "blocks": [
            {"line": s.line, "code": s.code, "workdir": str(tmp_path / f"L{s.line}")} for s in snippets
        ],
    }
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, __file__, str(spec_path)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=block_timeout_s * len(snippets) + 60,
        )
        output, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:  # its captured output is bytes, whatever text= says
        output, rc = b"".join(x for x in (exc.stdout, exc.stderr) if x).decode(errors="replace"), None
    results = [json.loads(r) for r in results_path.read_text().splitlines()] if results_path.exists() else []
    if len(results) < len(snippets):
        died = snippets[len(results)]
        pytest.fail(f"README.md line {died.line}: the process died (exit status {rc})\n{output[-3000:]}")
    return results


def assert_all_ran(results: list[dict]) -> None:
    failures = [f"README.md line {r['line']}:\n{r['error']}" for r in results if r["error"]]
    timing = ", ".join(f"line {r['line']}: {r['seconds']:.1f} s" for r in results)
    assert not failures, "\n\n".join(failures) + f"\n\n(times: {timing})"


def test_markers_are_well_formed_and_give_a_reason():
    lines = README.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if not re.search(r"<!--\s*snippet", line):
            continue
        where = f"README.md line {n + 1}"
        marker = MARKER.match(line)
        assert marker is not None, f"{where}: write markers as <!-- snippet: skip (why) -->, got {line!r}"
        assert marker["kind"] in MARKER_KINDS, f"{where}: kind {marker['kind']!r}; allowed: {MARKER_KINDS}"
        assert (marker["reason"] or "").strip(), f"{where}: the marker must say why, e.g. (needs torchrun)"
        fence = FENCE.match(lines[n + 1]) if n + 1 < len(lines) else None
        assert fence is not None and fence["lang"] == "python", f"{where}: no ```python fence follows it"


def test_most_snippets_run():
    kinds = [s.kind for s in SNIPPETS]
    n, fast, slow = len(kinds), kinds.count("run"), kinds.count("slow")
    print(f"README python blocks: {n}; fast: {fast}, slow: {slow}, skipped: {kinds.count('skip')}")
    assert n >= 10, f"found only {n} python blocks in README.md; is the fence parser broken?"
    assert fast + slow >= MIN_RUN_SHARE * n, f"only {fast + slow} of {n} README blocks run at all"
    assert fast >= MIN_FAST_SHARE * n, f"only {fast} of {n} README blocks run in the fast suite"


def test_fast_snippets_run(tmp_path):
    fast = [s for s in SNIPPETS if s.kind == "run"]
    assert_all_ran(run_snippets(fast, FAST_BLOCK_TIMEOUT_S, tmp_path))


@pytest.mark.slow
def test_slow_snippets_run(tmp_path):
    slow = [s for s in SNIPPETS if s.kind == "slow"]
    assert_all_ran(run_snippets(slow, SLOW_BLOCK_TIMEOUT_S, tmp_path))


# ---------------------------------------------------------------- the subprocess's side


class SnippetTimeout(Exception):
    """A block ran past its time limit."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise SnippetTimeout("the block ran past its time limit")


def _run_spec(spec_path: str) -> None:
    import torch

    torch.set_num_threads(1)
    spec = json.loads(Path(spec_path).read_text())
    signal.signal(signal.SIGALRM, _on_alarm)
    for block in spec["blocks"]:
        workdir = Path(block["workdir"])
        workdir.mkdir(parents=True)
        (workdir / "examples").symlink_to(spec["examples"])
        os.chdir(workdir)
        start = time.perf_counter()
        error = None
        signal.alarm(spec["timeout_s"])
        try:
            # Padding with empty lines makes the compiled code's line numbers README.md's own.
            code = compile("\n" * (block["line"] - 1) + block["code"], spec["readme"], "exec")
            exec(code, {"__name__": "__main__"})
        except Exception as exc:  # the traceback from the block's frame on (this loop's left out)
            frames = traceback.format_exception(
                type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None
            )
            error = "".join(frames[-12:])
        finally:
            signal.alarm(0)
        result = {"line": block["line"], "seconds": time.perf_counter() - start, "error": error}
        with open(spec["results"], "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    _run_spec(sys.argv[1])
