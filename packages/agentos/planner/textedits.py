"""String replaces, whole-file writes and renames: the rules edit-shaped inputs share.

The edit list, Claude Code's and Gemini CLI's edit tools, the MCP filesystem server's tools and
aider's blocks all come down to these few operations on an ``Overlay``. A replace must find its
old text the number of times the input says (once, unless it asks for every occurrence or
names a count), and every new content is sized against the overlay's ``max_file_bytes``
before it is built, since a short string replaced everywhere can multiply a file.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentos.errors import ConflictError, PatchConflictError, PatchParseError
from agentos.linediff import content_counts
from agentos.model import MODE_REGULAR, FileMode
from agentos.planner.tree import FileState, Overlay
from agentos.textlines import line_count, line_ending_hint


@dataclass(frozen=True)
class Replace:
    """Replace ``old`` by ``new`` in ``path``.

    ``old`` must occur exactly once, unless ``replace_all`` (every occurrence, at least one)
    or ``expected`` (exactly that many, all replaced) says otherwise. An empty ``old`` creates
    ``path``, which must not exist yet.
    """

    path: str
    old: str
    new: str
    replace_all: bool = False
    expected: int | None = None


@dataclass(frozen=True)
class Names:
    """How an input spells its fields, so that a refusal speaks its words."""

    old: str = "old_string"
    new: str = "new_string"
    every: str = "set replace_all: true"


EDIT_NAMES = Names()


def line_span(text: str) -> int:
    """How many lines ``text`` covers; a last line without a newline counts."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def diff_counts(old: bytes, new: bytes) -> tuple[int, int]:
    """Lines added and removed between two contents (0/0 when either is binary), as
    ``git diff --numstat`` counts them."""
    return content_counts(old, new)


def existing_text(overlay: Overlay, path: str, *, label: str, hint: str) -> tuple[FileState, str]:
    """The file at ``path`` and its text; ``PatchConflictError`` when it is missing (``hint``
    says how to create it) or not UTF-8."""
    state = overlay.get(path)
    if state is None:
        what = "is a directory" if overlay.is_dir(path) else "does not exist in the workspace"
        raise PatchConflictError(
            f"{label}: cannot edit {path}: it {what}; {hint}", details={"path": path}
        )
    try:
        return state, state.content.decode("utf-8")
    except UnicodeDecodeError:
        raise PatchConflictError(
            f"{label}: cannot edit {path}: it is not UTF-8 text", details={"path": path}
        ) from None


def write_text(
    overlay: Overlay,
    path: str,
    text: str,
    *,
    source: str,
    where: str,
    counts: tuple[int, int] | None = None,
) -> None:
    """Give ``path`` the content ``text`` (create or overwrite); a file keeps its mode.

    ``counts`` are the lines added and removed when the caller knows them; otherwise they
    come from comparing the old and new contents.
    """
    label = f"{source}: {where}"
    data = overlay.limits.encode(text, source=source, path=path, what=f"{where} would make it")
    before = overlay.get(path)
    if counts is None:
        counts = diff_counts(before.content, data) if before else (line_count(data), 0)
    mode = before.mode if before is not None else MODE_REGULAR
    overlay.write(
        path,
        FileState(data, mode),
        origin=overlay.origin(path),
        added=counts[0],
        removed=counts[1],
        what=label,
    )


def replace_text(
    overlay: Overlay, edit: Replace, *, source: str, where: str, names: Names = EDIT_NAMES
) -> None:
    """Apply one string replace to ``overlay``, or refuse it without writing anything."""
    label = f"{source}: {where}"
    path, old, new = edit.path, edit.old, edit.new
    if old == new:
        raise PatchParseError(
            f"{label}: {names.old} and {names.new} are the same; nothing to change",
            details={"input": source, "at": where},
        )
    if old == "":
        if overlay.get(path) is not None or overlay.is_dir(path):
            raise ConflictError(
                f"{label}: an empty {names.old} creates a file, but {path} already exists; "
                "quote the text to replace",
                details={"path": path},
            )
        data = overlay.limits.encode(new, source=source, path=path, what=f"{where} would make it")
        overlay.write(
            path,
            FileState(data, MODE_REGULAR),
            origin=None,
            added=line_count(data),
            removed=0,
            what=label,
        )
        return
    hint = f"create it first (an empty {names.old} creates a file)"
    existing, text = existing_text(overlay, path, label=label, hint=hint)
    found = text.count(old)
    if found == 0:
        raise PatchConflictError(
            f"{label}: {names.old} was not found in {path}; re-read the file and retry"
            + line_ending_hint(text, old, what=names.old),
            details={"path": path},
        )
    if edit.expected is not None and found != edit.expected:
        raise PatchConflictError(
            f"{label}: {names.old} occurs {found} time(s) in {path}, not the "
            f"{edit.expected} expected_replacements says; re-read the file and retry",
            details={"path": path, "occurrences": found, "expected": edit.expected},
        )
    if found > 1 and edit.expected is None and not edit.replace_all:
        raise PatchConflictError(
            f"{label}: {names.old} is ambiguous in {path}: it occurs {found} times; add more "
            f"context or {names.every}",
            details={"path": path, "occurrences": found},
        )
    times = 1 if edit.expected is None and not edit.replace_all else found
    # Sized before it is built: a short old text replaced everywhere by a long new text
    # multiplies the file.
    growth = len(new.encode("utf-8")) - len(old.encode("utf-8"))
    overlay.limits.check_file(
        len(existing.content) + times * growth,
        source=source,
        path=path,
        what=f"{where} would make it",
    )
    updated = text.replace(old, new, times)
    overlay.write(
        path,
        FileState(updated.encode("utf-8"), existing.mode),
        origin=overlay.origin(path),
        added=times * line_span(new),
        removed=times * line_span(old),
        what=label,
    )


def rename_file(
    overlay: Overlay,
    source_path: str,
    path: str,
    *,
    label: str,
    content: bytes | None = None,
    mode: FileMode | None = None,
) -> None:
    """Move the file at ``source_path`` to ``path``, which must not exist (optionally with
    new ``content`` or ``mode``); line counts follow the file."""
    existing = overlay.get(source_path)
    if existing is None:
        raise PatchConflictError(
            f"{label}: cannot rename {source_path}: it does not exist in the workspace",
            details={"path": source_path},
        )
    if overlay.get(path) is not None or overlay.is_dir(path):
        raise ConflictError(
            f"{label}: cannot rename {source_path} to {path}: {path} already exists",
            details={"path": path},
        )
    new_content = existing.content if content is None else content
    added, removed = diff_counts(existing.content, new_content)
    prev_added, prev_removed = overlay.counts(source_path)
    origin = overlay.origin(source_path)
    overlay.delete(source_path)
    overlay.write(
        path,
        FileState(new_content, mode or existing.mode),
        origin=origin,
        added=prev_added + added,
        removed=prev_removed + removed,
        what=label,
    )
