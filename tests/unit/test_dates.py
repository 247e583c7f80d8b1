"""Dates a report names, against the day it was written (core/dates.py), and what the rules make of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mailticket.core import classify
from mailticket.core.dates import named_dates, signs
from mailticket.core.parse import parse
from mailticket.types import Category

WIB = timezone(timedelta(hours=7))
MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=WIB)


@pytest.mark.parametrize(("text", "named"), [
    ("batas pemasukan 8 Desember 2026 pukul 10.00", "2026-12-08"),
    ("ditutup tgl 9/12", "2026-12-09"),
    ("tanggal 9-12-2026", "2026-12-09"),
    ("tgl. 10.12.26", "2026-12-10"),
    ("paling lambat 23 des", "2026-12-23"),
    ("tender tanggal 28 kami ikut", "2026-12-28"),
    ("tanggal 3", "2027-01-03"),  # the 3rd has passed this month: the next one
    ("pengumuman 5 Jan", "2027-01-05"),  # no year: the nearest January 5
    ("sejak 5 Desember error", "2026-12-05"),
    ("tanggal 9 desember", "2026-12-09"),
])
def test_dates_as_people_write_them(text, named):
    assert [str(when) for when, _said in named_dates(text, MONDAY.date())] == [named]


@pytest.mark.parametrize("text", [
    "NIP 19800101 200501 1 001", "versi 2.1.3", "Rp 1.500.000", "jam 10.12 tadi", "halaman 1/2",
    "paket 12/2026", "tanggal 31 februari", "kode 9-12",
])
def test_numbers_that_only_look_like_dates_name_none(text):
    assert named_dates(text, MONDAY.date()) == []


def test_the_nearest_date_ahead_gives_the_sign():
    assert signs("batas 8 Desember 2026", MONDAY) == (("date_soon", "8 Desember 2026 (1 day after the mail)"),)
    assert signs("dibuka 9/12/2026", MONDAY)[0][0] == "date_soon"  # two days
    assert signs("batas 12 Desember", MONDAY) == ()  # five days: neither
    assert signs("batas 16 Desember", MONDAY)[0] == ("date_far", "16 Desember (9 days after the mail)")
    assert signs("sejak 5 Desember; batas 16 Desember; rapat 8 Desember", MONDAY)[0][0] == "date_soon"
    assert signs("sejak 1 Desember gagal login", MONDAY) == ()  # only a past date
    assert signs("batas 8 Desember", None) == ()  # no Date header: no day to count from


def mail(text: str, written: datetime) -> bytes:
    return (f"From: Vendor <cv.maju@gmail.com>\r\nTo: provlampunglpse@gmail.com\r\n"
            f"Subject: Upload penawaran gagal\r\nDate: {written.strftime('%a, %d %b %Y %H:%M:%S +0700')}\r\n"
            f"Message-ID: <d@x.id>\r\n\r\n{text}\r\n").encode()


UPLOAD = ("Selamat siang, upload dokumen penawaran paket rehabilitasi gedung gagal terus, muncul error. "
          "Batas pemasukan penawaran tanggal 9 Desember 2026.")


@pytest.mark.parametrize(("written", "expected"), [
    (MONDAY, Category.PERMASALAHAN),  # due in two days
    (MONDAY - timedelta(days=14), Category.GANGGUAN),  # due in 16 days: a fault, nothing at hand yet
])
def test_a_fault_with_the_deadline_at_hand_or_weeks_away(shipped, written, expected):
    data = parse(mail(UPLOAD, written))
    seen = classify.scan(data.subject, data.text, shipped)
    seen = replace(seen, signs=classify.signs(data, shipped, ["go.id"], tz=WIB))
    assert classify.classify(seen, shipped, Category.PERMINTAAN).category is expected


def test_days_count_from_the_writers_own_day(shipped):
    early = datetime(2026, 12, 8, 5, 0, tzinfo=WIB)  # still 7 December in UTC
    assert signs("batas 10 Desember", early) == (("date_soon", "10 Desember (2 days after the mail)"),)
    assert signs("batas 10 Desember", early.astimezone(UTC)) == ()  # counted from UTC it would be 3 days
    parsed = parse(mail("batas 10 Desember", early))  # parse gives the Date in UTC: the helpdesk's zone counts
    assert classify.signs(parsed, shipped, (), tz=WIB) == (("date_soon", "10 Desember (2 days after the mail)"),)
