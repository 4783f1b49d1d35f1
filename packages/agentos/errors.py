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


class PolicyOverrideError(DeniedError):
    """``--policy`` names another policy, and the workspace's own policy forbids overrides."""

    kind = "policy_override_refused"


class ApprovalRequiredError(AgentosError):
    """The change needs approvals it does not have yet."""

    exit_code = 4
    kind = "approval_required"


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


class AuditChainError(IntegrityError):
    """The audit trail's hash chain is broken, truncated or out of order."""

    kind = "audit_chain_broken"


class ExecutionFailedError(AgentosError):
    """Verification or a health check failed and the change was rolled back."""

    exit_code = 1
    kind = "execution_failed"


class RecoveryFailedError(AgentosError):
    """Rollback or recovery itself failed; the workspace needs manual attention."""

    exit_code = 8
    kind = "recovery_failed"


class BusyError(AgentosError):
    """Another agentos process holds the workspace lock; retrying later is safe."""

    exit_code = 75
    kind = "busy"


class AbortedError(AgentosError):
    """The execution was hard-stopped (SIGINT, SIGTERM or ``agentos abort``) and rolled back."""

    exit_code = 130
    kind = "aborted"
