"""Shared test helpers: where things are, git, trees built from dicts and read back, plans
materialised, processes watched.

``tests/`` is on ``sys.path`` (pytest's ``pythonpath``), so every test module imports these
as ``from helpers import ...``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
import yaml

from agentos.gitrun import GitOutput, GitRunner
from agentos.model import ChangePlan

if TYPE_CHECKING:
    from agentos.executor.fsops import FileState, WorkspaceWriter
    from agentos.executor.journal import Journal

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
CODEX_SCENARIOS = SHARED / "conformance" / "codex-apply-patch" / "scenarios"
# For planner tests: every safe path allowed, nothing needs approval (path-safety still holds).
PERMISSIVE_POLICY = REPO_ROOT / "tests" / "data" / "permissive-policy.yaml"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "agentos tests",
    "GIT_AUTHOR_EMAIL": "tests@agentos.invalid",
    "GIT_COMMITTER_NAME": "agentos tests",
    "GIT_COMMITTER_EMAIL": "tests@agentos.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

Tree = dict[str, tuple[bytes, str]]


# -- test data beside the repository ----------------------------------------------------------


def missing_data_message(directory: Path) -> str:
    """What a test reading ``directory`` (test data kept beside the repository, in
    ``../shared``) says when it is not there."""
    shown = os.path.relpath(directory, REPO_ROOT)
    return f"{shown} not found: clone the shared test data beside the repository"


def missing_data_reason(directory: Path) -> str | None:
    """The skip reason of tests that read ``directory``, or None when it is there."""
    return None if directory.is_dir() else missing_data_message(directory)


def data_dirs(directory: Path) -> list[Any]:
    """The folders in ``directory``, sorted, as test parameters; when ``directory`` is
    missing, a single parameter skipped with ``missing_data_reason`` (a test parametrized
    over nothing would be collected as nothing, silently)."""
    reason = missing_data_reason(directory)
    if reason is not None:
        return [pytest.param(directory, marks=pytest.mark.skip(reason=reason), id="missing")]
    return sorted(p for p in directory.iterdir() if p.is_dir())


# -- git ---------------------------------------------------------------------------------------


def git_available() -> bool:
    """True where a git executable is installed."""
    return shutil.which("git") is not None


needs_git = pytest.mark.skipif(not git_available(), reason="git is not installed")


def run_git(cwd: Path, *args: str, check: bool = True, input_bytes: bytes | None = None) -> bytes:
    """Run git in ``cwd`` with the hermetic identity; return stdout."""
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "core.quotepath=true", *args],
        cwd=cwd,
        env=env,
        input=input_bytes,
        capture_output=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


class FakeGit:
    """A fake ``GitRunner``: answers a command (its first argument) from ``answers``, else
    hands it to ``fallback`` (the real git, say), else answers success with no output;
    ``calls`` records every command's arguments, ``configs`` its settings."""

    def __init__(
        self, answers: Mapping[str, GitOutput] | None = None, *, fallback: GitRunner | None = None
    ) -> None:
        self.answers = dict(answers or {})
        self.fallback = fallback
        self.calls: list[tuple[str, ...]] = []
        self.configs: list[tuple[str, ...]] = []

    def __call__(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
        config: Sequence[str] = (),
        limit: int | None = None,
    ) -> GitOutput:
        self.calls.append(tuple(args))
        self.configs.append(tuple(config))
        if args[0] in self.answers or self.fallback is None:
            return self.answers.get(args[0], GitOutput(0, b"", b""))
        return self.fallback(args, cwd=cwd, stdin=stdin, env=env, config=config, limit=limit)


# -- the in-process CLI ------------------------------------------------------------------------


@dataclass
class CliResult:
    """Exit code and captured streams of one in-process CLI run (the ``cli`` fixture)."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The JSON document on stdout."""
        return json.loads(self.out)


def run_here(*argv: str | Path) -> tuple[int, str, str]:
    """Run the CLI in this process: exit code, stdout, stderr."""
    from agentos.cli.entry import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


Cli = Callable[..., CliResult]


def run_cli(*args: str | Path) -> tuple[int, dict[str, Any], str]:
    """Run ``agentos ... --json`` in this process: exit code, the JSON document, stderr."""
    code, out, err = run_here(*args, "--json")
    assert "Traceback" not in err, err
    return code, json.loads(out), err


def policy_with_executor(tmp_path: Path, **executor: Any) -> Path:
    """The permissive test policy with some ``executor`` keys changed (kept outside ws)."""
    doc = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    doc["executor"].update(executor)
    path = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*')))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def cli_plan(
    cli: Cli,
    ws: Path,
    plan_id: str,
    changes: list[dict[str, str]],
    *,
    policy: Path = PERMISSIVE_POLICY,
    output: Path | None = None,
) -> Path:
    """Plan a manifest of ``changes`` under ``plan_id`` through ``cli``; return the plan file."""
    manifest = ws.parent / f"manifest-{plan_id}-{len(list(ws.parent.glob('manifest-*')))}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    extra = ("-o", output) if output is not None else ()
    res = cli(
        "plan", manifest, "-C", ws, "--plan-id", plan_id, "--policy", policy, "--json", *extra
    )
    assert res.code == 0, res.out + res.err
    return Path(res.json()["result"]["plan_file"])


def cli_apply(cli: Cli, ws: Path, *refs: str | Path, policy: Path = PERMISSIVE_POLICY) -> CliResult:
    """``agentos apply REFS`` through ``cli``: no traceback, an envelope that fits the code."""
    res = cli("apply", *refs, "-C", ws, "--policy", policy, "--json")
    assert "Traceback" not in res.err
    assert res.json()["exit_code"] == res.code
    return res


def cli_rollback(
    cli: Cli, ws: Path, execution_id: str, *, policy: Path = PERMISSIVE_POLICY
) -> CliResult:
    """``agentos rollback EXECUTION_ID`` through ``cli``, checked like ``cli_apply``."""
    res = cli("rollback", execution_id, "-C", ws, "--policy", policy, "--json")
    assert "Traceback" not in res.err
    assert res.json()["exit_code"] == res.code
    return res


# -- trees -------------------------------------------------------------------------------------


def write_tree(root: Path, files: Mapping[str, bytes | str | tuple[bytes | str, str]]) -> None:
    """Create ``files`` under ``root``; a value may be ``(content, "100755")``."""
    for rel, value in files.items():
        content, mode = value if isinstance(value, tuple) else (value, "100644")
        data = content.encode() if isinstance(content, str) else content
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if mode == "100755" else 0o644)


def read_tree(root: Path, *, skip: tuple[str, ...] = (".git", ".agentos")) -> Tree:
    """Every regular file under ``root`` as ``{relpath: (bytes, mode)}``."""
    tree: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts and rel_dir.parts[0] in skip:
            continue
        dirnames[:] = [d for d in dirnames if not (not rel_dir.parts and d in skip)]
        for name in filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
            tree[(rel_dir / name).as_posix()] = (path.read_bytes(), mode)
    return tree


def materialise(plan: ChangePlan, root: Path) -> None:
    """Apply ``plan`` to the files under ``root`` (a test stand-in for the executor).

    Checks every pre-image first; removes directories a deletion leaves empty, as git does.
    """
    from agentos.digest import sha256_hex

    changes = plan.changeset.changes
    for change in changes:
        if change.op == "create":
            assert not (root / change.path).exists(), change.path
        else:
            old = change.from_path if change.op == "rename" else change.path
            assert sha256_hex((root / old).read_bytes()) == change.old_sha256, old
    for change in changes:
        if change.op in ("delete", "rename"):
            old = change.from_path if change.op == "rename" else change.path
            (root / old).unlink()
            parent = (root / old).parent
            while parent != root and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    for change in changes:
        if change.op == "delete":
            continue
        path = root / change.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(change.content.to_bytes())
        path.chmod(0o755 if change.mode == "100755" else 0o644)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory (used to keep an untouched reference)."""
    shutil.copytree(src, dst, symlinks=True)


# A tree as compared by the crash and race tests: every file's bytes and permission bits, every
# directory's bits ("other" for anything that is neither).
Snapshot = dict[str, tuple[str, bytes, int]]


def snapshot(root: Path, *, skip_temps: bool = False) -> Snapshot:
    """Files and directories under ``root`` (without ``.agentos``), by relative path."""
    tree: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == root:
            dirnames[:] = [d for d in dirnames if d != ".agentos"]
        for name in dirnames:
            path = here / name
            info = path.lstat()
            kind = "dir" if stat.S_ISDIR(info.st_mode) else "other"
            tree[path.relative_to(root).as_posix()] = (kind, b"", stat.S_IMODE(info.st_mode))
        for name in filenames:
            if skip_temps and name.startswith(".agentos-") and name.endswith(".tmp"):
                continue
            path = here / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                entry = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode))
            else:
                entry = ("other", b"", stat.S_IMODE(info.st_mode))
            tree[path.relative_to(root).as_posix()] = entry
    return tree


def temp_files(root: Path) -> list[str]:
    """Executor temp files anywhere under ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(TEMP_GLOB))


# -- the installed agentos in a subprocess ----------------------------------------------------

AGENTOS = Path(sys.executable).with_name("agentos")
PYTHON = sys.executable
needs_agentos = pytest.mark.skipif(
    not AGENTOS.exists(), reason="agentos is not installed in the venv"
)
FAULT_VARS = ("AGENTOS_FAULTS", "AGENTOS_FAULTS_DIR", "AGENTOS_FAULTS_TRACE")
TEMP_GLOB = ".agentos-*.tmp"


def environment(**extra: str) -> dict[str, str]:
    """The environment of a child ``agentos``: this one without fault injection, with the
    hermetic git identity, no colour and 120 columns, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in FAULT_VARS}
    return {**env, **GIT_ENV, "NO_COLOR": "1", "COLUMNS": "120", **extra}


@dataclass
class Run:
    """One finished ``agentos ... --json``: exit code, envelope, stderr, seconds it took."""

    code: int
    doc: dict[str, Any]
    err: str = ""
    seconds: float = 0.0

    @property
    def result(self) -> dict[str, Any]:
        return dict(self.doc["result"])

    @property
    def checks(self) -> list[dict[str, Any]]:
        return list(self.result["checks"])

    @property
    def post_rollback(self) -> list[dict[str, Any]]:
        return list(self.result["post_rollback"])


def finished(code: int, out: bytes, err: bytes, *, seconds: float = 0.0) -> Run:
    """What every ``--json`` run must satisfy: stdout is exactly one envelope that agrees
    with the exit code, and stderr carries no traceback."""
    stderr = err.decode()
    assert "Traceback" not in stderr, stderr
    doc = json.loads(out)
    assert doc["agentos"] == "1"
    assert doc["exit_code"] == code
    assert doc["ok"] is (code == 0)
    return Run(code, doc, stderr, seconds)


def agentos(*args: str | Path, cwd: Path, timeout: float = 120, **env: str) -> Run:
    """Run the installed script in ``cwd`` with ``--json`` (``env`` added to its
    environment) and check what every run must satisfy."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(AGENTOS), *map(str, args), "--json"],
        cwd=cwd,
        env=environment(**env),
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    return finished(proc.returncode, proc.stdout, proc.stderr, seconds=time.monotonic() - started)


def write_manifest(ws: Path, name: str, changes: list[dict[str, str]]) -> Path:
    """A manifest of ``changes`` beside the workspace."""
    path = ws.parent / f"{name}.json"
    path.write_text(json.dumps({"changes": changes}))
    return path


def make_plan(ws: Path, plan_id: str, changes: list[dict[str, str]], *, code: int = 0) -> Path:
    """``agentos plan`` of a manifest under the workspace's own policy, exiting ``code``
    (an ALLOW when 0); the plan file."""
    run = agentos("plan", write_manifest(ws, plan_id, changes), "--plan-id", plan_id, cwd=ws)
    assert run.code == code, run.doc
    if code == 0:
        assert run.result["decision"] == "ALLOW", run.doc
    return Path(run.result["plan_file"])


def set_policy(ws: Path, checks: list[dict[str, Any]], **constraints: float) -> None:
    """The workspace's own policy: the permissive test policy with these health checks (and
    ``executor.constraints`` changed as given)."""
    policy = yaml.safe_load(PERMISSIVE_POLICY.read_text())
    policy["executor"]["constraints"].update(constraints)
    policy["health_checks"] = checks
    path = ws / "agent" / "policies" / "default.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(policy, sort_keys=False))


def trail(ws: Path) -> list[dict[str, Any]]:
    """The workspace's audit events, in order."""
    lines = (ws / ".agentos" / "audit" / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def events(ws: Path) -> list[str]:
    """The names of the workspace's audit events, in order."""
    return [e["event"] for e in trail(ws)]


# The application file of the health-check workspaces (``CheckedWorkspace``).
APP = "src/app.txt"


class CheckedWorkspace:
    """A workspace (``src/app.txt`` and a guide) with its own policy file holding the health
    checks under test, planned and applied through the installed CLI."""

    OLD: ClassVar[dict[str, bytes | str | tuple[bytes | str, str]]] = {
        APP: "old\n",
        "docs/guide.md": "guide\n",
    }

    def __init__(self, root: Path) -> None:
        self.root = root
        write_tree(root, self.OLD)
        self.set_policy([])

    def set_policy(self, checks: list[dict[str, Any]], **constraints: float) -> None:
        set_policy(self.root, checks, **constraints)

    def tree(self) -> Tree:
        return read_tree(self.root)

    def plan(self, plan_id: str, changes: list[dict[str, str]]) -> None:
        make_plan(self.root, plan_id, changes)

    def apply(self, plan_id: str) -> Run:
        return agentos("apply", plan_id, cwd=self.root)

    def expected_new(self, old: Tree) -> Tree:
        return {**old, APP: (b"new\n", "100644")}


# -- the executor's workspaces: ``python -m agentos`` and the steps of an apply ---------------

# The tree of tests/executor's ``ws`` fixture, and a change of it.
SMALL_TREE: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "src/a.txt": "a\n",
    "src/b.txt": "b\n",
    "keep/k.txt": "k\n",
}
SMALL_CHANGES = [
    {"op": "modify", "path": "src/a.txt", "content": "A\n"},
    {"op": "delete", "path": "src/b.txt"},
]
# The tree of tests/executor's ``script_ws`` fixture (one file executable), and changes of it.
SCRIPT_TREE: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "src/a.txt": "one\n",
    "src/b.txt": "bee\n",
    "src/tool.sh": ("echo hi\n", "100755"),
}
MODIFY_A = [{"op": "modify", "path": "src/a.txt", "content": "two\n"}]
MODIFY_B = [{"op": "modify", "path": "src/b.txt", "content": "BEE\n"}]


def agentos_subprocess(
    ws: Path, *args: str | Path, faults: str | None = None
) -> tuple[int, dict[str, Any]]:
    """``python -m agentos ARGS -C ws --json`` in a subprocess; (exit code, envelope)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTOS_FAULTS")}
    if faults:
        env["AGENTOS_FAULTS"] = faults
    proc = subprocess.run(
        [sys.executable, "-m", "agentos", *map(str, args), "-C", str(ws), "--json"],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert b"Traceback" not in proc.stderr, proc.stderr
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, doc


def plan_subprocess(ws: Path, plan_id: str, changes: list[dict[str, str]]) -> None:
    """``agentos plan`` of a manifest of ``changes`` under the permissive policy, in a
    subprocess (``agentos_subprocess``)."""
    manifest = ws.parent / f"{plan_id}.json"
    manifest.write_text(json.dumps({"changes": changes}))
    code, doc = agentos_subprocess(
        ws, "plan", manifest, "--plan-id", plan_id, "--policy", PERMISSIVE_POLICY
    )
    assert code == 0, doc


def apply_args(ws: Path, plan_id: str, *extra: str) -> list[str]:
    """The arguments of ``agentos apply PLAN_ID`` on ``ws`` under the permissive policy."""
    return ["apply", plan_id, "-C", str(ws), "--policy", str(PERMISSIVE_POLICY), "--json", *extra]


def build_plan(root: Path, changes: list[dict[str, Any]], *, plan_id: str = "p1") -> ChangePlan:
    """A plan of a manifest of ``changes`` against ``root``, made in this process (nothing
    is written)."""
    from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
    from agentos.workspace import Workspace

    data = json.dumps({"changes": changes}).encode()
    request = PlanSpec(
        workspace=Workspace.open(root),
        inputs=(PlanInput(name="changes.json", data=data, format="manifest"),),
        author="tests",
        plan_id=plan_id,
    )
    return plan_changes(request)


@dataclass
class Staged:
    """A plan taken as far as an apply takes it before its commit point."""

    plan: ChangePlan
    journal: Journal
    writer: WorkspaceWriter
    current: dict[str, FileState | None]
    state_dir: Path


def stage(
    root: Path, changes: list[dict[str, Any]], *, plan_id: str = "p1", write: bool = True
) -> Staged:
    """Plan ``changes`` and stage them as ``apply`` does, without the lock or the commit:
    record ``apply.started`` in the audit trail (an apply's events come before its journal),
    build the journal, ``prepare`` (backups, then the journal) and, with ``write``,
    ``write_changes``. The journal stays hot (``prepared``)."""
    from agentos.audit.trail import AuditTrail
    from agentos.executor.abort import AbortWatch
    from agentos.executor.drift import check_drift
    from agentos.executor.executions import execution_id_for
    from agentos.executor.fsops import Guard, WorkspaceWriter
    from agentos.executor.journal import new_tag
    from agentos.executor.staging import build_journal, prepare, write_changes
    from agentos.workspace import Workspace, ensure_state_dir

    workspace = Workspace.open(root)
    state_dir = ensure_state_dir(workspace)
    plan = build_plan(root, changes, plan_id=plan_id)
    guard = Guard(allowed=("**",), forbidden=())
    writer = WorkspaceWriter(workspace.root, guard, tag=new_tag(), durable=False)
    drift = check_drift(plan, writer)
    assert drift.drifted == [], drift.drifted
    execution_id = execution_id_for(plan.plan_id, plan.changeset.checksum)
    AuditTrail(workspace.audit_dir).append(
        "apply.started", actor="tests", data={}, execution_id=execution_id, plan_id=plan_id
    )
    journal = build_journal(
        plan,
        writer,
        current=drift.current,
        guard=guard,
        execution_id=execution_id,
        kind="apply",
        parent=None,
        attempt=1,
        exact_modes={},
        started_at="2024-01-01T00:00:00.000000Z",
    )
    prepare(state_dir, journal, drift.current)
    if write:
        abort = AbortWatch(state_dir / "abort-marker-of-no-one")
        write_changes(plan, journal, writer, abort, None)
    return Staged(plan, journal, writer, drift.current, state_dir)


# -- waiting for processes and their files ---------------------------------------------------


def wait_for(path: Path, proc: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    """Wait until ``path`` exists (a paused fault point announced itself, a check noted its
    pid); fail if ``proc`` ends first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the process ended before {path} appeared: {out!r} {err!r}")
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout}s"
        time.sleep(0.01)


def command_env() -> dict[str, str]:
    """A minimal environment for a health check's command."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def pid_gone(pid: int) -> bool:
    """No such process (a zombie waiting for a reaper that never comes counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an unreaped corpse is dead)."""
    return not pid_gone(pid)


def wait_gone(pids: list[int], seconds: float = 2.0) -> list[int]:
    """The pids still alive after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    alive = [p for p in pids if not pid_gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if not pid_gone(p)]
    return alive


def double_fork_script(pidfile: str) -> str:
    """Python source of a daemon made by a double fork and ``setsid``: it writes its pid to
    the file the expression ``pidfile`` names (``pid`` and ``sys.argv`` are in scope), then
    sleeps; the first process exits with ``sys.argv[2]`` (0 when absent)."""
    return f"""
import os, sys, time
read, write = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(write, str(os.getpid()).encode())
        time.sleep(300)
    os._exit(0)
os.close(write)
pid = os.read(read, 32).decode()
path = {pidfile}
with open(path + ".tmp", "w") as out:
    out.write(pid)
os.replace(path + ".tmp", path)
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""
