"""Reading and writing plan files, with every integrity check done on load.

Load order matters: the format version first (a newer plan is refused with a clear message),
then the checksum over the ``changes`` exactly as stored (so any altered byte is an integrity
violation, exit 6, even when the change also breaks the schema), then the schema, then each
change's content against its own hash and the changeset's invariants.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentos.digest import canonical_list_sha256, sha256_hex
from agentos.errors import ChecksumMismatchError, IntegrityError, PlanFormatError, UsageError
from agentos.model import (
    PLAN_FORMAT,
    PLAN_FORMAT_PREFIX,
    PLAN_FORMAT_VERSION,
    ChangePlan,
    plan_digest_of,
)
from agentos.statefs import write_atomic

_PLAN_MARKER = b'"' + PLAN_FORMAT_PREFIX.encode() + b""
_CHECKSUM = re.compile(r"sha256:[0-9a-f]{64}")
# More digits than any format version this code will ever meet: such a version is "newer".
_MAX_VERSION_DIGITS = 9


def dump_plan(plan: ChangePlan) -> bytes:
    """The plan as stored on disk: indented JSON, UTF-8, ending in a newline."""
    return b"".join(_plan_json(plan))


def write_plan(plan: ChangePlan, path: Path) -> None:
    """Write ``plan`` to ``path`` atomically and durably."""
    write_atomic(path, dump_plan(plan))


# Stands for the changes in the plan's outline; a string no JSON dump of a plan's other
# fields can hold after the changes (only the hex plan_digest follows them).
_CHANGES_MARK = "\0agentos-changes\0"
# The changes' items sit three levels deep: plan, changeset, changes (indent=2).
_ITEM_BREAK = "\n" + " " * 6


def _plan_json(plan: ChangePlan) -> list[bytes]:
    """``json.dumps(plan, indent=2, ensure_ascii=False)`` + newline as UTF-8, in pieces made
    one change at a time: a plan carries every new content, and one string of it all (four
    bytes a character once a single one is outside Latin-1) would be the planner's peak."""
    changes = plan.changeset.changes
    if not changes:
        text = json.dumps(plan.model_dump(mode="json"), indent=2, ensure_ascii=False)
        return [text.encode(), b"\n"]
    outline = plan.model_dump(mode="json", exclude={"changeset": {"changes": True}})
    outline["changeset"] = {"changes": [_CHANGES_MARK], **outline["changeset"]}
    text = json.dumps(outline, indent=2, ensure_ascii=False)
    mark = json.dumps(_CHANGES_MARK)
    at = text.rindex(mark)
    pieces = [text[:at].encode()]
    between = ("," + _ITEM_BREAK).encode()
    for index, change in enumerate(changes):
        if index:
            pieces.append(between)
        item = json.dumps(change.model_dump(mode="json"), indent=2, ensure_ascii=False)
        # A JSON string never holds a raw newline, so each one is an indentation break.
        pieces.append(item.replace("\n", _ITEM_BREAK).encode())
    pieces.append(text[at + len(mark) :].encode() + b"\n")
    return pieces


def read_plan_bytes(path: Path) -> bytes:
    """The raw bytes of a plan file, or a ``UsageError`` that names it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"plan file {str(path)!r} does not exist; create one with 'agentos plan'"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"plan file {str(path)!r} is a directory, not a plan file") from None
    except OSError as exc:
        raise UsageError(f"cannot read plan file {str(path)!r}: {exc.strerror}") from None


def load_plan(path: Path) -> ChangePlan:
    """A plan file, verified: version, checksum, schema, content hashes, invariants."""
    return parse_plan(read_plan_bytes(path), name=str(path))


def parse_plan(raw: bytes, *, name: str) -> ChangePlan:
    """Verify and parse the bytes of a plan file (see the module docstring for the order)."""
    from pydantic_core import from_json

    try:
        # Parsed straight from the bytes: ``json.loads`` first decodes the whole file into one
        # str, four bytes a character as soon as one character lies beyond U+FFFF (4 x the
        # file, on top of it). Anything it refuses goes to ``json.loads`` for the exact error.
        doc = from_json(raw)
    except ValueError:
        doc = _loads(raw, name)
    if not isinstance(doc, dict):
        raise PlanFormatError(f"{name}: not a plan file (expected a JSON object)")
    _check_version(doc, name)
    _check_checksum(doc, name)
    _check_digest(doc, name)
    # The checked document holds every content once more: gone before the model is built.
    del doc
    try:
        plan = ChangePlan.model_validate_json(raw)
    except ValidationError as exc:
        raise PlanFormatError(
            f"{name}: invalid plan file: {_first_errors(exc)}",
            details={"plan_file": name, "errors": exc.error_count()},
        ) from None
    _check_contents(plan, name)
    return plan


def _loads(raw: bytes, name: str) -> Any:
    """``raw`` parsed by ``json.loads``; a corrupt or foreign file named as such."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long integers.
        where = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        if _PLAN_MARKER in raw:
            raise IntegrityError(
                f"{name}{where}: the plan file is corrupt (no longer valid JSON); it was "
                "altered after planning — plan again from the original input",
                details={"plan_file": name},
            ) from None
        raise PlanFormatError(
            f"{name}{where}: not a plan file (invalid JSON); pass a file written by 'agentos plan'",
            details={"plan_file": name},
        ) from None


def _check_version(doc: dict[str, Any], name: str) -> None:
    fmt = doc.get("format")
    if not isinstance(fmt, str) or not fmt.startswith(PLAN_FORMAT_PREFIX):
        raise PlanFormatError(
            f"{name}: not an agentos plan file (its 'format' is {fmt!r}, expected {PLAN_FORMAT!r})",
            details={"plan_file": name},
        )
    version = fmt[len(PLAN_FORMAT_PREFIX) :]
    # ASCII digits only: str.isdigit() accepts "²", which int() then rejects.
    if not re.fullmatch(r"[0-9]+", version):
        raise PlanFormatError(f"{name}: unknown plan format {fmt!r}", details={"plan_file": name})
    significant = version.lstrip("0")
    if len(significant) > _MAX_VERSION_DIGITS or int(version) > PLAN_FORMAT_VERSION:
        raise PlanFormatError(
            f"{name}: this plan was written by a newer agentos (format {fmt}); this agentos "
            f"reads {PLAN_FORMAT} — upgrade agentos, or plan again with this version",
            details={"plan_file": name, "format": fmt},
        )
    if int(version) < PLAN_FORMAT_VERSION:
        raise PlanFormatError(f"{name}: unsupported old plan format {fmt!r}")


def _check_checksum(doc: dict[str, Any], name: str) -> None:
    changeset = doc.get("changeset")
    if not isinstance(changeset, dict):
        raise PlanFormatError(f"{name}: invalid plan file: 'changeset' is missing")
    changes = changeset.get("changes")
    recorded = changeset.get("checksum")
    if not isinstance(changes, list) or not isinstance(recorded, str):
        raise PlanFormatError(
            f"{name}: invalid plan file: 'changeset' needs 'changes' and 'checksum'"
        )
    try:
        # The checksum is over ``changes`` exactly as stored (SPEC §5), whatever they hold.
        actual = "sha256:" + canonical_list_sha256(changes)
    except (TypeError, ValueError, RecursionError):
        raise IntegrityError(
            f"{name}: the changes cannot be hashed; the file was altered"
        ) from None
    if actual != recorded:
        shown = recorded if _CHECKSUM.fullmatch(recorded) else repr(recorded)
        raise ChecksumMismatchError(
            f"{name}: checksum mismatch: the changes hash to {actual} but the plan records "
            f"{shown}; the plan was altered after it was made — do not apply it, plan again",
            details={"plan_file": name, "expected": recorded, "actual": actual},
        )


def _check_digest(doc: dict[str, Any], name: str) -> None:
    """The plan's metadata (id, intent, author, time, base, risk, stats) as sealed."""
    recorded = doc.get("plan_digest")
    if recorded is None:
        raise IntegrityError(
            f"{name}: the plan has no plan_digest, so its author, intent and risk cannot be "
            "trusted (it was altered, or written by an older agentos) — plan again",
            details={"plan_file": name},
        )
    try:
        actual = plan_digest_of(doc)
    except (TypeError, ValueError, RecursionError):
        raise IntegrityError(f"{name}: the plan cannot be hashed; the file was altered") from None
    if actual != recorded:
        shown = (
            recorded
            if isinstance(recorded, str) and _CHECKSUM.fullmatch(recorded)
            else (repr(recorded))
        )
        raise IntegrityError(
            f"{name}: plan_digest mismatch: the plan's id, intent, author, times, base, risk "
            f"or stats hash to {actual} but the plan records {shown}; it was altered after it "
            "was made — do not trust or apply it, plan again",
            details={"plan_file": name, "expected": recorded, "actual": actual},
        )


def _check_contents(plan: ChangePlan, name: str) -> None:
    seen: set[str] = set()
    previous = ""
    for index, change in enumerate(plan.changeset.changes):
        touched = (change.from_path, change.path) if change.op == "rename" else (change.path,)
        for path in touched:
            if path in seen:
                raise IntegrityError(
                    f"{name}: changes[{index}] touches {path} a second time; agentos never "
                    "writes such a plan, so it was forged",
                    details={"plan_file": name, "path": path},
                )
            seen.add(path)
        if change.path < previous:
            raise IntegrityError(
                f"{name}: changes[{index}] is out of order; agentos writes changes sorted by "
                "path, so the plan was rearranged",
                details={"plan_file": name, "path": change.path},
            )
        previous = change.path
        # Withheld contents are not in the file to hash; such a change is never written.
        if change.op == "delete" or change.content.encoding == "withheld":
            continue
        if sha256_hex(change.content.to_bytes()) != change.sha256:
            raise IntegrityError(
                f"{name}: the content of {change.path} does not hash to its recorded sha256; "
                "the plan was altered",
                details={"plan_file": name, "path": change.path},
            )


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        location = ".".join(str(p) for p in error["loc"]) or "(top)"
        if not location.isprintable():  # keys come from the file; keep the message one line
            location = repr(location)
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
