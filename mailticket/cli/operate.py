"""Running and watching the daemon: `run`, `ingest`, `status`, `check`, `classify`, `db upgrade`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from mailticket.cli.wiring import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    database_for,
    emit,
    hold_database,
    log,
    machine_fault,
    now,
    settings_for,
    worker_for,
)


def cmd_run(args: argparse.Namespace) -> int:
    if not hold_database(args):
        return EXIT_FAILURE
    app = worker_for(args)
    if args.once:
        app.once = True
        try:
            totals = app.run_once()
        except Exception as exc:  # noqa: BLE001 - a machine fault is told in one line; others go on up
            return machine_fault(app, exc)
        log.info("run --once: new=%d %s", totals.new, totals.outcomes)
    else:
        app.run()
    return EXIT_OK


def cmd_ingest(args: argparse.Namespace) -> int:
    if not hold_database(args):
        return EXIT_FAILURE
    app = worker_for(args)
    progress = _progress_printer() if sys.stderr.isatty() else None
    try:
        totals = app.ingest(args.paths, deliver=not args.no_send, progress=progress)
    except Exception as exc:  # noqa: BLE001 - a machine fault is told in one line; others go on up
        return machine_fault(app, exc)
    if progress:
        sys.stderr.write("\n")
    log.info("ingest: read=%d new=%d %s", totals.received, totals.new, totals.outcomes)
    return EXIT_OK


def _progress_printer() -> Callable[[int], None]:
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        sys.stderr.write(f"\rprocessed {done} messages")
        sys.stderr.flush()

    return progress


def cmd_status(args: argparse.Namespace) -> int:
    """Exit 1 (for monitoring) when no daemon reported recently or its inbox is down too long."""
    from mailticket.cli.views import status

    settings, factory = database_for(args)
    data = status(factory, now(), settings.source, settings.helpdesk.tz)
    emit(args, data, lambda: _status_text(data))
    return EXIT_OK if data["healthy"] else EXIT_FAILURE


def _daemon_line(d: dict) -> str:
    state = d["inbox_state"]
    if state not in ("connected", "maildir") and d.get("inbox_since"):
        state += f" since {d['inbox_since']}"
    if d.get("reader") is False:
        state += ", stand-by"
    line = (f"{d['host']} pid {d['pid']}: inbox {d['inbox']} ({state}), last fetch {d['last_fetch'] or '-'}, "
            f"last send {d['last_send'] or '-'}, updated {d['updated']}" + ("" if d.get("fresh", True) else
                                                                            " (stale)"))
    if d.get("inbox_error") and d["inbox_state"] not in ("connected", "maildir"):
        line += f"\n  last error: {d['inbox_error']}"
    if d.get("inbox_alert"):
        line += f"\n  the server says: {d['inbox_alert']}"
    return line


def _status_text(data: dict) -> str:
    lines = [f"config: {data['config']}"]
    lines += [_daemon_line(d) for d in data["daemons"]]
    lines += [f"{d['host']} pid {d['pid']}: stopped at {d['stopped']}" for d in data["stopped"]]
    queued = f"outbox: {data['outbox_queued']} queued"
    if data["outbox_queued"]:
        queued += f" (oldest {data['outbox_oldest_queued']}, next attempt {data['outbox_next_attempt']})"
    lines.append(f"{queued}, {data['outbox_failed']} failed; "
                 f"inbox: {data['pending']} pending, {data['quarantined']} quarantined; "
                 f"{data['tickets_open']} open tickets")
    if data["sending_paused_until"]:
        lines.append(f"sending paused by the mail server until {data['sending_paused_until']}")
    lines += [f"refused: outbox {r['outbox']} ({r['kind']}) {r['recipient']}: {r['answer']}"
              for r in data["outbox_refused"]]
    lines += [f"PROBLEM: {problem}" for problem in data["problems"]]
    return "\n".join(lines)


def cmd_classify(args: argparse.Namespace) -> int:
    from mailticket.app.context import load_rules
    from mailticket.cli.classify import lines, read

    settings = settings_for(args)
    try:
        mail, has_headers = read(args.file)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    print("\n".join(lines(settings, load_rules(settings), mail, has_headers)))
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from mailticket.cli.check import check

    ok, lines = check(settings_for(args))
    print("\n".join(lines))
    return EXIT_OK if ok else EXIT_FAILURE


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from mailticket.db.session import current_revision, make_engine, upgrade

    settings = settings_for(args)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database schema at revision {current_revision(engine)}")
    return EXIT_OK
