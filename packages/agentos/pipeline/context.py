"""The one value every use case runs over, and how a front-end makes it.

A ``Context`` names the workspace, who acts, the clock, the policy in force (loaded on first
use, so commands that do not need it never read it), the audit trail, and the callbacks a
front-end may give: ``progress`` while files are written, ``on_check`` while health checks
run, ``on_wait`` while the lock is awaited. Front-ends build one with ``open_context`` and
pass it to every pipeline function.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentos.audit.copies import copy_events
from agentos.audit.trail import AuditTrail
from agentos.clock import Clock, system_clock
from agentos.errors import UsageError
from agentos.executor.shared import share_records
from agentos.workspace import Workspace

if TYPE_CHECKING:
    from agentos.executor.shared import SharedRecords
    from agentos.governance.approvals import SshRunner
    from agentos.governance.policyfile import LoadedPolicy
    from agentos.model import ChangePlan
    from agentos.store.base import Store
    from agentos.verify.health import CheckProgress

# Called as (done, total) while an apply writes files.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Context:
    """Where and as whom the pipeline runs, under which policy and clock."""

    workspace: Workspace
    actor: str
    policy_path: Path | None = None
    # A policy already loaded (a server holding it, a test); else ``policy_path`` is read.
    loaded_policy: LoadedPolicy | None = None
    clock: Clock = system_clock
    approval_key: bytes | None = None
    progress: Progress | None = None
    # Told (check name, state, attempt) as each health check runs and ends.
    on_check: CheckProgress | None = None
    on_wait: Callable[[str], None] | None = None
    # Runs ssh-keygen for SSH-signed approvals (None: the real one; tests inject a fake).
    ssh_runner: SshRunner | None = None

    @cached_property
    def policy(self) -> LoadedPolicy:
        """The policy in force: ``policy_path``, else the workspace's, else the packaged one."""
        from agentos.governance.policyfile import load_policy

        if self.loaded_policy is not None:
            return self.loaded_policy
        return load_policy(self.policy_path, self.workspace)

    @cached_property
    def audit(self) -> AuditTrail:
        """The workspace's audit trail, stamped by this context's clock."""
        return AuditTrail(self.workspace.audit_dir, clock=self.clock)

    @cached_property
    def store(self) -> Store:
        """Where the shared control state lives (SPEC §14): ``AGENTOS_STORE``, else the
        policy's ``store.url`` (the policy is read only when the variable is unset), else
        the files under ``.agentos/``."""
        from agentos.store import STORE_ENV, open_store, selected_url

        configured = None
        if not os.environ.get(STORE_ENV, "").strip():
            configured = self.policy.policy.store.url
        address, _ = selected_url(configured)
        return open_store(self.workspace.root, address)

    @cached_property
    def may_share(self) -> bool:
        """Whether a shared store may be selected (asked once per context):
        ``AGENTOS_STORE`` is set, or the policy file mentions ``store`` (only then is the
        policy parsed: ``status`` stays light with the files)."""
        from agentos.store import STORE_ENV

        if os.environ.get(STORE_ENV, "").strip():
            return True
        if self.loaded_policy is not None:
            return self.loaded_policy.policy.store.url is not None
        path = self.policy_path or self.workspace.policy_path
        try:
            return b"store" in path.read_bytes()
        except OSError:
            return False

    def shared_records(self) -> SharedRecords | None:
        """The store, when it is shared (not the workspace's own files)."""
        store = self.store
        return None if store.kind == "files" else store

    def copy_event(self, trail: AuditTrail, record: dict[str, Any]) -> None:
        """Copy an event just appended to the trail into a shared store, if one is
        selected; a store that cannot take it now gets it with the next one."""
        from agentos.errors import AgentosError

        try:
            store = self.shared_records()
        except AgentosError:
            return  # a bad policy or address is reported by the commands that need them
        if store is not None:
            with contextlib.suppress(AgentosError):
                self.store.copy_audit_event(trail, record)


def open_context(
    directory: str | Path = ".",
    *,
    policy: Path | None = None,
    actor: str | None = None,
    clock: Clock = system_clock,
    approval_key: bytes | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Context:
    """A context for the workspace at ``directory`` (which must exist). The actor defaults to
    the OS user, the approval key to ``AGENTOS_APPROVAL_KEY``. A ``policy`` file that does
    not exist is a ``UsageError`` here, for every command, even one that never reads it."""
    if policy is not None and not policy.is_file():
        what = "is a directory, not a YAML file" if policy.is_dir() else "does not exist"
        raise UsageError(
            f"policy file {str(policy)!r} {what}; pass an existing file with --policy or "
            "create one with 'agentos init'"
        )
    ctx = Context(
        workspace=Workspace.open(directory),
        actor=actor if actor is not None else os_user(),
        policy_path=policy,
        clock=clock,
        approval_key=approval_key if approval_key is not None else approval_key_from_env(),
        on_wait=on_wait,
    )
    # Events and commits also reach a shared store, when one is selected (resolved lazily:
    # a command that appends nothing never looks for one).
    copy_events(ctx.workspace.audit_dir, ctx.copy_event)
    share_records(ctx.workspace.state_dir, ctx.shared_records)
    return ctx


def os_user() -> str:
    """The OS user: the default author of plans and actor of events."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


# The variable ``governance.approvals.KEY_ENV`` names, spelled here so that opening a context
# does not import that module (and with it the policy and plan models) for status or history.
APPROVAL_KEY_ENV = "AGENTOS_APPROVAL_KEY"


def approval_key_from_env() -> bytes | None:
    """The HMAC key for approvals, from ``AGENTOS_APPROVAL_KEY`` (None when unset or empty)."""
    value = os.environ.get(APPROVAL_KEY_ENV)
    return value.encode("utf-8") if value else None


def resolve_plan_file(workspace: Workspace, ref: str, *, base: Path | None = None) -> Path:
    """A plan file given as a path (a relative one from ``base``, else from the working
    directory), or as a plan id stored under ``.agentos/plans/`` (or a unique prefix of one,
    ``agentos.pipeline.refs``)."""
    from agentos.pipeline.refs import is_file, resolve_plan_id

    path = Path(ref) if base is None else base / ref
    if is_file(path):
        return path
    stored = workspace.plans_dir / f"{ref}.json"
    if "/" not in ref and is_file(stored):
        return stored
    found = resolve_plan_id(workspace.plans_dir, ref)
    if found is not None:
        return workspace.plans_dir / f"{found}.json"
    raise UsageError(
        f"{ref!r} is neither a plan file nor the id of a plan in {workspace.plans_dir}; "
        "pass the file 'agentos plan' wrote"
    )


def load_plan_ref(ctx: Context, ref: str, *, base: Path | None = None) -> tuple[Path, ChangePlan]:
    """The plan a reference names (file or id; see ``resolve_plan_file``), verified, with
    its file."""
    from agentos.planner.planfile import load_plan

    path = resolve_plan_file(ctx.workspace, ref, base=base)
    return path, load_plan(path)
