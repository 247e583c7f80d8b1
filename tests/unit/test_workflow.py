"""The ticket status table (core/workflow.py): every action from every status, and a reporter's reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailticket.core.workflow import next_status, reporter_reply_action
from mailticket.types import Status

NEW, OPEN, WAITING, ESCALATED, CLOSED = Status.NEW, Status.OPEN, Status.WAITING, Status.ESCALATED, Status.CLOSED
# (action, from) -> to; None: the action does not apply and changes nothing
EXPECTED = {
    "answer": {NEW: OPEN, OPEN: None, WAITING: None, ESCALATED: None, CLOSED: None},
    "wait": {NEW: WAITING, OPEN: WAITING, WAITING: None, ESCALATED: WAITING, CLOSED: None},
    "resume": {NEW: None, OPEN: None, WAITING: OPEN, ESCALATED: None, CLOSED: None},
    "escalate": {NEW: ESCALATED, OPEN: ESCALATED, WAITING: ESCALATED, ESCALATED: None, CLOSED: None},
    "close": {NEW: CLOSED, OPEN: CLOSED, WAITING: CLOSED, ESCALATED: CLOSED, CLOSED: None},
    "reopen": {NEW: None, OPEN: None, WAITING: None, ESCALATED: None, CLOSED: OPEN},
}


@pytest.mark.parametrize(("action", "current"), [(a, s) for a in EXPECTED for s in Status])
def test_every_action_from_every_status(action, current):
    assert next_status(current, action) == EXPECTED[action][current]
    assert next_status(current.value, action) == EXPECTED[action][current]  # plain strings from the database


NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.mark.parametrize(("status", "closed_at", "action"), [
    (NEW, None, "none"), (OPEN, None, "none"), (ESCALATED, None, "none"),
    (WAITING, None, "resume"),
    (CLOSED, NOW - timedelta(days=1), "reopen"),
    (CLOSED, NOW - WEEK, "reopen"),  # the window's last moment still reopens
    (CLOSED, NOW - WEEK - timedelta(seconds=1), "new-ticket"),
    (CLOSED, None, "reopen"),
])
def test_a_reporter_reply(status, closed_at, action):
    assert reporter_reply_action(status, closed_at, NOW, WEEK) == action
