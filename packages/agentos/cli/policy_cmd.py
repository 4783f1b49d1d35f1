"""``agentos policy validate|test|schema|explain``: tools for whoever writes the policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentos.cli.app import app
from agentos.cli.context import GlobalOptions, command, current_user
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console

    from agentos.governance.policytest import CaseResult

policy_app = typer.Typer(
    name="policy",
    help="Validate, test, explain and print the schema of the policy.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(policy_app, name="policy")

TESTS_RELPATH = "agent/policies/tests"


@command(policy_app, "validate", full_name="policy validate")
def validate(
    opts: GlobalOptions,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Policy file (default: --policy, else agent/policies/default.yaml).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Check a policy against the schema (exit 2 with file:line) and lint it (warnings)."""
    from agentos.cli.render import print_error
    from agentos.errors import PolicyError
    from agentos.governance.policyfile import load_policy
    from agentos.governance.policylint import lint_policy
    from agentos.workspace import Workspace

    workspace = Workspace.open(opts.workspace_dir) if file is None else None
    try:
        loaded = load_policy(file or opts.policy, workspace)
    except PolicyError as exc:
        if len(exc.problems) <= 1:
            raise
        # Validation is the one place where every problem is listed, a line each.
        for problem in exc.problems:
            print_error(problem)
        raise PolicyError(
            [f"{len(exc.problems)} problems (listed above)"], source=exc.details["policy"]
        ) from None
    warnings = lint_policy(loaded.policy)
    result = {
        "policy": loaded.source,
        "digest": loaded.digest,
        "valid": True,
        "warnings": [{"key": w.key, "message": w.message} for w in warnings],
    }
    lines = [f"{loaded.source}: {w.key}: {w.message}" for w in warnings]

    def human(out: Console) -> None:
        out.print(f"{loaded.source}: valid ({len(warnings)} warning(s)), digest {loaded.digest}")

    return Outcome(result=result, warnings=lines, human=human)


@command(policy_app, "test", full_name="policy test")
def test(
    opts: GlobalOptions,
    target: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help="A directory of YAML cases or one case file (default: agent/policies/tests/).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Run policy test cases; exit 1 when any case fails (like 'opa test')."""
    from agentos.governance.policyfile import load_policy
    from agentos.governance.policytest import run_policy_tests

    workspace = opts.workspace()
    loaded = load_policy(opts.policy, workspace)
    results = run_policy_tests(target or workspace.root / TESTS_RELPATH, loaded.policy)
    failed = [r for r in results if not r.passed]
    result: dict[str, Any] = {
        "policy": loaded.source,
        "passed": len(results) - len(failed),
        "failed": len(failed),
        "total": len(results),
        "cases": [
            {
                "file": r.file,
                "name": r.name,
                "passed": r.passed,
                "decision": r.decision,
                "rules": list(r.rules),
                "failures": list(r.failures),
            }
            for r in results
        ],
    }
    return Outcome(
        result=result, exit_code=1 if failed else 0, human=lambda out: _render_tests(out, results)
    )


def _render_tests(out: Console, results: list[CaseResult]) -> None:
    from rich.text import Text

    failed = [r for r in results if not r.passed]
    for case in failed:
        out.print(Text(f"FAIL: {case.file}: {case.name}", style="bold red"))
        for failure in case.failures:
            out.print(f"  {failure}")
    if failed:
        out.print("-" * 60)
    summary = f"PASS: {len(results) - len(failed)}/{len(results)}"
    if failed:
        summary += f"\nFAIL: {len(failed)}/{len(results)}"
    out.print(Text(summary, style="red" if failed else "green"))


@command(policy_app, "schema", full_name="policy schema")
def schema(opts: GlobalOptions) -> Outcome:
    """Print the policy's JSON Schema (as in docs/schemas/policy.schema.json)."""
    import json

    from agentos.governance.policy import policy_json_schema

    document = policy_json_schema()

    def human(out: Console) -> None:
        # Plain text on stdout so that 'agentos policy schema > file.json' gives valid JSON.
        import sys

        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")

    return Outcome(result={"schema": document}, human=human)


@command(policy_app, "explain", full_name="policy explain")
def explain(
    opts: GlobalOptions,
    ref: Annotated[str, typer.Argument(metavar="PLAN", help="A plan file or plan id.")],
) -> Outcome:
    """Each rule's verdict on each path of a plan, under the current policy (exits 0)."""
    from agentos.cli.gate_cmd import (
        explain_rows,
        finding_row,
        render_decision,
        render_explanation,
    )
    from agentos.cli.show_cmd import resolve_plan_file
    from agentos.governance.explain import explain as explain_plan
    from agentos.governance.gate import decide_plan, record_decision
    from agentos.governance.policyfile import load_policy
    from agentos.planner.planfile import load_plan

    workspace = opts.workspace()
    plan_file = resolve_plan_file(workspace, ref)
    plan = load_plan(plan_file)
    loaded = load_policy(opts.policy, workspace)
    decision = decide_plan(plan, workspace, loaded)
    record_decision(
        workspace, decision, actor=current_user(), command="policy explain", policy=loaded
    )
    rows = explain_plan(plan, loaded.policy, decision)
    result = {
        "plan_id": plan.plan_id,
        "decision": decision.decision,
        "findings": [finding_row(f) for f in decision.findings],
        "explain": explain_rows(rows),
    }

    def human(out: Console) -> None:
        render_explanation(out, rows)
        out.print()
        render_decision(out, decision)

    return Outcome(result=result, human=human)
