"""Jobs per minute of the changeset queue with 1, 2 and 4 workers (docs/scale.md).

    .venv/bin/python bench/queue_throughput.py [--plans N] [--workers 1,2,4] [--slots 1] [--mix]

Each row is one run: a scratch PostgreSQL cluster (tests/pg.py: initdb + pg_ctl on a unix
socket, fsync off), a fresh database and bare remote, N plans queued (each changes a file of
its own; ``--mix``: about 30 % in overlapping pairs, of which one lands and one ends stale),
then that many ``agentos worker --drain`` processes, each in a clone of its own, timed from
their start until the last one exits; ``--slots K`` gives each worker ``--concurrency K``
(its slots each in a clone it makes under ``.agentos/workers/``, made before the clock
starts). Printed, not asserted: the figure depends on the
machine and on what else runs on it. Needs PostgreSQL's server programs, psycopg and git.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

if TYPE_CHECKING:
    from pg import Cluster


def run(
    plans: int, workers: int, slots: int, *, mix: bool, cluster: Cluster
) -> tuple[int, int, float]:
    """One drain: jobs done, jobs ended otherwise, seconds."""
    from queueteam import FAST, make_team, mixed_batch, wait_worker

    database = cluster.create_database()
    try:
        with tempfile.TemporaryDirectory(prefix="agentos-queue-bench-") as root:
            files, _, changes = mixed_batch(plans, share=0.3 if mix else 0.0)
            team = make_team(Path(root), cluster.conninfo(database), files)
            checkouts = [team.clone(f"w{n}") for n in range(workers)]
            pool = ("--concurrency", str(slots))
            if slots > 1:  # the slots' clones are made once, not timed: a queue with no job
                for checkout in checkouts:
                    idle = team.run("worker", "--drain", *pool, *FAST, cwd=checkout)
                    if idle.code != 0:
                        raise RuntimeError(f"worker could not make its slots: {idle.doc}")
            team.queue_plans(changes)
            started = time.monotonic()
            procs = [team.start_worker(c, "--drain", *pool, *FAST) for c in checkouts]
            for proc in procs:
                wait_worker(proc, timeout=1800)
            seconds = time.monotonic() - started
            jobs = team.jobs()
    finally:
        cluster.drop_database(database)
    done = sum(1 for j in jobs.values() if j["status"] == "done")
    for job in jobs.values():
        if job["status"] != "done" and not mix:  # disjoint plans: each should land
            why = f"{job['error_kind']}: {job['last_error']}"
            print(f"#   {job['plan_id']}: {job['status']} ({why})")
    return done, len(jobs) - done, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=60)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--slots", default="1", help="--concurrency of each worker: 1,2,4")
    parser.add_argument("--mix", action="store_true", help="overlapping plans too")
    args = parser.parse_args()
    from helpers import GIT_ENV
    from pg import running_cluster, skip_reason

    reason = skip_reason()
    if reason is not None:
        print(f"skipped: {reason}", file=sys.stderr)
        return 0
    keys = tempfile.mkdtemp(prefix="agentos-bench-keys-")
    os.environ.update({**GIT_ENV, "AGENTOS_KEY_DIR": keys, "NO_COLOR": "1", "TZ": "UTC"})
    cpus = os.cpu_count()
    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()} {cpus} cores, {plans_label(args)}")
    print("workers  slots  plans  done  other  seconds  jobs/min")
    rows = [(int(w), int(k)) for w in args.workers.split(",") for k in args.slots.split(",")]
    with running_cluster() as cluster:
        for workers, slots in rows:
            done, other, seconds = run(args.plans, workers, slots, mix=args.mix, cluster=cluster)
            per_minute = (done + other) / seconds * 60
            print(
                f"{workers:>7}  {slots:>5}  {args.plans:>5}  {done:>4}  {other:>5}"
                f"  {seconds:>7.1f}  {per_minute:>8.0f}"
            )
    return 0


def plans_label(args: argparse.Namespace) -> str:
    return f"{args.plans} plans" + (" (30 % overlapping)" if args.mix else " (disjoint)")


if __name__ == "__main__":
    raise SystemExit(main())
