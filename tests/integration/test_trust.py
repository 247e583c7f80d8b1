"""Issue 15, end to end: strangers change nothing, thanks after close, #spam and the block list, kept mail
opened after all, backscatter (acks counted by recipient, no ack at Reply-To when From fails DMARC),
floods, the per-address hourly cap, staff auto-replies and the References cap. Real SQLite file and
directory outbox; what went out is read from the .eml files. The decision rows are in
tests/unit/test_trust.py; the loop test with Dovecot and the SMTP sink is test_loops.py."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy

import pytest

from mailticket.clock import FixedClock
from tests.conftest import make_mail
from tests.integration.mailcheck import PASS, STAFF_TOML, app_for, feed, make_desk, query, sent, staff_mail

RINA, SARI, KOORD = "rina@lampungprov.go.id", "sari@lampungprov.go.id", "koord@lampungprov.go.id"
HELPDESK = "provlampunglpse@gmail.com"
BUDI, JOKO, VICTIM = "budi@example.co.id", "joko@example.net", "victim@example.org"
START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # Rabu 08.00 WIB
REPORT = "Selamat pagi, saya tidak bisa login ke SPSE sejak kemarin, muncul error terus. Mohon bantuan.\n"


def world(tmp_path, helpdesk_keys: str = 'reopen_window = "7d"', extra: str = ""):
    desk = make_desk(tmp_path, helpdesk_keys=helpdesk_keys, extra=STAFF_TOML + extra)
    clock = FixedClock(START)
    return desk, app_for(desk, clock), clock


@pytest.fixture
def opened(tmp_path):
    """A helpdesk with ticket LPSE#1 opened by Budi."""
    desk, app, clock = world(tmp_path)
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<report@budi.id>"))
    return desk, app, clock


def inbox(desk, address: str, kind: str | None = None) -> list:
    """What one person received, oldest first."""
    return [m for m in sent(desk) if address in m.recipients and kind in (None, m.kind)]


def ticket(desk, number: int = 1) -> dict:
    [row] = query(desk, "SELECT * FROM tickets WHERE number = ?", number)
    return row


def events(desk, type_: str) -> list[dict]:
    return query(desk, "SELECT * FROM events WHERE type = ? ORDER BY id", type_)


def messages(desk, kind: str) -> list[dict]:
    return query(desk, "SELECT * FROM messages WHERE kind = ? ORDER BY id", kind)


def reply(text: str, sender: str = f"Budi <{BUDI}>", msgid: str = "<f1@budi.id>", **kw) -> bytes:
    return make_mail("Re: [LPSE#1] Tidak bisa login", text, sender=sender, msgid=msgid, **kw)


def close(desk, app, clock) -> None:
    clock.advance(timedelta(minutes=30))
    feed(app, desk, staff_mail("Sudah kami reset, silakan dicoba lagi.\n\n#tutup\n"))
    assert ticket(desk)["status"] == "closed"


# == strangers and thanks =========================================================================


def test_a_stranger_with_the_token_on_a_closed_ticket_changes_nothing_and_staff_are_told(opened):
    desk, app, clock = opened
    close(desk, app, clock)
    before, mailed = ticket(desk), len(sent(desk))
    clock.advance(timedelta(hours=1))
    feed(app, desk, reply("Saya juga tidak bisa login, tolong dibuka lagi tiketnya.", sender=f"Joko <{JOKO}>",
                          msgid="<j1@joko.net>"))
    after = ticket(desk)
    assert after["status"] == "closed" and after["closed_at"] == before["closed_at"]
    assert {k: after[k] for k in ("due_at", "waiting_since", "paused_seconds")} == \
        {k: before[k] for k in ("due_at", "waiting_since", "paused_seconds")}
    [row] = messages(desk, "third_party")
    assert row["sender"] == JOKO
    assert events(desk, "third_party") and not events(desk, "reopened")
    new = sent(desk)[mailed:]
    assert not any(JOKO in m.recipients for m in new)  # no ack, no mail at all to the stranger
    assert not inbox(desk, JOKO)
    [told] = new
    assert told.recipients == {RINA, SARI} and str(told.msg["Subject"]).startswith("Pesan pihak lain: [LPSE#1]")


def test_a_stranger_replying_to_our_message_id_on_a_waiting_ticket_leaves_the_clock_paused(opened):
    desk, app, clock = opened
    clock.advance(timedelta(minutes=20))
    feed(app, desk, staff_mail("Mohon kirim tangkapan layar errornya.\n\n#tunggu\n"))
    waiting = ticket(desk)
    assert waiting["status"] == "waiting" and waiting["waiting_since"]
    [ack] = inbox(desk, BUDI, "ack")
    clock.advance(timedelta(hours=2))
    feed(app, desk, make_mail("Re: Tidak bisa login", "ini screenshotnya", sender=f"Joko <{JOKO}>",
                              msgid="<j2@joko.net>", in_reply_to=str(ack.msg["Message-ID"])))
    after = ticket(desk)
    assert (after["status"], after["waiting_since"], after["paused_seconds"], after["due_at"]) == \
        (waiting["status"], waiting["waiting_since"], waiting["paused_seconds"], waiting["due_at"])
    assert [r["sender"] for r in messages(desk, "third_party")] == [JOKO]
    assert not inbox(desk, JOKO)


def test_thanks_after_close_is_recorded_and_nobody_is_mailed(opened):
    desk, app, clock = opened
    close(desk, app, clock)
    mailed = len(sent(desk))
    clock.advance(timedelta(hours=1))
    feed(app, desk, reply("Terima kasih pak, sudah bisa."))
    assert ticket(desk)["status"] == "closed"
    assert events(desk, "thanks") and not events(desk, "reopened")
    assert "Terima kasih pak, sudah bisa." in messages(desk, "reply")[-1]["text"]
    assert sent(desk)[mailed:] == []  # no mail to the reporter (nor anyone)


def test_a_real_new_problem_within_reopen_window_still_reopens(opened):
    desk, app, clock = opened
    close(desk, app, clock)
    clock.advance(timedelta(days=2))
    feed(app, desk, reply("Terima kasih, tapi sekarang masih gagal login lagi, muncul error yang sama."))
    assert ticket(desk)["status"] == "open"
    assert events(desk, "reopened") and not events(desk, "thanks")


# == #spam, the block list, mail open ============================================================


def test_spam_tag_closes_without_mail_to_the_sender_and_blocks_them(opened):
    desk, app, clock = opened
    [ack] = inbox(desk, BUDI)
    clock.advance(timedelta(minutes=5))
    feed(app, desk, staff_mail("Ini iklan.\n\n#spam\n"))
    assert ticket(desk)["status"] == "closed"
    assert [m.path for m in inbox(desk, BUDI)] == [ack.path]  # no closing, no relay
    [entry] = desk.json("block", "list")
    assert entry["address"] == BUDI and "#spam" in entry["why"]
    clock.advance(timedelta(minutes=5))
    feed(app, desk, make_mail("Tidak bisa login lagi", REPORT, sender=f"Budi <{BUDI}>", msgid="<again@budi.id>"))
    [kept] = desk.json("mail", "list", "--kind", "blocked")
    assert kept["from"] == BUDI and kept["kind"] == "blocked" and BUDI in kept["why"]
    assert [m.path for m in inbox(desk, BUDI)] == [ack.path]
    assert len(query(desk, "SELECT id FROM tickets")) == 1


def test_two_spam_tags_for_one_sender_in_one_batch_both_close_and_block_once(opened):
    desk, app, clock = opened
    feed(app, desk, make_mail("Promo tender", REPORT, sender=f"Budi <{BUDI}>", msgid="<again@budi.id>"))
    clock.advance(timedelta(minutes=5))
    rows = feed(app, desk, staff_mail("#spam\n", number=1), staff_mail("#spam\n", number=2))
    assert [r["state"] for r in rows] == ["ticket", "ticket"]  # neither quarantined
    assert ticket(desk, 1)["status"] == ticket(desk, 2)["status"] == "closed"
    assert [e["address"] for e in desk.json("block", "list")] == [BUDI]


def test_block_add_remove_list(tmp_path):
    desk, app, clock = world(tmp_path)
    assert "blocked" in desk.cli("block", "add", "spammer@example.com", "--why", "iklan").stdout
    assert desk.cli("block", "add", "@Tender-Menang.example").returncode == 0
    for protected in (RINA, KOORD, HELPDESK, f"<{RINA.upper()}>"):
        proc = desk.cli("block", "add", protected, check=False)
        assert proc.returncode == 2 and "cannot be blocked" in proc.stderr
    assert desk.cli("block", "add", "not an address", check=False).returncode == 2
    listed = desk.json("block", "list")
    assert [(e["address"], e["why"]) for e in listed] == [("spammer@example.com", "iklan"),
                                                         ("@tender-menang.example", "")]
    assert "@tender-menang.example" in desk.cli("block", "list").stdout

    feed(app, desk,
         make_mail("Tidak bisa login", REPORT, sender="Spammer <spammer@example.com>", msgid="<s1@x>"),
         make_mail("Gagal upload", REPORT, sender="cs@tender-menang.example", msgid="<s2@x>"))
    kept = desk.json("mail", "list", "--kind", "blocked")
    assert sorted(k["from"] for k in kept) == ["cs@tender-menang.example", "spammer@example.com"]
    assert not sent(desk) and not query(desk, "SELECT id FROM tickets")

    assert desk.cli("block", "remove", "@tender-menang.example").returncode == 0
    assert desk.cli("block", "remove", "@tender-menang.example", check=False).returncode == 1
    assert [e["address"] for e in desk.json("block", "list")] == ["spammer@example.com"]
    clock.advance(timedelta(minutes=1))
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender="cs@tender-menang.example", msgid="<s3@x>"))
    assert len(inbox(desk, "cs@tender-menang.example", "ack")) == 1


def test_mail_open_turns_kept_spam_into_a_ticket_with_its_ack(tmp_path):
    desk, app, _clock = world(tmp_path)
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<fp@budi.id>",
                              headers={"X-Spam-Flag": "YES"}))
    [kept] = desk.json("mail", "list", "--kind", "spam")
    assert kept["from"] == BUDI and not sent(desk)
    proc = desk.cli("mail", "open", str(kept["id"]))
    assert "LPSE#1" in proc.stdout
    assert desk.json("mail", "list", "--kind", "spam") == []
    [shown] = [t for t in desk.json("tickets", "list") if t["token"] == "LPSE#1"]
    assert shown["reporter"] == BUDI
    [ack] = inbox(desk, BUDI, "ack")
    assert "[LPSE#1]" in str(ack.msg["Subject"]) and ack.msg["In-Reply-To"] == "<fp@budi.id>"
    assert desk.cli("mail", "open", str(kept["id"]), check=False).returncode == 2  # no longer kept


# == backscatter and floods ======================================================================


def test_twelve_senders_with_reply_to_the_victim_get_at_most_max_acks_per_hour_to_it(tmp_path):
    desk, app, clock = world(tmp_path)
    for i in range(12):
        clock.advance(timedelta(seconds=30))
        feed(app, desk, make_mail(f"Tidak bisa login {i}", REPORT, sender=f"user{i}@throwaway{i}.example",
                                  msgid=f"<b{i}@x>", headers={"Reply-To": VICTIM}))
    acks = inbox(desk, VICTIM)
    print(f"\n12 reports with Reply-To the victim: {len(acks)} acks to it")
    assert 0 < len(acks) <= 5  # max_acks_per_hour default
    assert len(query(desk, "SELECT id FROM tickets")) == 12  # tickets still open, only the acks stop
    assert len(events(desk, "ack-skipped")) == 12 - len(acks)


def test_no_ack_at_reply_to_when_the_from_fails_dmarc(tmp_path):
    desk, app, _clock = world(tmp_path)
    failed = ("mx.google.com; dkim=none; spf=softfail smtp.mailfrom=budi@example.co.id; "
              "dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=example.co.id")
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<d1@x>",
                              headers={"Reply-To": VICTIM, "Authentication-Results": failed}))
    assert not inbox(desk, VICTIM)
    assert ticket(desk)["reporter"] == BUDI


def test_one_sender_over_max_tickets_per_hour_is_kept_as_flood_with_one_summary(tmp_path):
    desk, app, clock = world(tmp_path, 'max_tickets_per_hour = 3')
    for i in range(8):
        clock.advance(timedelta(minutes=1))
        feed(app, desk, make_mail(f"Laporan otomatis {i}: gagal login", REPORT, sender="skrip@dinas.example",
                                  msgid=f"<fl{i}@x>"))
    assert len(query(desk, "SELECT id FROM tickets")) == 3
    kept = desk.json("mail", "list", "--kind", "flood")
    assert len(kept) == 5 and all("skrip@dinas.example" in k["why"] for k in kept)
    [summary] = [m for m in sent(desk) if m.kind == "flood"]
    assert summary.recipients == {RINA, SARI}
    assert str(summary.msg["Subject"]) == "Banyak laporan dari skrip@dinas.example: e-mail berikutnya ditahan"
    assert "skrip@dinas.example sudah membuka 3 tiket baru" in summary.text()
    assert len(inbox(desk, "skrip@dinas.example", "ack")) == 3


def test_a_tickets_mail_to_one_address_over_the_hourly_cap_is_held_and_coordinators_told_once(tmp_path):
    desk, app, clock = world(tmp_path, extra="\n[mail]\nmax_per_address_per_hour = 3\n")
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<report@budi.id>"))
    for i in range(5):
        clock.advance(timedelta(minutes=2))
        feed(app, desk, staff_mail(f"Jawaban ke-{i}: silakan coba lagi."))
    to_budi = inbox(desk, BUDI)
    assert len(to_budi) == 3  # the ack and two relays
    held = [e for e in events(desk, "held") if BUDI in e["detail"]]  # staff notifications are capped too
    assert len(held) == 3 and all(e["detail"].startswith("relay not sent") for e in held)
    [notice] = inbox(desk, KOORD)
    assert notice.kind == "held" and BUDI in notice.text()
    assert str(notice.msg["Subject"]) == "E-mail ditahan: [LPSE#1] Tidak bisa login"
    assert "sudah mengirim 3 e-mail ke budi@example.co.id" in notice.text()
    clock.advance(timedelta(hours=1, minutes=1))
    feed(app, desk, staff_mail("Satu jam kemudian: sudah bisa?"))
    assert len(inbox(desk, BUDI)) == 4  # the hour is over


# == auto-replies and headers ====================================================================


@pytest.mark.parametrize("headers", [{"Auto-Submitted": "auto-replied"}, {}])
def test_a_staff_vacation_reply_is_recorded_never_relayed_never_a_command(opened, headers):
    desk, app, clock = opened
    mailed = len(sent(desk))
    clock.advance(timedelta(minutes=5))
    vacation = staff_mail("Saya sedang cuti sampai 5 Desember.\n#tutup\n",
                          subject="Automatic reply: Re: [LPSE#1] Tidak bisa login")
    msg = email.message_from_bytes(vacation, policy=policy.default)
    for name, value in headers.items():
        msg[name] = value
    feed(app, desk, msg.as_bytes())
    assert ticket(desk)["status"] == "new"  # the #tutup line was no command
    [row] = messages(desk, "auto_reply")
    assert row["sender"] == RINA
    assert sent(desk)[mailed:] == []  # not relayed, no transcript, no error


def test_a_report_with_5000_references_gets_an_ack_with_at_most_20(tmp_path):
    desk, app, _clock = world(tmp_path)
    refs = " ".join(f"<ref{i}@mail.example>" for i in range(5000))
    feed(app, desk, make_mail("Tidak bisa login", REPORT, sender=f"Budi <{BUDI}>", msgid="<r5000@budi.id>",
                              references=refs))
    [ack] = inbox(desk, BUDI, "ack")
    ids = str(ack.msg["References"]).split()
    assert 0 < len(ids) <= 20 and ids[-1] == "<r5000@budi.id>"
    assert len(ack.data) < 20_000


@pytest.mark.parametrize("auth, sender", [
    ("mx.google.com; spf=pass smtp.mailfrom=rina@lampungprov.go.id; dmarc=pass (p=NONE)", f"Rina <{RINA}>"),
    (PASS, f"Rina <{RINA}>, Mallory <mallory@attacker.example>"),
])
def test_staff_auth_without_header_from_or_with_several_authors_never_steers(opened, auth, sender):
    desk, app, clock = opened
    clock.advance(timedelta(minutes=5))
    feed(app, desk, staff_mail("Sudah beres.\n\n#tutup\n", sender=sender, auth=auth))
    assert ticket(desk)["status"] == "new"
    assert not events(desk, "closed") and not inbox(desk, BUDI, "closing")
