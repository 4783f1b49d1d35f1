"""Time, injected: the clock type, the system clock, and the one timestamp format.

Every stored or printed moment is RFC 3339 in UTC with microseconds and a ``Z``
(``2024-01-02T03:04:05.000000Z``); code that needs the time takes a ``Clock`` so tests can fix it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """``moment`` as agentos writes times: RFC 3339, UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    """A stored time back as an aware datetime (``ValueError`` when it is not one); a time
    without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
