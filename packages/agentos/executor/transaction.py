"""``apply_plan``: one plan, one transaction, in the mandated order (SPEC §1, §8).

(the WriteGate, run by the caller with the current policy) -> idempotency -> lock ->
recovery -> idempotency again -> drift check -> backups + journal (durable) -> writes ->
verify -> commit point -> records -> audit.

Everything before the commit point is undone from the journal on any failure, abort or
signal; a crash is undone by the next run's recovery. The commit point is one atomic journal
update; what follows it (records, audit) is finished by recovery if a crash interrupts it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentos import statefs
from agentos.clock import rfc3339
from agentos.errors import (
    AbortedError,
    AgentosError,
    BusyError,
    ConflictError,
    DeniedError,
    HealthCheckFailed,
    IntegrityError,
    VerificationFailed,
)
from agentos.executor.abort import AbortWatch
from agentos.executor.drift import (
    check_drift,
    not_post_images,
    verify_against_journal,
)
from agentos.executor.executions import abort_marker, execution_id_for
from agentos.executor.fsops import FileState, Guard, WorkspaceWriter
from agentos.executor.idempotency import attempts_so_far, lookup, read_record
from agentos.executor.journal import (
    Journal,
    journal_on_disk,
    journal_path,
    new_tag,
    recovery_pending,
    remove_execution_files,
    write_journal,
)
from agentos.executor.lock import workspace_lock
from agentos.executor.options import ApplyOptions, ApplyResult, ResultDraft, Status
from agentos.executor.records import Recorder, finalize_commit, record_failure
from agentos.executor.recovery import recover_locked
from agentos.executor.restore import RestoreReport, roll_back
from agentos.executor.settings import ExecutorSettings
from agentos.executor.shared import shared_records
from agentos.executor.staging import build_journal, prepare, write_changes
from agentos.executor.verdicts import (
    raise_if_unhealthy,
    raise_if_unverified,
    reason_of,
)
from agentos.faults import fault_point
from agentos.model import ChangePlan
from agentos.verify.syntax import syntax_problems
from agentos.workspace import Workspace, ensure_state_dir

if TYPE_CHECKING:
    from agentos.verify.health import CheckResult


def apply_plan(
    workspace: Workspace, plan: ChangePlan, settings: ExecutorSettings, options: ApplyOptions
) -> ApplyResult:
    """Apply ``plan`` (already allowed by the WriteGate) as one transaction."""
    return _Transaction(workspace, plan, settings, options).run()


class _Transaction:
    """One plan's way through the executor; each method is one stage."""

    def __init__(
        self,
        workspace: Workspace,
        plan: ChangePlan,
        settings: ExecutorSettings,
        options: ApplyOptions,
    ) -> None:
        self.workspace = workspace
        self.plan = plan
        self.settings = settings
        self.options = options
        self.state_dir = workspace.state_dir
        self.recorder = Recorder(workspace, options.actor, options.clock)
        self.execution_id = execution_id_for(plan.plan_id, plan.changeset.checksum)
        self.checksum = plan.changeset.checksum
        self.ids = (self.execution_id, plan.plan_id)
        self.draft = ResultDraft()
        self.durable = settings.durable
        self.keep = settings.backups_keep
        self.ttl = settings.cached_result_ttl if settings.idempotency_enabled else 0.0
        self.guard = Guard(settings.allowed_paths, settings.forbidden_paths)
        self.started = time.monotonic()
        self.deadline: float | None = None
        # The journal as last written (its phase tells a rollback whose writes to undo).
        self.journal: Journal | None = None

    def _stop(self, status: Status, message: str) -> ApplyResult:
        """The result of this transaction, which ends here."""
        return self.draft.result(self.plan, self.options, status=status, message=message)

    def run(self) -> ApplyResult:
        # The fast replay (no lock) only when no execution waits for recovery: recovery may
        # change what the records say (a rollback whose commit a crash cut short).
        if not recovery_pending(self.state_dir) and self._replay():
            return self._replayed("a committed record exists")
        settings = self.settings
        timeout = self.options.lock_timeout
        if timeout is None:
            timeout = settings.lock_timeout
        holder = {
            "execution_id": self.execution_id,
            "plan_id": self.plan.plan_id,
            "operation": self.options.kind,
        }
        ensure_state_dir(self.workspace)
        locked = (
            workspace_lock(
                self.workspace,
                timeout=timeout,
                holder=holder,
                on_wait=self.options.on_wait,
                clock=self.options.clock,
            )
            if settings.lock_enabled
            else contextlib.nullcontext()
        )
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(locked)
            except BusyError as exc:
                return self._busy(exc)
            self.recorder.event("lock.acquired", *self.ids, {"timeout": timeout})
            recover_locked(self.workspace, self.recorder, self.guard)
            if self._replay():
                return self._replayed("a committed record exists")
            return self._locked()

    def _busy(self, exc: BusyError) -> ApplyResult:
        """Another process held the lock for the whole timeout: nothing was done (exit 75)."""
        holder = exc.details.get("holder")
        self.draft.holder = holder if isinstance(holder, dict) else None
        self.draft.error = {"type": exc.kind, "message": exc.message, "details": exc.details}
        return self._stop("busy", exc.message)

    def _replay(self) -> bool:
        record = read_record(self.state_dir, self.plan.plan_id)
        now = self.options.clock()
        if lookup(record, checksum=self.checksum, now=now, ttl=self.ttl) == "replay":
            return True
        # Another runner's commit of this plan id counts too (a shared store, SPEC §14); an
        # unreachable store stops the apply here, before anything is written.
        shared = shared_records(self.state_dir)
        if shared is None:
            return False
        other = shared.idempotency(self.plan.plan_id)
        return lookup(other, checksum=self.checksum, now=now, ttl=self.ttl) == "replay"

    def _replayed(self, why: str) -> ApplyResult:
        # Stripe semantics: the recorded result stands, but say if the files moved on since.
        reader = WorkspaceWriter(self.workspace.root, self.guard, tag=new_tag(), durable=False)
        changed = not_post_images(self.plan, reader)
        data = {"checksum": self.checksum, "reason": why, "changed_since": changed}
        self.recorder.event("apply.replayed", *self.ids, data)
        self.draft.changed_since = changed
        if changed:
            self.draft.warnings.append(
                f"{', '.join(changed)} no longer hold(s) what this plan wrote (changed since it "
                "was applied); nothing was written"
            )
        return self._stop("already_applied", f"already applied ({why}); nothing written")

    def _locked(self) -> ApplyResult:
        plan, draft, options = self.plan, self.draft, self.options
        self.started = time.monotonic()
        marker = abort_marker(self.state_dir, self.execution_id)
        # A marker left by an earlier run of these bytes must not stop this one.
        statefs.unlink(marker, missing_ok=True)
        record = read_record(self.state_dir, plan.plan_id)
        draft.attempt = attempts_so_far(record, self.checksum) + 1
        self.recorder.event(
            "apply.started",
            *self.ids,
            {
                "checksum": self.checksum,
                "kind": options.kind,
                "parent": options.parent,
                "attempt": draft.attempt,
                "files": len(plan.changeset.changes),
                "dry_run": options.dry_run,
                "policy": options.policy,
            },
        )
        writer = WorkspaceWriter(
            self.workspace.root, self.guard, tag=new_tag(), durable=self.durable
        )
        drift = check_drift(plan, writer)
        self.recorder.event(
            "drift.checked",
            *self.ids,
            {"drifted": drift.drifted, "post_images": drift.holds_post_images},
        )
        if drift.holds_post_images:
            self._finalize(None)
            return self._stop(
                "already_applied",
                "already applied (the workspace holds every post-image); nothing written",
            )
        if drift.drifted:
            draft.drifted = drift.drifted
            refusal = {"status": "stale", "drifted": drift.drifted}
            self.recorder.event("apply.refused", *self.ids, refusal)
            return self._stop(
                "stale",
                f"the workspace changed since the plan was made: {'; '.join(drift.drifted)}; "
                "nothing written — plan again against the current files",
            )
        if options.dry_run:
            count = len(plan.changeset.changes)
            self.recorder.event("apply.refused", *self.ids, {"status": "dry_run", "files": count})
            return self._stop("dry_run", f"dry run: would write {count} file(s); nothing written")
        journal = build_journal(
            plan,
            writer,
            current=drift.current,
            guard=self.guard,
            execution_id=self.execution_id,
            kind=options.kind,
            parent=options.parent,
            attempt=draft.attempt,
            exact_modes=options.exact_modes,
            started_at=rfc3339(options.clock()),
        )
        limit = self.settings.max_execution_time
        self.deadline = self.started + limit if limit is not None else None
        abort = AbortWatch(marker, deadline=self.deadline)
        # Signals are deferred for the whole transaction, its rollback and its records: a
        # Ctrl-C can stop the writes, never interrupt the undoing of them.
        with abort.signals():
            try:
                committed = self._commit(journal, writer, drift.current, abort)
            except BaseException as exc:  # every failure before the commit point: roll back
                on_disk = journal_on_disk(self.state_dir, journal.execution_id)
                if on_disk is None or on_disk.state != "committed":
                    return self._rolled_back(self.journal or journal, exc)
                # The commit record reached the disk before the failure: the change stands.
                committed = on_disk
                draft.warnings.append(
                    f"an error after the commit point ({reason_of(exc)}); the change is committed"
                )
            self._finalize(committed)
            if abort.reason is not None:
                draft.warnings.append(
                    f"{abort.reason} arrived after the commit point; the change is committed"
                )
        statefs.unlink(marker, missing_ok=True)
        return self._stop("committed", f"applied {len(plan.changeset.changes)} change(s)")

    def _commit(
        self,
        journal: Journal,
        writer: WorkspaceWriter,
        current: dict[str, FileState | None],
        abort: AbortWatch,
    ) -> Journal:
        """Journal, write, verify, and the commit point; raises on any failure."""
        self.journal = journal
        prepare(self.state_dir, journal, current)
        self.recorder.event(
            "journal.prepared",
            *self.ids,
            {"entries": len(journal.entries), "created_dirs": journal.created_dirs},
        )
        write_changes(self.plan, journal, writer, abort, self.options.progress)
        self.recorder.event("changes.written", *self.ids, {"files": len(journal.changes)})
        problems = verify_against_journal(journal, writer)
        if not problems and self.options.syntax_checks:
            problems = syntax_problems(self.plan)
        verified = {
            "ok": not problems,
            "problems": problems,
            "syntax_checks": self.options.syntax_checks,
        }
        self.recorder.event("verify.finished", *self.ids, verified)
        raise_if_unverified(problems)
        abort.check()
        if self.options.checks:
            # From here on the checks may write too; the journal says so, so that a rollback
            # (now or after a crash) undoes their writes to planned paths with the change.
            journal = journal.model_copy(update={"phase": "checking"})
            write_journal(self.state_dir, journal)
            self.journal = journal
        self.draft.checks = self._health(abort, retries=True, record_as="health.finished")
        raise_if_unhealthy(self.draft.checks, abort)
        abort.check()
        if self.options.checks:
            # The checks ran against the new files and may have rewritten them: what commits
            # must be exactly what was planned and verified.
            changed = verify_against_journal(journal, writer)
            self.recorder.event(
                "verify.finished",
                *self.ids,
                {"ok": not changed, "problems": changed, "after_checks": True},
            )
            if changed:
                names = ", ".join(r.name for r in self.draft.checks)
                raise VerificationFailed(
                    f"verification after the health checks failed: {'; '.join(changed)} "
                    f"(changed while the health checks ran: {names})"
                )
        fault_point("commit.before")
        stamp = rfc3339(self.options.clock())
        committed = journal.with_state("committed", committed_at=stamp)
        write_journal(self.state_dir, committed)
        fault_point("commit.after")
        return committed

    def _finalize(self, journal: Journal | None) -> None:
        try:
            finalize_commit(
                self.workspace,
                self.recorder,
                journal,
                plan=self.plan,
                attempt=self.draft.attempt,
                durable=self.durable,
                keep=self.keep,
            )
        except (OSError, AgentosError) as exc:
            # Past the commit point the change stands; what failed is only its paperwork,
            # which recovery finishes (the journal is still active until it is archived).
            self.draft.warnings.append(
                f"the change is committed, but recording it failed ({reason_of(exc)}); the next "
                "agentos command finishes the records"
            )

    def _health(self, abort: AbortWatch, *, retries: bool, record_as: str) -> list[CheckResult]:
        checks = self.options.checks
        if not checks:
            return []
        # Imported here: subprocesses, sockets and HTTP only for plans that have checks.
        from agentos.executor.healthstage import run_health_stage

        if not retries:
            failed = {r.name for r in self.draft.checks if r.status == "failed"}
            checks = tuple(c for c in checks if c.name in failed)
        return run_health_stage(
            self.workspace,
            checks,
            execution_id=self.execution_id,
            default_timeout=self.settings.max_step_time,
            abort=abort,
            event=lambda name, data: self.recorder.event(name, *self.ids, data),
            retries=retries,
            record_as=record_as,
            count_in_breakers=retries,
            on_check=self.options.on_check,
        )

    def _bookkeeping(self, step: Callable[[], None]) -> None:
        """Run a record-keeping step of a rollback; a failure becomes a warning."""
        try:
            step()
        except (OSError, AgentosError) as exc:
            self.draft.warnings.append(f"could not record the rollback ({reason_of(exc)})")

    def _rolled_back(self, journal: Journal, exc: BaseException) -> ApplyResult:
        """Undo whatever the attempt wrote, record it, say why (RecoveryFailedError if not)."""
        draft, state_dir = self.draft, self.state_dir
        aborted = isinstance(exc, (AbortedError, KeyboardInterrupt))
        reason = reason_of(exc)
        if journal_path(state_dir, journal.execution_id).exists():
            report = self._undo(journal, exc)
            draft.warnings.extend(report.warnings)
            data = {
                "restored": report.restored,
                "removed": report.removed,
                "displaced": sorted(report.displaced),
                "durable": report.durable,
                "warnings": report.warnings,
            }
            self._bookkeeping(lambda: self.recorder.event("rollback.finished", *self.ids, data))
            if report.durable:
                remove_execution_files(state_dir, journal.execution_id)
        else:
            # The journal never reached the disk, so neither did any workspace write.
            remove_execution_files(state_dir, journal.execution_id)
        self._bookkeeping(
            lambda: record_failure(self.workspace, self.recorder, journal, attempt=draft.attempt)
        )
        event = "apply.aborted" if aborted else "apply.failed"
        failure = {"reason": reason, "attempt": draft.attempt}
        self._bookkeeping(lambda: self.recorder.event(event, *self.ids, failure))
        kind = "aborted" if aborted else getattr(exc, "kind", "execution_failed")
        draft.error = {"type": kind, "message": reason, "details": {"reason": reason}}
        message = f"{reason}; rolled back, the workspace is unchanged"
        if not isinstance(exc, (AgentosError, OSError, KeyboardInterrupt)):
            log = statefs.save_traceback(self.workspace.root, exc, at=self.options.clock())
            message += f" (a bug in agentos: traceback saved to {log})"
        statefs.unlink(abort_marker(state_dir, self.execution_id), missing_ok=True)
        return self._stop("aborted" if aborted else "rolled_back", message)

    def _undo(self, journal: Journal, exc: BaseException) -> RestoreReport:
        """Roll the journal back; after a failed check, re-run it against the old files.

        The re-run may write as well (a formatter run again), so the journal stays hot, in
        phase ``checking``, until a second, idempotent pass has undone that too: a crash
        during the re-run is recovered like one during the checks.
        """
        rerun = isinstance(exc, HealthCheckFailed)
        try:
            report = roll_back(
                self.workspace.root, self.state_dir, journal, guard=self.guard, mark=not rerun
            )
            if rerun:
                again = AbortWatch(
                    abort_marker(self.state_dir, self.execution_id), deadline=self.deadline
                )
                self._bookkeeping(
                    lambda: self.draft.post_rollback.extend(
                        self._health(again, retries=False, record_as="health.post_rollback")
                    )
                )
                report = report.merged(
                    roll_back(self.workspace.root, self.state_dir, journal, guard=self.guard)
                )
        except (DeniedError, ConflictError, IntegrityError) as refusal:
            # It changed nothing and the journal stays hot: a person decides (exit 5/3/6).
            refused = {"reason": refusal.kind, "paths": refusal.details.get("paths", [])}
            self._bookkeeping(lambda: self.recorder.event("rollback.refused", *self.ids, refused))
            raise refusal from exc
        return report
