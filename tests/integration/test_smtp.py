"""SmtpTransport against a real aiosmtpd server: bytes as-is, one connection per batch, 4xx/5xx sorted."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from mailticket.clock import FixedClock
from mailticket.db import models
from mailticket.db.session import transaction
from mailticket.outgoing.send import PartlyRefused, TemporaryFailure, send_queued
from mailticket.outgoing.smtp import SmtpTransport, make_client

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
HELPDESK = "provlampunglpse@gmail.com"


def mail(n: int) -> bytes:
    """CRLF bytes with an 8-bit body, as compose.py renders them."""
    return (f"From: Helpdesk LPSE <{HELPDESK}>\r\nTo: budi{n}@example.co.id\r\n"
            f"Subject: [LPSE#{n}] Laporan diterima\r\nMessage-ID: <ack.{n}@gmail.com>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            f"Terima kasih, laporan Anda kami terima — nomor {n}.\r\n.leading dot stays\r\n").encode()


def row(n: int, recipients: str = "") -> models.Outbox:
    return models.Outbox(id=n, kind="ack", message_id=f"<ack.{n}@gmail.com>", sender=HELPDESK,
                         recipients=recipients or f"budi{n}@example.co.id", data=mail(n),
                         status="queued", attempts=0, created_at=NOW, next_attempt_at=NOW)


def queue(db, rows: list[models.Outbox]) -> None:
    with transaction(db) as session:
        session.add_all(rows)


def outbox(db) -> list[models.Outbox]:
    with db() as session:
        return list(session.scalars(select(models.Outbox).order_by(models.Outbox.id)))


def test_delivers_the_stored_bytes_as_is_over_one_connection(smtp_sink, db):
    rows = [row(1), row(2, "budi2@example.co.id\nrina.helpdesk@lampungprov.go.id\n"), row(3)]
    queue(db, rows)
    report = send_queued(db, SmtpTransport(smtp_sink.settings()), FixedClock(NOW))

    assert (report.sent, report.failed, report.deferred) == (3, 0, 0)
    assert [m.data for m in smtp_sink.messages] == [mail(1), mail(2), mail(3)]
    assert smtp_sink.messages[1].rcpt_tos == ["budi2@example.co.id", "rina.helpdesk@lampungprov.go.id"]
    assert {m.mail_from for m in smtp_sink.messages} == {HELPDESK}
    assert smtp_sink.connections == 1
    assert [r.status for r in outbox(db)] == ["sent"] * 3


def test_4xx_is_a_temporary_failure_and_the_row_stays_queued(smtp_sink, db):
    smtp_sink.answers["data"] = "451 4.3.0 Mail server temporarily rejected message"
    queue(db, [row(1)])
    report = send_queued(db, SmtpTransport(smtp_sink.settings()), FixedClock(NOW))

    assert report.deferred == 1
    [stored] = outbox(db)
    assert stored.status == "queued" and stored.attempts == 1 and "451" in stored.last_error
    assert stored.next_attempt_at > NOW


def test_5xx_is_permanent_with_the_servers_words(smtp_sink, db):
    answer = "550 5.1.1 The email account that you tried to reach does not exist"
    smtp_sink.refuse["nobody@example.co.id"] = answer
    queue(db, [row(1, "nobody@example.co.id"), row(2)])
    report = send_queued(db, SmtpTransport(smtp_sink.settings()), FixedClock(NOW))

    assert (report.sent, report.failed) == (1, 1)
    failed, sent = outbox(db)
    assert failed.status == "failed"
    assert failed.last_error == "nobody@example.co.id: " + answer
    assert sent.status == "sent" and [m.data for m in smtp_sink.messages] == [mail(2)]
    assert smtp_sink.connections == 1  # the refusal did not cost the connection


def test_partly_refused_recipients_still_count_as_sent(smtp_sink):
    smtp_sink.refuse["gone@example.co.id"] = "550 5.1.1 no such user"
    results = SmtpTransport(smtp_sink.settings()).deliver([row(1, "gone@example.co.id\nbudi1@example.co.id")])
    assert isinstance(results[1], PartlyRefused)  # sent (not to be repeated), the refusal kept
    assert results[1].refused == {"gone@example.co.id": "550 5.1.1 no such user"}
    assert smtp_sink.messages[0].rcpt_tos == ["budi1@example.co.id"]


def test_connection_lost_mid_batch_leaves_the_rest_temporary(smtp_sink):
    smtp_sink.drop_after = 2
    results = SmtpTransport(smtp_sink.settings()).deliver([row(n) for n in range(1, 6)])

    assert results[1] is None and results[2] is None
    assert all(isinstance(results[n], TemporaryFailure) for n in (3, 4, 5))
    assert len(smtp_sink.messages) == 2


def test_a_server_that_does_not_answer_in_time_is_temporary(smtp_sink):
    smtp_sink.data_delay = 1.0
    transport = SmtpTransport(smtp_sink.settings(), client_factory=lambda s: make_client(s, timeout=0.3))
    results = transport.deliver([row(1), row(2)])
    assert all(isinstance(r, TemporaryFailure) for r in results.values())
    assert "timed out" in str(results[1]).lower()


def test_server_down_is_temporary_then_delivered_once_when_back(smtp_sink, db):
    clock = FixedClock(NOW)
    transport = SmtpTransport(smtp_sink.settings())
    queue(db, [row(1)])
    smtp_sink.stop()
    assert send_queued(db, transport, clock).deferred == 1
    assert outbox(db)[0].status == "queued"

    smtp_sink.start()
    clock.advance(timedelta(minutes=2))
    assert send_queued(db, transport, clock).sent == 1
    clock.advance(timedelta(hours=1))
    assert send_queued(db, transport, clock).sent == 0
    assert [m.data for m in smtp_sink.messages] == [mail(1)]


def test_login_and_a_refused_login(smtp_sink_factory):
    sink = smtp_sink_factory(auth=("helpdesk", "app-password"))
    assert SmtpTransport(sink.settings()).deliver([row(1)]) == {1: None}

    results = SmtpTransport(sink.settings(password="wrong")).deliver([row(2), row(3)])
    assert all(isinstance(r, TemporaryFailure) and "535" in str(r) for r in results.values())
    assert len(sink.messages) == 1


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_a_verified_certificate(smtp_sink_factory, tls_files, security):
    sink = smtp_sink_factory(tls=tls_files, implicit_tls=security == "ssl", auth=("helpdesk", "pw"))
    trusted = ssl.create_default_context(cafile=str(tls_files[0]))
    transport = SmtpTransport(sink.settings(security=security),
                              client_factory=lambda s: make_client(s, trusted, timeout=5))
    assert transport.deliver([row(1)]) == {1: None}
    assert sink.messages[0].data == mail(1)

    untrusted = SmtpTransport(sink.settings(security=security),
                              client_factory=lambda s: make_client(s, timeout=5))
    [failure] = untrusted.deliver([row(2)]).values()
    assert isinstance(failure, TemporaryFailure) and "certificate" in str(failure).lower()

