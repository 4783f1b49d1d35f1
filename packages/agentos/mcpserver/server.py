"""The MCP SDK's glue: ``agentos mcp`` over stdio.

Every tool call runs in a worker thread (the event loop keeps reading the client) and one at a
time: concurrent calls are queued, so the tree and the audit trail end as some serial order of
them, and each apply also takes the workspace lock against other processes. A call that is
cancelled — the client goes away, or the server gets SIGTERM / SIGINT — asks the apply it runs
to stop; the apply rolls back (or, past its commit point, finishes) exactly as on the command
line, and the server waits for it before it exits.

NEED_APPROVAL: where the policy lets approvals come through MCP (``agents.mcp_approvals``) and
the client supports elicitation, the client's user is asked; an approval given there is
recorded like ``agentos approve`` and the call is made again. Otherwise the reply says which
command approves.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentos.mcpserver import catalog
from agentos.mcpserver.calls import approve_pending, call_tool
from agentos.mcpserver.replies import PendingApproval, Reply, ToolSession

if TYPE_CHECKING:
    import mcp_types as types
    from mcp.server.context import ServerRequestContext

# Exit codes of ``agentos mcp``: the client went away, or a signal stopped the server.
EXIT_DISCONNECTED = 0
EXIT_SIGNALLED = 130
APPROVAL_KEY = "approval"
INSTRUCTIONS = (
    "agentos governs writes to this workspace. Use edit_file, write_file, move_file and "
    "apply_patch to change files: each change is checked against the workspace's policy, "
    "applied atomically and recorded, and rollback undoes it. A change that needs a person's "
    "approval is not written; the reply says how it gets approved. The read tools never return "
    "files the policy forbids."
)


def run_server(session: ToolSession) -> int:
    """Serve MCP on this process's stdin and stdout until the client disconnects (0) or a
    signal stops the server (130)."""
    import anyio

    return anyio.run(_serve, session)


class CallRunner:
    """Runs tool calls one at a time in a worker thread, and stops the one in flight."""

    def __init__(self, session: ToolSession) -> None:
        import anyio

        self.session = session
        self.turn = anyio.Lock()
        self.in_flight: list[Any] = []

    async def run(self, work: Callable[[], Any]) -> Any:
        """``work()`` in a worker thread, after the calls before it."""
        async with self.turn:
            return await self._in_thread(work)

    async def _in_thread(self, work: Callable[[], Any]) -> Any:
        import anyio

        from agentos.executor.abort import StopToken, stop_token

        token = StopToken()
        done = threading.Event()
        box: list[Any] = []

        def guarded() -> None:
            try:
                with stop_token(token):
                    box.append(work())
            finally:
                done.set()

        self.in_flight.append(token)
        try:
            await anyio.to_thread.run_sync(guarded, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            token.stop("the MCP call was cancelled (the client went away, or agentos mcp stopped)")
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(done.wait)
            raise
        finally:
            self.in_flight.remove(token)
        return box[0]

    def stop_all(self, reason: str) -> None:
        """Ask the call in flight (if any) to stop."""
        for token in self.in_flight:
            token.stop(reason)


async def _serve(session: ToolSession) -> int:
    import anyio
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server

    from agentos import __version__

    runner = CallRunner(session)
    server: Server[Any] = Server(
        "agentos",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=_list_tools,
        on_call_tool=lambda ctx, params: _call_tool(runner, ctx, params),
    )
    # The SDK's default middleware opens a tracing span per message; agentos records its own
    # audit trail, and a warm decision is measured in milliseconds (SPEC §11).
    server.middleware = []
    signalled: list[int] = []
    async with anyio.create_task_group() as group:

        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
                async for signum in received:
                    signalled.append(signum)
                    runner.stop_all(f"{signal.Signals(signum).name} to agentos mcp")
                    group.cancel_scope.cancel()
                    return

        group.start_soon(watch_signals)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
        group.cancel_scope.cancel()
    return EXIT_SIGNALLED if signalled else EXIT_DISCONNECTED


async def _list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
    import mcp_types as types

    return types.ListToolsResult(
        tools=[types.Tool.model_validate(tool) for tool in catalog.tool_list()]
    )


async def _call_tool(
    runner: CallRunner, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult:
    session = runner.session
    name, arguments = params.name, dict(params.arguments or {})
    answer = (params.input_responses or {}).get(APPROVAL_KEY)
    if answer is not None and params.request_state is not None:
        # The client's user answered (newer protocol): this is a new request, so the call
        # runs again to give its full result (approved or not, with the note on top).
        note, _ = await _take_answer(runner, answer, params.request_state)
        reply: Reply = await runner.run(lambda: call_tool(session, name, arguments))
        return _result(reply, note)
    reply = await runner.run(lambda: call_tool(session, name, arguments))
    pending = reply.pending
    if pending is None or not _may_elicit(pending, ctx):
        return _result(reply, "")
    form = _form(pending, reply)
    if _modern(ctx):
        import mcp_types as types

        return types.InputRequiredResult(
            input_requests={APPROVAL_KEY: types.ElicitRequest(params=form)},
            request_state=_state(pending),
        )
    try:
        answered = await ctx.session.elicit_form(form.message, form.requested_schema)
    except Exception as exc:  # a client that cannot ask after all: the reply says how
        return _result(reply, f"Could not ask the user to approve ({exc}).")
    note, approved = await _take_answer(runner, answered, _state(pending))
    if approved:
        reply = await runner.run(lambda: call_tool(session, name, arguments))
    return _result(reply, note)


def _may_elicit(pending: PendingApproval, ctx: ServerRequestContext[Any]) -> bool:
    """Whether the policy lets approvals come through MCP and the client can ask its user."""
    capabilities = ctx.session.client_capabilities
    return pending.ask and capabilities is not None and capabilities.elicitation is not None


def _modern(ctx: ServerRequestContext[Any]) -> bool:
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _form(pending: PendingApproval, reply: Reply) -> types.ElicitRequestFormParams:
    import mcp_types as types

    reasons = "; ".join(pending.reasons) or "the policy asks for a person's approval"
    has = (
        f", has {len(pending.approvers)}: {', '.join(pending.approvers)}"
        if pending.approvers
        else ""
    )
    message = (
        f"agentos: plan {pending.plan_id} needs {pending.required} approval(s){has} before it is "
        f"written (risk {pending.risk}: {reasons}).\n\n{reply.text[:4000]}\n\nApprove it?"
    )
    schema = {
        "type": "object",
        "properties": {
            "approve": {"type": "boolean", "title": "Approve this change"},
            "approver": {"type": "string", "title": "Your name, as the policy knows approvers"},
        },
        "required": ["approve", "approver"],
    }
    return types.ElicitRequestFormParams(message=message, requested_schema=schema)


def _state(pending: PendingApproval) -> str:
    """What the client echoes back with its user's answer: the plan the user was shown."""
    return f"{pending.plan_id} {pending.checksum}"


async def _take_answer(runner: CallRunner, answer: Any, state: str) -> tuple[str, bool]:
    """Record the approval the client's user gave (when they did): a line saying what
    happened, for the reply, and whether an approval was recorded."""
    from agentos.errors import AgentosError

    action = getattr(answer, "action", None)
    content = getattr(answer, "content", None) or {}
    if action != "accept" or content.get("approve") is not True:
        return "The user did not approve the change.", False
    approver = content.get("approver")
    plan_id, _, checksum = state.partition(" ")
    if not isinstance(approver, str) or not plan_id or not checksum:
        return "The approval could not be read; nothing was approved.", False

    def approve() -> tuple[str, bool]:
        try:
            return approve_pending(runner.session, plan_id, checksum, approver), True
        except AgentosError as exc:
            return f"Not approved: {exc.message}", False
        except Exception as exc:  # a bug must not end the call: nothing was approved
            return f"Not approved: internal error ({type(exc).__name__}: {exc})", False

    outcome: tuple[str, bool] = await runner.run(approve)
    return outcome


def _result(reply: Reply, note: str) -> types.CallToolResult:
    import mcp_types as types

    text = f"{note}\n{reply.text}" if note else reply.text
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=reply.structured,
        is_error=reply.is_error,
    )
