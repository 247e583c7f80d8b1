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


def feedback(e) -> bool:
    """Mail back to staff about a staff mail (issue 14): the transcript to the sender, the copy of an
    answer to the other staff on the ticket, the notice to a new assignee. `shape` and `sends` leave
    them out, so that each row of the table reads as the ticket and the reporter see it; the tests
    under "feedback to staff" check them row by row."""
    return isinstance(e, Send) and (e.kind in ("transcript", "assigned")
                                    or dict(e.values).get("event") in ("colleague", "closed"))


def shape(decision: Decision) -> list[tuple]:
    """The effects in order, each as a short tuple: what a reader of the table checks (no `feedback`)."""
    rows: list[tuple] = []
    for e in decision.effects:
        if feedback(e):
            continue
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
    """The decision's mail of `kind` (all but `feedback` when None)."""
    return [e for e in decision.effects if isinstance(e, Send)
            and (e.kind == kind if kind else not feedback(e))]


def staff_feedback(decision: Decision) -> list[tuple]:
    """The `feedback` mail of a decision: (kind or notification event, recipients)."""
    return [(dict(e.values).get("event") or e.kind, e.to) for e in decision.effects if feedback(e)]


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


def test_escalate_with_text_and_no_reason_sends_the_text_to_the_coordinators_only():
    """Issue 14 point 5: text beside #eskalasi is internal (it was relayed to the reporter before)."""
    decision = steer("#eskalasi\nMasalah ada di server pusat, kami teruskan.")
    text = "Masalah ada di server pusat, kami teruskan."
    [escalation] = sends(decision, "escalation")
    assert dict(escalation.values)["text"] == text
    assert sends(decision, "relay") == [] and REPORTER not in {a for s in sends(decision) for a in s.to}


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

FOLLOWERS = [  # a stranger changes nothing (issue 15): tests/unit/test_trust.py
    (Role.REPORTER, f"Budi <{REPORTER}>"),
    (Role.CC, f"Ani <{CC}>"),
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
    name, _, address = sender.partition(" <")
    event = "reply" if role is Role.REPORTER else "other"  # what happened, in the subject and first line
    assert dict(note.values) == {"body": "Sudah saya coba, masih gagal.", "attachments": (), "needs_review": False,
                                 "event": event, "author": name, "author_email": address.rstrip(">"),
                                 "role": role.value, "opens": False, "size_limit": 0, "checklist": None}
    assert note.recent_messages == 3  # the ticket's last messages before this one, for context


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
def test_unverified_staff_mail_changes_nothing_and_tells_only_that_address(auth):
    """Issue 14 point 4 (before: decided like a stranger's follow-up, which woke and announced it)."""
    m = staff_mail("#tutup\nditutup", auth=auth)
    found = identity.role(m, STAFF, (KOORD.email,), True, "mx.google.com", TICKET.reporter, TICKET.cc)
    assert found is Role.UNVERIFIED and not found.steers
    why = identity.why_unauthenticated(m, "mx.google.com")
    for status in (Status.NEW, Status.WAITING, Status.CLOSED):
        decision = decide(arrival(m, ticket(status), found, unverified_why=why), DESK)
        assert decision.label == "unverified" and changes(decision) == {}
        assert shape(decision) == [("record", "unverified"), ("event", "unverified", why),
                                   ("send", "unverified", (RINA.email,), ())]
        assert dict(sends(decision)[0].values)["why"] == why


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
    assert dict(ack.values) == {"topics": ("login",), "size_limit": 0, "checklist": None}
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


@pytest.mark.parametrize(("acks", "acked"), [(0, True), (4, True), (5, False), (19, False)])
def test_no_ack_beyond_max_acks_per_hour(acks, acked):
    """Counted by the address the ack goes to (issue 15: backscatter), not by the sender's tickets."""
    decision = report(acks_to_last_hour=acks)
    assert [s.kind for s in sends(decision)] == (["ack", "notification"] if acked else ["notification"])
    if not acked:
        assert shape(decision)[-2] == ("event", "ack-skipped",
                                       f"{REPORTER} already got 5 acknowledgements within an hour")


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


# == issue 14: unverified staff mail, internal text, forwards, #daftar, #gabung, #bantuan ===========

from mailticket.core.effects import Answer, MergeInto  # noqa: E402


def answers(decision: Decision, kind: str | None = None) -> list[Answer]:
    return [e for e in decision.effects if isinstance(e, Answer) and kind in (None, e.kind)]


def new_staff_mail(text: str, subject: str = "Permintaan", auth: str | None = PASS, role: Role = Role.STAFF,
                   **fields) -> Decision:
    """A staff member's new mail (no token), its commands read as the pipeline reads them."""
    m = replace(staff_mail(text, auth=auth), subject=subject)
    fields.setdefault("classification", RULES)
    return decide(arrival(m, None, role, token_number=None, **fields), DESK, staff.read_reply(m, DESK))


def test_unverified_staff_mail_explained_within_the_hour_is_only_recorded():
    m = staff_mail("#tutup", auth=None)
    decision = decide(arrival(m, ticket(Status.WAITING), Role.UNVERIFIED, unverified_why="x",
                              explained_last_hour=True), DESK)
    assert shape(decision) == [("record", "unverified"), ("event", "unverified", "x")]


def test_unverified_new_staff_mail_is_kept_and_explained_to_that_address_only():
    m = staff_mail("Mohon dicek", auth=None)
    m = replace(m, subject="Laporan baru", reply_to=(replace(m.sender, email="other@example.net"),))
    decision = decide(arrival(m, None, Role.UNVERIFIED, token_number=None, unverified_why="x",
                              classification=RULES), DESK)
    assert shape(decision) == [("keep", "unverified")]
    [answer] = answers(decision)
    assert (answer.kind, answer.to) == ("unverified", (RINA.email,))
    explained = decide(arrival(m, None, Role.UNVERIFIED, token_number=None, explained_last_hour=True,
                               classification=RULES), DESK)
    assert answers(explained) == [] and shape(explained) == [("keep", "unverified")]


@pytest.mark.parametrize(("auth", "words"), [
    (None, "tidak membawa hasil pemeriksaan"),
    (PASS.replace("mx.google.com", "evil.example"), "tidak membawa hasil pemeriksaan"),
    ("mx.google.com; dkim=none; spf=pass; dmarc=none header.from=lampungprov.go.id",
     "tidak mempunyai kebijakan DMARC"),
    (FAIL, "DMARC untuk domain lampungprov.go.id gagal"),
    ("mx.google.com; dkim=pass header.d=mailer.example.com; spf=pass", "tidak selaras"),
    ("mx.google.com; dkim=fail header.d=lampungprov.go.id; spf=pass", "DKIM tidak sah"),
    ("mx.google.com; spf=pass smtp.mailfrom=lampungprov.go.id", "tidak ditandatangani DKIM"),
])
def test_why_unauthenticated_names_the_check_that_failed(auth, words):
    m = staff_mail("#tutup", auth=auth)
    assert words in identity.why_unauthenticated(m, "mx.google.com")
    assert identity.why_unauthenticated(staff_mail("#tutup"), "mx.google.com") == ""


@pytest.mark.parametrize("text", [
    "#tugaskan sari\nSari, tolong dicek log server ya",
    "#ambil\nsaya cek dulu",
    "#eskalasi\nperlu keputusan",
    "#kategori permintaan\ninternal saja",
    "#catatan\ninternal saja",
    "#tunggu\n#tugaskan sari\ninternal saja",
])
def test_text_beside_an_internal_tag_is_recorded_never_relayed(text):
    decision = steer(text)
    assert sends(decision, "relay") == [] and sends(decision, "closing") == []
    assert all(REPORTER not in s.to for s in sends(decision))
    assert record(decision).text.endswith(text.splitlines()[-1])


@pytest.mark.parametrize("text", ["#tunggu\nMohon kirim tangkapan layar.", "#buka\nKami cek lagi.",
                                  "Sudah kami reset."])
def test_text_with_only_reporter_facing_tags_is_relayed(text):
    assert [s.to for s in sends(steer(text, snap=ticket(Status.CLOSED) if "#buka" in text else TICKET),
                                "relay")] == [(REPORTER,)]


def test_close_beside_an_internal_tag_closes_without_the_text():
    [closing] = sends(steer("#tutup\n#tugaskan sari\nSari, ini internal"), "closing")
    assert dict(closing.values)["body"] == ""


def test_internal_flag_is_one_table():
    from mailticket.core.commands import TAGS
    facing = {t.name for t in TAGS if not t.internal}
    assert facing == {"close", "wait", "reopen"}


GMAIL_FORWARD = """Tolong dibantu, ini dari vendor.

---------- Forwarded message ---------
From: Budi Santoso <budi@example.co.id>
Date: Sel, 24 Nov 2026 pukul 09.12
Subject: Tidak bisa login SPSE
To: <rina@lampungprov.go.id>


Selamat pagi, saya tidak bisa login ke SPSE sejak kemarin.
"""


def test_staff_forward_opens_a_ticket_for_the_citizen_with_forwarded_by():
    decision = new_staff_mail(GMAIL_FORWARD, subject="Fwd: Tidak bisa login SPSE", opened_last_hour=99)
    assert decision.label == "forwarded"
    [opened] = [e for e in decision.effects if isinstance(e, OpenTicket)]
    assert (opened.ticket.reporter, opened.ticket.subject) == ("budi@example.co.id", "Tidak bisa login SPSE")
    assert opened.ticket.reporter_name == "Budi Santoso"
    assert record(decision).text == "Selamat pagi, saya tidak bisa login ke SPSE sejak kemarin."
    [by] = [e for e in events(decision) if e.type == "forwarded_by"]
    assert by.by == RINA.email and "vendor" in by.detail
    [ack] = sends(decision, "ack")
    assert ack.to == ("budi@example.co.id",)  # the forwarder's own ticket count does not stop it
    assert [s.to for s in sends(decision, "notification")] == [STAFF]


def test_a_forward_by_a_non_staff_sender_is_an_ordinary_report():
    m = mail(GMAIL_FORWARD, sender=f"Joko <{STRANGER}>", subject="Fwd: Tidak bisa login SPSE")
    decision = decide(arrival(m, None, Role.STRANGER, token_number=None, classification=RULES), DESK)
    [opened] = [e for e in decision.effects if isinstance(e, OpenTicket)]
    assert opened.ticket.reporter == STRANGER


def test_new_staff_mail_without_forward_or_question_opens_a_ticket_as_before():
    decision = new_staff_mail("Server SPSE lambat pagi ini.")
    assert decision.label == "new-ticket"


@pytest.mark.parametrize("tag", ["#daftar", "#list"])
def test_list_in_a_new_staff_mail_answers_and_opens_nothing(tag):
    mine = ticket(Status.OPEN, number=3, assignee=RINA.email)
    free = ticket(Status.NEW, number=4)
    decision = new_staff_mail(tag, open_tickets=(mine, free))
    assert decision.label == "command:list"
    assert shape(decision) == [("keep", "command")]
    [answer] = answers(decision)
    values = dict(answer.values)
    assert (answer.kind, answer.to) == ("list", (RINA.email,))
    assert values["mine"] == (mine,) and values["unassigned"] == (free,) and values["now"] == NOW


@pytest.mark.parametrize("tag", ["#bantuan", "#help"])
def test_help_answers_the_sender_with_or_without_a_ticket(tag):
    decision = new_staff_mail(tag)
    assert [(a.kind, a.to) for a in answers(decision)] == [("help", (RINA.email,))]
    assert shape(decision) == [("keep", "command")]
    on_ticket = steer(f"{tag}\nteks ini internal")
    assert [(a.kind, a.to) for a in answers(on_ticket)] == [("help", (RINA.email,))]
    assert sends(on_ticket, "relay") == [] and changes(on_ticket) == {}


TARGET = replace(TICKET, number=7, subject="Login SPSE gagal", reporter="ani@example.co.id", cc=())


@pytest.mark.parametrize("tag", ["#gabung LPSE#7", "#merge [LPSE#7]", "#gabung 7"])
def test_merge_moves_closes_and_tells_the_reporter_once(tag):
    m = staff_mail(f"{tag}\nsama dengan LPSE#7")
    decision = decide(arrival(m, ticket(Status.OPEN), Role.STAFF, merge_target=TARGET), DESK,
                      staff.read_reply(m, DESK))
    assert [e.number for e in decision.effects if isinstance(e, MergeInto)] == [7]
    found = changes(decision)
    assert found["merged_into"] == 7 and found["status"] is Status.CLOSED and found["closed_at"] == NOW
    assert ("event", "merged", "merged into LPSE#7") in shape(decision)
    [told] = sends(decision, "merged")
    assert (told.to, told.cc, dict(told.values)["into"]) == ((REPORTER,), (CC,), "LPSE#7")
    assert sends(decision, "relay") == [] and sends(decision, "closing") == []


@pytest.mark.parametrize(("target", "why"), [
    (None, "tidak ditemukan"),
    (replace(TARGET, merged_into=9), "sudah digabung ke LPSE#9"),
])
def test_merge_to_a_bad_ticket_changes_nothing_and_says_why(target, why):
    m = staff_mail("#gabung LPSE#7")
    decision = decide(arrival(m, TICKET, Role.STAFF, merge_target=target), DESK, staff.read_reply(m, DESK))
    assert decision.label == "command-error" and changes(decision) == {}
    [error] = sends(decision, "error")
    assert why in dict(error.values)["errors"][0].reason


def test_merge_into_itself_is_refused():
    m = staff_mail("#gabung LPSE#1")
    decision = decide(arrival(m, TICKET, Role.STAFF, merge_target=TICKET), DESK, staff.read_reply(m, DESK))
    assert decision.label == "command-error"
    assert "dirinya sendiri" in dict(sends(decision, "error")[0].values)["errors"][0].reason


# == issue 14: what staff are told (notification events, colleague copy, assignment, transcript) ===


def notification(decision: Decision) -> dict:
    [note] = [e for e in decision.effects if isinstance(e, Send) and e.kind == "notification"]
    return dict(note.values)


@pytest.mark.parametrize(("role", "sender", "status", "event"), [
    (Role.REPORTER, f"Budi <{REPORTER}>", Status.OPEN, "reply"),
    (Role.REPORTER, f"Budi <{REPORTER}>", Status.WAITING, "reply"),
    (Role.REPORTER, f"Budi <{REPORTER}>", Status.CLOSED, "reopened"),
    (Role.CC, f"Ani <{CC}>", Status.OPEN, "other"),
    (Role.CC, f"Ani <{CC}>", Status.CLOSED, "reopened"),
    (Role.STRANGER, f"Joko <{STRANGER}>", Status.OPEN, "other"),
])
def test_notification_says_which_event_it_is(role, sender, status, event):
    values = notification(follow(role, sender, ticket(status)))
    assert values["event"] == event
    assert (values["author"], values["role"]) == (sender.split(" <")[0], role.value)


def test_new_report_notification_is_a_new_ticket_with_no_earlier_messages():
    decision = report()
    [note] = sends(decision, "notification")
    assert dict(note.values)["event"] == "new" and dict(note.values)["opens"] is True
    assert note.recent_messages == 0


def test_oversize_mail_is_announced_as_oversize_with_no_body():
    values = notification(follow(Role.REPORTER, f"Budi <{REPORTER}>", ticket(Status.OPEN), oversize=True))
    assert (values["event"], values["body"], values["size_limit"]) == ("oversize", "", DESK.max_message_size)
    opened = notification(report(oversize=True))
    assert (opened["event"], opened["opens"]) == ("oversize", True)


def test_follow_up_notification_shows_the_new_text_without_quotes():
    m = mail("Sudah saya coba lagi, tetap gagal.\n\nPada Rab, 25 Nov 2026 Helpdesk menulis:\n> Silakan coba reset")
    values = notification(decide(arrival(m, ticket(Status.OPEN)), DESK))
    assert values["body"] == "Sudah saya coba lagi, tetap gagal."


def test_relay_is_copied_to_the_other_staff_never_to_the_sender():
    decision = steer("Silakan coba reset password melalui menu Lupa Password.")
    assert staff_feedback(decision) == [("colleague", (SARI.email,))]  # unassigned: every other member
    [copy] = [e for e in decision.effects if feedback(e)]
    assert dict(copy.values)["body"] == "Silakan coba reset password melalui menu Lupa Password."
    assert (copy.reply_to, copy.recent_messages) == (HELPDESK, 3)


def test_relay_on_an_assigned_ticket_is_copied_to_the_assignee_only():
    decision = steer("Sudah kami cek.", snap=ticket(Status.OPEN, assignee=SARI.email), sender=RINA)
    assert staff_feedback(decision) == [("colleague", (SARI.email,))]


def test_relay_by_the_assignee_is_copied_to_nobody():
    decision = steer("Sudah kami cek.", snap=ticket(Status.OPEN, assignee=RINA.email), sender=RINA)
    assert staff_feedback(decision) == []


def test_closing_is_copied_to_the_other_staff_with_a_transcript_to_the_sender():
    decision = steer("#tutup\nAkun Bapak sudah aktif.")
    assert staff_feedback(decision) == [("closed", (SARI.email,)), ("transcript", (RINA.email,))]


def test_assignment_by_someone_else_notifies_the_assignee_with_history():
    decision = steer("#tugaskan sari")
    [notice] = sends(decision, "assigned")
    assert notice.to == (SARI.email,) and dict(notice.values) == {"by": "rina"}
    assert notice.history_events == 2 and notice.recent_messages == 3  # up to "assigned" and new -> open
    assert notice.ticket.status is Status.OPEN
    assert notice.ticket.assignee == SARI.email and notice.reply_to == HELPDESK


def test_take_sends_no_assignment_notice_to_oneself():
    decision = steer("#ambil", sender=SARI)
    assert sends(decision, "assigned") == []
    assert staff_feedback(decision) == [("transcript", (SARI.email,))]


def test_escalation_carries_the_report_and_the_last_messages():
    [escalation] = sends(steer("#eskalasi perlu koordinasi dengan LKPP"), "escalation")
    assert escalation.recent_messages == 3 and escalation.reply_to == HELPDESK


def test_every_command_mail_gets_a_transcript_of_what_changed():
    decision = steer("#kategori permintaan\n#tugaskan sari\n")
    [transcript] = sends(decision, "transcript")
    values = dict(transcript.values)
    assert transcript.to == (RINA.email,) and transcript.in_reply_to == "<reply-1@lampungprov.go.id>"
    assert [(s.text, s.changes) for s in values["steps"]] == [
        ("#kategori permintaan", (("category", "gangguan", "permintaan"),)),
        ("#tugaskan sari", (("status", "new", "open"), ("assignee", "", SARI.email))),
    ]
    assert values["sent"] == (("assigned", "", (SARI.email,)),) and values["relayed"] is False
    assert transcript.ticket.category is Category.PERMINTAAN  # the ticket's new state


def test_a_no_op_command_still_gets_a_transcript_saying_nothing_changed():
    [transcript] = sends(steer("#tutup", snap=ticket(Status.CLOSED)), "transcript")
    [step] = dict(transcript.values)["steps"]
    assert step.changes == ()


def test_a_plain_relay_gets_no_transcript_and_an_error_keeps_the_error_reply():
    assert sends(steer("Sudah kami cek."), "transcript") == []
    decision = steer("#tutupp")
    assert [s.kind for s in decision.effects if isinstance(s, Send)] == ["error"]


def test_relay_and_closing_sign_with_the_display_name():
    desk = replace(DESK, members=(Person("rina", RINA.email, "Rina Wulandari"), SARI))
    [relayed] = sends(steer("Sudah kami cek.", desk=desk), "relay")
    assert dict(relayed.values)["staff_name"] == "Rina Wulandari"
    [closing] = sends(steer("#tutup\nSudah beres.", desk=desk), "closing")
    assert dict(closing.values)["staff_name"] == "Rina Wulandari"


def test_registration_report_carries_the_checklist_to_the_ack_and_the_notification():
    m = mail("Bersama ini kami lampirkan KTP direktur dan NPWP perusahaan.", subject="Pendaftaran akun penyedia",
             msgid="<daftar@maju.co.id>")
    decision = report(m, topics=("registration",))
    ack = dict(sends(decision, "ack")[0].values)["checklist"]
    assert ack.arrived == ("Fotokopi KTP direktur/pemilik", "Fotokopi NPWP perusahaan")
    assert notification(decision)["checklist"] == ack
