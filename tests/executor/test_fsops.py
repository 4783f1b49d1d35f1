"""WorkspaceWriter on its own: defense in depth below the WriteGate (SPEC §1, §8.5, §12).

These tests call the writer directly, as a caller that skipped the gate would: it must still
refuse paths outside the workspace, outside ``executor.allowed_paths``, matching
``writegate.forbidden_paths`` (whatever their case), inside ``.git/`` or ``.agentos/``, through
a symlinked directory (also one swapped in between two calls) and at a symlink, and never
create or change anything outside the workspace. It must also write exact bytes and
permission bits through its temp-file protocol, with deterministic temp names, and compute
permissions and missing directories as documented.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.errors import DeniedError, WriteRefusedError
from agentos.executor.fsops import FileState, Guard, WorkspaceWriter
from agentos.executor.modes import current_umask, permission_bits

ALLOW_ALL = Guard(allowed=("**",), forbidden=())
TEMP_RE = re.compile(r"^\.agentos-(?P<tag>[^-]+)-(?P<phase>[a-z]+)-(?P<hash>[0-9a-f]{16})\.tmp$")

Snapshot = dict[str, tuple[str, int, int, bytes]]


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """``tmp_path/ws`` (the workspace) next to ``tmp_path/outside`` (must never change)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "empty").mkdir()
    (outside / "target.txt").write_bytes(b"outside target\n")
    (outside / "sub" / "x").write_bytes(b"outside x\n")
    (outside / "z").write_bytes(b"outside z\n")
    (tmp_path / "x").write_bytes(b"sibling of the workspace\n")
    return ws, outside


def snapshot_outside(parent: Path, workspace: Path) -> Snapshot:
    """Everything under ``parent`` except ``workspace``: kind, mode, mtime and bytes/link."""
    snap: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(parent):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != workspace]
        for name in [".", *dirnames, *filenames]:
            path = here / name if name != "." else here
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                kind, body = "link", str(path.readlink()).encode()
            elif stat.S_ISDIR(info.st_mode):
                kind, body = "dir", b""
            else:
                kind, body = "file", path.read_bytes()
            rel = path.relative_to(parent).as_posix()
            snap[rel] = (kind, info.st_mode, info.st_mtime_ns, body)
    return snap


def writer(ws: Path, guard: Guard = ALLOW_ALL, tag: str = "t1") -> WorkspaceWriter:
    """A durable writer over ``ws``."""
    return WorkspaceWriter(ws, guard, tag=tag)


def temps_in(directory: Path) -> list[str]:
    """The writer's temp files in one directory."""
    return sorted(p.name for p in directory.iterdir() if TEMP_RE.match(p.name))


def all_operations(w: WorkspaceWriter, rel: str) -> dict[str, Callable[[], object]]:
    """Every operation of the writer that takes a file path, bound to ``rel``."""
    return {
        "check": lambda: w.check(rel),
        "read": lambda: w.read(rel),
        "exists": lambda: w.exists(rel),
        "write_temp": lambda: w.write_temp(rel, b"payload\n", 0o644),
        "fsync_temps": lambda: w.fsync_temps([rel, rel]),
        "replace": lambda: w.replace(rel),
        "unlink": lambda: w.unlink(rel),
        "remove_temp": lambda: w.remove_temp(rel, "w"),
    }


# -- paths outside the workspace and the rules -----------------------------------------------

UNSAFE = [
    "../x",
    "../outside/z",
    "a/../../x",
    "/tmp/agentos-absolute",
    "//server/share/x",
    "a\\..\\x",
    ".git/config",
    ".GIT/hooks/pre-commit",
    "sub/.git/config",
    ".agentos/journal/x.json",
    "deep/.agentos/x",
    "",
    "a/\x00b",
]


@pytest.mark.parametrize("rel", UNSAFE)
def test_unsafe_paths_are_refused_by_every_operation(layout: tuple[Path, Path], rel: str) -> None:
    ws, _outside = layout
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_bytes(b"[core]\n")
    before = snapshot_outside(ws.parent, ws)
    inside_before = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*"))
    w = writer(ws)
    for name, operation in all_operations(w, rel).items():
        with pytest.raises(WriteRefusedError) as info:
            operation()
        assert isinstance(info.value, DeniedError), name
        assert info.value.exit_code == 3, name
        assert info.value.details["path"] == rel, name
    if rel:  # rmdir checks path-safety only, and must refuse all of these too
        with pytest.raises(WriteRefusedError):
            w.rmdir(rel)
    assert snapshot_outside(ws.parent, ws) == before
    assert sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*")) == inside_before
    assert (ws / ".git" / "config").read_bytes() == b"[core]\n"


def test_paths_outside_allowed_patterns_are_refused(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    w = writer(ws, Guard(allowed=("src/**", "README.md"), forbidden=()))
    w.check("src/a/b.py")
    w.check("README.md")
    for rel in ("docs/x.md", "srcx/a.py", "readme.md", "SRC/a.py"):
        for name, operation in all_operations(w, rel).items():
            with pytest.raises(WriteRefusedError, match="allowed_paths"):
                operation()
            assert not (ws / rel.split("/")[0]).exists(), (rel, name)
    # the allowed paths really are writable
    w.write_temp("src/a/b.py", b"ok\n", 0o644)
    w.fsync_temps(["src/a/b.py"])
    w.replace("src/a/b.py")
    assert (ws / "src" / "a" / "b.py").read_bytes() == b"ok\n"


@pytest.mark.parametrize(
    "rel",
    [
        ".env",
        ".ENV",
        ".Env",
        "sub/.env",
        "Sub/DEEP/.eNv",
        "secrets/x",
        "SECRETS/x",
        "k.PEM",
        "a/b.pem",
    ],
)
def test_forbidden_patterns_are_refused_whatever_the_case(
    layout: tuple[Path, Path], rel: str
) -> None:
    ws, _outside = layout
    w = writer(ws, Guard(allowed=("**",), forbidden=(".env", "secrets/**", "*.pem")))
    before = snapshot_outside(ws.parent, ws)
    for operation in all_operations(w, rel).values():
        with pytest.raises(WriteRefusedError, match="forbidden path"):
            operation()
    assert list(ws.iterdir()) == []  # not even a parent directory was made
    assert snapshot_outside(ws.parent, ws) == before


def test_forbidden_file_that_exists_is_neither_replaced_nor_removed(
    layout: tuple[Path, Path],
) -> None:
    ws, _outside = layout
    (ws / ".ENV").write_bytes(b"TOKEN=1\n")
    w = writer(ws, Guard(allowed=("**",), forbidden=(".env",)))
    with pytest.raises(WriteRefusedError):
        w.unlink(".ENV")
    with pytest.raises(WriteRefusedError):
        w.replace(".ENV")
    with pytest.raises(WriteRefusedError):
        w.read(".ENV")
    assert (ws / ".ENV").read_bytes() == b"TOKEN=1\n"


def test_allowed_patterns_are_case_sensitive_forbidden_ones_are_not() -> None:
    w = writer(Path("/nonexistent"), Guard(allowed=("src/**",), forbidden=("src/private/**",)))
    w.check("src/a.py")
    with pytest.raises(WriteRefusedError, match="allowed_paths"):
        w.check("Src/a.py")
    with pytest.raises(WriteRefusedError, match="forbidden"):
        w.check("src/PRIVATE/a.py")


# -- symlinks --------------------------------------------------------------------------------


def test_symlinked_directory_is_never_followed(layout: tuple[Path, Path]) -> None:
    ws, outside = layout
    (ws / "d").symlink_to(outside)
    (ws / "real").mkdir()
    (ws / "real" / "nested").symlink_to(outside)
    before = snapshot_outside(ws.parent, ws)
    w = writer(ws)
    for rel in ("d/z", "d/sub/x", "d/new/y", "real/nested/z", "real/nested/sub/x"):
        for name, operation in all_operations(w, rel).items():
            if name == "check":
                continue  # the string alone is fine; the walk must refuse
            with pytest.raises(WriteRefusedError, match="symlink"):
                operation()
    with pytest.raises(WriteRefusedError, match="symlink"):
        w.rmdir("d/empty")
    assert snapshot_outside(ws.parent, ws) == before
    assert (ws / "d").is_symlink()


def test_symlink_swapped_in_between_two_calls_is_refused(layout: tuple[Path, Path]) -> None:
    """TOCTOU: the directory was real when the temp was written, a symlink at the replace."""
    ws, outside = layout
    (ws / "d" / "inner").mkdir(parents=True)
    (ws / "d" / "z").write_bytes(b"inside z\n")
    w = writer(ws)
    w.write_temp("d/z", b"new z\n", 0o644)
    w.write_temp("d/inner/x", b"new x\n", 0o644)
    w.fsync_temps(["d/z", "d/inner/x"])
    temp_z = w.temp_name("d/z", "w")
    assert (ws / "d" / temp_z).read_bytes() == b"new z\n"
    # An attacker moves the real directory away and puts a symlink to the outside there;
    # the outside even holds a file with the temp's name, ready to be renamed over ``z``.
    (ws / "d").rename(ws / "d-real")
    (ws / "d").symlink_to(outside)
    (outside / temp_z).write_bytes(b"planted\n")
    (outside / "inner").mkdir()
    before = snapshot_outside(ws.parent, ws)
    for operation in (
        lambda: w.replace("d/z"),
        lambda: w.replace("d/inner/x"),
        lambda: w.fsync_temps(["d/z", "d/inner/x"]),
        lambda: w.fsync_temps(["d/z"]),
        lambda: w.write_temp("d/z", b"again\n", 0o644),
        lambda: w.write_temp("d/brand/new", b"again\n", 0o644),
        lambda: w.unlink("d/z"),
        lambda: w.read("d/z"),
        lambda: w.exists("d/z"),
        lambda: w.remove_temp("d/z", "w"),
        lambda: w.rmdir("d/inner"),
    ):
        with pytest.raises(WriteRefusedError, match="symlink"):
            operation()
    assert snapshot_outside(ws.parent, ws) == before
    assert (outside / "z").read_bytes() == b"outside z\n"
    assert (ws / "d-real" / "z").read_bytes() == b"inside z\n"  # the moved original too
    # an intermediate directory swapped for a symlink deeper down is refused as well
    (ws / "d").unlink()
    (ws / "d-real").rename(ws / "d")
    (ws / "d" / "inner").rename(ws / "d" / "inner-real")
    (ws / "d" / "inner").symlink_to(outside / "inner")
    with pytest.raises(WriteRefusedError, match="symlink"):
        w.replace("d/inner/x")
    assert list((outside / "inner").iterdir()) == []


@pytest.mark.parametrize("target", ["outside/target.txt", "outside/missing.txt", "inside.txt"])
def test_operations_at_a_symlink_are_refused(layout: tuple[Path, Path], target: str) -> None:
    ws, _outside = layout
    (ws / "inside.txt").write_bytes(b"inside\n")
    link_target = ws / target if target == "inside.txt" else ws.parent / target
    (ws / "l").symlink_to(link_target)
    (ws / "sub").mkdir()
    (ws / "sub" / "l").symlink_to(link_target)
    before = snapshot_outside(ws.parent, ws)
    w = writer(ws)
    for rel in ("l", "sub/l"):
        w.write_temp(rel, b"would replace the link\n", 0o644)  # a temp next to it is fine
        with pytest.raises(WriteRefusedError, match="symlink"):
            w.replace(rel)
        with pytest.raises(WriteRefusedError, match="symlink"):
            w.unlink(rel)
        with pytest.raises(WriteRefusedError, match="symlink"):
            w.read(rel)
        assert (ws / rel).is_symlink()
        assert (ws / rel).readlink() == link_target
        assert w.remove_temp(rel, "w")
    assert snapshot_outside(ws.parent, ws) == before
    assert (ws / "inside.txt").read_bytes() == b"inside\n"
    assert temps_in(ws) == [] and temps_in(ws / "sub") == []


def test_read_refuses_a_directory(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    (ws / "dir").mkdir()
    with pytest.raises(WriteRefusedError, match="not a regular file"):
        writer(ws).read("dir")


def test_read_of_a_fifo_is_refused_without_blocking(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    os.mkfifo(ws / "fifo")
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(writer(ws).read("fifo"))
        except Exception as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(1.0)
    blocked = thread.is_alive()
    if blocked:  # release the reader so no thread is left hanging
        os.close(os.open(ws / "fifo", os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5.0)
    assert not blocked, "read() blocked on a FIFO"
    assert len(outcome) == 1 and isinstance(outcome[0], WriteRefusedError)


def test_file_used_as_a_directory_is_refused(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    (ws / "f").write_bytes(b"a file\n")
    w = writer(ws)
    for operation in (
        lambda: w.write_temp("f/x", b"x\n", 0o644),
        lambda: w.read("f/x"),
        lambda: w.exists("f/x"),
        lambda: w.replace("f/x"),
    ):
        with pytest.raises(WriteRefusedError, match="not a directory"):
            operation()
    assert (ws / "f").read_bytes() == b"a file\n"


# -- the write protocol ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "size"),
    [(0o644, 0), (0o755, 1), (0o600, 65_537), (0o640, 1_048_583), (0o751, 4096), (0o444, 10)],
)
def test_write_fsync_replace_gives_exact_bytes_and_mode(
    layout: tuple[Path, Path], mode: int, size: int
) -> None:
    ws, _outside = layout
    data = os.urandom(size)
    (ws / "old").mkdir()
    (ws / "old" / "f.bin").write_bytes(b"previous\n")
    (ws / "old" / "f.bin").chmod(0o644 if mode != 0o644 else 0o600)
    w = writer(ws)
    for rel in ("old/f.bin", "new/dir/g.bin"):
        before = (ws / rel).read_bytes() if (ws / rel).exists() else None
        w.write_temp(rel, data, mode)
        temp = (ws / rel).parent / w.temp_name(rel, "w")
        assert temp.read_bytes() == data
        assert stat.S_IMODE(temp.lstat().st_mode) == mode
        # the target is untouched until replace
        assert ((ws / rel).read_bytes() if (ws / rel).exists() else None) == before
        w.fsync_temps([rel])
        w.replace(rel)
        info = (ws / rel).lstat()
        assert stat.S_ISREG(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == mode
        assert (ws / rel).read_bytes() == data
        assert w.read(rel) == FileState(data, mode)
        assert temps_in((ws / rel).parent) == []
    w.fsync_dirs(["old/f.bin", "new/dir/g.bin", "new/dir"])


def test_many_temps_fsynced_in_parallel_then_replaced(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    w = writer(ws)
    files = {f"d{i % 5}/f{i}.txt": f"content {i}\n".encode() * (i + 1) for i in range(40)}
    for rel, data in files.items():
        w.write_temp(rel, data, 0o640)
    w.fsync_temps(files)
    for rel in files:
        w.replace(rel)
    w.fsync_dirs(files)
    for rel, data in files.items():
        assert (ws / rel).read_bytes() == data
        assert stat.S_IMODE((ws / rel).stat().st_mode) == 0o640
    assert all(temps_in(ws / f"d{i}") == [] for i in range(5))


def test_non_durable_writer_writes_the_same(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    w = WorkspaceWriter(ws, ALLOW_ALL, tag="nd", durable=False)
    w.write_temp("a/b", b"bytes\n", 0o755)
    w.fsync_temps(["a/b"])
    w.replace("a/b")
    w.fsync_dirs(["a/b"])
    assert w.read("a/b") == FileState(b"bytes\n", 0o755)


def test_write_whole_writes_one_file_and_leaves_no_temp(layout: tuple[Path, Path]) -> None:
    ws, outside = layout
    only = WorkspaceWriter(ws, Guard(allowed=(".claude/settings.json",), forbidden=()), tag="w1")
    only.write_whole(".claude/settings.json", b"{}\n", 0o600)
    assert only.read(".claude/settings.json") == FileState(b"{}\n", 0o600)
    only.write_whole(".claude/settings.json", b'{"a": 1}\n', 0o644)
    assert only.read(".claude/settings.json") == FileState(b'{"a": 1}\n', 0o644)
    assert temps_in(ws / ".claude") == []
    # Its guard allows that one file, and no link on the way is followed.
    with pytest.raises(WriteRefusedError):
        only.write_whole(".claude/other.json", b"x", 0o644)
    (ws / ".gemini").symlink_to(outside)
    gemini = WorkspaceWriter(ws, Guard(allowed=(".gemini/settings.json",), forbidden=()), tag="w2")
    with pytest.raises(WriteRefusedError):
        gemini.write_whole(".gemini/settings.json", b"{}", 0o644)
    assert not (outside / "settings.json").exists()
    assert temps_in(outside) == []


def test_temp_names_are_deterministic_per_tag_phase_and_path(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    first, again, other = writer(ws, tag="ab12"), writer(ws, tag="ab12"), writer(ws, tag="cd34")
    names = {}
    for rel in ("a.txt", "dir/a.txt", "dir/b.txt", "ünï code/ß.txt"):
        for phase in ("w", "r"):
            name = first.temp_name(rel, phase)
            match = TEMP_RE.match(name)
            assert match is not None, name
            assert (match["tag"], match["phase"]) == ("ab12", phase)
            assert again.temp_name(rel, phase) == name  # same inputs, same name
            assert other.temp_name(rel, phase) != name  # another execution, another name
            names[(rel, phase)] = name
    # distinct per (path, phase); the name never contains the path itself
    assert len(set(names.values())) == len(names)
    assert all("/" not in n and "a.txt" not in n for n in names.values())
    # a recovery writer with the same tag finds and removes what the first one left
    first.write_temp("dir/a.txt", b"w\n", 0o644)
    first.write_temp("dir/a.txt", b"r\n", 0o644, phase="r")
    assert temps_in(ws / "dir") == sorted([names[("dir/a.txt", "w")], names[("dir/a.txt", "r")]])
    assert not other.remove_temp("dir/a.txt", "w")
    assert again.remove_temp("dir/a.txt", "w")
    assert temps_in(ws / "dir") == [names[("dir/a.txt", "r")]]
    assert not again.remove_temp("dir/a.txt", "w")
    assert again.remove_temp("dir/a.txt", "r")
    assert temps_in(ws / "dir") == []
    assert not again.remove_temp("missing/dir/a.txt", "w")
    assert not (ws / "missing").exists()


def test_write_temp_replaces_a_stale_temp_of_the_same_name(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    w = writer(ws)
    w.write_temp("a", b"first, longer content\n", 0o600)
    w.write_temp("a", b"second\n", 0o644)
    assert (ws / w.temp_name("a", "w")).read_bytes() == b"second\n"
    w.replace("a")
    assert w.read("a") == FileState(b"second\n", 0o644)


def test_unlink_removes_a_file_and_reports_a_missing_one(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    (ws / "d").mkdir()
    (ws / "d" / "f").write_bytes(b"x")
    w = writer(ws)
    assert w.unlink("d/f") is True
    assert not (ws / "d" / "f").exists()
    assert (ws / "d").is_dir()


def test_unlink_of_a_missing_file_returns_false(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    (ws / "d").mkdir()
    assert writer(ws).unlink("d/gone") is False


# -- rmdir -----------------------------------------------------------------------------------


def test_rmdir_removes_only_empty_directories(layout: tuple[Path, Path]) -> None:
    ws, _outside = layout
    (ws / "empty").mkdir()
    (ws / "full").mkdir()
    (ws / "full" / "f").write_bytes(b"keep\n")
    (ws / "nest" / "inner").mkdir(parents=True)
    (ws / "hidden").mkdir()
    (ws / "hidden" / ".dot").write_bytes(b"")
    w = writer(ws)
    assert w.rmdir("empty") is True
    assert not (ws / "empty").exists()
    assert w.rmdir("full") is False
    assert (ws / "full" / "f").read_bytes() == b"keep\n"
    assert w.rmdir("nest") is False
    assert (ws / "nest" / "inner").is_dir()
    assert w.rmdir("hidden") is False
    assert (ws / "hidden" / ".dot").exists()
    assert w.rmdir("nest/inner") is True
    assert w.rmdir("nest") is True
    assert w.rmdir("never/existed") is True  # gone is gone
    assert sorted(p.name for p in ws.iterdir()) == ["full", "hidden"]


def test_rmdir_never_removes_a_file_or_a_symlink(layout: tuple[Path, Path]) -> None:
    ws, outside = layout
    (ws / "f").write_bytes(b"file\n")
    (ws / "l").symlink_to(outside / "empty")
    before = snapshot_outside(ws.parent, ws)
    w = writer(ws)
    w.rmdir("f")
    w.rmdir("l")
    assert (ws / "f").read_bytes() == b"file\n"
    assert (ws / "l").is_symlink()
    assert snapshot_outside(ws.parent, ws) == before


def test_rmdir_does_not_report_a_file_or_symlink_as_removed(layout: tuple[Path, Path]) -> None:
    ws, outside = layout
    (ws / "f").write_bytes(b"file\n")
    (ws / "l").symlink_to(outside / "empty")
    w = writer(ws)
    assert w.rmdir("f") is False
    assert w.rmdir("l") is False


# -- permission bits and missing directories -------------------------------------------------


@pytest.mark.parametrize(
    ("umask", "plain", "executable"),
    [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700), (0o000, 0o666, 0o777)],
)
def test_permission_bits_of_a_new_file_follow_the_umask(
    umask: int, plain: int, executable: int
) -> None:
    assert permission_bits(False, None, umask) == plain
    assert permission_bits(True, None, umask) == executable


@pytest.mark.parametrize(
    ("existing", "executable", "expected"),
    [
        (0o644, True, 0o755),
        (0o640, True, 0o750),
        (0o600, True, 0o700),
        (0o604, True, 0o705),
        (0o755, True, 0o755),
        (0o755, False, 0o644),
        (0o751, False, 0o640),
        (0o700, False, 0o600),
        (0o644, False, 0o644),
        (0o4755, False, 0o4644),
    ],
)
def test_permission_bits_of_an_existing_file(
    existing: int, executable: bool, expected: int
) -> None:
    for umask in (0o022, 0o077, 0o000):  # an existing file ignores the umask
        assert permission_bits(executable, existing, umask) == expected


@given(existing=st.integers(0, 0o777), umask=st.integers(0, 0o777))
def test_permission_bits_properties(existing: int, umask: int) -> None:
    made_exec = permission_bits(True, existing, umask)
    made_plain = permission_bits(False, existing, umask)
    # non-execute bits are kept exactly
    assert made_exec & ~0o111 == existing & ~0o111
    assert made_plain & ~0o111 == existing & ~0o111
    # plain: every execute bit cleared
    assert made_plain & 0o111 == 0
    # executable: the owner can run it, and whoever can read it can run it; none taken away
    assert made_exec & 0o100
    assert made_exec & existing == existing
    for read_bit, exec_bit in ((0o400, 0o100), (0o040, 0o010), (0o004, 0o001)):
        if existing & read_bit:
            assert made_exec & exec_bit
        elif not existing & exec_bit and exec_bit != 0o100:
            assert not made_exec & exec_bit
    # a new file: 0o666 / 0o777 less the umask
    assert permission_bits(False, None, umask) == 0o666 & ~umask
    assert permission_bits(True, None, umask) == 0o777 & ~umask


def test_current_umask_is_the_process_umask() -> None:
    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
    finally:
        os.umask(old)
    assert current_umask() == old


def test_missing_dirs_outermost_first(layout: tuple[Path, Path]) -> None:
    ws, outside = layout
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "file").write_bytes(b"x")
    (ws / "link").symlink_to(outside)
    w = writer(ws)
    assert w.missing_dirs("x.txt") == []
    assert w.missing_dirs("a/x.txt") == []
    assert w.missing_dirs("a/b/x.txt") == []
    assert w.missing_dirs("a/b/c/x.txt") == ["a/b/c"]
    assert w.missing_dirs("a/n/m/k/x.txt") == ["a/n", "a/n/m", "a/n/m/k"]
    assert w.missing_dirs("new/x.txt") == ["new"]
    assert w.missing_dirs("p/q/x.txt") == ["p", "p/q"]
    # neither a file nor a symlink counts as an existing directory (the write then refuses)
    assert w.missing_dirs("file/x.txt") == ["file"]
    assert w.missing_dirs("link/sub/x") == ["link", "link/sub"]
    assert list(ws.iterdir()) != [] and not (ws / "new").exists()
    # creating a deep file makes exactly those directories
    w.write_temp("a/n/m/k/x.txt", b"x\n", 0o644)
    w.replace("a/n/m/k/x.txt")
    assert w.missing_dirs("a/n/m/k/x.txt") == []
    assert (ws / "a" / "n" / "m" / "k" / "x.txt").read_bytes() == b"x\n"
