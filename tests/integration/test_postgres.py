"""mailticket on a real PostgreSQL: the schema, the ingest suite, and several daemons sharing one database.

The scale-out test runs three real `mailticket run` processes against one database, one Dovecot
inbox and one SMTP sink while 300 messages arrive, kills the inbox reader with SIGKILL, and then
checks that each message was processed once and replies sit on their report's ticket, ticket
numbers are unique (and gap-free before the kill), and each report got exactly one
acknowledgement. A second test ends every database session and then stops the server for three
seconds under two daemons: nothing is lost or repeated, the daemons live on and log one line.
"""

from __future__ import annotations

import email
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

import tests.integration.test_ingest as suite
from mailticket.db import models
from mailticket.db.session import (
    SCHEMA_HEAD,
    alembic_config,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from mailticket.store.lease import InboxLease
from mailticket.store.rawmail import claim_raw_ids, keep_raw, pending_raw_ids
from mailticket.store.tickets import next_ticket_number
from mailticket.types import RawMail
from tests.conftest import Helpdesk, make_mail
from tests.servers.fixtures import daemon_config

REPORT = "Selamat siang, saya gk bisa login ke SPSE sejak tadi pagi, muncul error 500.\n"
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def engine_for(url: str):
    engine = make_engine(url)
    upgrade(engine)
    return engine


# -- schema -------------------------------------------------------------------------------------


def test_db_upgrade_on_postgres_from_empty_matches_the_models(tmp_path, pg_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = tmp_path / "mt.toml"
    config.write_text(f'[database]\nurl = "{pg_url}"\n')
    proc = subprocess.run([sys.executable, "-m", "mailticket.cli", "--config", str(config), "db", "upgrade"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"revision {SCHEMA_HEAD}" in proc.stdout
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), models.Base.metadata) == []
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
        assert conn.execute(text("SELECT to_regclass('ticket_number_seq')")).scalar() == "ticket_number_seq"
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == SCHEMA_HEAD
    engine.dispose()


def test_the_sequence_continues_the_register_across_downgrade_and_upgrade(pg_url):
    from alembic import command

    engine = engine_for(pg_url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        assert [next_ticket_number(session, 1) for _ in range(3)] == [1, 2, 3]
    command.downgrade(alembic_config(engine), "0003")  # the sequence's position goes to the counters row
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM counters WHERE name = 'ticket'")).scalar() == 3
    upgrade(engine)  # and back into a new sequence
    with transaction(factory) as session:
        assert next_ticket_number(session, 1) == 4
    engine.dispose()


def test_raw_bytes_move_to_their_own_table_and_back_on_postgres(pg_url):
    from tests.integration.test_cli import check_raw_bytes_move_to_raw_data_and_back

    check_raw_bytes_move_to_raw_data_and_back(pg_url)


# -- the ingest suite, on PostgreSQL ----------------------------------------------------------------

INGEST_CASES = [
    suite.test_new_reports_become_classified_tickets_with_one_ack_each,
    suite.test_reingesting_the_same_messages_changes_nothing,
    suite.test_replies_thread_by_token_by_references_and_unknown_token_opens_a_ticket,
    suite.test_reply_that_lost_the_token_finds_its_ticket_through_our_message_id,
    suite.test_first_number_continues_an_existing_register,
    suite.test_non_reports_are_kept_without_ticket_or_reply,
    suite.test_broken_mail_is_quarantined_and_the_rest_goes_on,
]


@pytest.mark.parametrize("case", INGEST_CASES, ids=lambda case: case.__name__.removeprefix("test_"))
def test_ingest_suite_on_postgres(case, tmp_path, pg_url):
    desk = Helpdesk(tmp_path)
    sqlite_url = 'url = "sqlite:///mailticket.db"'
    assert sqlite_url in desk.config.read_text()
    desk.config.write_text(desk.config.read_text().replace(sqlite_url, f'url = "{pg_url}"'))
    case(desk)


def test_a_batch_split_around_breaking_messages_leaves_no_gap_in_the_register(tmp_path, pg_url, monkeypatch):
    from mailticket.app.daemon import App
    from mailticket.config import load
    from tests.integration.test_pipeline import _batch_with_two_breaking_messages, _breaking

    desk = Helpdesk(tmp_path)
    desk.config.write_text(desk.config.read_text().replace('url = "sqlite:///mailticket.db"', f'url = "{pg_url}"'))
    app = App(load(str(desk.config)))
    calls: list[int] = []
    _breaking(app, monkeypatch, calls)
    app.ingest([str(p) for p in _batch_with_two_breaking_messages(desk)])
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        states = conn.execute(text("SELECT state FROM raw_mail ORDER BY id")).scalars().all()
        numbers = conn.execute(text("SELECT number FROM tickets ORDER BY number")).scalars().all()
        replies = conn.execute(text("SELECT t.number FROM messages m JOIN tickets t ON t.id = m.ticket_id "
                                    "WHERE m.kind = 'reply' ORDER BY m.id")).scalars().all()
    engine.dispose()
    assert states.count("quarantined") == 2 and states.count("ticket") == 8
    # the numbers drawn for tickets rolled back with the batch were given out again
    assert numbers == [1, 2, 3, 4, 5, 6] and replies == [1, 3]
    assert len(desk.sent("ack")) == 6


# -- ticket numbers, claims and the lease, in process ------------------------------------------------


def test_ticket_numbers_are_unique_across_concurrent_transactions_and_honour_first_number(pg_url):
    engine = engine_for(pg_url)
    factory = session_factory(engine)
    numbers: list[int] = []
    barrier = threading.Barrier(8)

    def take(first_number: int) -> None:
        with transaction(factory) as session:
            barrier.wait()
            taken = [next_ticket_number(session, first_number) for _ in range(25)]
        numbers.extend(taken)

    threads = [threading.Thread(target=take, args=(1000,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == list(range(1000, 1200))  # below the floor: moved up once, nothing twice
    with transaction(factory) as session:
        assert next_ticket_number(session, 1) == 1200  # a lower first_number never lowers it
        assert next_ticket_number(session, 1203) == 1203  # close above: drawn up to it
    engine.dispose()


def test_a_mail_to_hundreds_of_addresses_is_queued_on_postgres(pg_url):
    """The acknowledgement limit's index covers acks only: a relay to a reporter and 300 Cc addresses
    (9 kB of recipients) fits; over the whole column PostgreSQL refused entries over ~2.7 kB."""
    import secrets

    engine = engine_for(pg_url)
    # random addresses: what the index would hold does not compress below PostgreSQL's cap
    many = "\n".join(f"{secrets.token_hex(12)}@example.co.id" for _ in range(300))
    with transaction(session_factory(engine)) as session:
        session.add(models.Outbox(kind="relay", message_id="<many@x>", sender="provlampunglpse@gmail.com",
                                  recipients=many, data=b"x", created_at=NOW, next_attempt_at=NOW))
    with transaction(session_factory(engine)) as session:
        assert session.scalar(select(models.Outbox.recipients).where(models.Outbox.message_id == "<many@x>")) == many
    engine.dispose()


def test_two_instances_blocking_one_sender_at_once_both_succeed(pg_url):
    from mailticket.store import trust

    engine = engine_for(pg_url)
    factory = session_factory(engine)
    barrier, added, errors = threading.Barrier(2), [], []

    def block(by: str) -> None:
        try:
            with transaction(factory) as session:
                trust.blocked_why(session, "x@example.net")  # the batch has read the list already
                barrier.wait()
                added.append(trust.block(session, "Iklan@Example.net", "#spam", by, NOW))
                assert trust.blocked_why(session, "iklan@example.net")  # seen at once in this batch
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=block, args=(by,)) for by in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(added) == [False, True]
    with transaction(factory) as session:
        assert [row.address for row in trust.blocked_list(session)] == ["iklan@example.net"]
    engine.dispose()


def test_pending_rows_are_claimed_once_and_a_reply_waits_for_its_report(pg_url):
    engine = engine_for(pg_url)
    factory = session_factory(engine)
    report = make_mail("Tidak bisa login", REPORT, msgid="<report@x.id>")
    reply = make_mail("Re: Tidak bisa login", "masih gagal", msgid="<reply@x.id>",
                      references="<unknown@x.id> <report@x.id>")
    reply = reply.replace(b"<unknown@x.id> <report@x.id>", b"<unknown@x.id>\r\n\t<report@x.id>")  # folded
    again = make_mail("Re: Re: Tidak bisa login", "tolong", msgid="<again@x.id>",
                      in_reply_to="<reply@x.id>", references="<reply@x.id>")
    other = make_mail("Lupa password", REPORT, msgid="<other@x.id>")
    with transaction(factory) as session:
        raws = [RawMail(data, "test", str(i)) for i, data in enumerate([report, reply, again, other])]
        keep_raw(session, raws, NOW)
        ids = list(session.scalars(select(models.RawMail.id).order_by(models.RawMail.id)))
    first, second = factory(), factory()
    with first.begin():
        assert pending_raw_ids(first, 1) == [ids[0]]  # instance 1 holds the report
        with second.begin():
            # instance 2 skips it; the reply waits for it, the reply to that reply too; the rest goes on
            assert pending_raw_ids(second, 10) == [ids[3]]
        assert claim_raw_ids(first, ids) == [ids[0], ids[1], ids[2], ids[3]]
        first.get(models.RawMail, ids[0]).state = "ticket"
    with second.begin():
        assert pending_raw_ids(second, 10) == [ids[1], ids[2], ids[3]]
    first.close()
    second.close()
    engine.dispose()


def _lock_holders(postgres, dbname: str) -> list[str]:
    with postgres.admin(dbname) as conn:
        return [row[0] for row in conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'mailticket lease%'")]


def test_one_inbox_reader_and_a_takeover_when_its_connection_is_lost(postgres, pg_url, tmp_path):
    engine, other_engine = engine_for(pg_url), make_engine(pg_url)
    first, second = InboxLease(engine, "imap:a@host/INBOX"), InboxLease(other_engine, "imap:a@host/INBOX")
    elsewhere = InboxLease(other_engine, "imap:b@host/INBOX")
    assert first.acquire() and first.held() and first.acquire()
    assert not second.acquire() and not second.held()
    assert elsewhere.acquire()  # another mailbox, another lock
    dbname = pg_url.rsplit("/", 1)[1]
    with postgres.admin(dbname) as conn:  # the reader's database session ends (a network cut, an operator)
        ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                             "AND objid::bigint = %s", (first.key & 0xFFFFFFFF,)).fetchall()
    assert ended == [(True,)]
    deadline = time.monotonic() + 5
    while not second.acquire():
        assert time.monotonic() < deadline, "the stand-by did not take over"
        time.sleep(0.05)
    assert not first.held() and not first.acquire()  # the old reader notices and stands by
    second.release()
    assert first.acquire()
    first.release()
    elsewhere.release()
    sqlite = make_engine(f"sqlite:///{tmp_path}/x.db")
    assert InboxLease(sqlite, "imap:a@host/INBOX").acquire()  # SQLite: always the reader
    engine.dispose()
    other_engine.dispose()


# -- scale-out: daemons sharing one database ---------------------------------------------------------

DAEMONS = 3
WAVES = 40  # 1000 messages arrive in waves while the daemons run: 20 reports and 5 replies each
KILL_BEFORE_WAVE = 5  # the reader is killed while it fetches this wave


def imap_config(tmp_path: Path, url: str, dovecot, user: str, sink) -> Path:
    return daemon_config(tmp_path / "mt.toml", dovecot, user, sink, database=url, poll="1s")


class Fleet:
    """`mailticket run` processes on one config, each logging to its own file."""

    def __init__(self, tmp_path: Path, config: Path):
        self.tmp_path, self.config = tmp_path, config
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, n: int) -> None:
        for _ in range(n):
            log = self.tmp_path / f"daemon{len(self.procs)}.log"
            with open(log, "wb") as fh:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "mailticket.cli", "--config", str(self.config), "run"],
                    cwd=self.tmp_path, stdout=subprocess.DEVNULL, stderr=fh))
            self.logs.append(log)

    def index(self, pid: int) -> int:
        return next(i for i, proc in enumerate(self.procs) if proc.pid == pid)

    def log(self, i: int) -> str:
        return self.logs[i].read_text(errors="replace")

    def stop(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return [proc.returncode for proc in self.procs]


def reader_pid(postgres, dbname: str) -> int | None:
    """The pid of the process holding the inbox lease (its lock connection's application_name)."""
    holders = _lock_holders(postgres, dbname)
    return int(holders[0].rsplit(" ", 1)[1]) if holders else None


def wait_for(condition, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(step)


def wave(n: int) -> list[tuple[str, bytes, str]]:
    """(kind, bytes, report Message-ID) for one wave: reports, and replies to this or the last wave."""
    mails = []
    for i in range(20):
        msgid = f"<r{n}.{i}@x.id>"
        mails.append(("report", make_mail(f"Laporan {n}-{i}: tidak bisa login", REPORT, msgid=msgid,
                                          sender=f"u{n}x{i}@example.co.id"), msgid))
    for i in range(5):
        target_wave, target = (n, 2 * i) if i < 3 else (max(0, n - 1), 10 + i)
        parent = f"<r{target_wave}.{target}@x.id>"
        mails.append(("reply", make_mail(f"Re: Laporan {target_wave}-{target}: tidak bisa login",
                                         "masih gagal, mohon dicek", msgid=f"<re{n}.{i}@x.id>",
                                         sender=f"u{target_wave}x{target}@example.co.id",
                                         in_reply_to=parent, references=parent), parent))
    return mails


def processed(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM raw_mail WHERE state <> 'pending'")).scalar()


def ticket_numbers(engine) -> list[int]:
    with engine.connect() as conn:
        return [n for (n,) in conn.execute(text("SELECT number FROM tickets ORDER BY number"))]


def test_three_daemons_share_one_database_and_survive_a_killed_reader(
        tmp_path, postgres, pg_url, dovecot, smtp_sink):
    user, _password = dovecot.new_user("scale")
    engine = engine_for(pg_url)
    dbname = pg_url.rsplit("/", 1)[1]
    fleet = Fleet(tmp_path, imap_config(tmp_path, pg_url, dovecot, user, smtp_sink))
    sent: list[tuple[str, bytes, str]] = []
    imap = dovecot.client(user)

    def append(mails) -> None:
        for _kind, data, _parent in mails:
            imap.append("INBOX", data)
        sent.extend(mails)

    try:
        fleet.start(DAEMONS)
        first_reader = wait_for(lambda: reader_pid(postgres, dbname), 30, "a first inbox reader")
        for n in range(WAVES):
            if n == KILL_BEFORE_WAVE:
                # no crash so far: every message done once, the register without a gap
                wait_for(lambda: processed(engine) == len(sent), 20, "the first waves", step=0.1)
                reports = sum(1 for kind, _data, _parent in sent if kind == "report")
                assert ticket_numbers(engine) == list(range(1, reports + 1))
                takeover = kill_the_reader_mid_fetch(fleet, postgres, dbname, lambda n=n: append(wave(n)))
            else:
                append(wave(n))
            time.sleep(0.1)
        reports = [parent for kind, _data, parent in sent if kind == "report"]
        wait_for(lambda: processed(engine) == len(sent), 120, "every message processed", step=0.2)
        smtp_sink.wait_for(len(reports), timeout=60)
        time.sleep(1.0)  # anything sent twice would arrive now
    finally:
        imap.logout()
        codes = fleet.stop()
    check_outcome(engine, sent, smtp_sink.messages)
    decisions = [len(re.findall(r"stage=store raw=\d+ token=", fleet.log(i))) for i in range(DAEMONS)]
    print(f"\nfirst reader pid {first_reader}; takeover after the kill {takeover:.1f}s; "
          f"decisions logged per daemon {decisions}")
    assert takeover < 15
    assert sum(1 for n in decisions if n) >= 2, f"the work was not spread: {decisions}"
    # the survivors stop cleanly on SIGTERM (else: the end of the log of each that did not)
    assert sorted(codes) == [-signal.SIGKILL, 0, 0], [fleet.log(i)[-3000:] for i, code in enumerate(codes)
                                                      if code not in (0, -signal.SIGKILL)]
    engine.dispose()


def kill_the_reader_mid_fetch(fleet: Fleet, postgres, dbname: str, append) -> float:
    """SIGKILL the reader right after it committed a fetch batch; returns how long the takeover took."""
    pid = wait_for(lambda: reader_pid(postgres, dbname), 15, "an inbox reader")
    index = fleet.index(pid)
    seen = fleet.log(index).count("up_to_uid=")
    append()
    wait_for(lambda: fleet.log(index).count("up_to_uid=") > seen, 10, "the reader's fetch", step=0.002)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    fleet.procs[index].wait(timeout=5)
    wait_for(lambda: (holder := reader_pid(postgres, dbname)) and holder != pid, 15, "a new inbox reader")
    return time.monotonic() - killed


def check_outcome(engine, sent, received) -> None:
    """Each message processed once and on the right ticket, unique numbers, one ack per report."""
    reports = [parent for kind, _data, parent in sent if kind == "report"]
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT state, count(*) FROM raw_mail GROUP BY state")).all())
        incoming = conn.execute(text(
            "SELECT m.raw_id, m.message_id, m.kind, (SELECT r.message_id FROM messages r "
            "WHERE r.ticket_id = m.ticket_id AND r.kind = 'report') FROM messages m WHERE m.direction = 'in'"
        )).all()
        outbox = dict(conn.execute(text("SELECT status, count(*) FROM outbox GROUP BY status")).all())
    numbers = ticket_numbers(engine)
    assert states == {"ticket": len(sent)}, states
    raw_ids = [row[0] for row in incoming]
    assert len(raw_ids) == len(set(raw_ids)) == len(sent), "a message was processed twice or not at all"
    assert len(numbers) == len(set(numbers)) == len(reports), "a ticket number was given twice"
    gaps = numbers[-1] - len(numbers)
    print(f"\ntickets {len(numbers)}: numbers 1..{numbers[-1]} ({gaps} drawn by rolled-back work)")
    where = {message_id: (kind, report) for _raw, message_id, kind, report in incoming}
    for kind, data, parent in sent:
        message_id = email.message_from_bytes(data)["Message-ID"]
        assert where[message_id] == (kind, parent), f"{message_id} is {where[message_id]}"
    assert outbox == {"sent": len(reports)}, outbox
    acks = [email.message_from_bytes(m.data, policy=policy.default)["In-Reply-To"] for m in received]
    assert sorted(acks) == sorted(reports), "not exactly one acknowledgement per report"


def maildir_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "mt.toml"
    config.write_text(textwrap.dedent(f"""\
        [helpdesk]
        address = "provlampunglpse@gmail.com"
        [database]
        url = "{url}"
        [inbox]
        kind = "maildir"
        path = "mail"
        poll_interval = "1s"
        [smtp]
        kind = "directory"
        path = "outbox"
        """))
    return config


def test_daemons_ride_out_lost_connections_and_an_outage_without_losing_or_repeating_mail(
        tmp_path, postgres, pg_url):
    engine = engine_for(pg_url)
    dbname = pg_url.rsplit("/", 1)[1]
    desk = Helpdesk(tmp_path)  # for its Maildir delivery; the daemons get their own config below
    fleet = Fleet(tmp_path, maildir_config(tmp_path, pg_url))
    total = 0

    def deliver(n: int) -> None:
        nonlocal total
        for i in range(15):
            desk.deliver(make_mail(f"Laporan {n}-{i}", REPORT, msgid=f"<m{n}.{i}@x.id>",
                                   sender=f"m{n}x{i}@example.co.id"))
        total += 15

    try:
        fleet.start(2)
        wait_for(lambda: reader_pid(postgres, dbname), 30, "an inbox reader")
        started = [len(fleet.log(i)) for i in range(2)]
        deliver(0)
        time.sleep(0.5)
        deliver(1)
        with postgres.admin(dbname) as conn:  # every session ends at once: a failover, a network cut
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (dbname,))
        time.sleep(0.5)
        deliver(2)
        postgres.stop()  # the server is away for three seconds while mail keeps arriving
        deliver(3)
        time.sleep(3)
        postgres.start()
        deliver(4)
        wait_for(lambda: processed(engine) == total, 40, "every message processed", step=0.2)
        wait_for(lambda: len(desk.sent("ack")) == total, 15, "every acknowledgement")
        wait_for(lambda: reader_pid(postgres, dbname), 15, "an inbox reader after the outage")
        assert all(proc.poll() is None for proc in fleet.procs), "a daemon died"
    finally:
        codes = fleet.stop()
    assert codes == [0, 0]
    numbers = ticket_numbers(engine)
    assert len(set(numbers)) == len(numbers) == total
    assert len(desk.sent("ack")) == total
    logs = [fleet.log(i)[started[i]:] for i in range(2)]
    assert any("database unavailable" in log for log in logs)
    for log in logs:
        assert "Traceback" not in log, log[-3000:]  # one clear line per failure, not a stack dump
    engine.dispose()


# -- the scheduler on several instances --------------------------------------------------------------


def tick_together(apps, action) -> None:
    """`action(app)` for each app in its own thread at once; at most one may lose its transaction."""
    errors: list[BaseException] = []

    def run(app) -> None:
        try:
            action(app)
        except Exception as exc:  # noqa: BLE001 - a losing instance may fail its transaction: that is fine
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) <= 1, errors


def test_warning_breach_and_digest_go_out_once_when_two_instances_tick_together(tmp_path, pg_url):
    from datetime import UTC, datetime, timedelta

    from mailticket.app.daemon import App
    from mailticket.clock import FixedClock
    from mailticket.config import load

    desk = Helpdesk(tmp_path, extra='[staff]\ncoordinators = [{ name = "k", email = "k@lampungprov.go.id" }]\n')
    desk.config.write_text(desk.config.read_text().replace('url = "sqlite:///mailticket.db"', f'url = "{pg_url}"'))
    clock = FixedClock(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))  # 08:00 WIB
    first = App(load(str(desk.config)), clock=clock)
    first.ingest([str(desk.write("1.eml", make_mail("Reset password", "Mohon reset password akun penyedia, lupa password.")))])
    second = App(load(str(desk.config)), clock=clock)

    def together(action) -> None:
        tick_together((first, second), action)

    for minutes in (50, 20):  # past 0.75 of the 1 h target, then past the target
        clock.advance(timedelta(minutes=minutes))
        together(lambda app: app.scheduler.check_sla(clock.now()))
    together(lambda app: app.scheduler.send_digest_if_due(clock.now()))  # 09:10 WIB: after 07:30
    with engine_for(pg_url).connect() as conn:
        kinds = [k for (k,) in conn.execute(text("SELECT kind FROM outbox ORDER BY id"))]
    assert kinds.count("warning") == 1 and kinds.count("breach") == 1 and kinds.count("digest") == 1


def test_auto_close_reminds_and_closes_once_when_two_instances_tick_together(tmp_path, pg_url):
    from mailticket.app.daemon import App
    from mailticket.clock import FixedClock
    from mailticket.config import load
    from tests.integration.mailcheck import staff_mail
    from tests.integration.test_autoclose import AUTO_CLOSE, CLOSE, REMIND, REPORTED, WAITING

    desk = Helpdesk(tmp_path, extra=AUTO_CLOSE)
    desk.config.write_text(desk.config.read_text().replace('url = "sqlite:///mailticket.db"', f'url = "{pg_url}"'))
    clock = FixedClock(REPORTED)
    first = App(load(str(desk.config)), clock=clock)
    first.ingest([str(desk.write("1.eml", make_mail("Tidak bisa login", REPORT, sender="Budi <budi@example.co.id>")))])
    clock.advance(WAITING - REPORTED)
    first.ingest([str(desk.write("2.eml", staff_mail("#tunggu\nMohon kirim tangkapan layar.")))])
    second = App(load(str(desk.config)), clock=clock)

    def together() -> None:
        tick_together((first, second), lambda app: app.scheduler.tick())

    def kinds() -> list[str]:
        with engine_for(pg_url).connect() as conn:
            return [k for (k,) in conn.execute(text("SELECT kind FROM outbox ORDER BY id"))]

    for at in (REMIND, REMIND + timedelta(minutes=1)):
        clock.advance(at - clock.now())
        together()
    assert kinds().count("reminder") == 1 and "autoclose" not in kinds()
    for at in (CLOSE, CLOSE + timedelta(minutes=1)):
        clock.advance(at - clock.now())
        together()
    assert kinds().count("reminder") == 1 and kinds().count("autoclose") == 1
    with engine_for(pg_url).connect() as conn:
        status, = conn.execute(text("SELECT status FROM tickets")).one()
        events = [t for (t,) in conn.execute(text("SELECT type FROM events WHERE type IN ('reminded', 'closed')"))]
    assert status == "closed" and sorted(events) == ["closed", "reminded"]


def test_two_instances_writing_one_meta_key_at_once_both_succeed(pg_url):
    """Two daemons on one host stop together and both write `status:<host>:stopped` (and two
    throttled instances both pause the queue): an upsert, never a duplicate-key failure."""
    from mailticket.db.session import ensure_schema, session_factory, transaction
    from mailticket.store import meta

    engine = engine_for(pg_url)
    ensure_schema(engine)
    factory = session_factory(engine)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(value: str) -> None:
        try:
            with transaction(factory) as session:
                barrier.wait(timeout=10)
                meta.put(session, "status:vm:stopped", value)
        except Exception as exc:  # noqa: BLE001 - collected: the test fails on any
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(value,)) for value in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        [(value,)] = conn.execute(text("SELECT value FROM meta WHERE key = 'status:vm:stopped'")).all()
    assert value in ("first", "second")
    engine.dispose()


def test_the_monthly_report_goes_out_once_when_two_instances_tick_together(tmp_path, pg_url, monkeypatch):
    """Two daemons on one database reach the report's claim at the same moment (a barrier just before
    it, inside their transactions): one queues November's report, the other finds it claimed."""
    from types import SimpleNamespace

    from mailticket.app import report
    from mailticket.app.daemon import App
    from mailticket.clock import FixedClock
    from mailticket.config import load
    from mailticket.store import meta

    coordinators = ("k@lampungprov.go.id", "kepala@lampungprov.go.id")
    desk = Helpdesk(tmp_path, extra='[staff]\ncoordinators = [{ name = "k", email = "k@lampungprov.go.id" }, '
                                    '{ name = "kepala", email = "kepala@lampungprov.go.id" }]\n[report]\nday = 1\n')
    desk.config.write_text(desk.config.read_text().replace('url = "sqlite:///mailticket.db"', f'url = "{pg_url}"'))
    clock = FixedClock(NOW)  # 25 November 10:00 WIB
    first = App(load(str(desk.config)), clock=clock)
    for n in (1, 2):
        first.ingest([str(desk.write(f"{n}.eml", make_mail(f"Laporan {n}", REPORT, sender=f"p{n}@example.co.id")))])
    second = App(load(str(desk.config)), clock=clock)
    barrier = threading.Barrier(2)
    claims: list[bool] = []

    def claim_together(session, key, value) -> bool:
        barrier.wait(timeout=10)  # both inside their transaction, neither has claimed yet
        claims.append(won := meta.claim_later(session, key, value))
        return won

    monkeypatch.setattr(report, "meta", SimpleNamespace(claim_later=claim_together))

    def both(action) -> None:
        errors: list[BaseException] = []

        def run(app) -> None:
            try:
                action(app)
            except Exception as exc:  # noqa: BLE001 - collected: the test fails on any
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(app,)) for app in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

    def reports() -> list[tuple[str, str]]:
        with engine_for(pg_url).connect() as conn:
            return [tuple(row) for row in conn.execute(text(
                "SELECT status, recipients FROM outbox WHERE kind = 'report' ORDER BY id"))]

    clock.advance(datetime(2026, 12, 1, 0, 29, tzinfo=UTC) - clock.now())  # 1 December 07:29 WIB: not yet
    both(lambda app: app.scheduler.tick())
    assert claims == [] and reports() == []

    clock.advance(timedelta(minutes=1))  # 07:30 WIB on [report] day 1
    both(lambda app: app.scheduler.tick())
    both(lambda app: app.send())
    assert reports() == [("sent", "\n".join(coordinators))]
    assert sorted(claims) == [False, True]
    [mail] = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in desk.sent("report")]
    assert {a.addr_spec for a in mail["To"].addresses} == set(coordinators)
    assert str(mail["Subject"]).endswith("November 2026")
    assert "- Tiket diterima: 2 (0)" in mail.get_body(("plain",)).get_content()

    clock.advance(timedelta(days=1))  # the next day, both again: the claim stands
    both(lambda app: app.scheduler.tick())
    both(lambda app: app.send())
    assert len(reports()) == 1 and len(desk.sent("report")) == 1
    assert len(claims) == 4 and claims.count(True) == 1
    with engine_for(pg_url).connect() as conn:
        assert conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": report.REPORT_KEY}).scalar() \
            == "2026-11"
