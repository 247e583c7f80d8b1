"""Stage `digest` (pure): ticket rows, mail counts and `now` -> the coordinators' daily digest context.

In: DigestTicket rows (every open ticket, plus those created or closed within the statistics window
and yesterday), the count of failed deliveries and quarantined mail, the inbox's health, `now`, the
helpdesk's zone and the targets. Out: a DigestContext for render.Renderer.digest. Days are local
days in that zone. Every list is cut at LIST_LIMIT with its full count beside it, so the digest
stays short at any size of the register. `digest_due` says whether the daily digest is to be sent
now, once per day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from statistics import median
from typing import Any

from mailticket.core.sla import Calendar, clock_runs, working_time_between
from mailticket.types import Status

OPEN_STATUSES = tuple(status for status in Status if status is not Status.CLOSED)
STATS_WINDOW = timedelta(days=30)
OLDEST = 5
LIST_LIMIT = 20  # tickets, staff members or addresses per list; the rest is counted ("dan M lainnya")
ZERO = timedelta(0)
_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class DigestTicket:
    """What the digest needs of a ticket. Datetimes are aware."""

    number: int
    token: str  # "LPSE#12"
    subject: str
    category: str
    status: str
    created_at: datetime
    due_at: datetime | None = None
    closed_at: datetime | None = None
    first_response_at: datetime | None = None  # first staff reply or relay after creation
    needs_review: bool = False
    assignee: str | None = None
    paused: timedelta = ZERO  # counted time spent waiting for the reporter
    rating: int | None = None  # the reporter's survey answer 1-4

    @property
    def tag(self) -> str:
        return f"[{self.token}]"

    @property
    def is_open(self) -> bool:
        return self.status != Status.CLOSED


@dataclass(frozen=True)
class Line:
    """A ticket in a list with one span: how late (overdue), time left (due today) or age (oldest)."""

    ticket: DigestTicket
    span: timedelta


@dataclass(frozen=True)
class CategoryStats:
    """One category over the statistics window, measured against its target."""

    category: str
    target: timedelta | None
    open: int
    closed: int  # closed within the window
    within_target: int  # of those with a due time, closed by it
    measured: int  # closed within the window that had a due time
    median_first_response: timedelta | None  # over tickets created within the window
    median_to_close: timedelta | None

    @property
    def compliance(self) -> int | None:
        """Percent closed within their due time, rounded; None when nothing was measured."""
        return round(100 * self.within_target / self.measured) if self.measured else None


@dataclass(frozen=True)
class InboxHealth:
    """The inbox over the last 24 hours, and the daemons' status rows (meta `status:*`)."""

    last_fetch: datetime | None  # the latest successful fetch of any running daemon
    started: datetime | None  # when the longest-running daemon started; None: none is running
    received: int  # messages received in the last 24 h
    kept: int  # of those, kept without a ticket (spam, auto-replies, ...)
    quarantined: int  # put into quarantine in the last 24 h

    def uptime(self, now: datetime) -> timedelta | None:
        return now - self.started if self.started is not None else None


@dataclass(frozen=True)
class DigestContext:
    day: date  # the local day the digest is for
    now: datetime
    window_days: int
    open_total: int
    by_category: tuple[tuple[str, int], ...]  # open tickets
    by_status: tuple[tuple[str, int], ...]  # open tickets
    overdue: tuple[Line, ...]  # open, not waiting, past due; span = how late
    due_today: tuple[Line, ...]  # open, not waiting, due later today; span = time left
    oldest: tuple[Line, ...]  # open, oldest first; span = age
    new_yesterday: int
    closed_yesterday: int
    stats: tuple[CategoryStats, ...]
    review: tuple[DigestTicket, ...]  # open tickets whose category needs a review
    failed_deliveries: int
    quarantined: int
    refused: tuple[tuple[str, str], ...] = ()  # (recipient, the server's answer) of the last day
    # the lists above hold at most LIST_LIMIT entries; these are their full lengths
    overdue_total: int = 0
    due_today_total: int = 0
    review_total: int = 0
    refused_total: int = 0
    health: InboxHealth | None = None
    staff_open: tuple[tuple[str | None, int], ...] = ()  # open per assignee, most first; None: unassigned
    staff_total: int = 0  # assignees (and "unassigned") with open tickets
    survey: bool = False  # [survey] enabled: the unrated closures below are shown
    unrated: tuple[DigestTicket, ...] = ()  # closed yesterday without a rating, newest first
    unrated_total: int = 0
    closed_in_window: int = 0  # closed within the statistics window
    unrated_in_window: int = 0  # of those, without a rating
    partners: tuple[Any, ...] = ()  # core.partners.PartnerFigures of the window (#teruskan, issue 19)


def build_digest(tickets: Sequence[DigestTicket], failed_deliveries: int, quarantined: int, now: datetime,
                 tz: tzinfo, targets: Mapping[str, timedelta], *, calendar: Calendar | None = None,
                 window: timedelta = STATS_WINDOW, refused: Sequence[tuple[str, str]] = (),
                 health: InboxHealth | None = None, survey: bool = False,
                 limit: int = LIST_LIMIT) -> DigestContext:
    """The digest's context at `now`; durations are counted on `calendar` (24x7 when None)."""
    day = now.astimezone(tz).date()
    today = _local_midnight(day, tz)
    yesterday = _local_midnight(day - timedelta(days=1), tz)
    open_ = [t for t in tickets if t.is_open]
    categories = _categories(targets, tickets)
    closed = [t for t in tickets if not t.is_open and t.closed_at is not None]
    overdue = _overdue(open_, now)
    due_today = _due_today(open_, now, _local_midnight(day + timedelta(days=1), tz))
    review = sorted((t for t in open_ if t.needs_review), key=_age_key)
    refused_ = tuple(dict.fromkeys(refused))
    staff = _staff_open(open_)
    in_window = [t for t in closed if now - window <= t.closed_at <= now]
    unrated = sorted((t for t in closed if yesterday <= t.closed_at < today and t.rating is None),
                     key=lambda t: (t.closed_at, t.number), reverse=True)
    return DigestContext(
        day=day, now=now, window_days=window.days, open_total=len(open_),
        by_category=tuple((c, sum(t.category == c for t in open_)) for c in categories),
        by_status=tuple((s, sum(t.status == s for t in open_)) for s in _statuses(open_)),
        overdue=overdue[:limit], due_today=due_today[:limit],
        oldest=tuple(Line(t, now - t.created_at) for t in sorted(open_, key=_age_key)[:OLDEST]),
        new_yesterday=sum(yesterday <= t.created_at < today for t in tickets),
        closed_yesterday=sum(yesterday <= t.closed_at < today for t in closed),
        stats=tuple(_stats(c, targets.get(c), tickets, now, window, calendar or Calendar())
                    for c in categories),
        review=tuple(review[:limit]),
        failed_deliveries=failed_deliveries, quarantined=quarantined, refused=refused_[:limit],
        overdue_total=len(overdue), due_today_total=len(due_today), review_total=len(review),
        refused_total=len(refused_), health=health,
        staff_open=tuple(staff[:limit]), staff_total=len(staff),
        survey=survey, unrated=tuple(unrated[:limit]) if survey else (),
        unrated_total=len(unrated) if survey else 0, closed_in_window=len(in_window),
        unrated_in_window=sum(t.rating is None for t in in_window) if survey else 0,
    )


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz)


def _age_key(ticket: DigestTicket) -> tuple[datetime, int]:
    return ticket.created_at, ticket.number


def _categories(targets: Mapping[str, timedelta], tickets: Iterable[DigestTicket]) -> list[str]:
    """The configured categories in their order, then any other seen, sorted."""
    extra = sorted({t.category for t in tickets} - set(targets))
    return [*targets, *extra]


def _statuses(open_: Iterable[DigestTicket]) -> list[str]:
    extra = sorted({t.status for t in open_} - set(OPEN_STATUSES))
    return [*OPEN_STATUSES, *extra]


def _staff_open(open_: Iterable[DigestTicket]) -> list[tuple[str | None, int]]:
    """Open tickets per assignee, most first (then by name), after the unassigned (None)."""
    counts: dict[str | None, int] = {}
    for t in open_:
        counts[t.assignee] = counts.get(t.assignee, 0) + 1
    named = sorted(((a, n) for a, n in counts.items() if a is not None), key=lambda row: (-row[1], row[0]))
    return [*([(None, counts[None])] if None in counts else []), *named]


def _overdue(open_: Iterable[DigestTicket], now: datetime) -> tuple[Line, ...]:
    late = [t for t in open_ if clock_runs(t.status) and t.due_at is not None and t.due_at <= now]
    return tuple(Line(t, now - t.due_at) for t in sorted(late, key=_due_key))


def _due_today(open_: Iterable[DigestTicket], now: datetime, tomorrow: datetime) -> tuple[Line, ...]:
    soon = [t for t in open_ if clock_runs(t.status) and t.due_at is not None and now < t.due_at < tomorrow]
    return tuple(Line(t, t.due_at - now) for t in sorted(soon, key=_due_key))


def _due_key(ticket: DigestTicket) -> tuple[datetime, int]:
    return ticket.due_at, ticket.number


def _stats(category: str, target: timedelta | None, tickets: Sequence[DigestTicket], now: datetime,
           window: timedelta, cal: Calendar) -> CategoryStats:
    mine = [t for t in tickets if t.category == category]
    since = now - window
    responded = [working_time_between(cal, t.created_at, t.first_response_at) for t in mine
                 if t.first_response_at is not None and since <= t.created_at <= now]
    closed = [t for t in mine if not t.is_open and t.closed_at is not None and since <= t.closed_at <= now]
    to_close = [max(ZERO, working_time_between(cal, t.created_at, t.closed_at) - t.paused)
                for t in closed]
    measured = [t for t in closed if t.due_at is not None]
    return CategoryStats(
        category=category, target=target, open=sum(t.is_open for t in mine), closed=len(closed),
        within_target=sum(t.closed_at <= t.due_at for t in measured),
        measured=len(measured), median_first_response=_median(responded), median_to_close=_median(to_close),
    )


def _median(spans: Sequence[timedelta]) -> timedelta | None:
    return timedelta(seconds=median(s.total_seconds() for s in spans)) if spans else None


def digest_due(now: datetime, tz: tzinfo, digest_time: str, last_sent_day: date | None) -> date | None:
    """The local day whose digest is to be sent now, or None.

    Once the local clock has passed `digest_time`, today's digest is due unless it (or a later day's,
    after the clock went back) was sent. A missed earlier day is not sent late: today's covers it.
    """
    match = _HH_MM.fullmatch(digest_time)
    if not match:
        raise ValueError(f"digest time must be HH:MM, got {digest_time!r}")
    local = now.astimezone(tz)
    if local.time() < time(int(match.group(1)), int(match.group(2))):
        return None
    if last_sent_day is not None and last_sent_day >= local.date():
        return None
    return local.date()
