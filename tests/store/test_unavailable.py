"""PostgreSQL out of reach, or a store address that is none: one clear line that names the
store without its password and says what to do; never a traceback, nothing written."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from agentos.store import redact, selected_url
from helpers import CliResult, agentos, cli_apply, cli_plan

Cli = Callable[..., CliResult]
needs_psycopg = pytest.mark.skipif(
    importlib.util.find_spec("psycopg") is None,
    reason="psycopg is not installed: pip install -e '.[postgres]' (make does)",
)
SECRET = "s3cr3t-pw"  # noqa: S105 - a password that must never be shown


def unreachable(tmp_path: Path) -> str:
    """A store address whose server is not running (a socket directory with no server)."""
    return f"postgresql://agentos:{SECRET}@/agentos?host={tmp_path / 'no-server'}&port=5432"


@needs_psycopg
def test_store_migrate_names_the_store_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = unreachable(tmp_path)
    run = agentos("store", "migrate", cwd=tmp_path, AGENTOS_STORE=url)
    assert run.code == 75
    error = run.doc["error"]
    assert error["type"] == "store_unavailable"
    message = error["message"]
    assert message.startswith(f"cannot reach the PostgreSQL store at {redact(url)}: ")
    assert "agentos:***@" in message
    assert "start the server or fix AGENTOS_STORE" in message
    assert SECRET not in run.err + str(run.doc)
    assert "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


@needs_psycopg
def test_audit_verify_store_out_of_reach(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOS_STORE", unreachable(tmp_path))
    res = cli("audit", "verify", "--store", "-C", tmp_path, "--json")
    assert res.code == 75
    assert res.json()["error"]["type"] == "store_unavailable"
    assert SECRET not in res.out + res.err


@needs_psycopg
def test_apply_with_the_store_out_of_reach_writes_nothing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.txt").write_text("one\n")
    plan = cli_plan(cli, ws, "p1", [{"op": "modify", "path": "src/a.txt", "content": "two\n"}])
    monkeypatch.setenv("AGENTOS_STORE", unreachable(tmp_path))
    # Whether the plan was applied on another runner cannot be known: nothing is written.
    res = cli_apply(cli, ws, plan)
    assert res.code == 75
    assert res.json()["error"]["type"] == "store_unavailable"
    assert (ws / "src" / "a.txt").read_text() == "one\n"
    assert SECRET not in res.out + res.err
    # The local trail took every event all the same, and still verifies.
    assert cli("audit", "verify", "-C", ws, "--json").code == 0


@needs_psycopg
def test_a_store_address_that_is_none_is_a_usage_error(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTOS_STORE", "mysql://root:pw@db/x")
    res = cli("store", "migrate", "-C", tmp_path, "--json")
    assert res.code == 2
    message = res.json()["error"]["message"]
    assert message.startswith("AGENTOS_STORE: 'mysql://root:pw@db/x' is not a PostgreSQL address")
    monkeypatch.setenv("AGENTOS_STORE", "host=/x password='a b")
    res = cli("store", "migrate", "-C", tmp_path, "--json")
    assert res.code == 2
    assert "libpq cannot parse it" in res.json()["error"]["message"]
    assert "a b" not in res.out + res.err


@needs_psycopg
def test_the_policy_key_selects_the_store_and_the_variable_wins(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = unreachable(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nstore:\n  url: {url!r}\n")
    monkeypatch.delenv("AGENTOS_STORE", raising=False)
    res = cli("store", "migrate", "-C", tmp_path, "--policy", policy, "--json")
    assert res.code == 75
    assert redact(url) in res.json()["error"]["message"]
    monkeypatch.setenv("AGENTOS_STORE", "files")
    res = cli("store", "migrate", "-C", tmp_path, "--policy", policy, "--json")
    assert res.code == 2
    assert "needs the PostgreSQL store" in res.json()["error"]["message"]


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("postgresql://u:pw@db:5432/x", "postgresql://u:***@db:5432/x"),
        ("postgres://u@db/x", "postgres://u@db/x"),
        ("postgresql:///x?host=/run/pg&password=pw", "postgresql:///x?host=/run/pg&password=***"),
        ("host=db password=pw dbname=x", "host=db password=*** dbname=x"),
        ("host=db password = 'p w' dbname=x", "host=db password = *** dbname=x"),
        ("host=/run/pg dbname=x", "host=/run/pg dbname=x"),
    ],
)
def test_redact(address: str, shown: str) -> None:
    assert redact(address) == shown


def test_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTOS_STORE", raising=False)
    assert selected_url(None) == (None, "default")
    assert selected_url("host=/x") == ("host=/x", "store.url")
    monkeypatch.setenv("AGENTOS_STORE", "postgresql:///y")
    assert selected_url("host=/x") == ("postgresql:///y", "AGENTOS_STORE")
    monkeypatch.setenv("AGENTOS_STORE", "files")
    assert selected_url("host=/x") == (None, "AGENTOS_STORE")


def test_the_store_key_is_checked_and_never_counts_in_the_digest() -> None:
    from agentos.errors import PolicyError
    from agentos.governance.policy import Policy
    from agentos.governance.policyfile import parse_policy

    chosen = parse_policy("version: 1\nstore: {url: 'host=/run/pg dbname=agentos'}\n", source="p")
    assert chosen.store.url == "host=/run/pg dbname=agentos"
    assert chosen.digest() == Policy().digest()
    for bad, said in (
        ("{url: 5}", "store.url"),
        ("{nope: 1}", "store.nope"),
        ("{url: ''}", "store.url"),
    ):
        with pytest.raises(PolicyError) as caught:
            parse_policy(f"version: 1\nstore: {bad}\n", source="p")
        assert said in caught.value.message


def test_the_file_store_never_loads_psycopg(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from helpers import PERMISSIVE_POLICY, environment

    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    manifest = tmp_path / "m.json"
    manifest.write_text(
        json.dumps({"changes": [{"op": "create", "path": "src/a.txt", "content": "x\n"}]})
    )
    probe = (
        "import sys\n"
        "from agentos.cli.entry import main\n"
        "code = main(sys.argv[1:])\n"
        "print('psycopg' in sys.modules, code)\n"
    )
    env = environment()
    env.pop("AGENTOS_STORE", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "plan",
            str(manifest),
            "-C",
            str(ws),
            "--policy",
            str(PERMISSIVE_POLICY),
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.stdout.strip().splitlines()[-1] == "False 0", proc.stdout + proc.stderr
