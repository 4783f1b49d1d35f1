"""``agentos hook AGENT``: answer one hook event, and fail closed.

Reads the event, finds the workspace from its ``cwd``, runs the pipeline's agent use case for
it (``agentos.pipeline.agents``) and answers in the agent's protocol. Anything that goes wrong
inside agentos — an event it cannot read, a write tool it cannot plan, an invalid policy, a
busy lock, a bug — is answered as a block, unless the policy says ``agents.on_error: allow``,
in which case the write goes through and ``hook.failed_open`` is recorded in the audit trail.

Only what the hook needs is imported: neither typer nor rich.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.errors import AgentosError, ConflictError, DeniedError
from agentos.hooks import protocols
from agentos.hooks.protocols import ACTORS, AgentName, Answer, Event
from agentos.hooks.tools import anchored, classify
from agentos.workspace import discover, is_workspace

if TYPE_CHECKING:
    from agentos.governance.policyfile import LoadedPolicy
    from agentos.pipeline.agents import ToolCall
    from agentos.pipeline.context import Context
    from agentos.workspace import Workspace

    # The policy of a workspace as a long-lived front-end keeps it (parsed once per content).
    PolicySource = Callable[[Workspace], LoadedPolicy]

WORKSPACE_ENV = "AGENTOS_WORKSPACE"


def answer(
    agent: AgentName,
    data: bytes,
    *,
    workspace: Path | None = None,
    environ: Mapping[str, str] | None = None,
    policies: PolicySource | None = None,
) -> Answer:
    """The answer to the event in ``data`` (never raises). ``policies`` gives the policy
    of the workspace when a long-lived front-end keeps it parsed (``agentos serve``)."""
    env = os.environ if environ is None else environ
    try:
        event = protocols.parse_event(agent, data)
    except Exception as exc:  # an event agentos cannot read: it cannot judge the write
        return protocols.fail_closed(agent, f"{_message(exc)}; the tool call was blocked")
    ctx: Context | None = None
    try:
        ctx = _context(agent, event, workspace, env, policies)
        return _dispatch(ctx, event)
    except Exception as exc:
        return _failed(ctx, event, exc)


def _context(
    agent: AgentName,
    event: Event,
    workspace: Path | None,
    env: Mapping[str, str],
    policies: PolicySource | None,
) -> Context:
    from agentos.pipeline.context import open_context

    root = workspace or (Path(env[WORKSPACE_ENV]) if env.get(WORKSPACE_ENV) else None)
    if root is None:
        root = find_workspace(event.cwd)
    ctx = open_context(root, actor=ACTORS[agent])
    if policies is not None:
        # A policy that does not load is left to load (and fail) where the command hook's
        # does, on first use: the answer is the command hook's either way.
        with contextlib.suppress(Exception):
            ctx = replace(ctx, loaded_policy=policies(ctx.workspace))
    return ctx


def find_workspace(cwd: str | None) -> Path:
    """The workspace of an event: up from ``cwd``, the nearest directory with agentos's
    state or policy, else the top of the git work tree, else ``cwd`` itself."""
    from agentos.errors import UsageError

    if cwd is None or not Path(cwd).is_absolute() or not Path(cwd).is_dir():
        raise UsageError(
            f"the event's cwd {cwd!r} is not an existing absolute directory; run the hook "
            f"with -C WORKSPACE or set {WORKSPACE_ENV}"
        )
    return discover(Path(cwd)) or Path(cwd)


def _dispatch(ctx: Context, event: Event) -> Answer:
    from agentos.pipeline import agents

    agent = event.agent
    if event.kind in ("turn_start", "turn_end") and not is_workspace(ctx.workspace.root):
        # Nothing set up here (no agentos state, no policy, no git work tree): there is no
        # baseline to keep, and walking a home directory each turn would outlast the hook.
        return protocols.no_decision()
    if event.kind == "turn_start":
        agents.turn_start(ctx, actor=ctx.actor)
        return protocols.no_decision()
    if event.kind == "turn_end":
        return _turn_end(ctx, event)
    if event.kind not in ("pre", "post") or event.tool is None or event.tool_input is None:
        return protocols.no_decision()
    rules = ctx.policy.policy.agents
    found = classify(agent, event.tool, event.tool_input, passthrough=rules.passthrough_tools)
    if found.action == "pass" or (found.action != "write" and event.kind == "post"):
        return protocols.no_decision()
    if found.action == "unplannable":
        return protocols.deny(
            agent,
            f"agentos cannot plan what {event.tool} writes, so it is blocked; make the change "
            "with a tool agentos can plan (a file edit or write)",
        )
    if found.action == "unknown":
        return protocols.deny(
            agent,
            f"agentos cannot tell what {event.tool} writes, so it is blocked; if it writes "
            "no file, add it to agents.passthrough_tools in the policy",
        )
    call = agents.ToolCall(
        agent=ctx.actor,
        tool=found.tool,
        tool_input=anchored(found.tool, found.tool_input, event.cwd),
        tool_use_id=event.tool_use_id,
        session_id=event.session_id,
    )
    if event.kind == "post":
        return _post(ctx, event, call)
    return _pre(ctx, event, call)


def _pre(ctx: Context, event: Event, call: ToolCall) -> Answer:
    from agentos.pipeline import agents

    agent = event.agent
    try:
        gated = agents.pre_write(ctx, call, stage_for_approval=agent in protocols.ASKS)
    except (DeniedError, ConflictError) as exc:
        # The write itself is refused (a path outside the workspace, text not found): a
        # decision about it, whatever agents.on_error says.
        ctx.audit.append(
            "hook.denied",
            actor=ctx.actor,
            data={"agent": agent, "tool": call.tool, "reason": exc.message},
        )
        return protocols.deny(agent, f"agentos refused this write: {exc.message}")
    if gated.verdict in ("ALLOW", "APPROVED"):
        return protocols.allow(agent, gated.reason)
    if gated.verdict == "NEED_APPROVAL":
        return protocols.ask(agent, gated.reason)
    return protocols.deny(agent, gated.reason)


def _post(ctx: Context, event: Event, call: ToolCall) -> Answer:
    from agentos.pipeline import agents

    record = agents.post_write(ctx, call).record
    if record is None or record.status != "diverged":
        return protocols.no_decision()
    return protocols.tell_model(
        event.agent,
        event.name,
        f"agentos: {call.tool} wrote something other than what was allowed in "
        f"{', '.join(record.diverged)}; recorded as {record.execution_id} (diverged) — undo it "
        f"with 'agentos rollback {record.execution_id}'",
    )


def _turn_end(ctx: Context, event: Event) -> Answer:
    from agentos.pipeline import agents

    ended = agents.turn_end(ctx, actor=ctx.actor)
    notes = []
    diverged = [r for r in ended.records if r.status == "diverged"]
    if diverged:
        notes.append(
            "diverged agent writes: "
            + ", ".join(f"{r.execution_id} ({', '.join(r.diverged)})" for r in diverged)
        )
    if ended.report.changed:
        notes.append(agents.bypass_summary(ended.report.changed))
    if not notes:
        return protocols.no_decision()
    message = "agentos: " + "; ".join(notes)
    if ended.block:
        return protocols.stop(
            event.agent,
            f"{message} — agentos blocks agent writes until someone reviews them and runs "
            "'agentos sweep --accept'",
        )
    return protocols.report(event.agent, f"{message} (see 'agentos sweep')")


def _failed(ctx: Context | None, event: Event, exc: Exception) -> Answer:
    """A failure inside agentos: block, unless the policy explicitly fails open."""
    agent = event.agent
    reason = _message(exc)
    if not isinstance(exc, AgentosError):
        reason += f" (traceback: {_save_traceback(ctx, exc)})"
    if ctx is not None and _fails_open(ctx):
        try:
            ctx.audit.append(
                "hook.failed_open",
                actor=ctx.actor,
                data={"agent": agent, "event": event.name, "tool": event.tool, "error": reason},
            )
        except Exception as audit_exc:  # recorded or not, the policy chose to let it through
            reason += f"; recording it failed too: {_message(audit_exc)}"
        if event.kind == "pre":
            return protocols.allow(agent, f"agentos failed ({reason}); agents.on_error: allow")
        return protocols.no_decision()
    if event.kind == "turn_end":
        return protocols.stop(agent, f"agentos failed at the end of the turn: {reason}")
    return protocols.fail_closed(agent, f"{reason}; the tool call was blocked (fail closed)")


def _fails_open(ctx: Context) -> bool:
    try:
        return ctx.policy.policy.agents.on_error == "allow"
    except Exception:  # the policy is what failed: it cannot say to fail open
        return False


def _message(exc: BaseException) -> str:
    if isinstance(exc, AgentosError):
        return exc.message
    return f"internal error: {type(exc).__name__}: {exc}"


def _save_traceback(ctx: Context | None, exc: Exception) -> str:
    """Save the traceback of ``exc``; where it went (or why not)."""
    from agentos.clock import system_clock
    from agentos.statefs import save_traceback

    if ctx is None:
        return "not saved: no workspace"
    try:
        return str(save_traceback(ctx.workspace.root, exc, at=system_clock()))
    except Exception as failure:
        return f"not saved: {_message(failure)}"
