"""No front door imports another: what they share lives in modelyard.frontdoor (docs/architecture.md, "The shape")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "modelyard"
FRONT_DOORS = ("api", "gitserve", "xet")


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("door", FRONT_DOORS)
def test_a_front_door_imports_no_other(door: str):
    others = [f"modelyard.{other}" for other in FRONT_DOORS if other != door]
    crossing = sorted(
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in (PACKAGE / door).rglob("*.py")
        for module in _imported_modules(path)
        if any(module == other or module.startswith(f"{other}.") for other in others)
    )
    assert crossing == []


def test_the_shared_package_imports_no_front_door():
    crossing = sorted(
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in (PACKAGE / "frontdoor").rglob("*.py")
        for module in _imported_modules(path)
        if any(module == f"modelyard.{door}" or module.startswith(f"modelyard.{door}.") for door in FRONT_DOORS)
    )
    assert crossing == []
