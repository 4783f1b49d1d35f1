"""File names in diff headers, read the way git reads them.

C-quoted names, ``-p`` stripping, ``/dev/null``, the timestamps ``diff(1)`` appends after a
name and the epoch timestamp that marks a side as absent (``diff -N``): pure functions of the
header bytes, used by ``planner.diff``.
"""

from __future__ import annotations

import re

_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("f"): 12,
    ord("n"): 10,
    ord("r"): 13,
    ord("t"): 9,
    ord("v"): 11,
    ord("\\"): ord("\\"),
    ord('"'): ord('"'),
}

# Timestamps diff(1) writes after a file name: ISO ("2024-01-31 10:00:00.000 +0100") or ctime.
_ISO_STAMP = re.compile(
    rb"\s+(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.\d+)?(?: ?([+-])(\d\d):?(\d\d))?\s*$"
)
_CTIME_STAMP = re.compile(rb"\s+[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\s*$")
# The time of day and zone that may follow an epoch date (git's has_epoch_timestamp).
_EPOCH_TIME = re.compile(
    rb"([0-2][0-9]):([0-5][0-9]):00(?:\.0+)? ([-+])([0-2][0-9]):?([0-5][0-9])\n"
)


def is_dev_null(raw: bytes) -> bool:
    """True when a header names ``/dev/null`` (the side that does not exist)."""
    return raw.startswith(b"/dev/null") and raw[9:10] in (b"", b"\n", b"\t", b" ")


def traditional_body(raw: bytes) -> bytes:
    """A plain diff's name field without its newline and trailing timestamp."""
    body = raw.rstrip(b"\n")
    if body.startswith(b'"'):
        return body
    if b"\t" in body:
        return body[: body.index(b"\t")]
    stamp = _ISO_STAMP.search(body) or _CTIME_STAMP.search(body)
    return body[: stamp.start()] if stamp else body


def guess_strip(raw: bytes) -> int | None:
    """Git's guess for plain diffs: names without a slash mean ``-p0``; otherwise no guess."""
    if is_dev_null(raw):
        return None
    return 0 if b"/" not in traditional_body(raw) else None


def strip_components(name: bytes, strip: int) -> bytes | None:
    """``name`` after its first ``strip`` slash-separated components (git's ``-p``)."""
    rest = name
    for _ in range(strip):
        slash = rest.find(b"/")
        if slash < 0:
            return None
        rest = rest[slash + 1 :]
    return rest


def skip_prefix(name: bytes, strip: int) -> bytes | None:
    """Like ``strip_components`` for ``diff --git`` names, which may not start with ``/``."""
    if strip == 0:
        return None if name.startswith(b"/") else name
    remaining = strip
    for pos, char in enumerate(name):
        if char == 0x2F:
            remaining -= 1
            if remaining <= 0:
                return None if pos == 0 else name[pos + 1 :]
    return None


def unquote(text: bytes) -> tuple[bytes | None, bytes]:
    """Undo git's C-style quoting of ``"..."``; returns the name and what follows it."""
    if not text.startswith(b'"'):
        return None, text
    out = bytearray()
    i = 1
    while i < len(text):
        char = text[i]
        if char == ord('"'):
            return bytes(out), text[i + 1 :]
        if char == ord("\\"):
            i += 1
            if i >= len(text):
                return None, b""
            esc = text[i]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
            elif ord("0") <= esc <= ord("3"):
                digits = text[i : i + 3]
                if len(digits) < 3 or not all(ord("0") <= d <= ord("7") for d in digits):
                    return None, b""
                out.append(int(digits, 8))
                i += 2
            else:
                return None, b""
        elif char == ord("\n"):
            return None, b""
        else:
            out.append(char)
        i += 1
    return None, b""


def decode_name(name: bytes) -> str:
    """A file name as text (UTF-8, as git writes it)."""
    return name.decode("utf-8")


def decode_or_none(name: bytes) -> str | None:
    """A file name as text, or None when it is not UTF-8."""
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        return None


def has_epoch_timestamp(raw: bytes) -> bool:
    """True when a plain diff marks a side as absent with the Unix epoch (``diff -N``).

    Git's exact test: after the line's last tab, 1970-01-01 or 1969-12-31, seconds ``00``
    (any fraction all zeros) and a zone that makes the moment the epoch. Nothing else counts,
    so a side that only looks old is patched like any other file.
    """
    end = raw.find(b"\n")
    if end < 0:
        return False
    tab = raw.rfind(b"\t", 0, end)
    if tab < 0:
        return False
    stamp = raw[tab + 1 : end + 1]
    if stamp.startswith(b"1969-12-31 "):
        epoch_minutes = 24 * 60
    elif stamp.startswith(b"1970-01-01 "):
        epoch_minutes = 0
    else:
        return False
    match = _EPOCH_TIME.match(stamp, len(b"1970-01-01 "))
    if not match:
        return False
    zone = int(match.group(4)) * 60 + int(match.group(5))
    if match.group(3) == b"-":
        zone = -zone
    return int(match.group(1)) * 60 + int(match.group(2)) - zone == epoch_minutes
