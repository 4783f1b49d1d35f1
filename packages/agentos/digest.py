"""Canonical JSON and the hashes built on it (plan checksums, plan ids, audit chain)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` canonically: sorted keys, no whitespace, UTF-8 (SPEC §5)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_list_sha256(items: Iterable[Any]) -> str:
    """The hex SHA-256 of ``canonical_json(list(items))``, hashed item by item, so a list of
    large values is never serialised as one string."""
    digest = hashlib.sha256(b"[")
    for index, item in enumerate(items):
        # The separators canonical_json uses: "[a,b]" is "[" + "a" + "," + "b" + "]".
        if index:
            digest.update(b",")
        digest.update(canonical_json(item))
    digest.update(b"]")
    return digest.hexdigest()


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """The object id git gives ``data`` as a blob (used to check binary patches)."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()
