"""Read the TOML config once into a frozen Settings; a bad key raises ConfigError(file:key, what).

Lookup order (contract): --config PATH, $MAILTICKET_CONFIG, ./config/mailticket.toml,
else the embedded default (Maildir ./var/mail, SQLite ./var/mailticket.db, outbox ./var/outbox).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailticket.core.effects import Partner, Person
from mailticket.core.sla import KINDS as CALENDAR_KINDS
from mailticket.core.sla import Calendar, load_holidays
from mailticket.errors import ConfigError
from mailticket.types import Category

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped(installed: str, in_checkout: str) -> Path:
    """A file shipped with the package: inside it when installed, beside it in a checkout."""
    path = PACKAGE_DIR / installed
    return path if path.exists() else PACKAGE_DIR.parent / in_checkout


DEFAULT_RULES = _shipped("data/rules.toml", "config/rules.toml")
DEFAULT_HOLIDAYS = _shipped("data/holidays-id.txt", "config/holidays-id.txt")
DEFAULT_TEMPLATES = _shipped("templates", "templates")
CATEGORIES = tuple(Category)
_DEFAULT_TARGETS = {Category.GANGGUAN: "3d", Category.PERMASALAHAN: "1d", Category.PERMINTAAN: "1h"}
_SLA_KEYS = {"calendar", "office_hours", "holidays", "holidays_file", "auto_close", *CATEGORIES}
_SLA_KEYS.add("pause_for_partners")  # issue 19
_FIRST_RESPONSE = "30m"  # the seed's staff path: 5 + 5 + 10 + 5 + 5 minutes
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3,
               "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3}


@dataclass(frozen=True)
class Helpdesk:
    name: str = "Helpdesk LPSE Provinsi Lampung"
    address: str = "provlampunglpse@gmail.com"
    token_prefix: str = "LPSE"
    first_number: int = 1
    timezone: str = "Asia/Jakarta"
    secret: str = ""  # keys our Message-IDs; generated once into the database when empty
    max_message_size: int = 25 * 1024 * 1024
    reopen_window: timedelta = timedelta(days=7)  # a reporter's reply to a closed ticket reopens it
    max_acks_per_hour: int = 5  # per address acked: two auto-responders can never ping-pong for long
    max_tickets_per_hour: int = 20  # new tickets per sender and hour; beyond: kept as `flood`

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "localhost"


@dataclass(frozen=True)
class Inbox:
    kind: str = "maildir"
    path: Path = Path("var/mail")
    host: str = "imap.gmail.com"
    port: int = 993
    security: str = "ssl"
    username: str = ""
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    idle: bool = True
    poll_interval: timedelta = timedelta(seconds=60)
    stall_alert: timedelta = timedelta(minutes=15)  # no good fetch/IDLE for this long: tell coordinators
    oauth2_token_command: str = ""  # XOAUTH2 instead of the password: prints an access token
    oauth2_token_file: Path | None = None  # or a file an outside helper keeps fresh
    create: bool = False  # Maildir: create a missing `path` (else refused: a typo is never watched empty)


@dataclass(frozen=True)
class Smtp:
    kind: str = "directory"
    path: Path = Path("var/outbox")
    host: str = "smtp.gmail.com"
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    oauth2_token_command: str = ""
    oauth2_token_file: Path | None = None
    sent_folder: str = ""  # IMAP folder to keep a copy of what we send ("": none; Gmail's SMTP does it)


@dataclass(frozen=True)
class Staff:
    members: tuple[Person, ...] = ()
    coordinators: tuple[Person, ...] = ()
    require_authenticated: bool = True
    authserv_id: str = "mx.google.com"
    disclose_address: bool = False  # relays name the staff member; their address stays hidden


@dataclass(frozen=True)
class Sla:
    """The resolution target per category; the [sla] calendar keys become Settings.calendar."""

    targets: dict[str, timedelta] = field(
        default_factory=lambda: {c: parse_duration(v) for c, v in _DEFAULT_TARGETS.items()}
    )
    # the first answer to the reporter, per category, counted on the SLA calendar
    first_response: dict[str, timedelta] = field(
        default_factory=lambda: {c: parse_duration(_FIRST_RESPONSE) for c in CATEGORIES}
    )
    pause_for_partners: bool = False  # the clock stops while a partner works (#teruskan)


@dataclass(frozen=True)
class AutoClose:
    """[sla.auto_close]: a ticket waiting for its reporter this long (SLA calendar) is closed; the
    reporter is reminded once at `remind_at` of that time. `after` None: never."""

    after: timedelta | None = None
    remind_at: float = 0.5


@dataclass(frozen=True)
class Survey:
    """[survey]: the closing mail asks for a rating 1-4 (IKM, Permenpan RB 14/2017)."""

    enabled: bool = False


@dataclass(frozen=True)
class Report:
    """[report]: the monthly report goes to the coordinators on this day of the month."""

    day: int = 1


@dataclass(frozen=True)
class Filter:
    """[filter]: what the spam check trusts."""

    # verdict headers our receiving server's filter adds (SpamAssassin, Rspamd); () trusts none
    trust_spam_headers: tuple[str, ...] = ("X-Spam-Flag", "X-Spam-Status", "X-Rspamd-Action")
    # links to these domains and their sub-domains are no spam sign ("*.go.id" = "go.id")
    trusted_link_domains: tuple[str, ...] = ("*.go.id", "lkpp.go.id", "inaproc.id", "spse.inaproc.id")


@dataclass(frozen=True)
class MailOptions:
    """[mail]: what our mail to staff carries."""

    forward_attachments: int = 10 * 1024 * 1024  # bytes of the reporter's files one notification carries
    max_per_address_per_hour: int = 10  # mails one ticket sends one address an hour; beyond: held


@dataclass(frozen=True)
class Partners:
    """[partners]: the other service owners (#teruskan), and when the assignee is reminded of a silent one."""

    members: tuple[Partner, ...] = ()
    remind_after: timedelta = timedelta(days=1)  # counted on the SLA calendar


@dataclass(frozen=True)
class Settings:
    source: str  # the config file, or "<embedded default>"
    helpdesk: Helpdesk
    database_url: str
    inbox: Inbox
    smtp: Smtp
    staff: Staff
    sla: Sla
    calendar: Calendar  # the SLA clock: 24x7 or office hours with holidays
    escalation_at: float
    digest_time: str
    rules_path: Path
    default_category: str
    templates_path: Path
    auto_close: AutoClose = AutoClose()
    survey: Survey = Survey()
    report: Report = Report()
    filter: Filter = Filter()
    mail: MailOptions = MailOptions()
    partners: Partners = Partners()


def parse_duration(text: str) -> timedelta:
    """'90s', '5m', '1h', '3d', '2w' -> timedelta; ValueError otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration with a unit (s, m, h, d, w): {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_size(text: str) -> int:
    """'10MB', '500 KB', '1.5GB' -> bytes (KB = 1024 bytes, as the mail shows sizes); ValueError otherwise."""
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size with a unit (B, KB, MB, GB): {text!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def find_config(explicit: str | None, cwd: Path | None = None) -> Path | None:
    """The config file to read, in the contract's order; None means the embedded default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("MAILTICKET_CONFIG")
    if env:
        return Path(env)
    local = (cwd or Path.cwd()) / "config" / "mailticket.toml"
    return local if local.is_file() else None


def load(explicit: str | None = None, cwd: Path | None = None) -> Settings:
    path = find_config(explicit, cwd)
    if path is None:
        return build({}, "<embedded default>", (cwd or Path.cwd()))
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    return build(data, str(path), path.resolve().parent)


class _Reader:
    """Typed access to one TOML table, naming file and key in every error."""

    recording: list[_Reader] | None = None  # accepted_keys() collects every reader here

    def __init__(self, source: str, data: dict[str, Any], table: str, known: set[str]):
        self.source, self.table, self.known = source, table, frozenset(known)
        if _Reader.recording is not None:
            _Reader.recording.append(self)
        self.data = data.get(table, {}) if table else data
        if not isinstance(self.data, dict):
            raise ConfigError(f"{source}: [{table}]", "must be a table")
        unknown = set(self.data) - known
        if unknown:
            raise ConfigError(self.where(sorted(unknown)[0]), "unknown key")

    def where(self, key: str) -> str:
        return f"{self.source}: {self.table}.{key}" if self.table else f"{self.source}: {key}"

    def get(self, key: str, kind: type, default: Any) -> Any:
        value = self.data.get(key, default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(self.where(key), f"must be {kind.__name__}, got {value!r}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise ConfigError(self.where(key), f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def duration(self, key: str, default: str) -> timedelta:
        try:
            return parse_duration(self.get(key, str, default))
        except ValueError as exc:
            raise ConfigError(self.where(key), str(exc)) from None

    def path(self, key: str, default: str, base: Path) -> Path:
        return (base / self.get(key, str, default)).resolve()


def _people(reader: _Reader, key: str) -> tuple[Person, ...]:
    rows = reader.get(key, list, [])
    people = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("email"), str) or "@" not in row["email"]:
            raise ConfigError(reader.where(f"{key}[{i}]"), "needs name and a valid email")
        display = row.get("display", "")
        if not isinstance(display, str):
            raise ConfigError(reader.where(f"{key}[{i}].display"), "must be a string")
        people.append(Person(str(row.get("name") or row["email"]), row["email"].strip().lower(),
                             " ".join(display.split())))
    return tuple(people)


def _helpdesk(data: dict, source: str) -> Helpdesk:
    r = _Reader(source, data, "helpdesk", {"name", "address", "token_prefix", "first_number",
                                            "timezone", "secret", "max_message_size", "reopen_window",
                                            "max_acks_per_hour", "max_tickets_per_hour"})
    helpdesk = Helpdesk(
        name=r.get("name", str, Helpdesk.name),
        address=r.get("address", str, Helpdesk.address).strip().lower(),
        token_prefix=r.get("token_prefix", str, Helpdesk.token_prefix),
        first_number=r.get("first_number", int, 1),
        timezone=r.get("timezone", str, Helpdesk.timezone),
        secret=r.get("secret", str, ""),
        max_message_size=r.get("max_message_size", int, Helpdesk.max_message_size),
        reopen_window=r.duration("reopen_window", "7d"),
        max_acks_per_hour=r.get("max_acks_per_hour", int, Helpdesk.max_acks_per_hour),
        max_tickets_per_hour=r.get("max_tickets_per_hour", int, Helpdesk.max_tickets_per_hour),
    )
    if "@" not in helpdesk.address:
        raise ConfigError(r.where("address"), "must be an e-mail address")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", helpdesk.token_prefix):
        raise ConfigError(r.where("token_prefix"), "letters, digits, _ or - only, starting with a letter")
    if helpdesk.first_number < 1:
        raise ConfigError(r.where("first_number"), "must be 1 or more")
    try:
        ZoneInfo(helpdesk.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(r.where("timezone"), f"unknown time zone {helpdesk.timezone!r}") from None
    return helpdesk


def _inbox(data: dict, source: str, base: Path) -> Inbox:
    r = _Reader(source, data, "inbox", {"kind", "host", "port", "security", "username", "password",
                                         "folder", "idle", "poll_interval", "path", "stall_alert",
                                         "oauth2_token_command", "oauth2_token_file", "create"})
    return Inbox(
        kind=r.choice("kind", "maildir" if "inbox" not in data else "imap", ("imap", "maildir")),
        path=r.path("path", "var/mail", base),
        host=r.get("host", str, Inbox.host),
        port=r.get("port", int, Inbox.port),
        security=r.choice("security", "ssl", ("ssl", "starttls", "none")),
        username=r.get("username", str, ""),
        password=os.environ.get("MAILTICKET_IMAP_PASSWORD") or r.get("password", str, ""),
        folder=r.get("folder", str, "INBOX"),
        idle=r.get("idle", bool, True),
        poll_interval=r.duration("poll_interval", "60s"),
        stall_alert=r.duration("stall_alert", "15m"),
        oauth2_token_command=r.get("oauth2_token_command", str, ""),
        oauth2_token_file=r.path("oauth2_token_file", "", base) if r.data.get("oauth2_token_file") else None,
        # without a `path` the Maildir is the default ./var/mail, made on first use
        create=r.get("create", bool, "path" not in r.data),
    )


def _smtp(data: dict, source: str, base: Path) -> Smtp:
    r = _Reader(source, data, "smtp", {"kind", "host", "port", "security", "username", "password", "path",
                                        "oauth2_token_command", "oauth2_token_file", "sent_folder"})
    return Smtp(
        kind=r.choice("kind", "directory" if "smtp" not in data else "smtp", ("smtp", "directory")),
        path=r.path("path", "var/outbox", base),
        host=r.get("host", str, Smtp.host),
        port=r.get("port", int, Smtp.port),
        security=r.choice("security", "starttls", ("ssl", "starttls", "none")),
        username=r.get("username", str, ""),
        password=os.environ.get("MAILTICKET_SMTP_PASSWORD") or r.get("password", str, ""),
        oauth2_token_command=r.get("oauth2_token_command", str, ""),
        oauth2_token_file=r.path("oauth2_token_file", "", base) if r.data.get("oauth2_token_file") else None,
        sent_folder=r.get("sent_folder", str, ""),
    )


def _staff(data: dict, source: str) -> Staff:
    r = _Reader(source, data, "staff", {"members", "coordinators", "require_authenticated", "authserv_id",
                                         "disclose_address"})
    return Staff(
        members=_people(r, "members"),
        coordinators=_people(r, "coordinators"),
        require_authenticated=r.get("require_authenticated", bool, True),
        authserv_id=r.get("authserv_id", str, Staff.authserv_id),
        disclose_address=r.get("disclose_address", bool, False),
    )


def _sla(data: dict, source: str) -> Sla:
    r = _Reader(source, data, "sla", _SLA_KEYS)
    targets, first = {}, {}
    for category in CATEGORIES:
        sub = _Reader(source, r.data, category, {"resolve", "first_response"})
        sub.table = f"sla.{category}"
        targets[category] = sub.duration("resolve", _DEFAULT_TARGETS[category])
        first[category] = sub.duration("first_response", _FIRST_RESPONSE)
    return Sla(targets=targets, first_response=first,
               pause_for_partners=r.get("pause_for_partners", bool, False))


def _auto_close(data: dict, source: str) -> AutoClose:
    r = _Reader(source, data.get("sla", {}), "auto_close", {"after", "remind_at"})
    r.table = "sla.auto_close"
    after = r.duration("after", "1d") if "after" in r.data else None
    if after is not None and after <= timedelta(0):
        raise ConfigError(r.where("after"), "must be longer than zero")
    remind_at = r.get("remind_at", float, AutoClose.remind_at)
    if not 0 < remind_at < 1:
        raise ConfigError(r.where("remind_at"), "must be between 0 and 1")
    return AutoClose(after=after, remind_at=remind_at)


def _survey_report(data: dict, source: str) -> tuple[Survey, Report]:
    survey = _Reader(source, data, "survey", {"enabled"})
    report = _Reader(source, data, "report", {"day"})
    day = report.get("day", int, Report.day)
    if not 1 <= day <= 28:  # every month has it
        raise ConfigError(report.where("day"), f"must be a day 1-28, got {day}")
    return Survey(enabled=survey.get("enabled", bool, False)), Report(day=day)


def _calendar(data: dict, source: str, base: Path, tz: ZoneInfo) -> Calendar:
    """The SLA calendar of [sla]: 24x7, or office hours with the listed and the file's holidays."""
    r = _Reader(source, data, "sla", _SLA_KEYS)
    holidays = tuple(r.get("holidays", list, []))
    for day in holidays:
        if not isinstance(day, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise ConfigError(r.where("holidays"), f"dates as \"YYYY-MM-DD\", got {day!r}")
    holidays_file = r.get("holidays_file", str, "")
    kind = r.choice("calendar", "24x7", CALENDAR_KINDS)
    office_hours = r.get("office_hours", str, "Mon-Fri 08:00-16:00")
    if kind == "office":  # the shipped Indonesian list unless another file is named
        path = (base / holidays_file).resolve() if holidays_file else DEFAULT_HOLIDAYS
        holidays += _holidays_file(path, r.where("holidays_file"))
    try:
        return Calendar.parse(kind, office_hours, holidays, tz)
    except ValueError as exc:
        raise ConfigError(r.where("office_hours"), str(exc)) from None


def _holidays_file(path: Path, where: str) -> tuple[date, ...]:
    try:
        return load_holidays(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(where, f"{path}: {exc}") from None


def build(data: dict[str, Any], source: str, base: Path) -> Settings:
    """Settings from parsed TOML; relative paths are taken relative to `base`."""
    _Reader(source, data, "", {"helpdesk", "database", "inbox", "smtp", "staff", "sla",
                               "escalation", "digest", "classifier", "templates", "survey", "report",
                               "filter", "mail", "partners"})
    database = _Reader(source, data, "database", {"url"})
    escalation = _Reader(source, data, "escalation", {"at"})
    digest = _Reader(source, data, "digest", {"time"})
    classifier = _Reader(source, data, "classifier", {"rules", "default"})
    templates = _Reader(source, data, "templates", {"path"})
    at = escalation.get("at", float, 0.75)
    if not 0 < at < 1:
        raise ConfigError(escalation.where("at"), "must be between 0 and 1")
    digest_time = digest.get("time", str, "07:30")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", digest_time):
        raise ConfigError(digest.where("time"), f"must be HH:MM, got {digest_time!r}")
    rules = classifier.get("rules", str, "")
    return Settings(
        source=source,
        helpdesk=(helpdesk := _helpdesk(data, source)),
        database_url=_database_url(database.get("url", str, "sqlite:///var/mailticket.db"), base,
                                   database.where("url")),
        inbox=_inbox(data, source, base),
        smtp=_smtp(data, source, base),
        staff=_staff(data, source),
        sla=_sla(data, source),
        calendar=_calendar(data, source, base, helpdesk.tz),
        escalation_at=at,
        digest_time=digest_time,
        rules_path=(base / rules).resolve() if rules else DEFAULT_RULES,
        default_category=classifier.choice("default", Category.PERMINTAAN, CATEGORIES),
        templates_path=templates.path("path", str(DEFAULT_TEMPLATES), base),
        auto_close=_auto_close(data, source),
        survey=(survey_report := _survey_report(data, source))[0],
        report=survey_report[1],
        filter=_filter(data, source),
        mail=_mail(data, source),
        partners=_partners(data, source),
    )


def _partners(data: dict, source: str) -> Partners:
    r = _Reader(source, data, "partners", {"members", "remind_after"})
    remind_after = r.duration("remind_after", "1d")
    if remind_after <= timedelta(0):
        raise ConfigError(r.where("remind_after"), "must be longer than zero")
    found: list[Partner] = []
    for i, row in enumerate(r.get("members", list, [])):
        found.append(_partner(r, f"members[{i}]", row, {p.name for p in found}))
    return Partners(members=tuple(found), remind_after=remind_after)


def _partner(r: _Reader, key: str, row: Any, taken: set[str]) -> Partner:
    """{ name = "lkpp", label = "Helpdesk LKPP", email = "…" or ["…", "…"], note = "…" }"""
    if not isinstance(row, dict):
        raise ConfigError(r.where(key), "must be a table { name = ..., email = ... }")
    unknown = sorted(set(row) - {"name", "label", "email", "note"})
    if unknown:
        raise ConfigError(r.where(f"{key}.{unknown[0]}"), "unknown key")
    name = row.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(r.where(f"{key}.name"),
                          "needs a name: letters, digits, _ . - (written after #teruskan)")
    if name.lower() in taken:
        raise ConfigError(r.where(f"{key}.name"), f"{name!r} is named twice")
    emails = row.get("email")
    emails = [emails] if isinstance(emails, str) else emails
    if (not isinstance(emails, list) or not emails
            or not all(isinstance(e, str) and "@" in e and " " not in e.strip() for e in emails)):
        raise ConfigError(r.where(f"{key}.email"), "needs an e-mail address, or a list of them")
    for extra in ("label", "note"):
        if not isinstance(row.get(extra, ""), str):
            raise ConfigError(r.where(f"{key}.{extra}"), "must be a string")
    addresses = tuple(dict.fromkeys(e.strip().lower() for e in emails))
    return Partner(name.lower(), " ".join(row.get("label", "").split()), addresses,
                   " ".join(row.get("note", "").split()))


def _mail(data: dict, source: str) -> MailOptions:
    r = _Reader(source, data, "mail", {"forward_attachments", "max_per_address_per_hour"})
    try:
        cap = parse_size(r.get("forward_attachments", str, "10MB"))
    except ValueError as exc:
        raise ConfigError(r.where("forward_attachments"), str(exc)) from None
    limit = r.get("max_per_address_per_hour", int, MailOptions.max_per_address_per_hour)
    if limit < 1:
        raise ConfigError(r.where("max_per_address_per_hour"), "must be at least 1")
    return MailOptions(forward_attachments=cap, max_per_address_per_hour=limit)


def _filter(data: dict, source: str) -> Filter:
    r = _Reader(source, data, "filter", {"trust_spam_headers", "trusted_link_domains"})
    values = {}
    for key in ("trust_spam_headers", "trusted_link_domains"):
        items = r.get(key, list, list(getattr(Filter, key)))
        if not all(isinstance(v, str) and v.strip() and " " not in v.strip() for v in items):
            raise ConfigError(r.where(key), "must be a list of header names or domains, one word each")
        values[key] = tuple(v.strip() for v in items)
    return Filter(**values)


def accepted_keys() -> dict[str, frozenset[str]]:
    """Every table the loader reads ("" is the top level, "sla.gangguan" a sub-table) and the keys it
    accepts there, taken from the readers themselves; a test compares them with the example config."""
    _Reader.recording = readers = []
    try:
        build({}, "<keys>", Path.cwd())
    finally:
        _Reader.recording = None
    keys: dict[str, frozenset[str]] = {}
    for reader in readers:
        keys[reader.table] = keys.get(reader.table, frozenset()) | reader.known
    return keys


DATABASE_KINDS = ("sqlite", "postgresql")
DATABASE_HINT = 'use "sqlite:///PATH" (relative to the config file) or "postgresql+psycopg://USER@HOST/DB"'


def check_database_url(url: str, where: str) -> None:
    """ConfigError for a URL that is not one of ours: a bare path, a misspelt or unknown kind."""
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        raise ConfigError(where, f"not a database URL: {url!r}; {DATABASE_HINT}")
    kind = scheme.split("+", 1)[0].lower()
    if kind not in DATABASE_KINDS:
        raise ConfigError(where, f"unknown database kind {kind!r} in {url!r}; {DATABASE_HINT}")
    if kind == "sqlite" and not rest.startswith("/"):
        raise ConfigError(where, f"a SQLite URL has three slashes before the path: {url!r}; {DATABASE_HINT}")


def _database_url(url: str, base: Path, where: str = "database.url") -> str:
    """Make a relative SQLite path relative to the config file's folder."""
    check_database_url(url, where)
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix):]).resolve())
    return url
