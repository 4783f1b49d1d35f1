"""What the executor takes from the policy, as plain values (built by ``executor_settings``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutorSettings:
    """The policy's executor keys that shape one apply."""

    allowed_paths: tuple[str, ...]
    forbidden_paths: tuple[str, ...]
    durable: bool = True
    lock_enabled: bool = True
    lock_timeout: float = 600.0
    idempotency_enabled: bool = True
    cached_result_ttl: float = 3600.0
    backups_keep: int = 50
    max_execution_time: float | None = None
    max_step_time: float = 60.0
