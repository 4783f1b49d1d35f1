"""``agentos policy validate|test|schema|explain``: tools for whoever writes the policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

if TYPE_CHECKING:
    from rich.console import Console


@command("validate", group="policy")
def validate(
    opts: GlobalOptions,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="Policy file (default: --policy, else agent/policies/default.yaml).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Check a policy against the schema (exit 2 with file:line) and lint it (warnings)."""
    from agentos.cli.render import print_error
    from agentos.cli.views.records import policy_checked_result
    from agentos.errors import PolicyError
    from agentos.pipeline.queries import validate_policy

    try:
        checked = validate_policy(opts.context() if file is None else None, file)
    except PolicyError as exc:
        if len(exc.problems) <= 1:
            raise
        # Validation is the one place where every problem is listed, a line each.
        for problem in exc.problems:
            print_error(problem)
        # The message sums them up; the JSON error keeps every one in details.problems.
        raise PolicyError(
            exc.problems,
            source=exc.details["policy"],
            summary=f"{len(exc.problems)} problems (listed above)",
        ) from None
    count = len(checked.warnings)
    return Outcome(
        result=policy_checked_result(checked),
        warnings=[f"{checked.source}: {key}: {message}" for key, message in checked.warnings],
        human=lambda out: out.print(
            f"{checked.source}: valid ({count} warning(s)), digest {checked.digest}"
        ),
    )


@command("test", group="policy")
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
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            metavar="FILE",
            help="Also write the results as JUnit XML to FILE (CI test reports).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Run policy test cases; exit 1 when any case fails (like 'opa test')."""
    from agentos.cli.reportfiles import check_report_path, write_report
    from agentos.cli.views.records import policy_tested_result, render_policy_tests
    from agentos.pipeline.queries import run_policy_cases

    if junit is not None:
        check_report_path("--junit", junit)
    tested = run_policy_cases(opts.context(), target)
    if junit is not None:
        from agentos.cli.views.junit import junit_xml

        write_report("--junit", junit, junit_xml(tested))
    return Outcome(
        result=policy_tested_result(tested),
        exit_code=1 if tested.failed else 0,
        human=lambda out: render_policy_tests(out, tested),
    )


@command("schema", group="policy")
def schema(opts: GlobalOptions) -> Outcome:
    """Print the policy's JSON Schema (as in docs/schemas/policy.schema.json)."""
    import json
    import sys

    from agentos.governance.policy import policy_json_schema

    document = policy_json_schema()

    def human(_out: Console) -> None:
        # Plain text on stdout so that 'agentos policy schema > file.json' gives valid JSON.
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")

    return Outcome(result={"schema": document}, human=human)


@command("explain", group="policy")
def explain(
    opts: GlobalOptions,
    ref: Annotated[
        str,
        typer.Argument(metavar="PLAN", help="A plan file, a plan id, or a unique prefix of one."),
    ],
) -> Outcome:
    """Each rule's verdict on each path of a plan, under the current policy (exits 0)."""
    from agentos.cli.views.gate import explained_result, render_explained
    from agentos.pipeline.context import load_plan_ref
    from agentos.pipeline.gating import explain as explain_plan

    ctx = opts.context()
    explained = explain_plan(ctx, load_plan_ref(ctx, ref)[1])
    return Outcome(
        result=explained_result(explained), human=lambda out: render_explained(out, explained)
    )
