"""The pure part of reaping: a process table read from ``/proc``, the tree below a process,
and which of its members a sweep kills (``select_victims``). No I/O here: ``reaper`` reads
``/proc`` and sends the signals."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass


@dataclass(frozen=True)
class Proc:
    """What ``/proc/<pid>/stat`` says about a process, as far as reaping is concerned."""

    ppid: int
    state: str
    session: int
    start: int  # clock ticks after boot: with the pid, it names one process even if pids wrap


Table = Mapping[int, Proc]
Identity = tuple[int, int]  # (pid, start)


def parse_stat(data: bytes) -> Proc | None:
    """The fields of one ``/proc/<pid>/stat`` line that matter here; None if it is not one."""
    # The command name sits in parentheses and may itself hold spaces and ')': cut at the last.
    _, paren, rest = data.rpartition(b")")
    fields = rest.split()
    if not paren or len(fields) < 20:
        return None
    try:
        return Proc(
            ppid=int(fields[1]),
            state=fields[0].decode("ascii", "replace"),
            session=int(fields[3]),
            start=int(fields[19]),
        )
    except ValueError:
        return None


def _children(table: Table) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    return children


def descendants(table: Table, root: int) -> set[int]:
    """Every process below ``root`` in the parent tree of ``table`` (``root`` excluded)."""
    children = _children(table)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child != root and child not in found:
                found.add(child)
                todo.append(child)
    return found


def identities(table: Table, pids: Iterable[int]) -> frozenset[Identity]:
    """``(pid, start)`` of each of ``pids``: a process, not just a number that may be reused."""
    return frozenset((pid, table[pid].start) for pid in pids if pid in table)


def select_victims(
    table: Table,
    root: int,
    *,
    before: AbstractSet[Identity],
    spared: AbstractSet[int],
    marked: Callable[[int], bool] | None = None,
) -> set[int]:
    """The descendants of ``root`` a sweep kills (the zombies among them are only reaped).

    What is below ``root`` is either a check's — its process, what it started, what it
    orphaned (adopted by ``root``) — or not. Not a check's, and neither is anything below
    it: a process in the snapshot ``before``, and one in ``root``'s own session (every check
    starts a session, and no process can join ours again). Of the rest, the victims are those
    not ``spared`` (check processes a ``Popen`` still owns) and, given ``marked``, marked.
    """
    own = table.get(root)
    if own is None:
        return set()
    children = _children(table)
    victims: set[int] = set()
    seen = {root}
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            info = table[pid]
            if pid in seen or (pid, info.start) in before or info.session == own.session:
                continue
            seen.add(pid)
            todo.append(pid)
            if pid not in spared and (marked is None or marked(pid)):
                victims.add(pid)
    return victims
