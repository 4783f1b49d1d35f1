"""Risk of a changeset (SPEC §6): LOW unless size, rules, deletions or sensitive files raise it.

A pure function of the changes, their line counts and the settings; each raise carries the
reason and the paths behind it so the plan explains itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentos.model import RISK_ORDER, FileChange, Risk, RiskLevel, RiskReason
from agentos.patterns import PathPatterns

# Changing the rules or the pipeline that enforces them is always the highest risk.
CRITICAL_PATHS: tuple[str, ...] = (
    "agent/policies/**",
    ".github/workflows/**",
    ".gitlab-ci.yml",
    ".circleci/**",
    ".ci/**",
    "Jenkinsfile",
    "azure-pipelines.yml",
)


@dataclass(frozen=True)
class RiskRule:
    """``paths`` that raise the risk to ``level`` for ``reason`` (policy ``risk_rules``)."""

    paths: tuple[str, ...]
    level: RiskLevel
    reason: str


@dataclass(frozen=True)
class RiskSettings:
    """The policy's risk inputs; the defaults are those of the shipped default policy."""

    medium_files: int = 10
    high_files: int = 30
    medium_lines: int = 300
    high_lines: int = 2000
    rules: tuple[RiskRule, ...] = (
        RiskRule(("**/migrations/**", "**/*.sql"), "HIGH", "database schema change"),
        RiskRule((".github/workflows/**", ".ci/**"), "HIGH", "CI pipeline"),
    )
    critical_paths: tuple[str, ...] = field(default=CRITICAL_PATHS)


def assess_risk(
    changes: tuple[FileChange, ...] | list[FileChange],
    changed_lines: int,
    settings: RiskSettings,
) -> Risk:
    """The risk level of ``changes`` and every reason that raised it."""
    reasons: list[RiskReason] = []
    files = len(changes)
    if files >= settings.high_files:
        reasons.append(RiskReason(level="HIGH", reason=f"touches {files} files"))
    elif files >= settings.medium_files:
        reasons.append(RiskReason(level="MEDIUM", reason=f"touches {files} files"))
    if changed_lines >= settings.high_lines:
        reasons.append(RiskReason(level="HIGH", reason=f"changes {changed_lines} lines"))
    elif changed_lines >= settings.medium_lines:
        reasons.append(RiskReason(level="MEDIUM", reason=f"changes {changed_lines} lines"))
    deleted = tuple(c.path for c in changes if c.op == "delete")
    if deleted:
        reasons.append(
            RiskReason(level="MEDIUM", reason=f"deletes {len(deleted)} file(s)", paths=deleted)
        )
    paths = [p for c in changes for p in _paths_of(c)]
    for rule in settings.rules:
        matcher = PathPatterns(rule.paths, fold_case=True)
        hit = tuple(p for p in paths if matcher.matches(p))
        if hit:
            reasons.append(RiskReason(level=rule.level, reason=rule.reason, paths=hit))
    critical = PathPatterns(settings.critical_paths, fold_case=True)
    hit = tuple(p for p in paths if critical.matches(p))
    if hit:
        reasons.append(
            RiskReason(level="CRITICAL", reason="changes the policy or the CI pipeline", paths=hit)
        )
    level: RiskLevel = max((r.level for r in reasons), key=RISK_ORDER.index, default="LOW")
    return Risk(level=level, reasons=tuple(reasons))


def _paths_of(change: FileChange) -> tuple[str, ...]:
    if change.op == "rename":
        return (change.from_path, change.path)
    return (change.path,)
