"""The monthly report's HTML on a phone: rendered in headless Chromium at 390 px, no sideways scroll,
the bars drawn. And the scheduler sending last month's report once, on its day, across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailticket.clock import FixedClock
from mailticket.config import DEFAULT_TEMPLATES, Sla
from mailticket.core.report import build_report
from mailticket.core.sla import Calendar
from mailticket.outgoing.render import Renderer
from tests.conftest import make_mail
from tests.integration.mailcheck import app_for, feed, make_desk, query, sent, staff_mail
from tests.servers.browser import overflow
from tests.unit.test_report import FIRST, NOV, TARGETS, TICKETS, WIB, t


def test_report_html_fits_a_phone(tmp_path):
    long_name = "petugas.dengan.alamat.yang.sangat.panjang.sekali@lampungprov.go.id"
    tickets = [*TICKETS, t(9, assignee=long_name, created=NOV.start.replace(day=4, hour=9),
                           first=NOV.start.replace(day=4, hour=9, minute=5), closed=NOV.start.replace(day=4, hour=9, minute=30))]
    report = build_report(tickets, NOV, Calendar(), TARGETS, FIRST, kept={"spam": 12})
    renderer = Renderer(DEFAULT_TEMPLATES, helpdesk_name="Helpdesk LPSE Provinsi Lampung",
                        helpdesk_address="provlampunglpse@gmail.com", tz=WIB, targets=Sla().targets)
    rendered = renderer.report(report=report)
    assert "<script" not in rendered.html and "http" not in rendered.html.replace("http-equiv", "")
    assert rendered.html.count('class="bar"') >= 4  # a bar per category and staff member with a figure
    assert "IKM 75,00 (C" in rendered.text and "Bulan November 2026" in rendered.text
    page = tmp_path / "report.html"
    page.write_text(rendered.html, encoding="utf-8")
    measures = overflow(page, screenshot=tmp_path / "report.png")
    assert not measures["overflows"], measures
    assert (tmp_path / "report.png").stat().st_size > 1000


# -- the scheduler sends last month's report once ------------------------------------------------------
# End to end on a real SQLite file and the directory outbox; the clock is moved by the test. The
# months are the helpdesk's (WIB, UTC+7): a ticket at 01:00 WIB on 1 November is still 31 October in
# UTC, and one at 03:00 WIB on 1 December is still 30 November in UTC.

REPORT_DESK = """
[staff]
members = [{ name = "rina", email = "rina@lampungprov.go.id" }]
coordinators = [
  { name = "koordinator", email = "koord@lampungprov.go.id" },
  { name = "kepala", email = "kepala@lampungprov.go.id" },
]
authserv_id = "mx.google.com"
[report]
day = 3
"""
COORDINATORS = {"koord@lampungprov.go.id", "kepala@lampungprov.go.id"}
# (moment in UTC, WIB month): when each report reached the helpdesk
ARRIVALS = [
    (datetime(2026, 10, 31, 15, 0, tzinfo=UTC), 10),  # 31 Oct 22:00 WIB
    (datetime(2026, 10, 31, 18, 0, tzinfo=UTC), 11),  # 1 Nov 01:00 WIB (31 Oct in UTC)
    (datetime(2026, 11, 25, 3, 0, tzinfo=UTC), 11),  # 25 Nov 10:00 WIB
    (datetime(2026, 11, 30, 16, 0, tzinfo=UTC), 11),  # 30 Nov 23:00 WIB
    (datetime(2026, 11, 30, 20, 0, tzinfo=UTC), 12),  # 1 Dec 03:00 WIB (30 Nov in UTC)
]


def reports(desk) -> list:
    return [mail for mail in sent(desk) if mail.kind == "report"]


def tick_at(desk, clock, app, moment: datetime) -> None:
    """At `moment`: two ticks of the running daemon, then one of a restarted daemon on the same database."""
    clock.advance(moment - clock.now())
    app.run_once()
    app.run_once()
    app_for(desk, clock).run_once()


def test_the_scheduler_sends_last_months_report_once_on_its_day_across_restarts(tmp_path):
    desk = make_desk(tmp_path, extra=REPORT_DESK)
    clock = FixedClock(ARRIVALS[0][0])
    app = app_for(desk, clock)
    for n, (moment, _month) in enumerate(ARRIVALS, 1):
        clock.advance(moment - clock.now())
        feed(app, desk, make_mail(f"Laporan {n}", f"Mohon bantuan, akun penyedia {n} terkunci.\n",
                                  sender=f"p{n}@example.co.id", msgid=f"<r{n}@example.co.id>"))
    clock.advance(timedelta(minutes=30))  # 1 Dec 03:30 WIB: staff closes LPSE#3 (received in November)
    feed(app, desk, staff_mail("#tutup\nSudah kami buka kuncinya.", number=3))
    created = [row["created_at"] for row in query(desk, "SELECT created_at FROM tickets ORDER BY number")]
    assert len(created) == len(ARRIVALS) and query(desk, "SELECT status FROM tickets WHERE number = 3") == [
        {"status": "closed"}]

    # 2 December (the day before [report] day 3): in the morning, and a minute before midnight WIB
    tick_at(desk, clock, app, datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    tick_at(desk, clock, app, datetime(2026, 12, 2, 16, 59, tzinfo=UTC))
    assert reports(desk) == []
    # 3 December 07:29 WIB: the day, but before the digest time (07:30)
    tick_at(desk, clock, app, datetime(2026, 12, 3, 0, 29, tzinfo=UTC))
    assert reports(desk) == []

    tick_at(desk, clock, app, datetime(2026, 12, 3, 0, 30, tzinfo=UTC))  # 07:30 WIB
    [november] = reports(desk)
    assert november.recipients == COORDINATORS
    assert set(november.envelope) == COORDINATORS
    subject = str(november.msg["Subject"])
    assert subject.startswith("Laporan bulanan") and subject.endswith("November 2026"), subject
    text = november.text()
    assert "Bulan November 2026" in text
    received = sum(month == 11 for _moment, month in ARRIVALS)  # 3, by the WIB month, not the UTC one
    assert f"- Tiket diterima: {received} (1)" in text  # (October: 1)
    assert "- Tiket ditutup: 0 (0)" in text  # LPSE#3 was closed on 1 December WIB
    assert f"- Masih terbuka di akhir bulan: {received + 1}" in text  # and October's, still open
    assert query(desk, "SELECT value FROM meta WHERE key = 'report:last_month'") == [{"value": "2026-11"}]

    # restarts on the same day and the next: no second report
    tick_at(desk, clock, app, datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    tick_at(desk, clock, app, datetime(2026, 12, 4, 1, 0, tzinfo=UTC))
    assert len(reports(desk)) == 1
    assert query(desk, "SELECT count(*) AS n FROM outbox WHERE kind = 'report'") == [{"n": 1}]

    # January: 2 January is not yet the day; 3 January brings December's report, once
    tick_at(desk, clock, app, datetime(2027, 1, 2, 9, 0, tzinfo=UTC))
    assert len(reports(desk)) == 1
    tick_at(desk, clock, app, datetime(2027, 1, 3, 1, 0, tzinfo=UTC))
    tick_at(desk, clock, app, datetime(2027, 1, 4, 1, 0, tzinfo=UTC))
    first, december = reports(desk)
    assert first.path == november.path
    assert december.recipients == COORDINATORS
    assert str(december.msg["Subject"]).endswith("Desember 2026")
    text = december.text()
    assert "Bulan Desember 2026" in text
    assert f"- Tiket diterima: 1 ({received})" in text  # the 1 December 03:00 WIB report
    assert "- Tiket ditutup: 1 (0)" in text  # LPSE#3, closed in December
    assert query(desk, "SELECT value FROM meta WHERE key = 'report:last_month'") == [{"value": "2026-12"}]
