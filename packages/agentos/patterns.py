"""Path patterns as policies write them: gitignore-style globs (``**/*.pem``, ``apps/**``).

A pattern without a slash matches the name at any depth (``.env`` matches ``sub/.env``); one
with a slash is anchored at the workspace root; ``**`` spans directories. The first pattern
that matches is reported, so findings can name it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from agentos.workspace import HFS_IGNORABLE


class PathPatterns:
    """An ordered list of compiled patterns; ``first_match`` names the one a path hits.

    With ``fold_case`` a pattern matches a path as written and as macOS and Windows would open
    it, for rules that must not be dodged by spelling: whatever its case (``.ENV`` is ``.env``
    there), without the code points HFS+ ignores (``.e\\u200cnv``), the trailing dots and
    spaces Windows drops (``.env.``, ``.env ``) and an NTFS stream suffix (``.env::$DATA``).
    Lists that grant (``allowed_paths``) stay exact, so folding never widens what may be
    written.
    """

    def __init__(self, patterns: Iterable[str], *, fold_case: bool = False) -> None:
        self.patterns = tuple(patterns)
        self.fold_case = fold_case
        self._compiled: list[tuple[str, Any]] = [
            (p, _compiled(p.casefold() if fold_case else p)) for p in self.patterns
        ]

    def first_match(self, path: str) -> str | None:
        """The first pattern that includes ``path`` (any spelling of it, when folding)."""
        subjects = _spellings(path) if self.fold_case else (path,)
        for text, compiled in self._compiled:
            if compiled.include and any(compiled.match_file(s) is not None for s in subjects):
                return text
        return None

    def matches(self, path: str) -> bool:
        """True when some pattern includes ``path``."""
        return self.first_match(path) is not None


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    """``pattern`` compiled once per process: a policy's patterns are compiled again for every
    plan otherwise (a long-lived server gates many). The compiled pattern is immutable."""
    # pathspec is imported here, not at module load, to keep `agentos --version` fast.
    from pathspec import lookup_pattern

    return lookup_pattern("gitignore")(pattern)


def _spellings(path: str) -> tuple[str, ...]:
    """``path`` case folded as written, as macOS reads it, and as Windows reads that.

    Each is matched, so a pattern ending in a dot still matches the name as written, and
    ``.env`` matches ``.e\\u200cnv.``, which neither system alone would open as ``.env``.
    """
    written = path.casefold()
    mac = HFS_IGNORABLE.sub("", written)
    # A name that is all dots and spaces ("...") keeps its spelling rather than vanishing.
    windows = "/".join(n.split(":", 1)[0].rstrip(". ") or n for n in mac.split("/"))
    return tuple(dict.fromkeys((written, mac, windows)))
