"""``agentos store migrate``: create or migrate the shared PostgreSQL store's schema
(SPEC §14, docs/scale.md)."""

from __future__ import annotations

from agentos.cli.context import GlobalOptions, command
from agentos.cli.render import Outcome


@command("migrate", group="store")
def migrate(opts: GlobalOptions) -> Outcome:
    """Create the schema of the store AGENTOS_STORE (or the policy's store.url) names, or
    apply the migrations it lacks; running it again changes nothing."""
    from agentos.pipeline.store import migrate_store

    done = migrate_store(opts.context())
    applied = list(done.migrated.applied)
    result = {
        "store": done.store,
        "applied": applied,
        "version": done.migrated.version,
        "latest": done.latest,
    }
    if applied:
        said = (
            f"store {done.store}: applied migration(s) {', '.join(map(str, applied))}; "
            f"schema version {done.migrated.version}"
        )
    else:
        said = f"store {done.store}: schema version {done.migrated.version}, up to date"
    return Outcome(result=result, human=lambda out: out.print(said, highlight=False))
