"""Stage `report` (pure): ticket rows of two months -> the coordinators' monthly report context.

In: `ReportTicket` rows (every ticket received before the month's end that was not closed before
the previous month began), the kept mail and quarantine counts of the month, the month, the zone,
the SLA calendar and targets. Out: a `MonthReport` for the text, HTML and CSV renderings, with the
previous month's totals for the trend.

Definitions (also in the report's text, so that the numbers can be checked by hand):
- received: created within the month; closed: closed within the month; open at the end: created
  before the month's end and not closed by then.
- first response: creation -> the first staff answer that reached the reporter (relay or closing),
  in wall time and counted on the SLA calendar; measured on tickets received within the month; a
  #tunggu with text is such an answer. Within target: counted time <= the category's first-response
  target.
- resolution: creation -> closing, counted on the SLA calendar less the time spent waiting for the
  reporter; measured on tickets closed within the month. Within target: closed by the due time.
- breaches: tickets whose due time fell within the month and that were not closed by it.
- escalations: tickets received within the month that were escalated; reopens: reopen events
  within the month. Ratings: of tickets closed within the month (IKM, core/survey.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from statistics import median
from typing import Any

from mailticket.core.sla import Calendar, working_time_between
from mailticket.core.survey import Index, ikm
from mailticket.types import Status

ZERO = timedelta(0)
UNASSIGNED = "(belum ditugaskan)"


@dataclass(frozen=True)
class ReportTicket:
    """What the report needs of a ticket. Datetimes are aware."""

    number: int
    token: str
    subject: str
    category: str
    source: str  # category_source: rules, staff, default
    status: str
    assignee: str | None
    created_at: datetime
    due_at: datetime | None = None
    closed_at: datetime | None = None
    first_response_at: datetime | None = None
    paused: timedelta = ZERO
    escalated: bool = False
    reopens: int = 0  # reopen events within the report's month
    rating: int | None = None


@dataclass(frozen=True)
class Month:
    """A calendar month in the helpdesk's zone: [start, end)."""

    year: int
    month: int
    tz: tzinfo

    @classmethod
    def parse(cls, text: str, tz: tzinfo) -> Month:
        """'2026-11' -> Month; ValueError otherwise."""
        try:
            year, month = (int(part) for part in text.split("-"))
            date(year, month, 1)
        except ValueError:
            raise ValueError(f"month must be YYYY-MM, got {text!r}") from None
        return cls(year, month, tz)

    @classmethod
    def before(cls, moment: datetime, tz: tzinfo) -> Month:
        """The month before the one `moment` falls in (local time): the default report."""
        local = moment.astimezone(tz)
        return cls(local.year, local.month, tz).previous

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1, self.tz)

    @property
    def next(self) -> Month:
        return Month(self.year + (self.month == 12), 1 if self.month == 12 else self.month + 1, self.tz)

    @property
    def start(self) -> datetime:
        return datetime.combine(date(self.year, self.month, 1), time(), tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        return self.next.start

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


@dataclass(frozen=True)
class Span:
    """Median and 90th percentile of a set of durations; None when there are none."""

    count: int
    median: timedelta | None
    p90: timedelta | None

    @classmethod
    def of(cls, spans: Sequence[timedelta]) -> Span:
        if not spans:
            return cls(0, None, None)
        ordered = sorted(spans)
        p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]  # nearest rank
        return cls(len(ordered), timedelta(seconds=median(s.total_seconds() for s in ordered)), p90)


@dataclass(frozen=True)
class Measured:
    """One ticket's times, computed once."""

    ticket: ReportTicket
    first_wall: timedelta | None
    first_counted: timedelta | None
    first_within: bool | None  # None: no first response yet
    resolution: timedelta | None  # counted, less waiting
    within: bool | None  # closed by its due time; None: not closed or no due time


@dataclass(frozen=True)
class Group:
    """One category, staff member or the whole helpdesk over the month."""

    name: str
    received: int
    closed: int
    open_at_end: int
    first_wall: Span
    first_counted: Span
    first_within: int  # of first_counted.count
    resolution: Span
    within: int
    measured: int  # closed within the month with a due time
    breaches: int
    escalations: int
    reopens: int
    satisfaction: Index

    @property
    def within_pct(self) -> int | None:
        return round(100 * self.within / self.measured) if self.measured else None

    @property
    def first_within_pct(self) -> int | None:
        return round(100 * self.first_within / self.first_counted.count) if self.first_counted.count else None


@dataclass(frozen=True)
class Trend:
    """This month against the previous one: (now, before) for each headline figure."""

    received: tuple[int, int]
    closed: tuple[int, int]
    within_pct: tuple[int | None, int | None]
    first_median: tuple[timedelta | None, timedelta | None]
    ikm: tuple[float | None, float | None]


@dataclass(frozen=True)
class MonthReport:
    month: Month
    total: Group
    categories: tuple[Group, ...]
    staff: tuple[Group, ...]
    trend: Trend
    kept: tuple[tuple[str, int], ...]  # spam, auto-replies, ... received within the month
    quarantined: int  # messages quarantined within the month
    quarantine_waiting: int  # of all time, not yet released
    rows: tuple[Measured, ...] = field(repr=False, default=())  # the CSV: every ticket in scope
    partners: tuple[Any, ...] = ()  # core.partners.PartnerFigures: forwards made in the month (issue 19)


def build_report(tickets: Iterable[ReportTicket], month: Month, calendar: Calendar,
                 targets: Mapping[str, timedelta], first_targets: Mapping[str, timedelta], *,
                 kept: Mapping[str, int] | None = None, quarantined: int = 0,
                 quarantine_waiting: int = 0, previous: Iterable[ReportTicket] | None = None) -> MonthReport:
    """The report of `month`. `previous` (default: the same rows) gives the trend's month before."""
    rows = list(tickets)
    measured = [_measure(t, calendar, first_targets) for t in rows if _in_scope(t, month)]
    before = [_measure(t, calendar, first_targets) for t in (rows if previous is None else previous)
              if _in_scope(t, month.previous)]
    total, last = _group("Semua", measured, month), _group("Semua", before, month.previous)
    categories = [*targets, *sorted({m.ticket.category for m in measured} - set(targets))]
    people = sorted({m.ticket.assignee or UNASSIGNED for m in measured}, key=lambda p: (p == UNASSIGNED, p))
    return MonthReport(
        month=month, total=total,
        categories=tuple(_group(c, [m for m in measured if m.ticket.category == c], month)
                         for c in categories),
        staff=tuple(_group(p, [m for m in measured if (m.ticket.assignee or UNASSIGNED) == p], month)
                    for p in people),
        trend=Trend((total.received, last.received), (total.closed, last.closed),
                    (total.within_pct, last.within_pct),
                    (total.first_counted.median, last.first_counted.median),
                    (total.satisfaction.value, last.satisfaction.value)),
        kept=tuple(sorted((kept or {}).items())), quarantined=quarantined,
        quarantine_waiting=quarantine_waiting,
        rows=tuple(sorted(measured, key=lambda m: m.ticket.number)),
    )


def _in_scope(t: ReportTicket, month: Month) -> bool:
    return month.holds(t.created_at) or month.holds(t.closed_at) or _open_at_end(t, month) \
        or month.holds(t.due_at)


def _open_at_end(t: ReportTicket, month: Month) -> bool:
    return t.created_at < month.end and (t.closed_at is None or t.closed_at >= month.end)


def _measure(t: ReportTicket, cal: Calendar, first_targets: Mapping[str, timedelta]) -> Measured:
    first_wall = first_counted = within_first = None
    if t.first_response_at is not None:
        first_wall = max(ZERO, t.first_response_at - t.created_at)
        first_counted = working_time_between(cal, t.created_at, t.first_response_at)
        target = first_targets.get(t.category)
        within_first = target is None or first_counted <= target
    resolution = within = None
    if t.status == Status.CLOSED and t.closed_at is not None:
        resolution = max(ZERO, working_time_between(cal, t.created_at, t.closed_at) - t.paused)
        within = None if t.due_at is None else t.closed_at <= t.due_at
    return Measured(t, first_wall, first_counted, within_first, resolution, within)


def _group(name: str, rows: Sequence[Measured], month: Month) -> Group:
    received = [m for m in rows if month.holds(m.ticket.created_at)]
    closed = [m for m in rows if m.ticket.status == Status.CLOSED and month.holds(m.ticket.closed_at)]
    answered = [m for m in received if m.first_counted is not None]
    measured = [m for m in closed if m.within is not None]
    return Group(
        name=name, received=len(received), closed=len(closed),
        open_at_end=sum(_open_at_end(m.ticket, month) for m in rows),
        first_wall=Span.of([m.first_wall for m in answered]),
        first_counted=Span.of([m.first_counted for m in answered]),
        first_within=sum(bool(m.first_within) for m in answered),
        resolution=Span.of([m.resolution for m in closed]),
        within=sum(bool(m.within) for m in measured), measured=len(measured),
        breaches=sum(_breached(m.ticket, month) for m in rows),
        escalations=sum(m.ticket.escalated for m in received),
        reopens=sum(m.ticket.reopens for m in rows),
        satisfaction=ikm(m.ticket.rating for m in closed if m.ticket.rating is not None),
    )


def _breached(t: ReportTicket, month: Month) -> bool:
    return month.holds(t.due_at) and (t.closed_at is None or t.closed_at > t.due_at)


# -- CSV ------------------------------------------------------------------------------------------

CSV_HEADER = ("token", "dibuat", "ditutup", "kategori", "sumber_kategori", "petugas", "status",
              "tanggapan_pertama", "tanggapan_pertama_menit_kalender", "tanggapan_pertama_menit_jam_kerja",
              "penyelesaian_menit_jam_kerja", "tepat_waktu", "tanggapan_tepat_waktu", "penilaian")


def csv_rows(report: MonthReport, local: Callable[[datetime | None], str]) -> list[tuple[str, ...]]:
    """One row per ticket in the report's scope; `local` writes a moment in the helpdesk's zone."""
    def minutes(span: timedelta | None) -> str:
        return "" if span is None else f"{span.total_seconds() / 60:.0f}"

    def yes_no(value: bool | None) -> str:
        return "" if value is None else ("ya" if value else "tidak")

    return [(m.ticket.token, local(m.ticket.created_at), local(m.ticket.closed_at), m.ticket.category,
             m.ticket.source, m.ticket.assignee or "", m.ticket.status, local(m.ticket.first_response_at),
             minutes(m.first_wall), minutes(m.first_counted), minutes(m.resolution), yes_no(m.within),
             yes_no(m.first_within), "" if m.ticket.rating is None else str(m.ticket.rating))
            for m in report.rows]
