"""The plan models: strict, frozen, discriminated on op, canonical checksum, schema in sync."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agentos.digest import canonical_json, sha256_hex
from agentos.model import (
    ChangeSet,
    Content,
    CreateChange,
    DeleteChange,
    ModifyChange,
    RenameChange,
    changes_checksum,
    plan_json_schema,
)
from helpers import REPO_ROOT

SHA = "a" * 64


def test_content_picks_readable_text_and_base64_otherwise() -> None:
    assert Content.from_bytes(b"hi\n").encoding == "utf-8"
    assert Content.from_bytes(b"\xff\xfe").encoding == "base64"
    assert Content.from_bytes(b"a\0b").encoding == "base64"


@given(st.binary(max_size=300))
def test_content_round_trips_any_bytes(data: bytes) -> None:
    content = Content.from_bytes(data)
    assert content.to_bytes() == data
    again = Content.model_validate_json(content.model_dump_json())
    assert again.to_bytes() == data


def test_invalid_base64_is_refused() -> None:
    with pytest.raises(ValidationError):
        Content(encoding="base64", data="!!!")


def test_union_is_discriminated_on_op_without_default() -> None:
    raw = {"op": "delete", "path": "x", "old_sha256": SHA}
    changeset = ChangeSet.model_validate_json(
        json.dumps({"changes": [raw], "checksum": changes_checksum([raw])})
    )
    assert isinstance(changeset.changes[0], DeleteChange)
    with pytest.raises(ValidationError):
        ChangeSet.model_validate_json(
            json.dumps({"changes": [{"path": "x", "old_sha256": SHA}], "checksum": "sha256:" + SHA})
        )


def test_models_are_strict_frozen_and_closed() -> None:
    with pytest.raises(ValidationError):
        DeleteChange.model_validate({"op": "delete", "path": 3, "old_sha256": SHA})
    with pytest.raises(ValidationError):
        DeleteChange.model_validate({"op": "delete", "path": "x", "old_sha256": SHA, "extra": 1})
    change = DeleteChange(op="delete", path="x", old_sha256=SHA)
    with pytest.raises(ValidationError):
        change.path = "y"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        DeleteChange(op="delete", path="x", old_sha256="A" * 64)


def test_rename_serialises_from_as_from() -> None:
    change = RenameChange(
        op="rename",
        from_path="a",
        path="b",
        old_sha256=SHA,
        mode="100644",
        content=Content.from_bytes(b"x"),
        sha256=SHA,
    )
    dumped = change.model_dump(mode="json")
    assert dumped["from"] == "a"
    assert "from_path" not in dumped
    assert RenameChange.model_validate_json(json.dumps(dumped)) == change


def test_checksum_is_sha256_of_canonical_changes() -> None:
    changes = (
        CreateChange(
            op="create", path="é.txt", mode="100644", content=Content.from_bytes(b"x"), sha256=SHA
        ),
        ModifyChange(
            op="modify",
            path="m",
            old_sha256=SHA,
            mode="100755",
            content=Content.from_bytes(b"y"),
            sha256=SHA,
        ),
    )
    plain = [c.model_dump(mode="json") for c in changes]
    expected = sha256_hex(
        json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert changes_checksum(changes) == "sha256:" + expected
    assert canonical_json(plain) == json.dumps(
        plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_any_path_change_changes_the_checksum(a: str, b: str) -> None:
    first = [{"op": "delete", "path": a, "old_sha256": SHA}]
    second = [{"op": "delete", "path": b, "old_sha256": SHA}]
    assert (changes_checksum(first) == changes_checksum(second)) == (a == b)


def test_published_plan_schema_is_in_sync_with_the_models() -> None:
    published = json.loads((REPO_ROOT / "docs" / "schemas" / "plan.schema.json").read_text())
    assert published == plan_json_schema(), "run 'make schemas' and commit the result"
