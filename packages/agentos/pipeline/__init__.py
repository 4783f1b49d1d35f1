"""The pipeline as a library: every front-end (the CLI, agent hooks, the MCP server, a queue
worker) runs plan -> gate -> approve -> execute through these functions, and only these
sequence the stages (SPEC §1).

Each use case is a plain function over a ``Context`` returning a frozen result::

    from agentos import pipeline

    ctx = pipeline.open_context("path/to/workspace", actor="ci-bot")
    inputs = (pipeline.PlanInput(name="fix.diff", data=patch_bytes),)
    planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=inputs, intent="fix"))
    checked = pipeline.check(ctx, planned.plan)
    applied = pipeline.apply(ctx, [planned.plan])

Importing this package loads neither typer nor rich, and the stages' modules only when a
use case runs.
"""

from __future__ import annotations

from agentos.pipeline.context import (
    Context,
    approval_key_from_env,
    load_plan_ref,
    open_context,
    os_user,
    resolve_plan_file,
)
from agentos.pipeline.execution import abort, apply, recover, rollback
from agentos.pipeline.gating import (
    PlanRequest,
    approve,
    check,
    check_author,
    explain,
    plan,
    read_plan_inputs,
    show,
)
from agentos.pipeline.queries import (
    audit_events,
    execution,
    history,
    init,
    run_policy_cases,
    status,
    validate_policy,
)
from agentos.pipeline.results import (
    SUCCESS,
    AbortRequest,
    Applied,
    Approved,
    Checked,
    Explained,
    History,
    Initialised,
    Planned,
    PolicyChecked,
    PolicyTested,
    Recovered,
    Shown,
    WorkspaceStatus,
)
from agentos.planner.inputs import PlanInput

__all__ = [
    "SUCCESS",
    "AbortRequest",
    "Applied",
    "Approved",
    "Checked",
    "Context",
    "Explained",
    "History",
    "Initialised",
    "PlanInput",
    "PlanRequest",
    "Planned",
    "PolicyChecked",
    "PolicyTested",
    "Recovered",
    "Shown",
    "WorkspaceStatus",
    "abort",
    "apply",
    "approval_key_from_env",
    "approve",
    "audit_events",
    "check",
    "check_author",
    "execution",
    "explain",
    "history",
    "init",
    "load_plan_ref",
    "open_context",
    "os_user",
    "plan",
    "read_plan_inputs",
    "recover",
    "resolve_plan_file",
    "rollback",
    "run_policy_cases",
    "show",
    "status",
    "validate_policy",
]
