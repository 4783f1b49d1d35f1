"""The Executor: lock, drift check, journal, atomic writes, verification, commit or rollback."""
