"""The Codex ``apply_patch`` envelope: parsing and applying it with Codex's own leniency.

``*** Begin Patch`` ... ``*** End Patch`` holding ``Add File``, ``Delete File`` and ``Update
File`` sections (an update may ``Move to`` another path) whose ``@@`` chunks are located the way
Codex locates them: exact lines first, then ignoring trailing whitespace, then surrounding
whitespace, then typographic punctuation. Updated files always end with a newline, as in Codex.
One difference on purpose: a patch that fails part-way changes nothing (Codex keeps the part
it managed to apply). A file the patch would make larger than the overlay's ``max_file_bytes``
is refused before it is encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agentos.errors import PatchConflictError, PatchParseError
from agentos.model import MODE_REGULAR
from agentos.planner.tree import FileState, Overlay
from agentos.textlines import line_count
from agentos.workspace import normalise_path

BEGIN = "*** Begin Patch"
END = "*** End Patch"
ADD = "*** Add File: "
DELETE = "*** Delete File: "
UPDATE = "*** Update File: "
MOVE = "*** Move to: "
END_OF_FILE = "*** End of File"
_HEREDOC_OPENERS = ("<<EOF", "<<'EOF'", '<<"EOF"')

# The characters Rust's str::trim() removes (Unicode White_Space), which Codex relies on.
_WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_PUNCTUATION = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f", '"'),
        **dict.fromkeys(
            "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "
        ),
    }
)


@dataclass(frozen=True)
class Chunk:
    """One ``@@`` chunk of an update: optional anchor line, old and new lines, EOF flag."""

    context: str | None
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    end_of_file: bool
    line: int
    added: int = 0
    removed: int = 0


@dataclass(frozen=True)
class CodexHunk:
    """One file section of the envelope."""

    kind: str  # "add" | "delete" | "update"
    path: str
    line: int
    contents: str = ""
    move_to: str | None = None
    chunks: tuple[Chunk, ...] = field(default_factory=tuple)


def looks_like_codex(text: str) -> bool:
    """True when ``text`` opens a Codex envelope (possibly inside a heredoc)."""
    lines = _lines(text.strip(_WS))
    if lines and lines[0] in _HEREDOC_OPENERS:
        lines = lines[1:]
    return bool(lines) and lines[0].strip(_WS) == BEGIN


def _lines(text: str) -> list[str]:
    """Rust's ``str::lines``: split on LF, drop one CR before it, no empty last line."""
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    return [p[:-1] if p.endswith("\r") else p for p in parts]


def parse_codex(text: str, *, source: str, first_line: int = 1) -> list[CodexHunk]:
    """The file sections of a Codex patch, or ``PatchParseError`` naming the line
    (``first_line``: where ``text`` starts in its input, e.g. below a heredoc's opener)."""
    lines = _lines(text.strip(_WS))
    offset = first_line - 1
    if not _has_boundaries(lines):
        if (
            len(lines) >= 4
            and lines[0] in _HEREDOC_OPENERS
            and lines[-1].endswith("EOF")
            and _has_boundaries(lines[1:-1])
        ):
            lines = lines[1:-1]
            offset += 1
        elif not lines or lines[0].strip(_WS) != BEGIN:
            raise PatchParseError(
                f"{source}:{offset + 1}: the first line of a Codex patch must be '{BEGIN}'",
                details={"input": source, "line": offset + 1},
            )
        else:
            last = offset + len(lines)
            raise PatchParseError(
                f"{source}:{last}: the last line of a Codex patch must be '{END}'",
                details={"input": source, "line": last},
            )
    body = lines[1:-1]
    hunks: list[CodexHunk] = []
    index = 0
    while index < len(body):
        hunk, used = _parse_hunk(body, index, source, offset + 2)
        hunks.append(hunk)
        index += used
    if not hunks:
        raise PatchParseError(
            f"{source}: the Codex patch is empty (no Add, Delete or Update File section)",
            details={"input": source},
        )
    return hunks


def _has_boundaries(lines: list[str]) -> bool:
    return len(lines) >= 2 and lines[0].strip(_WS) == BEGIN and lines[-1].strip(_WS) == END


def _parse_hunk(body: list[str], start: int, source: str, base: int) -> tuple[CodexHunk, int]:
    lineno = base + start
    first = body[start].strip(_WS)
    if first.startswith(ADD):
        contents: list[str] = []
        index = start + 1
        while index < len(body) and body[index].startswith("+"):
            contents.append(body[index][1:] + "\n")
            index += 1
        return CodexHunk(
            "add", first[len(ADD) :], lineno, contents="".join(contents)
        ), index - start
    if first.startswith(DELETE):
        return CodexHunk("delete", first[len(DELETE) :], lineno), 1
    if first.startswith(UPDATE):
        path = first[len(UPDATE) :]
        index = start + 1
        move_to = None
        if index < len(body) and body[index].startswith(MOVE):
            move_to = body[index][len(MOVE) :]
            index += 1
        chunks: list[Chunk] = []
        while index < len(body):
            if not body[index].strip(_WS):
                index += 1
                continue
            if body[index].startswith("*"):
                break
            chunk, used = _parse_chunk(body, index, source, base, first_chunk=not chunks)
            chunks.append(chunk)
            index += used
        if not chunks:
            raise PatchParseError(
                f"{source}:{lineno}: the Update File section for {path!r} is empty",
                details={"input": source, "line": lineno},
            )
        return CodexHunk("update", path, lineno, move_to=move_to, chunks=tuple(chunks)), (
            index - start
        )
    raise PatchParseError(
        f"{source}:{lineno}: {first!r} is not a valid section header "
        "(expected '*** Add File: ', '*** Delete File: ' or '*** Update File: ')",
        details={"input": source, "line": lineno},
    )


def _parse_chunk(
    body: list[str], start: int, source: str, base: int, *, first_chunk: bool
) -> tuple[Chunk, int]:
    lineno = base + start
    head = body[start]
    if head == "@@":
        context, index = None, start + 1
    elif head.startswith("@@ "):
        context, index = head[3:], start + 1
    elif first_chunk:
        context, index = None, start
    else:
        raise PatchParseError(
            f"{source}:{lineno}: expected an '@@' chunk marker, found {head!r}",
            details={"input": source, "line": lineno},
        )
    if index >= len(body):
        raise PatchParseError(
            f"{source}:{lineno + 1}: the update chunk has no lines",
            details={"input": source, "line": lineno + 1},
        )
    old: list[str] = []
    new: list[str] = []
    end_of_file = False
    parsed = added = removed = 0
    while index < len(body):
        line = body[index]
        if line == END_OF_FILE:
            if parsed == 0:
                raise PatchParseError(
                    f"{source}:{base + index}: the update chunk has no lines",
                    details={"input": source, "line": base + index},
                )
            end_of_file = True
            index += 1
            break
        marker = line[:1]
        if marker == "":
            old.append("")
            new.append("")
        elif marker == " ":
            old.append(line[1:])
            new.append(line[1:])
        elif marker == "+":
            new.append(line[1:])
            added += 1
        elif marker == "-":
            old.append(line[1:])
            removed += 1
        elif parsed == 0:
            raise PatchParseError(
                f"{source}:{base + index}: unexpected line {line!r} in an update chunk; every "
                "line must start with ' ' (context), '+' (added) or '-' (removed)",
                details={"input": source, "line": base + index},
            )
        else:
            break
        parsed += 1
        index += 1
    chunk = Chunk(context, tuple(old), tuple(new), end_of_file, lineno, added, removed)
    return chunk, index - start


def _seek(lines: list[str], pattern: tuple[str, ...], start: int, eof: bool) -> int | None:
    """Codex's search: exact, then rstrip, then strip, then punctuation-normalised."""
    if not pattern:
        return start
    if len(pattern) > len(lines):
        return None
    first = len(lines) - len(pattern) if eof else start
    last = len(lines) - len(pattern)
    passes: tuple[Callable[[str], str], ...] = (
        lambda s: s,
        lambda s: s.rstrip(_WS),
        lambda s: s.strip(_WS),
        lambda s: s.strip(_WS).translate(_PUNCTUATION),
    )
    for normal in passes:
        wanted = [normal(p) for p in pattern]
        for at in range(first, last + 1):
            if all(normal(lines[at + k]) == wanted[k] for k in range(len(pattern))):
                return at
    return None


def derive_contents(original: str, chunks: tuple[Chunk, ...], path: str, where: str) -> str:
    """The updated text of ``path`` after ``chunks``, as Codex computes it."""
    lines = original.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    replacements: list[tuple[int, int, tuple[str, ...]]] = []
    index = 0
    for chunk in chunks:
        if chunk.context is not None:
            found = _seek(lines, (chunk.context,), index, eof=False)
            if found is None:
                raise PatchConflictError(
                    f"patch does not apply: {where}: {path}: context line "
                    f"{chunk.context!r} (chunk at line {chunk.line}) was not found",
                    details={"path": path, "line": chunk.line},
                )
            index = found + 1
        if not chunk.old_lines:
            at = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
            replacements.append((at, 0, chunk.new_lines))
            continue
        pattern, new_lines = chunk.old_lines, chunk.new_lines
        found = _seek(lines, pattern, index, chunk.end_of_file)
        if found is None and pattern[-1] == "":
            # A trailing empty line stands for the file's final newline; retry without it.
            pattern = pattern[:-1]
            if new_lines and new_lines[-1] == "":
                new_lines = new_lines[:-1]
            found = _seek(lines, pattern, index, chunk.end_of_file)
        if found is None:
            # Errors are one line on stderr: name the first missing line, keep all in details.
            count = len(chunk.old_lines)
            raise PatchConflictError(
                f"patch does not apply: {where}: {path}: the {count} line(s) of the chunk at "
                f"line {chunk.line} (starting {chunk.old_lines[0]!r}) were not found; "
                "re-read the file and regenerate the patch",
                details={"path": path, "line": chunk.line, "expected": list(chunk.old_lines)},
            )
        replacements.append((found, len(pattern), new_lines))
        index = found + len(pattern)
    replacements.sort(key=lambda item: item[0])
    for at, length, new_lines in reversed(replacements):
        lines[at : at + length] = new_lines
    if not lines or lines[-1] != "":
        lines.append("")
    return "\n".join(lines)


def _relative(raw: str, where: str) -> str:
    return normalise_path(raw, source=where)


def apply_codex(
    hunks: list[CodexHunk],
    overlay: Overlay,
    *,
    source: str,
    resolve: Callable[[str, str], str] = _relative,
) -> None:
    """Apply the sections in order, each seeing the ones before it. ``resolve`` turns a path
    of the patch (and the place that names it) into a workspace path; by default the path
    must already be relative."""
    for hunk in hunks:
        where = f"{source}:{hunk.line}"
        path = resolve(hunk.path, where)
        if hunk.kind == "add":
            data = overlay.limits.encode(
                hunk.contents,
                source=source,
                path=path,
                what=f"the Add File at line {hunk.line} makes",
            )
            before = overlay.get(path)
            mode = before.mode if before is not None else MODE_REGULAR
            removed = line_count(before.content) if before is not None else 0
            overlay.write(
                path,
                FileState(data, mode),
                origin=overlay.origin(path),
                added=line_count(data),
                removed=removed,
                what=where,
            )
        elif hunk.kind == "delete":
            _existing(overlay, path, where, "delete")
            overlay.delete(path)
        else:
            before = _existing(overlay, path, where, "update")
            try:
                text = before.content.decode("utf-8")
            except UnicodeDecodeError:
                raise PatchConflictError(
                    f"patch does not apply: {where}: {path} is not UTF-8 text",
                    details={"path": path},
                ) from None
            new_text = derive_contents(text, hunk.chunks, path, where)
            data = overlay.limits.encode(
                new_text,
                source=source,
                path=path,
                what=f"the Update File at line {hunk.line} would make it",
            )
            added = sum(c.added for c in hunk.chunks)
            removed = sum(c.removed for c in hunk.chunks)
            target = path
            if hunk.move_to is not None:
                target = resolve(hunk.move_to, where)
            origin = overlay.origin(path)
            if target != path:
                prev_added, prev_removed = overlay.counts(path)
                added, removed = added + prev_added, removed + prev_removed
                overlay.delete(path)
            overlay.write(
                target,
                FileState(data, before.mode),
                origin=origin,
                added=added,
                removed=removed,
                what=where,
            )


def _existing(overlay: Overlay, path: str, where: str, verb: str) -> FileState:
    state = overlay.get(path)
    if state is None:
        what = "is a directory" if overlay.is_dir(path) else "does not exist"
        raise PatchConflictError(
            f"patch does not apply: {where}: cannot {verb} {path}: it {what}",
            details={"path": path},
        )
    return state
