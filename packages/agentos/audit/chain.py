"""Walking the hash chain of a trail file: ``audit verify``'s pass over every event, and the
comparison of where it ends with HEAD.

Throughput matters (SPEC §11 B5: at least 300,000 events a second). The file is read in large
blocks and split at newlines, and each line is hashed as it is stored (the canonical bytes,
less its ``hash`` member), never re-serialised.

Lines that a verified HEAD seal vouches for (up to HEAD's seq) are not parsed as JSON: their
seq, prev and hash are read off the bytes, and the hash member must sit where agentos puts it
(right before ``plan_id`` or ``prev``). If every such line then chains, through hashes that
cover every byte, to the hash the seal (the workspace key's HMAC) vouches for, each line is
byte for byte one agentos wrote as canonical JSON with every field, so parsing it could only
agree. Should anything at all fail on that path, ``verify`` walks again parsing every line,
so what it reports is exactly what a parse of every line reports. Other lines are decoded by
the JSON scanner directly; one that does not pass every check there goes to ``check_line``,
which names what is wrong as it always has (or accepts a valid line of unusual form).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

from agentos import statefs
from agentos.audit.lines import (
    _HASH_FIELD,
    _HASH_SPAN,
    _SCAN,
    GENESIS,
    event_hash,
    parse_line,
    without_hash,
)
from agentos.errors import AuditChainError

BLOCK_BYTES = 1 << 22
# The fields the fast path reads, and the others an event must have (``parse_line``'s list).
_FIELDS = itemgetter("seq", "prev", "hash", "ts", "event", "actor", "data")


@dataclass(frozen=True)
class ChainEnd:
    """Where the chain ends: events, the last hash and the one before it, whether a torn
    line follows, and the seq of the anchor's hash when it was met."""

    events: int = 0
    head: str = GENESIS
    before_last: str = GENESIS
    torn: bool = False
    anchor_seq: int | None = None


def check_line(path: Path, line: bytes, lineno: int, prev: str) -> dict[str, Any]:
    """Event ``lineno`` (``line`` with its newline) as a dict, when it is an event with that
    seq, linked to ``prev`` and matching its hash; else ``AuditChainError`` naming the break."""
    record = parse_line(line, path=path, lineno=lineno)
    if record["seq"] != lineno:
        raise AuditChainError(
            f"{path}:{lineno}: event seq {record['seq']} where seq {lineno} "
            "was expected; events were deleted, duplicated or reordered",
            details={"line": lineno, "seq": record["seq"]},
        )
    if record["prev"] != prev:
        raise AuditChainError(
            f"{path}:{lineno}: event seq {lineno} does not link to the "
            "event before it (prev hash differs); the trail was altered",
            details={"line": lineno, "seq": lineno},
        )
    if event_hash(prev, without_hash(line)) != record["hash"]:
        raise AuditChainError(
            f"{path}:{lineno}: event seq {lineno} ({record['event']}) does "
            "not match its hash; it was edited",
            details={"line": lineno, "seq": lineno},
        )
    return record


class Unvouched(Exception):
    """A line the seal vouches for is not in agentos's form: walk again, parsing every line."""


def walk_chain(
    path: Path, handle: BinaryIO, size: int, anchor: str | None = None, *, vouched: int = 0
) -> ChainEnd:
    """Check every line that starts in the first ``size`` bytes of ``handle`` (a line that
    crosses ``size`` is read to its end); ``anchor``: a hash to look for. The first
    ``vouched`` lines are checked on their bytes (``Unvouched`` when one is not as expected):
    only for a HEAD whose seal verified, and only good once HEAD's hash is found to match."""
    sha256, scan, span = hashlib.sha256, _SCAN, _HASH_SPAN
    prev, before_last, count = GENESIS, GENESIS, 0
    prev_bytes = prev.encode()
    anchor_seq: int | None = None
    remaining, carry = size, b""
    while remaining > 0:
        block = handle.read(min(BLOCK_BYTES, remaining))
        if not block:
            break
        remaining -= len(block)
        lines = (carry + block if carry else block).split(b"\n")
        carry = lines.pop()
        if count < vouched:
            plain = lines[: vouched - count]
            prev_bytes = _walk_vouched(plain, count, prev_bytes)
            if anchor is not None:
                anchor_seq = _find(plain, anchor, count) or anchor_seq
            count += len(plain)
            if len(plain) > 1:
                before_last = _hash_of(plain[-2])
            elif plain:
                before_last = prev
            prev = prev_bytes.decode()
            lines = lines[len(plain) :]
        for line in lines:
            count += 1
            digest = None
            try:
                text = line.decode("utf-8")
                record, end = scan(text, 0)
                # KeyError: a required field is missing; TypeError: not an object.
                seq, linked, stored = _FIELDS(record)[:3]
            except (ValueError, StopIteration, KeyError, TypeError):
                pass
            else:
                at = line.rfind(_HASH_FIELD)
                if end == len(text) and seq == count and type(seq) is int and linked == prev:
                    hashed = sha256(prev_bytes)
                    hashed.update(line[: at + 1])
                    hashed.update(line[at + 1 + span :])
                    if at >= 0 and hashed.hexdigest() == stored:
                        digest = stored
            if digest is None:
                digest = check_line(path, line + b"\n", count, prev)["hash"]
            before_last, prev = prev, digest
            prev_bytes = digest.encode()
            if digest == anchor:
                anchor_seq = count
    torn = False
    if carry and count < vouched:
        raise Unvouched(count + 1)
    if carry:
        # A line that starts before ``size``: read on to its end, as a line-by-line read would.
        while b"\n" not in carry and (more := handle.read(1 << 16)):
            carry += more
        newline = carry.find(b"\n")
        if newline < 0:
            torn = True
        else:
            count += 1
            digest = check_line(path, carry[: newline + 1], count, prev)["hash"]
            before_last, prev = prev, digest
            if digest == anchor:
                anchor_seq = count
    return ChainEnd(count, prev, before_last, torn, anchor_seq)


def _walk_vouched(lines: list[bytes], count: int, prev: bytes) -> bytes:
    """Check lines ``count + 1``... on their bytes; the hash of the last, as bytes."""
    sha256 = hashlib.sha256
    for line in lines:
        count += 1
        at = line.rfind(_HASH_FIELD)
        end = at + 1 + _HASH_SPAN  # where the member "hash":"<64 hex>", ends
        linked = line.rfind(b',"prev":"')
        if linked != end - 1 and not _plan_id_between(line, end, linked):
            raise Unvouched(count)
        if (
            at < 0
            or line[linked + 9 : linked + 73] != prev
            or not line.startswith(b'","seq":%d,"ts":' % count, linked + 73)
        ):
            raise Unvouched(count)
        hashed = sha256(prev)
        hashed.update(line[: at + 1])
        hashed.update(line[end:])
        digest = hashed.hexdigest().encode()
        if line[at + 9 : at + 73] != digest or line[at + 73 : end] != b'",':
            raise Unvouched(count)
        prev = digest
    return prev


def _plan_id_between(line: bytes, start: int, linked: int) -> bool:
    """Whether ``line`` holds exactly ``"plan_id":"<no quotes>"`` from ``start`` to ``linked``
    (where the hash member is followed by the plan id, then the prev hash)."""
    return (
        line.startswith(b'"plan_id":"', start)
        and line.find(b'"', start + 11) == linked - 1
        and line.rfind(b',"plan_id":"') == start - 1
    )


def _hash_of(line: bytes) -> str:
    """The hash member of a line already checked on its bytes."""
    at = line.rfind(_HASH_FIELD)
    return line[at + 9 : at + 73].decode()


def _find(lines: list[bytes], anchor: str, count: int) -> int | None:
    """The seq of the last of ``lines`` (``count + 1``...) whose hash is ``anchor``."""
    found = None
    for index, line in enumerate(lines, start=count + 1):
        if _hash_of(line) == anchor:
            found = index
    return found


def check_head(
    path: Path,
    head_path: Path,
    head: tuple[int, str] | None,
    *,
    count: int,
    last_hash: str,
    before_last: str,
    warnings: list[str],
) -> None:
    """Compare the chain's end (``count`` events, the last two hashes) with HEAD; warn about an
    interrupted append, ``AuditChainError`` for anything else that disagrees."""
    if head is None:
        if count > 1:
            raise AuditChainError(
                f"{head_path} is missing: cannot tell whether {path} was truncated",
                details={"events": count},
            )
        if count == 1:
            warnings.append("HEAD is missing after the first event (an interrupted append)")
        return
    head_seq, head_hash = head
    if head_seq > count:
        raise AuditChainError(
            f"{path}:{count + 1}: truncated: event seq {count + 1} is missing or cut "
            f"short; HEAD records {head_seq} events but only {count} complete events remain",
            details={
                "line": count + 1,
                "seq": count + 1,
                "head_seq": head_seq,
                "events": count,
            },
        )
    if head_seq == count:
        if head_hash != last_hash:
            raise AuditChainError(
                f"{head_path}: HEAD hash does not match event seq {count}; "
                "the trail or HEAD was altered",
                details={"head_seq": head_seq, "events": count},
            )
    elif head_seq == count - 1:
        if head_hash != before_last:
            raise AuditChainError(
                f"{head_path}: HEAD hash does not match event seq {head_seq}; "
                "the trail or HEAD was altered",
                details={"head_seq": head_seq, "events": count},
            )
        warnings.append(
            f"the last event (seq {count}) is not yet in HEAD (an interrupted append); "
            "the next append repairs it"
        )
    else:
        raise AuditChainError(
            f"{path}:{head_seq + 2}: event seq {head_seq + 2} is one of "
            f"{count - head_seq} events after the last one HEAD records (seq {head_seq}); "
            "only one can be an interrupted append, so events were appended outside agentos",
            details={
                "line": head_seq + 2,
                "seq": head_seq + 2,
                "head_seq": head_seq,
                "events": count,
            },
        )


def last_line(path: Path) -> tuple[bytes | None, int]:
    """The last complete line of the file at ``path`` and the offset where complete lines
    end."""
    with statefs.open_read(path) as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        block = 8192
        data = b""
        pos = end
        while pos > 0:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
            # Doubling: a fixed block made a long last line (a plan's file list) quadratic.
            block *= 2
            newline = data.rfind(b"\n")
            if newline < 0:
                continue
            complete_end = pos + newline + 1
            previous = data.rfind(b"\n", 0, newline)
            if previous >= 0 or pos == 0:
                return data[previous + 1 : newline + 1], complete_end
        return None, 0
