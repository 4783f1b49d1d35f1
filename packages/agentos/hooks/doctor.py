"""``agentos doctor``: is every write of every integrated agent really gated by agentos?

After the workspace checks (``agentos.pipeline.doctor``) it reads each agent's settings file,
project and user scope, and for each that runs agentos's hooks checks what the agent would
do: the command's program exists, the pre-write matcher covers the agent's write tools (read
as the agent reads matchers), the timeout outlasts agentos's worst case (a hook that times
out lets the write through in every agent), the post-write and turn hooks are there (undo and
the sweep need them; a warning), and finally a canary: the configured command is run as the
agent runs it — through ``sh -c`` in the workspace, the event JSON on stdin, within the
configured timeout — with a pre-write event for a write agentos always refuses, and its
answer must block in that agent's protocol. Nothing is written, whatever the hook answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import dropwhile
from pathlib import Path

from agentos.clock import rfc3339
from agentos.hooks.canary import (
    Answer,
    canary_environment,
    canary_event,
    classify,
    matcher_covers,
)
from agentos.hooks.httpcanary import (
    endpoint_check,
    headers_sent,
    judge,
    post,
    served_workspace,
)
from agentos.hooks.integrate import (
    AGENTS,
    SCOPES,
    SPECS,
    AgentSpec,
    Installed,
    SettingsError,
    command_words,
    hooks_disabled,
    installed,
    parse_settings,
    settings_path,
)
from agentos.pipeline.context import Context
from agentos.pipeline.doctor import FAIL, OK, WARN, CheckResult, workspace_checks

# The longest doctor waits for a canary answer, whatever the agent would wait.
CANARY_CAP_SECONDS = 60.0
MAX_SETTINGS_BYTES = 16 << 20
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
# How agentos reports a usage error: "agentos: error: ... (see 'agentos hook --help')".
_USAGE_ERROR = re.compile(r"^agentos: error: .*\(see 'agentos[^']*--help'\)", re.MULTILINE)


@dataclass(frozen=True)
class Call:
    """One hook command to run as an agent runs it."""

    argv: tuple[str, ...]
    cwd: Path
    stdin: bytes
    env: Mapping[str, str]
    timeout: float


Runner = Callable[[Call], Answer]


@dataclass(frozen=True)
class Integration:
    """A settings file that runs agentos's hooks for an agent."""

    agent: str
    scope: str
    file: Path
    commands: tuple[str, ...]


@dataclass(frozen=True)
class Diagnosis:
    """Every check doctor made, in order, and the integrations it found."""

    checks: tuple[CheckResult, ...]
    integrations: tuple[Integration, ...]

    @property
    def failures(self) -> int:
        """How many checks failed."""
        return sum(1 for c in self.checks if c.status == FAIL)

    @property
    def warnings(self) -> int:
        """How many checks warned."""
        return sum(1 for c in self.checks if c.status == WARN)


def run_hook(call: Call) -> Answer:
    """Run ``call`` in a process group of its own, killed whole when it runs out of time."""
    try:
        proc = subprocess.Popen(  # noqa: S603 - the agent's own configured hook command
            call.argv,
            cwd=call.cwd,
            env=dict(call.env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return Answer(None, error=f"{call.argv[0]}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(call.stdin, timeout=call.timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Answer(None, _text(out), _text(err), timed_out=True)
    return Answer(proc.returncode, _text(out), _text(err))


def diagnose(
    ctx: Context,
    *,
    home: Path,
    hook_budget_s: float,
    environ: Mapping[str, str] | None = None,
    runner: Runner = run_hook,
) -> Diagnosis:
    """The workspace checks, then every integrated agent's; ``hook_budget_s`` is the longest
    agentos may take to answer a pre-write event."""
    env = dict(os.environ if environ is None else environ)
    checks = list(workspace_checks(ctx))
    found: list[Integration] = []
    seen: set[Path] = set()
    for agent in AGENTS:
        spec = SPECS[agent]
        for scope in SCOPES:
            path = settings_path(spec, scope, root=ctx.workspace.root, home=home)
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            settings, problem = _read(path, spec)
            if problem is not None:
                name = _name(spec, scope, "settings")
                checks.append(CheckResult(name, FAIL, problem, agent, scope))
                continue
            mine = installed(settings, spec) if settings is not None else []
            if settings is None or not mine:
                continue
            commands = tuple(dict.fromkeys(_shown(i) for i in mine))
            found.append(Integration(agent, scope, path, commands))
            probe = _Probe(ctx, spec, scope=scope, env=env, budget=hook_budget_s, runner=runner)
            checks.extend(probe.checks(path, settings, mine))
    if not found:
        checks.append(
            CheckResult(
                "agent hooks",
                WARN,
                "no agent's settings run agentos (project or user scope): agents write without "
                "it; run 'agentos integrate claude|codex|gemini'",
            )
        )
    return Diagnosis(tuple(checks), tuple(found))


class _Probe:
    """The checks of one agent's settings file."""

    def __init__(
        self,
        ctx: Context,
        spec: AgentSpec,
        *,
        scope: str,
        env: dict[str, str],
        budget: float,
        runner: Runner,
    ) -> None:
        self.ctx = ctx
        self.spec = spec
        self.scope = scope
        self.root = ctx.workspace.root
        self.session = f"agentos-doctor-{uuid.uuid4().hex[:12]}"
        self.env = {**env, **canary_environment(spec, self.root, self.session)}
        self.budget = budget
        self.runner = runner

    def result(self, what: str, status: str, detail: str) -> CheckResult:
        name = _name(self.spec, self.scope, what)
        return CheckResult(name, status, detail, self.spec.name, self.scope)

    def checks(
        self, path: Path, settings: Mapping[str, object], mine: list[Installed]
    ) -> Iterator[CheckResult]:
        spec = self.spec
        events = ", ".join(dict.fromkeys(i.event for i in mine))
        disabled = hooks_disabled(settings, spec, str(mine[0].handler.get("command")))
        if disabled is not None:
            yield self.result("settings", FAIL, f"{path}: {disabled}")
        else:
            yield self.result("settings", OK, f"{path}: agentos hooks on {events}")
        missing: dict[str, str] = {}
        for shown in dict.fromkeys(_shown(i) for i in mine):
            entry = next(i for i in mine if _shown(i) == shown)
            if _is_http(entry):
                yield self.result("endpoint", *endpoint_check(entry.handler, self.env))
                continue
            status, detail = self._program(shown, entry)
            if status == FAIL:
                missing[shown] = detail
            yield self.result("command", status, detail)
        pre = [i for i in mine if i.event == spec.pre_write]
        if not pre:
            yield self.result(
                "pre-write hook", FAIL, f"no {spec.pre_write} hook: {spec.title} writes ungated"
            )
            return
        yield self.result("pre-write matcher", *self._coverage(pre, FAIL, "writes run ungated"))
        yield self.result("timeout", *self._timeout(pre))
        post = [i for i in mine if i.event == spec.post_write]
        if post:
            yield self.result("post-write hook", *self._coverage(post, WARN, "not recorded"))
        else:
            yield self.result(
                "post-write hook",
                WARN,
                f"no {spec.post_write} hook: writes are not recorded, so 'agentos rollback' "
                "cannot undo them",
            )
        yield self.result("turn hooks", *self._turns(mine))
        for handler in dict.fromkeys(_shown(i) for i in pre):
            first = next(i for i in pre if _shown(i) == handler)
            if handler in missing:
                yield self.result("canary", FAIL, f"not run: {missing[handler]}")
            elif _is_http(first):
                yield self.result("canary", *self._http_canary(first))
            else:
                yield self.result("canary", *self._canary(first))

    def _program(self, shown: str, entry: Installed) -> tuple[str, str]:
        words = command_words(entry.handler) or []
        if "args" not in entry.handler:
            # A shell command may set variables (VAR=value) before naming its program.
            words = list(dropwhile(lambda w: _ASSIGNMENT.fullmatch(w) is not None, words))
        if not words:
            return FAIL, f"cannot read the command {shown!r}"
        program = _VARIABLE.sub(self._variable, words[0])
        if "/" in program:
            path = Path(program) if Path(program).is_absolute() else self.root / program
            if path.is_file() and os.access(path, os.X_OK):
                return OK, f"{shown!r}: {path}"
            return FAIL, f"command not found or not executable: {path}"
        resolved = shutil.which(program, path=self.env.get("PATH"))
        if resolved is None:
            return FAIL, (
                f"command not on PATH: {program!r} — give the full path with "
                f"'agentos integrate {self.spec.name} --command /path/to/agentos'"
            )
        return OK, f"{shown!r}: {program} is {resolved}"

    def _variable(self, found: re.Match[str]) -> str:
        return self.env.get(found.group(1) or found.group(2), found.group(0))

    def _coverage(self, entries: list[Installed], status: str, why: str) -> tuple[str, str]:
        matchers = [i.matcher for i in entries]
        shown = " / ".join(dict.fromkeys("(none)" if m is None else repr(m) for m in matchers))
        bad = [m for m in matchers if matcher_covers(self.spec, m, "x") is None]
        missed = [
            tool
            for tool in self.spec.write_tools
            if not any(matcher_covers(self.spec, m, tool) for m in matchers)
        ]
        if missed:
            invalid = f" ({shown} is not a valid matcher)" if bad else ""
            return status, f"matcher {shown} misses {', '.join(missed)}{invalid}: those {why}"
        return OK, f"matcher {shown} covers {', '.join(self.spec.write_tools)}"

    def _timeout(self, entries: list[Installed]) -> tuple[str, str]:
        spec = self.spec
        seconds: list[float] = []
        for entry in entries:
            value = entry.handler.get("timeout", entry.handler.get("timeoutSec"))
            if value is None:
                value = spec.default_timeout
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                return FAIL, f"timeout {value!r} is not a number of {spec.unit}"
            if spec.name == "codex":
                if not isinstance(value, int):
                    return FAIL, f"timeout {value!r}: Codex reads whole seconds only, not the file"
                value = max(value, 1)  # Codex waits at least one second
            seconds.append(value * spec.unit_seconds)
        worst = min(seconds)
        shown = f"{worst / spec.unit_seconds:g}{spec.unit}"
        if worst <= self.budget:
            return FAIL, (
                f"timeout {shown} is not longer than agentos's worst case to answer "
                f"({self.budget:g}s): {spec.title} would give up and let the write through"
            )
        return OK, f"{shown}, longer than agentos's worst case ({self.budget:g}s)"

    def _turns(self, mine: list[Installed]) -> tuple[str, str]:
        spec = self.spec
        have = {i.event for i in mine}
        missing = [e for e in (spec.turn_start, spec.turn_end) if e not in have]
        if missing:
            return WARN, (
                f"no {' / '.join(missing)} hook: writes that bypass agentos are not swept "
                "at the turn's edges"
            )
        return OK, f"{spec.turn_start} and {spec.turn_end}"

    def _waited(self, entry: Installed) -> tuple[float, float]:
        """How long the agent waits for ``entry`` (seconds), and how long doctor waits."""
        value = entry.handler.get("timeout", entry.handler.get("timeoutSec"))
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        limit = (
            number if number is not None else self.spec.default_timeout
        ) * self.spec.unit_seconds
        return limit, min(max(limit, 0.001), CANARY_CAP_SECONDS)

    def _http_canary(self, entry: Installed) -> tuple[str, str]:
        """The canary POSTed as Claude Code would post it, read as Claude Code reads it."""
        _limit, waited = self._waited(entry)
        url = str(entry.handler.get("url"))
        headers = headers_sent(entry.handler, self.env)
        event = canary_event(
            self.spec, self.root, session=self.session, now=rfc3339(self.ctx.clock())
        )
        started = time.monotonic()
        posted = post(url, json.dumps(event).encode("utf-8"), headers, waited)
        took = time.monotonic() - started
        status, detail = judge(self.spec, entry.handler, posted, waited=waited)
        if status != OK:
            return status, detail
        served = served_workspace(url, headers, waited)
        if served is not None and served.resolve() != self.root.resolve():
            return FAIL, (
                f"the server at {url} serves {served}, not this workspace: it judges every "
                "write here as outside its workspace — run 'agentos serve -C' here"
            )
        return OK, f"{detail} in {took:.2f}s"

    def _canary(self, entry: Installed) -> tuple[str, str]:
        spec = self.spec
        limit, waited = self._waited(entry)
        event = canary_event(spec, self.root, session=self.session, now=rfc3339(self.ctx.clock()))
        words = command_words(entry.handler) or []
        command = entry.handler.get("command")
        argv = tuple(words) if "args" in entry.handler else ("sh", "-c", str(command))
        call = Call(argv, self.root, json.dumps(event).encode("utf-8"), self.env, waited)
        started = time.monotonic()
        answer = self.runner(call)
        took = time.monotonic() - started
        verdict = classify(spec, answer, waited=waited)
        capped = " (doctor's limit)" if waited < limit and answer.timed_out else ""
        if answer.exit_code == 2 and _USAGE_ERROR.search(answer.stderr):
            # agentos's own usage error (an agentos without 'hook', a mistyped command) exits
            # 2 too: the agent would block every write, allowed ones included.
            line = answer.stderr.strip().splitlines()[0]
            return FAIL, (
                f"fails with a usage error instead of answering ({line}): {spec.title} would "
                "block every write, allowed ones too"
            )
        if verdict.blocks:
            return OK, f"{verdict.detail} in {took:.2f}s"
        return FAIL, f"{verdict.detail}{capped}"


def _read(path: Path, spec: AgentSpec) -> tuple[dict[str, object] | None, str | None]:
    """A settings file's object (None when absent), or what is wrong with it."""
    try:
        if path.stat().st_size > MAX_SETTINGS_BYTES:
            return None, f"{path} is larger than any settings file"
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"
    try:
        return parse_settings(data), None
    except SettingsError as exc:
        # Gemini CLI strips comments from its settings; the others read plain JSON only.
        agent = "" if spec.name == "gemini" else f", and {spec.title} cannot read it either"
        return None, f"{path} {exc}: doctor cannot check its hooks{agent}"


def _name(spec: AgentSpec, scope: str, what: str) -> str:
    return f"{spec.name} ({scope}): {what}"


def _is_http(entry: Installed) -> bool:
    return entry.handler.get("type") == "http"


def _shown(entry: Installed) -> str:
    """The command as the user wrote it (exec form: the command and its args); an http
    handler's URL."""
    if _is_http(entry):
        return str(entry.handler.get("url"))
    words = command_words(entry.handler)
    if "args" in entry.handler and words:
        return " ".join(words)
    return str(entry.handler.get("command"))


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")
