"""Stage `sla` (pure): a calendar, a ticket's times and `now` -> due times, warnings and breaches.

Two calendars. "24x7" counts every second: the due time is plain addition. "office" counts only
office hours (local time in the helpdesk's zone) on days that are not holidays. In the office
calendar the whole days of a target are *working days* ("1d" = one working day, from the same
point of the working day), and the rest counts office time ("1h" reported on Friday at 15:55 with
Mon-Fri 08:00-16:00 is due on Monday at 08:55). Time spent waiting for the reporter is measured in
counted time (`pause_length`) and added on (`due`).

Inputs may be in any zone (the database gives UTC); results keep the zone of the start moment.
Loops go day by day, never minute by minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from mailticket.types import Status

WARNING, BREACH = "warning", "breach"
KINDS = ("24x7", "office")
MAX_DAYS = 3660  # no office time within ten years means a broken calendar, not a long wait
ZERO = timedelta(0)
_NAMES = (("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
          ("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"))
DAY_NAMES = {name: i for names in _NAMES for i, name in enumerate(names)} | {
    name[:3]: i for names in _NAMES for i, name in enumerate(names)} | {"jum'at": 4}
_TIME_RANGE = re.compile(r"(\d{1,2})[:.](\d{2})-(\d{1,2})[:.](\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

# A closed ticket is done and a waiting one waits for its reporter: neither counts towards its target,
# is warned about, breached, or shown as due.
CLOCK_STOPPED = frozenset({Status.CLOSED, Status.WAITING})

Spans = tuple[tuple[int, int], ...]  # (start, end) in seconds after local midnight, sorted


@dataclass(frozen=True)
class Calendar:
    """Which time counts. `hours` has one entry per weekday, Monday first."""

    kind: str = "24x7"
    tz: tzinfo = UTC
    hours: tuple[Spans, ...] = ((),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, kind: str, office_hours: str, holidays: Iterable[str | date], tz: tzinfo) -> Calendar:
        """A calendar from config values; ValueError with a clear message on a bad value."""
        if kind not in KINDS:
            raise ValueError(f"calendar must be one of {', '.join(KINDS)}, got {kind!r}")
        days = frozenset(parse_date(day) for day in holidays)
        hours = parse_office_hours(office_hours) if kind == "office" else ((),) * 7
        return cls(kind, tz, hours, days)

    @property
    def office(self) -> bool:
        return self.kind == "office"

    def is_working_day(self, day: date) -> bool:
        return bool(self.hours[day.weekday()]) and day not in self.holidays


def clock_runs(status: str) -> bool:
    """Whether a ticket in `status` is counting towards its target (see CLOCK_STOPPED)."""
    return status not in CLOCK_STOPPED


# --- parsing -------------------------------------------------------------------------------------


def parse_office_hours(text: str) -> tuple[Spans, ...]:
    """'Mon-Thu 08:00-16:00, Fri 08:00-11:30 13:00-16:30' -> spans per weekday.

    Days: Mon..Sun or Sen..Min (full names too), single or as a range; one or more time ranges
    follow them. A later clause replaces the hours of the days it names.
    """
    tokens = [t for t in re.split(r"[\s,;]+", re.sub(r"\s*[-–]\s*", "-", text.strip().lower())) if t]
    week: list[Spans] = [()] * 7
    days: list[int] = []
    spans: list[tuple[int, int]] = []
    for token in tokens:
        match = _TIME_RANGE.fullmatch(token)
        if match:
            if not days:
                raise ValueError(f"office hours {text!r}: time {token!r} comes before any day")
            spans.append(_span(text, match))
            continue
        if spans:
            _assign(text, week, days, spans)
            days, spans = [], []
        days.extend(_days(text, token))
    if not days:
        raise ValueError(f"office hours {text!r}: no days given, e.g. 'Mon-Fri 08:00-16:00'")
    if not spans:
        raise ValueError(f"office hours {text!r}: days without a time range at the end")
    _assign(text, week, days, spans)
    return tuple(week)


def _days(text: str, token: str) -> list[int]:
    first, _, last = token.partition("-")
    if first not in DAY_NAMES or (last and last not in DAY_NAMES):
        raise ValueError(f"office hours {text!r}: {token!r} is not a day or a range of days (Mon-Fri)")
    start, end = DAY_NAMES[first], DAY_NAMES[last or first]
    return [(start + i) % 7 for i in range((end - start) % 7 + 1)]


def _span(text: str, match: re.Match[str]) -> tuple[int, int]:
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"office hours {text!r}: {match.group(0)!r} is not a time range HH:MM-HH:MM")
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if end <= start:
        raise ValueError(f"office hours {text!r}: {match.group(0)!r} ends before it starts")
    return start, end


def _assign(text: str, week: list[Spans], days: list[int], spans: list[tuple[int, int]]) -> None:
    ordered = tuple(sorted(spans))
    for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
        if start < end:
            raise ValueError(f"office hours {text!r}: time ranges of one day overlap")
    for day in days:
        week[day] = ordered


def parse_date(value: str | date) -> date:
    """'2026-12-25' -> date; ValueError naming the value otherwise."""
    if isinstance(value, date):
        return value
    try:
        if not _DATE.fullmatch(value.strip()):
            raise ValueError
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise ValueError(f"holiday {value!r} is not a date YYYY-MM-DD") from None


def load_holidays(text: str) -> tuple[date, ...]:
    """A holidays file -> sorted dates. One date (or 'YYYY-MM-DD..YYYY-MM-DD') per line, then any
    description; '#' starts a comment. ValueError names the line."""
    days: set[date] = set()
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        first, _, last = words[0].partition("..")
        try:
            start, end = parse_date(first), parse_date(last or first)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if end < start:
            raise ValueError(f"line {number}: range {words[0]!r} ends before it starts")
        days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return tuple(sorted(days))


# --- counting time -------------------------------------------------------------------------------


def _aware(*moments: datetime) -> None:
    if any(m.utcoffset() is None for m in moments):
        raise ValueError("sla needs timezone-aware datetimes")


def _day_spans(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The office spans of a local day as UTC moments; none on a holiday."""
    if day in cal.holidays:
        return []
    midnight = datetime(day.year, day.month, day.day, tzinfo=cal.tz)

    def at(seconds: int) -> datetime:
        return (midnight + timedelta(seconds=seconds)).astimezone(UTC)

    return [(at(a), at(b)) for a, b in cal.hours[day.weekday()]]


def _days_from(cal: Calendar, moment: datetime) -> Iterator[date]:
    first = moment.astimezone(cal.tz).date()
    for i in range(MAX_DAYS):
        yield first + timedelta(days=i)
    raise ValueError(f"no office time within {MAX_DAYS} days of {moment.isoformat()}")


def add_working_time(cal: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The moment at which `duration` of counted time has passed since `start`."""
    _aware(start)
    if duration < ZERO:
        raise ValueError(f"negative duration {duration}")
    if not cal.office or not duration:
        return start + duration
    remaining = duration
    for day in _days_from(cal, start):
        for opens, closes in _day_spans(cal, day):
            begin = max(opens, start)
            if closes <= begin:
                continue
            if remaining <= closes - begin:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= closes - begin
    raise AssertionError("unreachable")  # _days_from raises first


def working_time_between(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """Counted time from `start` to `end`; zero when end is not after start."""
    _aware(start, end)
    if end <= start:
        return ZERO
    if not cal.office:
        return end - start
    total, day, last = ZERO, start.astimezone(cal.tz).date(), end.astimezone(cal.tz).date()
    while day <= last:
        for opens, closes in _day_spans(cal, day):
            total += max(ZERO, min(closes, end) - max(opens, start))
        day += timedelta(days=1)
    return total


def pause_length(cal: Calendar, since: datetime, now: datetime) -> timedelta:
    """Counted time spent waiting for the reporter, to add to the ticket's paused time."""
    return working_time_between(cal, since, now)


def add_working_days(cal: Calendar, start: datetime, days: int) -> datetime:
    """The same point of the working day, `days` working days later (office); plain days on 24x7.

    A start outside office hours counts from the next opening; a working day begun at its opening
    ends at that day's closing. On a shorter day the point is clamped to its closing.
    """
    _aware(start)
    if days < 0:
        raise ValueError(f"negative number of days {days}")
    if not cal.office or not days:
        return start + timedelta(days=days)
    begin = _next_counted(cal, start)
    first_day = begin.astimezone(cal.tz).date()
    offset = working_time_between(cal, _day_spans(cal, first_day)[0][0], begin)
    working = _working_days_after(cal, first_day, days)
    if not offset:
        previous = working[-2] if days > 1 else first_day
        return _day_spans(cal, previous)[-1][1].astimezone(start.tzinfo)
    spans = _day_spans(cal, working[-1])
    length = sum((closes - opens for opens, closes in spans), ZERO)
    return add_working_time(cal, spans[0][0], min(offset, length)).astimezone(start.tzinfo)


def _next_counted(cal: Calendar, moment: datetime) -> datetime:
    """The first counted moment at or after `moment`."""
    for day in _days_from(cal, moment):
        for opens, closes in _day_spans(cal, day):
            if closes > moment:
                return max(opens, moment)
    raise AssertionError("unreachable")


def _working_days_after(cal: Calendar, day: date, count: int) -> list[date]:
    found: list[date] = []
    for i in range(1, MAX_DAYS):
        candidate = day + timedelta(days=i)
        if cal.is_working_day(candidate):
            found.append(candidate)
            if len(found) == count:
                return found
    raise ValueError(f"fewer than {count} working days within {MAX_DAYS} days of {day}")


def due(cal: Calendar, start: datetime, target: timedelta, paused: timedelta = ZERO) -> datetime:
    """When a ticket started at `start` is due: the target, plus the counted time it was paused."""
    if target < ZERO or paused < ZERO:
        raise ValueError("target and paused time cannot be negative")
    if not cal.office:
        _aware(start)
        return start + target + paused
    whole = timedelta(days=target.days)
    return add_working_time(cal, add_working_days(cal, start, target.days), target - whole + paused)


# --- warnings and breaches -----------------------------------------------------------------------


@dataclass(frozen=True)
class SlaTicket:
    """What the SLA check needs of a ticket. `warned_for_due`/`breached_for_due` record the due
    time a warning/breach was last sent for, so each is sent once per due time."""

    number: int
    status: str
    created_at: datetime
    due_at: datetime | None
    target: timedelta
    paused: timedelta = ZERO
    warned_for_due: datetime | None = None
    breached_for_due: datetime | None = None


def effective_due(ticket: SlaTicket, cal: Calendar) -> datetime:
    """The ticket's due time; computed from its target when it has none stored."""
    return ticket.due_at if ticket.due_at is not None else due(cal, ticket.created_at, ticket.target,
                                                                ticket.paused)


def check(ticket: SlaTicket, now: datetime, cal: Calendar, warn_at: float) -> str | None:
    """What to send now: "breach" (now >= due), "warning" (counted >= warn_at of the target), or None.

    Closed and waiting tickets are skipped; an alert already sent for this due time is not repeated.
    Record `effective_due(ticket, cal)` in warned_for_due / breached_for_due after sending.
    """
    if not clock_runs(ticket.status):
        return None
    deadline = effective_due(ticket, cal)
    if now >= deadline:
        return None if ticket.breached_for_due == deadline else BREACH
    if ticket.warned_for_due == deadline:
        return None
    total = working_time_between(cal, ticket.created_at, deadline) - ticket.paused
    elapsed = working_time_between(cal, ticket.created_at, now) - ticket.paused
    return WARNING if total > ZERO and elapsed >= total * warn_at else None
