"""The core benchmarks of SPEC §11: the floor F0, B1 to B6, and H1 (a hook decision, cold).

Cold figures are whole processes started the way a user starts them. In-process figures run
agentos's entry point inside this process after a warm-up, so that start-up is left out.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import realdata
from measure import AGENTOS, REPO, RUNS, Result, at_most, cold, timed, timed_call, timed_fresh

BENCH_POLICY = """\
writegate:
  require_approval_for_risk: []
executor:
  allowed_paths: ["src/**"]
  constraints: {max_files_touched: 1000000, max_patch_lines: 100000000}
  require_health_checks_for_risk: []
  backups: {keep: 1}
"""
PERMISSIVE_POLICY = REPO / "tests" / "data" / "permissive-policy.yaml"

# F0, the floor of this stack (SPEC §11): a typer app with one command and one strict model.
TYPER_FLOOR = """\
import typer
from pydantic import BaseModel, ConfigDict


class Reply(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    decision: str
    files: int


def main(decision: str, files: int = 1) -> None:
    print(Reply(decision=decision, files=files).model_dump_json())


typer.run(main)
"""


def floor_command(scratch: Path) -> list[str]:
    """The command line of F0, its script written under ``scratch``."""
    floor = scratch / "floor.py"
    floor.write_text(TYPER_FLOOR)
    return [sys.executable, str(floor), "allow"]


def floor_seconds() -> float:
    """F0's median cold wall time."""
    with tempfile.TemporaryDirectory() as scratch:
        return timed(floor_command(Path(scratch)))


@contextlib.contextmanager
def inside(directory: Path) -> Iterator[None]:
    """Run in ``directory``, with agentos's output swallowed (in-process figures)."""
    previous = Path.cwd()
    os.chdir(directory)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.chdir(previous)


def in_process(args: list[str], cwd: Path, *, runs: int = RUNS) -> float:
    """Median wall time of ``agentos ARGS`` run inside this process after one warm-up run
    (modules imported, validators built): the work without start-up."""
    from agentos.cli.entry import main

    def once() -> None:
        with inside(cwd):
            code = main(args)
        if code != 0:
            raise SystemExit(f"bench: agentos {' '.join(args)} exited {code} in-process")

    once()
    return timed_call(once, runs=runs)


def apply_workspace(root: Path, files: int, lines: int, *, policy: str = BENCH_POLICY) -> Path:
    """A workspace of ``files`` text files and a plan ``bench`` that rewrites every one."""
    ws = root / "template"
    changes = []
    for i in range(files):
        rel = f"src/d{i // 100:02d}/f{i:04d}.txt"
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_bytes(b"line %04d old\n" % i * lines)
        changes.append({"op": "modify", "path": rel, "content": f"line {i:04d} new\n" * lines})
    (ws / "agent" / "policies").mkdir(parents=True)
    (ws / "agent" / "policies" / "default.yaml").write_text(policy)
    manifest = root / "change.json"
    manifest.write_text(json.dumps({"changes": changes}))
    cold([str(AGENTOS), "plan", str(manifest), "--plan-id", "bench", "-q"], cwd=ws)
    return ws


def small_workspace(scratch: Path, *, policy: str | None = None) -> Path:
    """A workspace with one small Python file (and ``policy`` as its own, when given)."""
    ws = scratch / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text('def greet():\n    return "hello"\n')
    if policy is not None:
        (ws / "agent" / "policies").mkdir(parents=True)
        (ws / "agent" / "policies" / "default.yaml").write_text(policy)
    return ws


def bench_f0(floor: float) -> list[Result]:
    """The floor (measured once per run, the same figure B1, B3 and H1 are stated against),
    against a bare interpreter (for scale: SPEC §11 says 15-17x)."""
    python = timed([sys.executable, "-c", "pass"])
    what = "F0, the floor: a typer app with one command and one strict pydantic model, cold"
    return [Result("F0", f"{what}, vs `python -c pass`", "report", floor, python)]


def bench_b1(floor: float) -> list[Result]:
    """One-file apply through the whole pipeline, cold, against the floor."""
    with tempfile.TemporaryDirectory() as scratch:
        template = apply_workspace(Path(scratch), 1, 10)
        apply = timed_fresh(template, Path(scratch), [str(AGENTOS), "apply", "bench", "-q"])
    what = "one-file apply, full pipeline, cold, vs F0"
    return [at_most(Result("B1", what, "<= 1.25 x", apply, floor), 1.25)]


def bench_b2(files: int = 2000, rounds: int = 5) -> list[Result]:
    """2,000 x 4 KiB files, full durability, against exactly the same durable I/O.

    The reference is one such apply recorded through agentos's fs_event hook (every write,
    rename, fsync, link, unlink, mkdir) and replayed with plain ``os`` calls in a fresh copy
    of the workspace. fsync times on a shared disk drift by a factor of two within minutes, so
    the two are measured in alternation and each takes its median.
    """
    from durable_reference import record, replay

    apply_cmd = [str(AGENTOS), "apply", "bench", "-q"]
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        template = apply_workspace(scratch, files, 292)
        recorded = scratch / "recorded"
        shutil.copytree(template, recorded, symlinks=True)
        with inside(recorded):
            from agentos.cli.entry import main

            ops = record(lambda: main(["apply", "bench", "-q"]))
        fsyncs = sum(1 for kind, _ in ops if kind in ("fsync", "fsync_dir"))
        references, applies = [], []
        for index in range(rounds):
            target = scratch / f"replay{index}"
            shutil.copytree(template, target, symlinks=True)
            start = time.perf_counter()
            replay(ops, recorded, target)
            references.append(time.perf_counter() - start)
            shutil.rmtree(target)
            applies.append(timed_fresh(template, scratch, apply_cmd, runs=1))
    what = (
        f"{files:,} x 4 KiB files, full durability, vs the same durable I/O replayed "
        f"({len(ops):,} operations, {fsyncs:,} fsyncs)"
    )
    result = Result(
        "B2", what, "<= 1.5 x", statistics.median(applies), statistics.median(references)
    )
    return [at_most(result, 1.5)]


def bench_b3(floor: float) -> list[Result]:
    """Planning the real 1 MB diff: the work in-process against ``git apply --check``, and the
    cold command against the floor plus that work."""
    what = "`agentos plan` of a real git diff"
    if not realdata.ready():
        return [Result("B3", what, "<= 10 x", note="run make realdata")]
    with tempfile.TemporaryDirectory() as scratch:
        ws = Path(scratch) / "ws"
        shutil.copytree(realdata.OLD_DIR, ws)
        diff = str(realdata.DIFF_FILE)
        out = str(Path(scratch) / "plan.json")
        git = timed(["git", "apply", "--check", f"-p{realdata.STRIP}", diff], cwd=ws)
        # The real diff touches 183 files: a policy that allows them, so planning exits 0.
        args = ["plan", diff, "-p", str(realdata.STRIP), "-q", "-o", out]
        args += ["--policy", str(PERMISSIVE_POLICY)]
        work = in_process(args, ws)
        plan = timed([str(AGENTOS), *args], cwd=ws)
    size = realdata.DIFF_FILE.stat().st_size / 1e6
    return [
        at_most(
            Result(
                "B3",
                f"{what} ({size:.2f} MB), in-process, vs `git apply --check`",
                "<= 10 x",
                work,
                git,
            ),
            10,
        ),
        at_most(
            Result(
                "B3",
                f"{what} ({size:.2f} MB), cold, vs F0 + the in-process work",
                "<= 1.25 x",
                plan,
                floor + work,
            ),
            1.25,
        ),
    ]


def bench_b4() -> list[Result]:
    """Four 1-second health checks side by side, against the slowest check run alone."""
    checks = "".join(f'  - {{name: sleep{i}, command: ["sleep", "1"]}}\n' for i in range(4))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        template = apply_workspace(root, 1, 10, policy=BENCH_POLICY + "health_checks:\n" + checks)
        four = timed_fresh(template, root, [str(AGENTOS), "apply", "bench", "-q"], runs=3)
        alone = timed(["sleep", "1"], runs=3)
    overhead = f"fixed overhead {(four - alone) * 1000:.0f} ms"
    what = "apply with four 1-second health checks vs the slowest check run alone"
    return [at_most(Result("B4", what, "<= 1.2 x", four, alone, detail=overhead), 1.2)]


def bench_b5(events: int = 100_000) -> list[Result]:
    """``audit verify`` throughput on a sealed synthetic trail."""
    from agentos.audit.trail import AuditTrail
    from scale_audit import make_trail

    with tempfile.TemporaryDirectory() as scratch:
        ws = Path(scratch)
        make_trail(ws, events)
        seconds = timed_call(AuditTrail(ws / ".agentos" / "audit").verify, runs=3)
    rate = events / seconds
    what = f"`audit verify` of {events:,} events"
    return [Result("B5", what, ">= 300,000 events/s", seconds, rate=rate, met=rate >= 300_000)]


def bench_b6() -> list[Result]:
    python = timed([sys.executable, "-c", "pass"])
    version = timed([str(AGENTOS), "--version"])
    what = "`agentos --version` vs `python -c pass`"
    return [at_most(Result("B6", what, "<= 3 x", version, python), 3)]


def bench_h1(floor: float) -> list[Result]:
    """A one-file Edit decision by ``agentos hook claude`` as a cold process (a report: the
    hook path loads neither typer nor rich)."""
    with tempfile.TemporaryDirectory() as scratch:
        ws = small_workspace(Path(scratch))
        event = {
            "session_id": "bench",
            "cwd": str(ws),
            "hook_event_name": "PreToolUse",
            "tool_name": "Edit",
            "tool_input": {
                "file_path": str(ws / "src" / "app.py"),
                "old_string": '"hello"',
                "new_string": '"hello, world"',
            },
            "tool_use_id": "toolu_bench",
        }
        hook = timed([str(AGENTOS), "hook", "claude"], cwd=ws, stdin=json.dumps(event).encode())
    what = "`agentos hook claude`, one-file Edit decision, cold process, vs F0"
    return [Result("H1", what, "report", hook, floor)]
