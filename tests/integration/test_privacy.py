"""Privacy: what reaches a reporter, on a real SQLite file with the directory outbox (every mail read back).

Staff addresses (unless `[staff] disclose_address`) and internal notes never reach a reporter, and
one reporter never sees another's ticket: a stranger carrying a ticket's token is recorded on it but
receives none of its mail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailticket.clock import FixedClock
from mailticket.db.session import transaction
from tests.conftest import make_mail
from tests.integration.mailcheck import (
    COORDINATOR,
    STAFF,
    STAFF_TOML,
    app_for,
    feed,
    make_desk,
    query,
    sent,
    staff_mail,
)

REPORT = "Selamat pagi, saya gk bisa login ke SPSE sejak tadi pagi, error 500. NPWP kami 01.234.567.8.\n"
BUDI, ATASAN = "budi@example.co.id", "atasan@example.co.id"
INSIDE = (*STAFF, COORDINATOR)
SECRETS = ("RAHASIA-1", "RAHASIA-2", "RAHASIA-3", "RAHASIA-4", "RAHASIA-5")

QUOTED_OUTLOOK = """

________________________________
From: Helpdesk LPSE <provlampunglpse@gmail.com>
Sent: Rabu, 25 November 2026 10:00
To: rina@lampungprov.go.id; sari@lampungprov.go.id
Subject: [LPSE#1] Tidak bisa login

Tiket baru [LPSE#1] Tidak bisa login
"""
QUOTED_GMAIL = """

Pada Rab, 25 Nov 2026 pukul 10.00 Sari <sari@lampungprov.go.id> menulis:
> #catatan RAHASIA-5 sudah dicek
> Pelapor: Budi <budi@example.co.id>
"""
SIGNATURE = "\n-- \nRina Wulandari\nStaf Helpdesk LPSE\nrina@lampungprov.go.id | 0721-123456\n"
HTML_REPLY = ('<div dir="ltr">Mohon coba lagi setelah pukul 13.00.</div><div>--<br>Sari<br>'
              'sari@lampungprov.go.id</div><div class="gmail_quote"><div>Pada Rab, Rina '
              '&lt;rina@lampungprov.go.id&gt; menulis:</div><blockquote>#catatan RAHASIA-5</blockquote>'
              '</div>')


def to_reporters(desk, *reporters):
    return [m for m in sent(desk) if m.recipients & set(reporters)]


def whole(mail) -> str:
    """Everything a reader of the mail could see: raw headers, decoded headers, decoded text."""
    headers = "\n".join(f"{k}: {v}" for k, v in mail.msg.items())
    return mail.data.decode("ascii", "replace") + headers + mail.text()


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))


def test_staff_addresses_and_internal_notes_never_reach_a_reporter(tmp_path, clock):
    desk = make_desk(tmp_path)
    app = app_for(desk, clock)
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<r1@budi.id>",
                              headers={"Cc": f"Atasan <{ATASAN}>"}),
         make_mail("Syarat pendaftaran", "Apa saja syaratnya?", sender="ani@yahoo.co.id"))  # stays open
    feed(app, desk,
         staff_mail("Silakan coba reset password melalui menu Lupa Password." + SIGNATURE + QUOTED_OUTLOOK),
         staff_mail("#catatan\nPassword server: RAHASIA-1, hubungi sari@lampungprov.go.id"),
         staff_mail("#catatan RAHASIA-2 vendor sedang memperbaiki\nRAHASIA-3 jangan diteruskan"),
         staff_mail("#tugaskan sari\n#kategori permasalahan\n"),
         staff_mail("", sender="Sari <sari@lampungprov.go.id>", html=HTML_REPLY),
         staff_mail("#tunggu\nMohon kirim tangkapan layar." + QUOTED_GMAIL),
         make_mail("Re: [LPSE#1] Tidak bisa login", "Terlampir tangkapan layarnya.", sender=f"Budi <{BUDI}>"),
         staff_mail("#eskalasi perlu koordinasi LKPP, kontak koord@lampungprov.go.id"),
         staff_mail("#tutupp\n"),  # an error reply: to the staff member only
         staff_mail("#catatan\nRAHASIA-4 akun dibuka manual\n#tutup",
                    sender="Koord <koord@lampungprov.go.id>"))
    clock.advance(timedelta(days=4))
    app.scheduler.tick()
    with transaction(app.factory) as session:
        app.scheduler.queue_digest(session, clock.now())
    app.send()
    kinds = [m.kind for m in to_reporters(desk, BUDI, ATASAN)]
    assert kinds == ["ack", "relay", "relay", "relay", "closing"]
    for mail in to_reporters(desk, BUDI, ATASAN):
        text = whole(mail)
        for address in INSIDE:
            assert address not in text, (mail.kind, address)
        for secret in SECRETS:
            assert secret not in text, (mail.kind, secret)
        assert mail.recipients <= {BUDI, ATASAN}
    relay = next(m for m in sent(desk) if m.kind == "relay")
    assert "Lupa Password" in relay.text() and "rina" in relay.text()  # named, not addressed
    internal = {"notification", "escalation", "error", "warning", "breach", "digest"}
    inside = [m for m in sent(desk) if m.kind in internal]
    assert {m.kind for m in inside} >= internal - {"warning"}
    assert all(m.recipients <= set(INSIDE) for m in inside)


def test_a_note_with_a_close_tag_closes_without_telling_the_note(tmp_path):
    desk = make_desk(tmp_path)
    app = app_for(desk)
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=BUDI))
    feed(app, desk, staff_mail("#catatan\nRAHASIA-4 akun dibuka manual lewat database\n#tutup"))
    assert query(desk, "SELECT status FROM tickets")[0]["status"] == "closed"
    [closing] = [m for m in sent(desk) if m.kind == "closing"]
    assert "RAHASIA-4" not in closing.text()


def test_disclose_address_names_the_staff_member_with_the_address(tmp_path):
    desk = make_desk(tmp_path, extra=STAFF_TOML + "disclose_address = true\n")
    app = app_for(desk)
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=BUDI))
    feed(app, desk, staff_mail("Silakan coba lagi."))
    [relay] = [m for m in sent(desk) if m.kind == "relay"]
    assert "rina <rina@lampungprov.go.id>" in relay.text()


def test_a_stranger_carrying_the_token_is_recorded_and_receives_none_of_the_tickets_mail(tmp_path):
    desk = make_desk(tmp_path)
    app = app_for(desk)
    eve = "eve@other.example"
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<r1@budi.id>",
                              headers={"Cc": ATASAN}),
         make_mail("Persyaratan pendaftaran", "Apa saja syarat pendaftaran? NIK 1871000000000001",
                   sender="Ani <ani@yahoo.co.id>", msgid="<r2@ani.id>"))
    feed(app, desk,
         make_mail("Re: [LPSE#1] Tidak bisa login", "Saya juga gk bisa login, tolong kirim ke saya.",
                   sender=eve, msgid="<e1@other.example>", headers={"Cc": "eve2@other.example"}),
         make_mail("Re: Tidak bisa login", "Ada kabar?", sender=eve, in_reply_to="<r1@budi.id>",
                   references="<r1@budi.id>"))
    ticket = query(desk, "SELECT id, reporter, cc FROM tickets WHERE number = 1")[0]
    received = query(desk, "SELECT sender, kind FROM messages WHERE ticket_id = ? AND direction = 'in'",
                     ticket["id"])
    # a stranger's mail is kept on the ticket as third_party (issue 15): recorded, changes nothing
    assert [(m["sender"], m["kind"]) for m in received] == [(BUDI, "report"), (eve, "third_party"),
                                                            (eve, "third_party")]
    assert ticket["reporter"] == BUDI and ticket["cc"] == ATASAN  # the stranger did not join the ticket
    feed(app, desk, staff_mail("Silakan coba reset password."), staff_mail("#tunggu\nMohon info NIK."),
         staff_mail("#tutup\nSudah kami aktifkan.", number=1), staff_mail("Syarat: KTP dan NPWP.", number=2))
    mails = sent(desk)
    assert not [m for m in mails if m.recipients & {eve, "eve2@other.example"}]
    for mail in mails:
        if mail.kind in ("relay", "closing", "ack"):
            number = "1" if BUDI in mail.recipients else "2"
            expected = {BUDI} if mail.kind == "ack" else {BUDI, ATASAN}  # the ack answers the sender alone
            assert mail.recipients == (expected if number == "1" else {"ani@yahoo.co.id"})
            assert f"[LPSE#{number}]" in str(mail.msg["Subject"])
            assert mail.msg["In-Reply-To"] == ("<r1@budi.id>" if number == "1" else "<r2@ani.id>")
    for mail in to_reporters(desk, BUDI, ATASAN):  # one reporter never sees the other's ticket
        assert "1871000000000001" not in mail.text() and "LPSE#2" not in whole(mail)
    for mail in to_reporters(desk, "ani@yahoo.co.id"):
        assert "01.234.567.8" not in mail.text() and "LPSE#1" not in whole(mail)
