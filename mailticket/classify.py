"""Stage classify (pure): a report's subject and new text + compiled rules -> Classification.

The rules come from config/rules.toml (read by the caller, handed in as a dict): weighted
phrases and regexes per category, spam rules and named topics for templates. Text is
normalised (lower case, accents folded, letters repeated 3+ times squeezed) and cut into
tokens once; every phrase is found in one pass over the tokens through a trie (about 0.1 ms
for a 1 KB report, 0.6 ms for 5 KB on a slow 2-core box). Quoted text and anything past
`max_chars` is not looked at. spam_reason, classify and topics of one mail share one scan.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import ConfigError
from .types import Category, Classification

# Words ("16.00" and "5.000.000" are one: no sentence end inside), then sentence ends. ASCII
# first: faster on folded text.
_TOKEN = re.compile(r"[a-z0-9_]+(?:[.,:]\d+)*|[^\x00-\x7f\W]+|[.!?;]")
_STOP = frozenset(".!?;")  # sentence ends: a gap (~N) never crosses one
_COMBINING = re.compile(r"[\u0300-\u036f]")
_REPEATED = re.compile(r"([a-z])\1{2,}")
# Heads of a quoted message (Gmail "Pada ... menulis:", Outlook "Dari: / Dikirim:", "-----Original
# Message-----"); searched in lower-cased text, and only when one of _QUOTE_KEYS is in it at all.
_QUOTE_KEYS = ("wrote", "menulis", "original message", "pesan asli", "pesan awal", "__________",
               "from:", "dari:", "from :", "dari :")
_QUOTE_HEAD = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:original message|pesan asli|pesan awal)|_{10,}[ \t\r]*$"
    r"|(?:from|dari)[ \t]*:.*\n(?:.*\n){0,2}?[ \t]*(?:sent|dikirim|terkirim|date|tanggal)[ \t]*:)"
    r"|(?:wrote|menulis)[ \t]*:[ \t\r]*$", re.MULTILINE)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_SETTINGS = {"threshold": 2.0, "subject_factor": 1.5, "spam_threshold": 4.0, "max_chars": 8000}
_GATE = {"needs_min": 1.0, "needs_own": 0.0, "inherit": 1.0}
_MATCH_KEYS = {"name", "phrases", "regex", "with", "unless", "where"}
_BOTH = {"category", "weights"}
_INF = float("inf")
_ENTRY_KEYS = {"rule": _MATCH_KEYS | {"category", "weight", "weights"}, "spam": _MATCH_KEYS | {"weight"},
               "topic": _MATCH_KEYS}

Atom = tuple[str, bool]  # (token, is_prefix)
Step = tuple[tuple[Atom, ...], ...] | int  # alternatives of atom sequences, or a gap of up to N tokens


@dataclass(frozen=True)
class Rule:
    """One named entry of rules.toml, compiled."""

    name: str
    weights: tuple[tuple[str, float], ...]  # (category or "spam", weight); () for topics
    phrases: tuple[int, ...]  # ids of its phrases (where they end in Rules.trie)
    regexes: tuple[re.Pattern[str], ...]
    with_: tuple[int, ...]  # one of these phrases must also be in the mail
    unless: tuple[int, ...]  # none of these may be in the mail
    where: str  # "any" | "subject" | "body"


@dataclass(frozen=True)
class Gate:
    """A category that counts only on top of another (permasalahan = a fault + a deadline)."""

    category: str
    needs: str  # this category must score at least needs_min ...
    needs_min: float
    needs_own: float  # ... and the gated category's own rules must reach this
    inherit: float  # then this share of the needed category's score is added


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: the scan cache keys on it
class Rules:
    """rules.toml compiled: hand it to classify, spam_reason and topics."""

    rules: tuple[Rule, ...]
    spam: tuple[Rule, ...]
    topics: tuple[Rule, ...]
    gates: tuple[Gate, ...]
    trie: _Node  # all phrases; Rule.phrases are ids of the paths' ends
    prefix_buckets: dict[str, tuple[tuple[str, _Node], ...]]  # phrases starting with a word prefix ...
    bucket_key: Callable[[str], str]  # ... filed under their first few letters
    has_regex: bool
    threshold: float
    subject_factor: float
    spam_threshold: float
    max_chars: int


@dataclass(frozen=True)
class _Seen:
    """What one mail looks like to the rules: normalised texts and the phrases found in them."""

    subject: str
    body: str
    in_subject: frozenset[int]
    in_body: frozenset[int]
    anywhere: frozenset[int]


# ---------------------------------------------------------------- text


def normalise(text: str) -> str:
    """Lower case, accents folded, 'bisaaa' -> 'bisa', whitespace collapsed (what regex rules see)."""
    return " ".join(_REPEATED.sub(r"\1", _fold(text)).split())


def _fold(text: str) -> str:
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return text.lower()


def _new_text(text: str) -> str:
    """The reporter's own words in lower-cased `text`: no quoted lines, nothing from a quote head on."""
    if ">" in text:
        text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))
    if not any(key in text for key in _QUOTE_KEYS):
        return text
    for match in _QUOTE_HEAD.finditer(text):
        start = text.rfind("\n", 0, match.start()) + 1
        if text[:start].strip():
            return text[:start]
    return text


def _tokens(text: str) -> list[str]:
    """Words and sentence ends; 'bisaaa' -> 'bisa' (checked on the distinct words: most mails have none)."""
    toks = _TOKEN.findall(text)
    if _REPEATED.search(" ".join(set(toks))):
        toks = [_REPEATED.sub(r"\1", tok) for tok in toks]
    return toks


# ---------------------------------------------------------------- matching


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

    def _chain(self, atoms: tuple[Atom, ...]) -> _Node:
        node = self
        for token, prefix in atoms:
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


def _find(toks: list[str], rules: Rules) -> frozenset[int]:
    """Ids of the phrases found anywhere in `toks`; the words that start no phrase are skipped in C."""
    found: set[int] = set()
    n, root = len(toks), rules.trie.next
    for i in itertools.compress(range(n), map(root.__contains__, toks)):
        node = root[toks[i]]
        if node.ends:
            found.update(node.ends)
        if node.gaps or (i + 1 < n and (node.starts is None or toks[i + 1] in node.starts)):
            node.walk(toks, i + 1, found)  # most words that start a phrase are not followed by its rest
    buckets = rules.prefix_buckets
    for i in itertools.compress(range(n), map(buckets.__contains__, map(rules.bucket_key, toks))):
        for prefix, child in buckets[rules.bucket_key(toks[i])]:
            if toks[i].startswith(prefix):
                child.walk(toks, i + 1, found)
    return frozenset(found)


@functools.lru_cache(maxsize=8)  # spam_reason, classify and topics of one mail share one scan
def _see(subject: str, text: str, rules: Rules) -> _Seen:
    subj = _fold(subject[:1000])
    body = _new_text(_fold(text[:rules.max_chars]))
    seen_s, seen_b = _find(_tokens(subj), rules), _find(_tokens(body), rules)
    if rules.has_regex:
        subj, body = normalise(subj), normalise(body)
    return _Seen(subj, body, seen_s, seen_b, seen_s | seen_b)


def _hit(rule: Rule, seen: _Seen, factor: float) -> float:
    """0 when the rule does not match; `factor` when it matches in the subject; else 1."""
    if rule.with_ and seen.anywhere.isdisjoint(rule.with_):
        return 0.0
    if rule.unless and not seen.anywhere.isdisjoint(rule.unless):
        return 0.0
    if rule.where != "body" and (not seen.in_subject.isdisjoint(rule.phrases)
                                 or any(rx.search(seen.subject) for rx in rule.regexes)):
        return factor
    if rule.where != "subject" and (not seen.in_body.isdisjoint(rule.phrases)
                                    or any(rx.search(seen.body) for rx in rule.regexes)):
        return 1.0
    return 0.0


# ---------------------------------------------------------------- deciding


def _contributions(rules: Iterable[Rule], seen: _Seen, factor: float) -> list[tuple[str, str, float]]:
    """(rule name, category, points) for every rule that matched."""
    out = []
    for rule in rules:
        hit = _hit(rule, seen, factor)
        if hit:
            out.extend((rule.name, cat, weight * hit) for cat, weight in rule.weights)
    return out


def _apply_gates(scores: dict[str, float], gates: tuple[Gate, ...]) -> set[str]:
    """Gated categories that did not open: their score is 0 and their rules do not count."""
    closed = set()
    for gate in gates:
        if scores[gate.category] >= gate.needs_own and scores[gate.needs] >= gate.needs_min:
            scores[gate.category] += gate.inherit * scores[gate.needs]
        else:
            scores[gate.category] = 0.0
            closed.add(gate.category)
    return closed


def classify(subject: str, text: str, rules: Rules, default: Category) -> Classification:
    """The best-scoring category if it reaches the threshold and beats all others; else `default`."""
    parts = _contributions(rules.rules, _see(subject, text, rules), rules.subject_factor)
    scores = {c.value: 0.0 for c in Category}
    for _, cat, points in parts:
        scores[cat] += points
    closed = _apply_gates(scores, rules.gates)
    strength: dict[str, float] = {}
    for name, cat, points in parts:
        if cat not in closed:
            strength[name] = max(strength.get(name, 0.0), abs(points))
    matched = tuple(sorted(strength, key=lambda n: -strength[n]))
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    (best, top), (_, second) = ranked[0], ranked[1]
    table = tuple((c, round(s, 2)) for c, s in scores.items())
    if top >= rules.threshold and top > second:
        return Classification(Category(best), "rules", matched, table)
    return Classification(default, "default", matched, table)


def spam_reason(subject: str, text: str, rules: Rules) -> str | None:
    """A short English reason naming the spam rules that matched, or None when it is not spam."""
    parts = _contributions(rules.spam, _see(subject, text, rules), rules.subject_factor)
    score = sum(points for _, _, points in parts)
    if score < rules.spam_threshold:
        return None
    names = ", ".join(name for name, _, points in sorted(parts, key=lambda p: -p[2]) if points > 0)
    return f"spam rules matched: {names} (score {score:g} >= {rules.spam_threshold:g})"


def topics(subject: str, text: str, rules: Rules) -> tuple[str, ...]:
    """Names of the topics (in file order) the mail is about, e.g. ("registration",)."""
    seen = _see(subject, text, rules)
    return tuple(topic.name for topic in rules.topics if _hit(topic, seen, 1.0))


# ---------------------------------------------------------------- compiling


class _Compiler:
    """Builds Rules from the parsed TOML, naming file and key in every ConfigError."""

    def __init__(self, data: dict[str, Any], source: str):
        self.source, self.trie, self.ids = source, _Node(), {}
        unknown = set(data) - {"settings", "words", "category", "rule", "spam", "topic"}
        if unknown:
            self.fail(sorted(unknown)[0], "unknown section")
        words = self.table(data, "words")
        self.words = {name: self.word_class(name, entries) for name, entries in words.items()}

    def fail(self, key: str, what: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {key}", what)

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.fail(key, "must be a table")
        return value

    def number(self, value: Any, key: str, low: float = 0.0) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            self.fail(key, f"must be a number >= {low:g}, got {value!r}")
        return float(value)

    def strings(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(key, "must be a list of non-empty strings")
        return value

    def word_class(self, name: str, entries: Any) -> tuple[tuple[Atom, ...], ...]:
        key = f"words.{name}"
        if not _NAME.match(name):
            self.fail(key, "class names are lower-case letters, digits and _")
        out = []
        for j, text in enumerate(self.strings(entries, key)):
            atoms = self.atoms(text, f"{key}[{j}]")
            if any(c in text for c in "{}~") or (len(atoms) > 1 and any(pre for _, pre in atoms)):
                self.fail(f"{key}[{j}]", f"{text!r}: plain words only; a * prefix only in a one-word entry")
            out.append(atoms)
        return tuple(out)

    def atoms(self, text: str, key: str) -> tuple[Atom, ...]:
        """Literal words as the text's tokens: "e-mail" -> e, mail; "unggah*" -> a prefix."""
        atoms: list[Atom] = []
        for word in text.split():
            prefix = word.endswith("*")
            if prefix and len(word) < 4:
                self.fail(key, f"{text!r}: a word prefix needs at least 3 letters before *")
            toks = _tokens(normalise(word.rstrip("*")))
            if not toks:
                self.fail(key, f"{text!r}: {word!r} has no letters or digits")
            atoms.extend((t, prefix and k == len(toks) - 1) for k, t in enumerate(toks))
        return tuple(atoms)

    def phrase(self, text: str, key: str) -> int:
        """The id of a phrase, adding it to the trie the first time it is seen."""
        steps: list[Step] = []
        for word in text.split():
            if re.fullmatch(r"~[1-9]", word):
                steps.append(int(word[1:]))
            elif word.startswith("{") and word.endswith("}"):
                if word[1:-1] not in self.words:
                    self.fail(key, f"{text!r}: no word class {word} in [words]")
                steps.append(self.words[word[1:-1]])
            else:
                steps.append((self.atoms(word, key),))
        gaps = [isinstance(step, int) for step in steps]
        if not steps or gaps[0] or gaps[-1] or any(a and b for a, b in itertools.pairwise(gaps)):
            self.fail(key, f"{text!r}: a phrase cannot be empty, start or end with a gap, or have 2 in a row")
        if tuple(steps) not in self.ids:
            self.ids[tuple(steps)] = len(self.ids)
            self.trie.add(tuple(steps), self.ids[tuple(steps)], expand=True)
        return self.ids[tuple(steps)]

    def phrase_ids(self, entry: dict[str, Any], field: str, key: str) -> tuple[int, ...]:
        texts = self.strings(entry.get(field, []), f"{key}.{field}")
        return tuple(self.phrase(t, f"{key}.{field}[{j}]") for j, t in enumerate(texts))

    def regexes(self, entry: dict[str, Any], key: str) -> tuple[re.Pattern[str], ...]:
        out = []
        for j, pattern in enumerate(self.strings(entry.get("regex", []), f"{key}.regex")):
            try:
                out.append(re.compile(pattern))
            except re.error as exc:
                self.fail(f"{key}.regex[{j}]", f"rule {entry.get('name')!r}: bad regex: {exc}")
        return tuple(out)

    def weights(self, entry: dict[str, Any], key: str, section: str) -> tuple[tuple[str, float], ...]:
        if section == "topic":
            return ()
        if section == "spam":
            return (("spam", self.number(entry.get("weight"), f"{key}.weight", -_INF)),)
        if "weights" in entry:
            table, where = entry["weights"], f"{key}.weights"
        else:
            table, where = {entry.get("category"): entry.get("weight")}, f"{key}.category"
        if not isinstance(table, dict) or not table or set(table) - set(Category) or entry.keys() >= _BOTH:
            self.fail(where, f"rule {entry.get('name')!r}: needs category (one of {', '.join(Category)}) "
                      "and weight, or a weights table such as { gangguan = 2, permintaan = -3 }")
        return tuple((c, self.number(w, f"{where}.{c}" if where.endswith("s") else f"{key}.weight", -_INF))
                     for c, w in table.items())

    def entry(self, entry: Any, key: str, section: str) -> Rule:
        if not isinstance(entry, dict):
            self.fail(key, "must be a table")
        unknown = set(entry) - _ENTRY_KEYS[section]
        if unknown:
            self.fail(f"{key}.{sorted(unknown)[0]}", f"unknown key in [[{section}]]")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail(f"{key}.name", "every rule needs a name")
        where = entry.get("where", "any")
        if where not in ("any", "subject", "body"):
            self.fail(f"{key}.where", f"must be any, subject or body; got {where!r}")
        rule = Rule(name, self.weights(entry, key, section), self.phrase_ids(entry, "phrases", key),
                    self.regexes(entry, key), self.phrase_ids(entry, "with", key),
                    self.phrase_ids(entry, "unless", key), where)
        if not rule.phrases and not rule.regexes:
            self.fail(f"{key}.phrases", f"rule {name!r}: needs phrases or regex")
        return rule

    def section(self, data: dict[str, Any], section: str) -> tuple[Rule, ...]:
        entries = data.get(section, [])
        if not isinstance(entries, list):
            self.fail(section, f"must be an array of tables ([[{section}]])")
        rules = tuple(self.entry(e, f"{section}[{i}]", section) for i, e in enumerate(entries))
        names = [r.name for r in rules]
        for i, name in enumerate(names):
            if name in names[:i]:
                self.fail(f"{section}[{i}].name", f"duplicate rule name {name!r}")
        return rules

    def gate(self, cat: str, table: Any) -> Gate:
        key = f"category.{cat}"
        if cat not in set(Category) or not isinstance(table, dict):
            self.fail(key, f"must be a table named after a category ({', '.join(Category)})")
        if set(table) - {"needs", *_GATE} or table.get("needs") not in set(Category) - {cat}:
            self.fail(key, "takes needs (another category), needs_min, needs_own and inherit")
        number = {k: self.number(table.get(k, d), f"{key}.{k}") for k, d in _GATE.items()}
        if number["needs_min"] <= 0:
            self.fail(f"{key}.needs_min", "must be above 0")
        return Gate(cat, table["needs"], **number)

    def settings(self, data: dict[str, Any]) -> dict[str, float]:
        table = self.table(data, "settings")
        for key in sorted(set(table) - set(_SETTINGS)):
            self.fail(f"settings.{key}", "unknown key")
        values = {k: self.number(table.get(k, d), f"settings.{k}") for k, d in _SETTINGS.items()}
        if values["max_chars"] < 100 or values["subject_factor"] <= 0:
            self.fail("settings", "max_chars must be >= 100 and subject_factor > 0")
        return values


def compile_rules(data: dict[str, Any], source: str = "rules.toml") -> Rules:
    """Validate parsed rules.toml and compile it once; a bad entry raises ConfigError(where, what)."""
    c = _Compiler(data, source)
    values = c.settings(data)
    rules, spam, tops = c.section(data, "rule"), c.section(data, "spam"), c.section(data, "topic")
    gates = tuple(c.gate(cat, table) for cat, table in c.table(data, "category").items())
    size = min((len(p) for p in c.trie.prefixes), default=3)  # phrases starting with a word prefix, ...
    buckets: dict[str, list[tuple[str, _Node]]] = {}  # ... filed under the first `size` letters
    for prefix, node in c.trie.prefixes.items():
        buckets.setdefault(prefix[:size], []).append((prefix, node))
    c.trie.freeze()
    return Rules(rules, spam, tops, gates, c.trie, {k: tuple(v) for k, v in buckets.items()},
                 operator.itemgetter(slice(0, size)), any(r.regexes for r in rules + spam + tops),
                 values["threshold"], values["subject_factor"], values["spam_threshold"],
                 int(values["max_chars"]))
