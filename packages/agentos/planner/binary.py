"""``GIT binary patch`` payloads: base85 lines, zlib, and git's copy/insert delta format.

A hunk's header declares the size it inflates to, and a delta's own header the size of its
result; both are checked against a limit before anything is inflated, and inflation never
goes past the declared size, so a small hostile payload cannot expand without bound.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Literal

from agentos.errors import BinaryPatchError, BinaryTooLargeError

# Git encodes 4 bytes per 5 characters and prefixes each line with its byte count as one letter.
_BYTES_PER_GROUP = 4
_CHARS_PER_GROUP = 5
# Git refuses a delta shorter than this (two size headers and one instruction).
_DELTA_SIZE_MIN = 4
# A size header of up to 64 bits takes at most 10 bytes; a delta opens with two of them.
_DELTA_HEADER_MAX = 20
# Every delta instruction makes at least one byte of the result and takes at most 8 bytes
# (a copy: its opcode, four offset and three size bytes).
_DELTA_BYTES_PER_RESULT_BYTE = 8


Method = Literal["literal", "delta"]


@dataclass(frozen=True)
class BinaryHunk:
    """One ``literal N`` or ``delta N`` block, already inflated."""

    method: Method
    data: bytes


def decode_line(line: bytes) -> bytes:
    """The bytes one base85 line stands for (its first character gives the count)."""
    if len(line) < 6 or (len(line) - 1) % _CHARS_PER_GROUP:
        raise BinaryPatchError("a base85 line has the wrong length")
    marker = line[0]
    if ord("A") <= marker <= ord("Z"):
        count = marker - ord("A") + 1
    elif ord("a") <= marker <= ord("z"):
        count = marker - ord("a") + 27
    else:
        raise BinaryPatchError(f"a base85 line starts with {chr(marker)!r}, not a length letter")
    capacity = (len(line) - 1) // _CHARS_PER_GROUP * _BYTES_PER_GROUP
    if count > capacity or count <= capacity - _BYTES_PER_GROUP:
        raise BinaryPatchError("a base85 line's length letter does not match its data")
    try:
        decoded = base64.b85decode(line[1:])
    except ValueError as exc:
        raise BinaryPatchError(f"invalid base85 data ({exc})") from None
    return decoded[:count]


def inflate(data: bytes, expected_size: int, *, limit: int | None = None) -> bytes:
    """Decompress a hunk and check it has the size its header announced.

    With ``limit``, an announced size above it is refused before anything is inflated.
    Inflation stops one byte past the announced size, so a small hostile payload cannot
    expand without bound; like git, bytes after the end of the zlib stream are ignored.
    """
    refusal = oversize("literal", expected_size, limit) if limit is not None else None
    if refusal is not None:
        raise refusal
    stream = zlib.decompressobj()
    try:
        out = stream.decompress(data, expected_size + 1)
    except zlib.error as exc:
        raise BinaryPatchError(f"the compressed data is corrupt ({exc})") from None
    if len(out) > expected_size:
        raise BinaryPatchError(
            f"the data inflates to more than the {expected_size} bytes its header says"
        )
    if not stream.eof:
        raise BinaryPatchError("the compressed data is truncated")
    if len(out) != expected_size:
        raise BinaryPatchError(
            f"the data inflates to {len(out)} bytes, the header says {expected_size}"
        )
    return out


def max_delta_bytes(limit: int) -> int:
    """The longest a valid delta can be whose result is at most ``limit`` bytes."""
    return _DELTA_HEADER_MAX + _DELTA_BYTES_PER_RESULT_BYTE * limit


def oversize(method: Method, size: int, limit: int) -> BinaryTooLargeError | None:
    """Why a block whose header declares ``size`` cannot make a file within ``limit``
    (None when it can): judged from the header alone, before anything is inflated."""
    if method == "literal":
        return (
            BinaryTooLargeError("the binary patch declares", size, limit) if size > limit else None
        )
    longest = max_delta_bytes(limit)
    if size > longest:
        note = f" (a delta for a file within it is at most {longest} bytes)"
        return BinaryTooLargeError("the binary patch declares a delta of", size, limit, note)
    return None


def inflate_block(method: Method, data: bytes, size: int, *, limit: int) -> tuple[bytes, int]:
    """Inflate a ``literal`` or ``delta`` block whose header declares ``size``, for a file of
    at most ``limit`` bytes; returns the payload and how many bytes it stands for (the delta
    and the result it declares). ``BinaryTooLargeError`` before inflating past the limit."""
    if method == "literal":
        return inflate(data, size, limit=limit), size
    payload = inflate_delta(data, size, limit=limit)
    return payload, size + (delta_target_size(payload) or 0)


def inflate_delta(data: bytes, expected_size: int, *, limit: int) -> bytes:
    """Decompress a ``delta`` hunk whose result may be at most ``limit`` bytes.

    The announced size is checked first (no valid delta for such a result can be longer
    than ``max_delta_bytes``), then the target size in the delta's own header, read by
    inflating its first bytes only; both before the rest is inflated.
    """
    refusal = oversize("delta", expected_size, limit)
    if refusal is not None:
        raise refusal
    try:
        head = zlib.decompressobj().decompress(data, min(expected_size, _DELTA_HEADER_MAX))
    except zlib.error:
        head = b""  # inflate below says what is wrong with it
    _check_target_size(head, limit)
    payload = inflate(data, expected_size)
    # A size header padded past its usual length is only complete in the whole payload.
    _check_target_size(payload, limit)
    return payload


def delta_target_size(delta: bytes) -> int | None:
    """The size of the result a delta's header declares (None when the header is cut short;
    ``apply_delta`` says so)."""
    try:
        _, pos = _varint(delta, 0)
        return _varint(delta, pos)[0]
    except BinaryPatchError:
        return None


def _check_target_size(delta: bytes, limit: int) -> None:
    target_size = delta_target_size(delta)
    if target_size is not None and target_size > limit:
        raise BinaryTooLargeError("the binary delta declares a result of", target_size, limit)


def _varint(delta: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(delta):
            raise BinaryPatchError("the delta ends inside its size header")
        byte = delta[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def apply_delta(source: bytes, delta: bytes) -> bytes:
    """Rebuild the target from ``source`` and a git delta (copy and insert instructions)."""
    if len(delta) < _DELTA_SIZE_MIN:
        raise BinaryPatchError(f"the delta is {len(delta)} bytes long, too short to be valid")
    source_size, pos = _varint(delta, 0)
    if source_size != len(source):
        raise BinaryPatchError(
            f"the delta expects a {source_size}-byte pre-image, the file has {len(source)} bytes"
        )
    target_size, pos = _varint(delta, pos)
    out = bytearray()
    while pos < len(delta):
        cmd = delta[pos]
        pos += 1
        if cmd & 0x80:
            offset = size = 0
            for bit, shift in ((0x01, 0), (0x02, 8), (0x04, 16), (0x08, 24)):
                if cmd & bit:
                    offset |= _byte(delta, pos) << shift
                    pos += 1
            for bit, shift in ((0x10, 0), (0x20, 8), (0x40, 16)):
                if cmd & bit:
                    size |= _byte(delta, pos) << shift
                    pos += 1
            if size == 0:
                size = 0x10000
            if offset + size > len(source) or len(out) + size > target_size:
                raise BinaryPatchError("a delta copy instruction reaches outside its data")
            out += source[offset : offset + size]
        elif cmd:
            if pos + cmd > len(delta) or len(out) + cmd > target_size:
                raise BinaryPatchError("a delta insert instruction reaches outside its data")
            out += delta[pos : pos + cmd]
            pos += cmd
        else:
            raise BinaryPatchError("the delta holds the reserved opcode 0")
    if len(out) != target_size:
        raise BinaryPatchError(
            f"the delta produced {len(out)} bytes, its header says {target_size}"
        )
    return bytes(out)


def _byte(delta: bytes, pos: int) -> int:
    if pos >= len(delta):
        raise BinaryPatchError("the delta ends inside an instruction")
    return delta[pos]


def apply_binary_hunk(source: bytes, hunk: BinaryHunk) -> bytes:
    """The post-image a binary hunk produces from ``source``."""
    if hunk.method == "literal":
        return hunk.data
    return apply_delta(source, hunk.data)
