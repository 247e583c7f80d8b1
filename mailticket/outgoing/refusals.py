"""After `send`: tell the coordinators, once, what the mail server refused (shell).

A staff or coordinator address the server refuses for good (5xx) means mail meant for that person
never arrives; a server that pauses our sending (Gmail's daily limit) holds every mail back. Both
are told to the coordinators once (a meta row per address, per pause) in a plain Indonesian mail
(templates/refused.txt) queued like any other.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from mailticket.config import Staff
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.outgoing.outbox import Sender, queue
from mailticket.outgoing.render import Rendered, Renderer, clean_subject
from mailticket.outgoing.send import SendReport

log = logging.getLogger("mailticket.send")


def tell_coordinators(factory: sessionmaker[Session], renderer: Renderer, sender: Sender, staff: Staff,
                      report: SendReport, now: datetime) -> int:
    """Queue what the coordinators were not told yet; returns how many mails were queued."""
    coordinators = tuple(person.email for person in staff.coordinators)
    if not coordinators:
        return 0
    ours = {person.email.lower() for person in (*staff.members, *staff.coordinators)}
    refused = {address: answer for _row, address, answer in report.refused
               if address.lower() in ours and answer[:1] == "5"}
    if not refused and not report.throttled:
        return 0
    queued = 0
    with transaction(factory) as session:
        new = {address: answer for address, answer in refused.items()
               if _first_time(session, "refused", address)}
        if new:
            queued += _queue(session, renderer, sender, coordinators, now, refused=sorted(new.items()))
            log.error("stage=send staff addresses refused for good, coordinators told: %s", ", ".join(new))
        if report.throttled and report.paused_until and _first_time(session, "paused",
                                                                    report.paused_until.isoformat()):
            queued += _queue(session, renderer, sender, coordinators, now, refused=[],
                             throttled=str(report.throttled), until=report.paused_until)
    return queued


def _first_time(session: Session, what: str, value: str) -> bool:
    """True once per (what, value): the meta row remembers that it was told."""
    key = f"told:{what}:{hashlib.sha256(value.lower().encode()).hexdigest()[:32]}"
    if session.get(models.Meta, key) is not None:
        return False
    session.add(models.Meta(key=key, value=value))
    return True


def _queue(session: Session, renderer: Renderer, sender: Sender, to: tuple[str, ...], now: datetime,
           **values) -> int:
    context = {"helpdesk": renderer.helpdesk, "throttled": "", "until": None, **values}
    label = "Alamat staf ditolak server email" if values["refused"] else "Pengiriman email ditunda"
    text = renderer.env.get_template("refused.txt").render(context)
    rendered = Rendered("refused", clean_subject(f"{label}: {renderer.helpdesk['name']}"), text)
    queue(session, sender, rendered.outgoing(to), None, now)
    return 1
