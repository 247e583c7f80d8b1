"""Look-alike domains (pure): does a domain pretend to be a well-known brand or one of ours?

A domain is checked word by word: its labels without the top-level part ("co.id", "com"), cut at
hyphens ("lkpp-verifikasi.com" -> lkpp, verifikasi). A word imitates a name when, after undoing
digit-for-letter swaps (0->o, 1->l, 3->e, 4->a, 5->s, 7->t, "rn"->"m", "vv"->"w"), it

- is the name itself ("lkpp-go.id", "googlemail-support.com", "inaproc-id.com");
- starts with the name, for names of 5 letters or more ("gmailsupport.net");
- is one or two edits away from it (insert, delete, change, swap two neighbours) with the same first
  letter: 1 edit for names of 5-7 letters, 2 for 8 or more ("gmaii", "g00gle", "inapr0c", "outlok").

The genuine domains (the brand's own and the trusted ones) and their sub-domains never count.
Short names (4 letters: lkpp, lpse, spse) are only matched whole, so "lpsb" or "email" is no match.
"""

from __future__ import annotations

from collections.abc import Iterable

_SWAPS = (("0", "o"), ("1", "l"), ("3", "e"), ("4", "a"), ("5", "s"), ("7", "t"), ("rn", "m"), ("vv", "w"))
_SECOND_LEVEL = frozenset({"co", "go", "ac", "or", "sch", "web", "my", "net", "com", "org", "gov", "edu",
                           "mil", "biz", "ponpes", "desa", "id"})


def words(domain: str) -> list[str]:
    """The words of a domain that are its own name, not its top-level part."""
    labels = [label for label in domain.strip(".").lower().split(".") if label]
    if len(labels) < 2:
        return []
    labels = labels[:-1]  # the top-level domain
    if len(labels) > 1 and labels[-1] in _SECOND_LEVEL and len(labels[-1]) <= 3:
        labels = labels[:-1]  # "co" of co.id, "com" of com.br
    if labels and labels[0] in ("www", "mail", "smtp", "mx", "email", "webmail"):
        labels = labels[1:]
    return [w for label in labels for w in label.split("-") if w]


def unswap(word: str) -> str:
    for bad, good in _SWAPS:
        word = word.replace(bad, good)
    return word


def distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count 1), or limit + 1 when it is above `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def imitates(word: str, name: str) -> bool:
    """True when `word` (one word of a domain) imitates the brand or service `name`."""
    plain = unswap(word)
    if name in (word, plain):
        return True
    if len(name) < 5 or not plain or plain[0] != name[0]:
        return False
    if plain.startswith(name):
        return True
    limit = 2 if len(name) >= 8 else 1
    return distance(plain, name, limit) <= limit


def lookalike(domain: str, names: Iterable[str], genuine: Iterable[str]) -> str | None:
    """The name `domain` imitates, or None; genuine domains and their sub-domains never imitate."""
    domain = domain.strip(".").lower()
    if not domain or any(domain == g or domain.endswith("." + g) for g in genuine):
        return None
    found = words(domain)
    for name in names:
        if any(imitates(word, name) for word in found):
            return name
    return None
