"""`mailticket classify FILE|-`: try a mail (an .eml file) or a text (stdin, or a file without mail
headers) against the rules, as the pipeline would.

Prints the category and how it was chosen, the score table, the matched rules (the `classified`
event's line), the topics, and whether the filter stage would keep it as spam (or as a bounce,
auto-reply, bulk) and why. A text has no headers: only its words, links and dates (counted from today)
are judged.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from mailticket.config import Settings
from mailticket.core import classify, filter
from mailticket.core.parse import parse
from mailticket.types import Category, Kind, Mail, Verdict

_HEADER = re.compile(rb"^[A-Za-z0-9-]+:[ \t]", re.MULTILINE)


def read(source: str) -> tuple[Mail, bool]:
    """(the mail, whether it came with headers): an .eml is parsed; plain text becomes a body."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    if _HEADER.match(data[:200].lstrip()):  # "Name: value" on the first line: a mail
        return parse(data), True
    text = data.decode("utf-8", errors="replace")  # written now: the dates it names count from today
    return Mail("", "", None, (), (), (), datetime.now(UTC), (), (), (), "text/plain", text, ""), False


def lines(settings: Settings, rules: classify.Rules, mail: Mail, has_headers: bool) -> list[str]:
    """What `mailticket classify` prints for one mail."""
    seen = classify.scan(mail.subject, mail.text, rules)
    own = frozenset({settings.helpdesk.address})

    def spam_reason(m: Mail) -> str | None:
        nonlocal seen
        seen = replace(seen, signs=classify.signs(m, rules, settings.filter.trusted_link_domains, own,
                                                  settings.helpdesk.tz))
        return classify.spam_reason(seen, rules)

    if has_headers:
        verdict = filter.judge(mail, own, spam_reason, settings.filter.trust_spam_headers,
                               settings.staff.authserv_id)
    else:
        reason = spam_reason(mail)
        verdict = Verdict(Kind.SPAM, reason) if reason else Verdict(Kind.REPORT, "no spam rule")
    result = classify.classify(seen, rules, Category(settings.default_category))
    why = ", ".join(result.matched) if result.matched else "no rule matched: default category"
    review = "  (needs review)" if result.needs_review else ""
    out = [f"category: {result.category.value} ({result.source}){review}",
           "scores:   " + "  ".join(f"{cat} {score:g}" for cat, score in result.scores),
           f"matched:  {', '.join(result.matched) or '-'}",
           f"topics:   {', '.join(classify.topics(seen, rules)) or '-'}",
           f"event:    classified {result.category.value}: {why} (by {result.source})"]
    if seen.signs:
        out.append("signs:    " + "; ".join(f"{sign}: {what}" for sign, what in seen.signs))
    if verdict.kind is Kind.REPORT:
        out.append("spam:     no" + ("" if has_headers else " (text only: headers not judged)"))
    else:
        out.append(f"spam:     yes, kept as {verdict.kind.value}: {verdict.reason}")
    return out
