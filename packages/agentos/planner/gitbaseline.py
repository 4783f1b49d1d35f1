"""A commit's files as the planner's baseline, so a plan made from git pins its pre-images to
that commit's blobs rather than to whatever the working tree holds.

``GitBaseline`` answers the same questions as ``Baseline`` (what a path is, what a file
holds) from ``git ls-tree`` and ``git cat-file --batch``: the paths a diff touches are asked
for at once (``prefetch``), any other path when it is first needed. Links and submodules are
refused as the workspace baseline refuses them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agentos.errors import UnsupportedFileError, UsageError
from agentos.gitrun import Git, GitOutput, GitRunner, arg_batches
from agentos.model import MODE_EXECUTABLE, MODE_REGULAR
from agentos.planner.tree import Baseline, FileState, Kind

_MODE_LINK, _MODE_GITLINK, _MODE_TREE = "120000", "160000", "040000"


@dataclass(frozen=True)
class TreeEntry:
    """One entry of the commit's tree: git mode, object type and object id."""

    mode: str
    type: str
    oid: str


def plan_git(root: Path, runner: GitRunner, option: str) -> Git:
    """Git as plans from git run it, in the workspace ``root``, for ``option``."""
    return Git(root, runner, option=option, instead="plan from a patch file")


class GitBaseline(Baseline):
    """The files of ``commit`` (a full id), read through ``runner`` in the work tree at
    ``root`` (paths are relative to it, as ``git diff --relative`` gives them); ``option``
    is what asked for them."""

    def __init__(self, root: Path, commit: str, runner: GitRunner, option: str = "--git") -> None:
        super().__init__(root)
        self.commit = commit
        self.git = plan_git(root, runner, option)
        self._entries: dict[str, TreeEntry | None] = {}
        self._blobs: dict[str, bytes] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        """Look up ``paths`` and every folder above them in one pass, and read their blobs."""
        wanted: set[str] = set()
        for path in paths:
            parts = path.split("/")
            wanted.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
        wanted -= self._entries.keys()
        if not wanted:
            return
        for batch in arg_batches(sorted(wanted)):
            listed = self._ls_tree(batch)
            for path in batch:
                self._entries[path] = listed.get(path)
        files = {
            path: entry.oid
            for path in wanted
            if (entry := self._entries[path]) is not None and entry.type == "blob"
        }
        if files:
            self._blobs.update(self._cat_files(files))

    def _lstat_kind(self, path: str) -> Kind:
        if path not in self._entries:
            self.prefetch([path])
        entry = self._entries[path]
        if entry is None:
            return "missing"
        if entry.mode == _MODE_LINK:
            self._refuse_symlink(path)
        if entry.type == "tree" or entry.mode == _MODE_TREE:
            return "dir"
        if entry.type == "blob":
            return "file"
        what = "a submodule" if entry.mode == _MODE_GITLINK else f"of git mode {entry.mode}"
        raise UnsupportedFileError(
            f"{path}: is {what} in commit {self.commit}; agentos only changes regular files",
            details={"path": path, "commit": self.commit},
        )

    def _read(self, path: str) -> FileState:
        entry = self._entries[path]
        if entry is None or path not in self._blobs:  # kind() said "file": both are known
            raise UsageError(f"{path}: git did not give the blob of commit {self.commit}")
        mode = MODE_EXECUTABLE if entry.mode == "100755" else MODE_REGULAR
        return FileState(self._blobs[path], mode)

    def _ls_tree(self, paths: list[str]) -> dict[str, TreeEntry]:
        """The entries of ``paths`` (and of the folders git passes through) in the commit."""
        out = self.git.run("ls-tree", "-t", "-z", self.commit, "--", *paths)
        _check(out, f"git ls-tree {self.commit}")
        entries: dict[str, TreeEntry] = {}
        for record in out.stdout.split(b"\0"):
            if not record:
                continue
            info, _, name = record.partition(b"\t")
            fields = info.decode("ascii", "replace").split(" ")
            if len(fields) != 3:
                raise UsageError(f"git ls-tree gave an unexpected line: {record[:200]!r}")
            path = name.decode("utf-8", "surrogateescape")
            entries[path] = TreeEntry(mode=fields[0], type=fields[1], oid=fields[2])
        return entries

    def _cat_files(self, files: dict[str, str]) -> dict[str, bytes]:
        """The contents of the blobs ``files`` names (path -> object id), in one call."""
        order = sorted(files)
        request = b"".join(files[path].encode("ascii") + b"\n" for path in order)
        out = self.git.run("cat-file", "--batch", stdin=request)
        _check(out, "git cat-file --batch")
        data = out.stdout
        contents: dict[str, bytes] = {}
        at = 0
        for path in order:
            end = data.find(b"\n", at)
            header = data[at:end].decode("ascii", "replace").split(" ") if end >= 0 else []
            if len(header) != 3 or header[1] != "blob" or not header[2].isdigit():
                raise UsageError(
                    f"{path}: git cat-file did not give the blob {files[path]} of commit "
                    f"{self.commit} ({' '.join(header) or 'no answer'})"
                )
            start = end + 1
            size = int(header[2])
            contents[path] = data[start : start + size]
            at = start + size + 1
        return contents


def _check(out: GitOutput, what: str) -> None:
    if out.returncode != 0:
        raise UsageError(f"{what} failed: {out.reason()}")
