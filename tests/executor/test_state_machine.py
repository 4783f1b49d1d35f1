"""The executor as a state machine: random plans, applies, rollbacks and hand edits.

A hypothesis ``RuleBasedStateMachine`` drives the real CLI (in-process) against a small random
tree and keeps a model of what the workspace must hold: ``path -> (bytes, permission bits)``,
plus the idempotency records and the journals of committed executions that ``agentos
rollback`` inverts. After every step the disk must equal the model exactly — the same files,
bytes and modes, no temp file, no stray directory, nothing under the workspace but the
model's files and ``.agentos/`` (the permissive policy lives outside it).

Invariants exercised (SPEC §8): apply then rollback restores the exact bytes and modes; a
rollback whose files were hand-edited since is refused with exit 5 and writes nothing; a plan
whose pre-images were hand-edited is refused with exit 5 (stale) and writes nothing;
re-applying a committed plan is ``already_applied`` and writes nothing.

Files keep the modes ``0o644`` / ``0o755`` under umask ``022`` here: the executor gives git's
permission bits, and those are the two git modes. (Other permission bits are covered by
``test_rollback_restores_exact_permission_bits`` in test_inverse.py.)
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from helpers import PERMISSIVE_POLICY, run_cli

State = tuple[bytes, int]  # a regular file's bytes and permission bits
Model = dict[str, State]
Expect = Literal["replay", "post_images", "stale", "commit"]

DIRS = ("src", "src/sub", "lib", "docs/deep/er")
NAMES = ("a.txt", "b.sh", "c.md")
# File names never equal folder names, so no path is ever both a file and a directory.
UNIVERSE = tuple(sorted([f"{d}/{n}" for d in DIRS for n in NAMES] + ["README.md"]))
FILE_MODE = 0o644
EXEC_MODE = 0o755


def is_exec(mode: int) -> bool:
    """The git view of permission bits."""
    return bool(mode & 0o100)


def ancestors(paths: set[str] | dict[str, Any]) -> set[str]:
    """Every directory that holds one of ``paths``."""
    dirs: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


@dataclass
class PlanInfo:
    """A plan made by the machine: the states it pins and the states it leaves."""

    plan_id: str
    pre: dict[str, State | None]
    post: dict[str, State | None]


@dataclass
class JournalInfo:
    """What ``agentos rollback`` inverts: a committed execution's paths before and after.

    ``generation`` counts commits of the same execution id (a plan re-applied after being
    reverted commits again, with a new journal and a new rollback plan id).
    """

    before: dict[str, State | None]
    after: dict[str, State | None]
    generation: int


@dataclass
class Record:
    """The model of an idempotency record."""

    execution_id: str
    status: Literal["committed", "reverted"]


class ExecutorMachine(RuleBasedStateMachine):
    """Plans, applies, rollbacks, re-applies and hand edits against a model of the tree."""

    def __init__(self) -> None:
        super().__init__()
        self.old_umask = os.umask(0o022)
        self.root = Path(tempfile.mkdtemp(prefix="agentos-machine-"))
        self.ws = self.root / "ws"
        self.ws.mkdir()
        self.inputs = self.root / "inputs"
        self.inputs.mkdir()
        self.model: Model = {}
        self.plans: list[PlanInfo] = []
        self.journals: dict[str, JournalInfo] = {}
        self.records: dict[str, Record] = {}
        self.rollback_plan_ids: dict[tuple[str, int], str] = {}
        self.plan_of_execution: dict[str, str] = {}
        self.counter = 0

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        os.umask(self.old_umask)

    # -- helpers -----------------------------------------------------------------------------

    def fresh(self, what: str) -> bytes:
        """Content no other step ever wrote."""
        self.counter += 1
        return f"{what} {self.counter}\n".encode()

    def cli(self, *args: str | Path) -> tuple[int, dict[str, Any]]:
        code, doc, _err = run_cli(*args, "-C", self.ws, "--policy", PERMISSIVE_POLICY)
        assert doc["exit_code"] == code
        assert doc["ok"] == (code == 0)
        return code, doc

    def write_file(self, path: str, data: bytes, mode: int) -> None:
        """A person writing a file (no temp file, no fsync)."""
        target = self.ws / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
        self.model[path] = (data, mode)

    def remove_file(self, path: str) -> None:
        """A person running ``git rm``: the file and the directories it leaves empty."""
        (self.ws / path).unlink()
        parent = (self.ws / path).parent
        while parent != self.ws and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
        del self.model[path]

    def holds(self, path: str, want: State | None) -> bool:
        """True when the disk (the model) holds ``want`` at ``path`` as the drift check sees it."""
        have = self.model.get(path)
        if want is None or have is None:
            return want is None and have is None
        return have[0] == want[0] and is_exec(have[1]) == is_exec(want[1])

    def expect(
        self, plan_id: str | None, pre: dict[str, State | None], post: dict[str, State | None]
    ) -> Expect:
        """What applying a plan with these pre- and post-images must do now (SPEC §8)."""
        record = self.records.get(plan_id) if plan_id is not None else None
        if record is not None and record.status == "committed":
            return "replay"
        if all(self.holds(path, want) for path, want in post.items()):
            return "post_images"
        for path, want in pre.items():
            have = self.model.get(path)
            if want is None or have is None:
                if want is not have:
                    return "stale"
            elif have[0] != want[0]:
                return "stale"
        return "commit"

    def commit(self, execution_id: str, plan_id: str, post: dict[str, State | None]) -> None:
        """Book a commit: the journal ``rollback`` will invert, the record, the new tree."""
        before = {path: self.model.get(path) for path in post}
        old = self.journals.get(execution_id)
        generation = old.generation + 1 if old is not None else 1
        self.journals[execution_id] = JournalInfo(before, dict(post), generation)
        self.records[plan_id] = Record(execution_id, "committed")
        self.plan_of_execution[execution_id] = plan_id
        for path, state in post.items():
            if state is None:
                self.model.pop(path, None)
            else:
                self.model[path] = state

    def check_outcome(self, expected: Expect, code: int, doc: dict[str, Any]) -> None:
        result = doc["result"]
        status = {
            "replay": "already_applied",
            "post_images": "already_applied",
            "stale": "stale",
            "commit": "committed",
        }[expected]
        assert (result.get("status"), code) == (status, 5 if expected == "stale" else 0), doc
        if expected == "replay":
            assert "committed record" in result["message"], result["message"]
        if expected == "post_images":
            assert "post-image" in result["message"], result["message"]
        if expected == "stale":
            assert doc["error"]["type"] == "stale"
            assert result["drifted"], result

    def draw_plan(self, data: st.DataObject) -> PlanInfo:
        """Plan a random change of the current tree through ``agentos plan`` (a manifest)."""
        existing = sorted(self.model)
        absent = [p for p in UNIVERSE if p not in self.model]
        used: set[str] = set()
        changes: list[dict[str, str]] = []
        pre: dict[str, State | None] = {}
        post: dict[str, State | None] = {}

        def new_content() -> bytes:
            kind = data.draw(st.sampled_from(["text", "text", "empty", "binary"]), label="kind")
            if kind == "empty":
                return b""
            content = self.fresh("plan")
            return b"\x00\xff" + content if kind == "binary" else content

        def put(change: dict[str, str], content: bytes) -> None:
            if b"\x00" in content:
                change["content_base64"] = base64.b64encode(content).decode()
            else:
                change["content"] = content.decode()

        for _ in range(data.draw(st.integers(1, 3), label="changes")):
            free = [p for p in existing if p not in used]
            free_absent = [p for p in absent if p not in used]
            ops = (["create"] if free_absent else []) + (["modify", "delete"] if free else [])
            ops += ["rename"] if free and free_absent else []
            if not ops:
                break
            op = data.draw(st.sampled_from(ops), label="op")
            if op == "create":
                path = data.draw(st.sampled_from(free_absent), label="path")
                executable = data.draw(st.booleans(), label="executable")
                content = new_content()
                change = {"op": "create", "path": path}
                put(change, content)
                if executable or data.draw(st.booleans(), label="explicit mode"):
                    change["mode"] = "100755" if executable else "100644"
                used.add(path)
                pre[path] = None
                post[path] = (content, EXEC_MODE if executable else FILE_MODE)
            elif op == "modify":
                path = data.draw(st.sampled_from(free), label="path")
                old_bytes, old_mode = self.model[path]
                what = data.draw(st.sampled_from(["content", "mode", "both"]), label="modify")
                content = old_bytes if what == "mode" else new_content()
                flip = what != "content" or content == old_bytes
                executable = is_exec(old_mode) != flip
                change = {"op": "modify", "path": path}
                put(change, content)
                if flip or data.draw(st.booleans(), label="explicit mode"):
                    change["mode"] = "100755" if executable else "100644"
                used.add(path)
                pre[path] = self.model[path]
                post[path] = (content, EXEC_MODE if executable else FILE_MODE)
            elif op == "delete":
                path = data.draw(st.sampled_from(free), label="path")
                changes.append({"op": "delete", "path": path})
                used.add(path)
                pre[path] = self.model[path]
                post[path] = None
                continue
            else:
                source = data.draw(st.sampled_from(free), label="from")
                target = data.draw(st.sampled_from(free_absent), label="to")
                old_bytes, old_mode = self.model[source]
                change = {"op": "rename", "from": source, "path": target}
                content = old_bytes
                if data.draw(st.booleans(), label="edit"):
                    content = new_content()
                    put(change, content)
                executable = is_exec(old_mode)
                if data.draw(st.booleans(), label="flip"):
                    executable = not executable
                    change["mode"] = "100755" if executable else "100644"
                used.update((source, target))
                pre[source], pre[target] = self.model[source], None
                post[source] = None
                post[target] = (content, EXEC_MODE if executable else FILE_MODE)
            changes.append(change)
        self.counter += 1
        plan_id = f"p{self.counter}"
        manifest = self.inputs / f"{plan_id}.json"
        manifest.write_text(json.dumps({"changes": changes}), encoding="utf-8")
        code, doc = self.cli("plan", manifest, "--plan-id", plan_id)
        assert code == 0, doc
        assert doc["result"]["decision"] == "ALLOW"
        plan = PlanInfo(plan_id, pre, post)
        self.plans.append(plan)
        return plan

    def apply(self, plan: PlanInfo) -> Expect:
        expected = self.expect(plan.plan_id, plan.pre, plan.post)
        code, doc = self.cli("apply", plan.plan_id)
        self.check_outcome(expected, code, doc)
        # A workspace that already holds the post-images gets no commit record (nothing was
        # written, so a later change of those files must not hide behind a replay).
        if expected == "commit":
            self.commit(doc["result"]["execution_id"], plan.plan_id, plan.post)
        return expected

    def expect_rollback(self, execution_id: str) -> Expect:
        journal = self.journals[execution_id]
        plan_id = self.rollback_plan_ids.get((execution_id, journal.generation))
        return self.expect(plan_id, journal.after, journal.before)

    def rollback(self, execution_id: str) -> Expect:
        journal = self.journals[execution_id]
        key = (execution_id, journal.generation)
        expected = self.expect_rollback(execution_id)
        code, doc = self.cli("rollback", execution_id)
        self.check_outcome(expected, code, doc)
        result = doc["result"]
        assert (result["kind"], result["parent"]) == ("rollback", execution_id)
        plan_id = self.rollback_plan_ids.setdefault(key, result["plan_id"])
        assert result["plan_id"] == plan_id
        if expected == "commit":
            self.commit(result["execution_id"], plan_id, journal.before)
            parent_plan = self.plan_of_execution[execution_id]
            if self.records[parent_plan].execution_id == execution_id:
                self.records[parent_plan].status = "reverted"
        return expected

    def hand_edit_to_drift(self, path: str, want: State | None) -> None:
        """Make ``path`` hold neither ``want`` nor anything an execution wrote."""
        if want is None:
            self.write_file(path, self.fresh("hand-made"), FILE_MODE)
        else:
            self.write_file(path, self.fresh("hand edit"), self.model.get(path, want)[1])

    # -- rules -------------------------------------------------------------------------------

    @initialize(
        files=st.dictionaries(st.sampled_from(UNIVERSE), st.booleans(), min_size=2, max_size=6)
    )
    def initial_tree(self, files: dict[str, bool]) -> None:
        for path, executable in sorted(files.items()):
            self.write_file(
                path, self.fresh(f"initial {path}"), EXEC_MODE if executable else FILE_MODE
            )

    @rule(data=st.data())
    def plan_only(self, data: st.DataObject) -> None:
        """Planning writes nothing in the workspace (the plan is kept for a later apply)."""
        self.draw_plan(data)

    @rule(data=st.data())
    def plan_and_apply(self, data: st.DataObject) -> None:
        plan = self.draw_plan(data)
        assert self.apply(plan) == "commit"

    @precondition(lambda self: bool(self.plans))
    @rule(data=st.data())
    def apply_some_plan(self, data: st.DataObject) -> None:
        """Any plan made so far: committed, replayed, recognised, or refused as stale."""
        self.apply(data.draw(st.sampled_from(self.plans), label="plan"))

    def applied_plans(self) -> list[PlanInfo]:
        """Plans whose committed record stands (not reverted by a rollback)."""
        return [
            p
            for p in self.plans
            if (r := self.records.get(p.plan_id)) is not None and r.status == "committed"
        ]

    @precondition(lambda self: bool(self.applied_plans()))
    @rule(data=st.data())
    def reapply_applied_plan(self, data: st.DataObject) -> None:
        plan = data.draw(st.sampled_from(self.applied_plans()), label="plan")
        assert self.apply(plan) == "replay"

    @precondition(lambda self: bool(self.journals))
    @rule(data=st.data())
    def rollback_some_execution(self, data: st.DataObject) -> None:
        """Any execution ever committed (apply or rollback): undone, replayed or stale."""
        execution_id = data.draw(st.sampled_from(list(self.journals)), label="execution")
        self.rollback(execution_id)

    @rule(data=st.data())
    def apply_then_rollback_restores_everything(self, data: st.DataObject) -> None:
        before = dict(self.model)
        plan = self.draw_plan(data)
        assert self.apply(plan) == "commit"
        execution_id = self.records[plan.plan_id].execution_id
        assert self.rollback(execution_id) == "commit"
        assert self.model == before
        self.disk_equals_model()

    @rule(data=st.data())
    def hand_edit(self, data: st.DataObject) -> None:
        """A person writes or deletes a file directly."""
        path = data.draw(st.sampled_from(UNIVERSE), label="path")
        if path in self.model and data.draw(st.booleans(), label="delete"):
            self.remove_file(path)
            return
        mode = data.draw(st.sampled_from([FILE_MODE, EXEC_MODE]), label="mode")
        self.write_file(path, self.fresh("hand edit"), mode)

    @precondition(lambda self: bool(self.journals))
    @rule(data=st.data())
    def hand_edited_rollback_is_stale(self, data: st.DataObject) -> None:
        ready = [e for e in self.journals if self.expect_rollback(e) == "commit"]
        if not ready:
            return
        execution_id = data.draw(st.sampled_from(ready), label="execution")
        journal = self.journals[execution_id]
        path = data.draw(st.sampled_from(sorted(journal.after)), label="path")
        self.hand_edit_to_drift(path, journal.after[path])
        assert self.rollback(execution_id) == "stale"

    @rule(data=st.data())
    def hand_edited_plan_is_stale(self, data: st.DataObject) -> None:
        plan = self.draw_plan(data)
        path = data.draw(st.sampled_from(sorted(plan.pre)), label="path")
        self.hand_edit_to_drift(path, plan.pre[path])
        assert self.apply(plan) == "stale"

    # -- the invariant -----------------------------------------------------------------------

    @invariant()
    def disk_equals_model(self) -> None:
        files: Model = {}
        dirs: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(self.ws):
            rel = Path(dirpath).relative_to(self.ws)
            if rel == Path():
                dirnames[:] = [d for d in dirnames if d != ".agentos"]
            dirs.update((rel / d).as_posix() for d in dirnames)
            for name in filenames:
                info = (Path(dirpath) / name).lstat()
                assert stat.S_ISREG(info.st_mode), rel / name
                data = (Path(dirpath) / name).read_bytes()
                files[(rel / name).as_posix()] = (data, stat.S_IMODE(info.st_mode))
        assert files == self.model
        assert dirs == ancestors(self.model)
        state = self.ws / ".agentos"
        if state.exists():
            assert not list(state.glob("journal/*.json")), "a journal was left hot"
            assert not (state / "lock.holder.json").exists()
            assert not list(state.rglob("*.tmp"))
            # Backups belong to committed executions only (a refusal or replay keeps none).
            backups = {p.name for p in state.glob("backups/*")}
            archived = {p.stem for p in state.glob("journal/committed/*.json")}
            assert backups <= archived, backups - archived


@pytest.mark.file_store(
    "each example is a new workspace with the same plan ids; with a shared store they "
    "would share records"
)
def test_executor_state_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENTOS_FAULTS", "AGENTOS_FAULTS_TRACE"):
        monkeypatch.delenv(name, raising=False)
    run_state_machine_as_test(
        ExecutorMachine,
        settings=settings(
            # 25 runs by default (about 15-20 s); HYPOTHESIS_PROFILE=thorough gives 250.
            max_examples=max(25, settings().max_examples // 4),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
