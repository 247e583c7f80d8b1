"""Issue 15, the decision rows of trust: strangers, thanks after close, block list, #spam, floods,
backscatter, References cap, auto-reply subjects, staff authentication."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mailticket.core import filter as mailfilter
from mailticket.core import thanks
from mailticket.core.decide import decide
from mailticket.core.draft import MAX_REFERENCES, cap_references
from mailticket.core.effects import Answer, Block, Keep, Role, Send
from mailticket.core.identity import authenticated, dmarc_failed, several_authors
from mailticket.core.parse import parse
from mailticket.types import Kind, Status
from tests.unit.test_decide import (
    DESK,
    REPORTER,
    STRANGER,
    TO_ALL_STAFF,
    arrival,
    follow,
    mail,
    report,
    sends,
    shape,
    steer,
    ticket,
)


@pytest.mark.parametrize("status", [Status.OPEN, Status.WAITING, Status.CLOSED])
def test_a_stranger_changes_nothing_and_staff_are_told(status):
    decision = follow(Role.STRANGER, f"Joko <{STRANGER}>", ticket(status))
    assert decision.label == "third_party"
    assert shape(decision) == [("record", "third_party"), ("event", "third_party", "matched by token"),
                               TO_ALL_STAFF]
    [note] = sends(decision)
    assert dict(note.values)["event"] == "other" and STRANGER not in note.to


@pytest.mark.parametrize("text", ["Terima kasih pak, sudah bisa.", "makasih", "Thanks, sudah bisa login",
                                  "Baik, terima kasih banyak 🙏", "Matur nuwun"])
def test_thanks_are_only_thanks(text):
    assert thanks.only_thanks(text)


@pytest.mark.parametrize("text", ["Terima kasih, tapi masih tidak bisa login", "makasih, kapan bisa?",
                                  "Terima kasih. Sekarang muncul error baru saat upload", "Sudah bisa",
                                  "terima kasih " + "kata " * 40])
def test_thanks_with_a_problem_or_question_are_not(text):
    assert not thanks.only_thanks(text)


def test_thanks_after_close_is_recorded_and_does_not_reopen():
    m = mail("Terima kasih pak, sudah bisa.", sender=f"Budi <{REPORTER}>")
    decision = decide(arrival(m, ticket(Status.CLOSED)), DESK)
    assert decision.label == "thanks"
    assert shape(decision) == [("record", "reply"), ("event", "thanks", "the reporter thanked; the ticket stays closed")]


def test_a_new_problem_after_close_still_reopens():
    decision = follow(Role.REPORTER, f"Budi <{REPORTER}>", ticket(Status.CLOSED))  # "masih gagal"
    assert ("event", "reopened", "closed -> open") in shape(decision)


def test_blocked_sender_is_kept_with_no_ticket_and_no_mail():
    decision = report(blocked="budi@example.co.id: #spam on LPSE#3")
    assert decision.label == "blocked"
    assert decision.effects == (Keep("blocked", "sender blocked: budi@example.co.id: #spam on LPSE#3"),)
    followed = follow(Role.REPORTER, f"Budi <{REPORTER}>", ticket(Status.OPEN), blocked="x")
    assert followed.label == "blocked"


@pytest.mark.parametrize("kind", [Kind.SPAM, Kind.BULK])
def test_a_blocked_senders_spam_and_bulk_are_kept_as_blocked(kind):
    decision = decide(arrival(mail("DIJAMIN MENANG tender", sender="x"), None, Role.STRANGER, kind,
                              blocked="iklan@example.net: #spam on LPSE#3"), DESK)
    assert decision.effects == (Keep("blocked", "sender blocked: iklan@example.net: #spam on LPSE#3"),)


@pytest.mark.parametrize("kind", [Kind.AUTO_REPLY, Kind.BOUNCE])
def test_machine_answers_in_a_thread_stay_recorded_on_the_ticket_whoever_sent_them(kind):
    decision = decide(arrival(mail("Out of office", sender="x"), ticket(Status.OPEN), Role.STRANGER, kind), DESK)
    assert decision.label == f"{kind.value}-recorded"


def test_a_blocked_staff_address_still_steers():
    decision = decide(arrival(mail("#tutup", sender="x"), ticket(Status.OPEN), Role.STAFF, blocked="x"), DESK)
    assert decision.label != "blocked"


def test_spam_tag_closes_blocks_and_mails_nobody_but_the_transcript():
    decision = steer("#spam", ticket(Status.OPEN))
    assert ("change", {"status": Status.CLOSED}) in shape(decision)
    [block] = [e for e in decision.effects if isinstance(e, Block)]
    assert block.address == REPORTER and "#spam on LPSE#1" in block.why
    mailed = [e for e in decision.effects if isinstance(e, Send)]
    assert not any(REPORTER in e.to or REPORTER in e.cc for e in mailed)  # no closing, no relay to the sender
    assert not any(e.kind in ("closing", "relay") for e in mailed)


def test_flood_keeps_mail_and_sends_one_summary():
    first = report(opened_last_hour=20, flooded_last_hour=0)
    assert first.label == "flood" and isinstance(first.effects[0], Keep)
    [summary] = [e for e in first.effects if isinstance(e, Answer)]
    assert summary.kind == "flood" and summary.to == DESK.member_addresses
    later = report(opened_last_hour=20, flooded_last_hour=3)
    assert [type(e) for e in later.effects] == [Keep]
    assert report(opened_last_hour=19).label == "new-ticket"


def _with_reply_to(failed: bool):
    m = mail("Saya tidak bisa login ke SPSE.", subject="Tidak bisa login", msgid="<r@x.id>")
    from dataclasses import replace

    from mailticket.types import Address
    return report(replace(m, reply_to=(Address("", "victim@example.org"),)), from_failed_dmarc=failed)


def test_ack_goes_to_reply_to_unless_the_from_failed_dmarc():
    assert sends(_with_reply_to(False), "ack")[0].to == ("victim@example.org",)
    assert sends(_with_reply_to(True), "ack")[0].to == (REPORTER,)


def test_references_are_capped_keeping_root_and_newest():
    refs = tuple(f"<{i}@x>" for i in range(5000))
    capped = cap_references(refs)
    assert len(capped) == MAX_REFERENCES and capped[0] == "<0@x>" and capped[-1] == "<4999@x>"
    assert cap_references(refs[:5]) == refs[:5]


def _raw(subject: str, **headers) -> object:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Budi <budi@example.co.id>")
    msg["To"] = "helpdesk@example.go.id"
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Saya sedang cuti sampai 5 Desember.")
    return parse(msg.as_bytes())


@pytest.mark.parametrize("subject", ["Auto Response", "Automatic reply", "Balasan Otomatis",
                                     "Auto Response: Re: [LPSE#1] Tidak bisa login"])
def test_auto_reply_subjects_without_headers(subject):
    verdict = mailfilter.judge(_raw(subject), frozenset({"helpdesk@example.go.id"}), lambda m: None)
    assert verdict.kind is Kind.AUTO_REPLY


def test_balasan_otomatis_inside_a_report_is_a_report():
    verdict = mailfilter.judge(_raw("Balasan otomatis tidak masuk ke email"), frozenset(), lambda m: None)
    assert verdict.kind is Kind.REPORT


def test_several_from_addresses_never_authenticate():
    header = "mx.google.com; dmarc=pass header.from=lampungprov.go.id"
    one = _raw("x", From="rina@lampungprov.go.id", Authentication_Results=header)
    two = _raw("x", From="rina@lampungprov.go.id, evil@attacker.example", Authentication_Results=header)
    assert authenticated(one, "mx.google.com") and not several_authors(one)
    assert several_authors(two) and not authenticated(two, "mx.google.com")


def test_dmarc_failed_reads_our_topmost_header():
    failed = _raw("x", Authentication_Results="mx.google.com; dmarc=fail (p=NONE) header.from=example.co.id")
    assert dmarc_failed(failed, "mx.google.com") and not dmarc_failed(failed, "other.example")
