"""``agentos.pipeline`` as a front-end uses it: plan -> check -> approve -> apply -> rollback
in-process, results that are values, one decision per use case, and the documented example
of a new front-end."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentos import pipeline
from agentos.errors import UsageError
from agentos.executor.executions import ExecutionRecord, read_execution
from agentos.model import UNASSESSED
from agentos.pipeline.context import Context, open_context
from agentos.planner.plan import PlanSpec, plan_changes
from agentos.workspace import Workspace
from helpers import read_tree, write_tree

DOCS = Path(__file__).resolve().parents[2] / "docs" / "design.md"
POLICY = """\
version: 1
executor:
  allowed_paths: ["src/**", "README.md"]
"""
DIFF = b"""diff --git a/src/app.py b/src/app.py
--- a/src/app.py
+++ b/src/app.py
@@ -1 +1 @@
-print("hello")
+print("hello, world")
"""
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tree(
        root,
        {
            "agent/policies/default.yaml": POLICY,
            "src/app.py": 'print("hello")\n',
            "README.md": "# demo\n",
        },
    )
    return root


def context(root: Path) -> Context:
    return open_context(root, actor="ci-bot", clock=lambda: NOW)


def diff_input(data: bytes = DIFF) -> tuple[pipeline.PlanInput, ...]:
    return (pipeline.PlanInput(name="change.diff", data=data),)


def events(root: Path) -> list[dict[str, object]]:
    lines = (root / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_plan_check_apply_rollback_in_process(ws: Path) -> None:
    ctx = context(ws)
    planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input(), intent="greet"))
    assert planned.plan_file.is_file()
    assert planned.plan.created_at == "2024-05-06T07:08:09.000000Z"
    checked = pipeline.check(ctx, planned.plan)
    assert checked.gate.verdict == "ALLOW"
    applied = pipeline.apply(ctx, [planned.plan])
    assert applied.ok
    assert applied.last.status == "committed"
    assert applied.last.decision == planned.decision
    assert (ws / "src/app.py").read_text() == 'print("hello, world")\n'
    undone = pipeline.rollback(ctx, applied.last.execution_id)
    assert undone.last.status == "committed"
    assert undone.last.kind == "rollback"
    assert (ws / "src/app.py").read_text() == 'print("hello")\n'
    history = pipeline.history(ctx)
    assert [v.kind for v in history.executions] == ["rollback", "apply"]


def test_results_are_frozen(ws: Path) -> None:
    ctx = context(ws)
    planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input()))
    applied = pipeline.apply(ctx, [planned.plan])
    for value, field in (
        (planned, "plan_file"),
        (applied, "results"),
        (applied.last, "status"),
        (pipeline.status(ctx), "lock_held"),
        (pipeline.recover(ctx), "outcomes"),
    ):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


def test_the_planner_leaves_risk_to_the_gate_and_plan_stamps_it(ws: Path) -> None:
    """The planner returns UNASSESSED risk; the plan written carries the gate's."""
    policy_change = (
        b"--- a/agent/policies/default.yaml\n+++ b/agent/policies/default.yaml\n"
        b'@@ -3 +3 @@\n-  allowed_paths: ["src/**", "README.md"]\n+  allowed_paths: ["**"]\n'
    )
    spec = PlanSpec(workspace=Workspace.open(ws), inputs=diff_input(policy_change), author="ada")
    assert plan_changes(spec).risk == UNASSESSED
    planned = pipeline.plan(context(ws), pipeline.PlanRequest(inputs=diff_input(policy_change)))
    assert planned.plan.risk == planned.decision.risk
    assert planned.plan.risk.level == "CRITICAL"
    on_disk = json.loads(planned.plan_file.read_text())
    assert on_disk["risk"]["level"] == "CRITICAL"


def test_each_use_case_decides_once(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentos.governance import gate

    ctx = context(ws)
    planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input()))
    execution_id = pipeline.apply(ctx, [planned.plan]).last.execution_id
    calls: list[str] = []
    decide = gate.decide_plan

    def counting(*args: object, **kwargs: object) -> object:
        calls.append("decide")
        return decide(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gate, "decide_plan", counting)
    before = len(events(ws))
    pipeline.rollback(ctx, execution_id)
    assert calls == ["decide"]
    evaluated = [e for e in events(ws)[before:] if e["event"] == "gate.evaluated"]
    assert len(evaluated) == 1


def test_a_refused_plan_is_a_result_not_a_write(ws: Path) -> None:
    outside = b"--- /dev/null\n+++ b/secrets.txt\n@@ -0,0 +1 @@\n+x\n"
    ctx = context(ws)
    planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input(outside)))
    assert planned.decision.decision == "DENY"
    applied = pipeline.apply(ctx, [planned.plan])
    assert not applied.ok
    assert applied.last.status == "denied"
    assert not (ws / "secrets.txt").exists()


def test_apply_stops_at_the_first_plan_that_does_not_succeed(ws: Path) -> None:
    ctx = context(ws)
    outside = b"--- /dev/null\n+++ b/secrets.txt\n@@ -0,0 +1 @@\n+x\n"
    denied = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input(outside)))
    good = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input()))
    applied = pipeline.apply(ctx, [denied.plan, good.plan])
    assert [r.status for r in applied.results] == ["denied"]
    assert (ws / "src/app.py").read_text() == 'print("hello")\n'


def test_execution_records_are_typed(ws: Path) -> None:
    ctx = context(ws)
    planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input()))
    result = pipeline.apply(ctx, [planned.plan]).last
    record = read_execution(ws / ".agentos", result.execution_id)
    assert isinstance(record, ExecutionRecord)
    assert (record.plan_id, record.status, record.attempt) == (planned.plan.plan_id, "committed", 1)
    assert record.committed_at == "2024-05-06T07:08:09.000000Z"
    assert [(f.op, f.path) for f in record.files] == [("modify", "src/app.py")]


def test_apply_needs_a_plan(ws: Path) -> None:
    with pytest.raises(UsageError, match="no plan given"):
        pipeline.apply(context(ws), [])


def test_abort_with_nothing_running(ws: Path) -> None:
    request = pipeline.abort(context(ws), reason="test")
    assert request == pipeline.AbortRequest(requested=False)


def test_importing_the_pipeline_needs_no_policy(ws: Path) -> None:
    """``status`` and ``history`` never read the policy, so a broken one does not stop them."""
    (ws / "agent/policies/default.yaml").write_text("writegate: [not, a, mapping]\n")
    ctx = context(ws)
    assert pipeline.status(ctx).lock_held is False
    assert pipeline.history(ctx).total == 0


def test_the_documented_front_end_runs(ws: Path) -> None:
    """The example in docs/design.md ("Adding a front-end") works as written."""
    text = DOCS.read_text("utf-8")
    section = text[text.index("### Adding a front-end") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - the doc's code
    propose = namespace["propose"]
    assert callable(propose)
    message = propose(ws, DIFF, "agent-7")
    assert re.fullmatch(r"plan-[0-9a-f]{16}: committed", message), message
    assert read_tree(ws)["src/app.py"][0] == b'print("hello, world")\n'
    outside = b"--- /dev/null\n+++ b/secrets.txt\n@@ -0,0 +1 @@\n+x\n"
    assert propose(ws, outside, "agent-7").endswith(": DENY; nothing written")
    assert not (ws / "secrets.txt").exists()


def test_plan_and_check_judge_the_same_risk_when_a_diff_counts_fewer_lines(
    tmp_path: Path,
) -> None:
    # A minimal diff (+2 -9) of a file whose line counter (like git's) counts +3 -10: planning
    # must judge what check will judge of the same plan, not the hunks' own smaller figure.
    root = tmp_path / "ws"
    policy = "version: 1\nwritegate:\n  size_risk: {medium_lines: 12}\n"
    write_tree(
        root,
        {"agent/policies/default.yaml": policy, "f.txt": "e\nc\nd\nf\nb\ne\ne\nc\na\nc\nd\nb\n"},
    )
    hunk = "-e\n-c\n d\n-f\n-b\n-e\n-e\n-c\n+d\n+d\n a\n-c\n d\n-b\n"
    diff = f"--- a/f.txt\n+++ b/f.txt\n@@ -1,12 +1,5 @@\n{hunk}".encode()
    ctx = context(root)
    planned = pipeline.plan(ctx, pipeline.PlanRequest(inputs=diff_input(diff)))
    checked = pipeline.check(ctx, planned.plan)
    assert planned.decision.risk == checked.gate.decision.risk
    assert planned.plan.risk == checked.gate.decision.risk
    assert checked.gate.decision.risk.level == "MEDIUM"
