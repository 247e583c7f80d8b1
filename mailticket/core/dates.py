"""Dates a report names, against the day it was written (pure): signs for the classifier's rules.

"batas pemasukan penawaran 9 Desember", "tgl 9/12/2026", "tanggal 9": a step due a day or two after the
mail was written is a deadline at hand (permasalahan); one weeks away is not. A date before the mail
was written says when a fault began, and gives no sign. A date without a year is taken in the year that
puts it nearest to the day of writing; "tanggal 9" alone is the next 9th (this month or the next).
Numbers that only look like dates (a NIP, a version, "1/2") give none: a numeric date needs its year or
"tgl"/"tanggal" before it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

SIGNS = {
    "date_soon": "a date in the report at most 2 days after the day it was written",
    "date_far": "a date in the report more than 7 days after the day it was written",
}
SOON_DAYS, FAR_DAYS = 2, 7

MONTHS = {"januari": 1, "jan": 1, "februari": 2, "pebruari": 2, "feb": 2, "peb": 2, "maret": 3, "mar": 3,
          "april": 4, "apr": 4, "mei": 5, "juni": 6, "jun": 6, "juli": 7, "jul": 7, "agustus": 8, "agu": 8,
          "agt": 8, "ags": 8, "agst": 8, "september": 9, "sept": 9, "sep": 9, "oktober": 10, "okt": 10,
          "november": 11, "nopember": 11, "nov": 11, "nop": 11, "desember": 12, "des": 12}
# Each pattern starts at a digit (or at "t" of tgl/tanggal), which `re` finds fast; what may not stand
# before the match (a digit, a dot) is checked in _stands_alone.
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_NAMED = re.compile(r"(?P<day>\d\d?)(?=\s*-?\s*[a-z])\s*(?:-\s*)?(?P<month>" + _MONTH
                    + r")\b\.?(?:\s*,?\s*(?P<year>20\d\d))?", re.IGNORECASE)  # the lookahead: 2x faster
_NUMERIC = re.compile(r"(?P<day>\d\d?)\s*[/.-]\s*(?P<month>\d\d?)"
                      r"(?:\s*[/.-]\s*(?P<year>(?:20)?\d\d))?(?![\d.]*\d)")
_SAID = re.compile(r"\b(?:tgl|tanggal)\.?\s*$", re.IGNORECASE)  # right before a numeric date
_DAY_ONLY = re.compile(r"t(?:gl|anggal)\.?\s*(?P<day>\d\d?)(?!\d)(?!\s*[/.-]\s*\d)(?!\s*(?:" + _MONTH
                       + r")\b)", re.IGNORECASE)


def signs(text: str, written: datetime | None) -> tuple[tuple[str, str], ...]:
    """("date_soon" | "date_far", the date as written) for the nearest date after `written`'s day."""
    if written is None:
        return ()
    today = written.date()
    ahead = sorted((days, said) for when, said in named_dates(text, today)
                   if (days := (when - today).days) >= 0)
    if not ahead:
        return ()
    days, said = ahead[0]
    what = f"{said} ({days} day{'' if days == 1 else 's'} after the mail)"
    if days <= SOON_DAYS:
        return (("date_soon", what),)
    if days > FAR_DAYS:
        return (("date_far", what),)
    return ()


def named_dates(text: str, today: date) -> list[tuple[date, str]]:
    """Every date the text names, as (date, the words that named it)."""
    found = [(match, MONTHS[match["month"].lower()], match["year"]) for match in _NAMED.finditer(text)
             if _stands_alone(text, match.start(), "")]
    for match in _NUMERIC.finditer(text):
        said = _SAID.search(text, max(0, match.start() - 12), match.start())
        if (match["year"] or said) and _stands_alone(text, match.start(), "./-"):
            found.append((match, int(match["month"]), match["year"]))
    dates = [(when, match[0].strip()) for match, month, year in found
             if (when := _date(today, int(match["day"]), month, year))]
    alone = (m for m in _DAY_ONLY.finditer(text) if _stands_alone(text, m.start(), "", word=True))
    dates += [(when, m[0].strip()) for m in alone if (when := _next_day_of_month(today, int(m["day"])))]
    return dates


def _stands_alone(text: str, start: int, marks: str, word: bool = False) -> bool:
    """Nothing glued before `start`: no digit (nor one of `marks`; with `word`, no letter either)."""
    before = text[start - 1] if start else " "
    return not (before.isdigit() or before in marks or (word and before.isalpha()))


def _date(today: date, day: int, month: int, year: str | None) -> date | None:
    if year:
        return _valid(int(year) + (2000 if len(year) == 2 else 0), month, day)
    candidates = [d for y in (today.year - 1, today.year, today.year + 1) if (d := _valid(y, month, day))]
    return min(candidates, key=lambda d: abs(d - today), default=None)


def _next_day_of_month(today: date, day: int) -> date | None:
    this = _valid(today.year, today.month, day)
    if this and this >= today:
        return this
    following = today.replace(day=1) + timedelta(days=32)
    return _valid(following.year, following.month, day)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
