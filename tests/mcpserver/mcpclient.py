"""Driving a real ``agentos mcp`` process through the MCP SDK's stdio client."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="agentos[mcp] is not installed")

import mcp_types as types
from mcp import Client, StdioServerParameters

AGENTOS = str(Path(sys.executable).with_name("agentos"))
Elicit = Callable[[Any, types.ElicitRequestParams], Awaitable[types.ElicitResult | types.ErrorData]]


@dataclass(frozen=True)
class Called:
    """One tool call's result, as the client read it."""

    is_error: bool
    structured: dict[str, Any]
    text: str


def server_params(ws: Path, *args: str, **env: str) -> StdioServerParameters:
    """``agentos mcp -C ws`` with this test's environment (keys, git identity) and ``env``."""
    return StdioServerParameters(
        command=AGENTOS, args=["mcp", "-C", str(ws), *args], env={**os.environ, **env}
    )


@asynccontextmanager
async def connected(
    ws: Path,
    *args: str,
    elicit: Elicit | None = None,
    mode: str = "auto",
    **env: str,
) -> AsyncIterator[Client]:
    """A client connected to a fresh ``agentos mcp`` for ``ws``."""
    client = Client(
        server_params(ws, *args, **env), elicitation_callback=elicit, mode=mode, cache=None
    )
    async with client:
        yield client


async def call(client: Client, name: str, arguments: dict[str, Any]) -> Called:
    """Call ``name``; the client checks a successful result against the tool's output schema."""
    result = await client.call_tool(name, arguments)
    text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
    return Called(bool(result.is_error), dict(result.structured_content or {}), text)
