"""sla.py: office hours and holidays in local time, pauses, due times, one warning and one breach per due."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailticket.core import sla
from mailticket.core.sla import Calendar, SlaTicket
from mailticket.types import Status

WIB = ZoneInfo("Asia/Jakarta")
HOLIDAYS_FILE = Path(__file__).resolve().parents[2] / "config" / "holidays-id.txt"
H, D = timedelta(hours=1), timedelta(days=1)
OFFICE = Calendar.parse("office", "Mon-Fri 08:00-16:00", (), WIB)
SPLIT = Calendar.parse("office", "Mon-Thu 08:00-16:00, Fri 08:00-11:30 13:00-16:30", (), WIB)
ALWAYS = Calendar.parse("24x7", "", (), WIB)


def wib(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    """A local moment, handed over in UTC as the database does. 2026-11-27 is a Friday."""
    return datetime(year, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


def local(moment: datetime) -> datetime:
    return moment.astimezone(WIB).replace(tzinfo=None)


# --- 24x7 ------------------------------------------------------------------------------------


def test_24x7_is_plain_arithmetic():
    start = wib(27, 15, 55)
    assert sla.due(ALWAYS, start, H) == start + H
    assert sla.due(ALWAYS, start, 3 * D, paused=2 * H) == start + 3 * D + 2 * H
    assert sla.add_working_time(ALWAYS, start, 90 * timedelta(minutes=1)) == start + timedelta(minutes=90)
    assert sla.working_time_between(ALWAYS, start, start + 2 * D) == 2 * D
    assert sla.working_time_between(ALWAYS, start, start - H) == timedelta(0)


def test_24x7_ignores_holidays_and_office_hours():
    cal = Calendar.parse("24x7", "Mon-Fri 08:00-16:00", ("2026-11-30",), WIB)
    assert sla.due(cal, wib(27, 15, 55), D) == wib(28, 15, 55)


# --- office hours ------------------------------------------------------------------------------


def test_friday_1555_one_hour_is_monday_0855():
    due = sla.due(OFFICE, wib(27, 15, 55), H)
    assert local(due) == datetime(2026, 11, 30, 8, 55)
    assert due.tzinfo is UTC  # the zone it came in


def test_a_holiday_in_between_is_skipped():
    cal = Calendar.parse("office", "Mon-Fri 08:00-16:00", ("2026-11-30",), WIB)
    assert local(sla.due(cal, wib(27, 15, 55), H)) == datetime(2026, 12, 1, 8, 55)
    assert sla.working_time_between(cal, wib(30, 0), wib(1, 0, month=12)) == timedelta(0)


def test_office_hours_are_local_while_inputs_are_utc():
    # Sunday 23:30 UTC is Monday 06:30 in Jakarta: Monday's office hours apply, from 08:00 WIB
    start = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert sla.due(OFFICE, start, H) == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    # Friday 10:00 UTC is 17:00 WIB, after closing: the hour is Monday's first
    assert local(sla.due(OFFICE, datetime(2026, 11, 27, 10, 0, tzinfo=UTC), H)) == datetime(2026, 11, 30, 9)


def test_zones_west_of_utc_count_the_local_day():
    hawaii = ZoneInfo("Pacific/Honolulu")  # UTC-10: 15:00 on Friday is already Saturday in UTC
    cal = Calendar.parse("office", "Mon-Fri 08:00-16:00", (), hawaii)
    start = datetime(2026, 11, 27, 15, 0, tzinfo=hawaii)
    assert sla.due(cal, start.astimezone(UTC), timedelta(minutes=30)) == start + timedelta(minutes=30)
    assert sla.working_time_between(cal, start.astimezone(UTC), (start + H).astimezone(UTC)) == H


def test_split_friday_skips_the_break_and_counts_the_afternoon():
    assert local(sla.add_working_time(SPLIT, wib(27, 11), H)) == datetime(2026, 11, 27, 13, 30)
    assert local(sla.add_working_time(SPLIT, wib(27, 16), H)) == datetime(2026, 11, 30, 8, 30)
    assert sla.working_time_between(SPLIT, wib(27, 0), wib(28, 0)) == timedelta(hours=7)
    assert sla.working_time_between(SPLIT, wib(26, 0), wib(27, 0)) == timedelta(hours=8)


def test_whole_days_are_working_days():
    assert local(sla.due(OFFICE, wib(27, 15, 55), D)) == datetime(2026, 11, 30, 15, 55)
    assert local(sla.due(OFFICE, wib(25, 10), 3 * D)) == datetime(2026, 11, 30, 10)
    # reported on Saturday: one working day is all of Monday
    assert local(sla.due(OFFICE, wib(28, 10), D)) == datetime(2026, 11, 30, 16)
    # a day plus hours: Monday 10:00 + 1 working day + 7 h
    assert local(sla.due(OFFICE, wib(30, 10), D + 7 * H)) == datetime(2026, 12, 2, 9)


def test_working_day_on_a_shorter_friday_is_clamped_to_its_closing():
    # Thursday 14:00 is 6 h into the day: on Friday 6 h in is 15:30 (3.5 h morning + 2.5 h afternoon)
    assert local(sla.due(SPLIT, wib(26, 14), D)) == datetime(2026, 11, 27, 15, 30)
    # Thursday 15:45 is 7.75 h in; Friday has 7 h: its closing
    assert local(sla.due(SPLIT, wib(26, 15, 45), D)) == datetime(2026, 11, 27, 16, 30)


def test_waiting_over_a_weekend_is_not_counted():
    created = wib(26, 10)  # Thursday
    assert local(sla.due(OFFICE, created, D)) == datetime(2026, 11, 27, 10)
    paused = sla.pause_length(OFFICE, wib(27, 9), wib(30, 9))  # #tunggu Friday 09:00, answer Monday 09:00
    assert paused == 8 * H  # Friday 09-16 and Monday 08-09, not the weekend
    assert local(sla.due(OFFICE, created, D, paused)) == datetime(2026, 11, 30, 10)
    assert sla.pause_length(ALWAYS, wib(27, 9), wib(30, 9)) == 3 * D


def test_lebaran_holidays_from_the_shipped_file_and_fast():
    cal = Calendar.parse("office", "Mon-Fri 08:00-16:00", sla.load_holidays(HOLIDAYS_FILE.read_text()), WIB)
    start = wib(17, 10, month=3)  # Tuesday before Nyepi and Idulfitri 2026: 18-24 March are off
    assert local(sla.due(cal, start, 3 * D)) == datetime(2026, 3, 27, 10)
    assert local(sla.due(cal, start, 12 * H)) == datetime(2026, 3, 25, 14)
    runs = 200
    began = time.perf_counter()
    for _ in range(runs):
        sla.due(cal, start, 3 * D)
    assert (time.perf_counter() - began) / runs < 0.001


def test_add_and_between_agree():
    for start in (wib(27, 15, 55), wib(28, 10), wib(26, 11, 45)):
        for span in (timedelta(minutes=5), H, 9 * H, 30 * H):
            end = sla.add_working_time(SPLIT, start, span)
            assert sla.working_time_between(SPLIT, start, end) == span


def test_zero_duration_and_bad_input():
    assert sla.add_working_time(OFFICE, wib(28, 10), timedelta(0)) == wib(28, 10)
    with pytest.raises(ValueError):
        sla.add_working_time(OFFICE, wib(27, 10), -H)
    with pytest.raises(ValueError, match="timezone-aware"):
        sla.due(OFFICE, datetime(2026, 11, 27, 10), H)
    with pytest.raises(ValueError):
        sla.due(ALWAYS, wib(27, 10), -H)


def test_a_calendar_without_any_office_time_fails_instead_of_looping():
    empty = Calendar(kind="office", tz=WIB)
    with pytest.raises(ValueError, match="no office time"):
        sla.add_working_time(empty, wib(27, 10), H)


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Mon-Thu 08:00-16:00, Fri 08:00-11:30 13:00-16:30",
    "Mon - Thu 08.00-16.00; Fri 08:00-11:30, 13:00-16:30",
    "Sen-Kam 08:00-16:00, Jum 08:00-11:30 13:00-16:30",
    "senin-kamis 08:00-16:00 jumat 08:00-11:30 13:00-16:30",
    "Mon-Fri 08:00-16:00, Fri 08:00-11:30 13:00-16:30",  # a later clause replaces Friday
])
def test_office_hours_syntax(text):
    eight, friday = ((8 * 3600, 16 * 3600),), ((8 * 3600, 41400), (13 * 3600, 59400))
    assert sla.parse_office_hours(text) == (eight,) * 4 + (friday, (), ())


def test_office_hours_ranges_wrap_and_24_00():
    week = sla.parse_office_hours("Sat-Mon 00:00-24:00")
    assert [bool(day) for day in week] == [True, False, False, False, False, True, True]
    assert week[0] == ((0, 86400),)


@pytest.mark.parametrize("text, words", [
    ("", "no days"), ("Mon-Fri", "without a time range"), ("08:00-16:00", "before any day"),
    ("Mon-Fry 08:00-16:00", "'mon-fry' is not a day"), ("Mon 16:00-08:00", "ends before it starts"),
    ("Mon 25:00-26:00", "not a time range"), ("Mon 08:00-12:00 11:00-16:00", "overlap"),
    ("Mon 8-16", "'8-16' is not a day"),
])
def test_bad_office_hours_say_what(text, words):
    with pytest.raises(ValueError, match=words):
        sla.parse_office_hours(text)


def test_calendar_parse_checks_kind_and_holidays_and_only_parses_hours_for_office():
    with pytest.raises(ValueError, match="calendar must be one of"):
        Calendar.parse("kantor", "Mon-Fri 08:00-16:00", (), WIB)
    with pytest.raises(ValueError, match="2026-13-01"):
        Calendar.parse("office", "Mon-Fri 08:00-16:00", ("2026-13-01",), WIB)
    with pytest.raises(ValueError, match="not a date"):
        Calendar.parse("office", "Mon-Fri 08:00-16:00", ("25-12-2026",), WIB)
    assert Calendar.parse("24x7", "rubbish", (), WIB).kind == "24x7"
    with pytest.raises(ValueError):
        Calendar.parse("office", "rubbish", (), WIB)


def test_load_holidays_format():
    text = ("# libur\n\n2026-12-25 Natal  # komentar\n2026-03-20..2026-03-24  Idulfitri\n"
            "   2026-12-25 twice is fine\n")
    assert sla.load_holidays(text) == (date(2026, 3, 20), date(2026, 3, 21), date(2026, 3, 22),
                                       date(2026, 3, 23), date(2026, 3, 24), date(2026, 12, 25))
    with pytest.raises(ValueError, match="line 2: holiday '25/12/2026'"):
        sla.load_holidays("2026-12-24\n25/12/2026 Natal\n")
    with pytest.raises(ValueError, match="line 1: range"):
        sla.load_holidays("2026-03-24..2026-03-20\n")


def test_shipped_holidays_file():
    days = sla.load_holidays(HOLIDAYS_FILE.read_text(encoding="utf-8"))
    assert "PERLU DIPERIKSA" in HOLIDAYS_FILE.read_text(encoding="utf-8")
    assert sum(day.year == 2026 for day in days) == 25  # 17 national holidays and 8 cuti bersama
    for day in (date(2026, 1, 1), date(2026, 3, 21), date(2026, 8, 17), date(2026, 12, 25), date(2027, 1, 1)):
        assert day in days


# --- warnings and breaches ---------------------------------------------------------------------


def ticket(created: datetime, target: timedelta, cal: Calendar = ALWAYS, **changes) -> SlaTicket:
    paused = changes.pop("paused", timedelta(0))
    values = dict(number=12, status="open", created_at=created, due_at=sla.due(cal, created, target, paused),
                  target=target, paused=paused)
    values.update(changes)
    return SlaTicket(**values)


def test_warning_once_then_breach_once():
    t = ticket(wib(25, 10), H)
    assert sla.check(t, wib(25, 10, 44), ALWAYS, 0.75) is None
    assert sla.check(t, wib(25, 10, 45), ALWAYS, 0.75) == "warning"
    warned = ticket(wib(25, 10), H, warned_for_due=t.due_at)
    assert sla.check(warned, wib(25, 10, 50), ALWAYS, 0.75) is None
    assert sla.check(warned, wib(25, 11), ALWAYS, 0.75) == "breach"
    breached = ticket(wib(25, 10), H, warned_for_due=t.due_at, breached_for_due=t.due_at)
    assert sla.check(breached, wib(26, 11), ALWAYS, 0.75) is None


def test_late_check_sends_the_breach_not_the_warning():
    assert sla.check(ticket(wib(25, 10), H), wib(25, 12), ALWAYS, 0.75) == "breach"


def test_new_due_after_a_category_change_allows_a_new_warning():
    old = ticket(wib(25, 10), D)  # permasalahan: warned at 18 h
    assert sla.check(old, wib(26, 4), ALWAYS, 0.75) == "warning"
    longer = ticket(wib(25, 10), 3 * D, warned_for_due=old.due_at)  # #kategori gangguan
    assert sla.check(longer, wib(26, 4), ALWAYS, 0.75) is None  # 20 h of 72 h
    assert sla.check(longer, wib(27, 16), ALWAYS, 0.75) == "warning"  # 54 h of 72 h, a new due time
    shorter = ticket(wib(25, 10), H, warned_for_due=old.due_at)  # #kategori permintaan
    assert sla.check(shorter, wib(26, 4), ALWAYS, 0.75) == "breach"


def test_closed_and_waiting_tickets_are_not_checked():
    for status in ("closed", "waiting"):
        assert sla.check(ticket(wib(25, 10), H, status=status), wib(27, 10), ALWAYS, 0.75) is None
    for status in ("new", "escalated"):
        assert sla.check(ticket(wib(25, 10), H, status=status), wib(27, 10), ALWAYS, 0.75) == "breach"


def test_warning_leaves_the_pause_out():
    t = ticket(wib(25, 10), H, paused=2 * H)
    assert t.due_at == wib(25, 13)
    assert sla.check(t, wib(25, 12, 40), ALWAYS, 0.75) is None  # 2 h 40 since creation, 40 min counted
    assert sla.check(t, wib(25, 12, 45), ALWAYS, 0.75) == "warning"


def test_warning_counts_office_time_only():
    t = ticket(wib(27, 15, 30), H, OFFICE)  # Friday 15:30, due Monday 08:30
    assert local(t.due_at) == datetime(2026, 11, 30, 8, 30)
    assert sla.check(t, wib(28, 12), OFFICE, 0.75) is None  # 20 hours later, 30 minutes counted
    assert sla.check(t, wib(30, 8, 14), OFFICE, 0.75) is None
    assert sla.check(t, wib(30, 8, 15), OFFICE, 0.75) == "warning"
    assert sla.check(t, wib(30, 8, 30), OFFICE, 0.75) == "breach"


def test_missing_due_time_is_computed_from_the_target():
    t = ticket(wib(27, 15, 55), H, OFFICE, due_at=None)
    assert local(sla.effective_due(t, OFFICE)) == datetime(2026, 11, 30, 8, 55)
    assert sla.check(t, wib(30, 8, 54), OFFICE, 0.75) == "warning"
    assert sla.check(t, wib(30, 8, 55), OFFICE, 0.75) == "breach"


def test_the_clock_stops_for_closed_and_waiting_tickets_only():
    assert [s.value for s in Status if not sla.clock_runs(s)] == ["waiting", "closed"]
    assert not sla.clock_runs("closed") and sla.clock_runs("escalated")  # plain column values too
