"""The shape of the package, checked from its source: the import graph has no cycles, the
pipeline's rooms import only downwards, importing the pipeline loads no CLI framework, and no
module outgrows its limit."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "agentos"
CORE_ROOMS = ("planner", "governance", "executor", "verify", "audit")
# Front-ends translate a protocol into pipeline calls: nothing below them imports one.
FRONT_ENDS = ("agentos.cli", "agentos.hooks", "agentos.mcpserver", "agentos.serve")
CLI_LIMIT = 250
MODULE_LIMIT = 450


def module_name(path: Path) -> str:
    parts = ["agentos", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports (anywhere in it:
    top level, inside functions, under ``TYPE_CHECKING``)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m in modules and m not in (name, "agentos")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_everywhere() -> None:
    graph = import_graph()
    # A function-level import (the CLI imports its views inside commands) is an edge too.
    assert "agentos.cli.views.executions" in graph["agentos.cli.apply_cmd"]
    assert "agentos.pipeline.context" in graph["agentos.pipeline.gating"]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_rooms_never_import_a_front_end_or_the_pipeline() -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.split(".")[1:2] and name.split(".")[1] in CORE_ROOMS
        for target in targets
        if target.startswith((*FRONT_ENDS, "agentos.pipeline"))
    }
    assert wrong == set()


def test_the_pipeline_never_imports_a_front_end() -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("agentos.pipeline")
        for target in targets
        if target.startswith(FRONT_ENDS)
    }
    assert wrong == set()


def test_the_hooks_front_end_never_imports_the_cli() -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("agentos.hooks")
        for target in targets
        if target.startswith("agentos.cli")
    }
    assert wrong == set()


def test_the_mcp_server_never_imports_the_cli_or_the_hooks() -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("agentos.mcpserver")
        for target in targets
        if target.startswith(("agentos.cli", "agentos.hooks"))
    }
    assert wrong == set()


def test_the_serve_front_end_never_imports_the_cli() -> None:
    graph = import_graph()
    assert any(name.startswith("agentos.serve") for name in graph)
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("agentos.serve")
        for target in targets
        if target.startswith("agentos.cli")
    }
    assert wrong == set()


def test_running_a_tool_call_loads_neither_the_cli_framework_nor_the_mcp_sdk(
    tmp_path: Path,
) -> None:
    # The SDK is the transport only: a tool call itself is plain pipeline work.
    probe = (
        "import json, sys\n"
        "from agentos.mcpserver.calls import call_tool\n"
        "from agentos.mcpserver.replies import ToolSession\n"
        f"reply = call_tool(ToolSession({str(tmp_path)!r}), 'status', {{}})\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules}"
        " & {'typer', 'rich', 'click', 'mcp', 'mcp_types', 'anyio'})\n"
        "print(json.dumps({'error': reply.is_error, 'loaded': loaded}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"error": False, "loaded": []}


def test_importing_the_server_loads_no_cli_framework() -> None:
    probe = (
        "import sys, agentos.serve.server, agentos.hooks.run\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_planner_imports_neither_governance_nor_audit() -> None:
    graph = import_graph()
    wrong = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("agentos.planner")
        for target in targets
        if target.startswith(("agentos.governance", "agentos.audit"))
    }
    assert wrong == set()


def test_importing_the_pipeline_loads_no_cli_framework() -> None:
    probe = (
        "import sys, agentos.pipeline\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_answering_a_hook_loads_no_cli_framework(tmp_path: Path) -> None:
    # An agent runs the hook on every tool call: the console script answers it before typer.
    event = {
        "hook_event_name": "PreToolUse",
        "cwd": str(tmp_path),
        "tool_name": "Write",
        "tool_input": {"file_path": str(tmp_path / "a.txt"), "content": "x\n"},
    }
    probe = (
        "import io, json, sys\n"
        "from agentos.cli.entry import main\n"
        f"sys.stdin = io.TextIOWrapper(io.BytesIO({json.dumps(event).encode()!r}))\n"
        "code = main(['hook', 'claude'])\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'})\n"
        "print(json.dumps({'code': code, 'loaded': loaded}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    last = json.loads(out.strip().splitlines()[-1])
    assert last == {"code": 0, "loaded": []}


def test_module_sizes() -> None:
    sizes = {p: len(p.read_text("utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    too_big = {
        str(p.relative_to(PACKAGE)): n
        for p, n in sizes.items()
        if n > (CLI_LIMIT if p.relative_to(PACKAGE).parts[0] == "cli" else MODULE_LIMIT)
    }
    assert too_big == {}
