"""The workspace's policy as a long-lived server keeps it: parsed again only when it changes.

Each request reads the policy file again (an edit is honoured by the very next event) and
compares its bytes with those last parsed; only different bytes are parsed and validated
again. The result is what ``load_policy`` gives for the same bytes — same policy, source,
digest and path — so a decision always carries the digest of the policy it was made under.
A file that cannot be read or parsed raises, and ``agentos.hooks.run`` then loads it the
command hook's way, which fails with the command hook's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentos.governance.policyfile import LoadedPolicy
    from agentos.workspace import Workspace


class PolicyCache:
    """The last policy parsed, keyed by its file and that file's bytes (thread-safe: the
    entry is replaced whole, and two threads parsing the same bytes get equal results)."""

    def __init__(self) -> None:
        self._last: tuple[Path | None, bytes, LoadedPolicy] | None = None

    def __call__(self, workspace: Workspace) -> LoadedPolicy:
        """The policy in force in ``workspace`` (its own file, else the packaged default)."""
        from agentos.governance.policyfile import (
            PACKAGED_NAME,
            LoadedPolicy,
            packaged_policy_text,
            parse_policy,
            resolve_policy_path,
        )

        path = resolve_policy_path(None, workspace)
        data = b"" if path is None else path.read_bytes()
        last = self._last
        if last is not None and last[0] == path and last[1] == data:
            return last[2]
        if path is None:
            policy = parse_policy(packaged_policy_text(), source=PACKAGED_NAME)
            loaded = LoadedPolicy(policy, PACKAGED_NAME, policy.digest(), None)
        else:
            policy = parse_policy(data.decode("utf-8"), source=str(path))
            loaded = LoadedPolicy(policy, str(path), policy.digest(), path)
        self._last = (path, data, loaded)
        return loaded
