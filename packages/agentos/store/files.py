"""The file store: the state under ``<workspace>/.agentos/``, as agentos has always kept it.

Every method hands over to the module that owns that state (``governance.approvals``,
``executor.idempotency``, ``executor.executions``, ``verify.breaker``, ``audit.trail``), so
the formats on disk and their seals are exactly theirs; only ``statefs`` writes the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos.store.base import RecordedApproval, StoreAuditReport, StoreKind
from agentos.workspace import Workspace

if TYPE_CHECKING:
    from agentos.audit.trail import AuditTrail
    from agentos.executor.executions import ExecutionRecord
    from agentos.executor.idempotency import IdempotencyRecord
    from agentos.model import Approval
    from agentos.verify.breaker import Breaker


class FileStore:
    """The files under ``root/.agentos`` (the embedded default)."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.workspace = Workspace(root)
        self.state_dir = self.workspace.state_dir
        self.durable = durable

    @property
    def kind(self) -> StoreKind:
        return "files"

    @property
    def display(self) -> str:
        return str(self.state_dir)

    def put_approval(self, approval: Approval) -> None:
        from agentos.governance.approvals import save_approval, seal_approval
        from agentos.statekey import state_key

        if approval.seal is None:
            approval = seal_approval(approval, state_key(self.state_dir))
        save_approval(self.workspace.approvals_dir, approval)

    def approvals(self, plan_id: str) -> list[Approval]:
        from agentos.governance.approvals import read_approval

        folder = self.workspace.approvals_dir / plan_id
        if not folder.is_dir():
            return []
        found = [read_approval(path) for path in sorted(folder.glob("*.json"))]
        return sorted(found, key=lambda a: (a.approved_at, a.checksum, a.approver))

    def recorded_approvals(self, plan_id: str) -> list[RecordedApproval]:
        from agentos.governance.approvals import read_approval

        folder = self.workspace.approvals_dir / plan_id
        if not folder.is_dir():
            return []
        found = [
            RecordedApproval(str(path), read_approval(path), own=True)
            for path in sorted(folder.glob("*.json"))
        ]
        return sorted(found, key=lambda r: (r.approval.approved_at, r.source))

    def idempotency(self, plan_id: str) -> IdempotencyRecord | None:
        from agentos.executor.idempotency import read_record

        return read_record(self.state_dir, plan_id)

    def put_idempotency(self, record: IdempotencyRecord) -> bool:
        # One workspace, one writer at a time (under its lock): the record always stands.
        from agentos.executor.idempotency import write_record

        write_record(self.state_dir, record, durable=self.durable)
        return True

    def put_execution(self, record: ExecutionRecord) -> None:
        from agentos.executor.executions import write_execution

        write_execution(self.state_dir, record, durable=self.durable)

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        from agentos.executor.executions import read_execution

        return read_execution(self.state_dir, execution_id)

    def breakers(self) -> dict[str, Breaker]:
        from agentos.verify.breaker import load_breakers

        return load_breakers(self.state_dir)

    def put_breakers(self, breakers: dict[str, Breaker]) -> None:
        from agentos.verify.breaker import load_breakers, save_breakers

        save_breakers(self.state_dir, {**load_breakers(self.state_dir), **breakers})

    def copy_audit_event(self, trail: AuditTrail, record: dict[str, Any]) -> None:
        """Nothing to do: the trail itself is this store's record of the events."""

    def verify_audit(self, trail: AuditTrail | None = None) -> StoreAuditReport:
        from agentos.audit.trail import AuditTrail

        own = trail if trail is not None else AuditTrail(self.workspace.audit_dir)
        report = own.verify()
        return StoreAuditReport(
            events=report.events, head=report.head, sources=1, warnings=report.warnings
        )
