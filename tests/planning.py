"""Planning inputs in tests: plan them on a workspace, or check how they are refused.

``tests/`` is on ``sys.path``, so test modules import these as ``from planning import ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentos.errors import AgentosError
from agentos.model import ChangePlan
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.planner.tree import PlanLimits
from agentos.workspace import Workspace
from helpers import Tree, materialise, read_tree


def as_bytes(item: bytes | str | Any) -> bytes:
    """Bytes as given, a string encoded, anything else as JSON."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    return json.dumps(item).encode("utf-8")


def plan_items(
    root: Path,
    *items: bytes | str | Any,
    fmt: str = "auto",
    name: str = "hook.json",
    limits: PlanLimits | None = None,
) -> ChangePlan:
    """Plan ``items`` in order on the workspace at ``root`` (the first is named ``name``)."""
    inputs = tuple(
        PlanInput(name=name if index == 0 else f"in{index}", data=as_bytes(item), format=fmt)  # type: ignore[arg-type]
        for index, item in enumerate(items)
    )
    spec = PlanSpec(
        workspace=Workspace(root), inputs=inputs, author="t", limits=limits or PlanLimits()
    )
    return plan_changes(spec)


def refusal(
    root: Path,
    *items: bytes | str | Any,
    fmt: str = "auto",
    kind: type[AgentosError] = AgentosError,
    code: int | None = None,
    limits: PlanLimits | None = None,
) -> AgentosError:
    """The error planning ``items`` raises: of type ``kind`` (and exit ``code``), one line,
    and the workspace left as it was."""
    before = read_tree(root)
    with pytest.raises(kind) as info:
        plan_items(root, *items, fmt=fmt, limits=limits)
    error = info.value
    assert "\n" not in error.message, "errors are one line on stderr"
    if code is not None:
        assert error.exit_code == code, error.message
    assert read_tree(root) == before
    return error


def result_tree(plan: ChangePlan, root: Path) -> Tree:
    """The files under ``root`` once ``plan`` is applied."""
    materialise(plan, root)
    return read_tree(root)


def files(plan: ChangePlan, root: Path) -> dict[str, bytes]:
    """The contents under ``root`` once ``plan`` is applied, modes left out."""
    return {path: content for path, (content, _mode) in result_tree(plan, root).items()}
