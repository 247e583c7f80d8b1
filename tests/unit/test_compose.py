"""compose.py: Outgoing -> MIME bytes that parse back to the same headers and text, never a new header."""

from __future__ import annotations

import email
import hashlib
import re
import time
from datetime import datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailticket.core import compose as compose_module
from mailticket.core.compose import compose
from mailticket.types import AttachedFile, Outgoing

WIB = timezone(timedelta(hours=7))
DATE = datetime(2026, 11, 25, 14, 30, 5, tzinfo=WIB)
FROM = {"from_name": "Helpdesk LPSE Provinsi Lampung", "from_addr": "provlampunglpse@gmail.com"}
TEXT = ("Yth. Bapak/Ibu Budi,\n\nLaporan Anda sudah kami terima — nomor [LPSE#12].\n\n"
        "Salam hormat,\nHelpdesk\n")
HTML = "<p>Yth. Bapak/Ibu Budi,</p><p>Laporan Anda sudah kami terima &mdash; nomor [LPSE#12].</p>"
ALLOWED = {"from", "to", "cc", "reply-to", "subject", "date", "message-id", "in-reply-to", "references",
           "auto-submitted", "x-auto-response-suppress", "x-mailticket-kind", "mime-version", "content-type",
           "content-transfer-encoding",
           "x-extra"}


def outgoing(**changes) -> Outgoing:
    values = dict(kind="ack", to=("Budi Santoso <budi@example.co.id>",),
                  subject="[LPSE#12] Tidak bisa login SPSE", text=TEXT,
                  in_reply_to="<CAEJr9+f2bTE@mail.gmail.com>",
                  references=("<first@example.co.id>", "<CAEJr9+f2bTE@mail.gmail.com>"))
    values.update(changes)
    return Outgoing(**values)


def build(out: Outgoing | None = None, **kw) -> bytes:
    args = {**FROM, "message_id": "<lpse.12.ack.abc@gmail.com>", "date": DATE, **kw}
    return compose(out or outgoing(), **args)


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


def content(part: EmailMessage) -> str:
    """The decoded body with newline line ends (on the wire every line end is CRLF)."""
    return part.get_content().replace("\r\n", "\n")


def header_block(data: bytes) -> list[str]:
    return data.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def unfolded(data: bytes, name: str) -> str:
    """The raw value of one header, continuation lines joined."""
    lines = header_block(data)
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower() + ":"))
    value = lines[start][len(name) + 2:]
    for line in lines[start + 1:]:
        if line[:1] not in (" ", "\t"):
            break
        value += line
    return value


def field_names(data: bytes) -> set[str]:
    return {line.split(":", 1)[0].lower() for line in header_block(data) if line and line[0] not in " \t"}


# --- structure -------------------------------------------------------------------------------


def test_headers_parse_back():
    out = outgoing(cc=("Rina <rina.helpdesk@lampungprov.go.id>",), reply_to="provlampunglpse@gmail.com")
    msg = parse(build(out))
    assert msg["From"].addresses[0].display_name == "Helpdesk LPSE Provinsi Lampung"
    assert msg["From"].addresses[0].addr_spec == "provlampunglpse@gmail.com"
    assert str(msg["To"]) == "Budi Santoso <budi@example.co.id>"
    assert msg["Cc"].addresses[0].addr_spec == "rina.helpdesk@lampungprov.go.id"
    assert str(msg["Reply-To"]) == "provlampunglpse@gmail.com"
    assert str(msg["Subject"]) == "[LPSE#12] Tidak bisa login SPSE"
    assert msg["Date"].datetime == DATE
    assert msg["Message-ID"] == "<lpse.12.ack.abc@gmail.com>"
    assert msg["In-Reply-To"] == "<CAEJr9+f2bTE@mail.gmail.com>"
    assert msg["References"].split() == ["<first@example.co.id>", "<CAEJr9+f2bTE@mail.gmail.com>"]
    assert msg["X-Mailticket-Kind"] == "ack"
    assert msg["MIME-Version"] == "1.0"


def test_crlf_everywhere_and_ascii_only():
    data = build(outgoing(html=HTML))
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.isascii()
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))


def test_plain_text_only_is_a_single_utf8_part():
    msg = parse(build())
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    assert msg.get_content_charset() == "utf-8"
    assert content(msg) == TEXT


def test_html_makes_multipart_alternative_text_first():
    msg = parse(build(outgoing(html=HTML)))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert content(parts[0]) == TEXT
    assert content(parts[1]) == HTML + "\n"
    assert all(p.get_content_charset() == "utf-8" for p in parts)


def test_the_boundary_comes_from_the_message_and_from_no_part():
    out = outgoing(html=HTML)
    assert build(out) == build(out)  # pure: no random draw
    boundary = parse(build(out)).get_boundary()
    assert boundary.startswith("=_mt_") and boundary not in TEXT + HTML
    assert parse(build(out, message_id="<other@gmail.com>")).get_boundary() != boundary
    assert parse(build(outgoing(html=HTML + "."))).get_boundary() != boundary


def test_body_lines_and_encoding():
    long_line = "Kata " * 40 + "é"
    text = f"{long_line}\r\nbaris dua\rbaris tiga =3D\nspasi di akhir   \n"
    data = build(outgoing(text=text))
    assert b"Content-Transfer-Encoding: quoted-printable" in data
    assert content(parse(data)) == f"{long_line}\nbaris dua\nbaris tiga =3D\nspasi di akhir   \n"
    ascii_data = build(outgoing(text="Halo.\nTerima kasih."))
    assert b"Content-Transfer-Encoding: 7bit" in ascii_data
    assert b"\r\n\r\nHalo.\r\nTerima kasih.\r\n" in ascii_data


def test_control_characters_in_the_body_are_encoded():
    data = build(outgoing(text="a\x00b\x1bc"))
    assert b"\x00" not in data and b"\x1b" not in data
    assert content(parse(data)) == "a\x00b\x1bc\n"


@pytest.mark.parametrize("kind, expected", [
    ("ack", "auto-replied"), ("notification", "auto-generated"), ("warning", "auto-generated"),
    ("breach", "auto-generated"), ("escalation", "auto-generated"), ("error", "auto-generated"),
    ("digest", "auto-generated"), ("relay", None), ("closing", None),
])
def test_auto_submitted_by_kind(kind, expected):
    msg = parse(build(outgoing(kind=kind)))
    assert msg["Auto-Submitted"] == expected
    assert msg["X-Mailticket-Kind"] == kind
    assert (msg["X-Auto-Response-Suppress"] is None) == (expected is None)


def test_extra_headers_added_and_override_auto_submitted():
    out = outgoing(extra_headers=(("Auto-Submitted", "no"), ("X-Extra", "satu dua"), ("X-Extra", "tiga")))
    msg = parse(build(out))
    assert msg.get_all("Auto-Submitted") == ["no"]
    assert msg.get_all("X-Extra") == ["satu dua", "tiga"]


@pytest.mark.parametrize("name", ["To", "subject", "Message-ID", "Content-Type", "Bcc", "X-Mailticket-Kind",
                                  "X-Bad\r\nBcc", "X Bad", "X:Bad", "", "X-" + "a" * 1000])
def test_extra_headers_cannot_replace_own_fields_or_be_malformed(name):
    with pytest.raises(ValueError):
        build(outgoing(extra_headers=((name, "x"),)))


def test_unique_extra_header_given_twice_is_refused():
    with pytest.raises(ValueError):
        build(outgoing(extra_headers=(("Sender", "a@b.c"), ("Sender", "d@e.f"))))


def test_display_names_encoded_and_quoted():
    out = outgoing(to=('"Sitompul, Budi" <budi@example.co.id>', "Ñoño Ārya <nono@example.co.id>",
                       "siti@example.co.id"))
    data = build(out, from_name="Helpdesk LPSE — Prov. Lampung")
    msg = parse(data)
    assert msg["From"].addresses[0].display_name == "Helpdesk LPSE — Prov. Lampung"
    names = [(a.display_name, a.addr_spec) for a in msg["To"].addresses]
    assert names == [("Sitompul, Budi", "budi@example.co.id"), ("Ñoño Ārya", "nono@example.co.id"),
                     ("", "siti@example.co.id")]


def test_very_long_words_never_make_overlong_lines():
    word = "x" * 2000
    data = build(outgoing(subject=f"[LPSE#1] {word}", extra_headers=(("X-Extra", word),)), from_name=word)
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998  # the MUST of RFC 5322
    assert all(len(line) <= 78 for line in lines if not line.startswith(b"X-Extra:"))  # its SHOULD
    msg = parse(data)
    assert str(msg["Subject"]) == f"[LPSE#1] {word}" and str(msg["X-Extra"]) == word
    assert "".join(msg["From"].addresses[0].display_name.split()) == word


def test_long_non_ascii_name_decodes_exactly_with_an_rfc_2047_decoder():
    name = "Ñoño Ārya Śaputra Ḍewi Ṣantoso Ṭriwibowo Ḥadi Ẓulkarnain"
    raw = unfolded(build(from_name=name), "From")
    assert len(re.findall(r"=\?utf-8\?b\?", raw)) > 1
    assert str(make_header(decode_header(raw))) == f"{name} <provlampunglpse@gmail.com>"


def test_non_ascii_subject_round_trips_in_short_encoded_words():
    subject = "[LPSE#7] Gagal unggah dokumen — batas akhir hari ini pukul 15.00 WIB " + "é" * 80
    data = build(outgoing(subject=subject))
    assert str(parse(data)["Subject"]) == subject
    assert all(len(word) <= 75 for word in re.findall(rb"=\?utf-8\?b\?[^?]*\?=", data))


def test_long_ascii_subject_folds_and_round_trips():
    subject = "[LPSE#7] " + " ".join(f"kata{i}" for i in range(60))
    data = build(outgoing(subject=subject))
    assert str(parse(data)["Subject"]) == subject
    assert b"=?" not in header_block(data)[0].encode()


def test_ids_get_brackets_and_junk_references_are_dropped():
    out = outgoing(in_reply_to="abc@mail.gmail.com", references=("<ok@x>", "bad <id>", "", "  <also@ok>  "))
    msg = parse(build(out, message_id="lpse.1@gmail.com"))
    assert msg["Message-ID"] == "<lpse.1@gmail.com>"
    assert msg["In-Reply-To"] == "<abc@mail.gmail.com>"
    assert msg["References"].split() == ["<ok@x>", "<also@ok>"]
    assert parse(build(outgoing(in_reply_to="", references=())))["In-Reply-To"] is None


@pytest.mark.parametrize("kw", [{"message_id": "<a<b>"}, {"message_id": ""},
                                {"date": datetime(2026, 11, 25, 14, 30)}, {"from_addr": "not-an-address"}])
def test_bad_arguments_raise(kw):
    with pytest.raises(ValueError):
        build(**kw)


@pytest.mark.parametrize("to", [(), ("budi@example.co.id\r\nBcc: evil@example.com",), ("Budi <>",),
                                ("budi@exa mple.co.id",), ("büdi@example.co.id",),
                                ("a" * 300 + "@example.co.id",)])
def test_bad_recipients_raise(to):
    with pytest.raises(ValueError):
        build(outgoing(to=to))


def test_idn_domain_is_punycoded():
    msg = parse(build(outgoing(to=("budi@contoh-bandung.ẹxample",))))
    assert msg["To"].addresses[0].domain == "contoh-bandung.xn--xample-oh8b"


# --- header injection ------------------------------------------------------------------------

INJECTIONS = [
    "Halo\r\nBcc: evil@example.com",
    "Halo\nBcc: evil@example.com",
    "Halo\rBcc: evil@example.com",
    "Halo\r\n\r\n<html>body</html>",
    "Halo\u2028Bcc: evil@example.com",
    "Halo\x85Bcc: evil@example.com",
    "Halo\x0bBcc: evil@example.com\x0c",
    "Halo =?utf-8?q?a=0D=0ABcc:_evil@example.com?= akhir",
    "=?utf-8?b?YQ0KQmNjOiBldmlsQGV4YW1wbGUuY29t?=",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_subject_injection_is_neutralised(payload):
    data = build(outgoing(subject=payload))
    assert field_names(data) <= ALLOWED
    msg = parse(data)
    assert msg["Bcc"] is None
    assert str(msg["Subject"]) == compose_module.clean(payload)
    assert content(msg) == TEXT


@pytest.mark.parametrize("payload", INJECTIONS)
def test_name_and_extra_header_injection_is_neutralised(payload):
    out = outgoing(to=(f'"{payload}" <budi@example.co.id>',), extra_headers=(("X-Extra", payload),))
    data = build(out, from_name=payload)
    assert field_names(data) <= ALLOWED
    msg = parse(data)
    assert msg["Bcc"] is None
    assert msg["To"].addresses[0].addr_spec == "budi@example.co.id"
    assert msg["From"].addresses[0].addr_spec == "provlampunglpse@gmail.com"
    assert str(msg["X-Extra"]) == compose_module.clean(payload)


def test_reference_injection_is_neutralised():
    out = outgoing(in_reply_to="<a@b>\r\nBcc: evil@example.com",
                   references=("<c@d>\r\nBcc: evil@example.com", "<ok@x>"))
    data = build(out)
    assert field_names(data) <= ALLOWED - {"in-reply-to"}
    msg = parse(data)
    assert msg["Bcc"] is None and msg["References"] == "<ok@x>"
    with pytest.raises(ValueError):
        build(message_id="<m@x>\r\nBcc: evil@example.com")


@settings(max_examples=300, deadline=None)
@given(subject=st.text(max_size=300), name=st.text(max_size=80))
def test_any_text_round_trips_without_new_headers(subject, name):
    data = build(outgoing(subject=subject), from_name=name)
    assert field_names(data) <= ALLOWED
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = parse(data)
    assert str(msg["Subject"]) == compose_module.clean(subject)
    # policy.default keeps the space between encoded words of a display name (RFC 2047 says drop it).
    display = msg["From"].addresses[0].display_name
    assert "".join(display.split()) == "".join(compose_module.clean(name).split())
    assert msg["From"].addresses[0].addr_spec == "provlampunglpse@gmail.com"


# --- speed -----------------------------------------------------------------------------------


def test_compose_is_fast_enough():
    # A loose guard (target 0.3 ms, measured about 0.15 ms); it fails only on a gross regression.
    out = outgoing(html=HTML * 10, text=TEXT * 10)
    build(out)
    runs = 300
    started = time.perf_counter()
    for _ in range(runs):
        build(out)
    assert (time.perf_counter() - started) / runs < 0.003


# --- files (multipart/mixed) ---------------------------------------------------------------------

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
JPG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(reversed(range(256))) * 3 + b"\xff\xd9"
INDONESIAN = "Surat Permohonan Pendaftaran (revisi) – CV Sejahtera Abadi, Kab. Lampung Selatan.pdf"


def with_files(*files: AttachedFile, **changes) -> bytes:
    return build(outgoing(kind="notification", attachments=files, **changes))


@pytest.mark.parametrize(("name", "expected"), [
    ("plain", "a89d3db4d25eabf887efa9fdf75ebf5c97958c1ca541f40ed17b47af2dc57733"),
    ("html", "4c725db1e4dca6d5f959d8b20afd1eb51f95e5bee1d7ddf6a45048b1687cb6f1"),
    ("relay", "fc259574a01a72e35f74971766589af11f4c0156da1a9e58cbbc61930229e445"),
])
def test_mail_without_files_is_byte_for_byte_what_it_was(name, expected):
    """Hashes of what compose wrote before it knew files: a mail without files must not change."""
    cases = {
        "plain": outgoing(to=("Budi Santoso <budi@example.co.id>",),
                          text="Yth. Bapak/Ibu Budi,\n\nLaporan Anda sudah kami terima — nomor [LPSE#12].\n"),
        "html": outgoing(to=("budi@example.co.id",), subject="[LPSE#12] Laporan diterima", text="Halo\n",
                         html="<p>Halo &mdash; Budi</p>", cc=("Rina <rina@lampungprov.go.id>",),
                         reply_to="provlampunglpse@gmail.com", in_reply_to="", references=()),
        "relay": outgoing(kind="relay", to=("budi@example.co.id",), subject="Re: [LPSE#12] x", text="a" * 200 + "\n",
                          extra_headers=(("X-Extra", "nilai"),), in_reply_to="", references=()),
    }
    assert hashlib.sha256(build(cases[name])).hexdigest() == expected


def test_files_make_multipart_mixed_text_first_bytes_names_and_types_kept():
    data = with_files(AttachedFile("scan KTP direktur.pdf", "application/pdf", PDF),
                      AttachedFile("NPWP perusahaan.jpg", "image/jpeg", JPG))
    msg = parse(data)
    assert msg.get_content_type() == "multipart/mixed"
    body, *files = msg.iter_parts()
    assert body.get_content_type() == "text/plain" and content(body) == TEXT
    assert [(p.get_filename(), p.get_content_type(), p.get_content_disposition(), p.get_payload(decode=True))
            for p in files] == [("scan KTP direktur.pdf", "application/pdf", "attachment", PDF),
                                ("NPWP perusahaan.jpg", "image/jpeg", "attachment", JPG)]
    assert all(p["Content-Transfer-Encoding"] == "base64" for p in files)


def test_html_and_files_nest_the_alternative_inside_the_mixed():
    data = with_files(AttachedFile("a.pdf", "application/pdf", PDF), html=HTML)
    msg = parse(data)
    alternative, pdf = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert pdf.get_payload(decode=True) == PDF
    outer, inner = msg.get_boundary(), alternative.get_boundary()
    assert outer != inner and not outer.startswith(inner) and not inner.startswith(outer)
    assert data.count(f"--{outer}\r\n".encode()) == 2 and data.count(f"--{outer}--\r\n".encode()) == 1


@pytest.mark.parametrize("name", [INDONESIAN, "Daftar_Hadir_Rapat_Koordinasi_Pengadaan_Barang_dan_Jasa_Tahun_2026.xlsx",
                                  "laporan 😀 ñandú.pdf", "a\"b.pdf", "x" * 190 + ".pdf"])
def test_file_names_rfc_2231_and_encoded_words_round_trip_in_short_lines(name):
    data = with_files(AttachedFile(name, "application/pdf", PDF))
    msg = parse(data)
    (part,) = msg.iter_attachments()
    assert part.get_filename() == name  # Content-Disposition filename (RFC 2231 when not short ASCII)
    compat = email.message_from_bytes(data)  # compat32, as mail-parser reads it
    assert [p.get_filename() for p in compat.walk()][-1] == name
    name_param = str(make_header(decode_header(" ".join(compat.get_payload()[1].get_param("name").split()))))
    assert name_param == name  # the older Content-Type name, as encoded words
    head = data.split(b"\r\n\r\n")[0] + b"\r\n" + data.split(b"--=_mt_")[2].split(b"\r\n\r\n")[0]
    assert max(map(len, head.split(b"\r\n"))) <= 78


def test_control_characters_and_no_name_and_bad_type():
    data = with_files(AttachedFile("a\r\nBcc: x@y.id.pdf", "text/html\r\nX: y", b"x"),
                      AttachedFile("", "application/pdf", b""))
    msg = parse(data)
    first, second = msg.iter_attachments()
    assert first.get_filename() == "a Bcc: x@y.id.pdf" and first.get_content_type() == "application/octet-stream"
    assert second.get_filename() == "lampiran" and second.get_payload(decode=True) == b""
    assert set(field_names(data)) <= ALLOWED


def test_text_files_keep_their_charset():
    data = with_files(AttachedFile("catatan.txt", "text/plain", "Catatan rapat".encode("cp1252"), "windows-1252"))
    (part,) = parse(data).iter_attachments()
    assert part.get_content_charset() == "windows-1252" and part.get_filename() == "catatan.txt"


def test_files_keep_crlf_and_base64_lines_of_76():
    data = with_files(AttachedFile("besar.bin", "application/octet-stream", bytes(range(256)) * 400))
    assert b"\n" not in data.replace(b"\r\n", b"") and data.isascii()
    base64_lines = [line for line in data.split(b"\r\n") if len(line) == 76]
    assert len(base64_lines) > 100 and max(map(len, data.split(b"\r\n"))) <= 78


def test_a_file_given_by_reference_is_one_line_in_its_part():
    ref = "mailticket-file raw=3 file=2 size=4 sha256=" + "0" * 64
    data = with_files(AttachedFile("a.pdf", "application/pdf", b"", ref=ref))
    (part,) = parse(data).iter_attachments()
    assert part.get_payload().strip() == ref and part.get_filename() == "a.pdf"


def test_compose_with_a_big_file_is_fast_and_holds_it_once():
    big = bytes(range(256)) * (8 * 4096)  # 8 MiB
    start = time.perf_counter()
    data = with_files(AttachedFile("besar.pdf", "application/pdf", big))
    assert time.perf_counter() - start < 1.5
    (part,) = parse(data).iter_attachments()
    assert part.get_payload(decode=True) == big
