"""Ticket status changes as a table (pure): which action moves which status where.

Statuses: new -> open -> waiting / escalated -> closed, and back by reopen. An action that does
not apply to the current status changes nothing (None), so a repeated tag is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mailticket.types import Status

# action: (statuses it applies to, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[Status], Status]] = {
    "answer": (frozenset({Status.NEW}), Status.OPEN),  # staff replied, took or was assigned the ticket
    # waiting for the reporter (#tunggu)
    "wait": (frozenset({Status.NEW, Status.OPEN, Status.ESCALATED}), Status.WAITING),
    "resume": (frozenset({Status.WAITING}), Status.OPEN),  # the reporter answered
    "escalate": (frozenset({Status.NEW, Status.OPEN, Status.WAITING}), Status.ESCALATED),
    "close": (frozenset({Status.NEW, Status.OPEN, Status.WAITING, Status.ESCALATED}), Status.CLOSED),
    "reopen": (frozenset({Status.CLOSED}), Status.OPEN),
}


def next_status(current: str, action: str) -> Status | None:
    """The status after `action`, or None when the action does not apply to `current`."""
    allowed, target = TRANSITIONS[action]
    return target if current in allowed else None


def reporter_reply_action(status: str, closed_at: datetime | None, now: datetime,
                          reopen_window: timedelta) -> str:
    """What a reporter's reply does: "resume", "reopen", "new-ticket" (closed too long) or "none"."""
    if status == Status.WAITING:
        return "resume"
    if status == Status.CLOSED:
        if closed_at is not None and now - closed_at > reopen_window:
            return "new-ticket"
        return "reopen"
    return "none"
