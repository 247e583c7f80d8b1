"""Config: the contract's lookup order, durations, relative paths, and one clear error per bad key."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailticket.config import find_config, load, parse_duration
from mailticket.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mt.toml"
    path.write_text(text)
    return path


def test_embedded_default_when_no_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MAILTICKET_CONFIG", raising=False)
    settings = load(None, cwd=tmp_path)
    assert settings.source == "<embedded default>"
    assert settings.inbox.kind == "maildir" and settings.inbox.path == tmp_path / "var" / "mail"
    assert settings.smtp.kind == "directory" and settings.smtp.path == tmp_path / "var" / "outbox"
    assert settings.database_url == f"sqlite:///{tmp_path}/var/mailticket.db"


def test_lookup_order(tmp_path, monkeypatch):
    (tmp_path / "config").mkdir()
    local = tmp_path / "config" / "mailticket.toml"
    local.write_text("")
    monkeypatch.delenv("MAILTICKET_CONFIG", raising=False)
    assert find_config(None, tmp_path) == local
    monkeypatch.setenv("MAILTICKET_CONFIG", "/etc/env.toml")
    assert find_config(None, tmp_path) == Path("/etc/env.toml")
    assert find_config("/x.toml", tmp_path) == Path("/x.toml")


def test_relative_paths_follow_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "mt.toml"
    path.write_text('[database]\nurl = "sqlite:///db/x.db"\n[inbox]\nkind = "maildir"\npath = "m"\n')
    settings = load(str(path))
    assert settings.database_url == f"sqlite:///{tmp_path}/sub/db/x.db"
    assert settings.inbox.path == tmp_path / "sub" / "m"


def test_durations():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("5m") == timedelta(minutes=5)
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("3d") == timedelta(days=3)
    with pytest.raises(ValueError):
        parse_duration("3")


def test_sla_targets_and_secrets_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILTICKET_IMAP_PASSWORD", "from-env")
    path = write(tmp_path, '[sla.permintaan]\nresolve = "2h"\n[inbox]\npassword = "in-file"\n')
    settings = load(str(path))
    assert settings.sla.targets["permintaan"] == timedelta(hours=2)
    assert settings.sla.targets["gangguan"] == timedelta(days=3)
    assert settings.inbox.password == "from-env"


def test_office_calendar_with_listed_and_file_holidays(tmp_path):
    (tmp_path / "libur.txt").write_text("2026-12-24 Cuti bersama\n")
    path = write(tmp_path, '[helpdesk]\ntimezone = "Asia/Jakarta"\n[sla]\ncalendar = "office"\n'
                           'office_hours = "Mon-Fri 08:00-16:00"\nholidays = ["2026-12-25"]\n'
                           'holidays_file = "libur.txt"\n')
    cal = load(str(path)).calendar
    assert cal.office and cal.tz == ZoneInfo("Asia/Jakarta")
    assert cal.holidays == {date(2026, 12, 24), date(2026, 12, 25)}
    assert not cal.is_working_day(date(2026, 12, 24)) and cal.is_working_day(date(2026, 12, 23))
    assert not cal.is_working_day(date(2026, 12, 26))  # a Saturday


@pytest.mark.parametrize("text, where", [
    ('[inbox]\npoll_interval = "60"\n', "inbox.poll_interval"),
    ('[inbox]\nport = "993"\n', "inbox.port"),
    ('[inbox]\nkind = "pop3"\n', "inbox.kind"),
    ('[helpdesk]\ntimezone = "Mars/Base"\n', "helpdesk.timezone"),
    ('[helpdesk]\nadress = "x@y.z"\n', "helpdesk.adress"),
    ('[sla.gangguan]\nresolve = "soon"\n', "sla.gangguan.resolve"),
    ('[escalation]\nat = 2\n', "escalation.at"),
    ('[staff]\nmembers = [{ name = "x" }]\n', "staff.members[0]"),
    ('[digest]\ntime = "7.30"\n', "digest.time"),
    ("[helpdesk\n", "not valid TOML"),
])
def test_bad_config_names_file_and_key(tmp_path, text, where):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(str(path))
    assert str(path) in str(err.value) and where in str(err.value)
