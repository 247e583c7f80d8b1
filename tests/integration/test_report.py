"""The monthly report's HTML on a phone: rendered in headless Chromium at 390 px, no sideways scroll,
the bars drawn."""

from __future__ import annotations

from mailticket.config import DEFAULT_TEMPLATES, Sla
from mailticket.core.report import build_report
from mailticket.core.sla import Calendar
from mailticket.outgoing.render import Renderer
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
