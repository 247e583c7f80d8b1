"""decide / staff.apply_reply: who gets which mail, as effects, without a database.

One test per row of the tables in core/decide.py and core/staff.py: every command tag, every sender
role on an existing ticket, every ticket status, new reports and mail that is no report. Mail is
parsed from real bytes (`core.parse`); the desk, the ticket and the clock are fixed values.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailticket.core import identity, staff
from mailticket.core.decide import decide, needs_classification, reply_address
from mailticket.core.effects import (
    Arrival,
    Change,
    Decision,
    Desk,
    Event,
    Keep,
    OpenTicket,
    Person,
    Record,
    Role,
    Send,
    TicketSnapshot,
)
from mailticket.core.parse import parse
from mailticket.core.sla import Calendar
from mailticket.types import Category, Classification, Kind, Mail, Status, Verdict
from tests.conftest import make_mail

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
CREATED = NOW - timedelta(hours=2)
HELPDESK = "provlampunglpse@gmail.com"
REPORTER = "budi@example.co.id"
CC = "ani@example.co.id"
STRANGER = "joko@example.net"
LAST = "<report@budi.id>"  # the reporter's last message on the ticket
RINA = Person("rina", "rina@lampungprov.go.id")
SARI = Person("sari", "sari@lampungprov.go.id")
KOORD = Person("koordinator", "koord@lampungprov.go.id")
STAFF = (RINA.email, SARI.email)
# What our receiving server writes for mail that passed DMARC: staff commands need it.
PASS = ("mx.google.com; dkim=pass header.i=@lampungprov.go.id header.s=zimbra; spf=pass "
        "smtp.mailfrom=x@lampungprov.go.id; dmarc=pass (p=NONE) header.from=lampungprov.go.id")
FAIL = "mx.google.com; dkim=fail; spf=fail; dmarc=fail header.from=lampungprov.go.id"
TARGETS = {Category.GANGGUAN: timedelta(days=3), Category.PERMASALAHAN: timedelta(days=1),
           Category.PERMINTAAN: timedelta(hours=1)}

DESK = Desk(
    prefix="LPSE", address=HELPDESK, own_addresses=frozenset({HELPDESK}), members=(RINA, SARI),
    coordinators=(KOORD,), disclose_address=False, reopen_window=timedelta(days=7), max_acks_per_hour=5,
    max_message_size=10 * 1024 * 1024, calendar=Calendar(), targets=TARGETS,
    default_category=Category.GANGGUAN,
)
TICKET = TicketSnapshot(
    number=1, subject="Tidak bisa login", reporter=REPORTER, reporter_name="Budi", cc=(CC,),
    status=Status.NEW, category=Category.GANGGUAN, category_source="rules", needs_review=False,
    assignee=None, created_at=CREATED, due_at=CREATED + timedelta(days=3), closed_at=None, escalated=False,
    waiting_since=None, paused_seconds=0, first_response_at=None, last_in_message_id=LAST,
)
ANSWERED = CREATED + timedelta(minutes=30)  # first response of every ticket past "new"
# the fields each status implies besides the status itself
IMPLIED = {
    Status.NEW: {},
    Status.OPEN: {"first_response_at": ANSWERED},
    Status.WAITING: {"first_response_at": ANSWERED, "waiting_since": NOW - timedelta(hours=1)},
    Status.ESCALATED: {"first_response_at": ANSWERED, "escalated": True},
    Status.CLOSED: {"first_response_at": ANSWERED, "closed_at": NOW - timedelta(days=1)},
}


def ticket(status: Status = Status.NEW, **fields) -> TicketSnapshot:
    """TICKET in `status`, with the fields that status implies, then `fields`."""
    return replace(TICKET, status=status, **{**IMPLIED[status], **fields})


# -- mail ------------------------------------------------------------------------------------------


def mail(body: str = "Sudah saya coba, masih gagal.", sender: str = f"Budi <{REPORTER}>",
         subject: str = "Re: [LPSE#1] Tidak bisa login", msgid: str = "<follow@budi.id>", **headers: str) -> Mail:
    """A parsed mail from a reporter's client; `headers` by name, e.g. Reply_To="..."."""
    extra = {name.replace("_", "-"): value for name, value in headers.items()}
    return parse(make_mail(subject, body, sender=sender, msgid=msgid, headers=extra))


def staff_mail(text: str, sender: Person = RINA, html: str = "", auth: str | None = PASS) -> Mail:
    """A staff member's reply from their own mail client; `auth`: the Authentication-Results (None: none)."""
    msg = EmailMessage()
    if auth:
        msg["Authentication-Results"] = auth
    msg["From"] = f"{sender.name.title()} <{sender.email}>"
    msg["To"] = HELPDESK
    msg["Subject"] = "Re: [LPSE#1] Tidak bisa login"
    msg["Message-ID"] = "<reply-1@lampungprov.go.id>"
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0700"
    if html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(text)
    return parse(msg.as_bytes())


def arrival(m: Mail, snap: TicketSnapshot | None = TICKET, role: Role = Role.REPORTER,
            kind: Kind = Kind.REPORT, **fields) -> Arrival:
    fields.setdefault("token_number", 1)
    return Arrival(m, Verdict(kind, f"judged {kind.value}"), NOW, snap, "token" if snap else "", role=role,
                   **fields)


def steer(text: str, snap: TicketSnapshot = TICKET, sender: Person = RINA, role: Role = Role.STAFF,
          desk: Desk = DESK, html: str = "") -> Decision:
    """The decision on a staff (or coordinator) reply, its commands read as the pipeline reads them."""
    m = staff_mail(text, sender, html)
    return decide(arrival(m, snap, role), desk, staff.read_reply(m, desk))


RULES = Classification(Category.GANGGUAN, "rules", ("login",))


def report(m: Mail | None = None, desk: Desk = DESK, **fields) -> Decision:
    """The decision on a mail that names no ticket."""
    fields.setdefault("token_number", None)
    fields.setdefault("classification", RULES)
    fields.setdefault("topics", ("login",))
    m = m or mail("Saya gk bisa login ke SPSE.", subject="Tidak bisa login", msgid="<report@budi.id>")
    return decide(arrival(m, None, Role.STRANGER, **fields), desk)


# -- reading decisions -----------------------------------------------------------------------------


def shape(decision: Decision) -> list[tuple]:
    """The effects in order, each as a short tuple: what a reader of the table checks."""
    rows: list[tuple] = []
    for e in decision.effects:
        if isinstance(e, OpenTicket):
            rows.append(("open",))
        elif isinstance(e, Record):
            rows.append(("record", e.kind))
        elif isinstance(e, Keep):
            rows.append(("keep", e.kind))
        elif isinstance(e, Change):
            rows.append(("change", dict(e.fields)))
        elif isinstance(e, Event):
            rows.append(("event", e.type, e.detail))
        elif isinstance(e, Send):
            rows.append(("send", e.kind, e.to, e.cc))
    return rows


def sends(decision: Decision, kind: str | None = None) -> list[Send]:
    return [e for e in decision.effects if isinstance(e, Send) and kind in (None, e.kind)]


def events(decision: Decision) -> list[Event]:
    return [e for e in decision.effects if isinstance(e, Event)]


def changes(decision: Decision) -> dict:
    """Every field the decision sets, the last value winning (as on the row)."""
    return {name: value for e in decision.effects if isinstance(e, Change) for name, value in e.fields}


def record(decision: Decision) -> Record:
    [found] = [e for e in decision.effects if isinstance(e, Record)]
    return found


def relay(body: str) -> list[tuple]:
    return [("send", "relay", (REPORTER,), (CC,)), ("event", "relay", body)]


NEW_TO_OPEN = [("change", {"status": Status.OPEN}), ("event", "status", "new -> open")]
FIRST_RESPONSE = [("change", {"first_response_at": NOW})]
TO_ALL_STAFF = ("send", "notification", STAFF, ())


# == staff replies: one command tag at a time ==========================================================


def test_staff_text_without_tag_opens_and_is_relayed_to_reporter_and_cc():
    decision = steer("Silakan coba reset password melalui menu Lupa Password.\n")
    body = "Silakan coba reset password melalui menu Lupa Password."
    assert decision.label == "staff_reply:relay"
    assert shape(decision) == [("record", "staff_reply"), *NEW_TO_OPEN, *FIRST_RESPONSE, *relay(body)]
    [send] = sends(decision)
    assert (send.in_reply_to, send.references, send.reply_to) == (LAST, (LAST,), "")
    assert dict(send.values) == {"body": body, "staff_name": "rina"}  # the name, never the address
    assert send.ticket.status is Status.OPEN
    assert all(e.by == RINA.email for e in events(decision))


def test_relay_drops_quotes_and_signature_of_the_staff_reply():
    text = ("Silakan coba reset password melalui menu Lupa Password.\n\nSalam,\nRina\n\n"
            "Pada Rab, 25 Nov 2026 pukul 09.00 Budi <budi@example.co.id> menulis:\n> saya gk bisa login\n")
    [send] = sends(steer(text), "relay")
    body = dict(send.values)["body"]
    assert "Lupa Password" in body and "menulis:" not in body and "> saya" not in body


def test_relay_names_the_staff_address_only_when_the_desk_discloses_it():
    [send] = sends(steer("Sudah kami cek.", desk=replace(DESK, disclose_address=True)))
    assert dict(send.values)["staff_name"] == f"rina <{RINA.email}>"


def test_relay_to_a_no_reply_reporter_is_skipped_with_an_event():
    decision = steer("Sudah kami cek.", snap=ticket(reporter="no-reply@example.co.id"))
    assert sends(decision) == []
    assert shape(decision)[-2:] == [("event", "relay-skipped", "the ticket has no reporter address we may answer"),
                                    ("event", "relay", "Sudah kami cek.")]


def test_tags_in_quotes_or_prose_are_not_commands():
    decision = steer("Nanti saya #tutup setelah dicek.\n\n> #tutup\n> lama\n")
    assert decision.label == "staff_reply:relay"
    assert changes(decision)["status"] is Status.OPEN
    assert shape(decision)[-2:] == relay("Nanti saya #tutup setelah dicek.")


def test_close_closes_and_mails_the_text_as_closing_notification():
    decision = steer("#tutup\nAkun Bapak sudah kami aktifkan kembali.")
    assert decision.label == "staff_reply:close"
    assert shape(decision) == [
        ("record", "staff_reply"),
        ("change", {"status": Status.CLOSED}), ("event", "closed", "new -> closed"),
        ("change", {"closed_at": NOW, "waiting_since": None}),
        *FIRST_RESPONSE,
        ("send", "closing", (REPORTER,), (CC,)),
    ]
    [closing] = sends(decision)
    assert dict(closing.values) == {"body": "Akun Bapak sudah kami aktifkan kembali.", "staff_name": "rina"}
    assert (closing.in_reply_to, closing.references) == (LAST, (LAST,))
    assert closing.ticket.status is Status.CLOSED and closing.ticket.closed_at == NOW


@pytest.mark.parametrize("tag", ["#tutup", "#selesai", "#close", "  #TUTUP  "])
def test_close_aliases(tag):
    decision = steer(f"Sudah beres.\n{tag}\n")
    assert changes(decision)["status"] is Status.CLOSED
    [closing] = sends(decision)
    assert closing.kind == "closing" and dict(closing.values)["body"] == "Sudah beres."


@pytest.mark.parametrize("tag", ["#buka", "#reopen", "#buka kembali"])
def test_reopen_opens_a_closed_ticket(tag):
    decision = steer(tag, snap=ticket(Status.CLOSED))
    assert decision.label == "staff_reply:reopen"
    assert shape(decision) == [
        ("record", "staff_reply"),
        ("change", {"status": Status.OPEN}), ("event", "reopened", "closed -> open"),
        ("change", {"closed_at": None}),
    ]


def test_reopen_with_text_relays_it():
    decision = steer("#buka\nKami periksa lagi, mohon ditunggu.", snap=ticket(Status.CLOSED))
    assert shape(decision)[-2:] == relay("Kami periksa lagi, mohon ditunggu.")
    assert changes(decision) == {"status": Status.OPEN, "closed_at": None}  # answered before: no first response


@pytest.mark.parametrize("tag", ["#tunggu", "#wait", "#tunggu konfirmasi dari pelapor"])
def test_wait_pauses_the_clock_and_relays_the_question(tag):
    decision = steer(f"Mohon kirimkan tangkapan layar errornya.\n{tag}")
    assert decision.label == "staff_reply:wait"
    assert shape(decision) == [
        ("record", "staff_reply"),
        ("change", {"status": Status.WAITING}), ("event", "waiting", "new -> waiting"),
        ("change", {"waiting_since": NOW}),
        *FIRST_RESPONSE,
        *relay("Mohon kirimkan tangkapan layar errornya."),
    ]
    assert sends(decision)[0].ticket.status is Status.WAITING


@pytest.mark.parametrize("tag", ["#eskalasi", "#escalate"])
def test_escalate_marks_and_mails_the_coordinators(tag):
    decision = steer(f"{tag} perlu koordinasi dengan LKPP\n")
    assert decision.label == "staff_reply:escalate"
    assert shape(decision) == [
        ("record", "staff_reply"),
        ("change", {"escalated": True}),
        ("change", {"status": Status.ESCALATED}),
        ("event", "escalated", "new -> escalated: perlu koordinasi dengan LKPP"),
        ("send", "escalation", (KOORD.email,), ()),
    ]
    [mail_] = sends(decision)
    assert dict(mail_.values) == {"text": "perlu koordinasi dengan LKPP", "by": "rina"}
    assert mail_.history_events == 1  # the history shown ends with this escalation
    assert mail_.ticket.status is Status.ESCALATED and mail_.ticket.escalated


def test_escalate_without_coordinators_records_that_nobody_was_mailed():
    decision = steer("#eskalasi perlu koordinasi dengan LKPP", desk=replace(DESK, coordinators=()))
    assert sends(decision) == []
    assert shape(decision)[-2:] == [
        ("event", "escalated", "new -> escalated: perlu koordinasi dengan LKPP"),
        ("event", "escalation-skipped", "no coordinators configured"),
    ]
    assert changes(decision) == {"escalated": True, "status": Status.ESCALATED}


def test_escalate_with_text_and_no_reason_sends_the_text_to_coordinators_and_reporter():
    decision = steer("#eskalasi\nMasalah ada di server pusat, kami teruskan.")
    text = "Masalah ada di server pusat, kami teruskan."
    [escalation] = sends(decision, "escalation")
    assert dict(escalation.values)["text"] == text
    assert shape(decision)[-4:] == [("send", "escalation", (KOORD.email,), ()), *FIRST_RESPONSE, *relay(text)]


def test_category_sets_the_category_and_its_due_time():
    decision = steer("#kategori permintaan")
    assert decision.label == "staff_reply:category"
    assert shape(decision) == [
        ("record", "staff_reply"),
        ("change", {"category": Category.PERMINTAAN, "category_source": "staff", "needs_review": False}),
        ("change", {"due_at": CREATED + timedelta(hours=1)}),
        ("event", "category", "gangguan -> permintaan"),
    ]


def test_category_already_set_by_staff_changes_nothing():
    snap = ticket(category=Category.PERMINTAAN, category_source="staff")
    assert shape(steer("#category request", snap=snap)) == [("record", "staff_reply")]


@pytest.mark.parametrize("arg", ["sari", "Sari", SARI.email])
def test_assign_by_name_or_address_assigns_and_opens(arg):
    decision = steer(f"#tugaskan {arg}")
    assert decision.label == "staff_reply:assign"
    assert shape(decision) == [
        ("record", "staff_reply"),
        ("change", {"assignee": SARI.email}), ("event", "assigned", SARI.email),
        *NEW_TO_OPEN,
    ]


def test_assign_to_a_coordinator_by_name():
    assert changes(steer("#assign koordinator"))["assignee"] == KOORD.email


def test_assign_on_an_open_ticket_keeps_its_status():
    decision = steer("#tugaskan sari", snap=ticket(Status.OPEN))
    assert shape(decision) == [("record", "staff_reply"), ("change", {"assignee": SARI.email}),
                               ("event", "assigned", SARI.email)]


def test_assign_to_the_current_assignee_changes_nothing():
    assert shape(steer("#tugaskan sari", snap=ticket(Status.OPEN, assignee=SARI.email))) == [
        ("record", "staff_reply")]


@pytest.mark.parametrize("tag", ["#ambil", "#take", "#ambil alih"])
def test_take_assigns_the_sender(tag):
    decision = steer(tag, sender=SARI)
    assert decision.label == "staff_reply:take"
    assert shape(decision) == [
        ("record", "staff_reply"),
        ("change", {"assignee": SARI.email}), ("event", "assigned", SARI.email),
        *NEW_TO_OPEN,
    ]
    assert all(e.by == SARI.email for e in events(decision))


def test_category_and_assign_in_one_mail_relay_nothing():
    decision = steer("#kategori permintaan\n#tugaskan sari\n")
    assert decision.label == "staff_reply:category,assign"
    found = changes(decision)
    assert found["category"] is Category.PERMINTAAN and found["category_source"] == "staff"
    assert found["due_at"] != TICKET.due_at
    assert found["assignee"] == SARI.email and found["status"] is Status.OPEN
    assert sends(decision) == []  # nothing but tags: nothing to relay


@pytest.mark.parametrize("tag", ["#catatan", "#note"])
def test_note_is_internal_and_reaches_nobody(tag):
    decision = steer(f"{tag}\nSudah dicek di server, menunggu vendor aplikasi.")
    assert decision.label == "note:note"
    assert shape(decision) == [("record", "note"),
                               ("event", "note", "Sudah dicek di server, menunggu vendor aplikasi.")]
    assert record(decision).text == "Sudah dicek di server, menunggu vendor aplikasi."


def test_note_argument_is_the_note():
    decision = steer("#catatan cek log server\nTeks lain.")
    assert shape(decision) == [("record", "note"), ("event", "note", "cek log server")]


def test_coordinator_note_is_recorded_as_theirs():
    decision = steer("#catatan\nSaran: hubungi tim SPSE pusat.", sender=KOORD, role=Role.COORDINATOR)
    [note] = events(decision)
    assert (note.type, note.by, note.detail) == ("note", KOORD.email, "Saran: hubungi tim SPSE pusat.")
    assert record(decision).reason == "from coordinator"
    assert sends(decision) == []


def test_close_beside_a_note_closes_without_the_note_text():
    decision = steer("#catatan\n#tutup\nVendor sudah memperbaiki server.")
    assert decision.label == "note:note,close"
    assert shape(decision) == [
        ("record", "note"),
        ("event", "note", "Vendor sudah memperbaiki server."),
        ("change", {"status": Status.CLOSED}), ("event", "closed", "new -> closed"),
        ("change", {"closed_at": NOW, "waiting_since": None}),
        *FIRST_RESPONSE,
        ("send", "closing", (REPORTER,), (CC,)),
    ]
    assert dict(sends(decision)[0].values)["body"] == ""


def test_html_only_reply_with_a_tag_in_its_own_div_closes_without_the_quoted_tag():
    html = ('<div dir="ltr"><div>Sudah kami reset, silakan coba lagi.</div><div>#selesai</div></div>'
            '<div class="gmail_quote"><div>Pada Rab, Budi menulis:</div><blockquote>#tunggu</blockquote></div>')
    decision = steer("", html=html)
    assert decision.label == "staff_reply:close"
    [closing] = sends(decision)
    assert dict(closing.values)["body"] == "Sudah kami reset, silakan coba lagi."


# -- bad tag lines: nothing changes, only the sender hears ------------------------------------------


@pytest.mark.parametrize(("text", "lines"), [
    ("#tutupp\nSudah selesai ya.\n#kategori xyz\n", ("line 1: tag tidak dikenal: #tutupp", "line 3: kategori")),
    ("#tutup LPSE#12", ("line 1: #tutup tidak memakai keterangan",)),
    ("#tugaskan budi", ("line 1: staf tidak dikenal",)),
    ("#kategori", ("line 1: #kategori perlu nama kategori",)),
    ("#tutup\n#tunggu", ("line 2: bertentangan",)),
    ("#buka\n#close", ("line 2: bertentangan",)),
    ("#ambil\n#tugaskan sari", ("line 2: bertentangan",)),
    ("#kategori gangguan\n#kategori permintaan", ("line 2: bertentangan",)),
    ("#catatan rahasia\n#tutupp", ("line 2: tag tidak dikenal",)),
])
def test_a_bad_tag_line_changes_nothing_and_answers_only_the_sender(text, lines):
    decision = steer(text)
    assert decision.label == "command-error"
    [kept, error_event, error_mail] = decision.effects
    assert isinstance(kept, Record)
    assert (error_event.type, error_event.by) == ("command-error", RINA.email)
    assert error_event.detail.startswith(lines[0])
    for line in lines:
        assert line in error_event.detail
    assert (error_mail.kind, error_mail.to, error_mail.cc) == ("error", (RINA.email,), ())
    assert error_mail.in_reply_to == "<reply-1@lampungprov.go.id>"
    assert error_mail.ticket == TICKET
    assert [e.line for e in dict(error_mail.values)["errors"]] == [
        int(line.split(":")[0].removeprefix("line ")) for line in lines]


def test_error_mail_names_the_bad_lines_and_suggests_the_tag():
    [mail_] = sends(steer("#tutupp\nSudah selesai ya.\n#kategori xyz\n"))
    errors = dict(mail_.values)["errors"]
    assert [(e.line, e.text) for e in errors] == [(1, "#tutupp"), (3, "#kategori xyz")]
    assert "#tutup" in errors[0].reason and "xyz" in errors[1].reason


# -- status-changing tags on every status ---------------------------------------------------------


@pytest.mark.parametrize(("tag", "status", "after", "event"), [
    ("#tutup", Status.NEW, Status.CLOSED, "closed"),
    ("#tutup", Status.OPEN, Status.CLOSED, "closed"),
    ("#tutup", Status.WAITING, Status.CLOSED, "closed"),
    ("#tutup", Status.ESCALATED, Status.CLOSED, "closed"),
    ("#tutup", Status.CLOSED, None, None),
    ("#buka", Status.NEW, None, None),
    ("#buka", Status.OPEN, None, None),
    ("#buka", Status.WAITING, None, None),
    ("#buka", Status.ESCALATED, None, None),
    ("#buka", Status.CLOSED, Status.OPEN, "reopened"),
    ("#tunggu", Status.NEW, Status.WAITING, "waiting"),
    ("#tunggu", Status.OPEN, Status.WAITING, "waiting"),
    ("#tunggu", Status.WAITING, None, None),
    ("#tunggu", Status.ESCALATED, Status.WAITING, "waiting"),
    ("#tunggu", Status.CLOSED, None, None),
    ("#eskalasi", Status.NEW, Status.ESCALATED, "escalated"),
    ("#eskalasi", Status.OPEN, Status.ESCALATED, "escalated"),
    ("#eskalasi", Status.WAITING, Status.ESCALATED, "escalated"),
    ("#eskalasi", Status.ESCALATED, None, "escalated"),
    ("#eskalasi", Status.CLOSED, None, "escalated"),
])
def test_status_tags_apply_where_the_workflow_allows_and_are_no_ops_elsewhere(tag, status, after, event):
    decision = steer(tag, snap=ticket(status))
    found = changes(decision)
    assert found.get("status") == after
    types = [e.type for e in events(decision)]
    assert types == ([event] if event else [])
    if after is not None:
        assert events(decision)[0].detail == f"{status} -> {after}"
    if tag == "#tutup":
        assert [s.kind for s in sends(decision)] == (["closing"] if after else [])
        if after:
            assert found["closed_at"] == NOW and found["waiting_since"] is None
    if tag == "#eskalasi":  # the coordinators hear of it whatever the status
        assert [s.kind for s in sends(decision)] == ["escalation"]
        assert found["escalated"] is True
    elif after is None:
        assert shape(decision) == [("record", "staff_reply")]


@pytest.mark.parametrize("status", list(Status))
def test_staff_text_opens_only_a_new_ticket_and_is_relayed_on_every_status(status):
    decision = steer("Sudah kami cek.", snap=ticket(status))
    assert changes(decision).get("status") == (Status.OPEN if status is Status.NEW else None)
    assert shape(decision)[-2:] == relay("Sudah kami cek.")


# == follow-ups: everyone who does not steer =======================================================

FOLLOWERS = [
    (Role.REPORTER, f"Budi <{REPORTER}>"),
    (Role.CC, f"Ani <{CC}>"),
    (Role.UNVERIFIED, f"Rina <{RINA.email}>"),
    (Role.STRANGER, f"Joko <{STRANGER}>"),
]


def follow(role: Role, sender: str, snap: TicketSnapshot = TICKET, desk: Desk = DESK, **fields) -> Decision:
    m = mail("Sudah saya coba, masih gagal.", sender=sender)
    return decide(arrival(m, snap, role, **fields), desk)


def moves_last_in(role: Role) -> list[tuple]:
    """Only the reporter's own mail becomes the one our relays answer."""
    return [("change", {"last_in_message_id": "<follow@budi.id>"})] if role is Role.REPORTER else []


@pytest.mark.parametrize(("role", "sender"), FOLLOWERS)
@pytest.mark.parametrize("status", [Status.NEW, Status.OPEN, Status.ESCALATED])
def test_follow_up_is_recorded_and_sent_to_every_staff_member(role, sender, status):
    decision = follow(role, sender, ticket(status))
    assert decision.label == "reply"
    assert shape(decision) == [("record", "reply"), ("event", "reply", "matched by token"),
                               *moves_last_in(role), TO_ALL_STAFF]
    who = sender.split("<")[1].rstrip(">")
    assert events(decision)[0].by == who
    assert (record(decision).text, record(decision).reason) == ("Sudah saya coba, masih gagal.", "matched by token")
    [note] = sends(decision)
    assert note.reply_to == HELPDESK and note.references == ("<follow@budi.id>",)
    assert dict(note.values) == {"body": "Sudah saya coba, masih gagal.", "attachments": (), "needs_review": False}


@pytest.mark.parametrize(("role", "sender"), FOLLOWERS)
def test_follow_up_goes_to_the_assignee_only(role, sender):
    decision = follow(role, sender, ticket(Status.OPEN, assignee=RINA.email))
    assert shape(decision)[-1] == ("send", "notification", (RINA.email,), ())


@pytest.mark.parametrize(("role", "sender"), FOLLOWERS)
def test_follow_up_resumes_a_waiting_ticket_and_its_clock(role, sender):
    snap = ticket(Status.WAITING)
    decision = follow(role, sender, snap)
    paused = timedelta(hours=1)  # waiting since an hour, on a 24x7 calendar
    assert shape(decision) == [
        ("record", "reply"), ("event", "reply", "matched by token"),
        ("change", {"paused_seconds": 3600, "waiting_since": None}),
        ("change", {"due_at": CREATED + timedelta(days=3) + paused}),
        ("change", {"status": Status.OPEN, "closed_at": None}), ("event", "status", "waiting -> open"),
        *moves_last_in(role), TO_ALL_STAFF,
    ]
    assert changes(decision)["due_at"] >= snap.due_at
    assert sends(decision)[0].ticket.status is Status.OPEN


@pytest.mark.parametrize(("role", "sender"), FOLLOWERS)
def test_follow_up_reopens_a_recently_closed_ticket(role, sender):
    decision = follow(role, sender, ticket(Status.CLOSED))
    assert shape(decision) == [
        ("record", "reply"), ("event", "reply", "matched by token"),
        ("change", {"status": Status.OPEN, "closed_at": None}), ("event", "reopened", "closed -> open"),
        *moves_last_in(role), TO_ALL_STAFF,
    ]


@pytest.mark.parametrize(("role", "sender"), FOLLOWERS)
def test_follow_up_to_a_ticket_closed_too_long_ago_opens_a_new_ticket(role, sender):
    old = ticket(Status.CLOSED, closed_at=NOW - timedelta(days=8))
    decision = follow(role, sender, old, classification=RULES)
    assert decision.label == "new-ticket"
    rows = shape(decision)
    assert rows[0] == ("open",)  # every later change is the new ticket's: the old one stays closed
    assert rows[1] == ("event", "created", "reply to LPSE#1, closed too long ago to reopen")
    [opened] = [e for e in decision.effects if isinstance(e, OpenTicket)]
    assert opened.ticket.number == 0 and opened.ticket.status is Status.NEW


def test_reopen_window_is_the_desks():
    closed = ticket(Status.CLOSED, closed_at=NOW - timedelta(seconds=1))
    decision = follow(Role.REPORTER, f"Budi <{REPORTER}>", closed, desk=replace(DESK, reopen_window=timedelta(0)),
                      classification=RULES)
    assert decision.label == "new-ticket"


def test_follow_up_to_a_ticket_closed_too_long_ago_must_be_classified_first():
    old = ticket(Status.CLOSED, closed_at=NOW - timedelta(days=8))
    with pytest.raises(ValueError, match="classified"):
        follow(Role.REPORTER, f"Budi <{REPORTER}>", old)


@pytest.mark.parametrize(("snap", "kind", "duplicate", "wanted"), [
    (None, Kind.REPORT, None, True),
    (ticket(Status.CLOSED), Kind.REPORT, None, True),  # may be closed too long ago: a new ticket
    (ticket(Status.NEW), Kind.REPORT, None, False),
    (ticket(Status.OPEN), Kind.REPORT, None, False),
    (ticket(Status.WAITING), Kind.REPORT, None, False),
    (ticket(Status.ESCALATED), Kind.REPORT, None, False),
    (None, Kind.REPORT, 7, False),
    (None, Kind.AUTO_REPLY, None, False),
    (None, Kind.SPAM, None, False),
])
def test_needs_classification_only_for_mail_that_may_open_a_ticket(snap, kind, duplicate, wanted):
    assert needs_classification(arrival(mail(), snap, kind=kind, duplicate_of=duplicate)) is wanted


def test_follow_up_without_staff_members_mails_nobody():
    decision = follow(Role.REPORTER, f"Budi <{REPORTER}>", desk=replace(DESK, members=()))
    assert sends(decision) == []


def test_staff_reply_without_parsed_commands_is_a_follow_up():
    """The shell reads commands only for a steering role; without them decide never steers."""
    decision = decide(arrival(staff_mail("#tutup"), TICKET, Role.STAFF), DESK)
    assert decision.label == "reply"


# -- identity: a staff address whose mail fails authentication is a stranger ----------------------


@pytest.mark.parametrize("auth", [None, FAIL, PASS.replace("mx.google.com", "evil.example")])
def test_unverified_staff_mail_is_decided_exactly_like_a_strangers_follow_up(auth):
    m = staff_mail("#tutup\nditutup", auth=auth)
    found = identity.role(m, STAFF, (KOORD.email,), True, "mx.google.com", TICKET.reporter, TICKET.cc)
    assert found is Role.UNVERIFIED and not found.steers
    decision = decide(arrival(m, TICKET, found), DESK)  # the shell reads no commands for it
    stranger = decide(arrival(m, TICKET, Role.STRANGER), DESK)
    assert decision == stranger
    assert decision.label == "reply" and "status" not in changes(decision)
    assert [s.kind for s in sends(decision)] == ["notification"]


def test_authenticated_staff_mail_steers():
    m = staff_mail("#tutup\nditutup")
    found = identity.role(m, STAFF, (KOORD.email,), True, "mx.google.com", TICKET.reporter, TICKET.cc)
    assert found is Role.STAFF
    assert decide(arrival(m, TICKET, found), DESK, staff.read_reply(m, DESK)).label == "staff_reply:close"


@pytest.mark.parametrize(("sender", "auth", "wanted"), [
    (f"Budi <{REPORTER}>", None, Role.REPORTER),
    (f"Ani <{CC}>", None, Role.CC),
    (f"Joko <{STRANGER}>", PASS, Role.STRANGER),
    (f"Koord <{KOORD.email}>", PASS, Role.COORDINATOR),
    (f"Koord <{KOORD.email}>", None, Role.UNVERIFIED),
])
def test_identity_role_of_each_sender(sender, auth, wanted):
    m = mail(sender=sender, **({"Authentication_Results": auth} if auth else {}))
    assert identity.role(m, STAFF, (KOORD.email,), True, "mx.google.com", TICKET.reporter, TICKET.cc) is wanted


# == a new report ===================================================================================


def test_new_report_opens_acknowledges_and_tells_every_staff_member():
    decision = report()
    assert decision.label == "new-ticket"
    assert shape(decision) == [
        ("open",),
        ("event", "created", ""),
        ("event", "classified", "gangguan: login"),
        ("record", "report"),
        ("send", "ack", (REPORTER,), ()),
        ("send", "notification", STAFF, ()),
    ]
    [opened] = [e for e in decision.effects if isinstance(e, OpenTicket)]
    assert opened.ticket == replace(TICKET, number=0, cc=(), created_at=NOW, due_at=NOW + timedelta(days=3),
                                    last_in_message_id="<report@budi.id>")
    created, classified = events(decision)
    assert (created.by, classified.by) == (REPORTER, "rules")
    ack, note = sends(decision)
    assert dict(ack.values) == {"topics": ("login",), "size_limit": 0}
    assert (ack.in_reply_to, ack.references, ack.reply_to) == ("<report@budi.id>", ("<report@budi.id>",), "")
    assert note.reply_to == HELPDESK and note.references == ("<report@budi.id>",)
    assert dict(note.values)["body"] == "Saya gk bisa login ke SPSE." and not dict(note.values)["needs_review"]


def test_new_report_keeps_answerable_cc_only():
    m = mail("Mohon bantuan.", subject="Tidak bisa login", msgid="<report@budi.id>",
             Cc=f"Ani <{CC}>, noreply@example.co.id, {HELPDESK}, {REPORTER}, Joko <{STRANGER}>")
    [opened] = [e for e in report(m).effects if isinstance(e, OpenTicket)]
    assert opened.ticket.cc == (CC, STRANGER)


def test_default_category_asks_staff_to_review():
    decision = report(classification=Classification(Category.GANGGUAN, "default", ()))
    assert ("event", "classified", "gangguan: no rule matched: default category") in shape(decision)
    assert dict(sends(decision, "notification")[0].values)["needs_review"] is True


def test_ack_goes_to_reply_to_first():
    m = mail("Mohon bantuan.", subject="Tidak bisa login", Reply_To="Budi Kantor <budi.kantor@example.co.id>")
    assert sends(report(m), "ack")[0].to == ("budi.kantor@example.co.id",)


@pytest.mark.parametrize(("sender", "reply_to", "wanted"), [
    (f"Budi <{REPORTER}>", "", REPORTER),
    (f"Budi <{REPORTER}>", "kantor@example.co.id", "kantor@example.co.id"),
    (f"Budi <{REPORTER}>", "noreply@example.co.id", REPORTER),
    (f"Budi <{REPORTER}>", HELPDESK, REPORTER),
    ("noreply@example.co.id", "", ""),
    ("Mailer <mailer-daemon@example.co.id>", "", ""),
    (HELPDESK, "", ""),
    (HELPDESK, "kantor@example.co.id", "kantor@example.co.id"),
])
def test_reply_address(sender, reply_to, wanted):
    m = mail(sender=sender, **({"Reply_To": reply_to} if reply_to else {}))
    assert reply_address(arrival(m, None), DESK) == wanted


@pytest.mark.parametrize("sender", ["Sistem <no-reply@example.co.id>", HELPDESK])
def test_no_ack_to_a_sender_we_may_not_answer(sender):
    decision = report(mail("Mohon bantuan.", sender=sender, subject="Tidak bisa login"))
    assert [s.kind for s in sends(decision)] == ["notification"]
    skipped = events(decision)[-1]
    assert (skipped.type, skipped.by, skipped.detail) == ("ack-skipped", "system",
                                                          "the sender has no address we may answer")


@pytest.mark.parametrize(("opened", "acked"), [(0, True), (4, True), (5, False), (20, False)])
def test_no_ack_beyond_max_acks_per_hour(opened, acked):
    decision = report(opened_last_hour=opened)
    assert [s.kind for s in sends(decision)] == (["ack", "notification"] if acked else ["notification"])
    if not acked:
        assert shape(decision)[-2] == ("event", "ack-skipped", "more than 5 new tickets from this sender within an hour")


def test_token_naming_no_ticket_opens_a_new_one_and_says_so():
    decision = report(mail("Mohon bantuan.", subject="Re: [LPSE#9] Tidak bisa login"), token_number=9)
    assert shape(decision)[1] == ("event", "created", "token [LPSE#9] names no ticket; opened a new one")
    [opened] = [e for e in decision.effects if isinstance(e, OpenTicket)]
    assert opened.ticket.subject == "Tidak bisa login"


def test_oversize_report_ack_names_the_size_limit():
    ack = sends(report(oversize=True), "ack")[0]
    assert dict(ack.values)["size_limit"] == DESK.max_message_size


def test_new_report_without_staff_members_is_only_acknowledged():
    assert [s.kind for s in sends(report(desk=replace(DESK, members=())))] == ["ack"]


# == mail that is no report ========================================================================


@pytest.mark.parametrize("kind", [Kind.AUTO_REPLY, Kind.BOUNCE])
def test_auto_reply_or_bounce_in_a_tickets_thread_is_recorded_on_it(kind):
    decision = decide(arrival(mail("Saya sedang cuti."), TICKET, kind=kind), DESK)
    assert decision.label == f"{kind.value}-recorded"
    assert decision.effects == (Record(kind.value, "Saya sedang cuti.", f"judged {kind.value}"),)
    assert not decision.kept


@pytest.mark.parametrize("kind", [Kind.AUTO_REPLY, Kind.BOUNCE, Kind.BULK, Kind.SPAM, Kind.OWN])
def test_not_a_report_without_a_ticket_is_kept(kind):
    decision = decide(arrival(mail(), None, kind=kind), DESK)
    assert decision.label == kind.value
    assert decision.effects == (Keep(kind.value, f"judged {kind.value}"),)
    assert decision.kept


@pytest.mark.parametrize("kind", [Kind.BULK, Kind.SPAM, Kind.OWN])
def test_bulk_spam_or_own_mail_in_a_tickets_thread_is_kept_off_the_ticket(kind):
    decision = decide(arrival(mail(), TICKET, kind=kind), DESK)
    assert decision.effects == (Keep(kind.value, f"judged {kind.value}"),)


@pytest.mark.parametrize(("snap", "role"), [(None, Role.STRANGER), (TICKET, Role.REPORTER), (TICKET, Role.STAFF)])
def test_second_copy_of_a_processed_mail_is_kept_as_duplicate(snap, role):
    m = staff_mail("#tutup")
    decision = decide(arrival(m, snap, role, duplicate_of=7, classification=RULES), DESK,
                      staff.read_reply(m, DESK))
    assert decision.label == "duplicate"
    assert decision.effects == (Keep("duplicate", "another copy of raw message 7"),)
