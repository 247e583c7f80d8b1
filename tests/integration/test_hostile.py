"""Hostile and broken input, mail loops and injection, through the whole pipeline on a real SQLite file.

Every input ends as a ticket, a kept non-ticket message or a quarantined one with its error; no
exception escapes a message's own quarantine; nothing we send can be steered by what we received.
Mail is fed in-process (`App.ingest` on files, directory outbox) except where memory is measured:
there `mailticket ingest` runs as its own process and os.wait4 reports its max RSS.

The fuzz tests run 150 examples each with a fixed seed; MAILTICKET_FUZZ_EXAMPLES=2000 and
MAILTICKET_FUZZ_RANDOM=1 explore further.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import random
import re
import sys
import time
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailticket.clock import FixedClock
from mailticket.db.session import transaction
from mailticket.outgoing.locale_id import format_size
from tests.conftest import DATA, make_mail
from tests.integration.mailcheck import (
    HELPDESK,
    PASS,
    STAFF,
    app_for,
    assert_well_formed,
    feed,
    make_desk,
    max_rss,
    query,
    raw_rows,
    sent,
    staff_mail,
)

REPORT = "Selamat pagi, saya gk bisa login ke SPSE sejak tadi pagi, muncul error 500 terus.\n"
REGISTRATION = "Selamat siang, apa saja persyaratan pendaftaran akun penyedia baru? Terima kasih.\n"
FINAL_STATES = {"ticket", "kept", "quarantined"}
MiB = 1024 * 1024


def cli(desk) -> list[str]:
    return [sys.executable, "-m", "mailticket.cli", "--config", str(desk.config), "-q"]


@pytest.fixture
def desk(tmp_path):
    return make_desk(tmp_path)


@pytest.fixture
def app(desk):
    return app_for(desk)


def only(rows: list[dict]) -> dict:
    [row] = rows
    return row


# == fuzzing the whole pipeline ======================================================================

SEEDS = [p.read_bytes() for folder in ("mail", "demo") for p in sorted((DATA / folder).glob("*.eml"))]
NASTY = [
    b"\x00", b"\r\n", b"\r\n\r\n", b"\n", b"\r", b"\n--", b"--\r\n", b"=\r\n", b"=ZZ", b"=E9",
    b"\xff\xfe\x00", b"\xc3\x28", b"\xe2\x80", b"\x1b[2J", b"=?utf-8?q?x=0D=0ABcc:_evil@evil.example?=",
    b"=?x-unknown?B?////?=",
    b"=?utf-8?b?!!!*?=", b"=?utf-8?q?=?=", b"=?utf-7?B?K0FHRS0=?=", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n", b'Content-Type: multipart/mixed; boundary=""\r\n',
    b"Content-Type: multipart/report; report-type=delivery-status\r\n", b'charset="utf-7"',
    b"charset=x-unknown",
    b"{{ 7*7 }}", b"{% for x in y %}", b"<script>alert(1)</script>", b'filename="../../etc/passwd"',
    b"From: \r\n", b"From: Budi Santoso\r\n", b"Subject: " + b"A" * 3000 + b"\r\n", b"[LPSE#1]",
    b"[lpse # 2]", b"[LPSE#999999999]", b"In-Reply-To: <r1@x.id>\r\n",
    b"References: <r1@x.id> <mt.1.aaaaaaaaaa.x@gmail.com>\r\n", b"Auto-Submitted: auto-replied\r\n",
    b"Return-Path: <>\r\n", b"#tutup\r\n", b"#catatan\r\n", b"#kategori x\r\n",
    b"Message-ID: <dup@x.id>\r\n", b"From: Rina <rina@lampungprov.go.id>\r\n",
]


@st.composite
def mutated(draw) -> bytes:
    """A fixture mail mutated a few times: bytes flipped, nasty tokens put in, ranges cut or repeated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "insert", "delete", "repeat", "truncate", "splice"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.sampled_from(NASTY) | st.binary(max_size=40))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 400))]
        elif op == "repeat":
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 80))] * draw(st.integers(2, 60))
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            other = draw(st.sampled_from(SEEDS))
            data[pos:] = other[draw(st.integers(0, len(other))):]
    return bytes(data)


CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "us-ascii", "utf-7", "utf-16", "gb2312", "shift_jis",
            "x-unknown", "", "rot13", "base64", "utf-8'id'"]
CTES = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "gzip", ""]
LEAF_TYPES = ["text/plain", "text/plain", "text/html", "application/pdf", "image/png", "message/rfc822",
              "message/delivery-status", "text/rfc822-headers", "application/octet-stream", "text/calendar"]
FILENAMES = ["", "surat.pdf", "../../etc/passwd", "..\\..\\boot.ini", "=?utf-8?q?foto=0D=0A.jpg?=",
             "a\x00b.txt",
             "x" * 300 + ".pdf", "/etc/shadow", "."]
SENDERS = ["Budi <budi@example.co.id>", "sari@cv.id", "", "Budi Santoso", "<>", "no-reply@lpse.go.id",
           "MAILER-DAEMON@mx.example.net", HELPDESK, '"a, b" <ab@x.id>', "=?utf-8?q?Bu=0D=0Adi?= <b@x.id>",
           "a@b@c", "@", "<budi@x.id", "x" * 400 + "@y.id", "Rina <rina@lampungprov.go.id>",
           "=?x-unknown?b?w6k=?= <u@x.id>"]
TEXT = st.text(st.characters(codec="utf-8"), max_size=200) | st.sampled_from(
    ["saya gk bisa login", "#tutup\nsudah", "#catatan rahasia", "#kategori xyz", "{{ 7*7 }}", "> #tutup"])


def _leaf_bytes(ctype: str, charset: str, cte: str, payload: bytes, filename: str) -> bytes:
    head = f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "")
    if filename:
        head += f'\r\nContent-Disposition: attachment; filename="{filename}"'
    if cte:
        head += f"\r\nContent-Transfer-Encoding: {cte}"
    if cte == "base64":
        payload = base64.encodebytes(payload)
    elif cte == "quoted-printable":
        payload = binascii.b2a_qp(payload)
    return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + payload


LEAF = st.builds(_leaf_bytes, st.sampled_from(LEAF_TYPES), st.sampled_from(CHARSETS), st.sampled_from(CTES),
                 TEXT.map(lambda t: t.encode("utf-8")) | st.binary(max_size=200), st.sampled_from(FILENAMES))


def _multipart(subtype: str, boundary: str, parts: list[bytes], closed: bool) -> bytes:
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\npreamble\r\n'.encode()
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return head + body + (b"--" + boundary.encode() + b"--\r\n" if closed else b"")


TREE = st.recursive(LEAF, lambda kids: st.builds(
    _multipart, st.sampled_from(["mixed", "alternative", "related", "report", "digest"]),
    st.sampled_from(["b1", "b2", "=_x", "", "b1 b2", "-"]), st.lists(kids, max_size=4), st.booleans()),
    max_leaves=8)


@st.composite
def generated(draw) -> bytes:
    """A mail built from parts: odd senders and subjects, any charset and encoding, nested MIME."""
    headers = []
    sender = draw(st.sampled_from(SENDERS) | TEXT)
    if draw(st.booleans()) or sender:
        headers.append(f"From: {sender}")
    headers.append(f"To: {HELPDESK}")
    subject = draw(TEXT | st.sampled_from(["[LPSE#1] Re: tidak bisa login", "=?utf-8?q?x=0D=0ABcc:_e@v.il?=",
                                           "Automatic reply: cuti", "Undeliverable: x", ""]))
    headers.append(f"Subject: {subject}")
    headers.append(f"Message-ID: {draw(st.sampled_from(['<dup@x.id>', '', '<>', 'no-brackets@x']) | TEXT)}")
    optional = {"In-Reply-To": "<r1@x.id>", "References": "<r1@x.id> <zz@x.id>",
                "Auto-Submitted": "auto-replied",
                "List-Id": "<l.x.id>", "Return-Path": "<>", "Reply-To": draw(st.sampled_from(SENDERS)),
                "Date": draw(st.sampled_from(["Wed, 25 Nov 2026 10:00:00 +0700", "kemarin", "Mon, 99 X 9"])),
                "Authentication-Results": "mx.google.com; dmarc=pass header.from=lampungprov.go.id"}
    for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        headers.append(f"{name}: {optional[name]}")
    head = "\r\n".join(headers).encode("utf-8", "surrogateescape") + b"\r\nMIME-Version: 1.0\r\n"
    return head + draw(TREE)


TAG_LINES = ["#tutup", "#selesai", "#close", "#kategori gangguan", "#kategori xyz", "#tugaskan sari",
             "#tugaskan nobody", "#ambil", "#catatan", "#catatan rahasia", "#tunggu", "#buka",
             "#eskalasi LKPP", "#tutupp", "> #tutup", "-- ", "Pada Rab, Budi <b@x.id> menulis:", "{{ 7*7 }}",
             "<script>x</script>"]


@st.composite
def staff_reply(draw) -> bytes:
    """A staff or coordinator reply (authenticated) in a ticket's thread: tags, text, quotes, HTML."""
    lines = draw(st.lists(st.sampled_from(TAG_LINES) | TEXT, max_size=6))
    body = "\r\n".join(lines).encode("utf-8", "surrogateescape")
    html = draw(st.booleans())
    sender = draw(st.sampled_from(["Rina <rina@lampungprov.go.id>", "koord@lampungprov.go.id"]))
    head = (f"Authentication-Results: {PASS}\r\nFrom: {sender}\r\nTo: {HELPDESK}\r\n"
            f"Subject: Re: [LPSE#{draw(st.integers(1, 6))}] {draw(TEXT)}\r\n"
            f"Message-ID: <s{draw(st.integers(0, 10**9))}@lampungprov.go.id>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/{'html' if html else 'plain'}; charset=utf-8\r\n\r\n")
    return head.encode("utf-8", "surrogateescape") + body


@pytest.fixture(scope="module")
def fuzz_desk(tmp_path_factory):
    desk = make_desk(tmp_path_factory.mktemp("fuzz"))
    return desk, app_for(desk), set()


def _ingest_one(fuzz_desk, data: bytes) -> None:
    desk, app, checked = fuzz_desk
    app.ingest([str(desk.write("fuzz.eml", data))])  # must not raise: everything is the message's own fault
    [row] = query(desk, "SELECT r.state, r.ticket_id, q.stage, q.error FROM raw_mail r "
                        "LEFT JOIN quarantine q ON q.raw_id = r.id WHERE r.sha256 = ?",
                  hashlib.sha256(data).hexdigest())
    assert row["state"] in FINAL_STATES
    if row["state"] == "quarantined":
        assert row["stage"] and row["error"]
    if row["state"] == "ticket":
        assert row["ticket_id"] is not None
    assert query(desk, "SELECT count(*) AS n FROM raw_mail WHERE state = 'pending'")[0]["n"] == 0
    for mail in sent(desk):
        if mail.path.name not in checked:
            assert_well_formed(mail.data)
            checked.add(mail.path.name)


FUZZ = settings(max_examples=int(os.environ.get("MAILTICKET_FUZZ_EXAMPLES", "150")), deadline=None,
                derandomize=os.environ.get("MAILTICKET_FUZZ_RANDOM") is None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


@FUZZ
@given(data=mutated())
def test_fuzz_mutated_fixture_mail_always_ends_ticket_kept_or_quarantined(fuzz_desk, data):
    _ingest_one(fuzz_desk, data)


@FUZZ
@given(data=generated() | staff_reply())
def test_fuzz_generated_mime_always_ends_ticket_kept_or_quarantined(fuzz_desk, data):
    _ingest_one(fuzz_desk, data)


# == named hostile cases ============================================================================


def test_undeclared_8bit_charsets_are_read_and_answered(app, desk):
    utf8 = ("From: André Sihombing <andre@example.co.id>\r\nTo: provlampunglpse@gmail.com\r\n"
            "Subject: Dokumen penawaran – tidak bisa diunggah\r\nMessage-ID: <u8@x.id>\r\n\r\n"
            "Saya gk bisa unggah dokumen “penawaran” — error 500.\r\n").encode()
    latin1 = ("From: José Müller <jose@example.com>\r\nTo: provlampunglpse@gmail.com\r\n"
              "Subject: Café login gagal\r\nMessage-ID: <l1@x.id>\r\n"
              "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
              "Señor, no puedo entrar ‘ahora’.\r\n").encode("cp1252")
    gb = (b"From: wang@example.cn\r\nTo: provlampunglpse@gmail.com\r\nSubject: "
          + "登录失败".encode("gb2312") + b"\r\nMessage-ID: <gb@x.id>\r\n\r\n"
          + "无法登录系统".encode("gb2312"))
    rows = feed(app, desk, utf8, latin1, gb)
    assert [r["state"] for r in rows] == ["ticket"] * 3
    tickets = query(desk, "SELECT subject, reporter_name FROM tickets ORDER BY number")
    assert tickets[0] == {"subject": "Dokumen penawaran – tidak bisa diunggah",
                          "reporter_name": "André Sihombing"}
    assert tickets[1] == {"subject": "Café login gagal", "reporter_name": "José Müller"}
    text = query(desk, "SELECT text FROM messages WHERE kind = 'report' ORDER BY id")
    assert "“penawaran” — error" in text[0]["text"]
    assert "Señor" in text[1]["text"] and "‘ahora’" in text[1]["text"]
    assert tickets[2]["subject"]  # not GB2312 read right (nothing says it is), but read, answered, not lost
    acks = [m for m in sent(desk) if m.kind == "ack"]
    assert len(acks) == 3 and all(assert_well_formed(m.data) is None for m in acks)
    assert "Café login gagal" in acks[1].msg["Subject"]


def test_invalid_base64_and_quoted_printable_bodies_still_open_tickets(app, desk):
    def mail(n, cte, body, ctype="text/plain; charset=utf-8"):
        return (f"From: Budi <budi{n}@example.co.id>\r\nTo: {HELPDESK}\r\nSubject: Laporan {n}\r\n"
                f"Message-ID: <enc{n}@x.id>\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}\r\n"
                f"Content-Transfer-Encoding: {cte}\r\n\r\n").encode() + body

    attachment = (b'--b\r\nContent-Type: text/plain\r\n\r\ngk bisa login\r\n--b\r\n'
                  b'Content-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                  b"%%%% not base64 ****\r\nJVBER=i0x\r\n--b--\r\n")
    rows = feed(app, desk,
                mail(1, "base64", b"!!!not base64 at all ***\r\nZ2sgYmlzYSBsb2dpbg=ZGVm\r\n"),
                mail(2, "quoted-printable", b"=ZZ caf=E9 gk bisa =\r\nlogin =C3=\r\n=\r\n"),
                mail(3, "base64", b"Z2sgYmlzYSBsb2dpbg"),  # padding lost
                mail(4, "x-uuencode", b"begin 644 x\r\n#86)C\r\nend\r\n"),
                mail(5, "7bit", attachment, 'multipart/mixed; boundary="b"'))
    assert [r["state"] for r in rows] == ["ticket"] * 5
    texts = [r["text"] for r in query(desk, "SELECT text FROM messages WHERE kind = 'report' ORDER BY id")]
    assert "café gk bisa login" in texts[1]
    assert "gk bisa login" in texts[2]
    [notification] = [m for m in sent(desk) if m.kind == "notification" and "Laporan 5" in m.msg["Subject"]]
    assert "a.pdf" in notification.text()


def test_unknown_charsets_in_encoded_words_and_bodies(app, desk):
    data = (b"From: =?x-unknown?Q?Bud=E9?= <budi@example.co.id>\r\nTo: provlampunglpse@gmail.com\r\n"
            b"Subject: =?x-unknown?B?Y2Fm6Q==?= =?utf-8?q?_login_caf=C3=A9?= =?bogus?Q?=FF=FE?= "
            b"=?rot13?q?nop?=\r\nMessage-ID: <cs@x.id>\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\n"
            b"gk bisa login caf\xe9\r\n")
    row = only(feed(app, desk, data))
    assert row["state"] == "ticket"
    [ticket] = query(desk, "SELECT subject, reporter_name FROM tickets")
    assert ticket["subject"].startswith("café login café") and ticket["reporter_name"] == "Budé"
    assert "gk bisa login café" in query(desk, "SELECT text FROM messages WHERE kind='report'")[0]["text"]


def test_nul_bytes_anywhere_open_a_ticket_and_never_reach_our_mail(app, desk):
    data = (b"From: Bu\x00di <budi@example.co.id>\r\nTo: provlampunglpse@gmail.com\r\n"
            b"Subject: gk bisa\x00 login\x1b[2J\r\nMessage-ID: <nul@x.id>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
            b"saya gk\x00 bisa login\x00\r\n--b\r\nContent-Type: application/pdf\r\n"
            b'Content-Disposition: attachment; filename="sur\x00at.pdf"\r\n\r\n%PDF\x00\x00\r\n--b--\r\n')
    assert only(feed(app, desk, data))["state"] == "ticket"
    [ticket] = query(desk, "SELECT subject, reporter_name FROM tickets")
    assert "\x00" not in ticket["subject"] + ticket["reporter_name"]
    assert "\x1b" not in ticket["subject"]  # an escape sequence would reach the operator's terminal
    mails = sent(desk)
    assert {m.kind for m in mails} == {"ack", "notification"}
    for mail in mails:
        assert_well_formed(mail.data)
        assert "\x00" not in mail.text()
    [notification] = [m for m in mails if m.kind == "notification"]
    assert "surat.pdf" in notification.text() and "saya gk bisa login" in notification.text()


def test_100_kb_header_lines(app, desk):
    long_refs = " ".join(f"<r{i}@x.id>" for i in range(6000))
    data = (b"From: Budi <budi@example.co.id>\r\nTo: provlampunglpse@gmail.com, "
            + b", ".join(b"u%d@example.com" % i for i in range(6000))
            + b"\r\nSubject: gk bisa login " + b"A" * 100_000
            + b"\r\nX-Junk: " + b"b " * 50_000
            + b"\r\nReferences: " + long_refs.encode()
            + b"\r\nMessage-ID: <long@x.id>\r\n\r\nsaya gk bisa login\r\n")
    assert len(data) > 300_000
    start = time.monotonic()
    assert only(feed(app, desk, data))["state"] == "ticket"
    assert time.monotonic() - start < 10
    for mail in sent(desk):
        assert_well_formed(mail.data)
    [ack] = [m for m in sent(desk) if m.kind == "ack"]
    assert ack.recipients == {"budi@example.co.id"}  # not the 6000 in To


def test_300_nested_multiparts(app, desk):
    n = 300
    data = (f"From: Budi <budi@example.co.id>\r\nTo: {HELPDESK}\r\nSubject: Bersarang\r\n"
            'Message-ID: <nest@x.id>\r\nMIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n').encode()
    data += b"".join(f'--b{i - 1}\r\nContent-Type: multipart/mixed; boundary="b{i}"\r\n\r\n'.encode()
                     for i in range(1, n))
    data += f"--b{n - 1}\r\nContent-Type: text/plain\r\n\r\nsaya gk bisa login\r\n--b{n - 1}--\r\n".encode()
    data += b"".join(f"--b{i}--\r\n".encode() for i in range(n - 2, -1, -1))
    start = time.monotonic()
    row = only(feed(app, desk, data))
    assert time.monotonic() - start < 5
    # Deep nesting is odd but not malice by itself: the text inside is the report.
    assert row["state"] == "ticket"
    assert "saya gk bisa login" in query(desk, "SELECT text FROM messages WHERE kind = 'report'")[0]["text"]


def _big_mail(size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Budi <budi@example.co.id>"
    msg["To"] = HELPDESK
    msg["Subject"] = "Dokumen penawaran gagal diunggah"
    msg["Message-ID"] = "<big@x.id>"
    msg.set_content("terlampir dokumennya, mohon dicek")
    payload = random.Random(25).randbytes(size * 3 // 4)  # base64 makes it 4/3 as big
    msg.add_attachment(payload, maintype="application", subtype="pdf", filename="penawaran.pdf")
    return msg.as_bytes()


def test_a_mail_just_over_25_mib_is_kept_raw_answered_from_its_header_and_memory_stays_bounded(desk, capsys):
    limit = 25 * MiB  # the default helpdesk.max_message_size
    data = _big_mail(limit + 64 * 1024)
    assert limit < len(data) < limit + MiB
    path = desk.write("big.eml", data)
    status, rss, wall = max_rss([*cli(desk), "ingest", str(path)], desk.root)
    with capsys.disabled():
        print(f"\n[rss] mailticket ingest of a {len(data) / MiB:.1f} MiB mail: max RSS {rss:.0f} MiB, "
              f"{wall:.1f}s")
    assert status == 0
    assert rss < 200, f"max RSS {rss:.0f} MiB"
    [row] = raw_rows(desk)
    assert row["data"] == data and row["state"] == "ticket"
    [ticket] = query(desk, "SELECT subject, reporter FROM tickets")
    assert ticket == {"subject": "Dokumen penawaran gagal diunggah", "reporter": "budi@example.co.id"}
    [ack] = [m for m in sent(desk) if m.kind == "ack"]
    assert "melebihi batas ukuran 25,0 MB" in ack.text()
    assert ack.header_recipients == {"budi@example.co.id"}


def _bomb_zip(uncompressed: int) -> bytes:
    """A zip of `uncompressed` zero bytes (about 1000:1), inside a second zip."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("data.bin", "w", force_zip64=True) as fh:
        chunk = bytes(MiB)
        for _ in range(uncompressed // MiB):
            fh.write(chunk)
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(8):
            zf.writestr(f"layer{i}.zip", inner.getvalue())
    return outer.getvalue()


def test_a_zip_bomb_attachment_is_never_decompressed(desk, capsys):
    bomb = _bomb_zip(256 * MiB)  # 2 GiB in all once unpacked, ~2 MB as sent
    gz = zlib.compress(bytes(64 * MiB), 9)
    msg = EmailMessage()
    msg["From"] = "Budi <budi@example.co.id>"
    msg["To"] = HELPDESK
    msg["Subject"] = "Lampiran dokumen tender"
    msg["Message-ID"] = "<bomb@x.id>"
    msg.set_content("terlampir")
    msg.add_attachment(bomb, maintype="application", subtype="zip", filename="dokumen.zip")
    msg.add_attachment(gz, maintype="application", subtype="gzip", filename="arsip.tar.gz")
    path = desk.write("bomb.eml", msg.as_bytes())
    status, rss, wall = max_rss([*cli(desk), "ingest", str(path)], desk.root)
    with capsys.disabled():
        print(f"\n[rss] mailticket ingest of a {len(msg.as_bytes()) / MiB:.1f} MiB zip bomb: "
              f"max RSS {rss:.0f} MiB, {wall:.1f}s")
    assert status == 0
    assert wall < 15 and rss < 150
    assert only(raw_rows(desk))["state"] == "ticket"
    [notification] = [m for m in sent(desk) if m.kind == "notification"]
    # the sizes as sent, not as they would unpack
    assert f"- dokumen.zip ({format_size(len(bomb))})" in notification.text()
    assert f"- arsip.tar.gz ({format_size(len(gz))})" in notification.text()


def test_missing_or_display_name_only_from_opens_a_ticket_that_nobody_is_answered_for(app, desk):
    body = "\r\n\r\nsaya gk bisa login\r\n"
    missing = f"To: {HELPDESK}\r\nSubject: tanpa pengirim\r\nMessage-ID: <nf@x.id>{body}"
    name_only = f"From: Budi Santoso\r\nTo: {HELPDESK}\r\nSubject: nama saja\r\nMessage-ID: <dn@x.id>{body}"
    empty = f"From: \r\nTo: {HELPDESK}\r\nSubject: kosong\r\nMessage-ID: <em@x.id>{body}"
    rows = feed(app, desk, missing.encode(), name_only.encode(), empty.encode())
    assert [r["state"] for r in rows] == ["ticket"] * 3
    tickets = query(desk, "SELECT reporter, reporter_name FROM tickets ORDER BY number")
    assert [t["reporter"] for t in tickets] == ["", "", ""] and tickets[1]["reporter_name"] == "Budi Santoso"
    events = query(desk, "SELECT type FROM events WHERE type = 'ack-skipped'")
    assert len(events) == 3
    mails = sent(desk)
    assert [m.kind for m in mails] == ["notification"] * 3  # staff see them; nobody else is written to
    assert all(m.recipients <= set(STAFF) for m in mails)


def test_duplicated_message_ids_with_different_bytes_are_both_kept_and_answered_once(app, desk):
    """The same report reaching us twice (two routes: different Received lines) is one ticket, one ack."""
    report = make_mail("Tidak bisa login", REPORT, msgid="<same@x.id>")
    copy = b"Received: from relay2.example.net by mx.google.com; Wed, 25 Nov 2026 10:00:05 +0700\r\n" + report
    rows = feed(app, desk, report, copy)
    assert [r["data"] for r in rows] == [report, copy]  # both kept raw, byte for byte
    assert all(r["state"] in ("ticket", "kept") for r in rows)
    assert len(query(desk, "SELECT id FROM tickets")) == 1
    assert len([m for m in sent(desk) if m.kind == "ack"]) == 1


def test_a_staff_reply_that_arrives_twice_is_relayed_once(app, desk):
    feed(app, desk, make_mail("Tidak bisa login", REPORT))
    reply = staff_mail("Silakan coba reset password.")
    copy = b"Received: from relay2.example.net by mx.google.com; Wed, 25 Nov 2026 10:00:05 +0700\r\n" + reply
    rows = feed(app, desk, reply, copy)
    assert [r["data"] for r in rows] == [reply, copy]
    assert len([m for m in sent(desk) if m.kind == "relay"]) == 1


def test_a_different_report_that_reuses_a_message_id_is_not_lost(app, desk):
    """A broken client that reuses one Message-ID: a different mail is still read and recorded."""
    first = make_mail("Tidak bisa login", REPORT, msgid="<reused@x.id>")
    second = make_mail("Persyaratan pendaftaran", REGISTRATION, msgid="<reused@x.id>",
                       sender="ani@yahoo.co.id")
    rows = feed(app, desk, first, second)
    assert [r["state"] for r in rows] == ["ticket", "ticket"]
    texts = [r["text"] for r in query(desk, "SELECT text FROM messages WHERE direction = 'in' ORDER BY id")]
    assert any("persyaratan pendaftaran" in t for t in texts)


# == mail loops =====================================================================================


def _auto_reply(ack, sender: str, subject: str, headers: dict) -> bytes:
    return make_mail(subject, "Saya sedang cuti sampai 1 Desember.", sender=sender,
                     in_reply_to=ack.msg["Message-ID"],
                     references=ack.msg["Message-ID"], headers=headers)


def test_auto_replies_to_our_acknowledgement_never_open_a_ticket(app, desk):
    feed(app, desk, make_mail("Tidak bisa login", REPORT, msgid="<r1@x.id>"))
    [ack] = [m for m in sent(desk) if m.kind == "ack"]
    subject = str(ack.msg["Subject"])
    replies = [
        _auto_reply(ack, "budi@example.co.id", f"Automatic reply: {subject}",
                    {"Auto-Submitted": "auto-replied"}),
        _auto_reply(ack, "budi@example.co.id", f"Balasan Otomatis: {subject}",
                    {"X-Auto-Response-Suppress": "All"}),
        _auto_reply(ack, "budi@example.co.id", "Out of Office", {"X-Autoreply": "yes"}),
        _auto_reply(ack, "budi@example.co.id", subject, {"Precedence": "auto_reply"}),
        # an auto-reply that lost both the token and the references: kept, still no ticket
        make_mail("Sedang cuti", "Saya sedang cuti.", headers={"Auto-Submitted": "auto-replied"}),
    ]
    rows = feed(app, desk, *replies)
    assert [r["kind"] for r in rows] == ["auto_reply"] * 5
    assert [r["state"] for r in rows] == ["ticket"] * 4 + ["kept"]  # recorded on ticket 1, or kept
    assert len(query(desk, "SELECT id FROM tickets")) == 1
    assert [m.kind for m in sent(desk)] == ["ack", "notification"]


def test_an_unmarked_auto_responder_cannot_ping_pong_with_us(app, desk):
    """A responder without any auto-reply mark that answers each of our acks with a fresh mail."""
    robot = "autoresponder@example.com"
    feed(app, desk, make_mail("Permohonan informasi", REPORT, sender=robot))
    answered: set[str] = set()
    for _round in range(12):
        new = [m for m in sent(desk) if m.kind == "ack" and m.path.name not in answered]
        if not new:
            break
        for ack in new:
            answered.add(ack.path.name)
            # Our own ack, fed back as a new mail from the responder: new Message-ID, no token, no headers.
            echoed = make_mail(f"Terima kasih: {ack.msg['Subject'].split('] ', 1)[1]} #{_round}", ack.text(),
                               sender=robot)
            feed(app, desk, echoed)
    acks = [m for m in sent(desk) if m.kind == "ack"]
    assert len(acks) == 5  # helpdesk.max_acks_per_hour (default 5), then silence
    assert not [m for m in acks if m.path.name not in answered]  # the loop ended: nothing left to answer
    assert len(query(desk, "SELECT id FROM tickets WHERE reporter = ?", robot)) == 6  # kept, not lost
    assert len(query(desk, "SELECT id FROM events WHERE type = 'ack-skipped'")) == 1


def test_an_echo_of_our_ack_with_its_token_is_a_reply_and_answers_nobody(app, desk):
    robot = "autoresponder@example.com"
    feed(app, desk, make_mail("Permohonan informasi", REPORT, sender=robot))
    for _ in range(5):
        [ack] = [m for m in sent(desk) if m.kind == "ack"]
        feed(app, desk, make_mail(f"Re: {ack.msg['Subject']}", ack.text(), sender=robot))
    assert len(query(desk, "SELECT id FROM tickets")) == 1
    assert not [m for m in sent(desk) if robot in m.recipients and m.kind != "ack"]


AUTOMATIC = ("ack", "notification", "error", "escalation", "warning", "breach", "digest", "watchdog")


def test_all_our_automatic_mail_says_auto_submitted(desk):
    clock = FixedClock(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))  # Wednesday 10:00 WIB
    app = app_for(desk, clock)
    feed(app, desk, make_mail("Tidak bisa login", REPORT))  # ack + notification
    feed(app, desk, staff_mail("#tutupp\n"), staff_mail("#eskalasi perlu LKPP\n"))  # error, escalation
    feed(app, desk, make_mail("Persyaratan pendaftaran", REGISTRATION, sender="ani@yahoo.co.id"))  # 1h target
    clock.advance(timedelta(minutes=50))
    app.scheduler.tick()  # warning at 75 %
    clock.advance(timedelta(minutes=20))
    app.scheduler.tick()  # breach
    with transaction(app.factory) as session:
        app.scheduler.queue_digest(session, clock.now())
    app.alert_coordinators(True, clock.now() - timedelta(hours=1), clock.now())
    app.send()
    mails = sent(desk)
    assert {m.kind for m in mails} >= set(AUTOMATIC)
    for mail in mails:
        assert_well_formed(mail.data)
        if mail.kind in AUTOMATIC:
            expected = "auto-replied" if mail.kind == "ack" else "auto-generated"
            assert mail.msg["Auto-Submitted"] == expected, mail.kind
            assert mail.msg["X-Auto-Response-Suppress"], mail.kind


UNANSWERABLE = ["no-reply@lpse.lkpp.go.id", "noreply@mail.example.com", "NoReply-Tender@lpse.example.go.id",
                "do-not-reply@bank.example.com", "mailer-daemon@mx.example.net", "MAILER-DAEMON@example.org",
                "postmaster@example.org", "bounces+123@list.example.org", "jangan-balas@lampungprov.go.id"]


def test_noreply_and_daemon_addresses_are_never_answered(app, desk):
    reports = [make_mail(f"Notifikasi {i}", REPORT, sender=address) for i, address in enumerate(UNANSWERABLE)]
    # a person who puts a no-reply address in Reply-To or Cc: answered, but never at those addresses
    reports.append(make_mail("Tidak bisa login", REPORT, sender="budi@example.co.id", msgid="<r@x.id>",
                             headers={"Reply-To": "noreply@example.co.id",
                                      "Cc": "no-reply@lpse.lkpp.go.id, atasan@example.co.id"}))
    feed(app, desk, *reports)
    [budi] = query(desk, "SELECT number FROM tickets WHERE reporter = 'budi@example.co.id'")
    feed(app, desk, staff_mail("Silakan coba reset password.", number=budi["number"]),
         staff_mail("#tutup\nSudah kami aktifkan.", number=budi["number"]))
    # staff answering the ticket of a no-reply sender, or of an address our mail cannot carry
    feed(app, desk, f"From: andré@example.co.id\r\nTo: {HELPDESK}\r\nSubject: Laporan\r\n\r\n{REPORT}"
         .encode())
    rows = feed(app, desk, staff_mail("Terima kasih, sudah kami cek.", number=1),
                staff_mail("Terima kasih, sudah kami cek.", number=budi["number"] + 1))
    assert [r["state"] for r in rows] == ["ticket", "ticket"]  # recorded, not quarantined
    assert len(query(desk, "SELECT id FROM events WHERE type = 'relay-skipped'")) == 2
    never = {a.lower() for a in UNANSWERABLE} | {"noreply@example.co.id", "andré@example.co.id"}
    mails = sent(desk)
    assert {m.kind for m in mails} >= {"ack", "relay", "closing"}
    for mail in mails:
        assert not mail.recipients & never, (mail.kind, mail.recipients & never)
    assert {m.kind for m in mails if "budi@example.co.id" in m.recipients} == {"ack", "relay", "closing"}
    assert "atasan@example.co.id" in next(m for m in mails if m.kind == "relay").recipients


# == injection ======================================================================================


def test_jinja_syntax_in_mail_is_printed_not_run(app, desk):
    jinja = "{{ 7*7 }} {% for x in range(3) %}LOOP{% endfor %} {{ config }} {{ ''.__class__.__mro__ }}"
    feed(app, desk, make_mail(f"Login gagal {jinja}", f"saya gk bisa login\n{jinja}\n",
                              sender='"Budi {{ 7*7 }}" <budi@example.co.id>'))
    feed(app, desk, staff_mail(f"Silakan coba lagi. {jinja}\n"))
    mails = sent(desk)
    assert {m.kind for m in mails} == {"ack", "notification", "relay"}
    assert query(desk, "SELECT count(*) AS n FROM quarantine")[0]["n"] == 0
    for mail in mails:
        text = mail.text() + str(mail.msg["Subject"])
        assert "{{ 7*7 }}" in text and "{% for x in range(3) %}" in text, mail.kind
        assert "LOOPLOOPLOOP" not in text and "<class" not in text, mail.kind
    [ack] = [m for m in mails if m.kind == "ack"]
    assert jinja in str(ack.msg["Subject"]) and "Budi {{ 7*7 }}" in ack.text()


INJECTED = "evil@attacker.example"


def test_crlf_in_names_and_subjects_injects_no_header(app, desk):
    data = (b"From: =?utf-8?q?Budi=0D=0ABcc:_evil@attacker.example=0D=0AX-Evil:_1?= <budi@example.co.id>\r\n"
            b"To: provlampunglpse@gmail.com\r\n"
            b"Cc: =?utf-8?q?Atasan=0D=0ABcc:_evil@attacker.example?= <atasan@example.co.id>\r\n"
            b"Subject: =?utf-8?q?Login_gagal=0D=0ABcc:_evil@attacker.example=0D=0A=0D=0Abody?= "
            b"\rX-Evil: 2\r\n"
            b"Message-ID: <crlf@x.id>\r\n\r\nsaya gk bisa login\r\n")
    feed(app, desk, data)
    feed(app, desk, staff_mail("Silakan coba reset password.\r\nBcc: evil@attacker.example\r\n"),
         staff_mail("#tutup\nsudah\r\n\r\nX-Evil: 3"))
    mails = sent(desk)
    # issue 14: the #tutup mail also earns its sender a transcript (checked for injection like the rest)
    assert {m.kind for m in mails} == {"ack", "notification", "relay", "closing", "transcript"}
    for mail in mails:
        assert_well_formed(mail.data)  # only our own headers, each once, CRLF only
        assert INJECTED not in mail.recipients and mail.msg["Bcc"] is None and mail.msg["X-Evil"] is None
        assert all(INJECTED not in str(mail.msg[h] or "") for h in ("To", "Cc", "Reply-To", "From"))
    relay = next(m for m in mails if m.kind == "relay")
    assert relay.recipients == {"budi@example.co.id", "atasan@example.co.id"}
    [ticket] = query(desk, "SELECT subject, reporter_name FROM tickets")
    assert "\r" not in ticket["subject"] + ticket["reporter_name"] and "\n" not in ticket["subject"]


def test_html_and_script_in_relayed_text_stay_text(app, desk):
    script = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    feed(app, desk, make_mail(f"Login gagal {script}", f"saya gk bisa login {script}",
                              sender=f'"Budi {script}" <budi@example.co.id>'))
    feed(app, desk, staff_mail(f"Silakan coba lagi {script}\n"),
         staff_mail("", html=f"<div>Sudah kami reset {script}</div><script>steal()</script>"))
    with transaction(app.factory) as session:
        app.scheduler.queue_digest(session, app.clock.now())
    app.send()
    mails = sent(desk)
    relays = [m for m in mails if m.kind == "relay"]
    assert len(relays) == 2
    for relay in relays:
        assert relay.msg.get_content_type() == "text/plain" and not relay.html()  # our relay is text only
    assert "steal()" not in relays[1].text()  # the staff member's script is not even text
    for mail in mails:
        html = mail.html()
        if html:  # the ack and the digest have HTML parts: user text in them is escaped
            assert "<script" not in html and "<img" not in html, mail.kind
            assert "&lt;script&gt;" in html, mail.kind


TRAVERSAL = [
    'filename="../../etc/passwd"',
    'filename="..\\..\\windows\\win.ini"',
    'filename="/etc/shadow"',
    'filename="=?utf-8?q?..=2F..=2F.ssh=2Fkeys?="',
    "filename*=utf-8''..%2F..%2Fhome%2Fx%2F.profile",
    'filename="....//....//cron.d"',
    'filename="con\x00.txt"',
    'filename="./.bashrc"',
]


def test_path_traversal_in_attachment_names_has_no_effect(app, desk):
    parts = "".join(f"--b\r\nContent-Type: application/octet-stream\r\n"
                    f"Content-Disposition: attachment; {name}\r\n\r\nisi {i}\r\n"
                    for i, name in enumerate(TRAVERSAL))
    data = (f"From: Budi <budi@example.co.id>\r\nTo: {HELPDESK}\r\nSubject: Lampiran\r\n"
            'Message-ID: <trav@x.id>\r\nMIME-Version: 1.0\r\n'
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            f"--b\r\nContent-Type: text/plain\r\n\r\nterlampir\r\n{parts}--b--\r\n").encode()
    before = set(desk.root.parent.iterdir())
    assert only(feed(app, desk, data))["state"] == "ticket"
    assert set(desk.root.parent.iterdir()) == before  # nothing written beside the helpdesk folder
    written = {p.relative_to(desk.root).parts[0] for p in desk.root.rglob("*")}
    assert written <= {"mail", "outbox", "in", "mailticket.toml", "mailticket.db", "mailticket.db-wal",
                       "mailticket.db-shm"}
    [notification] = [m for m in sent(desk) if m.kind == "notification"]
    listed = re.findall(r"^- (.+) \(\d+ B\)$", notification.text(), re.M)
    assert listed == ["passwd", "win.ini", "shadow", "keys", "profile", "cron.d", "con.txt", "bashrc"]
