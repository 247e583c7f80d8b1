"""The layout is the data flow: everything under core/ is pure, and no project module imports itself back.

The rules hold by folder: a new module in core/ is checked without being listed anywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mailticket"
CORE = sorted((PACKAGE / "core").glob("*.py"))
# Libraries that do I/O, or read the clock or chance: pure code takes their results as values.
IMPURE = frozenset({"sqlalchemy", "imapclient", "aiosmtplib", "jinja2", "socket", "ssl", "os", "pathlib", "time",
                    "random", "secrets", "subprocess", "sqlite3", "imaplib", "smtplib", "asyncio"})
# What core/ may use of the project outside core/: plain values and named outcomes.
CORE_MAY_IMPORT = frozenset({"mailticket.types", "mailticket.enums", "mailticket.errors"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run (those under `if TYPE_CHECKING:` do not); function-level ones count."""
    typing_only = {id(node) for branch in ast.walk(tree)
                   if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
                   for statement in branch.body for node in ast.walk(statement)}
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in typing_only]


def imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> set[str]:
    """The modules one statement names: `from a import b` names a and, if it is a module, a.b."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
        base = ".".join([*anchor, *([base] if base else [])])
    return {base} | {f"{base}.{alias.name}" for alias in node.names}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module, is_package = module_name(path), path.name == "__init__.py"
    return {name for node in runtime_imports(tree) for name in imported(node, module, is_package)}


def clock_calls(path: Path) -> list[str]:
    """Calls that read the clock: now(), datetime.now(), date.today(), time.time() and kin."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        owner = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        if name in {"now", "utcnow", "today"} or (owner == "time" and name in {"time", "monotonic"}):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.stem)
def test_core_imports_no_io(path):
    names = imports_of(path)
    assert not {name.split(".")[0] for name in names} & IMPURE, f"{path.name} imports {sorted(names)}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.stem)
def test_core_imports_nothing_of_the_project_outside_core(path):
    project = {name for name in imports_of(path) if name.split(".")[0] == "mailticket"}
    outside = {name for name in project if not name.startswith("mailticket.core")
               and not any(name == allowed or name.startswith(f"{allowed}.") for allowed in CORE_MAY_IMPORT)}
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.stem)
def test_core_does_not_read_the_clock(path):
    assert not clock_calls(path), f"{path.name}: {clock_calls(path)}"


def project_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports at run time (a name that is no module, such as
    `mailticket.types.Mail`, is cut back to its module)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts}

    def as_module(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    return {module: {target for name in imports_of(path) if (target := as_module(name)) not in (None, module)}
            for module, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan), each a set of module names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while module not in group:
                group.add(stack.pop())
            if len(group) > 1:
                found.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_cycles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [{"a", "b", "c"}]


def test_no_import_cycle_between_project_modules():
    found = cycles(project_graph())
    assert not found, f"import cycles: {[sorted(group) for group in found]}"
