"""The command line of the contract: the argparse tree, logging, and one exit code for every outcome
(0/1/2). The commands live by role: cli/operate.py, tickets.py, kept.py, reports.py; what they share
in cli/wiring.py. Heavy modules are imported inside the commands so that `--help` stays fast.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from typing import NoReturn

from mailticket.cli.kept import (
    cmd_block_add,
    cmd_block_list,
    cmd_block_remove,
    cmd_mail_list,
    cmd_mail_open,
    cmd_quarantine_list,
    cmd_quarantine_retry,
)
from mailticket.cli.operate import cmd_check, cmd_classify, cmd_db_upgrade, cmd_ingest, cmd_run, cmd_status
from mailticket.cli.reports import cmd_digest, cmd_report
from mailticket.cli.tickets import cmd_attachments, cmd_tickets_list, cmd_tickets_show
from mailticket.cli.wiring import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    HelpdeskTimeFormatter,
    UsageError,
    log,
    settings_for,
)
from mailticket.enums import KEPT_KINDS, Category, Status
from mailticket.errors import ConfigError


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
