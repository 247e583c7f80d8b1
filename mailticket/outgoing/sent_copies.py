"""Copies of sent mail (shell): a transport wrapper that files each accepted mail in an IMAP folder.

Gmail's SMTP files sent mail by itself; other servers may not, so `smtp.sent_folder` names a folder
of the IMAP inbox account to APPEND each accepted message to (flagged \\Seen). It connects and
logs in with the inbox's helpers. A failed copy is logged and never undoes or repeats a delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from imapclient.exceptions import LoginError

from mailticket.config import Inbox
from mailticket.db import models
from mailticket.inbox.imap import NETWORK_ERRORS, ClientFactory, TokenProvider, connect, login, shutdown
from mailticket.outgoing.send import PartlyRefused, Results, Settle, Transport

log = logging.getLogger("mailticket.imap")


class SentCopies:
    """Delivers through `transport`, then keeps a copy of each accepted mail in `folder`."""

    def __init__(self, transport: Transport, settings: Inbox, folder: str,
                 token_provider: TokenProvider | None = None, client_factory: ClientFactory | None = None):
        self.transport, self.settings, self.folder = transport, settings, folder
        self.token_provider, self.client_factory = token_provider, client_factory or connect

    def deliver(self, rows: Iterable[models.Outbox], settle: Settle | None = None) -> Results:
        accepted: list[bytes] = []

        def keep(row: models.Outbox, error: Exception | None) -> None:  # rows may be claimed one by one
            if error is None or isinstance(error, PartlyRefused):
                accepted.append(row.data)
            if settle is not None:
                settle(row, error)

        results = self.transport.deliver(rows, keep)
        if accepted:
            self._append(accepted)
        return results

    def _append(self, messages: list[bytes]) -> None:
        try:
            client = self.client_factory(self.settings)
            try:
                login(client, self.settings, self.token_provider)
                if not client.folder_exists(self.folder):
                    client.create_folder(self.folder)
                for data in messages:
                    client.append(self.folder, data, flags=[b"\\Seen"])
            finally:
                shutdown(client)
        except (*NETWORK_ERRORS, LoginError) as exc:
            log.warning("stage=send cannot keep copies in %s: %s: %s", self.folder, type(exc).__name__, exc)
