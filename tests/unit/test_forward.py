"""core.forward: a staff member's forward of a citizen's mail -> the citizen's address, subject and text."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mailticket.core.forward import as_report, attached_message, forwarded
from mailticket.core.parse import parse
from tests.conftest import make_mail

BODY = "Selamat siang, kami tidak bisa upload dokumen penawaran."
FORWARDS = {
    "gmail": ("Fwd: Upload gagal", f"""Tolong dibantu.

---------- Forwarded message ---------
From: Andi Wijaya <andi@vendor.co.id>
Date: Sel, 24 Nov 2026 pukul 09.12
Subject: Upload gagal
To: <rina@lampungprov.go.id>


{BODY}
"""),
    "gmail-id": ("Fwd: Upload gagal", f"""---------- Pesan terusan ---------
Dari: Andi Wijaya <andi@vendor.co.id>
Tanggal: Sel, 24 Nov 2026 pukul 09.12
Subjek: Upload gagal
Kepada: <rina@lampungprov.go.id>

{BODY}
"""),
    "outlook": ("FW: Upload gagal", f"""Mohon ditindaklanjuti.

________________________________
From: Andi Wijaya [mailto:andi@vendor.co.id]
Sent: Tuesday, November 24, 2026 9:12 AM
To: Rina <rina@lampungprov.go.id>
Subject: Upload gagal

{BODY}
"""),
    "outlook-id": ("TR: Upload gagal", f"""-----Original Message-----
Dari: "Andi Wijaya" <andi@vendor.co.id>
Dikirim: Selasa, 24 November 2026 09.12
Kepada: rina@lampungprov.go.id
Subjek: Upload gagal

{BODY}
"""),
    "apple": ("Fwd: Upload gagal", f"""Begin forwarded message:

From: Andi Wijaya <andi@vendor.co.id>
Subject: Upload gagal
Date: 24 November 2026 at 09.12.00 WIB
To: rina@lampungprov.go.id

{BODY}
"""),
    "subject-only": ("Fwd: Upload gagal", f"""From: Andi Wijaya <andi@vendor.co.id>
Subject: Upload gagal

{BODY}
"""),
}


def staff(subject: str, body: str):
    return parse(make_mail(subject, body, sender="Rina <rina@lampungprov.go.id>"))


@pytest.mark.parametrize("name", list(FORWARDS))
def test_forward_formats(name):
    subject, body = FORWARDS[name]
    found = forwarded(staff(subject, body))
    assert found is not None
    assert (found.sender.email, found.sender.name, found.subject) == ("andi@vendor.co.id", "Andi Wijaya",
                                                                      "Upload gagal")
    assert found.text == BODY
    report = as_report(staff(subject, body), found)
    assert (report.sender.email, report.subject, report.text, report.cc, report.reply_to) == (
        "andi@vendor.co.id", "Upload gagal", BODY, (), ())


@pytest.mark.parametrize(("subject", "body"), [
    ("Server lambat", "Server SPSE lambat pagi ini.\nFrom: kemarin sudah begini."),
    ("Fwd: tanpa alamat", "---------- Forwarded message ---------\nFrom: Andi Wijaya\nSubject: x\n\nisi"),
    ("Laporan", "Rapat jam 10.\n\n________________________________\nSalam, Rina"),
])
def test_not_a_forward(subject, body):
    assert forwarded(staff(subject, body)) is None


def test_note_above_the_marker_is_the_forwarders_words():
    subject, body = FORWARDS["gmail"]
    assert forwarded(staff(subject, body)).note == "Tolong dibantu."


def test_message_rfc822_attachment():
    inner = EmailMessage()
    inner["From"] = "Andi Wijaya <andi@vendor.co.id>"
    inner["Subject"] = "Upload gagal"
    inner.set_content(BODY + "\n")
    outer = EmailMessage()
    outer["From"] = "Rina <rina@lampungprov.go.id>"
    outer["Subject"] = "FW: Upload gagal"
    outer.set_content("Terlampir.\n")
    outer.add_attachment(inner)
    data = attached_message(outer.as_bytes())
    found = forwarded(parse(outer.as_bytes()), parse(data))
    assert (found.sender.email, found.subject, found.text, found.note) == (
        "andi@vendor.co.id", "Upload gagal", BODY, "Terlampir.")
    assert attached_message(make_mail("x", "y")) is None
