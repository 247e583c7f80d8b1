"""Judge config/rules.toml on labelled .eml files: per-message predictions, accuracy, confusion, timing.

    python bench/classify_eval.py FOLDER LABELS.json [--rules config/rules.toml] [--default permintaan]
        [--config config/mailticket.example.toml] [--own ADDRESS]

LABELS.json maps file name -> {"kind": "new" | "spam" | ..., "category": ...}. Messages of kind
"new" are expected to get their category (and not be filtered); kind "spam" must be filtered; other
kinds are skipped. Mail is parsed with mailticket.parse and judged as the pipeline's filter stage
does: upstream verdict headers and DMARC ([filter] and [staff] authserv_id of --config, else the
defaults), then the spam rules with the mail's signs (links, look-alike domains). A mail filtered as
bounce, auto-reply or bulk counts as filtered ("spam" column). Without mailticket.parse only the text
rules are tried, on the stdlib `email` package's reading of the mail.
"""

from __future__ import annotations

import argparse
import email
import json
import sys
import time
import tomllib
from collections import Counter
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailticket.core.classify import Rules, classify, compile_rules, scan, signs, spam_reason, topics  # noqa: E402
from mailticket.types import Category, Kind, Mail  # noqa: E402

try:
    from mailticket.core.parse import parse as _parse
except ImportError:  # the parse stage is optional here
    _parse = None

COLUMNS = ("gangguan", "permasalahan", "permintaan", "spam")


class _Text(HTMLParser):
    """Just enough HTML -> text for an HTML-only body."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("br", "p", "div", "li", "tr"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def read_mail(path: Path) -> tuple[str, str] | Mail:
    """The parsed Mail, or (subject, text body) of one .eml file when mailticket.parse is missing."""
    if _parse is not None:
        return _parse(path.read_bytes())
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain", "html"))
    text = part.get_content() if part is not None else ""
    if part is not None and part.get_content_type() == "text/html":
        parser = _Text()
        parser.feed(text)
        text = "".join(parser.parts)
    return str(msg.get("subject", "")), text


class Policy:
    """What the filter stage is given besides the rules: [filter], authserv_id and our own address."""

    def __init__(self, config: Path | None, own: str) -> None:
        from mailticket.config import Filter, Helpdesk, Staff, load

        settings = load(str(config)) if config else None
        self.filter = settings.filter if settings else Filter()
        self.authserv_id = settings.staff.authserv_id if settings else Staff.authserv_id
        self.own = frozenset({own.lower()} if own else set())
        self.tz = settings.helpdesk.tz if settings else Helpdesk().tz  # dates count from the writer's day


def predict(mail: tuple[str, str] | Mail, rules: Rules, default: Category, policy: Policy) -> tuple[str, str]:
    """(predicted label, details) for one message."""
    if isinstance(mail, tuple):
        subject, text = mail
        seen = scan(subject, text, rules)
        reason = spam_reason(seen, rules)
        if reason:
            return "spam", reason
    else:
        from dataclasses import replace

        from mailticket.core import filter

        subject, text = mail.subject, mail.text
        seen = scan(subject, text, rules)

        def rule_reason(m: Mail) -> str | None:
            nonlocal seen
            found = signs(m, rules, policy.filter.trusted_link_domains, policy.own, policy.tz)
            seen = replace(seen, signs=found)
            return spam_reason(seen, rules)

        verdict = filter.judge(mail, policy.own, rule_reason, policy.filter.trust_spam_headers,
                               policy.authserv_id)
        if verdict.kind is not Kind.REPORT:
            return "spam", f"{verdict.kind.value}: {verdict.reason}"
    result = classify(seen, rules, default)
    scores = " ".join(f"{c[:5]}={s:g}" for c, s in result.scores)
    found = topics(seen, rules)
    extra = f" topics={','.join(found)}" if found else ""
    review = " REVIEW" if result.needs_review else ""
    return result.category.value, f"[{scores}]{review} {', '.join(result.matched)}{extra}"


def time_calls(mails: list[tuple[str, str]], rules: Rules, rounds: int = 100) -> float:
    """Best-of-5 mean microseconds per scan() + classify(), on distinct ~5 KB texts built from the mails."""
    big = "\n\n".join(text for _, text in mails)
    big = (big * (1 + 5000 // max(len(big), 1)))[:5000]
    texts = [f"{i}\n{big}" for i in range(rounds)]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for text in texts:
            classify(scan("Tidak bisa login ke SPSE", text, rules), rules, Category.PERMINTAAN)
        best = min(best, (time.perf_counter() - start) / rounds * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("labels", type=Path)
    ap.add_argument("--rules", type=Path, default=ROOT / "config" / "rules.toml")
    ap.add_argument("--default", default="permintaan", choices=[c.value for c in Category])
    ap.add_argument("--config", type=Path, help="mailticket.toml: [filter], authserv_id")
    ap.add_argument("--own", default="", help="our own address (mail from it is not a report)")
    args = ap.parse_args(argv)
    policy = Policy(args.config, args.own)
    with open(args.rules, "rb") as fh:
        rules = compile_rules(tomllib.load(fh), args.rules.name)
    labels = json.loads(args.labels.read_text(encoding="utf-8"))
    confusion: Counter[tuple[str, str]] = Counter()
    mails = []
    for name, label in sorted(labels.items()):
        expected = "spam" if label.get("kind") == "spam" else label.get("category")
        if label.get("kind") not in ("new", "spam") or not (args.folder / name).exists():
            continue
        mail = read_mail(args.folder / name)
        if label.get("kind") == "new":
            mails.append(mail if isinstance(mail, tuple) else (mail.subject, mail.text))
        got, details = predict(mail, rules, Category(args.default), policy)
        confusion[expected, got] += 1
        print(f"{'ok ' if got == expected else 'BAD'} {name:<12} want={expected:<13} got={got:<13} {details}")
    report(confusion)
    if mails:
        print(f"\nscan() + classify(): {time_calls(mails, rules):.0f} us per call on a 5 KB text")
    return 0


def report(confusion: Counter[tuple[str, str]]) -> None:
    total = sum(confusion.values())
    right = sum(n for (want, got), n in confusion.items() if want == got)
    new = sum(n for (want, _), n in confusion.items() if want != "spam")
    new_right = sum(n for (want, got), n in confusion.items() if want == got != "spam")
    print(f"\nnew reports: {new_right}/{new} = {100 * new_right / max(new, 1):.1f}%   "
          f"all (incl. spam): {right}/{total} = {100 * right / max(total, 1):.1f}%")
    print("\nconfusion (rows: labelled, columns: predicted)")
    print(" " * 14 + "".join(f"{c:>14}" for c in COLUMNS))
    for want in COLUMNS:
        print(f"{want:<14}" + "".join(f"{confusion[want, got]:>14}" for got in COLUMNS))


if __name__ == "__main__":
    sys.exit(main())
