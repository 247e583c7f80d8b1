"""Fixtures the unit tests share."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mailticket.core.classify import Rules, compile_rules

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shipped() -> Rules:
    """config/rules.toml as shipped, compiled once."""
    with open(ROOT / "config/rules.toml", "rb") as fh:
        return compile_rules(tomllib.load(fh), "config/rules.toml")
