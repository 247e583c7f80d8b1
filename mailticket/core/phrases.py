"""Phrase matching (pure): rule phrases in, one word tree out; a text's tokens in, the phrases found out.

Used by classify. Text is folded (lower case, accents dropped) and cut into tokens: words
("16.00" and "5.000.000" are one) and sentence ends, with letters repeated 3+ times squeezed
('bisaaa' -> 'bisa'). A phrase is a sequence of steps:

- ``word``: a literal word ("e-mail" is the two tokens e, mail); ``unggah*``: any word
  starting so (3 letters at least);
- ``{class}``: any entry of a word class (an entry is a word, a prefix or several words);
- ``~N``: a gap of up to N tokens, never across a sentence end (not first, last or twice in a row).

`PhraseBook` compiles the phrases once into a trie over tokens and gives each distinct phrase an
id; `Matcher.find` then finds every phrase in one pass over the tokens (about 0.1 ms for a 1 KB
report, 0.6 ms for 5 KB on a slow 2-core box). Bad phrase syntax raises `PhraseError`, whose
text says what is wrong; the caller says where.
"""

from __future__ import annotations

import itertools
import operator
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Words ("16.00" and "5.000.000" are one: no sentence end inside), then sentence ends. ASCII
# first: faster on folded text.
_TOKEN = re.compile(r"[a-z0-9_]+(?:[.,:]\d+)*|[^\x00-\x7f\W]+|[.!?;]")
_STOP = frozenset(".!?;")  # sentence ends: a gap (~N) never crosses one
_COMBINING = re.compile(r"[\u0300-\u036f]")
_REPEATED = re.compile(r"([a-z])\1{2,}")
# "masuk2", "nyampe2", "lama2nya" (letters, then 2, then maybe -nya/-an): a word said twice; not "h2o",
# "2x", "dki2", which have fewer than 3 letters before the 2, nor "tahap2a"
_REDUP = re.compile(r"\b([a-z]{3,})2(nya|an|lah|kan)?\b")

Atom = tuple[str, bool]  # (token, is_prefix)
Step = tuple[tuple[Atom, ...], ...] | int  # alternatives of atom sequences, or a gap of up to N tokens
WordClass = tuple[tuple[Atom, ...], ...]  # its entries


class PhraseError(ValueError):
    """A phrase or word class entry that is not valid; the text names it and what is wrong."""


# ---------------------------------------------------------------- text


def fold(text: str) -> str:
    """Lower case, accents dropped."""
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return text.lower()


def normalise(text: str) -> str:
    """Lower case, accents folded, 'bisaaa' -> 'bisa', 'masuk2' -> 'masuk masuk', whitespace collapsed
    (what regex rules see)."""
    return " ".join(_REDUP.sub(_twice, _REPEATED.sub(r"\1", fold(text))).split())


def _twice(match: re.Match[str]) -> str:
    word = match.group(1)
    return f"{word} {word}{match.group(2) or ''}"


def tokens(text: str, spelling: dict[str, str] | None = None) -> list[str]:
    """Words and sentence ends of folded text; 'bisaaa' -> 'bisa', 'masuk2' -> 'masuk masuk' (each
    checked once on the whole text: most mails have neither) and short forms spelled out."""
    if _REDUP.search(text):
        text = _REDUP.sub(_twice, text)
    toks = _TOKEN.findall(text)
    if _REPEATED.search(" ".join(set(toks))):
        toks = [_REPEATED.sub(r"\1", tok) for tok in toks]
    if spelling:
        toks = list(map(spelling.get, toks, toks))
    return toks


def spelling_table(entries: dict[str, str]) -> dict[str, str]:
    """rules.toml [spelling] (short form = "word") checked and folded; PhraseError names a bad entry."""
    table = {}
    for short, word in entries.items():
        if not isinstance(word, str) or not re.fullmatch(r"[a-z0-9]+", fold(short)) \
                or not re.fullmatch(r"[a-z0-9]+", fold(word)):
            raise PhraseError(f"{short} = {word!r}: one word = one word, letters and digits only")
        table[fold(short)] = fold(word)
    return table


# ---------------------------------------------------------------- compiling


def atoms(text: str, spelling: dict[str, str] | None = None) -> tuple[Atom, ...]:
    """Literal words as the text's tokens: "e-mail" -> e, mail; "unggah*" -> a prefix."""
    found: list[Atom] = []
    for word in text.split():
        prefix = word.endswith("*")
        if prefix and len(word) < 4:
            raise PhraseError(f"{text!r}: a word prefix needs at least 3 letters before *")
        toks = tokens(normalise(word.rstrip("*")), None if prefix else spelling)
        if not toks:
            raise PhraseError(f"{text!r}: {word!r} has no letters or digits")
        found.extend((t, prefix and k == len(toks) - 1) for k, t in enumerate(toks))
    return tuple(found)


def class_entry(text: str, spelling: dict[str, str] | None = None) -> tuple[Atom, ...]:
    """One entry of a word class: a word, a prefix, or several plain words."""
    found = atoms(text, spelling)
    if any(c in text for c in "{}~") or (len(found) > 1 and any(pre for _, pre in found)):
        raise PhraseError(f"{text!r}: plain words only; a * prefix only in a one-word entry")
    return found


class PhraseBook:
    """Phrases compiled into one trie; `add` each, then take the `matcher` once."""

    def __init__(self, classes: dict[str, WordClass], spelling: dict[str, str] | None = None) -> None:
        self.classes = classes
        self.spelling = spelling
        self.trie = _Node()
        self.ids: dict[tuple[Step, ...], int] = {}

    def add(self, text: str) -> int:
        """The id of a phrase, adding it to the trie the first time it is seen."""
        steps: list[Step] = []
        for word in text.split():
            if re.fullmatch(r"~[1-9]", word):
                steps.append(int(word[1:]))
            elif word.startswith("{") and word.endswith("}"):
                if word[1:-1] not in self.classes:
                    raise PhraseError(f"{text!r}: no word class {word} in [words]")
                steps.append(self.classes[word[1:-1]])
            else:
                steps.append((atoms(word, self.spelling),))
        gaps = [isinstance(step, int) for step in steps]
        if not steps or gaps[0] or gaps[-1] or any(a and b for a, b in itertools.pairwise(gaps)):
            raise PhraseError(f"{text!r}: a phrase cannot be empty, start or end with a gap, "
                              "or have 2 in a row")
        key = tuple(steps)
        if key not in self.ids:
            self.ids[key] = len(self.ids)
            self.trie.add(key, self.ids[key], expand=True)
        return self.ids[key]

    def matcher(self) -> Matcher:
        """The finished matcher; the book takes no phrases after this."""
        # phrases starting with a word prefix, filed under the first `size` letters
        size = min((len(p) for p in self.trie.prefixes), default=3)
        buckets: dict[str, list[tuple[str, _Node]]] = {}
        for prefix, node in self.trie.prefixes.items():
            buckets.setdefault(prefix[:size], []).append((prefix, node))
        self.trie.freeze()
        frozen = {k: tuple(v) for k, v in buckets.items()}
        return Matcher(self.trie, frozen, operator.itemgetter(slice(0, size)))


# ---------------------------------------------------------------- matching


@dataclass(frozen=True, eq=False)
class Matcher:
    """All phrases of a PhraseBook, ready to be found in a token list."""

    trie: _Node  # phrase ids are where their paths end
    prefix_buckets: dict[str, tuple[tuple[str, _Node], ...]]  # phrases starting with a word prefix ...
    bucket_key: Callable[[str], str]  # ... filed under their first few letters

    def find(self, toks: list[str]) -> frozenset[int]:
        """Ids of the phrases found anywhere in `toks`; the words that start no phrase are skipped in C."""
        found: set[int] = set()
        n, root = len(toks), self.trie.next
        for i in itertools.compress(range(n), map(root.__contains__, toks)):
            node = root[toks[i]]
            if node.ends:
                found.update(node.ends)
            if node.gaps or (i + 1 < n and (node.starts is None or toks[i + 1] in node.starts)):
                node.walk(toks, i + 1, found)  # most words that start a phrase are not followed by its rest
        buckets, bucket_key = self.prefix_buckets, self.bucket_key
        for i in itertools.compress(range(n), map(buckets.__contains__, map(bucket_key, toks))):
            for prefix, child in buckets[bucket_key(toks[i])]:
                if toks[i].startswith(prefix):
                    child.walk(toks, i + 1, found)
        return frozenset(found)


class _Node:
    """A trie of phrases over tokens: words, word prefixes, word classes, gaps of up to N words."""

    __slots__ = ("next", "prefixes", "any_prefix", "classes", "gaps", "ends", "starts")

    def __init__(self) -> None:
        self.next: dict[str, _Node] = {}
        # the rest become tuples once frozen: only iterated when walking
        self.prefixes: Any = {}  # prefix -> _Node
        self.any_prefix: tuple[str, ...] = ()  # all the prefixes, for one str.startswith in C
        self.classes: Any = {}  # class step -> (words, prefixes, {first word: multi-word entries}, _Node)
        self.gaps: Any = {}  # N -> _Node
        self.ends: Any = []  # ids of the phrases that end here
        self.starts: frozenset[str] | None = None  # words that can match here; None: any may (prefixes)

    def add(self, steps: tuple[Step, ...], pid: int, expand: bool = False) -> None:
        """Insert a phrase; at the root (`expand`) every alternative of the first step gets its own path."""
        if not steps:
            self.ends.append(pid)
            return
        step, rest = steps[0], steps[1:]
        if isinstance(step, int):
            self.gaps.setdefault(step, _Node()).add(rest, pid)
        elif len(step) == 1 or expand:
            for alt in step:
                self._chain(alt).add(rest, pid)
        else:
            if step not in self.classes:
                words = frozenset(a[0][0] for a in step if len(a) == 1 and not a[0][1])
                prefixes = tuple(a[0][0] for a in step if len(a) == 1 and a[0][1])
                multis: dict[str, list[list[str]]] = {}
                for alt in (a for a in step if len(a) > 1):
                    multis.setdefault(alt[0][0], []).append([t for t, _ in alt])
                self.classes[step] = (words, prefixes, multis, _Node())
            self.classes[step][3].add(rest, pid)

    def _chain(self, alt: tuple[Atom, ...]) -> _Node:
        node = self
        for token, prefix in alt:
            node = (node.prefixes if prefix else node.next).setdefault(token, _Node())
        return node

    def freeze(self) -> None:
        """Tuples instead of dicts where only iteration is needed (faster to walk)."""
        for child in [*self.next.values(), *self.prefixes.values(), *self.gaps.values()]:
            child.freeze()
        for edge in self.classes.values():
            edge[3].freeze()
        self.prefixes, self.classes = tuple(self.prefixes.items()), tuple(self.classes.values())
        self.any_prefix = tuple(prefix for prefix, _ in self.prefixes)
        self.gaps, self.ends = tuple(self.gaps.items()), tuple(self.ends)
        if not self.prefixes and not any(edge[1] for edge in self.classes):
            self.starts = frozenset(self.next).union(*(e[0] | set(e[2]) for e in self.classes))

    def walk(self, toks: list[str], j: int, found: set[int]) -> None:
        """Record the phrases that continue from this node at toks[j]."""
        if self.ends:
            found.update(self.ends)
        if j < len(toks) and (self.starts is None or toks[j] in self.starts):
            self.step(toks, j, found)
        for size, after in self.gaps:  # the node after a gap matches a word; it never ends or gaps again
            window = toks[j:j + size + 1]
            if after.starts is not None and after.starts.isdisjoint(window):
                continue  # the usual case, found in C
            for k, tok in enumerate(window, j):
                if after.starts is None or tok in after.starts:
                    after.step(toks, k, found)
                if tok in _STOP:
                    break

    def step(self, toks: list[str], j: int, found: set[int]) -> None:
        """Follow the edges that match toks[j] (j < len(toks))."""
        tok = toks[j]
        child = self.next.get(tok)
        if child is not None:
            child.walk(toks, j + 1, found)
        if self.any_prefix and tok.startswith(self.any_prefix):
            for prefix, child in self.prefixes:
                if tok.startswith(prefix):
                    child.walk(toks, j + 1, found)
        for words, prefixes, multis, child in self.classes:
            if tok in words or (prefixes and tok.startswith(prefixes)):
                child.walk(toks, j + 1, found)
            for seq in multis.get(tok, ()):  # multi-word entries, by their first word
                if toks[j:j + len(seq)] == seq:
                    child.walk(toks, j + len(seq), found)
