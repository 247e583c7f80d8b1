"""`python -m mailticket.cli`: the same as the `mailticket` command."""

from mailticket.cli.main import entry

entry()
