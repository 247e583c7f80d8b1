"""digest.py: counts, lists, medians and compliance for local days; digest_due once per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailticket.core.digest import LIST_LIMIT, DigestTicket, InboxHealth, build_digest, digest_due
from mailticket.core.sla import Calendar

WIB = ZoneInfo("Asia/Jakarta")
H, D = timedelta(hours=1), timedelta(days=1)
TARGETS = {"gangguan": 3 * D, "permasalahan": D, "permintaan": H}
NOW = datetime(2026, 11, 25, 7, 30, tzinfo=WIB).astimezone(UTC)  # Wednesday 07:30 WIB


def wib(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def t(number: int, **values) -> DigestTicket:
    base = dict(number=number, token=f"LPSE#{number}", subject=f"Laporan {number}", category="gangguan",
                status="open", created_at=NOW - 30 * D)
    base.update(values)
    return DigestTicket(**base)


def build(tickets, failed=0, quarantined=0, now=NOW, **kwargs):
    return build_digest(tickets, failed, quarantined, now, WIB, TARGETS, **kwargs)


# --- counts and lists --------------------------------------------------------------------------


def test_open_tickets_by_category_and_status():
    tickets = [t(1), t(2, status="waiting"), t(3, category="permintaan", status="new"),
               t(4, status="closed", closed_at=NOW - D), t(5, category="lainnya", status="escalated")]
    ctx = build(tickets, failed=2, quarantined=3)
    assert ctx.open_total == 4
    assert ctx.by_category == (("gangguan", 2), ("permasalahan", 0), ("permintaan", 1), ("lainnya", 1))
    assert ctx.by_status == (("new", 1), ("open", 1), ("waiting", 1), ("escalated", 1))
    assert (ctx.failed_deliveries, ctx.quarantined) == (2, 3)
    assert ctx.day == date(2026, 11, 25) and ctx.window_days == 30


def test_overdue_and_due_today_by_local_day():
    tickets = [
        t(1, due_at=NOW - 2 * H),
        t(2, due_at=NOW - D),
        t(3, due_at=wib(25, 23, 59)),  # later today
        t(4, due_at=wib(26, 0, 1)),  # tomorrow in Jakarta, still the 25th in UTC
        t(5, due_at=NOW + H, status="waiting"),  # the clock is paused: its due time will move
        t(6, due_at=NOW - H, status="waiting"),
        t(7, due_at=NOW - H, status="closed", closed_at=NOW),
        t(8, due_at=None),
        t(9, due_at=NOW + 3 * H),
    ]
    ctx = build(tickets)
    assert [(line.ticket.number, line.span) for line in ctx.overdue] == [(2, D), (1, 2 * H)]
    assert [(line.ticket.number, line.span) for line in ctx.due_today] == [(9, 3 * H), (3, timedelta(
        hours=16, minutes=29))]


def test_oldest_five_open_tickets_with_their_age():
    tickets = [t(n, created_at=NOW - n * D) for n in range(1, 8)]
    tickets.append(t(99, created_at=NOW - 99 * D, status="closed", closed_at=NOW - D))
    ctx = build(tickets)
    assert [(line.ticket.number, line.span) for line in ctx.oldest] == [(7, 7 * D), (6, 6 * D), (5, 5 * D),
                                                                        (4, 4 * D), (3, 3 * D)]


def test_new_and_closed_yesterday_are_local_days():
    tickets = [
        t(1, created_at=wib(24, 0, 30)),  # 23 Nov 17:30 UTC: yesterday in Jakarta
        t(2, created_at=wib(24, 23, 59)),
        t(3, created_at=wib(25, 0, 30)),  # 24 Nov 17:30 UTC: today in Jakarta
        t(4, created_at=wib(23, 23, 59)),
        t(5, created_at=wib(20, 9), status="closed", closed_at=wib(24, 16)),
        t(6, created_at=wib(20, 9), status="closed", closed_at=wib(25, 0, 5)),
        t(7, created_at=wib(20, 9), status="open", closed_at=wib(24, 16)),  # reopened since
        t(8, created_at=wib(25, 0)),  # today's first moment
        t(9, created_at=wib(24, 0), status="closed", closed_at=wib(25, 0)),
    ]
    ctx = build(tickets)
    assert (ctx.new_yesterday, ctx.closed_yesterday) == (3, 1)


def test_every_list_is_cut_at_twenty_with_its_full_count():
    late = [t(n, due_at=NOW - n * H, needs_review=True) for n in range(1, 31)]
    soon = [t(100 + n, due_at=NOW + n * timedelta(minutes=10)) for n in range(1, 26)]
    refused = [(f"x{n}@example.co.id", "550 no such user") for n in range(30)]
    ctx = build([*late, *soon], refused=refused * 2)
    assert [line.ticket.number for line in ctx.overdue] == list(range(30, 10, -1))  # the most overdue first
    assert (len(ctx.overdue), ctx.overdue_total) == (LIST_LIMIT, 30)
    assert [line.ticket.number for line in ctx.due_today] == list(range(101, 121))
    assert (len(ctx.due_today), ctx.due_today_total) == (20, 25)
    assert (len(ctx.review), ctx.review_total) == (20, 55 - 25)
    assert (len(ctx.refused), ctx.refused_total) == (20, 30)  # repeated answers counted once
    small = build(late[:3])
    assert (len(small.overdue), small.overdue_total) == (3, 3)


def test_open_tickets_per_staff_member_unassigned_first_then_most():
    tickets = [t(1, assignee="sari"), t(2, assignee="rina"), t(3, assignee="sari"), t(4),
               t(5, assignee="rina", status="waiting"), t(6, assignee="andi"),
               t(7, assignee="andi", status="closed", closed_at=NOW - H)]
    ctx = build(tickets)
    assert ctx.staff_open == ((None, 1), ("rina", 2), ("sari", 2), ("andi", 1))
    assert ctx.staff_total == 4
    many = build([t(n, assignee=f"p{n:02d}") for n in range(30)])
    assert len(many.staff_open) == 20 and many.staff_total == 30


def test_unrated_closures_of_yesterday_and_the_window_with_the_survey():
    tickets = [
        t(1, status="closed", closed_at=wib(24, 9)),  # yesterday, no rating
        t(2, status="closed", closed_at=wib(24, 15), rating=3),
        t(3, status="closed", closed_at=wib(24, 16)),
        t(4, status="closed", closed_at=wib(25, 7)),  # today: not yet in "yesterday"
        t(5, status="closed", closed_at=wib(10, 9)),  # in the 30-day window
        t(6, status="closed", closed_at=NOW - 40 * D),  # outside it
        t(7),
    ]
    ctx = build(tickets, survey=True)
    assert [ticket.number for ticket in ctx.unrated] == [3, 1] and ctx.unrated_total == 2
    assert (ctx.closed_in_window, ctx.unrated_in_window) == (5, 4)
    off = build(tickets)
    assert (off.survey, off.unrated, off.unrated_total, off.unrated_in_window) == (False, (), 0, 0)


def test_inbox_health_is_passed_on_with_the_uptime():
    health = InboxHealth(last_fetch=NOW - H, started=NOW - 2 * D, received=10, kept=3, quarantined=1)
    ctx = build([], health=health)
    assert ctx.health == health and ctx.health.uptime(NOW) == 2 * D
    assert InboxHealth(None, None, 0, 0, 0).uptime(NOW) is None
    assert build([]).health is None


def test_review_lists_open_tickets_whose_category_was_guessed():
    tickets = [t(1, needs_review=True, created_at=NOW - H), t(2, needs_review=True, created_at=NOW - D),
               t(3, needs_review=True, status="closed", closed_at=NOW), t(4)]
    assert [x.number for x in build(tickets).review] == [2, 1]


# --- medians and compliance --------------------------------------------------------------------


def closed(number: int, hours: float, late: bool = False, **values) -> DigestTicket:
    created = NOW - 5 * D
    closed_at = created + timedelta(hours=hours)
    due = closed_at - H if late else closed_at + H
    return t(number, created_at=created, status="closed", closed_at=closed_at, due_at=due, **values)


def stats_of(ctx, category: str):
    return next(row for row in ctx.stats if row.category == category)


def test_medians_and_compliance_per_category():
    tickets = [closed(1, 10, first_response_at=NOW - 5 * D + 2 * H), closed(2, 30, late=True),
               closed(3, 20, first_response_at=NOW - 5 * D + 4 * H),
               closed(4, 1, category="permintaan", first_response_at=NOW - 5 * D + timedelta(minutes=10)),
               t(5, created_at=NOW - 2 * D, first_response_at=NOW - 2 * D + 6 * H)]  # still open
    ctx = build(tickets)
    row = stats_of(ctx, "gangguan")
    assert (row.closed, row.measured, row.within_target, row.compliance) == (3, 3, 2, 67)
    assert row.median_to_close == timedelta(hours=20)
    assert row.median_first_response == timedelta(hours=4)  # of 2 h, 4 h, 6 h
    assert row.target == 3 * D and row.open == 1
    other = stats_of(ctx, "permintaan")
    assert (other.compliance, other.median_to_close, other.median_first_response) == (
        100, H, timedelta(minutes=10))
    empty = stats_of(ctx, "permasalahan")
    assert (empty.closed, empty.compliance, empty.median_to_close, empty.median_first_response) == (
        0, None, None, None)
    assert [row.category for row in ctx.stats] == ["gangguan", "permasalahan", "permintaan"]


def test_even_count_median_is_the_mean_of_the_middle_two():
    row = stats_of(build([closed(1, 10), closed(2, 20), closed(3, 30), closed(4, 50)]), "gangguan")
    assert row.median_to_close == timedelta(hours=25)


def test_statistics_window_and_pauses():
    old = t(1, created_at=NOW - 60 * D, status="closed", closed_at=NOW - 40 * D, due_at=NOW - 50 * D,
            first_response_at=NOW - 60 * D + H)
    paused = closed(2, 30, paused=timedelta(hours=24))
    row = stats_of(build([old, paused]), "gangguan")
    assert (row.closed, row.compliance, row.median_first_response) == (1, 100, None)
    assert row.median_to_close == timedelta(hours=6)
    assert stats_of(build([old, paused], window=70 * D), "gangguan").closed == 2


def test_durations_counted_on_the_office_calendar():
    office = Calendar.parse("office", "Mon-Fri 08:00-16:00", (), WIB)
    friday = t(1, created_at=wib(20, 15), status="closed", closed_at=wib(23, 9), due_at=wib(23, 8),
               first_response_at=wib(23, 8, 30))
    row = stats_of(build([friday], calendar=office), "gangguan")
    assert (row.median_to_close, row.median_first_response, row.compliance) == (
        2 * H, timedelta(minutes=90), 0)
    assert stats_of(build([friday]), "gangguan").median_to_close == timedelta(hours=66)


def test_compliance_leaves_out_tickets_without_a_due_time():
    row = stats_of(build([closed(1, 10), t(2, created_at=NOW - D, status="closed", closed_at=NOW - H)]),
                   "gangguan")
    assert (row.closed, row.measured, row.within_target, row.compliance) == (2, 1, 1, 100)


# --- when to send --------------------------------------------------------------------------------


def test_digest_due_after_the_time_once_per_day():
    assert digest_due(wib(25, 7, 29), WIB, "07:30", date(2026, 11, 24)) is None
    assert digest_due(wib(25, 7, 30), WIB, "07:30", date(2026, 11, 24)) == date(2026, 11, 25)
    assert digest_due(wib(25, 7, 31), WIB, "07:30", date(2026, 11, 25)) is None
    assert digest_due(wib(25, 23, 59), WIB, "07:30", date(2026, 11, 25)) is None
    assert digest_due(wib(26, 7, 30), WIB, "07:30", date(2026, 11, 25)) == date(2026, 11, 26)
    assert digest_due(wib(25, 8), WIB, "07:30", None) == date(2026, 11, 25)


def test_digest_catches_up_after_downtime_but_never_for_old_days():
    assert digest_due(wib(25, 9), WIB, "07:30", date(2026, 11, 24)) == date(2026, 11, 25)
    assert digest_due(wib(25, 9), WIB, "07:30", date(2026, 11, 20)) == date(2026, 11, 25)
    assert digest_due(wib(25, 6), WIB, "07:30", date(2026, 11, 20)) is None  # not yesterday's, late
    assert digest_due(wib(25, 9), WIB, "07:30", date(2026, 11, 26)) is None  # clock went back


def test_digest_day_is_the_local_day():
    now = datetime(2026, 11, 24, 23, 45, tzinfo=UTC)  # 25 November 06:45 WIB
    assert digest_due(now, WIB, "06:00", date(2026, 11, 24)) == date(2026, 11, 25)
    assert digest_due(now, WIB, "07:00", date(2026, 11, 23)) is None
    assert build([], now=now).day == date(2026, 11, 25)


def test_digest_due_rejects_a_bad_time():
    with pytest.raises(ValueError, match="HH:MM"):
        digest_due(NOW, WIB, "7.30", None)
