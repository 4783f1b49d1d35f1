"""The PostgreSQL store's copy of the audit events: every runner's events on one chain.

Each row holds one event exactly as its trail stores it (``event``: the canonical JSON line,
with the event's own ``hash``), who wrote it (``source``, ``source_seq``) and the database
chain: ``hash = sha256(prev + source + "\\n" + event)``, ``prev`` the hash of row
``seq - 1`` (``GENESIS`` for the first). Rows are added under an advisory lock, so the chain
never forks, and each runner's events arrive in its trail's order: an append first copies
whatever earlier events of that trail the database lacks (a copy that failed before, or a
trail older than the store), so a lost copy is made up by the next one.

``verify_copy`` walks every row: the database chain, each event's own hash, and each source's
events following one another (a new chain of a trail, after ``audit repair``, starts at seq 1).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agentos.audit.lines import GENESIS, event_hash, without_hash
from agentos.digest import canonical_json, sha256_hex
from agentos.errors import AgentosError, AuditChainError
from agentos.store.base import StoreAuditReport

if TYPE_CHECKING:
    import psycopg

    from agentos.audit.trail import AuditTrail

    Connection = psycopg.Connection[tuple[Any, ...]]

# pg_advisory_xact_lock key that serialises additions to the chain ("audit" in ASCII).
AUDIT_LOCK = 0x6175646974
FETCH_ROWS = 5000


def row_hash(prev: str, source: str, event: str) -> str:
    """The database chain's hash of a row."""
    return sha256_hex(prev.encode() + source.encode() + b"\n" + event.encode())


def copy_event(conn: Connection, source: str, trail: AuditTrail, record: dict[str, Any]) -> int:
    """Add ``record`` (just appended to ``trail``) after any earlier events of the trail the
    database lacks; returns how many rows were added."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
    mine = conn.execute(
        "SELECT source_seq, event_hash FROM audit_events WHERE source = %s"
        " ORDER BY seq DESC LIMIT 1",
        (source,),
    ).fetchone()
    if mine is not None and mine[1] == record["hash"]:
        return 0
    if (mine is not None and (mine[0], mine[1]) == (record["seq"] - 1, record["prev"])) or (
        mine is None and record["seq"] == 1
    ):
        pending = [record]
    else:
        pending = _missing(conn, source, trail, record, None if mine is None else mine[1])
    last = conn.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (0, GENESIS) if last is None else (int(last[0]), str(last[1]))
    rows = []
    for event in pending:
        line = canonical_json(event).decode("utf-8")
        seq += 1
        digest = row_hash(prev, source, line)
        rows.append((seq, source, event["seq"], event["hash"], line, prev, digest))
        prev = digest
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_events (seq, source, source_seq, event_hash, event, prev, hash)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)


def _missing(
    conn: Connection,
    source: str,
    trail: AuditTrail,
    record: dict[str, Any],
    last_copied: str | None,
) -> list[dict[str, Any]]:
    """The trail's events up to ``record`` that the database does not hold yet, in order:
    those after the last one copied, or (when the trail no longer holds it: a new chain)
    every one not copied before."""
    events: list[dict[str, Any]] = []
    after_copied = False
    for event in trail.events():
        if event["seq"] > record["seq"]:
            break
        if last_copied is not None and event["hash"] == last_copied:
            events, after_copied = [], True
            continue
        events.append(event)
    if not events or events[-1]["hash"] != record["hash"]:
        events.append(record)
    if after_copied:
        return events
    hashes = [e["hash"] for e in events]
    held = {
        row[0]
        for row in conn.execute(
            "SELECT event_hash FROM audit_events WHERE source = %s AND event_hash = ANY(%s)",
            (source, hashes),
        ).fetchall()
    }
    return [e for e in events if e["hash"] not in held]


def verify_copy(
    conn: Connection, display: str, source: str, trail: AuditTrail | None
) -> StoreAuditReport:
    """Check every row (``AuditChainError`` names the first bad one) and, with ``trail``,
    how far the copy is behind this workspace's own trail."""
    seq, prev = 0, GENESIS
    last_of: dict[str, tuple[int, str]] = {}
    with conn.cursor(name="agentos_audit_verify") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(
            "SELECT seq, source, source_seq, event_hash, event, prev, hash"
            " FROM audit_events ORDER BY seq"
        )
        for row in cur:
            seq += 1
            _check_row(display, seq, prev, row, last_of)
            prev = row[6]
            last_of[row[1]] = (row[2], row[3])
    behind, warnings = _behind(trail, last_of.get(source))
    return StoreAuditReport(
        events=seq, head=prev, sources=len(last_of), behind=behind, warnings=warnings
    )


def _check_row(
    display: str,
    expected: int,
    prev: str,
    row: tuple[Any, ...],
    last_of: dict[str, tuple[int, str]],
) -> None:
    seq, source, source_seq, own_hash, event, row_prev, digest = row
    where = f"{display} audit_events seq {seq}"

    def broken(problem: str) -> AuditChainError:
        return AuditChainError(
            f"{where}: {problem}; the database copy was altered — compare it with the "
            f"trail of {source} ('agentos audit verify' there)",
            details={"store": display, "seq": seq, "source": source},
        )

    if seq != expected:
        raise broken(f"seq {expected} was expected; rows were deleted or renumbered")
    if row_prev != prev:
        raise broken("it does not link to the row before it (prev differs)")
    if row_hash(prev, source, event) != digest:
        raise broken("it does not match its hash; it was edited")
    try:
        parsed = json.loads(event)
    except ValueError:
        raise broken("its event is not JSON") from None
    if not isinstance(parsed, dict) or (parsed.get("seq"), parsed.get("hash")) != (
        source_seq,
        own_hash,
    ):
        raise broken("its event does not say the seq and hash the row names")
    body = without_hash((event + "\n").encode("utf-8"))
    if event_hash(str(parsed.get("prev")), body) != own_hash:
        raise broken("its event does not match the event's own hash")
    before = last_of.get(source)
    follows = before is not None and (source_seq, parsed["prev"]) == (before[0] + 1, before[1])
    if not follows and (source_seq, parsed["prev"]) != (1, GENESIS):
        raise broken(f"event seq {source_seq} of {source} does not follow the one copied before")


def _behind(
    trail: AuditTrail | None, copied: tuple[int, str] | None
) -> tuple[int, tuple[str, ...]]:
    """How many events of ``trail`` the copy lacks, and what to say about it."""
    if trail is None:
        return 0, ()
    try:
        local = trail.verify()
    except AgentosError as exc:
        return 0, (f"this workspace's own trail does not verify: {exc.message}",)
    if local.events == 0 or (copied is not None and copied[1] == local.head):
        return 0, ()
    behind = local.events - (copied[0] if copied is not None else 0)
    if behind <= 0:
        behind = local.events
    return behind, (
        f"{behind} event(s) of this workspace's trail are not in the database copy yet "
        "(a copy failed, or the store was selected after they were written); the next "
        "event appended here copies them",
    )
