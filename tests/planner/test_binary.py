"""``GIT binary patch`` payloads: base85 lines, zlib, git's delta format, and git as the oracle.

Deltas are built by hand here (copy and insert instructions), wrapped into complete binary
patches, and fed both to agentos and to ``git apply``: each must accept or refuse alike.
Zip bombs (a few hundred KB declaring hundreds of MB) are refused from their headers, and
inflation never goes past ``max_file_bytes``.
"""

from __future__ import annotations

import base64
import os
import random
import subprocess
import tracemalloc
import zlib
from pathlib import Path

import pytest

from agentos.digest import git_blob_sha1
from agentos.errors import (
    AgentosError,
    BinaryPatchError,
    BinaryTooLargeError,
    InputTooLargeError,
    PatchParseError,
)
from agentos.planner.binary import (
    BinaryHunk,
    apply_binary_hunk,
    apply_delta,
    decode_line,
    delta_target_size,
    inflate,
    inflate_delta,
    max_delta_bytes,
)
from agentos.planner.diff import parse_diff
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.planner.tree import PlanLimits
from agentos.workspace import Workspace
from helpers import GIT_ENV, materialise, needs_git, read_tree, run_git, write_tree

# -- encoding, as git's diff.c emit_binary_diff_explicit does it ------------------------------


def length_letter(count: int) -> bytes:
    return bytes([ord("A") + count - 1 if count <= 26 else ord("a") + count - 27])


def encode_line(chunk: bytes) -> bytes:
    """One base85 line for up to 52 bytes: a length letter, then 5 characters per 4 bytes."""
    assert 1 <= len(chunk) <= 52
    padded = chunk + b"\0" * (-len(chunk) % 4)
    return length_letter(len(chunk)) + base64.b85encode(padded)


def encode_hunk(method: str, payload: bytes) -> bytes:
    """A ``literal``/``delta`` block: header, base85 lines of the deflated payload, blank line."""
    return encode_deflated(method, len(payload), zlib.compress(payload, 9))


def encode_deflated(method: str, size: int, deflated: bytes) -> bytes:
    """A ``literal``/``delta`` block declaring ``size`` for an already deflated payload."""
    lines = [encode_line(deflated[i : i + 52]) + b"\n" for i in range(0, len(deflated), 52)]
    return b"%s %d\n" % (method.encode(), size) + b"".join(lines) + b"\n"


MIB = 1 << 20


def zero_stream(size: int) -> bytes:
    """A zlib stream of ``size`` zero bytes (whole MiB), built without deflating them all:
    with a full flush after each MiB, every MiB deflates to the same block of ~1 KB."""
    packer = zlib.compressobj(9)
    head = packer.compress(bytes(MIB)) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(bytes(MIB)) + packer.flush(zlib.Z_FULL_FLUSH)
    final = packer.flush()[:-4]  # the last, empty block; its checksum is for 2 MiB only
    adler = (size % 65521) << 16 | 1  # Adler-32 of zeros: a stays 1, b counts the bytes
    return head + block * (size // MIB - 1) + final + adler.to_bytes(4, "big")


def bomb_patch(size: int, path: str = "a.bin") -> bytes:
    """A git patch creating ``path`` from a ``literal`` hunk of ``size`` zeros, as git
    writes it (with the reverse ``literal 0`` hunk): ~650 KB for 500 MiB."""
    return (
        (
            f"diff --git a/{path} b/{path}\n"
            "new file mode 100644\n"
            f"index {'0' * 40}..{'1' * 40}\n"
            "GIT binary patch\n"
        ).encode()
        + encode_deflated("literal", size, zero_stream(size))
        + b"literal 0\nHcmV?d00001\n\n"
    )


def binary_patch(path: str, old: bytes, new: bytes, method: str, payload: bytes) -> bytes:
    """A complete git diff changing ``path`` from ``old`` to ``new`` with one binary hunk."""
    return (
        f"diff --git a/{path} b/{path}\n"
        f"index {git_blob_sha1(old)}..{git_blob_sha1(new)} 100644\n"
        "GIT binary patch\n"
    ).encode() + encode_hunk(method, payload)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def copy(offset: int, size: int) -> bytes:
    """A delta copy instruction; only the non-zero bytes of offset and size are stored."""
    cmd = 0x80
    args = bytearray()
    for index in range(4):
        byte = (offset >> (8 * index)) & 0xFF
        if byte:
            cmd |= 1 << index
            args.append(byte)
    if size != 0x10000:  # a size of 0 stands for 64 KiB
        for index in range(3):
            byte = (size >> (8 * index)) & 0xFF
            if byte:
                cmd |= 0x10 << index
                args.append(byte)
    return bytes([cmd]) + bytes(args)


def insert(data: bytes) -> bytes:
    assert 1 <= len(data) <= 0x7F
    return bytes([len(data)]) + data


def delta(source_size: int, target_size: int, *instructions: bytes) -> bytes:
    return varint(source_size) + varint(target_size) + b"".join(instructions)


# -- base85 lines ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 26, 27, 51, 52])
def test_decode_line_round_trips_every_length(size: int) -> None:
    data = bytes(range(256))[:size]
    assert decode_line(encode_line(data)) == data


def test_decode_line_known_vector() -> None:
    # "A" = 1 byte; "00000" is four zero bytes, of which the first counts.
    assert decode_line(b"A00000") == b"\0"
    assert decode_line(b"C" + base64.b85encode(b"abc\0")) == b"abc"
    assert decode_line(b"E0000000000") == b"\0" * 5  # 5 bytes need two groups


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"A0000", "wrong length"),  # too short
        (b"A000000", "wrong length"),  # not 1 + 5n characters
        (b"100000", "not a length letter"),
        (b"!00000", "not a length letter"),
        (b"E00000", "does not match its data"),  # 5 bytes cannot fit one group
        (b"A0000000000", "does not match its data"),  # 1 byte but 2 groups: too many
        (b"D0000000000", "does not match its data"),  # 4 bytes but 2 groups: too many
        (b"A0000 ", "invalid base85"),  # a space is not in the alphabet
        (b"A~~~~~", "invalid base85"),  # overflows 32 bits
    ],
)
def test_decode_line_rejects(line: bytes, words: str) -> None:
    with pytest.raises(BinaryPatchError, match=words):
        decode_line(line)


# -- inflating ---------------------------------------------------------------------------------


def test_inflate_checks_the_announced_size() -> None:
    data = zlib.compress(b"hello world")
    assert inflate(data, 11) == b"hello world"
    with pytest.raises(BinaryPatchError, match="inflates to 11 bytes, the header says 12"):
        inflate(data, 12)
    with pytest.raises(BinaryPatchError, match="more than the 10 bytes"):
        inflate(data, 10)


def test_inflate_empty() -> None:
    assert inflate(zlib.compress(b""), 0) == b""


def test_inflate_rejects_corrupt_and_truncated_data() -> None:
    data = zlib.compress(b"hello world" * 10)
    with pytest.raises(BinaryPatchError, match="corrupt"):
        inflate(b"not zlib at all", 5)
    with pytest.raises(BinaryPatchError, match="truncated"):
        inflate(data[: len(data) // 2], 110)


def test_inflate_ignores_bytes_after_the_stream_like_git() -> None:
    assert inflate(zlib.compress(b"abc") + b"trailing", 3) == b"abc"


def test_inflate_stops_at_the_announced_size() -> None:
    """A tiny payload that would inflate to 32 MiB is cut off just past the announced size."""
    packer = zlib.compressobj(9)
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(packer.compress(chunk) for _ in range(32)) + packer.flush()
    assert len(bomb) < 64_000
    tracemalloc.start()
    try:
        with pytest.raises(BinaryPatchError, match="more than the 10 bytes"):
            inflate(bomb, 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"inflating used {peak} bytes"


# -- deltas ------------------------------------------------------------------------------------

SOURCE = bytes(range(256)) * 300  # 76,800 bytes: offsets need three bytes, sizes up to 64 KiB


def test_delta_insert_only() -> None:
    assert apply_delta(b"", delta(0, 5, insert(b"hello"))) == b"hello"


def test_delta_copy_with_every_offset_and_size_byte() -> None:
    cases = [(0, 1), (1, 255), (0x1234, 0x100), (0x10203, 0x10203 % 0xFFFF), (70_000, 6_800)]
    for offset, size in cases:
        result = apply_delta(SOURCE, delta(len(SOURCE), size, copy(offset, size)))
        assert result == SOURCE[offset : offset + size], (offset, size)


def test_delta_copy_size_zero_means_64_kib() -> None:
    assert copy(5, 0x10000) == bytes([0x81, 5])
    result = apply_delta(SOURCE, delta(len(SOURCE), 0x10000, copy(5, 0x10000)))
    assert result == SOURCE[5 : 5 + 0x10000]


def test_delta_mixes_copies_and_inserts() -> None:
    source = b"The quick brown fox jumps over the lazy dog"
    instructions = (copy(0, 4), insert(b"slow"), copy(9, 11), insert(b"leaps"), copy(25, 18))
    target = b"The slow brown fox leaps over the lazy dog"
    assert apply_delta(source, delta(len(source), len(target), *instructions)) == target


def test_delta_copy_offset_four_bytes() -> None:
    # Offsets of 2**24 and above use the fourth offset byte; it must be read, not skipped.
    instruction = copy(0x01000000, 1)
    assert instruction == bytes([0x80 | 0x08 | 0x10, 0x01, 0x01])
    source = bytes(0x01000000) + b"Z"  # 16 MiB of zeros, then the byte the copy must reach
    assert apply_delta(source, delta(len(source), 1, instruction)) == b"Z"
    with pytest.raises(BinaryPatchError, match="reaches outside"):
        apply_delta(b"x", delta(1, 1, instruction))


@pytest.mark.parametrize(
    ("source", "data", "words"),
    [
        (b"abc", delta(4, 3, copy(0, 3)), "expects a 4-byte pre-image"),
        (b"abc", delta(3, 3, copy(1, 3)), "copy instruction reaches outside"),
        (b"abc", delta(3, 2, copy(0, 3)), "copy instruction reaches outside"),
        (b"abc", delta(3, 2, insert(b"xyz")), "insert instruction reaches outside"),
        (b"abc", delta(3, 5, b"\x05ab"), "insert instruction reaches outside"),
        (b"abc", delta(3, 3, b"\x00", copy(0, 3)), "reserved opcode 0"),
        (b"abc", delta(3, 4, copy(0, 3)), "produced 3 bytes, its header says 4"),
        (b"abc", delta(3, 3, insert(b"a")) + bytes([0x91]), "ends inside an instruction"),
        (b"abc", b"\x83", "too short"),
        (b"", b"\x00\x00", "too short"),  # git's DELTA_SIZE_MIN: even an empty-to-empty delta
        (b"abcd", b"\x84\x80\x80\x80", "ends inside its size header"),
    ],
)
def test_delta_errors(source: bytes, data: bytes, words: str) -> None:
    with pytest.raises(BinaryPatchError, match=words):
        apply_delta(source, data)


def test_apply_binary_hunk_literal_ignores_the_source() -> None:
    assert apply_binary_hunk(b"old", BinaryHunk(method="literal", data=b"new")) == b"new"
    hunk = BinaryHunk(method="delta", data=delta(3, 6, copy(0, 3), copy(0, 3)))
    assert apply_binary_hunk(b"old", hunk) == b"oldold"


# -- against git -------------------------------------------------------------------------------


def git_apply_ok(root: Path, patch: bytes) -> bool:
    proc = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "apply", "-"],
        cwd=root,
        env={**os.environ, **GIT_ENV, "GIT_CEILING_DIRECTORIES": str(root.parent)},
        input=patch,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def agentos_plan(root: Path, patch: bytes) -> bytes:
    """The new contents of ``blob.bin`` after planning and materialising ``patch``."""
    plan = plan_changes(
        PlanSpec(workspace=Workspace(root), inputs=(PlanInput("p.diff", patch),), author="t")
    )
    materialise(plan, root)
    return (root / "blob.bin").read_bytes()


OLD_BLOB = bytes(range(256)) * 4


HAND_DELTAS: dict[str, tuple[bytes, bytes]] = {
    # name: (delta, target); every target is checked against git apply
    "insert-only": (delta(len(OLD_BLOB), 3, insert(b"new")), b"new"),
    "copy-all": (
        delta(len(OLD_BLOB), len(OLD_BLOB) + 1, copy(0, len(OLD_BLOB)), insert(b"!")),
        OLD_BLOB + b"!",
    ),
    "reorder": (
        delta(len(OLD_BLOB), 512, copy(512, 256), copy(0, 256)),
        OLD_BLOB[512:768] + OLD_BLOB[:256],
    ),
}


@needs_git
@pytest.mark.parametrize("name", sorted(HAND_DELTAS))
def test_hand_made_delta_applies_like_git(tmp_path: Path, name: str) -> None:
    data, target = HAND_DELTAS[name]
    patch = binary_patch("blob.bin", OLD_BLOB, target, "delta", data)
    oracle, ours = tmp_path / "git", tmp_path / "ours"
    for root in (oracle, ours):
        write_tree(root, {"blob.bin": OLD_BLOB})
    assert git_apply_ok(oracle, patch)
    assert (oracle / "blob.bin").read_bytes() == target
    assert agentos_plan(ours, patch) == target


BAD_DELTAS: dict[str, tuple[bytes, bytes]] = {
    "wrong-source-size": (delta(len(OLD_BLOB) + 1, 3, insert(b"new")), b"new"),
    "copy-past-source": (delta(len(OLD_BLOB), 10, copy(len(OLD_BLOB) - 5, 10)), b"x" * 10),
    "opcode-zero": (delta(len(OLD_BLOB), 3, b"\x00", insert(b"new")), b"new"),
    "short-result": (delta(len(OLD_BLOB), 4, insert(b"new")), b"new\0"),
    "shorter-than-four-bytes": (b"\x00\x00", b""),
    "to-empty-in-three-bytes": (delta(len(OLD_BLOB), 0), b""),
}


@needs_git
@pytest.mark.parametrize("name", sorted(BAD_DELTAS))
def test_bad_delta_is_refused_like_git(tmp_path: Path, name: str) -> None:
    data, target = BAD_DELTAS[name]
    source = b"" if name == "shorter-than-four-bytes" else OLD_BLOB
    patch = binary_patch("blob.bin", source, target, "delta", data)
    oracle, ours = tmp_path / "git", tmp_path / "ours"
    for root in (oracle, ours):
        write_tree(root, {"blob.bin": source})
    assert not git_apply_ok(oracle, patch)
    with pytest.raises(AgentosError) as caught:
        agentos_plan(ours, patch)
    assert caught.value.exit_code == 5
    assert "blob.bin" in caught.value.message
    assert read_tree(ours) == {"blob.bin": (source, "100644")}


def _repo_with_binary_change(tmp_path: Path, old: bytes, new: bytes) -> bytes:
    repo = tmp_path / "repo"
    repo.mkdir()
    run_git(repo, "init", "-q")
    write_tree(repo, {"blob.bin": old})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "base")
    write_tree(repo, {"blob.bin": new})
    return run_git(repo, "diff", "--binary", "--full-index")


def _random(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 - test data, not secrets


@needs_git
@pytest.mark.parametrize(
    ("old", "new", "method"),
    [
        (
            _random(1, 40_000),
            _random(1, 40_000)[:20_000] + b"\0X" + _random(1, 40_000)[20_002:],
            "delta",
        ),
        (b"\0" + _random(2, 100), b"\0" + _random(3, 3_000), "literal"),
        (b"\0small", b"\0" * 1000 + b"zeros compress well", "literal"),
    ],
    ids=["delta", "literal", "literal-compressible"],
)
def test_round_trip_against_git_diff_binary(
    tmp_path: Path, old: bytes, new: bytes, method: str
) -> None:
    patch = _repo_with_binary_change(tmp_path, old, new)
    (file_patch,) = parse_diff(patch, source="p.diff")
    assert file_patch.binary is not None
    assert file_patch.binary.method == method
    assert apply_binary_hunk(old, file_patch.binary) == new
    assert file_patch.old_oid == git_blob_sha1(old)
    assert file_patch.new_oid == git_blob_sha1(new)
    # Git's own base85 lines decode with decode_line to exactly the deflated payload.
    block = patch.split(b"GIT binary patch\n", 1)[1].split(b"\n\n", 1)[0].split(b"\n")
    size = int(block[0].split()[1])
    payload = inflate(b"".join(decode_line(line) for line in block[1:]), size)
    assert payload == file_patch.binary.data
    # And the reverse hunk git appends turns the new file back into the old one.
    reverse = patch.split(b"GIT binary patch\n", 1)[1].split(b"\n\n", 1)[1].split(b"\n")
    kind, rsize = reverse[0].split()
    rest = [line for line in reverse[1:] if line]
    back = inflate(b"".join(decode_line(line) for line in rest), int(rsize))
    hunk = BinaryHunk(method="delta" if kind == b"delta" else "literal", data=back)
    assert apply_binary_hunk(new, hunk) == old


@needs_git
def test_our_encoder_matches_what_git_accepts(tmp_path: Path) -> None:
    """The hand-made literal patch is a valid git patch (guards the helpers above)."""
    new = b"\0" + bytes(range(200))
    patch = binary_patch("blob.bin", OLD_BLOB, new, "literal", new)
    write_tree(tmp_path / "g", {"blob.bin": OLD_BLOB})
    assert git_apply_ok(tmp_path / "g", patch)
    assert (tmp_path / "g" / "blob.bin").read_bytes() == new
    write_tree(tmp_path / "a", {"blob.bin": OLD_BLOB})
    assert agentos_plan(tmp_path / "a", patch) == new


# -- what the planner checks around a binary hunk ---------------------------------------------


def test_binary_patch_needs_the_full_index_line(workspace: Path) -> None:
    write_tree(workspace, {"blob.bin": OLD_BLOB})
    patch = binary_patch("blob.bin", OLD_BLOB, b"new", "literal", b"new")
    short = patch.replace(git_blob_sha1(OLD_BLOB).encode(), git_blob_sha1(OLD_BLOB)[:7].encode())
    with pytest.raises(AgentosError) as caught:
        agentos_plan(workspace, short)
    assert caught.value.exit_code == 2
    assert "git diff --binary --full-index" in caught.value.message


def test_binary_patch_for_other_contents_is_refused(workspace: Path) -> None:
    write_tree(workspace, {"blob.bin": OLD_BLOB + b"changed since"})
    patch = binary_patch("blob.bin", OLD_BLOB, b"new", "literal", b"new")
    with pytest.raises(AgentosError) as caught:
        agentos_plan(workspace, patch)
    assert caught.value.exit_code == 5
    assert "does not match its current contents" in caught.value.message
    assert git_blob_sha1(OLD_BLOB) in caught.value.message


def test_binary_result_must_match_the_index_line(workspace: Path) -> None:
    write_tree(workspace, {"blob.bin": OLD_BLOB})
    patch = binary_patch("blob.bin", OLD_BLOB, b"promised", "literal", b"delivered")
    with pytest.raises(AgentosError) as caught:
        agentos_plan(workspace, patch)
    assert caught.value.exit_code == 5
    assert "does not match its index line" in caught.value.message


def test_corrupt_base85_in_a_patch_names_the_line(workspace: Path) -> None:
    write_tree(workspace, {"blob.bin": OLD_BLOB})
    patch = binary_patch("blob.bin", OLD_BLOB, b"new", "literal", b"new")
    lines = patch.split(b"\n")
    lines[4] = b"!" + lines[4][1:]  # the first data line loses its length letter
    with pytest.raises(AgentosError) as caught:
        agentos_plan(workspace, b"\n".join(lines))
    assert caught.value.exit_code == 2
    assert "p.diff:5: corrupt binary patch" in caught.value.message


def test_binary_patch_without_its_blank_line_is_corrupt(workspace: Path) -> None:
    write_tree(workspace, {"blob.bin": OLD_BLOB})
    patch = binary_patch("blob.bin", OLD_BLOB, b"new", "literal", b"new").rstrip(b"\n") + b"\n"
    with pytest.raises(AgentosError) as caught:
        agentos_plan(workspace, patch)
    assert caught.value.exit_code == 2
    assert "missing the blank line" in caught.value.message


# -- limits: nothing inflates past max_file_bytes -------------------------------------------

LIMIT = MIB


def test_inflate_refuses_a_declared_size_over_the_limit_before_inflating() -> None:
    # Not even zlib: only the declared size was looked at.
    with pytest.raises(BinaryTooLargeError) as caught:
        inflate(b"not zlib at all", 524_288_000, limit=LIMIT)
    assert (caught.value.declared, caught.value.limit) == (524_288_000, LIMIT)
    assert inflate(zlib.compress(b"x" * LIMIT), LIMIT, limit=LIMIT) == b"x" * LIMIT


def test_inflate_under_a_limit_never_makes_more_than_the_limit() -> None:
    bomb = zero_stream(64 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(BinaryPatchError, match=f"more than the {LIMIT} bytes"):
            inflate(bomb, LIMIT, limit=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # zlib gathers what it inflates in blocks and joins them: twice the limit at most.
    assert peak < 2 * LIMIT + 256 * 1024, f"inflating used {peak} bytes"


def test_max_delta_bytes_allows_the_longest_valid_delta() -> None:
    # Every instruction makes a byte at least, and a copy of one byte takes 8 at most.
    longest = delta(1 << 24, 3, *[copy(0x01020304, 1)] * 3)
    assert len(longest) <= max_delta_bytes(3)
    assert max_delta_bytes(LIMIT) == 20 + 8 * LIMIT


def test_inflate_delta_refuses_an_oversized_delta_before_inflating() -> None:
    with pytest.raises(BinaryTooLargeError, match="delta of") as caught:
        inflate_delta(b"not zlib at all", max_delta_bytes(LIMIT) + 1, limit=LIMIT)
    assert caught.value.declared == max_delta_bytes(LIMIT) + 1


def test_inflate_delta_reads_the_target_size_before_inflating_the_rest() -> None:
    header = varint(0) + varint(1 << 40)  # a 1 TiB result from an empty file
    packer = zlib.compressobj(9)
    payload = packer.compress(header)
    payload += b"".join(packer.compress(bytes(MIB)) for _ in range(8)) + packer.flush()
    declared = len(header) + 8 * MIB  # within max_delta_bytes: only the header says no
    tracemalloc.start()
    try:
        with pytest.raises(BinaryTooLargeError, match="result of") as caught:
            inflate_delta(payload, declared, limit=LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.declared == 1 << 40
    assert peak < 64 * 1024, f"inflating used {peak} bytes"


def test_inflate_delta_checks_a_size_header_padded_past_twenty_bytes() -> None:
    # Git reads size headers of any length; this target size starts after 25 bytes.
    data = b"\x80" * 24 + b"\x00" + varint(LIMIT + 1) + insert(b"x")
    assert delta_target_size(data) == LIMIT + 1
    with pytest.raises(BinaryTooLargeError, match="result of"):
        inflate_delta(zlib.compress(data), len(data), limit=LIMIT)


def test_inflate_delta_within_the_limit() -> None:
    data = delta(3, 6, copy(0, 3), copy(0, 3))
    assert inflate_delta(zlib.compress(data), len(data), limit=6) == data
    with pytest.raises(BinaryTooLargeError, match="result of 6 bytes"):
        inflate_delta(zlib.compress(data), len(data), limit=5)
    assert delta_target_size(b"\x83") is None  # cut short: apply_delta reports it


def test_a_literal_bomb_is_refused_from_its_header() -> None:
    assert zlib.decompress(zero_stream(3 * MIB)) == bytes(3 * MIB)  # the bombs are real
    patch = bomb_patch(500 * MIB)
    assert 600_000 < len(patch) < 700_000
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLargeError) as caught:
            parse_diff(patch, source="big.diff")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.message == (
        "big.diff: a.bin: the binary patch declares 524288000 bytes, more than "
        "writegate.content.max_file_bytes (1048576); nothing was planned"
    )
    assert caught.value.exit_code == 3
    assert caught.value.kind == "input_too_large"
    assert peak < 8 * MIB, f"parsing used {peak} bytes"


def test_the_file_limit_comes_from_plan_limits() -> None:
    patch = binary_patch("blob.bin", b"", b"x" * 200, "literal", b"x" * 200)
    (parsed,) = parse_diff(patch, source="p.diff", limits=PlanLimits(max_file_bytes=200))
    assert parsed.binary == BinaryHunk(method="literal", data=b"x" * 200)
    with pytest.raises(InputTooLargeError, match=r"\(199\); nothing was planned"):
        parse_diff(patch, source="p.diff", limits=PlanLimits(max_file_bytes=199))


def test_a_delta_declaring_a_large_result_is_refused() -> None:
    data = delta(len(OLD_BLOB), 2 * LIMIT, *[copy(0, len(OLD_BLOB))] * 2048)
    patch = binary_patch("blob.bin", OLD_BLOB, b"", "delta", data)
    with pytest.raises(InputTooLargeError) as caught:
        parse_diff(patch, source="d.diff")
    assert caught.value.message == (
        "d.diff: blob.bin: the binary delta declares a result of 2097152 bytes, more than "
        "writegate.content.max_file_bytes (1048576); nothing was planned"
    )


def test_a_delta_longer_than_any_valid_one_is_refused_from_its_header() -> None:
    patch = binary_patch("blob.bin", OLD_BLOB, b"", "delta", delta(len(OLD_BLOB), 1, insert(b"x")))
    patch = patch.replace(b"delta 5\n", b"delta 8388629\n")
    with pytest.raises(InputTooLargeError, match="declares a delta of 8388629 bytes"):
        parse_diff(patch, source="d.diff")


def test_a_reverse_hunk_bomb_is_skipped_not_inflated(workspace: Path) -> None:
    """Git's reverse hunk is never used: a huge one is neither inflated nor refused."""
    forward = encode_hunk("literal", b"new")
    reverse = encode_deflated("literal", 500 * MIB, zero_stream(500 * MIB))
    write_tree(workspace, {"blob.bin": OLD_BLOB})
    patch = binary_patch("blob.bin", OLD_BLOB, b"new", "literal", b"new")
    patch = patch.replace(forward, forward + reverse)
    tracemalloc.start()
    try:
        assert agentos_plan(workspace, patch) == b"new"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"planning used {peak} bytes"
    # One within the limit is still checked, as git checks it.
    corrupt = b"literal 5\n" + encode_line(b"not zlib") + b"\n\n"
    with pytest.raises(PatchParseError, match="corrupt"):
        parse_diff(patch.replace(reverse, corrupt), source="p.diff")


def test_binary_hunks_of_one_diff_stay_within_what_a_plan_can_hold() -> None:
    limits = PlanLimits(max_file_bytes=1000, max_files_touched=3)
    patches = [binary_patch(f"f{n}.bin", b"", bytes(800), "literal", bytes(800)) for n in range(4)]
    assert len(parse_diff(b"".join(patches[:3]), source="p.diff", limits=limits)) == 3
    with pytest.raises(InputTooLargeError) as caught:
        parse_diff(b"".join(patches), source="p.diff", limits=limits)
    assert caught.value.message == (
        "p.diff: f3.bin: the plan's new contents would reach 3200 bytes, more than "
        "executor.constraints.max_files_touched (3) files of writegate.content.max_file_bytes "
        "(1000) could hold; nothing was planned"
    )


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (b"literal " + b"9" * 5000 + b"\n", "the size is too large a number"),
        (b"literal 99999999999999999999\n", "the size is too large a number"),
    ],
)
def test_a_size_too_long_to_be_a_number_is_corrupt(header: bytes, words: str) -> None:
    patch = binary_patch("blob.bin", OLD_BLOB, b"new", "literal", b"new")
    patch = patch.replace(b"literal 3\n", header)
    with pytest.raises(PatchParseError, match=words):
        parse_diff(patch, source="p.diff")
