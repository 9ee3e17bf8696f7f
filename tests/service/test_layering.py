"""Imports go one way: the service imports the core; the core never imports the service, fastapi or uvicorn."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "eligibility"
# Packages that are themselves front ends over the core (they may import web frameworks).
FRONT_ENDS = {"service", "web", "store"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_core_does_not_import_the_service() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in FRONT_ENDS or (rel.name == "cli.py" and len(rel.parts) == 1):
            continue  # cli.py registers `serve` (its import of service.cli loads no web framework)
        for name in _imports(path):
            parts = name.lstrip(".").split(".")
            if "service" in parts or parts[0] in ("fastapi", "uvicorn", "starlette"):
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_the_service_command_module_imports_no_web_framework_at_load() -> None:
    names = _imports(PACKAGE / "service" / "cli.py")
    top_level = ast.parse((PACKAGE / "service" / "cli.py").read_text(encoding="utf-8")).body
    module_level = {a.name for n in top_level if isinstance(n, ast.Import) for a in n.names} | {
        n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)
    }
    assert "uvicorn" in names  # imported, but inside the command
    assert not module_level & {"uvicorn", "fastapi", "..library", "library", ".app"}
