"""The audit trail (SPEC §10): an append-only, hash-chained JSONL file and its HEAD.

Each event is one line of canonical JSON (sorted keys, no spaces) with
``hash = sha256(prev + canonical(event without "hash"))``. ``HEAD`` records the last ``seq``
and ``hash`` so a truncated file is caught. Appends hold their own lock, so concurrent writers
never fork the chain, and are fsynced before HEAD moves. A crash between the two leaves the
file one event ahead of HEAD, or a torn last line that was never acknowledged; the next append
repairs either, and ``verify`` reports them as warnings rather than breaks.

HEAD is sealed with the workspace key (``statekey``): ``seal`` is an HMAC of its seq and hash.
Without the key, nobody can drop events, recompute every hash and write a HEAD that agentos
accepts. What the seal cannot tell is a whole older trail put back with its older HEAD; an
*anchor* kept outside the workspace (``agentos audit anchor``, ``audit verify --anchor``)
catches that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos import statefs
from agentos.audit.anchor import (
    HEAD_PURPOSE,
    Anchor,
    check_anchor,
    head_seal_payload,
)
from agentos.audit.chain import ChainEnd, Unvouched, walk_chain
from agentos.audit.lines import GENESIS, event_hash, is_next, parse_line
from agentos.clock import Clock, rfc3339, system_clock
from agentos.digest import canonical_json
from agentos.errors import AgentosError, AuditChainError, BusyError
from agentos.faults import fault_point
from agentos.statefs import ensure_dir, fsync_dir, write_atomic

if TYPE_CHECKING:
    from filelock import BaseFileLock

    from agentos.statekey import StateKey

TRAIL_NAME = "audit.jsonl"
HEAD_NAME = "HEAD"
LOCK_NAME = "lock"
LOCK_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: the number of events, the head hash, and benign oddities."""

    events: int
    head: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    sealed: bool = False
    anchor: Anchor | None = None


class AuditTrail:
    """The trail under ``directory`` (normally ``<workspace>/.agentos/audit``)."""

    def __init__(
        self,
        directory: Path,
        *,
        clock: Clock = system_clock,
        durable: bool = True,
        sealed: bool = True,
    ) -> None:
        self.directory = directory
        self.path = directory / TRAIL_NAME
        self.head_path = directory / HEAD_NAME
        self.clock = clock
        self.durable = durable
        # With ``sealed`` (always, outside the trail's own unit tests) HEAD carries the
        # workspace key's seal: the key of the state directory that holds ``directory``.
        self.sealed = sealed
        self._head_seal: object = None

    def _key(self) -> StateKey | None:
        if not self.sealed:
            return None
        from agentos.statekey import state_key

        return state_key(self.directory.parent)

    # -- writing ---------------------------------------------------------------------------

    def lock(self, timeout: float = LOCK_TIMEOUT_SECONDS) -> BaseFileLock:
        """The trail's lock (held by every append; taken with ``with``), never through a link."""
        from filelock import FileLock

        statefs.refuse_links(self.directory / LOCK_NAME)
        return FileLock(str(self.directory / LOCK_NAME), timeout=timeout)

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
        from filelock import Timeout

        ensure_dir(self.directory)
        try:
            with self.lock():
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
            "ts": rfc3339(self.clock()),
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
        fault_point("audit.append.before")
        statefs.append(self.path, line, durable=self.durable)
        if seq == 0 and self.durable:
            fsync_dir(self.directory)
        fault_point("audit.append.after")
        self._write_head(record["seq"], record["hash"])
        fault_point("audit.head.after")
        return record

    def _write_head(self, seq: int, digest: str) -> None:
        doc: dict[str, Any] = {"seq": seq, "hash": digest}
        key = self._key()
        if key is not None:
            doc["seal"] = key.seal(HEAD_PURPOSE, head_seal_payload(seq, digest))
        body = json.dumps(doc).encode() + b"\n"
        write_atomic(self.head_path, body, durable=self.durable)

    def _check_seal(self, head: tuple[int, str] | None) -> None:
        """``AuditChainError`` unless HEAD carries this workspace key's seal."""
        if head is None or not self.sealed:
            return
        key = self._key()
        if key is None or not key.verify(HEAD_PURPOSE, head_seal_payload(*head), self._head_seal):
            raise AuditChainError(
                f"{self.head_path}: HEAD is not sealed by this workspace's key; the trail and "
                "its HEAD were rewritten outside agentos (or by an agentos without the seal) — "
                "compare with an anchor kept outside the workspace ('audit verify --anchor')",
                details={"head_seq": head[0]},
            )

    def _reconcile(self) -> tuple[int, str]:
        """The (seq, hash) to chain onto, repairing what an interrupted append left behind."""
        head = self._read_head()
        self._check_seal(head)
        size = self.path.stat().st_size if self.path.exists() else 0
        tail, complete_end = self._last_line() if size else (None, 0)
        if tail is None:
            if head is not None and head[0] != 0:
                raise AuditChainError(
                    f"{self.head_path}: HEAD says {head[0]} events but {self.path} holds no "
                    "complete event; the trail was truncated — run 'agentos audit verify'"
                )
            seq, digest = 0, GENESIS
        else:
            seq, digest = self._chain_onto(head, tail)
        if complete_end < size:
            # A torn write from a crash. Only now, with the complete events shown to agree with
            # HEAD, is it known to be unacknowledged and safe to drop; otherwise we raised above
            # and left the evidence in place.
            statefs.truncate(self.path, complete_end, durable=self.durable)
        return seq, digest

    def _chain_onto(self, head: tuple[int, str] | None, tail: bytes) -> tuple[int, str]:
        """Check the last complete event against HEAD; roll HEAD forward over one residue.

        A residue (an event HEAD does not acknowledge yet) is accepted only if it is exactly
        what an interrupted append writes: the next seq, linked to HEAD, and hashing right.
        """
        last = parse_line(tail, path=self.path)
        last_seq, last_hash = last["seq"], last["hash"]
        if head is None:
            if is_next(last, tail, 0, GENESIS):
                return 1, last_hash
            raise AuditChainError(
                f"{self.head_path} is missing while {self.path} holds {last_seq} events; "
                "run 'agentos audit verify'"
            )
        head_seq, head_hash = head
        if (last_seq, last_hash) == (head_seq, head_hash):
            return last_seq, last_hash
        if is_next(last, tail, head_seq, head_hash):
            self._write_head(last_seq, last_hash)
            return last_seq, last_hash
        raise AuditChainError(
            f"{self.path}: the last event (seq {last_seq}) does not match HEAD (seq {head_seq}); "
            "the trail was altered — run 'agentos audit verify'"
        )

    def _read_head(self) -> tuple[int, str] | None:
        self._head_seal = None
        try:
            doc = json.loads(statefs.read_bytes(self.head_path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise AuditChainError(f"{self.head_path}: HEAD is unreadable or corrupt") from None
        if (
            not isinstance(doc, dict)
            or type(doc.get("seq")) is not int  # a JSON true is not a count
            or doc["seq"] < 0
            or not isinstance(doc.get("hash"), str)
        ):
            raise AuditChainError(f"{self.head_path}: HEAD is not {{seq, hash}}")
        self._head_seal = doc.get("seal")
        return doc["seq"], doc["hash"]

    def _last_line(self) -> tuple[bytes | None, int]:
        """The last complete line and the offset where complete lines end."""
        with statefs.open_read(self.path) as handle:
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

    # -- reading ---------------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        """Every complete event, in order, without verifying the chain.

        A line that is not an event raises ``AuditChainError`` naming it; a torn last line (an
        interrupted append) is skipped.
        """
        if not self.path.exists():
            return
        with statefs.open_read(self.path) as handle:
            for lineno, line in enumerate(handle, start=1):
                if line.endswith(b"\n"):
                    yield parse_line(line, path=self.path, lineno=lineno)

    def verify(self, anchor: tuple[int | None, str] | None = None) -> VerifyReport:
        """Check every link of the chain, HEAD and its seal; ``AuditChainError`` names the
        first break. With ``anchor`` (seq or None, hash), that event must be in the chain."""
        head, size = self._snapshot()
        vouched = self._vouched(head)
        if vouched:
            try:
                return self._verify(head, size, anchor, vouched)
            except (AuditChainError, Unvouched):
                pass  # something is off: walk again parsing every line, for the exact report
        return self._verify(head, size, anchor, 0)

    def _vouched(self, head: tuple[int, str] | None) -> int:
        """HEAD's seq when its seal verifies (so its hash is one agentos chained), else 0."""
        if head is None or not self.sealed:
            return 0
        try:
            key = self._key()
        except (AgentosError, OSError):
            return 0  # reported, in its turn, by the walk that parses every line
        payload = head_seal_payload(*head)
        return (
            head[0] if key is not None and key.verify(HEAD_PURPOSE, payload, self._head_seal) else 0
        )

    def _verify(
        self,
        head: tuple[int, str] | None,
        size: int,
        anchor: tuple[int | None, str] | None,
        vouched: int,
    ) -> VerifyReport:
        end = ChainEnd()
        if size:
            with statefs.open_read(self.path) as handle:
                # Only what was there with this HEAD: later appends are not its business.
                wanted = None if anchor is None else anchor[1]
                end = walk_chain(self.path, handle, size, wanted, vouched=vouched)
        count, prev, before_last = end.events, end.head, end.before_last
        found = None
        if anchor is not None and end.anchor_seq is not None:
            found = Anchor(end.anchor_seq, anchor[1])
        warnings: list[str] = []
        self._check_head(head, count, prev, before_last, warnings)
        self._check_seal(head)
        if anchor is not None:
            check_anchor(self.path, anchor, found, count)
        if end.torn:
            warnings.append(
                "the file ends in an incomplete line (an interrupted append); "
                "the next append removes it"
            )
        return VerifyReport(
            events=count,
            head=prev,
            warnings=tuple(warnings),
            sealed=self.sealed and head is not None,
            anchor=found,
        )

    def _snapshot(self) -> tuple[tuple[int, str] | None, int]:
        """HEAD and the trail's size, read together under the trail's lock (when it can be
        taken), so that a verify running beside appends sees one consistent state."""
        from filelock import Timeout

        size = self.path.stat().st_size if self.path.exists() else 0
        if not self.directory.is_dir():
            return self._read_head(), size
        try:
            with self.lock():
                size = self.path.stat().st_size if self.path.exists() else 0
                return self._read_head(), size
        except (Timeout, PermissionError, OSError):
            # A read-only copy of a trail, or a stuck writer: read without the lock.
            return self._read_head(), size

    def head_anchor(self) -> Anchor:
        """The trail's current head as an anchor (after verifying the whole chain)."""
        report = self.verify()
        return Anchor(report.events, report.head)

    def _check_head(
        self,
        head: tuple[int, str] | None,
        count: int,
        last_hash: str,
        before_last: str,
        warnings: list[str],
    ) -> None:
        if head is None:
            if count > 1:
                raise AuditChainError(
                    f"{self.head_path} is missing: cannot tell whether {self.path} was truncated",
                    details={"events": count},
                )
            if count == 1:
                warnings.append("HEAD is missing after the first event (an interrupted append)")
            return
        head_seq, head_hash = head
        if head_seq > count:
            raise AuditChainError(
                f"{self.path}:{count + 1}: truncated: event seq {count + 1} is missing or cut "
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
                    f"{self.head_path}: HEAD hash does not match event seq {count}; "
                    "the trail or HEAD was altered",
                    details={"head_seq": head_seq, "events": count},
                )
        elif head_seq == count - 1:
            if head_hash != before_last:
                raise AuditChainError(
                    f"{self.head_path}: HEAD hash does not match event seq {head_seq}; "
                    "the trail or HEAD was altered",
                    details={"head_seq": head_seq, "events": count},
                )
            warnings.append(
                f"the last event (seq {count}) is not yet in HEAD (an interrupted append); "
                "the next append repairs it"
            )
        else:
            raise AuditChainError(
                f"{self.path}:{head_seq + 2}: event seq {head_seq + 2} is one of "
                f"{count - head_seq} events after the last one HEAD records (seq {head_seq}); "
                "only one can be an interrupted append, so events were appended outside agentos",
                details={
                    "line": head_seq + 2,
                    "seq": head_seq + 2,
                    "head_seq": head_seq,
                    "events": count,
                },
            )
