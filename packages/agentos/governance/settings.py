"""The policy as plain values for each stage: the one place a ``Policy`` is read for them.

The planner, the risk assessment, the executor and the file-writing layer never see a
``Policy``; the pipeline hands each the settings built here.
"""

from __future__ import annotations

from agentos.executor.fsops import Guard
from agentos.executor.settings import ExecutorSettings
from agentos.governance.policy import Policy
from agentos.governance.risk import CRITICAL_PATHS, RiskRule, RiskSettings
from agentos.patterns import PathPatterns
from agentos.planner.tree import PlanLimits
from agentos.verify.spec import HealthCheckSpec


def executor_settings(policy: Policy) -> ExecutorSettings:
    """The values the executor takes from ``policy``."""
    executor = policy.executor
    return ExecutorSettings(
        allowed_paths=tuple(executor.allowed_paths),
        forbidden_paths=tuple(policy.writegate.forbidden_paths),
        durable=executor.durability == "full",
        lock_enabled=executor.concurrency.enabled,
        lock_timeout=executor.concurrency.lock_timeout,
        idempotency_enabled=executor.idempotency.enabled,
        cached_result_ttl=executor.idempotency.cached_result_ttl,
        backups_keep=executor.backups.keep,
        max_execution_time=executor.constraints.max_execution_time,
        max_step_time=executor.constraints.max_step_time,
    )


def policy_guard(policy: Policy) -> Guard:
    """The policy's path rules, which the file-writing layer enforces on its own."""
    return Guard(tuple(policy.executor.allowed_paths), tuple(policy.writegate.forbidden_paths))


def plan_limits(policy: Policy) -> PlanLimits:
    """The planner's limits."""
    content = policy.writegate.content
    return PlanLimits(
        max_file_bytes=content.max_file_bytes,
        max_input_bytes=content.max_input_bytes,
        max_files_touched=policy.executor.constraints.max_files_touched,
    )


def risk_settings(policy: Policy, *, policy_path: str | None = None) -> RiskSettings:
    """The risk inputs of ``policy``; the policy file itself is always CRITICAL to change."""
    size = policy.writegate.size_risk
    critical = CRITICAL_PATHS if policy_path is None else (*CRITICAL_PATHS, policy_path)
    return RiskSettings(
        medium_files=size.medium_files,
        high_files=size.high_files,
        medium_lines=size.medium_lines,
        high_lines=size.high_lines,
        rules=tuple(
            RiskRule(tuple(r.paths), r.level, r.reason) for r in policy.writegate.risk_rules
        ),
        critical_paths=critical,
    )


def applicable_checks(policy: Policy, paths: list[str]) -> list[HealthCheckSpec]:
    """Health checks that cover a change of ``paths``: no ``when_paths``, or one matching."""
    chosen = []
    for check in policy.health_checks:
        if not check.when_paths:
            chosen.append(check)
            continue
        matcher = PathPatterns(check.when_paths)
        if any(matcher.matches(p) for p in paths):
            chosen.append(check)
    return chosen
