"""``agentos audit verify|show|export``: the pinned JSON contract, filters, formats, errors."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.audit.lines import GENESIS
from agentos.audit.trail import AuditTrail
from agentos.cli.views.records import CSV_COLUMNS
from agentos.errors import AuditChainError
from helpers import CliResult

Cli = Callable[..., CliResult]

ENVELOPE_KEYS = {"agentos", "command", "ok", "exit_code", "result", "error"}

# (event, plan_id, execution_id)
STORY: list[tuple[str, str | None, str | None]] = [
    ("plan.created", "p1", None),
    ("gate.evaluated", "p1", None),
    ("approval.recorded", "p1", None),
    ("plan.created", "p2", None),
    ("apply.started", "p1", "e1"),
    ("changes.written", "p1", "e1"),
    ("apply.committed", "p1", "e1"),
    ("apply.started", "p2", "e2"),
    ("apply.aborted", "p2", "e2"),
    ("applyish.custom", None, None),
]


def trail_of(workspace: Path) -> AuditTrail:
    """The workspace's trail (non-durable: these tests are about reading it)."""
    return AuditTrail(workspace / ".agentos" / "audit", durable=False)


def tell_story(workspace: Path) -> list[dict[str, Any]]:
    """Append STORY and return the records."""
    trail = trail_of(workspace)
    return [
        trail.append(
            event,
            actor="alice",
            data={"index": index, "note": "ünïcödé 🚀", "paths": ["a/b.py"]},
            plan_id=plan_id,
            execution_id=execution_id,
        )
        for index, (event, plan_id, execution_id) in enumerate(STORY)
    ]


# -- verify ---------------------------------------------------------------------------------------


def test_verify_json_envelope_is_pinned(workspace: Path, cli: Cli) -> None:
    records = tell_story(workspace)
    result = cli("audit", "verify", "-C", workspace, "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) == ENVELOPE_KEYS
    assert doc["agentos"] == "1"
    assert doc["command"] == "audit verify"
    assert doc["ok"] is True
    assert doc["exit_code"] == 0
    assert doc["error"] is None
    assert doc["result"] == {
        "events": len(STORY),
        "head": records[-1]["hash"],
        "sealed": True,
        "anchor": None,
        "repairs": [],
        "warnings": [],
    }
    assert result.err == ""


def test_verify_human_output(workspace: Path, cli: Cli) -> None:
    records = tell_story(workspace)
    result = cli("audit", "verify", "-C", workspace)
    assert result.code == 0
    head = records[-1]["hash"]
    assert result.out.strip() == f"audit trail OK: {len(STORY)} event(s), head {head}, HEAD sealed"
    assert cli("audit", "verify", "-C", workspace, "-q").out == ""


def test_verify_a_workspace_without_a_trail(workspace: Path, cli: Cli) -> None:
    result = cli("audit", "verify", "-C", workspace, "--json")
    assert result.code == 0
    assert result.json()["result"] == {
        "events": 0,
        "head": GENESIS,
        "sealed": False,
        "anchor": None,
        "repairs": [],
        "warnings": [],
    }
    assert not (workspace / ".agentos").exists()  # verify only reads


def test_verify_broken_chain_error_envelope(workspace: Path, cli: Cli) -> None:
    tell_story(workspace)
    path = workspace.resolve() / ".agentos" / "audit" / "audit.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b'"actor":"alice"', b'"actor":"malory"')
    path.write_bytes(b"".join(lines))

    result = cli("audit", "verify", "-C", workspace, "--json")
    assert result.code == 6
    doc = result.json()
    assert set(doc) == ENVELOPE_KEYS
    assert (doc["ok"], doc["exit_code"], doc["result"]) == (False, 6, {})
    assert set(doc["error"]) == {"type", "message", "details"}
    assert doc["error"]["type"] == "audit_chain_broken"
    assert doc["error"]["message"].startswith(f"{path}:4: event seq 4 (plan.created)")
    assert doc["error"]["details"] == {"line": 4, "seq": 4}
    assert result.err.startswith("agentos: error: ")
    assert "Traceback" not in result.err


def test_verify_reports_crash_residue_as_warnings(workspace: Path, cli: Cli) -> None:
    tell_story(workspace)
    with (workspace / ".agentos" / "audit" / "audit.jsonl").open("ab") as handle:
        handle.write(b'{"actor":"al')
    result = cli("audit", "verify", "-C", workspace, "--json")
    assert result.code == 0
    doc = result.json()
    assert doc["ok"] is True
    assert doc["result"]["events"] == len(STORY)
    assert len(doc["result"]["warnings"]) == 1
    assert result.err == f"agentos: warning: {doc['result']['warnings'][0]}\n"


def test_verify_in_a_missing_workspace_is_a_usage_error(tmp_path: Path, cli: Cli) -> None:
    result = cli("audit", "verify", "-C", tmp_path / "absent", "--json")
    assert result.code == 2
    assert result.json()["error"]["type"] == "usage_error"


# -- show -----------------------------------------------------------------------------------------


def _shown(result: CliResult) -> list[tuple[str, str | None, str | None]]:
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc["result"]) == {"events"}
    return [(e["event"], e.get("plan_id"), e.get("execution_id")) for e in doc["result"]["events"]]


def test_show_lists_every_event_oldest_first(workspace: Path, cli: Cli) -> None:
    records = tell_story(workspace)
    result = cli("audit", "show", "-C", workspace, "--json")
    assert result.json()["result"]["events"] == records
    assert result.json()["command"] == "audit show"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--event", "apply"], [s for s in STORY if s[0].startswith("apply.")]),
        (["--event", "apply.started"], [s for s in STORY if s[0] == "apply.started"]),
        (["--event", "app"], []),  # a prefix is a whole dotted component
        (["--event", "plan.created"], [STORY[0], STORY[3]]),
        (["--plan", "p2"], [s for s in STORY if s[1] == "p2"]),
        (["--plan", "nope"], []),
        (["--execution", "e1"], [s for s in STORY if s[2] == "e1"]),
        (["--event", "apply", "--plan", "p2"], [STORY[7], STORY[8]]),
        (["--limit", "3"], STORY[-3:]),
        (["--limit", "0"], STORY),
        (["--plan", "p1", "--limit", "2"], [STORY[5], STORY[6]]),
    ],
)
def test_show_filters(
    args: list[str],
    expected: list[tuple[str, str | None, str | None]],
    workspace: Path,
    cli: Cli,
) -> None:
    tell_story(workspace)
    assert _shown(cli("audit", "show", "-C", workspace, "--json", *args)) == expected


def test_show_limit_defaults_to_the_last_fifty(workspace: Path, cli: Cli) -> None:
    trail = trail_of(workspace)
    for index in range(60):
        trail.append("x.y", actor="a", data={"i": index})
    events = cli("audit", "show", "-C", workspace, "--json").json()["result"]["events"]
    assert [e["seq"] for e in events] == list(range(11, 61))


def test_show_human_output(workspace: Path, cli: Cli) -> None:
    records = tell_story(workspace)
    result = cli("audit", "show", "-C", workspace, "--plan", "p2")
    assert result.code == 0
    rows = result.out.splitlines()
    assert len(rows) == 3
    assert rows[0].split()[:3] == ["4", records[3]["ts"], "plan.created"]
    assert "plan_id=p2" in rows[0]
    assert "execution_id=e2" in rows[2]
    empty = cli("audit", "show", "-C", workspace, "--plan", "nope")
    assert empty.out.strip() == "no events"


def test_show_negative_limit_is_a_usage_error(workspace: Path, cli: Cli) -> None:
    assert cli("audit", "show", "-C", workspace, "--limit", "-1").code == 2


def test_show_on_an_unparsable_trail_is_an_integrity_error(workspace: Path, cli: Cli) -> None:
    tell_story(workspace)
    with (workspace / ".agentos" / "audit" / "audit.jsonl").open("ab") as handle:
        handle.write(b"}{ not an event\n")
    result = cli("audit", "show", "-C", workspace, "--json")
    assert result.code == 6, result.err
    assert f"audit.jsonl:{len(STORY) + 1}:" in result.json()["error"]["message"]
    assert cli("audit", "export", "-C", workspace).code == 6


# -- export ---------------------------------------------------------------------------------------


def test_export_jsonl_to_a_file_is_the_trail_itself(
    workspace: Path, tmp_path: Path, cli: Cli
) -> None:
    records = tell_story(workspace)
    target = tmp_path / "out" / "trail.jsonl"
    result = cli("audit", "export", "-C", workspace, "--format", "jsonl", "-o", target, "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["command"] == "audit export"
    assert doc["result"] == {"events": len(STORY), "format": "jsonl", "output": str(target)}
    exported = target.read_bytes()
    assert exported == (workspace / ".agentos" / "audit" / "audit.jsonl").read_bytes()
    assert [json.loads(row) for row in exported.splitlines()] == records
    # The export can be checked on its own with the SPEC §10 formula.
    prev = GENESIS
    for row in exported.splitlines():
        record = json.loads(row)
        body = {k: v for k, v in record.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["hash"] == hashlib.sha256((prev + canonical).encode()).hexdigest()
        prev = record["hash"]


def test_export_csv_to_a_file(workspace: Path, tmp_path: Path, cli: Cli) -> None:
    records = tell_story(workspace)
    target = tmp_path / "trail.csv"
    result = cli("audit", "export", "-C", workspace, "--format", "csv", "-o", target)
    assert result.code == 0, result.err
    assert result.out.strip() == f"{len(STORY)} event(s) -> {target}"
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(STORY) + 1
    for row, record in zip(rows[1:], records, strict=True):
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert cells["seq"] == str(record["seq"])
        assert cells["event"] == record["event"]
        assert cells["hash"] == record["hash"]
        assert cells["plan_id"] == (record.get("plan_id") or "")
        assert cells["execution_id"] == (record.get("execution_id") or "")
        assert json.loads(cells["data"]) == record["data"]


def test_export_to_stdout_without_json(workspace: Path, cli: Cli) -> None:
    tell_story(workspace)
    jsonl = cli("audit", "export", "-C", workspace)
    assert jsonl.code == 0
    trail_text = (workspace / ".agentos" / "audit" / "audit.jsonl").read_text(encoding="utf-8")
    assert jsonl.out == trail_text
    as_csv = cli("audit", "export", "-C", workspace, "--format", "csv")
    assert as_csv.code == 0
    assert as_csv.out.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert len(as_csv.out.splitlines()) == len(STORY) + 1


def test_export_of_an_empty_trail(workspace: Path, tmp_path: Path, cli: Cli) -> None:
    assert cli("audit", "export", "-C", workspace).out == ""
    target = tmp_path / "empty.csv"
    assert cli("audit", "export", "-C", workspace, "--format", "csv", "-o", target).code == 0
    assert target.read_text() == ",".join(CSV_COLUMNS) + "\n"


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "xml", "-o", "out.xml"],
        ["--format", "JSONL", "-o", "out.jsonl"],
        ["--format", "csv"],  # --json needs -o: stdout carries the envelope
        [],
    ],
)
def test_export_usage_errors(
    args: list[str], workspace: Path, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tell_story(workspace)
    result = cli("audit", "export", "-C", workspace, "--json", *args)
    assert result.code == 2
    doc = result.json()
    assert set(doc) == ENVELOPE_KEYS
    assert doc["error"]["type"] == "usage_error"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]  # nothing written


def test_export_bad_format_without_json(workspace: Path, cli: Cli) -> None:
    result = cli("audit", "export", "-C", workspace, "--format", "yaml")
    assert result.code == 2
    assert result.out == ""
    assert "--format 'yaml'" in result.err


# -- the sealed HEAD and anchors kept outside the workspace ----------------------------------------


def _rewrite_chain(path: Path, keep: int) -> list[dict[str, Any]]:
    """What an attacker with write access does: keep ``keep`` events, recompute every hash
    from the SPEC formula, and return the records (HEAD is theirs to write too)."""
    import hashlib

    prev = GENESIS
    records = []
    for line in path.read_bytes().splitlines()[:keep]:
        record = json.loads(line)
        record.pop("hash")
        record["prev"] = prev
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        record["hash"] = hashlib.sha256(prev.encode() + body.encode()).hexdigest()
        prev = record["hash"]
        records.append(record)
    path.write_bytes(
        b"".join(
            json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            + b"\n"
            for r in records
        )
    )
    return records


def test_a_rewritten_trail_with_a_recomputed_head_is_caught_by_the_seal(
    workspace: Path, cli: Cli
) -> None:
    tell_story(workspace)
    audit = workspace / ".agentos" / "audit"
    old_seal = json.loads((audit / "HEAD").read_text())["seal"]
    records = _rewrite_chain(audit / "audit.jsonl", keep=4)  # two events dropped
    forged = {"seq": 4, "hash": records[-1]["hash"]}
    # Without a seal, and with the old one copied over (it seals another seq and hash).
    for head in (forged, {**forged, "seal": old_seal}):
        (audit / "HEAD").write_text(json.dumps(head) + "\n")
        result = cli("audit", "verify", "-C", workspace, "--json")
        assert result.code == 6, result.out
        assert result.json()["error"]["type"] == "audit_chain_broken"
        assert "not sealed by this workspace's key" in result.json()["error"]["message"]
        # Nor does agentos chain new events onto it.
        with pytest.raises(AuditChainError, match="not sealed"):
            trail_of(workspace).append("apply.started", actor="mallory", data={})
    assert len((audit / "audit.jsonl").read_bytes().splitlines()) == 4


def test_anchor_prints_the_verified_head_and_verify_checks_it(
    workspace: Path, tmp_path: Path, cli: Cli
) -> None:
    records = tell_story(workspace)
    anchored = cli("audit", "anchor", "-C", workspace, "--json", "-o", tmp_path / "anchor")
    assert anchored.code == 0, anchored.err
    doc = anchored.json()["result"]
    assert set(doc) == {"seq", "hash", "anchor", "output"}
    assert doc["anchor"] == f"{len(STORY)}:{records[-1]['hash']}"
    assert (tmp_path / "anchor").read_text() == doc["anchor"] + "\n"
    assert cli("audit", "anchor", "-C", workspace).out.strip() == doc["anchor"]
    trail_of(workspace).append("later.event", actor="bob", data={})
    for pinned in (doc["anchor"], records[-1]["hash"], str(tmp_path / "anchor")):
        result = cli("audit", "verify", "-C", workspace, "--anchor", pinned, "--json")
        assert result.code == 0, result.err
        assert result.json()["result"]["anchor"] == {"seq": len(STORY), "hash": records[-1]["hash"]}
    wrong_seq = f"{len(STORY) - 1}:{records[-1]['hash']}"
    assert cli("audit", "verify", "-C", workspace, "--anchor", wrong_seq).code == 6
    for bad in ("nonsense", "1:abc", f"x:{records[-1]['hash']}"):
        result = cli("audit", "verify", "-C", workspace, "--anchor", bad)
        assert result.code == 2, bad
        assert "--anchor" in result.err


def test_an_older_trail_put_back_whole_is_caught_only_by_the_anchor(
    workspace: Path, tmp_path: Path, cli: Cli
) -> None:
    tell_story(workspace)
    audit = workspace / ".agentos" / "audit"
    saved = {name: (audit / name).read_bytes() for name in ("audit.jsonl", "HEAD")}
    trail_of(workspace).append("apply.committed", actor="alice", data={})
    anchor = cli("audit", "anchor", "-C", workspace).out.strip()
    for name, data in saved.items():  # the rollback attack: an older, sealed state
        (audit / name).write_bytes(data)
    assert cli("audit", "verify", "-C", workspace).code == 0  # the seal alone cannot tell
    result = cli("audit", "verify", "-C", workspace, "--anchor", anchor, "--json")
    assert result.code == 6
    assert "the anchor says event seq" in result.json()["error"]["message"]
