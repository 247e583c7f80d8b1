"""`check` against real servers: it logs in, says what works, and explains what does not."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

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
    inbox = {"kind": "maildir", "path": "var/mail", "create": True}
    outbox = {"kind": "directory", "path": "var/outbox"}
    ok, lines = check(settings(tmp_path, inbox, outbox))
    assert ok, text(lines)
    assert "does not exist yet; it will be created" in text(lines)
    assert not (tmp_path / "var").exists()  # check creates nothing

    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "outbox").write_text("a file, not a folder")
    ok, lines = check(settings(tmp_path, inbox, outbox))
    assert not ok and "is not a folder" in text(lines)


# -- issue 17: database, rules, templates, a missing Maildir, OAuth2 SMTP, warnings ----------------


def cli(*args: str, cwd=None, user: str | None = None) -> subprocess.CompletedProcess:
    prefix = ["setpriv", f"--reuid={user}", "--regid=nogroup", "--clear-groups"] if user else []
    return subprocess.run([*prefix, sys.executable, "-m", "mailticket.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def local_config(tmp_path, extra: str = "", url: str = "sqlite:///var/mt.db") -> str:
    (tmp_path / "mail" / "new").mkdir(parents=True, exist_ok=True)
    config = tmp_path / "mt.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[inbox]\nkind = "maildir"\npath = "mail"\n'
                      f'[smtp]\nkind = "directory"\npath = "outbox"\n{extra}')
    return str(config)


def test_check_opens_the_database_and_compares_the_schema(tmp_path):
    config = local_config(tmp_path)
    proc = cli("--config", config, "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "does not exist yet; `mailticket db upgrade` creates it" in proc.stdout
    assert cli("--config", config, "db", "upgrade").returncode == 0
    proc = cli("--config", config, "check")
    assert proc.returncode == 0 and f"ok    database: SQLite file {tmp_path}/var/mt.db, schema " in proc.stdout
    assert "(current)" in proc.stdout
    with sqlite3.connect(tmp_path / "var" / "mt.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")
    proc = cli("--config", config, "check")
    assert proc.returncode == 1
    assert "FAIL  database: SQLite file" in proc.stdout and "schema at revision 0001" in proc.stdout
    assert "hint: run `mailticket db upgrade`" in proc.stdout


@pytest.fixture
def open_tmp():
    """A folder that the user nobody can enter (pytest's own are root's only)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mailticket-nobody-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_check_as_a_user_who_cannot_write_the_database_folder(open_tmp):
    tmp_path = open_tmp
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    config = local_config(tmp_path, url=f"sqlite:///{folder}/sub/mt.db")
    (tmp_path / "mt.toml").chmod(0o644)
    (tmp_path / "mail").chmod(0o777)
    proc = cli("--config", config, "check", cwd=tmp_path, user="nobody")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"FAIL  database: SQLite file {folder}/sub/mt.db cannot be created: {folder} is not writable" in proc.stdout
    proc = cli("--config", config, "tickets", "list", cwd=tmp_path, user="nobody")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"mailticket: database.url sqlite:///{folder}/sub/mt.db: "
                                                          f"cannot create the folder {folder}/sub: Permission denied")
    assert "Traceback" not in proc.stderr and "sqlalche.me" not in proc.stderr


@pytest.mark.parametrize("url, code, says", [
    ("sqllite:///x.db", 2, "database.url: unknown database kind 'sqllite'"),
    ("x.db", 2, "database.url: not a database URL: 'x.db'"),
    ("/var/lib/mailticket/x.db", 2, "database.url: not a database URL"),
    ("sqlite://x.db", 2, "database.url: a SQLite URL has three slashes"),
    ("postgresql+psycopg://mt:secret@127.0.0.1:{port}/mt", 1, "database server unreachable"),
])
def test_database_mistakes_are_one_line(tmp_path, url, code, says):
    config = local_config(tmp_path, url=url.format(port=free_port()))
    for command in (["tickets", "list"], ["status"], ["db", "upgrade"]):
        proc = cli("--config", config, *command)
        assert proc.returncode == code, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], proc.stderr
        assert "sqlalche.me" not in proc.stderr and "secret" not in proc.stderr
    proc = cli("--config", config, "check")
    assert proc.returncode == code
    if code == 1:
        assert "FAIL  database: database.url postgresql+psycopg://mt:***@127.0.0.1" in proc.stdout
        assert "hint: is the server running" in proc.stdout


def test_check_compiles_rules_and_templates_with_file_and_line(tmp_path):
    from mailticket.config import DEFAULT_TEMPLATES

    (tmp_path / "rules.toml").write_text('[settings]\nthreshold = 1\n[[gangguan\n')
    shutil.copytree(DEFAULT_TEMPLATES, tmp_path / "templates")
    relay = tmp_path / "templates" / "relay.txt"
    relay.write_text(relay.read_text() + "\n{% if ticket.token %}\nno endif\n")
    config = local_config(tmp_path, '[classifier]\nrules = "rules.toml"\n[templates]\npath = "templates"\n')
    proc = cli("--config", config, "check")
    assert proc.returncode == 1
    assert f"FAIL  rules: {tmp_path}/rules.toml: not valid TOML" in proc.stdout and "line 3" in proc.stdout
    assert f"FAIL  templates: {tmp_path}/templates/relay.txt:" in proc.stdout


def test_a_missing_maildir_fails_check_and_run_refuses_it_unless_create(tmp_path):
    config = local_config(tmp_path).replace("", "")
    text = (tmp_path / "mt.toml").read_text().replace('path = "mail"', 'path = "mial"')
    (tmp_path / "mt.toml").write_text(text)
    proc = cli("--config", config, "check")
    assert proc.returncode == 1 and f"FAIL  inbox (Maildir): {tmp_path}/mial does not exist" in proc.stdout
    proc = cli("--config", config, "run", "--once")
    assert proc.returncode == 2 and "inbox.path: the Maildir" in proc.stderr and "create = true" in proc.stderr
    assert not (tmp_path / "mial").exists()
    (tmp_path / "mt.toml").write_text(text.replace('path = "mial"', 'path = "mial"\ncreate = true'))
    assert cli("--config", config, "check").returncode == 0
    assert cli("--config", config, "run", "--once").returncode == 0 and (tmp_path / "mial" / "new").is_dir()


def test_smtp_with_an_oauth2_token_command_logs_in_with_the_token(smtp_sink_factory, tmp_path):
    sink = smtp_sink_factory(auth=("helpdesk", "token-123"))
    token = tmp_path / "token"
    token.write_text("token-123\n")
    smtp_table = {"kind": "smtp", "host": "127.0.0.1", "port": sink.port, "security": "none",
                  "username": "helpdesk", "oauth2_token_command": f"cat {token}"}
    ok, lines = check(settings(tmp_path, {"kind": "maildir", "path": "m", "create": True}, smtp_table))
    assert ok, text(lines)
    assert "ok    smtp: logged in as helpdesk (OAuth2)" in text(lines) and "no password" not in text(lines)
    token.write_text("expired\n")
    ok, lines = check(settings(tmp_path, {"kind": "maildir", "path": "m", "create": True}, smtp_table))
    assert not ok and "FAIL  smtp: authentication failed for helpdesk: 535" in text(lines)
    assert "hint: the server refused the OAuth2 access token" in text(lines) and "MAILTICKET_SMTP_PASSWORD" not in text(lines)


def test_warnings_plain_password_to_a_remote_host_and_a_gmail_folder_that_is_not_inbox():
    from mailticket.cli.check import Report, gmail_folder_warning, plain_password_warning
    from mailticket.config import Inbox

    report = Report()
    plain_password_warning("smtp", "mail.example.org", "none", True, report)
    plain_password_warning("smtp", "127.0.0.1", "none", True, report)
    plain_password_warning("imap", "::1", "none", True, report)
    plain_password_warning("imap", "imap.example.org", "ssl", True, report)
    gmail_folder_warning(Inbox(host="imap.gmail.com", folder="[Gmail]/All Mail"), report)
    gmail_folder_warning(Inbox(host="imap.gmail.com", folder="INBOX"), report)
    assert report.ok  # warnings do not fail the check
    lines = [line for line in report.lines if not line.startswith("      hint")]
    assert len(lines) == 2, report.lines
    assert "smtp: the password would go unencrypted to mail.example.org" in lines[0]
    assert "imap: Gmail folder is '[Gmail]/All Mail', not INBOX" in lines[1]
