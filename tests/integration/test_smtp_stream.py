"""A big mail goes over SMTP in slices (outgoing.smtp._sendmail_sliced), against the real aiosmtpd sink:
the bytes arrive exactly as stored (dot-stuffing undone by the server, also where a line starts on a
slice boundary), and every answer of the server means what it means for a small mail (sendmail)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import aiosmtplib
import pytest

from mailticket.db import models
from mailticket.outgoing import smtp
from mailticket.outgoing.send import PermanentFailure, Throttled
from mailticket.outgoing.smtp import SLICE, STREAM_OVER, SmtpTransport, make_client

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
HELPDESK = "provlampunglpse@gmail.com"
HEAD = (f"From: Helpdesk LPSE <{HELPDESK}>\r\nTo: rina@lampungprov.go.id\r\n"
        "Subject: [LPSE#7] Dokumen kualifikasi\r\nMessage-ID: <big.7@gmail.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n").encode()


def big_mail(size: int) -> bytes:
    """CRLF lines, many starting with "." (and one that is only "."), with these at slice boundaries:
    a line that starts there; a CRLF split across it then a "."; a "." in the middle of a line
    (never doubled); ".." at a line start; a line that is only "."; 8-bit text."""
    rng = random.Random(14)
    out = bytearray(HEAD)

    def pad_to(pos: int) -> None:  # one filler line ending exactly at pos
        out.extend(b"x" * (pos - len(out) - 2) + b"\r\n")

    def filler(until: int) -> None:
        while len(out) < until - 200:
            words = " ".join(rng.choice(["laporan", "tender", "é", "."]) for _ in range(rng.randrange(1, 14)))
            out.extend((rng.choice(["", "", ".", ".."]) + words + "\r\n").encode())

    boundaries = [
        (1, 0, b".line starting on the boundary\r\n"),
        (2, 1, b".after a CRLF split by the boundary\r\n"),  # CR the slice's last byte, LF the next's first
        (3, -10, b"abcdefghij.not at a line start\r\n"),
        (4, 0, b"..two dots at the boundary\r\n"),
        (5, 0, b".\r\n"),  # unstuffed this would end DATA here
        (6, 0, b"\r\n.after an empty line\r\n"),
    ]
    for k, shift, text in boundaries:
        filler(k * SLICE + shift)
        pad_to(k * SLICE + shift)
        out.extend(text)
    filler(size)
    out.extend(b".last line\r\n")
    data = bytes(out)
    assert data[2 * SLICE - 1:2 * SLICE + 2] == b"\r\n." and data[SLICE] == data[5 * SLICE] == ord(".")
    return data


def row(n: int, data: bytes, recipients: str = "rina@lampungprov.go.id\nsari@lampungprov.go.id") -> models.Outbox:
    return models.Outbox(id=n, kind="notify", message_id=f"<big.{n}@gmail.com>", sender=HELPDESK,
                         recipients=recipients, data=data, status="queued", attempts=0,
                         created_at=NOW, next_attempt_at=NOW)


@pytest.fixture
def no_sendmail(monkeypatch):
    """A big mail must not go through aiosmtplib's sendmail (it copies the message four times)."""
    async def refuse(*_args, **_kwargs):
        raise AssertionError("sendmail used for a big mail")

    monkeypatch.setattr(aiosmtplib.SMTP, "sendmail", refuse)


def test_a_5_mb_mail_arrives_byte_identical(smtp_sink, no_sendmail):
    data = big_mail(5 << 20)
    cut = data[:STREAM_OVER].rstrip(b"\r\n") + b" no line end"
    results = SmtpTransport(smtp_sink.settings()).deliver([row(1, data), row(2, cut)])

    assert results == {1: None, 2: None}
    assert smtp_sink.messages[0].data == data
    assert smtp_sink.messages[1].data == cut + b"\r\n"  # as sendmail: a last CRLF added
    assert smtp_sink.messages[0].rcpt_tos == ["rina@lampungprov.go.id", "sari@lampungprov.go.id"]
    assert smtp_sink.connections == 1


def test_bare_line_ends_become_crlf_as_sendmail_makes_them(smtp_sink, no_sendmail):
    lines = big_mail(STREAM_OVER + 3 * SLICE).split(b"\r\n")
    data = b"\n".join(lines[:300]) + b"\r" + b"\r\n".join(lines[300:]) + b"\rno end"
    SmtpTransport(smtp_sink.settings()).deliver([row(1, data)])

    from aiosmtplib.protocol import normalize_message_line_endings
    assert smtp_sink.messages[0].data == normalize_message_line_endings(data)


def test_slices_match_what_aiosmtplib_puts_on_the_wire():
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
    rng = random.Random(3)
    for _ in range(3000):
        data = b"".join(rng.choice([b"\r", b"\n", b".", b"a", b"\r\n", b"\n."]) for _ in range(rng.randrange(40)))
        wire = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data))
        for size in (1, 2, 3, 7):
            assert b"".join(smtp._wire(data, size)) == wire, (data, size)
        assert smtp._wire_size(data) == len(normalize_message_line_endings(data))


SCENARIOS = {
    "one recipient refused": dict(refuse={"sari@lampungprov.go.id": "550 5.1.1 no such user"}),
    "all recipients refused": dict(answers={"rcpt": "550 5.1.1 no such user"}),
    "recipients refused for now": dict(answers={"rcpt": "450 4.2.1 try later"}),
    "MAIL throttled": dict(answers={"mail": "421 4.7.0 Try again later"}),
    "DATA over the daily limit": dict(answers={"data": "550 5.4.5 Daily user sending limit exceeded"}),
    "DATA 4xx": dict(answers={"data": "451 4.3.0 Mail server temporarily rejected message"}),
    "DATA 5xx": dict(answers={"data": "554 5.7.0 Message rejected"}),
    "connection dropped": dict(drop_after=1),
    "no answer in time": dict(data_delay=1.0),
}


def outcome(result: Exception | None) -> tuple:
    return (type(result).__name__, str(result) if result else None, getattr(result, "refused", None),
            getattr(result, "daily", None))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_answer_means_what_it_means_for_a_small_mail(smtp_sink_factory, scenario, monkeypatch):
    sliced = []
    real = smtp._sendmail_sliced
    monkeypatch.setattr(smtp, "_sendmail_sliced", lambda *args: sliced.append(args[3]) or real(*args))
    seen = {}
    for label, data in (("small", HEAD + b"Terima kasih.\r\n"), ("big", big_mail(STREAM_OVER + SLICE))):
        sink = smtp_sink_factory(**SCENARIOS[scenario])
        transport = SmtpTransport(sink.settings(), client_factory=lambda s: make_client(s, timeout=0.5))
        results = transport.deliver([row(1, data), row(2, data, "budi@example.co.id")])
        seen[label] = ({n: outcome(r) for n, r in results.items()}, [m.data == data for m in sink.messages],
                       [m.rcpt_tos for m in sink.messages])
    assert seen["big"] == seen["small"]
    assert sliced and all(len(data) > STREAM_OVER for data in sliced)  # the big one went in slices
    if scenario == "all recipients refused":
        assert seen["big"][0][1][0] == "PermanentFailure"
    if scenario == "DATA over the daily limit":
        assert seen["big"][0][1][0] == "Throttled" and seen["big"][0][1][3] is True


def test_a_refused_big_mail_leaves_the_connection_ready_for_the_next(smtp_sink, no_sendmail):
    smtp_sink.refuse["gone@lampungprov.go.id"] = "550 5.1.1 no such user"
    data = big_mail(STREAM_OVER + SLICE)
    results = SmtpTransport(smtp_sink.settings()).deliver([row(1, data, "gone@lampungprov.go.id"),
                                                           row(2, data)])
    assert isinstance(results[1], PermanentFailure) and not isinstance(results[1], Throttled)
    assert results[2] is None and smtp_sink.messages[0].data == data
    assert smtp_sink.connections == 1
