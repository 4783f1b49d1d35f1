"""Plan files: round trip, version, checksum and every integrity check done on load.

Acceptance: changing any byte of ``changes`` in a plan file is detected on load (exit 6), and a
plan from a newer format version is refused with a message that says to upgrade (exit 2).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from agentos.errors import (
    AgentosError,
    ChecksumMismatchError,
    IntegrityError,
    PlanFormatError,
    UsageError,
)
from agentos.model import ChangePlan
from agentos.planner.plan import PlanInput, PlanSpec, plan_changes
from agentos.planner.planfile import dump_plan, load_plan, parse_plan, write_plan
from agentos.workspace import Workspace
from helpers import PERMISSIVE_POLICY, CliResult, write_tree

FIXED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

BASELINE: dict[str, bytes | str | tuple[bytes | str, str]] = {
    "mod.txt": "line one\nline two\n",
    "gone.txt": "obsolete\n",
    "old/name.py": ("print('x')\n", "100755"),
}
MANIFEST: dict[str, Any] = {
    "intent": "a bit of everything",
    "changes": [
        {
            "op": "create",
            "path": "docs/caf\u00e9.md",
            "content": "na\u00efve \u2014 \u201cquotes\u201d\n",
        },
        {
            "op": "create",
            "path": "logo.bin",
            "content_base64": base64.b64encode(b"\x00\x01\xff").decode(),
        },
        {"op": "modify", "path": "mod.txt", "content": 'line one\n"escaped"\\ and \ttab\n'},
        {"op": "delete", "path": "gone.txt"},
        {"op": "rename", "from": "old/name.py", "path": "new/name.py", "content": "print('y')\n"},
    ],
}


def make_plan(root: Path, *, intent: str | None = None, plan_id: str | None = None) -> ChangePlan:
    """The sample plan: every op, text, binary, non-ASCII and escaped content."""
    request = PlanSpec(
        workspace=Workspace(root),
        inputs=(PlanInput(name="m.json", data=json.dumps(MANIFEST).encode()),),
        author="tester",
        intent=intent,
        plan_id=plan_id,
        clock=lambda: FIXED,
    )
    return plan_changes(request)


@functools.cache
def sample() -> tuple[ChangePlan, bytes]:
    """The sample plan and its file bytes, built once (hypothesis reuses them)."""
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp), BASELINE)
        plan = make_plan(Path(tmp))
    return plan, dump_plan(plan)


def changes_region(raw: bytes) -> tuple[int, int]:
    """Byte offsets of the serialized ``changes`` array (from '[' to just after ']')."""
    text = raw.decode("utf-8")
    key = '"changes": '
    start = text.index(key) + len(key)
    assert text.count(key) == 1
    _value, end = json.JSONDecoder().raw_decode(text, start)
    return len(text[:start].encode("utf-8")), len(text[:end].encode("utf-8"))


def rewrite(raw: bytes, edit: Callable[[dict[str, Any]], None], *, reseal: bool) -> bytes:
    """Edit the parsed plan; with ``reseal`` forge a checksum and a plan digest that match the
    edited plan (what a forger who knows the formulas does)."""
    doc = json.loads(raw)
    edit(doc)
    if reseal:
        doc["changeset"]["checksum"] = spec_checksum(doc["changeset"]["changes"])
        doc["plan_digest"] = spec_plan_digest(doc)
    return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")


def spec_checksum(changes: list[dict[str, Any]]) -> str:
    """SPEC §5, computed independently: sha256 of canonical JSON (sorted keys, compact, UTF-8)."""
    canonical = json.dumps(changes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def spec_plan_digest(doc: dict[str, Any]) -> str:
    """docs/plan-format.md, computed independently: the plan without ``plan_digest``, its
    changeset reduced to the checksum, as canonical JSON."""
    sealed = {k: v for k, v in doc.items() if k != "plan_digest"}
    sealed["changeset"] = {"checksum": doc["changeset"]["checksum"]}
    canonical = json.dumps(sealed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_error(raw: bytes) -> AgentosError:
    with pytest.raises(AgentosError) as info:
        parse_plan(raw, name="p.json")
    assert "\n" not in info.value.message, "errors are one line on stderr"
    return info.value


# ---------------------------------------------------------------------------------------------
# Round trip and format
# ---------------------------------------------------------------------------------------------


def test_round_trip_is_identity(tmp_path: Path) -> None:
    plan, raw = sample()
    assert parse_plan(raw, name="p.json") == plan
    assert dump_plan(parse_plan(raw, name="p.json")) == raw
    target = tmp_path / "sub" / "plan.json"
    write_plan(plan, target)
    assert target.read_bytes() == raw
    assert load_plan(target) == plan


def test_the_sample_covers_every_kind_of_change() -> None:
    plan, raw = sample()
    assert sorted(c.op for c in plan.changeset.changes) == [
        "create",
        "create",
        "delete",
        "modify",
        "rename",
    ]
    encodings = {c.content.encoding for c in plan.changeset.changes if c.op != "delete"}
    assert encodings == {"utf-8", "base64"}
    assert "caf\u00e9".encode() in raw  # stored as UTF-8, not \u escapes


def test_plan_file_shape() -> None:
    _plan, raw = sample()
    assert raw.endswith(b"}\n")
    doc = json.loads(raw)
    assert doc["format"] == "agentos.plan/1"
    assert doc["created_at"] == "2024-01-02T03:04:05.000000Z"
    changes = doc["changeset"]["changes"]
    assert doc["changeset"]["checksum"] == spec_checksum(changes)
    assert [c["path"] for c in changes] == sorted(c["path"] for c in changes)
    rename = next(c for c in changes if c["op"] == "rename")
    assert rename["from"] == "old/name.py"
    assert rename["mode"] == "100755"
    for change in changes:
        if change["op"] != "delete":
            data = change["content"]["data"]
            content = (
                base64.b64decode(data)
                if change["content"]["encoding"] == "base64"
                else data.encode("utf-8")
            )
            assert change["sha256"] == hashlib.sha256(content).hexdigest()


# ---------------------------------------------------------------------------------------------
# Any altered byte of ``changes`` is an integrity violation
# ---------------------------------------------------------------------------------------------

MUTATIONS = ("flip", "replace", "delete", "insert")


@given(
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
    kind=st.sampled_from(MUTATIONS),
    value=st.integers(min_value=0, max_value=255),
)
@example(position=0.5, kind="flip", value=1)
@example(position=0.0, kind="replace", value=ord("{"))
@example(position=0.999, kind="delete", value=0)
def test_any_changed_byte_of_changes_is_detected(position: float, kind: str, value: int) -> None:
    _plan, raw = sample()
    start, end = changes_region(raw)
    offset = start + int(position * (end - start))
    old = raw[offset]
    if kind == "flip":
        new = bytes([old ^ (value or 1)])
    elif kind == "replace":
        assume(value != old)
        new = bytes([value])
    elif kind == "delete":
        new = b""
    else:
        new = bytes([value, old])
    mutated = raw[:offset] + new + raw[offset + 1 :]
    assert mutated != raw

    # A change that leaves the parsed changes identical (e.g. whitespace) alters nothing.
    try:
        doc = json.loads(mutated)
        unchanged = doc["changeset"]["changes"] == json.loads(raw)["changeset"]["changes"]
    except (ValueError, TypeError, KeyError):
        unchanged = False
    assume(not unchanged)

    error = load_error(mutated)
    assert isinstance(error, IntegrityError), error
    assert error.exit_code == 6


def test_a_changed_content_byte_is_a_checksum_mismatch() -> None:
    _plan, raw = sample()
    mutated = raw.replace(b"line one\\n\\", b"line One\\n\\", 1)
    assert mutated != raw
    error = load_error(mutated)
    assert isinstance(error, ChecksumMismatchError)
    assert error.exit_code == 6
    assert "checksum mismatch" in error.message
    assert "plan again" in error.message
    assert error.details["expected"] != error.details["actual"]


def test_a_plan_that_no_longer_parses_is_an_integrity_violation() -> None:
    _plan, raw = sample()
    error = load_error(raw[: len(raw) // 2])
    assert error.exit_code == 6
    assert "corrupt" in error.message


def test_a_tampered_checksum_is_reported_on_one_line() -> None:
    _plan, raw = sample()

    def forge(doc: dict[str, Any]) -> None:
        doc["changeset"]["checksum"] = "sha256:" + "0" * 64 + "\nforged"

    error = load_error(rewrite(raw, forge, reseal=False))
    assert error.exit_code == 6


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d["changeset"]["changes"].reverse(), "out of order"),
        (lambda d: d["changeset"]["changes"].append(d["changeset"]["changes"][-1]), "second time"),
        (
            # in sorted position, so only the second touch of new/name.py gives it away
            lambda d: d["changeset"]["changes"].insert(
                -1, {"op": "delete", "path": "new/name.py", "old_sha256": "0" * 64}
            ),
            "second time",
        ),
        (
            # delete the rename's source as well
            lambda d: d["changeset"]["changes"].append(
                {"op": "delete", "path": "old/name.py", "old_sha256": "0" * 64}
            ),
            "second time",
        ),
    ],
)
def test_forged_checksum_over_rearranged_changes_is_refused(
    edit: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    _plan, raw = sample()
    error = load_error(rewrite(raw, edit, reseal=True))
    assert isinstance(error, IntegrityError)
    assert error.exit_code == 6
    assert fragment in error.message


def test_content_that_does_not_match_its_sha256_is_refused() -> None:
    _plan, raw = sample()

    def swap(doc: dict[str, Any]) -> None:
        change = next(c for c in doc["changeset"]["changes"] if c["path"] == "mod.txt")
        change["content"]["data"] = "something else\n"

    error = load_error(rewrite(raw, swap, reseal=True))
    assert error.exit_code == 6
    assert "mod.txt" in error.message
    assert "sha256" in error.message


def test_binary_content_that_does_not_match_its_sha256_is_refused() -> None:
    _plan, raw = sample()

    def swap(doc: dict[str, Any]) -> None:
        change = next(c for c in doc["changeset"]["changes"] if c["path"] == "logo.bin")
        change["content"]["data"] = base64.b64encode(b"\x00\x01\xfe").decode()

    assert load_error(rewrite(raw, swap, reseal=True)).exit_code == 6


def test_unhashable_changes_are_an_integrity_violation() -> None:
    _plan, raw = sample()
    for bad in (b"NaN", b"1e999", b"[1, 2]", b'"\\ud800"'):
        mutated = raw.replace(b'"op": "delete"', b'"op": ' + bad, 1)
        assert mutated != raw
        assert load_error(mutated).exit_code == 6, bad


def test_changes_that_are_not_objects_are_an_integrity_violation() -> None:
    _plan, raw = sample()

    def scalars(doc: dict[str, Any]) -> None:
        doc["changeset"]["changes"] = [1, "two", None]

    assert load_error(rewrite(raw, scalars, reseal=False)).exit_code == 6


# ---------------------------------------------------------------------------------------------
# Versions, not-JSON, schema
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["agentos.plan/2", "agentos.plan/10", "agentos.plan/" + "9" * 5000])
def test_a_newer_format_is_refused_with_upgrade_advice(fmt: str) -> None:
    _plan, raw = sample()

    def newer(doc: dict[str, Any]) -> None:
        doc["format"] = fmt

    error = load_error(rewrite(raw, newer, reseal=False))
    assert isinstance(error, PlanFormatError)
    assert error.exit_code == 2
    assert "newer agentos" in error.message
    assert "upgrade" in error.message


def test_a_newer_format_is_refused_before_its_checksum_is_checked() -> None:
    # A future format may hash differently; the version decides first.
    _plan, raw = sample()

    def newer(doc: dict[str, Any]) -> None:
        doc["format"] = "agentos.plan/2"
        doc["changeset"]["checksum"] = "sha3:whatever"
        doc["changeset"]["changes"][0]["new_field"] = 1

    assert load_error(rewrite(raw, newer, reseal=False)).exit_code == 2


@pytest.mark.parametrize(
    ("fmt", "fragment"),
    [
        ("agentos.plan/0", "old"),
        ("agentos.plan/\u00b2", "unknown"),
        ("agentos.plan/1beta", "unknown"),
        ("agentos.plan/", "unknown"),
        ("terraform.plan/1", "not an agentos plan"),
        (1, "not an agentos plan"),
        (None, "not an agentos plan"),
    ],
)
def test_unknown_formats_are_refused(fmt: object, fragment: str) -> None:
    _plan, raw = sample()

    def change(doc: dict[str, Any]) -> None:
        doc["format"] = fmt

    error = load_error(rewrite(raw, change, reseal=False))
    assert error.exit_code == 2
    assert fragment in error.message


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"\xff\xfe\x00", b"[1, 2]", b'"agentos"', b"{", b"1" * 5000, b"[" * 100000],
)
def test_not_a_plan_is_a_format_error(raw: bytes) -> None:
    error = load_error(raw)
    assert isinstance(error, PlanFormatError)
    assert error.exit_code == 2


def change_at(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """The stored change whose ``path`` is ``path``."""
    found: dict[str, Any] = next(c for c in doc["changeset"]["changes"] if c["path"] == path)
    return found


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.pop("changeset"),
        lambda d: d.update(changeset=[]),
        lambda d: d["changeset"].pop("checksum"),
        lambda d: d["changeset"].update(checksum=None),
        lambda d: d["changeset"].update(changes={"op": "create"}),
    ],
)
def test_a_plan_without_a_changeset_is_a_format_error(
    edit: Callable[[dict[str, Any]], None],
) -> None:
    _plan, raw = sample()
    error = load_error(rewrite(raw, edit, reseal=False))
    assert isinstance(error, PlanFormatError), error
    assert error.exit_code == 2


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(extra="x"),
        lambda d: d.update(plan_id="not a valid id"),
        lambda d: d["risk"].update(level="EXTREME"),
        lambda d: d["stats"].update(files="3"),
        lambda d: d.pop("author"),
        lambda d: change_at(d, "mod.txt").update({"evil\nkey": 1}),
        lambda d: change_at(d, "mod.txt").update(op="chmod"),
        lambda d: change_at(d, "mod.txt").update(mode="100777"),
        lambda d: change_at(d, "mod.txt").update(sha256="abc"),
        lambda d: change_at(d, "gone.txt").update(content={"encoding": "utf-8", "data": ""}),
        lambda d: change_at(d, "new/name.py").pop("from"),
        lambda d: change_at(d, "mod.txt")["content"].update(encoding="latin-1"),
        lambda d: change_at(d, "logo.bin")["content"].update(data="!!not base64!!"),
        lambda d: change_at(d, "docs/caf\u00e9.md").update(path=""),
    ],
)
def test_schema_violations_are_format_errors(edit: Callable[[dict[str, Any]], None]) -> None:
    # Resealed, so the checksum matches and only the schema can object.
    _plan, raw = sample()
    error = load_error(rewrite(raw, edit, reseal=True))
    assert isinstance(error, PlanFormatError), error
    assert error.exit_code == 2


def test_a_missing_plan_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        load_plan(tmp_path / "nope.json")
    with pytest.raises(UsageError):
        load_plan(tmp_path)


# ---------------------------------------------------------------------------------------------
# Plan ids
# ---------------------------------------------------------------------------------------------


def test_default_plan_id_is_stable(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for root in (first, second):
        root.mkdir()
        write_tree(root, BASELINE)
    a, b = make_plan(first), make_plan(second)
    assert a.plan_id == b.plan_id
    assert a.plan_id.startswith("plan-")
    assert a.changeset.checksum == b.changeset.checksum


def test_default_plan_id_depends_on_intent_and_files(tmp_path: Path) -> None:
    write_tree(tmp_path, BASELINE)
    base = make_plan(tmp_path)
    other_intent = make_plan(tmp_path, intent="something else")
    assert other_intent.changeset.checksum == base.changeset.checksum
    assert other_intent.plan_id != base.plan_id
    write_tree(tmp_path, {"gone.txt": "a different pre-image\n"})
    assert make_plan(tmp_path).plan_id != base.plan_id


def test_explicit_plan_id(tmp_path: Path) -> None:
    write_tree(tmp_path, BASELINE)
    assert make_plan(tmp_path, plan_id="PR-1234.build_7").plan_id == "PR-1234.build_7"


@pytest.mark.parametrize(
    "plan_id",
    ["", "-starts-with-dash", ".hidden", "a/b", "../x", "has space", "x" * 129, "caf\u00e9"],
)
def test_invalid_plan_ids_are_usage_errors(
    cli: Callable[..., CliResult], workspace: Path, tmp_path: Path, plan_id: str
) -> None:
    write_tree(workspace, BASELINE)
    source = tmp_path / "m.json"
    source.write_text(json.dumps(MANIFEST))
    result = cli(
        "plan",
        source,
        "-C",
        workspace,
        "--plan-id",
        plan_id,
        "--json",
        "--policy",
        PERMISSIVE_POLICY,
    )
    assert result.code == 2
    assert "plan id" in result.err
    assert result.err.count("\n") == 1
    assert not (workspace / ".agentos" / "plans").exists()


def test_plan_id_names_the_plan_file(
    cli: Callable[..., CliResult], workspace: Path, tmp_path: Path
) -> None:
    write_tree(workspace, BASELINE)
    source = tmp_path / "m.json"
    source.write_text(json.dumps(MANIFEST))
    result = cli(
        "plan",
        source,
        "-C",
        workspace,
        "--plan-id",
        "PR-42",
        "--json",
        "--policy",
        PERMISSIVE_POLICY,
    )
    assert result.code == 0, result.err
    doc = result.json()["result"]
    assert doc["plan_id"] == "PR-42"
    assert Path(doc["plan_file"]) == workspace.resolve() / ".agentos" / "plans" / "PR-42.json"
    assert load_plan(Path(doc["plan_file"])).plan_id == "PR-42"


# ---------------------------------------------------------------------------------------------
# Through the CLI
# ---------------------------------------------------------------------------------------------


def test_show_refuses_a_tampered_plan(
    cli: Callable[..., CliResult], workspace: Path, tmp_path: Path
) -> None:
    write_tree(workspace, BASELINE)
    source = tmp_path / "m.json"
    source.write_text(json.dumps(MANIFEST))
    planned = cli("plan", source, "-C", workspace, "--json", "--policy", PERMISSIVE_POLICY)
    assert planned.code == 0, planned.err
    plan_file = Path(planned.json()["result"]["plan_file"])

    shown = cli("show", plan_file, "-C", workspace, "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["result"]["checksum"] == planned.json()["result"]["checksum"]

    raw = plan_file.read_bytes()
    plan_file.write_bytes(raw.replace(b"escaped", b"Escaped", 1))
    assert plan_file.read_bytes() != raw
    for args in ((plan_file,), (planned.json()["result"]["plan_id"],)):
        result = cli("show", *args, "-C", workspace, "--json")
        assert result.code == 6
        assert result.err.startswith("agentos: error: ")
        assert result.err.count("\n") == 1
        assert "checksum mismatch" in result.err
        doc = result.json()
        assert doc["ok"] is False
        assert doc["error"]["type"] == "checksum_mismatch"

    human = cli("show", plan_file, "-C", workspace)
    assert human.code == 6
    assert human.out == ""


def test_show_refuses_a_newer_plan(
    cli: Callable[..., CliResult], workspace: Path, tmp_path: Path
) -> None:
    _plan, raw = sample()

    def newer(doc: dict[str, Any]) -> None:
        doc["format"] = "agentos.plan/2"

    plan_file = tmp_path / "future.json"
    plan_file.write_bytes(rewrite(raw, newer, reseal=False))
    result = cli("show", plan_file, "-C", workspace, "--json")
    assert result.code == 2
    assert "upgrade" in result.err
    assert result.json()["error"]["type"] == "plan_format_error"


def _reference_dump(plan: ChangePlan) -> bytes:
    """The plan file as one ``json.dumps`` of the whole plan writes it."""
    text = json.dumps(plan.model_dump(mode="json"), indent=2, ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


@pytest.mark.parametrize(
    "intent",
    [
        None,
        # The outline's stand-in for the changes, in a field before them: still one place.
        "\0agentos-changes\0",
        "emoji \U0001f600, a newline\nand a tab\t",
    ],
)
def test_the_plan_file_is_built_change_by_change_as_one_dump_would_write_it(
    tmp_path: Path, intent: str | None
) -> None:
    write_tree(tmp_path, BASELINE)
    plan = make_plan(tmp_path, intent=intent)
    assert dump_plan(plan) == _reference_dump(plan)
    empty = plan.model_copy(update={"changeset": plan.changeset.model_copy(update={"changes": ()})})
    assert dump_plan(empty) == _reference_dump(empty)


def test_loading_a_plan_holds_no_decoded_copy_of_the_whole_file(tmp_path: Path) -> None:
    """One character beyond U+FFFF anywhere makes a Python str of the whole text four bytes a
    character; the loader must not build such a str of the file (``json.loads`` of bytes
    does: here 4 x the file at once, where the contents themselves are about 1 x)."""
    import tracemalloc

    body = "plain ascii line\n" * 55_000  # 0.9 MB, under the default file limit
    changes = [{"op": "create", "path": f"big{i}.txt", "content": body} for i in range(3)]
    changes.append({"op": "create", "path": "smile.txt", "content": "\U0001f600\n"})
    request = PlanSpec(
        workspace=Workspace(tmp_path),
        inputs=(PlanInput(name="m.json", data=json.dumps({"changes": changes}).encode()),),
        author="tester",
        clock=lambda: FIXED,
    )
    raw = dump_plan(plan_changes(request))
    tracemalloc.start()
    try:
        parse_plan(raw, name="p.json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(raw)
