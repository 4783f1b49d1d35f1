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

Importing this package loads nothing else: each name is imported from its module on first
use (so ``agentos.pipeline.results`` alone does not load every use case), and neither typer
nor rich is ever loaded here. One execution's view is ``agentos.pipeline.queries.execution``
(``pipeline.execution`` is the module of apply, rollback, recover and abort).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentos.pipeline.auditing import repair_audit
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

# Where each public name lives: imported on first use (PEP 562).
_LAZY = {
    "AbortRequest": "agentos.pipeline.results",
    "Applied": "agentos.pipeline.results",
    "Approved": "agentos.pipeline.results",
    "Checked": "agentos.pipeline.results",
    "Context": "agentos.pipeline.context",
    "Explained": "agentos.pipeline.results",
    "History": "agentos.pipeline.results",
    "Initialised": "agentos.pipeline.results",
    "PlanInput": "agentos.planner.inputs",
    "PlanRequest": "agentos.pipeline.gating",
    "Planned": "agentos.pipeline.results",
    "PolicyChecked": "agentos.pipeline.results",
    "PolicyTested": "agentos.pipeline.results",
    "Recovered": "agentos.pipeline.results",
    "SUCCESS": "agentos.pipeline.results",
    "Shown": "agentos.pipeline.results",
    "WorkspaceStatus": "agentos.pipeline.results",
    "abort": "agentos.pipeline.execution",
    "apply": "agentos.pipeline.execution",
    "approval_key_from_env": "agentos.pipeline.context",
    "approve": "agentos.pipeline.gating",
    "audit_events": "agentos.pipeline.queries",
    "check": "agentos.pipeline.gating",
    "check_author": "agentos.pipeline.gating",
    "explain": "agentos.pipeline.gating",
    "history": "agentos.pipeline.queries",
    "init": "agentos.pipeline.queries",
    "load_plan_ref": "agentos.pipeline.context",
    "open_context": "agentos.pipeline.context",
    "os_user": "agentos.pipeline.context",
    "plan": "agentos.pipeline.gating",
    "read_plan_inputs": "agentos.pipeline.gating",
    "recover": "agentos.pipeline.execution",
    "repair_audit": "agentos.pipeline.auditing",
    "resolve_plan_file": "agentos.pipeline.context",
    "rollback": "agentos.pipeline.execution",
    "run_policy_cases": "agentos.pipeline.queries",
    "show": "agentos.pipeline.gating",
    "status": "agentos.pipeline.queries",
    "validate_policy": "agentos.pipeline.queries",
}

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
    "explain",
    "history",
    "init",
    "load_plan_ref",
    "open_context",
    "os_user",
    "plan",
    "read_plan_inputs",
    "recover",
    "repair_audit",
    "resolve_plan_file",
    "rollback",
    "run_policy_cases",
    "show",
    "status",
    "validate_policy",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
