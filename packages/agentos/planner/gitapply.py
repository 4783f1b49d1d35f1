"""Apply one diff input's file patches to the overlay with ``git apply``'s rules.

Within one diff, patches to the same path chain (the second applies to the first's result),
while renames and copies read the file as it was before the diff, so ``a -> b`` together with
``b -> a`` swaps two files. A path may be created where this diff deletes or renames a file
away; anything else that already exists blocks a creation. All patches are checked before any
result reaches the overlay, so a failing diff leaves no partial state behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from agentos.digest import git_blob_sha1
from agentos.errors import ConflictError, InvalidInputError, PatchConflictError
from agentos.planner.binary import BinaryPatchError, apply_binary_hunk
from agentos.planner.diff import FilePatch
from agentos.planner.hunks import HunkMismatch, apply_hunks
from agentos.planner.tree import MODE_REGULAR, FileState, Overlay
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
    leaving = {old for patch, old, _ in named if old and (patch.is_delete or patch.is_rename)}
    results: dict[str, _Result] = {}
    gone: set[str] = set()
    removals: list[str] = []
    for patch, old, new in named:
        where = f"{source}:{patch.line}"
        pre: FileState | None = None
        origin: str | None = None
        base_added = base_removed = 0
        is_new = bool(patch.is_new)
        if old is not None and not is_new:
            if patch.is_rename or patch.is_copy:
                pre, origin = overlay.get(old), overlay.origin(old)
                base_added, base_removed = overlay.counts(old)
            elif old in results:
                found = results.pop(old)
                pre, origin = found.state, found.origin
                base_added, base_removed = found.added, found.removed
            elif old in gone:
                raise PatchConflictError(
                    f"{where}: {old} was already renamed or deleted earlier in this diff",
                    details={"input": source, "path": old},
                )
            else:
                pre, origin = overlay.get(old), overlay.origin(old)
            if pre is None:
                if patch.is_new is None and not any(h.old_lines for h in patch.hunks):
                    is_new, old = True, None
                else:
                    what = "is a directory" if overlay.is_dir(old) else "does not exist"
                    raise PatchConflictError(
                        f"{where}: cannot patch {old}: it {what} in the workspace",
                        details={"input": source, "path": old},
                    )
        if new is not None and (is_new or patch.is_rename or patch.is_copy):
            exists = new in results or overlay.get(new) is not None or overlay.is_dir(new)
            if exists and new not in leaving and new not in gone:
                raise PatchConflictError(
                    f"{where}: cannot create {new}: it already exists in the workspace",
                    details={"input": source, "path": new},
                )
        content = _new_content(patch, pre, old or new or "?", where, source)
        added = base_added + sum(h.added for h in patch.hunks)
        removed = base_removed + sum(h.removed for h in patch.hunks)
        if patch.is_delete:
            if content:
                raise PatchConflictError(
                    f"{where}: the patch deletes {old} but its hunks leave content behind "
                    "(the file on disk holds more than the patch removes)",
                    details={"input": source, "path": old},
                )
            assert old is not None
            gone.add(old)
            removals.append(old)
            continue
        assert new is not None
        if old is not None and patch.is_rename:
            gone.add(old)
            removals.append(old)
        mode = patch.new_mode or (pre.mode if pre is not None else MODE_REGULAR)
        results[new] = _Result(
            FileState(content, mode),  # type: ignore[arg-type]
            None if patch.is_copy else origin,
            added,
            removed,
        )
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


def _normalised(patch: FilePatch, source: str) -> tuple[FilePatch, str | None, str | None]:
    where = f"{source}:{patch.line}"
    old = normalise_path(patch.old_path, source=where) if patch.old_path is not None else None
    new = normalise_path(patch.new_path, source=where) if patch.new_path is not None else None
    return patch, old, new


def _new_content(
    patch: FilePatch, pre: FileState | None, name: str, where: str, source: str
) -> bytes:
    before = pre.content if pre is not None else b""
    if patch.binary_without_data:
        raise InvalidInputError(
            f"{where}: {name}: the diff only says 'Binary files differ' and carries no data; "
            "regenerate it with 'git diff --binary'",
            details={"input": source, "path": name},
        )
    if patch.binary is not None:
        return _apply_binary(patch, pre, before, name, where, source)
    if not patch.hunks:
        return before
    try:
        return apply_hunks(before, patch.hunks)
    except HunkMismatch as failure:
        hunk = failure.hunk
        header = f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@"
        raise PatchConflictError(
            f"patch does not apply: {source}:{hunk.line}: {name}: hunk #{failure.index + 1} "
            f"({header}): {failure.reason}; re-create the patch against the current file",
            details={
                "input": source,
                "path": name,
                "hunk": failure.index + 1,
                "line": hunk.line,
                "reason": failure.reason,
            },
        ) from None


def _apply_binary(
    patch: FilePatch, pre: FileState | None, before: bytes, name: str, where: str, source: str
) -> bytes:
    assert patch.binary is not None
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
