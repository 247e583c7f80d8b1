"""Identity: a parsed Mail in, whether its From address is authenticated and which role it has.

Pure. We trust only the ``Authentication-Results`` header (RFC 8601) that our receiving server
(``authserv_id``, e.g. ``mx.google.com``) wrote, and of those only the topmost: servers prepend their
header, so anything with our id below it came with the message and may be forged (RFC 8601 §5 asks the
border MTA to remove such headers; its security considerations on forged headers and header position
warn that not every MTA does). Headers with any other
authserv-id are ignored (anyone can write them), and so are ARC-Authentication-Results.

Authenticated means, in that topmost header: ``dmarc=pass`` for the From domain, or, when the
receiver gave no DMARC verdict, ``dkim=pass`` with a signing domain (``header.d``, else the domain of
``header.i``) aligned with the From domain in the relaxed sense: equal, or one a sub-domain of the
other (we have no public-suffix list, so a bare top-level domain never aligns). ``dmarc=fail`` (or
any other DMARC result) is final: the receiver knows the domain's policy, we do not.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from email.utils import getaddresses

from mailticket.core.effects import Role
from mailticket.types import Mail


def authenticated(mail: Mail, authserv_id: str) -> bool:
    """True when our server's topmost Authentication-Results shows the From domain authenticated."""
    domain = _domain(mail.sender.email if mail.sender else "")
    header = _our_header(mail, authserv_id)
    if not domain or header is None or several_authors(mail):
        return False
    results = _results(header)
    # A DMARC result that names no domain (no header.from) proves nothing about ours: left out, so that
    # only an aligned DKIM signature can then authenticate.
    dmarc = [props for method, props in results if method == "dmarc" and props.get("header.from")]
    if dmarc:
        return any(p["result"] == "pass" and p["header.from"].lower() == domain for p in dmarc)
    return any(
        method == "dkim" and props["result"] == "pass" and _aligned(_signer(props), domain)
        for method, props in results
    )


def why_unauthenticated(mail: Mail, authserv_id: str) -> str:
    """Which check failed, in one Indonesian sentence for the staff member ("" when none failed).

    The same reading as `authenticated`: our server's topmost header, DMARC first, else aligned DKIM.
    """
    domain = _domain(mail.sender.email if mail.sender else "")
    if not domain:
        return "alamat pengirim (From) tidak terbaca"
    if several_authors(mail):
        return "kolom pengirim (From) berisi lebih dari satu alamat; e-mail seperti ini tidak kami percayai"
    header = _our_header(mail, authserv_id)
    if header is None:
        return (f"e-mail ini tidak membawa hasil pemeriksaan (Authentication-Results) dari server penerima "
                f"kami ({authserv_id}); hasil dari server lain tidak kami percayai")
    if authenticated(mail, authserv_id):
        return ""
    results = _results(header)
    dmarc = [props for method, props in results if method == "dmarc"]
    if dmarc:
        props = dmarc[0]
        if not props.get("header.from"):
            return (f"hasil DMARC dari server penerima tidak menyebut domain pengirim (header.from), "
                    f"sehingga tidak membuktikan apa pun tentang domain {domain}")
        if props.get("header.from", domain).lower() != domain:
            return f"hasil DMARC berlaku untuk domain {props['header.from']}, bukan {domain}"
        if props["result"] == "none":
            return (f"domain {domain} tidak mempunyai kebijakan DMARC (dmarc=none), sehingga server "
                    "penerima tidak dapat memastikan e-mail ini benar dari domain tersebut")
        return f"pemeriksaan DMARC untuk domain {domain} gagal (dmarc={props['result']})"
    signers = [(props["result"], _signer(props)) for method, props in results if method == "dkim"]
    if not signers:
        return f"e-mail ini tidak ditandatangani DKIM dan tidak ada hasil DMARC untuk domain {domain}"
    passed = [signer for result, signer in signers if result == "pass"]
    if not passed:
        return (f"tanda tangan DKIM tidak sah (dkim={signers[0][0]}) dan tidak ada hasil DMARC "
                f"untuk domain {domain}")
    return (f"tanda tangan DKIM sah tetapi dari domain {passed[0] or '(tidak disebut)'}, tidak selaras "
            f"dengan domain pengirim {domain}")


def role(
    mail: Mail,
    members: Collection[str],
    coordinators: Collection[str],
    require_authenticated: bool,
    authserv_id: str,
    reporter: str = "",
    cc: Collection[str] = (),
    partners: Collection[str] = (),
) -> Role:
    """Who wrote `mail`, for a ticket with this `reporter` and `cc` (none: a new report).

    A staff or coordinator address whose mail fails authentication is UNVERIFIED: it steers nothing.
    `partners`: the addresses of the partners the ticket was forwarded to (#teruskan); only they are
    PARTNER, and a partner never steers (staff, reporter and Cc come first); a partner's mail that
    fails authentication is a STRANGER's (recorded as third_party, staff told, nothing moves).
    """
    email = (mail.sender.email if mail.sender else "").strip().lower()
    if email and email in {c.lower() for c in coordinators}:
        found = Role.COORDINATOR
    elif email and email in {m.lower() for m in members}:
        found = Role.STAFF
    elif email and email == reporter:
        return Role.REPORTER
    elif email and email in cc:
        return Role.CC
    elif email and email in {p.lower() for p in partners}:
        found = Role.PARTNER
    else:
        return Role.STRANGER
    if require_authenticated and not authenticated(mail, authserv_id):
        # a partner's answer moves the ticket (waiting_on, the clock): a forged one is a stranger's mail
        return Role.STRANGER if found is Role.PARTNER else Role.UNVERIFIED
    return found


def several_authors(mail: Mail) -> bool:
    """More than one From header, or one with several addresses: whose authentication would it be?"""
    values = mail.header_all("from")
    if len(values) > 1:
        return True
    return bool(values) and len([a for _name, a in getaddresses(values) if a]) > 1


def dmarc_failed(mail: Mail, authserv_id: str) -> bool:
    """Our server's topmost Authentication-Results says dmarc=fail for the From (any policy): its
    Reply-To may aim at a victim, so nothing automatic goes there."""
    header = _our_header(mail, authserv_id) if authserv_id else None
    if header is None:
        return False
    return any(method == "dmarc" and props["result"] == "fail" for method, props in _results(header))


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(".").lower() if "@" in address else ""


def _our_header(mail: Mail, authserv_id: str) -> str | None:
    """The topmost Authentication-Results whose authserv-id is ours, without that id."""
    wanted = authserv_id.strip().lower()
    for value in mail.header_all("authentication-results"):
        head, _, rest = _strip_comments(value).partition(";")
        tokens = head.split()
        if wanted and tokens and tokens[0].lower() == wanted:
            return rest
    return None


def _strip_comments(value: str) -> str:
    """The value without RFC 5322 comments ``( ... )``, nested ones included; quoted strings kept."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
        elif ch == '"' and depth == 0:
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
            continue
        elif ch == ")" and not quoted and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


def _results(rest: str) -> list[tuple[str, dict[str, str]]]:
    """[(method, {"result": ..., "header.d": ..., ...})] from the part after the authserv-id."""
    found: list[tuple[str, dict[str, str]]] = []
    for part in _split_unquoted(rest, ";"):
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue  # "none", or an empty part
        method, _, result = tokens[0].partition("=")
        props = {"result": result.lower()}
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if sep:
                props.setdefault(key.lower(), value.strip('"'))
        found.append((method.partition("/")[0].lower(), props))
    return found


def _split_unquoted(value: str, separator: str) -> list[str]:
    parts, current, quoted = [], [], False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _signer(props: dict[str, str]) -> str:
    """The DKIM signing domain: header.d, else the domain part of header.i (``@example.org``)."""
    if props.get("header.d"):
        return props["header.d"].strip(".").lower()
    return _domain(props.get("header.i", ""))


def _aligned(signer: str, domain: str) -> bool:
    if not signer or not domain:
        return False
    shorter = min(signer, domain, key=len)
    if shorter.count(".") < 1:
        return False  # "com" or "id" alone never aligns
    return signer == domain or signer.endswith("." + domain) or domain.endswith("." + signer)


def dmarc_rejected(mail: Mail, authserv_id: str) -> str | None:
    """Why our server's topmost Authentication-Results says the From domain fails DMARC with a policy of
    quarantine or reject (None when it does not): the domain's owner asks receivers not to deliver it.

    The policy is read from the ``policy.dmarc`` property or from Gmail's comment
    ``dmarc=fail (p=REJECT sp=REJECT dis=NONE)``; p=none asks for nothing and is not enough.
    """
    wanted = authserv_id.strip().lower()
    for value in mail.header_all("authentication-results"):
        head, _, rest = _strip_comments(value).partition(";")
        tokens = head.split()
        if not (wanted and tokens and tokens[0].lower() == wanted):
            continue
        for method, props in _results(rest):
            if method == "dmarc" and props["result"] == "fail":
                policy = props.get("policy.dmarc", "").lower() or _dmarc_comment_policy(value)
                if policy in ("quarantine", "reject"):
                    where = props.get("header.from", "")
                    return f"Authentication-Results ({wanted}): dmarc=fail, policy {policy}" + (
                        f", header.from={where}" if where else "")
        return None
    return None


def _dmarc_comment_policy(value: str) -> str:
    """p= of the comment after dmarc=fail in a raw Authentication-Results value ("" when none)."""
    found = re.search(r"\bdmarc\s*=\s*fail\s*\(([^)]*)\)", value, re.IGNORECASE)
    policy = re.search(r"(?:^|[\s;])p\s*=\s*(\w+)", found.group(1), re.IGNORECASE) if found else None
    return policy.group(1).lower() if policy else ""
