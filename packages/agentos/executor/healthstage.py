"""The health-check stage of an apply: run the checks, keep the breakers, record the results.

Runs under the workspace lock, between verification and the commit point. The breakers are
read from and written back to ``.agentos/breakers.json`` here, so their state follows the
checks from one process to the next, and every breaker transition is audited. With a shared
store (SPEC §14) its breakers win over the file's, and the checks' breakers are written back
to both: a breaker opened on one runner is open on every runner (a store out of reach leaves
this runner with its own file, the state it last saw). Nothing the
checks start outlives the stage: ``run_checks`` kills and reaps every process they leave
behind, daemons that called ``setsid`` included (``verify/reaper.py``; Linux).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from agentos.errors import AgentosError
from agentos.executor.abort import AbortWatch
from agentos.executor.shared import shared_records, tell_shared
from agentos.verify.breaker import Breaker, load_breakers, save_breakers
from agentos.verify.health import CheckProgress, CheckResult, HealthEnvironment, run_checks
from agentos.verify.spec import HealthCheckSpec
from agentos.workspace import Workspace

Event = Callable[[str, dict[str, Any]], None]
CHECK_ENV_HIDDEN = frozenset({"AGENTOS_APPROVAL_KEY", "AGENTOS_KEY_DIR"})


def run_health_stage(
    workspace: Workspace,
    checks: tuple[HealthCheckSpec, ...],
    *,
    execution_id: str,
    default_timeout: float,
    abort: AbortWatch,
    event: Event,
    retries: bool = True,
    record_as: str = "health.finished",
    count_in_breakers: bool = True,
    on_check: CheckProgress | None = None,
) -> list[CheckResult]:
    """Run ``checks`` and record them; returns every result (the caller decides).

    With ``count_in_breakers`` false (the re-run after a rollback) an open breaker is still
    respected — nothing is called — but the outcome does not move any breaker. ``on_check``
    is told as each check runs and ends (the executor prints nothing; a front-end may).
    """
    if not checks:
        return []
    breakers = load_all_breakers(workspace)
    environment = HealthEnvironment(
        root=workspace.root,
        default_timeout=default_timeout,
        deadline=abort.deadline,
        stop=abort.requested,
        env={
            # Secrets agentos holds are not the checks' business (an HMAC approval key).
            **{k: v for k, v in os.environ.items() if k not in CHECK_ENV_HIDDEN},
            "AGENTOS_WORKSPACE": str(workspace.root),
            "AGENTOS_EXECUTION_ID": execution_id,
        },
        report=on_check,
    )
    results, transitions = run_checks(list(checks), breakers, environment, retries=retries)
    if not count_in_breakers:
        transitions = []
    elif any(check.circuit_breaker is not None for check in checks):
        save_breakers(workspace.state_dir, breakers)
        mine = {
            c.name: breakers[c.name]
            for c in checks
            if c.circuit_breaker is not None and c.name in breakers
        }
        tell_shared(workspace.state_dir, lambda shared: shared.put_breakers(mine))
    for move in transitions:
        event(
            "breaker.changed",
            {"check": move.check, "from": move.before, "to": move.after, "since": move.since},
        )
    event(
        record_as,
        {"ok": all(r.status == "passed" for r in results), "checks": [r.row() for r in results]},
    )
    return results


def load_all_breakers(workspace: Workspace) -> dict[str, Breaker]:
    """The breakers as this runner knows them: its file, overridden by a shared store's."""
    breakers = load_breakers(workspace.state_dir)
    # Out of reach: the state this runner last saw (its file) holds.
    with contextlib.suppress(AgentosError):
        shared = shared_records(workspace.state_dir)
        if shared is not None:
            breakers.update(shared.breakers())
    return breakers
