"""Reply text: a reply's body in, only the sender's new words out (quotes, quote headers, signatures cut).

Pure. Used before `commands.parse_commands` (tags in quoted text are not commands) and when a staff
reply is relayed to the reporter. The text part is cut at the first quote header or separator that
Gmail, Outlook (Indonesian and English), Yahoo, Zimbra and iPhone/Android write, and ``>`` lines are
dropped. An HTML-only mail loses its quote containers first (``blockquote``, ``div.gmail_quote``,
``div.yahoo_quoted``, Zimbra's ``hr#zwchr`` and Outlook's ``#divRplyFwdMsg``/``#appendonsend`` with
everything after them), then becomes text with block elements as line breaks and goes the same way.

We keep our own ~150 lines: email-reply-parser and mail-parser-reply read text only and know no
Indonesian; talon needs lxml and scikit-learn and is barely maintained.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

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
_INVISIBLE = str.maketrans({"\xa0": " ", "\u200b": None, "\ufeff": None, "\r": None})


def new_text(text: str, html: str = "") -> str:
    """The new part of a reply; `html` is used only when `text` is empty (an HTML-only mail)."""
    if not text.strip() and html.strip():
        text = html_to_text(html)
    lines = text.replace("\r\n", "\n").translate(_INVISIBLE).split("\n")
    kept = [line.rstrip() for line in lines if not line.lstrip().startswith(">")]
    return _tidy(kept[: _cut_index(kept)])


def _cut_index(lines: list[str]) -> int:
    """Index of the first line of quoted matter or signature; len(lines) when there is none."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if (
            _SEPARATOR.match(stripped)
            or _DEVICE_SIGNATURE.match(stripped)
            or _is_attribution(lines, index)
            or _is_header_block(lines, index)
        ):
            return index
    return len(lines)


def _is_attribution(lines: list[str], index: int) -> bool:
    first = lines[index].strip()
    if not _ATTRIBUTION_START.match(first) or len(first) > 300:
        return False
    if _ATTRIBUTION_END.search(first):
        return any(ch.isdigit() for ch in first)
    # Gmail wraps a long attribution; demand an address so that prose starting with "Pada" survives.
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    joined = f"{first} {following}"
    return bool(following and _ATTRIBUTION_END.search(following) and "@" in joined and any(
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


def _tidy(lines: list[str]) -> str:
    """Join lines with at most one blank line in a row and none at either end."""
    out: list[str] = []
    for line in lines:
        if line.strip() or (out and out[-1]):
            out.append(line if line.strip() else "")
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def html_to_text(html: str) -> str:
    """HTML without its quoted parts, as text: block elements break lines, whitespace collapses."""
    parser = _NewPartParser()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser's rare hard failures: keep what we have
        pass
    return "\n".join(line.strip() for line in "".join(parser.out).split("\n"))


_BLOCKS = frozenset({
    "address", "article", "blockquote", "center", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4",
    "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "tr", "ul",
})
_HIDDEN = frozenset({"script", "style", "title"})
_QUOTE_CLASSES = frozenset({"gmail_quote", "gmail_quote_container", "yahoo_quoted", "gmail_signature",
                            "moz-cite-prefix"})
_STOP_IDS = frozenset({"zwchr", "divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"})


class _NewPartParser(HTMLParser):
    """Collects text outside quote containers, and nothing after a stop marker."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stopped = False
        self.skip_tag = ""  # tag name of the quote container being skipped
        self.skip_depth = 0
        self.hidden = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        if self.skip_tag:
            self.skip_depth += tag == self.skip_tag
            return
        found = {name: (value or "") for name, value in attrs}
        element_id = found.get("id", "").lower()
        if element_id in _STOP_IDS:
            self.stopped = True
        elif tag == "blockquote" or element_id.startswith("yahoo_quoted") or (
            _QUOTE_CLASSES & set(found.get("class", "").split())
        ):
            self.skip_tag, self.skip_depth = tag, 1
        elif tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in ("td", "th") and self.out and not self.out[-1].endswith((" ", "\n")):
            self.out.append(" ")
        else:
            self.pre += tag == "pre"
            self._block_break(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.stopped:
            return
        if self.skip_tag:
            self.skip_depth -= tag == self.skip_tag
            if self.skip_depth == 0:
                self.skip_tag = ""
                self._block_break("div")
        elif tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        else:
            self.pre = max(0, self.pre - (tag == "pre"))
            self._block_break(tag)

    def handle_data(self, data: str) -> None:
        if self.stopped or self.skip_tag or self.hidden:
            return
        if not self.pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if not self.out or self.out[-1].endswith("\n"):
                data = data.lstrip(" ")  # source indentation between blocks is no text
        if data:
            self.out.append(data)

    def _block_break(self, tag: str) -> None:
        # A soft break: nested blocks give one line break, only <br> makes blank lines.
        if tag in _BLOCKS and self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")
