"""Plan and execution ids given by a unique prefix, as git takes a short commit hash.

``agentos rollback exec-3fa2`` names the one execution whose id starts with ``exec-3fa2``. A
prefix must have at least ``MIN_PREFIX`` characters after the ``exec-`` or ``plan-`` its ids
start with (or in all, for a plan id chosen with ``--plan-id``, which may not start with
them: ``agentos.planner.plan.check_chosen_id``); an exact id always wins; a
prefix that matches several ids is a usage error listing them; one that matches none is left
as given, for the caller's own "not found" error.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from agentos.errors import UsageError

if TYPE_CHECKING:
    from agentos.audit.trail import AuditTrail

MIN_PREFIX = 4
# The marks agentos's own ids start with: they do not count towards a prefix's length, and
# ``--plan-id`` may not start with them (``agentos.model.RESERVED_ID_MARKS``, spelled here so
# that resolving an execution id does not import the plan model).
ID_MARKS = ("exec-", "plan-")
# ``exec-`` and 20 hex digits (``agentos.executor.executions.execution_id_for``).
FULL_EXECUTION_ID = 25
# How many candidates an ambiguous prefix lists.
LISTED = 10


def long_enough(ref: str) -> bool:
    """True when ``ref`` has enough characters to stand for an id (git asks 4 of a hash);
    a beginning of a mark (``p``, ``plan``, ``plan-``, ``exec``) never has."""
    if any(mark.startswith(ref) for mark in ID_MARKS):
        return False
    for mark in ID_MARKS:
        if ref.startswith(mark):
            return len(ref) - len(mark) >= MIN_PREFIX
    return len(ref) >= MIN_PREFIX


def unique_match(ref: str, ids: Iterable[str], *, what: str, hint: str) -> str | None:
    """The id among ``ids`` that ``ref`` names: itself, or the only one it is a prefix of;
    None when it names none (or is too short to be a prefix); a ``UsageError`` listing them
    when it is a prefix of several (``what``: ``execution``; ``hint``: where to see them)."""
    if not long_enough(ref):
        return None
    found = sorted(i for i in ids if i.startswith(ref))
    if ref in found:
        return ref
    if len(found) <= 1:
        return found[0] if found else None
    shown = ", ".join(found[:LISTED]) + (
        f" and {len(found) - LISTED} more" if len(found) > LISTED else ""
    )
    raise UsageError(
        f"{what} id prefix {ref!r} is ambiguous: it matches {shown}; give more characters "
        f"(see {hint})",
        details={"prefix": ref, "candidates": found[:LISTED], "matches": len(found)},
    )


def resolve_execution_id(trail: AuditTrail, ref: str) -> str:
    """The id of the execution ``ref`` names in the audit trail (an id or a unique prefix);
    ``ref`` itself when it names none, for the caller's error."""
    if not long_enough(ref) or len(ref) >= FULL_EXECUTION_ID:
        return ref  # too short to be a prefix, or as long as an id: taken as it is
    from agentos.audit.snapshot import answer

    ids = answer(trail, lambda folds: folds.ids_with_prefix(ref))
    found = unique_match(ref, ids, what="execution", hint="'agentos history'")
    return found if found is not None else ref


def resolve_plan_id(plans_dir: Path, ref: str) -> str | None:
    """The id of the stored plan (``plans_dir/<id>.json``) that ``ref`` names by a unique
    prefix; None when it names none."""
    if "/" in ref or not long_enough(ref):
        return None
    try:
        names = [p.name for p in plans_dir.iterdir()]
    except (FileNotFoundError, NotADirectoryError):
        return None
    ids = [name.removesuffix(".json") for name in names if name.endswith(".json")]
    return unique_match(ref, ids, what="plan", hint=f"the plans in {plans_dir}")


def is_file(path: Path) -> bool:
    """``path.is_file()``, False too when the name cannot be a file at all (a component
    longer than the system allows, ENAMETOOLONG; a NUL byte): such a reference names nothing,
    and gets the caller's "not found" error."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
