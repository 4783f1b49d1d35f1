"""Scale of the audit trail (SPEC §11): `status` / `history` at 1k, 100k and 1M events (L4) and
`audit verify` throughput (B5).

``make_trail(workspace, events)`` writes a valid, sealed trail of ``events`` events in the mix
that real applies, rollbacks, failures and agent writes leave (about seven in ten events belong
to an execution), fast enough for 1M events (about 500 MB) in well under a minute. It removes
any snapshot of the folds, so the next ``status`` or ``history`` is the run that builds it.

``measure(agentos_exe, workspace, argv)`` times one cold ``agentos`` process;
``measure_run`` also gives its peak RSS. ``l4(agentos_exe, scratch)`` reports, per size and
command, the first run (which builds the snapshot) apart from warm runs (snapshot present).
``verify_rate(events)`` is B5: events per second of ``AuditTrail.verify`` in process.

Run ``python bench/scale_audit.py [SIZES...]`` for a table (sizes default to 1000 100000
1000000).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "packages"))

from agentos.audit.anchor import HEAD_PURPOSE, head_seal_payload  # noqa: E402
from agentos.audit.lines import GENESIS, event_hash  # noqa: E402
from agentos.digest import canonical_json  # noqa: E402
from agentos.statekey import KEY_DIR_ENV, state_key  # noqa: E402

AGENTOS = Path(sys.executable).with_name("agentos")
SIZES = (1_000, 100_000, 1_000_000)
WARM_RUNS = int(os.environ.get("BENCH_RUNS", "5"))
COMMANDS = {"status": ["status"], "history --limit 20": ["history", "--limit", "20"]}
# What a snapshot of the folds may be called: removed by make_trail and before a first run.
SNAPSHOT_NAMES = ("folds.sqlite", "folds.sqlite-journal")
_TS = "2026-01-01T00:00:00.000000Z"
_CHECKSUM = "sha256:" + "ab" * 32
_POLICY = {"digest": _CHECKSUM, "override": False, "source": "agent/policies/default.yaml"}


def _gate(command: str, plan_id: str) -> tuple[str, dict[str, Any], str | None, str | None]:
    data = {
        "checksum": _CHECKSUM,
        "command": command,
        "decision": "ALLOW",
        "findings": [],
        "policy": "agent/policies/default.yaml",
        "policy_digest": _CHECKSUM,
        "risk": "LOW",
    }
    return "gate.evaluated", data, None, plan_id


def _apply(
    n: int, *, kind: str = "apply", parent: str | None = None, fails: bool = False
) -> list[tuple[str, dict[str, Any], str | None, str | None]]:
    """The events of one apply (or rollback) of a plan of a few files."""
    plan_id = f"plan-{n:016x}" if kind == "apply" else f"rollback-{n:016x}"
    execution = f"exec-{n:020x}"
    files = 1 + n % 7
    started = {
        "attempt": 1,
        "checksum": _CHECKSUM,
        "dry_run": False,
        "files": files,
        "kind": kind,
        "parent": parent,
        "policy": _POLICY,
    }
    steps: list[tuple[str, dict[str, Any]]] = [
        ("lock.acquired", {"timeout": 600.0}),
        ("apply.started", started),
        ("drift.checked", {"drifted": [], "post_images": False}),
        ("journal.prepared", {"created_dirs": [], "entries": files}),
        ("changes.written", {"files": files}),
    ]
    if fails:
        steps += [
            ("health.finished", {"checks": [{"name": "tests", "ok": False}], "ok": False}),
            ("rollback.finished", {"restored": [f"src/m{n % 97}.py"], "removed": []}),
            ("apply.failed", {"attempt": 1, "reason": "health check 'tests' failed"}),
        ]
    else:
        steps += [
            ("verify.finished", {"ok": True, "problems": [], "syntax_checks": True}),
            (
                "apply.committed",
                {
                    "attempt": 1,
                    "checksum": _CHECKSUM,
                    "files": files,
                    "kind": kind,
                    "parent": parent,
                    "recovered": False,
                },
            ),
        ]
    out: list[tuple[str, dict[str, Any], str | None, str | None]] = []
    if kind == "apply":
        paths = [{"op": "modify", "path": f"src/m{(n + i) % 97}.py"} for i in range(files)]
        out.append(("plan.created", {"checksum": _CHECKSUM, "files": paths}, None, plan_id))
        out.append(_gate("plan", plan_id))
    out.append(_gate("rollback" if kind == "rollback" else "apply", plan_id))
    out += [(name, data, execution, plan_id) for name, data in steps]
    return out


def _agent(n: int) -> list[tuple[str, dict[str, Any], str | None, str | None]]:
    plan_id, execution = f"agent-{n:016x}", f"exec-{n:020x}"
    return [
        ("agent.staged", {"files": [f"src/m{n % 97}.py"], "tool": "Edit"}, execution, plan_id),
        ("apply.committed", {"files": 1, "kind": "agent", "parent": None}, execution, plan_id),
    ]


def _events() -> Iterator[tuple[str, dict[str, Any], str | None, str | None]]:
    """An endless, deterministic mix: mostly applies, some failures, rollbacks and agents."""
    n = 0
    while True:
        n += 1
        if n % 10 == 3:
            yield from _apply(n, fails=True)
        elif n % 10 == 7:
            # Undo the apply of two rounds before (committed unless it was a failure round).
            yield from _apply(n, kind="rollback", parent=f"exec-{n - 2:020x}")
        elif n % 10 == 9:
            yield from _agent(n)
        else:
            yield from _apply(n)


def trail_lines(events: int) -> Iterator[tuple[bytes, str]]:
    """The canonical lines of a valid chain of ``events`` events, and each one's hash."""
    prev = GENESIS
    source = _events()
    for seq in range(1, events + 1):
        name, data, execution_id, plan_id = next(source)
        record: dict[str, Any] = {
            "seq": seq,
            "ts": _TS,
            "event": name,
            "actor": "bench",
            "data": data,
            "prev": prev,
        }
        if execution_id is not None:
            record["execution_id"] = execution_id
        if plan_id is not None:
            record["plan_id"] = plan_id
        body = canonical_json(record)
        digest = event_hash(prev, body)
        # Keys are sorted: "hash" goes right before "plan_id" (or "prev"), the last top-level
        # keys, which no event's data above uses.
        at = body.rfind(b',"plan_id":"' if plan_id is not None else b',"prev":"')
        line = body[: at + 1] + b'"hash":"' + digest.encode() + b'",' + body[at + 1 :] + b"\n"
        yield line, digest
        prev = digest


def make_trail(workspace: Path, events: int) -> Path:
    """Write a valid, sealed trail of ``events`` events in ``workspace/.agentos/audit`` (the
    workspace key is made when missing); remove any snapshot of the folds."""
    directory = workspace / ".agentos" / "audit"
    directory.mkdir(parents=True, exist_ok=True)
    for name in SNAPSHOT_NAMES:
        (directory / name).unlink(missing_ok=True)
    head = GENESIS
    batch: list[bytes] = []
    with (directory / "audit.jsonl").open("wb") as out:
        for line, digest in trail_lines(events):
            batch.append(line)
            head = digest
            if len(batch) >= 20_000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    first = next(trail_lines(1))[0]
    if json.loads(first)["hash"] != event_hash(GENESIS, _without_hash(first)):
        raise SystemExit("bench: the trail generator wrote a line whose hash does not match")
    seal = state_key(directory.parent).seal(HEAD_PURPOSE, head_seal_payload(events, head))
    doc = {"seq": events, "hash": head, "seal": seal}
    (directory / "HEAD").write_text(json.dumps(doc) + "\n")
    return directory / "audit.jsonl"


def _without_hash(line: bytes) -> bytes:
    record = json.loads(line)
    del record["hash"]
    return canonical_json(record)


def drop_snapshot(workspace: Path) -> None:
    """Remove the snapshot of the folds, so the next reader builds it again."""
    for name in SNAPSHOT_NAMES:
        (workspace / ".agentos" / "audit" / name).unlink(missing_ok=True)


def measure_run(agentos_exe: Path, workspace: Path, argv: Sequence[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one cold ``agentos ARGV`` in ``workspace``
    (``measure.spawn``: a clean memory figure however large this process is)."""
    sys.path.insert(0, str(REPO / "bench"))
    from measure import spawn

    elapsed, rss, code, tail = spawn([str(agentos_exe), *argv], cwd=workspace)
    if code != 0:
        raise SystemExit(f"bench: agentos {' '.join(argv)} failed: {tail}")
    return elapsed, rss


def measure(agentos_exe: Path, workspace: Path, argv: Sequence[str]) -> float:
    """Wall seconds of one cold ``agentos ARGV`` in ``workspace``."""
    return measure_run(agentos_exe, workspace, argv)[0]


def l4(
    agentos_exe: Path = AGENTOS, scratch: Path | None = None, sizes: Sequence[int] = SIZES
) -> list[dict[str, Any]]:
    """Per size and command: ``first`` (no snapshot: the run that builds it), ``warm`` (median
    of runs with the snapshot), ``first_rss`` and ``warm_rss`` (peak bytes)."""
    rows = []
    with tempfile.TemporaryDirectory(dir=scratch) as tmp, _key_dir(Path(tmp)):
        for size in sizes:
            workspace = Path(tmp) / f"ws{size}"
            workspace.mkdir()
            started = time.perf_counter()
            make_trail(workspace, size)
            built = time.perf_counter() - started
            for label, argv in COMMANDS.items():
                drop_snapshot(workspace)
                first, first_rss = measure_run(agentos_exe, workspace, argv)
                warm = [measure_run(agentos_exe, workspace, argv) for _ in range(WARM_RUNS)]
                rows.append(
                    {
                        "events": size,
                        "command": label,
                        "first": first,
                        "warm": statistics.median(s for s, _ in warm),
                        "first_rss": first_rss,
                        "warm_rss": max(r for _, r in warm),
                        "make_trail": built,
                    }
                )
    return rows


@contextlib.contextmanager
def _key_dir(scratch: Path) -> Iterator[None]:
    """Workspace keys made by the bench live in ``scratch``, not in the user's state dir."""
    saved = os.environ.get(KEY_DIR_ENV)
    os.environ[KEY_DIR_ENV] = str(scratch / "keys")
    try:
        yield
    finally:
        if saved is None:
            del os.environ[KEY_DIR_ENV]
        else:
            os.environ[KEY_DIR_ENV] = saved


def verify_rate(events: int = 100_000, runs: int = 3) -> float:
    """B5: events per second of ``AuditTrail.verify`` over a trail of ``events`` events (best
    of ``runs``)."""
    from agentos.audit.trail import AuditTrail

    with tempfile.TemporaryDirectory() as scratch, _key_dir(Path(scratch)):
        workspace = Path(scratch) / "ws"
        workspace.mkdir()
        make_trail(workspace, events)
        trail = AuditTrail(workspace / ".agentos" / "audit")
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            trail.verify()
            best = min(best, time.perf_counter() - start)
    return events / best


def main(argv: Sequence[str]) -> None:
    sizes = [int(a) for a in argv] or list(SIZES)
    print(f"B5 audit verify: {verify_rate():,.0f} events/s (100,000 events)")
    rows = l4(sizes=sizes)
    print("| events | command | first run (builds snapshot) | warm | peak RSS first / warm |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['events']:,} | {row['command']} | {row['first'] * 1000:.0f} ms | "
            f"{row['warm'] * 1000:.0f} ms | {row['first_rss'] / 2**20:.0f} / "
            f"{row['warm_rss'] / 2**20:.0f} MiB |"
        )
    for label in COMMANDS:
        warm = {r["events"]: r["warm"] for r in rows if r["command"] == label}
        if min(warm) in warm and max(warm) != min(warm):
            ratio = warm[max(warm)] / warm[min(warm)]
            print(f"L4 {label}: warm {max(warm):,} / {min(warm):,} events = {ratio:.2f} x")


if __name__ == "__main__":
    main(sys.argv[1:])
