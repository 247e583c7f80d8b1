"""The main job end to end through the real CLI: real SQLite file, real Maildir, directory outbox."""

from __future__ import annotations

import email
import sqlite3
from email import policy

from tests.conftest import make_mail

LOGIN_FAULT = """\
    Selamat pagi,
    sejak tadi pagi saya gk bisa login ke SPSE, muncul error 500 terus.
    Mohon bantuannya.
    Budi
    """
DEADLINE = """\
    Yth. Helpdesk,
    kami tidak dapat mengunggah dokumen penawaran, padahal batas akhir pemasukan penawaran hari ini
    pukul 15.00. Mohon segera dibantu.
    """
REGISTRATION = """\
    Selamat siang, apa saja persyaratan pendaftaran akun penyedia baru di LPSE Lampung?
    Terima kasih.
    """


def read(path):
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_new_reports_become_classified_tickets_with_one_ack_each(helpdesk):
    paths = [
        helpdesk.write("01.eml", make_mail("Tidak bisa login SPSE", LOGIN_FAULT, msgid="<r1@x.id>")),
        helpdesk.write("02.eml", make_mail("Upload penawaran gagal", DEADLINE, sender="Sari <sari@cv.id>")),
        helpdesk.write("03.eml", make_mail("Syarat pendaftaran", REGISTRATION, sender="ani@yahoo.co.id")),
    ]
    helpdesk.cli("ingest", *map(str, paths))
    tickets = helpdesk.json("tickets", "list")
    assert [t["token"] for t in tickets] == ["LPSE#1", "LPSE#2", "LPSE#3"]
    assert [t["category"] for t in tickets] == ["gangguan", "permasalahan", "permintaan"]
    assert all(t["status"] == "new" and t["category_source"] == "rules" for t in tickets)
    acks = helpdesk.sent("ack")
    assert len(acks) == 3
    first = read(acks[0])
    assert "[LPSE#1]" in first["Subject"]
    assert first["To"] == "budi@example.co.id"
    assert first["In-Reply-To"] == "<r1@x.id>"
    assert first["Auto-Submitted"] == "auto-replied"
    registration = read(acks[2]).get_body(("plain",)).get_content()
    assert "KTP" in registration and "NPWP" in registration
    assert "KTP" not in read(acks[0]).get_body(("plain",)).get_content()


def test_show_json_has_the_contract_shape(helpdesk):
    path = helpdesk.write("01.eml", make_mail("Tidak bisa login SPSE", LOGIN_FAULT, msgid="<r1@x.id>"))
    helpdesk.cli("ingest", str(path))
    ticket = helpdesk.json("tickets", "show", "LPSE#1")
    for key in ("token", "number", "status", "category", "category_source", "needs_review", "subject",
                "reporter", "assignee", "created_at", "due_at", "closed_at", "escalated", "messages", "events"):
        assert key in ticket, key
    assert ticket["created_at"].endswith("+07:00")
    assert [m["kind"] for m in ticket["messages"]] == ["report", "ack"]
    assert ticket["messages"][0]["message_id"] == "<r1@x.id>"
    assert ticket["messages"][1]["direction"] == "out"
    assert [e["type"] for e in ticket["events"]][:2] == ["created", "classified"]
    assert helpdesk.json("tickets", "show", "1") == ticket
    assert helpdesk.cli("tickets", "show", "LPSE#99", check=False).returncode == 1


def test_reingesting_the_same_messages_changes_nothing(helpdesk):
    paths = [str(helpdesk.write(f"{i}.eml", make_mail(f"Laporan {i}", LOGIN_FAULT))) for i in range(3)]
    helpdesk.cli("ingest", *paths)
    helpdesk.cli("ingest", *paths)
    assert len(helpdesk.json("tickets", "list")) == 3
    assert len(helpdesk.sent("ack")) == 3


def test_replies_thread_by_token_by_references_and_unknown_token_opens_a_ticket(helpdesk):
    report = make_mail("Tidak bisa login", LOGIN_FAULT, msgid="<report@x.id>")
    by_token = make_mail("Re: [lpse # 1] Tidak bisa login", "sudah saya coba lagi", msgid="<a@x.id>")
    by_refs = make_mail("Re: Tidak bisa login", "masih gagal", msgid="<b@x.id>",
                        in_reply_to="<report@x.id>", references="<report@x.id>")
    unknown = make_mail("BLS: [LPSE#777] akun saya", "gk bisa login juga", msgid="<c@x.id>",
                        sender="lain@example.com")
    paths = [helpdesk.write(n, d) for n, d in
             [("1.eml", report), ("2.eml", by_token), ("3.eml", by_refs), ("4.eml", unknown)]]
    helpdesk.cli("ingest", *map(str, paths))
    first = helpdesk.json("tickets", "show", "LPSE#1")
    assert [m["kind"] for m in first["messages"] if m["direction"] == "in"] == ["report", "reply", "reply"]
    tickets = helpdesk.json("tickets", "list")
    assert len(tickets) == 2
    second = helpdesk.json("tickets", "show", "LPSE#2")
    assert "LPSE#777" in second["events"][0]["detail"]
    assert len(helpdesk.sent("ack")) == 2


def test_reply_that_lost_the_token_finds_its_ticket_through_our_message_id(helpdesk):
    helpdesk.cli("ingest", str(helpdesk.write("1.eml", make_mail("Login gagal", LOGIN_FAULT))))
    ack_id = read(helpdesk.sent("ack")[0])["Message-ID"]
    reply = make_mail("Re: Login gagal", "ini tambahan info", in_reply_to=ack_id, references=ack_id)
    forged = make_mail("Re: Login gagal", "ini palsu", in_reply_to=ack_id.replace("<mt.1.", "<mt.2."),
                       sender="x@example.net")
    helpdesk.cli("ingest", str(helpdesk.write("2.eml", reply)), str(helpdesk.write("3.eml", forged)))
    first = helpdesk.json("tickets", "show", "LPSE#1")
    assert [m["kind"] for m in first["messages"] if m["direction"] == "in"] == ["report", "reply"]
    assert len(helpdesk.json("tickets", "list")) == 2


def test_first_number_continues_an_existing_register(helpdesk):
    helpdesk.config.write_text(helpdesk.config.read_text().replace(
        '[helpdesk]\n', '[helpdesk]\nfirst_number = 1000\n'))
    helpdesk.cli("ingest", str(helpdesk.write("1.eml", make_mail("Login gagal", LOGIN_FAULT))))
    assert helpdesk.json("tickets", "list")[0]["token"] == "LPSE#1000"


def test_non_reports_are_kept_without_ticket_or_reply(helpdesk):
    auto = make_mail("Balasan otomatis: cuti", "Saya sedang cuti.", headers={"Auto-Submitted": "auto-replied"})
    bulk = make_mail("Buletin November", "berita", headers={"List-Id": "<berita.example.org>"})
    own = make_mail("tes", "tes", sender="Helpdesk <provlampunglpse@gmail.com>")
    spam = make_mail("Pinjaman dana tunai cepat cair tanpa agunan",
                     "Pinjaman dana tunai cepat cair tanpa agunan, bunga rendah, hubungi WA kami. Klik link berikut.")
    bounce = make_mail("Mail delivery failed: returning message to sender", "failed",
                       sender="Mail Delivery System <MAILER-DAEMON@mail.example.com>")
    paths = [str(helpdesk.write(f"{i}.eml", d)) for i, d in enumerate([auto, bulk, own, spam, bounce])]
    helpdesk.cli("ingest", *paths)
    assert helpdesk.json("tickets", "list") == []
    assert helpdesk.sent() == []
    kept = helpdesk.json("mail", "list")
    assert sorted(k["kind"] for k in kept) == ["auto_reply", "bounce", "bulk", "own", "spam"]
    assert all(k["why"] for k in kept)
    assert [k["kind"] for k in helpdesk.json("mail", "list", "--kind", "spam")] == ["spam"]


def test_auto_reply_carrying_a_token_is_recorded_on_the_ticket_and_changes_nothing(helpdesk):
    helpdesk.cli("ingest", str(helpdesk.write("1.eml", make_mail("Login gagal", LOGIN_FAULT))))
    before = helpdesk.json("tickets", "show", "LPSE#1")
    ooo = make_mail("Out of Office: [LPSE#1] Login gagal", "I am away",
                    headers={"Auto-Submitted": "auto-replied"})
    helpdesk.cli("ingest", str(helpdesk.write("2.eml", ooo)))
    after = helpdesk.json("tickets", "show", "LPSE#1")
    assert after["messages"][-1]["kind"] == "auto_reply"
    assert after["status"] == before["status"] and len(after["events"]) == len(before["events"])
    assert len(helpdesk.sent()) == 1


def test_broken_mail_is_quarantined_and_the_rest_goes_on(helpdesk):
    good = helpdesk.write("2.eml", make_mail("Login gagal", LOGIN_FAULT))
    empty = helpdesk.write("1.eml", b"")
    garbage = helpdesk.write("3.eml", b"\x00\x01\x02 this is not mail \xff\xfe" * 10)
    helpdesk.cli("ingest", str(empty), str(good), str(garbage))
    assert len(helpdesk.json("tickets", "list")) == 1
    entries = helpdesk.json("quarantine", "list")
    assert len(entries) == 2
    assert all(e["stage"] == "parse" and e["error"] and e["attempts"] == 1 for e in entries)
    proc = helpdesk.cli("quarantine", "retry", "--all", check=False)
    assert proc.returncode == 1 and "2 still quarantined" in proc.stdout
    assert [e["attempts"] for e in helpdesk.json("quarantine", "list")] == [2, 2]


def test_raw_bytes_are_kept_for_every_message(helpdesk):
    data = make_mail("Login gagal", LOGIN_FAULT)
    helpdesk.cli("ingest", str(helpdesk.write("1.eml", data)), str(helpdesk.write("2.eml", b"")))
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        rows = db.execute("SELECT d.data, r.state FROM raw_mail r JOIN raw_data d ON d.raw_id = r.id "
                          "ORDER BY r.id").fetchall()
    assert rows == [(data, "ticket"), (b"", "quarantined")]


def test_run_once_reads_the_maildir_in_delivery_order_and_marks_it_done(helpdesk):
    helpdesk.deliver(make_mail("Login gagal", LOGIN_FAULT, msgid="<m1@x.id>"))
    helpdesk.deliver(make_mail("Re: Login gagal", "tambahan", in_reply_to="<m1@x.id>", references="<m1@x.id>"))
    helpdesk.cli("run", "--once")
    assert list((helpdesk.inbox / "new").iterdir()) == []
    assert all(p.name.endswith(":2,S") for p in (helpdesk.inbox / "cur").iterdir())
    ticket = helpdesk.json("tickets", "show", "LPSE#1")
    assert [m["kind"] for m in ticket["messages"]] == ["report", "ack", "reply"]
    helpdesk.cli("run", "--once")
    assert len(helpdesk.sent("ack")) == 1


def test_mbox_and_folders_are_read_in_order(helpdesk):
    import mailbox

    box = mailbox.mbox(str(helpdesk.root / "in.mbox"))
    box.add(make_mail("Login gagal", LOGIN_FAULT, msgid="<m1@x.id>"))
    box.add(make_mail("Re: [LPSE#1] Login gagal", "tambahan", msgid="<m2@x.id>"))
    box.flush()
    box.close()
    folder = helpdesk.root / "folder"
    folder.mkdir()
    (folder / "b.eml").write_bytes(make_mail("Re: [LPSE#2] Syarat", "lagi", msgid="<m4@x.id>"))
    (folder / "a.eml").write_bytes(make_mail("Syarat daftar", REGISTRATION, msgid="<m3@x.id>"))
    helpdesk.cli("ingest", str(helpdesk.root / "in.mbox"), str(folder))
    assert len(helpdesk.json("tickets", "list")) == 2
    second = helpdesk.json("tickets", "show", "LPSE#2")
    assert [m["message_id"] for m in second["messages"] if m["direction"] == "in"] == ["<m3@x.id>", "<m4@x.id>"]


def test_no_send_only_queues(helpdesk):
    helpdesk.cli("ingest", "--no-send", str(helpdesk.write("1.eml", make_mail("Login gagal", LOGIN_FAULT))))
    assert helpdesk.sent() == []
    ticket = helpdesk.json("tickets", "show", "LPSE#1")
    assert ticket["messages"][1]["delivery"] == "queued"
    helpdesk.cli("run", "--once")
    assert len(helpdesk.sent("ack")) == 1


def test_bounce_of_our_acknowledgement_is_recorded_on_its_ticket(helpdesk):
    from email.message import EmailMessage

    helpdesk.cli("ingest", str(helpdesk.write("1.eml", make_mail("Login gagal", LOGIN_FAULT,
                                                                     sender="salah@tidak-ada.example"))))
    ack = read(helpdesk.sent("ack")[0])
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.net>"
    report["To"] = "provlampunglpse@gmail.com"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = "<bounce1@mx.example.net>"
    report.set_content("The mail system could not deliver your message.")
    report.add_attachment(ack)
    report.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; boundary="b1"')
    helpdesk.cli("ingest", str(helpdesk.write("2.eml", report.as_bytes())))
    ticket = helpdesk.json("tickets", "show", "LPSE#1")
    assert ticket["messages"][-1]["kind"] == "bounce"
    assert ticket["status"] == "new" and len(helpdesk.sent()) == 1


def test_acknowledgements_per_sender_are_rate_limited(helpdesk):
    helpdesk.config.write_text(helpdesk.config.read_text().replace(
        "[helpdesk]\n", "[helpdesk]\nmax_acks_per_hour = 3\n"))
    paths = [str(helpdesk.write(f"{i}.eml", make_mail(f"Auto {i}", LOGIN_FAULT, sender="robot@example.com")))
             for i in range(6)]
    helpdesk.cli("ingest", *paths)
    assert len(helpdesk.json("tickets", "list")) == 6
    assert len(helpdesk.sent("ack")) == 3
    last = helpdesk.json("tickets", "show", "LPSE#6")
    assert any(e["type"] == "ack-skipped" for e in last["events"])


def test_noreply_senders_are_never_answered(helpdesk):
    path = helpdesk.write("1.eml", make_mail("Notifikasi", LOGIN_FAULT, sender="no-reply@lpse.example.go.id"))
    helpdesk.cli("ingest", str(path))
    assert helpdesk.sent() == []


def test_a_mail_over_the_size_limit_is_kept_raw_and_the_reporter_told_the_limit(helpdesk):
    from email.message import EmailMessage

    helpdesk.config.write_text(helpdesk.config.read_text().replace(
        "[helpdesk]\n", "[helpdesk]\nmax_message_size = 1000000\n"))
    msg = EmailMessage()
    msg["From"] = "Budi <budi@example.co.id>"
    msg["To"] = "provlampunglpse@gmail.com"
    msg["Subject"] = "Dokumen penawaran gagal diunggah"
    msg["Message-ID"] = "<big@x.id>"
    msg.set_content("terlampir dokumennya")
    msg.add_attachment(b"%PDF" + bytes(2_000_000), maintype="application", subtype="pdf", filename="besar.pdf")
    data = msg.as_bytes()
    helpdesk.cli("ingest", str(helpdesk.write("1.eml", data)))
    ticket = helpdesk.json("tickets", "show", "LPSE#1")
    assert ticket["subject"] == "Dokumen penawaran gagal diunggah"
    [ack] = helpdesk.sent("ack")
    assert "melebihi batas ukuran" in read(ack).get_body(("plain",)).get_content()
    with sqlite3.connect(helpdesk.root / "mailticket.db") as db:
        assert db.execute("SELECT data FROM raw_data").fetchone()[0] == data
