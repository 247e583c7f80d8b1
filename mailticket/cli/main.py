"""The command line of the contract: argparse commands, tables or JSON, exit codes 0/1/2.

Heavy modules are imported inside the commands so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
from collections.abc import Callable
from typing import NoReturn

from mailticket.enums import KEPT_KINDS, Category, Status
from mailticket.errors import ConfigError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("mailticket")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailticket", description="Email-driven helpdesk daemon.")
    parser.add_argument("--config", metavar="PATH", help="config file (else $MAILTICKET_CONFIG, "
                        "./config/mailticket.toml, or the embedded default)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the daemon: watch the inbox, process, send")
    run.add_argument("--once", action="store_true", help="process what is there now, send, exit")
    run.set_defaults(func=cmd_run)

    ingest = sub.add_parser("ingest", help="process .eml files, folders, Maildirs or mbox files")
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--no-send", action="store_true", help="only queue outgoing mail")
    ingest.set_defaults(func=cmd_ingest)

    tickets = sub.add_parser("tickets", help="list or show tickets").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    tl = tickets.add_parser("list", help="list tickets")
    tl.add_argument("--status", choices=[status.value for status in Status])
    tl.add_argument("--category", choices=[category.value for category in Category])
    tl.add_argument("--overdue", action="store_true", help="only tickets past their due time")
    tl.add_argument("--due-within", metavar="DURATION", help='only open tickets due within e.g. "2h"')
    tl.add_argument("--json", action="store_true")
    tl.set_defaults(func=cmd_tickets_list)
    ts = tickets.add_parser("show", help="one ticket with its messages and events")
    ts.add_argument("token", metavar="TOKEN", help="LPSE#12 or 12")
    ts.add_argument("--json", action="store_true")
    ts.set_defaults(func=cmd_tickets_show)
    at = sub.add_parser("attachments", help="a ticket's files: list them, or write them to a folder")
    at.add_argument("token", metavar="TOKEN", help="LPSE#12 or 12")
    at.add_argument("--out", metavar="DIR", help="write the files to DIR (made if missing), with safe names")
    at.add_argument("--json", action="store_true")
    at.set_defaults(func=cmd_attachments)

    mail = sub.add_parser("mail", help="kept messages that opened no ticket").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    ml = mail.add_parser("list", help="list kept messages with why")
    ml.add_argument("--kind", choices=KEPT_KINDS)
    ml.add_argument("--json", action="store_true")
    ml.set_defaults(func=cmd_mail_list)

    quarantine = sub.add_parser("quarantine", help="messages that broke the pipeline").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    ql = quarantine.add_parser("list", help="list quarantined messages with their errors")
    ql.add_argument("--json", action="store_true")
    ql.set_defaults(func=cmd_quarantine_list)
    qr = quarantine.add_parser("retry", help="run quarantined messages again")
    qr.add_argument("ids", nargs="*", type=int, metavar="ID")
    qr.add_argument("--all", action="store_true")
    qr.set_defaults(func=cmd_quarantine_retry)

    dg = sub.add_parser("digest", help="the coordinators' daily digest")
    what = dg.add_mutually_exclusive_group(required=True)
    what.add_argument("--preview", action="store_true", help="print it")
    what.add_argument("--send", action="store_true", help="queue it to the coordinators and send it")
    dg.set_defaults(func=cmd_digest)

    rp = sub.add_parser("report", help="the coordinators' monthly report (default: last month)")
    rp.add_argument("--month", metavar="YYYY-MM", help="the month to report on (default: last month)")
    rp.add_argument("--csv", metavar="FILE", help="also write one row per ticket to FILE")
    rp.add_argument("--html", metavar="FILE", help="also write the HTML version to FILE")
    rp.add_argument("--send", action="store_true", help="queue it to the coordinators and send it")
    rp.set_defaults(func=cmd_report)

    st = sub.add_parser("status", help="daemon health: last fetch and send, queues, quarantine")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    sub.add_parser("check", help="validate the config; log in to IMAP and SMTP").set_defaults(func=cmd_check)
    cl = sub.add_parser("classify", help="try a mail (.eml) or a text (-: stdin) against the rules")
    cl.add_argument("file", metavar="FILE|-")
    cl.set_defaults(func=cmd_classify)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    db.add_parser("upgrade", help="bring the schema up to date").set_defaults(func=cmd_db_upgrade)
    _block_parsers(sub, mail)
    return parser


def _block_parsers(sub, mail) -> None:
    """`block add|remove|list` and `mail open ID` (issue 15; the work is in cli/block.py)."""
    block = sub.add_parser("block", help="senders whose mail is kept as blocked").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    ba = block.add_parser("add", help="block an address or @domain (never a staff address)")
    ba.add_argument("entry", metavar="ADDRESS|@DOMAIN")
    ba.add_argument("--why", default="", metavar="TEXT")
    ba.set_defaults(func=cmd_block_add)
    br = block.add_parser("remove", help="unblock an address or @domain")
    br.add_argument("entry", metavar="ADDRESS|@DOMAIN")
    br.set_defaults(func=cmd_block_remove)
    bl = block.add_parser("list", help="the block list")
    bl.add_argument("--json", action="store_true")
    bl.set_defaults(func=cmd_block_list)
    mo = mail.add_parser("open", help="turn a kept mail into a ticket after all, with its acknowledgement")
    mo.add_argument("id", type=int, metavar="ID")
    mo.set_defaults(func=cmd_mail_open)


class HelpdeskTimeFormatter(logging.Formatter):
    """Log times in the helpdesk's time zone (as the tables show them) once the config is read."""

    tz = None  # a tzinfo; None until settings_for() read the config: the machine's zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        from datetime import datetime

        moment = datetime.fromtimestamp(record.created, self.tz).astimezone(self.tz)
        return moment.strftime("%Y-%m-%d %H:%M:%S") + f",{int(record.msecs):03d}"


def setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(HelpdeskTimeFormatter(handler.formatter._fmt if handler.formatter else None))
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # mail-parser logs everyday malformed mail at ERROR; our parse stage reports what matters.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)


def entry() -> NoReturn:
    """The `mailticket` command. A process that only reads needs no cyclic garbage collector: its
    collections walked every module imported, ~45 ms of a `tickets list` (app_for turns it on again)."""
    gc.disable()
    sys.exit(main())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args)
    try:
        return args.func(args) or EXIT_OK
    except ConfigError as exc:
        print(f"mailticket: invalid config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"mailticket: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one clear line, exit 1
        log.debug("failure", exc_info=True)
        line = database_failure(args, exc)
        print(f"mailticket: {line or f'{type(exc).__name__}: {exc}'}", file=sys.stderr)
        return EXIT_FAILURE


def database_failure(args: argparse.Namespace, exc: BaseException) -> str | None:
    """The database could not be opened or reached: one line naming database.url and a hint."""
    if "mailticket.db.session" not in sys.modules:
        return None
    from mailticket.db.session import failure_line

    try:
        url = settings_for(args).database_url
    except ConfigError:
        return None
    return failure_line(exc, url)


class UsageError(Exception):
    pass


# -- wiring -------------------------------------------------------------------------------------

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


# -- commands -----------------------------------------------------------------------------------

def hold_database(args: argparse.Namespace) -> bool:
    """Commands that write: one process per SQLite database (app/lock.py); False, said in one line, if not."""
    from mailticket.app.lock import DatabaseInUse, hold

    try:
        hold(settings_for(args).database_url)
    except DatabaseInUse as exc:
        print(f"mailticket: {exc}", file=sys.stderr)
        return False
    return True


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


def machine_fault(app, exc: Exception) -> int:
    """The store failed (disk full, read-only, locked, connection lost): say so in one line, exit 1.
    What was not committed stays pending for the next run. Any other error is raised again."""
    from mailticket.app.faults import cause_line, is_transient, store_location

    if not is_transient(exc):
        raise exc
    where = store_location(app.settings.database_url)
    print(f"mailticket: {cause_line(exc, where)}; nothing is lost, run again once fixed", file=sys.stderr)
    return EXIT_FAILURE


def _progress_printer() -> Callable[[int], None]:
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        sys.stderr.write(f"\rprocessed {done} messages")
        sys.stderr.flush()

    return progress


def cmd_tickets_list(args: argparse.Namespace) -> int:
    from mailticket.cli.views import list_tickets, local_iso, remaining, status_text, table, ticket_json
    from mailticket.config import parse_duration
    from mailticket.db.session import transaction
    from mailticket.types import ticket_token

    try:
        within = parse_duration(args.due_within) if args.due_within else None
    except ValueError as exc:
        raise UsageError(f"--due-within: {exc}") from None
    settings, factory = database_for(args)
    tz, prefix, at = settings.helpdesk.tz, settings.helpdesk.token_prefix, now()
    with transaction(factory) as session:
        tickets = list_tickets(session, args.status, args.category, now=at, overdue=args.overdue,
                               due_within=within)
        data = [ticket_json(t, prefix, tz, full=False) for t in tickets]

    def render() -> str:
        rows = [[ticket_token(prefix, t.number), status_text(t), t.category + ("?" if t.needs_review else ""),
                 t.reporter, (local_iso(t.created_at, tz) or "")[:16].replace("T", " "),
                 (local_iso(t.due_at, tz) or "")[:16].replace("T", " "), remaining(t, at), t.subject]
                for t in tickets]
        return table(rows, ["TOKEN", "STATUS", "CATEGORY", "REPORTER", "CREATED", "DUE", "LEFT", "SUBJECT"])

    emit(args, data, render)
    return EXIT_OK


def cmd_tickets_show(args: argparse.Namespace) -> int:
    from mailticket.cli.views import get_ticket, ticket_json
    from mailticket.db.session import transaction

    settings, factory = database_for(args)
    tz, prefix = settings.helpdesk.tz, settings.helpdesk.token_prefix
    number = parse_token(args.token, prefix)
    with transaction(factory) as session:
        ticket = get_ticket(session, number)
        if ticket is None:
            return _no_ticket(prefix, number)
        data = ticket_json(ticket, prefix, tz, full=True)
    emit(args, data, lambda: _ticket_text(data))
    return EXIT_OK


def _no_ticket(prefix: str, number: int) -> int:
    from mailticket.types import ticket_token

    print(f"mailticket: no ticket {ticket_token(prefix, number)}", file=sys.stderr)
    return EXIT_FAILURE


def cmd_attachments(args: argparse.Namespace) -> int:
    """Every file of every message of a ticket (cli/attachments.py); --out writes them."""
    from mailticket.cli.attachments import command, table_rows
    from mailticket.cli.views import get_ticket, table
    from mailticket.db.session import transaction

    settings, factory = database_for(args)
    prefix = settings.helpdesk.token_prefix
    number = parse_token(args.token, prefix)
    with transaction(factory) as session:
        ticket = get_ticket(session, number)
        if ticket is None:
            return _no_ticket(prefix, number)
        rows, lines = command(session, ticket, args.out)
    if not rows:
        lines = ["no attachments"]
    emit(args, rows, lambda: "\n".join(lines) if lines else table(*table_rows(rows)))
    return EXIT_OK


def _ticket_text(data: dict) -> str:
    lines = [f"{data['token']}  {data['subject']}",
             f"status {data['status']}  category {data['category']} ({data['category_source']})"
             + ("  needs review" if data["needs_review"] else ""),
             f"reporter {data['reporter']}  assignee {data['assignee'] or '-'}",
             f"created {data['created_at']}  due {data['due_at']}  closed {data['closed_at'] or '-'}", "",
             "messages:"]
    lines += [f"  {m['date']}  {m['direction']:3} {m['kind']:12} {m['from']} -> {', '.join(m['to'])}"
              + (f"  [{m['delivery']}]" if "delivery" in m else "")
              + "".join(f"  refused {r['recipient']}: {r['answer']}" for r in m.get("refused", ()))
              + "".join(f"\n      file {a['filename']} ({a['size']} bytes)" for a in m.get("attachments", ()))
              for m in data["messages"]]
    if data.get("forwards"):  # #teruskan: the other service owners, and their answers
        lines += ["", f"waiting on {data['waiting_on'] or '-'}; forwards:"]
        lines += [f"  {f['at']}  {f['partner']:12} {f['by']}  answered {f['answered_at'] or '-'}  "
                  f"{f['text'][:80]}" for f in data["forwards"]]
    lines += ["", "events:"]
    lines += [f"  {e['at']}  {e['type']:12} {e['by']}  {e['detail']}" for e in data["events"]]
    return "\n".join(lines)


def cmd_mail_list(args: argparse.Namespace) -> int:
    from mailticket.cli.views import kept_json, kept_mail, table
    from mailticket.db.session import transaction

    settings, factory = database_for(args)
    tz, prefix = settings.helpdesk.tz, settings.helpdesk.token_prefix
    with transaction(factory) as session:
        data = [kept_json(raw, prefix, tz) for raw in kept_mail(session, args.kind)]
    emit(args, data, lambda: table(
        [[d["id"], d["kind"], d["from"] or "", d["subject"] or "", d["ticket"] or "", d["why"] or ""]
         for d in data], ["ID", "KIND", "FROM", "SUBJECT", "TICKET", "WHY"]))
    return EXIT_OK


def cmd_block_add(args: argparse.Namespace) -> int:
    from mailticket.cli import block

    settings, factory = database_for(args)
    try:
        print(block.add(factory, settings, args.entry, args.why, now()))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def cmd_block_remove(args: argparse.Namespace) -> int:
    from mailticket.cli import block

    _settings, factory = database_for(args)
    removed, said = block.remove(factory, args.entry)
    print(said)
    return EXIT_OK if removed else EXIT_FAILURE


def cmd_block_list(args: argparse.Namespace) -> int:
    from mailticket.cli import block
    from mailticket.cli.views import table

    settings, factory = database_for(args)
    data = block.listed(factory, settings)
    emit(args, data, lambda: table([[d["address"], d["created_at"][:16], d["by"], d["why"]] for d in data],
                                   ["ADDRESS", "SINCE", "BY", "WHY"]))
    return EXIT_OK


def cmd_mail_open(args: argparse.Namespace) -> int:
    from mailticket.cli import block

    if not hold_database(args):
        return EXIT_FAILURE
    try:
        opened, said = block.open_kept(app_for(args), args.id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(said)
    return EXIT_OK if opened else EXIT_FAILURE


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from mailticket.app import quarantine
    from mailticket.cli.views import quarantine_json, table
    from mailticket.db.session import transaction

    settings, factory = database_for(args)
    with transaction(factory) as session:
        data = [quarantine_json(e, r, settings.helpdesk.tz) for e, r in quarantine.entries(session)]
    emit(args, data, lambda: table(
        [[d["id"], d["stage"], d["attempts"], d["source"], d["error"][:80]] for d in data],
        ["ID", "STAGE", "ATTEMPTS", "SOURCE", "ERROR"]))
    return EXIT_OK


def cmd_quarantine_retry(args: argparse.Namespace) -> int:
    from mailticket.app import quarantine
    from mailticket.db.session import transaction

    if not args.ids and not args.all:
        raise UsageError("quarantine retry needs IDs or --all")
    if not hold_database(args):
        return EXIT_FAILURE
    app = app_for(args)
    with transaction(app.factory) as session:
        raw_ids = quarantine.release(session, None if args.all else args.ids, app.clock.now())
    outcomes = app.pipeline.process_pending(only=raw_ids)
    app.send()
    still = sum(1 for o in outcomes if o.state == "quarantined")
    print(f"retried {len(outcomes)}: {len(outcomes) - still} went through, {still} still quarantined")
    return EXIT_OK if not still else EXIT_FAILURE


def cmd_digest(args: argparse.Namespace) -> int:
    from mailticket.db.session import transaction

    app = app_for(args)
    with transaction(app.factory) as session:
        if args.preview:
            rendered = app.scheduler.render_digest(session, app.clock.now())
        else:
            rendered = app.scheduler.queue_digest(session, app.clock.now())
    if args.send:
        _send_unless_a_daemon_does(args, app)
    print(f"Subject: {rendered.subject}\n\n{rendered.text}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mailticket.app.report import queue_report, render_report, report_csv
    from mailticket.core.report import Month
    from mailticket.db.session import transaction

    app = app_for(args)
    tz = app.settings.helpdesk.tz
    try:
        month = Month.parse(args.month, tz) if args.month else Month.before(app.clock.now(), tz)
    except ValueError as exc:
        raise UsageError(f"--month: {exc}") from None
    with transaction(app.factory) as session:
        report, rendered = render_report(session, app.context, month)
        if args.send and queue_report(session, app.context, month, app.clock.now()) is None:
            print("mailticket: no coordinators configured, nothing queued", file=sys.stderr)
    if args.csv:
        Path(args.csv).write_text(report_csv(report, app.context), encoding="utf-8")
    if args.html:
        Path(args.html).write_text(rendered.html, encoding="utf-8")
    if args.send:
        _send_unless_a_daemon_does(args, app)
    print(f"Subject: {rendered.subject}\n\n{rendered.text}")
    return EXIT_OK


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

