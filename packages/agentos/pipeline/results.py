"""What each use case returns: frozen values, made once by the function that returns them.

Front-ends turn these into JSON rows, text, hook replies or tool results; nothing here knows
how they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentos.audit.folds import ExecutionView
    from agentos.audit.repairs import RepairNote
    from agentos.bootstrap import InitReport
    from agentos.executor.agentwrites import AgentRecord
    from agentos.executor.journal import Journal
    from agentos.executor.options import ApplyResult
    from agentos.executor.recovery import RecoveryOutcome
    from agentos.governance.explain import PathExplanation
    from agentos.governance.gate import GateResult
    from agentos.governance.policytest import CaseResult
    from agentos.model import Approval, ChangePlan, Decision
    from agentos.planner.preview import DiffLine
    from agentos.sweep import Bypass, SweepReport
    from agentos.verify.breaker import Breaker

# Apply statuses that are not failures.
SUCCESS = ("committed", "already_applied", "dry_run")


@dataclass(frozen=True)
class Planned:
    """A plan as written, and the WriteGate's decision on it."""

    plan: ChangePlan
    plan_file: Path
    decision: Decision


@dataclass(frozen=True)
class Checked:
    """The WriteGate's decision on a plan with its approvals counted (and, when asked, each
    rule's verdict on each path)."""

    plan: ChangePlan
    gate: GateResult
    policy_source: str
    explanation: tuple[PathExplanation, ...] | None = None
    # How the workspace no longer matches the pre-images the plan pinned (empty: not stale).
    drifted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Approved:
    """An approval just recorded, its file, and the gate's verdict with it counted."""

    plan: ChangePlan
    approval: Approval
    approval_file: Path
    gate: GateResult
    policy_source: str


@dataclass(frozen=True)
class Shown:
    """A plan under review: the decision it would get now, and its diff when asked."""

    plan: ChangePlan
    decision: Decision
    diff: tuple[DiffLine, ...] | None


@dataclass(frozen=True)
class Explained:
    """Each rule's verdict on each path of a plan under the current policy."""

    plan: ChangePlan
    decision: Decision
    rows: tuple[PathExplanation, ...]


@dataclass(frozen=True)
class GitRecorded:
    """What git recorded of one transaction (``apply --commit`` / ``--index``).

    ``commit``: the commit made, or for a replay the earlier one found by its
    ``Agentos-Execution`` trailer (``found``); ``staged``: the plan's paths staged now;
    ``error``: why the commit (or staging) failed after the files were written.
    """

    mode: str  # commit | index
    commit: str | None = None
    staged: tuple[str, ...] = ()
    found: bool = False
    error: str | None = None
    warnings: tuple[str, ...] = ()

    def row(self) -> dict[str, Any]:
        """As ``--json`` shows it."""
        return {
            "mode": self.mode,
            "commit": self.commit,
            "staged": list(self.staged),
            "found": self.found,
            "error": self.error,
        }


@dataclass(frozen=True)
class Applied:
    """The transactions of one apply (or rollback), in order; the first failure ends it.
    ``git``: with ``--commit`` / ``--index``, what git recorded of each (same order)."""

    results: tuple[ApplyResult, ...]
    git: tuple[GitRecorded, ...] = ()

    @property
    def last(self) -> ApplyResult:
        """The transaction that decides the outcome."""
        return self.results[-1]

    @property
    def ok(self) -> bool:
        """Whether every transaction ended in a success status (and git recorded it)."""
        return self.last.status in SUCCESS and self.git_error is None

    def git_of(self, index: int) -> GitRecorded | None:
        """What git recorded of the ``index``-th transaction (None: git was not asked)."""
        return self.git[index] if index < len(self.git) else None

    @property
    def git_error(self) -> GitRecorded | None:
        """The git record that failed after its files were written (None: none did)."""
        return next((g for g in self.git if g.error is not None), None)


@dataclass(frozen=True)
class Recovered:
    """What recovery did, and the policy it ran under."""

    outcomes: tuple[RecoveryOutcome, ...]
    policy: dict[str, object]


@dataclass(frozen=True)
class AbortRequest:
    """Whether a running execution was asked to stop (and which)."""

    requested: bool
    execution_id: str | None = None
    plan_id: str | None = None
    pid: int | None = None


@dataclass(frozen=True)
class WorkspaceStatus:
    """The lock, interrupted executions, circuit breakers and the last executions."""

    lock_held: bool
    holder: dict[str, Any] | None
    interrupted: tuple[Journal, ...]
    breakers: tuple[tuple[str, Breaker], ...]
    executions: tuple[ExecutionView, ...]
    # The last sweep for files changed outside agentos (None: never swept).
    sweep: SweepReport | None = None
    # The repair the audit trail starts with (None: it was never repaired).
    repaired: RepairNote | None = None


@dataclass(frozen=True)
class History:
    """Executions folded from the audit trail, newest first (``total`` before any limit)."""

    executions: tuple[ExecutionView, ...]
    total: int


@dataclass(frozen=True)
class Initialised:
    """What ``init`` created, and where the workspace key is."""

    report: InitReport
    key_file: Path
    root: Path


@dataclass(frozen=True)
class PolicyChecked:
    """A validated policy and its lint warnings."""

    source: str
    digest: str
    warnings: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PolicyTested:
    """The results of a policy's test cases."""

    source: str
    cases: tuple[CaseResult, ...]

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        """The cases that did not pass."""
        return tuple(c for c in self.cases if not c.passed)


@dataclass(frozen=True)
class AgentGate:
    """The answer to an agent's pre-write event: the verdict, one line saying why, and the
    plan and gate result (none when the write was refused before planning)."""

    verdict: str  # ALLOW | NEED_APPROVAL | DENY
    reason: str
    plan: ChangePlan | None = None
    gate: GateResult | None = None
    # Changes made outside agentos that block every agent write (``agents.bypass: block``).
    blocked_by: tuple[Bypass, ...] = ()


@dataclass(frozen=True)
class AgentRecorded:
    """What the post-write event recorded (None: the call was not staged)."""

    record: AgentRecord | None


@dataclass(frozen=True)
class Swept:
    """A sweep: what changed outside agentos, the agent writes it settled first, and
    whether the workspace as it is became the new baseline."""

    report: SweepReport
    records: tuple[AgentRecord, ...]
    accepted: bool


@dataclass(frozen=True)
class TurnEnded:
    """The end of an agent's turn: the writes settled, the sweep, and whether the policy
    says the agent must stop (``agents.bypass: block`` and something changed outside)."""

    report: SweepReport
    records: tuple[AgentRecord, ...]
    block: bool


@dataclass(frozen=True)
class FileRead:
    """A text file read within the policy (``head`` / ``tail`` lines, or all of it)."""

    path: str
    text: str
    size: int  # of the whole file, in bytes


@dataclass(frozen=True)
class DirEntry:
    """One name in a directory listing."""

    name: str
    kind: str  # file | directory | symlink | other


@dataclass(frozen=True)
class Listing:
    """A directory's entries the policy lets an agent see (``hidden``: how many it does not)."""

    path: str
    entries: tuple[DirEntry, ...]
    hidden: int


@dataclass(frozen=True)
class Found:
    """Files and directories under ``path`` whose paths match ``pattern``, in walk order."""

    path: str
    pattern: str
    matches: tuple[str, ...]
    truncated: bool


@dataclass(frozen=True)
class Proposed:
    """A change proposed in one step (the MCP write tools): the plan, the gate's verdict with
    its approvals counted, the diff against the workspace, and the apply (None: a dry run)."""

    planned: Planned
    gate: GateResult
    diff: tuple[DiffLine, ...]
    applied: Applied | None
