"""Stage filter: Mail -> Verdict (report, own, bounce, auto-reply, bulk or spam).

In: a parsed `Mail`, our own addresses, the spam rule (a function: Mail -> reason or None,
written by the classifier), the verdict headers of an upstream filter we trust (`trust_headers`,
names such as X-Spam-Flag, X-Spam-Status, X-Rspamd-Action) and our receiving server's id for its
Authentication-Results (`authserv_id`: a DMARC fail under a quarantine/reject policy is spam).
Out: a `Verdict` with a short English reason that names the header or rule that decided. Only
`report` may open a ticket or get an answer. Pure: no I/O.

Checks run in this order and the first that answers decides: own address, bounce, auto-reply,
bulk, spam (the order within is `_CHECKS`; a bare null sender is the one bounce sign that is
tried after the auto-reply checks, see `_null_sender`); spam is, in order: an upstream verdict, DMARC,
the spam rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from mailticket.core.compose import check_addr
from mailticket.core.identity import dmarc_rejected
from mailticket.types import Kind, Mail, Verdict

Check = Callable[[Mail], str | None]

_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
# "noreply" anywhere in the local part ("lpse-noreply", "noreplyservice"); the daemon names
# only as whole words, so "bounces+123" counts but "bouncer" does not.
_UNANSWERABLE = re.compile(
    r"no[-_.]?reply|do[-_.]?not[-_.]?reply|(?:jangan|tidak)[-_.]?balas"
    r"|(?:^|[-_.+])(?:mailer[-_.]?daemon|postmaster|bounces?)(?:$|[-_.+])",
    re.IGNORECASE,
)
# Subjects of bounces from Exim, Postfix, Gmail (English and Indonesian), Exchange, qmail.
# Anchored at the start: a person may well write "email tidak terkirim" in a report.
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:mail delivery failed|undelivered mail returned to sender|undeliverable\s*:"
    r"|delivery status notification \((?:failure|delay)\)|returned mail\s*:|failure notice$"
    r"|pemberitahuan status pengiriman \((?:kegagalan|penundaan)\))",
    re.IGNORECASE,
)
# An auto-reply names itself in a prefix: "Automatic reply:" (Outlook), "Balasan Otomatis:"
# (Outlook in Indonesian), "Auto:" (Lotus Notes), "Out of Office:" (Exchange, Zimbra).
# "Auto Response", "Automatic reply", "Balasan Otomatis" also count as a whole subject, or before a
# dash or bracket ("Auto Response - Re: [LPSE#1]"): responders that send no auto headers (issue 15).
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:auto(?:matic)?[- ]?reply|auto|balasan otomatis|out of (?:the )?office"
    r"(?: autoreply)?|di luar kantor|sedang cuti)\s*[:：]"
    r"|(?:auto(?:matic)?[- ]?(?:reply|respon(?:se|der)?)|balasan otomatis|respons otomatis"
    r"|jawaban otomatis|pesan otomatis)\s*(?:$|[-–(\[:：]))",
    re.IGNORECASE,
)
# Without the prefix these words also occur in reports ("tidak bisa login di luar kantor"),
# so they count only together with X-Auto-Response-Suppress (see _outlook_auto_reply).
_AUTO_WORDS = re.compile(
    r"\b(?:out of (?:the )?office|auto(?:matic)?[- ]?reply|balasan otomatis|di luar kantor"
    r"|sedang cuti)\b",
    re.IGNORECASE,
)


def is_unanswerable(address: str) -> bool:
    """True for addresses we never send to: no-reply, mailer-daemon, postmaster, bounces, and any
    address our mail cannot carry (compose writes plain ASCII addr-specs only)."""
    local, at, domain = address.strip().rpartition("@")
    if not (local and at and domain):
        return True  # nothing we could deliver to
    try:
        check_addr(address)
    except ValueError:  # "andré@x.id", '"a b"@x.id', "a@[10.0.0.1]": answering would break the whole message
        return True
    return _UNANSWERABLE.search(local) is not None


def judge(mail: Mail, own_addresses: frozenset[str], spam_reason: Callable[[Mail], str | None],
          trust_headers: Collection[str] = (), authserv_id: str = "") -> Verdict:
    """Decide what kind of message `mail` is; the first check that answers wins."""
    own = {a.strip().lower() for a in own_addresses}
    checks: tuple[tuple[Kind, Check], ...] = (
        (Kind.OWN, lambda m: _own(m, own)),
        *_CHECKS,
        (Kind.SPAM, lambda m: upstream_verdict(m, trust_headers)),
        (Kind.SPAM, lambda m: dmarc_rejected(m, authserv_id) if authserv_id else None),
        (Kind.SPAM, spam_reason),
    )
    for kind, check in checks:
        reason = check(mail)
        if reason is not None:
            return Verdict(kind, reason)
    return Verdict(Kind.REPORT, "no bounce, auto-reply, bulk or spam signs")


def _own(mail: Mail, own: set[str]) -> str | None:
    if mail.sender and mail.sender.email in own:
        return f"From is our own address {mail.sender.email}"
    return None


def _short(value: str, limit: int = 60) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _first_word(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _report_type(mail: Mail) -> str:
    found = re.search(r"report-type\s*=\s*\"?([\w.-]+)", mail.header("content-type") or "", re.IGNORECASE)
    return found.group(1).lower() if found else ""


# --- bounces -----------------------------------------------------------------------------


def _delivery_report(mail: Mail) -> str | None:
    if mail.content_type == "multipart/report" and _report_type(mail) == "delivery-status":
        return "Content-Type: multipart/report; report-type=delivery-status"
    return None


def _daemon_sender(mail: Mail) -> str | None:
    if mail.sender and mail.sender.email.partition("@")[0] in _DAEMONS:
        return f"From: {mail.sender.email}"
    return None


def _bounce_subject(mail: Mail) -> str | None:
    if _BOUNCE_SUBJECT.search(mail.subject):
        return f"Subject: {_short(mail.subject)}"
    return None


def _null_sender(mail: Mail) -> str | None:
    # RFC 3834 asks auto-responders to send from the null sender too (and Exchange does), so a
    # bare "Return-Path: <>" only means bounce once the auto-reply checks have said no.
    if mail.return_path == "":
        return "Return-Path: <> (null sender)"
    return None


# --- auto-replies ------------------------------------------------------------------------


def _auto_submitted(mail: Mail) -> str | None:
    value = _first_word(mail.header("auto-submitted"))
    if value and value != "no":  # RFC 3834: anything but "no" is automatic
        return f"Auto-Submitted: {_short(value)}"
    return None


def _x_autoreply(mail: Mail) -> str | None:
    for name, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond")):
        value = mail.header(name)
        if value is not None and _first_word(value) not in ("no", "false", "0"):
            return f"{label}: {_short(value)}"
    return None


def _precedence_auto_reply(mail: Mail) -> str | None:
    if _first_word(mail.header("precedence")) == "auto_reply":
        return "Precedence: auto_reply"
    return None


def _read_receipt(mail: Mail) -> str | None:
    if mail.content_type == "multipart/report" and _report_type(mail) == "disposition-notification":
        return "Content-Type: multipart/report; report-type=disposition-notification (read receipt)"
    return None


def _auto_subject(mail: Mail) -> str | None:
    if _AUTO_SUBJECT.search(mail.subject):
        return f"Subject: {_short(mail.subject)}"
    return None


def _outlook_auto_reply(mail: Mail) -> str | None:
    # X-Auto-Response-Suppress asks receivers not to auto-answer *this* mail. Exchange puts
    # it on its own out-of-office replies, but Outlook, mailing lists and ticket systems put
    # it on ordinary mail as well (MS-OXCMAIL 2.1.3.2.20), so alone it proves nothing. With
    # out-of-office words in the subject it does.
    suppress = mail.header("x-auto-response-suppress")
    if suppress is not None and _AUTO_WORDS.search(mail.subject):
        return f"X-Auto-Response-Suppress: {_short(suppress)} and Subject: {_short(mail.subject)}"
    return None


# --- bulk and lists ----------------------------------------------------------------------


def _list_id(mail: Mail) -> str | None:
    value = mail.header("list-id")
    return f"List-Id: {_short(value)}" if value is not None else None


def _list_unsubscribe(mail: Mail) -> str | None:
    return "List-Unsubscribe present" if mail.header("list-unsubscribe") is not None else None


def _precedence_bulk(mail: Mail) -> str | None:
    value = _first_word(mail.header("precedence"))
    return f"Precedence: {value}" if value in ("bulk", "junk", "list") else None


# --- upstream filters --------------------------------------------------------------------

# What SpamAssassin (X-Spam-Flag: YES, X-Spam-Status: Yes, score=...) and Rspamd (X-Rspamd-Action)
# write when they judge a mail spam; Rspamd's "no action" and "greylist" are not verdicts.
_SPAM_VERDICT = {
    "x-spam-flag": re.compile(r"^\s*yes\b", re.IGNORECASE),
    "x-spam-status": re.compile(r"^\s*yes\b", re.IGNORECASE),
    "x-rspamd-action": re.compile(r"^\s*(?:reject|add[ _]header|rewrite[ _]subject|soft[ _]reject)\b",
                                  re.IGNORECASE),
    "x-spam": re.compile(r"^\s*(?:yes|true)\b", re.IGNORECASE),
}
_ANY_YES = re.compile(r"^\s*(?:yes|true|spam)\b", re.IGNORECASE)


def upstream_verdict(mail: Mail, trust_headers: Collection[str]) -> str | None:
    """The first trusted verdict header that says spam, named with its value; None when none does.

    Only the topmost value of each header is read: it is the one our receiving server added.
    """
    for name in trust_headers:
        value = mail.header(name)
        if value is None:
            continue
        pattern = _SPAM_VERDICT.get(name.strip().lower(), _ANY_YES)
        if pattern.search(value):
            return f"{name.strip()}: {_short(value)} (upstream filter)"
    return None


# Bounces come first: MTAs mark them Auto-Submitted too. The null sender is the weakest bounce
# sign and comes after the auto-reply checks (see _null_sender).
_CHECKS: tuple[tuple[Kind, Check], ...] = (
    (Kind.BOUNCE, _delivery_report),
    (Kind.BOUNCE, _daemon_sender),
    (Kind.BOUNCE, _bounce_subject),
    (Kind.AUTO_REPLY, _auto_submitted),
    (Kind.AUTO_REPLY, _x_autoreply),
    (Kind.AUTO_REPLY, _precedence_auto_reply),
    (Kind.AUTO_REPLY, _read_receipt),
    (Kind.AUTO_REPLY, _auto_subject),
    (Kind.AUTO_REPLY, _outlook_auto_reply),
    (Kind.BOUNCE, _null_sender),
    (Kind.BULK, _list_id),
    (Kind.BULK, _list_unsubscribe),
    (Kind.BULK, _precedence_bulk),
)
