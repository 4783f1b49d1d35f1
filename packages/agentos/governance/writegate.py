"""The WriteGate: plan + policy + disk facts -> Decision, every finding explained (SPEC §6).

``evaluate`` is a pure function. It trusts nothing in the plan that the checksum does not
seal: risk and line counts are computed again here from the changes themselves (and the
pre-images the facts carry), so editing a plan's ``risk`` or ``stats`` gains nothing.

Rules, in order: path-safety, forbidden-path, outside-allowed-paths, constraint, secret,
binary, always-review, risk, unverified-risk. The decision is the most severe finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentos.governance.facts import WorkspaceFacts, plan_paths
from agentos.governance.pathsafety import path_safety_findings
from agentos.governance.policy import Policy
from agentos.governance.risk import assess_risk
from agentos.governance.settings import applicable_checks, risk_settings
from agentos.linediff import content_counts
from agentos.model import (
    DECISION_ORDER,
    ChangePlan,
    Decision,
    DecisionKind,
    Finding,
    Risk,
    SecretMark,
    Severity,
)
from agentos.patterns import PathPatterns
from agentos.textlines import is_binary, split_lines


def evaluate(plan: ChangePlan, policy: Policy, facts: WorkspaceFacts) -> Decision:
    """The decision on ``plan`` under ``policy``, with every finding."""
    # Every new content decoded once (plans carry base64 for binary files), for every rule;
    # contents withheld from the plan file are judged by their marker (``_withheld``).
    contents = {
        c.path: c.content.to_bytes()
        for c in plan.changeset.changes
        if c.op != "delete" and c.content.encoding != "withheld"
    }
    lines = changed_lines(plan, facts, contents)
    risk = assess_risk(
        plan.changeset.changes, lines, risk_settings(policy, policy_path=facts.policy_path)
    )
    findings = list(_findings(plan, policy, lines=lines, risk=risk, facts=facts, contents=contents))
    return Decision(
        decision=decide(findings),
        findings=tuple(findings),
        risk=risk,
        plan_id=plan.plan_id,
        checksum=plan.changeset.checksum,
        policy_digest=policy.digest(),
    )


def decide(findings: list[Finding] | tuple[Finding, ...]) -> DecisionKind:
    """The most severe severity among ``findings`` (ALLOW when there are none)."""
    return max((f.severity for f in findings), key=DECISION_ORDER.index, default="ALLOW")


def changed_lines(plan: ChangePlan, facts: WorkspaceFacts, contents: dict[str, bytes]) -> int:
    """Lines added plus removed: the plan's count, or more if the changes themselves show more.

    Each file is recounted with a line diff against its pre-image on disk (where the facts
    hold it; otherwise the plan's own per-file count stands), so an edited ``stats`` cannot
    hide lines, moved ones included. An honest plan keeps its own figure, which may be larger
    when several inputs edited the same lines.
    """
    stated = plan.stats.added_lines + plan.stats.removed_lines
    per_file = {f.path: f.added + f.removed for f in plan.stats.per_file}
    recounted = 0
    for change in plan.changeset.changes:
        source = change.from_path if change.op == "rename" else change.path
        old = None if change.op == "create" else facts.pre_images.get(source)
        withheld = change.op != "delete" and change.content.encoding == "withheld"
        if withheld or (change.op != "create" and old is None):
            recounted += per_file.get(change.path, 0)
            continue
        recounted += line_delta(old, contents.get(change.path))
    return max(stated, recounted)


def line_delta(old: bytes | None, new: bytes | None) -> int:
    """Lines removed plus lines added to turn ``old`` into ``new`` (0 for binary contents),
    counted as ``git diff --numstat`` counts them (``agentos.linediff``)."""
    added, removed = content_counts(old or b"", new or b"")
    return added + removed


def _findings(
    plan: ChangePlan,
    policy: Policy,
    *,
    lines: int,
    risk: Risk,
    facts: WorkspaceFacts,
    contents: dict[str, bytes],
) -> Iterator[Finding]:
    paths = plan_paths(plan)
    gate = policy.writegate
    yield from path_safety_findings(plan, facts)
    yield from _matching(
        paths,
        gate.forbidden_paths,
        rule="forbidden-path",
        severity="DENY",
        why="matches forbidden path {pattern!r}; agentos never writes it",
    )
    allowed = PathPatterns(policy.executor.allowed_paths)
    for path in paths:
        if not allowed.matches(path):
            yield Finding(
                rule="outside-allowed-paths",
                path=path,
                severity="DENY",
                message=f"{path} is outside executor.allowed_paths; add a pattern for it to the "
                "policy if agentos should write there",
            )
    yield from _constraints(plan, policy, lines, contents)
    if gate.content.detect_secrets:
        yield from _secrets(plan, facts, contents)
    yield from _withheld(plan)
    if gate.content.binary_files != "allow":
        for path, data in contents.items():
            if is_binary(data):
                yield Finding(
                    rule="binary",
                    path=path,
                    severity="DENY" if gate.content.binary_files == "deny" else "NEED_APPROVAL",
                    message=f"{path} is a binary file; the policy says "
                    f"writegate.content.binary_files: {gate.content.binary_files}",
                )
    yield from _matching(
        paths,
        policy.executor.always_review_categories,
        rule="always-review",
        severity="NEED_APPROVAL",
        why="matches always-review pattern {pattern!r}; a person must approve changes here",
    )
    yield from _risk_findings(plan, policy, risk)


def _matching(
    paths: list[str], patterns: list[str], *, rule: str, severity: Severity, why: str
) -> Iterator[Finding]:
    """A finding for each path that one of ``patterns`` (case folded) matches."""
    matcher = PathPatterns(patterns, fold_case=True)
    for path in paths:
        pattern = matcher.first_match(path)
        if pattern is not None:
            yield Finding(
                rule=rule,
                path=path,
                severity=severity,
                pattern=pattern,
                message=f"{path} " + why.format(pattern=pattern),
            )


def _constraints(
    plan: ChangePlan, policy: Policy, lines: int, contents: dict[str, bytes]
) -> Iterator[Finding]:
    limits = policy.executor.constraints
    files = len(plan.changeset.changes)
    if files > limits.max_files_touched:
        yield Finding(
            rule="constraint",
            path=None,
            severity="DENY",
            message=f"the plan touches {files} files; the limit is executor.constraints."
            f"max_files_touched = {limits.max_files_touched}; split the change",
        )
    if lines > limits.max_patch_lines:
        yield Finding(
            rule="constraint",
            path=None,
            severity="DENY",
            message=f"the plan changes {lines} lines; the limit is "
            f"executor.constraints.max_patch_lines = {limits.max_patch_lines}; split the change",
        )
    most = policy.writegate.content.max_file_bytes
    sizes = {path: len(data) for path, data in contents.items()}
    for change in plan.changeset.changes:
        if change.op != "delete" and change.content.encoding == "withheld":
            sizes[change.path] = change.content.bytes
    for path, size in sizes.items():
        if size > most:
            yield Finding(
                rule="constraint",
                path=path,
                severity="DENY",
                message=f"{path} would be {size} bytes; the limit is "
                f"writegate.content.max_file_bytes = {most}",
            )


def _secrets(
    plan: ChangePlan, facts: WorkspaceFacts, contents: dict[str, bytes]
) -> Iterator[Finding]:
    """Secrets in what the plan adds: a line already in the file's pre-image is not new.

    So a file that already holds a flagged line can still be edited (the secret is in the
    repository already; removing it is a separate change); with no pre-image known, every
    line counts.
    """
    from agentos.governance.secrets import find_secrets

    for change in plan.changeset.changes:
        data = contents.get(change.path)
        if change.op == "delete" or data is None:
            continue
        hits = find_secrets(data)
        if not hits:
            continue
        source = change.from_path if change.op == "rename" else change.path
        old = facts.pre_images.get(source) if change.op != "create" else None
        known = set(split_lines(old)) if old else set()
        lines = split_lines(data)
        for hit in hits:
            if known and 0 < hit.line <= len(lines) and lines[hit.line - 1] in known:
                continue
            yield _secret(change.path, hit.line, hit.kind, hit.description, "")


def _withheld(plan: ChangePlan) -> Iterator[Finding]:
    """The secrets that made the planner withhold a content: DENY whatever the policy says
    now, since the bytes are not in the plan and can never be written."""
    for change in plan.changeset.changes:
        if change.op == "delete" or change.content.encoding != "withheld":
            continue
        why = "its content was withheld from the plan file, so this plan can never be applied — "
        for mark in change.content.secrets:
            yield _secret(change.path, mark.line, mark.pattern, mark.description, why)


def _secret(path: str, line: int, pattern: str, description: str, why: str) -> Finding:
    """A DENY ``secret`` finding: it names the pattern and the line, never the secret."""
    advice = "keep secrets out of the repository (use the environment or a secret store)"
    return Finding(
        rule="secret",
        path=path,
        severity="DENY",
        pattern=pattern,
        line=line,
        message=f"{path}:{line}: looks like {description} ({pattern}); {why}{advice}"
        + (" and plan again" if why else ""),
    )


def secret_marks(plan: ChangePlan, decision: Decision) -> dict[str, tuple[SecretMark, ...]]:
    """For each path whose new content ``decision`` found secrets in: where they are and what
    they look like (to withhold that content from the plan file; empty when none)."""
    from agentos.governance.secrets import find_secrets

    flagged: dict[str, set[tuple[str, int]]] = {}
    for finding in decision.findings:
        if finding.rule == "secret" and finding.path is not None and finding.line is not None:
            flagged.setdefault(finding.path, set()).add((finding.pattern or "", finding.line))
    marks: dict[str, tuple[SecretMark, ...]] = {}
    for change in plan.changeset.changes:
        wanted = flagged.get(change.path)
        if change.op == "delete" or not wanted or change.content.encoding == "withheld":
            continue
        hits = find_secrets(change.content.to_bytes())
        marks[change.path] = tuple(
            SecretMark(pattern=hit.kind, line=hit.line, description=hit.description)
            for hit in hits
            if (hit.kind, hit.line) in wanted
        )
    return {path: found for path, found in marks.items() if found}


def _risk_findings(plan: ChangePlan, policy: Policy, risk: Risk) -> Iterator[Finding]:
    level = risk.level
    why = "; ".join(r.reason for r in risk.reasons) or "no reason"
    if level in policy.writegate.deny_risk:
        yield Finding(
            rule="risk",
            path=None,
            severity="DENY",
            message=f"risk {level} ({why}) is in writegate.deny_risk",
        )
    elif level in policy.writegate.require_approval_for_risk:
        yield Finding(
            rule="risk",
            path=None,
            severity="NEED_APPROVAL",
            message=f"risk {level} ({why}) needs approval (writegate.require_approval_for_risk)",
        )
    if level in policy.executor.require_health_checks_for_risk and not applicable_checks(
        policy, plan_paths(plan)
    ):
        yield Finding(
            rule="unverified-risk",
            path=None,
            severity="NEED_APPROVAL",
            message=f"risk {level} needs a health check that covers the change "
            "(executor.require_health_checks_for_risk) and no health check applies; add one "
            "to health_checks or get an approval",
        )
