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
