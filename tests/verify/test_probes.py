"""Health-check probes against real processes and a real HTTP server, and the fan-in runner.

An HTTP server on 127.0.0.1 (``ThreadingHTTPServer`` in a thread, started here) answers 200
"ok", 500, 200 with another body, too slowly, or by trickling its answer one byte every
0.2 s for far longer than the timeout; a bound but not listening port refuses connections.
``run_http`` classifies each answer, and its overall deadline holds against the trickle; a
proxy in the environment is not used for loopback. ``run_command`` captures the last 20
lines, reports exit codes and missing commands, and on timeout or ``stop`` kills the whole
process group (a backgrounded grandchild included); in a reaping stage it also kills what a
command that exits 0 left in the background, and outside one the command's environment carries
no mark (``test_reaper.py`` has the daemons that call setsid). ``run_file`` tests presence,
absence and parsing and refuses ``..``. ``run_checks`` runs checks in parallel, keeps their
order, and retries exactly the failure kinds ``retry_on`` lists. Run time: about 8 s.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from shlex import quote
from typing import Any

import pytest
from pydantic import ValidationError

from agentos.verify import reaper
from agentos.verify.breaker import Breaker
from agentos.verify.health import HealthEnvironment, run_checks
from agentos.verify.probes import run_command, run_file, run_http
from agentos.verify.retry import delays
from agentos.verify.spec import FileProbe, HealthCheckSpec, HttpProbe
from helpers import command_env, is_running

TRICKLE_INTERVAL = 0.2
SLOW_SECONDS = 5.0


def never() -> str | None:
    return None


# --- the HTTP server -------------------------------------------------------------------------


@dataclass
class Server:
    """The test server's address and what it saw."""

    port: int
    dead_port: int
    closing: threading.Event
    trickled: list[int] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def make_handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            server.requests.append(self.path)
            try:
                self.route()
            except OSError:  # the client gave up (timeout, stop); nothing to answer
                self.close_connection = True

        do_HEAD = do_GET

        def route(self) -> None:
            if self.path == "/ok":
                self.answer(200, b"ok")
            elif self.path == "/fail":
                self.answer(500, b"internal error: database unreachable")
            elif self.path == "/other":
                self.answer(200, b"maintenance mode")
            elif self.path == "/created":
                self.answer(201, b"ok, created")
            elif self.path == "/slow":
                server.closing.wait(SLOW_SECONDS)
                self.answer(200, b"ok, finally")
            elif self.path == "/trickle":
                self.trickle()
            else:
                self.answer(404, b"no such path")

        def trickle(self) -> None:
            body = b"ok" * 500
            raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            for sent, byte in enumerate(raw, 1):  # about 200 s at 0.2 s a byte
                if server.closing.wait(TRICKLE_INTERVAL):
                    break
                self.connection.sendall(bytes([byte]))
                server.trickled.append(sent)
            self.close_connection = True

    return Handler


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as dead:
        dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        server = Server(port=0, dead_port=dead.getsockname()[1], closing=threading.Event())
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(server))
        server.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield server
        finally:
            server.closing.set()
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    for key in ("NO_PROXY", "no_proxy", "all_proxy"):
        monkeypatch.delenv(key, raising=False)


def http(url: str, **extra: Any) -> HttpProbe:
    return HttpProbe.model_validate({"url": url, **extra})


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    value = call()
    return value, time.monotonic() - started


# --- run_http --------------------------------------------------------------------------------


def test_http_ok(http_server: Server) -> None:
    outcome = run_http(http(http_server.url("/ok"), body_contains="ok"), timeout=5, stop=never)
    assert outcome.ok
    assert outcome.failure is None
    assert outcome.message == f"{http_server.url('/ok')}: status 200"


def test_http_head(http_server: Server) -> None:
    outcome = run_http(http(http_server.url("/ok"), method="HEAD"), timeout=5, stop=never)
    assert outcome.ok


def test_http_unexpected_status(http_server: Server) -> None:
    outcome = run_http(http(http_server.url("/fail")), timeout=5, stop=never)
    assert not outcome.ok
    assert outcome.failure == "unexpected_status"
    assert "status 500" in outcome.message
    assert "expected 200" in outcome.message
    assert outcome.output == "internal error: database unreachable"


def test_http_body_mismatch(http_server: Server) -> None:
    outcome = run_http(http(http_server.url("/other"), body_contains="ok"), timeout=5, stop=never)
    assert not outcome.ok
    assert outcome.failure == "unexpected_status"
    assert "does not contain 'ok'" in outcome.message
    assert outcome.output == "maintenance mode"


def test_http_expect_status_list(http_server: Server) -> None:
    probe = http(http_server.url("/created"), expect_status=[200, 201, 204])
    assert run_http(probe, timeout=5, stop=never).ok
    outcome = run_http(
        http(http_server.url("/fail"), expect_status=[200, 201]), timeout=5, stop=never
    )
    assert outcome.failure == "unexpected_status"
    assert "status 500, expected 200 or 201" in outcome.message
    assert not run_http(http(http_server.url("/ok"), expect_status=[201]), timeout=5, stop=never).ok


def test_http_connection_refused(http_server: Server) -> None:
    url = f"http://127.0.0.1:{http_server.dead_port}/health"
    outcome, elapsed = timed(lambda: run_http(http(url), timeout=5, stop=never))
    assert not outcome.ok
    assert outcome.failure == "connection_error"
    assert "refused" in outcome.message.lower()
    assert elapsed < 2


def test_http_slow_answer_times_out(http_server: Server) -> None:
    outcome, elapsed = timed(
        lambda: run_http(http(http_server.url("/slow")), timeout=0.5, stop=never)
    )
    assert not outcome.ok
    assert outcome.failure == "timeout"
    assert 0.4 <= elapsed < 1.5


def test_trickling_server_cannot_stretch_the_deadline(http_server: Server) -> None:
    before = len(http_server.trickled)
    outcome, elapsed = timed(
        lambda: run_http(http(http_server.url("/trickle")), timeout=1.0, stop=never)
    )
    assert not outcome.ok
    assert outcome.failure == "timeout"
    assert "no complete answer within 1s" in outcome.message
    assert elapsed < 2.0
    # The server really was trickling (several bytes, each well inside the socket timeout).
    assert len(http_server.trickled) - before >= 3


def test_stop_cuts_a_trickling_request_short(http_server: Server) -> None:
    started = time.monotonic()

    def stop() -> str | None:
        return "abort requested" if time.monotonic() - started > 0.5 else None

    outcome, elapsed = timed(
        lambda: run_http(http(http_server.url("/trickle")), timeout=30, stop=stop)
    )
    assert outcome.failure == "timeout"
    assert outcome.stopped == "abort requested"
    assert "stopped (abort requested)" in outcome.message
    assert elapsed < 1.5


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_proxy_in_environment_is_ignored_for_loopback(
    http_server: Server, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    proxy = f"http://127.0.0.1:{http_server.dead_port}"
    for key in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(key, proxy)
    url = f"http://{host}:{http_server.port}/ok"
    assert run_http(http(url), timeout=5, stop=never).ok


def test_proxy_in_environment_is_used_for_other_hosts(
    http_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Control for the loopback test: the proxy setting is in effect (and dead) for other hosts,
    # so the request fails connecting to the proxy (no DNS lookup, no network).
    for key in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(key, f"http://127.0.0.1:{http_server.dead_port}")
    outcome = run_http(http("http://service.invalid/health"), timeout=5, stop=never)
    assert outcome.failure == "connection_error"
    assert "refused" in outcome.message.lower()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/health",
        "http://127.0.0.1:port/health",
        "http://[::1/health",
    ],
)
def test_malformed_url_is_refused_or_fails_cleanly(url: str) -> None:
    try:
        probe = http(url)
    except ValidationError:
        return  # refused by the policy model: fine
    outcome = run_http(probe, timeout=2, stop=never)
    assert not outcome.ok


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/caf\u00e9", {}), ("/ok", {"X-Token": "\u20ac"})],
    ids=["path", "header"],
)
def test_unencodable_request_fails_cleanly(
    http_server: Server, path: str, headers: dict[str, str]
) -> None:
    """The policy model refuses what cannot be sent; forced past it, the probe still fails
    cleanly instead of raising."""
    with pytest.raises(ValidationError):
        http(http_server.url(path), headers=headers)
    forced = HttpProbe.model_construct(
        url=http_server.url(path),
        method="GET",
        expect_status=200,
        body_contains=None,
        headers=headers,
    )
    outcome = run_http(forced, timeout=2, stop=never)
    assert not outcome.ok


# --- run_command -----------------------------------------------------------------------------


def gone_soon(pid: int, within: float = 2.0) -> bool:
    end = time.monotonic() + within
    while is_running(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


@contextlib.contextmanager
def reaping(pidfile: Path) -> Iterator[None]:
    """Kill whatever pid ``pidfile`` names if the test fails, so no orphan outlives it."""
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(pidfile.read_text())
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)


def test_command_exit_zero_captures_last_20_lines(tmp_path: Path) -> None:
    code = (
        "import sys\nfor i in range(1, 31):\n    print(f'line {i}')\nprint('err', file=sys.stderr)"
    )
    outcome = run_command(
        [sys.executable, "-u", "-c", code], cwd=tmp_path, timeout=20, stop=never, env=command_env()
    )
    assert outcome.ok
    assert outcome.message == f"{sys.executable} exited 0"
    assert outcome.output.splitlines() == [f"line {i}" for i in range(12, 31)] + ["err"]


def test_command_large_output_keeps_the_tail(tmp_path: Path) -> None:
    code = "for i in range(200_000):\n    print(f'row {i}')"
    outcome = run_command(
        [sys.executable, "-c", code], cwd=tmp_path, timeout=30, stop=never, env=command_env()
    )
    assert outcome.ok
    assert outcome.output.splitlines() == [f"row {i}" for i in range(199_980, 200_000)]


def test_command_runs_in_cwd_with_the_given_env(tmp_path: Path) -> None:
    env = {**command_env(), "PROBE_VALUE": "42"}
    outcome = run_command(
        ["sh", "-c", 'pwd; echo "v=$PROBE_VALUE"'], cwd=tmp_path, timeout=20, stop=never, env=env
    )
    assert outcome.ok
    assert outcome.output.splitlines() == [str(tmp_path), "v=42"]


def test_command_nonzero_exit(tmp_path: Path) -> None:
    outcome = run_command(
        ["sh", "-c", "echo broken; exit 3"], cwd=tmp_path, timeout=20, stop=never, env=command_env()
    )
    assert not outcome.ok
    assert outcome.failure == "nonzero_exit"
    assert outcome.message == "sh exited 3"
    assert outcome.output == "broken"


def test_command_killed_by_a_signal_is_a_failure(tmp_path: Path) -> None:
    outcome = run_command(
        ["sh", "-c", "kill -KILL $$"], cwd=tmp_path, timeout=20, stop=never, env=command_env()
    )
    assert not outcome.ok
    assert outcome.failure == "nonzero_exit"
    assert outcome.message == "sh exited -9"


def test_command_not_found(tmp_path: Path) -> None:
    outcome = run_command(
        ["agentos-no-such-command-xyz", "--flag"],
        cwd=tmp_path,
        timeout=20,
        stop=never,
        env=command_env(),
    )
    assert not outcome.ok
    assert outcome.failure == "nonzero_exit"
    assert "cannot run 'agentos-no-such-command-xyz'" in outcome.message
    assert "No such file or directory" in outcome.message


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 30 & echo $! > {quote(str(pidfile))}; echo started; sleep 30"
    with reaping(pidfile):
        outcome, elapsed = timed(
            lambda: run_command(
                ["sh", "-c", script], cwd=tmp_path, timeout=1.0, stop=never, env=command_env()
            )
        )
        assert not outcome.ok
        assert outcome.failure == "timeout"
        assert outcome.stopped is None
        assert outcome.message == "sh: timed out after 1s; its process group was killed"
        assert outcome.output == "started"
        assert elapsed < 3.0
        grandchild = int(pidfile.read_text())
        assert gone_soon(grandchild), f"grandchild {grandchild} outlived the timeout"


def test_timeout_kills_a_group_that_ignores_sigterm(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"trap '' TERM; sleep 30 & echo $! > {quote(str(pidfile))}; sleep 30"
    with reaping(pidfile):
        outcome, elapsed = timed(
            lambda: run_command(
                ["sh", "-c", script], cwd=tmp_path, timeout=0.5, stop=never, env=command_env()
            )
        )
        assert outcome.failure == "timeout"
        assert elapsed < 3.0  # timeout + SIGTERM grace + SIGKILL
        assert gone_soon(int(pidfile.read_text()))


def test_stop_cuts_a_long_command_short(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {quote(str(pidfile))}; sleep 60"
    asked: list[float] = []

    def stop() -> str | None:
        if pidfile.exists() and pidfile.read_text().strip():
            if not asked:
                asked.append(time.monotonic())
            return "abort requested"
        return None

    with reaping(pidfile):
        outcome = run_command(
            ["sh", "-c", script], cwd=tmp_path, timeout=60, stop=stop, env=command_env()
        )
        returned = time.monotonic()
        assert asked
        assert returned - asked[0] < 0.5
        assert not outcome.ok
        assert outcome.stopped == "abort requested"
        assert outcome.failure == "timeout"
        assert "stopped (abort requested)" in outcome.message
        assert gone_soon(int(pidfile.read_text()))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reaping needs Linux /proc")
def test_command_in_a_reaping_stage_leaves_no_background_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 30 & echo $! > {quote(str(pidfile))}; echo started"
    with reaping(pidfile), reaper.reaping() as stage:
        outcome = run_command(
            ["sh", "-c", script],
            cwd=tmp_path,
            timeout=20,
            stop=never,
            env=command_env(),
            reaper=stage,
        )
        assert outcome.ok
        assert outcome.output == "started"
        # Gone as the command ended, not only when the stage ends.
        assert not is_running(int(pidfile.read_text()))


def test_command_without_a_reaper_gets_no_mark(tmp_path: Path) -> None:
    script = f'echo "[${{{reaper.MARK_VARIABLE}-}}]"'
    outcome = run_command(
        ["sh", "-c", script], cwd=tmp_path, timeout=20, stop=never, env=command_env()
    )
    assert outcome.output == "[]"


# --- run_file --------------------------------------------------------------------------------


def test_file_exists_absent_and_parses(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "app.yaml").write_text("a: 1\n", "utf-8")
    (tmp_path / "config" / "bad.json").write_text("{", "utf-8")

    def probe(**spec: Any) -> FileProbe:
        return FileProbe.model_validate(spec)

    ok = run_file(probe(path="config/app.yaml"), root=tmp_path)
    assert (ok.ok, ok.message) == (True, "config/app.yaml is present")
    parsed = run_file(probe(path="config/app.yaml", parses=True), root=tmp_path)
    assert (parsed.ok, parsed.message) == (True, "config/app.yaml is present and parses")
    missing = run_file(probe(path="config/missing.yaml"), root=tmp_path)
    assert (missing.ok, missing.failure) == (False, "file")
    assert missing.message == "config/missing.yaml does not exist"
    absent = run_file(probe(path="config/missing.yaml", exists=False), root=tmp_path)
    assert (absent.ok, absent.message) == (True, "config/missing.yaml is absent")
    present = run_file(probe(path="config/app.yaml", exists=False), root=tmp_path)
    assert (present.ok, present.message) == (False, "config/app.yaml exists and should be absent")
    bad = run_file(probe(path="config/bad.json", parses=True), root=tmp_path)
    assert not bad.ok
    assert bad.message.startswith("config/bad.json:1: invalid JSON: ")
    # Without parses=True an unparsable file only has to exist.
    assert run_file(probe(path="config/bad.json"), root=tmp_path).ok
    # A directory is not a file.
    assert not run_file(probe(path="config"), root=tmp_path).ok


@pytest.mark.parametrize("exists", [True, False])
@pytest.mark.parametrize("path", ["../outside.txt", "config/../../outside.txt", "/etc/hostname"])
def test_file_path_escaping_the_workspace_is_refused(
    tmp_path: Path, path: str, exists: bool
) -> None:
    root = tmp_path / "ws"
    (root / "config").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("secret", "utf-8")
    outcome = run_file(FileProbe(path=path, exists=exists), root=root)
    assert not outcome.ok
    assert outcome.failure == "file"
    assert outcome.message.startswith(repr(path))
    if ".." in path:
        assert "'..'" in outcome.message


# --- run_checks: fan-in, order, retries ------------------------------------------------------


def environment(root: Path, **extra: Any) -> HealthEnvironment:
    return HealthEnvironment(root=root, default_timeout=20.0, env=command_env(), **extra)


def command_check(name: str, argv: list[str], **extra: Any) -> HealthCheckSpec:
    return HealthCheckSpec.model_validate({"name": name, "command": argv, **extra})


def test_checks_run_in_parallel(tmp_path: Path) -> None:
    checks = [command_check(f"sleep-{i}", ["sleep", "1"]) for i in range(4)]
    (results, transitions), elapsed = timed(lambda: run_checks(checks, {}, environment(tmp_path)))
    assert [r.status for r in results] == ["passed"] * 4
    assert transitions == []
    assert elapsed < 2.5  # serially it would take 4 s


def test_results_keep_the_order_of_the_checks(tmp_path: Path) -> None:
    sleeps = ["0.6", "0", "0.3", "0.1", "0.45"]
    checks = [command_check(f"c{i}", ["sleep", s]) for i, s in enumerate(sleeps)]
    checks.append(HealthCheckSpec.model_validate({"name": "file", "file": {"path": "none"}}))
    results, _ = run_checks(checks, {}, environment(tmp_path))
    assert [r.name for r in results] == [c.name for c in checks]
    assert [r.kind for r in results] == ["command"] * 5 + ["file"]
    assert [r.status for r in results] == ["passed"] * 5 + ["failed"]


def counting_command(calls: Path, exit_code: int) -> list[str]:
    return ["sh", "-c", f"echo call >> {quote(str(calls))}; exit {exit_code}"]


def test_always_failing_check_is_called_exactly_max_attempts_times(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    slept: list[float] = []
    clock = [0.0]
    seed = 7
    rng, oracle = (random.Random(seed) for _ in range(2))  # noqa: S311 - jitter, not secrets

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    retry = {"strategy": "exponential", "max_attempts": 4, "base_delay": 0.5, "jitter": "full"}
    check = command_check("flaky", counting_command(calls, 1), retry=retry)
    env = environment(tmp_path, sleep=sleep, monotonic=lambda: clock[0], rng=rng)
    breakers: dict[str, Breaker] = {}
    results, _ = run_checks([check], breakers, env)
    assert calls.read_text().splitlines() == ["call"] * 4
    (result,) = results
    assert (result.status, result.attempts, result.failure) == ("failed", 4, "nonzero_exit")
    # The waits between the attempts are exactly retry.delays() for the same seed.
    assert sum(slept) == pytest.approx(sum(delays(check.retry.policy(), oracle)))


def test_failure_kind_not_in_retry_on_is_not_retried(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    retry = {"max_attempts": 5, "base_delay": 0.0, "retry_on": ["timeout", "connection_error"]}
    check = command_check("once", counting_command(calls, 2), retry=retry)
    results, _ = run_checks([check], {}, environment(tmp_path))
    assert calls.read_text().splitlines() == ["call"]
    assert (results[0].status, results[0].attempts) == ("failed", 1)
    assert results[0].message == "sh exited 2"


def test_retryable_timeout_is_retried(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    retry = {"max_attempts": 2, "base_delay": 0.0, "retry_on": ["timeout"]}
    check = command_check(
        "slow",
        ["sh", "-c", f"echo call >> {quote(str(calls))}; sleep 30"],
        timeout=0.3,
        retry=retry,
    )
    results, _ = run_checks([check], {}, environment(tmp_path))
    assert calls.read_text().splitlines() == ["call"] * 2
    assert (results[0].status, results[0].attempts, results[0].failure) == ("failed", 2, "timeout")


def test_check_that_recovers_passes_on_a_later_attempt(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    counted = quote(str(calls))
    script = f'echo call >> {counted}; test "$(wc -l < {counted})" -ge 3'
    check = command_check(
        "warming-up", ["sh", "-c", script], retry={"max_attempts": 5, "base_delay": 0.0}
    )
    results, _ = run_checks([check], {}, environment(tmp_path))
    assert (results[0].status, results[0].attempts) == ("passed", 3)
    assert calls.read_text().splitlines() == ["call"] * 3


def test_no_retries_when_retries_are_off(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    check = command_check(
        "post-rollback", counting_command(calls, 1), retry={"max_attempts": 3, "base_delay": 0.0}
    )
    results, _ = run_checks([check], {}, environment(tmp_path), retries=False)
    assert results[0].attempts == 1
    assert calls.read_text().splitlines() == ["call"]


def test_http_check_through_run_checks(http_server: Server, tmp_path: Path) -> None:
    checks = [
        HealthCheckSpec.model_validate({"name": "api", "http": {"url": http_server.url("/ok")}}),
        HealthCheckSpec.model_validate(
            {
                "name": "down",
                "http": {"url": http_server.url("/fail")},
                "retry": {"max_attempts": 1},
            }
        ),
    ]
    results, _ = run_checks(checks, {}, environment(tmp_path))
    assert [(r.name, r.status, r.failure) for r in results] == [
        ("api", "passed", None),
        ("down", "failed", "unexpected_status"),
    ]
