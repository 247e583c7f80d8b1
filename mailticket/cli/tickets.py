"""`tickets list`, `tickets show` and `attachments`: the register as tables or the contract's JSON."""

from __future__ import annotations

import argparse
import sys

from mailticket.cli.wiring import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    database_for,
    emit,
    now,
    parse_token,
)


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
