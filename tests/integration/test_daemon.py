"""`mailticket run` as a real process against a real Dovecot (IMAP IDLE) and a real SMTP server."""

from __future__ import annotations

import email
import json
import signal
import subprocess
import sys
import threading
import time
from email import policy

import pytest

from tests.conftest import make_mail
from tests.servers.fixtures import daemon_config

REPORT = "Selamat siang, saya gk bisa login ke SPSE sejak tadi pagi, muncul error 500.\n"


def write_config(tmp_path, dovecot, user, sink, idle=True, poll="60s"):
    return daemon_config(tmp_path / "mt.toml", dovecot, user, sink, idle=idle, poll=poll)


def start_daemon(config, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "mailticket.cli", "--config", str(config), "run"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    for line in proc.stderr:
        if "state=connected" in line or time.monotonic() > deadline:
            break
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe from filling
    return proc


def stop_daemon(proc) -> float:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    return time.monotonic() - start


def acks(sink):
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
def test_new_mail_is_acknowledged_within_two_seconds_and_sigterm_stops_cleanly(
        tmp_path, dovecot, imap_user, smtp_sink, idle):
    config = write_config(tmp_path, dovecot, imap_user, smtp_sink, idle=idle, poll="1s")
    proc = start_daemon(config, tmp_path)
    try:
        time.sleep(0.3)  # let it settle into IDLE (or its polling pause)
        start = time.monotonic()
        dovecot.append("INBOX", make_mail("Tidak bisa login", REPORT, msgid="<live1@x.id>"), user=imap_user)
        received = smtp_sink.wait_for(1, timeout=5)
        elapsed = time.monotonic() - start
        assert len(received) == 1, "no acknowledgement arrived"
        assert elapsed < 2.0, f"acknowledgement took {elapsed:.2f}s"
        [ack] = acks(smtp_sink)
        assert "[LPSE#1]" in ack["Subject"] and ack["In-Reply-To"] == "<live1@x.id>"
    finally:
        took = stop_daemon(proc)
    assert proc.returncode == 0
    assert took < 5.0


def test_status_reports_the_running_daemon(tmp_path, dovecot, imap_user, smtp_sink):
    config = write_config(tmp_path, dovecot, imap_user, smtp_sink, poll="1s")
    proc = start_daemon(config, tmp_path)
    try:
        time.sleep(1.5)
        out = subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(config), "status", "--json"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=30)
        data = json.loads(out.stdout)
        [daemon] = data["daemons"]
        assert daemon["inbox"].startswith(f"imap:{imap_user}@") and daemon["last_fetch"]
        assert data["outbox_queued"] == 0 and data["quarantined"] == 0
    finally:
        stop_daemon(proc)


def test_run_once_drains_an_imap_backlog_and_sends_every_ack_once(tmp_path, dovecot, imap_user, smtp_sink):
    for i in range(30):
        dovecot.append("INBOX", make_mail(f"Laporan {i}", REPORT, msgid=f"<b{i}@x.id>",
                                          sender=f"u{i}@example.co.id"), user=imap_user)
    config = write_config(tmp_path, dovecot, imap_user, smtp_sink)
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(config), "run", "--once"]
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    assert len(smtp_sink.messages) == 30
    assert len({m["In-Reply-To"] for m in acks(smtp_sink)}) == 30


def test_smtp_down_then_up_delivers_queued_mail_once(tmp_path, dovecot, imap_user, smtp_sink):
    config = write_config(tmp_path, dovecot, imap_user, smtp_sink)
    dovecot.append("INBOX", make_mail("Tidak bisa login", REPORT), user=imap_user)
    smtp_sink.stop()
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(config), "run", "--once"]
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    show = subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(config), "tickets", "show",
                           "1", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert json.loads(show.stdout)["messages"][1]["delivery"] == "queued"
    smtp_sink.start()
    # the retry waits for its backoff; move the row's next attempt to now, as time would
    import sqlite3

    with sqlite3.connect(tmp_path / "mt.db") as db:
        db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00'")
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=60).returncode == 0
    assert len(smtp_sink.messages) == 1


def test_oauth2_token_command_and_a_copy_in_the_sent_folder(tmp_path, dovecot, imap_user, smtp_sink):
    config = write_config(tmp_path, dovecot, imap_user, smtp_sink)
    token = tmp_path / "token.txt"
    token.write_text(dovecot.users[imap_user] + "\n")  # the test server takes the password as the token
    text = config.read_text().replace(f'password = "{dovecot.users[imap_user]}"\n',
                                      f'oauth2_token_command = "cat {token}"\n')
    config.write_text(text.replace('[smtp]\nkind = "smtp"\n', '[smtp]\nkind = "smtp"\nsent_folder = "Sent"\n'))
    dovecot.append("INBOX", make_mail("Tidak bisa login", REPORT, msgid="<oauth1@x.id>"), user=imap_user)
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(config), "run", "--once"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(smtp_sink.messages) == 1
    client = dovecot.client(imap_user)
    try:
        client.select_folder("Sent")
        [uid] = client.search("ALL")
        copy = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    finally:
        client.logout()
    assert b"[LPSE#1]" in copy


def test_sigterm_mid_batch_exits_cleanly_and_loses_nothing(tmp_path, dovecot, imap_user, smtp_sink):
    client = dovecot.client(imap_user)
    for i in range(300):
        client.append("INBOX", make_mail(f"Laporan {i}", REPORT, msgid=f"<t{i}@x.id>", sender=f"s{i}@example.id"))
    client.logout()
    config = write_config(tmp_path, dovecot, imap_user, smtp_sink)
    proc = subprocess.Popen([sys.executable, "-m", "mailticket.cli", "--config", str(config), "run"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # in the middle of the backlog
    assert stop_daemon(proc) < 5.0
    assert proc.returncode == 0
    cmd = [sys.executable, "-m", "mailticket.cli", "--config", str(config), "run", "--once"]
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=120).returncode == 0
    assert len(smtp_sink.messages) == 300
    assert len({m["In-Reply-To"] for m in acks(smtp_sink)}) == 300
