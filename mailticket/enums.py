"""The names the outside sees: ticket statuses, categories and the kinds of kept mail.

StrEnums, so a member is equal to its string in the database, in JSON and in the config. Imports
nothing, and is cheap to import: the command line builds its choices from it.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    GANGGUAN = "gangguan"  # incident, target about 3 days
    PERMASALAHAN = "permasalahan"  # problem endangering upcoming service, 1 day
    PERMINTAAN = "permintaan"  # service request, about 1 hour


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    ESCALATED = "escalated"
    CLOSED = "closed"


class Kind(StrEnum):
    """What the filter stage decided a received message is."""

    REPORT = "report"  # written by a person: a new report or a reply in a thread
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    BULK = "bulk"
    SPAM = "spam"
    OWN = "own"  # sent from our own address


class Kept(StrEnum):
    """Why a message of a person was kept without opening a ticket, besides the filter's kinds."""

    DUPLICATE = "duplicate"  # the same Message-ID and bytes were processed before
    BLOCKED = "blocked"  # the sender is on the block list
    FLOOD = "flood"  # the sender wrote too many reports too fast
    UNVERIFIED = "unverified"  # from a staff address, failed authentication (the staff member was told why)
    COMMAND = "command"  # a staff member's new mail asking #daftar or #bantuan (answered, nothing opened)


# The kinds `mail list` shows: every filter kind except a report, then the pipeline's own.
KEPT_KINDS: tuple[str, ...] = tuple(kind.value for kind in (*Kind, *Kept) if kind is not Kind.REPORT)
