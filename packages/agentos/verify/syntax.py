"""Syntax checks of written files (SPEC §9): ``.py`` compiles, ``.json`` / ``.yaml`` /
``.toml`` parse. Pure functions of a path and bytes; the message names the file, the line
where the parser gives one, and the parser's own words.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentos.model import ChangePlan

SYNTAX_SUFFIXES = (".py", ".json", ".yaml", ".yml", ".toml")


def syntax_problem(path: str, data: bytes) -> str | None:
    """Why ``data`` at ``path`` does not parse (None when it does, or is not checked)."""
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    checker = _CHECKERS.get(suffix)
    if checker is None:
        return None
    try:
        return checker(path, data)
    except (RecursionError, MemoryError):
        return f"{path}: nested too deeply to parse"


def syntax_problems(plan: ChangePlan) -> list[str]:
    """Parser errors of the files ``plan`` writes (.py / .json / .yaml / .toml)."""
    problems = []
    for change in plan.changeset.changes:
        if change.op == "delete" or not change.path.lower().endswith(SYNTAX_SUFFIXES):
            continue
        problem = syntax_problem(change.path, change.content.to_bytes())
        if problem is not None:
            problems.append(problem)
    return problems


def _python(path: str, data: bytes) -> str | None:
    try:
        # Warnings (an invalid escape sequence, say) are not syntax errors, whatever filter
        # the process runs under.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(data, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{path}:{exc.lineno or '?'}: Python syntax error: {exc.msg}"
    except ValueError as exc:  # NUL bytes in source
        return f"{path}: Python source cannot be compiled: {exc}"
    return None


def _json(path: str, data: bytes) -> str | None:
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        return f"{path}:{exc.lineno}: invalid JSON: {exc.msg}"
    except (UnicodeDecodeError, ValueError) as exc:
        return f"{path}: invalid JSON: {exc}"
    return None


def _yaml(path: str, data: bytes) -> str | None:
    import yaml

    try:
        for _ in yaml.safe_load_all(data):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else "?"
        return f"{path}:{line}: invalid YAML: {exc.problem or exc.context}"
    except yaml.YAMLError as exc:
        return f"{path}: invalid YAML: {exc}"
    return None


def _toml(path: str, data: bytes) -> str | None:
    import tomllib

    try:
        tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"{path}: invalid TOML: not UTF-8 ({exc.reason})"
    except tomllib.TOMLDecodeError as exc:
        return f"{path}: invalid TOML: {exc}"
    return None


_CHECKERS: dict[str, Callable[[str, bytes], str | None]] = {
    ".py": _python,
    ".json": _json,
    ".yaml": _yaml,
    ".yml": _yaml,
    ".toml": _toml,
}
