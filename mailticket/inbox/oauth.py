"""OAuth2 access tokens for XOAUTH2 logins (Gmail's preferred way): from a command or a file.

A command (e.g. a small script that refreshes the token with the account's refresh token) is
run for every login and must print the access token; a file is read for every login, so an
outside helper can keep it fresh. mailticket never stores or refreshes tokens itself.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

TokenProvider = Callable[[], str]


class TokenError(Exception):
    """No access token could be had; the login is treated like a failed login."""


def token_provider(command: str, file: Path | None) -> TokenProvider | None:
    """A function returning a fresh access token, or None when OAuth2 is not configured."""
    if command:
        return lambda: _from_command(command)
    if file is not None:
        return lambda: _from_file(file)
    return None


def _from_command(command: str) -> str:
    try:
        proc = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TokenError(f"oauth2_token_command failed: {exc}") from exc
    token = proc.stdout.strip()
    if proc.returncode != 0 or not token:
        raise TokenError(f"oauth2_token_command exited {proc.returncode}: {proc.stderr.strip()[:200]}")
    return token


def _from_file(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise TokenError(f"oauth2_token_file: {exc}") from exc
    if not token:
        raise TokenError(f"oauth2_token_file {path} is empty")
    return token
