"""The warm front-ends of SPEC §13: a decision and an apply through a running ``agentos mcp``
(M1, M2), and a hook decision through a running ``agentos serve`` (S1)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core import BENCH_POLICY, small_workspace
from measure import AGENTOS, Result, at_most, latency


def mcp_calls(
    ws: Path,
    calls: list[tuple[str, dict[str, object]]],
    warmup: int,
    between: Callable[[int], None] | None = None,
) -> list[float]:
    """Each call's wall time through one running ``agentos mcp`` (after ``warmup`` calls),
    from the client's side: the SDK's stdio client, as an agent's MCP client would call it.
    ``between(index)`` runs after each call, untimed here."""
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=str(AGENTOS), args=["mcp", "-C", str(ws)], env=dict(os.environ)
    )

    async def run() -> list[float]:
        samples = []
        async with Client(params, cache=None) as client:
            for index, (name, arguments) in enumerate(calls):
                start = time.perf_counter()
                result = await client.call_tool(name, arguments)
                elapsed = time.perf_counter() - start
                if result.is_error:
                    raise SystemExit(f"bench: {name} failed: {result.content}")
                if index >= warmup:
                    samples.append(elapsed)
                if between is not None:
                    between(index)
        return samples

    return anyio.run(run)


def bench_m1(calls: int = 200, warmup: int = 20) -> Result:
    """A dry-run ``edit_file`` of one file through a running ``agentos mcp``: p50 and p95."""
    what = "dryRun `edit_file` of one file through a running `agentos mcp`"
    if importlib.util.find_spec("mcp") is None:
        return Result("M1", what, "p50 <= 10 ms", note="install agentos[mcp]")
    with tempfile.TemporaryDirectory() as scratch:
        ws = small_workspace(Path(scratch), policy=BENCH_POLICY)
        edits = [
            (
                "edit_file",
                {
                    "path": "src/app.py",
                    "edits": [{"oldText": '"hello"', "newText": f'"hello {i}"'}],
                    "dryRun": True,
                },
            )
            for i in range(calls + warmup)
        ]
        samples = mcp_calls(ws, edits, warmup)
    return latency("M1", f"{what}, {calls} calls", samples)


def bench_m2(calls: int = 60, warmup: int = 5) -> Result:
    """A one-file apply (``write_file``) through a running ``agentos mcp``, against a reference
    that makes exactly the same durable writes, renames and fsyncs (recorded from such an
    apply through agentos's fs_event hook, then replayed with nothing else)."""
    from durable_reference import record, replay

    what = "one-file apply (`write_file`) through a running `agentos mcp`, vs the same durable I/O"
    if importlib.util.find_spec("mcp") is None:
        return Result("M2", what, "<= 2 x", note="install agentos[mcp]")
    from agentos.mcpserver.calls import call_tool
    from agentos.mcpserver.replies import ToolSession

    content = "line old\n" * 292

    def write(i: int) -> tuple[str, dict[str, object]]:
        return ("write_file", {"path": "src/f.txt", "content": f"{i} " + content})

    with tempfile.TemporaryDirectory() as scratch:
        ws = small_workspace(Path(scratch), policy=BENCH_POLICY)
        (ws / "src" / "f.txt").write_text(content)
        # The reference: one apply of the same kind, recorded in a copy of the workspace, and
        # replayed in a fresh copy of the state it started from after every timed call, so
        # that both meet the disk in the same minutes (its fsync time drifts).
        # One write first, so the state and its key exist as they do for every timed call.
        call_tool(ToolSession(ws), *write(-2))
        before, recorded = Path(scratch) / "before", Path(scratch) / "recorded"
        shutil.copytree(ws, before, symlinks=True)
        shutil.copytree(ws, recorded, symlinks=True)
        name, arguments = write(-1)
        ops = record(lambda: call_tool(ToolSession(recorded), name, arguments))
        fsyncs = sum(1 for kind, _ in ops if kind in ("fsync", "fsync_dir"))
        samples: list[float] = []

        def reference(index: int) -> None:
            if index < warmup:
                return
            target = Path(scratch) / f"replay{index}"
            shutil.copytree(before, target, symlinks=True)
            start = time.perf_counter()
            replay(ops, recorded, target)
            samples.append(time.perf_counter() - start)
            shutil.rmtree(target)

        calls_made = [write(i) for i in range(calls + warmup)]
        applied = statistics.median(mcp_calls(ws, calls_made, warmup, between=reference))
        durable = statistics.median(samples)
    what += f" ({len(ops)} operations, {fsyncs} fsyncs)"
    return at_most(Result("M2", what, "<= 2 x", applied, durable), 2)


def bench_s1(calls: int = 200, warmup: int = 20) -> Result:
    """One hook decision through a running ``agentos serve``: a Claude Code PreToolUse Write
    of one new file (allowed), POSTed on one kept-alive connection; p50 and p95 of ``calls``.

    Each call writes other content (a new plan, as an agent's next write would be), and after
    each, untimed, the PostToolUse event settles it (the tool wrote nothing), so every
    decision meets the same state. The workspace runs the packaged policy: full durability.
    """
    import http.client

    what = "`agentos serve`: one PreToolUse Write decision (allowed), HTTP on loopback"
    with tempfile.TemporaryDirectory() as scratch:
        ws = small_workspace(Path(scratch))
        proc = subprocess.Popen(
            [str(AGENTOS), "serve", "-C", str(ws), "--port", "0", "--json", "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            line = proc.stdout.readline() if proc.stdout else b""
            try:
                started = json.loads(line)["result"]
            except (ValueError, KeyError, TypeError):  # an error envelope spans several lines
                rest = proc.communicate(timeout=30)[0] or b""
                said = (line + rest).decode(errors="replace").strip()
                raise SystemExit(f"bench S1: agentos serve did not start: {said}") from None
            token = Path(started["token_file"]).read_text().strip()
            conn = http.client.HTTPConnection("127.0.0.1", started["port"], timeout=60)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            samples = []
            for index in range(warmup + calls):
                event = {
                    "session_id": "bench",
                    "cwd": str(ws),
                    "hook_event_name": "PreToolUse",
                    "tool_name": "Write",
                    "tool_input": {
                        "file_path": str(ws / "src" / "new.py"),
                        "content": f"ANSWER = {index}\n",
                    },
                    "tool_use_id": f"toolu_bench_{index}",
                }
                body = json.dumps(event).encode()
                start = time.perf_counter()
                conn.request("POST", "/hook/claude", body, headers)
                reply = conn.getresponse().read()
                elapsed = time.perf_counter() - start
                if b'"permissionDecision": "allow"' not in reply:
                    raise SystemExit(f"bench S1: not allowed: {reply!r}")
                if index >= warmup:
                    samples.append(elapsed)
                event.update(hook_event_name="PostToolUse", tool_response={})
                conn.request("POST", "/hook/claude", json.dumps(event).encode(), headers)
                conn.getresponse().read()
            conn.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return latency("S1", f"{what}, {calls} calls", samples)
