"""config/mailticket.example.toml documents every key the loader accepts, and nothing else.

The accepted keys come from the loader's own readers (config.accepted_keys), so a key added to
config.py without a line in the example fails here. A key may be documented commented out
(`# secret = ""`) and a table too (`# [templates]`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from mailticket.config import accepted_keys, build

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "mailticket.example.toml"
TABLE = re.compile(r"^#?\s*\[([a-z_.]+)\]\s*(#.*)?$")
KEY = re.compile(r"^#?\s?([a-z_0-9]+)\s*=")


def documented() -> dict[str, set[str]]:
    """Table -> keys written in the example, commented out or not ("" = the top level)."""
    keys: dict[str, set[str]] = {"": set()}
    table = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#  ") and not TABLE.match(line):
            continue  # the continuation of a comment
        found = TABLE.match(line)
        if found:
            table = found.group(1)
            keys.setdefault(table, set())
            parent, _dot, name = table.rpartition(".")
            keys.setdefault(parent, set()).add(name)
            continue
        found = KEY.match(line)
        if found:
            keys.setdefault(table, set()).add(found.group(1))
    return keys


def test_every_accepted_key_is_in_the_example_and_every_example_key_is_accepted():
    accepted = {table: {str(k) for k in known} for table, known in accepted_keys().items()}
    written = documented()
    missing = {t: sorted(keys - written.get(t, set())) for t, keys in accepted.items()}
    unknown = {t: sorted(keys - accepted.get(t, set())) for t, keys in written.items()}
    assert not {t: k for t, k in missing.items() if k}, f"keys not in the example: {missing}"
    assert not {t: k for t, k in unknown.items() if k}, f"keys the loader does not accept: {unknown}"


def test_the_keys_the_issue_names_are_documented():
    written = documented()
    assert {"reopen_window", "max_acks_per_hour"} <= written["helpdesk"]
    assert {"stall_alert", "oauth2_token_command", "oauth2_token_file", "create"} <= written["inbox"]
    assert {"oauth2_token_command", "oauth2_token_file", "sent_folder"} <= written["smtp"]
    assert "disclose_address" in written["staff"]


def test_the_example_loads_and_uses_the_state_directory_and_the_shipped_rules(tmp_path):
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    settings = build(data, str(EXAMPLE), Path("/etc/mailticket"))
    assert settings.database_url == "sqlite:////var/lib/mailticket/mailticket.db"
    assert "rules" not in data.get("classifier", {})  # the README copies no rules file
    assert settings.rules_path.name == "rules.toml" and settings.rules_path.is_file()
    assert settings.templates_path.is_dir()
