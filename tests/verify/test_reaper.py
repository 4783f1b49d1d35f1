"""Health checks leave nothing running: every descendant is killed and reaped, setsid or not.

The pure part first: ``/proc/<pid>/stat`` parsing, the tree walk and the choice of victims,
then ``sweep`` in a simulated process table (a process that forks while it is being killed,
one that ignores SIGTERM, one stuck even under SIGKILL, zombies, a pid reused since the
snapshot). Then real processes through ``run_checks`` (Linux only): a check that starts a
``setsid`` daemon and exits 0, exits 1, times out or is stopped; a Python double fork; a daemon
with a scrubbed environment (only the stage-end sweep can find it); a retry that must not meet
the daemon of the attempt before it; a check that ends while another still runs; two stages
that overlap. After each, the daemon is gone and was reaped (no zombie left), while processes
the test started itself — before the stage or during it — are untouched.

Figures: 11 daemons that left their group (setsid or a double fork) and 2 plain background
children killed and reaped, none a zombie; about 4 s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from shlex import quote
from typing import Any

import pytest

from agentos.verify.health import HealthEnvironment, run_checks
from agentos.verify.proctree import (
    Proc,
    Table,
    descendants,
    identities,
    parse_stat,
    select_victims,
)
from agentos.verify.reaper import (
    KILL_GRACE_SECONDS,
    MARK_VARIABLE,
    TERM_GRACE_SECONDS,
    Edges,
    reaping,
    set_subreaper,
    sweep,
)
from agentos.verify.spec import HealthCheckSpec
from helpers import command_env, double_fork_script, is_running, pid_gone

ROOT = 100

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("setsid") is None,
    reason="reaping escaped daemons needs Linux /proc, prctl and setsid",
)


# -- parse_stat ------------------------------------------------------------------------------


def stat_line(pid: int, comm: str, *, state: str, ppid: int, session: int, start: int) -> bytes:
    middle = " ".join(["0"] * 15)  # tty_nr .. itrealvalue
    return f"{pid} ({comm}) {state} {ppid} {pid} {session} {middle} {start} 0 0\n".encode()


def test_parse_stat_reads_parent_state_session_and_start() -> None:
    line = stat_line(4242, "sleep", state="S", ppid=4000, session=4100, start=987654)
    assert parse_stat(line) == Proc(ppid=4000, state="S", session=4100, start=987654)


@pytest.mark.parametrize("comm", ["a b", "x) (y", ") 1 2 3 (", "((("])
def test_parse_stat_survives_odd_command_names(comm: str) -> None:
    assert parse_stat(stat_line(7, comm, state="Z", ppid=1, session=7, start=55)) == Proc(
        1, "Z", 7, 55
    )


def test_parse_stat_of_this_process_matches_the_os() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("no /proc")
    proc = parse_stat(Path("/proc/self/stat").read_bytes())
    assert proc is not None
    assert (proc.ppid, proc.session) == (os.getppid(), os.getsid(0))


@pytest.mark.parametrize(
    "data", [b"", b"12 (x) S 1 2", b"12 x S 1 2 3", b"12 (x) S a b c" + b" 0" * 30]
)
def test_parse_stat_refuses_what_is_not_a_stat_line(data: bytes) -> None:
    assert parse_stat(data) is None


# -- the tree and the victims ----------------------------------------------------------------


def proc(ppid: int, session: int, start: int = 1, state: str = "S") -> Proc:
    return Proc(ppid=ppid, state=state, session=session, start=start)


def test_descendants_are_everything_below_the_root_and_nothing_else() -> None:
    table = {
        ROOT: proc(1, ROOT),
        101: proc(ROOT, 101),
        102: proc(101, 101),
        103: proc(102, 103),
        200: proc(1, 200),  # a sibling of ours
        201: proc(200, 200),
        300: proc(300, 300),  # its own parent: a broken entry must not loop
    }
    assert descendants(table, ROOT) == {101, 102, 103}
    assert descendants(table, 101) == {102, 103}
    assert descendants(table, 999) == set()


def selection_table() -> dict[int, Proc]:
    return {
        ROOT: proc(1, ROOT),
        101: proc(ROOT, 101, start=5),  # started before the stage, in a session of its own
        102: proc(ROOT, ROOT, start=6),  # started before the stage, in our session
        110: proc(ROOT, 110, start=50),  # an adopted daemon
        111: proc(110, 110, start=51),  # its child
        120: proc(ROOT, 120, start=52, state="Z"),  # an adopted daemon that already died
        130: proc(ROOT, 130, start=53),  # a check process a Popen still owns
        131: proc(130, 130, start=54),  # ... and its child
        140: proc(ROOT, ROOT, start=55),  # started during the stage by another thread
        141: proc(140, 141, start=56),  # ... whose child made a session of its own
        150: proc(ROOT, 150, start=57),  # pid 150 was in the snapshot with another start
        200: proc(1, 200, start=58),  # new, but not ours
    }


SNAPSHOT = frozenset({(101, 5), (102, 6), (150, 2)})


def test_victims_are_the_new_descendants_outside_our_session() -> None:
    victims = select_victims(selection_table(), ROOT, before=SNAPSHOT, spared={130})
    # 131 is below a spared check process; 141 has a session of its own, but it is below a
    # process of our session, which no check's process can be.
    assert victims == {110, 111, 120, 131, 150}


def test_nothing_below_a_process_from_before_the_stage_is_a_victim() -> None:
    table = {**selection_table(), 160: proc(101, 160, start=60), 161: proc(160, 161, start=61)}
    victims = select_victims(table, ROOT, before=SNAPSHOT, spared={130})
    assert victims.isdisjoint({160, 161})


def test_victims_can_be_narrowed_to_the_marked_ones() -> None:
    victims = select_victims(
        selection_table(), ROOT, before=SNAPSHOT, spared={130}, marked=lambda pid: pid in {111, 102}
    )
    assert victims == {111}


def test_no_victims_without_the_root_in_the_table() -> None:
    table = selection_table()
    del table[ROOT]
    assert select_victims(table, ROOT, before=frozenset(), spared=set()) == set()


def test_identities_tell_a_reused_pid_apart() -> None:
    table = selection_table()
    assert identities(table, [101, 150, 999]) == {(101, 5), (150, 57)}


# -- sweep in a simulated process table ------------------------------------------------------


class World:
    """A process table that reacts to signals: a subreaper at ``ROOT`` adopts orphans."""

    def __init__(self, procs: dict[int, Proc], behaviour: dict[int, str]) -> None:
        self.procs = dict(procs)
        self.behaviour = behaviour  # die (default) | ignore | fork | stuck
        self.signals: list[tuple[int, str]] = []
        self.reaped: list[int] = []
        self.clock = 0.0
        self.next_pid = 1000
        self.spared: set[int] = set()

    def edges(self) -> Edges:
        return Edges(
            read=lambda: dict(self.procs),
            status=self.procs.get,
            send=self.send,
            reap=self.reap,
            sleep=self.sleep,
            monotonic=lambda: self.clock,
            subreaper=lambda on: None,
        )

    def sleep(self, seconds: float) -> None:
        self.clock += seconds

    def send(self, pid: int, expected: Proc, sig: signal.Signals) -> None:
        self.signals.append((pid, sig.name))
        now = self.procs.get(pid)
        if now is None or now.start != expected.start or now.state == "Z":
            return
        how = self.behaviour.get(pid, "die")
        if how == "stuck" or (how == "ignore" and sig == signal.SIGTERM):
            return
        if how == "fork":  # forks a child while it is being killed
            self.next_pid += 1
            self.procs[self.next_pid] = replace(now, ppid=pid, start=self.next_pid)
        self.die(pid)

    def die(self, pid: int) -> None:
        dead = self.procs[pid]
        for child, info in list(self.procs.items()):
            if info.ppid == pid:
                self.procs[child] = replace(info, ppid=ROOT)  # adopted by the subreaper
        if dead.ppid == ROOT:
            self.procs[pid] = replace(dead, state="Z")  # ours to reap
        else:
            del self.procs[pid]  # its parent reaps it

    def reap(self, pid: int) -> None:
        info = self.procs.get(pid)
        assert pid not in self.spared, f"waitpid on {pid}, which a Popen owns"
        assert info is not None, pid
        assert (info.ppid, info.state) == (ROOT, "Z"), (pid, info)
        self.reaped.append(pid)
        del self.procs[pid]


def test_sweep_kills_reaps_and_loops_until_nothing_new_appears() -> None:
    world = World(
        {
            ROOT: proc(1, ROOT),
            101: proc(ROOT, 101, start=5),  # before the stage
            110: proc(ROOT, 110, start=50),  # forks when SIGTERMed
            120: proc(ROOT, 120, start=51),  # ignores SIGTERM
            121: proc(120, 120, start=52),
            130: proc(ROOT, 130, start=53, state="Z"),  # died on its own: only reaped
            140: proc(ROOT, 140, start=54),  # a running check's Popen
            141: proc(ROOT, 141, start=55, state="Z"),  # a Popen's child not waited for yet
            150: proc(ROOT, ROOT, start=56),  # another thread's child, our session
        },
        {110: "fork", 120: "ignore"},
    )
    world.spared = {140, 141}
    before = frozenset({(101, 5)})

    def select(table: Table) -> set[int]:
        return select_victims(table, ROOT, before=before, spared=world.spared)

    hit = sweep(select, ROOT, world.edges())

    assert set(world.procs) == {ROOT, 101, 140, 141, 150}  # nothing else, no zombie either
    forked = 1001
    signalled = {pid for pid, _ in world.signals}
    assert signalled == {110, 120, 121, forked}
    assert {pid for pid, _ in hit} == signalled
    assert (120, "SIGKILL") in world.signals
    assert (110, "SIGKILL") not in world.signals  # it went at SIGTERM
    assert sorted(world.reaped) == [110, 120, 130, forked]  # 121 was its parent's to reap
    assert world.clock == pytest.approx(TERM_GRACE_SECONDS, abs=0.05)  # one grace waited out


def test_sweep_gives_up_on_a_process_stuck_under_sigkill() -> None:
    world = World({ROOT: proc(1, ROOT), 110: proc(ROOT, 110, start=50)}, {110: "stuck"})

    def select(table: Table) -> set[int]:
        return select_victims(table, ROOT, before=frozenset(), spared=set())

    sweep(select, ROOT, world.edges())
    assert world.signals == [(110, "SIGTERM"), (110, "SIGKILL")]
    assert world.clock == pytest.approx(TERM_GRACE_SECONDS + KILL_GRACE_SECONDS, abs=0.05)
    assert world.reaped == []


def test_without_proc_nothing_is_marked_or_reaped() -> None:
    calls: list[bool] = []

    def subreaper(on: bool) -> None:
        calls.append(on)

    edges = Edges(read=lambda: None, subreaper=subreaper)
    with reaping(edges) as reaper:
        assert not reaper.active
        attempt = reaper.attempt({"PATH": "/bin"})
        assert attempt.env == {"PATH": "/bin"}
    assert calls == []


# -- real processes --------------------------------------------------------------------------


def never() -> str | None:
    return None


def check(name: str, script: str, **extra: Any) -> HealthCheckSpec:
    return HealthCheckSpec.model_validate({"name": name, "command": ["sh", "-c", script], **extra})


def run(checks: list[HealthCheckSpec], root: Path, stop: Callable[[], str | None] = never) -> Any:
    environment = HealthEnvironment(root=root, default_timeout=20.0, env=command_env(), stop=stop)
    results, _ = run_checks(checks, {}, environment)
    return results


def wait_for(path: Path, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


WAIT_LOOP = 'i=0; while [ ! -s {path} ] && [ "$i" -lt 1000 ]; do sleep 0.01; i=$((i+1)); done'


def setsid_daemon(pidfile: Path, *, scrub: bool = False) -> str:
    """Shell that starts ``sleep 300`` in a session of its own and waits for its pid file."""
    env = 'env -i PATH="$PATH" ' if scrub else ""
    start = (
        f'{env}setsid sh -c \'echo $$ > "$1.tmp" && mv "$1.tmp" "$1"; exec sleep 300\' '
        f"daemon {quote(str(pidfile))} &"
    )
    return f"{start} {WAIT_LOOP.format(path=quote(str(pidfile)))}; "


DOUBLE_FORK = double_fork_script("sys.argv[1]")


@pytest.fixture
def pidfiles(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Pid files for the daemons of a test; whatever they name is killed if it outlives it."""
    made: list[Path] = []

    def new(name: str) -> Path:
        made.append(tmp_path / f"{name}.pid")
        return made[-1]

    yield new
    for path in made:
        with contextlib.suppress(OSError, ValueError):
            pid = int(path.read_text())
            if not pid_gone(pid):
                os.kill(pid, signal.SIGKILL)


def assert_reaped(pidfile: Path) -> None:
    pid = int(pidfile.read_text())
    assert pid_gone(pid), f"daemon {pid} outlived its health check"
    assert not Path(f"/proc/{pid}").exists(), f"daemon {pid} is a zombie nobody reaped"


@linux_only
@pytest.mark.parametrize(
    ("tail", "extra", "expected"),
    [
        ("exit 0", {}, ("passed", None)),
        ("exit 1", {}, ("failed", "nonzero_exit")),
        ("sleep 30", {"timeout": 1}, ("failed", "timeout")),
    ],
    ids=["passes", "fails", "times-out"],
)
def test_setsid_daemon_of_a_check_is_reaped(
    tmp_path: Path, pidfiles: Callable[[str], Path], tail: str, extra: Any, expected: Any
) -> None:
    daemon = pidfiles("daemon")
    (result,) = run([check("daemon", setsid_daemon(daemon) + tail, **extra)], tmp_path)
    assert (result.status, result.failure) == expected
    assert_reaped(daemon)
    assert set_subreaper(False) is False  # the stage put the flag back as it found it


@linux_only
def test_stopped_check_leaves_no_daemon(tmp_path: Path, pidfiles: Callable[[str], Path]) -> None:
    daemon = pidfiles("daemon")

    def stop() -> str | None:
        return "abort requested" if daemon.exists() else None

    (result,) = run([check("daemon", setsid_daemon(daemon) + "sleep 30")], tmp_path, stop)
    assert result.status == "aborted"
    assert_reaped(daemon)


@linux_only
def test_python_double_fork_daemon_is_reaped(
    tmp_path: Path, pidfiles: Callable[[str], Path]
) -> None:
    daemon = pidfiles("double-fork")
    spec = HealthCheckSpec.model_validate(
        {"name": "fork", "command": [sys.executable, "-c", DOUBLE_FORK, str(daemon)]}
    )
    (result,) = run([spec], tmp_path)
    assert result.status == "passed", result.output
    assert_reaped(daemon)


@linux_only
def test_daemon_with_a_scrubbed_environment_is_reaped_at_the_stage_end(
    tmp_path: Path, pidfiles: Callable[[str], Path]
) -> None:
    daemon = pidfiles("scrubbed")
    (result,) = run([check("scrubbed", setsid_daemon(daemon, scrub=True) + "exit 0")], tmp_path)
    assert result.status == "passed"
    assert_reaped(daemon)


@linux_only
def test_a_retry_does_not_meet_the_daemon_of_the_attempt_before(
    tmp_path: Path, pidfiles: Callable[[str], Path]
) -> None:
    daemon = pidfiles("daemon")
    pid = quote(str(daemon))
    script = (
        f'if [ -s {pid} ]; then kill -0 "$(cat {pid})" 2>/dev/null && echo alive && exit 1; '
        f"exit 0; fi; {setsid_daemon(daemon)} exit 1"
    )
    retry = {"max_attempts": 2, "base_delay": 0.0}
    (result,) = run([check("retried", script, retry=retry)], tmp_path)
    assert (result.status, result.attempts) == ("passed", 2), result.output
    assert_reaped(daemon)


@linux_only
def test_a_check_ending_does_not_touch_a_check_still_running(
    tmp_path: Path, pidfiles: Callable[[str], Path]
) -> None:
    daemon, child = pidfiles("daemon"), pidfiles("child")
    watcher = (
        f"sleep 30 & echo $! > {quote(str(child))}; "
        f"{WAIT_LOOP.format(path=quote(str(daemon)))}; "
        # until the first check's daemon is gone, and a little more for its sweep to finish
        f'i=0; while kill -0 "$(cat {quote(str(daemon))})" 2>/dev/null && [ "$i" -lt 1000 ]; '
        "do sleep 0.01; i=$((i+1)); done; sleep 0.5; "
        'grep -q "^State:.*[RS]" /proc/$!/status'
    )
    checks = [check("daemon", setsid_daemon(daemon) + "exit 0"), check("watcher", watcher)]
    first, second = run(checks, tmp_path)
    assert first.status == "passed"
    assert second.status == "passed", "the first check's clean-up hit the second check"
    assert_reaped(daemon)
    assert_reaped(child)  # and the second's own leftover went at its end


@linux_only
def test_overlapping_stages_do_not_reap_each_other(
    tmp_path: Path, pidfiles: Callable[[str], Path]
) -> None:
    child, daemon, scrubbed = pidfiles("child"), pidfiles("daemon"), pidfiles("scrubbed")
    go = tmp_path / "go"
    long = check(
        "long", f"sleep 30 & echo $! > {quote(str(child))}; {WAIT_LOOP.format(path=quote(str(go)))}"
    )
    outcome: list[Any] = []
    other = threading.Thread(target=lambda: outcome.extend(run([long], tmp_path)))
    other.start()
    try:
        wait_for(child)
        short = check("short", setsid_daemon(daemon) + setsid_daemon(scrubbed, scrub=True))
        (result,) = run([short], tmp_path)
        assert result.status == "passed"
        assert_reaped(daemon)  # marked: reaped as its check ended
        assert is_running(int(child.read_text())), "one stage's end killed another's check"
        # Unmarked, so only a final sweep may take it, and that waits for the last stage.
        assert is_running(int(scrubbed.read_text()))
    finally:
        go.write_text("go")
        other.join(20)
    assert [r.status for r in outcome] == ["passed"]
    assert_reaped(child)
    assert_reaped(scrubbed)


@linux_only
def test_processes_started_outside_the_checks_are_left_alone(
    tmp_path: Path, pidfiles: Callable[[str], Path]
) -> None:
    daemon = pidfiles("daemon")
    go = tmp_path / "go"
    earlier = [
        subprocess.Popen(["sleep", "30"]),  # our session
        subprocess.Popen(["sleep", "30"], start_new_session=True),  # a session of its own
    ]
    during: list[subprocess.Popen[bytes]] = []

    def start_one_meanwhile() -> None:
        wait_for(daemon)  # the check is running
        during.append(subprocess.Popen(["sleep", "30"]))
        go.write_text("go")

    helper = threading.Thread(target=start_one_meanwhile)
    helper.start()
    try:
        script = setsid_daemon(daemon) + WAIT_LOOP.format(path=quote(str(go)))
        (result,) = run([check("daemon", script)], tmp_path)
        helper.join(20)
        assert result.status == "passed"
        assert_reaped(daemon)
        assert len(during) == 1
        assert [p.poll() for p in [*earlier, *during]] == [None, None, None]
    finally:
        for process in [*earlier, *during]:
            process.kill()
            process.wait()


@linux_only
def test_each_attempt_gets_its_own_mark(tmp_path: Path) -> None:
    script = f"echo ${MARK_VARIABLE}"
    checks = [check(f"c{i}", script) for i in range(3)]
    marks = [r.output for r in run(checks, tmp_path)]
    assert all(len(mark) == 16 and int(mark, 16) >= 0 for mark in marks), marks
    assert len(set(marks)) == 3
