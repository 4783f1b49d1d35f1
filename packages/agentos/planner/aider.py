"""aider's SEARCH/REPLACE blocks: reading them out of a message, and applying them.

A block names its file on one of the (up to three) lines before it, possibly inside or just
before a ``` fence and dressed the way models dress it (``**src/app.py**``, ``# app.py:``,
`` `app.py` ``, ```` ```app.py ````); a block without a file line takes the previous
block's file. Then::

    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE

(5 to 9 marker characters, as aider reads them). Text outside the blocks is ignored. As in
aider, the SEARCH lines are whole lines, and a file, SEARCH and REPLACE each get a final
newline before matching; a SEARCH of only blank lines creates the file when it does not exist
and appends the REPLACE lines to it when it does.

Stricter than aider, since a gate must plan exactly what will be written: the SEARCH lines
must occur exactly once, as they are (aider takes the first of several matches, and falls
back to ignoring leading whitespace, dropping a leading blank line and expanding ``...``), and
a ``=======`` line inside the REPLACE lines is refused (aider ends the block there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentos.errors import PatchConflictError, PatchParseError
from agentos.planner.abspaths import workspace_path
from agentos.planner.textedits import existing_text, line_span, write_text
from agentos.planner.tree import Overlay
from agentos.textlines import line_ending_hint

_HEAD = re.compile(r"<{5,9} SEARCH>?")
_DIVIDER = re.compile(r"={5,9}")
_UPDATED = re.compile(r">{5,9} REPLACE")
# Markers where a detector looks for them: at the start of a line.
_HEAD_LINE = re.compile(r"^<{5,9} SEARCH>?[ \t]*\r?$", re.MULTILINE)
_FENCE = "```"


@dataclass(frozen=True)
class Block:
    """One SEARCH/REPLACE block: the file as written, its texts, the line it opens on."""

    path: str
    search: str
    replace: str
    line: int


def looks_like_aider(text: str) -> bool:
    """True when a line of ``text`` opens a SEARCH block."""
    return _HEAD_LINE.search(text) is not None


def _is_marker(line: str) -> bool:
    stripped = line.strip()
    return any(m.fullmatch(stripped) for m in (_HEAD, _DIVIDER, _UPDATED))


def _file_name(line: str) -> str | None:
    """The file a line names, cleaned the way aider cleans it, or None."""
    name = line.strip()
    if name == "...":
        return None
    if name.startswith(_FENCE):
        # "```python" is a language, "```src/app.py" a file.
        rest = name.lstrip("`")
        return rest if rest and ("." in rest or "/" in rest) else None
    name = name.rstrip(":").lstrip("#").strip().strip("`").strip("*")
    return name or None


def _find_file(before: list[str]) -> str | None:
    """The file named on the (up to three) lines before a block, looking further back only
    across fence lines; a name with a dot wins over one without, as in aider."""
    names: list[str] = []
    for line in reversed(before[-3:]):
        if _is_marker(line):
            break
        name = _file_name(line)
        if name:
            names.append(name)
        if not line.startswith(_FENCE):
            break
    dotted = [name for name in names if "." in name]
    best = dotted or names
    return best[0] if best else None


def _lines(text: str) -> list[str]:
    """The lines of ``text``, each with its newline; split on ``\\n`` only."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def parse_blocks(text: str, *, source: str) -> list[Block]:
    """Every block of a message, in order, or ``PatchParseError`` naming the line."""
    lines = _lines(text)
    blocks: list[Block] = []
    current: str | None = None
    index = 0
    while index < len(lines):
        if not _HEAD.fullmatch(lines[index].strip()):
            index += 1
            continue
        start = index + 1
        path = _find_file(lines[max(0, index - 3) : index]) or current
        if path is None:
            raise PatchParseError(
                f"{source}:{start}: the SEARCH block names no file; put the file's path "
                "alone on the line before it",
                details={"input": source, "line": start},
            )
        current = path
        search, index = _section(lines, index + 1, (_DIVIDER,), source=source, start=start)
        replace, index = _section(
            lines, index + 1, (_UPDATED, _DIVIDER), source=source, start=start
        )
        if _DIVIDER.fullmatch(lines[index].strip()):
            raise PatchParseError(
                f"{source}:{index + 1}: a '=======' line inside the REPLACE lines of the block "
                f"at line {start} ({path}); aider would end the block there, so agentos "
                "cannot tell what is meant",
                details={"input": source, "line": index + 1},
            )
        blocks.append(Block(path, search, replace, start))
        index += 1
    if not blocks:
        raise PatchParseError(
            f"{source}: no SEARCH/REPLACE block (a line '<<<<<<< SEARCH') was found",
            details={"input": source},
        )
    return blocks


def _section(
    lines: list[str], index: int, ends: tuple[re.Pattern[str], ...], *, source: str, start: int
) -> tuple[str, int]:
    """The text from ``index`` up to the first line matching one of ``ends``, and that
    line's index."""
    first = index
    while index < len(lines) and not any(end.fullmatch(lines[index].strip()) for end in ends):
        index += 1
    if index >= len(lines):
        wanted = "=======" if ends[0] is _DIVIDER else ">>>>>>> REPLACE"
        raise PatchParseError(
            f"{source}:{start}: the SEARCH block at line {start} has no '{wanted}' line",
            details={"input": source, "line": start},
        )
    return "".join(lines[first:index]), index


def _with_newline(text: str) -> str:
    return text + "\n" if text and not text.endswith("\n") else text


def _line_matches(content: str, search: str) -> list[int]:
    """Where ``search`` starts at the start of a line of ``content`` (at most two)."""
    found: list[int] = []
    at = content.find(search)
    while at >= 0 and len(found) < 2:
        if at == 0 or content[at - 1] == "\n":
            found.append(at)
        at = content.find(search, at + 1)
    return found


def apply_blocks(blocks: list[Block], overlay: Overlay, *, source: str) -> None:
    """Apply every block in order, each to the result of the ones before."""
    for block in blocks:
        where = f"line {block.line}"
        label = f"{source}: {where}"
        path = workspace_path(block.path, overlay.baseline.root, source=label)
        if not block.search.strip():
            before = overlay.get(path)
            if before is None:
                write_text(overlay, path, block.replace, source=source, where=where)
                continue
            _, text = existing_text(overlay, path, label=label, hint="it cannot be appended to")
            counts = (line_span(block.replace), 0)
            write_text(
                overlay, path, text + block.replace, source=source, where=where, counts=counts
            )
            continue
        hint = "an empty SEARCH section creates a file"
        state, text = existing_text(overlay, path, label=label, hint=hint)
        content = _with_newline(text)
        search, replace = _with_newline(block.search), _with_newline(block.replace)
        found = _line_matches(content, search)
        first = search.split("\n", 1)[0][:80]
        if not found:
            raise PatchConflictError(
                f"{label}: the SEARCH lines starting {first!r} were not found in {path}; "
                "re-read the file and copy the lines exactly"
                + line_ending_hint(content, search, what="the SEARCH lines"),
                details={"path": path, "line": block.line},
            )
        if len(found) > 1:
            raise PatchConflictError(
                f"{label}: the SEARCH lines starting {first!r} are ambiguous in {path}: they "
                "occur more than once; add lines around them to make them unique",
                details={"path": path, "line": block.line},
            )
        overlay.limits.check_file(
            len(state.content) + len(replace.encode("utf-8")),
            source=source,
            path=path,
            what=f"{where} would make it at least",
        )
        at = found[0]
        updated = content[:at] + replace + content[at + len(search) :]
        counts = (line_span(replace), line_span(search))
        write_text(overlay, path, updated, source=source, where=where, counts=counts)
