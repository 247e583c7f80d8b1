"""Stage `survey` (pure): a reporter's reply to a closed ticket -> a satisfaction rating, or not one.

`answer` is the decision for such a reply (called by decide.follow_up): a rating is recorded on the
ticket (a second one replaces the first), never reopens it and sends nothing; a number off the scale
gets a short note on the scale; anything else is None and the reply is a follow-up as before.

The closing mail asks for one number on the four-point scale of the Survei Kepuasan Masyarakat
(Permenpan RB 14/2017): 1 sangat tidak puas, 2 tidak puas, 3 puas, 4 sangat puas. A reply whose
first line is that number (a digit or its word: "4", "empat", "Nilai: 4", "4 terima kasih",
"4. Pelayanan cepat") is a rating; what follows it is the comment. A number outside the scale
("5", "10/10") is `OutOfScale`, answered with a short note on the scale. Anything else ("2 dokumen
masih gagal diunggah", "Masih error") is not a rating and stays a follow-up.

`ikm` turns ratings into the index (average x 25) and its quality letter as the regulation sets
the intervals (A 88.31-100, B 76.61-88.30, C 65.00-76.60, D 25.00-64.99).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mailticket.core.draft import Draft
from mailticket.core.effects import Arrival, Change, Decision, Desk, Record, TicketSnapshot
from mailticket.core.reply import new_text

SCALE = {1: "sangat tidak puas", 2: "tidak puas", 3: "puas", 4: "sangat puas"}
_WORDS = {"satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7, "delapan": 8,
          "sembilan": 9, "sepuluh": 10, "nol": 0}
_THANKS = (r"(?:terima\s*kasih|terimakasih|trims|makasih|thanks?|thank\s+you|tks|tq|mantap|ok(?:e|ay)?"
           r"|(?:sangat\s+)?(?:tidak\s+)?puas)")
# the number, optionally after "nilai"/"rating"/"skor", then the end of the line, a separator, a
# "/4"-style scale, or thanks; never a number that begins a sentence about something else
_RATING = re.compile(
    rf"^\s*(?:(?:nilai|rating|skor|score|penilaian)\s*[:=]?\s*)?(?P<n>\d{{1,2}}|{'|'.join(_WORDS)})"
    rf"(?:\s*/\s*\d{{1,2}})?(?:\s*(?:\((?:[a-z ]+)\))?)"
    rf"(?P<rest>$|\s*[.,:;!)\-–—]+.*$|\s+{_THANKS}\b.*$)",
    re.I,
)


@dataclass(frozen=True)
class Rating:
    value: int  # 1-4
    comment: str  # the rest of the reply, may be empty


@dataclass(frozen=True)
class OutOfScale:
    value: int  # the number given, not 1-4


def read_rating(text: str) -> Rating | OutOfScale | None:
    """The rating in a reply's new text (quotes already cut), or None when it is not one."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines:
        return None
    match = _RATING.match(lines[0])
    if match is None:
        return None
    raw = match["n"].lower()
    value = _WORDS[raw] if raw in _WORDS else int(raw)
    if value not in SCALE:
        return OutOfScale(value)
    rest = match["rest"].strip(" .,:;!)-–—")
    comment = "\n".join(part for part in (rest, *lines[1:]) if part).strip()
    return Rating(value, comment[:2000])


@dataclass(frozen=True)
class Index:
    """The satisfaction index of a set of ratings."""

    count: int
    average: float | None  # 1.00-4.00
    value: float | None  # average x 25: 25.00-100.00
    letter: str  # A, B, C, D; "" without ratings
    quality: str  # sangat baik, baik, kurang baik, tidak baik


_LETTERS = ((88.31, "A", "sangat baik"), (76.61, "B", "baik"), (65.00, "C", "kurang baik"),
            (25.00, "D", "tidak baik"))


def ikm(ratings: Iterable[int]) -> Index:
    """IKM = average rating x 25 (the four-point scale's conversion), with its quality letter."""
    values = [r for r in ratings if r in SCALE]
    if not values:
        return Index(0, None, None, "", "")
    average = sum(values) / len(values)
    value = round(average * 25, 2)
    letter, quality = next(((letter, quality) for low, letter, quality in _LETTERS if value >= low),
                           ("D", "tidak baik"))
    return Index(len(values), round(average, 2), value, letter, quality)


def answer(arrival: Arrival, desk: Desk, ticket: TicketSnapshot) -> Decision | None:
    """The decision for the reporter's reply to closed `ticket` if it is a survey answer, else None."""
    found = read_rating(new_text(arrival.mail.plain, arrival.mail.html))
    if found is None:
        return None
    draft = Draft(arrival, desk, ticket)
    draft.effects.append(Record("reply", arrival.mail.text, "survey answer"))
    if isinstance(found, OutOfScale):
        draft.event("rating-invalid", f"{found.value} is not on the scale 1-4")
        draft.send("survey_scale", (ticket.reporter,), values={"value": found.value},
                   in_reply_to=arrival.mail.message_id, references=draft.references())
        return draft.decision("rating-invalid")
    # a Change of the row only: no decision reads the rating back, so the snapshot does not carry it
    draft.effects.append(Change((("rating", found.value), ("rating_comment", found.comment or None))))
    draft.event("rated", f"{found.value}" + (f": {found.comment[:300]}" if found.comment else ""))
    return draft.decision("rated")
