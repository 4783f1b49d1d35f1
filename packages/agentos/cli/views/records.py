"""The audit trail, the policy author's tools and ``init``."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.audit.repair import Repaired
    from agentos.audit.trail import VerifyReport
    from agentos.pipeline.results import Initialised, PolicyChecked, PolicyTested
    from agentos.store.base import StoreAuditReport

CSV_COLUMNS = ("seq", "ts", "event", "actor", "plan_id", "execution_id", "data", "prev", "hash")


def verify_result(report: VerifyReport) -> dict[str, Any]:
    """``audit verify``."""
    anchor = report.anchor
    return {
        "events": report.events,
        "head": report.head,
        "sealed": report.sealed,
        "anchor": None if anchor is None else {"seq": anchor.seq, "hash": anchor.digest},
        "repairs": [note.row() for note in report.repairs],
        "warnings": list(report.warnings),
    }


def render_verified(out: Console, report: VerifyReport) -> None:
    """``audit verify``: the chain is whole (its failures are errors, printed elsewhere); a
    repair it starts with is named here too (and warned about on stderr)."""
    sealed = ", HEAD sealed" if report.sealed else ""
    out.print(f"audit trail OK: {report.events} event(s), head {report.head}{sealed}")
    for note in report.repairs:
        kept = f"; broken trail kept, intact, in {note.archive}" if note.archive else ""
        out.print(
            f"repaired: event seq {note.seq}, at {note.ts} by {note.actor}{kept}",
            highlight=False,
            markup=False,
        )
    if report.anchor is not None:
        out.print(f"anchor found: event seq {report.anchor.seq} is {report.anchor.digest}")


def store_verify_result(where: str, report: StoreAuditReport) -> dict[str, Any]:
    """``audit verify --store``."""
    return {
        "store": where,
        "events": report.events,
        "head": report.head,
        "sources": report.sources,
        "behind": report.behind,
        "warnings": list(report.warnings),
    }


def render_store_verified(out: Console, where: str, report: StoreAuditReport) -> None:
    """``audit verify --store``: the database copy's chain is whole."""
    out.print(
        f"store audit copy OK ({where}): {report.events} event(s) from {report.sources} "
        f"source(s), head {report.head}",
        highlight=False,
    )


# ``audit repair``'s result: these keys of the ``audit.repaired`` event's data (null, or
# empty, when there was nothing to repair).
_REPAIR_KEYS = (
    "problem",
    "line",
    "seq",
    "missing",
    "executions",
    "last_good",
    "old_head",
    "last_line_sha256",
    "trail",
)


def repair_result(repaired: Repaired) -> dict[str, Any]:
    """``audit repair``."""
    data = repaired.event["data"] if repaired.event is not None else {}
    return {
        "repaired": repaired.event is not None,
        "resumed": repaired.resumed,
        **{key: data.get(key) for key in _REPAIR_KEYS},
        "missing": data.get("missing") is True,
        "archive": None if repaired.archive is None else str(repaired.archive),
        "archived": list(data.get("archived") or []),
        "head": {"seq": repaired.head.seq, "hash": repaired.head.digest},
        "anchor": repaired.head.token(),
    }


def render_repaired(out: Console, repaired: Repaired) -> None:
    """``audit repair``: what was wrong, where the old trail is kept, the new head."""
    head = repaired.head
    if repaired.event is None:
        out.print(
            f"nothing to repair: the audit trail verifies ({head.seq} event(s), head {head.digest})"
        )
        return
    data = repaired.event["data"]
    done = "finished an interrupted repair" if repaired.resumed else "audit trail repaired"
    out.print(f"{done}: {data.get('problem')}")
    if repaired.archive is not None:
        kept = ", ".join(data.get("archived") or [])
        out.print(f"  old trail kept in {repaired.archive} ({kept})")
    for key, what in (("last_good", "last event that still chains"), ("old_head", "HEAD recorded")):
        if isinstance(data.get(key), dict):
            out.print(f"  {what}: seq {data[key]['seq']}, hash {data[key]['hash']}")
    out.print(
        f"  new chain: {head.token()} (its first event records this repair); keep the new "
        "anchor outside the workspace: agentos audit anchor"
    )


def render_events(out: Console, events: list[dict[str, Any]]) -> None:
    """``audit show``: one line per event."""
    if not events:
        out.print("no events")
    for record in events:
        ids = " ".join(
            f"{key}={record[key]}" for key in ("plan_id", "execution_id") if record.get(key)
        )
        out.print(
            f"{record['seq']:>6}  {record['ts']}  {record['event']:<22} {record['actor']}  {ids}"
        )


def export_text(events: list[dict[str, Any]], export_format: str) -> str:
    """``audit export``: JSON Lines as stored (each line still hashes to its event's hash),
    or CSV with ``data`` as JSON."""
    from agentos.digest import canonical_json

    if export_format == "jsonl":
        return "".join(canonical_json(e).decode("utf-8") + "\n" for e in events)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in events:
        row = [record.get(c) for c in CSV_COLUMNS]
        row[CSV_COLUMNS.index("data")] = json.dumps(record["data"], sort_keys=True)
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


def policy_checked_result(checked: PolicyChecked) -> dict[str, Any]:
    """``policy validate``."""
    return {
        "policy": checked.source,
        "digest": checked.digest,
        "valid": True,
        "warnings": [{"key": key, "message": message} for key, message in checked.warnings],
    }


def policy_tested_result(tested: PolicyTested) -> dict[str, Any]:
    """``policy test``."""
    cases = tested.cases
    return {
        "policy": tested.source,
        "passed": len(cases) - len(tested.failed),
        "failed": len(tested.failed),
        "total": len(cases),
        "cases": [
            {
                "file": r.file,
                "name": r.name,
                "passed": r.passed,
                "decision": r.decision,
                "rules": list(r.rules),
                "failures": list(r.failures),
            }
            for r in cases
        ],
    }


def render_policy_tests(out: Console, tested: PolicyTested) -> None:
    """``policy test``: the failures, then PASS / FAIL counts (like ``opa test``)."""
    from rich.text import Text

    total, failed = len(tested.cases), tested.failed
    for case in failed:
        out.print(Text(f"FAIL: {case.file}: {case.name}", style="bold red"))
        for failure in case.failures:
            out.print(f"  {failure}")
    if failed:
        out.print("-" * 60)
    summary = f"PASS: {total - len(failed)}/{total}"
    if failed:
        summary += f"\nFAIL: {len(failed)}/{total}"
    out.print(Text(summary, style="red" if failed else "green"))


def init_result(done: Initialised) -> dict[str, Any]:
    """``init``."""
    report = done.report
    return {
        "workspace": str(done.root),
        "created": list(report.created),
        "unchanged": list(report.unchanged),
        "allowed_paths": list(report.allowed_paths),
        "key": str(done.key_file),
    }


def render_init(out: Console, done: Initialised) -> None:
    """``init``: what was made, the key's place, what to do next."""
    report, key = done.report, done.key_file
    if not report.created:
        out.print("Already initialised; nothing changed.")
        out.print(f"workspace key: {key}", highlight=False)
        return
    for item in report.created:
        out.print(f"created   {item}")
    for item in report.unchanged:
        out.print(f"unchanged {item}")
    if report.allowed_paths:
        out.print(f"allowed_paths: {', '.join(report.allowed_paths)}")
    out.print(
        f"workspace key: {key} (outside the workspace; it seals .agentos/ — keep it private)",
        highlight=False,
    )
    out.print("Next: agentos plan <patch> to plan a change.")
