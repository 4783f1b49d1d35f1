"""A plan's diff with every line that looks like a secret withheld, for the reports that leave
the machine (``--markdown``: a pull request comment, ``$GITHUB_STEP_SUMMARY``).

A plan never carries a new secret (its content is withheld from the plan file), but its diff
shows what it removes and the lines around what it changes: a deleted file full of keys would
otherwise be printed. Each side of each file (the old one: context and removed lines; the new
one: context and added lines) goes through the WriteGate's secret detector
(``governance.secrets``), so the same patterns are found, across lines too; every line with a
hit is replaced by ``<line withheld: looks like DESCRIPTION>`` behind its ``-``/``+``/`` ``
sign, and so is the rest of a private key block. A hunk header's function context with a hit
is cut to its ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentos.governance.secrets import find_secrets
from agentos.planner.preview import DiffLine

_KEY_END = "-----END"


@dataclass(frozen=True)
class Masked:
    """The diff to show and how many of its lines were withheld."""

    lines: tuple[DiffLine, ...]
    withheld: int


def mask_secrets(diff: Sequence[DiffLine]) -> Masked:
    """``diff`` with the lines that look like secrets withheld (see the module's docstring)."""
    shown = list(diff)
    withheld: set[int] = set()
    for block in _file_blocks(shown):
        for kinds in (("context", "del"), ("context", "add")):
            side = [i for i in block if shown[i].kind in kinds]
            for index, why in _secret_lines(shown, side).items():
                if index not in withheld:
                    line = shown[index]
                    shown[index] = DiffLine(line.kind, f"{line.text[:1]}<line withheld: {why}>")
                    withheld.add(index)
    for index, line in enumerate(shown):
        if line.kind == "hunk" and _hunk_context_has_secret(line.text):
            shown[index] = DiffLine("hunk", _hunk_ranges(line.text))
            withheld.add(index)
    return Masked(tuple(shown), len(withheld))


def _file_blocks(diff: Sequence[DiffLine]) -> list[list[int]]:
    """The indexes of each file's body lines (context, removed, added)."""
    blocks: list[list[int]] = []
    for index, line in enumerate(diff):
        if line.kind == "header" and line.text.startswith("diff "):
            blocks.append([])
        elif line.kind in ("context", "del", "add"):
            if not blocks:
                blocks.append([])
            blocks[-1].append(index)
    return blocks


def _secret_lines(diff: Sequence[DiffLine], side: Sequence[int]) -> dict[int, str]:
    """Of the lines ``side`` (indexes into ``diff``, one side of one file), those to withhold
    and why."""
    if not side:
        return {}
    body = "\n".join(diff[i].text[1:] for i in side) + "\n"
    found: dict[int, str] = {}
    for hit in find_secrets(body.encode("utf-8", "surrogateescape")):
        at = hit.line - 1
        if at >= len(side):
            continue
        found.setdefault(side[at], f"looks like {hit.description}")
        if hit.kind == "private-key":
            # The key's body and end marker follow its header: withhold them all.
            for later in side[at + 1 :]:
                found.setdefault(later, "part of a private key block")
                if _KEY_END in diff[later].text:
                    break
    return found


def _hunk_context_has_secret(header: str) -> bool:
    """True when the function context after a hunk header's ranges looks like a secret."""
    context = header.partition("@@")[2].partition("@@")[2]
    return bool(context.strip()) and bool(find_secrets(context.encode("utf-8", "surrogateescape")))


def _hunk_ranges(header: str) -> str:
    """``@@ -a,b +c,d @@``: a hunk header without its function context."""
    ranges = header.partition("@@")[2].partition("@@")[0]
    return f"@@{ranges}@@"


def withheld_note(count: int) -> str:
    """The report's line saying that lines of the diff were withheld."""
    return (
        f"{count} line(s) of the diff withheld: they look like secrets (private keys, cloud "
        "or API tokens, credentials); `agentos show PLAN --diff` on a trusted machine shows them."
    )
