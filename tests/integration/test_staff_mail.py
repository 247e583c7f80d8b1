"""Issue 14 (points 2, 3, 6, 7, 11, 12), end to end: a ticket's life on a real SQLite file and directory
outbox, read as each person receives it (the .eml files in the outbox, per recipient). The rows of
"who gets what" are tested one by one in tests/unit/test_decide.py; the wording in test_render.py."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailticket.clock import FixedClock
from tests.conftest import make_mail
from tests.integration.mailcheck import app_for, feed, make_desk, sent, staff_mail

RINA, SARI, KOORD = "rina@lampungprov.go.id", "sari@lampungprov.go.id", "koord@lampungprov.go.id"
BUDI, JOKO = "budi@example.co.id", "joko@example.net"
STAFF_TOML = """
[staff]
members = [
  { name = "rina", email = "rina@lampungprov.go.id", display = "Rina Wulandari" },
  { name = "sari", email = "sari@lampungprov.go.id" },
]
coordinators = [{ name = "koordinator", email = "koord@lampungprov.go.id" }]
authserv_id = "mx.google.com"
"""
START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # Rabu 08.00 WIB
REPORT = "Selamat pagi, saya gk bisa login ke SPSE sejak kemarin, muncul error terus. Mohon bantuan.\n"
CODES = ("->", "classified", "rules:", "ack-skipped", "matched by", "T0", "+07:00", "staff_reply:", "status:")


@pytest.fixture
def world(tmp_path):
    desk = make_desk(tmp_path, helpdesk_keys='reopen_window = "7d"', extra=textwrap.dedent(STAFF_TOML))
    clock = FixedClock(START)
    return desk, app_for(desk, clock), clock


def inbox(desk, address: str, kind: str | None = None) -> list:
    """What one person received, oldest first."""
    return [m for m in sent(desk) if address in m.recipients and kind in (None, m.kind)]


def new_mail(desk, address: str, seen: int) -> list:
    return inbox(desk, address)[seen:]


def reporter_mail(text: str, sender: str = f"Budi Santoso <{BUDI}>", msgid: str = "<f1@budi.id>") -> bytes:
    return make_mail("Re: [LPSE#1] Tidak bisa login", text, sender=sender, msgid=msgid)


def test_a_tickets_life_as_each_person_reads_it(world):
    desk, app, clock = world
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender="budi santoso <budi@example.co.id>",
                              msgid="<report@budi.id>"))
    [ack] = inbox(desk, BUDI)
    assert ack.text().startswith("Yth. Bapak/Ibu Budi Santoso,")  # point 12: lowercase name
    [note] = inbox(desk, RINA)
    assert str(note.msg["Subject"]).startswith("Tiket baru: [LPSE#1]")
    assert note.text().startswith("Tiket baru dari budi santoso <budi@example.co.id>.")
    assert [m.path for m in inbox(desk, SARI)] == [note.path]

    # point 2: the reporter's reply, with a quote, to every staff member (unassigned)
    clock.advance(timedelta(minutes=10))
    feed(app, desk, reporter_mail("Sudah saya coba reset, tetap gagal.\n\nPada Rab, 25 Nov 2026 Helpdesk menulis:\n"
                                  "> Silakan coba reset\n"))
    [reply] = new_mail(desk, RINA, 1)
    assert str(reply.msg["Subject"]).startswith("Balasan pelapor: [LPSE#1]")
    text = reply.text()
    assert text.startswith("Pelapor Budi Santoso <budi@example.co.id> membalas tiket [LPSE#1].")
    assert "Sudah saya coba reset, tetap gagal." in text and "> Silakan coba reset" not in text
    assert "Pesan terakhir sebelumnya pada tiket ini:" in text and "gk bisa login ke SPSE" in text
    assert "pukul 08.00 WIB" in text

    # point 2: a stranger on the ticket
    feed(app, desk, reporter_mail("Saya rekan Pak Budi, kami juga mengalami hal sama.", sender=f"Joko <{JOKO}>",
                                  msgid="<j1@joko.net>"))
    [other] = new_mail(desk, SARI, 2)
    assert str(other.msg["Subject"]).startswith("Pesan pihak lain: [LPSE#1]")
    assert other.text().startswith(f"Pesan dari Joko <{JOKO}> pada tiket [LPSE#1]. Pengirim bukan pelapor")

    # point 2 + 12: Rina answers; Budi reads her display name, Sari gets a copy, Rina gets nothing back
    rina_seen, sari_seen = len(inbox(desk, RINA)), len(inbox(desk, SARI))
    feed(app, desk, staff_mail("Silakan hapus cache browser lalu coba lagi."))
    [relay] = new_mail(desk, BUDI, 1)
    assert relay.kind == "relay" and "Rina Wulandari" in relay.text() and "rina:" not in relay.text()
    assert new_mail(desk, RINA, rina_seen) == []
    [copy] = new_mail(desk, SARI, sari_seen)
    assert str(copy.msg["Subject"]).startswith("Sudah dijawab rekan: [LPSE#1]")
    assert copy.text().startswith(f"Rina Wulandari <{RINA}> sudah menjawab pelapor pada tiket [LPSE#1].")
    assert "Silakan hapus cache browser" in copy.text()

    # point 3 + 7: Rina assigns Sari; Sari gets the ticket, Rina the transcript
    rina_seen, sari_seen = len(inbox(desk, RINA)), len(inbox(desk, SARI))
    feed(app, desk, staff_mail("#tugaskan sari\nSari, tolong dicek log server ya."))
    [assigned] = new_mail(desk, SARI, sari_seen)
    assert str(assigned.msg["Subject"]).startswith("Ditugaskan kepada Anda: [LPSE#1]")
    text = assigned.text()
    assert text.startswith("Tiket [LPSE#1] ditugaskan kepada Anda oleh Rina Wulandari.")
    assert "----- Isi laporan -----\nSelamat pagi, saya gk bisa login" in text
    assert "Riwayat:" in text and "ditugaskan" in text
    assert not any(code in text for code in CODES), text
    [transcript] = new_mail(desk, RINA, rina_seen)
    assert str(transcript.msg["Subject"]).startswith("Perintah dijalankan: [LPSE#1]")
    assert f"#tugaskan sari: petugas: belum ada → {SARI}" in transcript.text()
    assert f"- pemberitahuan tugas: {SARI}" in transcript.text()
    assert f"Petugas: {SARI}" in transcript.text()

    # point 3: assigning oneself (#tugaskan rina by Rina, #ambil by Sari) mails no notice, only the transcript
    rina_seen, sari_seen = len(inbox(desk, RINA)), len(inbox(desk, SARI))
    feed(app, desk, staff_mail("#tugaskan rina"))
    assert [m.kind for m in new_mail(desk, RINA, rina_seen)] == ["transcript"]
    assert new_mail(desk, SARI, sari_seen) == []
    rina_seen = len(inbox(desk, RINA))
    feed(app, desk, staff_mail("#ambil", sender=f"Sari <{SARI}>"))
    [took] = new_mail(desk, SARI, sari_seen)
    assert took.kind == "transcript" and f"#ambil: petugas: {RINA} → {SARI}" in took.text()
    assert new_mail(desk, RINA, rina_seen) == []

    # point 6: escalation from Sari reaches the coordinator with all he needs, in words
    feed(app, desk, staff_mail("#eskalasi perlu koordinasi dengan LKPP", sender=f"Sari <{SARI}>"))
    [escalation] = inbox(desk, KOORD, "escalation")
    text = escalation.text()
    assert text.startswith("Tiket [LPSE#1] dieskalasi ke koordinator oleh sari.")
    assert "Pesan eskalasi:\nperlu koordinasi dengan LKPP" in text
    assert "Selamat pagi, saya gk bisa login" in text and "Pesan terakhir sebelumnya" in text
    assert f"Petugas: {SARI}" in text and "Target: Sabtu, 28 November 2026 pukul 08.00 WIB" in text
    assert "#tugaskan / #assign X" in text and "#catatan / #note" in text
    assert "status diubah: baru → diproses" in text or "dieskalasi: diproses → dieskalasi" in text
    assert not any(code in text for code in CODES), text

    # point 2: close, then the reporter writes again: "reopened"
    feed(app, desk, staff_mail("#tutup\nSudah kami perbaiki.", sender=f"Sari <{SARI}>"))
    [closing] = inbox(desk, BUDI, "closing")
    assert closing.text().startswith("Yth. Bapak/Ibu Budi Santoso,")
    sari_seen = len(inbox(desk, SARI))
    feed(app, desk, reporter_mail("Maaf, masih muncul error yang sama.", msgid="<f2@budi.id>"))
    [reopened] = new_mail(desk, SARI, sari_seen)
    assert str(reopened.msg["Subject"]).startswith("Dibuka kembali: [LPSE#1]")
    assert "Maaf, masih muncul error yang sama." in reopened.text()


def registration(names: tuple[str, ...], text: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "PT Maju Jaya <admin@majujaya.co.id>"
    msg["To"] = "provlampunglpse@gmail.com"
    msg["Subject"] = "Pendaftaran akun penyedia"
    msg["Message-ID"] = "<daftar@majujaya.co.id>"
    msg["Date"] = "Wed, 25 Nov 2026 08:00:00 +0700"
    msg.set_content(text)
    for name in names:
        msg.add_attachment(b"%PDF-1.4 scan", maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


@pytest.mark.parametrize(("names", "text", "arrived", "missing"), [
    ((), "Selamat siang, kami ingin mendaftar sebagai penyedia. Apa saja syaratnya?", 0, 4),
    (("scan0001.pdf", "scan0002.pdf"), "Dengan hormat,\nBersama ini kami lampirkan KTP direktur dan NPWP "
     "perusahaan untuk pendaftaran akun penyedia.\nTerima kasih.", 2, 2),
    (("KTP_Direktur.pdf", "npwp pt maju.jpg", "Surat Permohonan.pdf", "Akta Pendirian.pdf"),
     "Berikut berkas pendaftaran akun penyedia kami.", 4, 0),
])
def test_registration_checklist_in_the_ack_and_the_notification(world, names, text, arrived, missing):
    desk, app, _clock = world
    feed(app, desk, registration(names, text))
    [ack] = inbox(desk, "admin@majujaya.co.id")
    body = ack.text()
    assert body.startswith("Yth. Bapak/Ibu di PT Maju Jaya,")  # point 12: a company, never "Bapak/Ibu Pt"
    if arrived == 0:
        assert "Persyaratan pendaftaran akun penyedia:\n1. Fotokopi KTP direktur/pemilik" in body
    elif missing:
        assert "yang sudah kami terima:\n- Fotokopi KTP direktur/pemilik\n- Fotokopi NPWP perusahaan" in body
        assert "Yang masih perlu Bapak/Ibu kirimkan" in body and "- Surat permohonan\n- Dokumen perusahaan" in body
    else:
        assert "sudah lengkap" in body
    [note] = inbox(desk, RINA, "notification")
    assert note.text().count("[v] ") == arrived and note.text().count("[ ] ") == missing


def test_breach_mail_lets_the_coordinator_act(world):
    desk, app, clock = world
    feed(app, desk, make_mail("Reset password", "Mohon bantuan reset password akun penyedia kami, lupa password.",
                              msgid="<r@budi.id>"))
    feed(app, desk, staff_mail("#catatan sudah dicek, menunggu vendor"))
    clock.advance(timedelta(days=4))
    app.run_once()
    [breach] = inbox(desk, KOORD, "breach")
    text = breach.text()
    assert "terlambat" in text and "Mohon bantuan reset password" in text
    assert "catatan internal" in text and "Pesan terakhir sebelumnya" in text
    assert "#tugaskan / #assign X" in text
    assert not any(code in text for code in CODES), text
