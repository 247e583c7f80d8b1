"""The coordinators' mail on demand: `digest --preview|--send` and `report`."""

from __future__ import annotations

import argparse
import sys

from mailticket.cli.wiring import (
    EXIT_OK,
    UsageError,
    _send_unless_a_daemon_does,
    app_for,
)


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
