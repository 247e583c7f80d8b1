"""#teruskan and the partner's answer (core/partners.py, issue 19): one test per row of its table, the
tag in commands.py, the role in identity.py, the reminder rule and [partners] in config.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailticket.config import build
from mailticket.core import identity, partners
from mailticket.core.commands import TAGS, parse_commands
from mailticket.core.decide import decide
from mailticket.core.effects import (
    Change,
    Event,
    Forward,
    ForwardTo,
    Partner,
    PartnerAnswered,
    Record,
    Role,
    Send,
)
from mailticket.core.partners import ForwardRow
from mailticket.core.sla import Calendar, parse_office_hours
from mailticket.errors import ConfigError
from mailticket.types import Status
from tests.unit.test_decide import (
    DESK,
    NOW,
    REPORTER,
    RINA,
    STAFF,
    arrival,
    mail,
    steer,
    ticket,
)

LKPP = Partner("lkpp", "Helpdesk LKPP", ("helpdesk@lkpp.example.go.id", "eproc@lkpp.example.go.id"), "SPSE")
SERVER = Partner("server", "", ("noc@diskominfo.example.go.id",))
PDESK = replace(DESK, partners=(LKPP, SERVER))
FORWARDED = ticket(Status.OPEN, waiting_on="lkpp", forwards=(Forward("lkpp", NOW - timedelta(hours=3)),))


def sends(decision, kind: str) -> list[Send]:
    return [e for e in decision.effects if isinstance(e, Send) and e.kind == kind]


def changes(decision) -> dict:
    found: dict = {}
    for e in decision.effects:
        if isinstance(e, Change):
            found.update(dict(e.fields))
    return found


# -- the tag ---------------------------------------------------------------------------------------


def test_the_tag_is_internal_and_takes_a_partner_name_then_text():
    tag = next(t for t in TAGS if t.name == "forward")
    assert tag.aliases == ("teruskan", "forward") and tag.internal
    commands, errors = parse_commands("#teruskan LKPP mohon dicek\n#forward server", [], ["lkpp", "server"])
    assert not errors
    assert [(c.name, c.arg) for c in commands] == [("forward", "lkpp mohon dicek"), ("forward", "server")]


@pytest.mark.parametrize("line", ["#teruskan bpjs tolong", "#teruskan", "#forward  "])
def test_an_unknown_or_missing_partner_name_is_an_error_listing_the_partners(line):
    commands, [error] = parse_commands(line, [], ["lkpp", "server"])
    assert "lkpp, server" in error.reason


def test_without_partners_configured_the_error_says_so():
    _commands, [error] = parse_commands("#teruskan lkpp", [], [])
    assert "[partners]" in error.reason


# -- row: staff reply with #teruskan NAME [text] ---------------------------------------------------------


def test_forward_sends_to_the_partner_addresses_from_the_helpdesk_with_the_report_files():
    decision = steer("#teruskan lkpp mohon dicek\nPelapor sudah reset sandi.", desk=PDESK)
    [send] = sends(decision, "partner")
    assert send.to == LKPP.emails
    assert send.reply_to == DESK.address and send.with_attachments
    assert dict(send.values) == {"partner": "Helpdesk LKPP", "text": "mohon dicek\n\nPelapor sudah reset sandi."}
    assert not set(send.to) & {*STAFF, REPORTER} and not send.cc


def test_forward_sets_waiting_on_opens_the_ticket_and_records_the_forward():
    decision = steer("#teruskan server", desk=PDESK)
    assert changes(decision)["waiting_on"] == "server"
    assert changes(decision)["status"] == Status.OPEN
    [forward] = [e for e in decision.effects if isinstance(e, ForwardTo)]
    assert forward.partner == "server" and forward.remind_at == NOW + timedelta(days=1)
    assert [e.detail for e in decision.effects if isinstance(e, Event) and e.type == "partner-forward"] == [
        "server"]


def test_forward_relays_nothing_to_the_reporter():
    decision = steer("#teruskan lkpp\nIni teks untuk LKPP saja.", desk=PDESK)
    assert not [e for e in decision.effects if isinstance(e, Send) and REPORTER in e.to]
    assert [s.kind for s in decision.effects if isinstance(s, Send)] == ["partner", "transcript"]


def test_a_note_beside_the_forward_stays_internal():
    decision = steer("#teruskan lkpp cek akun\n#catatan rahasia internal\nteks bawah", desk=PDESK)
    [send] = sends(decision, "partner")
    assert dict(send.values)["text"] == "cek akun"


def test_remind_at_counts_on_the_sla_calendar():
    office = Calendar(kind="office", tz=ZoneInfo("Asia/Jakarta"), hours=parse_office_hours("Mon-Fri 08:00-16:00"))
    desk = replace(PDESK, calendar=office, partner_remind_after=timedelta(days=1))
    decision = steer("#teruskan lkpp", desk=desk)  # Wednesday 10:00 WIB: Thursday 10:00 WIB
    [forward] = [e for e in decision.effects if isinstance(e, ForwardTo)]
    assert forward.remind_at == NOW + timedelta(days=1)


def test_pause_for_partners_stops_the_clock_at_the_forward():
    decision = steer("#teruskan lkpp", desk=replace(PDESK, pause_for_partners=True))
    assert changes(decision)["due_at"] is None
    assert "due_at" not in changes(steer("#teruskan lkpp", desk=PDESK))


def test_unknown_partner_changes_nothing_and_gets_the_error_reply():
    decision = steer("#teruskan bpjs cek", desk=PDESK)
    assert decision.label == "command-error"
    assert not sends(decision, "partner") and [s.kind for s in decision.effects if isinstance(s, Send)] == ["error"]
    assert "waiting_on" not in changes(decision)


# -- row: a partner's mail on a ticket forwarded to it -----------------------------------------------


def partner_mail(body: str = "Akun sudah kami buka.", sender: str = "helpdesk@lkpp.example.go.id"):
    """A partner's answer, passing DMARC at our server as a real one does (identity.role checks it)."""
    auth = f"mx.google.com; dmarc=pass header.from={sender.rpartition('@')[2]}"
    return mail(body, sender=f"LKPP <{sender}>", msgid="<lkpp-1@lkpp.example.go.id>", Authentication_Results=auth)


def test_partner_answer_is_recorded_and_goes_to_every_member_when_unassigned():
    decision = decide(arrival(partner_mail(), FORWARDED, Role.PARTNER), PDESK)
    assert decision.label == "partner"
    assert [e.kind for e in decision.effects if isinstance(e, Record)] == ["partner"]
    [note] = sends(decision, "notification")
    assert note.to == DESK.member_addresses and dict(note.values)["event"] == "partner"
    assert note.reply_to == DESK.address
    assert not [e for e in decision.effects if isinstance(e, Send) and REPORTER in e.to]
    assert [e.partner for e in decision.effects if isinstance(e, PartnerAnswered)] == ["lkpp"]
    assert changes(decision)["waiting_on"] is None
    assert any(isinstance(e, Event) and e.type == "partner-answer" and "sudah kami buka" in e.detail
               for e in decision.effects)


def test_partner_answer_goes_to_the_assignee_only():
    decision = decide(arrival(partner_mail(), replace(FORWARDED, assignee=RINA.email), Role.PARTNER), PDESK)
    assert [s.to for s in sends(decision, "notification")] == [(RINA.email,)]


def test_partner_mail_carries_no_commands():
    decision = decide(arrival(partner_mail("#tutup\nsudah"), FORWARDED, Role.PARTNER), PDESK)
    assert "status" not in changes(decision) and not sends(decision, "closing")


def test_another_partner_still_open_keeps_the_ticket_waiting_on_it():
    both = replace(FORWARDED, forwards=(Forward("server", NOW - timedelta(hours=4)),
                                        Forward("lkpp", NOW - timedelta(hours=3))))
    decision = decide(arrival(partner_mail(), both, Role.PARTNER), PDESK)
    assert changes(decision)["waiting_on"] == "server"


def test_with_pause_the_answer_adds_the_time_with_the_partner_and_sets_a_new_due_time():
    paused = replace(FORWARDED, due_at=None)
    decision = decide(arrival(partner_mail(), paused, Role.PARTNER), replace(PDESK, pause_for_partners=True))
    found = changes(decision)
    assert found["paused_seconds"] == 3 * 3600
    assert found["due_at"] == FORWARDED.created_at + timedelta(days=3, hours=3)


def test_a_second_answer_changes_no_forward():
    answered = replace(FORWARDED, waiting_on=None, forwards=(Forward("lkpp", NOW - timedelta(hours=3), NOW),))
    decision = decide(arrival(partner_mail(), answered, Role.PARTNER), PDESK)
    assert not [e for e in decision.effects if isinstance(e, PartnerAnswered)]
    assert [e.kind for e in decision.effects if isinstance(e, Record)] == ["partner"]


# -- identity: who is a partner ------------------------------------------------------------------


def test_a_partner_address_is_a_partner_only_on_a_ticket_forwarded_to_it():
    m = partner_mail()
    addresses = partners.with_partners(PDESK, FORWARDED)
    assert set(addresses) == set(LKPP.emails)
    assert identity.role(m, STAFF, (), True, "mx.google.com", REPORTER, (), addresses) is Role.PARTNER
    other = partners.with_partners(PDESK, replace(FORWARDED, forwards=(Forward("server", NOW),)))
    assert identity.role(m, STAFF, (), True, "mx.google.com", REPORTER, (), other) is Role.STRANGER
    assert partners.with_partners(PDESK, None) == ()
    assert not Role.PARTNER.steers


def test_a_staff_address_listed_as_partner_stays_staff():
    arrival_mail = mail("x", sender=f"Rina <{RINA.email}>")
    assert identity.role(arrival_mail, STAFF, (), False, "mx.google.com", REPORTER, (), (RINA.email,)) is Role.STAFF


# -- reminder rule and time with partners --------------------------------------------------------------


def test_one_reminder_per_unanswered_forward_on_an_open_ticket():
    due = NOW - timedelta(minutes=1)
    assert partners.needs_reminder(due, None, None, Status.OPEN, NOW)
    assert not partners.needs_reminder(NOW + timedelta(minutes=1), None, None, Status.OPEN, NOW)
    assert not partners.needs_reminder(due, NOW, None, Status.OPEN, NOW)  # answered
    assert not partners.needs_reminder(due, None, NOW, Status.OPEN, NOW)  # reminded already
    assert not partners.needs_reminder(due, None, None, Status.CLOSED, NOW)


def test_figures_per_partner_count_time_with_them_and_the_median_answer():
    forwards = (ForwardRow("lkpp", 1, NOW - timedelta(hours=5), NOW - timedelta(hours=2)),
                ForwardRow("lkpp", 2, NOW - timedelta(hours=1)),
                ForwardRow("lkpp", 1, NOW - timedelta(hours=3), NOW - timedelta(hours=2)),
                ForwardRow("server", 3, NOW - timedelta(hours=2), NOW))
    lkpp, server = partners.figures(forwards, NOW, (LKPP, SERVER))
    assert (lkpp.name, lkpp.label, lkpp.forwards, lkpp.tickets, lkpp.answered, lkpp.waiting) == (
        "lkpp", "Helpdesk LKPP", 3, 2, 2, 1)
    assert lkpp.time_with == timedelta(hours=5) and lkpp.median_answer == timedelta(hours=2)
    assert (server.label, server.time_with, server.median_answer) == ("server", timedelta(hours=2),
                                                                      timedelta(hours=2))
    assert partners.figures((), NOW) == ()


# -- config ----------------------------------------------------------------------------------------


def load(text: str):
    import tomllib
    return build(tomllib.loads(text), "mailticket.toml", Path("/tmp"))


def test_config_reads_partners_with_one_or_more_addresses():
    settings = load('[partners]\nmembers = [{ name = "LKPP", label = "Helpdesk LKPP", email = "A@lkpp.go.id" },'
                    ' { name = "server", email = ["a@x.go.id", "b@x.go.id"], note = "server" }]\n'
                    'remind_after = "2d"\n[sla]\npause_for_partners = true\n')
    lkpp, server = settings.partners.members
    assert (lkpp.name, lkpp.label, lkpp.emails) == ("lkpp", "Helpdesk LKPP", ("a@lkpp.go.id",))
    assert server.emails == ("a@x.go.id", "b@x.go.id") and server.title == "server"
    assert settings.partners.remind_after == timedelta(days=2) and settings.sla.pause_for_partners


def test_config_defaults():
    settings = load("")
    assert settings.partners.members == () and settings.partners.remind_after == timedelta(days=1)
    assert settings.sla.pause_for_partners is False


@pytest.mark.parametrize(("text", "where"), [
    ('[partners]\nmembers = [{ name = "lkpp" }]', "partners.members[0].email"),
    ('[partners]\nmembers = [{ name = "lkpp", email = [] }]', "partners.members[0].email"),
    ('[partners]\nmembers = [{ email = "a@b.id" }]', "partners.members[0].name"),
    ('[partners]\nmembers = [{ name = "a b", email = "a@b.id" }]', "partners.members[0].name"),
    ('[partners]\nmembers = [{ name = "x", email = "a@b.id" }, { name = "X", email = "c@d.id" }]',
     "partners.members[1].name"),
    ('[partners]\nmembers = [{ name = "x", email = "a@b.id", phone = "1" }]', "partners.members[0].phone"),
    ('[partners]\nremind_after = "soon"', "partners.remind_after"),
    ('[partners]\nremind_after = "0d"', "partners.remind_after"),
    ('[sla]\npause_for_partners = "yes"', "sla.pause_for_partners"),
])
def test_config_errors_name_file_and_key(text, where):
    with pytest.raises(ConfigError) as caught:
        load(text)
    assert where in str(caught.value)
