"""Each rule's verdict on each path of a plan (``policy explain``, ``check --explain``).

Built from a decision's findings, so the explanation can never disagree with the decision;
passing rules say what let the path through where that is informative (the allowed pattern).
"""

from __future__ import annotations

from dataclasses import dataclass

from agentos.governance.facts import plan_paths
from agentos.governance.policy import Policy
from agentos.model import RULES, ChangePlan, Decision, RuleId
from agentos.patterns import PathPatterns

PLAN_ROW = "(plan)"
# Rules that judge the plan as a whole as well as (or instead of) single paths.
PLAN_RULES: tuple[RuleId, ...] = ("constraint", "risk", "unverified-risk")
PATH_RULES = tuple(r for r in RULES if r not in ("risk", "unverified-risk"))


@dataclass(frozen=True)
class RuleVerdict:
    """One rule on one path: ``pass``, ``NEED_APPROVAL`` or ``DENY``, and why."""

    rule: str
    verdict: str
    detail: str


@dataclass(frozen=True)
class PathExplanation:
    """Every rule's verdict on one path (or on the plan as a whole, path ``(plan)``)."""

    path: str
    verdicts: tuple[RuleVerdict, ...]


def explain(plan: ChangePlan, policy: Policy, decision: Decision) -> list[PathExplanation]:
    """Per path, each rule's verdict, in rule order; the plan-wide rules last."""
    allowed = PathPatterns(policy.executor.allowed_paths)
    rows: list[PathExplanation] = []
    seen: set[str] = set()
    for path in plan_paths(plan):
        if path in seen:
            continue
        seen.add(path)
        verdicts = []
        for rule in PATH_RULES:
            hits = [f for f in decision.findings if f.rule == rule and f.path == path]
            if hits:
                worst = "DENY" if any(f.severity == "DENY" for f in hits) else "NEED_APPROVAL"
                verdicts.append(RuleVerdict(rule, worst, "; ".join(f.message for f in hits)))
            elif rule == "outside-allowed-paths":
                pattern = allowed.first_match(path)
                verdicts.append(RuleVerdict(rule, "pass", f"allowed by {pattern!r}"))
            else:
                verdicts.append(RuleVerdict(rule, "pass", ""))
        rows.append(PathExplanation(path, tuple(verdicts)))
    plan_verdicts = []
    for rule in PLAN_RULES:
        hits = [f for f in decision.findings if f.rule == rule and f.path is None]
        if hits:
            worst = "DENY" if any(f.severity == "DENY" for f in hits) else "NEED_APPROVAL"
            plan_verdicts.append(RuleVerdict(rule, worst, "; ".join(f.message for f in hits)))
        elif rule == "risk":
            plan_verdicts.append(RuleVerdict(rule, "pass", f"risk {decision.risk.level}"))
        else:
            plan_verdicts.append(RuleVerdict(rule, "pass", ""))
    rows.append(PathExplanation(PLAN_ROW, tuple(plan_verdicts)))
    return rows


def denial_summary(decision: Decision, *, shown: int = 3) -> str:
    """The DENY findings on one line, rule by rule: ``rule (path, path:line, ...)``, the
    first ``shown`` paths of each rule and "and N more"; a plan-wide finding by its message."""
    by_rule: dict[str, list[str]] = {}
    for finding in decision.findings:
        if finding.severity != "DENY":
            continue
        if finding.path is None:
            item = finding.message
        else:
            path = finding.path if finding.path.isprintable() else repr(finding.path)
            item = path if finding.line is None else f"{path}:{finding.line}"
        items = by_rule.setdefault(finding.rule, [])
        if item not in items:
            items.append(item)
    parts = []
    for rule, items in by_rule.items():
        listed = ", ".join(items[:shown])
        if len(items) > shown:
            listed += f" and {len(items) - shown} more"
        parts.append(f"{rule} ({listed})")
    return ", ".join(parts)
