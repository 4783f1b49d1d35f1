"""The secret detector behind the WriteGate's ``secret`` rule: pure, fast, no I/O.

Two kinds of evidence. Specific tokens (private key blocks, cloud and SaaS keys) have a shape
of their own and are found anywhere, even in binary content. The ``secret-assignment`` rule
finds a random-looking string literal assigned to a secret-like name (``password``,
``client_secret``, ``API_KEY`` ...) in Python, JS, YAML, JSON, ``.env`` and INI files; it is
tuned to miss a weak secret rather than flag ordinary code. A hit names the pattern and the
line, never the secret itself.

Pattern ids: private-key, aws-access-key-id, aws-secret-access-key, google-api-key,
github-token, gitlab-token, slack-token, slack-webhook, stripe-key, anthropic-api-key,
openai-api-key, npm-token, pypi-token, azure-storage-key, secret-assignment.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass

__all__ = ["SecretHit", "find_secrets"]


@dataclass(frozen=True)
class SecretHit:
    """One secret-looking thing: the pattern id, human words for it and its 1-based line."""

    kind: str
    description: str
    line: int


# (kind, description, regex, bounded). Each regex starts with a literal, so re's prefix
# search keeps a 1 MB scan to about a millisecond per pattern; a leading lookbehind would
# defeat that, hence `bounded`: the token must not continue a longer word to its left.
_TOKENS: tuple[tuple[str, str, re.Pattern[str], bool], ...] = tuple(
    (kind, description, re.compile(pattern), bounded)
    for kind, description, pattern, bounded in (
        (
            "private-key",
            "a private key block",
            # A header alone is often just code that looks for one: require a key body, a
            # long base64 run that starts a line (or follows a "\n" escape in JSON), before
            # the end marker.
            r"-----BEGIN (?:(?:RSA|EC|DSA|OPENSSH|PGP|ENCRYPTED|SSH2 ENCRYPTED) )?"
            r"PRIVATE KEY(?: BLOCK)?-----(?:(?!-----)[\s\S]){0,300}?"
            r"(?:\n[ \t\"'b]*|\\n)(?P<body>[A-Za-z0-9+/=]{40})",
            False,
        ),
        (
            "aws-access-key-id",
            "an AWS access key id",
            r"(?:AKIA|ASIA)(?P<body>[A-Z2-7]{16})(?![A-Za-z0-9_])",
            True,
        ),
        (
            "google-api-key",
            "a Google API key",
            r"AIza(?P<body>[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])",
            True,
        ),
        (
            "github-token",
            "a GitHub token",
            r"(?:gh[pousr]_|github_pat_)(?P<body>[A-Za-z0-9_]{36,251})(?![A-Za-z0-9_])",
            True,
        ),
        ("gitlab-token", "a GitLab personal access token", r"glpat-(?P<body>[\w-]{20,})", True),
        # Real Slack tokens carry numeric team/user ids; "xoxb-your-token" does not.
        ("slack-token", "a Slack token", r"xox[abposr]-(?P<body>[0-9]+-[A-Za-z0-9-]{8,})", True),
        (
            "slack-webhook",
            "a Slack webhook URL",
            r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<body>[\w/+-]{30,})",
            False,
        ),
        (
            "stripe-key",
            "a Stripe live secret or restricted key",
            r"[sr]k_live_(?P<body>[0-9A-Za-z]{20,})(?![A-Za-z0-9_])",
            True,
        ),
        ("anthropic-api-key", "an Anthropic API key", r"sk-ant-(?P<body>[\w-]{32,})", True),
        (
            "openai-api-key",
            "an OpenAI API key",
            r"sk-(?P<body>[\w-]{16,200}?T3BlbkFJ[\w-]{16,}|(?:proj|svcacct|admin)-[\w-]{40,})",
            True,
        ),
        (
            "npm-token",
            "an npm access token",
            r"npm_(?P<body>[A-Za-z0-9]{36})(?![A-Za-z0-9_])",
            True,
        ),
        # The fixed part is the base64 of the token's "pypi.org" / "test.pypi.org" caveat.
        (
            "pypi-token",
            "a PyPI upload token",
            r"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)(?P<body>[\w-]{50,})",
            False,
        ),
        (
            "azure-storage-key",
            "an Azure storage account key",
            r"AccountKey=(?P<body>[A-Za-z0-9+/]{80,100})={0,2}",
            False,
        ),
    )
)
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# Secret words, searched in the lowercased text. The name must *end* in one, so
# `token_type`, `password_hash` and `secret_name` never match; a bare "key" counts only
# after api/access/secret... (`cache_key` is not a secret).
_SECRET_WORD = re.compile(r"pass(?:word|wd|phrase)|secret|token|key")
_KEY_OWNERS = ("api", "access", "secret", "private", "auth", "signing", "encryption", "master")
# What follows the name: `x = `, `x := `, `x => `, `x: str = ` (a Python annotation) or
# YAML/JSON `x: `, then a quoted value or a bare one (.env, YAML, INI) that is the rest of
# the line but for a comment.
_VALUE = re.compile(
    r"[\"']?(?:[ \t]*:[ \t]*[A-Za-z][\w\[\]]{0,20}[ \t]*=(?!=)|[ \t]*(?:=(?!=)|:=|=>|:))[ \t]*"
    # Possessive runs: a value that does not end where it must fails at once, instead of
    # backtracking through up to 500 characters for every secret word (`key=key=key=...`).
    r"(?:[rbuRBU]{0,2}(?P<q>[\"'`])(?P<quoted>[^\"'`\r\n]{1,500}+)(?P=q)"
    r"|(?P<bare>[A-Za-z0-9+/=_.~!@$%^*-]{1,500}+)[ \t]*+(?:[#;][^\n]*)?\r?$)",
    re.MULTILINE,
)
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

_MIN_LENGTH = 16
_MIN_ENTROPY = 3.0  # bits per character; random base62 of 16 chars is about 3.7
_PLACEHOLDER_WORDS = (
    "example",
    "change",
    "dummy",
    "placeholder",
    "xxx",
    "redacted",
    "sample",
    "fake",
    "test",
    "mock",
    "your",
    "password",
    "passwd",
    "secret",
    "token",
    "default",
    "replace",
    "insert",
    "todo",
    "fixme",
    "demo",
    "environ",
    "getenv",
)
_PLACEHOLDER_MARKS = ("{", "}", "%(", "%s", "<", ">", "[", "...", "***", "\\")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_WITH_CREDENTIALS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]*:[^/@\s]+@")
_PATH = re.compile(r"^(?:\.{0,2}/|~/|[A-Za-z]:[\\/])|/[\w.-]*\.[A-Za-z]{1,5}$")
_WORDS_ONLY = re.compile(r"[A-Za-z_.$/-]+")
_DOTTED_NAME = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+")


def find_secrets(data: bytes) -> list[SecretHit]:
    """Secret-looking things in ``data``, in line order; at most one hit per (kind, line).

    Content with NUL bytes (binary) is checked for specific tokens only: the entropy rule
    would flag any compressed blob.
    """
    text = data.decode("utf-8", errors="replace")
    found: dict[tuple[str, int], SecretHit] = {}
    newlines: list[int] | None = None

    def line_of(offset: int) -> int:
        nonlocal newlines
        if newlines is None:
            # Built once and only when something is found, so clean files pay nothing.
            newlines = [m.start() for m in re.finditer("\n", text)]
        return bisect_right(newlines, offset - 1) + 1

    def add(kind: str, description: str, offset: int) -> None:
        line = line_of(offset)
        found.setdefault((kind, line), SecretHit(kind, description, line))

    for kind, description, pattern, bounded in _TOKENS:
        for match in pattern.finditer(text):
            start = match.start()
            if bounded and start and text[start - 1] in _WORD_CHARS:
                continue
            if not _is_filler(match.group("body")):
                add(kind, description, start)

    if "\x00" in text:
        return _in_order(found)
    token_lines = {line for _, line in found}
    lowered = text.lower()
    if len(lowered) != len(text):
        # "İ" (U+0130, the only such character today) lowercases to two, which would shift
        # every offset after it. The secret words are ASCII, so what it becomes is moot;
        # lowering ASCII only is the exact but slower fallback for any future such character.
        lowered = text.replace("\u0130", "I").lower()
        if len(lowered) != len(text):
            lowered = text.translate(_ASCII_LOWER)
    for word in _SECRET_WORD.finditer(lowered):
        value = _VALUE.match(text, word.end())
        if value is None:
            continue
        name = _name_ending_at(text, word.start(), word.end())
        squashed = re.sub(r"[^a-z0-9]", "", name.lower())
        if word.group() == "key" and not squashed[:-3].endswith(_KEY_OWNERS):
            continue
        quoted, bare = value.group("quoted"), value.group("bare")
        literal = (quoted if bare is None else bare).strip()
        if _is_aws_secret(squashed, literal):
            add("aws-secret-access-key", "an AWS secret access key", word.start())
            continue
        if not _looks_random(literal, bare=bare is not None):
            continue
        line = line_of(word.start())
        # A line with a specific token already says more than "a random value".
        if line in token_lines or ("aws-secret-access-key", line) in found:
            continue
        add("secret-assignment", f"a high-entropy string assigned to {name!r}", word.start())
    return _in_order(found)


def _in_order(found: dict[tuple[str, int], SecretHit]) -> list[SecretHit]:
    return sorted(found.values(), key=lambda hit: (hit.line, hit.kind))


def _is_aws_secret(squashed_name: str, value: str) -> bool:
    """True for 40 base64 characters assigned to ``aws_secret_access_key`` and kin."""
    named = squashed_name.endswith("secretaccesskey") or (
        "aws" in squashed_name and "secret" in squashed_name
    )
    return named and _AWS_SECRET.fullmatch(value) is not None and not _is_filler(value)


def _is_filler(token: str) -> bool:
    """True for filler values such as ``AKIAXXXXXXXXXXXXXXXX``: too few distinct chars."""
    return len(set(token)) < 6


def _name_ending_at(text: str, start: int, end: int) -> str:
    """The whole assigned name (``DB_PASSWORD``): the secret word and what precedes it."""
    head = start
    while head > max(0, start - 60) and (text[head - 1].isalnum() or text[head - 1] in "_.-"):
        head -= 1
    return text[head:end]


def _looks_random(value: str, *, bare: bool) -> bool:
    """True when ``value`` could be a generated secret and not code, a placeholder or a path."""
    value = value.strip()
    if len(value) < _MIN_LENGTH or any(ch.isspace() for ch in value):
        return False
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return False
    if any(mark in value for mark in _PLACEHOLDER_MARKS) or value.startswith("$"):
        return False
    if _URL.match(value) and not _URL_WITH_CREDENTIALS.match(value):
        return False
    if _PATH.search(value):
        return False
    # `settings.API_TOKEN`, `NextPageMarker`, `spec.preferredAuthentication`: names, not
    # values. Generated secrets nearly always hold a digit (16 random base62 chars: 94%).
    if _WORDS_ONLY.fullmatch(value):
        return False
    # An unquoted `settings.SECRET_KEY_V2` or `self.token2` is a reference, not a value.
    if bare and _DOTTED_NAME.fullmatch(value):
        return False
    classes = (
        any(ch.islower() for ch in value)
        + any(ch.isupper() for ch in value)
        + any(ch.isdigit() for ch in value)
    )
    # Identifiers and constants (one class) are code; random strings mix at least two.
    if classes < 2:
        return False
    return _entropy(value) >= _MIN_ENTROPY


def _entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in Counter(value).values())
