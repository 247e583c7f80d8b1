"""Outgoing mail text: values about a ticket -> Rendered(kind, subject, text, html), via Jinja templates.

One Renderer per process: the Jinja Environment is built once (StrictUndefined, autoescape
for .html only) and each template is compiled once; `preload` compiles them all at start-up and
names the file and line of a broken one (ConfigError). User text (subjects, bodies, names)
only ever enters as template variables, so Jinja syntax inside it is printed, not run.
Dates, durations and labels are written in Indonesian by `locale_id`; the help on command tags
comes from `commands.VALID_TAGS_HELP`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    select_autoescape,
)

from mailticket.core.checklist import Checklist, check
from mailticket.core.commands import TAG_EXAMPLES, VALID_TAGS_HELP
from mailticket.core.digest import DigestContext
from mailticket.core.report import MonthReport
from mailticket.core.survey import Index
from mailticket.errors import ConfigError
from mailticket.outgoing.locale_id import (
    HIDDEN_EVENTS,
    MONTHS,
    category_label,
    event_detail,
    event_label,
    format_date,
    format_datetime,
    format_duration,
    format_left,
    format_size,
    salutation,
    status_label,
)
from mailticket.types import Attachment, CommandError, Outgoing

if TYPE_CHECKING:
    from mailticket.config import Settings

# the templates the methods below (and refusals.py) render; preload checks that each one is there
NEEDED = ("ack.txt", "ack.html", "notification.txt", "relay.txt", "closing.txt", "error.txt",
          "escalation.txt", "warning.txt", "breach.txt", "digest.txt", "digest.html", "watchdog.txt",
          "refused.txt", "transcript.txt", "assigned.txt")
_SUBJECT_LABELS = {"error": "Perintah tidak dijalankan", "escalation": "Eskalasi",
                   "warning": "Peringatan SLA", "breach": "Lewat target", "transcript": "Perintah dijalankan",
                   "assigned": "Ditugaskan kepada Anda"}
# issue 14: failed authentication (4), #gabung (10), #daftar (9), #bantuan
NEEDED += ("unverified.txt", "merged.txt", "list.txt", "help.txt")
_SUBJECT_LABELS.update(unverified="E-mail Anda tidak terverifikasi", merged="Tiket digabung")
# issue 18: the monthly report, the survey's scale note, the auto-close reminder and closing
NEEDED += ("report.txt", "report.html", "survey_scale.txt", "reminder.txt", "autoclose.txt")
# issue 19: #teruskan to a service owner, and the reminder when they stay silent
NEEDED += ("partner.txt", "partner_reminder.txt")
# issue 15: a ticket's mail held by the per-address cap (to coordinators), a sender's flood (to staff)
NEEDED += ("held.txt", "flood.txt")
_SUBJECT_LABELS.update(partner="Mohon tindak lanjut", partner_reminder="Belum dijawab mitra")
# notification events -> the subject's label; the template's first line says the same in a sentence
NOTIFICATION_EVENTS = {"new": "Tiket baru", "reply": "Balasan pelapor", "reopened": "Dibuka kembali",
                       "other": "Pesan pihak lain", "colleague": "Sudah dijawab rekan",
                       "closed": "Ditutup rekan", "oversize": "Email terlalu besar"}
NOTIFICATION_EVENTS["partner"] = "Jawaban mitra"  # issue 19: a partner answered (#teruskan)


@dataclass(frozen=True)
class CategoryView:
    name: str  # gangguan, permasalahan, permintaan
    label: str  # for people: "Gangguan layanan"
    meaning: str  # one plain sentence
    target: str  # "3 hari"


@dataclass(frozen=True)
class TicketView:
    """What the templates may know about a ticket. Datetimes are aware."""

    token: str  # "LPSE#12"
    number: int
    subject: str  # clean: no Re:, no token
    category: str
    reporter: str  # e-mail address
    status: str
    created_at: datetime
    due_at: datetime | None
    assignee: str | None = None
    reporter_name: str = ""

    @property
    def tag(self) -> str:
        return f"[{self.token}]"


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a ticket's history for the coordinators."""

    at: datetime
    actor: str  # a name or an address
    action: str  # an event type ("created", "staff_reply", ...) or any text
    text: str = ""  # a short excerpt, may be empty


@dataclass(frozen=True)
class MessageEntry:
    """One earlier message of a ticket, as context in our mail to staff."""

    at: datetime
    who: str  # "Budi <budi@example.co.id>" or a staff member's name
    kind: str  # messages[].kind: report, reply, staff_reply, note, ...
    text: str  # the first lines

    @property
    def label(self) -> str:
        return event_label(self.kind)


@dataclass(frozen=True)
class HistoryLine:
    """One line of a ticket's history, in words."""

    at: datetime
    actor: str
    label: str
    text: str


@dataclass(frozen=True)
class Rendered:
    kind: str
    subject: str
    text: str
    html: str = ""

    def outgoing(self, to: Sequence[str], **fields: Any) -> Outgoing:
        """An Outgoing with these parts; fields are Outgoing's other fields (cc, in_reply_to, ...)."""
        return Outgoing(kind=self.kind, to=tuple(to), subject=self.subject, text=self.text,
                        html=self.html, **fields)


class Renderer:
    """The templates folder, compiled once; one method per outgoing kind."""

    def __init__(self, templates_path: Path, *, helpdesk_name: str, helpdesk_address: str, tz: tzinfo,
                 targets: Mapping[str, timedelta], survey: bool = False):
        self.templates_path = templates_path
        self.tz = tz
        self.targets = dict(targets)
        self.helpdesk = {"name": helpdesk_name, "address": helpdesk_address}
        escape_html = select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False)
        self.env = Environment(
            loader=FileSystemLoader(str(templates_path)), undefined=StrictUndefined, autoescape=escape_html,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False,
        )
        self.env.filters.update(waktu=self.when, tanggal=format_date, durasi=format_duration,
                                ukuran=format_size, status=status_label, sisa=format_left,
                                sapaan=salutation)
        self._templates: dict[str, Template] = {}
        self.env.globals["survey"] = survey  # the closing mails ask for a rating (core/survey.py)

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        return cls(settings.templates_path, helpdesk_name=settings.helpdesk.name,
                   helpdesk_address=settings.helpdesk.address, tz=settings.helpdesk.tz,
                   targets=settings.sla.targets, survey=settings.survey.enabled)

    # --- one method per kind ---------------------------------------------------------------------

    def ack(self, *, ticket: TicketView, topics: Collection[str] = (), size_limit: int = 0,
            checklist: Checklist | None = None) -> Rendered:
        """To the reporter of a new ticket; `size_limit` set: their mail was too big to read whole;
        `checklist`: the registration documents that came with it and those still missing."""
        if checklist is None and "registration" in topics:  # callers that did not read the mail
            checklist = check("", (), registration=True)
        return self._render("ack", ticket, html=True, checklist=checklist,
                            size_limit=format_size(size_limit) if size_limit else "")

    def notification(self, *, ticket: TicketView, body: str, attachments: Sequence[Attachment] = (),
                     needs_review: bool = False, tags: str = VALID_TAGS_HELP, event: str = "new",
                     author: str = "", author_email: str = "", role: str = "", checklist: Any = None,
                     size_limit: int = 0, report: str = "", recent: Sequence[MessageEntry] = (),
                     opens: bool = False, **extra: Any) -> Rendered:
        """To staff: what happened on a ticket (`event`, one of NOTIFICATION_EVENTS), who wrote, the new
        text, the ticket's last messages before it, and the help on command tags."""
        if event not in NOTIFICATION_EVENTS:
            raise ValueError(f"unknown notification event {event!r}")
        who = (f"{author} <{author_email}>" if author and author_email
               else author or author_email or "(tanpa alamat)")
        rendered = self._render("notification", ticket, body=body, attachments=tuple(attachments),
                                needs_review=needs_review, tags=tags, event=event, who=who, role=role,
                                checklist=checklist, size_limit=format_size(size_limit) if size_limit else "",
                                report=report, recent=tuple(recent), opens=opens, **extra)
        return replace(rendered, subject=subject_line(ticket, NOTIFICATION_EVENTS[event]))

    def assigned(self, *, ticket: TicketView, by: str, report: str = "", recent: Sequence[MessageEntry] = (),
                 history: Sequence[HistoryEntry] = (), tags: str = VALID_TAGS_HELP) -> Rendered:
        """To the staff member a ticket was just assigned to (by someone else): the ticket and its history."""
        return self._render("assigned", ticket, by=by, report=report, recent=tuple(recent),
                            history=readable_history(history), tags=tags)

    def transcript(self, *, ticket: TicketView, steps: Sequence[Any],
                   sent: Sequence[tuple[str, str, Any]] = (), relayed: bool = False) -> Rendered:
        """To the staff member whose commands ran: one line per command (a core.staff.Step), the mail that
        went out ((kind, notification event, recipients)), and the ticket's new state."""
        lines = tuple(TranscriptLine(step.text, _step_text(step)) for step in steps)
        mails = tuple((_SENT_LABELS.get(event or kind) or _SENT_LABELS.get(kind, "email lain"), ", ".join(to))
                      for kind, event, to in sent)
        return self._render("transcript", ticket, lines=lines, sent=mails, relayed=relayed)

    def relay(self, *, ticket: TicketView, body: str, staff_name: str = "") -> Rendered:
        """A staff reply, cleaned by the caller, to the reporter."""
        return self._render("relay", ticket, body=body, staff_name=staff_name)

    def closing(self, *, ticket: TicketView, body: str = "", staff_name: str = "") -> Rendered:
        """To the reporter: the ticket is closed, with the staff reply and how to reopen."""
        return self._render("closing", ticket, body=body, staff_name=staff_name)

    def error(self, *, ticket: TicketView, errors: Sequence[CommandError],
              tags: str = VALID_TAGS_HELP) -> Rendered:
        """To a staff member whose reply had a bad command: each line and why, and the help on tags."""
        return self._render("error", ticket, errors=tuple(errors), tags=tags)

    def escalation(self, *, ticket: TicketView, text: str, history: Sequence[HistoryEntry] = (),
                   by: str = "", report: str = "", recent: Sequence[MessageEntry] = (),
                   tags: str = VALID_TAGS_HELP) -> Rendered:
        """To the coordinators: the staff member's text, summary, report, last messages, history, tags."""
        return self._render("escalation", ticket, text=text, history=readable_history(history), by=by,
                            report=report, recent=tuple(recent), tags=tags)

    def warning(self, *, ticket: TicketView, now: datetime, history: Sequence[HistoryEntry] = (),
                report: str = "", recent: Sequence[MessageEntry] = (),
                tags: str = VALID_TAGS_HELP) -> Rendered:
        """To staff and coordinators: the resolution target is near."""
        return self._render("warning", ticket, remaining=_due(ticket) - now,
                            history=readable_history(history),
                            report=report, recent=tuple(recent), tags=tags)

    def breach(self, *, ticket: TicketView, now: datetime, history: Sequence[HistoryEntry] = (),
               report: str = "", recent: Sequence[MessageEntry] = (),
               tags: str = VALID_TAGS_HELP) -> Rendered:
        """To staff and coordinators: the resolution target has passed, with the ticket's history."""
        return self._render("breach", ticket, overdue=now - _due(ticket), history=readable_history(history),
                            report=report, recent=tuple(recent), tags=tags)

    def digest(self, *, context: DigestContext) -> Rendered:
        """To the coordinators: the daily digest built by digest.build_digest."""
        values = {"helpdesk": self.helpdesk, "d": context, "day": context.day,
                  "categories": tuple((self.category(name), count) for name, count in context.by_category),
                  "stats": tuple((self.category(row.category), row) for row in context.stats)}
        subject = clean_subject(f"Ringkasan harian {self.helpdesk['name']}, {format_date(context.day)}")
        return Rendered("digest", subject, self._template("digest.txt").render(values),
                        self._template("digest.html").render(values))

    def watchdog(self, *, stalled: bool, source: str, last_ok: datetime | None, now: datetime) -> Rendered:
        """To the coordinators: the inbox has not been read for too long, or reads again."""
        values = {"helpdesk": self.helpdesk, "stalled": stalled, "source": source, "last_ok": last_ok,
                  "now": now}
        label = "Kotak masuk tidak terbaca" if stalled else "Kotak masuk terbaca kembali"
        return Rendered("watchdog", clean_subject(f"{label}: {self.helpdesk['name']}"),
                        self._template("watchdog.txt").render(values))

    def unverified(self, *, ticket: TicketView, why: str, subject: str = "") -> Rendered:
        """To a staff address whose mail on this ticket failed authentication: why, and what to do."""
        return self._render("unverified", ticket, why=why, subject=subject)

    def unverified_new(self, *, why: str, subject: str = "") -> Rendered:
        """The same for a new mail (no ticket): nothing was opened."""
        values = {"helpdesk": self.helpdesk, "ticket": None, "why": why, "subject": subject}
        title = clean_subject(f"E-mail Anda tidak terverifikasi: {subject}")
        return Rendered("unverified", title, self._template("unverified.txt").render(values))

    def held(self, *, ticket: TicketView, address: str, kind: str, limit: int) -> Rendered:
        """To the coordinators, once per ticket and hour: mail of the ticket to `address` is held (the
        per-address cap, `[mail] max_per_address_per_hour`); `kind`: the first mail held."""
        values = {"helpdesk": self.helpdesk, "ticket": ticket, "address": address, "kind": kind,
                  "limit": limit}
        return Rendered("held", subject_line(ticket, "E-mail ditahan"),
                        self._template("held.txt").render(values))

    def flood(self, *, sender: str, limit: int, subject: str, now: datetime) -> Rendered:
        """To every staff member, once an hour per sender: mail from `sender` is kept as `flood`."""
        values = {"helpdesk": self.helpdesk, "sender": sender, "limit": limit, "subject": subject, "now": now}
        return Rendered("flood", clean_subject(f"Banyak laporan dari {sender}: e-mail berikutnya ditahan"),
                        self._template("flood.txt").render(values))

    def merged(self, *, ticket: TicketView, into: str, into_subject: str = "") -> Rendered:
        """To the reporter (and Cc) of a ticket merged into another: the token to use from now on."""
        return self._render("merged", ticket, into=into, into_subject=into_subject)

    def ticket_list(self, *, mine: Sequence[TicketView] = (), unassigned: Sequence[TicketView] = (),
                    now: datetime, role: str = "") -> Rendered:
        """To a staff member who asked #daftar: their open tickets and the unassigned ones."""
        def rows(found: Sequence[TicketView]) -> tuple[dict[str, Any], ...]:
            return tuple({"ticket": t, "category": self.category(t.category),
                          "left": format_left(t.due_at - now) if t.due_at else ""} for t in found)
        values = {"helpdesk": self.helpdesk, "mine": rows(mine), "unassigned": rows(unassigned), "now": now}
        return Rendered("list", clean_subject(f"Daftar tiket terbuka: {self.helpdesk['name']}"),
                        self._template("list.txt").render(values))

    def help(self, *, role: str = "", tags: str = VALID_TAGS_HELP) -> Rendered:
        """To a staff member or coordinator who asked #bantuan: what they receive, what they can send."""
        values = {"helpdesk": self.helpdesk, "tags": tags, "examples": TAG_EXAMPLES,
                  "coordinator": role == "coordinator"}
        return Rendered("help", clean_subject(f"Panduan petugas {self.helpdesk['name']}"),
                        self._template("help.txt").render(values))

    def partner(self, *, ticket: TicketView, partner: str, text: str = "", report: str = "",
                **attached: Any) -> Rendered:
        """To a service owner (#teruskan): the report, the staff member's text; Reply-To the helpdesk.
        `attached`: what `apply` says of the report's files left out by the cap."""
        left_out = tuple(attached.get("attachments_left_out", ()))
        return self._render("partner", ticket, partner=partner, text=text, report=report, left_out=left_out,
                            cap=attached.get("attachments_cap") or 0)

    def partner_reminder(self, *, ticket: TicketView, partner: str, name: str, emails: Sequence[str],
                         at: datetime, text: str = "") -> Rendered:
        """To the assignee (or every member): partner `name` has not answered a forward made `at`; the
        mail carries a follow-up ready to send (to the partner's `emails`, the forward's subject)."""
        forwarded = subject_line(ticket, _SUBJECT_LABELS["partner"])
        return self._render("partner_reminder", ticket, partner=partner, partner_name=name,
                            emails=", ".join(emails), at=at, text=text, forward_subject=forwarded)

    def survey_scale(self, *, ticket: TicketView, value: int) -> Rendered:
        """To a reporter whose survey answer was off the scale 1-4."""
        return self._render("survey_scale", ticket, value=value)

    def reminder(self, *, ticket: TicketView, since: datetime, close_at: datetime) -> Rendered:
        """To a reporter we are waiting for: answer by `close_at` or the ticket is closed."""
        return self._render("reminder", ticket, since=since, close_at=close_at)

    def autoclose(self, *, ticket: TicketView, since: datetime) -> Rendered:
        """To a reporter we waited for too long: the ticket is closed, a reply reopens it."""
        return self._render("autoclose", ticket, since=since)

    def report(self, *, report: MonthReport) -> Rendered:
        """To the coordinators: the monthly report built by report.build_report."""
        month = report.month
        label = f"{MONTHS[month.month - 1]} {month.year}"
        values = {"helpdesk": self.helpdesk, "r": report, "month_label": label,
                  "categories": tuple((self.category(g.name).label, g) for g in report.categories),
                  "staff": tuple((g.name, g) for g in report.staff), "span": _span, "pct": _pct,
                  "ikm_text": _ikm_text, "decimal": _decimal}
        subject = clean_subject(f"Laporan bulanan {self.helpdesk['name']}, {label}")
        return Rendered("report", subject, self._template("report.txt").render(values),
                        self._template("report.html").render(values))

    # --- helpers ---------------------------------------------------------------------------------

    def category(self, name: str) -> CategoryView:
        label, meaning = category_label(name)
        target = self.targets.get(name)
        return CategoryView(name, label, meaning, format_duration(target) if target else "")

    def when(self, moment: datetime | None) -> str:
        """'Rabu, 25 November 2026 pukul 14.30 WIB' in the helpdesk's zone; '-' for None."""
        return "-" if moment is None else format_datetime(moment, self.tz)

    def preload(self) -> None:
        """Compile every template now, so that a broken one stops start-up rather than a mail.

        ConfigError names the file and line of a template that does not compile, a template that a
        kind needs and the folder lacks, or the folder when it is missing."""
        if not self.templates_path.is_dir():
            raise ConfigError(str(self.templates_path), "templates folder not found")
        names = self.env.list_templates(extensions=("txt", "html"))
        missing = sorted(set(NEEDED) - set(names))
        if missing:
            raise ConfigError(str(self.templates_path / missing[0]), "template not found")
        for name in names:
            try:
                self._template(name)
            except TemplateSyntaxError as exc:
                where = f"{exc.filename or self.templates_path / name}:{exc.lineno}"
                raise ConfigError(where, f"template does not compile: {exc.message}") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(str(self.templates_path / name), f"not UTF-8 text: {exc}") from None

    def _template(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self.env.get_template(name)
        return template

    def _render(self, kind: str, ticket: TicketView, *, html: bool = False, **values: Any) -> Rendered:
        context = {"helpdesk": self.helpdesk, "ticket": ticket, "category": self.category(ticket.category),
                   **values}
        text = self._template(f"{kind}.txt").render(context)
        body_html = self._template(f"{kind}.html").render(context) if html else ""
        return Rendered(kind, subject_line(ticket, _SUBJECT_LABELS.get(kind, "")), text, body_html)


@dataclass(frozen=True)
class TranscriptLine:
    tag: str  # the tag line as written
    text: str  # what it did, in words


_SENT_LABELS = {"relay": "balasan Anda ke pelapor", "closing": "pemberitahuan penutupan ke pelapor",
                "escalation": "eskalasi ke koordinator", "assigned": "pemberitahuan tugas",
                "merged": "pemberitahuan nomor tiket baru ke pelapor", "colleague": "salinan untuk rekan",
                "closed": "salinan untuk rekan", "partner": "tiket ke pengelola layanan lain"}
_FIELD_LABELS = {"status": ("status", status_label), "category": ("kategori", lambda n: category_label(n)[0]),
                 "assignee": ("petugas", lambda a: a)}
_STEP_DEFAULTS = {"note": "catatan internal disimpan", "escalate": "tiket dieskalasi ke koordinator"}


def _step_text(step: Any) -> str:
    parts = []
    for name, old, new in step.changes:
        label, word = _FIELD_LABELS[name]
        parts.append(f"{label}: {word(old) if old else 'belum ada'} → {word(new) if new else 'belum ada'}")
    if parts:
        return "; ".join(parts)
    return _STEP_DEFAULTS.get(step.name, "tidak ada perubahan (tiket sudah dalam keadaan itu)")


def readable_history(history: Sequence[HistoryEntry]) -> tuple[HistoryLine, ...]:
    """The history as people read it: labels and details in Indonesian, technical events left out."""
    return tuple(HistoryLine(entry.at, entry.actor, event_label(entry.action),
                             event_detail(entry.action, entry.text))
                 for entry in history if entry.action not in HIDDEN_EVENTS)


def _span(value: timedelta | None) -> str:
    return "-" if value is None else format_duration(value)


def _pct(value: int | None) -> str:
    return "-" if value is None else f"{value}%"


def _decimal(value: float | None) -> str:
    """80.65 -> '80,65' (two decimals, Indonesian comma); None -> '-'."""
    return "-" if value is None else f"{value:.2f}".replace(".", ",")


def _ikm_text(index: Index) -> str:
    if not index.count:
        return "belum ada penilaian"
    return (f"IKM {index.value:.2f} ({index.letter}, {index.quality}), rata-rata {index.average:.2f}"
            f" dari {index.count} penilaian").replace(".", ",")


def _due(ticket: TicketView) -> datetime:
    if ticket.due_at is None:
        raise ValueError(f"{ticket.token} has no due time")
    return ticket.due_at


# --- subjects ----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ANY_TOKEN = re.compile(r"\[\s*([^\]#\s]+)\s*#\s*(\d+)\s*\]")


def clean_subject(text: str) -> str:
    """One line, single spaces; '(tanpa subjek)' when empty."""
    return " ".join(_CONTROL.sub(" ", text).split()) or "(tanpa subjek)"


def subject_line(ticket: TicketView, label: str = "") -> str:
    """'[LPSE#12] subject', or 'Label: [LPSE#12] subject' for mail about the ticket to staff."""
    prefix, _, number = ticket.token.partition("#")

    def drop_own(match: re.Match[str]) -> str:
        own = match[1].casefold() == prefix.casefold() and int(match[2]) == int(number)
        return " " if own else match[0]

    subject = clean_subject(_ANY_TOKEN.sub(drop_own, ticket.subject))
    line = f"{ticket.tag} {subject}"
    return f"{label}: {line}" if label else line
