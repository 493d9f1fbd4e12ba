"""Every regularizer and model class opens its docstring with the method and its paper."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "plugins").glob("*.py")) + sorted((ROOT / "pyrodisent" / "models").glob("*.py"))
CLASSES = [
    (path, node)
    for path in FILES
    for node in ast.parse(path.read_text()).body
    if isinstance(node, ast.ClassDef)
]
# a citation: "Authors Year", "Author et al. Year" or an anonymous submission
CITATION = re.compile(r"(\b[A-Z][a-z]+( et al\.| & [A-Z][a-z]+)? (19|20)\d\d\b)|anonymous ICLR submission")


@pytest.mark.parametrize("path,node", CLASSES, ids=[f"{p.stem}.{n.name}" for p, n in CLASSES])
def test_class_docstring_opens_with_method_and_paper(path, node):
    doc = ast.get_docstring(node)
    assert doc, f"{path.name}: {node.name} has no docstring"
    opening = doc.split("\n\n")[0]
    assert CITATION.search(opening), f"{path.name}: {node.name}'s docstring opens without its paper: {opening!r}"
    assert not re.search(r"seed 0\d\d|DESIGN\.md", doc)
