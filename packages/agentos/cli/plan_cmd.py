"""``agentos plan`` and ``agentos show``: make a plan, and review a plan or an execution."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

Markdown = Annotated[
    bool,
    typer.Option(
        "--markdown",
        help="Print a Markdown report with the diff (a PR comment, $GITHUB_STEP_SUMMARY).",
    ),
]


@command("plan")
def plan(
    opts: GlobalOptions,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUT",
            help="Patches, manifests, edit lists, agents' tool calls or aider messages; "
            "'-' reads stdin.",
            show_default=False,
        ),
    ] = None,
    *,
    git: Annotated[
        str | None,
        typer.Option(
            "--git",
            metavar="A..B|REV",
            help="Plan the change git shows instead of INPUTs: commit A to commit B (A...B: "
            "from their merge base), or REV to the working tree; pre-images are A's files.",
        ),
    ] = None,
    staged: Annotated[
        bool,
        typer.Option(
            "--staged",
            "--cached",
            help="Plan the staged change (the index against HEAD) instead of INPUTs.",
        ),
    ] = False,
    input_format: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="auto | diff | codex | manifest | edits | claude | mcp | aider (default: auto).",
        ),
    ] = "auto",
    intent: Annotated[
        str | None,
        typer.Option("--intent", metavar="WHY", help="Why this change is made (kept in the plan)."),
    ] = None,
    plan_id: Annotated[
        str | None,
        typer.Option(
            "--plan-id", metavar="ID", help="Set the plan id (e.g. a CI build or PR number)."
        ),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option(
            "--author",
            metavar="NAME",
            help="Who proposes the change (default: the OS user); in CI, the person it is "
            "attributed to, so they cannot approve it themselves.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Plan file to write (default: .agentos/plans/<plan_id>.json).",
        ),
    ] = None,
    strip: Annotated[
        int | None,
        typer.Option(
            "--strip",
            "-p",
            metavar="N",
            min=0,
            help="Leading path components to strip from diff file names, like git apply -p "
            "(default: 1, or 0 for plain diffs whose names have no slash).",
        ),
    ] = None,
    markdown: Markdown = False,
) -> Outcome:
    """Build a ChangePlan from one or more inputs, or from git (--git, --staged); never
    writes workspace files."""
    from agentos.cli.views.gate import VERDICT_EXIT
    from agentos.cli.views.markdown import check_markdown_flag
    from agentos.cli.views.plans import render_planned
    from agentos.pipeline import gating
    from agentos.pipeline.documents import plan_result
    from agentos.pipeline.gitplans import git_selection
    from agentos.pipeline.planoutput import check_output, check_output_target

    check_markdown_flag(opts.json, markdown)
    names = inputs or []
    selection = git_selection(
        git, staged=staged, inputs=names, input_format=input_format, strip=strip
    )
    if output is not None:
        check_output(output, [Path(name) for name in names])
    ctx = opts.context()
    if output is not None:
        check_output_target(ctx, output)
    if author is not None:
        gating.check_author(author)
    request = gating.PlanRequest(
        inputs=()
        if selection is not None
        else gating.read_plan_inputs(ctx, names, input_format, stdin=sys.stdin.buffer),
        author=author,
        intent=intent,
        plan_id=plan_id,
        strip=strip,
        output=output,
        git=selection,
    )
    planned = gating.plan(ctx, request)
    outcome = Outcome(
        result=plan_result(planned.plan, planned.plan_file, planned.decision),
        exit_code=VERDICT_EXIT[planned.decision.decision],
        human=lambda out: render_planned(out, planned),
    )
    if markdown:
        from agentos.cli.views.markdown import as_markdown
        from agentos.cli.views.markdown_reports import plan_report
        from agentos.pipeline.diffs import plan_diff

        lines = plan_diff(ctx, planned.plan)
        outcome = as_markdown(
            outcome,
            lambda: plan_report(
                "plan",
                planned.plan,
                planned.decision,
                lines,
                policy_source=ctx.policy.source,
                root=ctx.workspace.root,
            ),
        )
    return outcome


@command("show")
def show(
    opts: GlobalOptions,
    ref: Annotated[
        str,
        typer.Argument(
            metavar="PLAN|EXECUTION_ID",
            help="A plan file, a plan id, or an execution id (an id or a unique prefix).",
        ),
    ],
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Also show the unified diff (of an execution: what it changed); through a "
            "pager on a terminal.",
        ),
    ] = False,
    markdown: Markdown = False,
) -> Outcome:
    """Show a plan (summary, risk, decision, --diff) or an execution's timeline (--diff:
    what it changed)."""
    from agentos.cli.pager import paged
    from agentos.cli.views.markdown import as_markdown, check_markdown_flag
    from agentos.cli.views.plans import render_shown
    from agentos.errors import UsageError
    from agentos.pipeline.context import load_plan_ref
    from agentos.pipeline.documents import show_result
    from agentos.pipeline.refs import is_file

    check_markdown_flag(opts.json, markdown)
    ctx = opts.context()
    if ref.startswith("exec-") and not is_file(Path(ref)):
        from agentos.cli.views.executions import timeline_outcome
        from agentos.pipeline.diffs import execution_diff
        from agentos.pipeline.queries import execution

        if markdown:
            raise UsageError(
                "--markdown reports on a plan; for an execution, pass its plan (its id is "
                "in 'agentos show EXECUTION_ID') or use --json"
            )
        view = execution(ctx, ref)
        outcome = timeline_outcome(view, execution_diff(ctx, view) if diff else None)
    else:
        from agentos.pipeline.gating import show as show_plan

        plan_file, loaded = load_plan_ref(ctx, ref)
        shown = show_plan(ctx, loaded, diff=diff or markdown)
        outcome = Outcome(
            result=show_result(shown, plan_file),
            human=lambda out: render_shown(out, shown, plan_file),
        )
        if markdown:
            from agentos.cli.views.markdown_reports import plan_report

            report = plan_report(
                "show",
                shown.plan,
                shown.decision,
                shown.diff,
                policy_source=ctx.policy.source,
                root=ctx.workspace.root,
            )
            return as_markdown(outcome, lambda: report)
    if diff and outcome.human is not None:
        outcome.human = paged(outcome.human)
    return outcome
