"""Stage `autoclose` (pure): a ticket waiting for its reporter + now -> remind, close, or nothing.

`[sla.auto_close] after` is counted on the SLA calendar from the moment the ticket began waiting
(a target in days counts working days on the office calendar, like a resolution target); the
reminder is due at `remind_at` of that time. `reminded_for` is the waiting start a reminder was sent
for, so that each wait gets one reminder.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mailticket.core.sla import Calendar, due

REMIND, CLOSE = "remind", "close"


def close_at(cal: Calendar, since: datetime, after: timedelta) -> datetime:
    return due(cal, since, after)


def remind_at(cal: Calendar, since: datetime, after: timedelta, fraction: float) -> datetime:
    return due(cal, since, after * fraction)


def check(since: datetime, reminded_for: datetime | None, now: datetime, cal: Calendar, after: timedelta,
          fraction: float) -> str | None:
    """CLOSE once the waiting time has passed, REMIND once its fraction has (once per wait), else None."""
    if now >= close_at(cal, since, after):
        return CLOSE
    if reminded_for != since and now >= remind_at(cal, since, after, fraction):
        return REMIND
    return None
