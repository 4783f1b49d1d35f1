"""Warnings about a valid policy that probably does not say what its author meant.

- a pattern that can never match a path agentos writes (``..``, absolute, backslashes, ``!``
  negations, anything under ``.git/`` or ``.agentos/`` which path-safety denies anyway);
- an always-review entry shadowed by forbidden paths: every path it matches is DENY before
  review could matter;
- a health check that never applies (its ``when_paths`` can never match an allowed path).

Shadowing is judged on an example path built from the pattern (``**`` and ``*`` become a
name), which is what a person reading the pattern would test by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from agentos.governance.policy import Policy
from agentos.patterns import PathPatterns
from agentos.workspace import path_problems

_CLASS = re.compile(r"\[!?([^\]]+)\]")


@dataclass(frozen=True)
class LintWarning:
    """One warning: the key it is about (``writegate.forbidden_paths[2]``) and why."""

    key: str
    message: str


def example_path(pattern: str) -> str:
    """A path that ``pattern`` matches, for judging what it shadows."""
    text = pattern.strip("/")
    text = _CLASS.sub(lambda m: m.group(1)[0], text)
    text = re.sub(r"(^|/)\*\*(/|$)", r"\1x\2", text)
    text = text.replace("**", "x").replace("*", "x").replace("?", "x")
    if pattern.endswith("/") or pattern.endswith("/**"):
        text = text.rstrip("/") + "/x"
    return text or "x"


def example_paths(pattern: str, allowed_paths: list[str]) -> list[str]:
    """Example paths of ``pattern``; for one that matches at any depth, also one under each
    allowed directory (``**/*.py`` -> ``x/x.py``, ``src/x.py``, ...)."""
    base = example_path(pattern)
    stripped = pattern.strip("/")
    if stripped.startswith("**/"):
        tail = base.split("/", 1)[1] if "/" in base else base
    elif "/" not in stripped and not pattern.startswith("/"):
        tail = base
    else:
        return [base]
    candidates = [base]
    for allowed in allowed_paths:
        directory = example_path(allowed).rpartition("/")[0]
        candidates.append(f"{directory}/{tail}" if directory else tail)
    return candidates


def never_matches(pattern: str) -> str | None:
    """Why ``pattern`` can never match a path agentos writes (None when it can)."""
    if pattern.startswith("!"):
        return "negation ('!') is not supported here; list the paths to include instead"
    if "\\" in pattern:
        return "contains a backslash; patterns use '/' between names"
    body = pattern.lstrip("/")
    if pattern.startswith("//") or re.match(r"^[A-Za-z]:", pattern):
        return "is an absolute or drive path; patterns are relative to the workspace"
    if ".." in body.split("/"):
        return "contains '..'; agentos never writes outside the workspace"
    problems = path_problems(example_path(pattern))
    if problems:
        return f"only matches paths path-safety always denies ({problems[0]})"
    return None


def lint_policy(policy: Policy) -> list[LintWarning]:
    """Every warning for ``policy``: pattern problems first, then shadowing, then the rest."""
    return list(_lint(policy))


def _lint(policy: Policy) -> Iterator[LintWarning]:
    gate = policy.writegate
    executor = policy.executor
    lists: list[tuple[str, list[str]]] = [
        ("writegate.forbidden_paths", gate.forbidden_paths),
        *(
            (f"writegate.risk_rules[{i}].paths", rule.paths)
            for i, rule in enumerate(gate.risk_rules)
        ),
        ("executor.allowed_paths", executor.allowed_paths),
        ("executor.always_review_categories", executor.always_review_categories),
        *(
            (f"health_checks[{i}].when_paths", check.when_paths)
            for i, check in enumerate(policy.health_checks)
        ),
    ]
    for key, patterns in lists:
        for index, pattern in enumerate(patterns):
            why = never_matches(pattern)
            if why is not None:
                yield LintWarning(f"{key}[{index}]", f"{pattern!r} can never match: {why}")
    forbidden = PathPatterns(gate.forbidden_paths, fold_case=True)
    allowed = PathPatterns(executor.allowed_paths)
    for index, pattern in enumerate(executor.always_review_categories):
        if never_matches(pattern):
            continue
        # Only forbidden patterns shadow a review entry: one outside allowed_paths is idle
        # today but starts to matter as soon as allowed_paths grows.
        shadow = _shadow(pattern, forbidden, None, executor.allowed_paths)
        if shadow:
            yield LintWarning(
                f"executor.always_review_categories[{index}]",
                f"{pattern!r} is shadowed: {shadow}, so review never comes into play",
            )
    for index, check in enumerate(policy.health_checks):
        usable = [p for p in check.when_paths if not never_matches(p)]
        if check.when_paths and not usable:
            yield LintWarning(
                f"health_checks[{index}]",
                f"health check {check.name!r} never applies: none of its when_paths can match",
            )
        elif check.when_paths and all(
            _shadow(p, forbidden, allowed, executor.allowed_paths) for p in usable
        ):
            yield LintWarning(
                f"health_checks[{index}]",
                f"health check {check.name!r} never applies: its when_paths only match paths "
                "that are forbidden or outside executor.allowed_paths",
            )
    for level in gate.deny_risk:
        if level in gate.require_approval_for_risk:
            yield LintWarning(
                "writegate.require_approval_for_risk",
                f"{level} is also in writegate.deny_risk; such plans are denied, approval "
                "cannot help",
            )


def _shadow(
    pattern: str,
    forbidden: PathPatterns,
    allowed: PathPatterns | None,
    allowed_paths: list[str],
) -> str | None:
    """Why no path ``pattern`` matches gets past forbidden_paths (and, given ``allowed``,
    allowed_paths); None when one can."""
    reasons = []
    for example in example_paths(pattern, allowed_paths):
        hit = forbidden.first_match(example)
        if hit is not None:
            reasons.append(f"paths it matches (e.g. {example}) are forbidden by {hit!r}")
        elif allowed is not None and not allowed.matches(example):
            reasons.append(f"paths it matches (e.g. {example}) are outside executor.allowed_paths")
        else:
            return None
    return reasons[0]
