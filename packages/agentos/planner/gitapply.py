"""Apply one diff input's file patches to the overlay with ``git apply``'s rules.

Within one diff, patches to the same path chain (the second applies to the first's result),
while renames and copies read the file as it was before the diff, so ``a -> b`` together with
``b -> a`` swaps two files. A path may be created where this diff deletes or renames a file
away; anything else that already exists blocks a creation. All patches are checked before any
result reaches the overlay, so a failing diff leaves no partial state behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from agentos.digest import git_blob_sha1
from agentos.errors import (
    AgentosError,
    BinaryPatchError,
    ConflictError,
    InvalidInputError,
    PatchConflictError,
)
from agentos.model import MODE_REGULAR, FileMode
from agentos.planner.binary import apply_binary_hunk
from agentos.planner.diff import FilePatch
from agentos.planner.hunks import Hunk, HunkMismatch, apply_hunks
from agentos.planner.tree import FileState, Overlay
from agentos.workspace import normalise_path

_NULL_OIDS = {"0" * 40, "0" * 64}


@dataclass
class _Result:
    state: FileState
    origin: str | None
    added: int
    removed: int


def apply_file_patches(patches: list[FilePatch], overlay: Overlay, *, source: str) -> None:
    """Apply every patch of one diff input to ``overlay``, all or nothing."""
    named = [_normalised(patch, source) for patch in patches]
    overlay.baseline.prefetch(name for _, old, new in named for name in (old, new) if name)
    leaving = {old for patch, old, _ in named if old and (patch.is_delete or patch.is_rename)}
    results: dict[str, _Result] = {}
    gone: set[str] = set()
    removals: list[str] = []
    for patch, old_name, new_name in named:
        where = f"{source}:{patch.line}"
        loaded = _load_pre_image(
            patch,
            old_name,
            overlay=overlay,
            results=results,
            gone=gone,
            where=where,
            source=source,
        )
        old = old_name if loaded is not None else None
        is_new = loaded is None
        if new_name is not None and (is_new or patch.is_rename or patch.is_copy):
            if overlay.is_dir(new_name):
                # Git accepts this when the diff empties the directory; the overlay cannot
                # turn a directory into a file in one changeset, so say so plainly.
                raise PatchConflictError(
                    f"{where}: cannot create {new_name}: it is a directory in the workspace; "
                    "replacing a directory by a file needs two plans (remove its files first)",
                    details={"input": source, "path": new_name},
                )
            exists = new_name in results or overlay.get(new_name) is not None
            if exists and new_name not in leaving | gone:
                same = is_new and _creates(patch, overlay.get(new_name), new_name, where, source)
                note = " with the content this patch gives it (already applied?)" if same else ""
                raise PatchConflictError(
                    f"{where}: cannot create {new_name}: it already exists in the workspace{note}",
                    details={"input": source, "path": new_name, "already_applied": same},
                )
        pre = loaded.state if loaded is not None else None
        content = _new_content(patch, pre, old or new_name or "?", where=where, source=source)
        added = patch.added + (loaded.added if loaded else 0)
        removed = patch.removed + (loaded.removed if loaded else 0)
        if new_name is None:
            if content:
                raise PatchConflictError(
                    f"{where}: the patch deletes {old} but its hunks leave content behind "
                    "(the file on disk holds more than the patch removes)",
                    details={"input": source, "path": old},
                )
            if old is not None:
                gone.add(old)
                removals.append(old)
            continue
        if old is not None and patch.is_rename:
            gone.add(old)
            removals.append(old)
        elif old is not None and old != new_name and not patch.is_copy:
            # Git writes a patch whose two names differ to the new name and removes the old
            # one even without rename headers (apply.c, write_out_one_result).
            removals.append(old)
        mode: FileMode = patch.new_mode or (pre.mode if pre is not None else MODE_REGULAR)
        origin = None if patch.is_copy or loaded is None else loaded.origin
        results[new_name] = _Result(FileState(content, mode), origin, added, removed)
    for path in removals:
        overlay.delete(path)
    for path, result in results.items():
        overlay.write(
            path,
            result.state,
            origin=result.origin,
            added=result.added,
            removed=result.removed,
            what=source,
        )


def _load_pre_image(
    patch: FilePatch,
    old: str | None,
    *,
    overlay: Overlay,
    results: dict[str, _Result],
    gone: set[str],
    where: str,
    source: str,
) -> _Result | None:
    """The file a patch applies to, or None when the patch creates its file."""
    if old is None or patch.is_new:
        return None
    if patch.is_rename or patch.is_copy:
        # Git reads rename and copy sources as they were before this diff.
        state = overlay.get(old)
        found = _Result(state, overlay.origin(old), *overlay.counts(old)) if state else None
    elif old in results:
        found = results.pop(old)
    elif old in gone:
        raise PatchConflictError(
            f"{where}: {old} was already renamed or deleted earlier in this diff",
            details={"input": source, "path": old},
        )
    else:
        state = overlay.get(old)
        found = _Result(state, overlay.origin(old), 0, 0) if state else None
    if found is not None:
        return found
    hunks = patch.hunks
    if patch.is_new is None and not any(h.old_lines for h in hunks):
        # A plain diff with no old lines for a missing file creates it, as in git.
        return None
    what = "is a directory" if overlay.is_dir(old) else "does not exist"
    details: dict[str, object] = {"input": source, "path": old}
    hunk_note = ""
    if hunks:
        first = hunks[0]
        details.update(hunk=1, line=first.line)
        hunk_note = f" (hunk #1, {_hunk_header(first)} at line {first.line}, needs it)"
    raise PatchConflictError(
        f"patch does not apply: {where}: cannot patch {old}: it {what} in the workspace"
        f"{hunk_note}; check the path (and --strip) or plan against the right directory",
        details=details,
    )


def _hunk_header(hunk: Hunk) -> str:
    return f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@"


def _normalised(patch: FilePatch, source: str) -> tuple[FilePatch, str | None, str | None]:
    where = f"{source}:{patch.line}"
    old = normalise_path(patch.old_path, source=where) if patch.old_path is not None else None
    new = normalise_path(patch.new_path, source=where) if patch.new_path is not None else None
    return patch, old, new


def _new_content(
    patch: FilePatch, pre: FileState | None, name: str, *, where: str, source: str
) -> bytes:
    before = pre.content if pre is not None else b""
    if patch.binary_without_data:
        raise InvalidInputError(
            f"{where}: {name}: the diff only says 'Binary files differ' and carries no data; "
            "regenerate it with 'git diff --binary'",
            details={"input": source, "path": name},
        )
    if patch.binary is not None:
        return _apply_binary(patch, pre, name, where=where, source=source)
    if not patch.spans:
        return before
    try:
        # The hunks' lines exist only while this file is patched.
        return apply_hunks(before, patch.hunks)
    except HunkMismatch as failure:
        hunk = failure.hunk
        header = _hunk_header(hunk)
        applied = _reverse_applies(before, patch.hunks)
        advice = (
            "the patch looks already applied: its reverse applies cleanly (as 'git apply "
            "--reverse --check' would say), so there is nothing to do"
            if applied
            else "re-create the patch against the current file"
        )
        raise PatchConflictError(
            f"patch does not apply: {source}:{hunk.line}: {name}: hunk #{failure.index + 1} "
            f"({header}): {failure.reason}; {advice}",
            details={
                "input": source,
                "path": name,
                "hunk": failure.index + 1,
                "line": hunk.line,
                "reason": failure.reason,
                "already_applied": applied,
            },
        ) from None


def _creates(
    patch: FilePatch, existing: FileState | None, name: str, where: str, source: str
) -> bool:
    """Whether the file ``patch`` creates is ``existing`` already, byte for byte."""
    if existing is None:
        return False
    try:
        return _new_content(patch, None, name, where=where, source=source) == existing.content
    except AgentosError:  # a patch that cannot produce its file has not made it
        return False


def _reverse_applies(content: bytes, hunks: tuple[Hunk, ...]) -> bool:
    """Whether ``hunks`` undone apply to ``content``: the file already is what they make."""
    undone = tuple(
        replace(
            hunk,
            old_start=hunk.new_start,
            old_count=hunk.new_count,
            new_start=hunk.old_start,
            new_count=hunk.old_count,
            old_lines=hunk.new_lines,
            new_lines=hunk.old_lines,
        )
        for hunk in hunks
    )
    try:
        apply_hunks(content, undone)
    except HunkMismatch:
        return False
    return True


def _apply_binary(
    patch: FilePatch, pre: FileState | None, name: str, *, where: str, source: str
) -> bytes:
    if patch.binary is None:
        return pre.content if pre is not None else b""
    before = pre.content if pre is not None else b""
    old_oid, new_oid = patch.old_oid or "", patch.new_oid or ""
    if len(old_oid) not in (40, 64) or len(new_oid) not in (40, 64):
        raise InvalidInputError(
            f"{where}: {name}: a binary patch needs the full 'index' line; "
            "regenerate it with 'git diff --binary --full-index'",
            details={"input": source, "path": name},
        )
    if pre is not None:
        actual = _blob_id(before, len(old_oid))
        if actual != old_oid:
            raise PatchConflictError(
                f"{where}: the binary patch applies to {name} ({old_oid}), "
                f"which does not match its current contents ({actual})",
                details={"input": source, "path": name},
            )
    elif before:
        raise PatchConflictError(f"{where}: {name} should be empty", details={"path": name})
    if new_oid in _NULL_OIDS:
        return b""
    try:
        result = apply_binary_hunk(before, patch.binary)
    except BinaryPatchError as exc:
        raise PatchConflictError(
            f"{where}: the binary patch does not apply to {name}: {exc}",
            details={"input": source, "path": name},
        ) from None
    if _blob_id(result, len(new_oid)) != new_oid:
        raise ConflictError(
            f"{where}: the binary patch for {name} produced a result that does not match "
            f"its index line ({new_oid})",
            details={"input": source, "path": name},
        )
    return result


def _blob_id(data: bytes, hex_len: int) -> str:
    if hex_len == 40:
        return git_blob_sha1(data)
    return hashlib.sha256(b"blob %d\0" % len(data) + data).hexdigest()
