"""The monthly report from ticket rows, numbers checked by hand; first response on both calendars."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailticket.core.report import CSV_HEADER, Month, ReportTicket, build_report, csv_rows
from mailticket.core.sla import Calendar

WIB = ZoneInfo("Asia/Jakarta")
NOV = Month(2026, 11, WIB)
TARGETS = {"gangguan": timedelta(days=3), "permasalahan": timedelta(days=1), "permintaan": timedelta(hours=1)}
FIRST = dict.fromkeys(TARGETS, timedelta(minutes=30))
OFFICE = Calendar.parse("office", "Mon-Fri 08:00-16:00", [], WIB)


def at(day: int, hour: int = 9, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


def t(number, category="permintaan", status="closed", created=None, closed=None, first=None, due=None,
      assignee="rina", **fields) -> ReportTicket:
    created = created or at(2)
    return ReportTicket(number, f"LPSE#{number}", "s", category, "rules", status, assignee, created,
                        due or created + TARGETS[category], closed, first, **fields)


TICKETS = [
    # closed in time, answered in 10 min, rated 4
    t(1, created=at(2), first=at(2, 9, 10), closed=at(2, 9, 40), rating=4),
    # closed late (due 10:00), answered in 45 min (over the 30 min target), rated 2, reopened once
    t(2, created=at(3), first=at(3, 9, 45), closed=at(3, 11), rating=2, reopens=1),
    # open at the end, breached within the month, escalated
    t(3, category="gangguan", status="escalated", created=at(10), first=at(10, 9, 20), escalated=True,
      assignee="agus"),
    # waiting at the end, never answered yet: no first response
    t(4, category="gangguan", status="waiting", created=at(28), assignee=None),
    # received in October, closed in November (counts as closed, not received)
    t(5, category="gangguan", created=at(30, month=10), first=at(30, 9, 5, month=10), closed=at(1, 9, 30)),
    # received and closed in October: only in the previous month
    t(6, created=at(5, month=10), first=at(5, 9, 5, month=10), closed=at(5, 9, 30, month=10), rating=3),
    # received in December: not in November at all
    t(7, created=at(1, month=12)),
]


def test_a_month_by_hand():
    r = build_report(TICKETS, NOV, Calendar(), TARGETS, FIRST,
                     kept={"spam": 3, "auto_reply": 1}, quarantined=2, quarantine_waiting=1)
    total = r.total
    assert (total.received, total.closed, total.open_at_end) == (4, 3, 2)  # 1-4; 1,2,5; 3,4
    assert total.first_counted.count == 3  # 1, 2, 3 (4 not answered; 5 received in October)
    assert total.first_counted.median == timedelta(minutes=20)  # 10, 20, 45
    assert total.first_counted.p90 == timedelta(minutes=45)
    assert total.first_within == 2 and total.first_within_pct == 67
    assert (total.within, total.measured, total.within_pct) == (2, 3, 67)  # 1 and 5 in time, 2 late
    assert total.breaches == 2  # 2 (closed after its due) and 3 (open past due)
    assert total.escalations == 1 and total.reopens == 1
    assert (total.satisfaction.count, total.satisfaction.value, total.satisfaction.letter) == (2, 75.0, "C")
    assert r.trend.received == (4, 2) and r.trend.closed == (3, 1) and r.trend.ikm == (75.0, 75.0)
    by_category = {g.name: g for g in r.categories}
    assert by_category["gangguan"].received == 2 and by_category["gangguan"].open_at_end == 2
    by_staff = {g.name: g for g in r.staff}
    assert by_staff["rina"].closed == 3 and by_staff["agus"].escalations == 1
    assert by_staff["(belum ditugaskan)"].received == 1
    assert r.kept == (("auto_reply", 1), ("spam", 3)) and r.quarantined == 2


def test_first_response_across_a_wait_on_office_and_24x7_calendars():
    # reported Friday 15:50, staff answered with #tunggu (text to the reporter) Monday 08:10
    friday = datetime(2026, 11, 27, 15, 50, tzinfo=WIB)
    monday = datetime(2026, 11, 30, 8, 10, tzinfo=WIB)
    ticket = t(1, created=friday, first=monday, closed=monday + timedelta(hours=2), status="closed",
               paused=timedelta(hours=1))
    office = build_report([ticket], NOV, OFFICE, TARGETS, FIRST).total
    assert office.first_counted.median == timedelta(minutes=20)  # 10 min Friday + 10 min Monday
    assert office.first_wall.median == monday - friday
    assert office.first_within == 1
    # resolution: 20 min + 2 h of office time, less the hour waiting for the reporter
    assert office.resolution.median == timedelta(hours=1, minutes=20)
    wall = build_report([ticket], NOV, Calendar(), TARGETS, FIRST).total
    assert wall.first_counted.median == monday - friday and wall.first_within == 0


def test_csv_parses_back_one_row_per_ticket():
    r = build_report(TICKETS, NOV, Calendar(), TARGETS, FIRST)
    text = io.StringIO()
    csv.writer(text).writerows([CSV_HEADER, *csv_rows(r, lambda m: m.astimezone(WIB).isoformat() if m else "")])
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert [row["token"] for row in rows] == ["LPSE#1", "LPSE#2", "LPSE#3", "LPSE#4", "LPSE#5"]
    first = rows[0]
    assert first["dibuat"] == "2026-11-02T09:00:00+07:00" and first["penilaian"] == "4"
    assert first["tanggapan_pertama_menit_kalender"] == "10" and first["tepat_waktu"] == "ya"
    assert rows[1]["tepat_waktu"] == "tidak" and rows[3]["tanggapan_pertama"] == ""


def test_month_parsing_and_default():
    assert Month.parse("2026-11", WIB) == NOV
    assert Month.before(at(1, month=12), WIB) == NOV
    assert Month.before(datetime(2027, 1, 5, tzinfo=WIB), WIB) == Month(2026, 12, WIB)
