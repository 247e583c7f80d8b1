"""Thanks (pure): whether a reporter's new text only thanks us, so that it never reopens a closed ticket.

In: the new text of a reply (quotes and signature already cut, `reply.new_text`). Out: True when the
text is short, asks nothing and brings no new problem: "terima kasih", "makasih pak", "thanks, sudah
bisa", "Baik, terima kasih banyak 🙏". A question mark, a problem word ("masih", "tidak bisa",
"error", "gagal", ...) or more than a few lines of text means a person who needs us again: the
ticket reopens as before (within `reopen_window`).
"""

from __future__ import annotations

import re

MAX_WORDS = 25  # a thank-you is short; past this, the text is read as a new message
MAX_LINES = 4

_THANKS = re.compile(
    r"\b(?:terima\s*kasih|terimakasih|trima\s*kasih|makasih|makasi|mksh|mks|trims|tks|thx|thanks?|thank\s+you"
    r"|matur\s+(?:nuwun|suwun)|tengkyu|hatur\s+nuhun)\b",
    re.IGNORECASE,
)
# Words of a problem or a request: with any of them the text is not only thanks.
_PROBLEM = re.compile(
    r"\b(?:masih|belum|tidak|tdk|gak|ga|gk|nggak|ngga|enggak|tak|kok|tapi|namun|error|eror|gagal|salah"
    r"|kendala|masalah|bermasalah|tolong|mohon|minta|bantu|bagaimana|gimana|kenapa|mengapa|apakah|kapan"
    r"|muncul|lagi|still|not|but|however|again|problem|issue|failed|cannot|can't|please|how|why)\b",
    re.IGNORECASE,
)


def only_thanks(text: str) -> bool:
    """True when `text` thanks us and does nothing else (no question, no new problem, short)."""
    text = text.strip()
    if not text or "?" in text:
        return False
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_LINES or len(text.split()) > MAX_WORDS:
        return False
    return _THANKS.search(text) is not None and _PROBLEM.search(text) is None
