"""A plan the WriteGate denies for a secret never writes that secret to disk.

The content that holds it is withheld from the plan file (``.agentos/plans/*.json`` and
``plan -o FILE``, the file a CI job uploads): the change keeps its ``sha256`` and carries a
``withheld`` marker instead (``docs/plan-format.md``). ``check`` and ``show`` still explain
the denial, ``apply`` and ``approve`` refuse it, whatever the policy says later. Pinned: the
secret appears in no file under ``.agentos/``, in no plan file, and in no output of plan /
check / show / apply / approve, human or ``--json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentos.planner.plan import default_plan_id
from helpers import PERMISSIVE_POLICY, CliResult, write_tree

Cli = Callable[..., CliResult]

# Built at run time so that this file holds no secret-looking literal.
AWS_KEY = "AKIA" + "Z7QW3RT5" + "YU2PLK4M"
GITHUB_TOKEN = "ghp_" + "Xq7Lm2Np9Rt4Vw6Yz8Ab3Cd5Ef1Gh0Jk2Mn4"
SECRET_FILE = f"import os\n\nKEY_ID = '{AWS_KEY}'\nTOKEN = '{GITHUB_TOKEN}'\n"
CHANGES: list[dict[str, Any]] = [
    {"op": "create", "path": "src/keys.py", "content": SECRET_FILE},
    {"op": "modify", "path": "src/a.py", "content": "a = 2\n"},
]
WITHHELD_KEYS = {"encoding", "reason", "bytes", "secrets"}
MARK_KEYS = {"pattern", "line", "description"}


@pytest.fixture
def ws(workspace: Path) -> Path:
    write_tree(workspace, {"src/a.py": "a = 1\n", "README.md": "# demo\n"})
    return workspace


def manifest(ws: Path) -> Path:
    path = ws.parent / "secret-manifest.json"
    path.write_text(json.dumps({"intent": "add keys", "changes": CHANGES}))
    return path


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert AWS_KEY not in text
        assert GITHUB_TOKEN not in text


def assert_no_secret_on_disk(*roots: Path) -> None:
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            data = path.read_bytes()
            assert AWS_KEY.encode() not in data, path
            assert GITHUB_TOKEN.encode() not in data, path


def test_the_secret_reaches_no_file_and_no_output(cli: Cli, ws: Path, tmp_path: Path) -> None:
    source = manifest(ws)
    outputs: list[CliResult] = []
    planned = cli("plan", source, "-C", ws, "--json")
    outputs.append(planned)
    assert planned.code == 3, planned.err
    plan_file = Path(planned.json()["result"]["plan_file"])
    artifact = tmp_path / "artifact-plan.json"
    outputs.append(cli("plan", source, "-C", ws, "-o", artifact))
    assert outputs[-1].code == 3
    for json_flag in ((), ("--json",)):
        outputs.append(cli("plan", source, "-C", ws, *json_flag))
        for ref in (plan_file, artifact):
            outputs.append(cli("check", ref, "-C", ws, "--explain", *json_flag))
            assert outputs[-1].code == 3
            outputs.append(cli("show", ref, "-C", ws, "--diff", *json_flag))
            assert outputs[-1].code == 0
            outputs.append(cli("apply", ref, "-C", ws, *json_flag))
            assert outputs[-1].code == 3
            outputs.append(cli("approve", ref, "-C", ws, "--by", "bob", *json_flag))
            assert outputs[-1].code == 3
        outputs.append(cli("policy", "explain", plan_file, "-C", ws, *json_flag))
    outputs.append(cli("audit", "export", "-C", ws))
    assert_no_secret(*(r.out for r in outputs), *(r.err for r in outputs))
    assert_no_secret_on_disk(ws / ".agentos", artifact)
    # ... while the change itself was planned: the source it came from holds the secret.
    assert AWS_KEY in source.read_text()
    assert (ws / "src" / "a.py").read_text() == "a = 1\n"
    assert not (ws / "src" / "keys.py").exists()


def test_the_plan_file_withholds_the_content_and_keeps_its_digest(cli: Cli, ws: Path) -> None:
    planned = cli("plan", manifest(ws), "-C", ws, "--json")
    assert planned.code == 3
    res = planned.json()["result"]
    doc = json.loads(Path(res["plan_file"]).read_text())
    modify, keys = doc["changeset"]["changes"]  # sorted by path
    # The other change keeps its content: the rest of the plan can be reviewed.
    assert modify["content"] == {"encoding": "utf-8", "data": "a = 2\n"}
    content = keys["content"]
    assert set(content) == WITHHELD_KEYS
    assert (content["encoding"], content["reason"]) == ("withheld", "secret")
    assert content["bytes"] == len(SECRET_FILE.encode())
    assert keys["sha256"] == hashlib.sha256(SECRET_FILE.encode()).hexdigest()
    assert all(set(mark) == MARK_KEYS for mark in content["secrets"])
    assert [(m["pattern"], m["line"]) for m in content["secrets"]] == [
        ("aws-access-key-id", 3),
        ("github-token", 4),
    ]
    assert content["secrets"][0]["description"] == "an AWS access key id"
    # The checksum seals the changes as stored, and the default id follows from it.
    assert doc["changeset"]["checksum"] == res["checksum"]
    assert res["plan_id"] == default_plan_id(res["checksum"], "add keys")
    assert Path(res["plan_file"]).name == f"{res['plan_id']}.json"
    secrets = [(f["path"], f["line"]) for f in res["findings"] if f["rule"] == "secret"]
    assert secrets == [("src/keys.py", 3), ("src/keys.py", 4)]


def test_check_explains_and_apply_refuses_whatever_the_policy(cli: Cli, ws: Path) -> None:
    planned = cli("plan", manifest(ws), "-C", ws, "--json")
    plan_file = planned.json()["result"]["plan_file"]
    # Under a policy that detects no secrets at all, the withheld content still cannot be
    # written: the plan stays denied, and says why.
    checked = cli("check", plan_file, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert checked.code == 3
    res = checked.json()["result"]
    assert res["decision"] == "DENY"
    [aws, github] = [f for f in res["findings"] if f["rule"] == "secret"]
    assert (aws["path"], aws["line"], aws["pattern"]) == ("src/keys.py", 3, "aws-access-key-id")
    assert github["pattern"] == "github-token"
    assert "withheld from the plan file" in aws["message"]
    applied = cli("apply", plan_file, "-C", ws, "--policy", PERMISSIVE_POLICY, "--json")
    assert applied.code == 3
    assert applied.json()["result"]["status"] == "denied"
    assert "secret (src/keys.py:3, src/keys.py:4)" in applied.json()["error"]["message"]
    assert not (ws / "src" / "keys.py").exists()
    human = cli("show", plan_file, "-C", ws, "--diff")
    withheld = f"the new content, {len(SECRET_FILE)} bytes, was withheld from the plan file"
    assert withheld in human.out
    assert "aws-access-key-id on line 3, github-token on line 4" in human.out


def test_a_plan_without_secrets_keeps_every_content(cli: Cli, ws: Path) -> None:
    clean = ws.parent / "clean.json"
    clean.write_text(json.dumps({"changes": CHANGES[1:]}))
    planned = cli("plan", clean, "-C", ws, "--json")
    assert planned.code == 0
    doc = json.loads(Path(planned.json()["result"]["plan_file"]).read_text())
    assert "withheld" not in json.dumps(doc)
