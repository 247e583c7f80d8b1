"""htmltext.html_to_text: the two layouts and quote dropping side by side (parse and reply test each use)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailticket.core.htmltext import html_to_text

BLOCKS = (
    "<p>a</p><p>b</p><ul><li>c</li></ul><table><tr><td>d</td><td>e</td></tr></table>"
    "<div>&nbsp;</div><div>f</div>"
)


def test_text_for_reading_separates_paragraphs_and_marks_lists_and_cells() -> None:
    assert html_to_text(BLOCKS) == "a\n\nb\n\n- c\nd\te\nf"


def test_compact_text_has_one_line_per_block_and_keeps_nbsp_lines_blank() -> None:
    assert html_to_text(BLOCKS, compact=True) == "a\nb\nc\nd e\n\nf"


def test_compact_text_trims_lines_and_breaks_at_center() -> None:
    html = "<pre>  x\n    y</pre><center>z</center>w"
    assert html_to_text(html) == "x\n    y\n\nzw"
    assert html_to_text(html, compact=True) == "x\ny\nz\nw"


QUOTED = (
    '<p>new</p><div class="gmail_quote"><p>old</p></div><p>after</p>'
    '<div id="divRplyFwdMsg">From: x</div><p>older</p>'
)


def test_quotes_are_kept_unless_dropped() -> None:
    assert html_to_text(QUOTED) == "new\n\nold\n\nafter\n\nFrom: x\n\nolder"
    assert html_to_text(QUOTED, drop_quotes=True) == "new\n\nafter"
    assert html_to_text(QUOTED, drop_quotes=True, compact=True) == "new\nafter"


BROKEN = "<div>new</div><blockquote>old</blockquote><![bogus[ x ]]><div>more</div>"  # html.parser raises


def test_markup_the_parser_gives_up_on_keeps_all_words_or_only_what_was_read() -> None:
    assert html_to_text(BROKEN).split() == ["new", "old", "more"]
    assert html_to_text(BROKEN, compact=True).split() == ["new", "old", "more"]
    # what came after the failure may be a quote: with drop_quotes it is not text
    assert html_to_text(BROKEN, drop_quotes=True) == "new"


_PIECES = st.sampled_from([
    *"<>/!-[]&;#ap =\"\n\xa0", "<div>", "<pre>", "&nbsp;", "<![", "<!--",
    '<div class="gmail_quote">', "<blockquote>",
])
OPTIONS = [{}, {"compact": True}, {"drop_quotes": True}, {"compact": True, "drop_quotes": True}]


@pytest.mark.parametrize("options", OPTIONS)
@given(pieces=st.lists(_PIECES, max_size=60))
def test_never_raises(options: dict[str, bool], pieces: list[str]) -> None:
    assert isinstance(html_to_text("".join(pieces), **options), str)
