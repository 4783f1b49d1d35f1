"""Circuit breakers (SPEC §9): transitions under a fake clock, persistence, and ``run_check``.

CLOSED opens after ``failure_threshold`` consecutive failures (a success resets the count);
OPEN refuses calls until ``recovery_timeout`` has passed, then admits one as HALF_OPEN;
HALF_OPEN closes after ``success_threshold`` successes and reopens, with a new ``opened_at``,
on a failure. ``.agentos/breakers.json`` carries the state to another process; a missing,
unreadable or garbage file loads as no breakers. ``run_check`` with injected clocks fails a
check whose breaker is open at once, without calling it ("circuit open since ..."), and
writes the breaker state back. Run time: under 1 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.verify.breaker import (
    BREAKERS_NAME,
    Breaker,
    BreakerConfig,
    admit,
    load_breakers,
    record,
    save_breakers,
)
from agentos.verify.health import HealthEnvironment, Transition, run_check
from agentos.verify.spec import HealthCheckSpec

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20+00:00
T0_ISO = "2023-11-14T22:13:20.000000Z"
REPO_PACKAGES = Path(__file__).resolve().parents[2] / "packages"


class FakeClock:
    """Wall clock, monotonic clock and sleep that only move when told (or when slept)."""

    def __init__(self, start: float = T0) -> None:
        self.wall = start
        self.mono = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


# --- pure transitions ------------------------------------------------------------------------


def test_closed_opens_after_threshold_consecutive_failures() -> None:
    config = BreakerConfig(failure_threshold=3, recovery_timeout=60.0)
    clock = FakeClock()
    b = Breaker()
    for expected_failures in (1, 2):
        b = record(b, config, clock.now(), success=False)
        assert (b.state, b.failures, b.opened_at) == ("closed", expected_failures, None)
        clock.advance(1)
    b = record(b, config, clock.now(), success=False)
    assert (b.state, b.failures, b.opened_at) == ("open", 3, T0 + 2)


def test_a_success_in_between_resets_the_count() -> None:
    config = BreakerConfig(failure_threshold=3)
    b = Breaker()
    for success in (False, False, True, False, False):
        b = record(b, config, T0, success=success)
        assert b.state == "closed"
    assert b.failures == 2
    b = record(b, config, T0, success=False)
    assert b.state == "open"


def test_open_refuses_until_recovery_timeout_then_admits_half_open() -> None:
    config = BreakerConfig(failure_threshold=1, recovery_timeout=30.0)
    b = record(Breaker(), config, T0, success=False)
    assert b.state == "open"
    for elapsed in (0.0, 1.0, 29.999):
        allowed, same = admit(b, config, T0 + elapsed)
        assert allowed is False
        assert same is b
    allowed, trial = admit(b, config, T0 + 30.0)
    assert allowed is True
    assert trial.state == "half_open"
    assert trial.opened_at == T0
    # Closed and half-open breakers always admit, unchanged.
    assert admit(trial, config, T0 + 30.0) == (True, trial)
    assert admit(Breaker(), config, T0) == (True, Breaker())


def test_half_open_closes_after_success_threshold_successes() -> None:
    config = BreakerConfig(failure_threshold=1, recovery_timeout=10.0, success_threshold=3)
    b = record(Breaker(), config, T0, success=False)
    _, b = admit(b, config, T0 + 10)
    for successes in (1, 2):
        b = record(b, config, T0 + 10 + successes, success=True)
        assert (b.state, b.successes) == ("half_open", successes)
        assert admit(b, config, T0 + 11)[0] is True
    b = record(b, config, T0 + 13, success=True)
    assert b == Breaker()


def test_half_open_failure_opens_again_with_a_new_opened_at() -> None:
    config = BreakerConfig(failure_threshold=2, recovery_timeout=10.0, success_threshold=2)
    b = Breaker()
    b = record(b, config, T0, success=False)
    b = record(b, config, T0, success=False)
    _, b = admit(b, config, T0 + 10)
    b = record(b, config, T0 + 11, success=True)
    assert b.state == "half_open"
    b = record(b, config, T0 + 12, success=False)
    assert (b.state, b.opened_at) == ("open", T0 + 12)
    # The recovery timeout counts from the new opened_at.
    assert admit(b, config, T0 + 21)[0] is False
    assert admit(b, config, T0 + 22)[0] is True


@given(
    outcomes=st.lists(st.booleans(), max_size=60),
    threshold=st.integers(min_value=1, max_value=5),
)
def test_closed_breaker_opens_exactly_at_the_first_run_of_threshold_failures(
    outcomes: list[bool], threshold: int
) -> None:
    config = BreakerConfig(failure_threshold=threshold)
    b = Breaker()
    run = 0
    for i, success in enumerate(outcomes):
        b = record(b, config, T0 + i, success=success)
        run = 0 if success else run + 1
        if run == threshold:
            assert (b.state, b.opened_at) == ("open", T0 + i)
            return
        assert (b.state, b.failures) == ("closed", run)


def test_since_formats_opened_at() -> None:
    assert Breaker(state="open", failures=3, opened_at=T0).since() == T0_ISO
    assert Breaker(state="open", opened_at=T0 + 0.75).since() == "2023-11-14T22:13:20.750000Z"
    assert Breaker().since() == "unknown"


# --- persistence -----------------------------------------------------------------------------


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO_PACKAGES), "PATH": "/usr/bin:/bin"},
    )
    return done.stdout


def test_saved_breakers_load_in_another_process(tmp_path: Path) -> None:
    state = tmp_path / ".agentos"
    saved = {
        "api": Breaker(state="open", failures=4, opened_at=T0),
        "db": Breaker(state="half_open", failures=3, successes=1, opened_at=T0 - 5),
        "unit-tests": Breaker(state="closed", failures=2),
    }
    save_breakers(state, saved)
    code = (
        "import json, sys; from dataclasses import asdict; from pathlib import Path; "
        "from agentos.verify.breaker import load_breakers; "
        f"b = load_breakers(Path({str(state)!r})); "
        "print(json.dumps({k: asdict(v) for k, v in b.items()}))"
    )
    seen = json.loads(run_python(code))
    assert seen == {name: asdict(b) for name, b in saved.items()}
    assert {name: Breaker(**value) for name, value in seen.items()} == saved


def test_breakers_saved_by_another_process_load_here(tmp_path: Path) -> None:
    state = tmp_path / ".agentos"
    code = (
        "from pathlib import Path; "
        "from agentos.verify.breaker import Breaker, save_breakers; "
        f"save_breakers(Path({str(state)!r}), "
        f"{{'api': Breaker(state='open', failures=3, opened_at={T0!r})}})"
    )
    run_python(code)
    assert load_breakers(state) == {"api": Breaker(state="open", failures=3, opened_at=T0)}
    assert not [p.name for p in state.iterdir() if p.name != BREAKERS_NAME]  # no temp left


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b'{"api": {"state": "open"',
        b"[]",
        b'"a string"',
        b"null",
        b"42",
    ],
    ids=["empty", "text", "binary", "truncated", "list", "string", "null", "number"],
)
def test_garbage_breakers_file_loads_as_empty(tmp_path: Path, content: bytes) -> None:
    (tmp_path / BREAKERS_NAME).write_bytes(content)
    assert load_breakers(tmp_path) == {}


def test_missing_or_unreadable_breakers_file_loads_as_empty(tmp_path: Path) -> None:
    assert load_breakers(tmp_path) == {}
    assert load_breakers(tmp_path / "no-such-dir") == {}
    (tmp_path / BREAKERS_NAME).mkdir()  # a directory where the file should be
    assert load_breakers(tmp_path) == {}


def test_malformed_entries_are_skipped_and_good_ones_kept(tmp_path: Path) -> None:
    raw = {"a": 5, "b": [1, 2], "c": None, "good": {"state": "open", "failures": 3}}
    (tmp_path / BREAKERS_NAME).write_text(json.dumps(raw), "utf-8")
    assert load_breakers(tmp_path) == {"good": Breaker(state="open", failures=3)}


def test_unknown_fields_are_ignored(tmp_path: Path) -> None:
    raw = {"api": {"state": "open", "failures": 3, "opened_at": T0, "last_error": "boom"}}
    (tmp_path / BREAKERS_NAME).write_text(json.dumps(raw), "utf-8")
    assert load_breakers(tmp_path) == {"api": Breaker(state="open", failures=3, opened_at=T0)}


def test_deeply_nested_breakers_file_loads_as_empty(tmp_path: Path) -> None:
    (tmp_path / BREAKERS_NAME).write_text("[" * 100_000, "utf-8")
    assert load_breakers(tmp_path) == {}


def test_wrongly_typed_entry_does_not_crash_admit(tmp_path: Path) -> None:
    raw = {"api": {"state": "open", "failures": "x", "opened_at": "yesterday"}}
    (tmp_path / BREAKERS_NAME).write_text(json.dumps(raw), "utf-8")
    config = BreakerConfig()
    for b in load_breakers(tmp_path).values():
        admit(b, config, T0)
        record(b, config, T0, success=False)
        b.since()


def test_since_with_out_of_range_opened_at() -> None:
    assert isinstance(Breaker(state="open", failures=3, opened_at=1e20).since(), str)


# --- run_check with injected clocks ----------------------------------------------------------


def file_check(name: str, path: str, **breaker: Any) -> HealthCheckSpec:
    return HealthCheckSpec.model_validate(
        {"name": name, "file": {"path": path}, "circuit_breaker": breaker}
    )


def environment(root: Path, clock: FakeClock) -> HealthEnvironment:
    return HealthEnvironment(
        root=root,
        default_timeout=10.0,
        now=clock.now,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )


def test_run_check_walks_the_breaker_through_its_states(tmp_path: Path) -> None:
    clock = FakeClock()
    env = environment(tmp_path, clock)
    check = file_check("cfg", "config/app.yaml", failure_threshold=2, recovery_timeout=30)
    breakers: dict[str, Breaker] = {}

    result, moves = run_check(check, breakers, env)
    assert (result.status, result.attempts, result.breaker, moves) == ("failed", 1, "closed", [])
    assert breakers == {"cfg": Breaker(failures=1)}

    clock.advance(1)
    result, moves = run_check(check, breakers, env)
    assert (result.status, result.attempts, result.breaker) == ("failed", 1, "open")
    assert moves == [Transition("cfg", "closed", "open", "2023-11-14T22:13:21.000000Z")]
    assert breakers == {"cfg": Breaker(state="open", failures=2, opened_at=T0 + 1)}

    # Open: fails at once without looking at the file, even once the file is there.
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.yaml").write_text("a: 1\n", "utf-8")
    clock.advance(29)
    result, moves = run_check(check, breakers, env)
    assert result.status == "failed"
    assert result.attempts == 0
    assert result.failure == "breaker_open"
    assert result.message.startswith("circuit open since 2023-11-14T22:13:21.000000Z")
    assert result.breaker == "open"
    assert moves == []
    assert breakers["cfg"] == Breaker(state="open", failures=2, opened_at=T0 + 1)

    # recovery_timeout (30 s) after opening: a trial call, which passes and closes it.
    clock.advance(1)
    result, moves = run_check(check, breakers, env)
    assert (result.status, result.attempts, result.breaker) == ("passed", 1, "closed")
    assert [(m.before, m.after) for m in moves] == [("open", "half_open"), ("half_open", "closed")]
    assert breakers == {"cfg": Breaker()}
    assert result.row()["breaker"] == "closed"


def test_run_check_half_open_failure_reopens_with_new_opened_at(tmp_path: Path) -> None:
    clock = FakeClock()
    check = file_check("cfg", "missing.txt", failure_threshold=3, recovery_timeout=5)
    breakers = {"cfg": Breaker(state="open", failures=3, opened_at=T0 - 5)}
    result, moves = run_check(check, breakers, environment(tmp_path, clock))
    assert (result.status, result.attempts, result.breaker) == ("failed", 1, "open")
    assert [(m.before, m.after) for m in moves] == [("open", "half_open"), ("half_open", "open")]
    assert moves[-1].since == T0_ISO
    assert breakers["cfg"] == Breaker(state="open", failures=4, opened_at=T0)


def test_open_breaker_does_not_run_the_command(tmp_path: Path) -> None:
    clock = FakeClock()
    marker = tmp_path / "marker"
    check = HealthCheckSpec.model_validate(
        {
            "name": "touch",
            "command": [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"],
            "circuit_breaker": {"failure_threshold": 1, "recovery_timeout": 60},
        }
    )
    opened = Breaker(state="open", failures=1, opened_at=T0 - 10)
    breakers = {"touch": opened}
    result, moves = run_check(check, breakers, environment(tmp_path, clock))
    assert result.status == "failed"
    assert result.attempts == 0
    assert result.message == (
        "circuit open since 2023-11-14T22:13:10.000000Z (after 1 failures); not called"
    )
    assert result.row()["breaker"] == "open"
    assert moves == []
    assert breakers == {"touch": opened}
    assert not marker.exists()
    # Control: once the recovery timeout has passed the same check does run the command.
    clock.advance(50)
    result, _ = run_check(check, breakers, environment(tmp_path, clock))
    assert (result.status, result.attempts) == ("passed", 1)
    assert marker.exists()
    assert breakers == {"touch": Breaker()}


def test_breaker_opening_mid_retries_stops_the_retries(tmp_path: Path) -> None:
    clock = FakeClock()
    check = HealthCheckSpec.model_validate(
        {
            "name": "cfg",
            "command": [sys.executable, "-c", "raise SystemExit(1)"],
            "retry": {"max_attempts": 5, "base_delay": 2.0},
            "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 60},
        }
    )
    breakers: dict[str, Breaker] = {}
    result, moves = run_check(check, breakers, environment(tmp_path, clock))
    assert (result.status, result.attempts, result.breaker) == ("failed", 2, "open")
    assert clock.slept and sum(clock.slept) == pytest.approx(2.0)
    assert [(m.before, m.after) for m in moves] == [("closed", "open")]
    assert breakers["cfg"].state == "open"


def test_check_without_breaker_leaves_no_breaker_state(tmp_path: Path) -> None:
    clock = FakeClock()
    check = HealthCheckSpec.model_validate({"name": "cfg", "file": {"path": "absent"}})
    breakers: dict[str, Breaker] = {}
    result, _ = run_check(check, breakers, environment(tmp_path, clock))
    assert (result.status, result.breaker) == ("failed", None)
    assert breakers.get("cfg", Breaker()) == Breaker()
