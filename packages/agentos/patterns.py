"""Path patterns as policies write them: gitignore-style globs (``**/*.pem``, ``apps/**``).

A pattern without a slash matches the name at any depth (``.env`` matches ``sub/.env``); one
with a slash is anchored at the workspace root; ``**`` spans directories. The first pattern
that matches is reported, so findings can name it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class PathPatterns:
    """An ordered list of compiled patterns; ``first_match`` names the one a path hits.

    With ``fold_case`` a pattern matches whatever the case of the path: for rules that must
    not be dodged by spelling (``.ENV`` is ``.env`` on macOS and Windows). Lists that grant
    (``allowed_paths``) stay exact, so folding never widens what may be written.
    """

    def __init__(self, patterns: Iterable[str], *, fold_case: bool = False) -> None:
        # pathspec is imported here, not at module load, to keep `agentos --version` fast.
        from pathspec import lookup_pattern

        factory = lookup_pattern("gitignore")
        self.patterns = tuple(patterns)
        self.fold_case = fold_case
        self._compiled: list[tuple[str, Any]] = [
            (p, factory(p.casefold() if fold_case else p)) for p in self.patterns
        ]

    def first_match(self, path: str) -> str | None:
        """The first pattern that includes ``path``, or None."""
        subject = path.casefold() if self.fold_case else path
        for text, compiled in self._compiled:
            if compiled.include and compiled.match_file(subject) is not None:
                return text
        return None

    def matches(self, path: str) -> bool:
        """True when some pattern includes ``path``."""
        return self.first_match(path) is not None
