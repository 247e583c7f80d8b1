"""The command line's exit codes and the database schema commands."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from sqlalchemy import create_engine

from mailticket.db import models
from mailticket.db.session import SCHEMA_HEAD, alembic_config, upgrade


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mailticket.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_invalid_config_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[inbox]\npoll_interval = "often"\n')
    proc = run("--config", str(bad), "tickets", "list")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "inbox.poll_interval" in lines[0]


def test_missing_config_file_and_bad_usage_exit_2(tmp_path):
    assert run("--config", str(tmp_path / "nope.toml"), "tickets", "list").returncode == 2
    assert run("tickets", "frobnicate").returncode == 2
    assert run("quarantine", "retry", cwd=tmp_path).returncode == 2


def test_db_upgrade_from_empty_matches_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    engine = create_engine(f"sqlite:///{tmp_path}/x.db")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), models.Base.metadata)
    assert diff == []
    assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() == SCHEMA_HEAD


def check_raw_bytes_move_to_raw_data_and_back(url: str) -> None:
    """Mail kept at revision 0004 (bytes in raw_mail.data) reads the same after 0005 and after going back."""
    from alembic import command
    from sqlalchemy import text

    engine = create_engine(url)
    command.upgrade(alembic_config(engine), "0004")
    kept = {1: b"From: a@b.id\r\n\r\nhalo\r\n", 2: bytes(range(256)) * 100}
    with engine.begin() as conn:
        for raw_id, data in kept.items():
            conn.execute(text("INSERT INTO raw_mail (id, sha256, message_id, source, size, data, received_at, state) "
                              "VALUES (:id, :sha, '', 'test', :size, :data, '2026-11-25 03:00:00', 'ticket')"),
                         {"id": raw_id, "sha": f"{raw_id:064x}", "size": len(data), "data": data})
    upgrade(engine)
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT raw_id, data FROM raw_data")).all()) == kept
    command.downgrade(alembic_config(engine), "0004")
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT id, data FROM raw_mail")).all()) == kept
    engine.dispose()


def test_raw_bytes_move_to_their_own_table_and_back(tmp_path):
    check_raw_bytes_move_to_raw_data_and_back(f"sqlite:///{tmp_path}/x.db")


def _upgrade_work(path, rows: int) -> int:
    """SQLite VM steps (in thousands) that upgrading a revision-0004 database holding `rows` kept
    messages, each on a ticket with a message row pointing back at it, takes from 0004 to the head."""
    from alembic import command
    from sqlalchemy import event, text

    engine = create_engine(f"sqlite:///{path}")
    command.upgrade(alembic_config(engine), "0004")
    with engine.begin() as conn:
        for i in range(1, rows + 1):
            conn.execute(text("INSERT INTO raw_mail (id, sha256, message_id, source, size, data, received_at, "
                              "state) VALUES (:i, :sha, '', 't', 1, x'00', '2026-11-25 03:00:00', 'ticket')"),
                         {"i": i, "sha": f"{i:064x}"})
            conn.execute(text("INSERT INTO tickets (id, number, subject, reporter, reporter_name, cc, status, "
                              "category, category_source, needs_review, created_at, escalated, paused_seconds, "
                              "last_in_message_id) VALUES (:i, :i, 's', 'r@x.id', '', '', 'new', 'gangguan', "
                              "'rules', 0, '2026-11-25 03:00:00', 0, 0, '')"), {"i": i})
            conn.execute(text("INSERT INTO messages (ticket_id, direction, kind, sender, recipients, subject, "
                              "date, message_id, text, raw_id) VALUES (:i, 'in', 'report', 'r@x.id', '', 's', "
                              "'2026-11-25 03:00:00', :mid, '', :i)"), {"i": i, "mid": f"<{i}@x.id>"})
    engine.dispose()
    engine = create_engine(f"sqlite:///{path}")
    steps = [0]

    @event.listens_for(engine, "connect")
    def count(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA foreign_keys=ON")  # as mailticket's own engine has it

        def step():
            steps[0] += 1
            return 0

        dbapi_conn.set_progress_handler(step, 1000)

    upgrade(engine)
    with engine.connect() as conn:  # enforcement is back on for whoever uses the connection next
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
    return steps[0]


def test_db_upgrade_work_grows_linearly_with_the_data(tmp_path):
    # Rebuilding raw_mail with foreign keys enforced checked every message per dropped row:
    # quadratic, hours on a 100,000-ticket database. Twice the data must be about twice the work.
    small, large = _upgrade_work(tmp_path / "small.db", 300), _upgrade_work(tmp_path / "large.db", 600)
    assert large < 3 * small, (small, large)


def test_db_upgrade_command(tmp_path):
    cfg = tmp_path / "mt.toml"
    cfg.write_text('[database]\nurl = "sqlite:///fresh.db"\n')
    proc = run("--config", str(cfg), "db", "upgrade")
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(tmp_path / "fresh.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == SCHEMA_HEAD


def test_embedded_default_runs_in_an_empty_folder(tmp_path):
    proc = run("run", "--once", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "var" / "mailticket.db").exists() and (tmp_path / "var" / "mail" / "new").is_dir()


def _desk_with_one_mail(tmp_path, extra: str):
    from tests.conftest import make_mail

    (tmp_path / "var" / "mail" / "new").mkdir(parents=True)
    (tmp_path / "var" / "mail" / "cur").mkdir()
    (tmp_path / "var" / "mail" / "tmp").mkdir()
    (tmp_path / "var" / "mail" / "new" / "1.eml").write_bytes(make_mail("Tidak bisa login", "gagal login"))
    config = tmp_path / "mt.toml"
    config.write_text('[inbox]\nkind = "maildir"\npath = "var/mail"\n[smtp]\nkind = "directory"\n'
                      'path = "var/outbox"\n' + extra)
    return config


def test_a_broken_template_stops_start_up_with_one_line_before_any_mail(tmp_path):
    import shutil

    from mailticket.config import DEFAULT_TEMPLATES

    shutil.copytree(DEFAULT_TEMPLATES, tmp_path / "templates")
    relay = tmp_path / "templates" / "relay.txt"
    relay.write_text(relay.read_text() + "\n{% if ticket.token %}\nno endif\n")
    config = _desk_with_one_mail(tmp_path, '[templates]\npath = "templates"\n')
    proc = run("--config", str(config), "run", "--once")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "relay.txt:" in lines[0], proc.stderr
    assert (tmp_path / "var" / "mail" / "new" / "1.eml").exists()  # not fetched, not processed
    assert not (tmp_path / "var" / "outbox").exists() or not list((tmp_path / "var" / "outbox").iterdir())


def test_a_broken_rules_file_stops_ingest_with_one_line(tmp_path):
    (tmp_path / "rules.toml").write_text("[[rule]]\nname = \"x\"\nphrases = [\n")
    config = _desk_with_one_mail(tmp_path, '[classifier]\nrules = "rules.toml"\n')
    proc = run("--config", str(config), "ingest", str(tmp_path / "var" / "mail" / "new" / "1.eml"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "rules.toml" in lines[0], proc.stderr
    with sqlite3.connect(tmp_path / "var" / "mailticket.db") as db:
        assert db.execute("SELECT count(*) FROM raw_mail").fetchone() == (0,)
