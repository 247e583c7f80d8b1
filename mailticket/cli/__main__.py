"""`python -m mailticket.cli`: the same as the `mailticket` command."""

import sys

from mailticket.cli.main import main

sys.exit(main())
