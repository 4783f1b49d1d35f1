"""The one exception hierarchy of agentos; each class carries its exit code (SPEC §3).

Core code raises these and never exits; the CLI maps them to exit codes and renders them in one
place (``agentos.cli.app``). Messages say what happened, to which file, and what to do next.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AgentosError(Exception):
    """Root of every error agentos reports on purpose."""

    exit_code: ClassVar[int] = 70
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class UsageError(AgentosError):
    """A command was called wrongly: a bad flag value, a missing file, nothing to do."""

    exit_code = 2
    kind = "usage_error"


class InvalidInputError(AgentosError):
    """An input cannot be understood: an unparsable patch, plan file, manifest or policy."""

    exit_code = 2
    kind = "invalid_input"


class PolicyError(InvalidInputError):
    """A policy file is not valid YAML or does not match the policy schema (exit 2)."""

    kind = "policy_error"

    def __init__(
        self,
        problems: list[str],
        *,
        source: str,
        subject: str = "policy",
        advice: str = "fix the policy file, then check it with 'agentos policy validate'",
        summary: str | None = None,
    ) -> None:
        shown = summary or "; ".join(problems[:3]) + (
            f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        super().__init__(
            f"invalid {subject}: {shown} — {advice}",
            details={"policy": source, "problems": problems},
        )
        self.problems = problems


class PatchParseError(InvalidInputError):
    """A diff, Codex patch, manifest or edit list is malformed."""

    kind = "patch_parse_error"


class PlanFormatError(InvalidInputError):
    """A plan file is not valid JSON, not a plan, or from a format version this build refuses."""

    kind = "plan_format_error"


class UnsupportedFileError(InvalidInputError):
    """A change touches a symlink, device, FIFO, socket or submodule, which agentos never writes."""

    kind = "unsupported_file"


class DeniedError(AgentosError):
    """The change is refused by policy."""

    exit_code = 3
    kind = "denied"


class PathSafetyError(DeniedError):
    """A path escapes the workspace or names something agentos must never touch (SPEC §6.1)."""

    kind = "path_safety"


class InputTooLargeError(DeniedError):
    """An input, or a file it would produce, is larger than the policy's limits allow."""

    kind = "input_too_large"


class WriteRefusedError(DeniedError):
    """The file-writing layer refused a path the rules forbid (a caller skipped the gate)."""

    kind = "write_refused"


class ReadRefusedError(DeniedError):
    """A read the policy does not allow (``agentos mcp``'s read tools): a forbidden path, a
    path through a symbolic link, agentos's own state, or a file that is not text."""

    kind = "read_refused"


class PolicyOverrideError(DeniedError):
    """``--policy`` names another policy, and the workspace's own policy forbids overrides."""

    kind = "policy_override_refused"


class ConflictError(AgentosError):
    """The change does not fit the workspace as it is now."""

    exit_code = 5
    kind = "conflict"


class PatchConflictError(ConflictError):
    """A patch does not apply: a hunk's context is missing, a file to change does not exist."""

    kind = "patch_does_not_apply"


class RollbackConflictError(ConflictError):
    """A rollback would overwrite files that changed after the execution it undoes was
    interrupted; it changed nothing, and the journal waits for a person to decide."""

    kind = "rollback_conflict"


class PlanIdConflictError(ConflictError):
    """A plan id is taken by another changeset: the queue holds a pending, running or done job
    of that plan id with another checksum (SPEC §8: one plan id, one changeset)."""

    kind = "plan_id_conflict"


class IntegrityError(AgentosError):
    """Stored data was altered: a plan's checksum, an approval's signature, the audit chain."""

    exit_code = 6
    kind = "integrity_violation"


class ChecksumMismatchError(IntegrityError):
    """A plan's changes do not hash to its recorded checksum."""

    kind = "checksum_mismatch"


class StateIntegrityError(IntegrityError):
    """A file under ``.agentos/`` (journal, record, backup, approval) is not sealed by this
    workspace's key, or does not match its seal: it was forged or altered."""

    kind = "state_integrity"


class InvalidApprovalError(IntegrityError):
    """An approval was presented that is forged, for other bytes, or not allowed (exit 6)."""

    kind = "invalid_approval"


class AuditChainError(IntegrityError):
    """The audit trail's hash chain is broken, truncated or out of order, or the trail is
    missing while executions are recorded."""

    kind = "audit_chain_broken"


# What to do about a broken trail, added to the error of every command that would append to it.
AUDIT_REPAIR_HINT = (
    "run 'agentos audit verify' to see where, then 'agentos audit repair' to archive it and "
    "start a new chain"
)


class ExecutionFailedError(AgentosError):
    """An attempt failed before its commit point and was rolled back (exit 1)."""

    exit_code = 1
    kind = "execution_failed"


class VerificationFailed(ExecutionFailedError):
    """The written files do not hold the planned post-images, or do not parse."""

    kind = "verification_failed"


class HealthCheckFailed(ExecutionFailedError):
    """A health check failed after the writes."""

    kind = "health_check_failed"


class ExecutionTimedOut(ExecutionFailedError):
    """The apply ran longer than ``executor.constraints.max_execution_time``."""

    kind = "timeout"


class RecoveryFailedError(AgentosError):
    """Rollback or recovery itself failed; the workspace needs manual attention."""

    exit_code = 8
    kind = "recovery_failed"


class BusyError(AgentosError):
    """Another agentos process holds the workspace lock; retrying later is safe."""

    exit_code = 75
    kind = "busy"


class StoreUnavailableError(AgentosError):
    """The shared store (PostgreSQL, SPEC §14) cannot be reached now; retrying later is safe
    (exit 75, as for a busy lock)."""

    exit_code = 75
    kind = "store_unavailable"


class StoreSchemaError(AgentosError):
    """The shared store's schema is missing, older than this agentos needs (run ``agentos
    store migrate``), or newer than it knows (upgrade agentos)."""

    exit_code = 2
    kind = "store_schema"


class AbortedError(AgentosError):
    """The execution was hard-stopped (SIGINT, SIGTERM or ``agentos abort``) and rolled back."""

    exit_code = 130
    kind = "aborted"


class BinaryPatchError(Exception):
    """A binary hunk is corrupt or does not fit its pre-image (a message without the path;
    the planner turns it into a ``PatchParseError`` or ``PatchConflictError`` naming both)."""


class BinaryTooLargeError(BinaryPatchError):
    """A binary hunk declares more than the file-size limit it is read under allows.

    ``what`` opens the sentence ("the binary patch declares"), ``declared`` is the size it
    names, ``limit`` the largest file allowed and ``note`` says more when the bound broken is
    derived from it; the caller adds the input, the path and the policy key.
    """

    def __init__(self, what: str, declared: int, limit: int, note: str = "") -> None:
        super().__init__(f"{what} {declared} bytes, more than the limit of {limit}{note}")
        self.what = what
        self.declared = declared
        self.limit = limit
        self.note = note


def bug_message(exc: BaseException, log: object) -> str:
    """The one line that reports a bug in agentos, with where its traceback was saved."""
    return (
        f"internal error (a bug in agentos): {type(exc).__name__}: {exc}; "
        f"traceback saved to {log} — please report it"
    )
