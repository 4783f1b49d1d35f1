"""The control state a team's runners share (SPEC §14), as the executor sees it.

With a shared store selected (``agentos.store``), the pipeline registers it here for the
workspace's state directory. The executor then also asks it whether a plan was applied (a
runner's commit counts for every runner: SPEC §8 across machines) and tells it each commit
after the workspace's own record; it keeps every committed execution's record there too, and
the health checks' circuit breakers (one opened on any runner is open on all of them). The
files under ``.agentos/`` are still written as before, as this runner's own copy. Without a
shared store (the default), nothing here is ever called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agentos.executor.executions import ExecutionRecord
    from agentos.executor.idempotency import IdempotencyRecord
    from agentos.verify.breaker import Breaker


class SharedRecords(Protocol):
    """What the executor needs of a shared store."""

    def idempotency(self, plan_id: str) -> IdempotencyRecord | None:
        """What happened last to ``plan_id`` on any runner."""
        ...

    def put_idempotency(self, record: IdempotencyRecord) -> bool:
        """Record ``record``; False when another runner's commit stands."""
        ...

    def put_execution(self, record: ExecutionRecord) -> None:
        """Keep a committed execution's record."""
        ...

    def breakers(self) -> dict[str, Breaker]:
        """Every health check's breaker, as the runners left it."""
        ...

    def put_breakers(self, breakers: dict[str, Breaker]) -> None:
        """Keep these breakers' states (others are left as they are)."""
        ...


# The shared store of each state directory, resolved on first use (None: files only).
Resolver = Callable[[], SharedRecords | None]
_RESOLVERS: dict[Path, Resolver] = {}


def share_records(state_dir: Path, resolver: Resolver | None) -> None:
    """Use ``resolver``'s store for ``state_dir`` (None: files only)."""
    if resolver is None:
        _RESOLVERS.pop(state_dir, None)
    else:
        _RESOLVERS[state_dir] = resolver


def shared_records(state_dir: Path) -> SharedRecords | None:
    """The shared store of ``state_dir``, if one is selected (errors of its selection, such
    as a bad address, are raised: they are the user's to fix)."""
    resolver = _RESOLVERS.get(state_dir)
    return resolver() if resolver is not None else None


def tell_shared(state_dir: Path, action: Callable[[SharedRecords], object]) -> None:
    """Run ``action`` on the shared store of ``state_dir``, if any, after the commit point:
    nothing may fail then, so a store that cannot take it now is left behind (the
    workspace's own files hold it; docs/scale.md)."""
    with contextlib.suppress(Exception):
        shared = shared_records(state_dir)
        if shared is not None:
            action(shared)
