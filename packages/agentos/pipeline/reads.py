"""Reads bounded by the policy: what ``agentos mcp`` hands an agent that uses it as its only
filesystem server.

A read is refused (``ReadRefusedError``, recorded as ``read.refused``) when its path fails
path safety (outside the workspace, ``..``, ``.git/``, ``.agentos/``), matches
``writegate.forbidden_paths`` (a ``.env`` is never handed to a model), or passes through a
symbolic link (which could lead anywhere). Listings and searches leave such names out, and say
how many they hid. Nothing here writes a workspace file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING

from agentos.errors import InputTooLargeError, PathSafetyError, ReadRefusedError, UsageError
from agentos.pipeline.context import Context
from agentos.pipeline.results import DirEntry, FileRead, Found, Listing

if TYPE_CHECKING:
    from agentos.patterns import PathPatterns

# The most names a listing returns, and the most matches a search returns.
MAX_LISTED = 10_000
MAX_MATCHES = 1_000


def read_text(
    ctx: Context, raw: str, *, head: int | None = None, tail: int | None = None
) -> FileRead:
    """The text of the file ``raw`` names (its first ``head`` or last ``tail`` lines)."""
    if head is not None and tail is not None:
        raise UsageError("pass head or tail, not both")
    path = _allowed(ctx, raw, tool="read_text_file")
    content = ctx.policy.policy.writegate.content
    data, size = _read_regular(ctx, path, limit=content.max_input_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refused(ctx, path, "is not UTF-8 text (a binary file)") from None
    if head is not None or tail is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(
            lines[:head] if head is not None else lines[max(len(lines) - (tail or 0), 0) :]
        )
    if len(text.encode("utf-8")) > content.max_file_bytes:
        raise InputTooLargeError(
            f"{path} is {size} bytes, more than writegate.content.max_file_bytes "
            f"({content.max_file_bytes}) at once; read it in parts with head or tail"
        )
    return FileRead(path=path, text=text, size=size)


def list_directory(ctx: Context, raw: str) -> Listing:
    """The names in the directory ``raw`` names (``.`` or ``""``: the workspace root)."""
    path = _allowed_dir(ctx, raw, tool="list_directory")
    forbidden = _forbidden(ctx)
    entries: list[DirEntry] = []
    hidden = 0
    for entry in sorted(_scan(ctx, path), key=lambda e: e.name):
        if _visible(forbidden, _join(path, entry.name)):
            entries.append(DirEntry(entry.name, _kind(entry)))
        else:
            hidden += 1
        if len(entries) >= MAX_LISTED:
            break
    return Listing(path=path or ".", entries=tuple(entries), hidden=hidden)


def search_files(ctx: Context, raw: str, pattern: str, *, exclude: tuple[str, ...] = ()) -> Found:
    """Paths under the directory ``raw`` names that match ``pattern`` (gitignore-style, as
    policies write paths: ``*.py`` at any depth, ``src/**/test_*.py`` anchored), relative to
    that directory, except those ``exclude`` matches. Links are listed, never followed."""
    from agentos.patterns import PathPatterns

    if not pattern.strip():
        raise UsageError("search_files: the pattern is empty; pass a glob such as '*.py'")
    path = _allowed_dir(ctx, raw, tool="search_files")
    wanted = PathPatterns([pattern])
    unwanted = PathPatterns(exclude)
    matches: list[str] = []
    for relative in _walk(ctx, _forbidden(ctx), path, ""):
        if unwanted.matches(relative):
            continue
        if wanted.matches(relative):
            matches.append(relative)
            if len(matches) > MAX_MATCHES:
                return Found(path or ".", pattern, tuple(matches[:MAX_MATCHES]), truncated=True)
    return Found(path or ".", pattern, tuple(matches), truncated=False)


def _walk(ctx: Context, forbidden: PathPatterns, top: str, below: str) -> Iterator[str]:
    """Every visible path under ``top`` (relative to it), depth first, names in order."""
    where = _join(top, below)
    for entry in sorted(_scan(ctx, where), key=lambda e: e.name):
        relative = _join(below, entry.name)
        if not _visible(forbidden, _join(top, relative)):
            continue  # .git/ and .agentos/ among them: path safety refuses them
        yield relative
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(ctx, forbidden, top, relative)


def _allowed(ctx: Context, raw: str, *, tool: str) -> str:
    """``raw`` as a workspace path that may be read, else ``ReadRefusedError``."""
    from agentos.planner.abspaths import workspace_path

    try:
        path = workspace_path(raw, ctx.workspace.root, source=tool)
    except PathSafetyError as exc:
        raise _refused(ctx, raw, _unsafe(exc)) from None
    _check(ctx, path)
    return path


def _allowed_dir(ctx: Context, raw: str, *, tool: str) -> str:
    from agentos.planner.abspaths import workspace_dir

    try:
        path = workspace_dir(raw or ".", ctx.workspace.root, source=tool)
    except PathSafetyError as exc:
        raise _refused(ctx, raw, _unsafe(exc)) from None
    if path:
        _check(ctx, path)
    return path


def _unsafe(exc: PathSafetyError) -> str:
    """Why path safety refused a path, as a read refusal says it."""
    problems = exc.details.get("problems")
    if isinstance(problems, list) and problems:
        return "; ".join(str(p) for p in problems)
    return f"is outside the workspace {exc.details.get('workspace', '')}".rstrip()


def _check(ctx: Context, path: str) -> None:
    """Refuse a forbidden path, or one with a symbolic link anywhere along it."""
    pattern = _forbidden(ctx).first_match(path)
    if pattern is not None:
        raise _refused(ctx, path, f"matches forbidden path {pattern!r}; agentos never reads it")
    parts = path.split("/")
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        try:
            mode = os.lstat(ctx.workspace.root / prefix).st_mode
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file or directory in the workspace") from None
        if stat.S_ISLNK(mode):
            raise _refused(
                ctx, path, f"goes through the symbolic link {prefix}; agentos never follows links"
            )


def _forbidden(ctx: Context) -> PathPatterns:
    """The policy's forbidden paths, matched as the WriteGate matches them (any case)."""
    from agentos.patterns import PathPatterns

    return PathPatterns(ctx.policy.policy.writegate.forbidden_paths, fold_case=True)


def _visible(forbidden: PathPatterns, path: str) -> bool:
    """Whether a listing may show ``path`` (the checks of a read, but quietly)."""
    from agentos.workspace import path_problems

    return not path_problems(path) and not forbidden.matches(path)


def _read_regular(ctx: Context, path: str, *, limit: int) -> tuple[bytes, int]:
    """The bytes of the regular file ``path`` (the last component is not followed)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(ctx.workspace.root / path, flags)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{path} is a directory; use list_directory")
        raise _refused(ctx, path, "is not a regular file")
    with os.fdopen(fd, "rb", buffering=0) as handle:
        if info.st_size > limit:
            raise InputTooLargeError(
                f"{path} is {info.st_size} bytes, more than writegate.content.max_input_bytes "
                f"({limit})"
            )
        return handle.readall()[:limit], info.st_size


def _scan(ctx: Context, path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(ctx.workspace.root / path if path else ctx.workspace.root) as found:
            return list(found)
    except NotADirectoryError:
        raise UsageError(f"{path} is a file, not a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot list {path or '.'}: {exc.strerror}") from None


def _kind(entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return "symlink"
    if entry.is_dir(follow_symlinks=False):
        return "directory"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _refused(ctx: Context, path: str, why: str) -> ReadRefusedError:
    """The refusal of a read, recorded in the audit trail (the attempt is worth knowing)."""
    from agentos.workspace import ensure_state_dir

    ensure_state_dir(ctx.workspace)
    ctx.audit.append("read.refused", actor=ctx.actor, data={"path": path, "reason": why})
    return ReadRefusedError(
        f"{path} {why}", details={"path": path, "reason": why, "rule": "read-refused"}
    )
