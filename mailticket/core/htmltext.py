"""HTML to text (pure): an HTML body in, its text out; never raises.

Used by parse (the text of an HTML-only mail) and reply (the new words of an HTML-only reply).
Block elements become line breaks, script, style and head vanish, entities are decoded and
whitespace collapses outside ``<pre>``. By default the text is for reading: paragraphs and
headings stand apart by a blank line, list items get "- ", table cells a tab. Two options:

- ``compact``: one line per block, for reading line by line (reply looks for quote headers
  that way). Only ``<br>`` and blocks holding nothing but ``&nbsp;`` (how Outlook writes an
  empty line) make blank lines; no list marks, table cells joined by a space, lines trimmed.
- ``drop_quotes``: without quote containers (``blockquote``, ``div.gmail_quote``,
  ``div.yahoo_quoted``, ...) and without everything from a reply or forward marker on
  (Zimbra's ``hr#zwchr``, Outlook's ``#divRplyFwdMsg`` and ``#appendonsend``).
"""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser

# block element -> line breaks it stands between when the text is for reading (2: a blank line)
_BLOCKS = {
    **dict.fromkeys(("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"), 2),
    **dict.fromkeys(("div", "li", "tr", "dt", "dd", "ul", "ol", "table", "section", "article", "header",
                     "footer"), 1),
}
# Compact text breaks once around each block; address, center and dl count as blocks there only,
# as they always have for reply and never for parse (changing either would change its output).
_COMPACT_BLOCKS = dict.fromkeys((*_BLOCKS, "address", "center", "dl"), 1)
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})
# html.parser costs a few microseconds per tag; Outlook and newsletter HTML carry kilobytes of
# styles and conditional comments that a regex drops far faster.
_NOT_TEXT = re.compile(r"<!--.*?-->|<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_ANY_SPACE = re.compile(r"\s+")  # &nbsp; too: in text for reading it is a space like any other
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")  # compact text keeps &nbsp;, so that its line stays a line
_BLANK_LINES = re.compile(r"\n{3,}")
_QUOTE_CLASSES = frozenset({"gmail_quote", "gmail_quote_container", "yahoo_quoted", "gmail_signature",
                            "moz-cite-prefix"})
_STOP_IDS = frozenset({"zwchr", "divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"})


def html_to_text(html: str, *, compact: bool = False, drop_quotes: bool = False) -> str:
    """The text of an HTML body (stdlib html.parser; never raises)."""
    extractor = _TextExtractor(compact, drop_quotes)
    try:
        extractor.feed(_NOT_TEXT.sub(" ", html))
        extractor.close()
    except (AssertionError, ValueError):  # html.parser's few hard failures on broken markup
        if not drop_quotes:  # all the words, without the layout
            text = htmllib.unescape(re.sub(r"<[^>]*>", " ", html)).replace("\r\n", "\n").replace("\r", "\n")
            return text.strip("\n").rstrip()
        # else keep what was read: what the parser could not read may be a quote
    lines = "".join(extractor.out).split("\n")
    text = "\n".join(line.strip() if compact else line.rstrip(" \t") for line in lines)
    return _BLANK_LINES.sub("\n\n", text).strip()


class _TextExtractor(HTMLParser):
    """Collects the text outside hidden elements (and left-out quotes), breaking lines at blocks."""

    def __init__(self, compact: bool, drop_quotes: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.blocks = _COMPACT_BLOCKS if compact else _BLOCKS
        self.bullet, self.cell = ("", " ") if compact else ("- ", "\t")
        self.space = _HTML_SPACE if compact else _ANY_SPACE
        self.drop_quotes = drop_quotes
        self.hidden = 0
        self.pre = 0
        self.quote = ""  # tag name of the quote container being left out
        self.quote_depth = 0
        self.stopped = False  # a reply or forward marker was seen: nothing more is text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.drop_quotes and self._left_out(tag, attrs):
            return
        self._tag(tag, +1)
        if tag == "br":
            self.out.append("\n")
        elif tag == "li" and self.bullet:
            self.out.append(self.bullet)
        elif tag in ("td", "th") and self.out and not self.out[-1].endswith(("\n", self.cell)):
            self.out.append(self.cell)

    def handle_endtag(self, tag: str) -> None:
        if self.drop_quotes and self._left_out_end(tag):
            return
        self._tag(tag, -1)

    def handle_data(self, data: str) -> None:
        if self.hidden or self.quote or self.stopped:
            return
        if not self.pre:
            data = self.space.sub(" ", data)
            if not self.out or self.out[-1][-1:].isspace():
                data = data.lstrip(" ")
        if data:
            self.out.append(data)

    def _tag(self, tag: str, step: int) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden + step)
        elif tag == "pre":
            self.pre = max(0, self.pre + step)
        breaks = self.blocks.get(tag)
        if breaks:
            self._newlines(breaks)

    def _newlines(self, count: int) -> None:
        if not self.out:
            return
        tail = "".join(self.out[-3:])
        have = len(tail) - len(tail.rstrip("\n"))
        if have < count:
            self.out.append("\n" * (count - have))

    def _left_out(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        """Whether a start tag is past a stop marker, inside a quote or opens one (drop_quotes)."""
        if self.stopped:
            return True
        if self.quote:
            self.quote_depth += tag == self.quote
            return True
        found = {name: (value or "") for name, value in attrs}
        element_id = found.get("id", "").lower()
        if element_id in _STOP_IDS:
            self.stopped = True
        elif tag == "blockquote" or element_id.startswith("yahoo_quoted") or (
            _QUOTE_CLASSES & set(found.get("class", "").split())
        ):
            self.quote, self.quote_depth = tag, 1
        return self.stopped or bool(self.quote)

    def _left_out_end(self, tag: str) -> bool:
        """Whether an end tag is past a stop marker or inside a quote; a quote's end ends a line."""
        if self.stopped:
            return True
        if not self.quote:
            return False
        self.quote_depth -= tag == self.quote
        if self.quote_depth == 0:
            self.quote = ""
            self._newlines(1)
        return True
