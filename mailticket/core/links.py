"""Links (pure): the URLs a mail points to, from its text and its HTML (href), and their hosts.

`urls` finds http(s) and www. links in text and every href of the HTML; `host` takes the host a
browser would open (the part after any "user@", so "https://lkpp.go.id@evil.example/" is
evil.example); `under` says whether a host is one of the trusted domains or a sub-domain of one
("*.go.id" and "go.id" both mean go.id and everything under it). `signs` names what the spam rules
of rules.toml may ask for (`signs = ["untrusted_link"]`): links outside the trusted domains, look-alike
sender and link domains, fake replies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from mailticket.core.lookalike import lookalike
from mailticket.types import Mail

_TEXT_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_TRAILING = ".,;:!?*"
_ENTITY = re.compile(r"&(amp|#0*38|#x0*26);", re.IGNORECASE)
_MAX_LINKS = 200  # a mail with more says enough; the rest is not looked at

ARCHIVE_SUFFIXES = (".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".iso", ".img", ".exe", ".scr", ".msi",
                    ".bat", ".cmd", ".js", ".vbs", ".jar", ".apk", ".html", ".htm", ".shtml")
WHATSAPP_HOSTS = ("wa.me", "api.whatsapp.com", "chat.whatsapp.com", "wa.link", "web.whatsapp.com")


def urls(text: str, html: str = "") -> tuple[str, ...]:
    """Distinct links in `text` and the hrefs of `html`, in order of appearance (images are no links)."""
    found: dict[str, None] = {}
    if "http" in text or "www." in text or "WWW." in text:
        for match in _TEXT_URL.finditer(text):
            found.setdefault(match.group(0).rstrip(_TRAILING), None)
    if html and "href" in html.lower():
        for match in _HREF.finditer(html):
            value = _ENTITY.sub("&", next(g for g in match.groups() if g is not None)).strip()
            if value.lower().startswith(("http://", "https://", "www.", "//")):
                found.setdefault(value, None)
    return tuple(found)[:_MAX_LINKS]


def host(url: str) -> str:
    """The lower-case host of a link ("" when it has none): no scheme, user info, port or trailing dot."""
    rest = url.strip()
    scheme = re.match(r"^[a-z][a-z0-9+.-]*:", rest, re.IGNORECASE)
    if scheme:
        if scheme.group(0).lower() not in ("http:", "https:"):
            return ""
        rest = rest[scheme.end():]
    rest = rest.lstrip("/\\")
    authority = re.split(r"[/\\?#]", rest, maxsplit=1)[0]
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):  # an IPv6 literal
        return authority.partition("]")[0].lstrip("[").lower()
    name = authority.partition(":")[0].strip().strip(".").lower()
    return name if name and re.fullmatch(r"[^\s<>\"'`%]+", name) else ""


def path(url: str) -> str:
    """The path of a link, lower case, without query or fragment ("" when none)."""
    rest = re.sub(r"^[a-z][a-z0-9+.-]*:", "", url.strip(), flags=re.IGNORECASE).lstrip("/\\")
    after = re.split(r"[/\\]", rest, maxsplit=1)
    return "/" + re.split(r"[?#]", after[1], maxsplit=1)[0].lower() if len(after) > 1 else ""


def trusted_domains(entries: Iterable[str]) -> tuple[str, ...]:
    """Config entries ("*.go.id", "lkpp.go.id", "INAPROC.ID.") as bare lower-case domains."""
    out = []
    for entry in entries:
        domain = entry.strip().lower().removeprefix("*.").strip(".")
        if domain and domain not in out:
            out.append(domain)
    return tuple(out)


def under(name: str, domains: Iterable[str]) -> bool:
    """True when `name` is one of `domains` or a sub-domain of one."""
    name = name.strip(".").lower()
    return any(name == d or name.endswith("." + d) for d in domains)


def is_archive(url: str) -> bool:
    """A link to a file that is opened or run rather than read: an archive, a program, a web page file."""
    return path(url).endswith(ARCHIVE_SUFFIXES)


def is_whatsapp(url: str) -> bool:
    return under(host(url), WHATSAPP_HOSTS)


# ---------------------------------------------------------------- signs for the spam rules

SIGNS = {
    "untrusted_link": "a link whose host is not under a trusted domain ([filter] trusted_link_domains)",
    "archive_link": "an untrusted link to an archive, a program or a web page file (.zip, .exe, .html ...)",
    "whatsapp_link": "a WhatsApp chat link (wa.me, api.whatsapp.com)",
    "lookalike_sender": "the From domain imitates a well-known or our own name ([lookalike] in rules.toml)",
    "lookalike_link": "a link host imitates a well-known or our own name",
    "lookalike": "lookalike_sender or lookalike_link",
    "fake_reply": "the subject says Re:/Fwd: but the mail answers nothing (no In-Reply-To or References)",
    "reply_to_elsewhere": "Reply-To is at another domain than From",
}
_REPLY_SUBJECT = re.compile(r"^\s*(?:re|fwd?|aw|bls|balas)\s*:", re.IGNORECASE)


def signs(mail: Mail, trusted: Sequence[str], names: Sequence[str], genuine: Sequence[str]) -> tuple[
        tuple[str, str], ...]:
    """(sign, what showed it) for each of SIGNS the mail shows, e.g. ("untrusted_link", "x.example")."""
    found: dict[str, str] = {}
    sender = mail.sender.email.rpartition("@")[2].lower() if mail.sender else ""
    known = (*genuine, *trusted)
    imitated = lookalike(sender, names, known) if sender else None
    if imitated:
        found["lookalike_sender"] = found["lookalike"] = f"From domain {sender} imitates {imitated}"
    for url in urls(mail.text, mail.html):
        name = host(url)
        if not name or under(name, trusted):
            continue
        found.setdefault("untrusted_link", name)
        if is_archive(url):
            found.setdefault("archive_link", url[:80])
        if under(name, WHATSAPP_HOSTS):
            found.setdefault("whatsapp_link", name)
        if "lookalike_link" not in found:
            imitated = lookalike(name, names, known)
            if imitated:
                found["lookalike_link"] = f"link host {name} imitates {imitated}"
                found.setdefault("lookalike", found["lookalike_link"])
    if _REPLY_SUBJECT.match(mail.subject) and not mail.in_reply_to and not mail.references:
        found["fake_reply"] = "Re:/Fwd: subject without In-Reply-To or References"
    reply_domains = {a.email.rpartition("@")[2].lower() for a in mail.reply_to if a.email}
    if sender and reply_domains - {sender}:
        found["reply_to_elsewhere"] = f"Reply-To at {sorted(reply_domains - {sender})[0]}, From at {sender}"
    return tuple(found.items())
