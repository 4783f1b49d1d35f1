"""The MCP filesystem server's ``edit_file``: its matching, made exact enough for a gate.

Each edit ``{oldText, newText}`` is applied to the result of the ones before. ``oldText`` is
looked for as it is first; when it is not there, line by line with the leading and trailing
whitespace of every line ignored, and the new text then takes the indentation of the first
matched line (later lines keep their indentation relative to ``oldText``'s), as the server
does. Line endings of the edit are read as LF.

Where agentos differs from the server, on purpose:

- a match must be unique, exactly or line by line: the server edits the first of several;
- an empty ``oldText``, or one equal to ``newText``, is refused (the server would insert at
  the start of the file, or change nothing);
- a file whose lines all end in CRLF is edited as LF and keeps its CRLF endings, and any other
  file keeps its bytes outside the edits (the server rewrites every CRLF as LF).
"""

from __future__ import annotations

from agentos.errors import PatchConflictError, PatchParseError
from agentos.planner.textedits import existing_text, line_span, write_text
from agentos.planner.tree import Overlay
from agentos.textlines import line_ending_hint


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _line_match(lines: list[str], old_lines: list[str]) -> list[int]:
    """Where ``old_lines`` match ``lines`` ignoring each line's surrounding whitespace (at
    most two places)."""
    wanted = [line.strip() for line in old_lines]
    found: list[int] = []
    for start in range(len(lines) - len(wanted) + 1):
        if lines[start].strip() != wanted[0]:
            continue
        if all(lines[start + k].strip() == wanted[k] for k in range(1, len(wanted))):
            found.append(start)
            if len(found) > 1:
                break
    return found


def _reindent(new: str, old_lines: list[str], indent: str) -> list[str]:
    """``new``'s lines placed at ``indent``, as the server places them."""
    placed: list[str] = []
    for index, line in enumerate(new.split("\n")):
        if index == 0:
            placed.append(indent + line.lstrip())
            continue
        old_indent = _indent(old_lines[index]) if index < len(old_lines) else ""
        new_indent = _indent(line)
        if old_indent and new_indent:
            extra = " " * max(0, len(new_indent) - len(old_indent))
            placed.append(indent + extra + line.lstrip())
        else:
            placed.append(line)
    return placed


def edit_once(text: str, old: str, new: str, *, label: str, path: str) -> tuple[str, int, int]:
    """``text`` with one edit applied, and the lines it added and removed."""
    found = text.count(old)
    first = old.split("\n", 1)[0][:80]
    if found == 1:
        return text.replace(old, new, 1), line_span(new), line_span(old)
    if found > 1:
        raise PatchConflictError(
            f"{label}: oldText starting {first!r} is ambiguous in {path}: it occurs {found} "
            "times; add more context",
            details={"path": path, "occurrences": found},
        )
    lines = text.split("\n")
    old_lines = old.split("\n")
    matches = _line_match(lines, old_lines)
    if not matches:
        raise PatchConflictError(
            f"{label}: oldText starting {first!r} was not found in {path}, exactly or line by "
            "line; re-read the file and retry" + line_ending_hint(text, old, what="oldText"),
            details={"path": path},
        )
    if len(matches) > 1:
        raise PatchConflictError(
            f"{label}: oldText starting {first!r} is ambiguous in {path}: its lines, with "
            "surrounding whitespace ignored, occur more than once; add more context",
            details={"path": path},
        )
    start = matches[0]
    placed = _reindent(new, old_lines, _indent(lines[start]))
    lines[start : start + len(old_lines)] = placed
    return "\n".join(lines), len(placed), len(old_lines)


def apply_edit_file(
    overlay: Overlay, path: str, edits: list[tuple[str, str]], *, source: str, where: str
) -> None:
    """Apply ``edit_file``'s edits to ``path`` in order, all of them or none."""
    label = f"{source}: {where}"
    hint = "write it with write_file first"
    _, text = existing_text(overlay, path, label=label, hint=hint)
    crlf = "\r\n" in text and text.count("\r\n") == text.count("\n")
    if crlf:
        text = text.replace("\r\n", "\n")
    added = removed = 0
    for index, (raw_old, raw_new) in enumerate(edits):
        at = f"{label} edits[{index}]"
        old, new = raw_old.replace("\r\n", "\n"), raw_new.replace("\r\n", "\n")
        if not old:
            raise PatchParseError(
                f"{at}: oldText is empty; use write_file to write {path} whole",
                details={"input": source, "path": path},
            )
        if old == new:
            raise PatchParseError(
                f"{at}: oldText and newText are the same; nothing to change in {path}",
                details={"input": source, "path": path},
            )
        text, plus, minus = edit_once(text, old, new, label=at, path=path)
        # Characters are at least bytes: stop as soon as the text outgrows the limit.
        overlay.limits.check_file(
            len(text), source=source, path=path, what=f"{where} would make it at least"
        )
        added, removed = added + plus, removed + minus
    if crlf:
        text = text.replace("\n", "\r\n")
    write_text(overlay, path, text, source=source, where=where, counts=(added, removed))
