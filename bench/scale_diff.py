"""Scale benchmarks of planning diffs (SPEC §11 "Scale"): L2 and L3.

L3, many hunks in one large file: a deterministic (seeded) 200,000-line file and a diff of
3,000 or 16,000 "three-line" hunks against it. Each hunk replaces one line, with one line of
context on either side (``git diff -U1`` shape: a three-line pre-image and a three-line
post-image). The file's lines come from a small vocabulary, as code does, so the hunk
matcher and the line diff meet many repeated lines.

L2, real diffs of 1, 10 and 50 MB: the Pygments release diff of ``bench/realdata.py``
(``python bench/realdata.py fetch``) and the larger ones of ``python bench/realdata.py
fetch-large`` (``.cache/realdata-large/``).

Every case is planned by a cold ``agentos plan`` process, timed and measured for its peak
memory (``ru_maxrss`` from ``os.wait4``), and compared with ``git apply --check`` and GNU
``patch --dry-run`` on the same workspace and diff. ``measure_plan_in_process`` times the
work alone, in a process whose imports are already done, for cases where start-up dominates.

Run ``python bench/scale_diff.py [l2|l3|all]`` for a table; the functions are the interface
for the bench runner.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import realdata  # noqa: E402

AGENTOS = Path(sys.executable).with_name("agentos")
POLICY = REPO / "tests" / "data" / "permissive-policy.yaml"
L3_LINES = 200_000
L3_HUNKS = (3_000, 16_000)
SEED = 20240611
# Line shapes of source code: many repeated lines (blank, braces, returns), the rest varied.
_COMMON = (
    "\n",
    "    }\n",
    "}\n",
    "        return result\n",
    "    else:\n",
    "        pass\n",
    "\n",
    "    # ---\n",
)
_VARIANTS = 23
_WORDS = ("alpha", "beta", "gamma", "delta", "value", "item", "count", "name", "data", "node")


@dataclass(frozen=True)
class Case:
    """One diff to plan: its label, the workspace it applies to, the diff and its ``-p``."""

    label: str
    workspace: Path
    diff: Path
    strip: int


def _line(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(_COMMON)
    # 2,000 distinct statements, each on about 70 lines of the file: repeated like code is,
    # yet each below the 1 % that difflib's autojunk would ignore.
    words = rng.sample(_WORDS, 2)
    return f"    {words[0]}_{rng.randrange(_VARIANTS)} = {words[1]}()\n"


def make_l3_case(root: Path, hunks: int, *, lines: int = L3_LINES, seed: int = SEED) -> Case:
    """A workspace holding one ``lines``-line file and a diff of ``hunks`` one-line
    replacements with one line of context each side, evenly spread (deterministic)."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    ws = root / f"l3-{hunks}"
    if ws.exists():
        shutil.rmtree(ws)
    ws.mkdir(parents=True)
    old = [_line(rng) for _ in range(lines)]
    stride = lines // hunks
    if stride < 4:
        raise ValueError(f"{hunks} hunks do not fit in {lines} lines with their context")
    (ws / "big.py").write_text("".join(old))
    parts = ["diff --git a/big.py b/big.py\n", "--- a/big.py\n", "+++ b/big.py\n"]
    for index in range(hunks):
        # The replaced line, with a context line before and after it.
        at = index * stride + 1 + rng.randrange(stride - 2)
        new = f"    changed_{index} = {rng.choice(_WORDS)}()\n"
        parts.append(f"@@ -{at},3 +{at},3 @@\n")
        parts.append(" " + old[at - 1])
        parts.append("-" + old[at])
        parts.append("+" + new)
        parts.append(" " + old[at + 1])
    diff = root / f"l3-{hunks}.diff"
    diff.write_text("".join(parts))
    return Case(f"L3 {hunks:,} hunks", ws, diff, 1)


def l3_cases(scratch: Path) -> list[Case]:
    """The L3 cases (3,000 and 16,000 hunks in a 200,000-line file) under ``scratch``."""
    return [make_l3_case(scratch, hunks) for hunks in L3_HUNKS]


def _linked_copy(source: Path, target: Path) -> Path:
    """``source`` as a tree of hard links at ``target`` (planning only reads it)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, copy_function=os.link)
    return target


def l2_cases(scratch: Path) -> list[Case]:
    """The real diffs of about 1, 10 and 50 MB that are in the cache, each with a workspace
    of hard links to its old tree (``agentos plan`` writes only under ``.agentos/``)."""
    cases: list[Case] = []
    if realdata.ready():
        ws = _linked_copy(realdata.OLD_DIR, scratch / "l2-1mb")
        cases.append(Case(_size_label(realdata.DIFF_FILE), ws, realdata.DIFF_FILE, realdata.STRIP))
    for name in realdata.LARGE_SETS:
        if not realdata.large_ready(name):
            continue
        old, diff = realdata.large_paths(name)
        ws = _linked_copy(old, scratch / f"l2-{name}")
        cases.append(Case(_size_label(diff), ws, diff, realdata.LARGE_STRIP))
    return cases


def _size_label(diff: Path) -> str:
    return f"L2 {diff.stat().st_size / 1e6:.1f} MB"


def _run_child(command: list[str], cwd: Path) -> tuple[float, int, int, str]:
    """Wall seconds, peak RSS in bytes, exit status and the end of the output of one child
    (``measure.spawn``: a clean memory figure however large this process is)."""
    from measure import spawn

    return spawn(command, cwd=cwd)


def _plan_args(diff: Path, strip: int, out: Path, policy: Path) -> list[str]:
    """``agentos plan``'s arguments for ``diff``, its plan written under ``out``."""
    plan = str(out / "plan.json")
    return ["plan", str(diff), "-p", str(strip), "-q", "-o", plan, "--policy", str(policy)]


def measure_plan(
    agentos_exe: Path, workspace: Path, diff: Path, strip: int, *, policy: Path = POLICY
) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one cold ``agentos plan`` of ``diff``."""
    with tempfile.TemporaryDirectory() as out:
        command = [str(Path(agentos_exe).absolute()), *_plan_args(diff, strip, Path(out), policy)]
        seconds, rss, code, errors = _run_child(command, workspace)
    if code != 0:
        raise RuntimeError(f"agentos plan {diff} exited {code}: {errors}")
    return seconds, rss


_IN_PROCESS = """
import json, resource, sys, time
from agentos.cli.app import run
import agentos.planner.plan, agentos.planner.diff, agentos.planner.gitapply
import agentos.governance.gate, agentos.planner.planfile, agentos.pipeline.gating
start = time.perf_counter()
code = run(sys.argv[1:])
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
sys.stderr.write(json.dumps({"code": code, "seconds": elapsed, "rss": peak}) + "\\n")
"""


def measure_plan_in_process(
    workspace: Path, diff: Path, strip: int, *, policy: Path = POLICY
) -> tuple[float, int]:
    """Seconds of ``agentos plan``'s work alone (imports done first) and the peak RSS."""
    with tempfile.TemporaryDirectory() as out:
        args = _plan_args(diff, strip, Path(out), policy)
        proc = subprocess.run(
            [sys.executable, "-c", _IN_PROCESS, *args],
            cwd=workspace,
            capture_output=True,
            check=False,
        )
    lines = proc.stderr.decode(errors="replace").strip().splitlines()
    report = json.loads(lines[-1]) if lines else {}
    if report.get("code") != 0:
        raise RuntimeError(f"agentos plan {diff} failed: {proc.stderr.decode()[-500:]}")
    return float(report["seconds"]), int(report["rss"])


def measure_git_apply(workspace: Path, diff: Path, strip: int) -> float:
    """Seconds of ``git apply --check`` of ``diff`` in ``workspace``."""
    command = ["git", "apply", "--check", f"-p{strip}", str(diff)]
    seconds, _, code, errors = _run_child(command, workspace)
    if code != 0:
        raise RuntimeError(f"git apply --check {diff} exited {code}: {errors}")
    return seconds


def measure_patch(workspace: Path, diff: Path, strip: int) -> tuple[float, int]:
    """Seconds and exit status of GNU ``patch --dry-run``; a status of 1 means some part
    (a git binary patch) was not applied, which GNU patch does not support."""
    command = ["patch", "--dry-run", "-s", "-f", f"-p{strip}", "-i", str(diff)]
    seconds, _, code, _ = _run_child(command, workspace)
    return seconds, code


def median(fn: Callable[[], tuple[float, int]], runs: int) -> tuple[float, int]:
    """Median seconds and largest peak RSS of ``runs`` calls of ``fn`` -> (seconds, rss)."""
    results = [fn() for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def report(cases: list[Case], runs: int = 3) -> list[dict[str, object]]:
    """Measure every case: agentos (cold and in-process), git apply --check, patch."""
    rows: list[dict[str, object]] = []
    for case in cases:
        size = case.diff.stat().st_size
        git = statistics.median(
            measure_git_apply(case.workspace, case.diff, case.strip) for _ in range(runs)
        )
        patch = statistics.median(
            measure_patch(case.workspace, case.diff, case.strip)[0] for _ in range(runs)
        )
        where = (case.workspace, case.diff, case.strip)
        cold, rss = median(functools.partial(measure_plan, AGENTOS, *where), runs)
        work, _ = median(functools.partial(measure_plan_in_process, *where), runs)
        budget = 6 * size + 64 * 2**20
        row = {
            "case": case.label,
            "diff_bytes": size,
            "agentos_s": round(cold, 3),
            "agentos_work_s": round(work, 3),
            "git_apply_check_s": round(git, 3),
            "patch_dry_run_s": round(patch, 3),
            "ratio_cold": round(cold / git, 2),
            "ratio_work": round(work / git, 2),
            "peak_rss_mib": round(rss / 2**20, 1),
            "rss_budget_mib": round(budget / 2**20, 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: list[str]) -> int:
    which = argv[0] if argv else "all"
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    with tempfile.TemporaryDirectory() as scratch:
        cases: list[Case] = []
        if which in ("l3", "all"):
            cases += l3_cases(Path(scratch))
        if which in ("l2", "all"):
            cases += l2_cases(Path(scratch))
        report(cases, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
