"""Everything a message or a tick needs, built once at start-up and never changed: `Context`.

`build` reads and compiles what the config names (rules, templates, the Message-ID key), so that
a broken rules file or template stops `run`/`ingest` with one clear line (ConfigError, exit 2)
before any message is touched. Nothing reaches back into the pipeline: stages, apply and the
scheduler receive this value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailticket.clock import Clock
from mailticket.config import Settings
from mailticket.core import classify
from mailticket.core.effects import Desk
from mailticket.db.session import transaction
from mailticket.errors import ConfigError
from mailticket.outgoing.outbox import Sender
from mailticket.outgoing.render import Renderer
from mailticket.store import meta
from mailticket.types import Category, ticket_token


@dataclass(frozen=True)
class Context:
    settings: Settings
    factory: sessionmaker[Session]
    clock: Clock
    rules: classify.Rules
    renderer: Renderer
    sender: Sender  # who our mail is from, and the key that signs our Message-IDs
    desk: Desk  # the policy the decisions follow

    def token(self, number: int) -> str:
        return ticket_token(self.settings.helpdesk.token_prefix, number)


def build(settings: Settings, factory: sessionmaker[Session], clock: Clock) -> Context:
    rules = load_rules(settings)
    renderer = Renderer.from_settings(settings)
    renderer.preload()
    helpdesk = settings.helpdesk
    with transaction(factory) as session:
        key = meta.secret(session, helpdesk.secret)
    sender = Sender(helpdesk.name, helpdesk.address, helpdesk.domain, key, helpdesk.tz)
    return Context(settings, factory, clock, rules, renderer, sender, desk_of(settings))


def load_rules(settings: Settings) -> classify.Rules:
    """rules.toml compiled; a ConfigError names the file, the line and the entry that is wrong."""
    try:
        text = settings.rules_path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("classifier.rules", f"cannot read {settings.rules_path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(settings.rules_path), f"not valid TOML: {exc}") from None
    source = str(settings.rules_path)
    try:
        return classify.compile_rules(data, source)
    except ConfigError as exc:
        line = rule_line(text, exc.where.removeprefix(f"{source}: "))
        if line is None:
            raise
        raise ConfigError(f"{source}:{line}: {exc.where.removeprefix(f'{source}: ')}", exc.what) from None


_KEY_PART = re.compile(r"([A-Za-z_][\w-]*)(?:\[(\d+)\])?")


def rule_line(text: str, key: str) -> int | None:
    """The line of rules.toml that holds `key` ("spam[17].phrases[14]", "settings.margin"): the
    header of the table (its n-th `[[spam]]`), then the line of its field when there is one."""
    parts = [_KEY_PART.fullmatch(part) for part in key.split(".")]
    if not parts or not all(parts):
        return None
    lines = text.splitlines()
    table, index = parts[0][1], int(parts[0][2] or 0)
    header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
    starts = [n for n, line in enumerate(lines) if header.match(line)]
    if len(starts) <= index:
        return None
    start = starts[index]
    if len(parts) > 1:
        field = re.compile(rf"^\s*{re.escape(parts[1][1])}\s*=")
        for n in range(start + 1, len(lines)):
            if lines[n].lstrip().startswith("["):
                break
            if field.match(lines[n]):
                return n + 1
    return start + 1


def desk_of(settings: Settings) -> Desk:
    helpdesk, staff = settings.helpdesk, settings.staff
    return Desk(
        prefix=helpdesk.token_prefix, address=helpdesk.address, own_addresses=frozenset({helpdesk.address}),
        members=staff.members, coordinators=staff.coordinators,
        disclose_address=staff.disclose_address, reopen_window=helpdesk.reopen_window,
        max_acks_per_hour=helpdesk.max_acks_per_hour, max_message_size=helpdesk.max_message_size,
        calendar=settings.calendar, targets=settings.sla.targets,
        default_category=Category(settings.default_category),
        trust_spam_headers=settings.filter.trust_spam_headers,
        trusted_link_domains=settings.filter.trusted_link_domains,
        max_tickets_per_hour=helpdesk.max_tickets_per_hour,
        partners=settings.partners.members, partner_remind_after=settings.partners.remind_after,
        pause_for_partners=settings.sla.pause_for_partners,
    )
