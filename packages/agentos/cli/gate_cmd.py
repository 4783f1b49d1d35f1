"""``agentos check PLAN [--explain]`` and ``agentos approve PLAN --by NAME``: the WriteGate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome

ApprovalFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--approval",
        metavar="FILE",
        help="An approval file made elsewhere (e.g. a CI artifact, one approval or "
        "several); may be repeated.",
        show_default=False,
    ),
]
PlanRef = Annotated[
    str,
    typer.Argument(metavar="PLAN", help="A plan file, a plan id, or a unique prefix of one."),
]


@command("check")
def check(
    opts: GlobalOptions,
    ref: PlanRef,
    *,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also show each rule's verdict on each path.")
    ] = False,
    approval: ApprovalFiles = None,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown", help="Print a Markdown report (a PR comment, $GITHUB_STEP_SUMMARY)."
        ),
    ] = False,
    sarif: Annotated[
        Path | None,
        typer.Option(
            "--sarif",
            metavar="FILE",
            help="Also write the findings as SARIF 2.1.0 to FILE (code scanning).",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """The WriteGate's decision on a plan, with every finding; counts its approvals."""
    from agentos.cli.reportfiles import check_report_path, write_report
    from agentos.cli.views.gate import checked_exit, render_checked
    from agentos.cli.views.markdown import as_markdown, check_markdown_flag
    from agentos.pipeline.context import load_plan_ref
    from agentos.pipeline.documents import check_result
    from agentos.pipeline.gating import check as check_plan

    check_markdown_flag(opts.json, markdown)
    if sarif is not None:
        check_report_path("--sarif", sarif)
    ctx = opts.context()
    plan_file, plan = load_plan_ref(ctx, ref)
    checked = check_plan(ctx, plan, approval_files=tuple(approval or ()), explain=explain)
    if sarif is not None:
        from agentos.cli.views.sarif import sarif_log
        from agentos.gitrun import repo_prefix

        root = ctx.workspace.root
        write_report("--sarif", sarif, sarif_log(checked, plan_file, root, repo_prefix(root)))
    outcome = Outcome(
        result=check_result(checked, plan_file),
        exit_code=checked_exit(checked),
        human=lambda out: render_checked(out, checked),
    )
    if markdown:
        from agentos.cli.views.markdown_reports import check_report

        return as_markdown(outcome, lambda: check_report(checked, ctx.workspace.root))
    return outcome


@command("approve")
def approve(
    opts: GlobalOptions,
    ref: PlanRef,
    *,
    by: Annotated[
        str,
        typer.Option("--by", metavar="NAME", help="Who approves (must be allowed by the policy)."),
    ],
    comment: Annotated[
        str, typer.Option("--comment", metavar="WHY", help="Why it is approved.")
    ] = "",
    sign: Annotated[
        Path | None,
        typer.Option(
            "--sign",
            metavar="KEYFILE",
            help="Sign the approval with this SSH key (ssh-keygen -Y sign), as git signs "
            "commits; needed when the policy sets approvals.allowed_signers.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the approval to FILE instead of the workspace's store (added to the "
            "approvals of this plan FILE holds), to present with --approval FILE elsewhere.",
            show_default=False,
        ),
    ] = None,
) -> Outcome:
    """Record an approval bound to this plan's exact bytes and the policy; refuses DENY plans."""
    from agentos.cli.views.gate import render_approved
    from agentos.pipeline.context import load_plan_ref
    from agentos.pipeline.documents import approve_result
    from agentos.pipeline.gating import approve as approve_plan

    ctx = opts.context()
    plan_file, plan = load_plan_ref(ctx, ref)
    approved = approve_plan(ctx, plan, approver=by, comment=comment, ssh_key=sign, output=output)
    return Outcome(
        result=approve_result(approved, plan_file),
        human=lambda out: render_approved(out, approved, sign, to_file=output is not None),
    )
