"""Stage classify (pure): a report's subject and new text + compiled rules -> Classification.

The rules come from config/rules.toml (read by the caller, handed in as a dict): weighted
phrases and regexes per category, spam rules and named topics for templates. Here they are
checked (ConfigError names file and key) and scored; their phrases are compiled and found by
`phrases` (text folded and cut into tokens once, every phrase found in one pass). Quoted text
(cut by `reply.new_text`, as for staff replies) and anything past `max_chars` is not looked at.
`scan` reads one mail once; spam_reason, classify and topics take that Scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, NoReturn

from mailticket.core import dates, links, lookalike, reply
from mailticket.core.phrases import (
    Matcher,
    PhraseBook,
    PhraseError,
    WordClass,
    class_entry,
    fold,
    normalise,
    spelling_table,
    tokens,
)
from mailticket.errors import ConfigError
from mailticket.types import Category, Classification, Mail

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_SETTINGS = {"threshold": 2.0, "subject_factor": 1.5, "spam_threshold": 4.0, "max_chars": 8000,
             "margin": 1.0, "single_rule_min": 3.0}
_GATE = {"needs_min": 1.0, "needs_own": 0.0, "inherit": 1.0}
_MATCH_KEYS = {"name", "phrases", "regex", "with", "unless", "where", "signs"}
_BOTH = {"category", "weights"}
_SECTIONS = {"settings", "words", "category", "rule", "spam", "topic", "spelling", "lookalike"}
_INF = float("inf")
SIGNS = {**links.SIGNS, **dates.SIGNS}  # what a rule's `signs` may name
_ENTRY_KEYS = {"rule": _MATCH_KEYS | {"category", "weight", "weights"}, "spam": _MATCH_KEYS | {"weight"},
               "topic": _MATCH_KEYS}


@dataclass(frozen=True)
class Rule:
    """One named entry of rules.toml, compiled."""

    name: str
    weights: tuple[tuple[str, float], ...]  # (category or "spam", weight); () for topics
    phrases: tuple[int, ...]  # ids of its phrases in Rules.matcher
    regexes: tuple[re.Pattern[str], ...]
    with_: tuple[int, ...]  # one of these phrases must also be in the mail
    unless: tuple[int, ...]  # none of these may be in the mail
    where: str  # "any" | "subject" | "body"
    signs: tuple[str, ...] = ()  # all of these SIGNS must show too (a rule may have signs only)


@dataclass(frozen=True)
class Gate:
    """A category that counts only on top of another (permasalahan = a fault + a deadline)."""

    category: str
    needs: str  # this category must score at least needs_min ...
    needs_min: float
    needs_own: float  # ... and the gated category's own rules must reach this
    inherit: float  # then this share of the needed category's score is added


@dataclass(frozen=True)
class Rules:
    """rules.toml compiled: hand it to classify, spam_reason and topics."""

    rules: tuple[Rule, ...]
    spam: tuple[Rule, ...]
    topics: tuple[Rule, ...]
    gates: tuple[Gate, ...]
    matcher: Matcher  # all phrases of all rules
    has_regex: bool
    threshold: float
    subject_factor: float
    spam_threshold: float
    max_chars: int
    margin: float = 1.0  # a winner closer than this to the runner-up is marked for review
    single_rule_min: float = 3.0  # ... and so is one that a single rule of fewer points carried
    spelling: dict[str, str] | None = None  # [spelling]: short form -> word
    lookalike_names: tuple[str, ...] = ()  # [lookalike] names: brands and our own names
    genuine_domains: tuple[str, ...] = ()  # [lookalike] genuine: their real domains


@dataclass(frozen=True)
class Scan:
    """What one mail looks like to the rules: normalised texts and the phrases found in them."""

    subject: str
    body: str
    in_subject: frozenset[int]
    in_body: frozenset[int]
    anywhere: frozenset[int]
    signs: tuple[tuple[str, str], ...] = ()  # (sign, what showed it): see links.signs, dates.signs

    def sign(self, name: str) -> str | None:
        return next((what for sign, what in self.signs if sign == name), None)


# ---------------------------------------------------------------- what the rules see


def scan(subject: str, text: str, rules: Rules) -> Scan:
    """Read one mail for the rules: the subject and the reporter's own words (no quote), folded."""
    subj = fold(subject[:1000])
    # a report may open with a pasted or forwarded header: only a quote after the reporter's words cuts
    body = fold(reply.new_text(text[:rules.max_chars], cut_at_top=False))
    seen_s = rules.matcher.find(tokens(subj, rules.spelling))
    seen_b = rules.matcher.find(tokens(body, rules.spelling))
    if rules.has_regex:
        subj, body = normalise(subj), normalise(body)
    return Scan(subj, body, seen_s, seen_b, seen_s | seen_b)


def signs(mail: Mail, rules: Rules, trusted_domains: Iterable[str], own_addresses: Iterable[str] = (),
          tz: tzinfo = UTC) -> tuple[tuple[str, str], ...]:
    """The SIGNS `mail` shows (links and look-alike domains, with the rules' names and our own domains added;
    the dates the report names, counted from the day it was written in the helpdesk's zone `tz`), e.g.
    ("untrusted_link", "x.example")."""
    own = {a.rpartition("@")[2].strip().lower() for a in own_addresses if "@" in a}
    names = (*rules.lookalike_names, *(w for d in sorted(own) for w in lookalike.words(d)[-1:]
                                       if len(w) >= 4 and w not in rules.lookalike_names))
    trusted = links.trusted_domains(trusted_domains)
    own_words = reply.new_text(mail.text[:rules.max_chars], cut_at_top=False)
    written = mail.date.astimezone(tz) if mail.date else None
    return links.signs(mail, trusted, names, (*rules.genuine_domains, *own)) + dates.signs(own_words, written)


def _hit(rule: Rule, seen: Scan, factor: float) -> float:
    """0 when the rule does not match; `factor` when it matches in the subject; else 1."""
    if rule.signs and not {sign for sign, _ in seen.signs}.issuperset(rule.signs):
        return 0.0
    if rule.with_ and seen.anywhere.isdisjoint(rule.with_):
        return 0.0
    if rule.unless and not seen.anywhere.isdisjoint(rule.unless):
        return 0.0
    if rule.signs and not rule.phrases and not rule.regexes:
        return 1.0
    if rule.where != "body" and (not seen.in_subject.isdisjoint(rule.phrases)
                                 or any(rx.search(seen.subject) for rx in rule.regexes)):
        return factor
    if rule.where != "subject" and (not seen.in_body.isdisjoint(rule.phrases)
                                    or any(rx.search(seen.body) for rx in rule.regexes)):
        return 1.0
    return 0.0


# ---------------------------------------------------------------- deciding


def _contributions(rules: Iterable[Rule], seen: Scan, factor: float) -> list[tuple[str, str, float]]:
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


def classify(seen: Scan, rules: Rules, default: Category) -> Classification:
    """The best-scoring category if it reaches the threshold and beats all others; else `default`."""
    parts = _contributions(rules.rules, seen, rules.subject_factor)
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
        carried = [points for name, cat, points in parts if cat == best and points > 0]
        weak = top - second < rules.margin or (len(carried) == 1 and carried[0] < rules.single_rule_min)
        return Classification(Category(best), "rules", matched, table, weak=weak)
    return Classification(default, "default", matched, table)


def spam_reason(seen: Scan, rules: Rules) -> str | None:
    """A short English reason naming the spam rules that matched, or None when it is not spam."""
    parts = _contributions(rules.spam, seen, rules.subject_factor)
    score = sum(points for _, _, points in parts)
    if score < rules.spam_threshold:
        return None
    by_name = {rule.name: rule for rule in rules.spam}
    names = []
    for name, _, points in sorted(parts, key=lambda p: -p[2]):
        if points > 0:
            shown = [what for sign in by_name[name].signs if (what := seen.sign(sign))]
            names.append(f"{name} ({'; '.join(shown)})" if shown else name)
    return f"spam rules matched: {', '.join(names)} (score {score:g} >= {rules.spam_threshold:g})"


def topics(seen: Scan, rules: Rules) -> tuple[str, ...]:
    """Names of the topics (in file order) the mail is about, e.g. ("registration",)."""
    return tuple(topic.name for topic in rules.topics if _hit(topic, seen, 1.0))


# ---------------------------------------------------------------- compiling


class _Compiler:
    """Builds Rules from the parsed TOML, naming file and key in every ConfigError."""

    def __init__(self, data: dict[str, Any], source: str):
        self.source = source
        unknown = set(data) - _SECTIONS
        if unknown:
            self.fail(sorted(unknown)[0], "unknown section")
        self.spelling = self.parsed(spelling_table, self.table(data, "spelling"), "spelling") or None
        words = self.table(data, "words")
        self.book = PhraseBook({name: self.word_class(name, entries) for name, entries in words.items()},
                               self.spelling)

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

    def word_class(self, name: str, entries: Any) -> WordClass:
        key = f"words.{name}"
        if not _NAME.match(name):
            self.fail(key, "class names are lower-case letters, digits and _")
        texts = self.strings(entries, key)
        return tuple(self.parsed(lambda t: class_entry(t, self.spelling), text, f"{key}[{j}]")
                     for j, text in enumerate(texts))

    def parsed(self, parse: Callable[[str], Any], text: str, key: str) -> Any:
        """parse(text), a PhraseError becoming a ConfigError at `key`."""
        try:
            return parse(text)
        except PhraseError as exc:
            self.fail(key, str(exc))

    def phrase_ids(self, entry: dict[str, Any], field: str, key: str) -> tuple[int, ...]:
        texts = self.strings(entry.get(field, []), f"{key}.{field}")
        return tuple(self.parsed(self.book.add, t, f"{key}.{field}[{j}]") for j, t in enumerate(texts))

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
        signs = self.strings(entry.get("signs", []), f"{key}.signs") if "signs" in entry else []
        for j, sign in enumerate(signs):
            if sign not in SIGNS:
                self.fail(f"{key}.signs[{j}]",
                          f"rule {name!r}: no sign {sign!r}; known: {', '.join(SIGNS)}")
        rule = Rule(name, self.weights(entry, key, section), self.phrase_ids(entry, "phrases", key),
                    self.regexes(entry, key), self.phrase_ids(entry, "with", key),
                    self.phrase_ids(entry, "unless", key), where, tuple(signs))
        if not rule.phrases and not rule.regexes and not rule.signs:
            self.fail(f"{key}.phrases", f"rule {name!r}: needs phrases, regex or signs")
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

    def lookalike(self, data: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """[lookalike] names (brands and our own names, letters only) and genuine (their domains)."""
        table = self.table(data, "lookalike")
        for key in sorted(set(table) - {"names", "genuine"}):
            self.fail(f"lookalike.{key}", "unknown key (names, genuine)")
        names = [n.strip().lower() for n in self.strings(table.get("names", []), "lookalike.names")]
        for j, name in enumerate(names):
            if not re.fullmatch(r"[a-z][a-z0-9]{3,}", name):
                self.fail(f"lookalike.names[{j}]", f"{name!r}: one word of 4 letters or more")
        genuine = links.trusted_domains(self.strings(table.get("genuine", []), "lookalike.genuine"))
        return tuple(names), genuine

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
    names, genuine = c.lookalike(data)
    return Rules(rules, spam, tops, gates, c.book.matcher(), any(r.regexes for r in rules + spam + tops),
                 values["threshold"], values["subject_factor"], values["spam_threshold"],
                 int(values["max_chars"]), values["margin"], values["single_rule_min"], c.spelling,
                 names, genuine)
