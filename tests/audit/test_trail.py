"""The hash-chained audit trail (SPEC §10, §12): tamper detection, crash residue, concurrency.

Trails are tampered with and "crashed" by editing their files directly, as an attacker or a
power cut would; nothing private is patched. Every tamper case is checked through the API
(``AuditChainError`` naming the first bad event) and through ``agentos audit verify`` (exit 6).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agentos.audit.anchor import HEAD_PURPOSE, head_seal_payload
from agentos.audit.lines import GENESIS
from agentos.audit.trail import AuditTrail
from agentos.errors import AuditChainError
from agentos.statekey import state_key
from helpers import CliResult

# -- building and reading trails ----------------------------------------------------------------

SAMPLE: list[tuple[str, dict[str, Any], str | None, str | None]] = [
    (
        "plan.created",
        {"files": [{"path": "src/a.py", "sha256": "ab" * 32, "size": 12}], "intent": "fix"},
        "plan-1",
        None,
    ),
    ("gate.evaluated", {"decision": "ALLOW", "findings": []}, "plan-1", None),
    ("apply.started", {"files": 2}, "plan-1", "ex-1"),
    (
        "changes.written",
        {"files": [{"path": "src/a.py", "size": 13}, {"path": "é/ü 文件.txt", "size": 0}]},
        "plan-1",
        "ex-1",
    ),
    (
        "apply.committed",
        {"status": "committed", "nested": {"a": [1, 2.5, None, True]}},
        "plan-1",
        "ex-1",
    ),
]


def audit_dir(workspace: Path) -> Path:
    """Where a workspace keeps its trail."""
    return workspace / ".agentos" / "audit"


def fill(directory: Path, count: int = len(SAMPLE)) -> list[dict[str, Any]]:
    """Append ``count`` events (cycling through SAMPLE) and return them as appended."""
    trail = AuditTrail(directory, durable=False)
    records = []
    for index in range(count):
        event, data, plan_id, execution_id = SAMPLE[index % len(SAMPLE)]
        records.append(
            trail.append(
                event, actor="tester", data=data, plan_id=plan_id, execution_id=execution_id
            )
        )
    return records


def lines_of(directory: Path) -> list[bytes]:
    """The trail's lines, each with its newline."""
    return (directory / "audit.jsonl").read_bytes().splitlines(keepends=True)


def write_lines(directory: Path, lines: list[bytes]) -> None:
    """Replace the trail's content (as an editor would; HEAD is left alone)."""
    (directory / "audit.jsonl").write_bytes(b"".join(lines))


def canonical(value: Any) -> bytes:
    """SPEC §5 canonical JSON, written here independently of the code under test."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def spec_hash(prev: str, record: dict[str, Any]) -> str:
    """SPEC §10: sha256(prev + canonical(event without hash))."""
    body = {key: value for key, value in record.items() if key != "hash"}
    return hashlib.sha256(prev.encode() + canonical(body)).hexdigest()


def forged(seq: int, prev: str, **fields: Any) -> dict[str, Any]:
    """A well-formed event with a correct hash, as a forger who knows the format writes it."""
    record: dict[str, Any] = {
        "seq": seq,
        "ts": "2024-01-01T00:00:00.000000+00:00",
        "event": "apply.committed",
        "actor": "mallory",
        "data": {},
        "prev": prev,
        **fields,
    }
    record["hash"] = spec_hash(prev, record)
    return record


def line(record: dict[str, Any]) -> bytes:
    """A record as a trail line."""
    return canonical(record) + b"\n"


def head_of(directory: Path) -> dict[str, Any]:
    """The parsed HEAD file without its seal (which ``test_head_is_sealed`` checks)."""
    doc: dict[str, Any] = json.loads((directory / "HEAD").read_bytes())
    doc.pop("seal", None)
    return doc


def write_head(directory: Path, seq: Any, digest: Any) -> None:
    """Overwrite HEAD as agentos writes it: sealed with the workspace key."""
    doc = {"seq": seq, "hash": digest}
    if isinstance(seq, int) and isinstance(digest, str):
        key = state_key(directory.parent)
        doc["seal"] = key.seal(HEAD_PURPOSE, head_seal_payload(seq, digest))
    (directory / "HEAD").write_text(json.dumps(doc) + "\n")


def build_directly(directory: Path, count: int) -> str:
    """Write a trail of ``count`` events straight from the SPEC §10 formula; return its head.

    The benchmark helper for ``verify`` (SPEC §11 B5) and an oracle independent of ``append``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    prev = GENESIS
    with (directory / "audit.jsonl").open("wb") as handle:
        for seq in range(1, count + 1):
            record: dict[str, Any] = {
                "seq": seq,
                "ts": "2024-01-01T00:00:00.000000+00:00",
                "event": "changes.written",
                "actor": "bench",
                "execution_id": f"ex-{seq // 100}",
                "plan_id": "plan-0123456789abcdef",
                "data": {"files": [{"path": f"src/m{seq}.py", "sha256": "ab" * 32, "size": seq}]},
                "prev": prev,
            }
            record["hash"] = spec_hash(prev, record)
            handle.write(line(record))
            prev = record["hash"]
    write_head(directory, count, prev)
    return prev


# -- ACCEPTANCE: every kind of tampering is caught and the first bad event named -------------------


def _edit(index: int, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """Re-serialise line ``index`` (1-based) canonically after ``change`` (hash kept)."""

    def tamper(directory: Path) -> None:
        lines = lines_of(directory)
        record = json.loads(lines[index - 1])
        change(record)
        lines[index - 1] = line(record)
        write_lines(directory, lines)

    return tamper


def _raw(index: int, old: bytes, new: bytes) -> Callable[[Path], None]:
    """Replace bytes inside line ``index`` without re-serialising it."""

    def tamper(directory: Path) -> None:
        lines = lines_of(directory)
        assert old in lines[index - 1]
        lines[index - 1] = lines[index - 1].replace(old, new, 1)
        write_lines(directory, lines)

    return tamper


def _lines(rearrange: Callable[[list[bytes]], list[bytes]]) -> Callable[[Path], None]:
    def tamper(directory: Path) -> None:
        write_lines(directory, rearrange(lines_of(directory)))

    return tamper


def _cut(keep: Callable[[bytes], int]) -> Callable[[Path], None]:
    """Truncate the trail file to ``keep(content)`` bytes."""

    def tamper(directory: Path) -> None:
        path = directory / "audit.jsonl"
        content = path.read_bytes()
        path.write_bytes(content[: keep(content)])

    return tamper


def _set(record: dict[str, Any], *keys: Any, value: Any) -> None:
    target = record
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


def _rehash_line_3(directory: Path) -> None:
    """Edit event 3 and recompute its own hash (but not the rest of the chain)."""
    lines = lines_of(directory)
    record = json.loads(lines[2])
    record["actor"] = "mallory"
    record["hash"] = spec_hash(record["prev"], record)
    lines[2] = line(record)
    write_lines(directory, lines)


def _append_wrong_prev(directory: Path) -> None:
    write_lines(directory, [*lines_of(directory), line(forged(6, "1" * 64))])


def _append_wrong_hash(directory: Path) -> None:
    record = forged(6, head_of(directory)["hash"])
    record["hash"] = "2" * 64
    write_lines(directory, [*lines_of(directory), line(record)])


def _non_hex_link(directory: Path) -> None:
    """The last event and HEAD agree on a link that is no hash at all."""
    lines = lines_of(directory)
    record = json.loads(lines[-1])
    record["prev"] = "é" * 64
    lines[-1] = line(record)
    write_lines(directory, lines)
    write_head(directory, 4, "é" * 64)


def _append_forged(count: int) -> Callable[[Path], None]:
    def tamper(directory: Path) -> None:
        lines = lines_of(directory)
        prev = json.loads(lines[-1])["hash"]
        for seq in range(len(lines) + 1, len(lines) + 1 + count):
            record = forged(seq, prev)
            lines.append(line(record))
            prev = record["hash"]
        write_lines(directory, lines)

    return tamper


def _head(change: Callable[[dict[str, Any], list[bytes]], bytes | None]) -> Callable[[Path], None]:
    """Rewrite HEAD as ``change(head, lines)`` returns it (``None`` deletes it)."""

    def tamper(directory: Path) -> None:
        body = change(head_of(directory), lines_of(directory))
        if body is None:
            (directory / "HEAD").unlink()
        else:
            (directory / "HEAD").write_bytes(body)

    return tamper


def _head_doc(seq: Any, digest: Any) -> bytes:
    return json.dumps({"seq": seq, "hash": digest}).encode()


@dataclass(frozen=True)
class Tamper:
    """One way of altering a 5-event trail, the location verify must name, and whether the
    next append (which checks only the tail against HEAD) must refuse it too."""

    apply: Callable[[Path], None]
    line: int | None  # None: the error is about HEAD itself
    tail: bool = False


TAMPERS: dict[str, Tamper] = {
    "edit actor": Tamper(_edit(3, lambda r: _set(r, "actor", value="mallory")), 3),
    "edit event name": Tamper(_edit(2, lambda r: _set(r, "event", value="gate.bypassed")), 2),
    "edit ts": Tamper(_edit(4, lambda r: _set(r, "ts", value="2000-01-01T00:00:00+00:00")), 4),
    "edit nested data value": Tamper(
        _edit(1, lambda r: _set(r, "data", "files", 0, "size", value=13)), 1
    ),
    "edit unicode data value": Tamper(
        _edit(4, lambda r: _set(r, "data", "files", 1, "path", value="é/ü 文件.tx")), 4
    ),
    "edit deep list item": Tamper(
        _edit(5, lambda r: _set(r, "data", "nested", "a", 2, value=0)), 5
    ),
    "add a data key": Tamper(_edit(3, lambda r: _set(r, "data", "extra", value=1)), 3),
    "add a top-level key": Tamper(_edit(2, lambda r: _set(r, "zz", value="x")), 2),
    "drop optional execution_id": Tamper(_edit(3, lambda r: r.pop("execution_id")), 3),
    "drop plan_id": Tamper(_edit(1, lambda r: r.pop("plan_id")), 1),
    "edit own hash": Tamper(_edit(3, lambda r: _set(r, "hash", value="3" * 64)), 3),
    "edit last hash": Tamper(_edit(5, lambda r: _set(r, "hash", value="3" * 64)), 5, tail=True),
    "uppercase a hash": Tamper(_edit(2, lambda r: _set(r, "hash", value=r["hash"].upper())), 2),
    "edit prev": Tamper(_edit(3, lambda r: _set(r, "prev", value="4" * 64)), 3),
    "edit seq": Tamper(_edit(3, lambda r: _set(r, "seq", value=7)), 3),
    "seq as float": Tamper(_edit(3, lambda r: _set(r, "seq", value=3.0)), 3),
    "seq as bool": Tamper(_raw(1, b'"seq":1,', b'"seq":true,'), 1),
    "drop a required key": Tamper(_edit(2, lambda r: r.pop("actor")), 2),
    "edit with recomputed own hash": Tamper(_rehash_line_3, 4),
    "flip one byte": Tamper(_raw(2, b"gate.evaluated", b"gate.evaluatee"), 2),
    "not json": Tamper(_lines(lambda ls: [*ls[:2], b"garbage\n", *ls[3:]]), 3),
    "invalid utf-8": Tamper(_raw(4, "文".encode(), b"\xff\xfe\xfd"), 4),
    "blank line inserted": Tamper(_lines(lambda ls: [*ls[:2], b"\n", *ls[2:]]), 3),
    "two events on one line": Tamper(
        _lines(lambda ls: [*ls[:1], ls[1].rstrip(b"\n") + ls[2], *ls[3:]]), 2
    ),
    "trailing whitespace": Tamper(_raw(3, b"}\n", b"} \n"), 3),
    "delete a middle event": Tamper(_lines(lambda ls: ls[:2] + ls[3:]), 3),
    "delete the first event": Tamper(_lines(lambda ls: ls[1:]), 1),
    "delete the last event": Tamper(_lines(lambda ls: ls[:-1]), 5, tail=True),
    "swap two events": Tamper(_lines(lambda ls: [ls[0], ls[3], ls[2], ls[1], ls[4]]), 2),
    "last event moved first": Tamper(_lines(lambda ls: [ls[-1], *ls[:-1]]), 1),
    "duplicate a middle event": Tamper(_lines(lambda ls: [*ls[:3], ls[2], *ls[3:]]), 4),
    "duplicate the last event": Tamper(_lines(lambda ls: [*ls, ls[-1]]), 6),
    "appended with a wrong prev": Tamper(_append_wrong_prev, 6, tail=True),
    "appended with a wrong hash": Tamper(_append_wrong_hash, 6, tail=True),
    "two forged events beyond HEAD": Tamper(_append_forged(2), 7, tail=True),
    "three forged events beyond HEAD": Tamper(_append_forged(3), 7, tail=True),
    "last line cut mid-way": Tamper(_cut(lambda c: len(c) - 40), 5, tail=True),
    "last newline removed": Tamper(_cut(lambda c: len(c) - 1), 5, tail=True),
    "cut inside a middle line": Tamper(
        _cut(lambda c: c.index(b"\n", c.index(b"\n") + 1) + 30), 3, tail=True
    ),
    "file emptied": Tamper(_cut(lambda c: 0), 1, tail=True),
    "file deleted": Tamper(lambda d: (d / "audit.jsonl").unlink(), 1, tail=True),
    "HEAD deleted": Tamper(_head(lambda h, ls: None), None, tail=True),
    "HEAD seq one ahead": Tamper(_head(lambda h, ls: _head_doc(6, h["hash"])), 6, tail=True),
    "HEAD seq one behind, hash kept": Tamper(
        _head(lambda h, ls: _head_doc(4, h["hash"])), None, tail=True
    ),
    "HEAD three behind": Tamper(
        _head(lambda h, ls: _head_doc(2, json.loads(ls[1])["hash"])), 4, tail=True
    ),
    "HEAD hash edited": Tamper(_head(lambda h, ls: _head_doc(5, "5" * 64)), None, tail=True),
    "HEAD not json": Tamper(_head(lambda h, ls: b"{seq: 5"), None, tail=True),
    "HEAD seq not a number": Tamper(
        _head(lambda h, ls: _head_doc("5", h["hash"])), None, tail=True
    ),
    "HEAD seq a bool": Tamper(_head(lambda h, ls: _head_doc(True, h["hash"])), None, tail=True),
    "HEAD seq negative": Tamper(_head(lambda h, ls: _head_doc(-1, h["hash"])), None, tail=True),
    "HEAD and last prev not hex": Tamper(_non_hex_link, 5, tail=True),
    "HEAD emptied": Tamper(_head(lambda h, ls: b""), None, tail=True),
}


@pytest.mark.parametrize("name", list(TAMPERS))
def test_verify_names_the_first_bad_event(
    name: str, workspace: Path, cli: Callable[..., CliResult]
) -> None:
    workspace = workspace.resolve()  # the CLI names resolved paths
    directory = audit_dir(workspace)
    fill(directory)
    assert AuditTrail(directory).verify().events == 5
    tamper = TAMPERS[name]
    tamper.apply(directory)

    with pytest.raises(AuditChainError) as caught:
        AuditTrail(directory).verify()
    message = caught.value.message
    if tamper.line is None:
        assert message.startswith(str(directory / "HEAD")), message
    else:
        assert message.startswith(f"{directory / 'audit.jsonl'}:{tamper.line}:"), message
        assert caught.value.details["line"] == tamper.line
    assert caught.value.exit_code == 6

    result = cli("audit", "verify", "-C", workspace, "--json")
    assert result.code == 6, result.err
    doc = result.json()
    assert doc["ok"] is False
    assert doc["error"]["type"] == "audit_chain_broken"
    assert doc["error"]["message"] == message
    assert "Traceback" not in result.err
    human = cli("audit", "verify", "-C", workspace)
    assert human.code == 6
    assert human.err == f"agentos: error: {message}\n"


@pytest.mark.parametrize("name", [name for name, tamper in TAMPERS.items() if tamper.tail])
def test_append_refuses_an_altered_tail_and_keeps_the_evidence(name: str, tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    fill(directory)
    TAMPERS[name].apply(directory)
    before = {p.name: p.read_bytes() for p in directory.iterdir() if p.name != "lock"}

    with pytest.raises(AuditChainError):
        AuditTrail(directory).append("apply.started", actor="tester", data={})
    after = {p.name: p.read_bytes() for p in directory.iterdir() if p.name != "lock"}
    assert after == before


def test_head_deleted_after_one_event_is_only_a_warning(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    fill(directory, 1)
    (directory / "HEAD").unlink()
    report = AuditTrail(directory).verify()
    assert report.events == 1
    assert any("HEAD is missing" in w for w in report.warnings)


def test_a_trail_written_from_the_spec_formula_verifies(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    head = build_directly(directory, 7)
    report = AuditTrail(directory).verify()
    assert (report.events, report.head, report.warnings) == (7, head, ())


# -- the property: any single mutation breaks verification ---------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["plan.created", "gate.evaluated", "apply.started", "apply.committed"]),
        st.text(min_size=1, max_size=8),
        st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
        st.none() | st.text(max_size=10),
        st.none() | st.text(max_size=10),
    ),
    min_size=1,
    max_size=6,
)


def _append_all(
    directory: Path, events: list[tuple[str, str, dict[str, Any], str | None, str | None]]
) -> list[dict[str, Any]]:
    trail = AuditTrail(directory, durable=False)
    return [
        trail.append(event, actor=actor, data=data, plan_id=plan_id, execution_id=execution_id)
        for event, actor, data, plan_id, execution_id in events
    ]


@given(events=EVENTS)
def test_an_untouched_trail_always_verifies(
    events: list[tuple[str, str, dict[str, Any], str | None, str | None]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "audit"
        records = _append_all(directory, events)
        trail = AuditTrail(directory)
        report = trail.verify()
        assert report.events == len(events)
        assert report.head == records[-1]["hash"] == head_of(directory)["hash"]
        assert report.warnings == ()
        stored = list(trail.events())
        assert stored == records
        assert [r["data"] for r in stored] == [data for _, _, data, _, _ in events]
        prev = GENESIS
        for record in stored:
            assert record["hash"] == spec_hash(prev, record)
            prev = record["hash"]


def _parsed(content: bytes) -> list[Any]:
    """The file as a reader sees it: one parsed value (or a marker) per line piece."""
    out: list[Any] = []
    for piece in content.split(b"\n"):
        try:
            out.append(json.loads(piece))
        except ValueError:
            out.append(("unparsable", piece))
    return out


MUTATIONS = st.sampled_from(["byte", "delete", "duplicate", "swap", "truncate"])


@given(events=EVENTS, mutation=MUTATIONS, choice=st.data())
def test_any_single_mutation_breaks_verification(
    events: list[tuple[str, str, dict[str, Any], str | None, str | None]],
    mutation: str,
    choice: st.DataObject,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "audit"
        _append_all(directory, events)
        path = directory / "audit.jsonl"
        content = path.read_bytes()
        lines = content.splitlines(keepends=True)
        if mutation == "byte":
            index = choice.draw(st.integers(0, len(lines) - 1), label="line")
            start = sum(len(text) for text in lines[:index])
            offset = start + choice.draw(st.integers(0, len(lines[index]) - 1), label="offset")
            new = choice.draw(st.integers(0, 255).filter(lambda b: b != content[offset]))
            mutated = content[:offset] + bytes([new]) + content[offset + 1 :]
            assume(_parsed(mutated) != _parsed(content))
        elif mutation == "delete":
            index = choice.draw(st.integers(0, len(lines) - 1), label="line")
            mutated = b"".join(lines[:index] + lines[index + 1 :])
        elif mutation == "duplicate":
            index = choice.draw(st.integers(0, len(lines) - 1), label="line")
            at = choice.draw(st.integers(0, len(lines)), label="insert at")
            mutated = b"".join([*lines[:at], lines[index], *lines[at:]])
        elif mutation == "swap":
            assume(len(lines) >= 2)
            first = choice.draw(st.integers(0, len(lines) - 2), label="first")
            second = choice.draw(st.integers(first + 1, len(lines) - 1), label="second")
            lines[first], lines[second] = lines[second], lines[first]
            mutated = b"".join(lines)
        else:
            mutated = content[: choice.draw(st.integers(0, len(content) - 1), label="keep")]
        assert mutated != content
        path.write_bytes(mutated)
        with pytest.raises(AuditChainError):
            AuditTrail(directory).verify()


# -- crash residue: warnings, then repaired by the next append -------------------------------------


def _crash_after_write(directory: Path, count: int) -> tuple[bytes, bytes]:
    """``count`` events, then a real append whose HEAD update is undone (the crash window).

    Returns (HEAD before the append, the appended line).
    """
    fill(directory, count)
    old_head = (directory / "HEAD").read_bytes()
    AuditTrail(directory, durable=False).append("apply.started", actor="tester", data={"n": 1})
    (directory / "HEAD").write_bytes(old_head)
    return old_head, lines_of(directory)[-1]


def test_torn_last_line_beyond_head_warns_then_the_next_append_drops_it(
    workspace: Path, cli: Callable[..., CliResult]
) -> None:
    directory = audit_dir(workspace)
    _, torn = _crash_after_write(directory, 3)
    complete = b"".join(lines_of(directory)[:3])
    (directory / "audit.jsonl").write_bytes(complete + torn[: len(torn) // 2])

    report = AuditTrail(directory).verify()
    assert report.events == 3
    assert report.head == head_of(directory)["hash"]
    assert len(report.warnings) == 1
    assert "incomplete line" in report.warnings[0]
    result = cli("audit", "verify", "-C", workspace, "--json")
    assert result.code == 0
    assert result.json()["result"]["warnings"] == list(report.warnings)
    assert "agentos: warning: the file ends in an incomplete line" in result.err

    record = AuditTrail(directory).append("apply.aborted", actor="tester", data={})
    assert record["seq"] == 4
    assert record["prev"] == report.head
    content = (directory / "audit.jsonl").read_bytes()
    assert content.startswith(complete)
    assert content.count(b"\n") == 4
    assert content.endswith(b"\n")
    after = AuditTrail(directory).verify()
    assert (after.events, after.head, after.warnings) == (4, record["hash"], ())


def test_complete_event_beyond_head_warns_then_head_rolls_forward(
    workspace: Path, cli: Callable[..., CliResult]
) -> None:
    directory = audit_dir(workspace)
    old_head, residue = _crash_after_write(directory, 3)
    residue_hash = json.loads(residue)["hash"]

    report = AuditTrail(directory).verify()
    assert (report.events, report.head) == (4, residue_hash)
    assert len(report.warnings) == 1
    assert "(seq 4) is not yet in HEAD" in report.warnings[0]
    assert cli("audit", "verify", "-C", workspace).code == 0
    assert (directory / "HEAD").read_bytes() == old_head  # verify never writes

    record = AuditTrail(directory).append("apply.committed", actor="tester", data={})
    assert (record["seq"], record["prev"]) == (5, residue_hash)
    assert head_of(directory) == {"seq": 5, "hash": record["hash"]}
    after = AuditTrail(directory).verify()
    assert (after.events, after.warnings) == (5, ())


def test_residue_and_torn_line_together(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    _crash_after_write(directory, 2)
    with (directory / "audit.jsonl").open("ab") as handle:
        handle.write(b'{"actor":"tes')
    report = AuditTrail(directory).verify()
    assert report.events == 3
    assert len(report.warnings) == 2
    record = AuditTrail(directory).append("x.y", actor="tester", data={})
    assert record["seq"] == 4
    after = AuditTrail(directory).verify()
    assert (after.events, after.head, after.warnings) == (4, record["hash"], ())


def test_crash_during_the_first_append(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    directory.mkdir()
    (directory / "audit.jsonl").write_bytes(b'{"actor":"a","data":{"k"')
    report = AuditTrail(directory).verify()
    assert (report.events, report.head) == (0, GENESIS)
    assert len(report.warnings) == 1
    record = AuditTrail(directory).append("x.y", actor="a", data={})
    assert (record["seq"], record["prev"]) == (1, GENESIS)
    assert AuditTrail(directory).verify().warnings == ()


def test_crash_between_the_first_write_and_head(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    fill(directory, 1)
    (directory / "HEAD").unlink()
    assert AuditTrail(directory).verify().events == 1
    record = AuditTrail(directory).append("x.y", actor="a", data={})
    assert record["seq"] == 2
    report = AuditTrail(directory).verify()
    assert (report.events, report.warnings) == (2, ())


def test_a_lone_fragment_while_head_counts_events_is_truncation_not_residue(
    tmp_path: Path,
) -> None:
    """HEAD says 3 but the file holds only part of its first line: never restart the chain."""
    directory = tmp_path / "audit"
    fill(directory, 3)
    path = directory / "audit.jsonl"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(AuditChainError, match=r"audit\.jsonl:1: truncated"):
        AuditTrail(directory).verify()
    with pytest.raises(AuditChainError, match="no complete event"):
        AuditTrail(directory).append("x.y", actor="a", data={})
    assert len(path.read_bytes()) == 50
    assert head_of(directory)["seq"] == 3


def test_a_residue_that_does_not_hash_is_not_rolled_forward(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    _, residue = _crash_after_write(directory, 2)
    record = json.loads(residue)
    record["data"] = {"n": 2}  # edited after the crash, hash left as it was
    write_lines(directory, [*lines_of(directory)[:-1], line(record)])
    head_before = (directory / "HEAD").read_bytes()
    with pytest.raises(AuditChainError, match=r"audit\.jsonl:3: event seq 3"):
        AuditTrail(directory).verify()
    with pytest.raises(AuditChainError):
        AuditTrail(directory).append("x.y", actor="a", data={})
    assert (directory / "HEAD").read_bytes() == head_before


def test_long_last_lines_cross_the_tail_read_blocks(tmp_path: Path) -> None:
    """The tail reader works in 8 KiB blocks; events and torn fragments larger than that."""
    directory = tmp_path / "audit"
    trail = AuditTrail(directory, durable=False)
    trail.append("a.b", actor="a", data={"blob": "x" * 20_000})
    trail.append("a.b", actor="a", data={"blob": "é" * 10_000})
    old_head = (directory / "HEAD").read_bytes()
    big = trail.append("a.b", actor="a", data={"blob": "y" * 30_000})
    (directory / "HEAD").write_bytes(old_head)
    with (directory / "audit.jsonl").open("ab") as handle:
        handle.write(b'{"actor":"a","data":{"blob":"' + b"z" * 17_000)
    assert AuditTrail(directory).verify().events == 3
    record = trail.append("a.b", actor="a", data={})
    assert (record["seq"], record["prev"]) == (4, big["hash"])
    assert AuditTrail(directory).verify().warnings == ()


# -- concurrency: one linear chain -------------------------------------------------------------

WRITER = """
import sys, time
from pathlib import Path
from agentos.audit.trail import AuditTrail

directory, go = Path(sys.argv[1]), Path(sys.argv[2])
writer, count = int(sys.argv[3]), int(sys.argv[4])
while not go.exists():
    time.sleep(0.001)
trail = AuditTrail(directory)
for index in range(count):
    trail.append("c.t", actor=f"w{writer}", data={"writer": writer, "index": index})
"""


def _assert_one_linear_chain(directory: Path, writers: int, per_writer: int) -> None:
    total = writers * per_writer
    report = AuditTrail(directory).verify()
    assert (report.events, report.warnings) == (total, ())
    assert head_of(directory) == {"seq": total, "hash": report.head}
    records = list(AuditTrail(directory).events())
    assert [r["seq"] for r in records] == list(range(1, total + 1))
    assert len({r["hash"] for r in records}) == total
    seen = [(r["data"]["writer"], r["data"]["index"]) for r in records]
    assert sorted(seen) == [(w, i) for w in range(writers) for i in range(per_writer)]
    for writer in range(writers):  # each writer's own events stay in its order
        mine = [index for w, index in seen if w == writer]
        assert mine == list(range(per_writer))


def test_concurrent_processes_append_one_linear_chain(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    go = tmp_path / "go"
    writers, per_writer = 8, 50
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory), str(go), str(w), str(per_writer)],
            stderr=subprocess.PIPE,
        )
        for w in range(writers)
    ]
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    _assert_one_linear_chain(directory, writers, per_writer)


def test_concurrent_threads_append_one_linear_chain(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    writers, per_writer = 8, 50
    shared = AuditTrail(directory, durable=False)
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        # Half the threads share one AuditTrail, half have their own.
        trail = shared if writer % 2 else AuditTrail(directory, durable=False)
        barrier.wait()
        try:
            for index in range(per_writer):
                trail.append("t.t", actor="t", data={"writer": writer, "index": index})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_one_linear_chain(directory, writers, per_writer)


# -- event content --------------------------------------------------------------------------------


def test_event_fields_ts_and_optional_ids(tmp_path: Path) -> None:
    local = datetime(2024, 3, 1, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    trail = AuditTrail(tmp_path / "audit", clock=lambda: local, durable=False)
    bare = trail.append("plan.created", actor="alice", data={"k": 1})
    full = trail.append(
        "apply.started", actor="alice", data={}, plan_id="plan-1", execution_id="ex-1"
    )

    assert bare["ts"] == "2024-03-01T12:30:05.123456Z"
    assert datetime.fromisoformat(bare["ts"]) == local
    assert set(bare) == {"seq", "ts", "event", "actor", "data", "prev", "hash"}
    assert (full["plan_id"], full["execution_id"]) == ("plan-1", "ex-1")
    first, second = lines_of(tmp_path / "audit")
    assert b"plan_id" not in first
    assert b"execution_id" not in first
    assert json.loads(first) == bare
    assert json.loads(second) == full


def test_default_clock_is_utc_now(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    record = AuditTrail(tmp_path / "audit", durable=False).append("a.b", actor="a", data={})
    after = datetime.now(UTC)
    stamp = datetime.fromisoformat(record["ts"])
    assert stamp.utcoffset() == timedelta(0)
    assert record["ts"].endswith("Z")
    assert before <= stamp <= after


HOSTILE_DATA: dict[str, Any] = {
    "unicode": "héllo 文件 🚀 \u202e\u2028 e\u0301",
    "controls": "\x00\x01\t\n\r\x1f\x7f",
    "quotes": 'a"b\\c\\"d\\',
    "hash": "f" * 64,  # a "hash" key inside data, before the top-level one
    "nested": {"a": 1, "hash": "0" * 64, "deep": [{"hash": "x"}, [], {}, [None, False, -0.0]]},
    "numbers": [0, -1, 2**63, 1.5, 1e-300, 1e300],
    "": "empty key",
    "🔑": ["unicode key"],
}


def test_lines_are_canonical_and_hash_per_spec(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    trail = AuditTrail(directory, durable=False)
    trail.append("a.b", actor="🤖 bot", data=HOSTILE_DATA)
    # Ids sort after "hash"/around it; a quote-laden id must not confuse the hash splice.
    trail.append(
        "a.b",
        actor="a",
        data={},
        execution_id='e","hash":"' + "1" * 64 + '",',
        plan_id='p","hash":"' + "2" * 64 + '",',
    )
    trail.append("a.b", actor="a", data={"hash": "3" * 64, "zzz": {"hash": "4" * 64}})

    prev = GENESIS
    for raw in lines_of(directory):
        record = json.loads(raw)
        assert raw == canonical(record) + b"\n"
        assert record["prev"] == prev
        assert record["hash"] == spec_hash(prev, record)
        prev = record["hash"]
    report = trail.verify()
    assert (report.events, report.head, report.warnings) == (3, prev, ())
    assert next(trail.events())["data"] == HOSTILE_DATA


def test_data_that_is_not_json_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    fill(directory, 2)
    before = (directory / "audit.jsonl").read_bytes(), (directory / "HEAD").read_bytes()
    trail = AuditTrail(directory, durable=False)
    with pytest.raises(ValueError, match="JSON"):
        trail.append("a.b", actor="a", data={"x": float("nan")})
    with pytest.raises(TypeError):
        trail.append("a.b", actor="a", data={"x": {1, 2}})
    assert ((directory / "audit.jsonl").read_bytes(), (directory / "HEAD").read_bytes()) == before
    assert trail.verify().events == 2


def test_append_returns_the_stored_record_and_head_tracks_it(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    records = fill(directory, 3)
    assert list(AuditTrail(directory).events()) == records
    assert head_of(directory) == {"seq": 3, "hash": records[-1]["hash"]}
    assert [r["prev"] for r in records] == [GENESIS, records[0]["hash"], records[1]["hash"]]


def test_missing_or_empty_trail_verifies_with_zero_events(tmp_path: Path) -> None:
    missing = AuditTrail(tmp_path / "nowhere").verify()
    assert (missing.events, missing.head, missing.warnings) == (0, GENESIS, ())
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "audit.jsonl").write_bytes(b"")
    assert AuditTrail(tmp_path / "empty").verify().events == 0
    assert list(AuditTrail(tmp_path / "nowhere").events()) == []


def test_events_names_an_unparsable_line(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    fill(directory, 3)
    write_lines(directory, [*lines_of(directory)[:2], b"{not json}\n"])
    with pytest.raises(AuditChainError, match=r"audit\.jsonl:3: not a valid JSON event"):
        list(AuditTrail(directory).events())


# -- benchmark helper (SPEC §11 B5 is measured in bench/, not timed here) --------------------------


def test_verify_handles_a_large_trail(tmp_path: Path) -> None:
    directory = tmp_path / "audit"
    head = build_directly(directory, 20_000)
    report = AuditTrail(directory).verify()
    assert (report.events, report.head, report.warnings) == (20_000, head, ())


def test_verify_beside_appends_never_reports_false_tampering(tmp_path: Path) -> None:
    # HEAD and the trail's size are read together under the trail's lock: a verify running
    # while another writer appends checks one consistent state, never "events appended
    # outside agentos".
    directory = tmp_path / "audit"
    trail = AuditTrail(directory, durable=False)
    trail.append("c.t", actor="w", data={})
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        other = AuditTrail(directory, durable=False)
        try:
            for _ in range(300):
                other.append("c.t", actor="w", data={"x": "y" * 50})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    verified = 0
    try:
        while not stop.is_set():
            AuditTrail(directory).verify()
            verified += 1
    finally:
        stop.set()
        thread.join()
    assert verified > 0
    assert errors == []
    assert AuditTrail(directory).verify().warnings == ()
