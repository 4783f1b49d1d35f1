"""The hostile path corpus (SPEC §6 path-safety, §12 hostile input), against every door.

Each hostile case is a small changeset plus the workspace it meets: a tree with ordinary files,
symlinks that point outside it (and inside it), and a sibling directory ``outside/`` that
nothing may ever touch. For every case:

- ``evaluate`` (with the disk facts ``gather_facts`` reads) decides DENY with a ``path-safety``
  finding for the offending path, under the permissive test policy and the shipped default;
- ``agentos plan`` of the same changes as a JSON and as a YAML manifest exits 3;
- ``agentos check`` of a hand-written plan file (a valid, checksummed plan) exits 3 and lists
  the ``path-safety`` finding;
- and after each command nothing changed anywhere: the workspace (bytes, modes, link targets;
  ``.agentos/`` aside), ``outside/`` and the directory that holds both.

Ordinary paths and a legitimate case-only rename are checked not to be flagged.
"""

from __future__ import annotations

import json
import os
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import ValidationError

from agentos.digest import sha256_hex
from agentos.governance.facts import WorkspaceFacts, gather_facts
from agentos.governance.policy import Policy
from agentos.governance.policyfile import parse_policy
from agentos.governance.policytest import PolicyCase, case_plan
from agentos.governance.writegate import evaluate
from agentos.model import (
    ChangePlan,
    ChangeSet,
    CreateChange,
    Decision,
    changes_checksum,
    seal_plan,
)
from agentos.planner.planfile import write_plan
from helpers import PERMISSIVE_POLICY, CliResult, write_tree

Cli = Callable[..., CliResult]
Entry = tuple[str, int, bytes | str | None]
Snapshot = dict[str, Entry]

OUTSIDE_MARK = "@OUTSIDE@"
RULE = "path-safety"

NFC_NAME = unicodedata.normalize("NFC", "caf\u00e9.txt")
NFD_NAME = unicodedata.normalize("NFD", "caf\u00e9.txt")
# 20 names of 120 two-byte characters: 2419 characters (the model allows 4096) but 4819
# bytes, while each name stays under the 255-byte limit, so only the total length is wrong.
LONG_PATH_BYTES = "/".join(["\u00e9" * 120] * 20)


def _permissive() -> Policy:
    return parse_policy(PERMISSIVE_POLICY.read_text("utf-8"), source=str(PERMISSIVE_POLICY))


POLICIES = {"permissive": _permissive(), "default": Policy()}

# The workspace every hostile case meets. Symlinks are added by ``make_layout``.
BASE_TREE: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "README.md": "# project\n",
    "src/app.py": "print('app')\n",
    "src/run.sh": ("#!/bin/sh\necho run\n", "100755"),
    "plain.txt": "a regular file\n",
    "sub/keep.txt": "keep\n",
}


@dataclass(frozen=True)
class Hostile:
    """One hostile changeset: its changes (manifest style) and the paths path-safety names.

    ``manifest_exit`` is what ``agentos plan`` of the changes exits with: 3 unless the planner
    refuses the input itself with another code (see the cases that set it).
    """

    changes: tuple[dict[str, str], ...]
    flagged: tuple[str, ...]
    manifest_exit: int = 3


def create(path: str) -> dict[str, str]:
    return {"op": "create", "path": path, "content": "x\n"}


def modify(path: str) -> dict[str, str]:
    return {"op": "modify", "path": path, "content": "changed\n"}


def delete(path: str) -> dict[str, str]:
    return {"op": "delete", "path": path}


def rename(source: str, target: str) -> dict[str, str]:
    return {"op": "rename", "from": source, "path": target}


def one(path: str) -> Hostile:
    """A changeset that creates ``path``, which path-safety must name."""
    return Hostile((create(path),), (path,))


HOSTILE: dict[str, Hostile] = {
    # Escapes with "..".
    "dotdot": one("../x"),
    "dotdot-into-outside": one("../outside/pwned.txt"),
    "nested-dotdot": one("a/../../x"),
    "dotdot-after-dir": one("src/.."),
    "bare-dotdot": one(".."),
    "dot-names-root": one("."),
    "empty-names-and-dotdot": one("a//../../x"),
    # Absolute paths, Windows drives and UNC shares, backslashes.
    "absolute-etc-passwd": one("/etc/passwd"),
    "absolute-into-outside": one(f"{OUTSIDE_MARK}/abs.txt"),
    "drive-backslash": one("C:\\x"),
    "drive-slash": one("C:/x"),
    "drive-relative": one("c:x"),
    "unc-backslash": one("\\\\server\\share"),
    "unc-slash": one("//server/share"),
    "backslash-dotdot": one("..\\x"),
    "backslash-separator": one("src\\x.py"),
    # NUL and other control characters.
    "nul": one("a\0b"),
    "newline": one("a\nb"),
    "carriage-return": one("a\rb"),
    "tab": one("a\tb"),
    "ansi-escape": one("a\x1b[31mb"),
    "delete-char": one("a\x7fb"),
    "c1-next-line": one("a\x85b"),
    "c1-csi": one("a\x9bb"),
    # The repository's own metadata and agentos's state directory, at any depth and spelling.
    "git-config": one(".git/config"),
    "git-itself": one(".git"),
    "nested-git-hook": one("sub/.git/hooks/x"),
    "git-upper-case": one(".GIT/config"),
    "git-trailing-dot": one(".git./config"),
    "git-trailing-space": one(".git /config"),
    "git-short-name": one("GIT~1/config"),
    "agentos-state": one(".agentos/x"),
    "nested-agentos-state": one("sub/.agentos/x"),
    "agentos-mixed-case": one(".AgentOS/plans/p.json"),
    # Names macOS opens as ".git" / ".agentos": HFS+ ignores these code points anywhere in a
    # name (git's CVE-2014-9390 list) and folds case.
    "git-zero-width-non-joiner": one(".g\u200cit/config"),
    "git-zero-width-joiner": one(".gi\u200dt/HEAD"),
    "git-byte-order-mark": one(".git\ufeff/config"),
    "git-inhibit-swapping-upper-case": one(".GIT\u206a/hooks/pre-commit"),
    "nested-git-nominal-digit-shapes": one("sub/.\u206fgit/config"),
    "git-ignorable-and-trailing-dot": one(".g\u200dit./config"),
    # NTFS alternate data streams: "::$INDEX_ALLOCATION" is the directory itself.
    "git-index-allocation-stream": one(".git::$INDEX_ALLOCATION/config"),
    "git-named-stream": one(".git:stream"),
    "git-short-name-stream": one("git~1::$INDEX_ALLOCATION/config"),
    "agentos-zero-width-non-joiner": one(".agent\u200cos/lock"),
    "agentos-byte-order-mark": one(".agentos\ufeff/plans/p.json"),
    "agentos-index-allocation-stream": one(".agentos::$INDEX_ALLOCATION/lock"),
    "agentos-short-name": one("AGENTO~1/journal.json"),
    # Over-long names and paths.
    "name-300-chars": one("a" * 300),
    "name-256-bytes-128-chars": one("\u00e9" * 128),
    "path-over-4096-bytes": one(LONG_PATH_BYTES),
    # Names that are one file on macOS / Windows (plan order: sorted by path).
    "nfc-nfd-twins": Hostile((create(NFD_NAME), create(NFC_NAME)), (NFC_NAME,)),
    "case-twins": Hostile((create("Foo"), create("foo")), ("foo",)),
    "case-twin-of-file-on-disk": one("README.MD"),
    "case-twin-of-dir-on-disk": one("SRC/new.py"),
    # Windows drops trailing dots and spaces; macOS ignores some invisible code points.
    "trailing-dot-twins": Hostile((create("a.txt"), create("a.txt.")), ("a.txt.",)),
    "trailing-space-twins": Hostile((create("b.txt"), create("b.txt ")), ("b.txt ",)),
    "ignorable-twins": Hostile((create("c.txt"), create("c\u200d.txt")), ("c\u200d.txt",)),
    "trailing-dot-dir-twins": Hostile((create("d./x"), create("d/y")), ("d/y",)),
    "trailing-dot-twin-of-file-on-disk": one("README.md."),
    "ignorable-twin-of-dir-on-disk": one("s\ufeffrc/new.py"),
    # Symlinks on disk, on the path or as the path.
    "through-symlink-to-outside": one("link/x"),
    "through-absolute-symlink": one("abslink/x"),
    "through-nested-symlink": one("src/deep/x"),
    "through-symlink-inside-workspace": one("inner/x"),
    "modify-a-symlink": Hostile((modify("alias.txt"),), ("alias.txt",)),
    "delete-a-symlink": Hostile((delete("alias.txt"),), ("alias.txt",)),
    "rename-a-symlink": Hostile((rename("alias.txt", "b.txt"),), ("alias.txt",)),
    "rename-onto-symlinked-dir": Hostile((rename("plain.txt", "link/x"),), ("link/x",)),
    # A file the same changeset writes, then used as a directory: the planner refuses such a
    # manifest with path-safety too, before any plan exists.
    "write-then-write-under": Hostile((create("a"), create("a/b")), ("a/b",)),
    "modify-then-write-under": Hostile(
        (modify("README.md"), create("README.md/x")), ("README.md/x",)
    ),
    "rename-file-then-write-under": Hostile((rename("plain.txt", "d"), create("d/x")), ("d/x",)),
    "rename-symlink-then-write-under": Hostile(
        (rename("link", "moved"), create("moved/x")), ("link", "moved/x")
    ),
}


def hostile_params() -> list[Any]:
    return [pytest.param(case, id=name) for name, case in HOSTILE.items()]


@dataclass
class Layout:
    """A workspace ``ws`` and its untouchable neighbour ``outside`` under one parent."""

    parent: Path
    ws: Path
    outside: Path
    inputs: Path = field(init=False)

    def __post_init__(self) -> None:
        self.inputs = self.parent / "inputs"


def make_layout(parent: Path, tree: dict[str, bytes | str | tuple[bytes | str, str]]) -> Layout:
    """``parent/ws`` with ``tree`` and symlinks, ``parent/outside`` with a secret."""
    ws, outside = parent / "ws", parent / "outside"
    ws.mkdir()
    write_tree(outside, {"secret.txt": "do not touch\n", "dir/inner.txt": "inner\n"})
    write_tree(ws, tree)
    (ws / "link").symlink_to(Path("..") / "outside")
    (ws / "abslink").symlink_to(outside)
    (ws / "src" / "deep").symlink_to(Path("..") / ".." / "outside" / "dir")
    (ws / "inner").symlink_to("src")
    (ws / "alias.txt").symlink_to(Path("..") / "outside" / "secret.txt")
    layout = Layout(parent, ws, outside)
    layout.inputs.mkdir()
    return layout


def resolve(path: str, layout: Layout) -> str:
    return path.replace(OUTSIDE_MARK, str(layout.outside))


def resolved_changes(case: Hostile, layout: Layout) -> list[dict[str, str]]:
    out = []
    for change in case.changes:
        item = dict(change)
        for key in ("path", "from"):
            if key in item:
                item[key] = resolve(item[key], layout)
        out.append(item)
    return out


def build_plan(changes: list[dict[str, str]]) -> ChangePlan:
    """A valid plan of ``changes``, in the order given (which must be path order)."""
    paths = [c["path"] for c in changes]
    assert paths == sorted(paths), "plan files keep changes sorted by path"
    case = PolicyCase.model_validate(
        {"name": "hostile", "changes": changes, "expect": "DENY", "author": "tests"}
    )
    return case_plan(case)


def snapshot(root: Path, *, skip_state: bool = True) -> Snapshot:
    """Every entry under ``root`` (never following links): kind, permission bits, contents."""
    entries: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip_state:
            dirnames[:] = [d for d in dirnames if not (d == ".agentos" and here.name == "ws")]
        for name in [*dirnames, *filenames]:
            path = here / name
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            perms = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                entries[rel] = ("link", perms, str(path.readlink()))
            elif stat.S_ISDIR(info.st_mode):
                entries[rel] = ("dir", perms, None)
            else:
                entries[rel] = ("file", perms, path.read_bytes())
    return entries


def path_safety_paths(decision: Decision) -> set[str | None]:
    return {f.path for f in decision.findings if f.rule == RULE}


def write_manifest(layout: Layout, changes: list[dict[str, str]], kind: str) -> Path:
    """The changes as a manifest file; checks it reads back to exactly the same paths."""
    doc = {"intent": "hostile", "changes": changes}
    target = layout.inputs / f"manifest.{kind}"
    if kind == "json":
        text = json.dumps(doc, ensure_ascii=True)
    else:
        text = yaml.safe_dump(doc, allow_unicode=False, width=1 << 20)
    assert yaml.safe_load(text) == doc, "the manifest must carry the paths unchanged"
    target.write_text(text, "utf-8")
    return target


def assert_denied_plan(result: CliResult, flagged: list[str]) -> None:
    """``agentos plan --json`` refused the input by path-safety (early error or gate DENY)."""
    assert result.code == 3, result.err
    doc = result.json()
    assert doc["ok"] is False
    if doc["error"] is not None:
        assert doc["error"]["type"] == "path_safety", doc["error"]
    else:
        assert doc["result"]["decision"] == "DENY"
        named = {f["path"] for f in doc["result"]["findings"] if f["rule"] == RULE}
        assert set(flagged) <= named, doc["result"]["findings"]


@pytest.mark.parametrize("policy_name", sorted(POLICIES))
@pytest.mark.parametrize("case", hostile_params())
def test_evaluate_denies_hostile_path(case: Hostile, policy_name: str, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, BASE_TREE)
    before = snapshot(tmp_path)
    plan = build_plan(resolved_changes(case, layout))
    facts = gather_facts(plan, layout.ws)
    decision = evaluate(plan, POLICIES[policy_name], facts)
    assert decision.decision == "DENY"
    flagged = {resolve(p, layout) for p in case.flagged}
    assert flagged <= path_safety_paths(decision), decision.findings
    assert all(f.severity == "DENY" for f in decision.findings if f.rule == RULE)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["json", "yaml"])
@pytest.mark.parametrize("case", hostile_params())
def test_plan_command_refuses_hostile_manifest(
    case: Hostile, kind: str, cli: Cli, tmp_path: Path
) -> None:
    layout = make_layout(tmp_path, BASE_TREE)
    changes = resolved_changes(case, layout)
    manifest = write_manifest(layout, changes, kind)
    before = snapshot(tmp_path)
    result = cli("plan", manifest, "-C", layout.ws, "--policy", PERMISSIVE_POLICY, "--json")
    if case.manifest_exit == 3:
        assert_denied_plan(result, [resolve(p, layout) for p in case.flagged])
    else:
        assert result.code == case.manifest_exit, result.err
        assert result.json()["error"]["type"] == "conflict"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", hostile_params())
def test_check_command_denies_hostile_plan_file(case: Hostile, cli: Cli, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, BASE_TREE)
    plan_file = layout.inputs / "hostile-plan.json"
    write_plan(build_plan(resolved_changes(case, layout)), plan_file)
    before = snapshot(tmp_path)
    result = cli("check", plan_file, "-C", layout.ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert result.code == 3, result.err
    res = result.json()["result"]
    assert res["decision"] == "DENY"
    named = {f["path"] for f in res["findings"] if f["rule"] == RULE}
    assert {resolve(p, layout) for p in case.flagged} <= named, res["findings"]
    assert snapshot(tmp_path) == before


def test_corpus_is_large_and_distinct() -> None:
    paths = [c["path"] for case in HOSTILE.values() for c in case.changes]
    assert len(HOSTILE) >= 30
    assert len(set(paths)) >= 30


def test_path_longer_than_the_plan_format_allows_is_refused_everywhere(
    cli: Cli, tmp_path: Path
) -> None:
    """4097 ASCII characters: the plan model refuses it, and so does ``agentos plan``."""
    long_path = "/".join(["d" * 200] * 20) + "/" + "f" * 77
    assert len(long_path) == 4097
    fields = {
        "op": "create",
        "mode": "100644",
        "content": {"encoding": "utf-8", "data": "x\n"},
        "sha256": sha256_hex(b"x\n"),
    }
    CreateChange.model_validate({**fields, "path": long_path[1:]})
    with pytest.raises(ValidationError) as refused:
        CreateChange.model_validate({**fields, "path": long_path})
    assert [e["loc"] for e in refused.value.errors()] == [("path",)]
    layout = make_layout(tmp_path, BASE_TREE)
    manifest = write_manifest(layout, [create(long_path)], "json")
    before = snapshot(tmp_path)
    result = cli("plan", manifest, "-C", layout.ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert_denied_plan(result, [long_path])
    assert snapshot(tmp_path) == before


SAFE_PATHS = {
    "python-source": "src/a.py",
    "space-in-name": "docs/x y.md",
    "nested": "a/b/c.txt",
    "non-ascii": "docs/na\u00efve-r\u00e9sum\u00e9.md",
    "non-latin": "\u6587\u6863/\u8aac\u660e.txt",
    "gitignore": ".gitignore",
    "github-workflow": ".github/workflows/ci.yml",
    "git-lookalike": "docs/git/notes.md",
    "agentos-lookalike": "docs/.agentos-notes.md",
    "name-255-bytes": "n" * 255,
    "dotted-names": "src/..hidden/v1.2..3.txt",
}


@pytest.mark.parametrize("path", list(SAFE_PATHS.values()), ids=list(SAFE_PATHS))
def test_ordinary_paths_are_not_flagged(path: str, cli: Cli, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, BASE_TREE)
    plan = build_plan([create(path)])
    decision = evaluate(plan, POLICIES["permissive"], gather_facts(plan, layout.ws))
    assert decision.findings == ()
    assert decision.decision == "ALLOW"
    manifest = write_manifest(layout, [create(path)], "json")
    result = cli("plan", manifest, "-C", layout.ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert result.code == 0, result.err
    assert result.json()["result"]["decision"] == "ALLOW"


def test_several_ordinary_paths_in_one_changeset_are_not_flagged(tmp_path: Path) -> None:
    layout = make_layout(tmp_path, BASE_TREE)
    plan = build_plan([create(p) for p in sorted(SAFE_PATHS.values())])
    decision = evaluate(plan, POLICIES["permissive"], gather_facts(plan, layout.ws))
    assert path_safety_paths(decision) == set()
    assert decision.decision == "ALLOW"


Door = Literal["evaluate", "plan", "check"]


@pytest.mark.parametrize("door", ["evaluate", "plan", "check"])
def test_case_only_rename_is_not_flagged(door: Door, cli: Cli, tmp_path: Path) -> None:
    """``README.MD`` -> ``README.md`` leaves one file: no collision, nothing else wrong."""
    tree = {k: v for k, v in BASE_TREE.items() if k != "README.md"}
    tree["README.MD"] = "# project\n"
    layout = make_layout(tmp_path, tree)
    changes = [rename("README.MD", "README.md")]
    plan = build_plan(changes)
    if door == "evaluate":
        decision = evaluate(plan, POLICIES["permissive"], gather_facts(plan, layout.ws))
        assert decision.findings == ()
        assert decision.decision == "ALLOW"
        return
    if door == "plan":
        manifest = write_manifest(layout, changes, "json")
        result = cli("plan", manifest, "-C", layout.ws, "--policy", PERMISSIVE_POLICY, "--json")
    else:
        # Pinned to the file as it is, so that check judges the paths, not staleness.
        (change,) = plan.changeset.changes
        pinned = (change.model_copy(update={"old_sha256": sha256_hex(b"# project\n")}),)
        changeset = ChangeSet(changes=pinned, checksum=changes_checksum(pinned))
        plan_file = layout.inputs / "rename-plan.json"
        write_plan(seal_plan(plan, changeset=changeset), plan_file)
        result = cli("check", plan_file, "-C", layout.ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert result.code == 0, result.err
    res = result.json()["result"]
    assert res["decision"] == "ALLOW"
    assert [f for f in res["findings"] if f["rule"] == RULE] == []


def test_case_only_rename_next_to_a_third_twin_is_flagged(tmp_path: Path) -> None:
    """The rename exemption covers only the file that moves, not another spelling on disk."""
    tree = {k: v for k, v in BASE_TREE.items() if k != "README.md"}
    tree.update({"README.MD": "# one\n", "ReadMe.md": "# two\n"})
    layout = make_layout(tmp_path, tree)
    plan = build_plan([rename("README.MD", "README.md")])
    decision = evaluate(plan, POLICIES["permissive"], gather_facts(plan, layout.ws))
    assert decision.decision == "DENY"
    assert path_safety_paths(decision) == {"README.md"}


def test_snapshot_sees_bytes_modes_links_and_new_entries(tmp_path: Path) -> None:
    """The "nothing was written" check itself notices each kind of change."""
    layout = make_layout(tmp_path, BASE_TREE)
    before = snapshot(tmp_path)
    (layout.ws / ".agentos").mkdir()
    (layout.ws / ".agentos" / "state").write_text("ignored\n")
    assert snapshot(tmp_path) == before
    edits: list[Callable[[], object]] = [
        lambda: (layout.outside / "secret.txt").write_text("changed\n"),
        lambda: (layout.ws / "src" / "run.sh").chmod(0o644),
        lambda: (layout.parent / "x").write_text("escaped\n"),
        (layout.ws / "sub" / "new").mkdir,
    ]
    for edit in edits:
        edit()
        after = snapshot(tmp_path)
        assert after != before
        before = after
    (layout.ws / "link").unlink()
    (layout.ws / "link").symlink_to(layout.outside / "dir")
    assert snapshot(tmp_path) != before


@pytest.mark.parametrize(
    ("names", "kind"),
    [
        (("Foo", "foo"), "differ only by case;"),
        ((NFD_NAME, NFC_NAME), "differ only by Unicode normalisation (NFC/NFD);"),
        (("a.txt", "a.txt. "), "trailing dots or spaces (Windows drops them)"),
        (("c.txt", "c\u200d.txt"), "invisible code points (macOS ignores them)"),
    ],
)
def test_collision_message_names_what_differs(names: tuple[str, str], kind: str) -> None:
    plan = build_plan([create(n) for n in names])
    decision = evaluate(plan, POLICIES["permissive"], WorkspaceFacts())
    [finding] = [f for f in decision.findings if f.rule == RULE]
    assert finding.path == names[1]
    assert kind in finding.message
    assert "\n" not in finding.message
