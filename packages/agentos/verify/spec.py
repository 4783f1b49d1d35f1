"""The health-check part of the policy (SPEC §9), as strict models shared by the policy file.

A check is one of ``command`` (an argv list, run without a shell in the workspace), ``http``
(a request to a URL) or ``file`` (a workspace file that must exist, be absent, or parse),
with ``when_paths``, a ``timeout``, a ``retry`` policy and an optional ``circuit_breaker``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from agentos.model import Frozen
from agentos.verify.breaker import BreakerConfig
from agentos.verify.retry import RetryPolicy

RetryStrategy = Literal["fixed", "linear", "exponential", "fibonacci"]
Jitter = Literal["none", "full", "equal", "decorrelated"]
FailureKind = Literal["timeout", "connection_error", "nonzero_exit", "unexpected_status"]
Pattern = Annotated[str, Field(min_length=1)]
PositiveInt = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]
NonNegativeSeconds = Annotated[float, Field(ge=0)]


def _all_failures() -> list[FailureKind]:
    return ["timeout", "connection_error", "nonzero_exit", "unexpected_status"]


class RetrySpec(Frozen):
    """How a failing health check is retried (SPEC §9)."""

    strategy: RetryStrategy = "fixed"
    max_attempts: PositiveInt = 1
    base_delay: NonNegativeSeconds = 0.5
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    max_delay: NonNegativeSeconds = 10.0
    jitter: Jitter = "none"
    retry_on: list[FailureKind] = Field(default_factory=_all_failures)

    def policy(self) -> RetryPolicy:
        """The plain retry policy the runner uses."""
        return RetryPolicy(
            strategy=self.strategy,
            max_attempts=self.max_attempts,
            base_delay=self.base_delay,
            multiplier=self.multiplier,
            max_delay=self.max_delay,
            jitter=self.jitter,
        )


class BreakerSpec(Frozen):
    """Circuit breaker of one check: OPEN after failures, HALF_OPEN after a pause."""

    failure_threshold: PositiveInt = 3
    recovery_timeout: NonNegativeSeconds = 60
    success_threshold: PositiveInt = 1

    def config(self) -> BreakerConfig:
        """The plain breaker settings the runner uses."""
        return BreakerConfig(
            failure_threshold=self.failure_threshold,
            recovery_timeout=self.recovery_timeout,
            success_threshold=self.success_threshold,
        )


class HttpProbe(Frozen):
    """An HTTP request that must answer with the expected status (and body text)."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: (
        Annotated[int, Field(ge=100, le=599)] | list[Annotated[int, Field(ge=100, le=599)]]
    ) = 200
    body_contains: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _usable(self) -> HttpProbe:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(self.url)
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"invalid url {self.url!r}: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"invalid url {self.url!r}: no host")
        if not self.url.isascii():
            raise ValueError(f"invalid url {self.url!r}: percent-encode non-ASCII characters")
        for name, value in self.headers.items():
            try:
                f"{name}: {value}".encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"header {name!r} must be latin-1 text") from None
        return self


class FileProbe(Frozen):
    """A workspace file that must exist (or be absent), and optionally parse."""

    path: Pattern
    exists: bool = True
    parses: bool = False


class HealthCheckSpec(Frozen):
    """One health check: exactly one of ``command``, ``http`` or ``file``."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    command: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    http: HttpProbe | None = None
    file: FileProbe | None = None
    when_paths: list[Pattern] = Field(default_factory=list)
    timeout: Seconds | None = None
    retry: RetrySpec = Field(default_factory=RetrySpec)
    circuit_breaker: BreakerSpec | None = None

    @field_validator("command", mode="before")
    @classmethod
    def _argv_not_string(cls, value: object) -> object:
        # A string would need a shell to split it; say how to write the argv list instead
        # (pydantic reports a ValueError, not a TypeError, as the field's problem).
        if isinstance(value, str):
            raise ValueError(argv_advice(value))  # noqa: TRY004
        return value

    @model_validator(mode="after")
    def _one_probe(self) -> HealthCheckSpec:
        kinds = [k for k in ("command", "http", "file") if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"needs exactly one of command, http or file (found: {found})")
        return self

    @property
    def kind(self) -> Literal["command", "http", "file"]:
        """Which probe this check runs."""
        if self.command is not None:
            return "command"
        return "http" if self.http is not None else "file"


# Characters that only mean something to a shell (pipes, redirections, variables, globs).
SHELL_SYNTAX = frozenset("|&;<>()$`*?[]{}~")


def argv_advice(command: str) -> str:
    """What to write instead of ``command: "<command>"``: the argv list it stands for, or
    ``["sh", "-c", ...]`` where it relies on a shell."""
    import json
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError:
        argv = command.split()
    if not argv:
        return 'must be an argv list of strings, e.g. command: ["pytest", "-q"]'
    if any(ch in SHELL_SYNTAX for ch in command):
        argv = ["sh", "-c", command]
    shown = json.dumps(argv, ensure_ascii=False)
    return f"must be an argv list, not a string (no shell runs it); write command: {shown}"
