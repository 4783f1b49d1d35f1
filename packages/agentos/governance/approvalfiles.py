"""Approval files made elsewhere (SPEC §7): what ``agentos approve -o FILE`` writes and
``apply`` / ``rollback`` / ``check --approval FILE`` read.

A file holds one approval (a JSON object, as ``.agentos/approvals/`` stores them) or several
(a JSON array of such objects), so that the approvals a plan needs can travel together as one
CI artifact. Each approval in a file is judged on its own: the gate names the N-th of an array
``FILE#N`` (from 1) in its reasons and errors, a single one ``FILE``.

``approve -o FILE`` adds to an existing file of the same plan: the approver's earlier approval
of this very version is replaced, approvals of other versions of the plan are dropped (the
plan was planned again: presenting them would be an error), and a file that holds another
plan's approvals, or no approvals at all, is never overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path

from agentos.errors import InvalidApprovalError, UsageError
from agentos.model import Approval


def approval_file_bytes(path: Path) -> bytes:
    """The bytes of an approval file named on the command line (``UsageError`` when absent
    or unreadable)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"approval file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"approval file {str(path)!r} is a directory; name a file") from None
    except OSError as exc:
        raise UsageError(f"cannot read approval file {str(path)!r}: {exc.strerror}") from None


def parse_approval(raw: bytes | str, source: str) -> Approval:
    """One approval from its JSON (``InvalidApprovalError`` naming ``source`` otherwise)."""
    from pydantic import ValidationError

    try:
        return Approval.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise InvalidApprovalError(
            f"{source}: not a valid approval ({where}: {first['msg']}); it was altered or is "
            "not an agentos approval — remove it and approve again",
            details={"approval": source},
        ) from None


def parse_approvals(raw: bytes, path: Path) -> list[tuple[str, Approval]]:
    """The approvals of a file's bytes with the name each is reported by: ``FILE`` for a
    JSON object, ``FILE#N`` for the N-th item of a JSON array."""
    if not raw.lstrip().startswith(b"["):
        return [(str(path), parse_approval(raw, str(path)))]
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidApprovalError(
            f"{path}: not a valid approval file ({exc}); it was altered or is not an agentos "
            "approval file — remove it and approve again",
            details={"approval": str(path)},
        ) from None
    if not items:
        raise UsageError(
            f"approval file {str(path)!r} holds no approval (an empty list); pass a file "
            "'agentos approve -o FILE' wrote"
        )
    found = []
    for number, item in enumerate(items, start=1):
        source = f"{path}#{number}"
        found.append((source, parse_approval(json.dumps(item, ensure_ascii=False), source)))
    return found


def read_approval_file(path: Path) -> list[tuple[str, Approval]]:
    """Every approval ``path`` holds, each with the name the gate reports it by."""
    return parse_approvals(approval_file_bytes(path), path)


def output_approvals(path: Path, plan_id: str) -> list[Approval]:
    """The approvals already in ``approve -o``'s ``path`` (none when it does not exist), or
    a ``UsageError`` when the approval must not be written there."""
    if path.is_dir():
        raise UsageError(f"--output {str(path)!r} is a directory; name a file in it")
    if not path.parent.is_dir():
        raise UsageError(
            f"--output {str(path)!r}: the folder {str(path.parent)!r} does not exist; create "
            "it or name a file in an existing folder"
        )
    if not path.exists():
        return []
    try:
        existing = [approval for _, approval in read_approval_file(path)]
    except (InvalidApprovalError, UsageError) as exc:
        raise UsageError(
            f"--output {str(path)!r} exists and is not an approval file ({exc.message}); "
            "name another file"
        ) from None
    others = sorted({a.plan_id for a in existing if a.plan_id != plan_id})
    if others:
        raise UsageError(
            f"--output {str(path)!r} holds approvals of plan {others[0]!r}, not {plan_id!r}; "
            "an approval file holds the approvals of one plan — name another file"
        )
    return existing


def merge_approvals(existing: list[Approval], new: Approval) -> list[Approval]:
    """``existing`` with ``new`` added: the approver's earlier approval of the same version
    replaced, approvals of other versions of the plan dropped."""
    version = (new.checksum, new.plan_digest)
    kept = [
        a for a in existing if (a.checksum, a.plan_digest) == version and a.approver != new.approver
    ]
    return [*kept, new]


def approval_file_text(approvals: list[Approval]) -> bytes:
    """A file of these approvals: one as a JSON object, several as a JSON array."""
    documents = [a.model_dump(mode="json") for a in approvals]
    body = documents[0] if len(documents) == 1 else documents
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_approval_file(path: Path, approvals: list[Approval]) -> None:
    """Replace ``path`` with ``approvals`` atomically and durably."""
    from agentos.statefs import write_atomic

    try:
        write_atomic(path, approval_file_text(approvals))
    except IsADirectoryError:
        raise UsageError(f"--output {str(path)!r} is a directory; name a file in it") from None
