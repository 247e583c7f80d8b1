"""Unit tests for mailticket.parse: client formats, charsets, attachments, broken input."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailticket.core.decode import decode_bytes, decode_header
from mailticket.core.htmltext import html_to_text
from mailticket.core.parse import _mailboxes, _parsed_mailboxes, parse, safe_filename
from mailticket.errors import Quarantine
from mailticket.types import Address, Attachment

MAIL_DIR = Path(__file__).resolve().parents[1] / "data" / "mail"


def fixture(name: str):
    return parse((MAIL_DIR / name).read_bytes())


def mail(*lines: str, body: str = "Isi laporan.") -> bytes:
    """A small message from header lines, for the edge cases that need no client format."""
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


# --- not a mail --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \r\n\r\n  ",
        b"Halo, ini bukan email.\nHanya teks biasa.\n",
        b"\x00\x01\x02\xff\xfe",
        b"X-Foo: bar\r\nX-Bar: baz\r\n\r\nisi tanpa From, Message-ID atau Subject",
    ],
)
def test_not_a_mail_is_quarantined(data):
    with pytest.raises(Quarantine) as caught:
        parse(data)
    assert caught.value.stage == "parse"
    assert caught.value.reason


@pytest.mark.parametrize("name", ["empty.eml", "garbage.eml"])
def test_not_a_mail_fixtures_are_quarantined(name):
    with pytest.raises(Quarantine):
        fixture(name)


@pytest.mark.parametrize("header", ["From: budi@x.co.id", "Subject: Laporan", "Message-ID: <1@x.co.id>"])
def test_one_of_from_subject_message_id_is_enough(header):
    assert parse(mail(header)).text == "Isi laporan."


# --- Gmail -------------------------------------------------------------------------------


def test_gmail_headers():
    m = fixture("gmail_new_report.eml")
    assert m.subject == "Aplikasi SPSE tidak bisa login – mohon bantuan"
    assert m.sender == Address("Budi Santoso – Pokja Pemilihan", "budi.santoso.pokja@gmail.com")
    assert m.to == (Address("Helpdesk LPSE Provinsi Lampung", "provlampunglpse@gmail.com"),)
    assert m.cc == (
        Address("Dewi, Sari", "sari.dewi@lampungprov.go.id"),
        Address("", "kasubbag.lpse@lampungprov.go.id"),
    )
    assert m.message_id == "<CAJx9Q2mK7f+bYtq3vH0b1m-QZ8y1eV5Lw@mail.gmail.com>"
    assert m.date == datetime(2026, 11, 24, 3, 1, 2, tzinfo=UTC)
    assert m.return_path == "budi.santoso.pokja@gmail.com"
    assert m.content_type == "multipart/alternative"
    assert (m.in_reply_to, m.references, m.attachments) == ((), (), ())


def test_gmail_headers_keep_order_and_duplicates():
    m = fixture("gmail_new_report.eml")
    names = [name for name, _ in m.headers]
    assert names[:3] == ["delivered-to", "received", "x-received"]
    assert names.count("received") == 2
    results = m.header_all("authentication-results")
    assert len(results) == 2
    assert results[0].startswith("mx.google.com; dkim=pass header.i=@gmail.com")
    assert results[1] == "mx.google.com; arc=none"
    assert all(name == name.lower() for name in names)
    assert all("\n" not in value for _, value in m.headers)


def test_gmail_text_and_html():
    m = fixture("gmail_new_report.eml")
    assert m.text.startswith(
        "Selamat pagi,\n\nSejak pukul 08.00 WIB kami tidak bisa login ke aplikasi SPSE — "
    )
    assert 'muncul pesan "Service Unavailable". Padahal' in m.text
    assert m.text.endswith("Budi Santoso\nPokja Pemilihan Dinas PU Provinsi Lampung")
    assert m.html.startswith('<div dir="ltr">Selamat pagi,')
    assert "&quot;Service Unavailable&quot;" in m.html  # as sent


# --- Outlook -----------------------------------------------------------------------------


def test_outlook_indonesian_reply():
    m = fixture("outlook_id_reply.eml")
    assert m.subject == "BLS: [LPSE#12] Jadwal tender tidak dapat diubah"
    own = "<mt.12.s3x6jmimqz.0f1e2d3c4b5a69788796a5b4c3d2e1f0@helpdesk.lpse.example>"
    assert m.in_reply_to == (own,)
    assert m.references == ("<CAJx9Q2mK7f+bYtq3vH0b1m-QZ8y1eV5Lw@mail.gmail.com>", own)
    assert m.text.startswith("Terima kasih, jadwal sudah dapat diubah. Mohon tiket ini ditutup.\n\nSalam,")
    assert "\r" not in m.text
    assert "Dari: Helpdesk LPSE <provlampunglpse@gmail.com>\nDikirim: Selasa" in m.text
    assert m.header("thread-topic") == "[LPSE#12] Jadwal tender tidak dapat diubah"
    assert m.header("content-type").startswith("multipart/alternative; boundary=")


def test_outlook_english_attachment_with_encoded_name():
    m = fixture("outlook_en_report.eml")
    assert m.attachments == (Attachment("Tangkapan layar – unggah.png", "image/png", 3016),)
    assert m.sender == Address("Anton Wijaya", "anton.wijaya@pt-gemilang-abadi.com")
    assert m.return_path is None
    assert '"413 Request Entity Too Large"' in m.text


def test_outlook_autoreply_null_return_path():
    m = fixture("outlook_en_autoreply.eml")
    assert m.return_path == ""
    assert m.header("auto-submitted") == "auto-generated"
    assert m.text.startswith(
        "I am out of the office until 30 November 2026 with limited access to email. For"
    )


# --- Yahoo HTML only ---------------------------------------------------------------------


def test_yahoo_html_only_becomes_readable_text():
    m = fixture("yahoo_html_only.eml")
    assert m.content_type == "text/html"
    assert m.text == (
        "Kepada Yth. Helpdesk LPSE,\n"
        "\n"
        'Setiap kali mengunggah foto produk (JPG < 300 KB) muncul pesan "Gagal mengunggah berkas". '
        "Sudah kami coba:\n"
        "- Browser Chrome & Firefox\n"
        "- Ukuran file diperkecil\n"
        "\n"
        "Mohon bantuannya. Terima kasih.\n"
        "\n"
        "Sinta Rosalina\n"
        "CV Rosalina Jaya"
    )
    assert m.html.startswith("<html><head><style")
    assert "jangan-tampil" in m.html and "jangan-tampil" not in m.text


def test_empty_plain_part_falls_back_to_html():
    data = mail(
        "From: a@b.co.id",
        "Subject: x",
        'Content-Type: multipart/alternative; boundary="b"',
        body="--b\r\nContent-Type: text/plain\r\n\r\n \r\n--b\r\nContent-Type: text/html\r\n\r\n"
        "<p>Halo</p>\r\n--b--\r\n",
    )
    assert parse(data).text == "Halo"


# --- Zimbra, iPhone, Thunderbird ---------------------------------------------------------


def test_zimbra_forward_with_pdf():
    m = fixture("zimbra_forward_pdf.eml")
    assert m.subject == "Fwd: Penyedia tidak muncul pada daftar undangan"
    assert m.date == datetime(2026, 11, 24, 4, 15, 37, tzinfo=UTC)  # "+0700 (WIB)"
    assert m.in_reply_to == ("<988123411.118001.1795920011001.JavaMail.zimbra@lampungprov.go.id>",)
    assert m.attachments == (Attachment("BA_Undangan_10264011.pdf", "application/pdf", 30007),)
    assert m.text.startswith("Mohon dibantu, laporan dari penyedia kami teruskan.")
    assert "----- Pesan yang Diteruskan -----" in m.text  # the plain part, not the HTML one
    assert m.html.startswith("<html><body>")


def test_iphone_reply_joins_text_around_the_photo():
    m = fixture("iphone_reply_photo.eml")
    assert m.text.startswith("Ini tangkapan layarnya, Pak. Errornya masih sama.\n\nDikirim dari iPhone saya")
    assert m.attachments == (Attachment("IMG_2041.jpeg", "image/jpeg", 12000),)
    assert m.message_id == "<4F1C7E2A-9B3D-4C8E-A2F1-6D5B9E0C3A71@icloud.com>"
    assert len(m.references) == 3


def test_rfc2231_continued_filename():
    m = fixture("rfc2231_attachment.eml")
    assert [a.filename for a in m.attachments] == ["Surat Permohonan Verifikasi – CV Bintang Timur.pdf"]
    assert m.attachments[0].size == 2007


# --- charsets ----------------------------------------------------------------------------


def test_undeclared_8bit_latin1():
    m = fixture("latin1_undeclared.eml")
    assert m.subject == "Café “Kopi Lampung” tidak bisa daftar"
    assert m.sender == Address("André Gonçalves", "andre.goncalves@cv-sumber.co.id")
    assert "Kami dari Café “Kopi Lampung” tidak bisa mendaftar sebagai penyedia – tombol" in m.text
    assert m.text.endswith("André")


def test_undeclared_8bit_utf8_header():
    m = parse("From: a@b.co.id\r\nSubject: Akun terkunci – mohon\r\n\r\nx".encode())
    assert m.subject == "Akun terkunci – mohon"


def test_unknown_and_mislabelled_charsets():
    m = fixture("odd_charsets.eml")
    assert m.sender == Address("Bu Sri Rahayú", "sri@dinsos.lampungprov.go.id")  # x-unknown
    assert m.to == (Address("Tim Helpdesk", "provlampunglpse@gmail.com"),)
    assert m.subject == "Laporan – akun terkunci – mendesak"  # iso-8859-1 as cp1252, then raw UTF-8
    assert m.header("x-bagian") == "Dinas Sosial — Bidang Rehabilitasi"
    assert m.text == "Akun saya terkunci – mohon dibuka."  # charset x-mac-unknown
    assert m.message_id == "<20261124130000.77@dinsos.lampungprov.go.id>"  # brackets added
    assert m.attachments == (Attachment("passwd", "application/octet-stream", 32),)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?B?QnVkaQ==?= Santoso", "Budi Santoso"),
        ("=?utf-8?Q?a?=  =?utf-8?Q?b?=", "ab"),  # space between encoded words is not text
        ("=?utf-8?Q?=C3?= =?utf-8?Q?=A9?=", "é"),  # a character split across two words
        ("=?UTF-8*id?Q?Balas?=", "Balas"),  # RFC 2231 language tag
        ("=?iso-8859-1?Q?caf=E9?= =?utf-8?Q?_=E2=80=93?=", "café –"),
        ("=?utf-8?B?QnVka?=", "Bud"),  # broken padding
        ("=?no-such-charset?Q?caf=E9?=", "café"),
        ("=?utf-8?Q?tidak_lengkap", "=?utf-8?Q?tidak_lengkap"),
        ("baris\r\n pertama\r\n\tkedua", "baris pertama kedua"),
        ("=?utf-8?q?Login=0D=0ABcc:_x@y.id?=", "Login  Bcc: x@y.id"),  # a decoded CR LF is no line break
        ("gk bisa\x00 login\x1b[2J", "gk bisa  login [2J"),  # NUL and terminal escapes
    ],
)
def test_decode_header(raw, expected):
    assert decode_header(raw) == expected


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("café".encode(), "utf-8", "café"),
        ("café".encode("cp1252"), "utf-8", "café"),  # declared wrongly
        ("“kutip”".encode("cp1252"), "iso-8859-1", "“kutip”"),  # latin-1 label, cp1252 bytes
        ("café".encode(), "us-ascii", "café"),  # 8-bit under an ASCII label
        ("café".encode(), "rot13", "café"),  # not a text codec
        ("café".encode(), "undefined", "café"),
        (b"\x81\x8d\x8f", None, "\x81\x8d\x8f"),  # not even cp1252: latin-1
        ("Selamat".encode("utf-16"), "utf-16", "Selamat"),
    ],
)
def test_decode_bytes(data, charset, expected):
    assert decode_bytes(data, charset) == expected


# --- addresses, dates, ids ---------------------------------------------------------------


def test_missing_from_gives_no_sender():
    assert parse(mail("Subject: x")).sender is None


def test_display_name_only_from():
    assert parse(mail("From: Budi Santoso", "Subject: x")).sender == Address("Budi Santoso", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # ":" or "," inside an encoded word must not read as a group or a second address
        ("=?utf-8?q?Dinas_PU:_Budi,_S.T.?= <b@x.id>", Address("Dinas PU: Budi, S.T.", "b@x.id")),
        ("=?utf-8?q?Budi=0D=0ABcc:_evil@x.id?= <b@x.id>", Address("Budi  Bcc: evil@x.id", "b@x.id")),
        ("Dinas PU: Budi <b@x.id>", Address("Budi", "b@x.id")),  # a stray ":", one address to recover
    ],
)
def test_hostile_display_names_keep_the_address(value, expected):
    assert parse(mail(f"From: {value}", "Subject: x")).sender == expected


def test_an_address_with_a_nul_is_no_address():
    assert parse(mail("From: Budi <bu\x00di@x.id>", "Subject: x")).sender.email == ""


def test_nul_bytes_are_not_body_text():
    assert parse(mail("From: b@x.id", "Subject: x", body="gk\x00 bisa\x00")).text == "gk bisa"


def test_group_syntax_and_comments():
    m = parse(mail("From: budi@x.co.id (Budi)", "To: undisclosed-recipients:;", "Subject: x"))
    assert m.sender == Address("Budi", "budi@x.co.id")
    assert m.to == ()


@pytest.mark.parametrize("value", ["kemarin sore", "32 Nov 2026 10:00:00 +0700", ""])
def test_bad_date_is_none(value):
    assert parse(mail("From: a@b.co.id", f"Date: {value}")).date is None


def test_absent_date_is_none():
    assert parse(mail("From: a@b.co.id")).date is None


def test_references_and_in_reply_to():
    m = parse(
        mail(
            "From: a@b.co.id",
            "In-Reply-To: <1@x> (pesan Budi)",
            "References: <0@x>\r\n <1@x>\r\n\t<2@x> sampah",
        )
    )
    assert m.in_reply_to == ("<1@x>",)
    assert m.references == ("<0@x>", "<1@x>", "<2@x>")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Return-Path: <>", ""), ("Return-Path: < >", ""), ("Return-Path: <Budi@X.co.id>", "budi@x.co.id")],
)
def test_return_path(header, expected):
    assert parse(mail("From: a@b.co.id", header)).return_path == expected


def test_first_return_path_wins():
    m = parse(mail("Return-Path: <>", "Return-Path: <a@b.co.id>", "From: a@b.co.id"))
    assert m.return_path == ""


# --- bounces, truncation, attachments ----------------------------------------------------


def test_exim_bounce():
    m = fixture("exim_bounce.eml")
    assert m.content_type == "multipart/report"
    assert m.return_path == ""
    assert m.text.startswith("This message was created automatically by mail delivery software.")
    assert "550 5.1.1" in m.text
    assert "Laporan Anda telah kami terima" not in m.text  # the returned message is not our text
    assert [(a.filename, a.content_type) for a in m.attachments] == [
        ("attachment-1.txt", "message/delivery-status"),
        ("attachment-2.eml", "message/rfc822"),
    ]
    assert all(a.size > 100 for a in m.attachments)


def test_truncated_mime_is_best_effort():
    m = fixture("truncated_mime.eml")
    assert (
        m.text
        == "Dengan hormat,\n\nDokumen kualifikasi kami selalu gagal diunggah. Berkas terlampir.\n\nWawan"
    )
    [attachment] = m.attachments
    assert attachment.filename == "kualifikasi.pdf"
    assert 0 < attachment.size < 8000


def test_boundary_never_found_keeps_the_body():
    data = mail(
        "From: a@b.co.id", 'Content-Type: multipart/mixed; boundary="hilang"', body="Isi tanpa batas."
    )
    assert "Isi tanpa batas." in parse(data).text


def test_unnamed_attachment_gets_a_stable_name():
    data = mail(
        "From: a@b.co.id",
        'Content-Type: multipart/mixed; boundary="b"',
        body="--b\r\nContent-Type: text/plain\r\n\r\nteks\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n",
    )
    assert parse(data).attachments == (Attachment("attachment-1", "application/octet-stream", 3),)
    assert parse(data) == parse(data)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\evil.exe", "evil.exe"),
        ("C:\\Users\\budi\\Surat.pdf", "Surat.pdf"),
        ("sur\x00at\x07.pdf", "surat.pdf"),
        ("baris\r\nbaru.txt", "barisbaru.txt"),
        ("\u202egnp.exe", "gnp.exe"),  # right-to-left override disguises extensions
        (".htaccess", "htaccess"),
        ("..", ""),
        ("   ", ""),
        ("=?utf-8?Q?Surat_=E2=80=93_1.pdf?=", "Surat – 1.pdf"),
        ("Laporan\udce9.pdf", "Laporané.pdf"),  # an undeclared latin-1 byte
    ],
)
def test_safe_filename(raw, expected):
    assert safe_filename(raw) == expected


def test_safe_filename_shortens_but_keeps_the_extension():
    name = safe_filename("a" * 500 + ".pdf")
    assert len(name) == 200
    assert name.endswith("a.pdf")


# --- HTML to text ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Satu</p><p>Dua</p>", "Satu\n\nDua"),
        ("Satu<br>Dua<br/>Tiga", "Satu\nDua\nTiga"),
        ("<div>Satu</div><div><br></div><div>Dua</div>", "Satu\n\nDua"),
        ("<ul><li>a</li><li> b </li></ul>", "- a\n- b"),
        (
            "<table><tr><td>Paket</td><td>Nilai</td></tr><tr><td>1</td><td>2</td></tr></table>",
            "Paket\tNilai\n1\t2",
        ),
        ("a &amp; b &lt;c&gt; &quot;d&quot; &#8211; &nbsp;e", 'a & b <c> "d" – e'),
        ("<script>alert(1)</script><style>p{}</style>Isi", "Isi"),
        ("<head><title>Judul</title></head><body>Isi</body>", "Isi"),
        ("<!--[if mso]>Outlook<![endif]-->Isi", "Isi"),
        ("<pre>  a\n    b</pre>", "a\n    b"),
        ("kata   yang\n\n  berspasi", "kata yang berspasi"),
        ("<p>tidak <b>tertutup", "tidak tertutup"),
        ("<![if x", "<![if x"),
        ("", ""),
    ],
)
def test_html_to_text(html, expected):
    assert html_to_text(html) == expected


# --- never anything but Quarantine -------------------------------------------------------

_SEEDS = [p.read_bytes() for p in sorted(MAIL_DIR.glob("*.eml")) if p.stat().st_size]
_TOKENS = [
    b"=?",
    b"?=",
    b"?Q?",
    b"?B?",
    b"\xff",
    b"\x00",
    b"\r\n",
    b"\n ",
    b"--",
    b"boundary=",
    b"charset=",
    b"*0*=",
    b"<",
    b">",
    b"utf-16",
    b"rot13",
    b"<![if",
    b"&#x110000;",
    b"message/rfc822\n\n",
]


@st.composite
def mangled_mail(draw):
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "bytes", "cut"]))
        if action == "insert":
            data[pos:pos] = draw(st.sampled_from(_TOKENS))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        elif action == "bytes":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos:]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_mail())
def test_mangled_mail_never_raises_anything_but_quarantine(data):
    try:
        m = parse(data)
    except Quarantine:
        return
    for text in (m.subject, m.text, m.html, *(v for _, v in m.headers), *(a.filename for a in m.attachments)):
        text.encode("utf-8")  # no lone surrogates left for the database or the log


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_quarantine(data):
    with contextlib.suppress(Quarantine):
        parse(data)


@pytest.mark.parametrize("depth", [50, 5000])
def test_deep_nesting_parses_or_is_quarantined(depth):
    head = "From: a@b.co.id\nSubject: dalam\nMIME-Version: 1.0\n"
    body = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n" for i in range(depth))
    data = (head + body + "Content-Type: text/plain\n\nhalo\n").encode()
    try:
        assert parse(data).text == "halo"
    except Quarantine as caught:
        assert depth > 1000, caught


# The plain-mailbox fast path must say exactly what mail-parser says, on whatever it accepts.
_NAME_CHARS = st.sampled_from(list("abcXYZ019 .,-'!#&_\t\ue000\ue001\"\\()<>:;@[]"))
_LOCAL = st.text(alphabet=st.sampled_from(list("ab09.-_+=!'")), min_size=1, max_size=8)
_DOMAIN = st.text(alphabet=st.sampled_from(list("ab09.-")), min_size=1, max_size=8)


@st.composite
def _mailbox_headers(draw) -> str:
    addr = f"{draw(_LOCAL)}@{draw(_DOMAIN)}"
    name = draw(st.text(alphabet=_NAME_CHARS, max_size=12))
    space = draw(st.sampled_from(["", " ", "  ", "\t"]))
    form = draw(st.sampled_from(["bare", "angle", "name", "quoted"]))
    return {"bare": f"{space}{addr}{space}", "angle": f"{space}<{addr}>",
            "name": f"{space}{name}{space}<{addr}>{space}", "quoted": f'"{name}"{space}<{addr}>'}[form]


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mailbox_headers())
def test_plain_mailboxes_read_as_mail_parser_reads_them(raw):
    assert _mailboxes(raw) == _parsed_mailboxes(raw)


@pytest.mark.parametrize("raw", ["Budi Santoso <budi@example.co.id>", '"Budi, S.T." <b@x.id>', "budi@x.id",
                                 "<budi@x.id>", "Budi   Santoso <b@x.id>", "Dinas PU: Budi <b@x.id>",
                                 "Budi (kantor) <b@x.id>", "a@b.id, c@d.id"])
def test_common_and_odd_mailboxes_read_as_mail_parser_reads_them(raw):
    assert _mailboxes(raw) == _parsed_mailboxes(raw)


def test_a_file_name_cut_inside_its_rfc2231_continuations_falls_back_to_attachment_n():
    data = (b"From: a@example.co.id\nTo: provlampunglpse@gmail.com\nSubject: surat\nMessage-ID: <f@x>\n"
            b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
            b"Content-Type: text/plain\n\nterlampir\n--b\nContent-Type: application/pdf\n"
            b"Content-Disposition: attachment;\n filename*0*=UTF-8''Surat%20Permohonan;\n filename*\n\nJVBERi0=\n--b--\n")
    [attachment] = parse(data).attachments
    assert attachment.filename == "attachment-1.pdf" and attachment.content_type == "application/pdf"


def test_a_text_part_with_a_broken_file_name_is_still_read_as_the_body():
    data = (b"From: a@example.co.id\nTo: provlampunglpse@gmail.com\nSubject: surat\nMessage-ID: <g@x>\n"
            b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            b"Content-Disposition: inline;\n filename*0*=UTF-8''catatan;\n filename*\n\ntidak bisa login\n")
    assert parse(data).text.strip() == "tidak bisa login"
