"""Pinning the audit trail from outside: the sealed HEAD's payload and anchors.

An anchor (``SEQ:HASH``) printed by ``agentos audit anchor`` and kept where the workspace
cannot reach it says that event ``SEQ`` had hash ``HASH``; ``audit verify --anchor`` checks it
is still in the chain, which catches a whole older trail put back with its older HEAD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentos.errors import AuditChainError

HEAD_PURPOSE = "audit-head"


@dataclass(frozen=True)
class Anchor:
    """A point of the chain kept outside the workspace: event ``seq`` has hash ``digest``."""

    seq: int
    digest: str

    def token(self) -> str:
        """``<seq>:<hash>``, as ``audit anchor`` prints it and ``verify --anchor`` takes it."""
        return f"{self.seq}:{self.digest}"


def parse_anchor(text: str) -> tuple[int | None, str]:
    """``SEQ:HASH`` or ``HASH`` (64 hex digits); ``ValueError`` otherwise."""
    seq_text, _, digest = text.strip().rpartition(":")
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("an anchor is SEQ:HASH or HASH, with a 64-digit hex hash")
    if not seq_text:
        return None, digest
    if not seq_text.isdigit() or not seq_text.isascii():
        raise ValueError("an anchor's SEQ is a positive number")
    return int(seq_text), digest


def head_seal_payload(seq: int, digest: str) -> bytes:
    """The bytes HEAD's seal covers."""
    return f"{seq}:{digest}".encode("ascii", "replace")


def check_anchor(
    path: Path, anchor: tuple[int | None, str], found: Anchor | None, count: int
) -> None:
    """``AuditChainError`` unless the anchored event was ``found`` (at its seq, if given)
    among the ``count`` events of the trail at ``path``."""
    seq, digest = anchor
    if found is not None and (seq is None or seq == found.seq):
        return
    where = f"event seq {seq}" if seq is not None else "an event"
    if found is not None:
        what = f"it is event seq {found.seq} instead"
    elif seq is not None and seq > count:
        what = f"the trail holds only {count} events"
    else:
        what = "no event in the trail has that hash"
    raise AuditChainError(
        f"{path}: the anchor says {where} has hash {digest[:16]}…, but {what}; events "
        "the anchor vouches for were removed or rewritten",
        details={"anchor_seq": seq, "anchor_hash": digest, "events": count},
    )
