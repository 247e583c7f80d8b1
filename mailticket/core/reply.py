"""Reply text: a reply's body in, only the sender's new words out (quotes, quote headers, signatures cut).

Pure. Used before `commands.parse_commands` (tags in quoted text are not commands), when a staff
reply is relayed to the reporter, and by `classify.scan` (quoted text is not classified). The text
part is cut at the first quote header or separator that Gmail, Outlook (Indonesian and English),
Yahoo, Zimbra and iPhone/Android write, and ``>`` lines are dropped. An HTML-only mail becomes text
first (`htmltext`, one line per block) without its quote containers (``blockquote``,
``div.gmail_quote``, ``div.yahoo_quoted``, Zimbra's ``hr#zwchr`` and Outlook's
``#divRplyFwdMsg``/``#appendonsend`` with everything after them), then goes the same way.

We keep our own ~100 lines: email-reply-parser and mail-parser-reply read text only and know no
Indonesian; talon needs lxml and scikit-learn and is barely maintained.
"""

from __future__ import annotations

import re

from mailticket.core import htmltext

# "On <date> <name> wrote:" / "Pada <tanggal> <nama> menulis:", Gmail wraps it over two lines.
_ATTRIBUTION_START = re.compile(r"^(?:on|pada)\s", re.I)
_ATTRIBUTION_END = re.compile(r"\b(?:wrote|menulis)\s*:$", re.I)
_SEPARATOR = re.compile(
    r"^(?:_{10,}"  # Outlook's line of underscores
    r"|-{2,}\s*(?:original message|pesan asli|forwarded message|pesan terusan|pesan yang diteruskan)\s*-{2,}"
    r"|--)$",  # the "-- " signature delimiter; the trailing space is often lost on the way
    re.I,
)
_DEVICE_SIGNATURE = re.compile(
    r"^(?:sent from (?:my |yahoo mail|outlook|mail for)|get outlook for|dapatkan outlook untuk"
    r"|dikirim dari (?:yahoo mail|outlook|.{1,40}\bsaya\.?$))",
    re.I,
)
_FIELD = r"from|dari|sent|dikirim|terkirim|date|tanggal|to|kepada|cc|subject|subjek|perihal"
_HEADER_LINE = re.compile(rf"^\*?(?P<field>{_FIELD})\*?\s*:\*?(?:\s|$)", re.I)
# How every line that _cut_index may cut starts: one quick test, the full checks on these lines only.
_MAY_CUT = re.compile(r"\s*(?:[-_*]|(?:on|pada|from|dari|sent|get|dapatkan|dikirim)\b)", re.I)
_BLANK_LINES = re.compile(r"\n\n\n+")  # not \n{3,}: 10x slower, re finds no literal prefix in it
# replaced one by one: str.translate with a dict table is ~10x slower on a 5 KB text
_INVISIBLE = (("\r", ""), ("\xa0", " "), ("\u200b", ""), ("\ufeff", ""))


def new_text(text: str, html: str = "", *, cut_at_top: bool = True) -> str:
    """The new part of a reply; `html` is used only when `text` is empty (an HTML-only mail).

    With ``cut_at_top=False`` a quote header or separator before the first words is kept: a new
    report may open with a forwarded or pasted header, and its words are what follows.
    """
    if html and not text.strip() and html.strip():
        text = html_to_text(html)
    for char, replacement in _INVISIBLE:
        text = text.replace(char, replacement)
    lines = [line.rstrip() for line in text.split("\n")]
    kept = [line for line in lines if not line.lstrip().startswith(">")] if ">" in text else lines
    return _tidy(kept[: _cut_index(kept, cut_at_top)])


def _cut_index(lines: list[str], cut_at_top: bool) -> int:
    """Index of the first line of quoted matter or signature; len(lines) when there is none.

    Unless `cut_at_top`, nothing up to the first line with words is cut."""
    start = 0 if cut_at_top else next((i + 1 for i, line in enumerate(lines) if line.strip()), len(lines))
    for index in range(start, len(lines)):
        if _MAY_CUT.match(lines[index]) and (
            _SEPARATOR.match(lines[index].strip())
            or _DEVICE_SIGNATURE.match(lines[index].strip())
            or _is_attribution(lines, index)
            or _is_header_block(lines, index)
        ):
            return index
    return len(lines)


def _is_attribution(lines: list[str], index: int) -> bool:
    first = lines[index].strip()
    if not _ATTRIBUTION_START.match(first) or len(first) > 300:
        return False
    if first.endswith(":") and _ATTRIBUTION_END.search(first):  # endswith: a quick no for prose
        return any(ch.isdigit() for ch in first)
    # Gmail wraps a long attribution; demand an address so that prose starting with "Pada" survives.
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    joined = f"{first} {following}"
    return bool(following.endswith(":") and _ATTRIBUTION_END.search(following) and "@" in joined and any(
        ch.isdigit() for ch in joined))


def _is_header_block(lines: list[str], index: int) -> bool:
    """A From:/Dari: line and, before any blank line, another header line, as Outlook and Zimbra quote."""
    match = _HEADER_LINE.match(lines[index].strip())
    if not match or match["field"].lower() not in ("from", "dari"):
        return False
    for line in lines[index + 1 : index + 4]:
        if not line.strip():
            return False
        if _HEADER_LINE.match(line.strip()):
            return True
    return False


# what mail clients write in text/plain where an inline image sits: Gmail "[image: Logo]", Outlook
# "[cid:image001.png@01DB3F2A.6C1E2B70]"
_IMAGE_PLACEHOLDER = re.compile(r"\[(?:cid:|image:)[^\]\n]*\]", re.IGNORECASE)


def drop_image_placeholders(text: str) -> str:
    """The text without inline-image placeholders (a line left empty by one goes too): to a reporter they
    are noise; a picture that matters goes along as a file, a signature logo stays behind."""
    if "[" not in text or not _IMAGE_PLACEHOLDER.search(text):
        return text
    lines = [(line, _IMAGE_PLACEHOLDER.sub("", line)) for line in text.split("\n")]
    return _tidy([kept.rstrip() for line, kept in lines if kept.strip() or not line.strip()])


def _tidy(lines: list[str]) -> str:
    """Join right-stripped lines with at most one blank line in a row and none at either end."""
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def html_to_text(html: str) -> str:
    """An HTML reply as text without its quoted parts, one line per block (what `new_text` reads)."""
    return htmltext.html_to_text(html, compact=True, drop_quotes=True)
