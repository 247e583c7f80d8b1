#!/usr/bin/env python3
"""SMTP sink for tests (aiosmtpd): every accepted message is written, byte for
byte, into a Maildir (DIR/new/), with Return-Path and Delivered-To prepended.
Optionally each message is also handed to Dovecot's LMTP, so mail "sent" by the
code under test shows up in the recipients' IMAP mailboxes.

  python tests/servers/smtp_sink.py --listen 127.0.0.1:10025 --maildir /tmp/x/sink \
      [--lmtp 127.0.0.1:10024] [--auth user:pass ...] [--starttls CERT KEY] \
      [--pidfile FILE] [--delay 0.1] [--answer mail="550 5.4.5 Daily user sending limit exceeded"]

--delay makes it take that long per mail (a real server's pace); --answer STAGE=REPLY answers
every MAIL, RCPT or DATA with REPLY instead (Gmail's daily limit, "421 4.7.0 Try again later",
"454 4.7.0 ...").

Prints "READY 127.0.0.1:PORT" on stdout once listening (port 0 = pick one).
SIGTERM/SIGINT stop it.  Needs: pip install aiosmtpd
"""
import argparse
import asyncio
import contextlib
import logging
import mailbox
import os
import signal
import smtplib
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class SinkHandler:
    def __init__(self, maildir, lmtp=None, delay=0.0, answers=None):
        self.md = mailbox.Maildir(maildir, create=True)
        self.lmtp = lmtp
        self.delay = delay
        self.answers = answers or {}  # stage (mail, rcpt, data) -> reply instead of accepting
        self.count = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if "mail" in self.answers:
            return self.answers["mail"]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if "rcpt" in self.answers:
            return self.answers["rcpt"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if "data" in self.answers:
            return self.answers["data"]
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        head = f"Return-Path: <{envelope.mail_from}>\r\n".encode()
        head += b"".join(f"Delivered-To: {r}\r\n".encode() for r in envelope.rcpt_tos)
        self.md.add(head + raw)            # tmp/ then rename into new/
        self.count += 1
        if self.lmtp:
            host, port = self.lmtp
            try:
                refused = await asyncio.to_thread(_lmtp_send, host, port, envelope.mail_from,
                                                  envelope.rcpt_tos, raw)
                if refused:
                    print(f"smtp_sink: LMTP refused {refused}", file=sys.stderr, flush=True)
            except Exception as e:  # keep sink semantics: accepted is accepted
                print(f"smtp_sink: LMTP error {e!r}", file=sys.stderr, flush=True)
        return "250 Message accepted for delivery"


def _lmtp_send(host, port, mail_from, rcpts, raw):
    with smtplib.LMTP(host, port, timeout=30) as lmtp:
        try:
            return lmtp.sendmail(mail_from, rcpts, raw)
        except smtplib.SMTPRecipientsRefused as e:
            return e.recipients


class Authenticator:
    def __init__(self, pairs):
        self.ok = {tuple(p.split(":", 1)) for p in pairs}

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            pair = (auth_data.login.decode(), auth_data.password.decode())
            if pair in self.ok:
                return AuthResult(success=True, auth_data=auth_data)
        # handled=False makes aiosmtpd answer 535; with the default handled=True
        # it sends nothing and the client waits until its timeout
        return AuthResult(success=False, handled=False)


# aiosmtpd 1.4 itself logs this on every successful AUTH; it is noise here
logging.getLogger("mail.log").addFilter(
    lambda r: "login_data is deprecated" not in r.getMessage())


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:10025")
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--lmtp", help="HOST:PORT of Dovecot LMTP to also deliver to")
    ap.add_argument("--auth", action="append", default=[], help="USER:PASS accepted for AUTH")
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--pidfile")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds taken per mail")
    ap.add_argument("--answer", action="append", default=[], metavar="STAGE=REPLY",
                    help="answer every MAIL, RCPT or DATA with REPLY")
    a = ap.parse_args()
    answers = dict(item.split("=", 1) for item in a.answer)
    host, port = a.listen.rsplit(":", 1)
    lmtp = None
    if a.lmtp:
        lh, lp = a.lmtp.rsplit(":", 1)
        lmtp = (lh, int(lp))
    handler = SinkHandler(a.maildir, lmtp, a.delay, answers)
    kw = dict(hostname="sink.test", ident="smtp_sink", enable_SMTPUTF8=True,
              data_size_limit=64 * 1024 * 1024)
    if a.auth:
        kw.update(authenticator=Authenticator(a.auth), auth_require_tls=False)
    if a.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*a.starttls)
        kw.update(tls_context=ctx)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **kw), host=host, port=int(port))
    bound = server.sockets[0].getsockname()
    if a.pidfile:
        with open(a.pidfile + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(a.pidfile + ".tmp", a.pidfile)
    print(f"READY {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    if a.pidfile:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(a.pidfile)


if __name__ == "__main__":
    asyncio.run(main())
