"""With the PostgreSQL store selected, every audit event is also copied into the database, in
the trail's order and with its hash, and ``audit verify --store`` checks that copy against its
own chain; a runner's commit counts for every runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agentos.store import source_name
from agentos.store.postgres import PostgresStore
from helpers import CliResult, cli_apply, cli_plan, trail

Cli = Callable[..., CliResult]


@pytest.fixture
def store_url(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database, selected with AGENTOS_STORE."""
    PostgresStore(pg_url, source="setup").migrate()
    monkeypatch.setenv("AGENTOS_STORE", pg_url)
    return pg_url


def workspace(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("one\n")
    return root


def rows(url: str) -> list[tuple[object, ...]]:
    with PostgresStore(url, source="t").session() as conn:
        return conn.execute(
            "SELECT seq, source, source_seq, event_hash, event FROM audit_events ORDER BY seq"
        ).fetchall()


def apply_one(cli: Cli, ws: Path, plan_id: str, content: str) -> CliResult:
    plan = cli_plan(cli, ws, plan_id, [{"op": "modify", "path": "src/a.txt", "content": content}])
    return cli_apply(cli, ws, plan)


def test_every_event_is_copied_in_order_with_its_hash(
    cli: Cli, tmp_path: Path, store_url: str
) -> None:
    ws = workspace(tmp_path / "ws")
    res = apply_one(cli, ws, "p1", "two\n")
    assert res.code == 0, res.err
    local = trail(ws)
    copied = rows(store_url)
    assert [r[0] for r in copied] == list(range(1, len(local) + 1))
    assert {r[1] for r in copied} == {source_name(ws.resolve())}
    assert [(r[2], r[3]) for r in copied] == [(e["seq"], e["hash"]) for e in local]
    assert [json.loads(str(r[4])) for r in copied] == local
    verified = cli("audit", "verify", "--store", "-C", ws, "--json")
    assert verified.code == 0, verified.err
    assert verified.json()["result"] == {
        "store": store_url,
        "events": len(local),
        "head": verified.json()["result"]["head"],
        "sources": 1,
        "behind": 0,
        "warnings": [],
    }
    human = cli("audit", "verify", "--store", "-C", ws)
    assert f"store audit copy OK ({store_url}): {len(local)} event(s) from 1 source(s)" in human.out


@pytest.mark.parametrize(
    ("tamper", "said"),
    [
        (
            "UPDATE audit_events SET event = replace(event, 'p1', 'px') WHERE seq = 3",
            "seq 3: it does not match its hash",
        ),
        ("DELETE FROM audit_events WHERE seq = 2", "seq 3: seq 2 was expected"),
        ("UPDATE audit_events SET prev = hash WHERE seq = 4", "seq 4: it does not link"),
    ],
)
def test_audit_verify_store_finds_a_tampered_row(
    cli: Cli, tmp_path: Path, store_url: str, tamper: str, said: str
) -> None:
    ws = workspace(tmp_path / "ws")
    assert apply_one(cli, ws, "p1", "two\n").code == 0
    with PostgresStore(store_url, source="t").session() as conn:
        conn.execute(tamper)
    res = cli("audit", "verify", "--store", "-C", ws, "--json")
    assert res.code == 6
    error = res.json()["error"]
    assert error["type"] == "audit_chain_broken"
    assert said in error["message"]
    assert error["message"].startswith(f"{store_url} audit_events")
    assert "Traceback" not in res.err
    # The workspace's own trail is untouched by any of it.
    assert cli("audit", "verify", "-C", ws, "--json").code == 0


def test_a_rehashed_row_still_breaks_the_events_own_hash(
    cli: Cli, tmp_path: Path, store_url: str
) -> None:
    # Someone who edits an event and recomputes the database chain from there on is caught by
    # the event's own hash, which only its trail's chain can vouch for.
    from agentos.store.auditcopy import row_hash

    ws = workspace(tmp_path / "ws")
    assert apply_one(cli, ws, "p1", "two\n").code == 0
    with PostgresStore(store_url, source="t").session() as conn:
        found = conn.execute(
            "SELECT seq, source, event, prev FROM audit_events ORDER BY seq"
        ).fetchall()
        prev = None
        for seq, source, stored, row_prev in found:
            event = stored.replace('"actor":"', '"actor":"x') if seq == 2 else stored
            prev = row_prev if prev is None else prev
            digest = row_hash(prev, source, event)
            conn.execute(
                "UPDATE audit_events SET event = %s, prev = %s, hash = %s WHERE seq = %s",
                (event, prev, digest, seq),
            )
            prev = digest
    res = cli("audit", "verify", "--store", "-C", ws, "--json")
    assert res.code == 6
    assert "seq 2: its event does not match the event's own hash" in res.json()["error"]["message"]


def test_events_written_while_the_store_was_away_are_copied_by_the_next_append(
    cli: Cli, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = workspace(tmp_path / "ws")
    # Planned with the file store: the trail holds events the database has never seen.
    monkeypatch.setenv("AGENTOS_STORE", "files")
    plan = cli_plan(cli, ws, "p1", [{"op": "modify", "path": "src/a.txt", "content": "two\n"}])
    before = len(trail(ws))
    monkeypatch.setenv("AGENTOS_STORE", store_url)
    lagging = cli("audit", "verify", "--store", "-C", ws, "--json")
    assert lagging.code == 0
    assert lagging.json()["result"]["behind"] == before
    assert "not in the database copy yet" in lagging.json()["result"]["warnings"][0]
    assert cli_apply(cli, ws, plan).code == 0
    local = trail(ws)
    assert [(r[2], r[3]) for r in rows(store_url)] == [(e["seq"], e["hash"]) for e in local]
    caught_up = cli("audit", "verify", "--store", "-C", ws, "--json")
    assert caught_up.json()["result"]["behind"] == 0
    assert caught_up.json()["result"]["events"] == len(local)


def test_two_runners_share_one_chain_and_a_commit_counts_for_both(
    cli: Cli, tmp_path: Path, store_url: str
) -> None:
    first = workspace(tmp_path / "one")
    second = workspace(tmp_path / "two")
    plan = cli_plan(
        cli, first, "shared", [{"op": "modify", "path": "src/a.txt", "content": "two\n"}]
    )
    assert cli_apply(cli, first, plan).json()["result"]["status"] == "committed"
    # The same plan on the other runner: the shared record says it was applied; nothing is
    # written there (that runner's checkout gets the change through git).
    again = cli_apply(cli, second, plan)
    assert again.code == 0, again.err
    assert again.json()["result"]["status"] == "already_applied"
    assert (second / "src" / "a.txt").read_text() == "one\n"
    sources = {str(r[1]) for r in rows(store_url)}
    assert sources == {source_name(first.resolve()), source_name(second.resolve())}
    verified = cli("audit", "verify", "--store", "-C", second, "--json")
    assert verified.code == 0, verified.err
    assert verified.json()["result"]["sources"] == 2
    assert verified.json()["result"]["events"] == len(trail(first)) + len(trail(second))
