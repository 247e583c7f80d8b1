"""Issue 14, points 4, 5, 8, 9, 10 and the staff help, end to end (real pipeline, SQLite file, directory
outbox): failed-authentication staff mail, internal text, forwards, #daftar, #gabung, #bantuan, and the
DMARC lines of `mailticket check`. The rows behind them are tested in tests/unit/test_decide.py."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from mailticket.cli.check import Report, check_dmarc
from mailticket.config import load
from tests.conftest import Helpdesk, make_mail
from tests.integration.mailcheck import PASS, app_for, feed, make_desk, query, sent, staff_mail

REPORT = "Selamat pagi, saya tidak bisa login ke SPSE sejak kemarin, muncul error terus. Mohon bantuan.\n"
RINA = "rina@lampungprov.go.id"
SARI = "sari@lampungprov.go.id"
NO_DMARC = "mx.google.com; dkim=none; spf=pass smtp.mailfrom=lampungprov.go.id; dmarc=none header.from=lampungprov.go.id"


@pytest.fixture
def desk(tmp_path) -> Helpdesk:
    return make_desk(tmp_path)


@pytest.fixture
def app(desk):
    return app_for(desk)


def report(n: int = 1, sender: str = "Budi <budi@example.co.id>", subject: str = "Tidak bisa login") -> bytes:
    return make_mail(subject, REPORT, sender=sender, msgid=f"<report-{n}@example.co.id>")


def show(desk: Helpdesk, token: str) -> dict:
    return desk.json("tickets", "show", token)


def of_kind(desk: Helpdesk, kind: str):
    return [s for s in sent(desk) if s.kind == kind]


def new_staff_mail(text: str, subject: str = "Permintaan", sender: str = f"Rina <{RINA}>",
                   auth: str | None = PASS) -> bytes:
    msg = EmailMessage()
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = sender
    msg["To"] = "provlampunglpse@gmail.com"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="lampungprov.go.id")
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0700"
    msg.set_content(text)
    return msg.as_bytes()


# -- point 4: a staff mail that fails authentication changes nothing -----------------------------------


def test_failed_authentication_changes_nothing_and_explains_once_to_the_staff_address(desk, app):
    feed(app, desk, report())
    before = show(desk, "LPSE#1")
    notifications = len(of_kind(desk, "notification"))
    forged = [staff_mail("#tutup\nSudah selesai.", auth=auth)
              for auth in (None, NO_DMARC, PASS.replace("mx.google.com", "evil.example"))]
    feed(app, desk, *forged)
    after = show(desk, "LPSE#1")
    assert (after["status"], after["due_at"], after["closed_at"]) == (before["status"], before["due_at"], None)
    assert [m["kind"] for m in after["messages"]].count("unverified") == 3 + 1  # three in, one explanation out
    assert [e["type"] for e in after["events"]].count("unverified") == 3
    assert len(of_kind(desk, "notification")) == notifications  # nobody else hears of it
    assert of_kind(desk, "closing") == [] and of_kind(desk, "relay") == []
    [told] = of_kind(desk, "unverified")  # once within the hour, to that address only
    assert told.recipients == {RINA}
    text = told.text()
    assert "Authentication-Results" in text and "mx.google.com" in text and "DMARC" in text


def test_failed_authentication_names_dmarc_none(desk, app):
    feed(app, desk, report(), staff_mail("#tutup", auth=NO_DMARC))
    [told] = of_kind(desk, "unverified")
    assert "tidak mempunyai kebijakan DMARC (dmarc=none)" in told.text()


def test_unverified_new_staff_mail_opens_nothing_and_is_kept(desk, app):
    [row] = feed(app, desk, new_staff_mail("Server SPSE lambat.", auth=None))
    assert (row["state"], row["kind"]) == ("kept", "unverified")
    assert desk.json("tickets", "list", "--json") == []
    [told] = of_kind(desk, "unverified")
    assert told.recipients == {RINA} and "Tidak ada tiket yang dibuat" in told.text()
    assert [m["kind"] for m in desk.json("mail", "list", "--kind", "unverified", "--json")] == ["unverified"]


def test_check_reports_dmarc_per_staff_domain_without_failing(desk):
    settings = load(str(desk.config))
    report_ = Report()
    check_dmarc(settings, report_, lookup=lambda d: "v=DMARC1; p=none")
    assert report_.ok and report_.lines == ["ok    DMARC lampungprov.go.id: v=DMARC1; p=none"]
    report_ = Report()
    check_dmarc(settings, report_, lookup=lambda d: "")
    assert report_.ok and report_.lines[0] == "WARN  DMARC lampungprov.go.id: no policy at _dmarc.lampungprov.go.id"

    def offline(domain):
        raise OSError("network unreachable")

    report_ = Report()
    check_dmarc(settings, report_, lookup=offline)
    assert report_.ok and report_.lines == ["WARN  DMARC lampungprov.go.id: could not check (network unreachable)"]


# -- point 5: internal text stays internal ------------------------------------------------------------


@pytest.mark.parametrize("tag", ["#tugaskan sari", "#ambil", "#eskalasi", "#kategori permintaan"])
def test_text_beside_an_internal_tag_never_reaches_the_reporter(desk, app, tag):
    feed(app, desk, report(), staff_mail(f"{tag}\nSari, tolong dicek log server ya"))
    to_reporter = [s for s in sent(desk) if "budi@example.co.id" in s.recipients]
    assert [s.kind for s in to_reporter] == ["ack"]
    assert "log server" in "\n".join(m.get("text", "") for m in query(
        desk, "SELECT text FROM messages WHERE direction = 'in'"))


# -- point 8: a staff member forwards a citizen's mail -------------------------------------------------

GMAIL = """Tolong dibantu ya, ini dari vendor.

---------- Forwarded message ---------
From: Andi Wijaya <andi@vendor.co.id>
Date: Sel, 24 Nov 2026 pukul 09.12
Subject: Tidak bisa upload dokumen penawaran
To: Rina <rina@lampungprov.go.id>


Selamat siang, kami tidak bisa upload dokumen penawaran di SPSE, selalu gagal.
"""
OUTLOOK = """Mohon ditindaklanjuti.

________________________________
From: Andi Wijaya [mailto:andi@vendor.co.id]
Sent: Tuesday, November 24, 2026 9:12 AM
To: Rina <rina@lampungprov.go.id>
Subject: Tidak bisa upload dokumen penawaran

Selamat siang, kami tidak bisa upload dokumen penawaran di SPSE, selalu gagal.
"""
OUTLOOK_ID = """-----Original Message-----
Dari: "Andi Wijaya" <andi@vendor.co.id>
Dikirim: Selasa, 24 November 2026 09.12
Kepada: rina@lampungprov.go.id
Subjek: Tidak bisa upload dokumen penawaran

Selamat siang, kami tidak bisa upload dokumen penawaran di SPSE, selalu gagal.
"""


def forward_as_attachment() -> bytes:
    inner = EmailMessage()
    inner["From"] = "Andi Wijaya <andi@vendor.co.id>"
    inner["To"] = RINA
    inner["Subject"] = "Tidak bisa upload dokumen penawaran"
    inner["Message-ID"] = "<orig@vendor.co.id>"
    inner.set_content("Selamat siang, kami tidak bisa upload dokumen penawaran di SPSE, selalu gagal.\n")
    outer = EmailMessage()
    outer["Authentication-Results"] = PASS
    outer["From"] = f"Rina <{RINA}>"
    outer["To"] = "provlampunglpse@gmail.com"
    outer["Subject"] = "FW: Tidak bisa upload dokumen penawaran"
    outer["Message-ID"] = make_msgid(domain="lampungprov.go.id")
    outer.set_content("Terlampir e-mail vendor.\n")
    outer.add_attachment(inner)
    return outer.as_bytes()


@pytest.mark.parametrize(("data"), [
    new_staff_mail(GMAIL, "Fwd: Tidak bisa upload dokumen penawaran"),
    new_staff_mail(OUTLOOK, "FW: Tidak bisa upload dokumen penawaran"),
    new_staff_mail(OUTLOOK_ID, "TR: Tidak bisa upload dokumen penawaran"),
    forward_as_attachment(),
], ids=["gmail", "outlook", "outlook-id", "rfc822"])
def test_a_staff_forward_opens_a_ticket_for_the_original_sender(desk, app, data):
    feed(app, desk, data)
    ticket = show(desk, "LPSE#1")
    assert (ticket["reporter"], ticket["subject"]) == ("andi@vendor.co.id", "Tidak bisa upload dokumen penawaran")
    [by] = [e for e in ticket["events"] if e["type"] == "forwarded_by"]
    assert by["by"] == RINA
    [ack] = of_kind(desk, "ack")
    assert ack.recipients == {"andi@vendor.co.id"} and "[LPSE#1]" in str(ack.msg["Subject"])
    notes = of_kind(desk, "notification")
    assert notes and "tidak bisa upload dokumen penawaran" in notes[0].text()


def test_an_unverified_forward_opens_nothing(desk, app):
    feed(app, desk, new_staff_mail(GMAIL, "Fwd: x", auth=None))
    assert desk.json("tickets", "list", "--json") == []
    assert [s.kind for s in sent(desk)] == ["unverified"]


# -- point 9: #daftar ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["#daftar", "#list"])
def test_list_answers_with_open_tickets_and_opens_nothing(desk, app, tag):
    feed(app, desk, report(1), report(2, "Ani <ani@example.co.id>", "Lupa password"),
         report(3, "Joko <joko@example.net>", "Akun terkunci"))
    feed(app, desk, staff_mail("#ambil", number=1), staff_mail("#tugaskan sari", number=3))
    [row] = feed(app, desk, new_staff_mail(f"{tag}\n"))
    assert (row["state"], row["kind"]) == ("kept", "command")
    assert len(desk.json("tickets", "list", "--json")) == 3
    [answer] = of_kind(desk, "list")
    assert answer.recipients == {RINA}
    text = answer.text()
    assert "LPSE#1" in text and "LPSE#2" in text and "LPSE#3" not in text  # Sari's is not Rina's
    assert "Lupa password" in text and "WIB" in text and ("sisa" in text or "terlambat" in text)


# -- point 10: #gabung ---------------------------------------------------------------------------------


def two_tickets(desk: Helpdesk, app) -> None:
    feed(app, desk, report(1), report(2, "Ani <ani@example.co.id>", "Login SPSE gagal"))


def test_merge_moves_everything_closes_and_tells_the_reporter_once(desk, app):
    two_tickets(desk, app)
    feed(app, desk, staff_mail("#gabung LPSE#1\nsama dengan laporan Budi", number=2))
    old, new = show(desk, "LPSE#2"), show(desk, "LPSE#1")
    assert (old["status"], old["merged_into"]) == ("closed", "LPSE#1")
    assert new["merged_into"] is None and new["status"] != "closed"
    old_kinds = [m["kind"] for m in old["messages"]]
    assert "merged" in old_kinds and not {"report", "ack", "staff_reply"} & set(old_kinds)  # the rest moved
    assert [m["kind"] for m in new["messages"]].count("report") == 2
    assert "merged_from" in [e["type"] for e in new["events"]]
    assert "merged" in [e["type"] for e in old["events"]]
    [told] = of_kind(desk, "merged")
    assert told.recipients == {"ani@example.co.id"} and "LPSE#1" in told.text()
    # the old reporter's reply, by token or to the notice, lands on LPSE#1
    feed(app, desk, make_mail("Re: [LPSE#2] Login SPSE gagal", "Masih gagal.", sender="Ani <ani@example.co.id>"),
         make_mail("Re: Tiket digabung", "Sudah bisa?", sender="Ani <ani@example.co.id>",
                   in_reply_to=told.msg["Message-ID"]))
    assert [m["kind"] for m in show(desk, "LPSE#1")["messages"]].count("reply") == 2
    assert [m["kind"] for m in show(desk, "LPSE#2")["messages"]] == old_kinds
    assert "ani@example.co.id" in query(desk, "SELECT cc FROM tickets WHERE number = 1")[0]["cc"]
    # a merged ticket cannot be merged again: told once
    feed(app, desk, staff_mail("#gabung LPSE#1", number=2))
    assert len(of_kind(desk, "merged")) == 1


@pytest.mark.parametrize(("target", "why"), [("LPSE#9", "tidak ditemukan"), ("LPSE#2", "dirinya sendiri")])
def test_merge_to_a_bad_ticket_changes_nothing(desk, app, target, why):
    two_tickets(desk, app)
    feed(app, desk, staff_mail(f"#gabung {target}", number=2))
    assert show(desk, "LPSE#2")["status"] == "new" and show(desk, "LPSE#2")["merged_into"] is None
    [error] = of_kind(desk, "error")
    assert why in error.text() and of_kind(desk, "merged") == []


def test_merge_to_an_already_merged_ticket_is_refused(desk, app):
    two_tickets(desk, app)
    feed(app, desk, report(3, "Joko <joko@example.net>", "Akun terkunci"))
    feed(app, desk, staff_mail("#gabung LPSE#1", number=2))
    before = show(desk, "LPSE#3")
    # LPSE#2 is merged: its token stands for LPSE#1 now, so name it by number from ticket 3
    feed(app, desk, staff_mail("#gabung LPSE#2", number=3))
    assert show(desk, "LPSE#3")["status"] == before["status"]
    assert "sudah digabung ke LPSE#1" in of_kind(desk, "error")[0].text()


# -- #bantuan --------------------------------------------------------------------------------------------


def test_help_in_a_new_mail_and_in_a_ticket_reply(desk, app):
    [row] = feed(app, desk, new_staff_mail("#bantuan"))
    assert row["kind"] == "command" and desk.json("tickets", "list", "--json") == []
    feed(app, desk, report(), staff_mail("#help", number=1))
    helps = of_kind(desk, "help")
    assert [h.recipients for h in helps] == [{RINA}, {RINA}]
    text = helps[0].text()
    for tag in ("#tutup", "#gabung", "#daftar", "#bantuan", "#tugaskan", "#catatan"):
        assert tag in text
    assert not any(line.strip().startswith("#") for line in text.splitlines())  # quoted back: no commands
    assert show(desk, "LPSE#1")["status"] == "new" and of_kind(desk, "relay") == []
