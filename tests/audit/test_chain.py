"""``verify``'s walk over the chain: lines a verified HEAD seal vouches for are checked on their
bytes, without a JSON parse; what it reports must stay exactly what a parse of every line
reports. The tampered trails here keep every hash right (the hash covers the line less its
``hash`` member, wherever that member sits), so only the position of that member, or the
form of the line, is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentos.audit.anchor import Anchor
from agentos.audit.lines import event_hash, without_hash
from agentos.audit.trail import AuditTrail
from agentos.errors import AuditChainError

EVENTS: list[tuple[str, dict[str, Any], str | None, str | None]] = [
    ("plan.created", {"intent": "fix a, b and c", "files": [{"path": "a.py"}]}, "plan-1", None),
    ("apply.started", {"files": 1, "nested": {"a": 1, "prev": "x"}}, "plan-1", "ex-1"),
    ("apply.committed", {"files": 1}, "plan-1", "ex-1"),
    ("gate.evaluated", {"decision": "ALLOW", "note": "x,y"}, None, None),
]


def sealed_trail(tmp_path: Path) -> tuple[AuditTrail, list[bytes]]:
    """A sealed trail of EVENTS (written by agentos) and its lines."""
    directory = tmp_path / "ws" / ".agentos" / "audit"
    trail = AuditTrail(directory, durable=False)
    for event, data, plan_id, execution_id in EVENTS:
        trail.append(event, actor="tester", data=data, plan_id=plan_id, execution_id=execution_id)
    return trail, trail.path.read_bytes().splitlines(keepends=True)


def move_hash(line: bytes, before: bytes) -> bytes:
    """``line`` with its ``"hash":"..."`` member moved to just before the last ``before``
    (the bytes the hash covers stay the same)."""
    body = without_hash(line)
    at = line.rfind(b',"hash":"')
    member = line[at + 1 : at + 1 + 74]  # "hash":"<64 hex>",
    where = body.rfind(before)
    if where < 0:
        raise AssertionError(f"{before!r} not in the line")
    moved = body[:where] + member + body[where:] + b"\n"
    assert without_hash(moved) == body
    return moved


def rewrite(trail: AuditTrail, lines: list[bytes], index: int, new: bytes) -> None:
    lines = list(lines)
    lines[index] = new
    trail.path.write_bytes(b"".join(lines))


def test_a_sealed_trail_verifies_and_its_anchor_is_found(tmp_path: Path) -> None:
    trail, _ = sealed_trail(tmp_path)
    report = trail.verify()
    assert (report.events, report.sealed, report.warnings) == (len(EVENTS), True, ())
    second = trail.events()
    next(second)
    anchor = next(second)["hash"]
    assert trail.verify(anchor=(None, anchor)).anchor == Anchor(2, anchor)
    assert trail.verify(anchor=(2, anchor)).anchor == Anchor(2, anchor)


def test_a_hash_member_moved_into_a_string_is_not_a_valid_json_event(tmp_path: Path) -> None:
    trail, lines = sealed_trail(tmp_path)
    # Inside the data string "fix a, b and c": the hash still matches, the line is no JSON.
    rewrite(trail, lines, 0, move_hash(lines[0], b' b and c"'))
    with pytest.raises(AuditChainError, match=r"audit\.jsonl:1: not a valid JSON event"):
        trail.verify()
    # And the same when the seal vouches for a later line only (the last one is moved).
    trail, lines = sealed_trail(tmp_path / "again")
    rewrite(trail, lines, 3, move_hash(lines[3], b'y"}'))
    with pytest.raises(AuditChainError, match=r"audit\.jsonl:4: not a valid JSON event"):
        trail.verify()


def test_a_hash_member_moved_into_the_data_leaves_the_event_without_one(tmp_path: Path) -> None:
    trail, lines = sealed_trail(tmp_path)
    # Before the nested "prev" key of data: valid JSON, but the event has no top-level hash.
    rewrite(trail, lines, 1, move_hash(lines[1], b'"prev":"x"'))
    with pytest.raises(AuditChainError, match=r"audit\.jsonl:2: an event lacks required fields"):
        trail.verify()


def test_a_hash_member_between_plan_id_and_prev_is_still_a_valid_event(tmp_path: Path) -> None:
    trail, lines = sealed_trail(tmp_path)
    before = trail.verify()
    rewrite(trail, lines, 2, move_hash(lines[2], b'"prev":"'))
    assert lines[2] != trail.path.read_bytes().splitlines(keepends=True)[2]
    assert trail.verify() == before


def test_an_unsealed_trail_is_walked_parsing_every_line(tmp_path: Path) -> None:
    directory = tmp_path / "ws" / ".agentos" / "audit"
    trail = AuditTrail(directory, durable=False, sealed=False)
    for event, data, plan_id, execution_id in EVENTS:
        trail.append(event, actor="tester", data=data, plan_id=plan_id, execution_id=execution_id)
    lines = trail.path.read_bytes().splitlines(keepends=True)
    assert trail.verify().events == len(EVENTS)
    rewrite(trail, lines, 0, move_hash(lines[0], b' b and c"'))
    with pytest.raises(AuditChainError, match=r"audit\.jsonl:1: not a valid JSON event"):
        trail.verify()


def test_lines_beyond_head_are_parsed(tmp_path: Path) -> None:
    """An event HEAD does not list yet (an interrupted append) is not vouched for."""
    trail, lines = sealed_trail(tmp_path)
    record: dict[str, Any] = {
        "seq": len(lines) + 1,
        "ts": "2026-01-01T00:00:00Z",
        "event": "gate.evaluated",
        "actor": "tester",
        "data": {"note": "p,q"},
        "prev": trail.verify().head,
    }
    body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    digest = event_hash(record["prev"], body)
    good = body[: body.rfind(b',"prev":"') + 1] + b'"hash":"' + digest.encode() + b'",'
    good += body[body.rfind(b',"prev":"') + 1 :] + b"\n"
    assert without_hash(good) == body
    trail.path.write_bytes(b"".join([*lines, good]))
    report = trail.verify()
    assert report.events == len(lines) + 1
    assert report.warnings and "not yet in HEAD" in report.warnings[0]
    trail.path.write_bytes(b"".join([*lines, move_hash(good, b'q"}')]))
    with pytest.raises(AuditChainError, match=rf"audit\.jsonl:{len(lines) + 1}: not a valid JSON"):
        trail.verify()


def test_a_big_trail_crosses_read_blocks(tmp_path: Path) -> None:
    """Lines split across the 4 MiB reads are checked whole (and edits found where they are)."""
    directory = tmp_path / "ws" / ".agentos" / "audit"
    trail = AuditTrail(directory, durable=False)
    padding = "x" * 3000
    for index in range(1600):  # about 5 MB
        trail.append("note", actor="tester", data={"i": index, "pad": padding})
    assert trail.verify().events == 1600
    data = bytearray(trail.path.read_bytes())
    at = data.index(b'"i":1500,')
    data[at + 4 : at + 8] = b"1501"
    trail.path.write_bytes(bytes(data))
    with pytest.raises(
        AuditChainError, match=r"audit\.jsonl:1501: event seq 1501 .* it was edited"
    ):
        trail.verify()
