"""The scale benchmarks of SPEC §11 (L1 to L4) and the plot of time against size.

- L1: ``agentos plan`` + ``agentos apply`` of 1k / 10k / 100k new files (``scale_files``),
  against ``git apply`` and GNU ``patch -p1`` of the same change as a diff.
- L2: ``agentos plan`` of real diffs of about 1 / 10 / 50 MB (``scale_diff``, ``realdata``),
  against ``git apply --check`` and ``patch --dry-run``, with peak memory.
- L3: one 200,000-line file with 3,000 and 16,000 hunks, against ``git apply --check``.
- L4: ``status`` and ``history --limit 20`` with 1k / 100k / 1M audit events (``scale_audit``).

The L1 and L2 series are kept for ``write_plot``.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from measure import AGENTOS, MIB, Result, at_most
from plot import Panel, write_svg

L1_SIZES = (1_000, 10_000, 100_000)
L4_SIZES = (1_000, 100_000, 1_000_000)
PANELS = {
    "L1": Panel("L1: plan + apply of N new files", "files"),
    "L2": Panel("L2: planning a real diff of S MB", "MB (diff size)"),
}


def bench_l1() -> list[Result]:
    """Plan + apply of many small files, each size in a fresh workspace (one run each for the
    large sizes: minutes, not noise, is what they show)."""
    import scale_files

    results: list[Result] = []
    totals: dict[int, float] = {}
    panel = PANELS["L1"]
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        for files in L1_SIZES:
            case = scale_files.make_case(scratch / f"case{files}", files, "dirs", policy="governed")
            runs = 3 if files <= 1_000 else 1
            measured = [
                scale_files.measure(AGENTOS, case, scratch=scratch, input_kind="json")
                for _ in range(runs)
            ]
            plan = statistics.median(m.plan_seconds for m in measured)
            apply = statistics.median(m.apply_seconds for m in measured)
            totals[files] = plan + apply
            rss = max(max(m.plan_rss, m.apply_rss) for m in measured)
            git = statistics.median(m.git_apply_seconds or 0.0 for m in measured)
            patch = statistics.median(m.patch_seconds or 0.0 for m in measured)
            panel.add("agentos", files, plan + apply)
            if git:
                panel.add("git apply", files, git)
            if patch:
                panel.add("GNU patch", files, patch)
            detail = (
                f"plan {plan:.2f} s + apply {apply:.2f} s; peak {rss / MIB:.0f} MiB; "
                f"GNU patch {patch:.2f} s"
            )
            what = f"plan + apply of {files:,} new files, cold, vs `git apply` of the same diff"
            results.append(Result("L1", what, "report", plan + apply, git, detail=detail))
            shutil.rmtree(case.base.parent, ignore_errors=True)
    if 1_000 in totals and 10_000 in totals:
        what = "plan + apply: 10,000 files vs 1,000 files"
        results.append(at_most(Result("L1", what, "<= 12 x", totals[10_000], totals[1_000]), 12))
    return results


def bench_l2() -> list[Result]:
    """Planning real diffs of growing size, with peak memory against 6 x S + 64 MiB."""
    import scale_diff

    results: list[Result] = []
    panel = PANELS["L2"]
    with tempfile.TemporaryDirectory() as scratch_dir:
        cases = scale_diff.l2_cases(Path(scratch_dir))
        if not cases:
            return [Result("L2", "planning real diffs", "<= 40 x", note="run make realdata")]
        for case in cases:
            size = case.diff.stat().st_size
            runs = 3 if size < 20e6 else 1
            git = statistics.median(
                scale_diff.measure_git_apply(case.workspace, case.diff, case.strip)
                for _ in range(runs)
            )
            patch = statistics.median(
                scale_diff.measure_patch(case.workspace, case.diff, case.strip)[0]
                for _ in range(runs)
            )
            measured = [
                scale_diff.measure_plan(AGENTOS, case.workspace, case.diff, case.strip)
                for _ in range(runs)
            ]
            plan = statistics.median(s for s, _ in measured)
            rss = max(r for _, r in measured)
            budget = 6 * size + 64 * MIB
            megabytes = size / 1e6
            panel.add("agentos", megabytes, plan)
            panel.add("git apply", megabytes, git)
            panel.add("GNU patch", megabytes, patch)
            detail = (
                f"peak {rss / MIB:.0f} MiB of {budget / MIB:.0f} allowed; "
                f"`patch --dry-run` {patch:.2f} s"
            )
            what = f"`agentos plan` of a {megabytes:.1f} MB real diff, cold, vs `git apply --check`"
            largest = case is cases[-1] and megabytes >= 40
            target = "<= 40 x; memory <= 6 S + 64 MiB" if largest else "memory <= 6 S + 64 MiB"
            met = rss <= budget and (not largest or plan <= 40 * git)
            results.append(Result("L2", what, target, plan, git, detail=detail, met=met))
    return results


def bench_l3() -> list[Result]:
    """Many hunks in one large file: cold and in-process planning against git."""
    import scale_diff

    results: list[Result] = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        for case in scale_diff.l3_cases(Path(scratch_dir)):
            git = statistics.median(
                scale_diff.measure_git_apply(case.workspace, case.diff, case.strip)
                for _ in range(3)
            )
            plan, rss = scale_diff.measure_plan(AGENTOS, case.workspace, case.diff, case.strip)
            work, _ = scale_diff.measure_plan_in_process(case.workspace, case.diff, case.strip)
            detail = f"in-process {work:.2f} s ({work / git:.1f} x); peak {rss / MIB:.0f} MiB"
            what = (
                f"`agentos plan`, {case.label} in a 200,000-line file, cold, vs `git apply --check`"
            )
            results.append(at_most(Result("L3", what, "<= 5 x", plan, git, detail=detail), 5))
    return results


def bench_l4() -> list[Result]:
    """``status`` and ``history --limit 20`` as the trail grows (snapshots of the folds)."""
    import scale_audit

    rows = scale_audit.l4(AGENTOS, sizes=L4_SIZES)
    results: list[Result] = []
    for command in scale_audit.COMMANDS:
        by_size = {row["events"]: row for row in rows if row["command"] == command}
        for size in L4_SIZES[1:]:
            row, base = by_size[size], by_size[L4_SIZES[0]]
            detail = (
                f"first run (builds the snapshot) {row['first']:.2f} s; "
                f"peak {row['warm_rss'] / MIB:.0f} MiB"
            )
            what = f"`{command}` at {size:,} events vs at {L4_SIZES[0]:,}, cold"
            target = "<= 2 x" if size == L4_SIZES[-1] else "report"
            result = Result("L4", what, target, row["warm"], base["warm"], detail=detail)
            results.append(at_most(result, 2) if size == L4_SIZES[-1] else result)
    return results


def write_plot(path: Path) -> None:
    """The L1 and L2 series measured in this run, log-log, as ``path`` (an SVG)."""
    write_svg(path, list(PANELS.values()))
