"""``agentos integrate``: agentos's hooks into (or out of) an agent's settings file, on disk.

The file is read, edited as JSON by ``agentos.hooks.integrate`` (every other key and hook kept,
in order) and written back in its own indentation, atomically and fsynced: a project-scope
file is a workspace file and goes through the executor's writer (``WorkspaceWriter``, which
never follows a link on the way); a user-scope file (under ``$HOME``) is outside any workspace
and goes through the same temp-file, fsync, rename, fsync-directory protocol of ``statefs``
(a settings file that is a symlink, as dotfile managers make, is written where it points).
Nothing is written when nothing changes, so a second run leaves the file byte for byte.

Before an existing file is changed, its bytes are kept: for project scope in
``<workspace>/.agentos/settings-backups/<agent>/<file>.<UTC stamp>`` (git never sees it), for
user scope beside the file as ``<file>.agentos-backup-<UTC stamp>``.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from agentos.errors import UsageError, WriteRefusedError
from agentos.hooks.httphooks import HTTP_AGENTS, check_base_url, hook_url, http_handler
from agentos.hooks.integrate import (
    AGENTS,
    SCOPES,
    SPECS,
    AgentSpec,
    SettingsError,
    command_prefix,
    dump_settings,
    hook_command,
    installed,
    merge_hooks,
    parse_settings,
    remove_hooks,
    settings_path,
)

BACKUP_DIR = "settings-backups"
NEW_FILE_MODE = 0o644
# A settings file larger than this is not one.
MAX_SETTINGS_BYTES = 16 << 20


@dataclass(frozen=True)
class Integrated:
    """What ``integrate`` did to one settings file."""

    agent: str
    scope: str
    file: Path
    action: str  # installed | updated | unchanged | removed | absent
    command: str | None  # the hook command (None for a removal, or an http handler)
    backup: Path | None  # where the file's previous bytes are kept (None: nothing kept)
    events: tuple[str, ...]  # the events agentos's handler is on
    url: str | None = None  # the endpoint an http handler posts to (``--http``)

    @property
    def changed(self) -> bool:
        """True when the file was written."""
        return self.action in ("installed", "updated", "removed")


def check_choice(agent: str, scope: str) -> AgentSpec:
    """The spec of ``agent``, or a usage error naming the choices (also for ``scope``)."""
    if agent not in SPECS:
        raise UsageError(f"unknown agent {agent!r}: use one of {', '.join(AGENTS)}")
    if scope not in SCOPES:
        raise UsageError(f"--scope {scope!r}: use project or user")
    return SPECS[agent]


def integrate(
    root: Path,
    home: Path,
    agent: str,
    *,
    scope: str = "project",
    remove: bool = False,
    prefix: str | None = None,
    url: str | None = None,
    stamp: str,
) -> Integrated:
    """Install (or with ``remove``, take out) agentos's hooks in ``agent``'s settings file of
    ``scope``; ``prefix`` is how hooks run agentos (default: ``default_prefix()``); ``url``
    installs http handlers posting to ``agentos serve`` at that base URL instead (Claude
    Code only); ``stamp`` names a backup. Either kind replaces the other."""
    spec = check_choice(agent, scope)
    endpoint = None if url is None else _http_endpoint(agent, url)
    path = settings_path(spec, scope, root=root, home=home)
    store = _ProjectFile(root, path) if scope == "project" else _UserFile(path)
    data, mode = store.read()
    try:
        settings = parse_settings(data) if data is not None else {}
        command = None if remove or endpoint is not None else default_command(prefix, agent)
        before = installed(settings, spec)
        if remove:
            wanted = remove_hooks(settings, spec)
        else:
            handler = command or http_handler(endpoint or "", agent, timeout=spec.timeout)
            wanted = merge_hooks(settings, spec, handler)
    except SettingsError as exc:
        raise UsageError(
            f"{path} {exc}; nothing was written — fix the file (agentos edits plain JSON "
            f"only), then run 'agentos integrate {agent}' again",
            details={"file": str(path)},
        ) from None
    events = tuple(i.event for i in installed(wanted, spec))
    shown = None if remove or endpoint is None else hook_url(endpoint, agent)
    if wanted == settings:
        action = "absent" if remove and not before else "unchanged"
        return Integrated(agent, scope, path, action, command, None, events, shown)
    backup = store.backup(data, mode, agent=agent, stamp=stamp) if data is not None else None
    original = data.decode("utf-8-sig") if data is not None else None
    store.write(dump_settings(wanted, original), mode if mode is not None else NEW_FILE_MODE)
    action = "removed" if remove else ("updated" if before else "installed")
    return Integrated(agent, scope, path, action, command, backup, events, shown)


def _http_endpoint(agent: str, url: str) -> str:
    """The checked base URL of ``agentos serve`` for ``agent``'s http handlers."""
    if agent not in HTTP_AGENTS:
        title = SPECS[agent].title
        raise UsageError(
            f"--http: {title} runs command hooks only; run 'agentos integrate {agent}' "
            "without --http"
        )
    return check_base_url(url)


def default_command(prefix: str | None, agent: str) -> str:
    """``PREFIX hook AGENT``, the prefix defaulting to ``default_prefix()``."""
    return hook_command(prefix or default_prefix(), agent)


def default_prefix() -> str:
    """``agentos`` when the ``agentos`` on PATH is the running one, else the running script's
    absolute path (else ``python -m agentos``)."""
    running = _running_script()
    found = shutil.which("agentos")
    on_path = (
        running is not None and found is not None and Path(found).resolve() == running.resolve()
    )
    return command_prefix(running, on_path=on_path, python=sys.executable)


def _running_script() -> Path | None:
    """The ``agentos`` script this process runs from: ``argv[0]``, else the script installed
    beside the interpreter (when agentos runs in-process, from tests or ``-m``)."""
    names = ("agentos", "agentos.exe")
    candidates = [Path(sys.argv[0])] if sys.argv and sys.argv[0] else []
    candidates.append(Path(sys.executable).with_name("agentos"))
    for candidate in candidates:
        if candidate.name in names and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    return None


def _stamped(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3`` ... when it exists (two runs in one second)."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate


class _ProjectFile:
    """A settings file in the workspace: read and written by the executor's writer."""

    def __init__(self, root: Path, path: Path) -> None:
        from agentos.executor.fsops import Guard, WorkspaceWriter
        from agentos.executor.journal import new_tag

        self.root = root
        self.path = path
        self.rel = path.relative_to(root).as_posix()
        # The writer may touch this one file and nothing else.
        self.writer = WorkspaceWriter(root, Guard((self.rel,), ()), tag=new_tag())

    def read(self) -> tuple[bytes | None, int | None]:
        try:
            found = self.writer.read(self.rel)
        except WriteRefusedError as exc:
            raise self._refused(exc) from None
        if found is None:
            return None, None
        if len(found.data) > MAX_SETTINGS_BYTES:
            raise UsageError(f"{self.path} is larger than any settings file; check it")
        return found.data, found.mode

    def write(self, data: bytes, mode: int) -> None:
        from agentos.digest import sha256_hex
        from agentos.sweep import note_written
        from agentos.workspace import Workspace

        try:
            previous = self.writer.read(self.rel)
            self.writer.write_whole(self.rel, data, mode)
        except WriteRefusedError as exc:
            raise self._refused(exc) from None
        # agentos wrote it: not a change for the sweep to report.
        before = None if previous is None else sha256_hex(previous.data)
        note_written(Workspace(self.root), {self.rel: before})

    def backup(self, data: bytes, mode: int | None, *, agent: str, stamp: str) -> Path:
        from agentos.statefs import write_atomic
        from agentos.workspace import Workspace, ensure_state_dir

        state = ensure_state_dir(Workspace(self.root))
        target = _stamped(state / BACKUP_DIR / agent / f"{self.path.name}.{stamp}")
        write_atomic(target, data, mode=0o600)
        return target

    def _refused(self, exc: WriteRefusedError) -> UsageError:
        why = exc.details.get("reason", "it cannot be written safely")
        return UsageError(
            f"{self.path}: {why}; agentos writes an agent's settings only as a regular file "
            "in a real directory — fix that, then run 'agentos integrate' again",
            details={"file": str(self.path)},
        )


class _UserFile:
    """A settings file under the user's home: written where it is (or where its link points)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # A symlinked settings file (a dotfile manager's) keeps its link: write the target.
        self.target = path.resolve() if path.is_symlink() else path

    def read(self) -> tuple[bytes | None, int | None]:
        try:
            info = self.target.stat()
        except FileNotFoundError:
            return None, None
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{self.path} is not a regular file; move it away or fix it")
        if info.st_size > MAX_SETTINGS_BYTES:
            raise UsageError(f"{self.path} is larger than any settings file; check it")
        return self.target.read_bytes(), stat.S_IMODE(info.st_mode)

    def write(self, data: bytes, mode: int) -> None:
        from agentos.statefs import write_atomic

        write_atomic(self.target, data, mode=mode)

    def backup(self, data: bytes, mode: int | None, *, agent: str, stamp: str) -> Path:
        from agentos.statefs import write_atomic

        target = _stamped(self.target.with_name(f"{self.target.name}.agentos-backup-{stamp}"))
        write_atomic(target, data, mode=mode if mode is not None else 0o600)
        return target
