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
catches that. A trail with no event and no HEAD beside recorded executions was deleted
(``evidence``). A broken trail is never appended to; ``audit repair`` (``repair``) keeps it
aside and starts a new chain through ``stage_chain`` and ``commit_chain``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos import statefs
from agentos.audit.anchor import (
    HEAD_PURPOSE,
    Anchor,
    check_anchor,
    head_seal_payload,
)
from agentos.audit.chain import ChainEnd, Unvouched, check_head, last_line, walk_chain
from agentos.audit.copies import copy_appended
from agentos.audit.evidence import missing_trail
from agentos.audit.lines import GENESIS, event_hash, is_next, parse_line
from agentos.audit.repairs import RepairNote, check_repairs
from agentos.clock import Clock, rfc3339, system_clock
from agentos.digest import canonical_json
from agentos.errors import AUDIT_REPAIR_HINT, AgentosError, AuditChainError, BusyError
from agentos.faults import fault_point
from agentos.statefs import ensure_dir, fsync_dir, write_atomic

if TYPE_CHECKING:
    from filelock import BaseFileLock

    from agentos.statekey import StateKey

TRAIL_NAME = "audit.jsonl"
HEAD_NAME = "HEAD"
LOCK_NAME = "lock"
# A new chain is written here, whole, before it replaces the trail (``stage_chain``).
STAGED_NAME = "audit.jsonl.new"
LOCK_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found: the number of events, the head hash, and benign oddities."""

    events: int
    head: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    sealed: bool = False
    anchor: Anchor | None = None
    repairs: tuple[RepairNote, ...] = ()  # the chain's ``audit.repaired`` events (checked)


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

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the trail's lock for the block (``BusyError`` when it stays taken)."""
        from filelock import Timeout

        ensure_dir(self.directory)
        try:
            with self.lock():
                yield
        except Timeout:
            raise BusyError(
                f"{self.directory / LOCK_NAME}: the audit trail stayed locked for "
                f"{LOCK_TIMEOUT_SECONDS:.0f}s; retry when the other agentos process is done"
            ) from None

    def append(
        self,
        event: str,
        *,
        actor: str,
        data: dict[str, Any],
        execution_id: str | None = None,
        plan_id: str | None = None,
    ) -> dict[str, Any]:
        """Append one event under the trail's lock and return it (with seq and hash); a
        trail that does not end as HEAD says is never appended to (``AuditChainError``)."""
        try:
            with self.locked():
                return self._append_locked(event, actor, data, execution_id, plan_id)
        except AuditChainError as exc:
            raise AuditChainError(
                f"{exc.message} — {AUDIT_REPAIR_HINT}", details=exc.details
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
        record, line = self._record(
            seq, prev, event, actor=actor, data=data, execution_id=execution_id, plan_id=plan_id
        )
        fault_point("audit.append.before")
        statefs.append(self.path, line, durable=self.durable)
        if seq == 0 and self.durable:
            fsync_dir(self.directory)
        fault_point("audit.append.after")
        self._write_head(record["seq"], record["hash"])
        fault_point("audit.head.after")
        copy_appended(self.directory, self, record)
        return record

    def _record(
        self,
        seq: int,
        prev: str,
        event: str,
        *,
        actor: str,
        data: dict[str, Any],
        execution_id: str | None = None,
        plan_id: str | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """The event after (``seq``, ``prev``), and its line."""
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
        return record, canonical_json(record) + b"\n"

    def stage_chain(self, event: str, *, actor: str, data: dict[str, Any]) -> dict[str, Any]:
        """Begin a new chain in place of this one (``audit repair``, under the trail's lock,
        once the old files are kept elsewhere): its first event is written whole to
        ``STAGED_NAME``, then HEAD is made to name it. From then on the old trail no longer
        matches HEAD (so nothing appends to it), and ``staged_chain`` finds the new one."""
        record, line = self._record(0, GENESIS, event, actor=actor, data=data)
        write_atomic(self.directory / STAGED_NAME, line, durable=self.durable)
        fault_point("audit.repair.staged")
        self._write_head(1, record["hash"])
        fault_point("audit.repair.head")
        return record

    def staged_chain(self) -> dict[str, Any] | None:
        """The first event of a new chain staged by ``stage_chain`` that HEAD names (with
        this workspace's seal), else None: a staged file HEAD does not name is a leftover."""
        try:
            line = statefs.read_bytes(self.directory / STAGED_NAME)
            head = self._read_head()
            self._check_seal(head)
            record = parse_line(line, path=self.directory / STAGED_NAME)
        except (FileNotFoundError, AuditChainError):
            return None
        if head != (1, record["hash"]) or not is_next(record, line, 0, GENESIS):
            return None
        return record

    def commit_chain(self) -> None:
        """Put the staged chain in place of the trail, in one rename (the old trail's bytes
        were kept elsewhere first)."""
        statefs.rename(self.directory / STAGED_NAME, self.path)
        if self.durable:
            fsync_dir(self.directory)
        fault_point("audit.repair.committed")

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
        tail, complete_end = last_line(self.path) if size else (None, 0)
        if tail is None:
            if head is not None and head[0] != 0:
                raise AuditChainError(
                    f"{self.head_path}: HEAD says {head[0]} events but {self.path} holds no "
                    "complete event; the trail was truncated"
                )
            if head is None:
                self._refuse_if_missing()
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
                f"{self.head_path} is missing while {self.path} holds {last_seq} events"
            )
        head_seq, head_hash = head
        if (last_seq, last_hash) == (head_seq, head_hash):
            linked = last["prev"]
            # One line's hash: an edit of the last event that kept its hash member is caught.
            if isinstance(linked, str) and is_next(last, tail, last_seq - 1, linked):
                return last_seq, last_hash
            raise AuditChainError(
                f"{self.path}: the last event (seq {last_seq}) does not match its hash; it was "
                "edited"
            )
        if is_next(last, tail, head_seq, head_hash):
            self._write_head(last_seq, last_hash)
            return last_seq, last_hash
        raise AuditChainError(
            f"{self.path}: the last event (seq {last_seq}) does not match HEAD (seq {head_seq}); "
            "the trail was altered"
        )

    def _refuse_if_missing(self) -> None:
        """``AuditChainError`` when this trail, with no event and no HEAD, sits beside
        recorded executions: it was deleted (``evidence``)."""
        statefs.refuse_links(self.path)  # a link is named as such, not taken for a loss
        error = missing_trail(self.path, self.directory.parent)
        if error is not None:
            raise error

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

    def verify(
        self, anchor: tuple[int | None, str] | None = None, *, locked: bool = False
    ) -> VerifyReport:
        """Check every link of the chain, HEAD and its seal; ``AuditChainError`` names the
        first break. With ``anchor`` (seq or None, hash), that event must be in the chain.
        ``locked``: the caller holds the trail's lock. A repair the chain records is a
        warning, and the archive it names must still hold what it kept (``repairs``)."""
        head, size = self._snapshot(locked=locked)
        vouched = self._vouched(head)
        report = None
        if vouched:
            # Something off: walk again parsing every line, for the exact report.
            with contextlib.suppress(AuditChainError, Unvouched):
                report = self._verify(head, size, anchor, vouched)
        if report is None:
            report = self._verify(head, size, anchor, 0)
        repairs = check_repairs(self.directory, self.path, report.events)
        if not repairs:
            return report
        warnings = (*(note.warning() for note in repairs), *report.warnings)
        return replace(report, warnings=warnings, repairs=repairs)

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
        if count == 0 and head is None:
            self._refuse_if_missing()
        found = None
        if anchor is not None and end.anchor_seq is not None:
            found = Anchor(end.anchor_seq, anchor[1])
        warnings: list[str] = []
        check_head(
            self.path,
            self.head_path,
            head,
            count=count,
            last_hash=prev,
            before_last=before_last,
            warnings=warnings,
        )
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

    def _snapshot(self, *, locked: bool = False) -> tuple[tuple[int, str] | None, int]:
        """HEAD and the trail's size, read together under the trail's lock (when it can be
        taken), so that a verify running beside appends sees one consistent state."""
        from filelock import Timeout

        size = self.path.stat().st_size if self.path.exists() else 0
        if locked or not self.directory.is_dir():
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
