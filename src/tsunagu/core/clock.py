"""Time in one place: stored in UTC, shown in Asia/Tokyo."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def utcnow() -> datetime:
    """Aware current time in UTC (the only clock business code should read)."""
    return datetime.now(UTC)


def to_tokyo(moment: datetime) -> datetime:
    """Convert a stored UTC time for display; naive values are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TOKYO)


def tokyo_today() -> date:
    """The calendar date in Japan, which is what business-day rules count."""
    return utcnow().astimezone(TOKYO).date()
