"""Both stores keep every kind of record and give it back as it was; in PostgreSQL, two
runners recording the same plan id at once: exactly one commit stands."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentos.executor.executions import ExecutionRecord, execution_id_for
from agentos.executor.idempotency import IdempotencyRecord
from agentos.executor.journal import ChangeRef
from agentos.model import Approval
from agentos.store.base import Store
from agentos.store.files import FileStore
from agentos.store.postgres import PostgresStore
from agentos.verify.breaker import Breaker

CHECKSUM = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def approval(approver: str, at: str, checksum: str = CHECKSUM) -> Approval:
    return Approval(
        plan_id="plan-1",
        checksum=checksum,
        plan_digest="sha256:" + "c" * 64,
        approver=approver,
        approved_at=at,
        comment="looks right",
        policy_digest="sha256:" + "d" * 64,
    )


def committed(
    plan_id: str = "plan-1", checksum: str = CHECKSUM, **extra: object
) -> IdempotencyRecord:
    fields: dict[str, object] = {
        "plan_id": plan_id,
        "checksum": checksum,
        "execution_id": execution_id_for(plan_id, checksum),
        "status": "committed",
        "attempts": 1,
        "updated_at": "2024-01-01T00:00:01Z",
        "committed_at": "2024-01-01T00:00:01Z",
    }
    fields.update(extra)
    return IdempotencyRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["files", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "files":
        yield FileStore(tmp_path)
        return
    url = request.getfixturevalue("pg_url")
    db = PostgresStore(url, source="host:/ws")
    db.migrate()
    yield db


def test_approvals_round_trip(store: Store) -> None:
    first = approval("alice", "2024-01-01T00:00:01Z")
    second = approval("bob", "2024-01-01T00:00:02Z", checksum=OTHER)
    store.put_approval(second)
    store.put_approval(first)
    got = store.approvals("plan-1")
    assert [a.model_copy(update={"seal": None}) for a in got] == [first, second]
    # A re-approval of the same bytes by the same person replaces the earlier one.
    store.put_approval(
        first.model_copy(update={"comment": "again", "approved_at": "2024-01-02T00:00:00Z"})
    )
    got = store.approvals("plan-1")
    assert [(a.approver, a.comment) for a in got] == [("bob", "looks right"), ("alice", "again")]
    assert store.approvals("plan-2") == []


def test_idempotency_records_round_trip(store: Store) -> None:
    assert store.idempotency("plan-1") is None
    failed = committed(status="rolled_back", committed_at=None, attempts=2)
    assert store.put_idempotency(failed) is True
    assert store.idempotency("plan-1") == failed
    done = committed(attempts=3)
    assert store.put_idempotency(done) is True
    assert store.idempotency("plan-1") == done


def test_execution_records_round_trip(store: Store) -> None:
    record = ExecutionRecord(
        execution_id=execution_id_for("plan-1", CHECKSUM),
        plan_id="plan-1",
        checksum=CHECKSUM,
        kind="apply",
        parent=None,
        status="committed",
        attempt=1,
        started_at="2024-01-01T00:00:00Z",
        committed_at="2024-01-01T00:00:01Z",
        files=(
            ChangeRef(op="modify", path="a.txt"),
            ChangeRef.model_validate({"op": "rename", "path": "b.txt", "from": "c.txt"}),
        ),
    )
    assert store.execution(record.execution_id) is None
    store.put_execution(record)
    assert store.execution(record.execution_id) == record


def test_breakers_round_trip(store: Store) -> None:
    assert store.breakers() == {}
    store.put_breakers({"api": Breaker(state="open", failures=3, opened_at=1700000000.5)})
    store.put_breakers({"unit": Breaker(failures=1)})
    assert store.breakers() == {
        "api": Breaker(state="open", failures=3, opened_at=1700000000.5),
        "unit": Breaker(failures=1),
    }
    store.put_breakers({"api": Breaker()})
    assert store.breakers()["api"] == Breaker()


def test_two_runners_recording_one_plan_at_once_one_commit_stands(pg_url: str) -> None:
    PostgresStore(pg_url, source="setup").migrate()
    for round_ in range(10):
        plan_id = f"race-{round_}"
        runners = [PostgresStore(pg_url, source=f"runner-{n}:/ws") for n in range(2)]
        barrier = threading.Barrier(len(runners))
        won: dict[str, bool] = {}
        threads = [
            threading.Thread(target=_record, args=(r, plan_id, barrier, won)) for r in runners
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won.values()) == [False, True], won
        with runners[0].session() as conn:
            row = conn.execute("SELECT source FROM idempotency WHERE plan_id = %s", (plan_id,))
            source = row.fetchone()
        assert source is not None
        assert won[source[0]] is True


def _record(
    runner: PostgresStore, plan_id: str, barrier: threading.Barrier, won: dict[str, bool]
) -> None:
    barrier.wait()
    won[runner.source] = runner.put_idempotency(committed(plan_id))


def test_a_commit_of_another_runner_stands_until_it_is_reverted(pg_url: str) -> None:
    alpha = PostgresStore(pg_url, source="alpha:/ws")
    beta = PostgresStore(pg_url, source="beta:/ws")
    alpha.migrate()
    assert alpha.put_idempotency(committed()) is True
    # Another runner's failure, or its own commit, cannot replace it ...
    assert beta.put_idempotency(committed(status="rolled_back", committed_at=None)) is False
    assert beta.put_idempotency(committed()) is False
    assert beta.idempotency("plan-1") == committed()
    # ... the runner that made it can (recovery finishing its records) ...
    assert alpha.put_idempotency(committed(attempts=2)) is True
    # ... and any runner's rollback of that very execution marks it reverted.
    assert beta.put_idempotency(committed(status="reverted", attempts=2)) is True
    assert beta.put_idempotency(committed(attempts=3)) is True
    assert alpha.idempotency("plan-1") == committed(attempts=3)
