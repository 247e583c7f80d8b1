"""Every HTML mail fits a phone: rendered in headless Chromium at 390x844, nothing scrolls sideways.

A long URL in the subject, a long unbroken word, a long address: each must wrap inside its table
cell instead of pushing the table (and the deadline in it) past the screen. Chromium is Debian's
`chromium`, installed by tests/servers/install.sh; these tests never skip.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.servers.browser import PHONE, overflow
from tests.unit.test_render import (
    DIGEST_HEALTH,
    DIGEST_NOW,
    TEMPLATES,
    closed_ticket,
    digest_context,
    digest_ticket,
    make_renderer,
    many_overdue,
    ticket,
)

LONG_URL = ("https://spse.lampungprov.go.id/eproc4/lelang/98765432/pengumumanlelang?"
            "token=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789&ref=helpdesk-lpse")
LONG_WORD = "Pengadaan" * 12  # one word, no break opportunity
LONG_ADDRESS = "pejabat.pengadaan.barang.dan.jasa.kabupaten.lampung.selatan@lampungselatankab.go.id"


def _ack() -> str:
    t = ticket(subject=f"Tidak bisa buka {LONG_URL}", reporter_name=LONG_WORD, reporter=LONG_ADDRESS)
    return make_renderer().ack(ticket=t, topics=("registration",), size_limit=26214400).html


def _digest() -> str:
    tickets = [
        digest_ticket(subject=f"Tautan {LONG_URL}", due_at=DIGEST_NOW - timedelta(hours=3), assignee=LONG_WORD),
        digest_ticket(number=13, token="LPSE#13", subject=LONG_WORD, due_at=DIGEST_NOW + timedelta(hours=2)),
        digest_ticket(number=14, token="LPSE#14", subject=LONG_ADDRESS, category="permintaan",
                      created_at=DIGEST_NOW - timedelta(days=9)),
        closed_ticket(20, "gangguan", on_time=True),
        closed_ticket(21, "permintaan", on_time=False),
        digest_ticket(number=22, token="LPSE#22", subject=LONG_URL, status="closed",
                      closed_at=DIGEST_NOW - timedelta(hours=12)),  # closed yesterday, unrated
        *many_overdue(30),  # the list is cut at 20 with "dan 10 lainnya" and the command
    ]
    context = digest_context(tickets, failed=3, quarantined=2, health=DIGEST_HEALTH, survey=True,
                             refused=[(LONG_ADDRESS, "550 5.1.1 " + LONG_WORD)])
    return make_renderer().digest(context=context).html


def _report() -> str:
    from mailticket.core.report import build_report
    from mailticket.core.sla import Calendar
    from tests.unit.test_report import FIRST, NOV, TARGETS, TICKETS, t

    day = NOV.start.replace(day=4, hour=9)
    tickets = [*TICKETS, t(9, assignee=LONG_WORD, created=day, first=day + timedelta(minutes=5),
                           closed=day + timedelta(minutes=30))]
    report = build_report(tickets, NOV, Calendar(), TARGETS, FIRST, kept={"spam": 12})
    return make_renderer().report(report=report).html


# Each HTML template and how to render it with long words. A new HTML template must be added here.
RENDER = {"ack.html": _ack, "digest.html": _digest, "report.html": _report}


def html_templates() -> list[str]:
    return sorted(p.name for p in TEMPLATES.glob("*.html") if not p.name.startswith("_"))


def test_every_html_template_is_measured():
    unmeasured = sorted(set(html_templates()) - set(RENDER))
    assert not unmeasured, f"add a renderer call with long words for {unmeasured} to RENDER"


@pytest.mark.parametrize("name", sorted(RENDER))
def test_html_mail_fits_a_phone(name, tmp_path: Path):
    html = RENDER[name]()
    assert LONG_WORD in html or LONG_URL in html
    shot = tmp_path / f"{name}.png"
    measured = overflow(html, *PHONE, screenshot=shot)
    assert measured["innerWidth"] == PHONE[0], measured
    assert measured["scrollWidth"] <= measured["innerWidth"], (
        f"{name} scrolls sideways on a 390 px screen: {measured}; screenshot {shot}")


def test_the_browser_sees_an_overflow_when_there_is_one():
    """The measure is not vacuous: an unbreakable word in a plain table overflows."""
    measured = overflow(f"<table><tr><td>{LONG_WORD}</td></tr></table>", *PHONE)
    assert measured["overflows"] and measured["scrollWidth"] > PHONE[0]

