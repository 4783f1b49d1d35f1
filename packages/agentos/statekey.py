"""The workspace key: agentos seals its own state, so forged or altered state is refused.

Whoever can write the workspace can write ``.agentos/`` too. Journals drive recovery,
archived journals drive ``agentos rollback``, idempotency records decide what counts as
already applied, stored approvals decide what may be applied, and the audit HEAD vouches for
the trail; so each of them carries a **seal**: ``hmac-sha256:<hex>`` over its canonical bytes,
made with a random 32-byte key that lives *outside* the workspace:

    $AGENTOS_KEY_DIR/<workspace id>.key        (default: $XDG_STATE_HOME/agentos/keys,
                                                 else ~/.local/state/agentos/keys)

The key file is 0600 in a 0700 directory. The workspace id (``.agentos/workspace.id``) is
random and not secret: it only says which key belongs to this state directory, so a moved or
copied workspace keeps its key. A state file whose seal is missing or does not verify was not
written by agentos in this workspace and is refused (``StateIntegrityError``, exit 6).

What this does not do: a process running as the same user *outside* any sandbox can read the
key (it is the user's file); docs/reliability.md ("Threat model") says what agentos can then
only detect, not prevent.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from agentos.errors import StateIntegrityError, UsageError
from agentos.statefs import read_bytes

KEY_DIR_ENV = "AGENTOS_KEY_DIR"
ID_NAME = "workspace.id"
SEAL_PREFIX = "hmac-sha256:"
KEY_BYTES = 32
_ID = re.compile(r"[0-9a-f]{32}")

_cache: dict[tuple[str, str], tuple[StateKey, tuple[int, ...] | None]] = {}
_dirs: dict[tuple[str | None, ...], Path] = {}


@dataclass(frozen=True)
class StateKey:
    """One workspace's key; ``seal`` and ``verify`` separate purposes by a label."""

    key: bytes
    workspace_id: str

    def seal(self, purpose: str, data: bytes) -> str:
        """``hmac-sha256:<hex>`` of ``data`` for ``purpose`` (a journal, a record, ...)."""
        digest = hmac.new(self.key, purpose.encode("ascii") + b"\0" + data, hashlib.sha256)
        return SEAL_PREFIX + digest.hexdigest()

    def verify(self, purpose: str, data: bytes, seal: object) -> bool:
        """True when ``seal`` is this key's seal of ``data`` for ``purpose``."""
        return isinstance(seal, str) and hmac.compare_digest(seal, self.seal(purpose, data))


def key_dir() -> Path:
    """Where workspace keys are kept (outside every workspace)."""
    explicit = os.environ.get(KEY_DIR_ENV)
    if explicit:
        return Path(explicit)
    state_home = os.environ.get("XDG_STATE_HOME")
    if state_home:
        return Path(state_home) / "agentos" / "keys"
    try:
        return Path.home() / ".local" / "state" / "agentos" / "keys"
    except RuntimeError:
        raise UsageError(
            f"cannot find a home directory for the workspace key; set {KEY_DIR_ENV} to a "
            "private directory outside the workspace"
        ) from None


def state_key(state_dir: Path) -> StateKey:
    """The key that seals ``state_dir``; made (with the workspace id) on first use.

    A state directory that has an id but whose key is missing cannot be authenticated:
    ``StateIntegrityError`` says so rather than making a new key that would silently
    disown every sealed file.
    """
    directory = _absolute_key_dir()
    entry = (str(directory), str(state_dir))
    cached = _cache.get(entry)
    # Every seal and check asks: the key is read once per process, and kept while the id
    # file is the one it was read for (a long-lived server outlives a removed .agentos/).
    signature = _id_signature(state_dir)
    if cached is not None and cached[1] == signature:
        return cached[0]
    _refuse_inside(directory, state_dir)
    workspace_id = _read_id(state_dir)
    if workspace_id is None:
        workspace_id = _create(state_dir, directory)
    key = StateKey(_read_key(directory, workspace_id, state_dir), workspace_id)
    if signature is None:  # the id file was made just now
        signature = _id_signature(state_dir)
    _cache[entry] = (key, signature)
    return key


def _absolute_key_dir() -> Path:
    """``key_dir()`` made absolute; worked out once for the variables it depends on, unless
    it is relative (then it depends on the working directory too, and is worked out again)."""
    memo = (
        os.environ.get(KEY_DIR_ENV),
        os.environ.get("XDG_STATE_HOME"),
        os.environ.get("HOME"),
    )
    found = _dirs.get(memo)
    if found is None:
        found = key_dir()
        if not found.is_absolute():
            return found.absolute()
        _dirs[memo] = found
    return found


def _id_signature(state_dir: Path) -> tuple[int, ...] | None:
    """What tells the id file apart from one written since (None: it is not there)."""
    try:
        info = os.lstat(state_dir / ID_NAME)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def key_file(state_dir: Path) -> Path:
    """The file holding ``state_dir``'s key (made, with the workspace id, if need be)."""
    return _key_path(_absolute_key_dir(), state_key(state_dir).workspace_id)


def _refuse_inside(directory: Path, state_dir: Path) -> None:
    """A key kept inside the workspace it seals would protect nothing."""
    from agentos.workspace import STATE_DIR_NAME

    if state_dir.name != STATE_DIR_NAME:
        return
    root = state_dir.parent.resolve()
    resolved = directory.resolve()
    if resolved == root or root in resolved.parents:
        raise UsageError(
            f"the key directory {directory} is inside the workspace {root}; whoever writes the "
            f"workspace could read or replace the key — set {KEY_DIR_ENV} to a private "
            "directory outside it"
        )


def forget_keys() -> None:
    """Drop the keys this process has read (tests that remove or move key files)."""
    _cache.clear()


def _read_id(state_dir: Path) -> str | None:
    path = state_dir / ID_NAME
    try:
        text = read_bytes(path, limit=4096).decode("ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateIntegrityError(
            f"{path}: cannot read the workspace id ({exc}); it was altered — restore it or "
            "remove .agentos/ to start over",
            details={"path": str(path)},
        ) from None
    if not _ID.fullmatch(text):
        raise StateIntegrityError(
            f"{path}: not a workspace id; it was altered — restore it or remove .agentos/ to "
            "start over",
            details={"path": str(path)},
        )
    return text


def _key_path(directory: Path, workspace_id: str) -> Path:
    return directory / f"{workspace_id}.key"


def _read_key(directory: Path, workspace_id: str, state_dir: Path) -> bytes:
    path = _key_path(directory, workspace_id)
    try:
        data = read_bytes(path, limit=4096)
    except FileNotFoundError:
        raise StateIntegrityError(
            f"the key of this workspace's state ({state_dir}, id {workspace_id}) is missing "
            f"from {directory}: its journals, records and audit trail cannot be authenticated; "
            f"restore {path.name} there (or set {KEY_DIR_ENV} to where it is), or remove "
            ".agentos/ to start over",
            details={"key": str(path), "workspace_id": workspace_id},
        ) from None
    if len(data) != KEY_BYTES:
        raise StateIntegrityError(
            f"{path}: the workspace key is damaged ({len(data)} bytes, expected {KEY_BYTES})",
            details={"key": str(path)},
        )
    return data


def _create(state_dir: Path, directory: Path) -> str:
    """A new workspace id and key: the key first, then the id that names it, each linked
    into place so that a concurrent first use ends with one id and its key."""
    from agentos.statefs import ensure_private_dir, link_new, unlink

    workspace_id = os.urandom(16).hex()
    try:
        ensure_private_dir(directory)
        link_new(_key_path(directory, workspace_id), os.urandom(KEY_BYTES), mode=0o600)
    except OSError as exc:
        raise UsageError(
            f"cannot create the workspace key in {directory} ({exc.strerror or exc}); set "
            f"{KEY_DIR_ENV} to a writable private directory outside the workspace"
        ) from None
    from agentos.workspace import STATE_DIR_NAME, Workspace, ensure_state_dir

    if state_dir.name == STATE_DIR_NAME:
        ensure_state_dir(Workspace(state_dir.parent))
    else:
        ensure_private_dir(state_dir)
    with contextlib.suppress(FileExistsError):
        link_new(state_dir / ID_NAME, f"{workspace_id}\n".encode("ascii"), mode=0o644)
    chosen = _read_id(state_dir)
    if chosen is None:  # pragma: no cover - link_new either made it or found it
        raise StateIntegrityError(f"{state_dir / ID_NAME}: vanished while it was created")
    if chosen != workspace_id:
        # Another process won the race; its key is the workspace's, ours is unused.
        with contextlib.suppress(OSError):
            unlink(_key_path(directory, workspace_id))
    return chosen
