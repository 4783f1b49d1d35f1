"""I/O errors during ``agentos apply``: real ones where the machine allows, injected ones at
every write site (SPEC §8.5, §8.7, §12 "I/O errors ... injected once and persistently").

- ENOSPC for real, on a small tmpfs holding the workspace and its ``.agentos/`` (needs root
  and mount; skipped with the reason otherwise).
- EPERM for real: ``chattr +i`` on a target while the apply is paused at a fault point
  (needs chattr and a file system with the immutable flag; skipped otherwise).
- EIO, ENOSPC and EACCES injected with ``AGENTOS_FAULTS`` at the write, fsync, replace,
  mkdir, backup and journal sites, once (first and a middle hit) and persistently (``@1+``
  or no hit spec); also persisting from a middle hit (the rollback's own I/O fails too), and
  ENOSPC from the audit trail during the rollback and after the commit point.
- An fsync error is never retried (``AGENTOS_FAULTS_TRACE`` plus a recording of every
  ``os.fsync`` the process issues).

After every failure: exit 1 (never 0, never 8), status ``rolled_back``, no ``apply.committed``
in the trail, the old tree intact (bytes, modes and directories), no temp file anywhere in the
workspace, ``agentos audit verify`` passes, and a clean re-apply commits the planned tree.
The injected matrix runs on /dev/shm where it exists (fsync is nearly free there; the errors
are injected, so the file system does not matter) from one workspace planned per module.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentos import faults
from helpers import PERMISSIVE_POLICY, CliResult, Tree, events, read_tree, wait_for, write_tree

Cli = Callable[..., CliResult]
AGENTOS = (sys.executable, "-m", "agentos")
POLICY_ARGS = ("--policy", str(PERMISSIVE_POLICY), "--json")
State = tuple[Tree, frozenset[str]]

OLD_FILES: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "src/a.txt": ("#!/bin/sh\necho old\n", "100755"),
    "src/r.txt": "to be renamed\n",
    "old/gone.txt": "to be deleted\n",
    "keep/k.txt": "untouched\n",
}
# Creates in new folders, modifies, deletes (emptying a folder) and renames (into a new one).
CHANGES = [
    {"op": "create", "path": "new/deep/n.txt", "content": "created\n"},
    {"op": "modify", "path": "src/a.txt", "content": "#!/bin/sh\necho new\n"},
    {"op": "delete", "path": "old/gone.txt"},
    {"op": "rename", "from": "src/r.txt", "path": "moved/r2.txt", "content": "renamed\n"},
]
NEW_TREE: Tree = {
    "new/deep/n.txt": (b"created\n", "100644"),
    "src/a.txt": (b"#!/bin/sh\necho new\n", "100755"),
    "moved/r2.txt": (b"renamed\n", "100644"),
    "keep/k.txt": (b"untouched\n", "100644"),
}
# How often each site is reached by one apply of CHANGES (checked by a test below).
HITS = {
    "fsops.write.before": 3,  # moved/r2.txt, new/deep/n.txt, src/a.txt
    "fsops.mkdir.before": 3,  # moved, new, new/deep
    "fsops.fsync.before": 8,  # 3 temps, then 5 directories (new ones with the rest)
    "fsops.replace.before": 3,
    "backup.write.before": 3,  # src/a.txt, src/r.txt, old/gone.txt
    "journal.write.before": 2,  # prepared, then the commit point
}
# A hit in the middle of each site's run (fsync: a temp file's; @6 below: a directory's,
# after every replace and unlink, so the rollback has everything to undo).
MIDDLE = {
    "fsops.write.before": 2,
    "fsops.mkdir.before": 2,
    "fsops.fsync.before": 2,
    "fsops.replace.before": 2,
    "backup.write.before": 2,
    "journal.write.before": 2,
}
# The audit events one successful apply of CHANGES appends, in order.
APPLY_EVENTS = [
    "gate.evaluated",
    "lock.acquired",
    "apply.started",
    "drift.checked",
    "journal.prepared",
    "changes.written",
    "verify.finished",
    "apply.committed",
]
ERRNOS = {"eio": errno.EIO, "enospc": errno.ENOSPC, "eacces": errno.EACCES}


# -- helpers ---------------------------------------------------------------------------------


def tree_state(ws: Path) -> State:
    """Files (bytes and modes) and directories of the workspace, without .agentos/."""
    dirs = frozenset(
        p.relative_to(ws).as_posix()
        for p in ws.rglob("*")
        if p.is_dir() and not p.is_symlink() and ".agentos" not in p.relative_to(ws).parts
    )
    return read_tree(ws), dirs


def leftover_temps(ws: Path) -> list[str]:
    """Temp files anywhere under the workspace, .agentos/ included."""
    return sorted(str(p.relative_to(ws)) for p in ws.rglob("*.tmp"))


def make_plan(cli: Cli, ws: Path, changes: list[dict[str, str]], plan_id: str = "p1") -> None:
    """Write a manifest next to the workspace and plan it (permissive policy)."""
    manifest = ws.parent / f"{plan_id}.changes.json"
    manifest.write_text(json.dumps({"changes": changes}))
    result = cli(
        "plan", manifest, "-C", ws, "--plan-id", plan_id, "--policy", PERMISSIVE_POLICY, "--json"
    )
    assert result.code == 0, result.out + result.err


def apply(
    cli: Cli,
    ws: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    spec: str | None = None,
    trace: Path | None = None,
    plan_id: str = "p1",
) -> CliResult:
    """``agentos apply`` in-process, with faults armed for this run only."""
    faults.reset_hits()
    if spec is not None:
        monkeypatch.setenv(faults.ENV_VAR, spec)
    if trace is not None:
        monkeypatch.setenv(faults.TRACE_VAR, str(trace))
    try:
        return cli("apply", plan_id, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    finally:
        monkeypatch.delenv(faults.ENV_VAR, raising=False)
        monkeypatch.delenv(faults.TRACE_VAR, raising=False)
        faults.reset_hits()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with OLD_FILES and the plan ``p1`` of CHANGES, made once per module."""
    ws = tmp_path_factory.mktemp("template") / "ws"
    write_tree(ws, OLD_FILES)
    manifest = ws.parent / "p1.changes.json"
    manifest.write_text(json.dumps({"changes": CHANGES}))
    proc = subprocess.run(
        [*AGENTOS, "plan", str(manifest), "-C", str(ws), "--plan-id", "p1", *POLICY_ARGS],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ws


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory on a RAM file system where there is one (fsync is then nearly free,
    which keeps the matrix fast; the faults are injected, so the file system does not
    matter), else ``tmp_path``. Removed afterwards."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    directory = Path(tempfile.mkdtemp(prefix="agentos-io-faults-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def project(template: Path, scratch: Path) -> tuple[Path, State]:
    """A copy of the template workspace; its state before apply."""
    ws = scratch / "ws"
    shutil.copytree(template, ws, symlinks=True)
    return ws, tree_state(ws)


def assert_failed_cleanly(cli: Cli, ws: Path, result: CliResult, old: State) -> dict[str, object]:
    """Exit 1, rolled back, nothing committed, old tree intact, no temps, chain verifies."""
    assert result.code != 8, f"recovery failed (exit 8): {result.out}"
    assert result.code == 1, result.out + result.err
    doc = result.json()
    assert doc["ok"] is False
    assert doc["result"]["status"] == "rolled_back"
    assert "committed" not in {row["status"] for row in doc["result"]["executions"]}
    assert tree_state(ws) == old
    assert leftover_temps(ws) == []
    assert "apply.committed" not in events(ws)
    record = ws / ".agentos" / "idempotency" / "p1.json"
    if record.exists():
        assert json.loads(record.read_text())["status"] != "committed"
    status = cli("status", "-C", ws, "--json")
    assert status.code == 0, status.out
    assert all(row["status"] != "committed" for row in status.json()["result"]["executions"])
    verify = cli("audit", "verify", "-C", ws, "--json")
    assert verify.code == 0, verify.out
    return dict(doc["error"] or {})


def assert_reapply_commits(cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without faults, the same plan commits and the planned tree results."""
    again = apply(cli, ws, monkeypatch)
    assert again.code == 0, again.out + again.err
    assert again.json()["result"]["status"] == "committed"
    assert tree_state(ws)[0] == NEW_TREE
    assert not (ws / "old").exists()  # the folder the deletion emptied is gone, as in git
    assert leftover_temps(ws) == []
    assert not list((ws / ".agentos" / "journal").glob("*.json"))  # no hot journal left
    assert cli("audit", "verify", "-C", ws).code == 0


# -- injected errors at every site -----------------------------------------------------------


def test_hit_counts_of_the_changeset(
    project: tuple[Path, State], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hit numbers the matrix below relies on (a middle hit must really be reached)."""
    ws, _old = project
    trace = ws.parent / "trace"
    result = apply(cli, ws, monkeypatch, trace=trace)
    assert result.code == 0, result.out
    reached = trace.read_text().splitlines()
    commit = reached.index("commit.after")
    for site, count in HITS.items():
        assert reached[:commit].count(site) == count, site
    assert tree_state(ws)[0] == NEW_TREE
    # the audit appends of one apply, in order (the 8th is the one after the commit point)
    assert reached.count("audit.append.after") == len(APPLY_EVENTS)
    assert events(ws)[-len(APPLY_EVENTS) :] == APPLY_EVENTS


# Persistent faults are spelt both ways: no hit spec (every hit) and "@1+" (from the first).
PERSISTENT = {"eio": "", "enospc": "@1+", "eacces": "@1+"}


def _cases() -> Iterator[object]:
    for site, middle in MIDDLE.items():
        for action in ERRNOS:
            for when in ("@1", f"@{middle}", PERSISTENT[action]):
                yield pytest.param((site, action, when), id=f"{site}={action}{when or '-always'}")
    for action in ERRNOS:  # a directory fsync, after all renames and unlinks
        site = "fsops.fsync.before"
        yield pytest.param((site, action, "@6"), id=f"{site}={action}@6")


@pytest.mark.parametrize("case", list(_cases()))
def test_injected_io_error_rolls_back(
    project: tuple[Path, State],
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[str, str, str],
) -> None:
    site, action, when = case
    ws, old = project
    result = apply(cli, ws, monkeypatch, spec=f"{site}={action}{when}")
    error = assert_failed_cleanly(cli, ws, result, old)
    # the failure reported is the injected one (so the hit was really reached)
    assert f"(injected at {site})" in str(error.get("message")), error
    assert os.strerror(ERRNOS[action]) in str(error.get("message"))
    assert_reapply_commits(cli, ws, monkeypatch)


@pytest.mark.parametrize(
    "spec",
    [
        "fsops.write.before=eio@2+",
        "fsops.mkdir.before=enospc@2+",
        "fsops.fsync.before=eacces@5+",
        "fsops.fsync.before=eio@4+",
        "fsops.fsync.before=enospc@6+",
        "fsops.fsync.before=eacces@8+",
        "fsops.replace.before=eio@2+",
        "backup.write.before=enospc@2+",
        pytest.param(
            "journal.write.before=eio@2+",
        ),
    ],
)
def test_error_persisting_from_a_middle_hit_rolls_back(
    project: tuple[Path, State], cli: Cli, monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    """A failing disk usually keeps failing: every hit from the k-th on fails, including the
    rollback's own. Whatever it can still do, the rollback must not give up with exit 8
    while the writes it needs still work."""
    ws, old = project
    result = apply(cli, ws, monkeypatch, spec=spec)
    assert_failed_cleanly(cli, ws, result, old)
    assert_reapply_commits(cli, ws, monkeypatch)


def test_enospc_in_the_audit_after_the_commit_point_reports_the_commit(
    project: tuple[Path, State], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _old = project
    at = APPLY_EVENTS.index("apply.committed") + 1
    result = apply(cli, ws, monkeypatch, spec=f"audit.append.after=enospc@{at}+")
    assert tree_state(ws)[0] == NEW_TREE  # the commit point was passed
    assert result.code == 0, result.out
    assert result.json()["result"]["status"] == "committed"


def test_enospc_in_the_audit_during_the_rollback_reports_the_rollback(
    project: tuple[Path, State], cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, old = project
    at = APPLY_EVENTS.index("journal.prepared") + 2  # the next append: rollback.finished
    spec = f"fsops.write.before=eio@1,audit.append.before=enospc@{at}+"
    result = apply(cli, ws, monkeypatch, spec=spec)
    assert tree_state(ws) == old
    assert leftover_temps(ws) == []
    assert result.code == 1, result.out
    assert result.json()["result"]["status"] == "rolled_back"


# -- an fsync error is never retried ---------------------------------------------------------


def test_fsync_error_is_never_retried(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four temps fsynced in parallel, the 2nd fsync fails: that file is never fsynced.

    The fault fires just before ``os.fsync`` of one temp file, so that file was not synced.
    Every real ``os.fsync`` is recorded into the same trace as the fault points (the path of
    its descriptor), and we assert: each temp is fsynced at most once, the failed one never,
    no temp is renamed into place after the failure, and after the failure the only fsyncs
    are the other temps already in flight and the rollback's: the pre-images and the folder.
    """
    ws = tmp_path / "ws"
    files: dict[str, bytes | str | tuple[bytes | str, str]] = {
        f"src/f{i}.txt": f"old {i}\n" for i in range(4)
    }
    write_tree(ws, files)
    make_plan(cli, ws, [{"op": "modify", "path": p, "content": "new\n"} for p in files])
    old = tree_state(ws)
    trace = tmp_path / "trace"
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        with trace.open("a", encoding="utf-8") as handle:
            handle.write(f"os.fsync {Path(f'/proc/self/fd/{fd}').readlink()}\n")
        real_fsync(fd)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to name the file behind each fsync")
    monkeypatch.setattr(os, "fsync", recording_fsync)
    result = apply(cli, ws, monkeypatch, spec="fsops.fsync.before=eio@2", trace=trace)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert_failed_cleanly(cli, ws, result, old)

    lines = trace.read_text().splitlines()
    fsops_points = [i for i, line in enumerate(lines) if line == "fsops.fsync.before"]
    failed_at = fsops_points[1]  # the 2nd hit raised EIO
    synced = [line.split(" ", 1)[1] for line in lines if line.startswith("os.fsync ")]
    temp_syncs = [Path(p) for p in synced if Path(p).name.startswith(".agentos-")]
    # each temp file at most once; exactly the three whose fsync was not the failing one
    assert len(temp_syncs) == len(set(temp_syncs)) == 3, temp_syncs
    assert all(p.parent == ws / "src" and "-w-" in p.name for p in temp_syncs)
    # 4 temp hits, then the rollback's: the 4 pre-images it keeps (made durable whether or
    # not an earlier attempt restored them) and 1 directory; never the failed temp again
    assert len(fsops_points) == 9, lines
    after = lines[failed_at + 1 :]
    assert "fsops.replace.before" not in lines  # nothing renamed over a target
    assert "fsops.write.before" not in after  # no temp rewritten to be synced again
    state_dir = str(ws / ".agentos")
    later_syncs = [
        line.split(" ", 1)[1]
        for line in after
        if line.startswith("os.fsync ") and not line.split(" ", 1)[1].startswith(state_dir)
    ]
    originals = {str(ws / p) for p in files}
    allowed = {str(p) for p in temp_syncs} | {str(ws / "src")} | originals
    assert set(later_syncs) <= allowed, later_syncs
    assert later_syncs.count(str(ws / "src")) == 1  # the rollback's directory fsync
    assert "rollback.mark.before" in after
    assert_reapply_commits_files(cli, ws, monkeypatch, {p: b"new\n" for p in files})


def assert_reapply_commits_files(
    cli: Cli, ws: Path, monkeypatch: pytest.MonkeyPatch, expected: dict[str, bytes]
) -> None:
    """A clean re-apply commits and writes ``expected``."""
    again = apply(cli, ws, monkeypatch)
    assert again.code == 0, again.out
    assert {p: v[0] for p, v in read_tree(ws).items()} == expected


# -- ENOSPC for real: a small tmpfs ----------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (skips the test where mounting is refused)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("tmpfs mounts need Linux")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("mount/umount are not installed")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        done = subprocess.run(["umount", str(where)], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(directory: Path, leave: int) -> Path:
    """Fill the file system of ``directory`` until ``leave`` bytes are free; the filler file."""
    filler = directory / "filler"
    info = os.statvfs(directory)
    free = info.f_bavail * info.f_frsize
    chunk = b"\0" * 65536
    with filler.open("wb") as handle:
        remaining = max(free - leave, 0)
        try:
            while remaining > 0:
                remaining -= handle.write(chunk[: min(len(chunk), remaining)])
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def free_bytes(directory: Path) -> int:
    """Bytes available on ``directory``'s file system."""
    info = os.statvfs(directory)
    return info.f_bavail * info.f_frsize


BIG = 600 * 1024


def test_real_enospc_rolls_back_and_the_audit_verifies(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """256 KiB free, 600 KiB to write: the temp write fails with a real ENOSPC.

    Asserted: exit 1, rolled back, old tree intact, no temps (the partial temp file is
    removed, which also gives its space back, so the audit events of the failure fit and the
    chain verifies). Once space is freed, the same plan commits.
    """
    with small_tmpfs(tmp_path / "mnt", "2m") as mnt:
        ws = mnt / "ws"
        write_tree(ws, OLD_FILES)
        changes = [
            *CHANGES,
            {"op": "create", "path": "new/big/huge.txt", "content": "x" * (BIG - 1) + "\n"},
        ]
        make_plan(cli, ws, changes)
        old = tree_state(ws)
        filler = fill(mnt, leave=256 * 1024)
        assert free_bytes(mnt) < BIG
        result = apply(cli, ws, monkeypatch)
        error = assert_failed_cleanly(cli, ws, result, old)
        assert os.strerror(errno.ENOSPC) in str(error.get("message")), error
        assert "injected" not in str(error.get("message"))
        filler.unlink()
        again = apply(cli, ws, monkeypatch)
        assert again.code == 0, again.out
        tree = tree_state(ws)[0]
        assert tree["new/big/huge.txt"] == (b"x" * (BIG - 1) + b"\n", "100644")
        assert {k: v for k, v in tree.items() if k != "new/big/huge.txt"} == NEW_TREE
        assert leftover_temps(ws) == []
        assert cli("audit", "verify", "-C", ws).code == 0


def apply_on_a_full_disk(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, check: Callable[..., None]
) -> None:
    """Plan on a 1 MiB tmpfs, fill it to the last byte, apply, hand the outcome to ``check``
    (while the disk is still full), then free the space and check the aftermath."""
    # Where .agentos/logs cannot take the traceback of an internal error, agentos falls back
    # to the temp dir: keep that inside tmp_path.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with small_tmpfs(tmp_path / "mnt", "1m") as mnt:
        ws = mnt / "ws"
        write_tree(ws, OLD_FILES)
        make_plan(cli, ws, CHANGES)
        old = tree_state(ws)
        filler = fill(mnt, leave=0)
        assert free_bytes(mnt) == 0
        result = apply(cli, ws, monkeypatch)
        check(result, ws, old)
        filler.unlink()
        assert cli("audit", "verify", "-C", ws).code == 0
        assert cli("recover", "-C", ws).code == 0
        assert tree_state(ws) == old
        assert_reapply_commits(cli, ws, monkeypatch)


def test_real_enospc_on_a_full_disk_never_claims_success(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not one byte free: even the audit trail cannot be written (the first failing write is
    the WriteGate's audit event, before the executor starts).

    What we assert is the promise that still holds: a non-zero exit that is not 8, ``ok``
    false, no ``committed`` status, the old tree intact and no temps left. That the failure
    itself is in the trail is not asserted (there is no space for it). Once space is freed
    the chain verifies, recovery leaves the old tree, and the same plan commits.
    """

    def check(result: CliResult, ws: Path, old: State) -> None:
        assert result.code not in (0, 8), result.out + result.err
        doc = result.json()
        assert doc["ok"] is False
        assert doc["exit_code"] == result.code
        assert (doc["result"] or {}).get("status") != "committed"
        assert tree_state(ws) == old
        assert leftover_temps(ws) == []
        assert "apply.committed" not in events(ws)

    apply_on_a_full_disk(tmp_path, cli, monkeypatch, check)


def test_real_enospc_on_a_full_disk_is_not_reported_as_a_bug(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def check(result: CliResult, ws: Path, old: State) -> None:
        assert tree_state(ws) == old
        error = result.json()["error"]
        assert result.code != 70, error
        assert error["type"] != "internal_error"
        assert "a bug in agentos" not in error["message"]

    apply_on_a_full_disk(tmp_path, cli, monkeypatch, check)


# -- EPERM for real: chattr +i while the apply is paused -------------------------------------


def immutable_supported(probe_dir: Path) -> None:
    """Skip unless ``chattr +i`` works on files in ``probe_dir``."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    probe = probe_dir / "chattr-probe"
    probe.write_bytes(b"probe\n")
    proc = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False)
    if proc.returncode != 0:
        probe.unlink()
        pytest.skip(f"chattr +i not supported here: {proc.stderr.decode(errors='replace')}")
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=True)
    probe.unlink()


EPERM_CASES = [
    # rename(2) over an immutable file: EPERM at the 3rd replace, after two creations
    pytest.param("src/a.txt", "src/a.txt", id="immutable-file"),
    # unlink in an immutable directory: EPERM after every replace and the first unlink, so
    # the rollback restores a modified file and a renamed-away one and removes the rest
    pytest.param("old", "old/gone.txt", id="immutable-directory"),
]


def apply_with_immutable(
    tmp_path: Path, cli: Cli, immutable: str
) -> tuple[Path, State, dict[str, Any]]:
    """Plan, start the apply in a subprocess paused at the 1st replace, ``chattr +i`` the
    target, resume; return the workspace, its old state and the apply's JSON document
    (checked while the flag is still set). The flag is always cleared afterwards."""
    immutable_supported(tmp_path)
    ws = tmp_path / "ws"
    write_tree(ws, OLD_FILES)
    make_plan(cli, ws, CHANGES)
    old = tree_state(ws)
    pauses = tmp_path / "pauses"
    pauses.mkdir()
    env = {
        **os.environ,
        faults.ENV_VAR: "fsops.replace.before=pause@1",
        faults.DIR_VAR: str(pauses),
    }
    env.pop(faults.TRACE_VAR, None)
    target = ws / immutable
    proc = subprocess.Popen(
        [*AGENTOS, "apply", "p1", "-C", str(ws), *POLICY_ARGS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(pauses / "fsops.replace.before.paused", proc)
        subprocess.run(["chattr", "+i", str(target)], check=True, capture_output=True)
        (pauses / "fsops.replace.before.resume").write_text("go")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out.decode() + err.decode()
        doc = json.loads(out)
        # while the flag is still set: the failed apply left the old tree behind
        assert tree_state(ws) == old
        assert leftover_temps(ws) == []
    finally:
        subprocess.run(["chattr", "-i", str(target)], capture_output=True, check=False)
        if proc.poll() is None:
            (pauses / "fsops.replace.before.resume").write_text("go")
            proc.kill()
            proc.wait()
    return ws, old, doc


@pytest.mark.parametrize(("immutable", "fails_at"), EPERM_CASES)
def test_real_eperm_from_an_immutable_target(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, immutable: str, fails_at: str
) -> None:
    ws, old, doc = apply_with_immutable(tmp_path, cli, immutable)
    assert doc["ok"] is False
    assert doc["result"]["status"] == "rolled_back"
    assert os.strerror(errno.EPERM) in doc["error"]["message"]
    assert (
        fails_at.rpartition("/")[2] in doc["error"]["message"]
        or ".agentos-" in (doc["error"]["message"])
    )
    assert_failed_cleanly_after_subprocess(cli, ws, old)
    assert_reapply_commits(cli, ws, monkeypatch)


@pytest.mark.parametrize(("immutable", "fails_at"), EPERM_CASES)
def test_real_eperm_message_names_the_workspace_path(
    tmp_path: Path, cli: Cli, immutable: str, fails_at: str
) -> None:
    _ws, _old, doc = apply_with_immutable(tmp_path, cli, immutable)
    assert fails_at in doc["error"]["message"], doc["error"]["message"]


def assert_failed_cleanly_after_subprocess(cli: Cli, ws: Path, old: State) -> None:
    """The trail and records of a failed apply that ran in another process."""
    assert tree_state(ws) == old
    assert "apply.committed" not in events(ws)
    assert "apply.failed" in events(ws)
    assert cli("audit", "verify", "-C", ws).code == 0
