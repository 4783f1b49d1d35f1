"""``agentos audit verify|show|export``: check and read the hash-chained trail."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome
from agentos.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.audit.trail import VerifyReport

audit_app = typer.Typer(
    name="audit",
    help="Verify, list and export the audit trail.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(audit_app, name="audit")

CSV_COLUMNS = ("seq", "ts", "event", "actor", "plan_id", "execution_id", "data", "prev", "hash")


@command(audit_app, "verify", full_name="audit verify")
def verify(
    opts: GlobalOptions,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="SEQ:HASH (or HASH, or a file holding it) printed by 'agentos audit anchor' "
            "and kept outside the workspace: that event must still be in the trail.",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Verify the hash chain, HEAD and its seal (and an anchor); exit 6 naming the first
    bad event."""
    from agentos.audit.trail import AuditTrail

    pinned = _read_anchor(anchor) if anchor is not None else None
    report = AuditTrail(opts.workspace().audit_dir).verify(anchor=pinned)
    result = {
        "events": report.events,
        "head": report.head,
        "sealed": report.sealed,
        "anchor": None
        if report.anchor is None
        else {"seq": report.anchor.seq, "hash": report.anchor.digest},
        "warnings": list(report.warnings),
    }
    return Outcome(
        result=result, warnings=list(report.warnings), human=lambda out: _verified(out, report)
    )


def _read_anchor(value: str) -> tuple[int | None, str]:
    """``--anchor``: a token, or a file holding one."""
    from agentos.audit.anchor import parse_anchor

    text = value
    path = Path(value)
    if ":" not in value or path.is_file():
        try:
            text = path.read_text("utf-8") if path.is_file() else value
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--anchor {value!r}: cannot read the file ({exc})") from None
    try:
        return parse_anchor(text)
    except ValueError as exc:
        raise UsageError(f"--anchor {value!r}: {exc}") from None


def _verified(out: Console, report: VerifyReport) -> None:
    sealed = ", HEAD sealed" if report.sealed else ""
    out.print(f"audit trail OK: {report.events} event(s), head {report.head}{sealed}")
    if report.anchor is not None:
        out.print(f"anchor found: event seq {report.anchor.seq} is {report.anchor.digest}")


@command(audit_app, "anchor", full_name="audit anchor")
def anchor(
    opts: GlobalOptions,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the anchor to this file."),
    ] = None,
) -> Outcome:
    """Print the verified head of the trail as SEQ:HASH, to keep outside the workspace."""
    from agentos.audit.trail import AuditTrail
    from agentos.statefs import write_atomic

    head = AuditTrail(opts.workspace().audit_dir).head_anchor()
    if output is not None:
        if output.is_dir():
            raise UsageError(f"--output {str(output)!r} is a directory; name a file")
        try:
            write_atomic(output, (head.token() + "\n").encode("ascii"))
        except OSError as exc:
            raise UsageError(f"--output {str(output)!r}: {exc.strerror or exc}") from None
    result = {
        "seq": head.seq,
        "hash": head.digest,
        "anchor": head.token(),
        "output": None if output is None else str(output),
    }

    def human(out: Console) -> None:
        out.print(head.token(), highlight=False)

    return Outcome(result=result, human=human)


def _select(
    opts: GlobalOptions, event: str | None, plan_id: str | None, execution_id: str | None
) -> list[dict[str, Any]]:
    from agentos.audit.trail import AuditTrail

    events = []
    for record in AuditTrail(opts.workspace().audit_dir).events():
        if event and record["event"] != event and not record["event"].startswith(event + "."):
            continue
        if plan_id and record.get("plan_id") != plan_id:
            continue
        if execution_id and record.get("execution_id") != execution_id:
            continue
        events.append(record)
    return events


@command(audit_app, "show", full_name="audit show")
def show(
    opts: GlobalOptions,
    event: Annotated[
        str | None, typer.Option("--event", help="Only this event type (or prefix, e.g. apply).")
    ] = None,
    plan_id: Annotated[
        str | None, typer.Option("--plan", help="Only events of this plan id.")
    ] = None,
    execution_id: Annotated[
        str | None, typer.Option("--execution", help="Only events of this execution id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Show the last N (0: all).")] = 50,
) -> Outcome:
    """List events, oldest first (the last --limit of them)."""
    events = _select(opts, event, plan_id, execution_id)
    if limit:
        events = events[-limit:]
    return Outcome(result={"events": events}, human=lambda out: _listed(out, events))


def _listed(out: Console, events: list[dict[str, Any]]) -> None:
    if not events:
        out.print("no events")
    for record in events:
        ids = " ".join(
            f"{key}={record[key]}" for key in ("plan_id", "execution_id") if record.get(key)
        )
        out.print(
            f"{record['seq']:>6}  {record['ts']}  {record['event']:<22} {record['actor']}  {ids}"
        )


@command(audit_app, "export", full_name="audit export")
def export(
    opts: GlobalOptions,
    export_format: Annotated[str, typer.Option("--format", help="jsonl | csv")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> Outcome:
    """Export every event as JSON Lines or CSV."""
    from agentos.digest import canonical_json
    from agentos.statefs import write_atomic

    if export_format not in ("jsonl", "csv"):
        raise UsageError(f"--format {export_format!r}: use jsonl or csv")
    if output is None and opts.json:
        raise UsageError("with --json, give --output FILE (stdout carries the JSON result)")
    events = _select(opts, None, None, None)
    if export_format == "jsonl":
        # Canonical, as stored: each exported line still hashes to its event's "hash".
        text = "".join(canonical_json(e).decode("utf-8") + "\n" for e in events)
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for record in events:
            row = [record.get(c) for c in CSV_COLUMNS]
            row[CSV_COLUMNS.index("data")] = json.dumps(record["data"], sort_keys=True)
            writer.writerow(["" if v is None else v for v in row])
        text = buffer.getvalue()
    result: dict[str, Any] = {"events": len(events), "format": export_format, "output": None}
    if output is not None:
        write_atomic(output, text.encode("utf-8"))
        result["output"] = str(output)
        return Outcome(
            result=result, human=lambda out: out.print(f"{len(events)} event(s) -> {output}")
        )
    if not opts.quiet:
        sys.stdout.write(text)
    return Outcome(result=result)
