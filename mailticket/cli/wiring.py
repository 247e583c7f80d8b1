"""What every command shares: settings, the App or a session factory, the clock, JSON or a table, exit
codes and usage errors. Heavy modules are imported inside the functions so that `--help` stays fast."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
from collections.abc import Callable

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("mailticket")


class UsageError(Exception):
    """A wrong argument: main prints it in one line and exits 2."""


class HelpdeskTimeFormatter(logging.Formatter):
    """Log times in the helpdesk's time zone (as the tables show them) once the config is read."""

    tz = None  # a tzinfo; None until settings_for() read the config: the machine's zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        from datetime import datetime

        moment = datetime.fromtimestamp(record.created, self.tz).astimezone(self.tz)
        return moment.strftime("%Y-%m-%d %H:%M:%S") + f",{int(record.msecs):03d}"


_told_default = False


def settings_for(args: argparse.Namespace):
    """The settings; on the embedded default, stderr says so once (which folder, which database)."""
    global _told_default
    from mailticket.config import load

    settings = load(args.config)
    HelpdeskTimeFormatter.tz = settings.helpdesk.tz
    if settings.source == "<embedded default>" and not _told_default:
        _told_default = True
        from pathlib import Path

        print(f"mailticket: no config found (--config, $MAILTICKET_CONFIG, ./config/mailticket.toml); "
              f"using the embedded default in {Path.cwd() / 'var'} (database {settings.database_url})",
              file=sys.stderr)
    return settings


def app_for(args: argparse.Namespace):
    """An App: these commands may go through many mails, so the cyclic garbage collector is on again."""
    from mailticket.app.daemon import App

    gc.enable()
    return App(settings_for(args))


def worker_for(args: argparse.Namespace):
    """An App with its pipeline built (rules, templates); then all that start-up made is frozen out of
    the garbage collector's walks: it lives as long as the process, and walking it cost ~5% of ingest.
    Big buffers (mail with files) go back to the system when freed (app/memory.py)."""
    from mailticket.app.memory import return_big_buffers

    return_big_buffers()
    app = app_for(args)
    _ = app.pipeline
    gc.freeze()
    return app


def database_for(args: argparse.Namespace):
    """Settings and a session factory, without the pipeline: the read-only commands start fast."""
    from mailticket.db.session import ensure_schema, make_engine, session_factory

    settings = settings_for(args)
    engine = make_engine(settings.database_url)
    ensure_schema(engine)
    return settings, session_factory(engine)


def now():
    from mailticket.clock import SystemClock

    return SystemClock().now()


def emit(args: argparse.Namespace, data, render: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json_text(data))
    else:
        print(render())


_compact = json.JSONEncoder(ensure_ascii=False).encode


def json_text(data) -> str:
    """A list as one element per line (json's C encoder: thousands of rows in milliseconds; the indenting
    encoder is pure Python and took most of `mail list --json`'s time), anything else indented."""
    if isinstance(data, list) and data:
        return "[\n" + ",\n".join(map(_compact, data)) + "\n]\n"
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def parse_token(token: str, prefix: str) -> int:
    text = token.strip().lstrip("[").rstrip("]").replace(" ", "")
    head, _sep, number = text.rpartition("#")
    if head and head.upper() != prefix.upper():
        raise UsageError(f"not a ticket token of this helpdesk: {token!r} (expected {prefix}#N)")
    if not number.isdigit():
        raise UsageError(f"not a ticket token: {token!r} (expected {prefix}#N or N)")
    return int(number)


def hold_database(args: argparse.Namespace) -> bool:
    """Commands that write: one process per SQLite database (app/lock.py); False, said in one line, if not."""
    from mailticket.app.lock import DatabaseInUse, hold

    try:
        hold(settings_for(args).database_url)
    except DatabaseInUse as exc:
        print(f"mailticket: {exc}", file=sys.stderr)
        return False
    return True


def machine_fault(app, exc: Exception) -> int:
    """The store failed (disk full, read-only, locked, connection lost): say so in one line, exit 1.
    What was not committed stays pending for the next run. Any other error is raised again."""
    from mailticket.app.faults import cause_line, is_transient, store_location

    if not is_transient(exc):
        raise exc
    where = store_location(app.settings.database_url)
    print(f"mailticket: {cause_line(exc, where)}; nothing is lost, run again once fixed", file=sys.stderr)
    return EXIT_FAILURE


def _send_unless_a_daemon_does(args: argparse.Namespace, app) -> None:
    """Send what is queued, unless another process works on this SQLite database: it sends it then
    (two senders on one file could deliver the same row twice)."""
    from mailticket.app.lock import DatabaseInUse, hold

    try:
        hold(app.settings.database_url)
    except DatabaseInUse as exc:
        print(f"mailticket: queued; {exc} and sends it", file=sys.stderr)
        return
    app.send()
