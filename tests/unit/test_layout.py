"""The layout is the data flow: pure decision modules import no I/O module of the project."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mailticket"
PURE = {"types", "errors", *(f"core.{p.stem}" for p in (PACKAGE / "core").glob("*.py"))}
FORBIDDEN_STDLIB = {"socket", "sqlite3", "subprocess", "imaplib", "smtplib", "asyncio"}


def imports(module: str) -> set[str]:
    """Modules imported at run time (imports under `if TYPE_CHECKING:` do not count)."""
    tree = ast.parse((PACKAGE / f"{module.replace('.', '/')}.py").read_text())
    skip = {id(node) for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
            for node in ast.walk(n)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                found |= {f"mailticket.{alias.name}" for alias in node.names} if not base else {f"mailticket.{base}"}
            else:
                found.add(base)
                found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_modules_import_only_pure_modules(module):
    found = imports(module)
    project = {name.removeprefix("mailticket.") for name in found if name.startswith("mailticket.")}
    project = {name for name in project if name.rsplit(".", 1)[0] not in PURE} - {"core"}
    assert project <= PURE, f"{module} imports shell modules {sorted(project - PURE)}"
    assert not {name.split(".")[0] for name in found} & (FORBIDDEN_STDLIB | {"sqlalchemy", "imapclient",
                                                                               "aiosmtplib", "jinja2"})
