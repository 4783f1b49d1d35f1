"""Parse unified and git diffs into ``FilePatch`` values, reading headers the way git does.

Supported: ``diff --git`` with every extended header (new / deleted file mode, old / new mode,
rename / copy from / to, similarity, index), plain ``---``/``+++`` diffs with ``/dev/null`` and
epoch timestamps, C-quoted paths, paths with spaces, ``\\ No newline at end of file``, several
hunks per file, and ``GIT binary patch`` literal and delta payloads. Text between patches (a
commit message, a mail header) is skipped, as git skips it.

Binary payloads are inflated within ``PlanLimits``: a hunk declaring a file larger than
``max_file_bytes`` is refused before anything is inflated, and the binary payloads of one
diff may not add up to more new content than a plan can hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentos.errors import InputTooLargeError, PatchParseError, UnsupportedFileError
from agentos.model import FileMode, mode_of
from agentos.planner.binary import (
    BinaryHunk,
    BinaryPatchError,
    BinaryTooLargeError,
    Method,
    decode_line,
    inflate_block,
    oversize,
)
from agentos.planner.diffnames import (
    decode_name,
    decode_or_none,
    guess_strip,
    has_epoch_timestamp,
    is_dev_null,
    skip_prefix,
    strip_components,
    traditional_body,
    unquote,
)
from agentos.planner.hunks import Hunk
from agentos.planner.tree import PlanLimits, file_too_large

_FRAGMENT = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_BINARY_HEAD = re.compile(rb"^(literal|delta) (\d+)\n$")
# Longer numbers overflow git's unsigned long (and Python refuses to convert huge ones).
_MAX_DIGITS = 19
# Git reads a mode with strtoul(..., 8) and wants whitespace after it.
_MODE = re.compile(rb"[ \t]*([0-7]+)[ \t\n\v\f\r]")
_TYPE_MASK = 0o170000
_TYPE_REGULAR = 0o100000
_TYPE_NAMES = {0o120000: "a symlink", 0o040000: "a directory", 0o160000: "a submodule"}
# An unquoted name ends at the line's end or at other whitespace than a space (git's
# find_name_common), and at a tab on ---/+++ lines; so a CRLF patch still names "x", not "x\r".
_NAME_END = re.compile(rb"[\n\v\f\r]")
_NAME_END_TAB = re.compile(rb"[\t\n\v\f\r]")
# What diff(1) prints instead of a hunk when a file is binary: nothing agentos could apply.
_GNU_BINARY = re.compile(rb"^Binary files .+ and .+ differ\r?\n?$")


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
    hunks: tuple[Hunk, ...] = ()
    binary: BinaryHunk | None = None
    binary_without_data: bool = False

    @property
    def display_path(self) -> str:
        """The name to show in messages: the new name, else the old one."""
        return self.new_path or self.old_path or "?"


@dataclass
class _Header:
    line: int
    is_git: bool = False
    def_name: str | None = None
    old_name: str | None = None
    new_name: str | None = None
    is_new: bool | None = None
    is_delete: bool | None = None
    is_rename: bool = False
    is_copy: bool = False
    old_mode: FileMode | None = None
    new_mode: FileMode | None = None
    old_oid: str | None = None
    new_oid: str | None = None
    extension_line: int | None = None


class DiffParser:
    """Reads one diff input; ``strip`` is git's ``-p`` (None: 1, or 0 for slash-free names)."""

    def __init__(
        self,
        data: bytes,
        *,
        source: str,
        strip: int | None = None,
        limits: PlanLimits | None = None,
    ) -> None:
        self.lines = _split_lines(data)
        self.source = source
        self.strip = 1 if strip is None else strip
        self.strip_known = strip is not None
        self.limits = limits if limits is not None else PlanLimits()
        # What the binary hunks read so far inflate to and make, against the plan's bound.
        self.binary_bytes = 0

    def error(self, lineno: int, message: str) -> PatchParseError:
        return PatchParseError(
            f"{self.source}:{lineno}: {message}",
            details={"input": self.source, "line": lineno},
        )

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

    # -- headers -------------------------------------------------------------------------

    def _git_header(self, start: int) -> tuple[_Header, int]:
        lines = self.lines
        # A git diff says explicitly when a file is new or deleted, so nothing is guessed.
        header = _Header(line=start + 1, is_git=True, is_new=False, is_delete=False)
        header.def_name = self._git_header_name(lines[start][len(b"diff --git ") :])
        i = start + 1
        while i < len(lines):
            line = lines[i]
            if not line.endswith(b"\n"):
                break
            lineno = i + 1
            if line.startswith(b"@@ -"):
                break
            if line.startswith(b"--- "):
                header.old_name = self._verify_name(
                    line[4:], header.old_name, expect_null=bool(header.is_new), lineno=lineno
                )
            elif line.startswith(b"+++ "):
                header.new_name = self._verify_name(
                    line[4:], header.new_name, expect_null=bool(header.is_delete), lineno=lineno
                )
            elif line.startswith(b"old mode "):
                header.old_mode = self._mode(line[9:], lineno)
            elif line.startswith(b"new mode "):
                header.new_mode = self._mode(line[9:], lineno)
            elif line.startswith(b"deleted file mode "):
                header.is_delete = True
                header.old_name = header.def_name
                header.old_mode = self._mode(line[18:], lineno)
            elif line.startswith(b"new file mode "):
                header.is_new = True
                header.new_name = header.def_name
                header.new_mode = self._mode(line[14:], lineno)
            elif line.startswith((b"copy from ", b"rename from ", b"rename old ")):
                is_copy = line.startswith(b"copy")
                prefix_len = line.index(b" ", line.index(b" ") + 1) + 1
                header.old_name = self._name(line[prefix_len:], max(self.strip - 1, 0), lineno)
                header.is_copy = header.is_copy or is_copy
                header.is_rename = header.is_rename or not is_copy
            elif line.startswith((b"copy to ", b"rename to ", b"rename new ")):
                prefix_len = line.index(b" ", line.index(b" ") + 1) + 1
                header.new_name = self._name(line[prefix_len:], max(self.strip - 1, 0), lineno)
                is_copy = line.startswith(b"copy")
                header.is_copy = header.is_copy or is_copy
                header.is_rename = header.is_rename or not is_copy
            elif line.startswith((b"similarity index ", b"dissimilarity index ")):
                pass
            elif line.startswith(b"index "):
                self._index_line(header, line[6:], lineno)
            else:
                break
            self._check_extensions(header, lineno)
            i += 1
        # Like git, check the names even when only the "diff --git" line is there.
        if header.old_name is None and header.new_name is None:
            if header.def_name is None:
                raise self.error(
                    start + 1,
                    "the diff --git header has no usable file name "
                    f"after removing {self.strip} leading component(s)",
                )
            header.old_name = header.new_name = header.def_name
        if (header.new_name is None and not header.is_delete) or (
            header.old_name is None and not header.is_new
        ):
            raise self.error(start + 1, "the diff --git header lacks file name information")
        return header, i - start

    def _check_extensions(self, header: _Header, lineno: int) -> None:
        """At most one of new / deleted / rename / copy, as git's ``check_header_line``."""
        flags = sum(
            bool(flag)
            for flag in (header.is_new, header.is_delete, header.is_rename, header.is_copy)
        )
        if flags > 1:
            raise self.error(
                lineno,
                f"inconsistent header lines {header.extension_line} and {lineno} "
                "(a file can be new, deleted, renamed or copied, only one of them)",
            )
        if flags and header.extension_line is None:
            header.extension_line = lineno

    def _verify_name(
        self, raw: bytes, current: str | None, *, expect_null: bool, lineno: int
    ) -> str | None:
        """Check a ``---``/``+++`` line of a git diff against what the header already said."""
        if current is None and not expect_null:
            return self._name(raw, self.strip, lineno, terminate_at_tab=True)
        if current is not None:
            if expect_null:
                raise self.error(lineno, f"expected /dev/null, found {current!r}")
            other = self._name(raw, self.strip, lineno, terminate_at_tab=True)
            if other != current:
                raise self.error(lineno, f"inconsistent file name {other!r} (expected {current!r})")
            return current
        if not is_dev_null(raw):
            raise self.error(lineno, "expected /dev/null for a new or deleted file")
        return None

    def _traditional_header(self, start: int) -> _Header:
        first = self.lines[start][4:]
        second = self.lines[start + 1][4:]
        lineno = start + 1
        if not self.strip_known:
            first_guess, second_guess = guess_strip(first), guess_strip(second)
            guess = second_guess if first_guess is None else first_guess
            if guess is not None and guess == second_guess:
                self.strip, self.strip_known = guess, True
        header = _Header(line=lineno)
        if is_dev_null(first):
            header.is_new, header.is_delete = True, False
            header.new_name = self._traditional_name(second, None, lineno + 1)
        elif is_dev_null(second):
            header.is_new, header.is_delete = False, True
            header.old_name = self._traditional_name(first, None, lineno)
        else:
            first_name = self._traditional_name(first, None, lineno)
            name = self._traditional_name(second, first_name, lineno + 1)
            if has_epoch_timestamp(first):
                header.is_new, header.is_delete = True, False
                header.new_name = name
            elif has_epoch_timestamp(second):
                header.is_new, header.is_delete = False, True
                header.old_name = name
            else:
                header.old_name = header.new_name = name
        return header

    def _traditional_name(self, raw: bytes, default: str | None, lineno: int) -> str:
        body = traditional_body(raw)
        name = self._name(body, self.strip, lineno, default=default)
        if default is not None and len(default) < len(name) and name.startswith(default):
            return default
        return name

    def _git_header_name(self, rest: bytes) -> str | None:
        """The name both sides of ``diff --git a/X b/X`` share, or None (renames, copies)."""
        rest = rest.rstrip(b"\n")
        strip = self.strip
        if rest.startswith(b'"'):
            first, after = unquote(rest)
            first_name = skip_prefix(first, strip) if first is not None else None
            second = after.lstrip()
            if first_name is None or not second:
                return None
            if second.startswith(b'"'):
                other, _ = unquote(second)
                second = other if other is not None else b""
            return decode_or_none(first_name) if skip_prefix(second, strip) == first_name else None
        name = skip_prefix(rest, strip)
        if name is None:
            return None
        quote = name.find(b'"')
        if quote >= 0:
            # The first name is unquoted, so a quote must open the second one.
            other, _ = unquote(name[quote:])
            other_name = skip_prefix(other, strip) if other is not None else None
            size = len(other_name) if other_name is not None else -1
            if 0 <= size < quote and name[:size] == other_name and name[size] in b" \t":
                return decode_or_none(name[:size])
            return None
        # Unquoted on both sides: accept the split where both halves name the same file.
        for pos, char in enumerate(name):
            if char in b" \t" and skip_prefix(name[pos + 1 :], strip) == name[:pos]:
                return decode_or_none(name[:pos])
        return None

    def _name(
        self,
        raw: bytes,
        strip: int,
        lineno: int,
        *,
        terminate_at_tab: bool = False,
        default: str | None = None,
    ) -> str:
        body = raw.rstrip(b"\n")
        if body.startswith(b'"'):
            unquoted, _ = unquote(body)
            if unquoted is None:
                raise self.error(lineno, "badly quoted file name")
            body = unquoted
        elif end := (_NAME_END_TAB if terminate_at_tab else _NAME_END).search(body):
            body = body[: end.start()]
        stripped = strip_components(body, strip)
        if not stripped:
            if default is not None:
                return default
            raise self.error(
                lineno,
                f"file name {body.decode('utf-8', 'replace')!r} has fewer than {strip} "
                "leading component(s) to strip (see --strip)",
            )
        try:
            return decode_name(re.sub(rb"/{2,}", b"/", stripped))
        except UnicodeDecodeError:
            raise self.error(lineno, "a file name is not valid UTF-8") from None

    def _mode(self, raw: bytes, lineno: int) -> FileMode:
        match = _MODE.match(raw)
        if not match:
            raise self.error(
                lineno, f"invalid file mode {raw.strip().decode('ascii', 'replace')!r}"
            )
        value = int(match.group(1), 8)
        kind = value & _TYPE_MASK
        if kind != _TYPE_REGULAR:
            mode = f"{value:06o}"
            what = _TYPE_NAMES.get(kind, "a file of an unknown type")
            raise UnsupportedFileError(
                f"{self.source}:{lineno}: the patch changes {what} (mode {mode}); agentos only "
                "writes regular files (modes 100644 and 100755) — apply that part another way",
                details={"input": self.source, "line": lineno, "mode": mode},
            )
        # Like git's canon_mode: a regular file is executable when its owner may execute it.
        return mode_of(value)

    def _index_line(self, header: _Header, rest: bytes, lineno: int) -> None:
        text = rest.rstrip(b"\n")
        dots = text.find(b".")
        if dots < 0 or dots > 64 or text[dots + 1 : dots + 2] != b".":
            return
        old = text[:dots]
        tail = text[dots + 2 :]
        space = tail.find(b" ")
        new = tail if space < 0 else tail[:space]
        if len(new) > 64:
            return
        header.old_oid = old.decode("ascii", "replace")
        header.new_oid = new.decode("ascii", "replace")
        if space >= 0:
            header.old_mode = self._mode(tail[space + 1 :] + b"\n", lineno)

    # -- bodies --------------------------------------------------------------------------

    def _body(self, header: _Header, i: int) -> tuple[FilePatch, int]:
        lines = self.lines
        hunks: list[Hunk] = []
        while i < len(lines) and lines[i].startswith(b"@@ -"):
            hunk, i = self._hunk(i, header)
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
            hunks=tuple(hunks),
            binary=binary,
            binary_without_data=without_data,
        )
        return patch, i

    def _hunk(self, i: int, header: _Header) -> tuple[Hunk, int]:
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
        body: list[bytes] = []
        leading = trailing = added = removed = 0
        i += 1
        while i < len(lines) and (old_left > 0 or new_left > 0):
            line = lines[i]
            if not line.endswith(b"\n"):
                raise self.error(i + 1, "corrupt patch: the input ends inside a hunk line")
            first = line[:1]
            if first in (b" ", b"\n"):
                old_left -= 1
                new_left -= 1
                if not added and not removed:
                    leading += 1
                trailing += 1
            elif first == b"-":
                removed += 1
                old_left -= 1
                trailing = 0
            elif first == b"+":
                added += 1
                new_left -= 1
                trailing = 0
            elif first == b"\\":
                if len(line) < 12 or not line.startswith(b"\\ "):
                    raise self.error(i + 1, "corrupt patch: malformed '\\ No newline' marker")
            else:
                raise self.error(
                    i + 1,
                    f"corrupt patch: hunk line starts with {first.decode('latin-1')!r}; "
                    "the @@ counts do not match the hunk body",
                )
            body.append(line)
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
        if i < len(lines) and lines[i].startswith(b"\\ ") and _remaining(lines, i) > 12:
            body.append(lines[i])
            i += 1
        old_lines, new_lines = _images(body)
        # The parser never looks back: the images now hold what the hunk's lines held.
        lines[start_line - 1 : i] = [b""] * (i - start_line + 1)
        return (
            Hunk(
                old_start=old_start,
                old_count=old_count,
                new_start=new_start,
                new_count=new_count,
                old_lines=old_lines,
                new_lines=new_lines,
                leading=leading,
                trailing=trailing,
                added=added,
                removed=removed,
                line=start_line,
            ),
            i,
        )

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


def _split_lines(data: bytes) -> list[bytes]:
    """``split_lines``, built in place: each piece becomes its line before the next one is
    made, so the input is never held twice over as lines."""
    if not data:
        return []
    lines = data.split(b"\n")
    last = lines.pop()
    for index in range(len(lines)):
        lines[index] += b"\n"
    if last:
        lines.append(last)
    return lines


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


def _remaining(lines: list[bytes], start: int, enough: int = 13) -> int:
    """How many bytes ``lines[start:]`` hold, counting no further than ``enough``."""
    total = 0
    for line in lines[start:]:
        total += len(line)
        if total >= enough:
            break
    return total


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
