"""A power-loss model of the disk, for tests (SQLite's crash VFS, the ALICE study).

Killing the process (``tests/executor/test_crash_points.py``) keeps the page cache: every
write that returned is on disk. A power cut also drops what was never made durable. This
module records every disk-changing operation agentos makes (``faults.recording_fs``: the two
modules that write report each operation right after it succeeded, in program order), replays
the record over a model of the file system, and lists the on-disk states a power loss after
any recorded operation may leave.

The model, per inode: a file's current bytes and mode, and its durable ones (what an ``fsync``
of it last saw; a file never fsynced is durably empty, with the mode it was created with); a
directory's durable entries, its
current ones, and the entry changes made since its last ``fsync_dir``, in program order. What a
power loss may leave (``crash_space``):

- each directory keeps its durable entries plus *any prefix* of its unsynced changes: changes
  to one directory persist in order, different directories independently. A rename within one
  directory is one change (atomic: the old name or the new, never both or neither). A rename
  between two directories is two changes, a removal in the source and an addition in the
  destination, each in its own directory's order: so the file may persist under both names or
  under neither — weaker than ext4 or XFS promise, which is the point;
- each file whose bytes or mode are not durable holds its durable version, its current one, or
  a torn one (its durable bytes' common prefix with the current bytes plus half of the rest);
  hard links share the version;
- a directory's permission bits (``mkdir``, ``chmod``) are taken as durable at once;
- a directory whose own entry did not persist takes its whole subtree with it.

Files agentos does not report are outside the model: the kernel lock files (``.agentos/lock``,
``.agentos/audit/lock``: empty, recreated on use, harmless when lost) and tracebacks under
``.agentos/logs/``. An unlink of a path the model does not know (a temp file whose creation
failed before it was reported) is tolerated; a rename of one is remembered as unknown and makes
the self-check (``Recording.check_against``) fail.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = ".agentos"
# Written by filelock or the crash handler, never through statefs/fsops (see the docstring).
UNREPORTED = frozenset({f"{STATE_DIR}/lock", f"{STATE_DIR}/audit/lock"})
UNREPORTED_DIRS = (f"{STATE_DIR}/logs",)


def unreported(rel: str) -> bool:
    """True for the files agentos writes without reporting them (lock files, logs)."""
    return rel in UNREPORTED or any(rel == d or rel.startswith(d + "/") for d in UNREPORTED_DIRS)


# -- on-disk states ---------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """A directory tree: each regular file's bytes and permission bits, each directory's bits."""

    files: dict[str, tuple[bytes, int]]
    dirs: dict[str, int]

    @property
    def digest(self) -> str:
        """A hash of the whole tree, to tell identical states apart from different ones."""
        h = hashlib.sha256()
        for rel in sorted(self.dirs):
            h.update(f"d {rel} {self.dirs[rel]:o}\0".encode())
        for rel in sorted(self.files):
            data, mode = self.files[rel]
            h.update(f"f {rel} {mode:o} {len(data)}\0".encode())
            h.update(data)
        return h.hexdigest()

    def workspace(self) -> tuple[dict[str, tuple[bytes, int]], frozenset[str]]:
        """The workspace part (outside ``.agentos/`` and ``.git/``): files and directory names."""

        def outside(rel: str) -> bool:
            top = rel.split("/", 1)[0]
            return top not in (STATE_DIR, ".git")

        files = {rel: value for rel, value in self.files.items() if outside(rel)}
        return files, frozenset(rel for rel in self.dirs if outside(rel))


def read_state(root: Path) -> State:
    """The tree under ``root`` as it is on disk (without the unreported files).

    A symlink or other non-regular file shows up as a file with mode -1 (never expected).
    """
    files: dict[str, tuple[bytes, int]] = {}
    dirs: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        rel_dir = base.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = [d for d in dirnames if not unreported(prefix + d)]
        for name in dirnames:
            dirs[prefix + name] = stat.S_IMODE((base / name).lstat().st_mode)
        for name in filenames:
            rel = prefix + name
            if unreported(rel):
                continue
            info = (base / name).lstat()
            if stat.S_ISREG(info.st_mode):
                files[rel] = ((base / name).read_bytes(), stat.S_IMODE(info.st_mode))
            else:
                files[rel] = (b"", -1)
    return State(files, dirs)


def materialise(state: State, root: Path) -> None:
    """Create ``state`` under the new directory ``root`` (modes set after the contents)."""
    root.mkdir(parents=True)
    for rel in sorted(state.dirs):
        (root / rel).mkdir()
    for rel, (data, mode) in state.files.items():
        path = root / rel
        path.write_bytes(data)
        path.chmod(mode)
    for rel in sorted(state.dirs, reverse=True):
        (root / rel).chmod(state.dirs[rel])


# -- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One entry change of a directory: ``set`` ``name`` to ``node``, ``del`` ``name``, or
    ``move`` ``name`` to ``new_name`` (a rename within the directory: one atomic change)."""

    kind: str
    name: str
    node: Node | None = None
    new_name: str = ""

    def __str__(self) -> str:
        sign = {"set": "+", "del": "-"}.get(self.kind)
        return f"{sign}{self.name}" if sign else f"{self.name}->{self.new_name}"


@dataclass(eq=False)
class Node:
    """An inode: a regular file or a directory."""

    is_dir: bool
    mode: int
    data: bytes = b""  # files: current bytes
    durable_data: bytes = b""
    durable_mode: int = 0
    entries: dict[str, Node] = field(default_factory=dict)  # directories: current
    durable_entries: dict[str, Node] = field(default_factory=dict)
    pending: list[Change] = field(default_factory=list)  # entry changes since the last fsync

    def versions(self) -> list[tuple[str, bytes, int]]:
        """What a power loss may leave in this file: distinct (name, bytes, mode), durable first
        (then current: ``CrashSpace.kept`` relies on it)."""
        found: list[tuple[str, bytes, int]] = [("durable", self.durable_data, self.durable_mode)]
        common = 0
        for old, new in zip(self.durable_data, self.data, strict=False):
            if old != new:
                break
            common += 1
        torn = self.data[: common + (len(self.data) - common) // 2]
        for name, data, mode in (("current", self.data, self.mode), ("torn", torn, self.mode)):
            if all((data, mode) != (d, m) for _, d, m in found):
                found.append((name, data, mode))
        return found


def apply_change(entries: dict[str, Node], change: Change) -> None:
    """Apply one entry change to a directory listing."""
    if change.kind == "del":
        entries.pop(change.name, None)
        return
    assert change.node is not None
    if change.kind == "move":
        entries.pop(change.name, None)
        entries[change.new_name] = change.node
    else:
        entries[change.name] = change.node


def walk(
    root: Node,
    listing: Callable[[Node], dict[str, Node]],
    content: Callable[[Node], tuple[bytes, int]],
    dir_mode: Callable[[Node], int],
) -> State:
    """The tree reachable from ``root`` through ``listing``, each file holding ``content``.

    A directory reached a second time (never expected: agentos renames no directory) is
    listed once only.
    """
    files: dict[str, tuple[bytes, int]] = {}
    dirs: dict[str, int] = {}
    seen: set[int] = set()

    def visit(node: Node, prefix: str) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for name, child in listing(node).items():
            rel = prefix + name
            if child.is_dir:
                dirs[rel] = dir_mode(child)
                visit(child, rel + "/")
            else:
                files[rel] = content(child)

    visit(root, "")
    return State(files, dirs)


@dataclass(frozen=True)
class Event:
    """One recorded operation, with paths relative to the recording's root."""

    index: int
    kind: str
    paths: tuple[str, ...]
    data: bytes | None = None
    number: int | None = None  # a mode or a size

    def __str__(self) -> str:
        extra = ""
        if self.data is not None:
            extra = f" {len(self.data)} bytes"
        if self.number is not None:
            extra += f" {self.number:o}" if self.kind != "truncate" else f" to {self.number}"
        return f"#{self.index} {self.kind} {' -> '.join(self.paths)}{extra}"


class Model:
    """The file system under one root, replayed event by event."""

    def __init__(self, initial: State) -> None:
        self.root = Node(is_dir=True, mode=0o755)
        self.unknown: list[str] = []  # operations on paths the model never saw created
        for rel in sorted(initial.dirs):
            parent, name = self._parent(rel)
            node = Node(is_dir=True, mode=initial.dirs[rel])
            parent.entries[name] = parent.durable_entries[name] = node
        for rel, (data, mode) in initial.files.items():
            parent, name = self._parent(rel)
            node = Node(False, mode, data, data, mode)
            parent.entries[name] = parent.durable_entries[name] = node

    def _parent(self, rel: str) -> tuple[Node, str]:
        *dirs, name = rel.split("/")
        node = self.root
        for part in dirs:
            child = node.entries.get(part)
            if child is None or not child.is_dir:
                raise KeyError(rel)
            node = child
        return node, name

    def lookup(self, rel: str) -> Node | None:
        """The node at ``rel`` now, or None."""
        if rel == "":
            return self.root
        try:
            parent, name = self._parent(rel)
        except KeyError:
            return None
        return parent.entries.get(name)

    def _change(self, directory: Node, change: Change) -> None:
        apply_change(directory.entries, change)
        directory.pending.append(change)

    def apply(self, event: Event) -> None:
        """Replay one operation."""
        try:
            self._apply(event)
        except KeyError:
            self.unknown.append(f"{event}: its directory is not in the model")

    def _apply(self, event: Event) -> None:
        kind, paths = event.kind, event.paths
        if kind == "create":
            parent, name = self._parent(paths[0])
            mode = event.number or 0
            created = Node(False, mode, event.data or b"", b"", mode)
            self._change(parent, Change("set", name, created))
        elif kind == "mkdir":
            parent, name = self._parent(paths[0])
            self._change(parent, Change("set", name, Node(True, event.number or 0)))
        elif kind in ("append", "truncate", "fsync", "fsync_dir", "chmod"):
            node = self.lookup(paths[0])
            if node is None:
                self.unknown.append(f"{event}: no such path in the model")
                return
            if kind == "append":
                node.data += event.data or b""
            elif kind == "truncate":
                node.data = node.data[: event.number]
            elif kind == "fsync":
                node.durable_data, node.durable_mode = node.data, node.mode
            elif kind == "fsync_dir":
                node.durable_entries = dict(node.entries)
                node.pending = []
            else:  # chmod: a directory's bits are durable at once, a file's at its next fsync
                node.mode = event.number or 0
        elif kind in ("unlink", "rmdir"):
            node = self.lookup(paths[0])
            if node is None:
                return  # e.g. a temp file whose creation was never reported
            parent, name = self._parent(paths[0])
            self._change(parent, Change("del", name))
        elif kind in ("rename", "link"):
            node = self.lookup(paths[0])
            if node is None:
                self.unknown.append(f"{event}: the source was never reported")
                return
            source, old = self._parent(paths[0])
            target, new = self._parent(paths[1])
            if kind == "link":
                self._change(target, Change("set", new, node))
            elif source is target:
                self._change(source, Change("move", old, node, new))
            else:
                self._change(source, Change("del", old))
                self._change(target, Change("set", new, node))
        else:
            self.unknown.append(f"{event}: unknown kind of operation")

    def current(self) -> State:
        """The tree as the running program sees it."""
        return walk(
            self.root,
            lambda node: node.entries,
            lambda node: (node.data, node.mode),
            lambda node: node.mode,
        )

    # -- what a power loss may leave ---------------------------------------------------------

    def crash_space(self) -> CrashSpace:
        """The choices a power loss makes now: a prefix per directory, a version per file.

        The space is a snapshot: it stays valid while the model replays further events.
        """
        space = CrashSpace(self.root)
        # The current names first (the most telling in reports), then the others.
        for rel, node in self._paths(lambda d: d.entries):
            space.names.setdefault(id(node), rel)
        # Every node some choice can reach: through durable entries and pending additions.
        todo = [("", self.root)]
        while todo:
            rel, node = todo.pop()
            if id(node) in space.listings or id(node) in space.versions:
                continue
            space.names.setdefault(id(node), rel or ".")
            prefix = rel + "/" if rel else ""
            if node.is_dir:
                space.listings[id(node)] = dict(node.durable_entries)
                space.modes[id(node)] = node.mode
                if node.pending:
                    space.dirs.append((id(node), list(node.pending)))
                todo.extend((prefix + name, child) for name, child in node.durable_entries.items())
                for change in node.pending:
                    if change.node is not None:
                        name = change.new_name if change.kind == "move" else change.name
                        todo.append((prefix + name, change.node))
            else:
                versions = node.versions()
                space.versions[id(node)] = versions
                space.sizes[id(node)] = len(node.data)
                if len(versions) > 1:
                    space.files.append(id(node))
        return space

    def _paths(self, listing: Callable[[Node], dict[str, Node]]) -> Iterator[tuple[str, Node]]:
        def visit(node: Node, prefix: str) -> Iterator[tuple[str, Node]]:
            for name, child in listing(node).items():
                yield prefix + name, child
                if child.is_dir:
                    yield from visit(child, prefix + name + "/")

        return visit(self.root, "")


@dataclass(frozen=True)
class Choice:
    """One power loss: how many unsynced changes each directory keeps, which version each
    file holds (indexes into ``CrashSpace.dirs`` / ``CrashSpace.files``)."""

    prefixes: tuple[int, ...]
    versions: tuple[int, ...]


@dataclass
class CrashSpace:
    """Everything a power loss at one moment may choose, with what it needs to build the
    states (nodes are keys by identity; their mutable parts are copied)."""

    root: Node  # only its identity is used
    listings: dict[int, dict[str, Node]] = field(default_factory=dict)  # durable entries
    modes: dict[int, int] = field(default_factory=dict)  # directories' bits
    versions: dict[int, list[tuple[str, bytes, int]]] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)  # files' current sizes (for reports)
    dirs: list[tuple[int, list[Change]]] = field(default_factory=list)  # unsynced changes
    files: list[int] = field(default_factory=list)  # files with more than one version
    names: dict[int, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """How many combinations there are."""
        total = 1
        for _, changes in self.dirs:
            total *= len(changes) + 1
        for node in self.files:
            total *= len(self.versions[node])
        return total

    def lost(self) -> Choice:
        """Everything unsynced is lost."""
        return Choice((0,) * len(self.dirs), (0,) * len(self.files))

    def kept(self) -> Choice:
        """Everything unsynced persisted (the state a process kill leaves)."""
        return Choice(
            tuple(len(changes) for _, changes in self.dirs),
            (1,) * len(self.files),  # "current" is always the second version
        )

    def choices(self, limit: int, rng: random.Random) -> Iterator[Choice]:
        """Every combination when there are at most ``limit``; else the two extremes and
        ``limit`` random ones."""
        prefix_ranges = [range(len(changes) + 1) for _, changes in self.dirs]
        version_ranges = [range(len(self.versions[node])) for node in self.files]
        if self.size <= limit:
            for combo in itertools.product(*prefix_ranges, *version_ranges):
                yield Choice(combo[: len(self.dirs)], combo[len(self.dirs) :])
            return
        yield self.lost()
        yield self.kept()
        for _ in range(limit):
            yield Choice(
                tuple(rng.choice(r) for r in prefix_ranges),
                tuple(rng.choice(r) for r in version_ranges),
            )

    def state(self, choice: Choice) -> State:
        """The tree this power loss leaves."""
        listings = dict(self.listings)
        for (node, changes), keep in zip(self.dirs, choice.prefixes, strict=True):
            entries = dict(listings[node])
            for change in changes[:keep]:
                apply_change(entries, change)
            listings[node] = entries
        picked = dict(zip(self.files, choice.versions, strict=True))

        def content(node: Node) -> tuple[bytes, int]:
            _, data, mode = self.versions[id(node)][picked.get(id(node), 0)]
            return data, mode

        return walk(
            self.root,
            lambda node: listings[id(node)],
            content,
            lambda node: self.modes[id(node)],
        )

    def describe(self, choice: Choice) -> list[str]:
        """The choice in words: each directory's kept changes, each file's version."""
        lines = []
        for (node, changes), keep in zip(self.dirs, choice.prefixes, strict=True):
            kept = ", ".join(str(c) for c in changes[:keep]) or "none"
            lost = ", ".join(str(c) for c in changes[keep:]) or "none"
            where = self.names.get(node, "?")
            lines.append(f"dir {where}/: kept {keep} of {len(changes)} [{kept}], lost [{lost}]")
        for node, pick in zip(self.files, choice.versions, strict=True):
            name, data, mode = self.versions[node][pick]
            where = self.names.get(node, "?")
            lines.append(
                f"file {where}: {name} ({len(data)} of {self.sizes[node]} bytes, {mode:o})"
            )
        return lines


# -- recording ------------------------------------------------------------------------------


class Recording:
    """A recorder for ``faults.recording_fs``: the tree at the start and every operation under
    ``root`` after it (operations elsewhere, e.g. the workspace key, are counted apart)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.initial = read_state(self.root)
        self.events: list[Event] = []
        self.outside = 0

    def __call__(self, kind: str, args: tuple[object, ...]) -> None:
        paths: list[str] = []
        data: bytes | None = None
        number: int | None = None
        for arg in args:
            if isinstance(arg, Path):
                try:
                    paths.append(arg.relative_to(self.root).as_posix())
                except ValueError:
                    self.outside += 1
                    return
            elif isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, int):
                number = arg
            else:
                raise TypeError(f"unexpected argument {arg!r} of a {kind} event")
        paths = ["" if p == "." else p for p in paths]
        self.events.append(Event(len(self.events), kind, tuple(paths), data, number))

    def replay(self) -> Iterator[tuple[Event, Model]]:
        """The model after each event (the same object, advanced step by step)."""
        model = Model(self.initial)
        for event in self.events:
            model.apply(event)
            yield event, model

    def check_against(self, disk: State) -> list[str]:
        """Why the replayed record does not explain ``disk`` (empty when it does): each
        difference names the operation that was never reported."""
        model = Model(self.initial)
        for event in self.events:
            model.apply(event)
        problems = list(model.unknown)
        current = model.current()
        for rel in sorted(disk.files.keys() - current.files.keys()):
            problems.append(f"file {rel} is on disk but was never reported (create or rename)")
        for rel in sorted(current.files.keys() - disk.files.keys()):
            problems.append(f"file {rel} is gone but its unlink or rename was never reported")
        for rel in sorted(disk.files.keys() & current.files.keys()):
            (data, mode), (want, want_mode) = disk.files[rel], current.files[rel]
            if data != want:
                problems.append(
                    f"file {rel}: {len(data)} bytes on disk, {len(want)} in the model "
                    "(a write, append or truncate was never reported)"
                )
            if mode != want_mode:
                problems.append(
                    f"file {rel}: mode {mode:o} on disk, {want_mode:o} in the model "
                    "(a chmod was never reported)"
                )
        for rel in sorted(disk.dirs.keys() - current.dirs.keys()):
            problems.append(f"directory {rel} is on disk but its mkdir was never reported")
        for rel in sorted(current.dirs.keys() - disk.dirs.keys()):
            problems.append(f"directory {rel} is gone but its rmdir was never reported")
        for rel in sorted(disk.dirs.keys() & current.dirs.keys()):
            if disk.dirs[rel] != current.dirs[rel]:
                problems.append(
                    f"directory {rel}: mode {disk.dirs[rel]:o} on disk, {current.dirs[rel]:o} "
                    "in the model (a chmod was never reported)"
                )
        return problems
