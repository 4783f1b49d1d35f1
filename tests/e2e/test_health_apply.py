"""Health checks of a real ``agentos apply``: commit or roll back exactly, as the checks say.

Black box: the installed ``agentos`` runs in a subprocess on a workspace whose own policy
(``agent/policies/default.yaml``, a copy of ``tests/data/permissive-policy.yaml``) holds the
``health_checks`` under test. HTTP checks talk to a real ``ThreadingHTTPServer`` the test runs
on 127.0.0.1 (port 0); the server notes, for each request it gets, what the changed workspace
file held at that moment, so a test can tell the checks of the new tree from the re-run after
the rollback. Command checks are real processes (the test interpreter). Every case checks the
tree (exactly the new one, or exactly the old one with no temp file), the ``checks`` rows of
``--json`` and the ``health.finished`` / ``health.post_rollback`` / ``breaker.changed``
events of the audit trail.

Run time: about 50-60 s (most of it process start-ups and the timeouts the cases wait out).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import pytest

from helpers import (
    APP,
    PYTHON,
    CheckedWorkspace,
    Run,
    Tree,
    agentos,
    needs_agentos,
    temp_files,
    trail,
    wait_gone,
    write_tree,
)

MODIFY_APP = [{"op": "modify", "path": APP, "content": "new\n"}]

pytestmark = needs_agentos


# -- the audit trail --------------------------------------------------------------------------


def event_data(ws: Path, name: str) -> list[dict[str, Any]]:
    return [dict(e["data"]) for e in trail(ws) if e["event"] == name]


@pytest.fixture
def ws(tmp_path: Path) -> CheckedWorkspace:
    return CheckedWorkspace(tmp_path / "ws")


def assert_committed(ws: CheckedWorkspace, run: Run, new: Tree) -> None:
    assert run.code == 0, run.doc
    assert run.result["status"] == "committed"
    assert run.doc["error"] is None
    assert ws.tree() == new
    assert temp_files(ws.root) == []
    assert "apply.committed" in [e["event"] for e in last_apply(ws)]


def assert_rolled_back(ws: CheckedWorkspace, run: Run, old: Tree, error: str) -> None:
    assert run.code == 1, run.doc
    assert run.result["status"] == "rolled_back"
    assert run.doc["error"]["type"] == error, run.doc["error"]
    assert ws.tree() == old
    assert temp_files(ws.root) == []
    assert "apply.failed" in [e["event"] for e in last_apply(ws)]


def last_apply(ws: CheckedWorkspace) -> list[dict[str, Any]]:
    """The audit events of the last apply (from its ``apply.started`` on)."""
    events = trail(ws.root)
    starts = [i for i, e in enumerate(events) if e["event"] == "apply.started"]
    return events[starts[-1] :]


def assert_trail_has_checks(ws: CheckedWorkspace, run: Run) -> None:
    """The last apply's ``health.finished`` / ``health.post_rollback`` hold the ``--json`` rows."""
    events = last_apply(ws)
    assert all(e["execution_id"] == run.result["execution_id"] for e in events)
    finished = [e["data"] for e in events if e["event"] == "health.finished"]
    assert finished == [
        {"ok": all(c["status"] == "passed" for c in run.checks), "checks": run.checks}
    ]
    again = [e["data"] for e in events if e["event"] == "health.post_rollback"]
    if run.post_rollback:
        ok = all(c["status"] == "passed" for c in run.post_rollback)
        assert again == [{"ok": ok, "checks": run.post_rollback}]
    else:
        assert again == []


# -- a real HTTP service --------------------------------------------------------------------


Behaviour = Callable[["Service", BaseHTTPRequestHandler, int], None]


class Service:
    """A ThreadingHTTPServer on 127.0.0.1; ``calls`` = what the watched file held per request."""

    def __init__(
        self, behaviour: Behaviour, watch: Path | None, protocol: str = "HTTP/1.0"
    ) -> None:
        self.behaviour = behaviour
        self.watch = watch
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = protocol

            def do_GET(self) -> None:
                service.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        seen = "<none>"
        if self.watch is not None:
            try:
                seen = self.watch.read_text()
            except FileNotFoundError:
                seen = "<missing>"
        with self.lock:
            self.calls.append(seen)
            number = len(self.calls)
        try:
            self.behaviour(self, handler, number)
        except OSError:  # the client hung up (a timed-out or aborted check)
            return

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def answer(status: int, body: str) -> Behaviour:
    def behave(_service: Service, handler: BaseHTTPRequestHandler, _number: int) -> None:
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return behave


def flaky(failures: int) -> Behaviour:
    """500 for the first ``failures`` requests, then 200 "ok"."""

    def behave(service: Service, handler: BaseHTTPRequestHandler, number: int) -> None:
        if number <= failures:
            answer(500, "not yet")(service, handler, number)
        else:
            answer(200, "ok")(service, handler, number)

    return behave


def slow(seconds: float) -> Behaviour:
    def behave(service: Service, handler: BaseHTTPRequestHandler, number: int) -> None:
        service.closing.wait(seconds)
        answer(200, "ok")(service, handler, number)

    return behave


def trickle(service: Service, handler: BaseHTTPRequestHandler, _number: int) -> None:
    """A 200 whose body never ends: one byte every 0.2 s, until the client hangs up."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(10**9))
    handler.end_headers()
    handler.wfile.flush()
    while not service.closing.is_set():
        handler.wfile.write(b"o")
        handler.wfile.flush()
        service.closing.wait(0.2)


class Serve(Protocol):
    """Start a service (stopped at the end of the test)."""

    def __call__(self, behaviour: Behaviour, protocol: str = ...) -> Service: ...


@pytest.fixture
def serve(ws: CheckedWorkspace) -> Iterator[Serve]:
    started: list[Service] = []

    def start(behaviour: Behaviour, protocol: str = "HTTP/1.0") -> Service:
        service = Service(behaviour, ws.root / APP, protocol)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def http_check(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "api", "http": {"url": url, **extra.pop("http", {})}, **extra}


# -- HTTP checks ----------------------------------------------------------------------------


def test_http_check_passing_commits(ws: CheckedWorkspace, serve: Serve) -> None:
    service = serve(answer(200, "status: ok\n"))
    ws.set_policy([http_check(service.url, http={"body_contains": "ok"})])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_committed(ws, run, ws.expected_new(old))
    [check] = run.checks
    assert check["name"] == "api"
    assert check["kind"] == "http"
    assert check["status"] == "passed"
    assert check["attempts"] == 1
    assert check["failure"] is None
    assert check["message"] == f"{service.url}: status 200"
    assert check["breaker"] is None
    assert run.post_rollback == []
    assert service.calls == ["new\n"]  # checked against the new tree, before the commit point
    assert_trail_has_checks(ws, run)


@dataclass(frozen=True)
class Failing:
    """A service that fails the check, and what the check's row must say."""

    behaviour: Behaviour
    check: dict[str, Any]
    failure: str
    message: str
    output: str = ""


FAILING = {
    "status-500": Failing(
        answer(500, "boom\n"), {}, "unexpected_status", "status 500, expected 200", "boom"
    ),
    "body": Failing(
        answer(200, "degraded\n"),
        {"http": {"body_contains": "ok"}},
        "unexpected_status",
        "status 200 but the body does not contain 'ok'",
        "degraded",
    ),
    # The socket timeout or the overall deadline, whichever fires first: both say "timeout".
    "timeout": Failing(slow(10), {"timeout": 1}, "timeout", ""),
}


@pytest.mark.parametrize("case", list(FAILING), ids=list(FAILING))
def test_http_check_failing_rolls_back(ws: CheckedWorkspace, serve: Serve, case: str) -> None:
    spec = FAILING[case]
    service = serve(spec.behaviour)
    ws.set_policy([http_check(service.url, **spec.check)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    [check] = run.checks
    assert check["status"] == "failed"
    assert check["attempts"] == 1
    assert check["failure"] == spec.failure
    assert check["message"].startswith(service.url)
    assert spec.message in check["message"]
    assert f"health check failed: api: {check['message']}" in run.doc["error"]["message"]
    assert check["output"] == spec.output
    if spec.failure == "timeout":
        assert 1 <= check["duration"] < 2.5, check
    # Once during the apply (new tree), once more after the rollback (old tree).
    assert service.calls == ["new\n", "old\n"]
    [again] = run.post_rollback
    assert (again["status"], again["attempts"], again["failure"]) == ("failed", 1, spec.failure)
    assert_trail_has_checks(ws, run)


def test_http_check_connection_refused_rolls_back(ws: CheckedWorkspace, serve: Serve) -> None:
    service = serve(answer(200, "ok"))
    service.stop()  # nothing listens on the port any more
    ws.set_policy([http_check(service.url)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    [check] = run.checks
    assert (check["status"], check["attempts"]) == ("failed", 1)
    assert check["failure"] == "connection_error"
    assert "refused" in check["message"].lower()
    assert run.post_rollback[0]["failure"] == "connection_error"
    assert_trail_has_checks(ws, run)


def test_http_check_trickling_server_rolls_back(ws: CheckedWorkspace, serve: Serve) -> None:
    """Each byte comes well within any socket timeout; only the overall deadline ends it."""
    service = serve(trickle)
    timeout = 1.0
    ws.set_policy([http_check(service.url, timeout=timeout)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    [check] = run.checks
    assert check["failure"] == "timeout"
    assert check["message"] == f"{service.url}: no complete answer within {timeout:g}s"
    assert run.post_rollback[0]["failure"] == "timeout"
    # The check and its re-run after the rollback, each cut (within a few seconds).
    assert run.seconds < 2 * (timeout + 3) + 3, run.seconds
    assert service.calls == ["new\n", "old\n"]
    assert_trail_has_checks(ws, run)


@pytest.mark.parametrize(
    "protocol",
    [
        "HTTP/1.1",
        pytest.param("HTTP/1.0"),
    ],
)
def test_http_check_trickling_server_is_cut_at_its_timeout(
    ws: CheckedWorkspace, serve: Serve, protocol: str
) -> None:
    service = serve(trickle, protocol)
    timeout = 1.0
    ws.set_policy([http_check(service.url, timeout=timeout)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    for check in (*run.checks, *run.post_rollback):
        assert check["failure"] == "timeout"
        assert timeout <= check["duration"] < timeout + 1, check
    assert run.seconds < 2 * timeout + 6, run.seconds


# -- retries --------------------------------------------------------------------------------


FLAKY_CALLS = 4  # the service fails 3 times, then answers


def flaky_check(url: str, max_attempts: int) -> dict[str, Any]:
    retry = {"max_attempts": max_attempts, "strategy": "fixed", "base_delay": 0.05}
    return http_check(url, retry=retry)


def test_flaky_service_commits_after_exactly_n_calls(ws: CheckedWorkspace, serve: Serve) -> None:
    service = serve(flaky(FLAKY_CALLS - 1))
    ws.set_policy([flaky_check(service.url, FLAKY_CALLS)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_committed(ws, run, ws.expected_new(old))
    [check] = run.checks
    assert (check["status"], check["attempts"], check["failure"]) == ("passed", FLAKY_CALLS, None)
    assert service.calls == ["new\n"] * FLAKY_CALLS
    assert run.post_rollback == []
    assert_trail_has_checks(ws, run)


def test_flaky_service_with_too_few_attempts_rolls_back(ws: CheckedWorkspace, serve: Serve) -> None:
    attempts = FLAKY_CALLS - 2
    service = serve(flaky(FLAKY_CALLS - 1))
    ws.set_policy([flaky_check(service.url, attempts)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    [check] = run.checks
    assert (check["status"], check["attempts"]) == ("failed", attempts)
    assert check["failure"] == "unexpected_status"
    # Exactly max_attempts calls against the new tree; the re-run after the rollback is one
    # call (no retries) against the old tree.
    assert service.calls == ["new\n"] * attempts + ["old\n"]
    assert run.post_rollback[0]["attempts"] == 1
    assert_trail_has_checks(ws, run)


# -- circuit breaker ------------------------------------------------------------------------


def breaker_check(url: str) -> dict[str, Any]:
    return http_check(url, circuit_breaker={"failure_threshold": 2, "recovery_timeout": 3600})


def breakers(ws: CheckedWorkspace) -> list[dict[str, Any]]:
    status = agentos("status", cwd=ws.root)
    assert status.code == 0
    return list(status.result["breakers"])


def moves(ws: CheckedWorkspace) -> list[tuple[str, str]]:
    return [(d["from"], d["to"]) for d in event_data(ws.root, "breaker.changed")]


def reopen_long_ago(ws: CheckedWorkspace) -> None:
    """Move the breaker's opening two hours back: its recovery_timeout (1 h) has passed."""
    path = ws.root / ".agentos" / "breakers.json"
    data = json.loads(path.read_text())
    data["api"]["opened_at"] -= 7200
    path.write_text(json.dumps(data))


@pytest.mark.file_store(
    "edits .agentos/breakers.json by hand; a shared store's breakers win over the file"
)
def test_breaker_opens_fails_fast_half_opens_and_closes(ws: CheckedWorkspace, serve: Serve) -> None:
    """Each step is another agentos process: the state lives in .agentos/breakers.json."""
    healthy = False

    def behave(service: Service, handler: BaseHTTPRequestHandler, number: int) -> None:
        answer(200 if healthy else 503, "ok" if healthy else "down")(service, handler, number)

    service = serve(behave)
    ws.set_policy([breaker_check(service.url)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    assert breakers(ws) == []

    # Two failing applies: the breaker is open (failure_threshold 2).
    for _ in range(2):
        assert_rolled_back(ws, ws.apply("p1"), old, "health_check_failed")
    [state] = breakers(ws)
    assert (state["check"], state["state"], state["failures"]) == ("api", "open", 2)
    assert moves(ws) == [("closed", "open")]
    assert event_data(ws.root, "breaker.changed")[0]["since"] == state["since"]
    called = len(service.calls)
    assert called >= 2

    # Open: the next apply fails at once, and the service is not called at all.
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    [check] = run.checks
    assert check["attempts"] == 0
    assert check["failure"] == "breaker_open"
    assert check["breaker"] == "open"
    assert check["message"].startswith(f"circuit open since {state['since']}")
    assert "circuit open since" in run.doc["error"]["message"]
    assert len(service.calls) == called
    assert breakers(ws) == [state]

    # Past the recovery timeout, still down: one trial call (HALF_OPEN), which opens it again.
    reopen_long_ago(ws)
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    assert run.checks[0]["attempts"] == 1
    assert run.checks[0]["failure"] == "unexpected_status"
    assert service.calls[called:] == ["new\n"]  # the re-run after rollback meets an open breaker
    assert moves(ws)[-2:] == [("open", "half_open"), ("half_open", "open")]
    [state] = breakers(ws)
    assert state["state"] == "open"

    # Past the recovery timeout and healthy again: the trial passes, the breaker closes.
    reopen_long_ago(ws)
    healthy = True
    run = ws.apply("p1")
    assert_committed(ws, run, ws.expected_new(old))
    assert run.checks[0]["status"] == "passed"
    assert run.checks[0]["breaker"] == "closed"
    assert service.calls[called + 1 :] == ["new\n"]
    assert moves(ws)[-2:] == [("open", "half_open"), ("half_open", "closed")]
    [state] = breakers(ws)
    assert (state["state"], state["failures"]) == ("closed", 0)
    assert_trail_has_checks(ws, run)


def test_breaker_counts_one_failure_per_failing_apply(ws: CheckedWorkspace, serve: Serve) -> None:
    service = serve(answer(503, "down"))
    ws.set_policy([breaker_check(service.url)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    first = ws.apply("p1")
    assert_rolled_back(ws, first, old, "health_check_failed")
    assert first.checks[0]["breaker"] == "closed"
    [state] = breakers(ws)
    assert (state["state"], state["failures"]) == ("closed", 1)
    second = ws.apply("p1")
    assert_rolled_back(ws, second, old, "health_check_failed")
    assert second.checks[0]["attempts"] == 1  # the service is called: the breaker was closed
    assert second.checks[0]["failure"] == "unexpected_status"
    assert breakers(ws)[0]["state"] == "open"
    assert moves(ws) == [("closed", "open")]


# -- command checks -------------------------------------------------------------------------


def command_check(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "command": [PYTHON, "-c", script], **extra}


def test_command_check_passing_commits(ws: CheckedWorkspace) -> None:
    script = "import os; print('all good in', os.getcwd())"
    ws.set_policy([command_check("unit", script)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_committed(ws, run, ws.expected_new(old))
    [check] = run.checks
    assert (check["kind"], check["status"], check["attempts"]) == ("command", "passed", 1)
    assert check["failure"] is None
    assert check["message"] == f"{PYTHON} exited 0"
    assert check["output"] == f"all good in {ws.root}"
    assert_trail_has_checks(ws, run)


def test_command_check_failing_keeps_the_output_tail(ws: CheckedWorkspace) -> None:
    script = (
        "import os, sys\n"
        "for n in range(1, 31): print('line', n)\n"
        "print('exec', os.environ['AGENTOS_EXECUTION_ID'], open('src/app.txt').read().strip())\n"
        "sys.exit(3)\n"
    )
    ws.set_policy([command_check("unit", script)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    [check] = run.checks
    assert (check["status"], check["attempts"], check["failure"]) == ("failed", 1, "nonzero_exit")
    assert check["message"] == f"{PYTHON} exited 3"
    # The last 20 lines; the check ran in the workspace, saw the new file and the execution id.
    tail = [f"line {n}" for n in range(12, 31)] + [f"exec {run.result['execution_id']} new"]
    assert check["output"].splitlines() == tail
    [again] = run.post_rollback
    assert again["output"].splitlines()[-1] == f"exec {run.result['execution_id']} old"
    assert_trail_has_checks(ws, run)


def hanging_script(pids: Path) -> str:
    """Starts a grandchild that ignores SIGTERM, notes both pids, and hangs."""
    return (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"with open({str(pids)!r}, 'a') as f: f.write(f'{{os.getpid()}} {{child.pid}}\\n')\n"
        "time.sleep(60)\n"
    )


def test_command_check_timeout_kills_its_process_group(
    ws: CheckedWorkspace, tmp_path: Path
) -> None:
    pids = tmp_path / "pids.txt"
    ws.set_policy([command_check("hang", hanging_script(pids), timeout=1)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    [check] = run.checks
    assert (check["status"], check["failure"]) == ("failed", "timeout")
    assert "timed out after 1s; its process group was killed" in check["message"]
    assert 1 <= check["duration"] < 4
    assert run.post_rollback[0]["failure"] == "timeout"
    # The check and its re-run after the rollback: two leaders and two grandchildren, all gone.
    started = [int(p) for line in pids.read_text().splitlines() for p in line.split()]
    assert len(started) == 4
    assert wait_gone(started) == []
    assert run.seconds < 15
    assert_trail_has_checks(ws, run)


def slow_on_new_content(seconds: int) -> str:
    """Hangs while the workspace holds the new content; passes at once on the old one."""
    return (
        "import sys, time\n"
        f"if open({APP!r}).read() == 'new\\n': time.sleep({seconds})\n"
        "sys.exit(0)\n"
    )


def test_max_execution_time_cuts_a_long_check(ws: CheckedWorkspace) -> None:
    ws.set_policy([command_check("long", slow_on_new_content(30))], max_execution_time=2)
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert run.code == 1, run.doc
    assert run.result["status"] == "rolled_back"
    assert ws.tree() == old
    assert temp_files(ws.root) == []
    [check] = run.checks
    assert (check["status"], check["failure"]) == ("failed", "timeout")
    assert check["duration"] < 3
    assert run.seconds < 10, run.seconds


def test_max_execution_time_is_a_timeout_error(ws: CheckedWorkspace) -> None:
    ws.set_policy([command_check("long", slow_on_new_content(30))], max_execution_time=2)
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert run.code == 1
    assert run.doc["error"]["type"] == "timeout", run.doc["error"]
    assert ws.tree() == old


def test_max_execution_time_bounds_the_post_rollback_run(ws: CheckedWorkspace) -> None:
    script = "import time; time.sleep(5)"
    ws.set_policy([command_check("long", script)], max_execution_time=1)
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert run.code == 1
    assert ws.tree() == old
    assert run.seconds < 1 + 4, run.seconds


# -- post-rollback health -------------------------------------------------------------------


def test_post_rollback_check_passes_on_the_old_tree(ws: CheckedWorkspace) -> None:
    script = f"import sys; sys.exit(0 if open({APP!r}).read() == 'old\\n' else 1)"
    ws.set_policy([command_check("content", script)])
    ws.plan("p1", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "health_check_failed")
    assert run.checks[0]["status"] == "failed"
    assert run.checks[0]["failure"] == "nonzero_exit"
    [again] = run.post_rollback
    assert (again["name"], again["status"], again["attempts"]) == ("content", "passed", 1)
    [recorded] = event_data(ws.root, "health.post_rollback")
    assert recorded == {"ok": True, "checks": run.post_rollback}
    # The re-run sees the restored files (the check above passed only on 'old'), and it is
    # part of the rollback: what it writes is undone before the rollback is recorded finished.
    names = [e["event"] for e in trail(ws.root)]
    assert names.index("health.post_rollback") < names.index("rollback.finished")
    assert_trail_has_checks(ws, run)


# -- syntax checks --------------------------------------------------------------------------


SYNTAX = {
    "json": (
        "src/config.json",
        '{"a": 1}\n',
        '{"a": 1,\n "b": }\n',
        "src/config.json:2: invalid JSON",
    ),
    "python": (
        "src/mod.py",
        "x = 1\n",
        "x = 1\ndef f(:\n    pass\n",
        "src/mod.py:2: Python syntax",
    ),
}


@pytest.mark.parametrize("case", list(SYNTAX))
def test_syntax_error_is_rolled_back(ws: CheckedWorkspace, tmp_path: Path, case: str) -> None:
    path, valid, invalid, named = SYNTAX[case]
    write_tree(ws.root, {path: valid})
    ran = tmp_path / "ran.log"
    script = f"open({str(ran)!r}, 'a').write('ran\\n')"
    ws.set_policy([command_check("after-syntax", script)])
    ws.plan("p1", [{"op": "modify", "path": path, "content": invalid}])
    old = ws.tree()
    run = ws.apply("p1")
    assert_rolled_back(ws, run, old, "verification_failed")
    assert named in run.doc["error"]["message"]
    [verified] = event_data(ws.root, "verify.finished")
    assert verified["ok"] is False
    assert verified["syntax_checks"] is True
    assert named in verified["problems"][0]
    # The health checks never ran: the syntax check already failed.
    assert run.checks == []
    assert not ran.exists()
    assert event_data(ws.root, "health.finished") == []


# -- when_paths -----------------------------------------------------------------------------


def test_when_paths_selects_the_checks(ws: CheckedWorkspace, tmp_path: Path) -> None:
    ran = tmp_path / "ran.log"
    script = f"import sys; open({str(ran)!r}, 'a').write('ran\\n'); sys.exit(1)"
    ws.set_policy([command_check("docs-only", script, when_paths=["docs/**"])])
    ws.plan("src", MODIFY_APP)
    old = ws.tree()
    run = ws.apply("src")
    assert_committed(ws, run, ws.expected_new(old))
    assert run.checks == []
    assert not ran.exists()
    assert event_data(ws.root, "health.finished") == []

    # The same check does run (and fail) for a change under docs/.
    ws.plan("docs", [{"op": "modify", "path": "docs/guide.md", "content": "new guide\n"}])
    before = ws.tree()
    run = ws.apply("docs")
    assert_rolled_back(ws, run, before, "health_check_failed")
    assert [c["name"] for c in run.checks] == ["docs-only"]
    assert ran.read_text() == "ran\n" * 2  # the check and its re-run after the rollback
