"""The secret detector: planted secrets are found on their line, ordinary code is not.

No secret is written in this file: every planted one is joined at run time from pieces
(``cat("AKIA", ...)`` is a call, so the compiler cannot fold it into one constant) or drawn
from ``noise``, so scanning this repository finds nothing, this file included.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import string
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentos.governance.secrets import SecretHit, find_secrets
from helpers import REPO_ROOT

ALNUM = string.ascii_letters + string.digits
BASE64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
BASE32 = string.ascii_uppercase + "234567"


def cat(*parts: str) -> str:
    """Join pieces at run time, so no planted secret appears whole in any file."""
    return "".join(parts)


def noise(size: int, alphabet: str = ALNUM, seed: str = "") -> str:
    """``size`` random-looking characters of ``alphabet``, the same on every run."""
    out: list[str] = []
    block = 0
    while len(out) < size:
        digest = hashlib.sha256(f"{seed}/{size}/{block}".encode()).digest()
        out.extend(alphabet[byte % len(alphabet)] for byte in digest)
        block += 1
    return "".join(out[:size])


def pem(label: str, *, headers: tuple[str, ...] = (), lines: int = 3) -> str:
    """A PEM-shaped block with a random body: ``-----BEGIN <label>----- ... -----END``."""
    dashes = "-" * 5
    body = [noise(64, BASE64, seed=f"{label}{i}") for i in range(lines)]
    middle = [*headers, ""] if headers else []
    return "\n".join(
        [cat(dashes, "BEGIN ", label, dashes), *middle, *body, cat(dashes, "END ", label, dashes)]
    )


def kinds_and_lines(hits: list[SecretHit]) -> list[tuple[str, int]]:
    return [(hit.kind, hit.line) for hit in hits]


# --- planted secrets, each in realistic surroundings -------------------------------------

AWS_ID = cat("AKIA", "IOSFODNN7", "EXAMPLE")
AWS_STS_ID = cat("ASIA", noise(16, BASE32, "sts"))
AWS_SECRET = noise(40, BASE64, "aws-secret")
GOOGLE = cat("AIza", noise(35, URLSAFE, "google"))
GITHUB_PAT = cat("ghp", "_", noise(36, seed="ghp"))
GITHUB_OAUTH = cat("gho", "_", noise(36, seed="gho"))
GITHUB_APP = cat("ghs", "_", noise(36, seed="ghs"))
GITHUB_FINE = cat("github", "_pat_", noise(22, seed="fine"), "_", noise(59, seed="grained"))
GITLAB = cat("glpat", "-", noise(20, URLSAFE, "gitlab"))
SLACK_BOT = cat("xoxb", "-", noise(12, string.digits, "team"), "-", noise(13, string.digits))
SLACK_BOT = cat(SLACK_BOT, "-", noise(24, seed="slack"))
SLACK_HOOK = cat("https://hooks.slack", ".com/services/T", noise(8, BASE32, "t"), "/B")
SLACK_HOOK = cat(SLACK_HOOK, noise(10, BASE32, "b"), "/", noise(24, seed="hook"))
STRIPE = cat("sk", "_live_", noise(24, seed="stripe"))
STRIPE_RESTRICTED = cat("rk", "_live_", noise(24, seed="restricted"))
OPENAI = cat("sk-", noise(20, seed="openai"), "T3Blbk", "FJ", noise(20, seed="ai"))
OPENAI_PROJECT = cat("sk-", "proj-", noise(64, URLSAFE, "project"))
ANTHROPIC = cat("sk-", "ant-", "api03-", noise(93, URLSAFE, "anthropic"), "AA")
NPM = cat("npm", "_", noise(36, seed="npm"))
PYPI = cat("pypi-", "AgEIcHlwaS5vcmc", noise(80, URLSAFE, "pypi"))
AZURE = cat("AccountKey", "=", noise(86, BASE64, "azure"), "==")
RANDOM_32 = noise(32, seed="assignment")
RANDOM_HEX = noise(40, "0123456789abcdef", "hex")

PLANTED: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "rsa key file": (pem("RSA PRIVATE KEY", lines=25) + "\n", [("private-key", 1)]),
    "ec key in a Python string": (
        f'"""Test fixtures."""\n\nKEY = """{pem("EC PRIVATE KEY")}\n"""\n',
        [("private-key", 3)],
    ),
    "dsa key": (pem("DSA PRIVATE KEY"), [("private-key", 1)]),
    "openssh key": (
        f"# deploy key\n{pem('OPENSSH PRIVATE KEY')}\n",
        [("private-key", 2)],
    ),
    "pgp key with armour headers": (
        pem("PGP PRIVATE KEY BLOCK", headers=("Version: GnuPG v2", "Comment: backup")),
        [("private-key", 1)],
    ),
    "encrypted pkcs8 key": (pem("ENCRYPTED PRIVATE KEY"), [("private-key", 1)]),
    "encrypted pem with dek-info": (
        pem("RSA PRIVATE KEY", headers=("Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,0F1E")),
        [("private-key", 1)],
    ),
    "pkcs8 key escaped in a service-account json": (
        '{\n  "type": "service_account",\n  "project_id": "demo",\n  "private_key": "'
        + pem("PRIVATE KEY").replace("\n", "\\n")
        + '\\n",\n  "client_email": "svc@demo.iam.gserviceaccount.com"\n}\n',
        [("private-key", 4)],
    ),
    "aws keys in a boto3 call": (
        "import boto3\n\n"
        "def client():\n"
        "    return boto3.client(\n"
        '        "s3",\n'
        f'        aws_access_key_id="{AWS_ID}",\n'
        f'        aws_secret_access_key="{AWS_SECRET}",\n'
        "    )\n",
        [("aws-access-key-id", 6), ("aws-secret-access-key", 7)],
    ),
    "aws credentials file": (
        "[default]\nregion = eu-west-1\n"
        f"aws_access_key_id = {AWS_STS_ID}\naws_secret_access_key = {AWS_SECRET}\n",
        [("aws-access-key-id", 3), ("aws-secret-access-key", 4)],
    ),
    "aws secret in .env": (
        f"AWS_REGION=eu-west-1\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n",
        [("aws-secret-access-key", 2)],
    ),
    "google key in js": (
        f'const maps = new Loader({{\n  apiKey: "{GOOGLE}",\n  version: "weekly",\n}});\n',
        [("google-api-key", 2)],
    ),
    "github tokens in yaml": (
        f"jobs:\n  release:\n    env:\n      GH_TOKEN: {GITHUB_PAT}\n"
        f"      OAUTH: {GITHUB_OAUTH}\n      APP: {GITHUB_APP}\n",
        [("github-token", 4), ("github-token", 5), ("github-token", 6)],
    ),
    "fine-grained github pat in a shell script": (
        f'#!/bin/sh\nset -e\ncurl -H "Authorization: Bearer {GITHUB_FINE}" "$URL"\n',
        [("github-token", 3)],
    ),
    "gitlab pat in python": (
        f'import gitlab\n\ngl = gitlab.Gitlab("https://gitlab.com", private_token="{GITLAB}")\n',
        [("gitlab-token", 3)],
    ),
    "slack token and webhook in json": (
        f'{{\n  "bot": "{SLACK_BOT}",\n  "hook": "{SLACK_HOOK}"\n}}\n',
        [("slack-token", 2), ("slack-webhook", 3)],
    ),
    "stripe keys in ruby": (
        f'Stripe.api_key = "{STRIPE}"\nRESTRICTED = "{STRIPE_RESTRICTED}"\n',
        [("stripe-key", 1), ("stripe-key", 2)],
    ),
    "openai keys in python": (
        f'from openai import OpenAI\n\nclient = OpenAI(api_key="{OPENAI}")\n'
        f'PROJECT = "{OPENAI_PROJECT}"\n',
        [("openai-api-key", 3), ("openai-api-key", 4)],
    ),
    "anthropic key in .env": (
        f"DEBUG=1\nANTHROPIC_API_KEY={ANTHROPIC}\n",
        [("anthropic-api-key", 2)],
    ),
    "npm token in .npmrc": (
        f"registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={NPM}\n",
        [("npm-token", 2)],
    ),
    "pypi token in .pypirc": (
        f"[pypi]\nusername = __token__\npassword = {PYPI}\n",
        [("pypi-token", 3)],
    ),
    "azure connection string": (
        f'conn = "DefaultEndpointsProtocol=https;AccountName=acct;{AZURE};EndpointSuffix=x"\n',
        [("azure-storage-key", 1)],
    ),
    "password in python": (
        f'import psycopg\n\nDB_PASSWORD = "{RANDOM_32}"\n',
        [("secret-assignment", 3)],
    ),
    "annotated token in python": (
        f'class Settings:\n    token: str = "{RANDOM_32}"\n',
        [("secret-assignment", 2)],
    ),
    "api key in js": (f"export const apiKey = '{RANDOM_32}';\n", [("secret-assignment", 1)]),
    "client secret in yaml": (
        f"oauth:\n  client_id: web-frontend\n  client_secret: {RANDOM_32}\n",
        [("secret-assignment", 3)],
    ),
    "auth token in json": (
        f'{{"user": "ci", "auth_token": "{RANDOM_HEX}"}}\n',
        [("secret-assignment", 1)],
    ),
    "secret key in .env": (
        f"DEBUG=0\nSECRET_KEY={RANDOM_32}  # rotate yearly\n",
        [("secret-assignment", 2)],
    ),
    "passwd in ini": (f"[database]\nhost = db\npasswd = {RANDOM_32}\n", [("secret-assignment", 3)]),
    "access key in a keyword argument": (
        f'connect(host="db", access_key="{RANDOM_32}")\n',
        [("secret-assignment", 1)],
    ),
    "crlf .env": (f"A=1\r\nAPI_TOKEN={RANDOM_32}\r\n", [("secret-assignment", 2)]),
}

SECRET_TEXTS = (
    AWS_ID,
    AWS_STS_ID,
    AWS_SECRET,
    GOOGLE,
    GITHUB_PAT,
    GITHUB_FINE,
    GITLAB,
    SLACK_BOT,
    SLACK_HOOK,
    STRIPE,
    OPENAI,
    OPENAI_PROJECT,
    ANTHROPIC,
    NPM,
    PYPI,
    AZURE,
    RANDOM_32,
    RANDOM_HEX,
)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_secret_is_found_on_its_line(name: str) -> None:
    content, expected = PLANTED[name]
    assert kinds_and_lines(find_secrets(content.encode())) == expected


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_a_hit_never_carries_the_secret(name: str) -> None:
    content, _ = PLANTED[name]
    for hit in find_secrets(content.encode()):
        shown = repr(hit)
        assert not any(secret in shown for secret in SECRET_TEXTS), shown
        assert not any(secret[:12] in shown for secret in SECRET_TEXTS), shown
        assert hit.description


def test_the_assignment_hit_names_the_variable() -> None:
    (hit,) = find_secrets(f'    DB_PASSWORD = "{RANDOM_32}"\n'.encode())
    assert hit == SecretHit(
        "secret-assignment", "a high-entropy string assigned to 'DB_PASSWORD'", 1
    )


def test_one_hit_per_kind_and_line() -> None:
    line = f"tokens = ['{GITHUB_PAT}', '{GITHUB_APP}', '{AWS_ID}']\n"
    assert kinds_and_lines(find_secrets(line.encode())) == [
        ("aws-access-key-id", 1),
        ("github-token", 1),
    ]


def test_a_line_with_a_specific_token_is_not_also_an_assignment() -> None:
    assert kinds_and_lines(find_secrets(f"token = '{GITHUB_PAT}'\n".encode())) == [
        ("github-token", 1)
    ]


def test_binary_content_gets_the_token_patterns_only() -> None:
    data = b"\x89PNG\x00\x01" + f'\npassword = "{RANDOM_32}"\nid={AWS_ID}\n'.encode()
    assert kinds_and_lines(find_secrets(data)) == [("aws-access-key-id", 3)]


def test_invalid_utf8_does_not_shift_lines() -> None:
    data = b"\xff\xfe\xc3(\n\x80\x81\n" + f"k = '{NPM}'\n".encode()
    assert kinds_and_lines(find_secrets(data)) == [("npm-token", 3)]


def test_a_dotted_capital_i_does_not_shift_offsets() -> None:
    # "İ" lowercases to two characters; the keyword search must still land on the name.
    content = cat("# İstanbul İzmir\n", f'password = "{RANDOM_32}"\n')
    assert kinds_and_lines(find_secrets(content.encode())) == [("secret-assignment", 2)]


def test_a_token_inside_a_longer_word_is_not_one() -> None:
    assert find_secrets(cat("x", AWS_ID).encode()) == []
    assert find_secrets(cat(AWS_ID, "Z").encode()) == []


# --- what must not be flagged ------------------------------------------------------------

SHA = hashlib.sha1(b"a commit").hexdigest()  # noqa: S324 - a git-like id, not security
IMAGE = base64.b64encode(hashlib.sha512(b"pixels").digest() * 3).decode()
HEADER_ONLY = cat("-" * 5, "BEGIN RSA PRIVATE KEY", "-" * 5)

ORDINARY_LINES = (
    "password = getpass.getpass()",
    'token = request.headers["Authorization"]',
    'secret_key = os.environ["SECRET_KEY"]',
    'SECRET_KEY = os.environ.get("SECRET_KEY", "")',
    "password = os.getenv('DB_PASSWORD')",
    "api_key: ${API_KEY}",
    'api_key: "${API_KEY}"',
    'password: "changeme"',
    "SECRET_KEY=changeme-in-production-2024",
    'password: "{{ vault_db_password }}"',
    '"password": "%(password)s",',
    "TOKEN_TYPE = 'bearer'",
    'token_type = "Bearer"',
    "password_hash = hash_password(password)",
    'token = "test"',
    'token = "Xy7pQ2"',
    'session_token = "a1b2a1b2a1b2a1b2a1b2"',
    'token = "<your-token-here>"',
    'GITHUB_TOKEN: "<github token with repo scope>"',
    'API_KEY = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
    'password = "****************"',
    "password = 'aaaaaaaaaaaaaaaaaaaaaaaa'",
    f'commit = "{SHA}"',
    f"HEAD_SHA = '{SHA}'",
    f'expected_tree = "{SHA}"  # git write-tree',
    f'icon = "data:image/png;base64,{IMAGE}"',
    f'logo_png = "{IMAGE}"',
    'secret_file = "/etc/app/secret.key"',
    'secret = "/run/secrets/db-pass2"',
    'client_secret = "./config/client_secret_2.json"',
    'token_url = "https://oauth2.googleapis.com/token"',
    'token = "https://example.com/api/v2/tokens/abc123XYZ"',
    "auth_token = config.get('auth', 'token')",
    "api_key = settings.OPENAI_API_KEY_V2",
    "token = self._tokens[0]",
    "max_tokens = 4096",
    "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
    'pad_token = "<pad>"',
    "for token in tokens:",
    "password = None",
    "password: Optional[str] = None",
    'password: str = ""',
    "    client_secret=client_secret,",
    "secretKeyRef: {name: db, key: password}",
    "PASSWORD_MIN_LENGTH = 12",
    "DATABASE_PASSWORD=",
    'cache_key = "user:1234:profile:v2:Ab9fK2"',
    'private_key_path = "keys/id_rsa"',
    "signing_key = load_key(path)",
    'API_KEY_HEADER = "X-Api-Key"',
    "token = jwt.encode(payload, key, algorithm='HS256')",
    'access_token = response.json()["access_token"]',
    'secret = b""',
    'DJANGO_SECRET_KEY: "$(openssl rand -hex 32)"',
    'password = f"{user}-{suffix}"',
    'password = "correct horse battery staple"',
    'TOKEN_RE = re.compile(r"gh[pousr]_[A-Za-z0-9]{36}")',
    'token_pattern = r"(?u)\\b\\w\\w+\\b"',
    'secret_name = "prod/db/credentials-2024"',
    '"output_token": "DistributionList.NextMarker",',
    "PREFERRED_AUTH_KEY = 'spec.preferredAuthentication'",
    'AKIA_RE = r"AKIA[0-9A-Z]{16}"',
    'if pem.startswith("' + HEADER_ONLY + '"):',
    'authorized_key = "ssh-rsa ' + IMAGE[:60] + ' user@host"',
    'version = "2.32.3"',
    'AWS_REGION = "us-east-1"',
    'sk_test = "' + cat("sk", "_test_", noise(24, seed="test")) + '"',
    "xoxb_example = 'xoxb-your-bot-token-goes-here'",
    'password = "${DB_PASSWORD:-postgres}"',
    "monkey = 'Zk29fLq0aPs8Yw3nBv7Cx1Rt'",
    "if password == 'Zk29fLq0aPs8Yw3nBv7Cx1Rt':",
)


@pytest.mark.parametrize("line", ORDINARY_LINES)
def test_ordinary_line_gives_no_hit(line: str) -> None:
    assert find_secrets(line.encode()) == []
    module = f"import os\n\n\ndef f(password, token):\n    {line}\n    return None\n"
    assert find_secrets(module.encode()) == []


def test_public_keys_and_certificates_are_not_private_keys() -> None:
    content = pem("PUBLIC KEY") + "\n" + pem("CERTIFICATE") + "\n"
    assert find_secrets(content.encode()) == []


def test_a_private_key_header_without_a_body_is_not_a_key() -> None:
    content = f'MARKER = "{HEADER_ONLY}"\nEND = "-----END RSA PRIVATE KEY-----"\n{SHA}\n'
    assert find_secrets(content.encode()) == []


# --- properties --------------------------------------------------------------------------

PLANTED_LINES: tuple[tuple[str, str], ...] = (
    (f'DB_PASSWORD = "{RANDOM_32}"', "secret-assignment"),
    (f"aws_access_key_id = {AWS_ID}", "aws-access-key-id"),
    (f"  token: {GITHUB_PAT}", "github-token"),
    (f'url = "{SLACK_HOOK}"', "slack-webhook"),
    (f"NPM={NPM}", "npm-token"),
)
KEY_BLOCK = pem("OPENSSH PRIVATE KEY")


@st.composite
def planted_documents(draw: st.DrawFn) -> tuple[str, list[tuple[str, int]]]:
    """Lines drawn from ordinary code, arbitrary text and planted secrets, with the hits due."""
    lines: list[str] = []
    expected: list[tuple[str, int]] = []
    pieces = st.one_of(
        st.sampled_from(ORDINARY_LINES).map(lambda line: (line, "")),
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_characters="\n\x00"), max_size=40
        ).map(lambda text: ("# " + text, "")),
        st.sampled_from(PLANTED_LINES),
        st.just((KEY_BLOCK, "private-key")),
    )
    for text, kind in draw(st.lists(pieces, max_size=12)):
        if kind:
            expected.append((kind, len(lines) + 1))
        lines.extend(text.split("\n"))
    return "\n".join(lines), sorted(expected, key=lambda hit: (hit[1], hit[0]))


@given(st.text())
def test_arbitrary_text_never_raises_and_lines_are_in_range(text: str) -> None:
    hits = find_secrets(text.encode())
    assert all(1 <= hit.line <= len(text.split("\n")) for hit in hits)


@given(st.binary())
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    hits = find_secrets(data)
    lines = len(data.decode("utf-8", errors="replace").split("\n"))
    assert all(1 <= hit.line <= lines for hit in hits)


@given(planted_documents())
def test_planted_secrets_are_found_whatever_surrounds_them(
    document: tuple[str, list[tuple[str, int]]],
) -> None:
    text, expected = document
    assert kinds_and_lines(find_secrets(text.encode())) == expected


@given(
    st.one_of(st.text(), planted_documents().map(lambda document: document[0])),
    st.lists(st.sampled_from(ORDINARY_LINES), min_size=1, max_size=8),
)
def test_hits_are_stable_when_unrelated_lines_are_appended(text: str, extra: list[str]) -> None:
    before = find_secrets(text.encode())
    assert find_secrets((text + "\n" + "\n".join(extra)).encode()) == before


# --- real files --------------------------------------------------------------------------


def _realdata() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realdata", REPO_ROOT / "bench" / "realdata.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


realdata = _realdata()


def scan_tree(root: Path, keep: Callable[[Path], bool] = lambda path: True) -> dict[str, list[str]]:
    """``{relpath: ["line:kind", ...]}`` for every file under ``root`` with a hit."""
    found: dict[str, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        # Compiled caches are not source: the compiler may join split literals there.
        dirnames[:] = sorted(d for d in dirnames if d not in {"__pycache__", ".mypy_cache"})
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file() or not keep(path):
                continue
            hits = find_secrets(path.read_bytes())
            if hits:
                rel = path.relative_to(root).as_posix()
                found[rel] = [f"{hit.line}:{hit.kind}" for hit in hits]
    return found


def describe(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{path}:{hit}" for path, hits in found.items() for hit in hits)


@pytest.mark.parametrize("folder", ["packages", "tests", "bench"])
def test_this_project_has_no_secrets(folder: str) -> None:
    found = scan_tree(REPO_ROOT / folder)
    assert found == {}, describe(found)


@pytest.mark.realdata
@pytest.mark.skipif(
    not realdata.secrets_corpus_ready(),
    reason="run 'make realdata' to download the requests test suite",
)
def test_requests_test_suite_has_no_secrets_but_its_test_keys() -> None:
    root = realdata.REQUESTS_TESTS
    found = scan_tree(root)
    # requests tests TLS with throwaway keys under certs/: genuine private keys, so true
    # positives, and a check that the detector sees them in a real tree.
    keys = {path.relative_to(root).as_posix() for path in root.glob("certs/**/*.key")}
    assert keys, "the requests sdist no longer ships its test keys"
    assert {path for path in found if path not in keys} == set(), describe(found)
    assert {path: found.get(path) for path in keys} == {path: ["1:private-key"] for path in keys}


@pytest.mark.realdata
@pytest.mark.skipif(not realdata.ready(), reason="run 'make realdata' to download the releases")
def test_pygments_test_files_have_no_secrets_but_the_example_key() -> None:
    found = scan_tree(realdata.NEW_DIR / "tests")
    # examplefiles/asc/id_ecdsa is a genuine example EC key (the lexer's sample input): a
    # true positive, expected on its first line.
    assert found.pop("examplefiles/asc/id_ecdsa", None) == ["1:private-key"]
    assert found == {}, describe(found)
