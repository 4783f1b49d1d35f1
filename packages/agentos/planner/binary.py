"""``GIT binary patch`` payloads: base85 lines, zlib, and git's copy/insert delta format."""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Literal

# Git encodes 4 bytes per 5 characters and prefixes each line with its byte count as one letter.
_BYTES_PER_GROUP = 4
_CHARS_PER_GROUP = 5
# Git refuses a delta shorter than this (two size headers and one instruction).
_DELTA_SIZE_MIN = 4


class BinaryPatchError(Exception):
    """A binary hunk is corrupt or does not fit its pre-image (a message without the path)."""


@dataclass(frozen=True)
class BinaryHunk:
    """One ``literal N`` or ``delta N`` block, already inflated."""

    method: Literal["literal", "delta"]
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


def inflate(data: bytes, expected_size: int) -> bytes:
    """Decompress a hunk and check it has the size its header announced.

    Inflation stops one byte past the announced size, so a small hostile payload cannot
    expand without bound; like git, bytes after the end of the zlib stream are ignored.
    """
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
