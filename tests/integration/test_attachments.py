"""Attachments both ways, end to end on a real SQLite file and the directory outbox: a reporter's files
reach staff byte for byte (a PDF, a JPG, an inline cid: image, an RFC 2231 Indonesian name), a file
over [mail] forward_attachments is listed with the command that extracts it, a staff member's files
reach the reporter and Cc without the Gmail or Outlook signature logo, and `mailticket attachments`
lists, prints as JSON and writes a ticket's files with safe names."""

from __future__ import annotations

import email
import hashlib
import json
import shlex
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import DATA, Helpdesk, make_mail
from tests.integration.mailcheck import app_for, assert_well_formed, feed, make_desk, query, sent, staff_mail
from tests.integration.mailcheck import db as db_conn

FIXTURES = DATA / "attachments"
REPORTER = "budi@cv-sejahtera.co.id"
CC = "sekretariat@cv-sejahtera.co.id"
STAFF = {"rina@lampungprov.go.id", "sari@lampungprov.go.id"}


@pytest.fixture
def desk(tmp_path) -> Helpdesk:
    return make_desk(tmp_path)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def files_of(data: bytes) -> list[tuple[str, str, bytes]]:
    """(name, type, bytes) of every file of a mail, as the email package reads it."""
    msg = email.message_from_bytes(data, policy=policy.default)
    return [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in msg.walk() if not part.is_multipart() and (
                part.get_filename() or part.get_content_type() not in ("text/plain", "text/html"))]


def one(desk: Helpdesk, kind: str):
    found = [s for s in sent(desk) if s.kind == kind]
    assert len(found) == 1, [s.kind for s in sent(desk)]
    return found[0]


def with_files(subject: str, text: str, *files: tuple[str, str, bytes], sender: str = f"Budi <{REPORTER}>",
               cc: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "provlampunglpse@gmail.com", subject
    if cc:
        msg["Cc"] = cc
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0700"
    msg["Message-ID"] = email.utils.make_msgid(domain="cv-sejahtera.co.id")
    msg.set_content(text)
    for name, ctype, body in files:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(body, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def pdf(seed: int, size: int = 20000) -> bytes:
    return b"%PDF-1.4\n" + hashlib.sha256(str(seed).encode()).digest() * (size // 32) + b"\n%%EOF\n"


# -- a reporter's files to staff ------------------------------------------------------------------


def test_a_reporters_files_reach_staff_byte_for_byte(desk):
    report = fixture("report_with_files.eml")
    feed(app_for(desk), desk, report)
    note = one(desk, "notification")
    assert note.recipients == STAFF
    assert_well_formed(note.data)
    assert files_of(note.data) == files_of(report)  # PDF, JPG, the cid: image, the RFC 2231 name
    assert [name for name, _t, _b in files_of(note.data)] == [
        "galat-pendaftaran.jpg", "scan KTP direktur.pdf", "NPWP perusahaan.jpg",
        "Surat Permohonan Pendaftaran (revisi) – CV Sejahtera Abadi.pdf"]
    parts = [p for p in note.msg.walk() if not p.is_multipart()]
    assert not any(p.get_content_type() == "text/html" for p in parts)  # text only: the image is a file
    assert all(p.get_content_disposition() == "attachment" for p in parts[1:])
    assert "Bersama ini kami lampirkan" in note.text()
    ack = one(desk, "ack")
    assert files_of(ack.data) == []


def test_the_outbox_keeps_a_reference_not_a_second_copy(desk):
    feed(app_for(desk), desk, fixture("report_with_files.eml"))
    [row] = query(desk, "SELECT length(data) AS size, data FROM outbox WHERE kind = 'notification'")
    assert row["size"] < 10000 < len(one(desk, "notification").data)
    assert row["data"].count(b"mailticket-file raw=1 file=") == 4


def test_a_file_over_the_cap_is_listed_with_the_command_that_extracts_it(desk):
    big = pdf(1, 15 * 1024 * 1024)
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 200 + b"\xff\xd9"
    feed(app_for(desk), desk, with_files("Dokumen penawaran", "Dokumen penawaran kami terlampir.\n",
                                         ("Dokumen Penawaran Lengkap.pdf", "application/pdf", big),
                                         ("foto lokasi.jpg", "image/jpeg", photo)))
    note = one(desk, "notification")
    assert [name for name, _t, _b in files_of(note.data)] == ["foto lokasi.jpg"]  # within the 10 MB
    text = note.text()
    assert "Dokumen Penawaran Lengkap.pdf (15,0 MB)" in text and "batas 10,0 MB" in text
    command = next(line.strip() for line in text.splitlines() if line.strip().startswith("mailticket "))
    assert command == f"mailticket --config {desk.config} attachments LPSE#1 --out lampiran-LPSE1"
    args = shlex.split(command)[1:]
    proc = subprocess.run([sys.executable, "-m", "mailticket.cli", *args], cwd=desk.root, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (desk.root / "lampiran-LPSE1" / "Dokumen Penawaran Lengkap.pdf").read_bytes() == big
    assert (desk.root / "lampiran-LPSE1" / "foto lokasi.jpg").read_bytes() == photo


# -- a staff member's files to the reporter ------------------------------------------------------------


def open_ticket(desk: Helpdesk):
    app = app_for(desk)
    feed(app, desk, make_mail("Tidak bisa login SPSE", "Saya tidak bisa login.\n", sender=f"Budi <{REPORTER}>",
                              headers={"Cc": f"Sekretariat <{CC}>"}))
    return app


def test_a_gmail_reply_carries_the_guide_to_reporter_and_cc_without_the_signature_logo(desk):
    reply = fixture("gmail_signature_reply.eml")
    feed(open_ticket(desk), desk, reply)
    relay = one(desk, "relay")
    assert relay.recipients == {REPORTER, CC}
    assert_well_formed(relay.data)
    guide = [f for f in files_of(reply) if f[0].endswith(".pdf")]
    assert files_of(relay.data) == guide  # the PDF, byte for byte; logo-lpse.png stayed behind
    assert "Terlampir panduan reset password" in relay.text()
    assert "[image:" not in relay.text()  # the logo's placeholder stayed behind with the logo


def test_an_outlook_closing_carries_the_form_and_the_screenshot_not_image001(desk):
    reply = fixture("outlook_signature_reply.eml")
    feed(open_ticket(desk), desk, reply)
    closing = one(desk, "closing")
    assert closing.recipients == {REPORTER, CC}
    carried = files_of(closing.data)
    assert [name for name, _t, _b in carried] == ["image002.png", "Formulir Pendaftaran Penyedia.docx"]
    assert carried == [f for f in files_of(reply) if f[0] != "image001.png"]
    assert "(lihat tangkapan layar)" in closing.text() and "[cid:" not in closing.text()
    ticket = json.loads(desk.cli("tickets", "show", "LPSE#1", "--json").stdout)
    assert ticket["status"] == "closed"


def test_files_of_an_internal_note_stay_internal(desk):
    app = open_ticket(desk)
    note = EmailMessage()
    note.set_content("#catatan\nLog server terlampir, jangan diteruskan ke pelapor.\n")
    note.add_attachment(b"ERROR 500 at /eproc4/login", maintype="text", subtype="plain", filename="server.log")
    raw = staff_mail("x")
    msg = email.message_from_bytes(raw, policy=policy.default)
    for name in ("Content-Type", "Content-Transfer-Encoding", "MIME-Version"):
        del msg[name]
    for name, value in note.items():
        msg[name] = value
    msg.set_payload(note.get_payload())
    feed(app, desk, msg.as_bytes())
    kinds = [row["kind"] for row in query(desk, "SELECT kind FROM messages ORDER BY id")]
    assert "note" in kinds and "relay" not in kinds and "closing" not in kinds
    to_reporter = [s for s in sent(desk) if REPORTER in s.recipients]
    assert to_reporter and all("server.log" not in [f[0] for f in files_of(s.data)] for s in to_reporter)


# -- mailticket attachments and tickets show --json ---------------------------------------------------------


def hostile_ticket(desk: Helpdesk) -> tuple[bytes, bytes, bytes]:
    first, second, secret = pdf(2), pdf(3), b"root:x:0:0:root:/root:/bin/bash\n"
    app = app_for(desk)
    feed(app, desk, with_files("Berkas pendaftaran", "Berkas terlampir.\n", ("scan.pdf", "application/pdf", first),
                               ("../../etc/passwd", "application/octet-stream", secret)))
    feed(app, desk, with_files("Re: [LPSE#1] Berkas pendaftaran", "Ini scan yang benar.\n",
                               ("scan.pdf", "application/pdf", second)))
    return first, second, secret


def test_attachments_lists_every_file_of_every_message(desk):
    first, second, secret = hostile_ticket(desk)
    rows = desk.json("attachments", "LPSE#1")
    received = [(r["message"], r["direction"], r["kind"], r["filename"], r["size"]) for r in rows
                if r["direction"] == "in"]
    assert received == [(1, "in", "report", "scan.pdf", len(first)), (1, "in", "report", "passwd", len(secret)),
                        (4, "in", "reply", "scan.pdf", len(second))]
    assert {r["sha256"] for r in rows} == {hashlib.sha256(b).hexdigest() for b in (first, second, secret)}
    assert {r["kind"] for r in rows if r["direction"] == "out"} == {"notification"}  # what staff were sent
    assert set(rows[0]) >= {"message", "message_id", "direction", "kind", "from", "filename", "content_type",
                            "size", "sha256"}
    table = desk.cli("attachments", "LPSE#1").stdout
    assert "scan.pdf" in table and "application/pdf" in table and hashlib.sha256(first).hexdigest()[:16] in table


def test_attachments_out_writes_safe_names_and_never_over_another_file(desk):
    first, second, secret = hostile_ticket(desk)
    out = desk.root / "berkas"
    proc = desk.cli("attachments", "LPSE#1", "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["passwd", "scan-2.pdf", "scan.pdf"]
    assert (out / "scan.pdf").read_bytes() == first and (out / "scan-2.pdf").read_bytes() == second
    assert (out / "passwd").read_bytes() == secret
    assert not (desk.root / "etc").exists() and Path("/etc/passwd").read_bytes() != secret
    assert f"wrote {out / 'scan.pdf'}" in proc.stdout and "already there" in proc.stdout  # the staff copies
    again = desk.json("attachments", "LPSE#1", "--out", str(out))
    assert not any(r["written"] for r in again) and sorted(p.name for p in out.iterdir()) == [
        "passwd", "scan-2.pdf", "scan.pdf"]


def test_tickets_show_json_lists_attachments_per_message(desk):
    first, _second, _secret = hostile_ticket(desk)
    ticket = desk.json("tickets", "show", "LPSE#1")
    by_kind = {(m["direction"], m["kind"]): m["attachments"] for m in ticket["messages"]}
    assert by_kind[("in", "report")][0] == {"filename": "scan.pdf", "content_type": "application/pdf",
                                            "size": len(first), "sha256": hashlib.sha256(first).hexdigest()}
    assert by_kind[("out", "ack")] == []
    assert all("attachments" in m for m in ticket["messages"])


def test_no_ticket_no_files(desk):
    proc = desk.cli("attachments", "LPSE#9", check=False)
    assert proc.returncode == 1 and "no ticket LPSE#9" in proc.stderr
    feed(app_for(desk), desk, make_mail("Tanpa lampiran", "Halo.\n"))
    assert desk.cli("attachments", "1").stdout.strip() == "no attachments"
    assert desk.json("attachments", "1") == []


def test_a_queued_mail_whose_file_changed_fails_alone(desk):
    """The raw message is never changed; should it be (disk fault, hand edit), the mail that refers to
    its file is refused (failed, with why) and the rest of the queue goes out."""
    app = app_for(desk)
    app.ingest([str(desk.write("r.eml", fixture("report_with_files.eml")))], deliver=False)
    with db_conn(desk) as conn:
        # the PDFs' first base64 line: "%PDF-1.4" becomes "%PDF-1.5"
        conn.execute("UPDATE raw_data SET data = replace(data, CAST('JVBERi0xLjQK' AS BLOB), "
                     "CAST('JVBERi0xLjUK' AS BLOB))")
    app.send()
    rows = {r["kind"]: r for r in query(desk, "SELECT kind, status, last_error FROM outbox")}
    assert rows["ack"]["status"] == "sent" and rows["notification"]["status"] == "failed"
    assert "no longer has file" in rows["notification"]["last_error"]
    assert [s.kind for s in sent(desk)] == ["ack"]


@pytest.mark.parametrize(("name", "written"), [
    ("../../etc/passwd", "passwd"),
    ("..", "lampiran"),
    (".bashrc", "bashrc"),
    ("C:\\Windows\\system32\\evil.dll", "evil.dll"),
    ("a\x00b.pdf", "ab.pdf"),
    ("ñ" * 150 + ".pdf", "ñ" * 98 + ".pdf"),  # 200 bytes at most
])
def test_safe_names(tmp_path, name, written):
    from mailticket.cli.attachments import safe_name, write

    assert safe_name(name) == written
    path, new = write(tmp_path, name, b"x")
    assert new and path == tmp_path / written and path.read_bytes() == b"x"
    assert write(tmp_path, name, b"x") == (path, False)  # the same bytes: not again
    assert write(tmp_path, name, b"y")[0].name != written  # other bytes: another name


def test_write_never_follows_a_link(tmp_path):
    from mailticket.cli.attachments import write

    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "scan.pdf").symlink_to(outside)
    path, new = write(tmp_path / "out", "scan.pdf", b"new")
    assert new and path.name == "scan-2.pdf" and outside.read_bytes() == b"keep"


def test_files_both_ways_on_postgresql(tmp_path, pg_url):
    """The same on PostgreSQL: raw bytes bound as usual, each outbox row claimed and filled on its own."""
    desk = make_desk(tmp_path)
    desk.config.write_text(desk.config.read_text().replace('url = "sqlite:///mailticket.db"', f'url = "{pg_url}"'))
    report = fixture("report_with_files.eml")
    reply = fixture("gmail_signature_reply.eml")
    app = app_for(desk)
    app.ingest([str(desk.write("1.eml", report))])
    app.ingest([str(desk.write("2.eml", reply))])
    note, copy = desk.sent("notification")  # the new ticket; then sari's copy of rina's answer
    assert files_of(note.read_bytes()) == files_of(report)
    [relay] = desk.sent("relay")
    assert files_of(relay.read_bytes()) == [f for f in files_of(reply) if f[0].endswith(".pdf")]
    rows = desk.json("attachments", "LPSE#1")
    assert [r["filename"] for r in rows if r["direction"] == "in"][-1] == "Panduan Reset Password SPSE.pdf"
