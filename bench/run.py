"""``make bench``: the performance ratios of SPEC §11, measured in one run on this machine.

Each figure is a ratio to a reference measured in the same run (wall-clock medians of several
runs), so results from different machines can be compared. Results go to stdout and to
``docs/benchmarks.md`` (with ``bench/notes.md``, the analysis, after the table), and the
scale series to the plot ``docs/benchmarks-scale.svg``. ``run.py B1 L2`` runs only those
and prints them (a partial table would drop the other rows).
"""

from __future__ import annotations

import functools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "packages"))  # for the in-process parts
import core  # noqa: E402
import scale  # noqa: E402
import servers  # noqa: E402
from measure import Result  # noqa: E402


@functools.cache
def floor() -> float:
    """F0's cold wall time, measured once per run for every bench stated against it."""
    return core.floor_seconds()


BENCHES: dict[str, Callable[[], list[Result]]] = {
    "F0": lambda: core.bench_f0(floor()),
    "B1": lambda: core.bench_b1(floor()),
    "B2": core.bench_b2,
    "B3": lambda: core.bench_b3(floor()),
    "B4": core.bench_b4,
    "B5": core.bench_b5,
    "B6": core.bench_b6,
    "H1": lambda: core.bench_h1(floor()),
    "M1": lambda: [servers.bench_m1()],
    "M2": lambda: [servers.bench_m2()],
    "S1": lambda: [servers.bench_s1()],
    "L1": scale.bench_l1,
    "L2": scale.bench_l2,
    "L3": scale.bench_l3,
    "L4": scale.bench_l4,
}
HEADER = (
    "| id | what | measured | reference | ratio / rate | target | met |\n"
    "|---|---|---|---|---|---|---|"
)
PLOT = REPO / "docs" / "benchmarks-scale.svg"


def main(argv: list[str]) -> int:
    """Every benchmark, written to docs/benchmarks.md; or, given ids, only those, printed."""
    unknown = [a for a in argv if a not in BENCHES]
    if unknown:
        raise SystemExit(f"bench: unknown id {unknown[0]!r}; use some of {', '.join(BENCHES)}")
    chosen = argv or list(BENCHES)
    began = time.perf_counter()
    results: list[Result] = []
    # The workspace keys of the scratch workspaces stay in a scratch directory of their own.
    with tempfile.TemporaryDirectory(prefix="agentos-bench-keys-") as keys:
        os.environ["AGENTOS_KEY_DIR"] = keys
        for name in chosen:
            start = time.perf_counter()
            produced = BENCHES[name]()
            results.extend(produced)
            print(f"bench: {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            for result in produced:
                print(result.row(), file=sys.stderr)
    order = list(BENCHES)
    results.sort(key=lambda r: order.index(r.id))
    table = HEADER + "\n" + "\n".join(r.row() for r in results)
    elapsed = time.perf_counter() - began
    if argv:
        print(table)
        return 0
    scale.write_plot(PLOT)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    notes = (REPO / "bench" / "notes.md").read_text(encoding="utf-8")
    doc = (
        "# Benchmarks\n\n"
        "Measured by `make bench` (`bench/run.py`): each figure is a median of several runs,\n"
        "compared with a reference measured in the same run (SPEC §11). Never timed in tests.\n\n"
        f"Last run: {stamp} on {machine}; the whole run took {elapsed / 60:.1f} minutes.\n\n"
        f"{table}\n\n![time against size, log-log]({PLOT.name})\n\n{notes}"
    )
    (REPO / "docs" / "benchmarks.md").write_text(doc, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
