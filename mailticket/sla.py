"""Stage `sla` (pure): due times from a category's resolution target.

Counts on the 24x7 calendar for now; office hours and holidays come with the SLA issue.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def due_at(start: datetime, target: timedelta) -> datetime:
    """When a ticket started at `start` with resolution target `target` is due."""
    return start + target
