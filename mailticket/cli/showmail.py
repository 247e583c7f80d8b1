"""Print a stored .eml the way a person reads it: main headers and the decoded text part."""

from __future__ import annotations

import sys
from email import message_from_binary_file, policy

HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "Auto-Submitted")


def show(path: str) -> str:
    with open(path, "rb") as fh:
        msg = message_from_binary_file(fh, policy=policy.default)
    lines = [f"{name}: {msg[name]}" for name in HEADERS if msg[name]]
    body = msg.get_body(preferencelist=("plain", "html"))
    lines += ["", body.get_content() if body is not None else "(no text part)"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(show(sys.argv[1]))
