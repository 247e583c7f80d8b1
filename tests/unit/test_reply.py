"""reply.new_text: only the new words of a reply, from real client formats (tests/data/replies)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailticket.core.reply import html_to_text, new_text

REPLIES = Path(__file__).resolve().parent.parent / "data" / "replies"


def bodies(name: str) -> tuple[str, str]:
    """(text/plain, text/html) of a fixture, "" for a missing part."""
    message = email.message_from_bytes((REPLIES / name).read_bytes(), policy=email.policy.default)
    parts = [message.get_body(preferencelist=(kind,)) for kind in ("plain", "html")]
    text, html = (part.get_content() if part is not None else "" for part in parts)
    return text, html


GMAIL_ID = (
    "#kategori permasalahan\n#tugaskan sari\n\n"
    "Baik Pak Budi, kendala unggah penawaran sudah kami cek. Masalahnya ada di{sep}"
    "server SPSE dan tim kami sedang menangani.\n\nSalam,\nRina"
)
GMAIL_EN = (
    "#close\n\nDear Mr. Budi, the bid upload works again after the server restart. Please{sep}"
    "try once more and tell us if the error comes back."
)
OUTLOOK_ID = (
    "#tunggu konfirmasi dari pelapor\n\nSelamat siang Bapak Johan,\n"
    "Mohon kirimkan tangkapan layar pesan kesalahannya.\n\nTerima kasih,\nSari"
)
OUTLOOK_EN = (
    "#escalate SPSE server unreachable from the vendor side, needs the data centre team\n"
    "#note Called the reporter at 10:30, he confirmed the error.\n\n"
    "Hi team, escalating this one.\n\nRegards,\nDedi"
)
YAHOO = "#selesai\n\nBu Sinta, akun penyedia sudah aktif kembali. Silakan login.\n\nDedi"
ZIMBRA = (
    "#ambil\n#kategori permintaan layanan\n\n"
    "Bapak Budi, permohonan pembuatan akun sudah kami terima dan sedang diproses.\n\nRina"
)
IPHONE_ID = "#buka\n\nPelapor mengirim ulang berkas, tiket saya buka lagi."
IPHONE_EN = "#reopen\n\nThe reporter sent the missing file."


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gmail_id.eml", GMAIL_ID.format(sep="\n")),
        ("gmail_en.eml", GMAIL_EN.format(sep="\n")),
        ("outlook_id.eml", OUTLOOK_ID),
        ("outlook_en.eml", OUTLOOK_EN),
        ("zimbra_id.eml", ZIMBRA),
        ("iphone_id.eml", IPHONE_ID),
        ("iphone_en.eml", IPHONE_EN),
    ],
)
def test_text_part_of_each_client(name: str, expected: str) -> None:
    text, html = bodies(name)
    assert text.strip()
    assert new_text(text, html) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gmail_id.eml", GMAIL_ID.format(sep=" ")),
        ("gmail_en.eml", GMAIL_EN.format(sep=" ")),
        ("outlook_id.eml", OUTLOOK_ID),
        ("outlook_en.eml", OUTLOOK_EN),
        ("yahoo_html_only.eml", YAHOO),
        ("zimbra_id.eml", ZIMBRA),
        ("iphone_en.eml", IPHONE_EN),
    ],
)
def test_html_part_of_each_client(name: str, expected: str) -> None:
    _, html = bodies(name)
    assert new_text("", html) == expected


def test_html_only_mail_uses_the_html() -> None:
    text, html = bodies("yahoo_html_only.eml")
    assert text == ""
    assert new_text(text, html) == YAHOO


def test_text_part_wins_when_both_exist() -> None:
    assert new_text("dari teks", "<div>dari html</div>") == "dari teks"
    assert new_text("  \n", "<div>dari html</div>") == "dari html"
    assert new_text("", "") == ""


@pytest.mark.parametrize("name", ["gmail_id.eml", "outlook_id.eml", "zimbra_id.eml", "iphone_id.eml"])
def test_tags_in_quoted_text_are_gone(name: str) -> None:
    text, html = bodies(name)
    assert "#tutup" in text + html
    assert "#tutup" not in new_text(text, html)
    if html:
        assert "#tutup" not in new_text("", html)


def test_prose_that_only_looks_like_quote_headers_is_kept() -> None:
    text, _ = bodies("prose_lookalikes.eml")
    assert new_text(text) == text.strip()


# --- text: quote headers -------------------------------------------------------------------------

REPLY = "#tutup\nSudah beres."


@pytest.mark.parametrize(
    "quote",
    [
        "Pada Sel, 3 Nov 2026 pukul 09.05 Helpdesk LPSE <provlampunglpse@gmail.com> menulis:",
        "Pada tanggal Sel, 3 Nov 2026 09.05, Helpdesk LPSE <provlampunglpse@gmail.com> menulis:",
        "Pada tanggal Sel, 3 Nov 2026 pukul 09.05 Helpdesk LPSE <\nprovlampunglpse@gmail.com> menulis:",
        "On Tue, Nov 3, 2026 at 9:05 AM Helpdesk LPSE <provlampunglpse@gmail.com> wrote:",
        "On Tue, Nov 3, 2026 at 9:05 AM Helpdesk LPSE Provinsi Lampung <\nprovlampunglpse@gmail.com> wrote:",
        "On Monday, November 2, 2026, 09:05:11 AM GMT+7, Helpdesk LPSE <provlampunglpse@gmail.com> wrote:",
        "Pada Senin, 2 November 2026 09.05.11 GMT+7, Helpdesk LPSE <provlampunglpse@gmail.com> menulis:",
        "________________________________\nFrom: Helpdesk LPSE <provlampunglpse@gmail.com>",
        "-----Original Message-----\nFrom: Helpdesk",
        "-----Pesan Asli-----\nDari: Helpdesk",
        "----- Original Message -----\nFrom: Helpdesk",
        "----- Pesan Terusan -----\nDari: Helpdesk",
        "---------- Forwarded message ---------\nFrom: Helpdesk",
        "From: Helpdesk LPSE <provlampunglpse@gmail.com>\nSent: Thursday, November 19, 2026 2:10 PM",
        "Dari: Helpdesk LPSE <provlampunglpse@gmail.com>\nDikirim: Kamis, 19 November 2026 14.10",
        "Dari: Helpdesk LPSE <provlampunglpse@gmail.com>\nTerkirim: Kamis, 19 November 2026 14.10",
        "*From:* Helpdesk LPSE <provlampunglpse@gmail.com>\n*Date:* Thu, Nov 19, 2026",
        "-- \nRina Marlina\nHelpdesk LPSE",
        "--\nRina Marlina",
        "Sent from my iPhone",
        "Dikirim dari iPhone saya",
        "Dikirim dari Yahoo Mail di Android",
        "Sent from Yahoo Mail on Android",
        "Get Outlook for Android",
        "Dapatkan Outlook untuk iOS",
    ],
)
def test_text_is_cut_at_quote_header_or_signature(quote: str) -> None:
    body = f"{REPLY}\n\n{quote}\n\n#buka\nteks lama yang dikutip\n"
    assert new_text(body) == REPLY


def test_quoted_lines_are_dropped_and_interleaved_answers_kept() -> None:
    body = "> Apakah sudah bisa?\nSudah.\n>> lama\n  > juga lama\nDan ini juga.\n"
    assert new_text(body) == "Sudah.\nDan ini juga."


@pytest.mark.parametrize(
    "prose",
    [
        "Pada hari Senin 9 November saya cek lagi, server sudah normal.",
        "On call hari ini: Dedi.",
        "Dari: tim server",
        "Dari: tim server\n\nKepada: pelapor",
        "Dikirim dari kantor pusat kemarin sore, mohon dicek.",
        "Pada 3 Nov 2026 saya cek\ndan Pak Dedi sudah menulis:",  # wrapped, but no address
        "---",
    ],
)
def test_prose_look_alikes_are_not_cut(prose: str) -> None:
    body = f"{REPLY}\n{prose}\nbaris terakhir"
    assert new_text(body) == body


def test_one_line_attribution_needs_a_digit() -> None:
    prose = f"{REPLY}\nPada suatu hari Pak Dedi menulis:\nx"
    assert new_text(prose) == prose
    assert new_text(f"{REPLY}\nPada 3 Nov Pak Dedi menulis:\nx") == REPLY


def test_line_endings_and_invisible_characters_are_normalised() -> None:
    body = "\ufeff#tutup\r\nSudah\xa0beres.\u200b\r\n\r\n\r\n\r\nSalam\r\n"
    assert new_text(body) == "#tutup\nSudah beres.\n\nSalam"


def test_blank_lines_are_collapsed_and_trimmed() -> None:
    assert new_text("\n\n  \nsatu\n\n\n\ndua\n\n") == "satu\n\ndua"


# --- HTML --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quote",
    [
        '<blockquote type="cite"><div>#tutup lama</div></blockquote>',
        '<div class="gmail_quote"><div class="gmail_attr">x</div><blockquote>#tutup lama</blockquote></div>',
        '<div class="gmail_quote gmail_quote_container"><div>#tutup lama</div></div>',
        '<div id="yahoo_quoted_123" class="yahoo_quoted"><div><div>#tutup lama</div></div></div>',
        '<div class="yahoo_quoted" style="display: block;"><div>#tutup lama</div></div>',
        '<div class="gmail_quote"><div><div>x</div></div>#tutup lama<div>y</div>lama</div>',
        '<div class="moz-cite-prefix">x</div><blockquote type="cite">#tutup lama</blockquote>',
        '<div class="gmail_signature">#tutup lama</div>',
    ],
)
def test_html_quote_containers_are_dropped_and_what_follows_kept(quote: str) -> None:
    html = f"<div>#buka</div>{quote}<div>sesudah</div>"
    assert html_to_text(html).split() == ["#buka", "sesudah"]


@pytest.mark.parametrize(
    "marker",
    [
        '<hr id="zwchr" data-marker="__DIVIDER__">',
        '<div id="divRplyFwdMsg" dir="ltr"><b>From:</b> x</div>',
        '<div id="appendonsend"></div><hr>',
        '<div id="mail-editor-reference-message-container">',
    ],
)
def test_html_stop_markers_drop_everything_after(marker: str) -> None:
    html = f"<div>#buka</div>{marker}<div>#tutup lama</div><p>juga lama</p>"
    assert html_to_text(html).strip() == "#buka"


def test_html_block_elements_break_lines() -> None:
    html = (
        "<html><head><title>judul</title><style>p {margin:0}</style></head><body>"
        "<p>#tutup</p><p>satu<br>dua</p><ul><li>tiga</li><li>empat</li></ul>"
        "<table><tr><td>lima</td><td>enam</td></tr><tr><td>tujuh</td></tr></table>"
        "<div><div><span>delapan</span> <b>sembilan</b></div></div><script>var x = 1;</script></body></html>"
    )
    assert new_text("", html) == "#tutup\nsatu\ndua\ntiga\nempat\nlima enam\ntujuh\ndelapan sembilan"


def test_html_entities_whitespace_and_pre() -> None:
    html = "<div>a &lt;b&gt; &amp;\n   c</div><pre>  x\n    y</pre><div>&nbsp;</div><div>z</div>"
    assert new_text("", html) == "a <b> & c\nx\ny\n\nz"


def test_html_tag_in_its_own_paragraph() -> None:
    html = '<p class="MsoNormal">#tutup<o:p></o:p></p>\n<p class="MsoNormal">Sudah beres.<o:p></o:p></p>'
    assert new_text("", html) == "#tutup\nSudah beres."


def test_html_unclosed_paragraphs_inside_a_quote_do_not_leak() -> None:
    html = '<div>baru</div><div class="gmail_quote"><p>lama<p>lama juga<div>x</div></div><div>akhir</div>'
    assert new_text("", html) == "baru\nakhir"


def test_html_broken_markup_never_raises() -> None:
    for html in ["<div", "<![if !supportLists]>a<![endif]>", "<!--", "</p></div><br/>b", "<a href='x>y"]:
        assert isinstance(new_text("", html), str)


# --- properties --------------------------------------------------------------------------------

_LINES = st.sampled_from([
    "", " ", "#tutup", "> kutipan", "Pada 3 Nov 2026 x@y.id menulis:", "On 3 Nov 2026 x@y wrote:",
    "Pada 3 Nov 2026 <", "x@y.id> menulis:", "Dari: a", "Kepada: b", "-- ", "--", "Sent from my iPhone",
    "________________", "teks biasa", "Salam,", "\xa0", "\r",
])


@given(st.lists(_LINES, max_size=12))
def test_new_text_is_idempotent_and_has_no_quoted_lines(lines: list[str]) -> None:
    once = new_text("\n".join(lines))
    assert new_text(once) == once
    assert not any(line.lstrip().startswith(">") for line in once.split("\n"))


@given(st.text(max_size=300))
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(new_text("", html), str)


def test_a_quote_header_before_any_words_is_kept_unless_cut_at_top() -> None:
    body = "Dari: Budi\nDikirim: Senin\n\ntidak bisa login\n\nPada 3 Nov 2026 Helpdesk <h@x.id> menulis:\nlama"
    assert new_text(body) == ""
    assert new_text(body, cut_at_top=False) == "Dari: Budi\nDikirim: Senin\n\ntidak bisa login"


def test_inline_image_placeholders_are_dropped_with_the_lines_they_leave_empty():
    from mailticket.core.reply import drop_image_placeholders

    gmail = "Terlampir panduannya.\n\nSalam,\n--\n[image: Logo LPSE Provinsi Lampung]\nRina Marlina"
    assert drop_image_placeholders(gmail) == "Terlampir panduannya.\n\nSalam,\n--\nRina Marlina"
    outlook = ("Akun sudah aktif (lihat tangkapan layar).\n[cid:image002.png@01DB3F2A.6C1E2B70]\n\n"
               "Terima kasih,\nSari [cid:image001.png@01DB3F2A.6C1E2B70]")
    assert drop_image_placeholders(outlook) == "Akun sudah aktif (lihat tangkapan layar).\n\nTerima kasih,\nSari"
    plain = "Silakan isi [nama paket] dan kirim ulang.\n\n\nTerima kasih"
    assert drop_image_placeholders(plain) == plain  # brackets that are not placeholders stay, blank lines too
