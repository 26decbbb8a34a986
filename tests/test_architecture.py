"""The architecture of SPEC §2, held by parsing the source: which layer may import which,
SQL only in `spool/` and `headoffice/`, no module over 400 lines, no two modules of one name.

Every import is read, including those inside functions, so a late import cannot hide a
wrong direction.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from printstation.harness.kit import ROOT

# Each layer and the layers it may import. `base` is the leaf that every layer may use.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "invoice": {"base"},
    "config": {"base"},
    "spool": {"invoice", "base"},
    "drivers": {"invoice", "config", "base"},
    "daemon": {"drivers", "spool", "invoice", "config", "base"},
    "headoffice": {"spool", "config", "base"},
    # `printstation receiver` and `printstation web` are commands too: the CLI starts the
    # head-office server and the web console.
    "cli": {"daemon", "headoffice", "web", "drivers", "spool", "invoice", "config", "base"},
    "web": {"daemon", "drivers", "spool", "invoice", "config", "base"},
}
LAYERS = sorted(ALLOWED)
SQL_LAYERS = {"spool", "headoffice"}
MAX_LINES = 400
SQL = re.compile(r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|"
                 r"\bDELETE\s+FROM\b|\bCREATE\s+(TABLE|INDEX)\b|\bPRAGMA\b|"
                 r"^\s*(BEGIN|COMMIT|ROLLBACK)\b")


def modules(layer: str) -> list[Path]:
    folder = ROOT / layer
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def product_modules() -> list[Path]:
    return [p for layer in LAYERS if (ROOT / layer).is_dir() for p in modules(layer)]


def imported_layers(path: Path, layer: str) -> set[tuple[str, int]]:
    """(layer, line) for every printstation layer the module imports, relative ones too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # A relative import stays inside the layer, unless it climbs out of it.
                depth = len(path.relative_to(ROOT / layer).parts) - 1
                if node.level > depth + 1:
                    names = [f"printstation.{node.module or ''}"]
                else:
                    continue
            else:
                names = [node.module or ""]
                if names[0] == "printstation":
                    names = [f"printstation.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "printstation" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


def test_every_layer_is_checked() -> None:
    # A new top-level package must be given its place in ALLOWED before it can land.
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"tests"} <= set(ALLOWED), packages - set(ALLOWED)


@pytest.mark.parametrize("layer", [layer for layer in LAYERS if (ROOT / layer).is_dir()])
def test_imports_flow_one_way(layer: str) -> None:
    wrong = []
    for path in modules(layer):
        for target, line in imported_layers(path, layer):
            if target != layer and target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_import_check_sees_late_and_relative_imports(tmp_path: Path) -> None:
    # The checker itself must catch an import hidden in a function and a relative climb.
    folder = ROOT / "spool"
    probe = folder / "_probe_arch.py"
    probe.write_text("def f():\n    from printstation.daemon import service\n"
                     "    from ..drivers import render\n", "utf-8")
    try:
        found = imported_layers(probe, "spool")
    finally:
        probe.unlink()
    assert {target for target, _ in found} == {"daemon", "drivers"}


def test_the_product_never_imports_the_harness() -> None:
    wrong = [str(p.relative_to(ROOT)) for p in product_modules()
             if "harness" in {t for t, _ in imported_layers(p, p.relative_to(ROOT).parts[0])}]
    assert not wrong


def sql_strings(path: Path) -> list[int]:
    """Lines of string constants that read as SQL."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and SQL.search(node.value):
            lines.append(node.lineno)
    return lines


def test_sql_only_in_spool_and_headoffice() -> None:
    wrong = [f"{p.relative_to(ROOT)}:{line}" for p in product_modules()
             if p.relative_to(ROOT).parts[0] not in SQL_LAYERS for line in sql_strings(p)]
    assert not wrong, "SQL outside spool/ and headoffice/:\n" + "\n".join(wrong)


def test_the_sql_check_recognises_sql() -> None:
    assert SQL.search("SELECT state FROM jobs WHERE id = ?")
    assert SQL.search("UPDATE jobs SET state = ?")
    assert SQL.search("BEGIN IMMEDIATE")
    assert not SQL.search("select the printer from the list")
    assert not SQL.search("Updated the settings")


def test_no_module_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in product_modules()
            if (n := len(p.read_text("utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_no_two_modules_share_a_name() -> None:
    paths = product_modules() + sorted((ROOT / "tests").rglob("*.py")) + \
        sorted((ROOT / "bench").glob("*.py"))
    names = Counter(p.name for p in paths if p.name not in ("__init__.py", "conftest.py"))
    assert [n for n, count in names.items() if count > 1] == []
