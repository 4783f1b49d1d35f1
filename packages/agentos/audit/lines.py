"""One event line of the audit trail: its canonical form, its chain hash, and parsing.

``hash = sha256(prev + canonical(event without "hash"))`` (SPEC §10); a line is the canonical
JSON of the event with its hash, ending in a newline.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentos.digest import sha256_hex
from agentos.errors import AuditChainError

GENESIS = "0" * 64
_HASH_FIELD = b',"hash":"'
_HASH_SPAN = len(_HASH_FIELD) - 1 + 64 + 2  # '"hash":"' + 64 hex + '",'
_REQUIRED = frozenset({"seq", "ts", "event", "actor", "data", "prev", "hash"})
# raw_decode skips json.loads's per-call encoding detection and whitespace handling, which cost
# about as much as parsing an event line; verify's throughput (SPEC §11 B5) rests on it.
_DECODER = json.JSONDecoder()
_DECODE = _DECODER.raw_decode
# The scanner raw_decode calls (an attribute the decoder sets; the stubs do not declare it),
# called directly to save raw_decode's wrapper on every line.
_SCAN: Callable[[str, int], tuple[Any, int]] = vars(_DECODER)["scan_once"]


def event_hash(prev: str, body: bytes) -> str:
    """The chain hash of an event whose canonical form without ``hash`` is ``body``."""
    # UTF-8, not ASCII: a tampered, non-hex prev must fail the comparison, not crash it.
    return sha256_hex(prev.encode() + body)


def parse_line(line: bytes, *, path: Path, lineno: int | None = None) -> dict[str, Any]:
    """One newline-terminated event line as a dict; ``AuditChainError`` names a bad one."""
    record: Any = None
    try:
        text = line.decode("utf-8")
        record, end = _DECODE(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        problem = "not a valid JSON event"
    else:
        if text[end:] != "\n" or not isinstance(record, dict):
            problem = "not a valid JSON event"
        elif not record.keys() >= _REQUIRED:
            problem = "an event lacks required fields"
        elif type(record["seq"]) is not int or not isinstance(record["hash"], str):
            problem = "an event has a malformed seq or hash"
        else:
            return record
    where = f"{path} (last complete line)" if lineno is None else f"{path}:{lineno}"
    seq = record.get("seq") if isinstance(record, dict) else None
    details: dict[str, Any] = {"line": lineno} if seq is None else {"line": lineno, "seq": seq}
    raise AuditChainError(f"{where}: {problem}; the trail was altered", details=details)


def quick_parse(line: bytes) -> dict[str, Any] | None:
    """The event on ``line`` (without its newline) when it is plainly well formed, as
    ``parse_line`` would return it; None when ``parse_line`` must look at it (it then names
    what is wrong, or accepts a line in an unusual but valid form)."""
    try:
        text = line.decode("utf-8")
        record, end = _SCAN(text, 0)
    except (ValueError, StopIteration):  # not UTF-8, not JSON, or not starting with a value
        return None
    if (
        end != len(text)
        or type(record) is not dict
        or not record.keys() >= _REQUIRED
        or type(record["seq"]) is not int
        or type(record["hash"]) is not str
    ):
        return None
    return record


def is_next(record: dict[str, Any], line: bytes, seq: int, digest: str) -> bool:
    """Whether ``record`` (stored as ``line``) is a well-formed successor of (seq, digest)."""
    return bool(
        record["seq"] == seq + 1
        and record["prev"] == digest
        and event_hash(digest, without_hash(line)) == record["hash"]
    )


def without_hash(line: bytes) -> bytes:
    """The canonical bytes the hash covers: the stored line minus its ``"hash"`` member.

    Keys are sorted, so ``hash`` is followed by ``plan_id``/``prev``/``seq``/``ts`` whose
    values cannot contain an unescaped quote: the last ``,"hash":"`` is the top-level key.
    """
    at = line.rfind(_HASH_FIELD)
    if at < 0:
        return line.rstrip(b"\n")
    return line[: at + 1] + line[at + 1 + _HASH_SPAN : -1]
