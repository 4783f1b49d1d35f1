"""``agentos audit verify|anchor|show|export|repair``: check, read and repair the hash-chained
trail."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome
from agentos.errors import UsageError

if TYPE_CHECKING:
    from agentos.audit.repair import TrailBreak


@command("verify", group="audit")
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
    *,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Verify the shared PostgreSQL store's copy of the audit events against its "
            "own chain instead (docs/scale.md).",
        ),
    ] = False,
) -> Outcome:
    """Verify the hash chain, HEAD and its seal (and an anchor); exit 6 naming the first
    bad event."""
    from agentos.cli.views.records import render_verified, verify_result

    if store:
        return _verify_store(opts, anchor)
    pinned = _read_anchor(anchor) if anchor is not None else None
    report = opts.context().audit.verify(anchor=pinned)
    return Outcome(
        result=verify_result(report),
        warnings=list(report.warnings),
        human=lambda out: render_verified(out, report),
    )


def _verify_store(opts: GlobalOptions, anchor: str | None) -> Outcome:
    """``audit verify --store``."""
    from agentos.cli.views.records import render_store_verified, store_verify_result
    from agentos.pipeline.store import verify_store_audit

    if anchor is not None:
        raise UsageError("--anchor checks this workspace's own trail; drop it with --store")
    where, report = verify_store_audit(opts.context())
    return Outcome(
        result=store_verify_result(where, report),
        warnings=list(report.warnings),
        human=lambda out: render_store_verified(out, where, report),
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


@command("anchor", group="audit")
def anchor(
    opts: GlobalOptions,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the anchor to this file."),
    ] = None,
) -> Outcome:
    """Print the verified head of the trail as SEQ:HASH, to keep outside the workspace."""
    head = opts.context().audit.head_anchor()
    if output is not None:
        _write_output(output, (head.token() + "\n").encode("ascii"))
    result = {
        "seq": head.seq,
        "hash": head.digest,
        "anchor": head.token(),
        "output": None if output is None else str(output),
    }
    return Outcome(result=result, human=lambda out: out.print(head.token(), highlight=False))


@command("show", group="audit")
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
    from agentos.cli.views.records import render_events
    from agentos.pipeline.queries import audit_events

    ctx = opts.context()
    events = audit_events(ctx, event=event, plan_id=plan_id, execution_id=execution_id)
    if limit:
        events = events[-limit:]
    return Outcome(result={"events": events}, human=lambda out: render_events(out, events))


@command("export", group="audit")
def export(
    opts: GlobalOptions,
    export_format: Annotated[str, typer.Option("--format", help="jsonl | csv")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> Outcome:
    """Export every event as JSON Lines or CSV."""
    from agentos.cli.views.records import export_text
    from agentos.pipeline.queries import audit_events

    if export_format not in ("jsonl", "csv"):
        raise UsageError(f"--format {export_format!r}: use jsonl or csv")
    if output is None and opts.json:
        raise UsageError("with --json, give --output FILE (stdout carries the JSON result)")
    events = audit_events(opts.context())
    text = export_text(events, export_format)
    result: dict[str, Any] = {"events": len(events), "format": export_format, "output": None}
    if output is not None:
        _write_output(output, text.encode("utf-8"))
        result["output"] = str(output)
        return Outcome(
            result=result, human=lambda out: out.print(f"{len(events)} event(s) -> {output}")
        )
    if not opts.quiet:
        sys.stdout.write(text)
    return Outcome(result=result)


def _write_output(path: Path, data: bytes) -> None:
    """Write the file ``--output`` names (a usage error names it when it cannot be)."""
    from agentos.statefs import write_atomic

    if path.is_dir():
        raise UsageError(f"--output {str(path)!r} is a directory; name a file")
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise UsageError(f"--output {str(path)!r}: {exc.strerror or exc}") from None


@command("repair", group="audit")
def repair(
    opts: GlobalOptions,
    *,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Repair without asking (needed when stdin is not a terminal, and with --json).",
        ),
    ] = False,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            "--lock-timeout",
            min=0,
            help="Seconds to wait for the workspace lock (default: concurrency.lock_timeout).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Archive a broken or missing trail under .agentos/audit/broken-<time>/ and start a new
    chain whose first event records the break; a trail that verifies is left alone."""
    from agentos.cli.views.records import render_repaired, repair_result
    from agentos.pipeline.auditing import repair_audit

    def confirm(found: TrailBreak) -> None:
        _confirm_repair(opts, found, yes=yes)

    repaired = repair_audit(opts.context(), confirm=confirm, lock_timeout=lock_timeout)
    return Outcome(result=repair_result(repaired), human=lambda out: render_repaired(out, repaired))


def _confirm_repair(opts: GlobalOptions, found: TrailBreak, *, yes: bool) -> None:
    """Ask before a repair (``UsageError`` when the answer is no, or cannot be asked)."""
    from agentos.cli.render import print_info

    if yes:
        return
    if opts.json or not sys.stdin.isatty():
        raise UsageError(
            f"{found.problem}; 'agentos audit repair' archives the trail and starts a new "
            "chain only when confirmed: run it on a terminal, or pass --yes"
        )
    print_info(f"the audit trail does not verify: {found.problem}")
    question = "Archive it under .agentos/audit/broken-<time>/ and start a new chain?"
    if not typer.confirm(question, default=False, err=True):
        raise UsageError("audit repair not confirmed; nothing was changed")
