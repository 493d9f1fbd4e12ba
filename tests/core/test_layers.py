"""Layers import only downwards (docs/architecture.md): no module of a lower layer imports a
higher one, at module level or inside a function."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "pyrodisent"

# layer → the pyrodisent packages it must never import
FORBIDDEN = {
    "estimators": ("engine", "sweep", "cli", "metrics", "data", "models"),
    "metrics": ("engine", "sweep", "cli"),
    "data": ("engine", "sweep", "cli", "metrics"),
    "models": ("engine", "sweep", "cli", "metrics"),
    "engine": ("sweep", "cli"),
    "sweep": ("cli",),
}


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer):
    bad = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in _imported(path):
            parts = name.split(".")
            if parts[0] == "pyrodisent" and len(parts) > 1 and parts[1] in FORBIDDEN[layer]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, bad
