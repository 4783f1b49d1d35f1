"""The headers of a diff's file patches, read the way git reads them.

``diff --git`` with every extended header (new / deleted file mode, old / new mode, rename /
copy from / to, similarity, index) and plain ``---``/``+++`` headers with ``/dev/null`` and
epoch timestamps; names are C-unquoted and stripped of ``-p`` leading components
(``diffnames``). ``DiffParser`` reads the bodies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentos.errors import PatchParseError, UnsupportedFileError
from agentos.model import FileMode, mode_of
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

# Git reads a mode with strtoul(..., 8) and wants whitespace after it.
_MODE = re.compile(rb"[ \t]*([0-7]+)[ \t\n\v\f\r]")
_TYPE_MASK = 0o170000
_TYPE_REGULAR = 0o100000
_TYPE_NAMES = {0o120000: "a symlink", 0o040000: "a directory", 0o160000: "a submodule"}
# An unquoted name ends at the line's end or at other whitespace than a space (git's
# find_name_common), and at a tab on ---/+++ lines; so a CRLF patch still names "x", not "x\r".
_NAME_END = re.compile(rb"[\n\v\f\r]")
_NAME_END_TAB = re.compile(rb"[\t\n\v\f\r]")


@dataclass
class Header:
    """What a file's header lines say, as git's ``parse_git_diff_header`` collects it."""

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


class HeaderReader:
    """The lines of one diff input, and how to read its file headers."""

    def __init__(self, lines: Sequence[bytes], *, source: str, strip: int | None) -> None:
        self.lines = lines
        self.source = source
        self.strip = 1 if strip is None else strip
        self.strip_known = strip is not None

    def error(self, lineno: int, message: str) -> PatchParseError:
        """A parse error naming the input and the line."""
        return PatchParseError(
            f"{self.source}:{lineno}: {message}",
            details={"input": self.source, "line": lineno},
        )

    def _git_header(self, start: int) -> tuple[Header, int]:
        lines = self.lines
        # A git diff says explicitly when a file is new or deleted, so nothing is guessed.
        header = Header(line=start + 1, is_git=True, is_new=False, is_delete=False)
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

    def _check_extensions(self, header: Header, lineno: int) -> None:
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

    def _traditional_header(self, start: int) -> Header:
        first = self.lines[start][4:]
        second = self.lines[start + 1][4:]
        lineno = start + 1
        if not self.strip_known:
            first_guess, second_guess = guess_strip(first), guess_strip(second)
            guess = second_guess if first_guess is None else first_guess
            if guess is not None and guess == second_guess:
                self.strip, self.strip_known = guess, True
        header = Header(line=lineno)
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

    def _index_line(self, header: Header, rest: bytes, lineno: int) -> None:
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
