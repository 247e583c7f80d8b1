"""A mistake in rules.toml is named with its file, line and entry (app.context.load_rules, used by
`run`, `ingest` and `check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailticket.app.context import load_rules, rule_line
from mailticket.config import build
from mailticket.errors import ConfigError

RULES = """\
[settings]
threshold = 2.0

[[spam]]
name = "tender-win"
weight = 3
phrases = ["dijamin menang"]

[[spam]]
name = "loan"
weight = 2
regex = ["pinjaman (dana"]
"""


def settings_for(path: Path):
    return build({"classifier": {"rules": str(path)}}, "mt.toml", path.parent)


def test_a_bad_entry_is_named_with_its_line(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    with pytest.raises(ConfigError) as raised:
        load_rules(settings_for(rules))
    assert raised.value.where == f"{rules}:12: spam[1].regex[0]" and "bad regex" in raised.value.what


def test_a_toml_syntax_error_names_its_line(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text("[[spam]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"line 1"):
        load_rules(settings_for(rules))


@pytest.mark.parametrize(("key", "line"), [
    ("spam[0]", 4), ("spam[0].phrases", 7), ("spam[1].weight", 11), ("settings.threshold", 2),
    ("spam[1].missing", 9), ("spam[5]", None), ("topic[0]", None),
])
def test_rule_line(key, line):
    assert rule_line(RULES, key) == line
