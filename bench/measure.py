"""What every benchmark shares: the agentos under test, timing helpers and one result row.

Every figure is a wall-clock median compared with a reference measured in the same run, so
results from different machines can be compared (SPEC §11).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AGENTOS = Path(sys.executable).with_name("agentos")
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
MIB = 1024 * 1024


def timed(
    command: list[str], *, cwd: Path | None = None, runs: int = RUNS, stdin: bytes | None = None
) -> float:
    """Median wall time of ``command`` over ``runs`` runs (after one warm-up)."""
    samples = []
    for index in range(runs + 1):
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, capture_output=True, check=False, input=stdin)
        elapsed = time.perf_counter() - start
        if proc.returncode not in (0,):
            raise SystemExit(f"bench: {' '.join(command)} failed: {proc.stderr.decode()[-500:]}")
        if index:
            samples.append(elapsed)
    return statistics.median(samples)


def timed_call(fn: Callable[[], object], *, runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


# Runs one command and reports its wall time, peak RSS and exit code. A child's ru_maxrss
# counts the memory of the process it was forked from (Linux folds the old address space's
# high-water mark in at exec), and this bench process grows to hundreds of MiB; a launcher
# that is itself small gives the command a clean figure.
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(sys.argv[1], "w") as report:
    report.write(f"{elapsed} {usage.ru_maxrss * 1024} {os.waitstatus_to_exitcode(status)}")
"""


def spawn(
    command: list[str], *, cwd: Path | None = None, stdin: bytes | None = None
) -> tuple[float, int, int, str]:
    """Run ``command``: its wall time, peak resident memory in bytes, exit code and the end of
    its output (stdout and stderr together)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as given,
        tempfile.NamedTemporaryFile("r") as report,
    ):
        given.write(stdin or b"")
        given.seek(0)
        subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, report.name, *command],
            cwd=cwd,
            stdin=given,
            stdout=out,
            stderr=out,
            check=True,
        )
        elapsed, rss, code = report.read().split()
        out.seek(0)
        tail = out.read()[-800:].decode(errors="replace")
    return float(elapsed), int(rss), int(code), tail


def cold(
    command: list[str], *, cwd: Path | None = None, stdin: bytes | None = None
) -> tuple[float, int]:
    """One run of ``command`` that must succeed: its wall time and peak memory in bytes."""
    elapsed, rss, code, tail = spawn(command, cwd=cwd, stdin=stdin)
    if code != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed: {tail}")
    return elapsed, rss


def timed_fresh(template: Path, scratch: Path, command: list[str], *, runs: int = RUNS) -> float:
    """Median wall time of ``command`` run in a fresh copy of ``template`` each time
    (``{ws}`` in the command is that copy)."""
    samples = []
    for index in range(runs + 1):
        work = scratch / f"run{index}"
        shutil.copytree(template, work, symlinks=True)
        cmd = [part.replace("{ws}", str(work)) for part in command]
        elapsed, _ = cold(cmd, cwd=work)
        shutil.rmtree(work)
        if index:
            samples.append(elapsed)
    return statistics.median(samples)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(frozen=True)
class Result:
    """One benchmark figure (``note`` instead of figures when it could not run).

    ``seconds`` against ``reference`` gives a ratio; with ``rate`` it is a throughput; with
    ``p95`` a latency (``seconds`` is then its p50). ``detail`` adds to the ratio cell (peak
    memory, an overhead in ms); ``met`` says whether the target holds (None: a report).
    """

    id: str
    what: str
    target: str
    seconds: float | None = None
    reference: float | None = None
    rate: float | None = None
    note: str = ""
    p95: float | None = None
    detail: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        return (self.seconds or 0.0) / (self.reference or self.seconds or 1.0)

    def row(self) -> str:
        met = {True: "yes", False: "**no**", None: "—"}[self.met]
        if self.seconds is None:
            return f"| {self.id} | {self.what} | — | — | {self.note} | {self.target} | — |"
        if self.p95 is not None:
            measured, reference = f"p50 {self.seconds * 1000:.1f} ms", "—"
            cell = f"p95 {self.p95 * 1000:.1f} ms"
        elif self.rate is not None:
            measured, reference = duration(self.seconds), "—"
            cell = f"{self.rate:,.0f} events/s"
        else:
            measured = duration(self.seconds)
            reference = duration(self.reference) if self.reference else "—"
            cell = f"{self.ratio:.2f} x" if self.reference else ""
        if self.detail:
            cell = f"{cell}; {self.detail}" if cell else self.detail
        cells = (self.id, self.what, measured, reference, cell, self.target, met)
        return "| " + " | ".join(cells) + " |"


def duration(seconds: float) -> str:
    """``412.3 ms`` below ten seconds, ``12.4 s`` above."""
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def latency(bench: str, what: str, samples: list[float]) -> Result:
    """A latency figure: p50 against the 10 ms target, p95 reported."""
    p50 = percentile(samples, 0.5)
    return Result(bench, what, "p50 <= 10 ms", p50, p95=percentile(samples, 0.95), met=p50 <= 0.010)


def at_most(result: Result, limit: float) -> Result:
    """``result`` judged against a ratio target of ``limit``."""
    return replace(result, met=result.ratio <= limit)
