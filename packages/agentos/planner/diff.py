"""Parse unified and git diffs into ``FilePatch`` values, as git does.

The file headers (``diff --git`` with its extended headers, plain ``---``/``+++``) are read
by ``diffheaders``; this module finds the patches, and reads their bodies: several hunks per
file, ``\\ No newline at end of file``, and ``GIT binary patch`` literal and delta payloads.
Text between patches (a commit message, a mail header) is skipped, as git skips it.

Binary payloads are inflated within ``PlanLimits``: a hunk declaring a file larger than
``max_file_bytes`` is refused before anything is inflated, and the binary payloads of one
diff may not add up to more new content than a plan can hold.

A large diff costs little more than its own bytes: its lines are read through an index of
where they start (``LineIndex``), and a parsed hunk keeps only its header and where its body
lies; its pre- and post-image lines are made when the file is patched (``FilePatch.hunks``),
one file at a time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentos.errors import (
    BinaryPatchError,
    BinaryTooLargeError,
    InputTooLargeError,
    PatchParseError,
)
from agentos.model import FileMode
from agentos.planner.binary import BinaryHunk, Method, decode_line, inflate_block, oversize
from agentos.planner.diffheaders import Header, HeaderReader
from agentos.planner.hunks import Hunk
from agentos.planner.tree import PlanLimits, file_too_large
from agentos.textlines import LineIndex

_FRAGMENT = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_BINARY_HEAD = re.compile(rb"^(literal|delta) (\d+)\n$")
# Longer numbers overflow git's unsigned long (and Python refuses to convert huge ones).
_MAX_DIGITS = 19
# The bytes that open hunk lines, as ints (what indexing bytes gives).
_NL, _SPACE, _MINUS, _PLUS, _BACKSLASH = b"\n -+\\"
_CONTEXT = (_SPACE, _NL)
# What diff(1) prints instead of a hunk when a file is binary: nothing agentos could apply.
_GNU_BINARY = re.compile(rb"^Binary files .+ and .+ differ\r?\n?$")


@dataclass(frozen=True)
class HunkSpan:
    """A parsed hunk's header and counts, and the lines ``[start, stop)`` of its body in the
    input (a final ``\\ No newline`` marker included)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    leading: int
    trailing: int
    added: int
    removed: int
    line: int
    start: int
    stop: int

    def hunk(self, lines: Sequence[bytes]) -> Hunk:
        """The hunk with its pre- and post-image lines, read from the input's ``lines``."""
        old_lines, new_lines = _images(list(lines[self.start : self.stop]))
        return Hunk(
            old_start=self.old_start,
            old_count=self.old_count,
            new_start=self.new_start,
            new_count=self.new_count,
            old_lines=old_lines,
            new_lines=new_lines,
            leading=self.leading,
            trailing=self.trailing,
            added=self.added,
            removed=self.removed,
            line=self.line,
        )


@dataclass(frozen=True)
class FilePatch:
    """One file's part of a diff, with names already stripped of their ``a/`` ``b/`` prefixes."""

    old_path: str | None
    new_path: str | None
    line: int
    is_git: bool = False
    is_new: bool | None = None  # None: a plain diff that does not say (decided by the disk)
    is_delete: bool | None = None
    is_rename: bool = False
    is_copy: bool = False
    old_mode: FileMode | None = None
    new_mode: FileMode | None = None
    old_oid: str | None = None
    new_oid: str | None = None
    spans: tuple[HunkSpan, ...] = ()
    binary: BinaryHunk | None = None
    binary_without_data: bool = False
    source_lines: Sequence[bytes] = ()

    @property
    def display_path(self) -> str:
        """The name to show in messages: the new name, else the old one."""
        return self.new_path or self.old_path or "?"

    @property
    def hunks(self) -> tuple[Hunk, ...]:
        """The text hunks, with their lines (made anew on each call: take them once)."""
        return tuple(span.hunk(self.source_lines) for span in self.spans)

    @property
    def added(self) -> int:
        """Lines the hunks add."""
        return sum(span.added for span in self.spans)

    @property
    def removed(self) -> int:
        """Lines the hunks remove."""
        return sum(span.removed for span in self.spans)


class DiffParser(HeaderReader):
    """Reads one diff input; ``strip`` is git's ``-p`` (None: 1, or 0 for slash-free names)."""

    def __init__(
        self,
        data: bytes,
        *,
        source: str,
        strip: int | None = None,
        limits: PlanLimits | None = None,
    ) -> None:
        self.lines: LineIndex
        super().__init__(LineIndex(data), source=source, strip=strip)
        self.limits = limits if limits is not None else PlanLimits()
        self.data = data
        self.starts = self.lines.starts
        # What the binary hunks read so far inflate to and make, against the plan's bound.
        self.binary_bytes = 0

    def parse(self) -> list[FilePatch]:
        """Every file patch in the input, in order; ``PatchParseError`` if one is corrupt."""
        patches: list[FilePatch] = []
        i = 0
        lines = self.lines
        while i < len(lines):
            line = lines[i]
            if line.startswith(b"@@ -") and _FRAGMENT.match(line):
                raise self.error(i + 1, "hunk without a file header (no diff --git or ---/+++)")
            if line.startswith(b"diff --git "):
                header, consumed = self._git_header(i)
                if consumed <= 1:
                    i += 1
                    continue
                i += consumed
            elif (
                line.startswith(b"--- ")
                and i + 2 < len(lines)
                and lines[i + 1].startswith(b"+++ ")
                and lines[i + 2].startswith(b"@@ -")
            ):
                header = self._traditional_header(i)
                i += 2
            elif _GNU_BINARY.match(line):
                # Git skips this line as noise; agentos refuses rather than drop a change.
                raise self.error(
                    i + 1,
                    f"{line.rstrip().decode('utf-8', 'replace')!r} (from diff(1)) carries no "
                    "data for the binary file; regenerate the diff with 'git diff --binary' "
                    "(or 'git diff --no-index --binary' outside a repository)",
                )
            else:
                i += 1
                continue
            patch, i = self._body(header, i)
            patches.append(patch)
        return patches

    def _body(self, header: Header, i: int) -> tuple[FilePatch, int]:
        lines = self.lines
        hunks: list[HunkSpan] = []
        while i < len(lines) and lines[i].startswith(b"@@ -"):
            hunk, i = self._hunk(i)
            hunks.append(hunk)
        binary: BinaryHunk | None = None
        without_data = False
        if not hunks and i < len(lines):
            line = lines[i]
            if line == b"GIT binary patch\n":
                binary, i = self._binary(i + 1, header.new_name or header.old_name or "?")
            elif line.endswith(b" differ\n") and line.startswith((b"Binary files ", b"Files ")):
                without_data = True
                i += 1
        old_total = sum(h.old_count for h in hunks)
        new_total = sum(h.new_count for h in hunks)
        is_new, is_delete = header.is_new, header.is_delete
        if is_new is None and (old_total or len(hunks) > 1):
            is_new = False
        if is_delete is None and (new_total or len(hunks) > 1):
            is_delete = False
        name = header.new_name or header.old_name or "?"
        if is_new and old_total:
            raise self.error(header.line, f"new file {name!r} depends on old contents")
        if is_delete and new_total:
            raise self.error(header.line, f"deleted file {name!r} still has contents")
        metadata = (
            header.is_rename
            or header.is_copy
            or bool(header.is_new)
            or bool(header.is_delete)
            or (header.old_mode is not None and header.new_mode not in (None, header.old_mode))
        )
        if not hunks and binary is None and not without_data and not metadata:
            raise self.error(header.line, f"the patch for {name!r} has no hunks (only garbage)")
        patch = FilePatch(
            old_path=None if is_new else header.old_name,
            new_path=None if is_delete else header.new_name,
            line=header.line,
            is_git=header.is_git,
            is_new=is_new,
            is_delete=is_delete,
            is_rename=header.is_rename,
            is_copy=header.is_copy,
            old_mode=header.old_mode,
            new_mode=header.new_mode,
            old_oid=header.old_oid,
            new_oid=header.new_oid,
            spans=tuple(hunks),
            binary=binary,
            binary_without_data=without_data,
            source_lines=lines,
        )
        return patch, i

    def _hunk(self, i: int) -> tuple[HunkSpan, int]:
        lines = self.lines
        start_line = i + 1
        match = _FRAGMENT.match(lines[i])
        if not match or not lines[i].endswith(b"\n"):
            raise self.error(start_line, "corrupt hunk header")
        if any(len(number) > _MAX_DIGITS for number in match.groups() if number is not None):
            raise self.error(start_line, "corrupt hunk header: a line number is too large")
        old_start = int(match.group(1))
        old_count = int(match.group(2)) if match.group(2) is not None else 1
        new_start = int(match.group(3))
        new_count = int(match.group(4)) if match.group(4) is not None else 1
        old_left, new_left = old_count, new_count
        leading = trailing = added = removed = 0
        i += 1
        body_start = i
        # The hot loop reads the lines' first and last bytes straight from the input.
        data, starts, total = self.data, self.starts, len(lines)
        while i < total and (old_left > 0 or new_left > 0):
            begin, end = starts[i], starts[i + 1]
            if data[end - 1] != _NL:
                raise self.error(i + 1, "corrupt patch: the input ends inside a hunk line")
            first = data[begin]
            if first in _CONTEXT:
                old_left -= 1
                new_left -= 1
                if not added and not removed:
                    leading += 1
                trailing += 1
            elif first == _MINUS:
                removed += 1
                old_left -= 1
                trailing = 0
            elif first == _PLUS:
                added += 1
                new_left -= 1
                trailing = 0
            elif first == _BACKSLASH:
                if end - begin < 12 or data[begin + 1] != _SPACE:
                    raise self.error(i + 1, "corrupt patch: malformed '\\ No newline' marker")
            else:
                raise self.error(
                    i + 1,
                    f"corrupt patch: hunk line starts with {chr(first)!r}; "
                    "the @@ counts do not match the hunk body",
                )
            i += 1
        if old_left != 0 or new_left != 0:
            raise self.error(
                start_line,
                f"corrupt patch: the hunk promises {old_count} old and {new_count} new lines "
                "but the body does not have them",
            )
        if not added and not removed:
            raise self.error(start_line, "corrupt patch: a hunk that changes nothing")
        # Git takes a final "\\ " marker when more than 12 bytes of input are left (any
        # translation of "No newline at end of file" is at least that long).
        if i < total and lines[i].startswith(b"\\ ") and len(data) - starts[i] > 12:
            i += 1
        span = HunkSpan(
            old_start=old_start,
            old_count=old_count,
            new_start=new_start,
            new_count=new_count,
            leading=leading,
            trailing=trailing,
            added=added,
            removed=removed,
            line=start_line,
            start=body_start,
            stop=i,
        )
        return span, i

    def _binary(self, i: int, name: str) -> tuple[BinaryHunk, int]:
        forward, i = self._binary_hunk(i, name, forward=True)
        if forward is None:
            raise self.error(i + 1, "GIT binary patch without a literal or delta block")
        # The optional reverse hunk lets git undo the patch; agentos keeps backups instead.
        _, i = self._binary_hunk(i, name, forward=False)
        return forward, i

    def _binary_hunk(self, i: int, name: str, *, forward: bool) -> tuple[BinaryHunk | None, int]:
        """One ``literal``/``delta`` block; None when there is none at ``i``, or when it is
        the reverse block and too large to be worth checking (it is never used)."""
        lines = self.lines
        if i >= len(lines):
            return None, i
        match = _BINARY_HEAD.match(lines[i])
        if not match:
            return None, i
        method: Method = "literal" if match.group(1) == b"literal" else "delta"
        if len(match.group(2)) > _MAX_DIGITS:
            raise self.error(i + 1, "corrupt binary patch: the size is too large a number")
        size = int(match.group(2))
        limit = self.limits.max_file_bytes
        # Refused from the header alone, before a line is decoded or a byte inflated.
        too_large = oversize(method, size, limit)
        if too_large is not None and forward:
            raise self._too_large(name, too_large)
        i += 1
        chunks: list[bytes] = []
        while True:
            if i >= len(lines):
                raise self.error(i, "corrupt binary patch: missing the blank line that ends it")
            line = lines[i]
            i += 1
            if line == b"\n":
                break
            try:
                chunks.append(decode_line(line.rstrip(b"\n")))
            except BinaryPatchError as exc:
                raise self.error(i, f"corrupt binary patch: {exc}") from None
        if too_large is not None:
            return None, i
        try:
            data, made = inflate_block(method, b"".join(chunks), size, limit=limit)
        except BinaryTooLargeError as exc:
            if not forward:
                return None, i
            raise self._too_large(name, exc) from None
        except BinaryPatchError as exc:
            raise self.error(i, f"corrupt binary patch: {exc}") from None
        if not forward:
            return None, i
        self.binary_bytes += made
        self.limits.check_plan(self.binary_bytes, source=self.source, path=name)
        return BinaryHunk(method=method, data=data), i

    def _too_large(self, name: str, exc: BinaryTooLargeError) -> InputTooLargeError:
        return file_too_large(
            self.source, name, what=exc.what, size=exc.declared, limit=exc.limit, note=exc.note
        )


def _images(body: list[bytes]) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The pre- and post-image lines of a hunk body (as git's apply_one_fragment builds them)."""
    old: list[bytes] = []
    new: list[bytes] = []
    for index, line in enumerate(body):
        first = line[:1]
        if first == b"\\":
            continue
        no_newline = index + 1 < len(body) and body[index + 1][:1] == b"\\"
        if first == b"\n":
            if no_newline:
                continue
            old.append(b"\n")
            new.append(b"\n")
            continue
        text = line[1:-1] if no_newline else line[1:]
        if first in (b" ", b"-"):
            old.append(text)
        if first in (b" ", b"+"):
            new.append(text)
    return tuple(old), tuple(new)


def parse_diff(
    data: bytes, *, source: str, strip: int | None = None, limits: PlanLimits | None = None
) -> list[FilePatch]:
    """Every file patch in a unified / git diff; ``PatchParseError`` on corrupt input,
    ``InputTooLargeError`` when a binary hunk breaks ``limits``."""
    patches = DiffParser(data, source=source, strip=strip, limits=limits).parse()
    if not patches:
        raise PatchParseError(
            f"{source}: no file changes found (expected 'diff --git' or '---'/'+++' headers)",
            details={"input": source},
        )
    return patches
