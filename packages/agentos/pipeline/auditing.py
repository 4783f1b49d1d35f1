"""``audit repair``: the way out of a broken (or deleted) audit trail, under the workspace lock.

The trail is checked without any lock first: one that verifies is left alone, without asking
anything. Otherwise ``confirm`` (the front-end's question, which raises to refuse) is asked
before any lock is taken — never while holding one — unless an interrupted repair, already
confirmed, only needs finishing. Then the workspace lock keeps every execution out while
``audit.repair`` keeps the old trail aside and starts the new chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agentos.pipeline.context import Context

if TYPE_CHECKING:
    from agentos.audit.repair import Repaired, TrailBreak


def repair_audit(
    ctx: Context,
    *,
    confirm: Callable[[TrailBreak], None],
    lock_timeout: float | None = None,
) -> Repaired:
    """Archive a trail that does not verify and start a new chain whose first event records
    why; ``confirm(found)`` raises to refuse. A trail that verifies is left alone."""
    from agentos.audit.anchor import Anchor
    from agentos.audit.repair import Repaired, check_trail, repair
    from agentos.executor.lock import workspace_lock
    from agentos.workspace import ensure_state_dir

    trail = ctx.audit
    found = check_trail(trail)
    if isinstance(found, Anchor):
        return Repaired(found)
    if trail.staged_chain() is None:
        confirm(found)
    timeout = lock_timeout
    if timeout is None:
        timeout = ctx.policy.policy.executor.concurrency.lock_timeout
    ensure_state_dir(ctx.workspace)
    holder = {"operation": "audit repair", "actor": ctx.actor}
    with workspace_lock(
        ctx.workspace, timeout=timeout, holder=holder, on_wait=ctx.on_wait, clock=ctx.clock
    ):
        return repair(trail, actor=ctx.actor)
