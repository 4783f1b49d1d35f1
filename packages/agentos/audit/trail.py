"""The audit trail (SPEC §10): an append-only, hash-chained JSONL file and its HEAD.

Each event is one line of canonical JSON (sorted keys, no spaces) with
``hash = sha256(prev + canonical(event without "hash"))``. ``HEAD`` records the last ``seq``
and ``hash`` so a truncated file is caught. Appends hold their own lock, so concurrent writers
never fork the chain, and are fsynced before HEAD moves. A crash between the two leaves the
file one event ahead of HEAD, or a torn last line that was never acknowledged; the next append
repairs either, and ``verify`` reports them as warnings rather than breaks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentos.digest import canonical_json, sha256_hex
from agentos.errors import AuditChainError, BusyError
from agentos.statefs import ensure_dir, fsync_dir, write_atomic

GENESIS = "0" * 64
TRAIL_NAME = "audit.jsonl"
HEAD_NAME = "HEAD"
LOCK_NAME = "lock"
LOCK_TIMEOUT_SECONDS = 30.0
_HASH_FIELD = b',"hash":"'
_HASH_SPAN = len(_HASH_FIELD) - 1 + 64 + 2  # '"hash":"' + 64 hex + '",'
_REQUIRED = ("seq", "ts", "event", "actor", "data", "prev", "hash")


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def event_hash(prev: str, body: bytes) -> str:
    """The chain hash of an event whose canonical form without ``hash`` is ``body``."""
    return sha256_hex(prev.encode("ascii") + body)


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: the number of events, the head hash, and benign oddities."""

    events: int
    head: str
    warnings: tuple[str, ...] = field(default_factory=tuple)


class AuditTrail:
    """The trail under ``directory`` (normally ``<workspace>/.agentos/audit``)."""

    def __init__(
        self,
        directory: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        durable: bool = True,
    ) -> None:
        self.directory = directory
        self.path = directory / TRAIL_NAME
        self.head_path = directory / HEAD_NAME
        self.clock = clock
        self.durable = durable

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        event: str,
        *,
        actor: str,
        data: dict[str, Any],
        execution_id: str | None = None,
        plan_id: str | None = None,
    ) -> dict[str, Any]:
        """Append one event under the trail's lock and return it (with seq and hash)."""
        from filelock import FileLock, Timeout

        ensure_dir(self.directory)
        lock = FileLock(str(self.directory / LOCK_NAME), timeout=LOCK_TIMEOUT_SECONDS)
        try:
            with lock:
                return self._append_locked(event, actor, data, execution_id, plan_id)
        except Timeout:
            raise BusyError(
                f"{self.directory / LOCK_NAME}: the audit trail stayed locked for "
                f"{LOCK_TIMEOUT_SECONDS:.0f}s; retry when the other agentos process is done"
            ) from None

    def _append_locked(
        self,
        event: str,
        actor: str,
        data: dict[str, Any],
        execution_id: str | None,
        plan_id: str | None,
    ) -> dict[str, Any]:
        seq, prev = self._reconcile()
        record: dict[str, Any] = {
            "seq": seq + 1,
            "ts": self.clock().astimezone(UTC).isoformat(timespec="microseconds"),
            "event": event,
            "actor": actor,
            "data": data,
            "prev": prev,
        }
        if execution_id is not None:
            record["execution_id"] = execution_id
        if plan_id is not None:
            record["plan_id"] = plan_id
        record["hash"] = event_hash(prev, canonical_json(record))
        line = canonical_json(record) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        if seq == 0 and self.durable:
            fsync_dir(self.directory)
        self._write_head(record["seq"], record["hash"])
        return record

    def _write_head(self, seq: int, digest: str) -> None:
        body = json.dumps({"seq": seq, "hash": digest}).encode() + b"\n"
        write_atomic(self.head_path, body, durable=self.durable)

    def _reconcile(self) -> tuple[int, str]:
        """The (seq, hash) to chain onto, repairing what an interrupted append left behind."""
        head = self._read_head()
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == 0:
            if head is not None and head[0] != 0:
                raise AuditChainError(
                    f"{self.head_path}: HEAD says {head[0]} events but {self.path} is empty; "
                    "the trail was truncated — run 'agentos audit verify'"
                )
            return 0, GENESIS
        tail, complete_end = self._last_line()
        if complete_end < size:
            # A torn write from a crash: never acknowledged (HEAD did not move), so drop it.
            with self.path.open("r+b") as handle:
                handle.truncate(complete_end)
                if self.durable:
                    os.fsync(handle.fileno())
            tail, _ = self._last_line()
        if tail is None:
            return 0, GENESIS
        last = _parse_line(tail, where=f"{self.path} (last line)")
        last_seq, last_hash = last["seq"], last["hash"]
        if head is None:
            if last_seq == 1 and last["prev"] == GENESIS:
                return 1, last_hash
            raise AuditChainError(
                f"{self.head_path} is missing while {self.path} holds {last_seq} events; "
                "run 'agentos audit verify'"
            )
        head_seq, head_hash = head
        if (last_seq, last_hash) == (head_seq, head_hash):
            return last_seq, last_hash
        if last_seq == head_seq + 1 and last["prev"] == head_hash:
            self._write_head(last_seq, last_hash)
            return last_seq, last_hash
        raise AuditChainError(
            f"{self.path}: the last event (seq {last_seq}) does not match HEAD (seq {head_seq}); "
            "the trail was altered — run 'agentos audit verify'"
        )

    def _read_head(self) -> tuple[int, str] | None:
        try:
            doc = json.loads(self.head_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise AuditChainError(f"{self.head_path}: HEAD is unreadable or corrupt") from None
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("seq"), int)
            or not isinstance(doc.get("hash"), str)
        ):
            raise AuditChainError(f"{self.head_path}: HEAD is not {{seq, hash}}")
        return doc["seq"], doc["hash"]

    def _last_line(self) -> tuple[bytes | None, int]:
        """The last complete line and the offset where complete lines end."""
        with self.path.open("rb") as handle:
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
                newline = data.rfind(b"\n")
                if newline < 0:
                    continue
                complete_end = pos + newline + 1
                previous = data.rfind(b"\n", 0, newline)
                if previous >= 0 or pos == 0:
                    return data[previous + 1 : newline + 1], complete_end
            return None, 0

    # -- reading ---------------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        """Every complete event, in order (without verifying the chain)."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            for line in handle:
                if line.endswith(b"\n"):
                    yield json.loads(line)

    def verify(self) -> VerifyReport:
        """Check every link of the chain and HEAD; ``AuditChainError`` names the first break."""
        head = self._read_head()
        prev = GENESIS
        count = 0
        warnings: list[str] = []
        torn = False
        if self.path.exists():
            with self.path.open("rb") as handle:
                for lineno, line in enumerate(handle, start=1):
                    if not line.endswith(b"\n"):
                        torn = True
                        break
                    where = f"{self.path}:{lineno}"
                    record = _parse_line(line, where=where)
                    if record["seq"] != count + 1:
                        raise AuditChainError(
                            f"{where}: event seq {record['seq']} where seq {count + 1} was "
                            "expected; events were deleted, duplicated or reordered",
                            details={"line": lineno, "seq": record["seq"]},
                        )
                    if record["prev"] != prev:
                        raise AuditChainError(
                            f"{where}: event seq {record['seq']} does not link to the event "
                            "before it (prev hash differs); the trail was altered",
                            details={"line": lineno, "seq": record["seq"]},
                        )
                    body = _without_hash(line)
                    if event_hash(prev, body) != record["hash"]:
                        raise AuditChainError(
                            f"{where}: event seq {record['seq']} ({record['event']}) does not "
                            "match its hash; it was edited",
                            details={"line": lineno, "seq": record["seq"]},
                        )
                    prev = record["hash"]
                    count += 1
        self._check_head(head, count, prev, torn, warnings)
        return VerifyReport(events=count, head=prev, warnings=tuple(warnings))

    def _check_head(
        self,
        head: tuple[int, str] | None,
        count: int,
        last_hash: str,
        torn: bool,
        warnings: list[str],
    ) -> None:
        if head is None:
            if count > 1:
                raise AuditChainError(
                    f"{self.head_path} is missing: cannot tell whether {self.path} was truncated"
                )
            if count == 1:
                warnings.append("HEAD is missing after the first event (an interrupted append)")
            return
        head_seq, head_hash = head
        if head_seq > count:
            raise AuditChainError(
                f"{self.path}: truncated: HEAD records {head_seq} events but only {count} "
                "complete events remain",
                details={"head_seq": head_seq, "events": count},
            )
        if head_seq == count and head_hash != last_hash:
            raise AuditChainError(
                f"{self.head_path}: HEAD hash does not match event seq {count}; "
                "the trail or HEAD was altered",
                details={"head_seq": head_seq},
            )
        if head_seq == count - 1:
            warnings.append(
                f"the last event (seq {count}) is not yet in HEAD (an interrupted append); "
                "the next append repairs it"
            )
        elif head_seq < count - 1:
            raise AuditChainError(
                f"{self.path}: {count - head_seq} events follow the one HEAD records "
                f"(seq {head_seq}); events were appended outside agentos",
                details={"head_seq": head_seq, "events": count},
            )
        if torn:
            warnings.append(
                "the file ends in an incomplete line (an interrupted append); "
                "the next append removes it"
            )


def _parse_line(line: bytes, *, where: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        raise AuditChainError(f"{where}: not a valid JSON event; the trail was altered") from None
    if not isinstance(record, dict) or any(key not in record for key in _REQUIRED):
        raise AuditChainError(f"{where}: an event lacks required fields; the trail was altered")
    if not isinstance(record["seq"], int) or not isinstance(record["hash"], str):
        raise AuditChainError(f"{where}: an event has a malformed seq or hash")
    return record


def _without_hash(line: bytes) -> bytes:
    """The canonical bytes the hash covers: the stored line minus its ``"hash"`` member.

    Keys are sorted, so ``hash`` is followed by ``plan_id``/``prev``/``seq``/``ts`` whose
    values cannot contain an unescaped quote: the last ``,"hash":"`` is the top-level key.
    """
    at = line.rfind(_HASH_FIELD)
    if at < 0:
        return line.rstrip(b"\n")
    return line[: at + 1] + line[at + 1 + _HASH_SPAN : -1]
