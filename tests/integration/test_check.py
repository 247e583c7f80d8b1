"""`check` against real servers: it logs in, says what works, and explains what does not."""

from __future__ import annotations

import pytest

from mailticket.cli.check import check
from mailticket.config import build
from tests.servers.fixtures import free_port


@pytest.fixture(autouse=True)
def no_password_from_the_environment(monkeypatch):
    monkeypatch.delenv("MAILTICKET_IMAP_PASSWORD", raising=False)
    monkeypatch.delenv("MAILTICKET_SMTP_PASSWORD", raising=False)


def settings(tmp_path, inbox: dict, smtp: dict):
    return build({"inbox": inbox, "smtp": smtp}, "test.toml", tmp_path)


def imap(dovecot, **changes) -> dict:
    return {"kind": "imap", "host": "127.0.0.1", "port": dovecot.port, "security": "none",
            "username": "helpdesk", "password": "helpdesk-pw", **changes}


def smtp(sink, **changes) -> dict:
    user, password = sink.auth or ("", "")
    return {"kind": "smtp", "host": "127.0.0.1", "port": sink.port, "security": "none",
            "username": user, "password": password, **changes}


def text(lines: list[str]) -> str:
    return "\n".join(lines)


def test_everything_works(dovecot, smtp_sink_factory, tmp_path):
    sink = smtp_sink_factory(auth=("helpdesk", "app-password"))
    ok, lines = check(settings(tmp_path, imap(dovecot), smtp(sink)))
    assert ok, text(lines)
    assert all(line.startswith("ok") for line in lines)
    report = text(lines)
    assert "imap: logged in as helpdesk" in report and "smtp: logged in as helpdesk" in report
    assert "IDLE available" in report and "MOVE available" in report
    assert sink.messages == []  # nothing is sent


def test_wrong_imap_password_says_so_with_the_gmail_hints(dovecot, smtp_sink, tmp_path):
    # Dovecot drops the domain (username_format=%n): a Gmail-looking login reaches user helpdesk
    ok, lines = check(settings(tmp_path, imap(dovecot, username="helpdesk@gmail.com", password="account-pw"),
                               smtp(smtp_sink)))
    assert not ok
    report = text(lines)
    assert "FAIL  imap: authentication failed for helpdesk@gmail.com" in report
    assert "app password" in report and "2-step verification" in report
    assert "IMAP must be enabled" in report
    assert "ok    smtp" in report  # the other half is still checked


def test_wrong_smtp_password(dovecot, smtp_sink_factory, tmp_path):
    sink = smtp_sink_factory(auth=("helpdesk", "app-password"))
    ok, lines = check(settings(tmp_path, imap(dovecot), smtp(sink, password="wrong")))
    assert not ok
    assert "FAIL  smtp: authentication failed for helpdesk: 535" in text(lines)
    assert "MAILTICKET_SMTP_PASSWORD" in text(lines)


def test_security_that_does_not_match_the_port(dovecot, smtp_sink, tmp_path):
    ok, lines = check(settings(tmp_path, imap(dovecot, security="ssl"), smtp(smtp_sink)))
    assert not ok
    assert "the server did not answer with TLS" in text(lines)
    assert "IMAP ports: 993 = ssl, 143 = starttls" in text(lines)

    ok, lines = check(settings(tmp_path, imap(dovecot, port=dovecot.ssl_port), smtp(smtp_sink)), timeout=1)
    assert not ok and "no answer" in text(lines)


def test_usual_port_with_the_wrong_security_gets_a_hint(tmp_path, smtp_sink):
    ok, lines = check(settings(tmp_path, {"kind": "maildir", "path": "mail"},
                               smtp(smtp_sink, host="localhost", port=free_port(), security="ssl")))
    assert not ok
    assert "nothing listens" in text(lines)
    on_587 = {"kind": "smtp", "host": "127.0.0.1", "port": 587, "security": "ssl"}
    ok, lines = check(settings(tmp_path, {"kind": "maildir", "path": "mail"}, on_587), timeout=1)
    assert 'port 587 usually needs security = "starttls", not "ssl"' in text(lines)


def test_untrusted_certificate_and_the_trusted_one(dovecot, smtp_sink, tmp_path):
    inbox = imap(dovecot, port=dovecot.ssl_port, security="ssl")
    ok, lines = check(settings(tmp_path, inbox, smtp(smtp_sink)))
    assert not ok and "certificate not trusted" in text(lines)

    ok, lines = check(settings(tmp_path, inbox, smtp(smtp_sink)), ssl_context=dovecot.ssl_context())
    assert ok, text(lines)


def test_unknown_host(smtp_sink, tmp_path):
    ok, lines = check(settings(tmp_path, {"kind": "imap", "host": "imap.invalid", "username": "x",
                                          "password": "y"}, smtp(smtp_sink)))
    assert not ok
    assert "FAIL  imap: cannot resolve 'imap.invalid'" in text(lines)


def test_local_folders(tmp_path):
    inbox, outbox = {"kind": "maildir", "path": "var/mail"}, {"kind": "directory", "path": "var/outbox"}
    ok, lines = check(settings(tmp_path, inbox, outbox))
    assert ok, text(lines)
    assert "does not exist yet; it will be created" in text(lines)
    assert not (tmp_path / "var").exists()  # check creates nothing

    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "outbox").write_text("a file, not a folder")
    ok, lines = check(settings(tmp_path, inbox, outbox))
    assert not ok and "is not a folder" in text(lines)
