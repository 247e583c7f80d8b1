"""Mail that opened no ticket: `mail list`, `mail open`, the block list and the quarantine."""

from __future__ import annotations

import argparse

from mailticket.cli.wiring import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    app_for,
    database_for,
    emit,
    hold_database,
    now,
)


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
