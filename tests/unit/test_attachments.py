"""Attachments, pure: the MIME span walker, which files a mail has, the signature-logo rule, the cap,
and queued mail that refers to its files (filled in at delivery byte for byte as compose writes them)."""

from __future__ import annotations

import email
import hashlib
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailticket.config import parse_size
from mailticket.core import attachments, filerefs, mime, parse
from mailticket.core.compose import compose
from mailticket.types import AttachedFile, Outgoing

DATA = Path(__file__).resolve().parent.parent / "data"
FIXTURES = DATA / "attachments"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def every_sample() -> list[Path]:
    return sorted(DATA.rglob("*.eml"))


def _parses(path: Path) -> bool:
    try:
        parse.parse(path.read_bytes())
    except Exception:  # noqa: BLE001 - a hostile fixture that is no mail at all: nothing to compare
        return False
    return True


MAILS = [path for path in every_sample() if _parses(path)]


def files(data: bytes) -> list[tuple[str, str, int]]:
    return [(f.filename, f.content_type, f.size) for f in attachments.find(data)]


# -- the walker agrees with the email package ------------------------------------------------------


@pytest.mark.parametrize("path", MAILS, ids=lambda p: p.name)
def test_find_names_the_files_parse_lists(path):
    """The files a notification lists (parse, email package) are the files forwarded (mime walker)."""
    data = path.read_bytes()
    listed = parse.parse(data).attachments
    # sizes of message/* parts: parse estimates them from the parsed headers, the walker counts bytes
    def seen(entries):
        return [(name, ctype, None if ctype.startswith("message/") else size) for name, ctype, size in entries]

    assert seen(files(data)) == seen([(a.filename, a.content_type, a.size) for a in listed])


@pytest.mark.parametrize("path", every_sample(), ids=lambda p: p.name)
def test_decoded_files_are_the_email_packages(path):
    data = path.read_bytes()
    message = email.message_from_bytes(data)
    theirs = [p.get_payload(decode=True) for p in message.walk()
              if not p.is_multipart() and p.get_content_type() not in ("text/plain", "text/html")
              and not p.get_content_type().startswith("message/")]
    ours = [body for found, body in attachments.decoded(data) if not found.content_type.startswith(
        ("text/plain", "text/html", "message/"))]
    assert ours == theirs


def test_walk_lf_line_ends_missing_close_and_nested_prefix_boundary():
    data = (b"From: a@b.id\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n"
            b"preamble\n--b\nContent-Type: text/plain\n\nhalo\n"
            b"--b\nContent-Type: multipart/mixed; boundary=\"b-inner\"\n\n"
            b"--b-inner\nContent-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n"
            b"JVBERg==\n--b-inner--\n"
            b"--b\nContent-Type: application/octet-stream; name=\"last.bin\"\n\nno close boundary\n")
    assert files(data) == [("a.pdf", "application/pdf", 4), ("last.bin", "application/octet-stream", 18)]
    assert [body for _f, body in attachments.decoded(data)] == [b"%PDF", b"no close boundary\n"]


def test_a_boundary_that_never_appears_is_text_and_epilogue_is_no_part():
    never = b"Content-Type: multipart/mixed; boundary=\"zz\"\nSubject: x\n\n--other\nhalo\n"
    assert [s.kind for s in mime.walk(never)] == ["text/plain"]
    epilogue = (b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nx\n"
                b"--b--\nContent-Type: application/pdf\n\nnot a part\n")
    assert [s.kind for s in mime.walk(epilogue)] == ["text/plain"]


def test_hostile_nesting_and_part_count_are_bounded():
    deep = b"".join(b"Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n" % (i, i) for i in range(300))
    assert len(mime.walk(deep + b"Content-Type: text/plain\n\nx\n")) == 1
    many = b"Content-Type: multipart/mixed; boundary=\"b\"\n\n" + b"--b\nContent-Type: image/png\n\nx\n" * 2000
    assert len(mime.walk(many)) == mime.MAX_PARTS


def test_base64_size_is_counted_without_decoding_and_broken_base64_still_decodes():
    data = (b"Content-Type: application/pdf; name=\"x.pdf\"\nContent-Transfer-Encoding: base64\n\n"
            b"JVBE\r\nRi0x\r\nLjQ=\r\n")
    (found,) = attachments.find(data)
    assert found.size == len(b"%PDF-1.4") == len(mime.decode(data, found.span))
    broken = b"Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo*\n"
    assert mime.decode(broken, mime.walk(broken)[0]) == b"\x89PNG\r\n\x1a\n"


# -- a big message is parsed without its file bodies --------------------------------------------------


def big_report(size: int) -> tuple[bytes, bytes]:
    body = bytes(range(256)) * (size // 256)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Budi <budi@example.co.id>", "provlampunglpse@gmail.com", "Berkas"
    msg.set_content("Mohon diperiksa.\n")
    msg.add_attachment(body, maintype="application", subtype="pdf", filename="besar.pdf")
    return msg.as_bytes(), body


def test_slim_parse_sees_the_same_mail(monkeypatch):
    data, body = big_report(3 * 1024 * 1024)
    slimmed, sizes = mime.slim(data)
    assert len(slimmed) < 4096 and list(sizes.values()) == [len(body)]
    whole = parse.parse(data)
    monkeypatch.setattr(parse, "SLIM_ABOVE", 10 ** 12)
    assert parse.parse(data) == whole  # text, headers and the files' names and sizes


def test_slim_markers_cannot_be_forged():
    data, _body = big_report(2 * 1024 * 1024)
    forged = data.replace(b"Mohon diperiksa.", b"mailticket-omitted-0000-0")
    _slimmed, sizes = mime.slim(forged)
    assert "mailticket-omitted-0000-0" not in sizes  # a marker names the message's own hash


# -- the signature-logo rule -----------------------------------------------------------------------


def test_gmail_signature_logo_is_not_relayed_the_guide_is():
    found = attachments.find(fixture("gmail_signature_reply.eml"))
    assert [(f.filename, attachments.is_signature_logo(f)) for f in found] == [
        ("logo-lpse.png", True), ("Panduan Reset Password SPSE.pdf", False)]


def test_outlook_image001_is_a_logo_a_pasted_screenshot_and_a_form_are_not():
    found = attachments.find(fixture("outlook_signature_reply.eml"))
    assert [(f.filename, attachments.is_signature_logo(f)) for f in found] == [
        ("image001.png", True), ("image002.png", False), ("Formulir Pendaftaran Penyedia.docx", False)]
    assert found[1].inline and found[1].referenced and found[1].size > attachments.LOGO_MAX


def logo(**changes) -> attachments.Found:
    span = mime.walk(b"Content-Type: image/png\n\nx")[0]
    values = dict(span=span, number=1, filename="logo.png", content_type="image/png", size=5000, inline=True,
                  content_id="logo@x", referenced=True)
    return attachments.Found(**{**values, **changes})


@pytest.mark.parametrize(("changes", "is_logo"), [
    ({}, True),
    ({"inline": False}, False),  # Content-Disposition: attachment: sent on purpose
    ({"referenced": False}, False),  # inline but the HTML never shows it
    ({"size": attachments.LOGO_MAX + 1}, False),  # a screenshot pasted into the text
    ({"content_type": "application/pdf"}, False),
    ({"size": attachments.LOGO_MAX}, True),
])
def test_signature_logo_rule(changes, is_logo):
    assert attachments.is_signature_logo(logo(**changes)) is is_logo


def test_cid_references_are_matched_case_and_url_encoding_aside():
    data = (b"Content-Type: multipart/related; boundary=b\n\n--b\nContent-Type: text/html\n\n"
            b"<img src=\"CID:Image001.png%4001DB\">\n--b\nContent-Type: image/png\nContent-ID: <image001.png@01db>\n"
            b"Content-Disposition: inline\n\nx\n--b--\n")
    (found,) = attachments.find(data)
    assert found.referenced and found.inline and found.filename == "attachment-1.png"


# -- the cap -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sizes", "cap", "carried"), [
    ([3, 4, 5], None, [3, 4, 5]),
    ([3, 4, 5], 12, [3, 4, 5]),
    ([3, 15, 4], 10, [3, 4]),  # a later smaller file still fits
    ([15], 10, []),
    ([], 10, []),
    ([0, 10], 10, [0, 10]),
])
def test_within_cap(sizes, cap, carried):
    found = [logo(size=s, filename=f"f{i}") for i, s in enumerate(sizes)]
    kept, left = attachments.within_cap(found, cap)
    assert [f.size for f in kept] == carried
    assert sorted(f.size for f in kept + left) == sorted(sizes)


def test_select_drops_logos_only_when_asked_and_lists_what_is_left_out():
    data = fixture("outlook_signature_reply.eml")
    carried, left_out = attachments.select(data, cap=None, drop_logos=True)
    assert [f.filename for f in carried] == ["image002.png", "Formulir Pendaftaran Penyedia.docx"]
    carried, left_out = attachments.select(data, cap=20000, drop_logos=False)
    assert [f.filename for f in carried] == ["image001.png", "Formulir Pendaftaran Penyedia.docx"]
    assert [(a.filename, a.size) for a in left_out] == [("image002.png", 72238)]


@pytest.mark.parametrize(("text", "size"), [("10MB", 10 * 1024 ** 2), ("500 KB", 500 * 1024), ("1.5GB", 3 * 2 ** 29),
                                            ("0B", 0), ("25mib", 25 * 2 ** 20)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10", "ten MB", "-1MB", "10 TB", ""])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_extract_command():
    assert attachments.extract_command("LPSE#12") == "mailticket attachments LPSE#12 --out lampiran-LPSE12"
    assert attachments.extract_command("LPSE#12", "/etc/mailticket/mailticket.toml") == (
        "mailticket --config /etc/mailticket/mailticket.toml attachments LPSE#12 --out lampiran-LPSE12")
    assert attachments.extract_command("LPSE#3", "/srv/help desk/m.toml").startswith(
        "mailticket --config '/srv/help desk/m.toml' attachments LPSE#3")


# -- queued mail refers to its files; delivery fills them in -----------------------------------------------


def composed(files: tuple[AttachedFile, ...], html: str = "") -> bytes:
    out = Outgoing(kind="notification", to=("rina@lampungprov.go.id",), subject="[LPSE#1] Berkas",
                   text="Lampiran ikut email ini.\n", html=html, attachments=files)
    return compose(out, from_name="Helpdesk LPSE", from_addr="provlampunglpse@gmail.com",
                   message_id="<mt.1.x@gmail.com>", date=datetime(2026, 11, 25, 3, tzinfo=UTC))


@pytest.mark.parametrize("html", ["", "<p>Lampiran ikut email ini.</p>"])
def test_filled_mail_is_the_mail_composed_with_the_bytes(html):
    data = fixture("report_with_files.eml")
    refs, left_out = filerefs.refer(data, 7, cap=None, drop_logos=False)
    assert left_out == [] and all(f.data == b"" and f.ref for f in refs)
    queued = composed(tuple(refs), html)
    assert len(queued) < 6000  # the outbox row holds lines, not files
    found = filerefs.refs_in(queued)
    taken = filerefs.take(data, [ref for _span, ref in found])
    direct = tuple(AttachedFile(f.filename, f.content_type, body, f.charset)
                   for f, body in attachments.decoded(data))
    assert filerefs.fill(queued, taken) == composed(direct, html)


def test_a_reference_counts_only_as_a_file_parts_whole_body():
    data = fixture("gmail_signature_reply.eml")
    refs, _ = filerefs.refer(data, 3, cap=None, drop_logos=True)
    line = refs[0].ref
    forged = Outgoing(kind="relay", to=("budi@example.co.id",), subject="x", text=f"Lihat:\n{line}\n")
    queued = compose(forged, from_name="H", from_addr="provlampunglpse@gmail.com", message_id="<a@b>",
                     date=datetime(2026, 11, 25, tzinfo=UTC))
    assert filerefs.refs_in(queued) == []


def test_a_changed_file_is_refused():
    data = fixture("gmail_signature_reply.eml")
    (file,), _ = filerefs.refer(data, 3, cap=None, drop_logos=True)
    ref = filerefs.Ref.read(file.ref.encode())
    assert ref.size == 9178 and ref.number == 2
    with pytest.raises(filerefs.FileGone):
        filerefs.take(data, [filerefs.Ref(3, 2, ref.size, hashlib.sha256(b"other").hexdigest())])
    with pytest.raises(filerefs.FileGone):
        filerefs.take(data, [filerefs.Ref(3, 9, ref.size, ref.sha256)])


def test_listing_of_a_composed_mail():
    body = b"%PDF-1.4 panduan"
    data = composed((AttachedFile("Panduan.pdf", "application/pdf", body),))
    (entry,) = attachments.listing(data)
    assert entry.as_json() == {"filename": "Panduan.pdf", "content_type": "application/pdf", "size": len(body),
                               "sha256": hashlib.sha256(body).hexdigest()}
    assert attachments.may_have_files(data)


@pytest.mark.parametrize(("head", "maybe"), [
    (b"Content-Type: text/plain; charset=utf-8\r\n\r\nx", False),
    (b"Content-Type: text/html\r\n\r\nx", False),
    (b"Content-Type: text/plain; name=\"catatan.txt\"\r\n\r\nx", True),
    (b"Content-Type: multipart/mixed; boundary=b\r\n\r\nx", True),
    (b"Subject: no type\r\n\r\nx", True),
])
def test_may_have_files(head, maybe):
    assert attachments.may_have_files(head) is maybe


def test_policy_by_kind():
    assert attachments.carry("notification") == attachments.Carry(capped=True, drop_logos=False)
    assert attachments.carry("relay") == attachments.carry("closing") == attachments.Carry(False, True)


def test_a_parsed_mail_lists_inline_images_as_files():
    msg = email.message_from_bytes(fixture("report_with_files.eml"), policy=policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    names = [f.filename for f in attachments.find(fixture("report_with_files.eml"))]
    assert names == ["galat-pendaftaran.jpg", "scan KTP direktur.pdf", "NPWP perusahaan.jpg",
                     "Surat Permohonan Pendaftaran (revisi) – CV Sejahtera Abadi.pdf"]
